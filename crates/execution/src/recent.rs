//! Replay protection from a bounded window of recent inclusions.
//!
//! A transaction names the last height it may be included at (`valid_until`),
//! and blocks only carry transactions with `height ≤ valid_until ≤ height +
//! MAX_VALIDITY_BLOCKS` (block verification refuses the rest). So a
//! transaction included at height `h` can only come back while the chain is at
//! most at `h + MAX_VALIDITY_BLOCKS`: to refuse every replay it suffices to
//! remember the hashes included in the last `MAX_VALIDITY_BLOCKS` blocks.
//!
//! Earlier versions kept one authenticated state entry per transaction (plus
//! an expiry list to delete it later): three merkleized writes per
//! transaction for data that is a pure function of the chain. This window is
//! that same function kept in memory, bounded by `MAX_VALIDITY_BLOCKS ×
//! MAX_BLOCK_TXS` hashes, and rebuilt on restart from the execution journal's
//! receipts (see [`counts_as_inclusion`]). Every validator derives it from the
//! same finalized blocks, so it is as deterministic as the state itself.

use ingot_types::{limits::MAX_VALIDITY_BLOCKS, Digest, Receipt, Status};
use std::{collections::HashMap, sync::RwLock};

/// Whether `receipt` marks its transaction hash as included. A block may
/// carry a transaction it does not *include* — a replay, or one outside its
/// validity window (the executor's `tx` codes); every other receipt, success
/// or failure, makes its hash unusable until it expires. Decided by code, so
/// no module's failure can be mistaken for one of these.
pub fn counts_as_inclusion(receipt: &Receipt) -> bool {
    use crate::failure::tx;
    match &receipt.status {
        Status::Success => true,
        Status::Failed(f) => ![tx::REPLAY, tx::EXPIRED, tx::WINDOW_TOO_LONG]
            .iter()
            .any(|c| c.module == f.module && c.code == f.code),
    }
}

/// Bytes of a hash kept: 128 bits. A false "replay" would need a second
/// preimage of another sender's transaction hash on 128 bits; colliding two
/// of one's own transactions (2^64 work) only refuses one's own.
const KEY_BYTES: usize = 16;
/// Heights between sweeps of entries that left the window.
const SWEEP_EVERY: u64 = 32;

fn key(hash: &Digest) -> [u8; KEY_BYTES] {
    hash.as_ref()[..KEY_BYTES]
        .try_into()
        .expect("digest is longer than a key")
}

#[derive(Default)]
struct Window {
    /// Hash prefix → height of its inclusion. Entries that left the window
    /// are swept every [`SWEEP_EVERY`] heights; until then they are harmless:
    /// a transaction included before `height - MAX_VALIDITY_BLOCKS` has
    /// expired, and expiry is checked before replay.
    by_hash: HashMap<[u8; KEY_BYTES], u64>,
    last: u64,
    swept: u64,
}

/// Hashes of the transactions included in the last `MAX_VALIDITY_BLOCKS`
/// heights, with the height of each inclusion: ~40 bytes per transaction,
/// at most `MAX_VALIDITY_BLOCKS × MAX_BLOCK_TXS` of them.
#[derive(Default)]
pub struct RecentTxs {
    window: RwLock<Window>,
}

