//! The `pagerduty` channel against a loopback [`FakePagerDuty`] that validates events as the
//! Events API v2 does and keeps its incidents by `dedup_key`: a firing alert triggers, an
//! escalation updates the same incident, a resolved alert resolves it, and a re-send never
//! opens a second incident; 429 and 5xx are retried, an invalid event is rejected once with
//! PagerDuty's `errors`, and the routing key appears in no reason.

use std::time::Duration;

use exwatch::Monitor;
use exwatch::channel::{
    Channel, ChannelKind, ChannelSettings, DeliveryError, PagerDutyChannel, PagerDutySpec,
};
use exwatch::messages::{Alert, AlertKind, Metric, Name, Severity, Stats, Timestamp};
use exwatch::settings::{Secret, Settings};

use crate::common::{WAIT, retry, skew, t0};
use crate::support::fake_pagerduty::{FakePagerDuty, PagerDutyMode, ROUTING_KEY};

fn settings(fake: &FakePagerDuty) -> Settings {
    let mut s = Settings {
        channels: vec![ChannelSettings {
            name: Name::from("pd"),
            min_severity: Severity::Info,
            retry: retry(5),
            kind: ChannelKind::Pagerduty(PagerDutySpec {
                routing_key_env: "PAGERDUTY_ROUTING_KEY".into(),
                routing_key: Secret::new(ROUTING_KEY),
                api_base: fake.api_base(),
            }),
        }],
        ..crate::support::test_settings()
    };
    s.shutdown.grace = Duration::from_secs(3);
    s
}

fn channel(base: &str, key: &str) -> PagerDutyChannel {
    crate::support::install_crypto_provider();
    PagerDutyChannel::new(
        exwatch::client::build_client(2, Duration::from_secs(1)),
        base,
        Secret::new(key),
    )
}

fn alert(kind: AlertKind) -> Alert {
    Alert {
        id: exwatch::messages::new_id(),
        kind,
        severity: Severity::Critical,
        exchange: Name::from("okx"),
        endpoint: Name::from("ticker"),
        metric: Metric::LatencyMs,
        detector: Name::from("zscore"),
        title: "okx ticker latency spike".into(),
        message: "p99 far above baseline".into(),
        value: 5234.5,
        threshold: 71.3,
        region: Name::from("local"),
        started_at: Timestamp(t0()),
        at: Timestamp(t0() + 3000),
        stats: Stats::default(),
        in_reply_to: None,
        group: None,
    }
}

#[actix::test]
async fn pagerduty_one_incident_triggered_escalated_and_resolved() {
    let fake = FakePagerDuty::start();
    fake.queue_modes([
        PagerDutyMode::RateLimited {
            retry_after_secs: None,
        },
        PagerDutyMode::ServerError,
    ]);
    let monitor = Monitor::start(settings(&fake)).expect("monitor starts");
    monitor.inject(skew("bybit", 900.0, 0));
    monitor.inject(skew("bybit", 2500.0, 1));
    for i in 2..5 {
        monitor.inject(skew("bybit", 3.0, i));
    }
    let events = fake.wait_for(3, WAIT).await;
    assert!(monitor.stop().await);
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["trigger", "trigger", "resolve"]);
    assert_eq!(events[0]["payload"]["severity"], "warning");
    assert_eq!(
        events[1]["payload"]["severity"], "critical",
        "the escalation updates it"
    );
    assert_eq!(events[0]["payload"]["source"], "bybit/time");
    assert_eq!(events[0]["payload"]["class"], "clock_skew_ms");
    assert!(events[0]["payload"]["custom_details"]["alert_id"].is_string());
    let key = events[0]["dedup_key"].as_str().unwrap();
    assert!(events.iter().all(|e| e["dedup_key"] == key), "{events:?}");
    let incidents = fake.incidents();
    assert_eq!(incidents.len(), 1, "one incident: {incidents:?}");
    let i = &incidents[key];
    assert_eq!(
        (i.status.as_str(), i.severity.as_str()),
        ("resolved", "critical")
    );
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 500, 202, 202, 202], "429 and 5xx retried");
}

