//! The probe's own HTTP/1.1 client: one [`ProbeClient`] per exchange, GETs prepared once per
//! endpoint ([`Target`]), answers read with a bounded sans-I/O reader ([`AnswerReader`]).
//!
//! It does what a probe needs and nothing else, which is what makes it cheap per probe
//! (issue 17: awc spent about half a probe's instructions building codecs, headers maps and
//! request objects per request): the request bytes are written as prepared, the answer's head
//! is parsed in place and only status, `Retry-After`, the framing and `Connection` are looked
//! at, and the body is handed out as a slice of the one receive buffer. Channels keep awc.
//!
//! Connections: an exchange's requests hold at most `max_connections` at once, whatever the hosts
//! (idle ones of another host are closed to make room), handed out in arrival order. Idle
//! connections are an exchange's own, but exchanges of one probe thread whose endpoints all live on
//! one origin (scheme, host, port) keep theirs together ([`ProbeClient::for_targets`]): a
//! connection one of them opened serves the next request of any of them. Each still waits only for
//! its own `max_connections` (its probes' latency and deadline never include another exchange's
//! queue), but a thousand one-endpoint "exchanges" of one API (the original design's shape) hold as
//! many connections as they have requests at once, a few, not a thousand (file descriptors, the
//! server's own connection limit, a receive buffer each). Idle ones are reused (latest
//! first) for [`KEEP_ALIVE`] and live at most [`LIFETIME`] (awc's defaults), never after
//! `Connection: close`, an HTTP/1.0 answer or a body delimited by the close. A reused connection
//! that fails before any byte of the answer arrived (the server closed it while idle) is replaced
//! by a fresh one once: a GET may be repeated. Redirects are answers like any other; nothing is
//! followed. The caller's deadline covers everything: the wait for a connection, connect, TLS
//! handshake, request and the whole body.
//!
//! Single-threaded (`Rc`, `RefCell`): a client lives on its actor's arbiter.

mod answer;
mod conn;
mod target;

#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use answer::{Answer, AnswerError, AnswerReader, MAX_CHUNK_LINE, MAX_HEAD};
use target::REQUEST_TAIL;
pub use target::Target;

use crate::client::{Reply, TransportError};
use conn::{Conn, ConnectError};

/// How long an idle connection is kept for reuse (awc's default `conn_keep_alive`).
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a connection is used at all (awc's default `conn_lifetime`): long-lived
/// connections would hide DNS and load-balancer changes from the probe.
pub const LIFETIME: Duration = Duration::from_secs(75);

/// The receive buffer's first size: a typical exchange answer (head and a small JSON body)
/// fits; it grows as needed, within the bounds of [`AnswerReader`].
const INITIAL_READ: usize = 2048;

/// One exchange's HTTP client. Cloning shares it.
#[derive(Clone)]
pub struct ProbeClient {
    pool: Rc<Pool>,
}

/// The connections of one client.
struct Pool {
    /// One per connection a request may hold: requests beyond wait here, first come first served.
    permits: Semaphore,
    limit: usize,
    /// [`KEEP_ALIVE`] and [`LIFETIME`] (shorter in tests).
    keep_alive: Duration,
    lifetime: Duration,
    /// [`crate::client::probe_tls_config`] (a test's own roots in tests).
    #[cfg(feature = "tls-rustls")]
    tls: std::sync::Arc<rustls::ClientConfig>,
    /// Its connections: its own, or those of every exchange of this thread on its origin.
    conns: Rc<Connections>,
}

/// Connections open and idle, of one exchange or of one origin's exchanges on a thread.
#[derive(Default)]
struct Connections {
    /// The origin they are kept together for; `None` for an exchange's own.
    origin: Option<Origin>,
    /// Connections open (idle, in use or being opened).
    open: Rc<Cell<usize>>,
    /// Idle connections, oldest first.
    idle: RefCell<Vec<Idle>>,
}

/// One origin: what the exchanges keeping their connections together have in common.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    host: Box<str>,
    port: u16,
}

