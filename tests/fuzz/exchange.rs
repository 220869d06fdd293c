//! Every exchange answer profile ([`exwatch::probe::exchange::judge`]: http, binance, bybit,
//! okx, for every endpoint kind) over arbitrary statuses, `Retry-After` values and bodies:
//! random bytes, and JSON built from the venues' own field names. Every answer gives a
//! verdict whose outcome is one an answer can have, a non-2xx is never `ok`, a detail stays
//! bounded, a price is finite and positive. The `Retry-After` parser takes any header text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use exwatch::client::{bounded_text, http_reason, parse_retry_after};
use exwatch::config::{CheckProfile, EndpointKind};
use exwatch::messages::Outcome;
use exwatch::probe::exchange::{Answer, DETAIL_MAX_CHARS, judge};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::{cases, nasty_text};

const FIELDS: &[&str] = &[
    "code",
    "msg",
    "data",
    "result",
    "list",
    "retCode",
    "retMsg",
    "retExtInfo",
    "serverTime",
    "time",
    "timeNano",
    "timeSecond",
    "ts",
    "unixtime",
    "price",
    "lastPrice",
    "last",
    "askPx",
    "bidPx",
    "symbol",
    "instId",
    "status",
    "state",
    "begin",
    "end",
    "maintainType",
    "maintType",
    "serviceType",
    "serviceTypes",
    "product",
    "env",
    "system",
    "title",
    "href",
    "id",
    "preOpenBegin",
    "scheDesc",
    "category",
    "usdIndexPrice",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        prop::sample::select(vec![
            0.0, -0.0, 1e-300, 5e-324, 1e300, 9.3e18, -9.3e18, 1.7e308, 65_000.5,
        ])
        .prop_map(Value::from),
        nasty_text().prop_map(Value::String),
        prop::sample::select(vec![
            "0",
            "1",
            "-1",
            "ongoing",
            "completed",
            "scheduled",
            "canceled",
            "pre_open",
            "spot",
            "1",
            "5",
            "normal",
            "system_maintenance",
            "1767225600000",
            "1767225600",
            "1767225600000000000",
            "abc",
            "65000.5",
            "-3",
            "1e400",
        ])
        .prop_map(|s| Value::String(s.to_owned())),
    ]
}

/// JSON whose keys are mostly the venues' own, nested a few levels.
fn venue_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        4 => prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
                        1 => nasty_text(),
                    ],
                    inner,
                ),
                0..6,
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => venue_json().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => nasty_text().prop_map(String::into_bytes),
        // Valid JSON cut short, as a size limit cuts it.
        1 => (venue_json(), any::<usize>()).prop_map(|(v, cut)| {
            let b = v.to_string().into_bytes();
            let cut = cut % (b.len() + 1);
            b[..cut].to_vec()
        }),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        any::<u16>(),
        0u16..1000,
        prop::sample::select(vec![
            200u16, 204, 299, 301, 400, 403, 404, 418, 429, 500, 503, 504
        ]),
    ]
}

fn retry_after() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        any::<u64>().prop_map(|s| Some(Duration::from_secs(s))),
        Just(Some(Duration::MAX)),
        (0u64..100_000).prop_map(|ms| Some(Duration::from_millis(ms))),
    ]
}

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

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn every_answer_gives_a_verdict(
        status in status(),
        retry_after in retry_after(),
        body in body(),
    ) {
        let answer = Answer { status, retry_after, body: &body };
        for profile in PROFILES {
            for kind in KINDS {
                let v = judge(profile, kind, &answer);
                prop_assert!(
                    !matches!(v.outcome, Outcome::Timeout | Outcome::Connect | Outcome::BreakerOpen),
                    "{profile:?}/{kind:?}: an answer judged {:?}", v.outcome
                );
                if !(200..300).contains(&status) {
                    prop_assert_ne!(v.outcome, Outcome::Ok, "{:?}/{:?}: status {} ok", profile, kind, status);
                }
                if let Some(d) = &v.detail {
                    prop_assert!(d.chars().count() <= DETAIL_MAX_CHARS + 1, "{profile:?}/{kind:?}: detail of {} chars", d.chars().count());
                }
                if let Some(p) = v.price {
                    prop_assert!(p.is_finite() && p > 0.0, "{profile:?}/{kind:?}: price {p}");
                }
            }
        }
    }

    #[test]
    fn any_retry_after_header_parses_or_not(
        value in prop_oneof![
            nasty_text(),
            "[0-9.eE+\\- ]{0,30}",
            prop::sample::select(vec![
                "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT",
                "Thu, 01 Jan 1970 00:00:00 GMT", "Sun, 06 Nov 1994 08:49:37 GMT",
                "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                "1.7976931348623157e308", "4.9e-324", "-0", "0.0000001",
            ]).prop_map(str::to_owned),
        ],
        now_secs in prop_oneof![any::<u32>().prop_map(u64::from), Just(0u64), Just(253_402_300_799u64)],
    ) {
        let now = UNIX_EPOCH + Duration::from_secs(now_secs);
        let _ = parse_retry_after(&value, now);
        let _ = parse_retry_after(&value, SystemTime::now());
    }

    #[test]
    fn reasons_are_bounded(status in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..600), max in 0usize..300) {
        let r = http_reason(status, &body);
        prop_assert!(r.chars().count() <= 200 + 20);
        let text = String::from_utf8_lossy(&body);
        prop_assert!(bounded_text(&text, max).chars().count() <= max + 1);
    }
}
