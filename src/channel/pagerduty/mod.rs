//! The `pagerduty` channel: PagerDuty Events API v2 (`POST {api_base}/v2/enqueue`, JSON; the
//! routing key in the body is the secret).
//!
//! - **Events.** A firing alert is a `trigger` (a reminder or an escalation too: the same
//!   `dedup_key` updates the one incident, with the new severity); a resolved alert is a
//!   `resolve`; an incident acknowledged in exwatch (`POST /api/v1/alerts/{id}/ack`, which
//!   the Router turns into an `acknowledged` alert for the channels that want acks) is an
//!   `acknowledge`. Triage follow-ups are
//!   not sent: PagerDuty gets each series' alerts and groups them itself.
//! - **The incident** is named by [`dedup_key`]: the series (exchange, endpoint, metric) and
//!   the episode's `started_at` — no region, no alert id — so a re-send, a reminder or another
//!   vantage's alert of the same episode never opens a second incident.
//! - **Payload** (trigger): `summary` (≤ 1,024 characters), `source` (`exchange/endpoint`),
//!   `severity` (critical, warning, info as they are), `timestamp`, `component` (endpoint),
//!   `group` (exchange), `class` (metric), `custom_details` (value, threshold, detector,
//!   message, region, alert id, recent statistics).
//! - **Answers.** 2xx (202) is delivered. 400 (an invalid event) is a rejection quoting
//!   PagerDuty's `errors`; 429 and 5xx are retried with back-off (`Retry-After` honoured when
//!   sent); other 4xx are rejections. The routing key appears in no reason.

pub mod config;

use std::fmt;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::channel::Channel;
use crate::channel::http::{self, Redactor};
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::channel::text::{self, fit};
use crate::client::{bounded_text, build_client};
use crate::config::{RetrySettings, Secret};
use crate::error::DeliveryError;
use crate::messages::{Alert, AlertKind};
use config::PagerDutySpec;

/// The default Events API base.
pub const DEFAULT_API_BASE: &str = "https://events.pagerduty.com";

/// The enqueue endpoint, under the API base.
pub const ENQUEUE_PATH: &str = "/v2/enqueue";

/// PagerDuty's limit on `summary`, in characters.
pub const MAX_SUMMARY: usize = 1024;

/// PagerDuty's limit on `dedup_key`, in characters.
pub const MAX_DEDUP_KEY: usize = 255;

/// The incident's key: `exwatch/<exchange>/<endpoint>/<metric>/<started_at ms>`, or, when that
/// would exceed [`MAX_DEDUP_KEY`], `exwatch/sha256:<hex>` of it. Stable across re-sends,
/// reminders, escalations and vantages (no region, no alert id).
pub fn dedup_key(alert: &Alert) -> String {
    let key = format!(
        "exwatch/{}/{}/{}/{}",
        alert.exchange,
        alert.endpoint,
        alert.metric,
        alert.started_at.as_millis()
    );
    if key.chars().count() <= MAX_DEDUP_KEY {
        return key;
    }
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("exwatch/sha256:{hex}")
}

/// The event action for `alert`; `None` for what PagerDuty is not sent (triage follow-ups).
pub fn event_action(alert: &Alert) -> Option<&'static str> {
    match alert.kind {
        AlertKind::Firing => Some("trigger"),
        AlertKind::Resolved => Some("resolve"),
        AlertKind::Acknowledged => Some("acknowledge"),
        AlertKind::Triage => None,
    }
}

/// The event for `alert` (without its routing key); `None` when nothing is sent.
pub fn event(alert: &Alert) -> Option<Value> {
    let action = event_action(alert)?;
    let mut e = json!({
        "event_action": action,
        "dedup_key": dedup_key(alert),
    });
    if action == "trigger" {
        let mut details = json!({
            "value": text::value(alert.value, alert.metric),
            "threshold": text::value(alert.threshold, alert.metric),
            "detector": &*alert.detector,
            "message": fit(&alert.message, 4000),
            "region": &*alert.region,
            "alert_id": &*alert.id,
            "started_at": alert.started_at.to_rfc3339(),
        });
        if let Some(stats) = text::stats(&alert.stats) {
            details["recent"] = json!(stats);
        }
        e["payload"] = json!({
            "summary": fit(&format!("{} {}", alert.severity.as_str().to_ascii_uppercase(), alert.title), MAX_SUMMARY),
            "source": fit(&format!("{}/{}", alert.exchange, alert.endpoint), 255),
            "severity": alert.severity.as_str(),
            "timestamp": alert.at.to_rfc3339(),
            "component": fit(&alert.endpoint, 255),
            "group": fit(&alert.exchange, 255),
            "class": alert.metric.as_str(),
            "custom_details": details,
        });
        e["client"] = json!("exwatch");
    }
    Some(e)
}

/// PagerDuty's reason from an error answer: `message: errors…`, bounded.
pub fn pagerduty_reason(status: u16, body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return format!("PagerDuty {}", crate::client::http_reason(status, body));
    };
    let mut reason = json["message"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    let errors: Vec<&str> = json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .take(3)
        .collect();
    if !errors.is_empty() {
        reason = format!("{reason}: {}", errors.join("; "));
    }
    format!(
        "PagerDuty HTTP {status}: {}",
        bounded_text(reason.trim(), 300)
    )
}

/// Turns PagerDuty's answer into a delivery result (see the module docs).
pub fn judge_pagerduty(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), DeliveryError> {
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(DeliveryError::Retryable {
            reason: pagerduty_reason(status, body),
            retry_after,
        }),
        _ => Err(DeliveryError::Rejected {
            reason: pagerduty_reason(status, body),
        }),
    }
}

