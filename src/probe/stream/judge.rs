//! The stream judge, pure: the data messages of one stream and the passing of time in,
//! [`Reading`]s out. It learns the stream's cadence, measures lag on every message, and says
//! when the stream is stale (silent beyond a few cadences), frozen (messages that do not
//! advance), broken (a sequence gap, with its size where the venue lets it be known) or
//! churning (unplanned reconnects beyond the budget). Time is given as milliseconds since the
//! epoch by the caller; nothing here reads a clock or allocates per message.
//!
//! Readings go out once a second ([`FLUSH_MS`]) and at once when a state changes (a stall
//! begins, a gap is seen, the stream freezes), so a stall is reported within its threshold plus
//! one tick, while a healthy stream costs one measurement per metric a second.

use std::collections::VecDeque;
use std::time::Duration;

use crate::probe::stream::venue::Data;
use crate::status::view::StreamStatus;

/// Readings of a healthy stream go out this often.
pub const FLUSH_MS: i64 = 1000;

/// Consecutive data messages that do not advance (same event time, same update id) that make a
/// stream frozen.
pub const FROZEN_REPEATS: u32 = 5;

/// The stale threshold until the cadence is learned (and no `stale_after` is set).
pub const UNLEARNED_STALE: Duration = Duration::from_secs(10);

/// Inter-arrival samples needed before the learned cadence is trusted.
pub const CADENCE_SAMPLES: u32 = 20;

/// The stale threshold is this many learned cadences (mean + 3σ of the inter-arrival time) …
pub const STALE_CADENCES: f64 = 3.0;

/// … plus this slack, in ms (and never less than it).
pub const STALE_SLACK_MS: f64 = 500.0;

/// Flushes a flag (frozen, gap, churn) is still reported after it was last raised, healthy,
/// so that its series resolves; after that a healthy flag is not sent (silence and lag always
/// are).
pub const HEALTHY_AFTER_FLAG: u32 = 30;

const FROZEN: usize = 0;
const GAP: usize = 1;
const CHURN: usize = 2;

/// What the judge reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// The largest lag (receive time − event time, corrected by the clock skew) of the messages since the last
    /// reading, ms.
    Lag(f64),
    /// Time since the last data message, ms; `stale` past the threshold.
    Silence {
        /// Milliseconds without data.
        ms: f64,
        /// Beyond the stale threshold.
        stale: bool,
        /// The threshold, ms.
        threshold_ms: f64,
    },
    /// Data messages in a row that did not advance; `frozen` from [`FROZEN_REPEATS`] on.
    Frozen {
        /// Repeats in a row.
        repeats: u32,
        /// Frozen now.
        frozen: bool,
    },
    /// Updates missing since the last reading (0: continuous); `gaps` breaks seen.
    Gap {
        /// Missing updates (a break of unknown size counts 1).
        missing: u64,
        /// Breaks seen.
        gaps: u32,
    },
    /// Unplanned reconnects in the last hour; `over` the budget.
    Churn {
        /// Reconnects in the last hour.
        reconnects: usize,
        /// Beyond `reconnects_per_hour`.
        over: bool,
    },
}

/// What one data message showed, for the per-message metrics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observed {
    /// Its lag, ms (clamped at 0), when it carries an event time.
    pub lag_ms: Option<f64>,
    /// Updates missing before it, when it broke the sequence.
    pub gap: Option<u64>,
    /// A duplicate of what was already seen (after a resubscribe): ignored.
    pub duplicate: bool,
}

/// The learned inter-arrival time: an exponentially weighted mean and variance.
#[derive(Debug, Clone, Copy, Default)]
struct Cadence {
    n: u32,
    mean: f64,
    var: f64,
}

impl Cadence {
    fn add(&mut self, gap_ms: f64) {
        self.n = self.n.saturating_add(1);
        let alpha = (1.0 / f64::from(self.n)).max(0.05);
        let d = gap_ms - self.mean;
        self.mean += alpha * d;
        self.var = (1.0 - alpha) * (self.var + alpha * d * d);
    }

