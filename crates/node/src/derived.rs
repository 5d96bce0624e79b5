//! Stores derived from executed blocks (DESIGN.md decision 3): the ledger
//! index (transaction locations, device names) and the telemetry store
//! (readings). Each is fed every executed height in order, records the last
//! height it took, ignores a height it already has, and can be cleared and
//! rebuilt from the node's own block archive and execution journal
//! (`ingot rebuild-derived`). None is ever an input to consensus. A SQL layer
//! or the console's indexes plug in the same way: implement [`Derived`] and
//! add the store to [`crate::rebuild`] and to the executor's feed.

use crate::ledger::ExecRecord;
use ingot_execution::AnchoredTx;
use ingot_types::Block;

/// One executed height, as derived stores take it.
pub struct Executed<'a> {
    pub block: &'a Block,
    pub record: &'a ExecRecord,
    /// What execution already computed for derived stores (telemetry batches
    /// with their reading roots); `None` when re-deriving from disk, where
    /// the block and receipts are decoded again.
    pub anchored: Option<&'a [AnchoredTx]>,
    /// Make this and every earlier write survive a crash (a store may batch
    /// syncs; what a crash loses is taken again on start).
    pub durable: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{store}: {message}")]
pub struct DerivedError {
    pub store: &'static str,
    pub message: String,
}

/// A store derived from executed blocks.
pub trait Derived: Send + Sync {
    /// The store's name (logs, reports).
    fn name(&self) -> &'static str;

    /// The last height taken (0: none).
    fn height(&self) -> Result<u64, DerivedError>;

    /// Take one executed height; a height at or below [`Derived::height`]
    /// changes nothing.
    fn take(&self, executed: &Executed<'_>) -> Result<(), DerivedError>;

    /// Forget everything (a rebuild then takes every height from 1).
    fn clear(&self) -> Result<(), DerivedError>;
}
