//! The config loader ([`exwatch::settings::from_toml_str`], the path `load` takes without the
//! environment): arbitrary text, and the shipped configs mutated line by line. Every outcome
//! is `Ok` or a [`ConfigError`]; an `Invalid` one lists at least one problem, each with a key
//! path and a message. Mutations that do not change the meaning (comments, blank lines,
//! indentation, the order of the tables) keep a valid config valid.

use exwatch::ConfigError;
use exwatch::settings::from_toml_str;
use proptest::prelude::*;

use crate::{cases, nasty_text};

const EXAMPLE: &str = include_str!("../../config/example.toml");
const DEFAULT: &str = exwatch::settings::DEFAULT_TOML;

/// Every secret the example names is set; URL secrets hold a URL.
fn env(name: &str) -> Option<String> {
    Some(if name.contains("URL") {
        "https://discord.com/api/webhooks/1/token".to_owned()
    } else {
        "a-secret-value".to_owned()
    })
}

/// The property every input must keep: a typed outcome whose problems name their key.
fn check(text: &str) -> Result<(), TestCaseError> {
    match from_toml_str(text, &env) {
        Ok(_) => {}
        Err(ConfigError::Source(message)) => prop_assert!(!message.is_empty()),
        Err(ConfigError::Invalid(problems)) => {
            prop_assert!(!problems.is_empty(), "Invalid without problems");
            for p in &problems {
                prop_assert!(!p.key.is_empty(), "problem without a key path: {p:?}");
                prop_assert!(!p.message.is_empty(), "problem without a message: {p:?}");
            }
        }
    }
    Ok(())
}

/// A TOML basic string holding `s` (control characters escaped).
fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML value: edge-case literals, or any text as a string.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "\"\"", "0", "-1", "1", "2", "9223372036854775807", "-9223372036854775808", "1e308",
            "-1e308", "5e-324", "nan", "inf", "-inf", "0.0", "-0.0", "true", "false", "[]",
            "[1, \"a\"]", "[[]]", "{}", "{ a = 1 }", "{ exchange = \"okx\" }", "\"0s\"", "\"1ms\"",
            "\"100ms\"", "\"99999999999999d\"", "\"18446744073709551615s\"", "\"1h 30m\"",
            "1979-05-27T07:32:00Z", "07:32:00", "\"http://\"", "\"https://[::1]:0/\"",
            "\"ftp://x/y\"", "\"http://127.0.0.1:9/x\"", "\"127.0.0.1:0\"", "\"0.0.0.0:99999\"",
            "\":memory:\"", "\"\"", "\"binance\"", "\"bybit\"", "\"okx\"", "\"http\"", "\"time\"",
            "\"ticker\"", "\"status\"", "\"webhook\"", "\"llm_triage\"", "\"sms\"", "\"line\"",
            "\"discord\"", "\"alertmanager\"", "\"critical\"", "\"10%\"", "\"1000%\"", "\"-5%\"",
            "\">\"", "\"<=\"", "\"==\"", "\"BTC/USDT\"", "\"/\"", "[\"+66800000000\"]",
            "[0.95, 0.99, 0.999]", "[1.0, 0.5]", "[]", "\"ms\"", "\"any\"", "\"both\"",
        ])
        .prop_map(str::to_owned),
        1 => nasty_text().prop_map(|s| quoted(&s)),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|f| format!("{f:?}")),
    ]
}

