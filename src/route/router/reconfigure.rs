//! A live reload's messages to the Router: new `[router]` settings and exchange count, and
//! the removal of a channel's route. The Router's memory (open episodes, held resolutions,
//! silences, maintenance) is kept; only what the settings say changes.

use actix::{Context, Handler, Message};

use super::RouterActor;
use crate::messages::Name;
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

impl Handler<Reconfigure> for RouterActor {
    type Result = ();

    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        let RouterSettings {
            dedup_window,
            flap_hold,
            group_by,
            group_interval,
            ..
        } = msg.settings;
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