    /// A high cadence (mean + 3σ), once learned.
    fn high(&self) -> Option<f64> {
        (self.n >= CADENCE_SAMPLES).then(|| self.mean + 3.0 * self.var.sqrt())
    }
}

/// The judge of one stream. See the module docs.
#[derive(Debug)]
pub struct Judge {
    stale_after: Option<Duration>,
    budget: usize,
    started_at: i64,
    last_data_at: Option<i64>,
    cadence: Cadence,
    stale: bool,
    last_time: Option<i64>,
    last_id: Option<i64>,
    repeats: u32,
    frozen: bool,
    /// The next message follows a (re)subscribe: it may overlap what was seen.
    resync: bool,
    missing: u64,
    gaps: u32,
    lag_max: Option<f64>,
    skew_ms: f64,
    reconnects: VecDeque<i64>,
    churning: bool,
    next_flush: i64,
    messages: u64,
    /// Flushes since each flag (frozen, gap, churn) was last raised.
    since_flag: [u32; 3],
}

impl Judge {
    /// A judge started at `now`; `stale_after` overrides the learned threshold; more than
    /// `reconnects_per_hour` unplanned reconnects in an hour is churn.
    pub fn new(now: i64, stale_after: Option<Duration>, reconnects_per_hour: usize) -> Self {
        Self {
            stale_after,
            budget: reconnects_per_hour,
            started_at: now,
            last_data_at: None,
            cadence: Cadence::default(),
            stale: false,
            last_time: None,
            last_id: None,
            repeats: 0,
            frozen: false,
            resync: true,
            missing: 0,
            gaps: 0,
            lag_max: None,
            skew_ms: 0.0,
            reconnects: VecDeque::new(),
            churning: false,
            next_flush: now + FLUSH_MS,
            messages: 0,
            since_flag: [HEALTHY_AFTER_FLAG; 3],
        }
    }

    /// The venue's clock minus ours, ms (from its `time` endpoint): every lag is corrected by
    /// it, so a skewed clock does not read as lag (nor hide it).
    pub fn set_skew(&mut self, skew_ms: f64) {
        if skew_ms.is_finite() {
            self.skew_ms = skew_ms;
        }
    }

    /// The silence that counts as a stall now.
    pub fn stale_threshold(&self) -> Duration {
        if let Some(d) = self.stale_after {
            return d;
        }
        match self.cadence.high() {
            Some(hi) => Duration::from_millis(
                (STALE_CADENCES * hi + STALE_SLACK_MS).max(STALE_SLACK_MS) as u64,
            ),
            None => UNLEARNED_STALE,
        }
    }

    /// The learned mean interval between data messages, once learned.
    pub fn cadence(&self) -> Option<Duration> {
        (self.cadence.n >= CADENCE_SAMPLES)
            .then(|| Duration::from_micros((self.cadence.mean.max(0.0) * 1000.0) as u64))
    }

    /// Data messages judged.
    pub fn messages(&self) -> u64 {
        self.messages
    }

    /// The judge's part of what the status board shows of its stream at `now` (ms): state,
    /// messages, silence, cadence and stall threshold, and the message rate since the board
    /// was last told (`since` ago, when `messages_then` had been judged). The caller names the
    /// stream and adds what it counts itself (connection, lag, reconnects, gaps, source).
    pub fn status(&self, now: i64, since: Duration, messages_then: u64) -> StreamStatus {
        let messages = self.messages;
        StreamStatus {
            state: self.state().to_owned(),
            messages,
            message_rate: messages.saturating_sub(messages_then) as f64
                / since.as_secs_f64().max(1e-3),
            silence_ms: self.silence(now).as_millis() as u64,
            cadence_ms: self.cadence().map(|c| c.as_secs_f64() * 1000.0),
            stale_after_ms: self.stale_threshold().as_millis() as u64,
            at: now,
            ..StreamStatus::default()
        }
    }

