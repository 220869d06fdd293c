//! The `telegram` channel: the Bot API's `sendMessage`
//! (`POST {api_base}/bot<token>/sendMessage`, JSON), one request per configured chat.
//!
//! - **Text.** HTML parse mode: a bold headline, the title, the alert's message, then the
//!   details (exchange/endpoint/metric, value against threshold, statistics, detector, times,
//!   region, id). Every string that comes from an exchange or a detector is HTML-escaped
//!   (`<` `>` `&`), so nothing an exchange says can break the markup. Telegram allows 4,096
//!   characters after entity parsing; the source text (never shorter than what Telegram counts)
//!   is kept within that, the message giving way first, never cut inside an entity. Link
//!   previews are off.
//! - **Several chats.** The channel remembers, per alert and per chat, who already accepted:
//!   a retry sends only to the chats still pending, so no chat gets the same alert twice. A chat
//!   refused for good (400 "chat not found", 403 "bot was blocked") is not retried; the alert
//!   then ends as one rejection quoting Telegram's description.
//! - **Answers.** 2xx is delivered. 429 waits the larger of `parameters.retry_after` and the
//!   `Retry-After` header; 5xx, 408 and timeouts are retried; every other status is a rejection
//!   with Telegram's `description`.
//! - **The token** is in the URL path: it appears in no log line, reason or `Debug` output
//!   (every reason passes the one redaction rule with it).

pub mod config;

use std::fmt;
use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use serde_json::{Value, json};

use crate::channel::Channel;
use crate::channel::http::{self, Redactor};
use crate::channel::recipients::{Recipients, Send};
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::channel::text::{self, escape, fit_escaped, utf16_len};
use crate::client::{bounded_text, build_client};
use crate::config::{RetrySettings, Secret};
use crate::error::DeliveryError;
use crate::messages::{Alert, AlertKind};
use config::TelegramSpec;

/// The default Bot API base.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";

/// Telegram's limit on a message's text, in characters after entity parsing.
pub const MAX_TEXT: usize = 4096;

/// The most characters of Telegram's description quoted in a reason.
const MAX_REASON: usize = 300;

/// The HTML text of `alert`, at most [`MAX_TEXT`] UTF-16 units of source (so never over
/// Telegram's limit, which counts the parsed text). The one place the message is built.
pub fn message_html(alert: &Alert) -> String {
    let mut head = match alert.kind {
        AlertKind::Triage => format!(
            "{} <b>TRIAGE</b> re: {}\n<i>follow-up to alert <code>{}</code></i>",
            text::marker(alert),
            fit_escaped(text::original_title(alert), 500),
            fit_escaped(alert.in_reply_to.as_deref().unwrap_or("?"), 100),
        ),
        _ => format!(
            "{} <b>{}</b>\n<b>{}</b>",
            text::marker(alert),
            text::headline(alert),
            fit_escaped(&alert.title, 500)
        ),
    };
    // A group message lists its incident's members first.
    if let Some(listing) = text::group_listing(alert, MAX_TEXT / 2) {
        head = format!("{head}\n\n{}", escape(&listing));
    }
    let (value, threshold) = (
        escape(&text::value(alert.value, alert.metric)),
        escape(&text::value(alert.threshold, alert.metric)),
    );
    let mut details = vec![format!(
        "<b>{}</b> / {} / {}",
        fit_escaped(&alert.exchange, 200),
        fit_escaped(&alert.endpoint, 200),
        alert.metric
    )];
    details.push(match alert.kind {
        AlertKind::Resolved => format!("last value {value} (threshold {threshold})"),
        _ => format!("value <b>{value}</b> (threshold {threshold})"),
    });
    if let Some(stats) = text::stats(&alert.stats) {
        details.push(escape(&stats));
    }
    details.push(format!("detector {}", fit_escaped(&alert.detector, 200)));
    details.push(format!("started {}", text::time(alert.started_at)));
    if alert.kind == AlertKind::Resolved {
        details.push(format!("resolved {}", text::time(alert.at)));
    }
    details.push(format!("region {}", fit_escaped(&alert.region, 200)));
    details.push(format!("id <code>{}</code>", fit_escaped(&alert.id, 100)));
    let details = details.join("\n");
    let fixed = utf16_len(&head) + utf16_len(&details) + 4;
    let message = fit_escaped(&alert.message, MAX_TEXT.saturating_sub(fixed));
    if message.is_empty() {
        format!("{head}\n\n{details}")
    } else {
        format!("{head}\n\n{message}\n\n{details}")
    }
}

