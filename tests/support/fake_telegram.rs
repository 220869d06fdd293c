//! A fake Telegram Bot API on loopback: `POST /bot<token>/sendMessage`.
//!
//! It checks what Telegram checks and answers with Telegram's envelope
//! (`{"ok":false,"error_code":…,"description":…}`): another token → 401 `Unauthorized`; another
//! method → 404 `Not Found`; no `chat_id` → 400 `Bad Request: chat_id is empty`; no text → 400
//! `Bad Request: message text is empty`; with `parse_mode` `HTML`, an unknown or unbalanced
//! tag or an `&` that starts no entity (`&lt;` `&gt;` `&amp;` `&quot;` `&#…;`) → 400
//! `Bad Request: can't parse entities: …`; a text over 4,096 characters after entity parsing
//! → 400 `Bad Request: message is too long`; a chat it does not know → 400 `Bad Request: chat
//! not found`. Then it answers as its [`TelegramMode`] says — per-chat queued modes first, then
//! queued modes, then the default — 200 `{"ok":true,"result":{message}}` when accepted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::ServerThread;

/// The bot token the fake serves.
pub const BOT_TOKEN: &str = "123456789:AAEtelegram-token-never-printed";

/// Telegram's limit on a message's text after entity parsing.
pub const MAX_TEXT: usize = 4096;

/// How the fake answers a valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelegramMode {
    /// 200 with the sent message.
    Accept,
    /// 429 `Too Many Requests: retry after N` with `parameters.retry_after` (and the header
    /// when `header`).
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// 403 `Forbidden: bot was blocked by the user`.
    Blocked,
    /// 502 Bad Gateway (Telegram's own front answers so when the API is down).
    ServerError,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct TelegramRequest {
    /// The path.
    pub path: String,
    /// The JSON body (`Null` when not JSON).
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// The description answered, on failure.
    pub description: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

impl TelegramRequest {
    /// The chat, as text.
    pub fn chat(&self) -> String {
        match &self.body["chat_id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        }
    }

    /// The text sent.
    pub fn text(&self) -> &str {
        self.body["text"].as_str().unwrap_or_default()
    }

    /// True when answered 200.
    pub fn accepted(&self) -> bool {
        self.status == 200
    }
}

/// The fake's mutable state.
#[derive(Debug)]
pub struct TelegramState {
    /// The default mode.
    pub mode: TelegramMode,
    /// Modes used once each by the next valid requests.
    pub queued: VecDeque<TelegramMode>,
    /// Modes used once each by the next valid requests to one chat.
    pub per_chat: HashMap<String, VecDeque<TelegramMode>>,
    /// Chats that do not exist (400 chat not found).
    pub unknown_chats: HashSet<String>,
    /// Every request, in arrival order.
    pub requests: Vec<TelegramRequest>,
    next_id: u64,
}

/// A running fake Telegram; stops when dropped.
pub struct FakeTelegram {
    server: ServerThread,
    /// Shared state; the methods below are shortcuts.
    pub state: Arc<Mutex<TelegramState>>,
}

impl FakeTelegram {
    /// Starts the fake on `127.0.0.1:0`.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(TelegramState {
            mode: TelegramMode::Accept,
            queued: VecDeque::new(),
            per_chat: HashMap::new(),
            unknown_chats: HashSet::new(),
            requests: Vec::new(),
            next_id: 0,
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("telegram", move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .default_service(web::to(handle));
        });
        Self { server, state }
    }

    /// The `api_base` to configure.
    pub fn api_base(&self) -> String {
        self.server.base_url()
    }

    /// Sets the default mode.
    pub fn set_mode(&self, mode: TelegramMode) {
        self.state.lock().mode = mode;
    }

    /// Queues modes used once each by the next valid requests.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = TelegramMode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Queues modes used once each by the next valid requests to `chat`.
    pub fn queue_for(&self, chat: &str, modes: impl IntoIterator<Item = TelegramMode>) {
        self.state
            .lock()
            .per_chat
            .entry(chat.to_owned())
            .or_default()
            .extend(modes);
    }

    /// Makes `chat` unknown (400 chat not found).
    pub fn forget_chat(&self, chat: &str) {
        self.state.lock().unknown_chats.insert(chat.to_owned());
    }

    /// Every request, in arrival order.
    pub fn requests(&self) -> Vec<TelegramRequest> {
        self.state.lock().requests.clone()
    }

    /// The accepted messages.
    pub fn accepted(&self) -> Vec<TelegramRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.accepted())
            .collect()
    }

    /// The requests to `chat`.
    pub fn requests_to(&self, chat: &str) -> Vec<TelegramRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.chat() == chat)
            .collect()
    }

    /// Waits until at least `n` messages were accepted or `timeout` passed.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<TelegramRequest> {
        super::wait_for_len(n, timeout, || self.accepted()).await
    }

    /// Waits until at least `n` requests arrived or `timeout` passed.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<TelegramRequest> {
        super::wait_for_len(n, timeout, || self.requests()).await
    }
}

