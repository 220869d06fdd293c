//! Which layer failed, when both do: an exchange whose REST endpoints fail until its breaker
//! opens while its market-data stream stalls at the same time. Black-box on loopback: REST
//! through a [`FakeExchange`], the stream through a Binance [`FakeStream`], a second healthy
//! exchange (so that the correlation hold applies, as in a real multi-venue setup), the
//! default `[router]` (grouping by exchange), and a webhook [`FakeSink`] that counts pages.

use std::time::{Duration, Instant};

use exwatch::{Monitor, MonitorHandle};
use serde_json::Value;

use crate::support::fake_stream::Upgrade;

use crate::support::fake_exchange::{FakeExchange, Mode};
use crate::support::fake_sink::FakeSink;
use crate::support::fake_stream::{FakeStream, Venue};

const CADENCE: Duration = Duration::from_millis(100);

/// A monitor watching Binance (ping + time over REST, a depth stream) and OKX (time), with
/// `router` as its `[router]` table (empty: the defaults).
fn start(rest: &FakeExchange, stream: &FakeStream, sink: &FakeSink, router: &str) -> MonitorHandle {
    let toml = format!(
        r#"
[monitor]
region = "it"
[http]
enabled = false
listen = "127.0.0.1:0"
[store]
path = ":memory:"
[router]
{router}
[breaker]
failure_threshold = 3
recovery_timeout = "3s"
[exchanges.binance.endpoints.ping]
url = "{ping}"
check = "binance"
kind = "health"
interval = "500ms"
timeout = "300ms"
[exchanges.binance.endpoints.time]
url = "{time}"
check = "binance"
kind = "time"
interval = "500ms"
timeout = "300ms"
[exchanges.binance.endpoints.btc-depth]
url = "{ws}"
check = "binance"
kind = "stream"
channel = "depth"
symbol = "BTC/USDT"
[exchanges.okx.endpoints.time]
url = "{okx}"
check = "okx"
kind = "time"
interval = "500ms"
timeout = "300ms"
[channels.ops]
type = "webhook"
url = "{sink}"
"#,
        ping = rest.url("/api/v3/ping"),
        time = rest.url("/api/v3/time"),
        okx = rest.url("/api/v5/public/time"),
        ws = stream.url(),
        sink = sink.url()
    );
    let settings = exwatch::settings::from_toml_str(&toml, &|_| None).expect("valid config");
    Monitor::start(settings).expect("monitor starts")
}

fn describe(sink: &FakeSink) -> Vec<String> {
    sink.received()
        .iter()
        .map(|a| {
            let members: Vec<String> = a["group"]["alerts"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .map(|m| format!("{}:{}:{}", m["kind"], m["endpoint"], m["detector"]))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} {} [{}] {} members={members:?}",
                a["kind"], a["group"]["update"], a["severity"], a["title"]
            )
        })
        .collect()
}

