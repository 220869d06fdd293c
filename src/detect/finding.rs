//! A model's judgement of one sample.

use crate::messages::Severity;

/// What one model concluded about one sample that it found anomalous.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding {
    /// The model's name as it appears in alerts (`zscore`, `iqr`, `rolling_mean`, …).
    pub detector: &'static str,
    /// Slight → info, moderate → warning, severe → critical.
    pub severity: Severity,
    /// The observed value.
    pub value: f64,
    /// The expected value or the threshold that was crossed.
    pub threshold: f64,
    /// Confidence that the sample is anomalous, 0..=1.
    pub confidence: f64,
}

impl Finding {
    /// The more severe of two findings (ties go to the higher confidence).
    pub fn most_severe(a: Option<Finding>, b: Option<Finding>) -> Option<Finding> {
        match (a, b) {
            (Some(a), Some(b)) => {
                if (b.severity, b.confidence) > (a.severity, a.confidence) {
                    Some(b)
                } else {
                    Some(a)
                }
            }
            (a, None) => a,
            (None, b) => b,
        }
    }
}
