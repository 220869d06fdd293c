//! Alert delivery through real HTTP: the webhook channel posting to a loopback [`FakeSink`],
//! driven end to end by injected measurements (ordering across an outage is the channel
//! contract's, `channel_contract.rs`). Real time only (sockets), short back-offs, bounded
//! waits.
//!
//! Alerts come from clock-skew measurements: 2500 ms fires a critical alert at once, 900 ms a
//! warning, and three normal samples resolve the episode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use exwatch::channel::{ChannelKind, ChannelSettings, WebhookSpec};
use exwatch::messages::{Measurement, Metric, Name, SeriesKey, Severity, Timestamp};
use exwatch::metrics::Metrics;
use exwatch::settings::{RetrySettings, Settings};
use exwatch::{Monitor, MonitorHandle};
use serde_json::Value;

use crate::common::{WAIT, deliveries, fire, now_ms, resolve, retry, t0};
use crate::support::fake_sink::{FakeSink, SinkMode};

fn webhook(
    name: &str,
    min_severity: Severity,
    url: String,
    retry: RetrySettings,
) -> ChannelSettings {
    ChannelSettings {
        name: Name::from(name),
        min_severity,
        retry,
        kind: ChannelKind::Webhook(WebhookSpec {
            url,
            secret_env: None,
            secret: None,
        }),
    }
}

fn settings(channels: Vec<ChannelSettings>, grace: Duration) -> Settings {
    let mut s = Settings {
        channels,
        ..crate::support::test_settings()
    };
    s.shutdown.grace = grace;
    s
}

/// One channel, `hook`, at `info`, to `sink`.
fn start(sink: &FakeSink, max_attempts: u32) -> (MonitorHandle, Arc<Metrics>) {
    let monitor = Monitor::start(settings(
        vec![webhook(
            "hook",
            Severity::Info,
            sink.url(),
            retry(max_attempts),
        )],
        Duration::from_secs(3),
    ))
    .expect("monitor starts");
    let metrics = monitor.metrics().clone();
    (monitor, metrics)
}

fn series(exchange: &str) -> SeriesKey {
    SeriesKey::new(exchange, "time", Metric::ClockSkewMs)
}

fn skew(exchange: &str, ms: f64, i: i64) -> Measurement {
    Measurement::ok(series(exchange), ms, Timestamp(t0() + i * 1000))
}

fn pending(metrics: &Metrics, channel: &str) -> f64 {
    metrics
        .value("exwatch_deliveries_pending", &[("channel", channel)])
        .expect("pending gauge registered")
}

fn field<'a>(alert: &'a Value, key: &str) -> &'a str {
    alert[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {alert}"))
}

/// `(exchange, kind)` of each received alert, for readable assertions.
fn summary(alerts: &[Value]) -> Vec<(String, String)> {
    alerts
        .iter()
        .map(|a| (field(a, "exchange").to_owned(), field(a, "kind").to_owned()))
        .collect()
}

fn is_ulid(s: &str) -> bool {
    s.len() == 26
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
        && s.as_bytes()[0] <= b'7'
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[actix::test]
async fn webhook_payload_follows_the_contract() {
    let sink = FakeSink::start();
    let (monitor, _) = start(&sink, 3);
    fire(&monitor, "bybit", 0);
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "one POST per alert");

    let req = &sink.attempts()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/alerts");
    assert_eq!(req.header("content-type"), Some("application/json"));
    let ua = req.header("user-agent").unwrap_or_default();
    assert!(ua.starts_with("exwatch/"), "User-Agent {ua:?}");

    let firing = &got[0];
    let obj = firing.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = vec![
        "id",
        "kind",
        "severity",
        "exchange",
        "endpoint",
        "metric",
        "detector",
        "title",
        "message",
        "value",
        "threshold",
        "region",
        "started_at",
        "at",
        "stats",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected, "exactly the design's fields: {firing}");

    assert!(is_ulid(field(firing, "id")), "id {}", firing["id"]);
    assert_eq!(field(firing, "kind"), "firing");
    assert_eq!(field(firing, "severity"), "critical");
    assert_eq!(field(firing, "exchange"), "bybit");
    assert_eq!(field(firing, "endpoint"), "time");
    assert_eq!(field(firing, "metric"), "clock_skew_ms");
    assert_eq!(field(firing, "detector"), "clock_skew");
    assert_eq!(field(firing, "title"), "bybit time clock skew");
    assert!(
        field(firing, "message").contains("2500"),
        "{}",
        firing["message"]
    );
    assert_eq!(firing["value"].as_f64(), Some(2500.0));
    assert_eq!(firing["threshold"].as_f64(), Some(2000.0));
    assert_eq!(field(firing, "region"), "local");
    for key in ["started_at", "at"] {
        assert!(is_rfc3339_utc(field(firing, key)), "{key} {}", firing[key]);
    }
    assert_eq!(field(firing, "started_at"), Timestamp(t0()).to_rfc3339());
    assert_eq!(field(firing, "at"), Timestamp(t0()).to_rfc3339());
    assert!(firing["stats"].is_object(), "stats {}", firing["stats"]);

    resolve(&monitor, "bybit", 1);
    let got = sink.wait_for(2, WAIT).await;
    assert_eq!(got.len(), 2);
    let resolved = &got[1];
    assert_eq!(field(resolved, "kind"), "resolved");
    assert!(is_ulid(field(resolved, "id")));
    assert_ne!(resolved["id"], firing["id"], "a fresh id per alert");
    assert_eq!(field(resolved, "severity"), "critical");
    assert_eq!(resolved["started_at"], firing["started_at"]);
    assert_eq!(field(resolved, "at"), Timestamp(t0() + 3000).to_rfc3339());
    assert!(resolved["stats"].is_object());
    assert!(monitor.stop().await);
    assert_eq!(sink.attempts().len(), 2, "no request beyond the two alerts");
}

