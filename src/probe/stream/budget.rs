//! The per-venue connection budget, pure: a token bucket per venue that every stream of one
//! monitor draws a token from before each connection attempt, so that reconnects after a
//! venue-wide cut (or a crash loop) stay under the venue's connection-attempt limit however
//! many streams there are. Time is given by the caller.
//!
//! | venue | limit (apis.md A5) | bucket |
//! |---|---|---|
//! | Binance | 300 connection attempts per 5 min per IP | 300, refilled 1 a second |
//! | Bybit | 500 connections per 5 min | 500, refilled 1.66 a second |
//! | OKX | 3 connection requests per second per IP | 3, refilled 3 a second |

use std::collections::HashMap;
use std::time::Duration;

use actix::clock::Instant;
use parking_lot::Mutex;

use crate::probe::stream::config::Venue;

/// The bucket of `venue`: (capacity, tokens per second).
pub fn limit(venue: Venue) -> (f64, f64) {
    match venue {
        Venue::Binance => (300.0, 1.0),
        Venue::Bybit => (500.0, 500.0 / 300.0),
        Venue::Okx => (3.0, 3.0),
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Every venue's bucket, shared by one monitor's streams.
#[derive(Debug, Default)]
pub struct ConnectBudget {
    buckets: Mutex<HashMap<Venue, Bucket>>,
}

impl ConnectBudget {
    /// A full budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a token for a connection attempt to `venue` at `now`: `Ok` to go, or how long to
    /// wait for the next token.
    pub fn take(&self, venue: Venue, now: Instant) -> Result<(), Duration> {
        let (capacity, rate) = limit(venue);
        let mut buckets = self.buckets.lock();
        let b = buckets.entry(venue).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(capacity);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okx_allows_three_attempts_a_second_and_says_when_the_next_is_due() {
        let budget = ConnectBudget::new();
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(budget.take(Venue::Okx, t), Ok(()));
        }
        let wait = budget.take(Venue::Okx, t).unwrap_err();
        assert!(
            wait > Duration::from_millis(300) && wait <= Duration::from_millis(334),
            "{wait:?}"
        );
        assert_eq!(
            budget.take(Venue::Okx, t + Duration::from_millis(340)),
            Ok(())
        );
        // Venues draw from their own buckets.
        assert_eq!(budget.take(Venue::Binance, t), Ok(()));
    }

    #[test]
    fn binance_bursts_to_300_then_one_a_second() {
        let budget = ConnectBudget::new();
        let t = Instant::now();
        for _ in 0..300 {
            assert!(budget.take(Venue::Binance, t).is_ok());
        }
        assert!(budget.take(Venue::Binance, t).is_err());
        assert!(
            budget
                .take(Venue::Binance, t + Duration::from_secs(1))
                .is_ok()
        );
    }
}
