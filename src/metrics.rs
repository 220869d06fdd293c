//! exwatch's own metrics, rendered in the Prometheus text format.
//!
//! Handles ([`Counter`], [`Gauge`], [`Histogram`]) are registered once, when an actor starts,
//! and are plain atomics afterwards: the hot path never takes a lock or allocates. The
//! registry itself sits behind a `parking_lot::Mutex` because it is touched only at
//! registration and at scrape time, from several arbiters' threads.
//!
//! A probed endpoint's metrics (probes by outcome, scheduled, late, confirmation, duration) are
//! one [`EndpointMetrics`] — one registry entry and one allocation per endpoint instead of a
//! dozen — rendered into the same families as separately registered metrics would be.
//!
//! The metric names are a public contract (see the design's Metrics table).

mod endpoint;

pub use endpoint::EndpointMetrics;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::messages::{Name, Removed};

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `d` (may be negative).
    pub fn add(&self, d: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + d).to_bits())
            });
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Upper bounds (seconds) of the probe-duration histogram buckets.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A histogram's counts. Each observation counts in one bucket, the first whose bound holds it
/// (one atomic add where cumulative buckets took up to twelve: a loopback probe was in all
/// of them); the exposition adds them up into Prometheus' cumulative buckets.
#[derive(Debug, Default)]
struct HistogramInner {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl HistogramInner {
    fn observe(&self, seconds: f64) {
        if let Some(i) = DURATION_BUCKETS.iter().position(|le| seconds <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds.max(0.0) * 1e6) as u64, Ordering::Relaxed);
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// A distribution of durations, in seconds.
#[derive(Debug, Clone, Default)]
pub struct Histogram(Arc<HistogramInner>);

impl Histogram {
    /// Records one observation of `seconds`.
    pub fn observe(&self, seconds: f64) {
        self.0.observe(seconds);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0.count()
    }
}

#[derive(Debug)]
enum Handle {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

/// A series' labels. Boxed slices: a `Vec` of `String`s carried a capacity word per list and
/// per label (the list 24 → 16 B in the registry's node, a label 40 → 32 B, in mimalloc's
/// 48 → 32 B class for one label): ≈ 25 B per registry entry, two or more per exchange.
type Labels = Box<[(&'static str, Box<str>)]>;

/// The registry of all of one monitor's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    families: BTreeMap<&'static str, BTreeMap<Labels, Handle>>,
    /// Probed endpoints' metrics, by (exchange, endpoint).
    endpoints: BTreeMap<(Name, Name), Arc<EndpointMetrics>>,
}

fn help(name: &str) -> (&'static str, &'static str) {
    match name {
        "exwatch_probes_total" => ("counter", "Probes by outcome."),
        "exwatch_probes_scheduled_total" => ("counter", "Probe slots whose time has come."),
        "exwatch_probes_late_total" => (
            "counter",
            "Probes started more than 100 ms after their slot (missed slots included).",
        ),
        "exwatch_probe_duration_seconds" => ("histogram", "Latency of exchange probes."),
        "exwatch_breaker_state" => ("gauge", "Circuit breaker: 0 closed, 1 half-open, 2 open."),
        "exwatch_detector_updates_total" => ("counter", "Measurements judged by detectors."),
        "exwatch_anomalies_total" => ("counter", "Anomalies reported by detectors."),
        "exwatch_alerts_total" => ("counter", "Alerts routed to channels."),
        "exwatch_deliveries_total" => ("counter", "Delivery attempts by outcome."),
        "exwatch_deliveries_pending" => ("gauge", "Alerts waiting for delivery."),
        "exwatch_actor_restarts_total" => ("counter", "Restarts of exwatch's own actors."),
        "exwatch_stream_messages_total" => ("counter", "Data messages received on streams."),
        "exwatch_stream_reconnects_total" => ("counter", "Stream reconnects by reason."),
        "exwatch_stream_gaps_total" => ("counter", "Sequence gaps seen on streams."),
        "exwatch_stream_lag_seconds" => (
            "histogram",
            "Stream lag: receive time minus the exchange's event time, less its clock skew.",
        ),
        "exwatch_stream_last_message_age_seconds" => {
            ("gauge", "Time since a stream's last data message.")
        }
        "exwatch_stream_subscribe_seconds" => (
            "histogram",
            "Time from a stream's subscribe message to the venue's acknowledgement.",
        ),
        "exwatch_stream_bad_frames_total" => (
            "counter",
            "Stream frames that were not the venue's protocol (garbage, binary, oversize).",
        ),
        "exwatch_probes_confirm_total" => (
            "counter",
            "Re-probes of an endpoint whose probe failed, sent to confirm an outage quickly.",
        ),
        "exwatch_alerts_silenced_total" => ("counter", "Alerts recorded but not sent: silenced."),
        "exwatch_silences_active" => ("gauge", "Silences in force."),
        "exwatch_store_errors_total" => ("counter", "Event store operations that failed."),
        "exwatch_config_reloads_total" => ("counter", "Configuration reloads by result."),
        "exwatch_config_last_reload_successful" => (
            "gauge",
            "1 when the last configuration reload was applied, else 0.",
        ),
        "exwatch_config_last_reload_success_timestamp_seconds" => (
            "gauge",
            "Time of the last configuration applied (the start or a reload), Unix seconds.",
        ),
        "exwatch_cluster_up" => ("gauge", "1 when the shared PostgreSQL answers, else 0."),
        "exwatch_cluster_backlog" => ("gauge", "Rows waiting to be written to the shared store."),
        "exwatch_cluster_dropped_total" => ("counter", "Rows dropped past the backlog limit."),
        "exwatch_cluster_rows_written_total" => ("counter", "Rows written to the shared store."),
        // Every family exwatch registers is named above (tests/it's exposition reader
        // refuses an untyped exwatch family).
        _ => ("untyped", "exwatch metric."),
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn register(
        &self,
        name: &'static str,
        labels: &[(&'static str, &str)],
        make: impl FnOnce() -> Handle,
        pick: impl Fn(&Handle) -> Option<Handle>,
    ) -> Handle {
        let key: Labels = labels.iter().map(|(k, v)| (*k, Box::from(*v))).collect();
        let mut registry = self.registry.lock();
        let family = registry.families.entry(name).or_default();
        if let Some(existing) = family.get(&key).and_then(&pick) {
            return existing;
        }
        let handle = make();
        let copy = pick(&handle).expect("a new handle has the requested type");
        family.insert(key, handle);
        copy
    }

    /// The counter `name{labels}`, registered on first use.
    pub fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        match self.register(
            name,
            labels,
            || Handle::Counter(Counter::default()),
            |h| match h {
                Handle::Counter(c) => Some(Handle::Counter(c.clone())),
                _ => None,
            },
        ) {
            Handle::Counter(c) => c,
            _ => Counter::default(),
        }
    }

    /// The gauge `name{labels}`, registered on first use.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Gauge {
        match self.register(
            name,
            labels,
            || Handle::Gauge(Gauge::default()),
            |h| match h {
                Handle::Gauge(g) => Some(Handle::Gauge(g.clone())),
                _ => None,
            },
        ) {
            Handle::Gauge(g) => g,
            _ => Gauge::default(),
        }
    }

    /// The histogram `name{labels}`, registered on first use.
    pub fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        match self.register(
            name,
            labels,
            || Handle::Histogram(Histogram::default()),
            |h| match h {
                Handle::Histogram(x) => Some(Handle::Histogram(x.clone())),
                _ => None,
            },
        ) {
            Handle::Histogram(h) => h,
            _ => Histogram::default(),
        }
    }

    /// The probe metrics of `exchange`'s `endpoint`, registered on first use.
    pub fn endpoint(&self, exchange: &Name, endpoint: &Name) -> Arc<EndpointMetrics> {
        let mut registry = self.registry.lock();
        registry
            .endpoints
            .entry((exchange.clone(), endpoint.clone()))
            .or_insert_with(|| Arc::new(EndpointMetrics::new()))
            .clone()
    }

    /// Drops the series of what a reload removed: the probe metrics of its endpoints and
    /// every series labelled with its exchange (and endpoint, for a removed endpoint), so
    /// that `/metrics` does not keep reporting them. Handles still held count on unseen.
    pub fn forget(&self, removed: &[Removed]) {
        let mut registry = self.registry.lock();
        registry
            .endpoints
            .retain(|(x, e), _| !removed.iter().any(|r| r.covers_endpoint(x, e)));
        fn label<'a>(labels: &'a Labels, key: &str) -> Option<&'a str> {
            labels.iter().find(|(k, _)| *k == key).map(|(_, v)| &**v)
        }
        for family in registry.families.values_mut() {
            family.retain(|labels, _| {
                let Some(exchange) = label(labels, "exchange") else {
                    return true;
                };
                !removed.iter().any(|r| match r {
                    Removed::Exchange(x) => &**x == exchange,
                    Removed::Endpoint { .. } => label(labels, "endpoint")
                        .is_some_and(|endpoint| r.covers_endpoint(exchange, endpoint)),
                })
            });
        }
    }

