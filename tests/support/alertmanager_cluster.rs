//! A real two-node Alertmanager cluster (Debian's `prometheus-alertmanager`), gossiping on
//! loopback, both instances notifying one webhook receiver: what the cluster tests post to.
//!
//! Not installed: [`AmCluster::start`] answers `None` and the test is skipped with a message
//! saying how to run it, unless `EXWATCH_REQUIRE_ALERTMANAGER=1` (CI), which makes it fail.
//! Under a moved clock (`.ci/clock-moved`: `FAKETIME` is set) it is skipped too: Alertmanager
//! keeps the true clock (Go reads it without libc), so alerts stamped a year off would be
//! expired, or not yet begun, on arrival.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary Debian installs.
pub const BINARY: &str = "prometheus-alertmanager";

/// Two Alertmanager instances in one cluster. Dropping it kills both.
pub struct AmCluster {
    children: Vec<Child>,
    /// Each instance's base URL.
    pub urls: Vec<String>,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl AmCluster {
    /// Starts the cluster, notifying `webhook`; `None` when it cannot run here (see the
    /// module docs). Waits until both instances are ready.
    pub async fn start(test: &str, webhook: &str) -> Option<Self> {
        if std::env::var_os("FAKETIME").is_some() {
            eprintln!("{test}: skipped under a moved clock (Alertmanager keeps the true one)");
            return None;
        }
        let installed = Command::new(BINARY)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed {
            let how = format!(
                "{test}: skipped, {BINARY} is not installed: run `.ci/run`, or \
                 `apt-get install prometheus-alertmanager` and `cargo test` again"
            );
            assert!(
                std::env::var("EXWATCH_REQUIRE_ALERTMANAGER").is_err(),
                "{how} (EXWATCH_REQUIRE_ALERTMANAGER is set)"
            );
            eprintln!("{how}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: hook\n  group_by: ['alertname', 'exchange', 'severity']\n  \
                 group_wait: 1s\n  group_interval: 1h\n  repeat_interval: 1h\n\
                 receivers:\n  - name: hook\n    webhook_configs:\n      - url: {webhook}\n        \
                 send_resolved: true\n"
            ),
        )
        .unwrap();
        let gossip = [free_port(), free_port()];
        let web = [free_port(), free_port()];
        let mut children = Vec::new();
        for i in 0..2 {
            let child = Command::new(BINARY)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.path={}",
                    dir.path().join(format!("data{i}")).display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{}", web[i]))
                .arg(format!("--cluster.listen-address=127.0.0.1:{}", gossip[i]))
                .arg(format!(
                    "--cluster.advertise-address=127.0.0.1:{}",
                    gossip[i]
                ))
                .arg(format!("--cluster.peer=127.0.0.1:{}", gossip[1 - i]))
                .arg("--cluster.peer-timeout=2s")
                .arg("--cluster.gossip-interval=50ms")
                .arg("--cluster.pushpull-interval=1s")
                .arg("--cluster.settle-timeout=2s")
                .arg("--log.level=warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start prometheus-alertmanager");
            children.push(child);
        }
        let urls: Vec<String> = web
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let am = Self {
            children,
            urls,
            _dir: dir,
        };
        let client = crate::support::client();
        let deadline = Instant::now() + Duration::from_secs(20);
        for url in &am.urls {
            loop {
                let ready = client.get(format!("{url}/-/ready")).send().await;
                if ready.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                assert!(Instant::now() < deadline, "{url} never ready");
                actix_rt::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Both see each other before anything is posted.
        loop {
            let status = client
                .get(format!("{}/api/v2/status", am.urls[0]))
                .send()
                .await;
            let peers = match status {
                Ok(mut r) => r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["cluster"]["peers"].as_array().map(Vec::len))
                    .unwrap_or(0),
                Err(_) => 0,
            };
            if peers == 2 {
                break;
            }
            assert!(Instant::now() < deadline, "the two instances never joined");
            actix_rt::time::sleep(Duration::from_millis(100)).await;
        }
        Some(am)
    }
}

impl Drop for AmCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
