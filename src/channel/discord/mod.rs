//! The `discord` channel: executes a Discord webhook (`POST <webhook URL>?wait=true`, JSON, no
//! authorization header — the URL carries the webhook's token and is the secret).
//!
//! - **Message.** A short `content` line (severity and title: what a phone notification
//!   shows) and one embed coloured by severity (critical red, warning orange, info blue,
//!   resolved green) with the alert's message as description; fields for exchange, endpoint,
//!   metric, value, threshold, detector, start time, recent statistics and the alert id (a
//!   triage names the alert it follows up); the alert's time as timestamp; footer
//!   `exwatch · <region>`. `allowed_mentions: {"parse": []}`: text from exchanges can never
//!   ping anyone.
//! - **Limits.** Every Discord limit is respected: title 256, description 4096, at most 25
//!   fields, field name 256, field value 1024, footer 2048, 6000 across the embed, content
//!   2000. Text is trimmed, then cut on a character boundary with `…`; when the embed would
//!   exceed 6000 the description gives way first. Lengths are counted in UTF-16 code units,
//!   never fewer than Discord counts.
//! - **API version.** A webhook URL as Discord hands it out (`…/api/webhooks/{id}/{token}`)
//!   is unversioned, and unversioned requests get API v6, whose rate-limit answers give
//!   `retry_after` and `Retry-After` in *milliseconds*. exwatch therefore sends such URLs (and
//!   explicit v6/v7 ones) on Discord's own hosts to `…/api/v10/webhooks/{id}/{token}`, where
//!   both are in seconds. Other URLs (a relay of your own, a stand-in) are used as given. Query parameters such as
//!   `thread_id` are kept; `wait=true` is added.
//! - **Answers.** 200/204 is delivered. 429 waits the larger of the body's `retry_after`
//!   (float seconds) and the `Retry-After` header, then retries. 5xx, 408, 425 and timeouts
//!   are retried. 404 (the webhook was deleted), 400 (quoting Discord's `message`, `code` and
//!   the first field errors) and every other 4xx are rejections. No reason ever contains the
//!   URL or its token.

pub mod config;

use std::fmt;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use crate::channel::Channel;
use crate::channel::http::{self, Redactor};
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::channel::text::{self, fit, utf16_len};
use crate::client::bounded_text;
use crate::client::build_client;
use crate::config::RetrySettings;
use crate::config::Secret;
use crate::error::DeliveryError;
use crate::messages::{Alert, AlertKind, Severity};
use config::DiscordSpec;

/// The API version exwatch pins unversioned webhook URLs to.
pub const API_VERSION: u32 = 10;

/// Embed colour of a critical alert (red).
pub const COLOR_CRITICAL: u32 = 15_158_332;
/// Embed colour of a warning (orange).
pub const COLOR_WARNING: u32 = 15_965_202;
/// Embed colour of an info alert (blue).
pub const COLOR_INFO: u32 = 3_447_003;
/// Embed colour of a resolved alert (green).
pub const COLOR_RESOLVED: u32 = 3_066_993;

/// Discord's limits, in characters.
pub mod limits {
    /// Message content.
    pub const CONTENT: usize = 2000;
    /// Embed title.
    pub const TITLE: usize = 256;
    /// Embed description.
    pub const DESCRIPTION: usize = 4096;
    /// Fields per embed.
    pub const FIELDS: usize = 25;
    /// Field name.
    pub const FIELD_NAME: usize = 256;
    /// Field value.
    pub const FIELD_VALUE: usize = 1024;
    /// Footer text.
    pub const FOOTER: usize = 2048;
    /// Title, description, field names and values, footer text and author name together.
    pub const TOTAL: usize = 6000;
}

/// The most characters of Discord's reason quoted in a rejection.
const MAX_REASON: usize = 300;

