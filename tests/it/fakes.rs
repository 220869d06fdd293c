//! Proves that each mode of the loopback fakes does what it says, with the `awc::Client` the
//! probes use.

use std::time::{Duration, Instant};

use awc::error::{ConnectError, PayloadError, SendRequestError};
use exwatch::client::parse_retry_after;
use exwatch::messages::Outcome;
use exwatch::probe::exchange::{Answer, Verdict, judge};
use exwatch::settings::{CheckProfile, EndpointKind};

use crate::common::{now, now_ms};
use crate::support::fake_exchange::{FakeExchange, Mode, Venue};
use crate::support::fake_sink::{FakeSink, SinkMode};
use crate::support::{client, client_with_timeout};

/// GETs `url` and judges the answer like a probe would.
async fn probe(url: &str, profile: CheckProfile, kind: EndpointKind) -> Verdict {
    let mut res = client().get(url).send().await.expect("an answer");
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now()));
    let body = res.body().await.expect("a body");
    judge(
        profile,
        kind,
        &Answer {
            status: res.status().as_u16(),
            retry_after,
            body: &body,
        },
    )
}

const ROUTES: &[(&str, CheckProfile, EndpointKind)] = &[
    ("/api/v3/ping", CheckProfile::Binance, EndpointKind::Health),
    ("/api/v3/time", CheckProfile::Binance, EndpointKind::Time),
    (
        "/api/v3/ticker/price?symbol=BTCUSDT",
        CheckProfile::Binance,
        EndpointKind::Ticker,
    ),
    (
        "/sapi/v1/system/status",
        CheckProfile::Binance,
        EndpointKind::Status,
    ),
    ("/v5/market/time", CheckProfile::Bybit, EndpointKind::Time),
    (
        "/v5/market/tickers?category=spot&symbol=BTCUSDT",
        CheckProfile::Bybit,
        EndpointKind::Ticker,
    ),
    (
        "/v5/system/status",
        CheckProfile::Bybit,
        EndpointKind::Status,
    ),
    ("/api/v5/public/time", CheckProfile::Okx, EndpointKind::Time),
    (
        "/api/v5/market/ticker?instId=BTC-USDT",
        CheckProfile::Okx,
        EndpointKind::Ticker,
    ),
    (
        "/api/v5/system/status",
        CheckProfile::Okx,
        EndpointKind::Status,
    ),
    ("/health", CheckProfile::Http, EndpointKind::Health),
];

#[actix::test]
async fn normal_answers_pass_their_profiles() {
    let fx = FakeExchange::start();
    fx.set_price(Venue::Okx, 20600.5);
    for &(path, profile, kind) in ROUTES {
        let v = probe(&fx.url(path), profile, kind).await;
        assert_eq!(v.outcome, Outcome::Ok, "{path}: {v:?}");
        assert!(!v.maintenance, "{path}");
        match kind {
            EndpointKind::Time => {
                let skew = v.server_time_ms.expect("server time") - now_ms();
                assert!(skew.abs() < 1000, "{path}: {skew}");
            }
            EndpointKind::Ticker => {
                let want = if path.starts_with("/api/v5") {
                    20600.5
                } else {
                    20533.13
                };
                assert_eq!(v.price, Some(want), "{path}");
            }
            _ => {}
        }
    }
    assert_eq!(fx.requests("/api/v3/ticker/price"), 1);
    assert_eq!(fx.total_requests(), ROUTES.len());
}

#[actix::test]
async fn maintenance_is_reported_by_every_status_endpoint() {
    let fx = FakeExchange::start();
    fx.set_maintenance(true);
    for &(path, profile, kind) in ROUTES.iter().filter(|r| r.2 == EndpointKind::Status) {
        let v = probe(&fx.url(path), profile, kind).await;
        assert_eq!(v.outcome, Outcome::Ok, "{path}");
        assert!(v.maintenance, "{path}: {v:?}");
    }
}

