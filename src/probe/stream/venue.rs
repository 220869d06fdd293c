//! The venues' public stream protocols, pure: the subscribe message, what a text frame is
//! (data, acknowledgement, refusal, pong, announced shutdown) and, for data, the fields that
//! carry event time and sequence. Nothing is allocated per message: data frames are read by
//! the hand [`scan`]ner (serde would allocate its scratch buffer to skip a book's nested
//! arrays), the rare control frames (acknowledgements, errors, pongs, notices) by serde with
//! fields borrowed from the frame.
//!
//! | venue | subscribe → ack | heartbeat | event time | sequence |
//! |---|---|---|---|---|
//! | Binance | `{"method":"SUBSCRIBE","params":[…],"id":1}` → `{"result":null,"id":1}` | server ping frames, answered | `E` (trade `T`) | `U`/`u`, futures `pu` |
//! | Bybit v5 | `{"op":"subscribe","args":[…]}` → `{"success":true,"op":"subscribe"}` | `{"op":"ping"}` every 20 s | `ts` (`cts`) | `u` (`u = 1` and snapshots reset), `seq` |
//! | OKX v5 | `{"op":"subscribe","args":[{…}]}` → `{"event":"subscribe"}` | text `ping` before 30 s of silence | `ts` (a string) | `seqId`/`prevSeqId` (snapshot: `-1`) |

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, Visitor};
use serde_json::value::RawValue;

use crate::probe::stream::config::{StreamChannel, Venue};
use crate::probe::stream::scan;

/// The topic a frame names: the channel (when it is one exwatch subscribes to) and the
/// venue's symbol, borrowed from the frame. Routing on a shared connection goes by it (see
/// [`crate::probe::stream::route`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topic<'a> {
    /// The channel, `None` for one exwatch does not subscribe to (routed nowhere).
    pub channel: Option<StreamChannel>,
    /// The venue's symbol as the frame writes it (`BTCUSDT`, `btcusdt`, `BTC-USDT`).
    pub symbol: &'a str,
}

/// What an acknowledgement or a refusal says it answers: the request id the venue echoes
/// (Binance `id`, Bybit `req_id`) and the topic it names (OKX `arg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reply<'a> {
    /// The request id, when echoed.
    pub id: Option<u64>,
    /// The topic, when named.
    pub topic: Option<Topic<'a>>,
}

/// What one text frame is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// A market-data message and the topic it names (`None`: the frame names none).
    Data(Data, Option<Topic<'a>>),
    /// A subscription was acknowledged.
    Ack(Reply<'a>),
    /// The venue refused a subscription or reported an error (its text).
    Refused(&'a str, Reply<'a>),
    /// The answer to our application-level ping.
    Pong,
    /// The venue announced it will close the connection (Binance `serverShutdown`, OKX's
    /// service-upgrade notice): a planned cut.
    Shutdown,
    /// Valid, and of no interest (another venue event).
    Other,
    /// Not a frame of this venue's protocol (not JSON, wrong shape).
    Garbage,
}

/// The progress fields of one data message (milliseconds and update ids).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Data {
    /// The exchange's event time, ms since the epoch.
    pub event_time: Option<i64>,
    /// The first update id the message covers (Binance `U`).
    pub first_id: Option<i64>,
    /// The last update id it covers (Binance `u`, Bybit `u`, OKX `seqId`).
    pub last_id: Option<i64>,
    /// The id the previous message must have ended at (Binance futures `pu`, OKX `prevSeqId`).
    pub prev_id: Option<i64>,
    /// The message replaces the state (a snapshot, Bybit `u = 1`): continuity starts afresh.
    pub reset: bool,
}

/// How a venue keeps a connection alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The server sends ping frames; we answer them (Binance).
    AnswerPings,
    /// We send this text every interval (Bybit `{"op":"ping"}`, OKX `ping` when silent).
    Send(&'static str),
}

