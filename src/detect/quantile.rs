//! Quantiles of a sliding window of latencies in O(log B) per operation, with no allocation
//! after `new`: a Fenwick tree (binary indexed tree) of counts over fixed latency buckets.
//!
//! The buckets are linear below 1 ms (0.01 ms wide) and then grow by 1 % each up to ten minutes,
//! 1 438 buckets in all. A quantile is reported as its bucket's representative value: the middle
//! of a linear bucket, the geometric middle of a growing one. So a reported quantile is within
//! **0.5 % relative** (√1.01 − 1) of the exact order statistic from 1 ms up, and within
//! **0.005 ms absolute** below 1 ms. Values outside 0 ms ..= 10 min are clamped into range.

use std::sync::LazyLock;

/// Width of the linear buckets below 1 ms.
const LINEAR_STEP_MS: f64 = 0.01;
/// Linear buckets covering 0 ..< 1 ms.
const LINEAR_BUCKETS: usize = 100;
/// `ln(1.01)`: each bucket from 1 ms up is 1 % wider than the one before it. Written out
/// because `ln` is not a `const fn` (checked by a test).
const LN_GROWTH: f64 = 0.009_950_330_853_168_083;
/// Growing buckets: `1.01^k ..< 1.01^(k+1)` ms for k in 0..=1337, the last one holding 10 min.
const LOG_BUCKETS: usize = 1_338;
/// All buckets.
pub const BUCKETS: usize = LINEAR_BUCKETS + LOG_BUCKETS;
/// The largest latency the sketch tells apart: ten minutes. Larger values count as this.
pub const MAX_MS: f64 = 600_000.0;

/// Clamps a latency into the range the sketch covers: negative values (and −∞) become 0,
/// values above [`MAX_MS`] (and +∞) become [`MAX_MS`]. NaN stays NaN: callers drop it.
pub fn clamp_ms(value_ms: f64) -> f64 {
    value_ms.clamp(0.0, MAX_MS)
}

/// The bucket that holds `value_ms` (clamped into range; NaN counts as 0).
#[inline]
pub fn bucket_of(value_ms: f64) -> u16 {
    let v = clamp_ms(value_ms);
    let b = if v.is_nan() || v < 1.0 {
        // `as` saturates: NaN becomes 0.
        (v / LINEAR_STEP_MS) as usize
    } else {
        LINEAR_BUCKETS + log_bucket(v)
    };
    b.min(BUCKETS - 1) as u16
}

/// `(v.ln() / LN_GROWTH) as usize` for `v` in `1 ..= MAX_MS`, the growing bucket's index,
/// mostly without the logarithm (a libm call, a division and a saturating conversion on the
/// per-sample path): the value's top bits pick a candidate bucket, and a value well inside that
/// bucket or the next ([`LogTable::inside`]) is in it for certain. A value within a millionth
/// of a percent of an edge goes the old way, so every answer is the logarithm's.
fn log_bucket(v: f64) -> usize {
    let table = &*LOG_TABLE;
    let segment = (v.to_bits() >> SEGMENT_SHIFT).wrapping_sub(FIRST_SEGMENT) as usize;
    if let Some(&k) = table.hint.get(segment) {
        let k = k as usize;
        for k in [k, k + 1] {
            if let Some(&(low, high)) = table.inside.get(k)
                && low <= v
                && v < high
            {
                return k;
            }
        }
    }
    (v.ln() / LN_GROWTH) as usize
}

/// Mantissa bits that, with the exponent, name a segment: 2⁷ segments an octave, each at most
/// 0.79 % wide, narrower than a growing bucket (1 %), so a segment meets at most two buckets.
const SEGMENT_BITS: u32 = 7;
/// The shift that leaves a positive double's exponent and top [`SEGMENT_BITS`] mantissa bits.
const SEGMENT_SHIFT: u32 = 52 - SEGMENT_BITS;
/// The segment of 1.0 (biased exponent 1023, mantissa 0): segment 0.
const FIRST_SEGMENT: u64 = 1023 << SEGMENT_BITS;
/// Segments from 1 ms up to 2²⁰ ms, above [`MAX_MS`].
const SEGMENTS: usize = 20 << SEGMENT_BITS;
/// How far inside a bucket's edges a value must be for [`log_bucket`] to skip the logarithm:
/// 10⁻⁹ relative, 10⁻⁷ of a bucket, against rounding errors of the edges, the logarithm and
/// the division below 10⁻¹² of a bucket.
const EDGE_MARGIN: f64 = 1e-9;

