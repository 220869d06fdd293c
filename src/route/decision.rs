//! What the Router's policy ([`crate::route::core::RouterCore`]) decides, as values: the
//! actor ([`crate::route::RouterActor`]) carries each [`Decision`] out, in the order given
//! (store writes, channel sends, metrics, logs). Owns no state and touches nothing.

use crate::messages::{Alert, Anomaly, Name, Resolved, SeriesKey, Timestamp};

/// One thing the Router must do, decided by its core.
#[derive(Debug, Clone)]
pub enum Decision {
    /// Write the anomaly to the event store: it passed every gate (alerted or silenced).
    RecordAnomaly(Anomaly),
    /// Write the resolution to the event store (every resolution is recorded).
    RecordResolved(Resolved),
    /// Send an alert to some channels.
    Send(Dispatch),
    /// Record an alert as silenced (`alerts.silenced = 1`) and send it to no channel: the
    /// core keeps it, to let it out when no silence covers its series any more.
    Silence {
        /// The alert a silence holds back.
        alert: Alert,
        /// The silence's id.
        silence: Name,
    },
    /// A series' resolution is held by the flap hold: its resolved alert is due at `until`
    /// (sooner dropped, if the series fires again). Or an exchange's down (its availability
    /// series) is held by the correlation hold ([`crate::route::correlation`]): due at
    /// `until`, dropped if every exchange goes down or it recovers meanwhile. The actor arms
    /// a timer for `until` ([`crate::route::core::RouterCore::on_tick`]).
    Hold {
        /// The series that recovered.
        series: SeriesKey,
        /// When the resolved alert is due (event time).
        until: Timestamp,
    },
    /// Nothing is sent, for a reason.
    Drop(Dropped),
}

/// An alert to send, and where.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// The alert.
    pub alert: Alert,
    /// The routes it goes to: indices in the order the routes were added
    /// ([`crate::route::core::RouterCore::add_route`]), those whose `min_severity` it meets.
    pub routes: Vec<usize>,
    /// Why it goes out.
    pub why: Why,
}

/// Why an alert goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The first alert of a series' episode.
    New,
    /// The series' severity rose above what was sent.
    Escalated,
    /// Still firing after the dedup window.
    Reminder,
    /// The episode is over (after the flap hold, if any).
    Resolved,
    /// A silence no longer covers a series still firing: its held-back alert goes out.
    LetOut,
    /// Every exchange went down at once, or one answers again (exwatch's own network).
    Connectivity,
    /// An exchange's announced maintenance began or ended.
    Maintenance,
    /// A triage follow-up to an alert sent before.
    Triage,
    /// An operator acknowledged the incident (to the routes that want acks only).
    Acknowledged,
    /// A group message (`[router] group_by`): an incident opened, changed, escalated or ended.
    Group,
}

/// Why nothing was sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Dropped {
    /// An anomaly (or a silenced alert due to be let out) stopped at a gate.
    Gate {
        /// The series.
        series: SeriesKey,
        /// The gate that stopped it.
        gate: Gate,
    },
    /// The resolution of an episode no channel heard of (silenced from its first alert to
    /// its end): no resolved alert.
    Unheard {
        /// The series.
        series: SeriesKey,
    },
    /// An exchange's down held by the correlation hold ([`crate::route::correlation`]) is
    /// not sent: the exchange answered again within the hold.
    Recovered {
        /// The exchange's availability series.
        series: SeriesKey,
    },
    /// A triage follow-up for an alert the Router does not remember.
    UnknownAlert {
        /// The id the follow-up names.
        alert_id: Name,
    },
}

/// The gates an anomaly passes before it becomes an alert; their order is
/// [`crate::route::core::GATES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// The exchange's circuit is open: its other series are symptoms of that outage.
    ExchangeDown,
    /// Every exchange is down at once: exwatch's own network, said by one alert.
    Connectivity,
    /// The exchange announced maintenance.
    Maintenance,
    /// Already said within the dedup window.
    Dedup,
    /// An acknowledged incident gets no reminders.
    Acknowledged,
    /// A silence set by people matches: recorded, not sent.
    Silence,
}
