//! What a probe's URL comes down to, prepared once per endpoint: the origin to connect to
//! (scheme, host, port) and the bytes of its GET request.

use crate::client::TransportError;

/// The headers every probe sends after its `Host`, and the blank line that ends them: one
/// static copy, sent after each endpoint's own bytes in the same write (80 B an endpoint that
/// a copy in each would cost).
///
/// No `Accept-Encoding` but identity: a probe has no use for compression, exchanges answer
/// uncompressed when not asked, and `max_body_bytes` bounds the bytes as they arrive. (awc
/// asked for gzip and inflated it.)
pub(super) const REQUEST_TAIL: &[u8] = concat!(
    "\r\nUser-Agent: ",
    "exwatch/",
    env!("CARGO_PKG_VERSION"),
    "\r\nAccept: */*\r\nAccept-Encoding: identity\r\n\r\n"
)
.as_bytes();

/// One endpoint's GET, ready to send on any connection to its origin (scheme, host, port: the
/// pool's key). The host is kept inside the request bytes (its `Host` header): one allocation
/// per endpoint.
#[derive(Debug)]
pub struct Target {
    /// The request line and the `Host` header, without its line end: [`REQUEST_TAIL`] follows.
    pub(super) request: Box<[u8]>,
    /// Where the host to resolve (or the IP literal, IPv6 without its brackets) is in `request`.
    host_at: u32,
    host_len: u32,
    port: u16,
    /// HTTPS.
    tls: bool,
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
        if tls {
            // Checked here, built at each connect (rare) rather than kept per endpoint.
            rustls::pki_types::ServerName::try_from(bare)
                .map_err(|_| TransportError::Request("invalid TLS server name".into()))?;
        }
        #[cfg(not(feature = "tls-rustls"))]
        if tls {
            return Err(TransportError::Request(
                "https is not supported by this build".into(),
            ));
        }
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.is_empty() { "/" } else { path };
        // `Host` as written in the URL (port only when given), without any user information.
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: ");
        let host_at = request.len() + usize::from(bare.len() != host.len());
        request.push_str(host);
        if let Some(p) = authority.port() {
            request.push(':');
            request.push_str(p.as_str());
        }
        let too_long = || TransportError::Request("URL too long".into());
        Ok(Self {
            host_at: u32::try_from(host_at).map_err(|_| too_long())?,
            host_len: u32::try_from(bare.len()).map_err(|_| too_long())?,
            request: request.into_bytes().into_boxed_slice(),
            port,
            tls,
        })
    }

    /// The host to resolve, or the IP literal (IPv6 without its brackets).
    pub(super) fn host(&self) -> &str {
        let at = self.host_at as usize;
        std::str::from_utf8(&self.request[at..at + self.host_len as usize]).unwrap_or_default()
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    /// HTTPS.
    pub(super) fn is_tls(&self) -> bool {
        self.tls
    }

    /// The name the server's certificate must carry, for HTTPS.
    #[cfg(feature = "tls-rustls")]
    pub(super) fn server_name(&self) -> Option<rustls::pki_types::ServerName<'static>> {
        if !self.tls {
            return None;
        }
        rustls::pki_types::ServerName::try_from(self.host().to_owned()).ok()
    }

    /// Whether connections to `other`'s origin serve this one too.
    pub(super) fn same_origin(&self, other: &Target) -> bool {
        self.tls == other.tls && self.port == other.port && self.host() == other.host()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::USER_AGENT;

    #[test]
    fn request_bytes_and_origin() {
        let t = Target::get("http://user:pw@example.com:8080/api/v3/time?x=1#frag").unwrap();
        let req = [&t.request[..], REQUEST_TAIL].concat();
        let req = std::str::from_utf8(&req).unwrap();
        assert!(
            req.starts_with("GET /api/v3/time?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"),
            "{req}"
        );
        assert!(req.contains(&format!("User-Agent: {USER_AGENT}\r\n")));
        assert!(req.ends_with("\r\n\r\n") && !req.contains("pw"));
        assert_eq!((t.host(), t.port, t.tls), ("example.com", 8080, false));
    }

    #[test]
    fn defaults_and_ipv6() {
        let t = Target::get("http://[::1]").unwrap();
        assert_eq!(&t.request[..], b"GET / HTTP/1.1\r\nHost: [::1]");
        assert_eq!((t.host(), t.port), ("::1", 80));
        #[cfg(feature = "tls-rustls")]
        {
            let t = Target::get("https://api.example.com/x").unwrap();
            assert_eq!((t.host(), t.port, t.tls), ("api.example.com", 443, true));
            assert!(t.server_name().is_some());
            assert!(!t.same_origin(&Target::get("http://api.example.com:443/").unwrap()));
            assert!(t.same_origin(&Target::get("https://api.example.com:443/y?z").unwrap()));
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
