//! The messages that flow through the topology, and the small value types they carry.
//!
//! Everything here is cheap to clone: names are `Arc<str>` (a clone is a reference-count bump,
//! never a fresh `String`), numbers are plain `f64`, and every message is timestamped at its
//! source with [`Timestamp`] so that downstream actors work on event time, never the wall clock.
//!
//! | message | from → to |
//! |---|---|
//! | [`Measurement`] | probe or engine → detector |
//! | [`Anomaly`] | detector → router (and any subscriber) |
//! | [`Resolved`] | detector → router |
//! | [`Alert`] | router → channels |
//! | [`Triage`] | LLM triage → router |
//! | [`MaintenanceStatus`] | probe → router |

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix::Message;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A shared, immutable name (exchange, endpoint, channel, detector).
pub type Name = Arc<str>;

/// Milliseconds since the Unix epoch: the event time every message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current wall-clock time. Only sources (probes, the embedding engine) call this.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Converts a [`SystemTime`]; times before the epoch become negative.
    pub fn from_system_time(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Self(d.as_millis() as i64),
            Err(e) => Self(-(e.duration().as_millis() as i64)),
        }
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// This time plus `d`.
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_millis() as i64))
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// RFC 3339 in UTC with second precision, as in the webhook payload (`2026-11-21T10:00:03Z`).
    /// Total: a time outside 1970..=9999 (only a buggy or hostile source sends one) is clamped
    /// into that range rather than failing.
    pub fn to_rfc3339(self) -> String {
        /// 9999-12-31T23:59:59Z.
        const MAX_MS: i64 = 253_402_300_799_000;
        let ms = self.0.clamp(0, MAX_MS) as u64;
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl Timestamp {
    /// Parses an RFC 3339 time (`2026-11-21T10:00:03Z`, fractions of a second allowed), the
    /// inverse of [`Timestamp::to_rfc3339`].
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        humantime::parse_rfc3339_weak(s)
            .ok()
            .map(Self::from_system_time)
    }
}

/// From the RFC 3339 string of the webhook payload. The payload has second precision, so a
/// round trip through JSON drops the milliseconds (the event store keeps them in columns).
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}")))
    }
}

/// What a series measures. The names (see [`Metric::as_str`]) are a public contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Round-trip time of a successful probe, in milliseconds.
    LatencyMs,
    /// Probe outcomes: error rate, consecutive failures, status-class upticks.
    Errors,
    /// The exchange's circuit breaker (value: 0 closed, 1 half-open, 2 open); endpoint `*`.
    Availability,
    /// Last traded price from a ticker endpoint.
    Price,
    /// Deviation of one exchange's price from the others' median, in basis points.
    PriceDeviationBps,
    /// Exchange server time minus local time (corrected by half the round trip), in ms.
    ClockSkewMs,
    /// Restarts of one of exwatch's own actors (exchange `exwatch`).
    ActorRestarts,
    /// A stream's lag: receive time minus the exchange's event time (less its clock skew), ms;
    /// the largest of each second's messages.
    StreamLagMs,
    /// Time since a stream's last data message, ms; outcome `timeout` when its source judged
    /// it stale (detector `stream_stale`).
    StreamSilenceMs,
    /// Data messages in a row that did not advance (same event time and update id); outcome
    /// `bad_body` when frozen (detector `stream_frozen`).
    StreamFrozen,
    /// Updates missing from a stream's sequence since the last sample; outcome `bad_body` when
    /// the sequence broke (detector `stream_gap`).
    StreamGap,
    /// Unplanned reconnects of a stream in the last hour; outcome `connect` when beyond its
    /// budget (detector `stream_churn`).
    StreamReconnects,
}

impl Metric {
    /// Whether it is one of a market-data stream's metrics (`stream_*`).
    pub fn is_stream(self) -> bool {
        matches!(
            self,
            Metric::StreamLagMs
                | Metric::StreamSilenceMs
                | Metric::StreamFrozen
                | Metric::StreamGap
                | Metric::StreamReconnects
        )
    }

