//! The correlation hold (`[router] correlation_hold`): an exchange's `down` alert (its
//! `availability` series, detector `circuit_open`) waits that long before it goes out, so that
//! when every exchange goes down together — exwatch's own network — the desk hears the one
//! `monitor_connectivity` alert and no per-exchange `down`. Pure: it keeps the held downs and
//! the exchanges whose probes are failing, and says, given the time, which downs are due; the
//! Router's core ([`crate::route::core::RouterCore`]) decides what happens to them.
//!
//! **Suspects.** Breakers of several exchanges do not open in the same second even when all
//! fail at once: an exchange with two endpoints reaches `failure_threshold` failures in half
//! the time of one with one endpoint, and timeouts stretch it further. So a due down is not
//! released while *every* other exchange is either down or failing (an `errors` series of it
//! is firing, e.g. `consecutive_failures`): the hold is extended, a hold at a time, until they
//! are all down (our network: the downs are dropped), or one stops failing (the down goes
//! out), or [`MAX_EXTENSIONS`] holds have passed. A single exchange's outage, with the others
//! answering, is never extended: it waits the hold and no more.
//!
//! **Canaries** (`[monitor] canaries`): URLs of the desk's own choosing, probed like the
//! endpoints of one more exchange, [`CANARY_EXCHANGE`], with its own breaker. While its breaker
//! is open (the canaries keep failing), an exchange going down is our own network: the Router
//! declares connectivity lost at once, without waiting for every exchange. The canaries are
//! never counted as an exchange, and their own alerts are at most warnings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use crate::messages::{Anomaly, Metric, Name, Timestamp};
use crate::route::connectivity::OWN_EXCHANGE;

/// The exchange name under which the canaries are probed (see the module docs).
pub const CANARY_EXCHANGE: &str = "exwatch-canary";

/// The detector of an exchange's `down` (its breaker opened).
pub const DOWN_DETECTOR: &str = "circuit_open";

/// How many further holds a due down may wait while every other exchange is down or failing
/// (see the module docs), counted in holds of at least [`MIN_EXTENSION_STEP`].
pub const MAX_EXTENSIONS: u32 = 10;

/// The shortest step of an extension: a tiny hold still waits long enough for breakers that
/// need a few confirmation re-probes (one a second by default).
pub const MIN_EXTENSION_STEP: Duration = Duration::from_secs(1);

/// Whether `exchange` is exwatch's own (its own series, or the canaries): never an exchange
/// as the all-down judgement counts them.
pub fn is_own(exchange: &str) -> bool {
    exchange == OWN_EXCHANGE || exchange == CANARY_EXCHANGE
}

/// Whether `a` is the canaries' breaker opening.
pub fn is_canary_down(a: &Anomaly) -> bool {
    &*a.series.exchange == CANARY_EXCHANGE
        && a.series.metric == Metric::Availability
        && &*a.detector == DOWN_DETECTOR
}

/// A down waiting for its hold to pass.
#[derive(Debug, Clone)]
struct HeldDown {
    anomaly: Anomaly,
    /// When it is due (event time).
    until: Timestamp,
    /// The latest it may be held to, extensions included.
    deadline: Timestamp,
}

/// What [`Correlation::due`] answers for one held down.
#[derive(Debug, Clone)]
pub enum Due {
    /// Its hold passed: let it through the gates now.
    Release(Anomaly),
    /// Every other exchange is down or failing: wait until `until`.
    Extend {
        /// The exchange.
        exchange: Name,
        /// The new due time.
        until: Timestamp,
    },
}

/// The held downs and the failing exchanges. See the module docs.
#[derive(Debug, Default)]
pub struct Correlation {
    hold: Duration,
    held: BTreeMap<Name, HeldDown>,
    /// Per exchange, its endpoints whose `errors` series is firing.
    failing: HashMap<Name, HashSet<Name>>,
    /// Whether the canaries' breaker is open.
    canaries_down: bool,
}

