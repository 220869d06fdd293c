//! The DetectorActor: one per series. Owns that series' [`SeriesDetector`] (windows and
//! baseline); accepts [`Measurement`]s, emits [`Anomaly`] and [`Resolved`] to the Router.
//! No timers: everything runs on measurement timestamps. A restart rebuilds the models
//! (their windows start empty) but keeps whether the series was firing, so a crash never
//! produces a false "resolved" nor loses one.
//!
//! Learned baselines persist: each closed bucket's rollup goes to the event store
//! ([`SaveRollup`]), and at every start (first or after a restart) the actor loads the series'
//! persisted rollups ([`LoadRollups`]) before it handles any measurement — `ctx.wait` holds
//! the mailbox until the answer (or [`WARM_START_WAIT`]), so measurements that arrive
//! meanwhile queue up and count once, after the history they follow.
//!
//! A monitor runs two or three detectors per probed endpoint, so what they have in common
//! (settings, outputs, the store link, the metrics registry, counters, detector names) sits in
//! one [`DetectorShared`] behind an `Arc`; an actor holds only its series, its model and two
//! pointers. Its restart tracker is built at its first restart.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Recipient, Supervised, WrapFuture,
};
use parking_lot::Mutex;

use crate::config::SupervisionSettings;
use crate::detect::baseline::{ErrorCounts, Rollup, bucket_ms};
use crate::detect::config::DetectSettings;
use crate::detect::series::{Event, SeriesDetector};
use crate::messages::{
    Anomaly, Crash, Measurement, Metric, Name, Ping, Resolved, SeriesKey, Severity,
};
use crate::metrics::{Counter, Metrics};
use crate::store::{BaselineLink, BucketCounts, LoadRollups, RollupRecord, SaveRollup};
use crate::supervision::{RestartTracker, guard};

/// The longest a starting detector waits for its persisted baseline before it starts cold.
pub const WARM_START_WAIT: Duration = Duration::from_secs(5);

/// Where a detector sends its judgements (the Router).
#[derive(Clone)]
pub struct DetectorOutputs {
    /// Firing judgements.
    pub anomalies: Recipient<Anomaly>,
    /// Recoveries.
    pub resolved: Recipient<Resolved>,
}

/// The counters of one (exchange, metric): every detector of those shares them.
struct SeriesCounters {
    /// `exwatch_detector_updates_total{metric}`.
    updates: Counter,
    /// `exwatch_anomalies_total{exchange,metric,severity}`, by severity, registered at the
    /// first anomaly of its kind: three registry entries per exchange and metric up front were
    /// ≈ 1.5 KB per exchange, for counters most exchanges never move.
    anomalies: [std::sync::OnceLock<Counter>; 3],
}

/// What all the detectors of a [`DetectorSet`](crate::detect::DetectorSet) share.
pub struct DetectorShared {
    settings: Arc<DetectSettings>,
    supervision: SupervisionSettings,
    outputs: DetectorOutputs,
    /// Where learned baselines persist, if anywhere.
    store: Option<BaselineLink>,
    metrics: Arc<Metrics>,
    /// `exwatch_actor_restarts_total{actor="detector"}`, registered with the first detector.
    restarts: OnceLock<Counter>,
    counters: Mutex<HashMap<(Name, Metric), Arc<SeriesCounters>>>,
    /// Detector names already made into `Name`s: firings reuse them.
    names: Mutex<Vec<(&'static str, Name)>>,
}

impl DetectorShared {
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
            metrics,
            restarts: OnceLock::new(),
            counters: Mutex::new(HashMap::new()),
            names: Mutex::new(Vec::new()),
        })
    }

    /// The counters of `series`' exchange and metric, registered on first use.
    fn counters(&self, series: &SeriesKey) -> Arc<SeriesCounters> {
        let key = (series.exchange.clone(), series.metric);
        self.counters
            .lock()
            .entry(key)
            .or_insert_with(|| {
                Arc::new(SeriesCounters {
                    updates: self.metrics.counter(
                        "exwatch_detector_updates_total",
                        &[("metric", series.metric.as_str())],
                    ),
                    anomalies: Default::default(),
                })
            })
            .clone()
    }

    /// `exwatch_anomalies_total{exchange,metric,severity}` of `series`' exchange and metric.
    fn anomaly_counter(&self, series: &SeriesKey, severity: Severity) -> Counter {
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
    fn name_of(&self, detector: &'static str) -> Name {
        let mut names = self.names.lock();
        if let Some((_, name)) = names.iter().find(|(d, _)| *d == detector) {
            return name.clone();
        }
        let name = Name::from(detector);
        names.push((detector, name.clone()));
        name
    }
}