/// Executes one Discord webhook.
pub struct DiscordChannel {
    client: awc::Client,
    /// The URL POSTed to (pinned API version, `wait=true`).
    url: Secret,
    /// What must never appear in a reason: the URL as configured and as POSTed, and its token.
    redactor: Redactor,
}

impl DiscordChannel {
    /// A channel executing the webhook at `webhook_url`, through `client` (built on the
    /// channel's arbiter).
    pub fn new(client: awc::Client, webhook_url: &Secret) -> Self {
        let configured = webhook_url.expose().trim();
        let url = execute_url(configured);
        let mut secrets = vec![Secret::new(configured), Secret::new(url.clone())];
        let path = configured.split(['?', '#']).next().unwrap_or(configured);
        if let Some(token) = path.rsplit('/').find(|s| !s.is_empty()) {
            secrets.push(Secret::new(token));
        }
        Self {
            client,
            url: Secret::new(url),
            redactor: Redactor::new(secrets),
        }
    }
}

impl fmt::Debug for DiscordChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscordChannel")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The URL exwatch POSTs to for `webhook_url`: unversioned (and v6/v7) Discord webhook paths
/// pinned to [`API_VERSION`], any fragment dropped, other query parameters kept, and
/// `wait=true` (Discord answers 200 with the message once it is stored).
pub fn execute_url(webhook_url: &str) -> String {
    let url = webhook_url.trim();
    let url = url.split('#').next().unwrap_or(url);
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && *p != "wait" && !p.starts_with("wait="))
        .collect();
    params.push("wait=true");
    format!("{}?{}", pin_api_version(base), params.join("&"))
}

/// The hosts that serve Discord's API.
const DISCORD_HOSTS: &[&str] = &[
    "discord.com",
    "discordapp.com",
    "canary.discord.com",
    "ptb.discord.com",
];

fn pin_api_version(base: &str) -> String {
    let Some(scheme_end) = base.find("://") else {
        return base.to_owned();
    };
    let authority = scheme_end + 3;
    let Some(slash) = base[authority..].find('/') else {
        return base.to_owned();
    };
    let (origin, path) = base.split_at(authority + slash);
    // Only Discord itself has the legacy, millisecond API; a relay or a stand-in elsewhere
    // gets exactly the URL it was configured with.
    let host = origin[authority..].split(':').next().unwrap_or("");
    if !DISCORD_HOSTS.contains(&host.to_ascii_lowercase().as_str()) {
        return base.to_owned();
    }
    if let Some(rest) = path.strip_prefix("/api/webhooks/") {
        return format!("{origin}/api/v{API_VERSION}/webhooks/{rest}");
    }
    if let Some((version, tail)) = path.strip_prefix("/api/v").and_then(|r| r.split_once('/'))
        && tail.starts_with("webhooks/")
        && version.parse::<u32>().is_ok_and(|v| v < 8)
    {
        return format!("{origin}/api/v{API_VERSION}/{tail}");
    }
    base.to_owned()
}

/// The embed colour of `alert`.
pub fn color(alert: &Alert) -> u32 {
    if alert.kind == AlertKind::Resolved {
        return COLOR_RESOLVED;
    }
    match alert.severity {
        Severity::Critical => COLOR_CRITICAL,
        Severity::Warning => COLOR_WARNING,
        Severity::Info => COLOR_INFO,
    }
}

/// One embed as built, before it becomes JSON.
struct Embed {
    title: String,
    description: String,
    /// Name, value, inline.
    fields: Vec<(String, String, bool)>,
    footer: String,
}

impl Embed {
    fn total(&self) -> usize {
        utf16_len(&self.title)
            + utf16_len(&self.description)
            + self
                .fields
                .iter()
                .map(|(n, v, _)| utf16_len(n) + utf16_len(v))
                .sum::<usize>()
            + utf16_len(&self.footer)
    }

