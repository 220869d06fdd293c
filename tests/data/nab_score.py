#!/usr/bin/env python3
"""The Numenta Anomaly Benchmark (NAB) scoring rules, re-implemented (standard library only).

Follows numenta/NAB: windows as `nab/labeler.py` (LabelCombiner.applyWindows/checkWindows)
makes them, the per-row weights of `nab/sweeper.py` (scaledSigmoid, Sweeper.calcSweepScore),
the threshold sweep of `Sweeper.calcScoreByThreshold` with one threshold for the whole corpus
per profile as `nab/optimizer.py` picks it, per-file scores as `Sweeper.scoreDataSet`, the
cost matrices of `config/profiles.json` and the normalisation of `nab/runner.py`
(Runner.normalize): 100 * (raw - null) / (perfect - null).

One deliberate deviation (`extend_to_event_end`, on by default): NAB labels are single
timestamps, ours mark whole faults, so a window's end is extended to at least its event's last
labelled row. Everything else is as NAB does it:

* event = maximal run of rows labelled 1; the anomaly is its FIRST row;
* window length = int(0.10 * rows / events), window = [a - len//2, a + len//2] clipped to the
  file (Python 2 integer division, as NAB's labeler ran);
* the first window is deleted when it starts before the probationary row (NAB's checkWindows),
  then overlapping windows (next start <= this end) are merged;
* probationary period: rows i < min(floor(0.15 * N), 0.15 * 5000) are not scored;
* a row inside a window scores scaledSigmoid(-(right - i + 1) / width) * tpWeight / maxTP,
  maxTP = scaledSigmoid(-1); only the best (earliest) detection of a window counts, a window
  without detection costs -fnWeight;
* a row outside windows scores fpWeight * scaledSigmoid(|prevRight - i| / (prevWidth - 1))
  after a window, fpWeight * -1 before the first one; every detection outside counts;
* scaledSigmoid(x) = 2 / (1 + exp(5x)) - 1, and -1 for x > 3;
* detections at a threshold t are the rows with anomaly_score >= t; the sweep visits every
  distinct score (plus "nothing detected") and keeps the best corpus-wide raw score, the
  highest threshold on ties (NAB sorts by score, stably);
* null = the detector that detects nothing (-fnWeight per window); perfect = every window
  detected at its first row (tpWeight per window).

Usable as a module (score_corpus, file_windows, ...) or as a CLI:

    python3 tests/data/nab_score.py --corpus tests/data/corpus RESULTS_DIR

where RESULTS_DIR holds, for every corpus CSV, a CSV of the same name with an
`anomaly_score` column (one row per corpus row, same order).
"""
import argparse
import csv
import json
import math
import os
import sys
from collections import namedtuple

# config/profiles.json of numenta/NAB (tnWeight is unused by the scorer).
PROFILES = {
    "standard": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 1.0},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fpWeight": 0.22, "fnWeight": 1.0},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fpWeight": 0.11, "fnWeight": 2.0},
}
PROBATION_PERCENT = 0.15  # nab/runner.py: self.probationaryPercent
WINDOW_SIZE = 0.10  # nab/runner.py: self.windowSize
NOTHING = float("inf")  # threshold that detects nothing (NAB starts its sweep at 1.1)

Point = namedtuple("Point", "score sweep window")
ThresholdScore = namedtuple("ThresholdScore", "threshold score tp tn fp fn")


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def scaled_sigmoid(relative_position):
    """nab/sweeper.py scaledSigmoid: 0.98661 at -1 (a window's left edge), 0 at its right
    edge, -0.98661 one window past it, -1 beyond 3."""
    if relative_position > 3.0:
        return -1.0
    return 2.0 * sigmoid(-5.0 * relative_position) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probationary_length(rows, percent=PROBATION_PERCENT):
    """nab/util.py getProbationPeriod."""
    return min(math.floor(percent * rows), percent * 5000)


def label_events(labels):
    """Maximal runs of rows labelled 1, as (first, last) row indices."""
    events, start = [], None
    for i, lab in enumerate(labels):
        if lab and start is None:
            start = i
        elif not lab and start is not None:
            events.append((start, i - 1))
            start = None
    if start is not None:
        events.append((start, len(labels) - 1))
    return events


