//! The `webhook` channel: POSTs each alert as the design's JSON payload
//! (`Content-Type: application/json`) to a URL. 2xx is delivered; 408, 425, 429 and 5xx are
//! retried (honouring `Retry-After`); 410 and other 4xx are rejections. The answer body is
//! read bounded, only to quote the platform's reason: once the status says 2xx the alert is
//! delivered, whatever follows.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;

use crate::channel::Channel;
use crate::channel::signature::{SIGNATURE_HEADER, sign};
use crate::client::{TransportError, classify_send_error, http_reason, retry_after};
use crate::config::Secret;
use crate::error::DeliveryError;
use crate::messages::{Alert, Timestamp};

/// How much of a receiver's answer is read, to quote its reason in the log.
const MAX_ANSWER: usize = 64 * 1024;

/// Posts alerts to one URL.
pub struct WebhookChannel {
    client: awc::Client,
    url: String,
    secret: Option<Secret>,
}

impl WebhookChannel {
    /// A webhook to `url`, through `client` (built on the channel's arbiter); with a
    /// `secret`, every request is signed (see [`crate::channel::signature`]).
    pub fn new(client: awc::Client, url: String, secret: Option<Secret>) -> Self {
        Self {
            client,
            url,
            secret,
        }
    }
}

/// Turns an HTTP answer into a delivery result; shared by every HTTP channel.
pub fn judge_answer(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), DeliveryError> {
    let reason = || http_reason(status, body);
    match status {
        200..=299 => Ok(()),
        408 | 425 | 429 | 500..=599 => Err(DeliveryError::Retryable {
            reason: reason(),
            retry_after,
        }),
        _ => Err(DeliveryError::Rejected { reason: reason() }),
    }
}

/// Turns a transport failure into a (retryable) delivery error.
pub fn transport_failure(e: TransportError) -> DeliveryError {
    match e {
        TransportError::Request(reason) => DeliveryError::Rejected { reason },
        other => DeliveryError::Retryable {
            reason: other.to_string(),
            retry_after: None,
        },
    }
}

impl Channel for WebhookChannel {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn deliver(&mut self, alert: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        let body = match serde_json::to_vec(alert) {
            Ok(body) => Bytes::from(body),
            Err(e) => {
                let reason = format!("cannot encode alert: {e}");
                return Box::pin(async move { Err(DeliveryError::Rejected { reason }) });
            }
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
        // The ChannelActor bounds the whole attempt with the channel's timeout.
        Box::pin(async move {
            let mut resp = req
                .send_body(body)
                .await
                .map_err(|e| transport_failure(classify_send_error(&e)))?;
            let status = resp.status().as_u16();
            if (200..300).contains(&status) {
                // Received. A large, stalled or broken answer body must not turn this into a
                // retry: that would deliver the alert again.
                return Ok(());
            }
            let retry_after = retry_after(resp.headers(), SystemTime::now());
            // The body only quotes the reason; the status decides, even if it cannot be read.
            let body = resp.body().limit(MAX_ANSWER).await.unwrap_or_default();
            judge_answer(status, retry_after, &body)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_answers_map_to_delivery_results() {
        assert_eq!(judge_answer(204, None, b""), Ok(()));
        assert!(matches!(
            judge_answer(429, Some(Duration::from_secs(3)), b""),
            Err(DeliveryError::Retryable { retry_after: Some(d), .. }) if d == Duration::from_secs(3)
        ));
        assert!(matches!(
            judge_answer(503, None, b"busy"),
            Err(DeliveryError::Retryable { .. })
        ));
        assert!(matches!(
            judge_answer(400, None, b"bad field"),
            Err(DeliveryError::Rejected { reason }) if reason == "HTTP 400: bad field"
        ));
    }
}
