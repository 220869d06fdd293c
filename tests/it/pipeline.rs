//! The pipeline by message injection: measurements in, alerts out.

use std::time::Duration;

use exwatch::channel::{Channel, DeliveryError};
use exwatch::messages::{
    Alert, AlertKind, Anomaly, Crash, Measurement, Metric, Outcome, SeriesKey, Severity, Timestamp,
};
use exwatch::settings::{RetrySettings, Settings};
use exwatch::{Monitor, MonitorHandle};
use futures_util::future::LocalBoxFuture;

use crate::collect::Collected;
use crate::common::t0;

fn settings() -> Settings {
    crate::support::test_settings()
}

fn start(settings: Settings) -> (MonitorHandle, Collected<Alert>) {
    let alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");
    (monitor, alerts)
}

fn latency(ms: f64, i: i64) -> Measurement {
    Measurement::ok(
        SeriesKey::new("binance", "ping", Metric::LatencyMs),
        ms,
        Timestamp(t0() + i * 1000),
    )
}

fn outcome(o: Outcome, status: u16, i: i64) -> Measurement {
    Measurement {
        series: SeriesKey::new("okx", "time", Metric::Errors),
        value: if o.is_ok() { 0.0 } else { 1.0 },
        outcome: o,
        status,
        at: Timestamp(t0() + i * 1000),
    }
}

/// Jittery but normal latencies around 50 ms.
fn normal(i: i64) -> f64 {
    50.0 + ((i * 7919) % 11) as f64 - 5.0
}

