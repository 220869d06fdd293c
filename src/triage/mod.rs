//! LLM triage: a stage of its own, between the Router and the model. For every firing alert at
//! or above a `[channels.<name>] type = "llm_triage"` table's `min_severity`, it asks an
//! OpenAI-compatible chat-completions endpoint for a root-cause hypothesis, an immediate
//! action and a prevention tip, and hands the answer back to the Router as a
//! [`crate::messages::Triage`]; the Router sends it to the human channels as a `triage` alert
//! `in_reply_to` the original.
//!
//! The triage stage is not a channel: it receives no triage follow-ups, and nothing of it is
//! recorded in the event store's outbox (a model asked about yesterday's alert after a restart
//! costs budget and says nothing useful). The Router hands it an alert only after the alert
//! went out to the channels: the first alert never waits for the model.
//!
//! Its configuration is the `llm_triage` table of `[channels]` (that contract stays where users
//! write it), parsed by [`crate::channel::llm_triage::config`] into an [`LlmTriageSpec`].
//! Here: [`model`] holds the pure policy (prompt, request body, judgement of the answer,
//! hourly budget), [`client`] the model client, and [`make`] turns a spec into the builder of
//! the client that the stage's actor owns. The stage is started, changed and removed by the
//! topology (`TriageStage` in `crate::service`), which hands out a typed
//! [`crate::service::TriageHandle`] per table.

pub mod client;
pub mod model;

use std::time::Duration;

use actix::Recipient;

pub use crate::channel::llm_triage::config::LlmTriageSpec;
use crate::channel::registry::MakeChannel;
use crate::client::build_client;
use crate::config::RetrySettings;
use crate::messages::{Name, Triage};
pub use client::TriageClient;
pub use model::LlmTriageSettings;

/// The stage's actor: the generic delivery engine (queue, retries with back-off and jitter,
/// flush, supervision) owning one [`TriageClient`] — and so its model client, hourly budget and
/// prompt settings. Boxed, so that a reload can replace the client in place.
pub type TriageActor = crate::channel::ChannelActor<Box<dyn crate::channel::Channel>>;

/// The retry policy of the stage's actor and the builder of its [`TriageClient`] (run on the
/// stage's arbiter, where the `!Send` HTTP client must be created), for the table `name`.
pub fn make(
    name: &Name,
    spec: LlmTriageSpec,
    retry: &RetrySettings,
    router: &Recipient<Triage>,
) -> (RetrySettings, MakeChannel) {
    let settings = LlmTriageSettings {
        base_url: spec.base_url,
        model: spec.model,
        api_key: spec.api_key,
        language: spec.language,
        calls_per_hour: spec.calls_per_hour,
        max_tokens_field: spec.max_tokens_field,
        timeout: retry.timeout,
    };
    // The client bounds each model call itself (a timeout is logged, not retried); the
    // actor's bound is only a backstop behind it.
    let mut actor_retry = retry.clone();
    actor_retry.timeout += Duration::from_secs(5);
    let (name, router) = (name.clone(), router.clone());
    (
        actor_retry,
        Box::new(move || {
            let client = build_client(2, settings.timeout);
            Box::new(TriageClient::new(name, client, settings, router))
        }),
    )
}