    /// The value of a counter or gauge (a histogram's count), if registered (for tests and
    /// the CLI).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let registry = self.registry.lock();
        if endpoint::FAMILIES.contains(&name)
            && let Some(v) = registry
                .endpoints
                .iter()
                .find_map(|(names, e)| e.value(names, name, labels))
        {
            return Some(v);
        }
        let family = registry.families.get(name)?;
        family.iter().find_map(|(key, handle)| {
            let same = key.len() == labels.len()
                && key
                    .iter()
                    .zip(labels)
                    .all(|((k, v), (k2, v2))| k == k2 && **v == **v2);
            if !same {
                return None;
            }
            match handle {
                Handle::Counter(c) => Some(c.get() as f64),
                Handle::Gauge(g) => Some(g.get()),
                Handle::Histogram(h) => Some(h.count() as f64),
            }
        })
    }

    /// The whole registry in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut cursor = Cursor::new(self);
        std::iter::from_fn(|| cursor.next_piece(self)).collect()
    }

    /// The text format a piece of about [`PIECE`] bytes at a time, each rendered under the
    /// registry's lock when asked for: `/metrics` streams them, so a scrape of thousands of
    /// endpoints (≈ 2 KB of text each) holds a piece, not the whole text and its copy in the
    /// connection's buffer. Samples of a family stay together; a family or an endpoint
    /// registered after the first piece waits for the next scrape.
    pub fn pieces(self: &Arc<Self>) -> Pieces {
        Pieces {
            cursor: Cursor::new(self),
            metrics: self.clone(),
        }
    }
}

