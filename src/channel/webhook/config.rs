//! The `webhook` channel's configuration: turns its `[channels.<name>]` table (the keys beyond
//! the generic `type`, `min_severity` and retry keys) into a validated [`WebhookSpec`], purely:
//! every problem is reported with its key path.

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::Secret;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "webhook",
    keys: &["url", "secret_env"],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
    follow_ups: true,
    acks: false,
    grouped: true,
};

/// POSTs the JSON payload to a URL.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookSpec {
    /// Where to POST.
    pub url: String,
    /// Name of the environment variable that holds the signing secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// The signing secret, read from `secret_env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

/// Reads the kind-specific keys of a `webhook` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, env: &Env<'_>) -> Option<WebhookSpec> {
    let url = t
        .req_str("url", "an absolute http(s) URL")
        .and_then(|u| check_url(t, "url", &u));
    let (secret_env, secret) = match t.str("secret_env") {
        None => (None, None),
        Some(var) => {
            let var = var.trim().to_owned();
            match secret_from_env(t, "secret_env", &var, env) {
                Some(secret) => (Some(var), Some(secret)),
                None => return None,
            }
        }
    };
    Some(WebhookSpec {
        url: url?,
        secret_env,
        secret,
    })
}
