//! Stores derived from executed blocks (DESIGN.md decision 3): indexes a
//! node keeps beside consensus state (transaction locations, device names,
//! telemetry readings, and later SQL tables or console indexes). Each is fed
//! every executed height in order, records the last height it took, ignores
//! a height it already has, and can be cleared and rebuilt from the node's
//! own block archive and execution journal. None is ever an input to
//! consensus. A module declares its own (`ingot_module_api::ModuleApi::
//! derived_stores`); the node feeds them and rebuilds them.

use ingot_types::{
    telemetry::{BatchCommitment, ReadingBatch},
    Block, Receipt,
};
use std::{any::Any, sync::Arc};

/// The accepted batches of one anchoring transaction (what execution hands
/// to derived stores so readings are decoded and hashed once).
#[derive(Clone, Debug)]
pub struct AnchoredTx {
    /// Position of the transaction in its block.
    pub tx_index: u32,
    /// Accepted batches in order, each with its commitment (its readings'
    /// Merkle root and who signed it).
    pub batches: Vec<(ReadingBatch, BatchCommitment)>,
}

/// One executed height, as derived stores take it.
pub struct Executed<'a> {
    pub height: u64,
    pub block: &'a Block,
    /// The block's receipts, in order (a trailing block-level one included).
    pub receipts: &'a [Receipt],
    /// What execution already computed for derived stores; `None` when
    /// re-deriving from disk, where the block and receipts are decoded again.
    pub anchored: Option<&'a [AnchoredTx]>,
    /// Make this and every earlier write survive a crash (a store may batch
    /// syncs; what a crash loses is taken again on start).
    pub durable: bool,
}

/// Why a derived store failed (its own storage; never the chain's).
#[derive(Debug)]
pub struct DerivedError {
    pub store: &'static str,
    pub message: String,
}

impl std::fmt::Display for DerivedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.store, self.message)
    }
}

impl std::error::Error for DerivedError {}

/// A store derived from executed blocks.
pub trait Derived: Send + Sync + 'static {
    /// The store's name (logs, reports, its file `<name>.redb`).
    fn name(&self) -> &'static str;

    /// The last height taken (0: none).
    fn height(&self) -> Result<u64, DerivedError>;

    /// Take one executed height; a height at or below [`Derived::height`]
    /// changes nothing.
    fn take(&self, executed: &Executed<'_>) -> Result<(), DerivedError>;

    /// Forget everything (a rebuild then takes every height from 1).
    fn clear(&self) -> Result<(), DerivedError>;

    /// The store itself, for the routes of the module that owns it.
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}
