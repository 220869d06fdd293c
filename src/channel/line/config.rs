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
    follow_ups: true,
    acks: false,
    grouped: true,
};

/// Pushes a text message through the LINE Messaging API.
#[derive(Debug, Clone, PartialEq, Serialize)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelKind;
    use crate::channel::DiscordSpec;
    use crate::error::ConfigError;
    use crate::settings::from_toml_str;
    use crate::settings::testing::*;

    const LINE_ID: &str = "U0123456789abcdef0123456789abcdef";
    const LINE_TOKEN: &str = "line-access-token-never-printed";
    const DISCORD_URL: &str =
        "https://discord.com/api/webhooks/1234567890/discord-token-never-printed";

    fn chat_env(name: &str) -> Option<String> {
        match name {
            "LINE_TOKEN" => Some(LINE_TOKEN.to_owned()),
            "DISCORD_URL" => Some(format!(" {DISCORD_URL}\n")),
            "DISCORD_RELATIVE" => {
                Some("discord.com/api/webhooks/1/discord-token-never-printed".into())
            }
            "DISCORD_FTP" => {
                Some("ftp://discord.com/api/webhooks/1/discord-token-never-printed".into())
            }
            "DISCORD_EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn chat_problems(toml: &str) -> Vec<String> {
        match from_toml_str(toml, &chat_env) {
            Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
            Err(e) => panic!("expected problems, got {e}"),
            Ok(_) => panic!("expected problems, got valid settings"),
        }
    }

    #[test]
    fn config_line_and_discord_channels() {
        let s = from_toml_str(
            &minimal(&format!(
                "[channels.desk-line]\ntype = \"line\"\nto = \"{LINE_ID}\"\ntoken_env = \"LINE_TOKEN\"\n\
                 [channels.proxied-line]\ntype = \"line\"\nto = \"{LINE_ID}\"\ntoken_env = \"LINE_TOKEN\"\n\
                 api_base = \"http://127.0.0.1:8080/line/\"\n\
                 [channels.desk-discord]\ntype = \"discord\"\nwebhook_url_env = \"DISCORD_URL\"\nmin_severity = \"warning\"\n"
            )),
            &chat_env,
        )
        .expect("valid");
        let names: Vec<&str> = s.channels.iter().map(|c| &*c.name).collect();
        assert_eq!(names, ["desk-discord", "desk-line", "proxied-line"]);
        match &s.channels[0].kind {
            ChannelKind::Discord(DiscordSpec {
                webhook_url_env,
                webhook_url,
            }) => {
                assert_eq!(webhook_url_env, "DISCORD_URL");
                assert_eq!(webhook_url.expose(), DISCORD_URL, "trimmed");
            }
            other => panic!("expected discord, got {other:?}"),
        }
        match &s.channels[1].kind {
            ChannelKind::Line(LineSpec {
                to,
                token_env,
                token,
                api_base,
            }) => {
                assert_eq!(to, LINE_ID);
                assert_eq!(token_env, "LINE_TOKEN");
                assert_eq!(token.expose(), LINE_TOKEN);
                assert_eq!(api_base, "https://api.line.me");
            }
            other => panic!("expected line, got {other:?}"),
        }
        match &s.channels[2].kind {
            ChannelKind::Line(LineSpec { api_base, .. }) => {
                assert_eq!(api_base, "http://127.0.0.1:8080/line")
            }
            other => panic!("expected line, got {other:?}"),
        }
        let shown = format!("{s:?}{}", serde_json::to_string(&s).unwrap());
        for secret in [LINE_TOKEN, "discord-token-never-printed"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
    }

    #[test]
    fn config_line_and_discord_problems_never_show_secrets() {
        let p = chat_problems(&minimal(
            "[channels.a]\ntype = \"line\"\nto = \"U 1\"\ntoken_env = \"NOPE\"\napi_base = \"api.line.me\"\nurl = \"https://x.example.com\"\n\
             [channels.b]\ntype = \"line\"\n\
             [channels.c]\ntype = \"discord\"\n\
             [channels.d]\ntype = \"discord\"\nwebhook_url_env = \"DISCORD_RELATIVE\"\n\
             [channels.e]\ntype = \"discord\"\nwebhook_url_env = \"DISCORD_FTP\"\ntoken_env = \"LINE_TOKEN\"\n\
             [channels.f]\ntype = \"discord\"\nwebhook_url_env = \"DISCORD_EMPTY\"\n",
        ));
        let tail = "; expected an absolute http(s) URL such as https://discord.com/api/webhooks/<id>/<token> (the value is not shown: it holds the webhook's token)";
        assert_eq!(
            p,
            [
                "channels.a.api_base: relative URL \"api.line.me\"; expected an absolute http(s) URL".to_owned(),
                "channels.a.to: \"U 1\" is not a LINE user, group or room id; expected an id such as U4af4980629… (no spaces)".to_owned(),
                "channels.a.token_env: environment variable NOPE is not set".to_owned(),
                "channels.a.url: not a key of a line channel".to_owned(),
                "channels.b.to: missing; expected a LINE user, group or room id (U…, C… or R…)".to_owned(),
                "channels.b.token_env: missing; expected the name of an environment variable".to_owned(),
                "channels.c.webhook_url_env: missing; expected the name of an environment variable".to_owned(),
                format!("channels.d.webhook_url_env: the value of DISCORD_RELATIVE is not an absolute URL{tail}"),
                "channels.e.token_env: not a key of a discord channel".to_owned(),
                format!("channels.e.webhook_url_env: the value of DISCORD_FTP has a scheme other than http or https{tail}"),
                "channels.f.webhook_url_env: environment variable DISCORD_EMPTY is empty".to_owned(),
            ],
            "got:\n{}",
            p.join("\n")
        );
        assert!(p.iter().all(|p| !p.contains("never-printed")));
    }
}
