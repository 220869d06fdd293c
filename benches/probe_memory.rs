//! Memory per monitored endpoint outside the detectors' models: the probe metrics a
//! `ProbeActor` registers for each endpoint, and the non-model parts of the two series
//! (errors, latency) each HTTP endpoint gets in its exchange's `DetectorActor` (a
//! `TrackedSeries` and its map entry; the actor itself is one per exchange).
//!
//! A counting global allocator tracks live heap bytes and allocation calls; each part is
//! built for `ENDPOINTS` endpoints (default 2 000, env `PROBE_MEMORY_ENDPOINTS`) and kept
//! alive while measured. Inline sizes of the structs that hold the handles are added where
//! they live in another allocation (the actor's task). With `PROBE_MEMORY_DUMP=<path>` the
//! `/metrics` text of the probe metrics (after a few observations) is written to `path`, to
//! diff the exposition across changes.
//!
//! Part `send` (run it with a release build: its times depend on the profile): a probe's path
//! into the detectors — 100 endpoints of one exchange, each probe an `errors` and a
//! `latency_ms` measurement, no taps — sent the old way (each measurement its own message
//! through `DetectorSet::send`) and as one `Measurements` per probe (`send_batch`), with the
//! exchange's detector on another arbiter (a cross-thread message, as on the pipeline thread)
//! or on the sender's own (as a probe places it): allocation calls and wall time per probe,
//! detection included, drained with a `Ping`.
//!
//! Run: `cargo bench --bench probe_memory` (the figures of the other parts do not depend on
//! the profile, so `--profile dev` gives the same numbers without a release build).

use std::sync::Arc;

use actix::{Actor, Context, Handler};
use exwatch::messages::{Anomaly, Metric, Name, Outcome, Resolved, SeriesKey};
use exwatch::metrics::{EndpointMetrics, Metrics};
use exwatch::settings::Settings;

#[path = "common/counting.rs"]
mod counting;
use counting::snapshot;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

