//! The OpenAPI 3.1 document of the server, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives, so it says what the server does. A route
//! added to the server is added to [`ApiDoc`]'s `paths` too (a test checks that every
//! documented path answers).

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::server::api::{acks, events, silences, status};
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
        events::list,
        silences::list,
        silences::create,
        silences::delete,
        acks::ack,
        status::status,
    ),
    components(schemas(
        error::ErrorBody,
        health::Health,
        events::EventsPage,
        events::Event,
        events::Delivery,
        events::EventKind,
        events::SeverityName,
        events::DeliveryStateName,

        silences::SilenceJson,
        silences::SilenceList,
        silences::NewSilence,
        silences::TimeValue,
        acks::AckBody,
        acks::AckJson,
        acks::IncidentJson,
        status_view::StatusReport,
        status_view::ExchangeStatus,
        status_view::EndpointStatus,
        status_view::WindowStats,
        status_view::ChartPoint,
        status_view::OpenAnomaly,
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme the write endpoints name (`[http] token_env`).
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// This document, as JSON.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "api",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(ApiDoc::openapi())
}
