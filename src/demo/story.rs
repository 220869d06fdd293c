//! The demo's script: seven chapters, what each one does to the simulated exchanges, and the
//! clock that compresses them by `--speed`.
//!
//! Pure: [`Timeline`] scales script time to wall time, and [`Scene::conditions`] says what
//! every simulator does at a point of a chapter. The run loop in [`super`] applies them.
//!
//! Each chapter promises an alert that the real detectors raise with the demo's settings
//! ([`super::settings_toml`]), counted in samples so it holds at any speed:
//!
//! | chapter | what the simulators do | what exwatch says |
//! |---|---|---|
//! | calm | a few ms of jitter | nothing; the latency detectors learn their baselines |
//! | OKX latency | OKX answers 0 → 400 ms slower, and stays slow until the recovery | `okx … latency spike` (the likelihood model), firing until the recovery chapter |
//! | Bybit 503 storm | Bybit answers 503 (`retCode` 10016) | `bybit … failing`, then `bybit down (circuit open)` (critical); resolved once half-open trials succeed |
//! | Binance 429 | 429 with `Retry-After`; exwatch backs off | `binance … failing` (consecutive `rate_limited`, warning); the breaker stays closed: a rate limit is not an outage |
//! | price drift | OKX's BTC/USDT drifts to +300 bps | `okx btc-usdt price deviation`, warning then critical; resolved when it returns |
//! | maintenance | Bybit announces an ongoing window, then answers 250 ms slower for a while | `bybit under maintenance` (info); its latency alerts are held back; `bybit maintenance ended` |
//! | recovery | everything normal | the remaining `resolved` alerts |

use std::time::{Duration, SystemTime};

use super::sim::{Condition, Failure, Maintenance, Venue};

/// Every endpoint's probe interval in script time (the demo's settings divide it by the speed).
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The slowest and fastest `--speed`: the fastest probes at the shortest interval the
/// configuration accepts (10).
pub const SPEED_RANGE: (f64, f64) = (
    0.25,
    PROBE_INTERVAL.as_secs_f64() / crate::settings::MIN_INTERVAL.as_secs_f64(),
);

/// How often, in script time, the run loop re-applies the scene (ramps move in these steps).
pub const TICK: Duration = Duration::from_millis(250);

/// What a chapter does to the simulators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scene {
    /// Everything normal.
    Calm,
    /// OKX's latency creeps up.
    OkxLatency,
    /// Bybit answers 503.
    BybitOutage,
    /// Binance answers 429 with `Retry-After`.
    BinanceRateLimit,
    /// OKX's BTC/USDT price drifts away from the others'.
    PriceDrift,
    /// Bybit announces maintenance.
    BybitMaintenance,
    /// Everything normal again.
    Recovery,
}

/// One chapter of the script.
#[derive(Debug, Clone, Copy)]
pub struct Chapter {
    /// What it does.
    pub scene: Scene,
    /// Its line in the terminal (after `▶ `).
    pub title: &'static str,
    /// Its length in script time (at speed 1).
    pub length: Duration,
}

/// The script, in order: about two minutes at speed 1.
pub const SCRIPT: [Chapter; 7] = [
    Chapter {
        scene: Scene::Calm,
        title: "Calm: Binance, Bybit and OKX answer in a few ms; the detectors learn their baselines…",
        length: Duration::from_secs(15),
    },
    Chapter {
        scene: Scene::OkxLatency,
        title: "OKX latency starts creeping up (0 → 400 ms)…",
        length: Duration::from_secs(20),
    },
    Chapter {
        scene: Scene::BybitOutage,
        title: "Bybit starts answering 503 (retCode 10016)…",
        length: Duration::from_secs(20),
    },
    Chapter {
        scene: Scene::BinanceRateLimit,
        title: "Binance answers 429 with Retry-After; exwatch backs off (its breaker stays closed)…",
        length: Duration::from_secs(18),
    },
    Chapter {
        scene: Scene::PriceDrift,
        title: "OKX's BTC/USDT price drifts away from Binance and Bybit (+300 bps)…",
        length: Duration::from_secs(20),
    },
    Chapter {
        scene: Scene::BybitMaintenance,
        title: "Bybit announces maintenance on /v5/system/status; its alerts are held back…",
        length: Duration::from_secs(20),
    },
    Chapter {
        scene: Scene::Recovery,
        title: "Recovery: every venue answers normally again…",
        // Long enough for every alert to resolve with room to spare: the likelihood model
        // waits for the recent level to come back, then `resolve_after` calm probes (about
        // twelve probes at the story's interval).
        length: Duration::from_secs(25),
    },
];

