//! Silences and acknowledgements over the real server on loopback: a silence mutes what it
//! matches (recorded, not sent) and lets it out when it expires or is deleted while the
//! series still fires; silences survive a restart; writes need the token; bad bodies are 400
//! naming the field; an ack stops reminders but not escalations or the resolved.

use std::time::Duration;

use exwatch::messages::{Alert, AlertKind, Measurement, Metric, SeriesKey, Severity, Timestamp};
use exwatch::settings::{Secret, Settings, StoreSettings};
use exwatch::{Monitor, MonitorHandle};
use serde_json::{Value, json};

use crate::collect::Collected;
use crate::common::now_ms;

/// A monitor with a test recipient of every alert, and its server's base URL.
fn start(settings: Settings) -> (MonitorHandle, Collected<Alert>, String) {
    let alerts = Collected::<Alert>::start();
    let monitor = Monitor::builder(settings)
        .alert_recipient("test", Severity::Info, alerts.recipient())
        .start()
        .expect("monitor starts");
    let base = format!("http://{}", monitor.http_addr().expect("server on"));
    (monitor, alerts, base)
}

/// A clock-skew sample of `ms` on `exchange` at the wall-clock time (silences are set in
/// wall-clock time, and live event time is wall time).
fn skew_now(monitor: &MonitorHandle, exchange: &str, ms: f64) {
    monitor.inject(Measurement::ok(
        SeriesKey::new(exchange, "time", Metric::ClockSkewMs),
        ms,
        Timestamp(now_ms()),
    ));
}

/// A request with an optional bearer token and JSON body: (status, JSON answer).
async fn call(method: &str, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let client = crate::support::client();
    let mut req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "DELETE" => client.delete(url),
        other => panic!("method {other}"),
    }
    .timeout(Duration::from_secs(10));
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    let mut resp = match body {
        Some(b) => req.send_json(&b).await,
        None => req.send().await,
    }
    .expect("request");
    let bytes = resp.body().limit(1 << 20).await.expect("body");
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (resp.status().as_u16(), v)
}

