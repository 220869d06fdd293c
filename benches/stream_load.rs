//! Streams held at 10 messages/s each, lag measured on every message: a `Monitor` with
//! `STREAM_LOAD_STREAMS` (default 2 000) Binance depth streams of distinct symbols, packed onto
//! shared connections (1 024 a connection), against the loopback fake of Binance's stream
//! (tests/support/fake_stream.rs, in this process on threads of its own named `fake-stream-*`)
//! pushing one update every 100 ms per topic. After every stream has learned its cadence and
//! `STREAM_LOAD_SETTLE` more seconds (default 10), it measures for `STREAM_LOAD_SECS`
//! (default 25):
//!
//! - CPU time of each of the monitor's threads (`/proc/self/task/<tid>/stat`), the fake's
//!   threads left out: the probe arbiter that runs the stream actors (`probe_threads = 1`, so
//!   all of them on one thread: "on one core"), the pipeline arbiter (detectors, router), the
//!   rest;
//! - messages judged per stream (`exwatch_stream_messages_total`) against the 10 a second the
//!   fake sent, and lag observations (`exwatch_stream_lag_seconds_count`: one per message) with
//!   their distribution (the histogram's buckets, all streams together);
//! - CPU per message: the stream thread's CPU time over the messages it judged (frame
//!   decoding, parse, routing, judge, metrics, measurements to the detectors).
//!
//! Run: `cargo bench --bench stream_load` (`STREAM_LOAD_STREAMS=4000` for more).

#[path = "common/process.rs"]
#[allow(dead_code)]
mod process;

#[path = "../tests/support/fake_stream.rs"]
#[allow(dead_code)]
mod fake_stream;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use exwatch::{Monitor, MonitorHandle};
use fake_stream::{FakeStream, Venue};

/// One thread's CPU seconds and name.
fn threads() -> BTreeMap<u32, (String, f64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else {
            continue;
        };
        let stat =
            std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |(_, n)| n).to_owned();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.insert(tid, (name, (ticks(11) + ticks(12)) as f64 / 100.0));
    }
    out
}

/// Per endpoint: messages and lag observations; all together: lag bucket counts by `le`.
struct Scrape {
    messages: BTreeMap<String, f64>,
    lag_count: f64,
    buckets: BTreeMap<String, f64>,
}

fn label<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}=\""))? + key.len() + 2;
    let end = line[start..].find('"')? + start;
    Some(&line[start..end])
}

