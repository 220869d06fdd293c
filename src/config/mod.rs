//! Configuration's generic part, below every component: the walk over the merged TOML tree
//! (`raw.rs`: each key's dotted path, keys nothing reads reported as typos), the checks the
//! components share (`check.rs`: URLs, durations, names, secrets named by `*_env` keys,
//! lists, retry keys), the one [`Secret`] type with the one redaction rule (`secret.rs`), and
//! the settings of the parts no single component owns (`settings.rs`).
//!
//! Each component turns its own table into its settings beside its runtime
//! (`crate::probe::config`, `crate::detect::config`, `crate::route::config`,
//! `crate::store::config`, each channel kind's `config.rs`); [`crate::settings`] assembles
//! them into the whole [`crate::settings::Settings`] and loads files. So the imports go one
//! way: components use this module, this module uses no component.

pub(crate) mod check;
pub(crate) mod raw;
mod secret;
mod settings;

pub use check::MIN_INTERVAL;
pub use secret::{REDACTED, Secret, redact};
pub use settings::*;
