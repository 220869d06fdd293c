//! Live reload as a user runs it: a configuration file, a monitor started from it, the file
//! edited, and the monitor told to re-read it — through `MonitorHandle::reload` (what
//! `SIGHUP` calls), through `POST /-/reload` with and without the bearer token, and through a
//! real `SIGHUP` to the `exwatch` binary. Loopback fakes only.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use exwatch::messages::{Metric, SeriesKey};
use exwatch::reload::ReloadError;
use exwatch::{ConfigError, Monitor, MonitorHandle};
use serde_json::Value;

use crate::common::{WAIT, deliveries, fire};
use crate::support::fake_exchange::FakeExchange;
use crate::support::fake_sink::{FakeSink, SinkMode};

/// A monitor of `file`'s configuration that re-reads `file` on reload.
fn start_from(file: &Path) -> MonitorHandle {
    let path = file.to_owned();
    let settings = exwatch::settings::load(Some(file)).expect("the first file is valid");
    Monitor::builder(settings)
        .config_source(move || exwatch::settings::load(Some(&path)))
        .start()
        .expect("monitor starts")
}

/// The common part of every file: an in-memory store, a free port, no flap hold.
fn base(store: &str) -> String {
    format!(
        "[store]\npath = \"{store}\"\n[http]\nlisten = \"127.0.0.1:0\"\n[router]\nflap_hold = \"0s\"\ngroup_interval = \"500ms\"\n"
    )
}

fn exchange(name: &str, fake: &FakeExchange, endpoints: &[&str]) -> String {
    endpoints
        .iter()
        .map(|ep| {
            format!(
                "[exchanges.{name}.endpoints.{ep}]\nurl = \"{}\"\ninterval = \"200ms\"\ntimeout = \"1s\"\n",
                fake.url(&format!("/{name}/{ep}"))
            )
        })
        .collect()
}

fn webhook(name: &str, url: &str) -> String {
    format!(
        "[channels.{name}]\ntype = \"webhook\"\nurl = \"{url}\"\nmin_severity = \"info\"\nmax_attempts = 0\ninitial_backoff = \"50ms\"\nmax_backoff = \"200ms\"\n"
    )
}

fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
    let path = dir.path().join("exwatch.toml");
    std::fs::write(&path, text).expect("write the config");
    path
}

fn gauge(monitor: &MonitorHandle, name: &str) -> f64 {
    monitor.metrics().value(name, &[]).unwrap_or(f64::NAN)
}

fn reloads(monitor: &MonitorHandle, result: &str) -> f64 {
    monitor
        .metrics()
        .value("exwatch_config_reloads_total", &[("result", result)])
        .unwrap_or(0.0)
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix::test]
async fn an_added_endpoint_is_probed_and_unchanged_series_keep_their_detectors() {
    let fake = FakeExchange::start();
    let dir = tempfile::tempdir().unwrap();
    let first = format!(
        "{}{}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping"])
    );
    let file = write(&dir, &first);
    let monitor = start_from(&file);
    until("alpha/ping probed", || fake.requests("/alpha/ping") >= 3).await;
    monitor.drain().await;
    let kept = SeriesKey::new("alpha", "ping", Metric::LatencyMs);
    let detector = monitor.detector(&kept).expect("a detector for alpha/ping");
    let before = detector.state().await.expect("alpha/ping is tracked");

    let second = format!(
        "{}{}{}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping"]),
        exchange("beta", &fake, &["ping", "time"])
    );
    write(&dir, &second);
    let report = monitor.reload().expect("the second file is valid");
    assert_eq!(report.changes, ["exchange added: beta"]);
    assert!(report.needs_restart.is_empty());
    until("beta's endpoints probed", || {
        fake.requests("/beta/ping") >= 2 && fake.requests("/beta/time") >= 2
    })
    .await;
    monitor.drain().await;
    let after = monitor
        .detector(&kept)
        .expect("still a detector for alpha/ping")
        .state()
        .await
        .expect("alpha/ping is still tracked");
    assert_eq!(
        before.generation, after.generation,
        "an unchanged series keeps its detector state (and its windows)"
    );
    assert!(
        after.judged > before.judged,
        "the kept state went on judging: {before:?} → {after:?}"
    );
    assert_eq!(monitor.probes().len(), 2);
    assert_eq!(reloads(&monitor, "success"), 1.0);
    assert_eq!(
        gauge(&monitor, "exwatch_config_last_reload_successful"),
        1.0
    );

    // Removing it stops its probes.
    write(&dir, &first);
    let report = monitor.reload().expect("valid");
    assert_eq!(report.changes, ["exchange removed: beta"]);
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let seen = fake.requests("/beta/ping");
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        fake.requests("/beta/ping"),
        seen,
        "a removed exchange is no longer probed"
    );
    assert_eq!(monitor.probes().len(), 1);
    monitor.stop().await;
}

