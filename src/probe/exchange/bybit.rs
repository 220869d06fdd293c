//! Bybit v5: every answer is the envelope
//! `{"retCode":0,"retMsg":"OK","result":{…},"retExtInfo":{},"time":…}`; errors usually arrive
//! with HTTP 200 and a non-zero `retCode`. `retCode` 10006 is the per-endpoint rate limit;
//! HTTP 403 is the IP limit ("access too frequent", wait at least 10 minutes).
//!
//! Kinds: `time` reads `result.timeNano`, else the top-level `time` (ms), else
//! `result.timeSecond`; `ticker` reads `result.list[0].lastPrice`; `status` reads the events of
//! `/v5/system/status` (`result.list`).

use std::time::Duration;

use serde_json::Value;

use super::{
    Answer, Verdict, absent_or_contains, absent_or_eq, as_i64, as_text, judge_status,
    maintenance_verdict, parse_json, price,
};
use crate::config::EndpointKind;

/// What Bybit asks after an HTTP 403 IP limit when it sends no `Retry-After`: "wait at least
/// 10 minutes".
pub const IP_LIMIT_BACKOFF: Duration = Duration::from_secs(600);

/// The `retCode` of Bybit's per-endpoint rate limit ("Too many visits!").
pub const RET_CODE_RATE_LIMIT: i64 = 10006;

/// Judges an answer with the Bybit profile.
pub fn judge(kind: EndpointKind, answer: &Answer<'_>) -> Verdict {
    if answer.status == 403 {
        let detail = serde_json::from_slice::<Value>(answer.body)
            .ok()
            .and_then(|v| error_detail(&v))
            .unwrap_or_else(|| "HTTP 403: IP rate limit (or a US IP)".into());
        return Verdict::rate_limited(
            Some(answer.retry_after.unwrap_or(IP_LIMIT_BACKOFF)),
            Some(detail),
        );
    }
    if let Some(v) = judge_status(answer, error_detail) {
        return v;
    }
    let json = match parse_json(answer.body) {
        Ok(v) => v,
        Err(v) => return v,
    };
    let Some(code) = json.get("retCode").and_then(as_i64) else {
        return Verdict::bad_body("missing retCode");
    };
    if code == RET_CODE_RATE_LIMIT {
        return Verdict::rate_limited(answer.retry_after, error_detail(&json));
    }
    if code != 0 {
        return Verdict::bad_body(error_detail(&json).unwrap_or_default());
    }
    match kind {
        EndpointKind::Health => Verdict::ok(),
        EndpointKind::Time => match server_time_ms(&json) {
            Some(ms) => Verdict {
                server_time_ms: Some(ms),
                ..Verdict::ok()
            },
            None => Verdict::bad_body("missing result.timeNano and time"),
        },
        EndpointKind::Ticker => match price(
            json.pointer("/result/list/0/lastPrice"),
            "result.list[0].lastPrice",
        ) {
            Ok(p) => Verdict {
                price: Some(p),
                ..Verdict::ok()
            },
            Err(v) => v,
        },
        EndpointKind::Status => match json.pointer("/result/list").and_then(Value::as_array) {
            // Production events that touch spot (product 2) or market data (service 5).
            Some(list) => maintenance_verdict(
                list,
                |e| {
                    absent_or_eq(e.get("env"), 1)
                        && (absent_or_contains(e.get("product"), 2)
                            || absent_or_contains(e.get("serviceTypes"), 5))
                },
                &["ongoing"],
            ),
            None => Verdict::bad_body("missing result.list"),
        },
    }
}

/// Server time in ms: `result.timeNano` (ns string), else the top-level `time` (ms number),
/// else `result.timeSecond` (s string).
fn server_time_ms(json: &Value) -> Option<i64> {
    let nano = json
        .pointer("/result/timeNano")
        .and_then(as_text)
        .and_then(|s| s.trim().parse::<i128>().ok())
        .map(|ns| ns / 1_000_000)
        .and_then(|ms| i64::try_from(ms).ok());
    let top = || json.get("time").and_then(as_i64);
    let second = || {
        json.pointer("/result/timeSecond")
            .and_then(as_i64)
            .and_then(|s| s.checked_mul(1000))
    };
    nano.or_else(top).or_else(second)
}

