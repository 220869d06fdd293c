//! Replay for back-testing: streams one recorded series from a CSV through the same
//! [`SeriesDetector`] a live latency series uses (the latency model and its firing/resolved
//! hysteresis, settings from `[detect.latency]`) and writes one judgement per row. The caller
//! picks the settings: `exwatch replay` defaults to `unit = any`, `direction = both` (series of
//! any unit, drops too; see [`crate::detect::scale`]), and `--unit ms --direction up` judges a
//! latency series exactly as live.
//!
//! Input: a header naming `timestamp` and `value` and optionally `label` (0/1), in any order,
//! other columns ignored; timestamps as RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC) or epoch
//! milliseconds. Output: `timestamp,value,anomaly_score,severity,detector`, the timestamp and
//! value copied as given. Rows are streamed through one reused line buffer, so memory stays
//! constant whatever the file's length; the first malformed row stops the replay with an error
//! naming its line and column, after the rows before it have been written.

use std::io::{BufRead, Write};

use thiserror::Error;

use crate::detect::finding::Finding;
use crate::detect::series::{Event, SeriesDetector};
use crate::messages::{Measurement, Metric, SeriesKey, Timestamp};
use crate::settings::DetectSettings;

/// The output's header line.
pub const OUTPUT_HEADER: &str = "timestamp,value,anomaly_score,severity,detector";

/// Milliseconds in a day, for false alarms per day.
const DAY_MS: f64 = 86_400_000.0;

/// A flagged row's `anomaly_score`: `0.5 + 0.5·confidence`, in (0.5, 1]. Unflagged rows
/// score 0. Every flagged row thus ranks above every normal one (a detector's confidence is 0
/// exactly at its threshold, which must not tie with "normal"), and among flagged rows the
/// score rises with the detector's confidence, so threshold-free measures (ROC AUC) see the
/// detector's ranking.
pub fn anomaly_score(finding: &Finding) -> f64 {
    0.5 + 0.5 * finding.confidence.clamp(0.0, 1.0)
}

/// Why a replay stopped.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// Reading the input or writing the output failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The input has no header line.
    #[error("line 1: the input is empty; expected a header with timestamp,value[,label]")]
    Empty,
    /// The header lacks a required column.
    #[error("line 1: the header has no `{column}` column (found: {found})")]
    MissingColumn {
        /// The required column's name.
        column: &'static str,
        /// The header as read.
        found: String,
    },
    /// A row that cannot be read.
    #[error("line {line}, column {column} ({name}): {reason}")]
    Malformed {
        /// 1-based line number in the input (the header is line 1).
        line: usize,
        /// 1-based column number.
        column: usize,
        /// The column's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Point-wise and event-wise agreement of the judgements with the `label` column.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LabelScores {
    /// Labelled anomalous and flagged.
    pub true_positives: u64,
    /// Flagged but labelled normal.
    pub false_positives: u64,
    /// Labelled anomalous but not flagged.
    pub false_negatives: u64,
    /// Labelled normal and not flagged.
    pub true_negatives: u64,
    /// Labelled events: runs of consecutive rows labelled 1.
    pub events: u64,
    /// Labelled events with at least one flagged row.
    pub events_detected: u64,
    /// False alarms: episodes (from the first flagged row until the series resolves, as one
    /// live alert would last) none of whose rows is labelled 1.
    pub false_alarms: u64,
}

impl LabelScores {
    /// Of the flagged rows, the share labelled anomalous (1 when nothing was flagged).
    pub fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    /// Of the rows labelled anomalous, the share flagged (1 when none is labelled).
    pub fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    /// Harmonic mean of precision and recall.
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }

    /// Of the labelled events, the share with at least one flagged row (1 when there are none).
    pub fn event_recall(&self) -> f64 {
        ratio(self.events_detected, self.events)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

/// What a finished replay saw.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReplaySummary {
    /// Data rows read (and written).
    pub rows: u64,
    /// Rows judged anomalous.
    pub flagged: u64,
    /// Rows written but not judged because their value was empty, `NaN` or infinite.
    pub skipped_values: u64,
    /// Rows written but not judged because their timestamp was not after the last judged
    /// row's (a duplicate or an out-of-order row).
    pub skipped_timestamps: u64,
    /// Earliest and latest timestamp, ms since the epoch; `None` when there were no rows.
    pub span_ms: Option<(i64, i64)>,
    /// Agreement with the labels, when the input has a `label` column.
    pub labels: Option<LabelScores>,
}

