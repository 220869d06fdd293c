//! The outbox in SQLite: the `alerts`, `deliveries` and `attempts` tables.

use rusqlite::{OptionalExtension, params};

use super::{AttemptOutcome, DeliveryCount, DeliveryState, OutboxStore, PendingAlert};
use crate::error::StoreError;
use crate::messages::{Alert, Timestamp};
use crate::store::sqlite::{SqliteStore, decode_alert, insert_alert, rfc3339_ms};

impl OutboxStore for SqliteStore {
    fn enqueue(&mut self, alert: &Alert, channels: &[&str]) -> Result<i64, StoreError> {
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

    fn record_attempt(
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

    fn mark_delivered(
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

    fn mark_failed(
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

    fn fail_pending(
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

    fn pending(
        &mut self,
        channel: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, StoreError> {
        // Oldest first: the oldest must never starve behind newer ones; what is left stays
        // pending for the next start.
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.payload, a.at_ms, a.started_at_ms, d.attempts, a.id
             FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE d.channel = ?1 AND d.state = 'pending' AND (?2 IS NULL OR a.seq < ?2)
             ORDER BY a.seq LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
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
            match decode_alert(&payload, at_ms, started_at_ms) {
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

    fn max_seq(&mut self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM alerts", [], |r| r.get(0))?)
    }

    fn delivery_counts(&mut self) -> Result<Vec<DeliveryCount>, StoreError> {
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

    fn delivery_state(
        &mut self,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventStore;
    use crate::store::testing::{ALL, alert, ids};

    #[test]
    fn store_enqueue_pending_and_marks() {
        let mut s = SqliteStore::open(":memory:").expect("open");
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

        let hook = s.pending("hook", None, ALL).expect("pending");
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
        let hook = s.pending("hook", None, ALL).expect("pending");
        assert_eq!(hook[0].attempts, 2);

        s.mark_delivered(&a.id, "hook", a.at).expect("delivered");
        s.mark_failed(&b.id, "hook", "HTTP 400", b.at)
            .expect("failed");
        assert!(s.pending("hook", None, ALL).expect("pending").is_empty());
        assert_eq!(
            ids(&s.pending("log", None, ALL).expect("pending")),
            [a.id.to_string(), c.id.to_string()]
        );
        // Only what was enqueued before a given seq.
        assert_eq!(
            ids(&s.pending("log", Some(seq_c), ALL).expect("pending")),
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
        let mut s = SqliteStore::open(":memory:").expect("open");
        let a = alert("okx", 1_795_000_000_000);
        // A duplicate channel violates the delivery's primary key: nothing may remain.
        assert!(s.enqueue(&a, &["hook", "hook"]).is_err());
        assert_eq!(s.max_seq().expect("seq"), 0);
        assert!(s.pending("hook", None, ALL).expect("pending").is_empty());
        assert!(s.recent_alerts(10).expect("recent").is_empty());
    }

    #[test]
    fn store_skips_and_fails_an_unreadable_row_and_resumes_the_rest() {
        let mut s = SqliteStore::open(":memory:").expect("open");
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
        let pending = s.pending("hook", None, ALL).expect("pending works");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].alert.id, bad.id);
        assert!(pending[0].alert.value.is_nan());
        let again = s.pending("hook", None, ALL).expect("pending works");
        assert_eq!(again.len(), 1, "the unreadable one was marked failed");
    }
}
