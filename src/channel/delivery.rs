//! The ChannelActor: the one delivery mechanism every channel shares.
//!
//! It owns a FIFO queue of alerts for one channel and delivers them one at a time, in order
//! (so a series' resolved never overtakes its firing). A failed attempt that is worth
//! retrying waits an exponentially growing, fully jittered back-off — or the platform's
//! `Retry-After` when it said one — and tries again: forever by default (`max_attempts = 0`:
//! an alert the channel cannot deliver stays pending), or up to a positive `max_attempts`; a
//! rejection is logged once and dropped. Timers: one back-off timer at a time; at shutdown
//! (`Flush`) a back-off of our own choosing is cut short, a platform's `Retry-After` is not. A
//! restart (after a panic in the channel's code) keeps the queue and resumes it after a
//! back-off; only an alert whose delivery crashed the channel
//! [`MAX_CRASHES_PER_ALERT`] times is dropped, so one poison alert cannot block the rest.
//!
//! With the event store ([`ChannelActor::with_store`]) the channel is durable: it reports
//! every attempt, each delivery and each failure to the store, and at its first start it
//! loads the deliveries still pending from an earlier run (with `ctx.wait`, so they go out
//! before anything newer in its mailbox).

use std::collections::VecDeque;
use std::time::Duration;

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient, ResponseActFuture,
    SpawnHandle, Supervised, WrapFuture,
};
use tokio::sync::oneshot;

use crate::channel::Channel;
use crate::config::{RetrySettings, SupervisionSettings};
use crate::error::DeliveryError;
use crate::messages::{Alert, Anomaly, Crash, Name, Ping};
use crate::metrics::{Counter, Gauge, Metrics};
use crate::store::{AttemptOutcome, Attempted, Delivered, Failed, LoadPending, StoreLink};
use crate::supervision::{RestartTracker, guard, guard_future};

/// The most alerts one channel holds; past this the oldest is dropped (and counted failed)
/// so that a channel dead for days cannot exhaust memory.
pub const MAX_QUEUE: usize = 10_000;

/// The longest `Retry-After` honoured; a platform asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Waits until the channel's queue is empty or `deadline` passes; answers true when it emptied
/// with every alert delivered — false when the deadline passed or an alert was dropped
/// (rejected, given up, pushed out of a full queue) meanwhile.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "bool")]
pub struct Flush {
    /// The longest wait.
    pub deadline: Duration,
}

/// The back-off before retry number `attempt` (1 for the first retry): a uniformly random
/// duration up to `min(max, initial · 2^(attempt−1))` ("full jitter"), but never less than the
/// platform's `retry_after`.
pub fn backoff_delay(
    attempt: u32,
    retry: &RetrySettings,
    retry_after: Option<Duration>,
    rng: &mut fastrand::Rng,
) -> Duration {
    let exp = 2u32.saturating_pow(attempt.saturating_sub(1));
    let ceiling = retry
        .initial_backoff
        .saturating_mul(exp)
        .min(retry.max_backoff);
    let jittered = ceiling.mul_f64(rng.f64());
    match retry_after {
        Some(asked) => asked.min(MAX_RETRY_AFTER).max(jittered),
        None => jittered,
    }
}

/// How many times one alert's delivery may crash the channel before it is dropped: a poison
/// alert must not block every alert behind it, even with unlimited attempts.
pub const MAX_CRASHES_PER_ALERT: u32 = 3;

struct Pending {
    alert: Alert,
    attempts: u32,
    /// Restarts that happened while this alert's attempt was in flight.
    crashes: u32,
}

/// What the actor is doing about the front of its queue. Each attempt and each back-off has
/// its own `turn`, so that an attempt's result or a back-off's timer that is no longer the
/// current one changes nothing: actix still runs a cancelled timer that was already due in the
/// turn that cancelled it, which would otherwise start a second attempt beside the one a
/// shutdown's hurry started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// An attempt is in flight.
    Sending {
        turn: u64,
    },
    /// Waiting before the next attempt; `asked` when the platform set the wait (Retry-After),
    /// which a shutdown must honour too.
    BackingOff {
        timer: SpawnHandle,
        asked: bool,
        turn: u64,
    },
}

