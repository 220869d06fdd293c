//! Settings that thousands of series share, stored once. [`intern`] returns the `Arc` already
//! held for an equal value, or makes one, so that a series holds a pointer (8 B) where its own
//! copy of the settings took 40–48 B. At 20 000 endpoints, each with a latency and an errors
//! series, that is what moves their models and baselines down an allocator class.
//!
//! The table keeps only what live series use: a value that no series holds any more is dropped
//! at the next call, so a reload that changes the settings leaves nothing behind. A handful of
//! distinct values exist at a time (one per kind of series and set of detection settings), so
//! a scan is enough; it runs once per series created, never per measurement.

use std::any::Any;
use std::sync::Arc;

use parking_lot::Mutex;

/// Every value handed out and still held by someone, of any type.
static TABLE: Mutex<Vec<Arc<dyn Any + Send + Sync>>> = Mutex::new(Vec::new());

/// The shared `Arc` of `value`: the one already held for an equal value, or a new one.
pub fn intern<T: PartialEq + Send + Sync + 'static>(value: T) -> Arc<T> {
    let mut table = TABLE.lock();
    table.retain(|held| Arc::strong_count(held) > 1);
    // Only the match is cloned: a scan touches no other entry's count.
    let found = table
        .iter()
        .find(|held| (***held).downcast_ref::<T>() == Some(&value))
        .and_then(|held| held.clone().downcast::<T>().ok());
    found.unwrap_or_else(|| {
        let shared = Arc::new(value);
        table.push(shared.clone());
        shared
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Rules(u32);

    #[test]
    fn equal_values_share_one_arc_and_unheld_ones_go() {
        let a = intern(Rules(7_000_001));
        let b = intern(Rules(7_000_001));
        assert!(Arc::ptr_eq(&a, &b));
        // Another type with the same bits is another value.
        let c = intern(7_000_001_u32);
        assert_eq!(*c, 7_000_001);
        let d = intern(Rules(7_000_002));
        assert!(!Arc::ptr_eq(&a, &d));
        drop((a, b));
        // Nobody holds Rules(7_000_001) now: the next call drops it from the table.
        let _e = intern(Rules(7_000_003));
        assert!(!TABLE.lock().iter().any(|held| {
            held.clone()
                .downcast::<Rules>()
                .is_ok_and(|r| *r == Rules(7_000_001))
        }));
        assert_eq!(Arc::strong_count(&d), 2, "the table's and d's");
    }
}
