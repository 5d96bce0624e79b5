//! What a module knows about the block and the transaction it runs in.

use crate::Consortium;
use ingot_crypto::Identity;
use ingot_types::{sha256, Digest};
use std::sync::Arc;

/// What a transaction may know about the block it runs in.
#[derive(Clone, Copy, Debug)]
pub struct BlockContext {
    pub height: u64,
    pub timestamp_ms: u64,
}

/// What a module sees while executing one transaction.
pub struct TxContext<'a> {
    pub block: BlockContext,
    pub sender: Arc<Identity>,
    pub tx_hash: [u8; 32],
    /// The consortium as this block sees it (dereferences to its trust store).
    pub trust: &'a Consortium,
    /// The sender's certificate (DER), as carried by the transaction.
    pub certificate: bytes::Bytes,
    /// The transaction's chain id (checked equal to this chain's before
    /// execution); zero in block-end continuations, which have no transaction.
    pub chain_id: Digest,
}

/// The id of a block's trailing receipt of block-level events (it follows
/// the transactions' receipts; no transaction hashes to it).
pub fn block_receipt_id(height: u64) -> Digest {
    sha256(&[b"ingot/block-events/v1", &height.to_be_bytes()])
}
