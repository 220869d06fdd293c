//! The silences' messages and their handlers on the [`StoreActor`]: the writes the API awaits
//! before it answers, and the queries it asks.

use actix::{Handler, Message, MessageResult, SyncContext};

use crate::messages::{Name, Silence, Timestamp};
use crate::store::StoreActor;
use crate::store::actor::FAILED;

/// Writes a silence (new, or with a new end); `Err` says why it was not written.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), String>")]
pub struct SaveSilence(pub Silence);

/// One stored silence, by id.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Silence>")]
pub struct GetSilence(pub Name);

/// Every stored silence, newest first; with `active`, only those active (or not) at `now`.
/// `Err` when the store could not be read.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Result<Vec<Silence>, String>")]
pub struct StoredSilences {
    /// The filter.
    pub active: Option<bool>,
    /// The time the filter is judged at.
    pub now: Timestamp,
}

impl Handler<SaveSilence> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, SaveSilence(s): SaveSilence, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.with_store(ctx, "save_silence", |st, _| st.save_silence(&s))
            .ok_or_else(|| FAILED.to_owned())
    }
}

impl Handler<GetSilence> for StoreActor {
    type Result = MessageResult<GetSilence>;

    fn handle(&mut self, GetSilence(id): GetSilence, ctx: &mut SyncContext<Self>) -> Self::Result {
        MessageResult(
            self.with_store(ctx, "silence", |st, _| st.silence(&id))
                .flatten(),
        )
    }
}

impl Handler<StoredSilences> for StoreActor {
    type Result = Result<Vec<Silence>, String>;

    fn handle(&mut self, m: StoredSilences, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.with_store(ctx, "silences", |st, _| st.silences(m.active, m.now))
            .ok_or_else(|| FAILED.to_owned())
    }
}
