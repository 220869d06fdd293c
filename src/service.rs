//! The topology: the one place that knows the whole graph and wires it.
//!
//! [`Monitor::start`] (or [`MonitorBuilder`]) opens the event store at `[store] path` and
//! starts its [`StoreActor`] on a thread of its own, then, inside the current actix `System`:
//! channels first (on a `channels` arbiter, so a slow platform never delays detection), then
//! the Router and the detectors (on a `pipeline` arbiter), then one ProbeActor per exchange
//! (spread over `[monitor] probe_threads` probe arbiters, the first slots of all endpoints
//! spread over their interval) — each stage given the recipients of the next. Every actor runs
//! under `actix::Supervisor` with panic guards (see [`crate::supervision`]). The returned
//! [`MonitorHandle`] injects measurements, subscribes anomaly recipients, and stops the whole
//! thing gracefully.

use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Arbiter, ArbiterHandle, Recipient, Supervisor};

use crate::channel::registry::{Launch, StartContext};
use crate::channel::{Channel, ChannelActor, Flush};
use crate::config::{RetrySettings, Settings, SupervisionSettings};
use crate::detect::{DetectorActor, DetectorOutputs, DetectorSet};
use crate::error::Error;
use crate::messages::{
    Alert, Anomaly, Crash, Measurement, Name, Ping, Resolved, SeriesKey, Severity, Triage,
};
use crate::metrics::Metrics;
use crate::probe::schedule::Spread;
use crate::probe::{ProbeActor, StopProbing};
use crate::route::{AddRoute, Route, RouterActor, Subscribe, SubscribeResolved};
use crate::server::{self, AppState, RunningServer};
use crate::status::StatusBoard;
use crate::store::{BaselineLink, Close, Store, StoreActor, StoreClosed, StoreLink, StoreLock};

/// The addresses of one running channel.
#[derive(Clone)]
pub struct ChannelHandle {
    /// The channel's name.
    pub name: Name,
    /// Waits for its queue to drain.
    pub flush: Recipient<Flush>,
    /// Fault injection.
    pub crash: Recipient<Crash>,
}

type ChannelFactory = Box<dyn FnOnce(&ChannelEnv) -> (Recipient<Alert>, ChannelHandle) + Send>;

/// What every channel actor is started with: its arbiter, the metrics, the restart budget,
/// where crash loops are escalated, and the store it reports deliveries to.
struct ChannelEnv {
    arbiter: ArbiterHandle,
    metrics: Arc<Metrics>,
    supervision: SupervisionSettings,
    escalate: Recipient<Anomaly>,
    store: StoreLink,
}

struct ExtraChannel {
    name: Name,
    min_severity: Severity,
    start: ChannelFactory,
}

/// Starts a monitor with extra channels or subscribers beyond what the settings describe.
pub struct MonitorBuilder {
    settings: Settings,
    extra: Vec<ExtraChannel>,
    recipients: Vec<(Name, Severity, Recipient<Alert>)>,
    subscribers: Vec<Recipient<Anomaly>>,
    resolved_subscribers: Vec<Recipient<Resolved>>,
}

/// Entry point of the library.
pub struct Monitor;

impl Monitor {
    /// Starts the topology of `settings` inside the running actix System. Fails when the
    /// event store cannot be opened.
    pub fn start(settings: Settings) -> Result<MonitorHandle, Error> {
        MonitorBuilder::new(settings).start()
    }

    /// A builder, for embedding: extra channels, alert recipients, anomaly subscribers.
    pub fn builder(settings: Settings) -> MonitorBuilder {
        MonitorBuilder::new(settings)
    }
}

impl Launch for ChannelEnv {
    type Output = (Recipient<Alert>, ChannelHandle);

    fn launch<C: Channel>(
        &self,
        name: Name,
        retry: RetrySettings,
        make: impl FnOnce() -> C + Send + 'static,
    ) -> Self::Output {
        self.start(name, retry, make)
    }
}

