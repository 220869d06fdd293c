#!/usr/bin/env python3
"""Writes the synthetic, labelled anomaly corpus in tests/data/corpus/ (deterministic).

Every series is made here from seeded generators (Python standard library only, no public
data of any kind): `<kind>__<name>.csv` with the header `timestamp,value,label`, RFC 3339 UTC
timestamps, `label` 1 on every row of an injected fault and 0 elsewhere. Benign noise is meant
to look like operations metrics: autocorrelated (AR(1)), heavy-tailed (Student-t, lognormal,
Pareto), quantised, with occasional short hiccups that are *not* labelled.

Besides the CSVs it writes `kinds.json` (file -> kind), `manifest.json` (every file's kind,
rows, interval, value range and faults with their rows) and `README.md` (the same as a table).

Run from anywhere:  python3 tests/data/corpus/generate.py
"""
import datetime
import json
import math
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCH = datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc)  # a Monday
MIN, MIN5, HOUR = 60, 300, 3600
# Faults start at or after this share of a file (NAB ignores the first 15 % as probation and
# drops a window that reaches into it; the widest window reaches 5 % before its fault).
FIRST_FAULT = 0.22


# ---------------------------------------------------------------- noise building blocks


def student_t(rng, df):
    """A Student-t draw with `df` degrees of freedom, scaled to unit variance (df > 2)."""
    z = rng.gauss(0.0, 1.0)
    chi2 = rng.gammavariate(df / 2.0, 2.0)
    return z / math.sqrt(chi2 / df) * math.sqrt((df - 2.0) / df)


def ar1(rng, n, phi, sd=1.0, df=None):
    """AR(1) noise with stationary sd `sd`; innovations Gaussian or Student-t(df)."""
    scale = sd * math.sqrt(1.0 - phi * phi)
    x, out = rng.gauss(0.0, sd), []
    for _ in range(n):
        e = student_t(rng, df) if df else rng.gauss(0.0, 1.0)
        x = phi * x + scale * e
        out.append(x)
    return out


