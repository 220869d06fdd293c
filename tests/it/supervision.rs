//! What actix 0.13 really does when a supervised actor panics, and what exwatch's guards make
//! of it. These tests pin the facts the supervision design is built on.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::{Actor, Context, Handler, Message, Supervised, Supervisor};
use exwatch::supervision::guard;

#[derive(Message)]
#[rtype(result = "usize")]
struct Count;

#[derive(Message)]
#[rtype(result = "()")]
struct Boom;

/// Counts messages; `guarded` decides whether its panics go through exwatch's guard.
struct Probe {
    count: usize,
    guarded: bool,
    restarts: Arc<AtomicUsize>,
}

impl Actor for Probe {
    type Context = Context<Self>;
}

impl Supervised for Probe {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.restarts.fetch_add(1, Ordering::SeqCst);
    }
}

impl Handler<Count> for Probe {
    type Result = usize;

    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> usize {
        self.count += 1;
        self.count
    }
}

impl Handler<Boom> for Probe {
    type Result = ();

    fn handle(&mut self, _: Boom, ctx: &mut Context<Self>) {
        if self.guarded {
            guard(self, ctx, "probe", |_, _| panic!("boom"));
        } else {
            panic!("boom");
        }
    }
}

fn start(guarded: bool) -> (actix::Addr<Probe>, Arc<AtomicUsize>) {
    let restarts = Arc::new(AtomicUsize::new(0));
    let r = restarts.clone();
    let addr = Supervisor::start(move |_| Probe {
        count: 0,
        guarded,
        restarts: r,
    });
    (addr, restarts)
}

#[actix::test]
async fn supervision_actix_alone_does_not_restart_a_panicking_handler() {
    let (addr, restarts) = start(false);
    assert_eq!(addr.send(Count).await.ok(), Some(1));
    assert!(
        addr.send(Boom).await.is_err(),
        "the panicking message's sender sees Closed"
    );
    assert!(
        addr.send(Count).await.is_err(),
        "the actor is gone for good"
    );
    assert!(!addr.connected());
    assert_eq!(
        restarts.load(Ordering::SeqCst),
        0,
        "Supervisor never restarted it"
    );
}

#[actix::test]
async fn supervision_guard_turns_a_panic_into_a_restart_on_the_same_address() {
    let (addr, restarts) = start(true);
    assert_eq!(addr.send(Count).await.ok(), Some(1));
    assert_eq!(addr.send(Boom).await.ok(), Some(()));
    assert_eq!(
        addr.send(Count).await.ok(),
        Some(2),
        "same instance, same mailbox"
    );
    assert!(addr.connected());
    assert_eq!(restarts.load(Ordering::SeqCst), 1);
}
