//! The `sms` channel against a loopback [`FakeTwilio`]: request shape and Basic auth, one
//! message per recipient, no duplicate to a recipient that already accepted when another one
//! fails and the alert is retried, shortening, 429/5xx/stall retries, rejections quoting
//! Twilio's code, and secrets kept out of every reason and `Debug`. Real time, short
//! back-offs, bounded waits.
//!
//! End-to-end tests drive a monitor with clock-skew measurements (2500 ms fires a critical
//! alert); the others call the channel's `deliver` directly to read its results.

use std::time::{Duration, Instant};

use exwatch::channel::{Channel, DeliveryError, SmsChannel};
use exwatch::channel::{ChannelKind, ChannelSettings, SmsSpec};
use exwatch::messages::{
    Alert, AlertKind, Measurement, Metric, Name, SeriesKey, Severity, Stats, Timestamp,
};
use exwatch::metrics::Metrics;
use exwatch::settings::{Secret, Settings};
use exwatch::{Monitor, MonitorHandle};

use crate::common::{WAIT, retry, t0};
use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, TwilioMode, decode_base64};

const FROM: &str = "+15005550006";
const ALICE: &str = "+66800000001";
const BOB: &str = "+66800000002";

fn sms_settings(fake: &FakeTwilio, to: &[&str], max_attempts: u32) -> Settings {
    let mut s = Settings {
        channels: vec![ChannelSettings {
            name: Name::from("pager"),
            min_severity: Severity::Info,
            retry: retry(max_attempts),
            kind: ChannelKind::Sms(SmsSpec {
                account_sid_env: "TWILIO_ACCOUNT_SID".into(),
                account_sid: Secret::new(ACCOUNT_SID),
                auth_token_env: "TWILIO_AUTH_TOKEN".into(),
                auth_token: Secret::new(AUTH_TOKEN),
                from: FROM.into(),
                to: to.iter().map(|s| s.to_string()).collect(),
                api_base: fake.api_base(),
            }),
        }],
        ..crate::support::test_settings()
    };
    s.shutdown.grace = Duration::from_secs(3);
    s
}

fn start(fake: &FakeTwilio, to: &[&str], max_attempts: u32) -> MonitorHandle {
    Monitor::start(sms_settings(fake, to, max_attempts)).expect("monitor starts")
}

fn fire(monitor: &MonitorHandle, exchange: &str, i: i64) {
    monitor.inject(Measurement::ok(
        SeriesKey::new(exchange, "time", Metric::ClockSkewMs),
        2500.0,
        Timestamp(t0() + i * 1000),
    ));
}

fn deliveries(metrics: &Metrics, outcome: &str) -> f64 {
    metrics
        .value(
            "exwatch_deliveries_total",
            &[("channel", "pager"), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
}

/// A channel built directly, for tests that read `deliver`'s result.
fn channel(fake: &FakeTwilio, to: &[&str]) -> SmsChannel {
    crate::support::install_crypto_provider();
    SmsChannel::new(
        exwatch::client::build_client(4, Duration::from_secs(1)),
        fake.api_base(),
        Secret::new(ACCOUNT_SID),
        Secret::new(AUTH_TOKEN),
        FROM.into(),
        to.iter().map(|s| s.to_string()).collect(),
    )
}

fn alert(message: &str) -> Alert {
    Alert {
        id: exwatch::messages::new_id(),
        kind: AlertKind::Firing,
        severity: Severity::Critical,
        exchange: Name::from("binance"),
        endpoint: Name::from("ping"),
        metric: Metric::LatencyMs,
        detector: Name::from("zscore"),
        title: "binance ping latency spike".into(),
        message: message.into(),
        value: 5234.5,
        threshold: 1000.0,
        region: Name::from("local"),
        started_at: Timestamp(t0()),
        at: Timestamp(t0() + 3000),
        stats: Stats::default(),
        in_reply_to: None,
        group: None,
    }
}

/// Every reason produced in these tests: none may quote a secret.
fn assert_no_secret(result: &Result<(), DeliveryError>) {
    if let Err(e) = result {
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains(ACCOUNT_SID) && !text.contains(AUTH_TOKEN),
            "secret in {text}"
        );
    }
}

#[actix::test]
async fn sms_request_is_twilio_shaped_and_authenticated() {
    let fake = FakeTwilio::start();
    let monitor = start(&fake, &[ALICE, BOB], 3);
    let metrics = monitor.metrics().clone();
    fire(&monitor, "bybit", 0);
    let got = fake.wait_for(2, WAIT).await;
    assert!(monitor.stop().await);
    assert_eq!(got.len(), 2, "one message per recipient");
    assert_eq!(fake.requests().len(), 2, "and nothing else");

    let mut to: Vec<&str> = got.iter().map(|r| r.to()).collect();
    to.sort_unstable();
    assert_eq!(to, [ALICE, BOB]);
    for r in &got {
        assert_eq!(
            r.path,
            format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
        );
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        let auth = r.authorization.as_deref().expect("authorization");
        let decoded = decode_base64(auth.strip_prefix("Basic ").expect("Basic")).unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            format!("{ACCOUNT_SID}:{AUTH_TOKEN}")
        );
        assert_eq!(r.field("From"), Some(FROM));
        let body = r.field("Body").expect("Body");
        assert!(
            body.starts_with(
                "CRITICAL bybit time clock skew: clock_skew_ms 2500 (threshold 2000)."
            ),
            "{body}"
        );
        assert!(body.contains("Region local"), "{body}");
        assert!(body.chars().count() <= 320);
        assert_eq!(r.status, 201);
    }
    assert_eq!(got[0].field("Body"), got[1].field("Body"));
    assert_eq!(deliveries(&metrics, "ok"), 1.0);
}

