//! The Router's policy, without a runtime: messages in, decisions out.

use std::time::Duration;

use super::*;

const S: i64 = 1000;

fn router() -> RouterCore {
    let mut core = RouterCore::new(Name::from("eu"), Duration::from_secs(300)).with_exchanges(2);
    for (name, min_severity, wants_triage) in [
        ("log", Severity::Info, true),
        ("pager", Severity::Critical, true),
        ("triage", Severity::Critical, false),
    ] {
        core.add_route(Target {
            name: Name::from(name),
            min_severity,
            wants_triage,
            wants_acks: false,
            grouped: false,
        });
    }
    core
}

fn series(exchange: &str, endpoint: &str, metric: Metric) -> SeriesKey {
    SeriesKey::new(exchange, endpoint, metric)
}

fn anomaly(series: &SeriesKey, detector: &str, severity: Severity, at: i64) -> Anomaly {
    Anomaly {
        series: series.clone(),
        detector: Name::from(detector),
        severity,
        value: 1.0,
        threshold: 0.5,
        confidence: 1.0,
        message: "failing".into(),
        started_at: Timestamp(at),
        at: Timestamp(at),
        stats: Stats::default(),
    }
}

fn resolved(series: &SeriesKey, at: i64) -> Resolved {
    Resolved {
        series: series.clone(),
        at: Timestamp(at),
        stats: Stats::default(),
    }
}

fn okx_latency() -> SeriesKey {
    series("okx", "time", Metric::LatencyMs)
}

fn down(exchange: &str) -> SeriesKey {
    series(exchange, "*", Metric::Availability)
}

/// The alerts sent, with their routes' names and why.
fn sent(core: &RouterCore, decisions: &[Decision]) -> Vec<(Alert, Vec<String>, Why)> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Send(Dispatch { alert, routes, why }) => Some((
                alert.clone(),
                routes
                    .iter()
                    .map(|&i| core.routes()[i].name.to_string())
                    .collect(),
                *why,
            )),
            _ => None,
        })
        .collect()
}

fn kinds(core: &RouterCore, decisions: &[Decision]) -> Vec<(AlertKind, Why)> {
    sent(core, decisions)
        .into_iter()
        .map(|(a, _, why)| (a.kind, why))
        .collect()
}

fn stopped_at(decisions: &[Decision]) -> Option<Gate> {
    decisions.iter().find_map(|d| match d {
        Decision::Drop(Dropped::Gate { gate, .. }) => Some(*gate),
        _ => None,
    })
}

#[test]
fn router_gates_are_one_list_inhibitions_first() {
    assert_eq!(
        GATES,
        [
            Gate::ExchangeDown,
            Gate::Connectivity,
            Gate::Maintenance,
            Gate::Dedup,
            Gate::Acknowledged,
            Gate::Silence,
        ]
    );
}

#[test]
fn router_sends_once_escalates_at_once_reminds_after_the_window_and_resolves_once() {
    let mut core = router();
    let s = okx_latency();
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, 0));
    assert!(matches!(d[0], Decision::RecordAnomaly(_)), "recorded first");
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.title, "okx time latency spike");
    assert_eq!((out[0].1.clone(), out[0].2), (vec!["log".into()], Why::New));

    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, 10 * S));
    assert_eq!(stopped_at(&d), Some(Gate::Dedup));
    assert!(!d.iter().any(|d| matches!(d, Decision::RecordAnomaly(_))));

    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Critical, 20 * S));
    let out = sent(&core, &d);
    assert_eq!(out[0].1, ["log", "pager", "triage"], "critical meets all");
    assert_eq!(out[0].2, Why::Escalated);

    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Critical, 400 * S));
    let out = sent(&core, &d);
    assert_eq!(out[0].0.title, "okx time latency spike (still firing)");
    assert_eq!(out[0].2, Why::Reminder);

    let d = core.on_resolved(resolved(&s, 500 * S));
    assert!(
        matches!(d[0], Decision::RecordResolved(_)),
        "recorded first"
    );
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    let (alert, routes, why) = &out[0];
    assert_eq!(
        (alert.kind, alert.severity),
        (AlertKind::Resolved, Severity::Critical)
    );
    assert_eq!(alert.title, "okx time latency spike resolved");
    assert_eq!(
        *routes,
        ["log", "pager", "triage"],
        "every channel that heard of it"
    );
    assert_eq!(*why, Why::Resolved);
    // A quiet series' resolution is recorded, nothing else.
    let d = core.on_resolved(resolved(&s, 600 * S));
    assert_eq!(d.len(), 1);
}

