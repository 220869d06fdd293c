//! Reading one HTTP/1.1 answer out of the bytes received so far, without I/O: the head
//! (`httparse`), interim 1xx answers skipped, then the body framed by `Content-Length`, the
//! chunked transfer coding or the connection's close. Every part is bounded: the head and the
//! chunked trailers by [`MAX_HEAD`], a chunk-size line by [`MAX_CHUNK_LINE`], the body by the
//! caller's limit.
//!
//! The body stays where it arrived: a `Content-Length` or read-until-close body is handed out
//! as a slice of the receive buffer, a chunked one is first compacted in place (chunk data
//! moved over the size lines before it), so reading an answer allocates nothing besides that
//! buffer.

use std::mem::MaybeUninit;
use std::time::{Duration, SystemTime};

use bytes::{Buf, Bytes, BytesMut};

use crate::client::parse_retry_after;

/// The longest answer head accepted (status line and headers); also the bound of a chunked
/// body's trailer section.
pub const MAX_HEAD: usize = 16 * 1024;

/// The longest chunk-size line accepted (size, extensions, line end).
pub const MAX_CHUNK_LINE: usize = 1024;

/// The most header lines one head may carry (awc's limit is 96).
const MAX_HEADERS: usize = 100;

/// Why the bytes received are not an acceptable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The status line or a header line is malformed, or there are too many headers.
    #[error("malformed answer head")]
    BadHead,
    /// The head did not end within [`MAX_HEAD`] bytes.
    #[error("answer head larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// `101 Switching Protocols` to a plain GET.
    #[error("unexpected protocol switch")]
    Upgrade,
    /// `Content-Length` is not a number, or two of them disagree.
    #[error("invalid Content-Length")]
    BadLength,
    /// The chunked framing is malformed (or its size line or trailers are too long).
    #[error("malformed chunked body")]
    BadChunk,
    /// The connection ended before the answer was complete.
    #[error("connection closed before the answer was complete")]
    Truncated,
    /// The body is larger than the limit (given).
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status code of the final (non-1xx) answer.
    pub status: u16,
    /// Its `Retry-After`, when present and parseable.
    pub retry_after: Option<Duration>,
    /// The body, decoded from the chunked coding if it was chunked; at most the limit.
    pub body: Bytes,
    /// Whether the connection may carry another request: HTTP/1.1 (or 1.0 with
    /// `Connection: keep-alive`), no `Connection: close`, a body not delimited by the close,
    /// and nothing received past the answer.
    pub reusable: bool,
}

/// Reads one answer. Feed it the receive buffer after every read ([`AnswerReader::advance`]);
/// the buffer must hold every byte received for this answer, in order, and nothing else.
#[derive(Debug)]
pub struct AnswerReader {
    max_body: usize,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Waiting for a complete head.
    Head,
    /// The head is in; the body starts at `start` in the buffer.
    Body {
        head: Head,
        start: usize,
        framing: Framing,
    },
}

/// What the head said, as far as the probe cares.
#[derive(Debug, Clone, Copy)]
struct Head {
    status: u16,
    retry_after: Option<Duration>,
    keep_alive: bool,
}

#[derive(Debug)]
enum Framing {
    /// Exactly this many bytes.
    Length(usize),
    /// Everything until the server closes the connection.
    UntilClose,
    /// The chunked transfer coding.
    Chunked(Chunked),
}

/// The chunked decoder's position: decoded data occupies `out` bytes from the body's start,
/// undecoded input starts at `raw` (absolute offsets in the buffer; `raw ≥ start + out`).
#[derive(Debug)]
struct Chunked {
    phase: Phase,
    out: usize,
    raw: usize,
    trailers: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the line end after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
    /// The body is complete; `raw` is just past it.
    Done,
}

impl AnswerReader {
    /// A reader for one answer whose body may hold at most `max_body` bytes.
    pub fn new(max_body: usize) -> Self {
        Self {
            max_body,
            state: State::Head,
        }
    }

    /// How many more bytes the body is known to need (a `Content-Length` body), for sizing the
    /// next read; `None` when unknown.
    pub fn missing(&self, received: usize) -> Option<usize> {
        match &self.state {
            State::Body {
                start,
                framing: Framing::Length(n),
                ..
            } => Some((start + n).saturating_sub(received)),
            _ => None,
        }
    }