#[actix::test]
async fn webhook_retries_5xx_then_delivers_once() {
    let sink = FakeSink::start();
    sink.queue_modes([SinkMode::Status(503), SinkMode::Status(503)]);
    let (monitor, metrics) = start(&sink, 5);
    fire(&monitor, "bybit", 0);
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert!(monitor.stop().await);

    let attempts = sink.attempts();
    let statuses: Vec<u16> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    assert!(
        attempts.iter().all(|a| a.body == attempts[0].body),
        "every attempt carries the same payload (same id)"
    );
    assert_eq!(sink.received().len(), 1, "delivered once");
    assert_eq!(deliveries(&metrics, "hook", "retry"), 2.0);
    assert_eq!(deliveries(&metrics, "hook", "ok"), 1.0);
    assert_eq!(deliveries(&metrics, "hook", "failed"), 0.0);
    assert_eq!(pending(&metrics, "hook"), 0.0);
}

#[actix::test]
async fn webhook_honours_retry_after() {
    let sink = FakeSink::start();
    sink.queue_modes([SinkMode::RateLimited {
        retry_after_secs: 1,
    }]);
    let (monitor, metrics) = start(&sink, 5);
    fire(&monitor, "bybit", 0);
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "delivered after the wait");
    assert!(monitor.stop().await);

    let attempts = sink.attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [429, 200]
    );
    let gap = attempts[1].at - attempts[0].at;
    assert!(
        gap >= Duration::from_millis(990),
        "retried after {gap:?}, before the asked 1 s"
    );
    assert!(
        gap < Duration::from_millis(2000),
        "retried after {gap:?}: far later than asked"
    );
    assert_eq!(deliveries(&metrics, "hook", "retry"), 1.0);
    assert_eq!(deliveries(&metrics, "hook", "ok"), 1.0);
}

#[actix::test]
async fn webhook_permanent_rejection_is_not_retried_and_does_not_block() {
    let sink = FakeSink::start();
    sink.queue_modes([SinkMode::Status(400)]);
    let (monitor, metrics) = start(&sink, 5);
    fire(&monitor, "bybit", 0);
    let attempts = sink.wait_for_attempts(1, WAIT).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, 400);

    // The next alert goes through.
    fire(&monitor, "okx", 1);
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(summary(&got), [("okx".into(), "firing".into())]);
    assert!(monitor.stop().await);

    let attempts = sink.attempts();
    assert_eq!(
        attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        [400, 200],
        "the rejected alert was tried exactly once"
    );
    assert_eq!(deliveries(&metrics, "hook", "failed"), 1.0);
    assert_eq!(deliveries(&metrics, "hook", "retry"), 0.0);
    assert_eq!(deliveries(&metrics, "hook", "ok"), 1.0);
    assert_eq!(pending(&metrics, "hook"), 0.0);
}

