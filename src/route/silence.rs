//! Silences set by people (`/api/v1/silences`): which series they match and when they are
//! active. Pure: no actor, no clock; every question takes "now" (event time).
//!
//! A silence matches exchange, endpoint and metric, each optional (absent: any), at least one
//! given. It is active from `starts_at` (inclusive) to `ends_at` (exclusive). The Router keeps
//! the silences not yet over on a [`SilenceBoard`]; the event store keeps them all.
//! Announced maintenance ([`crate::route::maintenance`]) is the exchange-wide silence an
//! exchange sets itself; these are the ones an operator sets.

use std::fmt;

use crate::messages::{Metric, SeriesKey, Timestamp};

pub use crate::messages::Silence;

/// The longest comment a silence may carry, in characters.
pub const MAX_COMMENT: usize = 1000;

/// Why a silence is not valid: the field at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SilenceError {
    /// The field (`ends_at`, `comment`, `exchange` …).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl Silence {
    /// Checks the rules every silence obeys: at least one matcher, an end after the start, a
    /// comment of 1 to [`MAX_COMMENT`] characters.
    pub fn validate(&self) -> Result<(), SilenceError> {
        let err = |field, message: &str| {
            Err(SilenceError {
                field,
                message: message.to_owned(),
            })
        };
        if self.exchange.is_none() && self.endpoint.is_none() && self.metric.is_none() {
            return err(
                "exchange",
                "at least one matcher (exchange, endpoint or metric) is required",
            );
        }
        if self.ends_at <= self.starts_at {
            return err("ends_at", "must be after starts_at");
        }
        if self.comment.trim().is_empty() {
            return err("comment", "required");
        }
        if self.comment.chars().count() > MAX_COMMENT {
            return err("comment", "longer than 1000 characters");
        }
        Ok(())
    }

    /// Whether it matches `series` (whatever the time).
    pub fn matches(&self, series: &SeriesKey) -> bool {
        self.exchange.as_ref().is_none_or(|e| *e == series.exchange)
            && self.endpoint.as_ref().is_none_or(|e| *e == series.endpoint)
            && self.metric.is_none_or(|m| m == series.metric)
    }

    /// Whether it is in force at `now`.
    pub fn active_at(&self, now: Timestamp) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Whether it is over at `now` (it will never be active again).
    pub fn ended_at(&self, now: Timestamp) -> bool {
        self.ends_at <= now
    }
}

impl fmt::Display for Silence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let any = |o: Option<&str>| o.unwrap_or("*").to_owned();
        write!(
            f,
            "silence {} on {}/{}/{} until {}",
            self.id,
            any(self.exchange.as_deref()),
            any(self.endpoint.as_deref()),
            any(self.metric.map(Metric::as_str)),
            self.ends_at
        )
    }
}

/// The silences not over yet (active or still to begin), as the Router holds them.
#[derive(Debug, Default)]
pub struct SilenceBoard {
    silences: Vec<Silence>,
}

impl SilenceBoard {
    /// No silence.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces, by id) a silence.
    pub fn add(&mut self, s: Silence) {
        self.silences.retain(|x| x.id != s.id);
        self.silences.push(s);
    }

    /// Ends silence `id` at `now` (if it ends later) and takes it off the board; the silence
    /// as it ended. `None` when the board does not hold it.
    pub fn expire(&mut self, id: &str, now: Timestamp) -> Option<Silence> {
        let i = self.silences.iter().position(|s| &*s.id == id)?;
        let mut s = self.silences.swap_remove(i);
        if s.ends_at > now {
            s.ends_at = now;
            // A silence that had not begun yet ends before its start: keep it valid.
            s.starts_at = s.starts_at.min(now);
        }
        Some(s)
    }

    /// The active silence matching `series` at `now` that ends last, if any.
    pub fn matching(&self, series: &SeriesKey, now: Timestamp) -> Option<&Silence> {
        self.silences
            .iter()
            .filter(|s| s.active_at(now) && s.matches(series))
            .max_by_key(|s| s.ends_at)
    }

    /// The earliest end after `now` among the silences on the board: when the Router looks
    /// again for series to let out.
    pub fn next_end(&self, now: Timestamp) -> Option<Timestamp> {
        self.silences
            .iter()
            .map(|s| s.ends_at)
            .filter(|&e| e > now)
            .min()
    }

    /// Drops the silences over at `now`.
    pub fn prune(&mut self, now: Timestamp) {
        self.silences.retain(|s| !s.ended_at(now));
    }

    /// The silences on the board, in no particular order.
    pub fn all(&self) -> &[Silence] {
        &self.silences
    }

