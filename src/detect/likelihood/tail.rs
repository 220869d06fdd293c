//! The long-run distribution of a series' surprise, and the tail probability of a new one
//! against it: how often *this* series produces a surprise this large.
//!
//! Surprises (`s = −log10 p`) land in a histogram of fixed bins whose old mass decays with a
//! half-life of `history` rows (the weight of a new row grows instead, rescaled now and then),
//! so the distribution follows the series over its learned history, not over minutes.
//!
//! Up to the distribution's 99th percentile the tail probability is the share of the mass at
//! or above `s`. Beyond it, the tail is exponential with the slope of the bulk's own tail
//! (from the 90th to the 99th percentile): `P(S ≥ s) = 0.01 · exp(−(s − s99) / τ)` with
//! `τ = (s99 − s90) / ln 10`, the peaks-over-threshold idea of Siffer et al., "Anomaly
//! Detection in Streams with Extreme Value Theory" (KDD 2017), fitted where the data are dense.
//! So a series whose noise is heavy-tailed (benign hiccups on 1 % of rows) learns that large
//! surprises are ordinary, while a handful of extreme rows — the anomalies themselves — do not
//! make the next one look ordinary. History can only discount a surprise, never sharpen it:
//! the answer is never below the null's `10^−s` (what the surprise claims by itself). A prior
//! (pseudo-rows with a tail heavier than the null's) steadies the first rows of a series and
//! fades as its own rows come in. An update is O(1) (a binary search for the bin; the
//! percentiles are refreshed every 16 rows by one scan of the bins, and on a young
//! distribution's first 256 rows before each read that follows an add: a view whose surprise is
//! 0, as most rows' drift is, is not read), and so is a query (a row beyond the learned tail's
//! last knot sums the bins above its own).

use super::bins::Bins;

/// Bins per histogram, evenly spaced in `ln(1 + s)` from 0 to [`MAX_SURPRISE`]: fine where
/// surprises are common, coarse where only their order matters.
pub const BINS: usize = 64;

/// The largest surprise a bin resolves.
pub const MAX_SURPRISE: f64 = 300.0;

/// Width of a bin in `ln(1 + s)`.
const BIN_WIDTH: f64 = 0.089_173_597_886_701_18; // ln(301) / 64

/// What a pseudo-row of the prior keeps of its weight per row: `2^(−1/200)`, a half-life of
/// 200 rows (the prior only steadies a young series).
const PRIOR_FADE: f64 = 0.996_540_262_827_867_8;

/// Rows' worth of mass beyond the fitted tail that [`SurpriseTail::at_least`] ignores as
/// one-off extremes.
const ONCE_ROWS: f64 = 2.0;

/// Adds during which the distribution is refreshed on every add (it moves fast while young).
const YOUNG_ADDS: u16 = 4 * BINS as u16;

/// Rows between refreshes of the cached quantiles (each refresh scans the bins).
const REFRESH_EVERY: u8 = 16;

/// Knots of the learned tail: 0, the median, the 90th percentile, and the two deepest
/// reliably counted points.
const KNOTS: usize = 5;

/// A tail probability is counted (not extrapolated) where at least this many rows' worth of
/// mass lies at or above it.
const RELIABLE_ROWS: f64 = 10.0;

/// The lower edge of each bin, `exp(b · BIN_WIDTH) − 1`.
fn bin_edges() -> &'static [f64; BINS] {
    static EDGES: std::sync::LazyLock<[f64; BINS]> =
        std::sync::LazyLock::new(|| std::array::from_fn(|b| (b as f64 * BIN_WIDTH).exp_m1()));
    &EDGES
}

/// `10^−s`, by `exp` (cheaper than `powf`).
fn null_tail(s: f64) -> f64 {
    (-s * std::f64::consts::LN_10).exp()
}