def poisson(rng, mean):
    """Poisson draw: Knuth for small means, a rounded normal for large ones."""
    if mean <= 0:
        return 0
    if mean > 60:
        return max(0, int(round(rng.gauss(mean, math.sqrt(mean)))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def neg_binomial(rng, mean, shape):
    """Gamma-Poisson mixture: over-dispersed counts (variance mean + mean^2/shape)."""
    return poisson(rng, rng.gammavariate(shape, mean / shape)) if mean > 0 else 0


def pareto(rng, alpha, xmin=1.0):
    return xmin * (1.0 - rng.random()) ** (-1.0 / alpha)


def diurnal(hour, peak=15.0, sharp=1.0):
    """A day shape in [0, 1]: low at night, a broad peak around `peak` h, a shoulder."""
    a = math.cos(2 * math.pi * (hour - peak) / 24.0)
    b = math.cos(4 * math.pi * (hour - peak + 3.0) / 24.0)
    v = 0.5 + 0.42 * a + 0.08 * b
    return max(0.0, min(1.0, v)) ** sharp


def quantise(v, step):
    return round(v / step) * step


# ---------------------------------------------------------------- series skeleton


class Series:
    def __init__(self, name, kind, seed, n, interval, what, unit, decimals, start_day=0,
                 gaps=None):
        self.name, self.kind, self.n, self.interval = name, kind, n, interval
        self.what, self.unit, self.decimals = what, unit, decimals
        self.rng = random.Random(seed)
        self.seed = seed
        self.start = EPOCH + datetime.timedelta(days=start_day)
        # slot[i]: the i-th present row's position on the regular grid (gaps skip slots)
        self.slot = list(range(n)) if gaps is None else gaps
        self.values = [0.0] * n
        self.labels = [0] * n
        self.faults = []
        self.hiccups = 0
        self.hiccup_rows = 0
        self.gap_note = ""

    def t_seconds(self, i):
        return self.slot[i] * self.interval

    def hour_of_day(self, i):
        return (self.t_seconds(i) / 3600.0) % 24.0

    def day_index(self, i):
        return int(self.t_seconds(i) // 86400)

    def weekday(self, i):
        return (self.start + datetime.timedelta(seconds=self.t_seconds(i))).weekday()

    def stamp(self, i):
        t = self.start + datetime.timedelta(seconds=self.t_seconds(i))
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    def fault(self, start, length, what):
        end = min(self.n - 1, start + length - 1)
        assert start >= FIRST_FAULT * self.n, (self.name, start)
        for i in range(start, end + 1):
            assert self.labels[i] == 0, (self.name, "overlapping faults", start)
            self.labels[i] = 1
        self.faults.append({"start": start, "end": end, "rows": end - start + 1, "what": what})
        return start, end

    def slots(self, lengths, tail=0.02, conds=None):
        """Spread fault starts: one per equal slot of [FIRST_FAULT·n, (1-tail)·n), each at a
        random place in its slot, far enough from the slot's edges that NAB windows of
        neighbouring faults do not touch. conds[j], when given, is a predicate a start must
        satisfy (a time of day, a weekday); if no row far enough from the edges satisfies it,
        any row of the slot that does is taken."""
        k = len(lengths)
        if k == 0:
            return []
        lo, hi = int(math.ceil(FIRST_FAULT * self.n)) + 1, int((1.0 - tail) * self.n)
        seg = (hi - lo) / k
        pad = int(0.055 * self.n / k) + 2
        starts = []
        for j, length in enumerate(lengths):
            s_lo, s_hi = int(lo + j * seg), int(lo + (j + 1) * seg)
            a = s_lo + (pad if j else 0)
            b = s_hi - length - pad
            assert b > a, (self.name, "fault too long for its slot", j, length)
            cond = conds[j] if conds else None
            if cond is None:
                starts.append(self.rng.randint(a, b))
                continue
            cands = [i for i in range(a, b + 1) if cond(i)]
            if not cands:
                cands = [i for i in range(s_lo + 1, s_hi - length) if cond(i)]
            assert cands, (self.name, "no row satisfies the fault's condition", j)
            starts.append(self.rng.choice(cands))
        return starts

    def benign_hiccups(self, rate, bump, max_len=2):
        """Unlabelled short hiccups outside faults: `bump(i, v)` returns the new value."""
        i = 0
        while i < self.n:
            if self.rng.random() < rate:
                length = self.rng.randint(1, max_len)
                if not any(self.labels[max(0, i - 3):i + length + 3]):
                    for j in range(i, min(self.n, i + length)):
                        self.values[j] = bump(j, self.values[j])
                        self.hiccup_rows += 1
                    self.hiccups += 1
                i += length + 3
            else:
                i += 1

    def write(self):
        path = os.path.join(HERE, f"{self.kind}__{self.name}.csv")
        d = self.decimals
        with open(path, "w", newline="\n") as f:
            f.write("timestamp,value,label\n")
            for i in range(self.n):
                v = self.values[i]
                s = f"{v:.{d}f}"
                if s.startswith("-") and float(s) == 0.0:
                    s = s[1:]
                f.write(f"{self.stamp(i)},{s},{self.labels[i]}\n")
        return os.path.basename(path)


def make_gaps(rng, n, count, min_len, max_len):
    """Grid positions of `n` present rows with `count` gaps of min_len..max_len slots."""
    gap_at = sorted(rng.sample(range(50, n - 50), count))
    slots, pos, g = [], 0, 0
    lengths = []
    for i in range(n):
        if g < len(gap_at) and i == gap_at[g]:
            length = rng.randint(min_len, max_len)
            lengths.append(length)
            pos += length
            g += 1
        slots.append(pos)
        pos += 1
    return slots, lengths


# ---------------------------------------------------------------- 1. seasonal_daily


def seasonal_daily(name, seed, n, interval, level, amp, noise_sd, decimals, quant, peak,
                   faults, unit, what, floor=None, start_day=0):
    s = Series(name, "seasonal_daily", seed, n, interval, what, unit, decimals, start_day)
    rng = s.rng
    days = s.day_index(n - 1) + 2
    day_amp = [1.0 + 0.08 * rng.gauss(0, 1) for _ in range(days)]
    day_off = [0.05 * amp * rng.gauss(0, 1) for _ in range(days)]
    noise = ar1(rng, n, 0.8, noise_sd, df=5)

    def expected(i, shift_h=0.0):
        h = (s.hour_of_day(i) - shift_h) % 24.0
        d = s.day_index(i)
        return level + day_off[d] + amp * day_amp[d] * diurnal(h, peak)

    s.values = [expected(i) + noise[i] for i in range(n)]
    per_day = 86400 // interval
    kinds = faults
    lengths, conds = [], []
    step_h = interval / 3600.0
    for kind in kinds:
        cond = None
        if kind == "spike":
            lengths.append(rng.randint(1, 3))
            # off the cycle: a spike in the quiet hours stands out only against the cycle
            cond = lambda i: abs(((s.hour_of_day(i) - peak + 12.0) % 24.0) - 12.0) > 6.0
        elif kind == "dip":
            lengths.append(max(2, per_day // 48 * rng.randint(1, 3)))
            cond = lambda i: abs(((s.hour_of_day(i) - peak + 12.0) % 24.0) - 12.0) < 3.0
        elif kind == "flat_peak":
            lengths.append(per_day // 4)
            # starts 3 h before the peak, so the flat stretch covers the peak hours
            cond = lambda i: abs(((s.hour_of_day(i) - (peak - 3.0)) % 24.0)) < step_h / 2
        elif kind == "phase":
            lengths.append(per_day // 2)
        conds.append(cond)
    starts = s.slots(lengths, conds=conds)
    for kind, start, length in zip(kinds, starts, lengths):
        if kind == "flat_peak":
            a, b = s.fault(start, length, "the day's peak is missing (flat near the night level)")
            for i in range(a, b + 1):
                s.values[i] = level + day_off[s.day_index(i)] + 0.12 * amp + noise[i]
        elif kind == "phase":
            sh = rng.choice([-6.0, -5.0, 5.0, 6.0])
            a, b = s.fault(start, length, f"partial phase shift: the cycle runs {sh:+.0f} h off")
            for i in range(a, b + 1):
                s.values[i] = expected(i, sh) + noise[i]
        elif kind == "spike":
            a, b = s.fault(start, length, "spike off the cycle")
            for i in range(a, b + 1):
                s.values[i] = expected(i) + amp * rng.uniform(0.6, 0.9) + noise[i]
        elif kind == "dip":
            a, b = s.fault(start, length, "dip off the cycle")
            for i in range(a, b + 1):
                s.values[i] = expected(i) - amp * rng.uniform(0.45, 0.6) + noise[i]
    s.benign_hiccups(0.006, lambda i, v: v + noise_sd * rng.uniform(2.5, 3.5) * rng.choice([-1, 1]))
    s.values = [quantise(v, quant) for v in s.values]
    if floor is not None:
        s.values = [max(floor, v) for v in s.values]
    return s


# ---------------------------------------------------------------- 2. seasonal_weekly


def weekly_shape(hour, weekend):
    if weekend:
        # late start, broad afternoon/evening hump, busy Friday/Saturday night spill-over
        return 0.25 + 0.55 * diurnal(hour, 16.0, 1.3) + 0.2 * max(0.0, math.cos(2 * math.pi * (hour - 23.0) / 24.0)) ** 4
    morning = math.exp(-((hour - 8.5) ** 2) / (2 * 1.3 ** 2))
    evening = math.exp(-((hour - 18.5) ** 2) / (2 * 1.8 ** 2))
    return 0.12 + 0.35 * diurnal(hour, 14.0, 1.5) + 0.55 * morning + 0.7 * evening


def seasonal_weekly(name, seed, n, interval, level, noise_rel, decimals, faults, unit, what,
                    counts=False):
    s = Series(name, "seasonal_weekly", seed, n, interval, what, unit, decimals)
    rng = s.rng
    weeks = s.day_index(n - 1) // 7 + 2
    week_mult = [1.0 + 0.04 * rng.gauss(0, 1) for _ in range(weeks)]
    noise = ar1(rng, n, 0.7, noise_rel, df=6)

    def expected(i, weekend=None):
        wd = s.weekday(i)
        we = wd >= 5 if weekend is None else weekend
        m = week_mult[s.day_index(i) // 7]
        return level * m * weekly_shape(s.hour_of_day(i), we)

    s.values = [expected(i) * (1.0 + noise[i]) for i in range(n)]
    per_day = 86400 // interval
    lengths = [per_day if f == "holiday" else max(3, per_day // 8) for f in faults]
    midnight_weekday = lambda i: s.hour_of_day(i) < 1e-9 and s.weekday(i) < 5
    conds = [midnight_weekday if f == "holiday" else None for f in faults]
    starts = s.slots(lengths, conds=conds)
    for kind, start, length in zip(faults, starts, lengths):
        if kind == "holiday":
            a, b = s.fault(start, per_day, "holiday: a weekday that runs the weekend profile")
            for j in range(a, b + 1):
                s.values[j] = expected(j, True) * (1.0 + noise[j])
        else:
            a, b = s.fault(start, length, "unusual surge (x2.2-x2.8 for 3 h)")
            f = rng.uniform(2.2, 2.8)
            for j in range(a, b + 1):
                s.values[j] = expected(j) * f * (1.0 + noise[j])
    s.benign_hiccups(0.004, lambda i, v: v * rng.uniform(1.25, 1.45))
    if counts:
        s.values = [poisson(rng, max(0.0, v)) for v in s.values]
    else:
        s.values = [max(0.0, v) for v in s.values]
    return s


# ---------------------------------------------------------------- 3./4. level shifts


def level_shift(name, seed, n, interval, level, noise_rel, decimals, quant, shifts, unit,
                what, kind, clip=None, daily=0.0, tail=0.02):
    """shifts: list of (factor, length or None = until the end)."""
    s = Series(name, kind, seed, n, interval, what, unit, decimals)
    rng = s.rng
    noise = ar1(rng, n, 0.85, noise_rel, df=4)
    base = [level * (1.0 + daily * (diurnal(s.hour_of_day(i)) - 0.5)) for i in range(n)]
    lengths = [length if length else 1 for _, length in shifts]
    if shifts[-1][1] is None:
        # the last shift starts late and never returns
        starts = s.slots(lengths[:-1], tail=0.2) if len(shifts) > 1 else []
        starts.append(int(rng.uniform(0.86, 0.9) * n))
        lengths[-1] = n - starts[-1]
    else:
        starts = s.slots(lengths, tail)
    mult = [1.0] * n
    for (factor, length), start, ln in zip(shifts, starts, lengths):
        note = "never returns before the end" if length is None else "then returns to normal"
        a, b = s.fault(start, ln, f"level shift x{factor:g} ({'up' if factor > 1 else 'down'}), {note}")
        for i in range(a, b + 1):
            mult[i] = factor
    s.values = [base[i] * mult[i] * (1.0 + noise[i]) for i in range(n)]
    if kind == "level_shift_up":
        s.benign_hiccups(0.006, lambda i, v: v * rng.uniform(1.3, 1.6))
    else:
        s.benign_hiccups(0.005, lambda i, v: v * rng.uniform(0.78, 0.88))
    s.values = [quantise(v, quant) for v in s.values]
    if clip:
        s.values = [min(clip[1], max(clip[0], v)) for v in s.values]
    return s


# ---------------------------------------------------------------- 5. slow_drift


def slow_drift(name, seed, n, interval, level, noise_sd, decimals, quant, drifts, unit, what,
               sawtooth=0.0, daily=0.0):
    """drifts: list of (length, total rise in units of noise_sd, reset at the end?)."""
    s = Series(name, "slow_drift", seed, n, interval, what, unit, decimals)
    rng = s.rng
    noise = ar1(rng, n, 0.9, noise_sd, df=6)
    base = [level + daily * (diurnal(s.hour_of_day(i)) - 0.5) for i in range(n)]
    # benign sawtooth (GC cycles / log rotation), small and periodic
    if sawtooth:
        period = rng.randint(40, 70)
        base = [b + sawtooth * noise_sd * ((i % period) / period - 0.5) for i, b in enumerate(base)]
    lengths = [d[0] for d in drifts]
    if drifts[-1][2] is False:
        starts = s.slots(lengths[:-1], tail=0.3) if len(drifts) > 1 else []
        starts.append(int(0.78 * n) + rng.randint(0, int(0.04 * n)))
        lengths[-1] = n - starts[-1]
    else:
        starts = s.slots(lengths)
    add = [0.0] * n
    for (length, rise, reset), start, ln in zip(drifts, starts, lengths):
        end_note = "fixed by a restart/recalibration" if reset else "still drifting at the end"
        a, b = s.fault(start, ln, f"gradual drift to +{rise:g} sd over {ln} rows, {end_note}")
        curve = rng.choice([1.0, 1.4])  # linear or slightly accelerating
        for i in range(a, b + 1):
            add[i] = rise * noise_sd * ((i - a + 1) / ln) ** curve
    s.values = [base[i] + add[i] + noise[i] for i in range(n)]
    s.benign_hiccups(0.005, lambda i, v: v + noise_sd * rng.uniform(2.0, 3.0))
    s.values = [quantise(v, quant) for v in s.values]
    return s


# ---------------------------------------------------------------- 6. variance_change


def variance_change(name, seed, n, interval, level, noise_sd, decimals, quant, changes, unit,
                    what, clip=None):
    s = Series(name, "variance_change", seed, n, interval, what, unit, decimals)
    rng = s.rng
    noise = ar1(rng, n, 0.5, noise_sd, df=6)
    lengths = [c[1] for c in changes]
    starts = s.slots(lengths)
    for (factor, length), start in zip(changes, starts):
        a, b = s.fault(start, length, f"noise sd x{factor:g}, mean unchanged")
        for i in range(a, b + 1):
            noise[i] *= factor
    s.values = [level + noise[i] for i in range(n)]
    s.benign_hiccups(0.005, lambda i, v: v + noise_sd * rng.uniform(2.5, 3.2) * rng.choice([-1, 1]), 1)
    s.values = [quantise(v, quant) for v in s.values]
    if clip:
        s.values = [min(clip[1], max(clip[0], v)) for v in s.values]
    return s


# ---------------------------------------------------------------- 7. flat_line


def flat_line(name, seed, n, interval, decimals, quant, stuck, unit, what, walk=None,
              level=0.0, amp=0.0, noise_sd=1.0):
    s = Series(name, "flat_line", seed, n, interval, what, unit, decimals)
    rng = s.rng
    if walk:
        # a price: geometric random walk with t-distributed log returns
        p, vals = walk, []
        for _ in range(n):
            p *= math.exp(0.0006 * student_t(rng, 4))
            vals.append(p)
        s.values = vals
    else:
        noise = ar1(rng, n, 0.9, noise_sd, df=6)
        s.values = [level + amp * (diurnal(s.hour_of_day(i), 14.0) - 0.5) + noise[i]
                    for i in range(n)]
    s.values = [quantise(v, quant) for v in s.values]
    starts = s.slots(stuck)
    for start, length in zip(starts, stuck):
        a, b = s.fault(start, length, "stuck at an exact constant (frozen feed / sensor)")
        for i in range(a, b + 1):
            s.values[i] = s.values[a - 1]
    # benign: a reading repeated for 2-4 rows (slow sensor, quiet market), unlabelled
    s.benign_hiccups(0.006, lambda i, v: s.values[i - 1], 3)
    return s


# ---------------------------------------------------------------- 8. missing_rows


def missing_rows(name, seed, n, interval, level, noise_rel, decimals, quant, faults, unit, what,
                 gap_count, gap_len):
    rng0 = random.Random(seed * 7919)
    slots, gl = make_gaps(rng0, n, gap_count, *gap_len)
    s = Series(name, "missing_rows", seed, n, interval, what, unit, decimals, gaps=slots)
    unit = {MIN: "min", MIN5: "min", HOUR: "h"}[interval]
    per = {MIN: 1, MIN5: 5, HOUR: 1}[interval]
    s.gap_note = f"{len(gl)} gaps of {min(gl) * per}-{max(gl) * per} {unit}"
    rng = s.rng
    noise = ar1(rng, n, 0.8, noise_rel, df=5)
    base = [level * (1.0 + 0.25 * (diurnal(s.hour_of_day(i)) - 0.5)) for i in range(n)]
    lengths = [f[1] for f in faults]
    starts = s.slots(lengths)
    mult = [1.0] * n
    for (kind, length, factor), start in zip(faults, starts):
        a, b = s.fault(start, length, f"{kind} x{factor:g}")
        for i in range(a, b + 1):
            mult[i] = factor
    s.values = [base[i] * mult[i] * (1.0 + noise[i]) for i in range(n)]
    s.benign_hiccups(0.005, lambda i, v: v * rng.uniform(1.3, 1.5))
    s.values = [quantise(max(0.0, v), quant) for v in s.values]
    return s


# ---------------------------------------------------------------- 9. poisson_counts


def poisson_counts(name, seed, n, interval, mean, faults, unit, what, daily=0.0,
                   kind="poisson_counts"):
    s = Series(name, kind, seed, n, interval, what, unit, 0)
    rng = s.rng
    # slowly wandering rate (a little over-dispersion), optional daily modulation
    wander = ar1(rng, n, 0.995, 0.08)
    rate = [mean * math.exp(wander[i]) * (1.0 + daily * (diurnal(s.hour_of_day(i)) - 0.5))
            for i in range(n)]
    lengths = [f[1] for f in faults]
    starts = s.slots(lengths) if faults else []
    for (fk, length, factor), start in zip(faults, starts):
        if fk == "burst":
            a, b = s.fault(start, length, f"burst: rate x{factor:g}")
            for i in range(a, b + 1):
                rate[i] *= factor
        else:
            a, b = s.fault(start, length, "outage: counts drop to zero")
            for i in range(a, b + 1):
                rate[i] = 0.0
    s.values = [poisson(rng, r) for r in rate]
    # benign: a rare doubled interval (retry batch), unlabelled
    s.benign_hiccups(0.004, lambda i, v: v + poisson(rng, mean * 1.2) if rate[i] > 0 else v, 1)
    return s


# ---------------------------------------------------------------- 10. heavy_tailed_latency


def heavy_latency(name, seed, n, interval, median, sigma, cap, faults, what, hiccup_rate=0.006):
    """faults: list of ("slow", length, factor) or ("timeouts", length, None)."""
    s = Series(name, "heavy_tailed_latency", seed, n, interval, what, "ms", 1)
    rng = s.rng
    logn = ar1(rng, n, 0.6, sigma)
    mu = math.log(median)
    lengths = [f[1] for f in faults]
    starts = s.slots(lengths) if faults else []
    mult = [1.0] * n
    pinned = [False] * n
    for (fk, length, factor), start in zip(faults, starts):
        if fk == "slow":
            a, b = s.fault(start, length, f"sustained slowdown x{factor:g}")
            for i in range(a, b + 1):
                mult[i] = factor
        else:
            a, b = s.fault(start, length, f"timeout storm: pinned at the {cap:g} ms cap")
            for i in range(a, b + 1):
                pinned[i] = True
    s.values = [min(cap, math.exp(mu + logn[i]) * mult[i]) for i in range(n)]
    for i in range(n):
        if pinned[i]:
            s.values[i] = cap
    # benign Pareto spikes on ~0.5-1 % of rows, 1-2 rows long, below the cap
    s.benign_hiccups(hiccup_rate, lambda i, v: min(cap * 0.8, v * (1.0 + pareto(rng, 1.6, 1.0))))
    s.values = [quantise(v, 0.1) for v in s.values]
    return s


# ---------------------------------------------------------------- 11. bursty_volume


def bursty_volume(name, seed, n, interval, level, shape, decimals, surges, unit, what,
                  burst_rate=0.01, scale=1.0):
    s = Series(name, "bursty_volume", seed, n, interval, what, unit, decimals)
    rng = s.rng
    lengths = [x[0] for x in surges]
    starts = s.slots(lengths)
    mult = [1.0] * n
    for (length, factor), start in zip(surges, starts):
        a, b = s.fault(start, length, f"extreme sustained surge x{factor:g}")
        for i in range(a, b + 1):
            mult[i] = factor
    # benign self-exciting bursts: start at random, Pareto-sized, decay within a few rows
    excite, vals = 0.0, []
    for i in range(n):
        if rng.random() < burst_rate and not any(s.labels[max(0, i - 5):i + 5]):
            excite += min(5.0, pareto(rng, 1.8, 0.6))
            s.hiccups += 1
        excite *= 0.6
        if excite > 0.25:
            s.hiccup_rows += 1
        m = level * (0.45 + 0.9 * diurnal(s.hour_of_day(i), 20.0)) * (1.0 + excite) * mult[i]
        vals.append(neg_binomial(rng, m / scale, shape) * scale)
    s.values = vals
    return s


# ---------------------------------------------------------------- 12. outage


def outage(name, seed, n, interval, level, noise_rel, decimals, outages, unit, what,
           residual=0.0, counts=True):
    s = Series(name, "outage", seed, n, interval, what, unit, decimals)
    rng = s.rng
    noise = ar1(rng, n, 0.8, noise_rel, df=5)
    mult = [1.0] * n
    lengths = [o[0] for o in outages]
    starts = s.slots(lengths)
    for (length, left), start in zip(outages, starts):
        a, b = s.fault(start, length, f"outage: traffic drops to {left * 100:g} % of normal")
        for i in range(a, b + 1):
            mult[i] = left
    vals = []
    for i in range(n):
        m = level * (0.35 + 0.8 * diurnal(s.hour_of_day(i))) * (1.0 + noise[i]) * mult[i]
        vals.append(poisson(rng, max(0.0, m)) if counts else max(0.0, m))
    s.values = vals
    s.benign_hiccups(0.004, lambda i, v: v * rng.uniform(0.6, 0.75), 1)
    if counts:
        s.values = [round(v) for v in s.values]
    return s


# ---------------------------------------------------------------- 13. random_walk


def random_walk(name, seed, n, interval, start, lo, hi, step, decimals, quant, jumps, unit,
                what, kind="random_walk", revert=0.002, df=4, log=False):
    """jumps: list of (size in steps (signed), rows it lasts, persists?)."""
    s = Series(name, kind, seed, n, interval, what, unit, decimals)
    rng = s.rng
    lengths = [j[1] for j in jumps]
    starts = s.slots(lengths) if jumps else []
    kicks = {}
    for (size, length, persists), st in zip(jumps, starts):
        note = "persists (label: its first rows)" if persists else "reverts after"
        a, b = s.fault(st, length, "")
        kicks[a] = (size, b, persists, s.faults[-1], f"{note} {length} rows")
    x, vals, undo = start, [], {}
    mid = start  # mean reversion towards the starting level
    for i in range(n):
        if i in kicks:
            size, b, persists, record, note = kicks[i]
            # a jump that would leave the bounds goes the other way
            target = x * math.exp(size * step) if log else x + size * step
            if not (lo + 0.05 * (hi - lo) < target < hi - 0.05 * (hi - lo)):
                size = -size
            x = x * math.exp(size * step) if log else x + size * step
            record["what"] = f"sudden jump of {size:+g} steps, {note}"
            if not persists:
                undo[b + 1] = size
        if i in undo:
            x = x / math.exp(undo[i] * step) if log else x - undo[i] * step
        e = step * student_t(rng, df)
        if log:
            x *= math.exp(e - revert * (math.log(x) - math.log(mid)))
            x = min(hi, max(lo, x))
        else:
            x += e - revert * (x - mid)
            if x > hi:
                x = 2 * hi - x
            if x < lo:
                x = 2 * lo - x
        vals.append(x)
    s.values = [quantise(v, quant) for v in vals]
    return s


# ---------------------------------------------------------------- noise only


def ar_gauge(name, seed, n, interval, level, sd, decimals, quant, unit, what, clip=None):
    s = Series(name, "noise_only", seed, n, interval, what, unit, decimals)
    rng = s.rng
    noise = ar1(rng, n, 0.92, sd, df=4)
    s.values = [level + 0.6 * sd * math.sin(2 * math.pi * s.hour_of_day(i) / 24.0) + noise[i]
                for i in range(n)]
    s.benign_hiccups(0.006, lambda i, v: v + sd * rng.uniform(2.5, 3.5))
    s.values = [quantise(v, quant) for v in s.values]
    if clip:
        s.values = [min(clip[1], max(clip[0], v)) for v in s.values]
    return s


def noise_only_seasonal(name, seed, n, interval, level, amp, noise_sd, unit, what):
    s = seasonal_daily(name, seed, n, interval, level, amp, noise_sd, 0, 1, 14.0, [], unit, what,
                       floor=0)
    s.kind = "noise_only"
    return s


# ---------------------------------------------------------------- the corpus


def corpus():
    out = []
    A = out.append
    # 1. seasonal_daily
    A(seasonal_daily("web_requests_5m", 101, 2600, MIN5, 400, 900, 28, 0, 1, 15.0,
                     ["spike", "flat_peak", "dip", "phase"], "req/5 min",
                     "web requests per 5 min, daily cycle", floor=0))
    A(seasonal_daily("outdoor_temp_1h", 102, 2400, HOUR, -11.0, 9.0, 0.9, 1, 0.1, 14.5,
                     ["spike", "phase", "dip"], "degC", "outdoor temperature in winter (negative)"))
    A(seasonal_daily("api_rps_1m", 103, 8000, MIN, 30.0, 95.0, 3.2, 1, 0.1, 16.0,
                     ["flat_peak", "phase", "spike"], "req/s",
                     "API requests per second, sampled each minute", floor=0))
    # 2. seasonal_weekly
    A(seasonal_weekly("taxi_demand_1h", 201, 3200, HOUR, 5200, 0.06, 0, ["holiday", "surge", "holiday"],
                      "rides/h", "taxi rides per hour: weekday rush hours, weekend evenings"))
    A(seasonal_weekly("orders_5m", 202, 6048, MIN5, 140, 0.05, 0, ["surge", "holiday", "surge"],
                      "orders/5 min", "exchange orders per 5 min, weekly pattern", counts=True))
    # 3. level_shift_up
    A(level_shift("api_latency_1m", 301, 3000, MIN, 48.0, 0.1, 1, 0.1,
                  [(2.2, 120), (1.7, 200), (2.8, None)], "ms", "order API latency (mean per minute)",
                  kind="level_shift_up"))
    A(level_shift("p99_latency_5m", 302, 2300, MIN5, 210.0, 0.12, 0, 1,
                  [(1.8, 48), (2.5, 30), (1.5, 96)], "ms", "p99 latency per 5 min",
                  kind="level_shift_up", daily=0.2))
    A(level_shift("db_query_1h", 303, 2000, HOUR, 3.4, 0.09, 2, 0.01,
                  [(1.9, 20), (2.6, 9)], "ms", "database query time per hour", kind="level_shift_up"))
    # 4. level_shift_down
    A(level_shift("cpu_util_5m", 401, 2800, MIN5, 64.0, 0.05, 1, 0.1,
                  [(0.45, 36), (0.3, 60), (0.55, 24)], "%", "CPU utilisation of a matcher",
                  kind="level_shift_down", clip=(0.0, 100.0), daily=0.3))
    A(level_shift("throughput_1m", 402, 4000, MIN, 12500.0, 0.04, 0, 1,
                  [(0.5, 90), (0.62, 150), (0.35, 40), (0.55, 240)], "msg/s",
                  "market-data throughput", kind="level_shift_down", daily=0.15))
    # 5. slow_drift
    A(slow_drift("memory_rss_5m", 501, 3000, MIN5, 820000.0, 6000.0, 0, 1,
                 [(300, 12, True), (420, 15, True)], "KiB", "resident memory of a gateway (leaks)",
                 sawtooth=2.0))
    A(slow_drift("sensor_temp_1h", 502, 2200, HOUR, 21.0, 0.25, 2, 0.01,
                 [(240, 10, True), (400, 16, False)], "degC", "room temperature sensor that drifts",
                 daily=1.2))
    A(slow_drift("disk_latency_1m", 503, 2600, MIN, 6.0, 0.45, 2, 0.01,
                 [(180, 9, True), (220, 12, True), (160, 8, True)], "ms",
                 "disk write latency that creeps up"))
    # 6. variance_change
    A(variance_change("book_imbalance_5m", 601, 2500, MIN5, 0.0, 0.09, 3, 0.001,
                      [(4.0, 60), (3.0, 120), (5.0, 30)], "ratio",
                      "order-book imbalance in [-1, 1] (negative and positive)", clip=(-1.0, 1.0)))
    A(variance_change("jitter_1m", 602, 3400, MIN, 12.0, 0.8, 1, 0.1,
                      [(3.5, 200), (4.5, 90)], "ms", "network jitter around a stable mean"))
    # 7. flat_line
    A(flat_line("sensor_humidity_5m", 701, 2400, MIN5, 1, 0.1, [120, 60, 200], "%",
                "humidity sensor that sometimes freezes", level=45.0, amp=8.0, noise_sd=0.8))
    A(flat_line("btc_price_1m", 702, 3600, MIN, 2, 0.01, [45, 90, 30, 120], "USD",
                "BTC price feed that sometimes freezes", walk=67250.0))
    # 8. missing_rows
    A(missing_rows("gateway_latency_1m", 801, 3000, MIN, 75.0, 0.08, 1, 0.1,
                   [("spike", 3, 4.0), ("level shift up", 90, 1.9), ("spike", 2, 5.0)], "ms",
                   "gateway latency with irregular gaps in the feed", 18, (3, 180)))
    A(missing_rows("fills_5m", 802, 2400, MIN5, 900.0, 0.07, 0, 1,
                   [("drop", 24, 0.4), ("spike", 3, 2.6)], "fills/5 min",
                   "order fills per 5 min with collector gaps", 12, (2, 36)))
    A(missing_rows("queue_depth_1h", 803, 2100, HOUR, 320.0, 0.1, 0, 1,
                   [("level shift up", 18, 2.2), ("drop", 10, 0.35), ("spike", 2, 3.5)], "msgs",
                   "hourly queue depth with hours missing", 10, (1, 12)))
    # 9. poisson_counts
    A(poisson_counts("errors_1m", 901, 4200, MIN, 3.0,
                     [("burst", 8, 7.0), ("outage", 60, 0), ("burst", 4, 9.0), ("burst", 15, 5.0)],
                     "errors/min", "5xx errors per minute"))
    A(poisson_counts("logins_5m", 902, 2600, MIN5, 12.0,
                     [("outage", 24, 0), ("burst", 6, 3.5), ("burst", 3, 5.0)],
                     "logins/5 min", "logins per 5 min with a daily rhythm", daily=0.8))
    A(poisson_counts("withdrawal_fail_1h", 903, 2000, HOUR, 2.0,
                     [("burst", 4, 8.0), ("burst", 2, 10.0)],
                     "failures/h", "failed withdrawals per hour"))
    # 10. heavy_tailed_latency
    A(heavy_latency("ws_latency_1m", 1001, 4000, MIN, 38.0, 0.32, 5000.0,
                    [("slow", 60, 3.0), ("timeouts", 12, None), ("slow", 120, 2.0), ("slow", 20, 4.0)],
                    "websocket round-trip latency"))
    A(heavy_latency("rest_latency_5m", 1002, 2600, MIN5, 120.0, 0.28, 10000.0,
                    [("timeouts", 6, None), ("slow", 36, 2.5), ("slow", 12, 3.5)],
                    "REST latency per 5 min"))
    A(heavy_latency("calm_exchange_a_1m", 1003, 3000, MIN, 55.0, 0.35, 5000.0, [],
                    "calm but noisy exchange: no faults", hiccup_rate=0.007))
    A(heavy_latency("calm_exchange_b_5m", 1004, 2200, MIN5, 140.0, 0.3, 10000.0, [],
                    "calm but noisy exchange: no faults", hiccup_rate=0.005))
    # 11. bursty_volume
    A(bursty_volume("mentions_5m", 1101, 3000, MIN5, 60.0, 2.0, 0, [(48, 9.0), (24, 14.0)],
                    "mentions/5 min", "social-media mentions of a coin"))
    A(bursty_volume("trade_volume_usd_1m", 1102, 3000, MIN, 450000.0, 3.0, 0,
                    [(40, 7.0), (90, 5.0), (20, 12.0)], "USD", "traded volume per minute in USD",
                    burst_rate=0.008, scale=100.0))
    # 12. outage
    A(outage("checkout_requests_1m", 1201, 3600, MIN, 800.0, 0.06, 0, [(45, 0.0), (20, 0.02), (110, 0.0)],
             "req/min", "checkout requests per minute"))
    A(outage("trade_count_5m", 1202, 2500, MIN5, 95.0, 0.08, 0, [(30, 0.0), (12, 0.05)],
             "trades/5 min", "trades per 5 min on one venue"))
    # 13. random_walk
    A(random_walk("traffic_speed_5m", 1301, 2800, MIN5, 68.0, 20.0, 110.0, 1.6, 1, 0.1,
                  [(-14, 12, False), (12, 30, False), (-16, 10, True)], "km/h",
                  "traffic speed on a road segment"))
    A(random_walk("btc_spread_1m", 1302, 3000, MIN, 0.0012, 0.0004, 0.02, 0.02, 6, 0.000001,
                  [(40, 15, False), (55, 8, False), (35, 25, False)], "USD",
                  "relative bid-ask spread (about 0.001)", log=True, revert=0.01))
    A(random_walk("funding_basis_1h", 1303, 2200, HOUR, 2.0, -40.0, 40.0, 0.9, 2, 0.01,
                  [(18, 8, False), (-20, 12, False)], "bp",
                  "perpetual funding basis in basis points (negative and positive)"))
    # 14. noise_only
    A(noise_only_seasonal("quiet_web_5m", 1401, 2300, MIN5, 300, 600, 22, "req/5 min",
                          "web requests, daily cycle, no faults"))
    A(ar_gauge("pool_usage_1m", 1402, 2500, MIN, 38.0, 3.0, 1, 0.1, "connections",
               "connection-pool usage, no faults", clip=(0.0, 200.0)))
    A(poisson_counts("quiet_counts_5m", 1403, 2200, MIN5, 6.0, [], "events/5 min",
                     "low counts, no faults", daily=0.5, kind="noise_only"))
    A(random_walk("quiet_walk_1h", 1404, 2000, HOUR, 100.0, 60.0, 140.0, 0.8, 2, 0.01, [], "index",
                  "bounded random walk, no faults", kind="noise_only"))
    return out


# ---------------------------------------------------------------- writing


INTERVAL_NAME = {MIN: "1 min", MIN5: "5 min", HOUR: "1 h"}


def fmt_num(v):
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 10000:
        return f"{v:,.0f}".replace(",", " ")
    if a >= 100:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.1f}"
    return f"{v:.2g}"


def main():
    for old in os.listdir(HERE):
        if old.endswith(".csv"):
            os.remove(os.path.join(HERE, old))
    manifest, kinds = {}, {}
    for s in corpus():
        fname = s.write()
        kinds[fname] = s.kind
        manifest[fname] = {
            "kind": s.kind,
            "what": s.what,
            "unit": s.unit,
            "seed": s.seed,
            "rows": s.n,
            "interval_s": s.interval,
            "min": round(min(s.values), s.decimals),
            "max": round(max(s.values), s.decimals),
            "benign_hiccups": s.hiccups,
            "benign_hiccup_rows": s.hiccup_rows,
            "gaps": s.gap_note,
            "faults": sorted(s.faults, key=lambda f: f["start"]),
        }
    with open(os.path.join(HERE, "kinds.json"), "w") as f:
        json.dump(kinds, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(HERE, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    write_readme(manifest)
    total = sum(os.path.getsize(os.path.join(HERE, k)) for k in manifest)
    print(f"{len(manifest)} files, {len(set(kinds.values()))} kinds, "
          f"{sum(m['rows'] for m in manifest.values())} rows, {total / 1e6:.2f} MB")


def write_readme(manifest):
    by_kind = {}
    for fname, m in manifest.items():
        by_kind.setdefault(m["kind"], []).append(fname)
    total = sum(os.path.getsize(os.path.join(HERE, k)) for k in manifest)
    lines = [
        "# Synthetic labelled anomaly corpus",
        "",
        "**Every series here is synthetic**: made by the seeded generators in `generate.py` in this",
        "repository (Python 3.11 standard library only). No public data set (NAB, Yahoo S5, UCR or",
        "any other) was downloaded, copied or looked at to make it.",
        "",
        "Regenerate (deterministic, fixed seeds; the output is byte-for-byte the same):",
        "",
        "    python3 tests/data/corpus/generate.py",
        "",
        "Score detectors on it (after `cargo build --release`):",
        "",
        "    python3 tests/data/evaluate_corpus.py [--detector all zscore iqr rolling_mean]",
        "        [--extra-args '--unit any --direction both'] [--json figures.json]",
        "",
        "It replays every file through `exwatch replay` and prints Markdown tables (overall and per",
        "kind): NAB scores for the three profiles with their corpus-wide thresholds, events",
        "detected, false alarms per series-day (at warning and above, and at critical) and the",
        "pooled ROC AUC of `anomaly_score`. The NAB scorer is `tests/data/nab_score.py`",
        "(unit tests: `python3 -m unittest discover -s tests/data -p 'test_nab*.py'`).",
        "",
        "## Scoring: NAB, with one deviation",
        "",
        "`nab_score.py` follows numenta/NAB's scoring code (`nab/labeler.py` windows,",
        "`nab/sweeper.py` weights and threshold sweep, `nab/optimizer.py` one threshold per",
        "profile for the whole corpus, `config/profiles.json` cost matrices, `nab/runner.py`",
        "normalisation): an event is a maximal run of rows labelled 1 and its anomaly is its first",
        "row; the window is `int(0.10 * rows / events)` rows centred on it (clipped; the first",
        "window is dropped if it starts in the probationary period; overlapping windows merge);",
        "the first `min(floor(0.15 * rows), 750)` rows are not scored; detections are rows whose",
        "`anomaly_score` is at least the threshold; only the earliest detection in a window counts",
        "(scaled sigmoid of its position), every detection outside windows costs the FP weight",
        "times the scaled sigmoid of its distance past the previous window (the full weight before",
        "the first window), a missed window costs the FN weight; the score is",
        "`100 * (raw - null) / (perfect - null)`.",
        "",
        "**Our one deviation**: NAB's labels are single timestamps, ours mark whole faults, so each",
        "window's end is extended to at least its event's last labelled row (otherwise a detector",
        "that keeps flagging a 6-hour outage after NAB's short window would pay for every row as a",
        "false positive). `--no-extend` on `nab_score.py` and `evaluate_corpus.py` scores with NAB's",
        "windows exactly. No fault of this corpus starts close enough to the probationary period",
        "for its window to be dropped, and no two windows overlap.",
        "",
        "## Format",
        "",
        "- `<kind>__<name>.csv`, header `timestamp,value,label`; RFC 3339 UTC timestamps",
        "  (`2026-01-05T00:05:00Z`); `label` is 1 on every row of an injected fault, else 0.",
        "- `kinds.json`: file -> kind. `manifest.json`: per file the kind, seed, rows, interval,",
        "  value range, number of benign hiccups and every fault (first and last row, 0-based data",
        "  rows, i.e. line number - 2).",
        "- Faults: 1-6 per faulty series, all starting after 22 % of the file (never in NAB's",
        "  15 % probationary period, nor close enough that a NAB window reaches into it), spread",
        "  out so that the NAB windows of neighbouring faults do not touch.",
        "- Benign noise is not labelled: AR(1) autocorrelation, Student-t / lognormal / Pareto tails,",
        "  quantisation, short hiccups (Pareto spikes, brief bumps or dips, repeated readings; the",
        "  `hiccups` column counts them and, in brackets, their rows), self-exciting benign bursts",
        "  in the bursty volumes (counted as hiccups, decaying over a few rows), and in",
        "  `missing_rows` the timestamp gaps themselves.",
        "- Values of very different scales (about 0.001 for the spread, about 1e6 for memory in KiB",
        "  and traded USD) and negative values (winter temperature, order-book imbalance, funding",
        "  basis) are included; precision is a few significant digits per series.",
        "",
        f"{len(manifest)} series, {len(by_kind)} kinds, "
        f"{sum(m['rows'] for m in manifest.values())} rows, {total / 1e6:.2f} MB.",
        "",
        "| kind | series | rows | intervals | faults | series without faults |",
        "|---|---|---|---|---|---|",
    ]
    for kind in sorted(by_kind):
        ms = [manifest[f] for f in by_kind[kind]]
        ivs = ", ".join(INTERVAL_NAME[i] for i in sorted({m["interval_s"] for m in ms}))
        lines.append(f"| {kind} | {len(ms)} | {sum(m['rows'] for m in ms)} | {ivs} | "
                     f"{sum(len(m['faults']) for m in ms)} | {sum(1 for m in ms if not m['faults'])} |")
    lines += [
        "",
        "## Files",
        "",
        "| file | kind | rows | interval | values (min .. max) | hiccups (rows) | faults: rows (what) |",
        "|---|---|---|---|---|---|---|",
    ]
    for fname in sorted(manifest):
        m = manifest[fname]
        faults = "; ".join(f"{f['start']}-{f['end']} ({f['what']})" for f in m["faults"]) or "none"
        extra = f" {m['gaps']} (not labelled)" if m["gaps"] else ""
        lines.append(
            f"| `{fname}` | {m['kind']} | {m['rows']} | {INTERVAL_NAME[m['interval_s']]}{extra} | "
            f"{fmt_num(m['min'])} .. {fmt_num(m['max'])} {m['unit']}: {m['what']} | "
            f"{m['benign_hiccups']} ({m['benign_hiccup_rows']}) | {faults} |")
    lines.append("")
    with open(os.path.join(HERE, "README.md"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
