//! The HTTP server: actix-web inside the monitor's actix System, on `[http] listen`.
//!
//! It owns the listener and the routes, nothing else: every answer comes from the actors
//! (the store, the Router) by message, or from the lock-free metrics registry, so no request
//! can block the pipeline. Routes:
//!
//! - `GET /healthz`, `GET /readyz` ([`health`]);
//! - `GET /metrics`, the Prometheus text format ([`metrics`]);
//! - `POST /-/reload`, a live reload of the configuration file ([`reload`]);
//! - `/api/v1/…`, JSON, described by `/api/v1/openapi.json` ([`api`]);
//! - `GET /` and `/assets/…`, the dashboard ([`dashboard`]).
//!
//! Errors are JSON (`{"error": …, "message": …, "field": …}`, see [`error`]); unknown routes
//! answer 404 and bodies over [`MAX_BODY`] 413. Write endpoints require
//! `Authorization: Bearer <token>` when `[http] token_env` names a token ([`auth`]).

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod health;
pub mod metrics;
pub mod reload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix::Addr;
use actix_web::{App, HttpServer, web};

use crate::config::{HttpSettings, Secret};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::route::RouterActor;
use crate::status::StatusBoard;
use crate::store::StoreActor;

/// The largest request body accepted, in bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// How long a request waits for an actor's answer before it gives up with a 503.
pub const ACTOR_TIMEOUT: Duration = Duration::from_secs(5);

/// What the handlers may reach: the actors by address, the metrics registry, the token.
#[derive(Clone)]
pub struct AppState {
    /// The event store.
    pub store: Addr<StoreActor>,
    /// The Router.
    pub router: Addr<RouterActor>,
    /// exwatch's own metrics.
    pub metrics: Arc<Metrics>,
    /// The bearer token write endpoints require, when one is configured.
    pub token: Option<Secret>,
    /// The live status of every exchange and endpoint (`GET /api/v1/status`).
    pub status: Arc<StatusBoard>,
    /// Live reload (`POST /-/reload`).
    pub reloader: Arc<crate::reload::Reloader>,
    /// `[cluster]`: the shared history and state the API reads, when configured.
    pub cluster: Option<crate::cluster::Cluster>,
}

/// A running server.
pub struct RunningServer {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
}

impl RunningServer {
    /// The address it is bound to (the real port when `listen` asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits (briefly) for requests in flight.
    pub async fn stop(self) {
        // Bounded: a client that holds a connection open must not hold up the monitor's stop.
        let stopping = self.handle.stop(true);
        if actix_rt::time::timeout(Duration::from_secs(5), stopping)
            .await
            .is_err()
        {
            tracing::warn!("The HTTP server did not stop within 5 s; going on without it.");
        }
    }
}

/// Binds `settings.listen` and starts serving inside the running actix System. Fails when
/// the address cannot be bound.
pub fn start(settings: &HttpSettings, state: AppState) -> Result<RunningServer, Error> {
    if !settings.listen.ip().is_loopback() && state.token.is_none() {
        tracing::warn!(
            listen = %settings.listen,
            "The HTTP server listens beyond loopback WITHOUT a token: anyone who can reach it \
             can silence and acknowledge alerts. Set [http] token_env."
        );
    }
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(error::json_config())
            .app_data(error::query_config())
            .app_data(error::path_config())
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .configure(health::configure)
            .configure(metrics::configure)
            .configure(reload::configure)
            .service(web::scope("/api/v1").configure(api::configure))
            .configure(dashboard::configure)
            .default_service(web::to(error::not_found))
    })
    // The server is a side door, not the product: one worker thread is plenty, and the
    // binary handles signals itself (a graceful stop drains the pipeline first).
    .workers(1)
    .disable_signals()
    .shutdown_timeout(2)
    .bind(settings.listen)
    .map_err(|e| Error::Start(format!("cannot listen on {}: {e}", settings.listen)))?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| Error::Start(format!("no address bound for {}", settings.listen)))?;
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    tracing::info!(%addr, "HTTP server listening: dashboard at http://{addr}/, metrics at /metrics.");
    Ok(RunningServer { addr, handle })
}