async fn until(secs: f64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    while !f() {
        assert!(Instant::now() < deadline, "not within {secs}s: {what}");
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn warm(m: &MonitorHandle) {
    until(10.0, "stream warm", || {
        m.metrics()
            .value(
                "exwatch_stream_messages_total",
                &[("exchange", "binance"), ("endpoint", "btc-depth")],
            )
            .unwrap_or(0.0)
            >= 30.0
    })
    .await;
}

fn fail_rest(rest: &FakeExchange) {
    rest.set_mode_for("/api/v3/ping", Mode::Status(503));
    rest.set_mode_for("/api/v3/time", Mode::Status(503));
}

fn update(v: &Value) -> &str {
    v["group"]["update"].as_str().unwrap_or("none")
}

/// The detectors of a group message's members.
fn members(v: &Value) -> Vec<String> {
    (v["group"]["alerts"].as_array().into_iter().flatten())
        .map(|m| {
            format!(
                "{}:{}",
                m["detector"].as_str().unwrap_or(""),
                m["kind"].as_str().unwrap_or("")
            )
        })
        .collect()
}

async fn breaker(m: &MonitorHandle, state: f64, within: f64) {
    until(within, "breaker state", || {
        m.metrics()
            .value("exwatch_breaker_state", &[("exchange", "binance")])
            == Some(state)
    })
    .await;
}

/// REST and the stream fail together; the stream's server then refuses connections, which
/// the open breaker paces. Answers the monitor, the fakes, and the messages said while down.
async fn rest_and_stream_fail(router: &str) -> (MonitorHandle, FakeExchange, FakeStream, FakeSink) {
    let rest = FakeExchange::start();
    let stream = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start(&rest, &stream, &sink, router);
    warm(&m).await;
    assert!(sink.received().is_empty(), "{:?}", describe(&sink));
    fail_rest(&rest);
    stream.stall();
    breaker(&m, 2.0, 10.0).await;
    until(5.0, "the down's message", || !sink.received().is_empty()).await;
    // The stream's server goes away too: its reconnects wait for the breaker.
    stream.set_upgrade(Upgrade::Status(503));
    stream.close_all(1011);
    actix_rt::time::sleep(Duration::from_secs(8)).await;
    (m, rest, stream, sink)
}

fn recover(rest: &FakeExchange, stream: &FakeStream) {
    rest.clear_path_modes();
    stream.set_upgrade(Upgrade::Accept);
    stream.resume();
}

#[actix::test]
async fn rest_down_and_stream_stalled_together_are_one_page_the_downs_listing_the_stream() {
    // The default `[router]`: grouping by exchange, a 1 s correlation hold, 2 min flap hold.
    let (m, rest, stream, sink) = rest_and_stream_fail("").await;
    let said = sink.received();
    eprintln!("while down: {:#?}", describe(&sink));
    assert!(
        said.iter()
            .all(|a| a["kind"] == "firing" && a["detector"] == "circuit_open"),
        "every page is the exchange's down: {:#?}",
        describe(&sink)
    );
    assert_eq!(update(&said[0]), "opened");
    assert_eq!(said[0]["title"], "binance down (circuit open)");
    let lists_stream = |a: &Value| members(a).contains(&"stream_stale:firing".to_string());
    // The stall is seen within the correlation hold: the down's one message lists it. Seen
    // later (a slow machine), the incident's next update lists it, after `group_interval`.
    let said = if lists_stream(&said[0]) {
        assert_eq!(said.len(), 1, "one page: {:#?}", describe(&sink));
        said
    } else {
        eprintln!("the stall was seen after the down's hold: waiting for the update");
        until(40.0, "the update listing the stream", || {
            sink.received().iter().any(lists_stream)
        })
        .await;
        let said = sink.received();
        assert_eq!(said.len(), 2, "{:#?}", describe(&sink));
        assert_eq!(update(&said[1]), "updated");
        assert_eq!(said[1]["detector"], "circuit_open");
        said
    };
    let last = said.last().unwrap();
    let stream_member = last["group"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["detector"] == "stream_stale")
        .unwrap()
        .clone();
    assert_eq!(
        stream_member["title"], "binance btc-depth stream stalled; REST failing too",
        "{stream_member}"
    );
    // Back: nothing more is said before the flap hold (no stream resolved of its own, no
    // churn from the paused reconnects).
    recover(&rest, &stream);
    breaker(&m, 0.0, 15.0).await;
    until(10.0, "stream data again", || stream.open() == 1).await;
    actix_rt::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(sink.received().len(), said.len(), "{:#?}", describe(&sink));
    m.stop().await;
}

#[actix::test]
async fn rest_down_and_stream_stalled_together_resolve_as_one_incident() {
    let (m, rest, stream, sink) = rest_and_stream_fail("flap_hold = \"2s\"").await;
    let while_down = sink.received().len();
    assert!(while_down <= 2, "{:#?}", describe(&sink));
    recover(&rest, &stream);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !sink.received().iter().any(|a| a["kind"] == "resolved") {
        assert!(
            Instant::now() < deadline,
            "no resolve: {:#?}",
            describe(&sink)
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let said = sink.received();
    eprintln!("all: {:#?}", describe(&sink));
    assert_eq!(
        said.len(),
        while_down + 1,
        "only the resolve: {:#?}",
        describe(&sink)
    );
    let resolved = said.last().unwrap();
    assert_eq!(update(resolved), "resolved");
    assert_eq!(resolved["detector"], "circuit_open");
    let members = members(resolved);
    assert!(
        members.contains(&"circuit_open:resolved".to_string())
            && members.contains(&"stream_stale:resolved".to_string()),
        "{members:?}"
    );
    assert!(
        !said
            .iter()
            .flat_map(|a| a["group"]["alerts"].as_array().cloned().unwrap_or_default())
            .any(|a| a["detector"] == "stream_churn"),
        "the paused reconnects are no churn: {:#?}",
        describe(&sink)
    );
    m.stop().await;
}

#[actix::test]
async fn a_stream_stall_then_its_exchange_down_is_one_incident_whose_down_message_lists_the_stream()
{
    let rest = FakeExchange::start();
    let stream = FakeStream::start(Venue::Binance, CADENCE);
    let sink = FakeSink::start();
    let m = start(&rest, &stream, &sink, "flap_hold = \"2s\"");
    warm(&m).await;
    stream.stall();
    until(5.0, "the stall's page", || !sink.received().is_empty()).await;
    let first = sink.received()[0].clone();
    assert_eq!(
        first["title"],
        "binance btc-depth stream stalled; REST healthy"
    );
    assert_eq!(update(&first), "opened");
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    fail_rest(&rest);
    breaker(&m, 2.0, 10.0).await;
    until(5.0, "the down's message", || sink.received().len() >= 2).await;
    let down = sink.received()[1].clone();
    assert_eq!(
        update(&down),
        "escalated",
        "at once: {:#?}",
        describe(&sink)
    );
    assert_eq!(down["title"], "binance down (circuit open)");
    // The down leads; the stall and what REST said before its breaker opened are members.
    let listed = members(&down);
    assert_eq!(listed[..2], ["circuit_open:firing", "stream_stale:firing"]);
    assert!(
        listed[2..].iter().all(|m| m.starts_with("error_rate:")),
        "{listed:?}"
    );
    assert_eq!(down["group"]["key"], first["group"]["key"], "one incident");
    // Down for a while: nothing more.
    actix_rt::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(sink.received().len(), 2, "{:#?}", describe(&sink));
    recover(&rest, &stream);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sink.received().len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no resolve: {:#?}",
            describe(&sink)
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    actix_rt::time::sleep(Duration::from_secs(2)).await;
    let said = sink.received();
    eprintln!("all: {:#?}", describe(&sink));
    assert_eq!(said.len(), 3, "{:#?}", describe(&sink));
    assert_eq!(update(&said[2]), "resolved");
    let listed = members(&said[2]);
    assert!(
        listed.iter().all(|m| m.ends_with(":resolved"))
            && listed.contains(&"circuit_open:resolved".to_string())
            && listed.contains(&"stream_stale:resolved".to_string()),
        "{listed:?}"
    );
    m.stop().await;
}