#[actix::test]
async fn sms_retry_never_resends_to_a_recipient_that_accepted() {
    let fake = FakeTwilio::start();
    fake.queue_for(BOB, [TwilioMode::ServerError, TwilioMode::ServerError]);
    let monitor = start(&fake, &[ALICE, BOB], 5);
    let metrics = monitor.metrics().clone();
    fire(&monitor, "bybit", 0);
    fake.wait_for(2, WAIT).await;
    assert!(monitor.stop().await);

    let alice: Vec<u16> = fake.requests_to(ALICE).iter().map(|r| r.status).collect();
    let bob: Vec<u16> = fake.requests_to(BOB).iter().map(|r| r.status).collect();
    assert_eq!(alice, [201], "Alice got the alert exactly once");
    assert_eq!(
        bob,
        [500, 500, 201],
        "Bob's request was retried until accepted"
    );
    assert_eq!(deliveries(&metrics, "retry"), 2.0);
    assert_eq!(deliveries(&metrics, "ok"), 1.0);
    assert_eq!(deliveries(&metrics, "failed"), 0.0);

    // The next alert goes to both again.
    let monitor = start(&fake, &[ALICE, BOB], 5);
    fire(&monitor, "okx", 1);
    fake.wait_for(4, WAIT).await;
    assert!(monitor.stop().await);
    assert_eq!(fake.requests_to(ALICE).len(), 2);
}

#[actix::test]
async fn sms_429_and_5xx_and_stalls_are_retried() {
    let fake = FakeTwilio::start();
    fake.queue_modes([
        TwilioMode::RateLimited {
            retry_after_secs: None,
        },
        TwilioMode::ServerError,
        TwilioMode::Stall,
    ]);
    let monitor = start(&fake, &[ALICE], 5);
    let metrics = monitor.metrics().clone();
    fire(&monitor, "bybit", 0);
    let got = fake.wait_for(1, WAIT).await;
    assert!(monitor.stop().await);
    assert_eq!(got.len(), 1);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 500, 0, 201]);
    assert_eq!(fake.requests()[0].code, Some(20429));
    assert_eq!(deliveries(&metrics, "retry"), 3.0);
    assert_eq!(deliveries(&metrics, "ok"), 1.0);
}

#[actix::test]
async fn sms_honours_retry_after_on_429() {
    let fake = FakeTwilio::start();
    fake.queue_modes([TwilioMode::RateLimited {
        retry_after_secs: Some(1),
    }]);
    let monitor = start(&fake, &[ALICE], 5);
    fire(&monitor, "bybit", 0);
    fake.wait_for(1, WAIT).await;
    assert!(monitor.stop().await);
    let r = fake.requests();
    assert_eq!(r.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 201]);
    let gap = r[1].at - r[0].at;
    assert!(
        gap >= Duration::from_millis(990) && gap < Duration::from_secs(2),
        "retried after {gap:?}"
    );
}