impl Origin {
    /// The one origin of `targets`; `None` when they span several (or none).
    fn of<'a>(targets: impl IntoIterator<Item = &'a Target>) -> Option<Self> {
        let mut targets = targets.into_iter();
        let first = targets.next()?;
        targets.all(|t| t.same_origin(first)).then(|| Self {
            tls: first.is_tls(),
            host: first.host().into(),
            port: first.port(),
        })
    }
}

thread_local! {
    /// This thread's connections kept together, by origin ([`ProbeClient::for_targets`]).
    static SHARED: RefCell<SharedConnections> = RefCell::default();
}

/// The origins' connections of one thread: weak, so they go with their last exchange.
#[derive(Default)]
struct SharedConnections {
    by_origin: HashMap<Origin, Weak<Connections>>,
    /// Entries after the last sweep of dead ones: the next sweep comes at twice as many.
    swept: usize,
}

impl SharedConnections {
    fn get_or_make(&mut self, origin: Origin) -> Rc<Connections> {
        if let Some(conns) = self.by_origin.get(&origin).and_then(Weak::upgrade) {
            return conns;
        }
        if self.by_origin.len() >= 2 * self.swept.max(8) {
            self.by_origin.retain(|_, conns| conns.strong_count() > 0);
            self.swept = self.by_origin.len();
        }
        let conns = Rc::new(Connections {
            origin: Some(origin.clone()),
            ..Connections::default()
        });
        self.by_origin.insert(origin, Rc::downgrade(&conns));
        conns
    }
}

/// A connection waiting in the pool since `since`.
struct Idle {
    conn: Connection,
    since: Instant,
}

/// An open connection, counted in its pool's `open` while it lives.
struct Connection {
    io: Conn,
    /// The endpoint it was opened for: its origin is the pool key.
    target: Rc<Target>,
    born: Instant,
    _open: OpenSlot,
}

/// One unit of a pool's `open` count, given back when dropped (however the connection ends:
/// closed, failed, or dropped with its request at the deadline).
struct OpenSlot(Rc<Cell<usize>>);

impl OpenSlot {
    fn take(open: &Rc<Cell<usize>>) -> Self {
        open.set(open.get() + 1);
        Self(open.clone())
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Why one attempt failed.
enum Failed {
    /// Before any byte of the answer: on a reused connection, worth one fresh attempt.
    Unanswered(io::Error),
    /// Reading the answer failed midway.
    Io(io::Error),
    /// The answer is not acceptable.
    Answer(AnswerError),
}

impl ProbeClient {
    /// A client with at most `max_connections` (at least 1) connections open, a pool of its
    /// own.
    pub fn new(max_connections: usize) -> Self {
        Self::with_times(max_connections, KEEP_ALIVE, LIFETIME)
    }

    /// The client of an exchange whose endpoints are `targets`, with at most
    /// `max_connections` held by its requests at once: when they all live on one origin, its
    /// connections are kept with those of this thread's other exchanges of that origin; else
    /// they are its own, like [`ProbeClient::new`]'s.
    pub fn for_targets<'a>(
        max_connections: usize,
        targets: impl IntoIterator<Item = &'a Target>,
    ) -> Self {
        let conns = match Origin::of(targets) {
            None => Rc::default(),
            Some(origin) => SHARED.with_borrow_mut(|shared| shared.get_or_make(origin)),
        };
        Self {
            pool: Rc::new(Pool::new(max_connections, conns, KEEP_ALIVE, LIFETIME)),
        }
    }

    /// True when [`ProbeClient::for_targets`] with these would give a client like this one:
    /// a reload that changed neither the limit nor the origin keeps it (and its connections).
    pub fn serves<'a>(
        &self,
        max_connections: usize,
        targets: impl IntoIterator<Item = &'a Target>,
    ) -> bool {
        self.pool.limit == max_connections.max(1) && self.pool.conns.origin == Origin::of(targets)
    }

    /// True when `other` keeps its connections with this client's.
    pub fn shares_connections_with(&self, other: &ProbeClient) -> bool {
        Rc::ptr_eq(&self.pool.conns, &other.pool.conns)
    }

