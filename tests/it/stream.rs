//! Market-data stream health, black-box: a monitor configured with `kind = "stream"` endpoints
//! against loopback fakes of Binance's, Bybit's and OKX's public streams
//! (tests/support/fake_stream.rs), alerts read from a webhook sink, counters from the metrics.

use std::time::{Duration, Instant};

use exwatch::{Monitor, MonitorHandle};
use serde_json::Value;

use crate::support::fake_sink::FakeSink;
use crate::support::fake_stream::{FakeStream, Upgrade, Venue};

const CADENCE: Duration = Duration::from_millis(100);

/// A monitor watching one stream of `check` at `url` (plus `extra` keys), alerting `sink`.
fn start(check: &str, url: &str, extra: &str, sink: &FakeSink) -> MonitorHandle {
    start_with(check, url, extra, sink, false)
}

/// [`start`], serving HTTP on a free loopback port when `http`.
fn start_with(check: &str, url: &str, extra: &str, sink: &FakeSink, http: bool) -> MonitorHandle {
    let toml = format!(
        r#"
[monitor]
region = "it"
[http]
enabled = {http}
listen = "127.0.0.1:0"
[store]
path = ":memory:"
[router]
group_by = []
flap_hold = "0s"
[exchanges.{check}.endpoints.btc-depth]
url = "{url}"
check = "{check}"
kind = "stream"
channel = "depth"
symbol = "BTC/USDT"
{extra}
[channels.ops]
type = "webhook"
url = "{sink}"
"#,
        sink = sink.url()
    );
    let settings = exwatch::settings::from_toml_str(&toml, &|_| None).expect("valid config");
    Monitor::start(settings).expect("monitor starts")
}

fn metric(m: &MonitorHandle, name: &str, exchange: &str, extra: &[(&str, &str)]) -> f64 {
    let mut labels = vec![("exchange", exchange), ("endpoint", "btc-depth")];
    labels.extend_from_slice(extra);
    m.metrics().value(name, &labels).unwrap_or(0.0)
}

async fn until(secs: f64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while !f() {
        assert!(Instant::now() < deadline, "not within {secs}s: {what}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The first firing alert of `detector`, waiting up to `secs`.
async fn alert(sink: &FakeSink, secs: f64, detector: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if let Some(a) = sink
            .received()
            .into_iter()
            .find(|a| a["kind"] == "firing" && a["detector"] == detector)
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no {detector} alert within {secs}s; got {:?}",
            titles(sink)
        );
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
}

fn titles(sink: &FakeSink) -> Vec<String> {
    sink.received()
        .iter()
        .map(|a| format!("{} {}", a["kind"], a["title"]))
        .collect()
}

/// Waits until the stream has delivered `n` messages (and learned its cadence).
async fn warm(m: &MonitorHandle, exchange: &str, n: f64) {
    until(10.0, "stream messages", || {
        metric(m, "exwatch_stream_messages_total", exchange, &[]) >= n
    })
    .await;
}

#[actix::test]
async fn binance_stall_is_a_stream_stale_alert_while_rest_is_healthy_and_pings_are_answered() {
    let fake = FakeStream::start_with(Venue::Binance, CADENCE, Duration::from_millis(200));
    let sink = FakeSink::start();
    let m = start("binance", &fake.url(), "", &sink);
    warm(&m, "binance", 30.0).await;
    assert!(fake.pongs() > 0, "the server's ping frames are answered");
    assert!(
        metric(&m, "exwatch_stream_lag_seconds", "binance", &[]) >= 30.0,
        "lag on every message"
    );
    fake.stall();
    let stalled = Instant::now();
    let a = alert(&sink, 5.0, "stream_stale").await;
    let took = stalled.elapsed();
    eprintln!("stall -> alert: {took:?}");
    assert_eq!(a["metric"], "stream_silence_ms");
    assert_eq!(a["severity"], "critical");
    assert_eq!(
        a["title"], "binance btc-depth stream stalled; REST healthy",
        "{a}"
    );
    assert!(
        took < Duration::from_secs(3),
        "3 x 100 ms cadence + 1 s, with slack: {took:?}"
    );
    assert!(
        metric(
            &m,
            "exwatch_stream_last_message_age_seconds",
            "binance",
            &[]
        ) > 0.5
    );
    fake.resume();
    until(10.0, "resolved", || {
        sink.received()
            .iter()
            .any(|a| a["kind"] == "resolved" && a["metric"] == "stream_silence_ms")
    })
    .await;
    assert_eq!(fake.connections(), 1, "a short stall keeps the connection");
    m.stop().await;
}

#[actix::test]
async fn binance_frozen_payload_and_skipped_update_are_alerts_with_the_gap_size() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start("binance", &fake.url(), "", &sink);
    warm(&m, "binance", 20.0).await;
    // Three updates of two ids each left out: 6 update ids missing.
    fake.skip(3);
    let t = Instant::now();
    let gap = alert(&sink, 3.0, "stream_gap").await;
    eprintln!("gap -> alert: {:?}", t.elapsed());
    assert_eq!(gap["metric"], "stream_gap");
    assert_eq!(gap["value"], 6.0, "{gap}");
    assert_eq!(metric(&m, "exwatch_stream_gaps_total", "binance", &[]), 1.0);
    fake.freeze();
    let t = Instant::now();
    let frozen = alert(&sink, 3.0, "stream_frozen").await;
    eprintln!("frozen -> alert: {:?}", t.elapsed());
    assert_eq!(frozen["severity"], "critical");
    assert!(
        frozen["title"].as_str().unwrap().contains("stream frozen"),
        "{frozen}"
    );
    assert!(
        !sink
            .received()
            .iter()
            .any(|a| a["detector"] == "stream_stale"),
        "a frozen stream is not a silent one: {:?}",
        titles(&sink)
    );
    m.stop().await;
}

#[actix::test]
async fn binance_1008_closes_are_reconnects_with_their_reason_and_beyond_the_budget_churn() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start("binance", &fake.url(), "reconnects_per_hour = 2", &sink);
    warm(&m, "binance", 5.0).await;
    for k in 1..=3 {
        until(10.0, "subscribed again", || fake.open() == 1).await;
        fake.close_all(1008);
        until(10.0, "reconnect counted", || {
            metric(
                &m,
                "exwatch_stream_reconnects_total",
                "binance",
                &[("reason", "close_1008")],
            ) >= f64::from(k)
        })
        .await;
    }
    let a = alert(&sink, 5.0, "stream_churn").await;
    assert_eq!(a["metric"], "stream_reconnects");
    assert_eq!(a["value"], 3.0);
    until(10.0, "back", || fake.open() == 1).await;
    assert!(fake.connections() >= 4);
    m.stop().await;
}

