//! The `stream` endpoint kind: public WebSocket market-data streams kept open and judged.
//!
//! - [`config`]: the endpoint table with `kind = "stream"` → [`StreamSettings`];
//! - [`venue`]: the pure per-venue protocols (subscribe message and acknowledgement,
//!   heartbeat, event time and sequence fields), parsing a frame without allocating
//!   (data frames through the hand [`scan`]ner, control frames through borrowing serde);
//! - [`judge`]: the pure stream judge, frames and ticks in, measurements out (lag, silence
//!   against the learned cadence, frozen payloads, sequence gaps, reconnect churn);
//! - [`budget`]: the per-venue connection-attempt budget all streams of a monitor share;
//! - [`actor`]: the thin connection actor (awc's WebSocket client, bounded frames,
//!   make-before-break replacement, paced resubscribes, jittered back-off);
//! - [`sample`]: a judge's readings as measurements (the one encoding of the stream flags);
//! - [`observation`]: what an embedding engine saw of a message on a stream of its own;
//! - [`engine`]: the thin actor judging an engine's own streams
//!   ([`crate::MonitorHandle::observe_stream`]).

pub mod actor;
pub mod budget;
pub mod config;
pub mod engine;
pub mod judge;
pub mod observation;
pub mod sample;
pub mod scan;
pub mod venue;

pub use actor::StreamActor;
pub use config::{StreamChannel, StreamSettings, Venue};
pub use observation::{EngineStreamOptions, StreamObservation};

use std::sync::Arc;

use actix::{Addr, ArbiterHandle, Recipient, Supervisor};

use crate::detect::DetectorSet;
use crate::messages::Name;
use crate::metrics::Metrics;
use crate::status::StatusBoard;

/// Starts one supervised [`StreamActor`] per stream, spread over `arbiters` in turn; each
/// reports to its exchange's breaker through `breaker_of` (when that exchange is probed),
/// publishes its state on `board`, and draws its connection attempts from one shared
/// per-venue [`budget::ConnectBudget`].
pub fn start(
    streams: &[StreamSettings],
    arbiters: &[ArbiterHandle],
    detectors: &DetectorSet,
    metrics: &Arc<Metrics>,
    board: &Arc<StatusBoard>,
    breaker_of: impl Fn(&Name) -> Option<Recipient<actor::StreamHealth>>,
) -> Vec<Addr<StreamActor>> {
    let mut out = Vec::with_capacity(streams.len());
    if arbiters.is_empty() {
        return out;
    }
    let budget = Arc::new(budget::ConnectBudget::new());
    for (i, spec) in streams.iter().enumerate() {
        let (spec, d, m, b) = (
            spec.clone(),
            detectors.clone(),
            metrics.clone(),
            board.clone(),
        );
        let breaker = breaker_of(&spec.exchange);
        let budget = budget.clone();
        let addr = Supervisor::start_in_arbiter(&arbiters[i % arbiters.len()], move |_| {
            let actor = StreamActor::new(spec, d, &m)
                .with_board(b)
                .with_budget(budget);
            match breaker {
                Some(r) => actor.with_breaker(r),
                None => actor,
            }
        });
        out.push(addr);
    }
    out
}
