//! Fast confirmation end to end, on real time: the loopback fake exchange fails at a known
//! instant and the webhook sink records when the critical "down (circuit open)" alert arrives.
//! Also: a blip raises nothing and leaves the schedule alone, a rate limit triggers no burst,
//! and the per-exchange budget caps re-probes when many endpoints fail together.
//!
//! The fault is injected at a random phase of the probe schedule, so the figures printed are
//! what an outage starting at any moment sees. `confirm_measure_fault_to_alert` (ignored; run
//! it with `--ignored --nocapture`) measures interval 10 s and 3 s, with and without
//! confirmation, for benches/RESULTS.md.

use std::time::{Duration, Instant};

use exwatch::channel::{ChannelKind, ChannelSettings, WebhookSpec};
use exwatch::messages::{Name, Severity};
use exwatch::metrics::Metrics;
use exwatch::settings::{
    BreakerSettings, CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings, Settings,
    default_confirm_interval,
};
use exwatch::{Monitor, MonitorHandle};

use crate::common::retry;
use crate::support::fake_exchange::{FakeExchange, Mode};
use crate::support::fake_sink::FakeSink;

const MS: Duration = Duration::from_millis(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// How one exchange is probed in these tests.
#[derive(Debug, Clone, Copy)]
struct Setup {
    interval: Duration,
    timeout: Duration,
    /// `None`: the default for the interval.
    confirm_interval: Option<Duration>,
    /// `None`: the breaker's threshold (5); `Some(0)`: confirmation off.
    confirm_probes: Option<u32>,
    confirm_per_minute: u32,
    endpoints: usize,
    failure_threshold: u32,
}

impl Setup {
    fn new(interval: Duration) -> Self {
        Self {
            interval,
            timeout: secs(2),
            confirm_interval: None,
            confirm_probes: None,
            confirm_per_minute: 60,
            endpoints: 1,
            failure_threshold: 5,
        }
    }
}

/// Path of endpoint `k` on the fake (a plain `{"status":"ok"}` health path).
fn path(k: usize) -> String {
    format!("/health/{k}")
}

/// A monitor probing `fake` as `setup` says, alerting every severity to `sink` by webhook.
fn start(fake: &FakeExchange, sink: &FakeSink, setup: Setup) -> MonitorHandle {
    let endpoints = (0..setup.endpoints)
        .map(|k| EndpointSettings {
            name: Name::from(format!("ep{k}")),
            url: fake.url(&path(k)),
            check: CheckProfile::Http,
            kind: EndpointKind::Health,
            symbol: None,
            interval: setup.interval,
            timeout: setup.timeout,
            max_body_bytes: 64 * 1024,
            confirm_interval: setup
                .confirm_interval
                .unwrap_or_else(|| default_confirm_interval(setup.interval)),
            confirm_probes: setup.confirm_probes,
        })
        .collect();
    let mut s = Settings {
        exchanges: vec![ExchangeSettings {
            name: Name::from("bybit"),
            max_connections: 8,
            confirm_per_minute: setup.confirm_per_minute,
            recv_window: None,
            ahead_window: None,
            endpoints,
        }],
        breaker: BreakerSettings {
            failure_threshold: setup.failure_threshold,
            // No half-open trials during a measurement.
            recovery_timeout: secs(600),
            half_open_max_calls: 2,
        },
        channels: vec![ChannelSettings {
            name: Name::from("hook"),
            min_severity: Severity::Info,
            retry: retry(3),
            kind: ChannelKind::Webhook(WebhookSpec {
                url: sink.url(),
                secret_env: None,
                secret: None,
            }),
        }],
        ..crate::support::test_settings()
    };
    // A single failure among the first ten outcomes is a 10 % error rate, which the error-rate
    // detector (5 % by default) reports whatever the probing; these tests are about the
    // consecutive-failure detector and the breaker.
    s.detect.errors.rate_threshold = 0.5;
    s.shutdown.grace = secs(1);
    Monitor::start(s).expect("monitor starts")
}

fn counter(metrics: &Metrics, name: &str, endpoint: &str, outcome: Option<&str>) -> u64 {
    let mut labels = vec![("exchange", "bybit"), ("endpoint", endpoint)];
    if let Some(o) = outcome {
        labels.push(("outcome", o));
    }
    metrics.value(name, &labels).unwrap_or(0.0) as u64
}

fn confirms(m: &MonitorHandle, endpoint: &str) -> u64 {
    counter(m.metrics(), "exwatch_probes_confirm_total", endpoint, None)
}

fn oks(m: &MonitorHandle, endpoint: &str) -> u64 {
    counter(m.metrics(), "exwatch_probes_total", endpoint, Some("ok"))
}

async fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?}: {what}"
        );
        actix_rt::time::sleep(10 * MS).await;
    }
}

