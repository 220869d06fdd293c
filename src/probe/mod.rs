//! Probing. (being written)
pub mod breaker;
pub mod exchange;
pub mod schedule;
