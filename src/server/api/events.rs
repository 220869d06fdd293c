//! `GET /api/v1/events`: the stored alerts (firing, resolved, triage, acknowledged), newest first, each with
//! its delivery state per channel and its LLM triage text; filtered by series, minimum
//! severity, kind, time range and incident (`group`); a group message carries its `group`
//! (key, update, members); paginated by an opaque keyset cursor.
//!
//! It parses and checks the query here (every bad value a 400 naming its field) and asks the
//! [`StoreActor`](crate::store::StoreActor) for the page with [`QueryEvents`]: the SQL runs on
//! the store's thread, never on the HTTP worker. It owns the JSON shapes of the resource,
//! which `exwatch events` reads back ([`crate::cli::events`]).

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::params::parse_time;
use crate::messages::{AlertKind, GroupUpdate, Metric, Severity, Timestamp};
use crate::server::error::{ApiError, resource};
use crate::server::{ACTOR_TIMEOUT, AppState};
use crate::store::{
    DeliveryState, EventCursor, EventFilter, MAX_EVENTS_PAGE, QueryEvents, StoredEvent, StoredGroup,
};

/// The page size when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;

/// Registers the route (under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/events", "GET").route(web::get().to(list)));
}

/// What an event announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A series went bad, got worse, or is still bad after the dedup window.
    Firing,
    /// A series that fired is healthy again.
    Resolved,
    /// An LLM root-cause hypothesis following up an earlier alert.
    Triage,
    /// An incident acknowledged in exwatch, as told to the channels that track incidents.
    Acknowledged,
}

impl From<AlertKind> for EventKind {
    fn from(k: AlertKind) -> Self {
        match k {
            AlertKind::Firing => EventKind::Firing,
            AlertKind::Resolved => EventKind::Resolved,
            AlertKind::Triage => EventKind::Triage,
            AlertKind::Acknowledged => EventKind::Acknowledged,
        }
    }
}

impl EventKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Firing => "firing",
            EventKind::Resolved => "resolved",
            EventKind::Triage => "triage",
            EventKind::Acknowledged => "acknowledged",
        }
    }
}

/// A severity, `info < warning < critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    /// Worth a look.
    Info,
    /// Degrading.
    Warning,
    /// Act now.
    Critical,
}

impl From<Severity> for SeverityName {
    fn from(s: Severity) -> Self {
        match s {
            Severity::Info => SeverityName::Info,
            Severity::Warning => SeverityName::Warning,
            Severity::Critical => SeverityName::Critical,
        }
    }
}

impl SeverityName {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityName::Info => "info",
            SeverityName::Warning => "warning",
            SeverityName::Critical => "critical",
        }
    }
}

/// The state of one channel's delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStateName {
    /// Not delivered yet; being retried.
    Pending,
    /// The platform accepted it.
    Delivered,
    /// Rejected, or given up after the last attempt.
    Failed,
}

impl From<DeliveryState> for DeliveryStateName {
    fn from(s: DeliveryState) -> Self {
        match s {
            DeliveryState::Pending => DeliveryStateName::Pending,
            DeliveryState::Delivered => DeliveryStateName::Delivered,
            DeliveryState::Failed => DeliveryStateName::Failed,
        }
    }
}

impl DeliveryStateName {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStateName::Pending => "pending",
            DeliveryStateName::Delivered => "delivered",
            DeliveryStateName::Failed => "failed",
        }
    }
}

/// One channel's delivery of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    /// The channel's name.
    pub channel: String,
    /// Its state.
    pub state: DeliveryStateName,
    /// Attempts made so far.
    pub attempts: u32,
    /// The last error, when an attempt failed.
    pub last_error: Option<String>,
}

/// One stored alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// The alert id (a ULID), as in the webhook payload.
    pub id: String,
    /// When the alert's judgement was made (event time), epoch ms.
    pub at: i64,
    /// Firing, resolved or triage.
    pub kind: EventKind,
    /// Exchange of the series.
    pub exchange: String,
    /// Endpoint of the series (`*` for exchange-wide series).
    pub endpoint: String,
    /// Metric of the series (`latency_ms`, `errors`, …).
    pub metric: String,
    /// Severity (for `resolved`, the highest the episode reached).
    pub severity: SeverityName,
    /// What fired (`zscore`, `consecutive_failures`, `rule:<name>` …).
    pub detector: String,
    /// The headline, as in the webhook payload.
    pub title: String,
    /// The explanation, as in the webhook payload.
    pub message: String,
    /// The observed value, `null` when not a number.
    pub value: Option<f64>,
    /// Recorded but not sent because a silence matched.
    pub silenced: bool,
    /// Its incident was acknowledged.
    pub acked: bool,
    /// One entry per channel that owes it a delivery, by channel name.
    pub deliveries: Vec<Delivery>,
    /// The LLM triage follow-up's text for this alert, when there is one.
    pub triage: Option<String>,
    /// For a `triage` event: the id of the alert it follows up.
    #[serde(default)]
    pub in_reply_to: Option<String>,
    /// For a group message (`[router] group_by`): the incident it speaks for and its
    /// members; the fields above are then the group's leading (most severe) member's.
    /// `null` on per-series alerts.
    #[serde(default)]
    pub group: Option<EventGroup>,
    /// The vantage (`[monitor] region`) that stored it: with `[cluster]`, events of every
    /// vantage are listed; without, this instance's own.
    #[serde(default)]
    pub region: String,
}

