//! The RouterActor: one per monitor. Accepts [`Anomaly`], [`Resolved`] and [`Triage`] from
//! detectors and triage; deduplicates by series ([`Dedup`]); builds [`Alert`]s and fans them
//! out to the channels whose `min_severity` they meet, through `Recipient<Alert>` (a slow
//! channel queues in its own actor and never slows the Router). It also forwards every raw
//! anomaly to subscribers (an embedding trading engine).
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
//! Inhibition: while an exchange's circuit breaker is open (its `availability` series is
//! firing), anomalies of its other series are symptoms of the same outage and are not
//! alerted; if they persist after the breaker closes, they alert then. No timers. A restart keeps the dedup
//! table and the routes: they are the Router's whole memory, and losing them would repeat or
//! lose alerts.
//!
//! Announced maintenance ([`MaintenanceStatus`], see [`crate::route::maintenance`]): while an
//! exchange announces maintenance in progress, its firing alerts are not sent (one info alert,
//! detector `maintenance` on `<exchange>/*/availability`, says so; a resolved one says when it
//! ended). Resolutions still go out: they close incidents the channels already heard of.
//! Series still anomalous after the window alert on their next anomaly, as dedup was not touched.
//!
//! Flapping control (`[router] flap_hold`, see [`Dedup`]): a resolution is held that long
//! before its resolved alert goes out, and dropped if the series fires again meanwhile. Held
//! resolutions are released on event time (any later message) and by a wall-clock tick. Held
//! resolutions are not kept across a shutdown.
//!
//! Our own network ([`crate::route::connectivity`]): when the circuits of every configured
//! exchange (at least two, see [`RouterActor::with_exchanges`]) are open at once, one critical
//! `monitor_connectivity` alert (exchange `exwatch`) goes out and the per-exchange firing alerts
//! are inhibited until any exchange answers again, which resolves it.
//!
//! Silences set by people ([`crate::route::silence`], `/api/v1/silences`; messages and the
//! logic in `router/silences.rs`): an alert due for a series an active silence matches (at
//! the anomaly's event time) is recorded in the store (`alerts.silenced = 1`) but sent to no
//! channel, and kept as the series' muted alert. When no silence covers the series any more
//! (the silence reached its end — noticed by a wall-clock timer at the nearest end, or by
//! any later message's event time — or was deleted) and the series is still firing, that
//! alert goes out then, with a fresh id and the time it was let out. A series that recovers
//! meanwhile lets nothing out; and an episode no channel ever heard of (silenced from its
//! first alert to its recovery) sends no resolved either. Resolutions of episodes the
//! channels did hear of still go out, as under maintenance. Maintenance stays its own,
//! exchange-wide mechanism: the exchange itself says when it ends.
//!
//! Acknowledgements ([`Ack`]): an acknowledged open incident gets no reminders; an escalation
//! to a higher severity still goes out, and so does its resolved. The ack lasts as long as
//! the episode.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message, Recipient, SpawnHandle, Supervised};

use crate::config::SupervisionSettings;
use crate::messages::{
    Alert, AlertKind, Anomaly, Crash, MaintenanceStatus, Metric, Name, Ping, Resolved, SeriesKey,
    Severity, Stats, Timestamp, Triage, new_id,
};
use crate::metrics::{Counter, Gauge, Metrics};
use crate::route::connectivity::{Connectivity, Edge, OWN_EXCHANGE};
use crate::route::dedup::{Dedup, Episode, Held, Verdict};
use crate::route::maintenance::{Change, MaintenanceBoard};
use crate::route::silence::{Silence, SilenceBoard};
use crate::store::{Enqueue, RecordAnomaly, RecordResolved, StoreActor};
use crate::supervision::{RestartTracker, guard};

mod reconfigure;
mod silences;

pub use reconfigure::{Reconfigure, RemoveRoute};
pub use silences::{Ack, AckError, AddSilence, ExpireSilence, Incident, ListSilences};

/// How many recent alerts the Router remembers, to attach triage follow-ups to them.
const RECENT_ALERTS: usize = 1024;

