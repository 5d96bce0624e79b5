//! How a module reads and writes state: [`Store`] while executing (the
//! executor's overlay, which charges work and keeps a failed transaction's
//! writes out), [`StateRead`] when the node decides who may read a key.

use crate::BoxFuture;
use ingot_state::StateError;
use ingot_types::telemetry::{BatchCommitment, ReadingBatch};

/// The world state as one transaction sees it while it executes.
pub trait Store: Send {
    /// The value of `key` (the transaction's own writes first). Charges work.
    fn get<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>>;

    /// Whether `key` has a value. Charges work like [`Store::get`].
    fn exists<'a>(&'a mut self, key: &'a [u8]) -> BoxFuture<'a, Result<bool, StateError>> {
        Box::pin(async move { Ok(self.get(key).await?.is_some()) })
    }

    /// Write `key` in the current transaction. Charges work.
    fn put(&mut self, key: Vec<u8>, value: Vec<u8>);

    /// Delete `key` in the current transaction. Charges work.
    fn delete(&mut self, key: Vec<u8>);

    /// Charge work units beyond reads and writes (signature checks, parsing).
    fn charge(&mut self, work: u64);

    /// Keep the current transaction's writes (block-level work settles each
    /// step it takes on its own).
    fn commit_tx(&mut self);

    /// Drop the current transaction's writes.
    fn abort_tx(&mut self);

    /// Note a telemetry batch the current transaction anchored, with its
    /// commitment (reading root, who signed): derived output for the node's
    /// reading store (dropped with the transaction if it fails).
    fn record_anchored(&mut self, batch: ReadingBatch, commitment: BatchCommitment);
}

/// Read access to the committed world state (the node's authenticated store).
pub trait StateRead: Sync {
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>>;
}

impl<E> StateRead for ingot_state::StateStore<E>
where
    E: commonware_runtime::Storage
        + commonware_runtime::Clock
        + commonware_runtime::Metrics
        + commonware_runtime::Spawner,
{
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(ingot_state::StateStore::get(self, key))
    }
}
