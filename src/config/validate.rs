//! From the tree as written to [`Settings`]. Pure: no I/O; secrets are looked up through the
//! `env` closure. Every problem is collected with its key path; nothing stops at the first.

use std::net::SocketAddr;
use std::time::Duration;

use config::{Map, Value};

use super::check::*;
use super::raw::{Problems, Table};
use super::settings::*;
use crate::detect::rules::{RuleMetric, RuleOp};
use crate::error::Problem;
// The probe's sections are validated beside the probe; this is the one call into them.
use crate::messages::{Name, Severity};
use crate::probe::config as probe;

/// The shortest probe interval accepted.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The largest detection window: each series allocates its window up front.
const MAX_WINDOW: usize = 100_000;
/// Restarts a budget may allow before a crash loop is declared.
const MAX_RESTARTS: usize = 1000;

/// Validates a merged tree. `env` looks up environment variables named by `*_env` keys.
pub(crate) fn validate(
    root: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, Vec<Problem>> {
    let problems = Problems::default();
    let mut t = Table::root(root, &problems);
    let settings = Settings {
        monitor: monitor(t.table("monitor")),
        http: http(t.table("http"), env),
        store: crate::store::config::validate(t.table("store")),
        defaults: probe::defaults(t.table("defaults")),
        breaker: probe::breaker(t.table("breaker")),
        exchanges: Vec::new(),
        detect: detect(t.table("detect")),
        router: crate::route::config::router(t.table("router")),
        channels: crate::channel::registry::channels(t.table("channels"), env),
        supervision: supervision(t.table("supervision")),
        shutdown: shutdown(t.table("shutdown")),
        rules: rules(t.table("rules")),
    };
    let exchanges = probe::exchanges(t.table("exchanges"), &settings.defaults);
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
    let probe_threads = usize_between(&mut t, "probe_threads", 1, 256, d.probe_threads);
    t.finish();
    MonitorSettings {
        region,
        probe_threads,
    }
}

fn http(mut t: Table<'_>, env: &dyn Fn(&str) -> Option<String>) -> HttpSettings {
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
    let enabled = t.bool("enabled").unwrap_or(d.enabled);
    let (token_env, token) = match t.str("token_env") {
        None => (None, None),
        Some(var) => {
            let var = var.trim().to_owned();
            let token = secret_from_env(&t, "token_env", &var, env);
            (Some(var), token)
        }
    };
    t.finish();
    HttpSettings {
        listen,
        enabled,
        token_env,
        token,
    }
}

fn detect(mut t: Table<'_>) -> DetectSettings {
    let out = DetectSettings {
        latency: latency(t.table("latency")),
        errors: errors(t.table("errors")),
        price: price(t.table("price")),
        clock: clock(t.table("clock")),
        baseline: baseline(t.table("baseline")),
        likelihood: likelihood(t.table("likelihood")),
    };
    t.finish();
    out
}

fn latency(mut t: Table<'_>) -> LatencySettings {
    let d = LatencySettings::default();
    let out = LatencySettings {
        window: usize_between(&mut t, "window", 2, MAX_WINDOW, d.window),
        z_threshold: positive_f64(&mut t, "z_threshold", d.z_threshold),
        iqr_multiplier: positive_f64(&mut t, "iqr_multiplier", d.iqr_multiplier),
        rolling_window: usize_at_least(&mut t, "rolling_window", 2, d.rolling_window),
        rolling_k: positive_f64(&mut t, "rolling_k", d.rolling_k),
        min_samples: usize_at_least(&mut t, "min_samples", 1, d.min_samples),
        min_increase_ms: non_negative_f64(&mut t, "min_increase_ms", d.min_increase_ms),
        resolve_after: usize_at_least(&mut t, "resolve_after", 1, d.resolve_after),
        unit: d.unit,
        direction: d.direction,
        model: d.model,
        only: None,
    };
    let mut out = out;
    if let Some(name) = t.str("detector")
        && out.select(&name).is_none()
    {
        t.problem(
            "detector",
            format!(
                "{name:?} is not a latency detector; expected one of {}",
                LatencySettings::DETECTORS.join(", ")
            ),
        );
    }
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
        window: usize_between(&mut t, "window", 2, MAX_WINDOW, d.window),
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
        resolve_after: usize_at_least(&mut t, "resolve_after", 1, d.resolve_after),
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
    let warn_ms_explicit = t.has("warn_ms");
    let critical_ms_explicit = t.has("critical_ms");
    let fraction = |t: &mut Table<'_>, key: &str, default: f64| {
        let v = positive_f64(t, key, default);
        if v > 1.0 {
            t.problem(
                key,
                format!("{v} must be at most 1 (a share of the exchange's signing window)"),
            );
            return default;
        }
        v
    };
    let out = ClockSettings {
        warn_ms: positive_f64(&mut t, "warn_ms", d.warn_ms),
        critical_ms: positive_f64(&mut t, "critical_ms", d.critical_ms),
        info_fraction: fraction(&mut t, "info_fraction", d.info_fraction),
        warn_fraction: fraction(&mut t, "warn_fraction", d.warn_fraction),
        critical_fraction: fraction(&mut t, "critical_fraction", d.critical_fraction),
        warn_ms_explicit,
        critical_ms_explicit,
        windows: Vec::new(),
    };
    if out.info_fraction >= out.warn_fraction || out.warn_fraction >= out.critical_fraction {
        t.problem(
            "warn_fraction",
            format!(
                "fractions must rise: info_fraction {} < warn_fraction {} < critical_fraction {}",
                out.info_fraction, out.warn_fraction, out.critical_fraction
            ),
        );
    }
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

/// The most buckets a baseline's history may hold (a ring allocated once per series).
const MAX_BASELINE_BUCKETS: u128 = 10_080;

/// `levels`: three increasing confidences in (0, 1) for info, warning and critical, or
/// `default`.
fn levels(t: &mut Table<'_>, default: [f64; 3]) -> [f64; 3] {
    let Some(list) = t.f64_list("levels") else {
        return default;
    };
    let valid = list.len() == 3
        && list.iter().all(|l| *l > 0.0 && *l < 1.0)
        && list[0] < list[1]
        && list[1] < list[2];
    if valid {
        [list[0], list[1], list[2]]
    } else {
        t.problem(
            "levels",
            format!(
                "{list:?} is not valid; expected three increasing confidences in (0, 1) for \
                 info, warning and critical, e.g. [0.95, 0.99, 0.999]"
            ),
        );
        default
    }
}

fn likelihood(mut t: Table<'_>) -> LikelihoodSettings {
    let d = LikelihoodSettings::default();
    let out = LikelihoodSettings {
        window: usize_between(&mut t, "window", 8, MAX_WINDOW, d.window),
        history: usize_between(&mut t, "history", 10, 10_000_000, d.history),
        min_samples: usize_at_least(&mut t, "min_samples", 2, d.min_samples),
        resolve_after: usize_at_least(&mut t, "resolve_after", 1, d.resolve_after),
        levels: levels(&mut t, d.levels),
    };
    if out.min_samples > out.window {
        t.problem(
            "min_samples",
            format!(
                "{} must not exceed detect.likelihood.window ({})",
                out.min_samples, out.window
            ),
        );
    }
    t.finish();
    out
}

fn baseline(mut t: Table<'_>) -> BaselineSettings {
    let d = BaselineSettings::default();
    let bucket = duration_at_least(&mut t, "bucket", Duration::from_secs(1), d.bucket);
    let history = positive_duration(&mut t, "history", d.history);
    let min_history = positive_duration(&mut t, "min_history", d.min_history);
    let levels = levels(&mut t, d.levels);
    let buckets = history.as_millis() / bucket.as_millis().max(1);
    if history <= bucket {
        t.problem(
            "history",
            format!(
                "{} must be longer than detect.baseline.bucket ({})",
                humantime::format_duration(history),
                humantime::format_duration(bucket)
            ),
        );
    } else if buckets > MAX_BASELINE_BUCKETS {
        t.problem(
            "history",
            format!(
                "{} holds {buckets} buckets of {}; the most is {MAX_BASELINE_BUCKETS}",
                humantime::format_duration(history),
                humantime::format_duration(bucket)
            ),
        );
    }
    if min_history > history {
        t.problem(
            "min_history",
            format!(
                "{} must not exceed detect.baseline.history ({})",
                humantime::format_duration(min_history),
                humantime::format_duration(history)
            ),
        );
    }
    t.finish();
    BaselineSettings {
        history,
        min_history,
        bucket,
        levels,
    }
}

fn supervision(mut t: Table<'_>) -> SupervisionSettings {
    let d = SupervisionSettings::default();
    let out = SupervisionSettings {
        max_restarts: usize_between(
            &mut t,
            "max_restarts",
            1,
            MAX_RESTARTS,
            d.max_restarts as usize,
        ) as u32,
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

fn rules(mut t: Table<'_>) -> Vec<RuleSettings> {
    let mut out = Vec::new();
    for (name, r) in t.entries() {
        let name_ok = check_name(&t, &name);
        if let Some(r) = rule(r, &name)
            && name_ok
        {
            out.push(r);
        }
    }
    t.finish();
    out
}

fn rule(mut t: Table<'_>, name: &str) -> Option<RuleSettings> {
    let metrics = || {
        RuleMetric::ALL
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let metric = t
        .req_str("metric", &format!("a metric ({})", metrics()))
        .and_then(|m| {
            RuleMetric::parse(m.trim()).or_else(|| {
                t.problem(
                    "metric",
                    format!("unknown metric {m:?}; expected one of {}", metrics()),
                );
                None
            })
        });
    let op = t
        .req_str("op", "an operator: >, >=, < or <=")
        .and_then(|o| {
            RuleOp::parse(o.trim()).or_else(|| {
                t.problem(
                    "op",
                    format!("unknown operator {o:?}; expected >, >=, < or <="),
                );
                None
            })
        });
    let threshold = metric.and_then(|m| rule_threshold(&mut t, m));
    if metric.is_none() {
        t.mark("threshold");
    }
    let hold = if t.has("for") {
        t.duration("for").filter(|d| {
            let ok = !d.is_zero();
            if !ok {
                t.problem("for", "must be greater than zero");
            }
            ok
        })
    } else {
        t.mark("for");
        t.missing("for", "a duration such as \"10m\"");
        None
    };
    let window = positive_duration(&mut t, "window", RuleSettings::DEFAULT_WINDOW);
    let window = match hold {
        Some(h) if t.has("window") && window > h => {
            t.problem(
                "window",
                format!(
                    "{} must not exceed for ({})",
                    humantime::format_duration(window),
                    humantime::format_duration(h)
                ),
            );
            h
        }
        Some(h) => window.min(h),
        None => window,
    };
    let mut sc = t.table("scope");
    let mut scope_name = |key: &str| {
        sc.str(key).and_then(|v| {
            let v = v.trim().to_owned();
            if v.is_empty() {
                sc.problem(key, "must not be empty");
                None
            } else {
                Some(Name::from(v))
            }
        })
    };
    let scope = RuleScope {
        exchange: scope_name("exchange"),
        endpoint: scope_name("endpoint"),
        region: scope_name("region"),
    };
    sc.finish();
    let severity = severity(&mut t, "severity", Severity::Warning);
    t.finish();
    Some(RuleSettings {
        name: Name::from(name),
        metric: metric?,
        op: op?,
        threshold: threshold?,
        hold: hold?,
        window,
        scope,
        severity,
    })
}

/// A rule's threshold: a number of the metric's kind; rates also as a percentage (`"10%"`).
fn rule_threshold(t: &mut Table<'_>, metric: RuleMetric) -> Option<f64> {
    use config::ValueKind;
    let expected = if metric.is_rate() {
        format!("a fraction in 0..=1 or a percentage such as \"10%\" for {metric}")
    } else if metric.is_latency() {
        format!("a number of milliseconds for {metric}")
    } else {
        format!("a number of probes for {metric}")
    };
    if !t.has("threshold") {
        t.mark("threshold");
        t.missing("threshold", &expected);
        return None;
    }
    let v = t.get("threshold")?;
    let n = match &v.kind {
        ValueKind::Float(f) => Some(*f),
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
            Some(v.to_string().parse::<f64>().unwrap_or(f64::NAN))
        }
        // Numeric strings, as every number key accepts (environment overrides are strings).
        ValueKind::String(s) => match s.trim().strip_suffix('%') {
            Some(p) if metric.is_rate() => p.trim().parse::<f64>().ok().map(|p| p / 100.0),
            Some(_) => None,
            None => s.trim().parse::<f64>().ok(),
        },
        _ => None,
    };
    let Some(n) = n.filter(|n| n.is_finite()) else {
        t.problem(
            "threshold",
            format!("expected {expected}, found {}", super::raw::describe(v)),
        );
        return None;
    };
    if metric.is_rate() && !(0.0..=1.0).contains(&n) {
        t.problem(
            "threshold",
            format!("{n} is out of range; expected {expected} (0.1 means 10%)"),
        );
        return None;
    }
    if n < 0.0 {
        t.problem("threshold", format!("{n} must not be negative"));
        return None;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::super::{DEFAULT_TOML, Secret, from_toml_str};
    use super::*;
    use crate::channel::{ChannelKind, DiscordSpec, LineSpec, WebhookSpec};
    use crate::error::ConfigError;

    const EXAMPLE_TOML: &str = include_str!("../../config/example.toml");
    const SECRET: &str = "s3cr3t-v4lue-never-printed";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn example_env(name: &str) -> Option<String> {
        match name {
            "EXWATCH_OPS_SECRET"
            | "LINE_CHANNEL_ACCESS_TOKEN"
            | "TWILIO_ACCOUNT_SID"
            | "TWILIO_AUTH_TOKEN" => Some(SECRET.to_owned()),
            "DISCORD_WEBHOOK_URL" => Some(format!("https://discord.com/api/webhooks/1/{SECRET}")),
            _ => None,
        }
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
        assert!(matches!(s.channels[0].kind, ChannelKind::Log(_)));
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
        assert_eq!(
            names,
            [
                "am",
                "desk-discord",
                "desk-line",
                "log",
                "oncall-sms",
                "ops"
            ]
        );
        assert!(matches!(
            &s.channels[1].kind,
            ChannelKind::Discord(DiscordSpec { webhook_url_env, .. }) if webhook_url_env == "DISCORD_WEBHOOK_URL"
        ));
        assert!(matches!(
            &s.channels[2].kind,
            ChannelKind::Line(LineSpec { token_env, api_base, .. })
                if token_env == "LINE_CHANNEL_ACCESS_TOKEN" && api_base == "https://api.line.me"
        ));
        let ops = &s.channels[5];
        assert_eq!(ops.min_severity, Severity::Warning);
        match &ops.kind {
            ChannelKind::Webhook(WebhookSpec {
                secret, secret_env, ..
            }) => {
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
            [
                "channels.desk-discord.webhook_url_env: environment variable DISCORD_WEBHOOK_URL is not set",
                "channels.desk-line.token_env: environment variable LINE_CHANNEL_ACCESS_TOKEN is not set",
                "channels.oncall-sms.account_sid_env: environment variable TWILIO_ACCOUNT_SID is not set",
                "channels.oncall-sms.auth_token_env: environment variable TWILIO_AUTH_TOKEN is not set",
                "channels.ops.secret_env: environment variable EXWATCH_OPS_SECRET is not set",
            ]
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
    fn config_reads_and_checks_signing_windows() {
        let s = from_toml_str(
            &minimal(
                "[exchanges.x]\nrecv_window = \"10s\"\nahead_window = \"2s\"\n\
                 [detect.clock]\ncritical_ms = 3000\ninfo_fraction = 0.1\n",
            ),
            &no_env,
        )
        .expect("valid");
        let x = s.exchanges.iter().find(|x| &*x.name == "x").unwrap();
        assert_eq!(x.recv_window, Some(Duration::from_secs(10)));
        assert_eq!(x.ahead_window, Some(Duration::from_secs(2)));
        let c = &s.detect.clock;
        assert!(c.critical_ms_explicit && !c.warn_ms_explicit);
        assert_eq!((c.info_fraction, c.warn_fraction), (0.1, 0.5));

        let p = problems(&minimal(
            "[exchanges.x]\nrecv_window = \"0s\"\nahead_window = 5\n\
             [detect.clock]\nwarn_fraction = 0.9\ncritical_fraction = 1.5\n",
        ));
        let has = |key: &str| p.iter().any(|x| x.starts_with(key));
        assert!(has("exchanges.x.recv_window: "), "{p:?}");
        assert!(has("exchanges.x.ahead_window: "), "{p:?}");
        assert!(
            has("detect.clock.critical_fraction: 1.5 must be at most 1"),
            "{p:?}"
        );
        assert!(
            has("detect.clock.warn_fraction: fractions must rise"),
            "{p:?}"
        );
    }

    #[test]
    fn config_reads_and_checks_baseline_keys() {
        let s = from_toml_str(
            &minimal(
                "[detect.baseline]\nhistory = \"2h\"\nmin_history = \"20m\"\nbucket = \"30s\"\n\
                 levels = [0.9, 0.98, 0.997]\n",
            ),
            &no_env,
        )
        .expect("valid");
        let b = &s.detect.baseline;
        assert_eq!(b.history, Duration::from_secs(7200));
        assert_eq!(b.min_history, Duration::from_secs(1200));
        assert_eq!(b.bucket, Duration::from_secs(30));
        assert_eq!(b.levels, [0.9, 0.98, 0.997]);
        let d = from_toml_str(&minimal(""), &no_env).expect("valid");
        assert_eq!(d.detect.baseline.levels, [0.95, 0.99, 0.999]);
        assert_eq!(d.detect.baseline.history, Duration::from_secs(6 * 3600));

        let p = problems(&minimal(
            "[detect.baseline]\nhistory = \"10m\"\nmin_history = \"1h\"\nbucket = \"500ms\"\n\
             levels = [0.99, 0.95, \"x\"]\nlevel = 1\n",
        ));
        let expected = [
            "detect.baseline.bucket: 500ms is too short; the minimum is 1s",
            "detect.baseline.level: unknown key; did you mean `levels`?",
            "detect.baseline.levels[2]: expected a number, found string \"x\"",
            "detect.baseline.min_history: 1h must not exceed detect.baseline.history (10m)",
        ];
        assert_eq!(p, expected, "got:\n{}", p.join("\n"));
        let p = problems(&minimal(
            "[detect.baseline]\nhistory = \"30d\"\nlevels = [0.99, 0.95, 0.999]\n",
        ));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].starts_with("detect.baseline.history: 30days holds 43200 buckets"),
            "{p:?}"
        );
        assert!(
            p[1].starts_with("detect.baseline.levels: [0.99, 0.95, 0.999] is not valid"),
            "{p:?}"
        );
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
    fn config_rules_parse_with_defaults_and_percentages() {
        let s = from_toml_str(
            &minimal(
                "[rules.okx-5xx]\nmetric = \"error_rate_5xx\"\nop = \">\"\nthreshold = \"10%\"\nfor = \"10m\"\nscope = { exchange = \"okx\" }\n\
                 [rules.slow]\nmetric = \"latency_p99\"\nop = \">=\"\nthreshold = 800\nfor = \"30s\"\nseverity = \"critical\"\n",
            ),
            &no_env,
        )
        .expect("valid");
        let names: Vec<&str> = s.rules.iter().map(|r| &*r.name).collect();
        assert_eq!(names, ["okx-5xx", "slow"]);
        let (a, b) = (&s.rules[0], &s.rules[1]);
        assert_eq!(
            (a.metric, a.op, a.threshold),
            (RuleMetric::ErrorRate5xx, RuleOp::Gt, 0.1)
        );
        assert_eq!(
            (a.hold, a.window),
            (Duration::from_secs(600), Duration::from_secs(60))
        );
        assert_eq!(a.scope.exchange.as_deref(), Some("okx"));
        assert_eq!(
            (a.scope.endpoint.clone(), a.severity),
            (None, Severity::Warning)
        );
        assert_eq!((b.threshold, b.severity), (800.0, Severity::Critical));
        assert_eq!(
            b.window,
            Duration::from_secs(30),
            "the window never exceeds `for`"
        );
    }

    #[test]
    fn config_rule_problems_name_their_key() {
        let p = problems(&minimal(
            "[rules.a]\nmetric = \"error_rate_6xx\"\nop = \">\"\nthreshold = 0.1\nfor = \"1m\"\n\
             [rules.b]\nmetric = \"latency_p90\"\nop = \"=>\"\nthreshold = \"slow\"\nfor = \"1m\"\nscope = { host = \"x\" }\n\
             [rules.c]\nmetric = \"error_rate_5xx\"\nop = \"<\"\nthreshold = 10\n\
             [rules.d]\nmetric = \"latency_p50\"\nop = \">\"\nthreshold = \"10%\"\nfor = \"1m\"\nwindow = \"5m\"\n\
             [rules.Bad]\nmetric = \"count_2xx\"\nop = \"<\"\nthreshold = 1\nfor = \"1m\"\n",
        ));
        assert_eq!(
            p,
            [
                "rules.Bad: invalid name \"Bad\"; names are lowercase [a-z0-9_-]+",
                "rules.a.metric: unknown metric \"error_rate_6xx\"; expected one of error_rate_4xx, error_rate_5xx, error_rate_503, error_rate_504, count_2xx, latency_p50, latency_p90, latency_p99, availability",
                "rules.b.op: unknown operator \"=>\"; expected >, >=, < or <=",
                "rules.b.scope.host: unknown key",
                "rules.b.threshold: expected a number of milliseconds for latency_p90, found string \"slow\"",
                "rules.c.for: missing; expected a duration such as \"10m\"",
                "rules.c.threshold: 10 is out of range; expected a fraction in 0..=1 or a percentage such as \"10%\" for error_rate_5xx (0.1 means 10%)",
                "rules.d.threshold: expected a number of milliseconds for latency_p50, found string \"10%\"",
                "rules.d.window: 5m must not exceed for (1m)",
            ]
        );
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

    #[test]
    fn config_probe_threads_default_to_the_cores_and_are_bounded() {
        let s = from_toml_str(&minimal(""), &no_env).unwrap();
        assert_eq!(
            s.monitor.probe_threads,
            crate::config::default_probe_threads()
        );
        assert!(s.monitor.probe_threads >= 1);
        let s = from_toml_str(&minimal("[monitor]\nprobe_threads = 3\n"), &no_env).unwrap();
        assert_eq!(s.monitor.probe_threads, 3);
        assert_eq!(
            problems(&minimal("[monitor]\nprobe_threads = 0\n")),
            ["monitor.probe_threads: 0 is too small; the minimum is 1"]
        );
    }
}
