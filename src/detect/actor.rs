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

use std::sync::Arc;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Recipient, Supervised, WrapFuture,
};

use crate::config::{DetectSettings, SupervisionSettings};
use crate::detect::baseline::bucket_ms;
use crate::detect::series::{Event, SeriesDetector};
use crate::messages::{Anomaly, Crash, Measurement, Name, Ping, Resolved, SeriesKey, Severity};
use crate::metrics::{Counter, Metrics};
use crate::store::{BaselineLink, LoadRollups, SaveRollup};
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

/// Detection for one series.
pub struct DetectorActor {
    series: SeriesKey,
    settings: Arc<DetectSettings>,
    detector: SeriesDetector,
    outputs: DetectorOutputs,
    updates: Counter,
    anomalies: [Counter; 3],
    /// Detector names already made into `Name`s: a long episode reuses them.
    names: Vec<(&'static str, Name)>,
    restarts: RestartTracker,
    /// Where the learned baseline persists, if anywhere.
    store: Option<BaselineLink>,
}

impl DetectorActor {
    /// A detector for `series`.
    pub fn new(
        series: SeriesKey,
        settings: Arc<DetectSettings>,
        supervision: &SupervisionSettings,
        outputs: DetectorOutputs,
        metrics: &Metrics,
    ) -> Self {
        let metric = series.metric.as_str();
        let anomalies = [Severity::Info, Severity::Warning, Severity::Critical].map(|s| {
            metrics.counter(
                "exwatch_anomalies_total",
                &[
                    ("exchange", &series.exchange),
                    ("metric", metric),
                    ("severity", s.as_str()),
                ],
            )
        });
        let restarts = RestartTracker::new(
            Name::from(format!("detector:{series}")),
            supervision,
            metrics,
            Some(outputs.anomalies.clone()),
        );
        Self {
            detector: SeriesDetector::for_series(&series, &settings),
            updates: metrics.counter("exwatch_detector_updates_total", &[("metric", metric)]),
            series,
            settings,
            outputs,
            anomalies,
            names: Vec::new(),
            restarts,
            store: None,
        }
    }

    /// Persists the learned baseline through `store` and warm-starts from it.
    pub fn with_store(mut self, store: Option<BaselineLink>) -> Self {
        self.store = store;
        self
    }

    /// Loads the persisted rollups, holding the mailbox until they are in (see the module).
    fn warm_start(&mut self, ctx: &mut Context<Self>) {
        let Some(store) = self.store.as_ref().filter(|_| self.detector.has_baseline()) else {
            return;
        };
        let width = bucket_ms(&self.settings.baseline);
        let load = store
            .load
            .send(LoadRollups {
                series: self.series.clone(),
                width_ms: width,
                keep_ms: self.settings.baseline.history.as_millis() as i64,
            })
            .timeout(WARM_START_WAIT);
        ctx.wait(load.into_actor(self).map(move |answer, act, _| match answer {
            Ok(rollups) if !rollups.is_empty() => {
                for &(start_ms, rollup) in &rollups {
                    act.detector.restore(start_ms.div_euclid(width), rollup);
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
        if let Some(store) = &self.store {
            let width = bucket_ms(&self.settings.baseline);
            store.save.do_send(SaveRollup {
                series: self.series.clone(),
                start_ms: index.saturating_mul(width),
                width_ms: width,
                rollup,
                keep_ms: self.settings.baseline.history.as_millis() as i64,
            });
        }
    }

    fn name_of(&mut self, detector: &'static str) -> Name {
        if let Some((_, name)) = self.names.iter().find(|(d, _)| *d == detector) {
            return name.clone();
        }
        let name = Name::from(detector);
        self.names.push((detector, name.clone()));
        name
    }

    fn judge(&mut self, m: &Measurement) {
        self.updates.inc();
        match self.detector.observe(m) {
            Some(Event::Firing {
                finding,
                started_at,
            }) => {
                self.anomalies[finding.severity as usize].inc();
                let detector = self.name_of(finding.detector);
                self.outputs.anomalies.do_send(Anomaly {
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
            Some(Event::Resolved) => self.outputs.resolved.do_send(Resolved {
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
        self.restarts.record(actix::clock::Instant::now());
        self.detector = self.detector.rebuilt(self.series.metric, &self.settings);
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
