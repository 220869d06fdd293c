//! Learned baselines: what "normal" looks like for one series, learned from its own trailing
//! history (`[detect.baseline] history`, six hours by default) of per-bucket rollups, and a
//! statistical test of each closed bucket against it. Pure: event time only; no allocation per
//! sample but the current bucket's list of latencies as it first meets a new one, and the ring
//! of past buckets as it grows with them, to its capacity ([`History`]).
//!
//! * [`P90Baseline`] (`baseline_p90`): each bucket's p90 latency (from a log-bucket histogram,
//!   0.5 % resolution). A closed bucket's `ln p90` is compared with the mean and standard
//!   deviation of the trailing buckets' `ln p90` by a one-sided z-test, using the predictive
//!   spread `s·√(1 + 1/n)` and a floor of 5 % on `s` so a perfectly flat history does not make a
//!   tiny rise look certain. Logs, because latency is multiplicative: twice as slow is the same
//!   surprise at 20 ms and at 200 ms. Mean and spread rather than an empirical rank, because a
//!   rank over 360 buckets cannot express confidences beyond 1 − 1/361. But a Gaussian tail is
//!   too thin for a series with rare slow buckets (with six probes a minute a bucket's p90 is its
//!   slowest probe), so the history's own frequency of buckets that came close — p90 at least
//!   2/3 of this one, counted in O(log B) from a quantile sketch of past p90s — bounds the
//!   surprise: `p = max(p_z, close / n)`. A slowdown nothing in the history came near keeps `p_z`.
//!   A bucket of fewer than five probes is learned but not judged: its "p90" is one slow probe.
//! * [`ErrorBaseline`] (`baseline_4xx`, `baseline_5xx`, `baseline_503`, `baseline_504`): each
//!   bucket counts probes and errors of each class. A closed bucket's count `k` of `n` probes is
//!   tested against the trailing rate `p` by the Poisson upper tail `P(X ≥ k; λ = n·p)` (the
//!   binomial's rare-event limit, slightly conservative; a normal approximation with continuity
//!   correction once `λ > 50`). The rate carries a prior of one error in 1 000 probes, so a clean
//!   history does not make a single error infinitely surprising.
//!
//! A test's tail probability `p` is for one bucket; there are many buckets an hour, and at a
//! per-bucket level of 95 % a healthy series would raise one finding every twenty buckets. So the
//! confidence is that of the hour: `(1 − p)^m` with `m` buckets an hour (Šidák). A level of 0.95
//! then means a healthy series raises a slight finding about once in twenty hours. The confidence
//! maps to a severity by `[detect.baseline] levels` (info / warning / critical).
//!
//! Nothing is said before `min_history` of history (measured from the oldest bucket in the ring).
//! A verdict holds from the close of its bucket until the close of the next one.
//!
//! Each closed bucket's [`Rollup`] is handed out once ([`P90Baseline::take_closed`],
//! [`ErrorBaseline::take_closed`]) for the event store, and persisted rollups are restored
//! before the first live sample (`restore`): a warm start. A restored history that does not
//! end before the first live bucket (a replay of older data) is dropped: the ring stays in
//! bucket order.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::detect::config::BaselineSettings;
use crate::detect::finding::Finding;
use crate::detect::history::History;
use crate::detect::interned::intern;
use crate::detect::quantile::{bucket_of, representative};
use crate::messages::{Outcome, Severity, Timestamp};

const HOUR_MS: i64 = 3_600_000;
/// The most buckets a history holds, whatever the settings say.
const MAX_SLOTS: i64 = 10_080;
/// Floor on the spread of bucket `ln p90`s (5 % relative): jitter is never certain.
const MIN_LOG_STD: f64 = 0.05;
/// At least this many past buckets before any judgement, whatever `min_history` says.
const MIN_BUCKETS: usize = 5;
/// A past bucket "came close" to the current one when its p90 is at least the current p90
/// divided by this.
const CLOSE_FACTOR: f64 = 1.5;
/// Prior for error rates: `PRIOR_ERRORS` errors in `PRIOR_PROBES` probes (0.1 %).
const PRIOR_ERRORS: f64 = 1.0;
/// See [`PRIOR_ERRORS`].
const PRIOR_PROBES: f64 = 1_000.0;
/// Above this Poisson mean the tail uses the normal approximation.
const POISSON_NORMAL_FROM: f64 = 50.0;

/// One closed bucket's rollup, as persisted to the event store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rollup {
    /// `baseline_p90`: the bucket's p90 latency in ms.
    P90(f64),
    /// The error baselines: the bucket's probe and error counts.
    Errors(ErrorCounts),
}

impl Rollup {
    /// The model's stored name: `p90` or `errors`.
    pub fn model(&self) -> &'static str {
        match self {
            Rollup::P90(_) => "p90",
            Rollup::Errors(_) => "errors",
        }
    }
}

/// The width of one bucket in ms, as the models use it.
pub fn bucket_ms(settings: &BaselineSettings) -> i64 {
    (settings.bucket.as_millis() as i64).max(1)
}

/// The severity a confidence earns at `levels` (info, warning, critical), if any.
pub fn severity_for(confidence: f64, levels: &[f64; 3]) -> Option<Severity> {
    if confidence >= levels[2] {
        Some(Severity::Critical)
    } else if confidence >= levels[1] {
        Some(Severity::Warning)
    } else if confidence >= levels[0] {
        Some(Severity::Info)
    } else {
        None
    }
}