/// One channel as the Router sees it.
#[derive(Clone)]
pub struct Route {
    /// The channel's name (the `channel` label of the metrics).
    pub name: Name,
    /// Alerts below this severity are not sent to it.
    pub min_severity: Severity,
    /// Whether triage follow-ups go to it (human channels: yes; the triage channel: no).
    pub wants_triage: bool,
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

struct RouteState {
    route: Route,
    firing: Counter,
    resolved: Counter,
    triage: Counter,
}

/// Dedup, escalation and fan-out.
pub struct RouterActor {
    region: Name,
    dedup: Dedup,
    routes: Vec<RouteState>,
    subscribers: Vec<Recipient<Anomaly>>,
    resolved_subscribers: Vec<Recipient<Resolved>>,
    /// Latest known statistics per (exchange, endpoint), merged into alerts.
    board: HashMap<(Name, Name), Stats>,
    recent: VecDeque<Alert>,
    /// Exchanges whose circuit is open: their other series are inhibited.
    down: HashSet<Name>,
    /// `[router] flap_hold`: how long a resolution is held (zero: none, and no tick).
    flap_hold: Duration,
    /// The flap tick runs (started once per actor start, see `start_flap_tick`).
    flap_ticking: bool,
    /// Exchanges in announced maintenance: their firing alerts are silenced.
    maintenance: MaintenanceBoard,
    /// Whether every exchange is down at once (exwatch's own network).
    connectivity: Connectivity,
    metrics: std::sync::Arc<Metrics>,
    restarts: RestartTracker,
    store: Option<actix::Addr<StoreActor>>,
    /// Silences set by people, not over yet.
    silences: SilenceBoard,
    /// Per series a silence holds back: the alert due for it, and why it was due.
    muted: HashMap<SeriesKey, (Alert, Verdict)>,
    /// Series whose open episode no channel has heard of (only silenced alerts so far).
    unheard: HashSet<SeriesKey>,
    /// Acknowledged open incidents, with when they were acknowledged.
    acked: HashMap<SeriesKey, Timestamp>,
    /// The timer at the nearest end of a silence.
    silence_timer: Option<SpawnHandle>,
    silenced_total: Counter,
    silences_active: Gauge,
    /// The latest time `let_out` judged at: a message with an older event time (a lagging
    /// source) must not let a series out before its silence began.
    let_out_at: Timestamp,
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
            region,
            dedup: Dedup::new(dedup_window),
            routes: Vec::new(),
            subscribers: Vec::new(),
            resolved_subscribers: Vec::new(),
            board: HashMap::new(),
            recent: VecDeque::with_capacity(RECENT_ALERTS),
            down: HashSet::new(),
            maintenance: MaintenanceBoard::new(),
            flap_hold: Duration::ZERO,
            flap_ticking: false,
            connectivity: Connectivity::new(0),
            restarts: RestartTracker::new(Name::from("router"), supervision, &metrics, None),
            store: None,
            silences: SilenceBoard::new(),
            muted: HashMap::new(),
            unheard: HashSet::new(),
            acked: HashMap::new(),
            silence_timer: None,
            silenced_total: metrics.counter("exwatch_alerts_silenced_total", &[]),
            silences_active: metrics.gauge("exwatch_silences_active", &[]),
            let_out_at: Timestamp(i64::MIN),
            metrics,
        }
    }

    /// How many exchanges the monitor probes: with two or more, all of them down at once is
    /// reported as exwatch's own connectivity (see the module docs). Without it, never.
    pub fn with_exchanges(mut self, exchanges: usize) -> Self {
        self.connectivity = Connectivity::new(exchanges);
        self
    }

    /// Holds resolutions for `hold` (`[router] flap_hold`, see [`Dedup`]): a series that fails
    /// again within it stays one incident. Zero disables it.
    pub fn with_flap_hold(mut self, hold: Duration) -> Self {
        self.flap_hold = hold;
        self.dedup =
            std::mem::replace(&mut self.dedup, Dedup::new(Duration::ZERO)).with_flap_hold(hold);
        self
    }

    /// Sends alerts through the event store (see the module docs) and records anomalies in it.
    pub fn with_store(mut self, store: actix::Addr<StoreActor>) -> Self {
        self.store = Some(store);
        self
    }

    /// Starts with these silences (those kept in the store, at start).
    pub fn with_silences(mut self, silences: impl IntoIterator<Item = Silence>) -> Self {
        for s in silences {
            self.silences.add(s);
        }
        self
    }

    /// Sends `alert` to the channels of `routes`, after queueing its record (with a pending
    /// delivery per durable channel) at the store, if there is one. The alert does not wait
    /// for the write (an fsync on a file store): see the module docs for why nothing is lost.
    fn dispatch(&self, alert: Alert, routes: Vec<&Route>) {
        if let Some(store) = &self.store {
            let channels = routes
                .iter()
                .filter(|r| r.durable)
                .map(|r| r.name.clone())
                .collect();
            store.do_send(Enqueue {
                alert: alert.clone(),
                channels,
            });
        }
        for r in routes {
            r.recipient.do_send(alert.clone());
        }
    }

    fn note_stats(&mut self, exchange: &Name, endpoint: &Name, stats: &Stats) -> Stats {
        let entry = self
            .board
            .entry((exchange.clone(), endpoint.clone()))
            .or_default();
        let mut fresh = *stats;
        fresh.merge_missing(entry);
        *entry = fresh;
        let mut merged = fresh;
        if let Some(exchange_wide) = self.board.get(&(exchange.clone(), Name::from("*"))) {
            merged.merge_missing(exchange_wide);
        }
        merged
    }

    fn on_anomaly(&mut self, a: Anomaly) {
        self.release_held(a.at);
        self.let_out(a.at);
        self.subscribers.retain(|s| s.connected());
        for s in &self.subscribers {
            s.do_send(a.clone());
        }
        let stats = self.note_stats(&a.series.exchange, &a.series.endpoint, &a.stats);
        self.expire_maintenance(&a.series.exchange, a.at);
        if a.series.metric == Metric::Availability {
            self.down.insert(a.series.exchange.clone());
        } else if self.down.contains(&a.series.exchange) {
            return; // Inhibited: the exchange is down, and that alert says it all.
        }
        if self.connectivity_inhibits(&a) {
            return; // Inhibited: our own network is down, and that alert says it all.
        }
        if self.maintenance.silenced(&a.series.exchange) {
            return; // Silenced: the exchange announced this.
        }
        let mut verdict = self.dedup.on_anomaly(&a);
        let silence = self
            .silences
            .matching(&a.series, a.at)
            .map(|s| s.id.clone());
        if verdict == Verdict::Suppressed && silence.is_none() && self.unheard.contains(&a.series) {
            // An episode no channel has heard of yet is due at its first unsilenced anomaly.
            verdict = Verdict::New;
        }
        if verdict == Verdict::Suppressed
            || (verdict == Verdict::Reminder && self.acked.contains_key(&a.series))
        {
            return;
        }
        if let Some(store) = &self.store {
            store.do_send(RecordAnomaly(a.clone()));
        }
        let title = title(&a.series, &a.detector);
        let title = if verdict == Verdict::Reminder {
            format!("{title} (still firing)")
        } else {
            title
        };
        let alert = Alert {
            id: new_id(),
            kind: AlertKind::Firing,
            severity: a.severity,
            exchange: a.series.exchange.clone(),
            endpoint: a.series.endpoint.clone(),
            metric: a.series.metric,
            detector: a.detector.clone(),
            title,
            message: a.message.clone(),
            value: a.value,
            threshold: a.threshold,
            region: self.region.clone(),
            started_at: a.started_at,
            at: a.at,
            stats,
            in_reply_to: None,
        };
        if let Some(silence) = silence {
            self.mute(alert, verdict, &silence);
            return;
        }
        self.unheard.remove(&a.series);
        self.muted.remove(&a.series);
        self.fan_out(alert, a.severity);
    }

    fn on_resolved(&mut self, r: Resolved) {
        self.resolved_subscribers.retain(|s| s.connected());
        for s in &self.resolved_subscribers {
            s.do_send(r.clone());
        }
        if let Some(store) = &self.store {
            store.do_send(RecordResolved(r.clone()));
        }
        let stats = self.note_stats(&r.series.exchange, &r.series.endpoint, &r.stats);
        self.expire_maintenance(&r.series.exchange, r.at);
        // Recovered: nothing of it is let out when its silence ends.
        self.muted.remove(&r.series);
        self.let_out(r.at);
        if r.series.metric == Metric::Availability {
            self.down.remove(&r.series.exchange);
            if &*r.series.exchange != OWN_EXCHANGE
                && let Some(edge) = self.connectivity.on_up(&r.series.exchange, r.at)
            {
                self.announce_connectivity(edge, &stats);
            }
        }
        if let Some(episode) = self.dedup.on_resolved(&r) {
            self.send_resolved(&r, episode, stats);
        }
        self.release_held(r.at);
    }

    /// Sends the resolved alerts whose flap hold has passed at `now`.
    fn release_held(&mut self, now: Timestamp) {
        for Held { resolved, episode } in self.dedup.release(now) {
            let mut stats = resolved.stats;
            let series = &resolved.series;
            for endpoint in [series.endpoint.clone(), Name::from("*")] {
                if let Some(known) = self.board.get(&(series.exchange.clone(), endpoint)) {
                    stats.merge_missing(known);
                }
            }
            self.send_resolved(&resolved, episode, stats);
        }
    }

    /// The one resolved alert of an episode.
    fn send_resolved(&mut self, r: &Resolved, episode: Episode, stats: Stats) {
        self.acked.remove(&r.series);
        if self.unheard.remove(&r.series) {
            // Silenced from its first alert to its end: no channel heard of it.
            return;
        }
        let Episode {
            started_at,
            max_sent,
            last,
            sent_detector,
            ..
        } = episode;
        let lasted = humantime::format_duration(r.at.since(started_at));
        let alert = Alert {
            id: new_id(),
            kind: AlertKind::Resolved,
            severity: max_sent,
            exchange: r.series.exchange.clone(),
            endpoint: r.series.endpoint.clone(),
            metric: r.series.metric,
            title: format!("{} resolved", title(&r.series, &sent_detector)),
            detector: sent_detector,
            message: format!("recovered after {lasted}; last finding: {}", last.message),
            value: last.value,
            threshold: last.threshold,
            region: self.region.clone(),
            started_at,
            at: r.at,
            stats,
            in_reply_to: None,
        };
        // Resolved goes to every channel that heard about the episode.
        self.fan_out(alert, max_sent);
    }

    /// Feeds an anomaly to the connectivity judge; true when it is inhibited because every
    /// exchange is down.
    fn connectivity_inhibits(&mut self, a: &Anomaly) -> bool {
        if &*a.series.exchange == OWN_EXCHANGE {
            return false;
        }
        if a.series.metric == Metric::Availability
            && let Some(edge) = self.connectivity.on_down(&a.series.exchange, a.at)
        {
            self.announce_connectivity(edge, &Stats::default());
        }
        self.connectivity.lost()
    }

    /// The `monitor_connectivity` alert: firing when every exchange is down, resolved when one
    /// answers again.
    fn announce_connectivity(&mut self, edge: Edge, stats: &Stats) {
        let alert = crate::route::connectivity::alert(&self.region, edge, stats);
        tracing::warn!(kind = alert.kind.as_str(), "{}", alert.message);
        self.fan_out(alert, Severity::Critical);
    }

    /// Ends `exchange`'s maintenance window if its announced end is past `at`.
    fn expire_maintenance(&mut self, exchange: &Name, at: Timestamp) {
        if let Some(change) = self.maintenance.expire(exchange, at) {
            self.announce_maintenance(exchange, change);
        }
    }

    fn on_maintenance(&mut self, s: MaintenanceStatus) {
        // No expiry first: a reading that still says ongoing outranks a stale announced end.
        if let Some(change) = self.maintenance.on_status(&s) {
            self.announce_maintenance(&s.exchange, change);
        }
    }

    /// The one info alert at each edge of a maintenance window.
    fn announce_maintenance(&mut self, exchange: &Name, change: Change) {
        let endpoint = Name::from("*");
        let stats = self
            .board
            .get(&(exchange.clone(), endpoint.clone()))
            .copied()
            .unwrap_or_default();
        let alert = crate::route::maintenance::alert(&self.region, exchange, change, stats);
        tracing::info!(exchange = %exchange, kind = alert.kind.as_str(), "{}", alert.message);
        self.fan_out(alert, Severity::Info);
    }

    fn on_triage(&mut self, t: Triage) {
        let Some(original) = self.recent.iter().find(|a| a.id == t.alert_id) else {
            tracing::warn!(alert = %t.alert_id, "Triage for an unknown alert; dropped.");
            return;
        };
        let alert = Alert {
            id: new_id(),
            kind: AlertKind::Triage,
            title: format!("{} (triage)", original.title),
            message: t.text,
            in_reply_to: Some(original.id.clone()),
            ..original.clone()
        };
        let severity = alert.severity;
        let mut targets = Vec::new();
        for r in &self.routes {
            if r.route.wants_triage && severity >= r.route.min_severity {
                r.triage.inc();
                targets.push(&r.route);
            }
        }
        self.dispatch(alert, targets);
    }

    fn fan_out(&mut self, alert: Alert, severity: Severity) {
        let mut targets = Vec::with_capacity(self.routes.len());
        for r in &self.routes {
            if severity < r.route.min_severity {
                continue;
            }
            match alert.kind {
                AlertKind::Firing => r.firing.inc(),
                AlertKind::Resolved => r.resolved.inc(),
                AlertKind::Triage => r.triage.inc(),
            }
            targets.push(&r.route);
        }
        if self.recent.len() == RECENT_ALERTS {
            self.recent.pop_front();
        }
        self.recent.push_back(alert.clone());
        // do_send: the channel's handler only queues the alert, so its mailbox drains as fast
        // as it fills; the durable queue is the store's.
        self.dispatch(alert, targets);
    }
}

