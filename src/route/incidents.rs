//! The Router's answer to "what is open right now": the series whose episode is firing (from
//! its dedup table) and the exchanges in announced maintenance. Read by `GET /api/v1/status`;
//! the handler lives in the Router (it reads the Router's own state, nothing else).

use actix::{Message, MessageResponse};

use crate::messages::{Name, SeriesKey, Severity, Timestamp};

/// Asks the Router for its open incidents and maintenance windows.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Incidents")]
pub struct OpenIncidents;

/// One series whose episode is open (firing, not yet resolved).
#[derive(Debug, Clone)]
pub struct OpenIncident {
    /// The series.
    pub series: SeriesKey,
    /// What fired in the last alert sent.
    pub detector: Name,
    /// The highest severity sent during the episode.
    pub severity: Severity,
    /// When the episode began (event time).
    pub since: Timestamp,
    /// The latest anomaly of the episode (event time).
    pub last_at: Timestamp,
    /// The latest anomaly's value.
    pub value: f64,
    /// The alert's title (`binance ping latency spike`).
    pub title: String,
    /// Whether someone acknowledged it (filled once acknowledgements exist).
    pub acked: bool,
    /// Whether a silence matches it (filled once silences exist).
    pub silenced: bool,
}

/// The Router's answer to [`OpenIncidents`].
#[derive(Debug, Clone, Default, MessageResponse)]
pub struct Incidents {
    /// Open incidents, oldest first.
    pub open: Vec<OpenIncident>,
    /// Exchanges in announced maintenance now.
    pub maintenance: Vec<Name>,
}
