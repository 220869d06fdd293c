//! [`SqliteStore`]: the SQLite backend of the event store, a plain synchronous wrapper over one
//! connection (rusqlite, bundled). This file owns the connection, the schema (versioned
//! [`MIGRATIONS`]) and the helpers the aggregates' SQL shares (the `alerts` row, RFC 3339
//! columns); each aggregate implements its trait for it beside its own messages
//! (`outbox/sqlite.rs`, `events/sqlite.rs`, `baselines/sqlite.rs`, `silences/sqlite.rs`). It
//! never runs on an actor's event loop: [`crate::store::StoreActor`] runs it on a thread of
//! its own.
//!
//! Durability: a file store runs in WAL mode with `synchronous = FULL`. Every commit (an
//! enqueued alert, a delivery mark) is fsynced before the call returns, so an alert the
//! Router handed over survives not only `kill -9` (which `NORMAL` would survive too) but a
//! power loss or kernel crash right after. The cost is one fsync per write; alerts are
//! deduplicated (a handful per minute in a bad hour), the writes run off the event loops and
//! no alert waits for them (the Router hands it to the channels at once), so exwatch pays it
//! gladly: "nothing lost" is the point of the outbox.
//!
//! Touches only its database file (and its WAL); knows nothing of the actors.

use std::time::{Duration, UNIX_EPOCH};

use rusqlite::{Connection, params};

use crate::error::StoreError;
use crate::messages::{Alert, Timestamp};
use crate::store::Backend;

/// The schema, one migration per version: `MIGRATIONS[i]` takes a database from version `i`
/// (`PRAGMA user_version`) to `i + 1`. Append; never edit a released migration.
pub const MIGRATIONS: &[&str] = &[
    // v1: the tables.
    "
    CREATE TABLE anomalies (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        kind          TEXT    NOT NULL CHECK (kind IN ('firing', 'resolved')),
        exchange      TEXT    NOT NULL,
        endpoint      TEXT    NOT NULL,
        metric        TEXT    NOT NULL,
        detector      TEXT,
        severity      TEXT,
        value         REAL,
        threshold     REAL,
        confidence    REAL,
        message       TEXT,
        started_at    TEXT,
        started_at_ms INTEGER,
        at            TEXT    NOT NULL,
        at_ms         INTEGER NOT NULL
    );
    CREATE TABLE alerts (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        id            TEXT    NOT NULL UNIQUE,
        kind          TEXT    NOT NULL,
        severity      TEXT    NOT NULL,
        exchange      TEXT    NOT NULL,
        endpoint      TEXT    NOT NULL,
        metric        TEXT    NOT NULL,
        title         TEXT    NOT NULL,
        payload       TEXT    NOT NULL,
        at            TEXT    NOT NULL,
        at_ms         INTEGER NOT NULL,
        started_at_ms INTEGER NOT NULL
    );
    CREATE TABLE deliveries (
        alert_id      TEXT    NOT NULL,
        channel       TEXT    NOT NULL,
        state         TEXT    NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        updated_at    TEXT    NOT NULL,
        PRIMARY KEY (alert_id, channel)
    );
    CREATE TABLE attempts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id      TEXT    NOT NULL,
        channel       TEXT    NOT NULL,
        attempt       INTEGER NOT NULL,
        outcome       TEXT    NOT NULL CHECK (outcome IN ('ok', 'retry', 'failed')),
        detail        TEXT,
        at            TEXT    NOT NULL
    );
    ",
    // v2: indexes for the pending lookups and the per-series and recent queries.
    "
    CREATE INDEX deliveries_pending ON deliveries (channel, state);
    CREATE INDEX attempts_delivery ON attempts (alert_id, channel);
    CREATE INDEX alerts_at ON alerts (at_ms);
    CREATE INDEX anomalies_series ON anomalies (exchange, endpoint, metric, at_ms);
    ",
    // v3: learned-baseline rollups, one row per series, model and closed bucket (event time),
    // so a restart warm-starts. Integers only: SQLite stores 0 and 1 in no bytes and small
    // counts in one, so an error bucket with no errors costs its key and two bytes.
    "
    CREATE TABLE baseline_rollups (
        exchange      TEXT    NOT NULL,
        endpoint      TEXT    NOT NULL,
        metric        TEXT    NOT NULL,
        model         TEXT    NOT NULL,
        bucket_ms     INTEGER NOT NULL,
        width_ms      INTEGER NOT NULL,
        p90_us        INTEGER,
        probes        INTEGER,
        e4xx          INTEGER,
        e5xx          INTEGER,
        e503          INTEGER,
        e504          INTEGER,
        PRIMARY KEY (exchange, endpoint, metric, model, bucket_ms)
    ) WITHOUT ROWID;
    ",
    // v4: the events API (`GET /api/v1/events`): newest first per exchange (the rowid, `seq`,
    // rides along in every index, so (exchange, at_ms) also orders by (at_ms, seq)), and the
    // triage follow-up of an alert by the id it answers.
    "
    CREATE INDEX IF NOT EXISTS alerts_exchange_at ON alerts (exchange, at_ms);
    CREATE INDEX IF NOT EXISTS alerts_triage_reply
        ON alerts (json_extract(payload, '$.in_reply_to')) WHERE kind = 'triage';
    ",
    // v5: silences and acknowledgements (see silences/ and events/): the silences people set,
    // the acks of open incidents, and which stored alerts a silence kept from the channels.
    "
    CREATE TABLE silences (
        id            TEXT    PRIMARY KEY,
        exchange      TEXT,
        endpoint      TEXT,
        metric        TEXT,
        starts_at_ms  INTEGER NOT NULL,
        ends_at_ms    INTEGER NOT NULL,
        comment       TEXT    NOT NULL,
        created_by    TEXT,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX silences_ends ON silences (ends_at_ms);
    CREATE TABLE acks (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_id      TEXT    NOT NULL,
        exchange      TEXT    NOT NULL,
        endpoint      TEXT    NOT NULL,
        metric        TEXT    NOT NULL,
        incident_started_at_ms INTEGER NOT NULL,
        acked_at_ms   INTEGER NOT NULL,
        acked_by      TEXT,
        comment       TEXT
    );
    CREATE INDEX acks_alert ON acks (alert_id);
    ALTER TABLE alerts ADD COLUMN silenced INTEGER NOT NULL DEFAULT 0;
    ",
];