#[actix::test]
async fn planned_reconnects_make_before_break_with_no_alert_and_no_gap() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start("binance", &fake.url(), "lifetime = \"1s\"", &sink);
    warm(&m, "binance", 10.0).await;
    until(10.0, "three lifetimes", || {
        metric(
            &m,
            "exwatch_stream_reconnects_total",
            "binance",
            &[("reason", "lifetime")],
        ) >= 3.0
    })
    .await;
    // And an announced shutdown, closed 500 ms after its notice.
    fake.shutdown(Duration::from_millis(500));
    until(10.0, "shutdown reconnect", || {
        metric(
            &m,
            "exwatch_stream_reconnects_total",
            "binance",
            &[("reason", "shutdown")],
        ) >= 1.0
    })
    .await;
    let before = metric(&m, "exwatch_stream_messages_total", "binance", &[]);
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert!(metric(&m, "exwatch_stream_messages_total", "binance", &[]) > before + 5.0);
    assert_eq!(metric(&m, "exwatch_stream_gaps_total", "binance", &[]), 0.0);
    assert!(sink.received().is_empty(), "no alert: {:?}", titles(&sink));
    assert!(fake.connections() >= 5);
    m.stop().await;
}

#[actix::test]
async fn bad_input_is_counted_never_fatal_and_bounded() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start("binance", &fake.url(), "max_frame_bytes = 4096", &sink);
    warm(&m, "binance", 5.0).await;
    let bad = |kind| {
        metric(
            &m,
            "exwatch_stream_bad_frames_total",
            "binance",
            &[("kind", kind)],
        )
    };
    fake.send_text("this is not json");
    fake.send_text(r#"{"e":"depthUpdate","E":"yesterday"}"#);
    fake.send_binary(&[0, 159, 146, 150]);
    until(5.0, "garbage and binary counted", || {
        bad("garbage") >= 2.0 && bad("binary") >= 1.0
    })
    .await;
    let before = metric(&m, "exwatch_stream_messages_total", "binance", &[]);
    until(5.0, "data flows on", || {
        metric(&m, "exwatch_stream_messages_total", "binance", &[]) > before + 3.0
    })
    .await;
    assert_eq!(fake.connections(), 1, "garbage is no reason to reconnect");
    // Over the bound: refused by the frame codec before its payload is read, then a new
    // connection.
    fake.send_oversize(64 * 1024);
    until(5.0, "oversize", || {
        bad("oversize") >= 1.0
            && metric(
                &m,
                "exwatch_stream_reconnects_total",
                "binance",
                &[("reason", "oversize")],
            ) >= 1.0
    })
    .await;
    until(5.0, "reconnected", || fake.open() == 1).await;
    m.stop().await;
}

