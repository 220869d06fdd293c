//! The channel kinds: the one list of them, and the generic walk of `[channels.<name>]`.
//!
//! Each kind is a folder `channel/<kind>/`: `config.rs` turns the kind's own keys into a
//! validated spec (and says, in its `KIND`, its type name, keys and defaults), `mod.rs` holds
//! the runtime and a `make` that builds the channel from that spec. Adding a channel is one
//! new folder and one line in the `kinds!` list below.
//!
//! This module reads the generic keys every channel has (`type`, `min_severity`, the retry
//! keys) with the helpers of `crate::config`, and hands the rest of the table to the kind.

use std::time::Duration;

use serde::Serialize;

use crate::channel::Channel;
use crate::config::RetrySettings;
use crate::config::check::{Env, check_name, retry, severity};
use crate::config::raw::Table;
use crate::messages::{Name, Severity};

/// What the registry knows of one channel kind, besides its spec and make.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    /// The value of `type` (`webhook`).
    pub type_name: &'static str,
    /// The kind's own keys (so that a key of another kind is reported as such, not as a typo).
    pub keys: &'static [&'static str],
    /// `min_severity` when not given.
    pub default_severity: Severity,
    /// `timeout` when not given, when it differs from the retry default.
    pub default_timeout: Option<Duration>,
    /// Alerts go to people: the channel's deliveries are durable (the outbox keeps them
    /// until delivered). False for the `llm_triage` table, which is no channel but the triage stage
    /// (`crate::triage`).
    pub human: bool,
    /// Triage follow-ups (`triage` alerts answering an alert) go to it: the human channels
    /// but PagerDuty, whose incident a follow-up would only re-trigger.
    pub follow_ups: bool,
    /// The platform tracks incidents itself: it is told when one is acknowledged in exwatch
    /// (an [`crate::messages::AlertKind::Acknowledged`] alert). False for every other kind.
    pub acks: bool,
    /// With `[router] group_by`, the channel takes one message per incident (group
    /// messages, [`crate::messages::Alert::group`]) rather than each series' alerts: true for
    /// channels people read (and the generic webhook); false for platforms that group and
    /// dedup by themselves (Alertmanager) and for the triage channel.
    pub grouped: bool,
}

/// Builds a configured channel on the channel arbiter (where its `!Send` HTTP client must be
/// created).
pub type MakeChannel = Box<dyn FnOnce() -> Box<dyn Channel> + Send>;

/// What a kind's `make` gets besides its spec.
pub struct MakeContext<'a> {
    /// The channel's name.
    pub name: &'a Name,
    /// Its delivery retries.
    pub retry: &'a RetrySettings,
}

/// `[channels.<name>]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChannelSettings {
    /// Lowercase `[a-z0-9_-]+`.
    #[serde(skip_serializing)]
    pub name: Name,
    /// Alerts below this severity are not sent here.
    pub min_severity: Severity,
    /// Delivery retries.
    #[serde(flatten)]
    pub retry: RetrySettings,
    /// What the channel is and what it needs.
    #[serde(flatten)]
    pub kind: ChannelKind,
}

/// Declares the kinds: for each, `Variant(Spec) => module`, the module being
/// `crate::channel::<module>` with `config::{KIND, parse}` and `make`. The order is the
/// order in which the types are listed in messages.
macro_rules! kinds {
    ($($variant:ident($spec:ty) => $module:ident),* $(,)?) => {
        /// The channel kinds, each with its validated spec.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        pub enum ChannelKind {
            $(
                #[doc = concat!("A `", stringify!($module), "` channel.")]
                $variant($spec),
            )*
        }

        /// Every kind, in the order they are listed.
        pub const KINDS: &[&KindInfo] = &[$(&crate::channel::$module::config::KIND),*];

        impl ChannelKind {
            /// What the registry knows of this kind.
            pub fn info(&self) -> &'static KindInfo {
                match self {
                    $(ChannelKind::$variant(_) => &crate::channel::$module::config::KIND,)*
                }
            }

            /// The retry policy the channel's actor runs with and the builder of the channel
            /// (the kind's `make`); `None` for a table that is no channel (`llm_triage`: the
            /// triage stage runs it).
            pub fn make(self, cx: &MakeContext<'_>) -> Option<(RetrySettings, MakeChannel)> {
                match self {
                    $(ChannelKind::$variant(spec) => crate::channel::$module::make(spec, cx).into(),)*
                }
            }
        }

        /// The kind-specific keys of a channel of type `ty` (a known one); `None` when a
        /// problem was reported.
        fn parse(ty: &str, t: &mut Table<'_>, env: &Env<'_>) -> Option<ChannelKind> {
            $(
                if ty == crate::channel::$module::config::KIND.type_name {
                    return crate::channel::$module::config::parse(t, env).map(ChannelKind::$variant);
                }
            )*
            None
        }
    };
}