#[test]
fn router_inhibits_an_exchange_s_other_series_while_it_is_down_and_leaves_dedup_untouched() {
    let mut core = router().with_exchanges(3);
    let s = okx_latency();
    let d = core.on_anomaly(anomaly(&down("okx"), "circuit_open", Severity::Critical, 0));
    assert_eq!(sent(&core, &d)[0].0.title, "okx down (circuit open)");
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, S));
    assert_eq!(stopped_at(&d), Some(Gate::ExchangeDown));
    assert!(sent(&core, &d).is_empty());
    // Another exchange is not inhibited.
    let other = series("binance", "ping", Metric::LatencyMs);
    let d = core.on_anomaly(anomaly(&other, "zscore", Severity::Warning, 2 * S));
    assert_eq!(kinds(&core, &d), [(AlertKind::Firing, Why::New)]);
    // The breaker closes; the symptom persists: it alerts now, as a new episode.
    let d = core.on_resolved(resolved(&down("okx"), 3 * S));
    assert_eq!(kinds(&core, &d), [(AlertKind::Resolved, Why::Resolved)]);
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, 4 * S));
    assert_eq!(kinds(&core, &d), [(AlertKind::Firing, Why::New)]);
}

#[test]
fn router_every_exchange_down_is_one_connectivity_alert_until_one_answers() {
    let mut core = router();
    let d = core.on_anomaly(anomaly(&down("okx"), "circuit_open", Severity::Critical, 0));
    assert_eq!(kinds(&core, &d), [(AlertKind::Firing, Why::New)]);
    // The last exchange goes down: one monitor_connectivity alert, and its own is held back.
    let d = core.on_anomaly(anomaly(
        &down("bybit"),
        "circuit_open",
        Severity::Critical,
        S,
    ));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (&*out[0].0.exchange, &*out[0].0.detector),
        ("exwatch", "monitor_connectivity")
    );
    assert_eq!(out[0].2, Why::Connectivity);
    assert_eq!(stopped_at(&d), Some(Gate::Connectivity));
    let other = series("bybit", "ping", Metric::Errors);
    let d = core.on_anomaly(anomaly(&other, "error_rate", Severity::Warning, 2 * S));
    assert_eq!(stopped_at(&d), Some(Gate::ExchangeDown));
    // exwatch's own series are never inhibited by it.
    let own = series("exwatch", "router", Metric::Errors);
    let d = core.on_anomaly(anomaly(&own, "restart_budget", Severity::Critical, 3 * S));
    assert_eq!(kinds(&core, &d), [(AlertKind::Firing, Why::New)]);
    // One answers again: connectivity restored, and okx's own resolved.
    let d = core.on_resolved(resolved(&down("okx"), 10 * S));
    assert_eq!(
        kinds(&core, &d),
        [
            (AlertKind::Resolved, Why::Connectivity),
            (AlertKind::Resolved, Why::Resolved)
        ]
    );
}

fn maintenance(ongoing: bool, until: Option<i64>, at: i64) -> MaintenanceStatus {
    MaintenanceStatus {
        exchange: Name::from("okx"),
        ongoing,
        until: until.map(Timestamp),
        detail: "maintenance: upgrade".into(),
        at: Timestamp(at),
    }
}

#[test]
fn router_maintenance_holds_back_firing_alerts_not_resolutions() {
    let mut core = router();
    let s = okx_latency();
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, 0));
    assert_eq!(sent(&core, &d).len(), 1);
    let d = core.on_maintenance(&maintenance(true, Some(100 * S), S));
    let out = sent(&core, &d);
    assert_eq!(
        (out[0].0.kind, out[0].2),
        (AlertKind::Firing, Why::Maintenance)
    );
    assert_eq!(out[0].0.severity, Severity::Info);
    let errors = series("okx", "ping", Metric::Errors);
    let d = core.on_anomaly(anomaly(&errors, "error_rate", Severity::Critical, 2 * S));
    assert_eq!(stopped_at(&d), Some(Gate::Maintenance));
    assert_eq!(core.incidents().maintenance, [Name::from("okx")]);
    let d = core.on_resolved(resolved(&s, 3 * S));
    assert_eq!(kinds(&core, &d), [(AlertKind::Resolved, Why::Resolved)]);
    // The announced end passes (event time): the window closes, the series alerts again.
    let d = core.on_anomaly(anomaly(&errors, "error_rate", Severity::Critical, 101 * S));
    assert_eq!(
        kinds(&core, &d),
        [
            (AlertKind::Resolved, Why::Maintenance),
            (AlertKind::Firing, Why::New)
        ]
    );
}

