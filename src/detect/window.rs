//! The building blocks of the sliding-window models: a fixed-capacity ring buffer, running
//! moments (mean and variance by running sums), and the confidence scale that turns a
//! detector's ratio into a confidence and a severity. Everything here is allocated once, in
//! `new`, and updated in O(1).

use crate::detect::config::Direction;
use crate::detect::finding::Finding;
use crate::messages::Severity;

/// The last `capacity` values of a series, oldest first. Pushing into a full ring evicts the
/// oldest value and hands it back, so the caller can take it out of its running aggregates.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    buf: Box<[T]>,
    /// Index of the oldest value.
    head: usize,
    len: usize,
}

impl<T: Copy> Ring<T> {
    /// A ring for `capacity` values (at least one), its slots filled with `fill`.
    pub fn new(capacity: usize, fill: T) -> Self {
        Self {
            buf: vec![fill; capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Adds `value` as the newest; returns the oldest value when it had to make room.
    pub fn push(&mut self, value: T) -> Option<T> {
        let cap = self.buf.len();
        if self.len < cap {
            let slot = self.slot(self.len);
            self.buf[slot] = value;
            self.len += 1;
            None
        } else {
            // Full: the oldest slot becomes the newest.
            let evicted = std::mem::replace(&mut self.buf[self.head], value);
            self.head = if self.head + 1 == cap {
                0
            } else {
                self.head + 1
            };
            Some(evicted)
        }
    }

    /// The `age`-th newest value: 0 is the newest. `None` past the oldest.
    pub fn newest(&self, age: usize) -> Option<T> {
        (age < self.len).then(|| self.buf[self.slot(self.len - 1 - age)])
    }

    /// Values from oldest to newest.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len).map(|i| self.buf[self.slot(i)])
    }

    /// The values from the `skip`-th oldest to the newest (all of them for `skip` 0), oldest
    /// first, as at most two slices: the run up to the end of the buffer, then the wrapped
    /// part. Cheaper to walk than [`Ring::iter`], which maps every index into the buffer.
    pub fn slices_from(&self, skip: usize) -> (&[T], &[T]) {
        let cap = self.buf.len();
        let start = self.head + skip.min(self.len);
        let end = self.head + self.len;
        if end <= cap {
            (&self.buf[start..end], &[])
        } else if start < cap {
            (&self.buf[start..], &self.buf[..end - cap])
        } else {
            (&[], &self.buf[start - cap..end - cap])
        }
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most values held at once.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Applies `f` to every value held, oldest first.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut T)) {
        for i in 0..self.len {
            let slot = self.slot(i);
            f(&mut self.buf[slot]);
        }
    }

    /// Forgets every value (the buffer is kept).
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Buffer index of the `i`-th oldest value. A subtraction rather than `%`: this is on the
    /// per-sample path.
    fn slot(&self, i: usize) -> usize {
        let s = self.head + i;
        if s >= self.buf.len() {
            s - self.buf.len()
        } else {
            s
        }
    }
}

/// Count, mean and variance of a multiset of values, kept by running sums so that adding or
/// removing a value is O(1).
///
/// The sums are of `x − shift`, where `shift` is a value near the mean: sums of squares of
/// raw latencies would lose the variance to cancellation when the mean is large and the spread
/// small. Running sums still drift a little with every add/remove pair, so the owner rebuilds
/// them from its window now and then ([`Moments::rebuild`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    shift: f64,
    sum: f64,
    sum_sq: f64,
    /// A `u32` rather than a `usize`: converted to `f64` for every mean, and a `u32` converts
    /// in one instruction where a `u64` takes five on x86-64 (windows are at most 100 000).
    count: u32,
}

impl Moments {
    /// Empty moments whose sums are taken relative to `shift`.
    pub fn with_shift(shift: f64) -> Self {
        Self {
            shift,
            ..Self::default()
        }
    }

    /// Adds one value.
    pub fn add(&mut self, x: f64) {
        let d = x - self.shift;
        self.sum += d;
        self.sum_sq += d * d;
        self.count += 1;
    }

    /// Removes one value that was added before.
    pub fn remove(&mut self, x: f64) {
        let d = x - self.shift;
        self.sum -= d;
        self.sum_sq -= d * d;
        self.count -= 1;
    }

