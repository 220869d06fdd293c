//! The JSON API under `/api/v1`, described by the OpenAPI document it serves at
//! `/api/v1/openapi.json` ([`openapi`]). Each resource is a file: its routes, its handlers
//! (annotated with `#[utoipa::path]`) and its types (`ToSchema`).

pub mod acks;
pub mod events;
pub mod openapi;
pub mod params;
pub mod silences;
pub mod status;

use actix_web::web;

/// Registers every `/api/v1` route (the caller mounts this under the scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        super::error::resource("/openapi.json", "GET").route(web::get().to(openapi::document)),
    );
    cfg.configure(events::configure);
    cfg.configure(silences::configure);
    cfg.configure(acks::configure);
    cfg.configure(status::configure);
}