    /// Shrinks the embed until it fits [`limits::TOTAL`]: the description first, then the
    /// footer, then field values from the last, then whole fields, then the title.
    fn fit_total(&mut self) {
        let over = |e: &Embed| e.total().saturating_sub(limits::TOTAL);
        let shrink = |s: &mut String, by: usize| {
            *s = fit(s, utf16_len(s).saturating_sub(by));
        };
        let by = over(self);
        if by > 0 {
            shrink(&mut self.description, by);
        }
        let by = over(self);
        if by > 0 {
            shrink(&mut self.footer, by);
        }
        for i in (0..self.fields.len()).rev() {
            let by = over(self);
            if by == 0 {
                break;
            }
            shrink(&mut self.fields[i].1, by);
        }
        // An empty value is refused by Discord: such a field goes.
        self.fields
            .retain(|(n, v, _)| !n.trim().is_empty() && !v.trim().is_empty());
        while over(self) > 0 && !self.fields.is_empty() {
            self.fields.pop();
        }
        let by = over(self);
        if by > 0 {
            shrink(&mut self.title, by);
        }
    }
}

/// Discord's `<t:…>` markup: shown in each reader's own time zone, with a relative time.
fn discord_time(t: crate::messages::Timestamp) -> String {
    let secs = t.as_millis().div_euclid(1000);
    format!("<t:{secs}:f> (<t:{secs}:R>)")
}

/// The execute-webhook JSON body for `alert`, within every Discord limit.
pub fn payload(alert: &Alert) -> Value {
    let (content, title, description) = match alert.kind {
        AlertKind::Triage => {
            let original = text::original_title(alert);
            let reply_to = alert.in_reply_to.as_deref().unwrap_or("?");
            (
                format!("{} **TRIAGE** re: {original}", text::marker(alert)),
                format!("Triage: {original}"),
                // The reference goes first: the hypothesis may be cut, the reference never.
                format!(
                    "Follow-up to alert `{}`\n\n{}",
                    fit(reply_to, 100),
                    alert.message.trim()
                ),
            )
        }
        _ => (
            format!(
                "{} **{}** {}",
                text::marker(alert),
                text::headline(alert),
                alert.title
            ),
            alert.title.clone(),
            alert.message.clone(),
        ),
    };
    let inline = |name: &str, value: String| {
        (
            fit(name, limits::FIELD_NAME),
            fit(&value, limits::FIELD_VALUE),
            true,
        )
    };
    let value_name = if alert.kind == AlertKind::Resolved {
        "Last value"
    } else {
        "Value"
    };
    let mut fields = vec![
        inline("Exchange", alert.exchange.to_string()),
        inline("Endpoint", alert.endpoint.to_string()),
        inline("Metric", alert.metric.to_string()),
        inline(value_name, text::value(alert.value, alert.metric)),
        inline("Threshold", text::value(alert.threshold, alert.metric)),
        inline("Detector", alert.detector.to_string()),
        inline("Started", discord_time(alert.started_at)),
    ];
    if alert.kind == AlertKind::Resolved {
        fields.push(inline("Resolved", discord_time(alert.at)));
    }
    if let Some(stats) = text::stats(&alert.stats) {
        fields.push(inline("Recent", stats));
    }
    fields.push(inline("Alert", format!("`{}`", alert.id)));
    if let Some(original) = &alert.in_reply_to {
        fields.push(inline("In reply to", format!("`{original}`")));
    }
    if let Some(listing) = text::group_listing(alert, limits::FIELD_VALUE) {
        // One message per incident: its members, in a field of their own.
        fields.insert(0, (fit("Incident", limits::FIELD_NAME), listing, false));
    }
    fields.retain(|(n, v, _)| !n.is_empty() && !v.is_empty());
    fields.truncate(limits::FIELDS);

    let mut embed = Embed {
        title: fit(&title, limits::TITLE),
        description: fit(&description, limits::DESCRIPTION),
        fields,
        footer: fit(&format!("exwatch · {}", alert.region), limits::FOOTER),
    };
    embed.fit_total();

    let mut e = json!({
        "color": color(alert),
        "timestamp": alert.at.to_rfc3339(),
        "fields": embed.fields.iter().map(|(name, value, inline)| json!({
            "name": name, "value": value, "inline": inline,
        })).collect::<Vec<_>>(),
    });
    if !embed.title.is_empty() {
        e["title"] = json!(embed.title);
    }
    if !embed.description.is_empty() {
        e["description"] = json!(embed.description);
    }
    if !embed.footer.is_empty() {
        e["footer"] = json!({ "text": embed.footer });
    }
    json!({
        "content": fit(&content, limits::CONTENT),
        "embeds": [e],
        "allowed_mentions": { "parse": [] },
    })
}

