//! The PriceActor: one per symbol quoted by two or more ticker endpoints. A thin shell around
//! [`PriceDetector`]: it receives every venue's last price as a [`PriceQuote`] (routed by
//! [`PriceRoutes`] from the `price` measurements the probes already send) and reports each
//! deviating exchange on the series (exchange, symbol series such as `btc-usdt`,
//! `price_deviation_bps`) with detector `price_deviation`. Supervised and guarded like the
//! DetectorActor; a restart forgets the quotes but keeps the episodes.

use std::sync::Arc;

use actix::{Actor, Addr, ArbiterHandle, Context, Handler, Message, Supervised, Supervisor};

use crate::config::{EndpointKind, ExchangeSettings, SupervisionSettings};
use crate::detect::config::PriceSettings;
use crate::detect::price::{PriceDetector, PriceEvent, SymbolVenues, symbol_series};
use crate::detect::shared::DetectorOutputs;
use crate::messages::{
    Anomaly, Crash, Measurement, Metric, Name, Ping, Resolved, SeriesKey, Severity, Stats,
};
use crate::metrics::{Counter, Metrics};
use crate::supervision::{RestartTracker, guard};

/// One venue's last price, for the PriceActor of its symbol.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct PriceQuote {
    /// The venue's slot in [`SymbolVenues::venues`].
    pub venue: usize,
    /// The measurement (its value is the price, its `at` the event time).
    pub measurement: Measurement,
}

/// Price deviation for one symbol.
pub struct PriceActor {
    venues: SymbolVenues,
    /// The alert series of each venue, built once.
    series: Vec<SeriesKey>,
    detector: PriceDetector,
    outputs: DetectorOutputs,
    detector_name: Name,
    updates: Counter,
    /// `exwatch_anomalies_total` per venue and severity.
    anomalies: Vec<[Counter; 3]>,
    restarts: RestartTracker,
}

impl PriceActor {
    /// A detector comparing `venues`' prices.
    pub fn new(
        venues: SymbolVenues,
        settings: &PriceSettings,
        supervision: &SupervisionSettings,
        outputs: DetectorOutputs,
        metrics: &Metrics,
    ) -> Self {
        let metric = Metric::PriceDeviationBps;
        let series: Vec<_> = venues
            .venues
            .iter()
            .map(|(exchange, _)| SeriesKey::new(exchange.clone(), venues.series.clone(), metric))
            .collect();
        let anomalies = series
            .iter()
            .map(|s| {
                [Severity::Info, Severity::Warning, Severity::Critical].map(|sev| {
                    metrics.counter(
                        "exwatch_anomalies_total",
                        &[
                            ("exchange", &s.exchange),
                            ("metric", metric.as_str()),
                            ("severity", sev.as_str()),
                        ],
                    )
                })
            })
            .collect();
        let restarts = RestartTracker::new(
            Name::from(format!("price:{}", venues.series)),
            supervision,
            metrics,
            Some(outputs.anomalies.clone()),
        );
        Self {
            detector: PriceDetector::new(venues.venues.len(), settings),
            updates: metrics.counter(
                "exwatch_detector_updates_total",
                &[("metric", metric.as_str())],
            ),
            detector_name: Name::from(crate::detect::price::DETECTOR),
            venues,
            series,
            outputs,
            anomalies,
            restarts,
        }
    }

    fn judge(&mut self, q: &PriceQuote) {
        let m = &q.measurement;
        if !m.outcome.is_ok() || q.venue >= self.series.len() {
            return;
        }
        self.updates.inc();
        let series = &self.series[q.venue];
        match self.detector.observe(q.venue, m.value, m.at) {
            Some(PriceEvent::Firing {
                finding,
                price,
                reference,
                started_at,
            }) => {
                self.anomalies[q.venue][finding.severity as usize].inc();
                self.outputs.anomalies.do_send(Anomaly {
                    series: series.clone(),
                    detector: self.detector_name.clone(),
                    severity: finding.severity,
                    value: finding.value,
                    threshold: finding.threshold,
                    confidence: finding.confidence,
                    message: format!(
                        "{} {} last price {price} is {:+.1} bps from the other exchanges' median {reference} (limit {} bps)",
                        series.exchange, self.venues.symbol, finding.value, finding.threshold
                    ),
                    started_at,
                    at: m.at,
                    stats: Stats::default(),
                });
            }
            Some(PriceEvent::Resolved) => self.outputs.resolved.do_send(Resolved {
                series: series.clone(),
                at: m.at,
                stats: Stats::default(),
            }),
            None => {}
        }
    }
}

