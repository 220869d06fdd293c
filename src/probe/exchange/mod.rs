//! Answer profiles: pure judgement of one HTTP answer from an exchange.
//!
//! [`judge`] turns an [`Answer`] (status, `Retry-After`, body) into a [`Verdict`]: the probe's
//! [`Outcome`] plus what the answer carries for the endpoint's [`EndpointKind`] (server time,
//! last price, maintenance). One file per venue ([`binance`], [`bybit`], [`okx`]) plus the
//! generic [`http`] profile. Nothing here panics, whatever the bytes.
//!
//! Rules common to every profile:
//!
//! | status | outcome |
//! |---|---|
//! | 429, 418 (Binance IP ban) | `rate_limited`, `retry_after` kept |
//! | other 4xx | `http_4xx` (Bybit: 403 is its IP limit → `rate_limited`, 600 s if no `Retry-After`) |
//! | 5xx | `http_5xx` |
//! | 1xx, 3xx | `bad_body` |
//! | 2xx | the profile judges the body |
//!
//! For a non-2xx answer the venue's error body, when there is one, goes into
//! [`Verdict::detail`] (`code -1121: Invalid symbol.`), bounded to [`DETAIL_MAX_CHARS`].

pub mod binance;
pub mod bybit;
pub mod http;
pub mod okx;

use std::time::Duration;

use serde_json::Value;

use crate::config::{CheckProfile, EndpointKind};
use crate::messages::Outcome;

/// The longest [`Verdict::detail`], in characters (longer ones end in `…`).
pub const DETAIL_MAX_CHARS: usize = 200;

/// One HTTP answer, as far as the profiles care.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, already parsed (see [`crate::client::parse_retry_after`]).
    pub retry_after: Option<Duration>,
    /// The body (possibly cut at the endpoint's size limit by the caller).
    pub body: &'a [u8],
}

/// The judgement of one answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// How the probe ended.
    pub outcome: Outcome,
    /// Exchange server time in ms since the epoch (`time` endpoints).
    pub server_time_ms: Option<i64>,
    /// Last traded price (`ticker` endpoints).
    pub price: Option<f64>,
    /// How long the exchange asks us to wait (rate-limited answers).
    pub retry_after: Option<Duration>,
    /// Why it is not ok, or a note (`maintenance`), bounded to [`DETAIL_MAX_CHARS`].
    pub detail: Option<String>,
    /// The exchange reports maintenance in progress (`status` endpoints).
    pub maintenance: bool,
    /// When the ongoing maintenance is announced to end, in ms since the epoch: the latest
    /// `end` of the ongoing events; `None` when unknown (Binance, or an event without `end`).
    pub maintenance_until_ms: Option<i64>,
}

impl Verdict {
    /// An ok verdict that carries nothing.
    pub fn ok() -> Self {
        Self::with_outcome(Outcome::Ok)
    }

    /// A verdict with `outcome` that carries nothing.
    pub fn with_outcome(outcome: Outcome) -> Self {
        Self {
            outcome,
            server_time_ms: None,
            price: None,
            retry_after: None,
            detail: None,
            maintenance: false,
            maintenance_until_ms: None,
        }
    }

    /// A failed verdict with a (bounded) explanation.
    pub fn fail(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self::with_outcome(outcome).detail(detail)
    }

    /// A `bad_body` verdict with a (bounded) explanation.
    pub fn bad_body(detail: impl Into<String>) -> Self {
        Self::fail(Outcome::BadBody, detail)
    }

    /// A `rate_limited` verdict.
    pub fn rate_limited(retry_after: Option<Duration>, detail: Option<String>) -> Self {
        let mut v = Self::with_outcome(Outcome::RateLimited);
        v.retry_after = retry_after;
        v.detail = detail.map(bound);
        v
    }

    /// Sets the detail, bounded to [`DETAIL_MAX_CHARS`].
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(bound(detail.into()));
        self
    }
}

/// Judges one answer of an endpoint of `kind` with `profile`. Never panics.
pub fn judge(profile: CheckProfile, kind: EndpointKind, answer: &Answer<'_>) -> Verdict {
    match profile {
        CheckProfile::Http => http::judge(kind, answer),
        CheckProfile::Binance => binance::judge(kind, answer),
        CheckProfile::Bybit => bybit::judge(kind, answer),
        CheckProfile::Okx => okx::judge(kind, answer),
    }
}

/// The common status rules; `None` for a 2xx, which the profile judges itself.
/// `error_detail` reads the venue's error body, if any.
pub(crate) fn judge_status(
    answer: &Answer<'_>,
    error_detail: impl Fn(&Value) -> Option<String>,
) -> Option<Verdict> {
    let status = answer.status;
    if (200..300).contains(&status) {
        return None;
    }
    let detail = serde_json::from_slice::<Value>(answer.body)
        .ok()
        .and_then(|v| error_detail(&v))
        .unwrap_or_else(|| status_detail(status, answer.body));
    Some(match status {
        429 | 418 => Verdict::rate_limited(answer.retry_after, Some(detail)),
        400..=499 => Verdict::fail(Outcome::Http4xx, detail),
        500..=599 => Verdict::fail(Outcome::Http5xx, detail),
        _ => Verdict::fail(Outcome::BadBody, detail),
    })
}

