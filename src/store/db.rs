//! [`Store`]: the event store itself, a plain synchronous wrapper over one SQLite connection.
//! It owns the schema (versioned migrations), the writes of the outbox (an alert and its
//! pending deliveries in one transaction; attempts; delivered / failed marks) and the queries
//! (pending deliveries in enqueue order, recent alerts, delivery counts). It never runs on an
//! actor's event loop: [`crate::store::StoreActor`] runs it on a thread of its own.
//!
//! Durability: a file store runs in WAL mode with `synchronous = FULL`. Every commit (an
//! enqueued alert, a delivery mark) is fsynced before the call returns, so an alert the
//! Router handed over survives not only `kill -9` (which `NORMAL` would survive too) but a
//! power loss or kernel crash right after. The cost is one fsync per write; alerts are
//! deduplicated (a handful per minute in a bad hour), the writes run off the event loops and
//! no alert waits for them (the Router hands it to the channels at once), so exwatch pays it
//! gladly: "nothing lost" is the point of the outbox.

use std::time::{Duration, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use crate::detect::baseline::{ErrorCounts, Rollup};
use crate::error::StoreError;
use crate::messages::{
    Alert, AlertKind, Anomaly, Metric, Resolved, SeriesKey, Severity, Timestamp,
};

mod silences;
pub use silences::AckRecord;

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
    // v5: silences and acknowledgements (see db/silences.rs): the silences people set, the acks
    // of open incidents, and which stored alerts a silence kept from the channels.
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

/// The state of one (alert, channel) delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not delivered yet; retried, and resumed after a restart.
    Pending,
    /// The platform accepted it.
    Delivered,
    /// Rejected by the platform, or given up after `max_attempts`.
    Failed,
}

impl DeliveryState {
    /// The name stored in `deliveries.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => return None,
        })
    }
}

/// How one delivery attempt ended (`attempts.outcome`, as the `outcome` label of
/// `exwatch_deliveries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// Delivered.
    Ok,
    /// Failed; it will be retried.
    Retry,
    /// Failed for good (rejected, or the last attempt).
    Failed,
}

impl AttemptOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
        }
    }
}

/// How many deliveries of one channel are in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    /// The channel.
    pub channel: String,
    /// The state.
    pub state: DeliveryState,
    /// How many.
    pub count: u64,
}

/// An alert still to be delivered to a channel, with the attempts already made.
#[derive(Debug, Clone)]
pub struct PendingAlert {
    /// The alert, exactly as it was enqueued (timestamps to the millisecond).
    pub alert: Alert,
    /// Attempts made so far, in any run.
    pub attempts: u32,
}

/// The event store. See the module docs.
pub struct Store {
    conn: Connection,
    path: String,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// RFC 3339 in UTC with milliseconds, for the human-readable time columns.
fn rfc3339_ms(t: Timestamp) -> String {
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

impl Store {
    /// Opens (creating if needed) the store at `path` and migrates its schema; `":memory:"`
    /// is a private in-memory database that keeps nothing past the process.
    pub fn open(path: &str) -> Result<Store, StoreError> {
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
        let mut store = Store {
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

    /// The file (or `:memory:`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Proves the store takes writes now: a real write transaction (it rewrites the schema
    /// version with its own value), waiting at most `wait` for another writer's lock instead
    /// of the usual busy timeout. `/readyz` asks this.
    pub fn check_writable(&mut self, wait: Duration) -> Result<(), StoreError> {
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

    /// Closes the database file now, whoever still holds this `Store`: the connection is
    /// swapped for a private in-memory one without tables, so any later write fails (and is
    /// logged) instead of touching the file. [`MonitorHandle::stop`](crate::MonitorHandle::stop)
    /// calls it through the actor, so the file is free for the next monitor at once.
    pub fn close(&mut self) {
        match Connection::open_in_memory() {
            Ok(empty) => drop(std::mem::replace(&mut self.conn, empty)),
            Err(e) => {
                tracing::warn!(path = %self.path, error = %e, "Cannot close the event store early.")
            }
        }
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// Records an anomaly the Router alerted on (kind `firing`).
    pub fn record_anomaly(&mut self, a: &Anomaly) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO anomalies (kind, exchange, endpoint, metric, detector, severity, value,
                 threshold, confidence, message, started_at, started_at_ms, at, at_ms)
             VALUES ('firing', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                &*a.series.exchange,
                &*a.series.endpoint,
                a.series.metric.as_str(),
                &*a.detector,
                a.severity.as_str(),
                a.value,
                a.threshold,
                a.confidence,
                a.message,
                rfc3339_ms(a.started_at),
                a.started_at.as_millis(),
                rfc3339_ms(a.at),
                a.at.as_millis(),
            ],
        )?;
        Ok(())
    }

    /// Records a series' recovery (kind `resolved`).
    pub fn record_resolved(&mut self, r: &Resolved) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO anomalies (kind, exchange, endpoint, metric, at, at_ms)
             VALUES ('resolved', ?1, ?2, ?3, ?4, ?5)",
            params![
                &*r.series.exchange,
                &*r.series.endpoint,
                r.series.metric.as_str(),
                rfc3339_ms(r.at),
                r.at.as_millis(),
            ],
        )?;
        Ok(())
    }

    /// Writes `alert` and one pending delivery per channel of `channels`, in ONE transaction:
    /// either the alert is stored with all its deliveries or nothing is. Returns its `seq`.
    pub fn enqueue(&mut self, alert: &Alert, channels: &[&str]) -> Result<i64, StoreError> {
        let now = rfc3339_ms(Timestamp::now());
        let tx = self.conn.transaction()?;
        let seq = insert_alert(&tx, alert, false)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO deliveries (alert_id, channel, state, attempts, updated_at)
                 VALUES (?1, ?2, 'pending', 0, ?3)",
            )?;
            for channel in channels {
                insert.execute(params![&*alert.id, channel, now])?;
            }
        }
        tx.commit()?;
        Ok(seq)
    }

