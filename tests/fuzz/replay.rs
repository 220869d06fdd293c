//! The replay CSV reader ([`exwatch::replay::replay`]) with every latency model: arbitrary
//! bytes, and CSVs whose header and rows are built from edge cases (extreme timestamps and
//! values, quotes, BOMs, short rows, labels). Every input gives a summary or a
//! [`ReplayError`]; a summary's report renders; the output has one row per judged input row.

use exwatch::replay::{ReplayError, parse_timestamp, replay};
use exwatch::settings::{DetectSettings, Direction, ValueUnit};
use proptest::prelude::*;

use crate::{cases, nasty_text};

const MODELS: [&str; 6] = [
    "likelihood",
    "composite",
    "zscore",
    "iqr",
    "rolling_mean",
    "baseline_p90",
];

fn settings(model: &str, unit_any: bool, both: bool) -> DetectSettings {
    let mut s = DetectSettings::default();
    s.latency.select(model).expect("a known model");
    s.latency.unit = if unit_any {
        ValueUnit::Any
    } else {
        ValueUnit::Ms
    };
    s.latency.direction = if both { Direction::Both } else { Direction::Up };
    s
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "timestamp,value", "timestamp,value,label", "value,timestamp", "label,value,timestamp",
            "\u{feff}timestamp,value,label", "\"timestamp\",\"value\"", " Timestamp , VALUE ",
            "x,y,timestamp,z,value,label", "timestamp,value,label,value", "timestamp",
            "timestamp,timestamp", "", "timestamp;value",
        ]).prop_map(str::to_owned),
        1 => nasty_text(),
    ]
}

fn timestamp(i: usize) -> impl Strategy<Value = String> {
    let base = 1_767_225_600_000i64 + i as i64 * 1000;
    prop_oneof![
        6 => Just(base.to_string()),
        1 => any::<i64>().prop_map(|t| t.to_string()),
        1 => prop::sample::select(vec![
            i64::MAX, i64::MIN, 0, -1, 253_402_300_799_999, -62_135_596_800_000,
        ]).prop_map(|t| t.to_string()),
        1 => prop::sample::select(vec![
            "2026-01-01T00:00:00Z", "2026-01-01 00:00:00", "2026-01-01T00:00:00.123456789+14:00",
            "9999-12-31T23:59:60-23:59", "0000-01-01T00:00:00Z", "2024-02-29T00:00:00Z",
            "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+99:99", "2026-01-01T00:00:00.999999999999999999999Z",
            "2026-01-01T00:00:00+", "2026-01-01t00:00:00z", "\"2026-01-01 00:00:01\"",
        ]).prop_map(str::to_owned),
        1 => nasty_text(),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0.0f64..500.0).prop_map(|v| format!("{v:.3}")),
        1 => any::<f64>().prop_map(|v| v.to_string()),
        1 => prop::sample::select(vec![
            "", "NaN", "inf", "-inf", "0", "-0", "1e308", "-1e308", "5e-324", "1.7976931348623157e308",
            "-1.7976931348623157e308", "1e-320", "9007199254740993", "\" 5 \"", "1e400",
        ]).prop_map(str::to_owned),
        1 => nasty_text(),
    ]
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec!["0", "1"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["true", "false", "0.0", "1.0", "", "2"]).prop_map(str::to_owned),
        1 => nasty_text(),
    ]
}

/// A CSV: a header and up to `rows` rows, columns in the header's order or shuffled.
fn csv() -> impl Strategy<Value = String> {
    (
        header(),
        prop::collection::vec((any::<u8>(), any::<bool>()), 0..300),
    )
        .prop_flat_map(|(h, shapes)| {
            let rows: Vec<_> = shapes
                .into_iter()
                .enumerate()
                .map(|(i, (extra, crlf))| (timestamp(i), value(), label(), Just(extra), Just(crlf)))
                .collect();
            (Just(h), rows).prop_map(|(h, rows)| {
                let mut out = format!("{h}\n");
                for (t, v, l, extra, crlf) in rows {
                    // The row's shape: usually in the header's order; sometimes short, long,
                    // reversed or blank.
                    let row = match extra % 16 {
                        0 => String::new(),
                        1 => t.clone(),
                        2 => format!("{v},{t}"),
                        3 => format!("{t},{v},{l},extra,,"),
                        4 => format!("{l},{v},{t}"),
                        _ => format!("{t},{v},{l}"),
                    };
                    out.push_str(&row);
                    out.push_str(if crlf { "\r\n" } else { "\n" });
                }
                out
            })
        })
}

fn check(input: &[u8], model: &str, unit_any: bool, both: bool) -> Result<(), TestCaseError> {
    let mut out = Vec::new();
    match replay(input, &mut out, &settings(model, unit_any, both)) {
        Ok(summary) => {
            let _ = summary.report();
            let _ = (summary.days(), summary.false_alarms_per_day());
            if let Some(l) = &summary.labels {
                let _ = (l.precision(), l.recall(), l.f1(), l.event_recall());
            }
            let lines = out.iter().filter(|&&b| b == b'\n').count() as u64;
            prop_assert_eq!(lines, summary.rows + 1, "one output row per input row");
        }
        Err(ReplayError::Malformed { line, column, .. }) => prop_assert!(line >= 2 && column >= 1),
        Err(_) => {}
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(120))]

    #[test]
    fn arbitrary_bytes_give_an_outcome(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            "timestamp,value(,label)?\n[0-9,.\\-eE\n]{0,400}".prop_map(String::into_bytes),
        ],
        model in prop::sample::select(MODELS.to_vec()),
        unit_any in any::<bool>(),
        both in any::<bool>(),
    ) {
        check(&input, model, unit_any, both)?;
    }

    #[test]
    fn edge_case_csvs_give_an_outcome(
        input in csv(),
        model in prop::sample::select(MODELS.to_vec()),
        unit_any in any::<bool>(),
        both in any::<bool>(),
    ) {
        check(input.as_bytes(), model, unit_any, both)?;
    }

    #[test]
    fn any_timestamp_text_parses_or_not(text in prop_oneof![nasty_text(), "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,12})?(Z|[+\\-][0-9]{2}:?[0-9]{2})?"]) {
        let _ = parse_timestamp(&text);
    }
}
