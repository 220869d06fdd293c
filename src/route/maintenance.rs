//! Announced maintenance: which exchanges are in a maintenance window they announced on their
//! system-status endpoint, and until when. Pure: fed [`MaintenanceStatus`] readings and event
//! times, it says when a window begins and ends; the Router silences the exchange's firing
//! alerts in between and sends one alert at each edge.
//!
//! A window ends at the earlier of the announced end (noticed by [`MaintenanceBoard::expire`] on
//! the next message about the exchange whose event time is past it) and a status reading that
//! says it is over. A status reading that still says "ongoing" after the announced end keeps the
//! window open, without an end, until the status endpoint says otherwise.

use std::collections::HashMap;

use crate::messages::{
    Alert, AlertKind, MaintenanceStatus, Metric, Name, Severity, Stats, Timestamp, new_id,
};

/// One exchange's maintenance window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// When the first reading of it arrived (event time).
    pub since: Timestamp,
    /// When the exchange says it ends; `None`: until the status endpoint says it is over.
    pub until: Option<Timestamp>,
    /// The exchange's description.
    pub detail: String,
}

/// A window's edge, for the Router to announce.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The exchange entered maintenance.
    Began(Window),
    /// The window is over at `at`.
    Ended {
        /// The window that ended.
        window: Window,
        /// When it ended (event time).
        at: Timestamp,
    },
}

/// The maintenance windows in progress, per exchange.
#[derive(Debug, Default)]
pub struct MaintenanceBoard {
    open: HashMap<Name, Window>,
}

impl MaintenanceBoard {
    /// No exchange in maintenance.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one status reading; returns the edge it makes, if any. (Call [`Self::expire`]
    /// first to end a window whose announced end has passed.)
    pub fn on_status(&mut self, s: &MaintenanceStatus) -> Option<Change> {
        match (self.open.get_mut(&s.exchange), s.ongoing) {
            (Some(w), true) => {
                // Still on: follow the exchange's latest word on the end.
                let fresh = window(s);
                w.until = fresh.until;
                w.detail = fresh.detail;
                None
            }
            (Some(_), false) => {
                let window = self.open.remove(&s.exchange)?;
                let at = window.until.map_or(s.at, |u| u.min(s.at));
                Some(Change::Ended { window, at })
            }
            (None, true) => {
                let w = window(s);
                self.open.insert(s.exchange.clone(), w.clone());
                Some(Change::Began(w))
            }
            (None, false) => None,
        }
    }

    /// Ends `exchange`'s window if its announced end is at or before `at`.
    pub fn expire(&mut self, exchange: &Name, at: Timestamp) -> Option<Change> {
        let until = self.open.get(exchange)?.until?;
        if at < until {
            return None;
        }
        let window = self.open.remove(exchange)?;
        Some(Change::Ended { window, at: until })
    }

    /// Whether `exchange`'s alerts are silenced now.
    pub fn silenced(&self, exchange: &str) -> bool {
        self.open.contains_key(exchange)
    }

    /// The exchanges in maintenance now.
    pub fn exchanges(&self) -> impl Iterator<Item = &Name> {
        self.open.keys()
    }
}

/// The one info alert at a window's edge: firing when it began, resolved when it ended
/// (detector `maintenance`, series `<exchange>/*/availability`).
pub fn alert(region: &Name, exchange: &Name, change: Change, stats: Stats) -> Alert {
    let endpoint = Name::from("*");
    let (kind, title, message, started_at, at) = match change {
        Change::Began(w) => {
            let until = match w.until {
                Some(u) => format!("until {u} (announced)"),
                None => "until its status endpoint says it is over".into(),
            };
            let detail = if w.detail.is_empty() {
                "maintenance in progress".to_string()
            } else {
                w.detail.clone()
            };
            (
                AlertKind::Firing,
                format!("{exchange} under maintenance"),
                format!("{exchange} announces {detail}; its alerts are silenced {until}"),
                w.since,
                w.since,
            )
        }
        Change::Ended { window, at } => (
            AlertKind::Resolved,
            format!("{exchange} maintenance ended"),
            format!(
                "maintenance over after {}; alerts resume",
                humantime::format_duration(at.since(window.since))
            ),
            window.since,
            at,
        ),
    };
    Alert {
        id: new_id(),
        kind,
        severity: Severity::Info,
        exchange: exchange.clone(),
        endpoint,
        metric: Metric::Availability,
        detector: Name::from("maintenance"),
        title,
        message,
        value: if kind == AlertKind::Firing { 1.0 } else { 0.0 },
        threshold: 0.0,
        region: region.clone(),
        started_at,
        at,
        stats,
        in_reply_to: None,
        group: None,
    }
}

