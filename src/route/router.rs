//! The RouterActor: one per monitor, a thin shell around [`RouterCore`], the Router's pure
//! policy (dedup, the gates and their order, silences, acknowledgements: see its module docs).
//! Accepts [`Anomaly`], [`Resolved`], [`MaintenanceStatus`] and [`Triage`] from detectors,
//! probes and triage, hands each to the core with its event time, and carries out the
//! [`Decision`]s it returns, in order: store writes, [`Alert`]s to the channels through
//! `Recipient<Alert>` (a slow channel queues in its own actor and never slows the Router),
//! metrics and logs. It owns what the core must not: the recipients, the store's address, the
//! timers (the flap-hold tick, the silence timer: the only places the Router reads the clock),
//! the metrics, and the subscribers to every raw anomaly and resolution (an embedding trading
//! engine).
//!
//! With an event store ([`RouterActor::with_store`]), each alert is first queued at the store
//! as one [`Enqueue`] (the alert and a pending delivery per durable channel), then handed to
//! the channels at once: the first attempt does not wait for the write's fsync. Nothing is
//! lost by not waiting: until the commit the alert lives only in memory either way, and each
//! channel's delivery reports reach the store's one mailbox after the [`Enqueue`] (queued
//! before the channel saw the alert), so a delivery the channel could not make stays pending
//! and is resumed after a restart. The anomalies the Router alerts on (first of an episode,
//! escalations, reminders) and every resolution are recorded too.
//!
//! A restart keeps the core: it is the Router's whole memory (dedup table, inhibitions,
//! silences), and losing it would repeat or lose alerts. Held resolutions are not kept across
//! a shutdown.

use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message, Recipient, SpawnHandle, Supervised};

use crate::config::SupervisionSettings;
use crate::messages::{
    Alert, AlertKind, Anomaly, Crash, MaintenanceStatus, Name, Ping, Resolved, Severity, Timestamp,
    Triage,
};
use crate::metrics::{Counter, Gauge, Metrics};
use crate::route::core::{RouterCore, Target};
use crate::route::decision::{Decision, Dispatch, Dropped, Why};
use crate::route::silence::Silence;
use crate::store::{Enqueue, RecordAnomaly, RecordResolved, RecordSilenced, StoreActor};
use crate::supervision::{RestartTracker, guard};
use crate::timer::EarliestTimer;

mod groups;
mod reconfigure;
mod silences;
pub use reconfigure::{ForgetSeries, Reconfigure, RemoveRoute};
pub use silences::{Ack, AddSilence, ExpireSilence, ListSilences};

/// One channel as the Router sees it.
#[derive(Clone)]
pub struct Route {
    /// The channel's name (the `channel` label of the metrics).
    pub name: Name,
    /// Alerts below this severity are not sent to it.
    pub min_severity: Severity,
    /// Whether triage follow-ups go to it (human channels: yes; the triage stage: no).
    pub wants_triage: bool,
    /// Whether it is told when an incident is acknowledged (platforms that track incidents
    /// themselves, such as PagerDuty).
    pub wants_acks: bool,
    /// Whether it takes group messages rather than each series' alerts (`[router] group_by`;
    /// the channel kind says, see [`crate::channel::registry::KindInfo::grouped`]).
    pub grouped: bool,
    /// Whether the event store keeps a pending delivery for it until it reports the alert
    /// delivered (a `ChannelActor`); in-process recipients are not durable.
    pub durable: bool,
    /// Its actor.
    pub recipient: Recipient<Alert>,
}

/// Adds a channel to the Router.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddRoute(pub Route);

/// Subscribes a recipient to every anomaly the detectors report (before deduplication).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Subscribe(pub Recipient<Anomaly>);

/// Subscribes a recipient to every resolution the detectors report (before deduplication and
/// flap hold): with [`Subscribe`], an embedding engine sees each series' episodes begin and end.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SubscribeResolved(pub Recipient<Resolved>);

/// A route's actor and counters; its index is the core's for it.
struct RouteState {
    route: Route,
    firing: Counter,
    resolved: Counter,
    triage: Counter,
    acknowledged: Counter,
}

