//! Our own network: every exchange down at once is one `monitor_connectivity` alert, by
//! message injection into the Router of a monitor configured with two exchanges.

use std::time::Duration;

use exwatch::messages::{
    Alert, AlertKind, Anomaly, Metric, Resolved, SeriesKey, Severity, Stats, Timestamp,
};
use exwatch::settings::{CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings, Settings};
use exwatch::{Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::common::t0;
use crate::support::fake_exchange::FakeExchange;

/// Two healthy exchanges probed once an hour: the alerts all come from injected messages.
fn start(fake: &FakeExchange) -> (MonitorHandle, Collected<Alert>) {
    let exchange = |name: &str| ExchangeSettings {
        name: name.into(),
        max_connections: 2,
        recv_window: None,
        ahead_window: None,
        confirm_per_minute: 60,
        endpoints: vec![EndpointSettings {
            name: "ping".into(),
            url: fake.url("/api/v3/ping"),
            check: CheckProfile::Binance,
            kind: EndpointKind::Health,
            symbol: None,
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(2),
            max_body_bytes: 1024,
            confirm_interval: Duration::from_secs(1),
            // Fast confirmation has its own tests.
            confirm_probes: Some(0),
        }],
    };
    let mut settings = Settings {
        exchanges: vec![exchange("binance"), exchange("okx")],
        ..crate::support::test_settings()
    };
    settings.shutdown.grace = Duration::from_secs(1);
    let alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");
    (monitor, alerts)
}

fn anomaly(exchange: &str, endpoint: &str, metric: Metric, detector: &str, i: i64) -> Anomaly {
    Anomaly {
        series: SeriesKey::new(exchange, endpoint, metric),
        detector: detector.into(),
        severity: Severity::Critical,
        value: 2.0,
        threshold: 2.0,
        confidence: 1.0,
        message: "down".into(),
        started_at: Timestamp(t0() + i * 1000),
        at: Timestamp(t0() + i * 1000),
        stats: Stats::default(),
    }
}

fn down(exchange: &str, i: i64) -> Anomaly {
    anomaly(exchange, "*", Metric::Availability, "circuit_open", i)
}

#[actix::test]
async fn connectivity_every_exchange_down_is_one_alert_until_one_answers() {
    let fake = FakeExchange::start();
    let (monitor, mut alerts) = start(&fake);
    let router = monitor.router().clone();
    router.do_send(down("binance", 0));
    let first = alerts.next(5).await;
    assert_eq!(first.title, "binance down (circuit open)");

    router.do_send(down("okx", 1));
    let lost = alerts.next(5).await;
    assert_eq!(lost.kind, AlertKind::Firing);
    assert_eq!(
        (&*lost.exchange, &*lost.detector),
        ("exwatch", "monitor_connectivity")
    );
    assert_eq!(lost.severity, Severity::Critical);
    assert_eq!(lost.at, Timestamp(t0() + 1000));
    // Per-exchange alerts are held back while it fires.
    router.do_send(down("okx", 2));
    router.do_send(anomaly(
        "okx",
        "ping",
        Metric::Errors,
        "consecutive_failures",
        3,
    ));
    monitor.drain().await;
    let held = alerts.drain().await;
    assert!(held.is_empty(), "inhibited: {held:?}");

    router.do_send(Resolved {
        series: SeriesKey::new("binance", "*", Metric::Availability),
        at: Timestamp(t0() + 10_000),
        stats: Stats::default(),
    });
    let restored = alerts.next(5).await;
    assert_eq!(restored.kind, AlertKind::Resolved);
    assert_eq!(&*restored.detector, "monitor_connectivity");
    assert_eq!(restored.started_at, Timestamp(t0() + 1000));
    let binance_up = alerts.next(5).await;
    assert_eq!(
        (binance_up.kind, &*binance_up.exchange),
        (AlertKind::Resolved, "binance")
    );
    // okx is still down: its next anomaly alerts.
    router.do_send(down("okx", 11));
    let okx = alerts.next(5).await;
    assert_eq!((okx.kind, &*okx.exchange), (AlertKind::Firing, "okx"));
    assert_eq!(&*okx.detector, "circuit_open");
    monitor.stop().await;
}
