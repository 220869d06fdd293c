//! The writer: one task on the cluster's thread that moves the [`Backlog`] to PostgreSQL in
//! batches (one transaction each, `UNNEST` arrays, idempotent on (region, id) so a batch
//! retried after a failure never doubles a row), and upserts the vantage's heartbeat and
//! verdicts, with a `NOTIFY` when a verdict changed. PostgreSQL away: the batch goes back to
//! the front of the backlog, [`Health`] says so (`exwatch_cluster_up` 0, `/readyz`'s
//! `cluster`), and the writer reconnects with back-off (migrating again first) and backfills.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio_postgres::{Client, NoTls};

use crate::cluster::backlog::Backlog;
use crate::cluster::rows::{DeliveryRow, EventRow, Row, Verdicts};
use crate::cluster::schema::{VERDICTS_CHANNEL, migrate};
use crate::cluster::{ClusterError, redact};
use crate::config::Secret;
use crate::metrics::{Counter, Gauge, Metrics};

/// Rows per transaction.
pub const BATCH: usize = 2_000;

/// The longest a connection attempt, or one batch's transaction, may take.
pub const PG_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Whether the shared PostgreSQL answers, and why not.
pub struct Health {
    up: AtomicBool,
    reason: Mutex<Option<String>>,
    gauge: Gauge,
}

impl Health {
    /// Not up yet ("connecting").
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            up: AtomicBool::new(false),
            reason: Mutex::new(Some("connecting".into())),
            gauge: metrics.gauge("exwatch_cluster_up", &[]),
        }
    }

    /// Whether the last write (or connection) succeeded.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Why it is not up.
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().clone()
    }

    fn set_up(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!("The shared PostgreSQL answers.");
        }
        *self.reason.lock() = None;
        self.gauge.set(1.0);
    }

    fn set_down(&self, reason: String) {
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(%reason, "The shared PostgreSQL is unreachable; writes queue.");
        }
        *self.reason.lock() = Some(reason);
        self.gauge.set(0.0);
    }
}

/// Opens one connection, its driving task spawned on the current runtime.
pub async fn connect(config: &tokio_postgres::Config) -> Result<Client, ClusterError> {
    let (client, conn) = tokio::time::timeout(PG_TIMEOUT, config.connect(NoTls))
        .await
        .map_err(|_| ClusterError::Timeout(PG_TIMEOUT))??;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "A PostgreSQL connection ended.");
        }
    });
    Ok(client)
}

/// Moves the backlog to PostgreSQL. See the module docs.
pub struct Writer {
    /// Where.
    pub config: tokio_postgres::Config,
    /// The URL, to redact errors with.
    pub secret: Secret,
    /// This vantage.
    pub region: String,
    /// What waits.
    pub backlog: Arc<Backlog>,
    /// What it says of PostgreSQL.
    pub health: Arc<Health>,
    /// `exwatch_cluster_rows_written_total`.
    pub written: Counter,
}

impl Writer {
    /// Builds the writer's counters from `metrics`.
    pub fn written_counter(metrics: &Metrics) -> Counter {
        metrics.counter("exwatch_cluster_rows_written_total", &[])
    }

