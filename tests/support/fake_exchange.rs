//! A fake exchange on loopback that speaks enough Binance, Bybit and OKX (see
//! `/work/shared/apis.md` Part A) to be probed, and misbehaves on demand.
//!
//! | path | venue | answer in [`Mode::Normal`] |
//! |---|---|---|
//! | `/api/v3/ping` | Binance | `{}` |
//! | `/api/v3/time` | Binance | `{"serverTime":<now ms>}` |
//! | `/api/v3/ticker/price` | Binance | `{"symbol":"BTCUSDT","price":"<price>"}` |
//! | `/sapi/v1/system/status` | Binance | `{"status":0,"msg":"normal"}` |
//! | `/v5/market/time` | Bybit | envelope with `timeSecond`, `timeNano`, `time` |
//! | `/v5/market/tickers` | Bybit | envelope with `result.list[0].lastPrice` |
//! | `/v5/system/status` | Bybit | envelope with `result.list` of events |
//! | `/api/v5/public/time` | OKX | `{"code":"0","msg":"","data":[{"ts":"<now ms>"}]}` |
//! | `/api/v5/market/ticker` | OKX | `data[0].last` |
//! | `/api/v5/system/status` | OKX | `data` of events |
//! | `/health` and anything else | plain | `{"status":"ok"}` (unknown venue paths: 404) |

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::json;

use super::{ServerThread, kill_connection};

/// The price every venue quotes until told otherwise.
pub const DEFAULT_PRICE: f64 = 20533.13;

/// How the fake answers. Set with [`FakeExchange::set_mode`] (all paths) or
/// [`FakeExchange::set_mode_for`] (one path), at any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The venue's documented answer.
    Normal,
    /// The normal answer, after a delay.
    Delay(Duration),
    /// This status with the venue's error body (Binance `{"code":-1008,…}`, Bybit
    /// `retCode 10016` — or `access too frequent` for 403 —, OKX `code "50001"`).
    Status(u16),
    /// 429 with `Retry-After` and the venue's rate-limit body; Binance adds
    /// `X-MBX-USED-WEIGHT-1M`.
    RateLimited {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// 418 (Binance's IP ban) with `Retry-After`.
    Ban {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// HTTP 200 with an error in the envelope: Bybit `retCode 10016`, OKX `code "50001"`,
    /// Binance `{"code":-1000,…}` (not something Binance documents), plain `{"status":"error"}`.
    EnvelopeError,
    /// HTTP 200 with a truncated JSON body: `{"serverTi`.
    Malformed,
    /// HTTP 200 with a streamed (chunked) body of exactly this many bytes.
    Huge(usize),
    /// Never answers (sleeps an hour).
    Stall,
    /// Closes the connection without any response.
    Reset,
    /// The normal answer with the server clock off by this many ms.
    ClockSkew(i64),
}

/// Which exchange a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    /// `/api/v3/…`, `/sapi/…`
    Binance,
    /// `/v5/…`
    Bybit,
    /// `/api/v5/…`
    Okx,
    /// Anything else.
    Plain,
}

impl Venue {
    /// The venue a request path belongs to.
    pub fn of(path: &str) -> Venue {
        if path.starts_with("/api/v5/") {
            Venue::Okx
        } else if path.starts_with("/api/v3/") || path.starts_with("/sapi/") {
            Venue::Binance
        } else if path.starts_with("/v5/") {
            Venue::Bybit
        } else {
            Venue::Plain
        }
    }
}

/// The shared, mutable state of a [`FakeExchange`].
#[derive(Debug)]
pub struct ExchangeState {
    /// The mode of every path without its own.
    pub mode: Mode,
    /// Modes of single paths (override `mode`).
    pub path_modes: HashMap<String, Mode>,
    /// Modes used once each, in order, by the next requests (before any other mode).
    pub queued: VecDeque<Mode>,
    /// Last price quoted by each venue's ticker.
    pub prices: HashMap<Venue, f64>,
    /// Whether the status endpoints report maintenance in progress.
    pub maintenance: bool,
    /// Arrival instants of the requests, per path (query string excluded).
    pub arrivals: HashMap<String, Vec<Instant>>,
}

impl ExchangeState {
    fn new() -> Self {
        Self {
            mode: Mode::Normal,
            path_modes: HashMap::new(),
            queued: VecDeque::new(),
            prices: HashMap::new(),
            maintenance: false,
            arrivals: HashMap::new(),
        }
    }

    fn price(&self, venue: Venue) -> f64 {
        self.prices.get(&venue).copied().unwrap_or(DEFAULT_PRICE)
    }
}

/// A running fake exchange; stops when dropped.
pub struct FakeExchange {
    server: ServerThread,
    /// The state the server reads and writes; the methods below are shortcuts.
    pub state: Arc<Mutex<ExchangeState>>,
}

