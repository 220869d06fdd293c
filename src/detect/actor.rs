//! The DetectorActor: one per exchange. It owns every series of its exchange (latency, errors,
//! clock skew, availability, stream metrics …), each a [`TrackedSeries`] (that series'
//! [`SeriesDetector`](crate::detect::SeriesDetector), firing state, counters and restart
//! bookkeeping) in one map; accepts [`Measurement`]s one by one or a probe's
//! [`Measurements`] as one message, and emits [`Anomaly`](crate::messages::Anomaly) and
//! [`Resolved`](crate::messages::Resolved) to the Router. No timers but the rollups' batch
//! ([`DetectorShared`]): judging runs on measurement timestamps. A series is tracked from its
//! first measurement, within the set's `max_series` ([`SeriesLimit`]).
//!
//! Why one actor per exchange and not per series: an actor is a task and a mailbox
//! (≈ 1.1 KB each), and every measurement sent to its own series' actor was a mailbox message
//! and a wake-up of the detectors' thread; a probe's two or three measurements are now one
//! message to one actor, and a series costs its model and a map entry.
//!
//! **Supervision.** A panic while judging one series restarts *that series* only: its models
//! are rebuilt (their windows start empty) but whether it was firing is kept, so a crash
//! never produces a false "resolved" nor loses one; the restart is counted in
//! `exwatch_actor_restarts_total{actor="detector"}` and against the restart budget of
//! `detector:<series>`, whose crash loop is escalated naming the series. Rebuilding the
//! whole exchange for one series' bug would throw away the learned windows of every other
//! series of it. A panic elsewhere in the actor (not while judging a series) is caught by the
//! usual guard and restarts the actor under its `Supervisor`: every series is rebuilt the same
//! way, counted once against `detector:<exchange>`.
//!
//! **Learned baselines persist**: each closed bucket's rollup goes to the event store, in a
//! batch a second shared by every series ([`SaveRollups`](crate::store::SaveRollups), see
//! [`DetectorShared`]), and when a series starts (first measurement,
//! or after a restart) its persisted rollups are loaded ([`LoadRollups`]) before it judges
//! anything: its measurements are held back (at most [`HELD_MAX`](crate::detect::tracked::HELD_MAX)) until the answer comes
//! (or [`WARM_START_WAIT`] passes) and are then judged in order, after the history they
//! follow. The other series of the exchange go on meanwhile. A [`Ping`] answers once no series
//! is loading, so a drain still means "everything sent so far has been judged".
//!
//! **Reload.** [`ResetSeries`] drops the series of the metrics whose settings changed (they
//! start afresh with the new settings, warm-started from the store), [`ForgetSeries`] those a
//! reload removed; the other series keep their state ([`SeriesState::generation`] tells).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use actix::Supervised;
use actix::clock::Instant;
use actix::{Actor, AsyncContext, Context, Handler, MailboxError, Message, ResponseFuture};
use tokio::sync::oneshot;

use crate::detect::baseline::bucket_ms;
use crate::detect::batch::Measurements;
use crate::detect::series_map::SeriesMap;
use crate::detect::shared::{DetectorShared, SeriesLimit};
use crate::detect::tracked::{Pending, SeriesState, TrackedSeries};
use crate::messages::{Crash, Measurement, Metric, Name, Ping, Removed, SeriesKey};
use crate::store::{LoadRollups, RollupRecord};
use crate::supervision::{RestartTracker, guard, panic_text};

/// The longest a starting series waits for its persisted baseline before it starts cold.
pub const WARM_START_WAIT: Duration = Duration::from_secs(5);

/// Fault injection: a panic while judging `0` (tracked from now if it was not).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct CrashSeries(pub SeriesKey);

/// Asks the state of a series; `None` when it is not tracked.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<SeriesState>")]
pub struct SeriesInfo(pub SeriesKey);