/// The window a reading that says "ongoing" describes. An announced end already past is
/// ignored: the exchange still says ongoing, so it lasts until it says otherwise.
fn window(s: &MaintenanceStatus) -> Window {
    Window {
        since: s.at,
        until: s.until.filter(|&u| u > s.at),
        detail: s.detail.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(ongoing: bool, until: Option<i64>, at: i64) -> MaintenanceStatus {
        MaintenanceStatus {
            exchange: Name::from("okx"),
            ongoing,
            until: until.map(Timestamp),
            detail: "maintenance: t".into(),
            at: Timestamp(at),
        }
    }

    #[test]
    fn a_window_begins_once_and_ends_when_the_status_says_so() {
        let mut b = MaintenanceBoard::new();
        assert_eq!(b.on_status(&status(false, None, 0)), None);
        assert!(matches!(
            b.on_status(&status(true, None, 10)),
            Some(Change::Began(Window {
                since: Timestamp(10),
                until: None,
                ..
            }))
        ));
        assert!(b.silenced("okx") && !b.silenced("binance"));
        assert_eq!(b.on_status(&status(true, None, 20)), None);
        assert_eq!(b.expire(&Name::from("okx"), Timestamp(1_000_000)), None);
        let Some(Change::Ended { window, at }) = b.on_status(&status(false, None, 30)) else {
            panic!("should end");
        };
        assert_eq!((window.since, at), (Timestamp(10), Timestamp(30)));
        assert!(!b.silenced("okx"));
        assert_eq!(b.on_status(&status(false, None, 40)), None);
    }

    #[test]
    fn an_announced_end_closes_the_window_by_event_time() {
        let mut b = MaintenanceBoard::new();
        assert!(matches!(
            b.on_status(&status(true, Some(100), 10)),
            Some(Change::Began(_))
        ));
        let okx = Name::from("okx");
        assert_eq!(b.expire(&okx, Timestamp(99)), None);
        assert!(matches!(
            b.expire(&okx, Timestamp(150)),
            Some(Change::Ended {
                at: Timestamp(100),
                ..
            })
        ));
        assert!(!b.silenced("okx"));
    }

    #[test]
    fn the_alerts_say_until_when_and_how_long() {
        let (region, okx) = (Name::from("eu"), Name::from("okx"));
        let w = Window {
            since: Timestamp(0),
            until: Some(Timestamp(600_000)),
            detail: "maintenance: upgrade".into(),
        };
        let began = alert(&region, &okx, Change::Began(w.clone()), Stats::default());
        assert_eq!(
            (began.kind, began.severity),
            (AlertKind::Firing, Severity::Info)
        );
        assert_eq!(began.title, "okx under maintenance");
        assert!(
            began.message.contains("until 1970-01-01T00:10:00Z"),
            "{}",
            began.message
        );
        let ended = alert(
            &region,
            &okx,
            Change::Ended {
                window: w,
                at: Timestamp(600_000),
            },
            Stats::default(),
        );
        assert_eq!(
            (ended.kind, &*ended.detector),
            (AlertKind::Resolved, "maintenance")
        );
        assert!(ended.message.contains("10m"), "{}", ended.message);
    }

    #[test]
    fn an_extended_window_follows_the_latest_end() {
        let mut b = MaintenanceBoard::new();
        b.on_status(&status(true, Some(100), 10));
        assert_eq!(b.on_status(&status(true, Some(300), 50)), None);
        assert_eq!(b.expire(&Name::from("okx"), Timestamp(200)), None);
        assert!(b.silenced("okx"));
    }

    #[test]
    fn still_ongoing_past_the_announced_end_stays_silenced_without_an_end() {
        let mut b = MaintenanceBoard::new();
        b.on_status(&status(true, Some(100), 10));
        // The end passed; the exchange still says ongoing with the stale end.
        assert_eq!(b.on_status(&status(true, Some(100), 120)), None);
        assert!(b.silenced("okx"));
        assert_eq!(b.expire(&Name::from("okx"), Timestamp(10_000)), None);
        assert!(matches!(
            b.on_status(&status(false, None, 20_000)),
            Some(Change::Ended { .. })
        ));
    }
}
