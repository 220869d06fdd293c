//! Rank queries over a sliding window's quantile buckets ([`crate::detect::quantile`]), sized by
//! the window rather than by the 1 438 buckets: the latency model's quartiles and p50/p90/p99.
//!
//! Up to [`SORTED_UP_TO`] values the window's buckets are kept as one sorted array of `u16`
//! (2 bytes a value, 120 bytes at the default window of 60). A rank query is an index, O(1).
//! Sliding the window moves one value from the evicted bucket to the new one: two binary
//! searches, O(log window), and one `copy_within` of the values ranked between the two — at
//! most `2 · window` bytes, one `memmove`, so bounded by 4 KB at [`SORTED_UP_TO`]; at the
//! default window it is at most 118 bytes, a few vector moves, cheaper than the Fenwick tree's
//! two walks of ~11 dependent steps it replaces. Larger windows (up to 100 000 are accepted)
//! use the Fenwick [`QuantileSketch`], O(log B), whose fixed 5.75 KB is then the smaller part.
//! Both answer every query with the same bucket: the one holding the value of that rank.

use crate::detect::quantile::{QuantileSketch, representative};

/// The largest window kept as a sorted array; above it, a [`QuantileSketch`].
pub const SORTED_UP_TO: usize = 2_048;

/// The multiset of a window's quantile buckets, answering nearest-rank quantiles.
#[derive(Debug, Clone)]
pub enum WindowRanks {
    /// The buckets in ascending order (capacity: the window, allocated once).
    Sorted(Vec<u16>),
    /// Counts per bucket, for windows above [`SORTED_UP_TO`].
    Sketch(QuantileSketch),
}

impl WindowRanks {
    /// An empty multiset for a window of `window` values (allocates once).
    pub fn new(window: usize) -> Self {
        if window <= SORTED_UP_TO {
            Self::Sorted(Vec::with_capacity(window.max(1)))
        } else {
            Self::Sketch(QuantileSketch::new())
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        match self {
            Self::Sorted(v) => v.len(),
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
            Self::Sorted(v) => {
                let at = v.partition_point(|&x| x <= bucket);
                v.insert(at, bucket);
            }
            Self::Sketch(s) => s.insert_bucket(bucket),
        }
    }

    /// Moves one value from bucket `from` (where it must be held) to bucket `to`: the window's
    /// eviction and insertion in one step.
    pub fn move_bucket(&mut self, from: u16, to: u16) {
        match self {
            Self::Sorted(v) => {
                if from < to {
                    // The last copy of `from`; the values in (from, to) slide down one place.
                    let i = v.partition_point(|&x| x <= from) - 1;
                    let j = v.partition_point(|&x| x < to);
                    v.copy_within(i + 1..j, i);
                    v[j - 1] = to;
                } else if from > to {
                    // The first copy of `from`; the values in (to, from) slide up one place.
                    let i = v.partition_point(|&x| x < from);
                    let j = v.partition_point(|&x| x <= to);
                    v.copy_within(j..i, j + 1);
                    v[j] = to;
                }
            }
            Self::Sketch(s) => s.move_bucket(from, to),
        }
    }

    /// Replaces the contents by `buckets` (a refit re-buckets the whole window): O(n log n).
    pub fn refill(&mut self, buckets: impl Iterator<Item = u16>) {
        match self {
            Self::Sorted(v) => {
                v.clear();
                v.extend(buckets);
                v.sort_unstable();
            }
            Self::Sketch(s) => {
                s.clear();
                buckets.for_each(|b| s.insert_bucket(b));
            }
        }
    }

    /// The bucket of the `q`-quantile (0..=1) by nearest rank: the value of rank `⌈q·n⌉` (at
    /// least 1) in ascending order. `None` when empty.
    #[inline]
    pub fn quantile_bucket(&self, q: f64) -> Option<u16> {
        match self {
            Self::Sorted(v) => {
                let n = v.len() as u32;
                if n == 0 {
                    return None;
                }
                // ⌈q·n⌉ without `ceil`, a libm call on baseline x86-64 (no SSE4.1).
                let r = q.clamp(0.0, 1.0) * n as f64;
                let whole = r as u32;
                let rank = (whole + u32::from((whole as f64) < r)).clamp(1, n);
                Some(v[rank as usize - 1])
            }
            Self::Sketch(s) => s.quantile_bucket(q),
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
        for window in [1, 2, 7, 60, 300] {
            let mut sorted = WindowRanks::new(window);
            let mut sketch = WindowRanks::Sketch(QuantileSketch::new());
            assert!(matches!(sorted, WindowRanks::Sorted(_)));
            let mut held = std::collections::VecDeque::new();
            let cap0 = match &sorted {
                WindowRanks::Sorted(v) => v.capacity(),
                WindowRanks::Sketch(_) => 0,
            };
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
                if let WindowRanks::Sorted(v) = &sorted {
                    assert!(v.is_sorted());
                    assert_eq!(v.capacity(), cap0, "no growth");
                }
            }
            sorted.refill(held.iter().copied());
            sketch.refill(held.iter().copied());
            for q in QS {
                assert_eq!(sorted.quantile(q), sketch.quantile(q));
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
