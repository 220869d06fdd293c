//! A simulated Binance spot depth stream on loopback: one actix-web server on `127.0.0.1:0`
//! that accepts the WebSocket upgrade on `/ws` (and `/ws/<stream>`, Binance's raw-stream
//! form, subscribed at connect) through `actix-ws`, and speaks Binance's public stream
//! protocol (`/work/shared/apis.md` A5) as far as the demo's one stream needs:
//!
//! | what | how |
//! |---|---|
//! | requests | `{"method":"SUBSCRIBE","params":[…],"id":1}` → `{"result":null,"id":1}`; `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`/`GET_PROPERTY` (`combined`); bad JSON → `{"code":3,…}`, a bad request → `{"code":2,…,"id":…}` |
//! | data | [`DEPTH_STREAM`]: a `depthUpdate` (`e`, `E`, `s`, `U`, `u`, `b`, `a`) every cadence, the next event's `U` = the previous `u + 1`; one feed for every connection, so all see the same sequence |
//! | heartbeat | a ping frame every `ping_every`; no pong echoing the payload within `pong_timeout` → disconnected; the client's pings are answered with pongs |
//! | limits | more than [`INBOUND_PER_SECOND`] incoming messages (pings, pongs, JSON) in a second → closed with 1008; a connection lives `lifetime` at most |
//!
//! It owns its server, its feed and its [`StreamCondition`]; the story sets the condition at
//! any time with [`SimStream::set`]. Stalled, the feed publishes nothing while every
//! connection stays open, answers requests and keeps its heartbeat (the silent stall client
//! libraries report); resumed, it goes on with the next update id: the venue held its updates
//! back, none were lost. Other stream names are acknowledged (as Binance acknowledges any) and
//! carry no data: the demo simulates one stream.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, Message, MessageStream, Session};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use super::sim::{mid_price, now_ms};

/// The one stream with data: Binance's BTC/USDT diff. depth at 100 ms.
pub const DEPTH_STREAM: &str = "btcusdt@depth@100ms";

/// The symbol its events carry (`s`).
pub const SYMBOL: &str = "BTCUSDT";

/// Incoming messages a connection may send in a second (Binance: 5; pings, pongs and JSON
/// requests all count); one more closes it with 1008.
pub const INBOUND_PER_SECOND: usize = 5;

/// The first update id the feed publishes.
pub const FIRST_UPDATE_ID: i64 = 7_461_000_000;

/// Updates a slow connection may fall behind before it misses some.
const FEED_BUFFER: usize = 256;

/// The stream's clock: how often it pushes and how it keeps a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTiming {
    /// One `depthUpdate` every `cadence`.
    pub cadence: Duration,
    /// A ping frame every `ping_every`.
    pub ping_every: Duration,
    /// A ping not answered within this disconnects.
    pub pong_timeout: Duration,
    /// A connection is closed after this long.
    pub lifetime: Duration,
}

impl StreamTiming {
    /// Binance spot's, in real time: depth every 100 ms, a ping every 20 s, a pong due
    /// within a minute, connections cut at 24 h.
    pub const BINANCE_SPOT: Self = Self {
        cadence: Duration::from_millis(100),
        ping_every: Duration::from_secs(20),
        pong_timeout: Duration::from_secs(60),
        lifetime: Duration::from_secs(24 * 3600),
    };
}

/// What the stream does right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamCondition {
    /// No data: connections stay open, requests are answered, pings go on.
    pub stalled: bool,
}

/// The simulated stream, serving on loopback until [`SimStream::stop`].
pub struct SimStream {
    url: String,
    shared: Arc<Shared>,
    handle: ServerHandle,
    feed: actix_rt::task::JoinHandle<()>,
}

struct Shared {
    timing: StreamTiming,
    condition: Mutex<StreamCondition>,
    updates: broadcast::Sender<String>,
    closing: watch::Sender<bool>,
    connections: AtomicUsize,
    pongs: AtomicUsize,
    published: AtomicUsize,
}