/// The venue's heartbeat.
pub fn heartbeat(venue: Venue) -> Heartbeat {
    match venue {
        Venue::Binance => Heartbeat::AnswerPings,
        Venue::Bybit => Heartbeat::Send(r#"{"op":"ping"}"#),
        Venue::Okx => Heartbeat::Send("ping"),
    }
}

/// The venue's heartbeat interval: Bybit recommends 20 s; OKX closes after 30 s of silence,
/// so we ping after 20 s without a frame; Binance pings us (every 20 s).
pub fn heartbeat_interval(_venue: Venue) -> Duration {
    Duration::from_secs(20)
}

/// The incoming-message limit our messages on one connection are paced under: Binance counts
/// every message, pongs included, against 5 a second (10 for futures: the spot limit is kept);
/// Bybit and OKX document no per-second limit for public streams (OKX counts subscribes per
/// hour), so 10 a second is kept as a courtesy.
pub fn messages_per_second(venue: Venue) -> u32 {
    match venue {
        Venue::Binance => 5,
        Venue::Bybit | Venue::Okx => 10,
    }
}

/// The venue's name for `symbol` (`BTC/USDT` → `btcusdt`, `BTCUSDT`, `BTC-USDT`).
pub fn venue_symbol(venue: Venue, symbol: &str) -> String {
    let (base, quote) = symbol.split_once('/').unwrap_or((symbol, ""));
    match venue {
        Venue::Binance => format!("{base}{quote}").to_ascii_lowercase(),
        Venue::Bybit => format!("{base}{quote}").to_ascii_uppercase(),
        Venue::Okx => format!("{base}-{quote}").to_ascii_uppercase(),
    }
}

/// The venue's stream name of `channel`, without the symbol (Binance `depth@100ms`, Bybit
/// `orderbook.50.`, OKX `books`).
fn channel_name(venue: Venue, channel: StreamChannel) -> &'static str {
    match (venue, channel) {
        (Venue::Binance, StreamChannel::Depth) => "depth@100ms",
        (Venue::Binance, StreamChannel::Trades) => "trade",
        (Venue::Binance, StreamChannel::Ticker) => "bookTicker",
        (Venue::Bybit, StreamChannel::Depth) => "orderbook.50.",
        (Venue::Bybit, StreamChannel::Trades) => "publicTrade.",
        (Venue::Bybit, StreamChannel::Ticker) => "tickers.",
        (Venue::Okx, StreamChannel::Depth) => "books",
        (Venue::Okx, StreamChannel::Trades) => "trades",
        (Venue::Okx, StreamChannel::Ticker) => "tickers",
    }
}

/// The subscribe message for `channel` of `symbol`, request id `id`.
pub fn subscribe(venue: Venue, channel: StreamChannel, symbol: &str, id: u64) -> String {
    subscribe_many(venue, &[(channel, symbol)], id)
}

