//! [`StoreLock`]: one running monitor per event store file.
//!
//! The event store file is a monitor's identity: its outbox of pending deliveries, its
//! silences, its learned baselines. Two monitors on one file would each resume the other's
//! pending deliveries (every alert delivered twice) and fight over silences, so the second
//! must refuse to start. SQLite's own locks do not say that (WAL lets many connections in,
//! and `exwatch events` reads the file of a running service on purpose), so the claim is an
//! advisory lock on a file next to the store, `<path>.lock`, taken with `flock` semantics
//! ([`std::fs::File::try_lock`]): it conflicts between two opens in one process as well as
//! between processes, and the kernel drops it when the holder dies, even by `kill -9`, so a
//! stale lock file never blocks a restart. The file itself stays behind, empty; deleting
//! it on release would race with a monitor that is opening it.
//!
//! `":memory:"` stores are private to their monitor and take no lock.
//!
//! Owns only the lock file; touches nothing else.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;

use crate::error::{Error, StoreError};

fn lock_error(store_path: &str, lock: &std::path::Path, error: std::io::Error) -> Error {
    Error::Store(StoreError::Lock {
        path: store_path.to_owned(),
        lock: lock.to_owned(),
        error,
    })
}

/// A held claim on an event store file; released when dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    path: PathBuf,
}

impl StoreLock {
    /// The lock file of the store at `store_path`: `<store_path>.lock`.
    pub fn path_for(store_path: &str) -> PathBuf {
        PathBuf::from(format!("{store_path}.lock"))
    }

    /// Claims the store at `store_path`; `Ok(None)` for `":memory:"`. Fails with
    /// [`Error::AlreadyRunning`] when another monitor (in this process or another) holds it,
    /// and with [`StoreError::Lock`] when the lock file cannot be created or locked.
    pub fn acquire(store_path: &str) -> Result<Option<StoreLock>, Error> {
        if store_path == ":memory:" {
            return Ok(None);
        }
        let path = Self::path_for(store_path);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| lock_error(store_path, &path, error))?;
        // `File::try_lock` (Rust 1.89, the crate's `rust-version`).
        match file.try_lock() {
            Ok(()) => Ok(Some(StoreLock { _file: file, path })),
            Err(TryLockError::WouldBlock) => Err(Error::AlreadyRunning {
                path: store_path.to_owned(),
                lock: path,
            }),
            Err(TryLockError::Error(error)) => Err(lock_error(store_path, &path, error)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let db = db.to_str().unwrap();
        let first = StoreLock::acquire(db).unwrap().unwrap();
        assert_eq!(first.path(), StoreLock::path_for(db));
        match StoreLock::acquire(db) {
            Err(Error::AlreadyRunning { path, .. }) => assert_eq!(path, db),
            other => panic!("expected AlreadyRunning, got {other:?}"),
        }
        drop(first);
        assert!(StoreLock::acquire(db).unwrap().is_some());
    }

    #[test]
    fn memory_stores_take_no_lock() {
        assert!(StoreLock::acquire(":memory:").unwrap().is_none());
        assert!(StoreLock::acquire(":memory:").unwrap().is_none());
    }
}
