//! A fake of exwatch's own JSON API on loopback, serving fixtures in the shapes of
//! `GET /api/v1/status` and `GET /api/v1/events`, next to the REAL dashboard
//! (`exwatch::server::dashboard::configure`). It lets the dashboard's rendering be tested with
//! any data — hostile strings, every breaker state, pagination, an API that is down —
//! independent of what the monitor happens to hold.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::ServerThread;

/// What the fake serves and what it saw.
#[derive(Default)]
pub struct FakeApiState {
    /// The `/api/v1/status` answer.
    pub status: Value,
    /// Every event the fake holds, newest first; `/api/v1/events` pages through them.
    pub events: Vec<Value>,
    /// When set, both API routes answer 503.
    pub down: bool,
    /// The query strings `/api/v1/events` received, in order.
    pub event_queries: Vec<String>,
}

/// The fake API with the real dashboard; stopped when dropped.
pub struct FakeApi {
    server: ServerThread,
    /// Shared with the handlers.
    pub state: Arc<Mutex<FakeApiState>>,
}

impl FakeApi {
    /// Starts the fake serving `status` and `events` (newest first).
    pub fn start(status: Value, events: Vec<Value>) -> Self {
        let state = Arc::new(Mutex::new(FakeApiState {
            status,
            events,
            ..FakeApiState::default()
        }));
        let shared = state.clone();
        let server = ServerThread::spawn("api", move |cfg| {
            cfg.app_data(web::Data::new(shared.clone()))
                .route("/api/v1/status", web::get().to(status_handler))
                .route("/api/v1/events", web::get().to(events_handler))
                .configure(exwatch::server::dashboard::configure);
        });
        Self { server, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// Makes the API answer 503 (`true`) or serve again.
    pub fn set_down(&self, down: bool) {
        self.state.lock().down = down;
    }

    /// The query strings `/api/v1/events` received so far.
    pub fn event_queries(&self) -> Vec<String> {
        self.state.lock().event_queries.clone()
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(json!({
        "error": "unavailable", "message": "the fake API is down", "field": null
    }))
}

async fn status_handler(state: web::Data<Arc<Mutex<FakeApiState>>>) -> HttpResponse {
    let s = state.lock();
    if s.down {
        return unavailable();
    }
    HttpResponse::Ok().json(&s.status)
}

/// Filters by `exchange`, minimum `severity` and `kind`; pages by `limit` with the offset as
/// the cursor.
async fn events_handler(
    req: HttpRequest,
    state: web::Data<Arc<Mutex<FakeApiState>>>,
) -> HttpResponse {
    let mut s = state.lock();
    s.event_queries.push(req.query_string().to_owned());
    if s.down {
        return unavailable();
    }
    let q: Vec<(String, String)> = query_pairs(req.query_string()).unwrap_or_default();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let rank = |sev: &str| {
        ["info", "warning", "critical"]
            .iter()
            .position(|s| *s == sev)
    };
    let min = get("severity").and_then(rank);
    let limit: usize = get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let offset: usize = get("cursor").and_then(|c| c.parse().ok()).unwrap_or(0);
    let matching: Vec<&Value> = s
        .events
        .iter()
        .filter(|e| get("exchange").is_none_or(|x| e["exchange"] == x))
        .filter(|e| get("kind").is_none_or(|k| e["kind"] == k))
        .filter(|e| min.is_none_or(|m| e["severity"].as_str().and_then(rank) >= Some(m)))
        .collect();
    let page: Vec<&Value> = matching.iter().skip(offset).take(limit).copied().collect();
    let next = (offset + limit < matching.len()).then(|| (offset + limit).to_string());
    HttpResponse::Ok().json(json!({ "events": page, "next_cursor": next }))
}

/// `a=1&b=x%20y` into pairs (the fake needs no more than this).
fn query_pairs(q: &str) -> Option<Vec<(String, String)>> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}
