//! The OpenAPI 3.1 document of the server, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives, so it says what the server does. A route
//! added to the server is added to [`ApiDoc`]'s `paths` too (a test checks that every
//! documented path answers).

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::server::api::status;
use crate::server::{error, health, metrics};
use crate::status::view as status_view;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "exwatch",
        description = "Crypto-exchange API monitor: status, events, silences."
    ),
    paths(
        health::healthz,
        health::readyz,
        metrics::metrics,
        document,
        status::status
    ),
    components(schemas(
        error::ErrorBody,
        health::Health,
        status_view::StatusReport,
        status_view::ExchangeStatus,
        status_view::EndpointStatus,
        status_view::WindowStats,
        status_view::ChartPoint,
        status_view::OpenAnomaly
    ))
)]
pub struct ApiDoc;

/// This document, as JSON.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "api",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
