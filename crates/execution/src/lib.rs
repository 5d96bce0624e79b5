//! Ingot's deterministic state machine.
//!
//! [`Executor::execute_block`] applies one finalized block to the world state:
//! for each transaction it checks what only state can tell (replay, expiry,
//! revocation, certificate validity at *block* time), dispatches the call to
//! its module through the [`registry`], and records a [`Receipt`](ingot_types::Receipt). A failed
//! transaction changes nothing (its hash still may not be included again, see
//! [`recent`]). Nothing here reads the
//! wall clock, uses floating point, or iterates an unordered map.

pub mod args;
pub mod executor;
pub mod failure;
pub mod live;
pub mod modules;
pub mod overlay;
pub mod recent;
pub mod registry;
pub mod visibility;

pub use executor::{
    authenticate, authenticate_all, receipt_hash, sign_call, sign_transaction, verify_signed,
    AnchoredTx, AuthError, BlockOutcome, Executor,
};
pub use ingot_module::{
    block_receipt_id, consortium::change_takes_effect as consortium_change_takes_effect,
    BlockContext, Consortium, TxContext,
};
pub use live::LiveConsortium;
pub use overlay::Overlay;
pub use recent::RecentTxs;

/// Work units charged per transaction before any module work.
pub const BASE_WORK: u64 = 1_000;
/// Upper bound on work units one transaction may use (the consortium may
/// vote a lower one: `ChainParams::max_work_per_tx`).
pub use ingot_types::limits::MAX_WORK_PER_TX;
