//! The ProbeActor: one per exchange.
//!
//! It owns the exchange's circuit breaker, one fixed-rate schedule per endpoint, its
//! rate-limit back-off and its HTTP client ([`ProbeClient`], built on the probe arbiter, never
//! moved). On each
//! slot it GETs the endpoint — unless the exchange asked us to back off, or the breaker
//! rejects the probe — judges the answer with the endpoint's profile and sends
//! [`Measurement`]s: errors (every outcome), latency (successful probes), clock skew (time
//! endpoints), price (tickers), and availability (each breaker transition). A probe's
//! measurements go to the exchange's detector as one message ([`Measurements`], through
//! [`DetectorSet::send_batch`]); that detector runs on this actor's arbiter
//! ([`DetectorSet::shard_on`]), so the message stays within the thread: no cross-thread
//! wake-up per probe. It never decides what is anomalous.
//!
//! Timers: one actix timer per actor, armed for the earliest entry of a min-heap that holds
//! every endpoint's next slot (from its drift-free schedule) and every pending re-probe. An
//! actix context polls all its spawned items on every wake-up, so one timer per endpoint (and
//! one context item per probe in flight) would make each event cost O(endpoints); instead each
//! probe runs as its own task on the arbiter and comes back as a [`ProbeDone`] message. The
//! endpoints' first slots are spread over the interval ([`ProbeActor::with_phase`]) so that
//! thousands of endpoints do not all fire in the same millisecond.
//!
//! A scheduled probe is sent only while fewer than [`QUEUE_DEPTH`] × `max_connections` probes
//! of the exchange are in flight: past that it would mostly time our own queue, not the
//! exchange, and an unbounded queue collapses into timeouts; the slot is skipped and counted
//! late.
//!
//! A restart re-arms the schedules from now (same phases) and keeps the breaker and back-off
//! (they describe the exchange, not the actor); the answers of probes sent before it are
//! dropped (their epoch is gone) and those probes give back their half-open trial slots; they
//! still count in flight until they answer, as they hold their connections until then.
//!
//! Fast confirmation ([`crate::probe::confirm`]): when a probe of a healthy endpoint fails, it
//! arms quick re-probes of that endpoint (extra timers; the schedule is untouched) until one
//! succeeds or `confirm_probes` have gone. A re-probe is sent only while no back-off is in
//! force, the breaker is closed, a connection is free and the exchange's per-minute budget has a
//! token; otherwise the confirmation ends (or, for a busy connection pool, waits one more
//! `confirm_interval`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use actix::clock::Instant;
use actix::{
    Actor, ActorContext, Addr, Arbiter, AsyncContext, Context, Handler, Message, Recipient,
    Supervised, WeakAddr,
};
use futures_util::FutureExt;

use crate::client::{Reply, TransportError};
use crate::config::{
    BreakerSettings, CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings,
    SupervisionSettings,
};
use crate::detect::{DetectorActor, DetectorSet, Measurements};
use crate::messages::CircuitState;
use crate::messages::{
    Anomaly, Crash, MaintenanceStatus, Measurement, Metric, Name, Outcome, Ping, SeriesKey,
    Timestamp,
};
use crate::metrics::{EndpointMetrics, Gauge, Metrics};
use crate::probe::breaker::{Admission, CircuitBreaker, Transition};
use crate::probe::confirm::{ConfirmBudget, Confirmation, Seen};
use crate::probe::exchange::{Answer, Verdict, judge};
use crate::probe::http::{ProbeClient, Target};
use crate::probe::schedule::{FixedRate, Spread};
use crate::supervision::{RestartTracker, guard, panic_text};
use crate::timer::EarliestTimer;

mod reconfigure;
mod stream_health;

pub use reconfigure::Reconfigure;

/// Back-off after a rate-limit answer that did not say how long to wait.
pub const DEFAULT_RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(60);

/// The longest back-off honoured: Binance bans last up to three days, but an absurd
/// `Retry-After` must not silence an exchange for longer (nor overflow the clock).
pub const MAX_RATE_LIMIT_BACKOFF: Duration = Duration::from_secs(3 * 86_400);

