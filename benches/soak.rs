//! Soak bench: does one exwatch process keep its memory flat for an hour at 20,000 endpoints
//! while exchanges fail and recover every minute?
//!
//! Like `benches/load.rs`, it starts its own loopback HTTP target (raw tokio TCP, keep-alive),
//! writes a generated config (20,000 endpoints, 500 per exchange, a SQLite store file in a
//! temporary directory, breakers on), runs the real binary (`exwatch run --config <generated>`)
//! as a child process, and reads RSS from `/proc/<pid>/status` and the probe counters from its
//! `/metrics`.
//!
//! Faults: every fault period (a minute by default) a quarter of the exchanges, a different
//! quarter each time, misbehave for the first half of the period, then recover. The kind rotates:
//! `503` (every answer is `503 Service Unavailable`), `slow` (every answer waits 1.5 s, which
//! also fills the exchange's 16 connections so that probes queue), `reset` (the connection is
//! reset without an answer). Breakers open, alerts are raised and resolved, events are stored.
//!
//! It prints a line every report period (five minutes by default): elapsed time, RSS, CPU, probe
//! outcomes and late probes over the period. RSS at the base time (ten minutes by default) is
//! the reference; the bench exits 1 when RSS at the end is more than 10 % above it (or when the
//! child dies).
//!
//! ```text
//! nice -n 15 cargo bench --bench soak                   # the hour
//! SOAK_SECS=180 cargo bench --bench soak                # three minutes (base at 30 s)
//! ```
//!
//! Environment knobs: `SOAK_SECS` (total, default 3600), `SOAK_BASE_SECS` (reference time,
//! default `SOAK_SECS / 6`), `SOAK_REPORT_SECS` (default `SOAK_SECS / 12`), `SOAK_ENDPOINTS`
//! (default 20000), `SOAK_PER_EXCHANGE` (default 500), `SOAK_INTERVAL` (probe interval, default
//! `5s`: 4,000 probes/s, so a shared two-core machine stays usable), `SOAK_FAULT_SECS` (fault
//! period, default 60), `SOAK_EXWATCH` (another exwatch binary to measure). Loopback only; the
//! child is killed at the end, whatever happens.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common/process.rs"]
mod process;
use process::{cpu_secs, env_num, free_port, rss_kib};

