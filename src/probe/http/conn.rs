//! One connection to an origin: a TCP stream, or a TLS stream over one (rustls, ALPN
//! `http/1.1` only: [`crate::client::probe_tls_config`]), and how it is opened.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::target::Target;

/// An open connection.
pub(super) enum Conn {
    Plain(TcpStream),
    /// Boxed: rustls' connection state is large, and most probes are plain or pooled.
    #[cfg(feature = "tls-rustls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    /// Name resolution or the TCP connect failed.
    #[error("connect: {0}")]
    Tcp(io::Error),
    /// The TLS handshake failed (certificate, protocol).
    #[cfg(feature = "tls-rustls")]
    #[error("TLS handshake: {0}")]
    Tls(io::Error),
}

impl Conn {
    /// Opens a connection to `target`'s origin, TLS with `tls` for HTTPS (the caller bounds
    /// the time it may take).
    pub(super) async fn open(
        target: &Target,
        #[cfg(feature = "tls-rustls")] tls: &std::sync::Arc<rustls::ClientConfig>,
    ) -> Result<Self, ConnectError> {
        let tcp = TcpStream::connect((target.host(), target.port()))
            .await
            .map_err(ConnectError::Tcp)?;
        // Requests go out in one write; no reason to let Nagle hold back a TLS record.
        let _ = tcp.set_nodelay(true);
        #[cfg(feature = "tls-rustls")]
        if let Some(name) = target.server_name() {
            let tls = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(ConnectError::Tls)?;
            return Ok(Self::Tls(Box::new(tls)));
        }
        Ok(Self::Plain(tcp))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls-rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls-rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls-rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "tls-rustls")]
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls-rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls-rustls")]
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
