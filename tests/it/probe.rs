//! The ProbeActor against the loopback fake exchange, on real time: outcomes, the circuit
//! breaker, rate-limit back-off, bounded bodies, latency spikes, shutdown and restarts.
//!
//! Every wait polls with a deadline (the one fixed sleep is the 300 ms quiet period that proves
//! a stopped monitor sends nothing); intervals are 50–100 ms so each test takes a few seconds.
//! Latency detection ignores rises under 100 ms here (`min_increase_ms`), so that the jitter of
//! a loaded test machine never looks like a spike; the spikes the tests inject are 300 ms.

use std::future::Future;
use std::time::{Duration, Instant};

use exwatch::messages::{Alert, AlertKind, Anomaly, Crash, Metric, Ping, Severity};
use exwatch::metrics::Metrics;
use exwatch::settings::{
    BreakerSettings, CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings, Settings,
};
use exwatch::{Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::support::fake_exchange::{FakeExchange, Mode};

pub(crate) const MS: Duration = Duration::from_millis(1);

const BINANCE_PING: &str = "/api/v3/ping";
pub(crate) const BINANCE_TIME: &str = "/api/v3/time";
const BYBIT_TIME: &str = "/v5/market/time";
pub(crate) const OKX_TIME: &str = "/api/v5/public/time";
const OKX_TICKER: &str = "/api/v5/market/ticker";

/// An endpoint of `base` + `path` probed every `interval` with a 2 s timeout.
pub(crate) fn endpoint(
    name: &str,
    url: String,
    check: CheckProfile,
    kind: EndpointKind,
    interval: Duration,
) -> EndpointSettings {
    EndpointSettings {
        name: name.into(),
        url,
        check,
        kind,
        symbol: (kind == EndpointKind::Ticker).then(|| "BTC/USDT".into()),
        interval,
        timeout: Duration::from_secs(2),
        max_body_bytes: 256 * 1024,
        confirm_interval: Duration::from_secs(1),
        // Fast confirmation has its own tests.
        confirm_probes: Some(0),
    }
}

pub(crate) fn exchange(name: &str, endpoints: Vec<EndpointSettings>) -> ExchangeSettings {
    ExchangeSettings {
        name: name.into(),
        max_connections: 8,
        recv_window: None,
        ahead_window: None,
        confirm_per_minute: 60,
        endpoints,
    }
}

/// Binance `ping` on `fake`, every `interval`.
fn binance_ping(fake: &FakeExchange, interval: Duration) -> ExchangeSettings {
    exchange(
        "binance",
        vec![endpoint(
            "ping",
            fake.url(BINANCE_PING),
            CheckProfile::Binance,
            EndpointKind::Health,
            interval,
        )],
    )
}

/// Settings for `exchanges` with a breaker that never opens (tests of the breaker set theirs).
pub(crate) fn settings(exchanges: Vec<ExchangeSettings>) -> Settings {
    let mut s = Settings {
        exchanges,
        breaker: BreakerSettings {
            failure_threshold: 10_000,
            recovery_timeout: Duration::from_secs(1),
            half_open_max_calls: 2,
        },
        ..crate::support::test_settings()
    };
    s.detect.latency.min_increase_ms = 100.0;
    s.shutdown.grace = Duration::from_secs(1);
    s
}

/// A running monitor with collectors of every alert and every anomaly.
pub(crate) struct Probed {
    monitor: MonitorHandle,
    alerts: Collected<Alert>,
    pub(crate) anomalies: Collected<Anomaly>,
    /// Alerts taken from `alerts` so far, in arrival order.
    seen: Vec<Alert>,
}

impl Probed {
    pub(crate) fn start(settings: Settings) -> Self {
        let alerts = Collected::<Alert>::start();
        let anomalies = Collected::<Anomaly>::start();
        let monitor = Monitor::builder(settings)
            .alert_recipient("test", Severity::Info, alerts.recipient())
            .subscribe(anomalies.recipient())
            .start()
            .expect("monitor starts");
        Self {
            monitor,
            alerts,
            anomalies,
            seen: Vec::new(),
        }
    }

    fn metrics(&self) -> &Metrics {
        self.monitor.metrics()
    }

    /// `exwatch_probes_total{exchange, endpoint, outcome}` (0 before the probe registers it).
    fn outcomes(&self, exchange: &str, endpoint: &str, outcome: &str) -> u64 {
        value(
            self.metrics(),
            "exwatch_probes_total",
            &[
                ("exchange", exchange),
                ("endpoint", endpoint),
                ("outcome", outcome),
            ],
        ) as u64
    }

    /// Every outcome of one endpoint but `except`, summed.
    fn outcomes_except(&self, exchange: &str, endpoint: &str, except: &str) -> u64 {
        [
            "ok",
            "http_4xx",
            "http_5xx",
            "timeout",
            "connect",
            "bad_body",
            "rate_limited",
            "breaker_open",
        ]
        .into_iter()
        .filter(|o| *o != except)
        .map(|o| self.outcomes(exchange, endpoint, o))
        .sum()
    }

    fn breaker_state(&self, exchange: &str) -> f64 {
        value(
            self.metrics(),
            "exwatch_breaker_state",
            &[("exchange", exchange)],
        )
    }

    fn restarts(&self, actor: &str) -> f64 {
        value(
            self.metrics(),
            "exwatch_actor_restarts_total",
            &[("actor", actor)],
        )
    }

    /// Waits up to `secs` for an alert matching `pred` (among those already seen first).
    pub(crate) async fn alert(
        &mut self,
        secs: f64,
        what: &str,
        pred: impl Fn(&Alert) -> bool,
    ) -> Alert {
        if let Some(a) = self.seen.iter().find(|a| pred(a)) {
            return a.clone();
        }
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.alerts.next(3600)).await {
                Ok(a) => {
                    self.seen.push(a.clone());
                    if pred(&a) {
                        return a;
                    }
                }
                Err(_) => panic!(
                    "no {what} alert within {secs}s; got {:?}",
                    self.seen.iter().map(describe).collect::<Vec<_>>()
                ),
            }
        }
    }

    /// Waits until the probes have finished handling the results that have arrived (a probe
    /// counts an outcome and sends its measurements in one step, which a metric read from
    /// this thread may split) and the pipeline has judged every measurement sent so far.
    async fn settle(&self) {
        for probe in self.monitor.probes() {
            let _ = probe.send(Ping).await;
        }
        self.monitor.drain().await;
    }

    /// Every alert so far (seen or still queued), after the pipeline has drained.
    async fn all_alerts(&mut self) -> Vec<Alert> {
        self.monitor.drain().await;
        let more = self.alerts.drain().await;
        self.seen.extend(more);
        self.seen.clone()
    }

    pub(crate) async fn stop(self) {
        // Takes about a millisecond; the bound only tells "returns" from "hangs" on a
        // loaded CI machine.
        let stopped = tokio::time::timeout(Duration::from_secs(15), self.monitor.stop()).await;
        assert!(stopped.is_ok(), "stop() did not return within 15 s");
    }
}

