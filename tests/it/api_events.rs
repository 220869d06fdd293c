//! `GET /api/v1/events` over the real server on loopback, with alerts produced by injected
//! clock-skew measurements (2500 ms: critical at once; 900 ms: a warning; three normal
//! samples resolve) and delivered to loopback webhook sinks that accept or reject: ordering,
//! every filter, delivery states, the triage text, cursor paging while new alerts arrive,
//! limit bounds, 400s naming the field; and the `exwatch events` binary against it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use exwatch::MonitorHandle;
use exwatch::channel::{ChannelKind, ChannelSettings, LlmTriageSpec, WebhookSpec};
use exwatch::messages::{Anomaly, Metric, Name, SeriesKey, Severity, Stats, Timestamp};
use exwatch::route::GroupField;
use exwatch::settings::{RetrySettings, Secret, Settings};
use serde_json::Value;

use crate::common::{fire, now_ms, resolve, skew, t0, utc};
use crate::server::start;
use crate::support::fake_openai::FakeOpenAi;
use crate::support::fake_sink::{FakeSink, SinkMode};

const EXWATCH: &str = env!("CARGO_BIN_EXE_exwatch");

fn webhook(name: &str, url: String) -> ChannelSettings {
    ChannelSettings {
        name: Name::from(name),
        min_severity: Severity::Info,
        retry: crate::common::retry(2),
        kind: ChannelKind::Webhook(WebhookSpec {
            url,
            secret_env: None,
            secret: None,
        }),
    }
}

