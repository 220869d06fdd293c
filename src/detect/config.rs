//! `[detect]` and `[rules]`: the detectors' settings and their validation, beside the
//! detectors. `validate` and `rules` turn the raw tables into typed settings purely, every
//! problem with its key path; the aggregate (`crate::settings`) calls them.

use std::time::Duration;

use serde::Serialize;

use crate::config::check::*;
use crate::config::raw::Table;
use crate::config::{Named, ser_duration};
use crate::detect::rules::{Condition, RuleMetric, RuleOp};
use crate::messages::{Name, Severity};

/// The largest detection window: each series allocates its window up front.
const MAX_WINDOW: usize = 100_000;

/// `[detect]`
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DetectSettings {
    /// `[detect.latency]`
    pub latency: LatencySettings,
    /// `[detect.errors]`
    pub errors: ErrorSettings,
    /// `[detect.price]`
    pub price: PriceSettings,
    /// `[detect.clock]`
    pub clock: ClockSettings,
    /// `[detect.baseline]`
    pub baseline: BaselineSettings,
    /// `[detect.likelihood]`
    pub likelihood: LikelihoodSettings,
}

/// `[detect.likelihood]`: the likelihood model, the default latency detector; see
/// [`crate::detect::likelihood`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LikelihoodSettings {
    /// Rows in the sliding windows of values and of steps.
    pub window: usize,
    /// Half-life, in rows, of the learned history: the long-run distributions of surprise and
    /// the learned normal band.
    pub history: usize,
    /// Rows needed before any judgement.
    pub min_samples: usize,
    /// Calm rows back inside the learned normal band that close an incident.
    pub resolve_after: usize,
    /// Confidence levels (that of an hour of rows) for info / warning / critical.
    pub levels: [f64; 3],
}

impl Default for LikelihoodSettings {
    fn default() -> Self {
        Self {
            window: 128,
            history: 5000,
            min_samples: 12,
            resolve_after: 5,
            levels: [0.95, 0.99, 0.999],
        }
    }
}

/// `[detect.baseline]`: learned per-series baselines (p90 latency, error-class rates) over
/// trailing per-bucket rollups; see [`crate::detect::baseline`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineSettings {
    /// Trailing history the baseline learns from.
    #[serde(serialize_with = "ser_duration")]
    pub history: Duration,
    /// History needed before the baseline says anything.
    #[serde(serialize_with = "ser_duration")]
    pub min_history: Duration,
    /// Width of one rollup bucket (event time).
    #[serde(serialize_with = "ser_duration")]
    pub bucket: Duration,
    /// Confidence levels for slight / moderate / severe (info / warning / critical).
    pub levels: [f64; 3],
}

impl Default for BaselineSettings {
    fn default() -> Self {
        Self {
            history: Duration::from_secs(6 * 3600),
            min_history: Duration::from_secs(30 * 60),
            bucket: Duration::from_secs(60),
            levels: [0.95, 0.99, 0.999],
        }
    }
}

/// `[detect.latency]`: z-score, IQR and rolling-mean detectors over sliding windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySettings {
    /// Samples in the baseline window.
    pub window: usize,
    /// z-score at which a sample is a (slight) anomaly.
    pub z_threshold: f64,
    /// IQR fence multiplier (`q3 + k·IQR`).
    pub iqr_multiplier: f64,
    /// Samples in the recent window compared against the baseline.
    pub rolling_window: usize,
    /// Standard deviations the recent mean may rise above the baseline.
    pub rolling_k: f64,
    /// Samples needed before any judgement.
    pub min_samples: usize,
    /// Smallest rise over the baseline, in ms, that can count as anomalous: jitter of a few
    /// milliseconds is never worth an alert however small the variance.
    pub min_increase_ms: f64,
    /// Consecutive normal samples before a firing series is resolved (hysteresis).
    pub resolve_after: usize,
    /// What the values are. Live series are latencies (`Ms`); replay of other data uses `Any`.
    pub unit: ValueUnit,
    /// Which departures count. Live latency only rises matter (`Up`); replay defaults to `Both`.
    pub direction: Direction,
    /// The model that judges the series: the likelihood model (default) or the sliding-window
    /// composite (`detector = "composite"`, or one of its detectors by name).
    pub model: LatencyModelKind,
    /// With the sliding-window composite: only this detector's findings count (`zscore`,
    /// `iqr`, `rolling_mean`, `baseline_p90`); `None` for the whole composite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<String>,
}

