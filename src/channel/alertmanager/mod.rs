//! The `alertmanager` channel: posts alerts to Prometheus Alertmanager (API v2,
//! `POST {url}/api/v2/alerts`, a JSON array) — to every instance of an HA cluster.
//!
//! **Identity.** An Alertmanager alert is its label set: `alertname` (from the metric, stable
//! across detectors and escalations: `ExwatchLatencySpike`, `ExwatchExchangeDown` …),
//! `exchange`, `endpoint`, `metric` and `severity`. Nothing replica-specific (region, host,
//! alert id) is a label, so several exwatch replicas watching the same exchanges produce
//! identical label sets and one Alertmanager cluster holds — and notifies — one alert. The
//! rest is in annotations: `summary` (title), `description` (message), `region`, `value`,
//! `threshold`, `alert_id`, `detector`, and `triage` once an LLM follow-up arrives.
//!
//! **Severity changes.** `severity` is a label, as is conventional for routing, so a series
//! whose severity changes (escalation, or a reminder at a lower level) becomes a new
//! Alertmanager alert: the post that fires the new label set also resolves the old one
//! (`endsAt` = the time of the change), so the cluster never shows both.
//!
//! **Life cycle.** `startsAt` is the episode's start. A firing alert carries `endsAt` = now +
//! a horizon (3 × `resend_interval` + the attempt timeout) and is re-sent by the channel's
//! heartbeat every `resend_interval`, as Alertmanager expects of its clients; should exwatch
//! die, the alert expires by itself. A resolved alert carries `endsAt` = the time of recovery
//! and is re-sent for [`RESOLVED_RETENTION`] (5 minutes), so that an instance restarted
//! meanwhile still learns of the resolution. The set the channel keeps is bounded
//! ([`MAX_SERIES`] series, at most three label sets each).
//!
//! **HA.** Each post goes to every URL at once, each on its own task. A delivery counts as done
//! as soon as **one** instance accepted it (200): the alert is then in the cluster, which gossips notifications;
//! waiting for every instance would let one dead instance hold up the whole queue. The
//! instances that missed it are caught up by the next heartbeat, which re-sends the whole set
//! to every instance — that is the retry for the others. When no instance accepted, the
//! delivery is retried (5xx, timeouts, connection failures) or rejected (400, Alertmanager's
//! validation message quoted, bounded). Heartbeat failures are only logged.

pub mod config;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::{LocalBoxFuture, join_all};
use serde_json::{Map, Value, json};

use crate::channel::Channel;
use crate::channel::http::{self, Redactor};
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::client::bounded_text;
use crate::client::build_client;
use crate::config::RetrySettings;
use crate::error::DeliveryError;
use crate::messages::{Alert, AlertKind, Metric, Name, SeriesKey, Severity, Timestamp};
use config::AlertmanagerSpec;

/// How long a resolved alert keeps being re-sent.
pub const RESOLVED_RETENTION: Duration = Duration::from_secs(300);

/// The most series the channel keeps; past this the least recently touched is forgotten
/// (resolved ones first).
pub const MAX_SERIES: usize = 4096;

/// The most alerts in one post (a heartbeat with more posts several batches).
const BATCH: usize = 500;

/// The most resumed alerts remembered (a channel queue's worth).
const MAX_RESUMED: usize = crate::channel::delivery::MAX_QUEUE;

/// The Alertmanager `alertname` of a metric: stable across detectors and severities.
pub fn alertname(metric: Metric) -> &'static str {
    match metric {
        Metric::LatencyMs => "ExwatchLatencySpike",
        Metric::Errors => "ExwatchProbeErrors",
        Metric::Availability => "ExwatchExchangeDown",
        Metric::Price => "ExwatchPriceAnomaly",
        Metric::PriceDeviationBps => "ExwatchPriceDeviation",
        Metric::ClockSkewMs => "ExwatchClockSkew",
        Metric::ActorRestarts => "ExwatchCrashLoop",
        Metric::StreamLagMs => "ExwatchStreamLag",
        Metric::StreamSilenceMs => "ExwatchStreamStale",
        Metric::StreamFrozen => "ExwatchStreamFrozen",
        Metric::StreamGap => "ExwatchStreamGap",
        Metric::StreamReconnects => "ExwatchStreamChurn",
    }
}

