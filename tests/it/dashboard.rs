//! The dashboard (`GET /`, `/assets/…`): what the server sends (content types, a strict CSP,
//! caching, every referenced asset present), and what a real browser renders.
//!
//! The browser is Debian's headless Chromium, run as a process (`--dump-dom` for the rendered
//! DOM, `--screenshot` for pictures kept under `<target>/dashboard-screenshots/`). Without
//! Chromium the browser tests print a loud SKIP and pass, unless `EXWATCH_REQUIRE_BROWSER=1`
//! (set by `.ci/run` once it has installed Chromium), then they fail.
//!
//! Rendering is checked over [`FakeApi`] (fixtures in the API's shapes, hostile strings, an API
//! that is down, pagination) with the real embedded assets; the last test loads the dashboard
//! of a real running monitor with seeded alerts.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use exwatch::server::dashboard;
use serde_json::{Value, json};

use crate::common::{now_ms, t0};
use crate::server::start;
use crate::support::fake_api::FakeApi;

async fn get(url: &str) -> (u16, Vec<(String, String)>, String) {
    let mut r = crate::support::client()
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("request");
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = r.body().limit(1 << 20).await.expect("body");
    (
        r.status().as_u16(),
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

#[actix::test]
async fn the_page_is_html_under_a_strict_content_security_policy() {
    let (monitor, base) = start(crate::support::test_settings());
    let (status, headers, body) = get(&format!("{base}/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&headers, "cache-control"), "no-cache");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    let csp = header(&headers, "content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing in {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert!(body.starts_with("<!doctype html>"), "{body}");
    // Everything the page needs is its own: no inline script or style (the CSP would block
    // them) and no other origin.
    assert!(!body.contains("<style"), "inline style");
    assert!(!body.contains(" style="), "inline style attribute");
    assert!(!body.contains("<script>"), "inline script");
    assert!(!body.contains("http://") && !body.contains("https://") && !body.contains("//cdn"));
    monitor.stop().await;
}

/// `href="…"` and `src="…"` values of `html`.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "src=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("closing quote");
            out.push(rest[..end].to_owned());
        }
    }
    out
}

#[actix::test]
async fn every_asset_the_page_references_is_served_with_its_content_type() {
    let (monitor, base) = start(crate::support::test_settings());
    let refs: Vec<String> = references(dashboard::INDEX_HTML)
        .into_iter()
        .filter(|r| r.starts_with("assets/"))
        .collect();
    for asset in ["assets/app.js", "assets/app.css", "assets/favicon.svg"] {
        assert!(refs.iter().any(|r| r == asset), "{asset} not referenced");
    }
    for r in &refs {
        let (status, headers, body) = get(&format!("{base}/{r}")).await;
        assert_eq!(status, 200, "{r}: {body}");
        let expected = match r.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("svg") => "image/svg+xml",
            other => panic!("unexpected asset type {other:?}"),
        };
        assert_eq!(header(&headers, "content-type"), expected, "{r}");
        assert_eq!(header(&headers, "cache-control"), "public, max-age=300");
        assert!(header(&headers, "content-security-policy").starts_with("default-src 'self'"));
        assert!(!body.is_empty());
    }
    // The page never writes data as markup.
    assert!(!dashboard::APP_JS.contains("innerHTML"));
    assert!(!dashboard::APP_JS.contains("insertAdjacentHTML"));
    assert!(!dashboard::APP_JS.contains("document.write"));
    // Unknown assets are the server's JSON 404, not the page.
    let (status, headers, _) = get(&format!("{base}/assets/nope.js")).await;
    assert_eq!(status, 404);
    assert!(header(&headers, "content-type").starts_with("application/json"));
    monitor.stop().await;
}

// ---- the browser ----

/// Headless Chromium, or `None` (after a loud message) when it is not installed and not
/// required.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("EXWATCH_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            ["chromium", "chromium-browser", "google-chrome"]
                .iter()
                .flat_map(|name| {
                    std::env::var_os("PATH")
                        .map(|p| {
                            std::env::split_paths(&p)
                                .map(|d| d.join(name))
                                .collect::<Vec<_>>()
                        })
                        .unwrap_or_default()
                }),
        )
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("EXWATCH_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "EXWATCH_REQUIRE_BROWSER=1 but no chromium found (install Debian's `chromium`)"
        );
        eprintln!(
            "\n*** SKIPPED: no chromium on PATH; the dashboard's browser test did not run. \
             Install Debian's `chromium` (or set EXWATCH_CHROMIUM) to run it. ***\n"
        );
    }
    found
}

