//! OKX v5: every answer is the envelope `{"code":"0","msg":"","data":[…]}`, `code` a string
//! (`"0"` = success). `50011` is the rate limit, with HTTP 200 or 429.
//!
//! Kinds: `time` reads `data[0].ts` (string, ms); `ticker` reads `data[0].last` (string);
//! `status` reads the events of `/api/v5/system/status` (`data`).

use serde_json::Value;

use super::{
    Answer, Verdict, absent_or_eq, as_i64, as_text, judge_status, maintenance_verdict, parse_json,
    price,
};
use crate::config::EndpointKind;

/// The `code` of OKX's rate limit.
pub const CODE_RATE_LIMIT: &str = "50011";

/// Judges an answer with the OKX profile.
pub fn judge(kind: EndpointKind, answer: &Answer<'_>) -> Verdict {
    if let Some(v) = judge_status(answer, error_detail) {
        return v;
    }
    let json = match parse_json(answer.body) {
        Ok(v) => v,
        Err(v) => return v,
    };
    let Some(code) = json.get("code").and_then(as_text) else {
        return Verdict::bad_body("missing code");
    };
    if code == CODE_RATE_LIMIT {
        return Verdict::rate_limited(answer.retry_after, error_detail(&json));
    }
    if code != "0" {
        return Verdict::bad_body(error_detail(&json).unwrap_or_default());
    }
    match kind {
        EndpointKind::Health => Verdict::ok(),
        EndpointKind::Time => match json.pointer("/data/0/ts").and_then(as_i64) {
            Some(ms) => Verdict {
                server_time_ms: Some(ms),
                ..Verdict::ok()
            },
            None => Verdict::bad_body("missing data[0].ts"),
        },
        EndpointKind::Ticker => match price(json.pointer("/data/0/last"), "data[0].last") {
            Ok(p) => Verdict {
                price: Some(p),
                ..Verdict::ok()
            },
            Err(v) => v,
        },
        EndpointKind::Status => match json.get("data").and_then(Value::as_array) {
            Some(list) => maintenance_verdict(
                list,
                |e| absent_or_eq(e.get("env"), 1),
                &["ongoing", "pre_open"],
            ),
            None => Verdict::bad_body("missing data"),
        },
    }
}

