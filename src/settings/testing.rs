//! Helpers for every component's configuration tests: a minimal valid file, and the problems
//! of an invalid one as printed.

use crate::error::ConfigError;
use crate::settings::from_toml_str;

/// No environment at all.
pub(crate) fn no_env(_: &str) -> Option<String> {
    None
}

/// The problems of `toml` (which must be invalid), as printed.
pub(crate) fn problems(toml: &str) -> Vec<String> {
    match from_toml_str(toml, &no_env) {
        Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("expected problems, got {e}"),
        Ok(_) => panic!("expected problems, got valid settings"),
    }
}

/// A minimal valid file plus `extra`.
pub(crate) fn minimal(extra: &str) -> String {
    format!("[exchanges.x.endpoints.ping]\nurl = \"https://example.com/ping\"\n{extra}")
}
