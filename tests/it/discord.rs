//! The `discord` channel through real HTTP, against the loopback [`FakeDiscord`]: the execute
//! request and its embed, every limit, retries, rate limits (the larger hint wins), rejections,
//! secrets. Ordering across an outage and restarts are the channel contract's
//! (`channel_contract.rs`). Real time only (sockets), short back-offs, bounded waits.
//!
//! Alerts come from clock-skew measurements, as in `webhook.rs`: 2500 ms fires a critical
//! alert at once, 900 ms a warning, and three normal samples resolve the episode.

use std::time::Duration;

use exwatch::channel::Channel;
use exwatch::channel::discord::DiscordChannel;
use exwatch::channel::{ChannelKind, ChannelSettings, DiscordSpec};
use exwatch::client::build_client;
use exwatch::messages::{Alert, AlertKind, Metric, Name, Severity, Stats, Timestamp, Triage};
use exwatch::metrics::Metrics;
use exwatch::settings::{RetrySettings, Secret, Settings};
use exwatch::{DeliveryError, Monitor, MonitorHandle};
use serde_json::{Value, json};

use crate::collect::Collected;
use crate::common::{WAIT, deliveries, fire, resolve, retry, skew, t0};
use crate::support::fake_discord::{DiscordMode, DiscordRequest, FakeDiscord, WEBHOOK_ID};

const TOKEN: &str = "dIsCoRd-WeBhOoK-tOkEn-SECRET-0123456789abcdefghijklmnopqrstuvwxyz";

