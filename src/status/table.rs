//! Renders a [`StatusReport`] as the plain-text tables `exwatch status` prints: one row per
//! endpoint, then the open anomalies. Pure, so it is tested without a server.

use std::fmt::Write as _;

use super::view::{ClusterStatus, StatusReport, WindowStats};
use crate::messages::Timestamp;

/// The endpoint table and the open anomalies, for a terminal.
pub fn render_table(report: &StatusReport) -> String {
    let mut out = String::new();
    let as_of = report.as_of.map_or_else(
        || "no measurement yet".to_owned(),
        |t| Timestamp(t).to_rfc3339(),
    );
    let _ = writeln!(
        out,
        "exwatch status · region {} · as of {as_of}",
        report.region
    );
    let mut rows: Vec<[String; 10]> = vec![
        [
            "EXCHANGE",
            "ENDPOINT",
            "BREAKER",
            "LAST",
            "LATENCY",
            "P50 5m",
            "P90 5m",
            "P99 5m",
            "ERR 5m",
            "ANOMALIES",
        ]
        .map(str::to_owned),
    ];
    for ex in &report.exchanges {
        let breaker = if ex.maintenance {
            format!("{} (maintenance)", ex.breaker)
        } else {
            ex.breaker.clone()
        };
        if ex.endpoints.is_empty() {
            rows.push([
                ex.exchange.clone(),
                "-".into(),
                breaker.clone(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                ex.open_anomalies.len().to_string(),
            ]);
        }
        for ep in &ex.endpoints {
            let anomalies = ex
                .open_anomalies
                .iter()
                .filter(|a| a.endpoint == ep.endpoint)
                .count();
            let last = match (&ep.last_outcome, ep.last_status) {
                (Some(o), Some(s)) => format!("{o} {s}"),
                (Some(o), None) => o.clone(),
                _ => "-".into(),
            };
            rows.push([
                ex.exchange.clone(),
                ep.endpoint.clone(),
                breaker.clone(),
                last,
                ms(ep.last_latency_ms),
                ms(ep.recent.p50_ms),
                ms(ep.recent.p90_ms),
                ms(ep.recent.p99_ms),
                error_rate(&ep.recent),
                anomalies.to_string(),
            ]);
        }
    }
    write_rows(&mut out, &rows);
    if !report.streams.is_empty() {
        let _ = writeln!(out, "\nStreams ({}):", report.streams.len());
        let mut rows: Vec<[String; 8]> = vec![
            [
                "EXCHANGE",
                "ENDPOINT",
                "STATE",
                "MSG/S",
                "LAG",
                "SILENT",
                "RECONNECTS",
                "GAPS",
            ]
            .map(str::to_owned),
        ];
        for s in &report.streams {
            rows.push([
                s.exchange.clone(),
                s.endpoint.clone(),
                if s.connected {
                    s.state.clone()
                } else {
                    format!("{} (disconnected)", s.state)
                },
                format!("{:.1}", s.message_rate),
                ms(s.lag_ms),
                format!("{:.1} s", s.silence_ms as f64 / 1000.0),
                s.reconnects.to_string(),
                s.gaps.to_string(),
            ]);
        }
        write_rows(&mut out, &rows);
    }
    let open: Vec<_> = report
        .exchanges
        .iter()
        .flat_map(|ex| ex.open_anomalies.iter().map(move |a| (ex, a)))
        .collect();
    if open.is_empty() {
        out.push_str("\nNo open anomalies.\n");
    } else {
        let _ = writeln!(out, "\nOpen anomalies ({}):", open.len());
        let mut rows: Vec<[String; 6]> =
            vec![["SINCE", "SEVERITY", "SERIES", "DETECTOR", "STATE", "TITLE"].map(str::to_owned)];
        for (ex, a) in open {
            let mut state = Vec::new();
            if a.acked {
                state.push("acked");
            }
            if a.silenced {
                state.push("silenced");
            }
            rows.push([
                Timestamp(a.since).to_rfc3339(),
                a.severity.clone(),
                format!("{}/{}/{}", ex.exchange, a.endpoint, a.metric),
                a.detector.clone(),
                if state.is_empty() {
                    "-".into()
                } else {
                    state.join(",")
                },
                a.title.clone(),
            ]);
        }
        write_rows(&mut out, &rows);
    }
    if let Some(c) = &report.cluster {
        render_cluster(&mut out, c);
    }
    out
}

/// The vantages of a `[cluster]` and the quorum's verdicts.
fn render_cluster(out: &mut String, c: &ClusterStatus) {
    if !c.shared {
        let why = c.error.as_deref().unwrap_or("unknown");
        let _ = writeln!(
            out,
            "\nCluster: the shared PostgreSQL did not answer ({why})."
        );
        return;
    }
    let verdicts: Vec<String> = (c.exchanges.iter())
        .map(|x| match x.state.as_str() {
            "up" => format!("{} up", x.exchange),
            s => format!("{} {s} from {}", x.exchange, x.down_from.join(", ")),
        })
        .collect();
    let _ = writeln!(
        out,
        "\nCluster (quorum {}): {}",
        c.quorum,
        if verdicts.is_empty() {
            "no verdicts yet".to_owned()
        } else {
            verdicts.join("; ")
        }
    );
    let mut rows: Vec<[String; 4]> =
        vec![["VANTAGE", "SELF", "LAST SEEN", "VERDICTS"].map(str::to_owned)];
    for v in &c.vantages {
        let own = match (v.fresh, v.self_healthy) {
            (false, _) => "stale",
            (true, false) => "unhealthy",
            (true, true) => "healthy",
        };
        let verdicts: Vec<String> = (v.exchanges.iter())
            .map(|x| format!("{} {}", x.exchange, x.state))
            .collect();
        rows.push([
            v.region.clone(),
            own.to_owned(),
            format!("{:.1} s ago", v.last_seen_ms_ago as f64 / 1000.0),
            verdicts.join(", "),
        ]);
    }
    write_rows(out, &rows);
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

fn error_rate(w: &WindowStats) -> String {
    if w.count == 0 {
        "-".into()
    } else {
        format!("{:.1}%", w.error_rate * 100.0)
    }
}

/// Left-aligned columns, two spaces apart, the last column unpadded.
fn write_rows<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let pad = widths[i] - cell.chars().count();
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::view::{EndpointStatus, ExchangeStatus, OpenAnomaly};

    fn window(label: &str, count: u64, p50: Option<f64>, error_rate: f64) -> WindowStats {
        WindowStats {
            window: label.into(),
            count,
            errors: 0,
            p50_ms: p50,
            p90_ms: p50.map(|v| v * 2.0),
            p99_ms: p50.map(|v| v * 3.0),
            error_rate,
        }
    }

    #[test]
    fn renders_one_row_per_endpoint_and_the_open_anomalies() {
        let report = StatusReport {
            streams: Vec::new(),
            generated_at: 0,
            as_of: Some(1_795_000_000_000),
            region: "local".into(),
            cluster: None,
            exchanges: vec![
                ExchangeStatus {
                    exchange: "binance".into(),
                    breaker: "closed".into(),
                    breaker_at: None,
                    maintenance: false,
                    endpoints: vec![EndpointStatus {
                        endpoint: "ping".into(),
                        last_probe_at: Some(1),
                        last_outcome: Some("ok".into()),
                        last_status: Some(200),
                        last_latency_ms: Some(41.25),
                        recent: window("5m", 30, Some(40.0), 0.1),
                        hour: window("1h", 360, Some(41.0), 0.0),
                        chart: Vec::new(),
                    }],
                    open_anomalies: vec![OpenAnomaly {
                        endpoint: "ping".into(),
                        metric: "latency_ms".into(),
                        severity: "critical".into(),
                        detector: "zscore".into(),
                        since: 1_795_000_000_000,
                        last_at: None,
                        value: None,
                        title: "binance ping latency spike".into(),
                        acked: true,
                        silenced: false,
                    }],
                },
                ExchangeStatus {
                    exchange: "okx".into(),
                    breaker: "unknown".into(),
                    breaker_at: None,
                    maintenance: true,
                    endpoints: Vec::new(),
                    open_anomalies: Vec::new(),
                },
            ],
        };
        let text = render_table(&report);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("region local"), "{text}");
        assert!(
            lines[1].starts_with("EXCHANGE  ENDPOINT  BREAKER"),
            "{text}"
        );
        let row = lines[2];
        for cell in [
            "binance", "ping", "closed", "ok 200", "41.2 ms", "40.0 ms", "80.0 ms", "120.0 ms",
            "10.0%",
        ] {
            assert!(row.contains(cell), "{cell} missing in {row:?}");
        }
        assert!(row.ends_with('1'), "{row:?}");
        assert!(
            lines[3].starts_with("okx") && lines[3].contains("unknown (maintenance)"),
            "{text}"
        );
        assert!(text.contains("Open anomalies (1):"), "{text}");
        assert!(text.contains("binance/ping/latency_ms"), "{text}");
        assert!(
            text.contains("acked") && text.contains("2026-11-18T11:06:40Z"),
            "{text}"
        );
        // Columns line up: the header's ENDPOINT starts where the row's endpoint does.
        assert_eq!(lines[1].find("ENDPOINT"), row.find("ping"));
    }

    #[test]
    fn renders_the_streams_after_the_endpoints() {
        use crate::status::view::StreamStatus;
        let report = StatusReport {
            generated_at: 0,
            as_of: None,
            region: "it".into(),
            exchanges: Vec::new(),
            cluster: None,
            streams: vec![StreamStatus {
                exchange: "binance".into(),
                endpoint: "btc-depth".into(),
                state: "stale".into(),
                connected: true,
                messages: 1200,
                message_rate: 0.0,
                silence_ms: 2500,
                lag_ms: Some(12.5),
                cadence_ms: Some(100.0),
                stale_after_ms: 800,
                reconnects: 2,
                gaps: 1,
                at: 0,
                source: "exwatch".into(),
            }],
        };
        let out = render_table(&report);
        assert!(out.contains("Streams (1):"), "{out}");
        let row = out.lines().find(|l| l.starts_with("binance")).unwrap();
        for cell in ["btc-depth", "stale", "0.0", "12.5 ms", "2.5 s", "2", "1"] {
            assert!(row.contains(cell), "{cell} in {row}");
        }
    }
}