#[actix::test]
async fn a_changed_detector_setting_resets_that_metrics_series_and_keeps_the_others() {
    let fake = FakeExchange::start();
    let dir = tempfile::tempdir().unwrap();
    let ex = exchange("alpha", &fake, &["ping"]);
    let file = write(&dir, &format!("{}{ex}", base(":memory:")));
    let monitor = start_from(&file);
    until("alpha/ping probed", || fake.requests("/alpha/ping") >= 3).await;
    monitor.drain().await;
    let state = |metric| {
        let series = SeriesKey::new("alpha", "ping", metric);
        let detector = monitor.detector(&series).expect("a detector");
        async move { detector.state().await }
    };
    let latency = state(Metric::LatencyMs).await.expect("latency tracked");
    let errors = state(Metric::Errors).await.expect("errors tracked");

    write(
        &dir,
        &format!(
            "{}{ex}[detect.latency]\nmin_samples = 7\n",
            base(":memory:")
        ),
    );
    let report = monitor.reload().expect("valid");
    assert!(
        report
            .changes
            .iter()
            .any(|c| c == "restarted: detectors of latency_ms"),
        "{:?}",
        report.changes
    );
    let seen = fake.requests("/alpha/ping");
    until("alpha/ping probed again", || {
        fake.requests("/alpha/ping") >= seen + 2
    })
    .await;
    monitor.drain().await;
    let latency_now = state(Metric::LatencyMs)
        .await
        .expect("latency tracked again");
    let errors_now = state(Metric::Errors).await.expect("errors still tracked");
    assert_ne!(
        latency.generation, latency_now.generation,
        "the latency series starts afresh with the new settings"
    );
    assert_eq!(
        errors.generation, errors_now.generation,
        "the errors series keeps its state"
    );
    assert!(errors_now.judged > errors.judged);
    monitor.stop().await;
}

#[actix::test]
async fn a_webhook_whose_url_changed_delivers_its_pending_alerts_to_the_new_url() {
    let fake = FakeExchange::start();
    let (down, up) = (FakeSink::start(), FakeSink::start());
    down.set_mode(SinkMode::Status(503));
    let dir = tempfile::tempdir().unwrap();
    let ex = exchange("alpha", &fake, &["ping"]);
    let file = write(
        &dir,
        &format!("{}{ex}{}", base(":memory:"), webhook("desk", &down.url())),
    );
    let monitor = start_from(&file);
    fire(&monitor, "bybit", 0);
    until("the old receiver refused the alert twice", || {
        down.attempts().len() >= 2
    })
    .await;
    assert_eq!(deliveries(monitor.metrics(), "desk", "ok"), 0.0);

    write(
        &dir,
        &format!("{}{ex}{}", base(":memory:"), webhook("desk", &up.url())),
    );
    let report = monitor.reload().expect("valid");
    assert_eq!(report.changes, ["channel changed: desk"]);
    let got = up.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "the pending alert went to the new URL");
    assert_eq!(got[0]["exchange"], "bybit");
    assert_eq!(got[0]["kind"], "firing");
    until("delivered", || {
        deliveries(monitor.metrics(), "desk", "ok") == 1.0
    })
    .await;
    assert_eq!(
        monitor
            .metrics()
            .value("exwatch_deliveries_pending", &[("channel", "desk")]),
        Some(0.0)
    );
    monitor.stop().await;
}

