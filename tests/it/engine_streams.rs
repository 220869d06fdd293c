//! An embedding engine's own market-data streams, through the public API: the engine reports
//! each message its feed handler receives with `MonitorHandle::observe_stream`, exwatch's
//! stream judge does the rest, and the alerts reach a webhook [`FakeSink`] as those of
//! exwatch's own streams do.

use std::time::{Duration, Instant};

use exwatch::channel::{ChannelKind, ChannelSettings, WebhookSpec};
use exwatch::messages::{Name, Severity, Timestamp};
use exwatch::probe::stream::StreamObservation;
use exwatch::{Monitor, MonitorHandle};
use serde_json::Value;

use crate::common::retry;
use crate::support::fake_sink::FakeSink;

const STREAM: &str = "engine-depth";
const CADENCE: Duration = Duration::from_millis(50);

fn start(sink: &FakeSink) -> MonitorHandle {
    let mut settings = crate::support::test_settings();
    settings.http.enabled = false;
    settings.channels = vec![ChannelSettings {
        name: Name::from("hook"),
        min_severity: Severity::Info,
        retry: retry(3),
        kind: ChannelKind::Webhook(WebhookSpec {
            url: sink.url(),
            secret_env: None,
            secret: None,
        }),
    }];
    Monitor::start(settings).expect("monitor starts")
}

/// A Binance spot depth update covering ids `first..=last`, received now, 5 ms old.
fn depth(first: i64, last: i64) -> StreamObservation {
    let now = Timestamp::now();
    StreamObservation {
        event_time: Some(Timestamp(now.as_millis() - 5)),
        first_update_id: Some(first),
        update_id: Some(last),
        ..StreamObservation::at(now)
    }
}

/// Feeds `n` continuous updates of two ids each, one per cadence, from id `next`; answers
/// the next id.
async fn feed(m: &MonitorHandle, n: usize, mut next: i64) -> i64 {
    for _ in 0..n {
        m.observe_stream("binance", STREAM, depth(next, next + 1));
        next += 2;
        actix_rt::time::sleep(CADENCE).await;
    }
    next
}

async fn alert(sink: &FakeSink, kind: &str, detector: &str, secs: f64) -> Value {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if let Some(a) = sink
            .received()
            .into_iter()
            .find(|a| a["kind"] == kind && a["detector"] == detector)
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} {detector} within {secs}s: {:?}",
            sink.received()
                .iter()
                .map(|a| format!("{} {}", a["kind"], a["title"]))
                .collect::<Vec<_>>()
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

fn messages(m: &MonitorHandle) -> f64 {
    m.metrics()
        .value(
            "exwatch_stream_messages_total",
            &[("exchange", "binance"), ("endpoint", STREAM)],
        )
        .unwrap_or(0.0)
}

#[actix::test]
async fn an_engine_that_stops_receiving_its_feed_gets_a_stream_stale_alert_and_its_resolve() {
    let sink = FakeSink::start();
    let m = start(&sink);
    // 40 messages: the judge learns the 50 ms cadence (20 intervals are enough).
    let next = feed(&m, 40, 1).await;
    assert_eq!(
        messages(&m),
        40.0,
        "the same stream metrics as exwatch's own"
    );
    assert!(sink.received().is_empty(), "a healthy feed is no alert");
    // The engine's feed goes quiet: it reports nothing more; exwatch's clock sees the stall.
    let quiet = Instant::now();
    let a = alert(&sink, "firing", "stream_stale", 5.0).await;
    let took = quiet.elapsed();
    eprintln!("engine feed quiet -> stream_stale: {took:?}");
    assert!(took < Duration::from_millis(2500), "{took:?}");
    assert_eq!(a["exchange"], "binance");
    assert_eq!(a["endpoint"], STREAM);
    assert_eq!(a["metric"], "stream_silence_ms");
    assert_eq!(a["severity"], "critical");
    assert_eq!(
        a["title"],
        "binance engine-depth stream stalled; REST healthy"
    );
    // It flows again: the series resolves (after `resolve_after` healthy samples, one a
    // second).
    feed(&m, 100, next).await;
    alert(&sink, "resolved", "stream_stale", 5.0).await;
    m.stop().await;
}

