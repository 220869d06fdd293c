//! Embedding exwatch in an engine: the example's OrderRouter driven by injected measurements,
//! the engine's passive measurements judged by the detectors, one running monitor per store
//! file, and a stop that releases every thread and socket.

use std::time::{Duration, Instant};

use exwatch::messages::{Measurement, Metric, Outcome, SeriesKey, Timestamp};
use exwatch::{Error, Monitor};

use crate::collect::Collected;
use crate::common::WAIT;
use crate::support::test_settings;

#[path = "../../examples/trading_engine/router.rs"]
mod router;

use router::{Blocked, OrderRouter, RouteOrder, Shutdown};

fn breaker(venue: &str, state: f64, i: i64) -> Measurement {
    Measurement::ok(
        SeriesKey::new(venue, "*", Metric::Availability),
        state,
        Timestamp(crate::common::t0() + i * 1000),
    )
}

fn no_http() -> exwatch::settings::Settings {
    let mut s = test_settings();
    s.http.enabled = false;
    s
}

/// Polls `router` until its blocked venues are `want`.
async fn wait_blocked(router: &actix::Addr<OrderRouter>, want: &[&str]) {
    let deadline = Instant::now() + WAIT;
    loop {
        let blocked = router.send(Blocked).await.unwrap();
        if blocked == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "blocked {blocked:?}, want {want:?}"
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn the_order_router_stops_routing_to_a_venue_while_its_breaker_is_open() {
    let router = OrderRouter::start(no_http(), &["binance", "okx"], false).unwrap();
    let routes = |n| {
        let router = router.clone();
        async move {
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(router.send(RouteOrder).await.unwrap().unwrap());
            }
            v
        }
    };
    assert!(routes(4).await.contains(&"okx".to_string()));

    // OKX's breaker opens: exwatch says so, and no order goes there.
    router.do_send(breaker("okx", 1.0, 0));
    router.do_send(breaker("okx", 2.0, 1));
    wait_blocked(&router, &["okx"]).await;
    assert!(routes(6).await.iter().all(|v| v == "binance"));

    // It closes: OKX is back in the rotation.
    router.do_send(breaker("okx", 0.0, 2));
    wait_blocked(&router, &[]).await;
    assert!(routes(4).await.contains(&"okx".to_string()));

    assert!(router.send(Shutdown).await.unwrap());
}

#[actix_rt::test]
async fn the_engines_own_rejects_are_judged_by_the_same_detectors() {
    let mut anomalies = Collected::<exwatch::Anomaly>::start();
    let monitor = Monitor::builder(no_http())
        .subscribe(anomalies.recipient())
        .start()
        .unwrap();
    let series = SeriesKey::new("okx", "order_place", Metric::Errors);
    for i in 0..5 {
        monitor.inject(Measurement {
            series: series.clone(),
            value: 1.0,
            outcome: Outcome::Http5xx,
            status: 503,
            at: Timestamp(crate::common::t0() + i * 100),
        });
    }
    let a = anomalies.next(10).await;
    assert_eq!(a.series, series);
    monitor.stop().await;
}

#[actix_rt::test]
async fn a_second_monitor_on_the_same_store_file_is_refused_until_the_first_stops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.db").to_str().unwrap().to_owned();
    let on_file = || {
        let mut s = no_http();
        s.store.path = path.clone();
        s
    };
    let first = Monitor::start(on_file()).unwrap();
    match Monitor::start(on_file()) {
        Err(Error::AlreadyRunning { path: p, lock }) => {
            assert_eq!(p, path);
            assert_eq!(lock, dir.path().join("engine.db.lock"));
        }
        Err(e) => panic!("expected AlreadyRunning, got {e}"),
        Ok(_) => panic!("a second monitor started on {path}"),
    }
    let err = Monitor::start(on_file()).err().unwrap().to_string();
    assert!(err.contains(&path), "{err}");
    // In-memory stores are private: two of them are two instances.
    let a = Monitor::start(no_http()).unwrap();
    let b = Monitor::start(no_http()).unwrap();
    a.stop().await;
    b.stop().await;

    first.stop().await;
    let again = Monitor::start(on_file()).expect("the store is free once the first stopped");
    again.stop().await;
}

/// Runs [`released_in_a_process_of_its_own`] alone in a child process: other tests of this
/// binary start threads of their own, which would blur a count of this process's threads.
#[test]
fn stop_releases_every_thread_and_the_http_port() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "embedding::released_in_a_process_of_its_own",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(
        stdout.contains("threads:"),
        "the child did not run: {stdout}"
    );
}

const CHILD: &str = "EXWATCH_EMBEDDING_CHILD";

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The names of this process's threads, for a failure's message.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect()
}

/// Does nothing unless started by [`stop_releases_every_thread_and_the_http_port`].
#[test]
fn released_in_a_process_of_its_own() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    crate::support::install_crypto_provider();
    actix::System::new().block_on(async {
        let sim =
            exwatch::demo::sim::SimExchange::start(exwatch::demo::sim::Venue::Binance).unwrap();
        let toml = format!(
            "[http]\nlisten = \"127.0.0.1:0\"\n[store]\npath = \":memory:\"\n\
             [exchanges.binance.endpoints.time]\nurl = \"{}/api/v3/time\"\ncheck = \"binance\"\n\
             kind = \"time\"\ninterval = \"100ms\"\n",
            sim.base_url()
        );
        let settings = exwatch::settings::from_toml_str(&toml, &|_| None).unwrap();
        // Let the simulator's server start its threads before counting.
        actix_rt::time::sleep(Duration::from_millis(300)).await;
        let before = threads();
        let monitor = Monitor::start(settings).unwrap();
        let addr = monitor.http_addr().unwrap();
        // Real work on every part: probes answered, an HTTP request served.
        let deadline = Instant::now() + WAIT;
        let ok = [
            ("exchange", "binance"),
            ("endpoint", "time"),
            ("outcome", "ok"),
        ];
        while monitor
            .metrics()
            .value("exwatch_probes_total", &ok)
            .unwrap_or(0.0)
            < 3.0
        {
            assert!(Instant::now() < deadline, "no probe answered");
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
        let res = crate::support::client()
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        let during = threads();
        monitor.stop().await;
        // The store's thread signals that the database is closed as its last act, and may
        // take a moment more to end: give it (and only it) that moment.
        let settle = Instant::now() + Duration::from_secs(2);
        while threads() > before && Instant::now() < settle {
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        let after = threads();
        println!("threads: before {before}, running {during}, after stop {after}");
        // Three arbiters, the store's thread and the HTTP worker at least.
        assert!(during >= before + 5, "{before} → {during}");
        assert!(
            after <= before,
            "{before} → {after}: threads left behind: {:?}",
            thread_names()
        );
        std::net::TcpListener::bind(addr).expect("the HTTP port is free after stop");
        sim.stop().await;
    });
}
