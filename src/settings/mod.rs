//! The whole configuration: [`Settings`], assembled from what each component owns, and its
//! loading (`load.rs`: sources and environment overrides; `validate.rs`: each section handed
//! to the component that owns it, every problem with its key path).
//!
//! Loading happens in three steps:
//!
//! 1. **Sources** (the `config` crate): the given TOML file, or when none is given the embedded
//!    [`DEFAULT_TOML`]; then environment overrides `EXWATCH__SECTION__KEY`, e.g.
//!    `EXWATCH__HTTP__LISTEN=0.0.0.0:9898` or
//!    `EXWATCH__EXCHANGES__BINANCE__ENDPOINTS__PING__INTERVAL=5s`. Variable names are
//!    case-insensitive (the `config` crate lowercases them), `__` separates the levels, and
//!    values arrive as strings (numbers are coerced). A given file is *not* layered over the
//!    embedded default: it describes the whole monitor; keys it leaves out take the built-in
//!    defaults of the [`Settings`] types.
//! 2. **The tree as written** ([`crate::config`]'s walk): each key's dotted path, keys
//!    nothing reads reported (typos).
//! 3. **Validation** (pure): every problem is collected with its key path, e.g.
//!    `exchanges.okx.endpoints.time.url: relative URL "api/v5/public/time"; expected an absolute
//!    http(s) URL`, and returned at once as [`ConfigError::Invalid`](crate::ConfigError). Secrets
//!    are never in the file: a `*_env` key names the environment variable that holds each one,
//!    and its value is never printed.
//!
//! Library users may skip all this and build [`Settings`] directly: every part has a `Default`.
//! This module re-exports every part's settings type, so `exwatch::settings::*` names them all.
//! It sits above every component (it assembles them); no component imports it.

mod load;
#[cfg(test)]
pub(crate) mod testing;
mod validate;

use serde::Serialize;

pub use crate::channel::registry::ChannelSettings;
pub use crate::cluster::ClusterSettings;
pub use crate::config::*;
pub use crate::detect::config::*;
pub use crate::probe::stream::config::{StreamChannel, StreamSettings, Venue};
pub use crate::route::config::RouterSettings;
pub use crate::store::StoreSettings;
pub use load::{DEFAULT_TOML, ENV_PREFIX, ENV_SEPARATOR, from_toml_str, load, load_over_default};

use crate::config::ser_named;

/// Everything exwatch needs to run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Settings {
    /// `[monitor]`
    pub monitor: MonitorSettings,
    /// `[http]`
    pub http: HttpSettings,
    /// `[store]`
    pub store: StoreSettings,
    /// `[defaults]`
    pub defaults: EndpointDefaults,
    /// `[breaker]`
    pub breaker: BreakerSettings,
    /// `[exchanges.<name>]`, sorted by name.
    #[serde(serialize_with = "ser_named")]
    pub exchanges: Vec<ExchangeSettings>,
    /// The `kind = "stream"` endpoints of `[exchanges.<name>.endpoints]`, by exchange then name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StreamSettings>,
    /// `[detect]`
    pub detect: DetectSettings,
    /// `[router]`
    pub router: RouterSettings,
    /// `[channels.<name>]`, sorted by name.
    #[serde(serialize_with = "ser_named")]
    pub channels: Vec<ChannelSettings>,
    /// `[supervision]`
    pub supervision: SupervisionSettings,
    /// `[shutdown]`
    pub shutdown: ShutdownSettings,
    /// `[rules.<name>]`, sorted by name.
    #[serde(serialize_with = "ser_named")]
    pub rules: Vec<RuleSettings>,
    /// `[cluster]`: several vantages sharing one history; `None` runs alone.
    pub cluster: Option<ClusterSettings>,
}

impl crate::config::Named for ChannelSettings {
    fn name(&self) -> &str {
        &self.name
    }
}
