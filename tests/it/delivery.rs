//! The delivery queue's edge cases, with the store replaced by a recorder.
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::LocalBoxFuture;

use exwatch::channel::{Channel, ChannelActor, Flush};
use exwatch::messages::{AlertKind, Name, Stats, new_id};
use exwatch::metrics::Metrics;
use exwatch::settings::{RetrySettings, SupervisionSettings};
use exwatch::store::{Attempted, Delivered, Failed, LoadPending, PendingAlert, StoreLink};
use exwatch::{Alert, DeliveryError, Metric, Severity, Timestamp};

use crate::common::t0;

fn alert(i: i64) -> Alert {
    Alert {
        id: new_id(),
        kind: AlertKind::Firing,
        severity: Severity::Critical,
        exchange: "okx".into(),
        endpoint: "time".into(),
        metric: Metric::ClockSkewMs,
        detector: "clock_skew".into(),
        title: format!("alert {i}"),
        message: String::new(),
        value: 1.0,
        threshold: 1.0,
        region: "test".into(),
        started_at: Timestamp(t0() + i),
        at: Timestamp(t0() + i),
        stats: Stats::default(),
        in_reply_to: None,
        group: None,
    }
}

/// Records what the channel reports to the store.
#[derive(Default)]
struct Recorder {
    delivered: Arc<Mutex<Vec<Name>>>,
    failed: Arc<Mutex<Vec<Name>>>,
    preload: Vec<PendingAlert>,
}
impl Actor for Recorder {
    type Context = Context<Self>;
}
impl Handler<Attempted> for Recorder {
    type Result = ();
    fn handle(&mut self, _: Attempted, _: &mut Context<Self>) {}
}
impl Handler<Delivered> for Recorder {
    type Result = ();
    fn handle(&mut self, m: Delivered, _: &mut Context<Self>) {
        self.delivered.lock().expect("ok").push(m.alert_id);
    }
}
impl Handler<Failed> for Recorder {
    type Result = ();
    fn handle(&mut self, m: Failed, _: &mut Context<Self>) {
        self.failed.lock().expect("ok").push(m.alert_id);
    }
}
impl Handler<LoadPending> for Recorder {
    type Result = MessageResult<LoadPending>;
    fn handle(&mut self, _: LoadPending, _: &mut Context<Self>) -> Self::Result {
        MessageResult(std::mem::take(&mut self.preload))
    }
}

/// The first attempt waits on a gate; every attempt records the alert it was given.
struct Gated {
    gate: Rc<RefCell<Option<tokio::sync::oneshot::Receiver<()>>>>,
    sent: Arc<Mutex<Vec<Name>>>,
}
impl Channel for Gated {
    fn kind(&self) -> &'static str {
        "gated"
    }
    fn deliver(&mut self, a: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        self.sent.lock().expect("ok").push(a.id.clone());
        let gate = self.gate.borrow_mut().take();
        Box::pin(async move {
            if let Some(g) = gate {
                let _ = g.await;
            }
            Ok(())
        })
    }
}

