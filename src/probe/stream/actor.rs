//! The StreamActor: one per shared connection, a thin shell around the streams packed onto it
//! by [`pack`] (each a [`Watch`]: its own pure judge, metrics and status), the venue [`venue`]
//! protocol, the topic [`Routes`] and the subscribe [`Requests`] in flight.
//!
//! It keeps one WebSocket connection open through awc's client, with frames bounded by
//! `max_frame_bytes` (a larger frame is a protocol error: counted, and the connection
//! replaced; nothing is buffered past the bound), subscribes its streams in batches (Binance's
//! `params`, Bybit's and OKX's `args`, as many topics per request as the venue takes), answers
//! or sends the venue's heartbeat, and routes every data message by the topic it names to its
//! stream's judge, whose readings go to the detectors as measurements.
//!
//! - **Make-before-break.** Before a known cut (the connection's `lifetime`, a venue's
//!   announced shutdown) a second connection is opened and subscribed to every stream of the
//!   first; each stream moves to it at its first data message there, and when none is left on
//!   the old one (or [`PROMOTE_WITHIN`] has passed) the old one is closed. Each judge takes
//!   the overlap as duplicates, so a planned reconnect is no gap and, being planned, no churn,
//!   for every stream on the connection.
//! - **Unplanned loss** (a close frame, a protocol error, end of stream, no acknowledgement at
//!   all, every stream stalled for long): the connection is dropped, a reconnect counted for
//!   each of its streams in `exwatch_stream_reconnects_total{reason}` and reported to each
//!   judge (churn), and a new connection is opened after a jittered exponential back-off.
//! - **One topic stalled** for 3 stale thresholds (at least 10 s) while the others flow: that
//!   topic is unsubscribed and subscribed again on the same connection, a reconnect of reason
//!   `stale` for its stream only (at most once per stall period).
//! - **One topic refused** (where the venue answers per request): a refused request of
//!   several topics is split and each asked again alone; a topic refused alone (or left
//!   unanswered while others were answered) counts for its own stream only (a reconnect of
//!   reason `refused` or `subscribe_timeout`), is asked again after its own back-off, and the
//!   other streams on the connection are untouched. A connection left with no stream is
//!   closed.
//! - **Good citizen.** Outgoing messages of one connection are paced under the venue's limit
//!   (Binance: 5 a second), queued in a bounded queue; connection attempts draw from the
//!   venue's budget shared by all connections ([`ConnectBudget`]); one connection carries up
//!   to a thousand streams, so opening them takes a few connection attempts rather than one
//!   per stream. The subscribe acknowledgement's latency is `exwatch_stream_subscribe_seconds`.
//!
//! Bad input (garbage, binary frames, fragments, a topic none of the connection's streams
//! has) is counted in `exwatch_stream_bad_frames_total{exchange,endpoint,kind}` for the
//! streams of the connection it came on and logged, never fatal.

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
use crate::messages::{Name, Timestamp};
use crate::metrics::Metrics;
use crate::probe::stream::budget::ConnectBudget;
use crate::probe::stream::config::{StreamSettings, Venue};
use crate::probe::stream::judge::Reading;
use crate::probe::stream::pack;
use crate::probe::stream::route::{Route, Routes, TopicKey};
use crate::probe::stream::subs::{Refusal, Requests};
use crate::probe::stream::venue::{self, Event, Heartbeat};
use crate::probe::stream::watch::Watch;
use crate::status::StatusBoard;
use crate::supervision::guard;

/// How often the actor looks at the time: stalls, heartbeats, lifetimes, deadlines.
pub const TICK: Duration = Duration::from_millis(100);

/// The first reconnect back-off; doubles with each failure in a row (jittered).
pub const BACKOFF_BASE: Duration = Duration::from_millis(200);

/// The longest reconnect back-off.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The longest back-off of a topic refused (or unanswered) beside streams that flow: a refused
/// topic is most often a symbol the venue does not list, and every ask counts against the
/// venue's subscribe limits (OKX: 480 an hour per connection).
pub const REFUSED_BACKOFF_MAX: Duration = Duration::from_secs(300);

/// A replacement connection takes over every stream still on the old one this long after it
/// opened, data or not (a quiet stream would otherwise hold the old connection open).
pub const PROMOTE_WITHIN: Duration = Duration::from_secs(5);

/// Outgoing messages one connection may queue behind its pacing: one subscribe per stream at
/// worst (a refused batch is split), plus heartbeats.
const MAX_QUEUED: usize = 1100;

