//! `exwatch demo`, run as a user runs it: the real binary, its stdout read line by line.
//! Every chapter's alert must come out of the real detectors; Ctrl-C (SIGINT) must end the
//! story cleanly and close the dashboard's port.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `demo` child whose stdout lines arrive on a channel.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Demo {
    fn start(speed: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_exwatch"))
            .args(["demo", "--speed", speed])
            // Any free port: tests run in parallel, and a user's demo may hold 9898.
            .env("EXWATCH__HTTP__LISTEN", "127.0.0.1:0")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("exwatch runs");
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until one satisfies `pred` (true) or `within` passes (false).
    fn wait_line(&mut self, within: Duration, pred: impl Fn(&str) -> bool) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    self.seen.push(line);
                    if hit {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    /// Waits for the process to end within `within` (killed and failed otherwise), then
    /// collects the rest of stdout. Returns the exit status.
    fn finish(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                // What it printed before it hung says where it hung: drain what the reader
                // thread holds (the lines no `wait_line` consumed yet) before showing it.
                while let Ok(line) = self.lines.try_recv() {
                    self.seen.push(line);
                }
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "exwatch demo did not end within {within:?}; output so far:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        status
    }

    fn output(&self) -> String {
        self.seen.join("\n")
    }

    fn dashboard(&self) -> SocketAddr {
        let line = self
            .seen
            .iter()
            .find(|l| l.starts_with("Dashboard: http://"))
            .unwrap_or_else(|| panic!("no dashboard line in:\n{}", self.output()));
        line["Dashboard: http://".len()..]
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// True when a line has every one of `parts`.
    fn has(&self, parts: &[&str]) -> bool {
        self.seen
            .iter()
            .any(|l| parts.iter().all(|p| l.contains(p)))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn demo_plays_every_chapter_through_the_real_detectors_and_exits_0() {
    let started = Instant::now();
    let mut demo = Demo::start("10");
    let status = demo.finish(Duration::from_secs(90));
    let out = demo.output();
    assert!(status.success(), "exit {status:?}; output:\n{out}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(60), "took {took:?}");

    // The dashboard's URL at the top, and served while the story ran (checked by its form).
    assert!(
        demo.seen
            .iter()
            .take(4)
            .any(|l| l.starts_with("Dashboard: http://127.0.0.1:")),
        "{out}"
    );
    let _ = demo.dashboard();
    // Stdout is a pipe: no colours.
    assert!(!out.contains('\x1b'), "{out}");
    // One line per chapter.
    assert_eq!(out.matches(" ▶ ").count(), 8, "{out}");
    for chapter in [
        "Calm",
        "OKX latency",
        "Bybit starts answering 503",
        "Binance answers 429",
        "price drifts",
        "Bybit announces maintenance",
        "depth stream stalls",
        "Recovery",
    ] {
        assert!(
            demo.has(&["▶", chapter]),
            "no chapter {chapter:?} in:\n{out}"
        );
    }

    // OKX latency.
    assert!(
        demo.has(&["okx/", "latency", "CRITICAL"]) || demo.has(&["okx/", "latency", "WARNING"]),
        "{out}"
    );
    assert!(demo.has(&["RESOLVED", "okx/", "latency"]), "{out}");
    // The Bybit storm opens its breaker, and it closes again.
    assert!(
        demo.has(&["CRITICAL", "bybit/*", "bybit down (circuit open) —"]),
        "{out}"
    );
    assert!(
        demo.has(&["RESOLVED", "bybit down (circuit open) resolved"]),
        "{out}"
    );
    assert!(demo.has(&["bybit/", "http_5xx (503)"]), "{out}");
    // Binance's 429s are failures of its endpoints, but never open its breaker.
    assert!(
        demo.has(&["WARNING", "binance/", "rate_limited (429)"]),
        "{out}"
    );
    assert!(!demo.has(&["binance down"]), "{out}");
    // OKX's price drifts away from the median of the others.
    // Its rise from warning to critical happens inside the already critical OKX incident: grouped,
    // the desk reads the member at its latest severity in the next update, not each step.
    // (and a step that begins and ends within one interval is read as its outcome).
    assert!(
        demo.has(&["okx/btc-usdt", "price deviation", "WARNING"])
            || demo.has(&["okx/btc-usdt", "price deviation", "CRITICAL"]),
        "{out}"
    );
    assert!(
        demo.has(&["RESOLVED", "okx btc-usdt price deviation resolved"]),
        "{out}"
    );
    // The announced maintenance: one info alert at each edge.
    assert!(
        demo.has(&["INFO", "bybit/*", "bybit under maintenance"]),
        "{out}"
    );
    assert!(
        demo.has(&["RESOLVED", "bybit/*", "bybit maintenance ended"]),
        "{out}"
    );
    // Binance's depth stream stalls (socket open, pings answered, no data) while its REST
    // endpoints answer: the real stream actor's judge and the `stream_stale` detector say so,
    // naming the layer that failed, and it resolves once data flows again.
    assert!(
        demo.has(&[
            "CRITICAL",
            "binance/depth",
            "binance depth stream stalled; REST healthy — no data for ",
            "(stream_stale)",
        ]),
        "{out}"
    );
    assert!(!demo.has(&["REST failing too"]), "{out}");
    assert!(
        demo.has(&[
            "RESOLVED",
            "binance/depth",
            "binance depth stream stalled resolved"
        ]),
        "{out}"
    );
    let line = |parts: &[&str]| {
        demo.seen
            .iter()
            .position(|l| parts.iter().all(|p| l.contains(p)))
    };
    assert!(
        line(&["▶", "depth stream stalls"]) < line(&["binance depth stream stalled; REST healthy"]),
        "the stall is the stream chapter's: {out}"
    );

    // The summary and a clean end.
    assert!(demo.has(&["Summary: "]), "{out}");
    // Grouped by exchange: the summary counts incidents and messages.
    assert!(
        demo.has(&["Summary: ", " incidents, ", " messages"]),
        "{out}"
    );
    // At most 14 messages for the seven incidents (25 before grouping): the summary's count.
    // The stream chapter adds exactly 2 to the 12 of the six others: the stall opens a
    // Binance group of its own (the 429 incident was resolved a chapter earlier) and one
    // resolved closes it; OKX answers normally again from that chapter on, as it did when
    // the recovery came right after the maintenance, so its incident still ends in one
    // resolved.
    let summary = (demo.seen.iter())
        .find(|l| l.contains("Summary: "))
        .expect("a summary");
    let messages: usize = summary
        .rsplit(", ")
        .next()
        .and_then(|m| m.trim().strip_suffix(" messages"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no message count in {summary}"));
    assert!(messages <= 14, "{messages} messages: {out}");
    assert!(demo.has(&["[exchange=okx opened, "]), "{out}");
    assert!(demo.has(&["firing"]) && demo.has(&["resolved"]), "{out}");
    assert!(demo.has(&["The story is over.", "stopped"]), "{out}");
}

#[test]
fn demo_ends_cleanly_on_sigint_and_closes_its_ports() {
    let mut demo = Demo::start("2");
    assert!(
        demo.wait_line(Duration::from_secs(30), |l| l.contains("▶ OKX latency")),
        "the story did not reach its second chapter:\n{}",
        demo.output()
    );
    let dashboard = demo.dashboard();
    assert!(
        TcpStream::connect(dashboard).is_ok(),
        "the dashboard is not served"
    );
    let killed = Command::new("kill")
        .args(["-INT", &demo.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = demo.finish(Duration::from_secs(30));
    let out = demo.output();
    assert!(status.success(), "exit {status:?}; output:\n{out}");
    assert!(demo.has(&["Interrupted", "stopped"]), "{out}");
    assert!(demo.has(&["Summary: "]), "{out}");
    // The last chapters never started.
    assert!(!demo.has(&["▶ Recovery"]), "{out}");
    assert!(
        TcpStream::connect_timeout(&dashboard, Duration::from_secs(1)).is_err(),
        "something still listens on {dashboard}"
    );
}

#[test]
fn demo_refuses_a_speed_outside_its_range_once_with_exit_2() {
    for speed in ["20", "0.1", "fast"] {
        let out = Command::new(env!("CARGO_BIN_EXE_exwatch"))
            .args(["demo", "--speed", speed])
            .output()
            .expect("run exwatch demo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--speed {speed}: {stderr}");
        if speed != "fast" {
            assert_eq!(
                stderr.trim(),
                format!("exwatch: --speed must be between 0.25 and 10, not {speed}"),
                "said once, with the range"
            );
        }
    }
}
