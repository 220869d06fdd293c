//! The durable outbox: every alert is stored (while its first attempt runs), a channel that is down
//! keeps them pending, and pending deliveries resume after a restart — a graceful one, and
//! `kill -9` of the real binary. The store file is read from the test with rusqlite, the way
//! an operator reads it with `sqlite3`.
//!
//! Alerts come from clock-skew measurements (as in `webhook.rs`): 900 ms fires a warning,
//! 2500 ms escalates to critical, three normal samples resolve.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use exwatch::channel::{ChannelKind, ChannelSettings, WebhookSpec};
use exwatch::messages::{Measurement, Metric, Name, SeriesKey, Severity, Timestamp};
use exwatch::settings::{RetrySettings, Secret, Settings};
use exwatch::{Monitor, MonitorHandle};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

use crate::common::t0;
use crate::support::fake_exchange::{FakeExchange, Mode};
use crate::support::fake_sink::{FakeSink, SinkMode};

const EXWATCH: &str = env!("CARGO_BIN_EXE_exwatch");

fn webhook(url: String, secret: Option<Secret>) -> ChannelSettings {
    ChannelSettings {
        name: Name::from("hook"),
        min_severity: Severity::Info,
        retry: RetrySettings {
            max_attempts: 0,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(150),
            timeout: Duration::from_millis(500),
        },
        kind: ChannelKind::Webhook(WebhookSpec {
            url,
            secret_env: secret.as_ref().map(|_| "EXWATCH_OUTBOX_SECRET".into()),
            secret,
        }),
    }
}

fn settings(store: &Path, channel: ChannelSettings, grace: Duration) -> Settings {
    let mut s = crate::support::test_settings();
    s.store.path = store.to_str().expect("utf-8 path").to_owned();
    s.channels = vec![channel];
    s.shutdown.grace = grace;
    s
}

fn skew(monitor: &MonitorHandle, exchange: &str, ms: f64, i: i64) {
    monitor.inject(Measurement::ok(
        SeriesKey::new(exchange, "time", Metric::ClockSkewMs),
        ms,
        Timestamp(t0() + i * 1000),
    ));
}

/// One episode on `exchange` from second `i`: warning, critical, resolved (three alerts).
fn episode(monitor: &MonitorHandle, exchange: &str, i: i64) {
    skew(monitor, exchange, 900.0, i);
    skew(monitor, exchange, 2500.0, i + 1);
    for k in 0..3 {
        skew(monitor, exchange, 3.0, i + 2 + k);
    }
}

fn field<'a>(a: &'a Value, k: &str) -> &'a str {
    a[k].as_str().unwrap_or_default()
}

/// Opens the store file read-only, as an operator's `sqlite3` would while exwatch runs.
fn read_only(path: &Path) -> Option<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

/// The alert ids of `channel`'s deliveries in `state`, in enqueue order.
fn deliveries(conn: &Connection, channel: &str, state: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(
            "SELECT d.alert_id FROM deliveries d JOIN alerts a ON a.id = d.alert_id
             WHERE d.channel = ?1 AND d.state = ?2 ORDER BY a.seq",
        )
        .expect("prepare");
    stmt.query_map([channel, state], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

fn ids(alerts: &[Value]) -> Vec<String> {
    alerts.iter().map(|a| field(a, "id").to_owned()).collect()
}

fn assert_unique(ids: &[String]) {
    let set: HashSet<&String> = ids.iter().collect();
    assert_eq!(set.len(), ids.len(), "an alert arrived twice: {ids:?}");
}

#[actix::test]
async fn outbox_channel_down_then_up_delivers_every_alert_once_in_order() {
    let sink = FakeSink::start();
    sink.set_mode(SinkMode::Status(503));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("exwatch.db");
    let secret = "hunter2-outbox-signing-secret";
    let monitor = Monitor::start(settings(
        &db,
        webhook(sink.url(), Some(Secret::new(secret))),
        Duration::from_secs(3),
    ))
    .expect("monitor starts");
    for (n, exchange) in ["okx", "bybit", "binance"].into_iter().enumerate() {
        episode(&monitor, exchange, 10 * n as i64);
    }
    monitor.drain().await;

    // Down for a while: attempts fail, everything stays pending in the store.
    let attempts = sink.wait_for_attempts(6, Duration::from_secs(3)).await;
    assert!(attempts.len() >= 6, "retried: {}", attempts.len());
    let conn = read_only(&db).expect("store readable while running");
    assert_eq!(deliveries(&conn, "hook", "pending").len(), 9);
    assert_eq!(deliveries(&conn, "hook", "delivered").len(), 0);

    // Up: every alert arrives once, in order per series.
    sink.set_mode(SinkMode::Accept);
    let got = sink.wait_for(9, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 9, "{got:#?}");
    assert!(monitor.stop().await, "all delivered");
    let received = ids(&sink.received());
    assert_unique(&received);
    assert_eq!(received.len(), 9);
    for exchange in ["okx", "bybit", "binance"] {
        let events: Vec<(&str, &str)> = got
            .iter()
            .filter(|a| field(a, "exchange") == exchange)
            .map(|a| (field(a, "kind"), field(a, "severity")))
            .collect();
        assert_eq!(
            events,
            [
                ("firing", "warning"),
                ("firing", "critical"),
                ("resolved", "critical")
            ],
            "{exchange}"
        );
    }

    // The store agrees: delivered, in the order the sink received them; the 503s recorded.
    let conn = read_only(&db).expect("store readable");
    assert_eq!(deliveries(&conn, "hook", "delivered"), received);
    assert!(deliveries(&conn, "hook", "pending").is_empty());
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM attempts WHERE outcome = 'ok' AND channel = 'hook'"
        ),
        9
    );
    assert!(
        count(
            &conn,
            "SELECT COUNT(*) FROM attempts WHERE outcome = 'retry' AND detail LIKE '%503%'"
        ) >= 5
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM anomalies WHERE kind = 'firing'"
        ),
        6,
        "the first anomaly and the escalation of each episode"
    );
    assert!(
        count(
            &conn,
            "SELECT COUNT(*) FROM anomalies WHERE kind = 'resolved'"
        ) >= 3
    );

    // The channel signed every request with its secret; not one byte of it is in the store.
    assert!(
        sink.received_requests()
            .iter()
            .all(|r| r.header("x-exwatch-signature").is_some())
    );
    assert_no_secret(&conn, secret);
}