/// Delivers one channel's alerts with retries. See the module docs.
pub struct ChannelActor<C: Channel> {
    name: Name,
    channel: C,
    retry: RetrySettings,
    queue: VecDeque<Pending>,
    state: State,
    /// The number of the latest attempt or back-off (see [`State`]).
    turn: u64,
    /// A heartbeat is running.
    beating: bool,
    /// Alerts dropped undelivered since the actor was created (survives restarts).
    dropped: u64,
    /// Flush waiters, each with `dropped` as it was when it began waiting.
    waiters: Vec<(oneshot::Sender<bool>, u64)>,
    rng: fastrand::Rng,
    ok: Counter,
    retried: Counter,
    failed: Counter,
    pending: Gauge,
    restarts: RestartTracker,
    store: Option<StoreLink>,
    /// The pending deliveries of earlier runs have been asked for (first start only).
    loaded: bool,
    /// The actor restarted while an attempt was in flight.
    crashed: bool,
    /// The heartbeat's interval timer, when the channel has one.
    heartbeat: Option<SpawnHandle>,
    /// The channel was removed by a reload: it takes no more alerts and delivers nothing.
    retired: bool,
}

/// A live reload changed the channel's settings (its URL, its secrets, its kind): deliveries
/// go through the channel `make` builds from now on — the alerts still queued included —
/// with the new retry policy. `make` runs on the channel's arbiter (awc clients are `!Send`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplaceChannel {
    /// Builds the new channel.
    pub make: Box<dyn FnOnce() -> Box<dyn Channel> + Send>,
    /// The new retry policy.
    pub retry: RetrySettings,
}

/// A live reload removed the channel: every alert it still holds is marked failed with
/// `reason` (not left pending forever), and it delivers nothing more.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RetireChannel {
    /// Why, as the store records it ("channel removed").
    pub reason: String,
}

impl<C: Channel> ChannelActor<C> {
    /// An actor delivering through `channel`.
    pub fn new(
        name: Name,
        channel: C,
        retry: RetrySettings,
        supervision: &SupervisionSettings,
        metrics: &Metrics,
        escalate: Option<Recipient<Anomaly>>,
    ) -> Self {
        let outcome = |o: &str| {
            metrics.counter(
                "exwatch_deliveries_total",
                &[("channel", &name), ("outcome", o)],
            )
        };
        Self {
            ok: outcome("ok"),
            retried: outcome("retry"),
            failed: outcome("failed"),
            pending: metrics.gauge("exwatch_deliveries_pending", &[("channel", &name)]),
            restarts: RestartTracker::new(
                Name::from(format!("channel:{name}")),
                supervision,
                metrics,
                escalate,
            ),
            name,
            channel,
            retry,
            queue: VecDeque::new(),
            state: State::Idle,
            turn: 0,
            beating: false,
            dropped: 0,
            waiters: Vec::new(),
            rng: fastrand::Rng::new(),
            store: None,
            loaded: false,
            crashed: false,
            heartbeat: None,
            retired: false,
        }
    }

    /// Reports deliveries to the event store and resumes its pending ones (module docs).
    pub fn with_store(mut self, store: Option<StoreLink>) -> Self {
        self.store = store;
        self
    }

    fn report_attempt(&self, id: &Name, attempt: u32, outcome: AttemptOutcome, detail: &str) {
        if let Some(store) = &self.store {
            store.attempted.do_send(Attempted {
                alert_id: id.clone(),
                channel: self.name.clone(),
                attempt,
                outcome,
                detail: detail.to_owned(),
            });
        }
    }

    fn report_delivered(&self, id: &Name) {
        if let Some(store) = &self.store {
            store.delivered.do_send(Delivered {
                alert_id: id.clone(),
                channel: self.name.clone(),
            });
        }
    }

    fn report_failed(&self, id: &Name, reason: &str) {
        if let Some(store) = &self.store {
            store.failed.do_send(Failed {
                alert_id: id.clone(),
                channel: self.name.clone(),
                reason: reason.to_owned(),
            });
        }
    }

