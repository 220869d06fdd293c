//! The series of one [`DetectorActor`](crate::detect::DetectorActor), by key: a short list
//! searched in order while it holds few, a hash map past that.
//!
//! Most exchanges have one to four endpoints, two or three series each. A hash table of two
//! entries allocated four 48 B buckets and their control bytes (212 B, served from a 224 B
//! class), and the map itself took 40 B of the actor, which sits inline in its task; a list
//! sized to its entries is 48 B an entry and 24 B inline. Searching eight keys in order costs
//! no more than hashing one.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::OnceLock;

use crate::detect::tracked::TrackedSeries;
use crate::messages::SeriesKey;

/// The most series kept in the list; the next one moves them to a hash map.
const FEW: usize = 8;

/// Series by key. See the module docs.
pub(crate) enum SeriesMap {
    /// At most [`FEW`], in the order they were tracked.
    Few(Vec<(SeriesKey, Box<TrackedSeries>)>),
    /// More: looked up for every measurement, hashed with foldhash (the keys are the
    /// monitor's own series names). Boxed: the list's 24 B are what the actor carries.
    #[allow(clippy::box_collection)] // The box is the point: 8 B inline instead of 40.
    Many(Box<HashMap<SeriesKey, Box<TrackedSeries>, SeriesHasher>>),
}

/// The hash map's hasher: foldhash seeded once per process, so that a map carries no seed of
/// its own.
#[derive(Clone, Copy, Default)]
pub(crate) struct SeriesHasher;

impl BuildHasher for SeriesHasher {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    fn build_hasher(&self) -> Self::Hasher {
        static SEED: OnceLock<foldhash::fast::FixedState> = OnceLock::new();
        SEED.get_or_init(|| foldhash::fast::FixedState::with_seed(fastrand::u64(..)))
            .build_hasher()
    }
}

impl Default for SeriesMap {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl SeriesMap {
    /// How many series it holds.
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Few(few) => few.len(),
            Self::Many(many) => many.len(),
        }
    }

    /// True when it holds none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The state of `key`, if tracked.
    pub(crate) fn get(&self, key: &SeriesKey) -> Option<&TrackedSeries> {
        match self {
            Self::Few(few) => few.iter().find(|(k, _)| k == key).map(|(_, s)| &**s),
            Self::Many(many) => many.get(key).map(|s| &**s),
        }
    }

    /// The state of `key`, if tracked, to change.
    pub(crate) fn get_mut(&mut self, key: &SeriesKey) -> Option<&mut TrackedSeries> {
        match self {
            Self::Few(few) => few
                .iter_mut()
                .find(|(k, _)| k == key)
                .map(|(_, s)| &mut **s),
            Self::Many(many) => many.get_mut(key).map(|s| &mut **s),
        }
    }

    /// True when `key` is tracked.
    pub(crate) fn contains_key(&self, key: &SeriesKey) -> bool {
        self.get(key).is_some()
    }

    /// Tracks `key` with `state` (replacing its state if it was tracked).
    pub(crate) fn insert(&mut self, key: SeriesKey, state: Box<TrackedSeries>) {
        match self {
            Self::Few(few) => {
                if let Some(slot) = few.iter_mut().find(|(k, _)| *k == key) {
                    slot.1 = state;
                } else if few.len() < FEW {
                    // One at a time: an exchange's series are few and arrive at its start.
                    few.reserve_exact(1);
                    few.push((key, state));
                } else {
                    let mut many: HashMap<_, _, _> =
                        HashMap::with_capacity_and_hasher(FEW * 2, SeriesHasher);
                    many.extend(few.drain(..));
                    many.insert(key, state);
                    *self = Self::Many(Box::new(many));
                }
            }
            Self::Many(many) => {
                many.insert(key, state);
            }
        }
    }

    /// Keeps the series `keep` says yes to.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&SeriesKey) -> bool) {
        match self {
            Self::Few(few) => few.retain(|(k, _)| keep(k)),
            Self::Many(many) => many.retain(|k, _| keep(k)),
        }
    }

    /// Every state, in no particular order.
    pub(crate) fn values(&self) -> Box<dyn Iterator<Item = &TrackedSeries> + '_> {
        match self {
            Self::Few(few) => Box::new(few.iter().map(|(_, s)| &**s)),
            Self::Many(many) => Box::new(many.values().map(|s| &**s)),
        }
    }

    /// Every key, in no particular order.
    pub(crate) fn keys(&self) -> Vec<SeriesKey> {
        match self {
            Self::Few(few) => few.iter().map(|(k, _)| k.clone()).collect(),
            Self::Many(many) => many.keys().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::SupervisionSettings;
    use crate::detect::config::DetectSettings;
    use crate::detect::shared::{DetectorOutputs, DetectorShared};
    use crate::messages::{Anomaly, Metric, Resolved};
    use crate::metrics::Metrics;
    use actix::{Actor, Context, Handler};

    struct Sink;
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<Anomaly> for Sink {
        type Result = ();
        fn handle(&mut self, _: Anomaly, _: &mut Context<Self>) {}
    }
    impl Handler<Resolved> for Sink {
        type Result = ();
        fn handle(&mut self, _: Resolved, _: &mut Context<Self>) {}
    }

    fn key(i: usize) -> SeriesKey {
        SeriesKey::new("x", format!("e{i}"), Metric::LatencyMs)
    }

    #[actix::test]
    async fn a_map_of_many_holds_what_a_map_of_few_held() {
        let sink = Sink.start();
        let shared = DetectorShared::new(
            Arc::new(DetectSettings::default()),
            SupervisionSettings::default(),
            DetectorOutputs {
                anomalies: sink.clone().recipient(),
                resolved: sink.recipient(),
            },
            Arc::new(Metrics::new()),
            None,
        );
        let mut map = SeriesMap::default();
        for i in 0..3 * FEW {
            let generation = i as u64 + 1;
            map.insert(
                key(i),
                Box::new(TrackedSeries::new(&key(i), &shared, generation)),
            );
            assert_eq!(map.len(), i + 1);
            assert_eq!(matches!(map, SeriesMap::Many(_)), i >= FEW, "after {i}");
            for j in 0..=i {
                let state = map.get(&key(j)).expect("tracked").state();
                assert_eq!(state.generation, j as u64 + 1, "{j} after {i}");
            }
            assert!(!map.contains_key(&key(i + 1)));
        }
        // A second insert of a key replaces its state.
        map.insert(key(0), Box::new(TrackedSeries::new(&key(0), &shared, 100)));
        assert_eq!(
            map.get_mut(&key(0)).map(|s| s.state().generation),
            Some(100)
        );
        assert_eq!(map.len(), 3 * FEW);

        map.retain(|k| k != &key(1));
        assert_eq!(map.len(), 3 * FEW - 1);
        assert!(!map.contains_key(&key(1)));
        let mut keys = map.keys();
        keys.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        assert_eq!(keys.len(), map.values().count());
        assert!(keys.contains(&key(0)) && keys.contains(&key(2)));

        let mut few = SeriesMap::default();
        few.insert(key(0), Box::new(TrackedSeries::new(&key(0), &shared, 1)));
        few.insert(key(0), Box::new(TrackedSeries::new(&key(0), &shared, 2)));
        assert_eq!(few.len(), 1);
        assert_eq!(few.get(&key(0)).map(|s| s.state().generation), Some(2));
        few.retain(|_| false);
        assert!(few.is_empty());
    }
}