fn value(metrics: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics.value(name, labels).unwrap_or(0.0)
}

pub(crate) fn describe(a: &Alert) -> String {
    format!(
        "{} {} {}/{}/{} {} ({})",
        a.kind.as_str(),
        a.severity,
        a.exchange,
        a.endpoint,
        a.metric,
        a.detector,
        a.message
    )
}

/// Polls `cond` every 10 ms until it holds, failing the test after `secs` seconds.
async fn wait_for(secs: f64, what: impl std::fmt::Display, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {secs}s: {what}");
        tokio::time::sleep(10 * MS).await;
    }
}

/// Runs `fut` for at most `secs` seconds.
async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took more than {secs}s"))
}

pub(crate) fn firing(metric: Metric) -> impl Fn(&Alert) -> bool {
    move |a| a.kind == AlertKind::Firing && a.metric == metric
}

fn resolved(metric: Metric) -> impl Fn(&Alert) -> bool {
    move |a| a.kind == AlertKind::Resolved && a.metric == metric
}

#[actix::test]
async fn probe_normal_endpoints_are_ok_and_quiet() {
    let fake = FakeExchange::start();
    let interval = 100 * MS;
    let ep =
        |name: &str, path: &str, check, kind| endpoint(name, fake.url(path), check, kind, interval);
    let mut p = Probed::start(settings(vec![
        exchange(
            "binance",
            vec![
                ep(
                    "ping",
                    BINANCE_PING,
                    CheckProfile::Binance,
                    EndpointKind::Health,
                ),
                ep(
                    "time",
                    BINANCE_TIME,
                    CheckProfile::Binance,
                    EndpointKind::Time,
                ),
            ],
        ),
        exchange(
            "bybit",
            vec![ep(
                "time",
                BYBIT_TIME,
                CheckProfile::Bybit,
                EndpointKind::Time,
            )],
        ),
        exchange(
            "okx",
            vec![
                ep("time", OKX_TIME, CheckProfile::Okx, EndpointKind::Time),
                ep(
                    "ticker",
                    &format!("{OKX_TICKER}?instId=BTC-USDT"),
                    CheckProfile::Okx,
                    EndpointKind::Ticker,
                ),
            ],
        ),
    ]));
    let started = Instant::now();
    let series = [
        ("binance", "ping", BINANCE_PING),
        ("binance", "time", BINANCE_TIME),
        ("bybit", "time", BYBIT_TIME),
        ("okx", "time", OKX_TIME),
        ("okx", "ticker", OKX_TICKER),
    ];
    wait_for(5.0, "10 ok probes of every endpoint", || {
        series.iter().all(|(x, e, _)| p.outcomes(x, e, "ok") >= 10)
    })
    .await;

    p.settle().await;
    let m = p.metrics();
    for (x, e, path) in series {
        assert_eq!(
            p.outcomes_except(x, e, "ok"),
            0,
            "{x}/{e}: only ok outcomes"
        );
        let ok = p.outcomes(x, e, "ok");
        assert!(
            fake.requests(path) as u64 >= ok,
            "{x}/{e}: every ok outcome is a request the fake received"
        );
        let labels = [("exchange", x), ("endpoint", e)];
        assert_eq!(
            value(m, "exwatch_probes_late_total", &labels),
            0.0,
            "{x}/{e}"
        );
        // Slot 0 is at start; slot k at k·interval (with a little slack for the start-up).
        let scheduled = value(m, "exwatch_probes_scheduled_total", &labels);
        let elapsed = started.elapsed();
        let expected = elapsed.as_secs_f64() / interval.as_secs_f64() + 1.0;
        assert!(
            (expected - 2.5..=expected + 0.5).contains(&scheduled),
            "{x}/{e}: {scheduled} slots in {elapsed:?} at one per {interval:?}"
        );
        assert!(value(m, "exwatch_probe_duration_seconds", &labels) >= 10.0);
    }
    // Three time endpoints feed clock skew, the ticker a price.
    let skews = value(
        m,
        "exwatch_detector_updates_total",
        &[("metric", "clock_skew_ms")],
    );
    assert!(skews >= 30.0, "clock skew measurements: {skews}");
    let prices = value(m, "exwatch_detector_updates_total", &[("metric", "price")]);
    assert!(prices >= 10.0, "price measurements: {prices}");
    assert_eq!(p.breaker_state("binance"), 0.0);

    let alerts = p.all_alerts().await;
    assert!(
        alerts.is_empty(),
        "{:?}",
        alerts.iter().map(describe).collect::<Vec<_>>()
    );
    let anomalies = p.anomalies.drain().await;
    assert!(
        anomalies.is_empty(),
        "no anomaly at zero skew: {:?}",
        anomalies.iter().map(|a| &a.message).collect::<Vec<_>>()
    );
    p.stop().await;
}

