//! Scale-free values for the latency model when a series is not a latency (`unit = any`, the
//! replay default): a robust centre and scale fitted from the window ([`RobustScale`]), the
//! order-preserving bucket map that lets the same quantile sketch hold values of any sign and
//! magnitude, and the spread floors that replace the fixed millisecond ones ([`floor`]).
//! Pure; touches nothing else.
//!
//! Buckets are uniform in `z = asinh((x − centre) / scale)` over `−8 ..= 8`: near the centre
//! a bucket is 1.1 % of a scale wide, far from it 1.1 % of the value's distance (asinh grows
//! like a logarithm), so one fit covers ±1 490 scales with the sketch's 1 438 buckets. The
//! owner refits (an O(window log window) sort, at most once per window) when the window has
//! wandered off the fit ([`RobustScale::still_fits`]).

use crate::detect::quantile::BUCKETS;

/// Half the range of `z` the buckets cover.
const HALF_RANGE: f64 = 8.0;
/// Buckets per unit of `z`.
const PER_Z: f64 = BUCKETS as f64 / (2.0 * HALF_RANGE);
/// MAD to standard deviation, for normal data.
const MAD_TO_STD: f64 = 1.4826;
/// IQR to standard deviation, for normal data.
pub const IQR_TO_STD: f64 = 1.349;

/// A centre and a (positive) scale for a window of values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobustScale {
    center: f64,
    scale: f64,
}

impl RobustScale {
    /// Median and scaled MAD of `values` (sorted in place; must not be empty, NaN-free). A
    /// window whose MAD is 0 (mostly identical values) falls back to its mean absolute
    /// deviation, then to 1 % of the median, then to 1.
    pub fn fit(values: &mut [f64]) -> Self {
        values.sort_unstable_by(f64::total_cmp);
        let center = median_of_sorted(values);
        let n = values.len().max(1) as f64;
        let mut mean_abs = 0.0;
        for v in values.iter_mut() {
            *v = (*v - center).abs();
            mean_abs += *v / n;
        }
        values.sort_unstable_by(f64::total_cmp);
        let mad = median_of_sorted(values) * MAD_TO_STD;
        let scale = [mad, mean_abs * 1.2533, 0.01 * center.abs(), 1.0]
            .into_iter()
            .find(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(1.0);
        Self { center, scale }
    }

    /// The scale fitted.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The sketch bucket of `x` (order-preserving; clamped to the ends).
    pub fn bucket_of(&self, x: f64) -> u16 {
        let z = ((x - self.center) / self.scale).asinh();
        let b = ((z + HALF_RANGE) * PER_Z).max(0.0) as usize;
        b.min(BUCKETS - 1) as u16
    }

    /// The value a bucket stands for (its middle in `z`).
    pub fn value_of(&self, bucket: u16) -> f64 {
        let z = (bucket as f64 + 0.5) / PER_Z - HALF_RANGE;
        self.center + self.scale * z.sinh()
    }

    /// True while a window of median `median` and interquartile range `iqr` is still well
    /// resolved by this fit: its median within a quarter of the range from the centre, and its
    /// spread neither much finer (too few buckets across it) nor much coarser than the scale.
    pub fn still_fits(&self, median: f64, iqr: f64) -> bool {
        let z = ((median - self.center) / self.scale).asinh().abs();
        let spread = iqr / self.scale;
        z <= HALF_RANGE / 4.0 && (iqr <= 0.0 || (0.1..=30.0).contains(&spread))
    }
}

fn median_of_sorted(v: &[f64]) -> f64 {
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// The smallest standard deviation a scale-free detector divides by: a quarter of the window's
/// robust spread (`IQR / 1.349`), and at least a millionth of the fitted scale so that a window
/// of identical values does not call every change infinite. No share of the level: adding a
/// constant to a series must not change what is anomalous.
pub fn floor(q1: f64, q3: f64, fit_scale: f64) -> f64 {
    (0.25 * (q3 - q1) / IQR_TO_STD)
        .max(1e-6 * fit_scale)
        .max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_is_median_and_scaled_mad() {
        let mut v = [1.0, 2.0, 3.0, 4.0, 100.0];
        let s = RobustScale::fit(&mut v);
        assert_eq!(s.center, 3.0);
        assert!((s.scale - MAD_TO_STD).abs() < 1e-12);
        // Mostly identical: the mean absolute deviation, then 1 % of the median.
        let mut v = [5.0, 5.0, 5.0, 5.0, 6.0];
        assert!(RobustScale::fit(&mut v).scale > 0.0);
        let mut v = [-7.0; 4];
        assert!((RobustScale::fit(&mut v).scale - 0.07).abs() < 1e-12);
        let mut v = [0.0; 4];
        assert_eq!(RobustScale::fit(&mut v).scale, 1.0);
    }

    #[test]
    fn buckets_preserve_order_and_round_trip_for_any_sign_and_scale() {
        for (center, scale) in [(0.0, 1.0), (-250.0, 0.01), (1e6, 3e4), (0.02, 0.001)] {
            let s = RobustScale { center, scale };
            let mut last = 0;
            for k in -400..=400 {
                let x = center + scale * k as f64 * 0.25;
                let b = s.bucket_of(x);
                assert!(b >= last, "order at {x}");
                last = b;
                let back = s.value_of(b);
                // Within 1.2 % of a scale or of the distance from the centre.
                let tol = 0.012 * scale * (1.0 + ((x - center) / scale).abs());
                assert!((back - x).abs() <= tol, "{x} -> {back} (scale {scale})");
            }
        }
        let s = RobustScale {
            center: 0.0,
            scale: 1.0,
        };
        assert_eq!(s.bucket_of(f64::NEG_INFINITY), 0);
        assert_eq!(s.bucket_of(1e300) as usize, BUCKETS - 1);
    }

    #[test]
    fn refit_when_the_window_wanders_off() {
        let s = RobustScale {
            center: 10.0,
            scale: 1.0,
        };
        assert!(s.still_fits(11.0, 1.3));
        assert!(!s.still_fits(200.0, 1.3), "level shift of 190 scales");
        assert!(!s.still_fits(10.0, 0.01), "spread too fine for the buckets");
        assert!(s.still_fits(10.0, 0.0), "a constant window fits");
    }

    #[test]
    fn floor_scales_with_the_series() {
        assert!((floor(0.019, 0.021, 0.0015) - 0.25 * 0.002 / IQR_TO_STD).abs() < 1e-15);
        assert_eq!(floor(-1000.0, -1000.0, 1.0), 1e-6);
        assert!(floor(0.0, 0.0, 0.0) > 0.0);
    }
}
