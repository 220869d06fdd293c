//! The `slack` channel against a loopback [`FakeSlack`] that enforces Block Kit's limits as
//! Slack does: the message shape (fallback `text`, blocks in a coloured attachment), every
//! limit held for absurd alerts, `Retry-After` honoured on 429, Slack's plain-text errors
//! rejected once with their reason, and the URL (the secret) in no reason.

use std::time::Duration;

use exwatch::Monitor;
use exwatch::channel::{
    Channel, ChannelKind, ChannelSettings, DeliveryError, SlackChannel, SlackSpec,
};
use exwatch::messages::{Alert, AlertKind, Metric, Name, Severity, Stats, Timestamp};
use exwatch::settings::{Secret, Settings};

use crate::common::{WAIT, retry, skew, t0};
use crate::support::fake_slack::{FakeSlack, SLACK_TOKEN, SlackMode, check_blocks};

fn settings(fake: &FakeSlack) -> Settings {
    let mut s = Settings {
        channels: vec![ChannelSettings {
            name: Name::from("slack"),
            min_severity: Severity::Info,
            retry: retry(5),
            kind: ChannelKind::Slack(SlackSpec {
                webhook_url_env: "SLACK_WEBHOOK_URL".into(),
                webhook_url: Secret::new(fake.webhook_url()),
            }),
        }],
        ..crate::support::test_settings()
    };
    s.shutdown.grace = Duration::from_secs(3);
    s
}

fn channel(url: &str) -> SlackChannel {
    crate::support::install_crypto_provider();
    SlackChannel::new(
        exwatch::client::build_client(2, Duration::from_secs(1)),
        &Secret::new(url),
    )
}

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
async fn slack_gets_block_kit_coloured_by_severity_then_resolved_green() {
    let fake = FakeSlack::start();
    fake.queue_modes([SlackMode::RateLimited {
        retry_after_secs: 1,
    }]);
    let monitor = Monitor::start(settings(&fake)).expect("monitor starts");
    monitor.inject(skew("bybit", 2500.0, 0));
    for i in 1..4 {
        monitor.inject(skew("bybit", 3.0, i));
    }
    let got = fake.wait_for(2, WAIT).await;
    assert!(monitor.stop().await);
    assert_eq!(got.len(), 2, "{got:?}");
    let firing = &got[0];
    assert_eq!(firing["text"], "🔴 CRITICAL bybit time clock skew");
    let att = &firing["attachments"][0];
    assert_eq!(att["color"], "#D40E0D");
    check_blocks(&att["blocks"]).expect("within limits");
    assert_eq!(att["blocks"][0]["type"], "header");
    assert_eq!(
        got[1]["attachments"][0]["color"], "#2EB67D",
        "resolved is green"
    );
    let r = fake.requests();
    assert_eq!(
        r.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 200, 200]
    );
    let gap = r[1].at - r[0].at;
    assert!(
        gap >= Duration::from_millis(990),
        "Retry-After honoured: {gap:?}"
    );
}

#[actix::test]
async fn slack_limits_hold_for_absurd_alerts() {
    let fake = FakeSlack::start();
    let mut ch = channel(&fake.webhook_url());
    for unit in ["x", "&", "<>", "🍎"] {
        let mut a = alert(&unit.repeat(20_000));
        a.title = unit.repeat(2000);
        a.exchange = Name::from(unit.repeat(3000));
        a.detector = Name::from(unit.repeat(3000));
        assert_eq!(
            ch.deliver(&a).await,
            Ok(()),
            "{unit}: {:?}",
            fake.requests().last().map(|r| r.answer.clone())
        );
    }
    assert_eq!(fake.delivered().len(), 4);
}

#[actix::test]
async fn slack_errors_are_rejections_with_their_reason_and_no_url() {
    let fake = FakeSlack::start();
    let mut ch = channel(&fake.webhook_url());
    for (mode, want) in [
        (
            SlackMode::ChannelNotFound,
            "Slack HTTP 404: channel_not_found",
        ),
        (SlackMode::Archived, "Slack HTTP 410: channel_is_archived"),
        (SlackMode::Prohibited, "Slack HTTP 403: action_prohibited"),
    ] {
        fake.set_mode(mode);
        assert_eq!(
            ch.deliver(&alert("m")).await,
            Err(DeliveryError::Rejected {
                reason: want.into()
            })
        );
    }
    fake.set_mode(SlackMode::ServerError);
    assert!(matches!(
        ch.deliver(&alert("m")).await,
        Err(DeliveryError::Retryable { .. })
    ));
    // A URL the fake does not serve, and a closed port: no reason quotes the URL or its token.
    let mut wrong = channel(&format!(
        "{}/services/T000/B000/other-never-printed",
        fake_base(&fake)
    ));
    let result = wrong.deliver(&alert("m")).await;
    assert_eq!(
        result,
        Err(DeliveryError::Rejected {
            reason: "Slack HTTP 404: no_service".into()
        })
    );
    let mut dead = channel(&format!(
        "http://127.0.0.1:1/services/T000/B000/{SLACK_TOKEN}"
    ));
    let result = dead.deliver(&alert("m")).await;
    let text = format!("{result:?} {dead:?}");
    assert!(
        matches!(result, Err(DeliveryError::Retryable { .. })),
        "{text}"
    );
    assert!(
        !text.contains(SLACK_TOKEN) && !text.contains("never-printed"),
        "{text}"
    );
}

fn fake_base(fake: &FakeSlack) -> String {
    let url = fake.webhook_url();
    url[..url.find("/services").unwrap()].to_owned()
}
