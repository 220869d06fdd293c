//! The `log` channel: writes alerts to the log through `tracing` (critical as ERROR, warning
//! as WARN, the rest as INFO). It cannot fail.

pub mod config;

use futures_util::future::{LocalBoxFuture, ready};

use crate::channel::Channel;
use crate::channel::registry::{MakeChannel, MakeContext};
use crate::config::RetrySettings;
use crate::error::DeliveryError;
use crate::messages::{Alert, Name, Severity};
use config::LogSpec;

/// Logs every alert.
#[derive(Debug, Clone)]
pub struct LogChannel {
    name: Name,
}

impl LogChannel {
    /// A log channel named `name`.
    pub fn new(name: Name) -> Self {
        Self { name }
    }
}

impl Channel for LogChannel {
    fn kind(&self) -> &'static str {
        "log"
    }

    fn deliver(&mut self, a: &Alert) -> LocalBoxFuture<'static, Result<(), DeliveryError>> {
        macro_rules! emit {
            ($level:ident) => {
                tracing::$level!(
                    channel = %self.name,
                    id = %a.id,
                    kind = a.kind.as_str(),
                    severity = a.severity.as_str(),
                    exchange = %a.exchange,
                    endpoint = %a.endpoint,
                    metric = a.metric.as_str(),
                    detector = %a.detector,
                    value = a.value,
                    threshold = a.threshold,
                    started_at = %a.started_at,
                    "{}: {}",
                    a.title,
                    a.message
                )
            };
        }
        match a.severity {
            Severity::Critical => emit!(error),
            Severity::Warning => emit!(warn),
            Severity::Info => emit!(info),
        }
        Box::pin(ready(Ok(())))
    }
}

/// The retry policy and the builder of a `log` channel, from its validated spec.
pub fn make(_spec: LogSpec, cx: &MakeContext<'_>) -> (RetrySettings, MakeChannel) {
    let name = cx.name.clone();
    (
        cx.retry.clone(),
        Box::new(move || Box::new(LogChannel::new(name))),
    )
}
