//! The incident around an anomaly onset: it opens at the first row the model finds unusual,
//! holds while the series stays away from its learned normal or keeps surprising the model,
//! and closes after `resolve_after` rows back inside the normal band. Pure bookkeeping: the
//! model hands it each row's verdict and the current long-run band.
//!
//! This is what makes the onset score mean onset: rows inside an open incident do not open it
//! again (their score is 0 unless they escalate it), while the live alert stays firing for as
//! long as the degradation lasts, not for as long as a sliding window takes to absorb it.

use crate::messages::Severity;

/// One row as the model judged it.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// The severity this row alone would have, if any.
    pub severity: Option<Severity>,
    /// The confidence behind it (0..=1).
    pub confidence: f64,
    /// The view that found it.
    pub detector: &'static str,
    /// The row's value.
    pub value: f64,
    /// The sustained surprise's tail probability (1 when unremarkable).
    pub sustained_q: f64,
}

/// What a row did to the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// No incident, and this row opens none.
    Quiet,
    /// This row opened an incident.
    Opened,
    /// This row raised the open incident's severity.
    Escalated,
    /// The incident stays open, unchanged.
    Held,
    /// The incident closed with this row.
    Closed,
}

/// The open incident.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Open {
    /// The highest severity so far.
    pub severity: Severity,
    /// The confidence of the row that set it.
    pub confidence: f64,
    /// The view that set it.
    pub detector: &'static str,
    /// +1 when the series departed upwards, −1 downwards.
    pub side: f64,
}

/// The incident of one series. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Incident {
    /// Boxed while open: most series are calm, and inline it made every latency series'
    /// model 40 B larger.
    open: Option<Box<Current>>,
}

/// The open incident and its calm rows in a row.
#[derive(Debug, Clone)]
struct Current {
    open: Open,
    normal_run: usize,
}

/// The most surprising a calm row's sustained surprise may be.
const CALM_Q: f64 = 0.05;

impl Incident {
    /// The open incident, if any.
    pub fn open(&self) -> Option<&Open> {
        self.open.as_deref().map(|c| &c.open)
    }

    /// Takes one row: its verdict, and the learned normal band `(lo, hi)` of the series now.
    /// `resolve_after` rows in a row back inside the band (on the side the series departed
    /// to), with nothing unusual about them, close the incident.
    pub fn step(&mut self, v: &Verdict, band: (f64, f64), resolve_after: usize) -> Change {
        let Some(current) = &mut self.open else {
            let Some(severity) = v.severity else {
                return Change::Quiet;
            };
            let mid = 0.5 * (band.0 + band.1);
            self.open = Some(Box::new(Current {
                open: Open {
                    severity,
                    confidence: v.confidence,
                    detector: v.detector,
                    side: if v.value >= mid { 1.0 } else { -1.0 },
                },
                normal_run: 0,
            }));
            return Change::Opened;
        };
        let open = &mut current.open;
        if let Some(severity) = v.severity.filter(|&s| s > open.severity) {
            open.severity = severity;
            open.confidence = v.confidence;
            open.detector = v.detector;
            current.normal_run = 0;
            return Change::Escalated;
        }
        let away = if open.side > 0.0 {
            v.value > band.1
        } else {
            v.value < band.0
        };
        if away || v.severity.is_some() || v.sustained_q < CALM_Q {
            current.normal_run = 0;
            return Change::Held;
        }
        current.normal_run += 1;
        if current.normal_run >= resolve_after.max(1) {
            self.open = None;
            Change::Closed
        } else {
            Change::Held
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(severity: Option<Severity>, value: f64) -> Verdict {
        Verdict {
            severity,
            confidence: 0.99,
            detector: "spike",
            value,
            sustained_q: 1.0,
        }
    }

    #[test]
    fn opens_once_escalates_holds_while_away_and_closes_after_calm_rows() {
        let mut i = Incident::default();
        let band = (90.0, 110.0);
        assert_eq!(i.step(&row(None, 100.0), band, 3), Change::Quiet);
        assert_eq!(
            i.step(&row(Some(Severity::Info), 300.0), band, 3),
            Change::Opened
        );
        assert_eq!(
            i.step(&row(Some(Severity::Info), 300.0), band, 3),
            Change::Held
        );
        assert_eq!(
            i.step(&row(Some(Severity::Critical), 400.0), band, 3),
            Change::Escalated
        );
        // Still slow, though no longer surprising: the incident holds.
        for _ in 0..100 {
            assert_eq!(i.step(&row(None, 300.0), band, 3), Change::Held);
        }
        assert_eq!(i.step(&row(None, 100.0), band, 3), Change::Held);
        assert_eq!(i.step(&row(None, 100.0), band, 3), Change::Held);
        assert_eq!(i.step(&row(None, 100.0), band, 3), Change::Closed);
        assert!(i.open().is_none());
    }

    #[test]
    fn a_drop_is_away_below_the_band() {
        let mut i = Incident::default();
        let band = (90.0, 110.0);
        i.step(&row(Some(Severity::Warning), 10.0), band, 1);
        assert_eq!(i.step(&row(None, 20.0), band, 1), Change::Held);
        // Above the band is not "away" for a drop.
        assert_eq!(i.step(&row(None, 95.0), band, 1), Change::Closed);
    }
}