/// The `sendMessage` body for `alert` to `chat_id`.
pub fn payload(chat_id: &str, text: &str) -> Value {
    // A numeric id goes as a number, as the API documents it; `@name` as a string.
    let chat: Value = chat_id
        .parse::<i64>()
        .map_or_else(|_| json!(chat_id), |n| json!(n));
    json!({
        "chat_id": chat,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    })
}

/// Telegram's `description` from an error answer, bounded; the raw text when not its JSON.
pub fn telegram_reason(status: u16, body: &[u8]) -> String {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    match json.as_ref().and_then(|j| j["description"].as_str()) {
        Some(d) => format!(
            "Telegram HTTP {status}: {}",
            bounded_text(d.trim(), MAX_REASON)
        ),
        None => format!(
            "Telegram {}",
            bounded_text(&crate::client::http_reason(status, body), MAX_REASON)
        ),
    }
}

/// Turns Telegram's answer into a delivery result (see the module docs).
pub fn judge_telegram(
    status: u16,
    header_retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), DeliveryError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let reason = telegram_reason(status, body);
    match status {
        429 => {
            let asked = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|j| j["parameters"]["retry_after"].as_u64())
                .map(|s| Duration::from_secs(s.min(86_400)));
            Err(DeliveryError::Retryable {
                reason,
                retry_after: match (asked, header_retry_after) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                },
            })
        }
        408 | 500..=599 => Err(DeliveryError::Retryable {
            reason,
            retry_after: header_retry_after,
        }),
        _ => Err(DeliveryError::Rejected { reason }),
    }
}

/// Sends alerts to Telegram chats through a bot.
pub struct TelegramChannel {
    client: awc::Client,
    api_base: String,
    url: Secret,
    redactor: Redactor,
    chats: Vec<String>,
    recipients: Recipients,
}

impl fmt::Debug for TelegramChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramChannel")
            .field("api_base", &self.api_base)
            .field("url", &self.url)
            .field("chats", &self.chats)
            .finish_non_exhaustive()
    }
}

impl TelegramChannel {
    /// A channel sending through `client` (built on the channel's arbiter) as the bot of
    /// `token` to each of `chats`, via the Bot API at `api_base`.
    pub fn new(client: awc::Client, api_base: &str, token: Secret, chats: Vec<String>) -> Self {
        let api_base = api_base.trim().trim_end_matches('/').to_owned();
        let url = Secret::new(format!("{api_base}/bot{}/sendMessage", token.expose()));
        Self {
            client,
            redactor: Redactor::new([token, url.clone()]),
            url,
            api_base,
            recipients: Recipients::new(chats.len(), "chats"),
            chats,
        }
    }
}

impl Channel for TelegramChannel {
    fn kind(&self) -> &'static str {
        "telegram"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let text = message_html(alert);
        let id = alert.id.clone();
        let sends = (self.recipients.pending(&id).into_iter())
            .map(|i| {
                let chat = &self.chats[i];
                let req = self.client.post(self.url.expose());
                Send {
                    index: i,
                    who: format!("chat {chat}"),
                    request: http::post_json(
                        req,
                        &payload(chat, &text),
                        "alert",
                        &self.redactor,
                        |a| judge_telegram(a.status, a.retry_after, &a.body),
                    ),
                }
            })
            .collect();
        self.recipients.deliver(id, sends)
    }
}

