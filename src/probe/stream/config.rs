//! The `stream` endpoint kind's configuration: an `[exchanges.<x>.endpoints.<name>]` table with
//! `kind = "stream"` turned into a validated [`StreamSettings`], purely, every problem reported
//! with its key path (`exchanges.binance.endpoints.btc-depth.channel: …`).
//!
//! ```toml
//! [exchanges.binance.endpoints.btc-depth]
//! url = "wss://stream.binance.com:9443/ws"   # ws:// too (tests use loopback)
//! check = "binance"                          # binance | bybit | okx: the venue's protocol
//! kind = "stream"
//! channel = "depth"                          # depth | trades | ticker
//! symbol = "BTC/USDT"
//! # stale_after = "5s"                       # default: learned from the stream's cadence
//! # max_frame_bytes = 1048576                # a larger frame is a measurement, never buffered
//! # lifetime = "23h50m"                      # planned make-before-break reconnect; default per venue
//! # reconnects_per_hour = 12                 # reconnect budget; more is `stream_churn`
//! # heartbeat = "20s"                        # Bybit/OKX ping interval; default the venue's
//! # timeout = "10s"                          # upgrade and subscribe acknowledgement
//! ```
//!
//! The exchange's table may say how many streams share one connection (at most the venue's
//! maximum, see [`crate::probe::stream::pack`]):
//!
//! ```toml
//! [exchanges.binance]
//! streams_per_connection = 200               # default: the venue's maximum (Binance 1024)
//! ```

use std::time::Duration;

use serde::Serialize;

use crate::config::check::usize_at_least;
use crate::config::raw::Table;
use crate::config::{ser_duration, ser_opt_duration};
use crate::messages::Name;

/// The default bound of one frame: 1 MiB.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 1024 * 1024;

/// The shortest `stale_after` accepted.
pub const MIN_STALE_AFTER: Duration = Duration::from_millis(100);

/// The shortest `lifetime` accepted (tests use a few seconds to exercise planned reconnects).
pub const MIN_LIFETIME: Duration = Duration::from_secs(1);

/// The venue whose public stream protocol an endpoint speaks (its `check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Venue {
    /// Binance spot and USD-M futures (`pu` is followed when the events carry it).
    Binance,
    /// Bybit v5 public streams.
    Bybit,
    /// OKX v5 public streams.
    Okx,
}

impl Venue {
    /// Parses a `check` name; `http` has no stream protocol.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "binance" => Self::Binance,
            "bybit" => Self::Bybit,
            "okx" => Self::Okx,
            _ => return None,
        })
    }

    /// The name as the file writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Bybit => "bybit",
            Self::Okx => "okx",
        }
    }

    /// The connection lifetime the venue enforces, less a margin for the make-before-break
    /// reconnect (Binance cuts at 24 h; Bybit and OKX document none, so none is planned).
    pub fn default_lifetime(self) -> Option<Duration> {
        match self {
            Self::Binance => Some(Duration::from_secs(24 * 3600 - 10 * 60)),
            Self::Bybit | Self::Okx => None,
        }
    }
}

/// What a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamChannel {
    /// Order-book updates (sequenced: gaps are detectable).
    Depth,
    /// Public trades.
    Trades,
    /// Best bid/ask or 24 h ticker.
    Ticker,
}

impl StreamChannel {
    /// Parses a channel name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "depth" => Self::Depth,
            "trades" => Self::Trades,
            "ticker" => Self::Ticker,
            _ => return None,
        })
    }

    /// The name as the file writes it (and as alerts say it: "binance depth stream").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Depth => "depth",
            Self::Trades => "trades",
            Self::Ticker => "ticker",
        }
    }
}

/// One `kind = "stream"` endpoint, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamSettings {
    /// The exchange it belongs to (its breaker, its REST endpoints).
    pub exchange: Name,
    /// The endpoint's name, lowercase `[a-z0-9_-]+`.
    pub name: Name,
    /// Absolute `ws://` or `wss://` URL.
    pub url: String,
    /// The venue protocol (`check`).
    pub venue: Venue,
    /// What it carries.
    pub channel: StreamChannel,
    /// Venue-neutral `BASE/QUOTE`.
    pub symbol: String,
    /// Silence that counts as a stall; `None`: learned from the stream's cadence.
    #[serde(
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub stale_after: Option<Duration>,
    /// The largest frame accepted; a larger one is a measurement and a reconnect.
    pub max_frame_bytes: usize,
    /// When to replace the connection (make-before-break); `None`: never planned.
    #[serde(
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub lifetime: Option<Duration>,
    /// Unplanned reconnects per hour before `stream_churn` fires.
    pub reconnects_per_hour: usize,
    /// The heartbeat interval; `None`: the venue's (20 s).
    #[serde(
        serialize_with = "ser_opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub heartbeat: Option<Duration>,
    /// Time the upgrade and the subscribe acknowledgement may take.
    #[serde(serialize_with = "ser_duration")]
    pub timeout: Duration,
    /// The exchange's `streams_per_connection` (`[exchanges.<x>]`): the most streams one
    /// shared connection carries; `None`: the venue's maximum
    /// ([`crate::probe::stream::pack::max_streams_per_connection`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams_per_connection: Option<usize>,
}

