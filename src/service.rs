//! The topology: the one place that knows the whole graph and wires it.
//!
//! [`Monitor::start`] (or [`MonitorBuilder`]) builds it in stages, each a short function that
//! returns a typed handle to the next: the event store (`StoreStage`, its own thread), the
//! Router (on the `pipeline` arbiter), the channels (`ChannelStage`, on a `channels` arbiter,
//! so a slow platform never delays detection), LLM triage (`TriageStage`, one actor per
//! `llm_triage` table, on the `channels` arbiter too: see [`crate::triage`]), the detectors and their taps
//! ([`DetectorSet`]: one detector per exchange, on its probe's arbiter so that a probe's
//! measurements stay within its thread; the taps and the detectors of exchanges only an
//! embedding engine reports on, on the `pipeline` arbiter), the probes (`ProbeStage`, one ProbeActor
//! per exchange spread over `[monitor] probe_threads` arbiters, the first slots of all
//! endpoints spread over their interval) and the HTTP server. Every actor runs under
//! `actix::Supervisor` with panic guards (see [`crate::supervision`]).
//!
//! The running stages form the `Topology`, which a live reload ([`crate::reload`]) changes
//! as a difference: it starts, stops and reconfigures actors, and keeps the rest as it runs.
//! The returned [`MonitorHandle`] injects measurements, subscribes anomaly recipients,
//! reloads, and stops the whole thing gracefully.

use std::sync::Arc;
use std::time::Duration;

use actix::{Addr, Arbiter, ArbiterHandle, Recipient, Supervisor};
use parking_lot::Mutex;

use crate::channel::registry::{MakeChannel, MakeContext};
use crate::channel::{
    Channel, ChannelActor, ChannelKind, ChannelSettings, Flush, ReplaceChannel, RetireChannel,
};
use crate::cluster::{ClusterStage, GateOutputs};
use crate::detect::{DetectorHandle, DetectorOutputs, DetectorSet};
use crate::error::{ConfigError, Error};
use crate::messages::{
    Alert, Anomaly, Crash, MaintenanceStatus, Measurement, Name, Ping, Resolved, SeriesKey,
    Severity, Timestamp, Triage,
};
use crate::metrics::Metrics;
use crate::probe::schedule::Spread;
use crate::probe::stream::engine::{self, EngineStreams};
use crate::probe::stream::{EngineStreamOptions, StreamObservation};
use crate::probe::{ProbeActor, Reconfigure as ProbeReconfigure, StopProbing};
use crate::reload::{Apply, ConfigSource, ReloadError, ReloadReport, Reloader};
use crate::route::{
    AddRoute, ForgetSeries, Reconfigure, RemoveRoute, Route, RouterActor, Subscribe,
    SubscribeResolved,
};
use crate::server::{self, AppState, RunningServer};
use crate::settings::{ExchangeSettings, RetrySettings, Settings, SupervisionSettings};
use crate::status::StatusBoard;
use crate::store::{
    BaselineLink, Close, FailPending, SilenceStore, SqliteStore, StoreActor, StoreClosed,
    StoreLink, StoreLock,
};
use crate::triage::{LlmTriageSpec, TriageActor};

/// What a removed channel's undelivered alerts are marked failed with.
pub const CHANNEL_REMOVED: &str = "channel removed";

/// The addresses of one running channel.
#[derive(Clone)]
pub struct ChannelHandle {
    /// The channel's name.
    pub name: Name,
    /// Its queue.
    pub alerts: Recipient<Alert>,
    /// Waits for its queue to drain.
    pub flush: Recipient<Flush>,
    /// Fault injection.
    pub crash: Recipient<Crash>,
    /// Marks its undelivered alerts failed and ends its deliveries (a reload removed it).
    pub retire: Recipient<RetireChannel>,
    /// Replaces its platform settings (a reload changed them); `None` for channels added
    /// in code ([`MonitorBuilder::channel`]), which a reload leaves alone.
    pub replace: Option<Recipient<ReplaceChannel>>,
}

/// The addresses of one running triage stage (a `llm_triage` table): not a channel, but the
/// same delivery engine runs its model calls (queue, retries with back-off, flush).
#[derive(Clone)]
pub struct TriageHandle {
    /// The table's name (the `channel` label of its metrics).
    pub name: Name,
    /// Where the Router hands it alerts to triage.
    pub alerts: Recipient<Alert>,
    /// Waits for its model calls in hand to finish.
    pub flush: Recipient<Flush>,
    /// Fault injection.
    pub crash: Recipient<Crash>,
    /// Replaces its model settings (a reload changed them).
    pub replace: Recipient<ReplaceChannel>,
    /// Ends its work (a reload removed it).
    pub retire: Recipient<RetireChannel>,
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
    source: Option<ConfigSource>,
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

impl ChannelEnv {
    /// Starts the supervised actor of one channel; `make` builds the channel on the channel
    /// arbiter (where its `!Send` HTTP client must be created).
    fn start<C: Channel>(
        &self,
        name: Name,
        retry: RetrySettings,
        make: impl FnOnce() -> C + Send + 'static,
    ) -> (Recipient<Alert>, ChannelHandle, Addr<ChannelActor<C>>) {
        let (m, s, n) = (self.metrics.clone(), self.supervision.clone(), name.clone());
        let (escalate, store) = (self.escalate.clone(), self.store.clone());
        let addr = Supervisor::start_in_arbiter(&self.arbiter, move |_| {
            ChannelActor::new(n, make(), retry, &s, &m, Some(escalate)).with_store(Some(store))
        });
        (
            addr.clone().recipient(),
            ChannelHandle {
                name,
                alerts: addr.clone().recipient(),
                flush: addr.clone().recipient(),
                crash: addr.clone().recipient(),
                retire: addr.clone().recipient(),
                replace: None,
            },
            addr,
        )
    }
}

/// The channels' stage: starts configured channels, and changes them on a reload.
struct ChannelStage {
    env: ChannelEnv,
    store: Addr<StoreActor>,
    router: Addr<RouterActor>,
    running: Vec<ChannelHandle>,
}

impl ChannelStage {
    /// Starts the configured channel `ch` and routes to it.
    fn start(&mut self, ch: ChannelSettings) {
        let Some((retry, make)) = channel_maker(&ch) else {
            return;
        };
        let (recipient, mut handle, addr) = self.env.start(ch.name.clone(), retry, make);
        handle.replace = Some(addr.recipient());
        self.route_channel(&ch, recipient);
        self.running.push(handle);
    }

