//! Text helpers shared by the chat channels (`line`, `discord`, `telegram`, `slack`): fitting
//! text into a platform's length limit (escaped markup included), formatting an alert's numbers and times for people, and keeping
//! secrets out of failure reasons.
//!
//! Lengths are counted in UTF-16 code units. LINE documents that unit; for platforms that
//! count Unicode scalar values instead (Discord), a UTF-16 count is never smaller, so text that
//! fits by this count fits by theirs.

use crate::messages::{Alert, AlertKind, Metric, Severity, Stats, Timestamp};

/// The mark a cut text ends with (one UTF-16 code unit).
pub const ELLIPSIS: char = '…';

/// The length of `text` in UTF-16 code units.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `text` without surrounding whitespace, cut on a character boundary to at most `max` UTF-16
/// code units; a cut text ends with [`ELLIPSIS`] (counted in `max`). `max == 0` gives `""`.
pub fn fit(text: &str, max: usize) -> String {
    let text = text.trim();
    if utf16_len(text) <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    // Room for the ellipsis.
    let budget = max - ELLIPSIS.len_utf16();
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if used + c.len_utf16() > budget {
            break;
        }
        used += c.len_utf16();
        end = i + c.len_utf8();
    }
    // Whitespace just before the cut would sit oddly before the ellipsis.
    let mut out = text[..end].trim_end().to_owned();
    out.push(ELLIPSIS);
    out
}

/// `text` with `<`, `>` and `&` escaped as `&lt;` `&gt;` `&amp;`: what Telegram's HTML parse
/// mode and Slack's mrkdwn both require of text that is not markup.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` trimmed, escaped, and at most `max` UTF-16 units once escaped: a cut text ends with
/// `…`, and an entity is never split.
pub fn fit_escaped(text: &str, max: usize) -> String {
    let full = escape(text.trim());
    if utf16_len(&full) <= max {
        return full;
    }
    if max == 0 {
        return String::new();
    }
    let budget = max - ELLIPSIS.len_utf16();
    let mut out = String::new();
    let mut used = 0;
    for c in text.trim().chars() {
        let piece = escape(c.encode_utf8(&mut [0; 4]));
        let n = utf16_len(&piece);
        if used + n > budget {
            break;
        }
        used += n;
        out.push_str(&piece);
    }
    let mut out = out.trim_end().to_owned();
    out.push(ELLIPSIS);
    out
}

/// A number for people: integers without decimals, others with at most two (`2500`,
/// `71.33`, `0.05`); very small non-zero values keep three significant digits.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = if v.abs() >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.3e}")
    };
    if s.contains('e') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The unit a metric's values are in, with a leading space (`" ms"`), or `""`.
pub fn unit(metric: Metric) -> &'static str {
    match metric {
        Metric::LatencyMs | Metric::ClockSkewMs | Metric::StreamLagMs | Metric::StreamSilenceMs => {
            " ms"
        }
        Metric::PriceDeviationBps => " bps",
        _ => "",
    }
}

/// A value of `metric` with its unit (`2500 ms`).
pub fn value(v: f64, metric: Metric) -> String {
    format!("{}{}", number(v), unit(metric))
}

/// A time for people: `2026-11-21 10:00:03 UTC`.
pub fn time(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    match s.strip_suffix('Z') {
        Some(rest) => format!("{} UTC", rest.replacen('T', " ", 1)),
        None => s,
    }
}

/// The marker in front of an alert: 🔴 critical, 🟠 warning, 🔵 info, ✅ resolved, 💬 triage,
/// 👀 acknowledged.
pub fn marker(alert: &Alert) -> &'static str {
    match alert.kind {
        AlertKind::Resolved => "✅",
        AlertKind::Triage => "💬",
        AlertKind::Acknowledged => "👀",
        AlertKind::Firing => severity_marker(alert.severity),
    }
}

/// 🔴 critical, 🟠 warning, 🔵 info.
pub fn severity_marker(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "🔴",
        Severity::Warning => "🟠",
        Severity::Info => "🔵",
    }
}

/// The headline word(s) of an alert: `CRITICAL`, `RESOLVED (was CRITICAL)`, `TRIAGE`.
pub fn headline(alert: &Alert) -> String {
    let sev = alert.severity.as_str().to_ascii_uppercase();
    match alert.kind {
        AlertKind::Firing => sev,
        AlertKind::Resolved => format!("RESOLVED (was {sev})"),
        AlertKind::Triage => "TRIAGE".to_owned(),
        AlertKind::Acknowledged => "ACKNOWLEDGED".to_owned(),
    }
}

/// The title of the alert a triage follows up: the triage title without its ` (triage)`.
pub fn original_title(alert: &Alert) -> &str {
    alert
        .title
        .strip_suffix(" (triage)")
        .unwrap_or(&alert.title)
}

