//! [`Backlog`]: the rows waiting for PostgreSQL, bounded. The store's thread pushes copies
//! ([`MirrorSink`]) and never waits; the writer takes them in batches and puts a batch back
//! at the front when PostgreSQL failed, so nothing is lost while it is away. Past
//! `backlog_limit` the oldest rows are dropped and counted (`exwatch_cluster_dropped_total`);
//! `exwatch_cluster_backlog` is the rows waiting. The vantage's verdicts are not queued: only
//! the latest snapshot waits ([`Backlog::set_verdicts`]), since the shared table holds each
//! vantage's current verdict.

use std::collections::VecDeque;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::cluster::rows::{Row, Verdicts, rows};
use crate::metrics::{Counter, Gauge, Metrics};
use crate::store::{Mirror, MirrorSink};

/// The rows waiting for PostgreSQL. See the module docs.
pub struct Backlog {
    rows: Mutex<Queue>,
    limit: usize,
    notify: Notify,
    backlog: Gauge,
    dropped: Counter,
}

#[derive(Default)]
struct Queue {
    rows: VecDeque<Row>,
    verdicts: Option<Verdicts>,
    /// Rows taken by the writer and not yet committed: still waiting, as the gauge says.
    in_flight: usize,
}

impl Backlog {
    /// An empty backlog of at most `limit` rows.
    pub fn new(limit: usize, metrics: &Metrics) -> Self {
        Self {
            rows: Mutex::new(Queue::default()),
            limit: limit.max(1),
            notify: Notify::new(),
            backlog: metrics.gauge("exwatch_cluster_backlog", &[]),
            dropped: metrics.counter("exwatch_cluster_dropped_total", &[]),
        }
    }

    /// Queues `rows` at the back, dropping the oldest past the limit.
    pub fn push(&self, rows: impl IntoIterator<Item = Row>) {
        let mut q = self.rows.lock();
        q.rows.extend(rows);
        self.trim(&mut q);
        drop(q);
        self.notify.notify_one();
    }

    /// The vantage's latest verdicts, replacing any not yet written.
    pub fn set_verdicts(&self, v: Verdicts) {
        self.rows.lock().verdicts = Some(v);
        self.notify.notify_one();
    }

    /// At most `max` rows from the front, and the verdicts waiting.
    pub fn take(&self, max: usize) -> (Vec<Row>, Option<Verdicts>) {
        let mut q = self.rows.lock();
        let n = max.min(q.rows.len());
        let rows: Vec<Row> = q.rows.drain(..n).collect();
        let verdicts = q.verdicts.take();
        q.in_flight = rows.len();
        (rows, verdicts)
    }

    /// What [`Backlog::take`] gave is committed.
    pub fn written(&self) {
        let mut q = self.rows.lock();
        q.in_flight = 0;
        self.backlog.set(q.rows.len() as f64);
    }

    /// Puts back what [`Backlog::take`] gave, at the front, in order (PostgreSQL failed). A
    /// newer snapshot of the verdicts wins over the one put back.
    pub fn put_back(&self, rows: Vec<Row>, verdicts: Option<Verdicts>) {
        let mut q = self.rows.lock();
        q.in_flight = 0;
        for row in rows.into_iter().rev() {
            q.rows.push_front(row);
        }
        if q.verdicts.is_none() {
            q.verdicts = verdicts;
        }
        self.trim(&mut q);
    }

    /// Rows waiting (those being written included).
    pub fn len(&self) -> usize {
        let q = self.rows.lock();
        q.rows.len() + q.in_flight
    }

    /// Rows wait (those being written included); the verdicts aside.
    pub fn has_rows(&self) -> bool {
        let q = self.rows.lock();
        !q.rows.is_empty() || q.in_flight > 0
    }

    /// Nothing waiting.
    pub fn is_empty(&self) -> bool {
        let q = self.rows.lock();
        q.rows.is_empty() && q.in_flight == 0 && q.verdicts.is_none()
    }

    /// Resolves when something was pushed since the last wait.
    pub async fn wait(&self) {
        self.notify.notified().await;
    }

    fn trim(&self, q: &mut Queue) {
        let over = q.rows.len().saturating_sub(self.limit);
        if over > 0 {
            q.rows.drain(..over);
            self.dropped.add(over as u64);
        }
        self.backlog.set((q.rows.len() + q.in_flight) as f64);
    }
}

impl MirrorSink for Backlog {
    fn push(&self, event: Mirror) {
        Backlog::push(self, rows(event));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::rows::DeliveryRow;
    use crate::store::DeliveryState;

    fn row(i: i64) -> Row {
        Row::Delivery(DeliveryRow {
            alert_id: i.to_string(),
            channel: "c".into(),
            state: DeliveryState::Pending,
            attempts: 0,
            error: None,
            at_ms: i,
        })
    }

    fn ids(rows: &[Row]) -> Vec<i64> {
        rows.iter()
            .map(|r| match r {
                Row::Delivery(d) => d.at_ms,
                Row::Event(e) => e.at_ms,
            })
            .collect()
    }

    #[test]
    fn backlog_is_bounded_counts_what_it_drops_and_puts_a_failed_batch_back_in_front() {
        let metrics = Metrics::new();
        let b = Backlog::new(3, &metrics);
        b.push((0..5).map(row));
        assert_eq!(b.len(), 3);
        let text = metrics.render();
        assert!(text.contains("exwatch_cluster_dropped_total 2"), "{text}");
        assert!(text.contains("exwatch_cluster_backlog 3"), "{text}");
        let (taken, _) = b.take(2);
        assert_eq!(ids(&taken), [2, 3]);
        assert_eq!(b.len(), 3, "rows being written still wait");
        b.push([row(9)]);
        b.put_back(taken, None);
        let (all, _) = b.take(10);
        // Over the limit again: the oldest goes, and is counted.
        assert_eq!(ids(&all), [3, 4, 9]);
        b.written();
        assert!(metrics.render().contains("exwatch_cluster_dropped_total 3"));
        assert!(b.is_empty());
    }
}