impl SimStream {
    /// Starts the stream on `127.0.0.1:0` inside the running actix System, pushing and
    /// pinging as `timing` says.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub fn start(timing: StreamTiming) -> std::io::Result<Self> {
        let (updates, _) = broadcast::channel(FEED_BUFFER);
        let (closing, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            timing,
            condition: Mutex::new(StreamCondition::default()),
            updates,
            closing,
            connections: AtomicUsize::new(0),
            pongs: AtomicUsize::new(0),
            published: AtomicUsize::new(0),
        });
        let data = web::Data::from(shared.clone());
        let (addr, handle) = super::serve::on_loopback(move || {
            App::new()
                .app_data(data.clone())
                .route("/ws", web::get().to(upgrade))
                .route("/ws/{stream}", web::get().to(upgrade))
        })?;
        let feed = actix_rt::spawn(publish(shared.clone()));
        Ok(Self {
            url: format!("ws://{addr}/ws"),
            shared,
            handle,
            feed,
        })
    }

    /// `ws://127.0.0.1:<port>/ws`, as a configuration's `url` says it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Its current condition.
    pub fn condition(&self) -> StreamCondition {
        *self.shared.condition.lock()
    }

    /// Changes what it does from its next cadence on.
    pub fn set(&self, condition: StreamCondition) {
        *self.shared.condition.lock() = condition;
    }

    /// WebSocket connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Pongs received that echoed the ping they answer.
    pub fn pongs(&self) -> usize {
        self.shared.pongs.load(Ordering::Relaxed)
    }

    /// `depthUpdate` events published so far.
    pub fn published(&self) -> usize {
        self.shared.published.load(Ordering::Relaxed)
    }

    /// Closes every connection (1001, going away), stops the feed and closes its port.
    pub async fn stop(self) {
        self.shared.closing.send_replace(true);
        self.feed.abort();
        self.handle.stop(true).await;
    }
}

/// The feed: one `depthUpdate` every cadence to every subscribed connection, none while
/// stalled. A late tick is skipped, not made up in a burst.
async fn publish(shared: Arc<Shared>) {
    let mut book = DepthFeed::new(FIRST_UPDATE_ID);
    let mut tick = actix_rt::time::interval(shared.timing.cadence);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        if shared.condition.lock().stalled {
            continue;
        }
        let now = now_ms();
        let frame = book.update(now, mid_price(now), fastrand::usize(1..=4));
        shared.published.fetch_add(1, Ordering::Relaxed);
        // Nobody subscribed: the update is gone, as with a real venue.
        let _ = shared.updates.send(frame);
    }
}

async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    shared: web::Data<Shared>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, messages) = actix_ws::handle(&req, body)?;
    let mut subscriptions = BTreeSet::new();
    if let Some(stream) = req.match_info().get("stream") {
        subscriptions.insert(stream.to_owned());
    }
    shared.connections.fetch_add(1, Ordering::Relaxed);
    actix_rt::spawn(serve(shared.into_inner(), session, messages, subscriptions));
    Ok(response)
}

