//! Several vantages, one view (`[cluster]`), against a real PostgreSQL (see
//! tests/support/postgres.rs: skipped without one, required in CI). Two monitors in this
//! process with different regions, each probing its own loopback copy of the same venues,
//! share one database: a venue failing from one vantage is a warning naming it, from both a
//! critical `circuit_open`; PostgreSQL going away never stops an alert, and what was queued
//! meanwhile is there once it is back.

use std::time::{Duration, Instant};

use exwatch::channel::{AlertmanagerSpec, ChannelKind};
use exwatch::cluster::ClusterSettings;
use exwatch::messages::{Alert, AlertKind, Severity};
use exwatch::settings::ChannelSettings;
use exwatch::settings::{CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings, Settings};
use exwatch::{Monitor, MonitorHandle};

use crate::collect::Collected;
use crate::common::fire;
use crate::support::alertmanager_cluster::AmCluster;
use crate::support::fake_exchange::{FakeExchange, Mode};
use crate::support::fake_sink::FakeSink;
use crate::support::postgres::{Proxy, connect, database, via};

const INTERVAL: Duration = Duration::from_millis(200);

fn endpoint(fake: &FakeExchange, path: &str, check: CheckProfile) -> EndpointSettings {
    EndpointSettings {
        name: "time".into(),
        url: fake.url(path),
        check,
        kind: EndpointKind::Health,
        symbol: None,
        interval: INTERVAL,
        timeout: Duration::from_secs(1),
        max_body_bytes: 4096,
        confirm_interval: Duration::from_millis(100),
        confirm_probes: Some(0),
    }
}

/// A monitor of vantage `region` probing `fake`'s okx and binance, sharing `url`.
fn vantage(
    region: &str,
    fake: &FakeExchange,
    url: &str,
    quorum: usize,
) -> (MonitorHandle, Collected<Alert>) {
    vantage_posting(region, fake, url, quorum, Vec::new())
}

/// [`vantage`], posting to every Alertmanager of `alertmanagers` too.
fn vantage_posting(
    region: &str,
    fake: &FakeExchange,
    url: &str,
    quorum: usize,
    alertmanagers: Vec<String>,
) -> (MonitorHandle, Collected<Alert>) {
    let settings = vantage_settings(region, fake, url, quorum, alertmanagers);
    let alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");
    (monitor, alerts)
}

/// The settings of [`vantage_posting`].
fn vantage_settings(
    region: &str,
    fake: &FakeExchange,
    url: &str,
    quorum: usize,
    alertmanagers: Vec<String>,
) -> Settings {
    let exchange = |name: &str, path: &str, check| ExchangeSettings {
        name: name.into(),
        max_connections: 2,
        recv_window: None,
        ahead_window: None,
        confirm_per_minute: 600,
        endpoints: vec![endpoint(fake, path, check)],
    };
    let mut settings = Settings {
        exchanges: vec![
            exchange("binance", "/api/v3/ping", CheckProfile::Binance),
            exchange("okx", "/api/v5/public/time", CheckProfile::Okx),
        ],
        ..crate::support::test_settings()
    };
    settings.monitor.region = region.into();
    settings.breaker.failure_threshold = 2;
    settings.breaker.recovery_timeout = Duration::from_millis(300);
    settings.router.correlation_hold = Duration::ZERO;
    settings.shutdown.grace = Duration::from_secs(1);
    let mut cluster = ClusterSettings::new(url);
    cluster.quorum = quorum;
    cluster.vantage_stale_after = Duration::from_secs(5);
    settings.cluster = Some(cluster);
    if !alertmanagers.is_empty() {
        settings.channels.push(ChannelSettings {
            name: "am".into(),
            min_severity: Severity::Info,
            retry: crate::common::retry(5),
            kind: ChannelKind::Alertmanager(AlertmanagerSpec {
                urls: alertmanagers,
                resend_interval: Duration::from_secs(60),
            }),
        });
    }
    settings
}

