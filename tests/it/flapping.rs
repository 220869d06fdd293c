//! Flapping control by message injection, through a whole monitor: the Router's wall-clock
//! tick releases a held resolution. The policy itself (a series that recovers and fails again
//! within `router.flap_hold` stays one incident; a recovery that lasts is resolved once) is
//! tested without a runtime in `src/route/core/tests.rs`.

use std::time::Duration;

use exwatch::Monitor;
use exwatch::messages::{
    Alert, AlertKind, Anomaly, Metric, Resolved, SeriesKey, Severity, Stats, Timestamp,
};

use crate::collect::Collected;
use crate::common::now_ms;

/// Event times near the wall clock, which the Router's wall-clock tick compares them with.
fn near_now() -> i64 {
    now_ms()
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
