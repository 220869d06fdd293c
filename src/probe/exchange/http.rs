//! The generic `http` profile: any 2xx is healthy, whatever the body.
//!
//! For `time` and `ticker` endpoints it tries a few common JSON shapes (`serverTime`, `time`,
//! `ts`, `timestamp`, `data[0].ts`, `result.timeNano`; `price`, `last`, `lastPrice`,
//! `data[0].last`, `result.list[0].lastPrice`) and, when none fits, is still ok without data.

use serde_json::Value;

use super::{Answer, Verdict, as_i64, judge_status};
use crate::config::EndpointKind;

/// Judges an answer with the generic profile.
pub fn judge(kind: EndpointKind, answer: &Answer<'_>) -> Verdict {
    if let Some(v) = judge_status(answer, |_| None) {
        return v;
    }
    let mut v = Verdict::ok();
    let json = || serde_json::from_slice::<Value>(answer.body).ok();
    match kind {
        EndpointKind::Time => v.server_time_ms = json().as_ref().and_then(find_time_ms),
        EndpointKind::Ticker => v.price = json().as_ref().and_then(find_price),
        EndpointKind::Health | EndpointKind::Status => {}
    }
    v
}

/// Looks for a server time in common shapes; seconds, µs and ns are scaled to ms.
pub fn find_time_ms(json: &Value) -> Option<i64> {
    const PATHS: &[&str] = &[
        "/serverTime",
        "/result/timeNano",
        "/data/0/ts",
        "/time",
        "/ts",
        "/timestamp",
        "/result/timeSecond",
        "/unixtime",
        "/epoch",
        "/utc_datetime",
        "/datetime",
    ];
    PATHS
        .iter()
        .filter_map(|p| json.pointer(p))
        .find_map(time_value_ms)
}

/// Looks for a last price in common shapes.
pub fn find_price(json: &Value) -> Option<f64> {
    const PATHS: &[&str] = &[
        "/price",
        "/last",
        "/lastPrice",
        "/data/0/last",
        "/result/list/0/lastPrice",
    ];
    PATHS
        .iter()
        .filter_map(|p| json.pointer(p))
        .find_map(|v| super::price(Some(v), "price").ok())
}

/// A number (or numeric string) read as an epoch in s, ms, µs or ns by its magnitude, or an
/// RFC 3339 string.
fn time_value_ms(v: &Value) -> Option<i64> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) => Some(f),
            Err(_) => {
                let t = humantime::parse_rfc3339_weak(s.trim()).ok()?;
                return Some(crate::messages::Timestamp::from_system_time(t).as_millis());
            }
        },
        _ => None,
    }?;
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    let ms = if n >= 1e17 {
        n / 1e6
    } else if n >= 1e14 {
        n / 1e3
    } else if n >= 1e11 {
        n
    } else if n >= 1e8 {
        n * 1e3
    } else {
        return None;
    };
    // Exact integers (the usual case) keep full precision.
    Some(
        as_i64(v)
            .filter(|_| (1e11..1e14).contains(&n))
            .unwrap_or(ms as i64),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Outcome;

    fn ok(kind: EndpointKind, body: &str) -> Verdict {
        judge(
            kind,
            &Answer {
                status: 200,
                retry_after: None,
                body: body.as_bytes(),
            },
        )
    }

    #[test]
    fn any_2xx_is_ok_whatever_the_body() {
        for body in ["", "not json", "{\"serverTi", "<html>ok</html>", "{}"] {
            for status in [200, 201, 204, 299] {
                let v = judge(
                    EndpointKind::Health,
                    &Answer {
                        status,
                        retry_after: None,
                        body: body.as_bytes(),
                    },
                );
                assert_eq!(v, Verdict::ok());
            }
        }
    }

    #[test]
    fn time_from_common_shapes() {
        let t = |b| ok(EndpointKind::Time, b).server_time_ms;
        assert_eq!(t(r#"{"serverTime":1499827319559}"#), Some(1499827319559));
        assert_eq!(
            t(
                r#"{"retCode":0,"result":{"timeSecond":"1688639403","timeNano":"1688639403423213947"},"time":1688639403423}"#
            ),
            Some(1688639403423)
        );
        assert_eq!(
            t(r#"{"code":"0","data":[{"ts":"1597026383085"}]}"#),
            Some(1597026383085)
        );
        assert_eq!(t(r#"{"unixtime":1700000000}"#), Some(1_700_000_000_000));
        assert_eq!(t(r#"{"time":1700000000.5}"#), Some(1_700_000_000_500));
        assert_eq!(t(r#"{"ts":1700000000123456}"#), Some(1_700_000_000_123));
        assert_eq!(
            t(r#"{"utc_datetime":"2023-11-14T22:13:20.250Z"}"#),
            Some(1_700_000_000_250)
        );
    }

    #[test]
    fn time_missing_is_still_ok() {
        for b in ["", "nope", "{}", r#"{"time":"soon"}"#, r#"{"time":42}"#] {
            let v = ok(EndpointKind::Time, b);
            assert_eq!(v.outcome, Outcome::Ok);
            assert_eq!(v.server_time_ms, None, "{b}");
        }
    }

    #[test]
    fn price_from_common_shapes() {
        let p = |b| ok(EndpointKind::Ticker, b).price;
        assert_eq!(
            p(r#"{"symbol":"LTCBTC","price":"4.00000200"}"#),
            Some(4.000002)
        );
        assert_eq!(
            p(r#"{"code":"0","data":[{"last":"9999.99"}]}"#),
            Some(9999.99)
        );
        assert_eq!(p(r#"{"last":12.5}"#), Some(12.5));
        assert_eq!(p(r#"{"price":"abc"}"#), None);
        assert_eq!(ok(EndpointKind::Ticker, "x").outcome, Outcome::Ok);
    }
}
