//! Topic routing on a shared connection, pure: which of the connection's streams a frame
//! belongs to, by the topic the venue writes in it (see [`venue::Topic`]: Binance's event type
//! and symbol or a combined stream's name, Bybit's `topic`, OKX's `arg`).
//!
//! A topic is reduced to a fixed-size [`TopicKey`] (the channel and the symbol, upper-cased
//! into an inline array), so looking a frame's topic up allocates nothing: the venues write
//! the same symbol as `btcusdt` (Binance stream names), `BTCUSDT` (Binance events, Bybit) or
//! `BTC-USDT` (OKX), and each venue's own spellings meet in the key.

use std::collections::HashMap;

use crate::probe::stream::config::{StreamChannel, Venue};
use crate::probe::stream::venue::{self, Topic};

/// The longest symbol a key holds (longer symbols route nowhere; no venue lists one).
pub const MAX_SYMBOL: usize = 30;

/// A topic as a routing key: no allocation to build or to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TopicKey {
    channel: StreamChannel,
    len: u8,
    symbol: [u8; MAX_SYMBOL],
}

impl TopicKey {
    /// The key of `channel` of the venue symbol `symbol`; `None` when the symbol is empty or
    /// longer than [`MAX_SYMBOL`].
    pub fn new(channel: StreamChannel, symbol: &str) -> Option<Self> {
        let b = symbol.as_bytes();
        if b.is_empty() || b.len() > MAX_SYMBOL {
            return None;
        }
        let mut key = Self {
            channel,
            len: b.len() as u8,
            symbol: [0; MAX_SYMBOL],
        };
        for (k, c) in key.symbol.iter_mut().zip(b) {
            *k = c.to_ascii_uppercase();
        }
        Some(key)
    }

    /// The key of a frame's topic; `None` for a channel exwatch does not subscribe to.
    pub fn of(topic: &Topic<'_>) -> Option<Self> {
        Self::new(topic.channel?, topic.symbol)
    }

    /// The key of a configured stream: `channel` of the venue-neutral `symbol` on `venue`.
    pub fn of_stream(venue: Venue, channel: StreamChannel, symbol: &str) -> Option<Self> {
        Self::new(channel, &venue::venue_symbol(venue, symbol))
    }
}

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// To this stream (its index in the connection's pack).
    Stream(usize),
    /// Its topic is none of the connection's: a bad frame (`unknown_topic`).
    Unknown,
}

/// One connection's routing table: topic → stream index.
#[derive(Debug, Default, Clone)]
pub struct Routes {
    map: HashMap<TopicKey, usize>,
}

impl Routes {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `key` to stream `index`; the index it replaced, if any.
    pub fn insert(&mut self, key: TopicKey, index: usize) -> Option<usize> {
        self.map.insert(key, index)
    }

    /// Stops routing stream `index`.
    pub fn remove(&mut self, index: usize) {
        self.map.retain(|_, i| *i != index);
    }

    /// True when stream `index` is routed here.
    pub fn contains(&self, index: usize) -> bool {
        self.map.values().any(|i| *i == index)
    }

