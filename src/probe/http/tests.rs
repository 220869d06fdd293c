//! The probe client against tiny loopback servers writing raw bytes, plain or over TLS (a
//! test CA and a `localhost`/`127.0.0.1` certificate it signed, in `tests/data/tls/`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

#[cfg(feature = "tls-rustls")]
type Tls = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls-rustls"))]
type Tls = std::convert::Infallible;

/// What the server does with one request: the `n`-th request (from 0) of the `c`-th
/// connection (from 0).
#[derive(Clone)]
enum Act {
    /// Writes these bytes and keeps the connection.
    Reply(&'static [u8]),
    /// Writes these bytes, then closes.
    ReplyClose(&'static [u8]),
    /// Closes without answering.
    Close,
    /// Never answers (keeps the connection).
    Stall,
}

/// A loopback server answering by `script(connection, request)`; counts connections (total
/// and at once) and keeps every request it read.
struct Server {
    port: u16,
    accepted: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
    requests: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl Server {
    async fn start(script: impl Fn(usize, usize) -> Act + Clone + 'static) -> Self {
        Self::with_delay(Duration::ZERO, script).await
    }

    async fn with_delay(
        delay: Duration,
        script: impl Fn(usize, usize) -> Act + Clone + 'static,
    ) -> Self {
        Self::spawn(delay, None, script).await
    }

    /// `tls`: the server speaks TLS with this acceptor.
    async fn spawn(
        delay: Duration,
        tls: Option<Tls>,
        script: impl Fn(usize, usize) -> Act + Clone + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let now = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let (a, n, m, r) = (
            accepted.clone(),
            now.clone(),
            most_at_once.clone(),
            requests.clone(),
        );
        actix_rt::spawn(async move {
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                let c = a.fetch_add(1, Ordering::SeqCst);
                let open = n.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(open, Ordering::SeqCst);
                let (script, n, r, tls) = (script.clone(), n.clone(), r.clone(), tls.clone());
                actix_rt::spawn(async move {
                    match tls {
                        None => serve(sock, c, delay, script, r).await,
                        #[cfg(feature = "tls-rustls")]
                        Some(tls) => {
                            if let Ok(sock) = tls.accept(sock).await {
                                serve(sock, c, delay, script, r).await;
                            }
                        }
                        #[cfg(not(feature = "tls-rustls"))]
                        Some(never) => match never {},
                    }
                    n.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            port,
            accepted,
            most_at_once,
            requests,
        }
    }

    fn url(&self, path: &str) -> Rc<Target> {
        Rc::new(Target::get(&format!("http://127.0.0.1:{}{path}", self.port)).unwrap())
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut sock: impl AsyncRead + AsyncWrite + Unpin,
    c: usize,
    delay: Duration,
    script: impl Fn(usize, usize) -> Act,
    requests: Arc<parking_lot::Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    for n in 0.. {
        // One request: up to the empty line.
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0u8; 1024];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(k) => buf.extend_from_slice(&chunk[..k]),
            }
        }
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        requests
            .lock()
            .push(String::from_utf8_lossy(&buf[..end]).into_owned());
        buf.drain(..end);
        tokio::time::sleep(delay).await;
        match script(c, n) {
            Act::Reply(bytes) => {
                if sock.write_all(bytes).await.is_err() {
                    return;
                }
            }
            Act::ReplyClose(bytes) => {
                let _ = sock.write_all(bytes).await;
                let _ = sock.shutdown().await;
                return;
            }
            Act::Close => return,
            Act::Stall => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        }
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
const SECOND: Duration = Duration::from_secs(1);

#[actix_rt::test]
async fn keep_alive_reuses_one_connection() {
    let server = Server::start(|_, _| Act::Reply(OK)).await;
    let client = ProbeClient::new(4);
    let target = server.url("/api/v3/time?symbol=X");
    for _ in 0..5 {
        let reply = client.get(target.clone(), 100, SECOND).await.unwrap();
        assert_eq!(
            (reply.status, &reply.body[..]),
            (200, &b"{\"ok\":true}"[..])
        );
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(client.open_connections(), 1);
    let first = server.requests.lock()[0].clone();
    assert!(
        first.starts_with(&format!(
            "GET /api/v3/time?symbol=X HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n",
            server.port
        )),
        "{first}"
    );
}

#[actix_rt::test]
async fn chunked_answers_with_extensions_and_trailers() {
    let server = Server::start(|_, _| {
        Act::Reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              4;a=b\r\n{\"ok\r\n7\r\n\":true}\r\n0\r\nX-Checksum: 1\r\n\r\n",
        )
    })
    .await;
    let client = ProbeClient::new(1);
    for _ in 0..2 {
        let reply = client.get(server.url("/"), 100, SECOND).await.unwrap();
        assert_eq!(&reply.body[..], b"{\"ok\":true}");
    }
    assert_eq!(server.accepted(), 1);
}

#[actix_rt::test]
async fn read_until_close_bodies_and_connection_close_are_not_reused() {
    let until_close =
        Server::start(|_, _| Act::ReplyClose(b"HTTP/1.0 200 OK\r\n\r\nall of it")).await;
    let client = ProbeClient::new(1);
    for _ in 0..2 {
        let reply = client.get(until_close.url("/"), 100, SECOND).await.unwrap();
        assert_eq!(&reply.body[..], b"all of it");
    }
    assert_eq!(until_close.accepted(), 2);

    // The server says close but leaves the socket open: still not reused.
    let says_close = Server::start(|_, _| {
        Act::Reply(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    })
    .await;
    for _ in 0..2 {
        client.get(says_close.url("/"), 100, SECOND).await.unwrap();
    }
    assert_eq!(says_close.accepted(), 2);
    assert_eq!(client.open_connections(), 0);
}

#[actix_rt::test]
async fn a_stale_pooled_connection_is_retried_once_on_a_fresh_one() {
    // Every connection answers once, then the server closes it as if idle for too long.
    let server = Server::start(|_, n| if n == 0 { Act::Reply(OK) } else { Act::Close }).await;
    let client = ProbeClient::new(1);
    client.get(server.url("/"), 100, SECOND).await.unwrap();
    let reply = client.get(server.url("/"), 100, SECOND).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(server.accepted(), 2);

    // A fresh connection closed without an answer is a failure, not retried.
    let closes = Server::start(|_, _| Act::Close).await;
    let err = client
        .get(closes.url("/x?secret=1"), 100, SECOND)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, TransportError::Connect(why) if why.contains("closed without answering") && !why.contains("secret")),
        "{err}"
    );
    assert_eq!(closes.accepted(), 1);
}

#[actix_rt::test]
async fn oversized_heads_and_bodies_are_errors() {
    static HUGE: std::sync::LazyLock<&'static [u8]> = std::sync::LazyLock::new(|| {
        let mut head = b"HTTP/1.1 200 OK\r\nX-Pad: ".to_vec();
        head.resize(head.len() + MAX_HEAD + 10, b'a');
        head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        head.leak()
    });
    let huge = Server::start(|_, _| Act::Reply(*HUGE)).await;
    let client = ProbeClient::new(1);
    let err = client.get(huge.url("/"), 100, SECOND).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Connect(why) if why.contains("head")),
        "{err}"
    );

    let long = Server::start(|c, _| {
        Act::Reply(if c == 0 {
            b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234567890123456789"
        } else {
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n"
        })
    })
    .await;
    for _ in 0..2 {
        let err = client.get(long.url("/"), 10, SECOND).await.unwrap_err();
        assert_eq!(err, TransportError::TooLarge(10));
    }
}

#[actix_rt::test]
async fn a_stalled_server_times_out_within_the_deadline() {
    let server = Server::start(|_, _| Act::Stall).await;
    let client = ProbeClient::new(1);
    let start = Instant::now();
    let err = client
        .get(server.url("/"), 100, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert_eq!(err, TransportError::Timeout);
    assert!(
        start.elapsed() < Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    // The timed-out connection is gone, not pooled.
    assert_eq!(client.open_connections(), 0);
}

#[actix_rt::test]
async fn garbage_is_an_error_and_refused_is_a_connect_error() {
    let server = Server::start(|_, _| Act::ReplyClose(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")).await;
    let client = ProbeClient::new(1);
    let err = client.get(server.url("/"), 100, SECOND).await.unwrap_err();
    assert!(
        matches!(&err, TransportError::Connect(why) if why.contains("malformed")),
        "{err}"
    );

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let target = Rc::new(Target::get(&format!("http://127.0.0.1:{port}/")).unwrap());
    let err = client.get(target, 100, SECOND).await.unwrap_err();
    assert_eq!(
        err,
        TransportError::Connect(format!("127.0.0.1:{port}: refused"))
    );
}

#[actix_rt::test]
async fn interim_answers_are_skipped_and_retry_after_is_read() {
    let server = Server::start(|_, _| {
        Act::Reply(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Too Many Requests\r\n\
              Retry-After: 30\r\nContent-Length: 4\r\n\r\nslow",
        )
    })
    .await;
    let client = ProbeClient::new(1);
    let reply = client.get(server.url("/"), 100, SECOND).await.unwrap();
    assert_eq!(reply.status, 429);
    assert_eq!(reply.retry_after, Some(Duration::from_secs(30)));
    assert_eq!(&reply.body[..], b"slow");
}

#[actix_rt::test]
async fn redirects_are_reported_not_followed() {
    let server = Server::start(|_, _| {
        Act::Reply(
            b"HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:9/\r\nContent-Length: 0\r\n\r\n",
        )
    })
    .await;
    let reply = ProbeClient::new(1)
        .get(server.url("/"), 100, SECOND)
        .await
        .unwrap();
    assert_eq!(reply.status, 301);
    assert_eq!(server.accepted(), 1);
}

#[actix_rt::test]
async fn the_connection_limit_holds_under_concurrent_probes() {
    let server = Server::with_delay(Duration::from_millis(30), |_, _| Act::Reply(OK)).await;
    let client = ProbeClient::new(2);
    let target = server.url("/");
    let probes: Vec<_> = (0..8)
        .map(|_| actix_rt::spawn(client.get(target.clone(), 100, Duration::from_secs(5))))
        .collect();
    for p in probes {
        assert_eq!(p.await.unwrap().unwrap().status, 200);
    }
    assert!(server.accepted() <= 2, "{} connections", server.accepted());
    assert!(server.most_at_once.load(Ordering::SeqCst) <= 2);
    assert!(client.open_connections() <= 2);
}

#[actix_rt::test]
async fn the_limit_counts_every_host_of_the_exchange() {
    let a = Server::start(|_, _| Act::Reply(OK)).await;
    let b = Server::start(|_, _| Act::Reply(OK)).await;
    let client = ProbeClient::new(1);
    for server in [&a, &b, &a] {
        client.get(server.url("/"), 100, SECOND).await.unwrap();
        assert_eq!(client.open_connections(), 1);
    }
    // a's idle connection made room for b's, then b's for a's again.
    assert_eq!((a.accepted(), b.accepted()), (2, 1));
}

#[actix_rt::test]
async fn idle_and_old_connections_are_not_reused() {
    let server = Server::start(|_, _| Act::Reply(OK)).await;
    let target = server.url("/");
    let idle_briefly =
        ProbeClient::with_times(1, Duration::from_millis(50), Duration::from_secs(60));
    idle_briefly.get(target.clone(), 100, SECOND).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    idle_briefly.get(target.clone(), 100, SECOND).await.unwrap();
    assert_eq!(server.accepted(), 2);
    assert_eq!(idle_briefly.open_connections(), 1);

    let live_briefly =
        ProbeClient::with_times(1, Duration::from_secs(60), Duration::from_millis(50));
    live_briefly.get(target.clone(), 100, SECOND).await.unwrap();
    live_briefly.get(target.clone(), 100, SECOND).await.unwrap();
    assert_eq!(server.accepted(), 3);
    tokio::time::sleep(Duration::from_millis(120)).await;
    live_briefly.get(target, 100, SECOND).await.unwrap();
    assert_eq!(server.accepted(), 4);
    assert_eq!(live_briefly.open_connections(), 1);
}

#[cfg(feature = "tls-rustls")]
mod tls {
    use std::sync::Arc;

    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    use super::*;

    const CA: &[u8] = include_bytes!("../../../tests/data/tls/ca.der");
    const CERT: &[u8] = include_bytes!("../../../tests/data/tls/localhost.der");
    const KEY: &[u8] = include_bytes!("../../../tests/data/tls/localhost.key.der");

    fn acceptor() -> Tls {
        crate::client::install_crypto_provider();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(KEY.to_vec()));
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(CERT.to_vec())], key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    }

    /// The probe's own TLS configuration, trusting the test CA only.
    fn trusting_the_test_ca() -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(CA.to_vec())).unwrap();
        let mut config = (*crate::client::probe_tls_config()).clone();
        config.root_store_for_tests(roots);
        Arc::new(config)
    }

    trait RootsForTests {
        fn root_store_for_tests(&mut self, roots: rustls::RootCertStore);
    }

    impl RootsForTests for rustls::ClientConfig {
        /// Replaces the verifier with one of `roots`, keeping ALPN and the rest.
        fn root_store_for_tests(&mut self, roots: rustls::RootCertStore) {
            let verifier = rustls::client::WebPkiServerVerifier::builder(Arc::new(roots))
                .build()
                .unwrap();
            self.dangerous().set_certificate_verifier(verifier);
        }
    }

    fn https(server: &Server, host: &str) -> Rc<Target> {
        Rc::new(Target::get(&format!("https://{host}:{}/api?x=1", server.port)).unwrap())
    }

    #[actix_rt::test]
    async fn https_answers_reuse_one_tls_connection() {
        let server = Server::spawn(Duration::ZERO, Some(acceptor()), |_, _| Act::Reply(OK)).await;
        let client = ProbeClient::with_tls(2, trusting_the_test_ca());
        for _ in 0..3 {
            let reply = client
                .get(https(&server, "127.0.0.1"), 100, SECOND)
                .await
                .unwrap();
            assert_eq!(
                (reply.status, &reply.body[..]),
                (200, &b"{\"ok\":true}"[..])
            );
        }
        assert_eq!(server.accepted(), 1);
        let first = server.requests.lock()[0].clone();
        assert!(first.starts_with("GET /api?x=1 HTTP/1.1\r\n"), "{first}");
    }

    #[actix_rt::test]
    async fn https_read_until_close_and_stale_connections() {
        // The body ends with the TLS close; the next probe needs a new connection.
        let server = Server::spawn(Duration::ZERO, Some(acceptor()), |c, n| match (c, n) {
            (0, _) => Act::ReplyClose(b"HTTP/1.1 200 OK\r\n\r\nuntil close"),
            (1, 0) => Act::Reply(OK),
            _ => Act::Close,
        })
        .await;
        let client = ProbeClient::with_tls(1, trusting_the_test_ca());
        let reply = client
            .get(https(&server, "localhost"), 100, SECOND)
            .await
            .unwrap();
        assert_eq!(&reply.body[..], b"until close");
        client
            .get(https(&server, "localhost"), 100, SECOND)
            .await
            .unwrap();
        // Connection 1 closes without answering its second request: retried on connection 2.
        let err = client
            .get(https(&server, "localhost"), 100, SECOND)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TransportError::Connect(why) if why.contains("closed without answering")),
            "{err}"
        );
        assert_eq!(server.accepted(), 3);
    }

