//! Detection: the DetectorActor and the pure models it runs.
pub mod errors;
pub mod finding;
pub mod iqr;
pub mod latency;
pub mod quantile;
pub mod rolling;
pub mod window;
pub mod zscore;
