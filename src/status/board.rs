//! The StatusBoard: what `GET /api/v1/status` says about every exchange and endpoint, kept up
//! to date as measurements pass, and read on request.
//!
//! **Where it is fed.** From [`crate::detect::DetectorSet::send`], the one door every
//! measurement goes through, probed or injected by an embedding engine. Feeding it from the
//! probe would miss the engine's own observations and tie the board to the probe's internals;
//! the detector set sees them all with their event time, and the board needs nothing else.
//!
//! **What it keeps per endpoint** (one [`Slot`], 896 B, see [`bytes_per_endpoint`]): the newest
//! measurement (time, outcome, HTTP status, latency); the open minute's 64-bucket log histogram
//! ([`MinuteHistogram`], 24 B for the four buckets it keeps inline); and a ring of 60 minute
//! summaries, the open minute and the 59 before it (14 B each: counts, exact minimum and maximum,
//! and p50/p90/p99 as one-byte bucket indices, computed when the minute closes). Counts take one
//! byte until a minute of the endpoint first sees 255 of something (a probe faster than every 235
//! ms, or an embedding engine's flood): from then on the slot keeps every minute's counts at 32
//! bits in a box of its own (720 B), exact as before. Per exchange: the breaker, read from its
//! `availability` series (value 0/1/2, endpoint `*`).
//!
//! **Hot path.** [`StatusBoard::record`]: an atomic max for the newest event time, two read
//! locks on the name maps (a write lock only the first time a name is seen), and a short
//! `parking_lot` lock on the endpoint's own slot for an O(1) update; no allocation, but the
//! slot's box of 32-bit counts the first time one of its minutes counts 255, and the open
//! minute's list of buckets the first time a minute's latencies span more than four.
//!
//! **Time** is event time: a measurement lands in the minute of its own timestamp, and every
//! window ends at the newest measurement time the board has seen (`as_of`), so injected or
//! replayed measurements read the same as live ones. A late measurement (older than the open
//! minute, within the hour) counts in its minute's counts and maximum, but moves its
//! percentiles only when it is the minute's first latency sample.
//!
//! **Accuracy.** A minute's percentiles are nearest-rank on the histogram: within ≈9.1 %
//! ([`super::histogram::RELATIVE_ERROR`]) of a sample of that rank, and never outside the exact
//! minimum and maximum. The 5-minute and 1-hour percentiles merge the minutes' summaries: each
//! minute stands for its samples as masses at its p50 (50 %), p90 (40 %), p99 (9 %) and maximum (1
//! %), and the weighted nearest-rank quantile of those masses is reported. Like the true quantile
//! of the union, the result always lies between the smallest and the largest of the minutes' own
//! quantiles at that level (plus the 9.1 % bucket error); it is exact in bucket terms when the
//! window holds one minute or minutes alike.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use parking_lot::{Mutex, RwLock};

use super::histogram::{MinuteHistogram, bucket_of, value_of};
use super::view::{
    ChartPoint, EndpointStatus, ExchangeStatus, OpenAnomaly, StatusReport, StreamStatus,
    WindowStats,
};
use crate::config::ExchangeSettings;
use crate::messages::{CircuitState, Measurement, Metric, Name, Outcome, Timestamp};
use crate::route::Incidents;

/// True for what an endpoint's slot takes: its latency and its probes' outcomes.
fn in_slot(m: &Measurement) -> bool {
    matches!(m.series.metric, Metric::LatencyMs | Metric::Errors) && &*m.series.endpoint != "*"
}

/// Counts `m` (one [`in_slot`]) in `slot`.
fn observe(slot: &mut Slot, m: &Measurement) {
    let latency = m.series.metric == Metric::LatencyMs;
    slot.observe(latency, m.value, m.outcome, m.status, m.at.as_millis());
}

/// Minutes in the recent window.
pub const RECENT_MINUTES: u32 = 5;

/// Minutes in the hour window and the chart.
pub const HOUR_MINUTES: u32 = 60;

/// The most endpoints the board tracks; past it, new names are ignored (a sender building
/// names from changing values would otherwise grow it without bound). A board tracks its
/// configured endpoints plus [`SPARE_ENDPOINTS`], within this ceiling.
pub const MAX_ENDPOINTS: usize = 100_000;

/// Endpoints a board takes beyond the configured ones: those an embedding engine reports on
/// its own (its order placement, say).
pub const SPARE_ENDPOINTS: usize = 10_000;

/// No outcome recorded yet.
const NO_OUTCOME: u8 = u8::MAX;

const MINUTE_MS: i64 = 60_000;

/// One minute of one endpoint, compact (14 B, packed: unaligned reads cost nothing on the
/// targets served, and its 2 B of padding would be 120 B of each slot, see [`Slot`]): the ring
/// holds 60 of these. Which minute it is follows from its place in the ring and the open minute
/// (see [`Slot`]).
#[derive(Debug, Clone, Copy, Default)]
#[repr(C, packed)]
struct MinuteSummary {
    /// Outcomes seen (probes), saturating at `u8::MAX`: the exact count is in [`Slot::wide`]
    /// once any count of the slot reached it (see [`Slot::counts`]).
    count: u8,
    /// Failed outcomes (likewise).
    errors: u8,
    /// Latency samples (likewise).
    samples: u8,
    /// The slowest sample (exact).
    max_ms: f32,
    /// The fastest sample (exact).
    min_ms: f32,
    /// Histogram buckets of the percentiles (valid when `samples > 0`).
    p50: u8,
    p90: u8,
    p99: u8,
}

impl MinuteSummary {
    fn has_data(&self) -> bool {
        self.count > 0 || self.samples > 0
    }

