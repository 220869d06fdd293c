//! The `llm_triage` channel's configuration: turns its `[channels.<name>]` table (the keys beyond
//! the generic `type`, `min_severity` and retry keys) into a validated [`LlmTriageSpec`], purely:
//! every problem is reported with its key path.

use std::time::Duration;

use serde::Serialize;

use crate::channel::registry::KindInfo;
use crate::config::Secret;
use crate::config::check::*;
use crate::config::raw::Table;
use crate::messages::Severity;

/// What the registry knows of this kind.
pub const KIND: KindInfo = KindInfo {
    type_name: "llm_triage",
    keys: &[
        "base_url",
        "model",
        "api_key_env",
        "language",
        "calls_per_hour",
        "max_tokens_field",
    ],
    default_severity: Severity::Critical,
    default_timeout: Some(LLM_DEFAULT_TIMEOUT),
    human: false,
};

/// Asks an OpenAI-compatible chat-completions endpoint to triage firing alerts, and sends
/// the answer back to the Router as a follow-up.
#[derive(Debug, Clone, Serialize)]
pub struct LlmTriageSpec {
    /// The API base (`https://api.openai.com/v1`); `/chat/completions` is appended unless
    /// already there.
    pub base_url: String,
    /// The model name (`gpt-4o-mini`).
    pub model: String,
    /// Name of the environment variable that holds the API key.
    pub api_key_env: String,
    /// The API key, read from `api_key_env`.
    pub api_key: Secret,
    /// The language of the answer (`en`, `th` …).
    pub language: String,
    /// Model calls allowed per rolling hour.
    pub calls_per_hour: u32,
    /// The request field carrying the answer's token limit: `max_tokens` or
    /// `max_completion_tokens`.
    pub max_tokens_field: String,
}

/// The default `timeout` of an `llm_triage` channel: models answer slowly.
const LLM_DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Reads the kind-specific keys of a `llm_triage` channel; `None` when a problem was reported.
pub(crate) fn parse(t: &mut Table<'_>, env: &Env<'_>) -> Option<LlmTriageSpec> {
    let base_url = match t.str("base_url") {
        Some(u) => check_url(t, "base_url", &u).map(|u| u.trim_end_matches('/').to_owned()),
        None => Some("https://api.openai.com/v1".to_owned()),
    };
    let model = t
        .req_str("model", "a model name such as \"gpt-4o-mini\"")
        .and_then(|m| {
            let m = m.trim().to_owned();
            if m.is_empty() {
                t.problem("model", "must not be empty");
                None
            } else {
                Some(m)
            }
        });
    let api_key_env = t
        .req_str(
            "api_key_env",
            "the name of the environment variable that holds the API key",
        )
        .map(|v| v.trim().to_owned());
    let api_key = api_key_env
        .as_deref()
        .and_then(|var| secret_from_env(t, "api_key_env", var, env));
    let language = match t.str("language") {
        None => Some("en".to_owned()),
        Some(l) => {
            let l = l.trim().to_owned();
            let ok = !l.is_empty()
                && l.chars().count() <= 35
                && l.chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '));
            if ok {
                Some(l)
            } else {
                t.problem(
                    "language",
                    format!("invalid language {l:?}; expected a language code or name such as \"th\" or \"en\""),
                );
                None
            }
        }
    };
    let calls_per_hour = u32_at_least(t, "calls_per_hour", 1, 30);
    let max_tokens_field = match t.str("max_tokens_field") {
        None => Some("max_tokens".to_owned()),
        Some(f) if matches!(f.trim(), "max_tokens" | "max_completion_tokens") => {
            Some(f.trim().to_owned())
        }
        Some(f) => {
            t.problem(
                "max_tokens_field",
                format!("unknown field {f:?}; expected max_tokens or max_completion_tokens"),
            );
            None
        }
    };
    Some(LlmTriageSpec {
        base_url: base_url?,
        model: model?,
        api_key_env: api_key_env?,
        api_key: api_key?,
        language: language?,
        calls_per_hour,
        max_tokens_field: max_tokens_field?,
    })
}
