//! Supervision: how exwatch's actors survive their own bugs.
//!
//! actix 0.13's `Supervisor` restarts an actor only when it *stops*; a panic inside a handler,
//! a timer closure or a spawned future unwinds out of the actor's task, which tokio catches at
//! the task boundary and drops — the actor (and its mailbox) is gone and nothing restarts it
//! (actix contains no `catch_unwind`). exwatch therefore makes restarts real in two steps:
//!
//! 1. every handler body, timer and spawned future runs inside [`guard`] / [`guard_future`],
//!    which catch the panic, log it and call `ctx.stop()`;
//! 2. every actor is started with `actix::Supervisor`, so that stop becomes a restart of the
//!    same instance on the same mailbox (the `Addr` stays valid, queued messages survive), and
//!    its `Supervised::restarting` rebuilds its volatile state and records the restart in a
//!    [`RestartTracker`].
//!
//! The tracker counts restarts in `exwatch_actor_restarts_total` and keeps a [`RestartBudget`]:
//! more than `max_restarts` within `within` is a crash loop, escalated as a critical
//! [`Anomaly`] about exwatch itself (series
//! `exwatch/<actor>/actor_restarts`), so the desk hears that its monitor is sick.

mod budget;
mod guard;

pub use budget::RestartBudget;
pub use guard::{guard, guard_future, panic_text};

use actix::Recipient;
use actix::clock::Instant;

use crate::config::SupervisionSettings;
use crate::messages::{Anomaly, Metric, Name, SeriesKey, Severity, Stats, Timestamp};
use crate::metrics::{Counter, Metrics};

/// Counts one actor's restarts and escalates a crash loop. Lives in the actor's struct and is
/// *not* rebuilt by a restart.
#[derive(Debug)]
pub struct RestartTracker {
    actor: Name,
    budget: RestartBudget,
    restarts: Counter,
    escalate: Option<Recipient<Anomaly>>,
    escalated: bool,
}

impl RestartTracker {
    /// A tracker for the actor named `actor` (`detector:binance/ping/latency_ms`, `router`,
    /// `channel:ops` …) that escalates to `escalate`.
    pub fn new(
        actor: Name,
        settings: &SupervisionSettings,
        metrics: &Metrics,
        escalate: Option<Recipient<Anomaly>>,
    ) -> Self {
        let restarts = Self::register(&actor, metrics);
        Self {
            actor,
            budget: RestartBudget::new(settings.max_restarts, settings.within),
            restarts,
            escalate,
            escalated: false,
        }
    }

    /// Registers (at 0) the restart counter of the actor named `actor` and returns it: an
    /// actor that builds its tracker at its first restart calls this when it starts, so that
    /// its counter is listed from the start as a tracker's is.
    pub fn register(actor: &str, metrics: &Metrics) -> Counter {
        metrics.counter(
            "exwatch_actor_restarts_total",
            &[("actor", actor_label(actor))],
        )
    }

    /// Sets where crash loops are reported (the Router, once it exists).
    pub fn set_escalation(&mut self, escalate: Recipient<Anomaly>) {
        self.escalate = Some(escalate);
    }

    /// Records one restart at `now`; returns true when the budget is exhausted (a crash loop),
    /// in which case a critical anomaly has been sent once per loop.
    pub fn record(&mut self, now: Instant) -> bool {
        self.restarts.inc();
        let exhausted = self.budget.record(now);
        tracing::warn!(actor = %self.actor, restarts = self.budget.recent(), "Actor restarted.");
        if exhausted && !self.escalated {
            self.escalated = true;
            tracing::error!(actor = %self.actor, "Actor is in a crash loop; escalating.");
            if let Some(to) = &self.escalate {
                let at = Timestamp::now();
                to.do_send(Anomaly {
                    series: SeriesKey::new("exwatch", self.actor.clone(), Metric::ActorRestarts),
                    detector: Name::from("restart_budget"),
                    severity: Severity::Critical,
                    value: self.budget.recent() as f64,
                    threshold: self.budget.max_restarts() as f64,
                    confidence: 1.0,
                    message: format!(
                        "exwatch actor {} restarted {} times within {}; it is crash-looping",
                        self.actor,
                        self.budget.recent(),
                        humantime::format_duration(self.budget.within())
                    ),
                    started_at: at,
                    at,
                    stats: Stats::default(),
                });
            }
        } else if !exhausted {
            self.escalated = false;
        }
        exhausted
    }

    /// Restarts recorded since start.
    pub fn total(&self) -> u64 {
        self.restarts.get()
    }
}

/// The `actor` label of the restart counter: the actor's kind, without per-series detail, so
/// that the label set stays small (`detector`, `router`, `channel:ops`, `probe:binance`).
fn actor_label(actor: &str) -> &str {
    match actor.split_once(':') {
        Some(("detector", _)) => "detector",
        _ => actor,
    }
}