/// The prior's `P(S ≥ s)`: `1 / (1 + s)²`, far heavier-tailed than the null's `10^−s`, since
/// few real series are as calm as their own windows suggest; the series' own rows replace it.
fn prior_tail(s: f64) -> f64 {
    if s.is_infinite() {
        0.0
    } else {
        (1.0 + s).powi(-2).min(null_tail(s / 4.0))
    }
}

/// A decaying histogram of surprises. See the module docs.
#[derive(Debug, Clone)]
pub struct SurpriseTail {
    /// The mass of each bin, kept for the bins that received a row (see `bins.rs`).
    bins: Bins,
    /// The weight the next row adds (grows by `growth` per row).
    weight: f32,
    growth: f32,
    /// Sum of the bins.
    total: f64,
    /// The knots of the tail as of the last refresh after the first, which is always (0, 0)
    /// ([`SurpriseTail::all_knots`]): `(s, ln P(S ≥ s))` up to the largest surprise that at
    /// least [`RELIABLE_ROWS`] rows' worth of mass reached.
    knots: [(f32, f32); KNOTS - 1],
    /// The exponential scale of the tail beyond the last knot.
    tau: f32,
    /// Adds since the last refresh (at most [`REFRESH_EVERY`]).
    stale: u8,
    /// A young add is not refreshed yet: the knots are refreshed when next read (or before
    /// the first add past youth), as they were after each young add; a view most rows leave
    /// at zero surprise is then not refreshed on every row while young.
    dirty: bool,
    /// Adds so far (saturating): a young distribution is refreshed on every add. With the
    /// narrow counters and sparse bins, a tail is 96 B, four of them (a latency series') an
    /// allocator size class of 384 B; with a dense array of bins they took 1 280 B.
    adds: u16,
    /// Pseudo-rows of the prior, in current rows; they fade much faster than the series' own
    /// rows ([`PRIOR_FADE`]).
    prior: f64,
}

impl SurpriseTail {
    /// A histogram forgetting with a half-life of `history` rows, seeded with `prior`
    /// pseudo-rows (none when 0).
    pub fn new(history: usize, prior: f64) -> Self {
        let mut t = Self {
            bins: Bins::default(),
            weight: 1.0,
            growth: 2f64.powf(1.0 / history.max(1) as f64) as f32,
            total: 0.0,
            knots: [(0.0, 0.0); KNOTS - 1],
            tau: 1.0,
            stale: 0,
            dirty: false,
            adds: 0,
            prior: prior.max(0.0),
        };
        t.refresh();
        t
    }

    fn bin_of(&self, s: f64) -> usize {
        if s.is_nan() || s <= 0.0 {
            // Most rows surprise nobody.
            return 0;
        }
        // The last bin whose lower edge is at or below `s`: a branch-free binary search of
        // the edges, cheaper than a logarithm per row.
        let edges = bin_edges();
        let mut b = 0;
        let mut step = BINS / 2;
        while step > 0 {
            if edges[b + step] <= s {
                b += step;
            }
            step /= 2;
        }
        b
    }

    /// Counts surprise `s` with relative weight `w` (1 for an ordinary row).
    pub fn add(&mut self, s: f64, w: f64) {
        if self.dirty && self.adds.saturating_add(1) >= YOUNG_ADDS {
            // The last young add's knots, which the adds past youth keep until their refresh.
            self.refresh();
        }
        let mass = self.weight * w as f32;
        let b = self.bin_of(s);
        self.bins.add(b, mass);
        self.total += f64::from(mass);
        self.weight *= self.growth;
        if self.weight > 1e18 {
            // Rescale everything so that the next weight is 1 again: same distribution.
            let k = 1.0 / self.weight;
            self.bins.scale(k);
            self.total *= f64::from(k);
            self.weight = 1.0;
        }
        // Faded to nothing, the prior is dropped before it turns subnormal (slow to multiply).
        self.prior = if self.prior > 1e-30 {
            self.prior * PRIOR_FADE
        } else {
            0.0
        };
        self.stale += 1;
        // Every row while the distribution is young (when next read), then every few rows.
        self.adds = self.adds.saturating_add(1);
        if self.adds < YOUNG_ADDS {
            self.stale = 0;
            self.dirty = true;
        } else if self.stale >= REFRESH_EVERY {
            self.refresh();
        }
    }

