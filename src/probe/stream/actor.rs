//! The StreamActor: one per `kind = "stream"` endpoint, a thin shell around the pure
//! [`Judge`] and venue [`venue`] protocol.
//!
//! It keeps one WebSocket connection open through awc's client, with frames bounded by
//! `max_frame_bytes` (a larger frame is a protocol error: counted, and the connection
//! replaced; nothing is buffered past the bound), subscribes, answers or sends the venue's
//! heartbeat, and hands every data message of the active connection to the judge, whose
//! readings go to the detectors as [`Measurement`]s.
//!
//! - **Make-before-break.** Before a known cut (the connection's `lifetime`, a venue's
//!   announced shutdown) a second connection is opened and subscribed; it becomes the source
//!   at its first data message, and only then is the old one closed. The judge takes the
//!   overlap as duplicates, so a planned reconnect is no gap and, being planned, no churn.
//! - **Unplanned loss** (a close frame, a protocol error, end of stream, a refused
//!   subscription, a missing acknowledgement, a long stall): the connection is dropped,
//!   counted in `exwatch_stream_reconnects_total{reason}`, reported to the judge (churn), and
//!   a new one is opened after a jittered exponential back-off.
//! - **Good citizen.** Outgoing messages of one connection are paced under the venue's limit
//!   (Binance: 5 a second), queued in a small bounded queue; connection attempts draw from the
//!   venue's budget shared by all streams ([`ConnectBudget`]). The subscribe acknowledgement's
//!   latency is `exwatch_stream_subscribe_seconds`.
//!
//! Bad input (garbage, binary frames, fragments) is counted in
//! `exwatch_stream_bad_frames_total{exchange,endpoint,kind}` and logged, never fatal.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use actix::clock::Instant;
use actix::io::{SinkWrite, WriteHandler};
use actix::{
    Actor, AsyncContext, Context, Handler, Message, Recipient, SpawnHandle, StreamHandler,
    Supervised,
};
use awc::BoxedSocket;
use awc::error::WsClientError;
use awc::ws::{CloseCode, Codec, Frame, Message as WsMessage};
use bytes::Bytes;
use futures_util::stream::{SplitSink, StreamExt};

use crate::detect::DetectorSet;
use crate::messages::{Measurement, Metric, Name, Outcome, SeriesKey, Timestamp};
use crate::metrics::{Counter, Gauge, Histogram, Metrics};
use crate::probe::stream::budget::ConnectBudget;
use crate::probe::stream::config::StreamSettings;
use crate::probe::stream::judge::{Judge, Reading};
use crate::probe::stream::venue::{self, Event, Heartbeat};
use crate::status::StatusBoard;
use crate::status::view::StreamStatus;
use crate::supervision::guard;

/// How often the actor looks at the time: stalls, heartbeats, lifetimes, deadlines.
pub const TICK: Duration = Duration::from_millis(100);

/// The first reconnect back-off; doubles with each failure in a row (jittered).
pub const BACKOFF_BASE: Duration = Duration::from_millis(200);

/// The longest reconnect back-off.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Outgoing messages one connection may queue behind its pacing.
const MAX_QUEUED: usize = 16;

/// A stall this many stale thresholds long (and at least [`MIN_STALL_RECONNECT`]) replaces
/// the connection: a client library would, and the venue may have lost our subscription.
const STALL_RECONNECT_THRESHOLDS: u32 = 3;

/// See [`STALL_RECONNECT_THRESHOLDS`].
const MIN_STALL_RECONNECT: Duration = Duration::from_secs(10);

/// Stops the stream (at shutdown): connections are closed; the actor stays alive but idle.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopStreaming;

/// A stream's connection outcome, for its exchange's breaker (see `ProbeActor`'s handler);
/// the answer is how long the open breaker pauses reconnects, `None` when it is not open.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Duration>")]
pub struct StreamHealth {
    /// The stream's endpoint.
    pub endpoint: Name,
    /// `true` when a connection delivered data, `false` when one failed.
    pub ok: bool,
}