/// One subscribe message for several topics (`(channel, venue-neutral symbol)`), request id
/// `id`: Binance's `params` list, Bybit's and OKX's `args`. How many fit in one request is
/// [`crate::probe::stream::pack::topics_per_request`]'s business.
pub fn subscribe_many(venue: Venue, topics: &[(StreamChannel, &str)], id: u64) -> String {
    let args = topics
        .iter()
        .map(|&(channel, symbol)| {
            let s = venue_symbol(venue, symbol);
            let ch = channel_name(venue, channel);
            match venue {
                Venue::Binance => format!(r#""{s}@{ch}""#),
                Venue::Bybit => format!(r#""{ch}{s}""#),
                Venue::Okx => format!(r#"{{"channel":"{ch}","instId":"{s}"}}"#),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    match venue {
        Venue::Binance => format!(r#"{{"method":"SUBSCRIBE","params":[{args}],"id":{id}}}"#),
        Venue::Bybit => format!(r#"{{"op":"subscribe","args":[{args}],"req_id":"{id}"}}"#),
        Venue::Okx => format!(r#"{{"op":"subscribe","args":[{args}]}}"#),
    }
}

/// The unsubscribe message of [`subscribe_many`]'s topics (before asking a stalled topic
/// again: a venue ignores a subscribe to what it thinks is subscribed).
pub fn unsubscribe_many(venue: Venue, topics: &[(StreamChannel, &str)], id: u64) -> String {
    subscribe_many(venue, topics, id)
        .replacen("\"SUBSCRIBE\"", "\"UNSUBSCRIBE\"", 1)
        .replacen("\"subscribe\"", "\"unsubscribe\"", 1)
}

/// What the text frame `text` of `venue` is. Never panics, never allocates (an error text
/// with JSON escapes is reported as a fixed text rather than unescaped).
pub fn parse(venue: Venue, text: &str) -> Event<'_> {
    // Data frames (nearly all of them) are read by a hand scan that allocates nothing (serde
    // would, to skip the nested arrays of a book); the rare control frames by serde.
    let fast = match venue {
        Venue::Binance => binance_fast(text),
        Venue::Bybit => bybit_fast(text),
        Venue::Okx => okx_fast(text),
    };
    match (fast, venue) {
        (Some(event), _) => event,
        (None, Venue::Binance) => binance_control(text),
        (None, Venue::Bybit) => bybit_control(text),
        (None, Venue::Okx) => okx_control(text),
    }
}

/// An integer member, `null` as absent; anything else marks the frame bad.
fn num(raw: &str, ok: &mut bool) -> Option<i64> {
    if raw == "null" {
        return None;
    }
    let n = scan::int(raw);
    *ok &= n.is_some();
    n
}

/// A string member; anything else marks the frame bad.
fn str_member<'a>(raw: &'a str, ok: &mut bool) -> Option<&'a str> {
    let s = scan::string(raw);
    *ok &= s.is_some();
    s
}

/// The channel of a Binance event type (`e`); a `bookTicker` carries none.
fn binance_channel(e: Option<&str>) -> Option<StreamChannel> {
    match e {
        Some("depthUpdate") => Some(StreamChannel::Depth),
        Some("trade" | "aggTrade") => Some(StreamChannel::Trades),
        Some("bookTicker") | None => Some(StreamChannel::Ticker),
        Some(_) => None,
    }
}

/// The topic of a Binance stream name (`btcusdt@depth@100ms`, a combined stream's `stream`).
fn binance_stream_topic(name: &str) -> Topic<'_> {
    let (symbol, rest) = name.split_once('@').unwrap_or((name, ""));
    let channel = if rest.starts_with("depth") {
        Some(StreamChannel::Depth)
    } else if rest == "trade" || rest == "aggTrade" {
        Some(StreamChannel::Trades)
    } else if rest == "bookTicker" {
        Some(StreamChannel::Ticker)
    } else {
        None
    };
    Topic { channel, symbol }
}

/// Binance's data path: `Some` for an event (data, shutdown) or garbage, `None` for a control
/// frame (acknowledgement, error) left to serde. The topic is the event type `e` and the
/// symbol `s` of a raw `/ws` frame, or a combined stream's `stream`.
fn binance_fast(text: &str) -> Option<Event<'_>> {
    let Some(mut members) = scan::members(text) else {
        return Some(Event::Garbage);
    };
    let (mut ok, mut control) = (true, false);
    let (mut e, mut event_time, mut trade_time, mut data) = (None, None, None, None);
    let (mut symbol, mut stream) = (None, None);
    let mut d = Data::default();
    for (k, v) in members.by_ref() {
        match k {
            "e" => e = str_member(v, &mut ok),
            "E" => event_time = num(v, &mut ok),
            "T" => trade_time = num(v, &mut ok),
            "U" => d.first_id = num(v, &mut ok),
            "u" => d.last_id = num(v, &mut ok),
            "pu" => d.prev_id = num(v, &mut ok),
            "s" => symbol = str_member(v, &mut ok),
            "stream" => stream = str_member(v, &mut ok),
            "data" => data = Some(v),
            "id" | "result" | "code" | "msg" | "error" => control = true,
            _ => {}
        }
    }
    if members.broken() || !ok {
        return Some(Event::Garbage);
    }
    let topic = symbol.map(|symbol| Topic {
        channel: binance_channel(e),
        symbol,
    });
    match (e, data) {
        (Some("serverShutdown"), _) => Some(Event::Shutdown),
        (Some(_), _) => Some(Event::Data(
            Data {
                event_time: event_time.or(trade_time),
                ..d
            },
            topic,
        )),
        // A combined stream wraps each event: `{"stream":"…","data":{…}}`.
        (None, Some(inner)) if !control => Some(match parse(Venue::Binance, inner) {
            Event::Data(d, t) => Event::Data(d, stream.map(binance_stream_topic).or(t)),
            other => other,
        }),
        (None, _) if control => None,
        // bookTicker: no event type, no event time; `u` is its update id.
        (None, _) if d.last_id.is_some() => Some(Event::Data(d, topic)),
        (None, _) => Some(Event::Other),
    }
}

/// The topic of a Bybit `topic` (`orderbook.50.BTCUSDT`, `publicTrade.BTCUSDT`).
fn bybit_topic(topic: &str) -> Topic<'_> {
    let (prefix, symbol) = topic.rsplit_once('.').unwrap_or(("", topic));
    let channel = if prefix.starts_with("orderbook.") {
        Some(StreamChannel::Depth)
    } else if prefix == "publicTrade" {
        Some(StreamChannel::Trades)
    } else if prefix == "tickers" {
        Some(StreamChannel::Ticker)
    } else {
        None
    };
    Topic { channel, symbol }
}

/// Bybit's data path (frames with a `topic`); `None` for the rest, left to serde.
fn bybit_fast(text: &str) -> Option<Event<'_>> {
    let Some(mut members) = scan::members(text) else {
        return Some(Event::Garbage);
    };
    let mut ok = true;
    let (mut topic, mut kind, mut ts, mut cts, mut data) = (None, None, None, None, None);
    for (k, v) in members.by_ref() {
        match k {
            "topic" => topic = str_member(v, &mut ok),
            "type" => kind = str_member(v, &mut ok),
            "ts" => ts = num(v, &mut ok),
            "cts" => cts = num(v, &mut ok),
            "data" => data = Some(v),
            _ => {}
        }
    }
    if members.broken() || !ok {
        return Some(Event::Garbage);
    }
    let topic = topic?;
    let item = match data {
        Some(d) if d.starts_with('[') => scan::first_element(d),
        d => d,
    };
    let (mut u, mut seq) = (None, None);
    if let Some(item) = item.filter(|i| i.starts_with('{')) {
        let Some(mut inner) = scan::members(item) else {
            return Some(Event::Garbage);
        };
        for (k, v) in inner.by_ref() {
            match k {
                "u" => u = num(v, &mut ok),
                "seq" => seq = num(v, &mut ok),
                _ => {}
            }
        }
        if inner.broken() || !ok {
            return Some(Event::Garbage);
        }
    }
    Some(Event::Data(
        Data {
            event_time: ts.or(cts),
            first_id: None,
            last_id: u.or(seq),
            prev_id: None,
            reset: kind == Some("snapshot") || u == Some(1),
        },
        Some(bybit_topic(topic)),
    ))
}

/// The topic of an OKX `arg` object (`{"channel":"books","instId":"BTC-USDT"}`); `None` when
/// it is not one.
fn okx_topic(arg: &str) -> Option<Topic<'_>> {
    let mut members = scan::members(arg)?;
    let (mut channel, mut inst) = (None, None);
    for (k, v) in members.by_ref() {
        match k {
            "channel" => channel = scan::string(v),
            "instId" => inst = scan::string(v),
            _ => {}
        }
    }
    if members.broken() {
        return None;
    }
    let channel = match channel? {
        "books" | "books5" | "bbo-tbt" | "books-l2-tbt" | "books50-l2-tbt" => {
            Some(StreamChannel::Depth)
        }
        "trades" | "trades-all" => Some(StreamChannel::Trades),
        "tickers" => Some(StreamChannel::Ticker),
        _ => None,
    };
    Some(Topic {
        channel,
        symbol: inst?,
    })
}

