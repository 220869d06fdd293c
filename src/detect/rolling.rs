//! The rolling-mean detector: the mean of the most recent samples against the mean and spread
//! of the older samples of the window. It catches gradual degradation, where each sample is
//! only a little above the last and none stands out on its own. Pure: the caller keeps the
//! moments of both parts of the window.

use crate::detect::config::Direction;
use crate::detect::finding::Finding;
use crate::detect::window::{effective_std, finding_from_ratio, signed_departure};

/// The detector's name in alerts.
pub const NAME: &str = "rolling_mean";

/// Judges the recent mean `recent_mean` against a baseline of mean `base_mean` and standard
/// deviation `base_std`.
///
/// The ratio is `(recent_mean − base_mean) / (k·std_eff)` with `std_eff` from
/// [`effective_std`]; it fires from 1. The finding's value is the recent mean and its threshold
/// `base_mean + k·std_eff`. A rise of less than `min_increase_ms` never fires.
pub fn judge(
    recent_mean: f64,
    base_mean: f64,
    base_std: f64,
    k: f64,
    min_increase_ms: f64,
) -> Option<Finding> {
    judge_with(
        recent_mean,
        base_mean,
        effective_std(base_std, base_mean),
        k,
        min_increase_ms,
        Direction::Up,
    )
}

/// Like [`judge`] with the floored deviation `std_eff` given and, with [`Direction::Both`],
/// a recent mean that sinks below the baseline judged as one that rises.
pub fn judge_with(
    recent_mean: f64,
    base_mean: f64,
    std_eff: f64,
    k: f64,
    min_rise: f64,
    direction: Direction,
) -> Option<Finding> {
    let (dev, sign) = signed_departure(recent_mean - base_mean, direction)?;
    if dev < min_rise {
        return None;
    }
    let spread = k * std_eff;
    finding_from_ratio(NAME, dev / spread, recent_mean, base_mean + sign * spread)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Severity;

    #[test]
    fn judge_fires_from_k_std() {
        // base 100 ± 5, k 2: fires from a recent mean of 110
        assert_eq!(judge(109.0, 100.0, 5.0, 2.0, 5.0), None);
        let f = judge(110.0, 100.0, 5.0, 2.0, 5.0).unwrap();
        assert_eq!(f.detector, "rolling_mean");
        assert_eq!(f.value, 110.0);
        assert_eq!(f.threshold, 110.0);
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(
            judge(125.0, 100.0, 5.0, 2.0, 5.0).unwrap().severity,
            Severity::Critical
        );
    }

    #[test]
    fn judge_small_rise_never_fires() {
        assert_eq!(judge(109.0, 100.0, 0.0, 2.0, 10.0), None);
        assert_eq!(judge(90.0, 100.0, 0.0, 2.0, 0.0), None);
    }
}