/// The default reconnect budget: a dozen unplanned reconnects an hour.
pub const DEFAULT_RECONNECTS_PER_HOUR: usize = 12;

/// True when an endpoint table says `kind = "stream"`.
pub(crate) fn is_stream(t: &mut Table<'_>) -> bool {
    t.has("kind") && t.str("kind").is_some_and(|k| k.trim() == "stream")
}

/// `[exchanges.<exchange>.endpoints.<name>]` with `kind = "stream"`.
pub(crate) fn endpoint(
    mut t: Table<'_>,
    exchange: &str,
    name: &str,
    timeout: Duration,
    streams_per_connection: Option<usize>,
) -> Option<StreamSettings> {
    t.mark("kind");
    let url = t
        .req_str("url", "an absolute ws:// or wss:// URL")
        .and_then(|u| check_ws_url(&t, "url", &u));
    let venue = match t.str("check") {
        Some(s) => Venue::parse(s.trim()).or_else(|| {
            t.problem(
                "check",
                format!("{s:?} has no stream protocol; expected binance, bybit or okx"),
            );
            None
        }),
        None => {
            t.missing(
                "check",
                "the venue's stream protocol: binance, bybit or okx",
            );
            None
        }
    };
    let channel = match t.str("channel") {
        Some(s) => StreamChannel::parse(s.trim()).or_else(|| {
            t.problem(
                "channel",
                format!("unknown channel {s:?}; expected depth, trades or ticker"),
            );
            None
        }),
        None => {
            t.mark("channel");
            t.missing("channel", "depth, trades or ticker");
            None
        }
    };
    let symbol = t
        .req_str("symbol", "a venue-neutral symbol such as \"BTC/USDT\"")
        .and_then(|s| {
            let s = s.trim().to_owned();
            let ok = s
                .split_once('/')
                .is_some_and(|(b, q)| !b.is_empty() && !q.is_empty() && !q.contains('/'))
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'/');
            if ok {
                Some(s)
            } else {
                t.problem(
                    "symbol",
                    format!("invalid symbol {s:?}; expected BASE/QUOTE such as \"BTC/USDT\""),
                );
                None
            }
        });
    let stale_after = min_duration(&mut t, "stale_after", MIN_STALE_AFTER);
    let lifetime = min_duration(&mut t, "lifetime", MIN_LIFETIME);
    let max_frame_bytes = usize_at_least(&mut t, "max_frame_bytes", 64, DEFAULT_MAX_FRAME_BYTES);
    let reconnects_per_hour = usize_at_least(
        &mut t,
        "reconnects_per_hour",
        1,
        DEFAULT_RECONNECTS_PER_HOUR,
    );
    let timeout = min_duration(&mut t, "timeout", Duration::from_millis(100)).unwrap_or(timeout);
    let heartbeat = min_duration(&mut t, "heartbeat", Duration::from_millis(100));
    for key in [
        "interval",
        "confirm_interval",
        "confirm_probes",
        "max_body_bytes",
    ] {
        if t.has(key) {
            t.mark(key);
            t.problem(key, "not used by kind = \"stream\" (a stream is kept open)");
        }
    }
    t.finish();
    let venue = venue?;
    Some(StreamSettings {
        exchange: Name::from(exchange),
        name: Name::from(name),
        url: url?,
        venue,
        channel: channel?,
        symbol: symbol?,
        stale_after,
        max_frame_bytes,
        lifetime: lifetime.or(venue.default_lifetime()),
        reconnects_per_hour,
        heartbeat,
        timeout,
        streams_per_connection,
    })
}

/// An optional duration of at least `min`.
fn min_duration(t: &mut Table<'_>, key: &str, min: Duration) -> Option<Duration> {
    let d = t.duration(key)?;
    if d < min {
        t.problem(
            key,
            format!(
                "{} is too short; the minimum is {}",
                humantime::format_duration(d),
                humantime::format_duration(min)
            ),
        );
        return None;
    }
    Some(d)
}

