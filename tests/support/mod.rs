//! Loopback fakes for integration tests: a fake exchange ([`fake_exchange::FakeExchange`]), a
//! fake webhook receiver ([`fake_sink::FakeSink`]), a fake OpenAI-compatible model server
//! ([`fake_openai::FakeOpenAi`]), the LINE Messaging API ([`fake_line::FakeLine`]), a
//! Discord webhook ([`fake_discord::FakeDiscord`]), Telegram's Bot API
//! ([`fake_telegram::FakeTelegram`]), a Slack incoming webhook ([`fake_slack::FakeSlack`]) and
//! PagerDuty's Events API v2 ([`fake_pagerduty::FakePagerDuty`]).
//!
//! Each fake runs an actix-web server in its own thread with its own `actix_rt::System`, bound
//! to `127.0.0.1:0`, so it does not depend on the runtime of the test that uses it (tests run
//! inside `#[actix::test]`). Dropping the handle stops the server and joins its thread.
#![allow(dead_code)]

pub mod alertmanager_cluster;
pub mod fake_alertmanager;
pub mod fake_api;
pub mod fake_discord;
pub mod fake_exchange;
pub mod fake_line;
pub mod fake_openai;
pub mod fake_pagerduty;
pub mod fake_sink;
pub mod fake_slack;
pub mod fake_stream;
pub mod fake_telegram;
pub mod fake_twilio;
pub mod postgres;

use std::any::Any;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::thread::JoinHandle;

use actix_web::dev::{Extensions, ServerHandle};
use actix_web::{App, HttpRequest, HttpServer, web};

/// An actix-web server running on its own thread and `System`; stopped when dropped.
pub struct ServerThread {
    addr: SocketAddr,
    handle: ServerHandle,
    join: Option<JoinHandle<()>>,
}

impl ServerThread {
    /// Starts a server on `127.0.0.1:0` whose app is built by `configure`.
    pub fn spawn<F>(name: &str, configure: F) -> Self
    where
        F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let join = std::thread::Builder::new()
            .name(format!("fake-{name}"))
            .spawn(move || {
                let system = actix_rt::System::new();
                system.block_on(async move {
                    let server = HttpServer::new(move || App::new().configure(configure.clone()))
                        .workers(1)
                        .disable_signals()
                        .shutdown_timeout(0)
                        .on_connect(remember_fd)
                        .bind(("127.0.0.1", 0))
                        .expect("bind 127.0.0.1:0");
                    let addr = server.addrs()[0];
                    let server = server.run();
                    tx.send((addr, server.handle())).expect("test thread waits");
                    let _ = server.await;
                });
            })
            .expect("spawn server thread");
        let (addr, handle) = rx.recv().expect("server started");
        Self {
            addr,
            handle,
            join: Some(join),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for ServerThread {
    fn drop(&mut self) {
        // `stop` sends the command at once; its future only waits for completion.
        drop(self.handle.stop(false));
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

/// The raw socket of a connection, stored in its connection data by `on_connect`.
#[derive(Clone, Copy)]
struct ConnFd(RawFd);

fn remember_fd(conn: &dyn Any, ext: &mut Extensions) {
    if let Some(stream) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        ext.insert(ConnFd(stream.as_raw_fd()));
    }
}

/// Shuts down the request's TCP connection in both directions (the peer reads EOF before any
/// response), to simulate a connection dropped by the far end. Returns false if the socket
/// is unknown.
pub fn kill_connection(req: &HttpRequest) -> bool {
    let Some(&ConnFd(fd)) = req.conn_data::<ConnFd>() else {
        return false;
    };
    // SAFETY: the connection — and so its socket — lives at least as long as its request,
    // which is being handled now; the descriptor is duplicated, never closed here.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    match borrowed.try_clone_to_owned() {
        Ok(owned) => std::net::TcpStream::from(owned)
            .shutdown(std::net::Shutdown::Both)
            .is_ok(),
        Err(_) => false,
    }
}

/// `Settings::default()` with an in-memory event store: a test never leaves an `exwatch.db`
/// behind (the default store path is a file in the working directory). Every test that starts
/// a monitor starts from this, or sets `store.path` to a file in a tempdir. Resolutions are
/// not held (`router.flap_hold` 0): the tests of flapping control set their own.
pub fn test_settings() -> exwatch::settings::Settings {
    let mut s = exwatch::settings::Settings {
        store: exwatch::settings::StoreSettings::in_memory(),
        ..exwatch::settings::Settings::default()
    };
    s.router.flap_hold = std::time::Duration::ZERO;
    // Per-series alerts, as before grouping (`group_by = []`): most tests are about one
    // series' alerts on one channel; tests/it/grouping.rs turns grouping on.
    s.router.group_by = Vec::new();
    // Tests run side by side: each server on a free port of its own.
    s.http.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    s
}

/// Installs rustls' `ring` crypto provider for the process (once; later calls do nothing).
///
/// awc with `rustls-0_23-webpki-roots` builds its TLS config eagerly in `Client::default()`
/// and panics ("Could not automatically determine the process-level CryptoProvider") unless a
/// provider is installed or exactly one of rustls' `ring`/`aws-lc-rs` features is compiled in.
pub fn install_crypto_provider() {
    exwatch::client::install_crypto_provider();
}

/// An awc client usable in tests (the crypto provider installed first).
pub fn client() -> awc::Client {
    install_crypto_provider();
    awc::Client::default()
}

/// An awc client with a total timeout per request.
pub fn client_with_timeout(timeout: std::time::Duration) -> awc::Client {
    install_crypto_provider();
    awc::Client::builder().timeout(timeout).finish()
}

/// Polls `read` every 10 ms until it returns at least `n` items or `timeout` has passed;
/// returns what it read last (callers assert on the length).
pub async fn wait_for_len<T>(
    n: usize,
    timeout: std::time::Duration,
    read: impl Fn() -> Vec<T>,
) -> Vec<T> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let got = read();
        if got.len() >= n || std::time::Instant::now() >= deadline {
            return got;
        }
        actix_rt::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
