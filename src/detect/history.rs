//! The learned baselines' history of past buckets ([`crate::detect::baseline`]): one value per
//! bucket index, contiguous from the oldest bucket held, a missing bucket an explicit gap. No
//! index is stored per slot: slot `k` after the oldest is bucket `start + k`. O(1) per push
//! and pop (a pop skips the gaps behind the bucket it drops, each gap once).
//!
//! Values are `u16`, kept in one byte a slot until the first value above 254 arrives, then in
//! two, for good (one copy). An errors baseline's values are probes a minute (60 at a 1 s
//! interval), so its 6 h history stays at 361 B instead of 722; a p90 baseline's are latency
//! bucket indices (470 for 40 ms), which widen at the first p90 over ≈ 1.6 ms.

/// The value of a slot that holds no bucket.
pub const GAP: u16 = u16::MAX;

/// A gap in one-byte slots.
const NARROW_GAP: u8 = u8::MAX;

/// The slots, one byte each while every value held fits below [`NARROW_GAP`].
#[derive(Debug, Clone)]
enum Slots {
    Narrow(Box<[u8]>),
    Wide(Box<[u16]>),
}

impl Slots {
    fn len(&self) -> usize {
        match self {
            Slots::Narrow(s) => s.len(),
            Slots::Wide(s) => s.len(),
        }
    }

    /// Slot `i`'s value, [`GAP`] for a gap.
    fn get(&self, i: usize) -> u16 {
        match self {
            Slots::Narrow(s) if s[i] == NARROW_GAP => GAP,
            Slots::Narrow(s) => u16::from(s[i]),
            Slots::Wide(s) => s[i],
        }
    }

    /// Sets slot `i` to `value` ([`GAP`] for a gap), widening the slots when it needs it.
    fn set(&mut self, i: usize, value: u16) {
        if let Slots::Narrow(s) = self {
            if value == GAP {
                s[i] = NARROW_GAP;
                return;
            }
            match u8::try_from(value) {
                Ok(v) if v != NARROW_GAP => {
                    s[i] = v;
                    return;
                }
                _ => {
                    let wide = s
                        .iter()
                        .map(|&v| if v == NARROW_GAP { GAP } else { u16::from(v) })
                        .collect();
                    *self = Slots::Wide(wide);
                }
            }
        }
        if let Slots::Wide(s) = self {
            s[i] = value;
        }
    }
}

/// Past buckets' values by bucket index, oldest first, over at most `capacity` indices.
#[derive(Debug, Clone)]
pub struct History {
    slots: Slots,
    /// Slot of the oldest bucket (never a gap while any bucket is held).
    head: usize,
    /// Indices covered, from the oldest bucket to the newest (gaps included).
    span: usize,
    /// Index of the oldest bucket.
    start: i64,
    /// Buckets held (gaps not counted).
    len: usize,
}

