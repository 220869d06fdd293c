//! Operator rules (`[rules.<name>]`): pure evaluation, values in and values out, event time only.
//!
//! A rule says "`metric` `op` `threshold` for `for`", e.g. "5xx error rate > 10 % for 10 minutes".
//! For each rule and each matching series (exchange, endpoint) a [`RuleState`] keeps a sliding
//! window (the rule's `window`, one minute by default, never longer than `for`) of outcomes or
//! latencies, and on every measurement computes the metric over that window. The condition is
//! "windowed metric `op` threshold"; the rule fires once the condition has held without a break
//! for `for` (on event time), and resolves at the first measurement where it no longer holds.
//!
//! The window is a fixed ring of at most [`MAX_BUCKETS`] time buckets (`window / 60`, at least
//! one second wide) with running totals: an update costs O(1) amortised, allocates nothing, and the
//! window's edge is exact to one bucket width. Latency percentiles come from a per-bucket
//! log-scale histogram ([`LATENCY_BINS`] bins, eight per octave from 1 ms to about 4.4 minutes):
//! a reported percentile is within **4.4 % relative** (2^(1/16) − 1) of the exact order
//! statistic (below 1 ms it reads as 0.5 ms; above the top bin it reads as the top bin).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::messages::{Measurement, Metric, Outcome, Timestamp};

/// The most time buckets one window holds.
pub const MAX_BUCKETS: usize = 60;
/// The narrowest bucket.
const MIN_BUCKET_MS: i64 = 1_000;
/// Histogram bins per octave of latency.
const BINS_PER_OCTAVE: usize = 8;
/// Octaves above 1 ms the histogram tells apart (1 ms ..< 2^18 ms ≈ 4.4 min).
const OCTAVES: usize = 18;
/// Latency histogram bins: one below 1 ms, then eight per octave.
pub const LATENCY_BINS: usize = 1 + BINS_PER_OCTAVE * OCTAVES;

/// What a rule measures over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleMetric {
    /// Share of sent probes answered with an HTTP 4xx status (429 included).
    ErrorRate4xx,
    /// Share of sent probes answered with an HTTP 5xx status.
    ErrorRate5xx,
    /// Share of sent probes answered with HTTP 503.
    ErrorRate503,
    /// Share of sent probes answered with HTTP 504.
    ErrorRate504,
    /// Number of probes answered with a 2xx status.
    Count2xx,
    /// Median latency of successful probes, ms.
    LatencyP50,
    /// 90th percentile latency, ms.
    LatencyP90,
    /// 99th percentile latency, ms.
    LatencyP99,
    /// Share of probes that succeeded (`ok`); probes the open breaker held back count as failed.
    Availability,
}

impl RuleMetric {
    /// Every metric, in the order the docs list them.
    pub const ALL: [RuleMetric; 9] = [
        RuleMetric::ErrorRate4xx,
        RuleMetric::ErrorRate5xx,
        RuleMetric::ErrorRate503,
        RuleMetric::ErrorRate504,
        RuleMetric::Count2xx,
        RuleMetric::LatencyP50,
        RuleMetric::LatencyP90,
        RuleMetric::LatencyP99,
        RuleMetric::Availability,
    ];

    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleMetric::ErrorRate4xx => "error_rate_4xx",
            RuleMetric::ErrorRate5xx => "error_rate_5xx",
            RuleMetric::ErrorRate503 => "error_rate_503",
            RuleMetric::ErrorRate504 => "error_rate_504",
            RuleMetric::Count2xx => "count_2xx",
            RuleMetric::LatencyP50 => "latency_p50",
            RuleMetric::LatencyP90 => "latency_p90",
            RuleMetric::LatencyP99 => "latency_p99",
            RuleMetric::Availability => "availability",
        }
    }

    /// Parses a name (see [`RuleMetric::as_str`]).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// True for the metrics that are fractions in 0..=1 (error rates, availability).
    pub fn is_rate(self) -> bool {
        !matches!(self, RuleMetric::Count2xx) && !self.is_latency()
    }

    /// True for the latency percentiles.
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            RuleMetric::LatencyP50 | RuleMetric::LatencyP90 | RuleMetric::LatencyP99
        )
    }

    /// The measurement series the rule reads: `latency_ms` for percentiles, `errors` (every
    /// probe outcome with its status) for the rest.
    pub fn source(self) -> Metric {
        if self.is_latency() {
            Metric::LatencyMs
        } else {
            Metric::Errors
        }
    }

    /// The metric's value written for people: rates as percentages, latencies in ms.
    pub fn format(self, v: f64) -> String {
        if self.is_rate() {
            format!("{:.1}%", v * 100.0)
        } else if self.is_latency() {
            format!("{v:.1} ms")
        } else {
            format!("{v}")
        }
    }
}