/// Stops all probing (at shutdown). The actor stays alive but idle.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopProbing;

/// Probes allowed in flight per connection (the rest wait for one in the client) before a scheduled
/// slot is skipped and counted late.
pub const QUEUE_DEPTH: usize = 4;

/// Due entries closer than this to the timer's wake-up are served in the same wake-up.
const TICK_SLACK: Duration = Duration::from_millis(1);

/// What a timer entry is due for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// The endpoint's next scheduled slot.
    Slot,
    /// A confirmation re-probe.
    Confirm,
}

/// One entry of the timer heap: when, which endpoint, what for.
type TimerEntry = Reverse<(Instant, usize, Due)>;

/// Per-endpoint state: what a probe reads of its settings, its schedule and metric handles.
/// Its series keys are made from the exchange's and its own name as measurements are sent (the
/// same two reference counts a stored key's clone takes): three stored keys were 120 of its
/// 440 B.
struct Endpoint {
    settings: ProbeSettings,
    schedule: FixedRate,
    /// Offset of the first slot from the (re)start, spreading endpoints over their interval,
    /// in nanoseconds (less than the interval; 8 B where a `Duration` takes 16: the endpoint
    /// is 176 B).
    phase_ns: u64,
    /// The GET of its URL, prepared once; the error when the URL is not one the client can
    /// probe (every probe then reports it).
    target: Result<Rc<Target>, TransportError>,
    /// The metric of its third series (clock skew for `time`, price for `ticker`), if any.
    extra: Option<Metric>,
    /// Probes by outcome, scheduled, late, confirmation and duration: one shared allocation.
    metrics: Arc<EndpointMetrics>,
    confirm: Confirmation,
}

/// What a probe reads of an endpoint's settings. The rest (its URL, symbol, confirmation
/// settings) lives on in the monitor's settings, which a reload diffs against, and in the
/// prepared [`Target`] and [`Confirmation`]: the whole settings here were a second copy, 136 B
/// and their URL's allocation per endpoint. Its interval is its schedule's.
#[derive(Debug)]
struct ProbeSettings {
    name: Name,
    timeout: Duration,
    max_body_bytes: usize,
    check: CheckProfile,
    kind: EndpointKind,
}

impl ProbeSettings {
    fn of(e: &EndpointSettings) -> Self {
        Self {
            name: e.name.clone(),
            timeout: e.timeout,
            max_body_bytes: e.max_body_bytes,
            check: e.check,
            kind: e.kind,
        }
    }
}

impl Endpoint {
    /// Its series of `metric`, on `exchange`.
    fn series(&self, exchange: &Name, metric: Metric) -> SeriesKey {
        SeriesKey {
            exchange: exchange.clone(),
            endpoint: self.settings.name.clone(),
            metric,
        }
    }

    /// The offset of its first slot from the (re)start.
    fn phase(&self) -> Duration {
        Duration::from_nanos(self.phase_ns)
    }
}

/// What one probe brought back.
#[derive(Debug)]
struct ProbeResult {
    started_wall: Timestamp,
    elapsed: Duration,
    answer: Result<Reply, TransportError>,
}

/// A probe's answer, back from its task: endpoint, breaker ticket, the actor epoch that sent
/// it, and the result (`Err`: the probe's task panicked, with the panic's text).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ProbeDone {
    endpoint: usize,
    ticket: u64,
    epoch: u64,
    result: Result<ProbeResult, String>,
}

