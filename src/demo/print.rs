//! What the demo prints: the header with the dashboard's URL, a line per chapter, a one-liner
//! per alert the sink receives, and the closing summary. ANSI colours only when stdout is a
//! terminal. Formatting is pure (every method returns the line); [`Printer::emit`] writes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use crate::messages::{Alert, AlertKind, GroupUpdate, Severity};

/// The longest alert message shown after the title, in characters.
const MESSAGE_MAX_CHARS: usize = 110;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";

/// Formats (and writes) the demo's lines.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    color: bool,
}

impl Printer {
    /// A printer for stdout: coloured when stdout is a terminal.
    pub fn for_stdout() -> Self {
        Self::new(std::io::stdout().is_terminal())
    }

    /// A printer with or without colours.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    /// Writes `line` to stdout at once (a broken pipe is ignored: the story still ends
    /// cleanly).
    pub fn emit(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// The opening lines: what runs where, and the dashboard's URL.
    pub fn header(&self, dashboard: Option<SocketAddr>, speed: f64, length: Duration) -> String {
        let mut s = self.paint(
            BOLD,
            "exwatch demo: simulated Binance, Bybit and OKX on loopback, no internet needed",
        );
        match dashboard {
            Some(addr) => {
                let _ = write!(
                    s,
                    "\nDashboard: {}",
                    self.paint(CYAN, &format!("http://{addr}/"))
                );
                let _ = write!(s, "  (metrics: http://{addr}/metrics)");
            }
            None => s.push_str("\nDashboard: off"),
        }
        let _ = write!(
            s,
            "\nSpeed ×{speed}: the story takes about {}s. Ctrl-C ends it cleanly.\n",
            length.as_secs_f64().round()
        );
        s
    }

    /// A chapter's line.
    pub fn chapter(&self, elapsed: Duration, title: &str) -> String {
        self.paint(MAGENTA, &format!("{} ▶ {title}", clock(elapsed)))
    }

    /// An alert's one-liner: time, severity (or RESOLVED), exchange/endpoint, title and the
    /// start of its message; a group message (one per incident, `[router] group_by`) adds
    /// what it says of the group and a line per member.
    pub fn alert(&self, elapsed: Duration, a: &Alert) -> String {
        let mut s = self.one_line(elapsed, a);
        if let Some(g) = &a.group {
            let _ = write!(
                s,
                "  {}",
                self.paint(
                    DIM,
                    &format!(
                        "[{} {}, {} series]",
                        g.key,
                        g.update.as_str(),
                        g.alerts.len()
                    )
                )
            );
            for m in &g.alerts {
                let line = self.one_line(elapsed, m);
                let _ = write!(
                    s,
                    "\n    · {}",
                    line.split_once("   ")
                        .map_or(line.as_str(), |(_, rest)| rest)
                );
            }
        }
        s
    }

    fn one_line(&self, elapsed: Duration, a: &Alert) -> String {
        let (label, code) = match (a.kind, a.severity) {
            (AlertKind::Resolved, _) => ("RESOLVED", GREEN),
            (AlertKind::Triage, _) => ("TRIAGE", DIM),
            (_, Severity::Critical) => ("CRITICAL", RED),
            (_, Severity::Warning) => ("WARNING", YELLOW),
            (_, Severity::Info) => ("INFO", CYAN),
        };
        let at = a.at.to_rfc3339();
        let time = at.get(11..19).unwrap_or(&at);
        let series = format!("{}/{}", a.exchange, a.endpoint);
        let mut message: String = a.message.chars().take(MESSAGE_MAX_CHARS).collect();
        if a.message.chars().count() > MESSAGE_MAX_CHARS {
            message.push('…');
        }
        format!(
            "{}   {time}  {}  {series:<14} {} {}",
            self.paint(DIM, &clock(elapsed)),
            self.paint(code, &format!("{label:<8}")),
            self.paint(BOLD, &a.title),
            self.paint(DIM, &format!("— {message}")),
        )
    }

    /// The closing summary.
    pub fn summary(&self, tally: &Tally) -> String {
        let mut s = self.paint(
            BOLD,
            &format!(
                "Summary: {} alerts received; {} incidents, {} messages",
                tally.total, tally.incidents, tally.total
            ),
        );
        for (kind, by_severity) in &tally.by_kind {
            let n: usize = by_severity.values().sum();
            let detail: Vec<String> = by_severity
                .iter()
                .rev()
                .map(|(sev, n)| format!("{sev} {n}"))
                .collect();
            let _ = write!(s, "\n  {kind:<9} {n:>3}  ({})", detail.join(", "));
        }
        if !tally.by_metric.is_empty() {
            let metrics: Vec<String> = tally
                .by_metric
                .iter()
                .map(|(m, n)| format!("{m} {n}"))
                .collect();
            let _ = write!(s, "\n  by metric: {}", metrics.join(", "));
        }
        s
    }

    /// The last line.
    pub fn stopped(&self, interrupted: bool) -> String {
        let how = if interrupted {
            "Interrupted: the story ended early."
        } else {
            "The story is over."
        };
        format!(
            "{how} exwatch demo stopped: monitor stopped gracefully, simulators and sink closed."
        )
    }
}

/// `+12.3s`, the time since the story began.
fn clock(elapsed: Duration) -> String {
    format!("+{:>5.1}s", elapsed.as_secs_f64())
}

/// Alerts counted by kind and severity, and by metric, for the summary.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tally {
    /// All alerts received (messages).
    pub total: usize,
    /// Incidents: group messages that opened a group, or per-series firing alerts that
    /// began an episode when grouping is off.
    pub incidents: usize,
    /// Kind → severity → count.
    pub by_kind: BTreeMap<&'static str, BTreeMap<Severity, usize>>,
    /// Metric → count.
    pub by_metric: BTreeMap<&'static str, usize>,
}

