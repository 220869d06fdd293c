//! The `exwatch` command: a thin shell over the library.
//!
//! - `exwatch run [--config FILE]` runs the monitor (on the embedded default config when no
//!   file is given) until SIGINT or SIGTERM, then stops gracefully and exits 0. SIGHUP
//!   re-reads the file and applies what changed ([`exwatch::reload`]); an invalid file is
//!   logged, problem by problem, and changes nothing.
//! - `exwatch check-config FILE` prints the resolved settings, secrets redacted, or lists
//!   every problem and exits 2.
//! - `exwatch replay --input FILE.csv --output OUT.csv [--config FILE] [--unit any|ms]
//!   [--direction both|up] [--detector all|zscore|iqr|rolling_mean|baseline_p90]` runs a
//!   recorded series
//!   through the live latency detectors ([`exwatch::replay`]); exits 2 on a bad config or a
//!   malformed input (the error names the line and column), 1 when a file cannot be opened.
//! - `exwatch events [--since 1h] [--exchange X] [--severity S] [--limit N] [--url URL |
//!   --config FILE]` prints a running instance's recent alerts as a table
//!   ([`exwatch::cli::events`]); exits 1 when the instance cannot be reached, 2 on a bad
//!   argument (refused by clap or by the server).
//! - `exwatch status [--url URL | --config FILE]` prints a running instance's status
//!   (`GET /api/v1/status`) as tables; exits 1 when the instance cannot be reached.
//! - `exwatch demo [--speed N]` plays a scripted story against simulated exchanges on loopback
//!   ([`exwatch::demo`]) and exits 0 at its end or on SIGINT/SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use exwatch::ConfigError;
use exwatch::settings::Settings;