#[actix::test]
async fn a_removed_channel_marks_its_pending_deliveries_failed_not_pending_forever() {
    let fake = FakeExchange::start();
    let down = FakeSink::start();
    down.set_mode(SinkMode::Status(503));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let store = db.to_string_lossy().into_owned();
    let ex = exchange("alpha", &fake, &["ping"]);
    let file = write(
        &dir,
        &format!("{}{ex}{}", base(&store), webhook("desk", &down.url())),
    );
    let monitor = start_from(&file);
    fire(&monitor, "bybit", 0);
    until("an attempt", || !down.attempts().is_empty()).await;

    write(&dir, &format!("{}{ex}", base(&store)));
    let report = monitor.reload().expect("valid");
    assert_eq!(report.changes, ["channel removed: desk"]);
    until("the delivery marked failed", || {
        deliveries(monitor.metrics(), "desk", "failed") == 1.0
    })
    .await;
    let base_url = format!("http://{}", monitor.http_addr().expect("http"));
    let mut r = crate::support::client()
        .get(format!("{base_url}/api/v1/events?since=30d&kind=firing"))
        .send()
        .await
        .expect("events");
    let body: Value = r.json().limit(1 << 20).await.expect("json");
    let event = &body["events"][0];
    let delivery = &event["deliveries"][0];
    assert_eq!(delivery["channel"], "desk", "{body}");
    assert_eq!(delivery["state"], "failed", "{body}");
    assert_eq!(delivery["last_error"], "channel removed", "{body}");
    let attempts = down.attempts().len();
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        down.attempts().len(),
        attempts,
        "a removed channel sends nothing more"
    );
    monitor.stop().await;
}

#[actix::test]
async fn an_invalid_file_changes_nothing_and_says_every_problem_with_its_key_path() {
    let fake = FakeExchange::start();
    let dir = tempfile::tempdir().unwrap();
    let good = format!(
        "{}{}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping"])
    );
    let file = write(&dir, &good);
    let monitor = start_from(&file);
    let running = monitor.settings();

    let bad = format!(
        "{good}[exchanges.beta.endpoints.ping]\nurl = \"not a url\"\n[shutdown]\ngrace = \"soon\"\n"
    );
    write(&dir, &bad);
    let Err(ReloadError::Config(ConfigError::Invalid(problems))) = monitor.reload() else {
        panic!("an invalid file is refused");
    };
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert!(
        keys.contains(&"exchanges.beta.endpoints.ping.url"),
        "{keys:?}"
    );
    assert!(keys.contains(&"shutdown.grace"), "{keys:?}");
    assert!(
        monitor.settings() == running,
        "the running configuration stays"
    );
    assert_eq!(monitor.probes().len(), 1);
    assert_eq!(
        gauge(&monitor, "exwatch_config_last_reload_successful"),
        0.0
    );
    assert_eq!(reloads(&monitor, "failure"), 1.0);
    assert_eq!(reloads(&monitor, "success"), 0.0);
    let last_ok = gauge(
        &monitor,
        "exwatch_config_last_reload_success_timestamp_seconds",
    );

    // A restart-only key is reported and keeps its running value.
    write(
        &dir,
        &good.replace("listen = \"127.0.0.1:0\"", "listen = \"127.0.0.1:1\""),
    );
    let report = monitor.reload().expect("valid");
    assert_eq!(report.needs_restart, ["http.listen"]);
    assert!(report.changes.is_empty());
    assert_eq!(monitor.settings().http.listen, running.http.listen);
    assert_eq!(
        gauge(&monitor, "exwatch_config_last_reload_successful"),
        1.0
    );
    assert!(
        gauge(
            &monitor,
            "exwatch_config_last_reload_success_timestamp_seconds"
        ) >= last_ok
    );
    monitor.stop().await;
}

