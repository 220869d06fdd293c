//! The channel contract, one suite over every fake notification platform (webhook receiver,
//! LINE, Discord, Twilio, Telegram, Slack, PagerDuty, Alertmanager, an OpenAI-compatible model
//! for LLM triage): what every HTTP channel promises through the one delivery skeleton
//! (`channel::http`) and the generic delivery queue. Each platform is one [`Platform`]
//! implementation and one line in [`all`]; every case runs over each.
//!
//! - **Outage**: a platform that answers 5xx leaves the alert retryable; once it is back, the
//!   same alert is delivered, once.
//! - **Order**: alerts queued during an outage are delivered after it, each once, in the
//!   Router's order (firing and resolved of three series), through a whole monitor.
//! - **Retry-After**: a rate-limit answer's wait is handed to the delivery queue.
//! - **Restart**: deliveries still pending when a monitor with a file store stops go out once,
//!   in order, when it starts again; the store holds no secret.
//! - **Secrets**: a transport failure is retryable and its reason quotes no secret; nothing
//!   the channel or its queue logs (outage, rate limit, unreachable, success) quotes one; the
//!   channel's `Debug` and its settings (`Debug` and serialized) show none.
//!
//! Alertmanager takes the outage and secrets cases: it sends no `Retry-After`, and its posts
//! are a state sync (every active alert re-sent), not one message per alert in a queue. LLM
//! triage takes outage, Retry-After and secrets; it is best effort, so an unreachable model
//! is logged and given up (its answer goes to the Router, not to people: no queue cases).

use std::path::Path;
use std::time::Duration;

use exwatch::Monitor;
use exwatch::channel::{
    AlertmanagerChannel, AlertmanagerSpec, Channel, ChannelKind, ChannelSettings, DeliveryError,
    DiscordChannel, DiscordSpec, LineChannel, LineSpec, LlmTriageSpec, SmsChannel, SmsSpec,
    WebhookChannel, WebhookSpec,
};
use exwatch::channel::{
    PagerDutyChannel, PagerDutySpec, SlackChannel, SlackSpec, TelegramChannel, TelegramSpec,
};
use exwatch::client::build_client;
use exwatch::messages::{Alert, AlertKind, Metric, Name, Severity, Stats, Timestamp, Triage};
use exwatch::settings::{Secret, Settings};
use exwatch::triage::{LlmTriageSettings, TriageClient};

use crate::collect::Collected;
use crate::common::{WAIT, deliveries, fire, resolve, retry, t0};
use crate::support::fake_alertmanager::{AmMode, FakeAlertmanager};
use crate::support::fake_discord::{DiscordMode, FakeDiscord};
use crate::support::fake_line::{FakeLine, LineMode};
use crate::support::fake_openai::{FakeOpenAi, ModelMode};
use crate::support::fake_pagerduty::{FakePagerDuty, PagerDutyMode, ROUTING_KEY};
use crate::support::fake_sink::{FakeSink, SinkMode};
use crate::support::fake_slack::{FakeSlack, SLACK_TOKEN, SlackMode};
use crate::support::fake_telegram::{BOT_TOKEN, FakeTelegram, TelegramMode};
use crate::support::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, TwilioMode};

const LINE_TOKEN: &str = "contract-line-token-SECRET";
const LINE_TO: &str = "U0123456789abcdef0123456789abcdef";
const DISCORD_TOKEN: &str = "contract-discord-token-SECRET";
const WEBHOOK_SECRET: &str = "contract-webhook-signing-SECRET";
const SMS_TO: &str = "+66800000001";
const SMS_FROM: &str = "+15005550006";
const OPENAI_KEY: &str = "sk-contract-openai-key-SECRET";
const TELEGRAM_CHAT: &str = "-1001234567890";
const AM_PASSWORD: &str = "contract-alertmanager-password-SECRET";

/// A channel whose `Debug` the secrets cases read.
trait Inspectable: Channel + std::fmt::Debug {}

impl<C: Channel + std::fmt::Debug> Inspectable for C {}