/// A key: the ones the loader reads, or any.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "url", "check", "kind", "symbol", "interval", "timeout", "max_body_bytes",
            "max_connections", "confirm_interval", "confirm_probes", "confirm_per_minute",
            "recv_window", "ahead_window", "type", "min_severity", "max_attempts",
            "initial_backoff", "max_backoff", "secret_env", "token_env", "webhook_url_env",
            "api_key_env", "to", "from", "urls", "api_base", "base_url", "model", "window",
            "min_samples", "threshold", "op", "for", "scope", "severity", "metric", "levels",
            "history", "min_history", "bucket", "listen", "path", "region", "probe_threads",
            "failure_threshold", "recovery_timeout", "half_open_max_calls", "dedup_window",
            "flap_hold", "grace", "max_restarts", "within", "z_threshold", "resolve_after",
            "warn_bps", "critical_bps", "stale_after", "warn_ms", "critical_ms", "info_fraction",
            "warn_fraction", "critical_fraction", "rate_threshold", "consecutive_failures",
            "recovery_successes", "model_kind", "unit", "direction", "calls_per_hour",
            "language", "max_tokens_field", "resend_interval", "token_env", "exchange",
            "endpoint",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_\\-]{1,12}",
        1 => nasty_text().prop_map(|s| quoted(&s)),
    ]
}

/// A table header: the example's, made-up ones, broken ones.
fn header() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        3 => prop::sample::select(vec![
            "monitor", "http", "store", "defaults", "breaker", "detect", "detect.latency",
            "detect.errors", "detect.price", "detect.clock", "detect.baseline", "router",
            "supervision", "shutdown", "exchanges", "exchanges.okx", "exchanges.x",
            "exchanges.x.endpoints", "exchanges.x.endpoints.y", "exchanges.okx.endpoints.time",
            "channels", "channels.c", "rules", "rules.r", "exchanges.x.endpoints.y.z",
            "channels.log.extra",
        ])
        .prop_map(str::to_owned),
        1 => "[a-zA-Z0-9_.\\- ]{0,30}",
    ];
    (name, any::<bool>()).prop_map(|(n, array)| {
        if array {
            format!("[[{n}]]")
        } else {
            format!("[{n}]")
        }
    })
}

