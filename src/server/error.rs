//! The API's errors, as JSON: `{"error": "<code>", "message": "<text>", "field": "<name>"}`.
//!
//! Bad query strings, paths and bodies answer 400 naming the field where serde says which;
//! bodies over [`MAX_BODY`](super::MAX_BODY) 413; unknown routes 404; a known path asked with
//! another method 405 with an `Allow` header ([`resource`]); an actor that does not answer in
//! time 503.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;

/// Why a request failed.
#[derive(Debug, Error)]
pub enum ApiError {
    /// A parameter or body field is wrong.
    #[error("{message}")]
    BadRequest {
        /// The parameter or field, when known.
        field: Option<String>,
        /// What is wrong with it.
        message: String,
    },
    /// A write endpoint was called without the right bearer token.
    #[error("missing or wrong bearer token")]
    Unauthorized,
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The body is larger than the server accepts.
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// An actor or the store could not answer.
    #[error("{0}")]
    Unavailable(String),
    /// The request conflicts with the current state (an incident no longer open).
    #[error("{0}")]
    Conflict(String),
    /// The path exists but not with this method.
    #[error("{method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method asked for.
        method: String,
        /// The methods the path answers, as in the `Allow` header.
        allow: &'static str,
    },
}

impl ApiError {
    /// A 400 about `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooLarge(_) => "payload_too_large",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Conflict(_) => "conflict",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `bad_request`, `unauthorized`, `not_found`, `payload_too_large`,
    /// `unavailable`, `conflict`, `method_not_allowed`.
    pub error: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// The query parameter or body field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let field = match self {
            ApiError::BadRequest { field, .. } => field.clone(),
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if let ApiError::MethodNotAllowed { allow, .. } = self {
            response.insert_header((actix_web::http::header::ALLOW, *allow));
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.to_string(),
            field,
        })
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        ApiError::Unavailable(format!("the monitor did not answer: {e}"))
    }
}

/// The field serde complained about: the name in backquotes of its message ("missing field
/// `end`", "unknown field `x`"), or the text before the first colon of a query error.
fn field_of(message: &str) -> Option<String> {
    // Only these messages quote a field's name; others quote a value ("invalid type:
    // integer `5`").
    if !["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|p| message.starts_with(p))
    {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// JSON bodies: at most [`MAX_BODY`](super::MAX_BODY) bytes; errors as [`ApiError`].
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(super::MAX_BODY)
        .error_handler(|e, _req| {
            match e {
                JsonPayloadError::Overflow { limit }
                | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::TooLarge(limit),
                JsonPayloadError::ContentType => ApiError::BadRequest {
                    field: None,
                    message: "expected Content-Type: application/json".into(),
                },
                JsonPayloadError::Deserialize(d) => {
                    let message = d.to_string();
                    ApiError::BadRequest {
                        field: field_of(&message),
                        message,
                    }
                }
                other => ApiError::BadRequest {
                    field: None,
                    message: other.to_string(),
                },
            }
            .into()
        })
}

/// Query strings: errors as [`ApiError`] naming the parameter.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e, _req| {
        let message = match &e {
            QueryPayloadError::Deserialize(d) => d.to_string(),
            other => other.to_string(),
        };
        ApiError::BadRequest {
            field: field_of(&message),
            message: format!("bad query string: {message}"),
        }
        .into()
    })
}

/// Path segments: errors as [`ApiError`].
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e, _req| {
        let message = match &e {
            PathError::Deserialize(d) => d.to_string(),
            other => other.to_string(),
        };
        ApiError::BadRequest {
            field: field_of(&message),
            message: format!("bad path: {message}"),
        }
        .into()
    })
}

/// Every route nothing else matched.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}

/// A resource at `path` whose routes the caller adds; any other method answers 405 with
/// `Allow: <allow>` and a JSON body (not the 404 of an unknown path).
pub fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move |req: HttpRequest| async move {
        ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allow,
        }
        .error_response()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_comes_from_serdes_message() {
        assert_eq!(
            field_of("missing field `end` at line 1 column 2").as_deref(),
            Some("end")
        );
        assert_eq!(field_of("expected a number"), None);
    }
}
