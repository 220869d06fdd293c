//! The Router's policy, pure: [`RouterCore`] takes an anomaly, a resolution, a maintenance
//! reading, a triage follow-up or a tick, each with its time, and returns [`Decision`]s (send
//! this alert to these routes, record it silenced, hold a resolution, drop with a reason). It
//! owns the Router's whole memory (dedup table, inhibitions, maintenance windows, silences,
//! acknowledgements, recent alerts); it touches no actor, store, channel, timer, metric or
//! clock (only the alert ids it mints, ULIDs from [`new_id`], are not given to it).
//! [`crate::route::RouterActor`] carries its decisions out.
//!
//! **Dedup** ([`Dedup`]): within the dedup window a series' firing alert is sent once,
//! whichever detector fired; a rise in severity at once; a reminder after the window; one
//! resolved alert when the series recovers, to every channel that heard of the episode.
//!
//! **Gates**, in the order of [`GATES`]: an anomaly passes each in turn, and the first that
//! stops it decides ([`Gate`]):
//!
//! 1. [`Gate::ExchangeDown`] — while an exchange's circuit is open (its `availability` series
//!    is firing), anomalies of its other series are symptoms of the same outage and are not
//!    alerted; if they persist after the breaker closes, they alert then. With grouping, its
//!    market-data streams' anomalies still join the down's incident as members that page
//!    nobody by themselves ([`Grouper::on_symptom`]): the desk's one page for the outage says
//!    the stream is down too, and the stream's recovery is folded into the incident's resolve.
//! 2. [`Gate::Connectivity`] — when the circuits of every configured exchange (at least two,
//!    see [`RouterCore::with_exchanges`]) are open at once, one critical
//!    `monitor_connectivity` alert (exchange `exwatch`) goes out and the per-exchange firing
//!    alerts are inhibited until any exchange answers again, which resolves it.
//! 3. [`Gate::Maintenance`] — while an exchange announces maintenance in progress
//!    ([`crate::route::maintenance`]), its firing alerts are not sent (one info alert,
//!    detector `maintenance` on `<exchange>/*/availability`, says so; a resolved one says when
//!    it ended). Series still anomalous after the window alert on their next anomaly.
//! 4. [`Gate::Dedup`] — already said within the window.
//! 5. [`Gate::Acknowledged`] — an acknowledged open incident gets no reminders; an escalation
//!    still goes out, and so does its resolved. The ack lasts as long as the episode.
//! 6. [`Gate::Silence`] — a silence set by people ([`crate::route::silence`]) matches the
//!    series at the anomaly's event time: the alert is recorded (`alerts.silenced = 1`) but
//!    sent to no channel, and kept as the series' muted alert.
//!
//! Why this order: the first three are inhibitions by a wider cause, and they come before
//! dedup so that an inhibited anomaly leaves the dedup table untouched (its series alerts on
//! its next anomaly once the cause is gone); the widest comes first, as an exchange's own
//! circuit is also what makes "every exchange down". Dedup comes before the acknowledgement,
//! which only stops reminders (a verdict dedup gives), and before the silence, which needs
//! dedup's verdict to know whether the muted alert begins an episode no channel heard of.
//! The silence is last because a silenced alert is still recorded as one, with the episode.
//!
//! **Silences, let out**: when no silence covers a muted series any more (the silence reached
//! its end — noticed by the actor's timer at the nearest end, or by any later message's event
//! time — or was deleted) and the series is still firing, its alert goes out then, with a
//! fresh id and the time it was let out. A series that recovers meanwhile lets nothing out,
//! and an episode no channel ever heard of sends no resolved either. Resolutions of episodes
//! the channels did hear of still go out, as under maintenance.
//!
//! **Flapping** (`[router] flap_hold`): a resolution is held that long before its resolved
//! alert goes out ([`Decision::Hold`]), and dropped if the series fires again meanwhile. Held
//! resolutions are released on event time (any later message) and by [`RouterCore::on_tick`].
//!
//! **Grouping** (`[router] group_by`, [`crate::route::group`]): every per-series alert that
//! goes out is also fed to the [`Grouper`]; routes that take groups ([`Target::grouped`])
//! receive its group messages instead of the per-series alerts, the others (Alertmanager,
//! the triage channel) each series as before. Group messages due are released on event time
//! and by [`RouterCore::on_tick`].
//!
//! **Triage**: a follow-up to an alert of the last [`RECENT_ALERTS`] goes, as a reply, to the
//! routes that want triage and whose `min_severity` the original meets.
//!
//! **Acknowledgements, told** ([`RouterCore::acknowledge`]): the first ack of an incident some
//! channel heard of sends one [`AlertKind::Acknowledged`] alert (the incident's series and
//! `started_at`) to the routes that want acks — platforms that track incidents themselves,
//! such as PagerDuty — and to no other route.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use crate::messages::{
    Alert, AlertKind, Anomaly, MaintenanceStatus, Metric, Name, Resolved, SeriesKey, Severity,
    Stats, Timestamp, Triage, new_id,
};
use crate::route::connectivity::{Connectivity, Edge, OWN_EXCHANGE};
use crate::route::correlation::{self, CANARY_EXCHANGE, Correlation, Due};
use crate::route::decision::{Decision, Dispatch, Dropped, Gate, Why};
use crate::route::dedup::{Dedup, Episode, Held, Verdict};
use crate::route::group::{GroupField, Grouper};
use crate::route::incidents::{Incidents, OpenIncident};
use crate::route::maintenance::{Change, MaintenanceBoard};
use crate::route::silence::{Silence, SilenceBoard};

