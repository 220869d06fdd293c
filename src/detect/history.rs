//! The learned baselines' history of past buckets ([`crate::detect::baseline`]): one value per
//! bucket index, contiguous from the oldest bucket held, a missing bucket an explicit gap. No
//! index is stored per slot: slot `k` after the oldest is bucket `start + k`. O(1) per push
//! and pop (a pop skips the gaps behind the bucket it drops, each gap once).
//!
//! Values are `u16`, each kept as a code of 4, 8 or 16 bits: the value less a base. A history
//! starts at 4 bits a slot and keeps that width while the values held span less than 15; a
//! value outside the codes' span moves the base, centring it on the values held and the new
//! one; when they span more, the slots double their width (one copy), for good, up to 16 bits
//! (base 0, the value itself). An errors baseline's values are probes a minute (59 to 61 at a
//! 1 s interval: 4 bits); a p90 baseline's are latency bucket indices, 1 % apart, so 4 bits
//! hold p90s within 15 % of each other and 8 bits within a factor of 12 (254 buckets:
//! 1.01^254 ≈ 12.5). A 6 h history (361 slots) is then 181 B, 361 B or 722 B.

/// The value of a slot that holds no bucket.
pub const GAP: u16 = u16::MAX;

/// Past buckets' values by bucket index, oldest first, over at most `capacity` indices.
#[derive(Debug, Clone)]
pub struct History {
    /// The slots' codes, `bits` each (two to a byte at 4 bits; native-endian at 16); the
    /// all-ones code is a gap.
    slots: Box<[u8]>,
    /// Index of the oldest bucket.
    start: i64,
    /// Slot of the oldest bucket (never a gap while any bucket is held).
    head: u32,
    /// Indices covered, from the oldest bucket to the newest (gaps included).
    span: u32,
    /// Buckets held (gaps not counted).
    len: u32,
    /// What a code counts from (0 at 16 bits).
    base: u16,
    /// Bits a slot: 4, 8 or 16.
    bits: u8,
    /// Slots the buffer has beyond the capacity (1 for an odd capacity at 4 bits).
    spare: u8,
}

/// Bytes of `capacity` slots of `bits` bits.
fn bytes_for(capacity: usize, bits: u8) -> usize {
    (capacity * usize::from(bits)).div_ceil(8)
}