#[actix::test]
async fn probe_clock_skew_of_a_time_endpoint_is_measured() {
    let fake = FakeExchange::start();
    fake.set_mode_for(BYBIT_TIME, Mode::ClockSkew(5_000));
    let mut p = Probed::start(settings(vec![exchange(
        "bybit",
        vec![endpoint(
            "time",
            fake.url(BYBIT_TIME),
            CheckProfile::Bybit,
            EndpointKind::Time,
            50 * MS,
        )],
    )]));
    let a = p
        .alert(5.0, "clock skew", firing(Metric::ClockSkewMs))
        .await;
    assert_eq!(a.severity, Severity::Critical, "{}", describe(&a));
    assert_eq!((&*a.exchange, &*a.endpoint), ("bybit", "time"));
    // The server is 5 s ahead; half the round trip corrects the local time.
    assert!((4_800.0..=5_200.0).contains(&a.value), "{}", describe(&a));
    let anomaly = within(5, "a clock anomaly", p.anomalies.next(5)).await;
    assert_eq!(anomaly.series.metric, Metric::ClockSkewMs);
    p.stop().await;
}

#[actix::test]
async fn probe_503_storm_opens_the_breaker_and_recovers() {
    let fake = FakeExchange::start();
    let mut s = settings(vec![binance_ping(&fake, 50 * MS)]);
    s.breaker = BreakerSettings {
        failure_threshold: 5,
        recovery_timeout: Duration::from_millis(1500),
        half_open_max_calls: 2,
    };
    let mut p = Probed::start(s);
    let ok = |p: &Probed| p.outcomes("binance", "ping", "ok");
    wait_for(5.0, "3 ok probes", || ok(&p) >= 3).await;

    fake.set_mode(Mode::Status(503));
    let errors = p.alert(5.0, "errors firing", firing(Metric::Errors)).await;
    assert_eq!((&*errors.exchange, &*errors.endpoint), ("binance", "ping"));
    assert!(errors.message.contains("http_5xx"), "{}", describe(&errors));
    wait_for(5.0, "the breaker opens", || {
        p.breaker_state("binance") == 2.0
    })
    .await;
    p.settle().await;
    let down = p
        .alert(5.0, "availability firing", firing(Metric::Availability))
        .await;
    assert_eq!(down.severity, Severity::Critical);
    assert_eq!((&*down.exchange, &*down.endpoint), ("binance", "*"));
    assert_eq!(&*down.detector, "circuit_open");
    assert!(p.outcomes("binance", "ping", "http_5xx") >= 5);

    // While open, slots pass without a request.
    let rejected = |p: &Probed| p.outcomes("binance", "ping", "breaker_open");
    wait_for(5.0, "2 rejected probes", || rejected(&p) >= 2).await;
    let requests = fake.requests(BINANCE_PING);
    wait_for(5.0, "8 rejected probes", || rejected(&p) >= 8).await;
    assert_eq!(p.breaker_state("binance"), 2.0, "still open");
    assert_eq!(
        fake.requests(BINANCE_PING),
        requests,
        "no request while open"
    );

    // The exchange recovers before the recovery timeout: the trials succeed and close it.
    fake.set_mode(Mode::Normal);
    wait_for(5.0, "the breaker closes", || {
        p.breaker_state("binance") == 0.0
    })
    .await;
    let up = p
        .alert(5.0, "availability resolved", resolved(Metric::Availability))
        .await;
    assert_eq!(up.severity, Severity::Critical);
    assert_eq!(&*up.endpoint, "*");
    p.alert(5.0, "errors resolved", resolved(Metric::Errors))
        .await;
    assert!(fake.requests(BINANCE_PING) > requests);
    // closed → open → half-open → closed: three availability measurements.
    p.monitor.drain().await;
    let transitions = value(
        p.metrics(),
        "exwatch_detector_updates_total",
        &[("metric", "availability")],
    );
    assert_eq!(transitions, 3.0);
    p.stop().await;
}