    fn with_times(max_connections: usize, keep_alive: Duration, lifetime: Duration) -> Self {
        Self {
            pool: Rc::new(Pool::new(
                max_connections,
                Rc::default(),
                keep_alive,
                lifetime,
            )),
        }
    }

    /// GETs `target`, reads at most `max_body` bytes of body, all within `deadline` (from the
    /// call, the wait for a free connection included). Hostile answers are errors, never
    /// panics; error texts name the host and the kind of failure, never the path or query.
    pub fn get(
        &self,
        target: Rc<Target>,
        max_body: usize,
        deadline: Duration,
    ) -> impl Future<Output = Result<Reply, TransportError>> + 'static {
        let pool = self.pool.clone();
        async move {
            match tokio::time::timeout(deadline, pool.run(&target, max_body)).await {
                Ok(result) => result,
                Err(_) => Err(TransportError::Timeout),
            }
        }
    }

    /// The same client trusting `tls`'s roots instead of the webpki ones (a loopback server's
    /// test certificate).
    #[cfg(all(test, feature = "tls-rustls"))]
    fn with_tls(max_connections: usize, tls: std::sync::Arc<rustls::ClientConfig>) -> Self {
        let mut client = Self::new(max_connections);
        Rc::get_mut(&mut client.pool).expect("not shared yet").tls = tls;
        client
    }

    /// Connections open now (idle or in use).
    pub fn open_connections(&self) -> usize {
        self.pool.conns.open.get()
    }
}

impl Pool {
    /// A pool of at most `max_connections` (at least 1) held at once, over `conns`.
    fn new(
        max_connections: usize,
        conns: Rc<Connections>,
        keep_alive: Duration,
        lifetime: Duration,
    ) -> Self {
        let limit = max_connections.max(1);
        Self {
            permits: Semaphore::new(limit),
            limit,
            keep_alive,
            lifetime,
            #[cfg(feature = "tls-rustls")]
            tls: crate::client::probe_tls_config(),
            conns,
        }
    }

