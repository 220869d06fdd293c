//! The HTTP server over real loopback: health, readiness against a locked store, the
//! Prometheus exposition, JSON errors, and the OpenAPI document against the routes.

use std::time::Duration;

use exwatch::messages::{Measurement, Metric, SeriesKey, Timestamp};
use exwatch::settings::{Settings, StoreSettings};
use exwatch::{Monitor, MonitorHandle};
use serde_json::Value;

use crate::common::t0;

/// A monitor with its server on a free loopback port; its base URL.
pub(crate) fn start(settings: Settings) -> (MonitorHandle, String) {
    let monitor = Monitor::start(settings).expect("monitor starts");
    let addr = monitor.http_addr().expect("the server is on");
    (monitor, format!("http://{addr}"))
}

async fn get(url: &str) -> (u16, String, String) {
    let mut r = crate::support::client()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("request");
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    let body = r.body().limit(1 << 20).await.expect("body");
    (
        r.status().as_u16(),
        content_type,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[actix::test]
async fn healthz_and_readyz_answer_ok_on_a_healthy_monitor() {
    let (monitor, base) = start(crate::support::test_settings());
    let (status, ctype, body) = get(&format!("{base}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("application/json"), "{ctype}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["status"],
        "ok"
    );
    let (status, _, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 200, "{body}");
    monitor.stop().await;
}

#[actix::test]
async fn readyz_is_503_with_the_reason_while_the_store_cannot_take_a_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.db");
    let mut settings = crate::support::test_settings();
    settings.store = StoreSettings {
        path: path.to_string_lossy().into_owned(),
    };
    let (monitor, base) = start(settings);
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200);

    // Another process (a backup, a second exwatch on the same file) holds the write lock.
    let mut other = rusqlite::Connection::open(&path).expect("open");
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("lock");
    let (status, _, body) = get(&format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "unavailable");
    let reason = v["reason"].as_str().unwrap();
    assert!(reason.contains("not writable"), "{reason}");
    assert!(reason.contains("locked"), "{reason}");

    tx.rollback().expect("unlock");
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200);
    monitor.stop().await;
}

/// One sample line of the exposition: `name{labels} value`.
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

/// A strict reader of the Prometheus text format (0.0.4): every line a comment, a HELP or
/// TYPE line, or a sample with well-formed labels and a float value.
pub(crate) fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut typed = std::collections::HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap_or("");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "line {i}: {line}"
            );
            // exwatch's own families say what they are (`src/metrics.rs`, `help`).
            assert!(
                kind != "untyped" || !name.starts_with("exwatch_"),
                "line {i}: an exwatch family without a type and help text: {line}"
            );
            assert!(
                typed.insert(name.to_owned()),
                "line {i}: TYPE twice: {line}"
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("line {i}: {line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("line {i}: bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), Vec::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("line {i}: {line}"));
                let labels = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("line {i}: {line}"));
                        (k.to_owned(), v.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), labels)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "line {i}: bad name {name}"
        );
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

#[actix::test]
async fn metrics_is_a_well_formed_exposition_with_the_contracted_names() {
    let (monitor, base) = start(crate::support::test_settings());
    for i in 0..30 {
        monitor.inject(Measurement::ok(
            SeriesKey::new("binance", "ping", Metric::LatencyMs),
            40.0 + (i % 5) as f64,
            Timestamp(t0() + i * 1000),
        ));
    }
    monitor.drain().await;
    let (status, ctype, body) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let samples = parse_exposition(&body);
    let updates = samples
        .iter()
        .find(|s| {
            s.name == "exwatch_detector_updates_total"
                && s.labels
                    .iter()
                    .any(|(k, v)| k == "metric" && v == "latency_ms")
        })
        .unwrap_or_else(|| panic!("no detector updates in:\n{body}"));
    assert_eq!(updates.value, 30.0);
    for s in &samples {
        if s.name.ends_with("_total") {
            assert!(s.value >= 0.0, "{}", s.name);
        }
    }
    monitor.stop().await;
}

#[actix::test]
async fn unknown_routes_are_404_json() {
    let (monitor, base) = start(crate::support::test_settings());
    let (status, ctype, body) = get(&format!("{base}/no/such/thing")).await;
    assert_eq!(status, 404);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "not_found");
    monitor.stop().await;
}

#[actix::test]
async fn every_documented_get_path_without_parameters_answers() {
    let (monitor, base) = start(crate::support::test_settings());
    let (status, _, body) = get(&format!("{base}/api/v1/openapi.json")).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/readyz"), "{paths:?}");
    for (path, item) in paths {
        if path.contains('{') || item.get("get").is_none() {
            continue;
        }
        let (status, _, body) = get(&format!("{base}{path}")).await;
        assert!(
            item["get"]["responses"].get(status.to_string()).is_some(),
            "GET {path} answered {status}, not a documented status: {body}"
        );
    }
    monitor.stop().await;
}

#[actix::test]
async fn a_disabled_server_binds_nothing() {
    let mut settings = crate::support::test_settings();
    settings.http.enabled = false;
    let monitor = Monitor::start(settings).expect("monitor starts");
    assert!(monitor.http_addr().is_none());
    monitor.stop().await;
}

#[actix::test]
async fn a_taken_address_is_a_start_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let mut settings = crate::support::test_settings();
    settings.http.listen = taken.local_addr().unwrap();
    let e = Monitor::start(settings).err().expect("start fails");
    assert!(
        e.to_string()
            .contains(&taken.local_addr().unwrap().to_string()),
        "{e}"
    );
}
