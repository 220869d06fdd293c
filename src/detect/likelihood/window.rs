//! A sliding window of the last `capacity` values, kept in arrival order and in sorted order at
//! once, so that the tail probability of a new value against the window is two binary searches.
//! The newest `delay` values wait in a short queue before they join it: a value is judged
//! against the series as it was before the last few rows, so that a creep or a run of high
//! values is not judged against itself.
//!
//! Values are stored once, as `f32`, in a ring in arrival order: the window only ranks them, and
//! half the bytes matter for a monitor holding thousands of series. The sorted order is a list of
//! the ring's slot numbers ordered by their values — one byte a value for windows of up to 256 (the
//! default is 128), four beyond — instead of a second copy of the values: 5 bytes a value instead
//! of 8. Ring and order share one allocation (the order in the words after the values, seen as
//! bytes): one boxed slice in the window instead of a boxed slice and a `Vec` of either width, 24 B
//! less a window. The waiting values sit inline (at most [`MAX_DELAY`]). Allocated once in `new`; a
//! push is two binary searches and one `memmove` of the slot numbers between the evicted value and
//! the new one.

use zerocopy::{FromBytes, IntoBytes};

/// The most values a window keeps waiting before they join it.
pub const MAX_DELAY: usize = 8;

/// The largest window whose slot numbers fit in a byte each (the order's narrow width).
const NARROW_MAX: usize = 256;

/// The last `capacity` values before the newest `delay`, oldest first and sorted.
#[derive(Debug, Clone)]
pub struct SortedWindow {
    /// The newest values, not yet in the window.
    waiting: Waiting,
    /// Slots (at least 2).
    capacity: u32,
    /// Slot `head` holds the oldest value once the window is full.
    head: u32,
    /// Values held.
    len: u32,
    /// The window's values by slot (`capacity` of them), then the slots holding a value in
    /// ascending order of their values: one byte a slot number in the words that follow
    /// while `capacity` is at most [`NARROW_MAX`], a word each beyond ([`SortedWindow::order_words`]).
    buf: Box<[f32]>,
}

/// The newest values of a window, oldest first, before they join it: a ring of at most
/// [`MAX_DELAY`] kept inline (a boxed one cost 32 B more a window on the heap).
#[derive(Debug, Clone)]
struct Waiting {
    buf: [f32; MAX_DELAY],
    head: u8,
    len: u8,
    capacity: u8,
}

impl Waiting {
    fn new(capacity: usize) -> Self {
        Self {
            buf: [0.0; MAX_DELAY],
            head: 0,
            len: 0,
            capacity: capacity.min(MAX_DELAY) as u8,
        }
    }

