//! `/api/v1/silences`: list (`GET`), create (`POST`) and end early (`DELETE /{id}`) the
//! silences people set (see [`crate::route::silence`]). Writes need the bearer token when one
//! is configured; a new silence is stored before the Router applies it, so it survives a
//! restart from the moment it is answered.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params::{body_fields, parse_duration, parse_time, take};
use crate::messages::{Metric, Name, Timestamp, new_id};
use crate::route::silence::{MAX_COMMENT, Silence};
use crate::route::{AddSilence, ExpireSilence};
use crate::server::error::{ApiError, ErrorBody, resource};
use crate::server::{ACTOR_TIMEOUT, AppState, auth};
use crate::store::{GetSilence, SaveSilence, StoredSilences};

/// The longest `created_by`, in characters.
const MAX_CREATED_BY: usize = 200;
/// The longest exchange or endpoint name a matcher may hold.
const MAX_NAME: usize = 64;
/// The latest time a body may give in epoch ms (9999-12-31T23:59:59.999Z).
const MAX_MILLIS: i64 = 253_402_300_799_999;
/// Every metric name [`Metric::parse`] knows.
const METRICS: [&str; 7] = [
    "latency_ms",
    "errors",
    "availability",
    "price",
    "price_deviation_bps",
    "clock_skew_ms",
    "actor_restarts",
];
/// A matcher's name, as the document says it ([`name`] checks the same).
const NAME_PATTERN: &str = "^[a-z0-9_:*-]{1,64}$";
/// Some character `char::is_whitespace` is false for: what a comment needs.
const NOT_BLANK_PATTERN: &str = "[^\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/silences", "GET, POST")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(resource("/silences/{id}", "DELETE").route(web::delete().to(delete)));
}

/// A silence, as the API shows it. Times are epoch milliseconds.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SilenceJson {
    /// Its id (a ULID).
    pub id: String,
    /// Only this exchange; null: any.
    pub exchange: Option<String>,
    /// Only this endpoint; null: any.
    pub endpoint: Option<String>,
    /// Only this metric; null: any.
    pub metric: Option<String>,
    /// When it begins (epoch ms, inclusive).
    pub starts_at: i64,
    /// When it ends (epoch ms, exclusive).
    pub ends_at: i64,
    /// Why.
    pub comment: String,
    /// Who set it.
    pub created_by: Option<String>,
    /// Whether it is in force now.
    pub active: bool,
}

impl SilenceJson {
    fn new(s: &Silence, now: Timestamp) -> Self {
        Self {
            id: s.id.to_string(),
            exchange: s.exchange.as_deref().map(str::to_owned),
            endpoint: s.endpoint.as_deref().map(str::to_owned),
            metric: s.metric.map(|m| m.as_str().to_owned()),
            starts_at: s.starts_at.as_millis(),
            ends_at: s.ends_at.as_millis(),
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
            active: s.active_at(now),
        }
    }
}

/// The answer of `GET /silences`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SilenceList {
    /// Newest first.
    pub silences: Vec<SilenceJson>,
}

/// A time in a body: epoch milliseconds, or a string (RFC 3339, or a duration back from now
/// such as `"1h"`).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Describes the accepted shapes in the OpenAPI document only.
pub enum TimeValue {
    /// Epoch milliseconds.
    Millis(i64),
    /// RFC 3339, or a duration back from now.
    Text(String),
}

/// The body of `POST /silences`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Only this exchange; absent or null: any. At least one matcher is required.
    pub exchange: Option<String>,
    /// Only this endpoint; absent or null: any.
    pub endpoint: Option<String>,
    /// Only this metric (`latency_ms`, `errors`, `availability`, …); absent or null: any.
    pub metric: Option<String>,
    /// When it begins; default now.
    #[schema(value_type = Option<TimeValue>)]
    pub starts_at: Option<serde_json::Value>,
    /// When it ends; or give `duration`.
    #[schema(value_type = Option<TimeValue>)]
    pub ends_at: Option<serde_json::Value>,
    /// How long from `starts_at` (`"2h"`), instead of `ends_at`.
    pub duration: Option<String>,
    /// Why (required, at most 1000 characters).
    pub comment: Option<String>,
    /// Who sets it.
    pub created_by: Option<String>,
}

/// The query of `GET /silences`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true`: only those in force now; `false`: only those not (over, or still to begin).
    #[param(value_type = Option<bool>)]
    pub active: Option<String>,
}