/// Which model judges a latency series (`[detect.latency] detector`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyModelKind {
    /// [`crate::detect::likelihood`].
    #[default]
    Likelihood,
    /// The z-score, IQR and rolling-mean detectors over sliding windows
    /// ([`crate::detect::latency`]), with the learned p90 baseline.
    Sliding,
}

impl LatencySettings {
    /// Picks the model by detector name: `likelihood`; `composite` (or `all`) for the
    /// sliding-window composite; `zscore`, `iqr`, `rolling_mean` or `baseline_p90` for one of
    /// its detectors alone. `None` for an unknown name.
    pub fn select(&mut self, detector: &str) -> Option<()> {
        (self.model, self.only) = match detector {
            "likelihood" => (LatencyModelKind::Likelihood, None),
            "composite" | "all" => (LatencyModelKind::Sliding, None),
            "zscore" | "iqr" | "rolling_mean" | "baseline_p90" => {
                (LatencyModelKind::Sliding, Some(detector.to_owned()))
            }
            _ => return None,
        };
        Some(())
    }

    /// The detector names [`LatencySettings::select`] accepts.
    pub const DETECTORS: [&'static str; 7] = [
        "likelihood",
        "composite",
        "all",
        "zscore",
        "iqr",
        "rolling_mean",
        "baseline_p90",
    ];
}

/// What a series' values are, for the latency model's floors and quantiles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueUnit {
    /// Milliseconds: values clamped to 0 ..= 10 min, floors of 1 ms and `min_increase_ms`.
    #[default]
    Ms,
    /// Any unit and scale (negative values too): floors are fractions of the window's own
    /// robust spread, `min_increase_ms` is ignored; see [`crate::detect::scale`].
    Any,
}

impl ValueUnit {
    /// Parses `ms` or `any`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ms" => Some(Self::Ms),
            "any" => Some(Self::Any),
            _ => None,
        }
    }
}

/// Which departures from the baseline a model judges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Only rises (latency: faster is never an incident).
    #[default]
    Up,
    /// Rises and drops.
    Both,
}

impl Direction {
    /// Parses `up` or `both`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "up" => Some(Self::Up),
            "both" => Some(Self::Both),
            _ => None,
        }
    }
}

impl Default for LatencySettings {
    fn default() -> Self {
        Self {
            window: 60,
            z_threshold: 3.0,
            iqr_multiplier: 1.5,
            rolling_window: 15,
            rolling_k: 2.0,
            min_samples: 10,
            min_increase_ms: 50.0,
            resolve_after: 3,
            unit: ValueUnit::Ms,
            direction: Direction::Up,
            model: LatencyModelKind::Likelihood,
            only: None,
        }
    }
}

/// `[detect.errors]`: error rate and consecutive failures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorSettings {
    /// Error rate over the window at which the series fires.
    pub rate_threshold: f64,
    /// Consecutive failed probes at which the series fires.
    pub consecutive_failures: u32,
    /// Outcomes in the window.
    pub window: usize,
    /// Outcomes needed before the error rate is judged.
    pub min_samples: usize,
    /// Consecutive successes after which a firing series is resolved and its window cleared.
    pub recovery_successes: u32,
}

impl Default for ErrorSettings {
    fn default() -> Self {
        Self {
            rate_threshold: 0.05,
            consecutive_failures: 3,
            window: 100,
            min_samples: 10,
            recovery_successes: 5,
        }
    }
}

/// `[detect.price]`: cross-exchange price deviation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceSettings {
    /// Deviation from the median in basis points that warns.
    pub warn_bps: f64,
    /// Deviation that is critical.
    pub critical_bps: f64,
    /// A price older than this is left out of the comparison.
    #[serde(serialize_with = "ser_duration")]
    pub stale_after: Duration,
    /// Normal comparisons in a row that resolve a deviating exchange.
    pub resolve_after: usize,
}

impl Default for PriceSettings {
    fn default() -> Self {
        Self {
            warn_bps: 50.0,
            critical_bps: 200.0,
            stale_after: Duration::from_secs(30),
            resolve_after: 3,
        }
    }
}