/// A frame of connection `id`, or its end (`None`).
#[derive(Debug, Message)]
#[rtype(result = "()")]
struct ConnFrame(u64, Option<Result<Frame, awc::error::WsProtocolError>>);

/// The framed WebSocket connection awc returns.
type Framed = actix_codec::Framed<BoxedSocket, Codec>;

type Sink = SplitSink<Framed, WsMessage>;

/// One open connection.
struct Conn {
    id: u64,
    sink: SinkWrite<WsMessage, Sink>,
    frames: SpawnHandle,
    subscribed_at: Instant,
    acked: bool,
    /// Last frame of any kind (for OKX's ping-when-silent).
    last_frame: Instant,
    last_ping: Instant,
    /// Why it was opened while another one serves (a planned replacement).
    replaces: Option<&'static str>,
    /// Outgoing text waiting for the pacing.
    queue: VecDeque<String>,
    sent: VecDeque<Instant>,
    bad_logged: bool,
}

/// Series keys of the stream's metrics.
struct Keys {
    lag: SeriesKey,
    silence: SeriesKey,
    frozen: SeriesKey,
    gap: SeriesKey,
    reconnects: SeriesKey,
}

/// Watches one stream. See the module docs.
pub struct StreamActor {
    spec: StreamSettings,
    client: awc::Client,
    detectors: DetectorSet,
    metrics: Arc<Metrics>,
    keys: Keys,
    judge: Judge,
    conns: Vec<Conn>,
    active: Option<u64>,
    next_id: u64,
    connecting: Option<u64>,
    /// Failures in a row (the back-off's exponent).
    failures: u32,
    retry_at: Option<Instant>,
    /// When the planned replacement of the active connection is due.
    replace_at: Option<Instant>,
    stopped: bool,
    readings: Vec<Reading>,
    messages: Counter,
    gaps: Counter,
    lag: Histogram,
    age: Gauge,
    breaker: Option<Recipient<StreamHealth>>,
    board: Option<Arc<StatusBoard>>,
    budget: Option<Arc<ConnectBudget>>,
    subscribe_latency: Histogram,
    /// What the board was last told: (when, messages then), the last lag, reconnects, gaps.
    shown: (Instant, u64),
    last_lag: Option<f64>,
    reconnects: u64,
    gap_count: u64,
}

impl StreamActor {
    /// A stream actor for `spec`. Call inside the arbiter it will run on (it builds its
    /// client there).
    pub fn new(spec: StreamSettings, detectors: DetectorSet, metrics: &Arc<Metrics>) -> Self {
        let (x, e) = (spec.exchange.clone(), spec.name.clone());
        let labels = [("exchange", &*x), ("endpoint", &*e)];
        let key = |m| SeriesKey::new(x.clone(), e.clone(), m);
        let now = Timestamp::now().as_millis();
        Self {
            client: crate::client::build_lean_client(2, spec.timeout),
            detectors,
            keys: Keys {
                lag: key(Metric::StreamLagMs),
                silence: key(Metric::StreamSilenceMs),
                frozen: key(Metric::StreamFrozen),
                gap: key(Metric::StreamGap),
                reconnects: key(Metric::StreamReconnects),
            },
            judge: Judge::new(now, spec.stale_after, spec.reconnects_per_hour),
            conns: Vec::new(),
            active: None,
            next_id: 1,
            connecting: None,
            failures: 0,
            retry_at: None,
            replace_at: None,
            stopped: false,
            readings: Vec::new(),
            messages: metrics.counter("exwatch_stream_messages_total", &labels),
            gaps: metrics.counter("exwatch_stream_gaps_total", &labels),
            lag: metrics.histogram("exwatch_stream_lag_seconds", &labels),
            age: metrics.gauge("exwatch_stream_last_message_age_seconds", &labels),
            metrics: metrics.clone(),
            breaker: None,
            board: None,
            budget: None,
            subscribe_latency: metrics.histogram("exwatch_stream_subscribe_seconds", &labels),
            shown: (Instant::now(), 0),
            last_lag: None,
            reconnects: 0,
            gap_count: 0,
            spec,
        }
    }

