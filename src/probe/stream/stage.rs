//! The running streams as a stage of the monitor: one supervised [`StreamActor`] per shared
//! connection (the streams [`pack`]ed together), and a live reload that restarts only the
//! connections whose streams changed.
//!
//! A connection is kept by a reload when the new settings pack exactly the same streams,
//! with the same settings, onto one connection: its socket, subscriptions and judges go on
//! untouched. Every other connection is stopped (closed as going away, its streams leave the
//! status board) and the new packs start anew, drawing from the same per-venue connection
//! budget. The series of a removed stream are forgotten by the reload like a removed
//! endpoint's ([`mod@crate::reload::plan`]).

use std::sync::Arc;

use actix::{Addr, ArbiterHandle, Recipient, Supervisor};

use crate::detect::DetectorSet;
use crate::messages::Name;
use crate::metrics::Metrics;
use crate::probe::stream::actor::{StopStreaming, StreamActor, StreamHealth};
use crate::probe::stream::budget::ConnectBudget;
use crate::probe::stream::config::StreamSettings;
use crate::probe::stream::pack::pack;
use crate::status::StatusBoard;

/// Where each stream connection reports its outcome: its exchange's breaker, when that
/// exchange is probed.
pub type BreakerOf<'a> = &'a dyn Fn(&Name) -> Option<Recipient<StreamHealth>>;

/// One running connection: the streams it was started with, and its actor.
struct Connection {
    streams: Vec<StreamSettings>,
    addr: Addr<StreamActor>,
}

/// The running stream connections. See the module docs.
pub struct Streams {
    running: Vec<Connection>,
    arbiters: Vec<ArbiterHandle>,
    /// The arbiter the next new connection goes to (in turn).
    next: usize,
    detectors: DetectorSet,
    metrics: Arc<Metrics>,
    board: Arc<StatusBoard>,
    budget: Arc<ConnectBudget>,
}

impl Streams {
    /// Starts one supervised [`StreamActor`] per shared connection of `streams`, spread over
    /// `arbiters` in turn; each reports to its exchange's breaker through `breaker_of`,
    /// publishes its streams' state on `board`, and draws its connection attempts from one
    /// shared per-venue [`ConnectBudget`]. Without arbiters nothing starts.
    pub fn start(
        streams: &[StreamSettings],
        arbiters: &[ArbiterHandle],
        detectors: &DetectorSet,
        metrics: &Arc<Metrics>,
        board: &Arc<StatusBoard>,
        breaker_of: BreakerOf<'_>,
    ) -> Self {
        let mut stage = Self {
            running: Vec::new(),
            arbiters: arbiters.to_vec(),
            next: 0,
            detectors: detectors.clone(),
            metrics: metrics.clone(),
            board: board.clone(),
            budget: Arc::new(ConnectBudget::new()),
        };
        for members in pack(streams) {
            let specs = members.iter().map(|&k| streams[k].clone()).collect();
            stage.open(specs, breaker_of);
        }
        stage
    }

    /// Applies the new `streams`: connections packing exactly the same streams are kept, the
    /// others stopped, the new packs started. Returns one line per connection stopped or
    /// started, for the reload report (`stream connection restarted: binance/btc-depth, …`).
    pub fn reload(&mut self, streams: &[StreamSettings], breaker_of: BreakerOf<'_>) -> Vec<String> {
        let mut old = std::mem::take(&mut self.running);
        let mut lines = Vec::new();
        for members in pack(streams) {
            let specs: Vec<StreamSettings> = members.iter().map(|&k| streams[k].clone()).collect();
            match old.iter().position(|c| c.streams == specs) {
                Some(i) => self.running.push(old.swap_remove(i)),
                None => {
                    lines.push(format!("stream connection started: {}", names(&specs)));
                    self.open(specs, breaker_of);
                }
            }
        }
        for gone in old {
            lines.push(format!(
                "stream connection stopped: {}",
                names(&gone.streams)
            ));
            gone.addr.do_send(StopStreaming);
        }
        lines
    }

    /// Every running connection's actor.
    pub fn addrs(&self) -> Vec<Addr<StreamActor>> {
        self.running.iter().map(|c| c.addr.clone()).collect()
    }

    fn open(&mut self, specs: Vec<StreamSettings>, breaker_of: BreakerOf<'_>) {
        if self.arbiters.is_empty() {
            return;
        }
        let arbiter = &self.arbiters[self.next % self.arbiters.len()];
        self.next += 1;
        let (d, m, b, budget) = (
            self.detectors.clone(),
            self.metrics.clone(),
            self.board.clone(),
            self.budget.clone(),
        );
        let breaker = breaker_of(&specs[0].exchange);
        let streams = specs.clone();
        let addr = Supervisor::start_in_arbiter(arbiter, move |_| {
            let actor = StreamActor::new(specs, d, &m)
                .with_board(b)
                .with_budget(budget);
            match breaker {
                Some(r) => actor.with_breaker(r),
                None => actor,
            }
        });
        self.running.push(Connection { streams, addr });
    }
}

/// `exchange/name` of each stream, comma-separated.
fn names(streams: &[StreamSettings]) -> String {
    let names: Vec<String> = streams
        .iter()
        .map(|s| format!("{}/{}", s.exchange, s.name))
        .collect();
    names.join(", ")
}