/// The gates an anomaly passes, in order (see the module docs for each, and why this order).
pub const GATES: [Gate; 6] = [
    Gate::ExchangeDown,
    Gate::Connectivity,
    Gate::Maintenance,
    Gate::Dedup,
    Gate::Acknowledged,
    Gate::Silence,
];

/// How many recent alerts the Router remembers, to attach triage follow-ups to them.
pub const RECENT_ALERTS: usize = 1024;

/// One channel as the policy sees it (the actor keeps its recipient and counters).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// The channel's name.
    pub name: Name,
    /// Alerts below this severity are not sent to it.
    pub min_severity: Severity,
    /// Whether triage follow-ups go to it.
    pub wants_triage: bool,
    /// Whether it is told when an incident is acknowledged (an
    /// [`AlertKind::Acknowledged`] alert): platforms that track incidents themselves.
    pub wants_acks: bool,
    /// Whether it takes group messages rather than each series' alerts (when grouping is on).
    pub grouped: bool,
}

/// An open incident: one series' firing episode, as an acknowledgement answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// The series.
    pub series: SeriesKey,
    /// When the episode began.
    pub started_at: Timestamp,
    /// The highest severity of the episode so far.
    pub severity: Severity,
    /// When it was acknowledged (the first ack, when acknowledged twice).
    pub acked_at: Timestamp,
    /// Whether no channel has heard of it yet (every alert so far silenced).
    pub silenced: bool,
}

/// Why an acknowledgement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The alert's incident is over (resolved), or the alert is a resolution.
    #[error("the incident of alert {0} is not open")]
    NotOpen(Name),
}

/// What a gate says of an anomaly.
enum Pass {
    /// On to the next gate.
    On,
    /// Stopped here: nothing is sent.
    Stop,
    /// Recorded, not sent: held back by this silence.
    Mute(Name),
}

/// The Router's policy and memory (see the module docs).
#[derive(Debug)]
pub struct RouterCore {
    region: Name,
    dedup: Dedup,
    flap_hold: Duration,
    routes: Vec<Target>,
    /// Latest known statistics per (exchange, endpoint), merged into alerts.
    board: HashMap<(Name, Name), Stats>,
    recent: VecDeque<Alert>,
    /// Exchanges whose circuit is open: their other series are inhibited.
    down: HashSet<Name>,
    /// Exchanges in announced maintenance: their firing alerts are silenced.
    maintenance: MaintenanceBoard,
    /// Whether every exchange is down at once (exwatch's own network).
    connectivity: Connectivity,
    /// Downs held by the correlation hold (see [`crate::route::correlation`]).
    correlation: Correlation,
    /// Silences set by people, not over yet.
    silences: SilenceBoard,
    /// Per series a silence holds back: the alert due for it, and why it was due.
    muted: HashMap<SeriesKey, (Alert, Verdict)>,
    /// Series whose open episode no channel has heard of (only silenced alerts so far).
    unheard: HashSet<SeriesKey>,
    /// Acknowledged open incidents, with when they were acknowledged.
    acked: HashMap<SeriesKey, Timestamp>,
    /// The latest time `let_out` judged at: a message with an older event time (a lagging
    /// source) must not let a series out before its silence began.
    let_out_at: Timestamp,
    /// Incident grouping (off until [`RouterCore::with_grouping`]).
    grouper: Grouper,
}

impl RouterCore {
    /// The policy of the monitor of `region`, with `[router] dedup_window`; no routes, no
    /// flap hold, no connectivity judgement until configured.
    pub fn new(region: Name, dedup_window: Duration) -> Self {
        Self {
            region,
            dedup: Dedup::new(dedup_window),
            flap_hold: Duration::ZERO,
            routes: Vec::new(),
            board: HashMap::new(),
            // Grown as alerts are sent (to RECENT_ALERTS at most): reserved up front it was
            // ≈ 0.3 MB from the start, alerts or not.
            recent: VecDeque::new(),
            down: HashSet::new(),
            maintenance: MaintenanceBoard::new(),
            connectivity: Connectivity::new(0),
            correlation: Correlation::new(Duration::ZERO),
            silences: SilenceBoard::new(),
            muted: HashMap::new(),
            unheard: HashSet::new(),
            acked: HashMap::new(),
            let_out_at: Timestamp(i64::MIN),
            grouper: Grouper::new(Vec::new(), Duration::from_secs(30)),
        }
    }

