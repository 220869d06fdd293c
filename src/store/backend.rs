//! [`Backend`]: what a storage engine must do to hold exwatch's event store. One trait per
//! aggregate ([`OutboxStore`], [`EventStore`], [`BaselineStore`], [`SilenceStore`]) and this
//! one over them for the connection itself. [`SqliteStore`](crate::store::SqliteStore)
//! implements them; a PostgreSQL backend (several vantages sharing one history) implements the
//! same traits and runs behind the same [`StoreActor`](crate::store::StoreActor), so nothing
//! outside `store/` changes with the engine.
//!
//! Every method is synchronous and may block on the disk or the network: only the store's own
//! thread calls them. Every method takes `&mut self`, so a backend may keep one client and
//! its prepared statements without interior mutability.

use std::time::Duration;

use crate::error::StoreError;
use crate::store::{BaselineStore, EventStore, OutboxStore, SilenceStore};

/// A storage engine for the whole event store. See the module docs.
pub trait Backend:
    OutboxStore + EventStore + BaselineStore + SilenceStore + Send + 'static
{
    /// Where it lives, for logs: the file (or `:memory:`), or the server.
    fn path(&self) -> &str;

    /// Proves the store takes writes now, waiting at most `wait` for another writer's lock.
    /// `/readyz` asks this.
    fn check_writable(&mut self, wait: Duration) -> Result<(), StoreError>;

    /// Lets go of the storage now (the file, the server connection), whoever still holds the
    /// backend: any later call fails (and is logged) instead of touching it.
    fn close(&mut self);
}
