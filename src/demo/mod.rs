//! `exwatch demo`: one command, no configuration, no internet.
//!
//! [`run`] starts, inside the running actix System:
//!
//! - three simulated exchanges on loopback ([`sim`]): Binance, Bybit and OKX with their real
//!   answer shapes;
//! - Binance's BTC/USDT depth stream on loopback ([`stream_sim`]): its WebSocket protocol,
//!   subscribe and acknowledgement, `depthUpdate` events, ping frames;
//! - an alert sink ([`sink`]): a webhook receiver the monitor's `webhook` channel posts to;
//! - the monitor itself, through the library ([`crate::Monitor::builder`]), on settings
//!   generated for the simulators ([`settings_toml`]), with its dashboard on
//!   `127.0.0.1:9898` when free (any free port otherwise);
//!
//! then plays the script of [`story`] against the simulators and prints ([`mod@print`]) every
//! alert the sink receives as it arrives. At the end, or when `stop` completes (the binary
//! passes SIGINT/SIGTERM), it stops the monitor gracefully, then the sink and the simulators,
//! and prints a summary: nothing is left running or listening.
//!
//! `--speed N` divides every wait by N: probe intervals, chapter lengths, the dedup window,
//! the flap hold, the breaker's recovery timeout, `Retry-After`, the stream's cadence (down to
//! [`story::MIN_STREAM_CADENCE`]) and heartbeats. Detectors count samples, so the same alerts
//! come out at any speed.

pub mod print;
pub mod serve;
pub mod sim;
pub mod sink;
pub mod story;
pub mod stream_sim;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant, SystemTime};

use crate::error::{ConfigError, Error};
use crate::messages::Alert;
use crate::service::Monitor;
use crate::settings as config;
use crate::settings::Settings;

use print::{Printer, Tally};
use sim::{SimExchange, Venue};
use sink::AlertSink;
use story::{BadSpeed, TICK, Timeline};
use stream_sim::{SimStream, StreamTiming};

/// The dashboard's address when it is free.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9898";

