//! `GET /api/v1/status` over the real server, fed by injected measurements on event time, and
//! `exwatch status` (the binary) reading it.

use std::process::Command;
use std::time::Duration;

use exwatch::messages::{Measurement, Metric, Outcome, SeriesKey, Timestamp};
use exwatch::status::StatusReport;
use serde_json::Value;

use crate::common::t0;
use crate::e2e::EXWATCH;
use crate::server::start;

/// A whole minute at or before `t0()`.
fn m0() -> i64 {
    t0() - t0() % 60_000
}

async fn status(base: &str) -> Value {
    let mut r = crate::support::client()
        .get(format!("{base}/api/v1/status"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let body = r.body().limit(1 << 22).await.expect("body");
    serde_json::from_slice(&body).expect("JSON")
}

fn probe(monitor: &exwatch::MonitorHandle, exchange: &str, ms: f64, at: i64) {
    monitor.inject(Measurement {
        series: SeriesKey::new(exchange, "ping", Metric::Errors),
        value: 0.0,
        outcome: Outcome::Ok,
        status: 200,
        at: Timestamp(at),
    });
    monitor.inject(Measurement::ok(
        SeriesKey::new(exchange, "ping", Metric::LatencyMs),
        ms,
        Timestamp(at),
    ));
}

fn availability(monitor: &exwatch::MonitorHandle, exchange: &str, state: f64, at: i64) {
    monitor.inject(Measurement::ok(
        SeriesKey::new(exchange, "*", Metric::Availability),
        state,
        Timestamp(at),
    ));
}

fn exchange<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .find(|e| e["exchange"] == name)
        .unwrap_or_else(|| panic!("{name} missing in {v}"))
}

fn endpoint<'a>(ex: &'a Value, name: &str) -> &'a Value {
    ex["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .find(|e| e["endpoint"] == name)
        .unwrap_or_else(|| panic!("{name} missing in {ex}"))
}

#[actix::test]
async fn status_shows_latency_errors_breaker_and_open_anomalies_on_event_time() {
    let (monitor, base) = start(crate::support::test_settings());
    // Ten probes a minute for two minutes, 40..49 ms, then one failure.
    for minute in 0..2 {
        for i in 0..10 {
            probe(
                &monitor,
                "binance",
                40.0 + f64::from(i),
                m0() + minute * 60_000 + i64::from(i) * 5_000,
            );
        }
    }
    monitor.inject(Measurement {
        series: SeriesKey::new("binance", "ping", Metric::Errors),
        value: 1.0,
        outcome: Outcome::Http5xx,
        status: 502,
        at: Timestamp(m0() + 119_000),
    });
    availability(&monitor, "binance", 0.0, m0());
    monitor.drain().await;

    let v = status(&base).await;
    assert_eq!(v["region"], "local");
    assert_eq!(v["as_of"], m0() + 119_000);
    assert!(v["generated_at"].as_i64().expect("ms") > m0());
    let binance = exchange(&v, "binance");
    assert_eq!(binance["breaker"], "closed");
    assert_eq!(binance["maintenance"], false);
    assert_eq!(binance["open_anomalies"], serde_json::json!([]));
    let ping = endpoint(binance, "ping");
    assert_eq!(ping["last_probe_at"], m0() + 119_000);
    assert_eq!(ping["last_outcome"], "http_5xx");
    assert_eq!(ping["last_status"], 502);
    assert_eq!(ping["last_latency_ms"], Value::Null);
    let recent = &ping["recent"];
    assert_eq!(recent["window"], "5m");
    assert_eq!(recent["count"], 21);
    assert!((recent["error_rate"].as_f64().expect("rate") - 1.0 / 21.0).abs() < 1e-9);
    let p50 = recent["p50_ms"].as_f64().expect("p50");
    assert!((40.0..=49.0 * 1.1).contains(&p50), "{recent}");
    let p99 = recent["p99_ms"].as_f64().expect("p99");
    assert!((45.0..=49.0).contains(&p99), "{recent}");
    assert_eq!(ping["hour"]["window"], "1h");
    assert_eq!(ping["hour"]["count"], 21);
    let chart = ping["chart"].as_array().expect("chart");
    assert_eq!(chart.len(), 60);
    let (a, b) = (&chart[58], &chart[59]);
    assert_eq!(
        (a["t"].as_i64(), a["count"].as_u64()),
        (Some(m0()), Some(10))
    );
    assert_eq!(
        (b["t"].as_i64(), b["errors"].as_u64()),
        (Some(m0() + 60_000), Some(1))
    );
    assert_eq!(a["max_ms"], 49.0);
    assert_eq!(chart[0]["p50_ms"], Value::Null);
    assert_eq!(chart[0]["count"], 0);

    // The breaker opens: the exchange shows open and its outage as an open anomaly.
    availability(&monitor, "okx", 2.0, m0() + 120_000);
    monitor.drain().await;
    let v = status(&base).await;
    let okx = exchange(&v, "okx");
    assert_eq!(okx["breaker"], "open");
    let open = okx["open_anomalies"].as_array().expect("anomalies");
    assert_eq!(open.len(), 1, "{okx}");
    assert_eq!(open[0]["endpoint"], "*");
    assert_eq!(open[0]["metric"], "availability");
    assert_eq!(open[0]["severity"], "critical");
    assert_eq!(open[0]["detector"], "circuit_open");
    assert_eq!(open[0]["since"], m0() + 120_000);
    assert_eq!(open[0]["title"], "okx down (circuit open)");
    assert_eq!(
        (&open[0]["acked"], &open[0]["silenced"]),
        (&Value::Bool(false), &Value::Bool(false))
    );

    // It closes again: the anomaly is gone.
    availability(&monitor, "okx", 0.0, m0() + 160_000);
    monitor.drain().await;
    let v = status(&base).await;
    let okx = exchange(&v, "okx");
    assert_eq!(okx["breaker"], "closed");
    assert_eq!(okx["open_anomalies"], serde_json::json!([]));
    // The typed view reads what the server wrote.
    let typed: StatusReport = serde_json::from_value(v).expect("StatusReport");
    assert_eq!(typed.as_of, Some(m0() + 160_000));
    monitor.stop().await;
}