    /// Reports each connection's success and failure to `to` (the exchange's ProbeActor,
    /// whose breaker counts stream failures as probe failures).
    pub fn with_breaker(mut self, to: Recipient<StreamHealth>) -> Self {
        self.breaker = Some(to);
        self
    }

    /// Draws each connection attempt from `budget` (shared by the monitor's streams).
    pub fn with_budget(mut self, budget: Arc<ConnectBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Publishes the stream's state on `board` (the status API).
    pub fn with_board(mut self, board: Arc<StatusBoard>) -> Self {
        self.board = Some(board);
        self
    }

    fn now_ms() -> i64 {
        Timestamp::now().as_millis()
    }

    /// Opens a connection; `replaces`: the reason of a planned replacement.
    fn connect(&mut self, ctx: &mut Context<Self>, replaces: Option<&'static str>) {
        if self.stopped || self.connecting.is_some() {
            return;
        }
        if let Some(budget) = &self.budget
            && let Err(wait) = budget.take(self.spec.venue, Instant::now())
        {
            // The venue's connection-attempt budget is spent: try again when a token is due.
            let at = Instant::now() + wait;
            if replaces.is_some() {
                self.replace_at = Some(at);
            } else {
                self.retry_at = Some(at);
            }
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.connecting = Some(id);
        let req = self
            .client
            .ws(self.spec.url.as_str())
            .max_frame_size(self.spec.max_frame_bytes)
            .set_header(awc::http::header::USER_AGENT, crate::client::USER_AGENT);
        let timeout = self.spec.timeout;
        let fut = async move { tokio::time::timeout(timeout, req.connect()).await };
        ctx.spawn(crate::supervision::guard_future(
            "stream",
            fut,
            move |res, act: &mut Self, ctx| act.on_connected(id, replaces, res, ctx),
        ));
    }

    fn on_connected(
        &mut self,
        id: u64,
        replaces: Option<&'static str>,
        res: Result<
            Result<(awc::ClientResponse, Framed), WsClientError>,
            tokio::time::error::Elapsed,
        >,
        ctx: &mut Context<Self>,
    ) {
        if self.connecting == Some(id) {
            self.connecting = None;
        }
        if self.stopped {
            return;
        }
        let framed = match res {
            Ok(Ok((_, framed))) => framed,
            Ok(Err(e)) => {
                let reason = match &e {
                    WsClientError::InvalidResponseStatus(s) if s.is_client_error() => "http_4xx",
                    WsClientError::InvalidResponseStatus(_) => "http_5xx",
                    WsClientError::SendRequest(_) => "connect",
                    _ => "handshake",
                };
                tracing::warn!(exchange = %self.spec.exchange, endpoint = %self.spec.name, error = %e, "Stream connection failed.");
                return self.failed(None, reason, replaces.is_some(), ctx);
            }
            Err(_) => {
                tracing::warn!(exchange = %self.spec.exchange, endpoint = %self.spec.name, "Stream handshake did not complete in time.");
                return self.failed(None, "timeout", replaces.is_some(), ctx);
            }
        };
        let (sink, stream) = framed.split();
        let frames = ctx.add_stream(stream.map(move |f| ConnFrame(id, Some(f))).chain(
            futures_util::stream::once(async move { ConnFrame(id, None) }),
        ));
        let now = Instant::now();
        let mut conn = Conn {
            id,
            sink: SinkWrite::new(sink, ctx),
            frames,
            subscribed_at: now,
            acked: false,
            last_frame: now,
            last_ping: now,
            replaces,
            queue: VecDeque::new(),
            sent: VecDeque::new(),
            bad_logged: false,
        };
        let sub = venue::subscribe(self.spec.venue, self.spec.channel, &self.spec.symbol, id);
        self.send_text(&mut conn, sub);
        self.conns.push(conn);
        if self.active.is_none() {
            self.active = Some(id);
            self.judge.resubscribed();
            self.arm_lifetime();
        }
    }

    /// Schedules the planned replacement of the (new) active connection.
    fn arm_lifetime(&mut self) {
        self.replace_at = self.spec.lifetime.map(|l| {
            // Up to 2 % early, so that many streams opened together do not all reconnect in
            // the same second.
            let jitter = l.mul_f64(fastrand::f64() * 0.02);
            Instant::now() + l - jitter
        });
    }

    /// Queues `text` on `conn` and sends what the pacing allows.
    fn send_text(&self, conn: &mut Conn, text: String) {
        if conn.queue.len() >= MAX_QUEUED {
            tracing::warn!(exchange = %self.spec.exchange, endpoint = %self.spec.name, "Stream send queue full; message dropped.");
            return;
        }
        conn.queue.push_back(text);
        self.flush(conn);
    }

    fn flush(&self, conn: &mut Conn) {
        let per_second = venue::messages_per_second(self.spec.venue) as usize;
        let now = Instant::now();
        while conn
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            conn.sent.pop_front();
        }
        while conn.sent.len() < per_second {
            let Some(text) = conn.queue.pop_front() else {
                break;
            };
            conn.sent.push_back(now);
            let _ = conn.sink.write(WsMessage::Text(text.into()));
        }
    }

    fn conn_mut(&mut self, id: u64) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }

