//! The one HTTP delivery skeleton every HTTP channel uses.
//!
//! A platform supplies two things: the request with its encoded payload, and the judgement
//! of the answer. Everything between is here, once: sending the request, turning a transport
//! failure into a [`DeliveryError`] ([`transport_failure`], the one mapping), reading
//! `Retry-After`, reading a bounded answer body, and passing every failure reason through the
//! one redaction rule ([`crate::config::redact`]) with the channel's secrets ([`Redactor`]).
//!
//! This module owns no state and touches nothing but the request it is given; the retry,
//! back-off and queue around an attempt belong to [`crate::channel::ChannelActor`].

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use awc::http::header::HeaderMap;
use bytes::Bytes;
use serde::Serialize;

use crate::client::{TransportError, classify_send_error, http_reason, retry_after};
use crate::config::{Secret, redact};
use crate::error::DeliveryError;

/// How much of an error answer is read by default, to quote the platform's reason.
pub const MAX_ANSWER: usize = 64 * 1024;

/// Which answers have their body read, and how much of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBody {
    /// The most bytes read; a larger body is cut (failures) or reported unreadable.
    pub limit: usize,
    /// Read the body of a 2xx answer too. Off for platforms whose 2xx says everything: once
    /// the status says delivered, a large, stalled or broken body must not turn the delivery
    /// into a retry (that would deliver the alert again).
    pub on_success: bool,
}

impl ReadBody {
    /// Only failures' bodies, at most [`MAX_ANSWER`] bytes: what a notification platform needs.
    pub const FAILURES: Self = Self {
        limit: MAX_ANSWER,
        on_success: false,
    };

    /// Every answer's body, at most `limit` bytes (a platform whose 2xx carries the result).
    pub const fn always(limit: usize) -> Self {
        Self {
            limit,
            on_success: true,
        }
    }
}

/// What a platform answered: all a platform's judgement gets to see.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// The answer's headers (for platform-specific ones).
    pub headers: HeaderMap,
    /// The standard `Retry-After` header, when present and parseable.
    pub retry_after: Option<Duration>,
    /// The body as far as read (empty when not read or unreadable).
    pub body: Bytes,
    /// Why the body could not be read, when it was to be read and could not.
    pub unreadable: Option<String>,
}

impl Answer {
    /// The status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value as text, when present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A channel's secrets, for the one redaction rule. Cheap to clone into an attempt's future.
#[derive(Debug, Clone, Default)]
pub struct Redactor(Rc<[Secret]>);

impl Redactor {
    /// Redacts each of `secrets` (empty ones are ignored by the rule itself).
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> Self {
        Self(secrets.into_iter().collect())
    }

    /// `text` with every secret redacted ([`crate::config::redact`]).
    pub fn text(&self, text: &str) -> String {
        let secrets: Vec<&Secret> = self.0.iter().collect();
        redact(text, &secrets)
    }

    /// `e` with its reason redacted.
    pub fn error(&self, e: DeliveryError) -> DeliveryError {
        e.map_reason(|reason| self.text(&reason))
    }
}

/// The credentials a URL carries in its user-info (`scheme://user:pass@host/…`): the whole
/// user-info and the password, as secrets to redact. None when it carries none.
pub fn url_credentials(url: &str) -> Vec<Secret> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return Vec::new();
    };
    let mut out = vec![Secret::new(userinfo)];
    if let Some((_, password)) = userinfo.split_once(':') {
        out.push(Secret::new(password));
    }
    out
}

/// Encodes a platform's payload as JSON; `what` names it in the reason of a failure
/// (`cannot encode alert: …`), which is a rejection: encoding again cannot succeed.
pub fn encode_json<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Bytes, DeliveryError> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| DeliveryError::Rejected {
            reason: format!("cannot encode {what}: {e}"),
        })
}

/// The one mapping of a transport failure to a delivery result: a request that cannot be
/// built (a bad URL) is a rejection; a timeout or a failed, refused or reset connection is
/// retried. The reason is the failure's text, to be redacted by the caller's [`Redactor`].
pub fn transport_failure(e: TransportError) -> DeliveryError {
    match e {
        TransportError::Request(_) => DeliveryError::Rejected {
            reason: e.to_string(),
        },
        other => DeliveryError::Retryable {
            reason: other.to_string(),
            retry_after: None,
        },
    }
}

