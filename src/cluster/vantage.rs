//! This vantage's own view, pure: which exchanges its probes see down (their breakers'
//! `availability` series), whether its own connectivity holds, and the [`Verdicts`] it
//! reports. Self-healthy means the canaries answer (when configured) and not every exchange
//! (at least two) is down at once — the same judgement as the Router's
//! `monitor_connectivity`. While not self-healthy, every verdict is `unknown`: a vantage that
//! cannot reach anything has no vote.

use std::collections::BTreeMap;

use crate::cluster::rows::{Verdict, VerdictState, Verdicts};
use crate::messages::Timestamp;

/// This vantage's view of the exchanges. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Vantage {
    /// Per configured exchange: down here, since when.
    exchanges: BTreeMap<String, (bool, Timestamp)>,
    canaries_down: bool,
}

impl Vantage {
    /// Every exchange of `exchanges` up since `at`.
    pub fn new(exchanges: impl IntoIterator<Item = String>, at: Timestamp) -> Self {
        Self {
            exchanges: exchanges.into_iter().map(|x| (x, (false, at))).collect(),
            canaries_down: false,
        }
    }

    /// Whether `exchange` is one this vantage probes (its verdict is asked of it).
    pub fn knows(&self, exchange: &str) -> bool {
        self.exchanges.contains_key(exchange)
    }

    /// The exchanges, sorted.
    pub fn exchanges(&self) -> impl Iterator<Item = &String> {
        self.exchanges.keys()
    }

    /// The exchanges probed now are `exchanges` (a reload): those kept keep their verdicts,
    /// new ones are up since `at`, the others are forgotten.
    pub fn set_exchanges(&mut self, exchanges: impl IntoIterator<Item = String>, at: Timestamp) {
        let old = std::mem::take(&mut self.exchanges);
        self.exchanges = (exchanges.into_iter())
            .map(|x| {
                let v = old.get(&x).copied().unwrap_or((false, at));
                (x, v)
            })
            .collect();
    }

    /// `exchange`'s breaker opened (`down`) or closed here at `at`; answers whether that
    /// changed anything.
    pub fn set_down(&mut self, exchange: &str, down: bool, at: Timestamp) -> bool {
        match self.exchanges.get_mut(exchange) {
            Some(e) if e.0 != down => {
                *e = (down, at);
                true
            }
            _ => false,
        }
    }

    /// The canaries' breaker opened or closed; answers whether that changed anything.
    pub fn set_canaries_down(&mut self, down: bool) -> bool {
        std::mem::replace(&mut self.canaries_down, down) != down
    }

    /// Whether this vantage's own connectivity holds.
    pub fn self_healthy(&self) -> bool {
        let all_down = self.exchanges.len() >= 2 && self.exchanges.values().all(|(down, _)| *down);
        !self.canaries_down && !all_down
    }

    /// What this vantage reports.
    pub fn verdicts(&self) -> Verdicts {
        let healthy = self.self_healthy();
        Verdicts {
            verdicts: (self.exchanges.iter())
                .map(|(x, (down, since))| Verdict {
                    exchange: x.clone(),
                    state: match (healthy, down) {
                        (false, _) => VerdictState::Unknown,
                        (true, true) => VerdictState::Down,
                        (true, false) => VerdictState::Up,
                    },
                    observed_ms: since.0,
                })
                .collect(),
            self_healthy: healthy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vantage_reports_downs_and_is_unknown_when_its_own_network_fails() {
        let mut v = Vantage::new(["okx".into(), "binance".into()], Timestamp(0));
        assert!(v.set_down("okx", true, Timestamp(5)));
        assert!(!v.set_down("okx", true, Timestamp(6)));
        assert!(!v.set_down("bybit", true, Timestamp(6)), "not probed here");
        let r = v.verdicts();
        assert!(r.self_healthy);
        let okx = r.verdicts.iter().find(|x| x.exchange == "okx").unwrap();
        assert_eq!((okx.state, okx.observed_ms), (VerdictState::Down, 5));
        // Everything down at once: our own network.
        v.set_down("binance", true, Timestamp(7));
        let r = v.verdicts();
        assert!(!r.self_healthy);
        assert!(r.verdicts.iter().all(|x| x.state == VerdictState::Unknown));
        v.set_down("binance", false, Timestamp(8));
        assert!(v.self_healthy());
        assert!(v.set_canaries_down(true));
        assert!(!v.self_healthy());
    }

    #[test]
    fn vantage_reload_keeps_verdicts_of_kept_exchanges_and_forgets_the_others() {
        let mut v = Vantage::new(["okx".into(), "binance".into()], Timestamp(0));
        v.set_down("okx", true, Timestamp(5));
        v.set_exchanges(["okx".into(), "kraken".into()], Timestamp(9));
        let r = v.verdicts();
        let names: Vec<&str> = r.verdicts.iter().map(|x| x.exchange.as_str()).collect();
        assert_eq!(names, ["kraken", "okx"]);
        assert_eq!(r.verdicts[1].state, VerdictState::Down);
        assert_eq!(
            (r.verdicts[0].state, r.verdicts[0].observed_ms),
            (VerdictState::Up, 9)
        );
        assert!(!v.knows("binance"));
    }

    #[test]
    fn vantage_with_one_exchange_is_healthy_while_it_is_down() {
        let mut v = Vantage::new(["okx".into()], Timestamp(0));
        v.set_down("okx", true, Timestamp(1));
        assert!(v.self_healthy());
        assert_eq!(v.verdicts().verdicts[0].state, VerdictState::Down);
    }
}
