//! The `alertmanager` channel against loopback [`FakeAlertmanager`]s: label sets and
//! annotations, firing then resolved, periodic re-sends, escalation resolving the old label
//! set, both HA instances receiving, a dead instance blocking nothing, two monitors in two
//! regions making one alert, 5xx retries and 400 rejections. Real time, short intervals,
//! bounded waits.
//!
//! Alerts come from clock-skew measurements: 2500 ms fires a critical alert at once, 900 ms a
//! warning, and three normal samples resolve the episode.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use exwatch::channel::{AlertmanagerSpec, ChannelKind, ChannelSettings};
use exwatch::messages::{Measurement, Metric, Name, SeriesKey, Severity, Timestamp};
use exwatch::metrics::Metrics;
use exwatch::settings::Settings;
use exwatch::{Monitor, MonitorHandle};

use crate::common::{WAIT, now, retry, t0};
use crate::support::fake_alertmanager::{AmMode, FakeAlertmanager, StoredAlert};

fn settings(region: &str, urls: Vec<String>, resend: Duration, max_attempts: u32) -> Settings {
    let mut s = Settings {
        channels: vec![ChannelSettings {
            name: Name::from("am"),
            min_severity: Severity::Info,
            retry: retry(max_attempts),
            kind: ChannelKind::Alertmanager(AlertmanagerSpec {
                urls,
                resend_interval: resend,
            }),
        }],
        ..crate::support::test_settings()
    };
    s.monitor.region = Name::from(region);
    s.shutdown.grace = Duration::from_secs(2);
    s
}

/// A monitor in region `local`, re-sending every `resend`.
fn start(fakes: &[&FakeAlertmanager], resend: Duration) -> MonitorHandle {
    Monitor::start(settings(
        "local",
        fakes.iter().map(|f| f.url()).collect(),
        resend,
        5,
    ))
    .expect("monitor starts")
}

/// Long enough that no heartbeat runs during a test.
const NO_RESEND: Duration = Duration::from_secs(3600);

fn skew(monitor: &MonitorHandle, exchange: &str, ms: f64, i: i64) {
    monitor.inject(Measurement::ok(
        SeriesKey::new(exchange, "time", Metric::ClockSkewMs),
        ms,
        Timestamp(t0() + i * 1000),
    ));
}

fn fire(monitor: &MonitorHandle, exchange: &str, i: i64) {
    skew(monitor, exchange, 2500.0, i);
}

/// Three normal samples from second `i`: the episode resolves at `i + 2`.
fn resolve(monitor: &MonitorHandle, exchange: &str, i: i64) {
    for k in 0..3 {
        skew(monitor, exchange, 3.0, i + k);
    }
}

fn deliveries(metrics: &Metrics, outcome: &str) -> f64 {
    metrics
        .value(
            "exwatch_deliveries_total",
            &[("channel", "am"), ("outcome", outcome)],
        )
        .unwrap_or(0.0)
}

fn at(i_ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(i_ms as u64)
}