/// The confidence over an hour of `buckets_per_hour` buckets from one bucket's tail
/// probability `p` (Šidák): `(1 − p)^m`.
pub fn hourly_confidence(p: f64, buckets_per_hour: f64) -> f64 {
    let p = p.clamp(0.0, 1.0);
    (buckets_per_hour * (-p).ln_1p()).exp().clamp(0.0, 1.0)
}

/// `P(Z ≥ z)` for a standard normal `Z`.
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function (Numerical Recipes' Chebyshev fit, relative error below
/// 1.2e-7 everywhere), enough for confidences.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// `P(X ≥ k)` for `X ~ Poisson(λ)`.
pub fn poisson_upper_tail(k: u32, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    if lambda > POISSON_NORMAL_FROM {
        return normal_upper_tail((f64::from(k) - 0.5 - lambda) / lambda.sqrt());
    }
    let ln_fact: f64 = (2..=k).map(|i| f64::from(i).ln()).sum();
    let mut term = (-lambda + f64::from(k) * lambda.ln() - ln_fact).exp();
    let mut sum = 0.0;
    let mut i = k;
    // Terms past k shrink once i > λ; stop when they no longer matter.
    while term > sum * 1e-16 && i < k.saturating_add(10_000) {
        sum += term;
        i += 1;
        term *= lambda / f64::from(i);
    }
    sum.min(1.0)
}

/// Event-time bucketing shared by the models: the rules, which every series of the same
/// settings shares ([`intern`]: 8 B a baseline instead of 48), and the open bucket.
#[derive(Debug, Clone)]
struct Buckets {
    rules: Arc<BucketRules>,
    current: Option<i64>,
}

/// What a baseline's bucketing and judging read of its settings.
#[derive(Debug, Clone, PartialEq)]
struct BucketRules {
    bucket_ms: i64,
    /// Buckets in the history (at most [`MAX_SLOTS`]).
    slots: u32,
    /// Buckets of history needed before judging (capped at `u32::MAX`, which no history of
    /// [`MAX_SLOTS`] reaches either).
    min_span: u32,
    levels: [f64; 3],
    per_hour: f64,
}

impl Buckets {
    fn new(s: &BaselineSettings) -> Self {
        let bucket_ms = bucket_ms(s);
        // Validation caps this at 10 080; settings built in code get the same ceiling.
        let slots = (s.history.as_millis() as i64 / bucket_ms).clamp(1, MAX_SLOTS) as u32;
        let min_span = (s.min_history.as_millis() as i64 + bucket_ms - 1) / bucket_ms;
        let min_span = u32::try_from(min_span.max(0)).unwrap_or(u32::MAX);
        Self {
            rules: intern(BucketRules {
                bucket_ms,
                slots,
                min_span,
                levels: s.levels,
                per_hour: (HOUR_MS / bucket_ms).max(1) as f64,
            }),
            current: None,
        }
    }

    /// Buckets in the history.
    fn slots(&self) -> u32 {
        self.rules.slots
    }

    /// Places a sample: `Some(closed)` when it opens a new bucket, closing `closed`. Late
    /// samples count towards the current bucket.
    fn advance(&mut self, at: Timestamp) -> Option<i64> {
        let index = at.0.div_euclid(self.rules.bucket_ms);
        match self.current {
            Some(current) if index > current => {
                self.current = Some(index);
                Some(current)
            }
            Some(_) => None,
            None => {
                self.current = Some(index);
                None
            }
        }
    }

    /// True when a sample at `at`, the first live one, does not come after `newest`, the last
    /// restored bucket: the restored history is not older than the live data and must go.
    fn restored_too_new(&self, at: Timestamp, newest: Option<i64>) -> bool {
        self.current.is_none() && newest.is_some_and(|n| n >= at.0.div_euclid(self.rules.bucket_ms))
    }

    /// True when a history starting at bucket `oldest` of `len` buckets may judge `closing`.
    fn enough(&self, oldest: Option<i64>, len: usize, closing: i64) -> bool {
        len >= MIN_BUCKETS && oldest.is_some_and(|o| closing - o >= i64::from(self.rules.min_span))
    }

    fn finding(
        &self,
        detector: &'static str,
        p: f64,
        value: f64,
        expected: f64,
    ) -> Option<Finding> {
        let confidence = hourly_confidence(p, self.rules.per_hour);
        severity_for(confidence, &self.rules.levels).map(|severity| Finding {
            detector,
            severity,
            value,
            threshold: expected,
            confidence,
        })
    }
}

/// The fewest probes in a bucket whose p90 is judged.
const MIN_P90_SAMPLES: u32 = 5;

/// A quantile bucket (two little-endian bytes) and a count of its samples (one byte, which
/// saturates at 255: the next samples of the bucket count in a next entry of the same bucket).
type HistEntry = [u8; 3];

/// The quantile bucket of an entry.
fn entry_bucket(e: &HistEntry) -> u16 {
    u16::from_le_bytes([e[0], e[1]])
}

/// An entry of `n` samples of bucket `b`.
fn entry(b: u16, n: u8) -> HistEntry {
    let [lo, hi] = b.to_le_bytes();
    [lo, hi, n]
}

/// `baseline_p90`: each bucket's p90 latency against the trailing buckets' (see the module).
#[derive(Debug, Clone)]
pub struct P90Baseline {
    buckets: Buckets,
    /// The current bucket's samples as (quantile bucket, count) entries ([`HistEntry`]: 3 B,
    /// where a `(u16, u16)` took 4), ascending by bucket: only the buckets seen, a handful at
    /// a few probes a bucket. Cleared, not freed, at each close, so it stops growing once it
    /// has held the busiest bucket's distinct latencies (up to 192 B at 60 probes a minute).
    hist: Vec<HistEntry>,
    count: u32,
    /// Past buckets' p90, as quantile buckets. Rank queries scan it, once per closed bucket.
    ring: History,
    sum: f64,
    sum_sq: f64,
    /// The last closed bucket's finding, its detector (always `baseline_p90`) left out (16 B
    /// less), boxed, as most buckets have none: inline it made the baseline 32 B larger, a
    /// larger allocator class.
    verdict: Option<Box<P90Verdict>>,
    /// The bucket closed last, until taken.
    closed: Option<(i64, u16)>,
}

/// A [`P90Baseline`] finding without its detector's name.
#[derive(Debug, Clone, Copy)]
struct P90Verdict {
    severity: Severity,
    value: f64,
    threshold: f64,
    confidence: f64,
}

impl P90Verdict {
    const DETECTOR: &'static str = "baseline_p90";

    fn of(f: Finding) -> Self {
        debug_assert_eq!(f.detector, Self::DETECTOR);
        Self {
            severity: f.severity,
            value: f.value,
            threshold: f.threshold,
            confidence: f.confidence,
        }
    }

    fn finding(self) -> Finding {
        Finding {
            detector: Self::DETECTOR,
            severity: self.severity,
            value: self.value,
            threshold: self.threshold,
            confidence: self.confidence,
        }
    }
}

impl P90Baseline {
    /// An empty baseline (its ring grows with the buckets it holds; the current bucket's
    /// histogram grows to the distinct latencies of the busiest bucket and is then reused).
    pub fn new(settings: &BaselineSettings) -> Self {
        let buckets = Buckets::new(settings);
        Self {
            ring: History::new(buckets.slots() as usize + 1),
            buckets,
            hist: Vec::new(),
            count: 0,
            sum: 0.0,
            sum_sq: 0.0,
            verdict: None,
            closed: None,
        }
    }

    /// Adds a successful probe's latency observed at `at`; returns the verdict of the last
    /// closed bucket (`None` while it was normal or before `min_history`).
    pub fn update(&mut self, at: Timestamp, value_ms: f64) -> Option<Finding> {
        if self.buckets.restored_too_new(at, self.ring.back_index()) {
            while let Some((_, b)) = self.ring.pop_front() {
                self.forget(b);
            }
        }
        if let Some(closed) = self.buckets.advance(at) {
            self.close(closed);
        }
        if value_ms.is_finite() {
            let b = bucket_of(value_ms);
            let mut at = self.hist.partition_point(|e| entry_bucket(e) < b);
            // A full counter is followed by another of the same bucket.
            while at < self.hist.len()
                && entry_bucket(&self.hist[at]) == b
                && self.hist[at][2] == u8::MAX
            {
                at += 1;
            }
            match self.hist.get_mut(at) {
                Some(e) if entry_bucket(e) == b => e[2] += 1,
                _ => self.hist.insert(at, entry(b, 1)),
            }
            self.count += 1;
        }
        self.verdict.as_deref().copied().map(P90Verdict::finding)
    }

    /// Past buckets' p90 in ms, oldest first: the rollups to persist.
    pub fn rollups(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.ring.iter().map(|(i, b)| (i, representative(b)))
    }

    /// Loads a persisted rollup (bucket index, p90 ms) older than any sample yet seen: a warm
    /// start. Rollups must come oldest first.
    pub fn restore(&mut self, index: i64, p90_ms: f64) {
        let in_order = self.ring.back_index().is_none_or(|b| b < index);
        if in_order && self.buckets.current.is_none() && p90_ms.is_finite() && p90_ms > 0.0 {
            self.push(index, bucket_of(p90_ms));
        }
    }

    /// The bucket closed since the last call, with its p90 in ms: the rollup to persist.
    pub fn take_closed(&mut self) -> Option<(i64, f64)> {
        self.closed.take().map(|(i, b)| (i, representative(b)))
    }

    /// The current bucket's p90, as a sketch bucket.
    fn p90(&self) -> u16 {
        let rank = (0.9 * f64::from(self.count)).ceil().max(1.0) as u32;
        let mut seen = 0;
        for e in &self.hist {
            seen += u32::from(e[2]);
            if seen >= rank {
                return entry_bucket(e);
            }
        }
        self.hist.last().map_or(0, entry_bucket)
    }

    fn close(&mut self, closed: i64) {
        self.verdict = None;
        if self.count == 0 {
            return;
        }
        let p90 = self.p90();
        let count = self.count;
        let x = log_p90(p90);
        self.hist.clear();
        self.count = 0;
        self.evict(closed);
        let n = self.ring.len();
        if self
            .buckets
            .enough(self.ring.front().map(|f| f.0), n, closed)
        {
            let nf = n as f64;
            let mean = self.sum / nf;
            let var = ((self.sum_sq - nf * mean * mean) / (nf - 1.0)).max(0.0);
            let spread = (var + MIN_LOG_STD * MIN_LOG_STD).sqrt() * (1.0 + 1.0 / nf).sqrt();
            let z = (x - mean) / spread;
            // A bucket of a handful of probes has no p90 worth the name (it is its slowest
            // probe): rows that sparse are the likelihood model's to judge, one by one.
            if z > 0.0 && count >= MIN_P90_SAMPLES {
                let near = bucket_of(representative(p90) / CLOSE_FACTOR);
                let seen = n - self.ring.count_below(near);
                let p = normal_upper_tail(z).max(seen as f64 / nf);
                self.verdict = (self.buckets)
                    .finding(P90Verdict::DETECTOR, p, representative(p90), mean.exp())
                    .map(|f| Box::new(P90Verdict::of(f)));
            }
        }
        self.push(closed, p90);
        self.closed = Some((closed, p90));
    }

    /// Drops buckets that have left the history before `closing`.
    fn evict(&mut self, closing: i64) {
        while let Some((i, _)) = self.ring.front() {
            if i > closing - i64::from(self.buckets.slots()) {
                break;
            }
            if let Some((_, b)) = self.ring.pop_front() {
                self.forget(b);
            }
        }
    }

    fn push(&mut self, index: i64, p90: u16) {
        // A restore beyond the history's indices (the store loads none): the oldest go first.
        while !self.ring.fits(index) {
            if let Some((_, b)) = self.ring.pop_front() {
                self.forget(b);
            }
        }
        // A full history drops its oldest bucket, forgotten after the new one is in.
        let dropped = if self.ring.len() >= self.buckets.slots() as usize {
            self.ring.pop_front()
        } else {
            None
        };
        self.ring.push(index, p90);
        if let Some((_, old)) = dropped {
            self.forget(old);
        }
        let x = log_p90(p90);
        self.sum += x;
        self.sum_sq += x * x;
    }

    fn forget(&mut self, p90: u16) {
        let x = log_p90(p90);
        self.sum -= x;
        self.sum_sq -= x * x;
        if self.ring.is_empty() {
            // No drift survives an empty history.
            self.sum = 0.0;
            self.sum_sq = 0.0;
        }
    }
}

/// `ln` of a sketch bucket's latency (at least 0.01 ms, so never −∞).
fn log_p90(bucket: u16) -> f64 {
    representative(bucket).max(0.01).ln()
}

/// The error classes an [`ErrorBaseline`] tracks, in rollup order.
pub const ERROR_CLASSES: [&str; 4] = [
    "baseline_4xx",
    "baseline_5xx",
    "baseline_503",
    "baseline_504",
];

/// One bucket's probe counts: all probes, then errors per class of [`ERROR_CLASSES`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Probes sent.
    pub total: u32,
    /// Errors per class (4xx, 5xx, 503, 504).
    pub errors: [u32; 4],
}