/// Sends `req` with `body` and reads the answer as `read` says. A transport failure is
/// classified ([`crate::client::classify_send_error`]); the caller's deadline bounds it all.
pub async fn send(
    req: awc::ClientRequest,
    body: Bytes,
    read: ReadBody,
) -> Result<Answer, TransportError> {
    let mut resp = req
        .send_body(body)
        .await
        .map_err(|e| classify_send_error(&e))?;
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers(), SystemTime::now());
    let headers = resp.headers().clone();
    let success = (200..300).contains(&status);
    let (body, unreadable) = if success && !read.on_success {
        (Bytes::new(), None)
    } else {
        match resp.body().limit(read.limit).await {
            Ok(body) => (body, None),
            Err(e) => (Bytes::new(), Some(e.to_string())),
        }
    };
    Ok(Answer {
        status,
        headers,
        retry_after,
        body,
        unreadable,
    })
}

/// The plain HTTP judgement (the webhook's and Alertmanager's): 2xx delivered; 408, 425,
/// 429 and 5xx retried, with the platform's `Retry-After`; any other status rejected,
/// quoting the start of the body.
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

/// One delivery attempt: sends `req` with `body` (only failures' bodies read, see
/// [`ReadBody::FAILURES`]), lets the platform's `judge` decide on the answer, maps a transport
/// failure with [`transport_failure`], and redacts every failure's reason with `redactor`.
/// A body that cannot be read is judged as empty: the status decides.
pub async fn deliver(
    req: awc::ClientRequest,
    body: Bytes,
    redactor: &Redactor,
    judge: impl FnOnce(&Answer) -> Result<(), DeliveryError>,
) -> Result<(), DeliveryError> {
    let result = match send(req, body, ReadBody::FAILURES).await {
        Ok(answer) => judge(&answer),
        Err(e) => Err(transport_failure(e)),
    };
    result.map_err(|e| redactor.error(e))
}

/// One JSON delivery, the common case of [`deliver`]: encodes `payload` ([`encode_json`],
/// `what` naming it), posts it on `req` (the platform's URL and headers) with
/// `Content-Type: application/json`, and lets `judge` decide on the answer. A channel that
/// needs the encoded body itself (the webhook signs it) calls the parts.
pub fn post_json<T: Serialize + ?Sized>(
    req: awc::ClientRequest,
    payload: &T,
    what: &str,
    redactor: &Redactor,
    judge: impl FnOnce(&Answer) -> Result<(), DeliveryError> + 'static,
) -> futures_util::future::LocalBoxFuture<'static, Result<(), DeliveryError>> {
    let body = match encode_json(payload, what) {
        Ok(body) => body,
        Err(e) => return Box::pin(async move { Err(e) }),
    };
    let req = req.insert_header(("Content-Type", "application/json"));
    let redactor = redactor.clone();
    // The ChannelActor bounds the whole attempt with the channel's timeout.
    Box::pin(async move { deliver(req, body, &redactor, judge).await })
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

    #[test]
    fn transport_failures_map_once() {
        assert!(matches!(
            transport_failure(TransportError::Request("no scheme".into())),
            DeliveryError::Rejected { reason } if reason == "bad request: no scheme"
        ));
        assert!(matches!(
            transport_failure(TransportError::Timeout),
            DeliveryError::Retryable { reason, retry_after: None } if reason == "timed out"
        ));
        assert!(matches!(
            transport_failure(TransportError::Connect("refused".into())),
            DeliveryError::Retryable { reason, .. } if reason == "connection failed: refused"
        ));
    }

    #[test]
    fn url_credentials_are_found_and_redacted() {
        let secrets = url_credentials("http://am:s3cret@alertmanager:9093/api/v2/alerts");
        let redactor = Redactor::new(secrets);
        assert_eq!(
            redactor.text("cannot reach http://am:s3cret@alertmanager; s3cret"),
            "cannot reach http://***@alertmanager; ***"
        );
        assert!(url_credentials("http://alertmanager:9093/x@y").is_empty());
        assert!(url_credentials("no url").is_empty());
    }

    #[test]
    fn the_redactor_scrubs_both_kinds_of_failure() {
        let r = Redactor::new([Secret::new("tok")]);
        assert_eq!(
            r.error(DeliveryError::Rejected {
                reason: "bad tok".into()
            }),
            DeliveryError::Rejected {
                reason: "bad ***".into()
            }
        );
    }
}
