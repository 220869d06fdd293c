//! Measurement → webhook latency: the time from `MonitorHandle::inject` of a measurement that
//! fires an alert to a loopback webhook sink receiving that alert's POST, through the whole
//! library path (DetectorActor → RouterActor → ChannelActor → awc → sink; the StoreActor's
//! commit runs beside it).
//!
//! The bench starts its own sink (actix-web on 127.0.0.1, on a thread and System of its own)
//! and a `Monitor` with one webhook channel to it. It cycles through `SERIES` clock-skew series:
//! 5 000 ms fires a critical alert at once (timed), then three samples of 0 ms resolve the
//! episode (the resolved POST is awaited, untimed), so every timed injection is a new
//! episode's first alert. One alert is in flight at a time (closed loop). It runs with the
//! store `":memory:"` and with a file store (WAL, `synchronous = FULL`: each commit is an
//! fsync, on the store's thread, beside the alert's path) and prints p50 / p90 / p99 / max of
//! each.
//!
//! Run: `cargo bench --bench alert_latency` (`ALERTS=n` changes the 2 000 timed alerts; `GAP_MS`
//! adds a pause between rounds, for isolated alerts rather than back-to-back ones).

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use exwatch::channel::{ChannelKind, ChannelSettings, WebhookSpec};
use exwatch::messages::{Measurement, Metric, Name, SeriesKey, Severity, Timestamp};
use exwatch::settings::{RetrySettings, Settings, StoreSettings};
use exwatch::{Monitor, MonitorHandle};
use tokio::sync::mpsc;

/// Series cycled through.
const SERIES: usize = 16;
/// Untimed rounds first: connections, prepared statements, detector actors.
const WARM_UP: usize = 200;

/// One POST as the sink saw it: when its body had arrived, and whether it was a firing alert.
struct Received {
    at: Instant,
    firing: bool,
}

/// Starts the sink on a thread of its own; returns its URL.
fn start_sink(tx: mpsc::UnboundedSender<Received>) -> String {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let tx = tx.clone();
                App::new().route(
                    "/hook",
                    web::post().to(move |body: web::Bytes| {
                        let at = Instant::now();
                        let tx = tx.clone();
                        async move {
                            let v: serde_json::Value =
                                serde_json::from_slice(&body).expect("JSON alert");
                            let firing = v["kind"] == "firing";
                            let _ = tx.send(Received { at, firing });
                            HttpResponse::Ok().finish()
                        }
                    }),
                )
            })
            .workers(1)
            .bind(("127.0.0.1", 0))
            .expect("sink binds");
            addr_tx.send(server.addrs()[0]).expect("address sent");
            server.run().await.expect("sink runs");
        })
    });
    let addr = addr_rx.recv().expect("sink address");
    format!("http://{addr}/hook")
}

fn settings(store: &str, url: &str) -> Settings {
    let mut s = Settings {
        store: StoreSettings {
            path: store.to_owned(),
        },
        channels: vec![ChannelSettings {
            name: Name::from("hook"),
            min_severity: Severity::Info,
            retry: RetrySettings::default(),
            kind: ChannelKind::Webhook(WebhookSpec {
                url: url.to_owned(),
                secret_env: None,
                secret: None,
            }),
        }],
        ..Settings::default()
    };
    s.http.enabled = false;
    s.router.flap_hold = Duration::ZERO;
    s
}

/// Latencies (µs) of `alerts` timed alerts through a monitor with the store at `store`.
fn run(store: &str, alerts: usize, gap: Duration) -> Vec<f64> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let url = start_sink(tx);
    let runner = actix::System::new();
    let monitor: MonitorHandle =
        runner.block_on(async { Monitor::start(settings(store, &url)).expect("monitor starts") });
    let series: Vec<SeriesKey> = (0..SERIES)
        .map(|i| SeriesKey::new("bench", format!("time{i}"), Metric::ClockSkewMs))
        .collect();
    let mut t = 1_795_000_000_000i64;
    let mut out = Vec::with_capacity(alerts);
    runner.block_on(async {
        for round in 0..WARM_UP + alerts {
            let s = &series[round % SERIES];
            t += 1000;
            let m = Measurement::ok(s.clone(), 5000.0, Timestamp(t));
            let start = Instant::now();
            monitor.inject(m);
            let r = rx.recv().await.expect("firing alert");
            assert!(r.firing, "expected the firing alert");
            if round >= WARM_UP {
                out.push(r.at.duration_since(start).as_secs_f64() * 1e6);
            }
            for _ in 0..3 {
                t += 1000;
                monitor.inject(Measurement::ok(s.clone(), 0.0, Timestamp(t)));
            }
            let r = rx.recv().await.expect("resolved alert");
            assert!(!r.firing, "expected the resolved alert");
            if !gap.is_zero() {
                actix_rt::time::sleep(gap).await;
            }
        }
        monitor.stop().await;
    });
    out
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn report(label: &str, mut us: Vec<f64>) {
    us.sort_by(f64::total_cmp);
    let mean = us.iter().sum::<f64>() / us.len() as f64;
    println!(
        "alert_latency/{label}: n={} p50={:.0} µs p90={:.0} µs p99={:.0} µs max={:.0} µs mean={:.0} µs",
        us.len(),
        percentile(&us, 0.50),
        percentile(&us, 0.90),
        percentile(&us, 0.99),
        us[us.len() - 1],
        mean,
    );
}

fn main() {
    // `cargo bench` passes `--bench` (and maybe a filter); a filter picks the store mode.
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let alerts: usize = std::env::var("ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let gap = Duration::from_millis(
        std::env::var("GAP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    );
    exwatch::client::install_crypto_provider();
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    if wanted("memory") {
        report("memory", run(":memory:", alerts, gap));
    }
    if wanted("file") {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("bench.db");
        report("file", run(path.to_str().expect("UTF-8 path"), alerts, gap));
    }
}