    /// Refreshes the knots if a young add left them behind.
    fn freshen(&mut self) {
        if self.dirty {
            self.refresh();
        }
    }

    /// A surprise below this is ordinary: [`SurpriseTail::at_least`] is at least 1/4 for
    /// it, so a caller that only needs to know whether a probability is small can skip the
    /// exact answer.
    pub fn ordinary(&mut self) -> f64 {
        self.freshen();
        // Below the median knot the learned tail is at least 1/2, and below 1 the prior's is
        // at least 1/4 (and the null's more): so is any mix of them.
        f64::from(self.knots[0].0.min(1.0))
    }

    /// The knots `(s, P(S ≥ s))` and the tail scale beyond them (for diagnostics).
    pub fn knots(&mut self) -> ([(f32, f32); KNOTS], f32) {
        self.freshen();
        (self.all_knots().map(|(s, l)| (s, l.exp())), self.tau)
    }

    /// Every knot, (0, 0) first.
    fn all_knots(&self) -> [(f32, f32); KNOTS] {
        let mut all = [(0.0, 0.0); KNOTS];
        all[1..].copy_from_slice(&self.knots);
        all
    }

    /// The mass counted so far, in current rows (a row added now counts 1).
    pub fn mass(&self) -> f64 {
        self.total / f64::from(self.weight)
    }