/// The alert goes out while its write waits: another process holds the store's write lock
/// (as a backup would), the webhook gets the alert anyway, and once the lock is released the
/// write lands and the delivery is recorded against it.
#[actix::test]
async fn outbox_an_alert_does_not_wait_for_its_write() {
    let sink = FakeSink::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("exwatch.db");
    let monitor = Monitor::start(settings(
        &db,
        webhook(sink.url(), None),
        Duration::from_secs(3),
    ))
    .expect("monitor starts");
    // A first alert, so that the channel has started and loaded what was pending (its start
    // reads the store, which the lock below would hold up).
    skew(&monitor, "bybit", 900.0, 0);
    assert_eq!(sink.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    monitor.drain().await;

    let mut other = Connection::open(&db).expect("open");
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("lock");
    let locked_at = Instant::now();
    skew(&monitor, "okx", 900.0, 0);
    let got = sink.wait_for(2, Duration::from_secs(3)).await;
    assert_eq!(got.len(), 2, "delivered while the store was locked");
    assert_eq!(field(&got[1], "exchange"), "okx");
    let reader = read_only(&db).expect("readable");
    assert_eq!(
        count(&reader, "SELECT COUNT(*) FROM alerts"),
        1,
        "okx's not written yet"
    );
    assert!(locked_at.elapsed() < Duration::from_secs(3));

    lock.rollback().expect("unlock");
    monitor.drain().await;
    assert_eq!(deliveries(&reader, "hook", "delivered"), ids(&got));
    assert!(monitor.stop().await);
}

/// Every text (and blob) value of every table, searched for `secret`.
fn assert_no_secret(conn: &Connection, secret: &str) {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert!(tables.len() >= 4, "{tables:?}");
    let mut values = 0;
    for table in tables {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))
            .expect("prepare");
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).expect("query");
        while let Some(row) = rows.next().expect("row") {
            for c in 0..columns {
                let text = match row.get_ref(c).expect("value") {
                    rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).into_owned()
                    }
                    other => format!("{other:?}"),
                };
                values += 1;
                assert!(!text.contains(secret), "secret in {table}: {text}");
            }
        }
    }
    assert!(values > 50, "the store was searched ({values} values)");
}

#[actix::test]
async fn outbox_graceful_restart_resumes_pending_before_newer_alerts() {
    let sink = FakeSink::start();
    sink.set_mode(SinkMode::Status(503));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("exwatch.db");

    // First run: the channel is down; shutdown's grace runs out with everything pending.
    let monitor = Monitor::start(settings(
        &db,
        webhook(sink.url(), None),
        Duration::from_millis(300),
    ))
    .expect("monitor starts");
    episode(&monitor, "okx", 0);
    episode(&monitor, "bybit", 10);
    monitor.drain().await;
    sink.wait_for_attempts(2, Duration::from_secs(3)).await;
    assert!(!monitor.stop().await, "not delivered: the channel is down");
    let conn = read_only(&db).expect("store");
    let pending = deliveries(&conn, "hook", "pending");
    assert_eq!(pending.len(), 6);

    // Second run: the channel is up; a new alert right away goes out after the old ones.
    sink.set_mode(SinkMode::Accept);
    let monitor = Monitor::start(settings(
        &db,
        webhook(sink.url(), None),
        Duration::from_secs(3),
    ))
    .expect("monitor restarts");
    skew(&monitor, "binance", 2500.0, 100);
    monitor.drain().await;
    let got = sink.wait_for(7, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 7, "{got:#?}");
    assert!(monitor.stop().await);
    let received = ids(&sink.received());
    assert_unique(&received);
    assert_eq!(
        received[..6],
        pending[..],
        "resumed in their original order"
    );
    assert_eq!(field(&got[6], "exchange"), "binance", "the new alert last");
    let conn = read_only(&db).expect("store");
    assert!(deliveries(&conn, "hook", "pending").is_empty());
    assert_eq!(deliveries(&conn, "hook", "delivered"), received);
}

