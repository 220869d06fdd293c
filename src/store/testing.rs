//! What the store's unit tests share: a sample alert, and the ids of pending deliveries.

use crate::messages::{Alert, AlertKind, Metric, Severity, Stats, Timestamp, new_id};
use crate::store::PendingAlert;

/// No limit on the pending deliveries a test reads back.
pub(crate) const ALL: usize = usize::MAX;

/// A critical clock-skew alert of `exchange` at `at_ms`, begun 1 234 ms earlier.
pub(crate) fn alert(exchange: &str, at_ms: i64) -> Alert {
    Alert {
        id: new_id(),
        kind: AlertKind::Firing,
        severity: Severity::Critical,
        exchange: exchange.into(),
        endpoint: "time".into(),
        metric: Metric::ClockSkewMs,
        detector: "clock_skew".into(),
        title: format!("{exchange} time clock skew"),
        message: "skew 2500 ms".into(),
        value: 2500.0,
        threshold: 2000.0,
        region: "test".into(),
        started_at: Timestamp(at_ms - 1_234),
        at: Timestamp(at_ms),
        stats: Stats::default(),
        in_reply_to: None,
        group: None,
    }
}

/// The alert ids of `pending`, in order.
pub(crate) fn ids(pending: &[PendingAlert]) -> Vec<String> {
    pending.iter().map(|p| p.alert.id.to_string()).collect()
}

/// The store depends on no component that uses it (see the module docs of `store`): no code
/// line under `src/store/` names one. Doc comments may link to them.
#[test]
fn store_imports_no_component_that_uses_it() {
    fn rs_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src/store") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                rs_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rs_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store"),
        &mut files,
    );
    assert!(files.len() > 10, "{files:?}");
    let forbidden = [
        "crate::detect",
        "crate::route",
        "crate::channel",
        "crate::server",
        "crate::probe",
        "crate::service",
        "crate::cli",
    ];
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") || code.starts_with('"') {
                continue;
            }
            if let Some(f) = forbidden.iter().find(|f| code.contains(*f)) {
                found.push(format!("{}:{}: {f}", file.display(), i + 1));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}
