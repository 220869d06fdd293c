//! Clock skew judged against each venue's signing window, end to end: a loopback fake
//! exchange whose server clock is offset, probed through its `time` endpoint.

use std::time::Duration;

use exwatch::messages::{Metric, Severity};
use exwatch::settings::{CheckProfile, EndpointKind};

use crate::probe::{
    BINANCE_TIME, MS, OKX_TIME, Probed, describe, endpoint, exchange, firing, settings,
};
use crate::support::fake_exchange::{FakeExchange, Mode};

fn time_exchange(
    fake: &FakeExchange,
    name: &str,
    path: &str,
    check: CheckProfile,
) -> exwatch::settings::ExchangeSettings {
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
    // Loopback timing under load can misjudge one sample by up to half a round trip: wait for
    // the critical alert (a first warning may escalate to it).
    let is_firing = firing(Metric::ClockSkewMs);
    let a = p
        .alert(5.0, "critical clock skew", |a| {
            is_firing(a) && a.severity == Severity::Critical
        })
        .await;
    assert!((-1100.0..=-800.0).contains(&a.value), "{}", describe(&a));
    assert!(
        a.message.contains("ahead of")
            && (a.message.contains("headroom left") || a.message.contains("rejected now")),
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

    // The same skew against a 9 s recv_window is 89 % of it, past 80 %: critical.
    x.recv_window = Some(Duration::from_secs(9));
    s.exchanges = vec![x];
    let mut p = Probed::start(s);
    let a = p
        .alert(5.0, "clock skew", firing(Metric::ClockSkewMs))
        .await;
    assert_eq!(a.severity, Severity::Critical, "{}", describe(&a));
    assert!(a.message.contains("9000 ms"), "{}", a.message);
    p.stop().await;
}