/// `code 50001: Service temporarily unavailable` from an OKX envelope.
fn error_detail(v: &Value) -> Option<String> {
    let code = v.get("code").and_then(as_text)?;
    let msg = v.get("msg").and_then(as_text).unwrap_or_default();
    Some(format!("code {code}: {msg}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::messages::Outcome;

    const TIME: &str = r#"{ "code": "0", "msg": "", "data": [ { "ts": "1597026383085" } ] }"#;

    const TICKER: &str = r#"{
  "code": "0",
  "msg": "",
  "data": [
    {
      "instType": "SWAP",
      "instId": "BTC-USD-SWAP",
      "last": "9999.99",
      "lastSz": "0.1",
      "askPx": "9999.99",
      "askSz": "11",
      "bidPx": "8888.88",
      "bidSz": "5",
      "open24h": "9000",
      "high24h": "10000",
      "low24h": "8888.88",
      "volCcy24h": "2222",
      "vol24h": "2222",
      "sodUtc0": "2222",
      "sodUtc8": "2222",
      "ts": "1597026383085"
    }
  ]
}"#;

    const STATUS: &str = r#"{
  "code": "0",
  "data": [
    {
      "begin": "1672823400000",
      "end": "1672823520000",
      "href": "",
      "preOpenBegin": "",
      "scheDesc": "",
      "serviceType": "8",
      "state": "completed",
      "maintType": "1",
      "env": "1",
      "system": "unified",
      "title": "Trading account system upgrade (in batches of accounts)"
    }
  ],
  "msg": ""
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
            (Outcome::Ok, Some(1597026383085))
        );
        assert_eq!(j(EndpointKind::Health, 200, TIME), Verdict::ok());
        let v = j(
            EndpointKind::Time,
            200,
            r#"{"code":"0","msg":"","data":[]}"#,
        );
        assert_eq!(v.detail.as_deref(), Some("missing data[0].ts"));
    }

    #[test]
    fn ticker_sample() {
        let v = j(EndpointKind::Ticker, 200, TICKER);
        assert_eq!((v.outcome, v.price), (Outcome::Ok, Some(9999.99)));
        let v = j(
            EndpointKind::Ticker,
            200,
            r#"{"code":"0","data":[{"last":""}]}"#,
        );
        assert_eq!(v.outcome, Outcome::BadBody);
        assert_eq!(v.detail.as_deref(), Some("unparseable data[0].last: \"\""));
    }

    #[test]
    fn status_samples() {
        assert_eq!(j(EndpointKind::Status, 200, STATUS), Verdict::ok());
        for state in ["ongoing", "pre_open"] {
            let body = STATUS.replace("\"completed\"", &format!("\"{state}\""));
            let v = j(EndpointKind::Status, 200, &body);
            assert!(v.maintenance, "{state}");
            assert_eq!(
                v.detail.as_deref(),
                Some("maintenance: Trading account system upgrade (in batches of accounts)")
            );
            let demo = body.replace("\"env\": \"1\"", "\"env\": \"2\"");
            assert!(!j(EndpointKind::Status, 200, &demo).maintenance);
        }
        let body = STATUS.replace("\"completed\"", "\"scheduled\"");
        let v = j(EndpointKind::Status, 200, &body);
        assert!(!v.maintenance);
        assert!(
            v.detail
                .unwrap()
                .starts_with("maintenance scheduled: Trading account")
        );
        let v = j(
            EndpointKind::Status,
            200,
            r#"{"code":"0","data":[],"msg":""}"#,
        );
        assert_eq!(v, Verdict::ok());
    }

    #[test]
    fn envelope_errors() {
        let v = j(
            EndpointKind::Time,
            200,
            r#"{"code":"50001","msg":"Service temporarily unavailable. Please try again later.","data":[]}"#,
        );
        assert_eq!(v.outcome, Outcome::BadBody);
        assert_eq!(
            v.detail.as_deref(),
            Some("code 50001: Service temporarily unavailable. Please try again later.")
        );
        assert_eq!(
            j(EndpointKind::Health, 200, r#"{"msg":""}"#)
                .detail
                .as_deref(),
            Some("missing code")
        );
        // A number instead of the documented string is tolerated.
        assert_eq!(
            j(EndpointKind::Health, 200, r#"{"code":0,"data":[]}"#).outcome,
            Outcome::Ok
        );
        assert_eq!(
            j(EndpointKind::Health, 200, "nope").outcome,
            Outcome::BadBody
        );
    }

    #[test]
    fn code_50011_is_rate_limited_with_200_or_429() {
        for status in [200, 429] {
            let v = judge(
                EndpointKind::Ticker,
                &Answer {
                    status,
                    retry_after: Some(Duration::from_secs(2)),
                    body: br#"{"code":"50011","msg":"Too Many Requests"}"#,
                },
            );
            assert_eq!(v.outcome, Outcome::RateLimited, "{status}");
            assert_eq!(v.retry_after, Some(Duration::from_secs(2)));
            assert_eq!(v.detail.as_deref(), Some("code 50011: Too Many Requests"));
        }
    }

    #[test]
    fn http_errors_carry_the_envelope() {
        let v = j(
            EndpointKind::Health,
            503,
            r#"{"code":"50001","msg":"Service temporarily unavailable"}"#,
        );
        assert_eq!(v.outcome, Outcome::Http5xx);
        assert_eq!(
            v.detail.as_deref(),
            Some("code 50001: Service temporarily unavailable")
        );
        let v = j(
            EndpointKind::Health,
            410,
            r#"{"code":"50005","msg":"inactive"}"#,
        );
        assert_eq!(v.outcome, Outcome::Http4xx);
    }
}