#[actix::test]
async fn unknown_venue_path_is_a_404_with_the_venue_body() {
    let fx = FakeExchange::start();
    let v = probe(
        &fx.url("/api/v3/nope"),
        CheckProfile::Binance,
        EndpointKind::Health,
    )
    .await;
    assert_eq!(v.outcome, Outcome::Http4xx);
    assert!(v.detail.unwrap().starts_with("code -1100"));
}

#[actix::test]
async fn delay_is_measured() {
    let fx = FakeExchange::start();
    fx.set_mode(Mode::Delay(Duration::from_millis(300)));
    let t0 = Instant::now();
    let v = probe(
        &fx.url("/api/v3/ping"),
        CheckProfile::Binance,
        EndpointKind::Health,
    )
    .await;
    let took = t0.elapsed();
    assert_eq!(v.outcome, Outcome::Ok);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[actix::test]
async fn rate_limited_sends_429_retry_after_and_binance_weight() {
    let fx = FakeExchange::start();
    fx.set_mode(Mode::RateLimited {
        retry_after_secs: 7,
    });
    let res = client().get(fx.url("/api/v3/ping")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert_eq!(res.headers().get("retry-after").unwrap(), "7");
    assert_eq!(res.headers().get("x-mbx-used-weight-1m").unwrap(), "6001");
    for &(path, profile, kind) in ROUTES {
        let v = probe(&fx.url(path), profile, kind).await;
        assert_eq!(v.outcome, Outcome::RateLimited, "{path}");
        assert_eq!(v.retry_after, Some(Duration::from_secs(7)), "{path}");
    }
}

#[actix::test]
async fn ban_sends_418() {
    let fx = FakeExchange::start();
    fx.set_mode(Mode::Ban {
        retry_after_secs: 120,
    });
    let res = client().get(fx.url("/api/v3/time")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 418);
    let v = probe(
        &fx.url("/api/v3/time"),
        CheckProfile::Binance,
        EndpointKind::Time,
    )
    .await;
    assert_eq!(v.outcome, Outcome::RateLimited);
    assert_eq!(v.retry_after, Some(Duration::from_secs(120)));
    assert!(v.detail.unwrap().contains("IP banned until"));
}

#[actix::test]
async fn status_sends_venue_error_bodies() {
    let fx = FakeExchange::start();
    fx.set_mode(Mode::Status(503));
    let v = probe(
        &fx.url("/api/v3/ping"),
        CheckProfile::Binance,
        EndpointKind::Health,
    )
    .await;
    assert_eq!(v.outcome, Outcome::Http5xx);
    assert!(
        v.detail
            .unwrap()
            .starts_with("code -1008: Server is currently overloaded")
    );
    let v = probe(
        &fx.url("/api/v5/public/time"),
        CheckProfile::Okx,
        EndpointKind::Time,
    )
    .await;
    assert_eq!(v.outcome, Outcome::Http5xx);
    assert!(v.detail.unwrap().starts_with("code 50001"));
    // Bybit's IP limit is a 403 with a plain-text body.
    fx.set_mode(Mode::Status(403));
    let v = probe(
        &fx.url("/v5/market/time"),
        CheckProfile::Bybit,
        EndpointKind::Time,
    )
    .await;
    assert_eq!(v.outcome, Outcome::RateLimited);
    assert_eq!(v.retry_after, Some(Duration::from_secs(600)));
}

#[actix::test]
async fn envelope_error_is_a_200_with_an_error_code() {
    let fx = FakeExchange::start();
    fx.set_mode(Mode::EnvelopeError);
    let res = client()
        .get(fx.url("/v5/market/time"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let v = probe(
        &fx.url("/v5/market/time"),
        CheckProfile::Bybit,
        EndpointKind::Time,
    )
    .await;
    assert_eq!(v.outcome, Outcome::BadBody);
    assert_eq!(v.detail.as_deref(), Some("retCode 10016: Server error"));
    let v = probe(
        &fx.url("/api/v5/market/ticker"),
        CheckProfile::Okx,
        EndpointKind::Ticker,
    )
    .await;
    assert_eq!(v.outcome, Outcome::BadBody);
    assert!(v.detail.unwrap().starts_with("code 50001: "));
}

#[actix::test]
async fn malformed_is_truncated_json() {
    let fx = FakeExchange::start();
    fx.set_mode(Mode::Malformed);
    let mut res = client().get(fx.url("/api/v3/time")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(&res.body().await.unwrap()[..], b"{\"serverTi");
    for &(path, profile, kind) in ROUTES.iter().filter(|r| r.1 != CheckProfile::Http) {
        let v = probe(&fx.url(path), profile, kind).await;
        assert_eq!(v.outcome, Outcome::BadBody, "{path}");
        assert!(v.detail.unwrap().starts_with("not JSON"), "{path}");
    }
}

#[actix::test]
async fn huge_streams_exactly_n_bytes() {
    let fx = FakeExchange::start();
    let n = 3 * 1024 * 1024 + 17;
    fx.set_mode(Mode::Huge(n));
    let mut res = client().get(fx.url("/api/v3/ping")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers().get("content-length").is_none(), "chunked");
    let body = res.body().limit(n + 1).await.unwrap();
    assert_eq!(body.len(), n);
    // awc's default limit (2 MiB) refuses it: that is how a probe sees a huge answer.
    let mut res = client().get(fx.url("/api/v3/ping")).send().await.unwrap();
    assert!(matches!(res.body().await, Err(PayloadError::Overflow)));
}

#[actix::test]
async fn stall_times_out() {
    let fx = FakeExchange::start();
    fx.set_mode(Mode::Stall);
    let t0 = Instant::now();
    let r = client_with_timeout(Duration::from_millis(200))
        .get(fx.url("/api/v3/ping"))
        .send()
        .await;
    assert!(matches!(r, Err(SendRequestError::Timeout)), "{r:?}");
    assert!(t0.elapsed() >= Duration::from_millis(200));
    assert!(t0.elapsed() < Duration::from_secs(2));
    assert_eq!(fx.requests("/api/v3/ping"), 1);
}

#[actix::test]
async fn reset_closes_the_connection_without_an_answer() {
    let fx = FakeExchange::start();
    let c = client();
    // A first request opens a keep-alive connection that awc pools.
    let res = c.get(fx.url("/api/v3/ping")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    drop(res);
    fx.set_mode(Mode::Reset);
    for _ in 0..3 {
        let r = c.get(fx.url("/api/v3/ping")).send().await;
        // awc reports EOF before the response head as a *connect* error.
        assert!(
            matches!(
                r,
                Err(SendRequestError::Connect(ConnectError::Disconnected))
            ),
            "{r:?}"
        );
    }
    assert_eq!(fx.requests("/api/v3/ping"), 4);
    fx.set_mode(Mode::Normal);
    let res = c.get(fx.url("/api/v3/ping")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
}

#[actix::test]
async fn clock_skew_shifts_every_server_time() {
    let fx = FakeExchange::start();
    fx.set_mode(Mode::ClockSkew(-5_000));
    for &(path, profile, kind) in ROUTES.iter().filter(|r| r.2 == EndpointKind::Time) {
        let v = probe(&fx.url(path), profile, kind).await;
        let skew = v.server_time_ms.unwrap() - now_ms();
        assert!((-6_000..-4_000).contains(&skew), "{path}: {skew}");
    }
}

#[actix::test]
async fn path_modes_queued_modes_and_arrivals() {
    let fx = FakeExchange::start();
    fx.set_mode_for("/api/v3/time", Mode::Status(500));
    fx.queue_modes([Mode::Status(502), Mode::Malformed]);
    let c = client();
    let status = |path: &'static str| {
        let c = c.clone();
        let url = fx.url(path);
        async move { c.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/api/v3/ping").await, 502); // queued
    assert_eq!(status("/api/v3/ping").await, 200); // queued Malformed is a 200
    assert_eq!(status("/api/v3/ping").await, 200);
    assert_eq!(status("/api/v3/time").await, 500); // path mode
    fx.clear_path_modes();
    assert_eq!(status("/api/v3/time").await, 200);
    let arrivals = fx.arrivals("/api/v3/ping");
    assert_eq!(arrivals.len(), 3);
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(fx.requests("/api/v3/time"), 2);
    fx.reset_counts();
    assert_eq!(fx.total_requests(), 0);
}

#[actix::test]
async fn dropping_the_fake_stops_it() {
    let fx = FakeExchange::start();
    let url = fx.url("/health");
    let c = client();
    assert!(c.get(&url).send().await.is_ok());
    drop(fx);
    let r = client().get(&url).send().await;
    assert!(matches!(r, Err(SendRequestError::Connect(_))), "{r:?}");
}

#[actix::test]
async fn sink_records_bodies_and_headers() {
    let sink = FakeSink::start();
    let c = client();
    for i in 0..3 {
        let res = c
            .post(sink.url())
            .insert_header(("X-Exwatch-Signature", format!("t=1,v1={i}")))
            .send_json(&serde_json::json!({ "n": i, "kind": "firing" }))
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }
    let got = sink.wait_for(3, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 3);
    assert_eq!(got[2]["n"], 2);
    let reqs = sink.received_requests();
    assert_eq!(reqs[0].path, "/alerts");
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[1].header("x-exwatch-signature"), Some("t=1,v1=1"));
    assert_eq!(reqs[1].header("content-type"), Some("application/json"));
}

#[actix::test]
async fn sink_rejections_are_attempts_not_receipts() {
    let sink = FakeSink::start();
    let c = client();
    sink.set_mode(SinkMode::Status(503));
    let res = c.post(sink.url()).send_body("{}").await.unwrap();
    assert_eq!(res.status().as_u16(), 503);
    sink.set_mode(SinkMode::RateLimited {
        retry_after_secs: 3,
    });
    let res = c.post(sink.url()).send_body("{}").await.unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert_eq!(res.headers().get("retry-after").unwrap(), "3");
    sink.set_mode(SinkMode::Accept);
    sink.queue_modes([SinkMode::Status(500)]);
    let res = c.post(sink.url()).send_body("{}").await.unwrap();
    assert_eq!(res.status().as_u16(), 500);
    let res = c
        .post(format!("{}/other", sink.base_url()))
        .send_body("not json")
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(sink.attempts().len(), 4);
    assert_eq!(sink.received(), vec![serde_json::json!("not json")]);
    assert_eq!(sink.received_requests()[0].path, "/other");
    // wait_for gives up at its timeout with what it has.
    let t0 = Instant::now();
    assert_eq!(sink.wait_for(2, Duration::from_millis(100)).await.len(), 1);
    assert!(t0.elapsed() >= Duration::from_millis(100));
}

#[actix::test]
async fn sink_stall_times_out_and_is_recorded() {
    let sink = FakeSink::start();
    sink.set_mode(SinkMode::Stall);
    let r = client_with_timeout(Duration::from_millis(200))
        .post(sink.url())
        .send_body("{}")
        .await;
    assert!(matches!(r, Err(SendRequestError::Timeout)), "{r:?}");
    assert_eq!(
        sink.wait_for_attempts(1, Duration::from_secs(1))
            .await
            .len(),
        1
    );
    assert!(sink.received().is_empty());
}

#[actix::test]
async fn telegram_fake_enforces_entities_length_and_token() {
    use crate::support::fake_telegram::{BOT_TOKEN, FakeTelegram};
    let tg = FakeTelegram::start();
    let c = client();
    let url = format!("{}/bot{BOT_TOKEN}/sendMessage", tg.api_base());
    let send = |text: String| {
        let (c, url) = (c.clone(), url.clone());
        async move {
            let mut res = c
                .post(url)
                .send_json(&serde_json::json!({"chat_id": 1, "text": text, "parse_mode": "HTML"}))
                .await
                .unwrap();
            let body: serde_json::Value = res.json().await.unwrap();
            (
                res.status().as_u16(),
                body["description"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    assert_eq!(send("<b>ok</b> &amp; fine".into()).await.0, 200);
    let (status, why) = send("AT&T".into()).await;
    assert_eq!(status, 400);
    assert!(
        why.starts_with("Bad Request: can't parse entities"),
        "{why}"
    );
    let (status, why) = send("<html>x</html>".into()).await;
    assert_eq!((status, why.contains("Unsupported start tag")), (400, true));
    // 4,096 visible characters pass even when the source is longer; one more does not.
    assert_eq!(send("&lt;".repeat(4096)).await.0, 200);
    let (status, why) = send("x".repeat(4097)).await;
    assert_eq!(
        (status, why.as_str()),
        (400, "Bad Request: message is too long")
    );
    let res = c
        .post(format!("{}/bot1:wrong/sendMessage", tg.api_base()))
        .send_json(&serde_json::json!({"chat_id": 1, "text": "x"}))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[actix::test]
async fn slack_and_pagerduty_fakes_validate_like_the_platforms() {
    use crate::support::fake_pagerduty::{FakePagerDuty, ROUTING_KEY};
    use crate::support::fake_slack::FakeSlack;
    let slack = FakeSlack::start();
    let c = client();
    let post = |url: String, body: serde_json::Value| {
        let c = c.clone();
        async move {
            let mut res = c.post(url).send_json(&body).await.unwrap();
            let text = String::from_utf8_lossy(&res.body().await.unwrap()).into_owned();
            (res.status().as_u16(), text)
        }
    };
    let header = |n: usize| serde_json::json!({"type": "header", "text": {"type": "plain_text", "text": "h".repeat(n)}});
    assert_eq!(
        post(slack.webhook_url(), serde_json::json!({"text": "hi"})).await,
        (200, "ok".into())
    );
    assert_eq!(
        post(slack.webhook_url(), serde_json::json!({})).await,
        (400, "no_text".into())
    );
    assert_eq!(
        post(
            slack.webhook_url(),
            serde_json::json!({"text": "x", "blocks": [header(151)]})
        )
        .await,
        (400, "invalid_payload".into())
    );
    let many: Vec<_> = (0..51).map(|_| header(1)).collect();
    assert_eq!(
        post(
            slack.webhook_url(),
            serde_json::json!({"text": "x", "attachments": [{"color": "#00ff00", "blocks": many}]})
        )
        .await,
        (400, "invalid_payload".into())
    );

    let pd = FakePagerDuty::start();
    let url = format!("{}/v2/enqueue", pd.api_base());
    let (status, body) = post(
        url.clone(),
        serde_json::json!({"routing_key": "short", "event_action": "resolve"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("Length of 'routing_key' is incorrect"),
        "{body}"
    );
    assert!(body.contains("'dedup_key' is missing or blank"), "{body}");
    let (status, body) = post(
        url.clone(),
        serde_json::json!({"routing_key": ROUTING_KEY, "event_action": "explode"}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("'event_action' is invalid"), "{body}");
    let trigger = serde_json::json!({"routing_key": ROUTING_KEY, "event_action": "trigger", "dedup_key": "k",
        "payload": {"summary": "s", "source": "x", "severity": "critical"}});
    assert_eq!(post(url.clone(), trigger.clone()).await.0, 202);
    assert_eq!(post(url, trigger).await.0, 202);
    assert_eq!(pd.incidents().len(), 1, "one incident per dedup_key");
}
