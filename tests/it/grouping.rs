//! Incident grouping (`[router] group_by`) through a whole monitor: anomalies and resolutions
//! injected into the Router, group messages posted by the real webhook channel to a loopback
//! [`FakeSink`], per-series alerts to an in-process recipient (which takes each series).

use std::time::{Duration, Instant};

use exwatch::Monitor;
use exwatch::channel::{ChannelKind, ChannelSettings, WebhookSpec};
use exwatch::messages::{
    Alert, Anomaly, Metric, Name, Resolved, SeriesKey, Severity, Stats, Timestamp,
};
use exwatch::route::GroupField;
use serde_json::Value;

use crate::collect::Collected;
use crate::common::{now_ms, retry};
use crate::support::fake_sink::FakeSink;

const ENDPOINTS: [&str; 4] = ["ping", "time", "ticker", "status"];

fn series(endpoint: &str) -> SeriesKey {
    SeriesKey::new("binance", endpoint, Metric::Errors)
}

fn anomaly(endpoint: &str, severity: Severity, at: i64) -> Anomaly {
    Anomaly {
        series: series(endpoint),
        detector: "error_rate".into(),
        severity,
        value: 0.5,
        threshold: 0.05,
        confidence: 1.0,
        message: "http_5xx (503)".into(),
        started_at: Timestamp(at),
        at: Timestamp(at),
        stats: Stats::default(),
    }
}

fn resolved(endpoint: &str, at: i64) -> Resolved {
    Resolved {
        series: series(endpoint),
        at: Timestamp(at),
        stats: Stats::default(),
    }
}

/// Waits until the sink holds `n` messages or `within` passes; answers what it holds.
async fn wait_for(sink: &FakeSink, n: usize, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    while sink.received().len() < n && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    sink.received()
}

fn update(v: &Value) -> &str {
    v["group"]["update"].as_str().unwrap_or("none")
}

#[actix::test]
async fn grouping_a_flapping_venue_is_one_firing_at_most_one_update_and_one_resolved() {
    let sink = FakeSink::start();
    let mut settings = crate::support::test_settings();
    settings.router.group_by = vec![GroupField::Exchange];
    settings.router.group_interval = Duration::from_millis(1500);
    settings.channels = vec![ChannelSettings {
        name: Name::from("hook"),
        min_severity: Severity::Info,
        retry: retry(3),
        kind: ChannelKind::Webhook(WebhookSpec {
            url: sink.url(),
            secret_env: None,
            secret: None,
        }),
    }];
    let mut series_alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("engine", Severity::Info, series_alerts.recipient())
        .start()
        .expect("monitor starts");
    let router = monitor.router();

    // The first alert is not delayed: it is there before any interval could pass.
    let t = now_ms();
    router.do_send(anomaly("ping", Severity::Warning, t));
    let got = wait_for(&sink, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(update(&got[0]), "opened");
    assert_eq!(got[0]["kind"], "firing");
    assert_eq!(got[0]["endpoint"], "ping");
    assert_eq!(got[0]["group"]["key"], "exchange=binance");
    assert_eq!(series_alerts.next(5).await.endpoint.as_ref(), "ping");

    // Four endpoints answer 503 and 200 in turn, six times (no flap hold: the group holds).
    for flap in 0..6 {
        let at = now_ms();
        for ep in ENDPOINTS {
            router.do_send(anomaly(ep, Severity::Warning, at + flap));
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
        let at = now_ms();
        for ep in ENDPOINTS {
            router.do_send(resolved(ep, at));
        }
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Recovered for good: after the interval, one resolved says so.
    let got = wait_for(&sink, 3, Duration::from_secs(6)).await;
    actix_rt::time::sleep(Duration::from_millis(2000)).await;
    let got_after = sink.received();
    assert_eq!(got.len(), got_after.len(), "nothing more once resolved");
    let firing: Vec<_> = got.iter().filter(|v| v["kind"] == "firing").collect();
    let resolved: Vec<_> = got.iter().filter(|v| v["kind"] == "resolved").collect();
    assert_eq!(
        firing.iter().filter(|v| update(v) == "opened").count(),
        1,
        "{got:#?}"
    );
    assert!(
        firing.len() <= 2,
        "1 firing plus at most one update: {got:#?}"
    );
    assert_eq!(resolved.len(), 1, "{got:#?}");
    let r = resolved[0];
    assert_eq!(update(r), "resolved");
    let members = r["group"]["alerts"].as_array().expect("members");
    assert_eq!(members.len(), 4);
    for m in members {
        assert_eq!(m["kind"], "resolved");
        for field in [
            "id",
            "severity",
            "exchange",
            "endpoint",
            "metric",
            "detector",
            "title",
            "message",
            "region",
            "started_at",
            "at",
            "stats",
        ] {
            assert!(m.get(field).is_some(), "member lacks {field}: {m}");
        }
    }
    // Every existing field stays on the group message itself.
    for field in [
        "id",
        "kind",
        "severity",
        "exchange",
        "endpoint",
        "metric",
        "detector",
        "title",
        "message",
        "value",
        "threshold",
        "region",
        "started_at",
        "at",
        "stats",
    ] {
        assert!(r.get(field).is_some(), "group message lacks {field}");
    }
    monitor.stop().await;
}

#[actix::test]
async fn grouping_escalation_to_critical_goes_at_once() {
    let sink = FakeSink::start();
    let mut settings = crate::support::test_settings();
    settings.router.group_by = vec![GroupField::Exchange];
    settings.router.group_interval = Duration::from_secs(60);
    settings.channels = vec![ChannelSettings {
        name: Name::from("hook"),
        min_severity: Severity::Info,
        retry: retry(3),
        kind: ChannelKind::Webhook(WebhookSpec {
            url: sink.url(),
            secret_env: None,
            secret: None,
        }),
    }];
    let monitor = Monitor::start(settings).expect("monitor starts");
    let t = now_ms();
    monitor
        .router()
        .do_send(anomaly("ping", Severity::Warning, t));
    monitor
        .router()
        .do_send(anomaly("time", Severity::Warning, t + 1));
    monitor
        .router()
        .do_send(anomaly("ticker", Severity::Critical, t + 2));
    let got = wait_for(&sink, 2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(update(&got[1]), "escalated");
    assert_eq!(
        (got[1]["severity"].as_str(), got[1]["endpoint"].as_str()),
        (Some("critical"), Some("ticker"))
    );
    assert_eq!(got[1]["group"]["alerts"].as_array().map(Vec::len), Some(3));
    monitor.stop().await;
}
