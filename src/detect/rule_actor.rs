//! The RuleActor: one per monitor, a thin shell around the [`RuleState`]s of every configured
//! rule (`[rules.<name>]`) and every series in its scope. The [`DetectorSet`](super::DetectorSet)
//! forwards it the `errors` and `latency_ms` measurements; it reports to the Router on the series
//! (exchange, `<endpoint>:<rule>`, source metric) with detector `rule:<name>`. The rule's name is
//! in the endpoint because the Router deduplicates by series: each rule then has its own episode,
//! never merged with the built-in detectors' alerts on the same endpoint nor with another rule's.
//! Supervised and guarded like the DetectorActor; a restart empties the windows but keeps which
//! rules are firing.

use std::collections::HashMap;

use actix::{Actor, Context, Handler, Supervised};

use crate::config::SupervisionSettings;
use crate::detect::actor::ForgetSeries;
use crate::detect::config::RuleSettings;
use crate::detect::rules::{RuleEvent, RuleState};
use crate::detect::set::MAX_SERIES;
use crate::detect::shared::DetectorOutputs;
use crate::messages::{Anomaly, Crash, Measurement, Name, Ping, Resolved, SeriesKey, Stats};
use crate::metrics::{Counter, Metrics};
use crate::supervision::{RestartTracker, guard};

/// One configured rule, with its names made once.
struct Rule {
    settings: RuleSettings,
    detector: Name,
}

/// One rule's state over one series.
struct Tracked {
    state: RuleState,
    /// The alert series: (exchange, `<endpoint>:<rule>`, source metric).
    series: SeriesKey,
}

/// Rules for every series.
pub struct RuleActor {
    rules: Vec<Rule>,
    /// (rule index, exchange, endpoint) → state.
    states: HashMap<(usize, Name, Name), Tracked>,
    outputs: DetectorOutputs,
    updates: Counter,
    restarts: RestartTracker,
}

impl RuleActor {
    /// An actor judging `rules`; rules scoped to another region than `region` are left out.
    pub fn new(
        rules: &[RuleSettings],
        region: &str,
        supervision: &SupervisionSettings,
        outputs: DetectorOutputs,
        metrics: &Metrics,
    ) -> Self {
        let rules = rules
            .iter()
            .filter(|r| r.scope.region.as_deref().is_none_or(|g| g == region))
            .map(|r| Rule {
                detector: Name::from(format!("rule:{}", r.name)),
                settings: r.clone(),
            })
            .collect();
        let restarts = RestartTracker::new(
            Name::from("rules"),
            supervision,
            metrics,
            Some(outputs.anomalies.clone()),
        );
        Self {
            rules,
            states: HashMap::new(),
            outputs,
            updates: metrics.counter("exwatch_detector_updates_total", &[("metric", "rule")]),
            restarts,
        }
    }

    /// True when no rule applies in this region: the actor need not run.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn judge(&mut self, m: &Measurement) {
        let (exchange, endpoint) = (&m.series.exchange, &m.series.endpoint);
        for (i, rule) in self.rules.iter().enumerate() {
            let s = &rule.settings;
            if s.metric.source() != m.series.metric || !s.scope.matches(exchange, endpoint) {
                continue;
            }
            let key = (i, exchange.clone(), endpoint.clone());
            if !self.states.contains_key(&key) {
                if self.states.len() >= MAX_SERIES {
                    tracing::warn!(rule = %s.name, series = %m.series, "Too many rule series; measurement dropped.");
                    continue;
                }
                let series = SeriesKey::new(
                    exchange.clone(),
                    format!("{endpoint}:{}", s.name),
                    m.series.metric,
                );
                let state = RuleState::new(s.condition());
                self.states.insert(key.clone(), Tracked { state, series });
            }
            let Some(t) = self.states.get_mut(&key) else {
                continue;
            };
            self.updates.inc();
            match t.state.observe(m) {
                Some(RuleEvent::Firing { value, started_at }) => {
                    self.outputs.anomalies.do_send(Anomaly {
                        series: t.series.clone(),
                        detector: rule.detector.clone(),
                        severity: s.severity,
                        value,
                        threshold: s.threshold,
                        confidence: 1.0,
                        message: format!(
                            "{exchange} {endpoint} {} {} {} {} over the last {}, for {} (rule {})",
                            s.metric,
                            s.metric.format(value),
                            s.op,
                            s.metric.format(s.threshold),
                            humantime::format_duration(s.window),
                            humantime::format_duration(s.hold),
                            s.name
                        ),
                        started_at,
                        at: m.at,
                        stats: Stats::default(),
                    });
                }
                Some(RuleEvent::Resolved { .. }) => self.outputs.resolved.do_send(Resolved {
                    series: t.series.clone(),
                    at: m.at,
                    stats: Stats::default(),
                }),
                None => {}
            }
        }
    }
}

impl Actor for RuleActor {
    type Context = Context<Self>;
}

impl Supervised for RuleActor {
    /// Empties the windows; keeps which rules fire and the restart budget.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record(actix::clock::Instant::now());
        for t in self.states.values_mut() {
            t.state = t.state.rebuilt();
        }
    }
}

impl Handler<Measurement> for RuleActor {
    type Result = ();

    fn handle(&mut self, m: Measurement, ctx: &mut Context<Self>) {
        guard(self, ctx, "rules", |act, _| act.judge(&m));
    }
}

impl Handler<ForgetSeries> for RuleActor {
    type Result = ();

    /// A reload removed endpoints or exchanges: their rules' series leave (the Router forgets
    /// their alerts), and `forget.done` drops after every anomaly they sent before.
    fn handle(&mut self, forget: ForgetSeries, _: &mut Context<Self>) {
        self.states.retain(|(_, exchange, endpoint), _| {
            !forget
                .removed
                .iter()
                .any(|r| r.covers_endpoint(exchange, endpoint))
        });
    }
}

impl Handler<Crash> for RuleActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        guard(self, ctx, "rules", |_, _| {
            panic!("fault injected by a Crash message")
        });
    }
}

impl Handler<Ping> for RuleActor {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}