/// An alert's title: `binance ping latency spike`, or `okx down (circuit open)` for an
/// exchange-wide series.
fn title(series: &SeriesKey, detector: &str) -> String {
    if let Some(rule) = detector.strip_prefix("rule:") {
        // A rule's series is `<endpoint>:<rule>`: name the endpoint and the rule once each.
        let endpoint = series.endpoint.split(':').next().unwrap_or_default();
        return format!("{} {endpoint}: rule {rule}", series.exchange);
    }
    if &*series.endpoint == "*" {
        format!("{} {}", series.exchange, headline(detector))
    } else {
        format!(
            "{} {} {}",
            series.exchange,
            series.endpoint,
            headline(detector)
        )
    }
}

/// A short headline for what a detector found.
pub fn headline(detector: &str) -> &str {
    match detector {
        "zscore" | "iqr" | "spike" | "jump" => "latency spike",
        "rolling_mean" | "sustained" | "drift" => "latency degradation",
        "flatline" => "flat line",
        "error_rate" => "error rate high",
        "consecutive_failures" => "failing",
        "circuit_open" => "down (circuit open)",
        "clock_skew" => "clock skew",
        "price_deviation" => "price deviation",
        "restart_budget" => "crash loop",
        "maintenance" => "under maintenance",
        "monitor_connectivity" => "connectivity lost",
        "baseline_p90" => "p90 latency above its learned baseline",
        "baseline_4xx" => "4xx errors above their learned baseline",
        "baseline_5xx" => "5xx errors above their learned baseline",
        "baseline_503" => "503 errors above their learned baseline",
        "baseline_504" => "504 errors above their learned baseline",
        other => other,
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
    }
}

