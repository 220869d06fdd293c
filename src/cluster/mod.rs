//! Several vantages, one view (`[cluster]`): every instance writes its events and its
//! per-exchange verdicts to one PostgreSQL, asynchronously, and decides "exchange down" by a
//! quorum of fresh, self-healthy vantages read back from it. SQLite stays each instance's
//! outbox: nothing here delays or gates an alert.
//!
//! - [`config`]: `[cluster]`, validated;
//! - [`rows`]: what is written (events, deliveries, verdicts), from the store's copies;
//! - [`backlog`]: the bounded queue of rows waiting for PostgreSQL (the store's sink);
//! - [`schema`]: the tables and their versioned migrations;
//! - [`writer`]: the task that moves the backlog to PostgreSQL, and its [`Health`];
//! - [`vantage`] and [`quorum`]: pure policy — this vantage's vote, and the quorum's outcome;
//! - [`gate`]: the actor between the detectors and the Router that applies it;
//! - [`listen`]: `LISTEN/NOTIFY`, waking the gate;
//! - [`view`]: every vantage's history and state read back for the API;
//! - [`stage`]: starting it all on a thread of its own.
//!
//! May touch: `crate::messages`, `crate::config`, `crate::error`, `crate::metrics`,
//! `crate::store` (the copies it mirrors), and the names `crate::route` gives exwatch's own
//! series. Never the server, channels or detectors: the topology (`crate::service`) wires it.

pub mod backlog;
pub mod config;
pub mod gate;
pub mod listen;
pub mod quorum;
pub mod rows;
pub mod schema;
pub mod stage;
pub mod vantage;
pub mod view;
pub mod writer;

use std::time::Duration;

pub use config::ClusterSettings;
pub use gate::{ClusterGate, GateOutputs, VANTAGE_DOWN_DETECTOR};
pub use stage::{Cluster, ClusterStage};
pub use writer::Health;

use crate::config::Secret;

/// How many of the newest locally stored alerts each start offers the shared PostgreSQL
/// again (written once: the insert ignores an alert id it holds), so that alerts an earlier
/// run stored while PostgreSQL was away, and stopped before it was back, still reach it.
pub const RESYNC_ALERTS: usize = 10_000;

/// What can go wrong with the shared PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The server answered with an error, or the connection failed.
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    /// Its schema is newer than this binary knows.
    #[error(
        "the shared PostgreSQL has schema version {found}; this exwatch knows versions up to \
         {known}: upgrade exwatch (or point it at another database)"
    )]
    NewerSchema {
        /// The database's version.
        found: usize,
        /// The newest this binary knows.
        known: usize,
    },
    /// No answer in time.
    #[error("PostgreSQL did not answer within {0:?}")]
    Timeout(Duration),
    /// No connection from the pool.
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
}

impl From<tokio_postgres::Error> for ClusterError {
    fn from(e: tokio_postgres::Error) -> Self {
        ClusterError::Postgres(e.to_string())
    }
}

/// `e` as text with the URL (and so its password) redacted.
pub fn redact(url: &Secret, e: &ClusterError) -> String {
    let text = e.to_string();
    let mut out = url.redact(&text);
    if let Ok(config) = config::check_url(url.expose())
        && let Some(password) = config.get_password()
        && let Ok(password) = std::str::from_utf8(password)
    {
        out = Secret::new(password).redact(&out);
    }
    out
}
