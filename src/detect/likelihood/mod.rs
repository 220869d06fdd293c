//! The likelihood model: the default judge of a latency series, and of any series replayed
//! with `exwatch replay`. For each row it answers one question — how unusual is *this* row,
//! given everything before it — as a calibrated probability, and keeps an incident open while
//! a degradation lasts.
//!
//! Per row, causally (the row is judged before it is learned):
//!
//! 1. **Views** turn the row into tail probabilities against the series' recent past:
//!    - *level*: the value against a sliding window of the last `window` values (mid-rank tail,
//!      with an exponential tail beyond the window's extremes, [`SortedWindow`]);
//!    - *change*: the step from the previous row against the window of recent steps (a jump in
//!      a wandering series; skipped across a gap in time);
//!    - *flat line*: a run of identical values, against how often this series repeats a value
//!      (a stuck feed); not for latency.
//!
//!    Latency (`direction = up`) looks at upper tails only and ignores rises under
//!    `min_increase_ms`; `both` takes the smaller tail twice. The smallest probability, times
//!    the number of views, makes the row's *surprise* `s = −log10 p`.
//! 2. **Calibration** (the anomaly likelihood of Ahmad et al., "Unsupervised real-time anomaly
//!    detection for streaming data", Neurocomputing 2017, with a peaks-over-threshold tail):
//!    `s`, and its short exponential average `s̄` (8 rows), are compared with their own
//!    long-run distributions ([`SurpriseTail`], half-life `history` rows). A series that is
//!    always noisy produces large surprises often, so they stop being unlikely; a series that
//!    is calm makes a small one unlikely. `q` is the smaller tail probability, twice.
//! 3. **Confidence** is that of an hour of such rows, `(1 − q)^m` with `m` rows an hour (from
//!    the series' own sampling interval), so that a level means the same false-alarm rate per
//!    hour at any probe interval; `levels` map it to info / warning / critical.
//! 4. **Incident** ([`Incident`]): the first row at info or above opens one; it escalates with
//!    severity and holds while the value stays beyond the series' *learned normal band* (a
//!    winsorised long-run mean ± 3 robust deviations, which learns a tenth as fast while the
//!    incident is open: a slowdown becomes the new normal only over many `history` rows, not
//!    within a window) or the series keeps surprising the model; it closes after
//!    `resolve_after` calm rows inside the band.
//!
//! The row's **onset score** (`anomaly_score` in replay) is `−log10(1 − confidence) / 8`,
//! clamped to 0..=1 (confidence 0.99 scores 0.25, 1 − 10⁻⁸ scores 1), on rows outside an
//! incident and on the rows that open or escalate one; the other rows of an incident score 0.
//!
//! Cost: two sorted windows of `window` `f32`s (each with its short queue and its one-byte slot
//! numbers in sorted order), a 64-bin histogram per tail (four for a latency series, six for
//! `both`) that keeps only the bins a row reached, and a few scalars: 2.0 KB for a calm latency
//! series at the default window of 128. A pair takes 8 B where a dense bin took 4, so a series
//! whose surprises reached every bin would hold 4.1 KB (3.0 KB dense); the replays of the corpus
//! use a median of 4 bins a latency tail. An update is a few binary searches, two short `memmove`s
//! and a few histogram adds, with no allocation but the box of an incident as it opens and a tail's
//! list of bins as it grows past three (a few times in a series' life).

mod bins;
pub mod incident;
pub mod tail;
pub mod window;

pub use incident::{Change, Incident, Verdict};
pub use tail::SurpriseTail;
pub use window::{SortedWindow, normal_surprise};

use std::sync::Arc;

use crate::detect::baseline::severity_for;
use crate::detect::config::{Direction, LatencySettings, LikelihoodSettings, ValueUnit};
use crate::detect::finding::Finding;
use crate::detect::interned::intern;
use crate::messages::{Severity, Stats};

