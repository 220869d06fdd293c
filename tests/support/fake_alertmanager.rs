//! A fake Prometheus Alertmanager (API v2) on loopback: `POST /api/v2/alerts`.
//!
//! It validates like Alertmanager: the body must be a JSON array of alerts; each alert needs
//! at least one label, `alertname` among them, valid label names (`[a-zA-Z_][a-zA-Z0-9_]*`),
//! string values, RFC 3339 `startsAt`/`endsAt`, and `endsAt` not before `startsAt`. Like
//! Alertmanager it is best effort: the valid alerts of a batch are stored even when others
//! fail, and the answer is then 400 with a text body joining the errors. Stored alerts are
//! merged by label set (empty label values dropped): the earliest `startsAt` is kept, the
//! latest update's annotations and `endsAt` win. A valid post answers 200 with an empty body;
//! [`AmMode`] switches to a 400 text answer, a 500, or a stall.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use actix_web::{HttpRequest, HttpResponse, web};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;

use super::ServerThread;

/// A label set: the identity of an alert.
pub type LabelSet = BTreeMap<String, String>;

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmMode {
    /// Validates, stores, answers 200 (400 when some alert was invalid).
    Accept,
    /// 400 with a text body, nothing stored.
    BadRequest,
    /// 500, nothing stored.
    ServerError,
    /// Never answers (sleeps an hour), nothing stored.
    Stall,
}

/// One alert as the fake holds it after merging.
#[derive(Debug, Clone)]
pub struct StoredAlert {
    /// The identity.
    pub labels: LabelSet,
    /// The latest update's annotations.
    pub annotations: BTreeMap<String, String>,
    /// The earliest `startsAt` seen.
    pub starts_at: SystemTime,
    /// The latest update's `endsAt` (`None`: not given).
    pub ends_at: Option<SystemTime>,
    /// How many updates were merged into it.
    pub updates: usize,
}

impl StoredAlert {
    /// Firing at `now`: no `endsAt`, or one after `now`.
    pub fn firing_at(&self, now: SystemTime) -> bool {
        self.ends_at.is_none_or(|e| e > now)
    }

    /// One annotation, or "".
    pub fn annotation(&self, key: &str) -> &str {
        self.annotations.get(key).map_or("", String::as_str)
    }

    /// One label, or "".
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map_or("", String::as_str)
    }
}

/// One POST the fake saw.
#[derive(Debug, Clone)]
pub struct AmPost {
    /// The path.
    pub path: String,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body as JSON (`Null` when it was not JSON).
    pub body: Value,
    /// The status answered (0 when stalled).
    pub status: u16,
    /// The 400 text, if any.
    pub errors: String,
    /// When it arrived.
    pub at: Instant,
}

/// The fake's mutable state.
#[derive(Debug)]
pub struct AmState {
    /// How posts are answered.
    pub mode: AmMode,
    /// Every request, in arrival order.
    pub posts: Vec<AmPost>,
    /// The merged alerts, by label set.
    pub alerts: BTreeMap<LabelSet, StoredAlert>,
}

/// A running fake Alertmanager; stops when dropped.
pub struct FakeAlertmanager {
    server: ServerThread,
    /// Shared state; the methods below are shortcuts.
    pub state: Arc<Mutex<AmState>>,
}

impl FakeAlertmanager {
    /// Starts the fake on `127.0.0.1:0`.
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(AmState {
            mode: AmMode::Accept,
            posts: Vec::new(),
            alerts: BTreeMap::new(),
        }));
        let data = web::Data::from(state.clone());
        let server = ServerThread::spawn("alertmanager", move |cfg| {
            cfg.app_data(data.clone())
                .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                .default_service(web::to(handle));
        });
        Self { server, state }
    }

    /// The instance URL to configure: `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.server.base_url()
    }

    /// Sets how posts are answered.
    pub fn set_mode(&self, mode: AmMode) {
        self.state.lock().mode = mode;
    }

    /// Every request, in arrival order.
    pub fn posts(&self) -> Vec<AmPost> {
        self.state.lock().posts.clone()
    }

    /// The requests answered 200.
    pub fn accepted_posts(&self) -> Vec<AmPost> {
        self.posts()
            .into_iter()
            .filter(|p| p.status == 200)
            .collect()
    }

    /// The merged alerts, ordered by label set.
    pub fn alerts(&self) -> Vec<StoredAlert> {
        self.state.lock().alerts.values().cloned().collect()
    }

    /// Waits (polling every 10 ms) until `check` holds for the stored alerts or `timeout`
    /// passed; returns the alerts then.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        check: impl Fn(&[StoredAlert]) -> bool,
    ) -> Vec<StoredAlert> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.alerts();
            if check(&got) || Instant::now() >= deadline {
                return got;
            }
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until at least `n` posts arrived or `timeout` passed.
    pub async fn wait_for_posts(&self, n: usize, timeout: Duration) -> Vec<AmPost> {
        super::wait_for_len(n, timeout, || self.posts()).await
    }
}

fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn time(v: Option<&Value>, key: &str) -> Result<Option<SystemTime>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => humantime::parse_rfc3339_weak(s)
            .map(Some)
            .map_err(|e| format!("{key} {s:?} is not RFC 3339: {e}")),
        Some(other) => Err(format!("{key} must be a string, got {other}")),
    }
}

/// Validates one postable alert: `(labels, annotations, startsAt, endsAt)`.
type Parsed = (
    LabelSet,
    BTreeMap<String, String>,
    Option<SystemTime>,
    Option<SystemTime>,
);

fn validate(alert: &Value) -> Result<Parsed, String> {
    let obj = alert.as_object().ok_or("an alert must be an object")?;
    let labels_v = obj
        .get("labels")
        .and_then(Value::as_object)
        .ok_or("labels: required object")?;
    let mut labels = LabelSet::new();
    for (k, v) in labels_v {
        if !valid_label_name(k) {
            return Err(format!("invalid label name {k:?}"));
        }
        let v = v
            .as_str()
            .ok_or(format!("label {k}: value must be a string"))?;
        if !v.is_empty() {
            labels.insert(k.clone(), v.to_owned());
        }
    }
    if labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    if !labels.contains_key("alertname") {
        return Err("alertname label required".into());
    }
    let mut annotations = BTreeMap::new();
    if let Some(a) = obj.get("annotations") {
        let a = a.as_object().ok_or("annotations must be an object")?;
        for (k, v) in a {
            if !valid_label_name(k) {
                return Err(format!("invalid annotation name {k:?}"));
            }
            let v = v
                .as_str()
                .ok_or(format!("annotation {k}: value must be a string"))?;
            annotations.insert(k.clone(), v.to_owned());
        }
    }
    let starts = time(obj.get("startsAt"), "startsAt")?;
    let ends = time(obj.get("endsAt"), "endsAt")?;
    if let (Some(s), Some(e)) = (starts, ends)
        && e < s
    {
        return Err("start time must be before end time".into());
    }
    Ok((labels, annotations, starts, ends))
}

async fn handle(req: HttpRequest, body: Bytes, state: web::Data<Mutex<AmState>>) -> HttpResponse {
    match answer(&req, &body, &state) {
        Some(resp) => resp,
        None => {
            actix_rt::time::sleep(Duration::from_secs(3600)).await;
            HttpResponse::Ok().finish()
        }
    }
}

/// Records and judges one request; `None` means stall.
fn answer(req: &HttpRequest, body: &Bytes, state: &Mutex<AmState>) -> Option<HttpResponse> {
    let content_type = req
        .headers()
        .get("content-type")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let path = req.path().to_owned();
    let mut s = state.lock();
    let mode = s.mode;
    let mut post = AmPost {
        path: path.clone(),
        content_type: content_type.clone(),
        body: json.clone(),
        status: 0,
        errors: String::new(),
        at: Instant::now(),
    };
    let answer = if req.method() != actix_web::http::Method::POST || path != "/api/v2/alerts" {
        post.status = 404;
        HttpResponse::NotFound().finish()
    } else if !content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/json"))
    {
        post.status = 415;
        HttpResponse::UnsupportedMediaType().finish()
    } else {
        match mode {
            AmMode::BadRequest => {
                post.status = 400;
                post.errors = "bad request injected by the test".into();
                HttpResponse::BadRequest()
                    .content_type("application/json")
                    .body("\"bad request injected by the test\"")
            }
            AmMode::ServerError => {
                post.status = 500;
                HttpResponse::InternalServerError().finish()
            }
            AmMode::Stall => {
                s.posts.push(post);
                return None;
            }
            AmMode::Accept => match json.as_array() {
                None => {
                    post.status = 400;
                    post.errors = "body must be a JSON array of alerts".into();
                    HttpResponse::BadRequest().body(post.errors.clone())
                }
                Some(items) => {
                    let mut errors = Vec::new();
                    for item in items {
                        match validate(item) {
                            Err(e) => errors.push(e),
                            Ok((labels, annotations, starts, ends)) => {
                                let now = SystemTime::now();
                                let starts = starts.unwrap_or(now);
                                match s.alerts.get_mut(&labels) {
                                    Some(old) => {
                                        old.starts_at = old.starts_at.min(starts);
                                        old.annotations = annotations;
                                        old.ends_at = ends;
                                        old.updates += 1;
                                    }
                                    None => {
                                        s.alerts.insert(
                                            labels.clone(),
                                            StoredAlert {
                                                labels,
                                                annotations,
                                                starts_at: starts,
                                                ends_at: ends,
                                                updates: 1,
                                            },
                                        );
                                    }
                                }
                            }
                        }
                    }
                    if errors.is_empty() {
                        post.status = 200;
                        HttpResponse::Ok().finish()
                    } else {
                        post.status = 400;
                        post.errors = errors.join(";");
                        HttpResponse::BadRequest()
                            .content_type("application/json")
                            .body(serde_json::to_string(&post.errors).unwrap_or_default())
                    }
                }
            },
        }
    };
    s.posts.push(post);
    Some(answer)
}
