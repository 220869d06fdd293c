//! HTTP client plumbing of the awc users (channels, streams, the CLI) and what the REST
//! probe's own client ([`crate::probe::http`]) shares with them: building an awc client,
//! reading a bounded body under one deadline, the TLS configurations, what an answer comes to
//! ([`Reply`]), what went wrong ([`TransportError`]), `Retry-After`.
//!
//! `awc::Client` is `!Send` (it holds `Rc`s), so every actor builds its own inside the
//! arbiter it runs on, never moving it between threads. What can be shared is: every client
//! uses the one process-wide TLS configuration and root store ([`tls_config`]), instead of
//! awc's default of a fresh one per connector (≈ 17 KB of heap per client).

use std::time::{Duration, SystemTime};

use awc::error::{ConnectError, PayloadError, SendRequestError};
use awc::http::header::{HeaderMap, HttpDate, RETRY_AFTER};
use bytes::Bytes;

/// The `User-Agent` exwatch sends.
pub const USER_AGENT: &str = concat!("exwatch/", env!("CARGO_PKG_VERSION"));

/// Makes sure rustls has a process-level crypto provider. awc builds its TLS configuration
/// with rustls' process default as soon as a connector is created, and rustls 0.23 panics when
/// none is installed; exwatch installs ring's. If the embedding program installed one already,
/// that one stays.
pub fn install_crypto_provider() {
    #[cfg(feature = "tls-rustls")]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
    }
}

/// The process's one TLS client configuration: webpki roots, ALPN `h2` then `http/1.1` (what
/// awc's own default connector uses), its session cache shared by every client. Built on first
/// use; each call is an `Arc` clone.
#[cfg(feature = "tls-rustls")]
pub fn tls_config() -> std::sync::Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            install_crypto_provider();
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            let mut config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            std::sync::Arc::new(config)
        })
        .clone()
}

/// The probe client's TLS configuration ([`crate::probe::http`]): [`tls_config`]'s roots and
/// verifier, but ALPN `http/1.1` only (the probe speaks nothing else) and a session cache of
/// its own. Built on first use; each call is an `Arc` clone.
#[cfg(feature = "tls-rustls")]
pub fn probe_tls_config() -> std::sync::Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<std::sync::Arc<rustls::ClientConfig>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut config = (*tls_config()).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config.resumption = rustls::client::Resumption::default();
            std::sync::Arc::new(config)
        })
        .clone()
}

/// A client with at most `max_connections` open connections. Per-request timeouts are set by
/// the caller ([`fetch`] applies one deadline to the whole exchange, body included). Its TLS
/// configuration is the shared [`tls_config`].
pub fn build_client(max_connections: usize, connect_timeout: Duration) -> awc::Client {
    client(max_connections, connect_timeout, true)
}

/// A client like [`build_client`] but with no default headers of its own: awc keeps them in a
/// map per client (≈ 850 B of heap), which one client per exchange (the streams' case) pays
/// thousands of times over. The caller sets `User-Agent` on each request, which costs a
/// request no more than a default header does (awc copies those into every request).
pub fn build_lean_client(max_connections: usize, connect_timeout: Duration) -> awc::Client {
    client(max_connections, connect_timeout, false)
}

/// What every client shares: the connection limit, the shared TLS configuration, no redirects
/// and the caller's deadline; `User-Agent` as a default header when `user_agent`.
fn client(max_connections: usize, connect_timeout: Duration, user_agent: bool) -> awc::Client {
    install_crypto_provider();
    let connector = awc::Connector::new()
        .limit(max_connections.max(1))
        .timeout(connect_timeout);
    // awc's `new` has built a configuration of its own already; it is dropped here.
    #[cfg(feature = "tls-rustls")]
    let connector = connector.rustls_0_23(tls_config());
    let builder = awc::Client::builder()
        .connector(connector)
        // A redirect is reported, never followed: awc would turn a redirected POST into a
        // body-less GET (an alert "delivered" nowhere), and a probe must see what the
        // configured URL answers, not what some other URL does.
        .disable_redirects()
        // The caller's deadline governs; this only stops awc's own 5 s default from cutting in.
        .timeout(Duration::from_secs(3600));
    if user_agent {
        builder
            .add_default_header(("User-Agent", USER_AGENT))
            .finish()
    } else {
        builder.finish()
    }
}

