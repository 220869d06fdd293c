//! The set of running detectors, and the measurement sink every probe emits into.
//!
//! [`DetectorSet::send`] passes each measurement through the named [`Taps`] in order — the
//! live status board, the cross-exchange price comparison, the operator rules — and then to
//! the [`DetectorActor`] of its exchange (one per exchange, judging every series of it),
//! started on first use. An embedding engine and the stream probes send through it, one
//! measurement at a time; a REST probe holds its exchange's detector
//! ([`DetectorSet::shard_on`], started on the probe's own arbiter) and sends each probe's
//! measurements as one message ([`DetectorSet::send_batch`], a [`Measurements`]).
//!
//! A set is built complete by [`DetectorSetBuilder`] (every part given up front, in any
//! order); a live reload swaps its taps and its settings with [`DetectorSet::reconfigure`],
//! resetting only the series whose settings changed ([`ResetSeries`]), and
//! [`DetectorSet::forget`] drops what a reload removed. The exchanges' detectors are found
//! in a map shared across arbiters' threads behind a `parking_lot::Mutex` (a lookup is a
//! short critical section with no await inside); the taps and the settings for new series are
//! read through `ArcSwap`, so the hot path takes no lock for them and allocates nothing.
//! The series limit ([`SeriesLimit`]) is counted by the detectors as they track series.

use std::collections::HashMap;
use std::sync::Arc;

use actix::{Addr, ArbiterHandle, Supervisor};
use arc_swap::ArcSwap;
use parking_lot::Mutex;

use crate::config::{ExchangeSettings, SupervisionSettings};
use crate::detect::actor::{AfterForget, DetectorActor, ForgetSeries, ResetSeries};
use crate::detect::batch::Measurements;
use crate::detect::config::{DetectSettings, RuleSettings};
use crate::detect::handle::DetectorHandle;
use crate::detect::price_actor::{PriceActor, PriceRoutes};
use crate::detect::rule_actor::RuleActor;
use crate::detect::shared::{DetectorOutputs, DetectorShared, SeriesLimit};
use crate::messages::{Measurement, Metric, Name, Removed, SeriesKey};
use crate::metrics::Metrics;
use crate::status::StatusBoard;
use crate::store::BaselineLink;

/// The most series one monitor tracks (a probed endpoint has two or three: 25 000 endpoints
/// need up to 75 000); more is almost surely a bug in the sender (a series key built from a
/// changing value) and would grow without bound. A monitor sets its own, lower limit from its
/// config ([`DetectorSetBuilder::max_series`]).
pub const MAX_SERIES: usize = 250_000;

/// What every measurement passes through before its series' detector, in this order.
#[derive(Default)]
pub struct Taps {
    /// The live status board (`GET /api/v1/status`): every measurement.
    pub status: Option<Arc<StatusBoard>>,
    /// The cross-exchange price comparison: `price` measurements of ticker endpoints.
    pub prices: PriceRoutes,
    /// The operator rules: `errors` and `latency_ms` measurements.
    pub rules: Option<Addr<RuleActor>>,
}

/// What the detectors are started with; the parts a reload may change.
struct Parts {
    settings: DetectSettings,
    /// The exchanges with ticker endpoints, with only those ([`ticker_exchanges`]).
    exchanges: Vec<ExchangeSettings>,
    rules: Vec<RuleSettings>,
}

struct Inner {
    arbiter: ArbiterHandle,
    supervision: SupervisionSettings,
    outputs: DetectorOutputs,
    metrics: Arc<Metrics>,
    baselines: Option<BaselineLink>,
    region: Name,
    /// What detectors started from now on share (their settings among it).
    shared: ArcSwap<DetectorShared>,
    taps: ArcSwap<Taps>,
    /// The series tracked, against `max_series`; outlives reloads.
    limit: Arc<SeriesLimit>,
    /// One detector per exchange, looked up for every measurement sent one by one: hashed
    /// with foldhash, not SipHash (the keys are the monitor's own exchange names). A probe
    /// holds its exchange's detector and does not look it up.
    shards: Mutex<HashMap<Name, Addr<DetectorActor>, foldhash::fast::RandomState>>,
    /// The parts the running taps and detectors were built from (a reload compares with it).
    parts: Mutex<Parts>,
}

