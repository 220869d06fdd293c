//! One watched stream on a shared connection: its pure [`Judge`], its metric handles, the
//! measurements it sends to the detectors and the state it publishes on the status board.
//! The connection actor ([`crate::probe::stream::actor`]) routes each data message here; what
//! a stream measures, counts and shows is the same whether it has a connection to itself or
//! shares one with a thousand others.

use std::sync::Arc;
use std::time::Duration;

use actix::clock::Instant;

use crate::detect::DetectorSet;
use crate::messages::{Measurement, Metric, SeriesKey, Timestamp};
use crate::metrics::{Counter, Gauge, Histogram, Metrics};
use crate::probe::stream::config::StreamSettings;
use crate::probe::stream::judge::{Judge, Reading};
use crate::probe::stream::sample::sample;
use crate::probe::stream::venue::Data;
use crate::status::StatusBoard;
use crate::status::view::StreamStatus;

/// Series keys of the stream's metrics.
struct Keys {
    lag: SeriesKey,
    silence: SeriesKey,
    frozen: SeriesKey,
    gap: SeriesKey,
    reconnects: SeriesKey,
}

/// One stream's judge, metrics and status. See the module docs.
pub struct Watch {
    /// The stream's endpoint.
    pub spec: StreamSettings,
    keys: Keys,
    judge: Judge,
    metrics: Arc<Metrics>,
    messages: Counter,
    gaps: Counter,
    lag: Histogram,
    age: Gauge,
    subscribe_latency: Histogram,
    /// The connection (id) whose data this stream takes; `None` while it has none.
    pub source: Option<u64>,
    /// When a refused (or unanswered) subscription is asked for again.
    pub retry_at: Option<Instant>,
    /// Refusals in a row (the back-off's exponent).
    pub refusals: u32,
    /// When (ms) the stream was last asked for again because it stalled on a connection
    /// whose other streams flow.
    pub stall_asked_at: Option<i64>,
    /// What the board was last told: (when, messages then).
    shown: (Instant, u64),
    /// The wall-clock time (ms) of the entry this stream last wrote on the board.
    shown_at: Option<i64>,
    last_lag: Option<f64>,
    reconnects: u64,
    gap_count: u64,
    bad_logged: bool,
    /// `exwatch_stream_bad_frames_total` by kind, resolved once.
    bad: Vec<(&'static str, Counter)>,
}

impl Watch {
    /// The watch of `spec`, its metrics registered in `metrics`.
    pub fn new(spec: StreamSettings, metrics: &Arc<Metrics>) -> Self {
        let (x, e) = (spec.exchange.clone(), spec.name.clone());
        let labels = [("exchange", &*x), ("endpoint", &*e)];
        let key = |m| SeriesKey::new(x.clone(), e.clone(), m);
        Self {
            keys: Keys {
                lag: key(Metric::StreamLagMs),
                silence: key(Metric::StreamSilenceMs),
                frozen: key(Metric::StreamFrozen),
                gap: key(Metric::StreamGap),
                reconnects: key(Metric::StreamReconnects),
            },
            judge: Judge::new(
                Timestamp::now().as_millis(),
                spec.stale_after,
                spec.reconnects_per_hour,
            ),
            metrics: metrics.clone(),
            messages: metrics.counter("exwatch_stream_messages_total", &labels),
            gaps: metrics.counter("exwatch_stream_gaps_total", &labels),
            lag: metrics.histogram("exwatch_stream_lag_seconds", &labels),
            age: metrics.gauge("exwatch_stream_last_message_age_seconds", &labels),
            subscribe_latency: metrics.histogram("exwatch_stream_subscribe_seconds", &labels),
            source: None,
            retry_at: None,
            refusals: 0,
            stall_asked_at: None,
            shown: (Instant::now(), 0),
            shown_at: None,
            last_lag: None,
            reconnects: 0,
            gap_count: 0,
            bad_logged: false,
            bad: Vec::new(),
            spec,
        }
    }

    /// A new subscription became the stream's source.
    pub fn resubscribed(&mut self) {
        self.judge.resubscribed();
    }

    /// The stream's silence threshold now.
    pub fn stale_threshold(&self) -> Duration {
        self.judge.stale_threshold()
    }

    /// Time since the stream's last data message at `now_ms`.
    pub fn silence(&self, now_ms: i64) -> Duration {
        self.judge.silence(now_ms)
    }

    /// The subscription was acknowledged after `waited`.
    pub fn acked(&self, waited: Duration) {
        self.subscribe_latency.observe(waited.as_secs_f64());
    }

