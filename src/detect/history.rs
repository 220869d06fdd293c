//! The learned baselines' history of past buckets ([`crate::detect::baseline`]): one value per
//! bucket index, contiguous from the oldest bucket held, a missing bucket an explicit gap. No
//! index is stored per slot: slot `k` after the oldest is bucket `start + k`. O(1) per pop and,
//! amortised, per push (a pop skips the gaps behind the bucket it drops, each gap once; a push
//! that outgrows the room copies the slots once).
//!
//! Values are `u16`, kept in one byte a slot (the value less a base) while the values held
//! span less than 255: a value outside the byte's span moves the base, centring it on the
//! values held and the new one (a value an empty history's base cannot hold gets a base 127
//! below it, saturating at 0); when they span more, the slots take two bytes, for good (one
//! copy). An errors baseline's values are probes a minute (60 at a 1 s interval); a p90
//! baseline's are latency bucket indices, 1 % apart, so one byte holds p90s up to 12 times
//! apart (254 buckets: 1.01^254 ≈ 12.5). A 6 h history is then 361 B, not 722.
//!
//! The slots grow with what is held, to the capacity: a history holds as many bytes as the
//! span of buckets it has learned (at least [`MIN_ROOM`], then half as many again at a time),
//! and reaches its 361 B when six hours of one-minute buckets are in. A monitor that has just
//! started holds minutes, not hours (a warm-started one loads its hours at once). A growth
//! copies the slots once, oldest first: ten times in a 6 h history's life.

/// The value of a slot that holds no bucket.
pub const GAP: u16 = u16::MAX;

/// A gap in one-byte slots.
const NARROW_GAP: u8 = u8::MAX;

/// The fewest slots a history allocates (at its first bucket).
pub const MIN_ROOM: usize = 8;

/// Past buckets' values by bucket index, oldest first, over at most `capacity` indices.
#[derive(Debug, Clone)]
pub struct History {
    /// One byte a slot (the value less `base`, [`NARROW_GAP`] a gap) or, once `wide`, two
    /// (a native-endian `u16`, [`GAP`] a gap): the ring's room, which grows to `capacity`.
    slots: Box<[u8]>,
    /// Index of the oldest bucket.
    start: i64,
    /// Slot of the oldest bucket (never a gap while any bucket is held).
    head: u16,
    /// Indices covered, from the oldest bucket to the newest (gaps included).
    span: u16,
    /// Buckets held (gaps not counted).
    len: u16,
    /// Indices it covers at most. (`u16`s: a baseline's history is at most 10 081 slots, and
    /// with them the capacity fits in the 40 B the fixed-size ring took.)
    capacity: u16,
    /// What a one-byte slot's value is counted from.
    base: u16,
    wide: bool,
}