/// A stall this many stale thresholds long (and at least [`MIN_STALL_RECONNECT`]) of every
/// stream on the connection replaces it: a client library would, and the venue may have lost
/// our subscriptions.
const STALL_RECONNECT_THRESHOLDS: u32 = 3;

/// See [`STALL_RECONNECT_THRESHOLDS`].
const MIN_STALL_RECONNECT: Duration = Duration::from_secs(10);

/// Stops the streams (at shutdown): connections are closed; the actor stays alive but idle.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct StopStreaming;

/// A stream connection's outcome, for its exchange's breaker (see `ProbeActor`'s handler);
/// the answer is how long the open breaker pauses reconnects, `None` when it is not open.
/// A shared connection reports once, in the name of its first stream.
#[derive(Debug, Clone, Message)]
#[rtype(result = "Option<Duration>")]
pub struct StreamHealth {
    /// The stream's endpoint (a shared connection's first stream).
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
    opened_at: Instant,
    /// Some subscribe request was answered (else an unanswered one fails the connection).
    acked_any: bool,
    /// Last frame of any kind (for OKX's ping-when-silent).
    last_frame: Instant,
    last_ping: Instant,
    /// Why it was opened while another one serves (a planned replacement).
    replaces: Option<&'static str>,
    /// Outgoing text waiting for the pacing (and the subscribe request it is).
    queue: VecDeque<(String, Option<u64>)>,
    sent: VecDeque<Instant>,
    /// The streams subscribed here, by topic.
    routes: Routes,
    requests: Requests,
    /// Bad frames since the last tick, by kind: counted for each of the connection's streams
    /// once a tick rather than per frame, so a venue sending garbage on a connection of 1,024
    /// streams costs one add per frame, not 1,024.
    bad: Vec<(&'static str, u64)>,
}

/// Watches the streams of one shared connection. See the module docs.
pub struct StreamActor {
    /// The connection's settings (its first stream's: the pack shares them).
    lead: StreamSettings,
    watches: Vec<Watch>,
    client: awc::Client,
    detectors: DetectorSet,
    conns: Vec<Conn>,
    /// The connection the streams are subscribed on (a replacement is another).
    serving: Option<u64>,
    next_id: u64,
    next_request: u64,
    connecting: Option<u64>,
    /// Connection failures in a row (the back-off's exponent).
    failures: u32,
    retry_at: Option<Instant>,
    /// The look at the time every [`TICK`]; cancelled when the streams stop.
    ticker: Option<SpawnHandle>,
    /// The exchange's breaker is open (its last answer paused our reconnects): attempts it
    /// lets through fail as the exchange does, and count as its outage, not as our churn.
    breaker_open: bool,
    /// When the planned replacement of the serving connection is due.
    replace_at: Option<Instant>,
    stopped: bool,
    readings: Vec<Reading>,
    breaker: Option<Recipient<StreamHealth>>,
    board: Option<Arc<StatusBoard>>,
    budget: Option<Arc<ConnectBudget>>,
}

impl StreamActor {
    /// A connection actor for `streams` (non-empty, packed to share one connection: same
    /// exchange, venue, URL and connection settings). Call inside the arbiter it will run on
    /// (it builds its client there).
    pub fn new(
        streams: Vec<StreamSettings>,
        detectors: DetectorSet,
        metrics: &Arc<Metrics>,
    ) -> Self {
        let lead = streams
            .first()
            .cloned()
            .expect("a stream connection carries at least one stream");
        Self {
            client: crate::client::build_lean_client(2, lead.timeout),
            watches: streams
                .into_iter()
                .map(|s| Watch::new(s, metrics))
                .collect(),
            lead,
            detectors,
            conns: Vec::new(),
            serving: None,
            next_id: 1,
            next_request: 1,
            connecting: None,
            failures: 0,
            retry_at: None,
            breaker_open: false,
            ticker: None,
            replace_at: None,
            stopped: false,
            readings: Vec::with_capacity(16),
            breaker: None,
            board: None,
            budget: None,
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

    /// Publishes the streams' state on `board` (the status API).
    pub fn with_board(mut self, board: Arc<StatusBoard>) -> Self {
        self.board = Some(board);
        self
    }

    fn now_ms() -> i64 {
        Timestamp::now().as_millis()
    }

    fn venue(&self) -> Venue {
        self.lead.venue
    }

    /// Opens a connection; `replaces`: the reason of a planned replacement.
    fn connect(&mut self, ctx: &mut Context<Self>, replaces: Option<&'static str>) {
        if self.stopped || self.connecting.is_some() {
            return;
        }
        if let Some(budget) = &self.budget
            && let Err(wait) = budget.take(self.venue(), Instant::now())
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
            .ws(self.lead.url.as_str())
            .max_frame_size(self.lead.max_frame_bytes)
            .set_header(awc::http::header::USER_AGENT, crate::client::USER_AGENT);
        let timeout = self.lead.timeout;
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
                tracing::warn!(exchange = %self.lead.exchange, endpoint = %self.lead.name, streams = self.watches.len(), error = %e, "Stream connection failed.");
                return self.lost(None, reason, replaces.is_some(), ctx);
            }
            Err(_) => {
                tracing::warn!(exchange = %self.lead.exchange, endpoint = %self.lead.name, streams = self.watches.len(), "Stream handshake did not complete in time.");
                return self.lost(None, "timeout", replaces.is_some(), ctx);
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
            opened_at: now,
            acked_any: false,
            last_frame: now,
            last_ping: now,
            replaces,
            queue: VecDeque::new(),
            sent: VecDeque::new(),
            routes: Routes::new(),
            requests: Requests::new(),
            bad: Vec::new(),
        };
        let members: Vec<usize> = match self.serving {
            // A replacement carries every stream of the serving connection.
            Some(serving) => (0..self.watches.len())
                .filter(|&i| self.watches[i].source == Some(serving))
                .collect(),
            // The serving connection: every stream not waiting out a refusal.
            None => {
                self.serving = Some(id);
                conn.replaces = None;
                let members: Vec<usize> = (0..self.watches.len())
                    .filter(|&i| self.watches[i].retry_at.is_none_or(|t| now >= t))
                    .collect();
                for &i in &members {
                    let w = &mut self.watches[i];
                    w.retry_at = None;
                    w.source = Some(id);
                    w.resubscribed();
                }
                self.arm_lifetime();
                members
            }
        };
        self.subscribe(&mut conn, &members);
        self.conns.push(conn);
    }

    /// Subscribes `streams` on `conn`, as many topics per request as the venue takes.
    fn subscribe(&mut self, conn: &mut Conn, streams: &[usize]) {
        let venue = self.venue();
        let now = Instant::now();
        for range in pack::requests(venue, streams.len()) {
            let batch = &streams[range];
            let id = self.next_request;
            self.next_request += 1;
            let topics: Vec<_> = batch
                .iter()
                .map(|&i| {
                    let s = &self.watches[i].spec;
                    (s.channel, s.symbol.as_str())
                })
                .collect();
            for &i in batch {
                let s = &self.watches[i].spec;
                match TopicKey::of_stream(venue, s.channel, &s.symbol) {
                    Some(key) => {
                        conn.routes.insert(key, i);
                    }
                    None => {
                        tracing::warn!(exchange = %s.exchange, endpoint = %s.name, "Stream symbol too long to route; its frames are counted as unknown topics.");
                    }
                }
            }
            conn.requests.queued(id, batch.to_vec(), now);
            let text = venue::subscribe_many(venue, &topics, id);
            self.send_text(conn, text, Some(id));
        }
    }

    /// Schedules the planned replacement of the (new) serving connection.
    fn arm_lifetime(&mut self) {
        self.replace_at = self.lead.lifetime.map(|l| {
            // Up to 2 % early, so that many connections opened together do not all reconnect
            // in the same second.
            let jitter = l.mul_f64(fastrand::f64() * 0.02);
            Instant::now() + l - jitter
        });
    }

    /// Queues `text` (subscribe request `request`) on `conn` and sends what the pacing
    /// allows.
    fn send_text(&self, conn: &mut Conn, text: String, request: Option<u64>) {
        if conn.queue.len() >= MAX_QUEUED {
            tracing::warn!(exchange = %self.lead.exchange, endpoint = %self.lead.name, "Stream send queue full; message dropped.");
            return;
        }
        conn.queue.push_back((text, request));
        Self::flush(self.venue(), conn);
    }

    fn flush(venue: Venue, conn: &mut Conn) {
        let per_second = venue::messages_per_second(venue) as usize;
        let now = Instant::now();
        while conn
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            conn.sent.pop_front();
        }
        while conn.sent.len() < per_second {
            let Some((text, request)) = conn.queue.pop_front() else {
                break;
            };
            conn.sent.push_back(now);
            // A request's answer is waited for from when it leaves, not from when it queued.
            if let Some(id) = request {
                conn.requests.restart(id, now);
            }
            let _ = conn.sink.write(WsMessage::Text(text.into()));
        }
    }

