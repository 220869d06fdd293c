//! The channel contract, one suite over every fake notification platform (webhook receiver,
//! LINE, Discord, Twilio): what every HTTP channel promises through the one delivery skeleton
//! (`channel::http`), driven directly through `Channel::deliver`.
//!
//! - **Outage**: a platform that answers 5xx leaves the alert retryable; once it is back, the
//!   same alert is delivered, once.
//! - **Retry-After**: a rate-limit answer's wait is handed to the delivery queue.
//! - **Unreachable**: a transport failure is retryable, and its reason quotes no secret.
//!
//! The queue's side of the contract (order, restarts, flushing) is the generic ChannelActor's
//! and is tested once in `delivery.rs` and `webhook.rs`.

use std::time::Duration;

use exwatch::channel::{
    Channel, DeliveryError, DiscordChannel, LineChannel, SmsChannel, WebhookChannel,
};
use exwatch::client::build_client;
use exwatch::messages::{Alert, AlertKind, Metric, Name, Severity, Stats, Timestamp};
use exwatch::settings::Secret;

use crate::common::t0;
use crate::support::fake_discord::{DiscordMode, FakeDiscord};
use crate::support::fake_line::{FakeLine, LineMode};
use crate::support::fake_sink::{FakeSink, SinkMode};
use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, TwilioMode};

const LINE_TOKEN: &str = "contract-line-token-SECRET";
const LINE_TO: &str = "U0123456789abcdef0123456789abcdef";
const DISCORD_TOKEN: &str = "contract-discord-token-SECRET";
const WEBHOOK_SECRET: &str = "contract-webhook-signing-SECRET";
const SMS_TO: &str = "+66800000001";

/// One fake platform and how to drive it.
enum Platform {
    Webhook(FakeSink),
    Line(FakeLine),
    Discord(FakeDiscord),
    Sms(FakeTwilio),
}

impl Platform {
    fn all() -> Vec<Platform> {
        vec![
            Platform::Webhook(FakeSink::start()),
            Platform::Line(FakeLine::start(LINE_TOKEN)),
            Platform::Discord(FakeDiscord::start(DISCORD_TOKEN)),
            Platform::Sms(FakeTwilio::start()),
        ]
    }

    fn name(&self) -> &'static str {
        match self {
            Platform::Webhook(_) => "webhook",
            Platform::Line(_) => "line",
            Platform::Discord(_) => "discord",
            Platform::Sms(_) => "sms",
        }
    }

    /// The secrets of this platform's channel: none may appear in a reason.
    fn secrets(&self) -> Vec<&'static str> {
        match self {
            Platform::Webhook(_) => vec![WEBHOOK_SECRET],
            Platform::Line(_) => vec![LINE_TOKEN],
            Platform::Discord(_) => vec![DISCORD_TOKEN],
            Platform::Sms(_) => vec![ACCOUNT_SID, AUTH_TOKEN],
        }
    }

    /// The channel, delivering to the fake (or, with `unreachable`, to a closed port with
    /// the same secrets in its URL or headers).
    fn channel(&self, unreachable: bool) -> Box<dyn Channel> {
        let client = build_client(2, Duration::from_secs(2));
        let dead = "http://127.0.0.1:1";
        match self {
            Platform::Webhook(f) => {
                let url = if unreachable {
                    format!("http://desk:{WEBHOOK_SECRET}@127.0.0.1:1/hook")
                } else {
                    f.url()
                };
                Box::new(WebhookChannel::new(
                    client,
                    url,
                    Some(Secret::new(WEBHOOK_SECRET)),
                ))
            }
            Platform::Line(f) => {
                let base = if unreachable {
                    dead.to_owned()
                } else {
                    f.api_base()
                };
                Box::new(LineChannel::new(
                    client,
                    Name::from("contract"),
                    &base,
                    LINE_TO.into(),
                    Secret::new(LINE_TOKEN),
                ))
            }
            Platform::Discord(f) => {
                let url = if unreachable {
                    format!("{dead}/api/webhooks/1/{DISCORD_TOKEN}")
                } else {
                    f.webhook_url()
                };
                Box::new(DiscordChannel::new(client, &Secret::new(url)))
            }
            Platform::Sms(f) => {
                let base = if unreachable {
                    dead.to_owned()
                } else {
                    f.api_base()
                };
                Box::new(SmsChannel::new(
                    client,
                    base,
                    Secret::new(ACCOUNT_SID),
                    Secret::new(AUTH_TOKEN),
                    "+15005550006".into(),
                    vec![SMS_TO.into()],
                ))
            }
        }
    }

    /// The platform is down: it answers 503.
    fn go_down(&self) {
        match self {
            Platform::Webhook(f) => f.set_mode(SinkMode::Status(503)),
            Platform::Line(f) => f.set_mode(LineMode::ServerError(503)),
            Platform::Discord(f) => f.set_mode(DiscordMode::Status(503)),
            Platform::Sms(f) => f.set_mode(TwilioMode::ServerError),
        }
    }

    /// The platform is back.
    fn come_back(&self) {
        match self {
            Platform::Webhook(f) => f.set_mode(SinkMode::Accept),
            Platform::Line(f) => f.set_mode(LineMode::Accept),
            Platform::Discord(f) => f.set_mode(DiscordMode::Accept),
            Platform::Sms(f) => f.set_mode(TwilioMode::Accept),
        }
    }

    /// The platform rate-limits with `Retry-After: secs`.
    fn rate_limit(&self, secs: u64) {
        match self {
            Platform::Webhook(f) => f.set_mode(SinkMode::RateLimited {
                retry_after_secs: secs,
            }),
            Platform::Line(f) => f.set_mode(LineMode::RateLimited {
                retry_after_secs: Some(secs),
            }),
            Platform::Discord(f) => f.set_mode(DiscordMode::RateLimited {
                retry_after: secs as f64,
                header_secs: Some(secs as f64),
                global: false,
            }),
            Platform::Sms(f) => f.set_mode(TwilioMode::RateLimited {
                retry_after_secs: Some(secs),
            }),
        }
    }

    /// How many alerts the platform accepted.
    fn delivered(&self) -> usize {
        match self {
            Platform::Webhook(f) => f.received().len(),
            Platform::Line(f) => f.pushes().len(),
            Platform::Discord(f) => f.delivered().len(),
            Platform::Sms(f) => f.accepted().len(),
        }
    }
}