/// A `ws://` or `wss://` URL with a host.
fn check_ws_url(t: &Table<'_>, key: &str, url: &str) -> Option<String> {
    let url = url.trim();
    let Ok(uri) = url.parse::<awc::http::Uri>() else {
        t.problem(
            key,
            format!("invalid URL {url:?}; expected a ws:// or wss:// URL"),
        );
        return None;
    };
    match (uri.scheme_str(), uri.host()) {
        (Some("ws" | "wss"), Some(h)) if !h.is_empty() => Some(url.to_owned()),
        (Some("ws" | "wss"), _) => {
            t.problem(key, format!("no host in {url:?}"));
            None
        }
        (other, _) => {
            t.problem(
                key,
                format!(
                    "unsupported scheme {:?} in {url:?}; expected ws or wss for kind = \"stream\"",
                    other.unwrap_or("")
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::settings::from_toml_str;
    use crate::settings::testing::*;

    const STREAM: &str = "[exchanges.binance.endpoints.btc-depth]\n\
        url = \"wss://stream.binance.com:9443/ws\"\ncheck = \"binance\"\nkind = \"stream\"\n\
        channel = \"depth\"\nsymbol = \"BTC/USDT\"\n";

    #[test]
    fn config_stream_endpoint_is_read_beside_the_probed_ones() {
        let s = from_toml_str(&minimal(STREAM), &no_env).unwrap();
        assert_eq!(s.streams.len(), 1);
        let st = &s.streams[0];
        assert_eq!((&*st.exchange, &*st.name), ("binance", "btc-depth"));
        assert_eq!(st.venue, Venue::Binance);
        assert_eq!(st.channel, StreamChannel::Depth);
        assert_eq!(st.max_frame_bytes, DEFAULT_MAX_FRAME_BYTES);
        assert_eq!(st.stale_after, None, "learned");
        assert!(
            st.lifetime
                .is_some_and(|l| l < Duration::from_secs(24 * 3600))
        );
        // The exchange exists (its breaker) with no probed endpoint.
        let x = s.exchanges.iter().find(|x| &*x.name == "binance").unwrap();
        assert!(x.endpoints.is_empty());
        let s = from_toml_str(
            &minimal(&format!(
                "{STREAM}stale_after = \"5s\"\nmax_frame_bytes = 2048\nlifetime = \"1h\"\n"
            )),
            &no_env,
        )
        .unwrap();
        let st = &s.streams[0];
        assert_eq!(st.stale_after, Some(Duration::from_secs(5)));
        assert_eq!(st.max_frame_bytes, 2048);
        assert_eq!(st.lifetime, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn config_stream_problems_name_their_key() {
        let p = problems(&minimal(
            "[exchanges.b.endpoints.s]\nurl = \"https://example.com/ws\"\ncheck = \"http\"\n\
             kind = \"stream\"\nchannel = \"candles\"\nsymbol = \"BTCUSDT\"\nstale_after = \"10ms\"\n\
             interval = \"1s\"\nmax_frame_bytes = 0\n\
             [exchanges.c.endpoints.t]\nurl = \"ws://127.0.0.1:1/ws\"\nkind = \"stream\"\n",
        ));
        assert_eq!(
            p,
            [
                "exchanges.b.endpoints.s.channel: unknown channel \"candles\"; expected depth, trades or ticker",
                "exchanges.b.endpoints.s.check: \"http\" has no stream protocol; expected binance, bybit or okx",
                "exchanges.b.endpoints.s.interval: not used by kind = \"stream\" (a stream is kept open)",
                "exchanges.b.endpoints.s.max_frame_bytes: 0 is too small; the minimum is 64",
                "exchanges.b.endpoints.s.stale_after: 10ms is too short; the minimum is 100ms",
                "exchanges.b.endpoints.s.symbol: invalid symbol \"BTCUSDT\"; expected BASE/QUOTE such as \"BTC/USDT\"",
                "exchanges.b.endpoints.s.url: unsupported scheme \"https\" in \"https://example.com/ws\"; expected ws or wss for kind = \"stream\"",
                "exchanges.c.endpoints.t.channel: missing; expected depth, trades or ticker",
                "exchanges.c.endpoints.t.check: missing; expected the venue's stream protocol: binance, bybit or okx",
                "exchanges.c.endpoints.t.symbol: missing; expected a venue-neutral symbol such as \"BTC/USDT\"",
            ]
        );
    }

    #[test]
    fn config_streams_per_connection_is_an_exchange_key_bounded_by_the_venue() {
        let s = from_toml_str(
            &minimal(&format!(
                "[exchanges.binance]\nstreams_per_connection = 200\n{STREAM}"
            )),
            &no_env,
        )
        .unwrap();
        assert_eq!(s.streams[0].streams_per_connection, Some(200));
        let s = from_toml_str(&minimal(STREAM), &no_env).unwrap();
        assert_eq!(
            s.streams[0].streams_per_connection, None,
            "the venue's maximum"
        );
        let p = problems(&minimal(&format!(
            "[exchanges.binance]\nstreams_per_connection = 2000\n{STREAM}\
             [exchanges.okx]\nstreams_per_connection = 0\n\
             [exchanges.okx.endpoints.b]\nurl = \"ws://127.0.0.1:1/ws\"\ncheck = \"okx\"\n\
             kind = \"stream\"\nchannel = \"depth\"\nsymbol = \"BTC/USDT\"\n"
        )));
        assert_eq!(
            p,
            [
                "exchanges.binance.streams_per_connection: 2000 is more than binance allows on one connection (1024)",
                "exchanges.okx.streams_per_connection: 0 is too small; the minimum is 1",
            ]
        );
    }
}