impl ChannelEnv {
    /// Starts the supervised actor of one channel; `make` builds the channel on the channel
    /// arbiter (where its `!Send` HTTP client must be created).
    fn start<C: Channel>(
        &self,
        name: Name,
        retry: RetrySettings,
        make: impl FnOnce() -> C + Send + 'static,
    ) -> (Recipient<Alert>, ChannelHandle) {
        let (m, s, n) = (self.metrics.clone(), self.supervision.clone(), name.clone());
        let (escalate, store) = (self.escalate.clone(), self.store.clone());
        let addr = Supervisor::start_in_arbiter(&self.arbiter, move |_| {
            ChannelActor::new(n, make(), retry, &s, &m, Some(escalate)).with_store(Some(store))
        });
        (
            addr.clone().recipient(),
            ChannelHandle {
                name,
                flush: addr.clone().recipient(),
                crash: addr.recipient(),
            },
        )
    }
}

impl MonitorBuilder {
    /// A builder for `settings`.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            extra: Vec::new(),
            recipients: Vec::new(),
            subscribers: Vec::new(),
            resolved_subscribers: Vec::new(),
        }
    }

    /// Adds a channel implemented outside exwatch. `make` runs on the channel arbiter.
    pub fn channel<C: Channel>(
        mut self,
        name: &str,
        min_severity: Severity,
        retry: RetrySettings,
        make: impl FnOnce() -> C + Send + 'static,
    ) -> Self {
        let n = Name::from(name);
        self.extra.push(ExtraChannel {
            name: n.clone(),
            min_severity,
            start: Box::new(move |env| env.start(n, retry, make)),
        });
        self
    }

    /// Sends every alert at or above `min_severity` to `recipient` as well (an engine's own
    /// actor, or a test's collector). No retries: the recipient is in-process.
    pub fn alert_recipient(
        mut self,
        name: &str,
        min_severity: Severity,
        recipient: Recipient<Alert>,
    ) -> Self {
        self.recipients
            .push((Name::from(name), min_severity, recipient));
        self
    }

    /// Sends every anomaly (before deduplication) to `recipient`.
    pub fn subscribe(mut self, recipient: Recipient<Anomaly>) -> Self {
        self.subscribers.push(recipient);
        self
    }

    /// Sends every resolution (before deduplication and flap hold) to `recipient`: the other
    /// half of [`MonitorBuilder::subscribe`], for an engine that acts while a series is
    /// anomalous (an `availability` series resolves when the exchange's breaker closes).
    pub fn subscribe_resolved(mut self, recipient: Recipient<Resolved>) -> Self {
        self.resolved_subscribers.push(recipient);
        self
    }

    /// Starts everything inside the running actix System. It opens the event store (and runs
    /// its migrations) on the calling thread before anything runs: call it at start-up, not
    /// from a latency-sensitive event loop. Fails when the event store cannot
    /// be opened or migrated.
    pub fn start(self) -> Result<MonitorHandle, Error> {
        let Settings {
            monitor,
            store,
            breaker,
            exchanges,
            detect,
            router,
            channels,
            supervision,
            shutdown,
            rules,
            http,
            ..
        } = self.settings;
        let metrics = Arc::new(Metrics::new());
        // One running monitor per store file: claimed before the file is even opened.
        let lock = StoreLock::acquire(&store.path)?;
        let db = Store::open(&store.path)?;
        // Silences persist: those not over yet are in force again from the start.
        let silences = db.open_silences(crate::messages::Timestamp::now())?;
        let (store, store_closed) = StoreActor::start_locked(db, lock, &supervision, &metrics)?;
        let link = StoreLink::new(&store);
        let channel_arbiter = Arbiter::new();
        let pipeline_arbiter = Arbiter::new();
        // Probes are spread over `probe_threads` arbiters, each exchange to the least loaded
        // (by endpoint count) so far.
        let probe_arbiters: Vec<Arbiter> = (0..monitor.probe_threads.max(1))
            .map(|_| Arbiter::new())
            .collect();
        let mut probe_load = vec![0usize; probe_arbiters.len()];
        let total_endpoints: usize = exchanges.iter().map(|x| x.endpoints.len()).sum();
        let exchange_count = exchanges.len();

        let router_addr = {
            let (m, s, region, window) = (
                metrics.clone(),
                supervision.clone(),
                monitor.region.clone(),
                router.dedup_window,
            );
            let store = store.clone();
            let exchange_count = exchanges.len();
            let flap_hold = router.flap_hold;
            Supervisor::start_in_arbiter(&pipeline_arbiter.handle(), move |_| {
                RouterActor::new(region, window, &s, m)
                    .with_store(store)
                    .with_exchanges(exchange_count)
                    .with_flap_hold(flap_hold)
                    .with_silences(silences)
            })
        };
        let escalate: Recipient<Anomaly> = router_addr.clone().recipient();

        let mut channel_handles = Vec::new();
        let add_route = |name: Name,
                         min_severity: Severity,
                         wants_triage: bool,
                         durable: bool,
                         recipient: Recipient<Alert>| {
            router_addr.do_send(AddRoute(Route {
                name,
                min_severity,
                wants_triage,
                durable,
                recipient,
            }));
        };
        // The triage channel answers to the Router and never triages its own follow-ups.
        let triage_router: Recipient<Triage> = router_addr.clone().recipient();
        let env = ChannelEnv {
            arbiter: channel_arbiter.handle(),
            metrics: metrics.clone(),
            supervision: supervision.clone(),
            escalate: escalate.clone(),
            store: link.clone(),
        };
        for ch in channels {
            // The triage channel neither receives triage follow-ups nor is durable: a model
            // asked about yesterday's alert after a restart costs budget and says nothing
            // useful (and its answer would have no alert to follow up).
            let human = ch.kind.info().human;
            let (recipient, handle) = ch.kind.start(&StartContext {
                name: &ch.name,
                retry: ch.retry,
                triage: &triage_router,
                launcher: &env,
            });
            add_route(ch.name, ch.min_severity, human, human, recipient);
            channel_handles.push(handle);
        }
        for extra in self.extra {
            let (recipient, handle) = (extra.start)(&env);
            add_route(extra.name, extra.min_severity, true, true, recipient);
            channel_handles.push(handle);
        }
        for (name, min_severity, recipient) in self.recipients {
            add_route(name, min_severity, true, false, recipient);
        }
        for s in self.subscribers {
            router_addr.do_send(Subscribe(s));
        }
        for s in self.resolved_subscribers {
            router_addr.do_send(SubscribeResolved(s));
        }

        let mut detect = detect;
        detect.clock.windows = crate::detect::clock::windows_of(&exchanges);
        let detectors = DetectorSet::new(
            pipeline_arbiter.handle(),
            detect,
            supervision.clone(),
            DetectorOutputs {
                anomalies: router_addr.clone().recipient(),
                resolved: router_addr.clone().recipient(),
            },
            metrics.clone(),
        );
        detectors.persist_baselines(BaselineLink::new(&store));
        // Three series at most per configured endpoint (errors, latency, a clock or a price),
        // and room for what an embedding engine reports on its own.
        detectors.limit_series(3 * total_endpoints + SPARE_SERIES);
        detectors.start_prices(&exchanges);
        let status_board = Arc::new(StatusBoard::new(monitor.region.clone(), &exchanges));
        detectors.attach_status(status_board.clone());
        detectors.start_rules(&rules, &monitor.region);

        let probes = exchanges
            .into_iter()
            .enumerate()
            .map(|(x, ex)| {
                let count = ex.endpoints.len();
                let shard = (0..probe_load.len())
                    .min_by_key(|&k| probe_load[k])
                    .unwrap_or(0);
                probe_load[shard] += count;
                let spread = Spread {
                    exchange: x,
                    exchanges: exchange_count,
                    total: total_endpoints,
                };
                let (d, m, b, s, e) = (
                    detectors.clone(),
                    metrics.clone(),
                    breaker.clone(),
                    supervision.clone(),
                    escalate.clone(),
                );
                let status = router_addr.clone().recipient();
                Supervisor::start_in_arbiter(&probe_arbiters[shard].handle(), move |_| {
                    ProbeActor::new(ex, &b, &s, d, &m, Some(e))
                        .with_maintenance(status)
                        .with_phase(spread)
                })
            })
            .collect();

        let server = if http.enabled {
            let state = AppState {
                store: store.clone(),
                router: router_addr.clone(),
                metrics: metrics.clone(),
                token: http.token.clone(),
                status: status_board.clone(),
            };
            Some(server::start(&http, state)?)
        } else {
            None
        };

        tracing::info!(region = %monitor.region, "exwatch started.");
        Ok(MonitorHandle {
            server,
            detectors,
            router: router_addr,
            store,
            probes,
            channels: channel_handles,
            arbiters: probe_arbiters
                .into_iter()
                .chain([pipeline_arbiter, channel_arbiter])
                .collect(),
            metrics,
            grace: shutdown.grace,
            store_closed,
        })
    }
}

