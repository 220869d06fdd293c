//! The demo's script: eight chapters, what each one does to the simulated exchanges, and the
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
//! | OKX latency | OKX answers 0 → 400 ms slower, and stays slow until the stream stall | `okx … latency spike` (the likelihood model), firing until OKX answers normally again |
//! | Bybit 503 storm | Bybit answers 503 (`retCode` 10016) | `bybit … failing`, then `bybit down (circuit open)` (critical); resolved once half-open trials succeed |
//! | Binance 429 | 429 with `Retry-After`; exwatch backs off | `binance … failing` (consecutive `rate_limited`, warning); the breaker stays closed: a rate limit is not an outage |
//! | price drift | OKX's BTC/USDT drifts to +300 bps | `okx btc-usdt price deviation`, warning then critical; resolved when it returns |
//! | maintenance | Bybit announces an ongoing window, then answers 250 ms slower for a while | `bybit under maintenance` (info); its latency alerts are held back; `bybit maintenance ended` |
//! | Binance stream stall | Binance's depth stream keeps its socket and its pings but sends no data for 15 s (8 s of wall time at most), then resumes with the next update id; Binance's REST endpoints answer normally; OKX answers normally again | `binance depth stream stalled; REST healthy` (`stream_stale`, critical), resolved once data flows again (in this chapter, or in the recovery at the fastest speeds); OKX's latency alerts resolve |
//! | recovery | everything normal | the remaining `resolved` alerts |
//!
//! The stream's cadence (Binance depth: 100 ms) and heartbeats scale like everything else,
//! but the cadence never drops below [`MIN_STREAM_CADENCE`] ([`Timeline::stream`]).

use std::time::{Duration, SystemTime};

use super::sim::{Condition, Failure, Maintenance, Venue};
use super::stream_sim::{StreamCondition, StreamTiming};

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

/// The fastest cadence the simulated stream pushes at, whatever the speed: Bybit's
/// `orderbook.50` (20 ms), the fastest a real venue pushes. Faster, a loaded laptop's
/// timer and scheduling jitter (milliseconds) would be most of every interval the stream
/// judge learns the cadence from, and the stall would be judged against noise.
pub const MIN_STREAM_CADENCE: Duration = Duration::from_millis(20);

/// The stream-stall chapter's stall, in script time, from the chapter's start …
const STALL: Duration = Duration::from_secs(15);
/// … and at most this much wall time: a stream silent for 10 s is replaced by exwatch's stream
/// actor (a client library would do the same), and at the slowest speeds the story would show
/// reconnects, each counted toward Binance's breaker, instead of the stall.
pub const MAX_STALL_WALL: Duration = Duration::from_secs(8);

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
    /// Binance's depth stream stalls; its REST API stays healthy.
    BinanceStreamStall,
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