/// A reload changed the settings: series of `metrics` start afresh; series tracked from now
/// on judge with `shared`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ResetSeries {
    /// The metrics whose settings changed.
    pub metrics: Vec<Metric>,
    /// What series judge with from now on.
    pub shared: Arc<DetectorShared>,
}

/// A reload removed endpoints or exchanges: their series are forgotten.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForgetSeries {
    /// What the reload removed.
    pub removed: Vec<Removed>,
    /// Held until the series are dropped: whatever runs when the last holder lets go comes
    /// after every anomaly those series sent.
    pub done: Arc<AfterForget>,
}

/// An action that runs once the last of its holders is dropped: the Router is told to forget
/// removed series only after every detector told has dropped them (or its message was dropped
/// with a stopped actor), so an anomaly a removed series sent on its way out reaches the
/// Router before the forget that resolves its incident, never after it.
pub struct AfterForget(Option<Box<dyn FnOnce() + Send + Sync>>);

impl AfterForget {
    /// `action` runs when the returned handle's last clone is dropped.
    pub fn new(action: impl FnOnce() + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self(Some(Box::new(action))))
    }

    /// Nothing runs.
    pub fn nothing() -> Arc<Self> {
        Arc::new(Self(None))
    }
}

impl Drop for AfterForget {
    fn drop(&mut self) {
        if let Some(action) = self.0.take() {
            action();
        }
    }
}

impl std::fmt::Debug for AfterForget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterForget")
    }
}

/// A series' persisted rollups (or the failure to load them), for the load numbered `epoch`.
#[derive(Message)]
#[rtype(result = "()")]
struct Loaded {
    series: SeriesKey,
    epoch: u64,
    answer: Result<Vec<(i64, RollupRecord)>, MailboxError>,
}

/// Detection for every series of one exchange. See the module docs.
pub struct DetectorActor {
    exchange: Name,
    shared: Arc<DetectorShared>,
    limit: Arc<SeriesLimit>,
    /// Looked up for every measurement ([`SeriesMap`]: a short list, a hash map past eight).
    /// Boxed: a hash table keeps an eighth to a half of its slots empty, and an empty slot of
    /// a boxed state costs a pointer, not a whole state (≈ 0.4 KB less per one-endpoint
    /// exchange, measured).
    series: SeriesMap,
    /// What it seldom needs, boxed at first use (see [`Cold`]).
    cold: Option<Box<Cold>>,
}

/// What a detector seldom needs: the actor lives inline in its task's allocation (with its
/// context, ≈ 0.45 KB), and these 40 B inline made that allocation the next size up
/// (640 → 512 B per exchange, with the series map's 16 B less).
#[derive(Default)]
struct Cold {
    /// Pings waiting for the loads in progress.
    waiting: Vec<oneshot::Sender<()>>,
    /// The actor's own restarts (a panic outside a series), built at the first.
    restarts: Option<Box<RestartTracker>>,
    /// It has said once that the set is full (it then only logs at debug level).
    warned_full: bool,
}

impl DetectorActor {
    /// The detector of `exchange`'s series, sharing `shared` with the other detectors of its
    /// set and counting its series against `limit`.
    pub fn new(exchange: Name, shared: Arc<DetectorShared>, limit: Arc<SeriesLimit>) -> Self {
        // Registered with the first detector, as a per-actor tracker would.
        shared.register_restarts();
        Self {
            exchange,
            shared,
            limit,
            series: SeriesMap::default(),
            cold: None,
        }
    }

    /// The exchange whose series it judges.
    pub fn exchange(&self) -> &Name {
        &self.exchange
    }

