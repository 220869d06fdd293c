//! The grouping policy, without a runtime: per-series alerts in, group messages out.

use super::*;
use crate::messages::{Metric, Name, Stats};

const S: i64 = 1000;

fn alert(endpoint: &str, kind: AlertKind, severity: Severity, at: i64) -> Alert {
    Alert {
        id: new_id(),
        kind,
        severity,
        exchange: Name::from("binance"),
        endpoint: Name::from(endpoint),
        metric: Metric::Errors,
        detector: Name::from("consecutive_failures"),
        title: format!("binance {endpoint} failing"),
        message: "m".into(),
        value: 1.0,
        threshold: 0.5,
        region: Name::from("eu"),
        started_at: Timestamp(at),
        at: Timestamp(at),
        stats: Stats::default(),
        in_reply_to: None,
        group: None,
    }
}

fn firing(endpoint: &str, severity: Severity, at: i64) -> Alert {
    alert(endpoint, AlertKind::Firing, severity, at)
}

fn resolved(endpoint: &str, at: i64) -> Alert {
    alert(endpoint, AlertKind::Resolved, Severity::Warning, at)
}

fn grouper() -> Grouper {
    Grouper::new(vec![GroupField::Exchange], Duration::from_secs(30))
}

fn update(a: &Alert) -> GroupUpdate {
    a.group.as_ref().expect("a group message").update
}

#[test]
fn group_first_alert_goes_at_once_then_one_update_per_interval() {
    let mut g = grouper();
    let first = g
        .on_alert(&firing("ping", Severity::Warning, 0), Timestamp(0))
        .expect("the first alert is not delayed");
    assert_eq!(update(&first), GroupUpdate::Opened);
    assert_eq!(first.group.as_ref().unwrap().key, "exchange=binance");
    assert_eq!(first.endpoint.as_ref(), "ping");
    for (i, ep) in ["time", "ticker", "status"].iter().enumerate() {
        let at = (i as i64 + 1) * S;
        assert!(
            g.on_alert(&firing(ep, Severity::Warning, at), Timestamp(at))
                .is_none()
        );
    }
    assert_eq!(g.next_due(), Some(Timestamp(30 * S)));
    assert!(g.flush(Timestamp(29 * S)).is_empty());
    let out = g.flush(Timestamp(30 * S));
    assert_eq!(out.len(), 1, "one update for three alerts");
    assert_eq!(update(&out[0]), GroupUpdate::Updated);
    assert_eq!(out[0].group.as_ref().unwrap().alerts.len(), 4);
    assert_eq!(
        out[0].endpoint.as_ref(),
        "ping",
        "the earliest leads among equals"
    );
    assert!(
        g.flush(Timestamp(90 * S)).is_empty(),
        "nothing new, nothing sent"
    );
    assert_eq!(g.next_due(), None);
}

#[test]
fn group_escalation_to_critical_goes_at_once_and_leads() {
    let mut g = grouper();
    g.on_alert(&firing("ping", Severity::Warning, 0), Timestamp(0));
    let esc = g
        .on_alert(&firing("time", Severity::Critical, S), Timestamp(S))
        .expect("escalation at once");
    assert_eq!(update(&esc), GroupUpdate::Escalated);
    assert_eq!(
        (esc.endpoint.as_ref(), esc.severity),
        ("time", Severity::Critical)
    );
    // A second critical is no news: gathered into the next update.
    assert!(
        g.on_alert(
            &firing("ticker", Severity::Critical, 2 * S),
            Timestamp(2 * S)
        )
        .is_none()
    );
}