    fn conn_index(&self, id: u64) -> Option<usize> {
        self.conns.iter().position(|c| c.id == id)
    }

    fn conn_mut(&mut self, id: u64) -> Option<&mut Conn> {
        self.conns.iter_mut().find(|c| c.id == id)
    }

    /// Drops connection `id` (if still held), closing it with `code`.
    fn drop_conn(&mut self, id: u64, code: CloseCode, ctx: &mut Context<Self>) {
        if let Some(i) = self.conn_index(id) {
            let mut c = self.conns.remove(i);
            Self::count_bad_frames(&mut self.watches, &mut c);
            let _ = c.sink.write(WsMessage::Close(Some(code.into())));
            c.sink.close();
            ctx.cancel_future(c.frames);
        }
        if self.serving == Some(id) {
            self.serving = None;
        }
    }

    /// The next back-off after `failures` in a row: exponential, with equal jitter.
    fn backoff(failures: u32) -> Duration {
        Self::backoff_up_to(failures, BACKOFF_MAX)
    }

    /// [`Self::backoff`] up to `max`.
    fn backoff_up_to(failures: u32, max: Duration) -> Duration {
        let ceiling = BACKOFF_BASE
            .saturating_mul(1u32 << failures.min(16))
            .min(max);
        ceiling / 2 + ceiling.mul_f64(fastrand::f64() / 2.0)
    }

