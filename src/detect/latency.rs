//! The latency model: the z-score, IQR and rolling-mean detectors over one sliding window of
//! the last `window` latencies of a series. It owns the window and the aggregates the detectors
//! read (running moments of the whole window and of its recent part, the window's quantile
//! buckets in rank order, [`WindowRanks`]); the
//! detectors themselves are pure functions in [`zscore`], [`iqr`] and [`rolling`].
//!
//! Settings pick the unit and the direction. Live latency is `ms` and `up`: values clamped to
//! 0 ..= 10 min, millisecond floors, rises only. `any` (replay of other data) buckets values by
//! a robust fit ([`crate::detect::scale`]), floors the spread by the window's own IQR instead,
//! and clips a value to the window's outer fences in the running moments; `both` judges drops
//! as rises are judged.
//!
//! Every update is O(log window) plus one short `memmove` (see [`crate::detect::ranks`]) and
//! allocates nothing; the window is kept column by column (values, their buckets, and with
//! `unit = any` the clipped values the moments count), 10 bytes a sample for latencies; the running sums
//! are rebuilt from the window once every `window` samples, an amortised O(1), so that rounding
//! cannot drift.

use crate::detect::config::{Direction, LatencySettings, ValueUnit};
use crate::detect::finding::Finding;
use crate::detect::quantile;
use crate::detect::ranks::{self, WindowRanks};
use crate::detect::scale::{self, IQR_TO_STD, RobustScale};
use crate::detect::window::{Moments, Ring, effective_std, may_fire};
use crate::detect::{iqr, rolling, zscore};
use crate::messages::Stats;

/// `unit = any`: a value counts in the moments at most this many IQRs beyond the quartiles
/// (Tukey's "far out" fence).
const OUTER_FENCE: f64 = 3.0;

/// The quartiles the detectors ask for: q1, the median, q3.
const QUARTILES: [f64; 3] = [0.25, 0.5, 0.75];

/// Latency detectors over a sliding window of the last `window` samples.
#[derive(Debug)]
pub struct LatencyModel {
    settings: LatencySettings,
    /// Judgements wait for this many samples in the window (at least 1).
    min_samples: usize,
    /// The window's values, oldest first.
    window: Ring<f64>,
    /// Each value's quantile bucket, beside it, so that evicting it costs no logarithm.
    buckets: Ring<u16>,
    /// `unit = any`: each value as counted in the running moments, clipped to the window's
    /// outer fences so that one huge spike does not inflate the mean and spread the next
    /// samples are judged against. `None` for latencies, which the moments count as they are.
    moments: Option<Ring<f64>>,
    quantiles: WindowRanks,
    /// The nearest ranks of q1, the median and q3 in a full window, worked out once: a full
    /// window's rank queries are then an index.
    full_ranks: [u32; 3],
    /// Moments of the whole window.
    all: Moments,
    /// Moments of the newest `recent_len` samples of the window: with the sample being judged,
    /// they make the rolling window; the rest of the window is the rolling baseline.
    recent: Moments,
    recent_len: usize,
    /// Pushes since the running sums were last rebuilt from the window.
    since_rebuild: usize,
    /// `unit = any`: the fit that maps values to sketch buckets; `None` until the window
    /// holds `min_samples` values (until then nothing is judged and the sketch is empty).
    fit: Option<RobustScale>,
    /// `unit = any`: room to sort a copy of the window when fitting (allocated once).
    scratch: Vec<f64>,
}