    /// A reload changed `ch`: its actor (and queue) stays, its platform settings and route
    /// change.
    fn change(&mut self, ch: ChannelSettings) {
        let Some(handle) = self.running.iter().find(|h| h.name == ch.name) else {
            return self.start(ch);
        };
        let Some(replace) = handle.replace.clone() else {
            return;
        };
        let Some((retry, make)) = channel_maker(&ch) else {
            return;
        };
        replace.do_send(ReplaceChannel { make, retry });
        // The route's recipient is the same actor; only its severity and kind may differ.
        let recipient = handle.alerts.clone();
        self.route_channel(&ch, recipient);
    }

    /// A reload removed the channel `name`: no more routing to it, and every delivery it
    /// still owes is marked failed ([`CHANNEL_REMOVED`]), in memory and in the store.
    fn remove(&mut self, name: &Name) {
        self.router.do_send(RemoveRoute(name.clone()));
        if let Some(i) = self.running.iter().position(|h| &h.name == name) {
            let handle = self.running.remove(i);
            handle.retire.do_send(RetireChannel {
                reason: CHANNEL_REMOVED.to_owned(),
            });
        }
        self.store.do_send(FailPending {
            channel: name.clone(),
            reason: CHANNEL_REMOVED.to_owned(),
        });
    }

    /// Routes alerts to a configured channel: what it takes (triage, acks, groups) and
    /// whether its deliveries are durable is its kind's. The triage channel is not human: it
    /// neither receives triage follow-ups nor is durable (a model asked about yesterday's
    /// alert after a restart costs budget and says nothing useful).
    fn route_channel(&self, ch: &ChannelSettings, recipient: Recipient<Alert>) {
        let info = ch.kind.info();
        self.router.do_send(AddRoute(Route {
            name: ch.name.clone(),
            min_severity: ch.min_severity,
            wants_triage: info.follow_ups,
            wants_acks: info.acks,
            durable: info.human,
            grouped: info.grouped,
            recipient,
        }));
    }

    /// Routes alerts to an embedding engine's channel (`durable`) or recipient: each series'
    /// alerts and triage follow-ups, as always.
    fn route_in_process(
        &self,
        name: Name,
        min_severity: Severity,
        durable: bool,
        recipient: Recipient<Alert>,
    ) {
        self.router.do_send(AddRoute(Route {
            name,
            min_severity,
            wants_triage: true,
            wants_acks: false,
            durable,
            grouped: false,
            recipient,
        }));
    }

    /// Whether `name` runs here.
    fn runs(&self, name: &Name) -> bool {
        self.running.iter().any(|h| &h.name == name)
    }
}

/// The retry policy and the builder of the configured channel `ch` (its kind's `make`);
/// `None` for a table that is no channel (`llm_triage`).
fn channel_maker(ch: &ChannelSettings) -> Option<(RetrySettings, MakeChannel)> {
    ch.kind.clone().make(&MakeContext {
        name: &ch.name,
        retry: &ch.retry,
    })
}

/// The spec of a `llm_triage` table.
fn triage_spec(ch: &ChannelSettings) -> Option<&LlmTriageSpec> {
    match &ch.kind {
        ChannelKind::LlmTriage(spec) => Some(spec),
        _ => None,
    }
}

/// The triage stage: one actor per `llm_triage` table, each owning its model client, hourly
/// budget and prompt settings ([`crate::triage`]). The Router hands it the alerts of its
/// route once they went out to the channels; as a route it wants no triage follow-ups (it
/// never triages its own) and is not durable (nothing of it goes to the outbox). Its answers
/// come back to the Router as [`Triage`] messages.
struct TriageStage {
    arbiter: ArbiterHandle,
    metrics: Arc<Metrics>,
    supervision: SupervisionSettings,
    escalate: Recipient<Anomaly>,
    router: Addr<RouterActor>,
    /// Where the stage sends its follow-ups: the Router.
    answers: Recipient<Triage>,
    running: Vec<TriageHandle>,
}

impl TriageStage {
    /// Starts the triage of the `llm_triage` table `ch` and routes its alerts to it.
    fn start(&mut self, ch: &ChannelSettings, spec: &LlmTriageSpec) {
        let (retry, make) = crate::triage::make(&ch.name, spec.clone(), &ch.retry, &self.answers);
        let (m, s, n) = (
            self.metrics.clone(),
            self.supervision.clone(),
            ch.name.clone(),
        );
        let escalate = self.escalate.clone();
        // No store: the stage records no delivery (it is not a channel).
        let addr: Addr<TriageActor> = Supervisor::start_in_arbiter(&self.arbiter, move |_| {
            ChannelActor::new(n, make(), retry, &s, &m, Some(escalate))
        });
        let handle = TriageHandle {
            name: ch.name.clone(),
            alerts: addr.clone().recipient(),
            flush: addr.clone().recipient(),
            crash: addr.clone().recipient(),
            replace: addr.clone().recipient(),
            retire: addr.recipient(),
        };
        self.route(ch, &handle);
        self.running.push(handle);
    }