impl Correlation {
    /// Holds downs for `hold`; zero turns the hold off.
    pub fn new(hold: Duration) -> Self {
        Self {
            hold,
            ..Self::default()
        }
    }

    /// The hold (a live reload may change it; downs already held keep their due time).
    pub fn set_hold(&mut self, hold: Duration) {
        self.hold = hold;
    }

    /// The hold.
    pub fn hold(&self) -> Duration {
        self.hold
    }

    /// Whether `a` is a down the hold applies to: an exchange's (not exwatch's own) breaker
    /// opened, with a hold configured.
    pub fn applies(&self, a: &Anomaly) -> bool {
        !self.hold.is_zero()
            && a.series.metric == Metric::Availability
            && &*a.detector == DOWN_DETECTOR
            && !is_own(&a.series.exchange)
    }

    /// The canaries' breaker opened (`true`) or closed.
    pub fn set_canaries_down(&mut self, down: bool) {
        self.canaries_down = down;
    }

    /// Whether the canaries' breaker is open.
    pub fn canaries_down(&self) -> bool {
        self.canaries_down
    }

    /// Holds `a` (see [`Self::applies`]) until its hold has passed; answers when it is due. A
    /// down of an exchange already held keeps the first (and its due time).
    pub fn hold_down(&mut self, a: Anomaly) -> Timestamp {
        let until = a.at.plus(self.hold);
        let step = self.hold.max(MIN_EXTENSION_STEP);
        let deadline = until.plus(step * MAX_EXTENSIONS);
        let held = self
            .held
            .entry(a.series.exchange.clone())
            .or_insert(HeldDown {
                anomaly: a,
                until,
                deadline,
            });
        held.until
    }

    /// Whether a down of `exchange` is held.
    pub fn is_held(&self, exchange: &Name) -> bool {
        self.held.contains_key(exchange)
    }

    /// Forgets the held down of `exchange` (it recovered within the hold); answers it.
    pub fn recovered(&mut self, exchange: &Name) -> Option<Anomaly> {
        self.held.remove(exchange).map(|h| h.anomaly)
    }

    /// Forgets every held down (connectivity is lost: none of them goes out); answers them.
    pub fn drop_all(&mut self) -> Vec<Anomaly> {
        std::mem::take(&mut self.held)
            .into_values()
            .map(|h| h.anomaly)
            .collect()
    }

    /// `exchange` was removed from the configuration: its held down and failing endpoints
    /// are forgotten (nothing of it goes out). `endpoint` narrows it to one endpoint.
    pub fn forget(&mut self, exchange: &Name, endpoint: Option<&Name>) {
        match endpoint {
            None => {
                self.held.remove(exchange);
                self.failing.remove(exchange);
            }
            Some(endpoint) => self.on_errors(exchange, endpoint, false),
        }
    }

    /// An anomaly or resolution of an `errors` series: `failing` says whether it fires.
    pub fn on_errors(&mut self, exchange: &Name, endpoint: &Name, failing: bool) {
        if failing {
            (self.failing.entry(exchange.clone()).or_default()).insert(endpoint.clone());
        } else if let Some(eps) = self.failing.get_mut(exchange) {
            eps.remove(endpoint);
            if eps.is_empty() {
                self.failing.remove(exchange);
            }
        }
    }

    /// Whether `exchange` has a firing `errors` series.
    pub fn is_failing(&self, exchange: &Name) -> bool {
        self.failing.contains_key(exchange)
    }

    /// The exchanges with a firing `errors` series.
    pub fn failing_exchanges(&self) -> impl Iterator<Item = &Name> {
        self.failing.keys()
    }

