//! The `telegram` channel against a loopback [`FakeTelegram`] that parses HTML and enforces the
//! 4,096-character limit as Telegram does: one `sendMessage` per chat, HTML parse mode with
//! every exchange-supplied string escaped, no chat sent the same alert twice when another one
//! fails and the alert is retried, 429 `parameters.retry_after` honoured, "chat not found"
//! rejected once without blocking the queue, and the token (in the URL path) kept out of every
//! reason.

use std::time::Duration;

use exwatch::channel::{
    Channel, ChannelKind, ChannelSettings, DeliveryError, TelegramChannel, TelegramSpec,
};
use exwatch::messages::{Alert, AlertKind, Metric, Name, Severity, Stats, Timestamp};
use exwatch::metrics::Metrics;
use exwatch::settings::{Secret, Settings};
use exwatch::{Monitor, MonitorHandle};
use serde_json::json;

use crate::common::{WAIT, retry, skew, t0};
use crate::support::fake_telegram::{BOT_TOKEN, FakeTelegram, TelegramMode, parse_html};

const DESK: &str = "-1001234567890";
const ONCALL: &str = "424242";

fn settings(fake: &FakeTelegram, chats: &[&str], max_attempts: u32) -> Settings {
    let mut s = Settings {
        channels: vec![ChannelSettings {
            name: Name::from("tg"),
            min_severity: Severity::Info,
            retry: retry(max_attempts),
            kind: ChannelKind::Telegram(TelegramSpec {
                bot_token_env: "TELEGRAM_BOT_TOKEN".into(),
                bot_token: Secret::new(BOT_TOKEN),
                chat_id: chats.iter().map(|s| s.to_string()).collect(),
                api_base: fake.api_base(),
            }),
        }],
        ..crate::support::test_settings()
    };
    s.shutdown.grace = Duration::from_secs(3);
    s
}

fn start(fake: &FakeTelegram, chats: &[&str], max_attempts: u32) -> MonitorHandle {
    Monitor::start(settings(fake, chats, max_attempts)).expect("monitor starts")
}