#[actix::test]
async fn sms_rejection_quotes_twilio_and_spares_the_others() {
    let fake = FakeTwilio::start();
    fake.queue_for(BOB, [TwilioMode::InvalidTo]);
    let mut ch = channel(&fake, &[ALICE, BOB]);
    let a = alert("z-score 9.1");
    let result = ch.deliver(&a).await;
    assert_no_secret(&result);
    match &result {
        Err(DeliveryError::Rejected { reason }) => {
            assert!(reason.contains("1 of 2 recipients rejected"), "{reason}");
            assert!(reason.contains("…0002"), "names the recipient: {reason}");
            assert!(reason.contains("Twilio error 21211"), "{reason}");
            assert!(reason.chars().count() <= 401, "bounded: {reason}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(fake.requests_to(ALICE).len(), 1);
    assert_eq!(fake.requests_to(BOB).len(), 1);

    // End to end: the rejected alert is not retried, and counted failed.
    let fake = FakeTwilio::start();
    fake.queue_for(BOB, [TwilioMode::InvalidTo]);
    let monitor = start(&fake, &[ALICE, BOB], 5);
    let metrics = monitor.metrics().clone();
    fire(&monitor, "bybit", 0);
    fake.wait_for_requests(2, WAIT).await;
    monitor.stop().await;
    assert_eq!(fake.requests().len(), 2, "no retry after a rejection");
    assert_eq!(deliveries(&metrics, "failed"), 1.0);
    assert_eq!(deliveries(&metrics, "retry"), 0.0);
}

#[actix::test]
async fn sms_mixed_rejection_and_failure_retries_only_the_failed_one() {
    let fake = FakeTwilio::start();
    let carol = "+66800000003";
    fake.queue_for(BOB, [TwilioMode::InvalidTo]);
    fake.queue_for(carol, [TwilioMode::ServerError]);
    let mut ch = channel(&fake, &[ALICE, BOB, carol]);
    let a = alert("z-score 9.1");
    let first = ch.deliver(&a).await;
    assert_no_secret(&first);
    assert!(
        matches!(&first, Err(DeliveryError::Retryable { reason, .. }) if reason.starts_with("1 of 3 recipients pending")),
        "{first:?}"
    );
    let second = ch.deliver(&a).await;
    assert_no_secret(&second);
    assert!(
        matches!(&second, Err(DeliveryError::Rejected { reason }) if reason.contains("21211")),
        "{second:?}"
    );
    assert_eq!(fake.requests_to(ALICE).len(), 1);
    assert_eq!(
        fake.requests_to(BOB).len(),
        1,
        "a rejected recipient is not retried"
    );
    assert_eq!(
        fake.requests_to(carol)
            .iter()
            .map(|r| r.status)
            .collect::<Vec<_>>(),
        [500, 201]
    );
}

#[actix::test]
async fn sms_long_alerts_are_shortened_keeping_the_head() {
    let fake = FakeTwilio::start();
    let mut ch = channel(&fake, &[ALICE]);
    let long = format!("{} {}", "very long finding".repeat(200), "é".repeat(500));
    let result = ch.deliver(&alert(&long)).await;
    assert_eq!(
        result,
        Ok(()),
        "the fake refuses bodies over 1600 characters"
    );
    let body = fake.accepted()[0].field("Body").unwrap().to_owned();
    assert_eq!(body.chars().count(), 320, "{body}");
    assert!(
        body.starts_with("CRITICAL binance ping latency spike: latency_ms 5234.5 (threshold 1000). very long finding"),
        "{body}"
    );
    assert!(body.ends_with("..."));
}

#[actix::test]
async fn sms_rejections_quote_twilio_without_the_sid_or_token() {
    let fake = FakeTwilio::start();
    // Another account's SID: Twilio answers 404 quoting the path, SID included.
    let other_sid = "ACffffffffffffffffffffffffffffffff";
    crate::support::install_crypto_provider();
    let mut ch = SmsChannel::new(
        exwatch::client::build_client(4, Duration::from_secs(1)),
        fake.api_base(),
        Secret::new(other_sid),
        Secret::new(AUTH_TOKEN),
        FROM.into(),
        vec![ALICE.into()],
    );
    let result = ch.deliver(&alert("x")).await;
    assert_eq!(fake.requests()[0].status, 404);
    match &result {
        Err(DeliveryError::Rejected { reason }) => {
            assert!(reason.contains("20404"), "{reason}");
            assert!(reason.contains("/Accounts/***/"), "scrubbed: {reason}");
            assert!(
                !reason.contains(other_sid) && !reason.contains(AUTH_TOKEN),
                "{reason}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    // Wrong token: 401, nothing secret in the reason either.
    let mut ch = SmsChannel::new(
        exwatch::client::build_client(4, Duration::from_secs(1)),
        fake.api_base(),
        Secret::new(ACCOUNT_SID),
        Secret::new("wrong-token-also-secret"),
        FROM.into(),
        vec![ALICE.into()],
    );
    let result = ch.deliver(&alert("x")).await;
    assert_no_secret(&result);
    assert!(
        matches!(&result, Err(DeliveryError::Rejected { reason }) if reason.contains("20003") && !reason.contains("wrong-token")),
        "{result:?}"
    );

    // A refused connection: retryable, and no URL (with its SID) quoted.
    let mut ch = SmsChannel::new(
        exwatch::client::build_client(4, Duration::from_secs(1)),
        "http://127.0.0.1:1".into(),
        Secret::new(ACCOUNT_SID),
        Secret::new(AUTH_TOKEN),
        FROM.into(),
        vec![ALICE.into()],
    );
    let t = Instant::now();
    let result = ch.deliver(&alert("x")).await;
    assert!(t.elapsed() < WAIT);
    assert_no_secret(&result);
    assert!(
        matches!(result, Err(DeliveryError::Retryable { .. })),
        "{result:?}"
    );
}