impl History {
    /// A history covering at most `capacity` (at least one, below 2³¹) consecutive bucket
    /// indices.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, i32::MAX as usize);
        Self {
            slots: vec![u8::MAX; bytes_for(capacity, 4)].into_boxed_slice(),
            start: 0,
            head: 0,
            span: 0,
            len: 0,
            base: 0,
            bits: 4,
            spare: (capacity % 2) as u8,
        }
    }

    /// Buckets held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest bucket: (index, value).
    pub fn front(&self) -> Option<(i64, u16)> {
        (self.len > 0).then(|| (self.start, self.get(self.head as usize)))
    }

    /// The newest bucket's index.
    pub fn back_index(&self) -> Option<i64> {
        (self.len > 0).then(|| self.start + i64::from(self.span) - 1)
    }

    /// True when bucket `index` (newer than every bucket held) can be pushed without dropping.
    pub fn fits(&self, index: i64) -> bool {
        self.len == 0 || index - self.start < self.capacity() as i64
    }

    /// Drops the oldest bucket and returns it.
    pub fn pop_front(&mut self) -> Option<(i64, u16)> {
        let out = self.front()?;
        self.len -= 1;
        loop {
            self.set(self.head as usize, GAP);
            self.head = self.wrap(self.head as usize + 1) as u32;
            self.start += 1;
            self.span -= 1;
            if self.span == 0 || self.get(self.head as usize) != GAP {
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
        let at = self.wrap(self.head as usize + offset);
        self.set(at, value);
        self.span = offset as u32 + 1;
        self.len += 1;
    }

    /// Buckets held, oldest first: (index, value).
    pub fn iter(&self) -> impl Iterator<Item = (i64, u16)> + '_ {
        (0..self.span as usize).filter_map(move |k| {
            let v = self.get(self.wrap(self.head as usize + k));
            (v != GAP).then_some((self.start + k as i64, v))
        })
    }

    /// Buckets held whose value is below `value`: a scan of the slots, O(capacity), which the
    /// baselines ask once per closed bucket (a gap is never below anything).
    pub fn count_below(&self, value: u16) -> usize {
        let Some(limit) = value.checked_sub(self.base) else {
            return 0;
        };
        // A gap's code is the largest, never below `limit` (itself at most the gap's code,
        // or larger, when every code held is below it).
        let limit = u32::from(limit).min(self.gap_code());
        (0..self.capacity())
            .filter(|&i| self.code(i) < limit)
            .count()
    }

    /// Bytes of its slots (on the heap).
    pub fn heap_bytes(&self) -> usize {
        self.slots.len()
    }

    /// Indices it covers at most.
    fn capacity(&self) -> usize {
        self.slots.len() * 8 / usize::from(self.bits) - usize::from(self.spare)
    }

    /// The code of a gap (all ones), one more than the largest code of a value.
    fn gap_code(&self) -> u32 {
        (1 << self.bits) - 1
    }

    /// Slot `i`'s code.
    fn code(&self, i: usize) -> u32 {
        match self.bits {
            4 => u32::from(self.slots[i / 2] >> (4 * (i % 2)) & 0x0f),
            8 => u32::from(self.slots[i]),
            _ => u32::from(u16::from_ne_bytes([
                self.slots[2 * i],
                self.slots[2 * i + 1],
            ])),
        }
    }

    /// Sets slot `i`'s code (below 2^`bits`).
    fn put(&mut self, i: usize, code: u32) {
        match self.bits {
            4 => {
                let shift = 4 * (i % 2);
                let byte = &mut self.slots[i / 2];
                *byte = *byte & !(0x0f << shift) | ((code as u8) << shift);
            }
            8 => self.slots[i] = code as u8,
            _ => self.slots[2 * i..2 * i + 2].copy_from_slice(&(code as u16).to_ne_bytes()),
        }
    }

    /// Slot `i`'s value, [`GAP`] for a gap.
    fn get(&self, i: usize) -> u16 {
        match self.code(i) {
            c if c == self.gap_code() => GAP,
            c => self.base + c as u16,
        }
    }

    /// The code of `value` at the present width and base, if it has one.
    fn code_of(&self, value: u16) -> Option<u32> {
        if value == GAP {
            return Some(self.gap_code());
        }
        value
            .checked_sub(self.base)
            .map(u32::from)
            .filter(|&d| d < self.gap_code())
    }

    /// Sets slot `i` to `value` ([`GAP`] for a gap), first moving the base, or else widening
    /// the slots, when its code cannot hold it.
    fn set(&mut self, i: usize, value: u16) {
        loop {
            if let Some(code) = self.code_of(value) {
                self.put(i, code);
                return;
            }
            if !self.rebase(value) {
                self.widen();
            }
        }
    }

    /// Moves the base so that the codes hold `value` too, if the values held and it span less
    /// than the gap's code: the slack split evenly below and above. O(capacity), once per
    /// value that falls outside.
    fn rebase(&mut self, value: u16) -> bool {
        let gap = self.gap_code();
        let (low, high) = (0..self.capacity())
            .map(|i| self.get(i))
            .filter(|&v| v != GAP)
            .fold((value, value), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let spread = u32::from(high - low);
        if spread >= gap {
            return false;
        }
        let base = low.saturating_sub(((gap - 1 - spread) / 2) as u16);
        for i in 0..self.capacity() {
            let code = self.code(i);
            if code != gap {
                self.put(i, code + u32::from(self.base) - u32::from(base));
            }
        }
        self.base = base;
        true
    }

    /// Doubles the slots' width, values kept (16 bits count from 0). At most twice in a
    /// history's life.
    fn widen(&mut self) {
        let values: Vec<u16> = (0..self.capacity()).map(|i| self.get(i)).collect();
        self.bits *= 2;
        self.spare = 0;
        if self.bits == 16 {
            self.base = 0;
        }
        self.slots = vec![0; bytes_for(values.len(), self.bits)].into_boxed_slice();
        for (i, &v) in values.iter().enumerate() {
            let code = self
                .code_of(v)
                .expect("a wider code holds every value held");
            self.put(i, code);
        }
    }

    /// Slot index `i` wrapped into the buffer (`i` < 2 · capacity).
    fn wrap(&self, i: usize) -> usize {
        let capacity = self.capacity();
        if i >= capacity { i - capacity } else { i }
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
        assert_eq!(h.heap_bytes(), 361);
        // 255 is the gap's byte at base 0; the values span 195: the base moves instead.
        h.push(3, 255);
        assert_eq!(h.heap_bytes(), 361);
        assert_eq!((h.count_below(255), h.count_below(GAP)), (2, 3));
        h.push(4, 400);
        assert_eq!(h.heap_bytes(), 722);
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
        assert_eq!(h.heap_bytes(), 361);
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
        assert_eq!(h.heap_bytes(), 361);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(10, 2_000), (11, 1_900), (12, 2_150)]
        );
        assert_eq!((h.count_below(1_901), h.count_below(2_151)), (1, 3));
        h.push(13, 342);
        assert_eq!(h.heap_bytes(), 722);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [(10, 2_000), (11, 1_900), (12, 2_150), (13, 342)]
        );
        assert_eq!(h.count_below(1_950), 2);
    }

    #[test]
    fn a_steady_probe_rate_stays_at_four_bits_a_slot() {
        let mut h = History::new(361);
        for i in 0..361 {
            h.push(i, 59 + (i % 3) as u16);
        }
        assert_eq!(h.heap_bytes(), 181);
        assert_eq!(
            (h.count_below(60), h.count_below(61), h.count_below(62)),
            (121, 241, 361)
        );
        assert_eq!(h.pop_front(), Some((0, 59)));
        // 72 is outside 54..=68 but the values span 14: the base moves, four bits still.
        h.push(361, 72);
        assert_eq!(h.heap_bytes(), 181);
        assert_eq!(h.count_below(72), 360);
        assert_eq!(h.iter().last(), Some((361, 72)));
        // 120 spans more than four bits hold: one byte a slot, values kept.
        h.pop_front();
        h.push(362, 120);
        assert_eq!(h.heap_bytes(), 361);
        assert_eq!(h.iter().next(), Some((2, 61)));
        assert_eq!((h.count_below(72), h.count_below(121)), (359, 361));
    }

    /// Against a plain list of (index, value), under random pushes with gaps and pops; values
    /// within four bits' span at first, then one byte's, then any, so the slots start narrow
    /// and widen twice on the way.
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
                let v = if step < 7_000 {
                    rng.u16(1_000..1_014)
                } else if step < 14_000 {
                    rng.u16(1_000..1_127)
                } else {
                    rng.u16(0..2_000)
                };
                h.push(next, v);
                plain.push_back((next, v));
            }
            assert_eq!(h.len(), plain.len());
            match step {
                6_999 => assert_eq!(h.heap_bytes(), 4, "still four bits a slot"),
                13_999 => assert_eq!(h.heap_bytes(), 7, "still one byte a slot"),
                19_999 => assert_eq!(h.heap_bytes(), 14, "two bytes a slot"),
                _ => {}
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
