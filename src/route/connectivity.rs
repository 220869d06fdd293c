//! Our own network: when every configured exchange is down at once, the likeliest cause is
//! exwatch's own connectivity, not N simultaneous outages. Pure: fed the exchanges'
//! availability anomalies (circuit open) and resolutions with their event times, it says when
//! the monitor lost and regained its connectivity; the Router sends one `monitor_connectivity`
//! alert for it and inhibits the per-exchange alerts meanwhile.
//!
//! It needs at least two exchanges: with one, "every exchange is down" is that exchange being
//! down, and its own alert says so more precisely.

use std::collections::HashSet;

use crate::messages::{Alert, AlertKind, Metric, Name, Severity, Stats, Timestamp, new_id};

/// The exchange name of exwatch's own series.
pub const OWN_EXCHANGE: &str = "exwatch";

/// The `monitor_connectivity` alert (critical, exchange `exwatch`): firing when every exchange
/// is down, resolved when one answers again. `stats` gives the circuit state, if known.
pub fn alert(region: &Name, edge: Edge, stats: &Stats) -> Alert {
    let (kind, title, message, started_at, at) = match edge {
        Edge::Lost { at } => (
            AlertKind::Firing,
            format!("{OWN_EXCHANGE} connectivity lost"),
            "every exchange is down at once: most likely exwatch's own network; \
             per-exchange alerts are held back until one answers again"
                .to_string(),
            at,
            at,
        ),
        Edge::Restored { since, at } => (
            AlertKind::Resolved,
            format!("{OWN_EXCHANGE} connectivity restored"),
            format!(
                "an exchange answers again after {}",
                humantime::format_duration(at.since(since))
            ),
            since,
            at,
        ),
    };
    Alert {
        id: new_id(),
        kind,
        severity: Severity::Critical,
        exchange: Name::from(OWN_EXCHANGE),
        endpoint: Name::from("*"),
        metric: Metric::Availability,
        detector: Name::from("monitor_connectivity"),
        title,
        message,
        value: if kind == AlertKind::Firing { 1.0 } else { 0.0 },
        threshold: 0.0,
        region: region.clone(),
        started_at,
        at,
        stats: Stats {
            circuit: stats.circuit,
            ..Stats::default()
        },
        in_reply_to: None,
        group: None,
    }
}

/// The fewest configured exchanges for the judgement to apply.
pub const MIN_EXCHANGES: usize = 2;

/// A change of the monitor's own connectivity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Every exchange is down: lost since `at`.
    Lost {
        /// When the last exchange went down (event time).
        at: Timestamp,
    },
    /// An exchange answers again.
    Restored {
        /// When connectivity was lost.
        since: Timestamp,
        /// When the first exchange came back (event time).
        at: Timestamp,
    },
}

/// Which exchanges are down, and whether that is all of them.
#[derive(Debug)]
pub struct Connectivity {
    exchanges: usize,
    down: HashSet<Name>,
    lost_at: Option<Timestamp>,
}

impl Connectivity {
    /// A judge for a monitor probing `exchanges` exchanges.
    pub fn new(exchanges: usize) -> Self {
        Self {
            exchanges,
            down: HashSet::new(),
            lost_at: None,
        }
    }

    /// The monitor now probes `exchanges` exchanges (a live reload); those down stay down.
    pub fn set_exchanges(&mut self, exchanges: usize) {
        self.exchanges = exchanges;
    }

    /// `exchange` is down (its circuit opened) at `at`.
    pub fn on_down(&mut self, exchange: &Name, at: Timestamp) -> Option<Edge> {
        self.down.insert(exchange.clone());
        if self.lost_at.is_none()
            && self.exchanges >= MIN_EXCHANGES
            && self.down.len() >= self.exchanges
        {
            self.lost_at = Some(at);
            return Some(Edge::Lost { at });
        }
        None
    }

