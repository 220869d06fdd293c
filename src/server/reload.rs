//! `POST /-/reload`: re-reads the configuration file and applies it (see [`crate::reload`]),
//! as `SIGHUP` does. A bearer token is required when `[http] token_env` names one. An invalid
//! file answers 400 with every problem (`field` is the first problem's key path) and changes
//! nothing; a monitor started without a file has nothing to re-read and answers 200 with no
//! change.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth::require_token;
use super::error::{ApiError, resource};
use crate::error::ConfigError;
use crate::reload::{ReloadError, ReloadReport};

/// Registers the reload route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/-/reload", "POST").route(web::post().to(reload)));
}

/// Reloads the configuration.
#[utoipa::path(post, path = "/-/reload", tag = "reload",
    responses(
        (status = 200, description = "Applied; what changed, and keys that need a restart", body = ReloadReport),
        (status = 400, description = "The file is invalid; nothing changed", body = super::error::ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = super::error::ErrorBody)))]
pub async fn reload(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_token(&req, &state)?;
    let reloader = state.reloader.clone();
    // Reading the file and starting actors is quick, but not for the server's event loop.
    let outcome = web::block(move || reloader.reload())
        .await
        .map_err(|e| ApiError::Unavailable(format!("reload did not run: {e}")))?;
    match outcome {
        Ok(report) => Ok(HttpResponse::Ok().json(report)),
        Err(ReloadError::Config(ConfigError::Invalid(problems))) => Err(ApiError::BadRequest {
            field: problems.first().map(|p| p.key.clone()),
            message: format!(
                "the configuration is invalid; nothing changed: {}",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }),
        Err(ReloadError::Config(other)) => Err(ApiError::BadRequest {
            field: None,
            message: format!("the configuration cannot be read; nothing changed: {other}"),
        }),
    }
}
