//! Checks shared by the sections of the configuration and by the components that read their
//! own tables (each channel's `config.rs`): names, URLs, durations, numbers, severities, secrets
//! named by `*_env` keys, lists, and the delivery retry keys every channel has. Pure: each
//! reports its problems on the [`Table`] with the key path and returns what it could read.

use std::time::Duration;

use awc::http::Uri;

use super::Secret;
use super::raw::Table;
use super::settings::RetrySettings;
use crate::messages::Severity;

/// How a `*_env` key's variable is looked up.
pub(crate) type Env<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// The shortest probe interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The shortest timeout accepted.
pub(crate) const MIN_TIMEOUT: Duration = Duration::from_millis(10);

/// True for a lowercase `[a-z0-9_-]+` name.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Reports a name that is not lowercase `[a-z0-9_-]+`; true when it is fine.
pub(crate) fn check_name(parent: &Table<'_>, name: &str) -> bool {
    let ok = is_valid_name(name);
    if !ok {
        parent.problems().push(
            parent.path_of(name),
            format!("invalid name {name:?}; names are lowercase [a-z0-9_-]+"),
        );
    }
    ok
}

/// Checks an absolute http(s) URL with a host; `None` means a problem was reported.
pub(crate) fn check_url(t: &Table<'_>, key: &str, url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() {
        t.problem(key, "empty URL; expected an absolute http(s) URL");
        return None;
    }
    if !url.contains("://") {
        t.problem(
            key,
            format!("relative URL {url:?}; expected an absolute http(s) URL"),
        );
        return None;
    }
    let uri = match url.parse::<Uri>() {
        Ok(uri) => uri,
        Err(e) => {
            t.problem(key, format!("invalid URL {url:?} ({e})"));
            return None;
        }
    };
    match uri.scheme_str() {
        Some("http" | "https") => {}
        other => {
            t.problem(
                key,
                format!(
                    "unsupported scheme {:?} in {url:?}; expected http or https",
                    other.unwrap_or("")
                ),
            );
            return None;
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        t.problem(key, format!("URL {url:?} has no host"));
        return None;
    }
    Some(url.to_owned())
}

/// A duration of at least `min` (`Duration::ZERO` excluded in any case), or `default`.
pub(crate) fn duration_at_least(
    t: &mut Table<'_>,
    key: &str,
    min: Duration,
    default: Duration,
) -> Duration {
    match t.duration(key) {
        Some(d) if d.is_zero() => {
            t.problem(key, "must be greater than zero");
            default
        }
        Some(d) if d < min => {
            t.problem(
                key,
                format!(
                    "{} is too short; the minimum is {}",
                    humantime::format_duration(d),
                    humantime::format_duration(min)
                ),
            );
            default
        }
        Some(d) => d,
        None => default,
    }
}

/// A duration of at least `min` when the key is present (a bad value is reported and read as
/// absent).
pub(crate) fn opt_duration_at_least(
    t: &mut Table<'_>,
    key: &str,
    min: Duration,
) -> Option<Duration> {
    if !t.has(key) {
        return None;
    }
    // Every problem falls back to zero, which is never valid.
    let d = duration_at_least(t, key, min, Duration::ZERO);
    (!d.is_zero()).then_some(d)
}

/// A positive duration, or `default`.
pub(crate) fn positive_duration(t: &mut Table<'_>, key: &str, default: Duration) -> Duration {
    duration_at_least(t, key, Duration::ZERO, default)
}

/// An integer of at least `min`, or `default`.
pub(crate) fn usize_at_least(t: &mut Table<'_>, key: &str, min: usize, default: usize) -> usize {
    match t.usize(key) {
        Some(n) if n < min => {
            t.problem(key, format!("{n} is too small; the minimum is {min}"));
            default
        }
        Some(n) => n,
        None => default,
    }
}

/// An integer in `min..=max`, or `default`.
pub(crate) fn usize_between(
    t: &mut Table<'_>,
    key: &str,
    min: usize,
    max: usize,
    default: usize,
) -> usize {
    match usize_at_least(t, key, min, default) {
        n if n > max => {
            t.problem(key, format!("{n} is too large; the maximum is {max}"));
            default
        }
        n => n,
    }
}

/// A `u32` of at least `min`, or `default`.
pub(crate) fn u32_at_least(t: &mut Table<'_>, key: &str, min: u32, default: u32) -> u32 {
    match t.u32(key) {
        Some(n) if n < min => {
            t.problem(key, format!("{n} is too small; the minimum is {min}"));
            default
        }
        Some(n) => n,
        None => default,
    }
}