/// Probes one exchange. See the module docs.
///
/// It sits inline in its tokio task's allocation (with its context, ≈ 0.35 KB; a task is
/// allocated in 128 B steps), so what it seldom needs is derived or built when needed: the
/// exchange's name is its settings', the `availability` series key is made at a breaker
/// transition, the restart tracker at the first restart.
pub struct ProbeActor {
    /// The exchange's name, and of its settings what is not its endpoints' (those are in
    /// `endpoints`) and not `[exchanges.*]`'s signing windows (the detectors' business),
    /// instead of a copy of the whole settings (88 B of the actor, which sits in its task).
    exchange: Name,
    max_connections: usize,
    confirm_per_minute: u32,
    client: ProbeClient,
    breaker: CircuitBreaker,
    backoff_until: Option<Instant>,
    endpoints: Vec<Endpoint>,
    breaker_gauge: Gauge,
    detectors: DetectorSet,
    /// The exchange's detector, on this actor's arbiter (unless one already ran elsewhere):
    /// each probe's measurements go to it as one message ([`DetectorSet::send_batch`]).
    shard: Addr<DetectorActor>,
    stopped: bool,
    /// Built at the first restart; its counter is registered (at 0) from the start.
    restarts: Option<Box<RestartTracker>>,
    /// What the restart tracker is built from.
    supervision: SupervisionSettings,
    /// Shared by the probes, as `maintenance`: a recipient's clone is three allocations
    /// (≈ 96 B).
    escalate: Option<Arc<Recipient<Anomaly>>>,
    /// Where status-endpoint readings go (the Router), if anywhere.
    maintenance: Option<Arc<Recipient<MaintenanceStatus>>>,
    /// Re-probes left this minute, all endpoints together.
    confirm_budget: ConfirmBudget,
    /// Probes sent and not yet answered (re-probes wait for a free connection).
    in_flight: usize,
    /// Every endpoint's next slot and every pending re-probe, earliest first.
    timers: BinaryHeap<TimerEntry>,
    /// The one actix timer, armed for the earliest entry of `timers`.
    armed: EarliestTimer<Instant>,
    /// True while the timer's callback drains the heap (it re-arms once, at the end).
    ticking: bool,
    /// Bumped at each restart: answers of probes sent before it are dropped.
    epoch: u64,
    /// This actor's own address, for the probes' answers (weak: it keeps nothing alive).
    me: Option<WeakAddr<Self>>,
    /// The registry, for the endpoints a reload adds.
    metrics: Arc<Metrics>,
}

/// The endpoint of exchange-wide series (`availability`), shared by every exchange's.
static ANY_ENDPOINT: LazyLock<Name> = LazyLock::new(|| Name::from("*"));

/// The name of an exchange's probe in restart accounting.
fn restart_name(exchange: &str) -> String {
    format!("probe:{exchange}")
}

/// The endpoints of `settings`, their schedules starting at `now` (unspread).
fn endpoints_of(
    settings: &ExchangeSettings,
    breaker: &BreakerSettings,
    metrics: &Arc<Metrics>,
    now: Instant,
) -> Vec<Endpoint> {
    let exchange = &settings.name;
    settings
        .endpoints
        .iter()
        .map(|e| {
            let extra = match e.kind {
                EndpointKind::Time => Some(Metric::ClockSkewMs),
                EndpointKind::Ticker => Some(Metric::Price),
                EndpointKind::Health | EndpointKind::Status => None,
            };
            Endpoint {
                schedule: FixedRate::new(now, e.interval),
                phase_ns: 0,
                target: Target::get(&e.url).map(Rc::new),
                extra,
                metrics: metrics.endpoint(exchange, &e.name),
                confirm: Confirmation::new(
                    e.confirm_interval.min(e.interval),
                    e.confirm_probes.unwrap_or(breaker.failure_threshold),
                ),
                settings: ProbeSettings::of(e),
            }
        })
        .collect()
}

/// The prepared GETs of `endpoints` (those whose URL the client can probe).
fn targets(endpoints: &[Endpoint]) -> impl Iterator<Item = &Target> {
    endpoints.iter().filter_map(|e| e.target.as_deref().ok())
}