/// The retry policy and the builder of a `telegram` channel, from its validated spec.
pub fn make(spec: TelegramSpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let timeout = cx.retry.timeout;
    let connections = spec.chat_id.len().clamp(1, 8);
    (
        cx.retry.clone(),
        Box::new(move || {
            Box::new(TelegramChannel::new(
                build_client(connections, timeout),
                &spec.api_base,
                spec.bot_token,
                spec.chat_id,
            ))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, Name, Severity, Stats, Timestamp};

    fn alert(message: &str) -> Alert {
        Alert {
            id: Name::from("01JD3V6Y1Q7ZK0A5B4C3D2E1F0"),
            kind: AlertKind::Firing,
            severity: Severity::Critical,
            exchange: Name::from("okx"),
            endpoint: Name::from("ticker"),
            metric: Metric::LatencyMs,
            detector: Name::from("zscore"),
            title: "okx ticker latency spike".into(),
            message: message.into(),
            value: 5234.5,
            threshold: 71.3,
            region: Name::from("local"),
            started_at: Timestamp(1_795_000_000_000),
            at: Timestamp(1_795_000_003_000),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        }
    }

    #[test]
    fn exchange_text_is_escaped() {
        let t = message_html(&alert("<html>503 & \"down\"</html>"));
        assert!(
            t.contains("&lt;html&gt;503 &amp; \"down\"&lt;/html&gt;"),
            "{t}"
        );
        assert!(
            t.starts_with("🔴 <b>CRITICAL</b>\n<b>okx ticker latency spike</b>"),
            "{t}"
        );
        assert!(
            t.contains("value <b>5234.5 ms</b> (threshold 71.3 ms)"),
            "{t}"
        );
    }

    #[test]
    fn the_text_fits_and_never_splits_an_entity() {
        for unit in ["x", "&", "<", "é", "🍎"] {
            let t = message_html(&alert(&unit.repeat(10_000)));
            assert!(utf16_len(&t) <= MAX_TEXT, "{unit}: {}", utf16_len(&t));
            assert!(t.contains('…'));
            assert!(!t.contains("&am…") && !t.contains("&l…"), "{unit}");
            assert!(t.contains("id <code>01JD3V6Y1Q7ZK0A5B4C3D2E1F0</code>"));
        }
        assert_eq!(fit_escaped("a&b", 5), "a…");
        assert_eq!(fit_escaped("a&b", 7), "a&amp;b");
    }

    #[test]
    fn payload_shape() {
        let p = payload("-1001234567890", "hi");
        assert_eq!(p["chat_id"], json!(-1001234567890i64));
        assert_eq!(p["parse_mode"], "HTML");
        assert_eq!(p["link_preview_options"], json!({"is_disabled": true}));
        assert_eq!(payload("@desk_alerts", "hi")["chat_id"], "@desk_alerts");
    }

    #[test]
    fn answers_map_to_results() {
        assert_eq!(judge_telegram(200, None, br#"{"ok":true}"#), Ok(()));
        let limited = br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5","parameters":{"retry_after":5}}"#;
        assert!(matches!(
            judge_telegram(429, None, limited),
            Err(DeliveryError::Retryable { retry_after: Some(d), .. }) if d == Duration::from_secs(5)
        ));
        assert_eq!(
            judge_telegram(
                400,
                None,
                br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#
            ),
            Err(DeliveryError::Rejected {
                reason: "Telegram HTTP 400: Bad Request: chat not found".into()
            })
        );
        assert!(matches!(
            judge_telegram(502, None, b"bad gateway"),
            Err(DeliveryError::Retryable { .. })
        ));
    }

    #[test]
    fn the_token_is_never_shown() {
        crate::client::install_crypto_provider();
        let token = "123456:AAE-secret-token";
        let ch = TelegramChannel::new(
            awc::Client::default(),
            "https://api.telegram.org/",
            Secret::new(token),
            vec!["42".into()],
        );
        let dbg = format!("{ch:?}");
        assert!(!dbg.contains(token) && !dbg.contains("AAE-secret"), "{dbg}");
        assert_eq!(
            ch.redactor.text(&format!(
                "POST https://api.telegram.org/bot{token}/sendMessage"
            )),
            "POST ***"
        );
    }

    #[test]
    fn a_group_message_lists_its_members_escaped() {
        use crate::messages::{AlertGroup, GroupUpdate};
        let mut lead = alert("slow");
        let mut other = alert("errors");
        other.endpoint = "<ticker>".into();
        lead.group = Some(AlertGroup {
            key: "exchange=okx".into(),
            update: GroupUpdate::Updated,
            alerts: vec![lead.clone(), other],
        });
        let html = message_html(&lead);
        assert!(
            html.contains("Incident exchange=okx (updated): 2 series"),
            "{html}"
        );
        assert!(html.contains("&lt;ticker&gt;"), "{html}");
        assert!(!html.contains("<ticker>"), "{html}");
        assert!(utf16_len(&html) <= MAX_TEXT);
    }
}
