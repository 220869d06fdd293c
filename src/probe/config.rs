//! The probe's configuration: the `[defaults]`, `[breaker]` and `[exchanges]` sections turned
//! into validated [`ExchangeSettings`] (with their endpoints), [`EndpointDefaults`] and
//! [`BreakerSettings`], purely, every problem reported with its key path.
//!
//! It reads the tree through `config`'s generic walk (`Table`) and its shared checks; the
//! imports go from here to `config` only (`config` calls in here to assemble the whole
//! [`crate::settings::Settings`]).

use std::time::Duration;

use crate::config::MIN_INTERVAL;
use crate::config::check::{
    MIN_TIMEOUT, check_name, check_url, duration_at_least, opt_duration_at_least,
    positive_duration, u32_at_least, usize_at_least,
};
use crate::config::raw::Table;
use crate::config::{
    BreakerSettings, CheckProfile, EndpointDefaults, EndpointKind, EndpointSettings,
    ExchangeSettings, default_confirm_interval,
};
use crate::messages::Name;
use crate::probe::stream::config::{self as stream, StreamSettings};

/// `[defaults]`: what an endpoint takes when it does not say.
pub(crate) fn defaults(mut t: Table<'_>) -> EndpointDefaults {
    let d = EndpointDefaults::default();
    let out = EndpointDefaults {
        interval: duration_at_least(&mut t, "interval", MIN_INTERVAL, d.interval),
        timeout: duration_at_least(&mut t, "timeout", MIN_TIMEOUT, d.timeout),
        max_body_bytes: usize_at_least(&mut t, "max_body_bytes", 1, d.max_body_bytes),
        max_connections: usize_at_least(&mut t, "max_connections", 1, d.max_connections),
        confirm_interval: opt_duration_at_least(&mut t, "confirm_interval", MIN_INTERVAL)
            .or(d.confirm_interval),
        confirm_probes: t.u32("confirm_probes").or(d.confirm_probes),
        confirm_per_minute: u32_at_least(&mut t, "confirm_per_minute", 0, d.confirm_per_minute),
    };
    t.finish();
    out
}

/// `[breaker]`: the circuit breaker of every exchange.
pub(crate) fn breaker(mut t: Table<'_>) -> BreakerSettings {
    let d = BreakerSettings::default();
    let out = BreakerSettings {
        failure_threshold: u32_at_least(&mut t, "failure_threshold", 1, d.failure_threshold),
        recovery_timeout: positive_duration(&mut t, "recovery_timeout", d.recovery_timeout),
        half_open_max_calls: u32_at_least(&mut t, "half_open_max_calls", 1, d.half_open_max_calls),
    };
    t.finish();
    out
}

/// `[exchanges]`: at least one exchange; a badly named one is reported and left out. Its
/// `kind = "stream"` endpoints are validated by [`crate::probe::stream::config`] and go to
/// `streams`.
pub(crate) fn exchanges(
    mut t: Table<'_>,
    defaults: &EndpointDefaults,
    streams: &mut Vec<StreamSettings>,
) -> Vec<ExchangeSettings> {
    let entries = t.entries();
    if entries.is_empty() {
        t.problem_here("no exchanges; configure at least one exchange with at least one endpoint");
    }
    let mut out = Vec::new();
    for (name, x) in entries {
        let name_ok = check_name(&t, &name);
        if let Some(x) = exchange(x, &name, defaults, streams)
            && name_ok
        {
            out.push(x);
        }
    }
    t.finish();
    // Kept for the monitor's life: no growth slack (≈ 90 B an exchange).
    out.shrink_to_fit();
    out
}