/// One label set (a series at one severity) as the channel last described it.
#[derive(Debug, Clone)]
struct Tracked {
    starts_at: Timestamp,
    /// `None` while firing; the resolution time once resolved.
    ends_at: Option<Timestamp>,
    /// When the channel resolved it (wall clock), for the retention.
    resolved_wall: Option<Instant>,
    annotations: BTreeMap<&'static str, String>,
}

impl Tracked {
    fn resolve(&mut self, at: Timestamp, wall: Instant) {
        if self.ends_at.is_none() {
            self.ends_at = Some(at.max(self.starts_at));
            self.resolved_wall = Some(wall);
        }
    }
}

/// A series' label sets, one per severity.
#[derive(Debug, Default)]
struct SeriesAlerts {
    by_severity: [Option<Tracked>; 3],
    touched: Option<Instant>,
}

impl SeriesAlerts {
    fn all_resolved(&self) -> bool {
        self.by_severity
            .iter()
            .flatten()
            .all(|t| t.ends_at.is_some())
    }
}

fn slot(s: Severity) -> usize {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

const SEVERITIES: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

/// Posts alerts to every instance of an Alertmanager cluster and keeps them fresh.
pub struct AlertmanagerChannel {
    client: awc::Client,
    /// `{url}/api/v2/alerts` of each instance.
    endpoints: Vec<String>,
    /// Credentials the URLs carry (`http://user:pass@am`), kept out of every reason.
    redactor: Redactor,
    resend_interval: Duration,
    timeout: Duration,
    series: HashMap<SeriesKey, SeriesAlerts>,
    /// Alerts resumed from an earlier run (see [`Channel::resumed`]), not yet posted.
    resumed: HashSet<Name>,
}

impl fmt::Debug for AlertmanagerChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertmanagerChannel")
            .field("instances", &self.endpoints.len())
            .field("resend_interval", &self.resend_interval)
            .field("series", &self.series.len())
            .finish_non_exhaustive()
    }
}

impl AlertmanagerChannel {
    /// A channel posting through `client` (built on the channel's arbiter) to each base URL
    /// in `urls`, re-sending every `resend_interval`; `timeout` bounds each heartbeat post.
    pub fn new(
        client: awc::Client,
        urls: Vec<String>,
        resend_interval: Duration,
        timeout: Duration,
    ) -> Self {
        Self {
            client,
            redactor: Redactor::new(urls.iter().flat_map(|u| http::url_credentials(u))),
            endpoints: urls
                .iter()
                .map(|u| format!("{}/api/v2/alerts", u.trim_end_matches('/')))
                .collect(),
            resend_interval,
            timeout,
            series: HashMap::new(),
            resumed: HashSet::new(),
        }
    }

    /// How far ahead a firing alert's `endsAt` is put.
    fn horizon(&self) -> Duration {
        self.resend_interval.saturating_mul(3) + self.timeout
    }

    /// Updates the kept set with `alert`; `false` when there is nothing to post (a triage
    /// for an alert the channel does not hold). Idempotent: a retry changes nothing more.
    fn record(&mut self, alert: &Alert, wall: Instant) -> bool {
        let key = alert.series();
        let horizon = self.horizon();
        if alert.kind == AlertKind::Acknowledged {
            // Acknowledgements are Alertmanager's own business (never routed here).
            return false;
        }
        if alert.kind == AlertKind::Triage {
            let Some(t) = self
                .series
                .get_mut(&key)
                .and_then(|s| s.by_severity[slot(alert.severity)].as_mut())
            else {
                return false;
            };
            t.annotations
                .insert("triage", bounded_text(alert.message.trim(), 2000));
            return true;
        }
        if !self.series.contains_key(&key) {
            self.make_room();
        }
        let entry = self.series.entry(key).or_default();
        entry.touched = Some(wall);
        match alert.kind {
            AlertKind::Firing => {
                // The series' other label sets end where this one begins.
                for (i, t) in entry.by_severity.iter_mut().enumerate() {
                    if i != slot(alert.severity)
                        && let Some(t) = t
                    {
                        t.resolve(alert.at, wall);
                    }
                }
                let slot = &mut entry.by_severity[slot(alert.severity)];
                let starts_at = match slot {
                    Some(t) if t.ends_at.is_none() => t.starts_at.min(alert.started_at),
                    _ => alert.started_at,
                };
                // A firing alert resumed from an earlier run has no episode left in this one:
                // no `resolved` will ever follow it. Post it with a fixed end so that
                // Alertmanager lets it expire, instead of refreshing it forever.
                let stale = self.resumed.remove(&alert.id);
                *slot = Some(Tracked {
                    starts_at,
                    ends_at: stale.then(|| Timestamp::now().plus(horizon)),
                    resolved_wall: stale.then_some(wall),
                    annotations: annotations(alert),
                });
            }
            AlertKind::Resolved => {
                let mut any = false;
                for t in entry.by_severity.iter_mut().flatten() {
                    if t.ends_at.is_none() {
                        t.resolve(alert.at, wall);
                        t.annotations = annotations(alert);
                        any = true;
                    }
                }
                let known = entry.by_severity[slot(alert.severity)]
                    .as_ref()
                    .is_some_and(|t| {
                        t.annotations.get("alert_id").map(String::as_str) == Some(&*alert.id)
                    });
                if !any && !known {
                    // Not firing here (fired before this process began, or its firing alert
                    // was dropped): resolve its label set anyway.
                    let mut t = Tracked {
                        starts_at: alert.started_at,
                        ends_at: None,
                        resolved_wall: None,
                        annotations: annotations(alert),
                    };
                    t.resolve(alert.at, wall);
                    entry.by_severity[slot(alert.severity)] = Some(t);
                }
            }
            AlertKind::Triage | AlertKind::Acknowledged => unreachable!("handled above"),
        }
        true
    }

