//! The quorum for "down", pure: given every vantage's vote on an exchange (its verdict,
//! whether the vantage reported within `vantage_stale_after`, whether its own connectivity
//! holds) and the quorum, [`decide`] says whether the exchange is [`Outcome::Down`] (at least
//! `quorum` fresh, self-healthy vantages see it down), [`Outcome::Unreachable`] from some
//! vantages (fewer votes: a warning naming them), or [`Outcome::Up`].
//!
//! A stale vantage, or one whose own connectivity failed, counts as unknown: it is no vote
//! either way, and it is not named. The answer depends on the votes only, never on who asks,
//! so every vantage that reads the same table reaches the same outcome — and sends the same
//! alert.
//!
//! What one vantage measures of an exchange's failures (its `errors` series: failing probes,
//! 5xx and 504 rates) pages only with the quorum: [`cap_local`] holds a critical one at warning
//! while the quorum does not see the exchange down, so a path problem between one site and an
//! exchange is a warning, not a page, whichever detector sees it first.

use crate::cluster::rows::VerdictState;
use crate::messages::{Anomaly, Metric, Severity};

/// One vantage's vote on one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// The vantage (`[monitor] region`).
    pub region: String,
    /// What it sees.
    pub state: VerdictState,
    /// It reported within `vantage_stale_after`.
    pub fresh: bool,
    /// Its own connectivity holds.
    pub self_healthy: bool,
}

impl Vote {
    /// Whether the vote counts at all (fresh and self-healthy, with a verdict).
    pub fn counts(&self) -> bool {
        self.fresh && self.self_healthy && self.state != VerdictState::Unknown
    }
}

/// What the vantages, together, say of one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No counted vantage sees it down.
    Up,
    /// Some counted vantages see it down, fewer than the quorum: the vantages, sorted.
    Unreachable {
        /// Those that see it down.
        from: Vec<String>,
        /// How many vantages counted.
        of: usize,
    },
    /// At least `quorum` counted vantages see it down: the vantages, sorted.
    Down {
        /// Those that see it down.
        from: Vec<String>,
        /// How many vantages counted.
        of: usize,
    },
}

impl Outcome {
    /// The vantages that see it down (none when up).
    pub fn from(&self) -> &[String] {
        match self {
            Outcome::Up => &[],
            Outcome::Unreachable { from, .. } | Outcome::Down { from, .. } => from,
        }
    }
}

/// The outcome of `votes` (one exchange's, one per vantage) under `quorum`.
pub fn decide(votes: &[Vote], quorum: usize) -> Outcome {
    let counted: Vec<&Vote> = votes.iter().filter(|v| v.counts()).collect();
    let mut from: Vec<String> = counted
        .iter()
        .filter(|v| v.state == VerdictState::Down)
        .map(|v| v.region.clone())
        .collect();
    from.sort();
    from.dedup();
    let of = counted.len();
    if from.is_empty() {
        Outcome::Up
    } else if from.len() >= quorum.max(1) {
        Outcome::Down { from, of }
    } else {
        Outcome::Unreachable { from, of }
    }
}

/// The warning's and the page's explanation: `okx unreachable from tokyo (1 of 3 vantages;
/// quorum 2)`, `okx down from singapore, tokyo (2 of 3 vantages; quorum 2)`.
pub fn describe(exchange: &str, outcome: &Outcome, quorum: usize) -> String {
    let (what, from, of) = match outcome {
        Outcome::Up => return format!("{exchange} answers from every vantage"),
        Outcome::Unreachable { from, of } => ("unreachable", from, of),
        Outcome::Down { from, of } => ("down", from, of),
    };
    format!(
        "{exchange} {what} from {} ({} of {of} vantages; quorum {quorum})",
        from.join(", "),
        from.len()
    )
}

