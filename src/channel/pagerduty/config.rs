//! The `pagerduty` channel's configuration: turns its `[channels.<name>]` table (the keys
//! beyond the generic `type`, `min_severity` and retry keys) into a validated
//! [`PagerDutySpec`], purely: every problem is reported with its key path.

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::Secret;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "pagerduty",
    keys: &["routing_key_env", "api_base"],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
    follow_ups: false,
    acks: true,
    grouped: false,
};

/// Sends Events API v2 events to one PagerDuty integration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PagerDutySpec {
    /// Name of the environment variable that holds the integration's routing key.
    pub routing_key_env: String,
    /// The routing key (32 characters).
    pub routing_key: Secret,
    /// The Events API base URL, `https://events.pagerduty.com` by default.
    pub api_base: String,
}

/// Reads the kind-specific keys of a `pagerduty` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, env: &Env<'_>) -> Option<PagerDutySpec> {
    let key = required_secret(t, "routing_key_env", env).and_then(|(var, key)| {
        let key = Secret::new(key.expose().trim());
        if key.expose().chars().count() == 32 && key.expose().bytes().all(|b| b.is_ascii_alphanumeric()) {
            Some((var, key))
        } else {
            t.problem(
                "routing_key_env",
                format!(
                    "the value of {var} is not a routing key; expected the integration key of an \
                     Events API v2 integration: 32 letters and digits (the value is not shown: it is a secret)"
                ),
            );
            None
        }
    });
    let api_base = match t.str("api_base") {
        None => Some(super::DEFAULT_API_BASE.to_owned()),
        Some(base) => check_url(t, "api_base", &base).map(|b| b.trim_end_matches('/').to_owned()),
    };
    let (routing_key_env, routing_key) = key?;
    Some(PagerDutySpec {
        routing_key_env,
        routing_key,
        api_base: api_base?,
    })
}

#[cfg(test)]
mod tests {
    use crate::channel::ChannelKind;
    use crate::error::ConfigError;
    use crate::settings::from_toml_str;
    use crate::settings::testing::*;

    const KEY: &str = "R0123456789abcdef0123456789abcde";

    fn env(name: &str) -> Option<String> {
        match name {
            "PD_KEY" => Some(KEY.to_owned()),
            "PD_SHORT" => Some("short-key-never-printed".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn config_pagerduty_channel() {
        let s = from_toml_str(
            &minimal(
                "[channels.pd]\ntype = \"pagerduty\"\nrouting_key_env = \"PD_KEY\"\nmin_severity = \"critical\"\n",
            ),
            &env,
        )
        .expect("valid");
        let ChannelKind::Pagerduty(spec) = &s.channels[0].kind else {
            panic!("pagerduty");
        };
        assert_eq!(spec.routing_key.expose(), KEY);
        assert_eq!(spec.api_base, "https://events.pagerduty.com");
        let shown = format!("{:?}{}", s.channels, serde_json::to_string(&s).unwrap());
        assert!(!shown.contains(KEY), "{shown}");
        let p = match from_toml_str(
            &minimal(
                "[channels.a]\ntype = \"pagerduty\"\nrouting_key_env = \"PD_SHORT\"\napi_base = \"events\"\n\
                 [channels.b]\ntype = \"pagerduty\"\n",
            ),
            &env,
        ) {
            Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect::<Vec<_>>(),
            other => panic!("expected problems, got {other:?}"),
        };
        assert_eq!(
            p,
            [
                "channels.a.api_base: relative URL \"events\"; expected an absolute http(s) URL",
                "channels.a.routing_key_env: the value of PD_SHORT is not a routing key; expected the integration key of an Events API v2 integration: 32 letters and digits (the value is not shown: it is a secret)",
                "channels.b.routing_key_env: missing; expected the name of an environment variable",
            ]
        );
        assert!(p.iter().all(|p| !p.contains("never-printed")));
    }
}