/// `retCode 10016: Server error` from a Bybit envelope.
fn error_detail(v: &Value) -> Option<String> {
    let code = v.get("retCode").and_then(as_i64)?;
    let msg = v.get("retMsg").and_then(as_text).unwrap_or_default();
    Some(format!("retCode {code}: {msg}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Outcome;

    const TIME: &str = r#"{
  "retCode": 0,
  "retMsg": "OK",
  "result": { "timeSecond": "1688639403", "timeNano": "1688639403423213947" },
  "retExtInfo": {},
  "time": 1688639403423
}"#;

    const TICKERS: &str = r#"{
  "retCode": 0,
  "retMsg": "OK",
  "result": {
    "category": "spot",
    "list": [
      {
        "symbol": "BTCUSDT",
        "bid1Price": "20517.96",
        "bid1Size": "2",
        "ask1Price": "20527.77",
        "ask1Size": "1.862172",
        "lastPrice": "20533.13",
        "prevPrice24h": "20393.48",
        "price24hPcnt": "0.0068",
        "highPrice24h": "21128.12",
        "lowPrice24h": "20318.89",
        "turnover24h": "243765620.65899866",
        "volume24h": "11801.27771",
        "usdIndexPrice": "20784.12009279"
      }
    ]
  },
  "retExtInfo": {},
  "time": 1673859087947
}"#;

    const STATUS: &str = r#"{
  "retCode": 0,
  "retMsg": "",
  "result": {
    "list": [
      {
        "id": "4d95b2a0-587f-11f0-bcc9-56f28c94d6ea",
        "title": "t06",
        "state": "completed",
        "begin": "1751596902000",
        "end": "1751597011000",
        "href": "",
        "serviceTypes": [2, 3, 4, 5],
        "product": [1, 2],
        "uidSuffix": [],
        "maintainType": 1,
        "env": 1
      }
    ]
  },
  "retExtInfo": {},
  "time": 1751858399649
}"#;

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
    fn time_sample() {
        let v = j(EndpointKind::Time, 200, TIME);
        assert_eq!(
            (v.outcome, v.server_time_ms),
            (Outcome::Ok, Some(1688639403423))
        );
        assert_eq!(j(EndpointKind::Health, 200, TIME), Verdict::ok());
    }

    #[test]
    fn time_fallbacks() {
        let v = j(
            EndpointKind::Time,
            200,
            r#"{"retCode":0,"result":{},"time":1688639403999}"#,
        );
        assert_eq!(v.server_time_ms, Some(1688639403999));
        let v = j(
            EndpointKind::Time,
            200,
            r#"{"retCode":0,"result":{"timeSecond":"1688639403"}}"#,
        );
        assert_eq!(v.server_time_ms, Some(1688639403000));
        let v = j(EndpointKind::Time, 200, r#"{"retCode":0,"result":{}}"#);
        assert_eq!(v.outcome, Outcome::BadBody);
    }

    #[test]
    fn ticker_sample() {
        let v = j(EndpointKind::Ticker, 200, TICKERS);
        assert_eq!((v.outcome, v.price), (Outcome::Ok, Some(20533.13)));
        let v = j(
            EndpointKind::Ticker,
            200,
            r#"{"retCode":0,"result":{"category":"spot","list":[]}}"#,
        );
        assert_eq!(v.outcome, Outcome::BadBody);
        assert_eq!(
            v.detail.as_deref(),
            Some("missing result.list[0].lastPrice")
        );
    }

    #[test]
    fn status_sample_completed_is_ok_without_maintenance() {
        let v = j(EndpointKind::Status, 200, STATUS);
        assert_eq!(v, Verdict::ok());
    }

    #[test]
    fn status_ongoing_spot_event_is_maintenance() {
        let body = STATUS.replace("\"completed\"", "\"ongoing\"");
        let v = j(EndpointKind::Status, 200, &body);
        assert_eq!(v.outcome, Outcome::Ok);
        assert!(v.maintenance);
        assert_eq!(v.detail.as_deref(), Some("maintenance: t06"));
        assert_eq!(v.maintenance_until_ms, Some(1_751_597_011_000));
        // Demo environment only: not ours.
        let demo = body.replace("\"env\": 1", "\"env\": \"2\"");
        assert!(!j(EndpointKind::Status, 200, &demo).maintenance);
        // Futures-only trading, no market data: not ours.
        let futures = body
            .replace("\"product\": [1, 2]", "\"product\": [1]")
            .replace("[2, 3, 4, 5]", "[2, 3]");
        assert!(!j(EndpointKind::Status, 200, &futures).maintenance);
    }

    #[test]
    fn status_scheduled_event_is_noted() {
        let body = STATUS.replace("\"completed\"", "\"scheduled\"");
        let v = j(EndpointKind::Status, 200, &body);
        assert!(!v.maintenance);
        assert_eq!(
            v.detail.as_deref(),
            Some("maintenance scheduled: t06 at 2025-07-04T02:41:42Z")
        );
        let v = j(EndpointKind::Status, 200, r#"{"retCode":0,"result":{}}"#);
        assert_eq!(v.detail.as_deref(), Some("missing result.list"));
    }

    #[test]
    fn envelope_errors() {
        let v = j(
            EndpointKind::Time,
            200,
            r#"{"retCode":10016,"retMsg":"Server error","result":{}}"#,
        );
        assert_eq!(v.outcome, Outcome::BadBody);
        assert_eq!(v.detail.as_deref(), Some("retCode 10016: Server error"));
        let v = j(EndpointKind::Health, 200, r#"{"retMsg":"OK"}"#);
        assert_eq!(v.detail.as_deref(), Some("missing retCode"));
        let v = j(EndpointKind::Health, 200, "{\"serverTi");
        assert!(v.detail.unwrap().starts_with("not JSON"));
        let v = j(EndpointKind::Health, 200, "[]");
        assert_eq!(v.detail.as_deref(), Some("missing retCode"));
    }

    #[test]
    fn ret_code_10006_is_rate_limited() {
        let v = judge(
            EndpointKind::Ticker,
            &Answer {
                status: 200,
                retry_after: Some(Duration::from_secs(1)),
                body: br#"{"retCode":10006,"retMsg":"Too many visits!","result":{}}"#,
            },
        );
        assert_eq!(v.outcome, Outcome::RateLimited);
        assert_eq!(v.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(v.detail.as_deref(), Some("retCode 10006: Too many visits!"));
    }

    #[test]
    fn http_403_is_the_ip_limit() {
        let v = j(EndpointKind::Health, 403, "access too frequent");
        assert_eq!(v.outcome, Outcome::RateLimited);
        assert_eq!(v.retry_after, Some(IP_LIMIT_BACKOFF));
        let v = judge(
            EndpointKind::Health,
            &Answer {
                status: 403,
                retry_after: Some(Duration::from_secs(30)),
                body: b"",
            },
        );
        assert_eq!(v.retry_after, Some(Duration::from_secs(30)));
    }

    #[test]
    fn other_statuses() {
        let v = j(EndpointKind::Health, 429, "");
        assert_eq!(v.outcome, Outcome::RateLimited);
        let v = j(EndpointKind::Health, 404, "");
        assert_eq!(v.outcome, Outcome::Http4xx);
        let v = j(
            EndpointKind::Health,
            503,
            r#"{"retCode":10016,"retMsg":"Service restarting"}"#,
        );
        assert_eq!(v.outcome, Outcome::Http5xx);
        assert_eq!(
            v.detail.as_deref(),
            Some("retCode 10016: Service restarting")
        );
    }
}