/// A cheap-to-clone handle on the running detectors. See the module docs.
#[derive(Clone)]
pub struct DetectorSet {
    inner: Arc<Inner>,
}

/// Builds a [`DetectorSet`] complete: each method records one part, in any order, and
/// [`DetectorSetBuilder::build`] starts the taps.
pub struct DetectorSetBuilder {
    arbiter: ArbiterHandle,
    settings: DetectSettings,
    supervision: SupervisionSettings,
    outputs: DetectorOutputs,
    metrics: Arc<Metrics>,
    baselines: Option<BaselineLink>,
    max_series: usize,
    exchanges: Vec<ExchangeSettings>,
    rules: Vec<RuleSettings>,
    region: Name,
    status: Option<Arc<StatusBoard>>,
}

impl DetectorSetBuilder {
    /// Persists the learned baselines through `store` and warm-starts new detectors from it.
    pub fn baselines(mut self, store: BaselineLink) -> Self {
        self.baselines = Some(store);
        self
    }

    /// Tracks at most `max` series (capped at [`MAX_SERIES`]): a monitor sets it from its
    /// configured endpoints, so a sender inventing series names is stopped long before the
    /// detectors' memory matters.
    pub fn max_series(mut self, max: usize) -> Self {
        self.max_series = max.min(MAX_SERIES);
        self
    }

    /// Compares the prices of `exchanges`' ticker endpoints: one PriceActor per symbol quoted
    /// by two or more of them.
    pub fn prices(mut self, exchanges: &[ExchangeSettings]) -> Self {
        self.exchanges = ticker_exchanges(exchanges);
        self
    }

    /// Judges the operator `rules` (those scoped to another region than `region` are left
    /// out); nothing runs when no rule applies.
    pub fn rules(mut self, rules: &[RuleSettings], region: &str) -> Self {
        self.rules = rules.to_vec();
        self.region = Name::from(region);
        self
    }

    /// Feeds every measurement to `board` as well (the live status).
    pub fn status(mut self, board: Arc<StatusBoard>) -> Self {
        self.status = Some(board);
        self
    }

    /// Starts the taps; detectors start with their series' first measurement.
    pub fn build(self) -> DetectorSet {
        let shared = DetectorShared::new(
            Arc::new(self.settings.clone()),
            self.supervision.clone(),
            self.outputs.clone(),
            self.metrics.clone(),
            self.baselines.clone(),
        );
        let inner = Inner {
            arbiter: self.arbiter,
            supervision: self.supervision,
            outputs: self.outputs,
            metrics: self.metrics,
            baselines: self.baselines,
            region: self.region,
            shared: ArcSwap::new(shared),
            taps: ArcSwap::from_pointee(Taps::default()),
            limit: SeriesLimit::new(self.max_series),
            shards: Mutex::new(HashMap::default()),
            parts: Mutex::new(Parts {
                settings: self.settings,
                exchanges: self.exchanges,
                rules: self.rules,
            }),
        };
        let taps = {
            let parts = inner.parts.lock();
            Taps {
                status: self.status,
                prices: inner.start_prices(&parts),
                rules: inner.start_rules(&parts.rules),
            }
        };
        inner.taps.store(Arc::new(taps));
        DetectorSet {
            inner: Arc::new(inner),
        }
    }
}

/// What a reload hands a running [`DetectorSet`].
pub struct Reconfigure<'a> {
    /// The new `[detect]` settings.
    pub settings: DetectSettings,
    /// The configured exchanges (ticker endpoints for prices, signing windows for clocks).
    pub exchanges: &'a [ExchangeSettings],
    /// The operator rules.
    pub rules: &'a [RuleSettings],
    /// The new series limit.
    pub max_series: usize,
}