fn discord_settings(name: &str, url: String, retry: RetrySettings) -> ChannelSettings {
    ChannelSettings {
        name: Name::from(name),
        min_severity: Severity::Info,
        retry,
        kind: ChannelKind::Discord(DiscordSpec {
            webhook_url_env: "EXWATCH_TEST_DISCORD_URL".into(),
            webhook_url: Secret::new(url),
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

/// One channel, `room`, to `fake`'s webhook URL as Discord hands it out.
fn start(fake: &FakeDiscord, max_attempts: u32) -> (MonitorHandle, std::sync::Arc<Metrics>) {
    let monitor = Monitor::start(settings(vec![discord_settings(
        "room",
        fake.webhook_url(),
        retry(max_attempts),
    )]))
    .expect("monitor starts");
    let metrics = monitor.metrics().clone();
    (monitor, metrics)
}

/// The alert id of a message (its `Alert` field, without the backticks).
fn alert_id(m: &DiscordRequest) -> String {
    m.field("Alert")
        .expect("an Alert field")
        .trim_matches('`')
        .to_owned()
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// A hand-made alert, for driving a channel directly.
fn alert(message: &str) -> Alert {
    Alert {
        id: exwatch::messages::new_id(),
        kind: AlertKind::Firing,
        severity: Severity::Info,
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

fn direct_channel(url: &str) -> DiscordChannel {
    DiscordChannel::new(build_client(2, Duration::from_secs(2)), &Secret::new(url))
}

#[actix::test]
async fn discord_message_follows_the_webhook_api() {
    let fake = FakeDiscord::start(TOKEN);
    let (monitor, _) = start(&fake, 3);
    fire(&monitor, "bybit", 0);
    let got = fake.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "one message per alert");
    let m = &got[0];
    assert_eq!(m.method, "POST");
    assert_eq!(
        m.path,
        format!("/api/v10/webhooks/{WEBHOOK_ID}/{TOKEN}"),
        "the configured URL, as given"
    );
    assert_eq!(m.version, Some(10));
    assert!(m.wait(), "wait=true: {}", m.query);
    assert_eq!(m.status, 200, "the message object came back");
    assert_eq!(m.header("content-type"), Some("application/json"));
    assert_eq!(m.header("authorization"), None, "the URL is the credential");

    let body = m.json();
    assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    assert_eq!(body["content"], "🔴 **CRITICAL** bybit time clock skew");
    let e = m.embed();
    assert_eq!(e["title"], "bybit time clock skew");
    assert!(e["description"].as_str().unwrap().contains("2500"), "{e}");
    assert_eq!(e["color"], 15158332);
    assert_eq!(e["timestamp"], Timestamp(t0()).to_rfc3339());
    assert_eq!(e["footer"]["text"], "exwatch · local");
    let firing_id = alert_id(m);
    let started = format!("<t:{s}:f> (<t:{s}:R>)", s = t0() / 1000);
    for (name, value) in [
        ("Exchange", "bybit"),
        ("Endpoint", "time"),
        ("Metric", "clock_skew_ms"),
        ("Value", "2500 ms"),
        ("Threshold", "2000 ms"),
        ("Detector", "clock_skew"),
        ("Started", started.as_str()),
    ] {
        assert_eq!(m.field(name).as_deref(), Some(value), "{name}");
    }

    // A warning episode is orange; resolved is green.
    monitor.inject(skew("okx", 900.0, 0));
    resolve(&monitor, "okx", 1);
    let got = fake.wait_for(3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[1].embed()["color"], 15965202);
    let resolved = &got[2];
    assert_eq!(resolved.embed()["color"], 3066993);
    assert_eq!(
        resolved.json()["content"],
        "✅ **RESOLVED (was WARNING)** okx time clock skew resolved"
    );
    assert_eq!(resolved.field("Last value").as_deref(), Some("900 ms"));
    assert_eq!(
        resolved.field("Resolved").as_deref(),
        Some(format!("<t:{s}:f> (<t:{s}:R>)", s = t0() / 1000 + 3).as_str())
    );

    monitor.router().do_send(Triage {
        alert_id: Name::from(firing_id.as_str()),
        text: "Bybit's time servers drifted; an NTP incident is posted on their status page."
            .into(),
    });
    let got = fake.wait_for(4, WAIT).await;
    assert_eq!(got.len(), 4);
    let triage = &got[3];
    assert_eq!(
        triage.json()["content"],
        "💬 **TRIAGE** re: bybit time clock skew"
    );
    assert_eq!(triage.embed()["title"], "Triage: bybit time clock skew");
    assert!(
        triage.embed()["description"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "Follow-up to alert `{firing_id}`\n\nBybit's time servers"
            )),
        "{}",
        triage.embed()
    );
    assert_eq!(triage.field("In reply to"), Some(format!("`{firing_id}`")));
    assert!(monitor.stop().await);
    assert_eq!(fake.attempts().len(), 4);
    assert!(fake.attempts().iter().all(|a| a.error.is_none()));
}

#[actix::test]
async fn discord_huge_alerts_pass_every_limit() {
    let fake = FakeDiscord::start(TOKEN);
    let recorded = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings(vec![discord_settings(
        "room",
        fake.webhook_url(),
        retry(3),
    )]))
    .alert_recipient("probe", Severity::Info, recorded.recipient())
    .start()
    .expect("monitor starts");
    let mut recorded = recorded;
    fire(&monitor, "okx", 0);
    let firing = recorded.next(3).await;
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
        "{:?}",
        fake.attempts().iter().map(|a| &a.error).collect::<Vec<_>>()
    );
    let d = got[1].embed()["description"].as_str().unwrap().to_owned();
    assert!(utf16_len(&d) <= 4096, "{}", utf16_len(&d));
    assert!(d.starts_with(&format!("Follow-up to alert `{}`", firing.id)));
    assert!(d.ends_with('…'));

    // Directly, with every part oversized: still within every limit.
    let fake = FakeDiscord::start(TOKEN);
    let mut ch = direct_channel(&fake.webhook_url());
    let mut a = alert(&"m".repeat(20_000));
    a.title = "🍎".repeat(5_000);
    a.region = Name::from("r".repeat(5_000));
    a.exchange = Name::from("e".repeat(5_000));
    a.detector = Name::from(" d ".repeat(2_000));
    assert_eq!(
        ch.deliver(&a).await,
        Ok(()),
        "{:?}",
        fake.attempts()[0].error
    );
    let e = fake.delivered()[0].embed();
    assert!(utf16_len(e["title"].as_str().unwrap()) <= 256);
    assert!(utf16_len(e["footer"]["text"].as_str().unwrap()) <= 2048);

    // The fake does hold every line, answering as Discord does.
    let post = |body: Value| {
        let url = fake.webhook_url();
        async move {
            let mut resp = crate::support::client()
                .post(format!("{url}?wait=true"))
                .send_json(&body)
                .await
                .expect("an answer");
            let json: Value = resp.json().await.unwrap_or(Value::Null);
            (resp.status().as_u16(), json)
        }
    };
    let field = |name: &str, value: &str| json!({"name": name, "value": value});
    let broken = [
        (json!({"content": "x".repeat(2001)}), "content"),
        (
            json!({"embeds": [{"title": "t".repeat(257)}]}),
            "embeds.0.title",
        ),
        (
            json!({"embeds": [{"description": "🍎".repeat(2049)}]}),
            "embeds.0.description",
        ),
        (
            json!({"embeds": [{"fields": vec![field("n", "v"); 26]}]}),
            "embeds.0.fields",
        ),
        (
            json!({"embeds": [{"fields": [field("n", " ")]}]}),
            "embeds.0.fields.0.value",
        ),
        (
            json!({"embeds": [{"fields": [field(&"n".repeat(257), "v")]}]}),
            "embeds.0.fields.0.name",
        ),
        (
            json!({"embeds": [{"footer": {"text": "f".repeat(2049)}}]}),
            "embeds.0.footer.text",
        ),
        (
            json!({"embeds": [{"description": "d".repeat(4000), "footer": {"text": "f".repeat(2001)}}]}),
            "embeds",
        ),
    ];
    for (body, at) in broken {
        let (status, answer) = post(body).await;
        assert_eq!(status, 400, "{at}");
        assert_eq!(answer["code"], 50035, "{at}: {answer}");
        let mut node = &answer["errors"];
        for key in at.split('.') {
            node = &node[key];
        }
        assert!(node["_errors"].is_array(), "{at}: {answer}");
    }
}

#[actix::test]
async fn discord_retries_5xx_and_stalls() {
    let fake = FakeDiscord::start(TOKEN);
    fake.queue_modes([
        DiscordMode::Status(500),
        DiscordMode::Stall,
        DiscordMode::Status(502),
    ]);
    let (monitor, metrics) = start(&fake, 5);
    fire(&monitor, "bybit", 0);
    assert_eq!(fake.wait_for(1, WAIT).await.len(), 1);
    assert!(monitor.stop().await);
    let attempts = fake.attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [500, 0, 502, 200]
    );
    assert!(attempts.iter().all(|a| a.body == attempts[0].body));
    assert_eq!(deliveries(&metrics, "room", "retry"), 3.0);
    assert_eq!(deliveries(&metrics, "room", "ok"), 1.0);
    assert_eq!(deliveries(&metrics, "room", "failed"), 0.0);
}

#[actix::test]
async fn discord_rate_limit_waits_for_the_larger_hint() {
    let fake = FakeDiscord::start(TOKEN);
    fake.queue_modes([
        // The header asks for more than the body.
        DiscordMode::RateLimited {
            retry_after: 0.3,
            header_secs: Some(1.0),
            global: false,
        },
        // Only the body, a fraction of a second past a whole one.
        DiscordMode::RateLimited {
            retry_after: 1.25,
            header_secs: None,
            global: true,
        },
    ]);
    let (monitor, metrics) = start(&fake, 5);
    fire(&monitor, "bybit", 0);
    assert_eq!(fake.wait_for(1, Duration::from_secs(5)).await.len(), 1);
    assert!(monitor.stop().await);
    let attempts = fake.attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [429, 429, 200]
    );
    let first = attempts[1].at - attempts[0].at;
    assert!(
        first >= Duration::from_millis(990) && first < Duration::from_millis(2000),
        "header 1 s over body 0.3 s: waited {first:?}"
    );
    let second = attempts[2].at - attempts[1].at;
    assert!(
        second >= Duration::from_millis(1240) && second < Duration::from_millis(2250),
        "body 1.25 s: waited {second:?}"
    );
    assert_eq!(deliveries(&metrics, "room", "retry"), 2.0);
    assert_eq!(deliveries(&metrics, "room", "ok"), 1.0);

    // Why Discord's own unversioned URLs are pinned: the legacy API answers in milliseconds.
    fake.queue_modes([DiscordMode::rate_limited(1.25)]);
    let mut resp = crate::support::client()
        .post(format!("{}?wait=true", fake.legacy_webhook_url()))
        .send_json(&json!({"content": "hi"}))
        .await
        .expect("an answer");
    assert_eq!(resp.status().as_u16(), 429);
    assert_eq!(resp.headers().get("retry-after").unwrap(), "1250");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["retry_after"], 1250);
}