impl Actor for PriceActor {
    type Context = Context<Self>;
}

impl Supervised for PriceActor {
    /// Forgets the quotes (fresh ones arrive within one probe interval); keeps the episodes.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record(actix::clock::Instant::now());
        self.detector = self.detector.rebuilt();
    }
}

impl Handler<PriceQuote> for PriceActor {
    type Result = ();

    fn handle(&mut self, q: PriceQuote, ctx: &mut Context<Self>) {
        guard(self, ctx, "price", |act, _| act.judge(&q));
    }
}

impl Handler<Crash> for PriceActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        guard(self, ctx, "price", |_, _| {
            panic!("fault injected by a Crash message")
        });
    }
}

impl Handler<Ping> for PriceActor {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

/// Where each ticker endpoint's prices go: (exchange, endpoint) → (PriceActor, venue slot).
/// Built once at start; a lookup is a scan of the few ticker endpoints, no allocation.
#[derive(Default, Clone)]
pub struct PriceRoutes {
    routes: Vec<(Name, Name, Addr<PriceActor>, usize)>,
    actors: Vec<Addr<PriceActor>>,
}

impl PriceRoutes {
    /// Groups the ticker endpoints of `exchanges` by symbol and starts one PriceActor per
    /// symbol quoted by at least two endpoints (one venue alone has nothing to compare with).
    pub fn start(
        exchanges: &[ExchangeSettings],
        arbiter: &ArbiterHandle,
        settings: &PriceSettings,
        supervision: &SupervisionSettings,
        outputs: &DetectorOutputs,
        metrics: &Arc<Metrics>,
    ) -> Self {
        let mut symbols: Vec<SymbolVenues> = Vec::new();
        for ex in exchanges {
            for ep in &ex.endpoints {
                let (EndpointKind::Ticker, Some(symbol)) = (ep.kind, &ep.symbol) else {
                    continue;
                };
                let series = symbol_series(symbol);
                let venue = (ex.name.clone(), ep.name.clone());
                match symbols.iter_mut().find(|s| *s.series == *series) {
                    Some(s) => s.venues.push(venue),
                    None => symbols.push(SymbolVenues {
                        symbol: symbol.clone(),
                        series: Name::from(series),
                        venues: vec![venue],
                    }),
                }
            }
        }
        let mut out = Self::default();
        for sv in symbols {
            if sv.venues.len() < 2 {
                tracing::info!(symbol = %sv.symbol, "Only one ticker quotes this symbol; no price comparison.");
                continue;
            }
            if sv.venues.len() > crate::detect::price::MAX_VENUES {
                tracing::warn!(symbol = %sv.symbol, "Too many tickers for one symbol; the extra ones are not compared.");
            }
            let venues = sv.venues.clone();
            let (settings, supervision, outputs, metrics) = (
                settings.clone(),
                supervision.clone(),
                outputs.clone(),
                metrics.clone(),
            );
            let addr = Supervisor::start_in_arbiter(arbiter, move |_| {
                PriceActor::new(sv, &settings, &supervision, outputs, &metrics)
            });
            for (slot, (exchange, endpoint)) in venues.into_iter().enumerate() {
                out.routes.push((exchange, endpoint, addr.clone(), slot));
            }
            out.actors.push(addr);
        }
        out
    }

    /// Forwards a `price` measurement of a ticker endpoint to its symbol's PriceActor; anything
    /// else (other metrics, prices of unknown endpoints) is ignored.
    pub fn send(&self, m: &Measurement) {
        if m.series.metric != Metric::Price {
            return;
        }
        let found = self
            .routes
            .iter()
            .find(|(ex, ep, _, _)| *ex == m.series.exchange && *ep == m.series.endpoint);
        if let Some((_, _, addr, venue)) = found {
            addr.do_send(PriceQuote {
                venue: *venue,
                measurement: m.clone(),
            });
        }
    }

    /// Every running PriceActor.
    pub fn actors(&self) -> &[Addr<PriceActor>] {
        &self.actors
    }
}
