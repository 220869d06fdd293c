//! A fake Discord webhook on loopback: `POST /api/webhooks/{id}/{token}` and the versioned
//! `POST /api/v{n}/webhooks/{id}/{token}`.
//!
//! Like Discord, it checks the webhook (404 `Unknown Webhook` 10015 for another id, 401
//! `Invalid Webhook Token` 50027 for another token), the content type and the JSON, and every
//! message limit — content 2000, ≤ 10 embeds, title 256, description 4096, ≤ 25 fields, field
//! name 256 and value 1024 (neither empty), footer 2048, author name 256, 6000 across the
//! embeds — answering `400` `Invalid Form Body` (code 50035) with Discord's nested `errors`
//! when one is broken. Lengths are counted in UTF-16 code units: never fewer than Discord
//! counts, so passing here means passing there. A valid message is answered as the
//! [`DiscordMode`] says: 200 with the message object when `wait=true`, 204 without.
//!
//! Rate-limit answers follow the API version of the path: unversioned (and v6/v7) requests get
//! `retry_after` and `Retry-After` in milliseconds, as Discord's legacy API does; v8 and later
//! get seconds (`retry_after` a float, `Retry-After` rounded up).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

use super::ServerThread;

/// The webhook id the fake serves.
pub const WEBHOOK_ID: &str = "1189998819991197253";

/// How the fake answers a valid message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DiscordMode {
    /// 200 with the message object (204 without `wait=true`).
    Accept,
    /// 429 `You are being rate limited.` with `X-RateLimit-*` headers.
    RateLimited {
        /// The body's `retry_after`, in seconds (sent in the path's API version's unit).
        retry_after: f64,
        /// The `Retry-After` header in seconds, for v8 and later (rounded up); the legacy API
        /// repeats `retry_after` in milliseconds instead. `None` omits it.
        header_secs: Option<f64>,
        /// The body's `global`.
        global: bool,
    },
    /// 404 `Unknown Webhook` (code 10015): the webhook was deleted.
    UnknownWebhook,
    /// 400 `Invalid Form Body` (code 50035) about the first embed's description, as if
    /// Discord had tightened a limit.
    InvalidFormBody,
    /// This status, with a JSON body (`500: Internal Server Error`).
    Status(u16),
    /// Never answers.
    Stall,
}

impl DiscordMode {
    /// A rate limit as Discord sends it: `Retry-After` is `retry_after` rounded up.
    pub fn rate_limited(retry_after: f64) -> Self {
        DiscordMode::RateLimited {
            retry_after,
            header_secs: Some(retry_after.ceil()),
            global: false,
        }
    }
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct DiscordRequest {
    /// Method.
    pub method: String,
    /// Path, without query string.
    pub path: String,
    /// The query string.
    pub query: String,
    /// The API version in the path, `None` when unversioned.
    pub version: Option<u32>,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
    /// The status answered (0 while stalled).
    pub status: u16,
    /// The error body answered, when the request was refused.
    pub error: Option<Value>,
}

impl DiscordRequest {
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

    /// The first embed.
    pub fn embed(&self) -> Value {
        self.json()["embeds"][0].clone()
    }

    /// The value of the first embed's field `name`.
    pub fn field(&self, name: &str) -> Option<String> {
        self.embed()["fields"]
            .as_array()?
            .iter()
            .find(|f| f["name"] == name)
            .and_then(|f| f["value"].as_str())
            .map(str::to_owned)
    }

    /// True when the query has `wait=true`.
    pub fn wait(&self) -> bool {
        self.query.split('&').any(|p| p == "wait=true")
    }