impl RouterActor {
    /// Starts the wall-clock tick that releases held resolutions, once, when there is a hold.
    fn start_flap_tick(&mut self, ctx: &mut Context<Self>) {
        if !self.flap_hold.is_zero() && !self.flap_ticking {
            self.flap_ticking = true;
            // Held resolutions are due on event time, but a recovered exchange may send the
            // Router nothing more: a wall-clock tick (the one place the Router reads the clock)
            // releases them. Live, event time is wall time; a replayed past is released at once.
            let tick =
                (self.flap_hold / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
            ctx.run_interval(tick, |act, ctx| {
                guard(act, ctx, "router", |act, _| {
                    act.release_held(Timestamp::now())
                });
            });
        }
    }
}

impl Supervised for RouterActor {
    /// Nothing is rebuilt: the dedup table and routes are kept (see the module docs).
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record(actix::clock::Instant::now());
        // A restart drops the context's timers; `started` arms the tick again.
        self.flap_ticking = false;
    }
}

impl Handler<Anomaly> for RouterActor {
    type Result = ();

    fn handle(&mut self, a: Anomaly, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, _| act.on_anomaly(a));
    }
}

impl Handler<Resolved> for RouterActor {
    type Result = ();

    fn handle(&mut self, r: Resolved, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, _| act.on_resolved(r));
    }
}