impl Inner {
    fn start_prices(&self, parts: &Parts) -> PriceRoutes {
        PriceRoutes::start(
            &parts.exchanges,
            &self.arbiter,
            &parts.settings.price,
            &self.supervision,
            &self.outputs,
            &self.metrics,
        )
    }

    fn start_rules(&self, rules: &[RuleSettings]) -> Option<Addr<RuleActor>> {
        let (supervision, outputs, metrics) = (
            self.supervision.clone(),
            self.outputs.clone(),
            self.metrics.clone(),
        );
        let probe = RuleActor::new(rules, &self.region, &supervision, outputs.clone(), &metrics);
        if probe.is_empty() {
            return None;
        }
        let (rules, region) = (rules.to_vec(), self.region.clone());
        Some(Supervisor::start_in_arbiter(&self.arbiter, move |_| {
            RuleActor::new(&rules, &region, &supervision, outputs, &metrics)
        }))
    }
}

impl DetectorSet {
    /// A builder of detectors that will run on `arbiter` and report to `outputs`.
    pub fn builder(
        arbiter: ArbiterHandle,
        settings: DetectSettings,
        supervision: SupervisionSettings,
        outputs: DetectorOutputs,
        metrics: Arc<Metrics>,
    ) -> DetectorSetBuilder {
        DetectorSetBuilder {
            arbiter,
            settings,
            supervision,
            outputs,
            metrics,
            baselines: None,
            max_series: MAX_SERIES,
            exchanges: Vec::new(),
            rules: Vec::new(),
            region: Name::from(""),
            status: None,
        }
    }

    /// The detector of `exchange` (one actor judges all its series), started on the
    /// set's arbiter on first use.
    pub fn shard(&self, exchange: &Name) -> Addr<DetectorActor> {
        self.shard_on(exchange, &self.inner.arbiter)
    }

    /// The detector of `exchange`, started on `arbiter` if none runs yet. A probe asks for
    /// its exchange's detector on its own arbiter, so that its measurements are a message
    /// within its thread (see the module docs).
    pub fn shard_on(&self, exchange: &Name, arbiter: &ArbiterHandle) -> Addr<DetectorActor> {
        let inner = &self.inner;
        let mut map = inner.shards.lock();
        if let Some(addr) = map.get(exchange) {
            return addr.clone();
        }
        let (name, shared, limit) = (
            exchange.clone(),
            inner.shared.load_full(),
            inner.limit.clone(),
        );
        let addr =
            Supervisor::start_in_arbiter(arbiter, move |_| DetectorActor::new(name, shared, limit));
        map.insert(exchange.clone(), addr.clone());
        addr
    }

    /// The detector of `series`: its exchange's actor (started on first use) and the series
    /// within it. Always `Some` (an `Option` since a series past the limit had no actor of
    /// its own): the series itself is tracked from its first measurement, within the limit
    /// ([`DetectorSetBuilder::max_series`], else [`MAX_SERIES`]); past it, its measurements
    /// are dropped (and logged) and [`DetectorHandle::state`] answers `None`.
    pub fn get(&self, series: &SeriesKey) -> Option<DetectorHandle> {
        Some(DetectorHandle::new(
            self.shard(&series.exchange),
            series.clone(),
        ))
    }

    /// Passes `m` through the [`Taps`].
    fn tap(taps: &Taps, m: &Measurement) {
        if let Some(board) = &taps.status {
            board.record(m);
        }
        Self::tap_past_board(taps, m);
    }

    /// [`DetectorSet::tap`] but for the status board.
    fn tap_past_board(taps: &Taps, m: &Measurement) {
        taps.prices.send(m);
        if let Some(rules) = &taps.rules
            && matches!(m.series.metric, Metric::Errors | Metric::LatencyMs)
        {
            rules.do_send(m.clone());
        }
    }

    /// Sends the baselines' rollups queued for the store now (the monitor calls it as it
    /// stops, before it closes the store).
    pub fn flush_rollups(&self) {
        self.inner.shared.load().flush_rollups();
    }