    /// True when Discord stored the message (2xx).
    pub fn delivered(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The shared state of a [`FakeDiscord`].
#[derive(Debug)]
pub struct DiscordState {
    /// The webhook token it expects.
    pub token: String,
    /// How valid messages are answered.
    pub mode: DiscordMode,
    /// Modes used once each, in order, by the next valid messages (before `mode`).
    pub queued: VecDeque<DiscordMode>,
    /// Every request, in arrival order.
    pub attempts: Vec<DiscordRequest>,
    next_id: u64,
}

/// A running fake Discord; stops when dropped.
pub struct FakeDiscord {
    server: ServerThread,
    /// The state the server reads and writes.
    pub state: Arc<Mutex<DiscordState>>,
}

impl FakeDiscord {
    /// Starts a fake serving webhook [`WEBHOOK_ID`] with `token`.
    pub fn start(token: &str) -> Self {
        let state = Arc::new(Mutex::new(DiscordState {
            token: token.to_owned(),
            mode: DiscordMode::Accept,
            queued: VecDeque::new(),
            attempts: Vec::new(),
            next_id: 1_200_000_000_000_000_000,
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("discord", move |cfg| {
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

    /// The webhook URL as Discord hands it out: `<base>/api/webhooks/<id>/<token>`.
    pub fn webhook_url(&self) -> String {
        format!(
            "{}/api/v10/webhooks/{WEBHOOK_ID}/{}",
            self.base_url(),
            self.state.lock().token
        )
    }

    /// The same webhook without an API version (Discord's legacy API: milliseconds).
    pub fn legacy_webhook_url(&self) -> String {
        format!(
            "{}/api/webhooks/{WEBHOOK_ID}/{}",
            self.base_url(),
            self.state.lock().token
        )
    }

    /// Sets how valid messages are answered.
    pub fn set_mode(&self, mode: DiscordMode) {
        self.state.lock().mode = mode;
    }

    /// Queues modes used once each by the next valid messages.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = DiscordMode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Every request, in arrival order.
    pub fn attempts(&self) -> Vec<DiscordRequest> {
        self.state.lock().attempts.clone()
    }

    /// The stored messages (2xx), in arrival order.
    pub fn delivered(&self) -> Vec<DiscordRequest> {
        self.state
            .lock()
            .attempts
            .iter()
            .filter(|r| r.delivered())
            .cloned()
            .collect()
    }

    /// Waits until at least `n` messages were stored or `timeout` has passed.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<DiscordRequest> {
        super::wait_for_len(n, timeout, || self.delivered()).await
    }

    /// Waits until at least `n` requests arrived or `timeout` has passed.
    pub async fn wait_for_attempts(&self, n: usize, timeout: Duration) -> Vec<DiscordRequest> {
        super::wait_for_len(n, timeout, || self.attempts()).await
    }
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Discord's error body.
fn error(message: &str, code: i64) -> Value {
    json!({ "message": message, "code": code })
}

/// Adds `{"_errors": [{code, message}]}` at `path` of Discord's nested `errors` object.
fn add_error(errors: &mut Map<String, Value>, path: &[&str], code: &str, message: &str) {
    let mut node = errors;
    for key in path {
        node = node
            .entry((*key).to_owned())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("an object");
    }
    node.entry("_errors")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("an array")
        .push(json!({ "code": code, "message": message }));
}

/// Checks an execute-webhook body against every limit; `Err(errors)` in Discord's nested
/// format when one is broken.
pub fn check_message(msg: &Value) -> Result<(), Value> {
    let mut errors = Map::new();
    let Some(obj) = msg.as_object() else {
        return Err(
            json!({ "_errors": [{ "code": "DICT_TYPE_CONVERT", "message": "Only dictionaries may be used in a DictType" }] }),
        );
    };
    let too_long = |max: usize| format!("Must be {max} or fewer in length.");
    let text_len = |v: &Value| v.as_str().map(utf16_len);
    if let Some(content) = obj.get("content") {
        match text_len(content) {
            Some(n) if n > 2000 => add_error(
                &mut errors,
                &["content"],
                "BASE_TYPE_MAX_LENGTH",
                &too_long(2000),
            ),
            Some(_) => {}
            None if content.is_null() => {}
            None => add_error(
                &mut errors,
                &["content"],
                "BASE_TYPE_STRING",
                "Must be a string.",
            ),
        }
    }
    if let Some(am) = obj.get("allowed_mentions")
        && !am.is_object()
    {
        add_error(
            &mut errors,
            &["allowed_mentions"],
            "MODEL_TYPE_CONVERT",
            "Only dictionaries may be used in a ModelType",
        );
    }
    let embeds = obj
        .get("embeds")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if embeds.len() > 10 {
        add_error(
            &mut errors,
            &["embeds"],
            "BASE_TYPE_MAX_LENGTH",
            &too_long(10),
        );
    }
    let mut total = 0;
    for (i, e) in embeds.iter().enumerate() {
        let idx = i.to_string();
        let at = |rest: &[&'static str]| -> Vec<String> {
            let mut p = vec!["embeds".to_owned(), idx.clone()];
            p.extend(rest.iter().map(|s| (*s).to_owned()));
            p
        };
        let mut err = |path: Vec<String>, code: &str, message: &str| {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            add_error(&mut errors, &path, code, message);
        };
        let Some(e) = e.as_object() else {
            err(
                at(&[]),
                "MODEL_TYPE_CONVERT",
                "Only dictionaries may be used in a ModelType",
            );
            continue;
        };
        for (key, max, path) in [
            ("title", 256, &["title"][..]),
            ("description", 4096, &["description"][..]),
        ] {
            if let Some(n) = e.get(key).and_then(text_len) {
                total += n;
                if n > max {
                    err(at(path), "BASE_TYPE_MAX_LENGTH", &too_long(max));
                }
            }
        }
        for (key, max, path) in [
            ("footer", 2048, &["footer", "text"][..]),
            ("author", 256, &["author", "name"][..]),
        ] {
            if let Some(part) = e.get(key) {
                match part.get(path[1]).and_then(text_len) {
                    Some(0) | None => err(at(path), "BASE_TYPE_REQUIRED", "This field is required"),
                    Some(n) => {
                        total += n;
                        if n > max {
                            err(at(path), "BASE_TYPE_MAX_LENGTH", &too_long(max));
                        }
                    }
                }
            }
        }
        if let Some(color) = e.get("color")
            && color.as_u64().is_none_or(|c| c > 0xFF_FFFF)
        {
            err(
                at(&["color"]),
                "NUMBER_TYPE_MAX",
                "int value should be <= 16777215 and >= 0.",
            );
        }
        if let Some(ts) = e.get("timestamp")
            && ts
                .as_str()
                .is_none_or(|t| humantime::parse_rfc3339_weak(t).is_err())
        {
            err(
                at(&["timestamp"]),
                "DATE_TIME_TYPE_PARSE",
                "Could not parse the timestamp. Should be ISO8601.",
            );
        }
        let fields = e
            .get("fields")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if fields.len() > 25 {
            err(at(&["fields"]), "BASE_TYPE_MAX_LENGTH", &too_long(25));
        }
        for (j, f) in fields.iter().enumerate() {
            let j = j.to_string();
            for (key, max) in [("name", 256), ("value", 1024)] {
                let mut path = at(&["fields"]);
                path.push(j.clone());
                path.push(key.to_owned());
                match f.get(key).and_then(Value::as_str) {
                    None => err(path, "BASE_TYPE_REQUIRED", "This field is required"),
                    Some(s) if s.trim().is_empty() => {
                        err(path, "BASE_TYPE_REQUIRED", "This field is required")
                    }
                    Some(s) => {
                        total += utf16_len(s);
                        if utf16_len(s) > max {
                            err(path, "BASE_TYPE_MAX_LENGTH", &too_long(max));
                        }
                    }
                }
            }
        }
    }
    if total > 6000 {
        add_error(
            &mut errors,
            &["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
            "Embed size exceeds maximum size of 6000",
        );
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Value::Object(errors))
    }
}

/// Parses `/api/webhooks/{id}/{token}` or `/api/v{n}/webhooks/{id}/{token}`:
/// `(version, id, token)`.
fn parse_path(path: &str) -> Option<(Option<u32>, &str, &str)> {
    let rest = path.strip_prefix("/api/")?;
    let (version, rest) = match rest.strip_prefix('v') {
        Some(v) => {
            let (n, rest) = v.split_once('/')?;
            (Some(n.parse().ok()?), rest)
        }
        None => (None, rest),
    };
    let rest = rest.strip_prefix("webhooks/")?;
    let (id, token) = rest.split_once('/')?;
    (!id.is_empty() && !token.is_empty() && !token.contains('/')).then_some((version, id, token))
}

/// What to answer, or `None` to stall.
fn answer(
    s: &mut DiscordState,
    req: &HttpRequest,
    body: &[u8],
    record: &mut DiscordRequest,
) -> Option<HttpResponse> {
    let refuse = |status: u16, body: Value| {
        Some(HttpResponse::build(StatusCode::from_u16(status).expect("a status")).json(body))
    };
    let Some((version, id, token)) = parse_path(req.path()) else {
        record.error = Some(error("404: Not Found", 0));
        return refuse(404, error("404: Not Found", 0));
    };
    record.version = version;
    if req.method() != "POST" {
        record.error = Some(error("405: Method Not Allowed", 0));
        return refuse(405, error("405: Method Not Allowed", 0));
    }
    if id != WEBHOOK_ID {
        record.error = Some(error("Unknown Webhook", 10015));
        return refuse(404, error("Unknown Webhook", 10015));
    }
    if token != s.token {
        record.error = Some(error("Invalid Webhook Token", 50027));
        return refuse(401, error("Invalid Webhook Token", 50027));
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.split(';').next().map(str::trim) != Some("application/json") {
        record.error = Some(error("Cannot send an empty message", 50006));
        return refuse(400, error("Cannot send an empty message", 50006));
    }
    let Ok(msg) = serde_json::from_slice::<Value>(body) else {
        record.error = Some(error("The request body contains invalid JSON.", 50109));
        return refuse(400, error("The request body contains invalid JSON.", 50109));
    };
    if let Err(errors) = check_message(&msg) {
        let e = json!({ "code": 50035, "errors": errors, "message": "Invalid Form Body" });
        record.error = Some(e.clone());
        return refuse(400, e);
    }
    let has_content = msg["content"]
        .as_str()
        .is_some_and(|c| !c.trim().is_empty());
    let has_embeds = msg["embeds"].as_array().is_some_and(|e| !e.is_empty());
    if !has_content && !has_embeds {
        record.error = Some(error("Cannot send an empty message", 50006));
        return refuse(400, error("Cannot send an empty message", 50006));
    }

    // Seconds from v8 on; milliseconds for the legacy (unversioned, v6, v7) API.
    let legacy = version.is_none_or(|v| v < 8);
    let reset_at = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64() + 1.0)
            .unwrap_or_default()
    };
    let mode = s.queued.pop_front().unwrap_or(s.mode);
    match mode {
        DiscordMode::Accept => {
            s.next_id += 1;
            let wait = req.query_string().split('&').any(|p| p == "wait=true");
            let mut resp = if wait {
                HttpResponse::Ok()
            } else {
                HttpResponse::NoContent()
            };
            resp.insert_header(("x-ratelimit-limit", "5"))
                .insert_header(("x-ratelimit-remaining", "4"))
                .insert_header(("x-ratelimit-reset", format!("{:.3}", reset_at())))
                .insert_header(("x-ratelimit-reset-after", "1.000"))
                .insert_header(("x-ratelimit-bucket", "fake-bucket"));
            if !wait {
                return Some(resp.finish());
            }
            Some(resp.json(json!({
                "id": s.next_id.to_string(),
                "type": 0,
                "content": msg["content"],
                "channel_id": "1100000000000000001",
                "author": { "id": WEBHOOK_ID, "username": "exwatch", "bot": true },
                "embeds": msg["embeds"],
                "mentions": [],
                "mention_roles": [],
                "attachments": [],
                "pinned": false,
                "mention_everyone": false,
                "tts": false,
                "timestamp": "2026-11-21T10:00:03.000000+00:00",
                "edited_timestamp": null,
                "flags": 0,
                "webhook_id": WEBHOOK_ID,
            })))
        }
        DiscordMode::RateLimited {
            retry_after,
            header_secs,
            global,
        } => {
            let body_value = if legacy {
                json!((retry_after * 1000.0).round() as u64)
            } else {
                json!(retry_after)
            };
            let mut resp = HttpResponse::TooManyRequests();
            resp.insert_header(("x-ratelimit-limit", "5"))
                .insert_header(("x-ratelimit-remaining", "0"))
                .insert_header((
                    "x-ratelimit-reset",
                    format!("{:.3}", reset_at() + retry_after),
                ))
                .insert_header(("x-ratelimit-reset-after", format!("{retry_after:.3}")))
                .insert_header(("x-ratelimit-bucket", "fake-bucket"))
                .insert_header((
                    "x-ratelimit-scope",
                    if global { "global" } else { "shared" },
                ));
            if global {
                resp.insert_header(("x-ratelimit-global", "true"));
            }
            if let Some(secs) = header_secs {
                // The legacy API's header repeats the body's milliseconds.
                let value = if legacy {
                    format!("{}", (retry_after * 1000.0).round() as u64)
                } else {
                    format!("{}", secs.ceil() as u64)
                };
                resp.insert_header(("retry-after", value));
            }
            let e = json!({ "message": "You are being rate limited.", "retry_after": body_value, "global": global });
            record.error = Some(e.clone());
            Some(resp.json(e))
        }
        DiscordMode::UnknownWebhook => {
            record.error = Some(error("Unknown Webhook", 10015));
            refuse(404, error("Unknown Webhook", 10015))
        }
        DiscordMode::InvalidFormBody => {
            let mut errors = Map::new();
            add_error(
                &mut errors,
                &["embeds", "0", "description"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2048 or fewer in length.",
            );
            let e = json!({ "code": 50035, "errors": errors, "message": "Invalid Form Body" });
            record.error = Some(e.clone());
            refuse(400, e)
        }
        DiscordMode::Status(code) => {
            let phrase = StatusCode::from_u16(code)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Error");
            let e = error(&format!("{code}: {phrase}"), 0);
            record.error = Some(e.clone());
            refuse(code, e)
        }
        DiscordMode::Stall => None,
    }
}

async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Mutex<DiscordState>>,
) -> HttpResponse {
    let resp = {
        let mut s = state.lock();
        let mut record = DiscordRequest {
            method: req.method().to_string(),
            path: req.path().to_owned(),
            query: req.query_string().to_owned(),
            version: None,
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
            error: None,
        };
        let resp = answer(&mut s, &req, &body, &mut record);
        record.status = resp.as_ref().map_or(0, |r| r.status().as_u16());
        s.attempts.push(record);
        resp
    };
    match resp {
        Some(resp) => resp,
        None => {
            actix_rt::time::sleep(Duration::from_secs(3600)).await;
            HttpResponse::Ok().finish()
        }
    }
}
