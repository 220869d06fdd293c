//! A stream of this exchange (see [`crate::probe::stream`]) reports how its connections fare:
//! a failed connection counts toward the exchange's breaker as a failed probe does, and the
//! answer tells the stream how long an open breaker pauses its reconnects.

use std::time::Duration;

use actix::clock::Instant;
use actix::{Context, Handler};

use super::ProbeActor;
use crate::messages::CircuitState;
use crate::probe::stream::actor::StreamHealth;

impl Handler<StreamHealth> for ProbeActor {
    type Result = Option<Duration>;

    fn handle(&mut self, h: StreamHealth, _: &mut Context<Self>) -> Option<Duration> {
        if self.stopped {
            // A report in flight from a stream of an exchange a reload removed.
            return None;
        }
        let now = Instant::now();
        if h.ok && self.endpoints.is_empty() && self.breaker.state() != CircuitState::Closed {
            // An exchange watched only through streams has no probe to send trials: its
            // streams' data flowing again is the evidence, and closes the breaker (else it
            // stayed open for good once stream failures opened it).
            self.close_on_stream_data(now);
            return None;
        }
        let transition = if h.ok {
            // Data flowing says nothing about a breaker that REST probes opened: only a
            // closed breaker's failure count is reset by it.
            (self.breaker.state() == CircuitState::Closed)
                .then(|| self.breaker.on_success(now))
                .flatten()
        } else {
            tracing::debug!(exchange = %self.exchange, endpoint = %h.endpoint, "Stream failure counted toward the breaker.");
            self.breaker.on_failure(now)
        };
        if let Some(t) = transition {
            self.on_transition(t);
        }
        self.breaker
            .open_until()
            .map(|until| until.saturating_duration_since(now))
    }
}

impl ProbeActor {
    /// Takes the half-open trials an exchange without REST endpoints cannot send, each a
    /// success, until the breaker is closed (or admits no more, which it does not do for
    /// successes).
    fn close_on_stream_data(&mut self, now: Instant) {
        for _ in 0..=self.breaker.settings().half_open_max_calls {
            if self.breaker.state() == CircuitState::Closed {
                return;
            }
            let (admission, transition) = self.breaker.try_acquire(now);
            if let Some(t) = transition {
                self.on_transition(t);
            }
            if !admission.is_admitted() {
                return;
            }
            if let Some(t) = self.breaker.on_success(now) {
                self.on_transition(t);
            }
        }
    }
}