/// A rate-limiting answer (`mode`) with `Retry-After: 1`: the probe waits a second before the
/// fake hears from it again, and the breaker (threshold 2) does not count it.
async fn backs_off_for_retry_after(mode: Mode) {
    let fake = FakeExchange::start();
    let interval = 50 * MS;
    let mut s = settings(vec![binance_ping(&fake, interval)]);
    s.breaker.failure_threshold = 2;
    fake.set_mode(mode);
    let mut p = Probed::start(s);
    wait_for(6.0, "3 requests", || fake.requests(BINANCE_PING) >= 3).await;
    let arrivals = fake.arrivals(BINANCE_PING);
    for w in arrivals.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(990)
                && gap <= Duration::from_millis(1000) + interval + 400 * MS,
            "gap {gap:?} between requests; Retry-After is 1 s"
        );
    }
    wait_for(5.0, "3 rate_limited outcomes", || {
        p.outcomes("binance", "ping", "rate_limited") >= 3
    })
    .await;
    assert_eq!(p.outcomes_except("binance", "ping", "rate_limited"), 0);
    assert_eq!(
        p.breaker_state("binance"),
        0.0,
        "rate limits do not open the breaker"
    );
    let alerts = p.all_alerts().await;
    assert!(
        alerts.iter().all(|a| a.metric != Metric::Availability),
        "{:?}",
        alerts.iter().map(describe).collect::<Vec<_>>()
    );

    // Once the exchange stops limiting, probing resumes at the normal rate.
    fake.set_mode(Mode::Normal);
    wait_for(5.0, "ok probes again", || {
        p.outcomes("binance", "ping", "ok") >= 3
    })
    .await;
    p.stop().await;
}

