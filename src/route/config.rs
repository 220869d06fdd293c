//! `[router]`: its settings and their validation, beside the Router they configure. Pure:
//! turns the raw table into [`RouterSettings`], reporting every problem with its key path
//! through the generic walk of [`crate::config`]; touches nothing else.

use std::time::Duration;

use serde::Serialize;

use crate::config::check::positive_duration;
use crate::config::raw::Table;
use crate::config::ser_duration;

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
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            dedup_window: Duration::from_secs(300),
            flap_hold: Duration::from_secs(120),
            correlation_hold: Duration::from_secs(1),
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
    };
    t.finish();
    out
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
    fn config_router_dedup_window_must_be_positive() {
        let s = from_toml_str(&minimal("[router]\ndedup_window = \"1m\"\n"), &no_env).unwrap();
        assert_eq!(s.router.dedup_window, Duration::from_secs(60));
        let p = problems(&minimal("[router]\ndedup_window = \"0s\"\n"));
        assert_eq!(p, ["router.dedup_window: must be greater than zero"]);
        let p = problems(&minimal("[router]\ndedup_windw = \"1m\"\n"));
        assert!(p.iter().any(|l| l.contains("router.dedup_windw")), "{p:?}");
    }
}
