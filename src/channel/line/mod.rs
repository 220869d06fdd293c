//! The `line` channel: the LINE Messaging API's push message (not LINE Notify, which was
//! discontinued). Each alert is one text message to one user, group or room:
//! `POST {api_base}/v2/bot/message/push` with `Authorization: Bearer <channel access token>`
//! and `{"to": …, "messages": [{"type": "text", "text": …}]}`.
//!
//! - **Text.** A phone-sized text: severity marker and headline, title, the message, then
//!   exchange/endpoint/metric, value against threshold, when it started, region and alert id.
//!   A triage follow-up names the alert it answers. LINE allows 5000 characters counted in
//!   UTF-16 code units; the message part is cut (on a character boundary, with `…`) so the
//!   details always fit.
//! - **Exactly once.** Every attempt carries `X-Line-Retry-Key`, a UUID derived from the alert
//!   id and the channel name ([`retry_key`]): retries of one alert reuse the key, so LINE
//!   executes the push at most once, and two channels never share a key. A `409` with
//!   `X-Line-Accepted-Request-Id` means an earlier attempt was accepted (its answer was lost):
//!   delivered.
//! - **Answers.** 2xx is delivered. 5xx, 408, 425 and timeouts are retried (with the same key,
//!   as LINE recommends). A rate-limit `429` is retried with the channel's back-off, or the
//!   `Retry-After` if LINE sends one. 400, 401, 403 and other 4xx are rejections, quoting
//!   LINE's `message` (and `details`), bounded.
//! - **Monthly quota.** A `429` saying "You have reached your monthly limit." is not an
//!   ordinary rate limit: retrying within seconds is futile, but LINE also answers it briefly
//!   while another delivery of the account holds its quota reserved. So the first such answer
//!   is retried after a minute ([`QUOTA_BACKOFF`]); while LINE keeps saying it (no push
//!   accepted since), retries wait an hour. The alerts stay pending — a 429 is never a
//!   rejection — and go out once the quota is renewed (or raised).

pub mod config;

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};

use crate::channel::Channel;
use crate::channel::http::{self, Redactor};
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::channel::text::{self, fit, utf16_len};
use crate::client::bounded_text;
use crate::client::build_client;
use crate::config::RetrySettings;
use crate::config::Secret;
use crate::error::DeliveryError;
use crate::messages::{Alert, AlertKind, Name};
use config::LineSpec;

/// The default API base.
pub const DEFAULT_API_BASE: &str = "https://api.line.me";

/// The push endpoint, under the API base.
pub const PUSH_PATH: &str = "/v2/bot/message/push";

/// The retry-key header.
pub const RETRY_KEY_HEADER: &str = "X-Line-Retry-Key";

/// The header of a `409` naming the request that was accepted earlier with the same key.
pub const ACCEPTED_REQUEST_HEADER: &str = "x-line-accepted-request-id";

/// LINE's limit on a text message, in UTF-16 code units.
pub const MAX_TEXT: usize = 5000;

/// How long the first monthly-quota `429` is waited out.
pub const QUOTA_BACKOFF: Duration = Duration::from_secs(60);

/// While the quota stays used up, each retry waits this many [`QUOTA_BACKOFF`]s (an hour).
pub const QUOTA_PATIENCE: u32 = 60;

/// The most characters of LINE's reason quoted in a rejection.
const MAX_REASON: usize = 300;

/// Pushes alerts to one LINE user, group or room.
pub struct LineChannel {
    client: awc::Client,
    name: Name,
    url: String,
    to: String,
    token: Secret,
    redactor: Redactor,
    quota_backoff: Duration,
    /// A monthly-quota `429` was answered and no push has been accepted since.
    quota_exhausted: Rc<Cell<bool>>,
}

impl LineChannel {
    /// A channel named `name` pushing to `to` through `client` (built on the channel's
    /// arbiter). `api_base` is the API's origin (`https://api.line.me`); a trailing `/` is
    /// ignored.
    pub fn new(client: awc::Client, name: Name, api_base: &str, to: String, token: Secret) -> Self {
        Self {
            client,
            name,
            url: format!("{}{PUSH_PATH}", api_base.trim().trim_end_matches('/')),
            to,
            redactor: Redactor::new([token.clone()]),
            token,
            quota_backoff: QUOTA_BACKOFF,
            quota_exhausted: Rc::new(Cell::new(false)),
        }
    }

    /// Replaces [`QUOTA_BACKOFF`] (for tests).
    pub fn with_quota_backoff(mut self, backoff: Duration) -> Self {
        self.quota_backoff = backoff;
        self
    }

    /// The push request's JSON body for `alert`.
    pub fn payload(&self, alert: &Alert) -> serde_json::Value {
        serde_json::json!({
            "to": self.to,
            "messages": [{"type": "text", "text": message_text(alert)}],
        })
    }
}