    /// Tells the breaker of a failure (`ok = false`) or of data after failures; an open
    /// breaker's answer pauses reconnects.
    fn report(&mut self, ok: bool, ctx: &mut Context<Self>) {
        let Some(b) = &self.breaker else {
            return;
        };
        let health = StreamHealth {
            endpoint: self.lead.name.clone(),
            ok,
        };
        if ok {
            self.breaker_open = false;
            b.do_send(health);
            return;
        }
        ctx.spawn(crate::supervision::guard_future(
            "stream",
            b.send(health),
            |paused, act: &mut Self, _| {
                // An open breaker pauses reconnects as it pauses probes.
                act.breaker_open = matches!(paused, Ok(Some(_)));
                if let Ok(Some(p)) = paused {
                    let until = Instant::now() + p;
                    act.retry_at = Some(act.retry_at.map_or(until, |t| t.max(until)));
                }
            },
        ));
    }

    /// Stream `i` takes its data from connection `to` from now on (a reconnect of `reason`).
    fn promote(&mut self, i: usize, to: u64, reason: &'static str, planned: bool) {
        let mut out = std::mem::take(&mut self.readings);
        let w = &mut self.watches[i];
        w.source = Some(to);
        w.reconnected(reason, planned, &mut out, &self.detectors);
        self.readings = out;
    }

    /// The replacement `to` takes over from `from`: streams still on `from` move (those it
    /// does not carry are subscribed on it first), `from` is closed and `to` serves.
    fn take_over(&mut self, from: u64, to: u64, ctx: &mut Context<Self>) {
        let Some(reason) = self.conn_mut(to).map(|c| c.replaces.unwrap_or("lifetime")) else {
            return;
        };
        let left: Vec<usize> = (0..self.watches.len())
            .filter(|&i| self.watches[i].source == Some(from))
            .collect();
        let missing: Vec<usize> = match self.conn_mut(to) {
            Some(c) => left
                .iter()
                .copied()
                .filter(|&i| !c.routes.contains(i))
                .collect(),
            None => Vec::new(),
        };
        if !missing.is_empty()
            && let Some(k) = self.conn_index(to)
        {
            let mut conn = self.conns.remove(k);
            self.subscribe(&mut conn, &missing);
            self.conns.insert(k, conn);
        }
        for i in left {
            self.promote(i, to, reason, true);
        }
        self.drop_conn(from, CloseCode::Normal, ctx);
        if let Some(c) = self.conn_mut(to) {
            c.replaces = None;
        }
        self.serving = Some(to);
        self.arm_lifetime();
    }

    /// True when no stream takes its data from connection `id`.
    fn unused(&self, id: u64) -> bool {
        !self.watches.iter().any(|w| w.source == Some(id))
    }