/// The largest surprise a row can have (p = 10⁻³⁰⁰).
const MAX_SURPRISE: f64 = 300.0;
/// Rows averaged in the sustained surprise (`s̄`) and the recent level.
const SUSTAIN_ROWS: f64 = 8.0;
/// The newest rows wait this long before they join the windows a row is judged against.
const RECENT_ROWS: usize = 8;
/// The fewest values a window needs before it judges.
const MIN_WINDOW: usize = 4;
/// Pseudo-rows of the null distribution in the point surprise's long-run distribution.
const PRIOR_ROWS: f64 = 100.0;
/// Rows of sustained surprise needed before it is judged.
const SUSTAIN_WARMUP: f64 = 100.0;
/// A gap in time of this many sampling intervals separates rows: no step across it.
const GAP_INTERVALS: f64 = 5.0;
/// Learning rate of the learned normal from an anomalous row (one the model found unusual, or
/// of an open incident), relative to an ordinary one.
const ANOMALY_LEARNING: f64 = 0.1;
/// Weight of a row of an open incident in the long-run distributions of surprise.
const INCIDENT_TAIL_LEARNING: f64 = 0.02;
/// A row whose level is more surprising than this is unusual enough to teach the normal slowly.
const UNUSUAL_LEVEL: f64 = 3.0;
/// Learned-normal band: the long-run mean ± this many robust deviations.
const BAND_DEVIATIONS: f64 = 3.0;
/// `σ` of a normal distribution per unit of mean absolute deviation.
const MAD_TO_STD: f64 = 1.2533;
/// A latency spike needs a second unusual row within this many rows to rise above info.
const CONFIRM_ROWS: u32 = 4;
/// Latencies are clamped to 0 ..= 10 min, as the sliding models do.
const MAX_LATENCY_MS: f64 = 600_000.0;

/// Detector names, as alerts and the replay's `detector` column show them: a value far from
/// the recent ones.
pub const SPIKE: &str = "spike";
/// A value far below the recent ones (not for latency).
pub const DIP: &str = "dip";
/// A step far larger than the recent steps (a jump of a wandering series).
pub const JUMP: &str = "jump";
/// A stuck value.
pub const FLATLINE: &str = "flatline";
/// The recent level far from the learned normal (a slow drift the window followed).
pub const DRIFT: &str = "drift";
/// A run of unusual rows rather than one (a shift, more noise).
pub const SUSTAINED: &str = "sustained";

/// The views of a row, each calibrated against its own long-run distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Level,
    Dip,
    Step,
    Flat,
    Drift,
    Sustained,
}

/// Number of [`View`]s.
const VIEWS: usize = 6;

/// False for the views a one-sided series never has (latency's dips and flat lines): they are
/// neither judged nor learned, and have no tail.
fn watches(up_only: bool, view: View) -> bool {
    !(up_only && matches!(view, View::Dip | View::Flat))
}

/// Where a watched `view`'s tail sits among the watched views' tails (the views in
/// [`View::ALL`] order, the unwatched ones left out).
fn tail_index(up_only: bool, view: View) -> usize {
    match (up_only, view) {
        (false, _) => view as usize,
        (true, View::Dip | View::Flat) => usize::MAX,
        (true, View::Level) => 0,
        (true, View::Step) => 1,
        (true, View::Drift) => 2,
        (true, View::Sustained) => 3,
    }
}

impl View {
    const ALL: [View; VIEWS] = [
        View::Level,
        View::Dip,
        View::Step,
        View::Flat,
        View::Drift,
        View::Sustained,
    ];

    fn detector(self) -> &'static str {
        match self {
            View::Level => SPIKE,
            View::Dip => DIP,
            View::Step => JUMP,
            View::Flat => FLATLINE,
            View::Drift => DRIFT,
            View::Sustained => SUSTAINED,
        }
    }
}

/// What one row amounted to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Judgement {
    /// The onset score, 0..=1 (module docs).
    pub score: f64,
    /// The incident's finding while one is open after this row.
    pub finding: Option<Finding>,
    /// What the row did to the incident.
    pub change: Change,
}