    /// A reload changed the table `ch`: the actor (and what it holds) stays, its model
    /// settings and route change.
    fn change(&mut self, ch: &ChannelSettings, spec: &LlmTriageSpec) {
        let Some(handle) = self.running.iter().find(|h| h.name == ch.name).cloned() else {
            return self.start(ch, spec);
        };
        let (retry, make) = crate::triage::make(&ch.name, spec.clone(), &ch.retry, &self.answers);
        handle.replace.do_send(ReplaceChannel { make, retry });
        self.route(ch, &handle);
    }

    /// A reload removed the table `name`: no more alerts to it, and what it holds is dropped.
    fn remove(&mut self, name: &Name) {
        if let Some(i) = self.running.iter().position(|h| &h.name == name) {
            self.router.do_send(RemoveRoute(name.clone()));
            let handle = self.running.remove(i);
            handle.retire.do_send(RetireChannel {
                reason: CHANNEL_REMOVED.to_owned(),
            });
        }
    }

    /// Whether `name` runs here.
    fn runs(&self, name: &Name) -> bool {
        self.running.iter().any(|h| &h.name == name)
    }

    fn route(&self, ch: &ChannelSettings, handle: &TriageHandle) {
        self.router.do_send(AddRoute(Route {
            name: ch.name.clone(),
            min_severity: ch.min_severity,
            wants_triage: false,
            wants_acks: false,
            durable: false,
            // Triage asks about each series' alert, never about a group message.
            grouped: false,
            recipient: handle.alerts.clone(),
        }));
    }
}

/// Starts the triage stage: one actor per `llm_triage` table of `settings`, on `arbiter`,
/// answering `router`.
fn start_triage(
    settings: &Settings,
    arbiter: &ArbiterHandle,
    router: &Addr<RouterActor>,
    metrics: &Arc<Metrics>,
) -> TriageStage {
    let mut stage = TriageStage {
        arbiter: arbiter.clone(),
        metrics: metrics.clone(),
        supervision: settings.supervision.clone(),
        escalate: router.clone().recipient(),
        router: router.clone(),
        answers: router.clone().recipient(),
        running: Vec::new(),
    };
    for ch in &settings.channels {
        if let Some(spec) = triage_spec(ch) {
            stage.start(ch, spec);
        }
    }
    stage
}

/// The probes' stage: one ProbeActor per exchange, each on the least loaded probe arbiter.
struct ProbeStage {
    arbiters: Vec<ArbiterHandle>,
    /// Endpoints per arbiter.
    load: Vec<usize>,
    running: Vec<RunningProbe>,
    detectors: DetectorSet,
    metrics: Arc<Metrics>,
    supervision: SupervisionSettings,
    /// Shared by the probes (a recipient's clone is three allocations, ≈ 96 B each).
    escalate: Arc<Recipient<Anomaly>>,
    maintenance: Arc<Recipient<MaintenanceStatus>>,
}

struct RunningProbe {
    name: Name,
    shard: usize,
    endpoints: usize,
    addr: Addr<ProbeActor>,
}

impl ProbeStage {
    /// Starts the probe of `ex`, the `index`-th of `all`, on the least loaded arbiter.
    fn start(
        &mut self,
        ex: ExchangeSettings,
        index: usize,
        all: &[ExchangeSettings],
        settings: &Settings,
    ) {
        let endpoints = ex.endpoints.len();
        let shard = (0..self.load.len())
            .min_by_key(|&k| self.load[k])
            .unwrap_or(0);
        self.load[shard] += endpoints;
        let spread = spread_of(index, all);
        let (d, m, b, s, e) = (
            self.detectors.clone(),
            self.metrics.clone(),
            settings.breaker.clone(),
            self.supervision.clone(),
            self.escalate.clone(),
        );
        let status = self.maintenance.clone();
        let name = ex.name.clone();
        let addr = Supervisor::start_in_arbiter(&self.arbiters[shard], move |_| {
            ProbeActor::new(ex, &b, &s, d, &m, Some(e))
                .with_maintenance(status)
                .with_phase(spread)
        });
        self.running.push(RunningProbe {
            name,
            shard,
            endpoints,
            addr,
        });
    }

    /// A reload changed `ex`: its actor takes the new settings in place and keeps its
    /// breaker and back-off (see [`crate::probe::Reconfigure`]).
    fn change(
        &mut self,
        ex: ExchangeSettings,
        index: usize,
        all: &[ExchangeSettings],
        settings: &Settings,
    ) {
        let Some(probe) = self.running.iter_mut().find(|p| p.name == ex.name) else {
            return self.start(ex, index, all, settings);
        };
        self.load[probe.shard] = self.load[probe.shard] - probe.endpoints + ex.endpoints.len();
        probe.endpoints = ex.endpoints.len();
        probe.addr.do_send(ProbeReconfigure {
            settings: ex,
            breaker: settings.breaker.clone(),
            spread: spread_of(index, all),
        });
    }

