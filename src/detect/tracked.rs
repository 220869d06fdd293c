//! One series inside its exchange's [`DetectorActor`](crate::detect::DetectorActor): its
//! [`SeriesDetector`] (windows, baseline, firing state), its counters, its restart
//! bookkeeping, the number of its state ([`SeriesState::generation`]) and, while its learned
//! baseline loads from the store, what was sent to it meanwhile, held back until it is in.
//!
//! Judging sends [`Anomaly`] and [`Resolved`] to the outputs and queues each closed baseline
//! bucket for the store's next batch ([`SaveRollup`]); a restart after a panic rebuilds the
//! models and keeps the episode in progress (see [`SeriesDetector::rebuilt`]).

use actix::clock::Instant;

use crate::detect::baseline::{ErrorCounts, Rollup, bucket_ms};
use crate::detect::series::{Event, SeriesDetector};
use crate::detect::shared::DetectorShared;
use crate::messages::{Anomaly, Measurement, Resolved, SeriesKey};
use crate::metrics::Counter;
use crate::store::{BucketCounts, RollupRecord, SaveRollup};
use crate::supervision::RestartTracker;

/// The most measurements a series holds back while its learned baseline loads
/// ([`WARM_START_WAIT`](crate::detect::actor::WARM_START_WAIT) at most); later ones are
/// dropped (and logged) until it is in. At one probe a second a series holds five.
pub const HELD_MAX: usize = 1024;

/// What a series' state is now, as [`DetectorHandle::state`](crate::detect::DetectorHandle::state)
/// answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesState {
    /// The number of this state, unique within the set: a series whose state was reset (its
    /// settings changed in a reload) or forgotten and started again has a new one; a series
    /// that kept its state (windows, baseline) keeps it, across reloads and restarts.
    pub generation: u64,
    /// Measurements judged by this state.
    pub judged: u64,
    /// True while the series is in an anomalous episode.
    pub firing: bool,
    /// Restarts of this series after a panic while judging it.
    pub restarts: u64,
    /// True while its learned baseline is loading (its measurements are held back).
    pub loading: bool,
}

/// What a series does next, in the order it was asked.
pub(crate) enum Pending {
    /// Judge a measurement.
    Judge(Measurement),
    /// Panic while judging (fault injection).
    Crash,
}

/// What was sent to the series while its baseline loads, held back in order.
pub(crate) struct Held {
    /// Which load they wait for (a restart starts another one).
    pub(crate) epoch: u64,
    pub(crate) queue: Vec<Pending>,
    dropped: usize,
}

/// One series' detection state. See the module docs.
pub struct TrackedSeries {
    pub(crate) detector: SeriesDetector,
    /// `exwatch_detector_updates_total{metric}`, shared by every series of its metric.
    updates: Counter,
    /// `exwatch_anomalies_total{exchange,metric,severity}` by severity, each taken from the
    /// registry at the series' first anomaly of that severity; boxed, as most series never
    /// fire. (A map of them per exchange and metric was ≈ 280 B per one-endpoint exchange.)
    anomalies: Option<Box<[Option<Counter>; 3]>>,
    /// Built at the first restart (it names the series, which costs an allocation).
    restarts: Option<Box<RestartTracker>>,
    generation: u64,
    judged: u64,
    pub(crate) held: Option<Box<Held>>,
}

impl TrackedSeries {
    /// A fresh state for `series`, numbered `generation`.
    pub fn new(series: &SeriesKey, shared: &DetectorShared, generation: u64) -> Self {
        Self {
            detector: SeriesDetector::for_series(series, &shared.settings),
            updates: shared.updates(series.metric),
            anomalies: None,
            restarts: None,
            generation,
            judged: 0,
            held: None,
        }
    }

    /// What the state is now.
    pub fn state(&self) -> SeriesState {
        SeriesState {
            generation: self.generation,
            judged: self.judged,
            firing: self.detector.is_firing(),
            restarts: self.restarts.as_ref().map_or(0, |r| r.total()),
            loading: self.held.is_some(),
        }
    }

