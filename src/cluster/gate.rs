//! [`ClusterGate`]: the thin actor between the detectors and the Router when `[cluster]` is
//! set. Every anomaly and resolution passes through to the Router, except an exchange's
//! `availability` (its breaker): that is this vantage's vote, written to the shared verdicts
//! ([`Backlog::set_verdicts`]), and what the Router hears of the series is the quorum's
//! [`Outcome`] instead — `circuit_open` (critical) when the quorum sees the exchange down,
//! `vantage_down` (warning) naming the vantages when fewer do, a resolution when none does.
//! The same outcome from the same table gives the same alert on every vantage.
//!
//! It re-reads every vantage's votes when woken (`LISTEN exwatch_verdicts`, [`Wake`]) and
//! once a second, and reports its own verdicts (the heartbeat) as often. While the shared
//! table cannot be read for `vantage_stale_after`, the vantage decides alone (its own vote,
//! quorum one): the desk hears of an outage twice rather than never.
//!
//! An exchange's failures seen from here alone (its `errors` series at critical) go to the
//! Router held at warning while the quorum does not see it down ([`cap_local`]).
//!
//! When every exchange is down here at once (our own network), the vantage has no vote and
//! one `monitor_connectivity` alert (exchange `exwatch`) says so, as without a cluster.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, AsyncContext, Context, Handler, Message, Recipient, WrapFuture,
};

use crate::cluster::ClusterError;
use crate::cluster::backlog::Backlog;
use crate::cluster::quorum::{Outcome, Vote, cap_local, decide, describe};
use crate::cluster::rows::VerdictState;
use crate::cluster::vantage::Vantage;
use crate::messages::{Anomaly, Metric, Name, Resolved, SeriesKey, Severity, Stats, Timestamp};
use crate::route::ForgetSeries;
use crate::route::connectivity::OWN_EXCHANGE;
use crate::route::correlation::{CANARY_EXCHANGE, DOWN_DETECTOR};

/// The detector of the warning "unreachable from some vantages".
pub const VANTAGE_DOWN_DETECTOR: &str = "vantage_down";

/// How often the gate reports its verdicts and re-reads everyone's.
pub const TICK: Duration = Duration::from_secs(1);

/// Re-read the shared verdicts now (a vantage's changed).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct Wake;

/// The exchanges this vantage probes changed (a live reload).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Exchanges(pub Vec<String>);

/// Every vantage's votes as read from PostgreSQL (other vantages only; this one's is local).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
struct Votes(Vec<(String, Vote)>);

/// Where the gate sends what passes.
pub struct GateOutputs {
    /// The Router's anomalies.
    pub anomalies: Recipient<Anomaly>,
    /// The Router's resolutions.
    pub resolved: Recipient<Resolved>,
    /// The Router's forgetting of removed series (after what passed before it).
    pub forget: Recipient<ForgetSeries>,
}

/// The per-exchange state of the quorum, as the Router last heard it.
#[derive(Debug, Clone)]
struct Told {
    outcome: Outcome,
    since: Timestamp,
}

/// The gate. See the module docs.
pub struct ClusterGate {
    region: String,
    quorum: usize,
    stale_after: Duration,
    vantage: Vantage,
    backlog: Arc<Backlog>,
    pool: deadpool_postgres::Pool,
    out: GateOutputs,
    /// Other vantages' votes, by exchange, as last read.
    shared: HashMap<String, Vec<Vote>>,
    /// When the shared votes were last read.
    read_at: Option<Instant>,
    reading: bool,
    /// Woken while reading: read again once this read is in.
    again: bool,
    told: BTreeMap<String, Told>,
    connectivity_lost: bool,
}