impl fmt::Debug for LineChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineChannel")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("to", &self.to)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// The `X-Line-Retry-Key` of `alert_id` on channel `channel`: a UUID (version 4 layout,
/// lowercase hex, `8-4-4-4-12`) made from the first 16 bytes of SHA-256 over the alert id's
/// 16 ULID bytes (its UTF-8 text when it is not a ULID) and the channel name. The same alert on
/// the same channel always gets the same key; another alert or channel, another key.
pub fn retry_key(alert_id: &str, channel: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"exwatch/line/retry-key\0");
    match ulid::Ulid::from_string(alert_id) {
        Ok(id) => h.update(id.to_bytes()),
        Err(_) => h.update(alert_id.as_bytes()),
    }
    h.update(b"\0");
    h.update(channel.as_bytes());
    let digest = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The text message for `alert`, at most [`MAX_TEXT`] UTF-16 code units.
pub fn message_text(alert: &Alert) -> String {
    let head = match alert.kind {
        AlertKind::Triage => format!(
            "{} TRIAGE · re: {}\n(follow-up to alert {})",
            text::marker(alert),
            fit(text::original_title(alert), 500),
            alert.in_reply_to.as_deref().unwrap_or("?"),
        ),
        _ => format!(
            "{} {}\n{}",
            text::marker(alert),
            text::headline(alert),
            fit(&alert.title, 500)
        ),
    };
    let mut details = vec![format!(
        "{} / {} / {}",
        fit(&alert.exchange, 200),
        fit(&alert.endpoint, 200),
        alert.metric
    )];
    let (value, threshold) = (
        text::value(alert.value, alert.metric),
        text::value(alert.threshold, alert.metric),
    );
    details.push(match alert.kind {
        AlertKind::Resolved => format!("last value {value} (threshold {threshold})"),
        _ => format!("value {value} (threshold {threshold})"),
    });
    if let Some(stats) = text::stats(&alert.stats) {
        details.push(stats);
    }
    details.push(format!("detector {}", fit(&alert.detector, 200)));
    details.push(format!("started {}", text::time(alert.started_at)));
    if alert.kind == AlertKind::Resolved {
        details.push(format!("resolved {}", text::time(alert.at)));
    }
    details.push(format!("region {}", fit(&alert.region, 200)));
    details.push(format!("id {}", fit(&alert.id, 100)));
    let mut details = details.join("\n");
    if let Some(listing) = text::group_listing(alert, MAX_TEXT / 2) {
        details = format!("{listing}\n\n{details}");
    }

    // Head and details always fit (each part is bounded); the message takes what is left.
    let fixed = utf16_len(&head) + utf16_len(&details) + 4; // two blank lines
    let message = fit(&alert.message, MAX_TEXT.saturating_sub(fixed));
    let full = if message.is_empty() {
        format!("{head}\n\n{details}")
    } else {
        format!("{head}\n\n{message}\n\n{details}")
    };
    fit(&full, MAX_TEXT)
}

/// LINE's reason from an error answer: `message`, then up to three `details`
/// (`property: message`), bounded; the raw text when it is not LINE's JSON.
pub fn line_reason(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return Some(bounded_text(text, MAX_REASON));
    };
    let mut reason = json["message"].as_str().unwrap_or_default().to_owned();
    if let Some(details) = json["details"].as_array() {
        let parts: Vec<String> = details
            .iter()
            .take(3)
            .map(|d| {
                let msg = d["message"].as_str().unwrap_or_default();
                match d["property"].as_str() {
                    Some(p) => format!("{p}: {msg}"),
                    None => msg.to_owned(),
                }
            })
            .collect();
        if !parts.is_empty() {
            reason = format!("{reason} ({})", parts.join("; "));
        }
    }
    if reason.trim().is_empty() {
        return Some(bounded_text(text, MAX_REASON));
    }
    Some(bounded_text(reason.trim(), MAX_REASON))
}

/// True for LINE's monthly-quota answer ("You have reached your monthly limit.").
pub fn is_monthly_limit(body: &[u8]) -> bool {
    String::from_utf8_lossy(body)
        .to_ascii_lowercase()
        .contains("monthly limit")
}

