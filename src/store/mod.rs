//! The event store and the durable outbox: every alert the Router accepts, and every anomaly
//! it alerted on, is written to SQLite (through rusqlite, bundled) before any channel tries
//! it; each channel marks its own delivery done; a channel that is down keeps its alerts
//! pending, and after a restart (even `kill -9`) pending deliveries resume.
//!
//! [`Store`] (db.rs) is the plain, synchronous store: schema migrations, writes and queries.
//! [`StoreActor`] (actor.rs) runs it on a thread of its own and is the outbox the Router and
//! the channels talk to. It also keeps the learned baselines' per-bucket rollups, so that a
//! restarted detector warm-starts ([`SaveRollup`], [`LoadRollups`]).
//! [`StoreLock`] (lock.rs) makes a store file belong to one running monitor at a time.

pub mod actor;
pub mod db;
pub mod lock;

pub use actor::QueryEvents;
pub use actor::{
    Attempted, BaselineLink, CheckWritable, Delivered, DeliveryCounts, Enqueue, Failed,
    LoadPending, RecentAlerts, RecordAnomaly, RecordResolved, StoreActor, StoreLink,
};
pub use actor::{Close, FailPending, StoreClosed};
pub use actor::{GetAlert, GetSilence, RecordAck, RecordSilenced, SaveSilence, StoredSilences};
pub use actor::{LoadRollups, SaveRollup};
pub use db::AckRecord;
pub use db::{AttemptOutcome, DeliveryCount, DeliveryState, MIGRATIONS, PendingAlert, Store};
pub use db::{EventCursor, EventDelivery, EventFilter, EventPage, MAX_EVENTS_PAGE, StoredEvent};
pub use lock::StoreLock;