    /// Forgets series until there is room for one more.
    fn make_room(&mut self) {
        while self.series.len() >= MAX_SERIES {
            let victim = self
                .series
                .iter()
                .min_by_key(|(_, s)| (!s.all_resolved(), s.touched))
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { return };
            tracing::warn!(series = %victim, "Alertmanager channel holds too many series; forgetting the oldest.");
            self.series.remove(&victim);
        }
    }

    /// Drops resolved label sets older than the retention, and empty series.
    fn prune(&mut self, wall: Instant) {
        for s in self.series.values_mut() {
            for t in &mut s.by_severity {
                if t.as_ref()
                    .and_then(|t| t.resolved_wall)
                    .is_some_and(|r| wall.saturating_duration_since(r) > RESOLVED_RETENTION)
                {
                    *t = None;
                }
            }
        }
        self.series
            .retain(|_, s| s.by_severity.iter().any(Option::is_some));
    }

    /// The postable alerts of `key` (or of every series), as of `now`.
    fn postable(&self, only: Option<&SeriesKey>, now: Timestamp) -> Vec<Value> {
        let horizon = self.horizon();
        let mut out = Vec::new();
        let mut keys: Vec<&SeriesKey> = match only {
            Some(k) => self
                .series
                .get_key_value(k)
                .map(|(k, _)| k)
                .into_iter()
                .collect(),
            None => self.series.keys().collect(),
        };
        keys.sort();
        for key in keys {
            let s = &self.series[key];
            for (i, t) in s.by_severity.iter().enumerate() {
                let Some(t) = t else { continue };
                let ends_at = t
                    .ends_at
                    .unwrap_or_else(|| now.max(t.starts_at).plus(horizon));
                let mut labels = Map::new();
                labels.insert("alertname".into(), alertname(key.metric).into());
                labels.insert("exchange".into(), key.exchange.to_string().into());
                labels.insert("endpoint".into(), key.endpoint.to_string().into());
                labels.insert("metric".into(), key.metric.as_str().into());
                labels.insert("severity".into(), SEVERITIES[i].as_str().into());
                out.push(json!({
                    "labels": labels,
                    "annotations": t.annotations,
                    "startsAt": t.starts_at.to_rfc3339(),
                    "endsAt": ends_at.to_rfc3339(),
                }));
            }
        }
        out
    }