impl History {
    /// A history covering at most `capacity` (at least one) consecutive bucket indices.
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: Slots::Narrow(vec![NARROW_GAP; capacity.max(1)].into_boxed_slice()),
            head: 0,
            span: 0,
            start: 0,
            len: 0,
        }
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest bucket: (index, value).
    pub fn front(&self) -> Option<(i64, u16)> {
        (self.len > 0).then(|| (self.start, self.slots.get(self.head)))
    }

    /// The newest bucket's index.
    pub fn back_index(&self) -> Option<i64> {
        (self.len > 0).then(|| self.start + self.span as i64 - 1)
    }

    /// True when bucket `index` (newer than every bucket held) can be pushed without dropping.
    pub fn fits(&self, index: i64) -> bool {
        self.len == 0 || index - self.start < self.slots.len() as i64
    }

    /// Drops the oldest bucket and returns it.
    pub fn pop_front(&mut self) -> Option<(i64, u16)> {
        let out = self.front()?;
        self.len -= 1;
        loop {
            self.slots.set(self.head, GAP);
            self.head = self.wrap(self.head + 1);
            self.start += 1;
            self.span -= 1;
            if self.span == 0 || self.slots.get(self.head) != GAP {
                break;
            }
        }
        if self.len == 0 {
            self.head = 0;
            self.span = 0;
        }
        Some(out)
    }

    /// Appends bucket `index`, newer than every bucket held, with `value` (not [`GAP`]); the
    /// caller has made room ([`History::fits`]).
    pub fn push(&mut self, index: i64, value: u16) {
        debug_assert!(value != GAP, "a bucket's value cannot be the gap marker");
        debug_assert!(self.back_index().is_none_or(|b| b < index), "out of order");
        debug_assert!(self.fits(index), "no room for bucket {index}");
        if self.len == 0 {
            self.head = 0;
            self.start = index;
            self.span = 0;
        }
        // Slots between the newest bucket and this one are gaps already (pop clears them).
        let offset = (index - self.start) as usize;
        let at = self.wrap(self.head + offset);
        self.slots.set(at, value);
        self.span = offset + 1;
        self.len += 1;
    }

    /// Buckets held, oldest first: (index, value).
    pub fn iter(&self) -> impl Iterator<Item = (i64, u16)> + '_ {
        (0..self.span).filter_map(move |k| {
            let v = self.slots.get(self.wrap(self.head + k));
            (v != GAP).then_some((self.start + k as i64, v))
        })
    }

    /// Buckets held whose value is below `value`: a scan of the slots, O(capacity), which the
    /// baselines ask once per closed bucket (a gap is never below anything).
    pub fn count_below(&self, value: u16) -> usize {
        match &self.slots {
            Slots::Narrow(s) => s
                .iter()
                .filter(|&&v| v != NARROW_GAP && u16::from(v) < value)
                .count(),
            Slots::Wide(s) => s.iter().filter(|&&v| v < value).count(),
        }
    }

    /// Bytes of its slots (on the heap).
    pub fn heap_bytes(&self) -> usize {
        match &self.slots {
            Slots::Narrow(s) => s.len(),
            Slots::Wide(s) => 2 * s.len(),
        }
    }

    /// Slot index `i` wrapped into the buffer (`i` < 2 · capacity).
    fn wrap(&self, i: usize) -> usize {
        if i >= self.slots.len() {
            i - self.slots.len()
        } else {
            i
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_kept_and_skipped() {
        let mut h = History::new(5);
        assert_eq!(h.front(), None);
        h.push(10, 1);
        h.push(12, 3);
        h.push(14, 5);
        assert_eq!(h.iter().collect::<Vec<_>>(), [(10, 1), (12, 3), (14, 5)]);
        assert_eq!(h.len(), 3);
        assert!(h.fits(14) && !h.fits(15));
        assert_eq!(h.count_below(3), 1);
        assert_eq!(h.pop_front(), Some((10, 1)));
        // The gap behind the dropped bucket went with it.
        assert_eq!(h.front(), Some((12, 3)));
        assert!(h.fits(16) && !h.fits(17));
        h.push(16, 7);
        assert_eq!(h.back_index(), Some(16));
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(12, 3), (14, 5), (16, 7)],
            "wrapped around"
        );
        while h.pop_front().is_some() {}
        assert!(h.is_empty());
        assert_eq!(h.back_index(), None);
        assert!(h.fits(1_000));
        h.push(1_000, 0);
        assert_eq!(h.iter().collect::<Vec<_>>(), [(1_000, 0)]);
        assert_eq!(h.count_below(1), 1);
    }

    #[test]
    fn slots_take_one_byte_until_a_value_needs_two() {
        let mut h = History::new(361);
        h.push(0, 60);
        h.push(2, 254);
        assert_eq!(h.heap_bytes(), 361);
        h.push(3, 255);
        assert_eq!(h.heap_bytes(), 722);
        assert_eq!(h.iter().collect::<Vec<_>>(), [(0, 60), (2, 254), (3, 255)]);
        assert_eq!((h.count_below(255), h.count_below(GAP)), (2, 3));
    }

    /// Against a plain list of (index, value), under random pushes with gaps and pops; values
    /// small at first, so the slots start narrow and widen on the way.
    #[test]
    fn matches_a_plain_list() {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut h = History::new(7);
        let mut plain: std::collections::VecDeque<(i64, u16)> = Default::default();
        let mut next = -3;
        for step in 0..20_000 {
            if rng.u8(0..3) == 0 {
                assert_eq!(h.pop_front(), plain.pop_front());
            } else {
                next += rng.i64(1..4);
                while !h.fits(next) {
                    assert_eq!(h.pop_front(), plain.pop_front());
                }
                let v = if step < 10_000 {
                    rng.u16(0..255)
                } else {
                    rng.u16(0..2_000)
                };
                h.push(next, v);
                plain.push_back((next, v));
            }
            assert_eq!(h.len(), plain.len());
            assert!(h.iter().eq(plain.iter().copied()));
            assert_eq!(h.back_index(), plain.back().map(|b| b.0));
            let probe = rng.u16(0..2_000);
            assert_eq!(
                h.count_below(probe),
                plain.iter().filter(|b| b.1 < probe).count()
            );
        }
    }
}