/// Where the screenshots go: `<target dir>/dashboard-screenshots/`.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Runs headless Chromium on `url` with `extra` arguments; returns its stdout. Blocking (the
/// caller runs it off the actix thread); killed after 90 s.
fn run_chromium(bin: &Path, url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    // Output goes to files: a pipe nobody reads while waiting would fill up with a big DOM
    // and hang the browser.
    let out_path = profile.path().join("stdout");
    let err_path = profile.path().join("stderr");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(extra)
        .arg(url)
        // The browser keeps the machine's own clock when the suite runs under faketime
        // (`.ci/clock-moved`): every clock read of Chromium's is intercepted there, which makes
        // a page take minutes. The page only sends relative windows (`since=24h`), which the
        // monitor resolves against its own, moved clock.
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within 90 s on {url}: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "chromium failed on {url}: {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    std::fs::read_to_string(&out_path).expect("chromium's output")
}

/// The DOM of `url` after its scripts have run (10 s of virtual time: two auto-refreshes).
async fn dump_dom(bin: &Path, url: &str) -> String {
    let (bin, url) = (bin.to_owned(), url.to_owned());
    actix_rt::task::spawn_blocking(move || {
        run_chromium(
            &bin,
            &url,
            &["--window-size=1280,900".into(), "--dump-dom".into()],
        )
    })
    .await
    .expect("chromium thread")
}

/// Screenshots of `url` at laptop and phone sizes, dark and light, as
/// `<dir>/<name>-{laptop,phone}-{dark,light}.png`; returns their paths.
async fn screenshots(bin: &Path, url: &str, name: &str) -> Vec<PathBuf> {
    let dir = screenshot_dir();
    let mut paths = Vec::new();
    for (size, window) in [("laptop", "1280,900"), ("phone", "390,844")] {
        for scheme in ["dark", "light"] {
            let path = dir.join(format!("{name}-{size}-{scheme}.png"));
            let _ = std::fs::remove_file(&path);
            let mut args = vec![
                format!("--window-size={window}"),
                format!("--screenshot={}", path.display()),
            ];
            if scheme == "dark" {
                args.push("--force-dark-mode".into());
                args.push("--blink-settings=preferredColorScheme=0".into());
            } else {
                args.push("--blink-settings=preferredColorScheme=1".into());
            }
            let (bin, url) = (bin.to_owned(), url.to_owned());
            actix_rt::task::spawn_blocking(move || run_chromium(&bin, &url, &args))
                .await
                .expect("chromium thread");
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            assert!(
                len > 10_000,
                "no screenshot at {} ({len} bytes)",
                path.display()
            );
            println!("dashboard screenshot: {}", path.display());
            paths.push(path);
        }
    }
    paths
}

/// The text of the element whose opening tag contains `marker`, up to its closing `</tag>`
/// (tags inside removed): enough to read one cell or one tile of a dumped DOM.
fn text_of(dom: &str, marker: &str, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = dom;
    let end_tag = format!("</{tag}>");
    while let Some(i) = rest.find(marker) {
        // The opening tag that holds the marker (the marker may start it).
        let from = rest[..=i].rfind('<').unwrap_or(i);
        let end = rest[i..].find(&end_tag).map_or(rest.len(), |e| i + e);
        out.push(strip_tags(&rest[from..end]));
        rest = &rest[end.max(i + marker.len())..];
    }
    out
}

fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---- fixtures in the shapes of /api/v1/status and /api/v1/events ----

