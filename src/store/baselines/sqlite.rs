//! The rollups in SQLite: the `baseline_rollups` table. Integers only (the p90 in
//! microseconds): SQLite stores 0 and 1 in no bytes and small counts in one.

use rusqlite::params;

use super::{BaselineStore, BucketCounts, RollupRecord, SaveRollup};
use crate::error::StoreError;
use crate::messages::SeriesKey;
use crate::store::sqlite::SqliteStore;

/// Rows of rollups written in one transaction: a minute's of a large monitor in a few commits,
/// none of them holding the WAL long.
const ROLLUPS_PER_COMMIT: usize = 1_000;

impl BaselineStore for SqliteStore {
    fn save_rollup(
        &mut self,
        series: &SeriesKey,
        start_ms: i64,
        width_ms: i64,
        rollup: &RollupRecord,
        keep_ms: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        write_rollup(&tx, series, start_ms, width_ms, rollup, keep_ms)?;
        tx.commit()?;
        Ok(())
    }

    /// A transaction per `ROLLUPS_PER_COMMIT` rows. A chunk that fails is written again a
    /// row at a time, so that one bad row loses only itself; the first error is returned.
    fn save_rollups(&mut self, rows: &[SaveRollup]) -> Result<(), StoreError> {
        let mut first_error = None;
        for chunk in rows.chunks(ROLLUPS_PER_COMMIT) {
            let written = (|| -> Result<(), StoreError> {
                let tx = self.conn.transaction()?;
                for r in chunk {
                    write_rollup(&tx, &r.series, r.start_ms, r.width_ms, &r.rollup, r.keep_ms)?;
                }
                tx.commit()?;
                Ok(())
            })();
            if written.is_ok() {
                continue;
            }
            for r in chunk {
                let one = self.save_rollup(&r.series, r.start_ms, r.width_ms, &r.rollup, r.keep_ms);
                if let Err(e) = one {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn load_rollups(
        &mut self,
        series: &SeriesKey,
        width_ms: i64,
        keep_ms: i64,
    ) -> Result<Vec<(i64, RollupRecord)>, StoreError> {
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

/// A rollup from its row (columns 2.. of `load_rollups`'s query), `None` when it
/// cannot be one.
fn decode_rollup(model: &str, row: &rusqlite::Row<'_>) -> Option<RollupRecord> {
    let count = |i: usize| -> Option<u32> {
        let v = row.get_ref(i).ok()?.as_i64().ok()?;
        u32::try_from(v).ok()
    };
    match model {
        "p90" => {
            let us = row.get_ref(2).ok()?.as_i64().ok()?;
            (us > 0).then(|| RollupRecord::P90(us as f64 / 1000.0))
        }
        "errors" => {
            let total = count(3)?;
            let errors = [count(4)?, count(5)?, count(6)?, count(7)?];
            let sane = total > 0 && errors.iter().all(|&e| e <= total);
            sane.then_some(RollupRecord::Errors(BucketCounts { total, errors }))
        }
        _ => None,
    }
}

/// Upserts one rollup and prunes its series' rollups older than `keep_ms` before it, inside
/// the caller's transaction.
fn write_rollup(
    tx: &rusqlite::Transaction<'_>,
    series: &SeriesKey,
    start_ms: i64,
    width_ms: i64,
    rollup: &RollupRecord,
    keep_ms: i64,
) -> Result<(), StoreError> {
    let (p90_us, counts) = match rollup {
        RollupRecord::P90(ms) => (Some((ms * 1000.0).round().max(1.0) as i64), None),
        RollupRecord::Errors(c) => (None, Some(c)),
    };
    let count = |i: usize| counts.map(|c| c.errors[i]);
    let key = (
        &*series.exchange,
        &*series.endpoint,
        series.metric.as_str(),
        rollup.model(),
    );
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Metric;

    const MIN: i64 = 60_000;
    const SIX_HOURS: i64 = 6 * 60 * MIN;

    fn counts(total: u32, e5xx: u32) -> BucketCounts {
        BucketCounts {
            total,
            errors: [0, e5xx, e5xx, 0],
        }
    }

    #[test]
    fn store_rollups_round_trip_per_series_oldest_first() {
        let mut s = SqliteStore::open(":memory:").expect("open");
        let lat = SeriesKey::new("okx", "time", Metric::LatencyMs);
        let err = SeriesKey::new("okx", "time", Metric::Errors);
        let t0 = 1_795_000_000_000 / MIN * MIN;
        for i in (0..3).rev() {
            let p90 = RollupRecord::P90(42.5 + i as f64);
            s.save_rollup(&lat, t0 + i * MIN, MIN, &p90, SIX_HOURS)
                .expect("save");
        }
        let e = RollupRecord::Errors(counts(60, 3));
        s.save_rollup(&err, t0, MIN, &e, SIX_HOURS).expect("save");
        // An upsert: the same bucket again replaces it.
        let e = RollupRecord::Errors(counts(61, 4));
        s.save_rollup(&err, t0, MIN, &e, SIX_HOURS).expect("save");
        assert_eq!(
            s.load_rollups(&lat, MIN, SIX_HOURS).expect("load"),
            [
                (t0, RollupRecord::P90(42.5)),
                (t0 + MIN, RollupRecord::P90(43.5)),
                (t0 + 2 * MIN, RollupRecord::P90(44.5))
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
        let mut s = SqliteStore::open(":memory:").expect("open");
        let lat = SeriesKey::new("okx", "time", Metric::LatencyMs);
        let keep = 60 * MIN;
        for i in 0..180 {
            s.save_rollup(&lat, i * MIN, MIN, &RollupRecord::P90(50.0), keep)
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
        let size = |s: &SqliteStore| -> i64 {
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
        let mut s = SqliteStore::open(":memory:").expect("open");
        let empty = size(&s);
        let series = 20;
        for k in 0..series {
            let lat = SeriesKey::new("binance", format!("endpoint{k}"), Metric::LatencyMs);
            let err = SeriesKey::new("binance", format!("endpoint{k}"), Metric::Errors);
            for i in 0..360 {
                let p90 = RollupRecord::P90(40.0 + ((i * 7919) % 50) as f64 * 0.37);
                s.save_rollup(&lat, i * MIN, MIN, &p90, SIX_HOURS)
                    .expect("save");
                let e = RollupRecord::Errors(counts(6, u32::from(i % 97 == 0)));
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
        let mut s = SqliteStore::open(":memory:").expect("open");
        let lat = SeriesKey::new("okx", "time", Metric::LatencyMs);
        for i in 0..4 {
            s.save_rollup(&lat, i * MIN, MIN, &RollupRecord::P90(50.0), SIX_HOURS)
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
            [
                (2 * MIN, RollupRecord::P90(50.0)),
                (3 * MIN, RollupRecord::P90(50.0))
            ]
        );
    }

    #[test]
    fn a_batch_of_rollups_writes_what_the_same_rows_one_by_one_write() {
        let t0 = 1_795_000_000_000 / MIN * MIN;
        let keep = 5 * MIN;
        // Three series over eight buckets, an upsert among them, the oldest pruned on the way.
        let mut rows = Vec::new();
        for i in 0..8 {
            for (e, metric) in [("a", Metric::LatencyMs), ("b", Metric::LatencyMs)] {
                rows.push(SaveRollup {
                    series: SeriesKey::new("okx", e, metric),
                    start_ms: t0 + i * MIN,
                    width_ms: MIN,
                    rollup: RollupRecord::P90(10.0 + i as f64),
                    keep_ms: keep,
                });
            }
            rows.push(SaveRollup {
                series: SeriesKey::new("okx", "a", Metric::Errors),
                start_ms: t0 + i.min(5) * MIN,
                width_ms: MIN,
                rollup: RollupRecord::Errors(counts(60 + i as u32, i as u32)),
                keep_ms: keep,
            });
        }
        let mut one_by_one = SqliteStore::open(":memory:").expect("open");
        for r in &rows {
            (one_by_one.save_rollup(&r.series, r.start_ms, r.width_ms, &r.rollup, r.keep_ms))
                .expect("save");
        }
        let mut batched = SqliteStore::open(":memory:").expect("open");
        batched.save_rollups(&rows[..10]).expect("save");
        batched.save_rollups(&rows[10..]).expect("save");
        for (e, metric) in [
            ("a", Metric::LatencyMs),
            ("b", Metric::LatencyMs),
            ("a", Metric::Errors),
        ] {
            let series = SeriesKey::new("okx", e, metric);
            let want = one_by_one
                .load_rollups(&series, MIN, SIX_HOURS)
                .expect("load");
            assert!(want.len() >= 3, "{e} {metric:?}: {want:?}");
            assert_eq!(
                batched.load_rollups(&series, MIN, SIX_HOURS).expect("load"),
                want,
                "{e} {metric:?}"
            );
        }
    }
}
