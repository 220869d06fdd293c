//! The `sms` channel: one text message per recipient through a Twilio-compatible Messages API
//! (`POST {api_base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic
//! `AccountSid:AuthToken`, a form-encoded `To`, `From`, `Body`).
//!
//! The text puts what matters first — severity, exchange, what, value — and is cut to
//! [`MAX_SMS_CHARS`] (Twilio's deliverability advice; its hard limit is 1,600), in plain ASCII
//! of exwatch's own so that a message stays in the GSM-7 alphabet when the platform's words
//! allow. 2xx (Twilio: 201 Created) is accepted; 429 (code 20429, never processed), 408 and 5xx
//! are retried, honouring `Retry-After`; any other answer is a rejection quoting Twilio's
//! `code` and `message`, bounded.
//!
//! Several recipients: the channel remembers, per alert and per recipient, who already
//! accepted. When one recipient's request fails and the alert is retried, only the recipients
//! still pending are sent to again; nobody gets the same alert twice. A recipient rejected
//! for good is not retried either; the alert then ends as a rejection naming it.
//!
//! The Account SID (in the URL) and the Auth Token are secrets: they appear in no log line,
//! no delivery error and no `Debug` output, and any text quoted from the platform or from the
//! HTTP client is scrubbed of both.

pub mod config;

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;

use crate::channel::Channel;
use crate::channel::http::{self, Redactor};
use crate::channel::recipients::{Recipients, Send};
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::client::bounded_text;
use crate::client::build_client;
use crate::config::RetrySettings;
use crate::config::Secret;
use crate::error::DeliveryError;
use crate::messages::{Alert, AlertKind};
use config::SmsSpec;

/// The longest text sent, in characters: Twilio recommends at most 320 for deliverability.
pub const MAX_SMS_CHARS: usize = 320;

/// Twilio's hard limit on `Body` (error 21617 beyond it).
pub const TWILIO_MAX_BODY_CHARS: usize = 1600;

/// Sends alerts as SMS to a list of recipients.
pub struct SmsChannel {
    client: awc::Client,
    api_base: String,
    messages_url: Secret,
    authorization: Secret,
    /// Secret values redacted from any quoted text.
    redactor: Redactor,
    from: String,
    to: Vec<String>,
    recipients: Recipients,
}

impl fmt::Debug for SmsChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsChannel")
            .field("api_base", &self.api_base)
            .field("account_sid", &"***")
            .field("auth_token", &"***")
            .field("from", &self.from)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl SmsChannel {
    /// An SMS channel through `client` (built on the channel's arbiter), sending from `from`
    /// to each of `to` via the Messages API at `api_base` (no trailing slash).
    pub fn new(
        client: awc::Client,
        api_base: String,
        account_sid: Secret,
        auth_token: Secret,
        from: String,
        to: Vec<String>,
    ) -> Self {
        let api_base = api_base.trim_end_matches('/').to_owned();
        let messages_url = Secret::new(format!(
            "{api_base}/2010-04-01/Accounts/{}/Messages.json",
            account_sid.expose()
        ));
        let authorization = Secret::new(format!(
            "Basic {}",
            base64(format!("{}:{}", account_sid.expose(), auth_token.expose()).as_bytes())
        ));
        Self {
            client,
            api_base,
            messages_url,
            authorization,
            redactor: Redactor::new([account_sid, auth_token]),
            from,
            recipients: Recipients::new(to.len(), "recipients"),
            to,
        }
    }
}

impl Channel for SmsChannel {
    fn kind(&self) -> &'static str {
        "sms"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let text = sms_text(alert);
        let id = alert.id.clone();
        let sends = (self.recipients.pending(&id).into_iter())
            .map(|i| {
                let body = Bytes::from(form_encode(&[
                    ("To", &self.to[i]),
                    ("From", &self.from),
                    ("Body", &text),
                ]));
                let req = self
                    .client
                    .post(self.messages_url.expose())
                    .insert_header(("Authorization", self.authorization.expose()))
                    .insert_header(("Content-Type", "application/x-www-form-urlencoded"))
                    .insert_header(("Accept", "application/json"));
                let redactor = self.redactor.clone();
                Send {
                    index: i,
                    who: recipient_label(&self.to[i]),
                    // awc's error text may quote the URL, which carries the Account SID.
                    request: Box::pin(async move {
                        http::deliver(req, body, &redactor, |answer| {
                            judge_twilio(answer.status, answer.retry_after, &answer.body)
                        })
                        .await
                    }),
                }
            })
            .collect();
        self.recipients.deliver(id, sends)
    }
}

