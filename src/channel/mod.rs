//! Channels: where alerts go.
//!
//! A channel is one folder, `channel/<kind>/`: `config.rs` turns its `[channels.<name>]`
//! table into a validated spec (purely, every problem with its key path), `mod.rs` implements
//! [`Channel`] — it formats an [`Alert`] for its platform and makes one delivery attempt — and
//! a `start` that builds it from the spec. [`registry`] lists the kinds: adding a channel is
//! one new folder and one line there. Everything else — the queue, ordering, retries with
//! exponential back-off and full jitter, `Retry-After`, bounded attempts, metrics, flushing at
//! shutdown, surviving its own panics — is the generic [`ChannelActor`] in `delivery.rs`. An
//! HTTP channel's attempt goes through the one skeleton in [`http`]: the platform supplies the
//! payload and the judgement of the answer; sending, transport errors, `Retry-After`, the
//! bounded body and redaction are shared. Each channel runs in its own actor, so a slow or dead one delays no other and never the
//! Router. The `llm_triage` table is read here too, but it is no channel: the triage stage
//! (`crate::triage`) runs it.

pub mod alertmanager;
pub mod delivery;
pub mod discord;
pub mod http;
pub mod line;
pub mod llm_triage;
pub mod log;
pub mod pagerduty;
pub mod recipients;
pub mod registry;
pub mod signature;
pub mod slack;
pub mod sms;
pub mod telegram;
pub mod text;
pub mod webhook;

use futures_util::future::LocalBoxFuture;

pub use crate::error::DeliveryError;
use crate::messages::Alert;
pub use alertmanager::AlertmanagerChannel;
pub use delivery::{ChannelActor, Flush, ReplaceChannel, RetireChannel, backoff_delay};
pub use discord::DiscordChannel;
pub use line::LineChannel;
pub use log::LogChannel;
pub use pagerduty::PagerDutyChannel;
pub use registry::{ChannelKind, ChannelSettings};
pub use slack::SlackChannel;
pub use sms::SmsChannel;
pub use telegram::TelegramChannel;
pub use webhook::WebhookChannel;

pub use alertmanager::config::AlertmanagerSpec;
pub use discord::config::DiscordSpec;
pub use line::config::LineSpec;
pub use llm_triage::config::LlmTriageSpec;
pub use log::config::LogSpec;
pub use pagerduty::config::PagerDutySpec;
pub use slack::config::SlackSpec;
pub use sms::config::SmsSpec;
pub use telegram::config::TelegramSpec;
pub use webhook::config::WebhookSpec;

/// One platform's delivery of alerts.
pub trait Channel: Unpin + 'static {
    /// The platform's name for logs (`webhook`, `log`, `discord` …).
    fn kind(&self) -> &'static str;

    /// Makes one attempt to deliver `alert`. The returned future runs on the channel's
    /// arbiter; the [`ChannelActor`] bounds it with the channel's timeout and retries
    /// [`DeliveryError::Retryable`] failures.
    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>>;

    /// Told before delivery of each alert resumed from an earlier run (the event store's
    /// pending deliveries). A platform that keeps state about live alerts (Alertmanager)
    /// treats these as history: no episode of this run will ever resolve them.
    fn resumed(&mut self, alert: &Alert) {
        let _ = alert;
    }

    /// How often [`Channel::heartbeat`] runs; `None` (the default) never.
    fn heartbeat_interval(&self) -> Option<std::time::Duration> {
        None
    }

    /// Periodic work outside the delivery queue, such as re-sending firing alerts to a
    /// platform that expires them (Alertmanager). It may not fail the channel: problems are
    /// logged. The [`ChannelActor`] runs it every [`Channel::heartbeat_interval`], one at a
    /// time, guarded like every other piece of the channel.
    fn heartbeat(&mut self) -> Option<LocalBoxFuture<'static, ()>> {
        None
    }
}

/// A boxed channel is a channel: the configured channels run as `ChannelActor<Box<dyn
/// Channel>>`, so that a reload can replace one by another ([`ReplaceChannel`]).
impl Channel for Box<dyn Channel> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        (**self).deliver(alert)
    }

    fn resumed(&mut self, alert: &Alert) {
        (**self).resumed(alert);
    }

    fn heartbeat_interval(&self) -> Option<std::time::Duration> {
        (**self).heartbeat_interval()
    }

    fn heartbeat(&mut self) -> Option<LocalBoxFuture<'static, ()>> {
        (**self).heartbeat()
    }
}
