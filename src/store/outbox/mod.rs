//! The outbox: every alert the Router accepts, with one pending delivery per durable channel,
//! each channel's attempts, and its delivered / failed marks. A channel that is down keeps
//! its alerts pending; after a restart (even `kill -9`) it resumes them in enqueue order.
//!
//! This folder owns the outbox's record types (below), its interface ([`OutboxStore`]), its
//! messages and their handlers on the [`StoreActor`](crate::store::StoreActor)
//! (`messages.rs`), and its SQL (`sqlite.rs`: the `alerts`, `deliveries` and `attempts`
//! tables).

use crate::error::StoreError;
use crate::messages::{Alert, Timestamp};

mod messages;
mod sqlite;

pub use messages::{
    Attempted, Delivered, DeliveryCounts, Enqueue, FailPending, Failed, LoadPending, StoreLink,
};

/// The state of one (alert, channel) delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Not delivered yet; retried, and resumed after a restart.
    Pending,
    /// The platform accepted it.
    Delivered,
    /// Rejected by the platform, or given up after `max_attempts`.
    Failed,
}

impl DeliveryState {
    /// The name stored in `deliveries.state`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    /// The state named `s` (as stored), if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => return None,
        })
    }
}

/// How one delivery attempt ended (`attempts.outcome`, as the `outcome` label of
/// `exwatch_deliveries_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttemptOutcome {
    /// Delivered.
    Ok,
    /// Failed; it will be retried.
    Retry,
    /// Failed for good (rejected, or the last attempt).
    Failed,
}

impl AttemptOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Retry => "retry",
            AttemptOutcome::Failed => "failed",
        }
    }
}

/// How many deliveries of one channel are in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCount {
    /// The channel.
    pub channel: String,
    /// The state.
    pub state: DeliveryState,
    /// How many.
    pub count: u64,
}

/// An alert still to be delivered to a channel, with the attempts already made.
#[derive(Debug, Clone)]
pub struct PendingAlert {
    /// The alert, exactly as it was enqueued (timestamps to the millisecond).
    pub alert: Alert,
    /// Attempts made so far, in any run.
    pub attempts: u32,
}

/// The outbox's interface to a storage engine (see [`crate::store::Backend`]).
pub trait OutboxStore {
    /// Writes `alert` and one pending delivery per channel of `channels`, atomically: either
    /// the alert is stored with all its deliveries or nothing is. Returns its `seq` (the
    /// enqueue order).
    fn enqueue(&mut self, alert: &Alert, channels: &[&str]) -> Result<i64, StoreError>;

    /// Records attempt number `attempt` (1 for the first) of delivering `alert_id` to
    /// `channel`, and raises the delivery's attempt count to it.
    fn record_attempt(
        &mut self,
        alert_id: &str,
        channel: &str,
        attempt: u32,
        outcome: AttemptOutcome,
        detail: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Marks the delivery of `alert_id` to `channel` done.
    fn mark_delivered(
        &mut self,
        alert_id: &str,
        channel: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Marks the delivery of `alert_id` to `channel` failed for good, with the reason.
    fn mark_failed(
        &mut self,
        alert_id: &str,
        channel: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Marks every pending delivery of `channel` failed with `reason` (a reload removed the
    /// channel); answers how many.
    fn fail_pending(
        &mut self,
        channel: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError>;

    /// At most `limit` pending deliveries of `channel`, oldest first (enqueue order); with
    /// `before_seq`, only the alerts enqueued before it (`seq < before_seq`). A stored alert
    /// that cannot be read is left out and its delivery marked failed, so one bad row never
    /// keeps the others from resuming.
    fn pending(
        &mut self,
        channel: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, StoreError>;

    /// The `seq` of the last alert enqueued, 0 for none.
    fn max_seq(&mut self) -> Result<i64, StoreError>;

    /// Delivery counts by channel and state, ordered by channel, then state.
    fn delivery_counts(&mut self) -> Result<Vec<DeliveryCount>, StoreError>;

    /// The state of the delivery of `alert_id` to `channel`, if there is one.
    fn delivery_state(
        &mut self,
        alert_id: &str,
        channel: &str,
    ) -> Result<Option<DeliveryState>, StoreError>;
}
