//! Rank queries over a sliding window's quantile buckets ([`crate::detect::quantile`]), sized by
//! the window rather than by the 1 438 buckets: the latency model's quartiles and p50/p90/p99.
//!
//! Up to [`SORTED_UP_TO`] values the window's buckets are kept as one sorted array of `u16`
//! (2 bytes a value, 128 bytes at the default window of 60). A rank query is an index, O(1).
//! Sliding the window moves one value from the evicted bucket to the new one: find the two
//! places, O(log window), and one `copy_within` of the values ranked between the two — at
//! most `2 · window` bytes, one `memmove`, so bounded by 4 KB at [`SORTED_UP_TO`]; at the
//! default window it is at most 118 bytes, a few vector moves. Larger windows (up to 100 000
//! are accepted) use the Fenwick [`QuantileSketch`], O(log B), whose fixed 5.75 KB is then the
//! smaller part. Both answer every query with the same bucket: the one holding the value of
//! that rank.
//!
//! The array is padded to a whole number of [`LANES`] with [`PAD`], a bucket above every real
//! one, so that the padding stays sorted after the values. Up to [`SCAN_UP_TO`] slots (64 at
//! the default window of 60) the two places are counted in one branch-free pass over the padded
//! array, [`LANES`] values a step (the compiler's vector compares; a bounded number of steps,
//! O(1)), instead of two binary searches of ~6 dependent loads each; above it they are binary
//! searches.

use crate::detect::quantile::{QuantileSketch, representative};

/// The largest window kept as a sorted array; above it, a [`QuantileSketch`].
pub const SORTED_UP_TO: usize = 2_048;

/// Values compared per step of the counting pass; the sorted array's length is a multiple of it.
pub const LANES: usize = 16;

/// The largest padded array whose places are counted by a pass rather than binary searches:
/// four steps (the default window of 60), ~100 instructions; the two searches cost about as
/// much from here on, and more in time (their loads depend on each other).
pub const SCAN_UP_TO: usize = 64;

/// The bucket of the padding: above every real bucket (fewer than 2 048), and positive as an
/// `i16`, so that the counting pass compares signed 16-bit lanes (SSE2 has no unsigned ones).
pub const PAD: u16 = i16::MAX as u16;

/// The multiset of a window's quantile buckets, answering nearest-rank quantiles.
#[derive(Debug, Clone)]
pub enum WindowRanks {
    /// The buckets in ascending order, then [`PAD`] up to a multiple of [`LANES`] slots
    /// (allocated once, at least the window).
    Sorted {
        /// The sorted buckets, then the padding.
        buckets: Box<[u16]>,
        /// Values held: the first `len` slots.
        len: usize,
    },
    /// Counts per bucket, for windows above [`SORTED_UP_TO`].
    Sketch(QuantileSketch),
}

/// The nearest rank of the `q`-quantile (0..=1) of `n` values: `⌈q·n⌉`, at least 1 and at most
/// `n` (`n` > 0).
#[inline]
pub fn rank_of(q: f64, n: u32) -> u32 {
    // ⌈q·n⌉ without `ceil`, a libm call on baseline x86-64 (no SSE4.1).
    let r = q.clamp(0.0, 1.0) * n as f64;
    let whole = r as u32;
    (whole + u32::from((whole as f64) < r)).clamp(1, n)
}

/// How many of `buckets` are above `a` and how many above `b`, in one pass of [`LANES`] values
/// a step (`buckets.len()` a multiple of [`LANES`]; every bucket below 2¹⁵).
#[inline]
fn count_above(buckets: &[u16], a: u16, b: u16) -> (usize, usize) {
    let (a, b) = (a as i16, b as i16);
    // One counter per lane, summed at the end: the loop body is then a few vector
    // instructions. A lane counts at most `SCAN_UP_TO / LANES` values, so no overflow.
    let mut above_a = [0i16; LANES];
    let mut above_b = [0i16; LANES];
    for chunk in buckets.chunks_exact(LANES) {
        for k in 0..LANES {
            let x = chunk[k] as i16;
            above_a[k] += i16::from(x > a);
            above_b[k] += i16::from(x > b);
        }
    }
    // Summed as `i16` (at most `SCAN_UP_TO`): a few shuffles and adds, where widening every
    // lane to `usize` first costs ~70 instructions.
    let sum = |c: [i16; LANES]| c.iter().fold(0i16, |t, &n| t.wrapping_add(n)) as usize;
    (sum(above_a), sum(above_b))
}

