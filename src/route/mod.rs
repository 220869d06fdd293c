//! Routing: deduplicate anomalies by series, escalate, resolve, and fan alerts out to the
//! channels. [`RouterActor`] is the actor; [`Dedup`] is its pure memory.

pub mod connectivity;
pub mod dedup;
pub mod incidents;
pub mod maintenance;
pub mod router;
pub mod silence;

pub use dedup::{Dedup, Verdict};
pub use incidents::{Incidents, OpenIncident, OpenIncidents};
pub use router::{Ack, AckError, AddSilence, ExpireSilence, Incident, ListSilences};
pub use router::{AddRoute, Route, RouterActor, Subscribe, SubscribeResolved, headline};
pub use router::{Reconfigure, RemoveRoute};
pub use silence::{Silence, SilenceBoard};
