//! Live reload, the convention of Prometheus and Alertmanager: `SIGHUP` and `POST /-/reload`
//! re-read the configuration file and apply it as a difference.
//!
//! [`Reloader`] owns the reload: it reads the [`ConfigSource`], and on a valid configuration
//! asks the topology (`service.rs`) to apply the [`plan()`] of what changed — exchanges and
//! channels added, removed or changed, detector, rule, router and shutdown settings — while
//! what is unchanged keeps its state (detector windows and baselines of unchanged series,
//! breakers of unchanged exchanges, open incidents, silences, pending deliveries). An invalid
//! file changes nothing: every problem is logged with its key path and
//! `exwatch_config_last_reload_successful` drops to 0. Keys that need a restart
//! ([`plan::NEEDS_RESTART`]) are reported and keep their running value.
//!
//! It may touch the topology (through its lock) and the metrics registry, nothing else.

pub mod plan;

use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;
use thiserror::Error;

use crate::error::ConfigError;
use crate::messages::Timestamp;
use crate::metrics::{Counter, Gauge, Metrics};
use crate::settings::Settings;

pub use plan::{Changes, Plan, plan};

/// Where a reload reads the configuration from: `exwatch run --config FILE` re-reads FILE
/// (with the environment's overrides and secrets, as at start).
pub type ConfigSource = Arc<dyn Fn() -> Result<Settings, ConfigError> + Send + Sync>;

/// What a successful reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReloadReport {
    /// One line per change (`exchange added: kraken`, `channel changed: desk`); empty when
    /// the file changed nothing that runs.
    pub changes: Vec<String>,
    /// Keys whose new value needs a restart; they keep their running value.
    pub needs_restart: Vec<&'static str>,
}

/// Why a reload changed nothing.
#[derive(Debug, Error)]
pub enum ReloadError {
    /// The file could not be read or is invalid (every problem, with its key path).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// What a reload changes: the running topology (`service.rs` implements it). Kept as a
/// trait so that the reload depends on no component above it.
pub trait Apply: Send {
    /// The settings as they run.
    fn settings(&self) -> &Settings;

    /// Applies `settings` (valid) as a difference from the running ones.
    fn apply(&mut self, settings: Settings) -> ReloadReport;
}

/// Reloads a running monitor. See the module docs.
pub struct Reloader {
    source: Option<ConfigSource>,
    topology: Arc<Mutex<dyn Apply>>,
    success: Counter,
    failure: Counter,
    last_successful: Gauge,
    last_success_at: Gauge,
}

impl Reloader {
    /// A reloader of `topology` reading `source`; registers the reload metrics, the start
    /// being the last successful load (not counted as a reload).
    pub(crate) fn new(
        source: Option<ConfigSource>,
        topology: Arc<Mutex<dyn Apply>>,
        metrics: &Metrics,
    ) -> Self {
        let reloads =
            |result| metrics.counter("exwatch_config_reloads_total", &[("result", result)]);
        let reloader = Self {
            source,
            topology,
            success: reloads("success"),
            failure: reloads("failure"),
            last_successful: metrics.gauge("exwatch_config_last_reload_successful", &[]),
            last_success_at: metrics
                .gauge("exwatch_config_last_reload_success_timestamp_seconds", &[]),
        };
        reloader.succeeded();
        reloader
    }

    /// Re-reads the source and applies it. On an error nothing changes: the running
    /// configuration stays, and every problem is logged. A monitor started from settings
    /// built in code has nothing to re-read: its reload succeeds and changes nothing.
    pub fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let Some(source) = &self.source else {
            tracing::info!(
                "Reload asked; this monitor was started without a configuration file, so nothing is re-read."
            );
            let running = self.topology.lock().settings().clone();
            return Ok(self.apply(running));
        };
        match source() {
            Ok(settings) => Ok(self.apply(settings)),
            Err(e) => {
                self.failure.inc();
                self.last_successful.set(0.0);
                match &e {
                    ConfigError::Invalid(problems) => {
                        for p in problems {
                            tracing::error!(problem = %p, "Reload refused: the configuration is invalid.");
                        }
                        tracing::error!(
                            problems = problems.len(),
                            "Reload refused; the running configuration stays."
                        );
                    }
                    other => {
                        tracing::error!(error = %other, "Reload refused; the running configuration stays.");
                    }
                }
                Err(e.into())
            }
        }
    }

    /// Applies `settings` (already valid) as a difference from the running ones.
    pub fn apply(&self, settings: Settings) -> ReloadReport {
        let report = self.topology.lock().apply(settings);
        for change in &report.changes {
            tracing::info!(%change, "Reload applied.");
        }
        for key in &report.needs_restart {
            tracing::warn!(
                key,
                "Reload: this key changed but needs a restart; it keeps its running value."
            );
        }
        if report.changes.is_empty() {
            tracing::info!("Reload: nothing changed.");
        }
        self.success.inc();
        self.succeeded();
        report
    }

    fn succeeded(&self) {
        self.last_successful.set(1.0);
        self.last_success_at
            .set(Timestamp::now().as_millis() as f64 / 1000.0);
    }
}
