//! The `slack` channel's configuration: turns its `[channels.<name>]` table (the keys beyond
//! the generic `type`, `min_severity` and retry keys) into a validated [`SlackSpec`], purely:
//! every problem is reported with its key path.

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::Secret;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "slack",
    keys: &["webhook_url_env"],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
    follow_ups: true,
    acks: false,
    grouped: true,
};

/// Posts to a Slack incoming webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackSpec {
    /// Name of the environment variable that holds the webhook URL (the whole URL is the
    /// secret).
    pub webhook_url_env: String,
    /// The webhook URL, read from `webhook_url_env`.
    pub webhook_url: Secret,
}

/// Reads the kind-specific keys of a `slack` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, env: &Env<'_>) -> Option<SlackSpec> {
    let (var, url) = required_secret(t, "webhook_url_env", env)?;
    let url = Secret::new(url.expose().trim());
    if let Err(why) = check_secret_url(url.expose()) {
        t.problem(
            "webhook_url_env",
            format!(
                "the value of {var} {why}; expected an absolute http(s) URL such as \
                 https://hooks.slack.com/services/T…/B…/… (the value is not shown: it is a secret)"
            ),
        );
        return None;
    }
    Some(SlackSpec {
        webhook_url_env: var,
        webhook_url: url,
    })
}

#[cfg(test)]
mod tests {
    use crate::channel::ChannelKind;
    use crate::error::ConfigError;
    use crate::settings::from_toml_str;
    use crate::settings::testing::*;

    const URL: &str = "https://hooks.slack.com/services/T000/B000/slack-never-printed";

    fn env(name: &str) -> Option<String> {
        match name {
            "SLACK_URL" => Some(format!(" {URL}\n")),
            "SLACK_BAD" => Some("hooks.slack.com/services/slack-never-printed".into()),
            _ => None,
        }
    }

    #[test]
    fn config_slack_channel() {
        let s = from_toml_str(
            &minimal("[channels.s]\ntype = \"slack\"\nwebhook_url_env = \"SLACK_URL\"\n"),
            &env,
        )
        .expect("valid");
        let ChannelKind::Slack(spec) = &s.channels[0].kind else {
            panic!("slack");
        };
        assert_eq!(spec.webhook_url.expose(), URL);
        let shown = format!("{:?}{}", s.channels, serde_json::to_string(&s).unwrap());
        assert!(!shown.contains("never-printed"), "{shown}");
        let p = match from_toml_str(
            &minimal(
                "[channels.a]\ntype = \"slack\"\nwebhook_url_env = \"SLACK_BAD\"\n\
                 [channels.b]\ntype = \"slack\"\nwebhook_url_env = \"NOPE\"\nchat_id = 1\n",
            ),
            &env,
        ) {
            Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect::<Vec<_>>(),
            other => panic!("expected problems, got {other:?}"),
        };
        assert_eq!(
            p,
            [
                "channels.a.webhook_url_env: the value of SLACK_BAD is not an absolute URL; expected an absolute http(s) URL such as https://hooks.slack.com/services/T…/B…/… (the value is not shown: it is a secret)",
                "channels.b.chat_id: not a key of a slack channel",
                "channels.b.webhook_url_env: environment variable NOPE is not set",
            ]
        );
    }
}
