//! A fixed-rate schedule that does not drift.
//!
//! Slot `k` is `start + k·interval`, computed by multiplication, never by adding `interval` to
//! the time a probe actually started: a probe that starts late does not push every later slot
//! back. When the caller falls behind (a blocked arbiter, a suspended laptop), [`FixedRate::fire`]
//! takes the earliest due slot, *counts* the further slots that have also passed (they are
//! skipped, not bunched up, and the caller records them as late) and moves on to the first slot
//! after "now".

use std::time::Duration;

use actix::clock::Instant;

/// A probe that starts more than this after its slot is late (`exwatch_probes_late_total`).
pub const LATE_AFTER: Duration = Duration::from_millis(100);

/// The widest gap [`Spread::phase`] leaves between two endpoints' first slots.
pub const SPREAD_STEP: Duration = Duration::from_millis(1);

/// Where one exchange's endpoints sit among all the monitor probes: what [`Spread::phase`]
/// needs to spread first slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    /// This exchange's number among the probed exchanges, from 0.
    pub exchange: usize,
    /// Exchanges probed.
    pub exchanges: usize,
    /// Endpoints probed by the whole monitor.
    pub total: usize,
}

impl Spread {
    /// The only exchange, probing `total` endpoints.
    pub fn alone(total: usize) -> Self {
        Self {
            exchange: 0,
            exchanges: 1,
            total,
        }
    }

    /// How long after the start endpoint `j` of this exchange's `n` takes its first slot.
    ///
    /// Each exchange's endpoints are spread evenly over the span, and the exchanges are
    /// interleaved within it: endpoint `j` of exchange `x` of `X` sits at `(j·X + x) / (n·X)` of
    /// the span (every slot distinct when the exchanges have as many endpoints each; two
    /// exchanges of different sizes may share an instant now and then, which is harmless). So neither one exchange's connection pool (its endpoints never fall due
    /// together: 500 endpoints at 1 s arrive 2 ms apart, not in one 20 ms burst) nor the
    /// process as a whole sees a burst. The span is the interval, or `total` ×
    /// [`SPREAD_STEP`] when that is shorter, so a small config still probes everything at
    /// once (a millisecond apart). Always less than `interval`.
    pub fn phase(&self, j: usize, n: usize, interval: Duration) -> Duration {
        let period = interval.as_nanos().max(1);
        let span = period.min(SPREAD_STEP.as_nanos() * self.total.max(1) as u128);
        let (n, xs) = (n.max(1) as u128, self.exchanges.max(1) as u128);
        let (j, x) = ((j as u128).min(n - 1), (self.exchange as u128).min(xs - 1));
        let nanos = span * (j * xs + x) / (n * xs);
        Duration::from_nanos(nanos.min(period - 1) as u64)
    }
}

/// What [`FixedRate::fire`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fired {
    /// The slot being served.
    pub slot: Instant,
    /// How long after its slot it is served (zero when served early).
    pub lateness: Duration,
    /// Further slots that had already passed and were skipped (each one is late).
    pub missed: u64,
}

impl Fired {
    /// True when the slot is served more than [`LATE_AFTER`] after its time.
    pub fn is_late(&self) -> bool {
        self.lateness > LATE_AFTER
    }
}

/// Slots `start + k·interval`, `k = 0, 1, 2, …`.
#[derive(Debug, Clone)]
pub struct FixedRate {
    start: Instant,
    interval: Duration,
    next: u64,
}

impl FixedRate {
    /// A schedule whose first slot is `start`. A zero interval is treated as one nanosecond.
    pub fn new(start: Instant, interval: Duration) -> Self {
        Self {
            start,
            interval: interval.max(Duration::from_nanos(1)),
            next: 0,
        }
    }

    /// The interval between slots.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The next slot not yet taken: when the caller's timer should go off.
    pub fn next_slot(&self) -> Instant {
        self.slot_at(self.next)
    }

