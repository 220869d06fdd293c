//! One series' detection state: the model that fits its metric, plus the firing/resolved
//! bookkeeping (hysteresis) around it. Pure: measurements in, events out, no runtime.

use crate::config::DetectSettings;
use crate::detect::errors::ErrorModel;
use crate::detect::finding::Finding;
use crate::detect::latency::LatencyModel;
use crate::messages::{CircuitState, Measurement, Metric, Outcome, Severity, Stats, Timestamp};

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
    Latency(LatencyModel),
    Errors(ErrorModel),
    Availability {
        state: CircuitState,
    },
    Clock {
        warn_ms: f64,
        critical_ms: f64,
    },
    /// Metrics judged elsewhere or not yet (prices are compared across exchanges).
    Passive,
}

/// The detection state of one series.
#[derive(Debug)]
pub struct SeriesDetector {
    model: Model,
    firing_since: Option<Timestamp>,
    normal_run: usize,
    resolve_after: usize,
    recovery_successes: u32,
}

impl SeriesDetector {
    /// The detector for a series of `metric`.
    pub fn new(metric: Metric, settings: &DetectSettings) -> Self {
        let model = match metric {
            Metric::LatencyMs => Model::Latency(LatencyModel::new(&settings.latency)),
            Metric::Errors => Model::Errors(ErrorModel::new(&settings.errors)),
            Metric::Availability => Model::Availability {
                state: CircuitState::Closed,
            },
            Metric::ClockSkewMs => Model::Clock {
                warn_ms: settings.clock.warn_ms,
                critical_ms: settings.clock.critical_ms,
            },
            Metric::Price | Metric::PriceDeviationBps | Metric::ActorRestarts => Model::Passive,
        };
        Self {
            model,
            firing_since: None,
            normal_run: 0,
            resolve_after: settings.latency.resolve_after.max(1),
            recovery_successes: settings.errors.recovery_successes.max(1),
        }
    }

    /// A fresh detector for the same metric (after a crash): the models start empty, but
    /// the episode in progress and the breaker state are kept, so the series still resolves.
    pub fn rebuilt(&self, metric: Metric, settings: &DetectSettings) -> Self {
        let mut fresh = Self::new(metric, settings);
        fresh.firing_since = self.firing_since;
        if let (Model::Availability { state }, Model::Availability { state: new }) =
            (&self.model, &mut fresh.model)
        {
            *new = *state;
        }
        fresh
    }

    /// True while the series is in an anomalous episode.
    pub fn is_firing(&self) -> bool {
        self.firing_since.is_some()
    }

    /// Judges one measurement.
    pub fn observe(&mut self, m: &Measurement) -> Option<Event> {
        let finding = match &mut self.model {
            Model::Latency(model) => {
                if !m.outcome.is_ok() || !m.value.is_finite() {
                    return None;
                }
                model.update(m.value)
            }
            Model::Errors(model) => {
                if m.outcome == Outcome::BreakerOpen {
                    // A probe that was not sent observes nothing: neither failure nor recovery.
                    return None;
                }
                let finding = model.update(m.outcome, m.status);
                if finding.is_some() && model.consecutive_successes() >= self.recovery_successes {
                    // A long run of successes ends the episode even while old failures keep
                    // the windowed rate above threshold; start the window afresh.
                    model.clear();
                    return self.resolve();
                }
                finding
            }
            Model::Availability { state } => {
                let new = CircuitState::from_value(m.value)?;
                *state = new;
                return match new {
                    CircuitState::Open => self.fire(
                        Finding {
                            detector: "circuit_open",
                            severity: Severity::Critical,
                            value: m.value,
                            threshold: CircuitState::Open.as_value(),
                            confidence: 1.0,
                        },
                        m.at,
                    ),
                    CircuitState::Closed => self.resolve(),
                    CircuitState::HalfOpen => None,
                };
            }
            Model::Clock {
                warn_ms,
                critical_ms,
            } => clock_finding(m.value, *warn_ms, *critical_ms),
            Model::Passive => return None,
        };
        match finding {
            Some(f) => self.fire(f, m.at),
            None if self.firing_since.is_some() => {
                self.normal_run += 1;
                let needed = match self.model {
                    Model::Errors(_) => 1,
                    _ => self.resolve_after,
                };
                if self.normal_run >= needed {
                    self.resolve()
                } else {
                    None
                }
            }
            None => None,
        }
    }

    fn fire(&mut self, finding: Finding, at: Timestamp) -> Option<Event> {
        self.normal_run = 0;
        let started_at = *self.firing_since.get_or_insert(at);
        Some(Event::Firing {
            finding,
            started_at,
        })
    }

    fn resolve(&mut self) -> Option<Event> {
        self.normal_run = 0;
        self.firing_since.take().map(|_| Event::Resolved)
    }

    /// The series' statistics for alerts.
    pub fn stats(&self) -> Stats {
        match &self.model {
            Model::Latency(model) => model.stats(),
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
            (Model::Latency(_), detector) => format!(
                "latency {:.1} ms exceeds {:.1} ms ({detector}, confidence {:.2})",
                f.value, f.threshold, f.confidence
            ),
            (Model::Errors(model), "error_rate") => format!(
                "error rate {:.1}% over the last probes exceeds {:.1}%: {}",
                f.value * 100.0,
                f.threshold * 100.0,
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
            (Model::Clock { .. }, _) => format!(
                "clock skew {:+.0} ms against the exchange (limit {:.0} ms)",
                f.value, f.threshold
            ),
            (Model::Passive, _) => String::new(),
        }
    }
}

fn clock_finding(skew_ms: f64, warn_ms: f64, critical_ms: f64) -> Option<Finding> {
    if !skew_ms.is_finite() {
        return None;
    }
    let abs = skew_ms.abs();
    let (severity, threshold) = if abs >= critical_ms {
        (Severity::Critical, critical_ms)
    } else if abs >= warn_ms {
        (Severity::Warning, warn_ms)
    } else {
        return None;
    };
    Some(Finding {
        detector: "clock_skew",
        severity,
        value: skew_ms,
        threshold,
        confidence: 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::SeriesKey;

    fn m(metric: Metric, value: f64, at: i64) -> Measurement {
        Measurement::ok(SeriesKey::new("x", "e", metric), value, Timestamp(at))
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
    fn latency_ignores_failed_probes() {
        let mut d = SeriesDetector::new(Metric::LatencyMs, &DetectSettings::default());
        let mut failed = m(Metric::LatencyMs, 10_000.0, 1);
        failed.outcome = Outcome::Timeout;
        assert_eq!(d.observe(&failed), None);
    }
}
