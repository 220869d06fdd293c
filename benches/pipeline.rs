//! Measurement-to-alert time through the running actor pipeline (DetectorSet → DetectorActor
//! → RouterActor → alert recipient), and measurement throughput through the detectors.

use std::time::{Duration, Instant};

use actix::{Actor, Context, Handler};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exwatch::messages::{Alert, AlertKind, Measurement, Metric, SeriesKey, Severity, Timestamp};
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
        Monitor::builder(Settings {
            store: StoreSettings::in_memory(),
            ..Settings::default()
        })
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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = measurement_to_alert, pipeline_throughput
}
criterion_main!(benches);
