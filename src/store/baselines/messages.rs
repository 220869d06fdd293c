//! The rollups' messages and their handlers on the [`StoreActor`]: the detectors save the
//! buckets they close in batches ([`SaveRollups`]) and load a series' rollups at its start.

use actix::{Addr, Handler, Message, MessageResult, Recipient, SyncContext};

use super::RollupRecord;
use crate::messages::SeriesKey;
use crate::store::StoreActor;

/// Persists one closed bucket's baseline rollup and prunes that series' rollups older than
/// `keep_ms` before it: a row of a [`SaveRollups`] batch, or a message of its own (for an
/// embedding engine's own series).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SaveRollup {
    /// The series.
    pub series: SeriesKey,
    /// The bucket's start, ms since the epoch (event time).
    pub start_ms: i64,
    /// The bucket's width in ms.
    pub width_ms: i64,
    /// The rollup.
    pub rollup: RollupRecord,
    /// How much history to keep, in ms (`[detect.baseline] history`).
    pub keep_ms: i64,
}

/// Persists closed buckets' rollups, several series' together, in one transaction: what the
/// detectors send, a batch a second ([`SaveRollup`] each).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SaveRollups {
    /// The rollups, in the order they closed.
    pub rows: Vec<SaveRollup>,
}

/// The persisted baseline rollups of a series, oldest first, as (bucket start ms, rollup):
/// those of buckets of `width_ms` within `keep_ms` of its newest one. Empty on a failure.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<(i64, RollupRecord)>")]
pub struct LoadRollups {
    /// The series.
    pub series: SeriesKey,
    /// The bucket width in ms.
    pub width_ms: i64,
    /// How much history, in ms.
    pub keep_ms: i64,
}

/// What a detector needs of the store: where to save closed buckets and load them back.
#[derive(Clone)]
pub struct BaselineLink {
    /// Closed buckets, one at a time (kept for senders of single rollups; the detectors send
    /// batches).
    pub save: Recipient<SaveRollup>,
    /// Closed buckets, a batch at a time (what the detectors send).
    pub save_batch: Recipient<SaveRollups>,
    /// The warm start.
    pub load: Recipient<LoadRollups>,
}

impl BaselineLink {
    /// The link to a running [`StoreActor`].
    pub fn new(store: &Addr<StoreActor>) -> Self {
        Self {
            save: store.clone().recipient(),
            save_batch: store.clone().recipient(),
            load: store.clone().recipient(),
        }
    }
}

impl Handler<SaveRollup> for StoreActor {
    type Result = ();

    fn handle(&mut self, m: SaveRollup, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "save_rollup", |s, _| {
            s.save_rollup(&m.series, m.start_ms, m.width_ms, &m.rollup, m.keep_ms)
        });
    }
}

impl Handler<SaveRollups> for StoreActor {
    type Result = ();

    fn handle(&mut self, m: SaveRollups, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "save_rollups", |s, _| s.save_rollups(&m.rows));
    }
}

impl Handler<LoadRollups> for StoreActor {
    type Result = MessageResult<LoadRollups>;

    fn handle(&mut self, m: LoadRollups, ctx: &mut SyncContext<Self>) -> Self::Result {
        MessageResult(
            self.with_store(ctx, "load_rollups", |s, _| {
                s.load_rollups(&m.series, m.width_ms, m.keep_ms)
            })
            .unwrap_or_default(),
        )
    }
}