/// `[exchanges.<name>]`: connections, confirmation budget, signing windows, endpoints.
fn exchange(
    mut t: Table<'_>,
    name: &str,
    defaults: &EndpointDefaults,
    streams: &mut Vec<StreamSettings>,
) -> Option<ExchangeSettings> {
    let max_connections = usize_at_least(&mut t, "max_connections", 1, defaults.max_connections);
    let confirm_per_minute =
        u32_at_least(&mut t, "confirm_per_minute", 0, defaults.confirm_per_minute);
    let streams_per_connection = t
        .has("streams_per_connection")
        .then(|| usize_at_least(&mut t, "streams_per_connection", 1, 1));
    let first_stream = streams.len();
    let mut eps = t.table("endpoints");
    let entries = eps.entries();
    if entries.is_empty() {
        t.problem(
            "endpoints",
            "no endpoints; an exchange needs at least one endpoint",
        );
    }
    let mut endpoints = Vec::new();
    for (ep_name, mut e) in entries {
        let name_ok = check_name(&eps, &ep_name);
        if stream::is_stream(&mut e) {
            if let Some(s) =
                stream::endpoint(e, name, &ep_name, defaults.timeout, streams_per_connection)
                && name_ok
            {
                streams.push(s);
            }
            continue;
        }
        if let Some(e) = endpoint(e, &ep_name, defaults)
            && name_ok
        {
            endpoints.push(e);
        }
    }
    eps.finish();
    // A `Vec` grows to four at its first push: without this a one-endpoint exchange kept room
    // for three more endpoints' settings (≈ 400 B) for the monitor's life.
    endpoints.shrink_to_fit();
    if let Some(n) = streams_per_connection
        && let Some(s) = (streams[first_stream..].iter())
            .find(|s| n > crate::probe::stream::pack::max_streams_per_connection(s.venue))
    {
        t.problem(
            "streams_per_connection",
            format!(
                "{n} is more than {} allows on one connection ({})",
                s.venue.as_str(),
                crate::probe::stream::pack::max_streams_per_connection(s.venue)
            ),
        );
    }
    let recv_window = t
        .has("recv_window")
        .then(|| positive_duration(&mut t, "recv_window", Duration::ZERO))
        .filter(|d| !d.is_zero());
    let ahead_window = t
        .has("ahead_window")
        .then(|| positive_duration(&mut t, "ahead_window", Duration::ZERO))
        .filter(|d| !d.is_zero());
    t.finish();
    Some(ExchangeSettings {
        name: Name::from(name),
        max_connections,
        confirm_per_minute,
        endpoints,
        recv_window,
        ahead_window,
    })
}

/// `[exchanges.<exchange>.endpoints.<name>]`: URL, answer profile, kind, timing.
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
                format!("unknown kind {s:?}; expected health, time, ticker, status or stream"),
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
    if let (Some(u), Some(c), Some(s)) = (&url, check, &symbol)
        && let Err(e) = crate::detect::price::check_ticker_url(c, s, u)
    {
        t.problem("url", e);
    }
    let interval = duration_at_least(&mut t, "interval", MIN_INTERVAL, defaults.interval);
    let timeout = duration_at_least(&mut t, "timeout", MIN_TIMEOUT, defaults.timeout);
    let max_body_bytes = usize_at_least(&mut t, "max_body_bytes", 1, defaults.max_body_bytes);
    // Clamped to the interval: a re-probe later than the next scheduled probe is pointless.
    let confirm_interval = opt_duration_at_least(&mut t, "confirm_interval", MIN_INTERVAL)
        .or(defaults.confirm_interval)
        .map_or_else(|| default_confirm_interval(interval), |d| d.min(interval));
    let confirm_probes = t.u32("confirm_probes").or(defaults.confirm_probes);
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
        confirm_interval,
        confirm_probes,
    })
}