/// `[detect.clock]`: clock skew thresholds. Where an exchange's signing window is known,
/// the thresholds are the fractions below of it, and `warn_ms` / `critical_ms` cap them only
/// when set explicitly; see [`crate::detect::clock`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockSettings {
    /// |skew| in ms that warns.
    pub warn_ms: f64,
    /// |skew| in ms that is critical.
    pub critical_ms: f64,
    /// Share of the signing window at which the skew is worth an info alert.
    pub info_fraction: f64,
    /// Share of the signing window that warns.
    pub warn_fraction: f64,
    /// Share of the signing window that is critical.
    pub critical_fraction: f64,
    /// `warn_ms` was set in the configuration (then it caps the derived warning threshold).
    #[serde(skip)]
    pub warn_ms_explicit: bool,
    /// `critical_ms` was set in the configuration (then it caps the derived critical one).
    #[serde(skip)]
    pub critical_ms_explicit: bool,
    /// Each exchange's signing window, by exchange name: derived from `[exchanges]` when the
    /// monitor starts ([`crate::detect::clock::windows_of`]), not a key of its own.
    #[serde(skip)]
    pub windows: Vec<(String, crate::detect::clock::SigningWindow)>,
}

impl Default for ClockSettings {
    fn default() -> Self {
        Self {
            warn_ms: 500.0,
            critical_ms: 2000.0,
            info_fraction: 0.2,
            warn_fraction: 0.5,
            critical_fraction: 0.8,
            warn_ms_explicit: false,
            critical_ms_explicit: false,
            windows: Vec::new(),
        }
    }
}

/// `[rules.<name>]`: an operator rule, "`metric` `op` `threshold` for `for`". Its alerts carry
/// detector `rule:<name>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSettings {
    /// Lowercase `[a-z0-9_-]+`.
    #[serde(skip_serializing)]
    pub name: Name,
    /// What is measured.
    pub metric: RuleMetric,
    /// How it is compared with the threshold.
    pub op: RuleOp,
    /// A fraction in 0..=1 for rates (`"10%"` is accepted in the file), ms for latencies, a
    /// count for `count_2xx`.
    pub threshold: f64,
    /// How long the condition must hold before the rule fires (event time).
    #[serde(rename = "for", serialize_with = "ser_duration")]
    pub hold: Duration,
    /// The trailing window the metric is computed over: `1m` by default, at most `for`.
    #[serde(serialize_with = "ser_duration")]
    pub window: Duration,
    /// Which series the rule applies to; absent keys match all.
    pub scope: RuleScope,
    /// The severity of its alerts.
    pub severity: Severity,
}

impl RuleSettings {
    /// The default metric window.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

    /// The rule's condition, for [`RuleState`](crate::detect::rules::RuleState).
    pub fn condition(&self) -> Condition {
        Condition {
            metric: self.metric,
            op: self.op,
            threshold: self.threshold,
            hold: self.hold,
            window: self.window,
        }
    }
}

/// `[rules.<name>.scope]`: the series a rule applies to. `None` matches every value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleScope {
    /// Only this exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Name>,
    /// Only endpoints of this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Name>,
    /// Only when the monitor's `[monitor] region` is this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Name>,
}

impl RuleScope {
    /// True when a series of `exchange`/`endpoint` is in scope (the region is checked once, at
    /// start).
    pub fn matches(&self, exchange: &str, endpoint: &str) -> bool {
        self.exchange.as_deref().is_none_or(|e| e == exchange)
            && self.endpoint.as_deref().is_none_or(|e| e == endpoint)
    }
}

impl Named for RuleSettings {
    fn name(&self) -> &str {
        &self.name
    }
}

/// `[detect]` from its table.
pub(crate) fn validate(mut t: Table<'_>) -> DetectSettings {
    let out = DetectSettings {
        latency: latency(t.table("latency")),
        errors: errors(t.table("errors")),
        price: price(t.table("price")),
        clock: clock(t.table("clock")),
        baseline: baseline(t.table("baseline")),
        likelihood: likelihood(t.table("likelihood")),
    };
    t.finish();
    out
}

