//! One view: every vantage's stored alerts and current verdicts, read back from PostgreSQL
//! for the API (`/api/v1/events` and `/api/v1/status` with `[cluster]` set). Pages are newest
//! first by (event time, the shared table's own sequence), the same keyset cursor as the
//! local store's. Acknowledgements, triage texts and incident groups stay local (each
//! instance's own); the shared rows carry the alert's own fields and its deliveries.

use std::time::Duration;

use tokio_postgres::types::ToSql;

use crate::cluster::ClusterError;
use crate::cluster::rows::VerdictState;
use crate::messages::{AlertKind, Severity, Timestamp};
use crate::store::{
    DeliveryState, EventCursor, EventDelivery, EventFilter, MAX_EVENTS_PAGE, StoredEvent,
};

/// The longest a read may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(3);

/// One stored alert of some vantage.
#[derive(Debug, Clone)]
pub struct SharedEvent {
    /// The vantage that stored it.
    pub region: String,
    /// The alert, as the local store gives it (`seq` is the shared table's).
    pub event: StoredEvent,
}

/// A page of every vantage's alerts, newest first.
#[derive(Debug, Clone, Default)]
pub struct SharedPage {
    /// The events.
    pub events: Vec<SharedEvent>,
    /// Where the next page starts.
    pub next: Option<EventCursor>,
}

/// One vantage's state now.
#[derive(Debug, Clone, PartialEq)]
pub struct VantageState {
    /// The vantage.
    pub region: String,
    /// Its own connectivity holds.
    pub self_healthy: bool,
    /// It reported within `vantage_stale_after`.
    pub fresh: bool,
    /// How long ago it last reported, ms (PostgreSQL's clock).
    pub last_seen_ms_ago: i64,
    /// Its verdict per exchange: (exchange, state, since ms).
    pub verdicts: Vec<(String, VerdictState, i64)>,
}

async fn client(pool: &deadpool_postgres::Pool) -> Result<deadpool_postgres::Object, ClusterError> {
    tokio::time::timeout(READ_TIMEOUT, pool.get())
        .await
        .map_err(|_| ClusterError::Timeout(READ_TIMEOUT))?
        .map_err(|e| ClusterError::Pool(e.to_string()))
}

/// The severities at or above `min`.
fn severities_from(min: Severity) -> Vec<String> {
    [Severity::Info, Severity::Warning, Severity::Critical]
        .into_iter()
        .filter(|s| *s >= min)
        .map(|s| s.as_str().to_owned())
        .collect()
}