impl ReplaySummary {
    /// Days from the earliest to the latest timestamp.
    pub fn days(&self) -> f64 {
        self.span_ms
            // In f64: the span of i64::MIN..i64::MAX does not fit an i64.
            .map_or(0.0, |(first, last)| (last as f64 - first as f64) / DAY_MS)
    }

    /// False alarms per day of data; `None` without labels or when the span is empty.
    pub fn false_alarms_per_day(&self) -> Option<f64> {
        let days = self.days();
        match self.labels {
            Some(l) if days > 0.0 => Some(l.false_alarms as f64 / days),
            _ => None,
        }
    }

    /// The report printed after a labelled replay, one `key=value` per field.
    pub fn report(&self) -> String {
        let mut text = format!(
            "rows={} flagged={} skipped_values={} skipped_timestamps={} days={:.3}",
            self.rows,
            self.flagged,
            self.skipped_values,
            self.skipped_timestamps,
            self.days()
        );
        if let Some(l) = self.labels {
            text.push_str(&format!(
                "\nprecision={:.4} recall={:.4} f1={:.4} tp={} fp={} fn={}\nevents={} events_detected={} event_recall={:.4} false_alarms={} false_alarms_per_day={:.3}",
                l.precision(),
                l.recall(),
                l.f1(),
                l.true_positives,
                l.false_positives,
                l.false_negatives,
                l.events,
                l.events_detected,
                l.event_recall(),
                l.false_alarms,
                self.false_alarms_per_day().unwrap_or(0.0),
            ));
        }
        text
    }
}

/// Where the needed columns are in a row.
#[derive(Debug, Clone, Copy)]
struct Columns {
    timestamp: usize,
    value: usize,
    label: Option<usize>,
    /// Fields a row must have to reach every needed column.
    needed: usize,
}

impl Columns {
    fn from_header(header: &str) -> Result<Self, ReplayError> {
        let header = header.strip_prefix('\u{feff}').unwrap_or(header);
        let find = |name: &str| {
            header
                .split(',')
                .position(|f| unquote(f).eq_ignore_ascii_case(name))
        };
        let missing = |column| ReplayError::MissingColumn {
            column,
            found: header.to_string(),
        };
        let timestamp = find("timestamp").ok_or_else(|| missing("timestamp"))?;
        let value = find("value").ok_or_else(|| missing("value"))?;
        let label = find("label");
        let needed = timestamp.max(value).max(label.unwrap_or(0)) + 1;
        Ok(Self {
            timestamp,
            value,
            label,
            needed,
        })
    }
}

/// A field without surrounding whitespace and double quotes.
fn unquote(field: &str) -> &str {
    let f = field.trim();
    f.strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(f)
        .trim()
}

/// Labels, and the runs of labelled and flagged rows, as they stream by.
#[derive(Debug, Default)]
struct Scorer {
    scores: LabelScores,
    /// In a run of rows labelled 1; whether the run has had a flagged row.
    in_event: Option<bool>,
    /// In an episode; whether it has touched a row labelled 1.
    in_alarm: Option<bool>,
}

impl Scorer {
    /// One row: its label, whether it was flagged, and whether the series' episode is open
    /// after it.
    fn add(&mut self, label: bool, flagged: bool, firing: bool) {
        let s = &mut self.scores;
        match (label, flagged) {
            (true, true) => s.true_positives += 1,
            (false, true) => s.false_positives += 1,
            (true, false) => s.false_negatives += 1,
            (false, false) => s.true_negatives += 1,
        }
        self.in_event = match (self.in_event, label) {
            (None, true) => {
                s.events += 1;
                Some(flagged)
            }
            (Some(hit), true) => Some(hit || flagged),
            (Some(hit), false) => {
                s.events_detected += u64::from(hit);
                None
            }
            (None, false) => None,
        };
        self.in_alarm = match (self.in_alarm, flagged || firing) {
            (None, true) => Some(label),
            (Some(real), true) => Some(real || label),
            (Some(real), false) => {
                s.false_alarms += u64::from(!real);
                None
            }
            (None, false) => None,
        };
    }

