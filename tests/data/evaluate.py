#!/usr/bin/env python3
"""Replays every labelled file in tests/data/ through `exwatch replay`, once per detector and
mode, and prints the README's evaluation tables (Markdown) to stdout.

Run from the repository root after `cargo build --release`:
    python3 tests/data/evaluate.py [path/to/exwatch]
(default binary: $CARGO_TARGET_DIR/release/exwatch, else target/release/exwatch).

Per row: precision, recall and F1 over every row of the files pooled (tp/fp/fn summed), events
detected, false alarms per day (episodes with no labelled row, over the files' total span) and
the mean ROC AUC of `anomaly_score` over the files that have labels.
"""
import csv
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LATENCY = ["spikes.csv", "level_shifts.csv", "ramps.csv", "noise.csv"]
OTHER = ["small_values.csv", "negative_values.csv", "cpu_shifts_down.csv", "seasonal.csv", "counts.csv"]
DETECTORS = ["all", "zscore", "iqr", "rolling_mean", "baseline_p90"]


def auc(scores, labels):
    pairs = sorted(zip(scores, labels))
    rank_sum, i, n = 0.0, 0, len(pairs)
    while i < n:
        j = i
        while j + 1 < n and pairs[j + 1][0] == pairs[i][0]:
            j += 1
        rank_sum += ((i + j) / 2 + 1) * sum(l for _, l in pairs[i:j + 1])
        i = j + 1
    pos = sum(labels)
    neg = len(labels) - pos
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def replay(binary, path, args):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.csv")
        r = subprocess.run([binary, "replay", "--input", path, "--output", out, *args],
                           capture_output=True, text=True, check=True)
        figures = dict(kv.split("=") for kv in r.stderr.split() if "=" in kv)
        scores = [float(row["anomaly_score"]) for row in csv.DictReader(open(out))]
    labels = [int(row["label"]) for row in csv.DictReader(open(path))]
    return figures, scores, labels


def table(binary, files, mode_args, detectors):
    print("| detector | precision | recall | F1 | events detected | false alarms / day | mean ROC AUC |")
    print("|---|---|---|---|---|---|---|")
    for det in detectors:
        tp = fp = fn = events = detected = false_alarms = 0
        days, aucs = 0.0, []
        for f in files:
            figures, scores, labels = replay(binary, os.path.join(HERE, f), [*mode_args, "--detector", det])
            tp += int(figures["tp"]); fp += int(figures["fp"]); fn += int(figures["fn"])
            events += int(figures["events"]); detected += int(figures["events_detected"])
            false_alarms += int(figures["false_alarms"]); days += float(figures["days"])
            if 0 < sum(labels) < len(labels):
                aucs.append(auc(scores, labels))
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        name = "composite (`all`)" if det == "all" else f"`{det}`"
        print(f"| {name} | {p:.2f} | {r:.2f} | {f1:.2f} | {detected} / {events} | "
              f"{false_alarms / days:.1f} | {sum(aucs) / len(aucs):.3f} |")


if __name__ == "__main__":
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "..", "target"))
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "release", "exwatch")
    print("Latency files, judged as live (`--unit ms --direction up`):\n")
    table(binary, LATENCY, ["--unit", "ms", "--direction", "up"], DETECTORS)
    print("\nEvery file, replay default (`--unit any --direction both`):\n")
    table(binary, LATENCY + OTHER, ["--unit", "any", "--direction", "both"], DETECTORS[:4])