    /// Holds `next` back until the baseline is in (the caller checked that it loads).
    pub(crate) fn hold(&mut self, series: &SeriesKey, next: Pending) {
        let Some(held) = self.held.as_mut() else {
            return;
        };
        if held.queue.len() < HELD_MAX {
            held.queue.push(next);
        } else {
            held.dropped += 1;
            if held.dropped == 1 {
                tracing::warn!(series = %series, held = HELD_MAX, "Learned baseline still loading and too many measurements waiting; dropping the newest.");
            }
        }
    }

    /// Starts holding measurements back for the load numbered `epoch` (a load already
    /// awaited is superseded; what it held waits for this one).
    pub(crate) fn await_load(&mut self, epoch: u64) {
        match &mut self.held {
            Some(held) => held.epoch = epoch,
            None => {
                self.held = Some(Box::new(Held {
                    epoch,
                    queue: Vec::new(),
                    dropped: 0,
                }))
            }
        }
    }

    /// Restores the loaded rollups (oldest first) of buckets `width` ms wide.
    pub(crate) fn restore(&mut self, width: i64, rollups: &[(i64, RollupRecord)]) {
        for &(start_ms, rollup) in rollups {
            self.detector
                .restore(start_ms.div_euclid(width), from_record(rollup));
        }
    }

    /// A panic while judging it: rebuilds the models (the episode in progress stays) and
    /// records the restart against the restart budget of `detector:<series>`.
    pub(crate) fn restart(&mut self, series: &SeriesKey, shared: &DetectorShared) {
        let tracker = (self.restarts)
            .get_or_insert_with(|| shared.restart_tracker(format!("detector:{series}")));
        tracker.record(Instant::now());
        self.detector = self.detector.rebuilt(series.metric, &shared.settings);
    }

    /// Judges `m` (a measurement of this series) and sends what it concludes.
    pub(crate) fn judge(&mut self, m: &Measurement, shared: &DetectorShared) {
        self.updates.inc();
        self.judged += 1;
        let series = &m.series;
        match self.detector.observe(m) {
            Some(Event::Firing {
                finding,
                started_at,
            }) => {
                self.anomalies.get_or_insert_default()[finding.severity as usize]
                    .get_or_insert_with(|| shared.anomaly_counter(series, finding.severity))
                    .inc();
                let detector = shared.name_of(finding.detector);
                shared.outputs.anomalies.do_send(Anomaly {
                    series: series.clone(),
                    detector,
                    severity: finding.severity,
                    value: finding.value,
                    threshold: finding.threshold,
                    confidence: finding.confidence,
                    message: self.detector.explain(&finding),
                    started_at,
                    at: m.at,
                    stats: self.detector.stats(),
                });
            }
            Some(Event::Resolved) => shared.outputs.resolved.do_send(Resolved {
                series: series.clone(),
                at: m.at,
                stats: self.detector.stats(),
            }),
            None => {}
        }
        self.persist(series, shared);
    }

    /// Queues the bucket the baseline just closed, if any, for the store's next batch.
    fn persist(&mut self, series: &SeriesKey, shared: &DetectorShared) {
        let Some((index, rollup)) = self.detector.take_rollup() else {
            return;
        };
        if shared.store.is_some() {
            let width = bucket_ms(&shared.settings.baseline);
            shared.save_rollup(SaveRollup {
                series: series.clone(),
                start_ms: index.saturating_mul(width),
                width_ms: width,
                rollup: to_record(rollup),
                keep_ms: shared.settings.baseline.history.as_millis() as i64,
            });
        }
    }
}

/// A closed bucket's rollup as the event store keeps it.
fn to_record(rollup: Rollup) -> RollupRecord {
    match rollup {
        Rollup::P90(ms) => RollupRecord::P90(ms),
        Rollup::Errors(c) => RollupRecord::Errors(BucketCounts {
            total: c.total,
            errors: c.errors,
        }),
    }
}

/// A stored rollup as the baselines take it back.
fn from_record(record: RollupRecord) -> Rollup {
    match record {
        RollupRecord::P90(ms) => Rollup::P90(ms),
        RollupRecord::Errors(c) => Rollup::Errors(ErrorCounts {
            total: c.total,
            errors: c.errors,
        }),
    }
}