    /// Drops connection `id` (if still held), closing it with `code`.
    fn drop_conn(&mut self, id: u64, code: CloseCode, ctx: &mut Context<Self>) {
        if let Some(i) = self.conns.iter().position(|c| c.id == id) {
            let mut c = self.conns.remove(i);
            let _ = c.sink.write(WsMessage::Close(Some(code.into())));
            c.sink.close();
            ctx.cancel_future(c.frames);
        }
        if self.active == Some(id) {
            self.active = None;
        }
    }

    /// Connection `id` (or a connection attempt, `None`) failed for `reason`.
    fn failed(
        &mut self,
        id: Option<u64>,
        reason: &'static str,
        planned: bool,
        ctx: &mut Context<Self>,
    ) {
        let was_active = id.is_some_and(|id| self.active == Some(id));
        if let Some(id) = id {
            self.drop_conn(id, CloseCode::Normal, ctx);
        }
        // A replacement that failed leaves the serving connection in place; try it again later.
        if !was_active && self.active.is_some() {
            self.replace_at = Some(Instant::now() + self.backoff());
            self.failures = self.failures.saturating_add(1);
            return;
        }
        // The serving connection went: a replacement already open takes over.
        if let Some(next) = self.conns.first().map(|c| c.id) {
            self.promote(next, reason, planned);
            return;
        }
        self.count_reconnect(reason);
        let now = Self::now_ms();
        self.readings.clear();
        let mut out = std::mem::take(&mut self.readings);
        self.judge.reconnected(now, planned, &mut out);
        self.emit(&out);
        self.readings = out;
        let wait = self.backoff();
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(Instant::now() + wait);
        if let Some(b) = &self.breaker
            && !planned
        {
            let asked = b.send(StreamHealth {
                endpoint: self.spec.name.clone(),
                ok: false,
            });
            ctx.spawn(crate::supervision::guard_future(
                "stream",
                asked,
                |paused, act: &mut Self, _| {
                    // An open breaker pauses reconnects as it pauses probes.
                    if let Ok(Some(p)) = paused {
                        let until = Instant::now() + p;
                        act.retry_at = Some(act.retry_at.map_or(until, |t| t.max(until)));
                    }
                },
            ));
        }
    }

    /// The next back-off: exponential in the failures in a row, with equal jitter.
    fn backoff(&self) -> Duration {
        let ceiling = BACKOFF_BASE
            .saturating_mul(1u32 << self.failures.min(16))
            .min(BACKOFF_MAX);
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }

    fn count_reconnect(&mut self, reason: &'static str) {
        self.reconnects += 1;
        self.metrics
            .counter(
                "exwatch_stream_reconnects_total",
                &[
                    ("exchange", &self.spec.exchange),
                    ("endpoint", &self.spec.name),
                    ("reason", reason),
                ],
            )
            .inc();
    }