impl LatencyModel {
    /// Allocates the windows once; updates never allocate.
    pub fn new(settings: &LatencySettings) -> Self {
        Self {
            settings: settings.clone(),
            min_samples: settings.min_samples.max(1),
            window: Ring::new(settings.window, 0.0),
            buckets: Ring::new(settings.window, 0),
            moments: match settings.unit {
                ValueUnit::Ms => None,
                ValueUnit::Any => Some(Ring::new(settings.window, 0.0)),
            },
            quantiles: WindowRanks::new(settings.window.max(1)),
            full_ranks: QUARTILES.map(|q| ranks::rank_of(q, settings.window.max(1) as u32)),
            all: Moments::default(),
            recent: Moments::default(),
            recent_len: settings.rolling_window.max(1) - 1,
            since_rebuild: 0,
            fit: None,
            scratch: match settings.unit {
                ValueUnit::Ms => Vec::new(),
                ValueUnit::Any => Vec::with_capacity(settings.window.max(1)),
            },
        }
    }

    /// Values are latencies in ms (clamped, floors in ms) rather than of any unit.
    fn is_ms(&self) -> bool {
        self.settings.unit == ValueUnit::Ms
    }

    /// The sketch bucket of `value` (`unit = any` before the first fit: none).
    fn bucket_of(&self, value: f64) -> Option<u16> {
        match (self.settings.unit, &self.fit) {
            (ValueUnit::Ms, _) => Some(quantile::bucket_of(value)),
            (ValueUnit::Any, Some(fit)) => Some(fit.bucket_of(value)),
            (ValueUnit::Any, None) => None,
        }
    }

    /// The window's `q`-quantile in the series' own unit.
    fn window_quantile(&self, q: f64) -> Option<f64> {
        match &self.fit {
            None => self.quantiles.quantile(q),
            Some(fit) => self.quantiles.quantile_bucket(q).map(|b| fit.value_of(b)),
        }
    }

    /// `unit = any`: fits the centre and scale to the window as it is and re-buckets it.
    /// O(window log window), at most once per `window` pushes.
    fn refit(&mut self) {
        self.scratch.clear();
        self.scratch.extend(self.window.iter());
        let fit = RobustScale::fit(&mut self.scratch);
        self.fit = Some(fit);
        // Refilled oldest first: the rings need not share a start, only the order.
        self.buckets.clear();
        for v in self.window.iter() {
            self.buckets.push(fit.bucket_of(v));
        }
        self.quantiles.refill(self.buckets.iter());
    }

    /// Judges `value_ms` against the window as it was before, then adds it to the window.
    /// Returns the most severe finding of the three detectors, if any fired.
    ///
    /// NaN is ignored (neither judged nor added); other values are clamped into
    /// 0 ..= [`quantile::MAX_MS`].
    pub fn update(&mut self, value_ms: f64) -> Option<Finding> {
        if !self.is_ms() {
            let [z, i, r] = self.update_each(value_ms);
            return Finding::most_severe(Finding::most_severe(z, i), r);
        }
        // Latencies: `update_each` with the findings folded as they fire (most samples fire
        // none), instead of written out as a 144-byte array and read back to pick the most
        // severe. The same order of the same folds: `most_severe` with `None` is the other.
        if value_ms.is_nan() {
            return None;
        }
        let value = quantile::clamp_ms(value_ms);
        let mut most_severe = None;
        if self.window.len() >= self.min_samples {
            self.judge_ms(value, |_, f| {
                most_severe = Finding::most_severe(most_severe, Some(f));
            });
        }
        self.push(value, value);
        most_severe
    }

    /// Like [`LatencyModel::update`], but returns each detector's finding: `[zscore, iqr,
    /// rolling_mean]`.
    #[inline(always)]
    pub fn update_each(&mut self, value_ms: f64) -> [Option<Finding>; 3] {
        if value_ms.is_nan() || (!self.is_ms() && !value_ms.is_finite()) {
            return [None; 3];
        }
        let value = if self.is_ms() {
            quantile::clamp_ms(value_ms)
        } else {
            value_ms
        };
        if let Some(fit) = self.fit
            && self.window.len() >= self.min_samples
            && let Some(quartiles) = self.quartiles()
        {
            let (q1, _median, q3) = quartiles;
            let floor = scale::floor(q1, q3, fit.scale());
            let findings = self.judge_scale_free(value, quartiles, floor);
            let iqr = (q3 - q1).max(IQR_TO_STD * floor);
            self.push(
                value,
                value.clamp(q1 - OUTER_FENCE * iqr, q3 + OUTER_FENCE * iqr),
            );
            return findings;
        }
        let findings = self.judge(value);
        self.push(value, value);
        findings
    }

