//! The event history in SQLite: the `anomalies` and `acks` tables, silenced alerts in
//! `alerts`, and the queries over `alerts` and `deliveries`.

use rusqlite::{OptionalExtension, params};

use super::{
    AckRecord, EventCursor, EventDelivery, EventFilter, EventPage, EventStore, MAX_EVENTS_PAGE,
    StoredEvent, StoredGroup, StoredMember,
};
use crate::error::StoreError;
use crate::messages::{Alert, AlertKind, Anomaly, GroupUpdate, Resolved, Severity, Timestamp};
use crate::store::DeliveryState;
use crate::store::sqlite::{SqliteStore, decode_alert, insert_alert, rfc3339_ms};

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
    /// Kept as JSON and read on its own, so that an odd group never hides the row.
    #[serde(default)]
    group: Option<serde_json::Value>,
}

/// The group object of a stored group message (see [`crate::messages::AlertGroup`]).
#[derive(Debug, serde::Deserialize)]
struct GroupBits {
    key: String,
    update: GroupUpdate,
    #[serde(default)]
    alerts: Vec<MemberBits>,
}

/// The fields of a group member the events API shows.
#[derive(Debug, serde::Deserialize)]
struct MemberBits {
    id: String,
    kind: AlertKind,
    exchange: String,
    endpoint: String,
    metric: String,
    severity: Severity,
    #[serde(default)]
    detector: String,
    #[serde(default)]
    title: String,
}

/// The group of a stored payload's `group` value; `None` (and a warning) when unreadable.
fn group_of(id: &str, v: serde_json::Value) -> Option<StoredGroup> {
    match serde_json::from_value::<GroupBits>(v) {
        Ok(g) => Some(StoredGroup {
            key: g.key,
            update: g.update,
            members: g
                .alerts
                .into_iter()
                .map(|m| StoredMember {
                    id: m.id,
                    kind: m.kind,
                    exchange: m.exchange,
                    endpoint: m.endpoint,
                    metric: m.metric,
                    severity: m.severity,
                    detector: m.detector,
                    title: m.title,
                })
                .collect(),
        }),
        Err(e) => {
            tracing::warn!(alert = %id, error = %e, "Stored group message's group unreadable; shown without it.");
            None
        }
    }
}

fn parse_kind(s: &str) -> Option<AlertKind> {
    Some(match s {
        "firing" => AlertKind::Firing,
        "resolved" => AlertKind::Resolved,
        "triage" => AlertKind::Triage,
        "acknowledged" => AlertKind::Acknowledged,
        _ => return None,
    })
}