#[actix::test]
async fn status_is_documented_in_the_openapi_document() {
    let (monitor, base) = start(crate::support::test_settings());
    let mut r = crate::support::client()
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    let doc: Value = r.json().limit(1 << 22).await.expect("JSON");
    assert!(doc["paths"]["/api/v1/status"]["get"].is_object(), "{doc}");
    assert!(doc["components"]["schemas"]["StatusReport"].is_object());
    assert!(doc["components"]["schemas"]["OpenAnomaly"].is_object());
    monitor.stop().await;
}

/// Runs `exwatch <args>` off the actix thread (the server in this test must keep answering).
async fn exwatch(args: &[&str]) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    actix_rt::task::spawn_blocking(move || {
        Command::new(EXWATCH)
            .args(&args)
            .output()
            .expect("exwatch runs")
    })
    .await
    .expect("joined")
}

#[actix::test]
async fn the_status_command_prints_the_running_instances_table() {
    let (monitor, base) = start(crate::support::test_settings());
    for i in 0..5 {
        probe(&monitor, "bybit", 30.0, m0() + i * 1_000);
    }
    availability(&monitor, "okx", 2.0, m0() + 6_000);
    monitor.drain().await;
    let out = exwatch(&["status", "--url", &base]).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = stdout
        .lines()
        .find(|l| l.starts_with("bybit"))
        .unwrap_or_else(|| panic!("no bybit row in\n{stdout}"));
    for cell in ["ping", "ok 200", "30.", "0.0%"] {
        assert!(row.contains(cell), "{cell} missing in {row:?}");
    }
    assert!(stdout.contains("Open anomalies (1):"), "{stdout}");
    assert!(stdout.contains("okx/*/availability"), "{stdout}");

    // A config file names the instance by its [http] listen.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("exwatch.toml");
    let addr = monitor.http_addr().expect("addr");
    let toml = format!(
        "[http]\nlisten = \"{addr}\"\n\n[exchanges.local.endpoints.ping]\nurl = \"http://127.0.0.1:9/ping\"\n"
    );
    std::fs::write(&config, toml).expect("write");
    let out = exwatch(&["status", "--config", config.to_str().expect("utf-8")]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("bybit"));
    monitor.stop().await;
}

#[actix::test]
async fn the_status_command_exits_1_when_nothing_answers() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = exwatch(&[
        "status",
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--timeout",
        "2s",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach exwatch at"), "{stderr}");
    assert!(out.stdout.is_empty());
}