/// How the demo runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoOptions {
    /// How many times faster than the 2½-minute script.
    pub speed: f64,
    /// Where the dashboard listens; `None`: [`DEFAULT_LISTEN`] if free, else any free port.
    pub listen: Option<SocketAddr>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            speed: 1.0,
            listen: None,
        }
    }
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A bad `--speed`.
    #[error(transparent)]
    Speed(#[from] BadSpeed),
    /// A simulator or the sink could not bind a loopback port.
    #[error("cannot start the {what} on loopback: {source}")]
    Bind {
        /// What could not start.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The generated settings were refused (a bug: they are generated).
    #[error("the demo's settings are invalid")]
    Settings(#[from] ConfigError),
    /// The monitor could not start.
    #[error(transparent)]
    Monitor(#[from] Error),
}

/// How the story ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoReport {
    /// True when `stop` ended it before its last chapter was over.
    pub interrupted: bool,
    /// The alerts the sink received.
    pub tally: Tally,
    /// Where the dashboard was.
    pub dashboard: Option<SocketAddr>,
}

/// Plays the demo inside the running actix System until the story ends or `stop` completes;
/// see the module docs. Everything it started is stopped before it returns.
///
/// # Errors
///
/// A bad speed, a loopback port that cannot be bound, or a monitor that cannot start.
pub async fn run(
    options: DemoOptions,
    stop: impl Future<Output = ()>,
) -> Result<DemoReport, DemoError> {
    let timeline = Timeline::new(options.speed)?;
    let printer = Printer::for_stdout();
    let mut sims = Vec::new();
    for venue in Venue::ALL {
        match SimExchange::start(venue) {
            Ok(s) => sims.push(s),
            Err(source) => {
                stop_all(sims, None, None).await;
                return Err(DemoError::Bind {
                    what: "simulated exchanges",
                    source,
                });
            }
        }
    }
    let depth = match SimStream::start(timeline.stream(StreamTiming::BINANCE_SPOT)) {
        Ok(s) => s,
        Err(source) => {
            stop_all(sims, None, None).await;
            return Err(DemoError::Bind {
                what: "simulated depth stream",
                source,
            });
        }
    };
    let (sink, mut alerts) = match AlertSink::start() {
        Ok(s) => s,
        Err(source) => {
            stop_all(sims, Some(depth), None).await;
            return Err(DemoError::Bind {
                what: "alert sink",
                source,
            });
        }
    };
    let listen = options.listen.unwrap_or_else(default_listen);
    let started = config::from_toml_str(
        &settings_toml(&timeline, &sims, depth.url(), sink.url(), listen),
        &|_| None,
    )
    .map_err(DemoError::from)
    .and_then(|settings: Settings| Ok(Monitor::builder(settings).start()?));
    let monitor = match started {
        Ok(m) => m,
        Err(e) => {
            stop_all(sims, Some(depth), Some(sink)).await;
            return Err(e);
        }
    };
    let dashboard = monitor.http_addr();
    printer.emit(&printer.header(dashboard, timeline.speed(), timeline.total()));

    let mut tally = Tally::default();
    let begin = Instant::now();
    let tick = timeline.scale(TICK);
    let mut stop = std::pin::pin!(stop);
    let mut interrupted = false;
    'story: for (_, length, chapter) in timeline.chapters() {
        printer.emit(&printer.chapter(begin.elapsed(), chapter.title));
        let (began_wall, began) = (SystemTime::now(), Instant::now());
        let end = began + length;
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let progress = (now - began).as_secs_f64() / length.as_secs_f64();
            let conditions = chapter
                .scene
                .conditions(progress, began_wall, length, &timeline);
            for s in &sims {
                s.set(conditions.of(s.venue()));
            }
            depth.set(conditions.binance_depth);
            let wake = (now + tick).min(end);
            loop {
                tokio::select! {
                    () = &mut stop => {
                        interrupted = true;
                        break 'story;
                    }
                    Some(a) = alerts.recv() => show(&printer, &mut tally, begin, &a),
                    () = actix_rt::time::sleep_until(wake.into()) => break,
                }
            }
        }
    }
    if interrupted {
        printer.emit("Stopping: the monitor delivers what it holds, then everything closes…");
    }
    for s in &sims {
        s.set(sim::Condition::default());
    }
    depth.set(stream_sim::StreamCondition::default());
    monitor.stop().await;
    // What the channel delivered while stopping.
    while let Ok(a) = alerts.try_recv() {
        show(&printer, &mut tally, begin, &a);
    }
    stop_all(sims, Some(depth), Some(sink)).await;
    printer.emit(&printer.summary(&tally));
    printer.emit(&printer.stopped(interrupted));
    Ok(DemoReport {
        interrupted,
        tally,
        dashboard,
    })
}

fn show(printer: &Printer, tally: &mut Tally, begin: Instant, a: &Alert) {
    tally.add(a);
    printer.emit(&printer.alert(begin.elapsed(), a));
}

async fn stop_all(sims: Vec<SimExchange>, depth: Option<SimStream>, sink: Option<AlertSink>) {
    if let Some(sink) = sink {
        sink.stop().await;
    }
    if let Some(depth) = depth {
        depth.stop().await;
    }
    for s in sims {
        s.stop().await;
    }
}

/// [`DEFAULT_LISTEN`] when nothing listens there, else port 0 (any free port).
fn default_listen() -> SocketAddr {
    let preferred: SocketAddr = DEFAULT_LISTEN
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    match TcpListener::bind(preferred) {
        Ok(probe) => {
            drop(probe);
            preferred
        }
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 0)),
    }
}