/// A number > 0, or `default`.
pub(crate) fn positive_f64(t: &mut Table<'_>, key: &str, default: f64) -> f64 {
    match t.f64(key) {
        Some(n) if n <= 0.0 => {
            t.problem(key, format!("{n} must be greater than zero"));
            default
        }
        Some(n) => n,
        None => default,
    }
}

/// A number ≥ 0, or `default`.
pub(crate) fn non_negative_f64(t: &mut Table<'_>, key: &str, default: f64) -> f64 {
    match t.f64(key) {
        Some(n) if n < 0.0 => {
            t.problem(key, format!("{n} must not be negative"));
            default
        }
        Some(n) => n,
        None => default,
    }
}

/// A severity (`info`, `warning`, `critical`), or `default`.
pub(crate) fn severity(t: &mut Table<'_>, key: &str, default: Severity) -> Severity {
    match t.str(key) {
        Some(s) => Severity::parse(s.trim()).unwrap_or_else(|| {
            t.problem(
                key,
                format!("unknown severity {s:?}; expected info, warning or critical"),
            );
            default
        }),
        None => default,
    }
}

pub(crate) fn retry(t: &mut Table<'_>) -> RetrySettings {
    let d = RetrySettings::default();
    let out = RetrySettings {
        max_attempts: t.u32("max_attempts").unwrap_or(d.max_attempts),
        initial_backoff: positive_duration(t, "initial_backoff", d.initial_backoff),
        max_backoff: positive_duration(t, "max_backoff", d.max_backoff),
        timeout: duration_at_least(t, "timeout", MIN_TIMEOUT, d.timeout),
    };
    if out.max_backoff < out.initial_backoff {
        t.problem(
            "max_backoff",
            format!(
                "{} must not be shorter than initial_backoff ({})",
                humantime::format_duration(out.max_backoff),
                humantime::format_duration(out.initial_backoff)
            ),
        );
    }
    out
}

/// Checks a URL held in a secret. The error says what is wrong without quoting any of it.
pub(crate) fn check_secret_url(url: &str) -> Result<(), &'static str> {
    if url.is_empty() {
        return Err("is empty");
    }
    if !url.contains("://") {
        return Err("is not an absolute URL");
    }
    let uri = url.parse::<Uri>().map_err(|_| "is not a valid URL")?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("has a scheme other than http or https");
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    Ok(())
}

/// A required `*_env` key and the secret it names: `(variable name, secret)`.
pub(crate) fn required_secret(
    t: &mut Table<'_>,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(String, Secret)> {
    let var = t
        .req_str(key, "the name of an environment variable")?
        .trim()
        .to_owned();
    let secret = secret_from_env(t, key, &var, env)?;
    Some((var, secret))
}

/// True for an E.164-style number: `+`, then 7 to 15 digits, the first not 0.
pub(crate) fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

/// A required list of strings (a lone string counts as a list of one), trimmed; `None` when
/// missing, wrongly typed or empty (each reported).
pub(crate) fn required_list(t: &mut Table<'_>, key: &str, expected: &str) -> Option<Vec<String>> {
    if !t.has(key) {
        t.mark(key);
        t.missing(key, expected);
        return None;
    }
    let items: Vec<String> = t
        .str_or_list(key)?
        .into_iter()
        .map(|s| s.trim().to_owned())
        .collect();
    if items.is_empty() {
        t.problem(key, format!("empty list; expected {expected}"));
        return None;
    }
    Some(items)
}

/// The path of item `i` of list `key` (`to[1]`), for problems about one entry.
pub(crate) fn item_key(key: &str, i: usize) -> String {
    format!("{key}[{i}]")
}

/// Looks up the secret named by a `*_env` key. Never prints the value.
pub(crate) fn secret_from_env(
    t: &Table<'_>,
    key: &str,
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Secret> {
    if var.is_empty() {
        t.problem(key, "empty; expected the name of an environment variable");
        return None;
    }
    if var.contains(['=', '\0']) {
        t.problem(
            key,
            format!("{var:?} is not a valid environment variable name"),
        );
        return None;
    }
    match env(var) {
        Some(v) if !v.is_empty() => Some(Secret::new(v)),
        Some(_) => {
            t.problem(key, format!("environment variable {var} is empty"));
            None
        }
        None => {
            t.problem(key, format!("environment variable {var} is not set"));
            None
        }
    }
}
