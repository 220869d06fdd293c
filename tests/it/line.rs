//! The `line` channel through real HTTP, against the loopback [`FakeLine`]: the push request
//! and its text, the limits, retries (same retry key), rate limits, the monthly quota,
//! rejections, secrets, and ordering across an outage. Real time only (sockets), short
//! back-offs, bounded waits.
//!
//! Alerts come from clock-skew measurements, as in `webhook.rs`: 2500 ms fires a critical
//! alert at once, and three normal samples resolve the episode.

use std::time::{Duration, Instant};

use exwatch::channel::Channel;
use exwatch::channel::line::{self, LineChannel, retry_key};
use exwatch::channel::{ChannelKind, ChannelSettings, LineSpec};
use exwatch::client::build_client;
use exwatch::messages::{Alert, AlertKind, Metric, Name, Severity, Stats, Timestamp, Triage};
use exwatch::metrics::Metrics;
use exwatch::settings::{RetrySettings, Secret, Settings};
use exwatch::{DeliveryError, Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::common::{WAIT, deliveries, fire, resolve, retry, t0, utc};
use crate::support::fake_line::{FakeLine, LineMode, LineRequest};

const TOKEN: &str = "line-channel-token-SECRET-0123456789";
const TO: &str = "U0123456789abcdef0123456789abcdef";

fn line_settings(name: &str, api_base: String, retry: RetrySettings) -> ChannelSettings {
    ChannelSettings {
        name: Name::from(name),
        min_severity: Severity::Info,
        retry,
        kind: ChannelKind::Line(LineSpec {
            to: TO.into(),
            token_env: "EXWATCH_TEST_LINE_TOKEN".into(),
            token: Secret::new(TOKEN),
            api_base,
        }),
    }
}

fn settings(channels: Vec<ChannelSettings>) -> Settings {
    let mut s = Settings {
        channels,
        ..crate::support::test_settings()
    };
    s.shutdown.grace = Duration::from_secs(3);
    s
}

/// One channel, `desk`, to `fake`.
fn start(fake: &FakeLine, max_attempts: u32) -> (MonitorHandle, std::sync::Arc<Metrics>) {
    let monitor = Monitor::start(settings(vec![line_settings(
        "desk",
        fake.api_base(),
        retry(max_attempts),
    )]))
    .expect("monitor starts");
    let metrics = monitor.metrics().clone();
    (monitor, metrics)
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The alert id a text ends with (`id <ulid>`).
fn text_id(text: &str) -> String {
    text.lines()
        .last()
        .and_then(|l| l.strip_prefix("id "))
        .unwrap_or_else(|| panic!("no id line in {text:?}"))
        .to_owned()
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// A hand-made alert, for driving a channel directly.
fn alert(message: &str) -> Alert {
    Alert {
        id: exwatch::messages::new_id(),
        kind: AlertKind::Firing,
        severity: Severity::Warning,
        exchange: Name::from("okx"),
        endpoint: Name::from("ticker"),
        metric: Metric::LatencyMs,
        detector: Name::from("zscore"),
        title: "okx ticker latency spike".into(),
        message: message.into(),
        value: 5234.5,
        threshold: 71.33333,
        region: Name::from("ap-southeast-1"),
        started_at: Timestamp(t0()),
        at: Timestamp(t0() + 3000),
        stats: Stats {
            p50_ms: Some(41.0),
            p99_ms: Some(120.0),
            ..Stats::default()
        },
        in_reply_to: None,
        group: None,
    }
}

fn direct_channel(fake: &FakeLine, token: &str) -> LineChannel {
    LineChannel::new(
        build_client(2, Duration::from_secs(2)),
        Name::from("direct"),
        &fake.api_base(),
        TO.into(),
        Secret::new(token),
    )
}

#[actix::test]
async fn line_push_follows_the_messaging_api() {
    let fake = FakeLine::start(TOKEN);
    let (monitor, _) = start(&fake, 3);
    fire(&monitor, "bybit", 0);
    let got = fake.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "one push per alert");
    let push = &got[0];
    assert_eq!(push.method, "POST");
    assert_eq!(push.path, "/v2/bot/message/push");
    assert_eq!(
        push.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(push.header("content-type"), Some("application/json"));
    assert!(
        push.header("user-agent")
            .unwrap_or_default()
            .starts_with("exwatch/")
    );
    let body = push.json();
    let mut keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["messages", "to"], "{body}");
    assert_eq!(body["to"], TO);
    assert_eq!(body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(body["messages"][0]["type"], "text");

    let text = push.text();
    let firing_id = text_id(&text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "🔴 CRITICAL", "{text}");
    assert_eq!(lines[1], "bybit time clock skew", "{text}");
    assert!(lines[3].contains("2500"), "the message: {text}");
    for expected in [
        "bybit / time / clock_skew_ms",
        "value 2500 ms (threshold 2000 ms)",
        "detector clock_skew",
        &format!("started {} UTC", utc(t0())),
        "region local",
    ] {
        assert!(
            lines.contains(&expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let key = push.retry_key().expect("X-Line-Retry-Key");
    assert!(is_uuid(key), "{key}");
    assert_eq!(key, retry_key(&firing_id, "desk"));

    resolve(&monitor, "bybit", 1);
    let got = fake.wait_for(2, WAIT).await;
    let text = got[1].text();
    assert!(
        text.starts_with(
            "✅ RESOLVED (was CRITICAL)\nbybit time clock skew resolved\n\nrecovered after"
        ),
        "{text}"
    );
    assert!(
        text.contains("\nlast value 2500 ms (threshold 2000 ms)\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("\nresolved {} UTC\n", utc(t0() + 3000))),
        "{text}"
    );

    monitor.router().do_send(Triage {
        alert_id: Name::from(firing_id.as_str()),
        text: "Bybit's time servers drifted; their status page reports NTP maintenance.".into(),
    });
    let got = fake.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    let text = got[2].text();
    assert!(
        text.starts_with(&format!(
            "💬 TRIAGE · re: bybit time clock skew\n(follow-up to alert {firing_id})\n\nBybit's time servers drifted"
        )),
        "{text}"
    );
    let keys: std::collections::HashSet<&str> =
        got.iter().filter_map(LineRequest::retry_key).collect();
    assert_eq!(keys.len(), 3, "a key per alert");
    assert!(monitor.stop().await);
    assert_eq!(fake.attempts().len(), 3, "nothing beyond the three pushes");
}

#[actix::test]
async fn line_huge_alert_text_fits_the_limit() {
    let fake = FakeLine::start(TOKEN);
    let recorded = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings(vec![line_settings(
        "desk",
        fake.api_base(),
        retry(3),
    )]))
    .alert_recipient("probe", Severity::Info, recorded.recipient())
    .start()
    .expect("monitor starts");
    let mut recorded = recorded;
    fire(&monitor, "okx", 0);
    let firing = recorded.next(3).await;
    // A 20 000-character hypothesis, 30 000 UTF-16 units: emoji count twice.
    let huge = format!("{}{}", "🍎".repeat(10_000), "x".repeat(10_000));
    assert_eq!(huge.chars().count(), 20_000);
    monitor.router().do_send(Triage {
        alert_id: firing.id.clone(),
        text: huge,
    });
    let got = fake.wait_for(2, WAIT).await;
    assert!(monitor.stop().await);
    assert_eq!(
        got.len(),
        2,
        "the fake accepted both: {:?}",
        fake.attempts()
            .iter()
            .map(|a| &a.problem)
            .collect::<Vec<_>>()
    );
    let text = got[1].text();
    assert!(utf16_len(&text) <= line::MAX_TEXT, "{}", utf16_len(&text));
    assert!(text.contains("🍎…"), "cut on a character boundary, marked");
    assert!(
        text.ends_with(&format!("id {}", text_id(&text))),
        "the details survive the cut"
    );
    assert!(text.contains("region local"));

    // Directly, with every part oversized.
    let fake = FakeLine::start(TOKEN);
    let mut a = alert(&"m".repeat(20_000));
    a.title = "t".repeat(20_000);
    a.region = Name::from("r".repeat(20_000));
    let mut ch = direct_channel(&fake, TOKEN);
    assert_eq!(ch.deliver(&a).await, Ok(()));
    let text = fake.pushes()[0].text();
    assert!(utf16_len(&text) <= line::MAX_TEXT);

    // The fake does hold the line: 5001 units are refused with LINE's error body.
    let resp = crate::support::client()
        .post(format!("{}/v2/bot/message/push", fake.api_base()))
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .send_json(&serde_json::json!({"to": TO, "messages": [{"type": "text", "text": "x".repeat(5001)}]}))
        .await
        .expect("an answer");
    assert_eq!(resp.status().as_u16(), 400);
    let refused = fake.attempts().pop().unwrap();
    assert!(
        refused
            .problem
            .as_deref()
            .unwrap_or_default()
            .contains("Length must be between 0 and 5000"),
        "{:?}",
        refused.problem
    );
}

#[actix::test]
async fn line_retries_5xx_with_the_same_retry_key() {
    let fake = FakeLine::start(TOKEN);
    fake.queue_modes([LineMode::ServerError(500), LineMode::ServerError(503)]);
    let (monitor, metrics) = start(&fake, 5);
    fire(&monitor, "bybit", 0);
    assert_eq!(fake.wait_for(1, WAIT).await.len(), 1);
    assert!(monitor.stop().await);
    let attempts = fake.attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [500, 503, 200]
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.retry_key() == attempts[0].retry_key() && a.body == attempts[0].body),
        "one alert, one key, one body"
    );
    assert_eq!(deliveries(&metrics, "desk", "retry"), 2.0);
    assert_eq!(deliveries(&metrics, "desk", "ok"), 1.0);
    assert_eq!(deliveries(&metrics, "desk", "failed"), 0.0);
}

#[actix::test]
async fn line_rate_limit_is_retried_honouring_retry_after() {
    let fake = FakeLine::start(TOKEN);
    fake.queue_modes([
        LineMode::RateLimited {
            retry_after_secs: Some(1),
        },
        LineMode::RateLimited {
            retry_after_secs: None,
        },
    ]);
    let (monitor, metrics) = start(&fake, 5);
    fire(&monitor, "bybit", 0);
    assert_eq!(fake.wait_for(1, WAIT).await.len(), 1);
    assert!(monitor.stop().await);
    let attempts = fake.attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [429, 429, 200]
    );
    let hinted = attempts[1].at - attempts[0].at;
    assert!(
        hinted >= Duration::from_millis(990) && hinted < Duration::from_millis(2000),
        "Retry-After: 1 waited {hinted:?}"
    );
    let plain = attempts[2].at - attempts[1].at;
    assert!(
        plain < Duration::from_millis(600),
        "no hint: the channel's back-off (≤ 200 ms here), waited {plain:?}"
    );
    assert_eq!(deliveries(&metrics, "desk", "retry"), 2.0);
    assert_eq!(deliveries(&metrics, "desk", "ok"), 1.0);
}

#[actix::test]
async fn line_lost_answer_is_not_pushed_twice() {
    // LINE accepts the push but the answer never arrives: the retry carries the same key, LINE
    // answers 409 with the accepted request's id, and that is a delivery.
    let fake = FakeLine::start(TOKEN);
    fake.queue_modes([LineMode::AcceptThenStall]);
    let (monitor, metrics) = start(&fake, 5);
    fire(&monitor, "bybit", 0);
    let attempts = fake.wait_for_attempts(2, WAIT).await;
    assert!(monitor.stop().await, "counted delivered");
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [0, 409],
        "stalled, then already accepted"
    );
    assert_eq!(attempts[0].retry_key(), attempts[1].retry_key());
    assert_eq!(fake.pushes().len(), 1, "pushed exactly once");
    assert_eq!(deliveries(&metrics, "desk", "ok"), 1.0);
    assert_eq!(deliveries(&metrics, "desk", "retry"), 1.0);
    assert_eq!(deliveries(&metrics, "desk", "failed"), 0.0);

    // A 409 with an accepted id on the very first attempt is a delivery too.
    let fake = FakeLine::start(TOKEN);
    fake.queue_modes([LineMode::Conflict]);
    let mut ch = direct_channel(&fake, TOKEN);
    assert_eq!(ch.deliver(&alert("m")).await, Ok(()));
}

#[actix::test]
async fn line_rejections_quote_line_and_are_not_retried() {
    let fake = FakeLine::start(TOKEN);
    let mut ch = direct_channel(&fake, TOKEN);
    let cases = [
        (
            LineMode::BadRequest(
                "The property, 'to', in the request body is invalid (line: 1, column: 7)",
            ),
            "LINE HTTP 400: The property, 'to', in the request body is invalid (line: 1, column: 7)",
        ),
        (
            LineMode::Unauthorized,
            "LINE HTTP 401: Authentication failed. Confirm that the access token in the authorization header is valid.",
        ),
        (
            LineMode::Forbidden,
            "LINE HTTP 403: Not authorized to use this endpoint.",
        ),
    ];
    for (mode, expected) in cases {
        fake.queue_modes([mode]);
        match ch.deliver(&alert("m")).await {
            Err(DeliveryError::Rejected { reason }) => assert_eq!(reason, expected),
            other => panic!("{mode:?}: {other:?}"),
        }
    }
    // A wrong token: the fake's own check answers 401; the reason never shows a token.
    let mut wrong = direct_channel(&fake, "wrong-token-SECRET-abcdef");
    match wrong.deliver(&alert("m")).await {
        Err(DeliveryError::Rejected { reason }) => {
            assert!(
                reason.starts_with("LINE HTTP 401: Authentication failed"),
                "{reason}"
            );
            assert!(!reason.contains("SECRET"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // Through the ChannelActor: tried once, counted failed, the next alert goes through.
    let fake = FakeLine::start(TOKEN);
    fake.queue_modes([LineMode::BadRequest("Failed to send messages")]);
    let (monitor, metrics) = start(&fake, 5);
    fire(&monitor, "bybit", 0);
    fake.wait_for_attempts(1, WAIT).await;
    fire(&monitor, "okx", 1);
    assert_eq!(fake.wait_for(1, WAIT).await.len(), 1);
    assert!(monitor.stop().await);
    assert_eq!(
        fake.attempts().iter().map(|a| a.status).collect::<Vec<_>>(),
        [400, 200]
    );
    assert!(fake.pushes()[0].text().contains("okx / time"));
    assert_eq!(deliveries(&metrics, "desk", "failed"), 1.0);
    assert_eq!(deliveries(&metrics, "desk", "retry"), 0.0);
}

#[actix::test]
async fn line_monthly_quota_keeps_alerts_pending() {
    let fake = FakeLine::start(TOKEN);
    fake.set_mode(LineMode::MonthlyLimit);
    let api_base = fake.api_base();
    let quota_backoff = Duration::from_millis(200);
    let mut s = settings(Vec::new());
    s.shutdown.grace = Duration::from_millis(200);
    let monitor = Monitor::builder(s)
        .channel("quota", Severity::Info, retry(0), move || {
            LineChannel::new(
                build_client(2, Duration::from_secs(2)),
                Name::from("quota"),
                &api_base,
                TO.into(),
                Secret::new(TOKEN),
            )
            .with_quota_backoff(quota_backoff)
        })
        .start()
        .expect("monitor starts");
    let metrics = monitor.metrics().clone();

    // The first quota answer is waited out briefly, the second far longer: never a rejection.
    fire(&monitor, "bybit", 0);
    wait_until(|| deliveries(&metrics, "quota", "retry") >= 2.0).await;
    let attempts = fake.attempts();
    assert_eq!(attempts.len(), 2, "tried, waited, tried once more");
    let gap = attempts[1].at - attempts[0].at;
    assert!(
        gap >= quota_backoff,
        "waited {gap:?}, less than the quota back-off"
    );
    assert_eq!(
        deliveries(&metrics, "quota", "failed"),
        0.0,
        "still pending"
    );
    assert!(
        !monitor.stop().await,
        "the alert is still pending at shutdown"
    );
    assert_eq!(fake.attempts().len(), 2, "the long quota wait was honoured");
}

/// What the channel contract checks of every platform's secrets (reasons, `Debug`, settings,
/// logs, store) is in `channel_contract.rs`; here, LINE's own: where the token travels.
#[actix::test]
async fn line_token_travels_only_in_the_authorization_header() {
    let fake = FakeLine::start(TOKEN);
    let mut ch = direct_channel(&fake, TOKEN);
    assert_eq!(ch.deliver(&alert("m")).await, Ok(()));
    let push = &fake.pushes()[0];
    assert!(!String::from_utf8_lossy(&push.body).contains(TOKEN));
    let carrying: Vec<&str> = push
        .headers
        .iter()
        .filter(|(_, v)| v.contains(TOKEN))
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(carrying, ["authorization"]);
}

#[actix::test]
async fn line_receives_one_rendered_message_per_incident_when_grouping() {
    let fake = FakeLine::start(TOKEN);
    let mut s = settings(vec![line_settings("desk", fake.api_base(), retry(3))]);
    s.router.group_by = vec![exwatch::route::GroupField::Exchange];
    s.router.group_interval = Duration::from_secs(60);
    let monitor = Monitor::start(s).expect("monitor starts");
    fire(&monitor, "bybit", 0);
    let got = fake.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let text = got[0].json()["messages"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains("Incident exchange=bybit (opened): 1 series"),
        "{text}"
    );
    assert!(
        text.contains("bybit/time/clock_skew_ms · critical · clock_skew · firing"),
        "{text}"
    );
    assert!(utf16_len(&text) <= 5000);
    monitor.stop().await;
}
