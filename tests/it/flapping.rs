//! Flapping control by message injection: a series that recovers and fails again within
//! `router.flap_hold` stays one incident; a recovery that lasts is resolved once.

use std::time::Duration;

use exwatch::messages::{
    Alert, AlertKind, Anomaly, Metric, Resolved, SeriesKey, Severity, Stats, Timestamp,
};
use exwatch::{Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::common::now_ms;

/// Event times near the wall clock, so that the Router's wall-clock tick does not release
/// held resolutions early; the hold is long (an hour) so that only event time releases them.
fn near_now() -> i64 {
    now_ms()
}

fn start() -> (MonitorHandle, Collected<Alert>) {
    let mut settings = crate::support::test_settings();
    settings.router.flap_hold = Duration::from_secs(3600);
    let alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");
    (monitor, alerts)
}

fn series(endpoint: &str) -> SeriesKey {
    SeriesKey::new("okx", endpoint, Metric::Errors)
}

fn anomaly(endpoint: &str, at: i64) -> Anomaly {
    Anomaly {
        series: series(endpoint),
        detector: "consecutive_failures".into(),
        severity: Severity::Warning,
        value: 1.0,
        threshold: 0.5,
        confidence: 1.0,
        message: "failing".into(),
        started_at: Timestamp(at),
        at: Timestamp(at),
        stats: Stats::default(),
    }
}

fn resolved(endpoint: &str, at: i64) -> Resolved {
    Resolved {
        series: series(endpoint),
        at: Timestamp(at),
        stats: Stats::default(),
    }
}

const S: i64 = 1000;

#[actix::test]
async fn flapping_series_is_one_incident_resolved_once_after_the_hold() {
    let (monitor, mut alerts) = start();
    let router = monitor.router().clone();
    let t = near_now();
    router.do_send(anomaly("time", t));
    let first = alerts.next(5).await;
    assert_eq!((first.kind, &*first.endpoint), (AlertKind::Firing, "time"));
    // Ping-pong within the hour: nothing new is said.
    for k in 1..5 {
        router.do_send(resolved("time", t + k * 60 * S));
        router.do_send(anomaly("time", t + k * 60 * S + 30 * S));
    }
    router.do_send(resolved("time", t + 600 * S));
    monitor.drain().await;
    let quiet = alerts.drain().await;
    assert!(quiet.is_empty(), "one incident: {quiet:?}");
    // Another series' message past the hold (event time) releases the resolution.
    router.do_send(anomaly("ping", t + 600 * S + 3600 * S));
    let mut got = [alerts.next(5).await, alerts.next(5).await];
    got.sort_by_key(|a| a.kind == AlertKind::Firing);
    assert_eq!(
        (got[0].kind, &*got[0].endpoint),
        (AlertKind::Resolved, "time")
    );
    assert_eq!(
        got[0].at,
        Timestamp(t + 600 * S),
        "resolved at the last recovery"
    );
    assert_eq!(
        got[0].started_at,
        Timestamp(t),
        "the incident began at the first failure"
    );
    assert_eq!(
        (got[1].kind, &*got[1].endpoint),
        (AlertKind::Firing, "ping")
    );
    monitor.stop().await;
}

#[actix::test]
async fn flapping_hold_is_released_by_the_wall_clock_tick() {
    let mut settings = crate::support::test_settings();
    settings.router.flap_hold = Duration::from_millis(200);
    let mut alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");
    let t = near_now();
    monitor.router().do_send(anomaly("time", t));
    assert_eq!(alerts.next(5).await.kind, AlertKind::Firing);
    monitor.router().do_send(resolved("time", t + 1));
    // Nothing else reaches the Router: the tick releases it.
    let r = alerts.next(5).await;
    assert_eq!(r.kind, AlertKind::Resolved);
    monitor.stop().await;
}