    /// At the first start: queues the deliveries pending from earlier runs before the
    /// mailbox is read any further.
    fn load_pending(&mut self, ctx: &mut Context<Self>) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let Some(store) = &self.store else {
            return;
        };
        let ask = store.load.send(LoadPending {
            channel: self.name.clone(),
        });
        ctx.wait(ask.into_actor(self).map(|answer, act, ctx| match answer {
            Ok(pending) => {
                for p in pending {
                    act.channel.resumed(&p.alert);
                    act.push(p.alert, p.attempts, ctx);
                }
                act.kick(ctx);
            }
            Err(e) => {
                tracing::error!(channel = %act.name, error = %e, "Cannot load pending deliveries; they stay pending in the store.");
            }
        }));
    }

    fn enqueue(&mut self, alert: Alert, ctx: &mut Context<Self>) {
        if self.retired {
            return;
        }
        self.push(alert, 0, ctx);
        self.kick(ctx);
    }

    fn push(&mut self, alert: Alert, attempts: u32, _ctx: &mut Context<Self>) {
        if self.queue.len() >= MAX_QUEUE {
            // Never the alert whose attempt is in flight: its result belongs to it.
            let oldest_idle = usize::from(matches!(self.state, State::Sending { .. }));
            if let Some(dropped) = self.queue.remove(oldest_idle) {
                self.failed.inc();
                self.dropped += 1;
                if self.store.is_some() {
                    // Not marked failed: it stays pending in the store, resumed at next start.
                    tracing::error!(channel = %self.name, alert = %dropped.alert.id, "Channel queue full; oldest alert dropped from memory (still pending in the event store).");
                } else {
                    tracing::error!(channel = %self.name, alert = %dropped.alert.id, "Channel queue full; oldest alert dropped.");
                }
            }
        }
        self.queue.push_back(Pending {
            alert,
            attempts,
            crashes: 0,
        });
        self.pending.set(self.queue.len() as f64);
    }

    /// Starts the next attempt unless one is under way.
    fn kick(&mut self, ctx: &mut Context<Self>) {
        if self.state != State::Idle || self.retired {
            return;
        }
        let Some(front) = self.queue.front_mut() else {
            // An empty queue is not "all delivered" if an alert was dropped on the way.
            for (w, dropped_before) in self.waiters.drain(..) {
                let _ = w.send(self.dropped == dropped_before);
            }
            return;
        };
        self.turn += 1;
        let turn = self.turn;
        self.state = State::Sending { turn };
        // Counted before the attempt, so an alert whose delivery panics every time still
        // runs out of attempts across restarts.
        front.attempts += 1;
        let attempt = self.channel.deliver(&front.alert);
        let timeout = self.retry.timeout;
        let bounded = async move {
            match actix_rt::time::timeout(timeout, attempt).await {
                Ok(result) => result,
                Err(_) => Err(DeliveryError::Retryable {
                    reason: format!("no answer within {}", humantime::format_duration(timeout)),
                    retry_after: None,
                }),
            }
        };
        ctx.spawn(guard_future(
            "channel",
            bounded,
            move |result, act: &mut Self, ctx| act.on_result(turn, result, ctx),
        ));
    }

    fn on_result(&mut self, turn: u64, result: Result<(), DeliveryError>, ctx: &mut Context<Self>) {
        if self.state != (State::Sending { turn }) {
            tracing::debug!(channel = %self.name, turn, "Result of an attempt that is no longer current; ignored.");
            return;
        }
        self.state = State::Idle;
        let Some(front) = self.queue.front() else {
            return;
        };
        let (id, attempts) = (front.alert.id.clone(), front.attempts);
        match result {
            Ok(()) => {
                tracing::debug!(channel = %self.name, alert = %id, attempts, "Alert delivered.");
                self.report_attempt(&id, attempts, AttemptOutcome::Ok, "");
                self.report_delivered(&id);
                self.finish_front();
                self.ok.inc();
            }
            Err(DeliveryError::Rejected { reason }) => {
                self.dropped += 1;
                tracing::error!(channel = %self.name, alert = %id, %reason, "Alert rejected by the platform; not retried.");
                self.report_attempt(&id, attempts, AttemptOutcome::Failed, &reason);
                self.report_failed(&id, &format!("rejected: {reason}"));
                self.finish_front();
                self.failed.inc();
            }
            Err(DeliveryError::Retryable {
                reason,
                retry_after,
            }) => {
                if self.retry.max_attempts > 0 && attempts >= self.retry.max_attempts {
                    self.dropped += 1;
                    tracing::error!(channel = %self.name, alert = %id, attempts, %reason, "Alert undeliverable; giving up.");
                    self.report_attempt(&id, attempts, AttemptOutcome::Failed, &reason);
                    self.report_failed(
                        &id,
                        &format!("gave up after {attempts} attempts: {reason}"),
                    );
                    self.finish_front();
                    self.failed.inc();
                } else {
                    self.retried.inc();
                    self.report_attempt(&id, attempts, AttemptOutcome::Retry, &reason);
                    let delay = backoff_delay(attempts, &self.retry, retry_after, &mut self.rng);
                    tracing::warn!(channel = %self.name, alert = %id, attempts, %reason, retry_in = ?delay, "Delivery failed; will retry.");
                    self.back_off(delay, retry_after.is_some(), ctx);
                    return;
                }
            }
        }
        self.kick(ctx);
    }

    /// Waits `delay` before the next attempt.
    fn back_off(&mut self, delay: Duration, asked: bool, ctx: &mut Context<Self>) {
        self.turn += 1;
        let turn = self.turn;
        let timer = ctx.run_later(delay, move |act, ctx| {
            // Not when a shutdown's hurry already ended this back-off (see `State`).
            if matches!(act.state, State::BackingOff { turn: t, .. } if t == turn) {
                act.state = State::Idle;
                guard(act, ctx, "channel", |act, ctx| act.kick(ctx));
            }
        });
        self.state = State::BackingOff { timer, asked, turn };
    }

    /// At shutdown, a back-off of our own choosing is cut short: the receiver may be back,
    /// and the grace is short. A wait the platform asked for is honoured.
    fn hurry(&mut self, ctx: &mut Context<Self>) {
        if let State::BackingOff {
            timer,
            asked: false,
            ..
        } = self.state
        {
            ctx.cancel_future(timer);
            self.state = State::Idle;
            self.kick(ctx);
        }
    }

    /// After a restart: an attempt that was in flight crashed the actor. The alert is retried
    /// after a back-off, and dropped once it has crashed the channel too often.
    fn resume_after_crash(&mut self, ctx: &mut Context<Self>) {
        let Some(front) = self.queue.front_mut() else {
            return;
        };
        front.crashes += 1;
        let (id, attempts, crashes) = (front.alert.id.clone(), front.attempts, front.crashes);
        if crashes >= MAX_CRASHES_PER_ALERT {
            let reason = format!("its delivery crashed the channel {crashes} times");
            self.dropped += 1;
            tracing::error!(channel = %self.name, alert = %id, %reason, "Alert dropped.");
            self.report_attempt(&id, attempts, AttemptOutcome::Failed, &reason);
            self.report_failed(&id, &reason);
            self.finish_front();
            self.failed.inc();
            self.kick(ctx);
        } else {
            let delay = backoff_delay(attempts, &self.retry, None, &mut self.rng);
            self.back_off(delay, false, ctx);
        }
    }

    /// Runs the channel's heartbeat unless the previous one is still running.
    fn beat(&mut self, ctx: &mut Context<Self>) {
        if self.beating || self.retired {
            return;
        }
        if let Some(work) = self.channel.heartbeat() {
            self.beating = true;
            ctx.spawn(guard_future("channel", work, |(), act: &mut Self, _| {
                act.beating = false;
            }));
        }
    }

    /// Runs the channel's heartbeat every [`Channel::heartbeat_interval`], if it has one.
    fn arm_heartbeat(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.heartbeat.take() {
            ctx.cancel_future(timer);
        }
        self.heartbeat = self.channel.heartbeat_interval().map(|every| {
            ctx.run_interval(every, |act, ctx| {
                guard(act, ctx, "channel", |act, ctx| act.beat(ctx));
            })
        });
    }

    /// Drops the front alert. Callers count its outcome only after this, so whoever sees the
    /// outcome counted (a test, a scrape on another thread) sees the pending gauge shrunk too.
    fn finish_front(&mut self) {
        self.queue.pop_front();
        self.pending.set(self.queue.len() as f64);
    }
}

