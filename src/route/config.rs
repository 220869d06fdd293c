//! `[router]`: its settings and their validation, beside the Router they configure. Pure:
//! turns the raw table into [`RouterSettings`], reporting every problem with its key path
//! through the generic walk of [`crate::config`]; touches nothing else.

use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::config::raw::Table;

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
}

impl Default for RouterSettings {
    fn default() -> Self {
        Self {
            dedup_window: Duration::from_secs(300),
            flap_hold: Duration::from_secs(120),
        }
    }
}

/// Validates `[router]`: `dedup_window` a positive duration, `flap_hold` a duration (zero
/// turns it off); unknown keys are reported by the walk.
pub(crate) fn router(mut t: Table<'_>) -> RouterSettings {
    let d = RouterSettings::default();
    let dedup_window = match t.duration("dedup_window") {
        Some(w) if w.is_zero() => {
            t.problem("dedup_window", "must be greater than zero");
            d.dedup_window
        }
        Some(w) => w,
        None => d.dedup_window,
    };
    let out = RouterSettings {
        dedup_window,
        flap_hold: t.duration("flap_hold").unwrap_or(d.flap_hold),
    };
    t.finish();
    out
}

/// A duration as a humantime string, as every `[…]` section is shown (`check-config`). Its
/// own copy: `config/` imports this module, so this one does not import `config/settings`.
fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConfigError;
    use crate::settings::from_toml_str;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn problems(toml: &str) -> Vec<String> {
        match from_toml_str(toml, &no_env) {
            Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
            Err(e) => panic!("expected problems, got {e}"),
            Ok(_) => panic!("expected problems, got valid settings"),
        }
    }

    /// A minimal valid file plus `extra`.
    fn minimal(extra: &str) -> String {
        format!("[exchanges.x.endpoints.ping]\nurl = \"https://example.com/ping\"\n{extra}")
    }

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
    fn config_router_dedup_window_must_be_positive() {
        let s = from_toml_str(&minimal("[router]\ndedup_window = \"1m\"\n"), &no_env).unwrap();
        assert_eq!(s.router.dedup_window, Duration::from_secs(60));
        let p = problems(&minimal("[router]\ndedup_window = \"0s\"\n"));
        assert_eq!(p, ["router.dedup_window: must be greater than zero"]);
        let p = problems(&minimal("[router]\ndedup_windw = \"1m\"\n"));
        assert!(p.iter().any(|l| l.contains("router.dedup_windw")), "{p:?}");
    }
}
