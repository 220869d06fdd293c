//! CPU and allocations per stream message: `venue::parse` of a real-shaped frame, its routing
//! by topic on a connection shared by 1 024 streams (`route::Routes`), plus `Judge::on_data`
//! (lag, progress, continuity, cadence) and, once a second of event time, `Judge::tick`, for Binance spot depth, Binance futures depth (`pu`), Bybit v5 orderbook
//! deltas and OKX v5 books updates. The frames are built once, outside the measured loop, with
//! advancing ids and event times, and cycled through.
//!
//! Before Criterion runs, a counting allocator measures the allocations of 100 000 messages per
//! venue (after a warm-up): the target is none beyond the frame (which the socket owns).
//!
//! Target (issue 15): parse + judge ≤ 2 µs per message; no allocation per message.
//!
//! The whole path under load (frames off sockets, 2 000 streams at 10 messages/s) is
//! `benches/stream_load.rs`.

#[path = "common/counting.rs"]
mod counting;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use exwatch::probe::stream::judge::{Judge, Reading};
use exwatch::probe::stream::route::{Route, Routes, TopicKey};
use exwatch::probe::stream::venue::{self, Event};
use exwatch::settings::{StreamChannel, Venue};

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// Frames per venue; a power of two so cycling is a mask.
const FRAMES: usize = 4096;

fn frames(kind: &str) -> Vec<String> {
    (0..FRAMES as i64)
        .map(|i| {
            let (t, first, last) = (1_700_000_000_000 + i * 100, 1000 + 2 * i, 1001 + 2 * i);
            let prev = first - 1;
            match kind {
                "binance" => format!(
                    r#"{{"e":"depthUpdate","E":{t},"s":"BTCUSDT","U":{first},"u":{last},"b":[["65000.10","0.5"],["64999.90","1.25"]],"a":[["65000.20","1.2"]]}}"#
                ),
                "binance_futures" => format!(
                    r#"{{"e":"depthUpdate","E":{t},"T":{t},"s":"BTCUSDT","U":{first},"u":{last},"pu":{prev},"b":[["65000.10","0.5"]],"a":[["65000.20","1.2"]]}}"#
                ),
                "bybit" => format!(
                    r#"{{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":{t},"data":{{"s":"BTCUSDT","b":[["65000.1","0.5"]],"a":[["65000.2","1.2"]],"u":{last},"seq":{last}}},"cts":{t}}}"#
                ),
                _ => format!(
                    r#"{{"arg":{{"channel":"books","instId":"BTC-USDT"}},"action":"update","data":[{{"asks":[["65000.2","1.2","0","3"]],"bids":[["65000.1","0.5","0","1"]],"ts":"{t}","checksum":0,"seqId":{last},"prevSeqId":{prev}}}]}}"#
                ),
            }
        })
        .collect()
}

fn venue_of(kind: &str) -> Venue {
    match kind {
        "binance" | "binance_futures" => Venue::Binance,
        "bybit" => Venue::Bybit,
        _ => Venue::Okx,
    }
}

/// A shared connection's routing table: BTC/USDT among 1 023 other topics.
fn routes(venue: Venue) -> Routes {
    let mut r = Routes::new();
    for i in 0..1023 {
        let key = TopicKey::of_stream(venue, StreamChannel::Depth, &format!("C{i}/USDT"));
        r.insert(key.expect("short symbol"), i + 1);
    }
    let btc = TopicKey::of_stream(venue, StreamChannel::Depth, "BTC/USDT");
    r.insert(btc.expect("short symbol"), 0);
    r
}

/// One message through parse, routing and judge at receive time `now`; the judge's periodic
/// tick when a second has passed.
#[inline]
fn step(
    venue: Venue,
    routes: &Routes,
    judge: &mut Judge,
    frame: &str,
    now: i64,
    out: &mut Vec<Reading>,
) {
    if let Event::Data(d, topic) = venue::parse(venue, frame)
        && let Route::Stream(0) = routes.route(topic.as_ref())
    {
        black_box(judge.on_data(now, &d, out));
    }
    if now % 1000 == 0 {
        judge.tick(now, out);
    }
    out.clear();
}

/// Allocations per message over `n` messages, after a warm-up.
fn allocations(kind: &str, n: usize) -> f64 {
    let venue = venue_of(kind);
    let frames = frames(kind);
    let mut judge = Judge::new(0, None, 12);
    let routes = routes(venue);
    let mut out = Vec::with_capacity(16);
    let mut now = 1_700_000_000_000i64;
    // Frames cycle: ids go back every FRAMES messages, which the judge sees as a gap (an
    // allocation-free path too). Warm up so the reading buffer has its capacity.
    for f in frames.iter().take(FRAMES) {
        now += 100;
        step(venue, &routes, &mut judge, f, now, &mut out);
    }
    let (_, before) = counting::snapshot();
    for i in 0..n {
        now += 100;
        step(
            venue,
            &routes,
            &mut judge,
            &frames[i & (FRAMES - 1)],
            now,
            &mut out,
        );
    }
    let (_, after) = counting::snapshot();
    (after - before) as f64 / n as f64
}

fn bench(c: &mut Criterion) {
    let kinds = ["binance", "binance_futures", "bybit", "okx"];
    for kind in kinds {
        let per = allocations(kind, 100_000);
        println!("stream/{kind}: {per:.4} allocations per message (parse + route + judge)");
    }
    let mut g = c.benchmark_group("stream_parse_judge");
    g.throughput(Throughput::Elements(1));
    for kind in kinds {
        let venue = venue_of(kind);
        let frames = frames(kind);
        let mut judge = Judge::new(0, None, 12);
        let routes = routes(venue);
        let mut out = Vec::with_capacity(16);
        let mut now = 1_700_000_000_000i64;
        let mut i = 0usize;
        g.bench_function(kind, |b| {
            b.iter(|| {
                now += 100;
                step(
                    venue,
                    &routes,
                    &mut judge,
                    &frames[i & (FRAMES - 1)],
                    now,
                    &mut out,
                );
                i += 1;
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
