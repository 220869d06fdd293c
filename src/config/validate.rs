//! From the tree as written to [`Settings`]. Pure: no I/O; secrets are looked up through the
//! `env` closure. Every problem is collected with its key path; nothing stops at the first.

use std::net::SocketAddr;
use std::time::Duration;

use awc::http::Uri;
use config::{Map, Value};

use super::raw::{Problems, Table};
use super::settings::*;
use crate::error::Problem;
use crate::messages::{Name, Severity};

/// The shortest probe interval accepted.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The shortest timeout accepted.
const MIN_TIMEOUT: Duration = Duration::from_millis(10);

/// Channel types this release can deliver to.
const AVAILABLE_CHANNELS: &[&str] = &["log", "webhook"];
/// Channel types of the design that are recognised but not deliverable yet.
const LATER_CHANNELS: &[&str] = &["discord", "line", "sms", "alertmanager", "llm_triage"];
/// Keys of some channel type (so that a key of another type is "not a key of a … channel"
/// rather than "unknown key").
const ANY_CHANNEL_KEYS: &[&str] = &[
    "url",
    "secret_env",
    "to",
    "token_env",
    "api_base",
    "webhook_url_env",
    "account_sid_env",
    "auth_token_env",
    "from",
    "urls",
    "base_url",
    "model",
    "api_key_env",
    "language",
    "calls_per_hour",
];

