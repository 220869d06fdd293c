//! The error model: the error rate over a window of the last outcomes of a series, and runs of
//! consecutive failures. It owns the window of outcomes and its counts, kept up to date in O(1)
//! per outcome.
//!
//! The window keeps only its failures (`OutcomeWindow`): a healthy endpoint's window of 100
//! successes is two counters, not 100 bytes on the heap. A failing one holds 8 B per failure
//! (up to 1 KB of room while a window of 100 is all failures, an outage); the room goes back
//! once the failures have left the window, and a few stay for an endpoint that fails now and
//! then, so that it does not allocate at each failure.

use std::collections::VecDeque;
use std::fmt::Write as _;

use crate::detect::config::ErrorSettings;
use crate::detect::finding::Finding;
use crate::messages::{Outcome, Severity};

/// The error-rate detector's name in alerts.
pub const ERROR_RATE: &str = "error_rate";
/// The consecutive-failures detector's name in alerts.
pub const CONSECUTIVE_FAILURES: &str = "consecutive_failures";

const OUTCOMES: usize = Outcome::ALL.len();

/// Error rate and consecutive failures over the last `window` outcomes.
#[derive(Debug)]
pub struct ErrorModel {
    settings: ErrorSettings,
    window: OutcomeWindow,
    /// Outcomes in the window, by [`Outcome::index`].
    counts: [u32; OUTCOMES],
    /// The last HTTP status seen for each outcome (0: none), so a description can name it.
    last_status: [u16; OUTCOMES],
    consecutive_failures: u32,
    consecutive_successes: u32,
}

impl ErrorModel {
    /// An empty model; allocates nothing until a failure.
    pub fn new(settings: &ErrorSettings) -> Self {
        Self {
            settings: settings.clone(),
            window: OutcomeWindow::default(),
            counts: [0; OUTCOMES],
            last_status: [0; OUTCOMES],
            consecutive_failures: 0,
            consecutive_successes: 0,
        }
    }

    /// Adds one outcome and judges the series: the more severe of `error_rate` and
    /// `consecutive_failures`, if either fires.
    ///
    /// [`Outcome::BreakerOpen`] is ignored entirely: a probe that was not sent says nothing
    /// about the endpoint (the breaker has its own `availability` series).
    pub fn update(&mut self, outcome: Outcome, status: u16) -> Option<Finding> {
        if outcome == Outcome::BreakerOpen {
            return None;
        }
        self.push(outcome, status);
        Finding::most_severe(self.judge_rate(), self.judge_consecutive())
    }

    /// Share of failures in the window (0 when empty).
    pub fn error_rate(&self) -> f64 {
        if self.window.is_empty() {
            0.0
        } else {
            self.window.failures() as f64 / self.window.len() as f64
        }
    }

    /// Consecutive successes since the last failure.
    pub fn consecutive_successes(&self) -> u32 {
        self.consecutive_successes
    }

    /// Consecutive failures since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Outcomes currently in the window.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// True when the window is empty.
    pub fn is_empty(&self) -> bool {
        self.window.is_empty()
    }

    /// Forgets every outcome (after a recovery, so old failures do not refire the series).
    pub fn clear(&mut self) {
        self.window.clear();
        self.counts = [0; OUTCOMES];
        self.last_status = [0; OUTCOMES];
        self.consecutive_failures = 0;
        self.consecutive_successes = 0;
    }