    /// A percentile's value: its bucket's midpoint, kept within the exact minimum and maximum
    /// (so a minute of equal samples reads exactly).
    fn value(&self, bucket: u8) -> f64 {
        value_of(bucket).clamp(f64::from(self.min_ms), f64::from(self.max_ms))
    }
}

/// A minute's exact counts: outcomes, failed outcomes, latency samples.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    count: u32,
    errors: u32,
    samples: u32,
}

impl Counts {
    fn observations(&self) -> u64 {
        u64::from(self.count.max(self.samples))
    }
}

/// A minute as read: its summary and its exact counts.
#[derive(Debug, Clone, Copy)]
struct Minute {
    summary: MinuteSummary,
    counts: Counts,
}

/// One endpoint's state.
///
/// The open minute is the minute of the newest measurement (`last_at`; minute 0 before any).
/// The ring holds minute `k` at `k % 60` for the open minute (its percentiles are filled when
/// it closes) and the 59 before it; the slots of minutes that passed without a measurement are
/// emptied when the open minute moves on, and the open minute's slot when it opens, so a slot
/// with data is always the minute its place says. (The open minute's slot held the minute an
/// hour before, outside every window: keeping the open minute's summary apart, and its number,
/// cost 28 B more, and the slot behind its lock 1 544 B, served from a 1 792 B class.)
///
/// Behind its lock the slot is 896 B, the allocator's 896 B class; with a count for every
/// bucket of the open minute it was 1 008 B (the 1 024 B class), with 16-bit counts in every
/// summary 1 184 B (the 1 280 B class), with 32-bit counts 1 536 B.
#[derive(Debug, Clone)]
pub struct Slot {
    last_at: i64,
    /// NaN when the newest measurement carried no latency.
    last_latency_ms: f32,
    last_status: u16,
    last_outcome: u8,
    /// The open minute's latencies.
    hist: MinuteHistogram,
    ring: [MinuteSummary; HOUR_MINUTES as usize],
    /// Every minute's exact counts, by ring place, once a count of this slot reached
    /// `u8::MAX` (never, for an endpoint probed every second: 60 probes a minute).
    wide: Option<Box<[Counts; HOUR_MINUTES as usize]>>,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            last_at: i64::MIN,
            last_latency_ms: f32::NAN,
            last_status: 0,
            last_outcome: NO_OUTCOME,
            hist: MinuteHistogram::default(),
            ring: [MinuteSummary::default(); HOUR_MINUTES as usize],
            wide: None,
        }
    }
}

fn minute_of(at_ms: i64) -> u32 {
    at_ms.div_euclid(MINUTE_MS).clamp(0, i64::from(u32::MAX)) as u32
}

impl Slot {
    /// Takes one measurement: a latency sample (`latency`) or a probe outcome. O(1).
    pub fn observe(&mut self, latency: bool, value: f64, outcome: Outcome, status: u16, at: i64) {
        let open = self.minute();
        if at >= self.last_at {
            self.last_at = at;
            self.last_outcome = outcome as u8;
            self.last_status = status;
            if latency {
                self.last_latency_ms = value as f32;
            } else if !outcome.is_ok() {
                self.last_latency_ms = f32::NAN;
            }
        }
        let minute = minute_of(at);
        if minute > open {
            self.close(open, minute);
        }
        let place = (minute % HOUR_MINUTES) as usize;
        if minute >= open {
            self.add(place, latency, value, outcome);
            if latency {
                self.hist.record(value);
            }
        } else if open - minute < HOUR_MINUTES {
            // Within the hour: its slot is empty or holds this very minute (see `Slot`).
            self.add(place, latency, value, outcome);
            let m = &mut self.ring[place];
            if latency && m.samples == 1 {
                let b = bucket_of(value);
                (m.p50, m.p90, m.p99) = (b, b, b);
            }
        }
    }

    /// The open minute, minutes since the epoch: the newest measurement's (0 before any).
    fn minute(&self) -> u32 {
        minute_of(self.last_at)
    }

    /// Moves the minute `open` into the ring, its percentiles computed (an empty minute empties
    /// its slot), empties the slots of the minutes after it up to `next`, and opens `next`.
    fn close(&mut self, open: u32, next: u32) {
        if let Some(closed) = self.summary_of(open) {
            self.ring[(open % HOUR_MINUTES) as usize] = closed.summary;
        } else {
            self.empty((open % HOUR_MINUTES) as usize);
        }
        let skipped = (next - open - 1).min(HOUR_MINUTES);
        for k in 1..=skipped {
            self.empty(((open + k) % HOUR_MINUTES) as usize);
        }
        self.empty((next % HOUR_MINUTES) as usize);
        self.hist.clear();
    }

    /// Empties the ring's place `place`.
    fn empty(&mut self, place: usize) {
        self.ring[place] = MinuteSummary::default();
        if let Some(wide) = &mut self.wide {
            wide[place] = Counts::default();
        }
    }

    /// The exact counts of the ring's place `place`.
    fn counts(&self, place: usize) -> Counts {
        match &self.wide {
            Some(wide) => wide[place],
            None => {
                let m = self.ring[place];
                Counts {
                    count: u32::from(m.count),
                    errors: u32::from(m.errors),
                    samples: u32::from(m.samples),
                }
            }
        }
    }