/// `GET {base}/api/v1/events?{query}`: status and JSON body.
async fn events(base: &str, query: &str) -> (u16, Value) {
    let mut r = crate::support::client()
        .get(format!("{base}/api/v1/events?{query}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("request");
    let body = r.body().limit(8 << 20).await.expect("body");
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    (r.status().as_u16(), v)
}

/// The events of a 200 answer.
async fn ok(base: &str, query: &str) -> Vec<Value> {
    let (status, v) = events(base, query).await;
    assert_eq!(status, 200, "{query}: {v}");
    v["events"].as_array().expect("events").clone()
}

/// Polls `query` until `done` holds of its events (at most 5 s).
async fn until(base: &str, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let evs = ok(base, query).await;
        if done(&evs) {
            return evs;
        }
        assert!(
            Instant::now() < deadline,
            "{query}: never settled: {evs:#?}"
        );
        actix_rt::time::sleep(Duration::from_millis(25)).await;
    }
}

fn field(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_owned()
}

fn ids(evs: &[Value]) -> Vec<String> {
    evs.iter().map(|e| field(e, "id")).collect()
}

fn summary(evs: &[Value]) -> Vec<(String, String, String, i64)> {
    evs.iter()
        .map(|e| {
            (
                field(e, "exchange"),
                field(e, "kind"),
                field(e, "severity"),
                e["at"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn all_settled(evs: &[Value]) -> bool {
    evs.iter().all(|e| {
        e["deliveries"]
            .as_array()
            .is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["state"] != "pending"))
    })
}

/// okx fires (critical, second 0), bybit fires (critical, 1), okx resolves (4), binance
/// warns (10); channel `hook` accepts, channel `bad` rejects with 400.
async fn seeded() -> (MonitorHandle, String, FakeSink, FakeSink) {
    let good = FakeSink::start();
    let bad = FakeSink::start();
    bad.set_mode(SinkMode::Status(400));
    let settings = Settings {
        channels: vec![webhook("hook", good.url()), webhook("bad", bad.url())],
        ..crate::support::test_settings()
    };
    let (monitor, base) = start(settings);
    fire(&monitor, "okx", 0);
    fire(&monitor, "bybit", 1);
    resolve(&monitor, "okx", 2);
    monitor.inject(skew("binance", 900.0, 10));
    monitor.drain().await;
    until(&base, "", |e| e.len() == 4 && all_settled(e)).await;
    (monitor, base, good, bad)
}

#[actix::test]
async fn events_are_newest_first_with_deliveries_and_every_filter_works() {
    let (monitor, base, _good, _bad) = seeded().await;
    let all = ok(&base, "").await;
    let s = |e: &str, k: &str, sev: &str, i: i64| {
        (e.to_owned(), k.to_owned(), sev.to_owned(), t0() + i * 1000)
    };
    assert_eq!(
        summary(&all),
        [
            s("binance", "firing", "warning", 10),
            s("okx", "resolved", "critical", 4),
            s("bybit", "firing", "critical", 1),
            s("okx", "firing", "critical", 0),
        ]
    );
    let okx = &all[3];
    assert_eq!(okx["endpoint"], "time");
    assert_eq!(okx["metric"], "clock_skew_ms");
    assert_eq!(okx["value"], 2500.0);
    assert!(!field(okx, "detector").is_empty(), "{okx}");
    assert!(field(okx, "title").contains("okx"), "{okx}");
    assert!(!field(okx, "message").is_empty(), "{okx}");
    assert_eq!(okx["silenced"], false);
    assert_eq!(okx["acked"], false);
    assert_eq!(okx["triage"], Value::Null);
    assert_eq!(field(okx, "id").len(), 26, "a ULID: {okx}");
    let deliveries = okx["deliveries"].as_array().unwrap();
    assert_eq!(deliveries[0]["channel"], "bad");
    assert_eq!(deliveries[0]["state"], "failed");
    assert_eq!(deliveries[0]["attempts"], 1);
    assert!(field(&deliveries[0], "last_error").contains("400"), "{okx}");
    assert_eq!(deliveries[1]["channel"], "hook");
    assert_eq!(deliveries[1]["state"], "delivered");
    assert_eq!(deliveries[1]["attempts"], 1);
    assert_eq!(deliveries[1]["last_error"], Value::Null);

    let pick = |picked: &[usize]| {
        picked
            .iter()
            .map(|&i| field(&all[i], "id"))
            .collect::<Vec<_>>()
    };
    let t1 = Timestamp(t0() + 1000);
    for (query, want) in [
        ("exchange=okx", pick(&[1, 3])),
        ("exchange=kraken", pick(&[])),
        ("endpoint=time", pick(&[0, 1, 2, 3])),
        ("endpoint=ping", pick(&[])),
        ("metric=clock_skew_ms", pick(&[0, 1, 2, 3])),
        ("metric=latency_ms", pick(&[])),
        ("severity=info", pick(&[0, 1, 2, 3])),
        ("severity=warning", pick(&[0, 1, 2, 3])),
        ("severity=critical", pick(&[1, 2, 3])),
        ("kind=firing", pick(&[0, 2, 3])),
        ("kind=resolved", pick(&[1])),
        ("kind=triage", pick(&[])),
        (&*format!("since={}", t1.as_millis()), pick(&[0, 1, 2])),
        (&*format!("until={}", t1.to_rfc3339()), pick(&[2, 3])),
        (
            &*format!("since={}&until={}", t1.as_millis(), t0() + 4000),
            pick(&[1, 2]),
        ),
        ("exchange=okx&kind=firing&severity=critical", pick(&[3])),
        // t0() is hours ago: nothing in the last hour, everything in the last year.
        ("since=1h", pick(&[])),
        ("since=365d&until=now", pick(&[0, 1, 2, 3])),
    ] {
        assert_eq!(ids(&ok(&base, query).await), want, "{query}");
    }
    monitor.stop().await;
}

#[actix::test]
async fn bad_parameters_are_400_naming_the_field_and_limit_is_bounded() {
    let (monitor, base, _good, _bad) = seeded().await;
    for (query, name) in [
        ("since=yesterday", "since"),
        ("until=2026-13-45T00:00:00Z", "until"),
        ("since=1h&until=2h", "until"),
        ("severity=high", "severity"),
        ("severity=", "severity"),
        ("kind=fired", "kind"),
        ("metric=cpu", "metric"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("limit=-1", "limit"),
        ("cursor=garbage", "cursor"),
        ("cursor=1_0", "cursor"),
    ] {
        let (status, v) = events(&base, query).await;
        assert_eq!(status, 400, "{query}: {v}");
        assert_eq!(v["error"], "bad_request", "{query}: {v}");
        assert_eq!(v["field"], name, "{query}: {v}");
        assert!(field(&v, "message").contains(name), "{query}: {v}");
    }
    let (_, one) = events(&base, "limit=1").await;
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    assert!(one["next_cursor"].is_string(), "{one}");
    let (_, max) = events(&base, "limit=500").await;
    assert_eq!(max["events"].as_array().unwrap().len(), 4);
    assert_eq!(max["next_cursor"], Value::Null);
    monitor.stop().await;
}

#[actix::test]
async fn the_cursor_pages_through_every_event_exactly_once_while_new_ones_arrive() {
    let (monitor, base) = start(crate::support::test_settings());
    // 25 exchanges, three firing in each second: ties on the event time.
    for k in 0..25 {
        fire(&monitor, &format!("ex{k}"), k / 3);
    }
    monitor.drain().await;
    let before = until(&base, "limit=500", |e| e.len() == 25).await;
    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let query = match &cursor {
            None => "limit=7".to_owned(),
            Some(c) => format!("limit=7&cursor={c}"),
        };
        let (status, v) = events(&base, &query).await;
        assert_eq!(status, 200, "{v}");
        let page = v["events"].as_array().unwrap();
        assert!(page.len() <= 7);
        seen.extend(ids(page));
        pages += 1;
        if pages == 1 {
            // New alerts land between the first and the second page.
            for k in 0..3 {
                fire(&monitor, &format!("new{k}"), 100 + k);
            }
            monitor.drain().await;
            until(&base, "limit=500", |e| e.len() == 28).await;
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 4, "25 events in pages of 7");
    assert_eq!(seen, ids(&before), "every event once, in order");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25);
    // Newest first, ties on time by store order, newest stored first.
    let times: Vec<i64> = before.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(field(&before[0], "exchange"), "ex24");
    assert_eq!(field(&before[24], "exchange"), "ex0");
    // Filters apply across pages too.
    let (_, v) = events(&base, "limit=1&exchange=new1").await;
    assert_eq!(v["events"][0]["exchange"], "new1");
    assert_eq!(v["next_cursor"], Value::Null);
    monitor.stop().await;
}

#[actix::test]
async fn the_triage_text_is_attached_to_the_alert_it_explains() {
    const KEY: &str = "sk-test-FAKE-events-0123456789";
    let model = FakeOpenAi::start(KEY);
    let triage = ChannelSettings {
        name: Name::from("triage"),
        min_severity: Severity::Critical,
        retry: RetrySettings {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
        },
        kind: ChannelKind::LlmTriage(LlmTriageSpec {
            base_url: model.base_url(),
            model: "gpt-4o-mini".to_owned(),
            api_key_env: "EXWATCH_LLM_API_KEY".to_owned(),
            api_key: Secret::new(KEY),
            language: "en".to_owned(),
            calls_per_hour: 30,
            max_tokens_field: "max_tokens".to_owned(),
        }),
    };
    let sink = FakeSink::start();
    let settings = Settings {
        channels: vec![triage, webhook("hook", sink.url())],
        ..crate::support::test_settings()
    };
    let (monitor, base) = start(settings);
    fire(&monitor, "okx", 0);
    monitor.drain().await;
    let evs = until(&base, "", |e| e.len() == 2).await;
    let (follow_up, original) = (&evs[0], &evs[1]);
    assert_eq!(follow_up["kind"], "triage");
    assert_eq!(follow_up["in_reply_to"], original["id"]);
    assert_eq!(original["kind"], "firing");
    let text = field(original, "triage");
    assert!(text.contains("throttling"), "{original}");
    assert_eq!(text, field(follow_up, "message"));
    assert_eq!(
        ids(&ok(&base, "kind=triage").await),
        [field(follow_up, "id")]
    );
    monitor.stop().await;
}

/// Runs the binary with `args`; its exit code, stdout and stderr.
async fn exwatch(args: &[&str]) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = actix_rt::task::spawn_blocking(move || {
        std::process::Command::new(EXWATCH)
            .args(&args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run exwatch")
    })
    .await
    .expect("joined");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[actix::test]
async fn exwatch_events_prints_the_table_and_exits_by_the_contract() {
    let (monitor, base, _good, _bad) = seeded().await;
    let (code, out, err) = exwatch(&["events", "--url", &base, "--since", "365d"]).await;
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].starts_with("TIME (UTC)"), "{out}");
    assert!(
        lines[1].starts_with(&format!(
            "{}  firing    warning   binance/time/clock_skew_ms",
            utc(t0() + 10_000)
        )),
        "{out}"
    );
    assert!(
        lines[4].starts_with(&format!(
            "{}  firing    critical  okx/time/clock_skew_ms",
            utc(t0())
        )),
        "{out}"
    );
    assert!(lines[4].ends_with("bad=failed(1) hook=delivered"), "{out}");

    let (code, out, err) = exwatch(&[
        "events",
        "--url",
        &base,
        "--exchange",
        "okx",
        "--severity",
        "critical",
        "--limit",
        "1",
    ])
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .contains("resolved  critical  okx/"),
        "{out}"
    );
    assert!(out.contains("more than 1 events"), "{out}");

    let (code, _, err) = exwatch(&["events", "--url", &base, "--since", "yesterday"]).await;
    assert_eq!(code, 2, "the server refuses the argument: {err}");
    assert!(err.contains("since"), "{err}");
    let (code, _, err) = exwatch(&["events", "--url", &base, "--severity", "high"]).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = exwatch(&["events", "--url", &base, "--limit", "501"]).await;
    assert_eq!(code, 2, "{err}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, err) = exwatch(&[
        "events",
        "--url",
        &format!("http://{closed}"),
        "--timeout",
        "2s",
    ])
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot reach exwatch"), "{err}");
    monitor.stop().await;
}

#[actix::test]
async fn the_openapi_document_describes_the_events_endpoint() {
    let (monitor, base) = start(crate::support::test_settings());
    let mut r = crate::support::client()
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    let doc: Value =
        serde_json::from_slice(&r.body().limit(1 << 20).await.expect("body")).expect("json");
    let get = &doc["paths"]["/api/v1/events"]["get"];
    let mut params: Vec<&str> = get["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            assert_eq!(p["in"], "query", "{p}");
            p["name"].as_str().unwrap()
        })
        .collect();
    params.sort_unstable();
    assert_eq!(
        params,
        [
            "cursor", "endpoint", "exchange", "group", "kind", "limit", "metric", "region",
            "severity", "since", "until"
        ]
    );
    for status in ["200", "400", "503"] {
        assert!(get["responses"].get(status).is_some(), "{status}: {get}");
    }
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["Event"]["properties"]["deliveries"].is_object(),
        "{schemas}"
    );
    assert_eq!(
        schemas["EventKind"]["enum"],
        serde_json::json!(["firing", "resolved", "triage", "acknowledged"])
    );
    assert!(
        schemas["Event"]["properties"]["group"].is_object(),
        "{}",
        schemas["Event"]
    );
    let mut member: Vec<&str> = schemas["GroupMember"]["required"]
        .as_array()
        .expect("GroupMember.required")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    member.sort_unstable();
    assert_eq!(
        member,
        [
            "detector", "endpoint", "exchange", "id", "kind", "metric", "severity", "title"
        ]
    );
    assert_eq!(
        schemas["GroupUpdateName"]["enum"],
        serde_json::json!(["opened", "updated", "escalated", "resolved"])
    );
    let mut group: Vec<&str> = schemas["EventGroup"]["required"]
        .as_array()
        .expect("EventGroup.required")
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    group.sort_unstable();
    assert_eq!(group, ["alerts", "key", "update"]);
    monitor.stop().await;
}

