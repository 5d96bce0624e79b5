//! The mempool: authenticated transactions waiting to be proposed.
//!
//! Admission checks the signature and certificate chain first (so nothing
//! unauthenticated takes space), then deduplicates by hash, enforces a
//! per-sender limit (so one chatty sender cannot crowd out the rest) and a
//! global bound with a clear "full" error. Transactions leave when a finalized
//! block includes them or when they expire.

use ingot_types::{Digest, SignedTransaction};
use std::collections::{BTreeMap, HashMap};

/// Most transactions held at once.
pub const MAX_MEMPOOL_TXS: usize = 200_000;
/// Most pending transactions from one certificate.
pub const MAX_PER_SENDER: usize = 20_000;
/// How far past the validity window a transaction may start and still be held.
/// A client reads the tip from one node and may submit to another a few blocks
/// behind it (or to one whose execution trails finality): with
/// `valid_until = tip + MAX_VALIDITY_BLOCKS` the lagging node would see a
/// window one block too long. Such a transaction waits here until the chain
/// reaches it ([`within_validity_window`] gates proposals); anything further
/// ahead is refused, so peers cannot park never-proposable transactions.
pub const ADMISSION_LEAD_BLOCKS: u64 = 100;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MempoolError {
    #[error("mempool full ({MAX_MEMPOOL_TXS} transactions); retry later")]
    Full,
    #[error("sender has {MAX_PER_SENDER} pending transactions; retry later")]
    SenderLimit,
    #[error("transaction already pending")]
    Duplicate,
    #[error("transaction expired at height {0}")]
    Expired(u64),
    #[error("rejected: valid until height {0}, beyond the {max}-block validity window", max = ingot_types::limits::MAX_VALIDITY_BLOCKS)]
    WindowTooLong(u64),
}

struct Entry {
    tx: SignedTransaction,
    sender: [u8; 32],
}

#[derive(Default)]
pub struct Mempool {
    /// Arrival order → hash; proposals take the oldest first (fairness).
    order: BTreeMap<u64, Digest>,
    entries: HashMap<Digest, (u64, Entry)>,
    per_sender: HashMap<[u8; 32], usize>,
    next_seq: u64,
}

impl Mempool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, hash: &Digest) -> bool {
        self.entries.contains_key(hash)
    }

    /// Admit an already-authenticated transaction.
    pub fn insert(
        &mut self,
        hash: Digest,
        sender: [u8; 32],
        tx: SignedTransaction,
        height: u64,
    ) -> Result<(), MempoolError> {
        if self.entries.contains_key(&hash) {
            return Err(MempoolError::Duplicate);
        }
        if tx.tx.valid_until < height {
            return Err(MempoolError::Expired(tx.tx.valid_until));
        }
        if !admissible_window(tx.tx.valid_until, height) {
            return Err(MempoolError::WindowTooLong(tx.tx.valid_until));
        }
        if self.entries.len() >= MAX_MEMPOOL_TXS {
            return Err(MempoolError::Full);
        }
        let count = self.per_sender.entry(sender).or_default();
        if *count >= MAX_PER_SENDER {
            return Err(MempoolError::SenderLimit);
        }
        *count += 1;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, hash);
        self.entries.insert(hash, (seq, Entry { tx, sender }));
        Ok(())
    }

    /// Up to `max_txs` oldest transactions (within `max_bytes`) not in `exclude`
    /// and still valid at `height`.
    pub fn select(
        &self,
        max_txs: usize,
        max_bytes: usize,
        height: u64,
        exclude: &std::collections::HashSet<Digest>,
    ) -> Vec<SignedTransaction> {
        use commonware_codec::EncodeSize;
        let mut out = Vec::new();
        let mut bytes = 0;
        for hash in self.order.values() {
            if out.len() >= max_txs {
                break;
            }
            if exclude.contains(hash) {
                continue;
            }
            let (_, entry) = &self.entries[hash];
            if !within_validity_window(entry.tx.tx.valid_until, height) {
                continue;
            }
            let size = entry.tx.encode_size();
            if bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(entry.tx.clone());
        }
        out
    }

    pub fn remove(&mut self, hash: &Digest) {
        if let Some((seq, entry)) = self.entries.remove(hash) {
            self.order.remove(&seq);
            if let Some(c) = self.per_sender.get_mut(&entry.sender) {
                *c -= 1;
                if *c == 0 {
                    self.per_sender.remove(&entry.sender);
                }
            }
        }
    }

    /// Drop everything that can no longer be included at `height`.
    pub fn prune_expired(&mut self, height: u64) {
        self.retain(|tx| tx.tx.valid_until >= height);
    }

    /// Keep only the transactions `keep` accepts; how many were dropped.
    pub fn retain(&mut self, keep: impl Fn(&SignedTransaction) -> bool) -> usize {
        let dropped: Vec<Digest> = self
            .entries
            .iter()
            .filter(|(_, (_, e))| !keep(&e.tx))
            .map(|(h, _)| *h)
            .collect();
        for h in &dropped {
            self.remove(h);
        }
        dropped.len()
    }
}

/// Whether a transaction valid until `valid_until` may go into a block at
/// `height` (block verification refuses proposals with any other).
pub fn within_validity_window(valid_until: u64, height: u64) -> bool {
    valid_until >= height && valid_until - height <= ingot_types::limits::MAX_VALIDITY_BLOCKS
}