/// Discord's reason from an error answer: `message (code N)`, then up to three field errors
/// (`embeds.0.title: Must be 256 or fewer in length.`), bounded; the raw text when it is not
/// Discord's JSON.
pub fn discord_reason(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let Ok(json) = serde_json::from_str::<Value>(text) else {
        return Some(bounded_text(text, MAX_REASON));
    };
    let mut reason = json["message"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    if let Some(code) = json["code"].as_i64() {
        reason = format!("{reason} (code {code})");
    }
    let mut errors = Vec::new();
    collect_errors(&json["errors"], &mut Vec::new(), &mut errors);
    if !errors.is_empty() {
        errors.truncate(3);
        reason = format!("{reason}: {}", errors.join("; "));
    }
    if reason.trim().is_empty() {
        return Some(bounded_text(text, MAX_REASON));
    }
    Some(bounded_text(reason.trim(), MAX_REASON))
}

/// Walks Discord's nested `errors` object, collecting `path: message` for each `_errors`.
fn collect_errors<'a>(v: &'a Value, path: &mut Vec<&'a str>, out: &mut Vec<String>) {
    let Some(map) = v.as_object() else { return };
    for (key, child) in map {
        if key == "_errors" {
            for e in child.as_array().into_iter().flatten() {
                let msg = e["message"].as_str().unwrap_or("invalid");
                out.push(format!("{}: {msg}", path.join(".")));
            }
        } else {
            path.push(key);
            collect_errors(child, path, out);
            path.pop();
        }
    }
}

/// The body's `retry_after` (float seconds, API v8+), when present and sensible.
pub fn body_retry_after(body: &[u8]) -> Option<Duration> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let secs = json["retry_after"].as_f64()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e6)))
}

/// Turns Discord's answer into a delivery result. `header_retry_after` is the parsed
/// `Retry-After` header.
pub fn judge_discord(
    status: u16,
    header_retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), DeliveryError> {
    let reason = || match discord_reason(body) {
        Some(r) => format!("Discord HTTP {status}: {r}"),
        None => format!("Discord HTTP {status}"),
    };
    match status {
        200..=299 => Ok(()),
        429 => Err(DeliveryError::Retryable {
            reason: reason(),
            retry_after: match (body_retry_after(body), header_retry_after) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        }),
        404 => Err(DeliveryError::Rejected {
            reason: format!("{}; the webhook was deleted or its URL is wrong", reason()),
        }),
        408 | 425 | 500..=599 => Err(DeliveryError::Retryable {
            reason: reason(),
            retry_after: header_retry_after,
        }),
        _ => Err(DeliveryError::Rejected { reason: reason() }),
    }
}

impl Channel for DiscordChannel {
    fn kind(&self) -> &'static str {
        "discord"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let req = self.client.post(self.url.expose());
        http::post_json(req, &payload(alert), "alert", &self.redactor, |a| {
            judge_discord(a.status, a.retry_after, &a.body)
        })
    }
}

