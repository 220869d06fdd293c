//! The [`StoreActor`]'s messages for silences and acknowledgements (see
//! `store/db/silences.rs`): the writes the API awaits before it answers, the queries it asks,
//! and the silenced alerts the Router records.

use actix::{Handler, Message, MessageResult, SyncContext};

use super::StoreActor;
use crate::messages::{Alert, Name, Timestamp};
use crate::route::silence::Silence;
use crate::store::db::AckRecord;

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

/// Stores an alert a silence kept from the channels (no delivery).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordSilenced(pub Alert);

/// One stored alert (sent or silenced), by id; `Err` when the store could not be read.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Option<Alert>, String>")]
pub struct GetAlert(pub Name);

/// Records an acknowledgement; `Err` says why it was not written.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), String>")]
pub struct RecordAck(pub AckRecord);

const FAILED: &str = "the event store failed (see the log)";

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

impl Handler<RecordSilenced> for StoreActor {
    type Result = ();

    fn handle(&mut self, RecordSilenced(a): RecordSilenced, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "record_silenced", |st, _| st.record_silenced(&a));
    }
}

impl Handler<GetAlert> for StoreActor {
    type Result = Result<Option<Alert>, String>;

    fn handle(&mut self, GetAlert(id): GetAlert, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.with_store(ctx, "alert", |st, _| st.alert(&id))
            .ok_or_else(|| FAILED.to_owned())
    }
}

impl Handler<RecordAck> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, RecordAck(a): RecordAck, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.with_store(ctx, "record_ack", |st, _| st.record_ack(&a))
            .ok_or_else(|| FAILED.to_owned())
    }
}
