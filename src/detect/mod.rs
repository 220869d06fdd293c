//! Detection: turns measurements into anomalies.
//!
//! One [`DetectorActor`] per exchange holds the state of every series (exchange, endpoint,
//! metric) of that exchange — each a [`TrackedSeries`](tracked::TrackedSeries) around the
//! series' windows and baseline ([`SeriesDetector`]) — and sends
//! [`Anomaly`](crate::messages::Anomaly) for every anomalous sample and one
//! [`Resolved`](crate::messages::Resolved) when a series recovers. A probe sends its
//! measurements as one [`Measurements`] message; a panic while judging one series restarts
//! that series only (see [`actor`]).
//! The models are plain code: `latency` (z-score, IQR, rolling mean; the most severe finding
//! wins), `errors` (error rate, consecutive failures), availability and clock skew in
//! `series`, and learned baselines (`baseline`: p90 latency and error-class rates against the
//! series' own trailing hours, by bucket). Prices are compared across exchanges per symbol by a
//! [`PriceActor`] (`price`, `price_actor`). Operator rules (`[rules.<name>]`) are judged by one
//! [`RuleActor`] (`rules`, `rule_actor`). [`DetectorSet`] finds or starts the actor of a series.

pub mod actor;
pub mod baseline;
pub mod batch;
pub mod clock;
pub mod config;
pub mod errors;
pub mod finding;
pub mod handle;
pub mod history;
pub mod interned;
pub mod iqr;
pub mod latency;
pub mod likelihood;
pub mod price;
pub mod price_actor;
pub mod quantile;
pub mod ranks;
pub mod rolling;
pub mod rule_actor;
pub mod rules;
pub mod scale;
pub mod series;
mod series_map;
pub mod set;
pub mod shared;
pub mod stream;
pub mod tracked;
pub mod window;
pub mod zscore;

pub use actor::DetectorActor;
pub use batch::Measurements;
pub use finding::Finding;
pub use handle::DetectorHandle;
pub use price_actor::PriceActor;
pub use rule_actor::RuleActor;
pub use series::{Event, SeriesDetector};
pub use set::DetectorSet;
pub use shared::{DetectorOutputs, DetectorShared, SeriesLimit};
pub use tracked::SeriesState;