impl RecentTxs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Height at which `hash` was included, if that can still matter.
    pub fn included_at(&self, hash: &Digest) -> Option<u64> {
        self.window
            .read()
            .expect("window lock")
            .by_hash
            .get(&key(hash))
            .copied()
    }

    /// Remember the inclusions of `height`. Heights must increase; a height
    /// already recorded (redelivery after a restart) is ignored.
    pub fn record(&self, height: u64, hashes: Vec<Digest>) {
        let mut w = self.window.write().expect("window lock");
        if w.last >= height {
            return;
        }
        w.last = height;
        if height >= w.swept + SWEEP_EVERY {
            // Keep what a block at `height + 1` may still need.
            let horizon = Self::horizon(height + 1);
            w.by_hash.retain(|_, h| *h >= horizon);
            w.swept = height;
        }
        for hash in &hashes {
            w.by_hash.entry(key(hash)).or_insert(height);
        }
    }

    /// Record a height from its receipts (the execution journal), as after a
    /// restart: the transactions its receipts count as included, without the
    /// block's trailing event receipt.
    pub fn record_receipts(&self, height: u64, receipts: &[Receipt]) {
        self.record(height, Self::inclusions(height, receipts));
    }

    /// The transactions `receipts` of `height` count as included (what
    /// [`Self::record_receipts`] remembers).
    pub fn inclusions(height: u64, receipts: &[Receipt]) -> Vec<Digest> {
        let block_events = crate::block_receipt_id(height);
        receipts
            .iter()
            .filter(|r| counts_as_inclusion(r) && r.tx_hash != block_events)
            .map(|r| r.tx_hash)
            .collect()
    }

    /// Lowest height whose inclusions a replay check at `height` needs.
    pub fn horizon(height: u64) -> u64 {
        height.saturating_sub(MAX_VALIDITY_BLOCKS).max(1)
    }

    /// Hashes remembered (including some just past the window until the
    /// next sweep).
    pub fn len(&self) -> usize {
        self.window.read().expect("window lock").by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_types::sha256;

    fn h(i: u64) -> Digest {
        sha256(&[&i.to_be_bytes()])
    }

    #[test]
    fn remembers_exactly_the_validity_window() {
        let recent = RecentTxs::new();
        recent.record(1, vec![h(1)]);
        recent.record(2, vec![h(2)]);
        // At height MAX + 1 a transaction included at 1 can still be valid
        // (valid_until = 1 + MAX ≥ MAX + 1): it must be remembered while the
        // block of height MAX + 1 executes, i.e. after recording MAX.
        recent.record(MAX_VALIDITY_BLOCKS, vec![]);
        assert_eq!(recent.included_at(&h(1)), Some(1));
        // After recording MAX + 1, the next block is MAX + 2 > 1 + MAX: the
        // entry may go (at the next sweep, every 32 heights).
        recent.record(MAX_VALIDITY_BLOCKS + 1, vec![h(3)]);
        assert_eq!(recent.included_at(&h(2)), Some(2));
        assert_eq!(recent.included_at(&h(3)), Some(MAX_VALIDITY_BLOCKS + 1));
        recent.record(MAX_VALIDITY_BLOCKS + SWEEP_EVERY + 1, vec![]);
        assert_eq!(recent.included_at(&h(1)), None);
        assert_eq!(recent.included_at(&h(2)), None);
        assert_eq!(recent.included_at(&h(3)), Some(MAX_VALIDITY_BLOCKS + 1));
        assert_eq!(recent.len(), 1);
    }

    #[test]
    fn redelivered_heights_are_ignored_and_first_inclusion_wins() {
        let recent = RecentTxs::new();
        recent.record(5, vec![h(1)]);
        recent.record(5, vec![h(2)]);
        recent.record(4, vec![h(3)]);
        assert_eq!(recent.len(), 1);
        recent.record(6, vec![h(1)]);
        assert_eq!(recent.included_at(&h(1)), Some(5));
    }

    #[test]
    fn which_receipts_include() {
        let r = |status| Receipt {
            tx_hash: h(0),
            status,
            events: vec![],
            work_used: 0,
        };
        assert!(counts_as_inclusion(&r(Status::Success)));
        assert!(counts_as_inclusion(&r(Status::Failed(
            crate::modules::notary::failures::ALREADY_RECORDED.bare()
        ))));
        // A module failure with the same number as a `tx` code still includes.
        let mut lookalike = crate::failure::tx::REPLAY.bare();
        lookalike.module = "notary".into();
        assert!(counts_as_inclusion(&r(Status::Failed(lookalike))));
        use crate::failure::tx;
        for code in [tx::REPLAY, tx::EXPIRED, tx::WINDOW_TOO_LONG] {
            assert!(!counts_as_inclusion(&r(Status::Failed(code.bare()))));
        }
    }
}
