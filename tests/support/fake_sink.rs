//! A fake webhook receiver on loopback: records every request (any method, any path) and
//! answers as its [`SinkMode`] says.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;

use super::ServerThread;

/// How the sink answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkMode {
    /// 200 and the body is received.
    Accept,
    /// This status (a 2xx counts as received).
    Status(u16),
    /// 429 with `Retry-After`.
    RateLimited {
        /// The `Retry-After` value in seconds.
        retry_after_secs: u64,
    },
    /// Never answers (sleeps an hour); the request is recorded as an attempt.
    Stall,
}

/// One request the sink saw.
#[derive(Debug, Clone)]
pub struct SinkRequest {
    /// Method (`POST`).
    pub method: String,
    /// Path, without query string.
    pub path: String,
    /// Headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
    /// The status answered (0 for [`SinkMode::Stall`]).
    pub status: u16,
}

impl SinkRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; a non-JSON body becomes a JSON string of its (lossy) text.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&self.body).into_owned())
        })
    }

    /// True when the sink answered 2xx.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The shared, mutable state of a [`FakeSink`].
#[derive(Debug)]
pub struct SinkState {
    /// How requests are answered.
    pub mode: SinkMode,
    /// Modes used once each, in order, by the next requests (before `mode`).
    pub queued: VecDeque<SinkMode>,
    /// Every request, in arrival order.
    pub attempts: Vec<SinkRequest>,
}

/// A running fake webhook receiver; stops when dropped.
pub struct FakeSink {
    server: ServerThread,
    /// The state the server reads and writes; the methods below are shortcuts.
    pub state: Arc<Mutex<SinkState>>,
}

impl FakeSink {
    /// Starts a sink on `127.0.0.1:0` in its own thread and `System`.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(SinkState {
            mode: SinkMode::Accept,
            queued: VecDeque::new(),
            attempts: Vec::new(),
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("sink", move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(handle));
        });
        Self { server, state }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// `<base_url>/alerts`.
    pub fn url(&self) -> String {
        format!("{}/alerts", self.base_url())
    }

    /// Sets how requests are answered.
    pub fn set_mode(&self, mode: SinkMode) {
        self.state.lock().mode = mode;
    }

    /// Queues modes used once each by the next requests.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = SinkMode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Bodies of the accepted (2xx) requests as JSON, in arrival order.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.state
            .lock()
            .attempts
            .iter()
            .filter(|r| r.accepted())
            .map(SinkRequest::json)
            .collect()
    }

    /// The accepted (2xx) requests, in arrival order.
    pub fn received_requests(&self) -> Vec<SinkRequest> {
        self.state
            .lock()
            .attempts
            .iter()
            .filter(|r| r.accepted())
            .cloned()
            .collect()
    }

    /// Every request, rejected ones included, in arrival order.
    pub fn attempts(&self) -> Vec<SinkRequest> {
        self.state.lock().attempts.clone()
    }

    /// Waits (polling every 10 ms with `actix_rt::time::sleep`) until at least `n` bodies were
    /// received or `timeout` has passed; returns what was received by then.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<serde_json::Value> {
        super::wait_for_len(n, timeout, || self.received()).await
    }

    /// Waits until at least `n` attempts (accepted or not) were made or `timeout` has passed.
    pub async fn wait_for_attempts(&self, n: usize, timeout: Duration) -> Vec<SinkRequest> {
        super::wait_for_len(n, timeout, || self.attempts()).await
    }
}

async fn handle(req: HttpRequest, body: Bytes, state: web::Data<Mutex<SinkState>>) -> HttpResponse {
    let mode = {
        let mut s = state.lock();
        let mode = s.queued.pop_front().unwrap_or(s.mode);
        let status = match mode {
            SinkMode::Accept => 200,
            SinkMode::Status(code) => code,
            SinkMode::RateLimited { .. } => 429,
            SinkMode::Stall => 0,
        };
        s.attempts.push(SinkRequest {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            at: Instant::now(),
            status,
        });
        mode
    };
    match mode {
        SinkMode::Accept => HttpResponse::Ok().finish(),
        SinkMode::Status(code) => {
            HttpResponse::build(StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY))
                .finish()
        }
        SinkMode::RateLimited { retry_after_secs } => HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", retry_after_secs.to_string()))
            .finish(),
        SinkMode::Stall => {
            actix_rt::time::sleep(Duration::from_secs(3600)).await;
            HttpResponse::Ok().finish()
        }
    }
}
