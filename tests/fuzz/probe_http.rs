//! The probe client's answer reader ([`exwatch::probe::http::AnswerReader`]) over arbitrary
//! bytes cut into arbitrary pieces (an answer or an error, never a panic, never a body over the
//! limit), and over valid answers — `Content-Length`, chunked with extensions and trailers,
//! read-until-close, after interim 1xx answers — which read the same however the bytes are
//! split across reads.

use bytes::BytesMut;
use exwatch::probe::http::{Answer, AnswerError, AnswerReader};
use proptest::prelude::*;

use crate::cases;

/// Feeds `wire` to a reader in pieces cut at `cuts` (positions, any order), then the close.
fn read(wire: &[u8], cuts: &[usize], max_body: usize) -> Result<Answer, AnswerError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(wire.len());
    points.sort_unstable();
    let mut reader = AnswerReader::new(max_body);
    let mut buf = BytesMut::new();
    let mut from = 0;
    for to in points {
        buf.extend_from_slice(&wire[from..to]);
        from = to;
        if let Some(answer) = reader.advance(&mut buf, false)? {
            return Ok(answer);
        }
    }
    match reader.advance(&mut buf, true)? {
        Some(answer) => Ok(answer),
        None => panic!("the reader asked for more after the close"),
    }
}

/// How a valid answer's body is framed.
#[derive(Debug, Clone)]
enum Framing {
    Length,
    /// Chunk sizes (cycled), with an extension on every other chunk, and trailers.
    Chunked(Vec<usize>, bool),
    UntilClose,
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::Length),
        (prop::collection::vec(1usize..40, 1..6), any::<bool>())
            .prop_map(|(sizes, trailers)| Framing::Chunked(sizes, trailers)),
        Just(Framing::UntilClose),
    ]
}

/// A valid answer: its bytes and what reading them must give (status, body, reusable).
fn valid_answer() -> impl Strategy<Value = (Vec<u8>, u16, Vec<u8>, bool)> {
    (
        prop_oneof![Just(200u16), Just(429), Just(503), Just(301), 200u16..600],
        prop::collection::vec(any::<u8>(), 0..300),
        framing(),
        0usize..3,
        any::<bool>(),
    )
        .prop_map(|(status, body, framing, interim, close)| {
            let mut out = Vec::new();
            for _ in 0..interim {
                out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let status = if status == 204 || status == 304 {
                200
            } else {
                status
            };
            out.extend_from_slice(
                format!("HTTP/1.1 {status} Whatever\r\nServer: x\r\n").as_bytes(),
            );
            if close {
                out.extend_from_slice(b"Connection: close\r\n");
            }
            let reusable = !close && !matches!(framing, Framing::UntilClose);
            match &framing {
                Framing::Length => {
                    out.extend_from_slice(
                        format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                    );
                    out.extend_from_slice(&body);
                }
                Framing::Chunked(sizes, trailers) => {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                    let mut rest = &body[..];
                    for (i, size) in sizes.iter().cycle().enumerate() {
                        if rest.is_empty() {
                            break;
                        }
                        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                        let ext = if i % 2 == 1 { ";ext=\"v\"" } else { "" };
                        out.extend_from_slice(format!("{:X}{ext}\r\n", chunk.len()).as_bytes());
                        out.extend_from_slice(chunk);
                        out.extend_from_slice(b"\r\n");
                        rest = tail;
                    }
                    out.extend_from_slice(b"0\r\n");
                    if *trailers {
                        out.extend_from_slice(b"X-Digest: abc\r\nX-Other: 1\r\n");
                    }
                    out.extend_from_slice(b"\r\n");
                }
                Framing::UntilClose => {
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(&body);
                }
            }
            (out, status, body, reusable)
        })
}

proptest! {
    #![proptest_config(cases(500))]

    /// Arbitrary bytes (and the start of a plausible head followed by them), cut anywhere:
    /// an answer within the limit or an error.
    #[test]
    fn arbitrary_bytes_give_an_answer_or_an_error(
        prefix in prop::sample::select(vec![
            "", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\n",
        ]),
        noise in prop::collection::vec(any::<u8>(), 0..600),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        max_body in 0usize..256,
    ) {
        let wire = [prefix.as_bytes(), &noise].concat();
        if let Ok(answer) = read(&wire, &cuts, max_body) {
            prop_assert!(answer.body.len() <= max_body);
        }
    }

    /// A valid answer reads the same whole and split at any points.
    #[test]
    fn valid_answers_split_anywhere_read_the_same(
        (wire, status, body, reusable) in valid_answer(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = read(&wire, &[], 4096).expect("a valid answer");
        prop_assert_eq!(whole.status, status);
        prop_assert_eq!(&whole.body[..], &body[..]);
        prop_assert_eq!(whole.reusable, reusable);
        prop_assert_eq!(read(&wire, &cuts, 4096), Ok(whole));
        if !body.is_empty() {
            prop_assert_eq!(read(&wire, &cuts, body.len() - 1), Err(AnswerError::TooLarge(body.len() - 1)));
        }
    }
}