/// A full queue must never drop the alert whose attempt is in flight: that attempt's result
/// would then be booked against another alert, reported delivered without ever being sent.
#[actix::test]
async fn delivery_full_queue_never_drops_the_alert_in_flight() {
    let rec = Recorder::default();
    let (delivered, _failed) = (rec.delivered.clone(), rec.failed.clone());
    let rec = rec.start();
    let link = StoreLink {
        attempted: rec.clone().recipient(),
        delivered: rec.clone().recipient(),
        failed: rec.clone().recipient(),
        load: rec.clone().recipient(),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sent = Arc::new(Mutex::new(Vec::new()));
    let ch = Gated {
        gate: Rc::new(RefCell::new(Some(rx))),
        sent: sent.clone(),
    };
    let retry = RetrySettings {
        timeout: Duration::from_secs(60),
        ..RetrySettings::default()
    };
    let metrics = Metrics::new();
    let addr = ChannelActor::new(
        "c".into(),
        ch,
        retry,
        &SupervisionSettings::default(),
        &metrics,
        None,
    )
    .with_store(Some(link))
    .start();
    let alerts: Vec<Alert> = (0..=exwatch::channel::delivery::MAX_QUEUE as i64)
        .map(alert)
        .collect();
    for a in &alerts {
        addr.do_send(a.clone());
    }
    addr.send(exwatch::messages::Ping).await.expect("ok");
    tx.send(()).expect("ok");
    let _ = addr
        .send(Flush {
            deadline: Duration::from_secs(30),
        })
        .await
        .expect("ok");
    rec.send(Delivered {
        alert_id: "barrier".into(),
        channel: "c".into(),
    })
    .await
    .expect("ok");
    let sent = sent.lock().expect("ok").clone();
    let delivered = delivered.lock().expect("ok").clone();
    // Alert 1, the oldest one waiting, made room; alert 0 was in flight and is delivered.
    assert!(
        !sent.contains(&alerts[1].id),
        "alert 1 was dropped, never sent"
    );
    assert!(
        !delivered.contains(&alerts[1].id),
        "an unsent alert reported delivered"
    );
    assert!(
        delivered.contains(&alerts[0].id),
        "the alert in flight is booked"
    );
    for (a, d) in sent.iter().zip(&delivered) {
        assert_eq!(
            a, d,
            "every result is booked against the alert it belongs to"
        );
    }
}

/// The first attempt fails (retryable); every later one answers after `answer_after`. Each
/// attempt records when it started.
struct FailsFirst {
    answer_after: Duration,
    calls: Arc<Mutex<Vec<std::time::Instant>>>,
}
impl Channel for FailsFirst {
    fn kind(&self) -> &'static str {
        "fails-first"
    }
    fn deliver(&mut self, _: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let mut calls = self.calls.lock().expect("ok");
        calls.push(std::time::Instant::now());
        let first = calls.len() == 1;
        let wait = self.answer_after;
        Box::pin(async move {
            if first {
                return Err(DeliveryError::Retryable {
                    reason: "first attempt fails".into(),
                    retry_after: None,
                });
            }
            actix_rt::time::sleep(wait).await;
            Ok(())
        })
    }
}

/// A shutdown's flush cuts a back-off short and starts the retry at once. If the back-off's
/// timer fell due in the same turn of the actor (a loaded machine runs it late), the timer must
/// not start a second, concurrent attempt of the same alert: actix polls a cancelled timer
/// that is already due once more before it reaps it. (This was the extra model request seen
/// now and then under load in `llm_triage::model_failures_cost_no_alert_and_no_crash`.)
#[actix::test]
async fn delivery_a_due_back_off_cut_short_by_a_flush_starts_one_attempt_not_two() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let ch = FailsFirst {
        answer_after: Duration::from_millis(50),
        calls: calls.clone(),
    };
    let retry = RetrySettings {
        max_attempts: 0,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
    };
    let metrics = Metrics::new();
    let arbiter = Arbiter::new();
    let actor = ChannelActor::new(
        "c".into(),
        ch,
        retry,
        &SupervisionSettings::default(),
        &metrics,
        None,
    );
    let addr = ChannelActor::start_in_arbiter(&arbiter.handle(), |_| actor);
    addr.do_send(alert(0));
    // The first attempt has failed and the back-off (at most 10 ms) is running.
    addr.send(exwatch::messages::Ping).await.expect("ok");
    addr.send(exwatch::messages::Ping).await.expect("ok");
    // On the actor's thread: a timer of 1 ms, then the thread is busy for 30 ms (a loaded
    // machine), so that the next turn of the timers finds this timer and the back-off both due,
    // and wakes this task first: the flush reaches the mailbox before the actor runs, with the
    // back-off's timer already fired.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let on_thread = addr.clone();
    arbiter.spawn(async move {
        let mut due = Box::pin(actix_rt::time::sleep(Duration::from_millis(1)));
        std::future::poll_fn(|cx| {
            let _ = due.as_mut().poll(cx);
            std::task::Poll::Ready(())
        })
        .await;
        std::thread::sleep(Duration::from_millis(30));
        due.await;
        let flushed = on_thread.send(Flush {
            deadline: Duration::from_secs(5),
        });
        let _ = tx.send(flushed.await);
    });
    let flushed = rx.await.expect("answered").expect("ok");
    assert!(flushed, "delivered");
    let calls = calls.lock().expect("ok").clone();
    assert_eq!(
        calls.len(),
        2,
        "one failed attempt and one retry: {calls:?}"
    );
    let count = |outcome: &str| {
        metrics
            .value(
                "exwatch_deliveries_total",
                &[("channel", "c"), ("outcome", outcome)],
            )
            .unwrap_or(0.0)
    };
    assert_eq!((count("retry"), count("ok")), (1.0, 1.0));
    arbiter.stop();
}
