//! A fake PagerDuty Events API v2 on loopback: `POST /v2/enqueue`.
//!
//! It validates what PagerDuty validates and answers 400 `{"status":"invalid event","message":
//! "Event object is invalid","errors":[…]}`: a body that is not a JSON object; a `routing_key`
//! not 32 characters long; an `event_action` other than trigger, acknowledge or resolve; a
//! missing `dedup_key` on acknowledge or resolve (or one over 255 characters); a trigger without
//! `payload.summary` (≤ 1,024), `payload.source` or a `payload.severity` of critical, error,
//! warning or info. A routing key other than [`ROUTING_KEY`] is 400 "Invalid routing key". Then
//! it answers as its [`PagerDutyMode`] says — queued modes first, then the default — 202 with
//! the `dedup_key` when accepted, and keeps PagerDuty's incidents: one per `dedup_key`,
//! triggered, acknowledged or resolved.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{Value, json};

use super::ServerThread;

/// The integration's routing key.
pub const ROUTING_KEY: &str = "R0123456789abcdefNEVERPRINTED012";

/// How the fake answers a valid event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagerDutyMode {
    /// 202 Event processed.
    Accept,
    /// 429 throttled, with `Retry-After` when given.
    RateLimited {
        /// Seconds, if any.
        retry_after_secs: Option<u64>,
    },
    /// 500.
    ServerError,
}

/// One incident as PagerDuty keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    /// The latest severity triggered.
    pub severity: String,
    /// How many events it got.
    pub events: usize,
}

/// One request the fake saw.
#[derive(Debug, Clone)]
pub struct PagerDutyRequest {
    /// The JSON body.
    pub body: Value,
    /// The status answered.
    pub status: u16,
    /// The answer.
    pub answer: Value,
    /// When it arrived.
    pub at: Instant,
}

/// The fake's mutable state.
#[derive(Debug)]
pub struct PagerDutyState {
    /// The default mode.
    pub mode: PagerDutyMode,
    /// Modes used once each by the next valid events.
    pub queued: VecDeque<PagerDutyMode>,
    /// Every request.
    pub requests: Vec<PagerDutyRequest>,
    /// The incidents by dedup key.
    pub incidents: BTreeMap<String, Incident>,
}

/// A running fake PagerDuty; stops when dropped.
pub struct FakePagerDuty {
    server: ServerThread,
    /// Shared state.
    pub state: Arc<Mutex<PagerDutyState>>,
}

impl FakePagerDuty {
    /// Starts the fake on `127.0.0.1:0`.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(PagerDutyState {
            mode: PagerDutyMode::Accept,
            queued: VecDeque::new(),
            requests: Vec::new(),
            incidents: BTreeMap::new(),
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("pagerduty", move |cfg| {
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
    pub fn set_mode(&self, mode: PagerDutyMode) {
        self.state.lock().mode = mode;
    }

    /// Queues modes used once each by the next valid events.
    pub fn queue_modes(&self, modes: impl IntoIterator<Item = PagerDutyMode>) {
        self.state.lock().queued.extend(modes);
    }

    /// Every request.
    pub fn requests(&self) -> Vec<PagerDutyRequest> {
        self.state.lock().requests.clone()
    }

    /// The accepted events.
    pub fn accepted(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 202)
            .map(|r| r.body)
            .collect()
    }

    /// The incidents, by dedup key.
    pub fn incidents(&self) -> BTreeMap<String, Incident> {
        self.state.lock().incidents.clone()
    }

    /// Waits until at least `n` events were accepted or `timeout` passed.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Value> {
        super::wait_for_len(n, timeout, || self.accepted()).await
    }
}

/// Why PagerDuty would refuse this event, if it would.
pub fn invalid(e: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if !e.is_object() {
        return vec!["Event object is not a JSON object".into()];
    }
    if e["routing_key"].as_str().map(|k| k.chars().count()) != Some(32) {
        errors.push("Length of 'routing_key' is incorrect (should be 32 characters)".into());
    }
    let action = e["event_action"].as_str().unwrap_or_default();
    if !["trigger", "acknowledge", "resolve"].contains(&action) {
        errors.push(
            "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)".into(),
        );
    }
    let dedup = e["dedup_key"].as_str().unwrap_or_default();
    if dedup.chars().count() > 255 {
        errors.push("'dedup_key' is too long (maximum is 255 characters)".into());
    }
    if matches!(action, "acknowledge" | "resolve") && dedup.trim().is_empty() {
        errors.push("'dedup_key' is missing or blank".into());
    }
    if action == "trigger" {
        let p = &e["payload"];
        let summary = p["summary"].as_str().unwrap_or_default();
        if summary.trim().is_empty() {
            errors.push("'payload.summary' is missing or blank".into());
        } else if summary.chars().count() > 1024 {
            errors.push("'payload.summary' is too long (maximum is 1024 characters)".into());
        }
        if p["source"].as_str().is_none_or(|s| s.trim().is_empty()) {
            errors.push("'payload.source' is missing or blank".into());
        }
        if !["critical", "error", "warning", "info"]
            .contains(&p["severity"].as_str().unwrap_or_default())
        {
            errors.push(
                "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
                    .into(),
            );
        }
    }
    errors
}

fn invalid_event(errors: Vec<String>) -> (u16, Value) {
    (
        400,
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

async fn handle(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Mutex<PagerDutyState>>,
) -> HttpResponse {
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut retry_after = None;
    let (status, answer) = {
        let mut s = state.lock();
        let answer = if req.method() != actix_web::http::Method::POST || req.path() != "/v2/enqueue"
        {
            (404, json!({"status": "not found"}))
        } else {
            let errors = invalid(&json);
            if !errors.is_empty() {
                invalid_event(errors)
            } else if json["routing_key"] != ROUTING_KEY {
                invalid_event(vec!["Invalid routing key".into()])
            } else {
                match s.queued.pop_front().unwrap_or(s.mode) {
                    PagerDutyMode::Accept => {
                        let action = json["event_action"].as_str().unwrap_or_default();
                        let key = json["dedup_key"]
                            .as_str()
                            .map_or_else(|| format!("pd-{}", s.requests.len()), str::to_owned);
                        let severity = json["payload"]["severity"].as_str().unwrap_or_default();
                        let known = s.incidents.contains_key(&key);
                        match action {
                            "trigger" => {
                                let i = s.incidents.entry(key.clone()).or_insert(Incident {
                                    status: "triggered".into(),
                                    severity: severity.into(),
                                    events: 0,
                                });
                                if i.status == "resolved" {
                                    i.status = "triggered".into();
                                }
                                i.severity = severity.into();
                                i.events += 1;
                            }
                            // An acknowledge or resolve of an unknown key changes nothing.
                            _ if known => {
                                let i = s.incidents.get_mut(&key).expect("known");
                                i.events += 1;
                                if i.status != "resolved" {
                                    i.status = if action == "resolve" {
                                        "resolved"
                                    } else {
                                        "acknowledged"
                                    }
                                    .into();
                                }
                            }
                            _ => {}
                        }
                        (
                            202,
                            json!({"status": "success", "message": "Event processed", "dedup_key": key}),
                        )
                    }
                    PagerDutyMode::RateLimited { retry_after_secs } => {
                        retry_after = retry_after_secs;
                        (
                            429,
                            json!({"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."}),
                        )
                    }
                    PagerDutyMode::ServerError => (500, json!({"status": "error"})),
                }
            }
        };
        s.requests.push(PagerDutyRequest {
            body: json.clone(),
            status: answer.0,
            answer: answer.1.clone(),
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