/// OKX's data path (frames with `arg` and `data`); `None` for events, left to serde.
fn okx_fast(text: &str) -> Option<Event<'_>> {
    match text {
        "pong" => return Some(Event::Pong),
        "ping" => return Some(Event::Other),
        _ => {}
    }
    let Some(mut members) = scan::members(text) else {
        return Some(Event::Garbage);
    };
    let mut ok = true;
    let (mut arg, mut event, mut action, mut data) = (None, false, None, None);
    for (k, v) in members.by_ref() {
        match k {
            "arg" => arg = Some(v),
            "event" => event = true,
            "action" => action = str_member(v, &mut ok),
            "data" => data = Some(v),
            _ => {}
        }
    }
    if members.broken() || !ok {
        return Some(Event::Garbage);
    }
    if event {
        return None;
    }
    let (Some(arg), Some(data)) = (arg, data) else {
        return Some(Event::Other);
    };
    let (mut ts, mut seq, mut prev) = (None, None, None);
    if let Some(item) = scan::first_element(data) {
        let Some(mut inner) = scan::members(item) else {
            return Some(Event::Garbage);
        };
        for (k, v) in inner.by_ref() {
            match k {
                "ts" => ts = num(v, &mut ok),
                "seqId" => seq = num(v, &mut ok),
                "prevSeqId" => prev = num(v, &mut ok),
                _ => {}
            }
        }
        if inner.broken() || !ok {
            return Some(Event::Garbage);
        }
    }
    Some(Event::Data(
        Data {
            event_time: ts,
            first_id: None,
            last_id: seq,
            prev_id: prev.filter(|p| *p >= 0),
            reset: action == Some("snapshot") || prev == Some(-1),
        },
        okx_topic(arg),
    ))
}

