//! The EngineStreams actor: one per monitor, a thin shell owning the stream judges of an
//! embedding trading engine's own market-data feeds. The engine reports each data message it
//! receives ([`Observe`], from [`crate::MonitorHandle::observe_stream`]) and its reconnects
//! ([`Reconnected`]); each stream it names gets its own pure
//! [`Judge`], driven exactly as a [`crate::probe::stream::StreamActor`] drives its
//! own: messages in, a tick every [`TICK`] for the passing of time (a silence is only seen by
//! looking at the clock), and the readings out as measurements
//! ([`crate::probe::stream::sample`]) into the same detectors — so an engine's feed alerts
//! `stream_stale`, `stream_frozen`, `stream_gap` and `stream_churn` as exwatch's own streams
//! do, with the same `exwatch_stream_*` metrics. Policy is the judge's; this file only holds
//! the judges, the clock and the metric handles.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, AsyncContext, Context, Handler, Message, Recipient};

use crate::detect::DetectorSet;
use crate::messages::{Name, Removed, Timestamp};
use crate::metrics::{Counter, Gauge, Histogram, Metrics};
use crate::probe::stream::judge::{Judge, Reading};
use crate::probe::stream::observation::{EngineStreamOptions, StreamObservation};
use crate::probe::stream::sample::measurement;
use crate::route::router::ForgetSeries;
use crate::status::StatusBoard;
use crate::status::view::StreamStatus;
use crate::supervision::guard;

/// How often the judges look at the time (a stall is reported within its threshold plus
/// this): as often as exwatch's own stream connections do.
pub const TICK: Duration = Duration::from_millis(100);

/// The most engine streams judged (and configured) at once: past it a new stream name is
/// ignored (with one warning), so an engine building names from changing values cannot grow
/// the judges, their metrics and their status entries without bound. The same figure as the
/// status board's spare endpoints.
pub const MAX_ENGINE_STREAMS: usize = crate::status::board::SPARE_ENDPOINTS;

/// A data message of the engine's stream `stream` on `exchange`.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Observe {
    /// The exchange.
    pub exchange: Name,
    /// The engine's name for the stream (the series' endpoint).
    pub stream: Name,
    /// What the engine saw.
    pub observation: StreamObservation,
}

/// The engine's connection for `stream` was replaced at `at`; `planned` (the venue's 24 h cut,
/// an announced shutdown) never counts as churn.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Reconnected {
    /// The exchange.
    pub exchange: Name,
    /// The stream.
    pub stream: Name,
    /// When (the engine's wall clock).
    pub at: Timestamp,
    /// Whether the engine meant it.
    pub planned: bool,
}

/// Judges `stream` with `options` from now on (a judge already learning keeps what it
/// learned; only its settings change, as a new judge).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Configure {
    /// The exchange.
    pub exchange: Name,
    /// The stream.
    pub stream: Name,
    /// How to judge it.
    pub options: EngineStreamOptions,
}

/// The engine no longer watches `stream`: its judge is dropped and no more measurements are
/// sent for it; then its series are forgotten by the detectors and by `router` (their open
/// alerts resolved). Both come after every measurement this actor sent for the stream, so a
/// late one cannot bring the series back.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Forget {
    /// The exchange.
    pub exchange: Name,
    /// The stream.
    pub stream: Name,
    /// Where the stream's series are forgotten: the Router (through `[cluster]`'s gate when
    /// there is one).
    pub router: Recipient<ForgetSeries>,
}

/// One engine stream: its judge, its metric handles and what the status board shows of it.
struct Stream {
    judge: Judge,
    messages: Counter,
    gaps: Counter,
    lag: Histogram,
    age: Gauge,
    /// The largest lag since the board was last told, ms.
    lag_ms: Option<f64>,
    reconnects: u64,
    gap_count: u64,
    /// When the board was last told, and the messages judged then.
    shown: (i64, u64),
}