/// A running monitor.
pub struct MonitorHandle {
    server: Option<RunningServer>,
    detectors: DetectorSet,
    router: Addr<RouterActor>,
    store: Addr<StoreActor>,
    probes: Vec<Addr<ProbeActor>>,
    channels: Vec<ChannelHandle>,
    arbiters: Vec<Arbiter>,
    metrics: Arc<Metrics>,
    grace: Duration,
    store_closed: StoreClosed,
}

impl MonitorHandle {
    /// Feeds a measurement into its series' detector (started on first use). This is how an
    /// embedding trading engine reports what it sees (order round trips, fills, its own
    /// latency), and how tests drive the pipeline.
    pub fn inject(&self, m: Measurement) {
        self.detectors.send(m);
    }

    /// Sends every anomaly (before deduplication) to `recipient` from now on.
    pub fn subscribe(&self, recipient: Recipient<Anomaly>) {
        self.router.do_send(Subscribe(recipient));
    }

    /// Sends every resolution (before deduplication and flap hold) to `recipient` from now on.
    pub fn subscribe_resolved(&self, recipient: Recipient<Resolved>) {
        self.router.do_send(SubscribeResolved(recipient));
    }

    /// The monitor's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The Router (for fault injection and advanced embedding).
    pub fn router(&self) -> &Addr<RouterActor> {
        &self.router
    }