fn latency(mut t: Table<'_>) -> LatencySettings {
    let d = LatencySettings::default();
    let out = LatencySettings {
        window: usize_between(&mut t, "window", 2, MAX_WINDOW, d.window),
        z_threshold: positive_f64(&mut t, "z_threshold", d.z_threshold),
        iqr_multiplier: positive_f64(&mut t, "iqr_multiplier", d.iqr_multiplier),
        rolling_window: usize_at_least(&mut t, "rolling_window", 2, d.rolling_window),
        rolling_k: positive_f64(&mut t, "rolling_k", d.rolling_k),
        min_samples: usize_at_least(&mut t, "min_samples", 1, d.min_samples),
        min_increase_ms: non_negative_f64(&mut t, "min_increase_ms", d.min_increase_ms),
        resolve_after: usize_at_least(&mut t, "resolve_after", 1, d.resolve_after),
        unit: d.unit,
        direction: d.direction,
        model: d.model,
        only: None,
    };
    let mut out = out;
    if let Some(name) = t.str("detector")
        && out.select(&name).is_none()
    {
        t.problem(
            "detector",
            format!(
                "{name:?} is not a latency detector; expected one of {}",
                LatencySettings::DETECTORS.join(", ")
            ),
        );
    }
    if out.rolling_window >= out.window {
        t.problem(
            "rolling_window",
            format!(
                "{} must be smaller than detect.latency.window ({})",
                out.rolling_window, out.window
            ),
        );
    }
    if out.min_samples > out.window {
        t.problem(
            "min_samples",
            format!(
                "{} must not exceed detect.latency.window ({})",
                out.min_samples, out.window
            ),
        );
    }
    t.finish();
    out
}

fn errors(mut t: Table<'_>) -> ErrorSettings {
    let d = ErrorSettings::default();
    let rate_threshold = match t.f64("rate_threshold") {
        Some(r) if r > 0.0 && r <= 1.0 => r,
        Some(r) => {
            t.problem(
                "rate_threshold",
                format!("{r} is out of range; expected a fraction in (0, 1], e.g. 0.05 for 5%"),
            );
            d.rate_threshold
        }
        None => d.rate_threshold,
    };
    let out = ErrorSettings {
        rate_threshold,
        consecutive_failures: u32_at_least(
            &mut t,
            "consecutive_failures",
            1,
            d.consecutive_failures,
        ),
        window: usize_between(&mut t, "window", 2, MAX_WINDOW, d.window),
        min_samples: usize_at_least(&mut t, "min_samples", 1, d.min_samples),
        recovery_successes: u32_at_least(&mut t, "recovery_successes", 1, d.recovery_successes),
    };
    if out.min_samples > out.window {
        t.problem(
            "min_samples",
            format!(
                "{} must not exceed detect.errors.window ({})",
                out.min_samples, out.window
            ),
        );
    }
    t.finish();
    out
}

fn price(mut t: Table<'_>) -> PriceSettings {
    let d = PriceSettings::default();
    let out = PriceSettings {
        warn_bps: positive_f64(&mut t, "warn_bps", d.warn_bps),
        critical_bps: positive_f64(&mut t, "critical_bps", d.critical_bps),
        stale_after: positive_duration(&mut t, "stale_after", d.stale_after),
        resolve_after: usize_at_least(&mut t, "resolve_after", 1, d.resolve_after),
    };
    if out.warn_bps >= out.critical_bps {
        t.problem(
            "warn_bps",
            format!(
                "{} must be smaller than detect.price.critical_bps ({})",
                out.warn_bps, out.critical_bps
            ),
        );
    }
    t.finish();
    out
}

fn clock(mut t: Table<'_>) -> ClockSettings {
    let d = ClockSettings::default();
    let warn_ms_explicit = t.has("warn_ms");
    let critical_ms_explicit = t.has("critical_ms");
    let fraction = |t: &mut Table<'_>, key: &str, default: f64| {
        let v = positive_f64(t, key, default);
        if v > 1.0 {
            t.problem(
                key,
                format!("{v} must be at most 1 (a share of the exchange's signing window)"),
            );
            return default;
        }
        v
    };
    let out = ClockSettings {
        warn_ms: positive_f64(&mut t, "warn_ms", d.warn_ms),
        critical_ms: positive_f64(&mut t, "critical_ms", d.critical_ms),
        info_fraction: fraction(&mut t, "info_fraction", d.info_fraction),
        warn_fraction: fraction(&mut t, "warn_fraction", d.warn_fraction),
        critical_fraction: fraction(&mut t, "critical_fraction", d.critical_fraction),
        warn_ms_explicit,
        critical_ms_explicit,
        windows: Vec::new(),
    };
    if out.info_fraction >= out.warn_fraction || out.warn_fraction >= out.critical_fraction {
        t.problem(
            "warn_fraction",
            format!(
                "fractions must rise: info_fraction {} < warn_fraction {} < critical_fraction {}",
                out.info_fraction, out.warn_fraction, out.critical_fraction
            ),
        );
    }
    if out.warn_ms >= out.critical_ms {
        t.problem(
            "warn_ms",
            format!(
                "{} must be smaller than detect.clock.critical_ms ({})",
                out.warn_ms, out.critical_ms
            ),
        );
    }
    t.finish();
    out
}