    /// The held downs due at `now`. `all_in_trouble` says whether every exchange but the one
    /// asked about is down or failing: then the down is extended (up to its deadline).
    pub fn due(&mut self, now: Timestamp, all_in_trouble: impl Fn(&Name) -> bool) -> Vec<Due> {
        let mut out = Vec::new();
        let step = self.hold.max(MIN_EXTENSION_STEP);
        let due: Vec<Name> = (self.held.iter())
            .filter(|(_, h)| h.until <= now)
            .map(|(x, _)| x.clone())
            .collect();
        for exchange in due {
            let Some(h) = self.held.get_mut(&exchange) else {
                continue;
            };
            if h.until < h.deadline && all_in_trouble(&exchange) {
                h.until = now.plus(step).min(h.deadline);
                out.push(Due::Extend {
                    exchange,
                    until: h.until,
                });
                continue;
            }
            if let Some(h) = self.held.remove(&exchange) {
                out.push(Due::Release(h.anomaly));
            }
        }
        out
    }

    /// The earliest due time of a held down.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.held.values().map(|h| h.until).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{SeriesKey, Severity, Stats};

    fn down(exchange: &str, at: i64) -> Anomaly {
        Anomaly {
            series: SeriesKey::new(exchange, "*", Metric::Availability),
            detector: Name::from(DOWN_DETECTOR),
            severity: Severity::Critical,
            value: 2.0,
            threshold: 2.0,
            confidence: 1.0,
            message: "down".into(),
            started_at: Timestamp(at),
            at: Timestamp(at),
            stats: Stats::default(),
        }
    }

    #[test]
    fn a_down_is_due_after_the_hold_and_only_downs_are_held() {
        let mut c = Correlation::new(Duration::from_secs(1));
        let a = down("okx", 1000);
        assert!(c.applies(&a));
        let mut latency = a.clone();
        latency.series = SeriesKey::new("okx", "time", Metric::LatencyMs);
        assert!(!c.applies(&latency));
        let mut own = a.clone();
        own.series = SeriesKey::new(OWN_EXCHANGE, "*", Metric::Availability);
        assert!(!c.applies(&own));
        assert!(!Correlation::new(Duration::ZERO).applies(&a));
        assert_eq!(c.hold_down(a.clone()), Timestamp(2000));
        // A repeat keeps the first due time.
        assert_eq!(c.hold_down(down("okx", 1500)), Timestamp(2000));
        assert!(c.due(Timestamp(1999), |_| false).is_empty());
        assert_eq!(c.next_due(), Some(Timestamp(2000)));
        let due = c.due(Timestamp(2000), |_| false);
        assert!(matches!(&due[..], [Due::Release(x)] if x.at == Timestamp(1000)));
        assert_eq!(c.next_due(), None);
    }

    #[test]
    fn a_due_down_waits_while_every_other_exchange_is_in_trouble_up_to_a_deadline() {
        let mut c = Correlation::new(Duration::from_secs(1));
        c.hold_down(down("okx", 0));
        let due = c.due(Timestamp(1000), |_| true);
        assert!(matches!(&due[..], [Due::Extend { until, .. }] if *until == Timestamp(2000)));
        let mut last = Timestamp(2000);
        let mut released = None;
        for k in 2..20 {
            for d in c.due(Timestamp(k * 1000), |_| true) {
                match d {
                    Due::Extend { until, .. } => last = until,
                    Due::Release(_) => released = Some(k),
                }
            }
            if released.is_some() {
                break;
            }
        }
        assert_eq!(last, Timestamp(11_000));
        assert_eq!(released, Some(11), "released at its deadline");
    }

    #[test]
    fn failing_exchanges_are_tracked_by_endpoint() {
        let mut c = Correlation::new(Duration::from_secs(1));
        let (x, a, b) = (Name::from("bybit"), Name::from("time"), Name::from("ping"));
        c.on_errors(&x, &a, true);
        c.on_errors(&x, &b, true);
        c.on_errors(&x, &a, false);
        assert!(c.is_failing(&x));
        c.on_errors(&x, &b, false);
        assert!(!c.is_failing(&x));
        c.hold_down(down("okx", 0));
        assert!(c.is_held(&Name::from("okx")));
        assert!(c.recovered(&Name::from("okx")).is_some());
        c.hold_down(down("okx", 0));
        c.hold_down(down("binance", 0));
        assert_eq!(c.drop_all().len(), 2);
    }
}
