//! The JSON of `GET /api/v1/status` (a contract the dashboard and `exwatch status` read: fields
//! may be added, never renamed). Every time is epoch milliseconds. Serializes and deserializes,
//! so the CLI reads what the server writes with the same types.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The whole answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatusReport {
    /// When the answer was made (wall clock).
    pub generated_at: i64,
    /// The end of every window (event time: the newest measurement the monitor has seen);
    /// null before the first.
    #[serde(default)]
    pub as_of: Option<i64>,
    /// The monitor's region label.
    pub region: String,
    /// One entry per exchange, by name.
    pub exchanges: Vec<ExchangeStatus>,
    /// One entry per market-data stream (`kind = "stream"`), by exchange and endpoint.
    #[serde(default)]
    pub streams: Vec<StreamStatus>,
    /// With `[cluster]`: every vantage's state and the quorum's verdict per exchange, read
    /// from the shared PostgreSQL; absent without a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}

/// One market-data stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StreamStatus {
    /// The exchange's name.
    pub exchange: String,
    /// The endpoint's name.
    pub endpoint: String,
    /// `connecting`, `ok`, `stale`, `frozen` or `churning`.
    pub state: String,
    /// A connection is open and subscribed.
    pub connected: bool,
    /// Data messages judged since the start.
    pub messages: u64,
    /// Data messages per second over the last second.
    pub message_rate: f64,
    /// Milliseconds since the last data message.
    pub silence_ms: u64,
    /// The largest lag of the last second, ms; null before any event time.
    #[serde(default)]
    pub lag_ms: Option<f64>,
    /// The learned mean interval between data messages, ms; null until learned.
    #[serde(default)]
    pub cadence_ms: Option<f64>,
    /// The silence that counts as a stall (configured or learned), ms.
    pub stale_after_ms: u64,
    /// Reconnects since the start (planned ones included).
    pub reconnects: u64,
    /// Sequence gaps since the start.
    pub gaps: u64,
    /// When this entry was written (wall clock, epoch ms).
    pub at: i64,
    /// Who holds the connection: `exwatch` (a configured `kind = "stream"` endpoint) or
    /// `engine` (an embedding engine's own feed, reported through `observe_stream`; exwatch
    /// sees its messages, not its socket, so `connected` is always true).
    #[serde(default)]
    pub source: String,
}

/// Every vantage's view (`[cluster]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterStatus {
    /// Vantages that must see an exchange down for "down".
    pub quorum: usize,
    /// Whether the shared PostgreSQL answered this request; when not, `vantages` and
    /// `exchanges` are empty and `error` says why.
    pub shared: bool,
    /// Why the shared state could not be read.
    #[serde(default)]
    pub error: Option<String>,
    /// The quorum's verdict per exchange, by name.
    pub exchanges: Vec<ClusterExchange>,
    /// Each vantage, by region (only `?region=`'s when given).
    pub vantages: Vec<VantageStatus>,
}

/// What the vantages together say of one exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClusterExchange {
    /// The exchange.
    pub exchange: String,
    /// `up`, `unreachable` (from fewer vantages than the quorum) or `down`.
    pub state: String,
    /// The fresh, self-healthy vantages that see it down.
    pub down_from: Vec<String>,
}

/// One vantage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VantageStatus {
    /// Its name (`[monitor] region`).
    pub region: String,
    /// Its own connectivity holds (else its verdicts are `unknown` and no vote).
    pub self_healthy: bool,
    /// It reported within `vantage_stale_after` (else it is no vote).
    pub fresh: bool,
    /// How long ago it last reported, ms.
    pub last_seen_ms_ago: i64,
    /// Its verdict per exchange, by name.
    pub exchanges: Vec<VantageVerdict>,
}

/// One vantage's verdict on one exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VantageVerdict {
    /// The exchange.
    pub exchange: String,
    /// `up`, `down` or `unknown`.
    pub state: String,
    /// Since when (event time of the vantage).
    pub since: i64,
}

/// One exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExchangeStatus {
    /// The exchange's name.
    pub exchange: String,
    /// Its circuit breaker: `closed`, `half_open`, `open`, or `unknown` for an exchange exwatch
    /// does not probe itself (one only an embedding engine reports on).
    pub breaker: String,
    /// When the breaker reading was taken (event time), null before any.
    #[serde(default)]
    pub breaker_at: Option<i64>,
    /// The exchange announces maintenance in progress.
    pub maintenance: bool,
    /// Its endpoints, by name.
    pub endpoints: Vec<EndpointStatus>,
    /// Its open incidents, oldest first.
    pub open_anomalies: Vec<OpenAnomaly>,
}

/// One endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EndpointStatus {
    /// The endpoint's name.
    pub endpoint: String,
    /// When the newest measurement was taken (event time).
    pub last_probe_at: Option<i64>,
    /// How it ended (`ok`, `http_5xx`, `timeout` …).
    pub last_outcome: Option<String>,
    /// Its HTTP status, null when there was none.
    pub last_status: Option<u16>,
    /// Its latency, null when it failed.
    pub last_latency_ms: Option<f64>,
    /// The last 5 minutes.
    pub recent: WindowStats,
    /// The last hour.
    pub hour: WindowStats,
    /// One point per minute of the last hour, oldest first (60 points).
    pub chart: Vec<ChartPoint>,
}

/// Statistics over a window. Percentiles are within ≈9 % of a sample of that rank inside one
/// minute; across minutes, within the range of the minutes' own percentiles (see
/// `exwatch::status::board`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WindowStats {
    /// `5m` or `1h`.
    pub window: String,
    /// Observations (probes, or latency samples where only latency is reported).
    pub count: u64,
    /// Failed probes.
    #[serde(default)]
    pub errors: u64,
    /// Median latency, ms; null without a latency sample.
    pub p50_ms: Option<f64>,
    /// 90th percentile latency, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Failed probes over probes; 0 without a probe.
    pub error_rate: f64,
}

/// One minute of the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChartPoint {
    /// The minute's start.
    pub t: i64,
    /// Observations in it.
    pub count: u64,
    /// Failed probes in it.
    pub errors: u64,
    /// Median latency, ms; null without a sample.
    pub p50_ms: Option<f64>,
    /// 90th percentile latency, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile latency, ms.
    #[serde(default)]
    pub p99_ms: Option<f64>,
    /// The slowest sample, ms (exact).
    pub max_ms: Option<f64>,
}

/// An open incident (a series whose alert fired and has not resolved).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OpenAnomaly {
    /// The series' endpoint (`*` for exchange-wide series).
    pub endpoint: String,
    /// The series' metric.
    pub metric: String,
    /// The highest severity sent.
    pub severity: String,
    /// What fired in the last alert sent.
    pub detector: String,
    /// When the episode began.
    pub since: i64,
    /// The latest anomaly of the episode.
    #[serde(default)]
    pub last_at: Option<i64>,
    /// The latest anomaly's value (null when not a number).
    #[serde(default)]
    pub value: Option<f64>,
    /// The alert's title.
    pub title: String,
    /// Acknowledged by someone.
    pub acked: bool,
    /// Matched by a silence.
    pub silenced: bool,
}
