//! `POST /api/v1/alerts/{id}/ack`: acknowledges the open incident an alert belongs to, so it
//! gets no more reminders (an escalation still notifies; its resolved still goes out). The
//! alert is looked up in the store (404 when unknown), the Router judges whether its incident
//! is open (409 when not), and the ack is stored. Channels that track incidents themselves
//! (PagerDuty) are told, once per incident.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::params::{body_fields, read_body, take};
use crate::messages::{Name, Timestamp};
use crate::route::{Ack, AckError};
use crate::server::error::{ApiError, ErrorBody, resource};
use crate::server::{ACTOR_TIMEOUT, AppState, auth};
use crate::store::{AckRecord, GetAlert, RecordAck};

/// The longest `comment` or `by`, in characters.
const MAX_TEXT: usize = 1000;

/// Registers the route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/alerts/{id}/ack", "POST").route(web::post().to(ack)));
}

/// The optional body of an ack.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Why, or what is being done.
    pub comment: Option<String>,
    /// Who acknowledges.
    pub by: Option<String>,
}

/// The incident an ack is about.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentJson {
    /// The series' exchange.
    pub exchange: String,
    /// The series' endpoint.
    pub endpoint: String,
    /// The series' metric.
    pub metric: String,
    /// When the episode began (epoch ms).
    pub started_at: i64,
    /// The highest severity so far.
    pub severity: String,
    /// Always true in this answer.
    pub acked: bool,
    /// When it was first acknowledged (epoch ms).
    pub acked_at: i64,
    /// Whether every alert of it so far was silenced.
    pub silenced: bool,
}

/// The answer of an ack.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AckJson {
    /// The alert acknowledged.
    pub id: String,
    /// When (epoch ms).
    pub acked_at: i64,
    /// Its incident.
    pub incident: IncidentJson,
}

fn body_of(bytes: &[u8]) -> Result<AckBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(AckBody::default());
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| ApiError::BadRequest {
            field: None,
            message: format!("the body is not JSON: {e}"),
        })?;
    // `null` is the document's "no body" too.
    if value.is_null() {
        return Ok(AckBody::default());
    }
    let mut f = body_fields(value, &["comment", "by"])?;
    let body = AckBody {
        comment: take(&mut f, "comment")?,
        by: take(&mut f, "by")?,
    };
    for (field, v) in [("comment", &body.comment), ("by", &body.by)] {
        if v.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
            return Err(ApiError::field(
                field,
                format!("longer than {MAX_TEXT} characters"),
            ));
        }
    }
    Ok(body)
}

/// Acknowledges the open incident of alert `id`.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts",
    params(("id" = String, Path, description = "An alert's id, as in the webhook payload")),
    request_body(content = Option<AckBody>, description = "Optional", content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Acknowledged", body = AckJson),
        (status = 400, description = "A bad body field, named", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 404, description = "No such alert", body = ErrorBody),
        (status = 409, description = "Its incident is not open", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "The monitor did not answer", body = ErrorBody)))]
pub async fn ack(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    auth::require_token(&req, &state)?;
    let body = body_of(&read_body(payload).await?)?;
    let id = Name::from(id.into_inner());
    let alert = state
        .store
        .send(GetAlert(id.clone()))
        .timeout(ACTOR_TIMEOUT)
        .await?
        .map_err(ApiError::Unavailable)?
        .ok_or_else(|| ApiError::NotFound(format!("no alert {id}")))?;
    let at = Timestamp::now();
    let incident = state
        .router
        .send(Ack { alert, at })
        .timeout(ACTOR_TIMEOUT)
        .await?
        .map_err(|e: AckError| ApiError::Conflict(e.to_string()))?;
    state
        .store
        .send(RecordAck(AckRecord {
            alert_id: id.clone(),
            exchange: incident.series.exchange.clone(),
            endpoint: incident.series.endpoint.clone(),
            metric: incident.series.metric,
            incident_started_at: incident.started_at,
            acked_at: at,
            by: body.by,
            comment: body.comment,
        }))
        .timeout(ACTOR_TIMEOUT)
        .await?
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(AckJson {
        id: id.to_string(),
        acked_at: at.as_millis(),
        incident: IncidentJson {
            exchange: incident.series.exchange.to_string(),
            endpoint: incident.series.endpoint.to_string(),
            metric: incident.series.metric.as_str().to_owned(),
            started_at: incident.started_at.as_millis(),
            severity: incident.severity.as_str().to_owned(),
            acked: true,
            acked_at: incident.acked_at.as_millis(),
            silenced: incident.silenced,
        },
    }))
}
