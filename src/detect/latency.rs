//! The latency model: z-score, IQR and rolling-mean detectors over one sliding window.
//! (stub: being written)

use crate::config::LatencySettings;
use crate::detect::finding::Finding;
use crate::messages::Stats;

/// Latency detectors over a sliding window of the last `window` samples.
#[derive(Debug)]
pub struct LatencyModel {
    _settings: LatencySettings,
}

impl LatencyModel {
    /// Allocates the windows once; updates never allocate.
    pub fn new(settings: &LatencySettings) -> Self {
        Self {
            _settings: settings.clone(),
        }
    }

    /// Judges `value_ms` against the window as it was before, then adds it to the window.
    /// Returns the most severe finding of the three detectors, if any fired.
    pub fn update(&mut self, value_ms: f64) -> Option<Finding> {
        let _ = value_ms;
        None
    }

    /// p50/p90/p99 of the window.
    pub fn stats(&self) -> Stats {
        Stats::default()
    }

    /// Samples currently in the window.
    pub fn len(&self) -> usize {
        0
    }

    /// True when the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
