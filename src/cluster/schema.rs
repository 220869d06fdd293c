//! The shared schema in PostgreSQL and its versioned migrations: [`MIGRATIONS`] in order,
//! the version in `exwatch_schema`, applied at start under an advisory lock (two instances
//! starting together migrate once). A database whose version is newer than this binary knows
//! is refused, as the SQLite store refuses one.
//!
//! Tables: `exwatch_events` (every vantage's alerts, anomalies and resolutions, keyed by
//! region and id, so a backfill after an outage never doubles a row), `exwatch_deliveries`
//! (each alert's per-channel state), `exwatch_vantages` (each vantage's heartbeat and its own
//! health) and `exwatch_verdicts` (each vantage's current verdict on each exchange).

use tokio_postgres::Client;

use crate::cluster::ClusterError;

/// The channel `LISTEN`ed to: a vantage's verdicts changed.
pub const VERDICTS_CHANNEL: &str = "exwatch_verdicts";

/// The advisory lock key migrations run under.
const MIGRATION_LOCK: i64 = 0x0065_7877_6174_6368;

/// Each schema version's statements, in order: version `i + 1` is `MIGRATIONS[i]`.
pub const MIGRATIONS: &[&str] = &[r"
CREATE TABLE exwatch_events (
    seq         bigserial,
    region      text    NOT NULL,
    id          text    NOT NULL,
    record      text    NOT NULL,
    kind        text    NOT NULL,
    at_ms       bigint  NOT NULL,
    exchange    text    NOT NULL,
    endpoint    text    NOT NULL,
    metric      text    NOT NULL,
    severity    text    NOT NULL,
    detector    text    NOT NULL,
    title       text    NOT NULL,
    message     text    NOT NULL,
    silenced    boolean NOT NULL,
    body        jsonb,
    written_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region, id)
);
CREATE INDEX exwatch_events_at ON exwatch_events (at_ms DESC, seq DESC);
CREATE INDEX exwatch_events_exchange ON exwatch_events (exchange, at_ms DESC);
CREATE TABLE exwatch_deliveries (
    region      text    NOT NULL,
    alert_id    text    NOT NULL,
    channel     text    NOT NULL,
    state       text    NOT NULL,
    attempts    integer NOT NULL,
    last_error  text,
    at_ms       bigint  NOT NULL,
    PRIMARY KEY (region, alert_id, channel)
);
CREATE TABLE exwatch_vantages (
    region       text        PRIMARY KEY,
    self_healthy boolean     NOT NULL,
    last_seen    timestamptz NOT NULL
);
CREATE TABLE exwatch_verdicts (
    region      text        NOT NULL,
    exchange    text        NOT NULL,
    state       text        NOT NULL,
    observed_ms bigint      NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (region, exchange)
);
"];

/// Brings the schema to the newest version this binary knows; refuses a newer one. Returns
/// the version.
pub async fn migrate(client: &mut Client) -> Result<usize, ClusterError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS exwatch_schema (version integer NOT NULL)")
        .await?;
    let row = tx
        .query_opt("SELECT version FROM exwatch_schema LIMIT 1", &[])
        .await?;
    let version = match row {
        Some(r) => usize::try_from(r.get::<_, i32>(0)).unwrap_or(0),
        None => {
            tx.execute("INSERT INTO exwatch_schema (version) VALUES (0)", &[])
                .await?;
            0
        }
    };
    if version > MIGRATIONS.len() {
        return Err(ClusterError::NewerSchema {
            found: version,
            known: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).await?;
        let v = i32::try_from(i + 1).unwrap_or(i32::MAX);
        tx.execute("UPDATE exwatch_schema SET version = $1", &[&v])
            .await?;
    }
    tx.commit().await?;
    Ok(MIGRATIONS.len())
}
