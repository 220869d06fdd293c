//! Learned baselines survive a restart: a monitor on a file store learns for 40 minutes of
//! event time and stops; a fresh monitor on the same file fires a baseline anomaly at the first
//! degraded bucket, while one on a new file (a cold start) stays silent for the same input.

use exwatch::messages::{Anomaly, Measurement, Metric, Outcome, SeriesKey, Severity, Timestamp};
use exwatch::{Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::common::t0;

const MIN: i64 = 60_000;
/// Event time starts at a bucket boundary.
fn first_bucket() -> i64 {
    t0() / MIN * MIN
}

fn latency_series() -> SeriesKey {
    SeriesKey::new("binance", "ping", Metric::LatencyMs)
}

fn error_series() -> SeriesKey {
    SeriesKey::new("okx", "time", Metric::Errors)
}

fn start(path: &std::path::Path) -> (MonitorHandle, Collected<Anomaly>) {
    let mut settings = crate::support::test_settings();
    settings.store.path = path.to_str().expect("utf-8").into();
    let anomalies = Collected::<Anomaly>::start();
    let monitor = Monitor::builder(settings)
        .subscribe(anomalies.recipient())
        .start()
        .expect("monitor starts");
    (monitor, anomalies)
}

/// Six probes in `minute` on both series: latency `ms` (jittered), and `status` for errors.
fn minute(monitor: &MonitorHandle, minute: i64, ms: f64, status: u16) {
    for s in 0..6 {
        let at = Timestamp(first_bucket() + minute * MIN + s * 10_000);
        let jitter = ((minute * 6 + s) * 7919 % 11) as f64 - 5.0;
        monitor.inject(Measurement::ok(latency_series(), ms + jitter, at));
        let outcome = if status == 200 {
            Outcome::Ok
        } else {
            Outcome::Http5xx
        };
        monitor.inject(Measurement {
            series: error_series(),
            value: f64::from(u8::from(status != 200)),
            outcome,
            status,
            at,
        });
    }
}

/// What a restarted monitor sees: one bucket four times slower and failing with 503, then
/// the first probe of the next bucket, which closes it. Returns the baseline anomalies.
async fn degraded_bucket(path: &std::path::Path) -> Vec<Anomaly> {
    let (monitor, mut anomalies) = start(path);
    minute(&monitor, 41, 200.0, 503);
    minute(&monitor, 42, 50.0, 200);
    monitor.drain().await;
    let got = anomalies.drain().await;
    monitor.stop().await;
    got.into_iter()
        .filter(|a| a.detector.starts_with("baseline_"))
        .collect()
}

#[actix::test]
async fn warm_start_restart_keeps_the_learned_baseline_and_a_cold_start_does_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let learned = dir.path().join("learned.db");
    {
        let (monitor, mut anomalies) = start(&learned);
        for m in 0..40 {
            minute(&monitor, m, 50.0, 200);
        }
        // Closes bucket 39: 40 buckets persisted, more than `min_history` (30 m).
        minute(&monitor, 40, 50.0, 200);
        monitor.drain().await;
        let got = anomalies.drain().await;
        assert!(
            got.iter().all(|a| !a.detector.starts_with("baseline_")),
            "a steady series is normal: {got:?}"
        );
        monitor.stop().await;
    }
    // Unreadable rows on the way (an unknown model, a garbled value) are skipped, not fatal.
    {
        let db = rusqlite::Connection::open(&learned).expect("open");
        let rows: i64 = db
            .query_row("SELECT COUNT(*) FROM baseline_rollups", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 2 * 40, "one row per series and closed bucket");
        let start = first_bucket();
        db.execute_batch(&format!(
            "UPDATE baseline_rollups SET p90_us = 'garbled' WHERE bucket_ms = {start};
             INSERT INTO baseline_rollups (exchange, endpoint, metric, model, bucket_ms,
                 width_ms, p90_us)
             VALUES ('binance', 'ping', 'latency_ms', 'p99', {start}, 60000, 1);"
        ))
        .expect("corrupt");
    }

    let warm = degraded_bucket(&learned).await;
    let p90 = warm
        .iter()
        .find(|a| &*a.detector == "baseline_p90")
        .unwrap_or_else(|| panic!("the slow bucket fires at once after the restart: {warm:?}"));
    assert_eq!(p90.series, latency_series());
    assert_eq!(p90.severity, Severity::Critical);
    assert!(
        p90.threshold < 60.0 && p90.value > 150.0,
        "judged against the persisted history: {p90:?}"
    );
    let errors = warm
        .iter()
        .find(|a| a.series == error_series())
        .unwrap_or_else(|| panic!("the failing bucket fires at once: {warm:?}"));
    assert!(
        ["baseline_5xx", "baseline_503"].contains(&&*errors.detector),
        "{errors:?}"
    );
    assert_eq!(errors.severity, Severity::Critical);

    let cold = degraded_bucket(&dir.path().join("cold.db")).await;
    assert!(cold.is_empty(), "no history, no baseline finding: {cold:?}");
}

#[actix::test]
async fn warm_start_a_detector_restarted_after_a_panic_keeps_its_baseline() {
    let (monitor, mut anomalies) = {
        let anomalies = Collected::<Anomaly>::start();
        let monitor = Monitor::builder(crate::support::test_settings())
            .subscribe(anomalies.recipient())
            .start()
            .expect("monitor starts");
        (monitor, anomalies)
    };
    for m in 0..41 {
        minute(&monitor, m, 50.0, 200);
    }
    let detector = monitor.detector(&latency_series()).expect("detector");
    detector.crash();
    // Sent while the rebuilt detector may still be loading: held until it is, then judged.
    minute(&monitor, 41, 200.0, 200);
    minute(&monitor, 42, 50.0, 200);
    monitor.drain().await;
    assert_eq!(
        monitor
            .metrics()
            .value("exwatch_actor_restarts_total", &[("actor", "detector")]),
        Some(1.0)
    );
    let got = anomalies.drain().await;
    assert!(
        got.iter()
            .any(|a| &*a.detector == "baseline_p90" && a.severity == Severity::Critical),
        "the rebuilt detector judged against the stored history: {got:?}"
    );
    monitor.stop().await;
}