/// What a group message says of its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupUpdateName {
    /// The incident's first alert, sent at once.
    Opened,
    /// What changed since the incident's last message.
    Updated,
    /// A member escalated to critical, sent at once.
    Escalated,
    /// Every member has recovered.
    Resolved,
}

impl From<GroupUpdate> for GroupUpdateName {
    fn from(u: GroupUpdate) -> Self {
        match u {
            GroupUpdate::Opened => GroupUpdateName::Opened,
            GroupUpdate::Updated => GroupUpdateName::Updated,
            GroupUpdate::Escalated => GroupUpdateName::Escalated,
            GroupUpdate::Resolved => GroupUpdateName::Resolved,
        }
    }
}

/// The incident of a group message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventGroup {
    /// What the members share, e.g. `exchange=okx` (`router.group_by` fields, in order);
    /// pass it as `group` to list the incident's events.
    pub key: String,
    /// What this message says of the incident.
    pub update: GroupUpdateName,
    /// The members, most severe first, each its latest per-series alert.
    pub alerts: Vec<GroupMember>,
}

/// One series of an incident, as its group message listed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupMember {
    /// The member's per-series alert id (also listed as an event of its own).
    pub id: String,
    /// Its state: firing or resolved.
    pub kind: EventKind,
    /// Exchange of the series.
    pub exchange: String,
    /// Endpoint of the series.
    pub endpoint: String,
    /// Metric of the series.
    pub metric: String,
    /// Its severity.
    pub severity: SeverityName,
    /// What fired.
    pub detector: String,
    /// Its headline.
    pub title: String,
}

impl From<StoredGroup> for EventGroup {
    fn from(g: StoredGroup) -> Self {
        EventGroup {
            key: g.key,
            update: g.update.into(),
            alerts: g
                .members
                .into_iter()
                .map(|m| GroupMember {
                    id: m.id,
                    kind: m.kind.into(),
                    exchange: m.exchange,
                    endpoint: m.endpoint,
                    metric: m.metric,
                    severity: m.severity.into(),
                    detector: m.detector,
                    title: m.title,
                })
                .collect(),
        }
    }
}