const HOSTILE: &str = "<img src=x onerror=\"document.title='pwned'\"><b>bold</b>";

fn chart(now: i64, base: f64, errors_at: &[usize]) -> Vec<Value> {
    (0..60)
        .map(|i| {
            let t = now - (60 - i as i64) * 60_000;
            if i == 20 {
                // a minute without samples: a gap in the line
                return json!({"t": t, "count": 0, "errors": 0, "p50_ms": null, "p90_ms": null, "max_ms": null});
            }
            let wave = (i as f64 / 6.0).sin() * base * 0.15;
            let spike = if i > 50 { base * 1.5 } else { 0.0 };
            let p50 = base + wave + spike;
            json!({"t": t, "count": 6, "errors": if errors_at.contains(&i) { 2 } else { 0 },
                   "p50_ms": p50, "p90_ms": p50 * 1.4, "max_ms": p50 * 2.0})
        })
        .collect()
}

fn endpoint(now: i64, name: &str, outcome: &str, base: f64, error_rate: f64) -> Value {
    json!({
        "endpoint": name,
        "last_probe_at": now - 4_000,
        "last_outcome": outcome,
        "last_status": if outcome == "ok" { json!(200) } else if outcome == "http_5xx" { json!(503) } else { Value::Null },
        "last_latency_ms": base * 1.1,
        "recent": {"window": "5m", "count": 30, "p50_ms": base, "p90_ms": base * 1.4, "p99_ms": base * 2.2, "error_rate": error_rate},
        "hour": {"window": "1h", "count": 360, "p50_ms": base, "p90_ms": base * 1.3, "p99_ms": base * 2.0, "error_rate": error_rate / 2.0},
        "chart": chart(now, base, if error_rate > 0.0 { &[52, 55, 58][..] } else { &[][..] })
    })
}

fn status_fixture(now: i64) -> Value {
    json!({
        "generated_at": now,
        "region": "tokyo-1",
        "exchanges": [
            {"exchange": "binance", "breaker": "closed", "maintenance": false,
             "endpoints": [endpoint(now, "ping", "ok", 41.0, 0.0), endpoint(now, "time", "ok", 44.0, 0.0)],
             "open_anomalies": []},
            {"exchange": "bybit", "breaker": "half_open", "maintenance": true,
             "endpoints": [endpoint(now, "time", "timeout", 180.0, 0.2)],
             "open_anomalies": [{"endpoint": "time", "metric": "latency_ms", "severity": "warning",
                 "detector": "zscore", "since": now - 300_000, "title": "bybit time latency spike",
                 "acked": true, "silenced": false}]},
            {"exchange": "okx", "breaker": "open", "maintenance": false,
             "endpoints": [{"endpoint": "time", "last_probe_at": null, "last_outcome": null, "last_status": null,
                 "last_latency_ms": null,
                 "recent": {"window": "5m", "count": 0, "p50_ms": null, "p90_ms": null, "p99_ms": null, "error_rate": 0.0},
                 "hour": {"window": "1h", "count": 0, "p50_ms": null, "p90_ms": null, "p99_ms": null, "error_rate": 0.0},
                 "chart": []}],
             "open_anomalies": [{"endpoint": "*", "metric": "availability", "severity": "critical",
                 "detector": "breaker", "since": now - 120_000, "title": HOSTILE,
                 "acked": false, "silenced": true}]}
        ]
    })
}

fn event(now: i64, i: i64, exchange: &str, severity: &str, kind: &str) -> Value {
    json!({
        "id": format!("01JTEST{i:019}"),
        "at": now - i * 90_000,
        "kind": kind,
        "exchange": exchange,
        "endpoint": "time",
        "metric": "errors",
        "severity": severity,
        "detector": "consecutive_failures",
        "title": format!("{exchange} time errors #{i}"),
        "message": format!("{exchange} answered 503 five times in a row (event {i})"),
        "value": 5.0,
        "silenced": false,
        "acked": false,
        "deliveries": [{"channel": "ops-webhook", "state": "delivered", "attempts": 1, "last_error": null}],
        "triage": null
    })
}

