//! The learned baselines' history of past buckets ([`crate::detect::baseline`]): one `u16` per
//! bucket index, contiguous from the oldest bucket held, a missing bucket an explicit gap. No
//! index is stored per slot: slot `k` after the oldest is bucket `start + k`. Allocated once,
//! O(1) per push and pop (a pop skips the gaps behind the bucket it drops, each gap once).

/// The value of a slot that holds no bucket.
pub const GAP: u16 = u16::MAX;

/// Past buckets' values by bucket index, oldest first, over at most `capacity` indices.
#[derive(Debug, Clone)]
pub struct History {
    slots: Box<[u16]>,
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
            slots: vec![GAP; capacity.max(1)].into_boxed_slice(),
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
        (self.len > 0).then(|| (self.start, self.slots[self.head]))
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
            self.slots[self.head] = GAP;
            self.head = self.wrap(self.head + 1);
            self.start += 1;
            self.span -= 1;
            if self.span == 0 || self.slots[self.head] != GAP {
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
        self.slots[at] = value;
        self.span = offset + 1;
        self.len += 1;
    }

    /// Buckets held, oldest first: (index, value).
    pub fn iter(&self) -> impl Iterator<Item = (i64, u16)> + '_ {
        (0..self.span).filter_map(move |k| {
            let v = self.slots[self.wrap(self.head + k)];
            (v != GAP).then_some((self.start + k as i64, v))
        })
    }

    /// Buckets held whose value is below `value`: a scan of the slots, O(capacity), which the
    /// baselines ask once per closed bucket (a gap is never below anything).
    pub fn count_below(&self, value: u16) -> usize {
        self.slots.iter().filter(|&&v| v < value).count()
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

    /// Against a plain list of (index, value), under random pushes with gaps and pops.
    #[test]
    fn matches_a_plain_list() {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut h = History::new(7);
        let mut plain: std::collections::VecDeque<(i64, u16)> = Default::default();
        let mut next = -3;
        for _ in 0..20_000 {
            if rng.u8(0..3) == 0 {
                assert_eq!(h.pop_front(), plain.pop_front());
            } else {
                next += rng.i64(1..4);
                while !h.fits(next) {
                    assert_eq!(h.pop_front(), plain.pop_front());
                }
                let v = rng.u16(0..2_000);
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
