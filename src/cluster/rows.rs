//! What the cluster writes to PostgreSQL, as plain rows: one [`EventRow`] per stored alert,
//! anomaly or resolution, one [`DeliveryRow`] per delivery change, and the vantage's
//! [`Verdicts`] (the latest snapshot only: the shared table holds each vantage's current
//! verdict, not its history). Pure conversions from the store's [`Mirror`] copies.

use crate::messages::new_id;
use crate::store::{DeliveryState, Mirror};

/// What a vantage says of one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictState {
    /// It answers.
    Up,
    /// Its breaker is open here.
    Down,
    /// This vantage cannot tell (its own connectivity failed).
    Unknown,
}

impl VerdictState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictState::Up => "up",
            VerdictState::Down => "down",
            VerdictState::Unknown => "unknown",
        }
    }

    /// The state named `s` (unknown for anything else).
    pub fn parse(s: &str) -> Self {
        match s {
            "up" => VerdictState::Up,
            "down" => VerdictState::Down,
            _ => VerdictState::Unknown,
        }
    }
}

/// One vantage's verdict on one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The exchange.
    pub exchange: String,
    /// What this vantage sees.
    pub state: VerdictState,
    /// When it began to see it (event time, ms).
    pub observed_ms: i64,
}

/// A vantage's verdicts on every exchange, and whether the vantage itself is healthy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdicts {
    /// Per exchange.
    pub verdicts: Vec<Verdict>,
    /// The vantage's own connectivity holds (no `monitor_connectivity`, canaries answer).
    pub self_healthy: bool,
}

/// One stored event: an alert (`record = "alert"`), an anomaly or a resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// Unique within the region: the alert id, or a fresh ULID for an anomaly or resolution.
    pub id: String,
    /// `alert`, `anomaly` or `resolution`.
    pub record: &'static str,
    /// For an alert its kind (firing, resolved, triage, acknowledged); else the record.
    pub kind: String,
    /// Event time, ms.
    pub at_ms: i64,
    /// Series: exchange.
    pub exchange: String,
    /// Series: endpoint.
    pub endpoint: String,
    /// Series: metric.
    pub metric: String,
    /// Severity (empty for a resolution).
    pub severity: String,
    /// Detector (empty for a resolution).
    pub detector: String,
    /// Headline.
    pub title: String,
    /// Explanation.
    pub message: String,
    /// A silence kept it from the channels.
    pub silenced: bool,
    /// The whole alert (its webhook payload), for alerts.
    pub body: Option<serde_json::Value>,
}

/// A delivery's state now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// The alert.
    pub alert_id: String,
    /// The channel.
    pub channel: String,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts so far (0 when the change did not say).
    pub attempts: u32,
    /// The last error.
    pub error: Option<String>,
    /// When it changed, ms.
    pub at_ms: i64,
}

/// A row waiting for PostgreSQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Row {
    /// An event.
    Event(EventRow),
    /// A delivery change.
    Delivery(DeliveryRow),
}

/// The rows a mirrored store event becomes: an alert enqueued for channels is its event and
/// one pending delivery per channel.
pub fn rows(m: Mirror) -> Vec<Row> {
    match m {
        Mirror::Alert {
            alert,
            channels,
            silenced,
        } => {
            let at = alert.at.0;
            let id = alert.id.to_string();
            let mut out = vec![Row::Event(EventRow {
                id: id.clone(),
                record: "alert",
                kind: alert.kind.as_str().to_owned(),
                at_ms: at,
                exchange: alert.exchange.to_string(),
                endpoint: alert.endpoint.to_string(),
                metric: alert.metric.as_str().to_owned(),
                severity: alert.severity.as_str().to_owned(),
                detector: alert.detector.to_string(),
                title: alert.title.clone(),
                message: alert.message.clone(),
                silenced,
                body: serde_json::to_value(&alert).ok(),
            })];
            out.extend(channels.into_iter().map(|channel| {
                Row::Delivery(DeliveryRow {
                    alert_id: id.clone(),
                    channel,
                    state: DeliveryState::Pending,
                    attempts: 0,
                    error: None,
                    at_ms: at,
                })
            }));
            out
        }
        Mirror::Anomaly(a) => vec![Row::Event(EventRow {
            id: new_id().to_string(),
            record: "anomaly",
            kind: "anomaly".into(),
            at_ms: a.at.0,
            exchange: a.series.exchange.to_string(),
            endpoint: a.series.endpoint.to_string(),
            metric: a.series.metric.as_str().to_owned(),
            severity: a.severity.as_str().to_owned(),
            detector: a.detector.to_string(),
            title: String::new(),
            message: a.message,
            silenced: false,
            body: None,
        })],
        Mirror::Resolved(r) => vec![Row::Event(EventRow {
            id: new_id().to_string(),
            record: "resolution",
            kind: "resolution".into(),
            at_ms: r.at.0,
            exchange: r.series.exchange.to_string(),
            endpoint: r.series.endpoint.to_string(),
            metric: r.series.metric.as_str().to_owned(),
            severity: String::new(),
            detector: String::new(),
            title: String::new(),
            message: String::new(),
            silenced: false,
            body: None,
        })],
        Mirror::Delivery {
            alert_id,
            channel,
            state,
            attempts,
            error,
            at,
        } => vec![Row::Delivery(DeliveryRow {
            alert_id,
            channel,
            state,
            attempts,
            error,
            at_ms: at.0,
        })],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Alert, AlertKind, Metric, Severity, Stats, Timestamp};

    #[test]
    fn an_enqueued_alert_is_its_event_and_a_pending_delivery_per_channel() {
        let alert = Alert {
            id: new_id(),
            kind: AlertKind::Firing,
            severity: Severity::Critical,
            exchange: "okx".into(),
            endpoint: "*".into(),
            metric: Metric::Availability,
            detector: "circuit_open".into(),
            title: "okx down (circuit open)".into(),
            message: "m".into(),
            value: 1.0,
            threshold: 0.0,
            region: "tokyo".into(),
            started_at: Timestamp(1),
            at: Timestamp(2),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        };
        let id = alert.id.to_string();
        let rows = rows(Mirror::Alert {
            alert,
            channels: vec!["ops".into(), "am".into()],
            silenced: false,
        });
        assert_eq!(rows.len(), 3);
        let Row::Event(e) = &rows[0] else { panic!() };
        assert_eq!(
            (e.id.as_str(), e.record, e.kind.as_str()),
            (id.as_str(), "alert", "firing")
        );
        assert_eq!(e.body.as_ref().unwrap()["region"], "tokyo");
        let Row::Delivery(d) = &rows[2] else { panic!() };
        assert_eq!(
            (d.channel.as_str(), d.state),
            ("am", DeliveryState::Pending)
        );
    }
}