impl Handler<MaintenanceStatus> for RouterActor {
    type Result = ();

    fn handle(&mut self, s: MaintenanceStatus, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, _| act.on_maintenance(s));
    }
}

impl Handler<Triage> for RouterActor {
    type Result = ();

    fn handle(&mut self, t: Triage, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, _| act.on_triage(t));
    }
}

impl Handler<AddRoute> for RouterActor {
    type Result = ();

    /// A route with the name of an existing one replaces it (a live reload), keeping its place.
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
            route,
        };
        match self
            .routes
            .iter_mut()
            .find(|r| r.route.name == state.route.name)
        {
            Some(existing) => *existing = state,
            None => self.routes.push(state),
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
        let mut open: Vec<_> = self
            .dedup
            .open()
            .map(|(series, ep)| crate::route::incidents::OpenIncident {
                series: series.clone(),
                detector: ep.sent_detector.clone(),
                severity: ep.max_sent,
                since: ep.started_at,
                last_at: ep.last.at,
                value: ep.last.value,
                title: title(series, &ep.sent_detector),
                acked: self.acked.contains_key(series),
                silenced: self.silences.matching(series, ep.last.at).is_some(),
            })
            .collect();
        open.sort_by(|a, b| (a.since, &a.series).cmp(&(b.since, &b.series)));
        let mut maintenance: Vec<Name> = self.maintenance.exchanges().cloned().collect();
        maintenance.sort();
        crate::route::incidents::Incidents { open, maintenance }
    }
}
