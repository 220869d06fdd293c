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
//! A group message is an [`Alert`] whose fields are the group's leading member's (the most
//! severe, then the earliest; a firing one while any fires), with a fresh id and
//! [`Alert::group`] listing every member's latest alert.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::messages::{
    Alert, AlertGroup, AlertKind, GroupUpdate, SeriesKey, Severity, Timestamp, new_id,
};

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

#[derive(Debug)]
struct Member {
    /// Its latest alert (its kind is the member's state).
    alert: Alert,
    /// When it first joined the group (for "earliest").
    joined: Timestamp,
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
}

impl Group {
    fn all_recovered(&self) -> bool {
        self.members
            .values()
            .all(|m| m.alert.kind == AlertKind::Resolved)
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
}

impl Grouper {
    /// Groups by `by` (empty: off) with updates at most every `interval`.
    pub fn new(by: Vec<GroupField>, interval: Duration) -> Self {
        Self {
            by,
            interval,
            hold: true,
            groups: BTreeMap::new(),
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
    /// due at once, if any (the group's first alert, or an escalation to critical).
    pub fn on_alert(&mut self, alert: &Alert, now: Timestamp) -> Option<Alert> {
        if alert.kind == AlertKind::Triage {
            return None;
        }
        let key = self.key_of(alert);
        let mut member = alert.clone();
        member.group = None;
        let firing = member.kind == AlertKind::Firing;
        let Some(g) = self.groups.get_mut(&key) else {
            let mut g = Group {
                members: BTreeMap::new(),
                last_sent_at: now,
                sent_severity: alert.severity,
                worst: alert.severity,
                dirty: false,
                recovered_at: None,
            };
            g.members.insert(
                member_key(&member),
                Member {
                    alert: member,
                    joined: now,
                },
            );
            if !firing {
                // A resolution of a group opened before grouping was (a reload): said once.
                return Some(message(&key, &g, GroupUpdate::Resolved));
            }
            let out = message(&key, &g, GroupUpdate::Opened);
            self.groups.insert(key, g);
            return Some(out);
        };
        let severity = member.severity;
        g.worst = g.worst.max(severity);
        // News worth an update: a series joins, fires again or recovers, or the group gets
        // worse than it has said. A member's severity moving within what the group already
        // said (and a reminder) is not: it rides along with the next update or the resolved.
        let said = g.sent_severity;
        let news = match g.members.get_mut(&member_key(&member)) {
            Some(m) => {
                let changed = m.alert.kind != member.kind || member.severity > said;
                m.alert = member;
                changed
            }
            None => {
                g.members.insert(
                    member_key(&member),
                    Member {
                        alert: member,
                        joined: now,
                    },
                );
                true
            }
        };
        if firing {
            g.recovered_at = None;
            if severity == Severity::Critical && g.sent_severity < Severity::Critical {
                g.sent_severity = Severity::Critical;
                g.last_sent_at = now;
                g.dirty = false;
                return Some(message(&key, g, GroupUpdate::Escalated));
            }
        } else if g.all_recovered() && g.recovered_at.is_none() {
            g.recovered_at = Some(now);
        }
        g.dirty |= news;
        None
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
                None if g.dirty && g.last_sent_at.plus(interval) <= now => {
                    g.dirty = false;
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
                None if g.dirty => Some(g.last_sent_at.plus(self.interval)),
                None => None,
            })
            .min()
    }
}

/// The members most severe first, then earliest; firing ones before recovered ones.
fn ordered(g: &Group) -> Vec<&Member> {
    let mut members: Vec<&Member> = g.members.values().collect();
    members.sort_by(|a, b| {
        let firing = |m: &Member| m.alert.kind == AlertKind::Firing;
        (firing(b), b.alert.severity, a.joined).cmp(&(firing(a), a.alert.severity, b.joined))
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