/// One structural edit of a line-oriented TOML text.
#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    SetValue(usize, String),
    Insert(usize, String),
    Header(usize, String),
    Uncomment(usize),
    Truncate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        1 => at.prop_map(Edit::Delete),
        1 => at.prop_map(Edit::Duplicate),
        1 => (at, any::<usize>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        4 => (at, value()).prop_map(|(a, v)| Edit::SetValue(a, v)),
        2 => (at, key(), value()).prop_map(|(a, k, v)| Edit::Insert(a, format!("{k} = {v}"))),
        1 => (at, header()).prop_map(|(a, h)| Edit::Header(a, h)),
        1 => at.prop_map(Edit::Uncomment),
        1 => (at, any::<usize>()).prop_map(|(a, b)| Edit::Truncate(a, b)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for e in edits {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match e {
            Edit::Delete(i) => {
                lines.remove(i % n);
            }
            Edit::Duplicate(i) => {
                let l = lines[i % n].clone();
                lines.insert(i % n, l);
            }
            Edit::Swap(a, b) => lines.swap(a % n, b % n),
            Edit::SetValue(i, v) => {
                let l = &mut lines[i % n];
                if let Some((k, _)) = l.split_once('=') {
                    *l = format!("{}= {v}", k);
                }
            }
            Edit::Insert(i, line) | Edit::Header(i, line) => {
                lines.insert(i % (n + 1), line.clone())
            }
            Edit::Uncomment(i) => {
                // Prefer a commented-out line: the examples' optional blocks come alive.
                let i = (0..n)
                    .map(|k| (i + k) % n)
                    .find(|&k| lines[k].starts_with("# "))
                    .unwrap_or(i % n);
                lines[i] = lines[i].trim_start_matches("# ").to_owned();
            }
            Edit::Truncate(i, cut) => {
                let l = &mut lines[i % n];
                let cut = cut % (l.len() + 1);
                let cut = (0..=cut)
                    .rev()
                    .find(|&c| l.is_char_boundary(c))
                    .unwrap_or(0);
                l.truncate(cut);
            }
        }
    }
    lines.join("\n")
}

/// A meaning-preserving rewrite: comments and blank lines between lines, indentation, trailing
/// comments, and the tables in another order.
fn rewrite(text: &str, seed: &[u32]) -> String {
    let mut k = 0;
    let mut next = || {
        k += 1;
        seed[k % seed.len()]
    };
    // Blocks: what precedes the first header, then one block per header.
    let mut blocks: Vec<Vec<String>> = vec![Vec::new()];
    for line in text.lines() {
        if line.starts_with('[') {
            blocks.push(Vec::new());
        }
        let mut line = line.to_owned();
        match next() % 6 {
            0 => line = format!("  {line}"),
            1 if !line.contains('#') && !line.trim().is_empty() => line.push_str("   # fuzz"),
            _ => {}
        }
        blocks.last_mut().expect("a block").push(line);
        match next() % 5 {
            0 => blocks.last_mut().expect("a block").push(String::new()),
            1 => blocks
                .last_mut()
                .expect("a block")
                .push("# [fuzz] = 1".into()),
            _ => {}
        }
    }
    let mut tables = blocks.split_off(1);
    // A Fisher-Yates shuffle driven by the seed.
    for i in (1..tables.len()).rev() {
        tables.swap(i, next() as usize % (i + 1));
    }
    blocks.extend(tables);
    blocks.concat().join("\n")
}

#[test]
fn the_shipped_configs_are_valid() {
    from_toml_str(EXAMPLE, &env).expect("example.toml is valid");
    from_toml_str(DEFAULT, &|_| None).expect("default.toml is valid");
}

proptest! {
    #![proptest_config(cases(400))]

    #[test]
    fn arbitrary_text_gives_an_outcome(text in prop_oneof![any::<String>(), "[ -~\n]{0,300}"]) {
        check(&text)?;
    }

    #[test]
    fn mutated_configs_give_an_outcome(
        base in prop::sample::select(vec![EXAMPLE, DEFAULT]),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        check(&apply(base, &edits))?;
    }

    #[test]
    fn a_valid_config_stays_valid(
        base in prop::sample::select(vec![EXAMPLE, DEFAULT]),
        seed in prop::collection::vec(any::<u32>(), 1..64),
    ) {
        let text = rewrite(base, &seed);
        let env = |name: &str| if std::ptr::eq(base, DEFAULT) { None } else { env(name) };
        if let Err(e) = from_toml_str(&text, &env) {
            return Err(TestCaseError::fail(format!("{e}\n--- the rewritten config:\n{text}")));
        }
    }
}

/// Found by `mutated_configs_give_an_outcome`: the default config without the Bybit time
/// endpoint's `url` line.
#[test]
fn an_endpoint_without_its_url_names_the_key() {
    let text: String = DEFAULT
        .lines()
        .filter(|l| *l != "url = \"https://api.bybit.com/v5/market/time\"")
        .collect::<Vec<_>>()
        .join("\n");
    let err = from_toml_str(&text, &|_| None).expect_err("a url is required");
    let ConfigError::Invalid(problems) = err else {
        panic!("expected Invalid, got {err}");
    };
    assert!(
        problems.iter().all(|p| !p.key.is_empty()),
        "every problem names its key: {problems:?}"
    );
}

/// Found by `mutated_configs_give_an_outcome`: `"" = ""` (an empty quoted key, valid TOML) was
/// reported as an unknown key with an empty key path. Keys that are not bare are quoted in
/// paths.
#[test]
fn an_empty_or_dotted_key_is_named_quoted() {
    for (line, key) in [
        ("\"\" = \"\"", "\"\""),
        ("\"a b\" = 1", "\"a b\""),
        ("[monitor]\n\"\" = 1", "monitor.\"\""),
    ] {
        let text = format!("{line}\n{DEFAULT}");
        let text = if line.starts_with('[') {
            DEFAULT.replace("[monitor]", line)
        } else {
            text
        };
        let err = from_toml_str(&text, &|_| None).expect_err("an unknown key");
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err}");
        };
        assert!(
            problems
                .iter()
                .any(|p| p.key == key && p.message.contains("unknown key")),
            "{line}: {problems:?}"
        );
    }
}