    /// Adds `x` as the newest; returns the value that is due (the oldest, once full; `x`
    /// itself when nothing waits).
    fn push(&mut self, x: f32) -> Option<f32> {
        let capacity = usize::from(self.capacity);
        if capacity == 0 {
            return Some(x);
        }
        let head = usize::from(self.head);
        if usize::from(self.len) < capacity {
            self.buf[(head + usize::from(self.len)) % capacity] = x;
            self.len += 1;
            return None;
        }
        let due = std::mem::replace(&mut self.buf[head], x);
        self.head = ((head + 1) % capacity) as u8;
        Some(due)
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// Slot numbers of a window, sorted by value (the whole room, `capacity` entries, of which
/// the window's `len` first are held): bytes where the window's slots fit in one.
enum Order<T, U> {
    Narrow(T),
    Wide(U),
}

/// One slot number in an [`Order`].
trait SlotIndex: Copy + Eq {
    fn of(slot: usize) -> Self;
    fn slot(self) -> usize;
}

impl SlotIndex for u8 {
    fn of(slot: usize) -> Self {
        slot as u8
    }
    fn slot(self) -> usize {
        usize::from(self)
    }
}

impl SlotIndex for u32 {
    fn of(slot: usize) -> Self {
        slot as u32
    }
    fn slot(self) -> usize {
        self as usize
    }
}

/// Runs `$body` with `$o` bound to the order's slot list, whatever its width.
macro_rules! with_order {
    ($order:expr, $o:ident => $body:expr) => {
        match $order {
            Order::Narrow($o) => $body,
            Order::Wide($o) => $body,
        }
    };
}

/// The first position of `order` whose value is not below `x` (`strict`: not at or below).
fn rank_of<I: SlotIndex>(order: &[I], values: &[f32], x: f32, strict: bool) -> usize {
    if strict {
        order.partition_point(|&i| values[i.slot()] <= x)
    } else {
        order.partition_point(|&i| values[i.slot()] < x)
    }
}

/// Puts slot `slot`, whose value is now `x`, into `order` (room for every slot, the first
/// `len` held) in place of its old value `old` (`full`), or as a new entry: one shift of the
/// slot numbers between the two places.
fn place<I: SlotIndex>(
    order: &mut [I],
    len: usize,
    values: &[f32],
    slot: usize,
    old: Option<f32>,
    x: f32,
) {
    let to = rank_of(&order[..len], values, x, false);
    let Some(old) = old else {
        order.copy_within(to..len, to + 1);
        order[to] = I::of(slot);
        return;
    };
    let order = &mut order[..len];
    // The evicted entry: the one naming `slot` among the entries equal to `old`.
    let first = rank_of(order, values, old, false);
    let from = first
        + order[first..]
            .iter()
            .position(|&i| i.slot() == slot)
            .expect("every held slot is in the order");
    if to > from {
        // x goes after old: shift (from, to) left by one.
        order.copy_within(from + 1..to, from);
        order[to - 1] = I::of(slot);
    } else {
        // x goes at or before old: shift [to, from) right by one.
        order.copy_within(to..from, to + 1);
        order[to] = I::of(slot);
    }
}

impl SortedWindow {
    /// A window of `capacity` values (at least 2, below 2³²), each joining it `delay` pushes
    /// late (at most [`MAX_DELAY`]).
    pub fn new(capacity: usize, delay: usize) -> Self {
        debug_assert!(delay <= MAX_DELAY, "a delay of {delay} rows");
        let capacity = capacity.clamp(2, u32::MAX as usize);
        Self {
            waiting: Waiting::new(delay),
            capacity: capacity as u32,
            head: 0,
            len: 0,
            buf: vec![0.0; capacity + Self::order_words(capacity)].into_boxed_slice(),
        }
    }

    /// Words after the values that hold the order of a window of `capacity`.
    fn order_words(capacity: usize) -> usize {
        if capacity <= NARROW_MAX {
            capacity.div_ceil(4)
        } else {
            capacity
        }
    }

    /// The values by slot, and the order's room.
    fn parts(&self) -> (&[f32], Order<&[u8], &[u32]>) {
        let capacity = self.capacity as usize;
        let (values, rest) = self.buf.split_at(capacity);
        let order = if capacity <= NARROW_MAX {
            Order::Narrow(&rest.as_bytes()[..capacity])
        } else {
            Order::Wide(<[u32]>::ref_from_bytes(rest.as_bytes()).expect("words are aligned"))
        };
        (values, order)
    }

    /// [`SortedWindow::parts`], to change.
    fn parts_mut(&mut self) -> (&mut [f32], Order<&mut [u8], &mut [u32]>) {
        let capacity = self.capacity as usize;
        let (values, rest) = self.buf.split_at_mut(capacity);
        let order = if capacity <= NARROW_MAX {
            Order::Narrow(&mut rest.as_mut_bytes()[..capacity])
        } else {
            Order::Wide(<[u32]>::mut_from_bytes(rest.as_mut_bytes()).expect("words are aligned"))
        };
        (values, order)
    }

    /// Bytes this window holds on the heap (its one buffer, allocated once).
    pub fn heap_bytes(&self) -> usize {
        self.buf.len() * std::mem::size_of::<f32>()
    }

    /// Values held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the window holds `capacity` values.
    pub fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        self.waiting.clear();
        self.head = 0;
        self.len = 0;
    }

    /// Adds `x` as the newest value; the value `delay` pushes older joins the window, evicting
    /// its oldest when full. Non-finite values must be filtered by the caller (they would not
    /// sort).
    pub fn push(&mut self, x: f64) {
        if let Some(due) = self.waiting.push(to_f32(x)) {
            self.insert(due);
        }
    }

    fn insert(&mut self, x: f32) {
        let len = self.len();
        let full = self.is_full();
        let slot = if full { self.head as usize } else { len };
        if full {
            self.head = if self.head + 1 == self.capacity {
                0
            } else {
                self.head + 1
            };
        } else {
            self.len += 1;
        }
        // The order is searched with the old value still in its slot (that is how the evicted
        // entry is found); then the slot takes `x`, at the place `x` sorts.
        let (values, order) = self.parts_mut();
        let old = full.then(|| values[slot]);
        with_order!(order, o => place(o, len, values, slot, old, x));
        values[slot] = x;
    }

    /// The `k`-th smallest value held (`k < len`).
    #[cfg(test)]
    fn nth(&self, k: usize) -> f32 {
        self.nth_pair(k, k).0
    }

    /// The `a`-th and `b`-th smallest values held (both below `len`), from one look at the
    /// buffer.
    fn nth_pair(&self, a: usize, b: usize) -> (f32, f32) {
        let (values, order) = self.parts();
        with_order!(order, o => (values[o[a].slot()], values[o[b].slot()]))
    }

    /// How many held values are below `x`, and how many are at or below it.
    fn ranks(&self, x: f32) -> (usize, usize) {
        let (values, order) = self.parts();
        with_order!(order, o => {
            let o = &o[..self.len()];
            let below = rank_of(o, values, x, false);
            (below, below + rank_of(&o[below..], values, x, true))
        })
    }

    /// The `q`-quantile (0..=1) by linear interpolation between order statistics; `None`
    /// when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
        let lo = pos as usize;
        let hi = (lo + 1).min(n - 1);
        let frac = pos - lo as f64;
        let (a, b) = self.nth_pair(lo, hi);
        let (a, b) = (f64::from(a), f64::from(b));
        Some(a + (b - a) * frac)
    }

