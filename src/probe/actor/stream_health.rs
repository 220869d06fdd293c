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
        let now = Instant::now();
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
