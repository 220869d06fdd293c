//! The `exwatch` command: a thin shell over the library.
//!
//! - `exwatch run [--config FILE]` runs the monitor (on the embedded default config when no
//!   file is given) until SIGINT or SIGTERM, then stops gracefully and exits 0.
//! - `exwatch check-config FILE` prints the resolved settings, secrets redacted, or lists
//!   every problem and exits 2.
//! - `exwatch replay --input FILE.csv --output OUT.csv [--config FILE]` runs a recorded series
//!   through the live latency detectors ([`exwatch::replay`]); exits 2 on a bad config or a
//!   malformed input (the error names the line and column), 1 when a file cannot be opened.
//! - `exwatch demo [--speed N]` plays a scripted story against simulated exchanges on loopback
//!   ([`exwatch::demo`]) and exits 0 at its end or on SIGINT/SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use exwatch::ConfigError;
use exwatch::config::Settings;

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
    },
    /// Play a two-minute story against simulated Binance, Bybit and OKX on loopback (no
    /// config, no internet) and print every alert as it arrives.
    Demo {
        /// How many times faster than the two-minute script (0.25 to 50).
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
        } => replay(&input, &output, config.as_deref()),
        Command::Demo { speed } => demo(speed),
        Command::Run { config } => {
            init_tracing();
            let settings = match load(config.as_deref()) {
                Ok(s) => s,
                Err(code) => return code,
            };
            match run(settings) {
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
    exwatch::config::load(path).map_err(|e| {
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

fn replay(input: &Path, output: &Path, config: Option<&Path>) -> ExitCode {
    let settings = match load(config) {
        Ok(s) => s,
        Err(code) => return code,
    };
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

fn run(settings: Settings) -> anyhow::Result<()> {
    let system = actix::System::new();
    system.block_on(async move {
        let monitor = exwatch::Monitor::start(settings)?;
        wait_for_signal()
            .await
            .context("waiting for a shutdown signal")?;
        tracing::info!("Shutdown requested; stopping probes and delivering queued alerts.");
        monitor.stop().await;
        Ok::<_, anyhow::Error>(())
    })?;
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
