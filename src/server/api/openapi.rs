//! The OpenAPI 3.1 document of the server, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives, so it says what the server does. A route
//! added to the server is added to [`ApiDoc`]'s `paths` too (a test checks that every
//! documented path answers).

use actix_web::HttpResponse;
use utoipa::OpenApi;

use crate::server::api::{acks, events, silences, status};
use crate::server::{error, health, metrics, reload};
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
        reload::reload,
    ),
    components(schemas(
        error::ErrorBody,
        health::Health,
        health::ClusterHealth,
        events::EventsPage,
        events::Event,
        events::Delivery,
        events::EventGroup,
        events::GroupMember,
        events::GroupUpdateName,
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
        status_view::ClusterStatus,
        status_view::ClusterExchange,
        status_view::VantageStatus,
        status_view::VantageVerdict,
        crate::reload::ReloadReport,
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
    HttpResponse::Ok().json(document_json())
}

/// The document as served: [`ApiDoc`] with the request-body schemas that utoipa's derives
/// cannot say precisely (a silence's "at least one matcher", "`ends_at` or `duration`")
/// written out by hand, so that a body the document calls valid is one the server takes.
pub fn document_json() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(serde_json::Value::as_object_mut)
    {
        schemas.insert("NewSilence".into(), silences::new_silence_schema());
        schemas.insert("TimeValue".into(), silences::time_value_schema());
    }
    // This document is an object (its own schema is OpenAPI's, not repeated here).
    if let Some(media) = doc
        .pointer_mut("/paths/~1api~1v1~1openapi.json/get/responses/200/content/application~1json")
    {
        media["schema"] = serde_json::json!({"type": "object"});
    }
    // Paths are absolute (`/api/v1/…`, `/healthz`): the server is the document's own origin.
    doc["servers"] = serde_json::json!([{"url": "/"}]);
    // Links, so a fuzzer's stateful phase can end a silence it set and ack an event it read.
    let links = [
        (
            "/paths/~1api~1v1~1silences/post/responses/201",
            "EndSilence",
            "end_silence",
            "$response.body#/id",
        ),
        (
            "/paths/~1api~1v1~1events/get/responses/200",
            "AckEvent",
            "ack",
            "$response.body#/events/0/id",
        ),
    ];
    for (response, name, operation, id) in links {
        if let Some(r) = doc.pointer_mut(response) {
            r["links"] =
                serde_json::json!({name: {"operationId": operation, "parameters": {"id": id}}});
        }
    }
    // Time parameters: the pattern (an attribute takes only a literal) of what parses.
    if let Some(params) = doc
        .pointer_mut("/paths/~1api~1v1~1events/get/parameters")
        .and_then(serde_json::Value::as_array_mut)
    {
        for p in params {
            if matches!(p["name"].as_str(), Some("since" | "until")) {
                p["schema"]["pattern"] = super::params::TIME_PATTERN.into();
            }
        }
    }
    doc
}
