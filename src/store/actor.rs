//! [`StoreActor`]: the [`Store`] as an actor, on a thread of its own (a one-thread
//! `SyncArbiter`), so that no SQLite write — fsync included — ever blocks an event loop.
//!
//! It is the outbox of the alert path: the Router sends one [`Enqueue`] per alert, then hands
//! the alert to the channels; the actor commits the alert and a pending delivery per durable
//! channel while their first attempts run. Channels report [`Attempted`], [`Delivered`] and
//! [`Failed`], which reach this one mailbox after the [`Enqueue`] they are about (the Router
//! queued it before the channel ever saw the alert), so they find its row (when that write
//! succeeded). At their
//! first start channels ask for their [`LoadPending`] deliveries, those enqueued before this
//! process opened the store (newer ones are already in their mailboxes). A failed write is
//! logged and counted (`exwatch_store_errors_total`); the alert has gone out regardless: the
//! store never costs or delays an alert held in memory.
//!
//! Panics: actix gives a `SyncContext` actor no second chance (a panic kills its thread and
//! the store with it), so every handler body runs under `catch_unwind`; a caught panic is
//! logged, counted as a restart of `store`, and `ctx.stop()` makes the arbiter build a fresh
//! actor from the factory, around the same [`Store`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use actix::{
    Actor, ActorContext, Addr, Handler, Message, MessageResult, Recipient, SyncArbiter, SyncContext,
};
use parking_lot::Mutex;

use crate::config::SupervisionSettings;
use crate::detect::baseline::Rollup;
use crate::error::StoreError;
use crate::messages::{Alert, Anomaly, Crash, Name, Ping, Resolved, SeriesKey, Timestamp};
use crate::metrics::{Counter, Metrics};
use crate::store::StoreLock;
use crate::store::db::{
    AttemptOutcome, DeliveryCount, EventFilter, EventPage, PendingAlert, Store,
};
use crate::supervision::{RestartTracker, panic_text};

mod silences;
pub use silences::{GetAlert, GetSilence, RecordAck, RecordSilenced, SaveSilence, StoredSilences};

/// Records an anomaly the Router alerted on.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordAnomaly(pub Anomaly);

/// Records a series' recovery.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordResolved(pub Resolved);

/// Stores `alert` with a pending delivery for each of `channels` (the durable ones it was sent
/// to). The Router sends it before it hands the alert to the channels, so it is ahead of
/// every delivery report of that alert in this actor's mailbox.
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
/// enqueue order.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<PendingAlert>")]
pub struct LoadPending {
    /// The channel.
    pub channel: Name,
}

/// The latest `limit` alerts, newest first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<Alert>")]
pub struct RecentAlerts {
    /// How many.
    pub limit: usize,
}

/// Delivery counts by channel and state.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<DeliveryCount>")]
pub struct DeliveryCounts;

/// Whether the store takes writes now (`/readyz`): `Err` carries the reason. Waits at most
/// `wait` for another writer's lock.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), String>")]
pub struct CheckWritable {
    /// The longest wait for a lock held by another connection.
    pub wait: std::time::Duration,
}

/// A page of stored alerts for the events API (see [`Store::query_events`]). `Err` carries
/// a reason for the client; the details are in the log.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<EventPage, String>")]
pub struct QueryEvents(pub EventFilter);

/// Closes the store at shutdown: the database connection, then the claim on the file
/// ([`StoreLock`]); [`StoreClosed`] resolves. Messages after it fail and are logged. Sent by
/// [`MonitorHandle::stop`](crate::MonitorHandle::stop) once everything is written, so the
/// file is free at once, even while some address of the actor (a clone an embedding engine
/// kept, a server worker still winding down) lives on.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Close;

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

/// Persists one closed bucket's baseline rollup (a detector sends it as the bucket closes) and
/// prunes that series' rollups older than `keep_ms` before it.
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
    pub rollup: Rollup,
    /// How much history to keep, in ms (`[detect.baseline] history`).
    pub keep_ms: i64,
}

/// The persisted baseline rollups of a series, oldest first, as (bucket start ms, rollup):
/// those of buckets of `width_ms` within `keep_ms` of its newest one. Empty on a failure.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Vec<(i64, Rollup)>")]
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
    /// Closed buckets.
    pub save: Recipient<SaveRollup>,
    /// The warm start.
    pub load: Recipient<LoadRollups>,
}