#[actix::test]
async fn probe_rate_limit_429_backs_off_for_retry_after() {
    backs_off_for_retry_after(Mode::RateLimited {
        retry_after_secs: 1,
    })
    .await;
}

#[actix::test]
async fn probe_ban_418_backs_off_for_retry_after() {
    backs_off_for_retry_after(Mode::Ban {
        retry_after_secs: 1,
    })
    .await;
}

#[actix::test]
async fn probe_stalled_answers_time_out() {
    let fake = FakeExchange::start();
    let mut ex = binance_ping(&fake, 100 * MS);
    ex.endpoints[0].timeout = 200 * MS;
    fake.set_mode(Mode::Stall);
    let mut p = Probed::start(settings(vec![ex]));
    wait_for(5.0, "4 timeouts", || {
        p.outcomes("binance", "ping", "timeout") >= 4
    })
    .await;
    assert_eq!(p.outcomes_except("binance", "ping", "timeout"), 0);
    let errors = p.alert(5.0, "errors firing", firing(Metric::Errors)).await;
    assert!(errors.message.contains("timeout"), "{}", describe(&errors));
    p.settle().await;
    let failures = value(
        p.metrics(),
        "exwatch_detector_updates_total",
        &[("metric", "errors")],
    );
    assert!(
        failures >= 4.0,
        "every timeout reaches the errors series: {failures}"
    );

    fake.set_mode(Mode::Normal);
    wait_for(5.0, "ok probes again", || {
        p.outcomes("binance", "ping", "ok") >= 3
    })
    .await;
    assert_eq!(p.restarts("probe:binance"), 0.0);
    p.stop().await;
}

#[actix::test]
async fn probe_malformed_json_and_envelope_errors_are_bad_body() {
    let fake = FakeExchange::start();
    fake.set_mode_for(BINANCE_PING, Mode::Malformed);
    fake.set_mode_for(BYBIT_TIME, Mode::EnvelopeError);
    fake.set_mode_for(OKX_TIME, Mode::EnvelopeError);
    let interval = 50 * MS;
    let p = Probed::start(settings(vec![
        binance_ping(&fake, interval),
        exchange(
            "bybit",
            vec![endpoint(
                "time",
                fake.url(BYBIT_TIME),
                CheckProfile::Bybit,
                EndpointKind::Time,
                interval,
            )],
        ),
        exchange(
            "okx",
            vec![endpoint(
                "time",
                fake.url(OKX_TIME),
                CheckProfile::Okx,
                EndpointKind::Time,
                interval,
            )],
        ),
    ]));
    let series = [("binance", "ping"), ("bybit", "time"), ("okx", "time")];
    wait_for(5.0, "3 bad bodies on every endpoint", || {
        series
            .iter()
            .all(|(x, e)| p.outcomes(x, e, "bad_body") >= 3)
    })
    .await;
    for (x, e) in series {
        assert_eq!(p.outcomes_except(x, e, "bad_body"), 0, "{x}/{e}");
    }
    p.stop().await;
}

