//! What every detector of a [`DetectorSet`](crate::detect::DetectorSet) shares.
//!
//! [`DetectorShared`] holds what the series have in common — settings, outputs, the store
//! link and the rollups waiting for it, the metrics registry, the update counter of each
//! metric, detector names — behind one `Arc`; a reload that changes the `[detect]` settings
//! makes a new one. [`SeriesLimit`] counts
//! the series of the whole set (against `max_series`) and numbers each series' state, and
//! outlives reloads.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::Recipient;
use parking_lot::Mutex;

use crate::config::SupervisionSettings;
use crate::detect::config::DetectSettings;
use crate::messages::{Anomaly, Metric, Name, Resolved, SeriesKey, Severity};
use crate::metrics::{Counter, Metrics};
use crate::store::{BaselineLink, SaveRollup, SaveRollups};
use crate::supervision::RestartTracker;

/// How long a closed bucket's rollup waits for the others of its batch.
pub const ROLLUP_BATCH: Duration = Duration::from_secs(1);

/// Sends the rollups in `rows`, if any, as one batch. Under the queue's lock: a flush on
/// another thread that finds the queue empty then knows its rows are in the store's mailbox.
fn send_rollups(rows: &Mutex<Vec<SaveRollup>>, to: &Recipient<SaveRollups>) {
    let mut queued = rows.lock();
    if !queued.is_empty() {
        to.do_send(SaveRollups {
            rows: std::mem::take(&mut *queued),
        });
    }
}

/// Where a detector sends its judgements (the Router).
#[derive(Clone)]
pub struct DetectorOutputs {
    /// Firing judgements.
    pub anomalies: Recipient<Anomaly>,
    /// Recoveries.
    pub resolved: Recipient<Resolved>,
}

/// What all the detectors of a [`DetectorSet`](crate::detect::DetectorSet) share.
pub struct DetectorShared {
    pub(crate) settings: Arc<DetectSettings>,
    pub(crate) supervision: SupervisionSettings,
    pub(crate) outputs: DetectorOutputs,
    /// Where learned baselines persist, if anywhere.
    pub(crate) store: Option<BaselineLink>,
    /// Closed buckets' rollups waiting for their batch, every series of the set together
    /// ([`DetectorShared::save_rollup`]).
    rollups: Arc<Mutex<Vec<SaveRollup>>>,
    pub(crate) metrics: Arc<Metrics>,
    /// `exwatch_actor_restarts_total{actor="detector"}`, registered with the first detector.
    restarts: OnceLock<Counter>,
    /// `exwatch_detector_updates_total{metric}`, one per metric, registered on first use. A
    /// series keeps its metric's handle; its `exwatch_anomalies_total` handles are its own,
    /// taken at its first anomaly of each severity.
    updates: Mutex<Vec<(Metric, Counter)>>,
    /// Detector names already made into `Name`s: firings reuse them.
    names: Mutex<Vec<(&'static str, Name)>>,
}

impl DetectorShared {
    /// The restart budget of `name` (`detector:<series>` or `detector:<exchange>`), made at
    /// its first restart: its crash loop is reported through the detectors' own outputs.
    pub(crate) fn restart_tracker(&self, name: String) -> Box<RestartTracker> {
        Box::new(RestartTracker::new(
            Name::from(name),
            &self.supervision,
            &self.metrics,
            Some(self.outputs.anomalies.clone()),
        ))
    }