/// One connection, until either side closes it.
async fn serve(
    shared: Arc<Shared>,
    mut session: Session,
    mut messages: MessageStream,
    mut subscriptions: BTreeSet<String>,
) {
    let timing = shared.timing;
    let mut closing = shared.closing.subscribe();
    let mut updates = subscriptions
        .contains(DEPTH_STREAM)
        .then(|| shared.updates.subscribe());
    let mut ping = actix_rt::time::interval_at(
        (Instant::now() + timing.ping_every).into(),
        timing.ping_every,
    );
    let mut heartbeat = Heartbeat::default();
    let mut inbound = InboundLimit::default();
    let end_of_life = actix_rt::time::sleep(timing.lifetime);
    let mut end_of_life = std::pin::pin!(end_of_life);
    let close: Option<CloseCode> = loop {
        tokio::select! {
            m = messages.recv() => {
                let Some(Ok(m)) = m else {
                    // The client went away, or broke the protocol.
                    break None;
                };
                if counts_as_inbound(&m) && !inbound.admit(Instant::now()) {
                    break Some(CloseCode::Policy);
                }
                let sent = match m {
                    Message::Text(text) => {
                        let reply = answer(&text, &mut subscriptions);
                        match (subscriptions.contains(DEPTH_STREAM), updates.is_some()) {
                            (true, false) => updates = Some(shared.updates.subscribe()),
                            (false, true) => updates = None,
                            _ => {}
                        }
                        session.text(reply).await
                    }
                    Message::Ping(payload) => session.pong(&payload).await,
                    Message::Pong(payload) => {
                        if heartbeat.pong(&payload) {
                            shared.pongs.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(())
                    }
                    Message::Close(_) => break Some(CloseCode::Normal),
                    Message::Binary(_) | Message::Continuation(_) | Message::Nop => Ok(()),
                };
                if sent.is_err() {
                    return;
                }
            }
            u = next_update(&mut updates) => match u {
                Ok(frame) => {
                    if session.text(frame).await.is_err() {
                        return;
                    }
                }
                // A consumer too slow for the feed misses updates, as on a real venue.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break Some(CloseCode::Away),
            },
            _ = ping.tick() => {
                let now = Instant::now();
                if heartbeat.overdue(now, timing.pong_timeout) {
                    break Some(CloseCode::Policy);
                }
                let payload = heartbeat.ping(now, now_ms());
                if session.ping(&payload).await.is_err() {
                    return;
                }
            }
            () = &mut end_of_life => break Some(CloseCode::Away),
            _ = closing.changed() => break Some(CloseCode::Away),
        }
    };
    let _ = session.close(close.map(Into::into)).await;
}

/// The next update of a subscribed connection; never, when it is not subscribed.
async fn next_update(
    updates: &mut Option<broadcast::Receiver<String>>,
) -> Result<String, broadcast::error::RecvError> {
    match updates {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Whether `m` counts against [`INBOUND_PER_SECOND`]: pings, pongs, requests.
fn counts_as_inbound(m: &Message) -> bool {
    matches!(
        m,
        Message::Text(_) | Message::Binary(_) | Message::Ping(_) | Message::Pong(_)
    )
}

/// Binance's answer to one request `text` of a connection subscribed to `subscriptions`,
/// which it updates.
pub fn answer(text: &str, subscriptions: &mut BTreeSet<String>) -> String {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return json!({ "code": 3, "msg": format!("Invalid JSON: {e}") }).to_string(),
    };
    let id = v.get("id").cloned().unwrap_or(Value::Null);
    let bad = |msg: &str| json!({ "code": 2, "msg": format!("Invalid request: {msg}"), "id": id });
    if !(id.is_u64() || id.is_string()) {
        return bad("request ID must be an unsigned integer").to_string();
    }
    let params = match v.get("params") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let names: Option<Vec<String>> = items
                .iter()
                .map(|p| p.as_str().map(str::to_owned))
                .collect();
            match names {
                Some(n) => n,
                None => return bad("property name must be a string").to_string(),
            }
        }
        Some(_) => return bad("params must be an array").to_string(),
    };
    let result = match v.get("method").and_then(Value::as_str) {
        Some("SUBSCRIBE") if params.is_empty() => {
            return bad("SUBSCRIBE needs at least one stream").to_string();
        }
        Some("SUBSCRIBE") => {
            subscriptions.extend(params);
            Value::Null
        }
        Some("UNSUBSCRIBE") => {
            for p in &params {
                subscriptions.remove(p);
            }
            Value::Null
        }
        Some("LIST_SUBSCRIPTIONS") => json!(subscriptions.iter().collect::<Vec<_>>()),
        Some("SET_PROPERTY") => Value::Null,
        // `combined` is the one property; raw streams are not combined.
        Some("GET_PROPERTY") => Value::Bool(false),
        other => {
            return bad(&format!(
                "unknown variant `{}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`",
                other.unwrap_or("")
            ))
            .to_string();
        }
    };
    json!({ "result": result, "id": id }).to_string()
}

/// The depth feed's book: update ids that follow each other (`U` = previous `u + 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthFeed {
    next_id: i64,
}

impl DepthFeed {
    /// A feed whose first event starts at update id `first`.
    pub fn new(first: i64) -> Self {
        Self { next_id: first }
    }

