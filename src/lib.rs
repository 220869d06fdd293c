//! # exwatch
//!
//! exwatch watches crypto-exchange APIs (Binance, Bybit, OKX, any HTTP API) and tells a
//! trading desk, within seconds, when one of them degrades: slower, failing, rate-limiting,
//! drifting in clock, or down. It runs as the `exwatch` binary and inside any actix-based
//! trading engine that links this crate.
//!
//! ## Architecture
//!
//! ```text
//!  ProbeActor(binance) ─┐                ┌► DetectorActor(binance/ping/latency_ms) ─┐
//!  ProbeActor(bybit)   ─┼─ Measurement ─►├► DetectorActor(binance/ping/errors)     ─┼─ Anomaly/Resolved ─► RouterActor
//!  ProbeActor(okx)     ─┘                └► DetectorActor(binance/*/availability)  ─┘                         │ Alert
//!  trading engine ── MonitorHandle::inject ─┘                               ┌──────────────┬─────────────┘
//!                                                                      ChannelActor<Log>  ChannelActor<Webhook> …
//! ```
//!
//! - **ProbeActor** ([`probe`]) — one per exchange: owns its circuit breaker, the endpoints'
//!   fixed-rate schedules and its rate-limit back-off; GETs each endpoint, judges the answer
//!   with the venue's profile, and sends [`messages::Measurement`]s. It never decides what is
//!   anomalous.
//! - **DetectorActor** ([`detect`]) — one per series (exchange, endpoint, metric): sliding
//!   windows and baselines, on measurement timestamps only; sends [`messages::Anomaly`] and
//!   [`messages::Resolved`].
//! - **RouterActor** ([`route`]) — one: deduplicates by series, escalates, resolves, and fans
//!   [`messages::Alert`]s out to channels by severity.
//! - **ChannelActor** ([`channel`]) — one per channel: queue, retries with back-off and jitter,
//!   `Retry-After`; a dead channel delays nothing else.
//! - **StoreActor** ([`store`]) — the event store (SQLite) and durable outbox, on a thread of
//!   its own: the Router's alerts are committed with a pending delivery per channel before
//!   they are forwarded; channels mark them delivered; pending deliveries resume after a
//!   restart.
//! - **Supervision** ([`supervision`]) — every actor runs under `actix::Supervisor`; panics in
//!   handlers, timers and futures are caught and turned into restarts; crash loops are
//!   escalated as anomalies about exwatch itself.
//!
//! [`demo`] plays a scripted story against simulated exchanges on loopback (`exwatch demo`).
//!
//! [`service`] wires it all; [`config`] loads and validates the settings; [`replay`] runs a
//! recorded series from a CSV through the same detectors, for back-testing.
//!
//! ## Embedding
//!
//! ```no_run
//! use exwatch::config::Settings;
//! use exwatch::messages::{Measurement, Metric, SeriesKey, Timestamp};
//! use exwatch::service::Monitor;
//!
//! actix::System::new().block_on(async {
//!     let settings = exwatch::config::from_toml_str(
//!         exwatch::config::DEFAULT_TOML,
//!         &|name: &str| std::env::var(name).ok(),
//!     ).expect("valid config");
//!     let monitor = Monitor::start(settings).expect("the event store opens");
//!     // The engine reports its own observations too:
//!     monitor.inject(Measurement::ok(
//!         SeriesKey::new("binance", "order", Metric::LatencyMs),
//!         42.0,
//!         Timestamp::now(),
//!     ));
//!     monitor.stop().await;
//! });
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod channel;
pub mod cli;
pub mod client;
pub mod config;
pub mod demo;
pub mod detect;
pub mod error;
pub mod messages;
pub mod metrics;
pub mod probe;
pub mod replay;
pub mod route;
pub mod server;
pub mod service;
pub mod status;
pub mod store;
pub mod supervision;

pub use error::{ConfigError, DeliveryError, Error, Problem, StoreError};
pub use messages::{Alert, Anomaly, Measurement, Metric, Resolved, SeriesKey, Severity, Timestamp};
pub use service::{Monitor, MonitorBuilder, MonitorHandle};
