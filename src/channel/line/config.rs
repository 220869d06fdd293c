//! The `line` channel's configuration: turns its `[channels.<name>]` table (the keys beyond
//! the generic `type`, `min_severity` and retry keys) into a validated [`LineSpec`], purely:
//! every problem is reported with its key path.

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::Secret;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "line",
    keys: &["to", "token_env", "api_base"],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
};

/// Pushes a text message through the LINE Messaging API.
#[derive(Debug, Clone, Serialize)]
pub struct LineSpec {
    /// The user, group or room id pushed to (`U…`, `C…`, `R…`).
    pub to: String,
    /// Name of the environment variable that holds the channel access token.
    pub token_env: String,
    /// The channel access token, read from `token_env`.
    pub token: Secret,
    /// The API's origin, `https://api.line.me` by default.
    pub api_base: String,
}

/// Reads the kind-specific keys of a `line` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, env: &Env<'_>) -> Option<LineSpec> {
    let to = t
        .req_str("to", "a LINE user, group or room id (U…, C… or R…)")
        .map(|to| to.trim().to_owned())
        .and_then(|to| {
            if is_line_id(&to) {
                Some(to)
            } else {
                t.problem(
                    "to",
                    format!(
                        "{to:?} is not a LINE user, group or room id; expected an id such as U4af4980629… (no spaces)"
                    ),
                );
                None
            }
        });
    let token = required_secret(t, "token_env", env);
    let api_base = match t.str("api_base") {
        None => Some(super::DEFAULT_API_BASE.to_owned()),
        Some(base) => check_url(t, "api_base", &base).map(|b| b.trim_end_matches('/').to_owned()),
    };
    let (token_env, token) = token?;
    Some(LineSpec {
        to: to?,
        token_env,
        token,
        api_base: api_base?,
    })
}

/// A plausible LINE user, group or room id. LINE's own ids are `U`, `C` or `R` and 32 hex
/// digits, but that format is not documented as a contract, so only what can never be an id
/// is refused: empty, too long, whitespace or control characters.
fn is_line_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 100 && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}