    /// How many series it tracks.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when it tracks no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Judges `m`, tracking its series from now on if it is new (and within the limit).
    pub fn feed(&mut self, m: Measurement, ctx: &mut Context<Self>) {
        if let Some(s) = self.series.get_mut(&m.series) {
            if s.held.is_some() {
                let series = m.series.clone();
                s.hold(&series, Pending::Judge(m));
                return;
            }
            let shared = &self.shared;
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| s.judge(&m, shared))) {
                self.after_panic(&m.series, panic_text(&*payload), ctx);
            }
            return;
        }
        if self.track(&m.series, ctx) {
            self.feed(m, ctx);
        }
    }

    /// Injects a panic while judging `series`, in its turn: after what it holds back.
    fn crash(&mut self, series: &SeriesKey, ctx: &mut Context<Self>) {
        let Some(s) = self.series.get_mut(series) else {
            return;
        };
        if s.held.is_some() {
            s.hold(series, Pending::Crash);
            return;
        }
        let Err(payload) = catch_unwind(|| panic!("fault injected by a Crash message"));
        self.after_panic(series, panic_text(&*payload), ctx);
    }

    /// Starts tracking `series`; false past the set's limit.
    fn track(&mut self, series: &SeriesKey, ctx: &mut Context<Self>) -> bool {
        if !self.limit.admit() {
            // Once per detector: at the limit every measurement of an untracked series lands
            // here, and a warning each would flood the log.
            let cold = self.cold.get_or_insert_default();
            if !cold.warned_full {
                cold.warned_full = true;
                tracing::warn!(series = %series, "Too many series; measurements of new series are dropped.");
            } else {
                tracing::debug!(series = %series, "Too many series; measurement dropped.");
            }
            return false;
        }
        let state = TrackedSeries::new(series, &self.shared, self.limit.next_generation());
        self.series.insert(series.clone(), Box::new(state));
        self.warm_start(series, ctx);
        true
    }

    /// A panic while judging `series`: that series restarts (see the module docs).
    fn after_panic(&mut self, series: &SeriesKey, panic: &str, ctx: &mut Context<Self>) {
        tracing::error!(actor = "detector", series = %series, panic, "Detector panicked while judging a series; the series restarts.");
        if let Some(s) = self.series.get_mut(series) {
            s.restart(series, &self.shared);
            self.warm_start(series, ctx);
        }
    }

    /// Loads `series`' persisted rollups, holding its measurements back until they are in
    /// (see the module docs). Nothing to do for a series without a learned baseline.
    fn warm_start(&mut self, series: &SeriesKey, ctx: &mut Context<Self>) {
        let Some(store) = &self.shared.store else {
            return;
        };
        let Some(s) = self.series.get_mut(series) else {
            return;
        };
        if !s.detector.has_baseline() {
            return;
        }
        let epoch = self.limit.next_generation();
        s.await_load(epoch);
        // The buckets closed in the last second are still queued: in the store first.
        self.shared.flush_rollups();
        let load = store
            .load
            .send(LoadRollups {
                series: series.clone(),
                width_ms: bucket_ms(&self.shared.settings.baseline),
                keep_ms: self.shared.settings.baseline.history.as_millis() as i64,
            })
            .timeout(WARM_START_WAIT);
        let series = series.clone();
        // Its own task, not a context item: a context polls all its items on every wake-up.
        let me = ctx.address();
        actix_rt::spawn(async move {
            let answer = load.await;
            me.do_send(Loaded {
                series,
                epoch,
                answer,
            });
        });
    }

    /// Answers the pings waiting, once no series is loading, the rollups queued sent first.
    fn wake_pings(&mut self) {
        let Some(cold) = self.cold.as_mut() else {
            return;
        };
        if cold.waiting.is_empty() || self.series.values().any(|s| s.held.is_some()) {
            return;
        }
        // What was judged is in the store before the pings answer (a drain pings the store
        // next), its queued rollups included.
        self.shared.flush_rollups();
        for ping in cold.waiting.drain(..) {
            let _ = ping.send(());
        }
    }

    /// Drops the series `drop` selects, counting them out of the limit.
    fn drop_series(&mut self, drop: impl Fn(&SeriesKey) -> bool) {
        let before = self.series.len();
        self.series.retain(|series| !drop(series));
        self.limit.release(before - self.series.len());
        self.wake_pings();
    }
}

impl Drop for DetectorActor {
    fn drop(&mut self) {
        self.limit.release(self.series.len());
    }
}

