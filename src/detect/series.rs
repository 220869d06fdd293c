//! One series' detection state: the model that fits its metric, plus the firing/resolved
//! bookkeeping (hysteresis) around it. Pure: measurements in, events out, no runtime.

use std::sync::Arc;

use crate::detect::baseline::{ErrorBaseline, P90Baseline, Rollup};
use crate::detect::clock::SkewLimits;
use crate::detect::config::{DetectSettings, Direction, LatencyModelKind, ValueUnit};
use crate::detect::errors::ErrorModel;
use crate::detect::finding::Finding;
use crate::detect::interned::intern;
use crate::detect::latency::LatencyModel;
use crate::detect::likelihood::{self, LikelihoodModel};
use crate::detect::stream::StreamFlag;
use crate::messages::{
    CircuitState, Measurement, Metric, Name, Outcome, SeriesKey, Severity, Stats, Timestamp,
};

/// `n` as a `u32`, `u32::MAX` past it.
fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// What a series' detection concluded from one measurement.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The series is anomalous; `started_at` is when this episode began.
    Firing {
        /// The most severe finding for this sample.
        finding: Finding,
        /// Start of the episode (the first anomalous sample).
        started_at: Timestamp,
    },
    /// The series, which was firing, is healthy again.
    Resolved,
}

#[derive(Debug)]
enum Model {
    /// Boxed: the latency models are the largest, and every other series would pay their size.
    Latency(Box<LatencyModel>),
    Likelihood(Box<LikelihoodModel>),
    /// Boxed too: inline, its window counters made every series' state 128 B larger.
    Errors(Box<ErrorModel>),
    Availability {
        state: CircuitState,
    },
    /// Boxed: its two sides' thresholds (96 B) would make every series larger.
    Clock(Box<SkewLimits>),
    /// A stream's state as its source judged it ([`crate::detect::stream`]).
    Stream(StreamFlag),
    /// Metrics judged elsewhere or not yet (prices are compared across exchanges).
    Passive,
}

/// The learned baseline that runs beside a series' model (see [`crate::detect::baseline`]).
#[derive(Debug)]
enum Baseline {
    P90(Box<P90Baseline>),
    Errors(Box<ErrorBaseline>),
    None,
}

/// An anomalous episode in progress. Its counts saturate; the settings they meet are `u32`
/// (8 B less per series than `usize`), capped at `u32::MAX` (`sustain_for` is at most
/// 200 000; a `resolve_after` past 4.3 billion samples, 136 years at one a second, is read as
/// that).
#[derive(Debug, Clone, Copy)]
struct Episode {
    /// The finding that opened (or last escalated) the episode. Latency episodes last while
    /// samples stay at or above its threshold, even after the sliding baseline has adapted to
    /// the new level: a sustained slowdown is still a slowdown.
    finding: Finding,
    /// When it began.
    since: Timestamp,
    /// Samples judged since it opened (saturating).
    len: u32,
    /// Normal samples in a row since the last anomalous one (saturating).
    normal_run: u32,
}

impl Episode {
    /// An episode `finding` opens at `since`, no sample counted yet.
    fn new(finding: Finding, since: Timestamp) -> Box<Self> {
        Box::new(Self {
            finding,
            since,
            len: 0,
            normal_run: 0,
        })
    }
}

/// What one measurement does to the episode.
enum Step {
    Fire(Finding),
    /// A normal sample: counts towards resolving (after `resolve_after` in a row).
    Normal,
    /// Recovered at once.
    Resolve,
    /// Says nothing either way.
    Nothing,
}

/// The detection state of one series.
#[derive(Debug)]
pub struct SeriesDetector {
    model: Model,
    /// Speaks only after `[detect.baseline] min_history`; the most severe finding wins.
    baseline: Baseline,
    /// The anomalous episode in progress, boxed: most series are calm, and inline it made
    /// every series' state 64 B larger.
    episode: Option<Box<Episode>>,
    /// What it reads of its settings, shared by every series of the same settings
    /// ([`intern`]: 8 B a series instead of 32).
    rules: Arc<SeriesRules>,
    /// The likelihood model's onset score of the last row it judged.
    onset_score: f64,
}