impl ErrorCounts {
    /// Adds (`sign` 1) or removes (`sign` −1) these counts to or from ring sums.
    fn apply(&self, sign: i64, sums: &mut [i64; 5]) {
        sums[0] += sign * i64::from(self.total);
        for (s, e) in sums[1..].iter_mut().zip(self.errors) {
            *s += sign * i64::from(e);
        }
    }
}

/// A past bucket's total in an [`ErrorBaseline`]'s ring that means "the counts are kept
/// apart". Totals are kept in `u16` and error counts in `u8`; a bucket of 65 534 probes or
/// more (an hour-long bucket at 100 ms, or a replay's), or of 255 errors of one class or more
/// (an outage probed faster than every 235 ms), keeps its exact counts in a side list.
const OVERFLOW: u16 = u16::MAX - 1;

/// A bucket index's tag in [`ErrorBaseline`]'s list of buckets with errors: its low 16 bits.
/// The list only holds buckets of the ring, whose indices span at most `MAX_SLOTS` + 1
/// (< 65 536) consecutive values, so within it a tag names one index.
fn tag(index: i64) -> u16 {
    index as u16
}
const _: () = assert!(MAX_SLOTS + 1 < 1 << 16);

/// `baseline_4xx`, `baseline_5xx`, `baseline_503`, `baseline_504`: each bucket's error rates
/// against the trailing buckets' (see the module). The most severe class wins.
#[derive(Debug, Clone)]
pub struct ErrorBaseline {
    buckets: Buckets,
    current: ErrorCounts,
    /// Past buckets' probe totals ([`OVERFLOW`]: the counts are in `overflow`).
    ring: History,
    /// Past buckets' error counts, for the buckets that had errors (most have none), oldest
    /// first, each under its index's [`tag`], one byte a class (6 B an entry; 10 with
    /// `u16` counts: 0.7 KB more after 6 h at 1 s with 1 % errors). Grows by a
    /// quarter at a time to the most such buckets a history has held, then is reused.
    errors: VecDeque<(u16, [u8; 4])>,
    /// The counts of past buckets marked [`OVERFLOW`], oldest first.
    /// Boxed at the first such bucket: most series never have one, and inline its 32 B would
    /// make the baseline 240 B (served from a 256 B class) instead of 216 (224).
    #[allow(clippy::box_collection)] // The box is the point: 8 B inline instead of 32.
    overflow: Option<Box<VecDeque<(i64, ErrorCounts)>>>,
    /// Sums over the ring: probes, then errors per class.
    sums: [i64; 5],
    /// Boxed, as most buckets have none: inline it made the baseline 40 B larger, a larger
    /// allocator class.
    verdict: Option<Box<Finding>>,
    /// The bucket closed last, until taken.
    closed: Option<(i64, ErrorCounts)>,
}

