//! `StatusBoard::record`: one measurement into the live status (`GET /api/v1/status`), as
//! `DetectorSet::send` does for every measurement. Probes of 8 endpoints on 3 exchanges, one
//! outcome and one latency per probe, a probe every 100 ms of event time so a minute closes
//! (percentiles computed, histogram cleared) every 600 updates of an endpoint. Inputs are built
//! once, outside the measured loop.
//!
//! Also prints the bytes one endpoint costs the board.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exwatch::messages::{Measurement, Metric, Outcome, SeriesKey, Timestamp};
use exwatch::status::StatusBoard;
use exwatch::status::board::bytes_per_endpoint;

/// Inputs; a power of two so cycling is a mask.
const INPUTS: usize = 8192;

fn inputs() -> Vec<Measurement> {
    let mut rng = fastrand::Rng::with_seed(11);
    let endpoints: Vec<(String, String)> = (0..8)
        .map(|i| (format!("ex{}", i % 3), format!("ep{i}")))
        .collect();
    let mut out = Vec::with_capacity(INPUTS);
    let mut at = 1_795_000_000_000i64;
    while out.len() < INPUTS {
        for (ex, ep) in &endpoints {
            let ok = rng.u32(0..50) != 0;
            out.push(Measurement {
                series: SeriesKey::new(ex.as_str(), ep.as_str(), Metric::Errors),
                value: if ok { 0.0 } else { 1.0 },
                outcome: if ok { Outcome::Ok } else { Outcome::Timeout },
                status: if ok { 200 } else { 0 },
                at: Timestamp(at),
            });
            out.push(Measurement::ok(
                SeriesKey::new(ex.as_str(), ep.as_str(), Metric::LatencyMs),
                40.0 * (0.8 + 0.5 * rng.f64()),
                Timestamp(at),
            ));
        }
        at += 100;
    }
    out.truncate(INPUTS);
    out
}

/// Resident memory of this process, in bytes (Linux; 0 elsewhere).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// What 10 000 endpoints with a full hour of data cost in RSS, per endpoint.
fn rss_per_endpoint() -> f64 {
    const N: usize = 10_000;
    let names: Vec<(exwatch::messages::Name, exwatch::messages::Name)> = (0..N)
        .map(|i| {
            (
                format!("ex{}", i / 100).into(),
                format!("ep{}", i % 100).into(),
            )
        })
        .collect();
    let before = rss();
    let board = StatusBoard::new("rss".into(), &[]);
    for minute in 0..61i64 {
        for (ex, ep) in &names {
            board.record(&Measurement::ok(
                SeriesKey {
                    exchange: ex.clone(),
                    endpoint: ep.clone(),
                    metric: Metric::LatencyMs,
                },
                40.0,
                Timestamp(1_795_000_000_000 + minute * 60_000),
            ));
        }
    }
    let grown = rss().saturating_sub(before);
    black_box(&board);
    grown as f64 / N as f64
}

fn bench(c: &mut Criterion) {
    println!(
        "status board: {} bytes per endpoint (struct sizes); {:.0} bytes RSS per endpoint (10 000 endpoints, a full hour)",
        bytes_per_endpoint(),
        rss_per_endpoint()
    );
    let inputs = inputs();
    let board = StatusBoard::new("bench".into(), &[]);
    for m in &inputs {
        board.record(m);
    }
    let mut group = c.benchmark_group("status_board");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    // Event time keeps moving forward across cycles, as it does live.
    let mut shift = 0i64;
    let span = inputs
        .last()
        .map_or(0, |m| m.at.as_millis() - inputs[0].at.as_millis())
        + 100;
    group.bench_function("record", |b| {
        b.iter(|| {
            let mut m = inputs[i].clone();
            m.at = Timestamp(m.at.as_millis() + shift);
            board.record(black_box(&m));
            i = (i + 1) & (INPUTS - 1);
            if i == 0 {
                shift += span;
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
