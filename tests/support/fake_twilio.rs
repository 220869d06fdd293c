//! A fake Twilio Messages API on loopback: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
//!
//! It checks what Twilio checks, in Twilio's order, and answers with Twilio's error resource
//! (`{"code","message","more_info","status"}`): an unknown path or another account's SID →
//! 404 (code 20404, the message quoting the path, as Twilio does); Basic credentials other
//! than `AccountSid:AuthToken` → 401 (20003); a body that is not
//! `application/x-www-form-urlencoded` reads as no parameters; no `To` → 400 (21604), no
//! `From` → 400 (21603), no `Body` → 400 (21602), a `Body` over 1,600 characters → 400
//! (21617), a `To` that is not `+` and digits → 400 (21211). Then it answers as its
//! [`TwilioMode`] says — per recipient modes first, then queued modes, then the default —
//! 201 with a message resource when accepted.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::json;

use super::ServerThread;

/// The Account SID the fake serves.
pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
/// The Auth Token the fake expects.
pub const AUTH_TOKEN: &str = "twilio-auth-token-never-printed";

/// How the fake answers a valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwilioMode {
    /// 201 Created with a message resource.
    Accept,
    /// 429 `{"code":20429,…}` (too many concurrent requests; never processed), with
    /// `Retry-After` when given.
    RateLimited {
        /// `Retry-After` in seconds, if any.
        retry_after_secs: Option<u64>,
    },
    /// 400 `{"code":21211,…}`: the `To` number is invalid.
    InvalidTo,
    /// 500 with Twilio's error resource.
    ServerError,
    /// Never answers (sleeps an hour).
    Stall,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct TwilioRequest {
    /// The path.
    pub path: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The decoded form fields, in order.
    pub form: Vec<(String, String)>,
    /// The status answered (0 when stalled).
    pub status: u16,
    /// The error code answered, if any.
    pub code: Option<u32>,
    /// When it arrived.
    pub at: Instant,
}

impl TwilioRequest {
    /// The first value of form field `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `To`, or "" when absent.
    pub fn to(&self) -> &str {
        self.field("To").unwrap_or_default()
    }

    /// True when answered 201.
    pub fn accepted(&self) -> bool {
        self.status == 201
    }
}

/// The fake's mutable state.
#[derive(Debug)]
pub struct TwilioState {
    /// The default mode.
    pub mode: TwilioMode,
    /// Modes used once each by the next valid requests (after per-recipient ones).
    pub queued: VecDeque<TwilioMode>,
    /// Modes used once each by the next valid requests to one recipient.
    pub per_to: HashMap<String, VecDeque<TwilioMode>>,
    /// Every request, in arrival order.
    pub requests: Vec<TwilioRequest>,
    next_sid: u64,
}

/// A running fake Twilio; stops when dropped.
pub struct FakeTwilio {
    server: ServerThread,
    /// Shared state; the methods below are shortcuts.
    pub state: Arc<Mutex<TwilioState>>,
}

impl FakeTwilio {
    /// Starts the fake on `127.0.0.1:0`.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(TwilioState {
            mode: TwilioMode::Accept,
            queued: VecDeque::new(),
            per_to: HashMap::new(),
            requests: Vec::new(),
            next_sid: 0,
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("twilio", move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .default_service(web::to(handle));
        });
        Self { server, state }
    }

    /// The `api_base` to configure: `http://127.0.0.1:<port>`.
    pub fn api_base(&self) -> String {
        self.server.base_url()
    }

    /// Sets the default mode.
    pub fn set_mode(&self, mode: TwilioMode) {
        self.state.lock().mode = mode;
    }

    /// Queues modes used once each by the next valid requests.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = TwilioMode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Queues modes used once each by the next valid requests to `to`.
    pub fn queue_for(&self, to: &str, modes: impl IntoIterator<Item = TwilioMode>) {
        self.state
            .lock()
            .per_to
            .entry(to.to_owned())
            .or_default()
            .extend(modes);
    }

    /// Every request, in arrival order.
    pub fn requests(&self) -> Vec<TwilioRequest> {
        self.state.lock().requests.clone()
    }

    /// The accepted messages, in arrival order.
    pub fn accepted(&self) -> Vec<TwilioRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.accepted())
            .collect()
    }

    /// The requests to `to`.
    pub fn requests_to(&self, to: &str) -> Vec<TwilioRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.to() == to)
            .collect()
    }

    /// Waits (polling every 10 ms) until at least `n` messages were accepted or `timeout`
    /// passed; returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<TwilioRequest> {
        super::wait_for_len(n, timeout, || self.accepted()).await
    }

    /// Waits until at least `n` requests arrived or `timeout` passed.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<TwilioRequest> {
        super::wait_for_len(n, timeout, || self.requests()).await
    }
}