    /// Sends a measurement through the [`Taps`] and to its exchange's detector.
    pub fn send(&self, m: Measurement) {
        Self::tap(&self.inner.taps.load(), &m);
        let map = self.inner.shards.lock();
        if let Some(addr) = map.get(&m.series.exchange) {
            addr.do_send(m);
            return;
        }
        drop(map);
        // A new exchange's detector only while there is room for its series: a sender
        // inventing exchange names must not grow the actors without bound.
        if self.inner.limit.is_full() {
            tracing::debug!(series = %m.series, "Too many series; measurement dropped.");
            return;
        }
        self.shard(&m.series.exchange).do_send(m);
    }

    /// Sends a measurement of `shard`'s exchange through the [`Taps`] and to `shard` (the
    /// exchange's detector, which the sender holds: no lookup).
    pub fn send_to(&self, shard: &Addr<DetectorActor>, m: Measurement) {
        Self::tap(&self.inner.taps.load(), &m);
        shard.do_send(m);
    }

    /// Sends a probe's measurements (all of `shard`'s exchange) through the [`Taps`], one by
    /// one, and to `shard` as one message.
    pub fn send_batch(&self, shard: &Addr<DetectorActor>, batch: Measurements) {
        if batch.is_empty() {
            return;
        }
        let taps = self.inner.taps.load();
        if let Some(board) = &taps.status {
            board.record_all(batch.iter());
        }
        for m in batch.iter() {
            Self::tap_past_board(&taps, m);
        }
        shard.do_send(batch);
    }

    /// Applies a reload: what changed restarts, what did not keeps its state. The detectors
    /// of a metric whose settings changed are dropped (their series start afresh, learned
    /// baselines warm-started from the store); the price comparison restarts when the ticker
    /// endpoints or `[detect.price]` changed, the rules when they changed. Returns what was
    /// restarted, for the reload report.
    pub fn reconfigure(&self, new: Reconfigure<'_>) -> Vec<String> {
        let inner = &self.inner;
        let mut parts = inner.parts.lock();
        let old = &parts.settings;
        let s = &new.settings;
        let mut dropped: Vec<Metric> = Vec::new();
        if old.latency != s.latency || old.likelihood != s.likelihood || old.baseline != s.baseline
        {
            dropped.push(Metric::LatencyMs);
        }
        if old.errors != s.errors || old.baseline != s.baseline {
            dropped.push(Metric::Errors);
        }
        if old.clock != s.clock {
            dropped.push(Metric::ClockSkewMs);
        }
        let prices_changed =
            old.price != s.price || tickers(&parts.exchanges) != tickers(new.exchanges);
        let rules_changed = parts.rules != new.rules;
        let mut restarted: Vec<String> = dropped
            .iter()
            .map(|m| format!("detectors of {}", m.as_str()))
            .collect();
        if *old != *s {
            let mut shared = DetectorShared::new(
                Arc::new(s.clone()),
                inner.supervision.clone(),
                inner.outputs.clone(),
                inner.metrics.clone(),
                inner.baselines.clone(),
            );
            if let Some(new) = Arc::get_mut(&mut shared) {
                new.share_rollups_with(&inner.shared.load());
            }
            inner.shared.store(shared.clone());
            for shard in inner.shards.lock().values() {
                shard.do_send(ResetSeries {
                    metrics: dropped.clone(),
                    shared: shared.clone(),
                });
            }
        }
        inner.limit.set_max(new.max_series.min(MAX_SERIES));
        parts.settings = new.settings;
        parts.exchanges = ticker_exchanges(new.exchanges);
        parts.rules = new.rules.to_vec();
        if prices_changed || rules_changed {
            let current = inner.taps.load_full();
            let taps = Taps {
                status: current.status.clone(),
                prices: if prices_changed {
                    restarted.push("price comparison".to_owned());
                    inner.start_prices(&parts)
                } else {
                    current.prices.clone()
                },
                rules: if rules_changed {
                    restarted.push("rules".to_owned());
                    inner.start_rules(&parts.rules)
                } else {
                    current.rules.clone()
                },
            };
            inner.taps.store(Arc::new(taps));
        }
        restarted
    }