kinds! {
    Log(crate::channel::log::config::LogSpec) => log,
    Webhook(crate::channel::webhook::config::WebhookSpec) => webhook,
    Discord(crate::channel::discord::config::DiscordSpec) => discord,
    Line(crate::channel::line::config::LineSpec) => line,
    Sms(crate::channel::sms::config::SmsSpec) => sms,
    Alertmanager(crate::channel::alertmanager::config::AlertmanagerSpec) => alertmanager,
    LlmTriage(crate::channel::llm_triage::config::LlmTriageSpec) => llm_triage,
    Telegram(crate::channel::telegram::config::TelegramSpec) => telegram,
    Slack(crate::channel::slack::config::SlackSpec) => slack,
    Pagerduty(crate::channel::pagerduty::config::PagerDutySpec) => pagerduty,
}

/// `[channels]`: every channel, each checked by its kind.
pub(crate) fn channels(mut t: Table<'_>, env: &Env<'_>) -> Vec<ChannelSettings> {
    let mut out = Vec::new();
    for (name, c) in t.entries() {
        let name_ok = check_name(&t, &name);
        if let Some(c) = channel(c, &name, env)
            && name_ok
        {
            out.push(c);
        }
    }
    t.finish();
    out
}

fn channel(mut t: Table<'_>, name: &str, env: &Env<'_>) -> Option<ChannelSettings> {
    let all_types = || {
        KINDS
            .iter()
            .map(|k| k.type_name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ty = t.req_str("type", &format!("a channel type ({})", all_types()));
    let Some(ty) = ty.map(|s| s.trim().to_owned()) else {
        t.mark_all();
        return None;
    };
    let Some(info) = KINDS.iter().find(|k| k.type_name == ty) else {
        t.problem(
            "type",
            format!(
                "unknown channel type {ty:?}; expected one of {}",
                all_types()
            ),
        );
        t.mark_all();
        return None;
    };

    let min_severity = severity(&mut t, "min_severity", info.default_severity);
    let mut retry = retry(&mut t);
    if let Some(timeout) = info.default_timeout
        && !t.has("timeout")
    {
        retry.timeout = timeout;
    }
    let kind = parse(&ty, &mut t, env);

    // Keys of other channel types are reported as such, not as typos.
    for key in t.keys() {
        let of_some_kind = KINDS.iter().any(|k| k.keys.contains(&key.as_str()));
        if of_some_kind && !t.is_read(&key) {
            t.problem(&key, format!("not a key of a {ty} channel"));
            t.mark(&key);
        }
    }
    t.finish();
    Some(ChannelSettings {
        name: Name::from(name),
        min_severity,
        retry,
        kind: kind?,
    })
}

#[cfg(test)]
mod tests {
    use crate::settings::testing::*;

    #[test]
    fn config_channel_rules() {
        let p = problems(&minimal(
            "[channels.oncall-sms]\ntype = \"sms\"\nto = \"+66800000000\"\n\
             [channels.x]\ntype = \"webhook\"\nurl = \"https://h.example.com/\"\ntoken_env = \"T\"\nurll = 1\n\
             min_severity = \"urgent\"\nmax_attempts = -1\n\
             [channels.y]\ntype = \"carrier_pigeon\"\n\
             [channels.z]\nmin_severity = \"info\"\n",
        ));
        assert_eq!(
            p,
            [
                "channels.oncall-sms.account_sid_env: missing; expected the name of an environment variable",
                "channels.oncall-sms.auth_token_env: missing; expected the name of an environment variable",
                "channels.oncall-sms.from: missing; expected the sender: an E.164 number such as \"+15005550006\", a short code or an alphanumeric sender ID",
                "channels.x.max_attempts: -1 is out of range; expected a non-negative integer",
                "channels.x.min_severity: unknown severity \"urgent\"; expected info, warning or critical",
                "channels.x.token_env: not a key of a webhook channel",
                "channels.x.urll: unknown key; did you mean `url`?",
                "channels.y.type: unknown channel type \"carrier_pigeon\"; expected one of log, webhook, discord, line, sms, alertmanager, llm_triage, telegram, slack, pagerduty",
                "channels.z.type: missing; expected a channel type (log, webhook, discord, line, sms, alertmanager, llm_triage, telegram, slack, pagerduty)",
            ]
        );
        let p = problems(&minimal(
            "[channels.log]\ntype = \"log\"\nurl = \"https://a.example.com\"\n",
        ));
        assert_eq!(p, ["channels.log.url: not a key of a log channel"]);
    }
}