/// Validates a merged tree. `env` looks up environment variables named by `*_env` keys.
pub(crate) fn validate(
    root: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, Vec<Problem>> {
    let problems = Problems::default();
    let mut t = Table::root(root, &problems);
    let settings = Settings {
        monitor: monitor(t.table("monitor")),
        http: http(t.table("http")),
        store: store(t.table("store")),
        defaults: defaults(t.table("defaults")),
        breaker: breaker(t.table("breaker")),
        exchanges: Vec::new(),
        detect: detect(t.table("detect")),
        router: router(t.table("router")),
        channels: channels(t.table("channels"), env),
        supervision: supervision(t.table("supervision")),
        shutdown: shutdown(t.table("shutdown")),
    };
    let exchanges = exchanges(t.table("exchanges"), &settings.defaults);
    t.finish();
    if problems.is_empty() {
        Ok(Settings {
            exchanges,
            ..settings
        })
    } else {
        Err(problems.into_sorted())
    }
}

// ---------------------------------------------------------------------------------------------
// Small checks shared by the sections.

/// True for a lowercase `[a-z0-9_-]+` name.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Reports a name that is not lowercase `[a-z0-9_-]+`; true when it is fine.
fn check_name(parent: &Table<'_>, name: &str) -> bool {
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
fn check_url(t: &Table<'_>, key: &str, url: &str) -> Option<String> {
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
fn duration_at_least(t: &mut Table<'_>, key: &str, min: Duration, default: Duration) -> Duration {
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

/// A positive duration, or `default`.
fn positive_duration(t: &mut Table<'_>, key: &str, default: Duration) -> Duration {
    duration_at_least(t, key, Duration::ZERO, default)
}

/// An integer of at least `min`, or `default`.
fn usize_at_least(t: &mut Table<'_>, key: &str, min: usize, default: usize) -> usize {
    match t.usize(key) {
        Some(n) if n < min => {
            t.problem(key, format!("{n} is too small; the minimum is {min}"));
            default
        }
        Some(n) => n,
        None => default,
    }
}

/// A `u32` of at least `min`, or `default`.
fn u32_at_least(t: &mut Table<'_>, key: &str, min: u32, default: u32) -> u32 {
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
fn positive_f64(t: &mut Table<'_>, key: &str, default: f64) -> f64 {
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
fn non_negative_f64(t: &mut Table<'_>, key: &str, default: f64) -> f64 {
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
fn severity(t: &mut Table<'_>, key: &str, default: Severity) -> Severity {
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

// ---------------------------------------------------------------------------------------------
// Sections.

fn monitor(mut t: Table<'_>) -> MonitorSettings {
    let d = MonitorSettings::default();
    let region = match t.str("region") {
        Some(r) if r.trim().is_empty() => {
            t.problem("region", "must not be empty");
            d.region
        }
        Some(r) => Name::from(r.trim()),
        None => d.region,
    };
    t.finish();
    MonitorSettings { region }
}

fn http(mut t: Table<'_>) -> HttpSettings {
    let d = HttpSettings::default();
    let listen = match t.str("listen") {
        Some(s) => s.trim().parse::<SocketAddr>().unwrap_or_else(|_| {
            t.problem(
                "listen",
                format!("invalid socket address {s:?}; expected e.g. \"127.0.0.1:9898\""),
            );
            d.listen
        }),
        None => d.listen,
    };
    t.finish();
    HttpSettings { listen }
}

fn store(mut t: Table<'_>) -> StoreSettings {
    let d = StoreSettings::default();
    let path = match t.str("path") {
        Some(p) if p.trim().is_empty() => {
            t.problem(
                "path",
                "must not be empty; use \":memory:\" to keep nothing",
            );
            d.path
        }
        Some(p) => p,
        None => d.path,
    };
    t.finish();
    StoreSettings { path }
}

fn defaults(mut t: Table<'_>) -> EndpointDefaults {
    let d = EndpointDefaults::default();
    let out = EndpointDefaults {
        interval: duration_at_least(&mut t, "interval", MIN_INTERVAL, d.interval),
        timeout: duration_at_least(&mut t, "timeout", MIN_TIMEOUT, d.timeout),
        max_body_bytes: usize_at_least(&mut t, "max_body_bytes", 1, d.max_body_bytes),
        max_connections: usize_at_least(&mut t, "max_connections", 1, d.max_connections),
    };
    t.finish();
    out
}

fn breaker(mut t: Table<'_>) -> BreakerSettings {
    let d = BreakerSettings::default();
    let out = BreakerSettings {
        failure_threshold: u32_at_least(&mut t, "failure_threshold", 1, d.failure_threshold),
        recovery_timeout: positive_duration(&mut t, "recovery_timeout", d.recovery_timeout),
        half_open_max_calls: u32_at_least(&mut t, "half_open_max_calls", 1, d.half_open_max_calls),
    };
    t.finish();
    out
}

fn exchanges(mut t: Table<'_>, defaults: &EndpointDefaults) -> Vec<ExchangeSettings> {
    let entries = t.entries();
    if entries.is_empty() {
        t.problem_here("no exchanges; configure at least one exchange with at least one endpoint");
    }
    let mut out = Vec::new();
    for (name, x) in entries {
        let name_ok = check_name(&t, &name);
        if let Some(x) = exchange(x, &name, defaults) {
            if name_ok {
                out.push(x);
            }
        }
    }
    t.finish();
    out
}

fn exchange(mut t: Table<'_>, name: &str, defaults: &EndpointDefaults) -> Option<ExchangeSettings> {
    let max_connections = usize_at_least(&mut t, "max_connections", 1, defaults.max_connections);
    let mut eps = t.table("endpoints");
    let entries = eps.entries();
    if entries.is_empty() {
        t.problem(
            "endpoints",
            "no endpoints; an exchange needs at least one endpoint",
        );
    }
    let mut endpoints = Vec::new();
    for (ep_name, e) in entries {
        let name_ok = check_name(&eps, &ep_name);
        if let Some(e) = endpoint(e, &ep_name, defaults) {
            if name_ok {
                endpoints.push(e);
            }
        }
    }
    eps.finish();
    t.finish();
    Some(ExchangeSettings {
        name: Name::from(name),
        max_connections,
        endpoints,
    })
}

fn endpoint(mut t: Table<'_>, name: &str, defaults: &EndpointDefaults) -> Option<EndpointSettings> {
    let url = t
        .req_str("url", "an absolute http(s) URL")
        .and_then(|u| check_url(&t, "url", &u));
    let check = match t.str("check") {
        Some(s) => CheckProfile::parse(s.trim()).or_else(|| {
            t.problem(
                "check",
                format!("unknown check profile {s:?}; expected http, binance, bybit or okx"),
            );
            None
        }),
        None => Some(CheckProfile::Http),
    };
    let kind = match t.str("kind") {
        Some(s) => EndpointKind::parse(s.trim()).or_else(|| {
            t.problem(
                "kind",
                format!("unknown kind {s:?}; expected health, time, ticker or status"),
            );
            None
        }),
        None => Some(EndpointKind::Health),
    };
    let symbol = t.str("symbol");
    let symbol = match (kind, symbol) {
        (Some(EndpointKind::Ticker), None) => {
            if !t.has("symbol") {
                t.missing(
                    "symbol",
                    "a venue-neutral symbol such as \"BTC/USDT\" (required for kind = \"ticker\")",
                );
            }
            None
        }
        (Some(EndpointKind::Ticker), Some(s)) => {
            let s = s.trim().to_owned();
            let ok = s
                .split_once('/')
                .is_some_and(|(b, q)| !b.is_empty() && !q.is_empty() && !q.contains('/'))
                && !s.contains(char::is_whitespace);
            if ok {
                Some(s)
            } else {
                t.problem(
                    "symbol",
                    format!("invalid symbol {s:?}; expected BASE/QUOTE such as \"BTC/USDT\""),
                );
                None
            }
        }
        (Some(k), Some(_)) => {
            t.problem(
                "symbol",
                format!(
                    "only meaningful for kind = \"ticker\" (this endpoint is kind = \"{}\")",
                    kind_name(k)
                ),
            );
            None
        }
        (_, s) => s,
    };
    let interval = duration_at_least(&mut t, "interval", MIN_INTERVAL, defaults.interval);
    let timeout = duration_at_least(&mut t, "timeout", MIN_TIMEOUT, defaults.timeout);
    let max_body_bytes = usize_at_least(&mut t, "max_body_bytes", 1, defaults.max_body_bytes);
    t.finish();
    Some(EndpointSettings {
        name: Name::from(name),
        url: url?,
        check: check?,
        kind: kind?,
        symbol,
        interval,
        timeout,
        max_body_bytes,
    })
}

fn kind_name(k: EndpointKind) -> &'static str {
    match k {
        EndpointKind::Health => "health",
        EndpointKind::Time => "time",
        EndpointKind::Ticker => "ticker",
        EndpointKind::Status => "status",
    }
}

fn detect(mut t: Table<'_>) -> DetectSettings {
    let out = DetectSettings {
        latency: latency(t.table("latency")),
        errors: errors(t.table("errors")),
        price: price(t.table("price")),
        clock: clock(t.table("clock")),
    };
    t.finish();
    out
}

fn latency(mut t: Table<'_>) -> LatencySettings {
    let d = LatencySettings::default();
    let out = LatencySettings {
        window: usize_at_least(&mut t, "window", 2, d.window),
        z_threshold: positive_f64(&mut t, "z_threshold", d.z_threshold),
        iqr_multiplier: positive_f64(&mut t, "iqr_multiplier", d.iqr_multiplier),
        rolling_window: usize_at_least(&mut t, "rolling_window", 2, d.rolling_window),
        rolling_k: positive_f64(&mut t, "rolling_k", d.rolling_k),
        min_samples: usize_at_least(&mut t, "min_samples", 1, d.min_samples),
        min_increase_ms: non_negative_f64(&mut t, "min_increase_ms", d.min_increase_ms),
        resolve_after: usize_at_least(&mut t, "resolve_after", 1, d.resolve_after),
    };
    if out.rolling_window >= out.window {
        t.problem(
            "rolling_window",
            format!(
                "{} must be smaller than detect.latency.window ({})",
                out.rolling_window, out.window
            ),
        );
    }
    if out.min_samples > out.window {
        t.problem(
            "min_samples",
            format!(
                "{} must not exceed detect.latency.window ({})",
                out.min_samples, out.window
            ),
        );
    }
    t.finish();
    out
}

fn errors(mut t: Table<'_>) -> ErrorSettings {
    let d = ErrorSettings::default();
    let rate_threshold = match t.f64("rate_threshold") {
        Some(r) if r > 0.0 && r <= 1.0 => r,
        Some(r) => {
            t.problem(
                "rate_threshold",
                format!("{r} is out of range; expected a fraction in (0, 1], e.g. 0.05 for 5%"),
            );
            d.rate_threshold
        }
        None => d.rate_threshold,
    };
    let out = ErrorSettings {
        rate_threshold,
        consecutive_failures: u32_at_least(
            &mut t,
            "consecutive_failures",
            1,
            d.consecutive_failures,
        ),
        window: usize_at_least(&mut t, "window", 2, d.window),
        min_samples: usize_at_least(&mut t, "min_samples", 1, d.min_samples),
        recovery_successes: u32_at_least(&mut t, "recovery_successes", 1, d.recovery_successes),
    };
    if out.min_samples > out.window {
        t.problem(
            "min_samples",
            format!(
                "{} must not exceed detect.errors.window ({})",
                out.min_samples, out.window
            ),
        );
    }
    t.finish();
    out
}

fn price(mut t: Table<'_>) -> PriceSettings {
    let d = PriceSettings::default();
    let out = PriceSettings {
        warn_bps: positive_f64(&mut t, "warn_bps", d.warn_bps),
        critical_bps: positive_f64(&mut t, "critical_bps", d.critical_bps),
        stale_after: positive_duration(&mut t, "stale_after", d.stale_after),
    };
    if out.warn_bps >= out.critical_bps {
        t.problem(
            "warn_bps",
            format!(
                "{} must be smaller than detect.price.critical_bps ({})",
                out.warn_bps, out.critical_bps
            ),
        );
    }
    t.finish();
    out
}

fn clock(mut t: Table<'_>) -> ClockSettings {
    let d = ClockSettings::default();
    let out = ClockSettings {
        warn_ms: positive_f64(&mut t, "warn_ms", d.warn_ms),
        critical_ms: positive_f64(&mut t, "critical_ms", d.critical_ms),
    };
    if out.warn_ms >= out.critical_ms {
        t.problem(
            "warn_ms",
            format!(
                "{} must be smaller than detect.clock.critical_ms ({})",
                out.warn_ms, out.critical_ms
            ),
        );
    }
    t.finish();
    out
}

fn router(mut t: Table<'_>) -> RouterSettings {
    let d = RouterSettings::default();
    let out = RouterSettings {
        dedup_window: positive_duration(&mut t, "dedup_window", d.dedup_window),
    };
    t.finish();
    out
}

fn supervision(mut t: Table<'_>) -> SupervisionSettings {
    let d = SupervisionSettings::default();
    let out = SupervisionSettings {
        max_restarts: u32_at_least(&mut t, "max_restarts", 1, d.max_restarts),
        within: positive_duration(&mut t, "within", d.within),
    };
    t.finish();
    out
}

fn shutdown(mut t: Table<'_>) -> ShutdownSettings {
    let d = ShutdownSettings::default();
    let out = ShutdownSettings {
        grace: positive_duration(&mut t, "grace", d.grace),
    };
    t.finish();
    out
}

fn channels(mut t: Table<'_>, env: &dyn Fn(&str) -> Option<String>) -> Vec<ChannelSettings> {
    let mut out = Vec::new();
    for (name, c) in t.entries() {
        let name_ok = check_name(&t, &name);
        if let Some(c) = channel(c, &name, env) {
            if name_ok {
                out.push(c);
            }
        }
    }
    t.finish();
    out
}

fn channel(
    mut t: Table<'_>,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<ChannelSettings> {
    let all_types = || {
        AVAILABLE_CHANNELS
            .iter()
            .chain(LATER_CHANNELS)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    };
    let ty = t.req_str("type", &format!("a channel type ({})", all_types()));
    let Some(ty) = ty.map(|s| s.trim().to_owned()) else {
        t.mark_all();
        return None;
    };
    if LATER_CHANNELS.contains(&ty.as_str()) {
        t.problem(
            "type",
            format!(
                "channel type {ty:?} is not available yet in this release (available: {})",
                AVAILABLE_CHANNELS.join(", ")
            ),
        );
        t.mark_all();
        return None;
    }
    if !AVAILABLE_CHANNELS.contains(&ty.as_str()) {
        t.problem(
            "type",
            format!(
                "unknown channel type {ty:?}; expected one of {}",
                all_types()
            ),
        );
        t.mark_all();
        return None;
    }

    let min_severity = severity(&mut t, "min_severity", Severity::Info);
    let retry = retry(&mut t);
    let kind = match ty.as_str() {
        "log" => Some(ChannelKind::Log),
        _ => webhook(&mut t, env),
    };

    // Keys of other channel types are reported as such, not as typos.
    for key in t.keys() {
        if ANY_CHANNEL_KEYS.contains(&key.as_str()) && !t.is_read(&key) {
            t.problem(&key, format!("not a key of a {ty} channel"));
            t.mark(&key);
        }
    }
    t.finish();
    Some(ChannelSettings {
        name: Name::from(name),
        min_severity,
        retry,
        kind: kind?,
    })
}

fn retry(t: &mut Table<'_>) -> RetrySettings {
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

fn webhook(t: &mut Table<'_>, env: &dyn Fn(&str) -> Option<String>) -> Option<ChannelKind> {
    let url = t
        .req_str("url", "an absolute http(s) URL")
        .and_then(|u| check_url(t, "url", &u));
    let (secret_env, secret) = match t.str("secret_env") {
        None => (None, None),
        Some(var) => {
            let var = var.trim().to_owned();
            match secret_from_env(t, "secret_env", &var, env) {
                Some(secret) => (Some(var), Some(secret)),
                None => return None,
            }
        }
    };
    Some(ChannelKind::Webhook {
        url: url?,
        secret_env,
        secret,
    })
}

/// Looks up the secret named by a `*_env` key. Never prints the value.
fn secret_from_env(
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

#[cfg(test)]
mod tests {
    use super::super::{DEFAULT_TOML, from_toml_str};
    use super::*;
    use crate::error::ConfigError;

    const EXAMPLE_TOML: &str = include_str!("../../config/example.toml");
    const SECRET: &str = "s3cr3t-v4lue-never-printed";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn example_env(name: &str) -> Option<String> {
        (name == "EXWATCH_OPS_SECRET").then(|| SECRET.to_owned())
    }

    fn problems(toml: &str) -> Vec<String> {
        match from_toml_str(toml, &no_env) {
            Err(ConfigError::Invalid(p)) => p.iter().map(ToString::to_string).collect(),
            Err(e) => panic!("expected problems, got {e}"),
            Ok(_) => panic!("expected problems, got valid settings"),
        }
    }

    /// A minimal valid file plus `extra`.
    fn minimal(extra: &str) -> String {
        format!("[exchanges.x.endpoints.ping]\nurl = \"https://example.com/ping\"\n{extra}")
    }

    #[test]
    fn config_embedded_default_validates() {
        let s = from_toml_str(DEFAULT_TOML, &no_env).expect("default validates");
        let names: Vec<&str> = s.exchanges.iter().map(|x| &*x.name).collect();
        assert_eq!(names, ["binance", "bybit", "okx"]);
        let okx = &s.exchanges[2];
        let status = okx.endpoints.iter().find(|e| &*e.name == "status").unwrap();
        assert_eq!(status.kind, EndpointKind::Status);
        assert_eq!(status.interval, Duration::from_secs(60));
        let time = okx.endpoints.iter().find(|e| &*e.name == "time").unwrap();
        assert_eq!(time.check, CheckProfile::Okx);
        assert_eq!(time.interval, Duration::from_secs(10));
        assert_eq!(
            okx.max_connections,
            EndpointDefaults::default().max_connections
        );
        assert_eq!(s.store.path, "exwatch.db");
        assert_eq!(s.channels.len(), 1);
        assert!(matches!(s.channels[0].kind, ChannelKind::Log));
        assert_eq!(s.channels[0].min_severity, Severity::Info);
    }

    #[test]
    fn config_example_validates() {
        let s = from_toml_str(EXAMPLE_TOML, &example_env).expect("example validates");
        assert_eq!(&*s.monitor.region, "ap-southeast-1");
        let binance = &s.exchanges[0];
        assert_eq!(binance.max_connections, 4);
        let ticker = binance
            .endpoints
            .iter()
            .find(|e| &*e.name == "ticker")
            .unwrap();
        assert_eq!(ticker.symbol.as_deref(), Some("BTC/USDT"));
        assert_eq!(ticker.interval, Duration::from_secs(2));
        let names: Vec<&str> = s.channels.iter().map(|c| &*c.name).collect();
        assert_eq!(names, ["log", "ops"]);
        let ops = &s.channels[1];
        assert_eq!(ops.min_severity, Severity::Warning);
        match &ops.kind {
            ChannelKind::Webhook {
                secret, secret_env, ..
            } => {
                assert_eq!(secret_env.as_deref(), Some("EXWATCH_OPS_SECRET"));
                assert_eq!(secret.as_ref().map(Secret::expose), Some(SECRET));
            }
            other => panic!("expected a webhook, got {other:?}"),
        }
    }

    #[test]
    fn config_example_without_secret_names_the_variable() {
        let p = problems(EXAMPLE_TOML);
        assert_eq!(
            p,
            ["channels.ops.secret_env: environment variable EXWATCH_OPS_SECRET is not set"]
        );
    }

    #[test]
    fn config_broken_file_reports_every_problem() {
        let toml = r#"
[monitor]
regoin = "eu"

[defaults]
interval = "10x"

[exchanges.Binance.endpoints.ping]
url = "https://api.binance.com/api/v3/ping"

[exchanges.okx.endpoints.time]
url = "api/v5/public/time"
check = "okxx"
timeout = "2s"

[detect.errors]
rate_threshold = 2.0
window = "many"

[channels.ops]
type = "webhook"
min_severity = "warning"
"#;
        let p = problems(toml);
        let expected = [
            "channels.ops.url: missing; expected an absolute http(s) URL",
            "defaults.interval: invalid duration \"10x\" (unknown time unit \"x\", supported units: ns, us/µs, ms, sec, min, hours, days, weeks, months, years (and few variations)); expected e.g. \"500ms\", \"10s\", \"5m\", \"6h\"",
            "detect.errors.rate_threshold: 2 is out of range; expected a fraction in (0, 1], e.g. 0.05 for 5%",
            "detect.errors.window: expected a non-negative integer, found string \"many\"",
            "exchanges.Binance: invalid name \"Binance\"; names are lowercase [a-z0-9_-]+",
            "exchanges.okx.endpoints.time.check: unknown check profile \"okxx\"; expected http, binance, bybit or okx",
            "exchanges.okx.endpoints.time.url: relative URL \"api/v5/public/time\"; expected an absolute http(s) URL",
            "monitor.regoin: unknown key; did you mean `region`?",
        ];
        assert_eq!(p, expected, "got:\n{}", p.join("\n"));
    }

    #[test]
    fn config_detects_cross_key_constraints() {
        let p = problems(&minimal(
            "[detect.latency]\nwindow = 10\nrolling_window = 10\nmin_samples = 11\n\
             [detect.price]\nwarn_bps = 300\n[detect.clock]\nwarn_ms = 2000\ncritical_ms = 1000\n",
        ));
        assert_eq!(
            p,
            [
                "detect.clock.warn_ms: 2000 must be smaller than detect.clock.critical_ms (1000)",
                "detect.latency.min_samples: 11 must not exceed detect.latency.window (10)",
                "detect.latency.rolling_window: 10 must be smaller than detect.latency.window (10)",
                "detect.price.warn_bps: 300 must be smaller than detect.price.critical_bps (200)",
            ]
        );
    }

    #[test]
    fn config_endpoint_rules() {
        let p = problems(
            "[exchanges.x.endpoints.t]\nurl = \"ftp://example.com/\"\nkind = \"ticker\"\n\
             interval = \"50ms\"\ntimeout = \"0s\"\n\
             [exchanges.x.endpoints.h]\nurl = \"https://example.com/\"\nsymbol = \"BTC/USDT\"\nkind = \"pong\"\n\
             [exchanges.y]\nmax_connections = 0\n",
        );
        assert_eq!(
            p,
            [
                "exchanges.x.endpoints.h.kind: unknown kind \"pong\"; expected health, time, ticker or status",
                "exchanges.x.endpoints.t.interval: 50ms is too short; the minimum is 100ms",
                "exchanges.x.endpoints.t.symbol: missing; expected a venue-neutral symbol such as \"BTC/USDT\" (required for kind = \"ticker\")",
                "exchanges.x.endpoints.t.timeout: must be greater than zero",
                "exchanges.x.endpoints.t.url: unsupported scheme \"ftp\" in \"ftp://example.com/\"; expected http or https",
                "exchanges.y.endpoints: no endpoints; an exchange needs at least one endpoint",
                "exchanges.y.max_connections: 0 is too small; the minimum is 1",
            ]
        );
        let p = problems(&minimal("symbol = \"BTC/USDT\"\n"));
        assert_eq!(
            p,
            [
                "exchanges.x.endpoints.ping.symbol: only meaningful for kind = \"ticker\" (this endpoint is kind = \"health\")"
            ]
        );
        assert_eq!(
            problems("[monitor]\nregion = \"\"\n"),
            [
                "exchanges: no exchanges; configure at least one exchange with at least one endpoint",
                "monitor.region: must not be empty",
            ]
        );
    }

    #[test]
    fn config_endpoint_falls_back_to_defaults() {
        let s = from_toml_str(
            &minimal("[defaults]\ninterval = \"3s\"\ntimeout = \"1s\"\nmax_body_bytes = 1024\nmax_connections = 2\n"),
            &no_env,
        )
        .unwrap();
        let x = &s.exchanges[0];
        assert_eq!(x.max_connections, 2);
        let e = &x.endpoints[0];
        assert_eq!(e.interval, Duration::from_secs(3));
        assert_eq!(e.timeout, Duration::from_secs(1));
        assert_eq!(e.max_body_bytes, 1024);
        assert_eq!(e.check, CheckProfile::Http);
        assert_eq!(e.kind, EndpointKind::Health);
        assert!(s.channels.is_empty(), "no channel is fine");
    }

    #[test]
    fn config_channel_rules() {
        let p = problems(&minimal(
            "[channels.desk-line]\ntype = \"line\"\nto = \"U1\"\ntoken_env = \"LINE_TOKEN\"\n\
             [channels.x]\ntype = \"webhook\"\nurl = \"https://h.example.com/\"\ntoken_env = \"T\"\nurll = 1\n\
             min_severity = \"urgent\"\nmax_attempts = -1\n\
             [channels.y]\ntype = \"telegram\"\n\
             [channels.z]\nmin_severity = \"info\"\n",
        ));
        assert_eq!(
            p,
            [
                "channels.desk-line.type: channel type \"line\" is not available yet in this release (available: log, webhook)",
                "channels.x.max_attempts: -1 is out of range; expected a non-negative integer",
                "channels.x.min_severity: unknown severity \"urgent\"; expected info, warning or critical",
                "channels.x.token_env: not a key of a webhook channel",
                "channels.x.urll: unknown key; did you mean `url`?",
                "channels.y.type: unknown channel type \"telegram\"; expected one of log, webhook, discord, line, sms, alertmanager, llm_triage",
                "channels.z.type: missing; expected a channel type (log, webhook, discord, line, sms, alertmanager, llm_triage)",
            ]
        );
        let p = problems(&minimal(
            "[channels.log]\ntype = \"log\"\nurl = \"https://a.example.com\"\n",
        ));
        assert_eq!(p, ["channels.log.url: not a key of a log channel"]);
    }

    #[test]
    fn config_coerces_strings_and_numbers() {
        let s = from_toml_str(
            &minimal("[monitor]\nregion = 7\n[breaker]\nfailure_threshold = \"4\"\n[detect.clock]\nwarn_ms = \"250\"\n"),
            &no_env,
        )
        .unwrap();
        assert_eq!(&*s.monitor.region, "7");
        assert_eq!(s.breaker.failure_threshold, 4);
        assert_eq!(s.detect.clock.warn_ms, 250.0);
        let p = problems(&minimal(
            "[defaults]\ninterval = 10\n[monitor]\nregion = true\n",
        ));
        assert_eq!(
            p,
            [
                "defaults.interval: expected a duration string such as \"500ms\", \"10s\" or \"5m\", found integer 10",
                "monitor.region: expected a string, found boolean true",
            ]
        );
    }

    #[test]
    fn config_secret_never_printed() {
        let s = from_toml_str(EXAMPLE_TOML, &example_env).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains(SECRET), "secret in Debug: {debug}");
        let json = serde_json::to_string(&s).unwrap();
        assert!(!json.contains(SECRET), "secret in Serialize: {json}");
        // An empty secret is a problem that names the variable, never a value.
        let err = from_toml_str(EXAMPLE_TOML, &|_| Some(String::new())).unwrap_err();
        assert!(err.to_string().contains("EXWATCH_OPS_SECRET is empty"));
        // A broken file next to a set secret: the error shows no secret either.
        let broken = EXAMPLE_TOML.replace("rate_threshold = 0.05", "rate_threshold = 5");
        let err = from_toml_str(&broken, &example_env).unwrap_err();
        assert!(!err.to_string().contains(SECRET));
        assert!(!format!("{err:?}").contains(SECRET));
    }

    #[test]
    fn config_toml_syntax_error_is_a_source_error() {
        let err = from_toml_str("[monitor\nregion = 1", &no_env).unwrap_err();
        assert!(matches!(err, ConfigError::Source(_)), "{err:?}");
    }
}