    /// How many exchanges the monitor probes: with two or more, all of them down at once is
    /// reported as exwatch's own connectivity ([`Gate::Connectivity`]). Without it, never.
    pub fn with_exchanges(mut self, exchanges: usize) -> Self {
        self.connectivity = Connectivity::new(exchanges);
        self
    }

    /// Holds resolutions for `hold` (`[router] flap_hold`, see [`Dedup`]): a series that fails
    /// again within it stays one incident. Zero disables it.
    pub fn with_flap_hold(mut self, hold: Duration) -> Self {
        self.flap_hold = hold;
        self.grouper.hold_resolutions(hold.is_zero());
        self.dedup =
            std::mem::replace(&mut self.dedup, Dedup::new(Duration::ZERO)).with_flap_hold(hold);
        self
    }

    /// Holds each exchange's `down` for `hold` (`[router] correlation_hold`, see
    /// [`crate::route::correlation`]). Zero (the default here) disables it.
    pub fn with_correlation_hold(mut self, hold: Duration) -> Self {
        self.correlation.set_hold(hold);
        self
    }

    /// A new `[router] correlation_hold` (a live reload); downs held keep their due time.
    pub fn set_correlation_hold(&mut self, hold: Duration) {
        self.correlation.set_hold(hold);
    }

    /// Groups alerts by `by` (`[router] group_by`; empty: off), with updates at most every
    /// `interval` (see [`crate::route::group`]).
    pub fn with_grouping(mut self, by: Vec<GroupField>, interval: Duration) -> Self {
        self.grouper = Grouper::new(by, interval);
        self.grouper.hold_resolutions(self.flap_hold.is_zero());
        self
    }

    /// New grouping settings (a live reload); open groups are kept.
    pub fn regroup(&mut self, by: Vec<GroupField>, interval: Duration) {
        self.grouper.reconfigure(by, interval);
        self.grouper.hold_resolutions(self.flap_hold.is_zero());
    }

    /// The grouping (open groups, keys).
    pub fn grouper(&self) -> &Grouper {
        &self.grouper
    }

    /// When the next group message is due (event time), for the actor's timer.
    pub fn next_group_due(&self) -> Option<Timestamp> {
        self.grouper.next_due()
    }

    /// Starts with these silences (those kept in the store, at start).
    pub fn with_silences(mut self, silences: impl IntoIterator<Item = Silence>) -> Self {
        for s in silences {
            self.silences.add(s);
        }
        self
    }

    /// Adds a route, or replaces the route of the same name in its place (a live reload);
    /// answers its index, as [`Dispatch::routes`] names it.
    pub fn add_route(&mut self, target: Target) -> usize {
        if let Some(i) = self.routes.iter().position(|r| r.name == target.name) {
            self.routes[i] = target;
            return i;
        }
        self.routes.push(target);
        self.routes.len() - 1
    }

    /// Removes the route named `name` (a reload removed its channel); answers the index it
    /// had, so that the actor drops its own state for it too. Later routes move down one.
    pub fn remove_route(&mut self, name: &Name) -> Option<usize> {
        let i = self.routes.iter().position(|r| &r.name == name)?;
        self.routes.remove(i);
        Some(i)
    }

    /// New `[router]` settings and exchange count (a live reload). Open episodes, held
    /// resolutions, silences, acknowledgements and what is known to be down are kept.
    pub fn reconfigure(&mut self, dedup_window: Duration, flap_hold: Duration, exchanges: usize) {
        self.dedup.reconfigure(dedup_window, flap_hold);
        self.flap_hold = flap_hold;
        self.grouper.hold_resolutions(flap_hold.is_zero());
        self.connectivity.set_exchanges(exchanges);
    }

    /// The routes, in the order they were added.
    pub fn routes(&self) -> &[Target] {
        &self.routes
    }

    /// How often a wall-clock tick ([`Self::on_tick`]) should release held resolutions: a
    /// recovered exchange may send nothing more. A quarter of the hold, between 50 ms and 1 s;
    /// `None` without a flap hold.
    pub fn tick_every(&self) -> Option<Duration> {
        (!self.flap_hold.is_zero())
            .then(|| (self.flap_hold / 4).clamp(Duration::from_millis(50), Duration::from_secs(1)))
    }

