//! A connection's subscribe requests in flight, pure: which streams each request carries, and
//! which streams an acknowledgement or a refusal answers for.
//!
//! An answer is matched to its request by the id the venue echoes (Binance `id`, Bybit
//! `req_id`), else by the topic it names (OKX acknowledges each `arg`), else it answers the
//! oldest request still waiting (venues answer in order). A refused request of several topics
//! does not condemn them all: it is split, each topic asked again alone, so that a refusal
//! counts only for the stream it is about. Time is given by the caller.

use std::collections::VecDeque;
use std::time::Duration;

use actix::clock::Instant;

/// One request in flight.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    id: u64,
    streams: Vec<usize>,
    sent: Instant,
    /// Still queued behind the pacing (not waited for yet).
    queued: bool,
}

/// What a refusal means for the streams it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A request of several topics: ask for each of these streams again, alone.
    Split(Vec<usize>),
    /// The refusal of this stream's own request: it counts for the stream.
    Refused(usize),
    /// Nothing waiting matches: ignored.
    Unmatched,
}

/// The requests in flight on one connection.
#[derive(Debug, Default)]
pub struct Requests {
    pending: VecDeque<Pending>,
}

impl Requests {
    /// None in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Request `id`, carrying `streams`, was sent at `at`.
    pub fn sent(&mut self, id: u64, streams: Vec<usize>, at: Instant) {
        self.push(id, streams, at, false);
    }

    /// Request `id`, carrying `streams`, was queued behind the pacing at `at`: it is waited
    /// for once it leaves ([`Requests::restart`]).
    pub fn queued(&mut self, id: u64, streams: Vec<usize>, at: Instant) {
        self.push(id, streams, at, true);
    }

    fn push(&mut self, id: u64, streams: Vec<usize>, sent: Instant, queued: bool) {
        if !streams.is_empty() {
            self.pending.push_back(Pending {
                id,
                streams,
                sent,
                queued,
            });
        }
    }

