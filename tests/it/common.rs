//! Helpers shared by the channel and pipeline tests: the one clock of the tests (`now_ms`,
//! `t0`), quick retries, and alerts driven by clock-skew measurements (2500 ms fires a critical
//! alert at once; three normal samples resolve it).
//!
//! No test depends on the calendar: event times are stamped relative to the moment the test
//! binary started (`t0`), so a query such as `since=7d`, a retention or a silence judged on the
//! wall clock sees the same data on any date. `.ci/run`'s note says how the suite is run with
//! the clock moved (faketime).

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use exwatch::MonitorHandle;
use exwatch::messages::{Measurement, Metric, SeriesKey, Timestamp};
use exwatch::metrics::Metrics;
use exwatch::settings::RetrySettings;

const HOUR_MS: i64 = 3_600_000;

/// The wall clock now: the one "now" of the tests.
pub fn now() -> SystemTime {
    SystemTime::now()
}

/// [`now`] in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    Timestamp::from_system_time(now()).as_millis()
}

/// `2026-11-18 11:06:40`: an event time in UTC as the text channels and `exwatch events` write
/// it (their own unit tests pin the format against fixed instants).
pub fn utc(at_ms: i64) -> String {
    Timestamp(at_ms)
        .to_rfc3339()
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_owned()
}

/// The event time the tests' measurements start at: three hours before the test binary first
/// asked (in the past, so `since=1h` excludes what starts here and the dashboard's default 24 h
/// includes it, however long the suite runs), always at 6 min 40 s past an hour, so minute and
/// hour buckets split the tests' samples the same way on every run.
pub fn t0() -> i64 {
    static T0: OnceLock<i64> = OnceLock::new();
    *T0.get_or_init(|| {
        const PAST_THE_HOUR_MS: i64 = 400_000;
        let anchor = now_ms() - 3 * HOUR_MS;
        anchor - (anchor - PAST_THE_HOUR_MS).rem_euclid(HOUR_MS)
    })
}

/// The longest any single wait in these tests may take: generous, because CI machines are
/// slow and shared; a passing test never waits this long.
pub const WAIT: Duration = Duration::from_secs(10);

/// Short back-offs so that retries happen within a test.
pub fn retry(max_attempts: u32) -> RetrySettings {
    RetrySettings {
        max_attempts,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        timeout: Duration::from_millis(500),
    }
}

/// A clock-skew measurement of `ms` on `exchange` at second `i`.
pub fn skew(exchange: &str, ms: f64, i: i64) -> Measurement {
    Measurement::ok(
        SeriesKey::new(exchange, "time", Metric::ClockSkewMs),
        ms,
        Timestamp(t0() + i * 1000),
    )
}

/// A critical clock-skew alert on `exchange`, at second `i`.
pub fn fire(monitor: &MonitorHandle, exchange: &str, i: i64) {
    monitor.inject(skew(exchange, 2500.0, i));
}

/// Three normal samples from second `i`: the episode of `exchange` resolves at `i + 2`.
pub fn resolve(monitor: &MonitorHandle, exchange: &str, i: i64) {
    for k in 0..3 {
        monitor.inject(skew(exchange, 3.0, i + k));
    }
}

/// `exwatch_deliveries_total{channel, outcome}`, 0 when not registered.
pub fn deliveries(metrics: &Metrics, channel: &str, outcome: &str) -> f64 {
    metrics
        .value(
            "exwatch_deliveries_total",
            &[("channel", channel), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
}