/// Turns LINE's answer into a delivery result. `accepted_id` is the
/// `X-Line-Accepted-Request-Id` header; `quota_exhausted` the channel's quota state (see the
/// module docs), which this updates.
pub fn judge_line(
    status: u16,
    retry_after: Option<Duration>,
    accepted_id: Option<&str>,
    body: &[u8],
    quota_exhausted: &Cell<bool>,
    quota_backoff: Duration,
) -> Result<(), DeliveryError> {
    let reason = || match line_reason(body) {
        Some(r) => format!("LINE HTTP {status}: {r}"),
        None => format!("LINE HTTP {status}"),
    };
    match status {
        200..=299 => {
            quota_exhausted.set(false);
            Ok(())
        }
        409 if accepted_id.is_some() => {
            // An earlier attempt with this retry key was accepted; its answer was lost.
            quota_exhausted.set(false);
            Ok(())
        }
        429 if is_monthly_limit(body) => {
            // Never a rejection: a 429 keeps the alert pending. Once it is clear the quota is
            // used up (said twice with no push accepted since), wait far longer.
            let wait = if quota_exhausted.replace(true) {
                quota_backoff.saturating_mul(QUOTA_PATIENCE)
            } else {
                quota_backoff
            };
            Err(DeliveryError::Retryable {
                reason: format!("{}; the monthly message quota is used up", reason()),
                retry_after: Some(retry_after.map_or(wait, |d| d.max(wait))),
            })
        }
        408 | 425 | 429 | 500..=599 => Err(DeliveryError::Retryable {
            reason: reason(),
            retry_after,
        }),
        _ => Err(DeliveryError::Rejected { reason: reason() }),
    }
}

impl Channel for LineChannel {
    fn kind(&self) -> &'static str {
        "line"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let req = self
            .client
            .post(&self.url)
            .insert_header(("Authorization", format!("Bearer {}", self.token.expose())))
            .insert_header((RETRY_KEY_HEADER, retry_key(&alert.id, &self.name)));
        let quota = self.quota_exhausted.clone();
        let quota_backoff = self.quota_backoff;
        http::post_json(
            req,
            &self.payload(alert),
            "alert",
            &self.redactor,
            move |answer| {
                let accepted = answer.header(ACCEPTED_REQUEST_HEADER);
                let result = judge_line(
                    answer.status,
                    answer.retry_after,
                    accepted,
                    &answer.body,
                    &quota,
                    quota_backoff,
                );
                if answer.status == 409 && result.is_ok() {
                    tracing::debug!(
                        accepted_request = accepted.unwrap_or(""),
                        "LINE had already accepted this push (409); delivered."
                    );
                }
                result
            },
        )
    }
}