    /// The window's quartiles `(q1, median, q3)`.
    fn quartiles(&self) -> Option<(f64, f64, f64)> {
        Some((
            self.window_quantile(0.25)?,
            self.window_quantile(0.50)?,
            self.window_quantile(0.75)?,
        ))
    }

    /// p50/p90/p99 of the window.
    pub fn stats(&self) -> Stats {
        Stats {
            p50_ms: self.window_quantile(0.50),
            p90_ms: self.window_quantile(0.90),
            p99_ms: self.window_quantile(0.99),
            ..Stats::default()
        }
    }

    /// The `q`-quantile (0..=1) of the window, within 0.5 % (see [`quantile`]); `None` when
    /// empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.window_quantile(q)
    }

    /// Mean of the window; `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        self.all.mean()
    }

    /// Samples currently in the window.
    pub fn len(&self) -> usize {
        self.window.len()
    }

    /// True when the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The three detectors' judgements of `value` against the window as it is (latencies;
    /// with `unit = any`, nothing before the first fit).
    #[inline(always)]
    fn judge(&self, value: f64) -> [Option<Finding>; 3] {
        let mut findings = [None; 3];
        if self.window.len() >= self.min_samples && self.is_ms() {
            self.judge_ms(value, |k, f| findings[k] = Some(f));
        }
        findings
    }

    /// A latency quartile (`QUARTILES[k]`) of the window: a full window's by its rank worked
    /// out once, the same rank [`WindowRanks::quantile`] works out.
    #[inline(always)]
    fn quartile_ms(&self, k: usize) -> Option<f64> {
        debug_assert_eq!(self.quantiles.len(), self.window.len());
        if self.window.len() == self.window.capacity() {
            Some(quantile::representative(
                self.quantiles.bucket_of_rank(self.full_ranks[k]),
            ))
        } else {
            self.quantiles.quantile(QUARTILES[k])
        }
    }

    /// Latencies: floors of 1 ms (and 1 % of the level) on the spread, `min_increase_ms` on
    /// the rise. Hands each finding to `found` with its detector's index (0 z-score, 1 IQR,
    /// 2 rolling mean), in that order.
    #[inline(always)]
    fn judge_ms(&self, value: f64, mut found: impl FnMut(usize, Finding)) {
        let s = &self.settings;
        let dir = s.direction;
        // Most samples are no rise of `min_increase_ms` over the mean: no spread needed.
        if let Some(mean) = self.all.mean()
            && may_fire(value - mean, dir, s.min_increase_ms)
            && let Some(std) = self.all.std()
            && let Some(f) = zscore::judge_with(
                value,
                mean,
                effective_std(std, mean),
                s.z_threshold,
                s.min_increase_ms,
                dir,
            )
        {
            found(0, f);
        }
        // Most samples are not above q3 by the minimum increase, and then the IQR detector
        // cannot fire upwards: skip the two other quantile queries for them.
        if let Some(q3) = self.quartile_ms(2)
            && (dir == Direction::Both || value - q3 >= s.min_increase_ms.max(0.0))
            && let (Some(q1), Some(median)) = (self.quartile_ms(0), self.quartile_ms(1))
            && let Some(f) = iqr::judge_with(
                value,
                q1,
                q3,
                iqr::effective_iqr(q1, q3, median),
                s.iqr_multiplier,
                s.min_increase_ms,
                dir,
            )
        {
            found(1, f);
        }
        if let Some(f) = self.judge_rolling(value, effective_std) {
            found(2, f);
        }
    }

    /// Any unit: the floors are fractions of the window's own robust spread
    /// ([`scale::floor`]) and there is no minimum rise.
    fn judge_scale_free(
        &self,
        value: f64,
        (q1, _median, q3): (f64, f64, f64),
        floor: f64,
    ) -> [Option<Finding>; 3] {
        let s = &self.settings;
        let dir = s.direction;
        let mut findings = [None; 3];
        if let Some(mean) = self.all.mean()
            && may_fire(value - mean, dir, 0.0)
            && let Some(std) = self.all.std()
        {
            findings[0] = zscore::judge_with(value, mean, std.max(floor), s.z_threshold, 0.0, dir);
        }
        findings[1] = iqr::judge_with(
            value,
            q1,
            q3,
            (q3 - q1).max(IQR_TO_STD * floor),
            s.iqr_multiplier,
            0.0,
            dir,
        );
        // The recent mean against the rest of the window, in units of at least the whole
        // window's robust spread: a smooth daily cycle moves the two parts' means apart by
        // about as much as it widens the window, so it stays quiet, where a shift does not.
        let robust = ((q3 - q1) / IQR_TO_STD).max(floor);
        findings[2] = self.judge_rolling(value, |std, _| std.max(robust));
        findings
    }

    /// The rolling-mean detector: the recent part of the window with `value` against the
    /// rest, its spread floored by `floor(std, mean)`.
    #[inline(always)]
    fn judge_rolling(&self, value: f64, floor: impl Fn(f64, f64) -> f64) -> Option<Finding> {
        let s = &self.settings;
        let base = self.all.minus(&self.recent);
        if base.count() < self.min_samples {
            return None;
        }
        let mut recent = self.recent;
        recent.add(value);
        let (recent_mean, base_mean) = (recent.mean()?, base.mean()?);
        let min_rise = if self.is_ms() { s.min_increase_ms } else { 0.0 };
        if !may_fire(recent_mean - base_mean, s.direction, min_rise) {
            return None;
        }
        let base_std = base.std()?;
        rolling::judge_with(
            recent_mean,
            base_mean,
            floor(base_std, base_mean),
            s.rolling_k,
            min_rise,
            s.direction,
        )
    }

    /// Adds `value` (already clamped) to the window and every aggregate, evicting the oldest;
    /// the moments count it as `moment`.
    fn push(&mut self, value: f64, moment: f64) {
        if self.window.is_empty() {
            // Sums relative to the first value keep their precision from the start.
            self.all = Moments::with_shift(moment);
            self.recent = Moments::with_shift(moment);
        }
        let bucket = self.bucket_of(value);
        let evicted_value = self.window.push(value);
        let evicted_bucket = self.buckets.push(bucket.unwrap_or(0));
        match (bucket, evicted_bucket) {
            // The same bucket in and out: the counts do not change.
            (Some(b), Some(old)) => self.quantiles.move_bucket(old, b),
            (Some(b), None) => self.quantiles.insert_bucket(b),
            (None, _) => {}
        }
        let (evicted, aged) = match &mut self.moments {
            None => (evicted_value, self.window.newest(self.recent_len)),
            Some(moments) => (moments.push(moment), moments.newest(self.recent_len)),
        };
        self.all.add(moment);
        if let Some(old) = evicted {
            self.all.remove(old);
        }

        self.recent.add(moment);
        if let Some(aged) = aged {
            // The sample that just aged out of the recent part joins the baseline.
            self.recent.remove(aged);
        } else if let Some(old) = evicted {
            // The recent part spans the whole window, so the evicted sample was in it.
            self.recent.remove(old);
        }

        self.since_rebuild += 1;
        if self.since_rebuild >= self.window.capacity() {
            self.rebuild_moments();
            if let Some(fit) = self.fit {
                // A level shift or a change of spread the fit no longer resolves well.
                let (q1, median, q3) = (
                    self.window_quantile(0.25),
                    self.window_quantile(0.5),
                    self.window_quantile(0.75),
                );
                if let (Some(q1), Some(median), Some(q3)) = (q1, median, q3)
                    && !fit.still_fits(median, q3 - q1)
                {
                    self.refit();
                }
            }
        }
        if !self.is_ms() && self.fit.is_none() && self.window.len() >= self.min_samples {
            self.refit();
        }
    }

    /// Recomputes the running sums exactly from the window, relative to its current mean.
    fn rebuild_moments(&mut self) {
        let shift = self.all.mean().unwrap_or(0.0);
        let older = self.window.len().saturating_sub(self.recent_len);
        let moments = self.moments.as_ref().unwrap_or(&self.window);
        // Slices rather than `Ring::iter`: no index arithmetic per value, and the recent part
        // starts where it starts instead of stepping over the older values one by one.
        let (a, b) = moments.slices_from(0);
        self.all.rebuild(shift, a.iter().chain(b).copied());
        let (a, b) = moments.slices_from(older);
        self.recent.rebuild(shift, a.iter().chain(b).copied());
        self.since_rebuild = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Severity;

    /// The defaults, with a 10 ms floor so that small synthetic series can show each detector.
    fn settings() -> LatencySettings {
        LatencySettings {
            min_increase_ms: 10.0,
            ..LatencySettings::default()
        }
    }

    /// Population mean and std of `values`.
    fn mean_std(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    }

    /// Nearest-rank quantile, the sketch's definition, over the exact values.
    fn exact_quantile(values: &[f64], q: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn latency_no_finding_before_min_samples() {
        let mut model = LatencyModel::new(&settings());
        for _ in 0..9 {
            assert_eq!(model.update(50.0), None);
        }
        // nine samples in the window: even a huge spike is not judged yet
        assert_eq!(model.update(5_000.0), None);
        assert_eq!(model.len(), 10);
        assert!(model.update(50_000.0).is_some());
    }

    #[test]
    fn latency_spike_after_noisy_baseline_fires_zscore_critical() {
        let mut model = LatencyModel::new(&settings());
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            let value = 100.0 + (rng.f64() - 0.5) * 20.0;
            assert_eq!(model.update(value), None, "baseline fired at {value}");
        }
        let [z, _, _] = model.update_each(250.0);
        let z = z.expect("zscore fires on the spike");
        assert_eq!(z.detector, "zscore");
        assert_eq!(z.severity, Severity::Critical);
        assert!(z.confidence >= 0.75);
        assert!(
            z.threshold > 110.0 && z.threshold < 250.0,
            "{}",
            z.threshold
        );
        assert_eq!(
            model.update(300.0).map(|f| f.severity),
            Some(Severity::Critical)
        );
    }

    #[test]
    fn latency_small_jitter_never_fires() {
        let mut model = LatencyModel::new(&settings());
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..60 {
            model.update(50.0);
        }
        // a constant window has std and IQR 0; rises of up to 8 ms stay below min_increase_ms
        for _ in 0..2_000 {
            let value = 50.0 + (rng.f64() - 0.5) * 8.0;
            assert_eq!(model.update(value), None, "fired at {value}");
        }
    }

    #[test]
    fn latency_lower_latency_never_fires() {
        let mut model = LatencyModel::new(&settings());
        for i in 0..100 {
            model.update(500.0 + (i % 5) as f64);
        }
        assert_eq!(model.update(1.0), None);
        assert_eq!(model.update(0.0), None);
    }

    #[test]
    fn latency_iqr_fires_on_outlier_in_degenerate_window() {
        let mut model = LatencyModel::new(&settings());
        for _ in 0..60 {
            model.update(80.0);
        }
        let [_, i, _] = model.update_each(120.0);
        let i = i.expect("iqr fires");
        assert_eq!(i.detector, "iqr");
        assert_eq!(i.severity, Severity::Critical);
        // IQR 0 is floored to 1 ms: the fence is about q3 + 1.5 ms
        assert!((i.threshold - 81.5).abs() < 1.0, "{}", i.threshold);
    }

    #[test]
    fn latency_rolling_mean_catches_ramp_zscore_misses() {
        // A baseline of 100 ± 5 ms (alternating, std 5), then a climb of 1 ms per sample. Each
        // sample stays within three of the window's (growing) standard deviations, so z-score
        // never fires; the mean of the last 15 samples leaves the older samples behind.
        let mut model = LatencyModel::new(&settings());
        let noise = |i: usize| if i.is_multiple_of(2) { -5.0 } else { 5.0 };
        for i in 0..120 {
            assert_eq!(model.update(100.0 + noise(i)), None);
        }
        let mut rolling_fired_at = None;
        for step in 1..=80 {
            let value = 100.0 + noise(120 + step) + step as f64;
            let [z, _, r] = model.update_each(value);
            assert_eq!(z, None, "zscore fired at step {step}");
            if let (None, Some(r)) = (rolling_fired_at, r) {
                assert_eq!(r.detector, "rolling_mean");
                assert!(r.value > r.threshold);
                rolling_fired_at = Some(step);
            }
        }
        let step = rolling_fired_at.expect("rolling_mean fires on the ramp");
        assert!(step <= 30, "rolling_mean fired late, at step {step}");
    }

    #[test]
    fn latency_window_matches_naive_recomputation() {
        let s = LatencySettings {
            window: 50,
            rolling_window: 12,
            ..settings()
        };
        let mut model = LatencyModel::new(&s);
        let mut naive: Vec<f64> = Vec::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for step in 0..5_000 {
            // jittery latencies with level changes and the odd spike
            let level = [20.0, 80.0, 400.0][(step / 700) % 3];
            let spike = if rng.u32(0..50) == 0 { 10.0 } else { 1.0 };
            let value = level * spike * (0.8 + 0.4 * rng.f64());
            model.update(value);
            naive.push(value);
            if naive.len() > s.window {
                naive.remove(0);
            }

            let (mean, std) = mean_std(&naive);
            assert!(
                (model.mean().unwrap() - mean).abs() <= 1e-9 * mean,
                "step {step}"
            );
            assert!(
                (model.all.std().unwrap() - std).abs() <= 1e-6 * mean,
                "step {step}"
            );
            for q in [0.25, 0.5, 0.75, 0.9, 0.99] {
                let exact = exact_quantile(&naive, q);
                let got = model.quantile(q).unwrap();
                assert!((got - exact).abs() <= 0.015 * exact, "step {step} q{q}");
            }
            // the recent part is exactly the newest rolling_window − 1 samples
            let split = naive.len().saturating_sub(s.rolling_window - 1);
            let recent = mean_std(&naive[split..]).0;
            assert_eq!(model.recent.count(), naive.len() - split);
            assert!((model.recent.mean().unwrap() - recent).abs() <= 1e-9 * mean);
        }
    }

    #[test]
    fn latency_rolling_window_larger_than_window_never_panics() {
        let s = LatencySettings {
            window: 5,
            rolling_window: 20,
            ..settings()
        };
        let mut model = LatencyModel::new(&s);
        for i in 0..100 {
            model.update(10.0 + i as f64);
        }
        assert_eq!(model.recent.count(), 5);
        assert_eq!(model.len(), 5);
    }

    #[test]
    fn latency_bad_input_does_not_panic() {
        let mut model = LatencyModel::new(&settings());
        assert_eq!(model.update(f64::NAN), None);
        assert!(model.is_empty());
        model.update(-3.0);
        model.update(f64::INFINITY);
        model.update(f64::NEG_INFINITY);
        assert_eq!(model.len(), 3);
        let stats = model.stats();
        assert!(stats.p50_ms.unwrap() < 0.01);
        assert!(stats.p99_ms.unwrap() >= quantile::MAX_MS * 0.99);
        assert!(model.mean().unwrap().is_finite());
    }

    #[test]
    fn latency_stats_report_percentiles() {
        let mut model = LatencyModel::new(&settings());
        assert_eq!(model.stats(), Stats::default());
        for v in 1..=60 {
            model.update(v as f64 * 10.0);
        }
        let stats = model.stats();
        // nearest rank over 10, 20, …, 600: p50 = 300, p90 = 540, p99 = 600
        assert!((stats.p50_ms.unwrap() - 300.0).abs() <= 3.0);
        assert!((stats.p90_ms.unwrap() - 540.0).abs() <= 5.4);
        assert!((stats.p99_ms.unwrap() - 600.0).abs() <= 6.0);
        assert_eq!(stats.error_rate, None);
        assert_eq!(stats.circuit, None);
    }

    fn any_unit(direction: Direction) -> LatencySettings {
        LatencySettings {
            unit: ValueUnit::Any,
            direction,
            ..LatencySettings::default()
        }
    }

    /// Which samples of `values` the model flags.
    fn flags(settings: &LatencySettings, values: &[f64]) -> Vec<usize> {
        let mut model = LatencyModel::new(settings);
        (0..values.len())
            .filter(|&i| model.update(values[i]).is_some())
            .collect()
    }

    /// Noise around 1 with a spike up at 300, a drop at 600 and a long shift down from 900.
    fn shaped_series() -> Vec<f64> {
        let mut rng = fastrand::Rng::with_seed(11);
        (0..1400)
            .map(|i| {
                let noise = 1.0 + 0.05 * (rng.f64() - 0.5);
                match i {
                    300 => 1.6,
                    600 => 0.4,
                    900.. => noise - 0.5,
                    _ => noise,
                }
            })
            .collect()
    }

    #[test]
    fn any_unit_is_scale_and_sign_free() {
        let base = shaped_series();
        let s = any_unit(Direction::Both);
        let reference = flags(&s, &base);
        assert!(
            reference.contains(&300) && reference.contains(&600),
            "{reference:?}"
        );
        assert!(reference.contains(&900), "the shift down: {reference:?}");
        for (a, b) in [(0.02, 0.0), (1e6, 0.0), (3.0, -500.0), (-1.0, 0.0)] {
            let scaled: Vec<f64> = base.iter().map(|v| a * v + b).collect();
            let got = flags(&s, &scaled);
            // A negative factor mirrors the series: a spike becomes a drop, still flagged.
            let common = got.iter().filter(|i| reference.contains(i)).count();
            assert!(
                common * 10 >= reference.len() * 9 && got.len() <= reference.len() + 3,
                "x{a}{b:+}: {got:?} against {reference:?}"
            );
        }
    }

    #[test]
    fn any_unit_up_ignores_drops_and_ms_mutes_small_values() {
        let base = shaped_series();
        let up = flags(&any_unit(Direction::Up), &base);
        assert!(up.contains(&300) && !up.contains(&600), "{up:?}");
        // The same series read as latencies in ms: under the 1 ms / 50 ms floors.
        assert!(flags(&LatencySettings::default(), &base).is_empty());
    }

    #[test]
    fn any_unit_drop_finding_lies_below_its_threshold() {
        let mut model = LatencyModel::new(&any_unit(Direction::Both));
        let base = shaped_series();
        let mut found = None;
        for (i, v) in base.iter().enumerate().take(601) {
            let f = model.update(*v);
            if i == 600 {
                found = f;
            }
        }
        let f = found.expect("the drop fires");
        assert!(f.value < f.threshold, "{f:?}");
        assert!(
            f.confidence > 0.5 && f.severity >= Severity::Warning,
            "{f:?}"
        );
        // Infinite values are ignored with any unit (there is no range to clamp them into).
        assert_eq!(model.update_each(f64::INFINITY), [None; 3]);
    }
}