fn silence(id: &str, from: i64, to: i64) -> Silence {
    Silence {
        id: Name::from(id),
        exchange: Some(Name::from("okx")),
        endpoint: None,
        metric: None,
        starts_at: Timestamp(from),
        ends_at: Timestamp(to),
        comment: "planned".into(),
        created_by: None,
    }
}

#[test]
fn router_silence_records_the_alert_and_lets_it_out_when_it_ends_while_firing() {
    let mut core = router().with_silences([silence("s1", 0, 100 * S)]);
    let s = okx_latency();
    assert_eq!(core.active_silences(Timestamp(S)), 1);
    assert_eq!(
        core.next_silence_end(Timestamp(S)),
        Some(Timestamp(100 * S))
    );
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, S));
    assert!(
        matches!(d[0], Decision::RecordAnomaly(_)),
        "a silenced alert is recorded"
    );
    let Decision::Silence { alert, silence } = &d[1] else {
        panic!("{d:?}");
    };
    assert_eq!((&**silence, alert.kind), ("s1", AlertKind::Firing));
    let first_id = alert.id.clone();
    assert!(sent(&core, &d).is_empty());
    let i = core.ack(alert, Timestamp(2 * S)).expect("open");
    assert!(i.silenced, "no channel heard of it");
    // The silence's end (the actor's timer): still firing, so it goes out, fresh.
    assert!(core.on_silence_timer(Timestamp(50 * S)).is_empty());
    let d = core.on_silence_timer(Timestamp(100 * S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].2, Why::LetOut);
    assert_ne!(out[0].0.id, first_id);
    assert_eq!(out[0].0.at, Timestamp(100 * S));
    assert!(core.silences().is_empty(), "pruned");
    // Heard of now: its resolution goes out.
    let d = core.on_resolved(resolved(&s, 200 * S));
    assert_eq!(kinds(&core, &d), [(AlertKind::Resolved, Why::Resolved)]);
}

#[test]
fn router_an_episode_silenced_from_start_to_end_says_nothing() {
    let mut core = router();
    core.add_silence(silence("s1", 0, 100 * S));
    let s = okx_latency();
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, S));
    assert!(matches!(d[1], Decision::Silence { .. }));
    let d = core.on_resolved(resolved(&s, 2 * S));
    assert!(sent(&core, &d).is_empty());
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::Drop(Dropped::Unheard { .. })))
    );
    // Ended early: nothing to let out, since it recovered.
    let (ended, d) = core.expire_silence("s1", Timestamp(3 * S));
    assert!(ended.is_some());
    assert!(sent(&core, &d).is_empty());
    assert_eq!(core.expire_silence("nope", Timestamp(3 * S)).0, None);
}

#[test]
fn router_an_acknowledged_incident_gets_no_reminders_but_escalates_and_resolves() {
    let mut core = router();
    let s = okx_latency();
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, 0));
    let alert = sent(&core, &d).remove(0).0;
    let i = core.ack(&alert, Timestamp(S)).expect("open");
    assert_eq!(
        (i.acked_at, i.severity, i.silenced),
        (Timestamp(S), Severity::Warning, false)
    );
    assert_eq!(
        core.ack(&alert, Timestamp(2 * S)).unwrap().acked_at,
        Timestamp(S),
        "first ack"
    );
    assert!(core.incidents().open[0].acked);
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, 400 * S));
    assert_eq!(stopped_at(&d), Some(Gate::Acknowledged));
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Critical, 401 * S));
    assert_eq!(kinds(&core, &d), [(AlertKind::Firing, Why::Escalated)]);
    let d = core.on_resolved(resolved(&s, 402 * S));
    let resolved_alert = sent(&core, &d).remove(0).0;
    assert_eq!(
        core.ack(&resolved_alert, Timestamp(403 * S)),
        Err(AckError::NotOpen(resolved_alert.id.clone()))
    );
    assert_eq!(
        core.ack(&alert, Timestamp(403 * S)),
        Err(AckError::NotOpen(alert.id.clone()))
    );
}