#[actix::test]
async fn probe_oversized_body_is_bad_body_and_probing_goes_on() {
    let fake = FakeExchange::start();
    let mut ex = binance_ping(&fake, 50 * MS);
    ex.endpoints[0].max_body_bytes = 64 * 1024;
    fake.set_mode(Mode::Huge(1024 * 1024));
    let p = Probed::start(settings(vec![ex]));
    wait_for(5.0, "5 bad bodies", || {
        p.outcomes("binance", "ping", "bad_body") >= 5
    })
    .await;
    assert_eq!(p.outcomes_except("binance", "ping", "bad_body"), 0);
    fake.set_mode(Mode::Normal);
    wait_for(5.0, "ok probes again", || {
        p.outcomes("binance", "ping", "ok") >= 3
    })
    .await;
    assert_eq!(p.restarts("probe:binance"), 0.0);
    p.stop().await;
}

#[actix::test]
async fn probe_reset_and_closed_port_are_connect() {
    let fake = FakeExchange::start();
    fake.set_mode(Mode::Reset);
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let interval = 50 * MS;
    let p = Probed::start(settings(vec![
        binance_ping(&fake, interval),
        exchange(
            "dead",
            vec![endpoint(
                "health",
                format!("http://127.0.0.1:{closed}/health"),
                CheckProfile::Http,
                EndpointKind::Health,
                interval,
            )],
        ),
    ]));
    wait_for(5.0, "3 connect failures on both", || {
        p.outcomes("binance", "ping", "connect") >= 3
            && p.outcomes("dead", "health", "connect") >= 3
    })
    .await;
    assert_eq!(p.outcomes_except("binance", "ping", "connect"), 0);
    assert_eq!(p.outcomes_except("dead", "health", "connect"), 0);
    p.stop().await;
}

#[actix::test]
async fn probe_latency_spike_fires_and_resolves() {
    let fake = FakeExchange::start();
    let mut p = Probed::start(settings(vec![binance_ping(&fake, 50 * MS)]));
    wait_for(5.0, "15 ok probes", || {
        p.outcomes("binance", "ping", "ok") >= 15
    })
    .await;

    // The next three requests answer 300 ms late.
    fake.queue_modes([Mode::Delay(300 * MS); 3]);
    // The first slow answer is noted at info; the second makes it a degradation.
    let spike = p
        .alert(5.0, "latency firing at warning or above", |a| {
            firing(Metric::LatencyMs)(a) && a.severity >= Severity::Warning
        })
        .await;
    assert!(spike.severity >= Severity::Warning, "{}", describe(&spike));
    assert!(
        ["zscore", "iqr", "spike", "jump"].contains(&&*spike.detector),
        "{}",
        describe(&spike)
    );
    assert_eq!((&*spike.exchange, &*spike.endpoint), ("binance", "ping"));
    assert!(spike.value >= 290.0, "{}", describe(&spike));

    let back = p
        .alert(5.0, "latency resolved", resolved(Metric::LatencyMs))
        .await;
    assert_eq!(back.started_at, spike.started_at);
    assert_eq!(p.outcomes_except("binance", "ping", "ok"), 0);
    p.stop().await;
}