/// One fake platform and how to drive it: adding a platform to the suite is one
/// implementation of this trait and one line in [`all`].
trait Platform {
    /// The channel kind's name, for messages.
    fn name(&self) -> &'static str;
    /// The secrets of this platform's channel: none may appear in a reason.
    fn secrets(&self) -> Vec<&'static str>;
    /// The channel, delivering to the fake (or, with `unreachable`, to a closed port with
    /// the same secrets in its URL or headers).
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable>;
    /// The channel's configuration, delivering to the fake (for a whole monitor).
    fn kind(&self) -> ChannelKind;
    /// The platform is down: it answers 5xx.
    fn go_down(&self);
    /// The platform is back.
    fn come_back(&self);
    /// The platform rate-limits with `Retry-After: secs`.
    fn rate_limit(&self, secs: u64);
    /// The text of each message the platform accepted, in the order it accepted them.
    fn delivered(&self) -> Vec<String>;
    /// The text of every request the platform received, refused ones included.
    fn attempts(&self) -> Vec<String>;
    /// Whether the platform answers rate limits with `Retry-After` (the Retry-After case).
    fn rate_limits(&self) -> bool {
        true
    }
    /// Whether a platform that cannot be reached leaves the alert retryable; LLM triage is
    /// best effort (the alert went out already): it logs the failure and gives up.
    fn retries_when_unreachable(&self) -> bool {
        true
    }
    /// Whether each alert is one message, queued in order (the order and restart cases);
    /// Alertmanager's is a state sync instead (every active alert re-sent on each post).
    fn one_message_per_alert(&self) -> bool {
        true
    }
    /// The alert id a message's text carries, when the platform's format has one.
    fn alert_id(&self, text: &str) -> Option<String> {
        let _ = text;
        None
    }
}

/// Every fake platform, one line each.
fn all() -> Vec<Box<dyn Platform>> {
    vec![
        Box::new(FakeSink::start()),
        Box::new(FakeLine::start(LINE_TOKEN)),
        Box::new(FakeDiscord::start(DISCORD_TOKEN)),
        Box::new(FakeTwilio::start()),
        Box::new(FakeTelegram::start()),
        Box::new(FakeSlack::start()),
        Box::new(FakePagerDuty::start()),
        Box::new(FakeAlertmanager::start()),
        Box::new(FakeOpenAi::start(OPENAI_KEY)),
    ]
}

const DEAD: &str = "http://127.0.0.1:1";

fn client() -> awc::Client {
    build_client(2, Duration::from_secs(2))
}

impl Platform for FakeSink {
    fn name(&self) -> &'static str {
        "webhook"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![WEBHOOK_SECRET]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let url = if unreachable {
            format!("http://desk:{WEBHOOK_SECRET}@127.0.0.1:1/hook")
        } else {
            self.url()
        };
        let secret = Some(Secret::new(WEBHOOK_SECRET));
        Box::new(WebhookChannel::new(client(), url, secret))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook(WebhookSpec {
            url: self.url(),
            secret_env: Some("EXWATCH_TEST_WEBHOOK_SECRET".into()),
            secret: Some(Secret::new(WEBHOOK_SECRET)),
        })
    }
    fn go_down(&self) {
        self.set_mode(SinkMode::Status(503));
    }
    fn come_back(&self) {
        self.set_mode(SinkMode::Accept);
    }
    fn rate_limit(&self, secs: u64) {
        self.set_mode(SinkMode::RateLimited {
            retry_after_secs: secs,
        });
    }
    fn delivered(&self) -> Vec<String> {
        self.received().iter().map(|v| v.to_string()).collect()
    }
    fn attempts(&self) -> Vec<String> {
        (FakeSink::attempts(self).iter())
            .map(|a| a.json().to_string())
            .collect()
    }
    fn alert_id(&self, text: &str) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        v["id"].as_str().map(str::to_owned)
    }
}

impl Platform for FakeLine {
    fn name(&self) -> &'static str {
        "line"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![LINE_TOKEN]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let base = if unreachable {
            DEAD.to_owned()
        } else {
            self.api_base()
        };
        let (name, token) = (Name::from("contract"), Secret::new(LINE_TOKEN));
        Box::new(LineChannel::new(
            client(),
            name,
            &base,
            LINE_TO.into(),
            token,
        ))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Line(LineSpec {
            to: LINE_TO.into(),
            token_env: "EXWATCH_TEST_LINE_TOKEN".into(),
            token: Secret::new(LINE_TOKEN),
            api_base: self.api_base(),
        })
    }
    fn go_down(&self) {
        self.set_mode(LineMode::ServerError(503));
    }
    fn come_back(&self) {
        self.set_mode(LineMode::Accept);
    }
    fn rate_limit(&self, secs: u64) {
        self.set_mode(LineMode::RateLimited {
            retry_after_secs: Some(secs),
        });
    }
    fn delivered(&self) -> Vec<String> {
        self.pushes().iter().map(|p| p.text()).collect()
    }
    fn attempts(&self) -> Vec<String> {
        FakeLine::attempts(self).iter().map(|p| p.text()).collect()
    }
    fn alert_id(&self, text: &str) -> Option<String> {
        let id = text.lines().last()?.strip_prefix("id ")?;
        Some(id.to_owned())
    }
}