/// The retry policy and the builder of a `discord` channel, from its validated spec.
pub fn make(spec: DiscordSpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let timeout = cx.retry.timeout;
    (
        cx.retry.clone(),
        Box::new(move || {
            Box::new(DiscordChannel::new(
                build_client(4, timeout),
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
            region: Name::from("ap-southeast-1"),
            started_at: Timestamp(1_795_000_000_000),
            at: Timestamp(1_795_000_003_000),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        }
    }

    /// Every limit, counted in chars and in UTF-16 units.
    fn assert_within_limits(p: &Value) {
        let len = |v: &Value| v.as_str().map_or(0, utf16_len);
        assert!(len(&p["content"]) <= limits::CONTENT);
        let e = &p["embeds"][0];
        assert!(len(&e["title"]) <= limits::TITLE);
        assert!(len(&e["description"]) <= limits::DESCRIPTION);
        assert!(len(&e["footer"]["text"]) <= limits::FOOTER);
        let fields = e["fields"].as_array().unwrap();
        assert!(fields.len() <= limits::FIELDS);
        let mut total = len(&e["title"]) + len(&e["description"]) + len(&e["footer"]["text"]);
        for f in fields {
            assert!((1..=limits::FIELD_NAME).contains(&len(&f["name"])), "{f}");
            assert!((1..=limits::FIELD_VALUE).contains(&len(&f["value"])), "{f}");
            total += len(&f["name"]) + len(&f["value"]);
        }
        assert!(total <= limits::TOTAL, "total {total}");
    }

    #[test]
    fn execute_url_pins_the_version_and_waits() {
        assert_eq!(
            execute_url("https://discord.com/api/webhooks/123/tok"),
            "https://discord.com/api/v10/webhooks/123/tok?wait=true"
        );
        assert_eq!(
            execute_url(" https://discord.com/api/v6/webhooks/123/tok?thread_id=9&wait=false#x "),
            "https://discord.com/api/v10/webhooks/123/tok?thread_id=9&wait=true"
        );
        assert_eq!(
            execute_url("https://discord.com/api/v9/webhooks/123/tok"),
            "https://discord.com/api/v9/webhooks/123/tok?wait=true"
        );
        assert_eq!(
            execute_url("http://127.0.0.1:8080/relay/discord"),
            "http://127.0.0.1:8080/relay/discord?wait=true"
        );
        assert_eq!(
            execute_url("http://127.0.0.1:8080/api/webhooks/123/tok"),
            "http://127.0.0.1:8080/api/webhooks/123/tok?wait=true",
            "only Discord's own hosts are pinned"
        );
    }

    #[test]
    fn firing_payload_shape() {
        let p = payload(&alert(
            AlertKind::Firing,
            Severity::Critical,
            "skew 2500 ms",
        ));
        assert_eq!(p["content"], "🔴 **CRITICAL** bybit time clock skew");
        assert_eq!(p["allowed_mentions"], json!({"parse": []}));
        let e = &p["embeds"][0];
        assert_eq!(e["title"], "bybit time clock skew");
        assert_eq!(e["description"], "skew 2500 ms");
        assert_eq!(e["color"], COLOR_CRITICAL);
        assert_eq!(e["timestamp"], "2026-11-18T11:06:43Z");
        assert_eq!(e["footer"]["text"], "exwatch · ap-southeast-1");
        let fields: Vec<(&str, &str)> = e["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap(), f["value"].as_str().unwrap()))
            .collect();
        assert_eq!(
            fields,
            [
                ("Exchange", "bybit"),
                ("Endpoint", "time"),
                ("Metric", "clock_skew_ms"),
                ("Value", "2500 ms"),
                ("Threshold", "2000 ms"),
                ("Detector", "clock_skew"),
                ("Started", "<t:1795000000:f> (<t:1795000000:R>)"),
                ("Alert", "`01JD3V6Y1Q7ZK0A5B4C3D2E1F0`"),
            ]
        );
        assert_within_limits(&p);
    }

    #[test]
    fn colours_follow_severity_and_resolution() {
        let c = |k, s| {
            payload(&alert(k, s, "m"))["embeds"][0]["color"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(c(AlertKind::Firing, Severity::Critical), 15158332);
        assert_eq!(c(AlertKind::Firing, Severity::Warning), 15965202);
        assert_eq!(c(AlertKind::Firing, Severity::Info), 3447003);
        assert_eq!(c(AlertKind::Resolved, Severity::Critical), 3066993);
        assert_eq!(c(AlertKind::Triage, Severity::Warning), 15965202);
    }

    #[test]
    fn triage_references_the_original() {
        let mut a = alert(AlertKind::Triage, Severity::Critical, "NTP drift at bybit.");
        a.title = "bybit time clock skew (triage)".into();
        a.in_reply_to = Some(Name::from("01JD3V6Y1Q7ZK0A5B4C3D2E1EZ"));
        let p = payload(&a);
        assert_eq!(p["content"], "💬 **TRIAGE** re: bybit time clock skew");
        let e = &p["embeds"][0];
        assert_eq!(e["title"], "Triage: bybit time clock skew");
        assert_eq!(
            e["description"],
            "Follow-up to alert `01JD3V6Y1Q7ZK0A5B4C3D2E1EZ`\n\nNTP drift at bybit."
        );
        let last = e["fields"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["name"], "In reply to");
    }

    #[test]
    fn every_limit_holds_for_absurd_alerts() {
        for unit in ["x", "é", "🍎", " "] {
            let mut a = alert(AlertKind::Firing, Severity::Warning, &unit.repeat(20_000));
            a.title = unit.repeat(3000);
            a.region = Name::from(unit.repeat(3000));
            a.exchange = Name::from(unit.repeat(3000));
            a.endpoint = Name::from(unit.repeat(3000));
            a.detector = Name::from(unit.repeat(3000));
            let p = payload(&a);
            assert_within_limits(&p);
        }
        let p = payload(&alert(
            AlertKind::Firing,
            Severity::Info,
            &"m".repeat(20_000),
        ));
        assert_within_limits(&p);
        let d = p["embeds"][0]["description"].as_str().unwrap();
        assert!(d.ends_with('…'));
        assert_eq!(
            p["embeds"][0]["fields"].as_array().unwrap().len(),
            8,
            "fields kept"
        );
    }

    #[test]
    fn answers_map_to_results() {
        assert_eq!(judge_discord(204, None, b""), Ok(()));
        let body = br#"{"message":"You are being rate limited.","retry_after":1.5,"global":false}"#;
        assert!(matches!(
            judge_discord(429, Some(Duration::from_secs(2)), body),
            Err(DeliveryError::Retryable { retry_after: Some(d), .. }) if d == Duration::from_secs(2)
        ));
        assert!(matches!(
            judge_discord(429, Some(Duration::from_secs(1)), body),
            Err(DeliveryError::Retryable { retry_after: Some(d), .. }) if d == Duration::from_millis(1500)
        ));
        assert!(matches!(
            judge_discord(429, None, b"<html>"),
            Err(DeliveryError::Retryable {
                retry_after: None,
                ..
            })
        ));
        assert!(matches!(
            judge_discord(404, None, br#"{"message":"Unknown Webhook","code":10015}"#),
            Err(DeliveryError::Rejected { reason }) if reason.starts_with("Discord HTTP 404: Unknown Webhook (code 10015)")
        ));
        let invalid = br#"{"code":50035,"errors":{"embeds":{"0":{"title":{"_errors":[{"code":"BASE_TYPE_MAX_LENGTH","message":"Must be 256 or fewer in length."}]}}}},"message":"Invalid Form Body"}"#;
        assert_eq!(
            judge_discord(400, None, invalid),
            Err(DeliveryError::Rejected {
                reason: "Discord HTTP 400: Invalid Form Body (code 50035): embeds.0.title: Must be 256 or fewer in length.".into()
            })
        );
        assert!(matches!(
            judge_discord(502, None, b"bad gateway"),
            Err(DeliveryError::Retryable { .. })
        ));
    }
}
