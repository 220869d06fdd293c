//! A fake OpenAI-compatible chat-completions server on loopback. It checks what OpenAI checks
//! — `POST /v1/chat/completions`, `Authorization: Bearer <key>`, a JSON body with `model` and a
//! non-empty `messages` array — answers a realistic `chat.completion` (or OpenAI's error
//! envelope), and records every request (its prompts included). Its [`ModelMode`] switches it
//! to stalling, rate limiting, quota errors, 5xx, `content: null`, refusals and garbage.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::ServerThread;

/// The answer the fake model gives by default.
pub const ANSWER: &str = "Cause: the exchange is throttling this IP after a burst of requests.\n\
Action: pause non-essential polling and fail over to the backup venue.\n\
Prevention: spread request weight and watch the used-weight headers.";

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelMode {
    /// 200 with a `chat.completion` whose content is the state's `answer`.
    Answer,
    /// Holds the request until [`FakeOpenAi::release`] (at most a minute), then answers.
    Hold,
    /// Never answers (sleeps an hour).
    Stall,
    /// 429 `rate_limit_exceeded` with `retry-after` (seconds) and `retry-after-ms`.
    RateLimited {
        /// `retry-after`, seconds.
        retry_after_secs: u64,
        /// `retry-after-ms`, when sent.
        retry_after_ms: Option<u64>,
    },
    /// 429 `insufficient_quota` (a billing problem: never worth a retry).
    InsufficientQuota,
    /// 500 with OpenAI's error envelope.
    ServerError,
    /// 200, `content: null`.
    NullContent,
    /// 200, `content: null` and a `refusal`.
    Refusal,
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with a 1 MiB body.
    Huge,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct ModelRequest {
    /// Path, without query string.
    pub path: String,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Value::Null` when it was not JSON).
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
    /// The status answered (0 while held or stalled).
    pub status: u16,
}

impl ModelRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The content of the message with `role` (`system`, `user`).
    pub fn message(&self, role: &str) -> String {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["role"] == role)
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_owned()
    }
}

/// The shared state of a [`FakeOpenAi`].
#[derive(Debug)]
pub struct ModelState {
    /// The API key it accepts.
    pub key: String,
    /// How requests are answered.
    pub mode: ModelMode,
    /// Modes used once each, in order, by the next requests (before `mode`).
    pub queued: VecDeque<ModelMode>,
    /// The content of a successful answer.
    pub answer: String,
    /// Held requests may go.
    pub released: bool,
    /// Every request, in arrival order.
    pub requests: Vec<ModelRequest>,
}

/// A running fake model server; stops when dropped.
pub struct FakeOpenAi {
    server: ServerThread,
    /// The state the server reads and writes.
    pub state: Arc<Mutex<ModelState>>,
}

impl FakeOpenAi {
    /// Starts a fake accepting `key`, on `127.0.0.1:0`.
    pub fn start(key: &str) -> Self {
        let state = Arc::new(Mutex::new(ModelState {
            key: key.to_owned(),
            mode: ModelMode::Answer,
            queued: VecDeque::new(),
            answer: ANSWER.to_owned(),
            released: false,
            requests: Vec::new(),
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("openai", move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(4 * 1024 * 1024))
                .default_service(web::to(handle));
        });
        Self { server, state }
    }

    /// `http://127.0.0.1:<port>/v1`: the `base_url` to configure.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.base_url())
    }

    /// Sets how requests are answered.
    pub fn set_mode(&self, mode: ModelMode) {
        self.state.lock().mode = mode;
    }

    /// Queues modes used once each by the next requests.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = ModelMode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Forgets the modes queued and not yet used.
    pub fn clear_queue(&self) {
        self.state.lock().queued.clear();
    }

    /// Lets held requests answer.
    pub fn release(&self) {
        self.state.lock().released = true;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ModelRequest> {
        self.state.lock().requests.clone()
    }

    /// Waits (polling every 10 ms) until at least `n` requests arrived or `timeout` passed.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ModelRequest> {
        super::wait_for_len(n, timeout, || self.requests()).await
    }
}

fn error(status: StatusCode, message: &str, kind: &str, code: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("x-request-id", "req_fake"))
        .json(json!({"error": {"message": message, "type": kind, "param": null, "code": code}}))
}

