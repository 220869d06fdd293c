//! The venues' public stream protocols, pure: the subscribe message, what a text frame is
//! (data, acknowledgement, refusal, pong, announced shutdown) and, for data, the fields that
//! carry event time and sequence. Parsing borrows from the frame (serde with borrowed fields
//! and [`RawValue`]): nothing is allocated per message.
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
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::probe::stream::config::{StreamChannel, Venue};

/// What one text frame is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// A market-data message.
    Data(Data),
    /// The subscription was acknowledged.
    Ack,
    /// The venue refused the subscription or reported an error (its text).
    Refused(&'a str),
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

/// The subscribe message for `channel` of `symbol`, request id `id`.
pub fn subscribe(venue: Venue, channel: StreamChannel, symbol: &str, id: u64) -> String {
    let s = venue_symbol(venue, symbol);
    match venue {
        Venue::Binance => {
            let stream = match channel {
                StreamChannel::Depth => "depth@100ms",
                StreamChannel::Trades => "trade",
                StreamChannel::Ticker => "bookTicker",
            };
            format!(r#"{{"method":"SUBSCRIBE","params":["{s}@{stream}"],"id":{id}}}"#)
        }
        Venue::Bybit => {
            let topic = match channel {
                StreamChannel::Depth => "orderbook.50.",
                StreamChannel::Trades => "publicTrade.",
                StreamChannel::Ticker => "tickers.",
            };
            format!(r#"{{"op":"subscribe","args":["{topic}{s}"],"req_id":"{id}"}}"#)
        }
        Venue::Okx => {
            let ch = match channel {
                StreamChannel::Depth => "books",
                StreamChannel::Trades => "trades",
                StreamChannel::Ticker => "tickers",
            };
            format!(r#"{{"op":"subscribe","args":[{{"channel":"{ch}","instId":"{s}"}}]}}"#)
        }
    }
}

/// What the text frame `text` of `venue` is. Never panics, never allocates (an error text
/// with JSON escapes is reported as a fixed text rather than unescaped).
pub fn parse(venue: Venue, text: &str) -> Event<'_> {
    match venue {
        Venue::Binance => binance(text),
        Venue::Bybit => bybit(text),
        Venue::Okx => okx(text),
    }
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

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct BinanceFrame<'a> {
    #[serde(borrow)]
    e: Option<Text<'a>>,
    E: Option<i64>,
    T: Option<i64>,
    U: Option<i64>,
    u: Option<i64>,
    pu: Option<i64>,
    id: Option<IgnoredAny>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    code: Option<i64>,
    #[serde(borrow)]
    msg: Option<Text<'a>>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
    /// A combined stream wraps each event: `{"stream":"…","data":{…}}`.
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ErrorObject<'a> {
    #[serde(borrow)]
    msg: Option<Text<'a>>,
}

fn binance(text_: &str) -> Event<'_> {
    let Ok(f) = serde_json::from_str::<BinanceFrame<'_>>(text_) else {
        return Event::Garbage;
    };
    if let Some(data) = f.data
        && f.e.is_none()
    {
        return binance(data.get());
    }
    match f.e.as_deref() {
        Some("serverShutdown") => return Event::Shutdown,
        Some(_) => {
            return Event::Data(Data {
                event_time: f.E.or(f.T),
                first_id: f.U,
                last_id: f.u,
                prev_id: f.pu,
                reset: false,
            });
        }
        None => {}
    }
    if let Some(err) = f.error {
        let msg = serde_json::from_str::<ErrorObject<'_>>(err.get())
            .ok()
            .map_or("error", |e| text(&e.msg));
        return Event::Refused(msg);
    }
    if f.code.is_some() || f.msg.is_some() {
        return Event::Refused(text(&f.msg));
    }
    if f.id.is_some() && f.result.is_none_or(|r| r.get() == "null") {
        return Event::Ack;
    }
    if f.u.is_some() {
        // bookTicker: no event type, no event time; `u` is its update id.
        return Event::Data(Data {
            last_id: f.u,
            ..Data::default()
        });
    }
    Event::Other
}

#[derive(Deserialize)]
struct BybitFrame<'a> {
    #[serde(borrow)]
    topic: Option<Text<'a>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    ts: Option<i64>,
    cts: Option<i64>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    success: Option<bool>,
    #[serde(borrow)]
    ret_msg: Option<Text<'a>>,
    #[serde(borrow)]
    op: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
struct BybitData {
    u: Option<i64>,
    seq: Option<i64>,
}

fn bybit(text_: &str) -> Event<'_> {
    let Ok(f) = serde_json::from_str::<BybitFrame<'_>>(text_) else {
        return Event::Garbage;
    };
    if f.topic.is_some() {
        let d = f
            .data
            .and_then(|d| match d.get().as_bytes().first() {
                Some(b'{') => serde_json::from_str::<BybitData>(d.get()).ok(),
                Some(b'[') => serde_json::from_str::<First<BybitData>>(d.get())
                    .ok()
                    .and_then(|f| f.0),
                _ => None,
            })
            .unwrap_or_default();
        let snapshot = f.kind.as_deref() == Some("snapshot");
        return Event::Data(Data {
            event_time: f.ts.or(f.cts),
            first_id: None,
            last_id: d.u.or(d.seq),
            prev_id: None,
            reset: snapshot || d.u == Some(1),
        });
    }
    match (f.op.as_deref(), f.success) {
        (Some("ping" | "pong"), _) => Event::Pong,
        (Some("subscribe"), Some(true)) => Event::Ack,
        (_, Some(false)) => Event::Refused(text(&f.ret_msg)),
        _ if f.ret_msg.as_deref() == Some("pong") => Event::Pong,
        _ => Event::Other,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OkxFrame<'a> {
    #[serde(borrow)]
    event: Option<Text<'a>>,
    #[serde(borrow)]
    msg: Option<Text<'a>>,
    #[serde(borrow)]
    arg: Option<&'a RawValue>,
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct OkxItem<'a> {
    #[serde(borrow)]
    ts: Option<Text<'a>>,
    seq_id: Option<i64>,
    prev_seq_id: Option<i64>,
}