/// Formats a wall-time duration the way the configuration writes it.
fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// The monitor's settings for the simulators, as a configuration file would say them (so they
/// pass the same validation): every endpoint at a 1 s interval (script time), short latency
/// windows so a short story has baselines, every wait scaled by the speed, and
/// `min_increase_ms = 100` so that a busy laptop's scheduling hiccups (tens of ms on every
/// venue at once) are not mistaken for the story's degradations (100 ms and more). Binance
/// also has its BTC/USDT depth stream at `depth_url` (`kind = "stream"`, endpoint `depth`),
/// whose stall threshold the stream judge learns from its cadence, as it would in production.
pub fn settings_toml(
    timeline: &Timeline,
    sims: &[SimExchange],
    depth_url: &str,
    sink_url: &str,
    listen: SocketAddr,
) -> String {
    let s = |secs: f64| ms(timeline.scale(Duration::from_secs_f64(secs)));
    let mut t = format!(
        r#"# Generated by `exwatch demo` (speed {speed}).
[monitor]
region = "demo"

[http]
listen = "{listen}"

[store]
path = ":memory:"

[defaults]
interval = "{interval}"
timeout = "3s"

[breaker]
failure_threshold = 5
recovery_timeout = "{recovery}"
half_open_max_calls = 3

[detect.latency]
window = 30
min_samples = 10
rolling_window = 5
rolling_k = 2.0
z_threshold = 3.0
min_increase_ms = 100
resolve_after = 3

[detect.errors]
consecutive_failures = 3
recovery_successes = 5

[detect.price]
warn_bps = 50
critical_bps = 200
stale_after = "{stale}"
resolve_after = 3

[router]
dedup_window = "{dedup}"
flap_hold = "{flap}"
group_by = ["exchange"]
group_interval = "{group}"

[shutdown]
grace = "2s"

[channels.demo-sink]
type = "webhook"
url = "{sink_url}"
min_severity = "info"
"#,
        speed = timeline.speed(),
        interval = s(story::PROBE_INTERVAL.as_secs_f64()),
        recovery = s(6.0),
        stale = s(5.0),
        dedup = s(60.0),
        flap = s(4.0),
        group = s(30.0),
    );
    for sim in sims {
        let base = sim.base_url();
        let name = sim.venue().name();
        let endpoints: &[(&str, &str, &str)] = match sim.venue() {
            Venue::Binance => &[
                ("ping", "/api/v3/ping", "health"),
                ("time", "/api/v3/time", "time"),
                ("ticker", "/api/v3/ticker/price?symbol=BTCUSDT", "ticker"),
                ("status", "/sapi/v1/system/status", "status"),
            ],
            Venue::Bybit => &[
                ("time", "/v5/market/time", "time"),
                (
                    "ticker",
                    "/v5/market/tickers?category=spot&symbol=BTCUSDT",
                    "ticker",
                ),
                ("status", "/v5/system/status", "status"),
            ],
            Venue::Okx => &[
                ("time", "/api/v5/public/time", "time"),
                ("ticker", "/api/v5/market/ticker?instId=BTC-USDT", "ticker"),
                ("status", "/api/v5/system/status", "status"),
            ],
        };
        t.push_str(&format!("\n[exchanges.{name}]\nmax_connections = 16\n"));
        for (endpoint, path, kind) in endpoints {
            t.push_str(&format!(
                "\n[exchanges.{name}.endpoints.{endpoint}]\nurl = \"{base}{path}\"\ncheck = \"{name}\"\nkind = \"{kind}\"\n"
            ));
            if *kind == "ticker" {
                t.push_str("symbol = \"BTC/USDT\"\n");
            }
        }
        if sim.venue() == Venue::Binance {
            t.push_str(&format!(
                "\n[exchanges.{name}.endpoints.depth]\nurl = \"{depth_url}\"\ncheck = \"{name}\"\nkind = \"stream\"\nchannel = \"depth\"\nsymbol = \"BTC/USDT\"\n"
            ));
        }
    }
    t
}
