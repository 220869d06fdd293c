//! [`Measurements`]: the measurements of one probe, sent to their exchange's detector as one
//! message.
//!
//! A probe's answer yields two or three measurements (errors, latency, a clock skew or a
//! price), all of one exchange. Sent one by one they were one mailbox message each, and each
//! message is an envelope and a queue node on the heap plus a wake-up of the detector's
//! thread; as one [`Measurements`] they are one. The batch holds its measurements inline
//! (a fixed capacity, [`Measurements::CAPACITY`]), so building it allocates nothing.

use actix::Message;

use crate::messages::Measurement;

/// Up to [`Measurements::CAPACITY`] measurements of one exchange, in the order they were
/// observed; the detector judges them in that order.
#[derive(Debug, Clone, Default, Message)]
#[rtype(result = "()")]
pub struct Measurements {
    items: [Option<Measurement>; Measurements::CAPACITY],
}

impl Measurements {
    /// How many measurements one batch holds: a probe's answer yields at most three.
    pub const CAPACITY: usize = 4;

    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `m` after those already in; gives it back when the batch is full.
    pub fn push(&mut self, m: Measurement) -> Result<(), Measurement> {
        match self.items.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => {
                *slot = Some(m);
                Ok(())
            }
            None => Err(m),
        }
    }

    /// The measurements, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Measurement> {
        self.items.iter().map_while(Option::as_ref)
    }

    /// How many measurements the batch holds.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when the batch holds none.
    pub fn is_empty(&self) -> bool {
        self.items[0].is_none()
    }
}

impl IntoIterator for Measurements {
    type Item = Measurement;
    type IntoIter =
        std::iter::Flatten<std::array::IntoIter<Option<Measurement>, { Measurements::CAPACITY }>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Metric, SeriesKey, Timestamp};

    fn m(v: f64) -> Measurement {
        Measurement::ok(SeriesKey::new("x", "e", Metric::LatencyMs), v, Timestamp(0))
    }

    #[test]
    fn a_batch_keeps_the_order_and_refuses_past_its_capacity() {
        let mut b = Measurements::new();
        assert!(b.is_empty());
        for i in 0..Measurements::CAPACITY {
            b.push(m(i as f64)).expect("room");
        }
        assert_eq!(b.len(), Measurements::CAPACITY);
        assert_eq!(b.push(m(9.0)).expect_err("full").value, 9.0);
        let values: Vec<f64> = b.into_iter().map(|m| m.value).collect();
        assert_eq!(values, [0.0, 1.0, 2.0, 3.0]);
    }
}
