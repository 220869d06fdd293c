//! The stream-health flags, pure: a stream's source (exwatch's stream judge, or a trading
//! engine's own feed handler) judges staleness, frozen payloads, sequence gaps and reconnect
//! churn against what it learned of the stream, and says so in each measurement's outcome;
//! this model turns a flagged measurement into a finding and a healthy one into a normal
//! sample (the series resolves after `resolve_after` of them).
//!
//! | metric | value | flagged by outcome | detector | severity |
//! |---|---|---|---|---|
//! | `stream_silence_ms` | ms without data | `timeout` | `stream_stale` | critical |
//! | `stream_frozen` | messages that did not advance | `bad_body` | `stream_frozen` | critical |
//! | `stream_gap` | updates missing | `bad_body` | `stream_gap` | warning |
//! | `stream_reconnects` | unplanned reconnects in the hour | `connect` | `stream_churn` | warning |

use crate::detect::finding::Finding;
use crate::messages::{Measurement, Metric, Outcome, Severity};

/// One stream metric's flag. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFlag {
    metric: Metric,
}

impl StreamFlag {
    /// The flag of a stream metric; `None` for any other metric.
    pub fn of(metric: Metric) -> Option<Self> {
        matches!(
            metric,
            Metric::StreamSilenceMs
                | Metric::StreamFrozen
                | Metric::StreamGap
                | Metric::StreamReconnects
        )
        .then_some(Self { metric })
    }

    /// The detector's name as alerts carry it.
    pub fn detector(self) -> &'static str {
        match self.metric {
            Metric::StreamSilenceMs => "stream_stale",
            Metric::StreamFrozen => "stream_frozen",
            Metric::StreamGap => "stream_gap",
            _ => "stream_churn",
        }
    }

    fn severity(self) -> Severity {
        match self.metric {
            Metric::StreamSilenceMs | Metric::StreamFrozen => Severity::Critical,
            _ => Severity::Warning,
        }
    }

    /// The outcome that flags this metric.
    pub fn flagged_by(self) -> Outcome {
        match self.metric {
            Metric::StreamSilenceMs => Outcome::Timeout,
            Metric::StreamReconnects => Outcome::Connect,
            _ => Outcome::BadBody,
        }
    }

    /// A finding when `m` is flagged; `None` for a healthy sample.
    pub fn judge(self, m: &Measurement) -> Option<Finding> {
        if m.outcome.is_ok() || !m.value.is_finite() {
            return None;
        }
        Some(Finding {
            detector: self.detector(),
            severity: self.severity(),
            value: m.value,
            // What a healthy stream shows: no gap, no repeat, no reconnect over the budget
            // (a stall's own threshold is learned by its source and named in its message).
            threshold: 0.0,
            confidence: 1.0,
        })
    }

    /// The alert's message for a finding of this flag.
    pub fn explain(self, f: &Finding) -> String {
        match self.metric {
            Metric::StreamSilenceMs => format!(
                "no data for {:.1} s, beyond a few of the stream's learned cadences (stream_stale)",
                f.value / 1000.0
            ),
            Metric::StreamFrozen => format!(
                "{} messages in a row repeat the same event time and update id: the data does not advance (stream_frozen)",
                f.value
            ),
            Metric::StreamGap => format!(
                "the update sequence broke: {} update(s) missing; a local order book is wrong until rebuilt (stream_gap)",
                f.value
            ),
            _ => format!(
                "{} unplanned reconnects in the last hour exceed the stream's budget (stream_churn)",
                f.value
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::config::DetectSettings;
    use crate::detect::series::{Event, SeriesDetector};
    use crate::messages::{SeriesKey, Timestamp};

    fn m(metric: Metric, value: f64, outcome: Outcome, at: i64) -> Measurement {
        Measurement {
            series: SeriesKey::new("binance", "btc-depth", metric),
            value,
            outcome,
            status: 0,
            at: Timestamp(at),
        }
    }

    #[test]
    fn a_flagged_sample_fires_its_detector_and_healthy_ones_resolve() {
        let settings = DetectSettings::default();
        for (metric, flag, detector, severity) in [
            (
                Metric::StreamSilenceMs,
                Outcome::Timeout,
                "stream_stale",
                Severity::Critical,
            ),
            (
                Metric::StreamFrozen,
                Outcome::BadBody,
                "stream_frozen",
                Severity::Critical,
            ),
            (
                Metric::StreamGap,
                Outcome::BadBody,
                "stream_gap",
                Severity::Warning,
            ),
            (
                Metric::StreamReconnects,
                Outcome::Connect,
                "stream_churn",
                Severity::Warning,
            ),
        ] {
            assert_eq!(StreamFlag::of(metric).unwrap().flagged_by(), flag);
            let mut d = SeriesDetector::new(metric, &settings);
            assert_eq!(d.observe(&m(metric, 0.0, Outcome::Ok, 0)), None);
            let Some(Event::Firing {
                finding,
                started_at,
            }) = d.observe(&m(metric, 3.0, flag, 1000))
            else {
                panic!("{metric} did not fire");
            };
            assert_eq!((finding.detector, finding.severity), (detector, severity));
            assert_eq!(started_at, Timestamp(1000));
            assert!(d.explain(&finding).contains(detector));
            let mut resolved = false;
            for k in 0..settings.latency.resolve_after.max(1) {
                resolved |= d.observe(&m(metric, 0.0, Outcome::Ok, 2000 + k as i64))
                    == Some(Event::Resolved);
            }
            assert!(resolved, "{metric} resolves");
        }
        assert_eq!(StreamFlag::of(Metric::LatencyMs), None);
    }
}