impl ErrorBaseline {
    /// An empty baseline (its ring of totals grows with the buckets it holds; the buckets with
    /// errors are kept apart, in a list that grows to the most of them a history has held).
    pub fn new(settings: &BaselineSettings) -> Self {
        let buckets = Buckets::new(settings);
        Self {
            ring: History::new(buckets.slots() as usize + 1),
            errors: VecDeque::new(),
            overflow: None,
            buckets,
            current: ErrorCounts::default(),
            sums: [0; 5],
            verdict: None,
            closed: None,
        }
    }

    /// Adds one probe's outcome; returns the verdict of the last closed bucket. Probes that
    /// were not sent (breaker open) are the caller's to skip.
    pub fn update(&mut self, at: Timestamp, outcome: Outcome, status: u16) -> Option<Finding> {
        if self.buckets.restored_too_new(at, self.ring.back_index()) {
            while self.pop_front().is_some() {}
            self.sums = [0; 5];
        }
        if let Some(closed) = self.buckets.advance(at) {
            self.close(closed);
        }
        let c = &mut self.current;
        c.total += 1;
        let classes = [
            outcome == Outcome::Http4xx,
            outcome == Outcome::Http5xx || (500..600).contains(&status),
            status == 503,
            status == 504,
        ];
        for (e, hit) in c.errors.iter_mut().zip(classes) {
            *e += u32::from(hit);
        }
        self.verdict.as_deref().copied()
    }

