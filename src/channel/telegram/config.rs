//! The `telegram` channel's configuration: turns its `[channels.<name>]` table (the keys beyond
//! the generic `type`, `min_severity` and retry keys) into a validated [`TelegramSpec`], purely:
//! every problem is reported with its key path.

use ::config::ValueKind;
use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::Secret;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "telegram",
    keys: &["bot_token_env", "chat_id", "api_base"],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
    follow_ups: true,
    acks: false,
    grouped: true,
};

/// Sends each alert as an HTML message to one or more Telegram chats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TelegramSpec {
    /// Name of the environment variable that holds the bot token.
    pub bot_token_env: String,
    /// The bot token (part of the request path: a secret).
    pub bot_token: Secret,
    /// The chats: numeric ids (groups and channels are negative) or `@channelusername`.
    pub chat_id: Vec<String>,
    /// The Bot API base URL, `https://api.telegram.org` by default.
    pub api_base: String,
}

/// A plausible chat id: an integer (`-1001234567890`) or `@username` (5 to 32 letters,
/// digits and underscores).
pub fn is_chat_id(id: &str) -> bool {
    if let Some(name) = id.strip_prefix('@') {
        return (5..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    }
    let digits = id.strip_prefix('-').unwrap_or(id);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Reads `chat_id`: a string, an integer, or a list of them.
fn chat_ids(t: &mut Table<'_>) -> Option<Vec<String>> {
    const EXPECTED: &str =
        "a chat id such as \"-1001234567890\" or \"@channelname\", or a list of them";
    if !t.has("chat_id") {
        t.mark("chat_id");
        t.missing("chat_id", EXPECTED);
        return None;
    }
    let v = t.get("chat_id")?;
    let one = |v: &::config::Value| match &v.kind {
        ValueKind::String(s) => Some(s.trim().to_owned()),
        ValueKind::I64(i) => Some(i.to_string()),
        ValueKind::U64(i) => Some(i.to_string()),
        ValueKind::I128(i) => Some(i.to_string()),
        _ => None,
    };
    let raw: Vec<Option<String>> = match &v.kind {
        ValueKind::Array(items) => items.iter().map(one).collect(),
        _ => vec![one(v)],
    };
    let listed = matches!(v.kind, ValueKind::Array(_));
    if raw.is_empty() {
        t.problem("chat_id", format!("empty list; expected {EXPECTED}"));
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (i, id) in raw.into_iter().enumerate() {
        let key = if listed {
            item_key("chat_id", i)
        } else {
            "chat_id".to_owned()
        };
        match id {
            Some(id) if is_chat_id(&id) && !out.contains(&id) => out.push(id),
            Some(id) if out.contains(&id) => {
                t.problem(&key, format!("{id} is listed twice"));
                ok = false;
            }
            Some(id) => {
                t.problem(
                    &key,
                    format!("{id:?} is not a chat id; expected {EXPECTED}"),
                );
                ok = false;
            }
            None => {
                t.problem(
                    &key,
                    format!("not a string or an integer; expected {EXPECTED}"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Reads the kind-specific keys of a `telegram` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, env: &Env<'_>) -> Option<TelegramSpec> {
    let token = required_secret(t, "bot_token_env", env);
    let chat_id = chat_ids(t);
    let api_base = match t.str("api_base") {
        None => Some(super::DEFAULT_API_BASE.to_owned()),
        Some(base) => check_url(t, "api_base", &base).map(|b| b.trim_end_matches('/').to_owned()),
    };
    let (bot_token_env, bot_token) = token?;
    let bot_token = Secret::new(bot_token.expose().trim());
    Some(TelegramSpec {
        bot_token_env,
        bot_token,
        chat_id: chat_id?,
        api_base: api_base?,
    })
}

#[cfg(test)]
mod tests {
    use crate::channel::ChannelKind;
    use crate::error::ConfigError;
    use crate::settings::from_toml_str;
    use crate::settings::testing::*;

    const TOKEN: &str = "123456:telegram-token-never-printed";

    fn env(name: &str) -> Option<String> {
        (name == "TG_TOKEN").then(|| TOKEN.to_owned())
    }

    #[test]
    fn config_telegram_channel() {
        let s = from_toml_str(
            &minimal(
                "[channels.a]\ntype = \"telegram\"\nbot_token_env = \"TG_TOKEN\"\nchat_id = -1001234567890\n\
                 [channels.b]\ntype = \"telegram\"\nbot_token_env = \"TG_TOKEN\"\nchat_id = [\"@desk_alerts\", \"42\"]\n\
                 api_base = \"http://127.0.0.1:9/\"\n",
            ),
            &env,
        )
        .expect("valid");
        let ChannelKind::Telegram(a) = &s.channels[0].kind else {
            panic!("telegram: {:?}", s.channels[0].kind);
        };
        assert_eq!(a.chat_id, ["-1001234567890"]);
        assert_eq!(a.api_base, "https://api.telegram.org");
        assert_eq!(a.bot_token.expose(), TOKEN);
        let ChannelKind::Telegram(b) = &s.channels[1].kind else {
            panic!("telegram");
        };
        assert_eq!(b.chat_id, ["@desk_alerts", "42"]);
        assert_eq!(b.api_base, "http://127.0.0.1:9");
        let shown = format!("{:?}{}", s.channels, serde_json::to_string(&s).unwrap());
        assert!(!shown.contains("never-printed"), "{shown}");
    }

    #[test]
    fn config_telegram_problems() {
        let p = match from_toml_str(
            &minimal(
                "[channels.a]\ntype = \"telegram\"\nbot_token_env = \"NOPE\"\nchat_id = [\"x y\", 5, 5, true]\napi_base = \"ftp://x\"\n\
                 [channels.b]\ntype = \"telegram\"\n\
                 [channels.c]\ntype = \"telegram\"\nbot_token_env = \"TG_TOKEN\"\nchat_id = []\n",
            ),
            &env,
        ) {
            Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect::<Vec<_>>(),
            other => panic!("expected problems, got {other:?}"),
        };
        let e =
            "expected a chat id such as \"-1001234567890\" or \"@channelname\", or a list of them";
        assert_eq!(
            p,
            [
                "channels.a.api_base: unsupported scheme \"ftp\" in \"ftp://x\"; expected http or https".to_owned(),
                "channels.a.bot_token_env: environment variable NOPE is not set".to_owned(),
                format!("channels.a.chat_id[0]: \"x y\" is not a chat id; {e}"),
                "channels.a.chat_id[2]: 5 is listed twice".to_owned(),
                format!("channels.a.chat_id[3]: not a string or an integer; {e}"),
                "channels.b.bot_token_env: missing; expected the name of an environment variable".to_owned(),
                format!("channels.b.chat_id: missing; {e}"),
                format!("channels.c.chat_id: empty list; {e}"),
            ],
            "got:\n{}",
            p.join("\n")
        );
        assert!(p.iter().all(|p| !p.contains("never-printed")));
    }
}