#[test]
fn router_triage_replies_to_a_remembered_alert_on_the_routes_that_want_it() {
    let mut core = router();
    let s = okx_latency();
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Critical, 0));
    let original = sent(&core, &d).remove(0).0;
    let d = core.on_triage(Triage {
        alert_id: original.id.clone(),
        text: "their gateway".into(),
    });
    let out = sent(&core, &d);
    let (reply, routes, why) = &out[0];
    assert_eq!((reply.kind, *why), (AlertKind::Triage, Why::Triage));
    assert_eq!(reply.in_reply_to.as_ref(), Some(&original.id));
    assert_eq!(reply.title, "okx time latency spike (triage)");
    assert_eq!(*routes, ["log", "pager"], "not back to the triage channel");
    let d = core.on_triage(Triage {
        alert_id: Name::from("unknown"),
        text: String::new(),
    });
    assert!(matches!(
        &d[..],
        [Decision::Drop(Dropped::UnknownAlert { .. })]
    ));
}

#[test]
fn router_flap_hold_holds_the_resolution_and_the_tick_releases_it() {
    let mut core = router().with_flap_hold(Duration::from_secs(120));
    assert_eq!(core.tick_every(), Some(Duration::from_secs(1)));
    assert_eq!(router().tick_every(), None);
    let s = okx_latency();
    core.on_anomaly(anomaly(&s, "zscore", Severity::Warning, 0));
    let d = core.on_resolved(resolved(&s, 10 * S));
    assert!(matches!(&d[1], Decision::Hold { until, .. } if *until == Timestamp(130 * S)));
    assert!(core.on_tick(Timestamp(129 * S)).is_empty());
    let d = core.on_tick(Timestamp(130 * S));
    assert_eq!(kinds(&core, &d), [(AlertKind::Resolved, Why::Resolved)]);
}

/// Moved from tests/it/flapping.rs (it needed a whole monitor): same messages, same
/// assertions, on the core.
#[test]
fn flapping_series_is_one_incident_resolved_once_after_the_hold() {
    let mut core = router().with_flap_hold(Duration::from_secs(3600));
    let series = |endpoint: &str| SeriesKey::new("okx", endpoint, Metric::Errors);
    let anomaly = |endpoint: &str, at: i64| {
        anomaly(
            &series(endpoint),
            "consecutive_failures",
            Severity::Warning,
            at,
        )
    };
    let resolved = |endpoint: &str, at: i64| resolved(&series(endpoint), at);
    let t = 1_700_000_000_000;
    let d = core.on_anomaly(anomaly("time", t));
    let first = sent(&core, &d).remove(0).0;
    assert_eq!((first.kind, &*first.endpoint), (AlertKind::Firing, "time"));
    // Ping-pong within the hour: nothing new is said.
    let mut quiet = Vec::new();
    for k in 1..5 {
        let d = core.on_resolved(resolved("time", t + k * 60 * S));
        quiet.extend(sent(&core, &d));
        let d = core.on_anomaly(anomaly("time", t + k * 60 * S + 30 * S));
        quiet.extend(sent(&core, &d));
    }
    let d = core.on_resolved(resolved("time", t + 600 * S));
    quiet.extend(sent(&core, &d));
    assert!(quiet.is_empty(), "one incident: {quiet:?}");
    // Another series' message past the hold (event time) releases the resolution.
    let d = core.on_anomaly(anomaly("ping", t + 600 * S + 3600 * S));
    let mut got: Vec<Alert> = sent(&core, &d).into_iter().map(|(a, _, _)| a).collect();
    got.sort_by_key(|a| a.kind == AlertKind::Firing);
    assert_eq!(
        (got[0].kind, &*got[0].endpoint),
        (AlertKind::Resolved, "time")
    );
    assert_eq!(
        got[0].at,
        Timestamp(t + 600 * S),
        "resolved at the last recovery"
    );
    assert_eq!(
        got[0].started_at,
        Timestamp(t),
        "the incident began at the first failure"
    );
    assert_eq!(
        (got[1].kind, &*got[1].endpoint),
        (AlertKind::Firing, "ping")
    );
}