/// The likelihood model of one series. See the module docs.
#[derive(Debug, Clone)]
pub struct LikelihoodModel {
    up_only: bool,
    ms: bool,
    min_rise: f64,
    /// Shared by every series of the same settings ([`intern`]).
    limits: Arc<Limits>,
    values: SortedWindow,
    steps: SortedWindow,
    /// The previous row (see [`LikelihoodModel::prev`]).
    prev_at: i64,
    prev_x: f64,
    /// The typical time between rows, ms (0 until two rows were seen).
    interval_ms: f64,
    rows: u64,
    /// Winsorised long-run mean and mean absolute deviation of the values.
    mean: f64,
    mad: f64,
    /// Winsorised long-run mean absolute step: the floor of every spread.
    step: f64,
    /// Decayed counts of rows and of rows repeating the previous value.
    repeats: f64,
    pairs: f64,
    run: u32,
    /// The recent level: an exponential average of the last few values.
    recent: f64,
    /// The long-run distribution of surprise of each view this series watches, in
    /// [`View::ALL`] order ([`LikelihoodModel::tail`]): a one-sided series has no dip or
    /// flat-line tail, which saves a third of the model's bytes on every latency series.
    tails: Box<[SurpriseTail]>,
    s_bar: f64,
    incident: Incident,
    /// The band the incident is judged against (the learned normal, as of the last row).
    band: (f64, f64),
    /// How much the row being judged teaches the learned normal (1 for an ordinary row).
    teach: f64,
    /// The open incident's latest value beyond the band (what its alerts quote, so that the
    /// last one before it closes does not quote a value already back to normal).
    away_value: f64,
    /// Rows since the last row whose level or step was unusual (see [`UNUSUAL_LEVEL`]).
    since_unusual: u32,
}

/// The likelihood settings a model reads as it judges (the window's size is its windows'),
/// counts capped at `u32::MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Limits {
    levels: [f64; 3],
    history: u32,
    min_samples: u32,
    resolve_after: u32,
}

impl Limits {
    fn of(settings: &LikelihoodSettings) -> Self {
        let cap = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            levels: settings.levels,
            history: cap(settings.history),
            min_samples: cap(settings.min_samples),
            resolve_after: cap(settings.resolve_after),
        }
    }
}

impl LikelihoodModel {
    /// A model for a series judged as `latency` says (unit, direction, rise floor) with the
    /// likelihood settings; allocates its windows once.
    pub fn new(latency: &LatencySettings, settings: &LikelihoodSettings) -> Self {
        let history = settings.history.max(2);
        let up_only = latency.direction == Direction::Up;
        Self {
            up_only,
            ms: latency.unit == ValueUnit::Ms,
            min_rise: if latency.unit == ValueUnit::Ms {
                latency.min_increase_ms
            } else {
                0.0
            },
            limits: intern(Limits::of(settings)),
            values: SortedWindow::new(settings.window, RECENT_ROWS),
            steps: SortedWindow::new(settings.window, RECENT_ROWS),
            prev_at: 0,
            prev_x: 0.0,
            interval_ms: 0.0,
            rows: 0,
            mean: 0.0,
            mad: 0.0,
            step: 0.0,
            repeats: 0.0,
            pairs: 0.0,
            run: 0,
            recent: 0.0,
            // The flat-line view's surprise is a plain geometric probability, and the sustained
            // one waits for its own history: neither needs the prior.
            tails: View::ALL
                .iter()
                .filter(|&&view| watches(up_only, view))
                .map(|view| {
                    let prior = match view {
                        View::Flat | View::Sustained => 0.0,
                        _ => PRIOR_ROWS,
                    };
                    SurpriseTail::new(history, prior)
                })
                .collect(),
            s_bar: 0.0,
            incident: Incident::default(),
            band: (f64::NEG_INFINITY, f64::INFINITY),
            teach: 1.0,
            away_value: 0.0,
            since_unusual: u32::MAX,
        }
    }

    /// Bytes this model holds on the heap (its two windows and its tails; the rest is inline,
    /// but for an open incident's box).
    pub fn heap_bytes(&self) -> usize {
        self.values.heap_bytes()
            + self.steps.heap_bytes()
            + std::mem::size_of_val::<[SurpriseTail]>(&self.tails)
            + self
                .tails
                .iter()
                .map(SurpriseTail::heap_bytes)
                .sum::<usize>()
    }

    /// True while an incident is open.
    pub fn is_open(&self) -> bool {
        self.incident.open().is_some()
    }