impl Tally {
    /// Counts one alert.
    pub fn add(&mut self, a: &Alert) {
        self.total += 1;
        let opens = match &a.group {
            Some(g) => g.update == GroupUpdate::Opened,
            None => a.kind == AlertKind::Firing && !a.title.ends_with("(still firing)"),
        };
        self.incidents += usize::from(opens);
        *self
            .by_kind
            .entry(a.kind.as_str())
            .or_default()
            .entry(a.severity)
            .or_default() += 1;
        *self.by_metric.entry(a.metric.as_str()).or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, Name, Stats, Timestamp};

    fn alert(kind: AlertKind, severity: Severity) -> Alert {
        Alert {
            id: Name::from("01J"),
            kind,
            severity,
            exchange: Name::from("bybit"),
            endpoint: Name::from("*"),
            metric: Metric::Availability,
            detector: Name::from("circuit_open"),
            title: "bybit down (circuit open)".into(),
            message: "x".repeat(200),
            value: 2.0,
            threshold: 0.0,
            region: Name::from("local"),
            started_at: Timestamp(1_700_000_000_000),
            at: Timestamp(1_700_000_003_000),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        }
    }

    #[test]
    fn plain_lines_have_no_escape_codes_and_coloured_ones_do() {
        let a = alert(AlertKind::Firing, Severity::Critical);
        let plain = Printer::new(false).alert(Duration::from_millis(12_300), &a);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("+ 12.3s"), "{plain}");
        assert!(plain.contains("22:13:23"), "{plain}");
        assert!(plain.contains("CRITICAL  bybit/*"), "{plain}");
        assert!(plain.contains("bybit down (circuit open)"), "{plain}");
        assert!(plain.ends_with('…'), "{plain}");
        let coloured = Printer::new(true).alert(Duration::ZERO, &a);
        assert!(coloured.contains(RED), "{coloured}");
        let r = Printer::new(false).alert(
            Duration::ZERO,
            &alert(AlertKind::Resolved, Severity::Critical),
        );
        assert!(r.contains("RESOLVED"), "{r}");
    }

    #[test]
    fn summary_counts_by_kind_severity_and_metric() {
        let mut t = Tally::default();
        t.add(&alert(AlertKind::Firing, Severity::Critical));
        t.add(&alert(AlertKind::Firing, Severity::Warning));
        t.add(&alert(AlertKind::Resolved, Severity::Critical));
        let s = Printer::new(false).summary(&t);
        assert!(
            s.contains("Summary: 3 alerts received; 2 incidents, 3 messages"),
            "{s}"
        );
        assert!(s.contains("firing      2  (critical 1, warning 1)"), "{s}");
        assert!(s.contains("resolved    1  (critical 1)"), "{s}");
        assert!(s.contains("by metric: availability 3"), "{s}");
    }
}