/// As its name (see [`RuleMetric::as_str`]).
impl Serialize for RuleMetric {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Display for RuleMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the metric is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RuleOp {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
}

impl RuleOp {
    /// Parses `>`, `>=`, `<` or `<=`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            ">" => RuleOp::Gt,
            ">=" => RuleOp::Ge,
            "<" => RuleOp::Lt,
            "<=" => RuleOp::Le,
            _ => return None,
        })
    }

    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleOp::Gt => ">",
            RuleOp::Ge => ">=",
            RuleOp::Lt => "<",
            RuleOp::Le => "<=",
        }
    }

    /// True when `value op threshold`.
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            RuleOp::Gt => value > threshold,
            RuleOp::Ge => value >= threshold,
            RuleOp::Lt => value < threshold,
            RuleOp::Le => value <= threshold,
        }
    }
}

impl fmt::Display for RuleOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The condition a rule checks, without its name and scope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Condition {
    /// What is measured.
    pub metric: RuleMetric,
    /// How it is compared.
    pub op: RuleOp,
    /// The threshold (a fraction for rates, ms for latencies, a count for `count_2xx`).
    pub threshold: f64,
    /// How long the condition must hold before the rule fires.
    pub hold: Duration,
    /// The trailing window the metric is computed over.
    pub window: Duration,
}

/// What a rule's state reports after a measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RuleEvent {
    /// The condition holds (sent for every measurement while it does; the Router dedups).
    Firing {
        /// The windowed metric.
        value: f64,
        /// When the condition began to hold.
        started_at: Timestamp,
    },
    /// The condition stopped holding after firing.
    Resolved {
        /// The windowed metric.
        value: f64,
    },
}

/// Counters of one bucket (and of the whole window).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Counts {
    /// Probes sent (every outcome but `breaker_open`).
    sent: u32,
    /// Probes, held back ones included.
    all: u32,
    /// Probes that ended `ok`.
    ok: u32,
    status_4xx: u32,
    status_5xx: u32,
    status_503: u32,
    status_504: u32,
    status_2xx: u32,
}

impl Counts {
    fn add(&mut self, m: &Measurement) {
        self.all += 1;
        if m.outcome != Outcome::BreakerOpen {
            self.sent += 1;
        }
        if m.outcome.is_ok() {
            self.ok += 1;
        }
        match m.status {
            200..=299 => self.status_2xx += 1,
            400..=499 => self.status_4xx += 1,
            500..=599 => self.status_5xx += 1,
            _ => {}
        }
        self.status_503 += u32::from(m.status == 503);
        self.status_504 += u32::from(m.status == 504);
    }

    fn sub(&mut self, o: &Counts) {
        self.sent -= o.sent;
        self.all -= o.all;
        self.ok -= o.ok;
        self.status_4xx -= o.status_4xx;
        self.status_5xx -= o.status_5xx;
        self.status_503 -= o.status_503;
        self.status_504 -= o.status_504;
        self.status_2xx -= o.status_2xx;
    }
}

/// The histogram bin of a latency.
fn bin_of(ms: f64) -> usize {
    if ms.is_nan() || ms < 1.0 {
        return 0;
    }
    let k = (ms.log2() * BINS_PER_OCTAVE as f64) as usize;
    (1 + k).min(LATENCY_BINS - 1)
}

/// The value a bin stands for: the geometric middle of its range.
fn bin_value(bin: usize) -> f64 {
    if bin == 0 {
        0.5
    } else {
        (((bin - 1) as f64 + 0.5) / BINS_PER_OCTAVE as f64).exp2()
    }
}

/// One rule's window over one series, and whether it is firing.
#[derive(Debug, Clone)]
pub struct RuleState {
    cond: Condition,
    width_ms: i64,
    /// Buckets in the window.
    n: usize,
    counts: Box<[Counts]>,
    /// Latency histograms, `n × LATENCY_BINS` (empty for non-latency rules).
    bins: Box<[u32]>,
    total: Counts,
    total_bins: Box<[u32]>,
    latencies: u32,
    /// The newest bucket number seen.
    newest: Option<i64>,
    holding_since: Option<Timestamp>,
    firing: bool,
}