/// The statistics worth showing, e.g. `p50 41 ms · p99 120 ms · errors 3% · circuit open`;
/// `None` when there are none.
pub fn stats(s: &Stats) -> Option<String> {
    let mut parts = Vec::new();
    for (name, v) in [("p50", s.p50_ms), ("p90", s.p90_ms), ("p99", s.p99_ms)] {
        if let Some(v) = v {
            parts.push(format!("{name} {} ms", number(v)));
        }
    }
    if let Some(rate) = s.error_rate {
        parts.push(format!("errors {}%", number(rate * 100.0)));
    }
    if let Some(c) = s.circuit {
        parts.push(format!("circuit {}", c.as_str().replace('_', "-")));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// A group message's listing for people (`[router] group_by`): a line naming the incident
/// and what this message says of it, then one line per member with its marker, series,
/// severity, detector and state, within `max` UTF-16 code units (members that do not fit are
/// counted in a last `… and N more`). `None` for a per-series alert.
pub fn group_listing(alert: &Alert, max: usize) -> Option<String> {
    let g = alert.group.as_ref()?;
    let mut out = fit(
        &format!(
            "Incident {} ({}): {} series",
            g.key,
            g.update.as_str(),
            g.alerts.len()
        ),
        max.min(300),
    );
    for (i, m) in g.alerts.iter().enumerate() {
        let state = match m.kind {
            AlertKind::Resolved => "resolved",
            _ => "firing",
        };
        let line = fit(
            &format!(
                "{} {}/{}/{} · {} · {} · {state}",
                marker(m),
                m.exchange,
                m.endpoint,
                m.metric,
                m.severity,
                m.detector
            ),
            200,
        );
        let rest = g.alerts.len() - i - 1;
        let tail = if rest > 0 { 20 } else { 0 };
        if utf16_len(&out) + 1 + utf16_len(&line) + tail > max {
            let more = format!("\n… and {} more", g.alerts.len() - i);
            if utf16_len(&out) + utf16_len(&more) <= max {
                out.push_str(&more);
            }
            break;
        }
        out.push('\n');
        out.push_str(&line);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_counts_utf16_and_cuts_on_char_boundaries() {
        assert_eq!(fit("  hello  ", 5), "hello");
        assert_eq!(fit("hello world", 8), "hello w…");
        // Whitespace before the cut is dropped.
        assert_eq!(fit("hello world", 7), "hello…");
        // 🍎 is two UTF-16 units: never split, never over the limit.
        let apples = "🍎".repeat(10);
        let cut = fit(&apples, 7);
        assert_eq!(cut, "🍎🍎🍎…");
        assert!(utf16_len(&cut) <= 7);
        assert_eq!(fit("abc", 0), "");
        assert_eq!(fit("abcdef", 1), "…");
        for max in 0..30 {
            let s = fit("é🍎 x y 漢字🍎🍎 end", max);
            assert!(utf16_len(&s) <= max, "{max}: {s:?}");
        }
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(number(2500.0), "2500");
        assert_eq!(number(71.333_333), "71.33");
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(5234.5), "5234.5");
        assert_eq!(number(-3.0), "-3");
        assert_eq!(number(0.000_123_4), "1.234e-4");
        assert_eq!(value(2500.0, Metric::ClockSkewMs), "2500 ms");
        assert_eq!(value(0.2, Metric::Errors), "0.2");
    }

    #[test]
    fn times_read_well() {
        assert_eq!(
            time(Timestamp(1_795_000_003_000)),
            "2026-11-18 11:06:43 UTC"
        );
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;
    use crate::messages::{AlertGroup, GroupUpdate, Name};

    fn member(endpoint: &str, kind: AlertKind) -> Alert {
        Alert {
            id: Name::from("01J"),
            kind,
            severity: Severity::Critical,
            exchange: Name::from("okx"),
            endpoint: Name::from(endpoint),
            metric: Metric::LatencyMs,
            detector: Name::from("zscore"),
            title: "t".into(),
            message: "m".into(),
            value: 1.0,
            threshold: 0.5,
            region: Name::from("eu"),
            started_at: Timestamp(0),
            at: Timestamp(0),
            stats: Stats::default(),
            in_reply_to: None,
            group: None,
        }
    }

    #[test]
    fn group_listing_names_each_member_and_fits() {
        assert!(group_listing(&member("time", AlertKind::Firing), 100).is_none());
        let mut a = member("time", AlertKind::Firing);
        a.group = Some(AlertGroup {
            key: "exchange=okx".into(),
            update: GroupUpdate::Updated,
            alerts: (0..50)
                .map(|i| {
                    member(
                        &format!("ep{i}"),
                        if i % 2 == 0 {
                            AlertKind::Firing
                        } else {
                            AlertKind::Resolved
                        },
                    )
                })
                .collect(),
        });
        let full = group_listing(&a, 100_000).unwrap();
        assert!(
            full.starts_with("Incident exchange=okx (updated): 50 series"),
            "{full}"
        );
        assert!(
            full.contains("🔴 okx/ep0/latency_ms · critical · zscore · firing"),
            "{full}"
        );
        assert!(
            full.contains("okx/ep1/latency_ms · critical · zscore · resolved"),
            "{full}"
        );
        for max in [60, 300, 1000] {
            let cut = group_listing(&a, max).unwrap();
            assert!(utf16_len(&cut) <= max, "{max}: {cut}");
            assert!(cut.contains("more"), "{cut}");
        }
    }
}
