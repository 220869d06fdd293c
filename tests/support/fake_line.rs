//! A fake LINE Messaging API on loopback: `POST /v2/bot/message/push` only.
//!
//! Like LINE, it checks the request before anything else: the Bearer token (401), the content
//! type (415), JSON (400), the body schema — `to`, 1 to 5 `messages`, each `{"type": "text",
//! "text": …}` with 1 to 5000 characters counted in UTF-16 code units — and the
//! `X-Line-Retry-Key` format (400), answering with LINE's error body
//! (`{"message": …, "details": [{"message": …, "property": …}]}`). A valid push whose retry key
//! was accepted before is answered `409` with `X-Line-Accepted-Request-Id`, as LINE does;
//! otherwise it is answered as the [`LineMode`] says (200 `{"sentMessages": […]}` by default).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::ServerThread;

/// The push path.
pub const PUSH_PATH: &str = "/v2/bot/message/push";

/// How the fake answers a valid push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineMode {
    /// 200 `{"sentMessages": […]}`: the push is accepted.
    Accept,
    /// 429 "The API rate limit has been exceeded. Try again later.", with `Retry-After` when
    /// given.
    RateLimited {
        /// The `Retry-After` value in seconds, if any.
        retry_after_secs: Option<u64>,
    },
    /// 429 "You have reached your monthly limit."
    MonthlyLimit,
    /// This 5xx status with LINE's error body.
    ServerError(u16),
    /// 409 with `X-Line-Accepted-Request-Id`, as if an earlier request had been accepted.
    Conflict,
    /// 400 with this message.
    BadRequest(&'static str),
    /// 401 "Authentication failed…".
    Unauthorized,
    /// 403 "Not authorized to use this endpoint."
    Forbidden,
    /// The push is accepted (recorded, its retry key remembered) but the answer never comes.
    AcceptThenStall,
    /// Never answers; nothing is accepted.
    Stall,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct LineRequest {
    /// Method.
    pub method: String,
    /// Path, without query string.
    pub path: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
    /// The status answered (0 while stalled).
    pub status: u16,
    /// True when the push was accepted (200, or accepted before stalling).
    pub accepted: bool,
    /// Why the request was refused by the checks, if it was.
    pub problem: Option<String>,
}

impl LineRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The `X-Line-Retry-Key`.
    pub fn retry_key(&self) -> Option<&str> {
        self.header("x-line-retry-key")
    }

    /// The first message's text.
    pub fn text(&self) -> String {
        self.json()["messages"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// The shared state of a [`FakeLine`].
#[derive(Debug)]
pub struct LineState {
    /// The channel access token it expects.
    pub token: String,
    /// How valid pushes are answered.
    pub mode: LineMode,
    /// Modes used once each, in order, by the next valid pushes (before `mode`).
    pub queued: VecDeque<LineMode>,
    /// Every request, in arrival order.
    pub attempts: Vec<LineRequest>,
    /// Accepted retry keys and the request id that accepted each.
    pub accepted_keys: HashMap<String, String>,
    next_id: u64,
}

impl LineState {
    fn request_id(&mut self) -> String {
        self.next_id += 1;
        format!("fa4e1d00-0000-4000-8000-{:012x}", self.next_id)
    }
}

/// A running fake LINE API; stops when dropped.
pub struct FakeLine {
    server: ServerThread,
    /// The state the server reads and writes.
    pub state: Arc<Mutex<LineState>>,
}

impl FakeLine {
    /// Starts a fake that expects `Authorization: Bearer <token>`.
    pub fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(LineState {
            token: token.to_owned(),
            mode: LineMode::Accept,
            queued: VecDeque::new(),
            attempts: Vec::new(),
            accepted_keys: HashMap::new(),
            next_id: 0,
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("line", move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(handle));
        });
        Self { server, state }
    }

    /// The API base: `http://127.0.0.1:<port>`.
    pub fn api_base(&self) -> String {
        self.server.base_url()
    }

    /// Sets how valid pushes are answered.
    pub fn set_mode(&self, mode: LineMode) {
        self.state.lock().mode = mode;
    }

    /// Queues modes used once each by the next valid pushes.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = LineMode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Every request, in arrival order.
    pub fn attempts(&self) -> Vec<LineRequest> {
        self.state.lock().attempts.clone()
    }

    /// The accepted pushes, in arrival order.
    pub fn pushes(&self) -> Vec<LineRequest> {
        self.state
            .lock()
            .attempts
            .iter()
            .filter(|r| r.accepted)
            .cloned()
            .collect()
    }

    /// Waits until at least `n` pushes were accepted or `timeout` has passed.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<LineRequest> {
        super::wait_for_len(n, timeout, || self.pushes()).await
    }

    /// Waits until at least `n` requests arrived or `timeout` has passed.
    pub async fn wait_for_attempts(&self, n: usize, timeout: Duration) -> Vec<LineRequest> {
        super::wait_for_len(n, timeout, || self.attempts()).await
    }
}

/// LINE's error body.
fn error(message: &str) -> Value {
    json!({ "message": message })
}

/// LINE's error body for schema problems.
fn schema_error(details: &[(String, String)]) -> Value {
    json!({
        "message": format!("The request body has {} error(s)", details.len()),
        "details": details.iter().map(|(property, message)| json!({
            "message": message, "property": property,
        })).collect::<Vec<_>>(),
    })
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Checks a push as LINE would; `Err((status, LINE's error body))` when it is refused.
pub fn check_push(req: &HttpRequest, body: &[u8], token: &str) -> Result<(), (u16, Value)> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if req.path() != PUSH_PATH {
        return Err((404, error("Not found")));
    }
    if req.method() != "POST" {
        return Err((405, error("Method not allowed")));
    }
    if header("authorization") != format!("Bearer {token}") {
        return Err((
            401,
            error(
                "Authentication failed. Confirm that the access token in the authorization header is valid.",
            ),
        ));
    }
    let content_type = header("content-type");
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        return Err((415, error("Unsupported Media Type")));
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Err((
            400,
            error("The request body could not be parsed as JSON (line: 1, column: 1)"),
        ));
    };
    let mut details = Vec::new();
    let mut problem = |property: &str, message: &str| {
        details.push((property.to_owned(), message.to_owned()));
    };
    match json.as_object() {
        None => problem("", "The request body must be a JSON object"),
        Some(obj) => {
            for key in obj.keys() {
                if !matches!(
                    key.as_str(),
                    "to" | "messages" | "notificationDisabled" | "customAggregationUnits"
                ) {
                    problem(key, "The property is not defined");
                }
            }
            match obj.get("to").and_then(Value::as_str) {
                Some(to) if !to.trim().is_empty() => {}
                _ => problem("to", "May not be empty"),
            }
            match obj.get("messages").and_then(Value::as_array) {
                None => problem("messages", "May not be empty"),
                Some(messages) if messages.is_empty() || messages.len() > 5 => {
                    problem("messages", "Size must be between 1 and 5")
                }
                Some(messages) => {
                    for (i, m) in messages.iter().enumerate() {
                        let at = |p: &str| format!("messages[{i}]{p}");
                        let Some(m) = m.as_object() else {
                            problem(&at(""), "Must be an object");
                            continue;
                        };
                        if m.get("type").and_then(Value::as_str) != Some("text") {
                            problem(&at(".type"), "The fake LINE API only takes text messages");
                            continue;
                        }
                        for key in m.keys() {
                            if !matches!(
                                key.as_str(),
                                "type" | "text" | "emojis" | "quoteToken" | "quickReply" | "sender"
                            ) {
                                problem(&at(&format!(".{key}")), "The property is not defined");
                            }
                        }
                        match m.get("text").and_then(Value::as_str) {
                            None | Some("") => problem(&at(".text"), "May not be empty"),
                            Some(t) if utf16_len(t) > 5000 => {
                                problem(&at(".text"), "Length must be between 0 and 5000")
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
        }
    }
    if !details.is_empty() {
        return Err((400, schema_error(&details)));
    }
    if let Some(key) = req.headers().get("x-line-retry-key")
        && !key.to_str().is_ok_and(is_uuid)
    {
        return Err((
            400,
            error("The value for the 'X-Line-Retry-Key' header is invalid"),
        ));
    }
    Ok(())
}

fn respond(status: u16, request_id: &str, body: &Value) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
        .insert_header(("x-line-request-id", request_id.to_owned()))
        .json(body)
}

fn sent_messages(request_id: &str) -> Value {
    json!([{ "id": request_id.replace('-', ""), "quoteToken": format!("q-{request_id}") }])
}

/// 409 for a retry key accepted before by request `earlier`.
fn conflict(request_id: &str, earlier: &str) -> HttpResponse {
    HttpResponse::Conflict()
        .insert_header(("x-line-request-id", request_id.to_owned()))
        .insert_header(("x-line-accepted-request-id", earlier.to_owned()))
        .json(json!({
            "message": "The retry key is already accepted",
            "sentMessages": sent_messages(earlier),
        }))
}

/// What to answer: the response, whether the push was accepted, whether to stall instead.
fn answer(
    s: &mut LineState,
    req: &HttpRequest,
    body: &[u8],
    request_id: &str,
    record: &mut LineRequest,
) -> (HttpResponse, bool, bool) {
    if let Err((status, err)) = check_push(req, body, &s.token) {
        record.problem = Some(err.to_string());
        return (respond(status, request_id, &err), false, false);
    }
    let key = record.retry_key().map(str::to_owned);
    if let Some(earlier) = key.as_ref().and_then(|k| s.accepted_keys.get(k)).cloned() {
        return (conflict(request_id, &earlier), false, false);
    }
    let mode = s.queued.pop_front().unwrap_or(s.mode);
    let accept = |s: &mut LineState| {
        if let Some(k) = &key {
            s.accepted_keys.insert(k.clone(), request_id.to_owned());
        }
    };
    let reply =
        |status: u16, message: &str| (respond(status, request_id, &error(message)), false, false);
    match mode {
        LineMode::Accept => {
            accept(s);
            let body = json!({ "sentMessages": sent_messages(request_id) });
            (respond(200, request_id, &body), true, false)
        }
        LineMode::AcceptThenStall => {
            accept(s);
            (HttpResponse::Ok().finish(), true, true)
        }
        LineMode::Stall => (HttpResponse::Ok().finish(), false, true),
        LineMode::RateLimited { retry_after_secs } => {
            let (mut resp, accepted, stall) = reply(
                429,
                "The API rate limit has been exceeded. Try again later.",
            );
            if let Some(secs) = retry_after_secs {
                resp.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    secs.to_string().parse().expect("a header value"),
                );
            }
            (resp, accepted, stall)
        }
        LineMode::MonthlyLimit => reply(429, "You have reached your monthly limit."),
        LineMode::ServerError(code) => reply(code, "Internal server error"),
        LineMode::Conflict => (
            conflict(request_id, "feedface-0000-4000-8000-000000000000"),
            false,
            false,
        ),
        LineMode::BadRequest(message) => reply(400, message),
        LineMode::Unauthorized => reply(
            401,
            "Authentication failed. Confirm that the access token in the authorization header is valid.",
        ),
        LineMode::Forbidden => reply(403, "Not authorized to use this endpoint."),
    }
}

async fn handle(req: HttpRequest, body: Bytes, state: web::Data<Mutex<LineState>>) -> HttpResponse {
    let (resp, stall) = {
        let mut s = state.lock();
        let request_id = s.request_id();
        let mut record = LineRequest {
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
            body: body.clone(),
            at: Instant::now(),
            status: 0,
            accepted: false,
            problem: None,
        };
        let (resp, accepted, stall) = answer(&mut s, &req, &body, &request_id, &mut record);
        record.status = if stall { 0 } else { resp.status().as_u16() };
        record.accepted = accepted;
        s.attempts.push(record);
        (resp, stall)
    };
    if stall {
        actix_rt::time::sleep(Duration::from_secs(3600)).await;
    }
    resp
}