fn time_value(
    field: &str,
    v: &Option<serde_json::Value>,
    now: Timestamp,
) -> Result<Option<Timestamp>, ApiError> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .filter(|ms| (0..=MAX_MILLIS).contains(ms))
            .map(|ms| Some(Timestamp(ms)))
            .ok_or_else(|| {
                ApiError::field(
                    field,
                    format!("epoch milliseconds must be an integer from 0 to {MAX_MILLIS}"),
                )
            }),
        Some(serde_json::Value::String(s)) => parse_time(field, s, now).map(Some),
        Some(_) => Err(ApiError::field(
            field,
            "expected epoch milliseconds or an RFC 3339 string",
        )),
    }
}

fn name(field: &str, v: &Option<String>) -> Result<Option<Name>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    let ok = !v.is_empty()
        && v.len() <= MAX_NAME
        && v.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b':' | b'*')
        });
    if !ok {
        return Err(ApiError::field(
            field,
            format!("must be 1 to {MAX_NAME} characters of [a-z0-9_-:*]"),
        ));
    }
    Ok(Some(Name::from(v.as_str())))
}

impl NewSilence {
    /// Reads the body field by field, so that every error names its field.
    pub fn from_json(body: serde_json::Value) -> Result<Self, ApiError> {
        let mut f = body_fields(
            body,
            &[
                "exchange",
                "endpoint",
                "metric",
                "starts_at",
                "ends_at",
                "duration",
                "comment",
                "created_by",
            ],
        )?;
        Ok(Self {
            exchange: take(&mut f, "exchange")?,
            endpoint: take(&mut f, "endpoint")?,
            metric: take(&mut f, "metric")?,
            starts_at: take(&mut f, "starts_at")?,
            ends_at: take(&mut f, "ends_at")?,
            duration: take(&mut f, "duration")?,
            comment: take(&mut f, "comment")?,
            created_by: take(&mut f, "created_by")?,
        })
    }

    /// The silence this body describes, validated, created at `now`.
    pub fn into_silence(self, now: Timestamp) -> Result<Silence, ApiError> {
        let exchange = name("exchange", &self.exchange)?;
        let endpoint = name("endpoint", &self.endpoint)?;
        let metric = match &self.metric {
            None => None,
            Some(m) => Some(
                Metric::parse(m)
                    .ok_or_else(|| ApiError::field("metric", format!("unknown metric {m:?}")))?,
            ),
        };
        let starts_at = time_value("starts_at", &self.starts_at, now)?.unwrap_or(now);
        let ends_at = match (time_value("ends_at", &self.ends_at, now)?, &self.duration) {
            (Some(_), Some(_)) => {
                return Err(ApiError::field(
                    "duration",
                    "give ends_at or duration, not both",
                ));
            }
            (Some(e), None) => e,
            (None, Some(d)) => starts_at.plus(parse_duration("duration", d)?),
            (None, None) => return Err(ApiError::field("ends_at", "required (or duration)")),
        };
        let comment = self
            .comment
            .ok_or_else(|| ApiError::field("comment", "required"))?;
        if comment.chars().count() > MAX_COMMENT {
            return Err(ApiError::field(
                "comment",
                format!("longer than {MAX_COMMENT} characters"),
            ));
        }
        if let Some(by) = &self.created_by
            && by.chars().count() > MAX_CREATED_BY
        {
            return Err(ApiError::field(
                "created_by",
                format!("longer than {MAX_CREATED_BY} characters"),
            ));
        }
        let silence = Silence {
            id: new_id(),
            exchange,
            endpoint,
            metric,
            starts_at,
            ends_at,
            comment,
            created_by: self.created_by,
        };
        silence
            .validate()
            .map_err(|e| ApiError::field(e.field, e.message))?;
        Ok(silence)
    }
}

/// The `TimeValue` schema: epoch ms in range, or a string [`parse_time`] takes.
pub fn time_value_schema() -> serde_json::Value {
    serde_json::json!({
        "description": "Epoch milliseconds, RFC 3339 (UTC), or a duration back from now (\"1h\").",
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": MAX_MILLIS},
            {"type": "string", "pattern": super::params::TIME_PATTERN},
        ]
    })
}