    /// The learned normal band `(lo, hi)` of the values.
    pub fn band(&self) -> (f64, f64) {
        self.band
    }

    /// Window percentiles, for alerts.
    pub fn stats(&self) -> Stats {
        Stats {
            p50_ms: self.values.quantile(0.50),
            p90_ms: self.values.quantile(0.90),
            p99_ms: self.values.quantile(0.99),
            ..Stats::default()
        }
    }

    /// Judges the row `(at, x)` (ms since the epoch; a finite value), then learns it.
    pub fn update(&mut self, at: i64, x: f64) -> Judgement {
        let x = if self.ms {
            x.clamp(0.0, MAX_LATENCY_MS)
        } else {
            x
        };
        let gap = self.observe_interval(at);
        let step = self.prev().map(|(_, p)| x - p).filter(|_| !gap);
        let repeated = self.prev().is_some_and(|(_, p)| p == x);
        self.run = if repeated { self.run + 1 } else { 0 };

        let warm =
            self.rows >= u64::from(self.limits.min_samples) && self.values.len() >= MIN_WINDOW;
        self.teach = 1.0;
        let judgement = if warm {
            self.judge(x, step)
        } else {
            Judgement {
                score: 0.0,
                finding: None,
                change: Change::Quiet,
            }
        };
        self.learn(at, x, step, repeated);
        judgement
    }

    /// Notes the time since the previous row; true when it is a gap.
    fn observe_interval(&mut self, at: i64) -> bool {
        let Some((prev_at, _)) = self.prev() else {
            return false;
        };
        // Saturating: a replayed file may hold any timestamps, i64::MIN and MAX included.
        let dt = at.saturating_sub(prev_at) as f64;
        if dt <= 0.0 {
            return false;
        }
        if self.interval_ms <= 0.0 {
            self.interval_ms = dt;
            return false;
        }
        let gap = dt > GAP_INTERVALS * self.interval_ms;
        // A slowly moving, outlier-limited estimate of the typical interval.
        let clipped = dt.clamp(self.interval_ms * 0.5, self.interval_ms * 2.0);
        self.interval_ms += (clipped - self.interval_ms) * 0.02;
        gap
    }

    /// Rows an hour, at the series' own sampling interval (at least one).
    fn rows_per_hour(&self) -> f64 {
        if self.interval_ms > 0.0 {
            (3_600_000.0 / self.interval_ms).max(1.0)
        } else {
            60.0
        }
    }

    /// The smallest spread worth resolving: a quarter of the typical step, and never zero.
    fn floor(&self) -> f64 {
        let tiny = 1e-9 * (self.mean.abs() + self.mad) + 1e-12;
        let f = (0.25 * self.step).max(tiny);
        if self.ms { f.max(1.0) } else { f }
    }

    /// Surprise of the step `x` against the window of steps, on the sides that count (both:
    /// the larger, less `log10 2` for having looked twice).
    fn surprise(&self, window: &SortedWindow, x: f64, reference: f64) -> f64 {
        let floor = self.floor();
        let rises = x - reference >= self.min_rise;
        if self.up_only {
            return if rises {
                window.upper_surprise(x, floor)
            } else {
                0.0
            };
        }
        let (up, low) = window.surprises(x, floor);
        let up = if rises { up } else { 0.0 };
        (up.max(low) - std::f64::consts::LOG10_2).max(0.0)
    }

    /// False for the views a one-sided series never has (latency's dips and flat lines): they
    /// are neither judged nor learned.
    fn watches(&self, view: View) -> bool {
        watches(self.up_only, view)
    }

