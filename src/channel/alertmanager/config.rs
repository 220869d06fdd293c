//! The `alertmanager` channel's configuration: turns its `[channels.<name>]` table (the keys beyond
//! the generic `type`, `min_severity` and retry keys) into a validated [`AlertmanagerSpec`], purely:
//! every problem is reported with its key path.

use std::time::Duration;

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::config::ser_duration;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "alertmanager",
    keys: &["urls", "resend_interval"],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
    follow_ups: true,
    acks: false,
    grouped: false,
};

/// How often the alertmanager channel re-sends its alerts by default.
const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest alertmanager `resend_interval` accepted.
const MIN_RESEND_INTERVAL: Duration = Duration::from_millis(100);

/// Posts alerts to every instance of a Prometheus Alertmanager cluster (API v2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertmanagerSpec {
    /// Base URLs of every instance (`http://am-1:9093`), without `/api/v2/alerts`.
    pub urls: Vec<String>,
    /// How often active and recently resolved alerts are re-sent.
    #[serde(serialize_with = "ser_duration")]
    pub resend_interval: Duration,
}

/// Reads the kind-specific keys of a `alertmanager` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, _env: &Env<'_>) -> Option<AlertmanagerSpec> {
    let urls = required_list(
        t,
        "urls",
        "the base URL of every Alertmanager instance, such as [\"http://127.0.0.1:9093\"]",
    )
    .and_then(|urls| {
        let mut out = Vec::with_capacity(urls.len());
        for (i, url) in urls.iter().enumerate() {
            let key = item_key("urls", i);
            if let Some(url) = check_url(t, &key, url) {
                let url = url.trim_end_matches('/').to_owned();
                if out.contains(&url) {
                    t.problem(&key, format!("{url} is listed twice"));
                } else {
                    out.push(url);
                }
            }
        }
        (out.len() == urls.len()).then_some(out)
    });
    let resend_interval = duration_at_least(
        t,
        "resend_interval",
        MIN_RESEND_INTERVAL,
        DEFAULT_RESEND_INTERVAL,
    );
    Some(AlertmanagerSpec {
        urls: urls?,
        resend_interval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::ChannelKind;
    use crate::settings::from_toml_str;
    use crate::settings::testing::*;
    use std::time::Duration;

    #[test]
    fn config_alertmanager_channel() {
        let s = from_toml_str(
            &minimal(
                "[channels.am]\ntype = \"alertmanager\"\nurls = [\"http://am-1:9093/\", \"https://am-2.example.com\"]\n\
                 [channels.am2]\ntype = \"alertmanager\"\nurls = \"http://127.0.0.1:9093\"\nresend_interval = \"15s\"\n",
            ),
            &no_env,
        )
        .expect("valid");
        let ChannelKind::Alertmanager(AlertmanagerSpec {
            urls,
            resend_interval,
        }) = &s.channels[0].kind
        else {
            panic!("an alertmanager channel");
        };
        assert_eq!(urls, &["http://am-1:9093", "https://am-2.example.com"]);
        assert_eq!(*resend_interval, Duration::from_secs(60));
        let ChannelKind::Alertmanager(AlertmanagerSpec {
            urls,
            resend_interval,
        }) = &s.channels[1].kind
        else {
            panic!("an alertmanager channel");
        };
        assert_eq!(urls, &["http://127.0.0.1:9093"]);
        assert_eq!(*resend_interval, Duration::from_secs(15));

        let p = problems(&minimal(
            "[channels.a]\ntype = \"alertmanager\"\nurls = [\"am:9093\", 5, \"http://h:1\"]\n\
             [channels.b]\ntype = \"alertmanager\"\nurls = [\"http://h:1\", \"http://h:1/\"]\nresend_interval = \"10ms\"\n\
             [channels.c]\ntype = \"alertmanager\"\nurl = \"http://h:1\"\n",
        ));
        assert_eq!(
            p,
            [
                "channels.a.urls[1]: expected a string, found integer 5",
                "channels.b.resend_interval: 10ms is too short; the minimum is 100ms",
                "channels.b.urls[1]: http://h:1 is listed twice",
                "channels.c.url: not a key of a alertmanager channel",
                "channels.c.urls: missing; expected the base URL of every Alertmanager instance, such as [\"http://127.0.0.1:9093\"]",
            ]
        );
    }
}
