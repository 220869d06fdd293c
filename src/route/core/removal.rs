//! The Router's part of a live reload that removed exchanges or endpoints
//! ([`RouterCore::forget`]): each open incident of a removed series gets one last resolved
//! alert saying so (through the same fan-out as every alert, so dedup, routes and channels
//! agree), and the Router's memory of those series — dedup, held resolutions, silenced and
//! acknowledged episodes, statistics, circuits, maintenance — is dropped.

use super::RouterCore;
use crate::messages::{
    Alert, AlertKind, MaintenanceStatus, Name, Removed, Resolved, Timestamp, new_id,
};
use crate::route::decision::{Decision, Dropped, Why};

/// What a removed series' last resolved alert says.
pub const REMOVED_MESSAGE: &str = "removed from the configuration";

impl RouterCore {
    /// A reload removed `removed` at `at`: closes their open incidents (one resolved alert
    /// each, oldest first; none for an episode no channel heard of) and forgets them.
    pub fn forget(&mut self, removed: &[Removed], at: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        if removed.is_empty() {
            return out;
        }
        let gone = |exchange: &str, endpoint: &str| {
            removed
                .iter()
                .any(|r| r.covers_endpoint(exchange, endpoint))
        };
        for (series, episode) in self.dedup.forget(|s| gone(&s.exchange, &s.endpoint)) {
            self.acked.remove(&series);
            self.muted.remove(&series);
            let stats = self
                .board
                .get(&(series.exchange.clone(), series.endpoint.clone()))
                .copied()
                .unwrap_or_default();
            out.push(Decision::RecordResolved(Resolved {
                series: series.clone(),
                at,
                stats,
            }));
            if self.unheard.remove(&series) {
                out.push(Decision::Drop(Dropped::Unheard { series }));
                continue;
            }
            let lasted = humantime::format_duration(at.since(episode.started_at));
            let last = &episode.last;
            let alert = Alert {
                id: new_id(),
                kind: AlertKind::Resolved,
                severity: episode.max_sent,
                exchange: series.exchange.clone(),
                endpoint: series.endpoint.clone(),
                metric: series.metric,
                title: format!("{} resolved", super::title(&series, &episode.sent_detector)),
                detector: episode.sent_detector.clone(),
                message: format!(
                    "{REMOVED_MESSAGE} after {lasted}; last finding: {}",
                    last.message
                ),
                value: last.value,
                threshold: last.threshold,
                region: self.region.clone(),
                started_at: episode.started_at,
                at,
                stats,
                in_reply_to: None,
                group: None,
            };
            self.fan_out(alert, episode.max_sent, Why::Resolved, &mut out);
        }
        // Symptoms of a removed stream leave the down's incident the same way.
        for series in self.grouper.symptoms() {
            if gone(&series.exchange, &series.endpoint) {
                let stats = Default::default();
                self.resolve_symptom(&Resolved { series, at, stats });
            }
        }
        self.muted.retain(|s, _| !gone(&s.exchange, &s.endpoint));
        self.unheard.retain(|s| !gone(&s.exchange, &s.endpoint));
        self.acked.retain(|s, _| !gone(&s.exchange, &s.endpoint));
        self.board.retain(|(x, e), _| !gone(x, e));
        for r in removed {
            match r {
                Removed::Exchange(x) => self.correlation.forget(x, None),
                Removed::Endpoint { exchange, endpoint } => {
                    self.correlation.forget(exchange, Some(endpoint))
                }
            }
        }
        for exchange in removed.iter().filter_map(|r| match r {
            Removed::Exchange(x) => Some(x),
            Removed::Endpoint { .. } => None,
        }) {
            self.forget_exchange(exchange, at, &mut out);
        }
        out
    }