/// The SQLite event store. See the module docs.
pub struct SqliteStore {
    pub(in crate::store) conn: Connection,
    path: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

/// RFC 3339 in UTC with milliseconds, for the human-readable time columns.
pub(in crate::store) fn rfc3339_ms(t: Timestamp) -> String {
    let ms = t.as_millis();
    let st = if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    };
    humantime::format_rfc3339_millis(st).to_string()
}

/// How long a write waits for another connection's lock before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` and migrates its schema; `":memory:"`
    /// is a private in-memory database that keeps nothing past the process.
    pub fn open(path: &str) -> Result<SqliteStore, StoreError> {
        let open_err = |error| StoreError::Open {
            path: path.to_owned(),
            error,
        };
        let conn = if path == ":memory:" {
            Connection::open_in_memory().map_err(open_err)?
        } else {
            let conn = Connection::open(path).map_err(open_err)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(open_err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path, mode, "The event store could not switch to WAL mode.");
            }
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(open_err)?;
            conn
        };
        let mut store = SqliteStore {
            conn,
            path: path.to_owned(),
        };
        store.migrate(MIGRATIONS)?;
        Ok(store)
    }

    /// Applies the migrations of `migrations` the database lacks, each in its own
    /// transaction together with its `user_version` bump.
    fn migrate(&mut self, migrations: &[&str]) -> Result<(), StoreError> {
        let known = migrations.len() as u32;
        let found: u32 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|error| StoreError::Open {
                path: self.path.clone(),
                error,
            })?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        for (i, sql) in migrations.iter().enumerate().skip(found as usize) {
            let version = i as u32 + 1;
            let migrate_err = |error| StoreError::Migrate {
                path: self.path.clone(),
                version,
                error,
            };
            let tx = self.conn.transaction().map_err(migrate_err)?;
            tx.execute_batch(sql).map_err(migrate_err)?;
            tx.pragma_update(None, "user_version", version)
                .map_err(migrate_err)?;
            tx.commit().map_err(migrate_err)?;
            tracing::info!(path = %self.path, version, "Event store schema migrated.");
        }
        Ok(())
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }
}

impl Backend for SqliteStore {
    fn path(&self) -> &str {
        &self.path
    }

    /// Proves the store takes writes now: a real write transaction (it rewrites the schema
    /// version with its own value), waiting at most `wait` for another writer's lock instead
    /// of the usual busy timeout. `/readyz` asks this.
    fn check_writable(&mut self, wait: Duration) -> Result<(), StoreError> {
        self.conn.busy_timeout(wait)?;
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let version: u32 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        })();
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(result?)
    }

    /// Closes the database file now, whoever still holds this store: the connection is
    /// swapped for a private in-memory one without tables, so any later write fails (and is
    /// logged) instead of touching the file. [`MonitorHandle::stop`](crate::MonitorHandle::stop)
    /// calls it through the actor, so the file is free for the next monitor at once.
    fn close(&mut self) {
        match Connection::open_in_memory() {
            Ok(empty) => drop(std::mem::replace(&mut self.conn, empty)),
            Err(e) => {
                tracing::warn!(path = %self.path, error = %e, "Cannot close the event store early.")
            }
        }
    }
}