    /// A short description of the failures in the window, e.g. `"12× http_5xx (503), 2× timeout"`:
    /// the most frequent first, with the last HTTP status seen for that kind of failure.
    /// `"no failures"` when there are none.
    pub fn describe(&self) -> String {
        let mut kinds: Vec<Outcome> = Outcome::ALL
            .into_iter()
            .filter(|o| !o.is_ok() && self.counts[o.index()] > 0)
            .collect();
        if kinds.is_empty() {
            return "no failures".to_owned();
        }
        // Stable sort: equal counts keep label order.
        kinds.sort_by_key(|o| std::cmp::Reverse(self.counts[o.index()]));
        let mut text = String::new();
        for (i, o) in kinds.into_iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            let _ = write!(text, "{}× {}", self.counts[o.index()], o);
            match self.last_status[o.index()] {
                0 => {}
                status => {
                    let _ = write!(text, " ({status})");
                }
            }
        }
        text
    }

    /// Adds `outcome` to the window and the counters, evicting the oldest.
    fn push(&mut self, outcome: Outcome, status: u16) {
        if let Some(old) = self.window.push(outcome, self.settings.window) {
            self.counts[old.index()] -= 1;
        }
        self.counts[outcome.index()] += 1;
        if outcome.is_ok() {
            self.consecutive_successes = self.consecutive_successes.saturating_add(1);
            self.consecutive_failures = 0;
        } else {
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
            self.consecutive_successes = 0;
            if status != 0 {
                self.last_status[outcome.index()] = status;
            }
        }
    }

    /// `error_rate`: fires once the window holds `min_samples` outcomes and the rate reaches
    /// `rate_threshold`. With `r = rate / rate_threshold`: info below 2, warning below 4,
    /// critical from 4; confidence `1 − 1/r` (0.5 at 2, 0.75 at 4).
    fn judge_rate(&self) -> Option<Finding> {
        if self.window.len() < self.settings.min_samples.max(1) {
            return None;
        }
        let rate = self.error_rate();
        let r = rate / self.settings.rate_threshold;
        if r.is_nan() || r < 1.0 {
            return None;
        }
        let severity = if r < 2.0 {
            Severity::Info
        } else if r < 4.0 {
            Severity::Warning
        } else {
            Severity::Critical
        };
        Some(Finding {
            detector: ERROR_RATE,
            severity,
            value: rate,
            threshold: self.settings.rate_threshold,
            confidence: (1.0 - 1.0 / r).clamp(0.0, 1.0),
        })
    }

    /// `consecutive_failures`: `n` failures in a row fire from `c = consecutive_failures`
    /// (warning) and are critical from `2c`. Confidence `1 − c/(2n)`: 0.5 at `c`, 0.75 at `2c`,
    /// approaching 1 as the run goes on (the same bands as the latency detectors).
    fn judge_consecutive(&self) -> Option<Finding> {
        let n = self.consecutive_failures;
        let c = self.settings.consecutive_failures.max(1);
        if n < c {
            return None;
        }
        let severity = if n >= c.saturating_mul(2) {
            Severity::Critical
        } else {
            Severity::Warning
        };
        Some(Finding {
            detector: CONSECUTIVE_FAILURES,
            severity,
            value: n as f64,
            threshold: c as f64,
            confidence: (1.0 - c as f64 / (2.0 * n as f64)).clamp(0.0, 1.0),
        })
    }
}

/// Failures' room an empty window keeps (64 B): an endpoint that fails now and then does not
/// allocate at each failure.
const KEPT_ROOM: usize = 8;

/// The last outcomes of a series, up to a capacity the caller passes (its window setting):
/// how many there are, and the failures among them with their place in the sequence. An `Ok`
/// is implied wherever no failure is listed, so the evicted outcome is the one a ring of every
/// outcome would evict.
#[derive(Debug, Default)]
struct OutcomeWindow {
    /// The failures in the window, oldest first, each with its sequence number.
    failures: VecDeque<(u32, Outcome)>,
    /// The sequence number of the next outcome (wrapping: only compared for equality, within
    /// a window of fewer than 2³² outcomes).
    next: u32,
    /// Outcomes held (at most the capacity).
    len: u32,
}

impl OutcomeWindow {
    /// Adds `outcome`; returns the oldest outcome when the window already held `capacity`
    /// (at least one).
    fn push(&mut self, outcome: Outcome, capacity: usize) -> Option<Outcome> {
        let capacity = u32::try_from(capacity.max(1)).unwrap_or(u32::MAX);
        let seq = self.next;
        self.next = seq.wrapping_add(1);
        let evicted = if self.len < capacity {
            self.len += 1;
            None
        } else {
            let oldest = seq.wrapping_sub(capacity);
            match self.failures.front() {
                Some(&(at, failure)) if at == oldest => {
                    self.failures.pop_front();
                    self.give_back_room();
                    Some(failure)
                }
                _ => Some(Outcome::Ok),
            }
        };
        if !outcome.is_ok() {
            self.failures.push_back((seq, outcome));
        }
        evicted
    }

