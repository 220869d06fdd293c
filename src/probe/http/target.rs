//! What a probe's URL comes down to, prepared once per endpoint: the origin to connect to
//! (scheme, host, port) and the bytes of its GET request.

use crate::client::{TransportError, USER_AGENT};

/// Where connections go: one pool key of a [`super::ProbeClient`].
#[derive(Debug, Clone)]
pub(super) struct Origin {
    /// HTTPS.
    pub tls: bool,
    /// The host to resolve or the IP literal (IPv6 without its brackets).
    pub host: Box<str>,
    pub port: u16,
    /// The name the server's certificate must carry (HTTPS only).
    #[cfg(feature = "tls-rustls")]
    pub server_name: Option<rustls::pki_types::ServerName<'static>>,
}

impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.tls == other.tls && self.port == other.port && self.host == other.host
    }
}

/// One endpoint's GET, ready to send on any connection to its origin.
#[derive(Debug)]
pub struct Target {
    pub(super) origin: Origin,
    /// The whole request: request line and headers.
    pub(super) request: Box<[u8]>,
}

impl Target {
    /// Prepares a GET of `url` (absolute, `http` or `https`). Errors name the kind of problem,
    /// never the URL.
    pub fn get(url: &str) -> Result<Self, TransportError> {
        let uri: awc::http::Uri = url
            .parse()
            .map_err(|_| TransportError::Request("invalid URL".into()))?;
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => return Err(TransportError::Request("not an http(s) URL".into())),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| TransportError::Request("URL without a host".into()))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(TransportError::Request("URL without a host".into()));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        #[cfg(feature = "tls-rustls")]
        let server_name = if tls {
            Some(
                rustls::pki_types::ServerName::try_from(bare.to_owned())
                    .map_err(|_| TransportError::Request("invalid TLS server name".into()))?,
            )
        } else {
            None
        };
        #[cfg(not(feature = "tls-rustls"))]
        if tls {
            return Err(TransportError::Request(
                "https is not supported by this build".into(),
            ));
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.is_empty() { "/" } else { path };
        // `Host` as written in the URL (port only when given), without any user information.
        let host_header = match authority.port() {
            Some(p) => format!("{host}:{}", p.as_str()),
            None => host.to_owned(),
        };
        // No `Accept-Encoding` but identity: a probe has no use for compression, exchanges
        // answer uncompressed when not asked, and `max_body_bytes` bounds the bytes as they
        // arrive. (awc asked for gzip and inflated it.)
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {USER_AGENT}\r\n\
             Accept: */*\r\nAccept-Encoding: identity\r\n\r\n"
        );
        Ok(Self {
            origin: Origin {
                tls,
                host: bare.into(),
                port,
                #[cfg(feature = "tls-rustls")]
                server_name,
            },
            request: request.into_bytes().into_boxed_slice(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_and_origin() {
        let t = Target::get("http://user:pw@example.com:8080/api/v3/time?x=1#frag").unwrap();
        let req = std::str::from_utf8(&t.request).unwrap();
        assert!(
            req.starts_with("GET /api/v3/time?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"),
            "{req}"
        );
        assert!(req.contains(&format!("User-Agent: {USER_AGENT}\r\n")));
        assert!(req.ends_with("\r\n\r\n") && !req.contains("pw"));
        assert_eq!(
            (&*t.origin.host, t.origin.port, t.origin.tls),
            ("example.com", 8080, false)
        );
    }

    #[test]
    fn defaults_and_ipv6() {
        let t = Target::get("http://[::1]").unwrap();
        assert!(t.request.starts_with(b"GET / HTTP/1.1\r\nHost: [::1]\r\n"));
        assert_eq!((&*t.origin.host, t.origin.port), ("::1", 80));
        #[cfg(feature = "tls-rustls")]
        {
            let t = Target::get("https://api.example.com/x").unwrap();
            assert_eq!((t.origin.port, t.origin.tls), (443, true));
            assert!(t.origin.server_name.is_some());
        }
    }

    #[test]
    fn bad_urls_are_request_errors_without_the_url() {
        for url in ["ftp://example.com/x", "not a url", "/relative"] {
            match Target::get(url) {
                Err(TransportError::Request(why)) => assert!(!why.contains("example"), "{why}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }
}