impl ProbeActor {
    /// A probe of `settings`' exchange. Call inside the arbiter it will run on (it builds
    /// its HTTP client there).
    pub fn new(
        settings: ExchangeSettings,
        breaker: &BreakerSettings,
        supervision: &SupervisionSettings,
        detectors: DetectorSet,
        metrics: &Arc<Metrics>,
        escalate: Option<Arc<Recipient<Anomaly>>>,
    ) -> Self {
        let now = Instant::now();
        let endpoints = endpoints_of(&settings, breaker, metrics, now);
        // Room for each endpoint's next slot, which is what it holds between failures (a
        // first push would make room for four: 96 B more per one-endpoint exchange).
        let timers = BinaryHeap::with_capacity(endpoints.len());
        let exchange = &settings.name;
        let breaker_gauge = metrics.gauge("exwatch_breaker_state", &[("exchange", exchange)]);
        RestartTracker::register(&restart_name(exchange), metrics);
        breaker_gauge.set(0.0);
        Self {
            client: ProbeClient::for_targets(settings.max_connections, targets(&endpoints)),
            breaker: CircuitBreaker::new(breaker),
            backoff_until: None,
            endpoints,
            breaker_gauge,
            shard: detectors.shard_on(exchange, &Arbiter::current()),
            detectors,
            stopped: false,
            maintenance: None,
            confirm_budget: ConfirmBudget::new(settings.confirm_per_minute, now),
            in_flight: 0,
            timers,
            armed: EarliestTimer::default(),
            ticking: false,
            epoch: 0,
            me: None,
            metrics: metrics.clone(),
            restarts: None,
            supervision: supervision.clone(),
            escalate,
            exchange: settings.name,
            max_connections: settings.max_connections,
            confirm_per_minute: settings.confirm_per_minute,
        }
    }

    /// Sends every successful status-endpoint reading to `to` (the Router, which silences the
    /// exchange's alerts during announced maintenance).
    pub fn with_maintenance(mut self, to: Arc<Recipient<MaintenanceStatus>>) -> Self {
        self.maintenance = Some(to);
        self
    }

    /// Spreads the first slots: endpoint `j` of this exchange starts
    /// [`Spread::phase`]`(j, endpoints, interval)` after the start (less than its interval;
    /// a millisecond apart for small configs), so that neither this exchange's connections
    /// nor the monitor as a whole see its endpoints fall due together.
    pub fn with_phase(mut self, spread: Spread) -> Self {
        self.spread(spread);
        self
    }

    /// Sets each endpoint's phase and restarts its schedule from now (see `with_phase`).
    fn spread(&mut self, spread: Spread) {
        let n = self.endpoints.len();
        for (j, ep) in self.endpoints.iter_mut().enumerate() {
            let phase = spread.phase(j, n, ep.schedule.interval());
            ep.phase_ns = u64::try_from(phase.as_nanos()).unwrap_or(u64::MAX);
            ep.schedule = FixedRate::new(Instant::now() + ep.phase(), ep.schedule.interval());
        }
    }

    /// Queues endpoint `i`'s next slot.
    fn arm(&mut self, i: usize) {
        let next = self.endpoints[i].schedule.next_slot();
        self.timers.push(Reverse((next, i, Due::Slot)));
    }

    /// Makes sure the one actix timer goes off for the earliest entry of the heap.
    fn rearm(&mut self, ctx: &mut Context<Self>) {
        if self.ticking {
            return;
        }
        let Some(&Reverse((next, _, _))) = self.timers.peek() else {
            return;
        };
        let wait = next.saturating_duration_since(Instant::now());
        self.armed.arm(
            ctx,
            next,
            wait,
            |act| &mut act.armed,
            |act, ctx| {
                guard(act, ctx, "probe", |act, ctx| act.on_tick(ctx));
            },
        );
    }