def event_windows(labels, window_size=WINDOW_SIZE, extend_to_event_end=True):
    """Per event: (first, last, window_front, window_back), before deletion and merging."""
    n = len(labels)
    events = label_events(labels)
    if not events:
        return []
    length = int(window_size * n / len(events))
    half = length // 2
    out = []
    for first, last in events:
        front = max(first - half, 0)
        back = min(first + half, n - 1)
        if extend_to_event_end:
            back = max(back, last)
        out.append((first, last, front, back))
    return out


def file_windows(labels, window_size=WINDOW_SIZE, probation_percent=PROBATION_PERCENT,
                 extend_to_event_end=True, info=None):
    """NAB's scoring windows for one file as inclusive (front, back) row pairs.

    `info`, a dict when given, receives `dropped` (windows deleted for starting in the
    probationary period) and `merged` (windows merged into a neighbour)."""
    windows = [[f, b] for _, _, f, b in event_windows(labels, window_size, extend_to_event_end)]
    dropped = merged = 0
    if windows and windows[0][0] < probationary_length(len(labels), probation_percent):
        del windows[0]
        dropped = 1
    out = []
    for w in windows:
        if out and w[0] <= out[-1][1]:
            out[-1][1] = max(out[-1][1], w[1])
            merged += 1
        else:
            out.append(w)
    if info is not None:
        info["dropped"], info["merged"] = dropped, merged
    return [tuple(w) for w in out]


def sweep_points(scores, windows, profile, name="", probation_percent=PROBATION_PERCENT):
    """nab/sweeper.py calcSweepScore: one Point per row with its anomaly score, its weight
    if it were a detection, and its window name (None outside, 'probationary' early on)."""
    tp_w, fp_w = profile["tpWeight"], profile["fpWeight"]
    prob = probationary_length(len(scores), probation_percent)
    pending = list(windows)
    points = []
    cur = cur_name = None
    width = prev_right = prev_width = None
    for i, s in enumerate(scores):
        if pending and i == pending[0][0]:
            cur = pending.pop(0)
            cur_name = f"{name}|{cur[0]}"
            width = float(cur[1] - cur[0] + 1)
        if cur is not None:
            weight = scaled_sigmoid(-(cur[1] - i + 1) / width) * tp_w / MAX_TP
        else:
            if prev_right is None:
                unweighted = -1.0
            else:
                # NAB divides by (width - 1); a one-row window would divide by zero there
                unweighted = scaled_sigmoid(abs(prev_right - i) / max(prev_width - 1.0, 1.0))
            weight = unweighted * fp_w
        points.append(Point(s, weight, cur_name if i >= prob else "probationary"))
        if cur is not None and i == cur[1]:
            prev_right, prev_width = i, width
            cur = cur_name = None
    return points


def score_by_threshold(points, profile):
    """nab/sweeper.py calcScoreByThreshold: the raw score (and row counts) at every distinct
    anomaly score, highest first, starting with 'nothing detected'. Detections at threshold t
    are the rows scoring >= t."""
    fn_w = profile["fnWeight"]
    scorable = sorted((p for p in points if p.window != "probationary"),
                      key=lambda p: p.score, reverse=True)
    parts = {}
    for p in scorable:
        if p.window is not None:
            parts[p.window] = -fn_w
    total = -fn_w * len(parts)
    tn = sum(1 for p in scorable if p.window is None)
    fn = len(scorable) - tn
    tp = fp = 0
    out = []
    threshold = NOTHING
    for p in scorable:
        if p.score != threshold:
            out.append(ThresholdScore(threshold, total, tp, tn, fp, fn))
            threshold = p.score
        if p.window is None:
            fp += 1
            tn -= 1
            total += p.sweep
        else:
            tp += 1
            fn -= 1
            best = parts[p.window]
            if p.sweep > best:
                total += p.sweep - best
                parts[p.window] = p.sweep
    out.append(ThresholdScore(threshold, total, tp, tn, fp, fn))
    return out