    fn finish(mut self) -> LabelScores {
        if let Some(hit) = self.in_event {
            self.scores.events_detected += u64::from(hit);
        }
        if let Some(real) = self.in_alarm {
            self.scores.false_alarms += u64::from(!real);
        }
        self.scores
    }
}

/// Replays the CSV `input` through a latency [`SeriesDetector`] built from `settings` and
/// writes one judgement per row to `output`.
///
/// On a malformed row the rows before it are written and flushed, and the error names the
/// row's line and column. `output` is flushed before returning either way.
pub fn replay<R: BufRead, W: Write>(
    mut input: R,
    mut output: W,
    settings: &DetectSettings,
) -> Result<ReplaySummary, ReplayError> {
    let result = run(&mut input, &mut output, settings);
    let flushed = output.flush();
    let summary = result?;
    flushed?;
    Ok(summary)
}

fn run<R: BufRead, W: Write>(
    input: &mut R,
    output: &mut W,
    settings: &DetectSettings,
) -> Result<ReplaySummary, ReplayError> {
    let mut line = String::new();
    if input.read_line(&mut line)? == 0 {
        return Err(ReplayError::Empty);
    }
    let columns = Columns::from_header(line.trim_end_matches(['\r', '\n']))?;
    writeln!(output, "{OUTPUT_HEADER}")?;

    let mut detector = SeriesDetector::new(Metric::LatencyMs, settings);
    // One measurement, updated in place: a row costs no allocation.
    let mut measurement = Measurement::ok(
        SeriesKey::new("replay", "replay", Metric::LatencyMs),
        0.0,
        Timestamp(0),
    );
    let mut summary = ReplaySummary::default();
    let mut scorer = columns.label.map(|_| Scorer::default());
    let mut line_no = 1;
    let mut last_at: Option<i64> = None;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        line_no += 1;
        let row = line.trim_end_matches(['\r', '\n']);
        if row.trim().is_empty() {
            continue;
        }
        let fields = parse_row(row, &columns, line_no)?;
        // A row the model cannot learn from is written (one output row per input row) with
        // score 0 and counted, and the model never sees it: see "Bad rows" in the README.
        let judged = match fields.value {
            None => {
                summary.skipped_values += 1;
                false
            }
            Some(_) if last_at.is_some_and(|last| fields.at <= last) => {
                summary.skipped_timestamps += 1;
                false
            }
            Some(_) => true,
        };
        let (judgement, score) = if judged {
            measurement.value = fields.value.unwrap_or_default();
            measurement.at = Timestamp(fields.at);
            last_at = Some(fields.at);
            let judgement = match detector.observe(&measurement) {
                Some(Event::Firing { finding, .. }) => Some(finding),
                _ => None,
            };
            // The likelihood model scores every row by onset; the sliding models score the
            // rows they flag by their confidence.
            let score = detector
                .onset_score()
                .unwrap_or_else(|| judgement.as_ref().map_or(0.0, anomaly_score));
            (judgement, score)
        } else {
            (None, 0.0)
        };
        output.write_all(fields.timestamp_text.as_bytes())?;
        output.write_all(b",")?;
        output.write_all(fields.value_text.as_bytes())?;
        match (judgement, score > 0.0) {
            (Some(f), _) => writeln!(output, ",{score:.4},{},{}", f.severity.as_str(), f.detector)?,
            (None, true) => writeln!(output, ",{score:.4},,")?,
            (None, false) => output.write_all(b",0,,\n")?,
        }

        summary.rows += 1;
        summary.flagged += u64::from(judgement.is_some());
        summary.span_ms = Some(match summary.span_ms {
            None => (fields.at, fields.at),
            Some((first, last)) => (first.min(fields.at), last.max(fields.at)),
        });
        if let (Some(scorer), Some(label)) = (scorer.as_mut(), fields.label) {
            scorer.add(label, judgement.is_some(), detector.is_firing());
        }
    }
    summary.labels = scorer.map(Scorer::finish);
    Ok(summary)
}