    /// Connection `id` becomes the source; the one it replaces is closed.
    fn promote(&mut self, id: u64, reason: &'static str, planned: bool) {
        let old = self.active.replace(id);
        self.count_reconnect(reason);
        let now = Self::now_ms();
        let mut out = std::mem::take(&mut self.readings);
        out.clear();
        self.judge.reconnected(now, planned, &mut out);
        self.emit(&out);
        self.readings = out;
        self.arm_lifetime();
        if let Some(old) = old.filter(|o| *o != id)
            && let Some(i) = self.conns.iter().position(|c| c.id == old)
        {
            let mut c = self.conns.remove(i);
            let _ = c
                .sink
                .write(WsMessage::Close(Some(CloseCode::Normal.into())));
            c.sink.close();
        }
    }

    fn bad_frame(&mut self, id: u64, kind: &'static str) {
        self.metrics
            .counter(
                "exwatch_stream_bad_frames_total",
                &[
                    ("exchange", &self.spec.exchange),
                    ("endpoint", &self.spec.name),
                    ("kind", kind),
                ],
            )
            .inc();
        let (x, e) = (self.spec.exchange.clone(), self.spec.name.clone());
        if let Some(c) = self.conn_mut(id)
            && !std::mem::replace(&mut c.bad_logged, true)
        {
            tracing::warn!(exchange = %x, endpoint = %e, kind, "Stream sent a frame that is not its protocol; ignored (counted in exwatch_stream_bad_frames_total).");
        }
    }

    fn on_frame(&mut self, id: u64, frame: Frame, ctx: &mut Context<Self>) {
        let Some(c) = self.conn_mut(id) else {
            return;
        };
        c.last_frame = Instant::now();
        match frame {
            Frame::Text(bytes) => self.on_text(id, &bytes, ctx),
            Frame::Binary(_) => self.bad_frame(id, "binary"),
            Frame::Continuation(_) => self.bad_frame(id, "fragment"),
            Frame::Ping(payload) => {
                if let Some(c) = self.conn_mut(id) {
                    let _ = c.sink.write(WsMessage::Pong(payload));
                }
            }
            Frame::Pong(_) => {}
            Frame::Close(reason) => {
                let code = reason.map(|r| u16::from(r.code));
                let reason = match code {
                    Some(1000) => "close_1000",
                    Some(1001) => "close_1001",
                    Some(1008) => "close_1008",
                    Some(1011) => "close_1011",
                    Some(_) => "close_other",
                    None => "close",
                };
                let planned = self.active != Some(id)
                    || self
                        .conns
                        .iter()
                        .any(|c| c.id != id && c.replaces.is_some());
                self.failed(Some(id), reason, planned, ctx);
            }
        }
    }