fn endpoints() -> usize {
    std::env::var("PROBE_MEMORY_ENDPOINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// What one endpoint's probe keeps: its metric handle (as `ProbeActor::new` registers it).
type ProbeHandles = Arc<EndpointMetrics>;

fn register_probe_metrics(metrics: &Metrics, exchange: &Name, endpoint: &Name) -> ProbeHandles {
    metrics.endpoint(exchange, endpoint)
}

fn observe(h: &ProbeHandles, i: usize) {
    h.outcome(Outcome::ALL[i % 8]);
    h.scheduled(2);
    h.late(1);
    h.observe_duration(0.001 * i as f64);
    for _ in 0..i % 3 {
        h.confirmed();
    }
}

/// Endpoint `i`'s exchange and endpoint names (20 exchanges), as the settings hold them.
fn names(i: usize) -> (Name, Name) {
    (
        Name::from(format!("ex{:02}", i % 20)),
        Name::from(format!("endpoint_{i:05}")),
    )
}

fn probe_metrics(n: usize) {
    let labels: Vec<(Name, Name)> = (0..n).map(names).collect();
    // The handles live inline in the probe's `Endpoint`s: reserve their room first.
    let mut handles: Vec<ProbeHandles> = Vec::with_capacity(n);
    let (b0, c0) = snapshot();
    let metrics = Metrics::new();
    for (ex, ep) in &labels {
        handles.push(register_probe_metrics(&metrics, ex, ep));
    }
    let (b1, c1) = snapshot();
    let heap = (b1 - b0) as f64 / n as f64;
    let allocs = (c1 - c0) as f64 / n as f64;
    println!(
        "probe metrics: {heap:.0} B heap per endpoint ({allocs:.1} allocation calls), \
         {} B inline in the probe's Endpoint",
        std::mem::size_of::<ProbeHandles>()
    );
    for (i, h) in handles.iter().enumerate() {
        observe(h, i);
    }
    let text = metrics.render();
    println!(
        "  /metrics text: {} B per endpoint, {} lines",
        text.len() / n,
        text.lines().count()
    );
    if let Ok(path) = std::env::var("PROBE_MEMORY_DUMP") {
        std::fs::write(path, &text).expect("dump written");
    }
    drop(handles);
}

/// Takes the detectors' anomalies and recoveries and drops them (both parts measure the
/// detectors, not the Router).
struct Sink;
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Handler<Anomaly> for Sink {
    type Result = ();
    fn handle(&mut self, _: Anomaly, _: &mut Context<Self>) {}
}
impl Handler<Resolved> for Sink {
    type Result = ();
    fn handle(&mut self, _: Resolved, _: &mut Context<Self>) {}
}

fn detectors(n: usize) {
    use exwatch::detect::tracked::TrackedSeries;
    use exwatch::detect::{DetectorOutputs, DetectorShared, SeriesDetector};

    let settings = Settings::default();
    let detect = Arc::new(settings.detect.clone());
    let series: Vec<SeriesKey> = (0..n)
        .flat_map(|i| {
            let (ex, ep) = names(i);
            [Metric::Errors, Metric::LatencyMs].map(|m| SeriesKey::new(ex.clone(), ep.clone(), m))
        })
        .collect();
    actix::System::new().block_on(async move {
        let sink = Sink.start();
        let outputs = DetectorOutputs {
            anomalies: sink.clone().recipient(),
            resolved: sink.recipient(),
        };
        let metrics = Arc::new(Metrics::new());
        // One for the whole set, as `DetectorSet` builds it.
        let shared = DetectorShared::new(
            detect.clone(),
            settings.supervision.clone(),
            outputs,
            metrics,
            None,
        );

        // The structs live inline in the actors' tasks: reserve their room first.
        let mut models: Vec<SeriesDetector> = Vec::with_capacity(series.len());
        let (b0, c0) = snapshot();
        for s in &series {
            models.push(SeriesDetector::for_series(s, &detect));
        }
        let (b1, c1) = snapshot();
        drop(models);

        // The exchange actor's map holds each state boxed.
        let mut tracked: Vec<Box<TrackedSeries>> = Vec::with_capacity(series.len());
        let (b2, c2) = snapshot();
        for (i, s) in series.iter().enumerate() {
            tracked.push(Box::new(TrackedSeries::new(s, &shared, i as u64)));
        }
        let (b3, c3) = snapshot();
        let count = series.len() as f64;
        let heap = ((b3 - b2) - (b1 - b0)) as f64 / count;
        let calls = ((c3 - c2) - (c1 - c0)) as f64 / count;
        // Heap above counts the boxed state; what the model alone takes inline was counted
        // in its Vec, so take it off. Inline in the map: the key, the box, hashbrown's control
        // byte (and the empty slots of its load factor, not counted).
        let heap = heap - std::mem::size_of::<SeriesDetector>() as f64;
        let inline =
            std::mem::size_of::<SeriesKey>() + std::mem::size_of::<Box<TrackedSeries>>() + 1;
        println!(
            "detector series: {heap:.0} B heap per series outside the model ({calls:.1} \
             allocation calls), {inline} B inline outside the model (map entry included); \
             {:.0} B per endpoint (2 series, heap + inline); no actor, task or mailbox per \
             series (one per exchange)",
            2.0 * (heap + inline as f64),
        );
        drop(tracked);
    });
}

/// How a probe's measurements reach the detectors (see the module docs).
fn send_path() {
    use actix::Arbiter;
    use exwatch::detect::{DetectorOutputs, DetectorSet, Measurements};
    use exwatch::messages::{Measurement, Ping, Timestamp};

    const ENDPOINTS: usize = 100;
    const PROBES: usize = 200_000;
    let settings = Settings::default();
    let keys: Vec<(SeriesKey, SeriesKey)> = (0..ENDPOINTS)
        .map(|e| {
            let ep = Name::from(format!("e{e}"));
            (
                SeriesKey::new("x", ep.clone(), Metric::Errors),
                SeriesKey::new("x", ep, Metric::LatencyMs),
            )
        })
        .collect();
    actix::System::new().block_on(async move {
        let sink = Sink.start();
        let outputs = DetectorOutputs {
            anomalies: sink.clone().recipient(),
            resolved: sink.recipient(),
        };
        let other = Arbiter::new();
        let mut t = 1_800_000_000_000_i64;
        for (how, batched, here) in [
            ("one message per measurement, other thread", false, false),
            ("one message per probe, other thread", true, false),
            ("one message per probe, same thread", true, true),
        ] {
            let set = DetectorSet::builder(
                other.handle(),
                settings.detect.clone(),
                settings.supervision.clone(),
                outputs.clone(),
                Arc::new(Metrics::new()),
            )
            .build();
            let exchange = Name::from("x");
            let shard = if here {
                set.shard_on(&exchange, &Arbiter::current())
            } else {
                set.shard(&exchange)
            };
            let mut run = |probes: usize| {
                for i in 0..probes {
                    let (errors, latency) = &keys[i % ENDPOINTS];
                    if i % ENDPOINTS == 0 {
                        t += 1_000;
                    }
                    let at = Timestamp(t);
                    let ms = 40.0 + (i * 7919 % 13) as f64;
                    let e = Measurement::ok(errors.clone(), 0.0, at);
                    let l = Measurement::ok(latency.clone(), ms, at);
                    if batched {
                        let mut batch = Measurements::new();
                        let _ = batch.push(e);
                        let _ = batch.push(l);
                        set.send_batch(&shard, batch);
                    } else {
                        set.send(e);
                        set.send(l);
                    }
                }
            };
            // Every series tracked and its windows filled first.
            run(100 * ENDPOINTS);
            let _ = shard.send(Ping).await;
            let (_, c0) = snapshot();
            let start = std::time::Instant::now();
            for _ in 0..PROBES / 1_000 {
                run(1_000);
                // Let a same-thread detector run between bursts, as a probe's arbiter would.
                let _ = shard.send(Ping).await;
            }
            let elapsed = start.elapsed();
            let (_, c1) = snapshot();
            println!(
                "detector path, {how}: {:.2} allocation calls and {:.2} µs per probe \
                 (2 measurements, detection included)",
                (c1 - c0) as f64 / PROBES as f64,
                elapsed.as_secs_f64() * 1e6 / PROBES as f64,
            );
        }
        other.stop();
    });
}

/// A whole monitor's config: `exchanges` exchanges of `per_exchange` HTTP endpoints each,
/// probing a closed loopback port once an hour (so that the measurement sees the standing
/// state, not probes in flight).
fn monitor_toml(exchanges: usize, per_exchange: usize) -> String {
    let mut s = String::from(
        "[monitor]\nregion = \"bench\"\nprobe_threads = 2\n[http]\nenabled = false\n\
         [store]\npath = \":memory:\"\n[defaults]\ninterval = \"1h\"\ntimeout = \"5s\"\n\
         [channels.log]\ntype = \"log\"\nmin_severity = \"critical\"\n",
    );
    for x in 0..exchanges {
        s.push_str(&format!("[exchanges.x{x}]\nmax_connections = 16\n"));
        for e in 0..per_exchange {
            s.push_str(&format!(
                "[exchanges.x{x}.endpoints.e{e}]\nurl = \"http://127.0.0.1:9/x{x}/e{e}\"\ncheck = \"http\"\n"
            ));
        }
    }
    s
}

/// Heap kept by a started monitor of `exchanges` × `per_exchange` endpoints, once settled.
async fn monitor_heap(exchanges: usize, per_exchange: usize) -> (f64, f64) {
    let settings =
        exwatch::settings::from_toml_str(&monitor_toml(exchanges, per_exchange), &|_| None)
            .expect("bench config is valid");
    let (b0, c0) = snapshot();
    let handle = exwatch::Monitor::start(settings).expect("monitor starts");
    actix_rt::time::sleep(std::time::Duration::from_secs(3)).await;
    let (b1, c1) = snapshot();
    std::mem::forget(handle);
    ((b1 - b0) as f64, (c1 - c0) as f64)
}

/// What an exchange costs beyond its endpoints: a monitor of `n` exchanges of one endpoint
/// against one of a single exchange of `n` endpoints, and the HTTP clients alone (awc's, for
/// channels and streams; the probe's own).
fn exchanges(n: usize) {
    actix::System::new().block_on(async move {
        let (clients, calls) = {
            let mut kept: Vec<awc::Client> = Vec::with_capacity(n);
            exwatch::client::install_crypto_provider();
            let (b0, c0) = snapshot();
            for _ in 0..n {
                kept.push(exwatch::client::build_client(16, std::time::Duration::from_secs(5)));
            }
            let (b1, c1) = snapshot();
            ((b1 - b0) as f64 / n as f64, (c1 - c0) as f64 / n as f64)
        };
        println!("http client (build_client): {clients:.0} B heap per client ({calls:.1} allocation calls)");
        let (probe_clients, probe_calls) = {
            let mut kept = Vec::with_capacity(n);
            let (b0, c0) = snapshot();
            for _ in 0..n {
                kept.push(exwatch::probe::http::ProbeClient::new(16));
            }
            let (b1, c1) = snapshot();
            ((b1 - b0) as f64 / n as f64, (c1 - c0) as f64 / n as f64)
        };
        println!(
            "probe client (ProbeClient::new): {probe_clients:.0} B heap per client ({probe_calls:.1} allocation calls)"
        );
        let (one, one_calls) = monitor_heap(1, n).await;
        let (many, many_calls) = monitor_heap(n, 1).await;
        println!(
            "monitor, 1 exchange x {n} endpoints: {:.0} B heap per endpoint ({:.1} allocation calls)",
            one / n as f64,
            one_calls / n as f64
        );
        println!(
            "monitor, {n} exchanges x 1 endpoint: {:.0} B heap per exchange ({:.1} allocation calls); \
             {:.0} B per exchange beyond its endpoint",
            many / n as f64,
            many_calls / n as f64,
            (many - one) / n as f64
        );
    });
}

fn main() {
    let n = endpoints();
    let parts: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let want = |p: &str| parts.is_empty() || parts.iter().any(|a| a == p);
    println!("{n} endpoints");
    if want("metrics") {
        probe_metrics(n);
    }
    if want("detectors") {
        detectors(n);
    }
    if want("exchanges") {
        exchanges(n);
    }
    if want("send") {
        send_path();
    }
}
