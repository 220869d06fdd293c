//! [`DetectorHandle`]: one series' detector as a caller outside the detectors sees it — the
//! address of its exchange's [`DetectorActor`] and the series within it.
//!
//! There is one actor per exchange, not per series, so an address alone no longer names a
//! series: fault injection ([`DetectorHandle::crash`]) and the state query
//! ([`DetectorHandle::state`]) go through the handle, which names the series in its message.

use actix::Addr;

use crate::detect::actor::{CrashSeries, DetectorActor, SeriesInfo};
use crate::detect::tracked::SeriesState;
use crate::messages::SeriesKey;

/// One series' detector: its exchange's actor and the series. See the module docs.
#[derive(Clone)]
pub struct DetectorHandle {
    shard: Addr<DetectorActor>,
    series: SeriesKey,
}

impl DetectorHandle {
    /// The handle of `series` in `shard` (its exchange's detector).
    pub fn new(shard: Addr<DetectorActor>, series: SeriesKey) -> Self {
        Self { shard, series }
    }

    /// The exchange's detector, which judges this series among the exchange's others.
    pub fn shard(&self) -> &Addr<DetectorActor> {
        &self.shard
    }

    /// The series.
    pub fn series(&self) -> &SeriesKey {
        &self.series
    }

    /// True while the exchange's detector runs (it outlives restarts).
    pub fn connected(&self) -> bool {
        self.shard.connected()
    }

    /// Fault injection: a panic while judging this series (tracked from now if it was not),
    /// which restarts the series and is counted as a detector restart.
    pub fn crash(&self) {
        self.shard.do_send(CrashSeries(self.series.clone()));
    }

    /// The series' state now (after every measurement sent to it before this call has been
    /// handled); `None` when the series is not tracked (no measurement yet, forgotten by a
    /// reload, or the detector ended).
    pub async fn state(&self) -> Option<SeriesState> {
        self.shard
            .send(SeriesInfo(self.series.clone()))
            .await
            .ok()
            .flatten()
    }
}