impl Platform for FakeDiscord {
    fn name(&self) -> &'static str {
        "discord"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![DISCORD_TOKEN]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let url = if unreachable {
            format!("{DEAD}/api/webhooks/1/{DISCORD_TOKEN}")
        } else {
            self.webhook_url()
        };
        Box::new(DiscordChannel::new(client(), &Secret::new(url)))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Discord(DiscordSpec {
            webhook_url_env: "EXWATCH_TEST_DISCORD_URL".into(),
            webhook_url: Secret::new(self.webhook_url()),
        })
    }
    fn go_down(&self) {
        self.set_mode(DiscordMode::Status(503));
    }
    fn come_back(&self) {
        self.set_mode(DiscordMode::Accept);
    }
    fn rate_limit(&self, secs: u64) {
        self.set_mode(DiscordMode::RateLimited {
            retry_after: secs as f64,
            header_secs: Some(secs as f64),
            global: false,
        });
    }
    fn delivered(&self) -> Vec<String> {
        (FakeDiscord::delivered(self).iter())
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect()
    }
    fn attempts(&self) -> Vec<String> {
        (FakeDiscord::attempts(self).iter())
            .map(|m| String::from_utf8_lossy(&m.body).into_owned())
            .collect()
    }
    fn alert_id(&self, text: &str) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        let fields = v["embeds"][0]["fields"].as_array()?;
        let field = fields.iter().find(|f| f["name"] == "Alert")?;
        Some(field["value"].as_str()?.trim_matches('`').to_owned())
    }
}

impl Platform for FakeTwilio {
    fn name(&self) -> &'static str {
        "sms"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![ACCOUNT_SID, AUTH_TOKEN]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let base = if unreachable {
            DEAD.to_owned()
        } else {
            self.api_base()
        };
        Box::new(SmsChannel::new(
            client(),
            base,
            Secret::new(ACCOUNT_SID),
            Secret::new(AUTH_TOKEN),
            SMS_FROM.into(),
            vec![SMS_TO.into()],
        ))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms(SmsSpec {
            account_sid_env: "TWILIO_ACCOUNT_SID".into(),
            account_sid: Secret::new(ACCOUNT_SID),
            auth_token_env: "TWILIO_AUTH_TOKEN".into(),
            auth_token: Secret::new(AUTH_TOKEN),
            from: SMS_FROM.into(),
            to: vec![SMS_TO.into()],
            api_base: self.api_base(),
        })
    }
    fn go_down(&self) {
        self.set_mode(TwilioMode::ServerError);
    }
    fn come_back(&self) {
        self.set_mode(TwilioMode::Accept);
    }
    fn rate_limit(&self, secs: u64) {
        self.set_mode(TwilioMode::RateLimited {
            retry_after_secs: Some(secs),
        });
    }
    fn delivered(&self) -> Vec<String> {
        (self.accepted().iter())
            .map(|r| r.field("Body").unwrap_or_default().to_owned())
            .collect()
    }
    fn attempts(&self) -> Vec<String> {
        (self.requests().iter())
            .map(|r| r.field("Body").unwrap_or_default().to_owned())
            .collect()
    }
}