/// Judges Twilio's answer to one message: 2xx (201 Created) accepted; 408, 429 and 5xx
/// retried; anything else rejected, quoting Twilio's code and message.
pub fn judge_twilio(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), DeliveryError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let reason = twilio_reason(status, body);
    match status {
        408 | 429 | 500..=599 => Err(DeliveryError::Retryable {
            reason,
            retry_after,
        }),
        _ => Err(DeliveryError::Rejected { reason }),
    }
}

/// `HTTP 400, Twilio error 21211: The 'To' number … is not valid.` from an error answer.
pub fn twilio_reason(status: u16, body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct TwilioError {
        code: Option<serde_json::Value>,
        message: Option<String>,
    }
    match serde_json::from_slice::<TwilioError>(body) {
        Ok(TwilioError { code, message }) => {
            let code = code.map(|c| match c {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            });
            let message = message.map(|m| bounded_text(m.trim(), 200));
            match (code, message) {
                (Some(c), Some(m)) => format!("HTTP {status}, Twilio error {c}: {m}"),
                (Some(c), None) => format!("HTTP {status}, Twilio error {c}"),
                (None, Some(m)) => format!("HTTP {status}: {m}"),
                (None, None) => format!("HTTP {status}"),
            }
        }
        Err(_) => crate::client::http_reason(status, body),
    }
}

/// A recipient as it appears in reasons: the last four digits only (`to …5678`).
fn recipient_label(number: &str) -> String {
    let tail: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("to …{tail}")
}

/// The text of an alert, most important first, at most [`MAX_SMS_CHARS`] characters:
/// `CRITICAL binance ping latency spike: latency_ms 5234.5 (threshold 1000). <message>.
/// Region local, since 2026-11-21T10:00:00Z`.
pub fn sms_text(alert: &Alert) -> String {
    let text = match alert.kind {
        AlertKind::Firing => format!(
            "{} {}: {} {} (threshold {}). {}. Region {}, since {}",
            alert.severity.as_str().to_ascii_uppercase(),
            alert.title,
            alert.metric,
            number(alert.value),
            number(alert.threshold),
            alert.message.trim_end_matches('.'),
            alert.region,
            alert.started_at,
        ),
        AlertKind::Resolved => format!(
            "RESOLVED {} {}: {}. Region {}, at {}",
            alert.severity.as_str(),
            alert
                .title
                .strip_suffix(" resolved")
                .unwrap_or(&alert.title),
            alert.message.trim_end_matches('.'),
            alert.region,
            alert.at,
        ),
        AlertKind::Triage => format!(
            "TRIAGE {} {}: {}",
            alert.severity.as_str(),
            alert
                .title
                .strip_suffix(" (triage)")
                .unwrap_or(&alert.title),
            alert.message,
        ),
        AlertKind::Acknowledged => format!("ACKNOWLEDGED {}", alert.title),
    };
    // One message per incident: say so first, and how many series it spans.
    let text = match &alert.group {
        Some(g) => format!(
            "[{} {}, {} series] {text}",
            g.key,
            g.update.as_str(),
            g.alerts.len()
        ),
        None => text,
    };
    shorten(&one_line(&text), MAX_SMS_CHARS)
}

/// Collapses line breaks and runs of whitespace into single spaces.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// At most `max` characters, ending in `...` when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{}...", keep.trim_end())
}

/// A value without noise: `5234.5`, `1000`, `0.15`.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `application/x-www-form-urlencoded` encoding of `pairs` (the WHATWG rules: alphanumerics
/// and `*-._` as is, space as `+`, every other byte of the UTF-8 as `%XX`).
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn push(out: &mut String, s: &str) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                other => out.push_str(&format!("%{other:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        push(&mut out, k);
        out.push('=');
        push(&mut out, v);
    }
    out
}

