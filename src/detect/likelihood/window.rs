//! A sliding window of the last `capacity` values, kept in arrival order and in sorted order at
//! once, so that the tail probability of a new value against the window is two binary searches.
//! The newest `delay` values wait in a short queue before they join it: a value is judged
//! against the series as it was before the last few rows, so that a creep or a run of high
//! values is not judged against itself.
//!
//! Values are stored as `f32`: the window only ranks them, and half the bytes matter for a
//! monitor holding thousands of series. Allocated once in `new`; a push is two binary searches
//! and one `memmove` of the slots between the evicted value and the new one.

use crate::detect::window::Ring;

/// The last `capacity` values before the newest `delay`, oldest first and sorted.
#[derive(Debug, Clone)]
pub struct SortedWindow {
    /// The newest values, not yet in the window.
    waiting: Option<Ring<f32>>,
    ring: Ring<f32>,
    sorted: Vec<f32>,
}

impl SortedWindow {
    /// A window of `capacity` values (at least 2), each joining it `delay` pushes late.
    pub fn new(capacity: usize, delay: usize) -> Self {
        let capacity = capacity.max(2);
        Self {
            waiting: (delay > 0).then(|| Ring::new(delay, 0.0)),
            ring: Ring::new(capacity, 0.0),
            sorted: Vec::with_capacity(capacity),
        }
    }

    /// Bytes this window holds on the heap (its three buffers, allocated once).
    pub fn heap_bytes(&self) -> usize {
        let waiting = self.waiting.as_ref().map_or(0, Ring::capacity);
        (waiting + self.ring.capacity() + self.sorted.capacity()) * std::mem::size_of::<f32>()
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// True when the window holds `capacity` values.
    pub fn is_full(&self) -> bool {
        self.sorted.len() == self.ring.capacity()
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        if let Some(w) = &mut self.waiting {
            w.clear();
        }
        self.ring.clear();
        self.sorted.clear();
    }

    /// Adds `x` as the newest value; the value `delay` pushes older joins the window, evicting
    /// its oldest when full. Non-finite values must be filtered by the caller (they would not
    /// sort).
    pub fn push(&mut self, x: f64) {
        let x = to_f32(x);
        match &mut self.waiting {
            None => self.insert(x),
            Some(w) => {
                if let Some(due) = w.push(x) {
                    self.insert(due);
                }
            }
        }
    }

    fn insert(&mut self, x: f32) {
        match self.ring.push(x) {
            None => {
                let at = self.sorted.partition_point(|&v| v < x);
                self.sorted.insert(at, x);
            }
            Some(old) => {
                // Remove `old` and insert `x` with one shift of the slots between them.
                let from = self.sorted.partition_point(|&v| v < old);
                let to = self.sorted.partition_point(|&v| v < x);
                if to > from {
                    // x goes after old: shift (from, to) left by one.
                    self.sorted.copy_within(from + 1..to, from);
                    self.sorted[to - 1] = x;
                } else {
                    // x goes at or before old: shift [to, from) right by one.
                    self.sorted.copy_within(to..from, to + 1);
                    self.sorted[to] = x;
                }
            }
        }
    }

    /// The `q`-quantile (0..=1) by linear interpolation between order statistics; `None`
    /// when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let lo = pos as usize;
        let hi = (lo + 1).min(n - 1);
        let frac = pos - lo as f64;
        let (a, b) = (f64::from(self.sorted[lo]), f64::from(self.sorted[hi]));
        Some(a + (b - a) * frac)
    }

    /// The smallest and largest value; `None` when empty.
    pub fn range(&self) -> Option<(f64, f64)> {
        Some((
            f64::from(*self.sorted.first()?),
            f64::from(*self.sorted.last()?),
        ))
    }

