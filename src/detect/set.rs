//! The set of running detectors: finds (or starts) the DetectorActor of a series.
//!
//! Probes and the embedding engine both send measurements through it. It is shared across
//! arbiters' threads, hence the `parking_lot::Mutex` around the map: a lookup is a short
//! critical section with no await inside, cheaper and simpler than a message round trip.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use actix::{Addr, ArbiterHandle, Supervisor};
use parking_lot::Mutex;

use crate::config::{DetectSettings, ExchangeSettings, RuleSettings, SupervisionSettings};
use crate::detect::actor::{DetectorActor, DetectorOutputs, DetectorShared};
use crate::detect::price_actor::{PriceActor, PriceRoutes};
use crate::detect::rule_actor::RuleActor;
use crate::messages::{Measurement, Metric, SeriesKey};
use crate::metrics::Metrics;
use crate::status::StatusBoard;
use crate::store::BaselineLink;

/// The most series one monitor tracks (a probed endpoint has two or three: 25 000 endpoints
/// need up to 75 000); more is almost surely a bug in the sender (a series key built from a
/// changing value) and would grow without bound. A monitor sets its own, lower limit from its
/// config ([`DetectorSet::limit_series`]).
pub const MAX_SERIES: usize = 250_000;

struct Inner {
    arbiter: ArbiterHandle,
    settings: Arc<DetectSettings>,
    supervision: SupervisionSettings,
    outputs: DetectorOutputs,
    metrics: Arc<Metrics>,
    /// What the detectors started before [`DetectorSet::persist_baselines`] share.
    cold: Arc<DetectorShared>,
    detectors: Mutex<HashMap<SeriesKey, Addr<DetectorActor>>>,
    /// Set once by [`DetectorSet::start_prices`].
    prices: OnceLock<PriceRoutes>,
    /// Set once by [`DetectorSet::start_rules`]; `None` inside when no rule applies.
    rules: OnceLock<Option<Addr<RuleActor>>>,
    /// What the detectors share, with the store link; set once by
    /// [`DetectorSet::persist_baselines`].
    warm: OnceLock<Arc<DetectorShared>>,
    /// Set once by [`DetectorSet::attach_status`].
    status: OnceLock<Arc<StatusBoard>>,
    /// Set once by [`DetectorSet::limit_series`].
    max_series: OnceLock<usize>,
}

/// A cheap-to-clone handle on the running detectors.
#[derive(Clone)]
pub struct DetectorSet {
    inner: Arc<Inner>,
}

impl DetectorSet {
    /// Detectors that will run on `arbiter` and report to `outputs`.
    pub fn new(
        arbiter: ArbiterHandle,
        settings: DetectSettings,
        supervision: SupervisionSettings,
        outputs: DetectorOutputs,
        metrics: Arc<Metrics>,
    ) -> Self {
        let settings = Arc::new(settings);
        let cold = DetectorShared::new(
            settings.clone(),
            supervision.clone(),
            outputs.clone(),
            metrics.clone(),
            None,
        );
        Self {
            inner: Arc::new(Inner {
                arbiter,
                settings,
                supervision,
                outputs,
                metrics,
                cold,
                detectors: Mutex::new(HashMap::new()),
                prices: OnceLock::new(),
                rules: OnceLock::new(),
                warm: OnceLock::new(),
                status: OnceLock::new(),
                max_series: OnceLock::new(),
            }),
        }
    }

    /// The detector of `series`, started on first use. `None` past the limit
    /// ([`DetectorSet::limit_series`], else [`MAX_SERIES`]).
    pub fn get(&self, series: &SeriesKey) -> Option<Addr<DetectorActor>> {
        let inner = &self.inner;
        let mut map = inner.detectors.lock();
        if let Some(addr) = map.get(series) {
            return Some(addr.clone());
        }
        if map.len() >= inner.max_series.get().copied().unwrap_or(MAX_SERIES) {
            tracing::warn!(series = %series, "Too many series; measurement dropped.");
            return None;
        }
        let key = series.clone();
        let shared = inner.warm.get().unwrap_or(&inner.cold).clone();
        let addr =
            Supervisor::start_in_arbiter(&inner.arbiter, move |_| DetectorActor::new(key, &shared));
        map.insert(series.clone(), addr.clone());
        Some(addr)
    }

