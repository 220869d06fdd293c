//! Probing: one [`ProbeActor`] per exchange, the circuit [`breaker`], the fixed-rate
//! [`schedule`], fast [`confirm`]ation of failures, and the answer profiles of each venue in
//! [`exchange`].

pub mod actor;
pub mod breaker;
pub mod confirm;
pub mod exchange;
pub mod schedule;

pub use actor::{ProbeActor, Reconfigure, StopProbing};