impl<C: Channel> Actor for ChannelActor<C> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        self.arm_heartbeat(ctx);
        // Guarded like every handler: a delivery that panics here must restart the actor,
        // not kill it.
        guard(self, ctx, "channel", |act, ctx| {
            if act.crashed {
                // After a restart the queue is still here: resume it, gently.
                act.crashed = false;
                act.resume_after_crash(ctx);
            } else {
                // First start: the deliveries an earlier run left pending go first.
                act.load_pending(ctx);
                act.kick(ctx);
            }
        });
    }
}

impl<C: Channel> Supervised for ChannelActor<C> {
    /// The in-flight attempt and back-off timer died with the old context; the queue (and
    /// every alert in it) survives, and `started` resumes delivery.
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.record(actix::clock::Instant::now());
        // An attempt in flight when the actor died is the likeliest cause of the crash.
        self.crashed = matches!(self.state, State::Sending { .. });
        self.state = State::Idle;
        self.beating = false;
    }
}

impl<C: Channel> Handler<Alert> for ChannelActor<C> {
    type Result = ();

    fn handle(&mut self, alert: Alert, ctx: &mut Context<Self>) {
        guard(self, ctx, "channel", |act, ctx| act.enqueue(alert, ctx));
    }
}

impl<C: Channel> Handler<Flush> for ChannelActor<C> {
    type Result = ResponseActFuture<Self, bool>;