    fn judge(&mut self, x: f64, step: Option<f64>) -> Judgement {
        let median = self.values.quantile(0.5).unwrap_or(x);
        // Highs and lows are judged apart: a series whose benign hiccups are all upwards
        // (latency, volumes) has learned nothing about how rare a drop is.
        let floor = self.floor();
        let rises = x - median >= self.min_rise;
        let (up, low) = match (self.up_only, rises) {
            (true, false) => (0.0, 0.0),
            (true, true) => (self.values.upper_surprise(x, floor), 0.0),
            (false, _) => self.values.surprises(x, floor),
        };
        let s_high = if rises { up.min(MAX_SURPRISE) } else { 0.0 };
        let s_low = low.min(MAX_SURPRISE);
        let s_level = s_high.max(s_low);
        // A step counts only away from the window's median: the step back from an outlier
        // says the outlier was unusual, which the level view said already.
        let s_step = match step {
            Some(d) if self.steps.len() >= MIN_WINDOW && d * (x - median) > 0.5 * d * d => {
                self.surprise(&self.steps, d, 0.0)
            }
            _ => 0.0,
        };
        let s_flat = if self.up_only || self.run < 2 {
            0.0
        } else {
            let rate = (self.repeats + 0.5) / (self.pairs + 1.0);
            -f64::from(self.run) * rate.log10()
        };
        // The recent level (this row included) against the learned normal, in long-run
        // deviations.
        let recent = self.recent + (x - self.recent) / SUSTAIN_ROWS;
        let sigma = (self.mad * MAD_TO_STD).max(self.floor());
        let rise = recent - self.mean;
        let s_drift = if self.up_only && rise < self.min_rise.max(0.0) {
            0.0
        } else if self.up_only {
            normal_surprise(rise / sigma)
        } else {
            (normal_surprise(rise.abs() / sigma) - std::f64::consts::LOG10_2).max(0.0)
        };
        // Clipped, so that one extreme row does not pass for a run of unusual ones.
        self.s_bar += (s_level.min(UNUSUAL_LEVEL) - self.s_bar) / SUSTAIN_ROWS;
        let s = [
            s_high,
            s_low,
            s_step.min(MAX_SURPRISE),
            s_flat.min(MAX_SURPRISE),
            s_drift.min(MAX_SURPRISE),
            self.s_bar,
        ];
        let mut q = [1.0; VIEWS];
        for (v, view) in View::ALL.iter().enumerate() {
            if !self.watches(*view) {
                continue;
            }
            let tail = &mut self.tails[tail_index(self.up_only, *view)];
            let judged = match view {
                View::Sustained => tail.mass() >= SUSTAIN_WARMUP,
                _ => true,
            };
            // Most rows are ordinary on most views; those need no exact tail: a view at 1/4
            // or more cannot be the row's smallest once multiplied by the (four or six) views.
            // A surprise of 0 has a tail of 1 whatever the knots, which are not even read.
            if judged && s[v] > 0.0 && s[v] >= tail.ordinary() {
                q[v] = tail.at_least(s[v]);
            }
        }
        let (best, q_min) = q
            .iter()
            .copied()
            .enumerate()
            .fold((0, 1.0), |b, (v, qv)| if qv < b.1 { (v, qv) } else { b });
        let views = if self.up_only { VIEWS - 2 } else { VIEWS } as f64;
        let q_row = (q_min * views).min(1.0);
        let detector = View::ALL[best].detector();
        let q_sustained = q[View::Sustained as usize];
        // Confidence (1 − q)^m, and its complement (an hour of normal rows would produce
        // one this surprising), computed without cancellation; an ordinary row (q = 1, most
        // rows) has none.
        let (confidence, doubt) = if q_row >= 1.0 {
            (0.0, 1.0)
        } else {
            let log_confidence = self.rows_per_hour() * (-q_row).ln_1p();
            (log_confidence.exp(), -log_confidence.exp_m1())
        };
        let levels = self.limits.levels;
        let severity = severity_for(confidence, &levels);
        // One slow probe is not a degradation: for latency, a row that stands out alone (no
        // other unusual row among the few before it; probes overlap, so slow answers may
        // interleave with fast ones) opens an incident at info at most; the next slow one
        // escalates it.
        let point = matches!(View::ALL[best], View::Level | View::Dip | View::Step);
        let unusual = s_level > UNUSUAL_LEVEL || s_step > UNUSUAL_LEVEL;
        let severity = if self.ms && point && self.since_unusual > CONFIRM_ROWS {
            severity.map(|s| s.min(Severity::Info))
        } else {
            severity
        };
        self.since_unusual = if unusual {
            1
        } else {
            self.since_unusual.saturating_add(1)
        };
        // Every row teaches the long-run distributions of surprise, so that a benign hiccup
        // that recurs becomes ordinary; their tails are fitted to the bulk (up to the 99th
        // percentile), which a rare anomaly does not move. An open incident teaches less: a
        // degradation that lasts must not make itself look ordinary within minutes.
        let weight = if self.is_open() {
            INCIDENT_TAIL_LEARNING
        } else {
            1.0
        };
        let up_only = self.up_only;
        let watched = View::ALL
            .iter()
            .zip(s)
            .filter(|(view, _)| watches(up_only, **view));
        for (tail, (_, s)) in self.tails.iter_mut().zip(watched) {
            tail.add(s, weight);
        }
        // The learned normal learns from ordinary rows: not from a creep the window follows.
        if severity.is_some() || self.is_open() || s_level > UNUSUAL_LEVEL {
            self.teach = ANOMALY_LEARNING;
        }
        let verdict = Verdict {
            severity,
            confidence,
            detector,
            value: x,
            sustained_q: q_sustained,
        };
        let change = self
            .incident
            .step(&verdict, self.band, self.limits.resolve_after as usize);
        let score = match change {
            Change::Quiet | Change::Opened | Change::Escalated => onset_score(doubt),
            Change::Held | Change::Closed => 0.0,
        };
        if let Some(open) = self.incident.open() {
            let away = if open.side > 0.0 {
                x > self.band.1
            } else {
                x < self.band.0
            };
            if away || matches!(change, Change::Opened | Change::Escalated) {
                self.away_value = x;
            }
        }
        let finding = self.incident.open().map(|open| Finding {
            detector: open.detector,
            severity: open.severity,
            value: self.away_value,
            threshold: if open.side > 0.0 {
                self.band.1
            } else {
                self.band.0
            },
            confidence: open.confidence,
        });
        Judgement {
            score,
            finding,
            change,
        }
    }