    /// One post of `body` to each instance, at once; the outcome of each.
    fn post_all(&self, body: Bytes) -> Vec<LocalBoxFuture<'static, Result<(), DeliveryError>>> {
        self.endpoints
            .iter()
            .map(|url| {
                let req = self
                    .client
                    .post(url)
                    .insert_header(("Content-Type", "application/json"));
                let (body, timeout) = (body.clone(), self.timeout);
                let redactor = self.redactor.clone();
                // One POST, judged plainly: 2xx accepted; 408, 429 and 5xx retryable; else
                // (400: validation) rejected with Alertmanager's message.
                let fut: LocalBoxFuture<'static, Result<(), DeliveryError>> =
                    Box::pin(async move {
                        let post = http::deliver(req, body, &redactor, |answer| {
                            http::judge_answer(answer.status, answer.retry_after, &answer.body)
                        });
                        match actix_rt::time::timeout(timeout, post).await {
                            Ok(r) => r,
                            Err(_) => Err(DeliveryError::Retryable {
                                reason: "timed out".into(),
                                retry_after: None,
                            }),
                        }
                    });
                fut
            })
            .collect()
    }
}

/// The annotations of an alert (free-form; the last update wins in Alertmanager).
fn annotations(alert: &Alert) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("summary", alert.title.clone()),
        ("description", alert.message.clone()),
        ("region", alert.region.to_string()),
        ("value", alert.value.to_string()),
        ("threshold", alert.threshold.to_string()),
        ("alert_id", alert.id.to_string()),
        ("detector", alert.detector.to_string()),
    ])
}

/// Combines the instances' outcomes: delivered when one accepted; else retryable when one
/// may still accept; else rejected.
fn combine(outcomes: Vec<Result<(), DeliveryError>>) -> Result<(), DeliveryError> {
    if outcomes.iter().any(Result::is_ok) {
        return Ok(());
    }
    let mut retry_after = None;
    let mut retryable = false;
    let mut reasons = Vec::new();
    for (i, o) in outcomes.into_iter().enumerate() {
        match o {
            Ok(()) => {}
            Err(DeliveryError::Retryable {
                reason,
                retry_after: asked,
            }) => {
                retryable = true;
                retry_after = retry_after.max(asked);
                reasons.push(format!("instance {}: {reason}", i + 1));
            }
            Err(DeliveryError::Rejected { reason }) => {
                reasons.push(format!("instance {}: {reason}", i + 1));
            }
        }
    }
    let reason = bounded_text(&reasons.join("; "), 400);
    if retryable {
        Err(DeliveryError::Retryable {
            reason,
            retry_after,
        })
    } else {
        Err(DeliveryError::Rejected { reason })
    }
}

impl Channel for AlertmanagerChannel {
    fn kind(&self) -> &'static str {
        "alertmanager"
    }

    fn resumed(&mut self, alert: &Alert) {
        if alert.kind == AlertKind::Firing && self.resumed.len() < MAX_RESUMED {
            self.resumed.insert(alert.id.clone());
        }
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        if !self.record(alert, Instant::now()) {
            return Box::pin(async { Ok(()) });
        }
        let alerts = self.postable(Some(&alert.series()), Timestamp::now());
        let body = match serde_json::to_vec(&alerts) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                let reason = format!("cannot encode alerts: {e}");
                return Box::pin(async move { Err(DeliveryError::Rejected { reason }) });
            }
        };
        // Each post runs on its own task: the delivery is done as soon as one instance
        // accepted, while the posts to slower instances finish (bounded by the timeout) in
        // the background instead of holding up the queue.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let n = self.endpoints.len();
        for (i, post) in self.post_all(body).into_iter().enumerate() {
            let tx = tx.clone();
            actix_rt::spawn(async move {
                let _ = tx.send((i, post.await));
            });
        }
        drop(tx);
        let id = alert.id.clone();
        Box::pin(async move {
            let mut outcomes: Vec<Result<(), DeliveryError>> = (0..n)
                .map(|_| {
                    Err(DeliveryError::Retryable {
                        reason: "no answer".into(),
                        retry_after: None,
                    })
                })
                .collect();
            while let Some((i, outcome)) = rx.recv().await {
                if let Err(e) = &outcome {
                    tracing::debug!(alert = %id, instance = i + 1, error = %e, "Alertmanager instance did not take the alert.");
                }
                let accepted = outcome.is_ok();
                outcomes[i] = outcome;
                if accepted {
                    break;
                }
            }
            combine(outcomes)
        })
    }

    fn heartbeat_interval(&self) -> Option<Duration> {
        Some(self.resend_interval)
    }

    fn heartbeat(&mut self) -> Option<LocalBoxFuture<'static, ()>> {
        self.prune(Instant::now());
        let alerts = self.postable(None, Timestamp::now());
        if alerts.is_empty() {
            return None;
        }
        let batches: Vec<Bytes> = alerts
            .chunks(BATCH)
            .filter_map(|c| serde_json::to_vec(c).ok().map(Bytes::from))
            .collect();
        // One sequence of batches per instance; instances in parallel.
        let per_instance: Vec<Vec<_>> = batches.into_iter().map(|b| self.post_all(b)).fold(
            (0..self.endpoints.len()).map(|_| Vec::new()).collect(),
            |mut acc: Vec<Vec<_>>, posts| {
                for (i, p) in posts.into_iter().enumerate() {
                    acc[i].push(p);
                }
                acc
            },
        );
        let n = alerts.len();
        Some(Box::pin(async move {
            let runs = per_instance.into_iter().enumerate().map(|(i, posts)| async move {
                for p in posts {
                    if let Err(e) = p.await {
                        tracing::warn!(instance = i + 1, alerts = n, error = %e, "Alertmanager re-send failed; next heartbeat retries.");
                        return;
                    }
                }
            });
            join_all(runs).await;
        }))
    }
}

