//! From the tree as written to [`Settings`]: each section to the component that owns it
//! (probe, detect, route, store, the channel registry), the few sections no component owns
//! here. Pure: no I/O; secrets are looked up through the `env` closure. Every problem is
//! collected with its key path; nothing stops at the first.

use std::net::SocketAddr;

use config::{Map, Value};

use super::Settings;
use crate::config::check::*;
use crate::config::raw::{Problems, Table};
use crate::config::*;
use crate::error::Problem;
use crate::messages::Name;
use crate::probe::config as probe;
/// Restarts a budget may allow before a crash loop is declared.
const MAX_RESTARTS: usize = 1000;

/// Validates a merged tree. `env` looks up environment variables named by `*_env` keys.
pub(crate) fn validate(
    root: &Map<String, Value>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, Vec<Problem>> {
    let problems = Problems::default();
    let mut t = Table::root(root, &problems);
    let cluster = t.has("cluster");
    let settings = Settings {
        monitor: monitor(t.table("monitor")),
        http: http(t.table("http"), env),
        store: crate::store::config::validate(t.table("store")),
        defaults: probe::defaults(t.table("defaults")),
        breaker: probe::breaker(t.table("breaker")),
        exchanges: Vec::new(),
        streams: Vec::new(),
        detect: crate::detect::config::validate(t.table("detect")),
        router: crate::route::config::router(t.table("router")),
        channels: crate::channel::registry::channels(t.table("channels"), env),
        supervision: supervision(t.table("supervision")),
        shutdown: shutdown(t.table("shutdown")),
        rules: crate::detect::config::rules(t.table("rules")),
        cluster: crate::cluster::config::validate(cluster, t.table("cluster"), env),
    };
    let mut streams = Vec::new();
    let exchanges = probe::exchanges(t.table("exchanges"), &settings.defaults, &mut streams);
    {
        // exwatch's own series and its canaries use these exchange names.
        let xs = t.table("exchanges");
        let reserved = [
            crate::route::connectivity::OWN_EXCHANGE,
            crate::route::correlation::CANARY_EXCHANGE,
        ];
        for x in exchanges.iter().filter(|x| reserved.contains(&&*x.name)) {
            xs.problem(
                &x.name,
                "reserved for exwatch's own series; choose another name",
            );
        }
    }
    t.finish();
    if problems.is_empty() {
        Ok(Settings {
            exchanges,
            streams,
            ..settings
        })
    } else {
        Err(problems.into_sorted())
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
    let probe_threads = usize_between(&mut t, "probe_threads", 1, 256, d.probe_threads);
    let canaries = (t
        .str_or_list("canaries")
        .unwrap_or_default()
        .iter()
        .enumerate())
    .filter_map(|(i, url)| check_url(&t, &format!("canaries[{i}]"), url))
    .collect();
    t.finish();
    MonitorSettings {
        region,
        probe_threads,
        canaries,
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

#[cfg(test)]
mod tests {
    use super::super::{DEFAULT_TOML, from_toml_str};
    use crate::settings::testing::*;
    use std::time::Duration;

    use super::*;
    use crate::channel::{ChannelKind, DiscordSpec, LineSpec, WebhookSpec};
    use crate::config::Secret;
    use crate::detect::rules::{RuleMetric, RuleOp};
    use crate::error::ConfigError;
    use crate::messages::Severity;

    const EXAMPLE_TOML: &str = include_str!("../../config/example.toml");
    const SECRET: &str = "s3cr3t-v4lue-never-printed";

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
        assert!(
            s.streams.is_empty(),
            "no stream: the default starts with no internet"
        );
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
        assert_eq!(s.streams.len(), 1, "the example documents a stream");
        assert_eq!(&*s.streams[0].name, "btc-depth");
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
    fn config_exchange_names_of_exwatch_itself_are_reserved() {
        for name in ["exwatch", "exwatch-canary"] {
            let toml = format!(
                "[exchanges.{name}.endpoints.ping]\nurl = \"https://api.example.com/ping\"\n"
            );
            let p = problems(&toml);
            assert!(
                p.iter()
                    .any(|l| l.starts_with(&format!("exchanges.{name}: reserved"))),
                "{p:?}"
            );
        }
    }

    #[test]
    fn config_monitor_canaries_are_http_urls_reported_by_index() {
        let s = from_toml_str(
            &minimal("[monitor]\ncanaries = [\"https://cdn.example.com/\", \"http://10.0.0.1/health\"]\n"),
            &no_env,
        )
        .unwrap();
        assert_eq!(s.monitor.canaries.len(), 2);
        assert!(
            from_toml_str(&minimal(""), &no_env)
                .unwrap()
                .monitor
                .canaries
                .is_empty()
        );
        let p = problems(&minimal(
            "[monitor]\ncanaries = [\"https://ok.example/\", \"ftp://x/\", \"nope\"]\n",
        ));
        assert!(
            p.iter().any(|l| l.starts_with("monitor.canaries[1]:")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|l| l.starts_with("monitor.canaries[2]:")),
            "{p:?}"
        );
        assert!(
            !p.iter().any(|l| l.starts_with("monitor.canaries[0]")),
            "{p:?}"
        );
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
