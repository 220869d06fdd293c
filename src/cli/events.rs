//! `exwatch events`: fetches `GET /api/v1/events` of a running instance ([`fetch`]) and renders
//! the page as a table for a terminal ([`render`]). Times are printed in UTC. Text that came
//! from exchanges or models (titles, errors, triage) is stripped of control characters before
//! it reaches the terminal.

use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::client::{TransportError, bounded_text, fetch as fetch_bounded};
use crate::messages::Timestamp;
use crate::server::api::events::{Event, EventsPage};

/// The largest answer read: 500 events with long triage texts fit many times over.
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// The widest title printed, in characters.
const TITLE_WIDTH: usize = 60;

/// The widest triage excerpt printed under its event, in characters.
const TRIAGE_WIDTH: usize = 160;

/// The query of `exwatch events`: each `Some` becomes the parameter of the same name.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventsArgs {
    /// `since`: epoch ms, RFC 3339 or a duration before now (`1h`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// `until`, as `since`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// Only this exchange.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// Only this endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Only this metric.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// This severity and above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// Only this kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Page size, 1..=500.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Only this vantage's events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Why the events could not be shown.
#[derive(Debug, Error)]
pub enum FetchError {
    /// The base URL is not an `http://` or `https://` URL.
    #[error("bad URL {0:?}: expected http://host:port")]
    BadUrl(String),
    /// Nothing answered, or not in time.
    #[error("cannot reach exwatch at {url}: {reason}")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server refused an argument (HTTP 400).
    #[error("exwatch refused the request: {0}")]
    Refused(String),
    /// Another HTTP error.
    #[error("exwatch answered HTTP {status}: {message}")]
    Status {
        /// The status.
        status: u16,
        /// The error message of the answer.
        message: String,
    },
    /// The answer was not the events page.
    #[error("unreadable answer from exwatch: {0}")]
    BadAnswer(String),
}

impl FetchError {
    /// True when the user gave a bad argument (the command exits 2), false when the monitor
    /// could not be asked (exit 1).
    pub fn is_bad_argument(&self) -> bool {
        matches!(self, FetchError::BadUrl(_) | FetchError::Refused(_))
    }
}

/// Asks `base_url` (`http://host:port`) for a page of events, within `timeout` in all.
pub async fn fetch(
    base_url: &str,
    args: &EventsArgs,
    timeout: Duration,
) -> Result<EventsPage, FetchError> {
    let base = base_url.trim_end_matches('/');
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(FetchError::BadUrl(base_url.to_owned()));
    }
    let url = format!("{base}/api/v1/events");
    let client = crate::client::build_client(1, timeout);
    let req = client
        .get(&url)
        .query(args)
        .map_err(|e| FetchError::BadAnswer(format!("cannot encode the query: {e}")))?;
    let reply = fetch_bounded(req, None, MAX_ANSWER, timeout)
        .await
        .map_err(|e| match e {
            TransportError::Request(_) => FetchError::BadUrl(base_url.to_owned()),
            TransportError::TooLarge(n) => {
                FetchError::BadAnswer(format!("answer larger than {n} bytes"))
            }
            other => FetchError::Unreachable {
                url: url.clone(),
                reason: other.to_string(),
            },
        })?;
    if reply.status != 200 {
        let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| crate::client::http_reason(reply.status, &reply.body));
        return Err(if reply.status == 400 {
            FetchError::Refused(message)
        } else {
            FetchError::Status {
                status: reply.status,
                message,
            }
        });
    }
    serde_json::from_slice(&reply.body).map_err(|e| FetchError::BadAnswer(e.to_string()))
}

/// `text` on one line with no control characters (an exchange's or model's text must not
/// drive the terminal), at most `max` characters.
fn clean(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    bounded_text(one_line.trim(), max)
}

/// `2026-11-18 11:06:43` (UTC).
fn utc(at_ms: i64) -> String {
    Timestamp(at_ms)
        .to_rfc3339()
        .replacen('T', " ", 1)
        .trim_end_matches('Z')
        .to_owned()
}

