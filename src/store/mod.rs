//! The event store and the durable outbox: every alert the Router accepts, and every anomaly
//! it alerted on, is written (SQLite by default, through rusqlite, bundled) while the channels
//! make their first attempt; each channel marks its own delivery done; a channel that is down
//! keeps its alerts pending, and after a restart (even `kill -9`) pending deliveries resume.
//!
//! Split by aggregate, each folder with its record types, its interface (a trait), its
//! messages and their handlers, and its SQL:
//!
//! - [`outbox`]: alerts and their per-channel deliveries ([`OutboxStore`], [`Enqueue`],
//!   [`Attempted`], [`Delivered`], [`Failed`], [`LoadPending`]);
//! - [`events`]: the alert and anomaly history, its queries, and acknowledgements
//!   ([`EventStore`], [`QueryEvents`], [`RecordAnomaly`], [`RecordAck`] …);
//! - [`baselines`]: the learned baselines' per-bucket rollups, so that a restarted detector
//!   warm-starts ([`BaselineStore`], [`SaveRollups`], [`LoadRollups`]);
//! - [`silences`]: the silences people set ([`SilenceStore`], [`SaveSilence`] …).
//!
//! [`Backend`] (backend.rs) is all four traits and the connection's own duties: what a second
//! engine (PostgreSQL) implements. [`SqliteStore`] (sqlite.rs: the schema and its
//! [`MIGRATIONS`]) implements it. [`StoreActor`] (actor.rs) runs a backend on a thread of its
//! own; no alert waits for it. [`StoreLock`] (lock.rs) makes a store file belong to one running
//! monitor at a time. [`Mirrored`] (mirror.rs) hands a copy of every stored event to a sink
//! (the cluster's PostgreSQL writer). [`config`] validates `[store]`.
//!
//! May touch: `crate::messages` (the values it stores), `crate::config` (the generic walk),
//! `crate::error`, `crate::metrics`, `crate::supervision`. Never the components that use it
//! (detect, route, channel, server): they convert to and from its records.

pub mod actor;
mod backend;
pub mod baselines;
pub mod config;
pub mod events;
pub mod lock;
pub mod mirror;
pub mod outbox;
pub mod silences;
mod sqlite;
#[cfg(test)]
mod testing;

pub use actor::{CheckWritable, Close, StoreActor, StoreClosed};
pub use backend::Backend;
pub use baselines::{
    BaselineLink, BaselineStore, BucketCounts, LoadRollups, RollupRecord, SaveRollup, SaveRollups,
};
pub use config::StoreSettings;
pub use events::{
    AckRecord, EventCursor, EventDelivery, EventFilter, EventPage, EventStore, GetAlert,
    MAX_EVENTS_PAGE, QueryEvents, RecentAlerts, RecordAck, RecordAnomaly, RecordResolved,
    RecordSilenced, StoredEvent, StoredGroup, StoredMember,
};
pub use lock::StoreLock;
pub use mirror::{Mirror, MirrorSink, Mirrored};
pub use outbox::{
    AttemptOutcome, Attempted, Delivered, DeliveryCount, DeliveryCounts, DeliveryState, Enqueue,
    FailPending, Failed, LoadPending, OutboxStore, PendingAlert, StoreLink,
};
pub use silences::{GetSilence, SaveSilence, SilenceStore, StoredSilences};
pub use sqlite::{MIGRATIONS, SqliteStore};
