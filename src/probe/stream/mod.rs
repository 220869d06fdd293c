//! The `stream` endpoint kind: public WebSocket market-data streams kept open and judged.
//!
//! Streams share connections, as real clients do: the streams of one exchange that speak the
//! same venue profile at the same URL (with the same connection settings) are [`pack`]ed onto
//! as few connections as the venue allows (Binance up to 1 024 streams per connection, Bybit
//! and OKX 200; the exchange's `streams_per_connection` may say fewer), each connection
//! subscribes its streams in batches (Binance `SUBSCRIBE` `params`, Bybit and OKX `args`),
//! paced under the venue's message limit, and every frame is [`route`]d to its stream by the
//! topic the venue writes in it. Each stream keeps its own judge, metrics, status and alerts,
//! exactly as if it had a connection to itself: 2 000 Binance streams take two connection
//! attempts, not 2 000 (33 minutes of the venue's 300-per-5-minutes budget).
//!
//! - [`config`]: the endpoint table with `kind = "stream"` → [`StreamSettings`];
//! - [`venue`]: the pure per-venue protocols (subscribe messages of one or many topics and
//!   their acknowledgements, heartbeat, event time, sequence and topic fields), parsing a
//!   frame without allocating (data frames through the hand [`scan`]ner, control frames
//!   through borrowing serde);
//! - [`pack`]: the pure packing of streams onto connections and of topics into requests;
//! - [`route`]: the pure topic → stream routing of one connection (no allocation per frame);
//! - [`subs`]: the pure bookkeeping of subscribe requests in flight (which stream an
//!   acknowledgement or a refusal answers for);
//! - [`judge`]: the pure stream judge, frames and ticks in, measurements out (lag, silence
//!   against the learned cadence, frozen payloads, sequence gaps, reconnect churn);
//! - [`watch`]: one stream's judge, metric handles, measurements and status;
//! - [`sample`]: a judge's readings as measurements (the one encoding of the stream flags);
//! - [`budget`]: the per-venue connection-attempt budget all connections of a monitor share;
//! - [`actor`]: the thin connection actor, one per shared connection (awc's WebSocket client,
//!   bounded frames, make-before-break replacement, paced resubscribes, jittered back-off);
//! - [`stage`]: the running connections, started from the packs and reloaded live (only the
//!   connections whose streams changed restart);
//! - [`observation`]: what an embedding engine saw of a message on a stream of its own;
//! - [`engine`]: the thin actor judging an engine's own streams
//!   ([`crate::MonitorHandle::observe_stream`]).

pub mod actor;
pub mod budget;
pub mod config;
pub mod engine;
pub mod judge;
pub mod observation;
pub mod pack;
pub mod route;
pub mod sample;
pub mod scan;
pub mod stage;
pub mod subs;
pub mod venue;
pub mod watch;

pub use actor::StreamActor;
pub use config::{StreamChannel, StreamSettings, Venue};
pub use observation::{EngineStreamOptions, StreamObservation};
pub use stage::Streams;
