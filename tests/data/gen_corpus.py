#!/usr/bin/env python3
"""Writes the labelled replay corpus in tests/data/ (deterministic: fixed seeds).

Every series is one latency sample per minute, in ms, with multiplicative jitter around a
base level; the faults injected into each file, and their labels, are listed in README.md.
Run from anywhere: python3 tests/data/gen_corpus.py
"""
import datetime
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 60_000
ROWS = 1440  # one day per file


def fmt_time(i, style):
    ms = START_MS + i * STEP_MS
    if style == "epoch":
        return str(ms)
    t = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    if style == "space":
        return t.strftime("%Y-%m-%d %H:%M:%S")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def base(rng, level):
    # jitter: ±15 % uniform, plus a rare mild hiccup (+60 %) that is not a fault
    v = level * (0.85 + 0.3 * rng.random())
    if rng.random() < 0.01:
        v *= 1.6
    return v


def write(name, style, rows):
    with open(os.path.join(HERE, name), "w", newline="\n") as f:
        f.write("timestamp,value,label\n")
        for i, (value, label) in enumerate(rows):
            f.write(f"{fmt_time(i, style)},{value:.1f},{label}\n")


def spikes():
    # 12 isolated spikes of 1-3 samples, 5x to 20x the base level of 80 ms
    rng = random.Random(1)
    starts = [120 + 110 * k for k in range(12)]
    rows = []
    for i in range(ROWS):
        v, label = base(rng, 80.0), 0
        for k, s in enumerate(starts):
            length = 1 + k % 3
            if s <= i < s + length:
                v, label = 80.0 * (5 + (k * 7) % 16) * (0.9 + 0.2 * rng.random()), 1
        rows.append((v, label))
    return rows


def level_shifts():
    # 4 level shifts of the base level 60 ms: to 250 ms (40 samples), 400 ms (90),
    # 180 ms (30) and 600 ms (150), each followed by a return to 60 ms
    rng = random.Random(2)
    shifts = [(200, 40, 250.0), (500, 90, 400.0), (850, 30, 180.0), (1100, 150, 600.0)]
    rows = []
    for i in range(ROWS):
        level, label = 60.0, 0
        for s, length, to in shifts:
            if s <= i < s + length:
                level, label = to, 1
        rows.append((base(rng, level), label))
    return rows


def ramps():
    # 3 gradual degradations from 100 ms: +4 ms/min for 60 min, +2 ms/min for 100 min,
    # +8 ms/min for 30 min; each holds its peak for 20 min and then drops back. The label
    # covers the ramp and the plateau.
    rng = random.Random(3)
    ramps = [(250, 60, 4.0), (650, 100, 2.0), (1150, 30, 8.0)]
    rows = []
    for i in range(ROWS):
        level, label = 100.0, 0
        for s, length, slope in ramps:
            if s <= i < s + length:
                level, label = 100.0 + slope * (i - s + 1), 1
            elif s + length <= i < s + length + 20:
                level, label = 100.0 + slope * length, 1
        rows.append((base(rng, level), label))
    return rows


def noise():
    # no fault: heavier jitter (±15 % plus 1 % hiccups) on a base level that wanders slowly
    # between 40 and 120 ms over the day; every label is 0
    rng = random.Random(4)
    rows = []
    level = 80.0
    for i in range(ROWS):
        level = min(120.0, max(40.0, level + rng.uniform(-1.0, 1.0)))
        rows.append((base(rng, level), 0))
    return rows


if __name__ == "__main__":
    write("spikes.csv", "rfc3339", spikes())
    write("level_shifts.csv", "space", level_shifts())
    write("ramps.csv", "epoch", ramps())
    write("noise.csv", "rfc3339", noise())