    /// Stops probing `name`; its actor ends once its last address is gone.
    fn stop(&mut self, name: &Name) {
        if let Some(i) = self.running.iter().position(|p| &p.name == name) {
            let probe = self.running.remove(i);
            self.load[probe.shard] -= probe.endpoints;
            probe.addr.do_send(StopProbing);
        }
    }

    fn addrs(&self) -> Vec<Addr<ProbeActor>> {
        self.running.iter().map(|p| p.addr.clone()).collect()
    }

    /// Where a stream of `exchange` reports its connections' outcomes: the exchange's probe
    /// (its breaker), when the exchange is probed.
    fn breaker_of(
        &self,
        exchange: &Name,
    ) -> Option<Recipient<crate::probe::stream::actor::StreamHealth>> {
        (self.running.iter())
            .find(|p| &p.name == exchange)
            .map(|p| p.addr.clone().recipient())
    }
}

/// The canaries (`[monitor] canaries`) as the endpoints of exwatch's own exchange
/// [`crate::route::correlation::CANARY_EXCHANGE`], probed with the default interval and
/// timeout and the plain `http` profile; `None` without canaries. A reload leaves them as
/// they started.
fn canary_exchange(settings: &Settings) -> Option<crate::config::ExchangeSettings> {
    let urls = &settings.monitor.canaries;
    if urls.is_empty() {
        return None;
    }
    let d = &settings.defaults;
    let endpoints = (urls.iter().enumerate())
        .map(|(i, url)| crate::config::EndpointSettings {
            name: Name::from(format!("canary{i}")),
            url: url.clone(),
            check: crate::config::CheckProfile::Http,
            kind: crate::config::EndpointKind::Health,
            symbol: None,
            interval: d.interval,
            timeout: d.timeout,
            max_body_bytes: d.max_body_bytes,
            confirm_interval: d
                .confirm_interval
                .unwrap_or_else(|| crate::config::default_confirm_interval(d.interval)),
            confirm_probes: d.confirm_probes,
        })
        .collect();
    Some(crate::config::ExchangeSettings {
        name: Name::from(crate::route::correlation::CANARY_EXCHANGE),
        max_connections: d.max_connections,
        recv_window: None,
        ahead_window: None,
        confirm_per_minute: d.confirm_per_minute,
        endpoints,
    })
}

/// Where the first slots of the `index`-th of `all` exchanges fall.
fn spread_of(index: usize, all: &[ExchangeSettings]) -> Spread {
    Spread {
        exchange: index,
        exchanges: all.len(),
        total: all.iter().map(|x| x.endpoints.len()).sum(),
    }
}

/// The running stages, as a reload finds them. See the module docs.
pub(crate) struct Topology {
    /// The settings as they run (keys that need a restart keep their start values).
    settings: Settings,
    router: Addr<RouterActor>,
    detectors: DetectorSet,
    status: Arc<StatusBoard>,
    probes: ProbeStage,
    /// The market-data streams (`kind = "stream"`), one actor per shared connection.
    streams: crate::probe::stream::Streams,
    channels: ChannelStage,
    triage: TriageStage,
    /// `[cluster]`'s gate, told when the exchanges change.
    cluster_gate: Option<Addr<crate::cluster::ClusterGate>>,
}

impl Topology {
    /// Where the forgetting of removed series goes: the Router, through `[cluster]`'s gate
    /// when there is one (the path the series' anomalies took, so the forget comes after them).
    fn forget_to(&self) -> Recipient<ForgetSeries> {
        match &self.cluster_gate {
            Some(gate) => gate.clone().recipient(),
            None => self.router.clone().recipient(),
        }
    }
}

impl Apply for Topology {
    fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Applies `new` as a difference from the running settings. See [`crate::reload`].
    fn apply(&mut self, new: Settings) -> ReloadReport {
        let new = with_clock_windows(new);
        let plan = crate::reload::plan(&self.settings, &new);
        let new = crate::reload::plan::effective(&self.settings, new);
        let mut changes = plan.describe();
        if plan.is_empty() {
            self.settings = new;
            return ReloadReport {
                changes,
                needs_restart: plan.needs_restart,
            };
        }
        // Detectors first, so that a new exchange's first measurements meet the new taps.
        if plan.detect || plan.rules || plan.streams || !plan.exchanges.is_empty() {
            let restarted = self.detectors.reconfigure(crate::detect::set::Reconfigure {
                settings: new.detect.clone(),
                exchanges: &new.exchanges,
                rules: &new.rules,
                max_series: series_limit(&new),
            });
            changes.extend(restarted.into_iter().map(|r| format!("restarted: {r}")));
        }
        if !plan.exchanges.is_empty() {
            for name in &plan.exchanges.removed {
                self.probes.stop(name);
            }
            for (i, ex) in new.exchanges.iter().enumerate() {
                if plan.exchanges.added.contains(&ex.name) {
                    self.probes.start(ex.clone(), i, &new.exchanges, &new);
                } else if plan.exchanges.changed.contains(&ex.name) {
                    self.probes.change(ex.clone(), i, &new.exchanges, &new);
                }
            }
            self.status.reshape(&new.exchanges);
            if let Some(gate) = &self.cluster_gate {
                let names = new.exchanges.iter().map(|x| x.name.to_string()).collect();
                gate.do_send(crate::cluster::gate::Exchanges(names));
            }
        }
        if plan.streams {
            let probes = &self.probes;
            let lines = self
                .streams
                .reload(&new.streams, &|exchange| probes.breaker_of(exchange));
            changes.extend(lines);
        }
        if !plan.series_removed.is_empty() {
            // Their open incidents get one resolved alert each (once their detectors have
            // sent their last anomaly); nothing keeps their series.
            let router = self.forget_to();
            let removed = plan.series_removed.clone();
            self.detectors.forget(&plan.series_removed, move || {
                router.do_send(ForgetSeries(removed));
            });
            self.probes.metrics.forget(&plan.series_removed);
        }
        if plan.router || !plan.exchanges.is_empty() {
            self.router.do_send(Reconfigure {
                settings: new.router.clone(),
                exchanges: new.exchanges.len(),
            });
        }
        for name in &plan.channels.removed {
            if self.triage.runs(name) {
                self.triage.remove(name);
            } else {
                self.channels.remove(name);
            }
        }
        for ch in &new.channels {
            let (added, changed) = (
                plan.channels.added.contains(&ch.name),
                plan.channels.changed.contains(&ch.name),
            );
            match triage_spec(ch) {
                // A table that turned from a channel into triage (or back) leaves the other.
                Some(spec) if added || changed => {
                    if self.channels.runs(&ch.name) {
                        self.channels.remove(&ch.name);
                    }
                    self.triage.change(ch, spec);
                }
                None if added || changed => {
                    if self.triage.runs(&ch.name) {
                        self.triage.remove(&ch.name);
                    }
                    self.channels.change(ch.clone());
                }
                _ => {}
            }
        }
        self.settings = new;
        ReloadReport {
            changes,
            needs_restart: plan.needs_restart,
        }
    }
}

/// `settings` with each exchange's signing window filled into `[detect.clock]` (derived from
/// `[exchanges]`, so that a reload compares like with like).
fn with_clock_windows(mut settings: Settings) -> Settings {
    settings.detect.clock.windows = crate::detect::clock::windows_of(&settings.exchanges);
    settings
}

/// The series a monitor's configuration can make, and room for what an embedding engine
/// reports on its own: three at most per REST endpoint (errors, latency, a clock or a price),
/// five per stream (lag, silence, frozen, gap, reconnects), and each exchange's availability.
fn series_limit(settings: &Settings) -> usize {
    let rest: usize = settings.exchanges.iter().map(|x| x.endpoints.len()).sum();
    3 * rest + 5 * settings.streams.len() + settings.exchanges.len() + SPARE_SERIES
}

/// The event store's stage: the file claimed and opened, its actor on its own thread.
struct StoreStage {
    addr: Addr<StoreActor>,
    closed: StoreClosed,
    link: StoreLink,
    silences: Vec<crate::route::Silence>,
}

impl StoreStage {
    fn open(
        settings: &Settings,
        metrics: &Arc<Metrics>,
        mirror: Option<Arc<dyn crate::store::MirrorSink>>,
    ) -> Result<Self, Error> {
        // One running monitor per store file: claimed before the file is even opened.
        let lock = StoreLock::acquire(&settings.store.path)?;
        let mut db = SqliteStore::open(&settings.store.path)?;
        // Silences persist: those not over yet are in force again from the start.
        let silences = db.open_silences(crate::messages::Timestamp::now())?;
        let supervision = &settings.supervision;
        let (addr, closed) = match mirror {
            // [cluster]: every stored event is copied to the shared PostgreSQL's backlog.
            Some(sink) => {
                let mut db = crate::store::Mirrored::new(db, sink);
                // What an earlier run could not send (the shared store away, then a stop).
                let n = db.resync(crate::cluster::RESYNC_ALERTS)?;
                tracing::debug!(
                    alerts = n,
                    "Stored alerts offered to the shared store again."
                );
                StoreActor::start_locked(db, lock, supervision, metrics)?
            }
            None => StoreActor::start_locked(db, lock, supervision, metrics)?,
        };
        let link = StoreLink::new(&addr);
        Ok(Self {
            addr,
            closed,
            link,
            silences,
        })
    }
}

/// The monitor's arbiters: probes, the pipeline (Router, detectors), the channels.
struct Arbiters {
    probes: Vec<Arbiter>,
    pipeline: Arbiter,
    channels: Arbiter,
    /// `[cluster]`'s own thread (writer, listener, gate), when configured.
    cluster: Option<Arbiter>,
}

impl Arbiters {
    fn new(probe_threads: usize) -> Self {
        Self {
            probes: (0..probe_threads.max(1)).map(|_| Arbiter::new()).collect(),
            pipeline: Arbiter::new(),
            channels: Arbiter::new(),
            cluster: None,
        }
    }

