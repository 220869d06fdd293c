//! `GET /api/v1/status`: per exchange and endpoint, the breaker, maintenance, the newest
//! probe, latency percentiles and error rate over the last 5 minutes and hour, a per-minute
//! chart of the hour, and the open anomalies. The numbers come from the shared
//! [`crate::status::StatusBoard`] (read under short locks); the open incidents and maintenance
//! windows from the Router ([`OpenIncidents`]), so a busy Router delays the answer, never the
//! reverse.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::cluster::quorum::{Outcome, Vote, decide};
use crate::cluster::rows::VerdictState;
use crate::messages::Timestamp;
use crate::route::OpenIncidents;
use crate::server::error::{ApiError, resource};
use crate::server::{ACTOR_TIMEOUT, AppState};
use crate::status::view::{ClusterExchange, ClusterStatus, VantageStatus, VantageVerdict};

/// Registers the route (under `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/status", "GET").route(web::get().to(status)));
}

/// The query string of `GET /api/v1/status`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// With `[cluster]`: only this vantage in `cluster.vantages` (the quorum's verdicts
    /// still count every vantage).
    #[param(min_length = 1)]
    pub region: Option<String>,
}

/// Every vantage's state and the quorum's verdicts, or why they cannot be read.
async fn cluster_status(cluster: &crate::cluster::Cluster, region: Option<&str>) -> ClusterStatus {
    let quorum = cluster.settings.quorum;
    let stale = cluster.settings.vantage_stale_after;
    let vantages = match crate::cluster::view::vantages(&cluster.pool, stale).await {
        Ok(v) => v,
        Err(e) => {
            return ClusterStatus {
                quorum,
                shared: false,
                error: Some(crate::cluster::redact(&cluster.settings.postgres_url, &e)),
                exchanges: Vec::new(),
                vantages: Vec::new(),
            };
        }
    };
    let mut votes: std::collections::BTreeMap<&str, Vec<Vote>> = Default::default();
    for v in &vantages {
        for (x, state, _) in &v.verdicts {
            votes.entry(x).or_default().push(Vote {
                region: v.region.clone(),
                state: *state,
                fresh: v.fresh,
                self_healthy: v.self_healthy,
            });
        }
    }
    let exchanges = (votes.iter())
        .map(|(x, votes)| {
            let outcome = decide(votes, quorum);
            ClusterExchange {
                exchange: (*x).to_owned(),
                state: match outcome {
                    Outcome::Up => "up",
                    Outcome::Unreachable { .. } => "unreachable",
                    Outcome::Down { .. } => "down",
                }
                .to_owned(),
                down_from: outcome.from().to_vec(),
            }
        })
        .collect();
    let vantages = (vantages.iter())
        .filter(|v| region.is_none_or(|r| r == v.region))
        .map(|v| VantageStatus {
            region: v.region.clone(),
            self_healthy: v.self_healthy,
            fresh: v.fresh,
            last_seen_ms_ago: v.last_seen_ms_ago,
            exchanges: (v.verdicts.iter())
                .map(|(x, s, since)| VantageVerdict {
                    exchange: x.clone(),
                    state: VerdictState::as_str(*s).to_owned(),
                    since: *since,
                })
                .collect(),
        })
        .collect();
    ClusterStatus {
        quorum,
        shared: true,
        error: None,
        exchanges,
        vantages,
    }
}

/// The monitor's status now.
#[utoipa::path(get, path = "/api/v1/status", tag = "status",
    params(StatusQuery),
    responses(
        (status = 200, description = "Every exchange and endpoint", body = crate::status::StatusReport),
        (status = 503, description = "The Router did not answer in time", body = crate::server::error::ErrorBody)))]
pub async fn status(
    state: web::Data<AppState>,
    q: web::Query<StatusQuery>,
) -> Result<HttpResponse, ApiError> {
    let incidents =
        match actix_rt::time::timeout(ACTOR_TIMEOUT, state.router.send(OpenIncidents)).await {
            Ok(Ok(incidents)) => incidents,
            Ok(Err(e)) => {
                return Err(ApiError::Unavailable(format!(
                    "the Router is not running: {e}"
                )));
            }
            Err(_) => {
                return Err(ApiError::Unavailable(
                    "the Router did not answer in time".into(),
                ));
            }
        };
    let mut report = state.status.report(&incidents, Timestamp::now());
    if let Some(cluster) = &state.cluster {
        let region = q.region.as_deref().filter(|r| !r.is_empty());
        report.cluster = Some(cluster_status(cluster, region).await);
    }
    Ok(HttpResponse::Ok().json(report))
}