/// Twilio's error resource.
fn error(status: u16, code: u32, message: &str) -> (u16, Option<u32>, serde_json::Value) {
    (
        status,
        Some(code),
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Mutex<TwilioState>>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let authorization = header("authorization");
    let content_type = header("content-type");
    let path = req.path().to_owned();
    let is_form = content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form {
        decode_form(&String::from_utf8_lossy(&body))
    } else {
        Vec::new()
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let expected_path = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json");
    let credentials = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| decode_base64(b.trim()))
        .map(|b| String::from_utf8_lossy(&b).into_owned());

    let mut stall = false;
    let mut retry_after = None;
    let (status, _code, json_body) = {
        let mut s = state.lock();
        let answer = if req.method() != actix_web::http::Method::POST || path != expected_path {
            error(
                404,
                20404,
                &format!("The requested resource {path} was not found"),
            )
        } else if credentials.as_deref() != Some(&format!("{ACCOUNT_SID}:{AUTH_TOKEN}")) {
            error(401, 20003, "Authenticate")
        } else if field("To").is_none() {
            error(400, 21604, "A 'To' phone number is required.")
        } else if field("From").is_none() {
            error(400, 21603, "A 'From' phone number is required.")
        } else if field("Body").is_none_or(|b| b.is_empty()) {
            error(400, 21602, "Message body is required.")
        } else if field("Body").is_some_and(|b| b.chars().count() > 1600) {
            error(
                400,
                21617,
                "The concatenated message body exceeds the 1600 character limit.",
            )
        } else if !field("To").is_some_and(|t| {
            t.strip_prefix('+')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        }) {
            error(
                400,
                21211,
                &format!(
                    "The 'To' number {} is not a valid phone number.",
                    field("To").unwrap_or_default()
                ),
            )
        } else {
            let to = field("To").unwrap_or_default();
            let mode = s
                .per_to
                .get_mut(&to)
                .and_then(VecDeque::pop_front)
                .or_else(|| s.queued.pop_front())
                .unwrap_or(s.mode);
            match mode {
                TwilioMode::Accept => {
                    s.next_sid += 1;
                    let sid = format!("SM{:032x}", s.next_sid);
                    let text = field("Body").unwrap_or_default();
                    (
                        201,
                        None,
                        json!({
                            "account_sid": ACCOUNT_SID,
                            "api_version": "2010-04-01",
                            "body": text,
                            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
                            "date_sent": null,
                            "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
                            "direction": "outbound-api",
                            "error_code": null,
                            "error_message": null,
                            "from": field("From"),
                            "num_media": "0",
                            "num_segments": if text.chars().count() <= 160 { "1" } else { "2" },
                            "price": null,
                            "price_unit": null,
                            "messaging_service_sid": null,
                            "sid": sid,
                            "status": "queued",
                            "subresource_uris": {"media": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media.json")},
                            "to": to,
                            "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"),
                        }),
                    )
                }
                TwilioMode::RateLimited { retry_after_secs } => {
                    retry_after = retry_after_secs;
                    error(429, 20429, "Too Many Requests")
                }
                TwilioMode::InvalidTo => error(
                    400,
                    21211,
                    &format!("The 'To' number {to} is not a valid phone number."),
                ),
                TwilioMode::ServerError => error(500, 20500, "Internal Server Error"),
                TwilioMode::Stall => {
                    stall = true;
                    (0, None, json!(null))
                }
            }
        };
        s.requests.push(TwilioRequest {
            path: path.clone(),
            authorization: authorization.clone(),
            content_type: content_type.clone(),
            form: form.clone(),
            status: answer.0,
            code: answer.1,
            at: Instant::now(),
        });
        answer
    };
    if stall {
        actix_rt::time::sleep(Duration::from_secs(3600)).await;
    }
    let mut resp = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if let Some(secs) = retry_after {
        resp.insert_header(("Retry-After", secs.to_string()));
    }
    resp.content_type("application/json")
        .body(json_body.to_string())
}

/// Decodes `application/x-www-form-urlencoded` (`+` as space, `%XX` bytes as UTF-8).
pub fn decode_form(text: &str) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
                    match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                        (Some(h), Some(l)) => {
                            out.push((h << 4) | l);
                            i += 2;
                        }
                        _ => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// Decodes standard base64 with padding; `None` when malformed.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let got = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&got[..3 - pad]);
    }
    Some(out)
}
