//! Cross-exchange price deviation, end to end: three exchanges' ticker endpoints (Binance,
//! Bybit, OKX, all on one loopback fake with per-venue prices) probed every 50 ms; OKX's price
//! moves 1 % away from the others → one `price_deviation` warning for OKX only; it moves back →
//! one resolved alert.

use std::time::{Duration, Instant};

use exwatch::messages::{Alert, AlertKind, Metric, Severity};
use exwatch::settings::{CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings, Settings};
use exwatch::{Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::support::fake_exchange::{DEFAULT_PRICE, FakeExchange, Venue};

fn ticker(
    fake: &FakeExchange,
    exchange: &str,
    path: &str,
    check: CheckProfile,
) -> ExchangeSettings {
    ExchangeSettings {
        name: exchange.into(),
        max_connections: 4,
        recv_window: None,
        ahead_window: None,
        confirm_per_minute: 60,
        endpoints: vec![EndpointSettings {
            name: "ticker".into(),
            url: fake.url(path),
            check,
            kind: EndpointKind::Ticker,
            symbol: Some("BTC/USDT".into()),
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
            max_body_bytes: 64 * 1024,
            confirm_interval: Duration::from_secs(1),
            // Fast confirmation has its own tests.
            confirm_probes: Some(0),
        }],
    }
}

fn settings(fake: &FakeExchange) -> Settings {
    let mut s = Settings {
        exchanges: vec![
            ticker(
                fake,
                "binance",
                "/api/v3/ticker/price?symbol=BTCUSDT",
                CheckProfile::Binance,
            ),
            ticker(
                fake,
                "bybit",
                "/v5/market/tickers?category=spot&symbol=BTCUSDT",
                CheckProfile::Bybit,
            ),
            ticker(
                fake,
                "okx",
                "/api/v5/market/ticker?instId=BTC-USDT",
                CheckProfile::Okx,
            ),
        ],
        ..crate::support::test_settings()
    };
    // Loopback latencies jitter on a loaded machine; this test is about prices.
    s.detect.latency.min_increase_ms = 1000.0;
    s.shutdown.grace = Duration::from_secs(1);
    s
}

fn price_updates(monitor: &MonitorHandle) -> f64 {
    monitor
        .metrics()
        .value(
            "exwatch_detector_updates_total",
            &[("metric", "price_deviation_bps")],
        )
        .unwrap_or(0.0)
}

async fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {secs}s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The next price alert, skipping the others, failing after `secs`.
async fn next_price_alert(alerts: &mut Collected<Alert>, secs: u64) -> Alert {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, alerts.next(3600)).await {
            Ok(a) if a.metric == Metric::PriceDeviationBps => return a,
            Ok(_) => {}
            Err(_) => panic!("no price alert within {secs}s"),
        }
    }
}

#[actix::test]
async fn price_one_exchange_moved_away_fires_then_resolves() {
    let fake = FakeExchange::start();
    let mut alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings(&fake))
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");

    // A normal period: every venue quotes the same price, many comparisons, no alert.
    wait_for(10, "30 price comparisons", || {
        price_updates(&monitor) >= 30.0
    })
    .await;
    monitor.drain().await;
    let quiet: Vec<_> = alerts
        .drain()
        .await
        .into_iter()
        .filter(|a| a.metric == Metric::PriceDeviationBps)
        .collect();
    assert!(quiet.is_empty(), "alerts while prices agree: {quiet:?}");

    // OKX 1 % above the others: +100 bps, past warn_bps (50), short of critical_bps (200).
    fake.set_price(Venue::Okx, DEFAULT_PRICE * 1.01);
    let fired = next_price_alert(&mut alerts, 10).await;
    assert_eq!(fired.kind, AlertKind::Firing);
    assert_eq!(
        (&*fired.exchange, &*fired.endpoint, &*fired.detector),
        ("okx", "btc-usdt", "price_deviation")
    );
    assert_eq!(fired.severity, Severity::Warning);
    assert!((fired.value - 100.0).abs() < 0.5, "{}", fired.value);
    assert_eq!(fired.threshold, 50.0);
    assert!(
        fired.message.contains("20738.46") && fired.message.contains("20533.13"),
        "{}",
        fired.message
    );

    // Back in line: OKX resolves after a few normal comparisons.
    fake.set_price(Venue::Okx, DEFAULT_PRICE);
    let resolved = next_price_alert(&mut alerts, 10).await;
    assert_eq!(resolved.kind, AlertKind::Resolved);
    assert_eq!(&*resolved.exchange, "okx");
    assert_eq!(&*resolved.endpoint, "btc-usdt");

    monitor.drain().await;
    let rest: Vec<_> = alerts
        .drain()
        .await
        .into_iter()
        .filter(|a| a.metric == Metric::PriceDeviationBps)
        .collect();
    assert!(
        rest.is_empty(),
        "more price alerts than one episode: {rest:?}"
    );
    let stopped = tokio::time::timeout(Duration::from_secs(5), monitor.stop()).await;
    assert!(stopped.is_ok(), "stop() did not return within 5 s");
}