    /// Connection `id` (or a connection attempt, `None`) was lost for `reason`.
    fn lost(
        &mut self,
        id: Option<u64>,
        reason: &'static str,
        planned: bool,
        ctx: &mut Context<Self>,
    ) {
        let Some(id) = id else {
            // An attempt failed. A replacement's leaves the serving connection in place: try
            // it again later.
            if self.serving.is_some() {
                self.replace_at = Some(Instant::now() + Self::backoff(self.failures));
                self.failures = self.failures.saturating_add(1);
                return;
            }
            // While the exchange's breaker is open, a failed attempt is the outage's (the
            // down pages), not churn of ours: hours of outage would otherwise exceed the
            // reconnect budget and keep a churn alert open long after the exchange is back.
            let churn = !planned && !self.breaker_open;
            let mut out = std::mem::take(&mut self.readings);
            for w in &mut self.watches {
                w.reconnected(reason, !churn, &mut out, &self.detectors);
            }
            self.readings = out;
            return self.retry_later(planned, ctx);
        };
        let was_serving = self.serving == Some(id);
        self.drop_conn(id, CloseCode::Normal, ctx);
        let other = self.conns.first().map(|c| c.id);
        let on_it: Vec<usize> = (0..self.watches.len())
            .filter(|&i| self.watches[i].source == Some(id))
            .collect();
        if let Some(other) = other {
            // The other connection (a replacement, or the serving one a replacement was
            // opened beside) takes the streams it carries; the rest are asked for there.
            let carried: Vec<bool> = {
                let c = self.conn_mut(other).map(|c| &c.routes);
                on_it
                    .iter()
                    .map(|&i| c.is_some_and(|r| r.contains(i)))
                    .collect()
            };
            let mut out = std::mem::take(&mut self.readings);
            for (&i, carried) in on_it.iter().zip(carried) {
                let w = &mut self.watches[i];
                if carried {
                    w.source = Some(other);
                } else {
                    w.source = None;
                    w.retry_at = None;
                }
                w.reconnected(reason, planned, &mut out, &self.detectors);
            }
            self.readings = out;
            if was_serving {
                self.serving = Some(other);
                if let Some(c) = self.conn_mut(other) {
                    c.replaces = None;
                }
                self.arm_lifetime();
            } else {
                self.replace_at = Some(Instant::now() + Self::backoff(self.failures));
                self.failures = self.failures.saturating_add(1);
            }
            return;
        }
        let mut out = std::mem::take(&mut self.readings);
        for &i in &on_it {
            let w = &mut self.watches[i];
            w.source = None;
            w.reconnected(reason, planned, &mut out, &self.detectors);
        }
        self.readings = out;
        self.retry_later(planned, ctx);
    }

    /// No connection is left: a new one after the back-off (and the breaker's pause).
    fn retry_later(&mut self, planned: bool, ctx: &mut Context<Self>) {
        let wait = Self::backoff(self.failures);
        self.failures = self.failures.saturating_add(1);
        self.retry_at = Some(Instant::now() + wait);
        if !planned {
            self.report(false, ctx);
        }
    }

    /// Stream `i`'s subscription on connection `id` was refused (or never answered): it
    /// counts for that stream alone, which is asked for again after its own back-off.
    fn stream_refused(&mut self, id: u64, i: usize, reason: &'static str, ctx: &mut Context<Self>) {
        if let Some(c) = self.conn_mut(id) {
            c.routes.remove(i);
            c.requests.forget(i);
        }
        let mut out = std::mem::take(&mut self.readings);
        let w = &mut self.watches[i];
        if w.source == Some(id) {
            w.source = None;
        }
        w.reconnected(reason, false, &mut out, &self.detectors);
        let wait = Self::backoff_up_to(w.refusals, REFUSED_BACKOFF_MAX);
        w.refusals = w.refusals.saturating_add(1);
        w.retry_at = Some(Instant::now() + wait);
        self.readings = out;
        // A connection left with no stream is closed (and counts toward the exchange's
        // breaker, as a stream that cannot subscribe did before streams shared connections);
        // the next opens when a stream is due. A topic refused beside streams that flow is
        // that stream's problem, not the exchange's.
        if self.conn_mut(id).is_some_and(|c| c.routes.is_empty()) && self.unused(id) {
            let was_serving = self.serving == Some(id);
            self.drop_conn(id, CloseCode::Normal, ctx);
            match self.conns.first().map(|c| c.id) {
                // A replacement was opening beside it: it serves from now on.
                Some(other) if was_serving => {
                    self.serving = Some(other);
                    if let Some(c) = self.conn_mut(other) {
                        c.replaces = None;
                    }
                    self.arm_lifetime();
                }
                None if was_serving => {
                    let due = self.watches.iter().filter_map(|w| w.retry_at).min();
                    self.retry_at = due;
                    self.failures = self.failures.saturating_add(1);
                }
                _ => {}
            }
            self.report(false, ctx);
        }
    }