impl BaselineLink {
    /// The link to a running [`StoreActor`].
    pub fn new(store: &Addr<StoreActor>) -> Self {
        Self {
            save: store.clone().recipient(),
            load: store.clone().recipient(),
        }
    }
}

/// What survives a restart of the actor.
struct Shared {
    store: Store,
    /// The `seq` the first alert of this run gets: older pending deliveries are resumed by
    /// [`LoadPending`], newer ones are in the channels' mailboxes already.
    first_seq: i64,
    errors: Counter,
    restarts: RestartTracker,
    /// Declared after `store`, so dropped after the connection is closed.
    closing: Closing,
}

/// What the end of the store's thread releases: the claim on the file, then the news that
/// it is closed (see [`StoreActor::start_locked`]).
struct Closing {
    lock: Option<StoreLock>,
    closed: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Closing {
    fn drop(&mut self) {
        drop(self.lock.take());
        if let Some(tx) = self.closed.take() {
            let _ = tx.send(());
        }
    }
}

/// Resolves once the [`StoreActor`]'s thread has let go of the store: its connection is
/// closed and its [`StoreLock`] released. That happens when every address of the actor is
/// gone. Resolves with an error only if that signal was lost, which cannot happen short of a
/// leak.
pub type StoreClosed = tokio::sync::oneshot::Receiver<()>;

/// Runs the [`Store`]. See the module docs.
pub struct StoreActor {
    shared: Arc<Mutex<Shared>>,
}

impl StoreActor {
    /// Starts the actor on a thread of its own around `store`.
    pub fn start(
        store: Store,
        supervision: &SupervisionSettings,
        metrics: &Metrics,
    ) -> Result<Addr<StoreActor>, StoreError> {
        Self::start_locked(store, None, supervision, metrics).map(|(addr, _)| addr)
    }

    /// Like [`StoreActor::start`], and holds `lock` for as long as the store is open. The
    /// returned [`StoreClosed`] resolves when the actor's thread has closed the store and
    /// released the lock, after the last address of the actor is dropped.
    pub fn start_locked(
        store: Store,
        lock: Option<StoreLock>,
        supervision: &SupervisionSettings,
        metrics: &Metrics,
    ) -> Result<(Addr<StoreActor>, StoreClosed), StoreError> {
        let first_seq = store.max_seq()? + 1;
        let (tx, closed) = tokio::sync::oneshot::channel();
        let shared = Arc::new(Mutex::new(Shared {
            store,
            first_seq,
            errors: metrics.counter("exwatch_store_errors_total", &[]),
            restarts: RestartTracker::new(Name::from("store"), supervision, metrics, None),
            closing: Closing {
                lock,
                closed: Some(tx),
            },
        }));
        let addr = SyncArbiter::start_with_thread_builder(
            1,
            || std::thread::Builder::new().name("exwatch-store".into()),
            move || StoreActor {
                shared: shared.clone(),
            },
        );
        Ok((addr, closed))
    }

    /// Runs `f` on the store, catching its panics (see the module docs); a failure is logged
    /// and counted and gives `None`.
    fn with_store<R>(
        &mut self,
        ctx: &mut SyncContext<Self>,
        what: &'static str,
        f: impl FnOnce(&mut Store, i64) -> Result<R, StoreError>,
    ) -> Option<R> {
        let shared = &self.shared;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut s = shared.lock();
            let first_seq = s.first_seq;
            f(&mut s.store, first_seq)
        }));
        match result {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                let s = shared.lock();
                s.errors.inc();
                tracing::error!(path = s.store.path(), operation = what, error = %e, "Event store operation failed.");
                None
            }
            Err(payload) => {
                tracing::error!(
                    actor = "store",
                    operation = what,
                    panic = panic_text(&*payload),
                    "Actor panicked; restarting."
                );
                shared.lock().restarts.record(actix::clock::Instant::now());
                ctx.stop();
                None
            }
        }
    }
}

impl Actor for StoreActor {
    type Context = SyncContext<Self>;
}

impl Handler<RecordAnomaly> for StoreActor {
    type Result = ();

    fn handle(&mut self, RecordAnomaly(a): RecordAnomaly, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "record_anomaly", |s, _| s.record_anomaly(&a));
    }
}

impl Handler<RecordResolved> for StoreActor {
    type Result = ();

    fn handle(&mut self, RecordResolved(r): RecordResolved, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "record_resolved", |s, _| s.record_resolved(&r));
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
                s.pending(&m.channel, Some(first_seq))
            })
            .unwrap_or_default();
        if !pending.is_empty() {
            tracing::info!(channel = %m.channel, pending = pending.len(), "Resuming deliveries pending from an earlier run.");
        }
        MessageResult(pending)
    }
}