    /// The timer went off: serves every entry that is due, then re-arms.
    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        self.ticking = true;
        let horizon = Instant::now() + TICK_SLACK;
        while let Some(&Reverse((at, i, due))) = self.timers.peek() {
            if at > horizon || self.stopped {
                break;
            }
            self.timers.pop();
            match due {
                Due::Slot => self.on_slot(i),
                Due::Confirm => self.on_confirm(i),
            }
        }
        self.ticking = false;
        if !self.stopped {
            self.rearm(ctx);
        }
    }

    fn on_slot(&mut self, i: usize) {
        if self.stopped {
            return;
        }
        let now = Instant::now();
        let ep = &mut self.endpoints[i];
        let fired = ep.schedule.fire(now);
        ep.metrics.scheduled(1 + fired.missed);
        // Slots that passed while we could not run are counted as late, never silently lost.
        let late = fired.missed + u64::from(fired.is_late());
        ep.metrics.late(late);
        if late > 0 {
            tracing::debug!(exchange = %self.exchange, endpoint = %ep.settings.name, lateness = ?fired.lateness, missed = fired.missed, "Probe late.");
        }
        self.arm(i);

        if let Some(until) = self.backoff_until {
            if now < until {
                return; // The exchange asked us to wait; do not hammer it.
            }
            self.backoff_until = None;
        }
        if self.in_flight >= QUEUE_DEPTH * self.max_connections {
            // Every connection is busy and the queue behind them is deep: a probe sent now would
            // time our own queue, not the exchange (and an unbounded queue collapses into
            // timeouts). The slot is skipped, and counted late (unless it already was).
            if !fired.is_late() {
                self.endpoints[i].metrics.late(1);
            }
            tracing::debug!(exchange = %self.exchange, endpoint = %self.endpoints[i].settings.name, "All connections busy; slot skipped.");
            return;
        }
        let (admission, transition) = self.breaker.try_acquire(now);
        if let Some(t) = transition {
            self.on_transition(t);
        }
        if let Admission::Rejected = admission {
            let ep = &mut self.endpoints[i];
            ep.confirm.observe(Seen::Neutral, now);
            ep.metrics.outcome(Outcome::BreakerOpen);
            let series = ep.series(&self.exchange, Metric::Errors);
            self.detectors.send_to(
                &self.shard,
                Measurement {
                    series,
                    value: 1.0,
                    outcome: Outcome::BreakerOpen,
                    status: 0,
                    at: Timestamp::now(),
                },
            );
            return;
        }
        let ticket = self.breaker.generation();
        self.probe(i, ticket);
    }

    /// Queues endpoint `i`'s next confirmation re-probe, due `at`.
    fn arm_confirm(&mut self, i: usize, at: Instant) {
        self.timers.push(Reverse((at, i, Due::Confirm)));
    }

    /// A confirmation re-probe of endpoint `i` is due: send it if the exchange lets us.
    fn on_confirm(&mut self, i: usize) {
        if self.stopped || !self.endpoints[i].confirm.fire() {
            return;
        }
        let now = Instant::now();
        let backing_off = self.backoff_until.is_some_and(|until| now < until);
        // Half-open trials are the breaker's business; open means "do not send".
        if backing_off || self.breaker.state() != CircuitState::Closed {
            self.endpoints[i].confirm.abandon();
            return;
        }
        if self.in_flight >= self.max_connections {
            if let Some(at) = self.endpoints[i].confirm.skip(now) {
                self.arm_confirm(i, at);
            }
            return;
        }
        if !self.confirm_budget.try_take(now) {
            tracing::debug!(exchange = %self.exchange, endpoint = %self.endpoints[i].settings.name, "Confirmation budget spent; back to the schedule.");
            self.endpoints[i].confirm.abandon();
            return;
        }
        let (admission, transition) = self.breaker.try_acquire(now);
        if let Some(t) = transition {
            self.on_transition(t);
        }
        if !admission.is_admitted() {
            self.endpoints[i].confirm.abandon();
            return;
        }
        self.endpoints[i].metrics.confirmed();
        let ticket = self.breaker.generation();
        self.probe(i, ticket);
    }

    /// Sends the probe as its own task on this arbiter; its answer comes back as a
    /// [`ProbeDone`]. `ticket` is the breaker generation that admitted it.
    fn probe(&mut self, i: usize, ticket: u64) {
        let Some(me) = self.me.clone() else {
            return;
        };
        self.in_flight += 1;
        let ep = &self.endpoints[i];
        let (max_body, deadline, epoch) =
            (ep.settings.max_body_bytes, ep.settings.timeout, self.epoch);
        let started_wall = Timestamp::now();
        // The exchange's future (pool wait, connection and timer state) is boxed: the task's
        // own future stays small, and the runtime moves it around several times per probe
        // (callgrind: ≈ −0.8 K instructions per probe for one allocation; benches/RESULTS.md).
        let fetch: Pin<Box<dyn Future<Output = Result<Reply, TransportError>>>> = match &ep.target {
            Ok(target) => Box::pin(self.client.get(target.clone(), max_body, deadline)),
            Err(e) => Box::pin(std::future::ready(Err(e.clone()))),
        };
        actix_rt::spawn(async move {
            let start = Instant::now();
            let answer = AssertUnwindSafe(fetch).catch_unwind().await;
            let result = answer
                .map(|answer| ProbeResult {
                    started_wall,
                    elapsed: start.elapsed(),
                    answer,
                })
                .map_err(|payload| panic_text(&*payload).to_owned());
            if let Some(me) = me.upgrade() {
                me.do_send(ProbeDone {
                    endpoint: i,
                    ticket,
                    epoch,
                    result,
                });
            }
        });
    }

    fn on_result(&mut self, i: usize, ticket: u64, result: ProbeResult) {
        if self.stopped {
            return;
        }
        let now = Instant::now();
        let ep = &self.endpoints[i];
        let verdict = match &result.answer {
            Ok(reply) => judge(
                ep.settings.check,
                ep.settings.kind,
                &Answer {
                    status: reply.status,
                    retry_after: reply.retry_after,
                    body: &reply.body,
                },
            ),
            Err(e) => Verdict::fail(
                match e {
                    TransportError::Timeout => Outcome::Timeout,
                    TransportError::TooLarge(_) => Outcome::BadBody,
                    TransportError::Connect(_) | TransportError::Request(_) => Outcome::Connect,
                },
                e.to_string(),
            ),
        };
        let status = result.answer.as_ref().map(|r| r.status).unwrap_or(0);
        let latency_ms = result.elapsed.as_secs_f64() * 1e3;
        let at = result.started_wall;
        ep.metrics.outcome(verdict.outcome);
        ep.metrics.observe_duration(result.elapsed.as_secs_f64());
        if !verdict.outcome.is_ok() {
            tracing::debug!(exchange = %self.exchange, endpoint = %ep.settings.name, outcome = %verdict.outcome, status, detail = verdict.detail.as_deref().unwrap_or(""), "Probe failed.");
        }

        // One message to the exchange's detector for the whole probe (at most three).
        let mut batch = Measurements::new();
        let exchange = &self.exchange;
        let mut add = |m: Measurement| {
            if let Err(m) = batch.push(m) {
                self.detectors.send(m);
            }
        };
        add(Measurement {
            series: ep.series(exchange, Metric::Errors),
            value: if verdict.outcome.is_ok() { 0.0 } else { 1.0 },
            outcome: verdict.outcome,
            status,
            at,
        });
        if verdict.outcome.is_ok() {
            add(Measurement::ok(
                ep.series(exchange, Metric::LatencyMs),
                latency_ms,
                at,
            ));
            if let (Some(metric), Some(server_ms)) = (ep.extra, verdict.server_time_ms) {
                // Local time at the middle of the round trip, against the server's clock.
                let local_mid = at.as_millis() as f64 + latency_ms / 2.0;
                add(Measurement::ok(
                    ep.series(exchange, metric),
                    server_ms as f64 - local_mid,
                    at,
                ));
            }
            if let (Some(metric), Some(price)) = (ep.extra, verdict.price) {
                add(Measurement::ok(ep.series(exchange, metric), price, at));
            }
        }
        self.detectors.send_batch(&self.shard, batch);

        if verdict.maintenance {
            tracing::info!(exchange = %self.exchange, endpoint = %ep.settings.name, detail = verdict.detail.as_deref().unwrap_or(""), "Exchange announces maintenance in progress.");
        }
        if let (EndpointKind::Status, Outcome::Ok, Some(to)) =
            (ep.settings.kind, verdict.outcome, &self.maintenance)
        {
            to.do_send(MaintenanceStatus {
                exchange: self.exchange.clone(),
                ongoing: verdict.maintenance,
                until: verdict.maintenance_until_ms.map(Timestamp),
                detail: if verdict.maintenance {
                    verdict.detail.clone().unwrap_or_default()
                } else {
                    String::new()
                },
                at,
            });
        }
        // A result admitted under an earlier breaker state says nothing about the current one.
        let current = ticket == self.breaker.generation();
        if verdict.outcome == Outcome::RateLimited {
            let wait = verdict
                .retry_after
                .unwrap_or(DEFAULT_RATE_LIMIT_BACKOFF)
                .min(MAX_RATE_LIMIT_BACKOFF);
            tracing::warn!(exchange = %self.exchange, wait = ?wait, "Rate limited; backing off.");
            self.backoff_until = Some(now + wait);
        }
        let transition = match verdict.outcome {
            _ if !current => None,
            Outcome::Ok => self.breaker.on_success(now),
            Outcome::RateLimited => {
                self.breaker.on_neutral();
                None
            }
            _ => self.breaker.on_failure(now),
        };
        if let Some(t) = transition {
            self.on_transition(t);
        }
        let seen = match verdict.outcome {
            Outcome::Ok => Seen::Ok,
            Outcome::RateLimited | Outcome::BreakerOpen => Seen::Neutral,
            _ => Seen::Failure,
        };
        if let Some(at) = self.endpoints[i].confirm.observe(seen, now) {
            self.arm_confirm(i, at);
        }
    }

    fn on_transition(&mut self, t: Transition) {
        tracing::warn!(exchange = %self.exchange, from = t.from.as_str(), to = t.to.as_str(), "Circuit breaker changed state.");
        self.breaker_gauge.set(t.to.as_value());
        self.detectors.send_to(
            &self.shard,
            Measurement::ok(
                SeriesKey::new(
                    self.exchange.clone(),
                    ANY_ENDPOINT.clone(),
                    Metric::Availability,
                ),
                t.to.as_value(),
                Timestamp::now(),
            ),
        );
    }
}