    /// The previous row learned, `(at, x)`: the one `learn` noted last, if any (kept as two
    /// plain fields, 8 B less than an `Option`).
    fn prev(&self) -> Option<(i64, f64)> {
        (self.rows > 0).then_some((self.prev_at, self.prev_x))
    }

    fn learn(&mut self, at: i64, x: f64, step: Option<f64>, repeated: bool) {
        let had_prev = self.prev().is_some();
        self.rows += 1;
        let slow = 1.0 / f64::from(self.limits.history.max(2));
        // Cumulative at first, then exponential: a fast start, a long memory.
        let rate = (1.0 / self.rows as f64).max(slow) * self.teach;
        if self.rows == 1 {
            self.mean = x;
        } else {
            let sigma = self.mad * MAD_TO_STD;
            let limit = BAND_DEVIATIONS * sigma;
            let dev = x - self.mean;
            let clipped = if self.rows > 10 && limit > 0.0 {
                dev.clamp(-limit, limit)
            } else {
                dev
            };
            self.mean += rate * clipped;
            let abs = if self.rows > 10 && limit > 0.0 {
                dev.abs().min(limit)
            } else {
                dev.abs()
            };
            self.mad += rate * (abs - self.mad);
        }
        if let Some(d) = step {
            let limit = 4.0 * self.step;
            let d_abs = if self.rows > 10 && limit > 0.0 {
                d.abs().min(limit)
            } else {
                d.abs()
            };
            self.step += rate.max(slow) * (d_abs - self.step);
            self.steps.push(d);
        }
        if had_prev {
            // A stuck stretch must not teach that this series repeats itself.
            let keep = 1.0 - slow * self.teach;
            self.pairs = self.pairs * keep + self.teach;
            self.repeats = self.repeats * keep + self.teach * f64::from(u8::from(repeated));
        }
        self.values.push(x);
        self.recent = if self.rows == 1 {
            x
        } else {
            self.recent + (x - self.recent) / SUSTAIN_ROWS
        };
        (self.prev_at, self.prev_x) = (at, x);
        let half = BAND_DEVIATIONS * self.mad * MAD_TO_STD + self.floor();
        let (lo, hi) = (self.mean - half, self.mean + half);
        self.band = (lo, hi.max(self.mean + self.min_rise));
    }
}