/// `HTTP 503: <start of the body>`.
fn status_detail(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(DETAIL_MAX_CHARS * 4)]);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {text}")
    }
}

/// Parses a 2xx body as JSON, or says why not.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, Verdict> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Verdict::bad_body("empty body"));
    }
    serde_json::from_slice(body).map_err(|e| Verdict::bad_body(format!("not JSON: {e}")))
}

/// A JSON string or number as text (exchanges send numbers as strings, and sometimes not).
pub(crate) fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A JSON string or number as an `i64` (integral strings only).
pub(crate) fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A price from a JSON string or number: finite and positive.
pub(crate) fn price(v: Option<&Value>, field: &str) -> Result<f64, Verdict> {
    let v = v.ok_or_else(|| Verdict::bad_body(format!("missing {field}")))?;
    let p = match v {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match p {
        Some(p) if p.is_finite() && p > 0.0 => Ok(p),
        _ => Err(Verdict::bad_body(format!(
            "unparseable {field}: {}",
            short(v)
        ))),
    }
}

/// A compact, bounded rendering of a JSON value for details.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    bound_to(s, 40)
}

/// Cuts `s` to [`DETAIL_MAX_CHARS`] characters, ending in `…` when cut.
pub(crate) fn bound(s: String) -> String {
    bound_to(s, DETAIL_MAX_CHARS)
}

fn bound_to(mut s: String, max: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(max) {
        let cut = s
            .char_indices()
            .nth(max.saturating_sub(1))
            .map_or(i, |(j, _)| j);
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// Judges a venue's list of maintenance events: any `relevant` event in one of
/// `ongoing_states` sets [`Verdict::maintenance`]; relevant events in state `scheduled` are noted
/// in the detail. Each event is a JSON object with `state`, `title`, `begin` and `end`; the
/// latest `end` of the ongoing events becomes [`Verdict::maintenance_until_ms`] (unknown if
/// any ongoing event lacks one).
pub(crate) fn maintenance_verdict<'v>(
    events: impl IntoIterator<Item = &'v Value>,
    relevant: impl Fn(&Value) -> bool,
    ongoing_states: &[&str],
) -> Verdict {
    let mut ongoing = Vec::new();
    let mut scheduled = Vec::new();
    let mut until: Option<Option<i64>> = None;
    for e in events {
        if !relevant(e) {
            continue;
        }
        let state = e.get("state").and_then(Value::as_str).unwrap_or("");
        let title = e
            .get("title")
            .and_then(as_text)
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "untitled".into());
        if ongoing_states.contains(&state) {
            ongoing.push(title);
            let end = e.get("end").and_then(as_i64).filter(|&ms| ms > 0);
            until = Some(match (until, end) {
                (None, end) => end,
                (Some(Some(a)), Some(b)) => Some(a.max(b)),
                _ => None,
            });
        } else if state == "scheduled" {
            let begin = e.get("begin").and_then(as_i64);
            scheduled.push(match begin {
                Some(ms) => format!("{title} at {}", crate::messages::Timestamp(ms)),
                None => title,
            });
        }
    }
    let mut v = Verdict::ok();
    if !ongoing.is_empty() {
        v.maintenance = true;
        v.maintenance_until_ms = until.flatten();
        v = v.detail(format!("maintenance: {}", ongoing.join("; ")));
    } else if !scheduled.is_empty() {
        v = v.detail(format!("maintenance scheduled: {}", scheduled.join("; ")));
    }
    v
}

/// True when the JSON value (a number or a string) equals `want`, or is absent.
pub(crate) fn absent_or_eq(v: Option<&Value>, want: i64) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(v) => as_i64(v) == Some(want),
    }
}