#[test]
fn group_resolves_once_after_every_member_stayed_recovered_for_the_interval() {
    let mut g = grouper();
    g.on_alert(&firing("ping", Severity::Warning, 0), Timestamp(0));
    g.on_alert(&firing("time", Severity::Critical, S), Timestamp(S));
    assert!(
        g.on_alert(&resolved("ping", 10 * S), Timestamp(10 * S))
            .is_none()
    );
    assert!(
        g.on_alert(&resolved("time", 12 * S), Timestamp(12 * S))
            .is_none()
    );
    // Flaps: fires again within the interval, the group stays open, no resolved.
    g.on_alert(
        &firing("time", Severity::Warning, 20 * S),
        Timestamp(20 * S),
    );
    assert!(
        g.flush(Timestamp(42 * S))
            .iter()
            .all(|a| update(a) != GroupUpdate::Resolved)
    );
    g.on_alert(&resolved("time", 50 * S), Timestamp(50 * S));
    assert_eq!(g.next_due(), Some(Timestamp(80 * S)));
    assert!(g.flush(Timestamp(79 * S)).is_empty());
    let out = g.flush(Timestamp(80 * S));
    assert_eq!(out.len(), 1);
    assert_eq!(update(&out[0]), GroupUpdate::Resolved);
    assert_eq!(out[0].kind, AlertKind::Resolved);
    assert_eq!(out[0].severity, Severity::Critical, "the incident's worst");
    assert_eq!(g.open(), 0);
    // A new failure is a new incident, at once.
    let again = g.on_alert(
        &firing("ping", Severity::Warning, 100 * S),
        Timestamp(100 * S),
    );
    assert_eq!(again.map(|a| update(&a)), Some(GroupUpdate::Opened));
}

#[test]
fn group_keys_follow_group_by() {
    let a = firing("ping", Severity::Warning, 0);
    assert_eq!(group_key(&[GroupField::Exchange], &a), "exchange=binance");
    assert_eq!(
        group_key(
            &[
                GroupField::Exchange,
                GroupField::Metric,
                GroupField::Severity
            ],
            &a
        ),
        "exchange=binance,metric=errors,severity=warning"
    );
    let mut g = Grouper::new(vec![GroupField::Endpoint], Duration::from_secs(30));
    assert!(g.on_alert(&a, Timestamp(0)).is_some());
    assert!(
        g.on_alert(&firing("time", Severity::Warning, 1), Timestamp(1))
            .is_some()
    );
    assert_eq!(g.open(), 2);
    assert!(!Grouper::new(Vec::new(), Duration::from_secs(1)).enabled());
}

#[test]
fn group_message_payload_keeps_every_field_and_adds_group() {
    let mut g = grouper();
    let m = g
        .on_alert(&firing("ping", Severity::Warning, 0), Timestamp(0))
        .unwrap();
    let v = serde_json::to_value(&m).unwrap();
    for field in [
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
    ] {
        assert!(v.get(field).is_some(), "{field}");
    }
    assert_eq!(v["group"]["key"], "exchange=binance");
    assert_eq!(v["group"]["update"], "opened");
    assert_eq!(v["group"]["alerts"][0]["endpoint"], "ping");
    assert!(v["group"]["alerts"][0].get("group").is_none());
    let back: Alert = serde_json::from_value(v).unwrap();
    assert_eq!(back.group.unwrap().alerts.len(), 1);
}

#[test]
fn group_severity_moving_within_what_was_said_rides_along_with_the_next_news() {
    let mut g = grouper();
    g.on_alert(&firing("ping", Severity::Critical, 0), Timestamp(0))
        .expect("opened");
    g.on_alert(&firing("time", Severity::Info, S), Timestamp(S));
    // Joined: news, sent after the interval.
    assert_eq!(g.flush(Timestamp(30 * S)).len(), 1);
    // `time` turns critical in a group that said critical already: not news on its own.
    g.on_alert(
        &firing("time", Severity::Critical, 31 * S),
        Timestamp(31 * S),
    );
    assert_eq!(g.next_due(), None, "nothing due for it alone");
    assert!(g.flush(Timestamp(70 * S)).is_empty());
    // A new member is news; the update carries `time`'s new severity too.
    g.on_alert(
        &firing("ticker", Severity::Warning, 71 * S),
        Timestamp(71 * S),
    );
    let out = g.flush(Timestamp(101 * S));
    assert_eq!(out.len(), 1);
    let members = &out[0].group.as_ref().unwrap().alerts;
    let time = members.iter().find(|m| &*m.endpoint == "time").unwrap();
    assert_eq!(time.severity, Severity::Critical);
    // A member recovering is news.
    g.on_alert(&resolved("ticker", 102 * S), Timestamp(102 * S));
    assert_eq!(g.next_due(), Some(Timestamp(131 * S)));
}

