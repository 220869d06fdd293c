//! TEMPORARY stub (replaced on merge).
#![allow(missing_docs)]
use crate::config::{CheckProfile, EndpointKind};
use crate::messages::Outcome;
use std::time::Duration;
pub struct Answer<'a> {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: &'a [u8],
}
pub struct Verdict {
    pub outcome: Outcome,
    pub server_time_ms: Option<i64>,
    pub price: Option<f64>,
    pub retry_after: Option<Duration>,
    pub detail: Option<String>,
}
pub fn judge(_: CheckProfile, _: EndpointKind, a: &Answer<'_>) -> Verdict {
    let outcome = match a.status {
        200..=299 => Outcome::Ok,
        429 | 418 => Outcome::RateLimited,
        400..=499 => Outcome::Http4xx,
        500..=599 => Outcome::Http5xx,
        _ => Outcome::BadBody,
    };
    Verdict {
        outcome,
        server_time_ms: None,
        price: None,
        retry_after: a.retry_after,
        detail: None,
    }
}