#[test]
fn router_the_first_ack_tells_only_the_routes_that_want_acks() {
    let mut core = router();
    core.add_route(Target {
        name: Name::from("pd"),
        min_severity: Severity::Info,
        wants_triage: false,
        grouped: false,
        wants_acks: true,
    });
    let s = okx_latency();
    let d = core.on_anomaly(anomaly(&s, "zscore", Severity::Critical, 0));
    let alert = sent(&core, &d).remove(0).0;
    let (incident, d) = core.acknowledge(&alert, Timestamp(S)).expect("open");
    assert_eq!(incident.acked_at, Timestamp(S));
    let told = sent(&core, &d);
    assert_eq!(told.len(), 1);
    let (ack, routes, why) = &told[0];
    assert_eq!(
        (ack.kind, *why),
        (AlertKind::Acknowledged, Why::Acknowledged)
    );
    assert_eq!(routes, &["pd"], "no other route hears of acks");
    assert_eq!(
        (ack.started_at, ack.series()),
        (alert.started_at, s.clone())
    );
    assert_eq!(ack.in_reply_to.as_ref(), Some(&alert.id));
    // A second ack of the same incident tells no one.
    let (_, d) = core.acknowledge(&alert, Timestamp(2 * S)).expect("open");
    assert!(sent(&core, &d).is_empty());
    // Without a route that wants acks, an ack sends (and records) nothing.
    let mut plain = router();
    let d = plain.on_anomaly(anomaly(&s, "zscore", Severity::Critical, 0));
    let alert = sent(&plain, &d).remove(0).0;
    let (_, d) = plain.acknowledge(&alert, Timestamp(S)).expect("open");
    assert!(d.is_empty());
}

/// Three exchanges with a 1 s correlation hold.
fn held() -> RouterCore {
    router()
        .with_exchanges(3)
        .with_correlation_hold(Duration::from_secs(1))
}

fn circuit_open(exchange: &str, at: i64) -> Anomaly {
    anomaly(&down(exchange), "circuit_open", Severity::Critical, at)
}

#[test]
fn correlation_hold_delays_a_single_down_by_the_hold_and_nothing_else() {
    let mut core = held();
    let d = core.on_anomaly(circuit_open("okx", 10 * S));
    assert!(sent(&core, &d).is_empty(), "held");
    assert!(matches!(&d[..], [Decision::Hold { until, .. }] if *until == Timestamp(11 * S)));
    // Any other alert goes out at once, even while the down is held.
    let d = core.on_anomaly(anomaly(
        &okx_latency(),
        "zscore",
        Severity::Warning,
        10 * S + 10,
    ));
    assert!(
        sent(&core, &d).is_empty(),
        "okx's own symptoms are inhibited by its down"
    );
    let bybit = series("bybit", "time", Metric::LatencyMs);
    let d = core.on_anomaly(anomaly(&bybit, "zscore", Severity::Warning, 10 * S + 20));
    assert_eq!(kinds(&core, &d), [(AlertKind::Firing, Why::New)]);
    assert!(core.on_tick(Timestamp(11 * S - 1)).is_empty());
    let d = core.on_tick(Timestamp(11 * S));
    let (alert, _, why) = sent(&core, &d).remove(0);
    assert_eq!((&*alert.title, why), ("okx down (circuit open)", Why::New));
    assert_eq!(
        alert.at,
        Timestamp(10 * S),
        "the alert keeps the breaker's time"
    );
    assert_eq!(core.next_held_down(), None);
}

#[test]
fn correlation_hold_is_released_on_event_time_too() {
    let mut core = held();
    core.on_anomaly(circuit_open("okx", 0));
    let bybit = series("bybit", "time", Metric::LatencyMs);
    let d = core.on_anomaly(anomaly(&bybit, "zscore", Severity::Warning, 2 * S));
    let titles: Vec<String> = sent(&core, &d).into_iter().map(|s| s.0.title).collect();
    assert_eq!(
        titles,
        ["okx down (circuit open)", "bybit time latency spike"]
    );
}

#[test]
fn correlation_every_exchange_down_within_the_hold_is_only_connectivity() {
    let mut core = held();
    let mut all = Vec::new();
    for (i, x) in ["binance", "bybit", "okx"].into_iter().enumerate() {
        let d = core.on_anomaly(circuit_open(x, i as i64 * 400));
        all.extend(sent(&core, &d));
    }
    all.extend({
        let d = core.on_tick(Timestamp(10 * S));
        sent(&core, &d)
    });
    let said: Vec<(&str, &str)> = (all.iter())
        .map(|(a, _, _)| (&*a.exchange, &*a.detector))
        .collect();
    assert_eq!(said, [("exwatch", "monitor_connectivity")]);
}