/// The judges of an engine's own streams. See the module docs.
pub struct EngineStreams {
    detectors: DetectorSet,
    metrics: Arc<Metrics>,
    board: Option<Arc<StatusBoard>>,
    options: HashMap<(Name, Name), EngineStreamOptions>,
    streams: HashMap<(Name, Name), Stream>,
    readings: Vec<Reading>,
    /// The warning that [`MAX_ENGINE_STREAMS`] was reached went out.
    full_warned: bool,
}

impl EngineStreams {
    /// The engine's streams of a monitor, measured into `detectors`.
    pub fn new(detectors: DetectorSet, metrics: Arc<Metrics>) -> Self {
        Self {
            detectors,
            metrics,
            board: None,
            options: HashMap::new(),
            streams: HashMap::new(),
            readings: Vec::new(),
            full_warned: false,
        }
    }

    /// Corrects lags by the clock skew of each exchange exwatch probes (the status board).
    pub fn with_board(mut self, board: Arc<StatusBoard>) -> Self {
        self.board = Some(board);
        self
    }

    /// The stream's entry, its judge started at `now` (ms) if new; `None` for a new stream
    /// past [`MAX_ENGINE_STREAMS`].
    fn stream(&mut self, exchange: &Name, stream: &Name, now: i64) -> Option<&mut Stream> {
        let key = (exchange.clone(), stream.clone());
        if !self.streams.contains_key(&key) && self.streams.len() >= MAX_ENGINE_STREAMS {
            if !std::mem::replace(&mut self.full_warned, true) {
                tracing::warn!(%exchange, stream = %stream, limit = MAX_ENGINE_STREAMS, "The engine reports more streams than exwatch judges; new stream names are ignored.");
            }
            return None;
        }
        let options = self.options.get(&key).copied().unwrap_or_default();
        let metrics = &self.metrics;
        Some(self.streams.entry(key).or_insert_with(|| {
            let labels = [("exchange", &**exchange), ("endpoint", &**stream)];
            Stream {
                judge: Judge::new(now, options.stale_after, options.reconnects_per_hour),
                messages: metrics.counter("exwatch_stream_messages_total", &labels),
                gaps: metrics.counter("exwatch_stream_gaps_total", &labels),
                lag: metrics.histogram("exwatch_stream_lag_seconds", &labels),
                age: metrics.gauge("exwatch_stream_last_message_age_seconds", &labels),
                lag_ms: None,
                reconnects: 0,
                gap_count: 0,
                shown: (now, 0),
            }
        }))
    }

    /// Sends `readings` of `stream` as measurements at `at`.
    fn emit(&self, exchange: &Name, stream: &Name, readings: &[Reading], at: Timestamp) {
        for r in readings {
            self.detectors.send(measurement(exchange, stream, r, at));
        }
    }

    fn on_observe(&mut self, o: Observe) {
        let at = o.observation.received_at;
        let mut out = std::mem::take(&mut self.readings);
        out.clear();
        let Some(s) = self.stream(&o.exchange, &o.stream, at.as_millis()) else {
            self.readings = out;
            return;
        };
        let seen = s
            .judge
            .on_data(at.as_millis(), &o.observation.data(), &mut out);
        if !seen.duplicate {
            s.messages.inc();
            if let Some(lag) = seen.lag_ms {
                s.lag.observe(lag / 1000.0);
                s.lag_ms = Some(s.lag_ms.map_or(lag, |l: f64| l.max(lag)));
            }
            if seen.gap.is_some() {
                s.gaps.inc();
                s.gap_count += 1;
            }
        }
        self.emit(&o.exchange, &o.stream, &out, at);
        self.readings = out;
    }

