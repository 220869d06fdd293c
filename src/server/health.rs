//! `GET /healthz` (the process answers) and `GET /readyz` (the topology is up and the event
//! store takes writes; 503 with the reason otherwise).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::resource;
use super::{ACTOR_TIMEOUT, AppState};
use crate::messages::Ping;
use crate::store::CheckWritable;

/// How long `/readyz` waits for another connection's write lock on the store.
const STORE_LOCK_WAIT: Duration = Duration::from_millis(250);

/// Registers the health routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(readyz)));
}

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable`.
    pub status: &'static str,
    /// Why not ready, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `[cluster]`: whether the shared PostgreSQL answers. Its absence never makes the
    /// instance unready: alerting is local-first, and writes queue until it is back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterHealth>,
}

/// The shared PostgreSQL as `/readyz` reports it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClusterHealth {
    /// The last write (or connection) succeeded.
    pub up: bool,
    /// Rows waiting to be written to it.
    pub backlog: usize,
    /// Why it is not up, when not (the URL never appears).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn cluster_health(state: &AppState) -> Option<ClusterHealth> {
    state.cluster.as_ref().map(|c| ClusterHealth {
        up: c.health.is_up(),
        backlog: c.backlog.len(),
        reason: c.health.reason(),
    })
}

/// The process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process answers", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: "ok",
        reason: None,
        cluster: None,
    })
}

/// The Router answers and the store takes a write.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Not ready, with the reason", body = Health)))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match ready(&state).await {
        Ok(()) => HttpResponse::Ok().json(Health {
            status: "ok",
            reason: None,
            cluster: cluster_health(&state),
        }),
        Err(reason) => {
            tracing::warn!(%reason, "Not ready.");
            HttpResponse::ServiceUnavailable().json(Health {
                status: "unavailable",
                reason: Some(reason),
                cluster: cluster_health(&state),
            })
        }
    }
}

async fn ready(state: &AppState) -> Result<(), String> {
    state
        .router
        .send(Ping)
        .timeout(ACTOR_TIMEOUT)
        .await
        .map_err(|e| format!("the router does not answer: {e}"))?;
    state
        .store
        .send(CheckWritable {
            wait: STORE_LOCK_WAIT,
        })
        .timeout(ACTOR_TIMEOUT)
        .await
        .map_err(|e| format!("the event store does not answer: {e}"))?
        .map_err(|e| format!("the event store is not writable: {e}"))
}