/// The tables behind [`log_bucket`].
struct LogTable {
    /// The growing bucket of each segment's lower end.
    hint: [u16; SEGMENTS],
    /// For each growing bucket `k`, the values `low ..< high` that are in it for certain: its
    /// edges `1.01^k` and `1.01^(k+1)` (as `exp(k · LN_GROWTH)`), moved [`EDGE_MARGIN`] inwards.
    inside: [(f64, f64); LOG_BUCKETS],
}

/// Computed once, like [`REPRESENTATIVES`].
static LOG_TABLE: LazyLock<LogTable> = LazyLock::new(|| {
    let edge = |k: usize| (k as f64 * LN_GROWTH).exp();
    LogTable {
        hint: std::array::from_fn(|segment| {
            let low = f64::from_bits((segment as u64 + FIRST_SEGMENT) << SEGMENT_SHIFT);
            ((low.ln() / LN_GROWTH) as usize).min(LOG_BUCKETS - 1) as u16
        }),
        inside: std::array::from_fn(|k| {
            (
                edge(k) * (1.0 + EDGE_MARGIN),
                edge(k + 1) * (1.0 - EDGE_MARGIN),
            )
        }),
    }
});

/// The value reported for a bucket: its middle (linear) or geometric middle (growing).
pub fn representative(bucket: u16) -> f64 {
    REPRESENTATIVES[(bucket as usize).min(BUCKETS - 1)]
}

/// Every bucket's representative, computed once: a quantile query is on the per-sample path,
/// and a table look-up is cheaper than an `exp`.
static REPRESENTATIVES: LazyLock<[f64; BUCKETS]> = LazyLock::new(|| {
    std::array::from_fn(|b| {
        if b < LINEAR_BUCKETS {
            (b as f64 + 0.5) * LINEAR_STEP_MS
        } else {
            (((b - LINEAR_BUCKETS) as f64 + 0.5) * LN_GROWTH).exp()
        }
    })
});

/// A multiset of latencies, bucketed, that answers rank queries in O(log B).
///
/// Callers that evict values keep each value's bucket ([`bucket_of`]) next to it and remove by
/// bucket, so a removal costs no logarithm.
#[derive(Debug, Clone)]
pub struct QuantileSketch {
    /// Fenwick tree: `tree[i - 1]` counts the buckets `i - lowbit(i) ..< i`. A fixed-size
    /// array, so that the per-sample walks need no bounds checks.
    tree: Box<[u32; BUCKETS]>,
    count: u32,
}

impl Default for QuantileSketch {
    fn default() -> Self {
        Self::new()
    }
}

impl QuantileSketch {
    /// An empty sketch (allocates its 1 438 counters once).
    pub fn new() -> Self {
        Self {
            tree: Box::new([0; BUCKETS]),
            count: 0,
        }
    }

    /// Adds one value of bucket `bucket`.
    pub fn insert_bucket(&mut self, bucket: u16) {
        let mut i = bucket as usize + 1;
        while i <= BUCKETS {
            self.tree[i - 1] += 1;
            i += i & i.wrapping_neg();
        }
        self.count += 1;
    }

    /// Removes one value of bucket `bucket`, which must have been inserted.
    pub fn remove_bucket(&mut self, bucket: u16) {
        debug_assert!(self.count > 0, "remove from an empty sketch");
        let mut i = bucket as usize + 1;
        while i <= BUCKETS {
            self.tree[i - 1] -= 1;
            i += i & i.wrapping_neg();
        }
        self.count -= 1;
    }

    /// Moves one value from bucket `from` (where it must have been inserted) to bucket `to`:
    /// the same counts as [`QuantileSketch::remove_bucket`] then
    /// [`QuantileSketch::insert_bucket`], in fewer steps. The two update paths up the tree
    /// join at the first node covering both buckets, and from there the −1 and +1 cancel, so
    /// the walk stops there: about log₂ of the buckets' distance steps, not 2·log₂ B.
    pub fn move_bucket(&mut self, from: u16, to: u16) {
        let (mut out, mut into) = (from as usize + 1, to as usize + 1);
        // Always advance the lower of the two; both paths only climb.
        while out != into && out.min(into) <= BUCKETS {
            if out < into {
                self.tree[out - 1] -= 1;
                out += out & out.wrapping_neg();
            } else {
                self.tree[into - 1] += 1;
                into += into & into.wrapping_neg();
            }
        }
    }

