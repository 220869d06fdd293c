//! Silences in SQLite: the `silences` table.

use rusqlite::{OptionalExtension, Row, params};

use super::SilenceStore;
use crate::error::StoreError;
use crate::messages::{Metric, Name, Silence, Timestamp};
use crate::store::sqlite::SqliteStore;

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

impl SilenceStore for SqliteStore {
    fn save_silence(&mut self, s: &Silence) -> Result<(), StoreError> {
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

    fn silence(&mut self, id: &str) -> Result<Option<Silence>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {SILENCE_COLUMNS} FROM silences WHERE id = ?1"
            ))?
            .query_row(params![id], silence_row)
            .optional()?)
    }

    fn silences(
        &mut self,
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

    fn open_silences(&mut self, now: Timestamp) -> Result<Vec<Silence>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at_ms > ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map(params![now.as_millis()], silence_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::new_id;

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
            let mut s = SqliteStore::open(path).expect("open");
            for x in [&past, &now_on, &later] {
                s.save_silence(x).expect("save");
            }
        }
        let mut s = SqliteStore::open(path).expect("reopen");
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
}