    fn handle(&mut self, flush: Flush, ctx: &mut Context<Self>) -> Self::Result {
        if self.queue.is_empty() {
            return Box::pin(actix::fut::ready(true));
        }
        guard(self, ctx, "channel", |act, ctx| act.hurry(ctx));
        let (tx, rx) = oneshot::channel();
        self.waiters.push((tx, self.dropped));
        let wait = async move {
            matches!(
                actix_rt::time::timeout(flush.deadline, rx).await,
                Ok(Ok(true))
            )
        };
        Box::pin(wait.into_actor(self).map(|done, act, _| {
            if !done {
                tracing::warn!(channel = %act.name, pending = act.queue.len(), "Shutdown grace ran out or alerts were dropped: not all delivered.");
            }
            done
        }))
    }
}

impl<C: Channel> Handler<Crash> for ChannelActor<C> {
    type Result = ();

    fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
        guard(self, ctx, "channel", |_, _| {
            panic!("fault injected by a Crash message")
        });
    }
}

impl Handler<ReplaceChannel> for ChannelActor<Box<dyn Channel>> {
    type Result = ();

    fn handle(&mut self, msg: ReplaceChannel, ctx: &mut Context<Self>) {
        guard(self, ctx, "channel", |act, ctx| {
            act.channel = (msg.make)();
            act.retry = msg.retry;
            act.arm_heartbeat(ctx);
            tracing::info!(channel = %act.name, pending = act.queue.len(), "Channel reconfigured; queued alerts go to its new settings.");
            // A back-off was waiting for the old destination: the new one is tried at once.
            if let State::BackingOff { timer, .. } = act.state {
                ctx.cancel_future(timer);
                act.state = State::Idle;
            }
            act.kick(ctx);
        });
    }
}

impl<C: Channel> Handler<RetireChannel> for ChannelActor<C> {
    type Result = ();

    fn handle(&mut self, msg: RetireChannel, ctx: &mut Context<Self>) {
        self.retired = true;
        if let State::BackingOff { timer, .. } = self.state {
            ctx.cancel_future(timer);
        }
        if let Some(timer) = self.heartbeat.take() {
            ctx.cancel_future(timer);
        }
        // An attempt in flight finishes on its own; its result is no longer booked.
        self.state = State::Idle;
        while let Some(front) = self.queue.front() {
            let id = front.alert.id.clone();
            self.report_failed(&id, &msg.reason);
            self.dropped += 1;
            self.finish_front();
            self.failed.inc();
        }
        for (w, _) in self.waiters.drain(..) {
            let _ = w.send(false);
        }
        tracing::info!(channel = %self.name, "Channel removed by a reload; its undelivered alerts are marked failed.");
    }
}

impl<C: Channel> Handler<Ping> for ChannelActor<C> {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let retry = RetrySettings {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..RetrySettings::default()
        };
        let mut rng = fastrand::Rng::with_seed(1);
        for attempt in 1..20 {
            let d = backoff_delay(attempt, &retry, None, &mut rng);
            let ceiling = Duration::from_millis(100 * 2u64.pow(attempt.min(10) - 1))
                .min(Duration::from_secs(1));
            assert!(d <= ceiling, "attempt {attempt}: {d:?} > {ceiling:?}");
        }
        let d = backoff_delay(1, &retry, Some(Duration::from_secs(7)), &mut rng);
        assert_eq!(d, Duration::from_secs(7));
        let d = backoff_delay(1, &retry, Some(Duration::from_secs(99_999)), &mut rng);
        assert_eq!(d, MAX_RETRY_AFTER);
    }
}
