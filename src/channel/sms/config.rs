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
    follow_ups: true,
    acks: false,
    grouped: true,
};

/// The Twilio API base URL.
const DEFAULT_TWILIO_API_BASE: &str = "https://api.twilio.com";

/// Sends an SMS per recipient through a Twilio-compatible Messages API.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::*;

    const SECRET: &str = "s3cr3t-v4lue-never-printed";
    use crate::channel::ChannelKind;
    use crate::error::ConfigError;
    use crate::settings::from_toml_str;

    #[test]
    fn config_sms_channel() {
        let env = |name: &str| match name {
            "TW_SID" => Some("AC0123456789abcdef".to_owned()),
            "TW_TOKEN" => Some(SECRET.to_owned()),
            "TW_EMPTY" => Some(String::new()),
            _ => None,
        };
        let s = from_toml_str(
            &minimal(
                "[channels.oncall]\ntype = \"sms\"\naccount_sid_env = \"TW_SID\"\nauth_token_env = \"TW_TOKEN\"\n\
                 from = \"+15005550006\"\nto = [\"+66800000000\", \"+4915112345678\"]\nmin_severity = \"critical\"\n\
                 [channels.one]\ntype = \"sms\"\naccount_sid_env = \"TW_SID\"\nauth_token_env = \"TW_TOKEN\"\n\
                 from = \"EXWATCH\"\nto = \"+66800000000\"\napi_base = \"http://127.0.0.1:8080/\"\n",
            ),
            &env,
        )
        .expect("valid");
        let ChannelKind::Sms(SmsSpec {
            account_sid,
            auth_token,
            from,
            to,
            api_base,
            ..
        }) = &s.channels[0].kind
        else {
            panic!("an sms channel: {:?}", s.channels[0].kind);
        };
        assert_eq!(account_sid.expose(), "AC0123456789abcdef");
        assert_eq!(auth_token.expose(), SECRET);
        assert_eq!(from, "+15005550006");
        assert_eq!(to, &["+66800000000", "+4915112345678"]);
        assert_eq!(api_base, "https://api.twilio.com");
        let printed = format!(
            "{:?} {}",
            s.channels,
            toml::to_string(&s.channels[0]).unwrap()
        );
        assert!(!printed.contains(SECRET), "{printed}");
        assert!(!printed.contains("AC0123456789abcdef"), "{printed}");
        let ChannelKind::Sms(SmsSpec { to, api_base, .. }) = &s.channels[1].kind else {
            panic!("an sms channel");
        };
        assert_eq!(to, &["+66800000000"]);
        assert_eq!(api_base, "http://127.0.0.1:8080");

        let p = match from_toml_str(
            &minimal(
                "[channels.a]\ntype = \"sms\"\naccount_sid_env = \"TW_MISSING\"\nauth_token_env = \"TW_EMPTY\"\n\
                 from = \"+0123\"\nto = [\"0812345678\", \"+66800000000\", \"+66800000000\"]\napi_base = \"ftp://x\"\n\
                 [channels.b]\ntype = \"sms\"\nto = []\nfrom = \"A sender that is too long\"\n",
            ),
            &env,
        ) {
            Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect::<Vec<_>>(),
            other => panic!("expected problems, got {other:?}"),
        };
        assert_eq!(
            p,
            [
                "channels.a.account_sid_env: environment variable TW_MISSING is not set",
                "channels.a.api_base: unsupported scheme \"ftp\" in \"ftp://x\"; expected http or https",
                "channels.a.auth_token_env: environment variable TW_EMPTY is empty",
                "channels.a.from: \"+0123\" is not a sender; expected an E.164 number (+ and 7 to 15 digits), a short code or an alphanumeric sender ID of at most 11 characters",
                "channels.a.to[0]: \"0812345678\" is not an E.164 number; expected + and 7 to 15 digits",
                "channels.a.to[2]: +66800000000 is listed twice",
                "channels.b.account_sid_env: missing; expected the name of an environment variable",
                "channels.b.auth_token_env: missing; expected the name of an environment variable",
                "channels.b.from: \"A sender that is too long\" is not a sender; expected an E.164 number (+ and 7 to 15 digits), a short code or an alphanumeric sender ID of at most 11 characters",
                "channels.b.to: empty list; expected a list of E.164 phone numbers such as [\"+66800000000\"]",
            ]
        );
    }
}