    /// Replaces the sums by exact ones over `values`, relative to `shift`.
    pub fn rebuild(&mut self, shift: f64, values: impl Iterator<Item = f64>) {
        // Summed in a local: through `self` every step would store the sums back to memory.
        let mut exact = Self::with_shift(shift);
        values.for_each(|x| exact.add(x));
        *self = exact;
    }

    /// The values of `self` that are not in `part` (`part` must be a sub-multiset with the same
    /// shift).
    pub fn minus(&self, part: &Moments) -> Moments {
        debug_assert_eq!(self.shift, part.shift, "moments with different shifts");
        Moments {
            shift: self.shift,
            sum: self.sum - part.sum,
            sum_sq: self.sum_sq - part.sum_sq,
            count: self.count - part.count,
        }
    }

    /// The shift the sums are relative to.
    pub fn shift(&self) -> f64 {
        self.shift
    }

    /// Values held.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Mean of the values, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.shift + self.sum / self.count as f64)
    }

    /// Population standard deviation of the values, `None` when empty.
    pub fn std(&self) -> Option<f64> {
        (self.count > 0).then(|| {
            let n = self.count as f64;
            let m = self.sum / n;
            // Rounding can take the difference a hair below zero for a constant series.
            (self.sum_sq / n - m * m).max(0.0).sqrt()
        })
    }
}

/// The standard deviation the latency detectors divide by: at least 1 ms and 1 % of the mean,
/// so that a series that has been constant does not call every millisecond a huge z-score.
pub fn effective_std(std: f64, mean: f64) -> f64 {
    std.max(1.0).max(0.01 * mean.abs())
}

/// The size and sign of a departure `delta` from the baseline that `direction` judges:
/// `Some((|delta|, ±1))`, or `None` for no departure or a drop when only rises count.
pub fn signed_departure(delta: f64, direction: Direction) -> Option<(f64, f64)> {
    if delta > 0.0 {
        Some((delta, 1.0))
    } else if delta < 0.0 && direction == Direction::Both {
        Some((-delta, -1.0))
    } else {
        None
    }
}

/// Whether a departure `delta` can make a ratio detector fire at all: `direction` judges it
/// and it is not below `min_rise` — the detectors' own first two checks. Callers ask it before
/// working out a spread (a square root and divisions) that would then not be looked at.
pub fn may_fire(delta: f64, direction: Direction, min_rise: f64) -> bool {
    // The detectors go on when `min_rise` is NaN (`dev < NaN` is false); `dev` never is NaN.
    signed_departure(delta, direction).is_some_and(|(dev, _)| dev >= min_rise || min_rise.is_nan())
}

/// Confidence that a sample is anomalous, from a detector's ratio `r` (1 at its threshold):
/// `1 − 1/r²`, clamped to 0..=1. It is 0 at the threshold, 0.5 at √2 times it, 0.75 at twice it.
pub fn ratio_confidence(r: f64) -> f64 {
    (1.0 - 1.0 / (r * r)).clamp(0.0, 1.0)
}

/// The one mapping from confidence to severity: below 0.5 slight (info), below 0.75 moderate
/// (warning), from 0.75 severe (critical).
pub fn severity_from_confidence(confidence: f64) -> Severity {
    if confidence < 0.5 {
        Severity::Info
    } else if confidence < 0.75 {
        Severity::Warning
    } else {
        Severity::Critical
    }
}

