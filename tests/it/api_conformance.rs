//! The server against its own OpenAPI document, over real loopback: the regressions a
//! schemathesis run found (README, "Fuzzing the API") and a walk of the document.
//!
//! - a documented path asked with another method is a JSON 405 with `Allow`, not a 404;
//! - every operation id is unique, every documented answer has a content type, and every
//!   declared parameter accepts a value its schema allows (with a documented status);
//! - the document's patterns accept exactly what the server parses (empty filters, times,
//!   cursors);
//! - an ack takes the `null` body the document allows; oversized bodies are a JSON 413;
//! - silence bodies the hand-written schema calls valid are taken, out-of-range times refused;
//! - `/metrics` stays a valid exposition while faults are injected, and no query stalls it.

use std::time::{Duration, Instant};

use actix_web::http::Method;
use exwatch::messages::{Measurement, Metric, Outcome, SeriesKey, Timestamp};
use exwatch::settings::{Secret, Settings};
use exwatch::{Monitor, MonitorHandle};
use serde_json::{Value, json};

use crate::common::now_ms;

const TOKEN: &str = "conformance-token";

fn start() -> (MonitorHandle, String) {
    let mut settings: Settings = crate::support::test_settings();
    settings.http.token = Some(Secret::new(TOKEN));
    let monitor = Monitor::start(settings).expect("monitor starts");
    let base = format!("http://{}", monitor.http_addr().expect("server on"));
    (monitor, base)
}

/// One answer: status, content type, `Allow`, body.
struct Answer {
    status: u16,
    content_type: String,
    allow: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// `method url`, with the token and, when given, a JSON body (raw bytes).
async fn send(method: &str, url: &str, body: Option<Vec<u8>>) -> Answer {
    let method = Method::from_bytes(method.as_bytes()).expect("method");
    let req = crate::support::client()
        .request(method, url)
        .timeout(Duration::from_secs(10))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")));
    let mut r = match body {
        Some(b) => {
            req.insert_header(("Content-Type", "application/json"))
                .send_body(b)
                .await
        }
        None => req.send().await,
    }
    .expect("request");
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (content_type, allow) = (header("content-type"), header("allow"));
    let body = r.body().limit(4 << 20).await.expect("body");
    Answer {
        status: r.status().as_u16(),
        content_type,
        allow,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn document(base: &str) -> Value {
    let a = send("GET", &format!("{base}/api/v1/openapi.json"), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    serde_json::from_str(&a.body).expect("the document is JSON")
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            ops.push((path.clone(), method.to_uppercase(), op.clone()));
        }
    }
    ops
}

/// Values the `pattern`ed query parameters must accept (and the server too), and values
/// outside the pattern the server must refuse naming the parameter.
fn samples(param: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match param {
        "since" | "until" => (
            &[
                "now",
                "0",
                "-5",
                "1767225600000",
                "90s",
                "250ms",
                "1h 30m",
                "2d",
                "2026-01-28T23:59:59Z",
                "2026-02-01T00:00:00.5Z",
            ],
            &[
                "",
                "soon",
                "1 fortnight",
                "h1",
                "2026-13-01T00:00:00Z",
                "1e3",
            ],
        ),
        "cursor" => (
            &["5_1", "-5_3", "1795000000123_42"],
            &["", "5_0", "x", "5", "5_-1", "1.5_2"],
        ),
        "metric" => (&["errors", "latency_ms", "actor_restarts"], &["", "nope"]),
        _ => (&[], &[]),
    }
}

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A value the parameter's schema allows (`$ref`s resolved in `doc`).
fn example(doc: &Value, param: &Value) -> String {
    let name = param["name"].as_str().unwrap_or("");
    let mut schema = &param["schema"];
    // `Option<Enum>` is `oneOf: [null, $ref]` or a bare `$ref`.
    if let Some(r) = schema["oneOf"]
        .as_array()
        .and_then(|alts| alts.iter().find(|a| a.get("$ref").is_some()))
        .or(schema.get("$ref").map(|_| schema))
    {
        let path = r["$ref"].as_str().unwrap().trim_start_matches('#');
        schema = doc.pointer(path).expect("the $ref resolves");
    }
    if let Some(first) = samples(name).0.first() {
        return (*first).to_owned();
    }
    if let Some(e) = schema["enum"].as_array().and_then(|e| e.first()) {
        return e.as_str().expect("string enum").to_owned();
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types.iter().find(|t| *t != "null").cloned(),
        t => Some(t.clone()),
    };
    match ty.as_ref().and_then(Value::as_str) {
        Some("integer") => schema["minimum"].as_i64().unwrap_or(1).to_string(),
        Some("boolean") => "true".into(),
        _ => "a".into(),
    }
}

/// The smallest request body each write operation's schema allows.
fn example_body(operation_id: &str) -> Option<Value> {
    match operation_id {
        "create_silence" => Some(json!({"exchange": "a", "duration": "1h", "comment": "c"})),
        _ => None,
    }
}

#[actix::test]
async fn unsupported_methods_on_documented_paths_are_405_json_naming_the_allowed_ones() {
    let (monitor, base) = start();
    let doc = document(&base).await;
    let mut paths: Vec<(String, Vec<String>)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let mut methods: Vec<String> = item
                .as_object()
                .unwrap()
                .keys()
                .map(|m| m.to_uppercase())
                .collect();
            methods.sort();
            (path.replace("{id}", "x"), methods)
        })
        .collect();
    // The dashboard is not in the document, and answers the same way.
    paths.push(("/".into(), vec!["GET".into()]));
    paths.push(("/assets/app.js".into(), vec!["GET".into()]));
    for (path, allowed) in &paths {
        for method in ["TRACE", "PUT", "PATCH", "GET", "POST", "DELETE"] {
            if allowed.iter().any(|m| m == method) {
                continue;
            }
            let a = send(method, &format!("{base}{path}"), None).await;
            assert_eq!(a.status, 405, "{method} {path}: {}", a.body);
            assert!(
                a.content_type.starts_with("application/json"),
                "{method} {path}"
            );
            assert_eq!(a.json()["error"], "method_not_allowed", "{method} {path}");
            let mut allow: Vec<String> = a.allow.split(", ").map(str::to_owned).collect();
            allow.sort();
            assert_eq!(&allow, allowed, "{method} {path}: Allow {:?}", a.allow);
        }
    }
    // A path nobody serves is still a 404.
    let a = send("TRACE", &format!("{base}/api/v1/nothing"), None).await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (404, json!("not_found"))
    );
    monitor.stop().await;
}