/// How many of the sorted `buckets` are at most `a` and how many at most `b`.
#[inline(always)]
fn count_at_most(buckets: &[u16], a: u16, b: u16) -> (usize, usize) {
    if buckets.len() <= SCAN_UP_TO {
        let (above_a, above_b) = count_above(buckets, a, b);
        (buckets.len() - above_a, buckets.len() - above_b)
    } else {
        (
            buckets.partition_point(|&x| x <= a),
            buckets.partition_point(|&x| x <= b),
        )
    }
}

impl WindowRanks {
    /// An empty multiset for a window of `window` values (allocates once).
    pub fn new(window: usize) -> Self {
        if window <= SORTED_UP_TO {
            Self::Sorted {
                buckets: vec![PAD; window.max(1).next_multiple_of(LANES)].into_boxed_slice(),
                len: 0,
            }
        } else {
            Self::Sketch(QuantileSketch::new())
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        match self {
            Self::Sorted { len, .. } => *len,
            Self::Sketch(s) => s.len(),
        }
    }

    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds one value of bucket `bucket` (the window is not full: no reallocation).
    pub fn insert_bucket(&mut self, bucket: u16) {
        match self {
            Self::Sorted { buckets, len } => {
                debug_assert!(*len < buckets.len(), "insert into a full window");
                // After the last value of `bucket` or below; the rest slide up one place.
                let at = buckets[..*len].partition_point(|&x| x <= bucket);
                buckets.copy_within(at..*len, at + 1);
                buckets[at] = bucket;
                *len += 1;
            }
            Self::Sketch(s) => s.insert_bucket(bucket),
        }
    }

    /// Moves one value from bucket `from` (where it must be held) to bucket `to`: the window's
    /// eviction and insertion in one step.
    #[inline]
    pub fn move_bucket(&mut self, from: u16, to: u16) {
        match self {
            Self::Sorted { buckets, .. } => {
                // The padding is above both buckets, so counting over the whole padded array
                // counts the values held.
                if from < to {
                    // The last copy of `from` (at `i`); the values in (from, to) slide down one
                    // place, `to` goes before the first value of `to` or above (at `j − 1`).
                    let (at_most_from, below_to) = count_at_most(buckets, from, to - 1);
                    let (i, j) = (at_most_from - 1, below_to);
                    buckets.copy_within(i + 1..j, i);
                    buckets[j - 1] = to;
                } else if from > to {
                    // The first copy of `from` (at `i`); the values in (to, from) slide up one
                    // place, `to` goes after the last value of `to` or below (at `j`).
                    let (below_from, at_most_to) = count_at_most(buckets, from - 1, to);
                    let (i, j) = (below_from, at_most_to);
                    buckets.copy_within(j..i, j + 1);
                    buckets[j] = to;
                }
            }
            Self::Sketch(s) => s.move_bucket(from, to),
        }
    }

    /// Replaces the contents by `buckets` (a refit re-buckets the whole window): O(n log n).
    pub fn refill(&mut self, values: impl Iterator<Item = u16>) {
        match self {
            Self::Sorted { buckets, len } => {
                buckets.fill(PAD);
                *len = 0;
                for (slot, b) in buckets.iter_mut().zip(values) {
                    *slot = b;
                    *len += 1;
                }
                buckets[..*len].sort_unstable();
            }
            Self::Sketch(s) => {
                s.clear();
                values.for_each(|b| s.insert_bucket(b));
            }
        }
    }

    /// The bucket of the `q`-quantile (0..=1) by nearest rank: the value of rank `⌈q·n⌉` (at
    /// least 1) in ascending order. `None` when empty.
    #[inline]
    pub fn quantile_bucket(&self, q: f64) -> Option<u16> {
        let n = self.len() as u32;
        if n == 0 {
            return None;
        }
        Some(self.bucket_of_rank(rank_of(q, n)))
    }

    /// The bucket of the value of 1-based `rank` (1 ..= len) in ascending order.
    #[inline]
    pub fn bucket_of_rank(&self, rank: u32) -> u16 {
        match self {
            Self::Sorted { buckets, .. } => buckets[rank as usize - 1],
            Self::Sketch(s) => s.bucket_of_rank(rank),
        }
    }

    /// The `q`-quantile as its bucket's representative (ms). `None` when empty.
    #[inline]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantile_bucket(q).map(representative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::quantile::BUCKETS;

    const QS: [f64; 9] = [0.0, 0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0, 0.333];

    /// Both representations, driven as a sliding window is, answer every query alike.
    #[test]
    fn sorted_answers_as_the_sketch_does() {
        let mut rng = fastrand::Rng::with_seed(3);
        // Counted passes (up to SCAN_UP_TO slots) and binary searches (above).
        for window in [1, 2, 7, 16, 17, 60, 64, 65, 100, 300] {
            let mut sorted = WindowRanks::new(window);
            let mut sketch = WindowRanks::Sketch(QuantileSketch::new());
            assert!(matches!(sorted, WindowRanks::Sorted { .. }));
            let mut held = std::collections::VecDeque::new();
            let slots = match &sorted {
                WindowRanks::Sorted { buckets, .. } => buckets.len(),
                WindowRanks::Sketch(_) => 0,
            };
            assert_eq!(slots % LANES, 0);
            assert!(slots >= window);
            for step in 0..20_000 {
                // Near values (a jittery series), far ones, repeats and the edges.
                let b = match step % 5 {
                    0 => rng.u16(0..BUCKETS as u16),
                    1 => [0, BUCKETS as u16 - 1][rng.usize(0..2)],
                    2 => held.back().copied().unwrap_or(500),
                    _ => 500 + rng.u16(0..20),
                };
                if held.len() == window {
                    let old = held.pop_front().unwrap();
                    sorted.move_bucket(old, b);
                    sketch.move_bucket(old, b);
                } else {
                    sorted.insert_bucket(b);
                    sketch.insert_bucket(b);
                }
                held.push_back(b);
                assert_eq!(sorted.len(), held.len());
                for q in QS {
                    assert_eq!(
                        sorted.quantile_bucket(q),
                        sketch.quantile_bucket(q),
                        "window {window} step {step} q{q}"
                    );
                }
                if let WindowRanks::Sorted { buckets, len } = &sorted {
                    // Sorted, the padding after the values, no growth.
                    assert!(buckets.is_sorted());
                    assert_eq!(buckets.len(), slots);
                    assert!(buckets[*len..].iter().all(|&b| b == PAD));
                }
            }
            sorted.refill(held.iter().copied());
            sketch.refill(held.iter().copied());
            for q in QS {
                assert_eq!(sorted.quantile(q), sketch.quantile(q));
            }
        }
    }

    /// The counting pass counts as the binary searches do, at every place of every bucket.
    #[test]
    fn counted_places_are_the_binary_searches() {
        let mut rng = fastrand::Rng::with_seed(9);
        for slots in [LANES, 2 * LANES, SCAN_UP_TO] {
            for held in [0, 1, slots / 2, slots - 1, slots] {
                let mut buckets: Vec<u16> = (0..held).map(|_| rng.u16(0..40)).collect();
                buckets.sort_unstable();
                buckets.resize(slots, PAD);
                for a in 0..45 {
                    let b = rng.u16(0..45);
                    let want = (
                        buckets.partition_point(|&x| x <= a),
                        buckets.partition_point(|&x| x <= b),
                    );
                    assert_eq!(
                        count_at_most(&buckets, a, b),
                        want,
                        "{slots} {held} {a} {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_and_large_windows() {
        assert_eq!(WindowRanks::new(60).quantile(0.5), None);
        assert!(WindowRanks::new(0).is_empty());
        assert!(matches!(
            WindowRanks::new(SORTED_UP_TO + 1),
            WindowRanks::Sketch(_)
        ));
    }
}