/// Sends events to one PagerDuty integration.
pub struct PagerDutyChannel {
    client: awc::Client,
    url: String,
    routing_key: Secret,
    redactor: Redactor,
}

impl fmt::Debug for PagerDutyChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PagerDutyChannel")
            .field("url", &self.url)
            .field("routing_key", &self.routing_key)
            .finish_non_exhaustive()
    }
}

impl PagerDutyChannel {
    /// A channel sending through `client` (built on the channel's arbiter) to the Events API
    /// at `api_base`, with `routing_key`.
    pub fn new(client: awc::Client, api_base: &str, routing_key: Secret) -> Self {
        let url = format!("{}{ENQUEUE_PATH}", api_base.trim().trim_end_matches('/'));
        let mut secrets = vec![routing_key.clone()];
        secrets.extend(http::url_credentials(&url));
        Self {
            client,
            url,
            redactor: Redactor::new(secrets),
            routing_key,
        }
    }
}

impl Channel for PagerDutyChannel {
    fn kind(&self) -> &'static str {
        "pagerduty"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let Some(mut event) = event(alert) else {
            return Box::pin(async { Ok(()) });
        };
        event["routing_key"] = json!(self.routing_key.expose());
        let req = self.client.post(&self.url);
        http::post_json(req, &event, "event", &self.redactor, |a| {
            judge_pagerduty(a.status, a.retry_after, &a.body)
        })
    }
}

/// The retry policy and the builder of a `pagerduty` channel, from its validated spec.
pub fn make(spec: PagerDutySpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let timeout = cx.retry.timeout;
    (
        cx.retry.clone(),
        Box::new(move || {
            Box::new(PagerDutyChannel::new(
                build_client(2, timeout),
                &spec.api_base,
                spec.routing_key,
            ))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, Name, Severity, Stats, Timestamp};

    fn alert(kind: AlertKind, severity: Severity) -> Alert {
        Alert {
            id: crate::messages::new_id(),
            kind,
            severity,
            exchange: Name::from("okx"),
            endpoint: Name::from("ticker"),
            metric: Metric::LatencyMs,
            detector: Name::from("zscore"),
            title: "okx ticker latency spike".into(),
            message: "p99 far above baseline".into(),
            value: 5234.5,
            threshold: 71.3,
            region: Name::from("eu"),
            started_at: Timestamp(1_795_000_000_000),
            at: Timestamp(1_795_000_003_000),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        }
    }

    #[test]
    fn the_dedup_key_is_the_incident() {
        let a = alert(AlertKind::Firing, Severity::Warning);
        let mut b = alert(AlertKind::Firing, Severity::Critical);
        b.region = Name::from("us");
        b.at = Timestamp(1_795_000_009_000);
        let r = alert(AlertKind::Resolved, Severity::Critical);
        assert_eq!(dedup_key(&a), "exwatch/okx/ticker/latency_ms/1795000000000");
        assert_eq!(
            dedup_key(&a),
            dedup_key(&b),
            "another vantage, an escalation"
        );
        assert_eq!(dedup_key(&a), dedup_key(&r));
        let mut next = a.clone();
        next.started_at = Timestamp(1_795_000_100_000);
        assert_ne!(
            dedup_key(&a),
            dedup_key(&next),
            "a new episode, a new incident"
        );
        let mut long = a.clone();
        long.endpoint = Name::from("e".repeat(400));
        assert!(dedup_key(&long).len() <= MAX_DEDUP_KEY);
    }

    #[test]
    fn events_by_kind() {
        let t = event(&alert(AlertKind::Firing, Severity::Critical)).unwrap();
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["payload"]["severity"], "critical");
        assert_eq!(t["payload"]["summary"], "CRITICAL okx ticker latency spike");
        assert_eq!(t["payload"]["source"], "okx/ticker");
        assert_eq!(t["payload"]["group"], "okx");
        assert_eq!(t["payload"]["component"], "ticker");
        assert_eq!(t["payload"]["class"], "latency_ms");
        assert_eq!(t["payload"]["timestamp"], "2026-11-18T11:06:43Z");
        assert_eq!(t["payload"]["custom_details"]["region"], "eu");
        for (s, want) in [(Severity::Warning, "warning"), (Severity::Info, "info")] {
            assert_eq!(
                event(&alert(AlertKind::Firing, s)).unwrap()["payload"]["severity"],
                want
            );
        }
        let r = event(&alert(AlertKind::Resolved, Severity::Critical)).unwrap();
        assert_eq!(r["event_action"], "resolve");
        assert!(r.get("payload").is_none());
        assert!(event(&alert(AlertKind::Triage, Severity::Critical)).is_none());
        let mut huge = alert(AlertKind::Firing, Severity::Info);
        huge.title = "t".repeat(5000);
        let s = event(&huge).unwrap()["payload"]["summary"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(s.chars().count() <= MAX_SUMMARY);
    }

    #[test]
    fn answers_map_to_results() {
        assert_eq!(judge_pagerduty(202, None, b"{}"), Ok(()));
        assert_eq!(
            judge_pagerduty(400, None, br#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#),
            Err(DeliveryError::Rejected {
                reason: "PagerDuty HTTP 400: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)".into()
            })
        );
        assert!(matches!(
            judge_pagerduty(429, None, b""),
            Err(DeliveryError::Retryable { .. })
        ));
        assert!(matches!(
            judge_pagerduty(503, None, b""),
            Err(DeliveryError::Retryable { .. })
        ));
    }
}