/// An alert from its payload, with its exact (millisecond) timestamps restored.
pub(in crate::store) fn decode_alert(
    payload: &str,
    at_ms: i64,
    started_at_ms: i64,
) -> Result<Alert, StoreError> {
    let mut alert: Alert = serde_json::from_str(payload)?;
    alert.at = Timestamp(at_ms);
    alert.started_at = Timestamp(started_at_ms);
    Ok(alert)
}

/// Inserts `alert` into `alerts` (`silenced`: a silence kept it from the channels); returns
/// its `seq`. The one place that writes the table's columns. A sent alert leaves `silenced`
/// to its default, so the statement also fits a schema from before the column (v5).
pub(in crate::store) fn insert_alert(
    conn: &Connection,
    alert: &Alert,
    silenced: bool,
) -> Result<i64, StoreError> {
    let payload = serde_json::to_string(alert)?;
    let sql = if silenced {
        "INSERT INTO alerts (id, kind, severity, exchange, endpoint, metric, title, payload,
             at, at_ms, started_at_ms, silenced)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1)"
    } else {
        "INSERT INTO alerts (id, kind, severity, exchange, endpoint, metric, title, payload,
             at, at_ms, started_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    };
    conn.prepare_cached(sql)?.execute(params![
        &*alert.id,
        alert.kind.as_str(),
        alert.severity.as_str(),
        &*alert.exchange,
        &*alert.endpoint,
        alert.metric.as_str(),
        alert.title,
        payload,
        rfc3339_ms(alert.at),
        alert.at.as_millis(),
        alert.started_at.as_millis(),
    ])?;
    Ok(conn.last_insert_rowid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OutboxStore;
    use crate::store::testing::{ALL, alert, ids};

    #[test]
    fn store_file_is_wal_and_reopening_keeps_pending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.db");
        let path = path.to_str().expect("utf-8");
        let a = alert("okx", 1_795_000_000_000);
        {
            let mut s = SqliteStore::open(path).expect("open");
            s.enqueue(&a, &["hook"]).expect("enqueue");
            let mode: String = s
                .conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))
                .expect("mode");
            assert_eq!(mode, "wal");
            let sync: i64 = s
                .conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .expect("sync");
            assert_eq!(sync, 2, "synchronous = FULL");
            assert!(dir.path().join("x.db-wal").exists(), "WAL file present");
        }
        let mut s = SqliteStore::open(path).expect("reopen");
        let pending = s.pending("hook", None, ALL).expect("pending");
        assert_eq!(ids(&pending), [a.id.to_string()]);
        assert_eq!(pending[0].alert.at, a.at);
    }

    #[test]
    fn store_migrates_a_v1_database_and_reopening_is_idempotent() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v1.db");
        let path = path.to_str().expect("utf-8");
        let a = alert("okx", 1_795_000_000_000);
        {
            // A database as the first release left it: schema v1, with a pending delivery.
            let mut s = SqliteStore {
                conn: Connection::open(path).expect("open"),
                path: path.to_owned(),
            };
            s.migrate(&MIGRATIONS[..1]).expect("v1");
            assert_eq!(s.schema_version().expect("version"), 1);
            s.enqueue(&a, &["hook"]).expect("enqueue");
        }
        let index_count = |s: &SqliteStore| -> i64 {
            s.conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'deliveries_pending'",
                    [],
                    |r| r.get(0),
                )
                .expect("count")
        };
        let mut s = SqliteStore::open(path).expect("migrate");
        assert_eq!(
            s.schema_version().expect("version"),
            MIGRATIONS.len() as u32
        );
        assert_eq!(index_count(&s), 1);
        assert_eq!(
            ids(&s.pending("hook", None, ALL).expect("pending")),
            [a.id.to_string()]
        );
        drop(s);
        let mut s = SqliteStore::open(path).expect("reopen");
        assert_eq!(
            s.schema_version().expect("version"),
            MIGRATIONS.len() as u32
        );
        assert_eq!(index_count(&s), 1);
        assert_eq!(s.pending("hook", None, ALL).expect("pending").len(), 1);
    }

    #[test]
    fn store_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.db");
        let path = path.to_str().expect("utf-8");
        SqliteStore::open(path).expect("create");
        Connection::open(path)
            .expect("open")
            .pragma_update(None, "user_version", 99)
            .expect("bump");
        let e = SqliteStore::open(path).expect_err("too new");
        assert!(matches!(e, StoreError::TooNew { found: 99, .. }), "{e}");
    }

    #[test]
    fn store_open_error_names_the_path() {
        let e = SqliteStore::open("/nonexistent-dir-exwatch/x.db").expect_err("no dir");
        assert!(
            e.to_string().contains("/nonexistent-dir-exwatch/x.db"),
            "{e}"
        );
    }
}
