//! A test recipient: forwards every message it receives into a channel the test reads.

use std::time::Duration;

use actix::{Actor, Context, Handler, Message, Recipient};
use exwatch::messages::{Alert, Anomaly, Ping};
use tokio::sync::mpsc;

/// Forwards messages of type `M` to an unbounded channel.
pub struct Collector<M> {
    tx: mpsc::UnboundedSender<M>,
}

impl<M: Unpin + 'static> Actor for Collector<M> {
    type Context = Context<Self>;
}

impl<M: Unpin + 'static> Handler<Ping> for Collector<M> {
    type Result = ();

    fn handle(&mut self, _: Ping, _: &mut Context<Self>) {}
}

/// What a test holds: the collector's recipients and the receiving end.
pub struct Collected<M: Message<Result = ()> + Send> {
    recipient: Recipient<M>,
    barrier: Recipient<Ping>,
    rx: mpsc::UnboundedReceiver<M>,
}

macro_rules! collects {
    ($($m:ty),*) => {$(
        impl Handler<$m> for Collector<$m> {
            type Result = ();

            fn handle(&mut self, msg: $m, _: &mut Context<Self>) {
                let _ = self.tx.send(msg);
            }
        }

        impl Collected<$m> {
            /// Starts a collector on the current arbiter.
            pub fn start() -> Self {
                let (tx, rx) = mpsc::unbounded_channel();
                let addr = Collector { tx }.start();
                Self { recipient: addr.clone().recipient(), barrier: addr.recipient(), rx }
            }
        }
    )*};
}

collects!(Alert, Anomaly);

impl<M: Message<Result = ()> + Send> Collected<M> {
    pub fn recipient(&self) -> Recipient<M> {
        self.recipient.clone()
    }

    /// The next message, failing the test after `secs` seconds.
    pub async fn next(&mut self, secs: u64) -> M {
        match tokio::time::timeout(Duration::from_secs(secs), self.rx.recv()).await {
            Ok(Some(m)) => m,
            Ok(None) => panic!("collector closed"),
            Err(_) => panic!("nothing arrived within {secs}s"),
        }
    }

    /// Everything that has arrived so far (after the collector handled all queued messages).
    pub async fn drain(&mut self) -> Vec<M> {
        let _ = self.barrier.send(Ping).await;
        let mut out = Vec::new();
        while let Ok(m) = self.rx.try_recv() {
            out.push(m);
        }
        out
    }
}