impl Actor for ProbeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.me = Some(ctx.address().downgrade());
        for i in 0..self.endpoints.len() {
            self.arm(i);
        }
        self.rearm(ctx);
    }
}

impl Supervised for ProbeActor {
    /// The timer died with the old context and the answers of probes in flight will be
    /// dropped: restart every schedule from now, and give those probes' half-open trial slots
    /// back. The breaker and the rate-limit back-off are kept.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        let (name, supervision, metrics) = (&self.exchange, &self.supervision, &self.metrics);
        let tracker = self.restarts.get_or_insert_with(|| {
            Box::new(RestartTracker::new(
                Name::from(restart_name(name)),
                supervision,
                metrics,
                self.escalate.as_deref().cloned(),
            ))
        });
        tracker.record(Instant::now());
        // A lost trial never answers; holding its slot would keep the breaker half-open,
        // rejecting every probe, forever.
        self.breaker.abandon_trials();
        let now = Instant::now();
        // The timer died with the old context. Probes still out run on as tasks and hold their
        // connections until they answer, so they keep counting in flight; their answers are
        // dropped (their epoch is over).
        self.epoch += 1;
        self.armed.forget();
        self.ticking = false;
        self.timers.clear();
        for ep in &mut self.endpoints {
            ep.schedule = FixedRate::new(now + ep.phase(), ep.schedule.interval());
            ep.confirm.abandon();
        }
    }
}

impl Handler<ProbeDone> for ProbeActor {
    type Result = ();

    fn handle(&mut self, done: ProbeDone, ctx: &mut Context<Self>) {
        // Whatever the answer, its connection is free again.
        self.in_flight = self.in_flight.saturating_sub(1);
        if done.epoch != self.epoch {
            return; // Sent before a restart: its breaker trial was given back already.
        }
        match done.result {
            Ok(result) => {
                guard(self, ctx, "probe", |act, ctx| {
                    act.on_result(done.endpoint, done.ticket, result);
                    act.rearm(ctx);
                });
            }
            Err(panic) => {
                tracing::error!(actor = "probe", panic, "Actor panicked; restarting.");
                ctx.stop();
            }
        }
    }
}

impl Handler<StopProbing> for ProbeActor {
    type Result = ();

    fn handle(&mut self, _: StopProbing, _: &mut Context<Self>) {
        self.stopped = true;
        tracing::info!(exchange = %self.exchange, "Probing stopped.");
    }
}

impl Handler<Crash> for ProbeActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        guard(self, ctx, "probe", |_, _| {
            panic!("fault injected by a Crash message")
        });
    }
}

impl Handler<Ping> for ProbeActor {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}