#[actix::test]
async fn pagerduty_a_resend_never_opens_a_second_incident() {
    let fake = FakePagerDuty::start();
    let mut ch = channel(&fake.api_base(), ROUTING_KEY);
    let a = alert(AlertKind::Firing);
    assert_eq!(ch.deliver(&a).await, Ok(()));
    // The same episode, re-sent with a new id from another vantage.
    let mut again = alert(AlertKind::Firing);
    again.region = Name::from("eu-west");
    again.at = Timestamp(t0() + 9000);
    assert_eq!(ch.deliver(&again).await, Ok(()));
    assert_eq!(
        ch.deliver(&alert(AlertKind::Triage)).await,
        Ok(()),
        "triage is not sent"
    );
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(fake.incidents().len(), 1);
    assert_eq!(ch.deliver(&alert(AlertKind::Resolved)).await, Ok(()));
    let incidents = fake.incidents();
    assert_eq!(incidents.values().next().unwrap().status, "resolved");
}

#[actix::test]
async fn pagerduty_invalid_events_are_rejected_once_with_the_reason_and_no_key() {
    let fake = FakePagerDuty::start();
    let unknown = "Z0123456789abcdefNEVERPRINTED999";
    let mut ch = channel(&fake.api_base(), unknown);
    let result = ch.deliver(&alert(AlertKind::Firing)).await;
    assert_eq!(
        result,
        Err(DeliveryError::Rejected {
            reason: "PagerDuty HTTP 400: Event object is invalid: Invalid routing key".into()
        })
    );
    let mut short = channel(&fake.api_base(), "short-NEVERPRINTED");
    let result = short.deliver(&alert(AlertKind::Firing)).await;
    assert!(
        matches!(&result, Err(DeliveryError::Rejected { reason }) if reason.contains("Length of 'routing_key' is incorrect")),
        "{result:?}"
    );
    let mut dead = channel("http://127.0.0.1:1", ROUTING_KEY);
    let dead_result = dead.deliver(&alert(AlertKind::Firing)).await;
    assert!(matches!(dead_result, Err(DeliveryError::Retryable { .. })));
    let text = format!("{result:?} {dead_result:?} {ch:?} {dead:?}");
    assert!(!text.contains("NEVERPRINTED"), "{text}");
    assert_eq!(fake.requests().len(), 2, "each rejected once");
}

/// An ack through the API (`POST /api/v1/alerts/{id}/ack`) becomes one `acknowledge` event
/// with the incident's `dedup_key`; a second ack sends nothing more, and the resolve follows.
#[actix::test]
async fn pagerduty_is_told_when_the_incident_is_acknowledged_in_exwatch() {
    let fake = FakePagerDuty::start();
    let monitor = Monitor::start(settings(&fake)).expect("monitor starts");
    let base = format!("http://{}", monitor.http_addr().expect("server on"));
    let now = crate::common::now_ms();
    let at = |i: i64| Timestamp(now + i * 1000);
    let sample = |ms: f64, i: i64| {
        exwatch::messages::Measurement::ok(
            exwatch::messages::SeriesKey::new("okx", "time", Metric::ClockSkewMs),
            ms,
            at(i),
        )
    };
    monitor.inject(sample(2500.0, 0));
    let events = fake.wait_for(1, WAIT).await;
    let id = events[0]["payload"]["custom_details"]["alert_id"]
        .as_str()
        .expect("alert id")
        .to_owned();
    monitor.drain().await;
    let client = crate::support::client();
    for _ in 0..2 {
        let resp = client
            .post(format!("{base}/api/v1/alerts/{id}/ack"))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("ack");
        assert_eq!(resp.status().as_u16(), 200);
    }
    let events = fake.wait_for(2, WAIT).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["event_action"], "acknowledge");
    assert_eq!(events[1]["dedup_key"], events[0]["dedup_key"]);
    let key = events[0]["dedup_key"].as_str().unwrap().to_owned();
    assert_eq!(fake.incidents()[&key].status, "acknowledged");
    for i in 1..4 {
        monitor.inject(sample(3.0, i));
    }
    let events = fake.wait_for(3, WAIT).await;
    assert!(monitor.stop().await);
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["event_action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["trigger", "acknowledge", "resolve"],
        "one acknowledge for two acks"
    );
    assert_eq!(fake.incidents()[&key].status, "resolved");
    assert_eq!(fake.incidents().len(), 1);
}