    /// The metric's name as it appears in series, alerts and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::LatencyMs => "latency_ms",
            Metric::Errors => "errors",
            Metric::Availability => "availability",
            Metric::Price => "price",
            Metric::PriceDeviationBps => "price_deviation_bps",
            Metric::ClockSkewMs => "clock_skew_ms",
            Metric::ActorRestarts => "actor_restarts",
            Metric::StreamLagMs => "stream_lag_ms",
            Metric::StreamSilenceMs => "stream_silence_ms",
            Metric::StreamFrozen => "stream_frozen",
            Metric::StreamGap => "stream_gap",
            Metric::StreamReconnects => "stream_reconnects",
        }
    }

    /// Parses a metric name.
    pub fn parse(s: &str) -> Option<Metric> {
        Some(match s {
            "latency_ms" => Metric::LatencyMs,
            "errors" => Metric::Errors,
            "availability" => Metric::Availability,
            "price" => Metric::Price,
            "price_deviation_bps" => Metric::PriceDeviationBps,
            "clock_skew_ms" => Metric::ClockSkewMs,
            "actor_restarts" => Metric::ActorRestarts,
            "stream_lag_ms" => Metric::StreamLagMs,
            "stream_silence_ms" => Metric::StreamSilenceMs,
            "stream_frozen" => Metric::StreamFrozen,
            "stream_gap" => Metric::StreamGap,
            "stream_reconnects" => Metric::StreamReconnects,
            _ => return None,
        })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Metric {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// From its name (see [`Metric::as_str`]).
impl<'de> Deserialize<'de> for Metric {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Metric::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown metric {s:?}")))
    }
}

/// One time series: (exchange, endpoint, metric). The unit of detection and of deduplication.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Exchange name (`binance`), or `exwatch` for exwatch's own health.
    pub exchange: Name,
    /// Endpoint name (`ping`), or `*` for exchange-wide series such as availability.
    pub endpoint: Name,
    /// What is measured.
    pub metric: Metric,
}

impl SeriesKey {
    /// Builds a key from anything that converts into names.
    pub fn new(exchange: impl Into<Name>, endpoint: impl Into<Name>, metric: Metric) -> Self {
        Self {
            exchange: exchange.into(),
            endpoint: endpoint.into(),
            metric,
        }
    }
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.exchange, self.endpoint, self.metric)
    }
}

/// How one probe ended. The names (see [`Outcome::as_str`]) are the `outcome` label of
/// `exwatch_probes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A 2xx answer that passed the endpoint's answer profile.
    Ok,
    /// A 4xx answer other than a rate limit.
    Http4xx,
    /// A 5xx answer.
    Http5xx,
    /// No complete answer within the endpoint's timeout.
    Timeout,
    /// The connection could not be made or was reset.
    Connect,
    /// An answer that failed the profile: not JSON, wrong envelope, an error code, too large.
    BadBody,
    /// The exchange said "too many requests" (429, 418, Bybit 403/10006, OKX 50011).
    RateLimited,
    /// The circuit breaker was open and the probe was not sent.
    BreakerOpen,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 8] = [
        Outcome::Ok,
        Outcome::Http4xx,
        Outcome::Http5xx,
        Outcome::Timeout,
        Outcome::Connect,
        Outcome::BadBody,
        Outcome::RateLimited,
        Outcome::BreakerOpen,
    ];

    /// The outcome's label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Http4xx => "http_4xx",
            Outcome::Http5xx => "http_5xx",
            Outcome::Timeout => "timeout",
            Outcome::Connect => "connect",
            Outcome::BadBody => "bad_body",
            Outcome::RateLimited => "rate_limited",
            Outcome::BreakerOpen => "breaker_open",
        }
    }

    /// Position in [`Outcome::ALL`], for per-outcome counters kept in arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// True for [`Outcome::Ok`].
    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad an anomaly is: `info < warning < critical`. Confidence-based models call these
/// slight, moderate and severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Slight: worth a look.
    Info,
    /// Moderate: degrading.
    Warning,
    /// Severe: act now.
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// Parses `info`, `warning` or `critical`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of an exchange's circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Probes flow.
    Closed,
    /// A few trial probes are admitted.
    HalfOpen,
    /// Probes are rejected until the recovery timeout.
    Open,
}