#[actix::test]
async fn refused_subscription_and_upgrade_and_a_silent_handshake_are_reconnect_reasons() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    fake.refuse_subscribe(true);
    let m = start("binance", &fake.url(), "timeout = \"300ms\"", &sink);
    let reason = |r| {
        metric(
            &m,
            "exwatch_stream_reconnects_total",
            "binance",
            &[("reason", r)],
        )
    };
    until(5.0, "refused", || reason("refused") >= 1.0).await;
    fake.refuse_subscribe(false);
    fake.set_upgrade(Upgrade::Status(503));
    until(10.0, "503", || reason("http_5xx") >= 1.0).await;
    fake.set_upgrade(Upgrade::Status(403));
    until(10.0, "403", || reason("http_4xx") >= 1.0).await;
    fake.set_upgrade(Upgrade::Never);
    until(10.0, "handshake timeout", || reason("timeout") >= 1.0).await;
    fake.set_upgrade(Upgrade::Accept);
    until(15.0, "data at last", || {
        metric(&m, "exwatch_stream_messages_total", "binance", &[]) >= 3.0
    })
    .await;
    m.stop().await;
}

#[actix::test]
async fn binance_futures_pu_links_events_and_a_skip_is_a_gap() {
    let fake = FakeStream::start(Venue::BinanceFutures, CADENCE);
    let sink = FakeSink::start();
    let m = start("binance", &fake.url(), "", &sink);
    warm(&m, "binance", 10.0).await;
    assert_eq!(metric(&m, "exwatch_stream_gaps_total", "binance", &[]), 0.0);
    fake.skip(1);
    let gap = alert(&sink, 3.0, "stream_gap").await;
    assert_eq!(gap["value"], 2.0, "{gap}");
    m.stop().await;
}

#[actix::test]
async fn bybit_heartbeat_snapshot_and_stall() {
    let fake = FakeStream::start(Venue::Bybit, CADENCE);
    let sink = FakeSink::start();
    let m = start("bybit", &fake.url(), "heartbeat = \"200ms\"", &sink);
    // The cadence is learned from 20 intervals.
    warm(&m, "bybit", 25.0).await;
    assert!(fake.app_pings() >= 2, "{{\"op\":\"ping\"}} sent");
    assert_eq!(
        metric(&m, "exwatch_stream_gaps_total", "bybit", &[]),
        0.0,
        "the snapshot starts the sequence"
    );
    fake.stall();
    let a = alert(&sink, 5.0, "stream_stale").await;
    assert_eq!(a["exchange"], "bybit");
    // A reconnect's new snapshot resets the sequence: no gap.
    fake.resume();
    fake.close_all(1001);
    until(10.0, "resubscribed", || {
        fake.subscribes() >= 2 && fake.open() == 1
    })
    .await;
    let before = metric(&m, "exwatch_stream_messages_total", "bybit", &[]);
    until(5.0, "data", || {
        metric(&m, "exwatch_stream_messages_total", "bybit", &[]) > before + 3.0
    })
    .await;
    assert_eq!(metric(&m, "exwatch_stream_gaps_total", "bybit", &[]), 0.0);
    m.stop().await;
}

#[actix::test]
async fn okx_text_ping_prev_seq_gap_and_notice_is_a_planned_cut() {
    let fake = FakeStream::start(Venue::Okx, CADENCE);
    let sink = FakeSink::start();
    let m = start("okx", &fake.url(), "heartbeat = \"200ms\"", &sink);
    warm(&m, "okx", 10.0).await;
    fake.stall();
    until(5.0, "text ping", || fake.app_pings() >= 1).await;
    fake.resume();
    fake.shutdown(Duration::from_millis(300));
    until(10.0, "notice reconnect", || {
        metric(
            &m,
            "exwatch_stream_reconnects_total",
            "okx",
            &[("reason", "shutdown")],
        ) >= 1.0
    })
    .await;
    actix_rt::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(metric(&m, "exwatch_stream_gaps_total", "okx", &[]), 0.0);
    fake.skip(1);
    let gap = alert(&sink, 3.0, "stream_gap").await;
    assert_eq!(gap["exchange"], "okx");
    assert!(
        !sink
            .received()
            .iter()
            .any(|a| a["detector"] == "stream_churn"),
        "{:?}",
        titles(&sink)
    );
    m.stop().await;
}