    /// A removed exchange is no longer down, nor in maintenance (whose window is closed with
    /// its resolved alert, saying why).
    fn forget_exchange(&mut self, exchange: &Name, at: Timestamp, out: &mut Vec<Decision>) {
        self.down.remove(exchange);
        self.connectivity.forget(exchange);
        if !self.maintenance.silenced(exchange) {
            return;
        }
        let ended = MaintenanceStatus {
            exchange: exchange.clone(),
            ongoing: false,
            until: None,
            detail: String::new(),
            at,
        };
        if let Some(change) = self.maintenance.on_status(&ended) {
            let from = out.len();
            self.announce_maintenance(exchange, change, out);
            for d in &mut out[from..] {
                if let Decision::Send(dispatch) = d {
                    dispatch.alert.message =
                        format!("{}; {REMOVED_MESSAGE}", dispatch.alert.message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::messages::{Anomaly, Metric, SeriesKey, Severity, Silence, Stats};
    use crate::route::core::Target;

    fn core() -> RouterCore {
        let mut core = RouterCore::new(Name::from("eu"), Duration::from_secs(300))
            .with_exchanges(2)
            .with_flap_hold(Duration::from_secs(60));
        core.add_route(Target {
            name: Name::from("log"),
            min_severity: Severity::Info,
            wants_triage: true,
            grouped: false,
            wants_acks: false,
        });
        core
    }

    fn anomaly(series: &SeriesKey, at: i64) -> Anomaly {
        Anomaly {
            series: series.clone(),
            detector: Name::from("error_rate"),
            severity: Severity::Warning,
            value: 1.0,
            threshold: 0.5,
            confidence: 1.0,
            message: "failing".into(),
            started_at: Timestamp(at),
            at: Timestamp(at),
            stats: Stats::default(),
        }
    }

    fn sent(decisions: &[Decision]) -> Vec<&Alert> {
        decisions
            .iter()
            .filter_map(|d| match d {
                Decision::Send(d) => Some(&d.alert),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn open_and_held_episodes_of_removed_series_resolve_once_and_others_stay() {
        let mut core = core();
        let (ping, rule, time, kept) = (
            SeriesKey::new("okx", "ping", Metric::Errors),
            SeriesKey::new("okx", "ping:slow", Metric::LatencyMs),
            SeriesKey::new("gone", "time", Metric::Errors),
            SeriesKey::new("okx", "time", Metric::Errors),
        );
        let mut first = Vec::new();
        for s in [&ping, &rule, &time, &kept] {
            let out = core.on_anomaly(anomaly(s, 1_000));
            first.push(sent(&out)[0].clone());
        }
        // `time`'s resolution is held by the flap hold: its episode is still owed a resolved.
        core.on_resolved(Resolved {
            series: time.clone(),
            at: Timestamp(2_000),
            stats: Stats::default(),
        });
        core.ack(&first[0], Timestamp(1_500)).expect("open");
        let removed = [
            Removed::Endpoint {
                exchange: Name::from("okx"),
                endpoint: Name::from("ping"),
            },
            Removed::Exchange(Name::from("gone")),
        ];
        let out = core.forget(&removed, Timestamp(5_000));
        let alerts = sent(&out);
        assert_eq!(alerts.len(), 3, "{out:?}");
        for a in &alerts {
            assert_eq!(a.kind, AlertKind::Resolved);
            assert!(a.message.starts_with(REMOVED_MESSAGE), "{}", a.message);
            assert_eq!(a.at, Timestamp(5_000));
        }
        let open: Vec<SeriesKey> = core
            .incidents()
            .open
            .into_iter()
            .map(|i| i.series)
            .collect();
        assert_eq!(open, std::slice::from_ref(&kept));
        assert!(core.acked.is_empty());
        assert!(
            core.board
                .keys()
                .all(|(x, e)| &**x == "okx" && &**e == "time")
        );
        // Forgotten: a second removal sends nothing, and the series starts afresh.
        assert!(sent(&core.forget(&removed, Timestamp(6_000))).is_empty());
        assert_eq!(core.dedup.firing(), 1);
    }

    #[test]
    fn a_removed_episode_no_channel_heard_of_sends_nothing() {
        let mut core = core();
        let ping = SeriesKey::new("okx", "ping", Metric::Errors);
        core.add_silence(Silence {
            id: Name::from("s1"),
            exchange: Some(Name::from("okx")),
            endpoint: None,
            metric: None,
            starts_at: Timestamp(0),
            ends_at: Timestamp(1_000_000),
            comment: "deploy".into(),
            created_by: None,
        });
        assert!(sent(&core.on_anomaly(anomaly(&ping, 1_000))).is_empty());
        let out = core.forget(&[Removed::Exchange(Name::from("okx"))], Timestamp(2_000));
        assert!(sent(&out).is_empty(), "{out:?}");
        assert!(
            out.iter()
                .any(|d| matches!(d, Decision::Drop(Dropped::Unheard { .. })))
        );
        assert!(core.muted.is_empty() && core.unheard.is_empty());
    }

    #[test]
    fn a_down_held_by_the_correlation_hold_of_a_removed_exchange_never_goes_out() {
        let mut core = core().with_correlation_hold(Duration::from_secs(1));
        let down = SeriesKey::new("gone", "*", Metric::Availability);
        let mut a = anomaly(&down, 1_000);
        a.detector = Name::from("circuit_open");
        a.severity = Severity::Critical;
        assert!(sent(&core.on_anomaly(a)).is_empty(), "held");
        core.forget(&[Removed::Exchange(Name::from("gone"))], Timestamp(1_500));
        assert!(sent(&core.on_tick(Timestamp(60_000))).is_empty());
    }
}