    /// Looks at everything received so far (`eof`: the connection has ended and nothing more
    /// will come). `Ok(None)`: more bytes are needed. `Ok(Some(_))`: the answer is complete;
    /// the buffer has been taken. Interim 1xx answers are removed from the buffer.
    pub fn advance(
        &mut self,
        buf: &mut BytesMut,
        eof: bool,
    ) -> Result<Option<Answer>, AnswerError> {
        loop {
            match &mut self.state {
                State::Head => {
                    let Some((len, head, framing)) = parse_head(buf, self.max_body)? else {
                        if buf.len() > MAX_HEAD {
                            return Err(AnswerError::HeadTooLarge);
                        }
                        return if eof {
                            Err(AnswerError::Truncated)
                        } else {
                            Ok(None)
                        };
                    };
                    match framing {
                        // An interim answer: drop it and read the next head.
                        None => buf.advance(len),
                        Some(framing) => {
                            self.state = State::Body {
                                head,
                                start: len,
                                framing,
                            };
                        }
                    }
                }
                State::Body {
                    head,
                    start,
                    framing,
                } => {
                    let (head, start) = (*head, *start);
                    let (end, keep_alive) = match framing {
                        Framing::Length(n) => {
                            if buf.len() < start + *n {
                                return if eof {
                                    Err(AnswerError::Truncated)
                                } else {
                                    Ok(None)
                                };
                            }
                            (start + *n, head.keep_alive)
                        }
                        Framing::UntilClose => {
                            if buf.len() - start > self.max_body {
                                return Err(AnswerError::TooLarge(self.max_body));
                            }
                            if !eof {
                                return Ok(None);
                            }
                            (buf.len(), false)
                        }
                        Framing::Chunked(c) => {
                            c.decode(buf, start, self.max_body)?;
                            if c.phase != Phase::Done {
                                return if eof {
                                    Err(AnswerError::Truncated)
                                } else {
                                    Ok(None)
                                };
                            }
                            // Anything past the body is surplus: the connection is not reused.
                            let surplus = buf.len() > c.raw;
                            buf.truncate(start + c.out);
                            (start + c.out, head.keep_alive && !surplus)
                        }
                    };
                    let reusable = keep_alive && buf.len() == end;
                    let mut all = std::mem::take(buf);
                    all.truncate(end);
                    all.advance(start);
                    return Ok(Some(Answer {
                        status: head.status,
                        retry_after: head.retry_after,
                        body: all.freeze(),
                        reusable,
                    }));
                }
            }
        }
    }
}

