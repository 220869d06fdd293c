//! What an embedding trading engine saw of one data message on a stream of its own
//! ([`StreamObservation`]), pure: the fields the stream judge needs, venue-neutral, and their
//! translation into the judge's [`Data`]. The engine names the stream; exwatch's judge does
//! the rest ([`crate::probe::stream::engine`]).

use std::time::Duration;

use crate::messages::Timestamp;
use crate::probe::stream::venue::Data;

/// One data message of an engine's own market-data stream, as its feed handler saw it. Only
/// `received_at` is required; fill in what the venue's message carries:
///
/// | venue | `event_time` | `first_update_id` | `update_id` | `prev_update_id` | `reset` |
/// |---|---|---|---|---|---|
/// | Binance spot depth | `E` | `U` | `u` | — | — |
/// | Binance USD-M depth | `E` | `U` | `u` | `pu` | — |
/// | Bybit v5 orderbook | `cts` or `ts` | — | `u` | — | snapshot, or `u = 1` |
/// | OKX v5 books | `ts` | — | `seqId` | `prevSeqId` | snapshot |
///
/// The judge then learns the stream's cadence (silence beyond a few cadences is
/// `stream_stale`), checks that event time and update id advance (`stream_frozen`) and that
/// the sequence is continuous by the venue's rule (`stream_gap`, with the number of updates
/// missing where the ids tell it), and measures `stream_lag_ms` (received minus event time,
/// corrected by the venue's clock skew when exwatch probes its `time` endpoint).
///
/// ```
/// use exwatch::Timestamp;
/// use exwatch::probe::stream::StreamObservation;
///
/// // A Binance spot depth update: {"e":"depthUpdate","E":1700000000000,"U":157,"u":160,…}
/// let seen = StreamObservation {
///     event_time: Some(Timestamp(1_700_000_000_000)),
///     first_update_id: Some(157),
///     update_id: Some(160),
///     ..StreamObservation::at(Timestamp(1_700_000_000_012))
/// };
/// assert_eq!(seen.received_at, Timestamp(1_700_000_000_012));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamObservation {
    /// When the engine received the message (its wall clock, the same as exwatch's).
    pub received_at: Timestamp,
    /// The exchange's event time carried by the message, if any.
    pub event_time: Option<Timestamp>,
    /// The first update id the message covers (Binance `U`), if the venue says.
    pub first_update_id: Option<i64>,
    /// The last update id it covers (Binance `u`, Bybit `u`, OKX `seqId`), if any.
    pub update_id: Option<i64>,
    /// The id the previous message must have ended at (Binance USD-M `pu`, OKX
    /// `prevSeqId`), if the venue links messages that way.
    pub prev_update_id: Option<i64>,
    /// The message replaces the state (a snapshot, Bybit `u = 1`): continuity starts afresh.
    pub reset: bool,
}

impl StreamObservation {
    /// A message received at `received_at` that carries nothing else the judge reads (it
    /// still counts for the stream's cadence and silence).
    pub fn at(received_at: Timestamp) -> Self {
        Self {
            received_at,
            event_time: None,
            first_update_id: None,
            update_id: None,
            prev_update_id: None,
            reset: false,
        }
    }

    /// The judge's view of it.
    pub(crate) fn data(&self) -> Data {
        Data {
            event_time: self.event_time.map(Timestamp::as_millis),
            first_id: self.first_update_id,
            last_id: self.update_id,
            prev_id: self.prev_update_id,
            reset: self.reset,
        }
    }
}

/// How exwatch judges one of an engine's streams: as a `kind = "stream"` endpoint's
/// `stale_after` and `reconnects_per_hour`. A stream the engine never configured is judged
/// with the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineStreamOptions {
    /// Silence that counts as a stall; `None` (the default): learned from the stream's
    /// cadence.
    pub stale_after: Option<Duration>,
    /// More unplanned reconnects than this in an hour is `stream_churn`.
    pub reconnects_per_hour: usize,
}

impl Default for EngineStreamOptions {
    fn default() -> Self {
        Self {
            stale_after: None,
            reconnects_per_hour: crate::probe::stream::config::DEFAULT_RECONNECTS_PER_HOUR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_is_the_judges_data() {
        let o = StreamObservation {
            event_time: Some(Timestamp(90)),
            first_update_id: Some(11),
            update_id: Some(12),
            prev_update_id: Some(10),
            reset: true,
            ..StreamObservation::at(Timestamp(100))
        };
        assert_eq!(
            o.data(),
            Data {
                event_time: Some(90),
                first_id: Some(11),
                last_id: Some(12),
                prev_id: Some(10),
                reset: true,
            }
        );
        assert_eq!(StreamObservation::at(Timestamp(1)).data(), Data::default());
        assert_eq!(EngineStreamOptions::default().reconnects_per_hour, 12);
    }
}