/// A string field borrowed from the frame; only a string with JSON escapes is unescaped into
/// a copy (serde's own `Cow` inside an `Option` would always copy).
#[derive(Debug)]
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// A borrowed string: the text itself, or a fixed text when it had to be unescaped.
fn text<'a>(s: &Option<Text<'a>>) -> &'a str {
    match s {
        Some(Text(Cow::Borrowed(s))) => s,
        Some(Text(Cow::Owned(_))) => "(an error message with escapes)",
        None => "",
    }
}

/// A request id as echoed (a number, or a quoted number).
fn reply_id(raw: Option<&RawValue>) -> Option<u64> {
    raw.and_then(|r| scan::int(r.get()))
        .and_then(|n| u64::try_from(n).ok())
}

/// Binance's control frames: `{"result":null,"id":1}`, `{"code":2,"msg":"…","id":1}`,
/// `{"error":{"code":2,"msg":"…"},"id":1}`.
#[derive(Deserialize)]
struct BinanceControl<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    code: Option<IgnoredAny>,
    #[serde(borrow)]
    msg: Option<Text<'a>>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ErrorObject<'a> {
    #[serde(borrow)]
    msg: Option<Text<'a>>,
}

/// A Binance control frame (the data path is [`binance_fast`]).
fn binance_control(text_: &str) -> Event<'_> {
    let Ok(f) = serde_json::from_str::<BinanceControl<'_>>(text_) else {
        return Event::Garbage;
    };
    let reply = Reply {
        id: reply_id(f.id),
        topic: None,
    };
    if let Some(err) = f.error {
        let msg = serde_json::from_str::<ErrorObject<'_>>(err.get())
            .ok()
            .map_or("error", |e| text(&e.msg));
        return Event::Refused(msg, reply);
    }
    if f.code.is_some() || f.msg.is_some() {
        return Event::Refused(text(&f.msg), reply);
    }
    if f.id.is_some() && f.result.is_none_or(|r| r.get() == "null") {
        return Event::Ack(reply);
    }
    Event::Other
}