/// The `exwatch` binary, its stderr in a log file.
struct Running {
    child: Child,
    log: PathBuf,
}

impl Running {
    fn start(config: &Path, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(EXWATCH)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "exwatch=debug")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("start exwatch");
        Self { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown code runs at all.
    fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, then the exit status (within 15 s).
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn integrity(db: &Path) -> String {
    // Read-write, as the next start opens it: the WAL left by the killed process is recovered.
    let conn = Connection::open(db).expect("open after kill");
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check")
}

#[actix::test]
async fn outbox_kill_9_then_restart_delivers_pending_alerts_once() {
    let exchange = FakeExchange::start();
    exchange.set_mode(Mode::Status(503));
    let sink = FakeSink::start();
    sink.set_mode(SinkMode::Status(503));
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("exwatch.db");
    let config = dir.path().join("exwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[monitor]
region = "outbox"

[http]
listen = "127.0.0.1:0"

[store]
path = "{db}"

[defaults]
interval = "100ms"
timeout = "2s"

[breaker]
failure_threshold = 5
recovery_timeout = "500ms"
half_open_max_calls = 2

[exchanges.binance.endpoints.ping]
url = "{ping}"
check = "binance"

[channels.ops]
type = "webhook"
url = "{sink}"
min_severity = "warning"
initial_backoff = "50ms"
max_backoff = "200ms"
"#,
            db = db.display(),
            ping = exchange.url("/api/v3/ping"),
            sink = sink.url(),
        ),
    )
    .expect("write config");

    // First run: a 503 storm raises alerts; the sink refuses them; they stay pending.
    let first = Running::start(&config, dir.path().join("first.log"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pending = read_only(&db).map_or(0, |c| {
            count(
                &c,
                "SELECT COUNT(*) FROM deliveries WHERE channel = 'ops' AND state = 'pending'",
            )
        });
        if pending >= 2 && !sink.attempts().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pending deliveries:\n{}",
            first.log()
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill_9();
    assert!(sink.received().is_empty(), "the sink accepted nothing yet");

    // The store survived the kill intact.
    assert_eq!(integrity(&db), "ok");
    let conn = read_only(&db).expect("store");
    let pending = deliveries(&conn, "ops", "pending");
    assert!(pending.len() >= 2, "{pending:?}");
    drop(conn);

    // Second run: the sink accepts, the exchange is healthy. The pending alerts go out first.
    sink.set_mode(SinkMode::Accept);
    exchange.set_mode(Mode::Normal);
    let second = Running::start(&config, dir.path().join("second.log"));
    let got = sink.wait_for(pending.len(), Duration::from_secs(10)).await;
    assert!(
        got.len() >= pending.len(),
        "pending alerts not delivered after the restart:\n{}",
        second.log()
    );
    // Time for a duplicate to show up, were there one.
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let log = second.log();
    let status = second.terminate();
    assert!(status.success(), "exit status {status:?}:\n{log}");

    let received = ids(&sink.received());
    eprintln!(
        "pending at kill -9: {}; received after the restart: {}",
        pending.len(),
        received.len()
    );
    assert_unique(&received);
    assert_eq!(
        received[..pending.len()],
        pending[..],
        "resumed in their original order"
    );
    // What the sink accepted is exactly what the store says was delivered.
    assert_eq!(integrity(&db), "ok");
    let conn = read_only(&db).expect("store");
    let delivered = deliveries(&conn, "ops", "delivered");
    assert_eq!(
        delivered.iter().collect::<HashSet<_>>(),
        received.iter().collect::<HashSet<_>>()
    );
    assert!(deliveries(&conn, "ops", "pending").is_empty());
    assert!(
        log.contains("Resuming deliveries pending from an earlier run"),
        "{log}"
    );
}

#[actix::test]
async fn outbox_a_store_that_cannot_open_is_a_start_error() {
    let s = settings(
        Path::new("/nonexistent-exwatch-dir/exwatch.db"),
        webhook("http://127.0.0.1:9/".into(), None),
        Duration::from_secs(1),
    );
    let e = Monitor::start(s).err().expect("start fails");
    assert!(matches!(e, exwatch::Error::Store(_)), "{e}");
    assert!(
        e.to_string()
            .contains("/nonexistent-exwatch-dir/exwatch.db"),
        "{e}"
    );
}