fn labels(exchange: &str, severity: &str) -> Vec<(String, String)> {
    [
        ("alertname", "ExwatchClockSkew"),
        ("endpoint", "time"),
        ("exchange", exchange),
        ("metric", "clock_skew_ms"),
        ("severity", severity),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn label_vec(a: &StoredAlert) -> Vec<(String, String)> {
    a.labels.clone().into_iter().collect()
}

fn one_firing(alerts: &[StoredAlert]) -> bool {
    alerts.len() == 1 && alerts[0].firing_at(now())
}

#[actix::test]
async fn alertmanager_firing_then_resolved() {
    let am = FakeAlertmanager::start();
    let monitor = start(&[&am], NO_RESEND);
    let metrics = monitor.metrics().clone();
    fire(&monitor, "bybit", 0);
    let got = am.wait_until(WAIT, one_firing).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let a = &got[0];
    assert_eq!(
        label_vec(a),
        labels("bybit", "critical"),
        "labels are the identity"
    );
    assert_eq!(a.annotation("summary"), "bybit time clock skew");
    assert!(a.annotation("description").contains("2500"), "{a:?}");
    assert_eq!(a.annotation("region"), "local");
    assert_eq!(a.annotation("value"), "2500");
    assert_eq!(a.annotation("threshold"), "2000");
    assert_eq!(a.annotation("alert_id").len(), 26, "a ULID");
    assert_eq!(a.starts_at, at(t0()));
    let ends = a.ends_at.expect("endsAt set while firing");
    assert!(ends > now(), "firing: endsAt ahead");

    let post = &am.posts()[0];
    assert_eq!(post.path, "/api/v2/alerts");
    assert_eq!(post.content_type.as_deref(), Some("application/json"));
    assert!(post.body.is_array(), "a JSON array");

    resolve(&monitor, "bybit", 1);
    let got = am
        .wait_until(WAIT, |a| a.len() == 1 && !a[0].firing_at(now()))
        .await;
    assert_eq!(got.len(), 1, "the same label set, resolved: {got:?}");
    assert_eq!(label_vec(&got[0]), labels("bybit", "critical"));
    assert_eq!(
        got[0].ends_at,
        Some(at(t0() + 3000)),
        "endsAt = the resolve time"
    );
    assert_eq!(got[0].starts_at, at(t0()));
    assert!(got[0].annotation("summary").ends_with("resolved"));
    assert!(monitor.stop().await);
    assert_eq!(am.posts().len(), 2, "one post per alert, no heartbeat");
    assert_eq!(deliveries(&metrics, "ok"), 2.0);
}

#[actix::test]
async fn alertmanager_resends_while_firing_and_after_resolving() {
    let am = FakeAlertmanager::start();
    let monitor = start(&[&am], Duration::from_millis(200));
    fire(&monitor, "bybit", 0);
    am.wait_until(WAIT, one_firing).await;
    let first_end = am.alerts()[0].ends_at.unwrap();
    let t = Instant::now();
    actix_rt::time::sleep(Duration::from_millis(1100)).await;
    let posts = am.accepted_posts();
    assert!(
        (4..=8).contains(&posts.len()),
        "{} posts in {:?} with a 200 ms re-send interval",
        posts.len(),
        t.elapsed()
    );
    let a = &am.alerts()[0];
    assert!(a.updates >= 4);
    assert!(a.ends_at.unwrap() > first_end, "each re-send pushes endsAt");
    // Firing when the last re-send arrived (on a loaded machine the next one may be late, so
    // not necessarily "now").
    let last_received = now() - posts.last().expect("posts").at.elapsed();
    assert!(a.firing_at(last_received), "{a:?}");

    // Resolved: re-sent too (Alertmanager may have restarted), with the same endsAt.
    resolve(&monitor, "bybit", 1);
    am.wait_until(WAIT, |a| a.len() == 1 && !a[0].firing_at(now()))
        .await;
    let before = am.accepted_posts().len();
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let after = am.accepted_posts();
    assert!(
        after.len() >= before + 2,
        "resolved alerts keep being re-sent"
    );
    let last = &after.last().unwrap().body[0];
    assert_eq!(last["endsAt"], Timestamp(t0() + 3000).to_rfc3339());
    assert_eq!(am.alerts().len(), 1);
    assert!(monitor.stop().await);
}

#[actix::test]
async fn alertmanager_escalation_resolves_the_old_label_set_in_the_same_post() {
    let am = FakeAlertmanager::start();
    let monitor = start(&[&am], NO_RESEND);
    skew(&monitor, "okx", 900.0, 0);
    am.wait_until(WAIT, one_firing).await;
    skew(&monitor, "okx", 2500.0, 1);
    let got = am.wait_until(WAIT, |a| a.len() == 2).await;
    let seen = now();
    let find = |sev: &str| {
        got.iter()
            .find(|a| a.label("severity") == sev)
            .unwrap_or_else(|| panic!("{sev} in {got:?}"))
    };
    assert!(
        !find("warning").firing_at(seen),
        "the warning label set ended"
    );
    assert_eq!(find("warning").ends_at, Some(at(t0() + 1000)));
    assert!(find("critical").firing_at(seen));
    let posts = am.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[1].body.as_array().map(Vec::len),
        Some(2),
        "resolve and fire in one post"
    );
    resolve(&monitor, "okx", 2);
    let got = am
        .wait_until(WAIT, |a| a.iter().all(|a| !a.firing_at(now())))
        .await;
    assert_eq!(got.len(), 2);
    assert!(monitor.stop().await);
}

#[actix::test]
async fn alertmanager_ha_both_instances_receive() {
    let (a, b) = (FakeAlertmanager::start(), FakeAlertmanager::start());
    let monitor = start(&[&a, &b], NO_RESEND);
    fire(&monitor, "bybit", 0);
    let got_a = a.wait_until(WAIT, one_firing).await;
    let got_b = b.wait_until(WAIT, one_firing).await;
    assert!(monitor.stop().await);
    assert_eq!(got_a.len(), 1);
    assert_eq!(got_b.len(), 1);
    assert_eq!(got_a[0].labels, got_b[0].labels);
    assert_eq!(
        a.posts()[0].body,
        b.posts()[0].body,
        "the same post to each"
    );
}

#[actix::test]
async fn alertmanager_dead_instance_blocks_nothing_and_catches_up() {
    let (healthy, sick) = (FakeAlertmanager::start(), FakeAlertmanager::start());
    sick.set_mode(AmMode::Stall);
    let monitor = start(&[&sick, &healthy], Duration::from_millis(300));
    let metrics = monitor.metrics().clone();

    let t = Instant::now();
    fire(&monitor, "bybit", 0);
    fire(&monitor, "okx", 1);
    let got = healthy.wait_until(WAIT, |a| a.len() == 2).await;
    assert_eq!(got.len(), 2);
    // Well under the 500 ms attempt timeout the stalled posts run into.
    assert!(
        t.elapsed() < Duration::from_millis(400),
        "the healthy instance waited {:?} behind the stalled one",
        t.elapsed()
    );
    // Delivered: one instance has each alert; nothing waits for the other.
    let deadline = Instant::now() + WAIT;
    while deliveries(&metrics, "ok") < 2.0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(deliveries(&metrics, "ok"), 2.0);
    assert_eq!(deliveries(&metrics, "retry"), 0.0);
    assert!(sick.alerts().is_empty());

    // The sick instance recovers: the next heartbeat brings it the whole set.
    sick.set_mode(AmMode::Accept);
    let caught_up = sick.wait_until(WAIT, |a| a.len() == 2).await;
    assert_eq!(
        caught_up.len(),
        2,
        "re-sent to the instance that missed them"
    );
    assert!(caught_up.iter().all(|a| a.firing_at(now())));
    assert!(monitor.stop().await);
}

#[actix::test]
async fn alertmanager_all_instances_down_is_retried() {
    let (a, b) = (FakeAlertmanager::start(), FakeAlertmanager::start());
    a.set_mode(AmMode::ServerError);
    b.set_mode(AmMode::ServerError);
    let monitor = start(&[&a, &b], NO_RESEND);
    let metrics = monitor.metrics().clone();
    fire(&monitor, "bybit", 0);
    a.wait_for_posts(2, WAIT).await;
    assert!(deliveries(&metrics, "retry") >= 1.0);
    b.set_mode(AmMode::Accept);
    let got = b.wait_until(WAIT, one_firing).await;
    assert_eq!(got.len(), 1);
    assert!(monitor.stop().await);
    assert_eq!(deliveries(&metrics, "ok"), 1.0);
}

#[actix::test]
async fn alertmanager_400_is_a_rejection() {
    let am = FakeAlertmanager::start();
    am.set_mode(AmMode::BadRequest);
    let monitor = start(&[&am], NO_RESEND);
    let metrics = monitor.metrics().clone();
    fire(&monitor, "bybit", 0);
    am.wait_for_posts(1, WAIT).await;
    let deadline = Instant::now() + WAIT;
    while deliveries(&metrics, "failed") < 1.0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(deliveries(&metrics, "failed"), 1.0);
    assert_eq!(deliveries(&metrics, "retry"), 0.0);
    actix_rt::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(am.posts().len(), 1, "not retried");
    monitor.stop().await;
}

#[actix::test]
async fn alertmanager_two_regions_make_one_alert() {
    let (a, b) = (FakeAlertmanager::start(), FakeAlertmanager::start());
    let urls = vec![a.url(), b.url()];
    let eu = Monitor::start(settings("eu", urls.clone(), NO_RESEND, 5)).expect("monitor starts");
    let ap = Monitor::start(settings("ap", urls, NO_RESEND, 5)).expect("monitor starts");
    fire(&eu, "bybit", 0);
    fire(&ap, "bybit", 0);
    for am in [&a, &b] {
        am.wait_for_posts(2, WAIT).await;
        let got = am.alerts();
        assert_eq!(got.len(), 1, "identical label sets merge: {got:?}");
        assert_eq!(label_vec(&got[0]), labels("bybit", "critical"));
        assert_eq!(got[0].updates, 2, "one update from each region");
        let region = got[0].annotation("region");
        assert!(region == "eu" || region == "ap", "{region}");
        let bodies: Vec<String> = am
            .posts()
            .iter()
            .map(|p| {
                p.body[0]["annotations"]["region"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let mut sorted = bodies.clone();
        sorted.sort();
        assert_eq!(sorted, ["ap", "eu"], "the region is an annotation");
        assert!(
            am.posts()
                .iter()
                .all(|p| p.body[0]["labels"].get("region").is_none())
        );
    }
    assert!(eu.stop().await);
    assert!(ap.stop().await);
}