impl Platform for FakeTelegram {
    fn name(&self) -> &'static str {
        "telegram"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![BOT_TOKEN]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let base = if unreachable {
            DEAD.to_owned()
        } else {
            self.api_base()
        };
        let chats = vec![TELEGRAM_CHAT.to_owned()];
        Box::new(TelegramChannel::new(
            client(),
            &base,
            Secret::new(BOT_TOKEN),
            chats,
        ))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Telegram(TelegramSpec {
            bot_token_env: "EXWATCH_TEST_TELEGRAM_TOKEN".into(),
            bot_token: Secret::new(BOT_TOKEN),
            chat_id: vec![TELEGRAM_CHAT.to_owned()],
            api_base: self.api_base(),
        })
    }
    fn go_down(&self) {
        self.set_mode(TelegramMode::ServerError);
    }
    fn come_back(&self) {
        self.set_mode(TelegramMode::Accept);
    }
    fn rate_limit(&self, secs: u64) {
        self.set_mode(TelegramMode::RateLimited { retry_after: secs });
    }
    fn delivered(&self) -> Vec<String> {
        (self.accepted().iter())
            .map(|r| r.text().to_owned())
            .collect()
    }
    fn attempts(&self) -> Vec<String> {
        (self.requests().iter())
            .map(|r| r.text().to_owned())
            .collect()
    }
}

impl Platform for FakeSlack {
    fn name(&self) -> &'static str {
        "slack"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![SLACK_TOKEN]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let url = if unreachable {
            format!("{DEAD}/services/T000/B000/{SLACK_TOKEN}")
        } else {
            self.webhook_url()
        };
        Box::new(SlackChannel::new(client(), &Secret::new(url)))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack(SlackSpec {
            webhook_url_env: "EXWATCH_TEST_SLACK_URL".into(),
            webhook_url: Secret::new(self.webhook_url()),
        })
    }
    fn go_down(&self) {
        self.set_mode(SlackMode::ServerError);
    }
    fn come_back(&self) {
        self.set_mode(SlackMode::Accept);
    }
    fn rate_limit(&self, secs: u64) {
        self.set_mode(SlackMode::RateLimited {
            retry_after_secs: secs,
        });
    }
    fn delivered(&self) -> Vec<String> {
        (FakeSlack::delivered(self).iter())
            .map(|v| v.to_string())
            .collect()
    }
    fn attempts(&self) -> Vec<String> {
        (self.requests().iter())
            .map(|r| r.body.to_string())
            .collect()
    }
}

/// A PagerDuty event as text: its action in the words of an alert's kind (`resolve` is a
/// resolved alert), then the event.
fn pagerduty_text(event: &serde_json::Value) -> String {
    let action = match event["event_action"].as_str() {
        Some("resolve") => "resolved",
        Some(other) => other,
        None => "none",
    };
    format!("{action} {event}")
}