fn alert() -> Alert {
    Alert {
        id: exwatch::messages::new_id(),
        kind: AlertKind::Firing,
        severity: Severity::Critical,
        exchange: Name::from("okx"),
        endpoint: Name::from("ticker"),
        metric: Metric::LatencyMs,
        detector: Name::from("zscore"),
        title: "okx ticker latency spike".into(),
        message: "p99 far above its baseline".into(),
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

fn assert_no_secret(platform: &Platform, e: &DeliveryError) {
    let text = format!("{e} {e:?}");
    for secret in platform.secrets() {
        assert!(
            !text.contains(secret),
            "{}: a secret in the reason: {text}",
            platform.name()
        );
    }
}

#[actix::test]
async fn contract_outage_keeps_the_alert_retryable_until_the_platform_returns() {
    for platform in Platform::all() {
        let mut ch = platform.channel(false);
        let a = alert();
        platform.go_down();
        match ch.deliver(&a).await {
            Err(e @ DeliveryError::Retryable { .. }) => assert_no_secret(&platform, &e),
            other => panic!("{}: a 503 must be retryable: {other:?}", platform.name()),
        }
        assert_eq!(platform.delivered(), 0, "{}", platform.name());
        platform.come_back();
        assert_eq!(ch.deliver(&a).await, Ok(()), "{}", platform.name());
        assert_eq!(platform.delivered(), 1, "{}", platform.name());
    }
}

#[actix::test]
async fn contract_retry_after_is_handed_to_the_queue() {
    for platform in Platform::all() {
        let mut ch = platform.channel(false);
        platform.rate_limit(7);
        match ch.deliver(&alert()).await {
            Err(DeliveryError::Retryable {
                retry_after: Some(d),
                ..
            }) => assert_eq!(d, Duration::from_secs(7), "{}", platform.name()),
            other => panic!(
                "{}: a 429 with Retry-After: 7 must be retried after 7 s: {other:?}",
                platform.name()
            ),
        }
        assert_eq!(platform.delivered(), 0, "{}", platform.name());
    }
}

#[actix::test]
async fn contract_unreachable_platform_is_retryable_and_its_reason_keeps_secrets() {
    for platform in Platform::all() {
        let mut ch = platform.channel(true);
        match ch.deliver(&alert()).await {
            Err(e @ DeliveryError::Retryable { .. }) => assert_no_secret(&platform, &e),
            other => panic!(
                "{}: a closed port must be retryable: {other:?}",
                platform.name()
            ),
        }
    }
}