/// Parses the head at the start of `buf`: `None` while incomplete; else its length, what it
/// says, and the body's framing (`None` for an interim 1xx answer, which has no body).
fn parse_head(
    buf: &[u8],
    max_body: usize,
) -> Result<Option<(usize, Head, Option<Framing>)>, AnswerError> {
    let mut headers = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut res = httparse::Response::new(&mut []);
    let mut config = httparse::ParserConfig::default();
    // Leniencies servers rely on (actix-http's client accepts the same).
    config
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true);
    let len = match config.parse_response_with_uninit_headers(&mut res, buf, &mut headers) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(AnswerError::BadHead),
    };
    if len > MAX_HEAD {
        return Err(AnswerError::HeadTooLarge);
    }
    let status = res.code.ok_or(AnswerError::BadHead)?;
    let http11 = res.version == Some(1);
    let mut head = Head {
        status,
        retry_after: None,
        keep_alive: http11,
    };
    if status == 101 {
        return Err(AnswerError::Upgrade);
    }
    if (100..200).contains(&status) {
        return Ok(Some((len, head, None)));
    }
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for h in res.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            for part in h.value.split(|&b| b == b',') {
                let n = parse_length(part)?;
                if length.is_some_and(|l| l != n) {
                    return Err(AnswerError::BadLength);
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked only when it is the last coding applied (RFC 9112 §6.3).
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            chunked = Some(trim(last).eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && !http11 {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("retry-after") && head.retry_after.is_none() {
            head.retry_after = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
        }
    }
    let framing = if status == 204 || status == 304 {
        Framing::Length(0)
    } else if let Some(chunked) = chunked {
        if length.is_some() {
            // Both: the coding wins, and the connection is not to be trusted further.
            head.keep_alive = false;
        }
        if chunked {
            Framing::Chunked(Chunked {
                phase: Phase::Size,
                out: 0,
                raw: len,
                trailers: 0,
            })
        } else {
            Framing::UntilClose
        }
    } else if let Some(n) = length {
        if n > max_body as u64 {
            return Err(AnswerError::TooLarge(max_body));
        }
        Framing::Length(n as usize)
    } else {
        Framing::UntilClose
    };
    Ok(Some((len, head, Some(framing))))
}

/// A `Content-Length` value: digits only (spaces around tolerated).
fn parse_length(value: &[u8]) -> Result<u64, AnswerError> {
    let value = trim(value);
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return Err(AnswerError::BadLength);
    }
    Ok(value
        .iter()
        .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

fn trim(value: &[u8]) -> &[u8] {
    value.trim_ascii()
}

/// The end of the line starting at `from` (just past its `\n`), if it ends within `max` bytes.
fn line_end(buf: &[u8], from: usize, max: usize) -> Result<Option<usize>, AnswerError> {
    let window = &buf[from..buf.len().min(from + max)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => Ok(Some(from + i + 1)),
        None if window.len() >= max => Err(AnswerError::BadChunk),
        None => Ok(None),
    }
}

impl Chunked {
    /// Decodes what `buf` holds past `raw`, moving chunk data down to `start + out`; then
    /// moves the undecoded rest (at most a partial line) down after it, so the buffer never
    /// holds more than the decoded body and one read's worth of input.
    fn decode(
        &mut self,
        buf: &mut BytesMut,
        start: usize,
        max_body: usize,
    ) -> Result<(), AnswerError> {
        loop {
            match self.phase {
                Phase::Size => {
                    let Some(end) = line_end(buf, self.raw, MAX_CHUNK_LINE)? else {
                        break;
                    };
                    let size = chunk_size(&buf[self.raw..end])?;
                    self.raw = end;
                    if size == 0 {
                        self.phase = Phase::Trailers;
                    } else if (self.out as u64).saturating_add(size) > max_body as u64 {
                        return Err(AnswerError::TooLarge(max_body));
                    } else {
                        self.phase = Phase::Data(size);
                    }
                }
                Phase::Data(left) => {
                    let take = (buf.len() - self.raw).min(left as usize);
                    if take == 0 {
                        break;
                    }
                    let to = start + self.out;
                    if to != self.raw {
                        buf.copy_within(self.raw..self.raw + take, to);
                    }
                    self.out += take;
                    self.raw += take;
                    let left = left - take as u64;
                    self.phase = if left == 0 {
                        Phase::DataEnd
                    } else {
                        Phase::Data(left)
                    };
                }
                Phase::DataEnd => match buf.get(self.raw..(self.raw + 2).min(buf.len())) {
                    Some([b'\n', ..]) => {
                        self.raw += 1;
                        self.phase = Phase::Size;
                    }
                    Some([b'\r', b'\n']) => {
                        self.raw += 2;
                        self.phase = Phase::Size;
                    }
                    Some([] | [b'\r']) | None => break,
                    Some(_) => return Err(AnswerError::BadChunk),
                },
                Phase::Trailers => {
                    let Some(end) =
                        line_end(buf, self.raw, MAX_HEAD - self.trailers.min(MAX_HEAD))?
                    else {
                        break;
                    };
                    let line = &buf[self.raw..end];
                    self.trailers += line.len();
                    self.raw = end;
                    if line == b"\r\n" || line == b"\n" {
                        self.phase = Phase::Done;
                    }
                }
                Phase::Done => return Ok(()),
            }
        }
        // Not done: keep only the undecoded rest, right after the decoded data.
        let to = start + self.out;
        if self.raw > to {
            let len = buf.len();
            buf.copy_within(self.raw..len, to);
            buf.truncate(to + (len - self.raw));
            self.raw = to;
        }
        Ok(())
    }
}

/// The size of a chunk-size line (`1a;ext=v\r\n`): hexadecimal, at most 15 digits; any
/// extensions are ignored.
fn chunk_size(line: &[u8]) -> Result<u64, AnswerError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err(AnswerError::BadChunk);
    }
    // Optional whitespace, then extensions or the line end.
    let rest = &line[digits..];
    let pad = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    if !matches!(rest.get(pad), Some(b';' | b'\r' | b'\n')) {
        return Err(AnswerError::BadChunk);
    }
    let hex = std::str::from_utf8(&line[..digits]).map_err(|_| AnswerError::BadChunk)?;
    u64::from_str_radix(hex, 16).map_err(|_| AnswerError::BadChunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes (then the close when `close`).
    fn read(wire: &[u8], step: usize, max_body: usize, close: bool) -> Result<Answer, AnswerError> {
        let mut reader = AnswerReader::new(max_body);
        let mut buf = BytesMut::new();
        for piece in wire.chunks(step.max(1)) {
            buf.extend_from_slice(piece);
            if let Some(a) = reader.advance(&mut buf, false)? {
                return Ok(a);
            }
        }
        if close && let Some(a) = reader.advance(&mut buf, true)? {
            return Ok(a);
        }
        Err(AnswerError::Truncated)
    }

    #[test]
    fn content_length_body_is_sliced_out_and_reusable() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
        for step in [1, 3, wire.len()] {
            let a = read(wire, step, 100, false).unwrap();
            assert_eq!(a.status, 200);
            assert_eq!(&a.body[..], b"{\"ok\":true}");
            assert!(a.reusable);
        }
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
            5;name=v\r\nhello\r\n1\r\n \r\n5 ; x\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for step in 1..wire.len() {
            let a = read(wire, step, 100, false).unwrap();
            assert_eq!(&a.body[..], b"hello world", "step {step}");
            assert!(a.reusable);
        }
    }

    #[test]
    fn chunked_body_over_the_limit_is_too_large() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
        assert_eq!(read(wire, 7, 8, false), Err(AnswerError::TooLarge(8)));
        assert_eq!(&read(wire, 7, 10, false).unwrap().body[..], b"helloworld");
    }

    #[test]
    fn malformed_chunks_are_errors() {
        for wire in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
        ] {
            assert_eq!(read(wire, 4, 100, true), Err(AnswerError::BadChunk));
        }
        let long_line = [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;"[..],
            &[b'x'; 2000],
        ]
        .concat();
        assert_eq!(read(&long_line, 64, 100, true), Err(AnswerError::BadChunk));
    }

    #[test]
    fn read_until_close_is_not_reusable() {
        let wire = b"HTTP/1.0 200 OK\r\n\r\nbody until close";
        let a = read(wire, 5, 100, true).unwrap();
        assert_eq!(&a.body[..], b"body until close");
        assert!(!a.reusable);
        assert_eq!(read(wire, 5, 4, true), Err(AnswerError::TooLarge(4)));
    }

    #[test]
    fn connection_close_and_http10_are_not_reusable() {
        let close =
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n";
        assert!(!read(close, 100, 10, false).unwrap().reusable);
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(!read(old, 100, 10, false).unwrap().reusable);
        let old_ka = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n";
        assert!(read(old_ka, 100, 10, false).unwrap().reusable);
    }

    #[test]
    fn interim_answers_are_skipped_and_no_body_statuses_have_none() {
        let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n\
            HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n";
        let a = read(wire, 3, 10, false).unwrap();
        assert_eq!((a.status, a.body.len(), a.reusable), (204, 0, true));
        let switch = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert_eq!(read(switch, 100, 10, false), Err(AnswerError::Upgrade));
    }

    #[test]
    fn retry_after_and_lengths() {
        let wire = b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\nContent-Length: 2, 2\r\n\r\nno";
        let a = read(wire, 100, 10, false).unwrap();
        assert_eq!(
            (a.status, a.retry_after),
            (429, Some(Duration::from_secs(7)))
        );
        let bad = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(read(bad, 100, 10, false), Err(AnswerError::BadLength));
        let big = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
        assert_eq!(read(big, 100, 10, false), Err(AnswerError::TooLarge(10)));
    }

    #[test]
    fn surplus_bytes_and_truncation() {
        let surplus = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1";
        let a = read(surplus, 100, 10, false).unwrap();
        assert_eq!((&a.body[..], a.reusable), (&b"ok"[..], false));
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nok";
        assert_eq!(read(short, 100, 10, true), Err(AnswerError::Truncated));
        assert_eq!(
            read(b"HTTP/1.1 20", 100, 10, true),
            Err(AnswerError::Truncated)
        );
    }

    #[test]
    fn garbage_and_oversized_heads_are_errors() {
        assert_eq!(
            read(b"SSH-2.0-OpenSSH\r\n\r\n", 100, 10, true),
            Err(AnswerError::BadHead)
        );
        let huge = [&b"HTTP/1.1 200 OK\r\nX: "[..], &[b'a'; MAX_HEAD]].concat();
        assert_eq!(read(&huge, 4096, 10, false), Err(AnswerError::HeadTooLarge));
    }

    #[test]
    fn missing_counts_what_a_length_body_still_needs() {
        let mut reader = AnswerReader::new(100);
        let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..]);
        assert_eq!(reader.missing(buf.len()), None);
        assert_eq!(reader.advance(&mut buf, false), Ok(None));
        assert_eq!(reader.missing(buf.len()), Some(7));
    }
}