/// Standard base64 with padding (RFC 4648), for HTTP Basic credentials.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The retry policy and the builder of a `sms` channel, from its validated spec.
pub fn make(spec: SmsSpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let timeout = cx.retry.timeout;
    let connections = spec.to.len().clamp(1, 8);
    (
        cx.retry.clone(),
        Box::new(move || {
            Box::new(SmsChannel::new(
                build_client(connections, timeout),
                spec.api_base,
                spec.account_sid,
                spec.auth_token,
                spec.from,
                spec.to,
            ))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, Name, Severity, Stats, Timestamp};

    fn alert(kind: AlertKind, message: &str) -> Alert {
        Alert {
            id: Name::from("01JD0000000000000000000000"),
            kind,
            severity: Severity::Critical,
            exchange: Name::from("binance"),
            endpoint: Name::from("ping"),
            metric: Metric::LatencyMs,
            detector: Name::from("zscore"),
            title: match kind {
                AlertKind::Resolved => "binance ping latency spike resolved".into(),
                _ => "binance ping latency spike".into(),
            },
            message: message.into(),
            value: 5234.5,
            threshold: 1000.0,
            region: Name::from("local"),
            started_at: Timestamp(1_795_000_000_000),
            at: Timestamp(1_795_000_003_000),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        }
    }

    #[test]
    fn sms_text_puts_severity_exchange_what_and_value_first() {
        let t = sms_text(&alert(AlertKind::Firing, "z-score 9.1 over\nthe window."));
        assert_eq!(
            t,
            "CRITICAL binance ping latency spike: latency_ms 5234.5 (threshold 1000). z-score 9.1 over the window. Region local, since 2026-11-18T11:06:40Z"
        );
        let t = sms_text(&alert(AlertKind::Resolved, "recovered after 3s"));
        assert!(
            t.starts_with("RESOLVED critical binance ping latency spike: recovered after 3s."),
            "{t}"
        );
    }

    #[test]
    fn sms_text_is_shortened_keeping_the_head() {
        let long = "x".repeat(5000);
        let t = sms_text(&alert(AlertKind::Firing, &long));
        assert_eq!(t.chars().count(), MAX_SMS_CHARS);
        assert!(t.starts_with("CRITICAL binance ping latency spike: latency_ms 5234.5"));
        assert!(t.ends_with("..."));
        let t = sms_text(&alert(AlertKind::Firing, &"é".repeat(2000)));
        assert_eq!(t.chars().count(), MAX_SMS_CHARS);
    }

    #[test]
    fn numbers_are_compact() {
        assert_eq!(number(1000.0), "1000");
        assert_eq!(number(5234.5), "5234.5");
        assert_eq!(number(0.153), "0.15");
        assert_eq!(number(-3.0), "-3");
    }

    #[test]
    fn form_encoding_follows_the_whatwg_rules() {
        assert_eq!(
            form_encode(&[
                ("To", "+15558675310"),
                ("Body", "exwatch: OKX status & ok é")
            ]),
            "To=%2B15558675310&Body=exwatch%3A+OKX+status+%26+ok+%C3%A9"
        );
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, out) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), out, "{input}");
        }
    }

    #[test]
    fn twilio_errors_are_quoted_bounded() {
        let body = br#"{"code":21211,"message":"The 'To' number 5551234567 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;
        assert_eq!(
            twilio_reason(400, body),
            "HTTP 400, Twilio error 21211: The 'To' number 5551234567 is not a valid phone number."
        );
        assert_eq!(
            twilio_reason(502, b"<html>bad gateway</html>"),
            "HTTP 502: <html>bad gateway</html>"
        );
        let huge = format!(r#"{{"code":1,"message":"{}"}}"#, "m".repeat(10_000));
        assert!(twilio_reason(400, huge.as_bytes()).chars().count() < 300);
    }

    #[test]
    fn secrets_are_scrubbed_and_never_debug_printed() {
        let sid = "AC0123456789abcdef0123456789abcdef";
        let token = "tok-never-printed";
        let s = [Secret::new(sid), Secret::new(token)];
        assert_eq!(
            Redactor::new(s).text(&format!("/2010-04-01/Accounts/{sid}/Messages.json {token}")),
            "/2010-04-01/Accounts/***/Messages.json ***"
        );
        crate::client::install_crypto_provider();
        let ch = SmsChannel::new(
            awc::Client::default(),
            "https://api.twilio.com/".into(),
            Secret::new(sid),
            Secret::new(token),
            "+15005550006".into(),
            vec!["+66800000000".into()],
        );
        let dbg = format!("{ch:?}");
        assert!(!dbg.contains(sid) && !dbg.contains(token), "{dbg}");
        assert!(!dbg.contains(&base64(format!("{sid}:{token}").as_bytes())));
        assert!(dbg.contains("https://api.twilio.com"), "{dbg}");
    }
}