#[test]
fn correlation_an_exchange_back_within_the_hold_sends_nothing() {
    let mut core = held();
    core.on_anomaly(circuit_open("okx", 0));
    let d = core.on_resolved(resolved(&down("okx"), 500));
    assert!(
        d.iter()
            .any(|d| matches!(d, Decision::Drop(Dropped::Recovered { .. })))
    );
    assert!(sent(&core, &d).is_empty());
    assert!(
        {
            let d = core.on_tick(Timestamp(5 * S));
            sent(&core, &d)
        }
        .is_empty()
    );
}

#[test]
fn correlation_a_down_waits_while_every_other_exchange_is_failing() {
    let mut core = held();
    let failing = |x: &str, at| {
        anomaly(
            &series(x, "time", Metric::Errors),
            "consecutive_failures",
            Severity::Warning,
            at,
        )
    };
    // binance opens first; bybit and okx are failing but their breakers need more probes.
    core.on_anomaly(failing("bybit", 0));
    core.on_anomaly(failing("okx", 0));
    core.on_anomaly(circuit_open("binance", 100));
    let d = core.on_tick(Timestamp(1100));
    assert!(sent(&core, &d).is_empty());
    assert!(matches!(&d[..], [Decision::Hold { .. }]), "extended: {d:?}");
    core.on_anomaly(circuit_open("bybit", 2000));
    let d = core.on_anomaly(circuit_open("okx", 2500));
    let said: Vec<String> = sent(&core, &d).into_iter().map(|s| s.0.title).collect();
    assert_eq!(said, ["exwatch connectivity lost"]);
    assert!(
        {
            let d = core.on_tick(Timestamp(60 * S));
            sent(&core, &d)
        }
        .is_empty()
    );

    // One failing, one healthy: not our network; the down waits the hold only.
    let mut core = held();
    core.on_anomaly(failing("bybit", 0));
    core.on_anomaly(circuit_open("binance", 100));
    let d = core.on_tick(Timestamp(1100));
    assert_eq!(
        sent(&core, &d).len(),
        1,
        "okx answers: binance's down goes out"
    );
}

#[test]
fn correlation_hold_zero_or_one_exchange_holds_nothing() {
    let mut core = router().with_exchanges(3);
    let d = core.on_anomaly(circuit_open("okx", 0));
    assert_eq!(sent(&core, &d).len(), 1);
    let mut core = router()
        .with_exchanges(1)
        .with_correlation_hold(Duration::from_secs(1));
    let d = core.on_anomaly(circuit_open("okx", 0));
    assert_eq!(sent(&core, &d).len(), 1);
}

#[test]
fn correlation_canaries_failing_with_one_exchange_is_our_network_at_once() {
    let mut core = held();
    let canary = series(correlation::CANARY_EXCHANGE, "*", Metric::Availability);
    let d = core.on_anomaly(anomaly(&canary, "circuit_open", Severity::Critical, 0));
    // Exchanges answer: at most a warning about the canary, not an exchange outage.
    let said = sent(&core, &d);
    assert_eq!(said.len(), 1);
    assert_eq!(said[0].0.severity, Severity::Warning);
    assert_eq!(&*said[0].0.exchange, "exwatch-canary");
    // One exchange goes down while the canaries fail: connectivity at once, no down.
    let d = core.on_anomaly(circuit_open("okx", 100));
    let titles: Vec<String> = sent(&core, &d).into_iter().map(|s| s.0.title).collect();
    assert_eq!(titles, ["exwatch connectivity lost"]);
    let d = core.on_tick(Timestamp(60 * S));
    assert!(sent(&core, &d).is_empty(), "the held down was dropped");
    // The canaries answer again: restored (okx alone is not every exchange).
    let d = core.on_resolved(resolved(&canary, 70 * S));
    let restored: Vec<(String, AlertKind)> = (sent(&core, &d).into_iter())
        .map(|s| (s.0.detector.to_string(), s.0.kind))
        .collect();
    assert!(
        restored.contains(&("monitor_connectivity".into(), AlertKind::Resolved)),
        "{restored:?}"
    );
}

#[test]
fn correlation_an_exchange_down_then_the_canaries_is_our_network_and_drops_the_held_down() {
    let mut core = held();
    core.on_anomaly(circuit_open("okx", 0));
    let canary = series(correlation::CANARY_EXCHANGE, "*", Metric::Availability);
    let d = core.on_anomaly(anomaly(&canary, "circuit_open", Severity::Critical, 500));
    let said: Vec<(String, String)> = (sent(&core, &d).into_iter())
        .map(|s| (s.0.exchange.to_string(), s.0.detector.to_string()))
        .collect();
    assert_eq!(
        said,
        [("exwatch".to_owned(), "monitor_connectivity".to_owned())]
    );
    let d = core.on_tick(Timestamp(60 * S));
    assert!(sent(&core, &d).is_empty());
}

