//! The Router actor's side of silences and acknowledgements: the messages the API sends
//! ([`AddSilence`], [`ExpireSilence`], [`ListSilences`], [`Ack`]) and the timer at the
//! nearest end of a silence. What they mean (muting, letting out, no reminders) is the
//! core's ([`crate::route::core`]).

use std::time::Duration;

use actix::{AsyncContext, Context, Handler, Message, MessageResult};

use super::RouterActor;
use crate::messages::{Alert, Name, Timestamp};
use crate::route::core::{AckError, Incident};
use crate::route::silence::Silence;
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

impl RouterActor {
    /// (Re)arms the timer at the nearest end of a silence; on it, the core lets out what no
    /// silence covers any more and drops the silences that are over. Live, event time is
    /// wall time.
    pub(super) fn schedule_silence_timer(&mut self, ctx: &mut Context<Self>) {
        if let Some(handle) = self.silence_timer.take() {
            ctx.cancel_future(handle);
        }
        let now = Timestamp::now();
        self.silences_active
            .set(self.core.active_silences(now) as f64);
        let Some(end) = self.core.next_silence_end(now) else {
            return;
        };
        let wait = end.since(now).min(MAX_TIMER);
        self.silence_timer = Some(ctx.run_later(wait, |act, ctx| {
            act.silence_timer = None;
            guard(act, ctx, "router", |act, ctx| {
                let decisions = act.core.on_silence_timer(Timestamp::now());
                act.apply(decisions);
                act.schedule_silence_timer(ctx);
                act.arm_timers(ctx);
            });
        }));
    }
}

impl Handler<AddSilence> for RouterActor {
    type Result = ();

    fn handle(&mut self, AddSilence(s): AddSilence, ctx: &mut Context<Self>) {
        guard(self, ctx, "router", |act, ctx| {
            tracing::info!(silence = %s, "Silence added.");
            act.core.add_silence(s);
            act.schedule_silence_timer(ctx);
        });
    }
}

impl Handler<ExpireSilence> for RouterActor {
    type Result = Option<Silence>;

    fn handle(&mut self, m: ExpireSilence, ctx: &mut Context<Self>) -> Self::Result {
        guard(self, ctx, "router", |act, ctx| {
            let (out, decisions) = act.core.expire_silence(&m.id, m.at);
            if let Some(s) = &out {
                tracing::info!(silence = %s, "Silence ended early.");
                act.apply(decisions);
                act.schedule_silence_timer(ctx);
                act.arm_timers(ctx);
            }
            out
        })
        .flatten()
    }
}

impl Handler<ListSilences> for RouterActor {
    type Result = MessageResult<ListSilences>;

    fn handle(&mut self, _: ListSilences, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.silences().to_vec())
    }
}

impl Handler<Ack> for RouterActor {
    type Result = Result<Incident, AckError>;

    fn handle(&mut self, m: Ack, ctx: &mut Context<Self>) -> Self::Result {
        let alert_id = m.alert.id.clone();
        guard(self, ctx, "router", |act, ctx| {
            let (incident, decisions) = act.core.acknowledge(&m.alert, m.at)?;
            tracing::info!(series = %incident.series, alert = %m.alert.id, "Incident acknowledged: no more reminders.");
            act.apply(decisions);
            act.arm_timers(ctx);
            Ok(incident)
        })
            .unwrap_or(Err(AckError::NotOpen(alert_id)))
    }
}
