//! Property-based fuzzing (proptest, stable toolchain) of every input exwatch takes from outside:
//! the config loader, the replay CSV reader, the exchanges' answers (and the probe's reading of
//! them off the wire), the API's bodies and query
//! strings. Each property is "any input gives a typed outcome, never a panic", plus what each
//! target can say about the outcome (a config error lists its problems with key paths, a valid
//! config stays valid, an API answer is never a 5xx).
//!
//! Cases per target: a few seconds' worth by default (CI); `EXWATCH_FUZZ_CASES=<n>` runs `n`
//! cases per target (e.g. `EXWATCH_FUZZ_CASES=200000 cargo test --release --test fuzz`).
//! A crash found here is fixed with a named regression test beside its target.

mod api;
mod config;
mod exchange;
mod probe_http;
mod replay;

use proptest::test_runner::Config;

/// The proptest configuration of a target: `default` cases, or `EXWATCH_FUZZ_CASES`. No
/// persistence file: every crash found becomes a named regression test instead.
pub fn cases(default: u32) -> Config {
    let cases = std::env::var("EXWATCH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        failure_persistence: None,
        // Rejections are rare here; do not stop a long run for them.
        max_global_rejects: u32::MAX,
        ..Config::default()
    }
}

/// A string strategy that mixes arbitrary unicode with the edge cases parsers trip on.
pub fn nasty_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        prop::sample::select(vec![
            "",
            " ",
            "-",
            "--1",
            "0",
            "-0",
            "00",
            "1e309",
            "-1e309",
            "NaN",
            "nan",
            "inf",
            "-inf",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "18446744073709551616",
            "99999999999999999999999",
            "0.0",
            "1.5",
            "-1",
            "1_",
            "_1",
            "now",
            "1h",
            "0s",
            "100ms",
            "584942417355y",
            "18446744073709551615s",
            "1d 2h",
            "1 h",
            "2026-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999Z",
            "10000-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "0000-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-01-01 00:00:60",
            "2026-01-01T24:00:00+25:00",
            "\u{feff}",
            "é",
            "💥",
            "\0",
            "\"",
            "'",
            "\\",
            "a_b",
            "*",
            ":",
            "latency_ms",
            "critical",
            "firing",
        ])
        .prop_map(str::to_owned),
    ]
}
