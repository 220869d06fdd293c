//! Heap bytes of the per-series detector state (issue 6: at most 5 KB of RSS per monitored
//! endpoint). A counting global allocator tracks live heap bytes; the bench builds `ENDPOINTS`
//! endpoints' detectors the way a monitor does (each endpoint has a `latency_ms` and an
//! `errors` series, default `DetectSettings`), feeds them event-time probes and prints the live
//! heap bytes per series and per endpoint after the feed (the detectors' steady state:
//! windows full, baselines' current bucket and history as the feed left them).
//!
//! Scenarios: one probe every 10 s (the default interval) for 5 minutes and for 6 hours (the
//! default baseline history, full), and one probe a second for 6 hours. Latencies jitter ±25 %
//! around 40 ms with rare spikes; 1 % of probes answer 503 (those feed the `errors` series and
//! not the latency one, as in the monitor).
//!
//! Run: `cargo bench --bench memory`.

use exwatch::detect::baseline::{ErrorBaseline, P90Baseline};
use exwatch::detect::errors::ErrorModel;
use exwatch::detect::latency::LatencyModel;
use exwatch::detect::series::SeriesDetector;
use exwatch::messages::{Measurement, Metric, Outcome, SeriesKey, Timestamp};
use exwatch::settings::DetectSettings;

#[path = "common/counting.rs"]
mod counting;

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// Live heap bytes of the process.
fn live() -> isize {
    counting::snapshot().0
}

const ENDPOINTS: usize = 1_000;

/// Feeds every endpoint `probes` probes `interval_ms` apart and prints live heap bytes per
/// endpoint and per series (each series' `SeriesDetector` itself counted too).
fn scenario(name: &str, interval_ms: i64, probes: i64) {
    let settings = DetectSettings::default();
    let mut rng = fastrand::Rng::with_seed(6);
    let mut lat_m = Measurement::ok(
        SeriesKey::new("bench", "ep", Metric::LatencyMs),
        0.0,
        Timestamp(0),
    );
    let mut err_m = Measurement::ok(
        SeriesKey::new("bench", "ep", Metric::Errors),
        0.0,
        Timestamp(0),
    );
    let base = live();
    let mut latency: Vec<SeriesDetector> = (0..ENDPOINTS)
        .map(|_| SeriesDetector::new(Metric::LatencyMs, &settings))
        .collect();
    let mut errors: Vec<SeriesDetector> = (0..ENDPOINTS)
        .map(|_| SeriesDetector::new(Metric::Errors, &settings))
        .collect();
    let empty = live() - base;
    let start = 1_800_000_000_000_i64;
    for k in 0..probes {
        for e in 0..ENDPOINTS {
            // Endpoints' probes are spread over the interval, as the scheduler spreads them.
            let at =
                Timestamp(start + k * interval_ms + (e as i64 * interval_ms) / ENDPOINTS as i64);
            let failed = rng.u32(0..100) == 0;
            let spike = if rng.u32(0..200) == 0 { 6.0 } else { 1.0 };
            let value = 40.0 * (0.75 + 0.5 * rng.f64()) * spike;
            let (outcome, status) = if failed {
                (Outcome::Http5xx, 503)
            } else {
                (Outcome::Ok, 200)
            };
            err_m.at = at;
            err_m.outcome = outcome;
            err_m.status = status;
            err_m.value = if failed { 1.0 } else { 0.0 };
            std::hint::black_box(errors[e].observe(&err_m));
            lat_m.at = at;
            lat_m.outcome = outcome;
            lat_m.status = status;
            lat_m.value = value;
            std::hint::black_box(latency[e].observe(&lat_m));
            latency[e].take_rollup();
            errors[e].take_rollup();
        }
    }
    let fed = live() - base;
    let mark = live();
    drop(errors);
    let errors_bytes = mark - live();
    drop(latency);
    let per = |b: isize| b as f64 / ENDPOINTS as f64;
    println!(
        "{name:<22} new {:>6.0} B/endpoint | fed {:>6.0} B/endpoint = latency_ms {:>6.0} + errors {:>6.0} B/series",
        per(empty),
        per(fed),
        per(fed - errors_bytes),
        per(errors_bytes),
    );
}

fn main() {
    println!("{ENDPOINTS} endpoints, live heap bytes of their detectors (default DetectSettings)");
    println!(
        "struct sizes: SeriesDetector {} B, LatencyModel {} B, P90Baseline {} B (boxed), ErrorModel {} B, ErrorBaseline {} B (boxed)",
        size_of::<SeriesDetector>(),
        size_of::<LatencyModel>(),
        size_of::<P90Baseline>(),
        size_of::<ErrorModel>(),
        size_of::<ErrorBaseline>(),
    );
    scenario("10 s interval, 5 min", 10_000, 30);
    scenario("10 s interval, 6 h", 10_000, 6 * 360);
    scenario("1 s interval, 6 h", 1_000, 6 * 3600);
}
