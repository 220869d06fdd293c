//! The event history: every alert stored (sent, silenced, triage follow-ups), the anomalies
//! the Router alerted on and the resolutions, and the acknowledgements of incidents; and the
//! queries over them (the events API, the dashboard's recent alerts, one alert by id).
//!
//! This folder owns the history's record types (below), its interface ([`EventStore`]), its
//! messages and their handlers on the [`StoreActor`](crate::store::StoreActor)
//! (`messages.rs`), and its SQL (`sqlite.rs`: the `anomalies` and `acks` tables, and reads of
//! `alerts` and `deliveries`, which the outbox writes).
//!
//! For readers of the store: an alert was silenced when `alerts.silenced = 1`; it was
//! acknowledged when `EXISTS (SELECT 1 FROM acks WHERE acks.alert_id = alerts.id)`.

use crate::error::StoreError;
use crate::messages::{
    Alert, AlertKind, Anomaly, GroupUpdate, Metric, Name, Resolved, Severity, Timestamp,
};
use crate::store::DeliveryState;

mod messages;
mod sqlite;

pub use messages::{
    GetAlert, QueryEvents, RecentAlerts, RecordAck, RecordAnomaly, RecordResolved, RecordSilenced,
};

/// Where a page of events continues: just after the event at (`at_ms`, `seq`) in newest-first
/// order. Keyset, not offset: alerts stored while a client pages are never skipped or repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    /// The event time of the last event of the previous page, ms.
    pub at_ms: i64,
    /// Its `seq` (ties on `at_ms` are broken by it).
    pub seq: i64,
}

/// Which stored alerts [`EventStore::query_events`] returns. `None` means any.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this exchange.
    pub exchange: Option<String>,
    /// Only this endpoint.
    pub endpoint: Option<String>,
    /// Only this metric.
    pub metric: Option<Metric>,
    /// Only this severity and above.
    pub min_severity: Option<Severity>,
    /// Only this kind.
    pub kind: Option<AlertKind>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events at or before this time.
    pub until: Option<Timestamp>,
    /// Only events after this cursor (older than it).
    pub after: Option<EventCursor>,
    /// At most this many events (0 is taken as 1).
    pub limit: usize,
    /// Only the group messages of this incident (`AlertGroup::key`) and the per-series
    /// alerts they list as members.
    pub group: Option<String>,
}

/// One channel's delivery of a stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDelivery {
    /// The channel.
    pub channel: String,
    /// Its state.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// The last error, if an attempt failed.
    pub last_error: Option<String>,
}

/// A stored alert with its deliveries and its triage follow-up: one row of the events API.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The alert's `seq` (store order).
    pub seq: i64,
    /// The alert id.
    pub id: String,
    /// When the alert's judgement was made (event time).
    pub at: Timestamp,
    /// Firing, resolved or triage.
    pub kind: AlertKind,
    /// Its severity.
    pub severity: Severity,
    /// Exchange of the series.
    pub exchange: String,
    /// Endpoint of the series.
    pub endpoint: String,
    /// Metric of the series.
    pub metric: String,
    /// What fired.
    pub detector: String,
    /// The headline.
    pub title: String,
    /// The explanation.
    pub message: String,
    /// The observed value, `None` when it was not a number.
    pub value: Option<f64>,
    /// For a triage alert: the alert it follows up.
    pub in_reply_to: Option<String>,
    /// One entry per durable channel, by channel name.
    pub deliveries: Vec<EventDelivery>,
    /// The text of the latest triage follow-up of this alert, when there is one.
    pub triage: Option<String>,
    /// A silence kept it from the channels (recorded, not sent).
    pub silenced: bool,
    /// Someone acknowledged it.
    pub acked: bool,
    /// For a group message: its incident's key, what it says, and its members (read from
    /// the stored payload). `None` on per-series alerts.
    pub group: Option<StoredGroup>,
}

/// The group of a stored group message: the incident it speaks for and its members.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGroup {
    /// What the members share, e.g. `exchange=okx`.
    pub key: String,
    /// What the message says of the group.
    pub update: GroupUpdate,
    /// The members, most severe first, as the message listed them.
    pub members: Vec<StoredMember>,
}

/// One member of a stored group message: its latest per-series alert at the time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMember {
    /// The member alert's id (the per-series alert stored on its own).
    pub id: String,
    /// Its state: firing or resolved.
    pub kind: AlertKind,
    /// Exchange of the series.
    pub exchange: String,
    /// Endpoint of the series.
    pub endpoint: String,
    /// Metric of the series.
    pub metric: String,
    /// Its severity.
    pub severity: Severity,
    /// What fired.
    pub detector: String,
    /// Its headline.
    pub title: String,
}

/// A page of events, newest first, and where the next one starts.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// The cursor of the next page; `None` when this is the last.
    pub next: Option<EventCursor>,
}

/// The most rows one events query returns, whatever the caller asks.
pub const MAX_EVENTS_PAGE: usize = 500;

/// One acknowledgement of an open incident.
#[derive(Debug, Clone, PartialEq)]
pub struct AckRecord {
    /// The alert the operator acknowledged.
    pub alert_id: Name,
    /// The incident's exchange.
    pub exchange: Name,
    /// The incident's endpoint.
    pub endpoint: Name,
    /// The incident's metric.
    pub metric: Metric,
    /// When the incident began.
    pub incident_started_at: Timestamp,
    /// When it was acknowledged.
    pub acked_at: Timestamp,
    /// Who acknowledged it, when they said.
    pub by: Option<String>,
    /// Why, when they said.
    pub comment: Option<String>,
}

/// The history's interface to a storage engine (see [`crate::store::Backend`]).
pub trait EventStore {
    /// Records an anomaly the Router alerted on (kind `firing`).
    fn record_anomaly(&mut self, a: &Anomaly) -> Result<(), StoreError>;

    /// Records a series' recovery (kind `resolved`).
    fn record_resolved(&mut self, r: &Resolved) -> Result<(), StoreError>;

    /// Stores an alert a silence kept from the channels: visible with the others (marked
    /// silenced), with no delivery.
    fn record_silenced(&mut self, alert: &Alert) -> Result<(), StoreError>;

    /// Whether the stored alert `id` was kept from the channels by a silence.
    fn silenced(&mut self, id: &str) -> Result<bool, StoreError>;

    /// The stored alert `id` (sent or silenced), if there is one.
    fn alert(&mut self, id: &str) -> Result<Option<Alert>, StoreError>;

    /// The latest `limit` alerts, newest first (store order).
    fn recent_alerts(&mut self, limit: usize) -> Result<Vec<Alert>, StoreError>;

    /// The stored alerts `filter` selects, newest first (by event time, then `seq`), each with
    /// its deliveries, its triage text, and whether it was silenced or acknowledged; at most
    /// [`MAX_EVENTS_PAGE`] of them.
    fn query_events(&mut self, filter: &EventFilter) -> Result<EventPage, StoreError>;

    /// Records an acknowledgement.
    fn record_ack(&mut self, a: &AckRecord) -> Result<(), StoreError>;

    /// Whether alert `id` was acknowledged.
    fn acked(&mut self, id: &str) -> Result<bool, StoreError>;
}
