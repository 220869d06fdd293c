//! A live reload changed this exchange's settings (endpoints added, removed or changed, its
//! connection limit, its confirmation budget, `[breaker]`): the actor takes the new settings
//! in place and keeps what describes the exchange — the breaker's state (unless `[breaker]`
//! itself changed), the rate-limit back-off — so that an exchange that is down stays down, and
//! its `availability` series resolves when it really recovers.

use actix::clock::Instant;
use actix::{Context, Handler, Message};

use super::{ProbeActor, endpoints_of, targets};
use crate::config::{BreakerSettings, ExchangeSettings};
use crate::probe::breaker::CircuitBreaker;
use crate::probe::confirm::ConfirmBudget;
use crate::probe::http::ProbeClient;
use crate::probe::schedule::Spread;

/// New settings for the exchange this actor probes.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Reconfigure {
    /// The exchange as reloaded (same name).
    pub settings: ExchangeSettings,
    /// `[breaker]` as reloaded.
    pub breaker: BreakerSettings,
    /// Where its first slots fall in the monitor's interval.
    pub spread: Spread,
}

impl Handler<Reconfigure> for ProbeActor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        let Reconfigure {
            settings,
            breaker,
            spread,
        } = msg;
        let now = Instant::now();
        if breaker != *self.breaker.settings() {
            self.breaker = CircuitBreaker::new(&breaker);
        } else {
            // Answers of probes in flight are dropped below: their trial slots come back.
            self.breaker.abandon_trials();
        }
        if settings.confirm_per_minute != self.confirm_per_minute {
            self.confirm_budget = ConfirmBudget::new(settings.confirm_per_minute, now);
        }
        // As at a restart: the schedules start again from now (spread), and answers of the
        // probes sent before are dropped (they still count in flight until they answer).
        self.epoch += 1;
        self.armed.cancel(ctx);
        self.ticking = false;
        self.timers.clear();
        self.endpoints = endpoints_of(&settings, self.breaker.settings(), &self.metrics, now);
        // A new limit, or endpoints on another origin: another pool (maybe a shared one).
        if !self
            .client
            .serves(settings.max_connections, targets(&self.endpoints))
        {
            self.client =
                ProbeClient::for_targets(settings.max_connections, targets(&self.endpoints));
        }
        self.max_connections = settings.max_connections;
        self.confirm_per_minute = settings.confirm_per_minute;
        self.stopped = false;
        self.spread(spread);
        for i in 0..self.endpoints.len() {
            self.arm(i);
        }
        self.rearm(ctx);
    }
}
