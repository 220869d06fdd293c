//! The Router's side of silences and acknowledgements (see the module docs of the Router):
//! the messages the API sends ([`AddSilence`], [`ExpireSilence`], [`ListSilences`], [`Ack`]),
//! muting an alert a silence matches, letting it out when no silence covers its series any
//! more, and the timer at the nearest end of a silence.

use std::time::Duration;

use actix::{AsyncContext, Context, Handler, Message, MessageResult};

use super::RouterActor;
use crate::messages::{Alert, AlertKind, Metric, Name, SeriesKey, Severity, Timestamp, new_id};
use crate::route::dedup::Verdict;
use crate::route::silence::Silence;
use crate::store::RecordSilenced;
use crate::supervision::guard;

/// The longest the silence timer sleeps before it looks again (a clock step, a silence far
/// in the future).
const MAX_TIMER: Duration = Duration::from_secs(3600);

/// Adds a silence (already validated and stored by the caller).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct AddSilence(pub Silence);

/// Ends a silence at `at` (earlier than planned); answers it as it ended, `None` when the
/// Router does not hold it (unknown, or already over). Series it alone held back and still
/// firing are let out at once.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Silence>")]
pub struct ExpireSilence {
    /// The silence.
    pub id: Name,
    /// When it ends.
    pub at: Timestamp,
}

/// The silences the Router holds: active, or still to begin.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<Silence>")]
pub struct ListSilences;

/// Acknowledges the open incident `alert` belongs to (its series' firing episode).
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Incident, AckError>")]
pub struct Ack {
    /// The alert the operator acknowledges (as stored).
    pub alert: Alert,
    /// When.
    pub at: Timestamp,
}

/// An open incident: one series' firing episode.
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

impl RouterActor {
    /// Records `alert` as silenced and keeps it to let out when its series is no longer
    /// covered.
    pub(super) fn mute(&mut self, alert: Alert, verdict: Verdict, silence: &str) {
        let series = alert.series();
        if verdict == Verdict::New {
            self.unheard.insert(series.clone());
        }
        self.silenced_total.inc();
        tracing::info!(alert = %alert.id, series = %series, silence, "Alert silenced: recorded, not sent.");
        if let Some(store) = &self.store {
            store.do_send(RecordSilenced(alert.clone()));
        }
        self.muted.insert(series, (alert, verdict));
    }

    /// Sends the muted alerts of the series no silence covers at `now` (event time).
    pub(super) fn let_out(&mut self, now: Timestamp) {
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
            if verdict == Verdict::Reminder && self.acked.contains_key(&series) {
                continue;
            }
            let inhibited = (series.metric != Metric::Availability
                && self.down.contains(&series.exchange))
                || self.connectivity.lost()
                || self.maintenance.silenced(&series.exchange);
            if inhibited {
                // Its next anomaly after the inhibition alerts (the episode stays unheard).
                continue;
            }
            alert.id = new_id();
            alert.at = alert.at.max(now);
            self.unheard.remove(&series);
            tracing::info!(alert = %alert.id, series = %series, "Silence over while still firing: alert sent.");
            let severity = alert.severity;
            self.fan_out(alert, severity);
        }
    }

    /// (Re)arms the timer at the nearest end of a silence; on it, lets out what no silence
    /// covers any more and drops the silences that are over. Live, event time is wall time.
    pub(super) fn schedule_silence_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.silence_timer.take() {
            ctx.cancel_future(handle);
        }
        let now = Timestamp::now();
        self.silences_active.set(
            self.silences
                .all()
                .iter()
                .filter(|s| s.active_at(now))
                .count() as f64,
        );
        let Some(end) = self.silences.next_end(now) else {
            return;
        };
        let wait = end.since(now).min(MAX_TIMER);
        self.silence_timer = Some(ctx.run_later(wait, |act, ctx| {
            act.silence_timer = None;
            guard(act, ctx, "router", |act, ctx| {
                let now = Timestamp::now();
                act.let_out(now);
                act.silences.prune(now);
                act.schedule_silence_timer(ctx);
            });
        }));
    }

    fn on_ack(&mut self, m: Ack) -> Result<Incident, AckError> {
        let series = m.alert.series();
        let not_open = || AckError::NotOpen(m.alert.id.clone());
        if m.alert.kind == AlertKind::Resolved {
            return Err(not_open());
        }
        let episode = self.dedup.episode(&series).ok_or_else(not_open)?;
        // An alert of an earlier episode of the same series belongs to a closed incident.
        if m.alert.at < episode.started_at {
            return Err(not_open());
        }
        let (started_at, severity) = (episode.started_at, episode.max_sent);
        let acked_at = *self.acked.entry(series.clone()).or_insert(m.at);
        tracing::info!(series = %series, alert = %m.alert.id, "Incident acknowledged: no more reminders.");
        Ok(Incident {
            silenced: self.unheard.contains(&series),
            series,
            started_at,
            severity,
            acked_at,
        })
    }
}

impl Handler<AddSilence> for RouterActor {
    type Result = ();

    fn handle(&mut self, AddSilence(s): AddSilence, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, ctx| {
            tracing::info!(silence = %s, "Silence added.");
            act.silences.add(s);
            act.schedule_silence_timer(ctx);
        });
    }
}

impl Handler<ExpireSilence> for RouterActor {
    type Result = Option<Silence>;

    fn handle(&mut self, m: ExpireSilence, ctx: &mut Context<Self>) -> Self::Result {
        guard(self, ctx, "router", |act, ctx| {
            let out = act.silences.expire(&m.id, m.at);
            if let Some(s) = &out {
                tracing::info!(silence = %s, "Silence ended early.");
                act.let_out(m.at);
                act.schedule_silence_timer(ctx);
            }
            out
        })
        .flatten()
    }
}

impl Handler<ListSilences> for RouterActor {
    type Result = MessageResult<ListSilences>;

    fn handle(&mut self, _: ListSilences, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.silences.all().to_vec())
    }
}

impl Handler<Ack> for RouterActor {
    type Result = Result<Incident, AckError>;

    fn handle(&mut self, m: Ack, ctx: &mut Context<Self>) -> Self::Result {
        let alert_id = m.alert.id.clone();
        guard(self, ctx, "router", |act, _| act.on_ack(m))
            .unwrap_or(Err(AckError::NotOpen(alert_id)))
    }
}
