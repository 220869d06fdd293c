//! Operator rules by message injection: a 5xx-rate rule on okx fires after `for` and resolves.

use std::time::Duration;

use exwatch::detect::rules::{RuleMetric, RuleOp};
use exwatch::messages::{
    Alert, AlertKind, Measurement, Metric, Outcome, SeriesKey, Severity, Timestamp,
};
use exwatch::settings::{RuleScope, RuleSettings};
use exwatch::{Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::common::t0;

fn start() -> (MonitorHandle, Collected<Alert>) {
    start_scoped(RuleScope {
        exchange: Some("okx".into()),
        ..RuleScope::default()
    })
}

fn start_scoped(scope: RuleScope) -> (MonitorHandle, Collected<Alert>) {
    let mut settings = crate::support::test_settings();
    settings.rules = vec![RuleSettings {
        name: "okx-5xx".into(),
        metric: RuleMetric::ErrorRate5xx,
        op: RuleOp::Gt,
        threshold: 0.10,
        hold: Duration::from_secs(30),
        window: Duration::from_secs(30),
        scope,
        severity: Severity::Critical,
    }];
    let alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");
    (monitor, alerts)
}

fn probe(exchange: &str, status: u16, secs: i64) -> Measurement {
    let outcome = if status == 200 {
        Outcome::Ok
    } else {
        Outcome::Http5xx
    };
    Measurement {
        series: SeriesKey::new(exchange, "ping", Metric::Errors),
        value: if outcome.is_ok() { 0.0 } else { 1.0 },
        outcome,
        status,
        at: Timestamp(t0() + secs * 1000),
    }
}

fn rule_alerts(alerts: Vec<Alert>) -> Vec<Alert> {
    alerts
        .into_iter()
        .filter(|a| &*a.endpoint == "ping:okx-5xx")
        .collect()
}

#[actix::test]
async fn rules_okx_5xx_rate_fires_after_for_and_resolves() {
    let (monitor, mut alerts) = start();
    for i in 0..60 {
        monitor.inject(probe("okx", 200, i));
    }
    // The window crosses 10 % at the 4th failure (t = 63 s); the rule fires 30 s later.
    for i in 60..93 {
        monitor.inject(probe("okx", 503, i));
        monitor.inject(probe("binance", 503, i));
    }
    monitor.drain().await;
    assert!(
        rule_alerts(alerts.drain().await).is_empty(),
        "not before the condition held for 30 s"
    );
    for i in 93..120 {
        monitor.inject(probe("okx", 503, i));
        monitor.inject(probe("binance", 503, i));
    }
    monitor.drain().await;
    let fired = rule_alerts(alerts.drain().await);
    assert_eq!(fired.len(), 1, "one alert per episode: {fired:?}");
    let a = &fired[0];
    assert_eq!(a.kind, AlertKind::Firing);
    assert_eq!(&*a.detector, "rule:okx-5xx");
    assert_eq!(a.title, "okx ping: rule okx-5xx");
    assert_eq!((&*a.exchange, a.metric), ("okx", Metric::Errors));
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.at, Timestamp(t0() + 93_000));
    assert_eq!(a.started_at, Timestamp(t0() + 63_000));
    assert_eq!(a.threshold, 0.10);
    assert!(a.message.contains("error_rate_5xx"), "{}", a.message);

    // Recovery: the rule resolves once at most 10 % of the last 30 s failed (3 of 30).
    for i in 120..160 {
        monitor.inject(probe("okx", 200, i));
    }
    monitor.drain().await;
    let resolved = rule_alerts(alerts.drain().await);
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(resolved[0].kind, AlertKind::Resolved);
    assert_eq!(resolved[0].at, Timestamp(t0() + 146_000));
    monitor.stop().await;
}

#[actix::test]
async fn rules_scoped_to_another_region_stay_silent() {
    let (monitor, mut alerts) = start_scoped(RuleScope {
        region: Some("eu-west".into()),
        ..RuleScope::default()
    });
    for i in 0..120 {
        monitor.inject(probe("okx", 503, i));
    }
    monitor.drain().await;
    let all = alerts.drain().await;
    assert!(!all.is_empty(), "the built-in detectors still fire");
    assert!(
        all.iter().all(|a| !a.detector.starts_with("rule:")),
        "the monitor's region is `local`"
    );
    monitor.stop().await;
}