impl RuleState {
    /// An empty window for `cond`. Allocates once, here.
    pub fn new(cond: Condition) -> Self {
        let window_ms = i64::try_from(cond.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(MIN_BUCKET_MS);
        let n = usize::try_from(window_ms / MIN_BUCKET_MS)
            .unwrap_or(MAX_BUCKETS)
            .clamp(1, MAX_BUCKETS);
        let width_ms = (window_ms + n as i64 - 1) / n as i64;
        let bins = if cond.metric.is_latency() {
            LATENCY_BINS
        } else {
            0
        };
        Self {
            cond,
            width_ms,
            n,
            counts: vec![Counts::default(); n].into_boxed_slice(),
            bins: vec![0; n * bins].into_boxed_slice(),
            total: Counts::default(),
            total_bins: vec![0; bins].into_boxed_slice(),
            latencies: 0,
            newest: None,
            holding_since: None,
            firing: false,
        }
    }

    /// The same rule with an empty window, still firing if it was (after an actor restart: a
    /// crash never produces a false "resolved" nor loses one).
    pub fn rebuilt(&self) -> Self {
        let mut s = Self::new(self.cond);
        s.firing = self.firing;
        s.holding_since = self.holding_since;
        s
    }

    /// The rule's condition.
    pub fn condition(&self) -> &Condition {
        &self.cond
    }

    /// True while the rule fires.
    pub fn is_firing(&self) -> bool {
        self.firing
    }

    fn slot(&self, bucket: i64) -> usize {
        bucket.rem_euclid(self.n as i64) as usize
    }

    fn clear(&mut self, slot: usize) {
        let c = self.counts[slot];
        self.total.sub(&c);
        self.counts[slot] = Counts::default();
        if !self.total_bins.is_empty() {
            let row = &mut self.bins[slot * LATENCY_BINS..(slot + 1) * LATENCY_BINS];
            for (t, b) in self.total_bins.iter_mut().zip(row.iter_mut()) {
                *t -= *b;
                self.latencies -= *b;
                *b = 0;
            }
        }
    }

    /// Moves the window so that `bucket` is its newest; false when `bucket` is already out of it.
    fn advance(&mut self, bucket: i64) -> bool {
        let n = self.n as i64;
        let Some(newest) = self.newest else {
            self.newest = Some(bucket);
            return true;
        };
        if bucket <= newest - n {
            return false;
        }
        if bucket > newest {
            let expired = (bucket - newest).min(n);
            for b in bucket - expired + 1..=bucket {
                self.clear(self.slot(b));
            }
            self.newest = Some(bucket);
        }
        true
    }

    /// The metric over the window; `None` when it is undefined (no probe sent for a rate, no
    /// latency for a percentile).
    pub fn value(&self) -> Option<f64> {
        let t = &self.total;
        let rate = |num: u32, den: u32| (den > 0).then(|| f64::from(num) / f64::from(den));
        match self.cond.metric {
            RuleMetric::ErrorRate4xx => rate(t.status_4xx, t.sent),
            RuleMetric::ErrorRate5xx => rate(t.status_5xx, t.sent),
            RuleMetric::ErrorRate503 => rate(t.status_503, t.sent),
            RuleMetric::ErrorRate504 => rate(t.status_504, t.sent),
            RuleMetric::Availability => rate(t.ok, t.all),
            RuleMetric::Count2xx => Some(f64::from(t.status_2xx)),
            RuleMetric::LatencyP50 => self.percentile(0.50),
            RuleMetric::LatencyP90 => self.percentile(0.90),
            RuleMetric::LatencyP99 => self.percentile(0.99),
        }
    }

    fn percentile(&self, q: f64) -> Option<f64> {
        if self.latencies == 0 {
            return None;
        }
        let rank = ((q * f64::from(self.latencies)).ceil() as u32).max(1);
        let mut seen = 0;
        for (bin, &c) in self.total_bins.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bin_value(bin));
            }
        }
        None
    }

    /// Takes one measurement of the rule's source series (see [`RuleMetric::source`]) and
    /// judges the window at its event time.
    pub fn observe(&mut self, m: &Measurement) -> Option<RuleEvent> {
        let bucket = m.at.as_millis().div_euclid(self.width_ms);
        if self.advance(bucket) {
            let slot = self.slot(bucket);
            if self.cond.metric.is_latency() {
                if !m.outcome.is_ok() || !m.value.is_finite() {
                    return None;
                }
                let bin = bin_of(m.value);
                self.bins[slot * LATENCY_BINS + bin] += 1;
                self.total_bins[bin] += 1;
                self.latencies += 1;
            } else {
                self.counts[slot].add(m);
                self.total.add(m);
            }
        }
        let value = self.value()?;
        let holds = self.cond.op.holds(value, self.cond.threshold);
        if !holds {
            self.holding_since = None;
            if self.firing {
                self.firing = false;
                return Some(RuleEvent::Resolved { value });
            }
            return None;
        }
        let since = *self.holding_since.get_or_insert(m.at);
        if !self.firing && m.at.since(since) < self.cond.hold {
            return None;
        }
        self.firing = true;
        Some(RuleEvent::Firing {
            value,
            started_at: since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::SeriesKey;

    const T0: i64 = 1_795_000_000_000;

    fn cond(metric: RuleMetric, op: RuleOp, threshold: f64, secs: u64) -> Condition {
        Condition {
            metric,
            op,
            threshold,
            hold: Duration::from_secs(secs),
            window: Duration::from_secs(secs),
        }
    }

    fn probe(status: u16, secs: i64) -> Measurement {
        let outcome = match status {
            200..=299 => Outcome::Ok,
            400..=499 => Outcome::Http4xx,
            500..=599 => Outcome::Http5xx,
            _ => Outcome::Timeout,
        };
        Measurement {
            series: SeriesKey::new("okx", "ping", Metric::Errors),
            value: f64::from(u8::from(!outcome.is_ok())),
            outcome,
            status,
            at: Timestamp(T0 + secs * 1000),
        }
    }

    fn latency(ms: f64, secs: i64) -> Measurement {
        Measurement::ok(
            SeriesKey::new("okx", "ping", Metric::LatencyMs),
            ms,
            Timestamp(T0 + secs * 1000),
        )
    }

    #[test]
    fn rule_fires_only_after_holding_for_its_duration_then_resolves() {
        let mut s = RuleState::new(cond(RuleMetric::ErrorRate5xx, RuleOp::Gt, 0.10, 60));
        // Healthy for a while.
        for i in 0..120 {
            assert_eq!(s.observe(&probe(200, i)), None);
        }
        // An outage: every probe 503. The 60 s window crosses 10 % at the 7th failure; the
        // condition must then hold for 60 s before the rule fires.
        let mut fired_at = None;
        for i in 120..240 {
            if let Some(RuleEvent::Firing { value, started_at }) = s.observe(&probe(503, i)) {
                assert!(value > 0.10);
                fired_at.get_or_insert((i, started_at));
            }
        }
        let (i, started_at) = fired_at.expect("fires");
        assert!(s.is_firing());
        assert_eq!(i, 126 + 60);
        assert_eq!(started_at, Timestamp(T0 + 126_000));
        // Recovery: the windowed rate falls under 10 % once 90 % of the last minute is healthy.
        let mut resolved = None;
        for i in 240..360 {
            if let Some(RuleEvent::Resolved { value }) = s.observe(&probe(200, i)) {
                assert!(value <= 0.10);
                resolved.get_or_insert(i);
            }
        }
        let r = resolved.expect("resolves");
        assert!((290..=300).contains(&r), "resolved at {r}");
        assert!(!s.is_firing());
    }

    #[test]
    fn rule_does_not_fire_before_the_condition_held_for_its_duration() {
        let mut s = RuleState::new(cond(RuleMetric::ErrorRate5xx, RuleOp::Gt, 0.10, 60));
        for i in 0..59 {
            assert_eq!(s.observe(&probe(503, i)), None, "at {i}");
        }
        assert!(matches!(
            s.observe(&probe(503, 60)),
            Some(RuleEvent::Firing { .. })
        ));
    }

    #[test]
    fn rule_error_rates_count_status_classes() {
        let cases = [
            (RuleMetric::ErrorRate4xx, 429, 0.5),
            (RuleMetric::ErrorRate5xx, 502, 0.5),
            (RuleMetric::ErrorRate503, 503, 0.5),
            (RuleMetric::ErrorRate503, 502, 0.0),
            (RuleMetric::ErrorRate504, 504, 0.5),
            (RuleMetric::Availability, 500, 0.5),
            (RuleMetric::Count2xx, 500, 5.0),
        ];
        for (metric, status, want) in cases {
            let mut s = RuleState::new(cond(metric, RuleOp::Ge, 0.0, 60));
            for i in 0..10 {
                s.observe(&probe(if i % 2 == 0 { 200 } else { status }, i));
            }
            assert_eq!(s.value(), Some(want), "{metric} with {status}");
        }
    }

    #[test]
    fn rule_availability_counts_held_back_probes_as_failed_but_rates_do_not() {
        let held = |secs| Measurement {
            outcome: Outcome::BreakerOpen,
            status: 0,
            ..probe(200, secs)
        };
        let mut avail = RuleState::new(cond(RuleMetric::Availability, RuleOp::Lt, 0.9, 10));
        let mut rate = RuleState::new(cond(RuleMetric::ErrorRate5xx, RuleOp::Gt, 0.1, 10));
        for s in [&mut avail, &mut rate] {
            s.observe(&probe(500, 0));
            s.observe(&held(1));
        }
        assert_eq!(avail.value(), Some(0.0));
        assert_eq!(rate.value(), Some(1.0));
    }

    #[test]
    fn rule_latency_percentiles_are_within_their_accuracy() {
        for (metric, q) in [
            (RuleMetric::LatencyP50, 0.50),
            (RuleMetric::LatencyP90, 0.90),
            (RuleMetric::LatencyP99, 0.99),
        ] {
            let mut s = RuleState::new(cond(metric, RuleOp::Gt, 1e9, 600));
            for i in 1..=1000 {
                s.observe(&latency(f64::from(i), i64::from(i) / 10));
            }
            let exact = (q * 1000.0_f64).ceil();
            let got = s.value().expect("value");
            assert!(
                (got / exact - 1.0).abs() <= 0.045,
                "{metric}: {got} vs {exact}"
            );
        }
    }

    #[test]
    fn rule_latency_window_forgets_old_samples_and_ignores_failures() {
        let mut s = RuleState::new(cond(RuleMetric::LatencyP50, RuleOp::Gt, 500.0, 10));
        for i in 0..20 {
            s.observe(&latency(1000.0, i));
        }
        assert!(s.is_firing());
        let failed = Measurement {
            outcome: Outcome::Timeout,
            ..latency(1e6, 20)
        };
        assert_eq!(s.observe(&failed), None);
        let mut resolved = false;
        for i in 21..40 {
            resolved |= matches!(
                s.observe(&latency(50.0, i)),
                Some(RuleEvent::Resolved { .. })
            );
        }
        assert!(resolved);
        let v = s.value().expect("value");
        assert!((v / 50.0 - 1.0).abs() <= 0.045, "{v}");
    }

    #[test]
    fn rule_below_threshold_ops_and_late_samples() {
        let mut s = RuleState::new(cond(RuleMetric::Count2xx, RuleOp::Lt, 3.0, 10));
        for i in 0..10 {
            s.observe(&probe(500, i));
        }
        assert!(matches!(
            s.observe(&probe(500, 10)),
            Some(RuleEvent::Firing { value, .. }) if value == 0.0
        ));
        // A sample older than the window changes nothing.
        s.observe(&probe(200, -100));
        assert_eq!(s.value(), Some(0.0));
        for i in 11..13 {
            s.observe(&probe(200, i));
        }
        assert!(s.is_firing());
        assert!(matches!(
            s.observe(&probe(200, 13)),
            Some(RuleEvent::Resolved { value }) if value == 3.0
        ));
    }

    #[test]
    fn rule_a_long_gap_empties_the_window() {
        let mut s = RuleState::new(cond(RuleMetric::ErrorRate5xx, RuleOp::Gt, 0.5, 60));
        for i in 0..100 {
            s.observe(&probe(503, i));
        }
        assert!(s.is_firing());
        assert!(matches!(
            s.observe(&probe(200, 100_000)),
            Some(RuleEvent::Resolved { value }) if value == 0.0
        ));
        let r = s.rebuilt();
        assert!(!r.is_firing());
    }

    #[test]
    fn rule_a_burst_shorter_than_for_never_fires() {
        let mut s = RuleState::new(Condition {
            window: Duration::from_secs(60),
            ..cond(RuleMetric::ErrorRate5xx, RuleOp::Gt, 0.10, 600)
        });
        for i in 0..1200 {
            // Two minutes of 503s in the middle of twenty healthy minutes.
            let status = if (300..420).contains(&i) { 503 } else { 200 };
            assert_eq!(
                s.observe(&probe(status, i)).map(|_| i),
                None,
                "fired at {i}"
            );
        }
    }

    #[test]
    fn rule_names_parse() {
        for m in RuleMetric::ALL {
            assert_eq!(RuleMetric::parse(m.as_str()), Some(m));
        }
        assert_eq!(RuleMetric::parse("errors"), None);
        assert_eq!(RuleOp::parse(">="), Some(RuleOp::Ge));
        assert_eq!(RuleOp::parse("=>"), None);
        assert!(RuleOp::Le.holds(1.0, 1.0) && !RuleOp::Lt.holds(1.0, 1.0));
    }
}
