//! TEMPORARY stub (replaced on merge).
#![allow(missing_docs)]
use actix::clock::Instant;
use std::time::Duration;
pub struct FixedRate {
    start: Instant,
    interval: Duration,
    k: u32,
}
pub struct Fired {
    pub slot: Instant,
    pub lateness: Duration,
    pub missed: u64,
}
impl Fired {
    pub fn is_late(&self) -> bool {
        self.lateness > Duration::from_millis(100)
    }
}
impl FixedRate {
    pub fn new(start: Instant, interval: Duration) -> Self {
        Self {
            start,
            interval,
            k: 1,
        }
    }
    pub fn next_slot(&self) -> Instant {
        self.start + self.interval * self.k
    }
    pub fn fire(&mut self, now: Instant) -> Fired {
        let slot = self.next_slot();
        self.k += 1;
        Fired {
            slot,
            lateness: now.saturating_duration_since(slot),
            missed: 0,
        }
    }
}
