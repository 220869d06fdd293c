//! The restart-intensity budget: at most N restarts within a window T.

use std::collections::VecDeque;
use std::time::Duration;

use actix::clock::Instant;

/// Remembers the times of recent restarts; more than `max_restarts` within `within` exhausts
/// the budget. Pure: the caller passes "now".
#[derive(Debug, Clone)]
pub struct RestartBudget {
    max_restarts: u32,
    within: Duration,
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    /// A budget of `max_restarts` restarts per `within`.
    pub fn new(max_restarts: u32, within: Duration) -> Self {
        Self {
            max_restarts,
            within,
            recent: VecDeque::new(),
        }
    }

    /// Records a restart at `now`; true when this restart exceeds the budget.
    pub fn record(&mut self, now: Instant) -> bool {
        while let Some(&first) = self.recent.front() {
            if now.duration_since(first) > self.within {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        // Keep at most max_restarts + 1 entries: enough to know the budget is exceeded.
        if self.recent.len() > self.max_restarts as usize {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.recent.len() > self.max_restarts as usize
    }

    /// Restarts within the current window.
    pub fn recent(&self) -> usize {
        self.recent.len()
    }

    /// The configured maximum.
    pub fn max_restarts(&self) -> u32 {
        self.max_restarts
    }

    /// The configured window.
    pub fn within(&self) -> Duration {
        self.within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_exhausts_after_max_restarts_within_window() {
        let t0 = Instant::now();
        let mut b = RestartBudget::new(3, Duration::from_secs(10));
        assert!(!b.record(t0));
        assert!(!b.record(t0 + Duration::from_secs(1)));
        assert!(!b.record(t0 + Duration::from_secs(2)));
        assert!(b.record(t0 + Duration::from_secs(3)));
    }

    #[test]
    fn budget_forgets_restarts_outside_window() {
        let t0 = Instant::now();
        let mut b = RestartBudget::new(2, Duration::from_secs(10));
        assert!(!b.record(t0));
        assert!(!b.record(t0 + Duration::from_secs(1)));
        assert!(!b.record(t0 + Duration::from_secs(20)));
        assert_eq!(b.recent(), 1);
    }
}
