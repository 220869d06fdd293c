//! `[store]`: where the event store lives. [`StoreSettings`] is the validated spec; `validate`
//! turns the raw table into it purely (every problem with its key path, through the generic
//! walk of [`crate::config`]); [`crate::Monitor`] opens the store from it.

use serde::Serialize;

use crate::config::raw::Table;

/// `[store]`: the event store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreSettings {
    /// SQLite file, or `:memory:` to keep nothing.
    pub path: String,
}

impl Default for StoreSettings {
    /// `exwatch.db` in the working directory.
    fn default() -> Self {
        Self {
            path: "exwatch.db".into(),
        }
    }
}

impl StoreSettings {
    /// The path that keeps nothing.
    pub const MEMORY: &'static str = ":memory:";

    /// An in-memory store that keeps nothing past the process (tests, embedding without
    /// durability).
    pub fn in_memory() -> Self {
        Self {
            path: Self::MEMORY.into(),
        }
    }
}

/// The `[store]` table as [`StoreSettings`]; its problems go to the table's list.
pub(crate) fn validate(mut t: Table<'_>) -> StoreSettings {
    let d = StoreSettings::default();
    let path = match t.str("path") {
        Some(p) if p.trim().is_empty() => {
            t.problem(
                "path",
                "must not be empty; use \":memory:\" to keep nothing",
            );
            d.path
        }
        Some(p) => p,
        None => d.path,
    };
    t.finish();
    StoreSettings { path }
}

#[cfg(test)]
mod tests {
    use crate::error::ConfigError;
    use crate::settings::from_toml_str;

    /// The problems `toml` has under `[store]`.
    fn store_problems(toml: &str) -> Vec<(String, String)> {
        match from_toml_str(toml, &|_| None) {
            Ok(_) => Vec::new(),
            Err(ConfigError::Invalid(problems)) => problems
                .into_iter()
                .filter(|p| p.key.starts_with("store"))
                .map(|p| (p.key, p.message))
                .collect(),
            Err(e) => panic!("{e}"),
        }
    }

    /// The least a valid file holds besides `[store]`.
    const EXCHANGE: &str = "[exchanges.x.endpoints.ping]\nurl = \"http://127.0.0.1:1/ping\"\n";

    #[test]
    fn store_config_path_defaults_and_memory_is_accepted() {
        let s = from_toml_str(EXCHANGE, &|_| None).expect("valid");
        assert_eq!(s.store.path, "exwatch.db");
        let toml = format!("{EXCHANGE}[store]\npath = \":memory:\"\n");
        let s = from_toml_str(&toml, &|_| None).expect("valid");
        assert_eq!(s.store.path, ":memory:");
    }

    #[test]
    fn store_config_refuses_an_empty_path_and_unknown_keys() {
        assert_eq!(
            store_problems("[store]\npath = \"  \""),
            [(
                "store.path".to_owned(),
                "must not be empty; use \":memory:\" to keep nothing".to_owned()
            )]
        );
        let problems = store_problems("[store]\npaht = \"x.db\"");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "store.paht");
    }
}