fn scrape(m: &MonitorHandle) -> Scrape {
    let text = m.metrics().render();
    let mut s = Scrape {
        messages: BTreeMap::new(),
        lag_count: 0.0,
        buckets: BTreeMap::new(),
    };
    for line in text.lines() {
        let value = || {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        if line.starts_with("exwatch_stream_messages_total{") {
            if let Some(e) = label(line, "endpoint") {
                s.messages.insert(e.to_owned(), value());
            }
        } else if line.starts_with("exwatch_stream_lag_seconds_count{") {
            s.lag_count += value();
        } else if line.starts_with("exwatch_stream_lag_seconds_bucket{")
            && let Some(le) = label(line, "le")
        {
            *s.buckets.entry(le.to_owned()).or_default() += value();
        }
    }
    s
}

fn config(streams: usize, url: &str) -> String {
    let mut toml = String::from(
        "[monitor]\nregion = \"bench\"\nprobe_threads = 1\n[http]\nenabled = false\n\
         [store]\npath = \":memory:\"\n[router]\ngroup_by = []\n[exchanges.binance]\n",
    );
    for i in 0..streams {
        toml.push_str(&format!(
            "[exchanges.binance.endpoints.s{i}]\nurl = \"{url}\"\ncheck = \"binance\"\n\
             kind = \"stream\"\nchannel = \"depth\"\nsymbol = \"S{i}/USDT\"\n"
        ));
    }
    toml
}

fn main() {
    let streams = process::env_num("STREAM_LOAD_STREAMS", 2000) as usize;
    let secs = process::env_num("STREAM_LOAD_SECS", 25);
    let settle = process::env_num("STREAM_LOAD_SETTLE", 10);
    let fake = FakeStream::start_with(
        Venue::Binance,
        Duration::from_millis(100),
        Duration::from_secs(20),
    );
    let before_monitor: HashSet<u32> = threads().into_keys().collect();
    actix_rt::System::new().block_on(async move {
        let settings = exwatch::settings::from_toml_str(&config(streams, &fake.url()), &|_| None)
            .expect("valid config");
        let started = Instant::now();
        let m = Monitor::start(settings).expect("monitor starts");
        // Every stream flowing and its cadence learned.
        loop {
            let s = scrape(&m);
            let ready = s.messages.values().filter(|v| **v >= 25.0).count();
            if ready == streams {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "only {ready} of {streams} streams flowing after 120 s"
            );
            actix_rt::time::sleep(Duration::from_millis(500)).await;
        }
        println!(
            "stream_load: {streams} streams flowing {:.1} s after start, over {} connection(s) ({} subscribe requests)",
            started.elapsed().as_secs_f64(),
            fake.connections(),
            fake.subscribes()
        );
        // Let the start's burst (subscribes, first messages of every stream) settle.
        actix_rt::time::sleep(Duration::from_secs(settle)).await;
        let t0 = threads();
        let s0 = scrape(&m);
        let w0 = Instant::now();
        actix_rt::time::sleep(Duration::from_secs(secs)).await;
        let wall = w0.elapsed().as_secs_f64();
        let t1 = threads();
        let s1 = scrape(&m);
        // Threads: every one but the fake's (the main thread runs the System the monitor was
        // started in); the arbiters are those Monitor::start created.
        let mut monitor: Vec<(u32, String, f64)> = t1
            .iter()
            .filter(|(_, (name, _))| !name.starts_with("fake-stream"))
            .map(|(tid, (name, cpu))| {
                let before = t0.get(tid).map_or(0.0, |t| t.1);
                (*tid, name.clone(), cpu - before)
            })
            .collect();
        monitor.sort_by_key(|t| t.0);
        let arbiters: Vec<&(u32, String, f64)> = monitor
            .iter()
            .filter(|t| !before_monitor.contains(&t.0) && t.1.starts_with("actix-rt|system"))
            .collect();
        // Arbiters::new creates the probe arbiters, then the pipeline's, then the channels'.
        let probe = arbiters.first().map_or(0.0, |t| t.2);
        let pipeline = arbiters.get(1).map_or(0.0, |t| t.2);
        let total: f64 = monitor.iter().map(|t| t.2).sum();
        let fake_cpu: f64 = t1
            .iter()
            .filter(|(_, (name, _))| name.starts_with("fake-stream"))
            .map(|(tid, (_, cpu))| cpu - t0.get(tid).map_or(0.0, |t| t.1))
            .sum();
        let rates: Vec<f64> = {
            let mut r: Vec<f64> = s1
                .messages
                .iter()
                .map(|(e, v)| (v - s0.messages.get(e).copied().unwrap_or(0.0)) / wall)
                .collect();
            r.sort_by(f64::total_cmp);
            r
        };
        let messages: f64 = rates.iter().sum::<f64>() * wall;
        let lags = s1.lag_count - s0.lag_count;
        let kept_up = rates.iter().filter(|r| **r >= 9.0).count();
        let quantile = |q: f64| -> String {
            let total = s1.buckets.get("+Inf").copied().unwrap_or(0.0)
                - s0.buckets.get("+Inf").copied().unwrap_or(0.0);
            let mut les: Vec<(f64, f64)> = s1
                .buckets
                .iter()
                .filter_map(|(le, v)| {
                    let le_v = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                    Some((le_v, v - s0.buckets.get(le).copied().unwrap_or(0.0)))
                })
                .collect();
            les.sort_by(|a, b| a.0.total_cmp(&b.0));
            les.iter()
                .find(|(_, c)| *c >= q * total)
                .map_or("?".into(), |(le, _)| format!("≤ {} ms", le * 1000.0))
        };
        println!(
            "stream_load: window {wall:.1} s: {messages:.0} messages judged ({:.0}/s), {lags:.0} lag observations",
            messages / wall
        );
        println!(
            "stream_load: per stream {:.2} msg/s min, {:.2} median, {:.2} max; {kept_up} of {} at ≥ 9/s",
            rates.first().copied().unwrap_or(0.0),
            rates.get(rates.len() / 2).copied().unwrap_or(0.0),
            rates.last().copied().unwrap_or(0.0),
            rates.len()
        );
        println!(
            "stream_load: lag p50 {} p90 {} p99 {} p99.9 {} (receive − event time, histogram buckets)",
            quantile(0.5),
            quantile(0.9),
            quantile(0.99),
            quantile(0.999)
        );
        println!(
            "stream_load: CPU over the window: stream arbiter {:.1} % of a core ({:.2} µs per message), pipeline arbiter {:.1} %, whole monitor {:.1} % ({:.2} µs per message); the fake {:.1} %",
            100.0 * probe / wall,
            probe * 1e6 / messages.max(1.0),
            100.0 * pipeline / wall,
            100.0 * total / wall,
            total * 1e6 / messages.max(1.0),
            100.0 * fake_cpu / wall
        );
        for (tid, name, cpu) in monitor.iter().filter(|t| t.2 > 0.0) {
            println!("stream_load:   thread {tid} {name}: {:.1} %", 100.0 * cpu / wall);
        }
        m.stop().await;
        drop(fake);
    });
}