/// The onset score of a row whose confidence is `1 − doubt`: `−log10(doubt) / 8`, clamped
/// to 0..=1.
pub fn onset_score(doubt: f64) -> f64 {
    if doubt >= 1.0 {
        return 0.0;
    }
    (-doubt.max(1e-300).log10() / 8.0).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(unit: ValueUnit, direction: Direction) -> LikelihoodModel {
        let latency = LatencySettings {
            unit,
            direction,
            ..LatencySettings::default()
        };
        LikelihoodModel::new(&latency, &LikelihoodSettings::default())
    }

    /// What a live latency series' model costs, all told (issue 13 counts every byte of a
    /// one-endpoint exchange): 2 KB at the default window of 128 while its tails' bins stay
    /// inline (2 048 B: the struct, two windows of 640 B, four tails of 96 B), from 3 KB
    /// with dense tails and 4.9 KB before the windows kept slot numbers instead of a sorted
    /// copy and the tails stopped caching their shares.
    #[test]
    fn a_latency_model_costs_two_kilobytes() {
        let m = model(ValueUnit::Ms, Direction::Up);
        let bytes = std::mem::size_of::<LikelihoodModel>() + m.heap_bytes();
        assert!(bytes <= 2_048, "{bytes} bytes");
        // The model's own box is served from the 320 B class (384 before its windows and
        // settings were slimmed).
        assert!(std::mem::size_of::<LikelihoodModel>() <= 320);
    }

    /// Found by the replay fuzz target: the step between two rows' times overflowed.
    #[test]
    fn extreme_timestamps_are_rows_like_any_other() {
        let mut m = model(ValueUnit::Any, Direction::Both);
        for (i, at) in [i64::MIN, i64::MAX, i64::MIN, 0, i64::MAX, i64::MAX - 1]
            .into_iter()
            .cycle()
            .take(60)
            .enumerate()
        {
            let j = m.update(at, (i % 7) as f64);
            assert!((0.0..=1.0).contains(&j.score), "{}", j.score);
        }
    }

    /// Heavy-tailed latency around `base` ms: lognormal jitter, and a benign hiccup of up to
    /// +150 % on one row in a hundred.
    fn noisy(rng: &mut fastrand::Rng, base: f64) -> f64 {
        let normal = (0..6).map(|_| rng.f64()).sum::<f64>() - 3.0;
        let mut v = base * (0.15 * normal).exp();
        if rng.f64() < 0.01 {
            v *= 1.0 + 1.5 * rng.f64();
        }
        v
    }

    const MIN: i64 = 60_000;

    #[test]
    fn a_calm_but_noisy_series_raises_no_warning_in_a_week() {
        let mut m = model(ValueUnit::Ms, Direction::Up);
        let mut rng = fastrand::Rng::with_seed(7);
        let mut loud = 0;
        for i in 0..7 * 1440 {
            let j = m.update(i * MIN, noisy(&mut rng, 80.0));
            if j.change == Change::Opened
                && j.finding.is_some_and(|f| f.severity >= Severity::Warning)
            {
                loud += 1;
            }
        }
        assert_eq!(loud, 0, "warning or critical incidents on benign noise");
    }

    #[test]
    fn a_level_shift_opens_once_stays_open_while_it_lasts_and_closes_after() {
        let mut m = model(ValueUnit::Ms, Direction::Up);
        let mut rng = fastrand::Rng::with_seed(11);
        let mut t = 0;
        let mut row = |m: &mut LikelihoodModel, base: f64| {
            t += MIN;
            m.update(t, noisy(&mut rng, base))
        };
        for _ in 0..1000 {
            row(&mut m, 60.0);
        }
        // Four times slower for five hours: the first slow row opens the incident (at info,
        // since one slow probe alone is no degradation), the second escalates it.
        let first = row(&mut m, 240.0);
        assert_eq!(first.change, Change::Opened);
        assert!(first.score > 0.5, "onset score {}", first.score);
        let second = row(&mut m, 240.0);
        assert_eq!(second.change, Change::Escalated);
        let f = second.finding.expect("firing");
        assert!(f.severity >= Severity::Warning, "{f:?}");
        for i in 0..300 {
            let j = row(&mut m, 240.0);
            assert!(j.finding.is_some(), "closed after {i} rows of the slowdown");
            assert!(
                j.score == 0.0 || j.change == Change::Escalated,
                "a held row scores 0: {j:?}"
            );
        }
        // Back to normal: it closes within a few rows and stays closed.
        let mut closed_at = None;
        for i in 0..60 {
            if row(&mut m, 60.0).change == Change::Closed {
                closed_at = Some(i);
            }
        }
        assert!(closed_at.is_some_and(|i| i < 20), "{closed_at:?}");
        assert!(!m.is_open());
    }

    #[test]
    fn latency_drops_are_never_incidents_but_any_unit_sees_both_ways() {
        let mut up = model(ValueUnit::Ms, Direction::Up);
        let mut both = model(ValueUnit::Any, Direction::Both);
        let mut rng = fastrand::Rng::with_seed(5);
        for i in 0..500 {
            // Jitter without hiccups, so that no incident is open when the drop comes.
            let normal = (0..6).map(|_| rng.f64()).sum::<f64>() - 3.0;
            let x = 100.0 * (0.15 * normal).exp();
            up.update(i * MIN, x);
            both.update(i * MIN, x);
        }
        let drop = 5.0;
        assert_ne!(up.update(500 * MIN, drop).change, Change::Opened);
        let j = both.update(500 * MIN, drop);
        assert!(
            matches!(j.change, Change::Opened | Change::Escalated) && j.score > 0.15,
            "{j:?}"
        );
        assert_eq!(j.finding.map(|f| f.detector), Some(DIP));
    }

    #[test]
    fn a_stuck_value_is_a_flat_line() {
        let mut m = model(ValueUnit::Any, Direction::Both);
        let mut rng = fastrand::Rng::with_seed(3);
        for i in 0..2000 {
            m.update(i * MIN, 20.0 + rng.f64());
        }
        let mut opened = None;
        for i in 0..30 {
            let j = m.update((2000 + i) * MIN, 20.5);
            if j.change == Change::Opened {
                opened = Some((i, j.finding.expect("firing").detector));
                break;
            }
        }
        let (after, detector) = opened.expect("the stuck value opens an incident");
        assert_eq!(detector, FLATLINE);
        assert!(after <= 6, "after {after} repeats");
    }

    #[test]
    fn scores_are_causal_and_the_same_input_gives_the_same_scores() {
        let mut rng = fastrand::Rng::with_seed(13);
        let series: Vec<f64> = (0..800).map(|_| noisy(&mut rng, 50.0)).collect();
        let run = |rows: &[f64]| {
            let mut m = model(ValueUnit::Any, Direction::Both);
            rows.iter()
                .enumerate()
                .map(|(i, &x)| m.update(i as i64 * MIN, x).score)
                .collect::<Vec<_>>()
        };
        let whole = run(&series);
        let prefix = run(&series[..500]);
        assert_eq!(whole[..500], prefix[..]);
    }

    #[test]
    fn any_scale_and_sign_scores_alike() {
        let mut rng = fastrand::Rng::with_seed(17);
        let series: Vec<f64> = (0..600)
            .map(|i| {
                if i == 400 {
                    400.0
                } else {
                    noisy(&mut rng, 100.0)
                }
            })
            .collect();
        let run = |scale: f64, offset: f64| {
            let mut m = model(ValueUnit::Any, Direction::Both);
            series
                .iter()
                .enumerate()
                .map(|(i, &x)| m.update(i as i64 * MIN, x * scale + offset).score)
                .collect::<Vec<_>>()
        };
        let base = run(1.0, 0.0);
        let shifted = run(1e-4, -7.0);
        assert!(
            base[400] > 0.25 && shifted[400] > 0.25,
            "{} {}",
            base[400],
            shifted[400]
        );
        let differ = base
            .iter()
            .zip(&shifted)
            .filter(|(a, b)| (*a - *b).abs() > 0.02)
            .count();
        assert!(
            differ < 10,
            "{differ} rows score differently at another scale"
        );
    }
}
