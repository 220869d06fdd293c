//! A small fixed log-scale latency histogram for one minute, and the bucket arithmetic the
//! status board stores quantiles in (one byte per quantile).
//!
//! Buckets are quarter-octaves from 0.5 ms: bucket `i` holds `[0.5·2^(i/4), 0.5·2^((i+1)/4))` ms,
//! bucket 0 also everything below, the last bucket everything from ≈27.5 s up. A bucket is
//! reported as its geometric midpoint, so a quantile read from it is within
//! [`RELATIVE_ERROR`] (2^(1/8) − 1 ≈ 9.05 %) of a sample of that rank; the caller clamps it to
//! the exact maximum it keeps beside.

/// How many buckets.
pub const BUCKETS: usize = 64;

/// The lower edge of bucket 1, in milliseconds.
const BASE_MS: f64 = 0.5;

/// Buckets per doubling.
const STEPS_PER_OCTAVE: f64 = 4.0;

/// The largest relative error of a bucket's representative value against any sample in it
/// (buckets 1..=62): 2^(1/8) − 1.
pub const RELATIVE_ERROR: f64 = 0.0906;

/// The bucket of a latency in milliseconds (NaN and negatives fall into bucket 0).
pub fn bucket_of(ms: f64) -> u8 {
    if ms.is_nan() || ms < BASE_MS {
        return 0;
    }
    let i = (ms / BASE_MS).log2() * STEPS_PER_OCTAVE;
    (i as usize).min(BUCKETS - 1) as u8
}

/// The representative value of bucket `b` (its geometric midpoint), in milliseconds.
pub fn value_of(b: u8) -> f64 {
    BASE_MS * ((f64::from(b) + 0.5) / STEPS_PER_OCTAVE).exp2()
}

/// One minute's latency samples: a count per bucket (saturating at `u16::MAX`, ≈1 000 samples a
/// second in one bucket, far above any probe rate).
#[derive(Debug, Clone)]
pub struct MinuteHistogram {
    counts: [u16; BUCKETS],
    total: u32,
}

impl Default for MinuteHistogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
            total: 0,
        }
    }
}

impl MinuteHistogram {
    /// Adds one sample. O(1), no allocation.
    pub fn record(&mut self, ms: f64) {
        let c = &mut self.counts[usize::from(bucket_of(ms))];
        if *c < u16::MAX {
            *c += 1;
            self.total += 1;
        }
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        if self.total > 0 {
            self.counts = [0; BUCKETS];
            self.total = 0;
        }
    }

    /// Samples held.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// The bucket holding the sample of rank ⌈q·n⌉ (nearest-rank quantile); `None` when empty.
    pub fn quantile_bucket(&self, q: f64) -> Option<u8> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q * f64::from(self.total)).ceil() as u32).clamp(1, self.total);
        let mut seen = 0u32;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u32::from(c);
            if seen >= rank {
                return Some(i as u8);
            }
        }
        Some((BUCKETS - 1) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_the_error_bound() {
        for ms in [0.6, 1.0, 3.3, 41.2, 99.9, 250.0, 1234.5, 9_999.0, 27_000.0] {
            let back = value_of(bucket_of(ms));
            assert!(
                (back - ms).abs() / ms <= RELATIVE_ERROR,
                "{ms} came back as {back}"
            );
        }
        assert_eq!(bucket_of(f64::NAN), 0);
        assert_eq!(bucket_of(-3.0), 0);
        assert_eq!(bucket_of(1e9), (BUCKETS - 1) as u8);
    }

    #[test]
    fn quantiles_follow_nearest_rank() {
        let mut h = MinuteHistogram::default();
        assert_eq!(h.quantile_bucket(0.5), None);
        for ms in 1..=100 {
            h.record(f64::from(ms));
        }
        let p = |q| value_of(h.quantile_bucket(q).expect("samples"));
        assert!((p(0.5) - 50.0).abs() / 50.0 <= RELATIVE_ERROR, "{}", p(0.5));
        assert!((p(0.9) - 90.0).abs() / 90.0 <= RELATIVE_ERROR, "{}", p(0.9));
        assert!(
            (p(0.99) - 99.0).abs() / 99.0 <= RELATIVE_ERROR,
            "{}",
            p(0.99)
        );
        h.clear();
        assert_eq!(h.total(), 0);
    }
}