    /// Forgets the series a reload removed: a removed exchange's detector leaves the set
    /// (it ends once its last address is gone), a removed endpoint's series leave their
    /// exchange's detector, and the rules' series of them leave the rules actor. `then` runs
    /// once every detector told (and the rules actor) has dropped them (at once when none
    /// was): telling the Router to forget them there, rather than beside this call,
    /// keeps an anomaly still queued in a detector from reopening an incident the forget
    /// resolved. Answers how many detectors were told.
    pub fn forget(
        &self,
        removed: &[Removed],
        then: impl FnOnce() + Send + Sync + 'static,
    ) -> usize {
        let done = AfterForget::new(then);
        let mut shards = self.inner.shards.lock();
        let mut told = 0;
        for (exchange, shard) in shards.iter() {
            let mine: Vec<Removed> = (removed.iter())
                .filter(|r| r.exchange() == exchange)
                .cloned()
                .collect();
            if !mine.is_empty() {
                shard.do_send(ForgetSeries {
                    removed: mine,
                    done: done.clone(),
                });
                told += 1;
            }
        }
        shards.retain(|exchange, _| {
            !removed
                .iter()
                .any(|r| matches!(r, Removed::Exchange(x) if x == exchange))
        });
        drop(shards);
        // The rules judge the same measurements and report on the series of the removed
        // endpoints too (`<endpoint>:<rule>`): they drop them as well, and hold `then` back
        // until the rule anomalies already queued have gone out.
        if let Some(rules) = &self.inner.taps.load().rules {
            rules.do_send(ForgetSeries {
                removed: removed.to_vec(),
                done: done.clone(),
            });
        }
        told
    }

    /// How many series the set tracks now (every exchange's detector together).
    pub fn series_count(&self) -> usize {
        self.inner.limit.count()
    }

    /// The running RuleActor, if any rule applies.
    pub fn rule_actor(&self) -> Option<Addr<RuleActor>> {
        self.inner.taps.load().rules.clone()
    }

    /// Every running PriceActor.
    pub fn price_actors(&self) -> Vec<Addr<PriceActor>> {
        self.inner.taps.load().prices.actors().to_vec()
    }

    /// Every running detector (one per exchange).
    pub fn all(&self) -> Vec<Addr<DetectorActor>> {
        self.inner.shards.lock().values().cloned().collect()
    }
}

/// The exchanges of `exchanges` with ticker endpoints, with only those: all the set keeps of
/// them (a copy of every exchange's settings cost ≈ 250 B an exchange for nothing).
fn ticker_exchanges(exchanges: &[ExchangeSettings]) -> Vec<ExchangeSettings> {
    let is_ticker =
        |e: &&crate::config::EndpointSettings| e.kind == crate::config::EndpointKind::Ticker;
    exchanges
        .iter()
        .filter(|x| x.endpoints.iter().any(|e| is_ticker(&e)))
        .map(|x| ExchangeSettings {
            name: x.name.clone(),
            max_connections: x.max_connections,
            confirm_per_minute: x.confirm_per_minute,
            endpoints: x.endpoints.iter().filter(is_ticker).cloned().collect(),
            recv_window: x.recv_window,
            ahead_window: x.ahead_window,
        })
        .collect()
}