#[actix::test]
async fn post_reload_needs_the_token_and_answers_what_changed_or_every_problem() {
    let fake = FakeExchange::start();
    let dir = tempfile::tempdir().unwrap();
    let token_env = "EXWATCH_TEST_RELOAD_TOKEN";
    // SAFETY: a variable of this test alone, set before any thread reads it.
    unsafe { std::env::set_var(token_env, "reload-secret") };
    let good = format!(
        "{}{}",
        base(":memory:").replace(
            "[http]\n",
            &format!("[http]\ntoken_env = \"{token_env}\"\n")
        ),
        exchange("alpha", &fake, &["ping"])
    );
    let file = write(&dir, &good);
    let monitor = start_from(&file);
    let url = format!("http://{}/-/reload", monitor.http_addr().expect("http"));
    let post = |token: Option<&str>| {
        let mut req = crate::support::client().post(&url);
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        async move {
            let mut r = req.send().await.expect("answer");
            let body: Value = r.json().limit(1 << 20).await.expect("json");
            (r.status().as_u16(), body)
        }
    };
    let (status, body) = post(None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(post(Some("wrong")).await.0, 401);
    assert_eq!(
        reloads(&monitor, "success") + reloads(&monitor, "failure"),
        0.0
    );

    write(
        &dir,
        &format!("{good}{}", exchange("beta", &fake, &["ping"])),
    );
    let (status, body) = post(Some("reload-secret")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"][0], "exchange added: beta");
    until("beta probed", || fake.requests("/beta/ping") >= 1).await;

    write(
        &dir,
        &good.replace("interval = \"200ms\"", "interval = \"soon\""),
    );
    let (status, body) = post(Some("reload-secret")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request");
    assert_eq!(body["field"], "exchanges.alpha.endpoints.ping.interval");
    assert!(!body.to_string().contains("reload-secret"), "{body}");
    assert_eq!(monitor.probes().len(), 2, "nothing changed");
    monitor.stop().await;
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_running_binary() {
    use std::process::{Command, Stdio};

    let fake = FakeExchange::start();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let good = format!(
        "[store]\npath = \":memory:\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n{}",
        exchange("alpha", &fake, &["ping"])
    );
    let file = write(&dir, &good);
    let mut child = Command::new(env!("CARGO_BIN_EXE_exwatch"))
        .args(["run", "--config"])
        .arg(&file)
        .env("RUST_LOG", "exwatch=info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("exwatch starts");
    let metric = |name: &str| -> Option<f64> {
        let text = std::io::Read::bytes(
            std::net::TcpStream::connect(("127.0.0.1", port))
                .and_then(|mut s| {
                    use std::io::Write;
                    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
                    Ok(s)
                })
                .ok()?,
        )
        .collect::<Result<Vec<u8>, _>>()
        .ok()?;
        let text = String::from_utf8_lossy(&text).into_owned();
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let hup = |pid: u32| {
        let ok = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok);
    };
    wait_for("the server", &|| {
        metric("exwatch_config_last_reload_successful") == Some(1.0)
    });

    std::fs::write(
        &file,
        format!("{good}{}", exchange("beta", &fake, &["ping"])),
    )
    .unwrap();
    hup(child.id());
    wait_for("beta probed after SIGHUP", &|| {
        fake.requests("/beta/ping") >= 2
    });
    assert_eq!(
        metric("exwatch_config_reloads_total{result=\"success\"}"),
        Some(1.0)
    );

    std::fs::write(&file, "[exchanges.alpha.endpoints.ping]\nurl = 3\n").unwrap();
    hup(child.id());
    wait_for("the failure counted", &|| {
        metric("exwatch_config_reloads_total{result=\"failure\"}") == Some(1.0)
    });
    assert_eq!(metric("exwatch_config_last_reload_successful"), Some(0.0));
    let before = fake.requests("/beta/ping");
    wait_for("beta still probed", &|| {
        fake.requests("/beta/ping") > before + 1
    });
    assert!(child.try_wait().expect("wait").is_none(), "still running");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().expect("exits");
    assert!(status.success(), "exits 0 on SIGTERM: {status}");
}

#[actix::test]
async fn a_changed_exchange_keeps_its_probe_and_an_open_breaker_stays_open() {
    let fake = FakeExchange::start();
    fake.set_mode(crate::support::fake_exchange::Mode::Status(503));
    let dir = tempfile::tempdir().unwrap();
    let breaker = "[breaker]\nfailure_threshold = 2\nrecovery_timeout = \"1h\"\n";
    let first = format!(
        "{}{breaker}{}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping"])
    );
    let file = write(&dir, &first);
    let monitor = start_from(&file);
    let state = |m: &MonitorHandle| {
        m.metrics()
            .value("exwatch_breaker_state", &[("exchange", "alpha")])
            .unwrap_or(f64::NAN)
    };
    until("alpha's breaker open", || state(&monitor) == 2.0).await;
    let probe = monitor.probes()[0].clone();

    let second = format!(
        "{}{breaker}{}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping", "time"])
    );
    write(&dir, &second);
    let report = monitor.reload().expect("valid");
    assert_eq!(report.changes, ["exchange changed: alpha"]);
    monitor.drain().await;
    assert!(
        monitor.probes()[0] == probe,
        "the same probe took the new settings"
    );
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        state(&monitor),
        2.0,
        "the open breaker is kept: the exchange is still down"
    );
    assert_eq!(
        fake.requests("/alpha/time"),
        0,
        "an open breaker admits no probe"
    );
    monitor.stop().await;
}

