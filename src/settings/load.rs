//! Loading: the sources (a file or the embedded default, then `EXWATCH__…` environment
//! overrides) merged by the `config` crate, then validated into [`Settings`].

use std::path::Path;

use config::{
    Config, ConfigBuilder, Environment, File, FileFormat, ValueKind, builder::DefaultState,
};

use super::{Settings, validate};
use crate::error::ConfigError;

/// The embedded default configuration: the public endpoints of Binance, Bybit and OKX, and a
/// log channel. Used by [`load`] when no file is given.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

/// The prefix of environment overrides (`EXWATCH__HTTP__LISTEN`).
pub const ENV_PREFIX: &str = "EXWATCH";

/// The separator between the levels of an environment override's name.
pub const ENV_SEPARATOR: &str = "__";

/// Loads the configuration: the file at `path` (required) or, without one, the embedded
/// [`DEFAULT_TOML`]; then `EXWATCH__…` environment overrides; then validation, with secrets
/// read from the process environment.
///
/// # Errors
///
/// [`ConfigError::Source`] when the file cannot be read or is not valid TOML;
/// [`ConfigError::Invalid`] with every problem found otherwise.
pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
    let (text, origin) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError::Source(format!("{}: {e}", p.display())))?;
            (text, p.display().to_string())
        }
        None => (DEFAULT_TOML.to_owned(), "the embedded default".to_owned()),
    };
    let env = |name: &str| std::env::var(name).ok();
    load_from(&[&text], &origin, Some(env_overrides()), &env)
}

/// Loads the file at `path` layered over the embedded [`DEFAULT_TOML`] (then the environment
/// overrides and validation, as [`load`]): for commands that read only part of the
/// configuration, such as `exwatch replay` (its `[detect]` tables), so that a file holding
/// just those tables is a valid one.
///
/// # Errors
///
/// As [`load`].
pub fn load_over_default(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Source(format!("{}: {e}", path.display())))?;
    let env = |name: &str| std::env::var(name).ok();
    load_from(
        &[DEFAULT_TOML, &text],
        &path.display().to_string(),
        Some(env_overrides()),
        &env,
    )
}

/// The `EXWATCH__…` environment overrides.
fn env_overrides() -> Environment {
    Environment::with_prefix(ENV_PREFIX)
        .separator(ENV_SEPARATOR)
        .prefix_separator(ENV_SEPARATOR)
}

/// Validates a configuration given as TOML text, without environment overrides. Secrets named
/// by `*_env` keys are looked up through `env` (pass `&|_| None` when there are none, or
/// `&|name| std::env::var(name).ok()` for the process environment). For tests and embedding.
///
/// # Errors
///
/// [`ConfigError::Source`] when the text is not valid TOML; [`ConfigError::Invalid`] with
/// every problem found otherwise.
pub fn from_toml_str(
    toml: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    load_from(&[toml], "the given TOML", None, env)
}

/// The shared path of [`load`], [`load_over_default`] and [`from_toml_str`]: layer the TOML
/// texts (later ones override earlier ones) and the overrides, take the merged tree, validate
/// it.
fn load_from(
    layers: &[&str],
    origin: &str,
    overrides: Option<Environment>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let mut builder: ConfigBuilder<DefaultState> = Config::builder();
    for toml in layers {
        builder = builder.add_source(File::from_str(toml, FileFormat::Toml));
    }
    if let Some(overrides) = overrides {
        builder = builder.add_source(overrides);
    }
    let config = builder
        .build()
        .map_err(|e| ConfigError::Source(format!("{origin}: {e}")))?;
    let ValueKind::Table(root) = config.cache.kind else {
        return Err(ConfigError::Source(format!(
            "{origin}: the configuration is not a table"
        )));
    };
    validate::validate(&root, env).map_err(ConfigError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ConfigError;
    use std::io::Write;
    use std::time::Duration;

    /// Environment variables are process-global and every `EXWATCH__…` variable applies to
    /// every `load`: the tests that call `load` take this lock.
    static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn env_lock() -> std::sync::MutexGuard<'static, ()> {
        ENV_LOCK
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn temp_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn config_env_overrides_endpoint_interval_and_listen() {
        // Environment variables are process-global: this test alone uses the exchange name
        // `envtest_a1`, and holds the lock while the variables are set.
        let _guard = env_lock();
        let f = temp_file(
            "[exchanges.envtest_a1.endpoints.ping]\nurl = \"https://example.com/ping\"\ninterval = \"30s\"\n",
        );
        // SAFETY: the tests that touch the environment hold ENV_LOCK.
        unsafe {
            std::env::set_var(
                "EXWATCH__EXCHANGES__ENVTEST_A1__ENDPOINTS__PING__INTERVAL",
                "5s",
            );
            std::env::set_var("EXWATCH__HTTP__LISTEN", "0.0.0.0:9899");
        }
        let s = load(Some(f.path()));
        unsafe {
            std::env::remove_var("EXWATCH__EXCHANGES__ENVTEST_A1__ENDPOINTS__PING__INTERVAL");
            std::env::remove_var("EXWATCH__HTTP__LISTEN");
        }
        let s = s.expect("valid");
        assert_eq!(s.http.listen.to_string(), "0.0.0.0:9899");
        let x = s
            .exchanges
            .iter()
            .find(|x| &*x.name == "envtest_a1")
            .expect("exchange");
        assert_eq!(x.endpoints[0].interval, Duration::from_secs(5));
    }

    #[test]
    fn config_env_override_problem_says_so() {
        let _guard = env_lock();
        let f = temp_file(
            "[exchanges.envtest_b2.endpoints.ping]\nurl = \"https://example.com/ping\"\n",
        );
        // SAFETY: the tests that touch the environment hold ENV_LOCK.
        unsafe {
            std::env::set_var(
                "EXWATCH__EXCHANGES__ENVTEST_B2__ENDPOINTS__PING__TIMEOUT",
                "soon",
            );
        }
        let r = load(Some(f.path()));
        unsafe {
            std::env::remove_var("EXWATCH__EXCHANGES__ENVTEST_B2__ENDPOINTS__PING__TIMEOUT");
        }
        let Err(ConfigError::Invalid(p)) = r else {
            panic!("expected problems, got {r:?}")
        };
        let p: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert!(
            p.iter().any(|p| p.starts_with(
                "exchanges.envtest_b2.endpoints.ping.timeout: invalid duration \"soon\""
            ) && p.ends_with("(from the environment)")),
            "{p:?}"
        );
    }

    #[test]
    fn config_load_without_file_uses_embedded_default() {
        let _guard = env_lock();
        let s = load(None).expect("the embedded default validates");
        let names: Vec<&str> = s.exchanges.iter().map(|x| &*x.name).collect();
        assert_eq!(names, ["binance", "bybit", "okx"]);
    }

    #[test]
    fn config_missing_file_is_a_source_error_with_its_path() {
        let _guard = env_lock();
        let err = load(Some(Path::new("/nonexistent/exwatch-config.toml"))).unwrap_err();
        match err {
            ConfigError::Source(m) => {
                assert!(m.contains("/nonexistent/exwatch-config.toml"), "{m}")
            }
            other => panic!("expected a source error, got {other}"),
        }
        let f = temp_file("[monitor\n");
        let err = load(Some(f.path())).unwrap_err();
        match err {
            ConfigError::Source(m) => {
                assert!(m.contains(&f.path().display().to_string()), "{m}")
            }
            other => panic!("expected a source error, got {other}"),
        }
    }
}
