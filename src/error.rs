//! The library's error types.

use thiserror::Error;

/// One problem in a configuration, with the key path it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted key path, e.g. `exchanges.okx.endpoints.time.url`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A configuration that could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The sources could not be read or parsed (missing file, TOML syntax error).
    #[error("cannot read configuration: {0}")]
    Source(String),
    /// The configuration was read but has problems; every one is listed.
    #[error("{} configuration problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// The crate-level error.
#[derive(Debug, Error)]
pub enum Error {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The topology could not be started.
    #[error("cannot start exwatch: {0}")]
    Start(String),
    /// The event store could not be opened or migrated.
    #[error("cannot start exwatch: {0}")]
    Store(StoreError),
    /// The shared PostgreSQL of `[cluster]` is refused (its schema is newer than this
    /// binary knows, or its URL does not parse).
    #[error("cannot start exwatch: {0}")]
    Cluster(String),
    /// Another monitor, in this process or another, runs on the same event store file: a
    /// store belongs to one running monitor at a time (see [`crate::store::StoreLock`]).
    #[error(
        "cannot start exwatch: another monitor is already running on the event store {path} (it holds {}); stop it first or use another store.path",
        .lock.display()
    )]
    AlreadyRunning {
        /// The event store file (`[store] path`).
        path: String,
        /// Its lock file.
        lock: std::path::PathBuf,
    },
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

/// A failure of the event store (SQLite). Each message is complete on its own (it includes
/// SQLite's reason), so none is chained as a `source`: a report prints it once.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database could not be opened or configured.
    #[error("cannot open the event store {path}: {error}")]
    Open {
        /// The file.
        path: String,
        /// SQLite's reason.
        error: rusqlite::Error,
    },
    /// A schema migration failed; the database is left at the version before it.
    #[error("cannot migrate the event store {path} to schema version {version}: {error}")]
    Migrate {
        /// The file.
        path: String,
        /// The version that failed.
        version: u32,
        /// SQLite's reason.
        error: rusqlite::Error,
    },
    /// The database was written by a newer exwatch, whose schema this one does not know.
    #[error(
        "the event store {path} has schema version {found}, newer than this exwatch knows ({known}); upgrade exwatch or use another store.path"
    )]
    TooNew {
        /// The file.
        path: String,
        /// Its schema version.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// The store's lock file (`<path>.lock`, see [`crate::store::StoreLock`]) could not be
    /// created or locked.
    #[error("cannot open the event store {path}: its lock file {}: {error}", .lock.display())]
    Lock {
        /// The file.
        path: String,
        /// Its lock file.
        lock: std::path::PathBuf,
        /// The operating system's reason.
        error: std::io::Error,
    },
    /// A query or write failed.
    #[error("event store: {0}")]
    Sql(rusqlite::Error),
    /// A stored alert payload could not be encoded or decoded.
    #[error("event store payload: {0}")]
    Payload(serde_json::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sql(e)
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Payload(e)
    }
}

/// Why one delivery attempt of an alert failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DeliveryError {
    /// Worth trying again later (network error, timeout, 5xx, 429 …).
    #[error("{reason}")]
    Retryable {
        /// What happened, for the log; never contains a secret.
        reason: String,
        /// How long the platform asked us to wait, if it said.
        retry_after: Option<std::time::Duration>,
    },
    /// The platform refused the alert for good (a 4xx other than 408/429); retrying is futile.
    #[error("{reason}")]
    Rejected {
        /// The platform's reason; never contains a secret.
        reason: String,
    },
}

impl DeliveryError {
    /// The same error with its reason passed through `f` (to redact secrets from it).
    pub fn map_reason(self, f: impl FnOnce(String) -> String) -> Self {
        match self {
            DeliveryError::Retryable {
                reason,
                retry_after,
            } => DeliveryError::Retryable {
                reason: f(reason),
                retry_after,
            },
            DeliveryError::Rejected { reason } => DeliveryError::Rejected { reason: f(reason) },
        }
    }
}