    /// An anomaly from a detector, at its event time `a.at`: first what is due by then (held
    /// resolutions, alerts no silence covers any more, a maintenance window's announced end),
    /// then the anomaly through the [`GATES`].
    pub fn on_anomaly(&mut self, a: Anomaly) -> Vec<Decision> {
        let mut out = Vec::new();
        self.release_held(a.at, &mut out);
        self.release_downs(a.at, &mut out);
        self.let_out(a.at, &mut out);
        let mut a = a;
        if &*a.series.exchange == CANARY_EXCHANGE {
            // A canary is not an exchange: never more than a warning.
            a.severity = a.severity.min(Severity::Warning);
        }
        if self.correlate(&a, &mut out) {
            return out;
        }
        self.admit(a, &mut out);
        out
    }

    /// The correlation hold ([`crate::route::correlation`]): notes failing `errors` series,
    /// and holds an exchange's down (answers true) instead of admitting it now. The exchange
    /// counts as down at once (its other series are inhibited, and it counts towards "every
    /// exchange is down"); when that makes connectivity lost, every held down is dropped.
    fn correlate(&mut self, a: &Anomaly, out: &mut Vec<Decision>) -> bool {
        if a.series.metric == Metric::Errors {
            (self.correlation).on_errors(&a.series.exchange, &a.series.endpoint, true);
        }
        if correlation::is_canary_down(a) {
            self.correlation.set_canaries_down(true);
            if let Some(edge) = self.connectivity.canaries_lost(a.at) {
                self.announce_connectivity(edge, &Stats::default(), out);
            }
            return false;
        }
        if !self.correlation.applies(a) || !self.connectivity.judges() {
            return false;
        }
        let exchange = &a.series.exchange;
        self.down.insert(exchange.clone());
        let until = self.correlation.hold_down(a.clone());
        let mut edge = self.connectivity.on_down(exchange, a.at);
        if edge.is_none() && self.correlation.canaries_down() {
            edge = self.connectivity.canaries_lost(a.at);
        }
        if let Some(edge) = edge {
            self.announce_connectivity(edge, &Stats::default(), out);
        } else if self.connectivity.lost() {
            self.correlation.recovered(exchange);
            let (series, gate) = (a.series.clone(), Gate::Connectivity);
            out.push(Decision::Drop(Dropped::Gate { series, gate }));
        } else {
            let series = a.series.clone();
            out.push(Decision::Hold { series, until });
        }
        true
    }

    /// Lets through the gates the held downs due at `now` (event time); extends those whose
    /// every other exchange is down or failing.
    fn release_downs(&mut self, now: Timestamp, out: &mut Vec<Decision>) {
        if self.correlation.next_due().is_none_or(|due| due > now) {
            return;
        }
        let configured = self.connectivity.configured();
        let mut in_trouble: HashSet<Name> = self.correlation.failing_exchanges().cloned().collect();
        in_trouble.extend(self.down.iter().cloned());
        in_trouble.retain(|x| !correlation::is_own(x));
        // Every exchange but the one held must be seen down or failing; one never heard of
        // (answering well) is not.
        let troubled = |exchange: &Name| {
            in_trouble.iter().filter(|x| *x != exchange).count() + 1 >= configured
        };
        let due = self.correlation.due(now, troubled);
        for d in due {
            match d {
                Due::Release(a) => self.admit(a, out),
                Due::Extend { exchange, until } => {
                    let series = SeriesKey::new(exchange, "*", Metric::Availability);
                    out.push(Decision::Hold { series, until });
                }
            }
        }
    }