    /// Whether the board is empty.
    pub fn is_empty(&self) -> bool {
        self.silences.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Name;

    fn silence(
        exchange: Option<&str>,
        endpoint: Option<&str>,
        metric: Option<Metric>,
        from: i64,
        to: i64,
    ) -> Silence {
        Silence {
            id: crate::messages::new_id(),
            exchange: exchange.map(Name::from),
            endpoint: endpoint.map(Name::from),
            metric,
            starts_at: Timestamp(from),
            ends_at: Timestamp(to),
            comment: "deploy".into(),
            created_by: None,
        }
    }

    #[test]
    fn matchers_are_each_optional_and_all_must_hold() {
        let okx_time = SeriesKey::new("okx", "time", Metric::Errors);
        let okx_ping = SeriesKey::new("okx", "ping", Metric::LatencyMs);
        let bybit_time = SeriesKey::new("bybit", "time", Metric::Errors);
        let by_exchange = silence(Some("okx"), None, None, 0, 10);
        assert!(by_exchange.matches(&okx_time) && by_exchange.matches(&okx_ping));
        assert!(!by_exchange.matches(&bybit_time));
        let by_metric = silence(None, None, Some(Metric::Errors), 0, 10);
        assert!(by_metric.matches(&okx_time) && by_metric.matches(&bybit_time));
        assert!(!by_metric.matches(&okx_ping));
        let exact = silence(Some("okx"), Some("time"), Some(Metric::Errors), 0, 10);
        assert!(exact.matches(&okx_time));
        assert!(!exact.matches(&okx_ping) && !exact.matches(&bybit_time));
        let endpoint_only = silence(None, Some("time"), None, 0, 10);
        assert!(endpoint_only.matches(&bybit_time) && !endpoint_only.matches(&okx_ping));
    }

    #[test]
    fn active_from_start_inclusive_to_end_exclusive() {
        let s = silence(Some("okx"), None, None, 100, 200);
        assert!(!s.active_at(Timestamp(99)));
        assert!(s.active_at(Timestamp(100)) && s.active_at(Timestamp(199)));
        assert!(!s.active_at(Timestamp(200)));
        assert!(!s.ended_at(Timestamp(199)) && s.ended_at(Timestamp(200)));
    }

    #[test]
    fn validation_names_the_field() {
        assert_eq!(
            silence(None, None, None, 0, 10)
                .validate()
                .unwrap_err()
                .field,
            "exchange"
        );
        assert_eq!(
            silence(Some("okx"), None, None, 10, 10)
                .validate()
                .unwrap_err()
                .field,
            "ends_at"
        );
        let mut s = silence(Some("okx"), None, None, 0, 10);
        s.comment = "  ".into();
        assert_eq!(s.validate().unwrap_err().field, "comment");
        s.comment = "é".repeat(MAX_COMMENT);
        assert!(s.validate().is_ok(), "1000 characters, not bytes");
        s.comment.push('x');
        assert_eq!(s.validate().unwrap_err().field, "comment");
    }

    #[test]
    fn the_board_matches_the_longest_active_and_knows_the_next_end() {
        let okx = SeriesKey::new("okx", "time", Metric::Errors);
        let mut b = SilenceBoard::new();
        let short = silence(Some("okx"), None, None, 0, 100);
        let long = silence(None, Some("time"), None, 50, 300);
        let later = silence(Some("okx"), None, None, 500, 600);
        b.add(short.clone());
        b.add(long.clone());
        b.add(later.clone());
        assert_eq!(
            b.matching(&okx, Timestamp(10)).map(|s| &s.id),
            Some(&short.id)
        );
        assert_eq!(
            b.matching(&okx, Timestamp(60)).map(|s| &s.id),
            Some(&long.id)
        );
        assert!(b.matching(&okx, Timestamp(400)).is_none());
        assert_eq!(
            b.matching(&okx, Timestamp(550)).map(|s| &s.id),
            Some(&later.id)
        );
        assert_eq!(b.next_end(Timestamp(0)), Some(Timestamp(100)));
        assert_eq!(b.next_end(Timestamp(100)), Some(Timestamp(300)));
        b.prune(Timestamp(300));
        assert_eq!(b.all().len(), 1);
        // Expiring a silence not yet begun ends it at once and keeps it valid.
        let gone = b.expire(&later.id, Timestamp(400)).expect("on the board");
        assert_eq!(
            (gone.starts_at, gone.ends_at),
            (Timestamp(400), Timestamp(400))
        );
        assert!(b.is_empty());
        assert!(b.expire(&later.id, Timestamp(400)).is_none());
    }

    #[test]
    fn expiring_keeps_an_earlier_end() {
        let mut b = SilenceBoard::new();
        let s = silence(Some("okx"), None, None, 0, 100);
        b.add(s.clone());
        let gone = b.expire(&s.id, Timestamp(50)).expect("held");
        assert_eq!(gone.ends_at, Timestamp(50));
    }
}
