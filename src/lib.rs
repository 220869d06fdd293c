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
//!  ProbeActor(binance) ── Measurements ──► DetectorActor(binance: ping/latency_ms, ping/errors, */availability …) ─┐
//!  ProbeActor(bybit)   ── Measurements ──► DetectorActor(bybit: …)                                                 ─┼─ Anomaly/Resolved ─► RouterActor
//!  ProbeActor(okx)     ── Measurements ──► DetectorActor(okx: …)                                                   ─┘                         │ Alert
//!  trading engine ── MonitorHandle::inject ─┘                               ┌──────────────┬─────────────┘
//!                                                                      ChannelActor<Log>  ChannelActor<Webhook> …
//! ```
//!
//! - **ProbeActor** ([`probe`]) — one per exchange: owns its circuit breaker, the endpoints'
//!   fixed-rate schedules and its rate-limit back-off; GETs each endpoint, judges the answer
//!   with the venue's profile, and sends [`messages::Measurement`]s. It never decides what is
//!   anomalous.
//! - **StreamActor** ([`probe::stream`]) — one per shared WebSocket connection, carrying up
//!   to a venue's maximum of `kind = "stream"` endpoints of one exchange and URL: keeps the
//!   connection open (make-before-break replacement, paced batched subscribes, budgeted,
//!   backed off), routes each frame by its topic to its stream, and each stream's pure judge
//!   turns every message into lag, silence, progress, continuity and churn measurements for
//!   the same detectors; connection failures count toward the exchange's breaker.
//! - **DetectorActor** ([`detect`]) — one per exchange, holding every series (exchange,
//!   endpoint, metric) of it: sliding windows and baselines, on measurement timestamps only;
//!   sends [`messages::Anomaly`] and [`messages::Resolved`]. A probe's measurements reach it
//!   as one message; a panic while judging a series restarts that series only.
//! - **RouterActor** ([`route`]) — one: deduplicates by series, escalates, resolves, and fans
//!   [`messages::Alert`]s out to channels by severity.
//! - **ChannelActor** ([`channel`]) — one per channel: queue, retries with back-off and jitter,
//!   `Retry-After`; a dead channel delays nothing else.
//! - **Triage** ([`triage`]) — one per `llm_triage` table: a stage of its own that asks a model
//!   about firing alerts after they went out, and hands its answer back to the Router as a
//!   follow-up for the human channels.
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
//! Start a [`Monitor`] inside the engine's actix `System`, feed it what the engine observes,
//! and subscribe to what it judges. `examples/trading_engine.rs` is a whole engine whose order
//! router stops sending orders to a venue while its breaker is open (`cargo run --example
//! trading_engine`).
//!
//! ```
//! use exwatch::messages::{Measurement, Metric, Outcome, SeriesKey, Timestamp};
//! use exwatch::{Anomaly, Monitor};
//!
//! # struct Seen(tokio::sync::mpsc::UnboundedSender<Anomaly>);
//! # impl actix::Actor for Seen { type Context = actix::Context<Self>; }
//! # impl actix::Handler<Anomaly> for Seen {
//! #     type Result = ();
//! #     fn handle(&mut self, a: Anomaly, _: &mut Self::Context) { let _ = self.0.send(a); }
//! # }
//! actix::System::new().block_on(async {
//!     // Settings in code (or from TOML: exwatch::settings::from_toml_str). No exchanges to
//!     // probe here: the engine's own observations are the input.
//!     let mut settings = exwatch::settings::Settings::default();
//!     settings.store = exwatch::settings::StoreSettings::in_memory(); // a file keeps alerts
//!     settings.http.listen = ([127, 0, 0, 1], 0).into(); // any free port
//!     let monitor = Monitor::start(settings).expect("exwatch starts");
//!     println!("dashboard at http://{}/", monitor.http_addr().expect("HTTP is on"));
//!
//!     // Any actor of the engine can hear anomalies: here, one that forwards them.
//!     let (tx, mut anomalies) = tokio::sync::mpsc::unbounded_channel();
//!     monitor.subscribe(actix::Actor::start(Seen(tx)).recipient());
//!
//!     // The engine reports its own order placements: three rejects in a row.
//!     let series = SeriesKey::new("binance", "order_place", Metric::Errors);
//!     for _ in 0..3 {
//!         monitor.inject(Measurement {
//!             series: series.clone(),
//!             value: 1.0,
//!             outcome: Outcome::Http5xx,
//!             status: 503,
//!             at: Timestamp::now(),
//!         });
//!     }
//!     let anomaly = anomalies.recv().await.expect("an anomaly");
//!     assert_eq!(anomaly.series, series);
//!
//!     // Stopping releases every actor, thread and socket, and the store file's claim.
//!     monitor.stop().await;
//! });
//! ```
//!
//! A store file belongs to one running monitor at a time: a second [`Monitor::start`] on
//! the same `[store] path` fails with [`Error::AlreadyRunning`] until the first is stopped
//! (see [`store::StoreLock`]). That file is what makes a monitor an instance: its outbox,
//! its silences and its baselines. A [`MonitorBuilder`] is consumed by its `start`, so it
//! cannot be started twice; two monitors on `":memory:"` stores are two instances.
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod channel;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod detect;
pub mod error;
pub mod messages;
pub mod metrics;
pub mod probe;
pub mod reload;
pub mod replay;
pub mod route;
pub mod server;
pub mod service;
pub mod settings;
pub mod status;
pub mod store;
pub mod supervision;
pub mod timer;
pub mod triage;

pub use error::{ConfigError, DeliveryError, Error, Problem, StoreError};
pub use messages::{Alert, Anomaly, Measurement, Metric, Resolved, SeriesKey, Severity, Timestamp};
pub use service::{Monitor, MonitorBuilder, MonitorHandle};