/// A finding for a ratio-based detector when `r ≥ 1`, with confidence and severity from the
/// shared scale; `None` below the threshold (and for NaN).
pub fn finding_from_ratio(
    detector: &'static str,
    r: f64,
    value: f64,
    threshold: f64,
) -> Option<Finding> {
    if r.is_nan() || r < 1.0 {
        return None;
    }
    let confidence = ratio_confidence(r);
    Some(Finding {
        detector,
        severity: severity_from_confidence(confidence),
        value,
        threshold,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_evicts_oldest_when_full() {
        let mut ring = Ring::new(3, 0);
        assert_eq!(ring.push(1), None);
        assert_eq!(ring.push(2), None);
        assert_eq!(ring.push(3), None);
        assert_eq!(ring.push(4), Some(1));
        assert_eq!(ring.push(5), Some(2));
        assert_eq!(ring.iter().collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(ring.newest(0), Some(5));
        assert_eq!(ring.newest(2), Some(3));
        assert_eq!(ring.newest(3), None);
    }

    #[test]
    fn ring_clear_empties() {
        let mut ring = Ring::new(2, 0);
        ring.push(1);
        ring.push(2);
        ring.clear();
        assert!(ring.is_empty());
        assert_eq!(ring.push(7), None);
        assert_eq!(ring.iter().collect::<Vec<_>>(), vec![7]);
    }

    #[test]
    fn ring_slices_from_are_iter_skipped() {
        for cap in 1..7 {
            let mut ring = Ring::new(cap, 0);
            for value in 0..20 {
                for skip in 0..=ring.len() + 1 {
                    let (a, b) = ring.slices_from(skip);
                    let got: Vec<i32> = a.iter().chain(b).copied().collect();
                    let want: Vec<i32> = ring.iter().skip(skip).collect();
                    assert_eq!(got, want, "cap {cap} len {} skip {skip}", ring.len());
                }
                ring.push(value);
            }
        }
    }

    #[test]
    fn ring_zero_capacity_holds_one() {
        let mut ring = Ring::new(0, 0);
        assert_eq!(ring.capacity(), 1);
        assert_eq!(ring.push(1), None);
        assert_eq!(ring.push(2), Some(1));
    }

    #[test]
    fn moments_match_direct_computation() {
        let values = [10_000.0, 10_001.0, 10_002.0, 9_999.0];
        let mut m = Moments::with_shift(10_000.0);
        values.iter().for_each(|&x| m.add(x));
        assert!((m.mean().unwrap() - 10_000.5).abs() < 1e-12);
        // population variance of 0, 1, 2, -1 around 0.5: (0.25 + 0.25 + 2.25 + 2.25) / 4
        assert!((m.std().unwrap() - 1.25f64.sqrt()).abs() < 1e-12);
        m.remove(9_999.0);
        assert!((m.mean().unwrap() - 10_001.0).abs() < 1e-12);
    }

    #[test]
    fn moments_minus_leaves_the_rest() {
        let mut all = Moments::with_shift(5.0);
        let mut part = Moments::with_shift(5.0);
        for x in [1.0, 2.0, 3.0, 10.0, 20.0] {
            all.add(x);
        }
        part.add(10.0);
        part.add(20.0);
        let rest = all.minus(&part);
        assert_eq!(rest.count(), 3);
        assert!((rest.mean().unwrap() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn moments_empty_have_no_mean() {
        assert_eq!(Moments::default().mean(), None);
        assert_eq!(Moments::default().std(), None);
    }

    #[test]
    fn severity_from_confidence_bands() {
        assert_eq!(severity_from_confidence(0.0), Severity::Info);
        assert_eq!(severity_from_confidence(0.49), Severity::Info);
        assert_eq!(severity_from_confidence(0.5), Severity::Warning);
        assert_eq!(severity_from_confidence(0.74), Severity::Warning);
        assert_eq!(severity_from_confidence(0.75), Severity::Critical);
        assert_eq!(severity_from_confidence(1.0), Severity::Critical);
    }

    #[test]
    fn finding_from_ratio_fires_from_one() {
        assert_eq!(finding_from_ratio("x", 0.99, 1.0, 1.0), None);
        assert_eq!(finding_from_ratio("x", f64::NAN, 1.0, 1.0), None);
        let at_threshold = finding_from_ratio("x", 1.0, 1.0, 1.0).unwrap();
        assert_eq!(at_threshold.severity, Severity::Info);
        assert_eq!(at_threshold.confidence, 0.0);
        let moderate = finding_from_ratio("x", 1.5, 1.0, 1.0).unwrap();
        assert_eq!(moderate.severity, Severity::Warning);
        let severe = finding_from_ratio("x", 2.0, 1.0, 1.0).unwrap();
        assert_eq!(severe.severity, Severity::Critical);
        assert_eq!(severe.confidence, 0.75);
    }
}