impl FakeExchange {
    /// Starts a fake exchange on `127.0.0.1:0` in its own thread and `System`.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(ExchangeState::new()));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("exchange", move |cfg| {
            cfg.app_data(data.clone()).default_service(web::to(handle));
        });
        Self { server, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The base URL followed by `path_and_query` (which starts with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base_url(), path_and_query)
    }

    /// Sets the mode of every path (path modes still win).
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().mode = mode;
    }

    /// Sets the mode of one path.
    pub fn set_mode_for(&self, path: &str, mode: Mode) {
        self.state.lock().path_modes.insert(path.to_owned(), mode);
    }

    /// Forgets every path mode.
    pub fn clear_path_modes(&self) {
        self.state.lock().path_modes.clear();
    }

    /// Queues modes used once each by the next requests, whatever their path.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = Mode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Sets the last price a venue's ticker quotes.
    pub fn set_price(&self, venue: Venue, price: f64) {
        self.state.lock().prices.insert(venue, price);
    }

    /// Makes the status endpoints report maintenance in progress (or not).
    pub fn set_maintenance(&self, on: bool) {
        self.state.lock().maintenance = on;
    }

    /// Requests received for `path` (without query string), whatever was answered.
    pub fn requests(&self, path: &str) -> usize {
        self.state.lock().arrivals.get(path).map_or(0, Vec::len)
    }

    /// Requests received on all paths.
    pub fn total_requests(&self) -> usize {
        self.state.lock().arrivals.values().map(Vec::len).sum()
    }

    /// Arrival instants of the requests for `path`, in order.
    pub fn arrivals(&self, path: &str) -> Vec<Instant> {
        self.state
            .lock()
            .arrivals
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// Forgets every recorded request.
    pub fn reset_counts(&self) {
        self.state.lock().arrivals.clear();
    }
}

/// What a handler needs from the state, read under the lock once.
struct Snapshot {
    mode: Mode,
    price: f64,
    maintenance: bool,
}

async fn handle(req: HttpRequest, state: web::Data<Mutex<ExchangeState>>) -> HttpResponse {
    let path = req.path().to_owned();
    let venue = Venue::of(&path);
    let snap = {
        let mut s = state.lock();
        s.arrivals
            .entry(path.clone())
            .or_default()
            .push(Instant::now());
        let mode = match s.queued.pop_front() {
            Some(m) => m,
            None => s.path_modes.get(&path).copied().unwrap_or(s.mode),
        };
        Snapshot {
            mode,
            price: s.price(venue),
            maintenance: s.maintenance,
        }
    };
    match snap.mode {
        Mode::Normal => normal(&req, venue, &snap, 0),
        Mode::ClockSkew(ms) => normal(&req, venue, &snap, ms),
        Mode::Delay(d) => {
            actix_web::rt::time::sleep(d).await;
            normal(&req, venue, &snap, 0)
        }
        Mode::Stall => {
            actix_web::rt::time::sleep(Duration::from_secs(3600)).await;
            normal(&req, venue, &snap, 0)
        }
        Mode::Status(code) => error_status(venue, code),
        Mode::RateLimited { retry_after_secs } => rate_limited(venue, 429, retry_after_secs),
        Mode::Ban { retry_after_secs } => rate_limited(venue, 418, retry_after_secs),
        Mode::EnvelopeError => json_response(HttpResponse::Ok(), envelope_error(venue)),
        Mode::Malformed => HttpResponse::Ok()
            .content_type("application/json")
            .body("{\"serverTi"),
        Mode::Huge(n) => huge(n),
        Mode::Reset => {
            kill_connection(&req);
            HttpResponse::Ok().body("this response never arrives")
        }
    }
}

fn now_ms(skew_ms: i64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    now / 1_000_000 + skew_ms
}

fn query(req: &HttpRequest, key: &str) -> Option<String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get(key).cloned())
}

fn json_response(mut b: HttpResponseBuilder, v: serde_json::Value) -> HttpResponse {
    b.content_type("application/json").body(v.to_string())
}

fn binance_headers(b: &mut HttpResponseBuilder, weight: u32) {
    b.insert_header(("X-MBX-USED-WEIGHT-1M", weight.to_string()));
}