#[actix::test]
async fn probe_graceful_stop_sends_no_further_requests() {
    let fake = FakeExchange::start();
    let interval = 50 * MS;
    let p = Probed::start(settings(vec![binance_ping(&fake, interval)]));
    wait_for(5.0, "3 ok probes", || {
        p.outcomes("binance", "ping", "ok") >= 3
    })
    .await;
    p.stop().await;
    // A request already on the wire when stop() began may still reach the fake: let it land.
    tokio::time::sleep(4 * interval).await;
    let requests = fake.total_requests();
    // Six intervals: a running probe would have sent about six more.
    tokio::time::sleep(6 * interval).await;
    assert_eq!(fake.total_requests(), requests, "requests after stop()");
}

#[actix::test]
async fn probe_survives_a_crash_and_keeps_its_rate() {
    let fake = FakeExchange::start();
    let interval = 50 * MS;
    let p = Probed::start(settings(vec![binance_ping(&fake, interval)]));
    wait_for(5.0, "3 ok probes", || {
        p.outcomes("binance", "ping", "ok") >= 3
    })
    .await;

    p.monitor.probes()[0].do_send(Crash);
    wait_for(5.0, "the restart", || p.restarts("probe:binance") >= 1.0).await;
    let requests = fake.requests(BINANCE_PING);
    let since = Instant::now();
    wait_for(5.0, "10 more requests", || {
        fake.requests(BINANCE_PING) >= requests + 10
    })
    .await;
    // One schedule, not two: ten requests take nine intervals (twice as fast if doubled).
    let took = since.elapsed();
    assert!(took >= 7 * interval, "10 requests in {took:?}");
    assert_eq!(p.restarts("probe:binance"), 1.0);
    assert_eq!(p.outcomes_except("binance", "ping", "ok"), 0);
    p.stop().await;
}

#[actix::test]
async fn probe_crash_during_half_open_trials_does_not_wedge_the_breaker() {
    let fake = FakeExchange::start();
    let mut s = settings(vec![binance_ping(&fake, 50 * MS)]);
    s.breaker = BreakerSettings {
        failure_threshold: 1,
        recovery_timeout: Duration::from_millis(300),
        half_open_max_calls: 2,
    };
    fake.set_mode(Mode::Status(503));
    let p = Probed::start(s);
    wait_for(5.0, "the breaker opens", || {
        p.breaker_state("binance") == 2.0
    })
    .await;

    // Both trials hang at the fake (longer than the test waits below, shorter than the fake's
    // life), so they are still in flight when the probe crashes and its context drops them.
    let requests = fake.requests(BINANCE_PING);
    fake.set_mode(Mode::Delay(Duration::from_secs(30)));
    wait_for(5.0, "two trials in flight", || {
        p.breaker_state("binance") == 1.0 && fake.requests(BINANCE_PING) >= requests + 2
    })
    .await;
    fake.set_mode(Mode::Normal);
    p.monitor.probes()[0].do_send(Crash);
    wait_for(5.0, "the restart", || p.restarts("probe:binance") >= 1.0).await;

    // The lost trials must not hold their slots: new trials go out and close the breaker.
    wait_for(5.0, "the breaker closes", || {
        p.breaker_state("binance") == 0.0
    })
    .await;
    wait_for(5.0, "ok probes", || {
        p.outcomes("binance", "ping", "ok") >= 3
    })
    .await;
    p.stop().await;
}
/// A `Retry-After` the size of u64 seconds once overflowed `Instant + Duration` in
/// `on_result` and panics the probe (restart / crash loop).
#[actix::test]
async fn probe_huge_retry_after_does_not_crash_the_probe() {
    let fake = FakeExchange::start();
    let interval = 50 * MS;
    let s = settings(vec![binance_ping(&fake, interval)]);
    fake.set_mode(Mode::RateLimited {
        retry_after_secs: u64::MAX,
    });
    let p = Probed::start(s);
    wait_for(5.0, "1 request", || fake.requests(BINANCE_PING) >= 1).await;
    tokio::time::sleep(500 * MS).await;
    p.settle().await;
    assert_eq!(
        p.restarts("probe:binance"),
        0.0,
        "probe restarted after a huge Retry-After"
    );
    assert_eq!(p.outcomes("binance", "ping", "rate_limited"), 1);
    p.stop().await;
}
