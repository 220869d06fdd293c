#!/usr/bin/env python3
"""Writes the labelled replay corpus in tests/data/ (deterministic: fixed seeds).

Every series is one latency sample per minute, in ms, with multiplicative jitter around a
base level; the faults injected into each file, and their labels, are listed in README.md.
Run from anywhere: python3 tests/data/gen_corpus.py
"""
import datetime
import math
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


def write(name, style, rows, digits=1, step_ms=STEP_MS):
    with open(os.path.join(HERE, name), "w", newline="\n") as f:
        f.write("timestamp,value,label\n")
        for i, (value, label) in enumerate(rows):
            f.write(f"{fmt_time(i * step_ms // STEP_MS, style)},{value:.{digits}f},{label}\n")


def poisson(rng, mean):
    # Knuth: fine for small means
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# ---- series of other units than latency, for `exwatch replay` (default --unit any) ----


def small_values():
    # a ratio around 0.02 (gaussian noise, sd 0.001); 10 single-sample faults alternating up
    # (x2 to x3) and down (x0.3 to x0.5), every 130 rows from row 100
    rng = random.Random(5)
    rows = []
    for i in range(ROWS):
        v, label = rng.gauss(0.02, 0.001), 0
        k, r = divmod(i - 100, 130)
        if i >= 100 and r == 0 and k < 10:
            v, label = 0.02 * (2 + rng.random() if k % 2 == 0 else 0.3 + 0.2 * rng.random()), 1
        rows.append((v, label))
    return rows


def negative_values():
    # a negative reading around -50 (sd 2); 10 faults of 1-2 samples, alternating a drop to
    # about -80 and a rise to about -20, every 130 rows from row 90
    rng = random.Random(6)
    rows = []
    for i in range(ROWS):
        v, label = rng.gauss(-50.0, 2.0), 0
        k, r = divmod(i - 90, 130)
        if i >= 90 and r < 1 + k % 2 and k < 10:
            v, label = (-80.0 if k % 2 == 0 else -20.0) + rng.gauss(0.0, 2.0), 1
        rows.append((v, label))
    return rows


def cpu_shifts_down():
    # CPU % in 0..100 around 65 (sd 3): 3 level shifts down, to 20 % for 60 rows (row 300), to
    # 40 % for 120 rows (row 700), to 5 % for 30 rows (row 1150); each returns to 65 %
    rng = random.Random(7)
    shifts = [(300, 60, 20.0), (700, 120, 40.0), (1150, 30, 5.0)]
    rows = []
    for i in range(ROWS):
        level, label = 65.0, 0
        for s, length, to in shifts:
            if s <= i < s + length:
                level, label = to, 1
        rows.append((min(100.0, max(0.0, rng.gauss(level, 3.0))), label))
    return rows


def seasonal():
    # three days at one sample per 5 minutes (864 rows): a daily cycle 500 +- 300 with noise
    # (sd 20); 6 faults of 2 samples, alternating +250 and -250 off the cycle, every 140 rows
    # from row 70 (at different phases of the day)
    rng = random.Random(8)
    per_day = 288
    rows = []
    for i in range(3 * per_day):
        v = 500.0 + 300.0 * math.sin(2 * math.pi * i / per_day) + rng.gauss(0.0, 20.0)
        label = 0
        k, r = divmod(i - 70, 140)
        if i >= 70 and r < 2 and k < 6:
            v, label = v + (250.0 if k % 2 == 0 else -250.0), 1
        rows.append((v, label))
    return rows


def counts():
    # requests per minute, Poisson with mean 10: 4 bursts (3 samples at about 40), every 300
    # rows from row 150, and 2 outages (20 samples of 0) at rows 600 and 1200
    rng = random.Random(9)
    rows = []
    for i in range(ROWS):
        v, label = poisson(rng, 10.0), 0
        k, r = divmod(i - 150, 300)
        if i >= 150 and r < 3 and k < 4:
            v, label = poisson(rng, 40.0), 1
        if 600 <= i < 620 or 1200 <= i < 1220:
            v, label = 0, 1
        rows.append((v, label))
    return rows


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
    write("small_values.csv", "rfc3339", small_values(), digits=5)
    write("negative_values.csv", "epoch", negative_values(), digits=2)
    write("cpu_shifts_down.csv", "space", cpu_shifts_down(), digits=1)
    write("seasonal.csv", "rfc3339", seasonal(), digits=1, step_ms=300_000)
    write("counts.csv", "epoch", counts(), digits=0)
