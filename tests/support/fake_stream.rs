//! A loopback WebSocket server that speaks the public market-data stream protocol of Binance,
//! Bybit v5 or OKX v5 (see `/work/shared/apis.md` A5), and misbehaves on command: it stalls
//! (keeps the socket and the heartbeats, sends no data), freezes (re-sends the last payload),
//! skips updates, lags (event times in the past), closes with a code (1008), announces a
//! planned cut (Binance `serverShutdown`, OKX's upgrade notice) and closes a little later,
//! sends garbage, binary or oversize frames, refuses the subscription, refuses the upgrade with
//! a status, or never completes the handshake.
//!
//! Several topics share a connection, as with the real venues: a subscribe may carry several
//! (Binance `params`, Bybit and OKX `args`), each topic (a symbol's book) has its own update
//! sequence, and its updates go to the connections subscribed to it. Faults apply to every
//! topic, or to one (`stall_topic`, `refuse_topic`); a subscribe naming a refused topic is
//! refused whole, as a venue refuses a request.
//!
//! Plain threads and blocking sockets: one accept thread, one reader per connection, one
//! generator that sends each topic's update every cadence (topics spread over the cadence) to
//! every connection subscribed to it, one write per connection and turn (so every connection
//! sees the same sequence, as with a real venue).

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// Which venue the fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Venue {
    /// Binance spot: depthUpdate with `E`, `U`, `u`; server ping frames.
    Binance,
    /// Binance USD-M futures: adds `pu`.
    BinanceFutures,
    /// Bybit v5 `orderbook.50`: snapshot then deltas, `ts`, `cts`, `u`, `seq`; `{"op":"ping"}`.
    Bybit,
    /// OKX v5 `books`: snapshot then updates, `ts`, `seqId`/`prevSeqId`; text ping/pong.
    Okx,
}

/// What the upgrade answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upgrade {
    /// 101 Switching Protocols.
    Accept,
    /// This HTTP status instead.
    Status(u16),
    /// Read the request and never answer.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Stall,
    Freeze,
}

/// One topic (a symbol's book): its own sequence and faults.
struct Topic {
    /// The symbol as the venue writes it in frames (`BTCUSDT`, `BTC-USDT`).
    symbol: String,
    mode: Mode,
    /// The next update id (Binance `U`, Bybit `u`, OKX `seqId`).
    id: i64,
    /// Updates to leave out before the next one sent.
    skip: i64,
    last: Option<String>,
    /// When its next update is due.
    next: Instant,
}

struct State {
    /// The mode of every topic (a topic's own `stall_topic` overrides it).
    mode: Mode,
    lag_ms: i64,
    upgrade: Upgrade,
    refuse: bool,
    /// Topics by key (upper case, no separator: `BTCUSDT`).
    topics: BTreeMap<String, Topic>,
    refused: HashSet<String>,
    cadence: Duration,
}

struct Conn {
    id: usize,
    writer: Mutex<TcpStream>,
    subscribed: AtomicBool,
    alive: AtomicBool,
    /// The topic keys it is subscribed to.
    topics: Mutex<HashSet<String>>,
}

struct Shared {
    venue: Venue,
    state: Mutex<State>,
    conns: Mutex<Vec<Arc<Conn>>>,
    stop: AtomicBool,
    connections: AtomicUsize,
    subscribes: AtomicUsize,
    pongs: AtomicUsize,
    app_pings: AtomicUsize,
    unsubscribes: AtomicUsize,
}

/// The fake server; stopped when dropped.
pub struct FakeStream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl FakeStream {
    /// Starts a fake of `venue` pushing an update every `cadence`; Binance fakes send a ping
    /// frame every `ping_every`.
    pub fn start(venue: Venue, cadence: Duration) -> Self {
        Self::start_with(venue, cadence, Duration::from_millis(500))
    }