#[actix::test]
async fn the_document_describes_every_answer_and_every_declared_parameter_is_taken() {
    let (monitor, base) = start();
    let doc = document(&base).await;
    assert_eq!(
        doc["servers"][0]["url"], "/",
        "paths resolve against the origin"
    );
    let ops = operations(&doc);
    assert!(ops.len() >= 10, "{}", ops.len());
    let mut ids: Vec<&str> = ops
        .iter()
        .map(|(p, m, op)| {
            op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{m} {p}"))
        })
        .collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "operation ids are unique: {ids:?}");

    for (path, method, op) in &ops {
        let responses = op["responses"].as_object().expect("responses");
        for (status, response) in responses {
            let content = response["content"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path} {status}: no content"));
            assert!(!content.is_empty(), "{method} {path} {status}");
            for (media, body) in content {
                assert!(
                    media == "text/plain" || body.get("schema").is_some(),
                    "{method} {path} {status} {media}: no schema"
                );
            }
        }
        let id = op["operationId"].as_str().unwrap();
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut url = format!("{base}{path}");
        for p in params.iter().filter(|p| p["in"] == "path") {
            url = url.replace(&format!("{{{}}}", p["name"].as_str().unwrap()), "x");
        }
        let body = example_body(id).map(|b| serde_json::to_vec(&b).unwrap());
        // The operation bare, then with each query parameter alone.
        let mut queries = vec![String::new()];
        for p in params.iter().filter(|p| p["in"] == "query") {
            queries.push(format!(
                "?{}={}",
                p["name"].as_str().unwrap(),
                encode(&example(&doc, p))
            ));
        }
        for query in queries {
            let a = send(method, &format!("{url}{query}"), body.clone()).await;
            let documented = &responses.get(&a.status.to_string()).unwrap_or_else(|| {
                panic!(
                    "{method} {path}{query}: {} undocumented: {}",
                    a.status, a.body
                )
            })["content"];
            assert!(
                documented
                    .as_object()
                    .unwrap()
                    .keys()
                    .any(|media| a.content_type.starts_with(media.as_str())),
                "{method} {path}{query}: {} is not {documented}",
                a.content_type
            );
            assert!(
                a.status < 400 || a.status == 404,
                "{method} {path}{query}: a valid value refused: {} {}",
                a.status,
                a.body
            );
        }
    }
    monitor.stop().await;
}