    /// What detectors judging with `settings`, reporting to `outputs` and persisting their
    /// baselines through `store` (if any) share.
    pub fn new(
        settings: Arc<DetectSettings>,
        supervision: SupervisionSettings,
        outputs: DetectorOutputs,
        metrics: Arc<Metrics>,
        store: Option<BaselineLink>,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            supervision,
            outputs,
            store,
            rollups: Arc::default(),
            metrics,
            restarts: OnceLock::new(),
            updates: Mutex::new(Vec::new()),
            names: Mutex::new(Vec::new()),
        })
    }

    /// Queues a closed bucket's rollup for the store (none without one). The first of a batch
    /// sends the batch [`ROLLUP_BATCH`] later, from the current arbiter: a series closes its
    /// bucket at its first probe past the minute, so a minute's rollups are a few
    /// transactions, one per probe interval at most, not one each (40 000 commits a minute at
    /// 20 000 endpoints, each a write to the WAL).
    pub(crate) fn save_rollup(&self, row: SaveRollup) {
        let Some(store) = &self.store else {
            return;
        };
        let first = {
            let mut rows = self.rollups.lock();
            rows.push(row);
            rows.len() == 1
        };
        if first {
            let (rows, to) = (self.rollups.clone(), store.save_batch.clone());
            actix_rt::spawn(async move {
                actix_rt::time::sleep(ROLLUP_BATCH).await;
                send_rollups(&rows, &to);
            });
        }
    }

    /// Sends the queued rollups now: before a warm start reads them back, so that it sees
    /// every bucket closed; before a detector answers a drain's ping; and as the monitor
    /// stops ([`crate::detect::DetectorSet::flush_rollups`]).
    pub(crate) fn flush_rollups(&self) {
        if let Some(store) = &self.store {
            send_rollups(&self.rollups, &store.save_batch);
        }
    }

    /// Shares `previous`' queue of rollups (a reload's new shared state): a series the reload
    /// resets loads its baseline after its last buckets, which may still be queued there.
    pub(crate) fn share_rollups_with(&mut self, previous: &DetectorShared) {
        self.rollups = previous.rollups.clone();
    }

    /// Registers `exwatch_actor_restarts_total{actor="detector"}` (at 0) if no detector did.
    pub(crate) fn register_restarts(&self) {
        self.restarts.get_or_init(|| {
            self.metrics
                .counter("exwatch_actor_restarts_total", &[("actor", "detector")])
        });
    }

    /// `exwatch_detector_updates_total{metric}` of `metric`, registered on first use.
    pub(crate) fn updates(&self, metric: Metric) -> Counter {
        let mut updates = self.updates.lock();
        if let Some((_, c)) = updates.iter().find(|(m, _)| *m == metric) {
            return c.clone();
        }
        let c = self.metrics.counter(
            "exwatch_detector_updates_total",
            &[("metric", metric.as_str())],
        );
        updates.push((metric, c.clone()));
        c
    }

    /// `exwatch_anomalies_total{exchange,metric,severity}` of `series`' exchange and metric.
    pub(crate) fn anomaly_counter(&self, series: &SeriesKey, severity: Severity) -> Counter {
        self.metrics.counter(
            "exwatch_anomalies_total",
            &[
                ("exchange", &series.exchange),
                ("metric", series.metric.as_str()),
                ("severity", severity.as_str()),
            ],
        )
    }

    /// `detector` as a shared `Name`.
    pub(crate) fn name_of(&self, detector: &'static str) -> Name {
        let mut names = self.names.lock();
        if let Some((_, name)) = names.iter().find(|(d, _)| *d == detector) {
            return name.clone();
        }
        let name = Name::from(detector);
        names.push((detector, name.clone()));
        name
    }
}

/// How many series a set tracks, against its limit, and the numbering of series states.
#[derive(Debug)]
pub struct SeriesLimit {
    count: AtomicUsize,
    max: AtomicUsize,
    generations: AtomicU64,
}

impl SeriesLimit {
    /// A limit of `max` series.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            count: AtomicUsize::new(0),
            max: AtomicUsize::new(max),
            generations: AtomicU64::new(0),
        })
    }

    /// Counts one more series; false (and counts nothing) at the limit.
    pub fn admit(&self) -> bool {
        let max = self.max.load(Ordering::Relaxed);
        self.count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Counts `n` series fewer (forgotten, reset, or their detector ended).
    pub fn release(&self, n: usize) {
        if n > 0 {
            self.count.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Sets the limit (a reload); series already tracked stay.
    pub fn set_max(&self, max: usize) {
        self.max.store(max, Ordering::Relaxed);
    }

    /// No room for another series.
    pub fn is_full(&self) -> bool {
        self.count() >= self.max.load(Ordering::Relaxed)
    }

    /// The series tracked now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// A number no series state of this set had before: a new state's generation.
    pub fn next_generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed) + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_admits_up_to_its_max_and_frees_room_on_release() {
        let limit = SeriesLimit::new(2);
        assert!(limit.admit() && limit.admit());
        assert!(!limit.admit(), "a third series is past the limit");
        assert_eq!(limit.count(), 2);
        limit.release(1);
        assert!(limit.admit());
        limit.set_max(5);
        assert!(limit.admit());
        assert_ne!(limit.next_generation(), limit.next_generation());
    }
}