impl Actor for DetectorActor {
    type Context = Context<Self>;

    /// Sends the rollups queued, which a monitor shutting down would otherwise lose.
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.shared.flush_rollups();
    }
}

impl Supervised for DetectorActor {
    /// A panic outside any series: every series is rebuilt as after its own panic (their
    /// firing flags survive), counted once against `detector:<exchange>`.
    fn restarting(&mut self, ctx: &mut Context<Self>) {
        let (shared, exchange) = (&self.shared, &self.exchange);
        let tracker = (self.cold.get_or_insert_default().restarts)
            .get_or_insert_with(|| shared.restart_tracker(format!("detector:{exchange}")));
        tracker.record(Instant::now());
        let keys = self.series.keys();
        for series in &keys {
            if let Some(s) = self.series.get_mut(series) {
                s.detector = s.detector.rebuilt(series.metric, &self.shared.settings);
            }
            self.warm_start(series, ctx);
        }
    }
}

impl Handler<Measurement> for DetectorActor {
    type Result = ();

    fn handle(&mut self, m: Measurement, ctx: &mut Context<Self>) {
        guard(self, ctx, "detector", |act, ctx| act.feed(m, ctx));
    }
}

impl Handler<Measurements> for DetectorActor {
    type Result = ();

    fn handle(&mut self, batch: Measurements, ctx: &mut Context<Self>) {
        guard(self, ctx, "detector", |act, ctx| {
            for m in batch {
                act.feed(m, ctx);
            }
        });
    }
}

impl Handler<Loaded> for DetectorActor {
    type Result = ();

    fn handle(&mut self, msg: Loaded, ctx: &mut Context<Self>) {
        guard(self, ctx, "detector", |act, ctx| {
            let Some(s) = act.series.get_mut(&msg.series) else {
                return;
            };
            if s.held.as_ref().map(|h| h.epoch) != Some(msg.epoch) {
                return; // A load superseded by a restart's.
            }
            match msg.answer {
                Ok(rollups) if !rollups.is_empty() => {
                    s.restore(bucket_ms(&act.shared.settings.baseline), &rollups);
                    tracing::info!(series = %msg.series, buckets = rollups.len(), "Learned baseline warm-started from the event store.");
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(series = %msg.series, error = %e, "Learned baseline not loaded; starting cold.");
                }
            }
            let held = s.held.take().map(|h| h.queue).unwrap_or_default();
            for next in held {
                match next {
                    Pending::Judge(m) => act.feed(m, ctx),
                    Pending::Crash => act.crash(&msg.series, ctx),
                }
            }
            act.wake_pings();
        });
    }
}

impl Handler<CrashSeries> for DetectorActor {
    type Result = ();

    fn handle(&mut self, CrashSeries(series): CrashSeries, ctx: &mut Context<Self>) {
        if !self.series.contains_key(&series) && !self.track(&series, ctx) {
            return;
        }
        self.crash(&series, ctx);
    }
}

impl Handler<Crash> for DetectorActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        guard(self, ctx, "detector", |_, _| {
            panic!("fault injected by a Crash message")
        });
    }
}

impl Handler<SeriesInfo> for DetectorActor {
    type Result = Option<SeriesState>;

    fn handle(&mut self, SeriesInfo(series): SeriesInfo, _: &mut Context<Self>) -> Self::Result {
        self.series.get(&series).map(|s| s.state())
    }
}

impl Handler<ResetSeries> for DetectorActor {
    type Result = ();

    fn handle(&mut self, msg: ResetSeries, _: &mut Context<Self>) {
        self.shared.flush_rollups();
        self.shared = msg.shared;
        self.drop_series(|series| msg.metrics.contains(&series.metric));
    }
}

impl Handler<ForgetSeries> for DetectorActor {
    type Result = ();

    fn handle(&mut self, forget: ForgetSeries, _: &mut Context<Self>) {
        self.drop_series(|series| Removed::any_covers(&forget.removed, series));
        // `forget.done` drops here, after the series' last anomaly went out.
    }
}