impl Platform for FakePagerDuty {
    fn name(&self) -> &'static str {
        "pagerduty"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![ROUTING_KEY]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let base = if unreachable {
            DEAD.to_owned()
        } else {
            self.api_base()
        };
        Box::new(PagerDutyChannel::new(
            client(),
            &base,
            Secret::new(ROUTING_KEY),
        ))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Pagerduty(PagerDutySpec {
            routing_key_env: "EXWATCH_TEST_PAGERDUTY_KEY".into(),
            routing_key: Secret::new(ROUTING_KEY),
            api_base: self.api_base(),
        })
    }
    fn go_down(&self) {
        self.set_mode(PagerDutyMode::ServerError);
    }
    fn come_back(&self) {
        self.set_mode(PagerDutyMode::Accept);
    }
    fn rate_limit(&self, secs: u64) {
        self.set_mode(PagerDutyMode::RateLimited {
            retry_after_secs: Some(secs),
        });
    }
    fn delivered(&self) -> Vec<String> {
        self.accepted().iter().map(pagerduty_text).collect()
    }
    fn attempts(&self) -> Vec<String> {
        (self.requests().iter())
            .map(|r| pagerduty_text(&r.body))
            .collect()
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

fn assert_no_secret(platform: &dyn Platform, e: &DeliveryError) {
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
    for platform in all() {
        let mut ch = platform.channel(false);
        let a = alert();
        platform.go_down();
        match ch.deliver(&a).await {
            Err(e @ DeliveryError::Retryable { .. }) => assert_no_secret(&*platform, &e),
            other => panic!("{}: a 503 must be retryable: {other:?}", platform.name()),
        }
        assert_eq!(platform.delivered().len(), 0, "{}", platform.name());
        platform.come_back();
        assert_eq!(ch.deliver(&a).await, Ok(()), "{}", platform.name());
        assert_eq!(platform.delivered().len(), 1, "{}", platform.name());
    }
}

#[actix::test]
async fn contract_retry_after_is_handed_to_the_queue() {
    for platform in all().into_iter().filter(|p| p.rate_limits()) {
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
        assert_eq!(platform.delivered().len(), 0, "{}", platform.name());
    }
}

#[actix::test]
async fn contract_debug_and_settings_show_no_secret() {
    for platform in all() {
        let ch = platform.channel(false);
        assert_no_secret_in(&*platform, "channel's Debug", format!("{ch:?}").as_bytes());
        let settings = settings_of(&*platform, None, Duration::from_secs(1));
        assert_no_secret_in(
            &*platform,
            "settings' Debug",
            format!("{settings:?}").as_bytes(),
        );
        let json = serde_json::to_string(&settings).expect("settings serialize");
        assert_no_secret_in(&*platform, "serialized settings", json.as_bytes());
    }
}

#[actix::test]
async fn contract_unreachable_platform_is_retryable_and_its_reason_keeps_secrets() {
    for platform in all() {
        let mut ch = platform.channel(true);
        match ch.deliver(&alert()).await {
            Err(e @ DeliveryError::Retryable { .. }) => assert_no_secret(&*platform, &e),
            // Best effort: logged (see the logs case), not retried.
            Ok(()) if !platform.retries_when_unreachable() => {}
            other => panic!(
                "{}: a closed port must be retryable: {other:?}",
                platform.name()
            ),
        }
    }
}

impl Platform for FakeAlertmanager {
    fn name(&self) -> &'static str {
        "alertmanager"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![AM_PASSWORD]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let base = if unreachable {
            DEAD.to_owned()
        } else {
            self.url()
        };
        let url = base.replacen("http://", &format!("http://exwatch:{AM_PASSWORD}@"), 1);
        let resend = Duration::from_secs(60);
        Box::new(AlertmanagerChannel::new(
            client(),
            vec![url],
            resend,
            Duration::from_secs(2),
        ))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::Alertmanager(AlertmanagerSpec {
            urls: vec![self.url()],
            resend_interval: Duration::from_secs(60),
        })
    }
    fn go_down(&self) {
        self.set_mode(AmMode::ServerError);
    }
    fn come_back(&self) {
        self.set_mode(AmMode::Accept);
    }
    fn rate_limit(&self, _secs: u64) {}
    fn rate_limits(&self) -> bool {
        false
    }
    fn one_message_per_alert(&self) -> bool {
        false
    }
    fn delivered(&self) -> Vec<String> {
        (self.accepted_posts().iter())
            .map(|p| p.body.to_string())
            .collect()
    }
    fn attempts(&self) -> Vec<String> {
        self.posts().iter().map(|p| p.body.to_string()).collect()
    }
}

/// Where the triage client's follow-ups go in this suite: nowhere (its answers are the
/// triage tests' concern, `llm_triage.rs`).
struct Discard;

impl actix::Actor for Discard {
    type Context = actix::Context<Self>;
}

impl actix::Handler<Triage> for Discard {
    type Result = ();

    fn handle(&mut self, _: Triage, _: &mut actix::Context<Self>) {}
}

impl Platform for FakeOpenAi {
    fn name(&self) -> &'static str {
        "llm_triage"
    }
    fn secrets(&self) -> Vec<&'static str> {
        vec![OPENAI_KEY]
    }
    fn channel(&self, unreachable: bool) -> Box<dyn Inspectable> {
        let base_url = if unreachable {
            DEAD.to_owned()
        } else {
            self.base_url()
        };
        let settings = LlmTriageSettings {
            base_url,
            model: "gpt-4o-mini".to_owned(),
            api_key: Secret::new(OPENAI_KEY),
            language: "en".to_owned(),
            calls_per_hour: 100,
            max_tokens_field: "max_completion_tokens".to_owned(),
            timeout: Duration::from_secs(2),
        };
        let router = actix::Actor::start(Discard).recipient();
        let name = Name::from("triage");
        Box::new(TriageClient::new(name, client(), settings, router))
    }
    fn kind(&self) -> ChannelKind {
        ChannelKind::LlmTriage(LlmTriageSpec {
            base_url: self.base_url(),
            model: "gpt-4o-mini".to_owned(),
            api_key_env: "EXWATCH_TEST_OPENAI_KEY".to_owned(),
            api_key: Secret::new(OPENAI_KEY),
            language: "en".to_owned(),
            calls_per_hour: 100,
            max_tokens_field: "max_completion_tokens".to_owned(),
        })
    }
    fn go_down(&self) {
        self.set_mode(ModelMode::ServerError);
    }
    fn come_back(&self) {
        self.set_mode(ModelMode::Answer);
    }
    fn rate_limit(&self, secs: u64) {
        self.set_mode(ModelMode::RateLimited {
            retry_after_secs: secs,
            retry_after_ms: None,
        });
    }
    fn retries_when_unreachable(&self) -> bool {
        false
    }
    fn one_message_per_alert(&self) -> bool {
        // Its answer goes to the Router, not to people: the queue cases are the human
        // channels'.
        false
    }
    fn delivered(&self) -> Vec<String> {
        (self.requests().iter())
            .filter(|r| r.status == 200)
            .map(|r| r.body.to_string())
            .collect()
    }
    fn attempts(&self) -> Vec<String> {
        self.requests().iter().map(|r| r.body.to_string()).collect()
    }
}