/// The ticker endpoints of `exchanges`, with their symbols: what the price comparison is
/// built from.
fn tickers(exchanges: &[ExchangeSettings]) -> Vec<(&str, &str, Option<&str>)> {
    exchanges
        .iter()
        .flat_map(|x| {
            x.endpoints
                .iter()
                .filter(|e| e.kind == crate::config::EndpointKind::Ticker)
                .map(move |e| (&*x.name, &*e.name, e.symbol.as_deref()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use actix::{Actor, Context, Handler, Message};
    use parking_lot::Mutex;

    use super::*;
    use crate::detect::config::RuleScope;
    use crate::detect::rules::{RuleMetric, RuleOp};
    use crate::detect::shared::DetectorOutputs;
    use crate::messages::{Anomaly, Outcome, Ping, Resolved, Severity, Timestamp};
    use crate::metrics::Metrics;

    /// The forget's action, as the Router would receive it.
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Forgotten;

    /// Writes down what reaches the Router, in its order.
    struct Router(Arc<Mutex<Vec<String>>>);
    impl Actor for Router {
        type Context = Context<Self>;
    }
    impl Handler<Anomaly> for Router {
        type Result = ();
        fn handle(&mut self, a: Anomaly, _: &mut Context<Self>) {
            self.0.lock().push(format!("anomaly {}", a.series.endpoint));
        }
    }
    impl Handler<Resolved> for Router {
        type Result = ();
        fn handle(&mut self, _: Resolved, _: &mut Context<Self>) {}
    }
    impl Handler<Forgotten> for Router {
        type Result = ();
        fn handle(&mut self, _: Forgotten, _: &mut Context<Self>) {
            self.0.lock().push("forgotten".to_owned());
        }
    }

    fn errors(status: u16, secs: i64) -> Measurement {
        let outcome = if status == 200 {
            Outcome::Ok
        } else {
            Outcome::Http5xx
        };
        Measurement {
            series: SeriesKey::new("okx", "ping", Metric::Errors),
            value: if outcome.is_ok() { 0.0 } else { 1.0 },
            outcome,
            status,
            at: Timestamp(1_800_000_000_000 + secs * 1000),
        }
    }

    /// A rule anomaly of a removed endpoint still queued in the rules actor reaches the Router
    /// before the forget (which would otherwise resolve the incident and see it reopened).
    #[actix::test]
    async fn the_forget_waits_for_the_rules_anomalies_of_the_removed_series() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let router = Router(log.clone()).start();
        let rule = RuleSettings {
            name: Name::from("okx-5xx"),
            metric: RuleMetric::ErrorRate5xx,
            op: RuleOp::Gt,
            threshold: 0.10,
            hold: Duration::from_secs(30),
            window: Duration::from_secs(30),
            scope: RuleScope {
                exchange: Some(Name::from("okx")),
                ..RuleScope::default()
            },
            severity: Severity::Critical,
        };
        let set = DetectorSet::builder(
            actix::Arbiter::current(),
            DetectSettings::default(),
            SupervisionSettings::default(),
            DetectorOutputs {
                anomalies: router.clone().recipient(),
                resolved: router.clone().recipient(),
            },
            Arc::new(Metrics::new()),
        )
        .rules(std::slice::from_ref(&rule), "")
        .build();
        let rules = set.rule_actor().expect("a rule applies");
        // The endpoint's detector runs on its probe's thread, as in the monitor (it is told of
        // the forget at once); the rules have a backlog whose last measurements make the rule
        // fire.
        let probe_thread = actix::Arbiter::new();
        let _shard = set.shard_on(&Name::from("okx"), &probe_thread.handle());
        let healthy = 50_000;
        for i in 0..healthy {
            rules.do_send(errors(200, i / 100));
        }
        let from = healthy / 100;
        for i in from..from + 60 {
            rules.do_send(errors(503, i));
        }
        let removed = [Removed::Endpoint {
            exchange: Name::from("okx"),
            endpoint: Name::from("ping"),
        }];
        let to = router.clone();
        set.forget(&removed, move || to.do_send(Forgotten));
        rules.send(Ping).await.unwrap();
        for _ in 0..100 {
            if log.lock().iter().any(|e| e == "forgotten") {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
        probe_thread.stop();
        let log = log.lock().clone();
        let forgotten = log.iter().position(|e| e == "forgotten");
        let fired = log.iter().position(|e| e == "anomaly ping:okx-5xx");
        assert!(fired.is_some(), "the rule fired: {log:?}");
        assert!(forgotten.is_some(), "the forget went out: {log:?}");
        assert!(fired < forgotten, "the anomaly before the forget: {log:?}");
    }
}
