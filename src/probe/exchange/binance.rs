//! Binance Spot: a 2xx answer carries a JSON object or array; errors come with 4xx/5xx and
//! `{"code":-1121,"msg":"Invalid symbol."}`. 429 is a rate limit, 418 an IP ban (both with
//! `Retry-After`).
//!
//! Kinds: `time` reads `serverTime` (number, ms); `ticker` reads `price` (string);
//! `status` reads `/sapi/v1/system/status` → `{"status":0|1,"msg":…}` (1 = maintenance).

use serde_json::Value;

use super::{Answer, Verdict, as_i64, judge_status, parse_json, price};
use crate::config::EndpointKind;

/// Judges an answer with the Binance profile.
pub fn judge(kind: EndpointKind, answer: &Answer<'_>) -> Verdict {
    if let Some(v) = judge_status(answer, error_detail) {
        return v;
    }
    let json = match parse_json(answer.body) {
        Ok(v) => v,
        Err(v) => return v,
    };
    if !(json.is_object() || json.is_array()) {
        return Verdict::bad_body("not a JSON object or array");
    }
    // Binance documents no errors in 2xx answers; should one appear anyway, it is one.
    if matches!(json.get("code").and_then(as_i64), Some(c) if c < 0)
        && let Some(d) = error_detail(&json)
    {
        return Verdict::bad_body(d);
    }
    match kind {
        EndpointKind::Health => Verdict::ok(),
        EndpointKind::Time => match json.get("serverTime").and_then(as_i64) {
            Some(ms) => Verdict {
                server_time_ms: Some(ms),
                ..Verdict::ok()
            },
            None => Verdict::bad_body("missing serverTime"),
        },
        EndpointKind::Ticker => {
            // With no symbol Binance answers an array of every ticker; accept a single one.
            let one = match &json {
                Value::Array(a) if a.len() == 1 => &a[0],
                Value::Array(_) => return Verdict::bad_body("expected one ticker, got an array"),
                v => v,
            };
            match price(one.get("price"), "price") {
                Ok(p) => Verdict {
                    price: Some(p),
                    ..Verdict::ok()
                },
                Err(v) => v,
            }
        }
        EndpointKind::Status => match json.get("status").and_then(as_i64) {
            Some(0) => Verdict::ok(),
            Some(1) => Verdict {
                maintenance: true,
                ..Verdict::ok()
            }
            .detail("maintenance"),
            Some(n) => Verdict::bad_body(format!("unknown status {n}")),
            None => Verdict::bad_body("missing status"),
        },
    }
}