    async fn run(&self, target: &Rc<Target>, max_body: usize) -> Result<Reply, TransportError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| TransportError::Connect("client closed".into()))?;
        let mut pooled = self.take_idle(target);
        loop {
            let reused = pooled.is_some();
            let mut conn = match pooled.take() {
                Some(conn) => conn,
                None => self.connect(target).await?,
            };
            match exchange(&mut conn, &target.request, max_body).await {
                Ok(answer) => {
                    if answer.reusable {
                        self.put_idle(conn);
                    }
                    return Ok(Reply {
                        status: answer.status,
                        retry_after: answer.retry_after,
                        body: answer.body,
                    });
                }
                // The server closed the idle connection: once more on a fresh one.
                Err(Failed::Unanswered(_)) if reused => {}
                Err(failed) => return Err(failed.into_transport(target)),
            }
        }
    }

    /// The latest idle connection to `target`'s origin, after closing those idle for too
    /// long (the oldest come first) and passing over those past their lifetime. The common
    /// case — the latest idle connection is one for this origin — costs no scan.
    fn take_idle(&self, target: &Rc<Target>) -> Option<Connection> {
        let mut idle = self.conns.idle.borrow_mut();
        if idle.is_empty() {
            return None;
        }
        let now = Instant::now();
        // Idle since `cutoff` or before: too long (one subtraction, then comparisons).
        if let Some(cutoff) = now.checked_sub(self.keep_alive) {
            let stale = idle.partition_point(|c| c.since <= cutoff);
            if stale > 0 {
                idle.drain(..stale);
            }
        }
        while let Some(at) = idle
            .iter()
            .rposition(|c| Rc::ptr_eq(&c.conn.target, target) || c.conn.target.same_origin(target))
        {
            let conn = idle.remove(at).conn;
            if now - conn.born < self.lifetime {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: Connection) {
        let now = Instant::now();
        if now - conn.born < self.lifetime {
            let mut idle = self.conns.idle.borrow_mut();
            // Room for one more at a time, up to the most idle at once (at most `limit`
            // growths): a one-endpoint exchange keeps room for one, not `Vec`'s first four.
            idle.reserve_exact(1);
            idle.push(Idle { conn, since: now });
        }
    }

    /// Opens a connection for `target`, first closing the oldest idle one (of another origin:
    /// none of this one was idle) when the limit is reached.
    async fn connect(&self, target: &Rc<Target>) -> Result<Connection, TransportError> {
        if self.conns.open.get() >= self.limit {
            let mut idle = self.conns.idle.borrow_mut();
            if !idle.is_empty() {
                idle.remove(0);
            }
        }
        let slot = OpenSlot::take(&self.conns.open);
        #[cfg(feature = "tls-rustls")]
        let opened = Conn::open(target, &self.tls).await;
        #[cfg(not(feature = "tls-rustls"))]
        let opened = Conn::open(target).await;
        let io = opened.map_err(|e| {
            TransportError::Connect(match e {
                ConnectError::Tcp(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    format!("{}:{}: refused", target.host(), target.port())
                }
                e => format!("{}:{}: {e}", target.host(), target.port()),
            })
        })?;
        Ok(Connection {
            io,
            target: target.clone(),
            born: Instant::now(),
            _open: slot,
        })
    }
}

/// Writes an endpoint's own request bytes and the shared [`REQUEST_TAIL`], in one system call
/// when the connection takes both at once (a vectored write), as many as it needs otherwise.
async fn write_request(io: &mut Conn, head: &[u8]) -> io::Result<()> {
    let (mut head, mut tail) = (head, REQUEST_TAIL);
    while !tail.is_empty() {
        let n = if head.is_empty() {
            io.write(tail).await?
        } else {
            io.write_vectored(&[io::IoSlice::new(head), io::IoSlice::new(tail)])
                .await?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_head = n.min(head.len());
        head = &head[from_head..];
        tail = &tail[n - from_head..];
    }
    Ok(())
}

/// Sends the request on `conn` and reads the answer.
async fn exchange(
    conn: &mut Connection,
    request: &[u8],
    max_body: usize,
) -> Result<Answer, Failed> {
    write_request(&mut conn.io, request)
        .await
        .map_err(Failed::Unanswered)?;
    conn.io.flush().await.map_err(Failed::Unanswered)?;
    let mut buf = BytesMut::with_capacity(INITIAL_READ);
    let mut reader = AnswerReader::new(max_body);
    let mut received = false;
    loop {
        // Room for what the body is known to need, else double (bounded by the reader).
        let want = reader.missing(buf.len()).unwrap_or(0).max(1);
        if buf.capacity() - buf.len() < want {
            buf.reserve(want.max(buf.capacity()));
        }
        match conn.io.read_buf(&mut buf).await {
            Ok(0) => {}
            Ok(_) => {
                received = true;
                if let Some(answer) = reader.advance(&mut buf, false).map_err(Failed::Answer)? {
                    return Ok(answer);
                }
                continue;
            }
            // A TLS peer that closes without close_notify: the end of a read-until-close body
            // or a truncation, which the reader tells apart.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {}
            Err(e) if received => return Err(Failed::Io(e)),
            Err(e) => return Err(Failed::Unanswered(e)),
        }
        if !received {
            return Err(Failed::Unanswered(io::ErrorKind::UnexpectedEof.into()));
        }
        // The close completes a read-until-close body; anything else is truncated.
        return match reader.advance(&mut buf, true).map_err(Failed::Answer)? {
            Some(answer) => Ok(answer),
            None => Err(Failed::Answer(AnswerError::Truncated)),
        };
    }
}

impl Failed {
    fn into_transport(self, target: &Target) -> TransportError {
        let host = target.host();
        match self {
            Failed::Answer(AnswerError::TooLarge(limit)) => TransportError::TooLarge(limit),
            Failed::Answer(e) => TransportError::Connect(format!("{host}: {e}")),
            Failed::Unanswered(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                TransportError::Connect(format!("{host}: closed without answering"))
            }
            Failed::Unanswered(e) => TransportError::Connect(format!("{host}: {e}")),
            Failed::Io(e) => TransportError::Connect(format!("{host}: reading the answer: {e}")),
        }
    }
}
