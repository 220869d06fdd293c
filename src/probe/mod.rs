//! Probing: one [`ProbeActor`] per exchange, the circuit [`breaker`], the fixed-rate
//! [`schedule`], fast [`confirm`]ation of failures, the answer profiles of each venue in
//! [`exchange`], and the validation of the probe's sections of the file in [`config`].

pub mod actor;
pub mod breaker;
pub mod config;
pub mod confirm;
pub mod exchange;
pub mod schedule;

pub use actor::{ProbeActor, Reconfigure, StopProbing};
