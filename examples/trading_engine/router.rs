//! The engine's order router: which venue gets the next order, given what exwatch says.
//!
//! [`Routing`] is the decision, plain code: round-robin over the venues whose circuit breaker
//! is not open. [`OrderRouter`] is the thin actor around it: it starts exwatch inside the
//! engine's actix System, hears its anomalies and resolutions, and forwards the engine's own
//! order measurements to it. The integration test `tests/it/embedding.rs` includes this file
//! and drives it by injecting measurements.

use std::collections::{BTreeSet, HashMap};

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, ResponseFuture};
use exwatch::messages::{Anomaly, CircuitState, Measurement, Metric, Resolved, SeriesKey};
use exwatch::settings::Settings;
use exwatch::{Monitor, MonitorHandle};

/// What changed in the routing after exwatch spoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// No more orders to this venue: its breaker is open.
    Stopped(String),
    /// Orders go to this venue again: its breaker closed.
    Resumed(String),
}

/// The routing decision: round-robin over the venues whose breaker is not open.
#[derive(Debug)]
pub struct Routing {
    venues: Vec<String>,
    blocked: BTreeSet<String>,
    next: usize,
}

/// The venue whose breaker `series` reports, if it is a breaker series (`availability`,
/// endpoint `*`).
fn breaker_of(series: &SeriesKey) -> Option<&str> {
    (series.metric == Metric::Availability && &*series.endpoint == "*").then_some(&*series.exchange)
}

impl Routing {
    /// Routes over `venues`, all open for business.
    pub fn new(venues: &[&str]) -> Self {
        Self {
            venues: venues.iter().map(|v| v.to_string()).collect(),
            blocked: BTreeSet::new(),
            next: 0,
        }
    }

    /// The venue of the next order, `None` when every venue is blocked.
    pub fn route(&mut self) -> Option<String> {
        let n = self.venues.len();
        let pick = (0..n)
            .map(|i| (self.next + i) % n)
            .find(|&i| !self.blocked.contains(&self.venues[i]))?;
        self.next = (pick + 1) % n;
        Some(self.venues[pick].clone())
    }

    /// The venues no order goes to now.
    pub fn blocked(&self) -> Vec<String> {
        self.blocked.iter().cloned().collect()
    }

    /// An anomaly: a breaker that opened on one of our venues blocks it. Other anomalies
    /// (latency, rejects) are for people; the breaker is what the router acts on.
    pub fn on_anomaly(&mut self, a: &Anomaly) -> Option<Change> {
        let venue = breaker_of(&a.series)?;
        let open = a.value >= CircuitState::Open.as_value();
        (open && self.venues.iter().any(|v| v == venue) && self.blocked.insert(venue.to_owned()))
            .then(|| Change::Stopped(venue.to_owned()))
    }

    /// A resolution: a breaker that closed unblocks its venue.
    pub fn on_resolved(&mut self, r: &Resolved) -> Option<Change> {
        let venue = breaker_of(&r.series)?;
        self.blocked
            .remove(venue)
            .then(|| Change::Resumed(venue.to_owned()))
    }
}

/// Asks for the venue of the next order (`None`: nowhere to send it).
#[derive(Message)]
#[rtype(result = "Option<String>")]
pub struct RouteOrder;

/// Asks for the venues that get no orders now.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct Blocked;

/// Stops exwatch, then the router; answers whether exwatch delivered every alert.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Shutdown;

/// The actor: owns the [`Routing`] and the running exwatch.
pub struct OrderRouter {
    routing: Routing,
    monitor: Option<MonitorHandle>,
    /// Whether to print routing changes and anomalies (the example does, the test does not).
    verbose: bool,
    /// The severity last printed per series: detectors repeat an anomaly for every
    /// anomalous sample, the engine's log shows only news.
    printed: HashMap<SeriesKey, exwatch::Severity>,
}