/// Bybit's control frames: subscribe answers and pongs.
#[derive(Deserialize)]
struct BybitControl<'a> {
    success: Option<bool>,
    #[serde(borrow)]
    ret_msg: Option<Text<'a>>,
    #[serde(borrow)]
    op: Option<Text<'a>>,
    #[serde(borrow)]
    req_id: Option<&'a RawValue>,
}

/// A Bybit control frame (the data path is [`bybit_fast`]).
fn bybit_control(text_: &str) -> Event<'_> {
    let Ok(f) = serde_json::from_str::<BybitControl<'_>>(text_) else {
        return Event::Garbage;
    };
    let reply = Reply {
        id: reply_id(f.req_id),
        topic: None,
    };
    match (f.op.as_deref(), f.success) {
        (Some("ping" | "pong"), _) => Event::Pong,
        (Some("subscribe"), Some(true)) => Event::Ack(reply),
        (_, Some(false)) => Event::Refused(text(&f.ret_msg), reply),
        _ if f.ret_msg.as_deref() == Some("pong") => Event::Pong,
        _ => Event::Other,
    }
}

/// OKX's events: `subscribe`, `error`, `notice`.
#[derive(Deserialize)]
struct OkxControl<'a> {
    #[serde(borrow)]
    event: Option<Text<'a>>,
    #[serde(borrow)]
    msg: Option<Text<'a>>,
    #[serde(borrow)]
    arg: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

