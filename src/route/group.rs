//! Incident grouping (`[router] group_by`, `group_interval`), pure: [`Grouper`] turns the
//! per-series alerts the Router sends into group messages, one incident at a time, on event
//! time. It touches no actor, store, channel or clock; [`crate::route::RouterCore`] owns it,
//! feeds it every per-series alert that passed the gates, and releases what is due on event
//! time and on the actor's timer ([`Grouper::next_due`]).
//!
//! - The **first** firing alert of a group goes out at once ([`GroupUpdate::Opened`]): no
//!   added delay.
//! - Alerts of an open group that fire, escalate or resolve afterwards are gathered and sent
//!   as **one update** per `group_interval` at most ([`GroupUpdate::Updated`]); a member
//!   escalating to critical while the group has not said critical goes at once
//!   ([`GroupUpdate::Escalated`]). What makes an update due is news: a series joining,
//!   firing again or recovering, or the group getting worse than it has said; a member's
//!   severity moving within what the group already said (or a reminder) rides along with
//!   the next update or the resolved, so an already-critical incident whose other series
//!   turn critical too is not re-announced for that alone.
//! - When every member has recovered, **one resolved** ([`GroupUpdate::Resolved`]) says so,
//!   after the group stayed recovered for `group_interval` (a re-fire meanwhile keeps the
//!   group open): a flapping venue is one incident.
//!
//! - **The exchange's `down` leads.** An exchange's down (its `availability` series, detector
//!   `circuit_open`) leads its group before other members of its severity, and joining an open
//!   group it goes at once ([`GroupUpdate::Escalated`]): the whole venue being down is worse
//!   than any one endpoint, and the desk's page says so, listing what failed before it.
//! - **Symptoms** ([`Grouper::on_symptom`]): an alert the Router does not send because its
//!   exchange is down — its market-data stream stalling while the venue's breaker is open —
//!   joins the group of its exchange's down as a member that pages nobody by itself (its
//!   joining is news for the next update). One that fails while the down is still held (the
//!   correlation hold) waits, and joins when the down opens or joins its group, so the down's
//!   first message already lists it. Its recovery is a member's recovery.
//! - **Recoveries settle.** While a group's exchange down fires, a member recovering is not
//!   news: it rides along with the next update or with the incident's resolve. Otherwise a
//!   recovery makes an update due no sooner than [`RECOVERY_SETTLE`] (at most the interval)
//!   after it, so that members recovering together (a venue and its stream, each released
//!   from its flap hold a moment apart) are said once, by the resolve.
//!
//! A group message is an [`Alert`] whose fields are the group's leading member's (the most
//! severe, then an exchange's down, then the earliest; a firing one while any fires), with a
//! fresh id and [`Alert::group`] listing every member's latest alert.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::messages::{
    Alert, AlertGroup, AlertKind, GroupUpdate, Metric, Name, SeriesKey, Severity, Timestamp, new_id,
};
use crate::route::correlation::DOWN_DETECTOR;

/// How long after a member's recovery an update it makes due waits, at most the interval (see
/// the module docs): members recovering together are said once.
pub const RECOVERY_SETTLE: Duration = Duration::from_secs(10);

/// A field alerts are grouped by (`[router] group_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupField {
    /// The exchange (`exchange=okx`).
    Exchange,
    /// The endpoint.
    Endpoint,
    /// The metric.
    Metric,
    /// The monitor's region.
    Region,
    /// The severity of the alert.
    Severity,
}

impl GroupField {
    /// Every field's name, for messages.
    pub const NAMES: &'static str = "exchange, endpoint, metric, region, severity";

    /// Parses a field's name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "exchange" => Self::Exchange,
            "endpoint" => Self::Endpoint,
            "metric" => Self::Metric,
            "region" => Self::Region,
            "severity" => Self::Severity,
            _ => return None,
        })
    }

    /// The field's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exchange => "exchange",
            Self::Endpoint => "endpoint",
            Self::Metric => "metric",
            Self::Region => "region",
            Self::Severity => "severity",
        }
    }

    /// The value of this field in `alert`.
    fn value(self, alert: &Alert) -> &str {
        match self {
            Self::Exchange => &alert.exchange,
            Self::Endpoint => &alert.endpoint,
            Self::Metric => alert.metric.as_str(),
            Self::Region => &alert.region,
            Self::Severity => alert.severity.as_str(),
        }
    }
}

