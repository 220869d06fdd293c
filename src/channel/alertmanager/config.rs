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
};

/// How often the alertmanager channel re-sends its alerts by default.
const DEFAULT_RESEND_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest alertmanager `resend_interval` accepted.
const MIN_RESEND_INTERVAL: Duration = Duration::from_millis(100);

/// Posts alerts to every instance of a Prometheus Alertmanager cluster (API v2).
#[derive(Debug, Clone, Serialize)]
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
