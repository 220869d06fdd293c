//! The API's JSON bodies and query strings: the parsers the handlers use (silence bodies,
//! event filters, times, durations, cursors) at any `now`, and the real server (a monitor on
//! loopback, bearer token set) over raw HTTP with arbitrary query strings, paths and bodies on
//! `/api/v1/events`, `/api/v1/silences`, `/api/v1/silences/{id}` and `/api/v1/alerts/{id}/ack`.
//! No answer is a 5xx; every `/api/v1` answer is a JSON object; the server answers the next
//! request (a panicking handler would drop the connection).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

use exwatch::messages::Timestamp;
use exwatch::server::api::events::{EventsQuery, filter_of, parse_cursor};
use exwatch::server::api::params::{parse_duration, parse_time};
use exwatch::server::api::silences::NewSilence;
use exwatch::settings::{Secret, Settings, StoreSettings};
use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::{cases, nasty_text};

const TOKEN: &str = "fuzz-token";

fn now() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        4 => Just(Timestamp(1_767_225_600_000)),
        1 => any::<i64>().prop_map(Timestamp),
        1 => prop::sample::select(vec![i64::MIN, i64::MAX, 0, -1, 253_402_300_799_999]).prop_map(Timestamp),
    ]
}

/// Values the API's fields take, and ones they should refuse.
fn field_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => nasty_text().prop_map(Value::String),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => prop::sample::select(vec![
            Value::Null, Value::Bool(true), Value::from(253_402_300_799_999i64),
            Value::from(253_402_300_800_000i64), Value::from(-1), Value::from(0.5),
            Value::from(1e300), Value::Array(vec![]), Value::Object(Map::new()),
        ]),
        1 => prop::sample::select(vec![
            "okx", "binance", "*", "a:b", "latency_ms", "clock_skew_ms", "1h", "0s", "1m",
            "99999999999999999999d", "584942417355y", "2026-01-01T00:00:00Z", "now", "a comment",
            "x".repeat(70).leak() as &str,
        ]).prop_map(|s| Value::String(s.to_owned())),
        1 => "[a-z0-9_:*-]{0,70}".prop_map(Value::String),
    ]
}

const SILENCE_FIELDS: &[&str] = &[
    "exchange",
    "endpoint",
    "metric",
    "starts_at",
    "ends_at",
    "duration",
    "comment",
    "created_by",
];

/// A JSON body: an object over known (and some unknown) fields, or any JSON value.
fn body_json(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => prop::collection::vec(
            (
                prop_oneof![
                    6 => prop::sample::select(fields.to_vec()).prop_map(str::to_owned),
                    1 => nasty_text(),
                ],
                field_value(),
            ),
            0..8,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        1 => field_value(),
        1 => prop::collection::vec(field_value(), 0..3).prop_map(Value::Array),
    ]
}

fn query_value() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        2 => nasty_text().prop_map(Some),
        1 => prop::sample::select(vec![
            "1_1", "-5_3", "9223372036854775807_9223372036854775807", "1_0", "_", "1_", "a_1",
            "-9223372036854775808_1", "500", "501", "0", "info", "critical", "firing", "triage",
            "latency_ms",
        ]).prop_map(|s| Some(s.to_owned())),
    ]
}

fn events_query() -> impl Strategy<Value = EventsQuery> {
    (
        (
            query_value(),
            query_value(),
            query_value(),
            query_value(),
            query_value(),
        ),
        (
            query_value(),
            query_value(),
            query_value(),
            query_value(),
            query_value(),
        ),
    )
        .prop_map(
            |(
                (exchange, endpoint, metric, severity, kind),
                (since, until, limit, cursor, group),
            )| {
                EventsQuery {
                    exchange,
                    endpoint,
                    metric,
                    severity,
                    kind,
                    since,
                    until,
                    limit,
                    cursor,
                    group,
                    region: None,
                }
            },
        )
}

proptest! {
    #![proptest_config(cases(1_500))]

    #[test]
    fn silence_bodies_give_a_silence_or_a_named_400(body in body_json(SILENCE_FIELDS), now in now()) {
        if let Ok(new) = NewSilence::from_json(body) {
            let _ = new.into_silence(now);
        }
    }

    #[test]
    fn event_queries_give_a_filter_or_a_named_400(q in events_query(), now in now()) {
        let _ = filter_of(&q, now);
    }

    #[test]
    fn times_durations_and_cursors_parse_or_not(text in nasty_text(), now in now()) {
        let _ = parse_time("t", &text, now);
        let _ = parse_duration("d", &text);
        let _ = parse_cursor(&text);
    }
}