/// Whether a transaction valid until `valid_until` may wait in the mempool at
/// `height`: within the validity window, or at most [`ADMISSION_LEAD_BLOCKS`]
/// before it starts.
pub fn admissible_window(valid_until: u64, height: u64) -> bool {
    valid_until >= height
        && valid_until - height <= ingot_types::limits::MAX_VALIDITY_BLOCKS + ADMISSION_LEAD_BLOCKS
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ingot_types::{sha256, tx::TX_VERSION, Call, Transaction};

    fn tx(salt: u64, valid_until: u64) -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                version: TX_VERSION,
                chain_id: sha256(&[b"c"]),
                certificate: Bytes::new(),
                valid_until,
                salt,
                call: Call {
                    module: "notary".into(),
                    method: "record".into(),
                    args: Bytes::new(),
                },
            },
            signature: Bytes::new(),
        }
    }

    #[test]
    fn dedup_order_limits_and_expiry() {
        let mut m = Mempool::default();
        let a = tx(1, 10);
        let b = tx(2, 5);
        m.insert(a.hash(), [1; 32], a.clone(), 1).unwrap();
        assert_eq!(
            m.insert(a.hash(), [1; 32], a.clone(), 1),
            Err(MempoolError::Duplicate)
        );
        m.insert(b.hash(), [2; 32], b.clone(), 1).unwrap();
        let sel = m.select(10, usize::MAX, 1, &Default::default());
        assert_eq!(sel, vec![a.clone(), b.clone()], "oldest first");
        let excl = [a.hash()].into_iter().collect();
        assert_eq!(m.select(10, usize::MAX, 1, &excl), vec![b.clone()]);
        assert_eq!(
            m.select(10, usize::MAX, 6, &Default::default()),
            vec![a.clone()]
        );
        m.prune_expired(6);
        assert_eq!(m.len(), 1);
        assert_eq!(
            m.insert(b.hash(), [2; 32], b, 6),
            Err(MempoolError::Expired(5))
        );
        m.remove(&a.hash());
        assert!(m.is_empty());
        for i in 0..MAX_PER_SENDER as u64 {
            let t = tx(100 + i, 10);
            m.insert(t.hash(), [9; 32], t, 1).unwrap();
        }
        let t = tx(1, 10);
        assert_eq!(
            m.insert(t.hash(), [9; 32], t, 1),
            Err(MempoolError::SenderLimit)
        );
    }

    /// A node a few blocks behind the client's view of the tip holds a
    /// transaction whose window has not reached it yet, and proposes it once
    /// it has; a transaction beyond the lead is refused, from peers too.
    #[test]
    fn a_window_starting_slightly_ahead_waits_for_the_chain() {
        use ingot_types::limits::MAX_VALIDITY_BLOCKS as MAX;
        let mut m = Mempool::default();
        let early = tx(1, 10 + MAX + 5);
        m.insert(early.hash(), [1; 32], early.clone(), 10).unwrap();
        assert!(m.select(10, usize::MAX, 10, &Default::default()).is_empty());
        assert_eq!(
            m.select(10, usize::MAX, 15, &Default::default()),
            vec![early]
        );
        let far = tx(2, 10 + MAX + ADMISSION_LEAD_BLOCKS + 1);
        assert_eq!(
            m.insert(far.hash(), [1; 32], far.clone(), 10),
            Err(MempoolError::WindowTooLong(far.tx.valid_until))
        );
        let forever = tx(3, u64::MAX);
        assert!(m.insert(forever.hash(), [1; 32], forever, 10).is_err());
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn validity_window_bounds() {
        use ingot_types::limits::MAX_VALIDITY_BLOCKS as MAX;
        assert!(within_validity_window(10, 10));
        assert!(within_validity_window(10 + MAX, 10));
        assert!(!within_validity_window(9, 10));
        assert!(!within_validity_window(11 + MAX, 10));
        assert!(!within_validity_window(u64::MAX, 10));
    }

    #[test]
    fn retain_drops_what_is_refused_and_frees_its_sender_slots() {
        let mut m = Mempool::default();
        let txs: Vec<_> = (0..6).map(|i| tx(i, 10)).collect();
        for (i, t) in txs.iter().enumerate() {
            // Two senders: even salts [1; 32], odd ones [2; 32].
            m.insert(t.hash(), [1 + (i as u8 % 2); 32], t.clone(), 1)
                .unwrap();
        }
        let dropped = m.retain(|t| t.tx.salt % 2 == 0);
        assert_eq!(dropped, 3);
        assert_eq!(m.len(), 3);
        assert!(txs
            .iter()
            .all(|t| m.contains(&t.hash()) == (t.tx.salt % 2 == 0)));
        assert!(!m.per_sender.contains_key(&[2; 32]));
        assert_eq!(m.per_sender[&[1; 32]], 3);
        // Proposals still take the kept ones in arrival order.
        let salts: Vec<u64> = m
            .select(10, usize::MAX, 1, &Default::default())
            .iter()
            .map(|t| t.tx.salt)
            .collect();
        assert_eq!(salts, [0, 2, 4]);
    }
}