/// The most buckets a baseline's history may hold (a ring allocated once per series).
const MAX_BASELINE_BUCKETS: u128 = 10_080;

/// `levels`: three increasing confidences in (0, 1) for info, warning and critical, or
/// `default`.
fn levels(t: &mut Table<'_>, default: [f64; 3]) -> [f64; 3] {
    let Some(list) = t.f64_list("levels") else {
        return default;
    };
    let valid = list.len() == 3
        && list.iter().all(|l| *l > 0.0 && *l < 1.0)
        && list[0] < list[1]
        && list[1] < list[2];
    if valid {
        [list[0], list[1], list[2]]
    } else {
        t.problem(
            "levels",
            format!(
                "{list:?} is not valid; expected three increasing confidences in (0, 1) for \
                 info, warning and critical, e.g. [0.95, 0.99, 0.999]"
            ),
        );
        default
    }
}

fn likelihood(mut t: Table<'_>) -> LikelihoodSettings {
    let d = LikelihoodSettings::default();
    let out = LikelihoodSettings {
        window: usize_between(&mut t, "window", 8, MAX_WINDOW, d.window),
        history: usize_between(&mut t, "history", 10, 10_000_000, d.history),
        min_samples: usize_at_least(&mut t, "min_samples", 2, d.min_samples),
        resolve_after: usize_at_least(&mut t, "resolve_after", 1, d.resolve_after),
        levels: levels(&mut t, d.levels),
    };
    if out.min_samples > out.window {
        t.problem(
            "min_samples",
            format!(
                "{} must not exceed detect.likelihood.window ({})",
                out.min_samples, out.window
            ),
        );
    }
    t.finish();
    out
}

fn baseline(mut t: Table<'_>) -> BaselineSettings {
    let d = BaselineSettings::default();
    let bucket = duration_at_least(&mut t, "bucket", Duration::from_secs(1), d.bucket);
    let history = positive_duration(&mut t, "history", d.history);
    let min_history = positive_duration(&mut t, "min_history", d.min_history);
    let levels = levels(&mut t, d.levels);
    let buckets = history.as_millis() / bucket.as_millis().max(1);
    if history <= bucket {
        t.problem(
            "history",
            format!(
                "{} must be longer than detect.baseline.bucket ({})",
                humantime::format_duration(history),
                humantime::format_duration(bucket)
            ),
        );
    } else if buckets > MAX_BASELINE_BUCKETS {
        t.problem(
            "history",
            format!(
                "{} holds {buckets} buckets of {}; the most is {MAX_BASELINE_BUCKETS}",
                humantime::format_duration(history),
                humantime::format_duration(bucket)
            ),
        );
    }
    if min_history > history {
        t.problem(
            "min_history",
            format!(
                "{} must not exceed detect.baseline.history ({})",
                humantime::format_duration(min_history),
                humantime::format_duration(history)
            ),
        );
    }
    t.finish();
    BaselineSettings {
        history,
        min_history,
        bucket,
        levels,
    }
}

/// `[rules]` from its table.
pub(crate) fn rules(mut t: Table<'_>) -> Vec<RuleSettings> {
    let mut out = Vec::new();
    for (name, r) in t.entries() {
        let name_ok = check_name(&t, &name);
        if let Some(r) = rule(r, &name)
            && name_ok
        {
            out.push(r);
        }
    }
    t.finish();
    out
}