    /// The smallest and largest value; `None` when empty.
    pub fn range(&self) -> Option<(f64, f64)> {
        let n = self.len();
        (n > 0).then(|| {
            let (lo, hi) = self.nth_pair(0, n - 1);
            (f64::from(lo), f64::from(hi))
        })
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
        let n = self.len();
        if n == 0 {
            return (0.0, 0.0);
        }
        let (below, at_or_below) = self.ranks(to_f32(x));
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
        // Both widths of the order (one byte a slot up to 256 slots, four beyond).
        for capacity in [7, 256, 300] {
            let mut w = SortedWindow::new(capacity, 0);
            let mut rng = fastrand::Rng::with_seed(3);
            let mut seen = Vec::new();
            for _ in 0..4 * capacity + 100 {
                // Repeats on purpose: ties must evict the right count.
                let x = f64::from(rng.u8(0..12));
                seen.push(x);
                w.push(x);
                let held: Vec<f32> = (0..w.len()).map(|k| w.nth(k)).collect();
                assert_eq!(held, naive_sorted(&seen, capacity), "capacity {capacity}");
            }
            assert!(w.is_full());
            w.clear();
            assert!(w.is_empty());
            w.push(5.0);
            assert_eq!(w.range(), Some((5.0, 5.0)));
        }
    }

    #[test]
    fn a_slot_list_costs_a_byte_a_value_up_to_256() {
        assert_eq!(SortedWindow::new(128, 8).heap_bytes(), 128 * 4 + 128);
        assert_eq!(SortedWindow::new(7, 0).heap_bytes(), 7 * 4 + 8);
        assert_eq!(SortedWindow::new(300, 0).heap_bytes(), 300 * 4 + 300 * 4);
        // One boxed slice and three counts besides the waiting values.
        assert_eq!(std::mem::size_of::<SortedWindow>(), 64);
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
