//! The correlation hold, through the real pipeline on loopback: probes, breakers, detectors,
//! the Router and a webhook channel posting to a [`FakeSink`]. One [`FakeExchange`] answers
//! for Binance, Bybit and OKX (their paths differ), so switching it to [`Mode::Reset`] is
//! every venue failing at once, as when exwatch's own network goes.
//!
//! The topology is the embedded default's (Binance ping + time, Bybit and OKX time + status
//! at 60 s), with the default breaker and fast confirmation (re-probes every second, as many
//! as `failure_threshold`); only the interval is 5 s instead of 10 s, to keep the test short
//! (the confirmation interval is 1 s either way).

use std::time::{Duration, Instant};

use exwatch::channel::{ChannelKind, ChannelSettings, WebhookSpec};
use exwatch::messages::{Anomaly, Metric, Name, Severity, Timestamp};
use exwatch::settings::{
    CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings, RetrySettings, Settings,
    default_confirm_interval,
};
use exwatch::{Monitor, MonitorHandle};
use serde_json::Value;

use crate::collect::Collected;
use crate::support::fake_exchange::{FakeExchange, Mode};
use crate::support::fake_sink::FakeSink;

const INTERVAL: Duration = Duration::from_secs(5);

fn endpoint(fake: &FakeExchange, name: &str, path: &str, check: CheckProfile) -> EndpointSettings {
    let (kind, interval) = match name {
        "status" => (EndpointKind::Status, Duration::from_secs(60)),
        "time" => (EndpointKind::Time, INTERVAL),
        _ => (EndpointKind::Health, INTERVAL),
    };
    EndpointSettings {
        name: name.into(),
        url: fake.url(path),
        check,
        kind,
        symbol: None,
        interval,
        timeout: Duration::from_secs(2),
        max_body_bytes: 64 * 1024,
        confirm_interval: default_confirm_interval(interval),
        confirm_probes: None,
    }
}

fn exchange(name: &str, endpoints: Vec<EndpointSettings>) -> ExchangeSettings {
    ExchangeSettings {
        name: name.into(),
        max_connections: 8,
        recv_window: None,
        ahead_window: None,
        confirm_per_minute: 60,
        endpoints,
    }
}

/// The default topology against `fake`, alerts to a webhook at `sink`, every raw anomaly to
/// the returned collector (to read when each breaker opened).
fn start(
    fake: &FakeExchange,
    sink: &FakeSink,
    hold: Duration,
    canaries: Vec<String>,
) -> (MonitorHandle, Collected<Anomaly>) {
    use CheckProfile::{Binance, Bybit, Okx};
    let mut settings = Settings {
        exchanges: vec![
            exchange(
                "binance",
                vec![
                    endpoint(fake, "ping", "/api/v3/ping", Binance),
                    endpoint(fake, "time", "/api/v3/time", Binance),
                ],
            ),
            exchange(
                "bybit",
                vec![
                    endpoint(fake, "time", "/v5/market/time", Bybit),
                    endpoint(fake, "status", "/v5/system/status", Bybit),
                ],
            ),
            exchange(
                "okx",
                vec![
                    endpoint(fake, "time", "/api/v5/public/time", Okx),
                    endpoint(fake, "status", "/api/v5/system/status", Okx),
                ],
            ),
        ],
        channels: vec![ChannelSettings {
            name: Name::from("hook"),
            min_severity: Severity::Info,
            retry: RetrySettings::default(),
            kind: ChannelKind::Webhook(WebhookSpec {
                url: sink.url(),
                secret_env: None,
                secret: None,
            }),
        }],
        ..crate::support::test_settings()
    };
    settings.router.correlation_hold = hold;
    settings.monitor.canaries = canaries;
    // The canaries take the defaults' interval.
    settings.defaults.interval = INTERVAL;
    settings.shutdown.grace = Duration::from_secs(1);
    let anomalies = Collected::<Anomaly>::start();
    let monitor = Monitor::builder(settings)
        .subscribe(anomalies.recipient())
        .start()
        .expect("monitor starts");
    (monitor, anomalies)
}

