//! The validated, typed settings that actors receive. Library users may build these directly
//! (every part has a `Default`) without the `config` crate or any file.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Serialize, Serializer};

pub use crate::store::StoreSettings;

use super::Secret;
use crate::channel::registry::ChannelSettings;
use crate::detect::rules::{Condition, RuleMetric, RuleOp};
use crate::messages::{Name, Severity};
pub use crate::route::config::RouterSettings;

/// Serializes a duration the way the file writes it (`"10s"`, `"5m"`).
/// Serializes a list of named settings as a table keyed by name, the way the file writes it.
fn ser_named<T: Serialize + Named, S: Serializer>(items: &[T], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(items.len()))?;
    for item in items {
        map.serialize_entry(item.name(), item)?;
    }
    map.end()
}

/// Settings that appear in the file as a table keyed by their name.
trait Named {
    fn name(&self) -> &str;
}

macro_rules! named {
    ($($t:ty),*) => {$(
        impl Named for $t {
            fn name(&self) -> &str {
                &self.name
            }
        }
    )*};
}

named!(
    ExchangeSettings,
    EndpointSettings,
    ChannelSettings,
    RuleSettings
);

pub(crate) fn ser_duration<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

/// Serializes an optional duration as a humantime string (skip `None` with
/// `skip_serializing_if`).
pub(crate) fn ser_opt_duration<S: Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_duration(d, s),
        None => s.serialize_none(),
    }
}

/// Everything exwatch needs to run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Settings {
    /// `[monitor]`
    pub monitor: MonitorSettings,
    /// `[http]`
    pub http: HttpSettings,
    /// `[store]`
    pub store: StoreSettings,
    /// `[defaults]`
    pub defaults: EndpointDefaults,
    /// `[breaker]`
    pub breaker: BreakerSettings,
    /// `[exchanges.<name>]`, sorted by name.
    #[serde(serialize_with = "ser_named")]
    pub exchanges: Vec<ExchangeSettings>,
    /// `[detect]`
    pub detect: DetectSettings,
    /// `[router]`
    pub router: RouterSettings,
    /// `[channels.<name>]`, sorted by name.
    #[serde(serialize_with = "ser_named")]
    pub channels: Vec<ChannelSettings>,
    /// `[supervision]`
    pub supervision: SupervisionSettings,
    /// `[shutdown]`
    pub shutdown: ShutdownSettings,
    /// `[rules.<name>]`, sorted by name.
    #[serde(serialize_with = "ser_named")]
    pub rules: Vec<RuleSettings>,
}

/// `[monitor]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorSettings {
    /// Label on every measurement and alert.
    pub region: Name,
    /// Threads (arbiters) the ProbeActors are spread over, by endpoint count; default: the
    /// machine's available cores.
    pub probe_threads: usize,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            region: Name::from("local"),
            probe_threads: default_probe_threads(),
        }
    }
}

/// The default of `[monitor] probe_threads`: the available cores (1 when unknown), at most 64.
pub fn default_probe_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(64))
}

/// `[http]`: the HTTP server (health, `/metrics`, the API under `/api/v1`, the dashboard).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpSettings {
    /// Address to bind; loopback by default. Port 0 picks a free port (logged at start).
    pub listen: SocketAddr,
    /// Whether the monitor serves HTTP at all (`true` by default; an embedding engine that
    /// has its own server may turn it off).
    pub enabled: bool,
    /// The environment variable holding the bearer token that write endpoints require; no
    /// token (and a loud warning off loopback) when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// The token itself, read from `token_env`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9898)),
            enabled: true,
            token_env: None,
            token: None,
        }
    }
}

/// `[defaults]`: per-endpoint defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointDefaults {
    /// Time between two probes of one endpoint.
    #[serde(serialize_with = "ser_duration")]
    pub interval: Duration,
    /// Time a probe may take, body included.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// The most bytes read from one answer; a larger answer is a `bad_body`.
    pub max_body_bytes: usize,
    /// Connections one exchange may hold open at once.
    pub max_connections: usize,
    /// Time between the quick re-probes that confirm a failure of a healthy endpoint; `None`:
    /// 1 s or a fifth of the endpoint's interval, whichever is shorter (at least 100 ms).
    #[serde(
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub confirm_interval: Option<Duration>,
    /// The most re-probes one failure of a healthy endpoint triggers; `None`: the breaker's
    /// `failure_threshold`; 0 disables fast confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_probes: Option<u32>,
    /// Re-probes one exchange may send per minute, all endpoints together.
    pub confirm_per_minute: u32,
}

impl Default for EndpointDefaults {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            max_body_bytes: 256 * 1024,
            max_connections: 8,
            confirm_interval: None,
            confirm_probes: None,
            confirm_per_minute: DEFAULT_CONFIRM_PER_MINUTE,
        }
    }
}

/// The default `confirm_per_minute`: room for a dozen confirmations of the default five
/// re-probes a minute.
pub const DEFAULT_CONFIRM_PER_MINUTE: u32 = 60;