/// The retry policy and the builder of a `line` channel, from its validated spec.
pub fn make(spec: LineSpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let (timeout, name) = (cx.retry.timeout, cx.name.clone());
    (
        cx.retry.clone(),
        Box::new(move || {
            Box::new(LineChannel::new(
                build_client(4, timeout),
                name,
                &spec.api_base,
                spec.to,
                spec.token,
            ))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, Severity, Stats, Timestamp};

    fn alert(kind: AlertKind, message: &str) -> Alert {
        Alert {
            id: Name::from("01JD3V6Y1Q7ZK0A5B4C3D2E1F0"),
            kind,
            severity: Severity::Critical,
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

    fn is_uuid(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() == 36
            && b.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            })
    }

    #[test]
    fn retry_key_is_a_stable_uuid_per_alert_and_channel() {
        let id = "01JD3V6Y1Q7ZK0A5B4C3D2E1F0";
        let k = retry_key(id, "desk-line");
        assert!(is_uuid(&k), "{k}");
        assert_eq!(&k[14..15], "4", "version 4 layout: {k}");
        assert!(matches!(&k[19..20], "8" | "9" | "a" | "b"), "variant: {k}");
        assert_eq!(k, retry_key(id, "desk-line"), "stable across attempts");
        assert_eq!(
            k,
            retry_key(&id.to_lowercase(), "desk-line"),
            "one ULID, one key"
        );
        assert_ne!(k, retry_key(id, "other-line"), "per channel");
        assert_ne!(
            k,
            retry_key("01JD3V6Y1Q7ZK0A5B4C3D2E1F1", "desk-line"),
            "per alert"
        );
        assert!(is_uuid(&retry_key("not-a-ulid", "x")));
    }

    #[test]
    fn firing_text_reads_on_a_phone() {
        let t = message_text(&alert(
            AlertKind::Firing,
            "clock skew 2500 ms exceeds 2000 ms",
        ));
        assert_eq!(
            t,
            "🔴 CRITICAL\nbybit time clock skew\n\nclock skew 2500 ms exceeds 2000 ms\n\n\
             bybit / time / clock_skew_ms\nvalue 2500 ms (threshold 2000 ms)\n\
             detector clock_skew\nstarted 2026-11-18 11:06:40 UTC\nregion ap-southeast-1\n\
             id 01JD3V6Y1Q7ZK0A5B4C3D2E1F0"
        );
    }

    #[test]
    fn resolved_and_triage_texts() {
        let mut r = alert(AlertKind::Resolved, "recovered after 3s");
        r.title = "bybit time clock skew resolved".into();
        let t = message_text(&r);
        assert!(
            t.starts_with("✅ RESOLVED (was CRITICAL)\nbybit time clock skew resolved"),
            "{t}"
        );
        assert!(t.contains("last value 2500 ms (threshold 2000 ms)"), "{t}");
        assert!(t.contains("resolved 2026-11-18 11:06:43 UTC"), "{t}");

        let mut tr = alert(AlertKind::Triage, "Likely an NTP problem on bybit's side.");
        tr.title = "bybit time clock skew (triage)".into();
        tr.in_reply_to = Some(Name::from("01JD3V6Y1Q7ZK0A5B4C3D2E1EZ"));
        let t = message_text(&tr);
        assert!(
            t.starts_with(
                "💬 TRIAGE · re: bybit time clock skew\n(follow-up to alert 01JD3V6Y1Q7ZK0A5B4C3D2E1EZ)\n\nLikely an NTP"
            ),
            "{t}"
        );
    }

    #[test]
    fn huge_messages_fit_and_keep_the_details() {
        for unit in ["x", "é", "🍎", "漢"] {
            let a = alert(AlertKind::Firing, &unit.repeat(20_000));
            let t = message_text(&a);
            assert!(utf16_len(&t) <= MAX_TEXT, "{unit}: {}", utf16_len(&t));
            assert!(t.contains('…'));
            assert!(t.ends_with("id 01JD3V6Y1Q7ZK0A5B4C3D2E1F0"), "details kept");
        }
        let mut a = alert(AlertKind::Firing, &"m".repeat(20_000));
        a.title = "t".repeat(20_000);
        a.region = Name::from("r".repeat(20_000));
        a.exchange = Name::from("e".repeat(20_000));
        assert!(utf16_len(&message_text(&a)) <= MAX_TEXT);
    }

    #[test]
    fn answers_map_to_results() {
        let q = Cell::new(false);
        let b = Duration::from_secs(60);
        assert_eq!(judge_line(200, None, None, b"{}", &q, b), Ok(()));
        assert_eq!(judge_line(409, None, Some("abc"), b"{}", &q, b), Ok(()));
        assert!(matches!(
            judge_line(409, None, None, b"{\"message\":\"conflict\"}", &q, b),
            Err(DeliveryError::Rejected { .. })
        ));
        assert!(matches!(
            judge_line(500, None, None, b"", &q, b),
            Err(DeliveryError::Retryable {
                retry_after: None,
                ..
            })
        ));
        let rate = br#"{"message":"The API rate limit has been exceeded. Try again later."}"#;
        assert!(matches!(
            judge_line(429, Some(Duration::from_secs(2)), None, rate, &q, b),
            Err(DeliveryError::Retryable { retry_after: Some(d), .. }) if d == Duration::from_secs(2)
        ));
        let bad = br#"{"message":"The request body has 1 error(s)","details":[{"message":"May not be empty","property":"messages[0].text"}]}"#;
        assert_eq!(
            judge_line(400, None, None, bad, &q, b),
            Err(DeliveryError::Rejected {
                reason: "LINE HTTP 400: The request body has 1 error(s) (messages[0].text: May not be empty)".into()
            })
        );
        assert!(matches!(
            judge_line(401, None, None, br#"{"message":"Authentication failed."}"#, &q, b),
            Err(DeliveryError::Rejected { reason }) if reason == "LINE HTTP 401: Authentication failed."
        ));
    }

    #[test]
    fn monthly_quota_is_waited_out_longer_and_longer_never_rejected() {
        let q = Cell::new(false);
        let b = Duration::from_secs(60);
        let quota = br#"{"message":"You have reached your monthly limit."}"#;
        assert!(matches!(
            judge_line(429, None, None, quota, &q, b),
            Err(DeliveryError::Retryable { retry_after: Some(d), .. }) if d == b
        ));
        for _ in 0..2 {
            assert!(matches!(
                judge_line(429, None, None, quota, &q, b),
                Err(DeliveryError::Retryable { retry_after: Some(d), .. })
                    if d == b * QUOTA_PATIENCE
            ));
        }
        assert_eq!(judge_line(200, None, None, b"", &q, b), Ok(()));
        assert!(matches!(
            judge_line(429, None, None, quota, &q, b),
            Err(DeliveryError::Retryable { retry_after: Some(d), .. }) if d == b
        ));
    }

    #[test]
    fn debug_hides_the_token() {
        crate::client::install_crypto_provider();
        let sys = actix_rt::System::new();
        sys.block_on(async {
            let c = LineChannel::new(
                awc::Client::default(),
                Name::from("desk"),
                "https://api.line.me/",
                "U0123".into(),
                Secret::new("line-token-very-secret"),
            );
            let d = format!("{c:?}");
            assert!(!d.contains("very-secret"), "{d}");
            assert!(d.contains("https://api.line.me/v2/bot/message/push"), "{d}");
        });
    }
}