#[actix::test]
async fn removed_exchanges_and_endpoints_resolve_their_open_incidents_and_leave_nothing_behind() {
    let fake = FakeExchange::start();
    let sink = FakeSink::start();
    let dir = tempfile::tempdir().unwrap();
    let hook = webhook("desk", &sink.url());
    let first = format!(
        "{}{}{}{hook}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping", "time"]),
        exchange("beta", &fake, &["time"])
    );
    let file = write(&dir, &first);
    let monitor = start_from(&file);
    until("every endpoint probed", || {
        fake.requests("/alpha/time") >= 1 && fake.requests("/beta/time") >= 1
    })
    .await;
    // One open incident on the endpoint to remove, one on the exchange to remove.
    fire(&monitor, "alpha", 0);
    fire(&monitor, "beta", 0);
    let got = sink.wait_for(2, WAIT).await;
    assert!(got.iter().all(|a| a["kind"] == "firing"), "{got:?}");
    let open = monitor
        .router()
        .send(exwatch::route::OpenIncidents)
        .await
        .expect("router");
    assert_eq!(open.open.len(), 2);
    let removed_endpoint = SeriesKey::new("alpha", "time", Metric::ClockSkewMs);
    let removed_exchange = SeriesKey::new("beta", "time", Metric::ClockSkewMs);
    let mut old_detectors = Vec::new();
    for series in [&removed_exchange, &removed_endpoint] {
        let state = monitor.detector(series).expect("a detector").state().await;
        old_detectors.push(state.expect("the series is tracked").generation);
    }
    let probes = |x: &str, e: &str| {
        monitor.metrics().value(
            "exwatch_probes_total",
            &[("exchange", x), ("endpoint", e), ("outcome", "ok")],
        )
    };
    assert!(probes("beta", "time").is_some() && probes("alpha", "time").is_some());

    let second = format!(
        "{}{}{hook}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping"])
    );
    write(&dir, &second);
    let report = monitor.reload().expect("valid");
    assert_eq!(
        report.changes,
        ["exchange removed: beta", "exchange changed: alpha"]
    );

    // Each open incident got one resolved alert saying why, through the channels.
    let got = sink.wait_for(4, WAIT).await;
    let mut resolved: Vec<(String, String)> = got[2..]
        .iter()
        .map(|a| {
            assert_eq!(a["kind"], "resolved", "{a}");
            assert_eq!(a["metric"], "clock_skew_ms", "{a}");
            let message = a["message"].as_str().expect("message");
            assert!(
                message.starts_with("removed from the configuration"),
                "{message}"
            );
            let key = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (key("exchange"), key("endpoint"))
        })
        .collect();
    resolved.sort();
    assert_eq!(
        resolved,
        [
            ("alpha".to_owned(), "time".to_owned()),
            ("beta".to_owned(), "time".to_owned())
        ]
    );
    let open = monitor
        .router()
        .send(exwatch::route::OpenIncidents)
        .await
        .expect("router");
    assert!(open.open.is_empty(), "{:?}", open.open);

    // Nothing keeps their series: detectors, status board, metrics.
    // (A series is tracked from its next measurement: a fresh state, not the one that fired.)
    for (series, old) in [&removed_exchange, &removed_endpoint]
        .into_iter()
        .zip(old_detectors)
    {
        let now = monitor.detector(series).expect("a detector").state().await;
        assert!(
            now.is_none_or(|s| s.generation != old),
            "{series:?} keeps no detector state (nor its windows): {now:?}"
        );
    }
    assert_eq!(probes("beta", "time"), None);
    assert_eq!(probes("alpha", "time"), None);
    let text = monitor.metrics().render();
    assert!(!text.contains("exchange=\"beta\""), "{text}");
    assert!(!text.contains("endpoint=\"time\""), "{text}");
    let base_url = format!("http://{}", monitor.http_addr().expect("http"));
    let mut r = crate::support::client()
        .get(format!("{base_url}/api/v1/status"))
        .send()
        .await
        .expect("status");
    let status: Value = r.json().limit(1 << 20).await.expect("json");
    let exchanges = status["exchanges"].as_array().expect("exchanges");
    assert!(
        exchanges.iter().all(|x| x["exchange"] != "beta"),
        "{status}"
    );
    let alpha = exchanges
        .iter()
        .find(|x| x["exchange"] == "alpha")
        .expect("alpha stays");
    let endpoints: Vec<&Value> = alpha["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| &e["endpoint"])
        .collect();
    assert_eq!(endpoints, [&Value::from("ping")], "{status}");

    // A later reload changes nothing more: no second resolved alert.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.received().len(), 4);
    monitor.stop().await;
}

