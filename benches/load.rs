//! Load bench of the probe side: how many endpoints one exwatch process keeps on schedule, how
//! many probes per second it does over 50 connections, and what each costs in CPU and memory.
//!
//! It starts its own loopback HTTP target (raw tokio TCP, keep-alive, a fixed 200 JSON answer,
//! two worker threads, so the target is never the bottleneck), writes a generated config, runs
//! the real binary (`exwatch run --config <generated>`) as a child process and reads:
//! - `exwatch_probes_scheduled_total`, `exwatch_probes_late_total` and `exwatch_probes_total`
//!   (summed over all labels) from its `/metrics`, at the start and the end of a window;
//! - CPU time (utime + stime) from `/proc/<pid>/stat`, RSS from `/proc/<pid>/status`.
//!
//! ```text
//! cargo bench --bench load                 # both parts
//! cargo bench --bench load -- schedule     # (a) endpoints at 1 s, < 1 % late, RSS per endpoint
//! cargo bench --bench load -- throughput   # (b) probes/s over 50 connections, CPU s / 1000 probes
//! LOAD_PER_EXCHANGE=1 cargo bench --bench load -- schedule   # (a) one endpoint per exchange
//! cargo bench --bench load -- target       # only the target (LOAD_TARGET_PORT), to run another
//!                                          # monitor against the same target
//! ```
//!
//! Environment knobs: `LOAD_ENDPOINTS` (comma-separated ladder for the schedule part),
//! `LOAD_RATES` (offered probes/s ladder for the throughput part), `LOAD_WINDOW_SECS`
//! (measurement window, default 15), `LOAD_WARMUP_SECS` (default 5), `LOAD_PER_EXCHANGE`
//! (endpoints per exchange in the schedule part, default 500; `1` is the one-endpoint-per-
//! exchange shape, its ladder 100, 2 000, 5 000, 8 000, 10 000), `LOAD_EXCHANGES` (the
//! throughput part's 50 connections split over this many exchanges, default 1),
//! `LOAD_KEEP_GOING=1` (do not stop
//! the ladder at the first failure), `LOAD_EXWATCH` (another exwatch binary to measure, e.g. an
//! older build), `LOAD_TARGET_PORT` (probe a target already listening on that loopback port,
//! nginx say, instead of the bench's own; `benches/nginx-mock.conf` is one), `LOAD_WRK=0` (do
//! not run wrk). Method and figures: benches/RESULTS.md.
//!
//! Beside each step of the schedule part, when `wrk` is installed, wrk does the same request
//! rate against the same target for the same window (one thread, 50 connections paced by a
//! `delay()` script), and the table shows the monitor's whole-process CPU per probe, wrk's CPU
//! per request and their ratio: what a probe costs over what the request alone costs here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "common/process.rs"]
mod process;
use process::{cpu_secs, env_num, free_port, rss_kib};

const ANSWER: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

fn main() {
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|a| a == p);
    if parts.iter().any(|a| a == "target") {
        serve_target_only();
        return;
    }
    // `LOAD_TARGET_PORT`: probe a target already listening there (nginx, say) instead of the
    // bench's own.
    let (target, whose) = match env_num("LOAD_TARGET_PORT", 0) {
        0 => (start_target(2, 0), "the bench's own"),
        port => (port as u16, "external"),
    };
    println!(
        "load bench: target 127.0.0.1:{target} ({whose}), {} CPUs, exwatch {}, wrk {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        exwatch_binary(),
        if wrk_wanted() { "beside it" } else { "not run" }
    );
    if want("schedule") {
        schedule(target);
    }
    if want("throughput") {
        throughput(target);
    }
}

/// The binary under test: this build's, or `LOAD_EXWATCH` (to compare with another build).
fn exwatch_binary() -> String {
    std::env::var("LOAD_EXWATCH").unwrap_or_else(|_| env!("CARGO_BIN_EXE_exwatch").to_owned())
}

