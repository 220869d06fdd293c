//! The `sms` channel's configuration: turns its `[channels.<name>]` table (the keys beyond
//! the generic `type`, `min_severity` and retry keys) into a validated [`SmsSpec`], purely:
//! every problem is reported with its key path.

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::Secret;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "sms",
    keys: &[
        "account_sid_env",
        "auth_token_env",
        "from",
        "to",
        "api_base",
    ],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
};

/// The Twilio API base URL.
const DEFAULT_TWILIO_API_BASE: &str = "https://api.twilio.com";

/// Sends an SMS per recipient through a Twilio-compatible Messages API.
#[derive(Debug, Clone, Serialize)]
pub struct SmsSpec {
    /// Name of the environment variable that holds the Account SID.
    pub account_sid_env: String,
    /// The Account SID (part of the request path and of the Basic credentials).
    pub account_sid: Secret,
    /// Name of the environment variable that holds the Auth Token.
    pub auth_token_env: String,
    /// The Auth Token.
    pub auth_token: Secret,
    /// The sender: an E.164 number, short code or alphanumeric sender ID.
    pub from: String,
    /// The recipients, E.164 numbers (`+` and digits).
    pub to: Vec<String>,
    /// The API base URL, `https://api.twilio.com` by default.
    pub api_base: String,
}

/// Reads the kind-specific keys of a `sms` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, env: &Env<'_>) -> Option<SmsSpec> {
    let sid = required_secret(t, "account_sid_env", env);
    let token = required_secret(t, "auth_token_env", env);
    let from = t
        .req_str(
            "from",
            "the sender: an E.164 number such as \"+15005550006\", a short code or an alphanumeric sender ID",
        )
        .map(|f| f.trim().to_owned())
        .filter(|from| {
            let ok = if from.starts_with('+') {
                is_e164(from)
            } else {
                // A short code (digits) or an alphanumeric sender ID (at most 11 characters).
                !from.is_empty()
                    && from.len() <= 11
                    && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
            };
            if !ok {
                t.problem(
                    "from",
                    format!(
                        "{from:?} is not a sender; expected an E.164 number (+ and 7 to 15 digits), a short code or an alphanumeric sender ID of at most 11 characters"
                    ),
                );
            }
            ok
        });
    let to = required_list(
        t,
        "to",
        "a list of E.164 phone numbers such as [\"+66800000000\"]",
    )
    .and_then(|to| {
        let mut ok = true;
        for (i, number) in to.iter().enumerate() {
            if !is_e164(number) {
                t.problem(
                    &item_key("to", i),
                    format!("{number:?} is not an E.164 number; expected + and 7 to 15 digits"),
                );
                ok = false;
            } else if to[..i].contains(number) {
                t.problem(&item_key("to", i), format!("{number} is listed twice"));
                ok = false;
            }
        }
        ok.then_some(to)
    });
    let api_base = match t.str("api_base") {
        None => Some(DEFAULT_TWILIO_API_BASE.to_owned()),
        Some(u) => check_url(t, "api_base", &u).map(|u| u.trim_end_matches('/').to_owned()),
    };
    let ((account_sid_env, account_sid), (auth_token_env, auth_token)) = (sid?, token?);
    Some(SmsSpec {
        account_sid_env,
        account_sid,
        auth_token_env,
        auth_token,
        from: from?,
        to: to?,
        api_base: api_base?,
    })
}