/// `code -1121: Invalid symbol.` from a Binance error body.
fn error_detail(v: &Value) -> Option<String> {
    let code = v.get("code").filter(|c| c.is_number())?;
    let msg = v.get("msg").and_then(Value::as_str).unwrap_or("");
    Some(format!("code {code}: {msg}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::messages::Outcome;

    fn j(kind: EndpointKind, status: u16, body: &str) -> Verdict {
        judge(
            kind,
            &Answer {
                status,
                retry_after: None,
                body: body.as_bytes(),
            },
        )
    }

    #[test]
    fn ping_empty_object_is_ok() {
        assert_eq!(j(EndpointKind::Health, 200, "{}"), Verdict::ok());
        assert_eq!(j(EndpointKind::Health, 200, "[]").outcome, Outcome::Ok);
    }

    #[test]
    fn health_needs_a_json_object_or_array() {
        let v = j(EndpointKind::Health, 200, "");
        assert_eq!(
            (v.outcome, v.detail.as_deref()),
            (Outcome::BadBody, Some("empty body"))
        );
        let v = j(EndpointKind::Health, 200, "{\"serverTi");
        assert_eq!(v.outcome, Outcome::BadBody);
        assert!(v.detail.unwrap().starts_with("not JSON"));
        let v = j(EndpointKind::Health, 200, "42");
        assert_eq!(v.detail.as_deref(), Some("not a JSON object or array"));
    }

    #[test]
    fn server_time() {
        let v = j(
            EndpointKind::Time,
            200,
            r#"{ "serverTime": 1499827319559 }"#,
        );
        assert_eq!(
            (v.outcome, v.server_time_ms),
            (Outcome::Ok, Some(1499827319559))
        );
        let v = j(EndpointKind::Time, 200, "{}");
        assert_eq!(
            (v.outcome, v.detail.as_deref()),
            (Outcome::BadBody, Some("missing serverTime"))
        );
        let v = j(EndpointKind::Time, 200, r#"{"serverTime":"x"}"#);
        assert_eq!(v.outcome, Outcome::BadBody);
    }

    #[test]
    fn ticker_price() {
        let v = j(
            EndpointKind::Ticker,
            200,
            r#"{ "symbol": "LTCBTC", "price": "4.00000200" }"#,
        );
        assert_eq!((v.outcome, v.price), (Outcome::Ok, Some(4.000002)));
        let v = j(
            EndpointKind::Ticker,
            200,
            r#"[{"symbol":"BTCUSDT","price":"20533.13"}]"#,
        );
        assert_eq!(v.price, Some(20533.13));
        for body in [
            r#"{"symbol":"BTCUSDT"}"#,
            r#"{"price":"n/a"}"#,
            r#"{"price":"0"}"#,
            r#"{"price":null}"#,
            r#"[{"price":"1"},{"price":"2"}]"#,
        ] {
            let v = j(EndpointKind::Ticker, 200, body);
            assert_eq!((v.outcome, v.price), (Outcome::BadBody, None), "{body}");
        }
    }

    #[test]
    fn system_status() {
        let v = j(
            EndpointKind::Status,
            200,
            r#"{ "status": 0, "msg": "normal" }"#,
        );
        assert_eq!(v, Verdict::ok());
        let v = j(
            EndpointKind::Status,
            200,
            r#"{"status":1,"msg":"system_maintenance"}"#,
        );
        assert_eq!(v.outcome, Outcome::Ok);
        assert!(v.maintenance);
        assert_eq!(v.detail.as_deref(), Some("maintenance"));
        assert_eq!(j(EndpointKind::Status, 200, "{}").outcome, Outcome::BadBody);
    }

    #[test]
    fn error_bodies_give_code_and_msg() {
        let v = j(
            EndpointKind::Ticker,
            400,
            r#"{"code": -1121, "msg": "Invalid symbol."}"#,
        );
        assert_eq!(v.outcome, Outcome::Http4xx);
        assert_eq!(v.detail.as_deref(), Some("code -1121: Invalid symbol."));
        let v = j(
            EndpointKind::Health,
            503,
            r#"{"code":-1008,"msg":"Server is currently overloaded with other requests. Please try again in a few minutes."}"#,
        );
        assert_eq!(v.outcome, Outcome::Http5xx);
        assert!(
            v.detail
                .unwrap()
                .starts_with("code -1008: Server is currently overloaded")
        );
        let long = format!(r#"{{"code":-1000,"msg":"{}"}}"#, "x".repeat(1000));
        let v = j(EndpointKind::Health, 500, &long);
        assert_eq!(
            v.detail.unwrap().chars().count(),
            super::super::DETAIL_MAX_CHARS
        );
    }

    #[test]
    fn an_error_body_in_a_2xx_is_a_bad_body() {
        let v = j(
            EndpointKind::Health,
            200,
            r#"{"code":-1000,"msg":"An unknown error occurred"}"#,
        );
        assert_eq!(v.outcome, Outcome::BadBody);
        assert_eq!(
            v.detail.as_deref(),
            Some("code -1000: An unknown error occurred")
        );
    }

    #[test]
    fn rate_limit_and_ban_keep_retry_after() {
        for status in [429, 418] {
            let v = judge(
                EndpointKind::Health,
                &Answer {
                    status,
                    retry_after: Some(Duration::from_secs(120)),
                    body: br#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000000000."}"#,
                },
            );
            assert_eq!(v.outcome, Outcome::RateLimited);
            assert_eq!(v.retry_after, Some(Duration::from_secs(120)));
            assert!(v.detail.unwrap().starts_with("code -1003: Way too much"));
        }
        let v = j(EndpointKind::Health, 403, "");
        assert_eq!(v.outcome, Outcome::Http4xx);
    }
}