    /// The streams routed here.
    pub fn streams(&self) -> impl Iterator<Item = usize> + '_ {
        self.map.values().copied()
    }

    /// Streams routed here.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no stream is routed here.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The stream a topic belongs to. A frame naming no topic goes to the connection's only
    /// stream when it has exactly one (a frame shape that carries no topic, as before
    /// sharing); with several it cannot be told and is [`Route::Unknown`].
    pub fn route(&self, topic: Option<&Topic<'_>>) -> Route {
        match topic {
            Some(t) => TopicKey::of(t)
                .and_then(|k| self.map.get(&k).copied())
                .map_or(Route::Unknown, Route::Stream),
            None if self.map.len() == 1 => self
                .map
                .values()
                .next()
                .copied()
                .map_or(Route::Unknown, Route::Stream),
            None => Route::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::stream::venue::{Event, parse};

    fn topic_of(venue: Venue, frame: &str) -> Option<Topic<'_>> {
        match parse(venue, frame) {
            Event::Data(_, t) => t,
            other => panic!("not data: {other:?}"),
        }
    }

    #[test]
    fn each_venues_spelling_meets_the_configured_stream() {
        let mut r = Routes::new();
        let k = |v, c, s| TopicKey::of_stream(v, c, s).unwrap();
        r.insert(k(Venue::Binance, StreamChannel::Depth, "BTC/USDT"), 0);
        r.insert(k(Venue::Binance, StreamChannel::Trades, "BTC/USDT"), 1);
        r.insert(k(Venue::Binance, StreamChannel::Ticker, "ETH/USDT"), 2);
        r.insert(k(Venue::Binance, StreamChannel::Depth, "ETH/USDT"), 3);
        let cases = [
            (
                r#"{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}"#,
                Route::Stream(0),
            ),
            (
                r#"{"e":"trade","E":1,"T":1,"s":"BTCUSDT","t":5}"#,
                Route::Stream(1),
            ),
            (r#"{"u":7,"s":"ETHUSDT","b":"1"}"#, Route::Stream(2)),
            (
                r#"{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"ETHUSDT","U":1,"u":2}}"#,
                Route::Stream(3),
            ),
            // Combined wrapper without a symbol inside: the stream name routes.
            (
                r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":5,"T":4,"t":1}}"#,
                Route::Stream(1),
            ),
            (
                r#"{"e":"depthUpdate","E":1,"s":"SOLUSDT","U":1,"u":2}"#,
                Route::Unknown,
            ),
            (r#"{"e":"kline","E":1,"s":"BTCUSDT"}"#, Route::Unknown),
        ];
        for (frame, want) in cases {
            let t = topic_of(Venue::Binance, frame);
            assert_eq!(r.route(t.as_ref()), want, "{frame}");
        }
        // No topic at all: unknown with several streams, the only one with one.
        let bare = topic_of(Venue::Binance, r#"{"e":"depthUpdate","E":1,"U":1,"u":2}"#);
        assert_eq!(bare, None);
        assert_eq!(r.route(None), Route::Unknown);
        let mut one = Routes::new();
        one.insert(k(Venue::Binance, StreamChannel::Depth, "BTC/USDT"), 4);
        assert_eq!(one.route(None), Route::Stream(4));

        let mut b = Routes::new();
        b.insert(k(Venue::Bybit, StreamChannel::Depth, "BTC/USDT"), 0);
        b.insert(k(Venue::Bybit, StreamChannel::Depth, "ETH/USDT"), 1);
        let t = topic_of(
            Venue::Bybit,
            r#"{"topic":"orderbook.50.ETHUSDT","type":"delta","ts":1,"data":{"u":2}}"#,
        );
        assert_eq!(b.route(t.as_ref()), Route::Stream(1));
        let t = topic_of(
            Venue::Bybit,
            r#"{"topic":"publicTrade.ETHUSDT","type":"snapshot","ts":1,"data":[]}"#,
        );
        assert_eq!(b.route(t.as_ref()), Route::Unknown);

        let mut o = Routes::new();
        o.insert(k(Venue::Okx, StreamChannel::Depth, "BTC/USDT"), 0);
        o.insert(k(Venue::Okx, StreamChannel::Ticker, "BTC/USDT"), 1);
        let t = topic_of(
            Venue::Okx,
            r#"{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"ts":"1"}]}"#,
        );
        assert_eq!(o.route(t.as_ref()), Route::Stream(1));
        let t = topic_of(
            Venue::Okx,
            r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"ts":"1","seqId":2,"prevSeqId":1}]}"#,
        );
        assert_eq!(o.route(t.as_ref()), Route::Stream(0));
    }

    #[test]
    fn the_table_is_kept_per_stream() {
        let mut r = Routes::new();
        let a = TopicKey::new(StreamChannel::Depth, "BTCUSDT").unwrap();
        let b = TopicKey::new(StreamChannel::Depth, "ethusdt").unwrap();
        r.insert(a, 0);
        r.insert(b, 1);
        assert!(r.contains(1));
        r.remove(1);
        assert!(!r.contains(1));
        assert_eq!(r.len(), 1);
        assert!(TopicKey::new(StreamChannel::Depth, "").is_none());
        assert!(TopicKey::new(StreamChannel::Depth, &"X".repeat(MAX_SYMBOL + 1)).is_none());
        assert_eq!(
            TopicKey::new(StreamChannel::Depth, "btcusdt"),
            TopicKey::new(StreamChannel::Depth, "BTCUSDT")
        );
    }
}