    /// Records attempt number `attempt` (1 for the first) of delivering `alert_id` to
    /// `channel`, and raises the delivery's attempt count to it.
    pub fn record_attempt(
        &mut self,
        alert_id: &str,
        channel: &str,
        attempt: u32,
        outcome: AttemptOutcome,
        detail: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let at = rfc3339_ms(at);
        let detail = (!detail.is_empty()).then_some(detail);
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO attempts (alert_id, channel, attempt, outcome, detail, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            alert_id,
            channel,
            attempt,
            outcome.as_str(),
            detail,
            at
        ])?;
        tx.prepare_cached(
            "UPDATE deliveries SET attempts = MAX(attempts, ?3), updated_at = ?4,
                 last_error = COALESCE(?5, last_error)
             WHERE alert_id = ?1 AND channel = ?2",
        )?
        .execute(params![
            alert_id,
            channel,
            attempt,
            at,
            (outcome != AttemptOutcome::Ok).then_some(detail).flatten()
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// Marks the delivery of `alert_id` to `channel` done.
    pub fn mark_delivered(
        &mut self,
        alert_id: &str,
        channel: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE deliveries SET state = 'delivered', updated_at = ?3
                 WHERE alert_id = ?1 AND channel = ?2",
            )?
            .execute(params![alert_id, channel, rfc3339_ms(at)])?;
        Ok(())
    }

    /// Marks the delivery of `alert_id` to `channel` failed for good, with the reason.
    pub fn mark_failed(
        &mut self,
        alert_id: &str,
        channel: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE deliveries SET state = 'failed', last_error = ?3, updated_at = ?4
                 WHERE alert_id = ?1 AND channel = ?2",
            )?
            .execute(params![alert_id, channel, reason, rfc3339_ms(at)])?;
        Ok(())
    }

    /// Marks every pending delivery of `channel` failed with `reason` (the channel was
    /// removed by a reload); returns how many.
    pub fn fail_pending(
        &mut self,
        channel: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE deliveries SET state = 'failed', last_error = ?2, updated_at = ?3
                 WHERE channel = ?1 AND state = 'pending'",
            )?
            .execute(params![channel, reason, rfc3339_ms(at)])?;
        Ok(n)
    }

    /// The pending deliveries of `channel`, in enqueue order; with `before_seq`, only the
    /// alerts enqueued before it (`seq < before_seq`).
    pub fn pending(
        &self,
        channel: &str,
        before_seq: Option<i64>,
    ) -> Result<Vec<PendingAlert>, StoreError> {
        // At most a channel queue's worth, oldest first: the oldest must never starve behind
        // newer ones; what is left stays pending for the next start.
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.payload, a.at_ms, a.started_at_ms, d.attempts, a.id
             FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE d.channel = ?1 AND d.state = 'pending' AND (?2 IS NULL OR a.seq < ?2)
             ORDER BY a.seq LIMIT ?3",
        )?;
        let limit = crate::channel::delivery::MAX_QUEUE as i64;
        let rows = stmt.query_map(params![channel, before_seq, limit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, u32>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        let mut unreadable = Vec::new();
        for row in rows {
            let (payload, at_ms, started_at_ms, attempts, id) = row?;
            match decode(&payload, at_ms, started_at_ms) {
                Ok(alert) => out.push(PendingAlert { alert, attempts }),
                // One bad row must not keep every other delivery from resuming.
                Err(e) => unreadable.push((id, e.to_string())),
            }
        }
        for (id, why) in unreadable {
            tracing::error!(alert = %id, channel, error = %why, "Stored alert unreadable; its delivery is marked failed.");
            self.conn.execute(
                "UPDATE deliveries SET state = 'failed', last_error = ?3
                 WHERE alert_id = ?1 AND channel = ?2",
                params![id, channel, format!("unreadable stored alert: {why}")],
            )?;
        }
        Ok(out)
    }

    /// The `seq` of the last alert enqueued, 0 for none.
    pub fn max_seq(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM alerts", [], |r| r.get(0))?)
    }

    /// The latest `limit` alerts, newest first.
    pub fn recent_alerts(&self, limit: usize) -> Result<Vec<Alert>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT payload, at_ms, started_at_ms FROM alerts ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (payload, at_ms, started_at_ms) = row?;
            out.push(decode(&payload, at_ms, started_at_ms)?);
        }
        Ok(out)
    }

    /// Delivery counts by channel and state, ordered by channel.
    pub fn delivery_counts(&self) -> Result<Vec<DeliveryCount>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT channel, state, COUNT(*) FROM deliveries GROUP BY channel, state
             ORDER BY channel, state",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (channel, state, count) = row?;
            if let Some(state) = DeliveryState::parse(&state) {
                out.push(DeliveryCount {
                    channel,
                    state,
                    count: count.max(0) as u64,
                });
            }
        }
        Ok(out)
    }

    /// The state of the delivery of `alert_id` to `channel`, if there is one.
    pub fn delivery_state(
        &self,
        alert_id: &str,
        channel: &str,
    ) -> Result<Option<DeliveryState>, StoreError> {
        let state: Option<String> = self
            .conn
            .query_row(
                "SELECT state FROM deliveries WHERE alert_id = ?1 AND channel = ?2",
                params![alert_id, channel],
                |r| r.get(0),
            )
            .optional()?;
        Ok(state.as_deref().and_then(DeliveryState::parse))
    }
}

