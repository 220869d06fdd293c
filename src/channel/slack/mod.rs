//! The `slack` channel: posts to a Slack incoming webhook (`POST <webhook URL>`, JSON, no
//! authorization header — the whole URL is the secret).
//!
//! - **Message.** `text` is the fallback a notification shows (marker, headline, title).
//!   The body is Block Kit: a `header` (≤ 150 characters), a `section` with the alert's
//!   message (≤ 3,000), a `section` of fields (exchange, endpoint, metric, value, threshold,
//!   detector, times, statistics; ≤ 10 fields of ≤ 2,000), and a `context` line (region and
//!   alert id), at most [`limits::BLOCKS`] blocks. The blocks sit in one legacy `attachments`
//!   entry whose `color` gives the severity bar (critical red, warning orange, info blue,
//!   resolved green). Text from exchanges is escaped for mrkdwn (`&` `<` `>`), so it can
//!   neither mention anyone nor form a link.
//! - **Answers.** `200 ok` is delivered. 429 is retried after `Retry-After`; 5xx, 408 and
//!   timeouts are retried; Slack's plain-text errors (400 `invalid_payload` / `no_text`, 403
//!   `action_prohibited`, 404 `channel_not_found`, 410 `channel_is_archived`) are rejections
//!   quoting them. No reason ever contains the URL.

pub mod config;

use std::fmt;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use crate::channel::Channel;
use crate::channel::http::{self, Redactor};
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::channel::text::{self, escape, fit, fit_escaped};
use crate::client::{bounded_text, build_client};
use crate::config::{RetrySettings, Secret};
use crate::error::DeliveryError;
use crate::messages::{Alert, AlertKind, Severity};
use config::SlackSpec;

/// Slack's limits, in characters.
pub mod limits {
    /// Blocks per message.
    pub const BLOCKS: usize = 50;
    /// A `section` block's text.
    pub const SECTION: usize = 3000;
    /// A `header` block's text.
    pub const HEADER: usize = 150;
    /// Fields of a `section`.
    pub const FIELDS: usize = 10;
    /// One field's text.
    pub const FIELD: usize = 2000;
    /// The fallback `text` (Slack truncates beyond 40,000; kept short for notifications).
    pub const TEXT: usize = 3000;
}

/// Bar colour of a critical alert.
pub const COLOR_CRITICAL: &str = "#D40E0D";
/// Bar colour of a warning.
pub const COLOR_WARNING: &str = "#F2A900";
/// Bar colour of an info alert.
pub const COLOR_INFO: &str = "#1D9BD1";
/// Bar colour of a resolved alert.
pub const COLOR_RESOLVED: &str = "#2EB67D";

/// The bar colour of `alert`.
pub fn color(alert: &Alert) -> &'static str {
    if alert.kind == AlertKind::Resolved {
        return COLOR_RESOLVED;
    }
    match alert.severity {
        Severity::Critical => COLOR_CRITICAL,
        Severity::Warning => COLOR_WARNING,
        Severity::Info => COLOR_INFO,
    }
}

/// The webhook body for `alert`, within every Slack limit. The one place the message is built.
pub fn payload(alert: &Alert) -> Value {
    let (headline, body) = match alert.kind {
        AlertKind::Triage => (
            format!(
                "{} TRIAGE re: {}",
                text::marker(alert),
                text::original_title(alert)
            ),
            format!(
                "Follow-up to alert `{}`\n\n{}",
                fit_escaped(alert.in_reply_to.as_deref().unwrap_or("?"), 100),
                escape(alert.message.trim())
            ),
        ),
        _ => (
            format!(
                "{} {} {}",
                text::marker(alert),
                text::headline(alert),
                alert.title
            ),
            escape(alert.message.trim()),
        ),
    };
    let field = |name: &str, value: &str| json!({"type": "mrkdwn", "text": fit(&format!("*{name}*\n{value}"), limits::FIELD)});
    let value_name = if alert.kind == AlertKind::Resolved {
        "Last value"
    } else {
        "Value"
    };
    let mut fields = vec![
        field("Exchange", &fit_escaped(&alert.exchange, 500)),
        field("Endpoint", &fit_escaped(&alert.endpoint, 500)),
        field("Metric", alert.metric.as_str()),
        field(value_name, &text::value(alert.value, alert.metric)),
        field("Threshold", &text::value(alert.threshold, alert.metric)),
        field("Detector", &fit_escaped(&alert.detector, 500)),
        field("Started", &text::time(alert.started_at)),
    ];
    if alert.kind == AlertKind::Resolved {
        fields.push(field("Resolved", &text::time(alert.at)));
    }
    if let Some(stats) = text::stats(&alert.stats) {
        fields.push(field("Recent", &escape(&stats)));
    }
    fields.truncate(limits::FIELDS);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": fit(&headline, limits::HEADER), "emoji": true},
    })];
    // `body` is escaped already: cut it on whole entities.
    let body = cut_escaped(&body, limits::SECTION);
    if !body.is_empty() {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": body}}));
    }
    // A group message lists its incident's members.
    if let Some(listing) = text::group_listing(alert, limits::SECTION / 2) {
        let listing = cut_escaped(&escape(&listing), limits::SECTION);
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": listing}}));
    }
    blocks.push(json!({"type": "section", "fields": fields}));
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!(
            "exwatch · {} · alert `{}`",
            fit_escaped(&alert.region, 200),
            fit_escaped(&alert.id, 100)
        )}],
    }));
    blocks.truncate(limits::BLOCKS);
    json!({
        "text": fit_escaped(&headline, limits::TEXT),
        "attachments": [{"color": color(alert), "blocks": blocks}],
    })
}