    fn into_vec(self) -> Vec<Arbiter> {
        self.probes
            .into_iter()
            .chain([self.pipeline, self.channels])
            .chain(self.cluster)
            .collect()
    }
}

/// Starts the Router on the pipeline arbiter.
fn start_router(
    settings: &Settings,
    arbiter: &ArbiterHandle,
    store: &StoreStage,
    metrics: &Arc<Metrics>,
) -> Addr<RouterActor> {
    let (m, s, region, window) = (
        metrics.clone(),
        settings.supervision.clone(),
        settings.monitor.region.clone(),
        settings.router.dedup_window,
    );
    let (store, silences) = (store.addr.clone(), store.silences.clone());
    let exchange_count = settings.exchanges.len();
    let flap_hold = settings.router.flap_hold;
    let correlation_hold = settings.router.correlation_hold;
    let (group_by, group_interval) = (
        settings.router.group_by.clone(),
        settings.router.group_interval,
    );
    Supervisor::start_in_arbiter(arbiter, move |_| {
        RouterActor::new(region, window, &s, m)
            .with_store(store)
            .with_exchanges(exchange_count)
            .with_flap_hold(flap_hold)
            .with_correlation_hold(correlation_hold)
            .with_grouping(group_by.clone(), group_interval)
            .with_silences(silences)
    })
}

/// Starts the detectors, their taps included, on the pipeline arbiter.
fn start_detectors(
    settings: &Settings,
    arbiter: &ArbiterHandle,
    outputs: DetectorOutputs,
    store: &StoreStage,
    status: Arc<StatusBoard>,
    metrics: &Arc<Metrics>,
) -> DetectorSet {
    DetectorSet::builder(
        arbiter.clone(),
        settings.detect.clone(),
        settings.supervision.clone(),
        outputs,
        metrics.clone(),
    )
    .baselines(BaselineLink::new(&store.addr))
    .max_series(series_limit(settings))
    .prices(&settings.exchanges)
    .status(status)
    .rules(&settings.rules, &settings.monitor.region)
    .build()
}

impl MonitorBuilder {
    /// A builder for `settings`.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            source: None,
            extra: Vec::new(),
            recipients: Vec::new(),
            subscribers: Vec::new(),
            resolved_subscribers: Vec::new(),
        }
    }

    /// Where a live reload ([`MonitorHandle::reload`], `SIGHUP`, `POST /-/reload`) reads the
    /// configuration from; without one, a reload is refused.
    pub fn config_source(
        mut self,
        source: impl Fn() -> Result<Settings, ConfigError> + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Arc::new(source));
        self
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
            start: Box::new(move |env| {
                let (recipient, handle, _) = env.start(n, retry, make);
                (recipient, handle)
            }),
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
        let settings = with_clock_windows(self.settings);
        let metrics = Arc::new(Metrics::new());
        let cluster_stage = (settings.cluster.as_ref())
            .map(|c| ClusterStage::prepare(c, &metrics))
            .transpose()
            .map_err(|e| {
                let url = &settings.cluster.as_ref().expect("cluster").postgres_url;
                Error::Cluster(crate::cluster::redact(url, &e))
            })?;
        let mirror =
            (cluster_stage.as_ref()).map(|c| c.sink() as Arc<dyn crate::store::MirrorSink>);
        let store = StoreStage::open(&settings, &metrics, mirror)?;
        let mut arbiters = Arbiters::new(settings.monitor.probe_threads);
        let router = start_router(&settings, &arbiters.pipeline.handle(), &store, &metrics);
        let cluster = match cluster_stage {
            None => None,
            Some(stage) => {
                let exchanges = settings.exchanges.iter().map(|x| x.name.to_string());
                let out = GateOutputs {
                    anomalies: router.clone().recipient(),
                    resolved: router.clone().recipient(),
                    forget: router.clone().recipient(),
                };
                let (cluster, arbiter) = stage
                    .start(&settings.monitor.region, exchanges.collect(), out)
                    .map_err(|e| Error::Cluster(e.to_string()))?;
                arbiters.cluster = Some(arbiter);
                Some(cluster)
            }
        };
        let escalate: Recipient<Anomaly> = router.clone().recipient();

        let mut channels = ChannelStage {
            env: ChannelEnv {
                arbiter: arbiters.channels.handle(),
                metrics: metrics.clone(),
                supervision: settings.supervision.clone(),
                escalate: escalate.clone(),
                store: store.link.clone(),
            },
            store: store.addr.clone(),
            router: router.clone(),
            running: Vec::new(),
        };
        for ch in settings.channels.clone() {
            channels.start(ch);
        }
        for extra in self.extra {
            let (recipient, handle) = (extra.start)(&channels.env);
            // Channels and recipients of an embedding engine take each series, as always.
            channels.route_in_process(extra.name, extra.min_severity, true, recipient);
            channels.running.push(handle);
        }
        for (name, min_severity, recipient) in self.recipients {
            channels.route_in_process(name, min_severity, false, recipient);
        }
        let triage = start_triage(&settings, &arbiters.channels.handle(), &router, &metrics);
        for s in self.subscribers {
            router.do_send(Subscribe(s));
        }
        for s in self.resolved_subscribers {
            router.do_send(SubscribeResolved(s));
        }

        let status = Arc::new(StatusBoard::new(
            settings.monitor.region.clone(),
            &settings.exchanges,
        ));
        let outputs = match &cluster {
            // [cluster]: the detectors' verdicts on the exchanges pass through the gate.
            Some(c) => DetectorOutputs {
                anomalies: c.gate.clone().recipient(),
                resolved: c.gate.clone().recipient(),
            },
            None => DetectorOutputs {
                anomalies: router.clone().recipient(),
                resolved: router.clone().recipient(),
            },
        };
        let detectors = start_detectors(
            &settings,
            &arbiters.pipeline.handle(),
            outputs,
            &store,
            status.clone(),
            &metrics,
        );

        let mut probes = ProbeStage {
            arbiters: arbiters.probes.iter().map(Arbiter::handle).collect(),
            load: vec![0; arbiters.probes.len()],
            running: Vec::new(),
            detectors: detectors.clone(),
            metrics: metrics.clone(),
            supervision: settings.supervision.clone(),
            escalate: Arc::new(escalate),
            maintenance: Arc::new(router.clone().recipient()),
        };
        for (i, ex) in settings.exchanges.iter().enumerate() {
            probes.start(ex.clone(), i, &settings.exchanges, &settings);
        }
        if let Some(canaries) = canary_exchange(&settings) {
            // exwatch's own exchange: its breaker tells our network from the venues'.
            let all = std::slice::from_ref(&canaries);
            probes.start(canaries.clone(), 0, all, &settings);
        }

        let streams = crate::probe::stream::Streams::start(
            &settings.streams,
            &probes.arbiters,
            &detectors,
            &metrics,
            &status,
            &|exchange| probes.breaker_of(exchange),
        );

        let engine_streams = {
            let (d, m, b) = (detectors.clone(), metrics.clone(), status.clone());
            Supervisor::start_in_arbiter(&arbiters.pipeline.handle(), move |_| {
                EngineStreams::new(d, m).with_board(b)
            })
        };

        let http = settings.http.clone();
        tracing::info!(region = %settings.monitor.region, "exwatch started.");
        let topology = Arc::new(Mutex::new(Topology {
            settings,
            router: router.clone(),
            detectors: detectors.clone(),
            status: status.clone(),
            probes,
            streams,
            channels,
            triage,
            cluster_gate: cluster.as_ref().map(|c| c.gate.clone()),
        }));
        let reloader = Arc::new(Reloader::new(self.source, topology.clone(), &metrics));

        let server = if http.enabled {
            let state = AppState {
                store: store.addr.clone(),
                router: router.clone(),
                metrics: metrics.clone(),
                token: http.token.clone(),
                status,
                reloader: reloader.clone(),
                cluster: cluster.clone(),
            };
            Some(server::start(&http, state)?)
        } else {
            None
        };

        Ok(MonitorHandle {
            server,
            detectors,
            router,
            store: store.addr,
            topology,
            reloader,
            arbiters: arbiters.into_vec(),
            metrics,
            store_closed: store.closed,
            cluster,
            engine_streams,
        })
    }
}