/// The needed fields of one row.
struct Row<'a> {
    timestamp_text: &'a str,
    value_text: &'a str,
    at: i64,
    /// `None` when the field is empty, `NaN` or infinite (the row is skipped, not an error).
    value: Option<f64>,
    label: Option<bool>,
}

fn parse_row<'a>(row: &'a str, columns: &Columns, line: usize) -> Result<Row<'a>, ReplayError> {
    let mut timestamp = None;
    let mut value = None;
    let mut label = None;
    for (i, field) in row.split(',').enumerate().take(columns.needed) {
        if i == columns.timestamp {
            timestamp = Some(unquote(field));
        } else if i == columns.value {
            value = Some(unquote(field));
        } else if Some(i) == columns.label {
            label = Some(unquote(field));
        }
    }
    let bad = |column: usize, name: &'static str, reason: String| ReplayError::Malformed {
        line,
        column: column + 1,
        name,
        reason,
    };
    let missing = |column: usize, name| bad(column, name, "missing (the row is too short)".into());

    let timestamp_text = timestamp.ok_or_else(|| missing(columns.timestamp, "timestamp"))?;
    let at = parse_timestamp(timestamp_text).ok_or_else(|| {
        bad(
            columns.timestamp,
            "timestamp",
            format!(
                "`{timestamp_text}` is not an RFC 3339 time, `YYYY-MM-DD HH:MM:SS` or epoch milliseconds"
            ),
        )
    })?;
    let value_text = value.ok_or_else(|| missing(columns.value, "value"))?;
    // Empty, NaN and infinities are missing readings (skipped and counted); anything else
    // that is not a number is an error.
    let value = if value_text.trim().is_empty() {
        None
    } else {
        let v = value_text.trim().parse::<f64>().map_err(|_| {
            bad(
                columns.value,
                "value",
                format!("`{value_text}` is not a number"),
            )
        })?;
        v.is_finite().then_some(v)
    };
    let label =
        match columns.label {
            None => None,
            Some(column) => {
                let text = label.ok_or_else(|| missing(column, "label"))?;
                Some(parse_label(text).ok_or_else(|| {
                    bad(column, "label", format!("`{text}` is not a label (0 or 1)"))
                })?)
            }
        };
    Ok(Row {
        timestamp_text,
        value_text,
        at,
        value,
        label,
    })
}

