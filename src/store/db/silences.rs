//! The event store's part of silences and acknowledgements: the `silences` table (every
//! silence ever set, so they survive restarts and stay listable after they end), the `acks`
//! table (one row per acknowledgement), and the alerts a silence kept from the channels
//! (`alerts.silenced = 1`, stored with no delivery).
//!
//! For readers of the store (the events API): an alert was silenced when
//! `alerts.silenced = 1`; it was acknowledged when `EXISTS (SELECT 1 FROM acks WHERE
//! acks.alert_id = alerts.id)` ([`Store::acked`]).

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, decode};
use crate::error::StoreError;
use crate::messages::{Alert, Metric, Name, Timestamp};
use crate::route::silence::Silence;

/// One acknowledgement of an open incident.
#[derive(Debug, Clone, PartialEq)]
pub struct AckRecord {
    /// The alert the operator acknowledged.
    pub alert_id: Name,
    /// The incident's exchange.
    pub exchange: Name,
    /// The incident's endpoint.
    pub endpoint: Name,
    /// The incident's metric.
    pub metric: Metric,
    /// When the incident began.
    pub incident_started_at: Timestamp,
    /// When it was acknowledged.
    pub acked_at: Timestamp,
    /// Who acknowledged it, when they said.
    pub by: Option<String>,
    /// Why, when they said.
    pub comment: Option<String>,
}

const SILENCE_COLUMNS: &str =
    "id, exchange, endpoint, metric, starts_at_ms, ends_at_ms, comment, created_by";

fn silence_row(r: &Row<'_>) -> rusqlite::Result<Silence> {
    let name = |i| -> rusqlite::Result<Option<Name>> {
        Ok(r.get::<_, Option<String>>(i)?.map(Name::from))
    };
    Ok(Silence {
        id: Name::from(r.get::<_, String>(0)?),
        exchange: name(1)?,
        endpoint: name(2)?,
        // An unknown metric name (a newer exwatch wrote it) matches nothing rather than all.
        metric: match r.get::<_, Option<String>>(3)? {
            None => None,
            Some(m) => Some(Metric::parse(&m).ok_or_else(|| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    format!("unknown metric {m:?}").into(),
                )
            })?),
        },
        starts_at: Timestamp(r.get(4)?),
        ends_at: Timestamp(r.get(5)?),
        comment: r.get(6)?,
        created_by: r.get(7)?,
    })
}