impl History {
    /// A history covering at most `capacity` (at least one, at most 65 535) consecutive
    /// bucket indices. Allocates nothing until its first bucket.
    pub fn new(capacity: usize) -> Self {
        debug_assert!(
            capacity <= usize::from(u16::MAX),
            "a history of {capacity} slots"
        );
        Self {
            slots: Box::default(),
            start: 0,
            head: 0,
            span: 0,
            len: 0,
            capacity: capacity.clamp(1, usize::from(u16::MAX)) as u16,
            base: 0,
            wide: false,
        }
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest bucket: (index, value).
    pub fn front(&self) -> Option<(i64, u16)> {
        (self.len > 0).then(|| (self.start, self.get(usize::from(self.head))))
    }

    /// The newest bucket's index.
    pub fn back_index(&self) -> Option<i64> {
        (self.len > 0).then(|| self.start + i64::from(self.span) - 1)
    }

    /// True when bucket `index` (newer than every bucket held) can be pushed without dropping.
    pub fn fits(&self, index: i64) -> bool {
        self.len == 0 || index - self.start < i64::from(self.capacity)
    }

    /// Drops the oldest bucket and returns it.
    pub fn pop_front(&mut self) -> Option<(i64, u16)> {
        let out = self.front()?;
        self.len -= 1;
        loop {
            self.set(usize::from(self.head), GAP);
            self.head = self.wrap(usize::from(self.head) + 1) as u16;
            self.start += 1;
            self.span -= 1;
            if self.span == 0 || self.get(usize::from(self.head)) != GAP {
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
        if offset >= self.room() {
            self.grow(offset + 1);
        }
        let at = self.wrap(usize::from(self.head) + offset);
        self.set(at, value);
        self.span = offset as u16 + 1;
        self.len += 1;
    }

    /// Buckets held, oldest first: (index, value).
    pub fn iter(&self) -> impl Iterator<Item = (i64, u16)> + '_ {
        (0..usize::from(self.span)).filter_map(move |k| {
            let v = self.get(self.wrap(usize::from(self.head) + k));
            (v != GAP).then_some((self.start + k as i64, v))
        })
    }

    /// Buckets held whose value is below `value`: a scan of the slots, O(capacity), which the
    /// baselines ask once per closed bucket (a gap is never below anything).
    pub fn count_below(&self, value: u16) -> usize {
        if self.wide {
            return self
                .slots
                .chunks_exact(2)
                .filter(|b| u16::from_ne_bytes([b[0], b[1]]) < value)
                .count();
        }
        let Some(limit) = value.checked_sub(self.base) else {
            return 0;
        };
        self.slots
            .iter()
            .filter(|&&b| b != NARROW_GAP && u16::from(b) < limit)
            .count()
    }

    /// Bytes of its slots (on the heap).
    pub fn heap_bytes(&self) -> usize {
        self.slots.len()
    }

    /// Bytes a slot takes.
    fn width(&self) -> usize {
        if self.wide { 2 } else { 1 }
    }

    /// Slots allocated (at most the capacity).
    fn room(&self) -> usize {
        self.slots.len() / self.width()
    }

    /// Makes room for at least `needed` slots (at most the capacity): half as many again as
    /// now, at least [`MIN_ROOM`], the buckets held copied oldest first (the oldest to slot 0).
    fn grow(&mut self, needed: usize) {
        let room = needed
            .max(self.room() + self.room() / 2)
            .max(MIN_ROOM)
            .min(usize::from(self.capacity));
        let width = self.width();
        // Both gaps are all ones: `NARROW_GAP`, and `GAP` in either byte order.
        let mut slots = vec![NARROW_GAP; room * width].into_boxed_slice();
        for k in 0..usize::from(self.span) {
            let from = self.wrap(usize::from(self.head) + k) * width;
            slots[k * width..(k + 1) * width].copy_from_slice(&self.slots[from..from + width]);
        }
        self.slots = slots;
        self.head = 0;
    }

    /// Slot `i`'s value, [`GAP`] for a gap.
    fn get(&self, i: usize) -> u16 {
        if self.wide {
            u16::from_ne_bytes([self.slots[2 * i], self.slots[2 * i + 1]])
        } else {
            match self.slots[i] {
                NARROW_GAP => GAP,
                b => self.base + u16::from(b),
            }
        }
    }

    /// Sets slot `i` to `value` ([`GAP`] for a gap), first moving to two bytes a slot when
    /// one cannot hold it.
    fn set(&mut self, i: usize, value: u16) {
        if !self.wide {
            let byte = match value {
                GAP => Some(NARROW_GAP),
                v => v
                    .checked_sub(self.base)
                    .and_then(|d| u8::try_from(d).ok())
                    .filter(|&d| d != NARROW_GAP),
            };
            if let Some(b) = byte {
                self.slots[i] = b;
                return;
            }
            if self.rebase(value) {
                self.slots[i] = (value - self.base) as u8;
                return;
            }
            self.widen();
        }
        self.slots[2 * i..2 * i + 2].copy_from_slice(&value.to_ne_bytes());
    }

    /// Moves the base of one-byte slots so that they hold `value` too, if the values held and
    /// it span less than 255: the slack split evenly below and above. O(capacity), once per
    /// value that falls outside.
    fn rebase(&mut self, value: u16) -> bool {
        let held = self.slots.iter().filter(|&&b| b != NARROW_GAP);
        let (low, high) = held.fold((value, value), |(lo, hi), &b| {
            let v = self.base + u16::from(b);
            (lo.min(v), hi.max(v))
        });
        let spread = high - low;
        if spread >= u16::from(NARROW_GAP) {
            return false;
        }
        let base = low.saturating_sub((u16::from(NARROW_GAP) - 1 - spread) / 2);
        let old = self.base;
        for b in self.slots.iter_mut().filter(|b| **b != NARROW_GAP) {
            *b = (old + u16::from(*b) - base) as u8;
        }
        self.base = base;
        true
    }

    /// Moves to two bytes a slot, values kept.
    fn widen(&mut self) {
        let wide: Box<[u8]> = (0..self.slots.len())
            .flat_map(|i| self.get(i).to_ne_bytes())
            .collect();
        self.slots = wide;
        self.wide = true;
    }

    /// Slot index `i` wrapped into the buffer (`i` < 2 · room).
    fn wrap(&self, i: usize) -> usize {
        let room = self.room();
        if i >= room { i - room } else { i }
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
    fn slots_take_one_byte_until_the_values_span_more_than_it() {
        let mut h = History::new(361);
        h.push(0, 60); // base 0: 0..=254 in one byte
        h.push(2, 254);
        assert_eq!(h.heap_bytes(), MIN_ROOM);
        // 255 is the gap's byte at base 0; the values span 195: the base moves instead.
        h.push(3, 255);
        assert_eq!(h.heap_bytes(), MIN_ROOM);
        assert_eq!((h.count_below(255), h.count_below(GAP)), (2, 3));
        h.push(4, 400);
        assert_eq!(h.heap_bytes(), 2 * MIN_ROOM);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(0, 60), (2, 254), (3, 255), (4, 400)]
        );
        assert_eq!((h.count_below(255), h.count_below(GAP)), (2, 4));
    }

    #[test]
    fn one_byte_slots_count_from_a_base_near_the_first_value() {
        let mut h = History::new(361);
        h.push(0, 470); // a p90 of ≈ 40 ms: one byte holds 343..=597
        h.push(1, 597);
        h.push(2, 343);
        assert_eq!(h.heap_bytes(), MIN_ROOM);
        assert_eq!(
            (h.count_below(300), h.count_below(344), h.count_below(598)),
            (0, 1, 3)
        );
        while h.pop_front().is_some() {}
        // Empty: the base moves to the next first value.
        h.push(10, 2_000);
        h.push(11, 1_900);
        // Outside 1 873..=2 127, but the three span 250: the base moves, one byte still.
        h.push(12, 2_150);
        assert_eq!(h.heap_bytes(), MIN_ROOM);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(10, 2_000), (11, 1_900), (12, 2_150)]
        );
        assert_eq!((h.count_below(1_901), h.count_below(2_151)), (1, 3));
        h.push(13, 342);
        assert_eq!(h.heap_bytes(), 2 * MIN_ROOM);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(10, 2_000), (11, 1_900), (12, 2_150), (13, 342)]
        );
        assert_eq!(h.count_below(1_950), 2);
    }

    /// Six hours of one-minute buckets: the slots grow with them, one byte each, to the
    /// capacity, and then wrap.
    #[test]
    fn slots_grow_with_the_buckets_held_to_the_capacity() {
        let mut h = History::new(361);
        assert_eq!(h.heap_bytes(), 0);
        let mut rooms = vec![];
        for i in 0..400 {
            if !h.fits(i) {
                h.pop_front();
            }
            h.push(i, 60 + (i % 3) as u16);
            if rooms.last() != Some(&h.heap_bytes()) {
                rooms.push(h.heap_bytes());
            }
        }
        assert_eq!(rooms, [8, 12, 18, 27, 40, 60, 90, 135, 202, 303, 361]);
        assert_eq!(h.len(), 361);
        assert!(h.iter().map(|b| b.0).eq(39..400));
    }

    /// Against a plain list of (index, value), under random pushes with gaps and pops; values
    /// within one byte's span at first, so the slots start narrow and widen on the way; the
    /// larger capacities grow after the ring has wrapped.
    #[test]
    fn matches_a_plain_list() {
        for capacity in [7, 50, 300] {
            matches_a_plain_list_at(capacity);
        }
    }

    fn matches_a_plain_list_at(capacity: usize) {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut h = History::new(capacity);
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
                    rng.u16(1_000..1_127)
                } else {
                    rng.u16(0..2_000)
                };
                h.push(next, v);
                plain.push_back((next, v));
            }
            assert_eq!(h.len(), plain.len());
            if step == 9_999 {
                assert_eq!(h.heap_bytes(), capacity, "still one byte a slot");
            }
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