    /// Streams on connection `id` stalled for long while others flow: each is unsubscribed and
    /// subscribed again (the venue may have lost that subscription), a reconnect of reason
    /// `stale` for that stream only; at most once per stall period.
    fn ask_stalled_again(&mut self, id: u64, now_ms: i64) {
        let stalled: Vec<usize> = (0..self.watches.len())
            .filter(|&i| {
                let w = &self.watches[i];
                // Cheap tests first: this runs every tick over every stream.
                if w.source != Some(id) || w.silence(now_ms) <= MIN_STALL_RECONNECT {
                    return false;
                }
                let limit = (w.stale_threshold() * STALL_RECONNECT_THRESHOLDS)
                    .max(MIN_STALL_RECONNECT)
                    .as_millis() as i64;
                w.silence(now_ms).as_millis() as i64 > limit
                    && w.stall_asked_at.is_none_or(|t| now_ms - t > limit)
            })
            .collect();
        if stalled.is_empty() {
            return;
        }
        let Some(k) = self.conn_index(id) else {
            return;
        };
        let mut conn = self.conns.remove(k);
        let venue = self.venue();
        for range in pack::requests(venue, stalled.len()) {
            let topics: Vec<_> = stalled[range]
                .iter()
                .map(|&i| {
                    let s = &self.watches[i].spec;
                    (s.channel, s.symbol.as_str())
                })
                .collect();
            let request = self.next_request;
            self.next_request += 1;
            let text = venue::unsubscribe_many(venue, &topics, request);
            self.send_text(&mut conn, text, None);
        }
        let mut out = std::mem::take(&mut self.readings);
        for &i in &stalled {
            let w = &mut self.watches[i];
            w.stall_asked_at = Some(now_ms);
            w.reconnected("stale", false, &mut out, &self.detectors);
            tracing::warn!(exchange = %w.spec.exchange, endpoint = %w.spec.name, "Stream stalled while its connection's other streams flow; subscribing again.");
        }
        self.readings = out;
        self.subscribe(&mut conn, &stalled);
        self.conns.insert(k, conn);
    }

    /// A frame of connection `id` that is not its protocol: counted for the connection's
    /// streams at the next tick ([`Self::count_bad_frames`]).
    fn bad_frame(&mut self, id: u64, kind: &'static str) {
        let Some(c) = self.conn_mut(id) else {
            // Its connection is gone already: no streams of its own left to count it for.
            self.watches[0].bad_frames(kind, 1);
            return;
        };
        match c.bad.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => c.bad.push((kind, 1)),
        }
    }