/// 130 events, newest first: the first page (100) leaves a next cursor.
fn events_fixture(now: i64) -> Vec<Value> {
    let mut events = vec![
        json!({
            "id": "01JTESTHOSTILE", "at": now - 30_000, "kind": "firing",
            "exchange": "okx", "endpoint": "*", "metric": "availability",
            "severity": "critical", "detector": "breaker",
            "title": HOSTILE, "message": "okx is down: the breaker opened after 5 failures",
            "value": null, "silenced": true, "acked": true,
            "deliveries": [
                {"channel": "ops-webhook", "state": "failed", "attempts": 5, "last_error": "HTTP 502 Bad Gateway"},
                {"channel": "desk-line", "state": "pending", "attempts": 2, "last_error": null}
            ],
            "triage": "Root cause: okx's edge returns 502 for every request. Action: route orders to binance."
        }),
        json!({
            "id": "01JTESTRESOLVED", "at": now - 60_000, "kind": "resolved",
            "exchange": "binance", "endpoint": "ping", "metric": "latency_ms",
            "severity": "warning", "detector": "iqr",
            "title": "binance ping latency back to normal", "message": "p90 41 ms",
            "value": 41.0, "silenced": false, "acked": false,
            "deliveries": [{"channel": "ops-webhook", "state": "delivered", "attempts": 1, "last_error": null}],
            "triage": null
        }),
    ];
    for i in 2..130 {
        let (exchange, severity) = match i % 3 {
            0 => ("binance", "info"),
            1 => ("bybit", "warning"),
            _ => ("okx", "critical"),
        };
        events.push(event(now, i, exchange, severity, "firing"));
    }
    events
}

#[actix::test]
async fn a_browser_renders_tiles_events_and_triage_and_never_runs_exchange_text() {
    let Some(bin) = chromium() else { return };
    let now = now_ms();
    let api = FakeApi::start(status_fixture(now), events_fixture(now));
    let url = format!("{}/", api.base_url());
    let dom = dump_dom(&bin, &url).await;

    // Tiles: one per exchange, breaker state and maintenance, percentiles, a chart.
    let tiles = text_of(&dom, "data-exchange=", "article");
    assert_eq!(tiles.len(), 3, "{tiles:?}");
    assert!(tiles[0].starts_with("binance up"), "{}", tiles[0]);
    assert!(tiles[0].contains("p50 41.0 ms"), "{}", tiles[0]);
    assert!(tiles[0].contains("p99 90.2 ms"), "{}", tiles[0]);
    assert!(
        tiles[1].starts_with("bybit recovering maintenance 1 open"),
        "{}",
        tiles[1]
    );
    assert!(tiles[1].contains("errors 20%"), "{}", tiles[1]);
    assert!(tiles[1].contains("timeout"), "{}", tiles[1]);
    assert!(tiles[2].starts_with("okx down"), "{}", tiles[2]);
    assert!(tiles[2].contains("p50 — p90 — p99 —"), "{}", tiles[2]);
    assert!(
        tiles[2].contains("no samples in the last hour"),
        "{}",
        tiles[2]
    );
    assert!(dom.contains("class=\"tile breaker-open has-critical\""));
    assert_eq!(dom.matches("<svg").count(), 4, "one chart per endpoint");
    assert!(dom.contains("class=\"p50\""), "latency line drawn");
    assert!(dom.contains("class=\"err-bar\""), "error minutes drawn");
    assert!(dom.contains("region tokyo-1"));

    // Open anomalies, worst first.
    let open = text_of(&dom, "class=\"open-item", "li");
    assert_eq!(open.len(), 2, "{open:?}");
    assert!(
        open[0].starts_with("critical okx / * / availability silenced"),
        "{}",
        open[0]
    );
    assert!(
        open[1].starts_with("warning bybit / time / latency_ms acked"),
        "{}",
        open[1]
    );

    // The events table: the first page (100 rows), newest first, with a "load more".
    let rows = text_of(&dom, "<tr class=\"event ", "tr");
    assert_eq!(rows.len(), 100, "first page");
    let first = &rows[0];
    for part in [
        "UTC",
        "local",
        "okx",
        "availability",
        "critical",
        "firing",
        "silenced",
        "acked",
        "breaker",
        "okx is down: the breaker opened after 5 failures",
        "LLM triage Root cause: okx's edge returns 502 for every request.",
        "ops-webhook failed ×5",
        "HTTP 502 Bad Gateway",
        "desk-line pending ×2",
    ] {
        assert!(first.contains(part), "{part:?} not in {first}");
    }
    assert!(
        rows[1].contains("binance") && rows[1].contains("resolved"),
        "{}",
        rows[1]
    );
    assert!(rows[1].contains("ops-webhook delivered"), "{}", rows[1]);
    assert!(rows[99].contains("time errors #99"), "{}", rows[99]);
    assert!(dom.contains("<button id=\"more\" type=\"button\">Load more</button>"));
    assert!(dom.contains("100 events shown, more available"));

    // Exchange text is text: the hostile title shows escaped, no element came of it.
    assert!(
        dom.contains("&lt;img src=x onerror="),
        "hostile title shown as text"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "hostile markup became an element"
    );
    assert!(!dom.contains("<b>bold</b>"));
    assert!(
        dom.contains("<title>exwatch</title>"),
        "the page's title untouched"
    );
    assert!(!dom.contains("Cannot reach the exwatch API"));
    assert!(dom.contains("Updated 20"), "last-updated time shown");

    // The first requests asked for the default view: the last 24 h, a page of 100.
    let queries = api.event_queries();
    assert!(
        queries.iter().all(|q| q == "since=24h&limit=100"),
        "{queries:?}"
    );
    assert!(queries.len() >= 2, "auto-refresh: {queries:?}");

    let shots = screenshots(&bin, &url, "fixtures").await;
    println!(
        "dashboard screenshots of the fixtures in {}",
        shots[0].parent().unwrap().display()
    );
}