fn normal(req: &HttpRequest, venue: Venue, snap: &Snapshot, skew_ms: i64) -> HttpResponse {
    let now = now_ms(skew_ms);
    let price = format!("{:.2}", snap.price);
    let body = match req.path() {
        "/api/v3/ping" => json!({}),
        "/api/v3/time" => json!({ "serverTime": now }),
        "/api/v3/ticker/price" => json!({
            "symbol": query(req, "symbol").unwrap_or_else(|| "BTCUSDT".into()),
            "price": price,
        }),
        "/sapi/v1/system/status" if snap.maintenance => {
            json!({ "status": 1, "msg": "system_maintenance" })
        }
        "/sapi/v1/system/status" => json!({ "status": 0, "msg": "normal" }),
        "/v5/market/time" => bybit_ok(
            now,
            json!({
                "timeSecond": (now / 1000).to_string(),
                "timeNano": (now as i128 * 1_000_000).to_string(),
            }),
        ),
        "/v5/market/tickers" => bybit_ok(
            now,
            json!({
                "category": query(req, "category").unwrap_or_else(|| "spot".into()),
                "list": [{
                    "symbol": query(req, "symbol").unwrap_or_else(|| "BTCUSDT".into()),
                    "bid1Price": price, "ask1Price": price, "lastPrice": price,
                    "volume24h": "11801.27771",
                }],
            }),
        ),
        "/v5/system/status" => {
            let list = if snap.maintenance {
                json!([{
                    "id": "fake-1", "title": "fake maintenance", "state": "ongoing",
                    "begin": (now - 60_000).to_string(), "end": (now + 600_000).to_string(),
                    "href": "", "serviceTypes": [2, 5], "product": [2], "uidSuffix": [],
                    "maintainType": 1, "env": 1,
                }])
            } else {
                json!([])
            };
            bybit_ok(now, json!({ "list": list }))
        }
        "/api/v5/public/time" => okx_ok(json!([{ "ts": now.to_string() }])),
        "/api/v5/market/ticker" => okx_ok(json!([{
            "instType": "SPOT",
            "instId": query(req, "instId").unwrap_or_else(|| "BTC-USDT".into()),
            "last": price, "askPx": price, "bidPx": price, "ts": now.to_string(),
        }])),
        "/api/v5/system/status" => okx_ok(if snap.maintenance {
            json!([{
                "begin": (now - 60_000).to_string(), "end": (now + 600_000).to_string(),
                "href": "", "preOpenBegin": "", "scheDesc": "", "serviceType": "5",
                "state": "ongoing", "maintType": "1", "env": "1", "system": "unified",
                "title": "fake maintenance",
            }])
        } else {
            json!([])
        }),
        _ if venue == Venue::Plain => json!({ "status": "ok" }),
        _ => return error_status(venue, 404),
    };
    let mut b = HttpResponse::Ok();
    if venue == Venue::Binance {
        binance_headers(&mut b, 1);
    }
    json_response(b, body)
}

fn bybit_ok(now: i64, result: serde_json::Value) -> serde_json::Value {
    json!({ "retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now })
}

fn okx_ok(data: serde_json::Value) -> serde_json::Value {
    json!({ "code": "0", "msg": "", "data": data })
}

fn status_builder(code: u16) -> HttpResponseBuilder {
    HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
}

fn error_status(venue: Venue, code: u16) -> HttpResponse {
    let mut b = status_builder(code);
    match venue {
        Venue::Binance => {
            binance_headers(&mut b, 1);
            let (c, msg) = match code {
                404 => (-1100, "Illegal characters found in parameter."),
                400..=499 => (-1121, "Invalid symbol."),
                _ => (
                    -1008,
                    "Server is currently overloaded with other requests. Please try again in a few minutes.",
                ),
            };
            json_response(b, json!({ "code": c, "msg": msg }))
        }
        Venue::Bybit if code == 403 => b.content_type("text/plain").body("access too frequent"),
        Venue::Bybit => json_response(
            b,
            json!({ "retCode": 10016, "retMsg": "Server error", "result": {}, "retExtInfo": {}, "time": now_ms(0) }),
        ),
        Venue::Okx => json_response(
            b,
            json!({ "code": "50001", "msg": "Service temporarily unavailable. Please try again later.", "data": [] }),
        ),
        Venue::Plain => json_response(b, json!({ "status": "error", "code": code })),
    }
}

fn rate_limited(venue: Venue, code: u16, retry_after_secs: u64) -> HttpResponse {
    let mut b = status_builder(code);
    b.insert_header(("Retry-After", retry_after_secs.to_string()));
    let body = match venue {
        Venue::Binance => {
            binance_headers(&mut b, 6001);
            if code == 418 {
                json!({ "code": -1003, "msg": format!("Way too much request weight used; IP banned until {}.", now_ms(0) + retry_after_secs as i64 * 1000) })
            } else {
                json!({ "code": -1003, "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE." })
            }
        }
        Venue::Bybit => {
            json!({ "retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": now_ms(0) })
        }
        Venue::Okx => json!({ "code": "50011", "msg": "Too Many Requests", "data": [] }),
        Venue::Plain => json!({ "status": "rate limited" }),
    };
    json_response(b, body)
}

fn envelope_error(venue: Venue) -> serde_json::Value {
    match venue {
        Venue::Binance => {
            json!({ "code": -1000, "msg": "An unknown error occurred while processing the request." })
        }
        Venue::Bybit => {
            json!({ "retCode": 10016, "retMsg": "Server error", "result": {}, "retExtInfo": {}, "time": now_ms(0) })
        }
        Venue::Okx => {
            json!({ "code": "50001", "msg": "Service temporarily unavailable. Please try again later.", "data": [] })
        }
        Venue::Plain => json!({ "status": "error" }),
    }
}

fn huge(n: usize) -> HttpResponse {
    const CHUNK: usize = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let chunks = (0..n.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(n - i * CHUNK);
        Ok::<_, std::convert::Infallible>(chunk.slice(..len))
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(futures_util::stream::iter(chunks))
}