/// Bytes of text a piece holds, about (an endpoint's samples are not split).
pub const PIECE: usize = 64 * 1024;

/// The text format in pieces ([`Metrics::pieces`]).
pub struct Pieces {
    metrics: Arc<Metrics>,
    cursor: Cursor,
}

impl Iterator for Pieces {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.cursor.next_piece(&self.metrics)
    }
}

/// Where a rendering of the text format is.
struct Cursor {
    /// The families, in name order, as of the start.
    names: Vec<&'static str>,
    /// The family being written.
    family: usize,
    /// Within an endpoint family, the last endpoint written (and so the family's header);
    /// `None` before the family's header.
    after: Option<(Name, Name)>,
}

impl Cursor {
    fn new(metrics: &Metrics) -> Self {
        let registry = metrics.registry.lock();
        let mut names: BTreeSet<&'static str> = registry.families.keys().copied().collect();
        if !registry.endpoints.is_empty() {
            names.extend(endpoint::FAMILIES);
        }
        Self {
            names: names.into_iter().collect(),
            family: 0,
            after: None,
        }
    }

    /// The next piece; `None` once every family is written.
    fn next_piece(&mut self, metrics: &Metrics) -> Option<String> {
        use std::ops::Bound::{Excluded, Unbounded};
        self.names.get(self.family)?;
        let registry = metrics.registry.lock();
        let mut out = String::with_capacity(PIECE + PIECE / 8);
        while let Some(&name) = self.names.get(self.family) {
            if out.len() >= PIECE {
                break;
            }
            if self.after.is_none() {
                let (kind, text) = help(name);
                let _ = writeln!(out, "# HELP {name} {text}");
                let _ = writeln!(out, "# TYPE {name} {kind}");
            }
            if endpoint::FAMILIES.contains(&name) {
                let rest = match self.after.take() {
                    None => registry.endpoints.range::<(Name, Name), _>(..),
                    Some(last) => registry.endpoints.range((Excluded(last), Unbounded)),
                };
                for (key, e) in rest {
                    e.render(key, name, &mut out);
                    if out.len() >= PIECE {
                        self.after = Some(key.clone());
                        break;
                    }
                }
                if self.after.is_some() {
                    break;
                }
            }
            if let Some(family) = registry.families.get(name) {
                write_family(&mut out, name, family);
            }
            self.family += 1;
        }
        Some(out)
    }
}

/// Every sample of a registered family.
fn write_family(out: &mut String, name: &str, family: &BTreeMap<Labels, Handle>) {
    for (labels, handle) in family {
        let base = render_labels(labels);
        match handle {
            Handle::Counter(c) => {
                let _ = writeln!(out, "{name}{base} {}", c.get());
            }
            Handle::Gauge(g) => {
                let _ = writeln!(out, "{name}{base} {}", g.get());
            }
            Handle::Histogram(h) => {
                write_histogram(out, name, &label_list(labels), &h.0);
            }
        }
    }
}

/// `{k="v",…}`, or nothing for no labels.
fn render_labels(labels: &Labels) -> String {
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", label_list(labels))
    }
}

/// `k="v",…` without the braces, values escaped.
fn label_list(labels: &Labels) -> String {
    let mut out = String::new();
    for (i, (k, v)) in labels.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(out, "{sep}{k}=\"{}\"", Escaped(v));
    }
    out
}