/// Baseline rollups (schema v3): see [`crate::detect::baseline`].
impl Store {
    /// Upserts the rollup of `series`' bucket of width `width_ms` starting at `start_ms`, and
    /// drops that series' rollups of the same model older than `keep_ms` before it, in one
    /// transaction.
    pub fn save_rollup(
        &mut self,
        series: &SeriesKey,
        start_ms: i64,
        width_ms: i64,
        rollup: &Rollup,
        keep_ms: i64,
    ) -> Result<(), StoreError> {
        let (p90_us, counts) = match rollup {
            Rollup::P90(ms) => (Some((ms * 1000.0).round().max(1.0) as i64), None),
            Rollup::Errors(c) => (None, Some(c)),
        };
        let count = |i: usize| counts.map(|c| c.errors[i]);
        let key = (
            &*series.exchange,
            &*series.endpoint,
            series.metric.as_str(),
            rollup.model(),
        );
        let tx = self.conn.transaction()?;
        tx.prepare_cached(
            "INSERT INTO baseline_rollups (exchange, endpoint, metric, model, bucket_ms, width_ms,
                 p90_us, probes, e4xx, e5xx, e503, e504)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (exchange, endpoint, metric, model, bucket_ms) DO UPDATE SET
                 width_ms = excluded.width_ms, p90_us = excluded.p90_us,
                 probes = excluded.probes, e4xx = excluded.e4xx, e5xx = excluded.e5xx,
                 e503 = excluded.e503, e504 = excluded.e504",
        )?
        .execute(params![
            key.0,
            key.1,
            key.2,
            key.3,
            start_ms,
            width_ms,
            p90_us,
            counts.map(|c| c.total),
            count(0),
            count(1),
            count(2),
            count(3),
        ])?;
        tx.prepare_cached(
            "DELETE FROM baseline_rollups
             WHERE exchange = ?1 AND endpoint = ?2 AND metric = ?3 AND model = ?4
                 AND bucket_ms < ?5",
        )?
        .execute(params![
            key.0,
            key.1,
            key.2,
            key.3,
            start_ms.saturating_sub(keep_ms)
        ])?;
        tx.commit()?;
        Ok(())
    }

    /// The rollups of `series` in buckets of `width_ms`, oldest first, as (bucket start,
    /// rollup): those within `keep_ms` of its newest stored bucket (event time, so a replay
    /// restores what it wrote). Rows of another width are left out; unreadable rows (an
    /// unknown model, a missing or impossible value) are skipped with a warning.
    pub fn load_rollups(
        &self,
        series: &SeriesKey,
        width_ms: i64,
        keep_ms: i64,
    ) -> Result<Vec<(i64, Rollup)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT model, bucket_ms, p90_us, probes, e4xx, e5xx, e503, e504
             FROM baseline_rollups
             WHERE exchange = ?1 AND endpoint = ?2 AND metric = ?3 AND width_ms = ?4
                 AND bucket_ms >= (SELECT MAX(bucket_ms) FROM baseline_rollups
                     WHERE exchange = ?1 AND endpoint = ?2 AND metric = ?3 AND width_ms = ?4) - ?5
             ORDER BY bucket_ms, model",
        )?;
        let mut rows = stmt.query(params![
            &*series.exchange,
            &*series.endpoint,
            series.metric.as_str(),
            width_ms,
            keep_ms
        ])?;
        let (mut out, mut skipped) = (Vec::new(), Vec::new());
        while let Some(row) = rows.next()? {
            let model = row.get_ref(0)?.as_str().unwrap_or("").to_owned();
            let start_ms = row.get_ref(1)?.as_i64().unwrap_or(-1);
            match decode_rollup(&model, row).filter(|_| start_ms.rem_euclid(width_ms) == 0) {
                Some(r) => out.push((start_ms, r)),
                None => skipped.push((model, start_ms)),
            }
        }
        if let Some((model, bucket_ms)) = skipped.first() {
            tracing::warn!(
                series = %series,
                skipped = skipped.len(),
                model,
                bucket_ms,
                "Unreadable baseline rollups skipped; the baseline warm-starts without them."
            );
        }
        Ok(out)
    }
}

/// A rollup from its row (columns 2.. of [`Store::load_rollups`]'s query), `None` when it
/// cannot be one.
fn decode_rollup(model: &str, row: &rusqlite::Row<'_>) -> Option<Rollup> {
    let count = |i: usize| -> Option<u32> {
        let v = row.get_ref(i).ok()?.as_i64().ok()?;
        u32::try_from(v).ok()
    };
    match model {
        "p90" => {
            let us = row.get_ref(2).ok()?.as_i64().ok()?;
            (us > 0).then(|| Rollup::P90(us as f64 / 1000.0))
        }
        "errors" => {
            let total = count(3)?;
            let errors = [count(4)?, count(5)?, count(6)?, count(7)?];
            let sane = total > 0 && errors.iter().all(|&e| e <= total);
            sane.then_some(Rollup::Errors(ErrorCounts { total, errors }))
        }
        _ => None,
    }
}

