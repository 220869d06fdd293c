//! The `exwatch` binary as a new user runs it: a config file pointing at a loopback fake
//! exchange and a loopback webhook sink; a normal period, a latency spike, a 503 storm and
//! recovery; then SIGTERM. And `check-config` on good and broken files.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::fake_exchange::{FakeExchange, Mode};
use crate::support::fake_sink::FakeSink;

pub(crate) const EXWATCH: &str = env!("CARGO_BIN_EXE_exwatch");

pub(crate) struct Running {
    child: Child,
    log: std::path::PathBuf,
}

impl Running {
    pub(crate) fn start(config: &Path, dir: &Path) -> Self {
        Self::start_with(config, dir, &[])
    }

    /// Starts the binary with extra environment variables (they win over the defaults).
    pub(crate) fn start_with(config: &Path, dir: &Path, env: &[(&str, String)]) -> Self {
        let log = dir.join("exwatch.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(EXWATCH)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "exwatch=debug")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("start exwatch");
        Self { child, log }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (within 15 s).
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
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
            assert!(
                Instant::now() < deadline,
                "exwatch did not exit after SIGTERM:\n{}",
                self.log()
            );
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

/// Waits until the sink holds an alert matching `pred`.
async fn wait_alert(
    sink: &FakeSink,
    secs: u64,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(a) = sink.received().into_iter().find(|a| pred(a)) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {secs}s; got {:#?}",
            sink.received()
                .iter()
                .map(|a| (a["kind"].clone(), a["title"].clone()))
                .collect::<Vec<_>>()
        );
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
}

fn field<'a>(a: &'a Value, k: &str) -> &'a str {
    a[k].as_str().unwrap_or_default()
}

#[actix::test]
async fn e2e_binary_spike_storm_recovery_and_sigterm() {
    let exchange = FakeExchange::start();
    let sink = FakeSink::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("exwatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[monitor]
region = "e2e"

[http]
listen = "127.0.0.1:0"

[store]
path = "{store}"

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

[router]
dedup_window = "5m"
flap_hold = "0s"
# Each series' alerts, as before grouping: this test follows them one by one.
group_by = []

# The spike is 600 ms; a loaded CI machine's own hiccups stay under this floor.
[detect.latency]
min_increase_ms = 250

[channels.ops]
type = "webhook"
url = "{sink}"
min_severity = "warning"
initial_backoff = "50ms"
"#,
            ping = exchange.url("/api/v3/ping"),
            sink = sink.url(),
            store = dir.path().join("exwatch.db").display(),
        ),
    )
    .expect("write config");
    let exwatch = Running::start(&config, dir.path());

    // Normal period: a baseline, and silence.
    let deadline = Instant::now() + Duration::from_secs(10);
    while exchange.requests("/api/v3/ping") < 25 {
        assert!(
            Instant::now() < deadline,
            "probes did not start:\n{}",
            exwatch.log()
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        sink.received().is_empty(),
        "no alert in a normal period: {:?}",
        sink.received()
    );

    // Latency spike.
    exchange.set_mode(Mode::Delay(Duration::from_millis(600)));
    let spike = wait_alert(&sink, 10, "latency alert", |a| {
        field(a, "metric") == "latency_ms" && field(a, "kind") == "firing"
    })
    .await;
    assert_eq!(field(&spike, "exchange"), "binance");
    assert_eq!(field(&spike, "endpoint"), "ping");
    assert_eq!(field(&spike, "region"), "e2e");
    assert!(["warning", "critical"].contains(&field(&spike, "severity")));
    assert!(
        spike["value"].as_f64().is_some_and(|v| v >= 500.0),
        "{spike}"
    );
    exchange.set_mode(Mode::Normal);
    wait_alert(&sink, 10, "latency resolved", |a| {
        field(a, "metric") == "latency_ms" && field(a, "kind") == "resolved"
    })
    .await;

    // 503 storm: errors, then the breaker opens.
    exchange.set_mode(Mode::Status(503));
    let down = wait_alert(&sink, 10, "circuit open", |a| {
        field(a, "detector") == "circuit_open"
    })
    .await;
    assert_eq!(field(&down, "severity"), "critical");
    assert_eq!(field(&down, "metric"), "availability");
    wait_alert(&sink, 5, "errors alert", |a| {
        field(a, "metric") == "errors" && field(a, "kind") == "firing"
    })
    .await;
    // Let the storm go on: the breaker rejects probes, and no further alerts pile up.
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let during = sink.received().len();

    // Recovery.
    exchange.set_mode(Mode::Normal);
    wait_alert(&sink, 10, "availability resolved", |a| {
        field(a, "metric") == "availability" && field(a, "kind") == "resolved"
    })
    .await;
    wait_alert(&sink, 10, "errors resolved", |a| {
        field(a, "metric") == "errors" && field(a, "kind") == "resolved"
    })
    .await;

    for a in sink.received() {
        eprintln!(
            "ALERT {} {} {} {} {}",
            field(&a, "kind"),
            field(&a, "severity"),
            field(&a, "title"),
            field(&a, "message"),
            a["stats"]
        );
    }
    let status = exwatch.terminate();
    assert!(status.success(), "exit status {status:?}");

    // Exactly one call per problem: per series, firing alerts only rise in severity, and each
    // episode ends with one resolved.
    let alerts = sink.received();
    assert!(
        during <= 6,
        "a storm, not a storm of calls: {during} alerts"
    );
    let mut series: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    for a in &alerts {
        let key = format!(
            "{}/{}/{}",
            field(a, "exchange"),
            field(a, "endpoint"),
            field(a, "metric")
        );
        series.entry(key).or_default().push((
            field(a, "kind").to_string(),
            field(a, "severity").to_string(),
        ));
    }
    for (key, events) in &series {
        assert_eq!(
            events.last().map(|e| e.0.as_str()),
            Some("resolved"),
            "{key}: {events:?}"
        );
        assert_eq!(
            events.iter().filter(|e| e.0 == "resolved").count(),
            1,
            "{key}: {events:?}"
        );
    }
    assert!(alerts.len() <= 8, "{alerts:#?}");
}

#[test]
fn e2e_check_config_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        r#"
[monitor]
regoin = "x"
[defaults]
interval = "10x"
[exchanges.okx.endpoints.time]
url = "api/v5/public/time"
check = "okex"
[detect.errors]
rate_threshold = 2.0
[channels.ops]
type = "webhook"
"#,
    )
    .expect("write");
    let out = Command::new(EXWATCH)
        .arg("check-config")
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in [
        "monitor.regoin",
        "defaults.interval",
        "exchanges.okx.endpoints.time.url",
        "exchanges.okx.endpoints.time.check",
        "detect.errors.rate_threshold",
        "channels.ops.url",
    ] {
        assert!(err.contains(key), "missing {key} in:\n{err}");
    }
}

#[test]
fn e2e_check_config_redacts_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        r#"
[exchanges.okx.endpoints.time]
url = "https://www.okx.com/api/v5/public/time"
check = "okx"
kind = "time"
[channels.ops]
type = "webhook"
url = "https://hooks.example.com/exwatch"
secret_env = "EXWATCH_E2E_SECRET"
"#,
    )
    .expect("write");
    let out = Command::new(EXWATCH)
        .arg("check-config")
        .arg(&good)
        .env("EXWATCH_E2E_SECRET", "hunter2-very-secret")
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[exchanges.okx.endpoints.time]"), "{text}");
    assert!(
        text.contains("secret_env = \"EXWATCH_E2E_SECRET\""),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "secret leaked:\n{text}");
}