/// A monitor with one channel, `desk`, of `platform`, that also hands the Router's alerts,
/// in its order, to `recorded`.
fn monitor_of(platform: &dyn Platform, recorded: &Collected<Alert>) -> exwatch::MonitorHandle {
    Monitor::builder(settings_of(platform, None, Duration::from_secs(3)))
        .alert_recipient("order", Severity::Info, recorded.recipient())
        .start()
        .expect("monitor starts")
}

/// One channel, `desk`, of `platform`; the event store in `store` (in memory without one).
fn settings_of(platform: &dyn Platform, store: Option<&Path>, grace: Duration) -> Settings {
    let mut settings = Settings {
        channels: vec![ChannelSettings {
            name: Name::from("desk"),
            min_severity: Severity::Info,
            retry: retry(100),
            kind: platform.kind(),
        }],
        ..crate::support::test_settings()
    };
    settings.shutdown.grace = grace;
    if let Some(path) = store {
        settings.store.path = path.to_string_lossy().into_owned();
    }
    settings
}

/// Every byte of the store's files (the database, its WAL and shared memory).
fn store_bytes(db: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        bytes.extend(std::fs::read(&path).unwrap_or_default());
    }
    bytes
}

fn assert_no_secret_in(platform: &dyn Platform, what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    for secret in platform.secrets() {
        assert!(
            !text.contains(secret),
            "{}: a secret in the {what}",
            platform.name()
        );
    }
}

#[actix::test]
async fn contract_restart_resumes_pending_deliveries_once_and_stores_no_secret() {
    for platform in all().into_iter().filter(|p| p.one_message_per_alert()) {
        let name = platform.name();
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("exwatch.db");
        platform.go_down();

        // First run: the platform is down; the shutdown grace runs out with both pending.
        let settings = settings_of(&*platform, Some(&db), Duration::from_millis(300));
        let mut recorded = Collected::<Alert>::start();
        let monitor = Monitor::builder(settings)
            .alert_recipient("order", Severity::Info, recorded.recipient())
            .start()
            .expect("monitor starts");
        fire(&monitor, "okx", 0);
        fire(&monitor, "bybit", 1);
        monitor.drain().await;
        let sent = recorded.drain().await;
        assert_eq!(sent.len(), 2, "{name}");
        actix_rt::time::sleep(Duration::from_millis(200)).await;
        assert!(!monitor.stop().await, "{name}: nothing could be delivered");
        assert!(platform.delivered().is_empty(), "{name}");
        assert_no_secret_in(&*platform, "event store", &store_bytes(&db));

        // Second run: the platform is back; each pending alert goes out once, in order.
        platform.come_back();
        let settings = settings_of(&*platform, Some(&db), Duration::from_secs(3));
        let monitor = Monitor::start(settings).expect("monitor restarts");
        until(name, "2 delivered", || platform.delivered().len() >= 2).await;
        actix_rt::time::sleep(Duration::from_millis(300)).await;
        assert!(monitor.stop().await, "{name}");
        let got = platform.delivered();
        assert_eq!(got.len(), 2, "{name}: each pending alert once: {got:?}");
        for (a, text) in sent.iter().zip(&got) {
            assert!(
                text.contains(&*a.exchange),
                "{name}: in the Router's order: {got:?}"
            );
        }
        assert_no_secret_in(&*platform, "event store", &store_bytes(&db));
    }
}