    /// The event store (queries: `RecentAlerts`, `DeliveryCounts`; `Ping` as a barrier).
    pub fn store(&self) -> &Addr<StoreActor> {
        &self.store
    }

    /// The detector of `series`, started on first use.
    pub fn detector(&self, series: &SeriesKey) -> Option<Addr<DetectorActor>> {
        self.detectors.get(series)
    }

    /// The HTTP server's bound address (the real port when `[http] listen` asked for port
    /// 0); `None` when `[http] enabled = false`.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(RunningServer::addr)
    }

    /// The probes, one per exchange.
    pub fn probes(&self) -> &[Addr<ProbeActor>] {
        &self.probes
    }

    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<&ChannelHandle> {
        self.channels.iter().find(|c| &*c.name == name)
    }

    /// Waits until every measurement injected so far has been judged and every resulting
    /// alert has been stored and has reached the channels' queues. Bounded by [`DRAIN_WAIT`]:
    /// an actor whose thread is stuck is logged, not waited for forever.
    pub async fn drain(&self) {
        self.drained().await;
    }

    /// [`MonitorHandle::drain`], telling whether the pipeline answered in time.
    async fn drained(&self) -> bool {
        let all = async {
            for d in self.detectors.all() {
                let _ = d.send(Ping).await;
            }
            for p in self.detectors.price_actors() {
                let _ = p.send(Ping).await;
            }
            if let Some(r) = self.detectors.rule_actor() {
                let _ = r.send(Ping).await;
            }
            let _ = self.router.send(Ping).await;
            let _ = self.store.send(Ping).await;
        };
        let answered = tokio::time::timeout(DRAIN_WAIT, all).await.is_ok();
        if !answered {
            tracing::warn!("The pipeline did not drain within {DRAIN_WAIT:?}; going on.");
        }
        answered
    }

    /// Stops gracefully: probes stop, the pipeline drains, channels deliver what they hold
    /// (bounded by `[shutdown] grace`), then the monitor's arbiters stop. Returns true when
    /// every queued alert was delivered.
    pub async fn stop(mut self) -> bool {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        for p in &self.probes {
            let _ = p.send(StopProbing).await;
        }
        // Anomalies still queued in a stuck pipeline never became alerts: not "all delivered".
        let drained = self.drained().await;
        let flushes = self.channels.iter().map(|c| {
            c.flush.send(Flush {
                deadline: self.grace,
            })
        });
        // Each channel gives up by `grace`; the bound covers a channel whose thread is stuck.
        let flushed = tokio::time::timeout(
            self.grace + FLUSH_SLACK,
            futures_util::future::join_all(flushes),
        )
        .await
        .map(|replies| replies.into_iter().all(|r| r.unwrap_or(false)))
        .unwrap_or(false);
        let all_done = drained && flushed;
        // Every delivery report the channels sent is written before anything stops; then the
        // file is closed and its lock released, whatever addresses of the store live on.
        let store_done = async {
            let _ = self.store.send(Ping).await;
            let _ = self.store.send(Close).await;
        };
        if tokio::time::timeout(STORE_CLOSE_WAIT, store_done)
            .await
            .is_err()
        {
            tracing::warn!("The event store did not answer within {STORE_CLOSE_WAIT:?}.");
        }
        let MonitorHandle {
            detectors,
            router,
            store,
            probes,
            channels,
            arbiters,
            store_closed,
            ..
        } = self;
        // Release order: the arbiters' threads end (every actor on them is dropped, and with
        // them their addresses of the store), then our own addresses go, and the store's
        // thread, seeing no address left, closes the database and releases its lock.
        for a in &arbiters {
            a.stop();
        }
        join_arbiters(arbiters).await;
        drop((detectors, router, store, probes, channels));
        if tokio::time::timeout(STORE_CLOSE_WAIT, store_closed)
            .await
            .is_err()
        {
            tracing::warn!("The event store did not close in time; an address of it leaked.");
        }
        tracing::info!(delivered_all = all_done, "exwatch stopped.");
        all_done
    }
}