/// An endpoint kind as the file writes it.
fn kind_name(k: EndpointKind) -> &'static str {
    match k {
        EndpointKind::Health => "health",
        EndpointKind::Time => "time",
        EndpointKind::Ticker => "ticker",
        EndpointKind::Status => "status",
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::testing::*;
    use std::time::Duration;

    use crate::config::{CheckProfile, EndpointKind};
    use crate::settings::from_toml_str;

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
                "exchanges.x.endpoints.h.kind: unknown kind \"pong\"; expected health, time, ticker, status or stream",
                "exchanges.x.endpoints.t.interval: 50ms is too short; the minimum is 100ms",
                "exchanges.x.endpoints.t.symbol: missing; expected a venue-neutral symbol such as \"BTC/USDT\" (required for kind = \"ticker\")",
                "exchanges.x.endpoints.t.timeout: must be greater than zero",
                "exchanges.x.endpoints.t.url: unsupported scheme \"ftp\" in \"ftp://example.com/\"; expected http or https",
                "exchanges.y.endpoints: no endpoints; an exchange needs at least one endpoint",
                "exchanges.y.max_connections: 0 is too small; the minimum is 1",
            ]
        );
        let p = problems(
            "[exchanges.okx.endpoints.ticker]\nurl = \"https://www.okx.com/api/v5/market/ticker?instId=BTCUSDT\"\n\
             check = \"okx\"\nkind = \"ticker\"\nsymbol = \"BTC/USDT\"\n",
        );
        assert_eq!(
            p,
            [
                "exchanges.okx.endpoints.ticker.url: asks for instId=BTCUSDT but symbol \"BTC/USDT\" is instId=BTC-USDT on this venue"
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
    fn config_confirm_defaults_follow_the_interval_and_the_breaker() {
        let s = from_toml_str(&minimal("interval = \"3s\"\n"), &no_env).unwrap();
        let x = &s.exchanges[0];
        assert_eq!(x.confirm_per_minute, 60);
        let e = &x.endpoints[0];
        assert_eq!(
            e.confirm_interval,
            Duration::from_millis(600),
            "a fifth of 3 s"
        );
        assert_eq!(
            e.confirm_probes, None,
            "the breaker's threshold, resolved by the probe"
        );
        let s = from_toml_str(&minimal(""), &no_env).unwrap();
        assert_eq!(
            s.exchanges[0].endpoints[0].confirm_interval,
            Duration::from_secs(1)
        );
        let s = from_toml_str(&minimal("interval = \"200ms\"\n"), &no_env).unwrap();
        assert_eq!(
            s.exchanges[0].endpoints[0].confirm_interval,
            Duration::from_millis(100)
        );
    }

    #[test]
    fn config_confirm_keys_override_and_clamp_to_the_interval() {
        let s = from_toml_str(
            &minimal(
                "interval = \"2s\"\nconfirm_probes = 2\n\
                 [exchanges.x.endpoints.slow]\nurl = \"https://example.com/slow\"\n\
                 [exchanges.x]\nconfirm_per_minute = 0\n\
                 [defaults]\nconfirm_interval = \"5s\"\nconfirm_probes = 7\nconfirm_per_minute = 9\n",
            ),
            &no_env,
        )
        .unwrap();
        let x = &s.exchanges[0];
        assert_eq!(x.confirm_per_minute, 0, "the exchange's own budget");
        let ping = x.endpoints.iter().find(|e| &*e.name == "ping").unwrap();
        assert_eq!(
            ping.confirm_interval,
            Duration::from_secs(2),
            "clamped to the interval"
        );
        assert_eq!(ping.confirm_probes, Some(2));
        let slow = x.endpoints.iter().find(|e| &*e.name == "slow").unwrap();
        assert_eq!(slow.confirm_interval, Duration::from_secs(5));
        assert_eq!(slow.confirm_probes, Some(7));
        assert_eq!(s.defaults.confirm_per_minute, 9);
    }

    #[test]
    fn config_confirm_keys_are_validated_with_their_paths() {
        assert_eq!(
            problems(&minimal(
                "confirm_interval = \"10ms\"\nconfirm_probes = -1\n\
                 [defaults]\nconfirm_interval = \"0s\"\nconfirm_per_minute = \"lots\"\n"
            )),
            [
                "defaults.confirm_interval: must be greater than zero",
                "defaults.confirm_per_minute: expected a non-negative integer, found string \"lots\"",
                "exchanges.x.endpoints.ping.confirm_interval: 10ms is too short; the minimum is 100ms",
                "exchanges.x.endpoints.ping.confirm_probes: -1 is out of range; expected a non-negative integer",
            ]
        );
    }
}