/// Carries out the decisions of a [`RouterCore`].
pub struct RouterActor {
    core: RouterCore,
    routes: Vec<RouteState>,
    subscribers: Vec<Recipient<Anomaly>>,
    resolved_subscribers: Vec<Recipient<Resolved>>,
    metrics: std::sync::Arc<Metrics>,
    restarts: RestartTracker,
    store: Option<actix::Addr<StoreActor>>,
    /// The timer at the nearest end of a silence.
    silence_timer: Option<SpawnHandle>,
    silenced_total: Counter,
    silences_active: Gauge,
    /// The flap-hold tick runs (armed once per actor start, see `start_flap_tick`).
    flap_ticking: bool,
    /// Due times of the holds still pending, earliest first: one timer is armed at the
    /// earliest ([`RouterActor::arm_holds`]). A timer per hold made every message poll every
    /// armed timer (actix polls all of a context's futures on each wake), quadratic in a
    /// storm of held resolutions: thousands per fault in the soak bench.
    holds_due: std::collections::BTreeSet<Timestamp>,
    /// The timer at the earliest pending hold.
    hold_timer: EarliestTimer<Timestamp>,
    /// The timer at the next group message due.
    group_timer: EarliestTimer<Timestamp>,
}

impl RouterActor {
    /// A Router for the monitor of `region`.
    pub fn new(
        region: Name,
        dedup_window: Duration,
        supervision: &SupervisionSettings,
        metrics: std::sync::Arc<Metrics>,
    ) -> Self {
        Self {
            core: RouterCore::new(region, dedup_window),
            routes: Vec::new(),
            subscribers: Vec::new(),
            resolved_subscribers: Vec::new(),
            restarts: RestartTracker::new(Name::from("router"), supervision, &metrics, None),
            store: None,
            silence_timer: None,
            silenced_total: metrics.counter("exwatch_alerts_silenced_total", &[]),
            silences_active: metrics.gauge("exwatch_silences_active", &[]),
            flap_ticking: false,
            holds_due: std::collections::BTreeSet::new(),
            hold_timer: EarliestTimer::default(),
            group_timer: EarliestTimer::default(),
            metrics,
        }
    }

    /// How many exchanges the monitor probes (see [`RouterCore::with_exchanges`]).
    pub fn with_exchanges(mut self, exchanges: usize) -> Self {
        self.core = self.core.with_exchanges(exchanges);
        self
    }

    /// Holds resolutions for `hold` (`[router] flap_hold`, see [`RouterCore::with_flap_hold`]).
    pub fn with_flap_hold(mut self, hold: Duration) -> Self {
        self.core = self.core.with_flap_hold(hold);
        self
    }

    /// Holds each exchange's down for `hold` (`[router] correlation_hold`, see
    /// [`RouterCore::with_correlation_hold`]).
    pub fn with_correlation_hold(mut self, hold: Duration) -> Self {
        self.core = self.core.with_correlation_hold(hold);
        self
    }

    /// Groups alerts by `by` (`[router] group_by`; empty: off), with updates at most every
    /// `interval` (see [`RouterCore::with_grouping`]).
    pub fn with_grouping(
        mut self,
        by: Vec<crate::route::group::GroupField>,
        interval: Duration,
    ) -> Self {
        self.core = self.core.with_grouping(by, interval);
        self
    }

    /// Sends alerts through the event store (see the module docs) and records anomalies in it.
    pub fn with_store(mut self, store: actix::Addr<StoreActor>) -> Self {
        self.store = Some(store);
        self
    }

    /// Starts with these silences (those kept in the store, at start).
    pub fn with_silences(mut self, silences: impl IntoIterator<Item = Silence>) -> Self {
        self.core = self.core.with_silences(silences);
        self
    }

    /// Carries out the core's decisions, in order.
    fn apply(&mut self, decisions: Vec<Decision>) {
        for d in decisions {
            match d {
                Decision::RecordAnomaly(a) => self.to_store(RecordAnomaly(a)),
                Decision::RecordResolved(r) => self.to_store(RecordResolved(r)),
                Decision::Send(dispatch) => self.dispatch(dispatch),
                Decision::Silence { alert, silence } => {
                    self.silenced_total.inc();
                    tracing::info!(alert = %alert.id, series = %alert.series(), silence = &*silence, "Alert silenced: recorded, not sent.");
                    self.to_store(RecordSilenced(alert));
                }
                Decision::Hold { series, until } => {
                    tracing::debug!(series = %series, until = %until, "Held (flap or correlation hold).");
                    self.holds_due.insert(until);
                }
                Decision::Drop(Dropped::UnknownAlert { alert_id }) => {
                    tracing::warn!(alert = %alert_id, "Triage for an unknown alert; dropped.");
                }
                Decision::Drop(dropped) => tracing::trace!(?dropped, "Not sent."),
            }
        }
    }