/// How long [`MonitorHandle::stop`] waits for the cluster's backlog to reach PostgreSQL.
const CLUSTER_FLUSH_WAIT: Duration = Duration::from_secs(3);

/// A running monitor.
pub struct MonitorHandle {
    server: Option<RunningServer>,
    detectors: DetectorSet,
    router: Addr<RouterActor>,
    store: Addr<StoreActor>,
    topology: Arc<Mutex<Topology>>,
    reloader: Arc<Reloader>,
    arbiters: Vec<Arbiter>,
    metrics: Arc<Metrics>,
    store_closed: StoreClosed,
    /// `[cluster]`, when configured.
    cluster: Option<crate::cluster::Cluster>,
    /// The judges of an embedding engine's own streams.
    engine_streams: Addr<EngineStreams>,
}

impl MonitorHandle {
    /// Feeds a measurement into its series' detector (started on first use). This is how an
    /// embedding trading engine reports what it sees (order round trips, fills, its own
    /// latency), and how tests drive the pipeline.
    pub fn inject(&self, m: Measurement) {
        self.detectors.send(m);
    }

    /// Feeds one data message of a market-data stream the embedding engine keeps itself:
    /// exwatch judges each stream the engine names (`stream`, the series' endpoint, on
    /// `exchange`) with the same judge as its own `kind = "stream"` endpoints, so the engine's
    /// feeds alert `stream_stale` (no message for a few of the stream's learned cadences:
    /// exwatch looks at the clock between messages, the engine only reports what it receives),
    /// `stream_frozen`, `stream_gap` and `stream_lag_ms` through the same detectors, Router and
    /// channels, and show in the same `exwatch_stream_*` metrics. A stream is judged from its
    /// first observation on, with [`EngineStreamOptions::default`] unless
    /// [`Self::configure_stream`] said otherwise.
    ///
    /// ```no_run
    /// # async fn run(monitor: exwatch::MonitorHandle) {
    /// use exwatch::Timestamp;
    /// use exwatch::probe::stream::StreamObservation;
    ///
    /// // In the engine's feed handler, for each Binance depth update {"E":…,"U":…,"u":…}:
    /// let (event_time, first, last) = (1_700_000_000_000, 157, 160);
    /// monitor.observe_stream(
    ///     "binance",
    ///     "engine-btc-depth",
    ///     StreamObservation {
    ///         event_time: Some(Timestamp(event_time)),
    ///         first_update_id: Some(first),
    ///         update_id: Some(last),
    ///         ..StreamObservation::at(Timestamp::now())
    ///     },
    /// );
    /// # }
    /// ```
    pub fn observe_stream(
        &self,
        exchange: impl Into<Name>,
        stream: impl Into<Name>,
        observation: StreamObservation,
    ) {
        self.engine_streams.do_send(engine::Observe {
            exchange: exchange.into(),
            stream: stream.into(),
            observation,
        });
    }

