//! A trading engine that embeds exwatch: `cargo run --example trading_engine`.
//!
//! Offline and in about 15 seconds, it plays:
//!
//! 1. three simulated venues (Binance, Bybit, OKX) on loopback, the same simulators as
//!    `exwatch demo`;
//! 2. exwatch, started inside the engine's own actix System by the [`router::OrderRouter`]
//!    actor through the library API, probing the venues' server-time endpoints;
//! 3. the engine placing ten orders a second, round-robin over the venues the router allows,
//!    and reporting each placement's latency and outcome to exwatch as passive
//!    `Measurement`s (series `<venue>/order_place/latency_ms` and `…/errors`), so that its
//!    real traffic is watched by the same detectors as the probes;
//! 4. at 3 s Bybit starts answering 503: the engine's orders there are rejected (and
//!    re-routed), exwatch alerts on the rejects, Bybit's breaker opens, and the router stops
//!    sending orders to Bybit; at 7 s Bybit recovers, the breaker closes, routing resumes.
//!
//! The routing decision is plain code in `trading_engine/router.rs`; this file is the engine's
//! main loop.

#[path = "trading_engine/router.rs"]
mod router;

use std::time::{Duration, Instant};

use actix::Addr;
use exwatch::demo::sim::{Condition, Failure, SimExchange, Venue};
use exwatch::messages::{Measurement, Metric, Outcome, SeriesKey, Timestamp};

use router::{Blocked, OrderRouter, RouteOrder, Shutdown};

/// exwatch's settings, as the engine ships them. `{binance}`, `{bybit}` and `{okx}` are the
/// simulators' base URLs. Short intervals and a quick breaker, so the story fits in seconds.
const SETTINGS: &str = r#"
[monitor]
region = "engine"

[http]
enabled = false            # the engine has its own server; exwatch's dashboard stays off

[store]
path = ":memory:"          # a real engine keeps a file: alerts survive a restart

[defaults]
interval = "250ms"
timeout = "1s"

[breaker]
failure_threshold = 3
recovery_timeout = "2s"
half_open_max_calls = 1

[detect.errors]
consecutive_failures = 3

[router]
flap_hold = "0s"

[exchanges.binance.endpoints.time]
url = "{binance}/api/v3/time"
check = "binance"
kind = "time"

[exchanges.bybit.endpoints.time]
url = "{bybit}/v5/market/time"
check = "bybit"
kind = "time"

[exchanges.okx.endpoints.time]
url = "{okx}/api/v5/public/time"
check = "okx"
kind = "time"
"#;

/// How long the story runs, and when Bybit fails and recovers.
const RUN_FOR: Duration = Duration::from_secs(12);
const BYBIT_FAILS_AT: Duration = Duration::from_secs(3);
const BYBIT_RECOVERS_AT: Duration = Duration::from_secs(7);
const ORDER_EVERY: Duration = Duration::from_millis(100);

/// The venues, in the order the simulators start (`Venue::ALL`).
const VENUES: [&str; 3] = ["binance", "bybit", "okx"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    exwatch::client::install_crypto_provider();
    actix::System::new().block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let sims = Venue::ALL
        .into_iter()
        .map(SimExchange::start)
        .collect::<Result<Vec<_>, _>>()?;
    let toml = SETTINGS
        .replace("{binance}", sims[0].base_url())
        .replace("{bybit}", sims[1].base_url())
        .replace("{okx}", sims[2].base_url());
    let settings = exwatch::settings::from_toml_str(&toml, &|name| std::env::var(name).ok())?;
    let router = OrderRouter::start(settings, &VENUES, true)?;
    println!("Engine up: exwatch embedded, routing over binance, bybit, okx.");

    let client = awc::Client::builder()
        .timeout(Duration::from_secs(1))
        .finish();
    let started = Instant::now();
    let mut second = Tally::default();
    let mut ticker = actix_rt::time::interval(ORDER_EVERY);
    while started.elapsed() < RUN_FOR {
        ticker.tick().await;
        let t = started.elapsed();
        story(&sims, t);
        place_order(&client, &sims, &router, &mut second).await;
        if t.as_millis() / 1000 != (t + ORDER_EVERY).as_millis() / 1000 {
            let blocked = router.send(Blocked).await.unwrap_or_default();
            println!(
                "t={:>2}s  {}  blocked: {blocked:?}",
                t.as_secs() + 1,
                second
            );
            second = Tally::default();
        }
    }

    let delivered = router.send(Shutdown).await.unwrap_or(false);
    for sim in sims {
        sim.stop().await;
    }
    println!("Engine down: exwatch stopped (every alert delivered: {delivered}).");
    Ok(())
}