/// The OKX latency chapter's peak extra delay.
const PEAK_DELAY: Duration = Duration::from_millis(400);
/// The price chapter's peak offset, in basis points (warning from 50, critical from 200).
const PEAK_DRIFT_BPS: f64 = 300.0;
/// How long Binance asks to wait, in script time.
const RETRY_AFTER: Duration = Duration::from_secs(3);
/// Bybit's extra delay during maintenance.
const MAINTENANCE_DELAY: Duration = Duration::from_millis(250);

/// Script time to wall time: everything the story and the monitor's settings wait for is
/// divided by the speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    speed: f64,
}

/// A `--speed` outside [`SPEED_RANGE`] (or not a number).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("--speed must be between {min} and {max}, not {0}", min = SPEED_RANGE.0, max = SPEED_RANGE.1)]
pub struct BadSpeed(pub f64);

impl Timeline {
    /// A timeline running `speed` times faster than the script.
    ///
    /// # Errors
    ///
    /// [`BadSpeed`] when `speed` is outside [`SPEED_RANGE`].
    pub fn new(speed: f64) -> Result<Self, BadSpeed> {
        if (SPEED_RANGE.0..=SPEED_RANGE.1).contains(&speed) {
            Ok(Self { speed })
        } else {
            Err(BadSpeed(speed))
        }
    }

    /// The speed.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// `script` time as wall time at this speed (never below a millisecond).
    pub fn scale(&self, script: Duration) -> Duration {
        script.div_f64(self.speed).max(Duration::from_millis(1))
    }

    /// Each chapter with its start and length in wall time, from the start of the story.
    pub fn chapters(&self) -> impl Iterator<Item = (Duration, Duration, &'static Chapter)> + '_ {
        SCRIPT.iter().scan(Duration::ZERO, move |start, c| {
            let length = self.scale(c.length);
            let at = *start;
            *start += length;
            Some((at, length, c))
        })
    }

    /// The story's whole length in wall time.
    pub fn total(&self) -> Duration {
        self.chapters().map(|(_, length, _)| length).sum()
    }
}

/// Every simulator's condition at one point of a chapter.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Conditions {
    /// Binance's.
    pub binance: Condition,
    /// Bybit's.
    pub bybit: Condition,
    /// OKX's.
    pub okx: Condition,
}

impl Conditions {
    /// The condition of `venue`.
    pub fn of(&self, venue: Venue) -> Condition {
        match venue {
            Venue::Binance => self.binance,
            Venue::Bybit => self.bybit,
            Venue::Okx => self.okx,
        }
    }
}