/// What a [`SeriesDetector`] reads of its settings as it judges.
#[derive(Debug, PartialEq)]
struct SeriesRules {
    /// How long an episode may be sustained by the value alone staying past its opening
    /// threshold (see [`SeriesDetector::observe`]): unbounded for rises only; one window when
    /// drops count too (two windows), or the return from a long shift would be "sustained" for
    /// ever.
    sustain_for: Option<u32>,
    /// `[detect.latency] only`: the one detector whose findings count, if set.
    only: Option<Name>,
    resolve_after: u32,
    recovery_successes: u32,
}

impl SeriesDetector {
    /// The detector for a series of `metric`.
    pub fn new(metric: Metric, settings: &DetectSettings) -> Self {
        let model = match metric {
            Metric::LatencyMs => match settings.latency.model {
                LatencyModelKind::Likelihood => Model::Likelihood(Box::new(LikelihoodModel::new(
                    &settings.latency,
                    &settings.likelihood,
                ))),
                LatencyModelKind::Sliding => {
                    Model::Latency(Box::new(LatencyModel::new(&settings.latency)))
                }
            },
            Metric::Errors => Model::Errors(Box::new(ErrorModel::new(&settings.errors))),
            Metric::Availability => Model::Availability {
                state: CircuitState::Closed,
            },
            Metric::ClockSkewMs => Model::Clock(Box::new(SkewLimits::new(&settings.clock, None))),
            Metric::Price | Metric::PriceDeviationBps | Metric::ActorRestarts => Model::Passive,
            // A stream's lag is a latency: the sliding models and the learned p90 judge it.
            Metric::StreamLagMs => match settings.latency.model {
                LatencyModelKind::Likelihood => Model::Likelihood(Box::new(LikelihoodModel::new(
                    &settings.latency,
                    &settings.likelihood,
                ))),
                LatencyModelKind::Sliding => {
                    Model::Latency(Box::new(LatencyModel::new(&settings.latency)))
                }
            },
            Metric::StreamSilenceMs
            | Metric::StreamFrozen
            | Metric::StreamGap
            | Metric::StreamReconnects => match StreamFlag::of(metric) {
                Some(flag) => Model::Stream(flag),
                None => Model::Passive,
            },
        };
        let baseline = match metric {
            // The learned p90 baseline is a latency model (ms buckets, rises only): a series of
            // any other unit is judged by the sliding models alone.
            Metric::LatencyMs | Metric::StreamLagMs if settings.latency.unit == ValueUnit::Any => {
                Baseline::None
            }
            Metric::LatencyMs | Metric::StreamLagMs => {
                Baseline::P90(Box::new(P90Baseline::new(&settings.baseline)))
            }
            Metric::Errors => Baseline::Errors(Box::new(ErrorBaseline::new(&settings.baseline))),
            _ => Baseline::None,
        };
        Self {
            model,
            baseline,
            episode: None,
            rules: intern(SeriesRules {
                sustain_for: (settings.latency.direction == Direction::Both)
                    .then_some(saturating_u32(2 * settings.latency.window.max(1))),
                only: settings.latency.only.as_deref().map(Name::from),
                resolve_after: saturating_u32(settings.latency.resolve_after.max(1)),
                recovery_successes: settings.errors.recovery_successes.max(1),
            }),
            onset_score: 0.0,
        }
    }

    /// The detector for `series`: like [`SeriesDetector::new`], with what depends on the
    /// series' exchange (its clock's signing window, [`SkewLimits::for_exchange`]).
    pub fn for_series(series: &SeriesKey, settings: &DetectSettings) -> Self {
        let mut d = Self::new(series.metric, settings);
        if let Model::Clock(limits) = &mut d.model {
            **limits = SkewLimits::for_exchange(&settings.clock, &series.exchange);
        }
        d
    }

    /// A fresh detector for the same metric (after a crash): the models start empty, but
    /// the episode in progress and the breaker state are kept, so the series still resolves.
    pub fn rebuilt(&self, metric: Metric, settings: &DetectSettings) -> Self {
        let mut fresh = Self::new(metric, settings);
        fresh.episode = (self.episode.as_ref()).map(|open| Episode::new(open.finding, open.since));
        if let (Model::Availability { state }, Model::Availability { state: new }) =
            (&self.model, &mut fresh.model)
        {
            *new = *state;
        }
        if let (Model::Clock(limits), Model::Clock(new)) = (&self.model, &mut fresh.model) {
            **new = **limits;
        }
        fresh
    }