    fn to_store<M>(&self, m: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        StoreActor: Handler<M>,
    {
        if let Some(store) = &self.store {
            store.do_send(m);
        }
    }

    /// Sends an alert to its routes, after queueing its record (with a pending delivery per
    /// durable channel) at the store, if there is one. The alert does not wait for the write
    /// (an fsync on a file store): see the module docs for why nothing is lost.
    fn dispatch(&self, Dispatch { alert, routes, why }: Dispatch) {
        match why {
            Why::Connectivity => tracing::warn!(kind = alert.kind.as_str(), "{}", alert.message),
            Why::Maintenance => {
                tracing::info!(exchange = %alert.exchange, kind = alert.kind.as_str(), "{}", alert.message);
            }
            Why::LetOut => {
                tracing::info!(alert = %alert.id, series = %alert.series(), "Silence over while still firing: alert sent.");
            }
            _ => {}
        }
        let targets: Vec<&RouteState> = routes.iter().filter_map(|&i| self.routes.get(i)).collect();
        for r in &targets {
            match alert.kind {
                AlertKind::Firing => r.firing.inc(),
                AlertKind::Resolved => r.resolved.inc(),
                AlertKind::Triage => r.triage.inc(),
                AlertKind::Acknowledged => r.acknowledged.inc(),
            }
        }
        if let Some(store) = &self.store {
            let channels = targets
                .iter()
                .filter(|r| r.route.durable)
                .map(|r| r.route.name.clone())
                .collect();
            store.do_send(Enqueue {
                alert: alert.clone(),
                channels,
            });
        }
        // do_send: the channel's handler only queues the alert, so its mailbox drains as fast
        // as it fills; the durable queue is the store's.
        for r in targets {
            r.route.recipient.do_send(alert.clone());
        }
    }

    fn on_anomaly(&mut self, a: Anomaly) {
        self.subscribers.retain(|s| s.connected());
        for s in &self.subscribers {
            s.do_send(a.clone());
        }
        let decisions = self.core.on_anomaly(a);
        self.apply(decisions);
    }

    fn on_resolved(&mut self, r: Resolved) {
        self.resolved_subscribers.retain(|s| s.connected());
        for s in &self.resolved_subscribers {
            s.do_send(r.clone());
        }
        let decisions = self.core.on_resolved(r);
        self.apply(decisions);
    }
}

impl Actor for RouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // The Router reports its own crash loops to itself: its address survives restarts.
        self.restarts
            .set_escalation(ctx.address().recipient::<Anomaly>());
        ctx.set_mailbox_capacity(1024);
        self.schedule_silence_timer(ctx);
        self.start_flap_tick(ctx);
        // After a restart, the downs still held need their timer again.
        self.holds_due.extend(self.core.next_held_down());
        self.arm_timers(ctx);
    }
}

impl RouterActor {
    /// Starts the wall-clock tick that releases held resolutions, once per actor start, when
    /// there is a flap hold (a reload may bring one).
    fn start_flap_tick(&mut self, ctx: &mut Context<Self>) {
        if self.flap_ticking {
            return;
        }
        if let Some(tick) = self.core.tick_every() {
            self.flap_ticking = true;
            // Held resolutions are due on event time, but a recovered exchange may send the
            // Router nothing more: a wall-clock tick releases them. Live, event time is wall
            // time; a replayed past is released at once.
            ctx.run_interval(tick, |act, ctx| {
                guard(act, ctx, "router", |act, ctx| {
                    let decisions = act.core.on_tick(Timestamp::now());
                    act.apply(decisions);
                    act.arm_timers(ctx);
                });
            });
        }
    }
}

impl RouterActor {
    /// After each batch of decisions: arms the timers they call for (held downs, the next
    /// group message). Every handler that applies decisions ends with this.
    pub(super) fn arm_timers(&mut self, ctx: &mut Context<Self>) {
        self.arm_holds(ctx);
        self.schedule_group_timer(ctx);
    }

