//! The `llm_triage` table of `[channels]`: its configuration only. Triage is not a channel but
//! a stage of its own ([`crate::triage`]), which runs the model; the table stays where users
//! write it, so the registry reads it like any other kind's, and builds no channel from it.

pub mod config;

use crate::channel::registry::{MakeChannel, MakeContext};
use crate::config::RetrySettings;
use config::LlmTriageSpec;

/// No channel: the triage stage (`crate::triage`) runs this table, started by the topology.
pub fn make(_spec: LlmTriageSpec, _cx: &MakeContext<'_>) -> Option<(RetrySettings, MakeChannel)> {
    None
}