impl Serialize for GroupField {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The key of `alert`'s group under `by` (`exchange=okx,metric=errors`).
pub fn group_key(by: &[GroupField], alert: &Alert) -> String {
    by.iter()
        .map(|f| format!("{}={}", f.as_str(), f.value(alert)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A member's identity: its series, and whether it is the exchange's maintenance notice
/// (which shares the exchange-wide availability series with its circuit).
type MemberKey = (SeriesKey, bool);

fn member_key(alert: &Alert) -> MemberKey {
    (alert.series(), &*alert.detector == "maintenance")
}

/// Whether `alert` is an exchange's `down` (its breaker opened).
pub fn is_down(alert: &Alert) -> bool {
    alert.metric == Metric::Availability
        && &*alert.detector == DOWN_DETECTOR
        && &*alert.endpoint == "*"
}

/// The member key of `exchange`'s down.
fn down_key(exchange: &Name) -> MemberKey {
    (
        SeriesKey::new(exchange.clone(), "*", Metric::Availability),
        false,
    )
}

#[derive(Debug, Clone)]
struct Member {
    /// Its latest alert (its kind is the member's state).
    alert: Alert,
    /// When it first joined the group (for "earliest").
    joined: Timestamp,
    /// Whether it joined as a symptom of its exchange's down (never sent on its own).
    symptom: bool,
}

#[derive(Debug)]
struct Group {
    members: BTreeMap<MemberKey, Member>,
    /// When the group's last message went out.
    last_sent_at: Timestamp,
    /// The highest severity a message of the group said.
    sent_severity: Severity,
    /// The highest severity any member reached.
    worst: Severity,
    /// Something changed since the last message.
    dirty: bool,
    /// Since when every member has recovered.
    recovered_at: Option<Timestamp>,
    /// An update made due by a recovery waits until then (see [`RECOVERY_SETTLE`]).
    settle_until: Option<Timestamp>,
}

impl Group {
    fn new(severity: Severity, now: Timestamp) -> Self {
        Self {
            members: BTreeMap::new(),
            last_sent_at: now,
            sent_severity: severity,
            worst: severity,
            dirty: false,
            recovered_at: None,
            settle_until: None,
        }
    }

    fn all_recovered(&self) -> bool {
        self.members
            .values()
            .all(|m| m.alert.kind == AlertKind::Resolved)
    }

    /// Whether an exchange's down of the group fires.
    fn down_firing(&self) -> bool {
        (self.members.values()).any(|m| m.alert.kind == AlertKind::Firing && is_down(&m.alert))
    }

    /// Whether `exchange`'s down fires in this group.
    fn has_down_of(&self, exchange: &Name) -> bool {
        (self.members.get(&down_key(exchange))).is_some_and(|m| m.alert.kind == AlertKind::Firing)
    }

    /// Notes `member`'s latest alert at `now`; answers whether it is news (see the module
    /// docs) and whether it was a recovery.
    fn note(&mut self, member: Alert, now: Timestamp, symptom: bool) -> (bool, bool) {
        let said = self.sent_severity;
        self.worst = self.worst.max(member.severity);
        match self.members.get_mut(&member_key(&member)) {
            Some(m) => {
                let recovered =
                    m.alert.kind == AlertKind::Firing && member.kind == AlertKind::Resolved;
                let changed = m.alert.kind != member.kind || member.severity > said;
                m.alert = member;
                (changed, recovered)
            }
            None => {
                let firing = member.kind == AlertKind::Firing;
                self.members.insert(
                    member_key(&member),
                    Member {
                        alert: member,
                        joined: now,
                        symptom,
                    },
                );
                (true, !firing)
            }
        }
    }

    /// After a member's recovery at `now`: the group's resolve is due once every member has
    /// recovered; an update for the recovery waits for the settle, and none is made due while
    /// the group's exchange down still fires.
    fn after_recovery(&mut self, news: bool, now: Timestamp, interval: Duration) {
        if self.all_recovered() {
            if self.recovered_at.is_none() {
                self.recovered_at = Some(now);
            }
            return;
        }
        if !news || self.down_firing() {
            return;
        }
        let until = now.plus(RECOVERY_SETTLE.min(interval));
        self.settle_until = Some(self.settle_until.map_or(until, |t| t.max(until)));
        self.dirty = true;
    }

    /// When its next update is due, if one is.
    fn update_due(&self, interval: Duration) -> Option<Timestamp> {
        if !self.dirty {
            return None;
        }
        let due = self.last_sent_at.plus(interval);
        Some(self.settle_until.map_or(due, |t| t.max(due)))
    }
}

/// Incident grouping (see the module docs).
#[derive(Debug)]
pub struct Grouper {
    by: Vec<GroupField>,
    interval: Duration,
    /// Whether a recovered group waits `interval` before its resolved (see
    /// [`Grouper::hold_resolutions`]).
    hold: bool,
    groups: BTreeMap<String, Group>,
    /// Symptoms of exchanges whose down has not reached a group yet (it is held), per exchange.
    pending: BTreeMap<Name, BTreeMap<MemberKey, Member>>,
}

impl Grouper {
    /// Groups by `by` (empty: off) with updates at most every `interval`.
    pub fn new(by: Vec<GroupField>, interval: Duration) -> Self {
        Self {
            by,
            interval,
            hold: true,
            groups: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// Whether a group whose members have all recovered waits `group_interval` (a re-fire
    /// meanwhile keeps it open) before its one resolved: needed without `[router]
    /// flap_hold`; with it, each member's resolution was already held, and the group's goes
    /// at once.
    pub fn hold_resolutions(&mut self, hold: bool) {
        self.hold = hold;
    }

    fn resolve_hold(&self) -> Duration {
        if self.hold {
            self.interval
        } else {
            Duration::ZERO
        }
    }

    /// Whether grouping is on (`group_by` not empty).
    pub fn enabled(&self) -> bool {
        !self.by.is_empty()
    }

    /// New settings (a live reload); open groups keep their keys and members.
    pub fn reconfigure(&mut self, by: Vec<GroupField>, interval: Duration) {
        self.by = by;
        self.interval = interval;
    }

    /// The group key `alert` belongs to.
    pub fn key_of(&self, alert: &Alert) -> String {
        group_key(&self.by, alert)
    }

    /// Open groups.
    pub fn open(&self) -> usize {
        self.groups.len()
    }

    /// The members of the open group `key` (their latest alerts), most severe first.
    pub fn members(&self, key: &str) -> Vec<Alert> {
        self.groups
            .get(key)
            .map(|g| ordered(g).into_iter().map(|m| m.alert.clone()).collect())
            .unwrap_or_default()
    }

    /// A per-series firing or resolved alert sent at `now` (event time): the group message
    /// due at once, if any (the group's first alert, an escalation to critical, or an
    /// exchange's down joining an open group).
    pub fn on_alert(&mut self, alert: &Alert, now: Timestamp) -> Option<Alert> {
        if alert.kind == AlertKind::Triage {
            return None;
        }
        let key = self.key_of(alert);
        let mut member = alert.clone();
        member.group = None;
        let firing = member.kind == AlertKind::Firing;
        let down = firing && is_down(&member);
        let interval = self.interval;
        // Symptoms of this exchange waiting for its down join the down's group with it.
        let adopted = if down {
            self.pending.remove(&member.exchange).unwrap_or_default()
        } else {
            BTreeMap::new()
        };
        let Some(g) = self.groups.get_mut(&key) else {
            let mut g = Group::new(alert.severity, now);
            g.note(member, now, false);
            g.members.extend(adopted);
            if !firing {
                // A resolution of a group opened before grouping was (a reload): said once.
                return Some(message(&key, &g, GroupUpdate::Resolved));
            }
            let out = message(&key, &g, GroupUpdate::Opened);
            self.groups.insert(key, g);
            return Some(out);
        };
        let severity = member.severity;
        let was_down = down && g.has_down_of(&member.exchange);
        // News worth an update: a series joins, fires again or recovers, or the group gets
        // worse than it has said. A member's severity moving within what the group already
        // said (and a reminder) is not: it rides along with the next update or the resolved.
        let (news, recovered) = g.note(member, now, false);
        for (k, m) in adopted {
            g.members.entry(k).or_insert(m);
        }
        if firing {
            g.recovered_at = None;
            let escalated = severity == Severity::Critical && g.sent_severity < Severity::Critical;
            if escalated || (down && !was_down) {
                g.sent_severity = g.sent_severity.max(severity);
                g.last_sent_at = now;
                g.dirty = false;
                g.settle_until = None;
                return Some(message(&key, g, GroupUpdate::Escalated));
            }
            g.dirty |= news;
        } else {
            g.after_recovery(news && recovered, now, interval);
        }
        None
    }

    /// An alert the Router did not send because its exchange is down (a symptom: see the
    /// module docs), firing or resolved, at `now` (event time). It joins the group of its
    /// exchange's down, or waits for that down to reach a group. Never a message at once.
    pub fn on_symptom(&mut self, alert: &Alert, now: Timestamp) {
        let mut member = alert.clone();
        member.group = None;
        let interval = self.interval;
        let exchange = member.exchange.clone();
        let key = member_key(&member);
        let in_group = (self.groups.values_mut())
            .find(|g| g.has_down_of(&exchange) || g.members.get(&key).is_some_and(|m| m.symptom));
        match in_group {
            Some(g) => {
                let firing = member.kind == AlertKind::Firing;
                let (news, _) = g.note(member, now, true);
                if firing {
                    g.recovered_at = None;
                    g.dirty |= news;
                } else {
                    g.after_recovery(news, now, interval);
                }
            }
            None if member.kind == AlertKind::Firing => {
                let pending = self.pending.entry(exchange).or_default();
                let joined = pending.get(&key).map_or(now, |m| m.joined);
                pending.insert(
                    key,
                    Member {
                        alert: member,
                        joined,
                        symptom: true,
                    },
                );
            }
            None => {
                if let Some(p) = self.pending.get_mut(&exchange) {
                    p.remove(&key);
                    if p.is_empty() {
                        self.pending.remove(&exchange);
                    }
                }
            }
        }
    }

    /// The latest alert of `series` as a symptom (in a group, or waiting for its exchange's
    /// down), if it is one and still firing.
    pub fn symptom(&self, series: &SeriesKey) -> Option<&Alert> {
        let key = (series.clone(), false);
        let waiting = self.pending.get(&series.exchange).and_then(|p| p.get(&key));
        (self.groups.values())
            .filter_map(|g| g.members.get(&key))
            .chain(waiting)
            .find(|m| m.symptom && m.alert.kind == AlertKind::Firing)
            .map(|m| &m.alert)
    }

    /// The series of the firing symptoms (in groups, or waiting for their exchange's down).
    pub fn symptoms(&self) -> Vec<SeriesKey> {
        let waiting = self.pending.values().flat_map(|p| p.values());
        let mut out: Vec<SeriesKey> = (self.groups.values())
            .flat_map(|g| g.members.values())
            .chain(waiting)
            .filter(|m| m.symptom && m.alert.kind == AlertKind::Firing)
            .map(|m| m.alert.series())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Forgets the symptoms waiting for `exchange`'s down (it recovered, or will never be
    /// sent); `None`: of every exchange.
    pub fn forget_symptoms(&mut self, exchange: Option<&Name>) {
        match exchange {
            Some(x) => {
                self.pending.remove(x);
            }
            None => self.pending.clear(),
        }
    }

    /// The group messages due at `now` (event time): updates whose interval has passed, and
    /// resolutions of groups recovered for a whole interval.
    pub fn flush(&mut self, now: Timestamp) -> Vec<Alert> {
        let interval = self.interval;
        let hold = self.resolve_hold();
        let mut out = Vec::new();
        let mut closed = Vec::new();
        for (key, g) in &mut self.groups {
            match g.recovered_at {
                Some(since) if since.plus(hold) <= now => {
                    out.push(message(key, g, GroupUpdate::Resolved));
                    closed.push(key.clone());
                }
                Some(_) => {}
                None if g.update_due(interval).is_some_and(|due| due <= now) => {
                    g.dirty = false;
                    g.settle_until = None;
                    g.last_sent_at = now;
                    let m = message(key, g, GroupUpdate::Updated);
                    g.sent_severity = g.sent_severity.max(m.severity);
                    out.push(m);
                }
                None => {}
            }
        }
        for key in closed {
            self.groups.remove(&key);
        }
        out
    }

    /// When the next group message is due (event time), for the actor's timer.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.groups
            .values()
            .filter_map(|g| match g.recovered_at {
                Some(since) => Some(since.plus(self.resolve_hold())),
                None => g.update_due(self.interval),
            })
            .min()
    }
}

/// The members most severe first, then an exchange's down, then earliest; firing ones before
/// recovered ones.
fn ordered(g: &Group) -> Vec<&Member> {
    let mut members: Vec<&Member> = g.members.values().collect();
    members.sort_by(|a, b| {
        let firing = |m: &Member| m.alert.kind == AlertKind::Firing;
        let down = |m: &Member| is_down(&m.alert);
        (firing(b), b.alert.severity, down(b), a.joined).cmp(&(
            firing(a),
            a.alert.severity,
            down(a),
            b.joined,
        ))
    });
    members
}

/// The group message saying `update` of `g`: the leading member's fields, a fresh id, the
/// group's kind, and every member.
fn message(key: &str, g: &Group, update: GroupUpdate) -> Alert {
    let members = ordered(g);
    let lead = members[0];
    let mut alert = lead.alert.clone();
    alert.id = new_id();
    alert.kind = if update == GroupUpdate::Resolved {
        AlertKind::Resolved
    } else {
        AlertKind::Firing
    };
    if update == GroupUpdate::Resolved {
        // The incident's worst, as a per-series resolved says its episode's.
        alert.severity = g.worst;
    }
    alert.group = Some(AlertGroup {
        key: key.to_owned(),
        update,
        alerts: members.into_iter().map(|m| m.alert.clone()).collect(),
    });
    alert
}

#[cfg(test)]
mod tests;