/// A core grouping by exchange, with a grouped human route and a per-series route.
fn grouped_router() -> RouterCore {
    let mut core = RouterCore::new(Name::from("eu"), Duration::from_secs(300))
        .with_exchanges(2)
        .with_grouping(
            vec![crate::route::GroupField::Exchange],
            Duration::from_secs(30),
        );
    for (name, grouped) in [("desk", true), ("am", false)] {
        core.add_route(Target {
            name: Name::from(name),
            min_severity: Severity::Info,
            wants_triage: true,
            wants_acks: false,
            grouped,
        });
    }
    core
}

#[test]
fn router_grouping_sends_groups_to_grouped_routes_and_series_to_the_others() {
    let mut core = grouped_router();
    let ping = series("binance", "ping", Metric::Errors);
    let time = series("binance", "time", Metric::Errors);
    let d = core.on_anomaly(anomaly(&ping, "consecutive_failures", Severity::Warning, 0));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].1.clone(), out[0].2), (vec!["am".into()], Why::New));
    assert!(out[0].0.group.is_none());
    assert_eq!(
        (out[1].1.clone(), out[1].2),
        (vec!["desk".into()], Why::Group)
    );
    assert_eq!(out[1].0.group.as_ref().unwrap().key, "exchange=binance");

    let d = core.on_anomaly(anomaly(&time, "consecutive_failures", Severity::Warning, S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1, "the series alert only; the group waits");
    assert_eq!(out[0].1, ["am"]);
    assert_eq!(core.next_group_due(), Some(Timestamp(30 * S)));
    let d = core.on_tick(Timestamp(30 * S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, ["desk"]);
    assert_eq!(out[0].0.group.as_ref().unwrap().alerts.len(), 2);

    // Both recover: each series' resolved at once to "am", one group resolved later.
    let d = core.on_resolved(resolved(&ping, 40 * S));
    assert_eq!(sent(&core, &d).len(), 1);
    let d = core.on_resolved(resolved(&time, 41 * S));
    assert_eq!(sent(&core, &d).len(), 1);
    let d = core.on_tick(Timestamp(70 * S));
    assert!(sent(&core, &d).is_empty());
    let d = core.on_tick(Timestamp(71 * S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].0.kind, out[0].1.clone()),
        (AlertKind::Resolved, vec!["desk".into()])
    );
}

#[test]
fn router_grouping_off_sends_each_series_to_every_route_as_before() {
    let mut core = RouterCore::new(Name::from("eu"), Duration::from_secs(300));
    core.add_route(Target {
        name: Name::from("desk"),
        min_severity: Severity::Info,
        wants_triage: true,
        wants_acks: false,
        grouped: true,
    });
    let ping = series("binance", "ping", Metric::Errors);
    let d = core.on_anomaly(anomaly(&ping, "consecutive_failures", Severity::Warning, 0));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].1.clone(), out[0].2),
        (vec!["desk".into()], Why::New)
    );
    assert!(out[0].0.group.is_none());
    assert_eq!(core.next_group_due(), None);
}

fn stream_stale(at: i64) -> Anomaly {
    let stream = series("binance", "btc-depth", Metric::StreamSilenceMs);
    anomaly(&stream, "stream_stale", Severity::Critical, at)
}

fn members(a: &Alert) -> Vec<(String, AlertKind)> {
    let group = a.group.as_ref().expect("a group message");
    (group.alerts.iter())
        .map(|m| (m.detector.to_string(), m.kind))
        .collect()
}

