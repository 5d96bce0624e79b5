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
use std::{
    collections::{HashMap, VecDeque},
    sync::RwLock,
};

/// Failure reasons of transactions a block carried but did not *include*: a
/// replay, or one outside its validity window. Every other receipt (success
/// or failure) makes its hash unusable until it expires.
pub const REPLAY: &str = "replay:";
pub const EXPIRED: &str = "expired:";
pub const WINDOW: &str = "validity window";

/// Whether `receipt` marks its transaction hash as included.
pub fn counts_as_inclusion(receipt: &Receipt) -> bool {
    match &receipt.status {
        Status::Success => true,
        Status::Failed(reason) => ![REPLAY, EXPIRED, WINDOW]
            .iter()
            .any(|prefix| reason.starts_with(prefix)),
    }
}

#[derive(Default)]
struct Window {
    by_hash: HashMap<Digest, u64>,
    /// Inclusions per height, oldest first.
    by_height: VecDeque<(u64, Vec<Digest>)>,
}

/// Hashes of the transactions included in the last `MAX_VALIDITY_BLOCKS`
/// heights, with the height of each inclusion.
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
            .get(hash)
            .copied()
    }

    /// Remember the inclusions of `height` and forget those that can no
    /// longer be replayed at `height + 1`. Heights must increase; a height
    /// already recorded (redelivery after a restart) is ignored.
    pub fn record(&self, height: u64, hashes: Vec<Digest>) {
        let mut w = self.window.write().expect("window lock");
        if w.by_height.back().is_some_and(|(h, _)| *h >= height) {
            return;
        }
        while let Some((h, _)) = w.by_height.front() {
            if h + MAX_VALIDITY_BLOCKS > height {
                break;
            }
            let (h, old) = w.by_height.pop_front().expect("front exists");
            for hash in old {
                if w.by_hash.get(&hash) == Some(&h) {
                    w.by_hash.remove(&hash);
                }
            }
        }
        for hash in &hashes {
            w.by_hash.entry(*hash).or_insert(height);
        }
        w.by_height.push_back((height, hashes));
    }

    /// Lowest height whose inclusions a replay check at `height` needs.
    pub fn horizon(height: u64) -> u64 {
        height.saturating_sub(MAX_VALIDITY_BLOCKS).max(1)
    }

    /// Hashes remembered.
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
        // After recording MAX + 1, the next block is MAX + 2 > 1 + MAX.
        recent.record(MAX_VALIDITY_BLOCKS + 1, vec![h(3)]);
        assert_eq!(recent.included_at(&h(1)), None);
        assert_eq!(recent.included_at(&h(2)), Some(2));
        assert_eq!(recent.included_at(&h(3)), Some(MAX_VALIDITY_BLOCKS + 1));
        assert_eq!(recent.len(), 2);
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
            "document already recorded".into()
        ))));
        for reason in [
            "replay: already included at height 3",
            "expired: valid until height 2",
            "validity window longer than 1000 blocks",
        ] {
            assert!(!counts_as_inclusion(&r(Status::Failed(reason.into()))));
        }
    }
}