    /// Runs for ever (until its runtime stops).
    pub async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        loop {
            let err = self.session(&mut backoff).await;
            let reason = redact(&self.secret, &err);
            if matches!(err, ClusterError::NewerSchema { .. }) {
                tracing::error!(%reason, "The shared PostgreSQL is refused.");
            }
            self.health.set_down(reason);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection's life: connect, migrate, write until something fails.
    async fn session(&self, backoff: &mut Duration) -> ClusterError {
        let mut client = match connect(&self.config).await {
            Ok(c) => c,
            Err(e) => return e,
        };
        if let Err(e) = migrate(&mut client).await {
            return e;
        }
        self.health.set_up();
        *backoff = Duration::from_millis(100);
        let mut last: Option<Verdicts> = None;
        loop {
            let (rows, verdicts) = self.backlog.take(BATCH);
            if rows.is_empty() && verdicts.is_none() {
                tokio::select! {
                    () = self.backlog.wait() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {
                        // An idle connection is proven alive now and then.
                        if let Err(e) = client.simple_query("SELECT 1").await {
                            return e.into();
                        }
                    }
                }
                continue;
            }
            let notify = verdicts.as_ref().is_some_and(|v| {
                last.as_ref().is_none_or(|l| {
                    l.self_healthy != v.self_healthy
                        || l.verdicts.len() != v.verdicts.len()
                        || l.verdicts
                            .iter()
                            .zip(&v.verdicts)
                            .any(|(a, b)| a.exchange != b.exchange || a.state != b.state)
                })
            });
            let write = self.write(&mut client, &rows, verdicts.as_ref(), notify);
            match tokio::time::timeout(PG_TIMEOUT, write).await {
                Ok(Ok(())) => {
                    self.backlog.written();
                    self.written.add(rows.len() as u64);
                    if verdicts.is_some() {
                        last = verdicts;
                    }
                    self.health.set_up();
                }
                Ok(Err(e)) => {
                    self.backlog.put_back(rows, verdicts);
                    return e;
                }
                Err(_) => {
                    self.backlog.put_back(rows, verdicts);
                    return ClusterError::Timeout(PG_TIMEOUT);
                }
            }
        }
    }

    async fn write(
        &self,
        client: &mut Client,
        rows: &[Row],
        verdicts: Option<&Verdicts>,
        notify: bool,
    ) -> Result<(), ClusterError> {
        let tx = client.transaction().await?;
        let events: Vec<&EventRow> = rows
            .iter()
            .filter_map(|r| match r {
                Row::Event(e) => Some(e),
                Row::Delivery(_) => None,
            })
            .collect();
        if !events.is_empty() {
            insert_events(&tx, &self.region, &events).await?;
        }
        let deliveries = merge_deliveries(rows);
        if !deliveries.is_empty() {
            upsert_deliveries(&tx, &self.region, &deliveries).await?;
        }
        if let Some(v) = verdicts {
            upsert_verdicts(&tx, &self.region, v).await?;
            if notify {
                tx.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&VERDICTS_CHANNEL, &self.region],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_events(
    tx: &tokio_postgres::Transaction<'_>,
    region: &str,
    events: &[&EventRow],
) -> Result<(), ClusterError> {
    let col = |f: fn(&EventRow) -> String| events.iter().map(|e| f(e)).collect::<Vec<String>>();
    let ids = col(|e| e.id.clone());
    let records = col(|e| e.record.to_owned());
    let kinds = col(|e| e.kind.clone());
    let at: Vec<i64> = events.iter().map(|e| e.at_ms).collect();
    let exchanges = col(|e| e.exchange.clone());
    let endpoints = col(|e| e.endpoint.clone());
    let metrics = col(|e| e.metric.clone());
    let severities = col(|e| e.severity.clone());
    let detectors = col(|e| e.detector.clone());
    let titles = col(|e| e.title.clone());
    let messages = col(|e| e.message.clone());
    let silenced: Vec<bool> = events.iter().map(|e| e.silenced).collect();
    let bodies: Vec<Option<String>> = events
        .iter()
        .map(|e| e.body.as_ref().map(ToString::to_string))
        .collect();
    tx.execute(
        "INSERT INTO exwatch_events (region, id, record, kind, at_ms, exchange, endpoint, \
         metric, severity, detector, title, message, silenced, body) \
         SELECT $1, i, r, k, a, x, e, m, s, d, t, msg, sil, b::jsonb FROM UNNEST(\
         $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[], $8::text[], \
         $9::text[], $10::text[], $11::text[], $12::text[], $13::bool[], $14::text[]) \
         AS u(i, r, k, a, x, e, m, s, d, t, msg, sil, b) \
         ON CONFLICT (region, id) DO NOTHING",
        &[
            &region,
            &ids,
            &records,
            &kinds,
            &at,
            &exchanges,
            &endpoints,
            &metrics,
            &severities,
            &detectors,
            &titles,
            &messages,
            &silenced,
            &bodies,
        ],
    )
    .await?;
    Ok(())
}

/// The batch's delivery changes, one per (alert, channel): the latest state, the most
/// attempts, the latest error (one row may not be upserted twice in one statement).
fn merge_deliveries(rows: &[Row]) -> Vec<DeliveryRow> {
    let mut out: Vec<DeliveryRow> = Vec::new();
    let mut at: std::collections::HashMap<(&str, &str), usize> = Default::default();
    for r in rows {
        let Row::Delivery(d) = r else { continue };
        match at.get(&(d.alert_id.as_str(), d.channel.as_str())) {
            Some(&i) => {
                let o = &mut out[i];
                o.state = d.state;
                o.attempts = o.attempts.max(d.attempts);
                if d.error.is_some() {
                    o.error = d.error.clone();
                }
                o.at_ms = o.at_ms.max(d.at_ms);
            }
            None => {
                at.insert((&d.alert_id, &d.channel), out.len());
                out.push(d.clone());
            }
        }
    }
    out
}

async fn upsert_deliveries(
    tx: &tokio_postgres::Transaction<'_>,
    region: &str,
    ds: &[DeliveryRow],
) -> Result<(), ClusterError> {
    let alerts: Vec<&str> = ds.iter().map(|d| d.alert_id.as_str()).collect();
    let channels: Vec<&str> = ds.iter().map(|d| d.channel.as_str()).collect();
    let states: Vec<&str> = ds.iter().map(|d| d.state.as_str()).collect();
    let attempts: Vec<i32> = ds
        .iter()
        .map(|d| i32::try_from(d.attempts).unwrap_or(i32::MAX))
        .collect();
    let errors: Vec<Option<&str>> = ds.iter().map(|d| d.error.as_deref()).collect();
    let at: Vec<i64> = ds.iter().map(|d| d.at_ms).collect();
    tx.execute(
        "INSERT INTO exwatch_deliveries (region, alert_id, channel, state, attempts, \
         last_error, at_ms) \
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::int4[], \
         $6::text[], $7::int8[]) \
         ON CONFLICT (region, alert_id, channel) DO UPDATE SET \
         state = CASE WHEN EXCLUDED.state = 'pending' AND exwatch_deliveries.state <> 'pending' \
                 THEN exwatch_deliveries.state ELSE EXCLUDED.state END, \
         attempts = GREATEST(exwatch_deliveries.attempts, EXCLUDED.attempts), \
         last_error = COALESCE(EXCLUDED.last_error, exwatch_deliveries.last_error), \
         at_ms = GREATEST(exwatch_deliveries.at_ms, EXCLUDED.at_ms)",
        &[
            &region, &alerts, &channels, &states, &attempts, &errors, &at,
        ],
    )
    .await?;
    Ok(())
}

async fn upsert_verdicts(
    tx: &tokio_postgres::Transaction<'_>,
    region: &str,
    v: &Verdicts,
) -> Result<(), ClusterError> {
    tx.execute(
        "INSERT INTO exwatch_vantages (region, self_healthy, last_seen) VALUES ($1, $2, now()) \
         ON CONFLICT (region) DO UPDATE SET self_healthy = EXCLUDED.self_healthy, \
         last_seen = now()",
        &[&region, &v.self_healthy],
    )
    .await?;
    let exchanges: Vec<&str> = v.verdicts.iter().map(|x| x.exchange.as_str()).collect();
    let states: Vec<&str> = v.verdicts.iter().map(|x| x.state.as_str()).collect();
    let observed: Vec<i64> = v.verdicts.iter().map(|x| x.observed_ms).collect();
    tx.execute(
        "INSERT INTO exwatch_verdicts (region, exchange, state, observed_ms, updated_at) \
         SELECT $1, x, s, o, now() FROM UNNEST($2::text[], $3::text[], $4::int8[]) AS u(x, s, o) \
         ON CONFLICT (region, exchange) DO UPDATE SET state = EXCLUDED.state, \
         observed_ms = EXCLUDED.observed_ms, updated_at = now()",
        &[&region, &exchanges, &states, &observed],
    )
    .await?;
    tx.execute(
        "DELETE FROM exwatch_verdicts WHERE region = $1 AND NOT (exchange = ANY($2))",
        &[&region, &exchanges],
    )
    .await?;
    Ok(())
}