    fn on_text(&mut self, id: u64, bytes: &Bytes, ctx: &mut Context<Self>) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return self.bad_frame(id, "not_utf8");
        };
        match venue::parse(self.spec.venue, text) {
            Event::Data(d) => {
                if self.active != Some(id) {
                    let Some(reason) = self.conn_mut(id).and_then(|c| c.replaces) else {
                        return;
                    };
                    self.promote(id, reason, true);
                }
                let now = Self::now_ms();
                let mut out = std::mem::take(&mut self.readings);
                out.clear();
                let seen = self.judge.on_data(now, &d, &mut out);
                if !seen.duplicate {
                    self.messages.inc();
                    if let Some(lag) = seen.lag_ms {
                        self.lag.observe(lag / 1000.0);
                    }
                    if seen.gap.is_some() {
                        self.gaps.inc();
                        self.gap_count += 1;
                    }
                }
                self.emit(&out);
                self.readings = out;
                if self.failures > 0 {
                    self.failures = 0;
                    if let Some(b) = &self.breaker {
                        b.do_send(StreamHealth {
                            endpoint: self.spec.name.clone(),
                            ok: true,
                        });
                    }
                }
            }
            Event::Ack => {
                let latency = self.subscribe_latency.clone();
                if let Some(c) = self.conn_mut(id)
                    && !std::mem::replace(&mut c.acked, true)
                {
                    latency.observe(c.subscribed_at.elapsed().as_secs_f64());
                }
            }
            Event::Refused(msg) => {
                tracing::warn!(exchange = %self.spec.exchange, endpoint = %self.spec.name, error = msg, "Stream subscription refused.");
                self.failed(Some(id), "refused", false, ctx);
            }
            Event::Shutdown => {
                if self.active == Some(id) {
                    self.replace(ctx, "shutdown");
                }
            }
            Event::Pong | Event::Other => {}
            Event::Garbage => self.bad_frame(id, "garbage"),
        }
    }

    /// Opens the planned replacement of the active connection.
    fn replace(&mut self, ctx: &mut Context<Self>, reason: &'static str) {
        self.replace_at = None;
        if self.conns.len() >= 2 || self.connecting.is_some() {
            return;
        }
        self.connect(ctx, Some(reason));
    }

    fn emit(&self, readings: &[Reading]) {
        let at = Timestamp::now();
        for r in readings {
            let (series, value, outcome) = match *r {
                Reading::Lag(v) => (&self.keys.lag, v, Outcome::Ok),
                Reading::Silence { ms, stale, .. } => (
                    &self.keys.silence,
                    ms,
                    if stale { Outcome::Timeout } else { Outcome::Ok },
                ),
                Reading::Frozen { repeats, frozen } => (
                    &self.keys.frozen,
                    f64::from(repeats),
                    if frozen {
                        Outcome::BadBody
                    } else {
                        Outcome::Ok
                    },
                ),
                Reading::Gap { missing, gaps } => (
                    &self.keys.gap,
                    missing as f64,
                    if gaps > 0 {
                        Outcome::BadBody
                    } else {
                        Outcome::Ok
                    },
                ),
                Reading::Churn { reconnects, over } => (
                    &self.keys.reconnects,
                    reconnects as f64,
                    if over { Outcome::Connect } else { Outcome::Ok },
                ),
            };
            self.detectors.send(Measurement {
                series: series.clone(),
                value,
                outcome,
                status: 0,
                at,
            });
        }
    }

    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        if self.stopped {
            return;
        }
        let now = Instant::now();
        let now_ms = Self::now_ms();
        let mut out = std::mem::take(&mut self.readings);
        out.clear();
        self.judge.tick(now_ms, &mut out);
        self.emit(&out);
        self.readings = out;
        let silence = self.judge.silence(now_ms);
        self.age.set(silence.as_secs_f64());
        if let Some(lag) = self.readings.iter().rev().find_map(|r| match r {
            Reading::Lag(l) => Some(*l),
            _ => None,
        }) {
            self.last_lag = Some(lag);
        }
        let since_shown = now.duration_since(self.shown.0);
        if since_shown >= Duration::from_secs(1)
            && let Some(skew) = self
                .board
                .as_ref()
                .and_then(|b| b.clock_skew(&self.spec.exchange))
        {
            self.judge.set_skew(skew);
        }
        if let Some(board) = &self.board
            && since_shown >= Duration::from_secs(1)
        {
            let messages = self.judge.messages();
            board.stream(
                &self.spec.exchange,
                &self.spec.name,
                StreamStatus {
                    exchange: self.spec.exchange.to_string(),
                    endpoint: self.spec.name.to_string(),
                    state: self.judge.state().to_owned(),
                    connected: self.active.is_some(),
                    messages,
                    message_rate: (messages - self.shown.1) as f64 / since_shown.as_secs_f64(),
                    silence_ms: silence.as_millis() as u64,
                    lag_ms: self.last_lag,
                    cadence_ms: self.judge.cadence().map(|c| c.as_secs_f64() * 1000.0),
                    stale_after_ms: self.judge.stale_threshold().as_millis() as u64,
                    reconnects: self.reconnects,
                    gaps: self.gap_count,
                    at: now_ms,
                },
            );
            self.shown = (now, messages);
        }
        // Deadlines: the subscribe acknowledgement, heartbeats.
        let timeout = self.spec.timeout.max(Duration::from_secs(1));
        let heartbeat = venue::heartbeat(self.spec.venue);
        let interval = self
            .spec
            .heartbeat
            .unwrap_or(venue::heartbeat_interval(self.spec.venue));
        let mut unacked = Vec::new();
        for c in &mut self.conns {
            if !c.acked && now.duration_since(c.subscribed_at) > timeout {
                unacked.push(c.id);
                continue;
            }
            if let Heartbeat::Send(text) = heartbeat {
                let silent_since = match self.spec.venue {
                    crate::probe::stream::config::Venue::Okx => c.last_frame.max(c.last_ping),
                    _ => c.last_ping,
                };
                if now.duration_since(silent_since) >= interval {
                    c.last_ping = now;
                    c.queue.push_back(text.to_owned());
                }
            }
        }
        let conns = std::mem::take(&mut self.conns);
        let mut conns = conns;
        for c in &mut conns {
            self.flush(c);
        }
        self.conns = conns;
        for id in unacked {
            self.failed(Some(id), "subscribe_timeout", false, ctx);
        }
        // A long stall: replace the connection.
        let stall = self.judge.stale_threshold() * STALL_RECONNECT_THRESHOLDS;
        if let Some(id) = self.active
            && silence > stall.max(MIN_STALL_RECONNECT)
            && self.conns.len() < 2
            && self.connecting.is_none()
        {
            self.failed(Some(id), "stale", false, ctx);
        }
        if self.replace_at.is_some_and(|t| now >= t) && self.active.is_some() {
            self.replace(ctx, "lifetime");
        }
        if self.active.is_none()
            && self.conns.is_empty()
            && self.connecting.is_none()
            && self.retry_at.is_none_or(|t| now >= t)
        {
            self.retry_at = None;
            self.connect(ctx, None);
        }
    }
}