/// The exchange's down (breaker open), firing or resolved.
fn down(kind: AlertKind, at: i64) -> Alert {
    Alert {
        endpoint: Name::from("*"),
        metric: Metric::Availability,
        detector: Name::from("circuit_open"),
        title: "binance down (circuit open)".into(),
        ..alert("*", kind, Severity::Critical, at)
    }
}

/// The depth stream's stall, firing or resolved.
fn stall(kind: AlertKind, at: i64) -> Alert {
    Alert {
        metric: Metric::StreamSilenceMs,
        detector: Name::from("stream_stale"),
        title: "binance btc-depth stream stalled; REST failing too".into(),
        ..alert("btc-depth", kind, Severity::Critical, at)
    }
}

fn endpoints(a: &Alert) -> Vec<String> {
    let members = &a.group.as_ref().expect("a group message").alerts;
    members.iter().map(|m| m.endpoint.to_string()).collect()
}

#[test]
fn group_an_exchange_down_joining_an_open_group_goes_at_once_and_leads() {
    let mut g = grouper();
    let opened = g
        .on_alert(&stall(AlertKind::Firing, 0), Timestamp(0))
        .unwrap();
    assert_eq!(update(&opened), GroupUpdate::Opened);
    // Already critical: only the venue's down makes it go at once.
    let out = g
        .on_alert(&down(AlertKind::Firing, 3 * S), Timestamp(3 * S))
        .expect("the down goes at once");
    assert_eq!(update(&out), GroupUpdate::Escalated);
    assert_eq!(&*out.detector, "circuit_open", "the down leads its equals");
    assert_eq!(endpoints(&out), ["*", "btc-depth"]);
    assert_eq!(g.next_due(), None, "nothing more to say");
    // Its repeats (reminders) are no news.
    assert!(
        g.on_alert(&down(AlertKind::Firing, 60 * S), Timestamp(60 * S))
            .is_none()
    );
    assert_eq!(g.next_due(), None);
}

#[test]
fn group_a_symptom_joins_the_down_pages_nobody_and_its_recovery_folds_into_the_resolve() {
    let mut g = grouper();
    g.hold_resolutions(false);
    let opened = g
        .on_alert(&down(AlertKind::Firing, 0), Timestamp(0))
        .unwrap();
    assert_eq!(endpoints(&opened), ["*"]);
    g.on_symptom(&stall(AlertKind::Firing, S), Timestamp(S));
    assert_eq!(
        g.symptom(&stall(AlertKind::Firing, 0).series())
            .map(|a| a.at),
        Some(Timestamp(S))
    );
    // Joining is news for the next update, not a page of its own.
    assert_eq!(g.next_due(), Some(Timestamp(30 * S)));
    let out = g.flush(Timestamp(30 * S));
    assert_eq!(out.len(), 1);
    assert_eq!(update(&out[0]), GroupUpdate::Updated);
    assert_eq!(&*out[0].detector, "circuit_open");
    assert_eq!(endpoints(&out[0]), ["*", "btc-depth"]);
    // Repeats of a symptom are no news.
    g.on_symptom(&stall(AlertKind::Firing, 31 * S), Timestamp(31 * S));
    assert_eq!(g.next_due(), None);
    // The stream recovers while the venue is still down: rides along, nothing due.
    g.on_symptom(&stall(AlertKind::Resolved, 40 * S), Timestamp(40 * S));
    assert_eq!(g.next_due(), None);
    assert!(g.symptom(&stall(AlertKind::Firing, 0).series()).is_none());
    // The venue recovers: one resolve says both.
    g.on_alert(&down(AlertKind::Resolved, 50 * S), Timestamp(50 * S));
    let out = g.flush(Timestamp(50 * S));
    assert_eq!(out.len(), 1);
    assert_eq!(update(&out[0]), GroupUpdate::Resolved);
    let members = &out[0].group.as_ref().unwrap().alerts;
    assert!(members.iter().all(|m| m.kind == AlertKind::Resolved));
    assert_eq!(members.len(), 2);
    assert_eq!(g.open(), 0);
}