fn rule(mut t: Table<'_>, name: &str) -> Option<RuleSettings> {
    let metrics = || {
        RuleMetric::ALL
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let metric = t
        .req_str("metric", &format!("a metric ({})", metrics()))
        .and_then(|m| {
            RuleMetric::parse(m.trim()).or_else(|| {
                t.problem(
                    "metric",
                    format!("unknown metric {m:?}; expected one of {}", metrics()),
                );
                None
            })
        });
    let op = t
        .req_str("op", "an operator: >, >=, < or <=")
        .and_then(|o| {
            RuleOp::parse(o.trim()).or_else(|| {
                t.problem(
                    "op",
                    format!("unknown operator {o:?}; expected >, >=, < or <="),
                );
                None
            })
        });
    let threshold = metric.and_then(|m| rule_threshold(&mut t, m));
    if metric.is_none() {
        t.mark("threshold");
    }
    let hold = if t.has("for") {
        t.duration("for").filter(|d| {
            let ok = !d.is_zero();
            if !ok {
                t.problem("for", "must be greater than zero");
            }
            ok
        })
    } else {
        t.mark("for");
        t.missing("for", "a duration such as \"10m\"");
        None
    };
    let window = positive_duration(&mut t, "window", RuleSettings::DEFAULT_WINDOW);
    let window = match hold {
        Some(h) if t.has("window") && window > h => {
            t.problem(
                "window",
                format!(
                    "{} must not exceed for ({})",
                    humantime::format_duration(window),
                    humantime::format_duration(h)
                ),
            );
            h
        }
        Some(h) => window.min(h),
        None => window,
    };
    let mut sc = t.table("scope");
    let mut scope_name = |key: &str| {
        sc.str(key).and_then(|v| {
            let v = v.trim().to_owned();
            if v.is_empty() {
                sc.problem(key, "must not be empty");
                None
            } else {
                Some(Name::from(v))
            }
        })
    };
    let scope = RuleScope {
        exchange: scope_name("exchange"),
        endpoint: scope_name("endpoint"),
        region: scope_name("region"),
    };
    sc.finish();
    let severity = severity(&mut t, "severity", Severity::Warning);
    t.finish();
    Some(RuleSettings {
        name: Name::from(name),
        metric: metric?,
        op: op?,
        threshold: threshold?,
        hold: hold?,
        window,
        scope,
        severity,
    })
}

/// A rule's threshold: a number of the metric's kind; rates also as a percentage (`"10%"`).
fn rule_threshold(t: &mut Table<'_>, metric: RuleMetric) -> Option<f64> {
    use config::ValueKind;
    let expected = if metric.is_rate() {
        format!("a fraction in 0..=1 or a percentage such as \"10%\" for {metric}")
    } else if metric.is_latency() {
        format!("a number of milliseconds for {metric}")
    } else {
        format!("a number of probes for {metric}")
    };
    if !t.has("threshold") {
        t.mark("threshold");
        t.missing("threshold", &expected);
        return None;
    }
    let v = t.get("threshold")?;
    let n = match &v.kind {
        ValueKind::Float(f) => Some(*f),
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
            Some(v.to_string().parse::<f64>().unwrap_or(f64::NAN))
        }
        // Numeric strings, as every number key accepts (environment overrides are strings).
        ValueKind::String(s) => match s.trim().strip_suffix('%') {
            Some(p) if metric.is_rate() => p.trim().parse::<f64>().ok().map(|p| p / 100.0),
            Some(_) => None,
            None => s.trim().parse::<f64>().ok(),
        },
        _ => None,
    };
    let Some(n) = n.filter(|n| n.is_finite()) else {
        t.problem(
            "threshold",
            format!(
                "expected {expected}, found {}",
                crate::config::raw::describe(v)
            ),
        );
        return None;
    };
    if metric.is_rate() && !(0.0..=1.0).contains(&n) {
        t.problem(
            "threshold",
            format!("{n} is out of range; expected {expected} (0.1 means 10%)"),
        );
        return None;
    }
    if n < 0.0 {
        t.problem("threshold", format!("{n} must not be negative"));
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod rule_tests {
    use super::*;

    #[test]
    fn rule_scope_matches_absent_keys_as_all() {
        let all = RuleScope::default();
        assert!(all.matches("okx", "ping"));
        let okx = RuleScope {
            exchange: Some("okx".into()),
            ..RuleScope::default()
        };
        assert!(okx.matches("okx", "time") && !okx.matches("binance", "time"));
        let ep = RuleScope {
            endpoint: Some("ping".into()),
            ..okx
        };
        assert!(ep.matches("okx", "ping") && !ep.matches("okx", "time"));
    }
}