/// Detection for one series.
pub struct DetectorActor {
    series: SeriesKey,
    detector: SeriesDetector,
    shared: Arc<DetectorShared>,
    counters: Arc<SeriesCounters>,
    /// Built at the first restart (it names the actor, which costs an allocation).
    restarts: Option<Box<RestartTracker>>,
}

impl DetectorActor {
    /// A detector for `series`, sharing `shared` with the other detectors of its set.
    pub fn new(series: SeriesKey, shared: &Arc<DetectorShared>) -> Self {
        // Registered with the first detector, as a per-actor tracker would.
        shared.restarts.get_or_init(|| {
            shared
                .metrics
                .counter("exwatch_actor_restarts_total", &[("actor", "detector")])
        });
        Self {
            detector: SeriesDetector::for_series(&series, &shared.settings),
            counters: shared.counters(&series),
            shared: shared.clone(),
            series,
            restarts: None,
        }
    }

    /// Loads the persisted rollups, holding the mailbox until they are in (see the module).
    fn warm_start(&mut self, ctx: &mut Context<Self>) {
        let Some(store) = (self.shared.store.as_ref()).filter(|_| self.detector.has_baseline())
        else {
            return;
        };
        let width = bucket_ms(&self.shared.settings.baseline);
        let load = store
            .load
            .send(LoadRollups {
                series: self.series.clone(),
                width_ms: width,
                keep_ms: self.shared.settings.baseline.history.as_millis() as i64,
            })
            .timeout(WARM_START_WAIT);
        ctx.wait(load.into_actor(self).map(move |answer, act, _| match answer {
            Ok(rollups) if !rollups.is_empty() => {
                for &(start_ms, rollup) in &rollups {
                    act.detector.restore(start_ms.div_euclid(width), from_record(rollup));
                }
                tracing::info!(series = %act.series, buckets = rollups.len(), "Learned baseline warm-started from the event store.");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(series = %act.series, error = %e, "Learned baseline not loaded; starting cold.");
            }
        }));
    }

    /// Sends the bucket the baseline just closed, if any, to the store.
    fn persist(&mut self) {
        let Some((index, rollup)) = self.detector.take_rollup() else {
            return;
        };
        if let Some(store) = &self.shared.store {
            let width = bucket_ms(&self.shared.settings.baseline);
            store.save.do_send(SaveRollup {
                series: self.series.clone(),
                start_ms: index.saturating_mul(width),
                width_ms: width,
                rollup: to_record(rollup),
                keep_ms: self.shared.settings.baseline.history.as_millis() as i64,
            });
        }
    }

    fn judge(&mut self, m: &Measurement) {
        self.counters.updates.inc();
        match self.detector.observe(m) {
            Some(Event::Firing {
                finding,
                started_at,
            }) => {
                self.counters.anomalies[finding.severity as usize]
                    .get_or_init(|| self.shared.anomaly_counter(&self.series, finding.severity))
                    .inc();
                let detector = self.shared.name_of(finding.detector);
                self.shared.outputs.anomalies.do_send(Anomaly {
                    series: self.series.clone(),
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
            Some(Event::Resolved) => self.shared.outputs.resolved.do_send(Resolved {
                series: self.series.clone(),
                at: m.at,
                stats: self.detector.stats(),
            }),
            None => {}
        }
        self.persist();
    }
}

impl Actor for DetectorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.warm_start(ctx);
    }
}

impl Supervised for DetectorActor {
    /// Rebuilds the models from the settings; the firing flag and the restart budget survive.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        let (shared, series) = (&self.shared, &self.series);
        let tracker = self.restarts.get_or_insert_with(|| {
            Box::new(RestartTracker::new(
                Name::from(format!("detector:{series}")),
                &shared.supervision,
                &shared.metrics,
                Some(shared.outputs.anomalies.clone()),
            ))
        });
        tracker.record(actix::clock::Instant::now());
        self.detector = self
            .detector
            .rebuilt(self.series.metric, &self.shared.settings);
    }
}

impl Handler<Measurement> for DetectorActor {
    type Result = ();

    fn handle(&mut self, m: Measurement, ctx: &mut Context<Self>) {
        guard(self, ctx, "detector", |act, _| act.judge(&m));
    }
}

impl Handler<Crash> for DetectorActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        guard(self, ctx, "detector", |_, _| {
            panic!("fault injected by a Crash message")
        });
    }
}

impl Handler<Ping> for DetectorActor {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
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
