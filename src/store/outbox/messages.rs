//! The outbox's messages and their handlers on the [`StoreActor`]. The Router sends one
//! [`Enqueue`] per alert, then hands the alert to the channels; the actor commits the alert
//! and a pending delivery per durable channel while their first attempts run. Channels report
//! [`Attempted`], [`Delivered`] and [`Failed`], which reach the store's one mailbox after the
//! [`Enqueue`] they are about (the Router queued it before the channel ever saw the alert), so
//! they find its row (when that write succeeded). At their first start channels ask for their
//! [`LoadPending`] deliveries, those enqueued before this process opened the store (newer ones
//! are already in their mailboxes).

use actix::{Addr, Handler, Message, MessageResult, Recipient, SyncContext};

use super::{AttemptOutcome, DeliveryCount, PendingAlert};
use crate::messages::{Alert, Name, Timestamp};
use crate::store::StoreActor;

/// Stores `alert` with a pending delivery for each of `channels` (the durable ones it was sent
/// to). The Router sends it before it hands the alert to the channels, so it is ahead of
/// every delivery report of that alert in the store's mailbox.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Enqueue {
    /// The alert.
    pub alert: Alert,
    /// The channels that report their deliveries back (a `ChannelActor`): each gets a pending
    /// delivery until it says delivered or failed. In-process recipients are not listed.
    pub channels: Vec<Name>,
}

/// A channel made one delivery attempt.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Attempted {
    /// The alert.
    pub alert_id: Name,
    /// The channel.
    pub channel: Name,
    /// 1 for the first attempt (counting attempts of earlier runs).
    pub attempt: u32,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The error, empty on success; never a secret.
    pub detail: String,
}

/// A channel delivered an alert.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Delivered {
    /// The alert.
    pub alert_id: Name,
    /// The channel.
    pub channel: Name,
}

/// A channel gave up on an alert (rejected by the platform, or out of attempts).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Failed {
    /// The alert.
    pub alert_id: Name,
    /// The channel.
    pub channel: Name,
    /// Why; never a secret.
    pub reason: String,
}

/// Every delivery of `channel` still pending is marked failed with `reason`: a reload removed
/// the channel, and its alerts must not stay pending forever.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct FailPending {
    /// The channel.
    pub channel: Name,
    /// Why ("channel removed").
    pub reason: String,
}

/// The pending deliveries of `channel` enqueued before this process opened the store, in
/// enqueue order, at most `limit` of them (what the channel's queue holds; the rest stay
/// pending for the next start).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<PendingAlert>")]
pub struct LoadPending {
    /// The channel.
    pub channel: Name,
    /// The most deliveries to load.
    pub limit: usize,
}

/// Delivery counts by channel and state.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<DeliveryCount>")]
pub struct DeliveryCounts;

/// What a channel needs of the store: where to report its deliveries and load its pending
/// alerts.
#[derive(Clone)]
pub struct StoreLink {
    /// Attempt reports.
    pub attempted: Recipient<Attempted>,
    /// Delivery reports.
    pub delivered: Recipient<Delivered>,
    /// Failure reports.
    pub failed: Recipient<Failed>,
    /// Pending deliveries at start.
    pub load: Recipient<LoadPending>,
}

impl StoreLink {
    /// The link to a running [`StoreActor`].
    pub fn new(store: &Addr<StoreActor>) -> Self {
        Self {
            attempted: store.clone().recipient(),
            delivered: store.clone().recipient(),
            failed: store.clone().recipient(),
            load: store.clone().recipient(),
        }
    }
}

impl Handler<Enqueue> for StoreActor {
    type Result = ();

    fn handle(&mut self, Enqueue { alert, channels }: Enqueue, ctx: &mut SyncContext<Self>) {
        let channels: Vec<&str> = channels.iter().map(|c| &**c).collect();
        let stored = self.with_store(ctx, "enqueue", |s, _| s.enqueue(&alert, &channels));
        if stored.is_none() {
            // The channels have it already: it goes out, but is not resumed after a restart.
            tracing::error!(alert = %alert.id, "Alert not stored; it is delivered from memory only.");
        }
    }
}

impl Handler<Attempted> for StoreActor {
    type Result = ();

    fn handle(&mut self, m: Attempted, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "record_attempt", |s, _| {
            s.record_attempt(
                &m.alert_id,
                &m.channel,
                m.attempt,
                m.outcome,
                &m.detail,
                Timestamp::now(),
            )
        });
    }
}

impl Handler<Delivered> for StoreActor {
    type Result = ();

    fn handle(&mut self, m: Delivered, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "mark_delivered", |s, _| {
            s.mark_delivered(&m.alert_id, &m.channel, Timestamp::now())
        });
    }
}

impl Handler<Failed> for StoreActor {
    type Result = ();

    fn handle(&mut self, m: Failed, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "mark_failed", |s, _| {
            s.mark_failed(&m.alert_id, &m.channel, &m.reason, Timestamp::now())
        });
    }
}

impl Handler<FailPending> for StoreActor {
    type Result = ();

    fn handle(&mut self, m: FailPending, ctx: &mut SyncContext<Self>) {
        let failed = self.with_store(ctx, "fail_pending", |s, _| {
            s.fail_pending(&m.channel, &m.reason, Timestamp::now())
        });
        if let Some(n) = failed.filter(|&n| n > 0) {
            tracing::info!(channel = %m.channel, deliveries = n, reason = %m.reason, "Pending deliveries marked failed.");
        }
    }
}

impl Handler<LoadPending> for StoreActor {
    type Result = MessageResult<LoadPending>;

    fn handle(&mut self, m: LoadPending, ctx: &mut SyncContext<Self>) -> Self::Result {
        let pending = self
            .with_store(ctx, "pending", |s, first_seq| {
                s.pending(&m.channel, Some(first_seq), m.limit)
            })
            .unwrap_or_default();
        if !pending.is_empty() {
            tracing::info!(channel = %m.channel, pending = pending.len(), "Resuming deliveries pending from an earlier run.");
        }
        MessageResult(pending)
    }
}

impl Handler<DeliveryCounts> for StoreActor {
    type Result = MessageResult<DeliveryCounts>;

    fn handle(&mut self, _: DeliveryCounts, ctx: &mut SyncContext<Self>) -> Self::Result {
        MessageResult(
            self.with_store(ctx, "delivery_counts", |s, _| s.delivery_counts())
                .unwrap_or_default(),
        )
    }
}