impl CircuitState {
    /// The gauge value of `exwatch_breaker_state`: 0 closed, 1 half-open, 2 open.
    pub fn as_value(self) -> f64 {
        match self {
            CircuitState::Closed => 0.0,
            CircuitState::HalfOpen => 1.0,
            CircuitState::Open => 2.0,
        }
    }

    /// The inverse of [`CircuitState::as_value`]; anything else is `None`.
    pub fn from_value(v: f64) -> Option<Self> {
        match v as i64 {
            0 => Some(CircuitState::Closed),
            1 => Some(CircuitState::HalfOpen),
            2 => Some(CircuitState::Open),
            _ => None,
        }
    }

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::HalfOpen => "half_open",
            CircuitState::Open => "open",
        }
    }
}

/// One observation of one series, timestamped at its source.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Measurement {
    /// The series observed.
    pub series: SeriesKey,
    /// The value (latency in ms, 0/1 for outcomes, breaker state, price, skew in ms …).
    pub value: f64,
    /// How the probe that produced it ended.
    pub outcome: Outcome,
    /// The HTTP status, 0 when there was none.
    pub status: u16,
    /// When it was observed (event time).
    pub at: Timestamp,
}

impl Measurement {
    /// A successful observation of `value`.
    pub fn ok(series: SeriesKey, value: f64, at: Timestamp) -> Self {
        Self {
            series,
            value,
            outcome: Outcome::Ok,
            status: 200,
            at,
        }
    }
}

/// A snapshot of a series' recent statistics, attached to anomalies and alerts. Every key is
/// always in the payload, `null` when unknown for this series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Median latency of the window, ms.
    pub p50_ms: Option<f64>,
    /// 90th percentile latency of the window, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile latency of the window, ms.
    pub p99_ms: Option<f64>,
    /// Share of failed probes in the error window.
    pub error_rate: Option<f64>,
    /// The exchange's breaker.
    pub circuit: Option<CircuitState>,
}

impl Stats {
    /// Fills the fields `self` lacks from `other`.
    pub fn merge_missing(&mut self, other: &Stats) {
        self.p50_ms = self.p50_ms.or(other.p50_ms);
        self.p90_ms = self.p90_ms.or(other.p90_ms);
        self.p99_ms = self.p99_ms.or(other.p99_ms);
        self.error_rate = self.error_rate.or(other.error_rate);
        self.circuit = self.circuit.or(other.circuit);
    }
}

/// A detector's judgement that a series is anomalous now. Detectors send one for every
/// anomalous sample while the condition lasts; the Router deduplicates.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Anomaly {
    /// The series.
    pub series: SeriesKey,
    /// What fired: `zscore`, `iqr`, `rolling_mean`, `error_rate`, `consecutive_failures`,
    /// `circuit_open`, `clock_skew`, `restart_budget`, `rule:<name>` …
    pub detector: Name,
    /// How bad.
    pub severity: Severity,
    /// The observed value.
    pub value: f64,
    /// The expected value or the threshold that was crossed.
    pub threshold: f64,
    /// The model's confidence that this is anomalous, 0..=1.
    pub confidence: f64,
    /// A one-line human explanation.
    pub message: String,
    /// When the condition began (event time).
    pub started_at: Timestamp,
    /// The sample that produced this judgement (event time).
    pub at: Timestamp,
    /// The series' statistics at that moment.
    pub stats: Stats,
}

/// A detector's judgement that a previously anomalous series is healthy again.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Resolved {
    /// The series.
    pub series: SeriesKey,
    /// The sample that showed recovery (event time).
    pub at: Timestamp,
    /// The series' statistics at that moment.
    pub stats: Stats,
}

/// What an [`Alert`] announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A series went bad, got worse, or is still bad after the dedup window.
    Firing,
    /// A series that fired is healthy again.
    Resolved,
    /// A root-cause hypothesis for an earlier alert (from LLM triage).
    Triage,
    /// Someone acknowledged the series' open incident in exwatch. Sent only to the channels
    /// that track incidents themselves (PagerDuty): never to the others.
    Acknowledged,
}

impl AlertKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Firing => "firing",
            AlertKind::Resolved => "resolved",
            AlertKind::Triage => "triage",
            AlertKind::Acknowledged => "acknowledged",
        }
    }
}