/// When the sink received the first alert matching `pred`, waiting at most `limit`.
async fn alert_at(
    sink: &FakeSink,
    limit: Duration,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> Option<(Instant, serde_json::Value)> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(r) = sink
            .received_requests()
            .into_iter()
            .find(|r| pred(&r.json()))
        {
            return Some((r.at, r.json()));
        }
        if Instant::now() >= deadline {
            return None;
        }
        actix_rt::time::sleep(5 * MS).await;
    }
}

fn is_down(a: &serde_json::Value) -> bool {
    a["kind"] == "firing" && a["detector"] == "circuit_open" && a["severity"] == "critical"
}

fn titles(sink: &FakeSink) -> Vec<String> {
    sink.received()
        .iter()
        .map(|a| format!("{} {} {}", a["kind"], a["severity"], a["title"]))
        .collect()
}

/// Fault → alert, measured once.
struct Trial {
    /// Fault to the first alert of any severity.
    first: Duration,
    /// Fault to the critical "down (circuit open)".
    down: Duration,
    confirms: u64,
}

/// Starts a healthy exchange, injects `fault` at `phase` (0..1) of an interval after its first
/// ok probe and measures the time until the webhook receives the critical down alert (`None`
/// if it has not within `limit`).
async fn trial(setup: Setup, fault: Mode, limit: Duration, phase: f64) -> Option<Trial> {
    let fake = FakeExchange::start();
    let sink = FakeSink::start();
    let monitor = start(&fake, &sink, setup);
    wait_for(setup.interval * 3, "a first ok probe", || {
        oks(&monitor, "ep0") >= 1
    })
    .await;
    actix_rt::time::sleep(setup.interval.mul_f64(phase)).await;
    assert!(sink.received().is_empty(), "{:?}", titles(&sink));
    let fault_at = Instant::now();
    fake.set_mode(fault);
    let down = alert_at(&sink, limit, is_down).await;
    let first = sink.received_requests().first().map(|r| r.at);
    let result = down.map(|(at, _)| Trial {
        first: first.unwrap_or(at) - fault_at,
        down: at - fault_at,
        confirms: confirms(&monitor, "ep0"),
    });
    monitor.stop().await;
    result
}

#[actix::test]
async fn confirm_503_outage_alerts_down_within_an_interval() {
    let setup = Setup::new(secs(3));
    let t = trial(setup, Mode::Status(503), secs(12), fastrand::f64())
        .await
        .expect("a down alert");
    println!(
        "interval 3 s, 503: fault → first alert {:?}, → down (circuit open) {:?}, {} re-probes",
        t.first, t.down, t.confirms
    );
    assert!(t.down < 2 * setup.interval, "down after {:?}", t.down);
    assert!((1..=5).contains(&t.confirms), "{} re-probes", t.confirms);
}

#[actix::test]
async fn confirm_reset_outage_alerts_down_within_an_interval() {
    let setup = Setup::new(secs(3));
    let t = trial(setup, Mode::Reset, secs(12), fastrand::f64())
        .await
        .expect("a down alert");
    println!(
        "interval 3 s, connection reset: fault → down (circuit open) {:?}",
        t.down
    );
    assert!(t.down < 2 * setup.interval, "down after {:?}", t.down);
}

#[actix::test]
async fn confirm_timeout_outage_alerts_down_within_an_interval() {
    // Each failure takes the timeout; re-probes go one after another.
    let setup = Setup {
        timeout: 200 * MS,
        confirm_interval: Some(300 * MS),
        ..Setup::new(secs(3))
    };
    let t = trial(setup, Mode::Stall, secs(12), fastrand::f64())
        .await
        .expect("a down alert");
    println!(
        "interval 3 s, timeout 200 ms: fault → down (circuit open) {:?}",
        t.down
    );
    assert!(t.down < 2 * setup.interval, "down after {:?}", t.down);
}

