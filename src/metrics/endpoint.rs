//! One probed endpoint's metrics in one allocation.
//!
//! A `ProbeActor` counts, per endpoint, its probes by outcome
//! (`exwatch_probes_total{exchange,endpoint,outcome}`), its scheduled, late and confirmation
//! probes, and its probe durations (`exwatch_probe_duration_seconds`). Registered as separate
//! counters that would be 12 registry entries per endpoint, each with its own owned label
//! strings and atomic; here they are plain atomics side by side. [`Metrics`](super::Metrics)
//! keeps one entry per endpoint under its (exchange, endpoint) names, which label them, and
//! renders them into the same families, labels and sample order as the separate counters
//! would have.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::messages::{Name, Outcome};

use super::{Escaped, HistogramInner, write_histogram};

/// The families an [`EndpointMetrics`] contributes to, in the registry's (name) order.
pub(super) const FAMILIES: [&str; 5] = [
    "exwatch_probe_duration_seconds",
    "exwatch_probes_confirm_total",
    "exwatch_probes_late_total",
    "exwatch_probes_scheduled_total",
    "exwatch_probes_total",
];

/// The probe metrics of one endpoint: lock-free and allocation-free to update.
#[derive(Debug)]
pub struct EndpointMetrics {
    /// `exwatch_probes_total`, indexed by [`Outcome::index`].
    outcomes: [AtomicU64; Outcome::ALL.len()],
    /// `exwatch_probes_scheduled_total`.
    scheduled: AtomicU64,
    /// `exwatch_probes_late_total`.
    late: AtomicU64,
    /// `exwatch_probes_confirm_total`.
    confirm: AtomicU64,
    /// `exwatch_probe_duration_seconds`.
    duration: HistogramInner,
}

impl EndpointMetrics {
    pub(super) fn new() -> Self {
        Self {
            outcomes: Default::default(),
            scheduled: AtomicU64::new(0),
            late: AtomicU64::new(0),
            confirm: AtomicU64::new(0),
            duration: HistogramInner::default(),
        }
    }

    /// Counts one probe that ended with `outcome`.
    pub fn outcome(&self, outcome: Outcome) {
        self.outcomes[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` probe slots whose time has come.
    pub fn scheduled(&self, n: u64) {
        self.scheduled.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` late (or missed) probes.
    pub fn late(&self, n: u64) {
        self.late.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one confirmation re-probe.
    pub fn confirmed(&self) {
        self.confirm.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one probe's duration, in seconds.
    pub fn observe_duration(&self, seconds: f64) {
        self.duration.observe(seconds);
    }

    /// Probes so far that ended with `outcome`.
    pub fn outcome_count(&self, outcome: Outcome) -> u64 {
        self.outcomes[outcome.index()].load(Ordering::Relaxed)
    }

    /// The value [`Metrics::value`](super::Metrics::value) reports for `family{labels}`, if
    /// `labels` name this endpoint, `names` (in registration order: exchange, endpoint[,
    /// outcome]).
    pub(super) fn value(
        &self,
        names: &(Name, Name),
        family: &str,
        labels: &[(&str, &str)],
    ) -> Option<f64> {
        let (head, rest) = labels.split_at_checked(2)?;
        if head != [("exchange", &*names.0), ("endpoint", &*names.1)] {
            return None;
        }
        let n = match (family, rest) {
            ("exwatch_probes_total", [("outcome", o)]) => {
                let o = Outcome::ALL.into_iter().find(|x| x.as_str() == *o)?;
                self.outcome_count(o)
            }
            ("exwatch_probes_scheduled_total", []) => self.scheduled.load(Ordering::Relaxed),
            ("exwatch_probes_late_total", []) => self.late.load(Ordering::Relaxed),
            ("exwatch_probes_confirm_total", []) => self.confirm.load(Ordering::Relaxed),
            ("exwatch_probe_duration_seconds", []) => self.duration.count(),
            _ => return None,
        };
        Some(n as f64)
    }

    /// Writes the samples of `family` (one of [`FAMILIES`]) of this endpoint, `names`
    /// (exchange, endpoint), in the text format.
    pub(super) fn render(&self, names: &(Name, Name), family: &str, out: &mut String) {
        let (ex, ep) = (Escaped(&names.0), Escaped(&names.1));
        let one = |out: &mut String, n: &AtomicU64| {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(out, "{family}{{exchange=\"{ex}\",endpoint=\"{ep}\"}} {n}");
        };
        match family {
            "exwatch_probes_total" => {
                // Sorted by the outcome label, as separately registered counters would be.
                let mut order = Outcome::ALL;
                order.sort_unstable_by_key(|o| o.as_str());
                for o in order {
                    let n = self.outcome_count(o);
                    let o = o.as_str();
                    let _ = writeln!(
                        out,
                        "{family}{{exchange=\"{ex}\",endpoint=\"{ep}\",outcome=\"{o}\"}} {n}"
                    );
                }
            }
            "exwatch_probes_scheduled_total" => one(out, &self.scheduled),
            "exwatch_probes_late_total" => one(out, &self.late),
            "exwatch_probes_confirm_total" => one(out, &self.confirm),
            "exwatch_probe_duration_seconds" => {
                let labels = format!("exchange=\"{ex}\",endpoint=\"{ep}\"");
                write_histogram(out, family, &labels, &self.duration);
            }
            _ => {}
        }
    }
}