impl From<StoredEvent> for Event {
    fn from(e: StoredEvent) -> Self {
        Event {
            id: e.id,
            at: e.at.as_millis(),
            kind: e.kind.into(),
            exchange: e.exchange,
            endpoint: e.endpoint,
            metric: e.metric,
            severity: e.severity.into(),
            detector: e.detector,
            title: e.title,
            message: e.message,
            value: e.value,
            silenced: e.silenced,
            acked: e.acked,
            deliveries: e
                .deliveries
                .into_iter()
                .map(|d| Delivery {
                    channel: d.channel,
                    state: d.state.into(),
                    attempts: d.attempts,
                    last_error: d.last_error,
                })
                .collect(),
            triage: e.triage,
            in_reply_to: e.in_reply_to,
            group: e.group.map(EventGroup::from),
            region: String::new(),
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventsPage {
    /// The events.
    pub events: Vec<Event>,
    /// Pass as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The query string of `GET /api/v1/events`. Values are taken as text and checked here, so
/// that every bad one is a 400 naming its parameter.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this exchange.
    #[param(min_length = 1)]
    pub exchange: Option<String>,
    /// Only this endpoint.
    #[param(min_length = 1)]
    pub endpoint: Option<String>,
    /// Only this metric (`latency_ms`, `errors`, `availability`, `price`,
    /// `price_deviation_bps`, `clock_skew_ms`, `actor_restarts`).
    #[param(
        pattern = r"^(latency_ms|errors|availability|price|price_deviation_bps|clock_skew_ms|actor_restarts)$"
    )]
    pub metric: Option<String>,
    /// This severity and above.
    #[param(value_type = Option<SeverityName>)]
    pub severity: Option<String>,
    /// Only this kind.
    #[param(value_type = Option<EventKind>)]
    pub kind: Option<String>,
    /// Events at or after: epoch ms, RFC 3339, or a duration before now (`1h`).
    pub since: Option<String>,
    /// Events at or before: epoch ms, RFC 3339, or a duration before now (`5m`); not before
    /// `since`.
    pub until: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// Only this incident: the group messages whose `group.key` is this (e.g.
    /// `exchange=okx`) and the per-series alerts they list as members.
    #[param(min_length = 1)]
    pub group: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^-?[0-9]{1,18}_[1-9][0-9]{0,17}$")]
    pub cursor: Option<String>,
    /// Only the events this vantage (`[monitor] region`) stored. With `[cluster]` every
    /// vantage's events are listed (read from the shared PostgreSQL); without, only this
    /// instance's, so another region lists none.
    #[param(min_length = 1)]
    pub region: Option<String>,
}

/// The cursor as the client sees it: `<at_ms>_<seq>` of the last event of the page. Opaque to
/// clients; only this module reads it back.
pub fn encode_cursor(c: EventCursor) -> String {
    format!("{}_{}", c.at_ms, c.seq)
}

/// Reads a cursor made by [`encode_cursor`]; anything else is a 400 about `cursor`.
pub fn parse_cursor(s: &str) -> Result<EventCursor, ApiError> {
    let bad = || {
        ApiError::field(
            "cursor",
            format!("cursor: {s:?} is not a cursor this server made"),
        )
    };
    let (at, seq) = s.split_once('_').ok_or_else(bad)?;
    let number = |t: &str| -> Result<i64, ApiError> {
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        t.parse().map_err(|_| bad())
    };
    let (at_ms, seq) = (number(at)?, number(seq)?);
    if seq < 1 {
        return Err(bad());
    }
    Ok(EventCursor { at_ms, seq })
}

fn non_empty<'a>(field: &str, v: &'a Option<String>) -> Result<Option<&'a str>, ApiError> {
    match v.as_deref() {
        None => Ok(None),
        Some("") => Err(ApiError::field(field, format!("{field}: empty"))),
        Some(s) => Ok(Some(s)),
    }
}

/// The store filter for `q`, times relative to `now`; the first bad parameter is the error.
pub fn filter_of(q: &EventsQuery, now: Timestamp) -> Result<EventFilter, ApiError> {
    let metric = non_empty("metric", &q.metric)?
        .map(|m| {
            Metric::parse(m)
                .ok_or_else(|| ApiError::field("metric", format!("metric: unknown metric {m:?}")))
        })
        .transpose()?;
    let min_severity = non_empty("severity", &q.severity)?
        .map(|s| {
            Severity::parse(s).ok_or_else(|| {
                ApiError::field(
                    "severity",
                    format!("severity: {s:?} is not one of info, warning, critical"),
                )
            })
        })
        .transpose()?;
    let kind = non_empty("kind", &q.kind)?
        .map(|k| match k {
            "firing" => Ok(AlertKind::Firing),
            "resolved" => Ok(AlertKind::Resolved),
            "triage" => Ok(AlertKind::Triage),
            "acknowledged" => Ok(AlertKind::Acknowledged),
            _ => Err(ApiError::field(
                "kind",
                format!("kind: {k:?} is not one of firing, resolved, triage, acknowledged"),
            )),
        })
        .transpose()?;
    let since = q
        .since
        .as_deref()
        .map(|s| parse_time("since", s, now))
        .transpose()?;
    let until = q
        .until
        .as_deref()
        .map(|s| parse_time("until", s, now))
        .transpose()?;
    if let (Some(s), Some(u)) = (since, until)
        && u < s
    {
        return Err(ApiError::field("until", "until: before since"));
    }
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_EVENTS_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::field(
                    "limit",
                    format!("limit: {l:?} is not a whole number from 1 to {MAX_EVENTS_PAGE}"),
                )
            })?,
    };
    let after = q.cursor.as_deref().map(parse_cursor).transpose()?;
    Ok(EventFilter {
        exchange: non_empty("exchange", &q.exchange)?.map(str::to_owned),
        endpoint: non_empty("endpoint", &q.endpoint)?.map(str::to_owned),
        metric,
        min_severity,
        kind,
        since,
        until,
        after,
        limit,
        group: non_empty("group", &q.group)?.map(str::to_owned),
    })
}

