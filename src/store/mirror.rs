//! [`Mirrored`]: a [`Backend`] that also hands every event it stores to a [`MirrorSink`] —
//! how several vantages share one history (`[cluster]`). The wrapped backend (SQLite) stays
//! the outbox and the source of truth for this instance; the sink only queues a copy (the
//! cluster's writer sends it to PostgreSQL later), so a mirrored write costs an in-memory
//! push on the store's own thread and never waits for the network.
//!
//! What is mirrored: every stored alert (sent or silenced), every anomaly and resolution the
//! Router recorded, and every change of a delivery (attempt, delivered, failed). Reads,
//! baselines and silences stay local.

use std::sync::Arc;
use std::time::Duration;

use crate::error::StoreError;
use crate::messages::{Alert, Anomaly, Resolved, SeriesKey, Silence, Timestamp};
use crate::store::{
    AckRecord, AttemptOutcome, Backend, BaselineStore, DeliveryCount, DeliveryState, EventFilter,
    EventPage, EventStore, OutboxStore, PendingAlert, RollupRecord, SaveRollup, SilenceStore,
};

/// One event copied out of the store.
#[derive(Debug, Clone)]
pub enum Mirror {
    /// An alert stored: enqueued for `channels`, or recorded silenced (no channel).
    Alert {
        /// The alert.
        alert: Alert,
        /// The channels it was enqueued for.
        channels: Vec<String>,
        /// A silence kept it from the channels.
        silenced: bool,
    },
    /// An anomaly the Router alerted on.
    Anomaly(Anomaly),
    /// A series recovered.
    Resolved(Resolved),
    /// A delivery changed.
    Delivery {
        /// The alert.
        alert_id: String,
        /// The channel.
        channel: String,
        /// Its state now.
        state: DeliveryState,
        /// Attempts made so far (0 when not known by this change).
        attempts: u32,
        /// The last error, if any.
        error: Option<String>,
        /// When it changed.
        at: Timestamp,
    },
}

/// Where [`Mirrored`] hands its copies: must return at once (a bounded in-memory queue).
pub trait MirrorSink: Send + Sync + 'static {
    /// Takes one copy.
    fn push(&self, event: Mirror);
}

/// A backend whose writes are also handed to a sink. See the module docs.
pub struct Mirrored<B> {
    inner: B,
    sink: Arc<dyn MirrorSink>,
}

impl<B: Backend> Mirrored<B> {
    /// `inner`, mirrored to `sink`.
    pub fn new(inner: B, sink: Arc<dyn MirrorSink>) -> Self {
        Self { inner, sink }
    }

    /// Hands the sink the newest `limit` alerts already stored, oldest first: what an
    /// earlier run stored while the shared store was away (or stopped before it was back)
    /// reaches it now. The sink's store must take them idempotently (by alert id). Answers
    /// how many.
    pub fn resync(&mut self, limit: usize) -> Result<usize, StoreError> {
        let mut alerts = self.inner.recent_alerts(limit)?;
        alerts.reverse();
        let n = alerts.len();
        for alert in alerts {
            let silenced = self.inner.silenced(&alert.id)?;
            self.sink.push(Mirror::Alert {
                alert,
                channels: Vec::new(),
                silenced,
            });
        }
        Ok(n)
    }
}

impl<B: Backend> Backend for Mirrored<B> {
    fn path(&self) -> &str {
        self.inner.path()
    }

    fn check_writable(&mut self, wait: Duration) -> Result<(), StoreError> {
        self.inner.check_writable(wait)
    }

    fn close(&mut self) {
        self.inner.close();
    }
}

impl<B: Backend> OutboxStore for Mirrored<B> {
    fn enqueue(&mut self, alert: &Alert, channels: &[&str]) -> Result<i64, StoreError> {
        let seq = self.inner.enqueue(alert, channels)?;
        self.sink.push(Mirror::Alert {
            alert: alert.clone(),
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            silenced: false,
        });
        Ok(seq)
    }

    fn record_attempt(
        &mut self,
        alert_id: &str,
        channel: &str,
        attempt: u32,
        outcome: AttemptOutcome,
        detail: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        (self.inner).record_attempt(alert_id, channel, attempt, outcome, detail, at)?;
        let (state, error) = match outcome {
            AttemptOutcome::Ok => (DeliveryState::Delivered, None),
            AttemptOutcome::Retry => (DeliveryState::Pending, Some(detail.to_owned())),
            AttemptOutcome::Failed => (DeliveryState::Failed, Some(detail.to_owned())),
        };
        self.delivery(alert_id, channel, state, attempt, error, at);
        Ok(())
    }