#[actix::test]
async fn discord_rejections_are_not_retried() {
    // A deleted webhook: tried once, counted failed; the next alert is tried on its own.
    let fake = FakeDiscord::start(TOKEN);
    fake.queue_modes([DiscordMode::UnknownWebhook, DiscordMode::InvalidFormBody]);
    let (monitor, metrics) = start(&fake, 5);
    fire(&monitor, "bybit", 0);
    fake.wait_for_attempts(1, WAIT).await;
    fire(&monitor, "okx", 1);
    fake.wait_for_attempts(2, WAIT).await;
    fire(&monitor, "binance", 2);
    assert_eq!(fake.wait_for(1, WAIT).await.len(), 1);
    assert!(monitor.stop().await);
    assert_eq!(
        fake.attempts().iter().map(|a| a.status).collect::<Vec<_>>(),
        [404, 400, 200]
    );
    assert_eq!(
        fake.delivered()[0].field("Exchange").as_deref(),
        Some("binance")
    );
    assert_eq!(deliveries(&metrics, "room", "failed"), 2.0);
    assert_eq!(deliveries(&metrics, "room", "retry"), 0.0);

    // The reasons quote Discord.
    let fake = FakeDiscord::start(TOKEN);
    let mut ch = direct_channel(&fake.webhook_url());
    let expect_rejected = |r: Result<(), DeliveryError>| match r {
        Err(DeliveryError::Rejected { reason }) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    };
    fake.queue_modes([DiscordMode::UnknownWebhook]);
    let reason = expect_rejected(ch.deliver(&alert("m")).await);
    assert_eq!(
        reason,
        "Discord HTTP 404: Unknown Webhook (code 10015); the webhook was deleted or its URL is wrong"
    );
    fake.queue_modes([DiscordMode::InvalidFormBody]);
    let reason = expect_rejected(ch.deliver(&alert("m")).await);
    assert_eq!(
        reason,
        "Discord HTTP 400: Invalid Form Body (code 50035): embeds.0.description: Must be 2048 or fewer in length."
    );
    let mut other_id = direct_channel(&fake.webhook_url().replace(WEBHOOK_ID, "42"));
    let reason = expect_rejected(other_id.deliver(&alert("m")).await);
    assert!(
        reason.starts_with("Discord HTTP 404: Unknown Webhook (code 10015)"),
        "{reason}"
    );
}