    /// Outcomes held.
    fn len(&self) -> usize {
        self.len as usize
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Failures held.
    fn failures(&self) -> usize {
        self.failures.len()
    }

    /// Forgets every outcome.
    fn clear(&mut self) {
        self.failures.clear();
        self.give_back_room();
        self.len = 0;
    }

    /// Frees the room an outage's failures took once none is left, keeping [`KEPT_ROOM`].
    fn give_back_room(&mut self) {
        if self.failures.is_empty() && self.failures.capacity() > KEPT_ROOM {
            self.failures.shrink_to(KEPT_ROOM);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The window evicts what a ring of every outcome evicts, under random outcomes, clears
    /// and capacities.
    #[test]
    fn the_window_of_failures_evicts_as_a_ring_of_every_outcome() {
        let mut rng = fastrand::Rng::with_seed(11);
        for capacity in [1, 2, 7, 100] {
            let mut window = OutcomeWindow::default();
            let mut ring: VecDeque<Outcome> = VecDeque::new();
            for _ in 0..20_000 {
                if rng.u16(0..500) == 0 {
                    window.clear();
                    ring.clear();
                }
                let outcome = if rng.u8(0..4) == 0 {
                    Outcome::ALL[rng.usize(..Outcome::ALL.len())]
                } else {
                    Outcome::Ok
                };
                ring.push_back(outcome);
                let want = (ring.len() > capacity).then(|| ring.pop_front()).flatten();
                assert_eq!(window.push(outcome, capacity), want);
                assert_eq!(window.len(), ring.len());
                assert_eq!(
                    window.failures(),
                    ring.iter().filter(|o| !o.is_ok()).count()
                );
            }
        }
    }

    /// An outage's room goes back once its failures have left the window.
    #[test]
    fn an_outage_gives_its_room_back_once_its_failures_leave_the_window() {
        let mut m = ErrorModel::new(&ErrorSettings::default());
        for _ in 0..100 {
            m.push(Outcome::Timeout, 0);
        }
        assert!(m.window.failures.capacity() >= 100);
        for _ in 0..100 {
            m.push(Outcome::Ok, 200);
        }
        assert!(m.window.failures.capacity() <= KEPT_ROOM);
        m.push(Outcome::Timeout, 0);
        m.clear();
        assert!(m.window.failures.capacity() <= KEPT_ROOM);
    }

    #[test]
    fn a_model_is_128_bytes_and_a_healthy_one_has_nothing_on_the_heap() {
        assert_eq!(std::mem::size_of::<ErrorModel>(), 128);
        let mut m = ErrorModel::new(&ErrorSettings::default());
        for _ in 0..500 {
            m.push(Outcome::Ok, 200);
        }
        assert_eq!((m.window.failures.capacity(), m.len()), (0, 100));
    }

    fn settings() -> ErrorSettings {
        ErrorSettings {
            rate_threshold: 0.05,
            consecutive_failures: 3,
            window: 100,
            min_samples: 10,
            recovery_successes: 10,
        }
    }

    /// A model whose window holds `oks` successes and then `fails` failures spread evenly
    /// among them (never two in a row), so only the error rate can fire.
    fn model_with_rate(oks: usize, fails: usize) -> (ErrorModel, Option<Finding>) {
        let mut model = ErrorModel::new(&settings());
        let mut last = None;
        for _ in 0..oks {
            last = model.update(Outcome::Ok, 200);
        }
        for _ in 0..fails {
            model.update(Outcome::Http5xx, 503);
            last = model.update(Outcome::Ok, 200);
        }
        (model, last)
    }

    #[test]
    fn errors_no_rate_finding_before_min_samples() {
        let mut model = ErrorModel::new(&settings());
        // one failure in two outcomes is a 50 % rate, but too few outcomes to judge
        model.update(Outcome::Ok, 200);
        assert_eq!(model.update(Outcome::Timeout, 0), None);
        assert_eq!(model.error_rate(), 0.5);
    }

    #[test]
    fn errors_rate_below_threshold_is_quiet() {
        // 4 failures in 100 outcomes: 4 % < 5 %
        let (model, last) = model_with_rate(92, 4);
        assert_eq!(model.len(), 100);
        assert_eq!(last, None);
    }

    #[test]
    fn errors_rate_severities() {
        // 5/100 = r 1, 10/100 = r 2, 20/100 = r 4
        let cases = [
            (90, 5, Severity::Info),
            (80, 10, Severity::Warning),
            (60, 20, Severity::Critical),
        ];
        for (oks, fails, severity) in cases {
            let (model, last) = model_with_rate(oks, fails);
            let f = last.unwrap_or_else(|| panic!("{fails} failures did not fire"));
            assert_eq!(f.detector, "error_rate");
            assert_eq!(f.severity, severity, "{fails} failures");
            assert_eq!(f.value, model.error_rate());
            assert_eq!(f.threshold, 0.05);
        }
    }

    #[test]
    fn errors_consecutive_failures_severities() {
        let s = ErrorSettings {
            // keep the rate out of it
            rate_threshold: 1.0,
            ..settings()
        };
        let mut model = ErrorModel::new(&s);
        assert_eq!(model.update(Outcome::Timeout, 0), None);
        assert_eq!(model.update(Outcome::Timeout, 0), None);
        let third = model.update(Outcome::Timeout, 0).unwrap();
        assert_eq!(third.detector, "consecutive_failures");
        assert_eq!(third.severity, Severity::Warning);
        assert_eq!(third.value, 3.0);
        assert_eq!(third.threshold, 3.0);
        assert_eq!(third.confidence, 0.5);
        for _ in 0..2 {
            assert_eq!(
                model.update(Outcome::Connect, 0).unwrap().severity,
                Severity::Warning
            );
        }
        let sixth = model.update(Outcome::Connect, 0).unwrap();
        assert_eq!(sixth.severity, Severity::Critical);
        assert_eq!(sixth.confidence, 0.75);
        assert_eq!(model.consecutive_failures(), 6);
        // one success ends the run
        assert_eq!(model.update(Outcome::Ok, 200), None);
        assert_eq!(model.consecutive_successes(), 1);
        assert_eq!(model.consecutive_failures(), 0);
    }

    #[test]
    fn errors_breaker_open_ignored() {
        let mut model = ErrorModel::new(&settings());
        model.update(Outcome::Timeout, 0);
        model.update(Outcome::Timeout, 0);
        for _ in 0..10 {
            assert_eq!(model.update(Outcome::BreakerOpen, 0), None);
        }
        assert_eq!(model.len(), 2);
        assert_eq!(model.consecutive_failures(), 2);
        assert_eq!(model.error_rate(), 1.0);
        // the run goes on as if the breaker's rejections were not there
        assert!(model.update(Outcome::Timeout, 0).is_some());
    }

    #[test]
    fn errors_window_evicts_old_failures() {
        let s = ErrorSettings {
            window: 20,
            ..settings()
        };
        let mut model = ErrorModel::new(&s);
        for _ in 0..5 {
            model.update(Outcome::Http5xx, 502);
        }
        for _ in 0..19 {
            model.update(Outcome::Ok, 200);
        }
        // 20 outcomes held; only the newest failure is left
        assert_eq!(model.len(), 20);
        assert_eq!(model.error_rate(), 1.0 / 20.0);
        assert_eq!(model.describe(), "1× http_5xx (502)");
        assert_eq!(model.update(Outcome::Ok, 200), None);
        assert_eq!(model.error_rate(), 0.0);
        assert_eq!(model.describe(), "no failures");
    }

    #[test]
    fn errors_clear_forgets_everything() {
        let mut model = ErrorModel::new(&settings());
        for _ in 0..20 {
            model.update(Outcome::Http5xx, 503);
        }
        model.clear();
        assert!(model.is_empty());
        assert_eq!(model.error_rate(), 0.0);
        assert_eq!(model.consecutive_failures(), 0);
        assert_eq!(model.consecutive_successes(), 0);
        assert_eq!(model.describe(), "no failures");
        assert_eq!(model.update(Outcome::Ok, 200), None);
        assert_eq!(model.len(), 1);
    }

    #[test]
    fn errors_describe_most_frequent_first() {
        let mut model = ErrorModel::new(&settings());
        for _ in 0..2 {
            model.update(Outcome::Timeout, 0);
        }
        for status in [500, 502, 503] {
            for _ in 0..4 {
                model.update(Outcome::Http5xx, status);
            }
        }
        model.update(Outcome::RateLimited, 429);
        model.update(Outcome::Ok, 200);
        assert_eq!(
            model.describe(),
            "12× http_5xx (503), 2× timeout, 1× rate_limited (429)"
        );
    }

    #[test]
    fn errors_consecutive_successes_count_since_last_failure() {
        let mut model = ErrorModel::new(&settings());
        model.update(Outcome::Ok, 200);
        model.update(Outcome::BadBody, 200);
        assert_eq!(model.consecutive_successes(), 0);
        for _ in 0..4 {
            model.update(Outcome::Ok, 200);
        }
        assert_eq!(model.consecutive_successes(), 4);
    }
}
