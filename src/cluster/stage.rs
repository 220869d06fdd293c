//! Starting the cluster: [`ClusterStage::prepare`] before the event store opens (the
//! [`Backlog`] the store mirrors into, and a first look at the schema: migrated when
//! PostgreSQL answers, refused when newer; an unreachable server only delays it), then
//! [`ClusterStage::start`] once the Router runs: a thread of its own (an actix arbiter) with
//! the writer, the listener and the [`ClusterGate`].

use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Arbiter};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::cluster::backlog::Backlog;
use crate::cluster::gate::{ClusterGate, GateOutputs};
use crate::cluster::writer::{Health, PG_TIMEOUT, Writer, connect};
use crate::cluster::{ClusterError, ClusterSettings, config, listen, redact, schema};
use crate::metrics::Metrics;

/// Connections the API and the gate read with.
const POOL_SIZE: usize = 8;

/// The cluster, prepared but not started. See the module docs.
pub struct ClusterStage {
    settings: ClusterSettings,
    pg: tokio_postgres::Config,
    backlog: Arc<Backlog>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
}

/// The running cluster: what the API reads through, and the thread it runs on.
#[derive(Clone)]
pub struct Cluster {
    /// The settings.
    pub settings: ClusterSettings,
    /// Reads of the shared tables.
    pub pool: Pool,
    /// Whether PostgreSQL answers.
    pub health: Arc<Health>,
    /// The rows waiting.
    pub backlog: Arc<Backlog>,
    /// The gate.
    pub gate: Addr<ClusterGate>,
    /// The cluster's thread.
    pub arbiter: actix::ArbiterHandle,
}

impl ClusterStage {
    /// Prepares `settings`: the backlog, and the schema when PostgreSQL answers within
    /// [`PG_TIMEOUT`]. Fails only on a URL the driver refuses or a schema newer than known.
    pub fn prepare(
        settings: &ClusterSettings,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, ClusterError> {
        let mut pg = config::check_url(settings.postgres_url.expose())
            .map_err(|why| ClusterError::Postgres(format!("the URL {why}")))?;
        pg.connect_timeout(PG_TIMEOUT);
        pg.application_name("exwatch");
        let stage = Self {
            settings: settings.clone(),
            pg,
            backlog: Arc::new(Backlog::new(settings.backlog_limit, metrics)),
            health: Arc::new(Health::new(metrics)),
            metrics: metrics.clone(),
        };
        metrics.gauge("exwatch_cluster_up", &[]).set(0.0);
        match stage.check_schema() {
            Err(e @ ClusterError::NewerSchema { .. }) => return Err(e),
            Err(e) => tracing::warn!(
                error = %redact(&settings.postgres_url, &e),
                "The shared PostgreSQL does not answer yet; exwatch starts, alerts locally, and \
                 queues its writes until it does."
            ),
            Ok(v) => tracing::info!(schema = v, "The shared PostgreSQL is ready."),
        }
        Ok(stage)
    }

    /// Where the event store mirrors its writes.
    pub fn sink(&self) -> Arc<Backlog> {
        self.backlog.clone()
    }

    /// Connects and migrates on a thread of its own (the caller may be an event loop).
    fn check_schema(&self) -> Result<usize, ClusterError> {
        let pg = self.pg.clone();
        let check = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ClusterError::Postgres(e.to_string()))?;
            rt.block_on(async move {
                let mut client = connect(&pg).await?;
                schema::migrate(&mut client).await
            })
        });
        check
            .join()
            .unwrap_or(Err(ClusterError::Timeout(PG_TIMEOUT)))
    }

    /// Starts the writer, the listener and the gate of vantage `region` probing
    /// `exchanges`, the gate sending to `out`.
    pub fn start(
        self,
        region: &str,
        exchanges: Vec<String>,
        out: GateOutputs,
    ) -> Result<(Cluster, Arbiter), ClusterError> {
        let mgr = Manager::from_config(
            self.pg.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(PG_TIMEOUT))
            .wait_timeout(Some(Duration::from_secs(2)))
            .build()
            .map_err(|e| ClusterError::Pool(e.to_string()))?;
        let arbiter = Arbiter::new();
        let writer = Writer {
            config: self.pg.clone(),
            secret: self.settings.postgres_url.clone(),
            region: region.to_owned(),
            backlog: self.backlog.clone(),
            health: self.health.clone(),
            written: Writer::written_counter(&self.metrics),
        };
        arbiter.spawn(writer.run());
        let gate = ClusterGate::new(
            region,
            exchanges,
            self.settings.quorum,
            self.settings.vantage_stale_after,
            self.backlog.clone(),
            pool.clone(),
            out,
        );
        let gate = ClusterGate::start_in_arbiter(&arbiter.handle(), move |_| gate);
        arbiter.spawn(listen::run(self.pg.clone(), gate.clone()));
        let cluster = Cluster {
            settings: self.settings,
            pool,
            health: self.health,
            backlog: self.backlog,
            gate,
            arbiter: arbiter.handle(),
        };
        Ok((cluster, arbiter))
    }
}