/// True when the array `v` (of numbers or strings) contains `want`; absent or empty counts as
/// "applies to everything".
pub(crate) fn absent_or_contains(v: Option<&Value>, want: i64) -> bool {
    match v.and_then(Value::as_array) {
        None => true,
        Some(a) if a.is_empty() => true,
        Some(a) => a.iter().any(|x| as_i64(x) == Some(want)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILES: [CheckProfile; 4] = [
        CheckProfile::Http,
        CheckProfile::Binance,
        CheckProfile::Bybit,
        CheckProfile::Okx,
    ];
    const KINDS: [EndpointKind; 4] = [
        EndpointKind::Health,
        EndpointKind::Time,
        EndpointKind::Ticker,
        EndpointKind::Status,
    ];

    fn answer(status: u16, body: &[u8]) -> Answer<'_> {
        Answer {
            status,
            retry_after: None,
            body,
        }
    }

    #[test]
    fn common_status_rules_apply_to_every_profile() {
        let ra = Some(Duration::from_secs(7));
        for p in PROFILES {
            for k in KINDS {
                let v = |status: u16| {
                    judge(
                        p,
                        k,
                        &Answer {
                            status,
                            retry_after: ra,
                            body: b"",
                        },
                    )
                };
                assert_eq!(v(429).outcome, Outcome::RateLimited, "{p:?}");
                assert_eq!(v(429).retry_after, ra);
                assert_eq!(v(418).outcome, Outcome::RateLimited);
                assert_eq!(v(418).retry_after, ra);
                assert_eq!(v(400).outcome, Outcome::Http4xx);
                assert_eq!(v(404).outcome, Outcome::Http4xx);
                assert_eq!(v(500).outcome, Outcome::Http5xx);
                assert_eq!(v(503).outcome, Outcome::Http5xx);
                assert_eq!(v(599).outcome, Outcome::Http5xx);
                assert_eq!(v(302).outcome, Outcome::BadBody);
                assert_eq!(v(101).outcome, Outcome::BadBody);
                assert_eq!(v(0).outcome, Outcome::BadBody);
                assert_eq!(v(503).detail.as_deref(), Some("HTTP 503"));
            }
        }
    }

    #[test]
    fn non_json_error_bodies_are_quoted_and_bounded() {
        let body = "<html>\n  <body>Bad   gateway</body></html>".repeat(50);
        let v = judge(
            CheckProfile::Binance,
            EndpointKind::Health,
            &answer(502, body.as_bytes()),
        );
        let d = v.detail.unwrap();
        assert!(
            d.starts_with("HTTP 502: <html> <body>Bad gateway</body>"),
            "{d}"
        );
        assert_eq!(d.chars().count(), DETAIL_MAX_CHARS);
        assert!(d.ends_with('…'));
    }

    #[test]
    fn bound_keeps_short_strings_and_cuts_on_char_boundaries() {
        assert_eq!(bound("abc".into()), "abc");
        let s = "฿".repeat(500);
        let b = bound(s);
        assert_eq!(b.chars().count(), DETAIL_MAX_CHARS);
        assert!(b.ends_with('…'));
        assert_eq!(bound("x".repeat(DETAIL_MAX_CHARS)).len(), DETAIL_MAX_CHARS);
    }

    /// Samples of every venue, to cut and corrupt.
    const SAMPLES: &[&str] = &[
        r#"{"serverTime":1499827319559}"#,
        r#"{"symbol":"LTCBTC","price":"4.00000200"}"#,
        r#"{"status":0,"msg":"normal"}"#,
        r#"{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1688639403","timeNano":"1688639403423213947"},"retExtInfo":{},"time":1688639403423}"#,
        r#"{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol":"BTCUSDT","lastPrice":"20533.13"}]},"retExtInfo":{},"time":1673859087947}"#,
        r#"{"retCode":0,"retMsg":"","result":{"list":[{"state":"ongoing","env":1,"product":[2],"serviceTypes":[5],"title":"t"}]}}"#,
        r#"{"code":"0","msg":"","data":[{"ts":"1597026383085"}]}"#,
        r#"{"code":"0","msg":"","data":[{"instId":"BTC-USDT","last":"9999.99","ts":"1597026383085"}]}"#,
        r#"{"code":"0","data":[{"state":"ongoing","env":"1","title":"x"}],"msg":""}"#,
        r#"{"code":-1121,"msg":"Invalid symbol."}"#,
    ];

    #[test]
    fn never_panics_on_random_or_truncated_input() {
        let mut rng = fastrand::Rng::with_seed(42);
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        for s in SAMPLES {
            let b = s.as_bytes();
            for cut in 0..=b.len() {
                bodies.push(b[..cut].to_vec());
            }
            for _ in 0..50 {
                let mut m = b.to_vec();
                for _ in 0..rng.usize(1..4) {
                    let i = rng.usize(..m.len());
                    m[i] = rng.u8(..);
                }
                bodies.push(m);
            }
        }
        for _ in 0..500 {
            let n = rng.usize(0..300);
            bodies.push((0..n).map(|_| rng.u8(..)).collect());
        }
        bodies.push(b"[]".to_vec());
        bodies.push(b"null".to_vec());
        bodies.push(b"\"str\"".to_vec());
        bodies.push(b"1e999".to_vec());
        bodies.push(br#"{"price":"NaN"}"#.to_vec());
        bodies.push(br#"{"serverTime":1e300}"#.to_vec());
        bodies.push(br#"{"data":[{"ts":"99999999999999999999999"}],"code":"0"}"#.to_vec());
        bodies.push("[".repeat(10_000).into_bytes());
        for body in &bodies {
            for p in PROFILES {
                for k in KINDS {
                    for status in [200, 403, 429, 503] {
                        let v = judge(p, k, &answer(status, body));
                        if let Some(d) = &v.detail {
                            assert!(d.chars().count() <= DETAIL_MAX_CHARS);
                        }
                        if let Some(price) = v.price {
                            assert!(price.is_finite() && price > 0.0);
                        }
                    }
                }
            }
        }
    }
}
