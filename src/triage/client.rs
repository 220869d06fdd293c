//! The triage stage's model client: asks an OpenAI-compatible chat-completions endpoint about
//! one firing alert (one call per attempt), and sends the answer back to the Router as a
//! [`Triage`] follow-up. It owns the HTTP client, the hourly [`CallBudget`] and the prompt
//! settings; the policy it applies is [`crate::triage::model`]'s.
//!
//! Triage is best effort. Only `firing` alerts are triaged; at most `calls_per_hour` requests
//! go to the model in any rolling hour (over budget: one log line, the alert is skipped). A
//! model that fails — timeout, connection error, 4xx, `insufficient_quota`, garbage,
//! `content: null`, a refusal — costs one log line and [`Channel::deliver`] answers `Ok(())`:
//! the alert itself was already delivered by the channels, and a retry storm against a paid
//! API helps nobody. Only a transient overload is retried, at most twice per alert
//! ([`MAX_MODEL_ATTEMPTS`]): 429 `rate_limit_exceeded` and 5xx, after the server's
//! `retry-after-ms` / `retry-after` (when it asks for more than
//! [`crate::triage::model::MAX_MODEL_RETRY_AFTER`], or says `x-should-retry: false`, it is not
//! retried), through the [`ChannelActor`]'s back-off.
//!
//! The API key goes only into the `Authorization` header: never into logs, reasons or `Debug`.
//!
//! [`ChannelActor`]: crate::channel::ChannelActor

use std::fmt;
use std::time::{Instant, SystemTime};

use actix::Recipient;
use bytes::Bytes;
use futures_util::future::LocalBoxFuture;

use crate::channel::Channel;
use crate::channel::http::{self, ReadBody, Redactor};
use crate::error::DeliveryError;
use crate::messages::{Alert, AlertKind, Name, Triage};
use crate::triage::model::{
    CallBudget, LlmTriageSettings, MAX_MODEL_ATTEMPTS, ModelOutcome, chat_url, judge_reply,
    model_retry_after, prompt, request_body, should_retry,
};

/// How much of the model server's answer is read.
const MAX_BODY: usize = 256 * 1024;

/// Triages firing alerts with a model: one model call per attempt. See the module docs.
pub struct TriageClient {
    name: Name,
    client: awc::Client,
    url: String,
    settings: LlmTriageSettings,
    budget: CallBudget,
    router: Recipient<Triage>,
    /// The alert being worked on and the model calls made for it.
    current: Option<(Name, u32)>,
}

impl fmt::Debug for TriageClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TriageClient")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("settings", &self.settings)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl TriageClient {
    /// The client of the triage stage `name`, calling the model through `client` (built on
    /// the stage's arbiter), sending its answers to `router`.
    pub fn new(
        name: Name,
        client: awc::Client,
        settings: LlmTriageSettings,
        router: Recipient<Triage>,
    ) -> Self {
        Self {
            name,
            client,
            url: chat_url(&settings.base_url),
            budget: CallBudget::new(settings.calls_per_hour),
            settings,
            router,
            current: None,
        }
    }

    /// The model call number this is for `alert` (1 for the first).
    fn count_attempt(&mut self, alert: &Alert) -> u32 {
        match &mut self.current {
            Some((id, n)) if *id == alert.id => {
                *n += 1;
                *n
            }
            _ => {
                self.current = Some((alert.id.clone(), 1));
                1
            }
        }
    }
}

/// The generic delivery engine ([`crate::channel::ChannelActor`]) queues, retries and flushes the model calls;
/// the stage is not a channel for all that (no route of people, no outbox).
impl Channel for TriageClient {
    fn kind(&self) -> &'static str {
        "llm_triage"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        // Resolved alerts need no diagnosis; triage follow-ups are never routed here.
        if alert.kind != AlertKind::Firing {
            return Box::pin(async { Ok(()) });
        }
        let attempt = self.count_attempt(alert);
        let (name, id) = (self.name.clone(), alert.id.clone());
        if !self.budget.try_take(Instant::now()) {
            tracing::warn!(channel = %name, alert = %id, calls_per_hour = self.settings.calls_per_hour,
                "LLM triage budget spent for this hour; alert not triaged.");
            return Box::pin(async { Ok(()) });
        }
        let (system, user) = prompt(alert, &self.settings.language);
        let body = request_body(
            &self.settings.model,
            &system,
            &user,
            &self.settings.max_tokens_field,
        );
        let body = Bytes::from(body.to_string());
        let key = Redactor::new([self.settings.api_key.clone()]);
        let req = self
            .client
            .post(&self.url)
            .insert_header((
                "Authorization",
                format!("Bearer {}", self.settings.api_key.expose()),
            ))
            .insert_header(("Content-Type", "application/json"));
        let timeout = self.settings.timeout;
        let router = self.router.clone();
        Box::pin(async move {
            let call = async {
                // The model's judgement covers transport failures too: a model that cannot be
                // reached is logged, not retried (the alert itself went out already).
                let answer = match http::send(req, body, ReadBody::always(MAX_BODY)).await {
                    Ok(answer) => answer,
                    Err(e) => return Err(http::transport_failure(e).to_string()),
                };
                if let Some(e) = &answer.unreadable {
                    return Err(format!("HTTP {}, unreadable body: {e}", answer.status));
                }
                let after = model_retry_after(&answer.headers, SystemTime::now());
                let verdict = should_retry(&answer.headers);
                Ok::<_, String>(judge_reply(answer.status, after, verdict, &answer.body))
            };
            let outcome = match actix_rt::time::timeout(timeout, call).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(reason)) => ModelOutcome::Failed(reason),
                Err(_) => ModelOutcome::Failed(format!(
                    "no answer within {}",
                    humantime::format_duration(timeout)
                )),
            };
            match outcome {
                ModelOutcome::Answer(text) => {
                    tracing::debug!(channel = %name, alert = %id, attempt, "LLM triage answered.");
                    router.do_send(Triage { alert_id: id, text });
                    Ok(())
                }
                ModelOutcome::Retry { reason, after } if attempt < MAX_MODEL_ATTEMPTS => {
                    Err(DeliveryError::Retryable {
                        reason: key.text(&reason),
                        retry_after: after,
                    })
                }
                ModelOutcome::Retry { reason, .. } | ModelOutcome::Failed(reason) => {
                    let reason = key.text(&reason);
                    tracing::warn!(channel = %name, alert = %id, attempt, %reason,
                        "LLM triage failed; the alert was delivered without it.");
                    Ok(())
                }
            }
        })
    }
}