#[actix::test]
async fn confirm_a_blip_raises_no_alert_and_keeps_the_cadence() {
    let interval = secs(1);
    let setup = Setup {
        confirm_interval: Some(200 * MS),
        ..Setup::new(interval)
    };
    let fake = FakeExchange::start();
    let sink = FakeSink::start();
    let monitor = start(&fake, &sink, setup);
    wait_for(secs(5), "2 ok probes", || oks(&monitor, "ep0") >= 2).await;
    // The next request fails, every later one is fine.
    fake.queue_modes([Mode::Status(503)]);
    wait_for(secs(5), "one re-probe", || confirms(&monitor, "ep0") >= 1).await;
    let blip = fake.requests(&path(0));
    wait_for(secs(6), "4 more scheduled probes", || {
        fake.requests(&path(0)) >= blip + 4
    })
    .await;
    assert_eq!(confirms(&monitor, "ep0"), 1, "one re-probe ended the blip");
    monitor.drain().await;
    assert!(sink.received().is_empty(), "{:?}", titles(&sink));

    // Every request but the re-probe sits on the schedule's grid (start + k·interval).
    let arrivals = fake.arrivals(&path(0));
    let t0 = arrivals[0];
    let off_grid: Vec<usize> = arrivals
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            let since = (**a - t0).as_secs_f64();
            let k = (since / interval.as_secs_f64()).round();
            (since - k * interval.as_secs_f64()).abs() > 0.1
        })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        off_grid.len(),
        1,
        "only the re-probe is off the grid: {arrivals:?}"
    );
    let reprobe = off_grid[0];
    let gap = arrivals[reprobe] - arrivals[reprobe - 1];
    assert!(
        gap >= 190 * MS && gap < 600 * MS,
        "re-probe {gap:?} after the failure"
    );
    let late = counter(monitor.metrics(), "exwatch_probes_late_total", "ep0", None);
    let scheduled = counter(
        monitor.metrics(),
        "exwatch_probes_scheduled_total",
        "ep0",
        None,
    );
    assert_eq!(late, 0, "re-probes are not late slots");
    assert_eq!(
        scheduled as usize,
        arrivals.len() - 1,
        "re-probes are not scheduled slots"
    );
    monitor.stop().await;
}

#[actix::test]
async fn confirm_rate_limit_triggers_no_burst() {
    let setup = Setup {
        confirm_interval: Some(100 * MS),
        ..Setup::new(secs(1))
    };
    let fake = FakeExchange::start();
    let sink = FakeSink::start();
    let monitor = start(&fake, &sink, setup);
    wait_for(secs(5), "an ok probe", || oks(&monitor, "ep0") >= 1).await;

    // A healthy endpoint answers 429: neither a failure nor a reason to re-probe.
    fake.set_mode(Mode::RateLimited {
        retry_after_secs: 4,
    });
    wait_for(secs(5), "a 429", || {
        counter(
            monitor.metrics(),
            "exwatch_probes_total",
            "ep0",
            Some("rate_limited"),
        ) >= 1
    })
    .await;
    // A probe already on the wire when the 429 came back may still land; after that, nothing
    // for the rest of the 4 s back-off (checked well inside it).
    actix_rt::time::sleep(300 * MS).await;
    let before = fake.requests(&path(0));
    actix_rt::time::sleep(1200 * MS).await;
    assert_eq!(confirms(&monitor, "ep0"), 0);
    assert_eq!(fake.requests(&path(0)), before, "silent during Retry-After");

    // A failure whose first re-probe is answered 429: the burst stops there.
    fake.set_mode(Mode::Normal);
    wait_for(secs(12), "ok again", || oks(&monitor, "ep0") >= 2).await;
    fake.set_mode(Mode::RateLimited {
        retry_after_secs: 4,
    });
    fake.queue_modes([Mode::Status(503)]);
    wait_for(secs(5), "one re-probe", || confirms(&monitor, "ep0") >= 1).await;
    actix_rt::time::sleep(300 * MS).await;
    let after = fake.requests(&path(0));
    actix_rt::time::sleep(1200 * MS).await;
    assert_eq!(confirms(&monitor, "ep0"), 1, "no re-probe after the 429");
    assert_eq!(fake.requests(&path(0)), after, "silent during Retry-After");
    assert!(
        sink.received()
            .iter()
            .all(|a| a["detector"] != "circuit_open"),
        "{:?}",
        titles(&sink)
    );
    monitor.stop().await;
}