/// Collects alerts until `done` holds of them, or panics after `secs`.
async fn until(
    alerts: &mut Collected<Alert>,
    seen: &mut Vec<Alert>,
    secs: u64,
    what: &str,
    done: impl Fn(&[Alert]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(seen) {
        assert!(Instant::now() < deadline, "{what}: {:#?}", summary(seen));
        seen.extend(alerts.drain().await);
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn summary(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            format!(
                "{} {} {} {} {}",
                a.kind.as_str(),
                a.severity.as_str(),
                a.exchange,
                a.detector,
                a.message
            )
        })
        .collect()
}

fn firing<'a>(alerts: &'a [Alert], exchange: &str, detector: &str) -> Vec<&'a Alert> {
    alerts
        .iter()
        .filter(|a| {
            a.kind == AlertKind::Firing && &*a.exchange == exchange && &*a.detector == detector
        })
        .collect()
}

#[actix::test]
async fn cluster_one_vantage_down_is_a_warning_both_down_is_one_critical_down() {
    let Some(url) = database("cluster_quorum").await else {
        return;
    };
    let (tokyo_fake, singapore_fake) = (FakeExchange::start(), FakeExchange::start());
    let (tokyo, mut tokyo_alerts) = vantage("tokyo", &tokyo_fake, &url, 2);
    let (singapore, mut singapore_alerts) = vantage("singapore", &singapore_fake, &url, 2);
    actix_rt::time::sleep(Duration::from_millis(1500)).await;

    // A path problem between Tokyo and OKX: a warning naming Tokyo, from both; no page.
    tokyo_fake.set_mode_for("/api/v5/public/time", Mode::Reset);
    let (mut t, mut s) = (Vec::new(), Vec::new());
    for (alerts, seen) in [(&mut tokyo_alerts, &mut t), (&mut singapore_alerts, &mut s)] {
        until(alerts, seen, 15, "a vantage_down warning", |a| {
            !firing(a, "okx", "vantage_down").is_empty()
        })
        .await;
    }
    for seen in [&t, &s] {
        let w = firing(seen, "okx", "vantage_down");
        assert_eq!(w[0].severity, Severity::Warning);
        assert!(
            w[0].message
                .starts_with("okx unreachable from tokyo (1 of 2 vantages; quorum 2)"),
            "{}",
            w[0].message
        );
        assert!(
            firing(seen, "okx", "circuit_open").is_empty(),
            "{:#?}",
            summary(seen)
        );
    }
    // Whatever else Tokyo's detectors see of OKX's failures (its error rate) is held at
    // warning: the path problem pages nobody.
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    t.extend(tokyo_alerts.drain().await);
    s.extend(singapore_alerts.drain().await);
    assert!(
        t.iter().chain(&s).all(|a| a.severity != Severity::Critical),
        "{:#?}",
        summary(&t)
    );

    // OKX down from both: the quorum is met, one critical `circuit_open` from each vantage,
    // with the same series and severity (what Alertmanager's labels are made of).
    let started = Instant::now();
    singapore_fake.set_mode_for("/api/v5/public/time", Mode::Reset);
    for (alerts, seen) in [(&mut tokyo_alerts, &mut t), (&mut singapore_alerts, &mut s)] {
        until(alerts, seen, 15, "a quorum down", |a| {
            !firing(a, "okx", "circuit_open").is_empty()
        })
        .await;
    }
    eprintln!(
        "quorum down seen by both {:?} after the second vantage began failing",
        started.elapsed()
    );
    let (td, sd) = (
        firing(&t, "okx", "circuit_open")[0],
        firing(&s, "okx", "circuit_open")[0],
    );
    assert_eq!(
        (td.severity, sd.severity),
        (Severity::Critical, Severity::Critical)
    );
    assert_eq!((&td.endpoint, td.metric), (&sd.endpoint, sd.metric));
    assert!(
        td.message
            .starts_with("okx down from singapore, tokyo (2 of 2 vantages"),
        "{}",
        td.message
    );
    assert_eq!((&*td.region, &*sd.region), ("tokyo", "singapore"));
    // Binance never failed anywhere.
    assert!(
        t.iter().chain(&s).all(|a| &*a.exchange != "binance"),
        "{:#?}",
        summary(&t)
    );

    // Both recover: the down resolves on both.
    tokyo_fake.set_mode_for("/api/v5/public/time", Mode::Normal);
    singapore_fake.set_mode_for("/api/v5/public/time", Mode::Normal);
    for (alerts, seen) in [(&mut tokyo_alerts, &mut t), (&mut singapore_alerts, &mut s)] {
        until(alerts, seen, 15, "the down resolved", |a| {
            a.iter()
                .any(|a| a.kind == AlertKind::Resolved && &*a.exchange == "okx")
        })
        .await;
    }

    // One view: every vantage's alerts are in the shared history.
    tokyo.drain().await;
    singapore.drain().await;
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    t.extend(tokyo_alerts.drain().await);
    s.extend(singapore_alerts.drain().await);
    eprintln!("tokyo: {:#?}\nsingapore: {:#?}", summary(&t), summary(&s));
    let db = connect(&url).await;
    let rows = db
        .query(
            "SELECT region, count(*) FROM exwatch_events WHERE record = 'alert' GROUP BY region ORDER BY region",
            &[],
        )
        .await
        .unwrap();
    let counts: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert_eq!(counts[0].1 as usize, s.len(), "{counts:?}");
    assert_eq!(counts[1].1 as usize, t.len(), "{counts:?}");

    // The API of either instance shows every vantage's events, each with its region.
    let client = crate::support::client();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let mut r = client.get(path).send().await.unwrap();
            assert!(r.status().is_success(), "{:?}", r.status());
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    let api = format!("http://{}/api/v1", singapore.http_addr().unwrap());
    let all = get(format!("{api}/events?limit=500")).await;
    let regions = |page: &serde_json::Value| {
        let mut r: Vec<String> = (page["events"].as_array().unwrap().iter())
            .map(|e| e["region"].as_str().unwrap().to_owned())
            .collect();
        r.sort();
        r.dedup();
        r
    };
    assert_eq!(regions(&all), ["singapore", "tokyo"], "{all}");
    assert_eq!(all["events"].as_array().unwrap().len(), t.len() + s.len());
    let tokyo_only = get(format!("{api}/events?region=tokyo&limit=2")).await;
    assert_eq!(regions(&tokyo_only), ["tokyo"]);
    // Paged by the same cursor as the local store's.
    let cursor = tokyo_only["next_cursor"].as_str().expect("more pages");
    let next = get(format!(
        "{api}/events?region=tokyo&limit=500&cursor={cursor}"
    ))
    .await;
    assert_eq!(
        2 + next["events"].as_array().unwrap().len(),
        t.len(),
        "{next}"
    );
    let downs = get(format!(
        "{api}/events?exchange=okx&severity=critical&kind=firing"
    ))
    .await;
    assert!(
        (downs["events"].as_array().unwrap().iter())
            .any(|e| e["detector"] == "circuit_open" && e["region"] == "tokyo"),
        "{downs}"
    );
    // Every vantage's state, and the quorum's verdict, in the status of either.
    let status = get(format!("{api}/status")).await;
    let cluster = &status["cluster"];
    assert_eq!(cluster["quorum"], 2, "{status}");
    assert_eq!(cluster["shared"], true, "{status}");
    let vantages: Vec<&str> = (cluster["vantages"].as_array().unwrap().iter())
        .map(|v| v["region"].as_str().unwrap())
        .collect();
    assert_eq!(vantages, ["singapore", "tokyo"], "{status}");
    assert!(
        (cluster["exchanges"].as_array().unwrap().iter())
            .any(|x| x["exchange"] == "okx" && x["state"] == "up"),
        "{status}"
    );
    let one = get(format!("{api}/status?region=tokyo")).await;
    assert_eq!(one["cluster"]["vantages"].as_array().unwrap().len(), 1);
    let table = exwatch::status::render_table(&serde_json::from_value(status).unwrap());
    assert!(table.contains("VANTAGE"), "{table}");
    assert!(table.contains("tokyo"), "{table}");
    tokyo.stop().await;
    singapore.stop().await;
}

