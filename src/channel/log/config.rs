//! The `log` channel's configuration: it has no keys of its own.

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::check::Env;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "log",
    keys: &[],
    default_severity: Severity::Info,
    default_timeout: None,
    human: true,
    follow_ups: true,
    acks: false,
    grouped: false,
};

/// Writes alerts to the log (tracing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogSpec {}

/// A `log` channel has nothing more to read.
pub(crate) fn parse(_t: &mut Table<'_>, _env: &Env<'_>) -> Option<LogSpec> {
    Some(LogSpec {})
}