async fn silence(base: &str, token: Option<&str>, body: Value) -> Value {
    let (status, v) = call(
        "POST",
        &format!("{base}/api/v1/silences"),
        token,
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    v
}

/// Nothing arrives within `ms`.
async fn quiet(alerts: &mut Collected<Alert>, ms: u64) -> Vec<Alert> {
    actix_rt::time::sleep(Duration::from_millis(ms)).await;
    alerts.drain().await
}

#[actix::test]
async fn a_silence_mutes_what_it_matches_records_it_and_lets_it_out_when_it_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("events.db");
    let mut settings = crate::support::test_settings();
    settings.store = StoreSettings {
        path: path.to_string_lossy().into_owned(),
    };
    let (monitor, mut alerts, base) = start(settings);
    let ends_at = now_ms() + 3_000;
    let s = silence(
        &base,
        None,
        json!({"exchange": "okx", "metric": "clock_skew_ms", "ends_at": ends_at,
               "comment": "okx clock work", "created_by": "ops"}),
    )
    .await;
    assert_eq!(s["active"], true);
    assert_eq!(s["ends_at"], ends_at);
    assert_eq!(s["endpoint"], Value::Null);

    skew_now(&monitor, "okx", 2500.0);
    skew_now(&monitor, "bybit", 2500.0);
    monitor.drain().await;
    let sent = quiet(&mut alerts, 200).await;
    assert_eq!(sent.len(), 1, "only bybit goes out: {sent:?}");
    assert_eq!(&*sent[0].exchange, "bybit");
    assert_eq!(
        monitor
            .metrics()
            .value("exwatch_alerts_silenced_total", &[]),
        Some(1.0)
    );
    // Recorded, visible, flagged, and without any delivery.
    let db = rusqlite::Connection::open(&path).expect("open");
    let (id, silenced): (String, i64) = db
        .query_row(
            "SELECT id, silenced FROM alerts WHERE exchange = 'okx'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the silenced alert is stored");
    assert_eq!(silenced, 1);
    let deliveries: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM deliveries WHERE alert_id = ?1",
            [&id],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(deliveries, 0);

    // Still firing when the silence ends: the alert goes out then, by itself.
    let out = alerts.next(5).await;
    assert_eq!((&*out.exchange, out.kind), ("okx", AlertKind::Firing));
    assert!(
        out.at.as_millis() >= ends_at,
        "{} < {ends_at}",
        out.at.as_millis()
    );
    assert_ne!(*out.id, *id, "a fresh alert");
    let (status, list) = call(
        "GET",
        &format!("{base}/api/v1/silences?active=false"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["silences"][0]["id"], s["id"]);
    assert_eq!(list["silences"][0]["active"], false);
    monitor.stop().await;
}

#[actix::test]
async fn deleting_a_silence_lets_a_still_firing_series_out_at_once() {
    let (monitor, mut alerts, base) = start(crate::support::test_settings());
    let s = silence(
        &base,
        None,
        json!({"exchange": "okx", "duration": "2h", "comment": "deploy"}),
    )
    .await;
    skew_now(&monitor, "okx", 2500.0);
    monitor.drain().await;
    assert!(quiet(&mut alerts, 100).await.is_empty(), "silenced");
    skew_now(&monitor, "okx", 2500.0);
    monitor.drain().await;
    let id = s["id"].as_str().unwrap();
    let (status, ended) = call(
        "DELETE",
        &format!("{base}/api/v1/silences/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["active"], false);
    assert!(ended["ends_at"].as_i64().unwrap() <= now_ms());
    let out = alerts.next(5).await;
    assert_eq!((&*out.exchange, out.kind), ("okx", AlertKind::Firing));
    // Deleting again answers it as it is; an unknown id is 404.
    let (status, again) = call(
        "DELETE",
        &format!("{base}/api/v1/silences/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!((status, &again["ends_at"]), (200, &ended["ends_at"]));
    let (status, v) = call(
        "DELETE",
        &format!("{base}/api/v1/silences/01NOPE"),
        None,
        None,
    )
    .await;
    assert_eq!((status, v["error"].as_str()), (404, Some("not_found")));
    monitor.stop().await;
}

#[actix::test]
async fn an_episode_silenced_to_its_end_sends_neither_firing_nor_resolved() {
    let (monitor, mut alerts, base) = start(crate::support::test_settings());
    let s = silence(
        &base,
        None,
        json!({"endpoint": "time", "duration": "1h", "comment": "noise"}),
    )
    .await;
    skew_now(&monitor, "okx", 2500.0);
    for _ in 0..3 {
        skew_now(&monitor, "okx", 3.0);
    }
    monitor.drain().await;
    let id = s["id"].as_str().unwrap();
    let (status, _) = call(
        "DELETE",
        &format!("{base}/api/v1/silences/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(quiet(&mut alerts, 200).await.is_empty());
    monitor.stop().await;
}

#[actix::test]
async fn silences_persist_across_a_restart_on_the_same_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = crate::support::test_settings();
    settings.store = StoreSettings {
        path: dir.path().join("events.db").to_string_lossy().into_owned(),
    };
    let (monitor, _alerts, base) = start(settings.clone());
    let s = silence(
        &base,
        None,
        json!({"exchange": "okx", "starts_at": "1m", "duration": "1h", "comment": "migration"}),
    )
    .await;
    monitor.stop().await;

    let (monitor, mut alerts, base) = start(settings);
    let (status, list) = call(
        "GET",
        &format!("{base}/api/v1/silences?active=true"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["silences"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["silences"][0]["id"], s["id"]);
    skew_now(&monitor, "okx", 2500.0);
    monitor.drain().await;
    assert!(quiet(&mut alerts, 100).await.is_empty(), "still silenced");
    monitor.stop().await;
}

#[actix::test]
async fn writes_need_the_token_reads_do_not() {
    let mut settings = crate::support::test_settings();
    settings.http.token = Some(Secret::new("s3cret-token"));
    let (monitor, _alerts, base) = start(settings);
    let url = format!("{base}/api/v1/silences");
    let body = json!({"exchange": "okx", "duration": "1h", "comment": "x"});
    for token in [None, Some("wrong"), Some("s3cret-tokeN")] {
        let (status, v) = call("POST", &url, token, Some(body.clone())).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (401, Some("unauthorized")),
            "{token:?}"
        );
    }
    let (status, _) = call("DELETE", &format!("{url}/01X"), None, None).await;
    assert_eq!(status, 401);
    let (status, _) = call("POST", &format!("{base}/api/v1/alerts/01X/ack"), None, None).await;
    assert_eq!(status, 401);
    let created = silence(&base, Some("s3cret-token"), body).await;
    let (status, list) = call("GET", &url, None, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["silences"][0]["id"], created["id"]);
    let id = created["id"].as_str().unwrap();
    let (status, _) = call("DELETE", &format!("{url}/{id}"), Some("s3cret-token"), None).await;
    assert_eq!(status, 200);
    monitor.stop().await;
}

#[actix::test]
async fn bad_bodies_are_400_naming_the_field_and_oversized_ones_413() {
    let (monitor, _alerts, base) = start(crate::support::test_settings());
    let url = format!("{base}/api/v1/silences");
    let now = now_ms();
    let cases = [
        (json!({"exchange": "okx", "duration": "1h"}), "comment"),
        (json!({"duration": "1h", "comment": "c"}), "exchange"),
        (json!({"exchange": "okx", "comment": "c"}), "ends_at"),
        (
            json!({"exchange": "okx", "starts_at": now, "ends_at": now - 1, "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"exchange": "okx", "ends_at": "tomorrow", "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"exchange": "okx", "ends_at": true, "comment": "c"}),
            "ends_at",
        ),
        (
            json!({"exchange": "okx", "starts_at": 1.5, "duration": "1h", "comment": "c"}),
            "starts_at",
        ),
        (
            json!({"exchange": "okx", "duration": "soon", "comment": "c"}),
            "duration",
        ),
        (
            json!({"exchange": "OKX!", "duration": "1h", "comment": "c"}),
            "exchange",
        ),
        (
            json!({"metric": "nope", "duration": "1h", "comment": "c"}),
            "metric",
        ),
        (
            json!({"exchange": "okx", "duration": "1h", "comment": "c".repeat(1001)}),
            "comment",
        ),
        (
            json!({"exchange": "okx", "duration": "1h", "comment": "c", "colour": "red"}),
            "colour",
        ),
        (
            json!({"exchange": 5, "duration": "1h", "comment": "c"}),
            "exchange",
        ),
    ];
    for (body, field) in cases {
        let (status, v) = call("POST", &url, None, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
    }
    let (status, v) = call("GET", &format!("{url}?active=maybe"), None, None).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("active")));
    let huge = json!({"exchange": "okx", "duration": "1h", "comment": "c".repeat(100_000)});
    let (status, v) = call("POST", &url, None, Some(huge)).await;
    assert_eq!(
        (status, v["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    let (status, v) = call(
        "POST",
        &format!("{base}/api/v1/alerts/01X/ack"),
        None,
        Some(json!({"comment": 5})),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    monitor.stop().await;
}

#[actix::test]
async fn an_ack_stops_reminders_but_not_escalations_or_the_resolved() {
    let mut settings = crate::support::test_settings();
    settings.router.dedup_window = Duration::from_millis(300);
    let (monitor, mut alerts, base) = start(settings);
    let (status, v) = call(
        "POST",
        &format!("{base}/api/v1/alerts/01NOSUCH/ack"),
        None,
        None,
    )
    .await;
    assert_eq!((status, v["error"].as_str()), (404, Some("not_found")));

    // Warning on okx and bybit; okx is acked.
    skew_now(&monitor, "okx", 900.0);
    skew_now(&monitor, "bybit", 900.0);
    let first: Vec<Alert> = vec![alerts.next(5).await, alerts.next(5).await];
    let okx = first
        .iter()
        .find(|a| &*a.exchange == "okx")
        .expect("okx fired");
    assert_eq!(okx.severity, Severity::Warning);
    monitor.drain().await;
    let (status, v) = call(
        "POST",
        &format!("{base}/api/v1/alerts/{}/ack", okx.id),
        None,
        Some(json!({"comment": "on it", "by": "ana"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id"], okx.id.to_string());
    assert_eq!(v["incident"]["exchange"], "okx");
    assert_eq!(v["incident"]["severity"], "warning");
    assert_eq!(v["incident"]["acked"], true);

    // Past the dedup window both still fire: only bybit is reminded.
    actix_rt::time::sleep(Duration::from_millis(400)).await;
    skew_now(&monitor, "okx", 900.0);
    skew_now(&monitor, "bybit", 900.0);
    monitor.drain().await;
    let reminded = quiet(&mut alerts, 100).await;
    assert_eq!(reminded.len(), 1, "{reminded:?}");
    assert_eq!(&*reminded[0].exchange, "bybit");
    assert!(
        reminded[0].title.contains("still firing"),
        "{}",
        reminded[0].title
    );

    // A rise to critical still notifies, and the resolved goes out.
    skew_now(&monitor, "okx", 2500.0);
    let up = alerts.next(5).await;
    assert_eq!((&*up.exchange, up.severity), ("okx", Severity::Critical));
    for _ in 0..3 {
        skew_now(&monitor, "okx", 3.0);
    }
    let resolved = alerts.next(5).await;
    assert_eq!(
        (&*resolved.exchange, resolved.kind),
        ("okx", AlertKind::Resolved)
    );
    monitor.drain().await;
    // Its incident is closed now.
    let (status, v) = call(
        "POST",
        &format!("{base}/api/v1/alerts/{}/ack", okx.id),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, v["error"].as_str()),
        (409, Some("conflict")),
        "{v}"
    );
    monitor.stop().await;
}