    /// True when a learned baseline runs for this series (its rollups are worth persisting).
    pub fn has_baseline(&self) -> bool {
        !matches!(self.baseline, Baseline::None)
    }

    /// The learned baseline's bucket closed since the last call, as (bucket index, rollup).
    pub fn take_rollup(&mut self) -> Option<(i64, Rollup)> {
        match &mut self.baseline {
            Baseline::P90(b) => b.take_closed().map(|(i, p90)| (i, Rollup::P90(p90))),
            Baseline::Errors(b) => b.take_closed().map(|(i, c)| (i, Rollup::Errors(c))),
            Baseline::None => None,
        }
    }

    /// Restores a persisted rollup of bucket `index` into the learned baseline, before any
    /// live sample (oldest first); a rollup of another model is ignored.
    pub fn restore(&mut self, index: i64, rollup: Rollup) {
        match (&mut self.baseline, rollup) {
            (Baseline::P90(b), Rollup::P90(p90)) => b.restore(index, p90),
            (Baseline::Errors(b), Rollup::Errors(c)) => b.restore(index, c),
            _ => {}
        }
    }

    /// True while the series is in an anomalous episode.
    pub fn is_firing(&self) -> bool {
        self.episode.is_some()
    }

    /// The onset score (0..=1) of the last measurement, when the likelihood model judges this
    /// series (see [`crate::detect::likelihood`]).
    pub fn onset_score(&self) -> Option<f64> {
        matches!(self.model, Model::Likelihood(_)).then_some(self.onset_score)
    }

    /// Judges one measurement.
    pub fn observe(&mut self, m: &Measurement) -> Option<Event> {
        let len = match &mut self.episode {
            Some(open) => {
                open.len = open.len.saturating_add(1);
                open.len
            }
            None => 0,
        };
        let episode = self.episode.as_ref().map(|e| e.finding);
        let sustain = self.rules.sustain_for.is_none_or(|n| len <= n);
        let recovery_successes = self.rules.recovery_successes;
        let step = match &mut self.model {
            Model::Latency(model) => {
                if !m.outcome.is_ok() || !m.value.is_finite() {
                    return None;
                }
                let learned = match &mut self.baseline {
                    Baseline::P90(b) => b.update(m.at, m.value),
                    _ => None,
                };
                let found = match self.rules.only.as_deref() {
                    None => Finding::most_severe(model.update(m.value), learned),
                    // Evaluating one detector: the others still learn, their findings are dropped.
                    Some(only) => model
                        .update_each(m.value)
                        .into_iter()
                        .chain([learned])
                        .flatten()
                        .find(|f| f.detector == only),
                };
                match (found, episode) {
                    (Some(f), _) => Step::Fire(f),
                    // The baseline has caught up with a level that is still past the
                    // threshold the episode opened at: still anomalous. (A learned baseline's
                    // verdict lasts a bucket and carries its own persistence.)
                    (None, Some(open))
                        if sustain
                            && beyond(m.value, &open)
                            && !open.detector.starts_with("baseline_") =>
                    {
                        Step::Fire(Finding {
                            value: m.value,
                            ..open
                        })
                    }
                    (None, _) => Step::Normal,
                }
            }
            Model::Likelihood(model) => {
                if !m.outcome.is_ok() || !m.value.is_finite() {
                    return None;
                }
                let learned = match &mut self.baseline {
                    Baseline::P90(b) => b.update(m.at, m.value),
                    _ => None,
                };
                let judged = model.update(m.at.as_millis(), m.value);
                self.onset_score = judged.score;
                // The model keeps its own incident (with its own hysteresis): when neither it
                // nor the learned baseline finds anything, the episode is over.
                match Finding::most_severe(judged.finding, learned) {
                    Some(f) => Step::Fire(f),
                    None => Step::Resolve,
                }
            }
            Model::Errors(model) => {
                if m.outcome == Outcome::BreakerOpen {
                    // A probe that was not sent observes nothing: neither failure nor recovery.
                    return None;
                }
                let finding = model.update(m.outcome, m.status);
                let learned = match &mut self.baseline {
                    Baseline::Errors(b) => b.update(m.at, m.outcome, m.status),
                    _ => None,
                };
                let recovered = model.consecutive_successes() >= recovery_successes;
                match (finding, learned) {
                    // The last closed bucket's error rate was anomalous: that holds for this
                    // bucket whatever the windowed model says.
                    (f, Some(l)) => {
                        if f.is_some() && recovered {
                            model.clear();
                        }
                        let f = f.filter(|_| !recovered);
                        Step::Fire(Finding::most_severe(f, Some(l)).unwrap_or(l))
                    }
                    (finding, None) => match finding {
                        // A long run of successes ends the episode even while old failures keep
                        // the windowed rate above threshold; start the window afresh.
                        Some(_) if recovered => {
                            model.clear();
                            Step::Resolve
                        }
                        Some(f) => Step::Fire(f),
                        // Hysteresis: one good probe amid failures is not a recovery.
                        None if recovered => Step::Resolve,
                        None => Step::Nothing,
                    },
                }
            }
            Model::Availability { state } => {
                let new = CircuitState::from_value(m.value)?;
                *state = new;
                match new {
                    CircuitState::Open => Step::Fire(Finding {
                        detector: "circuit_open",
                        severity: Severity::Critical,
                        value: m.value,
                        threshold: CircuitState::Open.as_value(),
                        confidence: 1.0,
                    }),
                    CircuitState::Closed => Step::Resolve,
                    CircuitState::HalfOpen => Step::Nothing,
                }
            }
            Model::Clock(limits) => match limits.judge(m.value) {
                Some(f) => Step::Fire(f),
                None => Step::Normal,
            },
            Model::Stream(flag) => match flag.judge(m) {
                Some(f) => Step::Fire(f),
                None => Step::Normal,
            },
            Model::Passive => Step::Nothing,
        };
        match step {
            Step::Fire(f) => self.fire(f, m.at),
            Step::Normal => self.normal(self.rules.resolve_after),
            Step::Resolve => self.resolve(),
            Step::Nothing => None,
        }
    }

