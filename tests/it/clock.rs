//! Clock skew judged against each venue's signing window, end to end: a loopback fake
//! exchange whose server clock is offset, probed through its `time` endpoint.

use std::time::Duration;

use exwatch::config::{CheckProfile, EndpointKind};
use exwatch::messages::{Metric, Severity};

use crate::probe::{
    BINANCE_TIME, MS, OKX_TIME, Probed, describe, endpoint, exchange, firing, settings,
};
use crate::support::fake_exchange::{FakeExchange, Mode};

fn time_exchange(
    fake: &FakeExchange,
    name: &str,
    path: &str,
    check: CheckProfile,
) -> exwatch::config::ExchangeSettings {
    exchange(
        name,
        vec![endpoint(
            "time",
            fake.url(path),
            check,
            EndpointKind::Time,
            50 * MS,
        )],
    )
}

#[actix::test]
async fn clock_ahead_of_binance_is_critical_near_its_1000_ms_limit() {
    let fake = FakeExchange::start();
    // The server is 900 ms behind: the local clock is 900 ms ahead, 100 ms short of the
    // 1000 ms at which Binance rejects a signed request's timestamp (a fixed 2000 ms
    // threshold would only warn).
    fake.set_mode_for(BINANCE_TIME, Mode::ClockSkew(-900));
    let mut p = Probed::start(settings(vec![time_exchange(
        &fake,
        "binance",
        BINANCE_TIME,
        CheckProfile::Binance,
    )]));
    let a = p
        .alert(5.0, "clock skew", firing(Metric::ClockSkewMs))
        .await;
    assert_eq!(a.severity, Severity::Critical, "{}", describe(&a));
    assert!((-1000.0..=-800.0).contains(&a.value), "{}", describe(&a));
    assert!(
        a.message.contains("ahead of") && a.message.contains("headroom left"),
        "{}",
        a.message
    );
    p.stop().await;
}

#[actix::test]
async fn okx_and_a_configured_recv_window_scale_the_thresholds() {
    let fake = FakeExchange::start();
    // 8 s behind OKX: 27 % of its 30 s window, an info alert (the fixed 2000 ms would page).
    fake.set_mode_for(OKX_TIME, Mode::ClockSkew(8_000));
    let mut x = time_exchange(&fake, "okx", OKX_TIME, CheckProfile::Okx);
    let mut s = settings(vec![x.clone()]);
    let mut p = Probed::start(s.clone());
    let a = p
        .alert(5.0, "clock skew", firing(Metric::ClockSkewMs))
        .await;
    assert_eq!(a.severity, Severity::Info, "{}", describe(&a));
    assert!(
        a.message.contains("ms of headroom left") && a.message.contains("30000 ms"),
        "{}",
        a.message
    );
    p.stop().await;

    // The same skew against a 10 s recv_window is past 80 % of it: critical.
    x.recv_window = Some(Duration::from_secs(10));
    s.exchanges = vec![x];
    let mut p = Probed::start(s);
    let a = p
        .alert(5.0, "clock skew", firing(Metric::ClockSkewMs))
        .await;
    assert_eq!(a.severity, Severity::Critical, "{}", describe(&a));
    assert!(a.message.contains("10000 ms"), "{}", a.message);
    p.stop().await;
}