impl Store {
    /// Writes `s` (a new silence, or an existing one with a new end).
    pub fn save_silence(&mut self, s: &Silence) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO silences (id, exchange, endpoint, metric, starts_at_ms, ends_at_ms,
                     comment, created_by, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET
                     starts_at_ms = excluded.starts_at_ms, ends_at_ms = excluded.ends_at_ms",
            )?
            .execute(params![
                &*s.id,
                s.exchange.as_deref(),
                s.endpoint.as_deref(),
                s.metric.map(Metric::as_str),
                s.starts_at.as_millis(),
                s.ends_at.as_millis(),
                s.comment,
                s.created_by,
                Timestamp::now().as_millis(),
            ])?;
        Ok(())
    }

    /// The silence `id`, if there is one.
    pub fn silence(&self, id: &str) -> Result<Option<Silence>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?1"
            ))?
            .query_row(params![id], silence_row)
            .optional()?)
    }

    /// Every silence, newest first; with `active`, only those active (or not) at `now`.
    pub fn silences(
        &self,
        active: Option<bool>,
        now: Timestamp,
    ) -> Result<Vec<Silence>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences
             WHERE ?1 IS NULL OR ?1 = (starts_at_ms <= ?2 AND ?2 < ends_at_ms)
             ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map(params![active, now.as_millis()], silence_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The silences not over at `now` (active, or still to begin): what the Router loads at
    /// start.
    pub fn open_silences(&self, now: Timestamp) -> Result<Vec<Silence>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at_ms > ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![now.as_millis()], silence_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores an alert a silence kept from the channels: visible with the others (its
    /// `silenced` column set), with no delivery.
    pub fn record_silenced(&mut self, alert: &Alert) -> Result<(), StoreError> {
        super::insert_alert(&self.conn, alert, true).map(|_| ())
    }

    /// Whether the stored alert `id` was kept from the channels by a silence.
    pub fn silenced(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT silenced FROM alerts WHERE id = ?1")?
            .query_row(params![id], |r| r.get::<_, i64>(0))
            .optional()?
            .is_some_and(|s| s != 0))
    }

    /// The stored alert `id` (sent or silenced), if there is one.
    pub fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        let row = self
            .conn
            .prepare_cached("SELECT payload, at_ms, started_at_ms FROM alerts WHERE id = ?1")?
            .query_row(params![id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .optional()?;
        row.map(|(payload, at, started)| decode(&payload, at, started))
            .transpose()
    }

    /// Records an acknowledgement.
    pub fn record_ack(&mut self, a: &AckRecord) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO acks (alert_id, exchange, endpoint, metric, incident_started_at_ms,
                     acked_at_ms, acked_by, comment)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                &*a.alert_id,
                &*a.exchange,
                &*a.endpoint,
                a.metric.as_str(),
                a.incident_started_at.as_millis(),
                a.acked_at.as_millis(),
                a.by,
                a.comment,
            ])?;
        Ok(())
    }

    /// Whether alert `id` was acknowledged.
    pub fn acked(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM acks WHERE alert_id = ?1)")?
            .query_row(params![id], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{AlertKind, Severity, Stats, new_id};

    fn silence(from: i64, to: i64) -> Silence {
        Silence {
            id: new_id(),
            exchange: Some("okx".into()),
            endpoint: None,
            metric: Some(Metric::Errors),
            starts_at: Timestamp(from),
            ends_at: Timestamp(to),
            comment: "deploy".into(),
            created_by: Some("ops".into()),
        }
    }

    #[test]
    fn silences_are_kept_listed_and_updated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let path = path.to_str().expect("utf-8");
        let (past, now_on, later) = (silence(0, 10), silence(0, 1000), silence(500, 1000));
        {
            let mut s = Store::open(path).expect("open");
            for x in [&past, &now_on, &later] {
                s.save_silence(x).expect("save");
            }
        }
        let mut s = Store::open(path).expect("reopen");
        assert_eq!(s.silence(&now_on.id).expect("get"), Some(now_on.clone()));
        assert_eq!(s.silences(None, Timestamp(100)).expect("all").len(), 3);
        let active = s.silences(Some(true), Timestamp(100)).expect("active");
        assert_eq!(active, std::slice::from_ref(&now_on));
        assert_eq!(
            s.silences(Some(false), Timestamp(100)).expect("not").len(),
            2
        );
        assert_eq!(s.open_silences(Timestamp(100)).expect("open").len(), 2);
        let mut ended = now_on.clone();
        ended.ends_at = Timestamp(200);
        s.save_silence(&ended).expect("update");
        assert_eq!(s.silence(&now_on.id).expect("get"), Some(ended));
        assert!(s.silence("nope").expect("get").is_none());
    }

    #[test]
    fn silenced_alerts_and_acks_are_recorded() {
        let mut s = Store::open(":memory:").expect("open");
        let a = Alert {
            id: new_id(),
            kind: AlertKind::Firing,
            severity: Severity::Critical,
            exchange: "okx".into(),
            endpoint: "time".into(),
            metric: Metric::Errors,
            detector: "error_rate".into(),
            title: "t".into(),
            message: "m".into(),
            value: 1.0,
            threshold: 0.5,
            region: "test".into(),
            started_at: Timestamp(1_000),
            at: Timestamp(2_345),
            stats: Stats::default(),
            in_reply_to: None,
        };
        s.record_silenced(&a).expect("silenced");
        assert!(s.silenced(&a.id).expect("flag"));
        let got = s.alert(&a.id).expect("get").expect("stored");
        assert_eq!((got.at, got.started_at), (a.at, a.started_at));
        assert!(s.pending("hook", None).expect("pending").is_empty());
        assert!(s.alert("nope").expect("get").is_none());
        assert!(!s.acked(&a.id).expect("acked"));
        s.record_ack(&AckRecord {
            alert_id: a.id.clone(),
            exchange: a.exchange.clone(),
            endpoint: a.endpoint.clone(),
            metric: a.metric,
            incident_started_at: a.started_at,
            acked_at: Timestamp(3_000),
            by: Some("ops".into()),
            comment: None,
        })
        .expect("ack");
        assert!(s.acked(&a.id).expect("acked"));
    }
}