#[actix::test]
async fn filters_in_the_address_go_to_the_events_query_and_the_table() {
    let Some(bin) = chromium() else { return };
    let now = now_ms();
    let api = FakeApi::start(status_fixture(now), events_fixture(now));
    let url = format!(
        "{}/?exchange=okx&severity=critical&kind=firing&since=1h",
        api.base_url()
    );
    let dom = dump_dom(&bin, &url).await;
    let queries = api.event_queries();
    assert!(!queries.is_empty());
    for q in &queries {
        assert_eq!(
            q, "exchange=okx&severity=critical&kind=firing&since=1h&limit=100",
            "{queries:?}"
        );
    }
    let rows = text_of(&dom, "<tr class=\"event ", "tr");
    assert_eq!(rows.len(), 44, "the hostile one and 43 okx ones");
    assert!(
        rows.iter()
            .all(|r| r.contains("okx") && r.contains("critical"))
    );
    assert!(dom.contains("<button id=\"more\" type=\"button\" hidden=\"\">Load more</button>"));
    assert!(dom.contains("44 events shown</span>"), "no more pages");
}

#[actix::test]
async fn the_page_says_so_when_the_api_cannot_be_reached() {
    let Some(bin) = chromium() else { return };
    let now = now_ms();
    let api = FakeApi::start(status_fixture(now), events_fixture(now));
    api.set_down(true);
    let url = format!("{}/", api.base_url());
    let dom = dump_dom(&bin, &url).await;
    let banner = text_of(&dom, "id=\"offline\"", "div");
    assert_eq!(banner.len(), 1, "{dom}");
    assert!(
        banner[0].starts_with("Cannot reach the exwatch API"),
        "{}",
        banner[0]
    );
    assert!(
        banner[0].contains("HTTP 503: the fake API is down"),
        "{}",
        banner[0]
    );
    assert!(banner[0].contains("Nothing loaded yet; retrying every 5 s"));
    assert!(!dom.contains("id=\"offline\" class=\"banner\" role=\"alert\" hidden"));
}

