//! Reads a running instance's `GET /api/v1/status` over HTTP, for `exwatch status`: bounded
//! body, bounded time, typed errors.

use std::net::SocketAddr;
use std::time::Duration;

use super::view::StatusReport;

/// The largest status answer read, in bytes (an hour of charts for a few hundred endpoints).
pub const MAX_STATUS_BODY: usize = 16 * 1024 * 1024;

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Nothing answered (refused, unresolvable, timed out).
    #[error("cannot reach exwatch at {url}: {reason}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// It answered with an error status.
    #[error("{url} answered HTTP {status}: {detail}")]
    Status {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer.
        detail: String,
    },
    /// It answered something that is not a status report.
    #[error("{url} answered something that is not an exwatch status: {reason}")]
    BadBody {
        /// The URL asked.
        url: String,
        /// Why it could not be read.
        reason: String,
    },
}

/// The base URL of the instance listening on `listen` (an unspecified address such as
/// `0.0.0.0` is reached on loopback).
pub fn base_url_for(listen: SocketAddr) -> String {
    let ip = if listen.ip().is_unspecified() {
        match listen {
            SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        listen.ip()
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// The status URL under `base` (`http://host:port` or a URL already ending in
/// `/api/v1/status`).
pub fn status_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/api/v1/status") {
        base.to_owned()
    } else {
        format!("{base}/api/v1/status")
    }
}

/// Fetches the status of the instance at `base`, within `timeout`. Runs inside an actix
/// System (awc).
pub async fn fetch_status(base: &str, timeout: Duration) -> Result<StatusReport, FetchError> {
    let url = status_url(base);
    // One deadline for the whole exchange, body included.
    match actix_rt::time::timeout(timeout, fetch_within(url.clone(), timeout)).await {
        Ok(result) => result,
        Err(_) => Err(FetchError::Unreachable {
            url,
            reason: format!(
                "no complete answer within {}",
                humantime::format_duration(timeout)
            ),
        }),
    }
}

async fn fetch_within(url: String, timeout: Duration) -> Result<StatusReport, FetchError> {
    let client = crate::client::build_client(1, timeout);
    let mut reply = client
        .get(&url)
        .timeout(timeout)
        .insert_header(("Accept", "application/json"))
        .send()
        .await
        .map_err(|e| FetchError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let body = reply
        .body()
        .limit(MAX_STATUS_BODY)
        .await
        .map_err(|e| FetchError::BadBody {
            url: url.clone(),
            reason: e.to_string(),
        })?;
    let status = reply.status().as_u16();
    if !reply.status().is_success() {
        return Err(FetchError::Status {
            url,
            status,
            detail: crate::client::http_reason(status, &body),
        });
    }
    serde_json::from_slice(&body).map_err(|e| FetchError::BadBody {
        url,
        reason: e.to_string(),
    })
}
