//! Silences people set (`/api/v1/silences`): every silence ever set, kept so that they
//! survive restarts (the Router loads those not over yet at start) and stay listable after
//! they end. What a silence matches and when it is active is the Router's business
//! ([`crate::route::silence`]); the record itself is the shared value [`Silence`].
//!
//! This folder owns the interface ([`SilenceStore`]), the messages and their handlers on the
//! [`StoreActor`](crate::store::StoreActor) (`messages.rs`), and the SQL (`sqlite.rs`: the
//! `silences` table).

use crate::error::StoreError;
use crate::messages::{Silence, Timestamp};

mod messages;
mod sqlite;

pub use messages::{GetSilence, SaveSilence, StoredSilences};

/// The silences' interface to a storage engine (see [`crate::store::Backend`]).
pub trait SilenceStore {
    /// Writes `s` (a new silence, or an existing one with a new start and end).
    fn save_silence(&mut self, s: &Silence) -> Result<(), StoreError>;

    /// The silence `id`, if there is one.
    fn silence(&mut self, id: &str) -> Result<Option<Silence>, StoreError>;

    /// Every silence, newest first; with `active`, only those active (or not) at `now`.
    fn silences(
        &mut self,
        active: Option<bool>,
        now: Timestamp,
    ) -> Result<Vec<Silence>, StoreError>;

    /// The silences not over at `now` (active, or still to begin): what the Router loads at
    /// start.
    fn open_silences(&mut self, now: Timestamp) -> Result<Vec<Silence>, StoreError>;
}