    /// Keeps one timer armed at the earliest pending hold (a correlation hold's down must not
    /// wait for a coarse tick): when it goes off, the core releases what is due then (and
    /// extends what it extends, adding their new due times), and the timer moves to the next.
    fn arm_holds(&mut self, ctx: &mut Context<Self>) {
        let Some(&next) = self.holds_due.first() else {
            return;
        };
        let wait = next.since(Timestamp::now());
        self.hold_timer.arm(
            ctx,
            next,
            wait,
            |act| &mut act.hold_timer,
            move |act, ctx| {
                guard(act, ctx, "router", |act, ctx| {
                    // Everything due by now goes, `next` included: wall time may lag the event
                    // time a hair.
                    let now = Timestamp::now().max(next);
                    act.holds_due.retain(|&due| due > now);
                    let decisions = act.core.on_tick(now);
                    act.apply(decisions);
                    act.arm_timers(ctx);
                });
            },
        );
    }
}

impl Supervised for RouterActor {
    /// Nothing is rebuilt: the core and the routes are kept (see the module docs).
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record(actix::clock::Instant::now());
        // A restart drops the context's timers; `started` arms the tick again.
        self.flap_ticking = false;
        self.group_timer.forget();
        self.hold_timer.forget();
    }
}

impl Handler<Anomaly> for RouterActor {
    type Result = ();

    fn handle(&mut self, a: Anomaly, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, ctx| {
            act.on_anomaly(a);
            act.arm_timers(ctx);
        });
    }
}

impl Handler<Resolved> for RouterActor {
    type Result = ();

    fn handle(&mut self, r: Resolved, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, ctx| {
            act.on_resolved(r);
            act.arm_timers(ctx);
        });
    }
}

impl Handler<MaintenanceStatus> for RouterActor {
    type Result = ();

    fn handle(&mut self, s: MaintenanceStatus, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, ctx| {
            let decisions = act.core.on_maintenance(&s);
            act.apply(decisions);
            act.arm_timers(ctx);
        });
    }
}

impl Handler<Triage> for RouterActor {
    type Result = ();

    fn handle(&mut self, t: Triage, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, ctx| {
            let decisions = act.core.on_triage(t);
            act.apply(decisions);
            act.arm_timers(ctx);
        });
    }
}

impl Handler<AddRoute> for RouterActor {
    type Result = ();

    fn handle(&mut self, AddRoute(route): AddRoute, _: &mut Context<Self>) {
        let counter = |kind: AlertKind| {
            self.metrics.counter(
                "exwatch_alerts_total",
                &[("channel", &route.name), ("kind", kind.as_str())],
            )
        };
        let state = RouteState {
            firing: counter(AlertKind::Firing),
            resolved: counter(AlertKind::Resolved),
            triage: counter(AlertKind::Triage),
            acknowledged: counter(AlertKind::Acknowledged),
            route,
        };
        // A route with the name of an existing one replaces it (a live reload), in its place.
        let index = self.core.add_route(Target {
            name: state.route.name.clone(),
            min_severity: state.route.min_severity,
            wants_triage: state.route.wants_triage,
            wants_acks: state.route.wants_acks,
            grouped: state.route.grouped,
        });
        if index < self.routes.len() {
            self.routes[index] = state;
        } else {
            debug_assert_eq!(index, self.routes.len());
            self.routes.push(state);
        }
    }
}

impl Handler<Subscribe> for RouterActor {
    type Result = ();

    fn handle(&mut self, Subscribe(r): Subscribe, _: &mut Context<Self>) {
        self.subscribers.push(r);
    }
}

impl Handler<SubscribeResolved> for RouterActor {
    type Result = ();

    fn handle(&mut self, SubscribeResolved(r): SubscribeResolved, _: &mut Context<Self>) {
        self.resolved_subscribers.push(r);
    }
}

impl Handler<Crash> for RouterActor {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |_, _| {
            panic!("fault injected by a Crash message")
        });
    }
}

impl Handler<Ping> for RouterActor {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

impl Handler<crate::route::incidents::OpenIncidents> for RouterActor {
    type Result = crate::route::incidents::Incidents;

    fn handle(
        &mut self,
        _: crate::route::incidents::OpenIncidents,
        _: &mut Context<Self>,
    ) -> Self::Result {
        self.core.incidents()
    }
}