fn parse_label(text: &str) -> Option<bool> {
    match text {
        "0" | "0.0" | "false" => Some(false),
        "1" | "1.0" | "true" => Some(true),
        _ => None,
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (`2026-01-02T03:04:05.678+01:00`; without
/// an offset, UTC), of `YYYY-MM-DD HH:MM:SS` (UTC), or of epoch milliseconds.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return text.parse().ok();
    }
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = &b[from..to];
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &b[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        // Milliseconds from the first three digits; finer digits are dropped.
        millis = fraction[..len.min(3)]
            .iter()
            .chain(std::iter::repeat_n(&b'0', 3 - len.min(3)))
            .fold(0, |n, d| n * 10 + i64::from(d - b'0'));
        rest = &fraction[len..];
    }
    let offset_minutes = match rest {
        [] | [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (h, m) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'-' {
                -(h * 60 + m)
            } else {
                h * 60 + m
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_str(input: &str) -> (Result<ReplaySummary, ReplayError>, String) {
        let mut out = Vec::new();
        let result = replay(input.as_bytes(), &mut out, &DetectSettings::default());
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn the_widest_span_has_days_without_overflow() {
        // A fuzz finding: i64::MIN and a positive timestamp in one file overflowed `last - first`.
        let summary = ReplaySummary {
            span_ms: Some((i64::MIN, 1_767_225_604_000)),
            ..ReplaySummary::default()
        };
        assert!(summary.days() > 1e8);
        let (result, _) = run_str(
            "timestamp,value,label\n1767225600000,1,0\n-9223372036854775808,2,0\n1767225604000,3,0\n",
        );
        assert!(result.unwrap().days() > 1e8);
    }

    #[test]
    fn timestamps_in_every_format_agree() {
        let expected = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        for text in [
            "2026-01-01T00:00:00Z",
            "2026-01-01t00:00:00z",
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T01:30:00+01:30",
            "2025-12-31T19:00:00-05:00",
            "2026-01-01 00:00:00",
            "2026-01-01T00:00:00",
            "1767225600000",
        ] {
            assert_eq!(parse_timestamp(text), Some(expected), "{text}");
        }
        assert_eq!(
            parse_timestamp("2026-01-01T00:00:00.5Z"),
            Some(expected + 500)
        );
        assert_eq!(
            parse_timestamp("2026-01-01T00:00:00.123456Z"),
            Some(expected + 123)
        );
        assert_eq!(parse_timestamp("1969-12-31T23:59:59Z"), Some(-1_000));
        assert_eq!(
            parse_timestamp("2024-02-29 12:00:00"),
            Some(1_709_208_000_000)
        );
        for bad in [
            "",
            "yesterday",
            "2026-02-30 00:00:00",
            "2026-13-01 00:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01T00:00:00+0100",
            "2026-01-01T00:00:00.Z",
            "2026/01/01 00:00:00",
            "12.5",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let input = "label,\"value\",host,Timestamp\n0,50,a,\"2026-01-01 00:00:00\"\n";
        let (result, out) = run_str(input);
        let summary = result.unwrap();
        assert_eq!(summary.rows, 1);
        assert_eq!(
            out,
            format!("{OUTPUT_HEADER}\n2026-01-01 00:00:00,50,0,,\n")
        );
    }

    #[test]
    fn missing_column_is_named() {
        let (result, out) = run_str("time,value\n1,2\n");
        match result {
            Err(ReplayError::MissingColumn { column, .. }) => assert_eq!(column, "timestamp"),
            other => panic!("{other:?}"),
        }
        assert_eq!(out, "");
        let (result, _) = run_str("timestamp,latency\n1,2\n");
        assert!(
            matches!(
                result,
                Err(ReplayError::MissingColumn {
                    column: "value",
                    ..
                })
            ),
            "{result:?}"
        );
        assert!(matches!(run_str("").0, Err(ReplayError::Empty)));
    }

    #[test]
    fn missing_values_and_rows_back_in_time_are_skipped_counted_and_harmless() {
        let clean: String = (0..300)
            .map(|i| format!("{},{}\n", i * 60_000, 50 + i % 7))
            .collect();
        let mut dirty = String::new();
        for (i, row) in clean.lines().enumerate() {
            dirty.push_str(row);
            dirty.push('\n');
            // After some rows: a missing reading, NaN, an infinity, a duplicate timestamp
            // and one from the past.
            let at = i as i64 * 60_000;
            match i {
                50 => dirty.push_str(&format!("{},\n", at + 1)),
                60 => dirty.push_str(&format!("{},NaN\n", at + 1)),
                70 => dirty.push_str(&format!("{},inf\n", at + 1)),
                80 => dirty.push_str(&format!("{at},9999\n")),
                90 => dirty.push_str(&format!("{},-5000\n", at - 600_000)),
                _ => {}
            }
        }
        let (clean_result, clean_out) = run_str(&format!("timestamp,value\n{clean}"));
        let (result, out) = run_str(&format!("timestamp,value\n{dirty}"));
        let summary = result.unwrap();
        assert_eq!(summary.rows, 305, "one output row per input row");
        assert_eq!(out.lines().count(), 306);
        assert_eq!((summary.skipped_values, summary.skipped_timestamps), (3, 2));
        assert!(
            summary
                .report()
                .contains("skipped_values=3 skipped_timestamps=2")
        );
        // The skipped rows score 0, and the others exactly as without them.
        let judged = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| {
                    !(l.ends_with(",,0,,")
                        || l.contains(",NaN,")
                        || l.contains(",inf,")
                        || l.contains(",9999,")
                        || l.contains(",-5000,"))
                })
                .map(str::to_owned)
                .collect()
        };
        for skipped in out
            .lines()
            .filter(|l| l.contains(",NaN,") || l.contains(",9999,") || l.contains(",-5000,"))
        {
            assert!(skipped.ends_with(",0,,"), "{skipped}");
        }
        assert_eq!(judged(&out), judged(&clean_out));
        assert_eq!(clean_result.unwrap().flagged, summary.flagged);
    }

    #[test]
    fn malformed_row_stops_with_line_and_column_after_the_rows_before() {
        let input = "timestamp,value\n1000,50\n\n2000,51\n3000,abc\n4000,52\n";
        let (result, out) = run_str(input);
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 5, column 2 (value): `abc` is not a number"
        );
        assert_eq!(out, format!("{OUTPUT_HEADER}\n1000,50,0,,\n2000,51,0,,\n"));

        let (result, _) = run_str("value,timestamp,label\n5,1000,0\n5,1000\n");
        assert_eq!(
            result.unwrap_err().to_string(),
            "line 3, column 3 (label): missing (the row is too short)"
        );
        let (result, _) = run_str("value,timestamp,label\n5,noon,0\n");
        assert!(
            result
                .unwrap_err()
                .to_string()
                .starts_with("line 2, column 2 (timestamp): `noon`")
        );
        let (result, _) = run_str("value,timestamp,label\n5,1000,2\n");
        assert_eq!(
            result.unwrap_err().to_string(),
            "line 2, column 3 (label): `2` is not a label (0 or 1)"
        );
    }

    #[test]
    fn spike_is_scored_and_labels_are_counted() {
        let mut input = String::from("timestamp,value,label\r\n");
        for i in 0..200 {
            let (value, label) = match i {
                100 | 101 => (900.0, 1),
                150 => (60.0, 1), // a labelled point the detector cannot see
                _ => (50.0 + (i % 5) as f64, 0),
            };
            input.push_str(&format!("{},{value},{label}\r\n", i * 60_000));
        }
        let (result, out) = run_str(&input);
        let summary = result.unwrap();
        assert_eq!(summary.rows, 200);
        let rows: Vec<&str> = out.lines().skip(1).collect();
        assert_eq!(rows.len(), 200);
        let spike: Vec<&str> = rows[100].split(',').collect();
        assert_eq!(spike[0], "6000000");
        let score: f64 = spike[2].parse().unwrap();
        assert!(score > 0.0 && score <= 1.0, "{score}");
        // A young series (a hundred rows) has little history to be sure with: flagged, at
        // whatever severity its short history allows.
        assert!(!spike[3].is_empty(), "{spike:?}");
        assert!(!spike[4].is_empty());
        assert_eq!(rows[99], "5940000,54,0,,");

        let labels = summary.labels.unwrap();
        assert_eq!(labels.true_positives, 2);
        assert_eq!(labels.false_negatives, 1);
        assert_eq!(labels.events, 2);
        assert_eq!(labels.events_detected, 1);
        // the rolling mean keeps the episode open while the spike is in its window: one
        // alarm, overlapping the labelled event
        assert_eq!(labels.false_alarms, 0, "{labels:?}");
        assert!(labels.false_positives > 0);
        let (tp, fp) = (2.0, labels.false_positives as f64);
        assert!((labels.precision() - tp / (tp + fp)).abs() < 1e-9);
        assert!((labels.recall() - 2.0 / 3.0).abs() < 1e-9);
        let (p, r) = (labels.precision(), labels.recall());
        assert!((labels.f1() - 2.0 * p * r / (p + r)).abs() < 1e-9);
        assert!(summary.report().contains("recall=0.6667"));
    }

    #[test]
    fn scorer_counts_events_and_false_alarms_as_runs() {
        let mut scorer = Scorer::default();
        // (label, flagged, firing): an alarm before the event, an event detected late, a
        // missed one, and a false alarm left open at the end. An episode stays one alarm
        // while unflagged rows wait for it to resolve.
        for (label, flagged, firing) in [
            (false, true, true),
            (false, false, true),
            (false, false, false),
            (true, false, false),
            (true, true, true),
            (false, true, true),
            (false, false, false),
            (true, false, false),
            (false, false, false),
            (false, true, true),
            (false, false, true),
        ] {
            scorer.add(label, flagged, firing);
        }
        let s = scorer.finish();
        assert_eq!((s.events, s.events_detected, s.false_alarms), (2, 1, 2));
        assert_eq!(s.event_recall(), 0.5);
    }
}