    /// Past buckets' counts, oldest first: the rollups to persist.
    pub fn rollups(&self) -> impl Iterator<Item = (i64, ErrorCounts)> + '_ {
        let mut errors = self.errors.iter().peekable();
        let mut overflow = self.overflow.iter().flat_map(|o| o.iter());
        self.ring.iter().map(move |(i, total)| {
            if total == OVERFLOW {
                return (
                    i,
                    overflow.next().map_or_else(ErrorCounts::default, |o| o.1),
                );
            }
            let errors = errors.next_if(|e| e.0 == tag(i)).map_or([0; 4], |e| e.1);
            (
                i,
                ErrorCounts {
                    total: u32::from(total),
                    errors: errors.map(u32::from),
                },
            )
        })
    }

    /// Loads a persisted rollup older than any sample yet seen (oldest first): a warm start.
    pub fn restore(&mut self, index: i64, counts: ErrorCounts) {
        let in_order = self.ring.back_index().is_none_or(|b| b < index);
        if in_order && self.buckets.current.is_none() && counts.total > 0 {
            self.push(index, counts);
        }
    }

    /// The bucket closed since the last call, with its counts: the rollup to persist.
    pub fn take_closed(&mut self) -> Option<(i64, ErrorCounts)> {
        self.closed.take()
    }

    fn close(&mut self, closed: i64) {
        self.verdict = None;
        let bucket = std::mem::take(&mut self.current);
        if bucket.total == 0 {
            return;
        }
        while let Some((i, _)) = self.ring.front() {
            if i > closed - i64::from(self.buckets.slots()) {
                break;
            }
            if let Some((_, c)) = self.pop_front() {
                c.apply(-1, &mut self.sums);
            }
        }
        if self
            .buckets
            .enough(self.ring.front().map(|f| f.0), self.ring.len(), closed)
        {
            let n = f64::from(bucket.total);
            let mut worst = None;
            for (class, detector) in ERROR_CLASSES.iter().enumerate() {
                let k = bucket.errors[class];
                let rate = (self.sums[class + 1] as f64 + PRIOR_ERRORS)
                    / (self.sums[0] as f64 + PRIOR_PROBES);
                let lambda = n * rate;
                if f64::from(k) <= lambda {
                    continue;
                }
                let finding = self.buckets.finding(
                    detector,
                    poisson_upper_tail(k, lambda),
                    f64::from(k) / n,
                    rate,
                );
                worst = Finding::most_severe(worst, finding);
            }
            self.verdict = worst.map(Box::new);
        }
        self.push(closed, bucket);
        self.closed = Some((closed, bucket));
    }

    fn push(&mut self, index: i64, counts: ErrorCounts) {
        // A restore beyond the history's indices (the store loads none): the oldest go first.
        while !self.ring.fits(index) {
            if let Some((_, old)) = self.pop_front() {
                old.apply(-1, &mut self.sums);
            }
        }
        // A full history drops its oldest bucket.
        if self.ring.len() >= self.buckets.slots() as usize
            && let Some((_, old)) = self.pop_front()
        {
            old.apply(-1, &mut self.sums);
        }
        let narrow = counts.errors.iter().all(|&e| e < u32::from(u8::MAX));
        match u16::try_from(counts.total) {
            Ok(total) if total < OVERFLOW && narrow => {
                self.ring.push(index, total);
                if counts.errors != [0; 4] {
                    if self.errors.len() == self.errors.capacity() {
                        // A quarter more, not double: at one probe a second with 1 % errors
                        // about 45 % of a 6-hour history's buckets have one.
                        self.errors.reserve_exact((self.errors.len() / 4).max(4));
                    }
                    self.errors
                        .push_back((tag(index), counts.errors.map(|e| e as u8)));
                }
            }
            _ => {
                self.ring.push(index, OVERFLOW);
                (self.overflow.get_or_insert_default()).push_back((index, counts));
            }
        }
        counts.apply(1, &mut self.sums);
    }

    /// Drops the oldest past bucket and returns its counts.
    fn pop_front(&mut self) -> Option<(i64, ErrorCounts)> {
        let (i, total) = self.ring.pop_front()?;
        let counts = if total == OVERFLOW {
            (self.overflow.as_mut())
                .and_then(|o| o.pop_front())
                .map_or_else(ErrorCounts::default, |o| o.1)
        } else {
            let errors = match self.errors.front() {
                Some(&(at, errors)) if at == tag(i) => {
                    self.errors.pop_front();
                    errors
                }
                _ => [0; 4],
            };
            ErrorCounts {
                total: u32::from(total),
                errors: errors.map(u32::from),
            }
        };
        Some((i, counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIN: i64 = 60_000;

    fn settings() -> BaselineSettings {
        BaselineSettings::default()
    }

    #[test]
    fn baselines_share_their_rules_and_fit_their_allocator_classes() {
        let (a, b) = (
            P90Baseline::new(&settings()),
            ErrorBaseline::new(&settings()),
        );
        assert!(Arc::ptr_eq(&a.buckets.rules, &b.buckets.rules));
        // Served from mimalloc's 160 and 224 B classes (192 and 256 with the rules inline).
        assert!(std::mem::size_of::<P90Baseline>() <= 160);
        assert!(std::mem::size_of::<ErrorBaseline>() <= 224);
    }

    #[test]
    fn tails_are_sane() {
        assert!((normal_upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_upper_tail(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_upper_tail(-1.959_964) - 0.975).abs() < 1e-6);
        // P(X ≥ 1; 0.5) = 1 − e^−0.5
        assert!((poisson_upper_tail(1, 0.5) - (1.0 - (-0.5f64).exp())).abs() < 1e-12);
        assert!((poisson_upper_tail(2, 1.0) - (1.0 - 2.0 * (-1.0f64).exp())).abs() < 1e-12);
        assert!(poisson_upper_tail(120, 100.0) < 0.05);
        assert_eq!(severity_for(0.96, &settings().levels), Some(Severity::Info));
        assert_eq!(
            severity_for(0.995, &settings().levels),
            Some(Severity::Warning)
        );
        assert_eq!(
            severity_for(0.9995, &settings().levels),
            Some(Severity::Critical)
        );
        assert_eq!(severity_for(0.9, &settings().levels), None);
    }

    /// Six probes a minute with multiplicative jitter around `level` ms.
    fn feed_latency(
        model: &mut P90Baseline,
        rng: &mut fastrand::Rng,
        minutes: std::ops::Range<i64>,
        level: f64,
        jitter: f64,
    ) -> Vec<Option<Finding>> {
        let mut out = Vec::new();
        for minute in minutes {
            for s in 0..6 {
                let v = level * (1.0 + jitter * (rng.f64() - 0.5));
                out.push(model.update(Timestamp(minute * MIN + s * 10_000), v));
            }
        }
        out
    }

    #[test]
    fn p90_says_nothing_before_min_history() {
        let mut m = P90Baseline::new(&settings());
        let mut rng = fastrand::Rng::with_seed(1);
        feed_latency(&mut m, &mut rng, 0..10, 50.0, 0.2);
        // Ten times slower, but only 10 minutes of history.
        let out = feed_latency(&mut m, &mut rng, 10..29, 500.0, 0.2);
        assert!(out.iter().all(Option::is_none), "{out:?}");
    }

    #[test]
    fn p90_shift_after_an_hour_fires_with_high_confidence() {
        let mut m = P90Baseline::new(&settings());
        let mut rng = fastrand::Rng::with_seed(2);
        let stable = feed_latency(&mut m, &mut rng, 0..60, 50.0, 0.3);
        assert!(stable.iter().all(Option::is_none));
        let out = feed_latency(&mut m, &mut rng, 60..62, 120.0, 0.3);
        let f = out.iter().flatten().next().expect("the shift fires");
        assert_eq!(f.detector, "baseline_p90");
        assert_eq!(f.severity, Severity::Critical);
        assert!(f.confidence > 0.999, "{f:?}");
        assert!(f.value > 100.0 && f.threshold < 60.0, "{f:?}");
    }

    #[test]
    fn p90_noisy_but_stable_series_does_not_fire() {
        let mut m = P90Baseline::new(&settings());
        let mut rng = fastrand::Rng::with_seed(3);
        // Twelve hours of heavy jitter (±50 %), occasional single slow probes included.
        let mut fired = 0;
        for minute in 0..12 * 60 {
            for s in 0..6 {
                let spike = if rng.u32(0..100) == 0 { 3.0 } else { 1.0 };
                let v = 80.0 * (0.5 + rng.f64()) * spike;
                fired += usize::from(m.update(Timestamp(minute * MIN + s * 10_000), v).is_some());
            }
        }
        assert_eq!(fired, 0);
    }

    #[test]
    fn history_is_bounded_and_learns_a_new_level() {
        let s = BaselineSettings {
            history: Duration::from_secs(3600),
            ..settings()
        };
        let mut m = P90Baseline::new(&s);
        let mut rng = fastrand::Rng::with_seed(4);
        feed_latency(&mut m, &mut rng, 0..60, 50.0, 0.2);
        feed_latency(&mut m, &mut rng, 60..200, 200.0, 0.2);
        assert_eq!(m.rollups().count(), 60);
        let out = feed_latency(&mut m, &mut rng, 200..260, 200.0, 0.2);
        assert!(
            out.iter().all(Option::is_none),
            "the new level is normal now"
        );
    }

    #[test]
    fn warm_start_restores_the_history() {
        let mut m = P90Baseline::new(&settings());
        let mut rng = fastrand::Rng::with_seed(5);
        feed_latency(&mut m, &mut rng, 0..60, 50.0, 0.3);
        let mut warm = P90Baseline::new(&settings());
        for (i, p90) in m.rollups() {
            warm.restore(i, p90);
        }
        let out = feed_latency(&mut warm, &mut rng, 60..62, 150.0, 0.3);
        assert!(
            out.iter()
                .flatten()
                .any(|f| f.severity == Severity::Critical)
        );
    }

    #[test]
    fn each_closed_bucket_is_handed_out_once() {
        let mut m = P90Baseline::new(&settings());
        let mut rng = fastrand::Rng::with_seed(6);
        feed_latency(&mut m, &mut rng, 0..1, 50.0, 0.0);
        assert_eq!(m.take_closed(), None, "bucket 0 is still open");
        feed_latency(&mut m, &mut rng, 1..2, 50.0, 0.0);
        let (i, p90) = m.take_closed().expect("bucket 0 closed");
        assert_eq!(i, 0);
        assert!((p90 - 50.0).abs() < 0.5, "{p90}");
        assert_eq!(m.take_closed(), None);
        let mut e = ErrorBaseline::new(&settings());
        let mut c = 0;
        feed_errors(&mut e, 0..2, 10, 5, &mut c);
        let (i, counts) = e.take_closed().expect("bucket 0 closed");
        assert_eq!(i, 0);
        assert_eq!(counts.total, 10);
        assert_eq!(counts.errors, [0, 2, 2, 0]);
    }

    #[test]
    fn a_restored_history_not_older_than_the_live_data_is_dropped() {
        let mut m = P90Baseline::new(&settings());
        let mut rng = fastrand::Rng::with_seed(7);
        feed_latency(&mut m, &mut rng, 0..60, 50.0, 0.3);
        let mut replay = P90Baseline::new(&settings());
        for (i, p90) in m.rollups() {
            replay.restore(i, p90);
        }
        // The same hour again (a replay): the restored buckets are not its past.
        feed_latency(&mut replay, &mut rng, 0..1, 50.0, 0.3);
        assert_eq!(replay.rollups().count(), 0);
        let mut e = ErrorBaseline::new(&settings());
        e.restore(
            10,
            ErrorCounts {
                total: 5,
                errors: [0; 4],
            },
        );
        e.restore(
            9,
            ErrorCounts {
                total: 5,
                errors: [0; 4],
            },
        );
        assert_eq!(e.rollups().count(), 1, "out of order: skipped");
        e.update(Timestamp(10 * MIN), Outcome::Ok, 200);
        assert_eq!(e.rollups().count(), 0);
    }

    #[test]
    fn error_counts_survive_bucket_indices_past_the_tags_range() {
        // Minute buckets 65 300 … 66 099: the history's indices cross 65 536, where the
        // 16-bit tags of the list of buckets with errors wrap.
        let mut e = ErrorBaseline::new(&settings());
        let mut c = 0;
        feed_errors(&mut e, 65_300..66_100, 10, 23, &mut c);
        let mut expected = std::collections::BTreeMap::new();
        let mut k = 0i64;
        for minute in 65_300..66_099 {
            let errors: u32 = (0..10)
                .map(|_| {
                    k += 1;
                    u32::from(k % 23 == 0)
                })
                .sum();
            expected.insert(minute, errors);
        }
        let rollups: Vec<(i64, ErrorCounts)> = e.rollups().collect();
        assert_eq!(rollups.len(), 360);
        assert_eq!(rollups[0].0, 66_099 - 360);
        for (i, counts) in &rollups {
            assert_eq!(counts.total, 10, "bucket {i}");
            assert_eq!(
                counts.errors,
                [0, expected[i], expected[i], 0],
                "bucket {i}"
            );
        }
        // 10 B an entry, grown a quarter at a time: not a doubled ring of 16 B entries.
        assert_eq!(std::mem::size_of::<(u16, [u16; 4])>(), 10);
        let held = e.errors.len();
        assert!(held > 100, "{held}");
        assert!(
            e.errors.capacity() <= held + held / 2,
            "{} for {held}",
            e.errors.capacity()
        );
    }

    /// `per_minute` probes a minute; `errors_per_mille` of them (deterministically spread) 503.
    fn feed_errors(
        model: &mut ErrorBaseline,
        minutes: std::ops::Range<i64>,
        per_minute: i64,
        error_every: i64,
        counter: &mut i64,
    ) -> Vec<Option<Finding>> {
        let mut out = Vec::new();
        for minute in minutes {
            for s in 0..per_minute {
                *counter += 1;
                let (o, st) = if error_every > 0 && *counter % error_every == 0 {
                    (Outcome::Http5xx, 503)
                } else {
                    (Outcome::Ok, 200)
                };
                out.push(model.update(Timestamp(minute * MIN + s * 1000), o, st));
            }
        }
        out
    }

    #[test]
    fn errors_say_nothing_before_min_history() {
        let mut m = ErrorBaseline::new(&settings());
        let mut c = 0;
        feed_errors(&mut m, 0..10, 60, 0, &mut c);
        let out = feed_errors(&mut m, 10..29, 60, 2, &mut c);
        assert!(out.iter().all(Option::is_none));
    }

    #[test]
    fn five_xx_uptick_from_a_tenth_of_a_percent_to_twenty_is_critical() {
        let mut m = ErrorBaseline::new(&settings());
        let mut c = 0;
        let base = feed_errors(&mut m, 0..120, 60, 1000, &mut c);
        assert!(
            base.iter().all(Option::is_none),
            "0.1 % is this series' normal"
        );
        let out = feed_errors(&mut m, 120..122, 60, 5, &mut c);
        let f = out.iter().flatten().next().expect("the uptick fires");
        assert_eq!(f.severity, Severity::Critical);
        assert!(f.detector == "baseline_5xx" || f.detector == "baseline_503");
        assert!((f.value - 0.2).abs() < 0.02, "{f:?}");
        // Back to normal: the next bucket's close clears the verdict.
        let after = feed_errors(&mut m, 122..124, 60, 1000, &mut c);
        assert!(after.last().unwrap().is_none());
    }

    #[test]
    fn one_stray_error_on_a_clean_baseline_is_not_critical() {
        for per_minute in [1, 6, 60] {
            let mut m = ErrorBaseline::new(&settings());
            let mut c = 0;
            feed_errors(&mut m, 0..360, per_minute, 0, &mut c);
            m.update(Timestamp(360 * MIN), Outcome::Http5xx, 504);
            let mut c = 1;
            let out = feed_errors(&mut m, 361..362, per_minute, 0, &mut c);
            assert!(
                out.iter()
                    .flatten()
                    .all(|f| f.severity != Severity::Critical),
                "{per_minute}/min: {out:?}"
            );
        }
    }

    #[test]
    fn four_xx_and_504_are_told_apart() {
        let mut m = ErrorBaseline::new(&settings());
        let mut c = 0;
        feed_errors(&mut m, 0..60, 60, 0, &mut c);
        for s in 0..60 {
            let (o, st) = if s % 2 == 0 {
                (Outcome::Http5xx, 504)
            } else {
                (Outcome::Ok, 200)
            };
            m.update(Timestamp(60 * MIN + s * 1000), o, st);
        }
        let f = m.update(Timestamp(61 * MIN), Outcome::Ok, 200).unwrap();
        assert!(f.detector == "baseline_504" || f.detector == "baseline_5xx");
        assert_eq!(f.severity, Severity::Critical);
        let mut m = ErrorBaseline::new(&settings());
        feed_errors(&mut m, 0..60, 60, 0, &mut c);
        for s in 0..60 {
            let o = if s % 3 == 0 {
                Outcome::Http4xx
            } else {
                Outcome::Ok
            };
            m.update(Timestamp(60 * MIN + s * 1000), o, 400);
        }
        let f = m.update(Timestamp(61 * MIN), Outcome::Ok, 200).unwrap();
        assert_eq!(f.detector, "baseline_4xx");
    }

    /// The compact current bucket and history give what dense ones would: the exact p90 of a
    /// bucket whose counters saturate, and error counts past a byte and past `u16` restored
    /// and handed out.
    #[test]
    fn compact_state_keeps_exact_counts() {
        let mut m = P90Baseline::new(&settings());
        // 70 000 samples of 10 ms, then 10 000 of 20 ms: p90 (rank 72 000) is 20 ms's bucket.
        for k in 0..80_000 {
            let v = if k < 70_000 { 10.0 } else { 20.0 };
            m.update(Timestamp(k / 10), v);
        }
        m.update(Timestamp(MIN), 10.0);
        let (_, p90) = m.take_closed().unwrap();
        assert_eq!(p90, representative(bucket_of(20.0)));
        // 70 000 of 10 ms then 6 000 of 20 ms: rank 68 400 is in the saturated 10 ms bucket.
        for k in 0..76_000 {
            let v = if k < 70_000 { 10.0 } else { 20.0 };
            m.update(Timestamp(MIN + k / 10), v);
        }
        m.update(Timestamp(2 * MIN), 10.0);
        assert_eq!(m.take_closed().unwrap().1, representative(bucket_of(10.0)));
        // Around a byte's count (each minute also holds the 10 ms sample that opened it):
        // 301 of 10 ms and 10 of 20 ms, rank 280 in the 10 ms bucket's second entry; 251 of
        // 10 ms and 40 of 20 ms, rank 262 in 20 ms's, 10 ms's entry just short of full.
        for (minute, tens, twenties, expected) in [(2, 300, 10, 10.0), (3, 250, 40, 20.0)] {
            for k in 0..tens + twenties {
                let v = if k < tens { 10.0 } else { 20.0 };
                m.update(Timestamp(minute * MIN + k), v);
            }
            m.update(Timestamp((minute + 1) * MIN), 10.0);
            assert_eq!(
                m.take_closed().unwrap().1,
                representative(bucket_of(expected))
            );
        }
        assert_eq!(std::mem::size_of::<HistEntry>(), 3);

        let mut e = ErrorBaseline::new(&settings());
        let big = ErrorCounts {
            total: 100_000,
            errors: [0, 70_000, 70_000, 0],
        };
        let small = ErrorCounts {
            total: 60,
            errors: [1, 0, 0, 2],
        };
        let clean = ErrorCounts {
            total: 6,
            errors: [0; 4],
        };
        // An outage probed ten times a second: more errors of a class than a byte holds.
        let outage = ErrorCounts {
            total: 600,
            errors: [0, 600, 255, 254],
        };
        let restored = [
            (3, small),
            (5, big),
            (6, clean),
            (7, outage),
            (9, small),
            (10, big),
        ];
        for (i, c) in restored {
            e.restore(i, c);
        }
        assert!(e.rollups().eq(restored));
        assert_eq!(e.sums, [200_726, 2, 140_600, 140_255, 258]);
        // Each comes back out exact, from the side list or the narrow one.
        for (_, c) in restored {
            assert_eq!(e.pop_front().map(|p| p.1), Some(c));
        }
    }
}