    /// Time since the last data message (or the start), at `now`.
    pub fn silence(&self, now: i64) -> Duration {
        let since = self.last_data_at.unwrap_or(self.started_at);
        Duration::from_millis(now.saturating_sub(since).max(0) as u64)
    }

    /// True while stale, frozen or churning (for the status board).
    pub fn state(&self) -> &'static str {
        if self.stale {
            "stale"
        } else if self.frozen {
            "frozen"
        } else if self.churning {
            "churning"
        } else if self.last_data_at.is_none() {
            "connecting"
        } else {
            "ok"
        }
    }

    /// A new subscription became the stream's source: the next message may overlap what was
    /// seen (make-before-break) or follow a hole (after an outage).
    pub fn resubscribed(&mut self) {
        self.resync = true;
    }

    /// A reconnect at `now`; `planned` ones (lifetime, announced shutdown) never count as
    /// churn. A change of the churn state is pushed to `out` at once.
    pub fn reconnected(&mut self, now: i64, planned: bool, out: &mut Vec<Reading>) {
        self.resync = true;
        if planned {
            return;
        }
        self.reconnects.push_back(now);
        self.prune(now);
        let over = self.reconnects.len() > self.budget;
        if over != self.churning {
            self.churning = over;
            self.flagged(CHURN);
            out.push(self.churn());
        }
    }

    fn prune(&mut self, now: i64) {
        while self
            .reconnects
            .front()
            .is_some_and(|&t| now - t > 3_600_000)
        {
            self.reconnects.pop_front();
        }
    }

    fn churn(&self) -> Reading {
        Reading::Churn {
            reconnects: self.reconnects.len(),
            over: self.churning,
        }
    }

    /// One data message received at `now`. Readings that cannot wait (a gap, a freeze, the end
    /// of a stall) are pushed to `out`.
    pub fn on_data(&mut self, now: i64, d: &Data, out: &mut Vec<Reading>) -> Observed {
        let mut seen = Observed::default();
        let continuity = self.continuity(d);
        match continuity {
            Continuity::Duplicate => {
                seen.duplicate = true;
                return seen;
            }
            Continuity::Gap(n) => {
                seen.gap = Some(n);
                self.missing = self.missing.saturating_add(n);
                self.gaps = self.gaps.saturating_add(1);
                self.flagged(GAP);
                out.push(Reading::Gap {
                    missing: n,
                    gaps: 1,
                });
            }
            Continuity::Ok => {}
        }
        self.messages += 1;
        if let Some(prev) = self.last_data_at {
            let gap = (now - prev).max(0) as f64;
            if gap < self.stale_threshold().as_millis() as f64 {
                self.cadence.add(gap);
            }
        }
        self.last_data_at = Some(now);
        if self.stale {
            self.stale = false;
            out.push(self.silence_reading(now));
        }
        // Progress: an event time or an update id that moves forward.
        let time_moved = match (d.event_time, self.last_time) {
            (Some(t), Some(last)) => Some(t > last),
            (Some(_), None) => Some(true),
            (None, _) => None,
        };
        let id_moved = match (d.last_id, self.last_id) {
            (Some(u), Some(last)) => Some(u != last),
            (Some(_), None) => Some(true),
            (None, _) => None,
        };
        match (time_moved, id_moved) {
            (None, None) => {}
            (t, i) if t == Some(true) || i == Some(true) => {
                if self.frozen {
                    self.frozen = false;
                    self.repeats = 0;
                    out.push(self.frozen_reading());
                }
                self.repeats = 0;
            }
            _ => {
                self.repeats = self.repeats.saturating_add(1);
                if self.repeats >= FROZEN_REPEATS && !self.frozen {
                    self.frozen = true;
                    self.flagged(FROZEN);
                    out.push(self.frozen_reading());
                }
            }
        }
        if let Some(t) = d.event_time {
            self.last_time = Some(self.last_time.map_or(t, |l| l.max(t)));
            // A venue clock ahead of ours (skew > 0) makes its event times look recent.
            let lag = (now as f64 - t as f64 + self.skew_ms).max(0.0);
            self.lag_max = Some(self.lag_max.map_or(lag, |m: f64| m.max(lag)));
            seen.lag_ms = Some(lag);
        }
        if let Some(u) = d.last_id {
            self.last_id = Some(if d.reset {
                u
            } else {
                self.last_id.map_or(u, |l| l.max(u))
            });
        }
        seen
    }

    /// The sequence rule of the venue, from the fields the message carries: Binance spot
    /// `U = previous u + 1`; Binance futures and OKX `pu`/`prevSeqId = previous u`; Bybit `u`
    /// never goes back. A snapshot or reset starts afresh. After a resubscribe the first
    /// message may overlap what was seen.
    fn continuity(&mut self, d: &Data) -> Continuity {
        let resync = std::mem::replace(&mut self.resync, false);
        if d.reset {
            return Continuity::Ok;
        }
        let (Some(u), Some(prev)) = (d.last_id, self.last_id) else {
            return Continuity::Ok;
        };
        if resync && u <= prev {
            // Already seen through the connection it replaces.
            self.resync = true;
            return Continuity::Duplicate;
        }
        match (d.first_id, d.prev_id) {
            // Binance futures: `pu` links to the previous event's `u`.
            (_, Some(pu)) if pu != prev => {
                if resync && pu < prev {
                    Continuity::Ok
                } else {
                    Continuity::Gap(d.first_id.map_or(1, |f| (f - prev - 1).max(1) as u64))
                }
            }
            (_, Some(_)) => Continuity::Ok,
            // Binance spot: the next event's `U` is the previous `u + 1`.
            (Some(first), None) => {
                let expected = prev + 1;
                // A message that does not advance (`u` already seen) is judged as progress
                // (frozen), not continuity.
                if first > expected {
                    Continuity::Gap((first - expected) as u64)
                } else {
                    Continuity::Ok
                }
            }
            // Bybit: `u` only; steps of 1 are not promised, going back is a break (the same `u`
            // again is a repeat, judged as progress).
            (None, None) if u < prev => Continuity::Gap(1),
            (None, None) => Continuity::Ok,
        }
    }

    fn silence_reading(&self, now: i64) -> Reading {
        Reading::Silence {
            ms: self.silence(now).as_millis() as f64,
            stale: self.stale,
            threshold_ms: self.stale_threshold().as_millis() as f64,
        }
    }

    fn frozen_reading(&self) -> Reading {
        Reading::Frozen {
            repeats: self.repeats,
            frozen: self.frozen,
        }
    }

    /// Time passes: a stall that begins is pushed at once; every [`FLUSH_MS`] the readings of
    /// every metric are pushed.
    pub fn tick(&mut self, now: i64, out: &mut Vec<Reading>) {
        let stale = self.silence(now) > self.stale_threshold();
        if stale != self.stale {
            self.stale = stale;
            out.push(self.silence_reading(now));
        }
        if now < self.next_flush {
            return;
        }
        self.next_flush = now + FLUSH_MS;
        if let Some(lag) = self.lag_max.take() {
            out.push(Reading::Lag(lag));
        }
        out.push(self.silence_reading(now));
        if self.last_data_at.is_some() {
            if self.keep(FROZEN, self.frozen) {
                out.push(self.frozen_reading());
            }
            let gaps = std::mem::take(&mut self.gaps);
            let missing = std::mem::take(&mut self.missing);
            if self.keep(GAP, gaps > 0) {
                out.push(Reading::Gap { missing, gaps });
            }
        }
        self.prune(now);
        let over = self.reconnects.len() > self.budget;
        self.churning = over;
        if self.keep(CHURN, over) {
            out.push(self.churn());
        }
    }

    /// Whether the flush reports flag `k` now: always while flagged, and for
    /// [`HEALTHY_AFTER_FLAG`] flushes after (so its series resolves); a flag that never rose
    /// costs no measurement.
    fn keep(&mut self, k: usize, flagged: bool) -> bool {
        if flagged {
            self.since_flag[k] = 0;
            return true;
        }
        let keep = self.since_flag[k] < HEALTHY_AFTER_FLAG;
        self.since_flag[k] = self.since_flag[k].saturating_add(1);
        keep
    }

    /// A flag was reported outside the flush.
    fn flagged(&mut self, k: usize) {
        self.since_flag[k] = 0;
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Continuity {
    Ok,
    Gap(u64),
    Duplicate,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(at: i64, first: i64, last: i64) -> Data {
        Data {
            event_time: Some(at),
            first_id: Some(first),
            last_id: Some(last),
            ..Data::default()
        }
    }

    /// Feeds `n` Binance depth events 100 ms apart from `t`, ids from `id`; returns (t, id).
    fn feed(
        j: &mut Judge,
        mut t: i64,
        mut id: i64,
        n: usize,
        out: &mut Vec<Reading>,
    ) -> (i64, i64) {
        for _ in 0..n {
            t += 100;
            j.on_data(t, &depth(t - 5, id, id + 1), out);
            id += 2;
            j.tick(t, out);
        }
        (t, id)
    }

    #[test]
    fn learns_the_cadence_and_reports_a_stall_within_three_cadences() {
        let mut j = Judge::new(0, None, 12);
        assert_eq!(j.stale_threshold(), UNLEARNED_STALE);
        let mut out = Vec::new();
        let (t, _) = feed(&mut j, 0, 1, 50, &mut out);
        assert!(
            !out.iter()
                .any(|r| matches!(r, Reading::Silence { stale: true, .. }))
        );
        let th = j.stale_threshold();
        assert!(
            th >= Duration::from_millis(800) && th <= Duration::from_millis(900),
            "{th:?}"
        );
        assert_eq!(j.cadence(), Some(Duration::from_millis(100)));
        out.clear();
        let mut when = None;
        for k in 1..30 {
            j.tick(t + k * 100, &mut out);
            if when.is_none()
                && out
                    .iter()
                    .any(|r| matches!(r, Reading::Silence { stale: true, .. }))
            {
                when = Some(k * 100);
            }
        }
        assert_eq!(when, Some(900), "one tick past the threshold");
        assert_eq!(j.state(), "stale");
        out.clear();
        j.on_data(t + 3000, &depth(t + 2995, 101, 102), &mut out);
        assert!(
            out.contains(&Reading::Silence {
                ms: 0.0,
                stale: false,
                threshold_ms: th.as_millis() as f64
            }),
            "{out:?}"
        );
        assert_eq!(
            j.stale_threshold(),
            th,
            "the stall did not teach a slower cadence"
        );
    }

    #[test]
    fn configured_stale_after_wins() {
        let j = Judge::new(0, Some(Duration::from_secs(5)), 12);
        assert_eq!(j.stale_threshold(), Duration::from_secs(5));
    }

    #[test]
    fn binance_spot_gap_has_its_size_and_overlap_after_resubscribe_is_no_gap() {
        let mut j = Judge::new(0, None, 12);
        let mut out = Vec::new();
        let (t, id) = feed(&mut j, 0, 1, 5, &mut out);
        assert!(
            !out.iter()
                .any(|r| matches!(r, Reading::Gap { missing: 1.., .. }))
        );
        let seen = j.on_data(t + 100, &depth(t + 95, id + 3, id + 4), &mut out);
        assert_eq!(seen.gap, Some(3));
        assert!(out.contains(&Reading::Gap {
            missing: 3,
            gaps: 1
        }));
        // A new connection's first events overlap what the old one delivered.
        out.clear();
        j.resubscribed();
        let last = id + 4;
        let d = j.on_data(t + 200, &depth(t + 195, last - 3, last - 1), &mut out);
        assert!(d.duplicate);
        let d = j.on_data(t + 210, &depth(t + 200, last - 1, last + 2), &mut out);
        assert!(!d.duplicate && d.gap.is_none(), "{d:?}");
        let d = j.on_data(t + 300, &depth(t + 295, last + 3, last + 4), &mut out);
        assert!(d.gap.is_none());
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn futures_pu_and_okx_prev_seq_link_messages() {
        let mut j = Judge::new(0, None, 12);
        let mut out = Vec::new();
        let m = |t, first, last, pu| Data {
            event_time: Some(t),
            first_id: first,
            last_id: Some(last),
            prev_id: Some(pu),
            reset: false,
        };
        j.on_data(
            100,
            &Data {
                reset: true,
                ..m(100, None, 10, 0)
            },
            &mut out,
        );
        assert!(
            j.on_data(200, &m(200, None, 17, 10), &mut out)
                .gap
                .is_none(),
            "seqIds may jump"
        );
        assert_eq!(j.on_data(300, &m(300, None, 30, 20), &mut out).gap, Some(1));
        assert!(
            j.on_data(400, &m(400, Some(31), 35, 30), &mut out)
                .gap
                .is_none()
        );
        assert_eq!(
            j.on_data(500, &m(500, Some(40), 41, 38), &mut out).gap,
            Some(4)
        );
    }

    #[test]
    fn bybit_reset_and_regression() {
        let mut j = Judge::new(0, None, 12);
        let mut out = Vec::new();
        let m = |t, u, reset| Data {
            event_time: Some(t),
            last_id: Some(u),
            reset,
            ..Data::default()
        };
        j.on_data(100, &m(100, 50, true), &mut out);
        assert!(j.on_data(200, &m(200, 55, false), &mut out).gap.is_none());
        assert!(
            j.on_data(300, &m(300, 1, true), &mut out).gap.is_none(),
            "u = 1: restart"
        );
        assert!(j.on_data(400, &m(400, 2, false), &mut out).gap.is_none());
        assert_eq!(j.on_data(500, &m(500, 1, false), &mut out).gap, Some(1));
    }

    #[test]
    fn frozen_after_repeats_and_thaws() {
        let mut j = Judge::new(0, None, 12);
        let mut out = Vec::new();
        let (t, id) = feed(&mut j, 0, 1, 3, &mut out);
        out.clear();
        let same = depth(t - 5, id - 2, id - 1);
        for k in 1..=FROZEN_REPEATS as i64 {
            j.on_data(t + k * 100, &same, &mut out);
        }
        assert!(
            out.contains(&Reading::Frozen {
                repeats: FROZEN_REPEATS,
                frozen: true
            }),
            "{out:?}"
        );
        assert_eq!(j.state(), "frozen");
        out.clear();
        j.on_data(t + 1000, &depth(t + 990, id, id + 1), &mut out);
        assert!(out.contains(&Reading::Frozen {
            repeats: 0,
            frozen: false
        }));
    }

    #[test]
    fn lag_is_corrected_by_skew_and_flushed_as_the_max() {
        let mut j = Judge::new(0, None, 12);
        // The venue's clock is 200 ms behind ours: its event times look 200 ms older.
        j.set_skew(-200.0);
        let mut out = Vec::new();
        let a = j.on_data(500, &depth(100, 1, 1), &mut out);
        assert_eq!(a.lag_ms, Some(200.0));
        j.on_data(600, &depth(350, 2, 2), &mut out);
        j.tick(1000, &mut out);
        assert!(out.contains(&Reading::Lag(200.0)), "{out:?}");
        out.clear();
        j.tick(2000, &mut out);
        assert!(!out.iter().any(|r| matches!(r, Reading::Lag(_))));
    }

    #[test]
    fn churn_counts_unplanned_reconnects_in_the_hour() {
        let mut j = Judge::new(0, None, 2);
        let mut out = Vec::new();
        for k in 0..5 {
            j.reconnected(k * 1000, true, &mut out);
        }
        assert!(out.is_empty());
        for k in 0..3 {
            j.reconnected(k * 1000, false, &mut out);
        }
        assert_eq!(
            out,
            [Reading::Churn {
                reconnects: 3,
                over: true
            }]
        );
        out.clear();
        j.tick(3_700_000, &mut out);
        assert!(out.contains(&Reading::Churn {
            reconnects: 0,
            over: false
        }));
    }
}
