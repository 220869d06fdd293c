//! A small fixed log-scale latency histogram for one minute, and the bucket arithmetic the
//! status board stores quantiles in (one byte per quantile).
//!
//! Buckets are quarter-octaves from 0.5 ms: bucket `i` holds `[0.5·2^(i/4), 0.5·2^((i+1)/4))` ms,
//! bucket 0 also everything below, the last bucket everything from ≈27.5 s up. A bucket is
//! reported as its geometric midpoint, so a quantile read from it is within
//! [`RELATIVE_ERROR`] (2^(1/8) − 1 ≈ 9.05 %) of a sample of that rank; the caller clamps it to
//! the exact maximum it keeps beside.

use smallvec::SmallVec;

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
/// second in one bucket, far above any probe rate), kept for the buckets the minute's samples
/// fell in. A minute's latencies span a few quarter-octaves (every loopback latency below
/// 0.5 ms is bucket 0): four buckets are inline (24 B, where a count for every bucket took
/// 132 B), more spill to the heap once, and the list keeps its room from minute to minute.
#[derive(Debug, Clone, Default)]
pub struct MinuteHistogram {
    /// (bucket, samples), ascending by bucket.
    counts: SmallVec<[(u8, u16); 4]>,
}

impl MinuteHistogram {
    /// Adds one sample: a scan of the buckets seen this minute; no allocation but the spill
    /// of a minute that reaches a fifth bucket, once in the list's life.
    pub fn record(&mut self, ms: f64) {
        let b = bucket_of(ms);
        let i = self
            .counts
            .iter()
            .take_while(|&&(bucket, _)| bucket < b)
            .count();
        match self.counts.get_mut(i) {
            Some((bucket, c)) if *bucket == b => *c = c.saturating_add(1),
            _ => self.counts.insert(i, (b, 1)),
        }
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.counts.clear();
    }

    /// Samples held.
    pub fn total(&self) -> u32 {
        self.counts.iter().map(|&(_, c)| u32::from(c)).sum()
    }

    /// The bucket holding the sample of rank ⌈q·n⌉ (nearest-rank quantile); `None` when empty.
    pub fn quantile_bucket(&self, q: f64) -> Option<u8> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q * f64::from(total)).ceil() as u32).clamp(1, total);
        let mut seen = 0u32;
        for &(bucket, c) in &self.counts {
            seen += u32::from(c);
            if seen >= rank {
                return Some(bucket);
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

    /// The buckets seen, kept sparse, answer as a count for every bucket would: minutes of a
    /// few buckets (inline) and of many (spilled), cleared and refilled.
    #[test]
    fn quantiles_match_a_count_for_every_bucket() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut h = MinuteHistogram::default();
        for _ in 0..300 {
            h.clear();
            let mut dense = [0u32; BUCKETS];
            let (low, spread) = (rng.f64() * 200.0, rng.f64() * 8.0);
            for _ in 0..rng.usize(0..200) {
                let ms = low * (spread * rng.f64()).exp2();
                h.record(ms);
                dense[usize::from(bucket_of(ms))] += 1;
            }
            let total: u32 = dense.iter().sum();
            assert_eq!(h.total(), total);
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                let want = (total > 0).then(|| {
                    let rank = ((q * f64::from(total)).ceil() as u32).clamp(1, total);
                    let mut seen = 0;
                    dense.iter().position(|&c| {
                        seen += c;
                        seen >= rank
                    })
                });
                assert_eq!(h.quantile_bucket(q), want.flatten().map(|b| b as u8));
            }
        }
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