/// An anomaly a removed series sends on its way out (still queued in its detector when the
/// reload runs) reaches the Router before the forget: its incident is resolved with the rest,
/// not reopened after the forget for a series nothing watches any more.
#[actix::test]
async fn an_anomaly_queued_behind_a_reload_does_not_reopen_a_removed_series() {
    let fake = FakeExchange::start();
    let sink = FakeSink::start();
    let dir = tempfile::tempdir().unwrap();
    let hook = webhook("desk", &sink.url());
    let first = format!(
        "{}{}{hook}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping", "time"])
    );
    let file = write(&dir, &first);
    let monitor = start_from(&file);
    until("every endpoint probed", || {
        fake.requests("/alpha/time") >= 1
    })
    .await;
    // A backlog in alpha's detector (latencies of the endpoint that stays: the slower model),
    // then the anomaly, then at once the reload removing its endpoint.
    const BACKLOG: i64 = 50_000;
    let ping = SeriesKey::new("alpha", "ping", Metric::LatencyMs);
    for i in 0..BACKLOG {
        let at = exwatch::messages::Timestamp(crate::common::t0() + i * 1000);
        monitor.inject(exwatch::messages::Measurement::ok(ping.clone(), 40.0, at));
    }
    fire(&monitor, "alpha", 0);
    let second = format!(
        "{}{}{hook}",
        base(":memory:"),
        exchange("alpha", &fake, &["ping"])
    );
    write(&dir, &second);
    let report = monitor.reload().expect("valid");
    assert_eq!(report.changes, ["exchange changed: alpha"]);

    let series = SeriesKey::new("alpha", "time", Metric::ClockSkewMs);
    let state = || async { monitor.detector(&series).expect("a detector").state().await };
    let deadline = Instant::now() + WAIT;
    while state().await.is_some() {
        assert!(Instant::now() < deadline, "the series was never dropped");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let open = monitor
        .router()
        .send(exwatch::route::OpenIncidents)
        .await
        .expect("router");
    assert!(open.open.is_empty(), "{:?}", open.open);
    let count = |kind: &str| {
        (sink.received().iter())
            .filter(|a| a["kind"] == kind)
            .count()
    };
    until("every page sent is resolved", || {
        count("firing") == count("resolved")
    })
    .await;
    monitor.stop().await;
}