impl Handler<Ping> for DetectorActor {
    type Result = ResponseFuture<()>;

    /// Answers once every measurement sent before it has been judged, those held back by a
    /// loading baseline included.
    fn handle(&mut self, _: Ping, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.cold.get_or_insert_default().waiting.push(tx);
        self.wake_pings();
        Box::pin(async move {
            let _ = rx.await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SupervisionSettings;
    use crate::detect::config::DetectSettings;
    use crate::detect::shared::{DetectorOutputs, ROLLUP_BATCH};
    use crate::messages::{Anomaly, Resolved, Timestamp};
    use crate::metrics::Metrics;
    use crate::store::{BaselineLink, SaveRollup, SaveRollups};

    /// Takes the anomalies and recoveries and drops them.
    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Anomaly> for Sink {
        type Result = ();
        fn handle(&mut self, _: Anomaly, _: &mut Context<Self>) {}
    }
    impl Handler<Resolved> for Sink {
        type Result = ();
        fn handle(&mut self, _: Resolved, _: &mut Context<Self>) {}
    }

    /// A store that answers the rollups of endpoint `slow` after `SLOW`, the others at once.
    struct SlowStore;
    const SLOW: Duration = Duration::from_millis(1200);
    impl Actor for SlowStore {
        type Context = Context<Self>;
    }
    impl Handler<SaveRollup> for SlowStore {
        type Result = ();
        fn handle(&mut self, _: SaveRollup, _: &mut Context<Self>) {}
    }

    impl Handler<SaveRollups> for SlowStore {
        type Result = ();
        fn handle(&mut self, _: SaveRollups, _: &mut Context<Self>) {}
    }
    impl Handler<LoadRollups> for SlowStore {
        type Result = ResponseFuture<Vec<(i64, RollupRecord)>>;
        fn handle(&mut self, m: LoadRollups, _: &mut Context<Self>) -> Self::Result {
            let slow = &*m.series.endpoint == "slow";
            Box::pin(async move {
                if slow {
                    actix_rt::time::sleep(SLOW).await;
                }
                Vec::new()
            })
        }
    }

    /// A store that counts the rollups of each batch it is sent (and answers loads at once).
    #[derive(Default)]
    struct CountingStore {
        batches: Arc<parking_lot::Mutex<Vec<usize>>>,
    }
    impl Actor for CountingStore {
        type Context = Context<Self>;
    }
    impl Handler<SaveRollup> for CountingStore {
        type Result = ();
        fn handle(&mut self, _: SaveRollup, _: &mut Context<Self>) {
            self.batches.lock().push(1);
        }
    }
    impl Handler<SaveRollups> for CountingStore {
        type Result = ();
        fn handle(&mut self, m: SaveRollups, _: &mut Context<Self>) {
            self.batches.lock().push(m.rows.len());
        }
    }
    impl Handler<LoadRollups> for CountingStore {
        type Result = Vec<(i64, RollupRecord)>;
        fn handle(&mut self, _: LoadRollups, _: &mut Context<Self>) -> Self::Result {
            Vec::new()
        }
    }

    #[actix::test]
    async fn the_buckets_closed_together_go_to_the_store_as_one_batch() {
        let counting = CountingStore::default();
        let batches = counting.batches.clone();
        let store = counting.start();
        let shared = shared_with(&store);
        let shard = DetectorActor::new(Name::from("x"), shared, SeriesLimit::new(10)).start();
        // Four series, a minute of probes each and the first of the next: four buckets close.
        for i in 0..=60 {
            for e in ["a", "b", "c", "d"] {
                shard.do_send(latency(e, i));
            }
        }
        actix_rt::time::sleep(ROLLUP_BATCH + Duration::from_millis(300)).await;
        assert_eq!(
            *batches.lock(),
            [4],
            "one batch, sent a second after the first"
        );
        // The next minute's, sent as a drain's ping answers.
        for i in 61..=120 {
            for e in ["a", "b", "c", "d"] {
                shard.do_send(latency(e, i));
            }
        }
        shard.send(Ping).await.expect("ping");
        assert_eq!(*batches.lock(), [4, 4]);
    }

    #[actix::test]
    async fn a_reloads_new_shared_state_sends_the_rollups_the_old_one_queued() {
        let counting = CountingStore::default();
        let batches = counting.batches.clone();
        let store = counting.start();
        let shared = || shared_with(&store);
        let old = shared();
        for i in 0..3 {
            old.save_rollup(SaveRollup {
                series: SeriesKey::new("x", "a", Metric::LatencyMs),
                start_ms: 1_800_000_000_000 + i * 60_000,
                width_ms: 60_000,
                rollup: RollupRecord::P90(50.0),
                keep_ms: 6 * 3_600_000,
            });
        }
        let mut new = shared();
        Arc::get_mut(&mut new)
            .expect("unique")
            .share_rollups_with(&old);
        drop(old);
        new.flush_rollups();
        store
            .send(LoadRollups {
                series: SeriesKey::new("x", "a", Metric::LatencyMs),
                width_ms: 60_000,
                keep_ms: 0,
            })
            .await
            .expect("load");
        assert_eq!(*batches.lock(), [3], "sent at once, ahead of the load");
    }

    /// The shared state of detectors whose outputs go nowhere and whose store is `store`.
    fn shared_with<S>(store: &actix::Addr<S>) -> Arc<DetectorShared>
    where
        S: Actor<Context = Context<S>>
            + Handler<SaveRollup>
            + Handler<SaveRollups>
            + Handler<LoadRollups>,
    {
        let sink = Sink.start();
        DetectorShared::new(
            Arc::new(DetectSettings::default()),
            SupervisionSettings::default(),
            DetectorOutputs {
                anomalies: sink.clone().recipient(),
                resolved: sink.recipient(),
            },
            Arc::new(Metrics::new()),
            Some(BaselineLink {
                save: store.clone().recipient(),
                save_batch: store.clone().recipient(),
                load: store.clone().recipient(),
            }),
        )
    }

    fn latency(endpoint: &str, i: i64) -> Measurement {
        Measurement::ok(
            SeriesKey::new("x", endpoint, Metric::LatencyMs),
            50.0,
            Timestamp(1_800_000_000_000 + i * 1000),
        )
    }

    #[actix::test]
    async fn a_series_whose_baseline_loads_holds_back_only_its_own_measurements() {
        let store = SlowStore.start();
        let shared = shared_with(&store);
        let limit = SeriesLimit::new(10);
        let shard = DetectorActor::new(Name::from("x"), shared, limit.clone()).start();
        for i in 0..5 {
            shard.do_send(latency("slow", i));
            shard.do_send(latency("fast", i));
        }
        actix_rt::time::sleep(SLOW / 4).await;
        let info = |e: &str| shard.send(SeriesInfo(SeriesKey::new("x", e, Metric::LatencyMs)));
        let fast = info("fast").await.unwrap().expect("tracked");
        let slow = info("slow").await.unwrap().expect("tracked");
        assert_eq!((fast.judged, fast.loading), (5, false), "{fast:?}");
        assert_eq!((slow.judged, slow.loading), (0, true), "{slow:?}");
        assert_eq!(limit.count(), 2);

        // A ping answers once the slow series has judged what it held, in order.
        shard.send(Ping).await.unwrap();
        let slow = info("slow").await.unwrap().expect("tracked");
        assert_eq!((slow.judged, slow.loading), (5, false), "{slow:?}");

        // Forgotten series leave the count.
        shard
            .send(ForgetSeries {
                removed: vec![Removed::Endpoint {
                    exchange: Name::from("x"),
                    endpoint: Name::from("slow"),
                }],
                done: AfterForget::nothing(),
            })
            .await
            .unwrap();
        assert_eq!(info("slow").await.unwrap(), None);
        assert_eq!(limit.count(), 1);
    }
}