/// An alert from its payload, with its exact (millisecond) timestamps restored.
fn decode(payload: &str, at_ms: i64, started_at_ms: i64) -> Result<Alert, StoreError> {
    let mut alert: Alert = serde_json::from_str(payload)?;
    alert.at = Timestamp(at_ms);
    alert.started_at = Timestamp(started_at_ms);
    Ok(alert)
}

/// Where a page of events continues: just after the event at (`at_ms`, `seq`) in newest-first
/// order. Keyset, not offset: alerts stored while a client pages are never skipped or repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    /// The event time of the last event of the previous page, ms.
    pub at_ms: i64,
    /// Its `seq` (ties on `at_ms` are broken by it).
    pub seq: i64,
}

/// Which stored alerts [`Store::query_events`] returns. `None` means any.
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
}

/// A page of events, newest first, and where the next one starts.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    /// The events.
    pub events: Vec<StoredEvent>,
    /// The cursor of the next page; `None` when this is the last.
    pub next: Option<EventCursor>,
}

/// The payload fields the events API shows that have no column of their own. Every field is
/// optional so that an old or odd payload still gives a row.
#[derive(Debug, Default, serde::Deserialize)]
struct PayloadBits {
    #[serde(default)]
    detector: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    in_reply_to: Option<String>,
}

fn parse_kind(s: &str) -> Option<AlertKind> {
    Some(match s {
        "firing" => AlertKind::Firing,
        "resolved" => AlertKind::Resolved,
        "triage" => AlertKind::Triage,
        _ => return None,
    })
}

/// The most rows one events query returns, whatever the caller asks.
pub const MAX_EVENTS_PAGE: usize = 500;

impl Store {
    /// The stored alerts `filter` selects, newest first (by event time, then `seq`), each with
    /// its deliveries and triage text. One indexed range scan over `alerts` (see migration
    /// v3), then a primary-key lookup of deliveries and an index lookup of triage per row.
    pub fn query_events(&self, filter: &EventFilter) -> Result<EventPage, StoreError> {
        use rusqlite::types::Value;
        let limit = filter.limit.clamp(1, MAX_EVENTS_PAGE);
        let mut sql = String::from(
            "SELECT seq, id, kind, severity, exchange, endpoint, metric, title, payload, at_ms,
                    silenced, EXISTS (SELECT 1 FROM acks WHERE acks.alert_id = alerts.id)
             FROM alerts WHERE 1 = 1",
        );
        let mut args: Vec<Value> = Vec::new();
        let mut and = |clause: &str, values: Vec<Value>| {
            sql.push_str(" AND ");
            sql.push_str(clause);
            args.extend(values);
        };
        if let Some(e) = &filter.exchange {
            and("exchange = ?", vec![Value::Text(e.clone())]);
        }
        if let Some(e) = &filter.endpoint {
            and("endpoint = ?", vec![Value::Text(e.clone())]);
        }
        if let Some(m) = filter.metric {
            and("metric = ?", vec![Value::Text(m.as_str().into())]);
        }
        if let Some(min) = filter.min_severity {
            let wanted: Vec<Value> = [Severity::Info, Severity::Warning, Severity::Critical]
                .into_iter()
                .filter(|s| *s >= min)
                .map(|s| Value::Text(s.as_str().into()))
                .collect();
            let marks = vec!["?"; wanted.len()].join(", ");
            and(&format!("severity IN ({marks})"), wanted);
        }
        if let Some(k) = filter.kind {
            and("kind = ?", vec![Value::Text(k.as_str().into())]);
        }
        if let Some(t) = filter.since {
            and("at_ms >= ?", vec![Value::Integer(t.as_millis())]);
        }
        if let Some(t) = filter.until {
            and("at_ms <= ?", vec![Value::Integer(t.as_millis())]);
        }
        if let Some(c) = filter.after {
            and(
                "(at_ms, seq) < (?, ?)",
                vec![Value::Integer(c.at_ms), Value::Integer(c.seq)],
            );
        }
        // One more than asked: whether a next page exists, without a COUNT.
        sql.push_str(" ORDER BY at_ms DESC, seq DESC LIMIT ?");
        args.push(Value::Integer(limit as i64 + 1));

        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
                r.get::<_, i64>(9)?,
                (r.get::<_, bool>(10)?, r.get::<_, bool>(11)?),
            ))
        })?;
        let mut page = EventPage::default();
        let mut more = false;
        for row in rows {
            let (
                seq,
                id,
                kind,
                severity,
                exchange,
                endpoint,
                metric,
                title,
                payload,
                at_ms,
                (silenced, acked),
            ) = row?;
            if page.events.len() == limit {
                more = true;
                break;
            }
            let bits: PayloadBits = serde_json::from_str(&payload).unwrap_or_else(|e| {
                tracing::warn!(alert = %id, error = %e, "Stored alert payload unreadable; shown from its columns.");
                PayloadBits::default()
            });
            page.events.push(StoredEvent {
                seq,
                silenced,
                acked,
                kind: parse_kind(&kind).unwrap_or(AlertKind::Firing),
                severity: Severity::parse(&severity).unwrap_or(Severity::Info),
                at: Timestamp(at_ms),
                exchange,
                endpoint,
                metric,
                detector: bits.detector.unwrap_or_default(),
                title,
                message: bits.message.unwrap_or_default(),
                value: bits.value.filter(|v| v.is_finite()),
                in_reply_to: bits.in_reply_to,
                deliveries: Vec::new(),
                triage: None,
                id,
            });
        }
        drop(stmt);
        if more {
            page.next = page.events.last().map(|e| EventCursor {
                at_ms: e.at.as_millis(),
                seq: e.seq,
            });
        }
        let mut deliveries = self.conn.prepare_cached(
            "SELECT channel, state, attempts, last_error FROM deliveries
             WHERE alert_id = ?1 ORDER BY channel",
        )?;
        let mut triage = self.conn.prepare_cached(
            "SELECT json_extract(payload, '$.message') FROM alerts
             WHERE kind = 'triage' AND json_extract(payload, '$.in_reply_to') = ?1
             ORDER BY seq DESC LIMIT 1",
        )?;
        for e in &mut page.events {
            let rows = deliveries.query_map(params![e.id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u32>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            for row in rows {
                let (channel, state, attempts, last_error) = row?;
                if let Some(state) = DeliveryState::parse(&state) {
                    e.deliveries.push(EventDelivery {
                        channel,
                        state,
                        attempts,
                        last_error,
                    });
                }
            }
            if e.kind != AlertKind::Triage {
                e.triage = triage
                    .query_row(params![e.id], |r| r.get::<_, Option<String>>(0))
                    .optional()?
                    .flatten();
            }
        }
        Ok(page)
    }
}

