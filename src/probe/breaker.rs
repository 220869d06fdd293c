//! The per-exchange circuit breaker: pure state, no actix, every method takes "now".
//!
//! ```text
//!            failure_threshold consecutive failures
//!   Closed ───────────────────────────────────────────► Open
//!     ▲                                                │  ▲
//!     │ half_open_max_calls successes                  │  │ any failure
//!     │                          recovery_timeout, on  │  │ (restarts the timer)
//!     │                          the next try_acquire  ▼  │
//!     └──────────────────────────────────────────── HalfOpen
//! ```
//!
//! - **Closed**: every probe is admitted; a success resets the failure count.
//! - **Open**: probes are rejected until `recovery_timeout` has passed since it opened; the first
//!   [`CircuitBreaker::try_acquire`] after that moves to half-open and admits a trial.
//! - **HalfOpen**: at most `half_open_max_calls` trial probes are admitted in this episode;
//!   that many successes close the breaker, any failure reopens it. A rate-limited answer
//!   ([`CircuitBreaker::on_neutral`]) frees its trial slot and counts neither way.
//!
//! **Stale results.** A result that arrives for a probe admitted in an earlier state must not
//! corrupt the state: while open every result is ignored; while half-open a result is only
//! counted when a trial is in flight. A caller that can tell precisely which results are stale
//! records [`CircuitBreaker::generation`] when a probe is admitted and reports the result only
//! if the generation is unchanged (it changes on every transition).

use std::time::Duration;

use actix::clock::Instant;

use crate::config::BreakerSettings;
use crate::messages::CircuitState;

/// A change of the breaker's state, returned by the call that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: CircuitState,
    /// The state after.
    pub to: CircuitState,
}

/// Whether a probe may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Send it; report its result with `on_success`, `on_failure` or `on_neutral`.
    Admitted,
    /// Do not send it: the breaker is open, or half-open with every trial slot taken.
    Rejected,
}

impl Admission {
    /// True for [`Admission::Admitted`].
    pub fn is_admitted(self) -> bool {
        self == Admission::Admitted
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    HalfOpen {
        /// Trial slots used in this episode (successes plus those in flight).
        admitted: u32,
        /// Trials admitted and not yet answered.
        in_flight: u32,
        /// Trials that succeeded.
        successes: u32,
    },
}

/// A circuit breaker for one exchange. See the module documentation for the state machine.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    /// As configured (a reload compares them); a threshold or trial count of 0 reads as 1.
    settings: BreakerSettings,
    state: State,
    generation: u64,
}

impl CircuitBreaker {
    /// A closed breaker. A threshold or trial count of 0 is treated as 1.
    pub fn new(settings: &BreakerSettings) -> Self {
        Self {
            settings: settings.clone(),
            state: State::Closed { failures: 0 },
            generation: 0,
        }
    }

    /// The settings it was built from, as given.
    pub fn settings(&self) -> &BreakerSettings {
        &self.settings
    }

    fn failure_threshold(&self) -> u32 {
        self.settings.failure_threshold.max(1)
    }

    fn half_open_max_calls(&self) -> u32 {
        self.settings.half_open_max_calls.max(1)
    }

