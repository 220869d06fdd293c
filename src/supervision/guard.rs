//! Panic guards: turn a panic inside an actor into `ctx.stop()`, which its `Supervisor` turns
//! into a restart.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use actix::{Actor, ActorContext, ActorFuture, ActorFutureExt, AsyncContext};
use futures_util::FutureExt;

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}

/// Runs `f`; on panic logs it, stops the actor (so that its `Supervisor` restarts it) and
/// returns `None`.
pub fn guard<A, R>(
    actor: &mut A,
    ctx: &mut A::Context,
    name: &str,
    f: impl FnOnce(&mut A, &mut A::Context) -> R,
) -> Option<R>
where
    A: Actor,
    A::Context: AsyncContext<A> + ActorContext,
{
    match catch_unwind(AssertUnwindSafe(|| f(actor, ctx))) {
        Ok(r) => Some(r),
        Err(payload) => {
            stop_after_panic(ctx, name, &*payload);
            None
        }
    }
}

/// Wraps a future so that a panic while polling it (or in `then`, which runs guarded too)
/// stops the actor instead of killing its task. `then` receives the future's output.
pub fn guard_future<A, F, T>(
    name: &'static str,
    fut: F,
    then: impl FnOnce(T, &mut A, &mut A::Context) + 'static,
) -> impl ActorFuture<A, Output = ()>
where
    A: Actor,
    A::Context: AsyncContext<A> + ActorContext,
    F: Future<Output = T> + 'static,
    T: 'static,
{
    actix::fut::wrap_future::<_, A>(AssertUnwindSafe(fut).catch_unwind()).map(
        move |res, act: &mut A, ctx: &mut A::Context| match res {
            Ok(value) => {
                guard(act, ctx, name, |act, ctx| then(value, act, ctx));
            }
            Err(payload) => stop_after_panic(ctx, name, &*payload),
        },
    )
}

/// Logs a caught panic and stops the actor, which its `Supervisor` then restarts.
fn stop_after_panic<C: ActorContext>(ctx: &mut C, name: &str, payload: &(dyn Any + Send)) {
    tracing::error!(
        actor = name,
        panic = panic_text(payload),
        "Actor panicked; restarting."
    );
    ctx.stop();
}