def score_at_threshold(points, profile, threshold):
    """The raw score of one file's points with detections = rows scoring >= threshold
    (Sweeper.scoreDataSet), computed directly; also the detection counts."""
    fn_w = profile["fnWeight"]
    best = {}
    fp_sum = 0.0
    tp = fp = 0
    for p in points:
        if p.window == "probationary":
            continue
        if p.window is not None:
            best.setdefault(p.window, -fn_w)
        if p.score >= threshold:
            if p.window is None:
                fp_sum += p.sweep
                fp += 1
            else:
                best[p.window] = max(best[p.window], p.sweep)
                tp += 1
    detected = sum(1 for v in best.values() if v > -fn_w)
    return {"raw": sum(best.values()) + fp_sum, "windows": len(best),
            "windows_detected": detected, "fp_rows": fp, "tp_rows": tp}


def normalise(raw, null, perfect):
    if perfect == null:
        return None
    return 100.0 * (raw - null) / (perfect - null)


def score_corpus(files, profiles=PROFILES, probation_percent=PROBATION_PERCENT,
                 window_size=WINDOW_SIZE, extend_to_event_end=True, groups=None):
    """Scores a corpus: files is a list of (name, labels, scores). One threshold per profile
    for the whole corpus (the sweep's best corpus-wide raw score). `groups`, a dict
    name -> group, adds per-group raw/null/perfect/normalised at that same threshold.

    Returns {profile: {threshold, raw, null, perfect, score, windows, windows_detected,
    fp_rows, files: {name: {...}}, groups: {group: {...}}}}."""
    prepared = []
    for name, labels, scores in files:
        if len(labels) != len(scores):
            raise ValueError(f"{name}: {len(labels)} labels but {len(scores)} scores")
        wins = file_windows(labels, window_size, probation_percent, extend_to_event_end)
        prepared.append((name, wins, scores))
    result = {}
    for pname, profile in profiles.items():
        per_file_points = [(name, sweep_points(scores, wins, profile, name, probation_percent))
                           for name, wins, scores in prepared]
        every = [p for _, pts in per_file_points for p in pts]
        sweep = score_by_threshold(every, profile)
        best = sweep[0]
        for row in sweep[1:]:
            if row.score > best.score:
                best = row
        threshold = best.threshold
        per_file = {}
        for name, pts in per_file_points:
            r = score_at_threshold(pts, profile, threshold)
            r["null"] = -profile["fnWeight"] * r["windows"]
            r["perfect"] = profile["tpWeight"] * r["windows"]
            per_file[name] = r
        entry = _total(per_file.values())
        entry["threshold"] = threshold
        entry["files"] = per_file
        if groups:
            by = {}
            for name, r in per_file.items():
                by.setdefault(groups.get(name, "?"), []).append(r)
            entry["groups"] = {g: _total(rs) for g, rs in sorted(by.items())}
        result[pname] = entry
    return result


def _total(rows):
    rows = list(rows)
    t = {k: sum(r[k] for r in rows) for k in
         ("raw", "null", "perfect", "windows", "windows_detected", "fp_rows", "tp_rows")}
    t["score"] = normalise(t["raw"], t["null"], t["perfect"])
    return t


# ---------------------------------------------------------------- CLI


def read_column(path, column, cast):
    with open(path, newline="") as f:
        return [cast(row[column]) for row in csv.DictReader(f)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", help="directory of result CSVs (anomaly_score column)")
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "corpus"))
    ap.add_argument("--no-extend", action="store_true",
                    help="NAB's windows exactly (do not extend to the event's last row)")
    ap.add_argument("--json", help="write the full result here")
    args = ap.parse_args(argv)
    files = []
    for fname in sorted(os.listdir(args.corpus)):
        if not fname.endswith(".csv"):
            continue
        labels = read_column(os.path.join(args.corpus, fname), "label", int)
        scores = read_column(os.path.join(args.results, fname), "anomaly_score", float)
        files.append((fname, labels, scores))
    res = score_corpus(files, extend_to_event_end=not args.no_extend)
    print("| profile | threshold | raw | null | perfect | NAB score | windows detected |")
    print("|---|---|---|---|---|---|---|")
    for p, r in res.items():
        print(f"| {p} | {r['threshold']:.4g} | {r['raw']:.2f} | {r['null']:.0f} | "
              f"{r['perfect']:.0f} | {r['score']:.1f} | {r['windows_detected']} / {r['windows']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