    /// Request `id` left at `at` (it had waited behind the pacing): its answer is waited for
    /// from then.
    pub fn restart(&mut self, id: u64, at: Instant) {
        if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
            p.sent = at;
            p.queued = false;
        }
    }

    /// Requests in flight.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when none is in flight.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Which request an answer is for: by `id`, else by the stream its topic names, else the
    /// oldest.
    fn find(&self, id: Option<u64>, stream: Option<usize>) -> Option<usize> {
        if let Some(id) = id
            && let Some(i) = self.pending.iter().position(|p| p.id == id)
        {
            return Some(i);
        }
        if let Some(s) = stream {
            return self.pending.iter().position(|p| p.streams.contains(&s));
        }
        if id.is_some() {
            return None;
        }
        self.pending.iter().position(|p| !p.queued)
    }

    /// An acknowledgement (request `id`, or the topic of `stream`): the streams it confirms,
    /// with how long each waited. An acknowledgement by topic confirms that stream only (OKX
    /// answers each topic of a request).
    pub fn ack(
        &mut self,
        id: Option<u64>,
        stream: Option<usize>,
        now: Instant,
    ) -> Vec<(usize, Duration)> {
        let Some(i) = self.find(id, stream) else {
            return Vec::new();
        };
        let waited = now.saturating_duration_since(self.pending[i].sent);
        let by_topic = stream.filter(|_| id.is_none_or(|id| self.pending[i].id != id));
        match by_topic {
            Some(s) => {
                let p = &mut self.pending[i];
                p.streams.retain(|x| *x != s);
                if p.streams.is_empty() {
                    self.pending.remove(i);
                }
                vec![(s, waited)]
            }
            None => {
                let p = self.pending.remove(i).unwrap_or_else(|| unreachable!());
                p.streams.into_iter().map(|s| (s, waited)).collect()
            }
        }
    }

    /// A refusal (request `id`, or the topic of `stream`): see [`Refusal`].
    pub fn refuse(&mut self, id: Option<u64>, stream: Option<usize>) -> Refusal {
        let Some(i) = self.find(id, stream) else {
            return Refusal::Unmatched;
        };
        let p = self.pending.remove(i).unwrap_or_else(|| unreachable!());
        match p.streams.as_slice() {
            [one] => Refusal::Refused(*one),
            _ => Refusal::Split(p.streams),
        }
    }

    /// Takes the requests sent more than `timeout` before `now`: their streams.
    pub fn expired(&mut self, now: Instant, timeout: Duration) -> Vec<usize> {
        let mut out = Vec::new();
        self.pending.retain_mut(|p| {
            let late = !p.queued && now.saturating_duration_since(p.sent) > timeout;
            if late {
                out.append(&mut p.streams);
            }
            !late
        });
        out
    }

    /// Forgets `stream` (it left the connection).
    pub fn forget(&mut self, stream: usize) {
        for p in &mut self.pending {
            p.streams.retain(|s| *s != stream);
        }
        self.pending.retain(|p| !p.streams.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_by_id_by_topic_and_in_order() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut r = Requests::new();
        r.sent(1, vec![0, 1, 2], t);
        r.sent(2, vec![3], t + ms(10));
        // By id: the whole request.
        let a = r.ack(Some(2), None, t + ms(30));
        assert_eq!(a, [(3, ms(20))]);
        // By topic (OKX): one stream at a time.
        assert_eq!(r.ack(None, Some(1), t + ms(40)), [(1, ms(40))]);
        assert_eq!(r.len(), 1);
        // No id, no topic: the oldest.
        assert_eq!(r.ack(None, None, t + ms(50)), [(0, ms(50)), (2, ms(50))]);
        assert!(r.is_empty());
        // Nothing waiting: nothing confirmed; an unknown id matches nothing.
        assert!(r.ack(None, None, t).is_empty());
        r.sent(5, vec![9], t);
        assert!(r.ack(Some(6), None, t).is_empty());
    }

    #[test]
    fn a_refused_batch_is_split_and_a_refused_single_counts_for_its_stream() {
        let t = Instant::now();
        let mut r = Requests::new();
        r.sent(1, vec![0, 1, 2], t);
        r.sent(2, vec![7], t);
        assert_eq!(r.refuse(Some(1), None), Refusal::Split(vec![0, 1, 2]));
        assert_eq!(r.refuse(Some(2), None), Refusal::Refused(7));
        assert_eq!(r.refuse(Some(3), None), Refusal::Unmatched);
        // An OKX error names no request: the oldest waiting.
        r.sent(3, vec![4], t);
        r.sent(4, vec![5], t);
        assert_eq!(r.refuse(None, None), Refusal::Refused(4));
        assert_eq!(r.refuse(None, Some(5)), Refusal::Refused(5));
    }

    #[test]
    fn requests_unanswered_expire_and_streams_can_leave() {
        let t = Instant::now();
        let s = Duration::from_secs;
        let mut r = Requests::new();
        r.sent(1, vec![0, 1], t);
        r.sent(2, vec![2], t + s(5));
        r.forget(1);
        assert_eq!(r.expired(t + s(3), s(2)), [0]);
        assert_eq!(r.len(), 1);
        r.forget(2);
        assert!(r.is_empty());
        r.sent(3, vec![], t);
        assert!(r.is_empty(), "an empty request is not waited for");
        // A request queued behind the pacing is waited for from when it left.
        r.queued(4, vec![1], t);
        assert!(r.expired(t + s(9), s(2)).is_empty());
        assert!(
            r.ack(None, None, t).is_empty(),
            "not answered before it left"
        );
        r.restart(4, t + s(10));
        assert!(r.expired(t + s(11), s(2)).is_empty());
        assert_eq!(r.expired(t + s(13), s(2)), [1]);
    }
}