    /// Counts a connection's pending bad frames for each of its streams (its first stream
    /// while none is routed yet).
    fn count_bad_frames(watches: &mut [Watch], c: &mut Conn) {
        if c.bad.is_empty() {
            return;
        }
        for (kind, n) in c.bad.drain(..) {
            if c.routes.is_empty() {
                watches[0].bad_frames(kind, n);
            } else {
                for i in c.routes.streams() {
                    watches[i].bad_frames(kind, n);
                }
            }
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
                let planned = self.serving != Some(id)
                    || self
                        .conns
                        .iter()
                        .any(|c| c.id != id && c.replaces.is_some());
                self.lost(Some(id), reason, planned, ctx);
            }
        }
    }

    fn on_text(&mut self, id: u64, bytes: &Bytes, ctx: &mut Context<Self>) {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return self.bad_frame(id, "not_utf8");
        };
        let venue = self.venue();
        match venue::parse(venue, text) {
            Event::Data(d, topic) => {
                let Some(c) = self.conns.iter().find(|c| c.id == id) else {
                    return;
                };
                let i = match c.routes.route(topic.as_ref()) {
                    Route::Stream(i) => i,
                    Route::Unknown => return self.bad_frame(id, "unknown_topic"),
                };
                let replaces = c.replaces;
                let source = self.watches[i].source;
                if source != Some(id) {
                    match (replaces, source) {
                        // The replacement's first message of this stream: it moves there.
                        (Some(reason), Some(old)) => {
                            self.promote(i, id, reason, true);
                            if self.unused(old) {
                                self.take_over(old, id, ctx);
                            }
                        }
                        (_, None) if self.serving == Some(id) => self.watches[i].source = Some(id),
                        // The old connection's overlap, or a stream that moved on.
                        _ => return,
                    }
                }
                let now = Self::now_ms();
                let mut out = std::mem::take(&mut self.readings);
                self.watches[i].on_data(now, &d, &mut out, &self.detectors);
                self.readings = out;
                if self.failures > 0 {
                    self.failures = 0;
                    self.report(true, ctx);
                }
            }
            Event::Ack(reply) => {
                let now = Instant::now();
                let Some(c) = self.conn_mut(id) else {
                    return;
                };
                let stream = reply.topic.and_then(|t| match c.routes.route(Some(&t)) {
                    Route::Stream(i) => Some(i),
                    Route::Unknown => None,
                });
                let acked = c.requests.ack(reply.id, stream, now);
                c.acked_any |= !acked.is_empty();
                for (i, waited) in acked {
                    self.watches[i].acked(waited);
                }
            }
            Event::Refused(msg, reply) => {
                let Some(c) = self.conn_mut(id) else {
                    return;
                };
                let stream = reply.topic.and_then(|t| match c.routes.route(Some(&t)) {
                    Route::Stream(i) => Some(i),
                    Route::Unknown => None,
                });
                match c.requests.refuse(reply.id, stream) {
                    Refusal::Split(streams) => {
                        tracing::warn!(exchange = %self.lead.exchange, streams = streams.len(), error = msg, "Stream subscription of several topics refused; asking for each alone.");
                        if let Some(k) = self.conn_index(id) {
                            let mut conn = self.conns.remove(k);
                            for i in streams {
                                self.subscribe(&mut conn, &[i]);
                            }
                            self.conns.insert(k, conn);
                        }
                    }
                    Refusal::Refused(i) => {
                        let s = &self.watches[i].spec;
                        tracing::warn!(exchange = %s.exchange, endpoint = %s.name, error = msg, "Stream subscription refused.");
                        self.stream_refused(id, i, "refused", ctx);
                    }
                    Refusal::Unmatched => {
                        tracing::warn!(exchange = %self.lead.exchange, endpoint = %self.lead.name, error = msg, "Stream error answering no subscribe in flight; ignored.");
                    }
                }
            }
            Event::Shutdown => {
                if self.serving == Some(id) {
                    self.replace(ctx, "shutdown");
                }
            }
            Event::Pong | Event::Other => {}
            Event::Garbage => self.bad_frame(id, "garbage"),
        }
    }

    /// Opens the planned replacement of the serving connection.
    fn replace(&mut self, ctx: &mut Context<Self>, reason: &'static str) {
        self.replace_at = None;
        if self.conns.len() >= 2 || self.connecting.is_some() {
            return;
        }
        self.connect(ctx, Some(reason));
    }

    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        if self.stopped {
            return;
        }
        let now = Instant::now();
        let now_ms = Self::now_ms();
        let mut out = std::mem::take(&mut self.readings);
        let board = self.board.clone();
        for w in &mut self.watches {
            w.tick(now, now_ms, &mut out, &self.detectors, board.as_deref());
        }
        self.readings = out;
        // Deadlines: subscribe acknowledgements, heartbeats.
        let venue = self.venue();
        let timeout = self.lead.timeout.max(Duration::from_secs(1));
        let heartbeat = venue::heartbeat(venue);
        let interval = self
            .lead
            .heartbeat
            .unwrap_or(venue::heartbeat_interval(venue));
        let mut unanswered = Vec::new();
        for c in &mut self.conns {
            Self::count_bad_frames(&mut self.watches, c);
            Self::flush(venue, c);
            let expired = c.requests.expired(now, timeout);
            if !expired.is_empty() {
                unanswered.push((c.id, c.acked_any, expired));
            }
            if let Heartbeat::Send(text) = heartbeat {
                let silent_since = match venue {
                    Venue::Okx => c.last_frame.max(c.last_ping),
                    _ => c.last_ping,
                };
                if now.duration_since(silent_since) >= interval && c.queue.len() < MAX_QUEUED {
                    c.last_ping = now;
                    c.queue.push_back((text.to_owned(), None));
                    Self::flush(venue, c);
                }
            }
        }
        for (id, acked_any, streams) in unanswered {
            if !acked_any {
                // Nothing answered on this connection: it is the connection that fails.
                if self.conn_index(id).is_some() {
                    self.lost(Some(id), "subscribe_timeout", false, ctx);
                }
                continue;
            }
            for i in streams {
                self.stream_refused(id, i, "subscribe_timeout", ctx);
            }
        }
        // Every stream on the serving connection stalled for long: replace it.
        if let Some(id) = self.serving
            && self.conns.len() < 2
            && self.connecting.is_none()
        {
            let mut on_it = self
                .watches
                .iter()
                .filter(|w| w.source == Some(id))
                .peekable();
            // Silence counts from the connection's opening too: a stall that outlives one
            // replacement must not condemn the next connection at once (each replacement is a
            // reconnect and a failure for the breaker: a stall would open it in seconds).
            let open_for = self.conn_index(id).map_or(Duration::ZERO, |k| {
                now.duration_since(self.conns[k].opened_at)
            });
            let stalled = on_it.peek().is_some()
                && on_it.all(|w| {
                    let stall =
                        (w.stale_threshold() * STALL_RECONNECT_THRESHOLDS).max(MIN_STALL_RECONNECT);
                    w.silence(now_ms) > stall && open_for > stall
                });
            if stalled {
                self.lost(Some(id), "stale", false, ctx);
            } else {
                self.ask_stalled_again(id, now_ms);
            }
        }
        // A replacement that has not taken every stream in time takes the rest.
        if let (Some(serving), Some(new)) = (
            self.serving,
            self.conns
                .iter()
                .find(|c| c.replaces.is_some() && now.duration_since(c.opened_at) >= PROMOTE_WITHIN)
                .map(|c| c.id),
        ) && serving != new
        {
            self.take_over(serving, new, ctx);
        }
        if self.replace_at.is_some_and(|t| now >= t) && self.serving.is_some() {
            self.replace(ctx, "lifetime");
        }
        // Streams waiting for their own retry (a refusal, a loss of the other connection):
        // asked for again on the serving connection.
        if let Some(id) = self.serving
            && let Some(k) = self.conn_index(id)
        {
            let due: Vec<usize> = (0..self.watches.len())
                .filter(|&i| {
                    let w = &self.watches[i];
                    w.source.is_none() && w.retry_at.is_none_or(|t| now >= t)
                })
                .filter(|&i| !self.conns[k].routes.contains(i))
                .collect();
            if !due.is_empty() {
                let mut conn = self.conns.remove(k);
                for &i in &due {
                    let w = &mut self.watches[i];
                    w.retry_at = None;
                    w.source = Some(id);
                    w.resubscribed();
                }
                self.subscribe(&mut conn, &due);
                self.conns.insert(k, conn);
            }
        }
        if self.serving.is_none()
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
        self.ticker = Some(ctx.run_interval(TICK, |act, ctx| {
            guard(act, ctx, "stream", |act, ctx| act.on_tick(ctx));
        }));
    }
}

impl Supervised for StreamActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // The connections' streams died with the old context.
        for c in &mut self.conns {
            Self::count_bad_frames(&mut self.watches, c);
        }
        self.conns.clear();
        self.serving = None;
        self.connecting = None;
        for w in &mut self.watches {
            w.source = None;
            w.resubscribed();
        }
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
                tracing::warn!(exchange = %act.lead.exchange, endpoint = %act.lead.name, error = %e, "Stream protocol error.");
                act.lost(Some(id), reason, false, ctx);
            }
            None => {
                if act.conn_index(id).is_some() {
                    act.lost(Some(id), "eof", false, ctx);
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
        // Without its ticker (and its connections) the actor has nothing left to run, and
        // ends once its last address is dropped (a reload drops it): else every connection a
        // reload replaced would live on idle, holding its exchange's probe alive.
        if let Some(ticker) = self.ticker.take() {
            ctx.cancel_future(ticker);
        }
        for id in self.conns.iter().map(|c| c.id).collect::<Vec<_>>() {
            self.drop_conn(id, CloseCode::Away, ctx);
        }
        if let Some(board) = &self.board {
            for w in &self.watches {
                w.forget(board);
            }
        }
    }
}