    #[actix_rt::test]
    async fn an_untrusted_certificate_fails_the_handshake() {
        let server = Server::spawn(Duration::ZERO, Some(acceptor()), |_, _| Act::Reply(OK)).await;
        // The webpki roots do not know the test CA.
        let client = ProbeClient::new(1);
        let err = client
            .get(https(&server, "127.0.0.1"), 100, SECOND)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, TransportError::Connect(why) if why.contains("TLS handshake")),
            "{err}"
        );
    }
}

#[actix_rt::test]
async fn exchanges_of_one_origin_keep_their_connections_together() {
    let server = Server::start(|_, _| Act::Reply(OK)).await;
    let other = Server::start(|_, _| Act::Reply(OK)).await;
    let (time, ticker) = (server.url("/time"), server.url("/ticker"));
    let elsewhere = other.url("/");
    // One-endpoint exchanges of one API, whatever their limits: one connection between them.
    let a = ProbeClient::for_targets(2, [&*time]);
    let b = ProbeClient::for_targets(3, [&*ticker]);
    assert!(a.shares_connections_with(&b));
    for (client, target) in [(&a, &time), (&b, &ticker), (&a, &time)] {
        assert_eq!(
            client
                .get(target.clone(), 100, SECOND)
                .await
                .unwrap()
                .status,
            200
        );
    }
    assert_eq!((server.accepted(), b.open_connections()), (1, 1));
    // An exchange spanning two origins keeps its own.
    let d = ProbeClient::for_targets(2, [&*time, &*elsewhere]);
    assert!(!d.shares_connections_with(&a));
    assert!(a.serves(2, [&*ticker]) && !a.serves(3, [&*ticker]) && !a.serves(2, [&*elsewhere]));
    assert!(d.serves(2, [&*elsewhere, &*time]) && !d.serves(2, [&*time]));
    // They go with the last exchange: the next one of the origin starts afresh.
    drop((a, b));
    let e = ProbeClient::for_targets(2, [&*time]);
    assert_eq!(e.open_connections(), 0);
    e.get(time.clone(), 100, SECOND).await.unwrap();
    assert_eq!(server.accepted(), 2);
}

#[actix_rt::test]
async fn an_exchange_never_waits_for_another_exchanges_requests() {
    // The first connection's first request never answers; every other one does.
    let server = Server::start(|c, n| {
        if (c, n) == (0, 0) {
            Act::Stall
        } else {
            Act::Reply(OK)
        }
    })
    .await;
    let target = server.url("/");
    let stalled = ProbeClient::for_targets(1, [&*target]);
    let healthy = ProbeClient::for_targets(1, [&*target]);
    assert!(stalled.shares_connections_with(&healthy));
    let hung = actix_rt::spawn(stalled.get(target.clone(), 100, Duration::from_secs(3)));
    while server.accepted() == 0 {
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    // The stalled exchange holds its one connection; the healthy one's limit is its own.
    let started = Instant::now();
    let reply = healthy.get(target.clone(), 100, SECOND).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(server.accepted(), 2);
    hung.abort();
}