    /// The engine's connection for one of its streams (see [`Self::observe_stream`]) was
    /// replaced at `at`. Unplanned reconnects beyond the stream's
    /// [`EngineStreamOptions::reconnects_per_hour`] alert `stream_churn`; `planned` ones (the
    /// venue's 24 h cut, an announced shutdown) never count. The next message may overlap
    /// what the old connection delivered: the overlap is no gap.
    pub fn stream_reconnected(
        &self,
        exchange: impl Into<Name>,
        stream: impl Into<Name>,
        at: Timestamp,
        planned: bool,
    ) {
        self.engine_streams.do_send(engine::Reconnected {
            exchange: exchange.into(),
            stream: stream.into(),
            at,
            planned,
        });
    }

    /// Judges one of the engine's streams with `options` (a `stale_after` of its own, a
    /// reconnect budget) from its next observation on, afresh.
    pub fn configure_stream(
        &self,
        exchange: impl Into<Name>,
        stream: impl Into<Name>,
        options: EngineStreamOptions,
    ) {
        self.engine_streams.do_send(engine::Configure {
            exchange: exchange.into(),
            stream: stream.into(),
            options,
        });
    }

    /// The engine stopped watching one of its streams: its judge is dropped (its silence is
    /// no stall) and its open incidents are resolved as a removed endpoint's are.
    pub fn forget_stream(&self, exchange: impl Into<Name>, stream: impl Into<Name>) {
        self.engine_streams.do_send(engine::Forget {
            exchange: exchange.into(),
            stream: stream.into(),
            router: self.topology.lock().forget_to(),
        });
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

    /// The detector of `series`: a handle on its exchange's detector actor (one actor judges
    /// every series of an exchange; started on first use) naming the series, for fault
    /// injection ([`DetectorHandle::crash`]) and its state ([`DetectorHandle::state`]: whether
    /// a reload kept or reset it). The series is tracked from its first measurement.
    pub fn detector(&self, series: &SeriesKey) -> Option<DetectorHandle> {
        self.detectors.get(series)
    }

    /// The HTTP server's bound address (the real port when `[http] listen` asked for port
    /// 0); `None` when `[http] enabled = false`.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.as_ref().map(RunningServer::addr)
    }