/// A histogram's samples in the text format; `labels` is its label list without braces
/// (possibly empty), to which each bucket adds its `le`.
fn write_histogram(out: &mut String, name: &str, labels: &str, h: &HistogramInner) {
    let sep = if labels.is_empty() { "" } else { "," };
    let mut below = 0;
    for (i, le) in DURATION_BUCKETS.iter().enumerate() {
        below += h.buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {below}");
    }
    // An observation counted in its bucket but not yet in `count` when read: +Inf and the
    // count never fall below the finite buckets.
    let count = h.count().max(below);
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
    let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let braced = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braced} {sum}");
    let _ = writeln!(out, "{name}_count{braced} {count}");
}

/// A label value, escaped for the text format as it is written.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write as _;
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_pieces_are_bounded_keep_families_together_and_add_up_to_the_text() {
        let m = Arc::new(Metrics::new());
        m.counter("exwatch_anomalies_total", &[("exchange", "okx")])
            .inc();
        let handles: Vec<_> = (0..2_000)
            .map(|i| m.endpoint(&Name::from(format!("x{i}")), &Name::from("ping")))
            .collect();
        handles[7].scheduled(3);
        let pieces: Vec<String> = m.pieces().collect();
        assert!(pieces.len() > 10, "{} pieces", pieces.len());
        // A piece stops after the endpoint that filled it: at most one endpoint's histogram
        // (≈ 1.6 KB) beyond the size.
        assert!(pieces.iter().all(|p| p.len() < PIECE + 4 * 1024));
        let text = pieces.concat();
        assert_eq!(text, m.render());
        // Each family's header once, and every one of its samples in the block after it.
        for family in endpoint::FAMILIES {
            let header = format!("# TYPE {family} ");
            assert_eq!(text.matches(&header).count(), 1, "{family}");
            let at = text.find(&header).expect("header");
            let block_end = text[at..].find("# HELP").map_or(text.len(), |n| at + n);
            let inside = text[at..block_end]
                .lines()
                .filter(|l| l.starts_with(family))
                .count();
            let all = text.lines().filter(|l| l.starts_with(family)).count();
            assert!(inside >= 2_000, "{family}: {inside}");
            assert_eq!(inside, all, "{family}");
        }
        assert!(
            text.contains("exwatch_probes_scheduled_total{exchange=\"x7\",endpoint=\"ping\"} 3\n")
        );
        assert!(text.contains("exwatch_anomalies_total{exchange=\"okx\"} 1\n"));
    }

    #[test]
    fn metrics_render_counters_gauges_and_histograms() {
        let m = Metrics::new();
        let c = m.counter(
            "exwatch_probes_total",
            &[("exchange", "okx"), ("outcome", "ok")],
        );
        c.inc();
        m.counter(
            "exwatch_probes_total",
            &[("exchange", "okx"), ("outcome", "ok")],
        )
        .inc();
        m.gauge("exwatch_breaker_state", &[("exchange", "okx")])
            .set(2.0);
        m.histogram("exwatch_probe_duration_seconds", &[("exchange", "okx")])
            .observe(0.2);
        let text = m.render();
        assert!(text.contains("exwatch_probes_total{exchange=\"okx\",outcome=\"ok\"} 2\n"));
        assert!(text.contains("exwatch_breaker_state{exchange=\"okx\"} 2\n"));
        assert!(
            text.contains(
                "exwatch_probe_duration_seconds_bucket{exchange=\"okx\",le=\"0.25\"} 1\n"
            )
        );
        assert!(
            text.contains("exwatch_probe_duration_seconds_bucket{exchange=\"okx\",le=\"0.1\"} 0\n")
        );
        assert!(text.contains("# TYPE exwatch_probe_duration_seconds histogram\n"));
        // Buckets are cumulative in the exposition, whatever the counts' storage.
        let h = m.histogram("exwatch_probe_duration_seconds", &[("exchange", "bybit")]);
        for seconds in [0.003, 0.2, 40.0, 0.005] {
            h.observe(seconds);
        }
        let text = m.render();
        for (le, n) in [
            ("0.005", 2),
            ("0.1", 2),
            ("0.25", 3),
            ("30", 3),
            ("+Inf", 4),
        ] {
            let line = format!(
                "exwatch_probe_duration_seconds_bucket{{exchange=\"bybit\",le=\"{le}\"}} {n}\n"
            );
            assert!(text.contains(&line), "{line} in {text}");
        }
        assert!(text.contains("exwatch_probe_duration_seconds_count{exchange=\"bybit\"} 4\n"));
        assert_eq!(
            m.value(
                "exwatch_probes_total",
                &[("exchange", "okx"), ("outcome", "ok")]
            ),
            Some(2.0)
        );
    }
}