    /// The current state. An open breaker whose timeout has passed still reports `Open` until
    /// the next [`CircuitBreaker::try_acquire`].
    pub fn state(&self) -> CircuitState {
        match self.state {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// A counter that changes on every transition. Record it when a probe is admitted and
    /// report the probe's result only if it is unchanged, to drop results of earlier states.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Consecutive failures counted while closed (0 in the other states).
    pub fn consecutive_failures(&self) -> u32 {
        match self.state {
            State::Closed { failures } => failures,
            _ => 0,
        }
    }

    /// When an open breaker will admit a trial; `None` when not open.
    pub fn open_until(&self) -> Option<Instant> {
        match self.state {
            State::Open { until } => Some(until),
            _ => None,
        }
    }

    /// Asks to send one probe now. Closed admits. Open rejects until the recovery timeout has
    /// passed, then becomes half-open (returning that transition) and admits the first trial.
    /// Half-open admits at most `half_open_max_calls` trials in the episode.
    pub fn try_acquire(&mut self, now: Instant) -> (Admission, Option<Transition>) {
        match self.state {
            State::Closed { .. } => (Admission::Admitted, None),
            State::Open { until } if now < until => (Admission::Rejected, None),
            State::Open { .. } => {
                let t = self.go(State::HalfOpen {
                    admitted: 1,
                    in_flight: 1,
                    successes: 0,
                });
                (Admission::Admitted, t)
            }
            State::HalfOpen {
                admitted,
                in_flight,
                successes,
            } => {
                if admitted < self.half_open_max_calls() {
                    self.state = State::HalfOpen {
                        admitted: admitted + 1,
                        in_flight: in_flight + 1,
                        successes,
                    };
                    (Admission::Admitted, None)
                } else {
                    (Admission::Rejected, None)
                }
            }
        }
    }

    /// Reports a successful probe. Closed: resets the failure count. Half-open: the
    /// `half_open_max_calls`-th success closes the breaker. Open: ignored (a late result).
    pub fn on_success(&mut self, now: Instant) -> Option<Transition> {
        let _ = now; // successes need no time; kept for symmetry with `on_failure`
        match self.state {
            State::Closed { .. } => {
                self.state = State::Closed { failures: 0 };
                None
            }
            State::Open { .. } => None,
            State::HalfOpen { in_flight: 0, .. } => None,
            State::HalfOpen {
                admitted,
                in_flight,
                successes,
            } => {
                let successes = successes + 1;
                if successes >= self.half_open_max_calls() {
                    self.go(State::Closed { failures: 0 })
                } else {
                    self.state = State::HalfOpen {
                        admitted,
                        in_flight: in_flight - 1,
                        successes,
                    };
                    None
                }
            }
        }
    }

    /// Reports a failed probe. Closed: the `failure_threshold`-th consecutive failure opens the
    /// breaker. Half-open: any failure reopens it and restarts the recovery timer. Open:
    /// ignored (a late result; the timer is not restarted).
    pub fn on_failure(&mut self, now: Instant) -> Option<Transition> {
        match self.state {
            State::Closed { failures } => {
                let failures = failures.saturating_add(1);
                if failures >= self.failure_threshold() {
                    self.open(now)
                } else {
                    self.state = State::Closed { failures };
                    None
                }
            }
            State::Open { .. } => None,
            State::HalfOpen { in_flight: 0, .. } => None,
            State::HalfOpen { .. } => self.open(now),
        }
    }

    /// Reports a rate-limited answer: it says nothing about health. Half-open: frees the
    /// trial's slot so another trial may be admitted. Closed and open: nothing changes.
    /// Forgets every half-open trial in flight (their answers were lost, e.g. with a restart
    /// of the probe): their slots are given back. Nothing happens in the other states.
    pub fn abandon_trials(&mut self) {
        if let State::HalfOpen {
            admitted,
            in_flight,
            successes,
        } = self.state
        {
            self.state = State::HalfOpen {
                admitted: admitted - in_flight,
                in_flight: 0,
                successes,
            };
        }
    }

    /// A rate-limited answer: frees a half-open trial slot, counts neither way.
    pub fn on_neutral(&mut self) {
        if let State::HalfOpen {
            admitted,
            in_flight,
            successes,
        } = self.state
            && in_flight > 0
        {
            self.state = State::HalfOpen {
                admitted: admitted - 1,
                in_flight: in_flight - 1,
                successes,
            };
        }
    }

    fn open(&mut self, now: Instant) -> Option<Transition> {
        // Saturating: a recovery timeout of centuries must not overflow the clock.
        let until = now
            .checked_add(self.settings.recovery_timeout)
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        self.go(State::Open { until })
    }

    fn go(&mut self, to: State) -> Option<Transition> {
        let from = self.state();
        self.state = to;
        self.generation = self.generation.wrapping_add(1);
        Some(Transition {
            from,
            to: self.state(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use CircuitState::{Closed, HalfOpen, Open};

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn settings(threshold: u32, trials: u32) -> BreakerSettings {
        BreakerSettings {
            failure_threshold: threshold,
            recovery_timeout: TIMEOUT,
            half_open_max_calls: trials,
        }
    }

    fn t(from: CircuitState, to: CircuitState) -> Option<Transition> {
        Some(Transition { from, to })
    }

    /// A breaker opened at `t0`.
    fn opened(threshold: u32, trials: u32, t0: Instant) -> CircuitBreaker {
        let mut b = CircuitBreaker::new(&settings(threshold, trials));
        for _ in 0..threshold - 1 {
            assert_eq!(b.on_failure(t0), None);
        }
        assert_eq!(b.on_failure(t0), t(Closed, Open));
        b
    }

    /// A breaker half-open at `t0 + TIMEOUT` with its first trial in flight.
    fn half_open(trials: u32, t0: Instant) -> CircuitBreaker {
        let mut b = opened(1, trials, t0);
        assert_eq!(
            b.try_acquire(t0 + TIMEOUT),
            (Admission::Admitted, t(Open, HalfOpen))
        );
        b
    }

    #[test]
    fn starts_closed_and_admits() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(&settings(3, 2));
        assert_eq!(b.state(), Closed);
        for _ in 0..100 {
            assert_eq!(b.try_acquire(now), (Admission::Admitted, None));
        }
        assert_eq!(b.open_until(), None);
    }

    #[test]
    fn closed_opens_after_threshold_consecutive_failures() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(&settings(3, 2));
        assert_eq!(b.on_failure(now), None);
        assert_eq!(b.on_failure(now), None);
        assert_eq!(b.consecutive_failures(), 2);
        assert_eq!(b.on_failure(now), t(Closed, Open));
        assert_eq!(b.state(), Open);
        assert_eq!(b.open_until(), Some(now + TIMEOUT));
    }

    #[test]
    fn success_resets_the_failure_count_while_closed() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(&settings(3, 2));
        b.on_failure(now);
        b.on_failure(now);
        assert_eq!(b.on_success(now), None);
        assert_eq!(b.consecutive_failures(), 0);
        assert_eq!(b.on_failure(now), None);
        assert_eq!(b.on_failure(now), None);
        assert_eq!(b.state(), Closed);
        assert_eq!(b.on_failure(now), t(Closed, Open));
    }

    #[test]
    fn neutral_counts_neither_way_while_closed() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(&settings(2, 2));
        b.on_failure(now);
        b.on_neutral();
        assert_eq!(b.consecutive_failures(), 1);
        assert_eq!(b.on_failure(now), t(Closed, Open));
    }

    #[test]
    fn zero_settings_are_treated_as_one() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(&settings(0, 0));
        assert_eq!(b.on_failure(now), t(Closed, Open));
        assert_eq!(
            b.try_acquire(now + TIMEOUT),
            (Admission::Admitted, t(Open, HalfOpen))
        );
        assert_eq!(b.try_acquire(now + TIMEOUT).0, Admission::Rejected);
        assert_eq!(b.on_success(now + TIMEOUT), t(HalfOpen, Closed));
    }

    #[test]
    fn open_rejects_until_the_recovery_timeout() {
        let t0 = Instant::now();
        let mut b = opened(2, 2, t0);
        assert_eq!(b.try_acquire(t0), (Admission::Rejected, None));
        assert_eq!(
            b.try_acquire(t0 + TIMEOUT - Duration::from_millis(1)),
            (Admission::Rejected, None)
        );
        assert_eq!(b.state(), Open);
        assert_eq!(
            b.try_acquire(t0 + TIMEOUT),
            (Admission::Admitted, t(Open, HalfOpen))
        );
        assert_eq!(b.state(), HalfOpen);
    }

    #[test]
    fn open_becomes_half_open_long_after_the_timeout_too() {
        let t0 = Instant::now();
        let mut b = opened(1, 1, t0);
        assert_eq!(
            b.try_acquire(t0 + TIMEOUT * 10),
            (Admission::Admitted, t(Open, HalfOpen))
        );
    }

    #[test]
    fn results_while_open_are_ignored() {
        let t0 = Instant::now();
        let mut b = opened(2, 2, t0);
        let g = b.generation();
        assert_eq!(b.on_success(t0), None);
        assert_eq!(b.on_failure(t0 + Duration::from_secs(20)), None);
        b.on_neutral();
        assert_eq!(b.state(), Open);
        assert_eq!(b.generation(), g);
        // The late failure did not restart the timer.
        assert_eq!(b.open_until(), Some(t0 + TIMEOUT));
        assert_eq!(b.try_acquire(t0 + TIMEOUT).0, Admission::Admitted);
    }

    #[test]
    fn half_open_admits_at_most_max_calls_trials() {
        let t0 = Instant::now();
        let now = t0 + TIMEOUT;
        let mut b = half_open(3, t0);
        assert_eq!(b.try_acquire(now), (Admission::Admitted, None));
        assert_eq!(b.try_acquire(now), (Admission::Admitted, None));
        assert_eq!(b.try_acquire(now), (Admission::Rejected, None));
        assert_eq!(b.try_acquire(now + TIMEOUT), (Admission::Rejected, None));
        assert_eq!(b.state(), HalfOpen);
    }

    #[test]
    fn half_open_slots_are_per_episode_not_in_flight() {
        let t0 = Instant::now();
        let now = t0 + TIMEOUT;
        let mut b = half_open(2, t0);
        assert_eq!(b.on_success(now), None);
        // One success answered; the episode has used one of two slots.
        assert_eq!(b.try_acquire(now), (Admission::Admitted, None));
        assert_eq!(b.try_acquire(now), (Admission::Rejected, None));
    }

    #[test]
    fn half_open_closes_after_max_calls_successes() {
        let t0 = Instant::now();
        let now = t0 + TIMEOUT;
        let mut b = half_open(3, t0);
        b.try_acquire(now);
        b.try_acquire(now);
        assert_eq!(b.on_success(now), None);
        assert_eq!(b.on_success(now), None);
        assert_eq!(b.state(), HalfOpen);
        assert_eq!(b.on_success(now), t(HalfOpen, Closed));
        assert_eq!(b.state(), Closed);
        assert_eq!(b.consecutive_failures(), 0);
        assert_eq!(b.try_acquire(now), (Admission::Admitted, None));
    }

    #[test]
    fn half_open_reopens_on_any_failure_and_restarts_the_timer() {
        let t0 = Instant::now();
        let now = t0 + TIMEOUT;
        let mut b = half_open(3, t0);
        b.try_acquire(now);
        assert_eq!(b.on_success(now), None);
        let later = now + Duration::from_secs(1);
        assert_eq!(b.on_failure(later), t(HalfOpen, Open));
        assert_eq!(b.open_until(), Some(later + TIMEOUT));
        assert_eq!(
            b.try_acquire(later + TIMEOUT - Duration::from_millis(1)).0,
            Admission::Rejected
        );
        assert_eq!(
            b.try_acquire(later + TIMEOUT),
            (Admission::Admitted, t(Open, HalfOpen))
        );
    }

    #[test]
    fn trial_result_after_reopening_is_ignored() {
        let t0 = Instant::now();
        let now = t0 + TIMEOUT;
        let mut b = half_open(2, t0);
        b.try_acquire(now);
        assert_eq!(b.on_failure(now), t(HalfOpen, Open));
        // The second trial's success arrives late, while open.
        assert_eq!(b.on_success(now), None);
        assert_eq!(b.state(), Open);
    }

    #[test]
    fn neutral_frees_a_half_open_slot_and_counts_neither_way() {
        let t0 = Instant::now();
        let now = t0 + TIMEOUT;
        let mut b = half_open(2, t0);
        assert_eq!(b.try_acquire(now).0, Admission::Admitted);
        assert_eq!(b.try_acquire(now).0, Admission::Rejected);
        b.on_neutral();
        assert_eq!(b.state(), HalfOpen);
        assert_eq!(b.try_acquire(now).0, Admission::Admitted);
        assert_eq!(b.on_success(now), None);
        assert_eq!(b.on_success(now), t(HalfOpen, Closed));
    }

    #[test]
    fn half_open_results_without_a_trial_in_flight_are_ignored() {
        let t0 = Instant::now();
        let now = t0 + TIMEOUT;
        let mut b = half_open(3, t0);
        assert_eq!(b.on_success(now), None); // the one trial
        // Stale results from probes admitted while closed.
        assert_eq!(b.on_success(now), None);
        assert_eq!(b.on_failure(now), None);
        b.on_neutral();
        assert_eq!(b.state(), HalfOpen);
        // The episode still needs two more trial successes.
        b.try_acquire(now);
        assert_eq!(b.on_success(now), None);
        b.try_acquire(now);
        assert_eq!(b.on_success(now), t(HalfOpen, Closed));
    }

    #[test]
    fn generation_changes_on_every_transition_only() {
        let t0 = Instant::now();
        let mut b = CircuitBreaker::new(&settings(2, 1));
        let g0 = b.generation();
        b.on_failure(t0);
        b.on_success(t0);
        b.try_acquire(t0);
        assert_eq!(b.generation(), g0);
        b.on_failure(t0);
        b.on_failure(t0);
        let g1 = b.generation();
        assert_ne!(g1, g0);
        b.try_acquire(t0 + TIMEOUT);
        let g2 = b.generation();
        assert_ne!(g2, g1);
        b.on_success(t0 + TIMEOUT);
        assert_ne!(b.generation(), g2);
        assert_eq!(b.state(), Closed);
    }

    #[test]
    fn generation_lets_the_caller_drop_a_stale_closed_result_while_half_open() {
        let t0 = Instant::now();
        let now = t0 + TIMEOUT;
        let mut b = CircuitBreaker::new(&settings(1, 2));
        // Probe A admitted while closed, stays in flight.
        assert_eq!(b.try_acquire(t0).0, Admission::Admitted);
        let gen_a = b.generation();
        // Probe B fails and opens the breaker; a trial is admitted after the timeout.
        assert_eq!(b.on_failure(t0), t(Closed, Open));
        assert_eq!(b.try_acquire(now).1, t(Open, HalfOpen));
        // A's late success must not count as a trial: the caller checks the generation.
        assert_ne!(b.generation(), gen_a);
        assert_eq!(b.state(), HalfOpen);
    }

    #[test]
    fn full_cycle_repeats() {
        let mut now = Instant::now();
        let mut b = CircuitBreaker::new(&settings(2, 2));
        for _ in 0..3 {
            assert_eq!(b.on_failure(now), None);
            assert_eq!(b.on_failure(now), t(Closed, Open));
            now += TIMEOUT;
            assert_eq!(b.try_acquire(now).1, t(Open, HalfOpen));
            assert_eq!(b.try_acquire(now), (Admission::Admitted, None));
            assert_eq!(b.on_success(now), None);
            assert_eq!(b.on_success(now), t(HalfOpen, Closed));
        }
    }
}
