//! Probing: one [`ProbeActor`] per exchange, the circuit [`breaker`], the fixed-rate
//! [`schedule`], fast [`confirm`]ation of failures, the answer profiles of each venue in
//! [`exchange`], the probe's own HTTP client in [`http`], the validation of the probe's sections of the file in [`config`], and the
//! WebSocket market-data streams (`kind = "stream"`) in [`stream`].

pub mod actor;
pub mod breaker;
pub mod config;
pub mod confirm;
pub mod exchange;
pub mod http;
pub mod schedule;
pub mod stream;

pub use actor::{ProbeActor, Reconfigure, StopProbing};
