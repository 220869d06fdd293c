//! Several vantages, one view (`[cluster]`): every instance writes its events and its
//! per-exchange verdicts to one PostgreSQL, asynchronously, and decides "exchange down" by a
//! quorum of fresh, self-healthy vantages read back from it.
//!
//! - [`config`]: `[cluster]`, validated;
//!
//! May touch: `crate::messages`, `crate::config`, `crate::error`, `crate::metrics`,
//! `crate::store` (the records it mirrors). Never the components that feed it (detect, route,
//! channel, server): the topology (`crate::service`) wires it between them.

pub mod config;

pub use config::ClusterSettings;