/// Inserts `alert` into `alerts` (`silenced`: a silence kept it from the channels); returns
/// its `seq`. The one place that writes the table's columns. A sent alert leaves `silenced`
/// to its default, so the statement also fits a schema from before the column (v5).
fn insert_alert(conn: &Connection, alert: &Alert, silenced: bool) -> Result<i64, StoreError> {
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
    use crate::messages::{AlertKind, Metric, SeriesKey, Severity, Stats, new_id};

    fn alert(exchange: &str, at_ms: i64) -> Alert {
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

    fn ids(pending: &[PendingAlert]) -> Vec<String> {
        pending.iter().map(|p| p.alert.id.to_string()).collect()
    }

    #[test]
    fn store_enqueue_pending_and_marks() {
        let mut s = Store::open(":memory:").expect("open");
        assert_eq!(s.max_seq().expect("seq"), 0);
        let (a, b, c) = (
            alert("okx", 1_795_000_000_123),
            alert("bybit", 1_795_000_001_456),
            alert("binance", 1_795_000_002_789),
        );
        s.enqueue(&a, &["hook", "log"]).expect("a");
        s.enqueue(&b, &["hook"]).expect("b");
        let seq_c = s.enqueue(&c, &["log"]).expect("c");
        assert_eq!(s.max_seq().expect("seq"), seq_c);

        let hook = s.pending("hook", None).expect("pending");
        assert_eq!(ids(&hook), [a.id.to_string(), b.id.to_string()]);
        // Exact timestamps come back from the columns, not the second-precision payload.
        assert_eq!(hook[0].alert.at, a.at);
        assert_eq!(hook[0].alert.started_at, a.started_at);
        assert_eq!(hook[0].alert.title, a.title);
        assert_eq!(hook[0].attempts, 0);

        s.record_attempt(&a.id, "hook", 1, AttemptOutcome::Retry, "HTTP 503", a.at)
            .expect("attempt");
        s.record_attempt(&a.id, "hook", 2, AttemptOutcome::Retry, "HTTP 503", a.at)
            .expect("attempt");
        let hook = s.pending("hook", None).expect("pending");
        assert_eq!(hook[0].attempts, 2);

        s.mark_delivered(&a.id, "hook", a.at).expect("delivered");
        s.mark_failed(&b.id, "hook", "HTTP 400", b.at)
            .expect("failed");
        assert!(s.pending("hook", None).expect("pending").is_empty());
        assert_eq!(
            ids(&s.pending("log", None).expect("pending")),
            [a.id.to_string(), c.id.to_string()]
        );
        // Only what was enqueued before a given seq.
        assert_eq!(
            ids(&s.pending("log", Some(seq_c)).expect("pending")),
            [a.id.to_string()]
        );
        assert_eq!(
            s.delivery_state(&a.id, "hook").expect("state"),
            Some(DeliveryState::Delivered)
        );
        assert_eq!(
            s.delivery_state(&b.id, "hook").expect("state"),
            Some(DeliveryState::Failed)
        );
        let counts: Vec<(String, DeliveryState, u64)> = s
            .delivery_counts()
            .expect("counts")
            .into_iter()
            .map(|c| (c.channel, c.state, c.count))
            .collect();
        assert_eq!(
            counts,
            [
                ("hook".to_string(), DeliveryState::Delivered, 1),
                ("hook".to_string(), DeliveryState::Failed, 1),
                ("log".to_string(), DeliveryState::Pending, 2),
            ]
        );
        let recent = s.recent_alerts(2).expect("recent");
        assert_eq!(
            recent.iter().map(|a| a.id.clone()).collect::<Vec<_>>(),
            [c.id.clone(), b.id.clone()]
        );
    }

    #[test]
    fn store_enqueue_is_one_transaction() {
        let mut s = Store::open(":memory:").expect("open");
        let a = alert("okx", 1_795_000_000_000);
        // A duplicate channel violates the delivery's primary key: nothing may remain.
        assert!(s.enqueue(&a, &["hook", "hook"]).is_err());
        assert_eq!(s.max_seq().expect("seq"), 0);
        assert!(s.pending("hook", None).expect("pending").is_empty());
        assert!(s.recent_alerts(10).expect("recent").is_empty());
    }

    #[test]
    fn store_keeps_anomalies_and_resolutions() {
        let mut s = Store::open(":memory:").expect("open");
        let series = SeriesKey::new("okx", "time", Metric::ClockSkewMs);
        s.record_anomaly(&Anomaly {
            series: series.clone(),
            detector: "clock_skew".into(),
            severity: Severity::Warning,
            value: 900.0,
            threshold: 500.0,
            confidence: 1.0,
            message: "skew".into(),
            started_at: Timestamp(1_000),
            at: Timestamp(2_000),
            stats: Stats::default(),
        })
        .expect("anomaly");
        s.record_resolved(&Resolved {
            series,
            at: Timestamp(3_000),
            stats: Stats::default(),
        })
        .expect("resolved");
        let rows: Vec<(String, Option<String>, i64)> = s
            .conn
            .prepare("SELECT kind, severity, at_ms FROM anomalies ORDER BY id")
            .expect("prepare")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                ("firing".into(), Some("warning".into()), 2_000),
                ("resolved".into(), None, 3_000),
            ]
        );
    }

    #[test]
    fn store_file_is_wal_and_reopening_keeps_pending() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.db");
        let path = path.to_str().expect("utf-8");
        let a = alert("okx", 1_795_000_000_000);
        {
            let mut s = Store::open(path).expect("open");
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
        let s = Store::open(path).expect("reopen");
        let pending = s.pending("hook", None).expect("pending");
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
            let mut s = Store {
                conn: Connection::open(path).expect("open"),
                path: path.to_owned(),
            };
            s.migrate(&MIGRATIONS[..1]).expect("v1");
            assert_eq!(s.schema_version().expect("version"), 1);
            s.enqueue(&a, &["hook"]).expect("enqueue");
        }
        let index_count = |s: &Store| -> i64 {
            s.conn
                .query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'deliveries_pending'",
                    [],
                    |r| r.get(0),
                )
                .expect("count")
        };
        let s = Store::open(path).expect("migrate");
        assert_eq!(
            s.schema_version().expect("version"),
            MIGRATIONS.len() as u32
        );
        assert_eq!(index_count(&s), 1);
        assert_eq!(
            ids(&s.pending("hook", None).expect("pending")),
            [a.id.to_string()]
        );
        drop(s);
        let s = Store::open(path).expect("reopen");
        assert_eq!(
            s.schema_version().expect("version"),
            MIGRATIONS.len() as u32
        );
        assert_eq!(index_count(&s), 1);
        assert_eq!(s.pending("hook", None).expect("pending").len(), 1);
    }

    #[test]
    fn store_refuses_a_newer_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("new.db");
        let path = path.to_str().expect("utf-8");
        Store::open(path).expect("create");
        Connection::open(path)
            .expect("open")
            .pragma_update(None, "user_version", 99)
            .expect("bump");
        let e = Store::open(path).expect_err("too new");
        assert!(matches!(e, StoreError::TooNew { found: 99, .. }), "{e}");
    }

    #[test]
    fn store_open_error_names_the_path() {
        let e = Store::open("/nonexistent-dir-exwatch/x.db").expect_err("no dir");
        assert!(
            e.to_string().contains("/nonexistent-dir-exwatch/x.db"),
            "{e}"
        );
    }

    const MIN: i64 = 60_000;
    const SIX_HOURS: i64 = 6 * 60 * MIN;

    fn counts(total: u32, e5xx: u32) -> ErrorCounts {
        ErrorCounts {
            total,
            errors: [0, e5xx, e5xx, 0],
        }
    }

    #[test]
    fn store_rollups_round_trip_per_series_oldest_first() {
        let mut s = Store::open(":memory:").expect("open");
        let lat = SeriesKey::new("okx", "time", Metric::LatencyMs);
        let err = SeriesKey::new("okx", "time", Metric::Errors);
        let t0 = 1_795_000_000_000 / MIN * MIN;
        for i in (0..3).rev() {
            let p90 = Rollup::P90(42.5 + i as f64);
            s.save_rollup(&lat, t0 + i * MIN, MIN, &p90, SIX_HOURS)
                .expect("save");
        }
        let e = Rollup::Errors(counts(60, 3));
        s.save_rollup(&err, t0, MIN, &e, SIX_HOURS).expect("save");
        // An upsert: the same bucket again replaces it.
        let e = Rollup::Errors(counts(61, 4));
        s.save_rollup(&err, t0, MIN, &e, SIX_HOURS).expect("save");
        assert_eq!(
            s.load_rollups(&lat, MIN, SIX_HOURS).expect("load"),
            [
                (t0, Rollup::P90(42.5)),
                (t0 + MIN, Rollup::P90(43.5)),
                (t0 + 2 * MIN, Rollup::P90(44.5))
            ]
        );
        assert_eq!(
            s.load_rollups(&err, MIN, SIX_HOURS).expect("load"),
            [(t0, e)]
        );
        assert!(
            s.load_rollups(&lat, 5 * MIN, SIX_HOURS)
                .expect("load")
                .is_empty(),
            "another bucket width starts cold"
        );
        let other = SeriesKey::new("bybit", "time", Metric::LatencyMs);
        assert!(
            s.load_rollups(&other, MIN, SIX_HOURS)
                .expect("load")
                .is_empty()
        );
    }

    #[test]
    fn store_rollups_older_than_the_history_are_pruned_on_write() {
        let mut s = Store::open(":memory:").expect("open");
        let lat = SeriesKey::new("okx", "time", Metric::LatencyMs);
        let keep = 60 * MIN;
        for i in 0..180 {
            s.save_rollup(&lat, i * MIN, MIN, &Rollup::P90(50.0), keep)
                .expect("save");
        }
        let rows: i64 = s
            .conn
            .query_row("SELECT COUNT(*) FROM baseline_rollups", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 61, "buckets 119..=179");
        let loaded = s.load_rollups(&lat, MIN, keep).expect("load");
        assert_eq!(loaded.len(), 61);
        assert_eq!(loaded[0].0, 119 * MIN);
        // Loading keeps to the history too, whatever was written with a longer one.
        assert_eq!(s.load_rollups(&lat, MIN, 10 * MIN).expect("load").len(), 11);
    }

    /// Bytes of database pages one series' six hours of one-minute rollups take (measured in
    /// memory: the same pages as a file once its WAL is checkpointed).
    #[test]
    fn store_six_hours_of_rollups_stay_small() {
        let size = |s: &Store| -> i64 {
            let pages: i64 = s
                .conn
                .pragma_query_value(None, "page_count", |r| r.get(0))
                .expect("pages");
            let page: i64 = s
                .conn
                .pragma_query_value(None, "page_size", |r| r.get(0))
                .expect("page size");
            pages * page
        };
        let mut s = Store::open(":memory:").expect("open");
        let empty = size(&s);
        let series = 20;
        for k in 0..series {
            let lat = SeriesKey::new("binance", format!("endpoint{k}"), Metric::LatencyMs);
            let err = SeriesKey::new("binance", format!("endpoint{k}"), Metric::Errors);
            for i in 0..360 {
                let p90 = Rollup::P90(40.0 + ((i * 7919) % 50) as f64 * 0.37);
                s.save_rollup(&lat, i * MIN, MIN, &p90, SIX_HOURS)
                    .expect("save");
                let e = Rollup::Errors(counts(6, u32::from(i % 97 == 0)));
                s.save_rollup(&err, i * MIN, MIN, &e, SIX_HOURS)
                    .expect("save");
            }
        }
        let per_series = (size(&s) - empty) / (2 * series);
        eprintln!("six hours of one-minute rollups: {per_series} bytes per series");
        assert!(per_series < 32 * 1024, "{per_series} bytes per series");
    }

    #[test]
    fn store_skips_unreadable_rollups_with_a_warning() {
        let mut s = Store::open(":memory:").expect("open");
        let lat = SeriesKey::new("okx", "time", Metric::LatencyMs);
        for i in 0..4 {
            s.save_rollup(&lat, i * MIN, MIN, &Rollup::P90(50.0), SIX_HOURS)
                .expect("save");
        }
        // What a future version or a hand edit could leave: an unknown model, text where a
        // number belongs, a negative count, more errors than probes, a misaligned bucket.
        for sql in [
            "UPDATE baseline_rollups SET model = 'p99' WHERE bucket_ms = 0",
            "UPDATE baseline_rollups SET p90_us = 'fast' WHERE bucket_ms = 60000",
            "INSERT INTO baseline_rollups VALUES
                 ('okx', 'time', 'latency_ms', 'errors', 240000, 60000, NULL, -1, 0, 0, 0, 0),
                 ('okx', 'time', 'latency_ms', 'errors', 300000, 60000, NULL, 5, 0, 9, 0, 0),
                 ('okx', 'time', 'latency_ms', 'p90', 360001, 60000, 50000, NULL, NULL, NULL,
                  NULL, NULL)",
        ] {
            s.conn.execute_batch(sql).expect("corrupt");
        }
        let loaded = s.load_rollups(&lat, MIN, SIX_HOURS).expect("no error");
        assert_eq!(
            loaded,
            [(2 * MIN, Rollup::P90(50.0)), (3 * MIN, Rollup::P90(50.0))]
        );
    }

    #[test]
    fn store_skips_and_fails_an_unreadable_row_and_resumes_the_rest() {
        let mut s = Store::open(":memory:").expect("open");
        let mut bad = alert("okx", 1_795_000_000_123);
        bad.value = f64::NAN; // written as null: reads back as NaN
        let good = alert("bybit", 1_795_000_001_456);
        s.enqueue(&bad, &["hook"]).expect("stored");
        s.enqueue(&good, &["hook"]).expect("stored");
        // Corrupt one payload by hand: what a future format change could do.
        s.conn
            .execute(
                "UPDATE alerts SET payload = '{\"not\": \"an alert\"}' WHERE id = ?1",
                params![good.id.to_string()],
            )
            .expect("corrupt");
        let pending = s.pending("hook", None).expect("pending works");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].alert.id, bad.id);
        assert!(pending[0].alert.value.is_nan());
        let again = s.pending("hook", None).expect("pending works");
        assert_eq!(again.len(), 1, "the unreadable one was marked failed");
    }

    fn page_ids(page: &EventPage) -> Vec<String> {
        page.events.iter().map(|e| e.id.clone()).collect()
    }

    #[test]
    fn store_events_newest_first_filtered_paged_with_deliveries_and_triage() {
        let mut s = Store::open(":memory:").expect("open");
        let mut a = alert("okx", 1_795_000_000_000);
        a.severity = Severity::Warning;
        let b = alert("bybit", 1_795_000_002_000);
        // Same event time as b, stored later: the tie is broken by seq.
        let c = alert("okx", 1_795_000_002_000);
        s.enqueue(&a, &["hook", "log"]).expect("a");
        s.enqueue(&b, &["hook"]).expect("b");
        s.enqueue(&c, &[]).expect("c");
        let mut t = alert("okx", 1_795_000_003_000);
        t.kind = AlertKind::Triage;
        t.message = "cause: throttling".into();
        t.in_reply_to = Some(a.id.clone());
        s.enqueue(&t, &["hook"]).expect("t");
        s.record_attempt(&a.id, "hook", 1, AttemptOutcome::Retry, "HTTP 503", a.at)
            .expect("attempt");
        s.mark_failed(&a.id, "hook", "HTTP 503", a.at)
            .expect("failed");
        s.mark_delivered(&a.id, "log", a.at).expect("delivered");

        let all = s
            .query_events(&EventFilter {
                limit: 10,
                ..EventFilter::default()
            })
            .expect("query");
        assert_eq!(
            page_ids(&all),
            [&t.id, &c.id, &b.id, &a.id].map(|s| s.to_string())
        );
        assert_eq!(all.next, None);
        let ea = &all.events[3];
        assert_eq!(ea.triage.as_deref(), Some("cause: throttling"));
        assert_eq!(ea.value, Some(2500.0));
        assert_eq!(ea.detector, "clock_skew");
        assert_eq!(
            ea.deliveries,
            [
                EventDelivery {
                    channel: "hook".into(),
                    state: DeliveryState::Failed,
                    attempts: 1,
                    last_error: Some("HTTP 503".into()),
                },
                EventDelivery {
                    channel: "log".into(),
                    state: DeliveryState::Delivered,
                    attempts: 0,
                    last_error: None,
                },
            ]
        );
        assert_eq!(all.events[0].in_reply_to.as_deref(), Some(&*a.id));
        assert_eq!(all.events[0].triage, None);

        let q = |f: EventFilter| page_ids(&s.query_events(&f).expect("query"));
        assert_eq!(
            q(EventFilter {
                exchange: Some("okx".into()),
                kind: Some(AlertKind::Firing),
                limit: 10,
                ..EventFilter::default()
            }),
            [c.id.to_string(), a.id.to_string()]
        );
        assert_eq!(
            q(EventFilter {
                min_severity: Some(Severity::Critical),
                until: Some(Timestamp(1_795_000_002_000)),
                limit: 10,
                ..EventFilter::default()
            }),
            [c.id.to_string(), b.id.to_string()]
        );

        // Pages of two: every row exactly once, also with a newer alert stored in between.
        let first = s
            .query_events(&EventFilter {
                limit: 2,
                ..EventFilter::default()
            })
            .expect("page 1");
        s.enqueue(&alert("binance", 1_795_000_009_000), &[])
            .expect("newer");
        let second = s
            .query_events(&EventFilter {
                limit: 2,
                after: first.next,
                ..EventFilter::default()
            })
            .expect("page 2");
        assert_eq!(page_ids(&first), [t.id.to_string(), c.id.to_string()]);
        assert_eq!(page_ids(&second), [b.id.to_string(), a.id.to_string()]);
        assert_eq!(second.next, None, "exactly two pages");
    }

    #[test]
    fn store_events_query_uses_the_indexes() {
        let s = Store::open(":memory:").expect("open");
        let plan = |sql: &str| -> String {
            let mut stmt = s
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plan");
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .expect("rows")
                .collect::<Result<Vec<_>, _>>()
                .expect("rows");
            rows.join("; ")
        };
        let p = plan(
            "SELECT seq FROM alerts WHERE 1 = 1 AND exchange = 'okx' AND at_ms >= 5
             AND (at_ms, seq) < (9, 3) ORDER BY at_ms DESC, seq DESC LIMIT 11",
        );
        assert!(p.contains("alerts_exchange_at"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "no sort: {p}");
        let p = plan(
            "SELECT seq FROM alerts WHERE 1 = 1 AND (at_ms, seq) < (9, 3)
             ORDER BY at_ms DESC, seq DESC LIMIT 11",
        );
        assert!(p.contains("alerts_at"), "{p}");
        assert!(!p.contains("TEMP B-TREE"), "no sort: {p}");
        let p = plan(
            "SELECT json_extract(payload, '$.message') FROM alerts
             WHERE kind = 'triage' AND json_extract(payload, '$.in_reply_to') = 'x'
             ORDER BY seq DESC LIMIT 1",
        );
        assert!(p.contains("alerts_triage_reply"), "{p}");
    }
}
