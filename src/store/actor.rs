//! [`StoreActor`]: the event store's [`Backend`] as an actor, on a thread of its own (a
//! one-thread `SyncArbiter`), so that no write — fsync included — ever blocks an event loop.
//! One thread and one mailbox for every aggregate: a channel's delivery reports queue behind
//! the Router's [`Enqueue`](crate::store::Enqueue) of the same alert, and silenced alerts,
//! acks and the events API share the `alerts` rows, so one connection in one order keeps them
//! consistent.
//!
//! This file owns the thread, the panic guard and the store-wide messages ([`CheckWritable`],
//! [`Close`], and the `Ping` barrier and `Crash` fault injection); each aggregate's messages
//! and their handlers live beside its records (`outbox/`, `events/`, `baselines/`,
//! `silences/`). A failed write is logged and counted (`exwatch_store_errors_total`); the
//! alert has gone out regardless: the store never costs or delays an alert held in memory.
//!
//! Panics: actix gives a `SyncContext` actor no second chance (a panic kills its thread and
//! the store with it), so every handler body runs under `catch_unwind`; a caught panic is
//! logged, counted as a restart of `store`, and `ctx.stop()` makes the arbiter build a fresh
//! actor from the factory, around the same [`Backend`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use actix::{Actor, ActorContext, Addr, Handler, Message, SyncArbiter, SyncContext};
use parking_lot::Mutex;

use crate::config::SupervisionSettings;
use crate::error::StoreError;
use crate::messages::{Crash, Name, Ping};
use crate::metrics::{Counter, Metrics};
use crate::store::{Backend, StoreLock};
use crate::supervision::{RestartTracker, panic_text};

/// The answer to a write the API awaits when the store failed.
pub(in crate::store) const FAILED: &str = "the event store failed (see the log)";

/// Whether the store takes writes now (`/readyz`): `Err` carries the reason. Waits at most
/// `wait` for another writer's lock.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<(), String>")]
pub struct CheckWritable {
    /// The longest wait for a lock held by another connection.
    pub wait: std::time::Duration,
}

/// Closes the store at shutdown: the database connection, then the claim on the file
/// ([`StoreLock`]); [`StoreClosed`] resolves. Messages after it fail and are logged. Sent by
/// [`MonitorHandle::stop`](crate::MonitorHandle::stop) once everything is written, so the
/// file is free at once, even while some address of the actor (a clone an embedding engine
/// kept, a server worker still winding down) lives on.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Close;

/// What survives a restart of the actor.
struct Shared {
    store: Box<dyn Backend>,
    /// The `seq` the first alert of this run gets: older pending deliveries are resumed by
    /// [`LoadPending`](crate::store::LoadPending), newer ones are in the channels' mailboxes already.
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

/// Runs the store's [`Backend`]. See the module docs.
pub struct StoreActor {
    shared: Arc<Mutex<Shared>>,
}

impl StoreActor {
    /// Starts the actor on a thread of its own around `store`.
    pub fn start(
        store: impl Backend,
        supervision: &SupervisionSettings,
        metrics: &Metrics,
    ) -> Result<Addr<StoreActor>, StoreError> {
        Self::start_locked(store, None, supervision, metrics).map(|(addr, _)| addr)
    }

    /// Like [`StoreActor::start`], and holds `lock` for as long as the store is open. The
    /// returned [`StoreClosed`] resolves when the actor's thread has closed the store and
    /// released the lock, after the last address of the actor is dropped.
    pub fn start_locked(
        mut store: impl Backend,
        lock: Option<StoreLock>,
        supervision: &SupervisionSettings,
        metrics: &Metrics,
    ) -> Result<(Addr<StoreActor>, StoreClosed), StoreError> {
        let first_seq = store.max_seq()? + 1;
        let (tx, closed) = tokio::sync::oneshot::channel();
        let shared = Arc::new(Mutex::new(Shared {
            store: Box::new(store),
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
    pub(in crate::store) fn with_store<R>(
        &mut self,
        ctx: &mut SyncContext<Self>,
        what: &'static str,
        f: impl FnOnce(&mut dyn Backend, i64) -> Result<R, StoreError>,
    ) -> Option<R> {
        let shared = &self.shared;
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut s = shared.lock();
            let first_seq = s.first_seq;
            f(&mut *s.store, first_seq)
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
    use crate::messages::{Alert, AlertKind, Metric, Severity, Stats, Timestamp, new_id};
    use crate::store::testing::ALL;
    use crate::store::{Delivered, DeliveryCounts, Enqueue, LoadPending, OutboxStore, SqliteStore};

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
            group: None,
        }
    }

    #[actix::test]
    async fn store_actor_stores_resumes_only_older_and_survives_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.db");
        let path = path.to_str().expect("utf-8");
        let old = alert(0);
        {
            let mut s = SqliteStore::open(path).expect("open");
            s.enqueue(&old, &["hook"]).expect("enqueue");
        }
        let metrics = Metrics::new();
        let store = StoreActor::start(
            SqliteStore::open(path).expect("open"),
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
                limit: ALL,
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