    /// Counts one measurement in the ring's place `place`, and its latency in the minimum and
    /// maximum; the first count to reach `u8::MAX` moves the slot's counts to [`Slot::wide`].
    fn add(&mut self, place: usize, latency: bool, value: f64, outcome: Outcome) {
        let mut c = self.counts(place);
        let m = &mut self.ring[place];
        if latency {
            let v = value as f32;
            (m.min_ms, m.max_ms) = if m.samples == 0 {
                (v, v)
            } else {
                (m.min_ms.min(v), m.max_ms.max(v))
            };
            c.samples = c.samples.saturating_add(1);
        } else {
            c.count = c.count.saturating_add(1);
            c.errors = c.errors.saturating_add(u32::from(!outcome.is_ok()));
        }
        let narrow = |n: u32| u8::try_from(n).unwrap_or(u8::MAX);
        (m.count, m.errors, m.samples) = (narrow(c.count), narrow(c.errors), narrow(c.samples));
        if self.wide.is_none() && c.count.max(c.samples) >= u32::from(u8::MAX) {
            let mut wide = Box::new([Counts::default(); HOUR_MINUTES as usize]);
            for (k, w) in wide.iter_mut().enumerate() {
                *w = self.counts(k);
            }
            self.wide = Some(wide);
        }
        if let Some(wide) = &mut self.wide {
            wide[place] = c;
        }
    }

    /// The minute `open`, the open one, with its percentiles, if it holds anything.
    fn summary_of(&self, open: u32) -> Option<Minute> {
        let place = (open % HOUR_MINUTES) as usize;
        let mut m = self.ring[place];
        if !m.has_data() {
            return None;
        }
        if let (Some(p50), Some(p90), Some(p99)) = (
            self.hist.quantile_bucket(0.5),
            self.hist.quantile_bucket(0.9),
            self.hist.quantile_bucket(0.99),
        ) {
            (m.p50, m.p90, m.p99) = (p50, p90, p99);
        }
        Some(self.read(place, m))
    }

    /// The minute `minute`, if it holds anything.
    fn summary_at(&self, minute: u32) -> Option<Minute> {
        let open = self.minute();
        if minute == open {
            return self.summary_of(open);
        }
        if minute > open || open - minute >= HOUR_MINUTES {
            return None;
        }
        let place = (minute % HOUR_MINUTES) as usize;
        let m = self.ring[place];
        m.has_data().then(|| self.read(place, m))
    }

    /// The minute at the ring's place `place`, read as `summary` says, with its exact counts.
    fn read(&self, place: usize, summary: MinuteSummary) -> Minute {
        Minute {
            summary,
            counts: self.counts(place),
        }
    }

    /// Statistics over the `minutes` minutes ending with `end` (included).
    fn window(&self, end: u32, minutes: u32, label: &str) -> WindowStats {
        let mut masses: Vec<(f64, f64)> = Vec::new();
        let (mut count, mut errors, mut probes) = (0u64, 0u64, 0u64);
        for k in end.saturating_sub(minutes - 1)..=end {
            let Some(Minute { summary: m, counts }) = self.summary_at(k) else {
                continue;
            };
            count += counts.observations();
            errors += u64::from(counts.errors);
            probes += u64::from(counts.count);
            if counts.samples > 0 {
                let s = f64::from(counts.samples);
                masses.extend([
                    (m.value(m.p50), 0.5 * s),
                    (m.value(m.p90), 0.4 * s),
                    (m.value(m.p99), 0.09 * s),
                    (f64::from(m.max_ms), 0.01 * s),
                ]);
            }
        }
        masses.sort_by(|a, b| a.0.total_cmp(&b.0));
        WindowStats {
            window: label.to_owned(),
            count,
            errors,
            p50_ms: weighted_quantile(&masses, 0.5),
            p90_ms: weighted_quantile(&masses, 0.9),
            p99_ms: weighted_quantile(&masses, 0.99),
            error_rate: if probes > 0 {
                errors as f64 / probes as f64
            } else {
                0.0
            },
        }
    }

    fn chart(&self, end: u32) -> Vec<ChartPoint> {
        (end.saturating_sub(HOUR_MINUTES - 1)..=end)
            .map(|k| {
                let t = i64::from(k) * MINUTE_MS;
                match self.summary_at(k) {
                    None => ChartPoint {
                        t,
                        count: 0,
                        errors: 0,
                        p50_ms: None,
                        p90_ms: None,
                        p99_ms: None,
                        max_ms: None,
                    },
                    Some(Minute { summary: m, counts }) => {
                        let has = counts.samples > 0;
                        ChartPoint {
                            t,
                            count: counts.observations(),
                            errors: u64::from(counts.errors),
                            p50_ms: has.then(|| m.value(m.p50)),
                            p90_ms: has.then(|| m.value(m.p90)),
                            p99_ms: has.then(|| m.value(m.p99)),
                            max_ms: has.then_some(f64::from(m.max_ms)),
                        }
                    }
                }
            })
            .collect()
    }

    fn view(&self, name: &str, end: u32) -> EndpointStatus {
        let seen = self.last_at != i64::MIN;
        let outcome = Outcome::ALL
            .get(usize::from(self.last_outcome))
            .filter(|_| seen);
        EndpointStatus {
            endpoint: name.to_owned(),
            last_probe_at: seen.then_some(self.last_at),
            last_outcome: outcome.map(|o| o.as_str().to_owned()),
            last_status: (seen && self.last_status != 0).then_some(self.last_status),
            last_latency_ms: (seen && self.last_latency_ms.is_finite())
                .then_some(f64::from(self.last_latency_ms)),
            recent: self.window(end, RECENT_MINUTES, "5m"),
            hour: self.window(end, HOUR_MINUTES, "1h"),
            chart: self.chart(end),
        }
    }
}

/// The nearest-rank `q`-quantile of `masses` (value, weight), sorted by value.
fn weighted_quantile(masses: &[(f64, f64)], q: f64) -> Option<f64> {
    let total: f64 = masses.iter().map(|m| m.1).sum();
    if total <= 0.0 {
        return None;
    }
    let goal = q * total * (1.0 - 1e-9);
    let mut seen = 0.0;
    for &(value, weight) in masses {
        seen += weight;
        if seen >= goal {
            return Some(value);
        }
    }
    masses.last().map(|m| m.0)
}

