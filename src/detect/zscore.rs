//! The z-score detector: how many (effective) standard deviations a sample lies above the
//! window's mean. It catches sudden spikes. Pure: the caller keeps the window's moments.

use crate::detect::config::Direction;
use crate::detect::finding::Finding;
use crate::detect::window::{effective_std, finding_from_ratio, signed_departure};

/// The detector's name in alerts.
pub const NAME: &str = "zscore";

/// Judges `value` against a window of mean `mean` and standard deviation `std`.
///
/// Fires when `z = (value − mean) / std_eff` reaches `z_threshold`, where `std_eff` is
/// [`effective_std`]; the ratio is `z / z_threshold`. A rise of less than `min_increase_ms`
/// over the mean never fires, and a drop never does. The finding's threshold is the value at
/// which it starts to fire, `mean + z_threshold·std_eff`.
pub fn judge(
    value: f64,
    mean: f64,
    std: f64,
    z_threshold: f64,
    min_increase_ms: f64,
) -> Option<Finding> {
    judge_with(
        value,
        mean,
        effective_std(std, mean),
        z_threshold,
        min_increase_ms,
        Direction::Up,
    )
}

/// Like [`judge`] with the floored deviation `std_eff` given (the caller picks the floor: ms
/// or scale-free) and, with [`Direction::Both`], drops judged as rises are: the threshold is
/// then `mean − z_threshold·std_eff`.
pub fn judge_with(
    value: f64,
    mean: f64,
    std_eff: f64,
    z_threshold: f64,
    min_rise: f64,
    direction: Direction,
) -> Option<Finding> {
    let (dev, sign) = signed_departure(value - mean, direction)?;
    if dev < min_rise {
        return None;
    }
    let r = dev / (z_threshold * std_eff);
    finding_from_ratio(NAME, r, value, mean + sign * z_threshold * std_eff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Severity;

    #[test]
    fn judge_fires_from_z_threshold() {
        // std 10, threshold 3: fires from 130
        assert_eq!(judge(129.0, 100.0, 10.0, 3.0, 10.0), None);
        let f = judge(130.0, 100.0, 10.0, 3.0, 10.0).unwrap();
        assert_eq!(f.detector, "zscore");
        assert_eq!(f.severity, Severity::Info);
        assert_eq!(f.threshold, 130.0);
        assert_eq!(f.value, 130.0);
        // z = 6 is twice the threshold: severe
        assert_eq!(
            judge(160.0, 100.0, 10.0, 3.0, 10.0).unwrap().severity,
            Severity::Critical
        );
    }

    #[test]
    fn judge_ignores_drops() {
        assert_eq!(judge(10.0, 100.0, 1.0, 3.0, 0.0), None);
    }

    #[test]
    fn judge_small_rise_never_fires() {
        // std 0 would make any rise infinite without the floor and the minimum increase
        assert_eq!(judge(109.0, 100.0, 0.0, 3.0, 10.0), None);
    }

    #[test]
    fn judge_floors_std_at_one_percent_of_mean() {
        // std 0, mean 1000: std_eff = 10, so the threshold is 1030
        assert_eq!(judge(1029.0, 1000.0, 0.0, 3.0, 10.0), None);
        assert_eq!(
            judge(1030.0, 1000.0, 0.0, 3.0, 10.0).unwrap().threshold,
            1030.0
        );
    }
}