#[actix::test]
async fn webhook_gives_up_after_max_attempts() {
    let sink = FakeSink::start();
    sink.set_mode(SinkMode::Status(503));
    let (monitor, metrics) = start(&sink, 3);
    fire(&monitor, "bybit", 0);
    let deadline = Instant::now() + WAIT;
    while deliveries(&metrics, "hook", "failed") < 1.0 && Instant::now() < deadline {
        actix_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(deliveries(&metrics, "hook", "failed"), 1.0, "given up");
    assert_eq!(pending(&metrics, "hook"), 0.0);
    // Nothing more is tried for it, even with time to spare.
    actix_rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.attempts().len(), 3, "exactly max_attempts attempts");
    assert_eq!(deliveries(&metrics, "hook", "retry"), 2.0);

    // The sink recovers: later alerts go through.
    sink.set_mode(SinkMode::Accept);
    fire(&monitor, "okx", 1);
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(summary(&got), [("okx".into(), "firing".into())]);
    assert!(monitor.stop().await);
    assert_eq!(sink.attempts().len(), 4);
    assert_eq!(deliveries(&metrics, "hook", "ok"), 1.0);
    assert_eq!(deliveries(&metrics, "hook", "failed"), 1.0);
}

#[actix::test]
async fn webhook_dead_receiver_never_blocks_the_others() {
    let healthy = FakeSink::start();
    let stalled = FakeSink::start();
    stalled.set_mode(SinkMode::Stall);
    let slow = RetrySettings {
        timeout: Duration::from_secs(5),
        ..retry(100)
    };
    let monitor = Monitor::start(settings(
        vec![
            webhook("stalled", Severity::Info, stalled.url(), slow),
            // Nothing listens on port 1: every attempt is refused at once and retried.
            webhook(
                "refused",
                Severity::Info,
                "http://127.0.0.1:1/alerts".into(),
                retry(100),
            ),
            webhook("healthy", Severity::Info, healthy.url(), retry(3)),
        ],
        Duration::from_millis(200),
    ))
    .expect("monitor starts");
    let metrics = monitor.metrics().clone();

    let t = Instant::now();
    fire(&monitor, "bybit", 0);
    let got = healthy.wait_for(1, WAIT).await;
    let first = t.elapsed();
    assert_eq!(got.len(), 1);
    assert!(
        first < Duration::from_secs(1),
        "healthy channel waited {first:?} behind dead ones"
    );

    // The Router keeps routing: a second alert is as prompt.
    let t = Instant::now();
    fire(&monitor, "okx", 1);
    let got = healthy.wait_for(2, WAIT).await;
    let second = t.elapsed();
    assert_eq!(summary(&got)[1], ("okx".into(), "firing".into()));
    assert!(
        second < Duration::from_secs(1),
        "second alert took {second:?}"
    );

    assert_eq!(stalled.attempts().len(), 1, "one attempt hangs, in flight");
    assert!(stalled.received().is_empty());
    assert!(deliveries(&metrics, "refused", "retry") >= 1.0);
    assert_eq!(deliveries(&metrics, "refused", "ok"), 0.0);

    let t = Instant::now();
    assert!(
        !monitor.stop().await,
        "the dead channels hold undelivered alerts"
    );
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        t.elapsed()
    );
    assert_eq!(healthy.received().len(), 2);
}

