//! The learned baselines' rollups: one record per series, model and closed bucket (event
//! time), pruned to `[detect.baseline] history`, so that a restarted detector warm-starts
//! instead of learning for hours again ([`crate::detect::baseline`] says what they mean).
//!
//! This folder owns the record types (below), the interface ([`BaselineStore`]), the messages
//! and their handlers on the [`StoreActor`](crate::store::StoreActor) (`messages.rs`), and the
//! SQL (`sqlite.rs`: the `baseline_rollups` table).

use crate::error::StoreError;
use crate::messages::SeriesKey;

mod messages;
mod sqlite;

pub use messages::{BaselineLink, LoadRollups, SaveRollup, SaveRollups};

/// One closed bucket's rollup, as stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RollupRecord {
    /// A latency baseline's bucket: its p90 latency in ms (model `p90`).
    P90(f64),
    /// An error baseline's bucket: its probe and error counts (model `errors`).
    Errors(BucketCounts),
}

impl RollupRecord {
    /// The model's stored name: `p90` or `errors`.
    pub fn model(&self) -> &'static str {
        match self {
            RollupRecord::P90(_) => "p90",
            RollupRecord::Errors(_) => "errors",
        }
    }
}

/// One bucket's probe counts, as stored: all probes, then errors per class (4xx, 5xx, 503,
/// 504).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketCounts {
    /// Probes sent.
    pub total: u32,
    /// Errors per class (4xx, 5xx, 503, 504).
    pub errors: [u32; 4],
}

/// The rollups' interface to a storage engine (see [`crate::store::Backend`]).
pub trait BaselineStore {
    /// Upserts the rollup of `series`' bucket of width `width_ms` starting at `start_ms`, and
    /// drops that series' rollups of the same model older than `keep_ms` before it,
    /// atomically.
    fn save_rollup(
        &mut self,
        series: &SeriesKey,
        start_ms: i64,
        width_ms: i64,
        rollup: &RollupRecord,
        keep_ms: i64,
    ) -> Result<(), StoreError>;

    /// [`BaselineStore::save_rollup`] of each of `rows`, in order. This default stops at the
    /// first error and commits each row apart: an engine with transactions overrides it to
    /// commit many rows at once (SQLite: a commit per thousand rows).
    fn save_rollups(&mut self, rows: &[SaveRollup]) -> Result<(), StoreError> {
        for r in rows {
            self.save_rollup(&r.series, r.start_ms, r.width_ms, &r.rollup, r.keep_ms)?;
        }
        Ok(())
    }

    /// The rollups of `series` in buckets of `width_ms`, oldest first, as (bucket start,
    /// rollup): those within `keep_ms` of its newest stored bucket (event time, so a replay
    /// restores what it wrote). Rows of another width are left out; unreadable rows (an
    /// unknown model, a missing or impossible value, a misaligned bucket) are skipped with a
    /// warning.
    fn load_rollups(
        &mut self,
        series: &SeriesKey,
        width_ms: i64,
        keep_ms: i64,
    ) -> Result<Vec<(i64, RollupRecord)>, StoreError>;
}