/// The scripted fault: Bybit answers 503 between the two marks.
fn story(sims: &[SimExchange], t: Duration) {
    let bybit = &sims[1];
    let failing = (BYBIT_FAILS_AT..BYBIT_RECOVERS_AT).contains(&t);
    if failing != (bybit.condition().failure != Failure::None) {
        let failure = if failing {
            Failure::Status(503)
        } else {
            Failure::None
        };
        bybit.set(Condition {
            failure,
            ..Condition::default()
        });
        let what = if failing {
            "starts answering 503"
        } else {
            "recovers"
        };
        println!("  VENUE   bybit {what}");
    }
}

/// Places one order: asks the router where, sends it (a GET of the venue's time endpoint
/// stands in for the order API), reports latency and outcome to exwatch, and re-routes once
/// when the venue rejects it.
async fn place_order(
    client: &awc::Client,
    sims: &[SimExchange],
    router: &Addr<OrderRouter>,
    tally: &mut Tally,
) {
    for _attempt in 0..2 {
        let Some(venue) = router.send(RouteOrder).await.ok().flatten() else {
            tally.unrouted += 1;
            return;
        };
        let sim = sims
            .iter()
            .find(|s| s.venue().name() == venue)
            .expect("the router only knows our venues");
        let path = match sim.venue() {
            Venue::Binance => "/api/v3/time",
            Venue::Bybit => "/v5/market/time",
            Venue::Okx => "/api/v5/public/time",
        };
        let sent = Instant::now();
        let status = match client.get(format!("{}{path}", sim.base_url())).send().await {
            Ok(mut res) => {
                let _ = res.body().limit(64 * 1024).await;
                res.status().as_u16()
            }
            Err(_) => 0,
        };
        let latency_ms = sent.elapsed().as_secs_f64() * 1000.0;
        let outcome = match status {
            200..=299 => Outcome::Ok,
            429 => Outcome::RateLimited,
            400..=499 => Outcome::Http4xx,
            500..=599 => Outcome::Http5xx,
            _ => Outcome::Connect,
        };
        report(router, &venue, latency_ms, outcome, status);
        tally.count(&venue, outcome.is_ok());
        if outcome.is_ok() {
            return;
        }
    }
}

/// The engine's own measurements of one placement, in exwatch's series.
fn report(router: &Addr<OrderRouter>, venue: &str, latency_ms: f64, outcome: Outcome, status: u16) {
    let at = Timestamp::now();
    if outcome.is_ok() {
        let series = SeriesKey::new(venue, "order_place", Metric::LatencyMs);
        router.do_send(Measurement::ok(series, latency_ms, at));
    }
    router.do_send(Measurement {
        series: SeriesKey::new(venue, "order_place", Metric::Errors),
        value: if outcome.is_ok() { 0.0 } else { 1.0 },
        outcome,
        status,
        at,
    });
}

/// One second of orders, for the progress line.
#[derive(Default)]
struct Tally {
    /// Orders filled per venue, in the order of `VENUES`.
    filled: [u32; 3],
    rejected: u32,
    unrouted: u32,
}

impl Tally {
    fn count(&mut self, venue: &str, ok: bool) {
        match VENUES.iter().position(|v| *v == venue) {
            Some(i) if ok => self.filled[i] += 1,
            _ => self.rejected += 1,
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("filled:")?;
        for (venue, n) in VENUES.iter().zip(self.filled) {
            write!(f, " {venue} {n:>2}")?;
        }
        write!(f, "  rejected {:>2}", self.rejected)?;
        if self.unrouted > 0 {
            write!(f, "  unrouted {}", self.unrouted)?;
        }
        Ok(())
    }
}