    /// A normal sample: the episode, if any, resolves after `needed` of them in a row.
    fn normal(&mut self, needed: u32) -> Option<Event> {
        let open = self.episode.as_mut()?;
        open.normal_run = open.normal_run.saturating_add(1);
        if open.normal_run >= needed {
            self.resolve()
        } else {
            None
        }
    }

    fn fire(&mut self, finding: Finding, at: Timestamp) -> Option<Event> {
        let started_at = match &mut self.episode {
            Some(open) => {
                open.normal_run = 0;
                if finding.severity > open.finding.severity {
                    open.finding = finding;
                }
                open.since
            }
            None => {
                self.episode = Some(Episode::new(finding, at));
                at
            }
        };
        Some(Event::Firing {
            finding,
            started_at,
        })
    }

    fn resolve(&mut self) -> Option<Event> {
        self.episode.take().map(|_| Event::Resolved)
    }

    /// The series' statistics for alerts.
    pub fn stats(&self) -> Stats {
        match &self.model {
            Model::Latency(model) => model.stats(),
            Model::Likelihood(model) => model.stats(),
            Model::Errors(model) => Stats {
                error_rate: Some(model.error_rate()),
                ..Stats::default()
            },
            Model::Availability { state } => Stats {
                circuit: Some(*state),
                ..Stats::default()
            },
            _ => Stats::default(),
        }
    }

    /// A one-line explanation of a finding, for the alert's message.
    pub fn explain(&self, finding: &Finding) -> String {
        let f = finding;
        match (&self.model, f.detector) {
            (Model::Latency(_), "rolling_mean") => format!(
                "recent mean latency {:.1} ms is above the baseline limit {:.1} ms (gradual degradation, confidence {:.2})",
                f.value, f.threshold, f.confidence
            ),
            (_, "baseline_p90") => format!(
                "p90 latency {:.1} ms in the last bucket is above this series' learned p90 of {:.1} ms (baseline_p90, confidence {:.3})",
                f.value, f.threshold, f.confidence
            ),
            (Model::Latency(_), detector) => format!(
                "latency {:.1} ms exceeds {:.1} ms ({detector}, confidence {:.2})",
                f.value, f.threshold, f.confidence
            ),
            (Model::Likelihood(_), likelihood::SUSTAINED) => format!(
                "latency {:.1} ms has stayed unusual against this series' learned normal of up to {:.1} ms ({})",
                f.value,
                f.threshold,
                rarity(f.confidence)
            ),
            (Model::Likelihood(_), detector) => format!(
                "latency {:.1} ms is far above this series' recent values and its learned normal of up to {:.1} ms ({detector}; {})",
                f.value,
                f.threshold,
                rarity(f.confidence)
            ),
            (Model::Errors(model), "error_rate") => format!(
                "error rate {:.1}% over the last probes exceeds {:.1}%: {}",
                f.value * 100.0,
                f.threshold * 100.0,
                model.describe()
            ),
            (Model::Errors(model), detector) if detector.starts_with("baseline_") => format!(
                "{} rate {:.2}% in the last bucket against a learned {:.2}% ({detector}, confidence {:.3}): {}",
                detector.trim_start_matches("baseline_"),
                f.value * 100.0,
                f.threshold * 100.0,
                f.confidence,
                model.describe()
            ),
            (Model::Errors(model), _) => format!(
                "{} consecutive failed probes (threshold {}): {}",
                f.value,
                f.threshold,
                model.describe()
            ),
            (Model::Availability { .. }, _) => {
                "circuit breaker open: the exchange is failing every probe; probes are paused"
                    .to_string()
            }
            (Model::Clock(limits), _) => limits.explain(f),
            (Model::Stream(flag), _) => flag.explain(f),
            (Model::Passive, _) => String::new(),
        }
    }
}