/// How long [`MonitorHandle::stop`] waits for the store's thread to close the database: it
/// only has to finish the write in hand.
const STORE_CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Series a monitor's detectors take beyond three per configured endpoint: those an
/// embedding engine reports on its own.
const SPARE_SERIES: usize = 10_000;

/// How long past `[shutdown] grace` [`MonitorHandle::stop`] waits for the channels' flush
/// answers (each channel gives up by the grace itself).
const FLUSH_SLACK: Duration = Duration::from_secs(5);

/// The longest [`MonitorHandle::drain`] waits for the pipeline to answer.
pub const DRAIN_WAIT: Duration = Duration::from_secs(30);

/// Waits for the threads of stopped arbiters to end, without blocking the caller's event
/// loop: a plain thread joins them and reports back.
async fn join_arbiters(arbiters: Vec<Arbiter>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let joiner = std::thread::Builder::new()
        .name("exwatch-join".into())
        .spawn(move || {
            for a in arbiters {
                let _ = a.join();
            }
            let _ = tx.send(());
        });
    // Bounded: an actor that never yields (a bug) must not turn stop() into a hang.
    if joiner.is_ok() && tokio::time::timeout(ARBITER_JOIN_WAIT, rx).await.is_err() {
        tracing::warn!("An arbiter did not stop in time; stopping without waiting for it.");
    }
}

/// How long [`MonitorHandle::stop`] waits for its arbiters' threads to end.
const ARBITER_JOIN_WAIT: Duration = Duration::from_secs(10);