    /// [`FakeStream::start`] with the server's ping interval (Binance).
    pub fn start_with(venue: Venue, cadence: Duration, ping_every: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let shared = Arc::new(Shared {
            venue,
            state: Mutex::new(State {
                mode: Mode::Normal,
                lag_ms: 0,
                upgrade: Upgrade::Accept,
                refuse: false,
                topics: BTreeMap::new(),
                refused: HashSet::new(),
                cadence,
            }),
            conns: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            subscribes: AtomicUsize::new(0),
            pongs: AtomicUsize::new(0),
            app_pings: AtomicUsize::new(0),
            unsubscribes: AtomicUsize::new(0),
        });
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("fake-stream-accept".into())
            .spawn(move || {
                let mut next = 0;
                while !s.stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            next += 1;
                            let s = s.clone();
                            let id = next;
                            let _ = std::thread::Builder::new()
                                .name(format!("fake-stream-conn-{id}"))
                                .spawn(move || serve(&s, stream, id));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
            .expect("accept thread");
        let s = shared.clone();
        let generator = std::thread::Builder::new()
            .name("fake-stream-gen".into())
            .spawn(move || generate(&s, ping_every))
            .expect("generator thread");
        Self {
            addr,
            shared,
            threads: vec![accept, generator],
        }
    }

    /// `ws://127.0.0.1:<port>/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    fn set_mode(&self, mode: Mode) {
        let mut st = self.shared.state.lock();
        st.mode = mode;
        for t in st.topics.values_mut() {
            t.mode = mode;
        }
    }

    /// Stops sending data on every topic (heartbeats go on).
    pub fn stall(&self) {
        self.set_mode(Mode::Stall);
    }

    /// Re-sends each topic's last payload, unchanged, every cadence.
    pub fn freeze(&self) {
        self.set_mode(Mode::Freeze);
    }

    /// Back to normal updates on every topic.
    pub fn resume(&self) {
        self.set_mode(Mode::Normal);
    }

    /// Stops sending data on the topic of `symbol` (`BTC/USDT`) only.
    pub fn stall_topic(&self, symbol: &str) {
        let key = topic_key(symbol);
        if let Some(t) = self.shared.state.lock().topics.get_mut(&key) {
            t.mode = Mode::Stall;
        }
    }

    /// Back to normal updates on the topic of `symbol`.
    pub fn resume_topic(&self, symbol: &str) {
        let key = topic_key(symbol);
        if let Some(t) = self.shared.state.lock().topics.get_mut(&key) {
            t.mode = Mode::Normal;
        }
    }

    /// Refuses (or accepts again) any subscribe naming the topic of `symbol`.
    pub fn refuse_topic(&self, symbol: &str, refuse: bool) {
        let key = topic_key(symbol);
        let mut st = self.shared.state.lock();
        if refuse {
            st.refused.insert(key);
        } else {
            st.refused.remove(&key);
        }
    }

    /// Leaves out the next `n` updates of every topic.
    pub fn skip(&self, n: i64) {
        for t in self.shared.state.lock().topics.values_mut() {
            t.skip += n;
        }
    }

    /// Event times `ms` in the past from now on.
    pub fn lag(&self, ms: i64) {
        self.shared.state.lock().lag_ms = ms;
    }

    /// How the upgrade is answered from now on.
    pub fn set_upgrade(&self, u: Upgrade) {
        self.shared.state.lock().upgrade = u;
    }

    /// Refuses subscriptions from now on (or accepts them again).
    pub fn refuse_subscribe(&self, refuse: bool) {
        self.shared.state.lock().refuse = refuse;
    }

    /// Closes every connection with `code`.
    pub fn close_all(&self, code: u16) {
        for c in self.shared.conns.lock().drain(..) {
            close(&c, code);
        }
    }

    /// A planned cut: the venue's notice (Binance `serverShutdown`, OKX `notice`) on every
    /// connection open now, which are closed (1001) after `grace`.
    pub fn shutdown(&self, grace: Duration) {
        let notice = match self.shared.venue {
            Venue::Binance | Venue::BinanceFutures => {
                format!(r#"{{"e":"serverShutdown","E":{}}}"#, now_ms())
            }
            Venue::Okx => r#"{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect."}"#.to_owned(),
            Venue::Bybit => String::new(),
        };
        let old: Vec<Arc<Conn>> = self.shared.conns.lock().clone();
        for c in &old {
            if !notice.is_empty() {
                write_frame(c, 0x1, notice.as_bytes());
            }
        }
        let shared = self.shared.clone();
        std::thread::spawn(move || {
            std::thread::sleep(grace);
            for c in &old {
                close(c, 1001);
            }
            shared
                .conns
                .lock()
                .retain(|c| !old.iter().any(|o| o.id == c.id));
        });
    }

    /// Sends `text` as a text frame on every subscribed connection.
    pub fn send_text(&self, text: &str) {
        broadcast(&self.shared, text.as_bytes());
    }

    /// Sends a binary frame on every connection.
    pub fn send_binary(&self, bytes: &[u8]) {
        for c in self.shared.conns.lock().iter() {
            write_frame(c, 0x2, bytes);
        }
    }

    /// Sends a text frame of `len` bytes (JSON-ish padding) on every connection.
    pub fn send_oversize(&self, len: usize) {
        let mut body = vec![b' '; len];
        body[0] = b'{';
        body[len - 1] = b'}';
        for c in self.shared.conns.lock().iter() {
            write_frame(c, 0x1, &body);
        }
    }

    /// Connections accepted (upgrades attempted).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Subscriptions received.
    pub fn subscribes(&self) -> usize {
        self.shared.subscribes.load(Ordering::Relaxed)
    }

    /// Unsubscribe requests received.
    pub fn unsubscribes(&self) -> usize {
        self.shared.unsubscribes.load(Ordering::Relaxed)
    }

    /// Pong frames received (answers to the server's pings).
    pub fn pongs(&self) -> usize {
        self.shared.pongs.load(Ordering::Relaxed)
    }

    /// Application-level pings received (Bybit `{"op":"ping"}`, OKX `ping`).
    pub fn app_pings(&self) -> usize {
        self.shared.app_pings.load(Ordering::Relaxed)
    }

    /// Topic subscriptions held by the connections open now (a topic on two connections
    /// counts twice).
    pub fn subscribed_topics(&self) -> usize {
        (self.shared.conns.lock().iter())
            .filter(|c| c.alive.load(Ordering::Relaxed))
            .map(|c| c.topics.lock().len())
            .sum()
    }

    /// Connections open and subscribed now.
    pub fn open(&self) -> usize {
        (self.shared.conns.lock().iter())
            .filter(|c| c.alive.load(Ordering::Relaxed) && c.subscribed.load(Ordering::Relaxed))
            .count()
    }
}

impl Drop for FakeStream {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for c in self.shared.conns.lock().drain(..) {
            let _ = c.writer.lock().shutdown(Shutdown::Both);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The generator: every topic's update when due, to the connections subscribed to it, and
/// Binance's ping frames.
fn generate(s: &Shared, ping_every: Duration) {
    let mut last_ping = Instant::now();
    let mut out: Vec<(Arc<Conn>, Vec<u8>)> = Vec::new();
    while !s.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
        if matches!(s.venue, Venue::Binance | Venue::BinanceFutures)
            && last_ping.elapsed() >= ping_every
        {
            last_ping = Instant::now();
            for c in s.conns.lock().iter() {
                write_frame(c, 0x9, b"hb");
            }
        }
        let now = Instant::now();
        let conns: Vec<Arc<Conn>> = s.conns.lock().clone();
        out.clear();
        out.extend(conns.iter().map(|c| (c.clone(), Vec::new())));
        // The state lock is held while the updates are written: a subscribe (which takes it)
        // falls between two updates, so the sequence is continuous for its connection.
        let mut st = s.state.lock();
        let (cadence, lag_ms) = (st.cadence, st.lag_ms);
        let subscribed: Vec<_> = conns.iter().map(|c| c.topics.lock()).collect();
        for (key, t) in st.topics.iter_mut() {
            if now < t.next {
                continue;
            }
            t.next += cadence;
            if t.next < now {
                t.next = now + cadence;
            }
            let payload = match t.mode {
                Mode::Stall => None,
                Mode::Freeze => t.last.clone(),
                Mode::Normal => {
                    let p = update(s.venue, t, lag_ms);
                    t.last = Some(p.clone());
                    Some(p)
                }
            };
            let Some(p) = payload else {
                continue;
            };
            for (k, (_, buf)) in out.iter_mut().enumerate() {
                if subscribed[k].contains(key) {
                    push_frame(buf, 0x1, p.as_bytes());
                }
            }
        }
        drop(subscribed);
        for (c, buf) in &out {
            if !buf.is_empty() {
                write_raw(c, buf);
            }
        }
        drop(st);
    }
}

/// The key of a topic, however it is spelled (`BTC/USDT`, `btcusdt@depth@100ms`,
/// `orderbook.50.BTCUSDT`, `BTC-USDT`).
fn topic_key(name: &str) -> String {
    let name = name.split('@').next().unwrap_or(name);
    let name = name.rsplit('.').next().unwrap_or(name);
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_uppercase()
}

/// The next update of a topic's book (its id advances).
fn update(venue: Venue, t: &mut Topic, lag_ms: i64) -> String {
    t.id += 2 * std::mem::take(&mut t.skip);
    let (first, last) = (t.id, t.id + 1);
    let prev = t.id - 1;
    t.id += 2;
    let ts = now_ms() - lag_ms;
    let sym = &t.symbol;
    match venue {
        Venue::Binance => format!(
            r#"{{"e":"depthUpdate","E":{ts},"s":"{sym}","U":{first},"u":{last},"b":[["65000.10","0.5"]],"a":[["65000.20","1.2"]]}}"#
        ),
        Venue::BinanceFutures => format!(
            r#"{{"e":"depthUpdate","E":{ts},"T":{ts},"s":"{sym}","U":{first},"u":{last},"pu":{prev},"b":[["65000.10","0.5"]],"a":[]}}"#
        ),
        Venue::Bybit => format!(
            r#"{{"topic":"orderbook.50.{sym}","type":"delta","ts":{ts},"data":{{"s":"{sym}","b":[["65000.1","0.5"]],"a":[],"u":{last},"seq":{last}}},"cts":{ts}}}"#
        ),
        Venue::Okx => format!(
            r#"{{"arg":{{"channel":"books","instId":"{sym}"}},"action":"update","data":[{{"asks":[["65000.2","1.2","0","3"]],"bids":[],"ts":"{ts}","checksum":0,"seqId":{last},"prevSeqId":{prev}}}]}}"#
        ),
    }
}

/// The snapshot a new subscription of a topic starts with (Bybit, OKX), at its current id.
fn snapshot(venue: Venue, t: &Topic, lag_ms: i64) -> Option<String> {
    let ts = now_ms() - lag_ms;
    let u = t.id - 1;
    let sym = &t.symbol;
    match venue {
        Venue::Bybit => Some(format!(
            r#"{{"topic":"orderbook.50.{sym}","type":"snapshot","ts":{ts},"data":{{"s":"{sym}","b":[["65000.1","0.5"]],"a":[["65000.2","1"]],"u":{u},"seq":{u}}},"cts":{ts}}}"#
        )),
        Venue::Okx => Some(format!(
            r#"{{"arg":{{"channel":"books","instId":"{sym}"}},"action":"snapshot","data":[{{"asks":[["65000.2","1.2","0","3"]],"bids":[["65000.1","1","0","1"]],"ts":"{ts}","checksum":0,"seqId":{u},"prevSeqId":-1}}]}}"#
        )),
        Venue::Binance | Venue::BinanceFutures => None,
    }
}

fn broadcast(s: &Shared, payload: &[u8]) {
    for c in s.conns.lock().iter() {
        if c.subscribed.load(Ordering::Relaxed) {
            write_frame(c, 0x1, payload);
        }
    }
}

fn write_frame(c: &Conn, opcode: u8, payload: &[u8]) {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    push_frame(&mut frame, opcode, payload);
    write_raw(c, &frame);
}

/// Writes encoded frames to `c`.
fn write_raw(c: &Conn, bytes: &[u8]) {
    if !c.alive.load(Ordering::Relaxed) {
        return;
    }
    if c.writer.lock().write_all(bytes).is_err() {
        c.alive.store(false, Ordering::Relaxed);
    }
}

/// Appends one unmasked server frame to `frame`.
fn push_frame(frame: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    frame.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= 0xFFFF => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
}

fn close(c: &Conn, code: u16) {
    write_frame(c, 0x8, &code.to_be_bytes());
    c.alive.store(false, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(20));
    let _ = c.writer.lock().shutdown(Shutdown::Both);
}

/// One connection: the upgrade, then the client's frames.
fn serve(s: &Arc<Shared>, stream: TcpStream, id: usize) {
    s.connections.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut key = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case("sec-websocket-key")
        {
            key = Some(v.trim().to_owned());
        }
    }
    let upgrade = s.state.lock().upgrade;
    let mut w = stream;
    match upgrade {
        Upgrade::Never => {
            while !s.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        Upgrade::Status(code) => {
            let _ = write!(
                w,
                "HTTP/1.1 {code} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            return;
        }
        Upgrade::Accept => {}
    }
    let accept = actix_http::ws::hash_key(key.unwrap_or_default().as_bytes());
    let accept = std::str::from_utf8(&accept).unwrap_or_default().to_owned();
    if write!(
        w,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .is_err()
    {
        return;
    }
    let conn = Arc::new(Conn {
        id,
        writer: Mutex::new(w),
        subscribed: AtomicBool::new(false),
        alive: AtomicBool::new(true),
        topics: Mutex::new(HashSet::new()),
    });
    s.conns.lock().push(conn.clone());
    while let Some((opcode, payload)) = read_frame(&mut reader) {
        match opcode {
            0x1 => on_text(s, &conn, &String::from_utf8_lossy(&payload)),
            0x8 => {
                write_frame(&conn, 0x8, &payload);
                break;
            }
            0x9 => write_frame(&conn, 0xA, &payload),
            0xA => {
                s.pongs.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        if s.stop.load(Ordering::Relaxed) {
            break;
        }
    }
    conn.alive.store(false, Ordering::Relaxed);
    s.conns.lock().retain(|c| c.id != id);
}

/// One client frame (masked), unmasked; `None` at the end of the connection.
fn read_frame(r: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h).ok()?;
    let opcode = h[0] & 0x0F;
    let masked = h[1] & 0x80 != 0;
    let len = match h[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).ok()?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).ok()?;
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    if len > 1 << 20 {
        return None;
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Some((opcode, payload))
}

/// A text frame from the client: a subscribe, or the venue's ping.
fn on_text(s: &Shared, c: &Conn, text: &str) {
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            if text == "ping" && s.venue == Venue::Okx {
                s.app_pings.fetch_add(1, Ordering::Relaxed);
                write_frame(c, 0x1, b"pong");
            }
            return;
        }
    };
    let subscribe = v["method"] == "SUBSCRIBE" || v["op"] == "subscribe";
    if v["op"] == "ping" {
        s.app_pings.fetch_add(1, Ordering::Relaxed);
        write_frame(
            c,
            0x1,
            br#"{"success":true,"ret_msg":"pong","conn_id":"fake","op":"ping"}"#,
        );
        return;
    }
    let unsubscribe = v["method"] == "UNSUBSCRIBE" || v["op"] == "unsubscribe";
    if !subscribe && !unsubscribe {
        return;
    }
    // The topics asked for, as written (Binance `params`, Bybit `args`, OKX `args[].instId`).
    let names: Vec<String> = if s.venue == Venue::Okx {
        (v["args"].as_array().into_iter().flatten())
            .filter_map(|a| a["instId"].as_str().map(str::to_owned))
            .collect()
    } else {
        let list = if v["params"].is_array() {
            &v["params"]
        } else {
            &v["args"]
        };
        (list.as_array().into_iter().flatten())
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect()
    };
    if unsubscribe {
        s.unsubscribes.fetch_add(1, Ordering::Relaxed);
        let _st = s.state.lock();
        let mut topics = c.topics.lock();
        for n in &names {
            topics.remove(&topic_key(n));
        }
        let reply = match s.venue {
            Venue::Binance | Venue::BinanceFutures => {
                format!(r#"{{"result":null,"id":{}}}"#, v["id"])
            }
            Venue::Bybit => format!(
                r#"{{"success":true,"ret_msg":"","op":"unsubscribe","conn_id":"fake","req_id":"{}"}}"#,
                v["req_id"].as_str().unwrap_or("")
            ),
            Venue::Okx => r#"{"event":"unsubscribe","connId":"fake"}"#.to_owned(),
        };
        write_frame(c, 0x1, reply.as_bytes());
        return;
    }
    s.subscribes.fetch_add(1, Ordering::Relaxed);
    // The generator holds the state lock while it writes: the snapshot and the subscription
    // fall between two updates, so the sequence is continuous for this connection.
    let mut st = s.state.lock();
    let refuse = st.refuse || names.iter().any(|n| st.refused.contains(&topic_key(n)));
    let req_id = v["req_id"].as_str().unwrap_or("").to_owned();
    let reply = match (s.venue, refuse) {
        (Venue::Binance | Venue::BinanceFutures, false) => {
            format!(r#"{{"result":null,"id":{}}}"#, v["id"])
        }
        (Venue::Binance | Venue::BinanceFutures, true) => format!(
            r#"{{"code":2,"msg":"Invalid request: unknown stream","id":{}}}"#,
            v["id"]
        ),
        (Venue::Bybit, false) => format!(
            r#"{{"success":true,"ret_msg":"","op":"subscribe","conn_id":"fake","req_id":"{req_id}"}}"#
        ),
        (Venue::Bybit, true) => format!(
            r#"{{"success":false,"ret_msg":"error:handler not found","op":"subscribe","conn_id":"fake","req_id":"{req_id}"}}"#
        ),
        // OKX answers each topic of a request.
        (Venue::Okx, false) => names
            .iter()
            .map(|n| {
                format!(
                    r#"{{"event":"subscribe","arg":{{"channel":"books","instId":"{n}"}},"connId":"fake"}}"#
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        (Venue::Okx, true) => {
            r#"{"event":"error","code":"60012","msg":"Invalid request","connId":"fake"}"#.to_owned()
        }
    };
    for r in reply.split('\n') {
        write_frame(c, 0x1, r.as_bytes());
    }
    if refuse {
        return;
    }
    let (cadence, lag_ms) = (st.cadence, st.lag_ms);
    let mode = st.mode;
    for name in &names {
        let key = topic_key(name);
        let n = st.topics.len() as u32;
        let symbol = match s.venue {
            Venue::Okx => name.to_ascii_uppercase(),
            _ => key.clone(),
        };
        let t = st.topics.entry(key.clone()).or_insert_with(|| Topic {
            symbol,
            mode,
            id: 1000,
            skip: 0,
            last: None,
            // Topics spread over the cadence, as a venue's books change at their own times.
            next: Instant::now() + cadence.mul_f64(f64::from(n % 10) / 10.0),
        });
        if let Some(snap) = snapshot(s.venue, t, lag_ms) {
            write_frame(c, 0x1, snap.as_bytes());
        }
        c.topics.lock().insert(key);
    }
    c.subscribed.store(true, Ordering::Relaxed);
}
