//! The Router actor's side of incident grouping: the one-shot timer at the next group message
//! due ([`crate::route::core::RouterCore::next_group_due`]). A group's update or resolution
//! is due on event time, but its exchange may send nothing more once recovered: the timer
//! releases it. What grouping means is the core's ([`crate::route::group`]).

use std::time::Duration;

use actix::Context;

use super::RouterActor;
use crate::messages::Timestamp;
use crate::supervision::guard;

/// The longest the group timer sleeps before it looks again (a clock step).
const MAX_TIMER: Duration = Duration::from_secs(3600);

impl RouterActor {
    /// (Re)arms the timer at the next group message due, when it is sooner than the one
    /// armed (or none is). On it, the core sends what is due and the timer is armed again.
    pub(super) fn schedule_group_timer(&mut self, ctx: &mut Context<Self>) {
        let Some(due) = self.core.next_group_due() else {
            return;
        };
        let wait = due.since(Timestamp::now()).min(MAX_TIMER);
        self.group_timer.arm(
            ctx,
            due,
            wait,
            |act| &mut act.group_timer,
            |act, ctx| {
                guard(act, ctx, "router", |act, ctx| {
                    let decisions = act.core.on_tick(Timestamp::now());
                    act.apply(decisions);
                    act.arm_timers(ctx);
                });
            },
        );
    }
}
