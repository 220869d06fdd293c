//! The IQR detector: Tukey's upper fence, `q3 + k·IQR`, over the window's quartiles. Robust to
//! the outliers already in the window, where the z-score's mean and std are not. Pure: the
//! caller keeps the window's quantiles.

use crate::detect::config::Direction;
use crate::detect::finding::Finding;
use crate::detect::window::finding_from_ratio;

/// The detector's name in alerts.
pub const NAME: &str = "iqr";

/// The interquartile range the fence is built from: at least 1 ms and 1 % of the median, so
/// that a window of identical values (IQR 0) does not call every millisecond an outlier.
pub fn effective_iqr(q1: f64, q3: f64, median: f64) -> f64 {
    (q3 - q1).max(1.0).max(0.01 * median.abs())
}

/// Judges `value` against a window of quartiles `q1`, `median`, `q3`.
///
/// The ratio is `(value − q3) / (multiplier·IQR_eff)`; it fires from 1, that is at the fence
/// `q3 + multiplier·IQR_eff`, which is the finding's threshold. A rise of less than
/// `min_increase_ms` over q3 never fires.
pub fn judge(
    value: f64,
    q1: f64,
    median: f64,
    q3: f64,
    multiplier: f64,
    min_increase_ms: f64,
) -> Option<Finding> {
    judge_with(
        value,
        q1,
        q3,
        effective_iqr(q1, q3, median),
        multiplier,
        min_increase_ms,
        Direction::Up,
    )
}

/// Like [`judge`] with the floored range `iqr_eff` given and, with [`Direction::Both`], the
/// lower fence `q1 − multiplier·IQR_eff` judged as the upper one is.
pub fn judge_with(
    value: f64,
    q1: f64,
    q3: f64,
    iqr_eff: f64,
    multiplier: f64,
    min_rise: f64,
    direction: Direction,
) -> Option<Finding> {
    let spread = multiplier * iqr_eff;
    let (dev, fence) = if value > q3 {
        (value - q3, q3 + spread)
    } else if value < q1 && direction == Direction::Both {
        (q1 - value, q1 - spread)
    } else {
        return None;
    };
    if dev < min_rise {
        return None;
    }
    finding_from_ratio(NAME, dev / spread, value, fence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Severity;

    #[test]
    fn judge_fires_at_the_fence() {
        // q1 90, q3 110: IQR 20, fence 110 + 1.5·20 = 140
        assert_eq!(judge(139.0, 90.0, 100.0, 110.0, 1.5, 10.0), None);
        let f = judge(140.0, 90.0, 100.0, 110.0, 1.5, 10.0).unwrap();
        assert_eq!(f.detector, "iqr");
        assert_eq!(f.threshold, 140.0);
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(
            judge(170.0, 90.0, 100.0, 110.0, 1.5, 10.0)
                .unwrap()
                .severity,
            Severity::Critical
        );
    }

    #[test]
    fn judge_degenerate_window_fires_on_outlier() {
        // every value 50 ms: IQR 0, floored to 1 ms, so the fence is 51.5 ms
        let f = judge(80.0, 50.0, 50.0, 50.0, 1.5, 10.0).unwrap();
        assert_eq!(f.severity, Severity::Critical);
        assert_eq!(f.threshold, 51.5);
    }

    #[test]
    fn judge_small_rise_never_fires() {
        assert_eq!(judge(59.0, 50.0, 50.0, 50.0, 1.5, 10.0), None);
        assert_eq!(judge(20.0, 50.0, 50.0, 50.0, 1.5, 0.0), None);
    }
}
