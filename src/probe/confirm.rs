//! Fast confirmation: pure state, no actix, every method takes "now".
//!
//! When a probe of an endpoint that was healthy (its last counted outcome was ok) fails, the
//! ProbeActor does not wait whole intervals to see whether the failure lasts: it re-probes the
//! endpoint every `confirm_interval` until one re-probe succeeds (a blip, over) or
//! `confirm_probes` re-probes have been sent (by then the error detector and the breaker have
//! the failures they need to decide). Then the endpoint is left to its fixed-rate schedule until
//! it is healthy again. Re-probes are extra slots: the schedule neither moves nor counts them.
//!
//! [`Confirmation`] is the per-endpoint state; [`ConfirmBudget`] is the per-exchange token
//! bucket that caps re-probes per minute, so many failing endpoints of one exchange cannot
//! hammer it. Rate limits, an open breaker and the connection limit are the actor's checks,
//! made when a re-probe is due: it calls [`Confirmation::abandon`] or
//! [`Confirmation::skip`] when it may not send.
//!
//! ```text
//!   Unknown ──ok──► Healthy ──failure──► Confirming ──ok──► Healthy
//!      │               ▲                  │  (re-probe every confirm_interval,
//!      └──failure──► Settled ◄────────────┘   at most confirm_probes; a rate limit,
//!                      │   max reached, abandoned      an open breaker or an
//!                      └──ok──► Healthy                empty budget ends it)
//! ```

use std::time::Duration;

use actix::clock::Instant;

/// What a probe's outcome means for confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// The endpoint answered well.
    Ok,
    /// A failure that counts (HTTP error, timeout, connect error, bad body).
    Failure,
    /// Says nothing about the endpoint's health: rate limited, or not sent (breaker open).
    Neutral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No outcome yet: a failure now is not a change from healthy.
    Unknown,
    /// The last counted outcome was ok.
    Healthy,
    /// Re-probing after a failure. `sent` re-probes taken so far; `armed` while a re-probe
    /// timer is pending (so that a second failure does not start a second chain).
    Confirming { sent: u32, armed: bool },
    /// Failing, and confirmed (or confirmation was given up): the schedule alone until ok.
    Settled,
}

/// One endpoint's confirmation state. See the module docs.
#[derive(Debug, Clone)]
pub struct Confirmation {
    interval: Duration,
    max: u32,
    state: State,
}

impl Confirmation {
    /// Re-probes every `interval` (at least 1 ms), at most `max` per failure episode; 0
    /// disables confirmation.
    pub fn new(interval: Duration, max: u32) -> Self {
        Self {
            interval: interval.max(Duration::from_millis(1)),
            max,
            state: State::Unknown,
        }
    }

    /// The time between re-probes.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// True while re-probing.
    pub fn is_confirming(&self) -> bool {
        matches!(self.state, State::Confirming { .. })
    }

    /// True when the last counted outcome was ok.
    pub fn is_healthy(&self) -> bool {
        self.state == State::Healthy
    }

    /// Re-probes taken in the current episode (0 when not confirming).
    pub fn sent(&self) -> u32 {
        match self.state {
            State::Confirming { sent, .. } => sent,
            _ => 0,
        }
    }

    /// Takes a probe's outcome (a scheduled probe's or a re-probe's). Returns when to send the
    /// next re-probe, if one should be armed now.
    pub fn observe(&mut self, seen: Seen, now: Instant) -> Option<Instant> {
        match (seen, self.state) {
            (Seen::Ok, _) => {
                self.state = State::Healthy;
                None
            }
            (Seen::Neutral, State::Confirming { .. }) => {
                // Rate limited (or the breaker stepped in): do not insist.
                self.state = State::Settled;
                None
            }
            (Seen::Neutral, _) => None,
            (Seen::Failure, State::Unknown | State::Settled) => {
                self.state = State::Settled;
                None
            }
            (Seen::Failure, State::Healthy) => {
                self.state = State::Confirming {
                    sent: 0,
                    armed: false,
                };
                self.next(now)
            }
            (Seen::Failure, State::Confirming { armed: true, .. }) => None,
            (Seen::Failure, State::Confirming { armed: false, .. }) => self.next(now),
        }
    }

    /// The re-probe timer went off: true when a re-probe should be sent now (it is counted
    /// against `confirm_probes`); false when the episode ended meanwhile.
    pub fn fire(&mut self) -> bool {
        match self.state {
            State::Confirming { sent, armed: true } => {
                self.state = State::Confirming {
                    sent: sent + 1,
                    armed: false,
                };
                true
            }
            _ => false,
        }
    }