/// Bytes one endpoint costs the board: its slot (boxed, behind its lock) and its entry in the
/// exchange's map (the name itself is shared with the settings and the series keys).
pub fn bytes_per_endpoint() -> usize {
    std::mem::size_of::<Mutex<Slot>>() + std::mem::size_of::<(Name, Box<Mutex<Slot>>)>()
}

/// Entries sorted by name, in a `Vec` sized to them (grown an eighth at a time) where a
/// `BTreeMap` allocated nodes for eleven: an exchange's endpoints' slots (≈ 280 B less for a
/// one-endpoint exchange) and the exchanges (≈ 70 B less each). Lookups are a binary search,
/// as in a B-tree node.
struct ByName<V>(Vec<(Name, V)>);

/// An exchange's endpoints' slots, by name.
type Slots = ByName<Box<Mutex<Slot>>>;

impl<V> Default for ByName<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V: Default> ByName<V> {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| (**n).cmp(name))
    }

    fn get(&self, name: &str) -> Option<&V> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    fn contains(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// The entry of `name`, created empty if it has none.
    fn get_or_insert(&mut self, name: &Name) -> &V {
        let i = match self.find(name) {
            Ok(i) => i,
            Err(i) => {
                if self.0.len() == self.0.capacity() {
                    self.0.reserve_exact((self.0.len() / 8).max(1));
                }
                self.0.insert(i, (name.clone(), V::default()));
                i
            }
        };
        &self.0[i].1
    }

    /// Room for `more` entries (once, when their number is known).
    fn reserve_exact(&mut self, more: usize) {
        self.0.reserve_exact(more);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn retain(&mut self, mut keep: impl FnMut(&Name, &V) -> bool) {
        self.0.retain(|(name, v)| keep(name, v));
    }

    fn iter(&self) -> impl Iterator<Item = (&Name, &V)> {
        self.0.iter().map(|(name, v)| (name, v))
    }
}

/// One exchange's state.
#[derive(Default)]
struct ExchangeBoard {
    /// The newest breaker reading: (event time, state).
    breaker: Mutex<Option<(i64, CircuitState)>>,
    /// Probed by exwatch (configured), so its breaker exists and starts closed; an exchange
    /// only an embedding engine reports on has no breaker to read.
    probed: std::sync::atomic::AtomicBool,
    endpoints: RwLock<Slots>,
}

/// The board, shared (`Arc`) between the detector set that feeds it and the server that reads
/// it.
pub struct StatusBoard {
    region: Name,
    /// The newest event time seen, `i64::MIN` before any.
    latest: AtomicI64,
    endpoints: AtomicUsize,
    /// The configured endpoints plus [`SPARE_ENDPOINTS`], at most [`MAX_ENDPOINTS`].
    max_endpoints: usize,
    exchanges: RwLock<ByName<ExchangeBoard>>,
    /// The streams' states, written by their actors about once a second.
    streams: Mutex<BTreeMap<(Name, Name), StreamStatus>>,
    /// The latest clock skew of each exchange with a `time` endpoint (exchange minus local,
    /// ms): a stream's lag is corrected by it.
    skews: Mutex<BTreeMap<Name, f64>>,
}

impl StatusBoard {
    /// Records the state of a stream (its actor calls this about once a second).
    pub fn stream(&self, exchange: &Name, endpoint: &Name, status: StreamStatus) {
        self.streams
            .lock()
            .insert((exchange.clone(), endpoint.clone()), status);
    }

    /// The latest clock skew measured for `exchange` (its server time minus ours, ms).
    pub fn clock_skew(&self, exchange: &str) -> Option<f64> {
        self.skews.lock().get(exchange).copied()
    }

    /// Forgets a stream (removed by a reload, or stopped) whose entry was written at `at` or
    /// before: a connection a reload replaced forgets what it wrote, not what the connection
    /// that took its stream over has written since.
    pub fn forget_stream(&self, exchange: &Name, endpoint: &Name, at: i64) {
        let mut streams = self.streams.lock();
        let key = (exchange.clone(), endpoint.clone());
        if streams.get(&key).is_some_and(|s| s.at <= at) {
            streams.remove(&key);
        }
    }

    /// The monitor's region (its vantage's name).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// An empty board for the monitor of `region`, listing `exchanges`' endpoints from the
    /// start (before their first probe).
    pub fn new(region: Name, exchanges: &[ExchangeSettings]) -> Self {
        let configured: usize = exchanges.iter().map(|x| x.endpoints.len()).sum();
        let board = Self {
            max_endpoints: (configured + SPARE_ENDPOINTS).min(MAX_ENDPOINTS),
            region,
            latest: AtomicI64::new(i64::MIN),
            endpoints: AtomicUsize::new(0),
            exchanges: RwLock::new(ByName::default()),
            streams: Mutex::new(BTreeMap::new()),
            skews: Mutex::new(BTreeMap::new()),
        };
        // In name order, into room for them all: each exchange then goes at the end.
        let mut sorted: Vec<&ExchangeSettings> = exchanges.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        board.exchanges.write().reserve_exact(sorted.len());
        for ex in sorted {
            board.with_exchange(&ex.name, |e| e.probed.store(true, Ordering::Relaxed));
            for ep in &ex.endpoints {
                board.with_slot(&ex.name, &ep.name, |_| ());
            }
        }
        board
    }

    /// Follows a reload: the exchanges and endpoints configured now are listed (those added
    /// from the start, before their first probe); those no longer configured leave the board.
    /// What an embedding engine reports on its own (never configured) stays.
    pub fn reshape(&self, exchanges: &[ExchangeSettings]) {
        {
            let mut map = self.exchanges.write();
            map.retain(|name, board| {
                let Some(now) = exchanges.iter().find(|x| x.name == *name) else {
                    let probed = board.probed.load(Ordering::Relaxed);
                    if probed {
                        let gone = board.endpoints.read().len();
                        self.endpoints.fetch_sub(gone, Ordering::Relaxed);
                    }
                    return !probed;
                };
                let mut endpoints = board.endpoints.write();
                let before = endpoints.len();
                endpoints.retain(|ep, _| now.endpoints.iter().any(|e| e.name == *ep));
                self.endpoints
                    .fetch_sub(before - endpoints.len(), Ordering::Relaxed);
                true
            });
        }
        for ex in exchanges {
            self.with_exchange(&ex.name, |e| e.probed.store(true, Ordering::Relaxed));
            for ep in &ex.endpoints {
                self.with_slot(&ex.name, &ep.name, |_| ());
            }
        }
    }

    /// Takes one measurement (see the module docs for what is kept). O(1), no allocation once
    /// its exchange and endpoint are known but the rare growths the module docs name.
    pub fn record(&self, m: &Measurement) {
        let at = m.at.as_millis();
        self.latest.fetch_max(at, Ordering::Relaxed);
        let series = &m.series;
        match series.metric {
            Metric::Availability => {
                if let Some(state) = CircuitState::from_value(m.value) {
                    self.with_exchange(&series.exchange, |ex| {
                        let mut b = ex.breaker.lock();
                        if b.is_none_or(|(t, _)| at >= t) {
                            *b = Some((at, state));
                        }
                    });
                }
            }
            Metric::ClockSkewMs if m.outcome.is_ok() && m.value.is_finite() => {
                let mut skews = self.skews.lock();
                let room = skews.len() < self.max_endpoints;
                match skews.get_mut(&series.exchange) {
                    Some(v) => *v = m.value,
                    None if room => {
                        skews.insert(series.exchange.clone(), m.value);
                    }
                    None => {}
                }
            }
            _ if in_slot(m) => {
                self.with_slot(&series.exchange, &series.endpoint, |slot| observe(slot, m));
            }
            _ => {}
        }
    }

    /// [`StatusBoard::record`] of each of a probe's measurements, one lookup of the endpoint's
    /// slot for its run of latency and outcome (two name searches per probe, not four).
    pub fn record_all<'a>(&self, ms: impl IntoIterator<Item = &'a Measurement>) {
        let mut ms = ms.into_iter().peekable();
        while let Some(m) = ms.next() {
            if !in_slot(m) {
                self.record(m);
                continue;
            }
            let series = &m.series;
            let same = |n: &&Measurement| {
                in_slot(n)
                    && Arc::ptr_eq(&n.series.endpoint, &series.endpoint)
                    && Arc::ptr_eq(&n.series.exchange, &series.exchange)
            };
            let mut latest = m.at.as_millis();
            self.with_slot(&series.exchange, &series.endpoint, |slot| {
                observe(slot, m);
                while let Some(n) = ms.next_if(same) {
                    latest = latest.max(n.at.as_millis());
                    observe(slot, n);
                }
            });
            self.latest.fetch_max(latest, Ordering::Relaxed);
        }
    }

    /// Runs `f` on `exchange`'s entry, created on first sight (within the board's limit).
    fn with_exchange<R>(&self, exchange: &Name, f: impl FnOnce(&ExchangeBoard) -> R) -> Option<R> {
        {
            let map = self.exchanges.read();
            if let Some(ex) = map.get(exchange) {
                return Some(f(ex));
            }
        }
        let mut map = self.exchanges.write();
        if !map.contains(exchange) && map.len() >= self.max_endpoints {
            return None;
        }
        Some(f(map.get_or_insert(exchange)))
    }

    /// Runs `f` on the slot of `exchange`/`endpoint`, created on first sight (within the
    /// board's limit).
    fn with_slot<R>(
        &self,
        exchange: &Name,
        endpoint: &Name,
        f: impl FnOnce(&mut Slot) -> R,
    ) -> Option<R> {
        self.with_exchange(exchange, |ex| {
            {
                let map = ex.endpoints.read();
                if let Some(slot) = map.get(endpoint) {
                    return Some(f(&mut slot.lock()));
                }
            }
            let mut map = ex.endpoints.write();
            if !map.contains(endpoint) {
                if self.endpoints.load(Ordering::Relaxed) >= self.max_endpoints {
                    tracing::warn!(%exchange, %endpoint, "Too many endpoints; the status board ignores this one.");
                    return None;
                }
                self.endpoints.fetch_add(1, Ordering::Relaxed);
            }
            let slot = map.get_or_insert(endpoint);
            Some(f(&mut slot.lock()))
        })
        .flatten()
    }

    /// The newest event time seen, if any.
    pub fn as_of(&self) -> Option<Timestamp> {
        let t = self.latest.load(Ordering::Relaxed);
        (t != i64::MIN).then_some(Timestamp(t))
    }

    /// Endpoints tracked.
    pub fn endpoint_count(&self) -> usize {
        self.endpoints.load(Ordering::Relaxed)
    }

    /// The answer of `GET /api/v1/status`: every exchange known to the board or named by an
    /// open incident or a maintenance window, by name.
    pub fn report(&self, incidents: &Incidents, generated_at: Timestamp) -> StatusReport {
        let as_of = self.as_of();
        let end = minute_of(as_of.unwrap_or(generated_at).as_millis());
        let mut out: BTreeMap<String, ExchangeStatus> = BTreeMap::new();
        let blank = |name: &str| ExchangeStatus {
            exchange: name.to_owned(),
            breaker: "unknown".to_owned(),
            breaker_at: None,
            maintenance: false,
            endpoints: Vec::new(),
            open_anomalies: Vec::new(),
        };
        for (name, ex) in self.exchanges.read().iter() {
            let mut view = blank(name);
            if let Some((at, state)) = *ex.breaker.lock() {
                view.breaker = state.as_str().to_owned();
                view.breaker_at = Some(at);
            } else if ex.probed.load(Ordering::Relaxed) {
                // A breaker reports transitions only; one that never moved is closed.
                view.breaker = CircuitState::Closed.as_str().to_owned();
            }
            view.endpoints = ex
                .endpoints
                .read()
                .iter()
                .map(|(ep, slot)| slot.lock().view(ep, end))
                .collect();
            out.insert(name.to_string(), view);
        }
        for name in &incidents.maintenance {
            out.entry(name.to_string())
                .or_insert_with(|| blank(name))
                .maintenance = true;
        }
        for i in &incidents.open {
            let ex = &i.series.exchange;
            out.entry(ex.to_string())
                .or_insert_with(|| blank(ex))
                .open_anomalies
                .push(OpenAnomaly {
                    endpoint: i.series.endpoint.to_string(),
                    metric: i.series.metric.as_str().to_owned(),
                    severity: i.severity.as_str().to_owned(),
                    detector: i.detector.to_string(),
                    since: i.since.as_millis(),
                    last_at: Some(i.last_at.as_millis()),
                    value: i.value.is_finite().then_some(i.value),
                    title: i.title.clone(),
                    acked: i.acked,
                    silenced: i.silenced,
                });
        }
        StatusReport {
            generated_at: generated_at.as_millis(),
            as_of: as_of.map(Timestamp::as_millis),
            region: self.region.to_string(),
            exchanges: out.into_values().collect(),
            streams: self.streams.lock().values().cloned().collect(),
            cluster: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{SeriesKey, Severity};
    use crate::route::OpenIncident;
    use crate::status::view::StreamStatus;

    /// 2026-11-18T11:06:00Z, a whole minute.
    const T0: i64 = 1_795_000_000_000 - 1_795_000_000_000 % MINUTE_MS;

    fn latency(ep: &str, ms: f64, at: i64) -> Measurement {
        Measurement::ok(
            SeriesKey::new("binance", ep, Metric::LatencyMs),
            ms,
            Timestamp(at),
        )
    }

    fn outcome(ep: &str, outcome: Outcome, status: u16, at: i64) -> Measurement {
        Measurement {
            series: SeriesKey::new("binance", ep, Metric::Errors),
            value: if outcome.is_ok() { 0.0 } else { 1.0 },
            outcome,
            status,
            at: Timestamp(at),
        }
    }

    fn probe(board: &StatusBoard, ep: &str, ms: f64, at: i64) {
        board.record(&outcome(ep, Outcome::Ok, 200, at));
        board.record(&latency(ep, ms, at));
    }

    fn report(board: &StatusBoard) -> StatusReport {
        board.report(&Incidents::default(), Timestamp(0))
    }

    #[test]
    fn a_probes_measurements_recorded_together_read_as_recorded_one_by_one() {
        let (one_by_one, together) = (
            StatusBoard::new("local".into(), &[]),
            StatusBoard::new("local".into(), &[]),
        );
        let exchange = Name::from("binance");
        let names: Vec<Name> = ["a", "b", "c"].into_iter().map(Name::from).collect();
        let mut rng = fastrand::Rng::with_seed(17);
        for i in 0..600 {
            let ep = &names[rng.usize(0..names.len())];
            let at = T0 + i * 1_500;
            let key = |metric| SeriesKey {
                exchange: exchange.clone(),
                endpoint: ep.clone(),
                metric,
            };
            let failed = rng.u8(0..10) == 0;
            let mut batch = vec![Measurement {
                series: key(Metric::Errors),
                value: f64::from(u8::from(failed)),
                outcome: if failed {
                    Outcome::Http5xx
                } else {
                    Outcome::Ok
                },
                status: if failed { 503 } else { 200 },
                at: Timestamp(at),
            }];
            if !failed {
                batch.push(Measurement::ok(
                    key(Metric::LatencyMs),
                    rng.f64() * 90.0,
                    Timestamp(at),
                ));
            }
            // Now and then another endpoint's, or the breaker's, in the same batch.
            if rng.u8(0..8) == 0 {
                batch.push(latency("z", 5.0, at - 10_000));
                batch.push(Measurement::ok(
                    SeriesKey::new("binance", "*", Metric::Availability),
                    1.0,
                    Timestamp(at),
                ));
            }
            for m in &batch {
                one_by_one.record(m);
            }
            together.record_all(&batch);
        }
        let want = report(&one_by_one);
        assert_eq!(want.exchanges[0].endpoints.len(), 4);
        assert_eq!(report(&together), want);
    }

    #[test]
    fn a_stream_forgets_only_the_entry_it_wrote() {
        let board = StatusBoard::new(Name::from("local"), &[]);
        let (x, s) = (Name::from("binance"), Name::from("btc-depth"));
        let at = |at| StreamStatus {
            at,
            ..StreamStatus::default()
        };
        // The replaced connection wrote at T0, the one that took the stream over at T0 + 1 s.
        board.stream(&x, &s, at(T0));
        board.stream(&x, &s, at(T0 + 1_000));
        board.forget_stream(&x, &s, T0);
        assert_eq!(report(&board).streams.len(), 1, "the newer entry stays");
        board.forget_stream(&x, &s, T0 + 1_000);
        assert!(report(&board).streams.is_empty());
    }

    fn endpoint(r: &StatusReport, ep: &str) -> EndpointStatus {
        r.exchanges[0]
            .endpoints
            .iter()
            .find(|e| e.endpoint == ep)
            .cloned()
            .expect("endpoint listed")
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() / b <= super::super::histogram::RELATIVE_ERROR)
    }

    #[test]
    fn a_board_tracks_its_configured_endpoints_plus_the_spare_and_no_more() {
        let board = StatusBoard::new("local".into(), &[]);
        for i in 0..SPARE_ENDPOINTS + 5 {
            probe(&board, &format!("made-up-{i}"), 10.0, T0);
        }
        assert_eq!(board.endpoint_count(), SPARE_ENDPOINTS);
    }

    #[test]
    fn one_minute_percentiles_are_within_the_bucket_error() {
        let board = StatusBoard::new("local".into(), &[]);
        for i in 1..=100 {
            probe(&board, "ping", f64::from(i), T0 + i64::from(i) * 100);
        }
        let ep = endpoint(&report(&board), "ping");
        assert_eq!(ep.recent.count, 100);
        assert!(close(ep.recent.p50_ms, 50.0), "{:?}", ep.recent);
        assert!(close(ep.recent.p90_ms, 90.0), "{:?}", ep.recent);
        assert!(close(ep.recent.p99_ms, 99.0), "{:?}", ep.recent);
        assert_eq!(ep.recent.error_rate, 0.0);
        assert_eq!(
            ep.hour,
            WindowStats {
                window: "1h".into(),
                ..ep.recent.clone()
            }
        );
        assert_eq!(ep.last_latency_ms, Some(100.0));
        assert_eq!(ep.last_outcome.as_deref(), Some("ok"));
        assert_eq!(ep.last_status, Some(200));
        let last = ep.chart.last().expect("60 points");
        assert_eq!((ep.chart.len(), last.t, last.count), (60, T0, 100));
        assert_eq!(last.max_ms, Some(100.0));
    }

    #[test]
    fn minutes_roll_over_into_the_chart_and_out_of_the_windows() {
        let board = StatusBoard::new("local".into(), &[]);
        // Minute 0: 10 ms; minute 1: 100 ms with one failure.
        for i in 0..6 {
            probe(&board, "ping", 10.0, T0 + i * 10_000);
            probe(&board, "ping", 100.0, T0 + MINUTE_MS + i * 10_000);
        }
        board.record(&outcome(
            "ping",
            Outcome::Http5xx,
            503,
            T0 + MINUTE_MS + 59_000,
        ));
        let ep = endpoint(&report(&board), "ping");
        let n = ep.chart.len();
        let (a, b) = (&ep.chart[n - 2], &ep.chart[n - 1]);
        assert_eq!((a.t, a.count, a.errors), (T0, 6, 0));
        assert_eq!((b.t, b.count, b.errors), (T0 + MINUTE_MS, 7, 1));
        assert!(
            close(a.p50_ms, 10.0) && close(b.p90_ms, 100.0),
            "{a:?} {b:?}"
        );
        assert_eq!(ep.recent.count, 13);
        assert!((ep.recent.error_rate - 1.0 / 13.0).abs() < 1e-9);
        // The newest outcome failed: no latency to show for it.
        assert_eq!(ep.last_outcome.as_deref(), Some("http_5xx"));
        assert_eq!((ep.last_status, ep.last_latency_ms), (Some(503), None));
        // Merged across the two minutes, the median lies between theirs.
        let p50 = ep.recent.p50_ms.expect("samples");
        assert!((9.0..=110.0).contains(&p50), "{p50}");
        assert!(close(ep.recent.p99_ms, 100.0), "{:?}", ep.recent);

        // Ten minutes later: out of the recent window, still in the hour.
        probe(&board, "ping", 20.0, T0 + 11 * MINUTE_MS);
        let ep = endpoint(&report(&board), "ping");
        assert_eq!((ep.recent.count, ep.hour.count), (1, 14));
        assert!(close(ep.recent.p50_ms, 20.0));

        // At minute 70, minute 11 is the oldest of the hour; at minute 71 it is gone too.
        probe(&board, "ping", 30.0, T0 + 70 * MINUTE_MS);
        let ep = endpoint(&report(&board), "ping");
        assert_eq!(ep.hour.count, 2);
        assert_eq!(ep.chart.iter().map(|p| p.count).sum::<u64>(), 2);
        assert_eq!((ep.chart[0].t, ep.chart[0].count), (T0 + 11 * MINUTE_MS, 1));
        probe(&board, "ping", 30.0, T0 + 71 * MINUTE_MS);
        let ep = endpoint(&report(&board), "ping");
        assert_eq!(ep.hour.count, 2);
        assert_eq!(ep.chart[0].t, T0 + 12 * MINUTE_MS);
    }

    #[test]
    fn a_gap_empties_the_minutes_it_skipped() {
        let board = StatusBoard::new("local".into(), &[]);
        // Minute 0 and minute 60 share a ring slot, as do 5 and 65, 40 and 100.
        probe(&board, "ping", 10.0, T0);
        probe(&board, "ping", 10.0, T0 + 5 * MINUTE_MS);
        probe(&board, "ping", 10.0, T0 + 40 * MINUTE_MS);
        probe(&board, "ping", 20.0, T0 + 41 * MINUTE_MS);
        // 24 minutes of silence, then minute 65: the hour is 6..=65.
        probe(&board, "ping", 30.0, T0 + 65 * MINUTE_MS);
        let ep = endpoint(&report(&board), "ping");
        assert_eq!(ep.hour.count, 3, "{:?}", ep.hour);
        let at = |m: i64| {
            ep.chart
                .iter()
                .find(|p| p.t == T0 + m * MINUTE_MS)
                .expect("in chart")
        };
        assert_eq!((at(40).count, at(41).count, at(60).count), (1, 1, 0));
        assert_eq!(at(60).max_ms, None);
        // A late sample of a skipped minute starts it afresh; one older than the hour is
        // ignored.
        probe(&board, "ping", 50.0, T0 + 60 * MINUTE_MS);
        probe(&board, "ping", 50.0, T0 + 5 * MINUTE_MS);
        let ep = endpoint(&report(&board), "ping");
        let at = |m: i64| {
            ep.chart
                .iter()
                .find(|p| p.t == T0 + m * MINUTE_MS)
                .expect("in chart")
        };
        assert_eq!((at(60).count, at(60).max_ms), (1, Some(50.0)));
        assert_eq!(ep.hour.count, 4);
        // Past the whole hour every slot is emptied.
        probe(&board, "ping", 70.0, T0 + 200 * MINUTE_MS);
        let ep = endpoint(&report(&board), "ping");
        assert_eq!((ep.hour.count, ep.recent.count), (1, 1));
        assert_eq!(ep.chart.iter().map(|p| p.count).sum::<u64>(), 1);
    }

    #[test]
    fn a_late_sample_counts_in_its_own_minute() {
        let board = StatusBoard::new("local".into(), &[]);
        probe(&board, "ping", 10.0, T0 + 5 * MINUTE_MS);
        probe(&board, "ping", 40.0, T0 + 2 * MINUTE_MS);
        board.record(&outcome(
            "ping",
            Outcome::Timeout,
            0,
            T0 + 2 * MINUTE_MS + 1,
        ));
        let ep = endpoint(&report(&board), "ping");
        let late = &ep.chart[ep.chart.len() - 4];
        assert_eq!(
            (late.t, late.count, late.errors),
            (T0 + 2 * MINUTE_MS, 2, 1)
        );
        assert!(close(late.p50_ms, 40.0));
        // The newest measurement is still the newest.
        assert_eq!(ep.last_probe_at, Some(T0 + 5 * MINUTE_MS));
        assert_eq!(ep.last_outcome.as_deref(), Some("ok"));
    }

    #[test]
    fn breaker_comes_from_availability_and_incidents_are_listed() {
        let ex = crate::settings::Settings::default().exchanges;
        let board = StatusBoard::new("local".into(), &ex);
        let availability = |v: f64, at: i64| {
            Measurement::ok(
                SeriesKey::new("binance", "*", Metric::Availability),
                v,
                Timestamp(at),
            )
        };
        board.record(&availability(2.0, T0));
        board.record(&availability(0.0, T0 - 1)); // older: ignored
        let incidents = Incidents {
            open: vec![OpenIncident {
                series: SeriesKey::new("okx", "time", Metric::ClockSkewMs),
                detector: "clock_skew".into(),
                severity: Severity::Critical,
                since: Timestamp(T0),
                last_at: Timestamp(T0 + 1),
                value: 2500.0,
                title: "okx time clock skew".into(),
                acked: false,
                silenced: false,
            }],
            maintenance: vec!["bybit".into()],
        };
        let r = board.report(&incidents, Timestamp(T0 + 5));
        let get = |name: &str| r.exchanges.iter().find(|e| e.exchange == name).expect(name);
        assert_eq!(get("binance").breaker, "open");
        assert_eq!(get("binance").breaker_at, Some(T0));
        assert!(get("bybit").maintenance);
        let okx = get("okx");
        assert_eq!(okx.open_anomalies.len(), 1);
        assert_eq!(okx.open_anomalies[0].severity, "critical");
        assert_eq!(okx.open_anomalies[0].since, T0);
        assert_eq!(r.as_of, Some(T0));
        // Configured endpoints are listed before their first probe, with nulls.
        if let Some(first) = ex.first().and_then(|e| e.endpoints.first()) {
            let listed = r
                .exchanges
                .iter()
                .find(|e| *e.exchange == *ex[0].name)
                .expect("listed");
            let ep = listed
                .endpoints
                .iter()
                .find(|e| *e.endpoint == *first.name)
                .expect("ep");
            assert_eq!(
                (ep.last_probe_at, ep.recent.p50_ms, ep.recent.count),
                (None, None, 0)
            );
        }
    }

    #[test]
    fn a_flood_of_a_minute_counts_exactly_past_one_byte_and_sixteen_bits() {
        // 70 000 probes in minute 0, one in ten failed, then one probe in minute 1: the
        // one-byte counts overflow in minute 0, past 16 bits too, and every count stays exact.
        let board = StatusBoard::new("local".into(), &[]);
        for i in 0..70_000i64 {
            let ok = if i % 10 == 0 {
                Outcome::Http5xx
            } else {
                Outcome::Ok
            };
            board.record(&outcome("flood", ok, 200, T0 + i % MINUTE_MS));
            board.record(&latency("flood", 10.0, T0 + i % MINUTE_MS));
        }
        probe(&board, "flood", 20.0, T0 + MINUTE_MS);
        let ep = endpoint(&report(&board), "flood");
        let first = &ep.chart[ep.chart.len() - 2];
        assert_eq!((first.t, first.count, first.errors), (T0, 70_000, 7_000));
        assert_eq!((ep.recent.count, ep.recent.errors), (70_001, 7_000));
        assert_eq!(ep.chart.last().map(|p| p.count), Some(1));
        // Minute 60 takes minute 0's place: it opens empty, wide counts too.
        probe(&board, "flood", 20.0, T0 + 60 * MINUTE_MS);
        let ep = endpoint(&report(&board), "flood");
        assert_eq!((ep.hour.count, ep.hour.errors), (2, 0));
    }

    #[test]
    fn one_endpoint_costs_under_two_kilobytes() {
        // The slot behind its lock stays within the allocator's 896 B class.
        assert!(
            std::mem::size_of::<Mutex<Slot>>() <= 896,
            "{}",
            std::mem::size_of::<Mutex<Slot>>()
        );
        let bytes = bytes_per_endpoint();
        assert!(bytes <= 2048, "{bytes} bytes per endpoint");
        let board = StatusBoard::new("local".into(), &[]);
        probe(&board, "ping", 1.0, T0);
        board.record(&latency("*", 1.0, T0)); // exchange-wide latency: not an endpoint
        assert_eq!(board.endpoint_count(), 1);
    }
}