#[actix::test]
async fn confirm_budget_caps_re_probes_of_many_failing_endpoints() {
    let endpoints = 10;
    let setup = Setup {
        interval: secs(1),
        confirm_interval: Some(100 * MS),
        confirm_probes: Some(5),
        confirm_per_minute: 6,
        endpoints,
        // The breaker would end every burst at once; here it never opens.
        failure_threshold: 10_000,
        ..Setup::new(secs(1))
    };
    let fake = FakeExchange::start();
    let sink = FakeSink::start();
    let monitor = start(&fake, &sink, setup);
    let names: Vec<String> = (0..endpoints).map(|k| format!("ep{k}")).collect();
    wait_for(secs(5), "every endpoint ok", || {
        names.iter().all(|n| oks(&monitor, n) >= 1)
    })
    .await;
    let before = fake.total_requests();
    let started = Instant::now();
    fake.set_mode(Mode::Status(503));
    // Two intervals: every endpoint fails at least once and wants 5 re-probes (50 in all).
    actix_rt::time::sleep(secs(2) + 500 * MS).await;
    let elapsed = started.elapsed();
    let total: u64 = names.iter().map(|n| confirms(&monitor, n)).sum();
    // 6 in the bucket, plus one token per 10 s of refill.
    let refill = (elapsed.as_secs_f64() / 10.0).floor() as u64;
    assert!(
        (6..=6 + refill).contains(&total),
        "{total} re-probes in {elapsed:?} with a budget of 6 a minute"
    );
    let requests = (fake.total_requests() - before) as u64;
    let scheduled_max = endpoints as u64 * (elapsed.as_secs() + 2);
    assert!(
        requests <= scheduled_max + total,
        "{requests} requests: the schedule's plus {total} re-probes at most"
    );
    monitor.stop().await;
}

/// Fault → down alert for interval 10 s and 3 s, with and without confirmation: `TRIALS`
/// trials each, all run side by side. Prints a table for benches/RESULTS.md.
#[actix::test]
#[ignore = "a measurement (about a minute); run with --ignored --nocapture"]
async fn confirm_measure_fault_to_alert() {
    const TRIALS: u64 = 5;
    let configs = [
        ("10 s", secs(10), None),
        ("10 s", secs(10), Some(0)),
        ("3 s", secs(3), None),
        ("3 s", secs(3), Some(0)),
    ];
    let mut runs = Vec::new();
    for (c, &(_, interval, probes)) in configs.iter().enumerate() {
        for k in 0..TRIALS {
            let setup = Setup {
                confirm_probes: probes,
                ..Setup::new(interval)
            };
            // Phases spread evenly over the interval.
            let phase = (k as f64 + 0.5) / TRIALS as f64;
            runs.push(async move {
                (
                    c,
                    trial(setup, Mode::Status(503), interval * 7, phase).await,
                )
            });
        }
    }
    let results = futures_util::future::join_all(runs).await;
    println!(
        "| interval | confirmation | fault → first alert (mean) | fault → down: min / mean / max | re-probes |"
    );
    println!("|---|---|---|---|---|");
    for (c, (label, _, probes)) in configs.iter().enumerate() {
        let trials: Vec<&Trial> = results
            .iter()
            .filter(|(i, _)| *i == c)
            .map(|(_, t)| t.as_ref().expect("a down alert"))
            .collect();
        let secs = |d: Duration| d.as_secs_f64();
        let downs: Vec<f64> = trials.iter().map(|t| secs(t.down)).collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let firsts: Vec<f64> = trials.iter().map(|t| secs(t.first)).collect();
        let reprobes: u64 = trials.iter().map(|t| t.confirms).sum();
        println!(
            "| {label} | {} | {:.1} s | {:.1} / {:.1} / {:.1} s | {:.1} |",
            if *probes == Some(0) {
                "off"
            } else {
                "on (default)"
            },
            mean(&firsts),
            downs.iter().cloned().fold(f64::MAX, f64::min),
            mean(&downs),
            downs.iter().cloned().fold(0.0, f64::max),
            reprobes as f64 / trials.len() as f64,
        );
    }
}
