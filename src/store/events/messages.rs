//! The history's messages and their handlers on the [`StoreActor`]: the Router records the
//! anomalies it alerted on, the resolutions and the alerts a silence kept from the channels;
//! the API and the dashboard query the alerts and record acknowledgements (writes the API
//! awaits before it answers).

use actix::{Handler, Message, MessageResult, SyncContext};

use super::{AckRecord, EventFilter, EventPage};
use crate::messages::{Alert, Anomaly, Name, Resolved};
use crate::store::StoreActor;
use crate::store::actor::FAILED;

/// Records an anomaly the Router alerted on.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordAnomaly(pub Anomaly);

/// Records a series' recovery.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordResolved(pub Resolved);

/// Stores an alert a silence kept from the channels (no delivery).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct RecordSilenced(pub Alert);

/// The latest `limit` alerts, newest first.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<Alert>")]
pub struct RecentAlerts {
    /// How many.
    pub limit: usize,
}

/// A page of stored alerts for the events API (see
/// [`EventStore::query_events`](super::EventStore::query_events)). `Err` carries a reason for
/// the client; the details are in the log.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<EventPage, String>")]
pub struct QueryEvents(pub EventFilter);

/// One stored alert (sent or silenced), by id; `Err` when the store could not be read.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<Option<Alert>, String>")]
pub struct GetAlert(pub Name);

/// Records an acknowledgement; `Err` says why it was not written.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Result<(), String>")]
pub struct RecordAck(pub AckRecord);

impl Handler<RecordAnomaly> for StoreActor {
    type Result = ();

    fn handle(&mut self, RecordAnomaly(a): RecordAnomaly, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "record_anomaly", |s, _| s.record_anomaly(&a));
    }
}

impl Handler<RecordResolved> for StoreActor {
    type Result = ();

    fn handle(&mut self, RecordResolved(r): RecordResolved, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "record_resolved", |s, _| s.record_resolved(&r));
    }
}

impl Handler<RecordSilenced> for StoreActor {
    type Result = ();

    fn handle(&mut self, RecordSilenced(a): RecordSilenced, ctx: &mut SyncContext<Self>) {
        self.with_store(ctx, "record_silenced", |s, _| s.record_silenced(&a));
    }
}

impl Handler<RecentAlerts> for StoreActor {
    type Result = MessageResult<RecentAlerts>;

    fn handle(&mut self, m: RecentAlerts, ctx: &mut SyncContext<Self>) -> Self::Result {
        MessageResult(
            self.with_store(ctx, "recent_alerts", |s, _| s.recent_alerts(m.limit))
                .unwrap_or_default(),
        )
    }
}

impl Handler<QueryEvents> for StoreActor {
    type Result = Result<EventPage, String>;

    fn handle(
        &mut self,
        QueryEvents(filter): QueryEvents,
        ctx: &mut SyncContext<Self>,
    ) -> Self::Result {
        self.with_store(ctx, "query_events", |s, _| s.query_events(&filter))
            .ok_or_else(|| "the event store query failed".to_owned())
    }
}

impl Handler<GetAlert> for StoreActor {
    type Result = Result<Option<Alert>, String>;

    fn handle(&mut self, GetAlert(id): GetAlert, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.with_store(ctx, "alert", |s, _| s.alert(&id))
            .ok_or_else(|| FAILED.to_owned())
    }
}

impl Handler<RecordAck> for StoreActor {
    type Result = Result<(), String>;

    fn handle(&mut self, RecordAck(a): RecordAck, ctx: &mut SyncContext<Self>) -> Self::Result {
        self.with_store(ctx, "record_ack", |s, _| s.record_ack(&a))
            .ok_or_else(|| FAILED.to_owned())
    }
}