const OK: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
const UNAVAILABLE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 24\r\n\r\n{\"msg\":\"under pressure\"}";
/// How long a `slow` answer waits (the endpoints' timeout is 3 s: slow, not failed).
const SLOW: Duration = Duration::from_millis(1500);
/// RSS at the end may exceed RSS at the base time by this fraction.
const TOLERANCE: f64 = 0.10;

/// The moment the target started: the fault schedule is a function of the time since.
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn main() {
    let total = env_num("SOAK_SECS", 3600).max(6);
    let base = env_num("SOAK_BASE_SECS", total / 6).clamp(1, total);
    let report = env_num("SOAK_REPORT_SECS", (total / 12).max(1)).max(1);
    let endpoints = env_num("SOAK_ENDPOINTS", 20_000).max(1);
    let per_exchange = env_num("SOAK_PER_EXCHANGE", 500).max(1);
    let interval = std::env::var("SOAK_INTERVAL").unwrap_or_else(|_| "5s".into());
    let fault_secs = env_num("SOAK_FAULT_SECS", 60).max(2);
    let exchanges = endpoints.div_ceil(per_exchange);

    let target = start_target(2, fault_secs);
    println!(
        "soak bench: target 127.0.0.1:{target}, {} CPUs, exwatch {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        exwatch_binary()
    );
    println!(
        "{endpoints} endpoints on {exchanges} exchanges at {interval}, {total} s; faults every \
         {fault_secs} s (a quarter of the exchanges for {} s: 503 / slow / reset in turn); \
         base RSS at {base} s, report every {report} s, end RSS must stay within {:.0} % of base",
        fault_secs / 2,
        TOLERANCE * 100.0
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let http = free_port();
    let path = dir.path().join("soak.toml");
    std::fs::write(
        &path,
        config(target, http, endpoints, per_exchange, &interval, dir.path()),
    )
    .expect("write config");
    let log = std::fs::File::create(dir.path().join("exwatch.log")).expect("log file");
    let mut child = Command::new(exwatch_binary())
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start exwatch");
    let verdict = soak(&mut child, http, dir.path(), total, base, report);
    let _ = child.kill();
    let _ = child.wait();
    match verdict {
        Ok(()) => println!("soak: PASS"),
        Err(why) => {
            println!("soak: FAIL: {why}");
            std::process::exit(1);
        }
    }
}

/// Runs the soak window and judges it.
fn soak(
    child: &mut Child,
    http: u16,
    dir: &Path,
    total: u64,
    base_at: u64,
    report: u64,
) -> Result<(), String> {
    let pid = child.id();
    let up = Instant::now();
    while scrape(http).is_none() {
        if up.elapsed() > Duration::from_secs(120) || child.try_wait().ok().flatten().is_some() {
            let log = std::fs::read_to_string(dir.join("exwatch.log")).unwrap_or_default();
            return Err(format!("exwatch did not come up; its log:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("exwatch up after {:.1} s", up.elapsed().as_secs_f64());
    println!(
        "{:>7} {:>9} {:>7} {:>9} {:>9} {:>9} {:>8} {:>7}  fault now",
        "t (s)", "RSS MiB", "CPU %", "probes", "ok", "failed", "late %", "anomal."
    );
    let start = Instant::now();
    let mut marks: Vec<u64> = (1..)
        .map(|k| k * report)
        .take_while(|&t| t < total)
        .collect();
    marks.push(base_at);
    marks.push(total);
    marks.sort_unstable();
    marks.dedup();
    let mut last = (scrape(http).unwrap_or_default(), cpu_secs(pid), 0u64);
    let mut base_rss = None;
    let mut end_rss = 0;
    for mark in marks {
        let due = start + Duration::from_secs(mark);
        while Instant::now() < due {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.join("exwatch.log")).unwrap_or_default();
                let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
                return Err(format!(
                    "exwatch exited ({status}) at {mark} s; log tail:\n{tail}"
                ));
            }
            std::thread::sleep(
                due.saturating_duration_since(Instant::now())
                    .min(Duration::from_secs(1)),
            );
        }
        // RSS first: rendering /metrics for 20,000 endpoints allocates tens of MiB that the
        // allocator keeps for a while, which a read right after the scrape would count.
        let rss = rss_kib(pid);
        let s = scrape(http).unwrap_or_default();
        let cpu = cpu_secs(pid);
        let secs = (mark - last.2).max(1) as f64;
        let probes = s.total.saturating_sub(last.0.total);
        println!(
            "{:>7} {:>9.1} {:>7.0} {:>9} {:>9} {:>9} {:>8.3} {:>7}  {}{}",
            mark,
            rss as f64 / 1024.0,
            100.0 * (cpu - last.1) / secs,
            probes,
            s.ok.saturating_sub(last.0.ok),
            probes.saturating_sub(s.ok.saturating_sub(last.0.ok)),
            100.0 * s.late.saturating_sub(last.0.late) as f64
                / s.scheduled.saturating_sub(last.0.scheduled).max(1) as f64,
            s.anomalies.saturating_sub(last.0.anomalies),
            fault_now(),
            if mark == base_at { "  <- base" } else { "" }
        );
        if mark == base_at {
            base_rss = Some(rss);
        }
        end_rss = rss;
        last = (s, cpu, mark);
    }
    let base_rss = base_rss.unwrap_or(1).max(1);
    let growth = end_rss as f64 / base_rss as f64 - 1.0;
    println!(
        "RSS at {base_at} s: {:.1} MiB, at {total} s: {:.1} MiB ({:+.1} %)",
        base_rss as f64 / 1024.0,
        end_rss as f64 / 1024.0,
        growth * 100.0
    );
    if growth > TOLERANCE {
        return Err(format!(
            "RSS grew {:.1} % after the base time (allowed {:.0} %)",
            growth * 100.0,
            TOLERANCE * 100.0
        ));
    }
    Ok(())
}

/// The binary under test: this build's, or `SOAK_EXWATCH`.
fn exwatch_binary() -> String {
    std::env::var("SOAK_EXWATCH").unwrap_or_else(|_| env!("CARGO_BIN_EXE_exwatch").to_owned())
}

fn config(
    target: u16,
    http: u16,
    endpoints: u64,
    per_exchange: u64,
    interval: &str,
    dir: &Path,
) -> String {
    let mut s = format!(
        "[monitor]\nregion = \"soak\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n[store]\npath = \"{}\"\n\
         [defaults]\ninterval = \"{interval}\"\ntimeout = \"3s\"\nmax_connections = 16\n\
         [breaker]\nfailure_threshold = 5\nrecovery_timeout = \"20s\"\nhalf_open_max_calls = 3\n\
         [channels.log]\ntype = \"log\"\nmin_severity = \"critical\"\n",
        dir.join("soak.db").display()
    );
    let exchanges = endpoints.div_ceil(per_exchange);
    let mut left = endpoints;
    for x in 0..exchanges {
        let here = left.min(per_exchange);
        left -= here;
        s.push_str(&format!("[exchanges.x{x}]\n"));
        for e in 0..here {
            s.push_str(&format!(
                "[exchanges.x{x}.endpoints.e{e}]\nurl = \"http://127.0.0.1:{target}/x{x}/e{e}\"\ncheck = \"http\"\n"
            ));
        }
    }
    s
}

/// The summed probe counters of one `/metrics` scrape.
#[derive(Default)]
struct Scrape {
    scheduled: u64,
    late: u64,
    total: u64,
    ok: u64,
    anomalies: u64,
}

fn scrape(port: u16) -> Option<Scrape> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    if !text.starts_with("HTTP/1.1 200") {
        return None;
    }
    let mut out = Scrape::default();
    for line in text.lines() {
        let value = || {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0) as u64
        };
        if line.starts_with("exwatch_probes_scheduled_total{") {
            out.scheduled += value();
        } else if line.starts_with("exwatch_probes_late_total{") {
            out.late += value();
        } else if line.starts_with("exwatch_probes_total{") {
            out.total += value();
            if line.contains("outcome=\"ok\"") {
                out.ok += value();
            }
        } else if line.starts_with("exwatch_anomalies_total") {
            out.anomalies += value();
        }
    }
    Some(out)
}

/// What the target does to one exchange's requests right now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    None,
    Unavailable,
    Slow,
    Reset,
}

/// The fault schedule: in period `p` the exchanges with `x % 4 == p % 4` misbehave for the first
/// half of the period, with the kind `p % 3` (503, slow, reset), then recover.
fn fault_for(exchange: u64) -> Fault {
    let (period, into, fault_secs) = schedule_now();
    if into * 2 >= fault_secs || exchange % 4 != period % 4 {
        return Fault::None;
    }
    match period % 3 {
        0 => Fault::Unavailable,
        1 => Fault::Slow,
        _ => Fault::Reset,
    }
}

/// The fault period in force, seconds into it and the period's length.
fn schedule_now() -> (u64, u64, u64) {
    let fault_secs = FAULT_SECS.get().copied().unwrap_or(60);
    let t = EPOCH.get().map_or(0, |e| e.elapsed().as_secs());
    (t / fault_secs, t % fault_secs, fault_secs)
}

static FAULT_SECS: OnceLock<u64> = OnceLock::new();

/// A short description of the fault in force, for the report lines.
fn fault_now() -> String {
    let (period, into, fault_secs) = schedule_now();
    let kind = [Fault::Unavailable, Fault::Slow, Fault::Reset][(period % 3) as usize];
    if into * 2 >= fault_secs {
        "none (recovering)".into()
    } else {
        format!("{kind:?} on x{}+4k", period % 4)
    }
}

/// The loopback target: every GET answers 200 `{"ok":true}` unless its exchange (`/x<n>/...`)
/// is under a fault.
fn start_target(threads: usize, fault_secs: u64) -> u16 {
    let _ = EPOCH.set(Instant::now());
    let _ = FAULT_SECS.set(fault_secs);
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind target");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
            .expect("target runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("target listener");
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock));
            }
        });
    });
    port
}

/// The exchange number in a request head `GET /x<n>/...`.
fn exchange_of(head: &[u8]) -> u64 {
    let Some(at) = head.windows(2).position(|w| w == b"/x") else {
        return u64::MAX;
    };
    head[at + 2..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |n, b| {
            n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
        })
}

async fn serve(mut sock: tokio::net::TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(OK.len() * 4);
    loop {
        let n = match sock.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        while let Some(end) = buf[start..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = &buf[start..start + end];
            start += end + 4;
            match fault_for(exchange_of(head)) {
                Fault::None => out.extend_from_slice(OK),
                Fault::Unavailable => out.extend_from_slice(UNAVAILABLE),
                Fault::Slow => {
                    tokio::time::sleep(SLOW).await;
                    out.extend_from_slice(OK);
                }
                Fault::Reset => {
                    // RST instead of FIN: the client sees "connection reset by peer".
                    let _ = sock.set_zero_linger();
                    return;
                }
            }
        }
        buf.copy_within(start..filled, 0);
        filled -= start;
        if filled == buf.len() {
            return; // A request head larger than the buffer: not ours.
        }
        if !out.is_empty() {
            if sock.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}