/// Why an HTTP exchange produced no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No complete answer before the deadline.
    #[error("timed out")]
    Timeout,
    /// The connection failed, was refused or was reset.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The body was larger than allowed.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// The request itself could not be built (bad URL).
    #[error("bad request: {0}")]
    Request(String),
}

/// What came back: status, headers of interest, and the bounded body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, when present and parseable.
    pub retry_after: Option<Duration>,
    /// The body, at most the limit given to [`fetch`].
    pub body: Bytes,
}

/// Sends `req` with `body`, reads at most `max_body` bytes of the answer, all within
/// `deadline`. Never panics on hostile answers: stalls, resets and floods are errors.
pub async fn fetch(
    req: awc::ClientRequest,
    body: Option<Bytes>,
    max_body: usize,
    deadline: Duration,
) -> Result<Reply, TransportError> {
    let exchange = async {
        let sent = match body {
            Some(b) => req.send_body(b).await,
            None => req.send().await,
        };
        let mut resp = sent.map_err(|e| classify_send_error(&e))?;
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers(), SystemTime::now());
        let body = resp
            .body()
            .limit(max_body)
            .await
            .map_err(|e| classify_payload_error(&e, max_body))?;
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    };
    match actix_rt::time::timeout(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => Err(TransportError::Timeout),
    }
}

/// Classifies an awc send error.
pub fn classify_send_error(e: &SendRequestError) -> TransportError {
    match e {
        SendRequestError::Timeout => TransportError::Timeout,
        SendRequestError::Connect(ConnectError::Timeout) => TransportError::Timeout,
        SendRequestError::Url(u) => TransportError::Request(u.to_string()),
        other => TransportError::Connect(other.to_string()),
    }
}

fn classify_payload_error(e: &PayloadError, limit: usize) -> TransportError {
    match e {
        PayloadError::Overflow => TransportError::TooLarge(limit),
        other => TransportError::Connect(other.to_string()),
    }
}

/// Parses `Retry-After` (delta-seconds, possibly fractional, or an HTTP-date) relative to `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate instead of failing.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)));
    }
    let date: HttpDate = value.parse().ok()?;
    let at: SystemTime = date.into();
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a header map.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
}

/// How a remote answer is quoted in reasons and logs: `HTTP 503`, or `HTTP 503: <the start
/// of its body>` (at most 200 characters).
pub fn http_reason(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {}", bounded_text(text, 200))
    }
}

/// At most `max` characters of `text`, on a character boundary, with `…` when cut. For
/// quoting remote text (error bodies, envelope messages) into logs and alerts.
pub fn bounded_text(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn bounded_text_cuts_on_char_boundaries() {
        assert_eq!(bounded_text("héllo", 2), "hé…");
        assert_eq!(bounded_text("hi", 5), "hi");
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn retry_after_http_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_360); // 07:26:00
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        // In the past: wait no longer.
        let later = now + Duration::from_secs(3600);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", later),
            Some(Duration::ZERO)
        );
    }

    #[cfg(feature = "tls-rustls")]
    #[test]
    fn every_client_shares_one_tls_configuration() {
        assert!(std::sync::Arc::ptr_eq(&tls_config(), &tls_config()));
        let probe = probe_tls_config();
        assert!(std::sync::Arc::ptr_eq(&probe, &probe_tls_config()));
        assert_eq!(probe.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn retry_after_garbage() {
        let now = SystemTime::now();
        for v in [
            "",
            " ",
            "-5",
            "soon",
            "Wed, 99 Oct 2015 07:28:00 GMT",
            "12s",
        ] {
            assert_eq!(parse_retry_after(v, now), None, "{v:?}");
        }
    }
}