    /// The surprise (`−log10` of the probability), under the window's own distribution, of a
    /// value at least as high as `x` (upper tail): the mid-rank share of the window at or above
    /// `x`, and above the window's 90th percentile no more than a normal tail fitted to the
    /// window's upper body (`z = (x − q50) / σ` with `σ = (q90 − q50) / 1.2816`, floored by
    /// `floor`). A value far past the body thus scores by how far, and earlier outliers still in
    /// the window (above q90, outside the body) do not make the next one ordinary. The normal
    /// tail is a sharp guess on purpose: a series whose tails are heavier shows it in the
    /// long-run distribution of its surprises, which discounts them ([`super::tail`]), while a
    /// tail guessed too heavy could never be sharpened. 0 when empty.
    pub fn upper_surprise(&self, x: f64, floor: f64) -> f64 {
        self.side_surprise(x, floor, true)
    }

    /// The lower-tail counterpart of [`SortedWindow::upper_surprise`] (below q10, scaled by
    /// `q50 − q10`).
    pub fn lower_surprise(&self, x: f64, floor: f64) -> f64 {
        self.side_surprise(x, floor, false)
    }

    /// The surprise of `x` on one side: its mid-rank tail among the held values, and beyond
    /// the side's 90 % quantile the normal tail scaled by that quantile's distance from the
    /// median.
    fn side_surprise(&self, x: f64, floor: f64, upper: bool) -> f64 {
        let (up, low) = self.surprises_on(x, floor, upper, !upper);
        up.max(low)
    }

    /// Both sides' surprise of `x`, `(upper, lower)`, from one pair of binary searches (what
    /// [`SortedWindow::upper_surprise`] and [`SortedWindow::lower_surprise`] give apart).
    pub fn surprises(&self, x: f64, floor: f64) -> (f64, f64) {
        self.surprises_on(x, floor, true, true)
    }

    /// The sides asked for (0 for the other).
    fn surprises_on(&self, x: f64, floor: f64, upper: bool, lower: bool) -> (f64, f64) {
        let n = self.sorted.len();
        if n == 0 {
            return (0.0, 0.0);
        }
        let xf = to_f32(x);
        let below = self.sorted.partition_point(|&v| v < xf);
        let at_or_below = below + self.sorted[below..].partition_point(|&v| v <= xf);
        let ties = 0.5 * (at_or_below - below) as f64 + 0.5;
        let q50 = self.quantile_f(0.5);
        let side = |beyond: usize, distance: f64, spread: f64| {
            let rank = -((beyond as f64 + ties) / (n as f64 + 1.0)).log10();
            if distance <= spread {
                return rank;
            }
            let sigma = (spread / Z_90).max(floor);
            rank.max(normal_surprise(distance / sigma))
        };
        let up = if upper {
            side(n - at_or_below, x - q50, self.quantile_f(0.9) - q50)
        } else {
            0.0
        };
        let low = if lower {
            side(below, q50 - x, q50 - self.quantile_f(0.1))
        } else {
            0.0
        };
        (up, low)
    }

    /// [`SortedWindow::quantile`] of a non-empty window.
    fn quantile_f(&self, q: f64) -> f64 {
        self.quantile(q).unwrap_or(0.0)
    }
}

/// The 90th percentile of the standard normal distribution.
const Z_90: f64 = 1.281_551_565_544_600_4;

