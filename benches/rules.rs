//! Throughput of operator rules: `RuleState::observe` for an error-rate rule (`error_rate_5xx`)
//! and a latency-percentile rule (`latency_p99`), each with the default one-minute window (60
//! buckets) and probes one second apart, cycled through pre-generated inputs. No allocation
//! per measurement; the percentile is a scan of the fixed histogram.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exwatch::detect::rules::{Condition, RuleMetric, RuleOp, RuleState};
use exwatch::messages::{Measurement, Metric, Outcome, SeriesKey, Timestamp};

/// Inputs per benchmark; a power of two so cycling is a mask.
const INPUTS: usize = 4096;

fn condition(metric: RuleMetric, threshold: f64) -> Condition {
    Condition {
        metric,
        op: RuleOp::Gt,
        threshold,
        hold: Duration::from_secs(600),
        window: Duration::from_secs(60),
    }
}

fn inputs(metric: Metric) -> Vec<Measurement> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..INPUTS)
        .map(|i| {
            let (outcome, status) = if rng.u32(0..100) < 5 {
                (Outcome::Http5xx, 503)
            } else {
                (Outcome::Ok, 200)
            };
            Measurement {
                series: SeriesKey::new("okx", "ping", metric),
                value: 40.0 * (0.85 + 0.3 * rng.f64()),
                outcome,
                status,
                at: Timestamp(i as i64 * 1000),
            }
        })
        .collect()
}

fn bench(c: &mut Criterion, name: &str, metric: RuleMetric, threshold: f64) {
    let input = inputs(metric.source());
    let mut state = RuleState::new(condition(metric, threshold));
    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    let mut epoch = 0i64;
    group.bench_function(name, |b| {
        b.iter(|| {
            let mut m = input[i & (INPUTS - 1)].clone();
            m.at = Timestamp(m.at.0 + epoch);
            i += 1;
            if i.is_multiple_of(INPUTS) {
                epoch += INPUTS as i64 * 1000;
            }
            black_box(state.observe(black_box(&m)))
        })
    });
    group.finish();
}

fn rules(c: &mut Criterion) {
    bench(c, "error_rate_5xx_window_1m", RuleMetric::ErrorRate5xx, 0.1);
    bench(c, "latency_p99_window_1m", RuleMetric::LatencyP99, 500.0);
}

criterion_group!(benches, rules);
criterion_main!(benches);