/// The tracing output of the test's thread.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<parking_lot::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix::test]
async fn contract_secrets_never_reach_the_logs() {
    let logs = LogBuf::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    for platform in all() {
        let before = logs.0.lock().len();
        for unreachable in [false, true] {
            let mut ch = platform.channel(unreachable);
            // What the channel logs itself, and its reasons as the delivery queue logs them.
            let attempt = async |ch: &mut Box<dyn Inspectable>| match ch.deliver(&alert()).await {
                Ok(()) => tracing::info!("delivered"),
                Err(e) => tracing::warn!(error = %e, detail = ?e, "delivery failed"),
            };
            platform.go_down();
            attempt(&mut ch).await;
            platform.rate_limit(1);
            attempt(&mut ch).await;
            platform.come_back();
            attempt(&mut ch).await;
        }
        let bytes = logs.0.lock()[before..].to_vec();
        assert!(!bytes.is_empty(), "{}: nothing logged", platform.name());
        assert_no_secret_in(&*platform, "logs", &bytes);
    }
}

#[actix::test]
async fn contract_outage_keeps_order_and_delivers_each_alert_once() {
    for platform in all().into_iter().filter(|p| p.one_message_per_alert()) {
        let name = platform.name();
        platform.go_down();
        let mut recorded = Collected::<Alert>::start();
        let monitor = monitor_of(&*platform, &recorded);
        let metrics = monitor.metrics().clone();
        let exchanges = ["binance", "bybit", "okx"];
        for (k, ex) in exchanges.iter().enumerate() {
            fire(&monitor, ex, k as i64);
        }
        for (k, ex) in exchanges.iter().enumerate() {
            resolve(&monitor, ex, 10 + 10 * k as i64);
        }
        monitor.drain().await;
        let sent = recorded.drain().await;
        assert_eq!(sent.len(), 6, "{name}: three firing, three resolved");
        until(name, "4 attempts", || platform.attempts().len() >= 4).await;
        actix_rt::time::sleep(Duration::from_millis(300)).await;
        assert!(
            platform.delivered().is_empty(),
            "{name}: delivered while down"
        );
        let attempts = platform.attempts();
        let head = |t: &String| platform.alert_id(t).unwrap_or_else(|| t.clone());
        assert!(
            attempts.iter().all(|a| head(a) == head(&attempts[0])),
            "{name}: nothing overtakes the head of the queue"
        );
        assert_eq!(pending(&metrics), 6.0, "{name}");

        platform.come_back();
        until(name, "6 delivered", || platform.delivered().len() >= 6).await;
        assert!(monitor.stop().await, "{name}");
        let got = platform.delivered();
        assert_eq!(got.len(), 6, "{name}: every alert exactly once: {got:?}");
        let ids: Vec<Option<String>> = got.iter().map(|t| platform.alert_id(t)).collect();
        if ids.iter().all(Option::is_some) {
            let sent_ids: Vec<Option<String>> =
                sent.iter().map(|a| Some(a.id.to_string())).collect();
            assert_eq!(
                ids, sent_ids,
                "{name}: every alert exactly once, in the Router's order"
            );
        }
        for (a, text) in sent.iter().zip(&got) {
            assert!(
                text.contains(&*a.exchange),
                "{name}: out of the Router's order: {} expected, got {text}",
                a.exchange
            );
            let resolved = text.to_lowercase().contains("resolved");
            assert_eq!(
                resolved,
                a.kind == AlertKind::Resolved,
                "{name}: {:?} expected, got {text}",
                a.kind
            );
        }
        assert_eq!(deliveries(&metrics, "desk", "ok"), 6.0, "{name}");
        assert_eq!(deliveries(&metrics, "desk", "failed"), 0.0, "{name}");
        assert_eq!(pending(&metrics), 0.0, "{name}");
    }
}

/// `exwatch_deliveries_pending{channel="desk"}`.
fn pending(metrics: &exwatch::metrics::Metrics) -> f64 {
    metrics
        .value("exwatch_deliveries_pending", &[("channel", "desk")])
        .unwrap_or(f64::NAN)
}

async fn until(platform: &str, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{platform}: timed out waiting for {what}"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}