/// Waits until every venue answered its first probes well.
async fn healthy(fake: &FakeExchange) {
    let deadline = Instant::now() + Duration::from_secs(5);
    for path in ["/api/v3/ping", "/v5/market/time", "/api/v5/public/time"] {
        while fake.requests(path) == 0 {
            assert!(Instant::now() < deadline, "{path} never probed");
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Let the answers come back and be judged.
    actix_rt::time::sleep(Duration::from_millis(200)).await;
}

/// `(exchange, detector)` of each alert the sink received, firing only.
fn firing(sink: &FakeSink) -> Vec<(String, String)> {
    let text = |a: &Value, k: &str| a[k].as_str().unwrap_or_default().to_owned();
    (sink.received().iter())
        .filter(|a| text(a, "kind") == "firing")
        .map(|a| (text(a, "exchange"), text(a, "detector")))
        .collect()
}

/// When each exchange's breaker opened (the `circuit_open` anomalies' event times).
fn opened(anomalies: &[Anomaly]) -> Vec<(String, Timestamp)> {
    let mut out: Vec<(String, Timestamp)> = (anomalies.iter())
        .filter(|a| a.series.metric == Metric::Availability && &*a.detector == "circuit_open")
        .map(|a| (a.series.exchange.to_string(), a.at))
        .collect();
    out.sort_by_key(|(_, at)| *at);
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

#[actix::test]
async fn correlation_every_venue_failing_at_once_pages_only_connectivity() {
    let fake = FakeExchange::start();
    let sink = FakeSink::start();
    let (monitor, mut anomalies) = start(&fake, &sink, Duration::from_secs(1), Vec::new());
    healthy(&fake).await;
    fake.set_mode(Mode::Reset);
    // The next slot (≤ 5 s), then the confirmation re-probes (1 s apart) open the breakers.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while opened(&seen).len() < 3 {
        assert!(
            Instant::now() < deadline,
            "breakers opened: {:?}",
            opened(&seen)
        );
        seen.extend(anomalies.drain().await);
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let opened = opened(&seen);
    let spread = opened[2].1.since(opened[0].1);
    eprintln!("breakers opened: {opened:?}; spread {spread:?}");
    // Past every hold and extension the spread needed.
    actix_rt::time::sleep(Duration::from_secs(3)).await;
    monitor.drain().await;
    let said = firing(&sink);
    let downs: Vec<_> = said.iter().filter(|(_, d)| d == "circuit_open").collect();
    assert!(downs.is_empty(), "per-exchange downs sent: {said:?}");
    let lost: Vec<_> = (said.iter())
        .filter(|(x, d)| x == "exwatch" && d == "monitor_connectivity")
        .collect();
    assert_eq!(lost.len(), 1, "{said:?}");
    monitor.stop().await;
}

#[actix::test]
async fn correlation_a_single_venue_down_is_paged_within_the_hold() {
    let fake = FakeExchange::start();
    let sink = FakeSink::start();
    let hold = Duration::from_secs(1);
    let (monitor, mut anomalies) = start(&fake, &sink, hold, Vec::new());
    healthy(&fake).await;
    fake.set_mode_for("/api/v5/public/time", Mode::Reset);
    fake.set_mode_for("/api/v5/system/status", Mode::Reset);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let opened_at = loop {
        assert!(Instant::now() < deadline, "okx's breaker never opened");
        seen.extend(anomalies.drain().await);
        if let Some((_, at)) = opened(&seen).into_iter().find(|(x, _)| x == "okx") {
            break at;
        }
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    };
    let paged_at = loop {
        if firing(&sink).contains(&("okx".into(), "circuit_open".into())) {
            break Timestamp::now();
        }
        assert!(Timestamp::now().since(opened_at) < 5 * hold, "never paged");
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    };
    let delay = paged_at.since(opened_at);
    eprintln!("okx down paged {delay:?} after its breaker opened (hold {hold:?})");
    assert!(delay >= hold, "held: {delay:?}");
    assert!(delay <= hold + Duration::from_millis(250), "{delay:?}");
    assert!(opened(&seen).iter().all(|(x, _)| x == "okx"));
    monitor.stop().await;
}

#[actix::test]
async fn correlation_canaries_failing_with_one_venue_is_our_network() {
    let fake = FakeExchange::start();
    let canary = FakeExchange::start();
    let sink = FakeSink::start();
    let (monitor, mut anomalies) = start(
        &fake,
        &sink,
        Duration::from_secs(1),
        vec![canary.url("/health")],
    );
    healthy(&fake).await;
    assert!(canary.requests("/health") > 0, "the canary is probed");
    // Our uplink to OKX and to the canary goes; Binance and Bybit still answer.
    canary.set_mode(Mode::Reset);
    fake.set_mode_for("/api/v5/public/time", Mode::Reset);
    fake.set_mode_for("/api/v5/system/status", Mode::Reset);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while opened(&seen).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "breakers opened: {:?}",
            opened(&seen)
        );
        seen.extend(anomalies.drain().await);
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("breakers opened: {:?}", opened(&seen));
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    monitor.drain().await;
    let said = firing(&sink);
    assert!(
        !said.iter().any(|(x, d)| x == "okx" && d == "circuit_open"),
        "okx paged as down: {said:?}"
    );
    let lost = (said.iter())
        .filter(|(x, d)| x == "exwatch" && d == "monitor_connectivity")
        .count();
    assert_eq!(lost, 1, "{said:?}");
    monitor.stop().await;
}