fn okx(text_: &str) -> Event<'_> {
    match text_ {
        "pong" => return Event::Pong,
        "ping" => return Event::Other,
        _ => {}
    }
    let Ok(f) = serde_json::from_str::<OkxFrame<'_>>(text_) else {
        return Event::Garbage;
    };
    match f.event.as_deref() {
        Some("subscribe") => return Event::Ack,
        Some("error") => return Event::Refused(text(&f.msg)),
        // `{"event":"notice","code":"64008","msg":"The connection will soon be closed for a
        // service upgrade…"}`.
        Some("notice") => return Event::Shutdown,
        Some(_) => return Event::Other,
        None => {}
    }
    let (Some(_), Some(data)) = (f.arg, f.data) else {
        return Event::Other;
    };
    let item = serde_json::from_str::<First<OkxItem<'_>>>(data.get())
        .ok()
        .and_then(|f| f.0)
        .unwrap_or_default();
    let event_time = item.ts.as_deref().and_then(|t| t.parse::<i64>().ok());
    Event::Data(Data {
        event_time,
        first_id: None,
        last_id: item.seq_id,
        prev_id: item.prev_seq_id.filter(|p| *p >= 0),
        reset: f.action.as_deref() == Some("snapshot") || item.prev_seq_id == Some(-1),
    })
}

/// The first element of a JSON array, the rest skipped (no `Vec` is built).
struct First<T>(Option<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<T>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(First(first))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_depth_ack_shutdown_and_errors() {
        let d = parse(
            Venue::Binance,
            r#"{"e":"depthUpdate","E":1700000000123,"s":"BTCUSDT","U":157,"u":160,"b":[["65000.10","0.5"]],"a":[["65000.20","1.2"]]}"#,
        );
        assert_eq!(
            d,
            Event::Data(Data {
                event_time: Some(1_700_000_000_123),
                first_id: Some(157),
                last_id: Some(160),
                prev_id: None,
                reset: false
            })
        );
        let f = parse(
            Venue::Binance,
            r#"{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":10,"u":12,"pu":9,"b":[],"a":[]}"#,
        );
        assert!(matches!(
            f,
            Event::Data(Data {
                prev_id: Some(9),
                ..
            })
        ));
        assert_eq!(
            parse(Venue::Binance, r#"{"result":null,"id":1}"#),
            Event::Ack
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
            Event::Refused("Invalid request")
        );
        assert_eq!(
            parse(Venue::Binance, r#"{"error":{"code":2,"msg":"bad"},"id":1}"#),
            Event::Refused("bad")
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
            Event::Data(Data {
                event_time: Some(5),
                ..
            })
        ));
        let bt = parse(
            Venue::Binance,
            r#"{"u":400900217,"s":"BNBUSDT","b":"25.35"}"#,
        );
        assert!(matches!(
            bt,
            Event::Data(Data {
                event_time: None,
                last_id: Some(400900217),
                ..
            })
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
            Event::Data(Data {
                event_time: Some(1_700_000_000_123),
                last_id: Some(18_521_288),
                ..Data::default()
            })
        );
        let s = parse(
            Venue::Bybit,
            r#"{"topic":"orderbook.50.BTCUSDT","type":"snapshot","ts":5,"data":{"u":7,"seq":1}}"#,
        );
        assert!(matches!(s, Event::Data(Data { reset: true, .. })));
        let r = parse(
            Venue::Bybit,
            r#"{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":5,"data":{"u":1,"seq":1}}"#,
        );
        assert!(matches!(r, Event::Data(Data { reset: true, .. })));
        let t = parse(
            Venue::Bybit,
            r#"{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":9,"data":[{"T":8,"s":"BTCUSDT","p":"1"},{"T":8}]}"#,
        );
        assert!(matches!(
            t,
            Event::Data(Data {
                event_time: Some(9),
                ..
            })
        ));
        assert_eq!(
            parse(
                Venue::Bybit,
                r#"{"success":true,"ret_msg":"","op":"subscribe","conn_id":"x"}"#
            ),
            Event::Ack
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
            Event::Refused("error:handler not found")
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
            Event::Data(Data {
                event_time: Some(1_700_000_000_123),
                last_id: Some(123_456),
                prev_id: Some(123_450),
                ..Data::default()
            })
        );
        let s = parse(
            Venue::Okx,
            r#"{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot","data":[{"ts":"1","seqId":5,"prevSeqId":-1}]}"#,
        );
        assert!(matches!(
            s,
            Event::Data(Data {
                reset: true,
                prev_id: None,
                ..
            })
        ));
        assert_eq!(parse(Venue::Okx, "pong"), Event::Pong);
        assert_eq!(
            parse(
                Venue::Okx,
                r#"{"event":"subscribe","arg":{"channel":"books","instId":"BTC-USDT"},"connId":"a"}"#
            ),
            Event::Ack
        );
        assert_eq!(
            parse(
                Venue::Okx,
                r#"{"event":"error","code":"60012","msg":"Invalid request","connId":"a"}"#
            ),
            Event::Refused("Invalid request")
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
        let v: serde_json::Value =
            serde_json::from_str(&subscribe(Venue::Okx, StreamChannel::Ticker, "eth/usdt", 1))
                .unwrap();
        assert_eq!(v["args"][0]["instId"], "ETH-USDT");
    }
}