impl Scene {
    /// What the simulators do at `progress` (0 at the chapter's start, 1 at its end) of a
    /// chapter of this scene that began at `began` (wall clock) and lasts `length` (wall
    /// time), on `timeline`.
    pub fn conditions(
        self,
        progress: f64,
        began: SystemTime,
        length: Duration,
        timeline: &Timeline,
    ) -> Conditions {
        let p = progress.clamp(0.0, 1.0);
        let mut c = Conditions::default();
        // OKX stays slow from its chapter until the recovery: a degradation that persists.
        if matches!(
            self,
            Scene::BybitOutage
                | Scene::BinanceRateLimit
                | Scene::PriceDrift
                | Scene::BybitMaintenance
        ) {
            c.okx.delay = PEAK_DELAY;
        }
        match self {
            Scene::Calm | Scene::Recovery => {}
            Scene::OkxLatency => {
                // Up over the first 70 %, then held: a creep, not a step.
                c.okx.delay = PEAK_DELAY.mul_f64((p / 0.7).min(1.0));
            }
            Scene::BybitOutage => c.bybit.failure = Failure::Status(503),
            Scene::BinanceRateLimit => {
                c.binance.failure = Failure::RateLimited {
                    retry_after: timeline.scale(RETRY_AFTER),
                }
            }
            Scene::PriceDrift => c.okx.price_offset_bps = PEAK_DRIFT_BPS * (p / 0.6).min(1.0),
            Scene::BybitMaintenance => {
                c.bybit.maintenance = Some(Maintenance {
                    begin: began,
                    end: began + length,
                    ongoing: true,
                });
                // Slow while the work goes on — from once the announcement has been read, so
                // the window is open before anything fires — and normal again before the
                // announced end, so nothing is still firing when the alerts resume.
                if (0.2..0.45).contains(&p) {
                    c.bybit.delay = MAINTENANCE_DELAY;
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_lasts_about_two_minutes_at_speed_one() {
        let t = Timeline::new(1.0).unwrap();
        let total = t.total();
        assert!(
            (Duration::from_secs(110)..=Duration::from_secs(140)).contains(&total),
            "{total:?}"
        );
    }

    #[test]
    fn speed_divides_every_chapter_and_keeps_their_order() {
        let slow = Timeline::new(1.0).unwrap();
        let fast = Timeline::new(10.0).unwrap();
        let a: Vec<_> = slow.chapters().collect();
        let b: Vec<_> = fast.chapters().collect();
        assert_eq!(a.len(), SCRIPT.len());
        for ((sa, la, ca), (sb, lb, cb)) in a.iter().zip(&b) {
            assert_eq!(ca.scene, cb.scene);
            assert_eq!(*lb, la.div_f64(10.0));
            assert_eq!(*sb, sa.div_f64(10.0));
        }
        // Chapters follow each other without gaps.
        for w in b.windows(2) {
            assert_eq!(w[0].0 + w[0].1, w[1].0);
        }
        assert_eq!(fast.total(), slow.total().div_f64(10.0));
        assert_eq!(
            fast.scale(Duration::from_secs(1)),
            Duration::from_millis(100)
        );
        // Never zero, however fast.
        let fastest = Timeline::new(SPEED_RANGE.1).unwrap();
        assert!(fastest.scale(Duration::from_micros(1)) >= Duration::from_millis(1));
    }

    #[test]
    fn speeds_outside_the_range_are_refused() {
        for s in [0.0, -1.0, 0.1, 10.5, 20.0, f64::NAN, f64::INFINITY] {
            assert!(Timeline::new(s).is_err(), "{s}");
        }
        assert!(Timeline::new(0.25).is_ok() && Timeline::new(10.0).is_ok());
        assert_eq!(
            BadSpeed(20.0).to_string(),
            "--speed must be between 0.25 and 10, not 20"
        );
    }

    #[test]
    fn scenes_ramp_and_scale() {
        let t = Timeline::new(10.0).unwrap();
        let began = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let len = Duration::from_secs(2);
        let at = |scene: Scene, p: f64| scene.conditions(p, began, len, &t);

        assert_eq!(at(Scene::Calm, 0.5), Conditions::default());
        assert_eq!(at(Scene::Recovery, 0.5), Conditions::default());
        // OKX latency creeps: monotonic, peak from 70 %.
        let d: Vec<_> = [0.0, 0.35, 0.7, 1.0]
            .map(|p| at(Scene::OkxLatency, p).okx.delay)
            .to_vec();
        assert_eq!(d[0], Duration::ZERO);
        assert!(d[1] > d[0] && d[2] > d[1]);
        assert_eq!(d[2], PEAK_DELAY);
        assert_eq!(d[3], PEAK_DELAY);
        // ... and holds until the recovery.
        for scene in [
            Scene::BybitOutage,
            Scene::BinanceRateLimit,
            Scene::PriceDrift,
            Scene::BybitMaintenance,
        ] {
            assert_eq!(at(scene, 0.5).okx.delay, PEAK_DELAY, "{scene:?}");
        }
        // Latency is what is measured: it is not scaled by the speed.
        assert_eq!(
            Scene::OkxLatency
                .conditions(1.0, began, len, &Timeline::new(1.0).unwrap())
                .okx
                .delay,
            PEAK_DELAY
        );
        assert_eq!(
            at(Scene::BybitOutage, 0.1).bybit.failure,
            Failure::Status(503)
        );
        // Retry-After is a wait: it is scaled.
        assert_eq!(
            at(Scene::BinanceRateLimit, 0.5).binance.failure,
            Failure::RateLimited {
                retry_after: Duration::from_millis(300)
            }
        );
        assert_eq!(at(Scene::PriceDrift, 0.3).okx.price_offset_bps, 150.0);
        assert_eq!(at(Scene::PriceDrift, 0.9).okx.price_offset_bps, 300.0);
        assert_eq!(at(Scene::PriceDrift, 0.9).binance, Condition::default());
        let m = at(Scene::BybitMaintenance, 0.3).bybit;
        assert_eq!(
            m.maintenance,
            Some(Maintenance {
                begin: began,
                end: began + len,
                ongoing: true
            })
        );
        assert_eq!(m.delay, MAINTENANCE_DELAY);
        assert_eq!(at(Scene::BybitMaintenance, 0.1).bybit.delay, Duration::ZERO);
        assert_eq!(at(Scene::BybitMaintenance, 0.8).bybit.delay, Duration::ZERO);
    }
}