/// An OKX event frame (the data path is [`okx_fast`]).
fn okx_control(text_: &str) -> Event<'_> {
    let Ok(f) = serde_json::from_str::<OkxControl<'_>>(text_) else {
        return Event::Garbage;
    };
    let reply = Reply {
        id: reply_id(f.id),
        topic: f.arg.and_then(|a| okx_topic(a.get())),
    };
    match f.event.as_deref() {
        Some("subscribe") => Event::Ack(reply),
        Some("error") => Event::Refused(text(&f.msg), reply),
        // `{"event":"notice","code":"64008","msg":"The connection will soon be closed for a
        // service upgrade…"}`.
        Some("notice") => Event::Shutdown,
        _ => Event::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_depth_ack_shutdown_and_errors() {
        let id1 = Reply {
            id: Some(1),
            topic: None,
        };
        let btc = |channel| {
            Some(Topic {
                channel: Some(channel),
                symbol: "BTCUSDT",
            })
        };
        let d = parse(
            Venue::Binance,
            r#"{"e":"depthUpdate","E":1700000000123,"s":"BTCUSDT","U":157,"u":160,"b":[["65000.10","0.5"]],"a":[["65000.20","1.2"]]}"#,
        );
        assert_eq!(
            d,
            Event::Data(
                Data {
                    event_time: Some(1_700_000_000_123),
                    first_id: Some(157),
                    last_id: Some(160),
                    prev_id: None,
                    reset: false
                },
                btc(StreamChannel::Depth)
            )
        );
        let f = parse(
            Venue::Binance,
            r#"{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[],"a":[]}"#,
        );
        assert!(matches!(
            f,
            Event::Data(
                Data {
                    prev_id: Some(9),
                    ..
                },
                _
            )
        ));
        assert_eq!(
            parse(Venue::Binance, r#"{"result":null,"id":1}"#),
            Event::Ack(id1)
        );
        assert_eq!(
            parse(Venue::Binance, r#"{"e":"serverShutdown","E":1}"#),
            Event::Shutdown
        );
        assert_eq!(
            parse(
                Venue::Binance,
                r#"{"code":2,"msg":"Invalid request","id":1}"#
            ),
            Event::Refused("Invalid request", id1)
        );
        assert_eq!(
            parse(Venue::Binance, r#"{"error":{"code":2,"msg":"bad"},"id":1}"#),
            Event::Refused("bad", id1)
        );
        assert_eq!(parse(Venue::Binance, "not json"), Event::Garbage);
        assert_eq!(parse(Venue::Binance, "[1,2]"), Event::Garbage);
        assert_eq!(parse(Venue::Binance, r#"{"E":"x"}"#), Event::Garbage);
        let c = parse(
            Venue::Binance,
            r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":5,"T":4,"t":1}}"#,
        );
        assert!(matches!(
            c,
            Event::Data(
                Data {
                    event_time: Some(5),
                    ..
                },
                _
            )
        ));
        let bt = parse(
            Venue::Binance,
            r#"{"u":400900217,"s":"BNBUSDT","b":"25.35"}"#,
        );
        assert!(matches!(
            bt,
            Event::Data(
                Data {
                    event_time: None,
                    last_id: Some(400900217),
                    ..
                },
                _
            )
        ));
    }

    #[test]
    fn bybit_frames() {
        let d = parse(
            Venue::Bybit,
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1700000000123,"data":{"s":"BTCUSDT","b":[["65000.1","0.5"]],"a":[],"u":18521288,"seq":7961638724},"cts":1700000000120}"#,
        );
        assert_eq!(
            d,
            Event::Data(
                Data {
                    event_time: Some(1_700_000_000_123),
                    last_id: Some(18_521_288),
                    ..Data::default()
                },
                Some(Topic {
                    channel: Some(StreamChannel::Depth),
                    symbol: "BTCUSDT"
                })
            )
        );
        let s = parse(
            Venue::Bybit,
            r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":5,"data":{"u":7,"seq":1}}"#,
        );
        assert!(matches!(s, Event::Data(Data { reset: true, .. }, _)));
        let r = parse(
            Venue::Bybit,
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":5,"data":{"u":1,"seq":1}}"#,
        );
        assert!(matches!(r, Event::Data(Data { reset: true, .. }, _)));
        let t = parse(
            Venue::Bybit,
            r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":9,"data":[{"T":8,"s":"BTCUSDT","p":"1"},{"T":8}]}"#,
        );
        assert!(matches!(
            t,
            Event::Data(
                Data {
                    event_time: Some(9),
                    ..
                },
                _
            )
        ));
        assert_eq!(
            parse(
                Venue::Bybit,
                r#"{"success":true,"ret_msg":"","op":"subscribe","conn_id":"x","req_id":"7"}"#
            ),
            Event::Ack(Reply {
                id: Some(7),
                topic: None
            })
        );
        assert_eq!(
            parse(
                Venue::Bybit,
                r#"{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}"#
            ),
            Event::Pong
        );
        assert_eq!(
            parse(
                Venue::Bybit,
                r#"{"success":false,"ret_msg":"error:handler not found","op":"subscribe"}"#
            ),
            Event::Refused("error:handler not found", Reply::default())
        );
        assert_eq!(parse(Venue::Bybit, "\u{0}\u{1}"), Event::Garbage);
    }

    #[test]
    fn okx_frames() {
        let d = parse(
            Venue::Okx,
            r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["65000.2","1.2","0","3"]],"bids":[],"ts":"1700000000123","checksum":0,"seqId":123456,"prevSeqId":123450}]}"#,
        );
        assert_eq!(
            d,
            Event::Data(
                Data {
                    event_time: Some(1_700_000_000_123),
                    last_id: Some(123_456),
                    prev_id: Some(123_450),
                    ..Data::default()
                },
                Some(Topic {
                    channel: Some(StreamChannel::Depth),
                    symbol: "BTC-USDT"
                })
            )
        );
        let s = parse(
            Venue::Okx,
            r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"ts":"1","seqId":5,"prevSeqId":-1}]}"#,
        );
        assert!(matches!(
            s,
            Event::Data(
                Data {
                    reset: true,
                    prev_id: None,
                    ..
                },
                _
            )
        ));
        assert_eq!(parse(Venue::Okx, "pong"), Event::Pong);
        assert_eq!(
            parse(
                Venue::Okx,
                r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a"}"#
            ),
            Event::Ack(Reply {
                id: None,
                topic: Some(Topic {
                    channel: Some(StreamChannel::Depth),
                    symbol: "BTC-USDT"
                })
            })
        );
        assert_eq!(
            parse(
                Venue::Okx,
                r#"{"event":"error","code":"60012","msg":"Invalid request","connId":"a"}"#
            ),
            Event::Refused("Invalid request", Reply::default())
        );
        assert_eq!(
            parse(
                Venue::Okx,
                r#"{"event":"notice","code":"64008","msg":"soon closed"}"#
            ),
            Event::Shutdown
        );
        assert_eq!(parse(Venue::Okx, "{"), Event::Garbage);
    }

    #[test]
    fn subscribe_messages_and_symbols() {
        assert_eq!(
            subscribe(Venue::Binance, StreamChannel::Depth, "BTC/USDT", 1),
            r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms"],"id":1}"#
        );
        assert_eq!(
            subscribe(Venue::Bybit, StreamChannel::Trades, "BTC/USDT", 2),
            r#"{"op":"subscribe","args":["publicTrade.BTCUSDT"],"req_id":"2"}"#
        );
        assert_eq!(
            subscribe(Venue::Okx, StreamChannel::Depth, "BTC/USDT", 3),
            r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#
        );
        let two = [
            (StreamChannel::Depth, "BTC/USDT"),
            (StreamChannel::Trades, "ETH/USDT"),
        ];
        assert_eq!(
            subscribe_many(Venue::Binance, &two, 4),
            r#"{"method":"SUBSCRIBE","params":["btcusdt@depth@100ms","ethusdt@trade"],"id":4}"#
        );
        assert_eq!(
            subscribe_many(Venue::Bybit, &two, 5),
            r#"{"op":"subscribe","args":["orderbook.50.BTCUSDT","publicTrade.ETHUSDT"],"req_id":"5"}"#
        );
        assert_eq!(
            subscribe_many(Venue::Okx, &two, 6),
            r#"{"op":"subscribe","args":[{"channel":"books","instId":"BTC-USDT"},{"channel":"trades","instId":"ETH-USDT"}]}"#
        );
        assert_eq!(
            unsubscribe_many(Venue::Binance, &two[..1], 7),
            r#"{"method":"UNSUBSCRIBE","params":["btcusdt@depth@100ms"],"id":7}"#
        );
        assert_eq!(
            unsubscribe_many(Venue::Bybit, &two[..1], 8),
            r#"{"op":"unsubscribe","args":["orderbook.50.BTCUSDT"],"req_id":"8"}"#
        );
        assert_eq!(
            unsubscribe_many(Venue::Okx, &two[..1], 9),
            r#"{"op":"unsubscribe","args":[{"channel":"books","instId":"BTC-USDT"}]}"#
        );
        let v: serde_json::Value =
            serde_json::from_str(&subscribe(Venue::Okx, StreamChannel::Ticker, "eth/usdt", 1))
                .unwrap();
        assert_eq!(v["args"][0]["instId"], "ETH-USDT");
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const FRAMES: [&str; 3] = [
        r#"{"e":"depthUpdate","E":1700000000123,"s":"BTCUSDT","U":157,"u":160,"b":[["65000.10","0.5"]],"a":[]}"#,
        r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"b":[["1","2"]],"u":5,"seq":7},"cts":1}"#,
        r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[],"ts":"1","seqId":3,"prevSeqId":2}]}"#,
    ];

    proptest! {
        /// Any text, and any truncation or corruption of a real frame, is an event, never a
        /// panic.
        #[test]
        fn parse_is_total(text in ".{0,200}", cut in 0usize..200, at in 0usize..200, byte in 0u8..128) {
            for venue in [Venue::Binance, Venue::Bybit, Venue::Okx] {
                let _ = parse(venue, &text);
                for f in FRAMES {
                    let end = f.len().min(cut);
                    if f.is_char_boundary(end) {
                        let _ = parse(venue, &f[..end]);
                    }
                    let mut bytes = f.as_bytes().to_vec();
                    let i = at % bytes.len();
                    bytes[i] = byte;
                    if let Ok(s) = std::str::from_utf8(&bytes) {
                        let _ = parse(venue, s);
                    }
                }
            }
        }
    }
}