#[actix::test]
async fn pipeline_spike_fires_one_critical_latency_alert() {
    let (monitor, mut alerts) = start(settings());
    for i in 0..40 {
        monitor.inject(latency(normal(i), i));
    }
    // Two slow probes in a row: one slow probe alone is no degradation (it is noted at
    // info), the second makes it one and escalates the same episode.
    monitor.inject(latency(5234.5, 40));
    let first = alerts.next(5).await;
    assert_eq!(first.severity, Severity::Info);
    monitor.inject(latency(5234.5, 41));
    let alert = alerts.next(5).await;
    assert_eq!(alert.started_at, first.started_at);
    assert_eq!(alert.kind, AlertKind::Firing);
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.metric, Metric::LatencyMs);
    assert_eq!((&*alert.exchange, &*alert.endpoint), ("binance", "ping"));
    assert!(
        ["zscore", "iqr", "spike", "jump"].contains(&&*alert.detector),
        "{}",
        alert.detector
    );
    assert_eq!(alert.title, "binance ping latency spike");
    assert_eq!(alert.value, 5234.5);
    assert_eq!(alert.at, Timestamp(t0() + 41_000));
    assert_eq!(alert.started_at, Timestamp(t0() + 40_000));
    assert!(
        alert
            .stats
            .p50_ms
            .is_some_and(|p| (40.0..60.0).contains(&p))
    );
    monitor.drain().await;
    assert!(alerts.drain().await.is_empty(), "a spike is one alert");
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_jitter_alone_never_alerts() {
    let (monitor, mut alerts) = start(settings());
    for i in 0..300 {
        monitor.inject(latency(normal(i), i));
    }
    monitor.drain().await;
    assert!(alerts.drain().await.is_empty());
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_storm_is_deduplicated_escalated_and_resolved_once() {
    let (monitor, mut alerts) = start(settings());
    let mut i = 0;
    for _ in 0..30 {
        monitor.inject(outcome(Outcome::Ok, 200, i));
        i += 1;
    }
    // A 503 storm: 60 failures in a row.
    for _ in 0..60 {
        monitor.inject(outcome(Outcome::Http5xx, 503, i));
        i += 1;
    }
    monitor.drain().await;
    let storm = alerts.drain().await;
    assert!(
        !storm.is_empty() && storm.len() <= 3,
        "a storm is one alert plus escalations, got {}: {:?}",
        storm.len(),
        storm
            .iter()
            .map(|a| (&a.detector, a.severity))
            .collect::<Vec<_>>()
    );
    assert!(storm.iter().all(|a| a.kind == AlertKind::Firing));
    assert!(
        storm.windows(2).all(|w| w[0].severity < w[1].severity),
        "each further alert is an escalation"
    );
    let last = storm.last().expect("alerts");
    assert_eq!(last.severity, Severity::Critical);
    assert!(last.message.contains("http_5xx"), "{}", last.message);
    assert!(last.stats.error_rate.is_some_and(|r| r > 0.1));

    // Recovery.
    for _ in 0..30 {
        monitor.inject(outcome(Outcome::Ok, 200, i));
        i += 1;
    }
    monitor.drain().await;
    let after = alerts.drain().await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].kind, AlertKind::Resolved);
    assert_eq!(after[0].severity, Severity::Critical);
    assert_eq!(after[0].started_at, storm[0].started_at);
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_reminds_after_the_dedup_window() {
    let mut s = settings();
    s.router.dedup_window = Duration::from_secs(60);
    let (monitor, mut alerts) = start(s);
    let series = SeriesKey::new("bybit", "time", Metric::ClockSkewMs);
    for i in 0..200 {
        monitor.inject(Measurement::ok(
            series.clone(),
            900.0,
            Timestamp(t0() + i * 1000),
        ));
    }
    monitor.drain().await;
    let got = alerts.drain().await;
    // 200 s of a steady warning with a 60 s window: the first alert and reminders at 60, 120, 180 s.
    assert_eq!(
        got.len(),
        4,
        "{:?}",
        got.iter().map(|a| &a.title).collect::<Vec<_>>()
    );
    assert!(got.iter().all(|a| a.severity == Severity::Warning));
    assert!(got[1].title.ends_with("(still firing)"));
    assert_eq!(got[1].at, Timestamp(t0() + 60_000));
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_routes_by_min_severity() {
    let info = Collected::<Alert>::start();
    let critical = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings())
        .alert_recipient("all", Severity::Info, info.recipient())
        .alert_recipient("pager", Severity::Critical, critical.recipient())
        .start()
        .expect("monitor starts");
    let (mut info, mut critical) = (info, critical);
    let series = SeriesKey::new("bybit", "time", Metric::ClockSkewMs);
    monitor.inject(Measurement::ok(series.clone(), 900.0, Timestamp(t0())));
    for i in 1..4 {
        monitor.inject(Measurement::ok(
            series.clone(),
            1.0,
            Timestamp(t0() + i * 1000),
        ));
    }
    monitor.drain().await;
    assert_eq!(info.drain().await.len(), 2, "warning firing + resolved");
    assert!(
        critical.drain().await.is_empty(),
        "pager only wants critical"
    );
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_subscribers_see_raw_anomalies() {
    let (monitor, _alerts) = start(settings());
    let mut anomalies = Collected::<Anomaly>::start();
    monitor.subscribe(anomalies.recipient());
    let series = SeriesKey::new("bybit", "time", Metric::ClockSkewMs);
    for i in 0..5 {
        monitor.inject(Measurement::ok(series.clone(), 2500.0, Timestamp(t0() + i)));
    }
    monitor.drain().await;
    let got = anomalies.drain().await;
    assert_eq!(got.len(), 5, "every anomalous sample, before dedup");
    assert!(
        got.iter()
            .all(|a| a.severity == Severity::Critical && &*a.detector == "clock_skew")
    );
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_detector_restarts_after_a_panic() {
    let (monitor, mut alerts) = start(settings());
    let series = SeriesKey::new("binance", "ping", Metric::LatencyMs);
    for i in 0..40 {
        monitor.inject(latency(normal(i), i));
    }
    let detector = monitor.detector(&series).expect("detector");
    detector.crash();
    monitor.drain().await;
    assert!(
        detector.connected(),
        "the same address answers after the restart"
    );
    assert_eq!(
        monitor
            .metrics()
            .value("exwatch_actor_restarts_total", &[("actor", "detector")]),
        Some(1.0)
    );
    // The rebuilt detector learns a fresh baseline and still catches a spike.
    for i in 40..80 {
        monitor.inject(latency(normal(i), i));
    }
    monitor.inject(latency(4000.0, 80));
    assert_eq!(alerts.next(5).await.severity, Severity::Info);
    monitor.inject(latency(4000.0, 81));
    let alert = alerts.next(5).await;
    assert_eq!(alert.severity, Severity::Critical);
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_a_panic_restarts_only_its_series_and_keeps_its_episode_and_the_exchanges_others()
{
    let (monitor, mut alerts) = start(settings());
    let errors = |i: i64| Measurement {
        series: SeriesKey::new("binance", "time", Metric::Errors),
        value: 0.0,
        outcome: Outcome::Ok,
        status: 200,
        at: Timestamp(t0() + i * 1000),
    };
    for i in 0..40 {
        monitor.inject(latency(normal(i), i));
        monitor.inject(errors(i));
    }
    monitor.inject(latency(4000.0, 40));
    monitor.inject(latency(4000.0, 41));
    assert_eq!(alerts.next(5).await.severity, Severity::Info);
    assert_eq!(alerts.next(5).await.severity, Severity::Critical);
    // Every series judged what it was sent (their baselines loaded).
    monitor.drain().await;
    let crashed = monitor
        .detector(&SeriesKey::new("binance", "ping", Metric::LatencyMs))
        .expect("detector");
    let other = monitor
        .detector(&SeriesKey::new("binance", "time", Metric::Errors))
        .expect("detector");
    let (before, other_before) = (crashed.state().await, other.state().await);
    let (before, other_before) = (before.expect("tracked"), other_before.expect("tracked"));
    assert!(before.firing);
    crashed.crash();
    monitor.drain().await;
    let after = crashed.state().await.expect("still tracked");
    assert_eq!(after.restarts, 1);
    assert_eq!(
        after.generation, before.generation,
        "the same series, rebuilt"
    );
    assert!(
        after.firing,
        "the episode survives the restart: no false resolved"
    );
    assert_eq!(
        other.state().await,
        Some(other_before),
        "the exchange's other series is untouched by the panic"
    );
    assert_eq!(
        monitor
            .metrics()
            .value("exwatch_actor_restarts_total", &[("actor", "detector")]),
        Some(1.0)
    );
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_router_restarts_after_a_panic_and_keeps_its_dedup_table() {
    let (monitor, mut alerts) = start(settings());
    let series = SeriesKey::new("bybit", "time", Metric::ClockSkewMs);
    monitor.inject(Measurement::ok(series.clone(), 900.0, Timestamp(t0())));
    assert_eq!(alerts.next(5).await.kind, AlertKind::Firing);
    monitor.router().do_send(Crash);
    monitor.inject(Measurement::ok(
        series.clone(),
        900.0,
        Timestamp(t0() + 1000),
    ));
    for i in 2..5 {
        monitor.inject(Measurement::ok(
            series.clone(),
            1.0,
            Timestamp(t0() + i * 1000),
        ));
    }
    monitor.drain().await;
    let got = alerts.drain().await;
    assert_eq!(
        got.len(),
        1,
        "deduplicated across the restart, then resolved: {got:?}"
    );
    assert_eq!(got[0].kind, AlertKind::Resolved);
    assert_eq!(
        monitor
            .metrics()
            .value("exwatch_actor_restarts_total", &[("actor", "router")]),
        Some(1.0)
    );
    monitor.stop().await;
}

/// A channel whose first delivery panics.
struct Flaky {
    calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    delivered: tokio::sync::mpsc::UnboundedSender<Alert>,
}

impl Channel for Flaky {
    fn kind(&self) -> &'static str {
        "flaky"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 0 {
            panic!("first delivery blows up");
        }
        let _ = self.delivered.send(alert.clone());
        Box::pin(async { Ok(()) })
    }
}

#[actix::test]
async fn pipeline_channel_restarts_after_a_panic_and_delivers_the_alert() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, mut delivered) = tokio::sync::mpsc::unbounded_channel();
    let c = calls.clone();
    let retry = RetrySettings {
        initial_backoff: Duration::from_millis(10),
        ..RetrySettings::default()
    };
    let monitor = Monitor::builder(settings())
        .channel("flaky", Severity::Info, retry, move || Flaky {
            calls: c,
            delivered: tx,
        })
        .start()
        .expect("monitor starts");
    let series = SeriesKey::new("bybit", "time", Metric::ClockSkewMs);
    monitor.inject(Measurement::ok(series, 2500.0, Timestamp(t0())));
    let alert = tokio::time::timeout(Duration::from_secs(5), delivered.recv())
        .await
        .expect("delivered after the restart")
        .expect("open");
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(
        monitor.metrics().value(
            "exwatch_actor_restarts_total",
            &[("actor", "channel:flaky")]
        ),
        Some(1.0)
    );
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_crash_loop_is_escalated_as_an_exwatch_anomaly() {
    let mut s = settings();
    s.supervision.max_restarts = 2;
    let (monitor, mut alerts) = start(s);
    let series = SeriesKey::new("binance", "ping", Metric::LatencyMs);
    let detector = monitor.detector(&series).expect("detector");
    for _ in 0..3 {
        detector.crash();
    }
    let alert = alerts.next(5).await;
    assert_eq!(&*alert.exchange, "exwatch");
    assert_eq!(alert.metric, Metric::ActorRestarts);
    assert_eq!(&*alert.detector, "restart_budget");
    assert_eq!(alert.severity, Severity::Critical);
    assert!(
        alert.endpoint.contains("binance/ping/latency_ms"),
        "{}",
        alert.endpoint
    );
    monitor.stop().await;
}

#[actix::test]
async fn pipeline_open_circuit_inhibits_the_exchanges_other_alerts() {
    let (monitor, mut alerts) = start(settings());
    let availability = SeriesKey::new("okx", "*", Metric::Availability);
    monitor.inject(Measurement::ok(availability.clone(), 2.0, Timestamp(t0())));
    for i in 1..40 {
        monitor.inject(outcome(Outcome::Http5xx, 503, i));
    }
    monitor.drain().await;
    let down = alerts.drain().await;
    assert_eq!(
        down.len(),
        1,
        "{:?}",
        down.iter().map(|a| &a.title).collect::<Vec<_>>()
    );
    assert_eq!(down[0].title, "okx down (circuit open)");
    assert_eq!(down[0].severity, Severity::Critical);
    monitor.inject(Measurement::ok(availability, 0.0, Timestamp(t0() + 41_000)));
    monitor.drain().await;
    let up = alerts.drain().await;
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].kind, AlertKind::Resolved);
    monitor.stop().await;
}