/// Holds `a` at warning when it is a critical failure of an exchange (`errors` metric) seen
/// from `region` while the quorum's `outcome` for that exchange is not down, and says why in
/// its message. Anything else passes as it is.
pub fn cap_local(a: &mut Anomaly, outcome: Option<&Outcome>, region: &str) {
    let quorum_down = matches!(outcome, Some(Outcome::Down { .. }));
    if a.series.metric != Metric::Errors || a.severity != Severity::Critical || quorum_down {
        return;
    }
    a.severity = Severity::Warning;
    a.message.push_str(&format!(
        " (seen from {region}; held at warning: the quorum does not see {} down)",
        a.series.exchange
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use VerdictState::{Down, Unknown, Up};

    fn vote(region: &str, state: VerdictState) -> Vote {
        Vote {
            region: region.into(),
            state,
            fresh: true,
            self_healthy: true,
        }
    }

    #[test]
    fn quorum_down_needs_quorum_fresh_self_healthy_votes() {
        let votes = [
            vote("tokyo", Down),
            vote("singapore", Down),
            vote("frankfurt", Up),
        ];
        assert_eq!(
            decide(&votes, 2),
            Outcome::Down {
                from: vec!["singapore".into(), "tokyo".into()],
                of: 3
            }
        );
        assert_eq!(
            decide(&votes, 3),
            Outcome::Unreachable {
                from: vec!["singapore".into(), "tokyo".into()],
                of: 3
            }
        );
    }

    #[test]
    fn quorum_a_regional_outage_is_a_warning_naming_the_vantage() {
        let votes = [
            vote("tokyo", Down),
            vote("singapore", Up),
            vote("frankfurt", Up),
        ];
        let o = decide(&votes, 2);
        assert_eq!(
            o,
            Outcome::Unreachable {
                from: vec!["tokyo".into()],
                of: 3
            }
        );
        assert_eq!(
            describe("okx", &o, 2),
            "okx unreachable from tokyo (1 of 3 vantages; quorum 2)"
        );
    }

    #[test]
    fn quorum_stale_or_self_unhealthy_vantages_are_no_vote_and_not_named() {
        let mut stale = vote("tokyo", Down);
        stale.fresh = false;
        let mut sick = vote("singapore", Down);
        sick.self_healthy = false;
        let votes = [stale, sick.clone(), vote("frankfurt", Down)];
        assert_eq!(
            decide(&votes, 2),
            Outcome::Unreachable {
                from: vec!["frankfurt".into()],
                of: 1
            }
        );
        assert_eq!(decide(&[sick, vote("x", Unknown)], 1), Outcome::Up);
        assert_eq!(decide(&[], 2), Outcome::Up);
    }

    #[test]
    fn quorum_outcome_is_the_same_whoever_reads_the_votes_in_any_order() {
        let a = [
            vote("tokyo", Down),
            vote("singapore", Down),
            vote("frankfurt", Up),
        ];
        let mut b = a.clone();
        b.reverse();
        assert_eq!(decide(&a, 2), decide(&b, 2));
        assert_eq!(
            describe("okx", &decide(&b, 2), 2),
            "okx down from singapore, tokyo (2 of 3 vantages; quorum 2)"
        );
    }

    fn failing(metric: Metric, severity: Severity) -> Anomaly {
        use crate::messages::{SeriesKey, Stats, Timestamp};
        Anomaly {
            series: SeriesKey::new("okx", "ping", metric),
            detector: "error_rate".into(),
            severity,
            value: 0.4,
            threshold: 0.1,
            confidence: 1.0,
            message: "5xx error rate 40%".into(),
            started_at: Timestamp(0),
            at: Timestamp(0),
            stats: Stats::default(),
        }
    }

    #[test]
    fn a_critical_failure_seen_from_one_vantage_is_a_warning_until_the_quorum_says_down() {
        let unreachable = Outcome::Unreachable {
            from: vec!["tokyo".into()],
            of: 2,
        };
        for outcome in [None, Some(&Outcome::Up), Some(&unreachable)] {
            let mut a = failing(Metric::Errors, Severity::Critical);
            cap_local(&mut a, outcome, "tokyo");
            assert_eq!(a.severity, Severity::Warning, "{outcome:?}");
            assert!(a.message.starts_with("5xx error rate 40% (seen from tokyo"));
            assert!(a.message.contains("does not see okx down"), "{}", a.message);
        }
        let down = Outcome::Down {
            from: vec!["singapore".into(), "tokyo".into()],
            of: 2,
        };
        let mut a = failing(Metric::Errors, Severity::Critical);
        cap_local(&mut a, Some(&down), "tokyo");
        assert_eq!(a.severity, Severity::Critical);
        assert_eq!(a.message, "5xx error rate 40%");
    }

    #[test]
    fn other_metrics_and_lesser_severities_pass_as_they_are() {
        for (metric, severity) in [
            (Metric::LatencyMs, Severity::Critical),
            (Metric::ClockSkewMs, Severity::Critical),
            (Metric::Errors, Severity::Warning),
            (Metric::Errors, Severity::Info),
        ] {
            let mut a = failing(metric, severity);
            cap_local(&mut a, Some(&Outcome::Up), "tokyo");
            assert_eq!(
                (a.severity, a.message.as_str()),
                (severity, "5xx error rate 40%")
            );
        }
    }
}
