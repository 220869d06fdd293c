//! Packing streams onto shared connections, pure: which streams share one WebSocket
//! connection, and how many topics one subscribe request carries.
//!
//! Streams share a connection when they belong to the same exchange, speak the same venue
//! profile, use the same URL and the same connection settings (frame bound, lifetime,
//! heartbeat, timeout); each connection takes up to the venue's maximum of streams (or the
//! exchange's `streams_per_connection`), and never two streams of one topic (a frame could not
//! tell them apart: the second goes to the next connection).
//!
//! | venue | streams per connection | topics per subscribe request | source |
//! |---|---|---|---|
//! | Binance | 1 024 | 200 | 1024 streams per connection (apis.md A5); the request size is undocumented, clients batch 200–250 |
//! | Bybit | 200 | 10 | spot takes ≤ 10 args per subscribe (A5); no per-connection limit documented, 200 kept |
//! | OKX | 200 | 20 | 480 subscribes an hour per connection and a bounded request size (A5); no per-connection limit documented, 200 kept |

use std::collections::HashMap;
use std::time::Duration;

use crate::probe::stream::config::{StreamSettings, Venue};
use crate::probe::stream::route::TopicKey;

/// The most streams one connection of `venue` carries.
pub fn max_streams_per_connection(venue: Venue) -> usize {
    match venue {
        Venue::Binance => 1024,
        Venue::Bybit | Venue::Okx => 200,
    }
}

/// The most topics one subscribe request of `venue` carries.
pub fn topics_per_request(venue: Venue) -> usize {
    match venue {
        Venue::Binance => 200,
        Venue::Bybit => 10,
        Venue::Okx => 20,
    }
}

/// What streams sharing a connection must have in common.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Shared<'a> {
    exchange: &'a str,
    venue: Venue,
    url: &'a str,
    max_frame_bytes: usize,
    lifetime: Option<Duration>,
    heartbeat: Option<Duration>,
    timeout: Duration,
}

impl<'a> Shared<'a> {
    fn of(s: &'a StreamSettings) -> Self {
        Self {
            exchange: &s.exchange,
            venue: s.venue,
            url: &s.url,
            max_frame_bytes: s.max_frame_bytes,
            lifetime: s.lifetime,
            heartbeat: s.heartbeat,
            timeout: s.timeout,
        }
    }
}

/// The streams per connection of `s`: its exchange's `streams_per_connection`, or the venue's
/// maximum (never more).
pub fn capacity(s: &StreamSettings) -> usize {
    let max = max_streams_per_connection(s.venue);
    s.streams_per_connection.map_or(max, |n| n.clamp(1, max))
}

/// Packs `streams` onto connections: each returned pack is the indexes (into `streams`, in
/// configuration order) of the streams one connection carries. Packs come in the order of
/// their first stream.
pub fn pack(streams: &[StreamSettings]) -> Vec<Vec<usize>> {
    let mut packs: Vec<Vec<usize>> = Vec::new();
    // Per sharing group: the packs still open (with room), and their topics.
    let mut open: HashMap<Shared<'_>, Vec<(usize, Vec<TopicKey>)>> = HashMap::new();
    for (i, s) in streams.iter().enumerate() {
        let cap = capacity(s);
        let key = TopicKey::of_stream(s.venue, s.channel, &s.symbol);
        let group = open.entry(Shared::of(s)).or_default();
        let slot = group
            .iter_mut()
            .find(|(p, topics)| packs[*p].len() < cap && key.is_none_or(|k| !topics.contains(&k)));
        match slot {
            Some((p, topics)) => {
                packs[*p].push(i);
                topics.extend(key);
            }
            None => {
                packs.push(vec![i]);
                group.push((packs.len() - 1, key.into_iter().collect()));
            }
        }
        group.retain(|(p, _)| packs[*p].len() < cap);
    }
    packs
}

/// Splits `n` topics into subscribe requests of `venue`: the ranges of each request.
pub fn requests(venue: Venue, n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let per = topics_per_request(venue);
    (0..n)
        .step_by(per)
        .map(move |start| start..(start + per).min(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::Name;
    use crate::probe::stream::config::StreamChannel;

    fn stream(exchange: &str, venue: Venue, url: &str, symbol: &str) -> StreamSettings {
        StreamSettings {
            exchange: Name::from(exchange),
            name: Name::from(format!("{}-{}", symbol.replace('/', ""), url.len())),
            url: url.to_owned(),
            venue,
            channel: StreamChannel::Depth,
            symbol: symbol.to_owned(),
            stale_after: None,
            max_frame_bytes: 1 << 20,
            lifetime: venue.default_lifetime(),
            reconnects_per_hour: 12,
            heartbeat: None,
            timeout: Duration::from_secs(10),
            streams_per_connection: None,
        }
    }

    #[test]
    fn streams_of_one_exchange_venue_and_url_share_up_to_the_venues_maximum() {
        let mut s: Vec<_> = (0..2500)
            .map(|i| {
                stream(
                    "binance",
                    Venue::Binance,
                    "ws://a/ws",
                    &format!("C{i}/USDT"),
                )
            })
            .collect();
        // Another URL, another exchange, other connection settings: never shared with those.
        s.push(stream("binance", Venue::Binance, "ws://b/ws", "BTC/USDT"));
        s.push(stream("binance2", Venue::Binance, "ws://a/ws", "BTC/USDT"));
        let mut other = stream("binance", Venue::Binance, "ws://a/ws", "XRP/USDT");
        other.max_frame_bytes = 4096;
        s.push(other);
        let packs = pack(&s);
        let sizes: Vec<_> = packs.iter().map(Vec::len).collect();
        assert_eq!(sizes, [1024, 1024, 452, 1, 1, 1]);
        assert_eq!(packs[3], [2500]);
        // Every stream once.
        let mut all: Vec<_> = packs.concat();
        all.sort_unstable();
        assert_eq!(all, (0..s.len()).collect::<Vec<_>>());
    }

    #[test]
    fn the_exchange_key_sets_the_size_and_a_topic_never_repeats_on_a_connection() {
        let mut s: Vec<_> = (0..7)
            .map(|i| {
                let mut x = stream("bybit", Venue::Bybit, "ws://a", &format!("C{i}/USDT"));
                x.streams_per_connection = Some(3);
                x
            })
            .collect();
        // The same topic twice (two endpoints of one symbol): the second goes elsewhere.
        let mut dup = s[0].clone();
        dup.name = Name::from("dup");
        s.insert(1, dup);
        let packs = pack(&s);
        assert_eq!(packs, [vec![0, 2, 3], vec![1, 4, 5], vec![6, 7]]);
        // Never more than the venue allows.
        let mut big = stream("okx", Venue::Okx, "ws://o", "BTC/USDT");
        big.streams_per_connection = Some(5000);
        assert_eq!(capacity(&big), 200);
    }

    #[test]
    fn subscribe_requests_carry_the_venues_topics_per_request() {
        let r: Vec<_> = requests(Venue::Bybit, 25).collect();
        assert_eq!(r, [0..10, 10..20, 20..25]);
        assert_eq!(requests(Venue::Binance, 1024).count(), 6);
        assert_eq!(requests(Venue::Okx, 0).count(), 0);
    }
}