fn env_list(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// (a): the ladder of endpoint counts at a 1 s interval.
fn schedule(target: u16) {
    let per_exchange = env_num("LOAD_PER_EXCHANGE", 500).max(1);
    // `LOAD_PER_EXCHANGE=1` is the original design's shape (one endpoint, one breaker, one
    // ProbeActor and one HTTP client per exchange): what an exchange costs shows there.
    let ladder = env_list(
        "LOAD_ENDPOINTS",
        if per_exchange == 1 {
            &[100, 2_000, 5_000, 8_000, 10_000]
        } else {
            &[
                100, 2_000, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000,
            ]
        },
    );
    let keep_going = std::env::var("LOAD_KEEP_GOING").is_ok_and(|v| v == "1");
    println!(
        "\n(a) endpoints at interval 1s ({per_exchange} per exchange, 16 connections each), late = started > 100 ms after its slot"
    );
    println!(
        "{:>8} {:>10} {:>9} {:>8} {:>10} {:>7} {:>9} {:>10} {:>9} {:>11} {:>7}  load",
        "endpoints",
        "scheduled",
        "late",
        "late %",
        "ok/s",
        "CPU %",
        "RSS MiB",
        "B/endpoint",
        "µs/probe",
        "wrk µs/req",
        "ratio"
    );
    let mut base: Option<(u64, u64)> = None;
    let mut best = 0;
    for n in ladder {
        let cfg = Layout {
            endpoints: n,
            per_exchange,
            interval: "1s",
            connections: 16,
        };
        let r = run(target, &cfg);
        let late_pct = 100.0 * r.late as f64 / r.scheduled.max(1) as f64;
        let per_ep = match base {
            Some((bn, brss)) if n > bn => {
                format!(
                    "{:.0}",
                    (r.rss_kib.saturating_sub(brss) * 1024) as f64 / (n - bn) as f64
                )
            }
            _ => "-".into(),
        };
        if base.is_none() {
            base = Some((n, r.rss_kib));
        }
        let ok_s = r.ok as f64 / r.secs;
        let us_probe = 1e6 * r.cpu_secs / r.ok.max(1) as f64;
        // wrk at the same request rate against the same target: what the request alone costs
        // a lean client on this machine, so the ratio is the figure.
        let (wrk_us, ratio) = match wrk_wanted().then(|| wrk_cost(target, ok_s)).flatten() {
            Some(w) => (format!("{w:.1}"), format!("{:.1}", us_probe / w)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:>8} {:>10} {:>9} {:>8.3} {:>10.0} {:>7.0} {:>9.1} {:>10} {:>9.1} {:>11} {:>7}  {}",
            n,
            r.scheduled,
            r.late,
            late_pct,
            ok_s,
            100.0 * r.cpu_secs / r.secs,
            r.rss_kib as f64 / 1024.0,
            per_ep,
            us_probe,
            wrk_us,
            ratio,
            r.loadavg
        );
        if late_pct < 1.0 && r.scheduled > 0 {
            best = n;
        } else if !keep_going {
            break;
        }
    }
    println!("(a) most endpoints on schedule (< 1 % late): {best}");
}

/// (b): one exchange, 50 connections, endpoints at 100 ms offering `rate` probes/s.
fn throughput(target: u16) {
    let rates = env_list(
        "LOAD_RATES",
        &[5_000, 10_000, 20_000, 30_000, 40_000, 50_000],
    );
    let keep_going = std::env::var("LOAD_KEEP_GOING").is_ok_and(|v| v == "1");
    // The 50 connections on one exchange (one ProbeActor, one thread), or split evenly over
    // `LOAD_EXCHANGES` exchanges (their actors spread over the probe threads).
    let split = env_num("LOAD_EXCHANGES", 1).clamp(1, 50);
    println!(
        "\n(b) {split} exchange(s), max_connections = {} each (at most 50 in flight), endpoints at 100 ms",
        50 / split
    );
    println!(
        "{:>8} {:>9} {:>10} {:>8} {:>7} {:>14}",
        "offered", "endpoints", "ok/s", "late %", "CPU %", "CPU s/1000"
    );
    let mut best = 0.0f64;
    for rate in rates {
        let n = (rate / 10).max(1);
        let cfg = Layout {
            endpoints: n,
            per_exchange: n.div_ceil(split),
            interval: "100ms",
            connections: 50 / split,
        };
        let r = run(target, &cfg);
        let ok_s = r.ok as f64 / r.secs;
        let late_pct = 100.0 * r.late as f64 / r.scheduled.max(1) as f64;
        println!(
            "{:>8} {:>9} {:>10.0} {:>8.3} {:>7.0} {:>14.4}",
            rate,
            n,
            ok_s,
            late_pct,
            100.0 * r.cpu_secs / r.secs,
            1000.0 * r.cpu_secs / r.ok.max(1) as f64
        );
        best = best.max(ok_s);
        let kept_up = ok_s >= 0.97 * rate as f64 && late_pct < 1.0;
        if !kept_up && !keep_going {
            break;
        }
    }
    println!("(b) most probes/s done over 50 connections: {best:.0}");
}

/// Whether to run `wrk` beside each schedule step: when it is on the `PATH`, unless
/// `LOAD_WRK=0` (looked up once).
fn wrk_wanted() -> bool {
    static WANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANTED.get_or_init(|| {
        std::env::var("LOAD_WRK").map_or(true, |v| v != "0")
            && Command::new("wrk")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
    })
}

/// CPU µs per request of `wrk` doing `rate` requests/s against `target` for the window (one
/// thread, 50 keep-alive connections, each pausing between requests so the rate is the
/// monitor's), measured from `/proc` while it runs; `None` when it could not run.
fn wrk_cost(target: u16, rate: f64) -> Option<f64> {
    const CONNECTIONS: f64 = 50.0;
    let window = env_num("LOAD_WINDOW_SECS", 15);
    let dir = tempfile::tempdir().ok()?;
    let script = dir.path().join("pace.lua");
    let pause_ms = (CONNECTIONS * 1000.0 / rate.max(1.0)).max(0.0);
    std::fs::write(
        &script,
        format!("function delay() return {pause_ms:.3} end\n"),
    )
    .ok()?;
    let child = Command::new("wrk")
        .args(["-t1", "-c50", "--timeout", "5s"])
        .arg(format!("-d{}s", window + 3))
        .arg("-s")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{target}/wrk"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let pid = child.id();
    std::thread::sleep(Duration::from_secs(1));
    let (c0, t0) = (cpu_secs(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(window));
    let (c1, secs) = (cpu_secs(pid), t0.elapsed().as_secs_f64());
    let out = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let done_rate: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    (done_rate > 0.0).then(|| 1e6 * (c1 - c0) / (done_rate * secs))
}

/// The shape of one generated config.
struct Layout {
    endpoints: u64,
    per_exchange: u64,
    interval: &'static str,
    connections: u64,
}

/// What one run measured over its window.
struct Figures {
    secs: f64,
    scheduled: u64,
    late: u64,
    ok: u64,
    cpu_secs: f64,
    rss_kib: u64,
    /// `/proc/loadavg`'s one-minute figure at the end of the window: the cores are shared, and
    /// lateness means little without it.
    loadavg: String,
}

fn run(target: u16, layout: &Layout) -> Figures {
    let dir = tempfile::tempdir().expect("temp dir");
    let http = free_port();
    let path = dir.path().join("load.toml");
    let store = dir.path().join("exwatch.db");
    std::fs::write(&path, config(target, http, &store, layout)).expect("write config");
    let log = std::fs::File::create(dir.path().join("exwatch.log")).expect("log file");
    let mut child = Command::new(exwatch_binary())
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start exwatch");
    let figures = measure(&mut child, http, dir.path());
    let _ = child.kill();
    let _ = child.wait();
    figures
}

fn measure(child: &mut Child, http: u16, dir: &Path) -> Figures {
    let pid = child.id();
    let up = Instant::now();
    while scrape(http).is_none() {
        if up.elapsed() > Duration::from_secs(60) || child.try_wait().ok().flatten().is_some() {
            let log = std::fs::read_to_string(dir.join("exwatch.log")).unwrap_or_default();
            panic!("exwatch did not come up; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(env_num("LOAD_WARMUP_SECS", 5)));
    let (c0, t0) = (cpu_secs(pid), Instant::now());
    let s0 = scrape(http).expect("scrape");
    std::thread::sleep(Duration::from_secs(env_num("LOAD_WINDOW_SECS", 15)));
    let s1 = scrape(http).expect("scrape");
    let (c1, t1) = (cpu_secs(pid), Instant::now());
    Figures {
        secs: (t1 - t0).as_secs_f64(),
        scheduled: s1.scheduled - s0.scheduled,
        late: s1.late - s0.late,
        ok: s1.ok - s0.ok,
        cpu_secs: c1 - c0,
        rss_kib: rss_kib(pid),
        loadavg: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_default(),
    }
}

/// The monitor's config for `l`: its store a file in the run's temp dir, as the default
/// config's is (a `":memory:"` store would keep every baseline rollup in RAM, ≈ 40 KB an
/// endpoint after six hours, which no deployment does).
fn config(target: u16, http: u16, store: &Path, l: &Layout) -> String {
    let mut s = format!(
        "[monitor]\nregion = \"bench\"\n[http]\nlisten = \"127.0.0.1:{http}\"\n[store]\npath = {store:?}\n\
         [defaults]\ninterval = \"{}\"\ntimeout = \"5s\"\n[breaker]\nfailure_threshold = 1000000\n\
         [channels.log]\ntype = \"log\"\nmin_severity = \"critical\"\n",
        l.interval
    );
    let exchanges = l.endpoints.div_ceil(l.per_exchange);
    let mut left = l.endpoints;
    for x in 0..exchanges {
        let here = left.min(l.per_exchange);
        left -= here;
        s.push_str(&format!(
            "[exchanges.x{x}]\nmax_connections = {}\n",
            l.connections
        ));
        for e in 0..here {
            s.push_str(&format!(
                "[exchanges.x{x}.endpoints.e{e}]\nurl = \"http://127.0.0.1:{target}/x{x}/e{e}\"\ncheck = \"http\"\n"
            ));
        }
    }
    s
}

/// The summed probe counters of one `/metrics` scrape.
struct Scrape {
    scheduled: u64,
    late: u64,
    ok: u64,
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
    let mut out = Scrape {
        scheduled: 0,
        late: 0,
        ok: 0,
    };
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
        } else if line.starts_with("exwatch_probes_total{") && line.contains("outcome=\"ok\"") {
            out.ok += value();
        }
    }
    Some(out)
}

/// `target`: only the loopback target, on `LOAD_TARGET_PORT` (default: a free port), until
/// killed, so that another monitor (the original design's implementation, say) can be run
/// against the very same target, one after the other or side by side.
fn serve_target_only() {
    let port = start_target(2, env_num("LOAD_TARGET_PORT", 0) as u16);
    println!(
        "load target: every GET on http://127.0.0.1:{port}/<any path> answers 200 {}; Ctrl-C stops it",
        String::from_utf8_lossy(&ANSWER[ANSWER.len() - 11..])
    );
    loop {
        std::thread::park();
    }
}

/// The loopback target on `port` (0: a free one): answers every GET with a tiny 200 JSON,
/// keep-alive, pipelining-safe.
fn start_target(threads: usize, port: u16) -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind target");
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

async fn serve(mut sock: tokio::net::TcpStream) {
    let _ = sock.set_nodelay(true);
    let mut buf = vec![0u8; 16 * 1024];
    let mut filled = 0;
    let mut out = Vec::with_capacity(ANSWER.len() * 4);
    loop {
        let n = match sock.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        filled += n;
        let mut start = 0;
        while let Some(end) = buf[start..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            start += end + 4;
            out.extend_from_slice(ANSWER);
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
