//! Rank queries over a sliding window's quantile buckets ([`crate::detect::quantile`]), sized by
//! the window rather than by the 1 438 buckets: the latency model's quartiles and p50/p90/p99.
//!
//! Up to [`SORTED_UP_TO`] values the window's buckets are kept as one sorted array of `u16`
//! (2 bytes a value, 132 bytes at the default window of 60). A rank query is an index, O(1).
//! Sliding the window moves one value from the evicted bucket to the new one. Larger windows
//! (up to 100 000 are accepted) use the Fenwick [`QuantileSketch`], O(log B), whose fixed
//! 5.75 KB is then the smaller part. Both answer every query with the same bucket: the one
//! holding the value of that rank.
//!
//! The array is padded to a whole number of [`LANES`] slots with [`PAD`], a bucket above every
//! real one, so that the padding stays sorted after the values, and framed by a guard slot on
//! either side. Up to [`SLIDE_UP_TO`] slots (64 at the default window of 60) a move rewrites
//! every slot in one branch-free pass, [`LANES`] slots a step, from the slot and its neighbour
//! (`slide_down`, `slide_up`): the compiler's vector min, max and compares, ~100 instructions, no
//! search and no `memmove`. Above, it finds the two places by binary search, O(log window),
//! and moves the values ranked between them with one `copy_within` (at most `2 · window`
//! bytes, bounded by 4 KB at [`SORTED_UP_TO`]).

use crate::detect::quantile::{QuantileSketch, representative};

/// The largest window kept as a sorted array; above it, a [`QuantileSketch`].
pub const SORTED_UP_TO: usize = 2_048;

/// Slots rewritten per step of a slide; the sorted array's slots are a multiple of it.
pub const LANES: usize = 16;

/// The most slots a move rewrites in a slide rather than by binary searches and a `memmove`:
/// four steps (the default window of 60). Bounded, so a move stays O(log window).
pub const SLIDE_UP_TO: usize = 64;

/// The bucket of the padding and of the upper guard: above every real bucket (fewer than
/// 2 048), and positive as an `i16`, so that a slide compares signed 16-bit lanes (SSE2 has no
/// unsigned ones).
pub const PAD: u16 = i16::MAX as u16;

/// The bucket of the lower guard: at most every real bucket.
const LOW_GUARD: u16 = 0;

