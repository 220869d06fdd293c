//! `exwatch replay` as a user runs it: the labelled corpus in `tests/data/` (see its README for
//! the injected faults and the bounds asserted here), and bad input through the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Runs the binary; returns (exit code, stderr, output file's text).
fn replay(input: &Path) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.csv");
    let result = Command::new(env!("CARGO_BIN_EXE_exwatch"))
        .args(["replay", "--input"])
        .arg(input)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    (
        result.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&result.stderr).into_owned(),
        text,
    )
}

/// The `key=value` figure `key` from the report.
fn figure(report: &str, key: &str) -> f64 {
    report
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key} in {report}"))
        .parse()
        .unwrap()
}

#[test]
fn replay_corpus_recall_and_false_alarms_stay_within_bounds() {
    // (file, least event recall, most false alarms per day): see tests/data/README.md.
    for (file, min_recall, max_false_per_day) in [
        ("spikes.csv", 1.0, 12.0),
        ("level_shifts.csv", 1.0, 1.0),
        ("ramps.csv", 1.0, 10.0),
        ("noise.csv", 1.0, 6.0),
    ] {
        let (code, report, out) = replay(&data(file));
        assert_eq!(code, 0, "{file}: {report}");
        let input_rows = std::fs::read_to_string(data(file)).unwrap().lines().count();
        assert_eq!(
            out.lines().count(),
            input_rows,
            "{file}: one row per input row"
        );
        assert!(out.starts_with("timestamp,value,anomaly_score,severity,detector\n"));
        for row in out.lines().skip(1) {
            let score: f64 = row.split(',').nth(2).unwrap().parse().unwrap();
            assert!((0.0..=1.0).contains(&score), "{file}: {row}");
        }
        for key in ["precision", "recall", "f1"] {
            figure(&report, key);
        }
        let recall = figure(&report, "event_recall");
        let false_per_day = figure(&report, "false_alarms_per_day");
        assert!(recall >= min_recall, "{file}: event recall {recall}");
        assert!(
            false_per_day <= max_false_per_day,
            "{file}: {false_per_day} false alarms per day"
        );
    }
}

#[test]
fn replay_level_shifts_are_flagged_throughout() {
    let (_, report, _) = replay(&data("level_shifts.csv"));
    assert!(figure(&report, "recall") >= 0.95, "{report}");
    assert!(figure(&report, "precision") >= 0.95, "{report}");
}

#[test]
fn replay_malformed_row_exits_2_naming_line_and_column_and_truncates_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(
        &input,
        "timestamp,value\n2026-01-01 00:00:00,50\n2026-01-01 00:01:00,51\n2026-01-01 00:02:00,5x\n2026-01-01 00:03:00,52\n",
    )
    .unwrap();
    let (code, stderr, out) = replay(&input);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("line 4, column 2 (value)"),
        "stderr: {stderr}"
    );
    assert_eq!(
        out,
        "timestamp,value,anomaly_score,severity,detector\n2026-01-01 00:00:00,50,0,,\n2026-01-01 00:01:00,51,0,,\n"
    );
}

#[test]
fn replay_missing_column_exits_2_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "time,value\n1,2\n").unwrap();
    let (code, stderr, _) = replay(&input);
    assert_eq!(code, 2);
    assert!(stderr.contains("no `timestamp` column"), "{stderr}");

    let (code, stderr, _) = replay(&dir.path().join("absent.csv"));
    assert_eq!(code, 1, "{stderr}");
}