/// Every vantage's stored alerts matching `f` (its `group` is ignored: incidents are local)
/// and, when given, stored by `region`.
pub async fn events(
    pool: &deadpool_postgres::Pool,
    f: &EventFilter,
    region: Option<&str>,
) -> Result<SharedPage, ClusterError> {
    let limit = f.limit.clamp(1, MAX_EVENTS_PAGE);
    let mut sql = String::from(
        "SELECT seq, region, id, at_ms, kind, severity, exchange, endpoint, metric, detector, \
         title, message, silenced, (body->>'value')::float8, body->>'in_reply_to' \
         FROM exwatch_events WHERE record = 'alert'",
    );
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |sql: &mut String, clause: &str, p: Box<dyn ToSql + Sync + Send>| {
        params.push(p);
        sql.push_str(&clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(r) = region {
        add(&mut sql, " AND region = ?", Box::new(r.to_owned()));
    }
    if let Some(x) = &f.exchange {
        add(&mut sql, " AND exchange = ?", Box::new(x.clone()));
    }
    if let Some(e) = &f.endpoint {
        add(&mut sql, " AND endpoint = ?", Box::new(e.clone()));
    }
    if let Some(m) = f.metric {
        add(&mut sql, " AND metric = ?", Box::new(m.as_str().to_owned()));
    }
    if let Some(s) = f.min_severity {
        add(
            &mut sql,
            " AND severity = ANY(?)",
            Box::new(severities_from(s)),
        );
    }
    if let Some(k) = f.kind {
        add(&mut sql, " AND kind = ?", Box::new(k.as_str().to_owned()));
    }
    if let Some(t) = f.since {
        add(&mut sql, " AND at_ms >= ?", Box::new(t.0));
    }
    if let Some(t) = f.until {
        add(&mut sql, " AND at_ms <= ?", Box::new(t.0));
    }
    if let Some(c) = f.after {
        add(&mut sql, " AND (at_ms, seq) < (?", Box::new(c.at_ms));
        add(&mut sql, ", ?)", Box::new(c.seq));
    }
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    add(
        &mut sql,
        " ORDER BY at_ms DESC, seq DESC LIMIT ?",
        Box::new(fetch),
    );
    let client = client(pool).await?;
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
    let rows = tokio::time::timeout(READ_TIMEOUT, client.query(&sql, &refs))
        .await
        .map_err(|_| ClusterError::Timeout(READ_TIMEOUT))??;
    let mut events: Vec<SharedEvent> = rows
        .iter()
        .take(limit)
        .map(|r| SharedEvent {
            region: r.get(1),
            event: StoredEvent {
                seq: r.get(0),
                id: r.get(2),
                at: Timestamp(r.get(3)),
                kind: parse_kind(r.get(4)),
                severity: Severity::parse(r.get(5)).unwrap_or(Severity::Info),
                exchange: r.get(6),
                endpoint: r.get(7),
                metric: r.get(8),
                detector: r.get(9),
                title: r.get(10),
                message: r.get(11),
                silenced: r.get(12),
                value: r.get(13),
                in_reply_to: r.get(14),
                deliveries: Vec::new(),
                triage: None,
                acked: false,
                group: None,
            },
        })
        .collect();
    let next = (rows.len() > limit)
        .then(|| events.last())
        .flatten()
        .map(|e| EventCursor {
            at_ms: e.event.at.0,
            seq: e.event.seq,
        });
    if !events.is_empty() {
        let ids: Vec<String> = events.iter().map(|e| e.event.id.clone()).collect();
        let rows = client
            .query(
                "SELECT region, alert_id, channel, state, attempts, last_error \
                 FROM exwatch_deliveries WHERE alert_id = ANY($1) ORDER BY channel",
                &[&ids],
            )
            .await?;
        for r in rows {
            let (region, id): (String, String) = (r.get(0), r.get(1));
            if let Some(e) = (events.iter_mut()).find(|e| e.region == region && e.event.id == id) {
                e.event.deliveries.push(EventDelivery {
                    channel: r.get(2),
                    state: DeliveryState::parse(r.get(3)).unwrap_or(DeliveryState::Pending),
                    attempts: u32::try_from(r.get::<_, i32>(4)).unwrap_or(0),
                    last_error: r.get(5),
                });
            }
        }
    }
    Ok(SharedPage { events, next })
}

fn parse_kind(s: &str) -> AlertKind {
    match s {
        "resolved" => AlertKind::Resolved,
        "triage" => AlertKind::Triage,
        "acknowledged" => AlertKind::Acknowledged,
        _ => AlertKind::Firing,
    }
}

/// Every vantage's state now, sorted by region; `stale` decides `fresh`.
pub async fn vantages(
    pool: &deadpool_postgres::Pool,
    stale: Duration,
) -> Result<Vec<VantageState>, ClusterError> {
    let client = client(pool).await?;
    let rows = tokio::time::timeout(
        READ_TIMEOUT,
        client.query(
            "SELECT g.region, g.self_healthy, \
             (now() - g.last_seen) <= make_interval(secs => $1), \
             (extract(epoch FROM (now() - g.last_seen)) * 1000)::bigint, \
             v.exchange, v.state, v.observed_ms \
             FROM exwatch_vantages g LEFT JOIN exwatch_verdicts v USING (region) \
             ORDER BY g.region, v.exchange",
            &[&stale.as_secs_f64()],
        ),
    )
    .await
    .map_err(|_| ClusterError::Timeout(READ_TIMEOUT))??;
    let mut out: Vec<VantageState> = Vec::new();
    for r in rows {
        let region: String = r.get(0);
        if out.last().is_none_or(|v| v.region != region) {
            out.push(VantageState {
                region,
                self_healthy: r.get(1),
                fresh: r.get(2),
                last_seen_ms_ago: r.get(3),
                verdicts: Vec::new(),
            });
        }
        let exchange: Option<String> = r.get(4);
        if let (Some(x), Some(v)) = (exchange, out.last_mut()) {
            let state: String = r.get(5);
            v.verdicts
                .push((x, VerdictState::parse(&state), r.get::<_, i64>(6)));
        }
    }
    Ok(out)
}