/// An alert for the channels. Serializes to the webhook payload of the design (a public
/// contract: fields may be added, never renamed).
#[derive(Debug, Clone, Message, Serialize, Deserialize)]
#[rtype(result = "()")]
pub struct Alert {
    /// Unique id (a ULID), stable across retries of the same alert.
    pub id: Name,
    /// Firing, resolved or triage.
    pub kind: AlertKind,
    /// The severity (for `resolved`, the highest severity the episode reached).
    pub severity: Severity,
    /// Exchange of the series.
    pub exchange: Name,
    /// Endpoint of the series.
    pub endpoint: Name,
    /// Metric of the series.
    pub metric: Metric,
    /// What fired.
    pub detector: Name,
    /// A short headline (`binance ping latency spike`).
    pub title: String,
    /// The explanation.
    pub message: String,
    /// The observed value.
    #[serde(deserialize_with = "f64_or_nan")]
    pub value: f64,
    /// The expected value or threshold.
    #[serde(deserialize_with = "f64_or_nan")]
    pub threshold: f64,
    /// The monitor's region label.
    pub region: Name,
    /// When the episode began.
    pub started_at: Timestamp,
    /// When this alert's judgement was made.
    pub at: Timestamp,
    /// Statistics at that moment.
    #[serde(default)]
    pub stats: Stats,
    /// For `triage` alerts: the id of the alert it follows up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<Name>,
    /// For a group message (`[router] group_by`): the incident's group, its members with
    /// their own fields; the fields above are then the group's leading member's. Absent on
    /// per-series alerts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<AlertGroup>,
}

/// The group of a group message: every series of one incident (see
/// [`crate::route::group`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertGroup {
    /// What the members share, e.g. `exchange=okx` (`group_by` fields, in their order).
    pub key: String,
    /// What this message says of the group.
    pub update: GroupUpdate,
    /// The members, most severe first, each its latest alert (`kind` is its state:
    /// firing or resolved).
    pub alerts: Vec<Alert>,
}

/// What a group message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupUpdate {
    /// The group's first alert: sent at once.
    Opened,
    /// What changed in the group since its last message (at most one per `group_interval`).
    Updated,
    /// A member escalated to critical, or the exchange's `down` joined an open group (the
    /// whole venue is down: worse than any one endpoint): sent at once.
    Escalated,
    /// Every member has recovered: the incident is over.
    Resolved,
}

impl GroupUpdate {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupUpdate::Opened => "opened",
            GroupUpdate::Updated => "updated",
            GroupUpdate::Escalated => "escalated",
            GroupUpdate::Resolved => "resolved",
        }
    }
}

/// A number that JSON may carry as `null` (serde_json writes NaN and infinities that way).
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl Alert {
    /// The series this alert is about.
    pub fn series(&self) -> SeriesKey {
        SeriesKey {
            exchange: self.exchange.clone(),
            endpoint: self.endpoint.clone(),
            metric: self.metric,
        }
    }
}

/// What a live reload removed from the configuration: a whole exchange, or one endpoint of an
/// exchange that stays. Its series (rule series `<endpoint>:<rule>` of the endpoint included)
/// are forgotten by the Router, the detectors, the status board and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// The exchange and every series of it.
    Exchange(Name),
    /// One endpoint of an exchange, and its series.
    Endpoint {
        /// The exchange (still configured).
        exchange: Name,
        /// The endpoint removed.
        endpoint: Name,
    },
}

impl Removed {
    /// The exchange the removal concerns.
    pub fn exchange(&self) -> &Name {
        match self {
            Removed::Exchange(x) | Removed::Endpoint { exchange: x, .. } => x,
        }
    }

    /// Whether `series` belongs to what was removed.
    pub fn covers(&self, series: &SeriesKey) -> bool {
        self.covers_endpoint(&series.exchange, &series.endpoint)
    }

    /// Whether the series of `exchange`'s `endpoint` (`*`, a rule's `<endpoint>:<rule>`)
    /// belong to what was removed.
    pub fn covers_endpoint(&self, exchange: &str, endpoint: &str) -> bool {
        match self {
            Removed::Exchange(x) => &**x == exchange,
            Removed::Endpoint {
                exchange: x,
                endpoint: e,
            } => &**x == exchange && endpoint.split(':').next() == Some(&**e),
        }
    }