/// The multiset of a window's quantile buckets, answering nearest-rank quantiles.
#[derive(Debug, Clone)]
pub enum WindowRanks {
    /// The lower guard, the buckets in ascending order, [`PAD`] up to a multiple of [`LANES`]
    /// slots (at least the window), and the upper guard ([`PAD`]); allocated once. The value
    /// of rank `r` (1-based) is at index `r`.
    Sorted {
        /// The guards, the sorted buckets and the padding.
        buckets: Box<[u16]>,
        /// Values held: slots `1 ..= len`.
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

/// Moves one value from bucket `from` (held) to bucket `to` above it in the framed, padded
/// sorted array `framed`, rewriting every slot from itself and the next one, lowest first:
/// a slot at or below the last copy of `from` keeps its value (its successor is at most
/// `from`); from there on a slot takes its successor while that is below `to`, then `to`,
/// then keeps its own value again — `max(own, min(next, to))`. Branch-free, so the compiler
/// makes each step of [`LANES`] slots a few vector instructions.
#[inline]
fn slide_down(framed: &mut [u16], from: u16, to: u16) {
    let (from, to) = (from as i16, to as i16);
    let mut at = 1;
    // Each step reads its slots and the next one before it writes: the next step's first slot
    // is still the old value.
    while at + LANES < framed.len() {
        let window: &[u16; LANES + 1] = framed[at..=at + LANES].try_into().expect("LANES + 1");
        let mut out = [0u16; LANES];
        for k in 0..LANES {
            let (own, next) = (window[k] as i16, window[k + 1] as i16);
            let slid = own.max(next.min(to));
            out[k] = (if next <= from { own } else { slid }) as u16;
        }
        framed[at..at + LANES].copy_from_slice(&out);
        at += LANES;
    }
}

/// Moves one value from bucket `from` (held) to bucket `to` below it: [`slide_down`] mirrored,
/// each slot rewritten from itself and the one before, highest first —
/// `min(own, max(previous, to))` below the first copy of `from`.
#[inline]
fn slide_up(framed: &mut [u16], from: u16, to: u16) {
    let (from, to) = (from as i16, to as i16);
    let mut at = framed.len() - 1 - LANES;
    loop {
        let window: &[u16; LANES + 1] = framed[at - 1..at + LANES].try_into().expect("LANES + 1");
        let mut out = [0u16; LANES];
        for k in 0..LANES {
            let (previous, own) = (window[k] as i16, window[k + 1] as i16);
            let slid = own.min(previous.max(to));
            out[k] = (if previous >= from { own } else { slid }) as u16;
        }
        framed[at..at + LANES].copy_from_slice(&out);
        if at <= LANES {
            break;
        }
        at -= LANES;
    }
}

impl WindowRanks {
    /// An empty multiset for a window of `window` values (allocates once).
    pub fn new(window: usize) -> Self {
        if window <= SORTED_UP_TO {
            let mut buckets = vec![PAD; window.max(1).next_multiple_of(LANES) + 2];
            buckets[0] = LOW_GUARD;
            Self::Sorted {
                buckets: buckets.into_boxed_slice(),
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
                let slots = slots_mut(buckets);
                debug_assert!(*len < slots.len(), "insert into a full window");
                // After the last value of `bucket` or below; the rest slide up one place.
                let at = slots[..*len].partition_point(|&x| x <= bucket);
                slots.copy_within(at..*len, at + 1);
                slots[at] = bucket;
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
            Self::Sorted { buckets, .. } if buckets.len() - 2 <= SLIDE_UP_TO => {
                if from < to {
                    slide_down(buckets, from, to);
                } else if from > to {
                    slide_up(buckets, from, to);
                }
            }
            Self::Sorted { buckets, .. } => {
                let v = slots_mut(buckets);
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

    /// Replaces the contents by `values` (a refit re-buckets the whole window): O(n log n).
    pub fn refill(&mut self, values: impl Iterator<Item = u16>) {
        match self {
            Self::Sorted { buckets, len } => {
                let slots = slots_mut(buckets);
                slots.fill(PAD);
                *len = 0;
                for (slot, b) in slots.iter_mut().zip(values) {
                    *slot = b;
                    *len += 1;
                }
                slots[..*len].sort_unstable();
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
            Self::Sorted { buckets, .. } => buckets[rank as usize],
            Self::Sketch(s) => s.bucket_of_rank(rank),
        }
    }

    /// The `q`-quantile as its bucket's representative (ms). `None` when empty.
    #[inline]
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantile_bucket(q).map(representative)
    }
}

/// The slots of a framed array: the sorted values and the padding, without the guards.
fn slots_mut(framed: &mut [u16]) -> &mut [u16] {
    let end = framed.len() - 1;
    &mut framed[1..end]
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
        // Slides (up to SLIDE_UP_TO slots) and binary searches (above).
        for window in [1, 2, 7, 15, 16, 17, 48, 60, 63, 64, 65, 100, 300] {
            let mut sorted = WindowRanks::new(window);
            let mut sketch = WindowRanks::Sketch(QuantileSketch::new());
            assert!(matches!(sorted, WindowRanks::Sorted { .. }));
            let mut held = std::collections::VecDeque::new();
            let framed = match &sorted {
                WindowRanks::Sorted { buckets, .. } => buckets.len(),
                WindowRanks::Sketch(_) => 0,
            };
            assert_eq!((framed - 2) % LANES, 0);
            assert!(framed - 2 >= window);
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
                    // Sorted, the padding after the values, the guards kept, no growth.
                    assert!(buckets.is_sorted());
                    assert_eq!(buckets.len(), framed);
                    assert_eq!(buckets[0], LOW_GUARD);
                    assert!(buckets[*len + 1..].iter().all(|&b| b == PAD));
                }
            }
            sorted.refill(held.iter().copied());
            sketch.refill(held.iter().copied());
            for q in QS {
                assert_eq!(sorted.quantile(q), sketch.quantile(q));
            }
        }
    }

    /// A slide moves a value as removing it and inserting the new one does, for every fill,
    /// every held value and buckets below, between, equal to and above the held ones.
    #[test]
    fn a_slide_is_a_removal_and_an_insertion() {
        let mut rng = fastrand::Rng::with_seed(9);
        for slots in [LANES, 2 * LANES, SLIDE_UP_TO] {
            for _ in 0..2_000 {
                let held = rng.usize(1..=slots);
                let mut values: Vec<u16> = (0..held).map(|_| rng.u16(1..40)).collect();
                values.sort_unstable();
                let from = values[rng.usize(0..held)];
                let to = [0, rng.u16(0..42), from.saturating_sub(1), from + 1][rng.usize(0..4)];
                let mut want = values.clone();
                want.remove(want.iter().position(|&x| x == from).unwrap());
                want.insert(want.partition_point(|&x| x <= to), to);
                let mut framed = vec![LOW_GUARD];
                framed.extend(&values);
                framed.resize(slots + 2, PAD);
                if from < to {
                    slide_down(&mut framed, from, to);
                } else if from > to {
                    slide_up(&mut framed, from, to);
                }
                assert_eq!(framed[1..=held], want[..], "{values:?} {from} -> {to}");
                assert_eq!(framed[0], LOW_GUARD);
                assert!(framed[held + 1..].iter().all(|&b| b == PAD));
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