/// Escaped `text` cut to at most `max` units without splitting an `&…;` entity.
fn cut_escaped(text: &str, max: usize) -> String {
    let cut = fit(text, max);
    if cut == text.trim() {
        return cut;
    }
    // An entity cut short leaves a `&` with no `;` after it: drop from there.
    let body = cut.trim_end_matches(text::ELLIPSIS);
    match body.rfind('&') {
        Some(i) if !body[i..].contains(';') => format!("{}{}", &body[..i], text::ELLIPSIS),
        _ => cut,
    }
}

/// Turns Slack's answer into a delivery result (see the module docs).
pub fn judge_slack(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), DeliveryError> {
    let reason = || {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("Slack HTTP {status}")
        } else {
            format!("Slack HTTP {status}: {}", bounded_text(text, 300))
        }
    };
    match status {
        200..=299 => Ok(()),
        408 | 429 | 500..=599 => Err(DeliveryError::Retryable {
            reason: reason(),
            retry_after,
        }),
        _ => Err(DeliveryError::Rejected { reason: reason() }),
    }
}

/// Posts alerts to one Slack incoming webhook.
pub struct SlackChannel {
    client: awc::Client,
    url: Secret,
    redactor: Redactor,
}

impl fmt::Debug for SlackChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlackChannel")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl SlackChannel {
    /// A channel posting to `webhook_url` through `client` (built on the channel's arbiter).
    pub fn new(client: awc::Client, webhook_url: &Secret) -> Self {
        let url = webhook_url.expose().trim();
        let mut secrets = vec![Secret::new(url)];
        // The path's last segment is the webhook's token: redacted on its own too.
        let path = url.split(['?', '#']).next().unwrap_or(url);
        if let Some(token) = path.rsplit('/').find(|s| !s.is_empty())
            && url.matches('/').count() > 3
        {
            secrets.push(Secret::new(token));
        }
        Self {
            client,
            url: Secret::new(url),
            redactor: Redactor::new(secrets),
        }
    }
}

impl Channel for SlackChannel {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let req = self.client.post(self.url.expose());
        http::post_json(req, &payload(alert), "alert", &self.redactor, |a| {
            judge_slack(a.status, a.retry_after, &a.body)
        })
    }
}