impl OrderRouter {
    /// Starts exwatch with `settings` inside the current actix System, subscribed to this
    /// router, and the router over `venues`. Fails when exwatch cannot start (for example,
    /// another monitor runs on the same event store).
    pub fn start(
        settings: Settings,
        venues: &[&str],
        verbose: bool,
    ) -> Result<Addr<OrderRouter>, exwatch::Error> {
        let ctx = Context::new();
        let me = ctx.address();
        let monitor = Monitor::builder(settings)
            .subscribe(me.clone().recipient())
            .subscribe_resolved(me.recipient())
            .start()?;
        Ok(ctx.run(OrderRouter {
            routing: Routing::new(venues),
            monitor: Some(monitor),
            verbose,
            printed: HashMap::new(),
        }))
    }

    fn apply(&self, change: Option<Change>) {
        match change {
            Some(Change::Stopped(v)) if self.verbose => {
                println!("  ROUTER  {v}: breaker open, no more orders to {v}")
            }
            Some(Change::Resumed(v)) if self.verbose => {
                println!("  ROUTER  {v}: breaker closed, routing to {v} again")
            }
            _ => {}
        }
    }
}

impl Actor for OrderRouter {
    type Context = Context<Self>;
}

impl Handler<RouteOrder> for OrderRouter {
    type Result = Option<String>;

    fn handle(&mut self, _: RouteOrder, _: &mut Context<Self>) -> Option<String> {
        self.routing.route()
    }
}

impl Handler<Blocked> for OrderRouter {
    type Result = Vec<String>;

    fn handle(&mut self, _: Blocked, _: &mut Context<Self>) -> Vec<String> {
        self.routing.blocked()
    }
}

/// The engine's own observations (order latency, rejects) go to exwatch's detectors.
impl Handler<Measurement> for OrderRouter {
    type Result = ();

    fn handle(&mut self, m: Measurement, _: &mut Context<Self>) {
        if let Some(monitor) = &self.monitor {
            monitor.inject(m);
        }
    }
}

impl Handler<Anomaly> for OrderRouter {
    type Result = ();

    fn handle(&mut self, a: Anomaly, _: &mut Context<Self>) {
        let change = self.routing.on_anomaly(&a);
        let news = self.printed.get(&a.series).is_none_or(|s| a.severity > *s);
        if self.verbose && news {
            self.printed.insert(a.series.clone(), a.severity);
            println!(
                "  EXWATCH {} {} {}: {}",
                a.severity, a.series, a.detector, a.message
            );
        }
        self.apply(change);
    }
}

impl Handler<Resolved> for OrderRouter {
    type Result = ();

    fn handle(&mut self, r: Resolved, _: &mut Context<Self>) {
        if self.verbose && self.printed.remove(&r.series).is_some() {
            println!("  EXWATCH resolved {}", r.series);
        }
        let change = self.routing.on_resolved(&r);
        self.apply(change);
    }
}

impl Handler<Shutdown> for OrderRouter {
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        ctx.stop();
        let monitor = self.monitor.take();
        Box::pin(async move {
            match monitor {
                Some(m) => m.stop().await,
                None => true,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exwatch::messages::{Stats, Timestamp};

    fn breaker(venue: &str, value: f64) -> Anomaly {
        Anomaly {
            series: SeriesKey::new(venue, "*", Metric::Availability),
            detector: "circuit_open".into(),
            severity: exwatch::Severity::Critical,
            value,
            threshold: 2.0,
            confidence: 1.0,
            message: String::new(),
            started_at: Timestamp(0),
            at: Timestamp(0),
            stats: Stats::default(),
        }
    }

    #[test]
    fn an_open_breaker_takes_its_venue_out_of_the_rotation_until_it_closes() {
        let mut r = Routing::new(&["binance", "okx"]);
        assert_eq!(
            r.on_anomaly(&breaker("okx", 2.0)),
            Some(Change::Stopped("okx".into()))
        );
        assert_eq!(r.on_anomaly(&breaker("okx", 2.0)), None);
        assert!((0..4).all(|_| r.route().as_deref() == Some("binance")));
        let closed = Resolved {
            series: SeriesKey::new("okx", "*", Metric::Availability),
            at: Timestamp(1),
            stats: Stats::default(),
        };
        assert_eq!(r.on_resolved(&closed), Some(Change::Resumed("okx".into())));
        let next: Vec<_> = (0..2).filter_map(|_| r.route()).collect();
        assert!(next.contains(&"okx".to_string()));
    }
}