/// The `NewSilence` schema, with the rules across fields the server checks: at least one
/// matcher that is not null, and exactly one of `ends_at` and `duration`. (That `ends_at`
/// must be after `starts_at` no JSON Schema can say; it is a 400 naming `ends_at`.)
pub fn new_silence_schema() -> serde_json::Value {
    use serde_json::json;
    let name = |what: &str| {
        json!({"type": ["string", "null"], "pattern": NAME_PATTERN,
               "description": format!("Only this {what}; absent or null: any.")})
    };
    let time = |what: &str| {
        json!({"description": what,
               "anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/TimeValue"}]})
    };
    let given = |field: &str, ty: serde_json::Value| json!({"required": [field], "properties": {field: {"type": ty}}});
    let metrics: Vec<serde_json::Value> = METRICS
        .iter()
        .map(|m| json!(m))
        .chain([serde_json::Value::Null])
        .collect();
    json!({
        "type": "object",
        "description": "A silence to set. At least one matcher (exchange, endpoint, metric) \
                        is required, and exactly one of ends_at and duration.",
        "additionalProperties": false,
        "required": ["comment"],
        "properties": {
            "exchange": name("exchange"),
            "endpoint": name("endpoint"),
            "metric": {"enum": metrics, "description": "Only this metric; absent or null: any."},
            "starts_at": time("When it begins; default now."),
            "ends_at": time("When it ends (after starts_at); or give duration."),
            "duration": {"type": ["string", "null"], "pattern": super::params::DURATION_PATTERN,
                         "description": "How long from starts_at (\"2h\"), instead of ends_at."},
            "comment": {"type": "string", "minLength": 1, "maxLength": MAX_COMMENT,
                        "pattern": NOT_BLANK_PATTERN, "description": "Why."},
            "created_by": {"type": ["string", "null"], "maxLength": MAX_CREATED_BY,
                           "description": "Who sets it."},
        },
        "allOf": [
            {"anyOf": [
                given("exchange", json!("string")),
                given("endpoint", json!("string")),
                given("metric", json!("string")),
            ]},
            {"anyOf": [
                {"required": ["ends_at"],
                 "properties": {"ends_at": {"type": ["integer", "string"]},
                                "duration": {"type": "null"}}},
                {"required": ["duration"],
                 "properties": {"duration": {"type": "string"},
                                "ends_at": {"type": "null"}}},
            ]},
        ],
    })
}

/// Every silence, newest first.
#[utoipa::path(get, path = "/api/v1/silences", tag = "silences", operation_id = "list_silences",
    params(ListQuery),
    responses(
        (status = 200, description = "The silences", body = SilenceList),
        (status = 400, description = "A bad query parameter", body = ErrorBody),
        (status = 503, description = "The store did not answer", body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let active = match query.active.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::field("active", "must be true or false")),
    };
    let now = Timestamp::now();
    let silences = state
        .store
        .send(StoredSilences { active, now })
        .timeout(ACTOR_TIMEOUT)
        .await?
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(SilenceList {
        silences: silences.iter().map(|s| SilenceJson::new(s, now)).collect(),
    }))
}

/// Sets a silence: alerts it matches are recorded but not sent while it is active.
#[utoipa::path(post, path = "/api/v1/silences", tag = "silences", operation_id = "create_silence",
    request_body = NewSilence,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = SilenceJson),
        (status = 400, description = "A bad field, named", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "The store did not answer", body = ErrorBody)))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    auth::require_token(&req, &state)?;
    let now = Timestamp::now();
    let silence = NewSilence::from_json(body.into_inner())?.into_silence(now)?;
    // Stored first: what the API confirms survives a restart.
    state
        .store
        .send(SaveSilence(silence.clone()))
        .timeout(ACTOR_TIMEOUT)
        .await?
        .map_err(ApiError::Unavailable)?;
    state
        .router
        .send(AddSilence(silence.clone()))
        .timeout(ACTOR_TIMEOUT)
        .await?;
    Ok(HttpResponse::Created().json(SilenceJson::new(&silence, now)))
}

/// Ends a silence now; series it held back that still fire alert at once.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "silences", operation_id = "end_silence",
    params(("id" = String, Path, description = "The silence's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The silence, ended now (or as it ended before)", body = SilenceJson),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such silence", body = ErrorBody),
        (status = 503, description = "The store did not answer", body = ErrorBody)))]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    auth::require_token(&req, &state)?;
    let id = Name::from(id.into_inner());
    let now = Timestamp::now();
    let ended = state
        .router
        .send(ExpireSilence {
            id: id.clone(),
            at: now,
        })
        .timeout(ACTOR_TIMEOUT)
        .await?;
    let silence = match ended {
        Some(s) => {
            state
                .store
                .send(SaveSilence(s.clone()))
                .timeout(ACTOR_TIMEOUT)
                .await?
                .map_err(ApiError::Unavailable)?;
            s
        }
        // Not in force any more: answer it as it is, if it exists at all.
        None => state
            .store
            .send(GetSilence(id.clone()))
            .timeout(ACTOR_TIMEOUT)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("no silence {id}")))?,
    };
    Ok(HttpResponse::Ok().json(SilenceJson::new(&silence, now)))
}