#[actix::test]
async fn query_patterns_accept_exactly_what_the_server_parses() {
    let (monitor, base) = start();
    let doc = document(&base).await;
    let params = doc["paths"]["/api/v1/events"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let mut checked = 0;
    for p in &params {
        let name = p["name"].as_str().unwrap();
        let (good, bad) = samples(name);
        let pattern = p["schema"]["pattern"].as_str();
        if good.is_empty() {
            continue;
        }
        let re = regex_lite::Regex::new(pattern.expect("a pattern")).expect("pattern compiles");
        for v in good {
            assert!(re.is_match(v), "{name}={v:?} should match {re}");
            let a = send(
                "GET",
                &format!("{base}/api/v1/events?{name}={}", encode(v)),
                None,
            )
            .await;
            assert_eq!(a.status, 200, "{name}={v:?}: {}", a.body);
        }
        for v in bad {
            assert!(!re.is_match(v), "{name}={v:?} should not match {re}");
            let a = send(
                "GET",
                &format!("{base}/api/v1/events?{name}={}", encode(v)),
                None,
            )
            .await;
            assert_eq!(a.status, 400, "{name}={v:?}: {}", a.body);
            assert_eq!(a.json()["field"], name, "{name}={v:?}");
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "since, until, cursor, metric");
    // Empty filters are refused, and the document says so (minLength).
    for name in ["exchange", "endpoint", "group"] {
        let p = params.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(p["schema"]["minLength"], 1, "{name}");
        let a = send("GET", &format!("{base}/api/v1/events?{name}="), None).await;
        assert_eq!((a.status, a.json()["field"].clone()), (400, json!(name)));
    }
    monitor.stop().await;
}

#[actix::test]
async fn an_ack_takes_a_null_body_and_oversized_bodies_are_a_json_413() {
    let (monitor, base) = start();
    let ack = format!("{base}/api/v1/alerts/01NOSUCHALERT/ack");
    // `null` is what the document allows for "no body": the alert is looked up, not refused.
    let a = send("POST", &ack, Some(b"null".to_vec())).await;
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(a.json()["error"], "not_found");

    let big = serde_json::to_vec(&json!({"comment": "x".repeat(100_000)})).unwrap();
    for url in [ack.clone(), format!("{base}/api/v1/silences")] {
        let a = send("POST", &url, Some(big.clone())).await;
        assert_eq!(a.status, 413, "{url}: {}", a.body);
        assert!(
            a.content_type.starts_with("application/json"),
            "{url}: {}",
            a.content_type
        );
        assert_eq!(a.json()["error"], "payload_too_large", "{url}");
    }
    monitor.stop().await;
}

#[actix::test]
async fn silence_bodies_the_schema_allows_are_taken_and_out_of_range_times_refused() {
    let (monitor, base) = start();
    let url = format!("{base}/api/v1/silences");
    let doc = document(&base).await;
    let schema = &doc["components"]["schemas"]["NewSilence"];
    assert_eq!(schema["required"], json!(["comment"]));
    assert_eq!(schema["additionalProperties"], false);

    let in_an_hour = (now_ms() + 3_600_000) as f64;
    for body in [
        json!({"exchange": "a", "duration": "1h", "comment": "c"}),
        json!({"exchange": null, "metric": "errors", "duration": "90s", "comment": "c"}),
        // A whole number written as a float is still epoch milliseconds.
        json!({"endpoint": "ping", "ends_at": in_an_hour, "comment": "c"}),
        json!({"metric": "errors", "starts_at": "now", "ends_at": "2099-01-01T00:00:00Z",
               "comment": "c", "created_by": null}),
    ] {
        let a = send("POST", &url, Some(serde_json::to_vec(&body).unwrap())).await;
        assert_eq!(a.status, 201, "{body}: {}", a.body);
    }
    for (body, field) in [
        (json!({}), "ends_at"),
        (
            json!({"exchange": "a", "ends_at": -1, "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"exchange": "a", "ends_at": 1e300, "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"exchange": "a", "starts_at": 1.5, "duration": "1h", "comment": "c"}),
            "starts_at",
        ),
        (
            json!({"exchange": "a", "duration": "1h", "comment": " \t"}),
            "comment",
        ),
        (
            json!({"exchange": "A", "duration": "1h", "comment": "c"}),
            "exchange",
        ),
    ] {
        let a = send("POST", &url, Some(serde_json::to_vec(&body).unwrap())).await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.json()["field"], field, "{body}: {}", a.body);
    }
    monitor.stop().await;
}

#[actix::test]
async fn metrics_stay_a_valid_exposition_while_faults_are_injected() {
    let (monitor, base) = start();
    let t0 = now_ms();
    for round in 0..20i64 {
        // A failing exchange and a latency spike on another, as the pipeline sees them.
        for i in 0..10 {
            let at = Timestamp(t0 + round * 10_000 + i * 1000);
            monitor.inject(Measurement {
                series: SeriesKey::new("okx", "ping", Metric::Errors),
                value: 1.0,
                outcome: if i % 2 == 0 {
                    Outcome::Http5xx
                } else {
                    Outcome::Timeout
                },
                status: if i % 2 == 0 { 503 } else { 0 },
                at,
            });
            monitor.inject(Measurement::ok(
                SeriesKey::new("binance", "ping", Metric::LatencyMs),
                if round > 10 { 900.0 } else { 40.0 + i as f64 },
                at,
            ));
        }
        let started = Instant::now();
        let a = send("GET", &format!("{base}/metrics"), None).await;
        assert!(started.elapsed() < Duration::from_secs(2), "slow scrape");
        assert_eq!(a.status, 200);
        assert!(a.content_type.starts_with("text/plain; version=0.0.4"));
        let samples = crate::server::parse_exposition(&a.body);
        assert!(
            samples
                .iter()
                .any(|s| s.name == "exwatch_detector_updates_total")
        );
        // Meanwhile the heaviest API queries answer too.
        let a = send("GET", &format!("{base}/api/v1/events?limit=500"), None).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    monitor.drain().await;
    let a = send("GET", &format!("{base}/metrics"), None).await;
    let samples = crate::server::parse_exposition(&a.body);
    let anomalies: f64 = samples
        .iter()
        .filter(|s| s.name == "exwatch_anomalies_total")
        .map(|s| s.value)
        .sum();
    assert!(anomalies > 0.0, "the faults were seen:\n{}", a.body);
    monitor.stop().await;
}

#[actix::test]
async fn no_query_stalls_the_server() {
    let (monitor, base) = start();
    let started = Instant::now();
    for query in [
        "limit=99999999999999999999",
        "limit=500&cursor=9223372036854775807_9223372036854775807",
        "limit=500&cursor=-999999999999999999_1",
        "since=999999d&until=now&limit=500",
    ] {
        let a = send("GET", &format!("{base}/api/v1/events?{query}"), None).await;
        assert!(a.status == 200 || a.status == 400, "{query}: {}", a.body);
    }
    let a = send("GET", &format!("{base}/healthz"), None).await;
    assert_eq!(a.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    monitor.stop().await;
}