#[actix::test]
async fn webhook_min_severity_critical_gets_only_critical_episodes() {
    let all = FakeSink::start();
    let pager = FakeSink::start();
    let monitor = Monitor::start(settings(
        vec![
            webhook("all", Severity::Info, all.url(), retry(3)),
            webhook("pager", Severity::Critical, pager.url(), retry(3)),
        ],
        Duration::from_secs(3),
    ))
    .expect("monitor starts");
    // bybit: a warning episode, never critical.
    monitor.inject(skew("bybit", 900.0, 0));
    resolve(&monitor, "bybit", 1);
    // okx: a warning escalated to critical, then resolved.
    monitor.inject(skew("okx", 900.0, 10));
    monitor.inject(skew("okx", 2500.0, 11));
    resolve(&monitor, "okx", 12);

    let everything = all.wait_for(5, WAIT).await;
    let paged = pager.wait_for(2, WAIT).await;
    assert!(monitor.stop().await);
    // Two series run in two detector actors: only the order within a series is guaranteed,
    // so compare per exchange (a stable sort keeps each series' own order).
    let severities = |alerts: &[Value]| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = alerts
            .iter()
            .map(|a| {
                (
                    field(a, "exchange").to_owned(),
                    field(a, "kind").to_owned(),
                    field(a, "severity").to_owned(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        severities(&everything),
        [
            s("bybit", "firing", "warning"),
            s("bybit", "resolved", "warning"),
            s("okx", "firing", "warning"),
            s("okx", "firing", "critical"),
            s("okx", "resolved", "critical"),
        ]
    );
    assert_eq!(
        severities(&paged),
        [
            s("okx", "firing", "critical"),
            s("okx", "resolved", "critical")
        ]
    );
    assert_eq!(pager.attempts().len(), 2, "no warning was even attempted");
}

#[actix::test]
async fn webhook_graceful_shutdown_delivers_queued_alerts() {
    let sink = FakeSink::start();
    sink.queue_modes([SinkMode::Status(503); 3]);
    let (monitor, metrics) = start(&sink, 10);
    fire(&monitor, "bybit", 0);
    let t = Instant::now();
    assert!(
        monitor.stop().await,
        "everything delivered within the grace"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(
        summary(&sink.received()),
        [("bybit".into(), "firing".into())]
    );
    assert_eq!(sink.attempts().len(), 4);
    assert_eq!(pending(&metrics, "hook"), 0.0);
}

#[actix::test]
async fn webhook_shutdown_gives_up_after_the_grace() {
    for mode in [SinkMode::Status(503), SinkMode::Stall] {
        let sink = FakeSink::start();
        sink.set_mode(mode);
        let monitor = Monitor::start(settings(
            vec![webhook("hook", Severity::Info, sink.url(), retry(1000))],
            Duration::from_millis(300),
        ))
        .expect("monitor starts");
        fire(&monitor, "bybit", 0);
        sink.wait_for_attempts(1, WAIT).await;
        let t = Instant::now();
        let delivered = monitor.stop().await;
        let took = t.elapsed();
        assert!(!delivered, "{mode:?}: stop claims delivery");
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_millis(1000),
            "{mode:?}: stop took {took:?} with a 300 ms grace"
        );
        assert!(sink.received().is_empty());
    }
}

#[actix::test]
async fn webhook_shutdown_does_not_count_dropped_alerts_as_delivered() {
    // An alert given up (max attempts) or rejected (400) within the grace: the queue empties,
    // but nothing was delivered, and `stop` must not claim otherwise. The first attempt stalls
    // until the 500 ms timeout, so the alert is surely still queued when `stop` begins.
    for modes in [
        vec![
            SinkMode::Stall,
            SinkMode::Status(503),
            SinkMode::Status(503),
        ],
        vec![SinkMode::Stall, SinkMode::Status(400)],
    ] {
        let sink = FakeSink::start();
        sink.queue_modes(modes.clone());
        let (monitor, metrics) = start(&sink, 3);
        fire(&monitor, "bybit", 0);
        let delivered = monitor.stop().await;
        assert_eq!(sink.attempts().len(), modes.len(), "{modes:?}");
        assert_eq!(deliveries(&metrics, "hook", "failed"), 1.0, "{modes:?}");
        assert!(
            !delivered,
            "{modes:?}: stop claims the dropped alert was delivered"
        );
    }
}

/// A receiver that accepts every POST with a 200 whose body is larger than the channel reads
/// (some receivers answer with an HTML page); `hits` counts the requests.
fn verbose_receiver() -> (
    crate::support::ServerThread,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    use actix_web::{HttpResponse, web};
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let server = crate::support::ServerThread::spawn("verbose", move |cfg| {
        let h = h.clone();
        cfg.default_service(web::to(move || {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { HttpResponse::Ok().body(vec![b'x'; 256 * 1024]) }
        }));
    });
    (server, hits)
}

#[actix::test]
async fn webhook_2xx_with_a_large_answer_is_delivered_once() {
    let (server, hits) = verbose_receiver();
    let monitor = Monitor::start(settings(
        vec![webhook(
            "hook",
            Severity::Info,
            format!("{}/alerts", server.base_url()),
            retry(3),
        )],
        Duration::from_secs(3),
    ))
    .expect("monitor starts");
    let metrics = monitor.metrics().clone();
    fire(&monitor, "bybit", 0);
    assert!(monitor.stop().await);
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "a 200 is a delivery, whatever its body: no duplicate"
    );
    assert_eq!(deliveries(&metrics, "hook", "ok"), 1.0);
    assert_eq!(deliveries(&metrics, "hook", "retry"), 0.0);
}

/// A receiver that answers every request with redirect `code` to `target`.
fn redirecting_receiver(code: u16, target: String) -> crate::support::ServerThread {
    use actix_web::http::StatusCode;
    use actix_web::{HttpResponse, web};
    crate::support::ServerThread::spawn("redirect", move |cfg| {
        let target = target.clone();
        cfg.default_service(web::to(move || {
            let target = target.clone();
            async move {
                HttpResponse::build(StatusCode::from_u16(code).expect("a status"))
                    .insert_header(("Location", target))
                    .finish()
            }
        }));
    })
}

#[actix::test]
async fn webhook_redirect_never_counts_a_bodiless_get_as_delivered() {
    let sink = FakeSink::start();
    for code in [301, 302, 303, 307, 308] {
        let server = redirecting_receiver(code, sink.url());
        let before = sink.attempts().len();
        let monitor = Monitor::start(settings(
            vec![webhook(
                "hook",
                Severity::Info,
                format!("{}/alerts", server.base_url()),
                retry(3),
            )],
            Duration::from_secs(3),
        ))
        .expect("monitor starts");
        let metrics = monitor.metrics().clone();
        fire(&monitor, "bybit", 0);
        let delivered = monitor.stop().await;
        let reached: Vec<(String, usize)> = sink.attempts()[before..]
            .iter()
            .map(|r| (r.method.clone(), r.body.len()))
            .collect();
        assert!(
            reached.iter().all(|(method, _)| method == "POST"),
            "{code}: the alert was turned into {reached:?}"
        );
        let posted = reached.iter().any(|(_, len)| *len > 0);
        assert_eq!(
            deliveries(&metrics, "hook", "ok") == 1.0,
            posted,
            "{code}: counted delivered = {}, payload received = {posted}",
            deliveries(&metrics, "hook", "ok")
        );
        if posted {
            assert!(delivered, "{code}: stop() = {delivered}");
        } else {
            // Rejected, possibly before shutdown began (then stop() had nothing left to
            // flush): what matters is that it is counted failed, never ok.
            assert_eq!(deliveries(&metrics, "hook", "failed"), 1.0, "{code}");
        }
    }
}

#[actix::test]
async fn webhook_requests_are_signed_with_the_secret() {
    let sink = FakeSink::start();
    let secret = exwatch::settings::Secret::new("hunter2-signing-secret");
    let mut channel = webhook("signed", Severity::Info, sink.url(), retry(3));
    channel.kind = ChannelKind::Webhook(WebhookSpec {
        url: sink.url(),
        secret_env: Some("EXWATCH_TEST_SECRET".into()),
        secret: Some(secret.clone()),
    });
    let monitor =
        Monitor::start(settings(vec![channel], Duration::from_secs(3))).expect("monitor starts");
    // A first attempt that fails: the retry is signed afresh.
    sink.queue_modes([SinkMode::Status(503)]);
    fire(&monitor, "okx", 0);
    let attempts = sink.wait_for_attempts(2, WAIT).await;
    assert_eq!(attempts.len(), 2);
    let now = now_ms() / 1000;
    for a in &attempts {
        let header = a.header("x-exwatch-signature").expect("signed");
        assert!(
            header.starts_with("t=") && header.contains(",v1="),
            "{header}"
        );
        assert!(
            exwatch::channel::signature::verify(&secret, header, &a.body, now),
            "the receiver can verify {header}"
        );
        assert!(!String::from_utf8_lossy(&a.body).contains("hunter2"));
        assert!(a.headers.iter().all(|(_, v)| !v.contains("hunter2")));
    }
    monitor.stop().await;
}

#[actix::test]
async fn webhook_shutdown_cuts_a_long_backoff_short() {
    let sink = FakeSink::start();
    sink.queue_modes([SinkMode::Status(503)]);
    let long = RetrySettings {
        max_attempts: 0,
        initial_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(60),
        timeout: Duration::from_millis(500),
    };
    let monitor = Monitor::start(settings(
        vec![webhook("hook", Severity::Info, sink.url(), long)],
        Duration::from_secs(2),
    ))
    .expect("monitor starts");
    fire(&monitor, "bybit", 0);
    sink.wait_for_attempts(1, WAIT).await;
    // The channel now waits up to a minute of its own choosing; the receiver is back.
    let t = Instant::now();
    assert!(monitor.stop().await, "delivered within the grace");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(sink.received().len(), 1);
}