    /// Takes the earliest slot not yet taken (normally due: call this when the timer for
    /// [`FixedRate::next_slot`] goes off; called early it takes that slot anyway, with zero
    /// lateness), counts the further slots that are also due by `now` as `missed`, and advances
    /// to the first slot after `now`.
    pub fn fire(&mut self, now: Instant) -> Fired {
        let k = self.next;
        let slot = self.slot_at(k);
        let lateness = now.saturating_duration_since(slot);
        // Index of the last slot at or before `now`.
        let last_due = (now.saturating_duration_since(self.start).as_nanos()
            / self.interval.as_nanos())
        .min(u64::MAX as u128 - 1) as u64;
        let missed = last_due.saturating_sub(k);
        self.next = last_due.max(k) + 1;
        Fired {
            slot,
            lateness,
            missed,
        }
    }

    /// `start + k·interval`, saturating far in the future.
    fn slot_at(&self, k: u64) -> Instant {
        let nanos = self.interval.as_nanos().saturating_mul(k as u128);
        let offset = Duration::new(
            (nanos / 1_000_000_000).min(u64::MAX as u128) as u64,
            (nanos % 1_000_000_000) as u32,
        );
        self.start
            .checked_add(offset)
            .unwrap_or_else(|| self.start + Duration::from_secs(86_400 * 365 * 100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn phases_of_a_small_config_are_a_millisecond_apart() {
        let s = Duration::from_secs(1);
        let one = Spread::alone(3);
        assert_eq!(one.phase(0, 3, s), Duration::ZERO);
        assert_eq!(one.phase(1, 3, s), MS);
        assert_eq!(one.phase(2, 3, s), 2 * MS);
        // Three exchanges of four endpoints: twelve distinct milliseconds, interleaved.
        let mut all: Vec<Duration> = (0..3)
            .flat_map(|x| {
                let spread = Spread {
                    exchange: x,
                    exchanges: 3,
                    total: 12,
                };
                (0..4).map(move |j| spread.phase(j, 4, Duration::from_secs(10)))
            })
            .collect();
        all.sort();
        assert_eq!(all, (0..12).map(|k| k * MS).collect::<Vec<_>>());
    }

    #[test]
    fn phases_of_a_large_config_cover_the_interval_evenly() {
        let s = Duration::from_secs(1);
        let n = 25_000;
        let one = Spread::alone(n);
        assert_eq!(one.phase(1, n, s), Duration::from_micros(40));
        assert_eq!(one.phase(n / 2, n, s), Duration::from_millis(500));
        assert!(one.phase(n - 1, n, s) < s);
        // Every 100 ms of the interval holds a tenth of the endpoints.
        let mut per_tenth = [0u32; 10];
        for i in 0..n {
            per_tenth[(one.phase(i, n, s).as_millis() / 100) as usize] += 1;
        }
        assert!(per_tenth.iter().all(|&c| c == 2_500), "{per_tenth:?}");
        // Out-of-range input stays in range.
        assert!(Spread::alone(0).phase(7, 0, Duration::ZERO) < Duration::from_nanos(1) + MS);
        assert!(one.phase(usize::MAX, n, s) < s);
    }

    #[test]
    fn each_exchange_is_spread_over_the_interval_and_the_exchanges_interleave() {
        // 50 exchanges of 500 endpoints at 1 s: each exchange's endpoints 2 ms apart over the
        // whole second (not one 20 ms burst), and the monitor as a whole 40 µs apart.
        let s = Duration::from_secs(1);
        let mut all = Vec::new();
        for x in 0..50 {
            let spread = Spread {
                exchange: x,
                exchanges: 50,
                total: 25_000,
            };
            let mine: Vec<Duration> = (0..500).map(|j| spread.phase(j, 500, s)).collect();
            assert!(
                mine.windows(2).all(|w| w[1] - w[0] == 2 * MS),
                "exchange {x}"
            );
            assert!(mine[499] >= Duration::from_millis(998) && mine[499] < s);
            all.extend(mine);
        }
        all.sort();
        assert!(
            all.windows(2)
                .all(|w| w[1] - w[0] == Duration::from_micros(40))
        );
    }

    #[test]
    fn first_slot_is_start() {
        let t0 = Instant::now();
        let s = FixedRate::new(t0, 10 * MS);
        assert_eq!(s.next_slot(), t0);
    }

    #[test]
    fn on_time_fires_advance_one_slot() {
        let t0 = Instant::now();
        let mut s = FixedRate::new(t0, 10 * MS);
        for k in 0..5u32 {
            let f = s.fire(t0 + 10 * MS * k);
            assert_eq!(
                f,
                Fired {
                    slot: t0 + 10 * MS * k,
                    lateness: Duration::ZERO,
                    missed: 0
                }
            );
            assert!(!f.is_late());
            assert_eq!(s.next_slot(), t0 + 10 * MS * (k + 1));
        }
    }

    #[test]
    fn lateness_is_measured_from_the_slot_and_does_not_shift_later_slots() {
        let t0 = Instant::now();
        let mut s = FixedRate::new(t0, Duration::from_secs(1));
        let f = s.fire(t0 + 300 * MS);
        assert_eq!(f.slot, t0);
        assert_eq!(f.lateness, 300 * MS);
        assert_eq!(f.missed, 0);
        assert!(f.is_late());
        assert_eq!(s.next_slot(), t0 + Duration::from_secs(1));
    }

    #[test]
    fn late_threshold_is_strictly_more_than_100ms() {
        let t0 = Instant::now();
        let mut s = FixedRate::new(t0, Duration::from_secs(1));
        assert!(!s.fire(t0 + LATE_AFTER).is_late());
        assert!(
            s.fire(t0 + Duration::from_secs(1) + LATE_AFTER + MS)
                .is_late()
        );
    }

    #[test]
    fn passed_slots_are_skipped_but_counted() {
        let t0 = Instant::now();
        let mut s = FixedRate::new(t0, 10 * MS);
        // Slots 0..=4 have passed (0, 10, 20, 30, 40 ms); 45 ms is now.
        let f = s.fire(t0 + 45 * MS);
        assert_eq!(f.slot, t0);
        assert_eq!(f.lateness, 45 * MS);
        assert_eq!(f.missed, 4);
        assert_eq!(s.next_slot(), t0 + 50 * MS);
    }

    #[test]
    fn a_slot_exactly_at_now_is_due() {
        let t0 = Instant::now();
        let mut s = FixedRate::new(t0, 10 * MS);
        let f = s.fire(t0 + 20 * MS);
        assert_eq!(f.missed, 2);
        assert_eq!(s.next_slot(), t0 + 30 * MS);
    }

    #[test]
    fn early_fire_takes_the_slot_with_zero_lateness() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut s = FixedRate::new(t0, 10 * MS);
        let f = s.fire(t0 - MS);
        assert_eq!(f.slot, t0);
        assert_eq!(f.lateness, Duration::ZERO);
        assert_eq!(f.missed, 0);
        assert_eq!(s.next_slot(), t0 + 10 * MS);
    }

    #[test]
    fn zero_interval_does_not_divide_by_zero() {
        let t0 = Instant::now();
        let mut s = FixedRate::new(t0, Duration::ZERO);
        let f = s.fire(t0 + Duration::from_nanos(10));
        assert_eq!(f.missed, 10);
        assert_eq!(s.next_slot(), t0 + Duration::from_nanos(11));
    }

    #[test]
    fn no_drift_over_10_000_slots() {
        let t0 = Instant::now();
        // An interval that is not a whole number of anything, and jittery late fires.
        let interval = Duration::from_nanos(333_333_333);
        let mut s = FixedRate::new(t0, interval);
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000u64 {
            let slot = s.next_slot();
            let late = Duration::from_micros(rng.u64(0..50_000));
            let f = s.fire(slot + late);
            assert_eq!(f.slot, slot);
            assert_eq!(f.missed, 0);
            assert_eq!(f.lateness, late);
        }
        // Slot 10 000 is exactly start + 10 000 · interval, to the nanosecond.
        assert_eq!(s.next_slot(), t0 + Duration::from_nanos(3_333_333_330_000));
        assert_eq!(s.next_slot() - t0, interval * 10_000);
    }

    #[test]
    fn missed_slots_over_a_long_stall_are_all_counted() {
        let t0 = Instant::now();
        let mut s = FixedRate::new(t0, Duration::from_secs(10));
        s.fire(t0);
        // Asleep for an hour: slots 1..=360 have passed; slot 1 is served, 359 are skipped.
        let f = s.fire(t0 + Duration::from_secs(3600));
        assert_eq!(f.slot, t0 + Duration::from_secs(10));
        assert_eq!(f.missed, 359);
        assert_eq!(s.next_slot(), t0 + Duration::from_secs(3610));
    }
}
