//! Detection: the DetectorActor and the pure models it runs.
pub mod errors;
pub mod finding;
pub mod latency;
pub mod quantile;
pub mod window;