#[actix::test]
async fn lag_is_corrected_by_the_venues_clock_skew_and_a_real_lag_alerts() {
    use crate::support::fake_exchange::{FakeExchange, Mode};
    // The venue's clock is 1.5 s behind ours: its event times look 1.5 s old, its time
    // endpoint says so, and that is no lag.
    let rest = FakeExchange::start();
    rest.set_mode_for("/api/v3/time", Mode::ClockSkew(-1500));
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    fake.lag(1500);
    let sink = FakeSink::start();
    let extra = format!(
        "[exchanges.binance.endpoints.time]\nurl = \"{}\"\ncheck = \"binance\"\nkind = \"time\"\ninterval = \"200ms\"\n\
         [detect.latency]\ndetector = \"composite\"\nmin_samples = 5\n",
        rest.url("/api/v3/time")
    );
    let m = start("binance", &fake.url(), &extra, &sink);
    let lag_alerts = |sink: &FakeSink| {
        sink.received()
            .into_iter()
            .filter(|a| a["kind"] == "firing" && a["metric"] == "stream_lag_ms")
            .count()
    };
    // Ten one-second lag samples, skew-corrected.
    until(20.0, "ten lag samples", || {
        m.detector(&exwatch::messages::SeriesKey::new(
            "binance",
            "btc-depth",
            exwatch::messages::Metric::StreamLagMs,
        ))
        .is_some()
            && metric(&m, "exwatch_stream_messages_total", "binance", &[]) >= 100.0
    })
    .await;
    assert_eq!(lag_alerts(&sink), 0, "skew is not lag: {:?}", titles(&sink));
    let share = lag_share_under(&m, "0.5");
    assert!(
        share > 0.8,
        "corrected lag is well under the 1.5 s skew: {share}"
    );
    // Now the venue really lags 3 s behind its own clock.
    fake.lag(4500);
    let t = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lag_alerts(&sink) == 0 {
        assert!(
            Instant::now() < deadline,
            "no lag alert: {:?}",
            titles(&sink)
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("lag -> alert: {:?}", t.elapsed());
    let a = sink
        .received()
        .into_iter()
        .find(|a| a["metric"] == "stream_lag_ms")
        .unwrap();
    let v = a["value"].as_f64().unwrap();
    assert!((2500.0..4000.0).contains(&v), "{a}");
    m.stop().await;
}

/// The share of the stream's messages whose lag was at most `le` seconds (a bucket of
/// `exwatch_stream_lag_seconds` in /metrics).
fn lag_share_under(m: &MonitorHandle, le: &str) -> f64 {
    let text = m.metrics().render();
    let bucket = |le: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("exwatch_stream_lag_seconds_bucket")
                    && l.contains("endpoint=\"btc-depth\"")
                    && l.contains(&format!("le=\"{le}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    bucket(le) / bucket("+Inf").max(1.0)
}

#[actix::test]
async fn stream_failures_open_the_exchange_breaker_which_pauses_reconnects() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    fake.set_upgrade(Upgrade::Status(503));
    let sink = FakeSink::start();
    let m = start(
        "binance",
        &fake.url(),
        "[breaker]\nfailure_threshold = 3\nrecovery_timeout = \"30s\"\n",
        &sink,
    );
    until(10.0, "breaker open", || {
        m.metrics()
            .value("exwatch_breaker_state", &[("exchange", "binance")])
            == Some(2.0)
    })
    .await;
    let down = alert(&sink, 5.0, "circuit_open").await;
    assert_eq!(down["title"], "binance down (circuit open)", "{down}");
    // Paused: no new connection attempt while the breaker is open.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let attempts = fake.connections();
    actix_rt::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        fake.connections(),
        attempts,
        "reconnects paused by the open breaker"
    );
    m.stop().await;
}

#[actix::test]
async fn streams_show_in_the_status_api_exwatch_status_and_metrics() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start_with("binance", &fake.url(), "", &sink, true);
    warm(&m, "binance", 25.0).await;
    actix_rt::time::sleep(Duration::from_millis(1200)).await;
    let base = format!("http://{}", m.http_addr().expect("http"));
    let client = awc::Client::default();
    let status: Value = client
        .get(format!("{base}/api/v1/status"))
        .send()
        .await
        .expect("status")
        .json()
        .limit(1 << 20)
        .await
        .expect("json");
    let st = &status["streams"][0];
    assert_eq!(st["exchange"], "binance", "{status}");
    assert_eq!(st["endpoint"], "btc-depth");
    assert_eq!(st["state"], "ok");
    assert_eq!(st["connected"], true);
    assert!(st["message_rate"].as_f64().unwrap() > 3.0, "{st}");
    assert!(
        st["cadence_ms"]
            .as_f64()
            .is_some_and(|c| (50.0..200.0).contains(&c)),
        "{st}"
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .body()
        .await
        .expect("body");
    let metrics = String::from_utf8_lossy(&metrics);
    for name in [
        "exwatch_stream_messages_total{exchange=\"binance\",endpoint=\"btc-depth\"}",
        "# TYPE exwatch_stream_lag_seconds histogram",
        "exwatch_stream_lag_seconds_bucket{exchange=\"binance\",endpoint=\"btc-depth\",le=\"0.1\"}",
        "# TYPE exwatch_stream_last_message_age_seconds gauge",
        "# TYPE exwatch_stream_subscribe_seconds histogram",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
    let out = actix_rt::task::spawn_blocking(move || {
        std::process::Command::new(crate::e2e::EXWATCH)
            .args(["status", "--url", &base])
            .output()
            .expect("exwatch status")
    })
    .await
    .expect("joined");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("Streams (1):") && text.contains("btc-depth"),
        "{text}"
    );
    m.stop().await;
}

/// Streams sharing connections: `streams` (endpoint name, symbol) of `check` at `url`, every
/// endpoint with `extra` keys, the exchange with `exchange_extra`.
fn start_many(
    check: &str,
    url: &str,
    streams: &[(&str, &str)],
    extra: &str,
    exchange_extra: &str,
    sink: &FakeSink,
) -> MonitorHandle {
    let mut endpoints = String::new();
    for (name, symbol) in streams {
        endpoints.push_str(&format!(
            "[exchanges.{check}.endpoints.{name}]\nurl = \"{url}\"\ncheck = \"{check}\"\n\
             kind = \"stream\"\nchannel = \"depth\"\nsymbol = \"{symbol}\"\n{extra}\n"
        ));
    }
    let toml = format!(
        r#"
[monitor]
region = "it"
[http]
enabled = false
[store]
path = ":memory:"
[router]
group_by = []
flap_hold = "0s"
[exchanges.{check}]
{exchange_extra}
{endpoints}
[channels.ops]
type = "webhook"
url = "{sink}"
"#,
        sink = sink.url()
    );
    let settings = exwatch::settings::from_toml_str(&toml, &|_| None).expect("valid config");
    Monitor::start(settings).expect("monitor starts")
}

fn of(
    m: &MonitorHandle,
    name: &str,
    exchange: &str,
    endpoint: &str,
    extra: &[(&str, &str)],
) -> f64 {
    let mut labels = vec![("exchange", exchange), ("endpoint", endpoint)];
    labels.extend_from_slice(extra);
    m.metrics().value(name, &labels).unwrap_or(0.0)
}

const THREE: [(&str, &str); 3] = [
    ("btc-depth", "BTC/USDT"),
    ("eth-depth", "ETH/USDT"),
    ("sol-depth", "SOL/USDT"),
];

#[actix::test]
async fn streams_share_one_connection_and_a_stalled_topic_alerts_its_stream_only() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start_many("binance", &fake.url(), &THREE, "", "", &sink);
    let messages = |e| of(&m, "exwatch_stream_messages_total", "binance", e, &[]);
    until(15.0, "every stream learns its cadence", || {
        THREE.iter().all(|(e, _)| messages(e) >= 25.0)
    })
    .await;
    assert_eq!(
        fake.connections(),
        1,
        "one TCP connection for three streams"
    );
    assert_eq!(fake.subscribes(), 1, "one SUBSCRIBE carrying three params");
    assert_eq!(fake.subscribed_topics(), 3);
    fake.stall_topic("ETH/USDT");
    let a = alert(&sink, 5.0, "stream_stale").await;
    assert_eq!(a["endpoint"], "eth-depth", "{a}");
    assert_eq!(
        a["title"], "binance eth-depth stream stalled; REST healthy",
        "{a}"
    );
    let before = [messages("btc-depth"), messages("sol-depth")];
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert!(messages("btc-depth") > before[0] + 5.0 && messages("sol-depth") > before[1] + 5.0);
    let firing: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|a| a["kind"] == "firing")
        .map(|a| a["endpoint"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(firing, ["eth-depth"], "{:?}", titles(&sink));
    assert_eq!(
        fake.connections(),
        1,
        "a stalled topic keeps the shared connection"
    );
    fake.resume_topic("ETH/USDT");
    until(10.0, "resolved", || {
        sink.received()
            .iter()
            .any(|a| a["kind"] == "resolved" && a["endpoint"] == "eth-depth")
    })
    .await;
    // A frame of a topic none of the streams has: a bad frame, not a crash.
    fake.send_text(r#"{"e":"depthUpdate","E":1,"s":"XRPUSDT","U":1,"u":2,"b":[],"a":[]}"#);
    until(5.0, "unknown topic counted", || {
        of(
            &m,
            "exwatch_stream_bad_frames_total",
            "binance",
            "btc-depth",
            &[("kind", "unknown_topic")],
        ) == 1.0
    })
    .await;
    assert_eq!(fake.connections(), 1);
    // A loss of the shared connection is a reconnect of each of its streams.
    fake.close_all(1008);
    until(10.0, "each stream counts the reconnect", || {
        THREE.iter().all(|(e, _)| {
            of(
                &m,
                "exwatch_stream_reconnects_total",
                "binance",
                e,
                &[("reason", "close_1008")],
            ) == 1.0
        })
    })
    .await;
    until(10.0, "one connection again", || fake.open() == 1).await;
    assert_eq!(fake.connections(), 2);
    m.stop().await;
}

/// A subscribe refused for one topic (the venue refuses the request naming it) counts for
/// that stream only: the others on the connection get their data, on the same connection.
async fn refused_topic(venue: Venue, check: &str) {
    let fake = FakeStream::start(venue, CADENCE);
    fake.refuse_topic("ETH/USDT", true);
    let sink = FakeSink::start();
    let m = start_many(check, &fake.url(), &THREE, "", "", &sink);
    let messages = |e| of(&m, "exwatch_stream_messages_total", check, e, &[]);
    let refused = |e| {
        of(
            &m,
            "exwatch_stream_reconnects_total",
            check,
            e,
            &[("reason", "refused")],
        )
    };
    until(10.0, "the others flow", || {
        messages("btc-depth") >= 10.0 && messages("sol-depth") >= 10.0
    })
    .await;
    until(5.0, "refused counted", || refused("eth-depth") >= 1.0).await;
    assert_eq!(messages("eth-depth"), 0.0);
    assert_eq!(refused("btc-depth") + refused("sol-depth"), 0.0);
    assert_eq!(
        fake.connections(),
        1,
        "{check}: no reconnect for a refused topic"
    );
    assert_eq!(
        metric_sum(&m, "exwatch_stream_reconnects_total", "btc-depth"),
        0.0,
        "{check}: the others never reconnected"
    );
    fake.refuse_topic("ETH/USDT", false);
    until(10.0, "asked again, and accepted", || {
        messages("eth-depth") >= 5.0
    })
    .await;
    assert_eq!(fake.connections(), 1);
    assert_eq!(fake.subscribed_topics(), 3);
    m.stop().await;
}

/// Every reason of `name` for `endpoint` (binance or okx exchange), summed from /metrics.
fn metric_sum(m: &MonitorHandle, name: &str, endpoint: &str) -> f64 {
    m.metrics()
        .render()
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("endpoint=\"{endpoint}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[actix::test]
async fn binance_refused_topic_counts_for_its_stream_only() {
    refused_topic(Venue::Binance, "binance").await;
}

#[actix::test]
async fn okx_refused_topic_counts_for_its_stream_only() {
    refused_topic(Venue::Okx, "okx").await;
}

#[actix::test]
async fn bybit_refused_topic_counts_for_its_stream_only() {
    refused_topic(Venue::Bybit, "bybit").await;
}

#[actix::test]
async fn planned_reconnects_of_a_shared_connection_give_no_alert_and_no_gap_for_any_stream() {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start_many(
        "binance",
        &fake.url(),
        &THREE,
        "lifetime = \"1s\"",
        "",
        &sink,
    );
    let reason = |e, r| {
        of(
            &m,
            "exwatch_stream_reconnects_total",
            "binance",
            e,
            &[("reason", r)],
        )
    };
    until(15.0, "three lifetimes of every stream", || {
        THREE.iter().all(|(e, _)| reason(e, "lifetime") >= 3.0)
    })
    .await;
    fake.shutdown(Duration::from_millis(500));
    until(10.0, "shutdown reconnect of every stream", || {
        THREE.iter().all(|(e, _)| reason(e, "shutdown") >= 1.0)
    })
    .await;
    let before: Vec<f64> = (THREE.iter())
        .map(|(e, _)| of(&m, "exwatch_stream_messages_total", "binance", e, &[]))
        .collect();
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    for ((e, _), b) in THREE.iter().zip(before) {
        assert!(of(&m, "exwatch_stream_messages_total", "binance", e, &[]) > b + 5.0);
        assert_eq!(
            of(&m, "exwatch_stream_gaps_total", "binance", e, &[]),
            0.0,
            "{e}"
        );
    }
    assert!(sink.received().is_empty(), "no alert: {:?}", titles(&sink));
    // One connection per replacement, not one per stream.
    let replacements = reason("btc-depth", "lifetime") + reason("btc-depth", "shutdown");
    assert!(
        (fake.connections() as f64) <= replacements + 2.0,
        "{} connections for {replacements} replacements",
        fake.connections()
    );
    m.stop().await;
}

#[actix::test]
async fn streams_per_connection_splits_the_streams_over_connections() {
    let fake = FakeStream::start(Venue::Bybit, CADENCE);
    let sink = FakeSink::start();
    let m = start_many(
        "bybit",
        &fake.url(),
        &THREE,
        "",
        "streams_per_connection = 2",
        &sink,
    );
    until(10.0, "every stream flows", || {
        THREE
            .iter()
            .all(|(e, _)| of(&m, "exwatch_stream_messages_total", "bybit", e, &[]) >= 5.0)
    })
    .await;
    assert_eq!(fake.connections(), 2, "2 + 1 streams");
    assert_eq!(fake.subscribed_topics(), 3);
    for (e, _) in THREE {
        assert_eq!(
            of(&m, "exwatch_stream_gaps_total", "bybit", e, &[]),
            0.0,
            "{e}"
        );
    }
    m.stop().await;
}

#[actix::test]
async fn a_long_stall_of_one_topic_resubscribes_that_topic_not_the_connection() {
    let fake = FakeStream::start(Venue::Bybit, CADENCE);
    let sink = FakeSink::start();
    let m = start_many("bybit", &fake.url(), &THREE, "", "", &sink);
    let messages = |e| of(&m, "exwatch_stream_messages_total", "bybit", e, &[]);
    let stale = |e| {
        of(
            &m,
            "exwatch_stream_reconnects_total",
            "bybit",
            e,
            &[("reason", "stale")],
        )
    };
    until(15.0, "every stream learns its cadence", || {
        THREE.iter().all(|(e, _)| messages(e) >= 25.0)
    })
    .await;
    fake.stall_topic("ETH/USDT");
    // 3 stale thresholds, at least 10 s: the topic alone is asked for again.
    until(20.0, "eth-depth resubscribed", || stale("eth-depth") >= 1.0).await;
    // The requests are paced through the connection's queue: the fake reads them a little
    // after the stream counted its reconnect.
    until(5.0, "unsubscribed, then subscribed again", || {
        fake.unsubscribes() >= 1 && fake.subscribes() >= 2
    })
    .await;
    assert_eq!(
        fake.subscribes(),
        2,
        "the first SUBSCRIBE of three, then eth alone"
    );
    assert_eq!(fake.connections(), 1, "the shared connection is kept");
    assert_eq!(stale("btc-depth") + stale("sol-depth"), 0.0);
    fake.resume_topic("ETH/USDT");
    let before = messages("eth-depth");
    until(5.0, "eth-depth flows again", || {
        messages("eth-depth") > before + 5.0
    })
    .await;
    assert_eq!(
        of(&m, "exwatch_stream_gaps_total", "bybit", "btc-depth", &[]),
        0.0
    );
    m.stop().await;
}

/// The config file of [`a_reload_restarts_only_the_stream_connections_that_changed`]: each
/// stream (endpoint, fake URL, symbol) of Binance, grouping off, no flap hold.
fn stream_file(streams: &[(&str, &str, &str)], sink: &FakeSink) -> String {
    let mut text = format!(
        "[monitor]\nregion = \"it\"\n[http]\nenabled = false\n[store]\npath = \":memory:\"\n\
         [router]\ngroup_by = []\nflap_hold = \"0s\"\n\
         [channels.ops]\ntype = \"webhook\"\nurl = \"{}\"\n",
        sink.url()
    );
    for (name, url, symbol) in streams {
        text.push_str(&format!(
            "[exchanges.binance.endpoints.{name}]\nurl = \"{url}\"\ncheck = \"binance\"\n\
             kind = \"stream\"\nchannel = \"depth\"\nsymbol = \"{symbol}\"\n"
        ));
    }
    text
}

#[actix::test]
async fn a_reload_restarts_only_the_stream_connections_that_changed() {
    // Two fakes, so the two streams are two connections.
    let (one, two) = (
        FakeStream::start(Venue::Binance, CADENCE),
        FakeStream::start(Venue::Binance, CADENCE),
    );
    let sink = FakeSink::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exwatch.toml");
    let (url1, url2) = (one.url(), two.url());
    std::fs::write(
        &path,
        stream_file(
            &[
                ("btc-depth", &url1, "BTC/USDT"),
                ("eth-depth", &url2, "ETH/USDT"),
            ],
            &sink,
        ),
    )
    .unwrap();
    let settings = exwatch::settings::load(Some(&path)).expect("valid");
    let source = path.clone();
    let m = Monitor::builder(settings)
        .config_source(move || exwatch::settings::load(Some(&source)))
        .start()
        .expect("monitor starts");
    let messages = |e| of(&m, "exwatch_stream_messages_total", "binance", e, &[]);
    until(15.0, "both streams learn their cadence", || {
        messages("btc-depth") >= 25.0 && messages("eth-depth") >= 25.0
    })
    .await;
    two.stall();
    let a = alert(&sink, 5.0, "stream_stale").await;
    assert_eq!(a["endpoint"], "eth-depth");

    // eth-depth leaves, sol-depth arrives on the second fake; btc-depth is unchanged.
    std::fs::write(
        &path,
        stream_file(
            &[
                ("btc-depth", &url1, "BTC/USDT"),
                ("sol-depth", &url2, "SOL/USDT"),
            ],
            &sink,
        ),
    )
    .unwrap();
    two.resume();
    let btc_before = messages("btc-depth");
    let report = m.reload().expect("valid");
    assert!(report.needs_restart.is_empty(), "{report:?}");
    assert!(
        report
            .changes
            .contains(&"stream connection started: binance/sol-depth".to_owned())
            && report
                .changes
                .contains(&"stream connection stopped: binance/eth-depth".to_owned()),
        "{report:?}"
    );
    until(10.0, "sol-depth streams", || messages("sol-depth") >= 10.0).await;
    until(5.0, "the old connection to the second fake closed", || {
        two.open() == 1
    })
    .await;
    assert_eq!(
        two.connections(),
        2,
        "one new connection for the changed pack"
    );
    assert_eq!(
        one.connections(),
        1,
        "the unchanged stream kept its connection"
    );
    assert!(
        messages("btc-depth") > btc_before + 5.0,
        "and its data flowed on"
    );
    // The removed stream's open alert is resolved as a removed endpoint's.
    until(5.0, "eth-depth resolved", || {
        sink.received()
            .iter()
            .any(|a| a["kind"] == "resolved" && a["endpoint"] == "eth-depth")
    })
    .await;
    m.stop().await;
}

/// A stall longer than a replacement's patience (3 stale thresholds, at least 10 s) replaces
/// the connection once per that period, not at every tick: a new connection is given its own
/// period before it is condemned too. Each replacement is a failure for the exchange's breaker,
/// which one a tick (5 in 3 s, found by the demo) opened: a stalled stream paged as a down.
#[actix::test]
async fn a_long_stall_replaces_the_connection_once_per_period_and_is_no_down() {
    let fake = FakeStream::start_with(Venue::Binance, CADENCE, Duration::from_millis(200));
    let sink = FakeSink::start();
    let m = start("binance", &fake.url(), "", &sink);
    warm(&m, "binance", 30.0).await;
    fake.stall();
    actix_rt::time::sleep(Duration::from_secs(21)).await;
    assert!(
        (2..=3).contains(&fake.connections()),
        "one replacement per 10 s of stall: {} connections",
        fake.connections()
    );
    let firing: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|a| a["kind"] == "firing")
        .map(|a| a["detector"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(firing, ["stream_stale"], "{:?}", titles(&sink));
    m.stop().await;
}

/// A Binance stream whose upgrades are refused (503) until its exchange is down: the breaker
/// opens after 3 failures and lets a trial through every 500 ms. `extra`: the stream's keys.
async fn refused_until_down(extra: &str) -> (FakeStream, FakeSink, MonitorHandle) {
    let fake = FakeStream::start(Venue::Binance, CADENCE);
    fake.set_upgrade(Upgrade::Status(503));
    let sink = FakeSink::start();
    let m = start(
        "binance",
        &fake.url(),
        &format!("{extra}[breaker]\nfailure_threshold = 3\nrecovery_timeout = \"500ms\"\n"),
        &sink,
    );
    alert(&sink, 10.0, "circuit_open").await;
    (fake, sink, m)
}

/// Attempts the open breaker lets through (one per `recovery_timeout`) fail as the exchange
/// does: they are the outage's, which the down pages, not churn of the stream's own.
#[actix::test]
async fn attempts_while_the_breaker_is_open_are_not_churn() {
    let (fake, sink, m) = refused_until_down("reconnects_per_hour = 5\n").await;
    let opened = fake.connections();
    until(
        15.0,
        "four more attempts through the half-open breaker",
        || fake.connections() >= opened + 4,
    )
    .await;
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    let churn: Vec<_> = sink
        .received()
        .into_iter()
        .filter(|a| a["detector"] == "stream_churn")
        .collect();
    assert!(churn.is_empty(), "{:?}", titles(&sink));
    assert!(
        metric(
            &m,
            "exwatch_stream_reconnects_total",
            "binance",
            &[("reason", "http_5xx")]
        ) >= (opened + 4) as f64,
        "every failed attempt is still counted"
    );
    m.stop().await;
}

/// An exchange watched only through streams has no probe to send the breaker's trials: its
/// stream's data flowing again closes the breaker and resolves the down.
#[actix::test]
async fn a_stream_only_exchange_breaker_closes_when_data_flows_again() {
    let (fake, sink, m) = refused_until_down("").await;
    fake.set_upgrade(Upgrade::Accept);
    until(10.0, "breaker closed", || {
        m.metrics()
            .value("exwatch_breaker_state", &[("exchange", "binance")])
            == Some(0.0)
    })
    .await;
    until(5.0, "the down resolved", || {
        sink.received()
            .iter()
            .any(|a| a["kind"] == "resolved" && a["detector"] == "circuit_open")
    })
    .await;
    m.stop().await;
}