/// mimalloc rather than the system allocator: awc allocates on every request, and glibc's
/// malloc/free were ≈ 12 % of the probe thread's time under load (benches/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Returns to the OS the pages this thread freed while starting (the parsed config, the
/// settings' intermediate copies, the topology's set-up): mimalloc purges freed pages lazily,
/// on the freeing thread's later allocations, and this thread allocates little once the
/// monitor runs, so without it they stayed resident. 5 000 one-endpoint exchanges: RSS
/// 105–115 MB run to run before (bimodal), see `benches/RESULTS.md`.
fn release_startup_memory() {
    // SAFETY: `mi_collect` only walks this thread's mimalloc heap (the global allocator, so
    // every block it sees is mimalloc's); it takes no pointer from us.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

/// mimalloc's `mi_option_purge_delay` (`include/mimalloc.h` of mimalloc 2, which
/// `libmimalloc-sys` does not name): ms before freed pages go back to the OS, 10 by default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long the start keeps purging at once: the probe threads' actors start and do their
/// first probe within it.
const START_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// While the monitor starts, freed pages go back to the OS at once: the start's transient
/// allocations (every actor's set-up, on every probe thread) otherwise leave pages that
/// mimalloc purges only on that thread's later frees, if ever (5 000 one-endpoint exchanges:
/// 73.6 → 72.5 MiB). Returns the delay to restore once started: purging every free at once
/// for good costs the probe path ≈ 13 % more CPU (12.1 → 13.7 µs per probe at 40 000
/// endpoints; benches/RESULTS.md).
fn purge_at_once() -> std::os::raw::c_long {
    // SAFETY: reading and setting an option of the global allocator; no pointer passes.
    unsafe {
        let delay = libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY);
        // A negative delay is the operator's `MIMALLOC_PURGE_DELAY=-1`: never purge.
        if delay >= 0 {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
        delay
    }
}

/// Restores the purge delay [`purge_at_once`] replaced.
fn purge_lazily(delay: std::os::raw::c_long) {
    // SAFETY: as in `purge_at_once`.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay) };
}

/// Watches crypto-exchange APIs and alerts a trading desk when one degrades.
#[derive(Debug, Parser)]
#[command(name = "exwatch", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the monitor (the default command).
    Run {
        /// Configuration file (TOML). Without it, the embedded default monitors the public
        /// endpoints of Binance, Bybit and OKX and logs alerts.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file and print the resolved settings (secrets redacted).
    CheckConfig {
        /// Configuration file (TOML).
        file: PathBuf,
    },
    /// Replay a recorded series (CSV: timestamp,value[,label]) through the latency detectors
    /// and write timestamp,value,anomaly_score,severity,detector; with labels, print
    /// precision, recall and F1 to stderr.
    Replay {
        /// Input CSV with a header naming `timestamp`, `value` and optionally `label` (0/1).
        #[arg(long, short)]
        input: PathBuf,
        /// Output CSV (created or truncated).
        #[arg(long, short)]
        output: PathBuf,
        /// Configuration file (TOML) whose `[detect.latency]` settings are used; the embedded
        /// default without it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// What the values are: `any` (any unit and sign; spread floors from the series' own
        /// robust scale) or `ms` (latencies, judged exactly as a live latency series).
        #[arg(long, default_value = "any", value_parser = ["any", "ms"])]
        unit: String,
        /// Which departures count: `both` (spikes and drops, shifts up and down) or `up` (rises
        /// only, as for live latency).
        #[arg(long, default_value = "both", value_parser = ["both", "up"])]
        direction: String,
        /// The detector: `likelihood` (the default, as live latency is judged), `composite`
        /// (or `all`: the sliding-window z-score, IQR and rolling-mean composite), or one of its
        /// detectors alone (`zscore`, `iqr`, `rolling_mean`, `baseline_p90`).
        #[arg(
            long,
            default_value = "likelihood",
            value_parser = exwatch::settings::LatencySettings::DETECTORS
        )]
        detector: String,
    },
    /// Print the recent alerts of a running instance (its /api/v1/events), newest first,
    /// times in UTC, with what was delivered to which channel.
    Events {
        /// Events at or after: a duration before now (`1h`, `30m`), RFC 3339 or epoch ms.
        #[arg(long)]
        since: Option<String>,
        /// Events at or before, as --since.
        #[arg(long)]
        until: Option<String>,
        /// Only this exchange.
        #[arg(long)]
        exchange: Option<String>,
        /// Only this endpoint.
        #[arg(long)]
        endpoint: Option<String>,
        /// Only this metric (latency_ms, errors, availability, price, clock_skew_ms, …).
        #[arg(long)]
        metric: Option<String>,
        /// This severity and above.
        #[arg(long, value_parser = ["info", "warning", "critical"])]
        severity: Option<String>,
        /// Only this kind.
        #[arg(long, value_parser = ["firing", "resolved", "triage", "acknowledged"])]
        kind: Option<String>,
        /// How many events at most (1 to 500; the server's default is 100).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: Option<u32>,
        /// Only the events this vantage (`[monitor] region`) stored: with `[cluster]`, every
        /// vantage's are listed.
        #[arg(long)]
        region: Option<String>,
        /// The instance's base URL (`http://127.0.0.1:9898`); default: the `[http] listen`
        /// of --config, or of the embedded default.
        #[arg(long, conflicts_with = "config")]
        url: Option<String>,
        /// The instance's configuration file, to find its `[http] listen`.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Print a running instance's status: breaker, last probe, latency percentiles, error
    /// rate and open anomalies per exchange and endpoint.
    Status {
        /// The instance's base URL (default: from the configuration's `[http] listen`,
        /// `http://127.0.0.1:9898` without one).
        #[arg(long, conflicts_with = "config")]
        url: Option<String>,
        /// Configuration file (TOML) whose `[http] listen` names the instance.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// How long to wait for the answer.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Play a 2½-minute story against simulated Binance, Bybit and OKX on loopback (no
    /// config, no internet) and print every alert as it arrives.
    Demo {
        /// How many times faster than the 2½-minute script (0.25 to 10: at 10 every endpoint
        /// is probed at the shortest interval a configuration accepts, 100 ms).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
}

/// Exit status for a configuration that cannot be used.
const EXIT_BAD_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run { config: None }) {
        Command::CheckConfig { file } => check_config(&file),
        Command::Replay {
            input,
            output,
            config,
            unit,
            direction,
            detector,
        } => replay(
            &input,
            &output,
            config.as_deref(),
            &unit,
            &direction,
            &detector,
        ),
        Command::Status {
            url,
            config,
            timeout,
        } => status(url, config.as_deref(), timeout),
        Command::Events {
            since,
            until,
            exchange,
            endpoint,
            metric,
            severity,
            kind,
            limit,
            region,
            url,
            config,
            timeout,
        } => {
            let args = exwatch::cli::events::EventsArgs {
                since,
                until,
                exchange,
                endpoint,
                metric,
                severity,
                kind,
                limit,
                region,
            };
            events(&args, url, config.as_deref(), timeout)
        }
        Command::Demo { speed } => demo(speed),
        Command::Run { config } => {
            init_tracing();
            let settings = match load(config.as_deref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match run(settings, config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("exwatch: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn load(path: Option<&Path>) -> Result<Settings, ExitCode> {
    exwatch::settings::load(path).map_err(|e| {
        report(&e);
        ExitCode::from(EXIT_BAD_CONFIG)
    })
}

fn report(e: &ConfigError) {
    match e {
        ConfigError::Invalid(problems) => {
            eprintln!(
                "exwatch: the configuration has {} problem(s):",
                problems.len()
            );
            for p in problems {
                eprintln!("  {p}");
            }
        }
        other => eprintln!("exwatch: {other}"),
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match load(Some(file)) {
        Err(code) => code,
        Ok(settings) => match toml::to_string(&settings) {
            Ok(text) => {
                println!(
                    "# {}: valid; resolved settings (secrets redacted)",
                    file.display()
                );
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("exwatch: cannot print the settings: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn replay(
    input: &Path,
    output: &Path,
    config: Option<&Path>,
    unit: &str,
    direction: &str,
    detector: &str,
) -> ExitCode {
    // Replay reads only `[detect]`: a file of just those tables is layered over the default.
    let loaded = match config {
        Some(path) => exwatch::settings::load_over_default(path),
        None => exwatch::settings::load(None),
    };
    let mut settings = match loaded {
        Ok(s) => s,
        Err(e) => {
            report(&e);
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    // clap has checked both against their lists.
    let latency = &mut settings.detect.latency;
    latency.unit = exwatch::settings::ValueUnit::parse(unit).unwrap_or_default();
    latency.direction = exwatch::settings::Direction::parse(direction).unwrap_or_default();
    latency.select(detector);
    let reader = match std::fs::File::open(input) {
        Ok(f) => std::io::BufReader::with_capacity(1 << 16, f),
        Err(e) => {
            eprintln!("exwatch: cannot open {}: {e}", input.display());
            return ExitCode::FAILURE;
        }
    };
    let writer = match std::fs::File::create(output) {
        Ok(f) => std::io::BufWriter::with_capacity(1 << 16, f),
        Err(e) => {
            eprintln!("exwatch: cannot create {}: {e}", output.display());
            return ExitCode::FAILURE;
        }
    };
    match exwatch::replay::replay(reader, writer, &settings.detect) {
        Ok(summary) => {
            eprintln!("{}", summary.report());
            ExitCode::SUCCESS
        }
        Err(exwatch::replay::ReplayError::Io(e)) => {
            eprintln!("exwatch: replay failed: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("exwatch: {}: {e}", input.display());
            ExitCode::from(EXIT_BAD_CONFIG)
        }
    }
}

fn status(url: Option<String>, config: Option<&Path>, timeout: std::time::Duration) -> ExitCode {
    let base = match url {
        Some(url) => url,
        None => match load(config) {
            Ok(settings) => exwatch::status::fetch::base_url_for(settings.http.listen),
            Err(code) => return code,
        },
    };
    let system = actix::System::new();
    match system.block_on(exwatch::status::fetch_status(&base, timeout)) {
        Ok(report) => {
            print!("{}", exwatch::status::render_table(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exwatch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn events(
    args: &exwatch::cli::events::EventsArgs,
    url: Option<String>,
    config: Option<&Path>,
    timeout: std::time::Duration,
) -> ExitCode {
    use exwatch::cli::events;
    let base = match url {
        Some(u) => u,
        None => match load(config) {
            Ok(s) => exwatch::status::fetch::base_url_for(s.http.listen),
            Err(code) => return code,
        },
    };
    let system = actix::System::new();
    match system.block_on(events::fetch(&base, args, timeout)) {
        Ok(page) => {
            print!("{}", events::render(&page));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("exwatch: {e}");
            if e.is_bad_argument() {
                ExitCode::from(EXIT_BAD_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(settings: Settings, config: Option<PathBuf>) -> anyhow::Result<()> {
    let system = actix::System::new();
    system.block_on(async move {
        // A reload reads what the start read: the file (or the embedded default), then the
        // environment's overrides and secrets.
        let delay = purge_at_once();
        let monitor = exwatch::Monitor::builder(settings)
            .config_source(move || exwatch::settings::load(config.as_deref()))
            .start()?;
        release_startup_memory();
        actix_rt::spawn(async move {
            actix_rt::time::sleep(START_SETTLE).await;
            purge_lazily(delay);
        });
        reload_on_hangup(monitor.reloader())?;
        wait_for_signal()
            .await
            .context("waiting for a shutdown signal")?;
        tracing::info!("Shutdown requested; stopping probes and delivering queued alerts.");
        monitor.stop().await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// Reloads the configuration on every SIGHUP, for as long as the process runs.
fn reload_on_hangup(reloader: std::sync::Arc<exwatch::reload::Reloader>) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup())?;
        actix_rt::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration.");
                let reloader = reloader.clone();
                // The outcome is logged by the reloader, problem by problem.
                let _ = actix_web::rt::task::spawn_blocking(move || reloader.reload()).await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = reloader;
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = actix_rt::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        actix_rt::signal::ctrl_c().await
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not for journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Panics that escape the actors' guards still reach the log, not just stderr.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        tracing::error!(panic = %info, "Panic.");
        default_hook(info);
    }));
}

fn demo(speed: f64) -> ExitCode {
    if let Err(e) = exwatch::demo::story::Timeline::new(speed) {
        eprintln!("exwatch: {e}");
        return ExitCode::from(EXIT_BAD_CONFIG);
    }
    // Quiet by default: the story prints its own lines on stdout.
    init_tracing_with("exwatch=error");
    let options = exwatch::demo::DemoOptions {
        speed,
        // `EXWATCH__HTTP__LISTEN` moves the dashboard, as for `run`.
        listen: std::env::var("EXWATCH__HTTP__LISTEN")
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    let system = actix::System::new();
    let result = system.block_on(async move {
        // Registered before the story starts, so an early Ctrl-C still ends it cleanly.
        let stop = stop_signal()?;
        Ok::<_, anyhow::Error>(exwatch::demo::run(options, stop).await?)
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("exwatch: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGINT or SIGTERM, registered now (not at first poll).
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use actix_rt::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = actix_rt::signal::ctrl_c().await;
        })
    }
}

fn init_tracing_with(default_filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
