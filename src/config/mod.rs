//! Configuration. (stub: being written)
mod settings;
pub use settings::*;
// TEMPORARY (replaced on merge)
/// Embedded default.
pub const DEFAULT_TOML: &str = "";
/// Loads.
pub fn load(_path: Option<&std::path::Path>) -> Result<Settings, crate::error::ConfigError> {
    Ok(Settings::default())
}
/// Parses.
pub fn from_toml_str(
    _s: &str,
    _env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, crate::error::ConfigError> {
    Ok(Settings::default())
}