    /// Sends a measurement to its series' detector.
    pub fn send(&self, m: Measurement) {
        if let Some(board) = self.inner.status.get() {
            board.record(&m);
        }
        if let Some(prices) = self.inner.prices.get() {
            prices.send(&m);
        }
        if let Some(Some(rules)) = self.inner.rules.get()
            && matches!(m.series.metric, Metric::Errors | Metric::LatencyMs)
        {
            rules.do_send(m.clone());
        }
        if let Some(addr) = self.get(&m.series) {
            addr.do_send(m);
        }
    }

    /// Starts one PriceActor per symbol quoted by two or more of `exchanges`' ticker
    /// endpoints, and routes their `price` measurements to it from now on. Only the first
    /// call has an effect.
    pub fn start_prices(&self, exchanges: &[ExchangeSettings]) {
        let inner = &self.inner;
        inner.prices.get_or_init(|| {
            PriceRoutes::start(
                exchanges,
                &inner.arbiter,
                &inner.settings.price,
                &inner.supervision,
                &inner.outputs,
                &inner.metrics,
            )
        });
    }

    /// Starts the RuleActor judging `rules` (those scoped to another region than `region` are
    /// left out), and routes `errors` and `latency_ms` measurements to it from now on. Nothing
    /// runs when no rule applies. Only the first call has an effect.
    pub fn start_rules(&self, rules: &[RuleSettings], region: &str) {
        let inner = &self.inner;
        inner.rules.get_or_init(|| {
            let (supervision, outputs, metrics) = (
                inner.supervision.clone(),
                inner.outputs.clone(),
                inner.metrics.clone(),
            );
            let probe = RuleActor::new(rules, region, &supervision, outputs.clone(), &metrics);
            if probe.is_empty() {
                return None;
            }
            let rules = rules.to_vec();
            let region = region.to_owned();
            Some(Supervisor::start_in_arbiter(&inner.arbiter, move |_| {
                RuleActor::new(&rules, &region, &supervision, outputs, &metrics)
            }))
        });
    }

    /// Persists the learned baselines of detectors started from now on through `store`, and
    /// warm-starts them from it. Only the first call has an effect.
    pub fn persist_baselines(&self, store: BaselineLink) {
        let inner = &self.inner;
        inner.warm.get_or_init(|| {
            DetectorShared::new(
                inner.settings.clone(),
                inner.supervision.clone(),
                inner.outputs.clone(),
                inner.metrics.clone(),
                Some(store),
            )
        });
    }

    /// The running RuleActor, if any rule applies.
    pub fn rule_actor(&self) -> Option<Addr<RuleActor>> {
        self.inner.rules.get().cloned().flatten()
    }

    /// Every running PriceActor.
    pub fn price_actors(&self) -> Vec<Addr<PriceActor>> {
        self.inner
            .prices
            .get()
            .map(|p| p.actors().to_vec())
            .unwrap_or_default()
    }

    /// Every running detector.
    pub fn all(&self) -> Vec<Addr<DetectorActor>> {
        self.inner.detectors.lock().values().cloned().collect()
    }

    /// Tracks at most `max` series (capped at [`MAX_SERIES`]): a monitor sets it from its
    /// configured endpoints, so a sender inventing series names is stopped long before the
    /// detectors' memory matters. Only the first call has an effect.
    pub fn limit_series(&self, max: usize) {
        let _ = self.inner.max_series.set(max.min(MAX_SERIES));
    }

    /// Feeds every measurement sent from now on to `board` as well (the live status). Only
    /// the first call has an effect.
    pub fn attach_status(&self, board: Arc<StatusBoard>) {
        let _ = self.inner.status.set(board);
    }
}
