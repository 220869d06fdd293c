//! `GET /metrics`: exwatch's own metrics in the Prometheus text format (0.0.4). Rendering
//! reads atomics under the registry's lock; it never waits for an actor.

use actix_web::{HttpResponse, web};

use super::AppState;
use super::error::resource;

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Registers `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics", "GET").route(web::get().to(metrics)));
}

/// Every metric, in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(state.metrics.render())
}