impl Handler<RecentAlerts> for StoreActor {
    type Result = MessageResult<RecentAlerts>;

    fn handle(&mut self, m: RecentAlerts, ctx: &mut SyncContext<Self>) -> Self::Result {
        MessageResult(
            self.with_store(ctx, "recent_alerts", |s, _| s.recent_alerts(m.limit))
                .unwrap_or_default(),
        )
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

impl Handler<CheckWritable> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, m: CheckWritable, _: &mut SyncContext<Self>) -> Self::Result {
        // Not through `with_store`: a failed check is the answer, not an error to count.
        let shared = &self.shared;
        catch_unwind(AssertUnwindSafe(|| {
            shared.lock().store.check_writable(m.wait)
        }))
        .map_err(|p| format!("the store check panicked: {}", panic_text(&*p)))?
        .map_err(|e| e.to_string())
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

impl Handler<QueryEvents> for StoreActor {
    type Result = Result<EventPage, String>;

    fn handle(
        &mut self,
        QueryEvents(filter): QueryEvents,
        ctx: &mut SyncContext<Self>,
    ) -> Self::Result {
        self.with_store(ctx, "query_events", |s, _| s.query_events(&filter))
            .ok_or_else(|| "the event store query failed".to_owned())
    }
}

impl Handler<Close> for StoreActor {
    type Result = ();

    fn handle(&mut self, _: Close, _: &mut SyncContext<Self>) {
        let mut shared = self.shared.lock();
        shared.store.close();
        drop(shared.closing.lock.take());
        if let Some(tx) = shared.closing.closed.take() {
            let _ = tx.send(());
        }
    }
}

/// A barrier: answers once everything sent before it has been written.
impl Handler<Ping> for StoreActor {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut SyncContext<Self>) {}
}

/// Fault injection: panics inside the guarded store call.
impl Handler<Crash> for StoreActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "crash", |_, _| -> Result<(), StoreError> {
            panic!("fault injected by a Crash message")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{AlertKind, Metric, Severity, Stats, new_id};

    fn alert(i: i64) -> Alert {
        Alert {
            id: new_id(),
            kind: AlertKind::Firing,
            severity: Severity::Critical,
            exchange: "okx".into(),
            endpoint: "time".into(),
            metric: Metric::ClockSkewMs,
            detector: "clock_skew".into(),
            title: format!("alert {i}"),
            message: String::new(),
            value: 1.0,
            threshold: 1.0,
            region: "test".into(),
            started_at: Timestamp(1_795_000_000_000 + i),
            at: Timestamp(1_795_000_000_000 + i),
            stats: Stats::default(),
            in_reply_to: None,
        }
    }

    #[actix::test]
    async fn store_actor_stores_resumes_only_older_and_survives_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        let path = path.to_str().expect("utf-8");
        let old = alert(0);
        {
            let mut s = Store::open(path).expect("open");
            s.enqueue(&old, &["hook"]).expect("enqueue");
        }
        let metrics = Metrics::new();
        let store = StoreActor::start(
            Store::open(path).expect("open"),
            &SupervisionSettings::default(),
            &metrics,
        )
        .expect("start");
        let new: Vec<Alert> = (1..=3).map(alert).collect();
        for a in &new {
            store.do_send(Enqueue {
                alert: a.clone(),
                channels: vec!["hook".into()],
            });
        }
        store.send(Crash).await.expect("crash answered");
        // After the panic a fresh actor answers, around the same store.
        let pending = store
            .send(LoadPending {
                channel: "hook".into(),
            })
            .await
            .expect("answer");
        assert_eq!(
            pending
                .iter()
                .map(|p| p.alert.id.clone())
                .collect::<Vec<_>>(),
            std::slice::from_ref(&old.id),
            "only what was pending before this run"
        );
        store.do_send(Delivered {
            alert_id: old.id.clone(),
            channel: "hook".into(),
        });
        let counts = store.send(DeliveryCounts).await.expect("counts");
        assert_eq!(counts.len(), 2, "{counts:?}");
        assert_eq!(counts[0].count, 1, "delivered: the old one");
        assert_eq!(counts[1].count, 3, "pending: the new ones");
        assert_eq!(
            metrics.value("exwatch_actor_restarts_total", &[("actor", "store")]),
            Some(1.0)
        );
    }
}
