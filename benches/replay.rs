//! Throughput of `exwatch replay`: an in-memory CSV of 100 000 labelled rows (RFC 3339
//! timestamps, jittery latencies with spikes) parsed, judged by the live latency detector and
//! written to a sink, so the figure is rows per second of the whole replay minus disk I/O;
//! and the whole `replay` over a 1 M-row file on disk to a file on disk (issue 12), with the
//! default (likelihood) detector and with the sliding composite.
//!
//! Target: at least a million rows per second on one core; 2 M rows/s for issue 12.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exwatch::replay::replay;
use exwatch::settings::{DetectSettings, Direction, ValueUnit};

const ROWS: usize = 100_000;

fn corpus() -> String {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut text = String::from("timestamp,value,label\n");
    for i in 0..ROWS {
        let spike = rng.u32(0..200) == 0;
        let value = 40.0 * (0.85 + 0.3 * rng.f64()) * if spike { 8.0 } else { 1.0 };
        let (h, m, s) = ((i / 3600) % 24, (i / 60) % 60, i % 60);
        let day = 1 + i / 86_400;
        text.push_str(&format!(
            "2026-01-{day:02}T{h:02}:{m:02}:{s:02}Z,{value:.1},{}\n",
            u8::from(spike)
        ));
    }
    text
}

fn bench_replay(c: &mut Criterion) {
    let input = corpus();
    let settings = DetectSettings::default();
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    group.measurement_time(std::time::Duration::from_secs(8));
    group.bench_function("rows_100k_in_memory", |b| {
        b.iter(|| {
            let out = std::io::BufWriter::new(std::io::sink());
            black_box(replay(input.as_bytes(), out, &settings).expect("valid corpus"))
        })
    });
    // What `exwatch replay` runs by default: any unit, both directions.
    let mut any = DetectSettings::default();
    any.latency.unit = ValueUnit::Any;
    any.latency.direction = Direction::Both;
    group.bench_function("rows_100k_in_memory_any_unit_both", |b| {
        b.iter(|| {
            let out = std::io::BufWriter::new(std::io::sink());
            black_box(replay(input.as_bytes(), out, &any).expect("valid corpus"))
        })
    });
    group.finish();

    // A 1 M-row file on disk, replayed to a file on disk.
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("rows_1m.csv");
    let mut text = String::from("timestamp,value,label\n");
    let mut rng = fastrand::Rng::with_seed(11);
    let start = 1_767_225_600_000i64; // 2026-01-01T00:00:00Z
    for i in 0..1_000_000i64 {
        let spike = rng.u32(0..500) == 0;
        let value = 40.0 * (0.85 + 0.3 * rng.f64()) * if spike { 8.0 } else { 1.0 };
        text.push_str(&format!(
            "{},{value:.1},{}\n",
            start + i * 1000,
            u8::from(spike)
        ));
    }
    std::fs::write(&path, text).expect("write the 1 M-row file");
    let out = dir.path().join("out.csv");
    let mut group = c.benchmark_group("replay_file");
    group.throughput(Throughput::Elements(1_000_000));
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(20));
    let mut composite = any.clone();
    composite.latency.select("composite").expect("a detector");
    for (name, settings) in [
        ("rows_1m_likelihood", &any),
        ("rows_1m_composite", &composite),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let input = std::io::BufReader::new(std::fs::File::open(&path).expect("input"));
                let output = std::io::BufWriter::new(std::fs::File::create(&out).expect("output"));
                black_box(replay(input, output, settings).expect("valid file"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_replay);
criterion_main!(benches);
