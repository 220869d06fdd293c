//! Deduplication by series: the Router's memory of which series are firing and what it has
//! already said about them. Pure: works on the anomalies' event time.
//!
//! Flapping control: with a flap hold (`[router] flap_hold`), a resolution is held for that
//! long before its resolved alert is due ([`Dedup::release`]); if the series fires again
//! meanwhile, the episode simply goes on (one incident, no resolved/firing ping-pong).

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

/// A resolution held back by the flap hold, with the episode it closes.
#[derive(Debug, Clone)]
pub struct Held {
    /// The resolution.
    pub resolved: Resolved,
    /// The episode it closes.
    pub episode: Episode,
}

/// The Router's dedup table.
#[derive(Debug)]
pub struct Dedup {
    window: Duration,
    flap_hold: Duration,
    open: HashMap<SeriesKey, Episode>,
    held: HashMap<SeriesKey, Held>,
}

impl Dedup {
    /// A table that suppresses repeats within `window`, without flap hold.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            flap_hold: Duration::ZERO,
            open: HashMap::new(),
            held: HashMap::new(),
        }
    }

    /// Holds resolutions for `hold` before they are due (zero: sent at once).
    pub fn with_flap_hold(mut self, hold: Duration) -> Self {
        self.flap_hold = hold;
        self
    }

    /// Changes the dedup window and the flap hold (a live reload); open episodes and held
    /// resolutions are kept and judged by the new values from now on.
    pub fn reconfigure(&mut self, window: Duration, flap_hold: Duration) {
        self.window = window;
        self.flap_hold = flap_hold;
    }

    /// Decides whether `a` becomes an alert.
    pub fn on_anomaly(&mut self, a: &Anomaly) -> Verdict {
        if let Some(h) = self.held.remove(&a.series) {
            // Fired again within the hold: the same incident goes on.
            self.open.insert(a.series.clone(), h.episode);
        }
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

    /// Closes the series' episode; `Some` when it was firing and one resolved alert is due
    /// now. With a flap hold, the resolution is held instead (see [`Dedup::release`]).
    pub fn on_resolved(&mut self, r: &Resolved) -> Option<Episode> {
        let episode = self.open.remove(&r.series)?;
        if self.flap_hold.is_zero() {
            return Some(episode);
        }
        self.held.insert(
            r.series.clone(),
            Held {
                resolved: r.clone(),
                episode,
            },
        );
        None
    }

    /// The held resolutions whose hold has passed at `now`: their resolved alerts are due.
    /// Allocates only when something is held.
    pub fn release(&mut self, now: Timestamp) -> Vec<Held> {
        if self.held.is_empty() {
            return Vec::new();
        }
        let hold = self.flap_hold;
        let due: Vec<SeriesKey> = self
            .held
            .iter()
            .filter(|(_, h)| h.resolved.at.plus(hold) <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out: Vec<Held> = due.iter().filter_map(|k| self.held.remove(k)).collect();
        out.sort_by_key(|h| h.resolved.at);
        out
    }

    /// Forgets every series `gone` says was removed from the configuration: their open
    /// episodes and held resolutions, oldest first (each is due one last resolved alert).
    pub fn forget(&mut self, gone: impl Fn(&SeriesKey) -> bool) -> Vec<(SeriesKey, Episode)> {
        let open: Vec<SeriesKey> = self.open.keys().filter(|k| gone(k)).cloned().collect();
        let held: Vec<SeriesKey> = self.held.keys().filter(|k| gone(k)).cloned().collect();
        let mut out: Vec<(SeriesKey, Episode)> = open
            .into_iter()
            .filter_map(|k| self.open.remove(&k).map(|e| (k, e)))
            .chain(
                held.into_iter()
                    .filter_map(|k| self.held.remove(&k).map(|h| (k, h.episode))),
            )
            .collect();
        out.sort_by(|(a, x), (b, y)| (x.started_at, a).cmp(&(y.started_at, b)));
        out
    }

    /// The open (not held) episode of `series`, if it is firing.
    pub fn episode(&self, series: &SeriesKey) -> Option<&Episode> {
        self.open.get(series)
    }

    /// Series currently firing (held resolutions included: they may still fire again).
    pub fn firing(&self) -> usize {
        self.open.len() + self.held.len()
    }

    /// Resolutions held back by the flap hold.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The open episodes (firing, not resolved; held resolutions are not included).
    pub fn open(&self) -> impl Iterator<Item = (&SeriesKey, &Episode)> {
        self.open.iter()
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

    fn resolved(at_secs: i64) -> Resolved {
        Resolved {
            series: SeriesKey::new("okx", "time", Metric::LatencyMs),
            at: Timestamp(at_secs * 1000),
            stats: Stats::default(),
        }
    }

    #[test]
    fn flap_hold_keeps_a_relapse_in_one_incident() {
        let mut d = Dedup::new(Duration::from_secs(300)).with_flap_hold(Duration::from_secs(120));
        assert_eq!(d.on_anomaly(&anomaly(Severity::Warning, 0)), Verdict::New);
        assert!(d.on_resolved(&resolved(10)).is_none(), "held");
        assert!(d.release(Timestamp(100_000)).is_empty(), "not yet due");
        // Fails again within the hold: the same episode, nothing new to say.
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Warning, 60)),
            Verdict::Suppressed
        );
        assert_eq!(d.held(), 0);
        // A worse relapse still escalates.
        assert_eq!(
            d.on_anomaly(&anomaly(Severity::Critical, 61)),
            Verdict::Escalated
        );
        assert!(d.on_resolved(&resolved(70)).is_none());
        assert!(d.release(Timestamp(189_999)).is_empty());
        let out = d.release(Timestamp(190_000));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].resolved.at, Timestamp(70_000));
        assert_eq!(out[0].episode.max_sent, Severity::Critical);
        assert_eq!(d.firing(), 0);
        // A new failure after the release is a new incident.
        assert_eq!(d.on_anomaly(&anomaly(Severity::Warning, 400)), Verdict::New);
    }

    #[test]
    fn zero_flap_hold_resolves_at_once() {
        let mut d = Dedup::new(Duration::from_secs(300)).with_flap_hold(Duration::ZERO);
        d.on_anomaly(&anomaly(Severity::Warning, 0));
        assert!(d.on_resolved(&resolved(10)).is_some());
        assert!(d.release(Timestamp(i64::MAX)).is_empty());
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