#[actix::test]
async fn an_engines_skipped_update_is_a_stream_gap_and_repeats_are_a_frozen_stream() {
    let sink = FakeSink::start();
    let m = start(&sink);
    let next = feed(&m, 25, 1).await;
    // Three ids left out.
    let next = feed(&m, 3, next + 3).await;
    let gap = alert(&sink, "firing", "stream_gap", 3.0).await;
    assert_eq!(gap["value"], 3.0, "{gap}");
    assert_eq!(gap["endpoint"], STREAM);
    assert_eq!(
        m.metrics().value(
            "exwatch_stream_gaps_total",
            &[("exchange", "binance"), ("endpoint", STREAM)]
        ),
        Some(1.0)
    );
    // The same update over and over: frozen.
    let same = depth(next - 2, next - 1);
    for _ in 0..6 {
        m.observe_stream("binance", STREAM, same);
        actix_rt::time::sleep(CADENCE).await;
    }
    let frozen = alert(&sink, "firing", "stream_frozen", 3.0).await;
    assert_eq!(frozen["severity"], "critical");
    assert!(
        !sink
            .received()
            .iter()
            .any(|a| a["detector"] == "stream_stale"),
        "a repeating stream is not a silent one"
    );
    // Forgotten: its open incidents resolve, and its silence is no stall.
    m.forget_stream("binance", STREAM);
    alert(&sink, "resolved", "stream_frozen", 5.0).await;
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !sink
            .received()
            .iter()
            .any(|a| a["detector"] == "stream_stale"),
        "a forgotten stream is not watched"
    );
    m.stop().await;
}

/// An engine naming more streams than exwatch judges (names built from changing values, say)
/// cannot grow the judges and their metrics without bound: past the limit a new name is
/// ignored, and the streams already judged go on.
#[actix::test]
async fn stream_names_past_the_limit_are_ignored_and_the_judged_ones_go_on() {
    use exwatch::probe::stream::engine::MAX_ENGINE_STREAMS;
    let sink = FakeSink::start();
    let m = start(&sink);
    let messages = |stream: &str| {
        m.metrics().value(
            "exwatch_stream_messages_total",
            &[("exchange", "venue"), ("endpoint", stream)],
        )
    };
    for i in 0..=MAX_ENGINE_STREAMS {
        m.observe_stream(
            "venue",
            format!("s{i}"),
            StreamObservation::at(Timestamp::now()),
        );
    }
    let last = format!("s{}", MAX_ENGINE_STREAMS - 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while messages(&last).is_none() {
        assert!(
            Instant::now() < deadline,
            "the last stream within the limit is judged"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    m.observe_stream("venue", "s0", StreamObservation::at(Timestamp::now()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while messages("s0") != Some(2.0) {
        assert!(
            Instant::now() < deadline,
            "a judged stream goes on: {:?}",
            messages("s0")
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    // Observed before s0's second message, so handled by now: ignored.
    assert_eq!(
        messages(&format!("s{MAX_ENGINE_STREAMS}")),
        None,
        "past the limit"
    );
    m.stop().await;
}

/// An engine's stream shows in `GET /api/v1/status` beside exwatch's own (`source = engine`),
/// and leaves it when the engine forgets it.
#[actix::test]
async fn an_engines_stream_is_on_the_status_api_until_forgotten() {
    let mut settings = crate::support::test_settings();
    settings.channels.clear();
    let m = Monitor::start(settings).expect("monitor starts");
    let url = format!("http://{}/api/v1/status", m.http_addr().expect("http"));
    let streams = || async {
        let mut r = crate::support::client()
            .get(&url)
            .send()
            .await
            .expect("status");
        let status: Value = r.json().limit(1 << 20).await.expect("json");
        status["streams"].as_array().cloned().unwrap_or_default()
    };
    feed(&m, 30, 1).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let shown = loop {
        let all = streams().await;
        if let Some(s) = all.iter().find(|s| s["endpoint"] == STREAM) {
            break s.clone();
        }
        assert!(Instant::now() < deadline, "never shown: {all:?}");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["exchange"], "binance", "{shown}");
    assert_eq!(shown["source"], "engine", "{shown}");
    assert_eq!(shown["connected"], true, "{shown}");
    assert!(shown["messages"].as_u64().unwrap_or(0) > 0, "{shown}");
    m.forget_stream("binance", STREAM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while streams().await.iter().any(|s| s["endpoint"] == STREAM) {
        assert!(Instant::now() < deadline, "still shown after forget_stream");
        actix_rt::time::sleep(Duration::from_millis(100)).await;
    }
    m.stop().await;
}