fn deliveries(metrics: &Metrics, outcome: &str) -> f64 {
    metrics
        .value(
            "exwatch_deliveries_total",
            &[("channel", "tg"), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
}

fn channel(base: &str, chats: &[&str]) -> TelegramChannel {
    crate::support::install_crypto_provider();
    TelegramChannel::new(
        exwatch::client::build_client(4, Duration::from_secs(1)),
        base,
        Secret::new(BOT_TOKEN),
        chats.iter().map(|s| s.to_string()).collect(),
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

fn assert_no_token(result: &Result<(), DeliveryError>) {
    if let Err(e) = result {
        let text = format!("{e} {e:?}");
        assert!(
            !text.contains(BOT_TOKEN) && !text.contains("never-printed"),
            "token in {text}"
        );
    }
}

#[actix::test]
async fn telegram_sends_escaped_html_to_every_chat() {
    let fake = FakeTelegram::start();
    let monitor = start(&fake, &[DESK, ONCALL], 3);
    let metrics = monitor.metrics().clone();
    monitor.inject(skew("bybit", 2500.0, 0));
    let got = fake.wait_for(2, WAIT).await;
    assert!(monitor.stop().await);
    assert_eq!(got.len(), 2, "one message per chat");
    assert_eq!(fake.requests().len(), 2, "and nothing else");
    let mut chats: Vec<String> = got.iter().map(|r| r.chat()).collect();
    chats.sort();
    assert_eq!(chats, [DESK, ONCALL]);
    for r in &got {
        assert_eq!(r.path, format!("/bot{BOT_TOKEN}/sendMessage"));
        assert_eq!(r.body["parse_mode"], "HTML");
        assert_eq!(r.body["link_preview_options"], json!({"is_disabled": true}));
        assert!(
            r.body["chat_id"].is_i64(),
            "numeric ids go as numbers: {}",
            r.body
        );
        let visible = parse_html(r.text()).expect("valid HTML");
        assert!(
            visible.starts_with("🔴 CRITICAL\nbybit time clock skew"),
            "{visible}"
        );
        assert!(
            visible.contains("value 2500 ms (threshold 2000 ms)"),
            "{visible}"
        );
    }
    assert_eq!(deliveries(&metrics, "ok"), 1.0);
}

#[actix::test]
async fn telegram_hostile_and_huge_exchange_text_is_escaped_and_fitted() {
    let fake = FakeTelegram::start();
    let mut ch = channel(&fake.api_base(), &[DESK]);
    let hostile = format!(
        "<html><b>503</b> &nbsp; Service & \"Unavailable\"</html> {}",
        "<&>".repeat(5000)
    );
    let mut a = alert(&hostile);
    a.exchange = Name::from("<b>evil&co");
    a.title = "<i>unclosed".into();
    assert_eq!(
        ch.deliver(&a).await,
        Ok(()),
        "{:?}",
        fake.requests().last().map(|r| r.description.clone())
    );
    let r = &fake.accepted()[0];
    let visible = parse_html(r.text()).expect("parses");
    assert!(
        visible.contains("<html><b>503</b> &nbsp; Service & \"Unavailable\"</html>"),
        "{visible}"
    );
    assert!(visible.contains("<b>evil&co"), "{visible}");
    assert!(visible.chars().count() <= 4096);
    assert!(visible.contains('…'), "the message gave way");
}

#[actix::test]
async fn telegram_retry_never_resends_to_a_chat_that_accepted_and_honours_retry_after() {
    let fake = FakeTelegram::start();
    fake.queue_for(
        ONCALL,
        [
            TelegramMode::ServerError,
            TelegramMode::RateLimited { retry_after: 1 },
        ],
    );
    let monitor = start(&fake, &[DESK, ONCALL], 5);
    let metrics = monitor.metrics().clone();
    monitor.inject(skew("bybit", 2500.0, 0));
    fake.wait_for(2, WAIT).await;
    assert!(monitor.stop().await);
    let desk: Vec<u16> = fake.requests_to(DESK).iter().map(|r| r.status).collect();
    let oncall = fake.requests_to(ONCALL);
    assert_eq!(desk, [200], "the desk got the alert exactly once");
    assert_eq!(
        oncall.iter().map(|r| r.status).collect::<Vec<_>>(),
        [502, 429, 200]
    );
    let gap = oncall[2].at - oncall[1].at;
    assert!(
        gap >= Duration::from_millis(990),
        "retried after {gap:?}, not the 1 s asked"
    );
    assert_eq!(deliveries(&metrics, "ok"), 1.0);
}

#[actix::test]
async fn telegram_chat_not_found_is_rejected_once_and_blocks_nothing() {
    let fake = FakeTelegram::start();
    fake.forget_chat(ONCALL);
    let monitor = start(&fake, &[DESK, ONCALL], 0);
    let metrics = monitor.metrics().clone();
    monitor.inject(skew("bybit", 2500.0, 0));
    monitor.inject(skew("okx", 2500.0, 1));
    fake.wait_for(2, WAIT).await;
    monitor.stop().await;
    assert_eq!(
        fake.requests_to(DESK).len(),
        2,
        "both alerts reached the desk"
    );
    let missing = fake.requests_to(ONCALL);
    assert_eq!(missing.len(), 2, "one attempt per alert, never retried");
    assert!(missing.iter().all(|r| r.status == 400));
    assert_eq!(deliveries(&metrics, "failed"), 2.0);
    assert_eq!(deliveries(&metrics, "retry"), 0.0);

    // The reason quotes Telegram, and a blocked bot reads the same way.
    let mut ch = channel(&fake.api_base(), &[ONCALL]);
    let result = ch.deliver(&alert("x")).await;
    assert_no_token(&result);
    assert!(
        matches!(&result, Err(DeliveryError::Rejected { reason }) if reason.contains("Bad Request: chat not found")),
        "{result:?}"
    );
    fake.set_mode(TelegramMode::Blocked);
    let mut ch = channel(&fake.api_base(), &[DESK]);
    let result = ch.deliver(&alert("x")).await;
    assert!(
        matches!(&result, Err(DeliveryError::Rejected { reason }) if reason.contains("bot was blocked")),
        "{result:?}"
    );
}

/// The contract suite checks every platform's secrets (reasons, `Debug`, settings, logs,
/// store); here, Telegram's own answer to a wrong token.
#[actix::test]
async fn telegram_wrong_token_is_rejected_without_quoting_it() {
    // A wrong token is refused by the fake (401) and not quoted either.
    let fake = FakeTelegram::start();
    crate::support::install_crypto_provider();
    let mut wrong = TelegramChannel::new(
        exwatch::client::build_client(1, Duration::from_secs(1)),
        &fake.api_base(),
        Secret::new("999:wrong-token-never-printed"),
        vec![DESK.into()],
    );
    let result = wrong.deliver(&alert("x")).await;
    assert!(
        matches!(&result, Err(DeliveryError::Rejected { reason }) if reason.contains("Unauthorized")),
        "{result:?}"
    );
    assert!(!format!("{result:?}").contains("wrong-token"));
}