fn anomaly(exchange: &str, endpoint: &str, severity: Severity, at: i64) -> Anomaly {
    Anomaly {
        series: SeriesKey::new(exchange, endpoint, Metric::Errors),
        detector: "error_rate".into(),
        severity,
        value: 0.5,
        threshold: 0.05,
        confidence: 1.0,
        message: "http_5xx (503)".into(),
        started_at: Timestamp(at),
        at: Timestamp(at),
        stats: Stats::default(),
    }
}

#[actix::test]
async fn api_events_show_a_group_message_with_its_incident_and_members() {
    let sink = FakeSink::start();
    let mut settings = Settings {
        channels: vec![webhook("hook", sink.url())],
        ..crate::support::test_settings()
    };
    settings.router.group_by = vec![GroupField::Exchange];
    settings.router.group_interval = Duration::from_secs(60);
    let (monitor, base) = start(settings);
    let router = monitor.router();
    // binance opens an incident (warning), a second series joins, a third escalates it to
    // critical (sent at once); okx opens an incident of its own.
    let t = now_ms();
    router.do_send(anomaly("binance", "ping", Severity::Warning, t));
    router.do_send(anomaly("binance", "time", Severity::Warning, t + 1));
    router.do_send(anomaly("binance", "ticker", Severity::Critical, t + 2));
    router.do_send(anomaly("okx", "status", Severity::Warning, t + 3));
    // 4 per-series alerts, 3 group messages (binance opened and escalated, okx opened).
    let all = until(&base, "", |e| {
        e.len() == 7 && e.iter().filter(|v| v["group"].is_object()).count() == 3
    })
    .await;

    let (groups, series): (Vec<&Value>, Vec<&Value>) =
        all.iter().partition(|v| v["group"].is_object());
    for s in &series {
        assert!(s["group"].is_null(), "per-series alert: {s}");
    }
    let series_id = |ex: &str, ep: &str| {
        series
            .iter()
            .find(|s| s["exchange"] == ex && s["endpoint"] == ep)
            .map(|s| field(s, "id"))
            .unwrap_or_else(|| panic!("no {ex}/{ep} alert in {all:#?}"))
    };
    let binance: Vec<&Value> = groups
        .iter()
        .copied()
        .filter(|g| g["group"]["key"] == "exchange=binance")
        .collect();
    assert_eq!(binance.len(), 2, "{groups:#?}");
    // Newest first: the escalation, then the opening.
    let (escalated, opened) = (binance[0], binance[1]);
    assert_eq!(escalated["group"]["update"], "escalated");
    assert_eq!(opened["group"]["update"], "opened");
    // The group message keeps every per-series field, for its leading member.
    assert_eq!(
        (field(escalated, "kind"), field(escalated, "severity")),
        ("firing".into(), "critical".into())
    );
    assert_eq!(field(escalated, "endpoint"), "ticker");
    assert_eq!(opened["group"]["alerts"].as_array().map(Vec::len), Some(1));
    let members = escalated["group"]["alerts"].as_array().expect("members");
    assert_eq!(members.len(), 3, "{escalated:#}");
    assert_eq!(members[0]["severity"], "critical", "most severe first");
    let mut eps: Vec<&str> = members
        .iter()
        .map(|m| m["endpoint"].as_str().unwrap())
        .collect();
    eps.sort_unstable();
    assert_eq!(eps, ["ping", "ticker", "time"]);
    for m in members {
        assert_eq!(m["exchange"], "binance", "{m}");
        assert_eq!(m["metric"], "errors", "{m}");
        assert_eq!(m["detector"], "error_rate", "{m}");
        assert_eq!(m["kind"], "firing", "{m}");
        assert!(m["title"].is_string(), "{m}");
        let ep = m["endpoint"].as_str().unwrap();
        assert_eq!(
            field(m, "id"),
            series_id("binance", ep),
            "a member is the per-series alert stored on its own"
        );
    }
    let okx: Vec<&Value> = groups
        .iter()
        .copied()
        .filter(|g| g["group"]["key"] == "exchange=okx")
        .collect();
    assert_eq!(okx.len(), 1, "{groups:#?}");
    assert_eq!(okx[0]["group"]["alerts"][0]["endpoint"], "status");

    // `group` lists one incident: its group messages and the series they list.
    let one = ok(&base, "group=exchange%3Dbinance").await;
    assert_eq!(one.len(), 5, "{one:#?}");
    assert!(one.iter().all(|e| e["exchange"] == "binance"), "{one:#?}");
    assert_eq!(one.iter().filter(|e| e["group"].is_object()).count(), 2);
    let one = ok(&base, "group=exchange%3Dokx&kind=firing").await;
    assert_eq!(one.len(), 2, "{one:#?}");
    assert!(ok(&base, "group=exchange%3Dnone").await.is_empty());
    let (status, body) = events(&base, "group=").await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("group")),
        "{body}"
    );
    monitor.stop().await;
}

#[actix::test]
async fn without_a_cluster_every_event_names_this_region_and_another_region_lists_none() {
    let (monitor, base, _good, _bad) = seeded().await;
    let evs = until(&base, "", |e| e.len() >= 3).await;
    let region = monitor_region(&evs);
    assert!(evs.iter().all(|e| field(e, "region") == region), "{evs:#?}");
    let mine = ok(&base, &format!("region={region}")).await;
    assert_eq!(ids(&mine), ids(&ok(&base, "").await));
    assert!(ok(&base, "region=elsewhere").await.is_empty());
    let (status, v) = events(&base, "region=").await;
    assert_eq!((status, v["field"].as_str()), (400, Some("region")), "{v}");
    monitor.stop().await;
}

/// The region the events name (the test settings' default).
fn monitor_region(evs: &[Value]) -> String {
    let r = field(&evs[0], "region");
    assert!(!r.is_empty(), "{:#?}", evs[0]);
    r
}
