//! A fake Slack incoming webhook on loopback: `POST /services/T000/B000/<token>`.
//!
//! It answers as Slack does, in plain text: another path → 404 `no_service`; a body that is
//! not JSON, or blocks beyond Slack's limits (more than 50 in a list, a `header` that is not
//! `plain_text` or over 150 characters, a `section` text over 3,000, more than 10 fields or a
//! field over 2,000, an attachment `color` that is not hex or good/warning/danger) → 400
//! `invalid_payload`; neither `text` nor blocks → 400 `no_text`. Then as its [`SlackMode`]
//! says — queued modes first, then the default — `200 ok` when accepted.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;

use super::ServerThread;

/// The webhook's token (the last path segment).
pub const SLACK_TOKEN: &str = "slack-hook-token-never-printed";

/// How the fake answers a valid request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    /// 200 `ok`.
    Accept,
    /// 429 `rate_limited` with `Retry-After`.
    RateLimited {
        /// Seconds.
        retry_after_secs: u64,
    },
    /// 500 (Slack's own trouble).
    ServerError,
    /// 403 `action_prohibited`.
    Prohibited,
    /// 404 `channel_not_found`.
    ChannelNotFound,
    /// 410 `channel_is_archived`.
    Archived,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct SlackRequest {
    /// The JSON body (`Null` when not JSON).
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// The plain-text answer.
    pub answer: String,
    /// When it arrived.
    pub at: Instant,
}

/// The fake's mutable state.
#[derive(Debug)]
pub struct SlackState {
    /// The default mode.
    pub mode: SlackMode,
    /// Modes used once each by the next valid requests.
    pub queued: VecDeque<SlackMode>,
    /// Every request.
    pub requests: Vec<SlackRequest>,
}

/// A running fake Slack webhook; stops when dropped.
pub struct FakeSlack {
    server: ServerThread,
    /// Shared state.
    pub state: Arc<Mutex<SlackState>>,
}

impl FakeSlack {
    /// Starts the fake on `127.0.0.1:0`.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(SlackState {
            mode: SlackMode::Accept,
            queued: VecDeque::new(),
            requests: Vec::new(),
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("slack", move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .default_service(web::to(handle));
        });
        Self { server, state }
    }

    /// The webhook URL to configure (a secret).
    pub fn webhook_url(&self) -> String {
        format!(
            "{}/services/T000/B000/{SLACK_TOKEN}",
            self.server.base_url()
        )
    }

    /// Sets the default mode.
    pub fn set_mode(&self, mode: SlackMode) {
        self.state.lock().mode = mode;
    }

    /// Queues modes used once each by the next valid requests.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = SlackMode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Every request.
    pub fn requests(&self) -> Vec<SlackRequest> {
        self.state.lock().requests.clone()
    }

    /// The accepted messages' bodies.
    pub fn delivered(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200)
            .map(|r| r.body)
            .collect()
    }

    /// Waits until at least `n` messages were accepted or `timeout` passed.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        super::wait_for_len(n, timeout, || self.delivered()).await
    }
}

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

/// Why Slack would refuse these blocks, if it would.
pub fn check_blocks(blocks: &Value) -> Result<(), String> {
    let Some(list) = blocks.as_array() else {
        return Err("blocks is not a list".into());
    };
    if list.len() > 50 {
        return Err("more than 50 blocks".into());
    }
    for b in list {
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text"
                    || !(1..=150).contains(&chars(&b["text"]["text"]))
                {
                    return Err("header text".into());
                }
            }
            Some("section") => {
                if !b["text"].is_null() && !(1..=3000).contains(&chars(&b["text"]["text"])) {
                    return Err("section text".into());
                }
                if let Some(fields) = b["fields"].as_array() {
                    if fields.len() > 10
                        || fields
                            .iter()
                            .any(|f| !(1..=2000).contains(&chars(&f["text"])))
                    {
                        return Err("section fields".into());
                    }
                } else if b["text"].is_null() {
                    return Err("section without text or fields".into());
                }
            }
            Some("context") => {
                let els = b["elements"].as_array().map_or(0, Vec::len);
                if !(1..=10).contains(&els) {
                    return Err("context elements".into());
                }
            }
            Some("divider") => {}
            _ => return Err("unknown block type".into()),
        }
    }
    Ok(())
}

fn color_ok(c: &Value) -> bool {
    match c.as_str() {
        None => c.is_null(),
        Some("good" | "warning" | "danger") => true,
        Some(s) => s
            .strip_prefix('#')
            .is_some_and(|h| h.len() == 6 && h.bytes().all(|b| b.is_ascii_hexdigit())),
    }
}

async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Mutex<SlackState>>,
) -> HttpResponse {
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let mut retry_after = None;
    let (status, answer) = {
        let mut s = state.lock();
        let valid = || -> Result<(), (u16, &'static str)> {
            let j = json
                .as_ref()
                .filter(|j| j.is_object())
                .ok_or((400, "invalid_payload"))?;
            let mut any_blocks = false;
            if !j["blocks"].is_null() {
                check_blocks(&j["blocks"]).map_err(|_| (400, "invalid_payload"))?;
                any_blocks = true;
            }
            for a in j["attachments"].as_array().into_iter().flatten() {
                if !color_ok(&a["color"]) {
                    return Err((400, "invalid_payload"));
                }
                if !a["blocks"].is_null() {
                    check_blocks(&a["blocks"]).map_err(|_| (400, "invalid_payload"))?;
                    any_blocks = true;
                }
            }
            if chars(&j["text"]) == 0 && !any_blocks {
                return Err((400, "no_text"));
            }
            Ok(())
        };
        let answer: (u16, &str) = if req.method() != actix_web::http::Method::POST
            || req.path() != format!("/services/T000/B000/{SLACK_TOKEN}")
        {
            (404, "no_service")
        } else if let Err(e) = valid() {
            e
        } else {
            match s.queued.pop_front().unwrap_or(s.mode) {
                SlackMode::Accept => (200, "ok"),
                SlackMode::RateLimited { retry_after_secs } => {
                    retry_after = Some(retry_after_secs);
                    (429, "rate_limited")
                }
                SlackMode::ServerError => (500, "internal_error"),
                SlackMode::Prohibited => (403, "action_prohibited"),
                SlackMode::ChannelNotFound => (404, "channel_not_found"),
                SlackMode::Archived => (410, "channel_is_archived"),
            }
        };
        s.requests.push(SlackRequest {
            body: json.clone().unwrap_or(Value::Null),
            status: answer.0,
            answer: answer.1.to_owned(),
            at: Instant::now(),
        });
        answer
    };
    let mut resp = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    if let Some(secs) = retry_after {
        resp.insert_header(("Retry-After", secs.to_string()));
    }
    resp.content_type("text/plain").body(answer)
}
