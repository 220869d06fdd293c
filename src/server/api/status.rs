//! `GET /api/v1/status`: per exchange and endpoint, the breaker, maintenance, the newest
//! probe, latency percentiles and error rate over the last 5 minutes and hour, a per-minute
//! chart of the hour, and the open anomalies. The numbers come from the shared
//! [`crate::status::StatusBoard`] (read under short locks); the open incidents and maintenance
//! windows from the Router ([`OpenIncidents`]), so a busy Router delays the answer, never the
//! reverse.

use actix_web::{HttpResponse, web};

use crate::messages::Timestamp;
use crate::route::OpenIncidents;
use crate::server::error::{ApiError, resource};
use crate::server::{ACTOR_TIMEOUT, AppState};

/// Registers the route (under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/status", "GET").route(web::get().to(status)));
}

/// The monitor's status now.
#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    responses(
        (status = 200, description = "Every exchange and endpoint", body = crate::status::StatusReport),
        (status = 503, description = "The Router did not answer in time", body = crate::server::error::ErrorBody)))]
pub async fn status(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let incidents =
        match actix_rt::time::timeout(ACTOR_TIMEOUT, state.router.send(OpenIncidents)).await {
            Ok(Ok(incidents)) => incidents,
            Ok(Err(e)) => {
                return Err(ApiError::Unavailable(format!(
                    "the Router is not running: {e}"
                )));
            }
            Err(_) => {
                return Err(ApiError::Unavailable(
                    "the Router did not answer in time".into(),
                ));
            }
        };
    let report = state.status.report(&incidents, Timestamp::now());
    Ok(HttpResponse::Ok().json(report))
}