#[test]
fn router_a_stream_failing_while_its_exchange_is_down_joins_the_down_incident_and_pages_nobody() {
    let mut core = grouped_router();
    let d = core.on_anomaly(circuit_open("binance", 0));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 2, "the down to am, and the group opened to desk");
    // The stream stalls: no page of its own, on either route.
    let d = core.on_anomaly(stream_stale(S));
    assert!(sent(&core, &d).is_empty());
    assert!(
        d.iter().any(|x| matches!(
            x,
            Decision::Drop(Dropped::Gate {
                gate: Gate::ExchangeDown,
                ..
            })
        )),
        "still inhibited for the per-series route"
    );
    // The next update of the incident lists it.
    assert_eq!(core.next_group_due(), Some(Timestamp(30 * S)));
    let d = core.on_tick(Timestamp(30 * S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, ["desk"]);
    assert_eq!(&*out[0].0.detector, "circuit_open", "the down leads");
    let group = out[0].0.group.as_ref().unwrap();
    let stream = group.alerts.iter().find(|m| &*m.endpoint == "btc-depth");
    assert_eq!(
        stream.map(|m| m.title.as_str()),
        Some("binance btc-depth stream stalled; REST failing too")
    );
    // The stream recovers first: nothing to any route (am never heard of it; desk hears of
    // it with the incident's resolve).
    let stream = series("binance", "btc-depth", Metric::StreamSilenceMs);
    let d = core.on_resolved(resolved(&stream, 40 * S));
    assert!(sent(&core, &d).is_empty());
    assert_eq!(core.next_group_due(), None);
    // The venue recovers: its resolved to am; one group resolve to desk, with both.
    let d = core.on_resolved(resolved(&down("binance"), 50 * S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].1, ["am"]);
    let d = core.on_tick(Timestamp(80 * S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.kind, AlertKind::Resolved);
    assert_eq!(
        members(&out[0].0),
        [
            ("circuit_open".to_string(), AlertKind::Resolved),
            ("stream_stale".to_string(), AlertKind::Resolved)
        ]
    );
}

#[test]
fn router_a_stream_failing_while_the_down_is_held_is_in_the_downs_first_message() {
    let mut core = grouped_router().with_correlation_hold(Duration::from_secs(1));
    let d = core.on_anomaly(circuit_open("binance", 0));
    assert!(sent(&core, &d).is_empty(), "held");
    let d = core.on_anomaly(stream_stale(500));
    assert!(sent(&core, &d).is_empty());
    let d = core.on_tick(Timestamp(S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 2, "{out:?}");
    let group = out.iter().find(|o| o.1 == ["desk"]).unwrap();
    assert_eq!(
        group.0.group.as_ref().unwrap().update,
        crate::messages::GroupUpdate::Opened
    );
    assert_eq!(
        members(&group.0),
        [
            ("circuit_open".to_string(), AlertKind::Firing),
            ("stream_stale".to_string(), AlertKind::Firing)
        ]
    );
    assert_eq!(core.next_group_due(), None, "nothing more to say");

    // Back within the hold: neither the down nor its symptom ever goes out.
    let mut core = grouped_router().with_correlation_hold(Duration::from_secs(1));
    core.on_anomaly(circuit_open("binance", 0));
    core.on_anomaly(stream_stale(200));
    let d = core.on_resolved(resolved(&down("binance"), 500));
    assert!(sent(&core, &d).is_empty());
    assert!(core.grouper().symptoms().is_empty());
}

#[test]
fn router_a_stream_stall_first_then_the_exchange_down_is_one_incident_led_by_the_down() {
    let mut core = grouped_router();
    let d = core.on_anomaly(stream_stale(0));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1].0.title,
        "binance btc-depth stream stalled; REST healthy"
    );
    let d = core.on_anomaly(circuit_open("binance", 3 * S));
    let out = sent(&core, &d);
    assert_eq!(out.len(), 2, "the down to am, and at once to desk: {out:?}");
    let group = &out[1].0;
    assert_eq!(out[1].1, ["desk"]);
    assert_eq!(
        group.group.as_ref().unwrap().update,
        crate::messages::GroupUpdate::Escalated
    );
    assert_eq!(&*group.detector, "circuit_open");
    assert_eq!(
        members(group),
        [
            ("circuit_open".to_string(), AlertKind::Firing),
            ("stream_stale".to_string(), AlertKind::Firing)
        ]
    );
    // The stall goes on while the venue is down: nothing more.
    let d = core.on_anomaly(stream_stale(4 * S));
    assert!(sent(&core, &d).is_empty());
    assert_eq!(core.next_group_due(), None);
}

#[test]
fn router_without_grouping_a_stream_failing_while_its_exchange_is_down_is_inhibited_as_before() {
    let mut core = router();
    core.on_anomaly(circuit_open("binance", 0));
    let d = core.on_anomaly(stream_stale(S));
    assert!(sent(&core, &d).is_empty());
    assert!(core.grouper().symptoms().is_empty());
}
