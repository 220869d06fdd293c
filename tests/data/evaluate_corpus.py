#!/usr/bin/env python3
"""Scores `exwatch replay` detectors on the synthetic corpus (tests/data/corpus/).

Run from the repository root after `cargo build --release`:

    python3 tests/data/evaluate_corpus.py [--bin target/release/exwatch] [--detector NAME ...]
        [--dir tests/data/corpus] [--extra-args '--unit any --direction both'] [--json out.json]
        [--keep DIR]

For each detector, every corpus CSV is replayed with
`<bin> replay --input F --output TMP --detector NAME <extra args>`; the output
(`timestamp,value,anomaly_score,severity,detector`, one row per input row, same order) is read
and, per detector, the script prints Markdown tables of:

* NAB score (tests/data/nab_score.py) for the standard, reward_low_FP_rate and
  reward_low_FN_rate profiles, one threshold per profile for the whole corpus (shown);
* events detected "k / n": an event (a maximal run of rows labelled 1) is detected when an
  alert episode of level warning or above overlaps its region (its NAB window united with its
  labelled rows); an alert episode is a maximal run of consecutive rows whose `severity` is
  non-empty, its level the highest severity in it (info < warning < critical);
* false alarms per series-day, at warning-or-above and at critical: episodes of that level
  overlapping no event region, divided by the summed span (last - first timestamp) of all
  series, in days;
* ROC AUC of `anomaly_score` against the row labels, pooled over all files (ties get
  average ranks);
* the same per kind (from the corpus's kinds.json, else the file-name prefix before `__`).

Only the columns described are read, so it works whether `severity` is filled on flagged rows
only or on every row while an incident fires, and whatever `anomaly_score` means.
"""
import argparse
import concurrent.futures
import csv
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import nab_score  # noqa: E402

LEVEL = {"": 0, "info": 1, "warning": 2, "critical": 3}
WARNING, CRITICAL = 2, 3
PROFILE_SHORT = {"standard": "standard", "reward_low_FP_rate": "low FP",
                 "reward_low_FN_rate": "low FN"}


# ---------------------------------------------------------------- reading


