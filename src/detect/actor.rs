//! The DetectorActor: one per series. Owns that series' [`SeriesDetector`] (windows and
//! baseline); accepts [`Measurement`]s, emits [`Anomaly`] and [`Resolved`] to the Router.
//! No timers: everything runs on measurement timestamps. A restart rebuilds the models
//! (their windows start empty) but keeps whether the series was firing, so a crash never
//! produces a false "resolved" nor loses one.

use std::sync::Arc;

use actix::{Actor, Context, Handler, Recipient, Supervised};

use crate::config::{DetectSettings, SupervisionSettings};
use crate::detect::series::{Event, SeriesDetector};
use crate::messages::{Anomaly, Crash, Measurement, Name, Ping, Resolved, SeriesKey, Severity};
use crate::metrics::{Counter, Metrics};
use crate::supervision::{RestartTracker, guard};

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
    }
}

impl Actor for DetectorActor {
    type Context = Context<Self>;
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
