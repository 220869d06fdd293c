//! A live reload's messages to the Router: new `[router]` settings and exchange count, the
//! removal of a channel's route, and the exchanges and endpoints removed (their open
//! incidents resolved, see [`crate::route::core::RouterCore::forget`]). The Router's memory (open episodes, held resolutions,
//! silences, maintenance) is kept; only what the settings say changes.

use actix::{Context, Handler, Message};

use super::RouterActor;
use crate::messages::{Name, Removed, Timestamp};
use crate::route::config::RouterSettings;

/// New `[router]` settings and the number of probed exchanges (for the all-down judgement).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Reconfigure {
    /// `[router]` as reloaded.
    pub settings: RouterSettings,
    /// Exchanges the monitor now probes.
    pub exchanges: usize,
}

/// Stops routing to the channel named by it (the channel was removed from the config).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RemoveRoute(pub Name);

/// Exchanges and endpoints removed from the configuration: each open incident of theirs gets
/// one resolved alert saying so, and the Router forgets their series.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct ForgetSeries(pub Vec<Removed>);

impl Handler<ForgetSeries> for RouterActor {
    type Result = ();

    fn handle(&mut self, ForgetSeries(removed): ForgetSeries, ctx: &mut Context<Self>) {
        let decisions = self.core.forget(&removed, Timestamp::now());
        self.apply(decisions);
        self.arm_timers(ctx);
    }
}

impl Handler<Reconfigure> for RouterActor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        let RouterSettings {
            dedup_window,
            flap_hold,
            correlation_hold,
            group_by,
            group_interval,
            ..
        } = msg.settings;
        self.core.set_correlation_hold(correlation_hold);
        self.core.regroup(group_by, group_interval);
        self.core
            .reconfigure(dedup_window, flap_hold, msg.exchanges);
        // Resolutions held before keep their due time; the tick (if any ran) releases them.
        self.start_flap_tick(ctx);
    }
}

impl Handler<RemoveRoute> for RouterActor {
    type Result = ();

    fn handle(&mut self, RemoveRoute(name): RemoveRoute, _: &mut Context<Self>) {
        if let Some(i) = self.core.remove_route(&name) {
            self.routes.remove(i);
        }
    }
}