impl Actor for StreamActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.connect(ctx, None);
        ctx.run_interval(TICK, |act, ctx| {
            guard(act, ctx, "stream", |act, ctx| act.on_tick(ctx));
        });
    }
}

impl Supervised for StreamActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The connections' streams died with the old context.
        self.conns.clear();
        self.active = None;
        self.connecting = None;
        self.judge.resubscribed();
    }
}

impl StreamHandler<ConnFrame> for StreamActor {
    fn handle(&mut self, ConnFrame(id, frame): ConnFrame, ctx: &mut Context<Self>) {
        guard(self, ctx, "stream", |act, ctx| match frame {
            Some(Ok(f)) => act.on_frame(id, f, ctx),
            Some(Err(e)) => {
                let reason = match e {
                    awc::error::WsProtocolError::Overflow => {
                        act.bad_frame(id, "oversize");
                        "oversize"
                    }
                    _ => "protocol",
                };
                tracing::warn!(exchange = %act.spec.exchange, endpoint = %act.spec.name, error = %e, "Stream protocol error.");
                act.failed(Some(id), reason, false, ctx);
            }
            None => {
                if act.conns.iter().any(|c| c.id == id) {
                    act.failed(Some(id), "eof", false, ctx);
                }
            }
        });
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {
        // One connection's end is handled by its `None` item; the actor lives on.
    }
}

impl WriteHandler<awc::error::WsProtocolError> for StreamActor {
    fn error(
        &mut self,
        err: awc::error::WsProtocolError,
        _ctx: &mut Context<Self>,
    ) -> actix::Running {
        tracing::debug!(error = %err, "Stream write failed.");
        actix::Running::Continue
    }

    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl Handler<StopStreaming> for StreamActor {
    type Result = ();

    fn handle(&mut self, _: StopStreaming, ctx: &mut Context<Self>) {
        self.stopped = true;
        for id in self.conns.iter().map(|c| c.id).collect::<Vec<_>>() {
            self.drop_conn(id, CloseCode::Away, ctx);
        }
        if let Some(board) = &self.board {
            board.forget_stream(&self.spec.exchange, &self.spec.name);
        }
    }
}
