//! Announced maintenance: the Router silences an exchange's alerts while it announces
//! maintenance, by message injection and against the fake exchange's status endpoint.

use std::time::{Duration, Instant};

use exwatch::messages::{
    Alert, AlertKind, MaintenanceStatus, Measurement, Metric, Outcome, SeriesKey, Severity,
    Timestamp,
};
use exwatch::settings::{
    BreakerSettings, CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings, Settings,
};
use exwatch::{Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::common::t0;
use crate::support::fake_exchange::{FakeExchange, Mode};

fn start(settings: Settings) -> (MonitorHandle, Collected<Alert>) {
    let alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");
    (monitor, alerts)
}

fn failure(exchange: &str, i: i64) -> Measurement {
    Measurement {
        series: SeriesKey::new(exchange, "time", Metric::Errors),
        value: 1.0,
        outcome: Outcome::Http5xx,
        status: 503,
        at: Timestamp(t0() + i * 1000),
    }
}

fn status(ongoing: bool, until: Option<i64>, i: i64) -> MaintenanceStatus {
    MaintenanceStatus {
        exchange: "okx".into(),
        ongoing,
        until: until.map(|s| Timestamp(t0() + s * 1000)),
        detail: if ongoing {
            "maintenance: upgrade".into()
        } else {
            String::new()
        },
        at: Timestamp(t0() + i * 1000),
    }
}

#[actix::test]
async fn maintenance_silences_the_exchange_until_the_status_says_it_is_over() {
    let (monitor, mut alerts) = start(crate::support::test_settings());
    monitor.router().do_send(status(true, None, 0));
    let a = alerts.next(5).await;
    assert_eq!(a.kind, AlertKind::Firing);
    assert_eq!(a.severity, Severity::Info);
    assert_eq!(&*a.detector, "maintenance");
    assert_eq!((&*a.exchange, &*a.endpoint), ("okx", "*"));
    assert_eq!(a.title, "okx under maintenance");
    assert!(a.message.contains("upgrade"), "{}", a.message);
    // Repeated readings say nothing new.
    monitor.router().do_send(status(true, None, 5));
    for i in 1..30 {
        monitor.inject(failure("okx", i));
    }
    monitor.drain().await;
    assert!(alerts.drain().await.is_empty(), "okx is silenced");
    // Another exchange is not.
    for i in 1..30 {
        monitor.inject(failure("bybit", i));
    }
    let b = alerts.next(5).await;
    assert_eq!((&*b.exchange, b.metric), ("bybit", Metric::Errors));
    monitor.drain().await;
    alerts.drain().await;

    monitor.router().do_send(status(false, None, 60));
    let end = alerts.next(5).await;
    assert_eq!(end.kind, AlertKind::Resolved);
    assert_eq!(&*end.detector, "maintenance");
    assert_eq!(end.title, "okx maintenance ended");
    assert_eq!(end.at, Timestamp(t0() + 60_000));
    // Alerts resume: the still-failing series alerts on its next anomaly.
    monitor.inject(failure("okx", 61));
    let resumed = alerts.next(5).await;
    assert_eq!(
        (&*resumed.exchange, resumed.metric, resumed.kind),
        ("okx", Metric::Errors, AlertKind::Firing)
    );
    monitor.stop().await;
}

#[actix::test]
async fn maintenance_ends_at_the_announced_end_by_event_time() {
    let (monitor, mut alerts) = start(crate::support::test_settings());
    monitor.router().do_send(status(true, Some(40), 0));
    let a = alerts.next(5).await;
    assert!(a.message.contains("until"), "{}", a.message);
    for i in 1..40 {
        monitor.inject(failure("okx", i));
    }
    monitor.drain().await;
    assert!(alerts.drain().await.is_empty(), "okx is silenced");
    monitor.inject(failure("okx", 41));
    let end = alerts.next(5).await;
    assert_eq!(
        (end.kind, &*end.detector),
        (AlertKind::Resolved, "maintenance")
    );
    assert_eq!(end.at, Timestamp(t0() + 40_000));
    let resumed = alerts.next(5).await;
    assert_eq!(
        (resumed.metric, resumed.kind),
        (Metric::Errors, AlertKind::Firing)
    );
    monitor.stop().await;
}

fn endpoint(name: &str, url: String, kind: EndpointKind) -> EndpointSettings {
    EndpointSettings {
        name: name.into(),
        url,
        check: CheckProfile::Okx,
        kind,
        symbol: None,
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(2),
        max_body_bytes: 256 * 1024,
        confirm_interval: Duration::from_secs(1),
        // Fast confirmation has its own tests.
        confirm_probes: Some(0),
    }
}

/// Waits up to `secs` for an alert matching `pred`, returning it and every alert before it.
async fn until_alert(
    alerts: &mut Collected<Alert>,
    secs: u64,
    pred: impl Fn(&Alert) -> bool,
) -> Vec<Alert> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, alerts.next(3600)).await {
            Ok(a) => {
                let done = pred(&a);
                seen.push(a);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!(
                "no matching alert within {secs}s; got {:?}",
                seen.iter().map(|a| &a.title).collect::<Vec<_>>()
            ),
        }
    }
}

#[actix::test]
async fn maintenance_from_the_okx_status_endpoint_silences_okx() {
    let fake = FakeExchange::start();
    fake.set_maintenance(true);
    fake.set_mode_for("/api/v5/public/time", Mode::Status(503));
    let mut settings = Settings {
        exchanges: vec![ExchangeSettings {
            name: "okx".into(),
            max_connections: 8,
            recv_window: None,
            ahead_window: None,
            confirm_per_minute: 60,
            endpoints: vec![
                endpoint(
                    "status",
                    fake.url("/api/v5/system/status"),
                    EndpointKind::Status,
                ),
                endpoint("time", fake.url("/api/v5/public/time"), EndpointKind::Time),
            ],
        }],
        breaker: BreakerSettings {
            failure_threshold: 10_000,
            recovery_timeout: Duration::from_secs(1),
            half_open_max_calls: 2,
        },
        ..crate::support::test_settings()
    };
    settings.shutdown.grace = Duration::from_secs(1);
    let (monitor, mut alerts) = start(settings);
    let first = until_alert(&mut alerts, 5, |a| &*a.detector == "maintenance").await;
    assert_eq!(
        first.len(),
        1,
        "the maintenance alert comes first: {first:?}"
    );
    assert!(
        first[0].message.contains("until 20"),
        "{}",
        first[0].message
    );
    // Let the failing time endpoint fail for a while: nothing may come out.
    tokio::time::sleep(Duration::from_millis(600)).await;
    monitor.drain().await;
    let quiet = alerts.drain().await;
    assert!(quiet.is_empty(), "silenced: {quiet:?}");

    fake.set_maintenance(false);
    let after = until_alert(&mut alerts, 5, |a| a.metric == Metric::Errors).await;
    assert_eq!(after[0].title, "okx maintenance ended");
    assert_eq!(after[0].kind, AlertKind::Resolved);
    monitor.stop().await;
}