    /// The due re-probe may not be sent (back-off, breaker not closed, budget spent, stopped):
    /// the episode ends and the schedule carries on. Also after an actor restart, whose lost
    /// timers would otherwise leave the chain armed forever.
    pub fn abandon(&mut self) {
        if self.is_confirming() {
            self.state = State::Settled;
        }
    }

    /// The due re-probe found every connection busy: it stays counted, and the next one is
    /// armed `interval` from now if any remain.
    pub fn skip(&mut self, now: Instant) -> Option<Instant> {
        match self.state {
            State::Confirming { armed: false, .. } => self.next(now),
            _ => None,
        }
    }

    /// Arms the next re-probe, or settles when `max` have been sent.
    fn next(&mut self, now: Instant) -> Option<Instant> {
        match self.state {
            State::Confirming { sent, .. } if sent < self.max => {
                self.state = State::Confirming { sent, armed: true };
                Some(now + self.interval)
            }
            _ => {
                self.state = State::Settled;
                None
            }
        }
    }
}

/// A per-exchange token bucket of re-probes: `per_minute` tokens, refilled continuously, full
/// at the start.
#[derive(Debug, Clone)]
pub struct ConfirmBudget {
    per_minute: u32,
    tokens: f64,
    last: Instant,
}

impl ConfirmBudget {
    /// A full bucket of `per_minute` tokens (0: no re-probes at all).
    pub fn new(per_minute: u32, now: Instant) -> Self {
        Self {
            per_minute,
            tokens: f64::from(per_minute),
            last: now,
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let cap = f64::from(self.per_minute);
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * cap / 60.0).min(cap);
        self.last = self.last.max(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn healthy(max: u32) -> (Confirmation, Instant) {
        let t0 = Instant::now();
        let mut c = Confirmation::new(500 * MS, max);
        assert_eq!(c.observe(Seen::Ok, t0), None);
        assert!(c.is_healthy());
        (c, t0)
    }

    #[test]
    fn a_failure_of_a_healthy_endpoint_arms_a_re_probe_after_the_interval() {
        let (mut c, t0) = healthy(4);
        assert_eq!(c.observe(Seen::Failure, t0), Some(t0 + 500 * MS));
        assert!(c.is_confirming());
        assert_eq!(c.sent(), 0);
    }

    #[test]
    fn a_first_failure_without_a_healthy_past_is_not_confirmed() {
        let t0 = Instant::now();
        let mut c = Confirmation::new(500 * MS, 4);
        assert_eq!(c.observe(Seen::Failure, t0), None);
        assert!(!c.is_confirming());
        // Nor the following ones: the schedule alone until the endpoint is ok.
        assert_eq!(c.observe(Seen::Failure, t0 + 10 * MS), None);
        c.observe(Seen::Ok, t0 + 20 * MS);
        assert!(c.observe(Seen::Failure, t0 + 30 * MS).is_some());
    }

    #[test]
    fn an_outage_is_confirmed_with_at_most_max_re_probes_then_settles() {
        let (mut c, t0) = healthy(4);
        let mut now = t0;
        let mut at = c.observe(Seen::Failure, now).expect("armed");
        let mut sent = 0;
        loop {
            now = at;
            assert!(c.fire(), "re-probe {sent} due");
            sent += 1;
            match c.observe(Seen::Failure, now) {
                Some(next) => {
                    assert_eq!(next, now + 500 * MS);
                    at = next;
                }
                None => break,
            }
        }
        assert_eq!(sent, 4);
        assert!(!c.is_confirming());
        // Settled: further failures (the schedule's) arm nothing.
        assert_eq!(c.observe(Seen::Failure, now + 10 * 500 * MS), None);
        assert!(!c.fire());
    }

    #[test]
    fn a_blip_ends_the_episode_on_the_first_success() {
        let (mut c, t0) = healthy(4);
        let at = c.observe(Seen::Failure, t0).unwrap();
        assert!(c.fire());
        assert_eq!(c.observe(Seen::Ok, at), None);
        assert!(c.is_healthy());
        // A later failure starts a new, full episode.
        assert!(c.observe(Seen::Failure, at + 5 * MS).is_some());
        assert_eq!(c.sent(), 0);
    }

    #[test]
    fn a_success_while_armed_disarms_the_pending_re_probe() {
        let (mut c, t0) = healthy(4);
        c.observe(Seen::Failure, t0).unwrap();
        // A scheduled probe succeeds before the re-probe is due.
        c.observe(Seen::Ok, t0 + 100 * MS);
        assert!(!c.fire(), "the pending timer finds nothing to do");
    }

    #[test]
    fn a_scheduled_failure_while_armed_does_not_start_a_second_chain() {
        let (mut c, t0) = healthy(4);
        c.observe(Seen::Failure, t0).unwrap();
        assert_eq!(c.observe(Seen::Failure, t0 + 100 * MS), None);
        assert!(c.fire());
        assert!(!c.fire(), "one timer, one re-probe");
    }

    #[test]
    fn a_scheduled_failure_while_a_re_probe_is_in_flight_arms_the_next_once() {
        let (mut c, t0) = healthy(4);
        c.observe(Seen::Failure, t0).unwrap();
        assert!(c.fire()); // re-probe 1 in flight
        let next = c.observe(Seen::Failure, t0 + 600 * MS); // the schedule's probe fails
        assert_eq!(next, Some(t0 + 1100 * MS));
        // Re-probe 1's own failure arrives: already armed.
        assert_eq!(c.observe(Seen::Failure, t0 + 700 * MS), None);
        assert_eq!(c.sent(), 1);
    }

    #[test]
    fn a_rate_limit_ends_the_episode_and_keeps_health() {
        let (mut c, t0) = healthy(4);
        c.observe(Seen::Failure, t0).unwrap();
        assert!(c.fire());
        assert_eq!(c.observe(Seen::Neutral, t0 + 500 * MS), None);
        assert!(!c.is_confirming());
        assert!(!c.fire());
        // A rate limit of a healthy endpoint changes nothing: still healthy.
        let (mut h, t1) = healthy(4);
        assert_eq!(h.observe(Seen::Neutral, t1), None);
        assert!(h.is_healthy());
        assert!(h.observe(Seen::Failure, t1).is_some());
    }

    #[test]
    fn zero_max_disables_confirmation() {
        let (mut c, t0) = healthy(0);
        assert_eq!(c.observe(Seen::Failure, t0), None);
        assert!(!c.is_confirming());
        assert!(!c.fire());
    }

    #[test]
    fn abandon_settles_and_the_timer_then_does_nothing() {
        let (mut c, t0) = healthy(4);
        c.observe(Seen::Failure, t0).unwrap();
        c.abandon();
        assert!(!c.is_confirming());
        assert!(!c.fire());
        assert_eq!(c.observe(Seen::Failure, t0 + MS), None);
        // Abandon leaves a healthy endpoint healthy.
        let (mut h, _) = healthy(4);
        h.abandon();
        assert!(h.is_healthy());
    }

    #[test]
    fn skip_keeps_the_count_and_re_arms_until_max() {
        let (mut c, t0) = healthy(2);
        c.observe(Seen::Failure, t0).unwrap();
        assert!(c.fire());
        assert_eq!(c.skip(t0 + 500 * MS), Some(t0 + 1000 * MS));
        assert!(c.fire());
        assert_eq!(c.sent(), 2);
        assert_eq!(c.skip(t0 + 1000 * MS), None, "max reached");
        assert!(!c.is_confirming());
    }

    #[test]
    fn budget_starts_full_and_refills_continuously() {
        let t0 = Instant::now();
        let mut b = ConfirmBudget::new(6, t0);
        for _ in 0..6 {
            assert!(b.try_take(t0));
        }
        assert!(!b.try_take(t0), "6 per minute, all spent");
        // One token per 10 s.
        assert!(!b.try_take(t0 + Duration::from_secs(9)));
        assert!(b.try_take(t0 + Duration::from_secs(10)));
        assert!(!b.try_take(t0 + Duration::from_secs(10)));
        // Never more than the bucket holds, however long the pause.
        let later = t0 + Duration::from_secs(3600);
        let taken = (0..100).filter(|_| b.try_take(later)).count();
        assert_eq!(taken, 6);
    }

    #[test]
    fn zero_budget_admits_nothing() {
        let t0 = Instant::now();
        let mut b = ConfirmBudget::new(0, t0);
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_secs(600)));
    }

    #[test]
    fn budget_ignores_a_clock_that_goes_backwards() {
        let t0 = Instant::now() + Duration::from_secs(60);
        let mut b = ConfirmBudget::new(1, t0);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - Duration::from_secs(30)));
        assert!(b.try_take(t0 + Duration::from_secs(60)));
    }
}