/// The retry policy and the builder of a `alertmanager` channel, from its validated spec.
pub fn make(spec: AlertmanagerSpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let timeout = cx.retry.timeout;
    // Two per instance: a delivery and a heartbeat may overlap.
    let connections = (spec.urls.len() * 2).max(2);
    (
        cx.retry.clone(),
        Box::new(move || {
            Box::new(AlertmanagerChannel::new(
                build_client(connections, timeout),
                spec.urls,
                spec.resend_interval,
                timeout,
            ))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Name, Stats};

    fn alert(kind: AlertKind, severity: Severity, at: i64) -> Alert {
        Alert {
            id: crate::messages::new_id(),
            kind,
            severity,
            exchange: Name::from("binance"),
            endpoint: Name::from("ping"),
            metric: Metric::LatencyMs,
            detector: Name::from("zscore"),
            title: "binance ping latency spike".into(),
            message: "slow".into(),
            value: 5234.5,
            threshold: 1000.0,
            region: Name::from("eu"),
            started_at: Timestamp(1_000_000),
            at: Timestamp(at),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        }
    }

    fn channel() -> AlertmanagerChannel {
        crate::client::install_crypto_provider();
        AlertmanagerChannel::new(
            awc::Client::default(),
            vec!["http://127.0.0.1:9093/".into()],
            Duration::from_secs(60),
            Duration::from_secs(10),
        )
    }

    #[test]
    fn labels_are_the_identity_and_hold_nothing_replica_specific() {
        let mut ch = channel();
        let a = alert(AlertKind::Firing, Severity::Warning, 1_001_000);
        assert!(ch.record(&a, Instant::now()));
        let now = Timestamp(2_000_000);
        let posted = ch.postable(Some(&a.series()), now);
        assert_eq!(posted.len(), 1);
        let p = &posted[0];
        assert_eq!(
            p["labels"],
            json!({"alertname": "ExwatchLatencySpike", "exchange": "binance", "endpoint": "ping",
                   "metric": "latency_ms", "severity": "warning"})
        );
        assert_eq!(p["annotations"]["region"], "eu");
        assert_eq!(p["annotations"]["alert_id"], a.id.to_string());
        assert_eq!(p["startsAt"], Timestamp(1_000_000).to_rfc3339());
        assert_eq!(p["endsAt"], now.plus(Duration::from_secs(190)).to_rfc3339());
        assert_eq!(ch.endpoints, ["http://127.0.0.1:9093/api/v2/alerts"]);
    }

    #[test]
    fn resumed_firing_alert_gets_a_fixed_end_not_endless_refreshes() {
        let mut ch = channel();
        let old = alert(AlertKind::Firing, Severity::Critical, 1_001_000);
        ch.resumed(&old);
        assert!(ch.record(&old, Instant::now()));
        let first = ch.postable(Some(&old.series()), Timestamp::now());
        let later = ch.postable(
            Some(&old.series()),
            Timestamp::now().plus(Duration::from_secs(3600)),
        );
        assert_eq!(
            first[0]["endsAt"], later[0]["endsAt"],
            "never pushed forward"
        );
        // A live alert of this run is refreshed as usual.
        let live = alert(AlertKind::Firing, Severity::Critical, 1_002_000);
        let mut ch = channel();
        ch.record(&live, Instant::now());
        let a = ch.postable(Some(&live.series()), Timestamp(2_000_000));
        let b = ch.postable(Some(&live.series()), Timestamp(3_000_000));
        assert_ne!(a[0]["endsAt"], b[0]["endsAt"]);
    }

    #[test]
    fn escalation_resolves_the_old_label_set_in_the_same_post() {
        let mut ch = channel();
        let wall = Instant::now();
        ch.record(
            &alert(AlertKind::Firing, Severity::Warning, 1_001_000),
            wall,
        );
        let up = alert(AlertKind::Firing, Severity::Critical, 1_005_000);
        ch.record(&up, wall);
        ch.record(&up, wall); // a retry changes nothing
        let posted = ch.postable(Some(&up.series()), Timestamp(1_006_000));
        let by_sev = |s: &str| {
            posted
                .iter()
                .find(|p| p["labels"]["severity"] == s)
                .unwrap_or_else(|| panic!("{s} in {posted:?}"))
                .clone()
        };
        assert_eq!(posted.len(), 2);
        assert_eq!(
            by_sev("warning")["endsAt"],
            Timestamp(1_005_000).to_rfc3339()
        );
        assert!(
            by_sev("critical")["endsAt"].as_str()
                > Some(Timestamp(1_006_000).to_rfc3339().as_str())
        );

        // Resolved: every label set of the series ends; kept for the retention, then dropped.
        let done = alert(AlertKind::Resolved, Severity::Critical, 1_009_000);
        ch.record(&done, wall);
        let posted = ch.postable(None, Timestamp(1_010_000));
        let ends: Vec<&str> = posted
            .iter()
            .map(|p| p["endsAt"].as_str().unwrap())
            .collect();
        let (warn_end, crit_end) = (
            Timestamp(1_005_000).to_rfc3339(),
            Timestamp(1_009_000).to_rfc3339(),
        );
        assert_eq!(ends, [warn_end.as_str(), crit_end.as_str()]);
        ch.prune(wall + Duration::from_secs(60));
        assert_eq!(ch.postable(None, Timestamp(1_010_000)).len(), 2);
        ch.prune(wall + RESOLVED_RETENTION + Duration::from_secs(1));
        assert!(ch.series.is_empty());
    }

    #[test]
    fn a_resolved_alert_for_an_unknown_series_is_still_posted() {
        let mut ch = channel();
        let done = alert(AlertKind::Resolved, Severity::Critical, 1_009_000);
        assert!(ch.record(&done, Instant::now()));
        let posted = ch.postable(None, Timestamp(1_010_000));
        assert_eq!(posted.len(), 1);
        assert_eq!(posted[0]["endsAt"], Timestamp(1_009_000).to_rfc3339());
        // A triage for something the channel never held posts nothing.
        let mut other = alert(AlertKind::Triage, Severity::Info, 1_009_000);
        other.endpoint = Name::from("time");
        assert!(!ch.record(&other, Instant::now()));
    }

    #[test]
    fn alert_names_are_valid_and_distinct() {
        let metrics = [
            Metric::LatencyMs,
            Metric::Errors,
            Metric::Availability,
            Metric::Price,
            Metric::PriceDeviationBps,
            Metric::ClockSkewMs,
            Metric::ActorRestarts,
            Metric::StreamLagMs,
            Metric::StreamSilenceMs,
            Metric::StreamFrozen,
            Metric::StreamGap,
            Metric::StreamReconnects,
        ];
        let mut names: Vec<&str> = metrics.iter().map(|m| alertname(*m)).collect();
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), metrics.len());
    }

    #[test]
    fn one_accepting_instance_is_enough() {
        let retry = || {
            Err(DeliveryError::Retryable {
                reason: "HTTP 503".into(),
                retry_after: None,
            })
        };
        let reject = || {
            Err(DeliveryError::Rejected {
                reason: "HTTP 400: bad".into(),
            })
        };
        assert_eq!(combine(vec![retry(), Ok(())]), Ok(()));
        assert!(matches!(
            combine(vec![retry(), reject()]),
            Err(DeliveryError::Retryable { .. })
        ));
        assert!(matches!(
            combine(vec![reject(), reject()]),
            Err(DeliveryError::Rejected { reason }) if reason == "instance 1: HTTP 400: bad; instance 2: HTTP 400: bad"
        ));
    }
}