#[test]
fn group_symptoms_of_a_held_down_wait_and_join_its_first_message() {
    let mut g = grouper();
    g.on_symptom(&stall(AlertKind::Firing, 0), Timestamp(0));
    assert_eq!(g.open(), 0, "no group of its own");
    assert_eq!(g.next_due(), None);
    assert_eq!(g.symptoms(), [stall(AlertKind::Firing, 0).series()]);
    let opened = g
        .on_alert(&down(AlertKind::Firing, S), Timestamp(S))
        .unwrap();
    assert_eq!(update(&opened), GroupUpdate::Opened);
    assert_eq!(&*opened.detector, "circuit_open");
    assert_eq!(endpoints(&opened), ["*", "btc-depth"]);
    assert_eq!(g.next_due(), None, "said in the first message");

    // A down that never goes out (back within the hold): its waiting symptoms are forgotten.
    let mut g = grouper();
    g.on_symptom(&stall(AlertKind::Firing, 0), Timestamp(0));
    g.forget_symptoms(Some(&Name::from("binance")));
    assert!(g.symptoms().is_empty());
    let opened = g
        .on_alert(&down(AlertKind::Firing, S), Timestamp(S))
        .unwrap();
    assert_eq!(endpoints(&opened), ["*"]);
    // A waiting symptom that recovers is gone too.
    let mut g = grouper();
    g.on_symptom(&stall(AlertKind::Firing, 0), Timestamp(0));
    g.on_symptom(&stall(AlertKind::Resolved, S), Timestamp(S));
    assert!(g.symptoms().is_empty());
}

#[test]
fn group_members_recovering_together_are_said_once_by_the_resolve() {
    let mut g = grouper();
    // With a flap hold each member's resolution was held already: no hold here.
    g.hold_resolutions(false);
    g.on_alert(&down(AlertKind::Firing, 0), Timestamp(0));
    g.on_alert(&stall(AlertKind::Firing, S), Timestamp(S));
    assert_eq!(update(&g.flush(Timestamp(30 * S))[0]), GroupUpdate::Updated);
    // The venue's resolution is released first; the stream's a moment later.
    g.on_alert(&down(AlertKind::Resolved, 100 * S), Timestamp(100 * S));
    assert_eq!(
        g.next_due(),
        Some(Timestamp(100 * S).plus(RECOVERY_SETTLE)),
        "a recovery settles before its update"
    );
    assert!(g.flush(Timestamp(101 * S)).is_empty());
    g.on_alert(&stall(AlertKind::Resolved, 102 * S), Timestamp(102 * S));
    let out = g.flush(Timestamp(102 * S));
    assert_eq!(out.len(), 1);
    assert_eq!(update(&out[0]), GroupUpdate::Resolved);
    assert!(g.flush(Timestamp(200 * S)).is_empty());

    // One that stays down: the update goes out once the recovery has settled.
    let mut g = grouper();
    g.on_alert(&firing("ping", Severity::Warning, 0), Timestamp(0));
    g.on_alert(&firing("time", Severity::Warning, S), Timestamp(S));
    g.flush(Timestamp(30 * S));
    g.on_alert(&resolved("ping", 100 * S), Timestamp(100 * S));
    assert!(g.flush(Timestamp(105 * S)).is_empty());
    let out = g.flush(Timestamp(110 * S));
    assert_eq!(out.len(), 1);
    assert_eq!(update(&out[0]), GroupUpdate::Updated);
}