/// A channel whose delivery of any alert about `poison` always panics.
struct Poisoned {
    poison: &'static str,
    delivered: tokio::sync::mpsc::UnboundedSender<Alert>,
}

impl Channel for Poisoned {
    fn kind(&self) -> &'static str {
        "poisoned"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        if &*alert.exchange == self.poison {
            panic!("this alert always blows up");
        }
        let _ = self.delivered.send(alert.clone());
        Box::pin(async { Ok(()) })
    }
}

#[actix::test]
async fn pipeline_poison_alert_is_dropped_after_repeated_crashes_and_the_rest_flows() {
    let (tx, mut delivered) = tokio::sync::mpsc::unbounded_channel();
    let retry = RetrySettings {
        max_attempts: 0, // unlimited: only the crash limit can drop the poison
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        ..RetrySettings::default()
    };
    let monitor = Monitor::builder(settings())
        .channel("poisoned", Severity::Info, retry, move || Poisoned {
            poison: "bybit",
            delivered: tx,
        })
        .start()
        .expect("monitor starts");
    // The poison first, then a healthy alert queued behind it.
    monitor.inject(Measurement::ok(
        SeriesKey::new("bybit", "time", Metric::ClockSkewMs),
        2500.0,
        Timestamp(t0()),
    ));
    monitor.inject(Measurement::ok(
        SeriesKey::new("okx", "time", Metric::ClockSkewMs),
        2500.0,
        Timestamp(t0() + 1000),
    ));
    let got = tokio::time::timeout(Duration::from_secs(5), delivered.recv())
        .await
        .expect("the alert behind the poison is delivered")
        .expect("open");
    assert_eq!(&*got.exchange, "okx");
    let metrics = monitor.metrics().clone();
    // The two exchanges' detectors run apart, so okx's alert may reach the channel before the
    // poison does: wait (bounded) for the crashes rather than read the counter once.
    let read = || {
        metrics.value(
            "exwatch_actor_restarts_total",
            &[("actor", "channel:poisoned")],
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let failed = || {
        metrics.value(
            "exwatch_deliveries_total",
            &[("channel", "poisoned"), ("outcome", "failed")],
        )
    };
    while (read() != Some(3.0) || failed() != Some(1.0)) && std::time::Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    let restarts = read();
    assert_eq!(
        restarts,
        Some(3.0),
        "three crashes, then the poison is dropped"
    );
    assert_eq!(failed(), Some(1.0));
    assert!(
        monitor
            .channel("poisoned")
            .expect("channel")
            .crash
            .connected()
    );
    monitor.stop().await;
}
