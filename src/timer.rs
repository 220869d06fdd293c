//! [`EarliestTimer`]: one actix timer, armed for the earliest of the times an actor asks for.
//!
//! actix polls every future of an actor's context each time the context wakes, so an actor
//! that armed a timer per pending deadline paid for all of them on every message (the Router
//! with thousands of held recoveries did). An actor instead keeps its deadlines itself (a
//! heap, a sorted set, its pure core) and one `EarliestTimer` armed for the first of them; when
//! it goes off, the actor serves what is due and arms it for the next.

use std::time::Duration;

use actix::{Actor, AsyncContext, Context, SpawnHandle};

/// One actix timer at the earliest time asked for. See the module docs.
#[derive(Debug)]
pub struct EarliestTimer<T> {
    armed: Option<(T, SpawnHandle)>,
}

impl<T> Default for EarliestTimer<T> {
    fn default() -> Self {
        Self { armed: None }
    }
}

impl<T: Ord + Copy + 'static> EarliestTimer<T> {
    /// Makes the timer go off for `at`, `wait` from now, unless it is armed for `at` or
    /// earlier already (then nothing changes); a timer armed for later is cancelled. When it
    /// goes off, the timer is unarmed (through `slot`, which finds it in the actor) and then
    /// `then` runs.
    pub fn arm<A>(
        &mut self,
        ctx: &mut Context<A>,
        at: T,
        wait: Duration,
        slot: fn(&mut A) -> &mut Self,
        then: impl FnOnce(&mut A, &mut Context<A>) + 'static,
    ) where
        A: Actor<Context = Context<A>>,
    {
        if let Some((armed_at, handle)) = self.armed {
            if armed_at <= at {
                return;
            }
            ctx.cancel_future(handle);
        }
        let handle = ctx.run_later(wait, move |act, ctx| {
            slot(act).armed = None;
            then(act, ctx);
        });
        self.armed = Some((at, handle));
    }

    /// Cancels the armed timer, if any (the deadlines start over).
    pub fn cancel<A>(&mut self, ctx: &mut Context<A>)
    where
        A: Actor<Context = Context<A>>,
    {
        if let Some((_, handle)) = self.armed.take() {
            ctx.cancel_future(handle);
        }
    }

    /// Forgets the armed timer without cancelling it: after a restart, whose new context
    /// dropped the old one's timers.
    pub fn forget(&mut self) {
        self.armed = None;
    }
}