/// How rare a row of this confidence is by chance: "as rare as once in 1000 hours".
fn rarity(confidence: f64) -> String {
    let hours = 1.0 / (1.0 - confidence).max(1e-12);
    if hours >= 1e6 {
        "far rarer than once in a million hours by chance".to_owned()
    } else {
        format!("as rare as once in {hours:.0} hours by chance")
    }
}

/// True while `value` is still past the threshold the episode `open` opened at, on the side
/// it departed to (a drop opens below its threshold).
fn beyond(value: f64, open: &Finding) -> bool {
    if open.value < open.threshold {
        value <= open.threshold
    } else {
        value >= open.threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::SeriesKey;

    fn m(metric: Metric, value: f64, at: i64) -> Measurement {
        Measurement::ok(SeriesKey::new("x", "e", metric), value, Timestamp(at))
    }

    #[test]
    fn series_share_their_rules_and_a_tracked_series_fits_112_bytes() {
        let settings = DetectSettings::default();
        let a = SeriesDetector::new(Metric::LatencyMs, &settings);
        let b = SeriesDetector::new(Metric::Errors, &settings);
        assert!(Arc::ptr_eq(&a.rules, &b.rules));
        // The state a detector actor boxes per series: mimalloc's 112 B class (128 with the
        // rules inline).
        assert!(std::mem::size_of::<crate::detect::tracked::TrackedSeries>() <= 112);
    }

    #[test]
    fn availability_fires_on_open_and_resolves_on_close() {
        let mut d = SeriesDetector::new(Metric::Availability, &DetectSettings::default());
        assert_eq!(d.observe(&m(Metric::Availability, 1.0, 1)), None);
        match d.observe(&m(Metric::Availability, 2.0, 2)) {
            Some(Event::Firing {
                finding,
                started_at,
            }) => {
                assert_eq!(finding.detector, "circuit_open");
                assert_eq!(finding.severity, Severity::Critical);
                assert_eq!(started_at, Timestamp(2));
            }
            other => panic!("expected firing, got {other:?}"),
        }
        assert_eq!(d.observe(&m(Metric::Availability, 1.0, 3)), None);
        assert_eq!(
            d.observe(&m(Metric::Availability, 0.0, 4)),
            Some(Event::Resolved)
        );
        assert_eq!(d.observe(&m(Metric::Availability, 0.0, 5)), None);
    }

    #[test]
    fn clock_skew_resolves_after_consecutive_normal_samples() {
        let settings = DetectSettings::default();
        let mut d = SeriesDetector::new(Metric::ClockSkewMs, &settings);
        assert!(matches!(
            d.observe(&m(Metric::ClockSkewMs, -2500.0, 1)),
            Some(Event::Firing { finding, .. }) if finding.severity == Severity::Critical
        ));
        assert!(matches!(
            d.observe(&m(Metric::ClockSkewMs, 700.0, 2)),
            Some(Event::Firing { finding, started_at }) if finding.severity == Severity::Warning && started_at == Timestamp(1)
        ));
        for i in 0..settings.latency.resolve_after - 1 {
            assert_eq!(d.observe(&m(Metric::ClockSkewMs, 3.0, 3 + i as i64)), None);
        }
        assert_eq!(
            d.observe(&m(Metric::ClockSkewMs, 3.0, 10)),
            Some(Event::Resolved)
        );
    }

    #[test]
    fn errors_stay_firing_while_the_breaker_rejects_probes() {
        let mut d = SeriesDetector::new(Metric::Errors, &DetectSettings::default());
        let mut fail = m(Metric::Errors, 1.0, 1);
        fail.outcome = Outcome::Http5xx;
        for _ in 0..3 {
            d.observe(&fail);
        }
        assert!(d.is_firing());
        let mut rejected = fail.clone();
        rejected.outcome = Outcome::BreakerOpen;
        for _ in 0..10 {
            assert_eq!(d.observe(&rejected), None);
        }
        assert!(d.is_firing(), "rejected probes are not a recovery");
    }

    #[test]
    fn latency_sustained_slowdown_stays_firing_until_it_recovers() {
        for model in [LatencyModelKind::Likelihood, LatencyModelKind::Sliding] {
            let mut settings = DetectSettings::default();
            settings.latency.model = model;
            let mut d = SeriesDetector::new(Metric::LatencyMs, &settings);
            let probe = |v: f64, i: i64| m(Metric::LatencyMs, v, i * 10_000);
            for i in 0..60 {
                d.observe(&probe(50.0 + (i % 7) as f64, i));
            }
            // Ten times slower for longer than the window: the window adapts, the episode
            // must not. (The likelihood model opens on the first slow probe at info, which
            // fires nothing, and escalates on the second.)
            for i in 61..300 {
                let e = d.observe(&probe(500.0 + (i % 7) as f64, i));
                assert!(
                    matches!(e, Some(Event::Firing { .. })),
                    "{model:?} sample {i}: {e:?}"
                );
            }
            let back: Vec<_> = (300..320).map(|i| d.observe(&probe(50.0, i))).collect();
            let resolved: Vec<_> = back
                .iter()
                .enumerate()
                .filter(|(_, e)| **e == Some(Event::Resolved))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(resolved.len(), 1, "{model:?} {back:?}");
            // The likelihood model waits for its recent level to come back, then five calm
            // probes: about two minutes.
            assert!(resolved[0] < 16, "{model:?} {back:?}");
            assert!(
                back[..resolved[0]]
                    .iter()
                    .all(|e| e.is_none() || matches!(e, Some(Event::Firing { .. }))),
                "{model:?} {back:?}"
            );
        }
    }

    #[test]
    fn errors_do_not_resolve_on_one_good_probe() {
        let mut d = SeriesDetector::new(Metric::Errors, &DetectSettings::default());
        let probe = |o: Outcome, i: i64| Measurement {
            outcome: o,
            ..m(Metric::Errors, 0.0, i)
        };
        for i in 0..3 {
            d.observe(&probe(Outcome::Http5xx, i));
        }
        assert!(d.is_firing());
        for i in 3..40 {
            let o = if i % 2 == 0 {
                Outcome::Ok
            } else {
                Outcome::Timeout
            };
            assert_ne!(
                d.observe(&probe(o, i)),
                Some(Event::Resolved),
                "flapped at {i}"
            );
        }
        let recovery = DetectSettings::default().errors.recovery_successes as i64;
        let events: Vec<_> = (40..40 + recovery)
            .map(|i| d.observe(&probe(Outcome::Ok, i)))
            .collect();
        assert_eq!(events.last(), Some(&Some(Event::Resolved)));
        let resolved = events
            .iter()
            .filter(|e| **e == Some(Event::Resolved))
            .count();
        assert_eq!(resolved, 1);
    }

    #[test]
    fn learned_p90_baseline_fires_inside_the_series_after_min_history() {
        let mut d = SeriesDetector::new(Metric::LatencyMs, &DetectSettings::default());
        let mut rng = fastrand::Rng::with_seed(9);
        let mut at = 0;
        // Two hours at ~50 ms, a probe every 10 s: the sliding models see nothing either.
        for _ in 0..720 {
            let e = d.observe(&m(Metric::LatencyMs, 50.0 + 10.0 * rng.f64(), at));
            assert_eq!(e, None, "at {at}");
            at += 10_000;
        }
        // A gentle p90 rise (x1.6) the sliding window soon absorbs: the baseline remembers.
        let mut found = None;
        for _ in 0..30 {
            if let Some(Event::Firing { finding, .. }) =
                d.observe(&m(Metric::LatencyMs, 80.0 + 16.0 * rng.f64(), at))
                && finding.detector == "baseline_p90"
            {
                found = Some(finding);
            }
            at += 10_000;
        }
        let f = found.expect("baseline_p90 fires");
        assert_eq!(f.severity, Severity::Critical);
        assert!(d.explain(&f).contains("learned p90"));
    }

    #[test]
    fn learned_error_baseline_fires_and_resolves() {
        let mut d = SeriesDetector::new(Metric::Errors, &DetectSettings::default());
        let probe = |o: Outcome, status: u16, at: i64| Measurement {
            outcome: o,
            status,
            ..m(Metric::Errors, 0.0, at)
        };
        let mut at = 0;
        for _ in 0..3600 {
            assert_eq!(d.observe(&probe(Outcome::Ok, 200, at)), None);
            at += 1000;
        }
        // One minute with every fifth probe a 504: below the windowed 5 % rule's reach at
        // first, far above this series' clean history.
        for i in 0..60 {
            let (o, s) = if i % 5 == 0 {
                (Outcome::Http5xx, 504)
            } else {
                (Outcome::Ok, 200)
            };
            d.observe(&probe(o, s, at));
            at += 1000;
        }
        let e = d.observe(&probe(Outcome::Ok, 200, at));
        match e {
            Some(Event::Firing { finding, .. }) => {
                assert!(finding.detector.starts_with("baseline_5"), "{finding:?}");
                assert_eq!(finding.severity, Severity::Critical);
                assert!(d.explain(&finding).contains("learned"));
            }
            other => panic!("expected firing, got {other:?}"),
        }
        let mut resolved = false;
        for _ in 0..120 {
            at += 1000;
            resolved |= d.observe(&probe(Outcome::Ok, 200, at)) == Some(Event::Resolved);
        }
        assert!(resolved);
        assert!(!d.is_firing());
    }

    #[test]
    fn latency_ignores_failed_probes() {
        let mut d = SeriesDetector::new(Metric::LatencyMs, &DetectSettings::default());
        let mut failed = m(Metric::LatencyMs, 10_000.0, 1);
        failed.outcome = Outcome::Timeout;
        assert_eq!(d.observe(&failed), None);
    }

    fn replay_settings(only: Option<&str>) -> DetectSettings {
        let mut s = DetectSettings::default();
        s.latency.unit = ValueUnit::Any;
        s.latency.direction = Direction::Both;
        if let Some(name) = only {
            s.latency.select(name).expect("a detector name");
        }
        s
    }

    #[test]
    fn a_shift_down_is_sustained_for_two_windows_at_most() {
        let mut settings = replay_settings(None);
        settings.latency.model = LatencyModelKind::Sliding;
        let mut d = SeriesDetector::new(Metric::LatencyMs, &settings);
        let mut rng = fastrand::Rng::with_seed(3);
        for i in 0..200 {
            assert_eq!(d.observe(&m(Metric::LatencyMs, 10.0 + rng.f64(), i)), None);
        }
        // Down to 2 and staying there: flagged at once and for longer than the sliding
        // models alone would (they adapt within a window), but not for ever.
        let mut flagged = 0;
        for i in 200..800 {
            if let Some(Event::Firing { finding, .. }) =
                d.observe(&m(Metric::LatencyMs, 2.0 + rng.f64(), i))
            {
                assert!(finding.value < finding.threshold, "a drop: {finding:?}");
                flagged += 1;
            }
        }
        let window = settings.latency.window;
        assert!(
            flagged > window && flagged <= 2 * window + 5,
            "{flagged} flagged"
        );
        assert!(!d.is_firing(), "resolved once the sustain ran out");
    }

    #[test]
    fn one_detector_alone_is_scored_when_asked() {
        for only in ["zscore", "iqr", "rolling_mean"] {
            let mut d = SeriesDetector::new(Metric::LatencyMs, &replay_settings(Some(only)));
            let mut rng = fastrand::Rng::with_seed(5);
            for i in 0..400 {
                let v = if i % 50 == 49 { 30.0 } else { 10.0 + rng.f64() };
                if let Some(Event::Firing { finding, .. }) = d.observe(&m(Metric::LatencyMs, v, i))
                {
                    assert_eq!(finding.detector, only);
                }
            }
        }
    }
}