/// The stored alerts, newest first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", operation_id = "list_events",
    params(EventsQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = EventsPage),
        (status = 400, description = "A bad query parameter, named in `field`", body = crate::server::error::ErrorBody),
        (status = 503, description = "The event store did not answer", body = crate::server::error::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter_of(&q, Timestamp::now())?;
    let region = non_empty("region", &q.region)?;
    let local = state.status.region();
    if let Some(cluster) = &state.cluster
        && filter.group.is_none()
    {
        // One view: every vantage's alerts (incidents are each instance's own: `group`
        // stays local).
        let page = crate::cluster::view::events(&cluster.pool, &filter, region)
            .await
            .map_err(|e| {
                ApiError::Unavailable(format!(
                    "the shared PostgreSQL did not answer: {}",
                    crate::cluster::redact(&cluster.settings.postgres_url, &e)
                ))
            })?;
        return Ok(HttpResponse::Ok().json(EventsPage {
            next_cursor: page.next.map(encode_cursor),
            events: (page.events.into_iter())
                .map(|e| Event {
                    region: e.region,
                    ..Event::from(e.event)
                })
                .collect(),
        }));
    }
    if region.is_some_and(|r| r != local) {
        return Ok(HttpResponse::Ok().json(EventsPage {
            next_cursor: None,
            events: Vec::new(),
        }));
    }
    let page = state
        .store
        .send(QueryEvents(filter))
        .timeout(ACTOR_TIMEOUT)
        .await?
        .map_err(ApiError::Unavailable)?;
    Ok(HttpResponse::Ok().json(EventsPage {
        next_cursor: page.next.map(encode_cursor),
        events: (page.events.into_iter())
            .map(|e| Event {
                region: local.to_owned(),
                ..Event::from(e)
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused_naming_the_field() {
        for c in [
            EventCursor {
                at_ms: 1_795_000_000_123,
                seq: 42,
            },
            EventCursor { at_ms: -5, seq: 1 },
            EventCursor {
                at_ms: i64::MAX,
                seq: i64::MAX,
            },
        ] {
            assert_eq!(parse_cursor(&encode_cursor(c)).unwrap(), c);
        }
        for bad in [
            "",
            "_",
            "12",
            "12_",
            "_3",
            "a_1",
            "1_b",
            "1_0",
            "1_-3",
            "1_2_3",
            "+1_2",
            "1.5_2",
            "99999999999999999999_1",
        ] {
            match parse_cursor(bad) {
                Err(ApiError::BadRequest { field, .. }) => {
                    assert_eq!(field.as_deref(), Some("cursor"), "{bad:?}")
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_filter_checks_every_parameter() {
        let now = Timestamp(1_795_000_000_000);
        let f = filter_of(&EventsQuery::default(), now).unwrap();
        assert_eq!((f.limit, f.since, f.after), (DEFAULT_LIMIT, None, None));
        let f = filter_of(
            &EventsQuery {
                severity: Some("warning".into()),
                kind: Some("resolved".into()),
                since: Some("1h".into()),
                limit: Some("500".into()),
                metric: Some("errors".into()),
                ..EventsQuery::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(f.min_severity, Some(Severity::Warning));
        assert_eq!(f.kind, Some(AlertKind::Resolved));
        assert_eq!(f.since, Some(Timestamp(now.0 - 3_600_000)));
        assert_eq!(f.metric, Some(Metric::Errors));
        assert_eq!(f.limit, 500);
        let field = |q: EventsQuery| match filter_of(&q, now) {
            Err(ApiError::BadRequest { field, .. }) => field.unwrap_or_default(),
            other => panic!("{other:?}"),
        };
        let q = EventsQuery::default;
        assert_eq!(
            field(EventsQuery {
                limit: Some("0".into()),
                ..q()
            }),
            "limit"
        );
        assert_eq!(
            field(EventsQuery {
                limit: Some("501".into()),
                ..q()
            }),
            "limit"
        );
        assert_eq!(
            field(EventsQuery {
                limit: Some("-1".into()),
                ..q()
            }),
            "limit"
        );
        assert_eq!(
            field(EventsQuery {
                severity: Some("high".into()),
                ..q()
            }),
            "severity"
        );
        assert_eq!(
            field(EventsQuery {
                kind: Some("fired".into()),
                ..q()
            }),
            "kind"
        );
        assert_eq!(
            field(EventsQuery {
                metric: Some("cpu".into()),
                ..q()
            }),
            "metric"
        );
        assert_eq!(
            field(EventsQuery {
                exchange: Some("".into()),
                ..q()
            }),
            "exchange"
        );
        assert_eq!(
            field(EventsQuery {
                since: Some("soon".into()),
                ..q()
            }),
            "since"
        );
        assert_eq!(
            field(EventsQuery {
                since: Some("1h".into()),
                until: Some("2h".into()),
                ..q()
            }),
            "until"
        );
        assert_eq!(
            field(EventsQuery {
                cursor: Some("x".into()),
                ..q()
            }),
            "cursor"
        );
    }
}