    /// The next `depthUpdate` at `now_ms` (the event time `E`) around the mid price `mid`,
    /// covering `changes` (at least 1) updates: that many levels, bids first, then asks.
    pub fn update(&mut self, now_ms: i64, mid: f64, changes: usize) -> String {
        let n = changes.max(1);
        let first = self.next_id;
        let last = first + n as i64 - 1;
        self.next_id = last + 1;
        let level = |side: f64, k: usize| {
            let price = mid + side * 0.01 * (k as f64 + 1.0);
            // Now and then a level is removed (quantity 0), as diff. depth says.
            let qty = if fastrand::u8(..) < 16 {
                0.0
            } else {
                fastrand::f64() * 2.0
            };
            json!([format!("{price:.2}"), format!("{qty:.8}")])
        };
        let bids: Vec<Value> = (0..n.div_ceil(2)).map(|k| level(-1.0, k)).collect();
        let asks: Vec<Value> = (0..n / 2).map(|k| level(1.0, k)).collect();
        json!({
            "e": "depthUpdate", "E": now_ms, "s": SYMBOL, "U": first, "u": last,
            "b": bids, "a": asks,
        })
        .to_string()
    }
}

/// The server's pings on one connection and the pongs that answer them.
#[derive(Debug, Default)]
pub struct Heartbeat {
    /// The last ping's payload and when the oldest unanswered ping went out.
    outstanding: Option<(Bytes, Instant)>,
}

impl Heartbeat {
    /// A ping goes out at `now` (its payload: `now_ms`, as text); returns the payload.
    pub fn ping(&mut self, now: Instant, now_ms: i64) -> Bytes {
        let payload = Bytes::from(now_ms.to_string());
        let since = self.outstanding.as_ref().map_or(now, |(_, at)| *at);
        self.outstanding = Some((payload.clone(), since));
        payload
    }

    /// A pong with `payload` arrived: true when it echoes the last ping (which answers every
    /// ping before it too). Unsolicited pongs do not count.
    pub fn pong(&mut self, payload: &[u8]) -> bool {
        let echoes = self
            .outstanding
            .as_ref()
            .is_some_and(|(p, _)| p.as_ref() == payload);
        if echoes {
            self.outstanding = None;
        }
        echoes
    }

    /// True when a ping has gone unanswered for `timeout` at `now`.
    pub fn overdue(&self, now: Instant, timeout: Duration) -> bool {
        self.outstanding
            .as_ref()
            .is_some_and(|(_, at)| now.duration_since(*at) >= timeout)
    }
}

/// The incoming messages of one connection in the last second.
#[derive(Debug, Default)]
pub struct InboundLimit {
    recent: VecDeque<Instant>,
}

impl InboundLimit {
    /// Counts a message at `now`: false when it is one too many for [`INBOUND_PER_SECOND`].
    pub fn admit(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() <= INBOUND_PER_SECOND
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_is_acknowledged_with_its_id_and_listed() {
        let mut subs = BTreeSet::new();
        assert_eq!(
            answer(
                r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}"#,
                &mut subs
            ),
            r#"{"id":1,"result":null}"#
        );
        assert!(subs.contains(DEPTH_STREAM));
        let listed: Value = serde_json::from_str(&answer(
            r#"{"method":"LIST_SUBSCRIPTIONS","id":"a"}"#,
            &mut subs,
        ))
        .unwrap();
        assert_eq!(listed, json!({ "result": [DEPTH_STREAM], "id": "a" }));
        answer(
            r#"{"method":"UNSUBSCRIBE","params":["btcusdt@depth@100ms"],"id":3}"#,
            &mut subs,
        );
        assert!(subs.is_empty());
    }