    fn mark_delivered(
        &mut self,
        alert_id: &str,
        channel: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.mark_delivered(alert_id, channel, at)?;
        self.delivery(alert_id, channel, DeliveryState::Delivered, 0, None, at);
        Ok(())
    }

    fn mark_failed(
        &mut self,
        alert_id: &str,
        channel: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.mark_failed(alert_id, channel, reason, at)?;
        let error = Some(reason.to_owned());
        self.delivery(alert_id, channel, DeliveryState::Failed, 0, error, at);
        Ok(())
    }

    fn fail_pending(
        &mut self,
        channel: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<usize, StoreError> {
        self.inner.fail_pending(channel, reason, at)
    }

    fn pending(
        &mut self,
        channel: &str,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PendingAlert>, StoreError> {
        self.inner.pending(channel, before_seq, limit)
    }

    fn max_seq(&mut self) -> Result<i64, StoreError> {
        self.inner.max_seq()
    }

    fn delivery_counts(&mut self) -> Result<Vec<DeliveryCount>, StoreError> {
        self.inner.delivery_counts()
    }

    fn delivery_state(
        &mut self,
        alert_id: &str,
        channel: &str,
    ) -> Result<Option<DeliveryState>, StoreError> {
        self.inner.delivery_state(alert_id, channel)
    }
}

impl<B> Mirrored<B> {
    fn delivery(
        &self,
        alert_id: &str,
        channel: &str,
        state: DeliveryState,
        attempts: u32,
        error: Option<String>,
        at: Timestamp,
    ) {
        self.sink.push(Mirror::Delivery {
            alert_id: alert_id.to_owned(),
            channel: channel.to_owned(),
            state,
            attempts,
            error,
            at,
        });
    }
}

impl<B: Backend> EventStore for Mirrored<B> {
    fn record_anomaly(&mut self, a: &Anomaly) -> Result<(), StoreError> {
        self.inner.record_anomaly(a)?;
        self.sink.push(Mirror::Anomaly(a.clone()));
        Ok(())
    }

    fn record_resolved(&mut self, r: &Resolved) -> Result<(), StoreError> {
        self.inner.record_resolved(r)?;
        self.sink.push(Mirror::Resolved(r.clone()));
        Ok(())
    }

    fn record_silenced(&mut self, alert: &Alert) -> Result<(), StoreError> {
        self.inner.record_silenced(alert)?;
        self.sink.push(Mirror::Alert {
            alert: alert.clone(),
            channels: Vec::new(),
            silenced: true,
        });
        Ok(())
    }

    fn silenced(&mut self, id: &str) -> Result<bool, StoreError> {
        self.inner.silenced(id)
    }

    fn alert(&mut self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.inner.alert(id)
    }

    fn recent_alerts(&mut self, limit: usize) -> Result<Vec<Alert>, StoreError> {
        self.inner.recent_alerts(limit)
    }

    fn query_events(&mut self, filter: &EventFilter) -> Result<EventPage, StoreError> {
        self.inner.query_events(filter)
    }

    fn record_ack(&mut self, a: &AckRecord) -> Result<(), StoreError> {
        self.inner.record_ack(a)
    }

    fn acked(&mut self, id: &str) -> Result<bool, StoreError> {
        self.inner.acked(id)
    }
}

impl<B: Backend> BaselineStore for Mirrored<B> {
    fn save_rollup(
        &mut self,
        series: &SeriesKey,
        start_ms: i64,
        width_ms: i64,
        rollup: &RollupRecord,
        keep_ms: i64,
    ) -> Result<(), StoreError> {
        (self.inner).save_rollup(series, start_ms, width_ms, rollup, keep_ms)
    }

    fn save_rollups(&mut self, rows: &[SaveRollup]) -> Result<(), StoreError> {
        (self.inner).save_rollups(rows)
    }

    fn load_rollups(
        &mut self,
        series: &SeriesKey,
        width_ms: i64,
        keep_ms: i64,
    ) -> Result<Vec<(i64, RollupRecord)>, StoreError> {
        self.inner.load_rollups(series, width_ms, keep_ms)
    }
}

impl<B: Backend> SilenceStore for Mirrored<B> {
    fn save_silence(&mut self, s: &Silence) -> Result<(), StoreError> {
        self.inner.save_silence(s)
    }

    fn silence(&mut self, id: &str) -> Result<Option<Silence>, StoreError> {
        self.inner.silence(id)
    }

    fn silences(
        &mut self,
        active: Option<bool>,
        now: Timestamp,
    ) -> Result<Vec<Silence>, StoreError> {
        self.inner.silences(active, now)
    }

    fn open_silences(&mut self, now: Timestamp) -> Result<Vec<Silence>, StoreError> {
        self.inner.open_silences(now)
    }
}
