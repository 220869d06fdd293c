//! Routing: deduplicate anomalies by series, escalate, resolve, inhibit, silence, and fan
//! alerts out to the channels. [`RouterCore`] is the pure policy (the gates, in order, and
//! the Router's memory) returning [`Decision`]s; [`RouterActor`] carries them out. `[router]`
//! is validated in [`config`].

pub mod config;
pub mod connectivity;
pub mod core;
pub mod correlation;
pub mod decision;
pub mod dedup;
pub mod group;
pub mod incidents;
pub mod maintenance;
pub mod router;
pub mod silence;

pub use core::{AckError, GATES, Incident, REMOVED_MESSAGE, RouterCore, Target, headline};
pub use decision::{Decision, Dispatch, Dropped, Gate, Why};
pub use dedup::{Dedup, Verdict};
pub use group::{GroupField, Grouper};
pub use incidents::{Incidents, OpenIncident, OpenIncidents};
pub use router::{Ack, AddSilence, ExpireSilence, ListSilences};
pub use router::{AddRoute, Route, RouterActor, Subscribe, SubscribeResolved};
pub use router::{ForgetSeries, Reconfigure, RemoveRoute};
pub use silence::{Silence, SilenceBoard};
