//! The error model: error rate over a window of outcomes, and consecutive failures.
//! (stub: being written)

use crate::config::ErrorSettings;
use crate::detect::finding::Finding;
use crate::messages::Outcome;

/// Error rate and consecutive failures over the last `window` outcomes.
#[derive(Debug)]
pub struct ErrorModel {
    _settings: ErrorSettings,
}

impl ErrorModel {
    /// Allocates the window once.
    pub fn new(settings: &ErrorSettings) -> Self {
        Self {
            _settings: settings.clone(),
        }
    }

    /// Adds one outcome and judges the series: the more severe of `error_rate` and
    /// `consecutive_failures`, if either fires.
    pub fn update(&mut self, outcome: Outcome, status: u16) -> Option<Finding> {
        let _ = (outcome, status);
        None
    }

    /// Share of failures in the window (0 when empty).
    pub fn error_rate(&self) -> f64 {
        0.0
    }

    /// Consecutive successes since the last failure.
    pub fn consecutive_successes(&self) -> u32 {
        0
    }

    /// Forgets every outcome (after a recovery, so old failures do not refire the series).
    pub fn clear(&mut self) {}

    /// A short description of the failures in the window, e.g. `"12× http_5xx (503), 2× timeout"`.
    pub fn describe(&self) -> String {
        String::new()
    }
}
