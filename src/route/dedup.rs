//! Deduplication by series: the Router's memory of which series are firing and what it has
//! already said about them. Pure: works on the anomalies' event time.

use std::collections::HashMap;
use std::time::Duration;

use crate::messages::{Anomaly, Resolved, SeriesKey, Severity, Timestamp};

/// Why a firing alert goes out (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first anomaly of an episode.
    New,
    /// Severity rose above what was last sent: goes out at once.
    Escalated,
    /// Still firing after the dedup window: a reminder.
    Reminder,
    /// Already said within the window.
    Suppressed,
}

/// One series' firing episode.
#[derive(Debug, Clone)]
pub struct Episode {
    /// When the episode began (the first anomaly's `started_at`).
    pub started_at: Timestamp,
    /// When the last alert for it went out.
    pub last_sent_at: Timestamp,
    /// The severity of the last alert sent.
    pub sent_severity: Severity,
    /// The highest severity sent during the episode.
    pub max_sent: Severity,
    /// The latest anomaly seen (sent or not), to describe the episode when it resolves.
    pub last: Anomaly,
    /// What fired in the last alert sent, to title the resolved alert the same way.
    pub sent_detector: crate::messages::Name,
}

/// The Router's dedup table.
#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    open: HashMap<SeriesKey, Episode>,
}

impl Dedup {
    /// A table that suppresses repeats within `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            open: HashMap::new(),
        }
    }

    /// Decides whether `a` becomes an alert.
    pub fn on_anomaly(&mut self, a: &Anomaly) -> Verdict {
        match self.open.get_mut(&a.series) {
            None => {
                self.open.insert(
                    a.series.clone(),
                    Episode {
                        started_at: a.started_at,
                        last_sent_at: a.at,
                        sent_severity: a.severity,
                        max_sent: a.severity,
                        last: a.clone(),
                        sent_detector: a.detector.clone(),
                    },
                );
                Verdict::New
            }
            Some(ep) => {
                ep.last = a.clone();
                // Escalation is measured against the worst already sent, so a lower-severity
                // reminder does not make the next high sample page again.
                let verdict = if a.severity > ep.max_sent {
                    Verdict::Escalated
                } else if a.at.since(ep.last_sent_at) >= self.window {
                    Verdict::Reminder
                } else {
                    return Verdict::Suppressed;
                };
                ep.last_sent_at = a.at;
                ep.sent_severity = a.severity;
                ep.max_sent = ep.max_sent.max(a.severity);
                ep.sent_detector = a.detector.clone();
                verdict
            }
        }
    }

    /// Closes the series' episode; `Some` when it was firing (one resolved alert is due).
    pub fn on_resolved(&mut self, r: &Resolved) -> Option<Episode> {
        self.open.remove(&r.series)
    }

    /// Series currently firing.
    pub fn firing(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, Name, Stats};

    fn anomaly(severity: Severity, at_secs: i64) -> Anomaly {
        Anomaly {
            series: SeriesKey::new("okx", "time", Metric::LatencyMs),
            detector: Name::from("zscore"),
            severity,
            value: 1.0,
            threshold: 0.5,
            confidence: 0.9,
            message: String::new(),
            started_at: Timestamp(0),
            at: Timestamp(at_secs * 1000),
            stats: Stats::default(),
        }
    }

    #[test]
    fn dedup_sends_once_escalates_at_once_and_reminds_after_window() {
        let mut d = Dedup::new(Duration::from_secs(300));
        assert_eq!(d.on_anomaly(&anomaly(Severity::Warning, 0)), Verdict::New);
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Warning, 10)),
            Verdict::Suppressed
        );
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Info, 20)),
            Verdict::Suppressed
        );
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Critical, 30)),
            Verdict::Escalated
        );
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Critical, 200)),
            Verdict::Suppressed
        );
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Warning, 330)),
            Verdict::Reminder
        );
        let ep = d
            .on_resolved(&Resolved {
                series: SeriesKey::new("okx", "time", Metric::LatencyMs),
                at: Timestamp(400_000),
                stats: Stats::default(),
            })
            .expect("was firing");
        assert_eq!(ep.max_sent, Severity::Critical);
        assert_eq!(d.firing(), 0);
    }

    #[test]
    fn dedup_reminder_at_lower_severity_does_not_reescalate() {
        let mut d = Dedup::new(Duration::from_secs(300));
        assert_eq!(d.on_anomaly(&anomaly(Severity::Critical, 0)), Verdict::New);
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Info, 300)),
            Verdict::Reminder
        );
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Warning, 301)),
            Verdict::Suppressed
        );
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Critical, 302)),
            Verdict::Suppressed
        );
    }

    #[test]
    fn dedup_ignores_resolved_for_quiet_series() {
        let mut d = Dedup::new(Duration::from_secs(300));
        assert!(
            d.on_resolved(&Resolved {
                series: SeriesKey::new("okx", "time", Metric::LatencyMs),
                at: Timestamp(1),
                stats: Stats::default(),
            })
            .is_none()
        );
    }
}
