//! The validated, typed settings of the parts no single component owns (the monitor, the
//! HTTP listener, endpoints and exchanges as configured, supervision, shutdown, retries), and
//! the serializers every component's settings share. Library users may build these directly
//! (every part has a `Default`) without the `config` crate or any file.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Serialize, Serializer};

use super::Secret;
use crate::messages::Name;

/// Serializes a duration the way the file writes it (`"10s"`, `"5m"`).
/// Serializes a list of named settings as a table keyed by name, the way the file writes it.
pub(crate) fn ser_named<T: Serialize + Named, S: Serializer>(
    items: &[T],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(items.len()))?;
    for item in items {
        map.serialize_entry(item.name(), item)?;
    }
    map.end()
}

/// Settings that appear in the file as a table keyed by their name.
pub(crate) trait Named {
    /// The name, the table's key.
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

named!(ExchangeSettings, EndpointSettings);

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

/// `[monitor]`
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorSettings {
    /// Label on every measurement and alert.
    pub region: Name,
    /// Threads (arbiters) the ProbeActors are spread over, by endpoint count; default: the
    /// machine's available cores.
    pub probe_threads: usize,
    /// URLs of the desk's own choosing (a CDN, its own gateway) probed like endpoints, with
    /// the default interval and timeout, as exwatch's own exchange `exwatch-canary`: when
    /// they fail with the exchanges, it is our own network (see `[router] correlation_hold`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub canaries: Vec<String>,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        Self {
            region: Name::from("local"),
            probe_threads: default_probe_threads(),
            canaries: Vec::new(),
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