    /// One data message at `now_ms`: judged, counted, its readings sent.
    pub fn on_data(
        &mut self,
        now_ms: i64,
        d: &Data,
        out: &mut Vec<Reading>,
        detectors: &DetectorSet,
    ) {
        out.clear();
        let seen = self.judge.on_data(now_ms, d, out);
        if !seen.duplicate {
            self.messages.inc();
            if let Some(lag) = seen.lag_ms {
                self.lag.observe(lag / 1000.0);
            }
            if seen.gap.is_some() {
                self.gaps.inc();
                self.gap_count += 1;
            }
        }
        self.emit(out, detectors);
        self.refusals = 0;
    }

    /// A reconnect of the stream for `reason` (counted in
    /// `exwatch_stream_reconnects_total{reason}`); `planned` ones are no churn.
    pub fn reconnected(
        &mut self,
        reason: &'static str,
        planned: bool,
        out: &mut Vec<Reading>,
        detectors: &DetectorSet,
    ) {
        self.reconnects += 1;
        self.metrics
            .counter(
                "exwatch_stream_reconnects_total",
                &[
                    ("exchange", &self.spec.exchange),
                    ("endpoint", &self.spec.name),
                    ("reason", reason),
                ],
            )
            .inc();
        out.clear();
        self.judge
            .reconnected(Timestamp::now().as_millis(), planned, out);
        self.emit(out, detectors);
    }

    /// `n` frames on the stream's connection that are not its protocol, of `kind`.
    pub fn bad_frames(&mut self, kind: &'static str, n: u64) {
        match self.bad.iter().find(|(k, _)| *k == kind) {
            Some((_, c)) => c.add(n),
            None => {
                let c = self.metrics.counter(
                    "exwatch_stream_bad_frames_total",
                    &[
                        ("exchange", &self.spec.exchange),
                        ("endpoint", &self.spec.name),
                        ("kind", kind),
                    ],
                );
                c.add(n);
                self.bad.push((kind, c));
            }
        }
        if !std::mem::replace(&mut self.bad_logged, true) {
            tracing::warn!(exchange = %self.spec.exchange, endpoint = %self.spec.name, kind, "Stream sent a frame that is not its protocol; ignored (counted in exwatch_stream_bad_frames_total).");
        }
    }

    /// The passing of time: silence and the once-a-second readings; the status board is told
    /// once a second.
    pub fn tick(
        &mut self,
        now: Instant,
        now_ms: i64,
        out: &mut Vec<Reading>,
        detectors: &DetectorSet,
        board: Option<&StatusBoard>,
    ) {
        out.clear();
        self.judge.tick(now_ms, out);
        self.emit(out, detectors);
        let silence = self.judge.silence(now_ms);
        self.age.set(silence.as_secs_f64());
        if let Some(lag) = out.iter().rev().find_map(|r| match r {
            Reading::Lag(l) => Some(*l),
            _ => None,
        }) {
            self.last_lag = Some(lag);
        }
        let since_shown = now.duration_since(self.shown.0);
        let Some(board) = board.filter(|_| since_shown >= Duration::from_secs(1)) else {
            return;
        };
        if let Some(skew) = board.clock_skew(&self.spec.exchange) {
            self.judge.set_skew(skew);
        }
        let status = self.judge.status(now_ms, since_shown, self.shown.1);
        let messages = status.messages;
        board.stream(
            &self.spec.exchange,
            &self.spec.name,
            StreamStatus {
                exchange: self.spec.exchange.to_string(),
                endpoint: self.spec.name.to_string(),
                connected: self.source.is_some(),
                lag_ms: self.last_lag,
                reconnects: self.reconnects,
                gaps: self.gap_count,
                source: "exwatch".to_owned(),
                ..status
            },
        );
        self.shown = (now, messages);
        self.shown_at = Some(now_ms);
    }

    /// Readings to the detectors as measurements of the stream's series.
    fn emit(&self, readings: &[Reading], detectors: &DetectorSet) {
        if readings.is_empty() {
            return;
        }
        let at = Timestamp::now();
        for r in readings {
            let (metric, value, outcome) = sample(r);
            let series = match metric {
                Metric::StreamLagMs => &self.keys.lag,
                Metric::StreamSilenceMs => &self.keys.silence,
                Metric::StreamFrozen => &self.keys.frozen,
                Metric::StreamGap => &self.keys.gap,
                _ => &self.keys.reconnects,
            };
            detectors.send(Measurement {
                series: series.clone(),
                value,
                outcome,
                status: 0,
                at,
            });
        }
    }

    /// Leaves the status board (the stream stops): the entry it wrote, not one another
    /// connection wrote since for the same stream.
    pub fn forget(&self, board: &StatusBoard) {
        if let Some(at) = self.shown_at {
            board.forget_stream(&self.spec.exchange, &self.spec.name, at);
        }
    }
}