/// The default `confirm_interval` of an endpoint probed every `interval`: 1 s, or a fifth of
/// the interval when that is shorter (so the default burst fits in one interval), but at least
/// 100 ms and never more than the interval.
pub fn default_confirm_interval(interval: Duration) -> Duration {
    (interval / 5)
        .clamp(Duration::from_millis(100), Duration::from_secs(1))
        .min(interval)
}

/// `[breaker]`: the per-exchange circuit breaker.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerSettings {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// How long an open breaker rejects probes before it admits trials.
    #[serde(serialize_with = "ser_duration")]
    pub recovery_timeout: Duration,
    /// Trial probes admitted when half-open; that many successes close it.
    pub half_open_max_calls: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            recovery_timeout: Duration::from_secs(30),
            half_open_max_calls: 3,
        }
    }
}

/// How an endpoint's answer is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckProfile {
    /// Any 2xx is healthy.
    Http,
    /// Binance: 2xx with a JSON body; errors as `{"code":-1xxx,"msg":…}` with 4xx/5xx.
    Binance,
    /// Bybit v5: JSON envelope with `retCode == 0`.
    Bybit,
    /// OKX v5: JSON envelope with `code == "0"`.
    Okx,
}

impl CheckProfile {
    /// Parses a profile name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "http" => Self::Http,
            "binance" => Self::Binance,
            "bybit" => Self::Bybit,
            "okx" => Self::Okx,
            _ => return None,
        })
    }
}

/// What an endpoint's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// Only latency and outcome.
    Health,
    /// Server time → clock skew.
    Time,
    /// Last price of a symbol.
    Ticker,
    /// Announced maintenance.
    Status,
}

impl EndpointKind {
    /// Parses a kind name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "health" => Self::Health,
            "time" => Self::Time,
            "ticker" => Self::Ticker,
            "status" => Self::Status,
            _ => return None,
        })
    }
}

/// `[exchanges.<name>]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExchangeSettings {
    /// Lowercase `[a-z0-9_-]+`.
    #[serde(skip_serializing)]
    pub name: Name,
    /// Connections this exchange may hold open at once.
    pub max_connections: usize,
    /// Fast-confirmation re-probes this exchange may send per minute.
    pub confirm_per_minute: u32,
    /// Endpoints, sorted by name.
    #[serde(serialize_with = "ser_named")]
    pub endpoints: Vec<EndpointSettings>,
    /// `recv_window`: how far behind the exchange's clock the local clock may be before signed
    /// requests are rejected; `None` takes the venue's default (see
    /// [`crate::detect::clock::SigningWindow`]).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub recv_window: Option<Duration>,
    /// `ahead_window`: how far ahead of the exchange's clock the local clock may be; `None`
    /// takes the venue's default (or `recv_window` for an exchange of no known venue).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_opt_duration"
    )]
    pub ahead_window: Option<Duration>,
}

/// `[exchanges.<exchange>.endpoints.<name>]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointSettings {
    /// Lowercase `[a-z0-9_-]+`.
    #[serde(skip_serializing)]
    pub name: Name,
    /// Absolute http(s) URL.
    pub url: String,
    /// Answer profile.
    pub check: CheckProfile,
    /// What the answer means.
    pub kind: EndpointKind,
    /// Venue-neutral symbol for tickers (`BTC/USDT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Time between probes.
    #[serde(serialize_with = "ser_duration")]
    pub interval: Duration,
    /// Time a probe may take.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// The most bytes read from one answer.
    pub max_body_bytes: usize,
    /// Time between fast-confirmation re-probes (never more than `interval`).
    #[serde(serialize_with = "ser_duration")]
    pub confirm_interval: Duration,
    /// The most re-probes one failure triggers; `None`: the breaker's `failure_threshold`;
    /// 0 disables fast confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_probes: Option<u32>,
}

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

/// `[supervision]`: restart intensity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SupervisionSettings {
    /// Restarts of one actor within `within` that count as a crash loop.
    pub max_restarts: u32,
    /// The window of the restart budget.
    #[serde(serialize_with = "ser_duration")]
    pub within: Duration,
}

impl Default for SupervisionSettings {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            within: Duration::from_secs(60),
        }
    }
}

/// `[shutdown]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShutdownSettings {
    /// How long queued alerts may take to be delivered at shutdown.
    #[serde(serialize_with = "ser_duration")]
    pub grace: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
        }
    }
}

/// Retry policy of a channel's deliveries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetrySettings {
    /// Attempts per alert, the first included; `0` (the default) retries until delivered:
    /// an alert a channel could not deliver stays pending and is retried.
    pub max_attempts: u32,
    /// Back-off ceiling before the first retry; doubles each retry (full jitter).
    #[serde(serialize_with = "ser_duration")]
    pub initial_backoff: Duration,
    /// Largest back-off between two attempts.
    #[serde(serialize_with = "ser_duration")]
    pub max_backoff: Duration,
    /// Time one attempt may take.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 0,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
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