    /// Adds one value.
    pub fn insert(&mut self, value_ms: f64) {
        self.insert_bucket(bucket_of(value_ms));
    }

    /// Removes one value that was inserted before.
    pub fn remove(&mut self, value_ms: f64) {
        self.remove_bucket(bucket_of(value_ms));
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.tree.fill(0);
        self.count = 0;
    }

    /// Values held in buckets below `bucket`, in O(log B).
    pub fn count_below(&self, bucket: u16) -> usize {
        let mut i = (bucket as usize).min(BUCKETS);
        let mut n = 0;
        while i > 0 {
            n += self.tree[i - 1];
            i &= i - 1;
        }
        n as usize
    }

    /// The `q`-quantile (0..=1) by nearest rank: the value of rank `⌈q·n⌉` (at least 1) in
    /// ascending order, as its bucket's representative. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u32).clamp(1, self.count);
        Some(representative(self.bucket_of_rank(rank)))
    }

    /// The bucket of the `q`-quantile (0..=1) by nearest rank, for callers that map buckets
    /// to values themselves ([`crate::detect::scale`]). `None` when empty.
    pub fn quantile_bucket(&self, q: f64) -> Option<u16> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u32).clamp(1, self.count);
        Some(self.bucket_of_rank(rank))
    }

    /// The bucket of the value of 1-based `rank` (1 ..= len), by binary lifting down the tree:
    /// the largest prefix of buckets holding fewer than `rank` values ends just before it.
    pub fn bucket_of_rank(&self, rank: u32) -> u16 {
        let mut pos = 0;
        let mut remaining = rank;
        let mut step = 1 << (usize::BITS - 1 - BUCKETS.leading_zeros());
        while step > 0 {
            let next = pos + step;
            if next <= BUCKETS && self.tree[next - 1] < remaining {
                pos = next;
                remaining -= self.tree[next - 1];
            }
            step >>= 1;
        }
        pos.min(BUCKETS - 1) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest-rank quantile of `sorted`, as the sketch defines it.
    fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn move_bucket_equals_remove_then_insert() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut moved = QuantileSketch::new();
        let mut plain = QuantileSketch::new();
        let mut held: Vec<u16> = (0..200).map(|_| rng.u16(0..BUCKETS as u16)).collect();
        for &b in &held {
            moved.insert_bucket(b);
            plain.insert_bucket(b);
        }
        for step in 0..20_000 {
            let slot = rng.usize(0..held.len());
            // Near moves (what a sliding window mostly does), far ones and the edges.
            let to = match step % 4 {
                0 => held[slot]
                    .saturating_add(rng.u16(0..8))
                    .min(BUCKETS as u16 - 1),
                1 => rng.u16(0..BUCKETS as u16),
                2 => [0, BUCKETS as u16 - 1][rng.usize(0..2)],
                _ => held[slot],
            };
            moved.move_bucket(held[slot], to);
            plain.remove_bucket(held[slot]);
            plain.insert_bucket(to);
            held[slot] = to;
            assert_eq!(moved.tree, plain.tree, "step {step}");
        }
        assert_eq!(moved.len(), plain.len());
    }

    #[test]
    fn constants_are_consistent() {
        assert!((LN_GROWTH - 1.01f64.ln()).abs() < 1e-16);
        assert_eq!(bucket_of(MAX_MS) as usize, BUCKETS - 1);
        assert!(bucket_of(MAX_MS / 1.01) < bucket_of(MAX_MS));
        const { assert!(BUCKETS <= 2048) };
    }

    /// The bucket as computed before the look-up tables: always by the logarithm.
    fn bucket_by_ln(value_ms: f64) -> u16 {
        let v = clamp_ms(value_ms);
        let b = if v.is_nan() || v < 1.0 {
            (v / LINEAR_STEP_MS) as usize
        } else {
            LINEAR_BUCKETS + (v.ln() / LN_GROWTH) as usize
        };
        b.min(BUCKETS - 1) as u16
    }

    #[test]
    fn bucket_of_is_the_logarithms_bucket_everywhere() {
        let mut rng = fastrand::Rng::with_seed(5);
        let check = |v: f64| assert_eq!(bucket_of(v), bucket_by_ln(v), "{v:e}");
        // Across the range, log-uniform and uniform.
        for _ in 0..200_000 {
            check(10f64.powf(rng.f64() * 6.0));
            check(rng.f64() * MAX_MS * 1.1);
        }
        // At and around every edge, down to single ulps, and at every segment's ends.
        for k in 0..=LOG_BUCKETS + 1 {
            let edge = (k as f64 * LN_GROWTH).exp();
            for ulps in -300i64..=300 {
                check(f64::from_bits((edge.to_bits() as i64 + ulps) as u64));
            }
            for rel in [1e-12, 1e-10, 1e-9, 2e-9, 1e-8, 1e-6, 1e-3] {
                check(edge * (1.0 + rel));
                check(edge * (1.0 - rel));
            }
        }
        for segment in 0..SEGMENTS as u64 + 2 {
            let low = f64::from_bits((segment + FIRST_SEGMENT) << SEGMENT_SHIFT);
            for ulps in -2i64..=2 {
                check(f64::from_bits((low.to_bits() as i64 + ulps) as u64));
            }
        }
        for v in [
            0.0,
            0.999_999,
            1.0,
            MAX_MS,
            MAX_MS + 1.0,
            f64::MAX,
            f64::INFINITY,
        ] {
            check(v);
        }
    }

    #[test]
    fn bucket_of_clamps_bad_input() {
        assert_eq!(bucket_of(-5.0), 0);
        assert_eq!(bucket_of(f64::NEG_INFINITY), 0);
        assert_eq!(bucket_of(f64::NAN), 0);
        assert_eq!(bucket_of(f64::INFINITY) as usize, BUCKETS - 1);
        assert_eq!(bucket_of(1e12) as usize, BUCKETS - 1);
    }

    #[test]
    fn representative_within_half_percent() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000 {
            let v = 1.0 + rng.f64() * 100_000.0;
            let rel = (representative(bucket_of(v)) - v).abs() / v;
            assert!(rel <= 0.005, "{v}: {rel}");
        }
        for _ in 0..1_000 {
            let v = rng.f64();
            assert!(
                (representative(bucket_of(v)) - v).abs() <= 0.005 + 1e-12,
                "{v}"
            );
        }
    }

    #[test]
    fn quantile_empty_is_none() {
        assert_eq!(QuantileSketch::new().quantile(0.5), None);
    }

    #[test]
    fn quantile_within_1_5_percent_of_exact() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut sketch = QuantileSketch::new();
        let mut values = Vec::new();
        for _ in 0..2_000 {
            // log-uniform from 1 ms to 10 s: every scale of bucket gets used
            let v = 10f64.powf(rng.f64() * 4.0);
            sketch.insert(v);
            values.push(v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
            let exact = exact_quantile(&values, q);
            let got = sketch.quantile(q).unwrap();
            assert!(
                (got - exact).abs() / exact <= 0.015,
                "q{q}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn quantile_follows_removals() {
        let mut sketch = QuantileSketch::new();
        for v in [10.0, 20.0, 30.0, 40.0] {
            sketch.insert(v);
        }
        sketch.remove(10.0);
        sketch.remove(40.0);
        let low = sketch.quantile(0.0).unwrap();
        let high = sketch.quantile(1.0).unwrap();
        assert!((low - 20.0).abs() < 0.1, "{low}");
        assert!((high - 30.0).abs() < 0.15, "{high}");
        assert_eq!(sketch.len(), 2);
        sketch.clear();
        assert!(sketch.is_empty());
        assert_eq!(sketch.quantile(0.5), None);
    }

    #[test]
    fn quantile_of_extremes_stays_in_range() {
        let mut sketch = QuantileSketch::new();
        sketch.insert(f64::INFINITY);
        sketch.insert(-1.0);
        assert!(sketch.quantile(0.0).unwrap() <= 0.01);
        assert!(sketch.quantile(1.0).unwrap() >= MAX_MS * 0.99);
    }
}