/// `hook=delivered log=failed(3)`: each channel's state, with the attempts when more than
/// one was needed or it failed; `silenced` or `-` when nothing was owed.
pub fn delivery_summary(e: &Event) -> String {
    if e.deliveries.is_empty() {
        return if e.silenced { "silenced" } else { "-" }.to_owned();
    }
    e.deliveries
        .iter()
        .map(|d| {
            let state = d.state.as_str();
            if d.attempts > 1 || (d.attempts > 0 && d.state.as_str() == "failed") {
                format!("{}={state}({})", clean(&d.channel, 40), d.attempts)
            } else {
                format!("{}={state}", clean(&d.channel, 40))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The page as a table: one line per event, newest first, columns aligned, a triage excerpt
/// indented under the event it explains; a closing line when there are more.
pub fn render(page: &EventsPage) -> String {
    if page.events.is_empty() {
        return "No events.\n".to_owned();
    }
    const HEADER: [&str; 7] = [
        "TIME (UTC)",
        "KIND",
        "SEVERITY",
        "EXCHANGE/ENDPOINT/METRIC",
        "DETECTOR",
        "TITLE",
        "DELIVERY",
    ];
    // Events of several vantages ([cluster]): each series says whose it is.
    let regions = (page.events.iter()).any(|e| e.region != page.events[0].region);
    let rows: Vec<[String; 7]> = page
        .events
        .iter()
        .map(|e| {
            let series = format!("{}/{}/{}", e.exchange, e.endpoint, e.metric);
            let series = if regions {
                format!("{series} @{}", e.region)
            } else {
                series
            };
            let mut kind = e.kind.as_str().to_owned();
            if e.acked {
                kind.push_str(" (acked)");
            }
            [
                utc(e.at),
                kind,
                e.severity.as_str().to_owned(),
                clean(&series, 80),
                clean(&e.detector, 30),
                clean(&e.title, TITLE_WIDTH),
                delivery_summary(e),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', w - cell.chars().count() + 2));
            }
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    };
    let mut out = line(&HEADER.map(str::to_owned));
    for (row, e) in rows.iter().zip(&page.events) {
        out.push_str(&line(row));
        if let Some(t) = e.triage.as_deref().filter(|t| !t.trim().is_empty()) {
            out.push_str("    triage: ");
            out.push_str(&clean(t, TRIAGE_WIDTH));
            out.push('\n');
        }
    }
    if page.next_cursor.is_some() {
        out.push_str(&format!(
            "… more than {} events: narrow --since or raise --limit (at most 500).\n",
            page.events.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::api::events::{Delivery, DeliveryStateName, EventKind, SeverityName};

    fn event(title: &str) -> Event {
        Event {
            id: "01J".into(),
            at: 1_795_000_003_000,
            kind: EventKind::Firing,
            exchange: "okx".into(),
            endpoint: "time".into(),
            metric: "clock_skew_ms".into(),
            severity: SeverityName::Critical,
            detector: "clock_skew".into(),
            title: title.into(),
            message: "m".into(),
            value: Some(2500.0),
            silenced: false,
            acked: false,
            deliveries: vec![
                Delivery {
                    channel: "hook".into(),
                    state: DeliveryStateName::Failed,
                    attempts: 3,
                    last_error: Some("HTTP 503".into()),
                },
                Delivery {
                    channel: "log".into(),
                    state: DeliveryStateName::Delivered,
                    attempts: 1,
                    last_error: None,
                },
            ],
            triage: None,
            in_reply_to: None,
            group: None,
            region: "tokyo".into(),
        }
    }

    #[test]
    fn render_names_the_vantage_of_each_event_when_there_are_several() {
        let mut other = event("okx down");
        other.region = "singapore".into();
        let page = EventsPage {
            events: vec![event("okx down"), other],
            next_cursor: None,
        };
        let text = render(&page);
        assert!(text.contains("okx/time/clock_skew_ms @tokyo"), "{text}");
        assert!(text.contains("okx/time/clock_skew_ms @singapore"), "{text}");
        let one = render(&EventsPage {
            events: vec![event("okx down")],
            next_cursor: None,
        });
        assert!(!one.contains('@'), "{one}");
    }

    #[test]
    fn render_aligns_columns_in_utc_with_deliveries_and_triage() {
        let mut second = event("okx time clock skew");
        second.kind = EventKind::Resolved;
        second.severity = SeverityName::Warning;
        second.exchange = "binance".into();
        second.deliveries.clear();
        second.at = 1_795_000_000_000;
        let mut first = event("okx time clock skew 2500 ms");
        first.triage = Some("Cause: NTP drift.\nAction: resync.".into());
        let page = EventsPage {
            events: vec![first, second],
            next_cursor: Some("x".into()),
        };
        let text = render(&page);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(
            lines[0].starts_with("TIME (UTC)           KIND      SEVERITY  "),
            "{text}"
        );
        assert!(
            lines[1].starts_with("2026-11-18 11:06:43  firing    critical  okx/time/clock_skew_ms"),
            "{text}"
        );
        assert!(lines[1].ends_with("hook=failed(3) log=delivered"), "{text}");
        assert_eq!(lines[2], "    triage: Cause: NTP drift. Action: resync.");
        assert!(
            lines[3].starts_with("2026-11-18 11:06:40  resolved  warning   binance/"),
            "{text}"
        );
        assert!(lines[3].ends_with(" -"), "{text}");
        // Columns line up: DETECTOR starts at the same place on every line.
        let col = lines[0].find("DETECTOR").unwrap();
        assert_eq!(lines[1].find("clock_skew ").unwrap(), col, "{text}");
        assert_eq!(lines[3].find("clock_skew ").unwrap(), col, "{text}");
        assert!(lines[4].starts_with("… more than 2 events"), "{text}");
    }

    #[test]
    fn render_strips_control_characters_and_bounds_titles() {
        let long = format!("\u{1b}[31mred\u{7}{}", "x".repeat(200));
        let text = render(&EventsPage {
            events: vec![event(&long)],
            next_cursor: None,
        });
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "{text:?}"
        );
        assert!(text.contains(" [31mred x"), "{text}");
        assert!(
            text.contains(&format!("{}…", "x".repeat(TITLE_WIDTH - 9))),
            "{text}"
        );
        assert_eq!(
            render(&EventsPage {
                events: vec![],
                next_cursor: None
            }),
            "No events.\n"
        );
    }

    #[test]
    fn wildcard_listen_addresses_are_asked_on_loopback() {
        assert_eq!(
            crate::status::fetch::base_url_for("0.0.0.0:9898".parse().unwrap()),
            "http://127.0.0.1:9898"
        );
        assert_eq!(
            crate::status::fetch::base_url_for("[::]:9898".parse().unwrap()),
            "http://[::1]:9898"
        );
        assert_eq!(
            crate::status::fetch::base_url_for("10.0.0.5:80".parse().unwrap()),
            "http://10.0.0.5:80"
        );
    }
}
