//! The `discord` channel's configuration: turns its `[channels.<name>]` table (the keys beyond
//! the generic `type`, `min_severity` and retry keys) into a validated [`DiscordSpec`], purely:
//! every problem is reported with its key path.

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::Secret;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "discord",
    keys: &["webhook_url_env"],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
    follow_ups: true,
    acks: false,
    grouped: true,
};

/// Executes a Discord webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiscordSpec {
    /// Name of the environment variable that holds the webhook URL (it carries the
    /// webhook's token, so it is a secret).
    pub webhook_url_env: String,
    /// The webhook URL, read from `webhook_url_env`.
    pub webhook_url: Secret,
}

/// Reads the kind-specific keys of a `discord` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, env: &Env<'_>) -> Option<DiscordSpec> {
    let (var, url) = required_secret(t, "webhook_url_env", env)?;
    let url = Secret::new(url.expose().trim());
    if let Err(why) = check_secret_url(url.expose()) {
        t.problem(
            "webhook_url_env",
            format!(
                "the value of {var} {why}; expected an absolute http(s) URL such as \
                 https://discord.com/api/webhooks/<id>/<token> (the value is not shown: it holds the webhook's token)"
            ),
        );
        return None;
    }
    Some(DiscordSpec {
        webhook_url_env: var,
        webhook_url: url,
    })
}