/// The retry policy and the builder of a `slack` channel, from its validated spec.
pub fn make(spec: SlackSpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let timeout = cx.retry.timeout;
    (
        cx.retry.clone(),
        Box::new(move || {
            Box::new(SlackChannel::new(
                build_client(2, timeout),
                &spec.webhook_url,
            ))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, Name, Stats, Timestamp};

    fn alert(kind: AlertKind, severity: Severity, message: &str) -> Alert {
        Alert {
            id: Name::from("01JD3V6Y1Q7ZK0A5B4C3D2E1F0"),
            kind,
            severity,
            exchange: Name::from("bybit"),
            endpoint: Name::from("time"),
            metric: Metric::ClockSkewMs,
            detector: Name::from("clock_skew"),
            title: "bybit time clock skew".into(),
            message: message.into(),
            value: 2500.0,
            threshold: 2000.0,
            region: Name::from("local"),
            started_at: Timestamp(1_795_000_000_000),
            at: Timestamp(1_795_000_003_000),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        }
    }

    fn assert_within_limits(p: &Value) {
        let blocks = p["attachments"][0]["blocks"].as_array().unwrap();
        assert!(blocks.len() <= limits::BLOCKS);
        for b in blocks {
            match b["type"].as_str().unwrap() {
                "header" => {
                    assert!(b["text"]["text"].as_str().unwrap().chars().count() <= limits::HEADER)
                }
                "section" => {
                    if let Some(t) = b["text"]["text"].as_str() {
                        assert!(t.chars().count() <= limits::SECTION);
                    }
                    for f in b["fields"].as_array().into_iter().flatten() {
                        assert!(f["text"].as_str().unwrap().chars().count() <= limits::FIELD);
                    }
                }
                _ => {}
            }
        }
    }

    #[test]
    fn payload_shape_and_colour() {
        let p = payload(&alert(
            AlertKind::Firing,
            Severity::Critical,
            "skew <b>2500</b> & more",
        ));
        assert_eq!(p["text"], "🔴 CRITICAL bybit time clock skew");
        assert_eq!(p["attachments"][0]["color"], COLOR_CRITICAL);
        let blocks = p["attachments"][0]["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(
            blocks[1]["text"]["text"],
            "skew &lt;b&gt;2500&lt;/b&gt; &amp; more"
        );
        assert_eq!(blocks[2]["fields"][3]["text"], "*Value*\n2500 ms");
        assert_eq!(blocks[3]["type"], "context");
        assert_within_limits(&p);
        let c = |k, s| payload(&alert(k, s, "m"))["attachments"][0]["color"].clone();
        assert_eq!(c(AlertKind::Resolved, Severity::Critical), COLOR_RESOLVED);
        assert_eq!(c(AlertKind::Firing, Severity::Warning), COLOR_WARNING);
        assert_eq!(c(AlertKind::Firing, Severity::Info), COLOR_INFO);
    }

    #[test]
    fn every_limit_holds_for_absurd_alerts() {
        for unit in ["x", "&", "<", "🍎"] {
            let mut a = alert(AlertKind::Firing, Severity::Warning, &unit.repeat(20_000));
            a.title = unit.repeat(3000);
            a.exchange = Name::from(unit.repeat(3000));
            let p = payload(&a);
            assert_within_limits(&p);
            let section = p["attachments"][0]["blocks"][1]["text"]["text"]
                .as_str()
                .unwrap();
            assert!(section.ends_with('…'));
            let tail = section.trim_end_matches('…');
            if let Some(i) = tail.rfind('&') {
                assert!(tail[i..].contains(';'), "{unit}: entity split");
            }
        }
    }

    #[test]
    fn answers_map_to_results() {
        assert_eq!(judge_slack(200, None, b"ok"), Ok(()));
        assert!(matches!(
            judge_slack(429, Some(Duration::from_secs(3)), b"rate_limited"),
            Err(DeliveryError::Retryable { retry_after: Some(d), .. }) if d == Duration::from_secs(3)
        ));
        assert_eq!(
            judge_slack(404, None, b"channel_not_found"),
            Err(DeliveryError::Rejected {
                reason: "Slack HTTP 404: channel_not_found".into()
            })
        );
        assert!(matches!(
            judge_slack(410, None, b"channel_is_archived"),
            Err(DeliveryError::Rejected { .. })
        ));
        assert!(matches!(
            judge_slack(503, None, b""),
            Err(DeliveryError::Retryable { .. })
        ));
    }

    #[test]
    fn a_group_message_lists_its_members_within_limits() {
        use crate::messages::{AlertGroup, GroupUpdate};
        let mut lead = alert(AlertKind::Firing, Severity::Critical, "slow");
        let mut other = alert(AlertKind::Resolved, Severity::Warning, "errors");
        other.endpoint = "<ticker>".into();
        lead.group = Some(AlertGroup {
            key: "exchange=okx".into(),
            update: GroupUpdate::Updated,
            alerts: vec![lead.clone(), other],
        });
        let p = payload(&lead);
        assert_within_limits(&p);
        let text = p.to_string();
        assert!(
            text.contains("Incident exchange=okx (updated): 2 series"),
            "{text}"
        );
        assert!(text.contains("&lt;ticker&gt;"), "{text}");
    }
}