/// The monitor under test, on its own thread and actix system, for the whole test binary.
fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let mut settings = Settings {
                    store: StoreSettings::in_memory(),
                    ..Settings::default()
                };
                settings.http.listen = SocketAddr::from(([127, 0, 0, 1], 0));
                settings.http.token = Some(Secret::new(TOKEN));
                let monitor = exwatch::Monitor::builder(settings)
                    .start()
                    .expect("monitor starts");
                tx.send(monitor.http_addr().expect("server on"))
                    .expect("send addr");
                // Keep the monitor (and this system) running for the rest of the process.
                std::future::pending::<()>().await;
                drop(monitor);
            });
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("monitor up")
    })
}

/// `%XX` for every byte outside the unreserved set.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One raw HTTP/1.1 request, `Connection: close`: (status, body).
fn request(method: &str, target: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(server()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    // One write: a head and a body in two would wait for a delayed ACK.
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    s.write_all(&request).expect("write request");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(Vec::new(), |at| answer[at + 4..].to_vec());
    (status, body)
}

/// What a fuzzed request must give: a status below 500 (and not none), a JSON object.
fn check_answer(what: &str, status: u16, body: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(
        (100..500).contains(&status),
        "{what}: status {status}: {}",
        String::from_utf8_lossy(body)
    );
    let json: Result<Value, _> = serde_json::from_slice(body);
    prop_assert!(
        json.as_ref().is_ok_and(Value::is_object),
        "{what}: status {status}, not a JSON object: {}",
        String::from_utf8_lossy(body)
    );
    Ok(())
}

fn query_string() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        5 => prop::sample::select(vec![
            "exchange", "endpoint", "metric", "severity", "kind", "since", "until", "limit",
            "cursor", "active", "group",
        ]).prop_map(str::to_owned),
        1 => nasty_text(),
    ];
    prop::collection::vec((key, query_value(), any::<bool>()), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, raw)| match (v, raw) {
                (None, _) => encode(&k),
                // Unencoded, the characters a query may hold as they are: the query parser sees
                // `+`, `&`, `=` and stray `%` (others the HTTP parser refuses before the API).
                (Some(v), true) => {
                    format!(
                        "{}={}",
                        encode(&k),
                        v.chars()
                            .filter(|c| c.is_ascii_alphanumeric()
                                || "-._~!$&'()*+,;=:@/?%".contains(*c))
                            .collect::<String>()
                    )
                }
                (Some(v), false) => format!("{}={}", encode(&k), encode(&v)),
            })
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn raw_body(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => body_json(fields).prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => Just(Vec::new()),
        1 => Just(b"null".to_vec()),
    ]
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn events_and_silences_queries_through_the_server(q in query_string(), silences in any::<bool>()) {
        let path = if silences { "/api/v1/silences" } else { "/api/v1/events" };
        let (status, body) = request("GET", &format!("{path}?{q}"), &[], b"");
        check_answer(&format!("GET {path}?{q}"), status, &body)?;
    }

    #[test]
    fn silence_bodies_through_the_server(
        body in raw_body(SILENCE_FIELDS),
        json_type in any::<bool>(),
        token in prop::sample::select(vec![Some(TOKEN), Some("wrong"), None]),
    ) {
        let mut headers = vec![];
        if json_type {
            headers.push(("Content-Type", "application/json".to_owned()));
        }
        if let Some(t) = token {
            headers.push(("Authorization", format!("Bearer {t}")));
        }
        let (status, answer) = request("POST", "/api/v1/silences", &headers, &body);
        check_answer(&format!("POST /api/v1/silences {}", String::from_utf8_lossy(&body)), status, &answer)?;
        // A silence it made can be deleted again (keeps the store small over long runs).
        if status == 201
            && let Some(id) = serde_json::from_slice::<Value>(&answer).ok().and_then(|v| v["id"].as_str().map(str::to_owned))
        {
            let auth = vec![("Authorization", format!("Bearer {TOKEN}"))];
            let (status, answer) = request("DELETE", &format!("/api/v1/silences/{id}"), &auth, b"");
            check_answer("DELETE a made silence", status, &answer)?;
        }
    }

    #[test]
    fn acks_and_deletes_through_the_server(
        id in nasty_text(),
        body in raw_body(&["comment", "by"]),
        delete in any::<bool>(),
    ) {
        let auth = vec![
            ("Authorization", format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json".to_owned()),
        ];
        let (method, target) = if delete {
            ("DELETE", format!("/api/v1/silences/{}", encode(&id)))
        } else {
            ("POST", format!("/api/v1/alerts/{}/ack", encode(&id)))
        };
        let (status, answer) = request(method, &target, &auth, &body);
        check_answer(&format!("{method} {target} {}", String::from_utf8_lossy(&body)), status, &answer)?;
    }
}
