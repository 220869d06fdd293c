//! A simulated exchange on loopback: one actix-web server per venue on `127.0.0.1:0` that
//! answers the venue's public endpoints with the real answer shapes (`/work/shared/apis.md`
//! Part A) and misbehaves as its current [`Condition`] says.
//!
//! It owns its server and its condition, nothing else; the story sets the condition at any
//! time with [`SimExchange::set`].
//!
//! | venue | paths |
//! |---|---|
//! | Binance | `/api/v3/ping` → `{}`, `/api/v3/time` → `serverTime`, `/api/v3/ticker/price` → `price`, `/sapi/v1/system/status` → `status`/`msg`; errors `{"code":-1xxx,"msg":…}` with 4xx/5xx, 429 with `Retry-After` |
//! | Bybit | `/v5/market/time`, `/v5/market/tickers`, `/v5/system/status` in the `retCode`/`retMsg`/`result` envelope; 503 with `retCode` 10016; 429 with `retCode` 10006 |
//! | OKX | `/api/v5/public/time`, `/api/v5/market/ticker`, `/api/v5/system/status` in the `code`/`msg`/`data` envelope; 503 with `code` 50001; 429 with `code` 50011 |
//!
//! Every answer takes a few milliseconds of random jitter (a real network is never flat, and
//! the latency detectors need a baseline with some spread) plus the condition's delay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, web};
use parking_lot::Mutex;
use serde_json::{Value, json};

/// The BTC/USDT price every venue quotes around, before any drift.
pub const BASE_PRICE: f64 = 97_250.0;

/// Which exchange a simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    /// Binance Spot (`/api/v3/…`, `/sapi/v1/system/status`).
    Binance,
    /// Bybit v5 (`/v5/…`).
    Bybit,
    /// OKX v5 (`/api/v5/…`).
    Okx,
}

impl Venue {
    /// The three venues, in the order the demo lists them.
    pub const ALL: [Venue; 3] = [Venue::Binance, Venue::Bybit, Venue::Okx];

    /// The exchange's name in exwatch's settings and alerts.
    pub fn name(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Bybit => "bybit",
            Venue::Okx => "okx",
        }
    }
}

/// How a simulator fails, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Failure {
    /// The venue's documented answers.
    #[default]
    None,
    /// This HTTP status with the venue's error body, on every path.
    Status(u16),
    /// HTTP 429 with `Retry-After` (fractional seconds) and the venue's rate-limit body.
    RateLimited {
        /// The wait the venue asks for.
        retry_after: Duration,
    },
}

/// An announced maintenance window, as the status endpoint reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Maintenance {
    /// When it began.
    pub begin: SystemTime,
    /// When the venue says it ends.
    pub end: SystemTime,
    /// True while it is in progress (`ongoing`); false once it is over (`completed`).
    pub ongoing: bool,
}

/// What a simulator does right now.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Condition {
    /// Extra time before every answer.
    pub delay: Duration,
    /// How it fails.
    pub failure: Failure,
    /// Its BTC/USDT price's distance from everyone else's, in basis points.
    pub price_offset_bps: f64,
    /// The maintenance window its status endpoint announces, if any.
    pub maintenance: Option<Maintenance>,
}

/// One simulated exchange, serving on loopback until [`SimExchange::stop`].
pub struct SimExchange {
    venue: Venue,
    base_url: String,
    condition: Arc<Mutex<Condition>>,
    handle: ServerHandle,
}

