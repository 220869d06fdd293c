//! Helpers shared by the channel and pipeline tests: event times, quick retries, and alerts
//! driven by clock-skew measurements (2500 ms fires a critical alert at once; three normal
//! samples resolve it).

use std::time::Duration;

use exwatch::MonitorHandle;
use exwatch::config::RetrySettings;
use exwatch::messages::{Measurement, Metric, SeriesKey, Timestamp};
use exwatch::metrics::Metrics;

/// The event time the tests' measurements start at.
pub const T0: i64 = 1_795_000_000_000;

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
        Timestamp(T0 + i * 1000),
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
