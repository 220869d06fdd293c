//! The `webhook` channel: POSTs each alert as the design's JSON payload
//! (`Content-Type: application/json`) to a URL. 2xx is delivered; 408, 425, 429 and 5xx are
//! retried (honouring `Retry-After`); 410 and other 4xx are rejections. The answer body is
//! read bounded, only to quote the platform's reason.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::LocalBoxFuture;

use crate::channel::Channel;
use crate::client::{TransportError, bounded_text, fetch};
use crate::error::DeliveryError;
use crate::messages::Alert;

/// How much of a receiver's answer is read, to quote its reason in the log.
const MAX_ANSWER: usize = 64 * 1024;

/// Posts alerts to one URL.
pub struct WebhookChannel {
    client: awc::Client,
    url: String,
}

impl WebhookChannel {
    /// A webhook to `url`, through `client` (built on the channel's arbiter).
    pub fn new(client: awc::Client, url: String) -> Self {
        Self { client, url }
    }
}

/// Turns an HTTP answer into a delivery result; shared by every HTTP channel.
pub fn judge_answer(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), DeliveryError> {
    let reason = || {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {}", bounded_text(text, 200))
        }
    };
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
        let req = self
            .client
            .post(&self.url)
            .insert_header(("Content-Type", "application/json"));
        Box::pin(async move {
            // The ChannelActor bounds the attempt with the channel's timeout; this deadline
            // only has to be longer.
            let reply = fetch(req, Some(body), MAX_ANSWER, Duration::from_secs(3600))
                .await
                .map_err(transport_failure)?;
            judge_answer(reply.status, reply.retry_after, &reply.body)
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