#[actix::test]
async fn cluster_postgres_away_never_stops_an_alert_and_the_backlog_is_written_when_back() {
    let Some(url) = database("cluster_outage").await else {
        return;
    };
    let proxy = Proxy::to(&url);
    let fake = FakeExchange::start();
    let (monitor, mut alerts) = vantage("frankfurt", &fake, &via(&url, proxy.addr()), 2);
    let metrics = monitor.metrics().clone();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metrics.value("exwatch_cluster_up", &[]) != Some(1.0) {
        assert!(Instant::now() < deadline, "never up");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }

    // The first local alert's latency, with the cluster up, against a monitor without one
    // (printed: tests check behaviour, not speed).
    let plain_alerts = Collected::<Alert>::start();
    let mut plain_settings = crate::support::test_settings();
    plain_settings.exchanges = vec![];
    let plain = Monitor::builder(plain_settings)
        .alert_recipient("test", Severity::Info, plain_alerts.recipient())
        .start()
        .expect("plain monitor starts");
    let mut plain_alerts = plain_alerts;
    for (m, alerts, name) in [
        (&monitor, &mut alerts, "with [cluster]"),
        (&plain, &mut plain_alerts, "without"),
    ] {
        let mut took = Vec::new();
        for i in 0..5 {
            let t = Instant::now();
            fire(m, &format!("lat{i}"), 100 + i);
            alerts.next(5).await;
            took.push(t.elapsed());
        }
        took.sort();
        eprintln!("first alert {name}: median {:?} (of {took:?})", took[2]);
    }
    plain.stop().await;

    proxy.cut();
    let deadline = Instant::now() + Duration::from_secs(15);
    while metrics.value("exwatch_cluster_up", &[]) != Some(0.0) {
        assert!(Instant::now() < deadline, "never noticed PostgreSQL away");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    // Alerts go out while PostgreSQL is away, as fast as ever.
    let mut ids = Vec::new();
    for (i, exchange) in ["x1", "x2", "x3"].iter().enumerate() {
        let t = Instant::now();
        fire(&monitor, exchange, i as i64);
        let a = alerts.next(5).await;
        eprintln!(
            "alert {} with PostgreSQL away after {:?}",
            a.exchange,
            t.elapsed()
        );
        ids.push(a.id.to_string());
    }
    monitor.drain().await;
    let backlog = metrics.value("exwatch_cluster_backlog", &[]).unwrap_or(0.0);
    assert!(backlog >= 3.0, "backlog {backlog}");
    let addr = monitor.http_addr().unwrap();
    let ready: serde_json::Value = crate::support::client()
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["cluster"]["up"], false, "{ready}");
    assert!(
        ready["cluster"]["backlog"].as_u64().unwrap() >= 3,
        "{ready}"
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    while metrics.value("exwatch_cluster_backlog", &[]) != Some(0.0)
        || metrics.value("exwatch_cluster_up", &[]) != Some(1.0)
    {
        assert!(
            Instant::now() < deadline,
            "backlog never written: up {:?}, backlog {:?}",
            metrics.value("exwatch_cluster_up", &[]),
            metrics.value("exwatch_cluster_backlog", &[])
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let db = connect(&url).await;
    for id in &ids {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM exwatch_events WHERE region = 'frankfurt' AND id = $1",
                &[id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "alert {id} in PostgreSQL once");
        let d: i64 = db
            .query_one(
                "SELECT count(*) FROM exwatch_deliveries WHERE alert_id = $1",
                &[id],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(d, 0, "in-process recipients keep no delivery rows");
    }
    monitor.stop().await;
}

/// The Alertmanager notifications `sink` received with okx's down (its `availability`
/// series) firing at `severity`. (A vantage's own probe-error series of okx may still alert
/// on its own, as without a cluster: the quorum is for "down".)
fn notified(sink: &FakeSink, severity: &str) -> Vec<serde_json::Value> {
    (sink.received().into_iter())
        .filter(|n| {
            n["alerts"].as_array().is_some_and(|alerts| {
                alerts.iter().any(|a| {
                    a["status"] == "firing"
                        && a["labels"]["alertname"] == "ExwatchExchangeDown"
                        && a["labels"]["exchange"] == "okx"
                        && a["labels"]["severity"] == severity
                })
            })
        })
        .collect()
}

#[actix::test]
async fn cluster_alertmanager_cluster_pages_a_real_outage_once_and_a_regional_one_never() {
    let Some(url) = database("cluster_alertmanager").await else {
        return;
    };
    let sink = FakeSink::start();
    let Some(am) = AmCluster::start("cluster_alertmanager", &sink.url()).await else {
        return;
    };
    let (tokyo_fake, singapore_fake) = (FakeExchange::start(), FakeExchange::start());
    let (tokyo, mut tokyo_alerts) = vantage_posting("tokyo", &tokyo_fake, &url, 2, am.urls.clone());
    let (singapore, mut singapore_alerts) =
        vantage_posting("singapore", &singapore_fake, &url, 2, am.urls.clone());
    actix_rt::time::sleep(Duration::from_millis(1500)).await;

    // A regional outage: 0 critical pages, one warning naming the vantage.
    tokyo_fake.set_mode_for("/api/v5/public/time", Mode::Reset);
    let (mut t, mut s) = (Vec::new(), Vec::new());
    for (alerts, seen) in [(&mut tokyo_alerts, &mut t), (&mut singapore_alerts, &mut s)] {
        until(alerts, seen, 15, "a vantage_down warning", |a| {
            !firing(a, "okx", "vantage_down").is_empty()
        })
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while notified(&sink, "warning").is_empty() {
        assert!(
            Instant::now() < deadline,
            "no warning notified: {:?}",
            sink.received()
        );
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Past the group wait and the second instance's peer timeout.
    actix_rt::time::sleep(Duration::from_secs(4)).await;
    let warnings = notified(&sink, "warning");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0]
            .to_string()
            .contains("okx unreachable from tokyo"),
        "{}",
        warnings[0]
    );
    assert!(
        notified(&sink, "critical").is_empty(),
        "{:#?}",
        sink.received()
    );

    // A real outage, from every vantage: exactly one notification from the cluster.
    singapore_fake.set_mode_for("/api/v5/public/time", Mode::Reset);
    let started = Instant::now();
    while notified(&sink, "critical").is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "never paged");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "paged {:?} after the second vantage began failing",
        started.elapsed()
    );
    actix_rt::time::sleep(Duration::from_secs(5)).await;
    let pages = notified(&sink, "critical");
    assert_eq!(pages.len(), 1, "{pages:#?}");
    // Both vantages posted it (the same label set), and the cluster sent it once.
    t.extend(tokyo_alerts.drain().await);
    s.extend(singapore_alerts.drain().await);
    assert!(
        !firing(&t, "okx", "circuit_open").is_empty(),
        "{:#?}",
        summary(&t)
    );
    assert!(
        !firing(&s, "okx", "circuit_open").is_empty(),
        "{:#?}",
        summary(&s)
    );
    tokyo.stop().await;
    singapore.stop().await;
}

#[actix::test]
async fn cluster_writer_sustains_thousands_of_rows_a_second_and_writes_each_once() {
    use std::sync::Arc;

    use exwatch::cluster::backlog::Backlog;
    use exwatch::cluster::rows::{EventRow, Row, Verdict, VerdictState, Verdicts};
    use exwatch::cluster::writer::{Health, Writer};
    use exwatch::metrics::Metrics;

    let Some(url) = database("cluster_rate").await else {
        return;
    };
    let metrics = Metrics::new();
    let backlog = Arc::new(Backlog::new(1_000_000, &metrics));
    let health = Arc::new(Health::new(&metrics));
    const ROWS: usize = 50_000;
    let event = |i: usize| {
        Row::Event(EventRow {
            id: format!("e{i:08}"),
            record: "anomaly",
            kind: "anomaly".into(),
            at_ms: i as i64,
            exchange: "okx".into(),
            endpoint: "time".into(),
            metric: "latency_ms".into(),
            severity: "warning".into(),
            detector: "zscore".into(),
            title: String::new(),
            message: "latency 250 ms, 4.1σ above the window mean".into(),
            silenced: false,
            body: None,
        })
    };
    // Queued before the writer starts: what a backfill after an outage looks like.
    backlog.push((0..ROWS).map(event));
    backlog.set_verdicts(Verdicts {
        verdicts: vec![Verdict {
            exchange: "okx".into(),
            state: VerdictState::Up,
            observed_ms: 0,
        }],
        self_healthy: true,
    });
    let writer = Writer {
        config: url.parse().unwrap(),
        secret: exwatch::settings::Secret::new(url.clone()),
        region: "tokyo".into(),
        backlog: backlog.clone(),
        health: health.clone(),
        written: Writer::written_counter(&metrics),
    };
    let started = Instant::now();
    let task = actix_rt::spawn(writer.run());
    let deadline = started + Duration::from_secs(120);
    while !backlog.is_empty() || !health.is_up() {
        assert!(Instant::now() < deadline, "backlog {}", backlog.len());
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    eprintln!(
        "wrote {ROWS} rows in {took:?}: {:.0} rows/s (connect and migrate included)",
        ROWS as f64 / took.as_secs_f64()
    );
    // The same rows again (a batch retried after a failure): nothing doubles.
    backlog.push((0..1000).map(event));
    while !backlog.is_empty() {
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let db = connect(&url).await;
    let n: i64 = db
        .query_one("SELECT count(*) FROM exwatch_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as usize, ROWS);
    let v: i64 = db
        .query_one(
            "SELECT count(*) FROM exwatch_verdicts WHERE region = 'tokyo'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 1);
}

/// A URL whose password must never be shown.
const PASSWORD: &str = "s3cret-pw-never-shown";

#[actix::test]
async fn cluster_postgres_unreachable_at_start_still_starts_and_never_shows_the_password() {
    // No server at all: a closed loopback port (needs no PostgreSQL installed).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://exwatch:{PASSWORD}@127.0.0.1:{port}/exwatch");
    let mut settings = crate::support::test_settings();
    settings.cluster = Some(ClusterSettings::new(url));
    let alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("starts without PostgreSQL");
    let mut alerts = alerts;
    fire(&monitor, "okx", 0);
    assert_eq!(&*alerts.next(5).await.exchange, "okx", "alerts go out");
    let base = format!("http://{}", monitor.http_addr().unwrap());
    let client = crate::support::client();
    for path in ["/readyz", "/api/v1/status", "/api/v1/events"] {
        let mut r = client.get(format!("{base}{path}")).send().await.unwrap();
        let body = String::from_utf8_lossy(&r.body().await.unwrap()).into_owned();
        assert!(!body.contains(PASSWORD), "{path}: {body}");
        match path {
            "/readyz" => {
                assert_eq!(r.status().as_u16(), 200, "{body}");
                assert!(body.contains(r#""up":false"#), "{body}");
            }
            "/api/v1/status" => assert!(body.contains(r#""shared":false"#), "{body}"),
            _ => assert_eq!(r.status().as_u16(), 503, "{body}"),
        }
    }
    monitor.stop().await;
}

#[actix::test]
async fn cluster_a_schema_newer_than_this_exwatch_is_refused_at_start() {
    let Some(url) = database("cluster_newer").await else {
        return;
    };
    connect(&url)
        .await
        .batch_execute(
            "CREATE TABLE exwatch_schema (version integer NOT NULL); \
             INSERT INTO exwatch_schema VALUES (99)",
        )
        .await
        .unwrap();
    // The test server trusts loopback: the password is taken and ignored.
    let url = url.replacen("://exwatch@", &format!("://exwatch:{PASSWORD}@"), 1);
    let mut settings = crate::support::test_settings();
    settings.cluster = Some(ClusterSettings::new(url));
    let err = match Monitor::builder(settings).start() {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a newer schema must be refused"),
    };
    assert!(err.contains("schema version 99"), "{err}");
    assert!(err.contains("upgrade exwatch"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
}

#[actix::test]
async fn cluster_a_reload_changes_the_exchanges_this_vantage_votes_on() {
    let Some(url) = database("cluster_reload").await else {
        return;
    };
    let fake = FakeExchange::start();
    let settings = vantage_settings("tokyo", &fake, &url, 2, Vec::new());
    let (monitor, _alerts) = vantage("tokyo", &fake, &url, 2);
    let db = connect(&url).await;
    verdicts_become(&db, &["binance", "okx"]).await;
    // bybit added, okx removed.
    let mut next = settings.clone();
    next.exchanges.retain(|x| &*x.name != "okx");
    let mut bybit = next.exchanges[0].clone();
    bybit.name = "bybit".into();
    bybit.endpoints[0].url = fake.url("/v5/market/time");
    bybit.endpoints[0].check = CheckProfile::Bybit;
    next.exchanges.push(bybit);
    next.exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    let report = monitor.apply(next);
    assert!(report.needs_restart.is_empty(), "{report:?}");
    verdicts_become(&db, &["binance", "bybit"]).await;
    monitor.stop().await;
}

/// Waits until tokyo's verdicts in PostgreSQL are on `want`'s exchanges.
async fn verdicts_become(db: &tokio_postgres::Client, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = db
            .query(
                "SELECT exchange FROM exwatch_verdicts WHERE region = 'tokyo' ORDER BY 1",
                &[],
            )
            .await
            .unwrap();
        let got: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "verdicts {got:?}, want {want:?}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix::test]
async fn cluster_alerts_stored_while_postgres_was_away_reach_it_after_a_restart() {
    let Some(url) = database("cluster_restart").await else {
        return;
    };
    let proxy = Proxy::to(&url);
    proxy.cut();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("exwatch.db").display().to_string();
    let start = |url: String| {
        let mut settings = crate::support::test_settings();
        settings.store.path = store.clone();
        settings.monitor.region = "frankfurt".into();
        settings.cluster = Some(ClusterSettings::new(url));
        let alerts = Collected::<Alert>::start();
        let monitor = Monitor::builder(settings)
            .alert_recipient("test", Severity::Info, alerts.recipient())
            .start()
            .expect("monitor starts");
        (monitor, alerts)
    };
    // PostgreSQL away for the whole first run.
    let (first, mut alerts) = start(via(&url, proxy.addr()));
    let mut ids = Vec::new();
    for (i, x) in ["x1", "x2"].iter().enumerate() {
        fire(&first, x, i as i64);
        ids.push(alerts.next(5).await.id.to_string());
    }
    first.drain().await;
    first.stop().await;

    // Back, and a new run on the same store: the alerts reach PostgreSQL.
    proxy.restore();
    let (second, _alerts) = start(via(&url, proxy.addr()));
    let db = connect(&url).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM exwatch_events WHERE region = 'frankfurt' AND id = ANY($1)",
                &[&ids],
            )
            .await
            .unwrap()
            .get(0);
        if n == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{n} of 2 alerts in PostgreSQL");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    second.stop().await;
}