impl ClusterGate {
    /// A gate for vantage `region` probing `exchanges`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        region: &str,
        exchanges: impl IntoIterator<Item = String>,
        quorum: usize,
        stale_after: Duration,
        backlog: Arc<Backlog>,
        pool: deadpool_postgres::Pool,
        out: GateOutputs,
    ) -> Self {
        Self {
            region: region.to_owned(),
            quorum,
            stale_after,
            vantage: Vantage::new(exchanges, Timestamp::now()),
            backlog,
            pool,
            out,
            shared: HashMap::new(),
            read_at: None,
            reading: false,
            again: false,
            told: BTreeMap::new(),
            connectivity_lost: false,
        }
    }

    /// Whether `series`/`detector` is an exchange's breaker, this vantage's vote.
    fn is_vote(&self, series: &SeriesKey) -> bool {
        series.metric == Metric::Availability
            && &*series.exchange != OWN_EXCHANGE
            && &*series.exchange != CANARY_EXCHANGE
            && self.vantage.knows(&series.exchange)
    }

    /// The vantage's verdicts to the writer, then the quorum.
    fn changed(&mut self) {
        self.backlog.set_verdicts(self.vantage.verdicts());
        self.connectivity();
        self.evaluate();
    }

    /// Tells the Router when our own connectivity is lost or restored.
    fn connectivity(&mut self) {
        let lost = !self.vantage.self_healthy();
        if lost == self.connectivity_lost {
            return;
        }
        self.connectivity_lost = lost;
        let series = SeriesKey::new(OWN_EXCHANGE, "*", Metric::Availability);
        let now = Timestamp::now();
        if lost {
            self.out.anomalies.do_send(Anomaly {
                series,
                detector: Name::from("monitor_connectivity"),
                severity: Severity::Critical,
                value: 1.0,
                threshold: 0.0,
                confidence: 1.0,
                message: format!(
                    "every exchange is down from {} at once: most likely its own network; \
                     it has no vote in the cluster's quorum meanwhile",
                    self.region
                ),
                started_at: now,
                at: now,
                stats: Stats::default(),
            });
        } else {
            self.out.resolved.do_send(Resolved {
                series,
                at: now,
                stats: Stats::default(),
            });
        }
    }

    /// Every exchange's outcome from this vantage's vote and the others', told to the Router
    /// when it changed (and again each tick while not up: the Router deduplicates, and
    /// reminds after its window as for any series).
    fn evaluate(&mut self) {
        let shared_fresh = self
            .read_at
            .is_some_and(|t| t.elapsed() <= self.stale_after);
        let own = self.vantage.verdicts();
        let now = Timestamp::now();
        for v in own.verdicts {
            let mine = Vote {
                region: self.region.clone(),
                state: v.state,
                fresh: true,
                self_healthy: own.self_healthy,
            };
            let outcome = if shared_fresh {
                let mut votes = self.shared.get(&v.exchange).cloned().unwrap_or_default();
                votes.retain(|o| o.region != self.region);
                votes.push(mine);
                decide(&votes, self.quorum)
            } else {
                // The shared view is away: decide alone (fail open).
                decide(&[mine], 1)
            };
            self.tell(&v.exchange, outcome, now);
        }
    }

    fn tell(&mut self, exchange: &str, outcome: Outcome, now: Timestamp) {
        let previous = self.told.get(exchange).map(|t| t.outcome.clone());
        let since = match (&previous, &outcome) {
            (Some(p), o) if std::mem::discriminant(p) == std::mem::discriminant(o) => {
                self.told.get(exchange).map_or(now, |t| t.since)
            }
            _ => now,
        };
        let series = SeriesKey::new(exchange, "*", Metric::Availability);
        let started_at = self
            .told
            .get(exchange)
            .filter(|t| t.outcome != Outcome::Up)
            .map_or(now, |t| t.since);
        match &outcome {
            Outcome::Up => {
                if previous.is_some_and(|p| p != Outcome::Up) {
                    self.out.resolved.do_send(Resolved {
                        series,
                        at: now,
                        stats: Stats::default(),
                    });
                }
            }
            Outcome::Unreachable { from, .. } | Outcome::Down { from, .. } => {
                let (detector, severity) = match outcome {
                    Outcome::Down { .. } => (DOWN_DETECTOR, Severity::Critical),
                    _ => (VANTAGE_DOWN_DETECTOR, Severity::Warning),
                };
                self.out.anomalies.do_send(Anomaly {
                    series,
                    detector: Name::from(detector),
                    severity,
                    value: from.len() as f64,
                    threshold: self.quorum as f64,
                    confidence: 1.0,
                    message: describe(exchange, &outcome, self.quorum),
                    started_at,
                    at: now,
                    stats: Stats::default(),
                });
            }
        }
        self.told
            .insert(exchange.to_owned(), Told { outcome, since });
    }

    /// Reads every other vantage's votes (async); the answer arrives as [`Votes`].
    fn read(&mut self, ctx: &mut Context<Self>) {
        if self.reading {
            self.again = true;
            return;
        }
        self.reading = true;
        let (pool, region, stale) = (self.pool.clone(), self.region.clone(), self.stale_after);
        let fut = async move { read_votes(&pool, &region, stale).await };
        ctx.spawn(fut.into_actor(self).map(|res, act, ctx| {
            act.reading = false;
            match res {
                Ok(votes) => ctx.notify(Votes(votes)),
                Err(e) => tracing::debug!(error = %e, "Cannot read the shared verdicts."),
            }
            if std::mem::take(&mut act.again) {
                act.read(ctx);
            }
        }));
    }
}