/// The contract suite checks every platform's secrets (reasons, `Debug`, settings, logs,
/// store); here, Discord's own answer to a wrong token.
#[actix::test]
async fn discord_wrong_token_is_rejected_quoting_discord_not_the_token() {
    let fake = FakeDiscord::start(TOKEN);
    let url = fake.webhook_url();
    // A wrong token: Discord's 401, without the token.
    let wrong = url.replace(TOKEN, "wrong-SECRET-token-0123456789");
    let mut ch = direct_channel(&wrong);
    match ch.deliver(&alert("m")).await {
        Err(DeliveryError::Rejected { reason }) => {
            assert_eq!(
                reason,
                "Discord HTTP 401: Invalid Webhook Token (code 50027)"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[actix::test]
async fn discord_keeps_query_parameters_and_explicit_versions() {
    let fake = FakeDiscord::start(TOKEN);
    let url = format!(
        "{}/api/v9/webhooks/{WEBHOOK_ID}/{TOKEN}?thread_id=777&wait=false",
        fake.base_url()
    );
    let mut ch = direct_channel(&url);
    assert_eq!(ch.deliver(&alert("m")).await, Ok(()));
    let m = &fake.delivered()[0];
    assert_eq!(m.version, Some(9));
    assert_eq!(m.query, "thread_id=777&wait=true");
}
