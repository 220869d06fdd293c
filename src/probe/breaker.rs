//! TEMPORARY stub (replaced by the real breaker on merge).
#![allow(missing_docs)]
use crate::config::BreakerSettings;
use crate::messages::CircuitState;
use actix::clock::Instant;
pub struct CircuitBreaker;
pub struct Transition {
    pub from: CircuitState,
    pub to: CircuitState,
}
pub enum Admission {
    Admitted,
    Rejected,
}
impl CircuitBreaker {
    pub fn new(_: &BreakerSettings) -> Self {
        Self
    }
    pub fn state(&self) -> CircuitState {
        CircuitState::Closed
    }
    pub fn try_acquire(&mut self, _: Instant) -> (Admission, Option<Transition>) {
        (Admission::Admitted, None)
    }
    pub fn on_success(&mut self, _: Instant) -> Option<Transition> {
        None
    }
    pub fn on_failure(&mut self, _: Instant) -> Option<Transition> {
        None
    }
    pub fn on_neutral(&mut self) {}
}