    /// Whether any of `removed` covers `series`.
    pub fn any_covers(removed: &[Removed], series: &SeriesKey) -> bool {
        removed.iter().any(|r| r.covers(series))
    }
}

/// A root-cause hypothesis for an alert, sent back to the Router as a follow-up.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Triage {
    /// The alert it answers.
    pub alert_id: Name,
    /// The hypothesis.
    pub text: String,
}

/// One reading of an exchange's system-status endpoint, for the Router: whether the exchange
/// announces maintenance in progress. Sent by the ProbeActor after every successful status probe;
/// the Router silences the exchange's alerts while it lasts.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct MaintenanceStatus {
    /// The exchange.
    pub exchange: Name,
    /// Maintenance is in progress.
    pub ongoing: bool,
    /// When the exchange says it ends, if it says.
    pub until: Option<Timestamp>,
    /// The exchange's description (`maintenance: <title>`), empty when none.
    pub detail: String,
    /// When the status was read (event time).
    pub at: Timestamp,
}

/// Fault injection: the receiving actor panics inside its handler. For supervision drills and
/// the tests that prove restarts are real; it is never sent by exwatch itself.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Crash;

/// Answers once every message queued before it has been handled: a barrier used to drain the
/// pipeline at shutdown and in tests.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Ping;

/// Creates a fresh, unique, time-ordered id (a ULID).
pub fn new_id() -> Name {
    Name::from(ulid::Ulid::new().to_string())
}

/// One silence an operator set (`/api/v1/silences`): which series it matches and when. A
/// value the API, the Router and the event store share; what it means (matching, activity,
/// validation) lives in [`crate::route::silence`].
#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    /// Its id (a ULID).
    pub id: Name,
    /// Only this exchange; `None`: any.
    pub exchange: Option<Name>,
    /// Only this endpoint; `None`: any.
    pub endpoint: Option<Name>,
    /// Only this metric; `None`: any.
    pub metric: Option<Metric>,
    /// When it begins (inclusive).
    pub starts_at: Timestamp,
    /// When it ends (exclusive).
    pub ends_at: Timestamp,
    /// Why (required).
    pub comment: String,
    /// Who set it, when they said.
    pub created_by: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_formats_as_rfc3339_utc() {
        assert_eq!(
            Timestamp(1_795_000_003_000).to_rfc3339(),
            "2026-11-18T11:06:43Z"
        );
    }

    #[test]
    fn timestamps_out_of_range_are_clamped_not_fatal() {
        assert_eq!(Timestamp(-5_000).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(i64::MAX).to_rfc3339(), "9999-12-31T23:59:59Z");
        assert_eq!(Timestamp(i64::MIN).to_string(), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn timestamp_parses_its_own_format_and_fractions() {
        let t = Timestamp(1_795_000_003_000);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
        assert_eq!(
            Timestamp::parse_rfc3339("2026-11-18T11:06:43.250Z"),
            Some(Timestamp(1_795_000_003_250))
        );
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn alert_round_trips_through_its_payload() {
        let a = Alert {
            id: new_id(),
            kind: AlertKind::Triage,
            severity: Severity::Warning,
            exchange: "okx".into(),
            endpoint: "*".into(),
            metric: Metric::PriceDeviationBps,
            detector: "price_deviation".into(),
            title: "t".into(),
            message: "m".into(),
            value: 1.5,
            threshold: 2.5,
            region: "local".into(),
            started_at: Timestamp(1_795_000_000_000),
            at: Timestamp(1_795_000_003_000),
            stats: Stats {
                p50_ms: Some(1.0),
                circuit: Some(CircuitState::HalfOpen),
                ..Stats::default()
            },
            in_reply_to: Some("01X".into()),
            group: None,
        };
        let json = serde_json::to_string(&a).expect("serialize");
        let b: Alert = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(serde_json::to_string(&b).expect("serialize"), json);
        assert_eq!((b.metric, b.kind, b.at), (a.metric, a.kind, a.at));
        assert!(serde_json::from_str::<Metric>("\"nope\"").is_err());
    }

    #[test]
    fn severities_are_ordered() {
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }
}
