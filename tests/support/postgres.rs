//! A real PostgreSQL for the cluster tests, and a loopback TCP proxy in front of it that a
//! test can cut and restore (PostgreSQL "going away" for one monitor while the others' tests
//! keep theirs).
//!
//! The server is started outside the tests (`.ci/run` does, with `.ci/postgres start DIR`)
//! and named by `EXWATCH_TEST_POSTGRES_URL`; each test gets a database of its own on it. Not
//! set: the test is skipped with a message saying how to run it, unless
//! `EXWATCH_REQUIRE_POSTGRES=1` (CI), which makes it fail.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The environment variable naming the test server.
pub const URL_ENV: &str = "EXWATCH_TEST_POSTGRES_URL";

/// A fresh database on the test server, or `None` (skipped, with the reason printed).
pub async fn database(test: &str) -> Option<String> {
    let Ok(base) = std::env::var(URL_ENV) else {
        let how = format!(
            "{test}: skipped, no PostgreSQL: run `.ci/run`, or `export {URL_ENV}=$(.ci/postgres \
             start /tmp/exwatch-pg)` (Debian's postgresql package) and `cargo test` again"
        );
        assert!(
            std::env::var("EXWATCH_REQUIRE_POSTGRES").is_err(),
            "{how} (EXWATCH_REQUIRE_POSTGRES is set)"
        );
        eprintln!("{how}");
        return None;
    };
    let name = format!("exwatch_{}", exwatch::messages::new_id().to_lowercase());
    let client = connect(&base).await;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    let (head, _) = base.rsplit_once('/').expect("a URL with a database");
    Some(format!("{head}/{name}"))
}

/// A client of `url`, its connection driven on the current runtime.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    actix_rt::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// `url` with its host and port replaced by `addr` (to go through a [`Proxy`]).
pub fn via(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (auth, rest) = rest.split_once('@').unwrap_or(("", rest));
    let (_, path) = rest.split_once('/').expect("path");
    let auth = if auth.is_empty() {
        String::new()
    } else {
        format!("{auth}@")
    };
    format!("{scheme}://{auth}{addr}/{path}")
}

/// A loopback TCP proxy to a server: [`Proxy::cut`] drops every connection and refuses new
/// ones (the server is away), [`Proxy::restore`] lets them through again.
pub struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    thread: Option<JoinHandle<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    /// A proxy to the host and port of `url`.
    pub fn to(url: &str) -> Self {
        let rest = url.split_once("://").expect("scheme").1;
        let rest = rest.split_once('@').map_or(rest, |(_, r)| r);
        let target: SocketAddr = rest.split('/').next().unwrap().parse().expect("host:port");
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cut_rx) = watch::channel(0u64);
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let up2 = up.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        if !up2.load(Ordering::SeqCst) {
                            drop(client);
                            continue;
                        }
                        let mut cut = cut_rx.clone();
                        // Only cuts after this connection began end it.
                        cut.mark_unchanged();
                        tokio::spawn(async move {
                            let Ok(server) = TcpStream::connect(target).await else {
                                return;
                            };
                            let (mut c, mut s) = (client, server);
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut c, &mut s) => {}
                                _ = cut.changed() => {}
                            }
                        });
                    }
                };
                tokio::select! {
                    () = accept => {}
                    _ = stop_rx => {}
                }
            });
        });
        Self {
            addr: addr_rx.recv().unwrap(),
            up,
            cut,
            thread: Some(thread),
            stop: Some(stop),
        }
    }

    /// Where to connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server is away: every connection dropped, new ones refused.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    /// The server is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