    fn on_tick(&mut self) {
        let now = Timestamp::now();
        let mut out = std::mem::take(&mut self.readings);
        for ((exchange, stream), s) in &mut self.streams {
            if let Some(skew) = (self.board.as_ref()).and_then(|b| b.clock_skew(exchange)) {
                s.judge.set_skew(skew);
            }
            out.clear();
            s.judge.tick(now.as_millis(), &mut out);
            s.age.set(s.judge.silence(now.as_millis()).as_secs_f64());
            for r in &out {
                self.detectors.send(measurement(exchange, stream, r, now));
            }
            if let Some(board) = &self.board {
                show(board, exchange, stream, s, now.as_millis());
            }
        }
        self.readings = out;
    }
}

/// Tells `board` how `stream` is doing, once a second (as exwatch's own streams do).
fn show(board: &StatusBoard, exchange: &Name, stream: &Name, s: &mut Stream, now: i64) {
    let since = now - s.shown.0;
    if since < 1000 {
        return;
    }
    let status = (s.judge).status(now, Duration::from_millis(since as u64), s.shown.1);
    let messages = status.messages;
    board.stream(
        exchange,
        stream,
        StreamStatus {
            exchange: exchange.to_string(),
            endpoint: stream.to_string(),
            connected: true,
            lag_ms: s.lag_ms.take(),
            reconnects: s.reconnects,
            gaps: s.gap_count,
            source: "engine".to_owned(),
            ..status
        },
    );
    s.shown = (now, messages);
}

impl Actor for EngineStreams {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(TICK, |act, ctx| {
            guard(act, ctx, "engine_streams", |act, _| act.on_tick());
        });
    }
}

impl Handler<Observe> for EngineStreams {
    type Result = ();

    fn handle(&mut self, o: Observe, ctx: &mut Context<Self>) {
        guard(self, ctx, "engine_streams", |act, _| act.on_observe(o));
    }
}

impl Handler<Reconnected> for EngineStreams {
    type Result = ();

    fn handle(&mut self, r: Reconnected, ctx: &mut Context<Self>) {
        guard(self, ctx, "engine_streams", |act, _| {
            let mut out = std::mem::take(&mut act.readings);
            out.clear();
            let now = r.at.as_millis();
            if let Some(s) = act.stream(&r.exchange, &r.stream, now) {
                s.reconnects += 1;
                s.judge.reconnected(now, r.planned, &mut out);
                act.emit(&r.exchange, &r.stream, &out, r.at);
            }
            act.readings = out;
        });
    }
}

impl Handler<Configure> for EngineStreams {
    type Result = ();

    fn handle(&mut self, c: Configure, _: &mut Context<Self>) {
        let key = (c.exchange, c.stream);
        if !self.options.contains_key(&key) && self.options.len() >= MAX_ENGINE_STREAMS {
            if !std::mem::replace(&mut self.full_warned, true) {
                tracing::warn!(exchange = %key.0, stream = %key.1, limit = MAX_ENGINE_STREAMS, "The engine configures more streams than exwatch judges; new stream names are ignored.");
            }
            return;
        }
        self.options.insert(key.clone(), c.options);
        // Judged afresh with the new settings from its next message on.
        self.streams.remove(&key);
    }
}

impl Handler<Forget> for EngineStreams {
    type Result = ();

    fn handle(&mut self, f: Forget, _: &mut Context<Self>) {
        let key = (f.exchange, f.stream);
        self.options.remove(&key);
        self.streams.remove(&key);
        if let Some(board) = &self.board {
            board.forget_stream(&key.0, &key.1, i64::MAX);
        }
        let (exchange, endpoint) = key;
        let removed = vec![Removed::Endpoint { exchange, endpoint }];
        let router = f.router;
        self.detectors.forget(&removed.clone(), move || {
            router.do_send(ForgetSeries(removed));
        });
    }
}

impl actix::Supervised for EngineStreams {
    /// Nothing is rebuilt: the judges are kept (a panic is a bug in one message; what was
    /// learned of every stream stays).
    fn restarting(&mut self, _: &mut Context<Self>) {}
}
