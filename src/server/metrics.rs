//! `GET /metrics`: exwatch's own metrics in the Prometheus text format (0.0.4). Rendering
//! reads atomics under the registry's lock; it never waits for an actor.
//!
//! The text (≈ 2 KB per probed endpoint: 10 MB at 5 000) is streamed a piece at a time
//! ([`crate::metrics::Metrics::pieces`]), each rendered when the connection wants it: a body
//! rendered whole and handed over at once was held twice (the text and its copy in the
//! connection's write buffer), ≈ 20 MB per scrape at 5 000 endpoints.

use actix_web::body::BodyStream;
use actix_web::{HttpResponse, web};
use bytes::Bytes;

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
    let pieces = state
        .metrics
        .pieces()
        .map(|piece| Ok::<_, std::convert::Infallible>(Bytes::from(piece)));
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(BodyStream::new(futures_util::stream::iter(pieces)))
}