/// The dashboard of a real running monitor, with seeded alerts: a probed exchange (binance,
/// on a loopback fake) for the tiles, a critical clock-skew alert on okx delivered to a
/// webhook and triaged by a (fake) model for the table.
///
#[actix::test]
async fn a_browser_shows_the_seeded_alerts_of_a_running_monitor() {
    use exwatch::channel::{ChannelKind, ChannelSettings, LlmTriageSpec, WebhookSpec};
    use exwatch::messages::{Name, Severity};
    use exwatch::settings::{
        CheckProfile, EndpointKind, EndpointSettings, ExchangeSettings, Secret,
    };

    use crate::common::{WAIT, fire, retry};
    use crate::support::fake_exchange::FakeExchange;
    use crate::support::fake_openai::FakeOpenAi;
    use crate::support::fake_sink::FakeSink;

    let Some(bin) = chromium() else { return };
    let exchange = FakeExchange::start();
    let sink = FakeSink::start();
    let model = FakeOpenAi::start("sk-test-dashboard");
    let mut settings = crate::support::test_settings();
    settings.exchanges = vec![ExchangeSettings {
        name: "binance".into(),
        max_connections: 4,
        endpoints: vec![EndpointSettings {
            name: "ping".into(),
            url: exchange.url("/api/v3/ping"),
            check: CheckProfile::Binance,
            kind: EndpointKind::Health,
            symbol: None,
            interval: Duration::from_millis(200),
            timeout: Duration::from_secs(2),
            max_body_bytes: 64 * 1024,
            confirm_interval: Duration::from_millis(100),
            confirm_probes: Some(0),
        }],
        recv_window: None,
        ahead_window: None,
        confirm_per_minute: 60,
    }];
    settings.channels = vec![
        ChannelSettings {
            name: Name::from("ops"),
            min_severity: Severity::Info,
            retry: retry(3),
            kind: ChannelKind::Webhook(WebhookSpec {
                url: sink.url(),
                secret_env: None,
                secret: None,
            }),
        },
        ChannelSettings {
            name: Name::from("triage"),
            min_severity: Severity::Critical,
            retry: retry(3),
            kind: ChannelKind::LlmTriage(LlmTriageSpec {
                base_url: model.base_url(),
                model: "gpt-4o-mini".to_owned(),
                api_key_env: "EXWATCH_LLM_API_KEY".to_owned(),
                api_key: Secret::new("sk-test-dashboard"),
                language: "en".to_owned(),
                calls_per_hour: 10,
                max_tokens_field: "max_tokens".to_owned(),
            }),
        },
    ];
    let (monitor, base) = start(settings);
    fire(&monitor, "okx", 0);

    // Seeded when the API shows the alert with its delivery and its triage.
    let deadline = Instant::now() + WAIT * 3;
    loop {
        let since = t0() - 60_000;
        let (status, _, body) = get(&format!("{base}/api/v1/events?since={since}")).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        let seeded = v["events"].as_array().is_some_and(|events| {
            events.iter().any(|e| {
                e["exchange"] == "okx"
                    && e["triage"].is_string()
                    && e["deliveries"]
                        .as_array()
                        .is_some_and(|d| d.iter().any(|d| d["state"] == "delivered"))
            })
        });
        if seeded {
            break;
        }
        assert!(Instant::now() < deadline, "not seeded in time: {body}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }

    // The view asks for all time, so it shows the injected alert whatever its event time.
    let url = format!("{base}/?since=");
    let dom = dump_dom(&bin, &url).await;
    let tiles = text_of(&dom, "data-exchange=", "article");
    assert!(
        tiles
            .iter()
            .any(|t| t.starts_with("binance") && t.contains("ping")),
        "{tiles:?}"
    );
    let rows = text_of(&dom, "<tr class=\"event ", "tr");
    let row = rows
        .iter()
        .find(|r| r.contains("okx") && r.contains("firing"))
        .unwrap_or_else(|| panic!("no okx row in {rows:?}"));
    for part in [
        "clock_skew_ms",
        "critical",
        "ops delivered",
        "LLM triage",
        "the exchange is throttling this IP",
    ] {
        assert!(row.contains(part), "{part:?} not in {row}");
    }
    screenshots(&bin, &url, "monitor").await;
    monitor.stop().await;
}

/// A group message (an incident) and the two per-series alerts it lists, newest first; the
/// exchange-supplied strings of the incident and its members are hostile.
fn incident_fixture(now: i64) -> Vec<Value> {
    let member = |id: &str, endpoint: &str, severity: &str, title: &str| {
        json!({
            "id": id, "kind": "firing", "exchange": "okx", "endpoint": endpoint,
            "metric": "errors", "severity": severity, "detector": "error_rate", "title": title
        })
    };
    let mut group = event(now, 1, "okx", "critical", "firing");
    group["id"] = json!("01JTESTGROUP");
    group["endpoint"] = json!("ticker");
    group["title"] = json!("okx: 2 series firing");
    group["group"] = json!({
        "key": format!("exchange={HOSTILE}"),
        "update": "escalated",
        "alerts": [
            member("01JTESTMEMBER1", "ticker", "critical", HOSTILE),
            member("01JTESTMEMBER2", "status", "warning", "okx status errors"),
        ]
    });
    let mut first = event(now, 2, "okx", "critical", "firing");
    first["id"] = json!("01JTESTMEMBER1");
    let mut second = event(now, 3, "okx", "warning", "firing");
    second["id"] = json!("01JTESTMEMBER2");
    let lone = event(now, 4, "binance", "info", "firing");
    vec![group, first, second, lone]
}

#[actix::test]
async fn a_browser_renders_a_group_message_as_one_incident_with_its_members_as_text() {
    let Some(bin) = chromium() else { return };
    let now = now_ms();
    let api = FakeApi::start(status_fixture(now), incident_fixture(now));
    let dom = dump_dom(&bin, &format!("{}/", api.base_url())).await;
    let rows = text_of(&dom, "<tr class=\"event ", "tr");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(
        dom.contains("class=\"event kind-firing sev-row-critical incident-row\""),
        "the group message is an incident row"
    );
    let incident = &rows[0];
    for part in [
        "critical firing incident",
        "Incident exchange=&lt;img src=x",
        "escalated",
        "2 series",
        "critical firing okx / ticker / errors error_rate",
        "warning firing okx / status / errors error_rate okx status errors",
    ] {
        assert!(incident.contains(part), "{part:?} not in {incident}");
    }
    let members = text_of(&dom, "<li class=\"member ", "li");
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(dom.contains("<details class=\"group-members\"><summary>2 series</summary>"));
    // The series it lists are marked as in an incident; the lone alert is not.
    assert!(rows[1].contains("in incident"), "{}", rows[1]);
    assert!(rows[2].contains("in incident"), "{}", rows[2]);
    assert!(!rows[3].contains("in incident"), "{}", rows[3]);
    assert!(!incident.contains("in incident"), "{incident}");
    // Hostile key and member title are text, never markup.
    assert!(dom.contains("exchange=&lt;img src=x onerror="));
    assert!(
        !dom.contains("<img src=\"x\""),
        "hostile markup became an element"
    );
    assert!(!dom.contains("<b>bold</b>"));
    assert!(dom.contains("<title>exwatch</title>"));
}

/// A running monitor grouping by exchange: the incident it opened and escalated shows in the
/// browser as incident rows listing their members.
#[actix::test]
async fn a_browser_shows_a_running_monitors_incident_with_its_members() {
    use exwatch::channel::{ChannelKind, ChannelSettings, WebhookSpec};
    use exwatch::messages::{Anomaly, Metric, Name, SeriesKey, Severity, Stats, Timestamp};
    use exwatch::route::GroupField;

    use crate::common::{WAIT, retry};
    use crate::support::fake_sink::FakeSink;

    let Some(bin) = chromium() else { return };
    let sink = FakeSink::start();
    let mut settings = crate::support::test_settings();
    settings.router.group_by = vec![GroupField::Exchange];
    settings.router.group_interval = Duration::from_secs(60);
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
    let (monitor, base) = start(settings);
    let t = now_ms();
    for (i, (endpoint, severity)) in [("ping", Severity::Warning), ("time", Severity::Critical)]
        .into_iter()
        .enumerate()
    {
        monitor.router().do_send(Anomaly {
            series: SeriesKey::new("bybit", endpoint, Metric::Errors),
            detector: "error_rate".into(),
            severity,
            value: 0.5,
            threshold: 0.05,
            confidence: 1.0,
            message: "http_5xx (503)".into(),
            started_at: Timestamp(t + i as i64),
            at: Timestamp(t + i as i64),
            stats: Stats::default(),
        });
    }
    // Seeded when the API shows both group messages (opened, escalated) and both series.
    let deadline = Instant::now() + WAIT * 3;
    loop {
        let (status, _, body) = get(&format!("{base}/api/v1/events")).await;
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        if v["events"].as_array().is_some_and(|e| e.len() == 4) {
            break;
        }
        assert!(Instant::now() < deadline, "not seeded in time: {body}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
    let dom = dump_dom(&bin, &format!("{base}/?since=")).await;
    let incidents = text_of(&dom, "incident-row\"", "tr");
    assert_eq!(incidents.len(), 2, "{incidents:?}");
    assert!(
        incidents[0].contains("Incident exchange=bybit escalated 2 series"),
        "{}",
        incidents[0]
    );
    assert!(
        incidents[0].contains("critical firing bybit / time / errors error_rate"),
        "{}",
        incidents[0]
    );
    assert!(
        incidents[0].contains("warning firing bybit / ping / errors error_rate"),
        "{}",
        incidents[0]
    );
    assert!(
        incidents[1].contains("Incident exchange=bybit opened 1 series"),
        "{}",
        incidents[1]
    );
    assert_eq!(dom.matches("in incident").count(), 2, "both series marked");
    monitor.stop().await;
}

#[actix::test]
async fn a_browser_shows_each_vantages_verdict_on_each_exchange_with_a_cluster() {
    let Some(bin) = chromium() else { return };
    let now = now_ms();
    let mut status = status_fixture(now);
    status["cluster"] = json!({
        "quorum": 2, "shared": true, "error": null,
        "exchanges": [
            {"exchange": "binance", "state": "up", "down_from": []},
            {"exchange": "okx", "state": "unreachable", "down_from": ["tokyo-1"]}
        ],
        "vantages": [
            {"region": "frankfurt", "self_healthy": true, "fresh": false, "last_seen_ms_ago": 95_000,
             "exchanges": [{"exchange": "okx", "state": "up", "since": now}]},
            {"region": "singapore", "self_healthy": true, "fresh": true, "last_seen_ms_ago": 400,
             "exchanges": [{"exchange": "okx", "state": "up", "since": now},
                           {"exchange": "binance", "state": "up", "since": now}]},
            {"region": "tokyo-1", "self_healthy": true, "fresh": true, "last_seen_ms_ago": 300,
             "exchanges": [{"exchange": "okx", "state": "down", "since": now - 60_000},
                           {"exchange": "binance", "state": "up", "since": now}]}
        ]
    });
    let api = FakeApi::start(status, events_fixture(now));
    let dom = dump_dom(&bin, &format!("{}/", api.base_url())).await;
    let rows = text_of(&dom, "class=\"vantages", "p");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[0], "up frankfurt stale singapore up tokyo-1 up",
        "binance"
    );
    assert_eq!(
        rows[1], "frankfurt stale singapore unknown tokyo-1 unknown",
        "bybit: no verdicts"
    );
    assert_eq!(
        rows[2], "unreachable frankfurt stale singapore up tokyo-1 down",
        "okx"
    );
    assert!(dom.contains("class=\"vantage vantage-down\""), "{dom}");
}