    /// `exchange` answers again at `at`.
    pub fn on_up(&mut self, exchange: &Name, at: Timestamp) -> Option<Edge> {
        if !self.down.remove(exchange) {
            return None;
        }
        let since = self.lost_at.take()?;
        Some(Edge::Restored { since, at })
    }

    /// `exchange` was removed from the configuration: it no longer counts as down. A loss
    /// in progress stays until an exchange still probed answers.
    pub fn forget(&mut self, exchange: &Name) {
        self.down.remove(exchange);
    }

    /// The canaries fail too (see [`crate::route::correlation`]): lost at `at` if any
    /// exchange is down, without waiting for all of them.
    pub fn canaries_lost(&mut self, at: Timestamp) -> Option<Edge> {
        if self.lost_at.is_some() || self.down.is_empty() {
            return None;
        }
        self.lost_at = Some(at);
        Some(Edge::Lost { at })
    }

    /// The canaries answer again at `at`: connectivity is restored unless every exchange is
    /// still down.
    pub fn canaries_back(&mut self, at: Timestamp) -> Option<Edge> {
        if self.down.len() >= self.exchanges.max(MIN_EXCHANGES) {
            return None;
        }
        let since = self.lost_at.take()?;
        Some(Edge::Restored { since, at })
    }

    /// How many exchanges the monitor probes.
    pub fn configured(&self) -> usize {
        self.exchanges
    }

    /// Whether the judgement applies at all (at least [`MIN_EXCHANGES`] exchanges).
    pub fn judges(&self) -> bool {
        self.exchanges >= MIN_EXCHANGES
    }

    /// Whether connectivity is lost now (per-exchange alerts are inhibited).
    pub fn lost(&self) -> bool {
        self.lost_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::from(s)
    }

    #[test]
    fn lost_when_every_exchange_is_down_restored_when_one_answers() {
        let mut c = Connectivity::new(3);
        assert_eq!(c.on_down(&n("binance"), Timestamp(1)), None);
        assert_eq!(c.on_down(&n("bybit"), Timestamp(2)), None);
        // Repeats count once.
        assert_eq!(c.on_down(&n("bybit"), Timestamp(3)), None);
        assert!(!c.lost());
        assert_eq!(
            c.on_down(&n("okx"), Timestamp(4)),
            Some(Edge::Lost { at: Timestamp(4) })
        );
        assert!(c.lost());
        assert_eq!(c.on_down(&n("okx"), Timestamp(5)), None, "said once");
        assert_eq!(
            c.on_up(&n("bybit"), Timestamp(9)),
            Some(Edge::Restored {
                since: Timestamp(4),
                at: Timestamp(9)
            })
        );
        assert!(!c.lost());
        assert_eq!(c.on_up(&n("okx"), Timestamp(10)), None);
        assert_eq!(c.on_up(&n("nope"), Timestamp(10)), None);
    }

    #[test]
    fn the_alert_is_critical_on_exwatch() {
        let region = n("eu");
        let lost = alert(&region, Edge::Lost { at: Timestamp(4) }, &Stats::default());
        assert_eq!(
            (lost.kind, lost.severity, &*lost.exchange, &*lost.detector),
            (
                AlertKind::Firing,
                Severity::Critical,
                "exwatch",
                "monitor_connectivity"
            )
        );
        let back = alert(
            &region,
            Edge::Restored {
                since: Timestamp(4),
                at: Timestamp(60_004),
            },
            &Stats::default(),
        );
        assert_eq!(
            (back.kind, back.started_at),
            (AlertKind::Resolved, Timestamp(4))
        );
        assert!(back.message.contains("1m"), "{}", back.message);
    }

    #[test]
    fn one_exchange_is_never_our_network() {
        let mut c = Connectivity::new(1);
        assert_eq!(c.on_down(&n("binance"), Timestamp(1)), None);
        assert!(!c.lost());
        let mut none = Connectivity::new(0);
        assert_eq!(none.on_down(&n("binance"), Timestamp(1)), None);
    }
}
