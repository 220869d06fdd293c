//! Measurement-to-alert time through the running actor pipeline (DetectorSet → DetectorActor
//! → RouterActor → alert recipient), measurement throughput through the detectors, and the
//! Router's time per anomaly while thousands of recoveries are held (`router.flap_hold`), as
//! after a fault that touched many endpoints.

use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exwatch::messages::{
    Alert, AlertKind, Anomaly, Measurement, Metric, Resolved, SeriesKey, Severity, Stats, Timestamp,
};
use exwatch::settings::{Settings, StoreSettings};
use exwatch::{Monitor, MonitorHandle};
use tokio::sync::mpsc;

struct Forward(mpsc::UnboundedSender<Alert>);

impl Actor for Forward {
    type Context = Context<Self>;
}

impl Handler<Alert> for Forward {
    type Result = ();

    fn handle(&mut self, a: Alert, _: &mut Context<Self>) {
        let _ = self.0.send(a);
    }
}

fn start() -> (
    actix::SystemRunner,
    MonitorHandle,
    mpsc::UnboundedReceiver<Alert>,
) {
    let runner = actix::System::new();
    let (tx, rx) = mpsc::unbounded_channel();
    let monitor = runner.block_on(async move {
        let recipient = Forward(tx).start().recipient();
        // No HTTP server: each part starts its own monitor in this one process.
        let mut settings = Settings {
            store: StoreSettings::in_memory(),
            ..Settings::default()
        };
        settings.http.enabled = false;
        Monitor::builder(settings)
            .alert_recipient("bench", Severity::Info, recipient)
            .start()
            .expect("monitor starts")
    });
    (runner, monitor, rx)
}

fn measurement_to_alert(c: &mut Criterion) {
    let (runner, monitor, mut rx) = start();
    let series = SeriesKey::new("bench", "time", Metric::ClockSkewMs);
    let mut t = 1_795_000_000_000i64;
    c.bench_function("pipeline/measurement_to_alert", |b| {
        b.iter_custom(|iters| {
            runner.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    t += 1000;
                    let start = Instant::now();
                    monitor.inject(Measurement::ok(series.clone(), 5000.0, Timestamp(t)));
                    let a = rx.recv().await.expect("alert");
                    total += start.elapsed();
                    assert_eq!(a.kind, AlertKind::Firing);
                    // Resolve the episode (not timed) so the next sample fires anew.
                    for _ in 0..3 {
                        t += 1000;
                        monitor.inject(Measurement::ok(series.clone(), 0.0, Timestamp(t)));
                    }
                    let r = rx.recv().await.expect("resolved");
                    assert_eq!(r.kind, AlertKind::Resolved);
                }
                total
            })
        })
    });
}

fn pipeline_throughput(c: &mut Criterion) {
    let (runner, monitor, _rx) = start();
    let series = SeriesKey::new("bench", "ping", Metric::LatencyMs);
    const BATCH: u64 = 10_000;
    let mut t = 1_795_000_000_000i64;
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(BATCH));
    group.bench_function("latency_measurements_judged", |b| {
        b.iter(|| {
            runner.block_on(async {
                for i in 0..BATCH {
                    t += 1000;
                    let v = 50.0 + (i % 7) as f64;
                    monitor.inject(Measurement::ok(series.clone(), v, Timestamp(t)));
                }
                monitor.drain().await;
            })
        })
    });
    group.finish();
}

/// An errors anomaly of `okx/<endpoint>` at `at` (ms).
fn anomaly(endpoint: &str, at: i64) -> Anomaly {
    Anomaly {
        series: SeriesKey::new("okx", endpoint, Metric::Errors),
        detector: "consecutive_failures".into(),
        severity: Severity::Warning,
        value: 1.0,
        threshold: 0.5,
        confidence: 1.0,
        message: "failing".into(),
        started_at: Timestamp(at),
        at: Timestamp(at),
        stats: Stats::default(),
    }
}

fn router_with_held_recoveries(c: &mut Criterion) {
    const HELD: i64 = 3_000;
    let runner = actix::System::new();
    let monitor = runner.block_on(async {
        let mut settings = Settings {
            store: StoreSettings::in_memory(),
            ..Settings::default()
        };
        settings.http.enabled = false;
        settings.router.flap_hold = Duration::from_secs(600);
        Monitor::builder(settings).start().expect("monitor starts")
    });
    // Event time near the wall clock: the holds are due ten minutes from now, after the bench.
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    let router = monitor.router().clone();
    runner.block_on(async {
        let t = now();
        for i in 0..HELD {
            let e = format!("held{i}");
            let _ = router.send(anomaly(&e, t + i)).await;
            let series = SeriesKey::new("okx", &*e, Metric::Errors);
            let at = Timestamp(t + i + 1);
            let stats = Stats::default();
            let _ = router.send(Resolved { series, at, stats }).await;
        }
    });
    let mut n = 0u64;
    c.bench_function("router/anomaly_with_3000_held_recoveries", |b| {
        b.iter_custom(|iters| {
            runner.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    n += 1;
                    let _ = router.send(anomaly(&format!("new{n}"), now())).await;
                }
                start.elapsed()
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = measurement_to_alert, pipeline_throughput, router_with_held_recoveries
}
criterion_main!(benches);