/// The script, in order: about two and a half minutes at speed 1.
pub const SCRIPT: [Chapter; 8] = [
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
        scene: Scene::BinanceStreamStall,
        title: "Binance's BTC/USDT depth stream stalls: socket open, pings answered, no data; its REST API stays healthy…",
        // The stall (15 s) must outlast the stall threshold the stream judge learned (three
        // cadences plus half a second of wall time: 0.6–0.9 s at --speed 10); the rest of the
        // chapter and the recovery leave time for three healthy silence readings (one a
        // second of wall time) and the flap hold before the resolution.
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

    /// A stream's `real` timing at this speed: every wait scaled, the cadence never below
    /// [`MIN_STREAM_CADENCE`].
    pub fn stream(&self, real: StreamTiming) -> StreamTiming {
        StreamTiming {
            cadence: self.scale(real.cadence).max(MIN_STREAM_CADENCE),
            ping_every: self.scale(real.ping_every),
            pong_timeout: self.scale(real.pong_timeout),
            lifetime: self.scale(real.lifetime),
        }
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
    /// Binance's depth stream's.
    pub binance_depth: StreamCondition,
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
            Scene::BinanceStreamStall => {
                // Stalled from the start for STALL of script time, or MAX_STALL_WALL of wall
                // time if that is shorter; then data flows again.
                let stall = timeline.scale(STALL).min(MAX_STALL_WALL);
                c.binance_depth.stalled = length.mul_f64(p) < stall;
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_lasts_about_two_and_a_half_minutes_at_speed_one() {
        let t = Timeline::new(1.0).unwrap();
        let total = t.total();
        assert!(
            (Duration::from_secs(140)..=Duration::from_secs(170)).contains(&total),
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
        // OKX answers normally again from the stream chapter on, when it did before the stream
        // chapter was written: its incident resolves as it did, in one message.
        assert_eq!(at(Scene::BinanceStreamStall, 0.0).okx, Condition::default());
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

    #[test]
    fn the_stream_stalls_while_binance_rest_stays_healthy_then_resumes() {
        let began = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let stall = Scene::BinanceStreamStall;
        // (Below speed 15 / 8 ≈ 1.9 the stall is capped; see below.)
        for speed in [10.0, 2.0] {
            let t = Timeline::new(speed).unwrap();
            let len = t.scale(Duration::from_secs(20));
            let at = |p: f64| stall.conditions(p, began, len, &t);
            // 15 s of the 20 s chapter: stalled to 75 %, flowing after.
            for p in [0.0, 0.3, 0.74] {
                let c = at(p);
                assert!(c.binance_depth.stalled, "{speed} {p}");
                // Binance's REST simulator answers normally all along.
                assert_eq!(c.binance, Condition::default(), "{speed} {p}");
            }
            assert!(!at(0.76).binance_depth.stalled, "{speed}");
            assert!(!at(1.0).binance_depth.stalled, "{speed}");
        }
        // At --speed 10 the stall lasts 1.5 s of wall time: beyond the 0.6–0.9 s the judge
        // needs at a 20 ms cadence.
        let t = Timeline::new(10.0).unwrap();
        let len = t.scale(Duration::from_secs(20));
        assert!(stall.conditions(0.74, began, len, &t).binance_depth.stalled);
        // Slow, the stall is capped at MAX_STALL_WALL of wall time (the stream actor would
        // replace a connection silent for 10 s).
        let t = Timeline::new(0.25).unwrap();
        let len = t.scale(Duration::from_secs(20));
        let p_cap = MAX_STALL_WALL.as_secs_f64() / len.as_secs_f64();
        assert!(
            stall
                .conditions(p_cap - 0.01, began, len, &t)
                .binance_depth
                .stalled
        );
        assert!(
            !stall
                .conditions(p_cap + 0.01, began, len, &t)
                .binance_depth
                .stalled
        );
        // Every other scene leaves the stream alone.
        for c in SCRIPT.iter().filter(|c| c.scene != stall) {
            for p in [0.0, 0.5, 1.0] {
                let t = Timeline::new(1.0).unwrap();
                let c = c.scene.conditions(p, began, t.scale(c.length), &t);
                assert_eq!(c.binance_depth, StreamCondition::default());
            }
        }
        // It comes after Binance's 429 chapter (whose alerts must be resolved: "REST
        // healthy") and before the recovery.
        let order: Vec<Scene> = SCRIPT.iter().map(|c| c.scene).collect();
        let i = order.iter().position(|s| *s == stall).unwrap();
        assert!(order[..i].contains(&Scene::BinanceRateLimit));
        assert_eq!(order[i + 1], Scene::Recovery);
    }

    #[test]
    fn the_stream_scales_like_the_story_but_never_pushes_faster_than_20_ms() {
        let real = StreamTiming::BINANCE_SPOT;
        assert_eq!(Timeline::new(1.0).unwrap().stream(real), real);
        let fast = Timeline::new(10.0).unwrap().stream(real);
        assert_eq!(fast.cadence, MIN_STREAM_CADENCE, "not 10 ms");
        assert_eq!(fast.ping_every, Duration::from_secs(2));
        assert_eq!(fast.pong_timeout, Duration::from_secs(6));
        let mid = Timeline::new(2.0).unwrap().stream(real);
        assert_eq!(mid.cadence, Duration::from_millis(50));
        let slow = Timeline::new(0.25).unwrap().stream(real);
        assert_eq!(slow.cadence, Duration::from_millis(400));
        assert_eq!(slow.lifetime, Duration::from_secs(96 * 3600));
    }
}
