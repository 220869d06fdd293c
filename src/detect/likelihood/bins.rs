//! The mass of a surprise histogram, kept sparse: only the bins that ever received a row.
//!
//! A series' surprises crowd into a few bins. Most rows surprise nobody (bin 0), and a calm
//! latency series may put every row there for hours. A dense array of 64 `f32`s cost each
//! tail 256 B, four tails a latency series, to hold mostly zeros. Here a tail holds the bins
//! it has used, as `(bin, mass)` pairs in ascending order of bin: three inline, the rest
//! spilled to the heap as a series finds new bins, room for one more each time (at most 64
//! bins ever: a tail reallocates at most 61 times in its life, never per row, and holds no
//! room it does not use). A tail whose rows reached every bin holds 512 B of pairs where the
//! dense array held 256: the sparse form pays off while a tail uses fewer than half its bins,
//! which is every calm series.
//!
//! The arithmetic is the dense array's, exactly: a bin that never received a row reads 0, a
//! sum skips only zeros, and [`Bins::dense`] rebuilds the full array for the scans that want
//! it.

use smallvec::SmallVec;

use super::tail::BINS;

/// Bins kept inline before the list spills to the heap: with three, a tail is 96 B and a
/// latency series' four tails fill mimalloc's 384 B class, as two would (88 B, 352 B).
const INLINE: usize = 3;

/// The used bins of a histogram and their mass, ascending by bin.
#[derive(Debug, Clone, Default)]
pub(super) struct Bins {
    used: SmallVec<[(u8, f32); INLINE]>,
}

impl Bins {
    /// Adds `mass` to bin `b` (below [`BINS`]).
    pub(super) fn add(&mut self, b: usize, mass: f32) {
        debug_assert!(b < BINS);
        let b = b as u8;
        // A scan from the lowest bin: most rows land in the first few.
        let i = self.used.iter().take_while(|&&(bin, _)| bin < b).count();
        match self.used.get_mut(i) {
            Some((bin, m)) if *bin == b => *m += mass,
            _ => {
                // Exact room: a doubling would hold up to twice the pairs a tail uses.
                self.used.reserve_exact(1);
                self.used.insert(i, (b, mass));
            }
        }
    }

    /// Multiplies every bin by `k`.
    pub(super) fn scale(&mut self, k: f32) {
        for (_, mass) in &mut self.used {
            *mass *= k;
        }
    }

    /// Every bin's mass, unused bins 0.
    pub(super) fn dense(&self) -> [f32; BINS] {
        let mut all = [0.0; BINS];
        for &(b, mass) in &self.used {
            all[usize::from(b)] = mass;
        }
        all
    }

    /// The mass of the bins above bin `b`, summed in ascending order of bin (as a dense
    /// array's slice would be).
    pub(super) fn sum_above(&self, b: usize) -> f64 {
        self.used
            .iter()
            .filter(|&&(bin, _)| usize::from(bin) > b)
            .map(|&(_, mass)| f64::from(mass))
            .sum()
    }

    /// Bytes on the heap: none until the list spills.
    pub(super) fn heap_bytes(&self) -> usize {
        if self.used.spilled() {
            self.used.capacity() * std::mem::size_of::<(u8, f32)>()
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random adds and rescales read the same as a dense array's, bit for bit.
    #[test]
    fn sparse_bins_read_as_a_dense_array() {
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..200 {
            let mut sparse = Bins::default();
            let mut dense = [0.0f32; BINS];
            // Some runs keep to a few bins (inline), others spill.
            let spread = rng.usize(1..=BINS);
            for _ in 0..rng.usize(0..500) {
                if rng.u8(0..50) == 0 {
                    let k = rng.f32() * 1e-3;
                    sparse.scale(k);
                    dense.iter_mut().for_each(|m| *m *= k);
                    continue;
                }
                let b = rng.usize(0..spread);
                let mass = rng.f32() * 10.0;
                sparse.add(b, mass);
                dense[b] += mass;
            }
            assert_eq!(sparse.dense().map(f32::to_bits), dense.map(f32::to_bits));
            for b in 0..BINS {
                let want: f64 = dense[b + 1..].iter().map(|&m| f64::from(m)).sum();
                // Bit for bit but the sign of a zero (an empty slice sums to −0).
                assert_eq!(sparse.sum_above(b), want, "bin {b}");
                assert_eq!(sparse.sum_above(b).abs().to_bits(), want.abs().to_bits());
            }
        }
    }

    #[test]
    fn a_few_bins_stay_inline() {
        assert_eq!(std::mem::size_of::<Bins>(), 32);
        let mut bins = Bins::default();
        for b in [0, 5, 2, 0, 5] {
            bins.add(b, 1.0);
        }
        assert_eq!(bins.heap_bytes(), 0);
        bins.add(9, 1.0);
        assert!(bins.heap_bytes() > 0);
    }
}