/// The votes of every vantage but `region`, each with its exchange.
pub async fn read_votes(
    pool: &deadpool_postgres::Pool,
    region: &str,
    stale: Duration,
) -> Result<Vec<(String, Vote)>, ClusterError> {
    let client = tokio::time::timeout(Duration::from_secs(2), pool.get())
        .await
        .map_err(|_| ClusterError::Timeout(Duration::from_secs(2)))?
        .map_err(|e| ClusterError::Pool(e.to_string()))?;
    let rows = client
        .query(
            "SELECT v.region, v.exchange, v.state, g.self_healthy, \
             (now() - g.last_seen) <= make_interval(secs => $2) AS fresh \
             FROM exwatch_verdicts v JOIN exwatch_vantages g USING (region) \
             WHERE v.region <> $1",
            &[&region, &stale.as_secs_f64()],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let exchange: String = r.get(1);
            let vote = Vote {
                region: r.get(0),
                state: VerdictState::parse(r.get(2)),
                self_healthy: r.get(3),
                fresh: r.get(4),
            };
            (exchange, vote)
        })
        .collect())
}

impl Actor for ClusterGate {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.backlog.set_verdicts(self.vantage.verdicts());
        self.read(ctx);
        ctx.run_interval(TICK, |act, ctx| {
            act.backlog.set_verdicts(act.vantage.verdicts());
            act.read(ctx);
            act.evaluate();
        });
    }
}

impl Handler<Anomaly> for ClusterGate {
    type Result = ();

    fn handle(&mut self, mut a: Anomaly, _: &mut Context<Self>) {
        if self.is_vote(&a.series) {
            if self.vantage.set_down(&a.series.exchange, true, a.at) {
                self.changed();
            }
            return;
        }
        if &*a.series.exchange == CANARY_EXCHANGE
            && a.series.metric == Metric::Availability
            && self.vantage.set_canaries_down(true)
        {
            self.changed();
        }
        let outcome = self.told.get(&*a.series.exchange).map(|t| &t.outcome);
        cap_local(&mut a, outcome, &self.region);
        self.out.anomalies.do_send(a);
    }
}

impl Handler<Resolved> for ClusterGate {
    type Result = ();

    fn handle(&mut self, r: Resolved, _: &mut Context<Self>) {
        if self.is_vote(&r.series) {
            if self.vantage.set_down(&r.series.exchange, false, r.at) {
                self.changed();
            }
            return;
        }
        if &*r.series.exchange == CANARY_EXCHANGE
            && r.series.metric == Metric::Availability
            && self.vantage.set_canaries_down(false)
        {
            self.changed();
        }
        self.out.resolved.do_send(r);
    }
}

impl Handler<ForgetSeries> for ClusterGate {
    type Result = ();

    /// Passed on behind every anomaly the removed series sent through the gate before it, so
    /// none reaches the Router after the forget that resolves its incident.
    fn handle(&mut self, forget: ForgetSeries, _: &mut Context<Self>) {
        self.out.forget.do_send(forget);
    }
}

impl Handler<Exchanges> for ClusterGate {
    type Result = ();

    fn handle(&mut self, Exchanges(names): Exchanges, _: &mut Context<Self>) {
        self.vantage.set_exchanges(names, Timestamp::now());
        // A removed exchange's series is forgotten by the Router (its open incident resolved).
        let kept: Vec<String> = self.vantage.exchanges().cloned().collect();
        self.told.retain(|x, _| kept.contains(x));
        self.changed();
    }
}

impl Handler<Wake> for ClusterGate {
    type Result = ();

    fn handle(&mut self, _: Wake, ctx: &mut Context<Self>) {
        self.read(ctx);
    }
}

impl Handler<Votes> for ClusterGate {
    type Result = ();

    fn handle(&mut self, Votes(votes): Votes, _: &mut Context<Self>) {
        let mut shared: HashMap<String, Vec<Vote>> = HashMap::new();
        for (exchange, vote) in votes {
            shared.entry(exchange).or_default().push(vote);
        }
        self.shared = shared;
        self.read_at = Some(Instant::now());
        self.evaluate();
    }
}
