//! Every exchange answer profile ([`exwatch::probe::exchange::judge`]: http, binance, bybit,
//! okx, for every endpoint kind) over arbitrary statuses, `Retry-After` values and bodies:
//! random bytes, and JSON built from the venues' own field names. Every answer gives a
//! verdict whose outcome is one an answer can have, a non-2xx is never `ok`, a detail stays
//! bounded, a price is finite and positive. The `Retry-After` parser takes any header text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use exwatch::client::{bounded_text, http_reason, parse_retry_after};
use exwatch::messages::Outcome;
use exwatch::probe::exchange::{Answer, DETAIL_MAX_CHARS, judge};
use exwatch::settings::{CheckProfile, EndpointKind};
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

/// The raw answer the loopback exchange gives next (one per connection, then it closes).
static NEXT_ANSWER: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// A loopback "exchange" that reads one request head per connection, writes
/// [`NEXT_ANSWER`] as it is and closes. Started once per test binary.
fn raw_exchange() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    static ADDR: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();
    *ADDR.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for mut sock in listener.incoming().flatten() {
                let _ = sock.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = NEXT_ANSWER.lock().expect("answer").clone();
                let _ = sock.write_all(&answer);
                let _ = sock.shutdown(std::net::Shutdown::Both);
            }
        });
        addr
    })
}

/// A raw HTTP/1.1 answer: a status line (well formed or not), headers the probe reads
/// (`Retry-After`, framing, encoding) with hostile values, and a body.
fn raw_answer() -> impl Strategy<Value = Vec<u8>> {
    let status_line = prop_oneof![
        6 => (100u16..600).prop_map(|s| format!("HTTP/1.1 {s} X\r\n")),
        1 => status().prop_map(|s| format!("HTTP/1.1 {s} X\r\n")),
        1 => prop::sample::select(vec![
            "HTTP/1.1 200\r\n", "HTTP/1.0 503 Service Unavailable\r\n", "HTTP/2 200 OK\r\n",
            "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 -1 X\r\n", "HTTP/1.1 099 X\r\n", "\r\n", "",
            "ICY 200 OK\r\n", "HTTP/1.1 200 OK\n",
        ]).prop_map(str::to_owned),
    ];
    let header = prop_oneof![
        3 => (
            prop::sample::select(vec![
                "Retry-After", "Content-Length", "Transfer-Encoding", "Content-Encoding",
                "Content-Type", "Connection", "Location", "retry-after",
            ]),
            prop_oneof![
                1 => nasty_text(),
                1 => "[ -~]{0,30}",
                3 => prop::sample::select(vec![
                    "0", "120", "-1", "1.5", "18446744073709551616", "Wed, 21 Oct 2015 07:28:00 GMT",
                    "Fri, 31 Dec 9999 23:59:59 GMT", "chunked", "gzip", "deflate", "br", "identity, chunked",
                    "close", "keep-alive", "application/json", "5, 7",
                ])
                .prop_map(str::to_owned),
            ],
        ).prop_map(|(k, v)| format!("{k}: {}\r\n", v.replace(['\r', '\n'], " "))),
        1 => "[ -~]{0,40}".prop_map(|l| format!("{l}\r\n")),
    ];
    (
        status_line,
        prop::collection::vec(header, 0..5),
        body(),
        any::<u8>(),
    )
        .prop_map(|(status, headers, body, framing)| {
            let mut out = status.into_bytes();
            for h in headers {
                out.extend_from_slice(h.as_bytes());
            }
            match framing % 4 {
                0 => {
                    out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes())
                }
                1 => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
                _ => {}
            }
            out.extend_from_slice(b"\r\n");
            if framing % 4 == 1 && framing & 0x10 == 0 {
                out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
                out.extend_from_slice(&body);
                out.extend_from_slice(b"\r\n0\r\n\r\n");
            } else {
                out.extend_from_slice(&body);
            }
            out
        })
}

proptest! {
    #![proptest_config(cases(200))]

    /// The probe's own HTTP path ([`exwatch::probe::http::ProbeClient`], as the probe calls
    /// it, then [`judge`]) against raw answers on the wire: a reply or a transport error, then
    /// a verdict for every profile and kind; never a body over the limit, never a panic.
    #[test]
    fn raw_answers_on_the_wire_give_an_outcome(answer in raw_answer(), max_body in 1usize..512) {
        *NEXT_ANSWER.lock().expect("answer") = answer;
        let url = format!("http://{}/api/v3/time", raw_exchange());
        let result = actix_rt::System::new().block_on(async move {
            let client = exwatch::probe::http::ProbeClient::new(1);
            let target = std::rc::Rc::new(exwatch::probe::http::Target::get(&url).expect("url"));
            client.get(target, max_body, Duration::from_millis(500)).await
        });
        if let Ok(reply) = result {
            prop_assert!(reply.body.len() <= max_body);
            let answer = Answer { status: reply.status, retry_after: reply.retry_after, body: &reply.body };
            for profile in PROFILES {
                for kind in KINDS {
                    let _ = judge(profile, kind, &answer);
                }
            }
        }
    }
}