    #[test]
    fn bad_requests_get_binance_errors_and_change_nothing() {
        let mut subs = BTreeSet::new();
        let v = |t: &str, subs: &mut BTreeSet<String>| -> Value {
            serde_json::from_str(&answer(t, subs)).unwrap()
        };
        let e = v("{nope", &mut subs);
        assert_eq!(e["code"], 3);
        assert!(
            e["msg"].as_str().unwrap().starts_with("Invalid JSON: "),
            "{e}"
        );
        let e = v(r#"{"method":"SUBSCRIBE","params":["x"]}"#, &mut subs);
        assert_eq!(e["code"], 2, "{e}");
        let e = v(r#"{"method":"SUBSCRIBE","params":[1],"id":2}"#, &mut subs);
        assert_eq!((e["code"].clone(), e["id"].clone()), (json!(2), json!(2)));
        let e = v(r#"{"method":"PING","id":4}"#, &mut subs);
        assert!(
            e["msg"]
                .as_str()
                .unwrap()
                .contains("unknown variant `PING`"),
            "{e}"
        );
        assert!(subs.is_empty());
    }

    #[test]
    fn depth_updates_follow_each_other_without_gaps() {
        let mut feed = DepthFeed::new(100);
        let a: Value = serde_json::from_str(&feed.update(1_000, 97_250.0, 3)).unwrap();
        let b: Value = serde_json::from_str(&feed.update(1_100, 97_250.0, 1)).unwrap();
        assert_eq!(a["e"], "depthUpdate");
        assert_eq!(a["s"], SYMBOL);
        assert_eq!(
            (a["E"].as_i64(), a["U"].as_i64(), a["u"].as_i64()),
            (Some(1_000), Some(100), Some(102))
        );
        assert_eq!(b["U"].as_i64(), Some(103), "U = previous u + 1");
        assert_eq!(b["u"].as_i64(), Some(103));
        assert_eq!(
            a["b"].as_array().unwrap().len() + a["a"].as_array().unwrap().len(),
            3
        );
        let bid: f64 = a["b"][0][0].as_str().unwrap().parse().unwrap();
        let ask: f64 = a["a"][0][0].as_str().unwrap().parse().unwrap();
        assert!(bid < 97_250.0 && ask > 97_250.0, "{a}");
    }

    #[test]
    fn a_ping_must_be_answered_by_its_echo_within_the_timeout() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(60);
        let mut h = Heartbeat::default();
        assert!(!h.overdue(t0, timeout));
        let p = h.ping(t0, 1);
        assert!(
            !h.pong(b"unsolicited"),
            "an unsolicited pong does not count"
        );
        assert!(h.overdue(t0 + timeout, timeout));
        // A second ping keeps the first one's deadline until the echo of the last arrives.
        let q = h.ping(t0 + Duration::from_secs(20), 2);
        assert_ne!(p, q);
        assert!(h.overdue(t0 + timeout, timeout));
        assert!(!h.pong(&p), "only the last ping's echo answers");
        assert!(h.pong(&q));
        assert!(!h.overdue(t0 + timeout * 2, timeout));
    }

    #[test]
    fn six_messages_in_a_second_are_one_too_many() {
        let t0 = Instant::now();
        let mut l = InboundLimit::default();
        for k in 0..INBOUND_PER_SECOND as u64 {
            assert!(l.admit(t0 + Duration::from_millis(100 * k)));
        }
        assert!(!l.admit(t0 + Duration::from_millis(900)));
        let mut l = InboundLimit::default();
        for k in 0..20u64 {
            assert!(l.admit(t0 + Duration::from_millis(250 * k)), "4 a second");
        }
    }

    /// What a client read in a while: the JSON texts, the pings (answered when `pong`), and
    /// the close code if the server closed.
    struct Read {
        texts: Vec<Value>,
        pings: usize,
        closed: Option<Option<u16>>,
    }

    type Ws = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

    async fn read(ws: &mut Ws, within: Duration, pong: bool) -> Read {
        use futures_util::{SinkExt, StreamExt};
        let mut r = Read {
            texts: Vec::new(),
            pings: 0,
            closed: None,
        };
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(frame)) = tokio::time::timeout_at(deadline, ws.next()).await {
            match frame.expect("a frame") {
                awc::ws::Frame::Text(t) => r.texts.push(serde_json::from_slice(&t).unwrap()),
                awc::ws::Frame::Ping(p) => {
                    r.pings += 1;
                    if pong {
                        ws.send(awc::ws::Message::Pong(p)).await.unwrap();
                    }
                }
                awc::ws::Frame::Close(reason) => {
                    r.closed = Some(reason.map(|c| u16::from(c.code)));
                    break;
                }
                _ => {}
            }
        }
        r
    }

    fn ids(texts: &[Value]) -> Vec<(i64, i64)> {
        texts
            .iter()
            .filter(|t| t["e"] == "depthUpdate")
            .map(|t| (t["U"].as_i64().unwrap(), t["u"].as_i64().unwrap()))
            .collect()
    }

    async fn connect(sim: &SimStream) -> Ws {
        awc::Client::new()
            .ws(sim.url())
            .connect()
            .await
            .expect("upgrade")
            .1
    }

    #[actix_rt::test]
    async fn a_client_subscribes_and_the_stall_keeps_socket_and_pings_but_no_data() {
        use futures_util::SinkExt;
        let sim = SimStream::start(StreamTiming {
            cadence: Duration::from_millis(20),
            // Every pong counts against the 5 messages a second.
            ping_every: Duration::from_millis(400),
            pong_timeout: Duration::from_secs(5),
            lifetime: Duration::from_secs(3600),
        })
        .unwrap();
        let mut ws = connect(&sim).await;
        // Not subscribed: no data.
        assert!(ids(&read(&mut ws, Duration::from_millis(150), true).await.texts).is_empty());
        ws.send(awc::ws::Message::Text(
            r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":7}"#.into(),
        ))
        .await
        .unwrap();
        let r = read(&mut ws, Duration::from_millis(500), true).await;
        assert_eq!(
            r.texts[0],
            json!({ "result": null, "id": 7 }),
            "the ack first"
        );
        let before = ids(&r.texts);
        assert!(before.len() >= 5, "{} updates", before.len());
        for w in before.windows(2) {
            assert_eq!(w[1].0, w[0].1 + 1, "U = previous u + 1: {w:?}");
        }
        assert!(
            r.pings >= 1 && r.closed.is_none(),
            "{} pings, closed {:?}",
            r.pings,
            r.closed
        );

        sim.set(StreamCondition { stalled: true });
        let drained = ids(&read(&mut ws, Duration::from_millis(100), true).await.texts);
        let last = drained.last().or(before.last()).unwrap().1;
        let stalled = read(&mut ws, Duration::from_millis(900), true).await;
        assert!(ids(&stalled.texts).is_empty(), "no data while stalled");
        assert!(stalled.pings >= 1, "the heartbeat goes on");
        assert!(stalled.closed.is_none(), "the socket stays open");
        // Requests are still answered.
        ws.send(awc::ws::Message::Text(
            r#"{"method":"LIST_SUBSCRIPTIONS","id":8}"#.into(),
        ))
        .await
        .unwrap();
        let listed = read(&mut ws, Duration::from_millis(100), true).await;
        assert_eq!(listed.texts, [json!({ "result": [DEPTH_STREAM], "id": 8 })]);

        sim.set(StreamCondition::default());
        let after = ids(&read(&mut ws, Duration::from_millis(300), true).await.texts);
        assert!(!after.is_empty(), "data again");
        assert_eq!(after[0].0, last + 1, "no update lost to the stall");
        assert!(sim.pongs() >= 3, "echoing pongs counted: {}", sim.pongs());

        // Six messages in a second: closed with 1008.
        for _ in 0..=INBOUND_PER_SECOND {
            ws.send(awc::ws::Message::Ping(Bytes::from_static(b"x")))
                .await
                .unwrap();
        }
        let r = read(&mut ws, Duration::from_secs(1), true).await;
        assert_eq!(r.closed, Some(Some(1008)));
        sim.stop().await;
    }

    #[actix_rt::test]
    async fn a_client_that_never_pongs_is_disconnected_and_stop_closes_the_rest() {
        let sim = SimStream::start(StreamTiming {
            cadence: Duration::from_millis(50),
            ping_every: Duration::from_millis(250),
            pong_timeout: Duration::from_millis(600),
            lifetime: Duration::from_secs(3600),
        })
        .unwrap();
        let mut deaf = connect(&sim).await;
        let r = read(&mut deaf, Duration::from_secs(2), false).await;
        assert!(r.pings >= 2);
        assert_eq!(r.closed, Some(Some(1008)), "no pong within the timeout");
        let mut polite = connect(&sim).await;
        assert!(
            read(&mut polite, Duration::from_millis(500), true)
                .await
                .closed
                .is_none()
        );
        assert_eq!(sim.connections(), 2);
        let stopping =
            actix_rt::spawn(async move { read(&mut polite, Duration::from_secs(2), true).await });
        sim.stop().await;
        assert_eq!(
            stopping.await.unwrap().closed,
            Some(Some(1001)),
            "going away"
        );
    }
}
