//! What the store's unit tests share: a sample alert, and the ids of pending deliveries.

use crate::messages::{Alert, AlertKind, Metric, Severity, Stats, Timestamp, new_id};
use crate::store::PendingAlert;

/// No limit on the pending deliveries a test reads back.
pub(crate) const ALL: usize = usize::MAX;

/// A critical clock-skew alert of `exchange` at `at_ms`, begun 1 234 ms earlier.
pub(crate) fn alert(exchange: &str, at_ms: i64) -> Alert {
    Alert {
        id: new_id(),
        kind: AlertKind::Firing,
        severity: Severity::Critical,
        exchange: exchange.into(),
        endpoint: "time".into(),
        metric: Metric::ClockSkewMs,
        detector: "clock_skew".into(),
        title: format!("{exchange} time clock skew"),
        message: "skew 2500 ms".into(),
        value: 2500.0,
        threshold: 2000.0,
        region: "test".into(),
        started_at: Timestamp(at_ms - 1_234),
        at: Timestamp(at_ms),
        stats: Stats::default(),
        in_reply_to: None,
    }
}

/// The alert ids of `pending`, in order.
pub(crate) fn ids(pending: &[PendingAlert]) -> Vec<String> {
    pending.iter().map(|p| p.alert.id.to_string()).collect()
}