    /// Which layer failed, for a stream's alert: `"; REST healthy"` while the exchange is not
    /// down and none of its REST series (any metric but the streams') is firing, `"; REST
    /// failing too"` otherwise.
    fn rest_layer(&self, exchange: &Name) -> &'static str {
        let rest_failing = self.down.contains(exchange)
            || self
                .dedup
                .open()
                .any(|(s, _)| &s.exchange == exchange && !s.metric.as_str().starts_with("stream_"));
        if rest_failing {
            "; REST failing too"
        } else {
            "; REST healthy"
        }
    }

    /// `a` through the [`GATES`], and out if it passes them.
    fn admit(&mut self, a: Anomaly, out: &mut Vec<Decision>) {
        let stats = self.note_stats(&a.series.exchange, &a.series.endpoint, &a.stats);
        self.expire_maintenance(&a.series.exchange, a.at, out);
        let mut verdict = Verdict::New;
        let mut muted_by = None;
        for gate in GATES {
            match self.gate(gate, &a, &mut verdict, out) {
                Pass::On => {}
                Pass::Stop => {
                    if gate == Gate::ExchangeDown {
                        self.symptom(&a, stats);
                    }
                    let series = a.series;
                    out.push(Decision::Drop(Dropped::Gate { series, gate }));
                    return;
                }
                Pass::Mute(silence) => {
                    muted_by = Some(silence);
                    break;
                }
            }
        }
        let alert = self.firing_alert(&a, stats, verdict);
        let series = a.series.clone();
        out.push(Decision::RecordAnomaly(a));
        if let Some(silence) = muted_by {
            if verdict == Verdict::New {
                self.unheard.insert(series.clone());
            }
            self.muted.insert(series, (alert.clone(), verdict));
            out.push(Decision::Silence { alert, silence });
            return;
        }
        self.unheard.remove(&series);
        self.muted.remove(&series);
        let why = match verdict {
            Verdict::Escalated => Why::Escalated,
            Verdict::Reminder => Why::Reminder,
            Verdict::New | Verdict::Suppressed => Why::New,
        };
        let severity = alert.severity;
        self.fan_out(alert, severity, why, out);
    }

    /// A stream's anomaly the exchange's down inhibited: with grouping, it joins the down's
    /// incident as a symptom ([`Grouper::on_symptom`]) unless a silence covers it.
    fn symptom(&mut self, a: &Anomaly, stats: Stats) {
        if !self.grouper.enabled()
            || !a.series.metric.is_stream()
            || self.silences.matching(&a.series, a.at).is_some()
        {
            return;
        }
        let alert = self.firing_alert(a, stats, Verdict::New);
        self.grouper.on_symptom(&alert, a.at);
    }

    /// A symptom's recovery ([`Self::symptom`]): the member of the down's incident resolves.
    fn resolve_symptom(&mut self, r: &Resolved) {
        let Some(latest) = self.grouper.symptom(&r.series) else {
            return;
        };
        let mut alert = latest.clone();
        let lasted = humantime::format_duration(r.at.since(alert.started_at));
        alert.id = new_id();
        alert.kind = AlertKind::Resolved;
        alert.title = format!("{} resolved", title(&r.series, &alert.detector));
        alert.message = format!("recovered after {lasted}; last finding: {}", alert.message);
        alert.at = r.at;
        self.grouper.on_symptom(&alert, r.at);
    }

    /// The firing alert of `a` (its title says which layer failed for a stream, and "still
    /// firing" for a reminder).
    fn firing_alert(&self, a: &Anomaly, stats: Stats, verdict: Verdict) -> Alert {
        let mut title = title(&a.series, &a.detector);
        if a.detector.starts_with("stream_") {
            title.push_str(self.rest_layer(&a.series.exchange));
        }
        let title = if verdict == Verdict::Reminder {
            format!("{title} (still firing)")
        } else {
            title
        };
        Alert {
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
            group: None,
        }
    }

    /// One gate of [`GATES`] for `a`. The dedup gate sets `verdict`.
    fn gate(
        &mut self,
        gate: Gate,
        a: &Anomaly,
        verdict: &mut Verdict,
        out: &mut Vec<Decision>,
    ) -> Pass {
        let series = &a.series;
        let stop = |stopped: bool| if stopped { Pass::Stop } else { Pass::On };
        match gate {
            Gate::ExchangeDown => {
                if series.metric == Metric::Availability {
                    self.down.insert(series.exchange.clone());
                    return Pass::On;
                }
                stop(self.down.contains(&series.exchange))
            }
            Gate::Connectivity => {
                if &*series.exchange == OWN_EXCHANGE {
                    return Pass::On;
                }
                if &*series.exchange == CANARY_EXCHANGE {
                    // Not an exchange: not counted, but quiet while connectivity is lost.
                    return stop(self.connectivity.lost());
                }
                if series.metric == Metric::Availability
                    && let Some(edge) = self.connectivity.on_down(&series.exchange, a.at)
                {
                    self.announce_connectivity(edge, &Stats::default(), out);
                }
                stop(self.connectivity.lost())
            }
            Gate::Maintenance => stop(self.maintenance.silenced(&series.exchange)),
            Gate::Dedup => {
                *verdict = self.dedup.on_anomaly(a);
                if *verdict == Verdict::Suppressed
                    && self.unheard.contains(series)
                    && self.silences.matching(series, a.at).is_none()
                {
                    // An episode no channel has heard of yet is due at its first unsilenced
                    // anomaly.
                    *verdict = Verdict::New;
                }
                stop(*verdict == Verdict::Suppressed)
            }
            Gate::Acknowledged => {
                stop(*verdict == Verdict::Reminder && self.acked.contains_key(series))
            }
            Gate::Silence => match self.silences.matching(series, a.at) {
                Some(s) => Pass::Mute(s.id.clone()),
                None => Pass::On,
            },
        }
    }

    /// A resolution from a detector, at its event time `r.at`.
    pub fn on_resolved(&mut self, r: Resolved) -> Vec<Decision> {
        let mut out = vec![Decision::RecordResolved(r.clone())];
        let stats = self.note_stats(&r.series.exchange, &r.series.endpoint, &r.stats);
        self.expire_maintenance(&r.series.exchange, r.at, &mut out);
        // Recovered: nothing of it is let out when its silence ends.
        self.muted.remove(&r.series);
        self.let_out(r.at, &mut out);
        if r.series.metric == Metric::Errors {
            (self.correlation).on_errors(&r.series.exchange, &r.series.endpoint, false);
        }
        if r.series.metric == Metric::Availability {
            if self.correlation.recovered(&r.series.exchange).is_some() {
                // Back within the correlation hold: its down is never sent.
                let series = r.series.clone();
                out.push(Decision::Drop(Dropped::Recovered { series }));
            }
            self.down.remove(&r.series.exchange);
            // Symptoms waiting for a down that never went out are forgotten with it.
            self.grouper.forget_symptoms(Some(&r.series.exchange));
            if &*r.series.exchange == CANARY_EXCHANGE {
                self.correlation.set_canaries_down(false);
                if let Some(edge) = self.connectivity.canaries_back(r.at) {
                    self.announce_connectivity(edge, &stats, &mut out);
                }
            } else if &*r.series.exchange != OWN_EXCHANGE
                && let Some(edge) = self.connectivity.on_up(&r.series.exchange, r.at)
            {
                self.announce_connectivity(edge, &stats, &mut out);
            }
        }
        let was_open = self.dedup.episode(&r.series).is_some();
        match self.dedup.on_resolved(&r) {
            Some(episode) => self.send_resolved(&r, episode, stats, &mut out),
            None if was_open => out.push(Decision::Hold {
                series: r.series.clone(),
                until: r.at.plus(self.flap_hold),
            }),
            None => self.resolve_symptom(&r),
        }
        self.release_held(r.at, &mut out);
        self.release_downs(r.at, &mut out);
        out
    }

    /// A maintenance reading from an exchange's status endpoint.
    pub fn on_maintenance(&mut self, s: &MaintenanceStatus) -> Vec<Decision> {
        let mut out = Vec::new();
        // No expiry first: a reading that still says ongoing outranks a stale announced end.
        if let Some(change) = self.maintenance.on_status(s) {
            self.announce_maintenance(&s.exchange, change, &mut out);
        }
        out
    }

    /// A triage follow-up: a reply to the alert it names, if remembered.
    pub fn on_triage(&mut self, t: Triage) -> Vec<Decision> {
        let Some(original) = self.recent.iter().find(|a| a.id == t.alert_id) else {
            let alert_id = t.alert_id;
            return vec![Decision::Drop(Dropped::UnknownAlert { alert_id })];
        };
        let alert = Alert {
            id: new_id(),
            kind: AlertKind::Triage,
            title: format!("{} (triage)", original.title),
            message: t.text,
            in_reply_to: Some(original.id.clone()),
            ..original.clone()
        };
        let routes = (self.routes.iter().enumerate())
            .filter(|(_, r)| r.wants_triage && alert.severity >= r.min_severity)
            .map(|(i, _)| i)
            .collect();
        vec![Decision::Send(Dispatch {
            alert,
            routes,
            why: Why::Triage,
        })]
    }

    /// The wall-clock tick (see [`Self::tick_every`]): releases the resolutions whose flap
    /// hold has passed at `now`.
    pub fn on_tick(&mut self, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        self.release_held(now, &mut out);
        self.release_downs(now, &mut out);
        out
    }

    /// When the earliest down held by the correlation hold is due (the actor re-arms its timer
    /// after a restart).
    pub fn next_held_down(&self) -> Option<Timestamp> {
        self.correlation.next_due()
    }

    /// The timer at the nearest end of a silence ([`Self::next_silence_end`]): lets out what
    /// no silence covers at `now` and forgets the silences that are over.
    pub fn on_silence_timer(&mut self, now: Timestamp) -> Vec<Decision> {
        let mut out = Vec::new();
        self.let_out(now, &mut out);
        self.silences.prune(now);
        out
    }

    /// The nearest end of a silence after `now`, for the actor's timer.
    pub fn next_silence_end(&self, now: Timestamp) -> Option<Timestamp> {
        self.silences.next_end(now)
    }

    /// How many silences are active at `now`.
    pub fn active_silences(&self, now: Timestamp) -> usize {
        self.silences
            .all()
            .iter()
            .filter(|s| s.active_at(now))
            .count()
    }

    /// Adds a silence (already validated and stored by the caller).
    pub fn add_silence(&mut self, s: Silence) {
        self.silences.add(s);
    }

    /// Ends silence `id` at `at`; answers it as it ended (`None` when not held), and what its
    /// end lets out.
    pub fn expire_silence(&mut self, id: &str, at: Timestamp) -> (Option<Silence>, Vec<Decision>) {
        let mut out = Vec::new();
        let ended = self.silences.expire(id, at);
        if ended.is_some() {
            self.let_out(at, &mut out);
        }
        (ended, out)
    }

    /// The silences held: active, or still to begin.
    pub fn silences(&self) -> &[Silence] {
        self.silences.all()
    }

    /// Acknowledges the open incident `alert` belongs to, at `at`.
    pub fn ack(&mut self, alert: &Alert, at: Timestamp) -> Result<Incident, AckError> {
        let series = alert.series();
        let not_open = || AckError::NotOpen(alert.id.clone());
        if alert.kind == AlertKind::Resolved {
            return Err(not_open());
        }
        let episode = self.dedup.episode(&series).ok_or_else(not_open)?;
        // An alert of an earlier episode of the same series belongs to a closed incident.
        if alert.at < episode.started_at {
            return Err(not_open());
        }
        let (started_at, severity) = (episode.started_at, episode.max_sent);
        let acked_at = *self.acked.entry(series.clone()).or_insert(at);
        Ok(Incident {
            silenced: self.unheard.contains(&series),
            series,
            started_at,
            severity,
            acked_at,
        })
    }

    /// Acknowledges like [`Self::ack`] and, at the first acknowledgement of an incident some
    /// channel heard of, sends one [`AlertKind::Acknowledged`] alert to the routes that want
    /// acks (and whose `min_severity` the incident meets). Its series and `started_at` are
    /// the incident's, so a platform keyed on them updates the incident it already has.
    pub fn acknowledge(
        &mut self,
        alert: &Alert,
        at: Timestamp,
    ) -> Result<(Incident, Vec<Decision>), AckError> {
        let first = !self.acked.contains_key(&alert.series());
        let incident = self.ack(alert, at)?;
        let mut out = Vec::new();
        if first
            && !incident.silenced
            && let Some(ep) = self.dedup.episode(&incident.series)
        {
            let series = &incident.series;
            let ack = Alert {
                id: new_id(),
                kind: AlertKind::Acknowledged,
                severity: incident.severity,
                exchange: series.exchange.clone(),
                endpoint: series.endpoint.clone(),
                metric: series.metric,
                detector: ep.sent_detector.clone(),
                title: format!("{} acknowledged", title(series, &ep.sent_detector)),
                message: "acknowledged in exwatch".to_owned(),
                value: ep.last.value,
                threshold: ep.last.threshold,
                region: self.region.clone(),
                started_at: incident.started_at,
                at,
                stats: Stats::default(),
                in_reply_to: Some(alert.id.clone()),
                group: None,
            };
            let routes: Vec<usize> = (self.routes.iter().enumerate())
                .filter(|(_, r)| r.wants_acks && incident.severity >= r.min_severity)
                .map(|(i, _)| i)
                .collect();
            // Without a route that wants it, nothing is sent or recorded: a monitor with no
            // such channel behaves (and stores, and lists) exactly as before.
            if !routes.is_empty() {
                out.push(Decision::Send(Dispatch {
                    alert: ack,
                    routes,
                    why: Why::Acknowledged,
                }));
            }
        }
        Ok((incident, out))
    }

    /// The open incidents (oldest first) and the exchanges in maintenance.
    pub fn incidents(&self) -> Incidents {
        let mut open: Vec<_> = self
            .dedup
            .open()
            .map(|(series, ep)| OpenIncident {
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
        Incidents { open, maintenance }
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

    /// Sends the resolved alerts whose flap hold has passed at `now`.
    fn release_held(&mut self, now: Timestamp, out: &mut Vec<Decision>) {
        for Held { resolved, episode } in self.dedup.release(now) {
            let mut stats = resolved.stats;
            let series = &resolved.series;
            for endpoint in [series.endpoint.clone(), Name::from("*")] {
                if let Some(known) = self.board.get(&(series.exchange.clone(), endpoint)) {
                    stats.merge_missing(known);
                }
            }
            self.send_resolved(&resolved, episode, stats, out);
        }
        self.flush_groups(now, out);
    }

    /// Sends the group messages due at `now`.
    fn flush_groups(&mut self, now: Timestamp, out: &mut Vec<Decision>) {
        for group in self.grouper.flush(now) {
            self.send_group(group, out);
        }
    }

    /// Sends a group message to the routes that take groups and whose `min_severity` it meets.
    fn send_group(&mut self, alert: Alert, out: &mut Vec<Decision>) {
        let routes = (self.routes.iter().enumerate())
            .filter(|(_, r)| r.grouped && alert.severity >= r.min_severity)
            .map(|(i, _)| i)
            .collect();
        out.push(Decision::Send(Dispatch {
            alert,
            routes,
            why: Why::Group,
        }));
    }

    /// The one resolved alert of an episode.
    fn send_resolved(
        &mut self,
        r: &Resolved,
        episode: Episode,
        stats: Stats,
        out: &mut Vec<Decision>,
    ) {
        self.acked.remove(&r.series);
        if self.unheard.remove(&r.series) {
            // Silenced from its first alert to its end: no channel heard of it.
            let series = r.series.clone();
            out.push(Decision::Drop(Dropped::Unheard { series }));
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
            group: None,
        };
        // Resolved goes to every channel that heard about the episode.
        self.fan_out(alert, max_sent, Why::Resolved, out);
    }

    /// Sends the muted alerts of the series no silence covers at `now` (event time).
    fn let_out(&mut self, now: Timestamp, out: &mut Vec<Decision>) {
        if self.muted.is_empty() {
            return;
        }
        let now = now.max(self.let_out_at);
        self.let_out_at = now;
        let due: Vec<SeriesKey> = self
            .muted
            .keys()
            .filter(|k| self.silences.matching(k, now).is_none())
            .cloned()
            .collect();
        for series in due {
            let Some((mut alert, verdict)) = self.muted.remove(&series) else {
                continue;
            };
            let gate = if verdict == Verdict::Reminder && self.acked.contains_key(&series) {
                Some(Gate::Acknowledged)
            } else if series.metric != Metric::Availability && self.down.contains(&series.exchange)
            {
                Some(Gate::ExchangeDown)
            } else if self.connectivity.lost() {
                Some(Gate::Connectivity)
            } else if self.maintenance.silenced(&series.exchange) {
                Some(Gate::Maintenance)
            } else {
                None
            };
            if let Some(gate) = gate {
                // Its next anomaly after the inhibition alerts (the episode stays unheard).
                out.push(Decision::Drop(Dropped::Gate { series, gate }));
                continue;
            }
            alert.id = new_id();
            alert.at = alert.at.max(now);
            self.unheard.remove(&series);
            let severity = alert.severity;
            self.fan_out(alert, severity, Why::LetOut, out);
        }
    }

    /// The `monitor_connectivity` alert: firing when every exchange is down, resolved when one
    /// answers again.
    fn announce_connectivity(&mut self, edge: Edge, stats: &Stats, out: &mut Vec<Decision>) {
        if let Edge::Lost { .. } = edge {
            // Our own network: the downs held so far are never sent, nor their symptoms.
            self.grouper.forget_symptoms(None);
            for a in self.correlation.drop_all() {
                let (series, gate) = (a.series, Gate::Connectivity);
                out.push(Decision::Drop(Dropped::Gate { series, gate }));
            }
        }
        let alert = crate::route::connectivity::alert(&self.region, edge, stats);
        self.fan_out(alert, Severity::Critical, Why::Connectivity, out);
    }

    /// Ends `exchange`'s maintenance window if its announced end is past `at`.
    fn expire_maintenance(&mut self, exchange: &Name, at: Timestamp, out: &mut Vec<Decision>) {
        if let Some(change) = self.maintenance.expire(exchange, at) {
            self.announce_maintenance(exchange, change, out);
        }
    }

    /// The one info alert at each edge of a maintenance window.
    fn announce_maintenance(&mut self, exchange: &Name, change: Change, out: &mut Vec<Decision>) {
        let stats = self
            .board
            .get(&(exchange.clone(), Name::from("*")))
            .copied()
            .unwrap_or_default();
        let alert = crate::route::maintenance::alert(&self.region, exchange, change, stats);
        self.fan_out(alert, Severity::Info, Why::Maintenance, out);
    }

    /// Sends `alert` to the routes whose `min_severity` `severity` meets, and remembers it
    /// for triage follow-ups.
    /// With grouping, routes that take groups get the group message due (if any) instead.
    fn fan_out(&mut self, alert: Alert, severity: Severity, why: Why, out: &mut Vec<Decision>) {
        let grouping = self.grouper.enabled();
        let routes = (self.routes.iter().enumerate())
            .filter(|(_, r)| severity >= r.min_severity && !(grouping && r.grouped))
            .map(|(i, _)| i)
            .collect();
        if self.recent.len() == RECENT_ALERTS {
            self.recent.pop_front();
        }
        self.recent.push_back(alert.clone());
        let group = grouping
            .then(|| self.grouper.on_alert(&alert, alert.at))
            .flatten();
        out.push(Decision::Send(Dispatch { alert, routes, why }));
        if let Some(group) = group {
            self.send_group(group, out);
        }
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
        "stream_stale" => "stream stalled",
        "stream_frozen" => "stream frozen",
        "stream_gap" => "stream sequence gap",
        "stream_churn" => "stream reconnecting too often",
        "vantage_down" => "unreachable from some vantages",
        "baseline_p90" => "p90 latency above its learned baseline",
        "baseline_4xx" => "4xx errors above their learned baseline",
        "baseline_5xx" => "5xx errors above their learned baseline",
        "baseline_503" => "503 errors above their learned baseline",
        "baseline_504" => "504 errors above their learned baseline",
        other => other,
    }
}

mod removal;
pub use removal::REMOVED_MESSAGE;

#[cfg(test)]
mod tests;