/// Parses Telegram HTML: the visible text, or why it cannot be parsed.
pub fn parse_html(html: &str) -> Result<String, String> {
    const TAGS: &[&str] = &[
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "code",
        "pre",
        "a",
        "span",
        "tg-spoiler",
        "blockquote",
    ];
    let mut out = String::new();
    let mut stack: Vec<String> = Vec::new();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        if rest.starts_with('<') {
            let end = rest.find('>').ok_or(format!(
                "Can't find end of the tag starting at byte offset {i}"
            ))?;
            let inner = &rest[1..end];
            let (closing, inner) = match inner.strip_prefix('/') {
                Some(n) => (true, n),
                None => (false, inner),
            };
            let name = inner
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if !TAGS.contains(&name.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{name}\" at byte offset {i}"
                ));
            }
            if closing {
                if stack.pop().as_deref() != Some(name.as_str()) {
                    return Err(format!(
                        "Unmatched end tag at byte offset {i}, expected \"</{}>\", found \"</{name}>\"",
                        stack.last().cloned().unwrap_or_default()
                    ));
                }
            } else {
                stack.push(name);
            }
            i += end + 1;
        } else if rest.starts_with('&') {
            let end = rest.find(';').filter(|&e| e <= 10).ok_or(format!(
                "Can't find end of the entity starting at byte offset {i}"
            ))?;
            let entity = &rest[1..end];
            let c = match entity {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                e if e.starts_with('#')
                    && e[1..].bytes().all(|b| b.is_ascii_digit())
                    && e.len() > 1 =>
                {
                    char::from_u32(e[1..].parse().unwrap_or(0)).unwrap_or('?')
                }
                _ => {
                    return Err(format!(
                        "Unsupported entity \"&{entity};\" at byte offset {i}"
                    ));
                }
            };
            out.push(c);
            i += end + 1;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            i += c.len_utf8();
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{open}\""
        ));
    }
    Ok(out)
}

fn failure(code: u16, description: &str) -> (u16, Value) {
    (
        code,
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Mutex<TelegramState>>,
) -> HttpResponse {
    let path = req.path().to_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut retry_after = None;
    let (status, answer) = {
        let mut s = state.lock();
        let chat = match &json["chat_id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        let text = json["text"].as_str().unwrap_or_default().to_owned();
        let answer = if !path.starts_with("/bot") || !path.ends_with("/sendMessage") {
            failure(404, "Not Found")
        } else if path != format!("/bot{BOT_TOKEN}/sendMessage") {
            failure(401, "Unauthorized")
        } else if chat.is_empty() {
            failure(400, "Bad Request: chat_id is empty")
        } else if text.trim().is_empty() {
            failure(400, "Bad Request: message text is empty")
        } else {
            let visible = if json["parse_mode"] == "HTML" {
                parse_html(&text)
            } else {
                Ok(text.clone())
            };
            match visible {
                Err(why) => failure(400, &format!("Bad Request: can't parse entities: {why}")),
                Ok(v) if v.chars().map(char::len_utf16).sum::<usize>() > MAX_TEXT => {
                    failure(400, "Bad Request: message is too long")
                }
                Ok(_) if s.unknown_chats.contains(&chat) => {
                    failure(400, "Bad Request: chat not found")
                }
                Ok(_) => {
                    let mode = s
                        .per_chat
                        .get_mut(&chat)
                        .and_then(VecDeque::pop_front)
                        .or_else(|| s.queued.pop_front())
                        .unwrap_or(s.mode);
                    match mode {
                        TelegramMode::Accept => {
                            s.next_id += 1;
                            (
                                200,
                                json!({"ok": true, "result": {
                                    "message_id": s.next_id,
                                    "chat": {"id": json["chat_id"]},
                                    "date": 1_795_000_000,
                                    "text": text,
                                }}),
                            )
                        }
                        TelegramMode::RateLimited { retry_after: secs } => {
                            retry_after = Some(secs);
                            let (c, mut v) =
                                failure(429, &format!("Too Many Requests: retry after {secs}"));
                            v["parameters"] = json!({"retry_after": secs});
                            (c, v)
                        }
                        TelegramMode::Blocked => {
                            failure(403, "Forbidden: bot was blocked by the user")
                        }
                        TelegramMode::ServerError => failure(502, "Bad Gateway"),
                    }
                }
            }
        };
        s.requests.push(TelegramRequest {
            path: path.clone(),
            body: json.clone(),
            status: answer.0,
            description: answer.1["description"].as_str().map(str::to_owned),
            at: Instant::now(),
        });
        answer
    };
    let mut resp = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if let Some(secs) = retry_after {
        resp.insert_header(("Retry-After", secs.to_string()));
    }
    resp.content_type("application/json")
        .body(answer.to_string())
}