/// `−log10 P(Z ≥ z)` for a standard normal `Z`, without underflow however large `z`: the
/// Abramowitz–Stegun 7.1.26 approximation of `erfc` up to `z = 3`, the asymptotic series of
/// Mills' ratio beyond (both within 1 % of the probability there). 0 for `z ≤ 0`.
pub fn normal_surprise(z: f64) -> f64 {
    if z <= 0.0 {
        return 0.0;
    }
    if z <= 3.0 {
        let x = z / std::f64::consts::SQRT_2;
        let t = 1.0 / (1.0 + 0.327_591_1 * x);
        let poly = t
            * (0.254_829_592
                + t * (-0.284_496_736
                    + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
        let p = 0.5 * poly * (-x * x).exp();
        return -p.log10();
    }
    let z2 = z * z;
    let series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2);
    let ln_p = -0.5 * z2 - z.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln() + series.ln();
    -ln_p / std::f64::consts::LN_10
}

/// `x` as an `f32`, saturating instead of overflowing to infinity.
fn to_f32(x: f64) -> f32 {
    x.clamp(f64::from(f32::MIN), f64::from(f32::MAX)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_sorted(values: &[f64], capacity: usize) -> Vec<f32> {
        let start = values.len().saturating_sub(capacity);
        let mut v: Vec<f32> = values[start..].iter().map(|&x| x as f32).collect();
        v.sort_by(f32::total_cmp);
        v
    }

    #[test]
    fn stays_sorted_and_holds_the_newest_values() {
        let mut w = SortedWindow::new(7, 0);
        let mut rng = fastrand::Rng::with_seed(3);
        let mut seen = Vec::new();
        for _ in 0..500 {
            // Repeats on purpose: ties must evict the right count.
            let x = f64::from(rng.u8(0..12));
            seen.push(x);
            w.push(x);
            assert_eq!(w.sorted, naive_sorted(&seen, 7));
        }
        assert!(w.is_full());
    }

    #[test]
    fn tails_are_mid_ranks_inside_and_decay_beyond_the_range() {
        let mut w = SortedWindow::new(100, 0);
        for i in 0..100 {
            w.push(f64::from(i));
        }
        let p = |s: f64| 10f64.powf(-s);
        // The median value: about half the window on each side.
        assert!((p(w.upper_surprise(50.0, 1.0)) - 0.5).abs() < 0.02);
        assert!((p(w.lower_surprise(50.0, 1.0)) - 0.51).abs() < 0.02);
        // At the maximum, and ever more surprising beyond it.
        let at_max = w.upper_surprise(99.0, 1.0);
        let beyond = w.upper_surprise(109.0, 1.0);
        assert!(at_max > 1.7 && beyond > at_max, "{at_max} {beyond}");
        assert!(w.upper_surprise(400.0, 1.0) > 10.0);
        assert!(w.lower_surprise(-300.0, 1.0) > 10.0);
        assert_eq!(SortedWindow::new(4, 0).upper_surprise(1.0, 1.0), 0.0);
    }

    #[test]
    fn the_normal_tail_is_accurate_and_never_underflows() {
        for (z, p) in [
            (1.0, 0.158_655),
            (2.0, 0.022_750),
            (3.0, 1.349_9e-3),
            (5.0, 2.866_5e-7),
        ] {
            let got = 10f64.powf(-normal_surprise(z));
            assert!((got / p - 1.0).abs() < 0.01, "z={z}: {got} vs {p}");
        }
        // z = 40: p ≈ 3.7e−350, beyond f64, still a finite surprise.
        let s = normal_surprise(40.0);
        assert!((s - 349.4).abs() < 0.5, "{s}");
        assert_eq!(normal_surprise(-1.0), 0.0);
    }

    #[test]
    fn the_newest_values_wait_before_they_count() {
        let mut w = SortedWindow::new(10, 3);
        for x in [1.0, 2.0, 3.0] {
            w.push(x);
        }
        assert!(w.is_empty());
        w.push(4.0);
        assert_eq!(w.range(), Some((1.0, 1.0)));
        w.push(5.0);
        assert_eq!(w.range(), Some((1.0, 2.0)));
    }

    #[test]
    fn quantiles_interpolate() {
        let mut w = SortedWindow::new(5, 0);
        for x in [5.0, 1.0, 3.0, 2.0, 4.0] {
            w.push(x);
        }
        assert_eq!(w.quantile(0.5), Some(3.0));
        assert_eq!(w.quantile(0.25), Some(2.0));
        assert_eq!(w.quantile(0.125), Some(1.5));
        assert_eq!(w.range(), Some((1.0, 5.0)));
    }
}