impl SimExchange {
    /// Starts `venue`'s simulator on `127.0.0.1:0` inside the running actix System.
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub fn start(venue: Venue) -> std::io::Result<Self> {
        let condition = Arc::new(Mutex::new(Condition::default()));
        let data = web::Data::new(SimState {
            venue,
            condition: condition.clone(),
        });
        let (addr, handle) = super::serve::on_loopback(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(answer))
        })?;
        Ok(Self {
            venue,
            base_url: format!("http://{addr}"),
            condition,
            handle,
        })
    }

    /// The venue it plays.
    pub fn venue(&self) -> Venue {
        self.venue
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Its current condition.
    pub fn condition(&self) -> Condition {
        *self.condition.lock()
    }

    /// Changes how it answers from the next request on.
    pub fn set(&self, condition: Condition) {
        *self.condition.lock() = condition;
    }

    /// Stops serving and closes its port (requests in flight get at most a second).
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

struct SimState {
    venue: Venue,
    condition: Arc<Mutex<Condition>>,
}

async fn answer(req: HttpRequest, state: web::Data<SimState>) -> HttpResponse {
    let condition = *state.condition.lock();
    let jitter = Duration::from_micros(fastrand::u64(1_000..6_000));
    actix_rt::time::sleep(jitter + condition.delay).await;
    let venue = state.venue;
    match condition.failure {
        Failure::Status(code) => return error(venue, code),
        Failure::RateLimited { retry_after } => return rate_limited(venue, retry_after),
        _ => {}
    }
    let now = now_ms();
    // Every venue shares the same slow wander of the mid price, plus a basis point of noise.
    let mid = mid_price(now);
    let noise = (fastrand::f64() - 0.5) * 1e-4;
    let price = format!(
        "{:.2}",
        mid * (1.0 + condition.price_offset_bps / 10_000.0 + noise)
    );
    let body = match (venue, req.path()) {
        (Venue::Binance, "/api/v3/ping") => json!({}),
        (Venue::Binance, "/api/v3/time") => json!({ "serverTime": now }),
        (Venue::Binance, "/api/v3/ticker/price") => json!({
            "symbol": query(&req, "symbol").unwrap_or_else(|| "BTCUSDT".into()),
            "price": price,
        }),
        (Venue::Binance, "/sapi/v1/system/status") => match condition.maintenance {
            Some(m) if m.ongoing => json!({ "status": 1, "msg": "system_maintenance" }),
            _ => json!({ "status": 0, "msg": "normal" }),
        },
        (Venue::Bybit, "/v5/market/time") => bybit_ok(
            now,
            json!({
                "timeSecond": (now / 1000).to_string(),
                "timeNano": (i128::from(now) * 1_000_000).to_string(),
            }),
        ),
        (Venue::Bybit, "/v5/market/tickers") => bybit_ok(
            now,
            json!({
                "category": query(&req, "category").unwrap_or_else(|| "spot".into()),
                "list": [{
                    "symbol": query(&req, "symbol").unwrap_or_else(|| "BTCUSDT".into()),
                    "bid1Price": price, "bid1Size": "1.2", "ask1Price": price, "ask1Size": "0.8",
                    "lastPrice": price, "volume24h": "11801.27771",
                }],
            }),
        ),
        (Venue::Bybit, "/v5/system/status") => {
            let list: Vec<Value> = condition
                .maintenance
                .map(|m| {
                    json!({
                        "id": "4d95b2a0-587f-11f0-bcc9-56f28c94d6ea",
                        "title": "Spot trading system upgrade",
                        "state": if m.ongoing { "ongoing" } else { "completed" },
                        "begin": ms(m.begin).to_string(), "end": ms(m.end).to_string(),
                        "href": "", "serviceTypes": [2, 3, 5], "product": [2],
                        "uidSuffix": [], "maintainType": 1, "env": 1,
                    })
                })
                .into_iter()
                .collect();
            bybit_ok(now, json!({ "list": list }))
        }
        (Venue::Okx, "/api/v5/public/time") => okx_ok(json!([{ "ts": now.to_string() }])),
        (Venue::Okx, "/api/v5/market/ticker") => okx_ok(json!([{
            "instType": "SPOT",
            "instId": query(&req, "instId").unwrap_or_else(|| "BTC-USDT".into()),
            "last": price, "lastSz": "0.01", "askPx": price, "bidPx": price,
            "ts": now.to_string(),
        }])),
        (Venue::Okx, "/api/v5/system/status") => {
            let data: Vec<Value> = condition
                .maintenance
                .map(|m| {
                    json!({
                        "begin": ms(m.begin).to_string(), "end": ms(m.end).to_string(),
                        "href": "", "preOpenBegin": "", "scheDesc": "", "serviceType": "5",
                        "state": if m.ongoing { "ongoing" } else { "completed" },
                        "maintType": "1", "env": "1", "system": "unified",
                        "title": "Spot trading system upgrade",
                    })
                })
                .into_iter()
                .collect();
            okx_ok(json!(data))
        }
        _ => return error(venue, 404),
    };
    let mut b = HttpResponse::Ok();
    if venue == Venue::Binance {
        b.insert_header(("X-MBX-USED-WEIGHT-1M", "3"));
    }
    b.content_type("application/json").body(body.to_string())
}

/// The BTC/USDT mid price every venue wanders around at `now_ms` (ms since the epoch): a slow
/// ±2 bps swing around [`BASE_PRICE`], the same for every simulator (the REST tickers and the
/// depth stream's book).
pub fn mid_price(now_ms: i64) -> f64 {
    BASE_PRICE * (1.0 + 0.0002 * ((now_ms / 7_000) as f64).sin())
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    ms(SystemTime::now())
}

fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn query(req: &HttpRequest, key: &str) -> Option<String> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get(key).cloned())
}

fn bybit_ok(now: i64, result: Value) -> Value {
    json!({ "retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": now })
}

fn okx_ok(data: Value) -> Value {
    json!({ "code": "0", "msg": "", "data": data })
}

fn error(venue: Venue, code: u16) -> HttpResponse {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut b = HttpResponse::build(status);
    let body = match venue {
        Venue::Binance => {
            b.insert_header(("X-MBX-USED-WEIGHT-1M", "3"));
            if code == 404 {
                json!({ "code": -1100, "msg": "Illegal characters found in parameter." })
            } else {
                json!({ "code": -1008, "msg": "Server is currently overloaded with other requests. Please try again in a few minutes." })
            }
        }
        Venue::Bybit => json!({
            "retCode": 10016, "retMsg": "Server error", "result": {}, "retExtInfo": {},
            "time": now_ms(),
        }),
        Venue::Okx => json!({
            "code": "50001", "msg": "Service temporarily unavailable. Please try again later.",
            "data": [],
        }),
    };
    b.content_type("application/json").body(body.to_string())
}

fn rate_limited(venue: Venue, retry_after: Duration) -> HttpResponse {
    let mut b = HttpResponse::TooManyRequests();
    b.insert_header(("Retry-After", format!("{:.3}", retry_after.as_secs_f64())));
    let body = match venue {
        Venue::Binance => {
            b.insert_header(("X-MBX-USED-WEIGHT-1M", "6001"));
            json!({ "code": -1003, "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE." })
        }
        Venue::Bybit => json!({
            "retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {},
            "time": now_ms(),
        }),
        Venue::Okx => json!({ "code": "50011", "msg": "Too Many Requests", "data": [] }),
    };
    b.content_type("application/json").body(body.to_string())
}