    /// The probes, one per exchange, in the order of the configuration.
    pub fn probes(&self) -> Vec<Addr<ProbeActor>> {
        self.topology.lock().probes.addrs()
    }

    /// The channel named `name`.
    pub fn channel(&self, name: &str) -> Option<ChannelHandle> {
        let topology = self.topology.lock();
        topology
            .channels
            .running
            .iter()
            .find(|c| &*c.name == name)
            .cloned()
    }

    /// The triage stage of the `llm_triage` table `name`.
    pub fn triage(&self, name: &str) -> Option<TriageHandle> {
        let topology = self.topology.lock();
        topology
            .triage
            .running
            .iter()
            .find(|t| &*t.name == name)
            .cloned()
    }

    /// The settings as they run now (after the last successful reload).
    pub fn settings(&self) -> Settings {
        self.topology.lock().settings.clone()
    }

    /// Re-reads the configuration source ([`MonitorBuilder::config_source`]) and applies it
    /// as a difference; an invalid one changes nothing. See [`crate::reload`].
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        self.reloader.reload()
    }

    /// Applies `settings` (valid, built in code) as a difference from the running ones.
    pub fn apply(&self, settings: Settings) -> ReloadReport {
        self.reloader.apply(settings)
    }

    /// The reloader (for a signal handler that outlives a borrow of the handle).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
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
        let (probes, streams, channels, triage, grace) = {
            let t = self.topology.lock();
            (
                t.probes.addrs(),
                t.streams.addrs(),
                t.channels.running.clone(),
                t.triage.running.clone(),
                t.settings.shutdown.grace,
            )
        };
        for p in &probes {
            let _ = p.send(StopProbing).await;
        }
        for s in &streams {
            let _ = s.send(crate::probe::stream::actor::StopStreaming).await;
        }
        // Anomalies still queued in a stuck pipeline never became alerts: not "all delivered".
        let drained = self.drained().await;
        let flushes = (channels.iter().map(|c| &c.flush))
            .chain(triage.iter().map(|t| &t.flush))
            .map(|flush| flush.send(Flush { deadline: grace }));
        // Each channel gives up by `grace`; the bound covers a channel whose thread is stuck.
        let flushed =
            tokio::time::timeout(grace + FLUSH_SLACK, futures_util::future::join_all(flushes))
                .await
                .map(|replies| replies.into_iter().all(|r| r.unwrap_or(false)))
                .unwrap_or(false);
        let all_done = drained && flushed;
        // Every delivery report the channels sent is written before anything stops; then the
        // file is closed and its lock released, whatever addresses of the store live on.
        // Rollups queued since the drain (an embedding engine's measurements) go first.
        self.detectors.flush_rollups();
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
        if let Some(cluster) = &self.cluster {
            // What the store mirrored is in the backlog now: give the writer a moment to
            // send it while PostgreSQL answers (the SQLite outbox keeps it regardless).
            let deadline = tokio::time::Instant::now() + CLUSTER_FLUSH_WAIT;
            while cluster.health.is_up()
                && cluster.backlog.has_rows()
                && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if cluster.backlog.has_rows() {
                tracing::warn!(
                    rows = cluster.backlog.len(),
                    "Stopping with rows not yet written to the shared PostgreSQL."
                );
            }
        }
        let MonitorHandle {
            detectors,
            router,
            store,
            topology,
            reloader,
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
        drop((detectors, router, store, probes, channels, triage, reloader));
        drop(topology);
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
