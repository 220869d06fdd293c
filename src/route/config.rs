//! `[router]`: its settings and their validation, beside the Router they configure. Pure:
//! turns the raw table into [`RouterSettings`], reporting every problem with its key path
//! through the generic walk of [`crate::config`]; touches nothing else.

use std::time::Duration;

use serde::Serialize;

use crate::config::check::{item_key, positive_duration};
use crate::config::raw::Table;
use crate::config::ser_duration;
use crate::route::group::GroupField;

/// `[router]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouterSettings {
    /// Within this window a series' firing alert is sent once (a rise in severity at once).
    #[serde(serialize_with = "ser_duration")]
    pub dedup_window: Duration,
    /// A resolved series that fires again within this hold stays one incident: the resolved
    /// alert waits this long and is dropped if it does. Zero disables.
    #[serde(serialize_with = "ser_duration")]
    pub flap_hold: Duration,
    /// An exchange's `down` alert waits this long, so that when every exchange goes down
    /// within it (exwatch's own network) only `monitor_connectivity` goes out. Zero disables.
    #[serde(serialize_with = "ser_duration")]
    pub correlation_hold: Duration,
    /// What a group of alerts shares (one message per incident); empty: no grouping.
    pub group_by: Vec<GroupField>,
    /// An open group's updates go out at most this often.
    #[serde(serialize_with = "ser_duration")]
    pub group_interval: Duration,
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            dedup_window: Duration::from_secs(300),
            flap_hold: Duration::from_secs(120),
            correlation_hold: Duration::from_secs(1),
            group_by: vec![GroupField::Exchange],
            group_interval: Duration::from_secs(30),
        }
    }
}

/// Validates `[router]`: `dedup_window` a positive duration, `flap_hold` and
/// `correlation_hold` durations (zero turns them off); unknown keys are reported by the walk.
pub(crate) fn router(mut t: Table<'_>) -> RouterSettings {
    let d = RouterSettings::default();
    let out = RouterSettings {
        dedup_window: positive_duration(&mut t, "dedup_window", d.dedup_window),
        flap_hold: t.duration("flap_hold").unwrap_or(d.flap_hold),
        correlation_hold: t.duration("correlation_hold").unwrap_or(d.correlation_hold),
        group_by: group_by(&mut t).unwrap_or(d.group_by),
        group_interval: positive_duration(&mut t, "group_interval", d.group_interval),
    };
    t.finish();
    out
}

/// `group_by`: a list of [`GroupField`] names, each once; `None` when absent or wrong (each
/// problem reported with its item's key path).
fn group_by(t: &mut Table<'_>) -> Option<Vec<GroupField>> {
    let items = t.str_or_list("group_by")?;
    let mut out: Vec<GroupField> = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        match GroupField::parse(item.trim()) {
            Some(f) if out.contains(&f) => {
                t.problem(
                    &item_key("group_by", i),
                    format!("{item:?} is listed twice"),
                );
                ok = false;
            }
            Some(f) => out.push(f),
            None => {
                t.problem(
                    &item_key("group_by", i),
                    format!(
                        "unknown field {item:?}; expected one of {}",
                        GroupField::NAMES
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::from_toml_str;
    use crate::settings::testing::*;

    #[test]
    fn config_router_flap_hold_defaults_allows_zero_and_checks_its_type() {
        let s = from_toml_str(&minimal(""), &no_env).unwrap();
        assert_eq!(s.router.flap_hold, Duration::from_secs(120));
        let s = from_toml_str(&minimal("[router]\nflap_hold = \"0s\"\n"), &no_env).unwrap();
        assert_eq!(s.router.flap_hold, Duration::ZERO);
        let p = problems(&minimal("[router]\nflap_hold = 5\n"));
        assert!(p.iter().any(|l| l.contains("router.flap_hold")), "{p:?}");
    }

    #[test]
    fn config_router_correlation_hold_defaults_to_1s_allows_zero_and_rejects_garbage() {
        let s = from_toml_str(&minimal(""), &no_env).unwrap();
        assert_eq!(s.router.correlation_hold, Duration::from_secs(1));
        let s = from_toml_str(&minimal("[router]\ncorrelation_hold = \"0s\"\n"), &no_env).unwrap();
        assert_eq!(s.router.correlation_hold, Duration::ZERO);
        let s = from_toml_str(
            &minimal("[router]\ncorrelation_hold = \"2500ms\"\n"),
            &no_env,
        )
        .unwrap();
        assert_eq!(s.router.correlation_hold, Duration::from_millis(2500));
        for bad in ["\"-1s\"", "\"soon\"", "1"] {
            let p = problems(&minimal(&format!("[router]\ncorrelation_hold = {bad}\n")));
            assert!(
                p.iter().any(|l| l.starts_with("router.correlation_hold:")),
                "{bad}: {p:?}"
            );
        }
    }

    #[test]
    fn config_router_group_by_defaults_allows_empty_and_names_bad_items() {
        let s = from_toml_str(&minimal(""), &no_env).unwrap();
        assert_eq!(s.router.group_by, [GroupField::Exchange]);
        assert_eq!(s.router.group_interval, Duration::from_secs(30));
        let s = from_toml_str(&minimal("[router]\ngroup_by = []\n"), &no_env).unwrap();
        assert!(s.router.group_by.is_empty());
        let s = from_toml_str(
            &minimal(
                "[router]\ngroup_by = [\"exchange\", \"severity\"]\ngroup_interval = \"1m\"\n",
            ),
            &no_env,
        )
        .unwrap();
        assert_eq!(
            s.router.group_by,
            [GroupField::Exchange, GroupField::Severity]
        );
        assert_eq!(s.router.group_interval, Duration::from_secs(60));
        let p = problems(&minimal(
            "[router]\ngroup_by = [\"exchange\", \"venue\"]\ngroup_interval = \"0s\"\n",
        ));
        assert_eq!(
            p,
            [
                "router.group_by[1]: unknown field \"venue\"; expected one of exchange, endpoint, metric, region, severity",
                "router.group_interval: must be greater than zero",
            ]
        );
        let p = problems(&minimal("[router]\ngroup_interval = \"-5s\"\n"));
        assert!(
            p.iter().any(|l| l.starts_with("router.group_interval")),
            "{p:?}"
        );
    }

    #[test]
    fn config_router_dedup_window_must_be_positive() {
        let s = from_toml_str(&minimal("[router]\ndedup_window = \"1m\"\n"), &no_env).unwrap();
        assert_eq!(s.router.dedup_window, Duration::from_secs(60));
        let p = problems(&minimal("[router]\ndedup_window = \"0s\"\n"));
        assert_eq!(p, ["router.dedup_window: must be greater than zero"]);
        let p = problems(&minimal("[router]\ndedup_windw = \"1m\"\n"));
        assert!(p.iter().any(|l| l.contains("router.dedup_windw")), "{p:?}");
    }
}