impl EventStore for SqliteStore {
    fn record_anomaly(&mut self, a: &Anomaly) -> Result<(), StoreError> {
        // Cached: an incident storm records thousands of these, each a parse of the SQL else.
        self.conn
            .prepare_cached(
                "INSERT INTO anomalies (kind, exchange, endpoint, metric, detector, severity,
                     value, threshold, confidence, message, started_at, started_at_ms, at, at_ms)
                 VALUES ('firing', ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(params![
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
            ])?;
        Ok(())
    }

    fn record_resolved(&mut self, r: &Resolved) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO anomalies (kind, exchange, endpoint, metric, at, at_ms)
                 VALUES ('resolved', ?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                &*r.series.exchange,
                &*r.series.endpoint,
                r.series.metric.as_str(),
                rfc3339_ms(r.at),
                r.at.as_millis(),
            ])?;
        Ok(())
    }

    fn record_silenced(&mut self, alert: &Alert) -> Result<(), StoreError> {
        insert_alert(&self.conn, alert, true).map(|_| ())
    }

    fn silenced(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT silenced FROM alerts WHERE id = ?1")?
            .query_row(params![id], |r| r.get::<_, i64>(0))
            .optional()?
            .is_some_and(|s| s != 0))
    }

    fn alert(&mut self, id: &str) -> Result<Option<Alert>, StoreError> {
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
        row.map(|(payload, at, started)| decode_alert(&payload, at, started))
            .transpose()
    }

    fn recent_alerts(&mut self, limit: usize) -> Result<Vec<Alert>, StoreError> {
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
            out.push(decode_alert(&payload, at_ms, started_at_ms)?);
        }
        Ok(out)
    }

    fn query_events(&mut self, filter: &EventFilter) -> Result<EventPage, StoreError> {
        // One indexed range scan over `alerts` (see migration v4), then a primary-key lookup
        // of deliveries and an index lookup of triage per row.
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
        if let Some(g) = &filter.group {
            // The incident's group messages, and the per-series alerts they list.
            and(
                "(json_extract(payload, '$.group.key') = ?
                  OR id IN (SELECT json_extract(m.value, '$.id')
                            FROM alerts AS g, json_each(g.payload, '$.group.alerts') AS m
                            WHERE json_extract(g.payload, '$.group.key') = ?))",
                vec![Value::Text(g.clone()), Value::Text(g.clone())],
            );
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
                group: bits.group.and_then(|g| group_of(&id, g)),
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

    fn record_ack(&mut self, a: &AckRecord) -> Result<(), StoreError> {
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

    fn acked(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM acks WHERE alert_id = ?1)")?
            .query_row(params![id], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, SeriesKey, Stats, new_id};
    use crate::store::testing::{ALL, alert};
    use crate::store::{AttemptOutcome, OutboxStore};

    #[test]
    fn store_keeps_anomalies_and_resolutions() {
        let mut s = SqliteStore::open(":memory:").expect("open");
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

    fn page_ids(page: &EventPage) -> Vec<String> {
        page.events.iter().map(|e| e.id.clone()).collect()
    }

    #[test]
    fn store_events_newest_first_filtered_paged_with_deliveries_and_triage() {
        let mut s = SqliteStore::open(":memory:").expect("open");
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

        let mut q = |f: EventFilter| page_ids(&s.query_events(&f).expect("query"));
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
        let s = SqliteStore::open(":memory:").expect("open");
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

    #[test]
    fn silenced_alerts_and_acks_are_recorded() {
        let mut s = SqliteStore::open(":memory:").expect("open");
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
            group: None,
        };
        s.record_silenced(&a).expect("silenced");
        assert!(s.silenced(&a.id).expect("flag"));
        let got = s.alert(&a.id).expect("get").expect("stored");
        assert_eq!((got.at, got.started_at), (a.at, a.started_at));
        assert!(s.pending("hook", None, ALL).expect("pending").is_empty());
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

    #[test]
    fn a_group_message_shows_its_group_and_the_group_filter_lists_its_incident() {
        use crate::messages::{AlertGroup, GroupUpdate};
        let mut s = SqliteStore::open(":memory:").expect("open");
        let m1 = alert("okx", 1_795_000_001_000);
        let mut m2 = alert("okx", 1_795_000_002_000);
        m2.severity = Severity::Warning;
        let other = alert("binance", 1_795_000_003_000);
        let mut g = m1.clone();
        g.id = new_id();
        g.at = Timestamp(1_795_000_004_000);
        g.group = Some(AlertGroup {
            key: "exchange=okx".into(),
            update: GroupUpdate::Updated,
            alerts: vec![m1.clone(), m2.clone()],
        });
        for a in [&m1, &m2, &other, &g] {
            s.enqueue(a, &["hook"]).expect("enqueue");
        }
        let all = s
            .query_events(&EventFilter {
                limit: 10,
                ..EventFilter::default()
            })
            .expect("query");
        assert_eq!(all.events.len(), 4);
        let group = all.events[0]
            .group
            .as_ref()
            .expect("the group message's group");
        assert_eq!(all.events[0].id, g.id.to_string());
        assert_eq!(
            (group.key.as_str(), group.update),
            ("exchange=okx", GroupUpdate::Updated)
        );
        assert_eq!(group.members.len(), 2);
        assert_eq!(group.members[0].id, m1.id.to_string());
        assert_eq!(group.members[1].severity, Severity::Warning);
        assert_eq!(group.members[1].exchange, "okx");
        assert!(all.events[1..].iter().all(|e| e.group.is_none()));

        let incident = s
            .query_events(&EventFilter {
                limit: 10,
                group: Some("exchange=okx".into()),
                ..EventFilter::default()
            })
            .expect("query");
        assert_eq!(
            page_ids(&incident),
            [&g.id, &m2.id, &m1.id].map(|s| s.to_string())
        );
        let none = s
            .query_events(&EventFilter {
                limit: 10,
                group: Some("exchange=binance".into()),
                ..EventFilter::default()
            })
            .expect("query");
        assert!(none.events.is_empty());
    }

    #[test]
    fn an_unreadable_group_leaves_the_row_without_it() {
        let mut s = SqliteStore::open(":memory:").expect("open");
        let a = alert("okx", 1_795_000_001_000);
        s.enqueue(&a, &[]).expect("enqueue");
        s.conn
            .execute(
                "UPDATE alerts SET payload = json_set(payload, '$.group', json('{\"key\": 3}'))",
                [],
            )
            .expect("update");
        let page = s
            .query_events(&EventFilter {
                limit: 10,
                ..EventFilter::default()
            })
            .expect("query");
        assert_eq!(page.events.len(), 1);
        assert!(page.events[0].group.is_none());
        assert_eq!(page.events[0].detector, a.detector.to_string());
    }
}