fn completion(content: Value, refusal: Value, model: &Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("x-request-id", "req_fake"))
        .insert_header(("x-ratelimit-remaining-requests", "499"))
        .json(json!({
            "id": "chatcmpl-fake123",
            "object": "chat.completion",
            "created": 1_753_089_300,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": refusal},
                "finish_reason": "stop",
                "logprobs": null
            }],
            "usage": {"prompt_tokens": 41, "completion_tokens": 14, "total_tokens": 55}
        }))
}

/// What OpenAI would refuse before any model runs, if anything.
fn check(req: &HttpRequest, body: &Value, key: &str) -> Option<HttpResponse> {
    if req.method() != actix_web::http::Method::POST || req.path() != "/v1/chat/completions" {
        return Some(error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({} {})", req.method(), req.path()),
            "invalid_request_error",
            "unknown_url",
        ));
    }
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth != format!("Bearer {key}") {
        // Like OpenAI, it quotes the key it was given (OpenAI masks part of it; this fake
        // quotes all of it, so that a client quoting this answer would leak it).
        let given = auth.strip_prefix("Bearer ").unwrap_or(auth);
        return Some(error(
            StatusCode::UNAUTHORIZED,
            &format!("Incorrect API key provided: {given}."),
            "invalid_request_error",
            "invalid_api_key",
        ));
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let messages_ok = body["messages"].as_array().is_some_and(|m| {
        !m.is_empty()
            && m.iter()
                .all(|m| m["role"].is_string() && m["content"].is_string())
    });
    if !content_type.starts_with("application/json") || !body["model"].is_string() || !messages_ok {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
            "invalid_request_error",
            "invalid_body",
        ));
    }
    None
}

async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Mutex<ModelState>>,
) -> HttpResponse {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (index, mode, refused) = {
        let mut s = state.lock();
        let refused = check(&req, &json, &s.key);
        let mode = s.queued.pop_front().unwrap_or(s.mode);
        s.requests.push(ModelRequest {
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
            body: json.clone(),
            at: Instant::now(),
            status: 0,
        });
        (s.requests.len() - 1, mode, refused)
    };
    let resp = match refused {
        Some(resp) => resp,
        None => answer(mode, &json, &state).await,
    };
    state.lock().requests[index].status = resp.status().as_u16();
    resp
}

async fn answer(mode: ModelMode, body: &Value, state: &Mutex<ModelState>) -> HttpResponse {
    let model = &body["model"];
    let text = || Value::String(state.lock().answer.clone());
    match mode {
        ModelMode::Answer => completion(text(), Value::Null, model),
        ModelMode::Hold => {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !state.lock().released && Instant::now() < deadline {
                actix_rt::time::sleep(Duration::from_millis(10)).await;
            }
            completion(text(), Value::Null, model)
        }
        ModelMode::Stall => {
            actix_rt::time::sleep(Duration::from_secs(3600)).await;
            completion(text(), Value::Null, model)
        }
        ModelMode::RateLimited {
            retry_after_secs,
            retry_after_ms,
        } => {
            let mut r = HttpResponse::TooManyRequests();
            r.insert_header(("retry-after", retry_after_secs.to_string()));
            if let Some(ms) = retry_after_ms {
                r.insert_header(("retry-after-ms", ms.to_string()));
            }
            r.insert_header(("x-ratelimit-remaining-requests", "0"));
            r.json(json!({"error": {
                "message": "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.",
                "type": "requests", "param": null, "code": "rate_limit_exceeded"}}))
        }
        ModelMode::InsufficientQuota => error(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        ModelMode::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            "server_error",
        ),
        ModelMode::NullContent => completion(Value::Null, Value::Null, model),
        ModelMode::Refusal => completion(
            Value::Null,
            Value::String("I'm sorry, I can't help with that.".to_owned()),
            model,
        ),
        ModelMode::Garbage => HttpResponse::Ok()
            .content_type("application/json")
            .body("<html><body>502 Bad Gateway</body></html>"),
        ModelMode::Huge => HttpResponse::Ok()
            .content_type("application/json")
            .body(vec![b'x'; 1024 * 1024]),
    }
}