    /// The surprise above which `share` of the mass lies (interpolated within its bin), from
    /// `above` (the share of the mass in the bins above each bin): a binary search over the
    /// bins.
    fn upper_quantile(&self, bins: &[f32; BINS], above: &[f32; BINS], share: f64) -> f64 {
        let at_or_above = |b: usize| f64::from(above[b]) + f64::from(bins[b]) / self.total;
        // The highest bin with at least `share` of the mass at or above it.
        let (mut lo, mut hi) = (0, BINS);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if at_or_above(mid) >= share {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let b = lo;
        if b == 0 {
            return 0.0;
        }
        let b = b - 1;
        let bin = f64::from(bins[b]) / self.total;
        if bin <= 0.0 {
            return ((b as f64 + 1.0) * BIN_WIDTH).exp_m1();
        }
        // Inside bin b: the part of it above the quantile makes up the rest.
        let frac = ((share - f64::from(above[b])) / bin).clamp(0.0, 1.0);
        ((b as f64 + 1.0 - frac) * BIN_WIDTH).exp_m1()
    }

    /// Bytes on the heap: the bins that spilled out of the tail, if any.
    pub fn heap_bytes(&self) -> usize {
        self.bins.heap_bytes()
    }

    /// Recomputes the knots and the tail scale: a few scans of the bins.
    fn refresh(&mut self) {
        self.stale = 0;
        self.dirty = false;
        if self.total <= 0.0 {
            return;
        }
        // The deepest share still counted reliably, and three times that: the tail's local
        // slope there is its slope beyond.
        // (A young distribution counts reliably only down to a large share: its knots then
        // coincide, and the fit starts there.)
        // The shares above each bin live only as long as the refresh: a series keeps its
        // bins, not a second table of their sums (a quarter KB per tail, four tails a series).
        let bins = self.bins.dense();
        let mut above = [0.0f32; BINS];
        let mut sum = 0.0;
        let per_total = 1.0 / self.total;
        for b in (0..BINS).rev() {
            above[b] = (sum * per_total) as f32;
            sum += f64::from(bins[b]);
        }
        let deep = (RELIABLE_ROWS / self.mass().max(1.0)).clamp(1e-6, 0.5);
        let shares = [0.5, 0.1, 3.0 * deep, deep];
        let mut knots = [(0.0f32, 0.0f32); KNOTS];
        let mut last = 0.0f64;
        let mut prev_share = 1.0f64;
        for (k, share) in shares.into_iter().enumerate() {
            let share = share.max(deep).min(prev_share);
            prev_share = share;
            let s = self.upper_quantile(&bins, &above, share).max(last);
            knots[k + 1] = (s as f32, share.ln() as f32);
            last = s;
        }
        // The tail's slope from the two deepest knots, and from the deepest to the median of
        // the rows beyond it (where a sparse tail of benign hiccups shows when the bulk sits
        // in the first bin); the heavier of the two, and never thinner than the null's tail
        // (tenfold per unit of surprise). The median ignores the few most extreme rows.
        let (a, b) = (knots[KNOTS - 2], knots[KNOTS - 1]);
        let beyond = self.upper_quantile(&bins, &above, 0.5 * deep).max(last);
        let drop = f64::from(a.1 - b.1);
        let near = if drop > 0.0 {
            f64::from(b.0 - a.0) / drop
        } else {
            0.0
        };
        let far = (beyond - f64::from(b.0)) / std::f64::consts::LN_2;
        let null = 1.0 / std::f64::consts::LN_10;
        self.tau = near.max(far).max(null) as f32;
        self.knots.copy_from_slice(&knots[1..]);
    }

    /// `P(S ≥ s)` under the long-run distribution mixed with the fading prior, and never
    /// below the null's `10^−s`; 1 when nothing was counted.
    pub fn at_least(&mut self, s: f64) -> f64 {
        if s.is_nan() || s <= 0.0 {
            // Every surprise is at least 0 (the common case, answered without a look).
            return 1.0;
        }
        self.freshen();
        let rows = self.mass();
        let learned = if rows > 0.0 { self.learned(s) } else { 1.0 };
        // A prior faded to nothing costs no `powf`.
        let prior = if self.prior > 1e-9 * rows {
            self.prior * prior_tail(s)
        } else {
            0.0
        };
        let mixed = (prior + rows * learned) / (self.prior + rows).max(1e-300);
        mixed.max(null_tail(s)).min(1.0)
    }

    /// The share of the mass in the bins above bin `b`, as the bins are now: summed on demand,
    /// since only a row beyond the learned tail's last knot asks (a rare row once the series
    /// has a history).
    fn share_above(&self, b: usize) -> f64 {
        self.bins.sum_above(b) / self.total
    }

    /// The learned part of [`SurpriseTail::at_least`]: log-linear between the knots,
    /// exponential beyond the last.
    fn learned(&self, s: f64) -> f64 {
        if self.total <= 0.0 {
            return 1.0;
        }
        let (last_s, last_l) = self.knots[KNOTS - 2];
        if s >= f64::from(last_s) {
            let fitted = (f64::from(last_l) - (s - f64::from(last_s)) / f64::from(self.tau)).exp();
            // Rows counted beyond the fit still count, less the few most extreme: a surprise
            // this series has produced a few times is no longer extraordinary, one it produced
            // once still is.
            let rows = self.mass();
            let counted = self.share_above(self.bin_of(s)) * rows - ONCE_ROWS;
            return fitted.max(counted / rows);
        }
        for pair in self.all_knots().windows(2) {
            let ((a, la), (b, lb)) = (pair[0], pair[1]);
            let (a, b, la, lb) = (f64::from(a), f64::from(b), f64::from(la), f64::from(lb));
            if s < b {
                if b <= a {
                    return lb.exp();
                }
                return (la + (lb - la) * (s - a) / (b - a)).exp();
            }
        }
        f64::from(last_l).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Young adds refresh the knots when next read: a tail read after every add and one read
    /// now and then answer alike wherever both are read, across the end of youth too (where
    /// the knots of the last young add must last until the next refresh).
    #[test]
    fn knots_are_the_same_however_often_they_are_read() {
        let mut rng = fastrand::Rng::with_seed(17);
        let mut every = SurpriseTail::new(300, 100.0);
        let mut seldom = every.clone();
        for i in 0..usize::from(YOUNG_ADDS) + 100 {
            let s = if rng.u8(0..10) == 0 {
                rng.f64() * 12.0
            } else {
                rng.f64() * 0.8
            };
            every.add(s, 1.0);
            seldom.add(s, 1.0);
            let probe = 0.5 + rng.f64() * 6.0;
            let answer = (every.ordinary(), every.at_least(probe), every.knots());
            if i % 37 == 0 || i == 257 || i == 262 {
                assert_eq!(
                    (seldom.ordinary(), seldom.at_least(probe), seldom.knots()),
                    answer,
                    "add {i}"
                );
            }
        }
    }

    #[test]
    fn a_tail_is_96_bytes() {
        // Four make a latency series' 384 B allocation (mimalloc's size class) while their
        // bins stay inline.
        assert_eq!(std::mem::size_of::<SurpriseTail>(), 96);
    }

    #[test]
    fn the_prior_is_heavy_tailed_and_data_overrides_it() {
        let mut t = SurpriseTail::new(1000, 100.0);
        // P(S ≥ 2) = 1/9 under the prior, P(S ≥ 12) = 10^−3 (its far tail is 10^(−s/4)).
        assert!(
            (t.at_least(2.0) - 1.0 / 9.0).abs() < 0.01,
            "{}",
            t.at_least(2.0)
        );
        assert!(
            (t.at_least(12.0) - 1e-3).abs() < 1e-4,
            "{}",
            t.at_least(12.0)
        );
        // A series whose surprises are often 3: 3 becomes ordinary.
        for i in 0..2000 {
            t.add(if i % 4 == 0 { 3.0 } else { 0.2 }, 1.0);
        }
        assert!(t.at_least(3.0) > 0.1, "{}", t.at_least(3.0));
        assert!(t.at_least(8.0) < t.at_least(4.0));
        assert!(t.at_least(0.0) > 0.99);
    }

    #[test]
    fn old_mass_fades_with_the_half_life() {
        let mut t = SurpriseTail::new(100, 0.0);
        for _ in 0..1000 {
            t.add(5.0, 1.0);
        }
        for _ in 0..1000 {
            t.add(0.1, 1.0);
        }
        // 1000 rows = ten half-lives later, the 5s weigh about 0.1 %.
        assert!(t.at_least(4.0) < 0.01, "{}", t.at_least(4.0));
        assert!((t.mass() - 144.0).abs() < 5.0, "{}", t.mass());
    }

    #[test]
    fn tail_probabilities_fall_with_the_surprise() {
        let mut t = SurpriseTail::new(10_000, 50.0);
        let mut rng = fastrand::Rng::with_seed(9);
        for _ in 0..5000 {
            t.add(-(rng.f64().max(1e-12)).log10(), 1.0);
        }
        let mut last = 1.0;
        for k in 0..40 {
            let p = t.at_least(f64::from(k) * 0.5);
            assert!(p <= last + 1e-12, "not monotone at {k}: {p} > {last}");
            last = p;
        }
        // Calibrated data stays calibrated: P(S ≥ 2) ≈ 0.01.
        assert!(
            (t.at_least(2.0) / 0.01 - 1.0).abs() < 0.5,
            "{}",
            t.at_least(2.0)
        );
    }

    #[test]
    fn a_benign_hiccup_on_one_row_in_a_hundred_is_learned_but_a_rare_extreme_is_not() {
        let mut t = SurpriseTail::new(5000, 100.0);
        for i in 0..10_000 {
            let s = match i {
                _ if i % 100 == 0 => 6.0,
                4321 => 14.0,
                _ => 0.1,
            };
            t.add(s, 1.0);
        }
        assert!(
            t.at_least(6.0) > 1e-3,
            "{} {:?}",
            t.at_least(6.0),
            t.knots()
        );
        assert!(t.at_least(14.0) < 1e-5, "{}", t.at_least(14.0));
    }
}
