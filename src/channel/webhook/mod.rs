//! The `webhook` channel: POSTs each alert as the design's JSON payload
//! (`Content-Type: application/json`) to a URL. 2xx is delivered; 408, 425, 429 and 5xx are
//! retried (honouring `Retry-After`); 410 and other 4xx are rejections ([`http::judge_answer`]). The answer body is
//! read bounded, only to quote the platform's reason: once the status says 2xx the alert is
//! delivered, whatever follows.

pub mod config;

use futures_util::future::LocalBoxFuture;

use crate::channel::Channel;
use crate::channel::http::{self, Redactor};
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::channel::signature::{SIGNATURE_HEADER, sign};
use crate::client::build_client;
use crate::config::RetrySettings;
use crate::config::Secret;
use crate::error::DeliveryError;
use crate::messages::{Alert, Timestamp};
use config::WebhookSpec;

/// Posts alerts to one URL.
pub struct WebhookChannel {
    client: awc::Client,
    url: String,
    secret: Option<Secret>,
    redactor: Redactor,
}

impl std::fmt::Debug for WebhookChannel {
    /// The URL with its credentials (if any) redacted, and no signing secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("url", &self.redactor.text(&self.url))
            .field("secret", &self.secret)
            .finish_non_exhaustive()
    }
}

impl WebhookChannel {
    /// A webhook to `url`, through `client` (built on the channel's arbiter); with a
    /// `secret`, every request is signed (see [`crate::channel::signature`]).
    pub fn new(client: awc::Client, url: String, secret: Option<Secret>) -> Self {
        let redactor = Redactor::new(secret.iter().cloned().chain(http::url_credentials(&url)));
        Self {
            client,
            url,
            secret,
            redactor,
        }
    }
}

impl Channel for WebhookChannel {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let body = match http::encode_json(alert, "alert") {
            Ok(body) => body,
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        let mut req = self
            .client
            .post(&self.url)
            .insert_header(("Content-Type", "application/json"));
        if let Some(secret) = &self.secret {
            // Signed per attempt, so a retry carries a fresh timestamp.
            let t = Timestamp::now().as_millis() / 1000;
            req = req.insert_header((SIGNATURE_HEADER, sign(secret, t, &body)));
        }
        let redactor = self.redactor.clone();
        // The ChannelActor bounds the whole attempt with the channel's timeout.
        Box::pin(async move {
            http::deliver(req, body, &redactor, |answer| {
                http::judge_answer(answer.status, answer.retry_after, &answer.body)
            })
            .await
        })
    }
}

/// The retry policy and the builder of a `webhook` channel, from its validated spec.
pub fn make(spec: WebhookSpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let timeout = cx.retry.timeout;
    (
        cx.retry.clone(),
        Box::new(move || {
            Box::new(WebhookChannel::new(
                build_client(4, timeout),
                spec.url,
                spec.secret,
            ))
        }),
    )
}