def parse_time(s):
    s = s.strip()
    if s.isdigit():
        return int(s) / 1000.0
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    t = datetime.datetime.fromisoformat(s.replace(" ", "T"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def read_corpus(directory):
    kinds_path = os.path.join(directory, "kinds.json")
    kinds = json.load(open(kinds_path)) if os.path.exists(kinds_path) else {}
    files = []
    for fname in sorted(os.listdir(directory)):
        if not fname.endswith(".csv"):
            continue
        with open(os.path.join(directory, fname), newline="") as f:
            rows = list(csv.DictReader(f))
        labels = [int(r["label"]) for r in rows]
        times = [parse_time(r["timestamp"]) for r in rows]
        kind = kinds.get(fname) or (fname.split("__")[0] if "__" in fname else "other")
        files.append({"name": fname, "path": os.path.join(directory, fname), "kind": kind,
                      "labels": labels, "days": (times[-1] - times[0]) / 86400.0})
    return files


def replay(binary, path, detector, extra, keep=None):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.csv")
        cmd = [binary, "replay", "--input", path, "--output", out, "--detector", detector, *extra]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
        if keep:
            os.makedirs(os.path.join(keep, detector), exist_ok=True)
            with open(out) as src, open(os.path.join(keep, detector, os.path.basename(path)), "w") as dst:
                dst.write(src.read())
    scores = [float(x["anomaly_score"] or 0.0) for x in rows]
    levels = [LEVEL.get((x.get("severity") or "").strip().lower(), 1) for x in rows]
    return scores, levels


# ---------------------------------------------------------------- measures


def episodes(levels):
    """Maximal runs of rows with a severity: (first, last, highest level)."""
    out, start, top = [], None, 0
    for i, lv in enumerate(levels):
        if lv and start is None:
            start, top = i, lv
        elif lv:
            top = max(top, lv)
        elif start is not None:
            out.append((start, i - 1, top))
            start = None
    if start is not None:
        out.append((start, len(levels) - 1, top))
    return out


def event_regions(labels):
    """Per event: its NAB window united with its labelled rows, as (lo, hi)."""
    return [(min(front, first), max(back, last))
            for first, last, front, back in nab_score.event_windows(labels)]


def overlaps(a, b):
    return a[0] <= b[1] and b[0] <= a[1]


def alert_figures(labels, levels):
    regions = event_regions(labels)
    eps = episodes(levels)
    loud = [e for e in eps if e[2] >= WARNING]
    detected = sum(1 for r in regions if any(overlaps(r, e) for e in loud))
    false_warn = sum(1 for e in loud if not any(overlaps(r, e) for r in regions))
    false_crit = sum(1 for e in eps if e[2] >= CRITICAL and not any(overlaps(r, e) for r in regions))
    return {"events": len(regions), "events_detected": detected,
            "false_alarms_warning": false_warn, "false_alarms_critical": false_crit,
            "episodes": len(eps)}


def roc_auc(scores, labels):
    """Mann-Whitney AUC with average ranks for ties; None without both classes."""
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum_pos, i, n = 0.0, 0, len(order)
    while i < n:
        j = i
        while j + 1 < n and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        avg_rank = (i + j) / 2.0 + 1.0
        rank_sum_pos += avg_rank * sum(labels[order[k]] for k in range(i, j + 1))
        i = j + 1
    return (rank_sum_pos - pos * (pos + 1) / 2.0) / (pos * neg)


def summarise(files, results):
    """Alert figures and AUC over `files` (dicts) with results[name] = (scores, levels)."""
    tot = {"events": 0, "events_detected": 0, "false_alarms_warning": 0,
           "false_alarms_critical": 0, "episodes": 0}
    days = 0.0
    all_scores, all_labels = [], []
    for f in files:
        scores, levels = results[f["name"]]
        for k, v in alert_figures(f["labels"], levels).items():
            tot[k] += v
        days += f["days"]
        all_scores += scores
        all_labels += f["labels"]
    tot["series_days"] = days
    tot["false_alarms_per_day_warning"] = tot["false_alarms_warning"] / days if days else None
    tot["false_alarms_per_day_critical"] = tot["false_alarms_critical"] / days if days else None
    tot["roc_auc"] = roc_auc(all_scores, all_labels)
    tot["files"] = len(files)
    return tot


# ---------------------------------------------------------------- running


def evaluate(binary, detectors, corpus, extra, jobs, keep=None, extend=True):
    groups = {f["name"]: f["kind"] for f in corpus}
    report = {}
    for det in detectors:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futs = {f["name"]: pool.submit(replay, binary, f["path"], det, extra, keep)
                    for f in corpus}
            results = {name: fut.result() for name, fut in futs.items()}
        for f in corpus:
            if len(results[f["name"]][0]) != len(f["labels"]):
                raise RuntimeError(f"{det} on {f['name']}: {len(results[f['name']][0])} output "
                                   f"rows for {len(f['labels'])} input rows")
        nab = nab_score.score_corpus(
            [(f["name"], f["labels"], results[f["name"]][0]) for f in corpus], groups=groups,
            extend_to_event_end=extend)
        entry = {"nab": {}, "overall": summarise(corpus, results), "kinds": {}, "per_file": {}}
        for p, r in nab.items():
            entry["nab"][p] = {
                "threshold": None if r["threshold"] == nab_score.NOTHING else r["threshold"],
                "score": r["score"], "raw": r["raw"], "null": r["null"], "perfect": r["perfect"],
                "windows": r["windows"], "windows_detected": r["windows_detected"],
                "groups": {g: {"score": v["score"], "raw": v["raw"]} for g, v in r["groups"].items()},
            }
        for kind in sorted({f["kind"] for f in corpus}):
            entry["kinds"][kind] = summarise([f for f in corpus if f["kind"] == kind], results)
        for f in corpus:
            fig = alert_figures(f["labels"], results[f["name"]][1])
            fig["roc_auc"] = roc_auc(results[f["name"]][0], f["labels"])
            fig["nab_standard_raw"] = nab["standard"]["files"][f["name"]]["raw"]
            entry["per_file"][f["name"]] = fig
        report[det] = entry
    return report


# ---------------------------------------------------------------- printing


def fmt(v, spec=".1f", none="—"):
    return none if v is None else format(v, spec)


def det_name(d):
    return "composite (`all`)" if d in ("all", "composite") else f"`{d}`"


def print_tables(report, corpus, extra, out=sys.stdout):
    w = lambda s="": print(s, file=out)
    n_rows = sum(len(f["labels"]) for f in corpus)
    n_events = sum(len(nab_score.label_events(f["labels"])) for f in corpus)
    days = sum(f["days"] for f in corpus)
    w(f"Corpus: {len(corpus)} series, {len({f['kind'] for f in corpus})} kinds, {n_rows} rows, "
      f"{n_events} events, {days:.1f} series-days; replay args: "
      f"`{' '.join(extra) if extra else '(defaults)'}`.")
    w()
    w("| detector | NAB standard | NAB low FP | NAB low FN | thresholds (std / low FP / low FN) "
      "| events detected | false alarms / series-day (≥ warning) | (critical) | ROC AUC |")
    w("|---|---|---|---|---|---|---|---|---|")
    for det, e in report.items():
        nab, o = e["nab"], e["overall"]
        th = " / ".join(fmt(nab[p]["threshold"], ".4g", "none") for p in PROFILE_SHORT)
        w(f"| {det_name(det)} | {fmt(nab['standard']['score'])} | "
          f"{fmt(nab['reward_low_FP_rate']['score'])} | {fmt(nab['reward_low_FN_rate']['score'])} | "
          f"{th} | {o['events_detected']} / {o['events']} | "
          f"{fmt(o['false_alarms_per_day_warning'], '.2f')} | "
          f"{fmt(o['false_alarms_per_day_critical'], '.2f')} | {fmt(o['roc_auc'], '.3f')} |")
    for det, e in report.items():
        w()
        w(f"Per kind, {det_name(det)} (NAB at the corpus-wide thresholds; — where a kind has no "
          f"fault, so no NAB normalisation or AUC):")
        w()
        w("| kind | series | NAB standard | NAB low FP | NAB low FN | events detected "
          "| false alarms / series-day (≥ warning) | (critical) | ROC AUC |")
        w("|---|---|---|---|---|---|---|---|---|")
        for kind, k in e["kinds"].items():
            g = {p: e["nab"][p]["groups"][kind]["score"] for p in PROFILE_SHORT}
            w(f"| {kind} | {k['files']} | {fmt(g['standard'])} | {fmt(g['reward_low_FP_rate'])} | "
              f"{fmt(g['reward_low_FN_rate'])} | {k['events_detected']} / {k['events']} | "
              f"{fmt(k['false_alarms_per_day_warning'], '.2f')} | "
              f"{fmt(k['false_alarms_per_day_critical'], '.2f')} | {fmt(k['roc_auc'], '.3f')} |")


def default_binary():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "exwatch")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Score exwatch replay detectors on the corpus.")
    ap.add_argument("--bin", default=default_binary(), help="the exwatch binary")
    ap.add_argument("--detector", nargs="+", action="extend", dest="detectors",
                    help="detector names (default: all zscore iqr rolling_mean)")
    ap.add_argument("--dir", default=os.path.join(HERE, "corpus"), help="corpus directory")
    ap.add_argument("--extra-args", default="", help="more replay arguments, one string")
    ap.add_argument("--json", help="write every figure (also per kind and per file) here")
    ap.add_argument("--keep", help="keep the replay outputs under DIR/<detector>/")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--no-extend", action="store_true",
                    help="NAB windows exactly as NAB makes them (not extended to the event's "
                         "last labelled row); event regions are unaffected")
    args = ap.parse_args(argv)
    if not os.path.exists(args.bin):
        sys.exit(f"no binary at {args.bin}: run `cargo build --release` first or pass --bin")
    detectors = args.detectors or ["all", "zscore", "iqr", "rolling_mean"]
    extra = shlex.split(args.extra_args)
    corpus = read_corpus(args.dir)
    if not corpus:
        sys.exit(f"no CSV in {args.dir}")
    report = evaluate(args.bin, detectors, corpus, extra, args.jobs, args.keep,
                      extend=not args.no_extend)
    print_tables(report, corpus, extra)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"binary": args.bin, "extra_args": extra,
                       "nab_windows_extended_to_event_end": not args.no_extend,
                       "detectors": report}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
