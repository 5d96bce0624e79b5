//! Where each transaction was executed, derived from the execution journal
//! and kept on disk (device names moved to the device module's own store,
//! `ingot_module_device::names`).
//!
//! It once lived in memory, rebuilt by reading every record since genesis
//! on open: memory grew by ~60 bytes per transaction forever and start-up
//! slowed with the chain's length. Here they are redb tables written with
//! each appended record (one write transaction per height); the index stores
//! the last height it took, so opening only indexes the records after it.
//! A node indexes on a thread of its own, fed through a bounded channel, so
//! the B-tree inserts (random keys: one leaf page each) stay off the
//! executor's path; lookups of recent transactions do not depend on it (see
//! `Shared::locate_tx`). Writes are not synced on their own: after a crash, what the index lost is
//! indexed again from the journal (indexing is idempotent); every
//! [`DURABLE_EVERY`]th height is synced.

use crate::ledger::ExecRecord;
use ingot_execution::recent::counts_as_inclusion;
use ingot_types::{Digest, Receipt};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};
use std::path::Path;

/// Transaction hash → (height, receipt index).
const TXS: TableDefinition<&[u8; 32], (u64, u32)> = TableDefinition::new("txs");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const HEIGHT: &str = "height";
/// Page cache (redb's default of 1 GiB would let a node's memory grow with
/// every transaction indexed).
const CACHE_BYTES: usize = 32 << 20;
/// Heights between synced index writes.
pub const DURABLE_EVERY: u64 = 32;

/// Where a transaction ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("ledger index: {0}")]
pub struct IndexError(String);

impl IndexError {
    pub fn from_message(message: String) -> Self {
        IndexError(message)
    }
}

fn err(e: impl std::fmt::Display) -> IndexError {
    IndexError(e.to_string())
}

pub struct LedgerIndex {
    db: Database,
}

/// Records waiting for the index thread (backpressure beyond).
const QUEUE: usize = 64;
/// Most records indexed in one write transaction.
const GROUP: usize = 32;

/// Feeds records to a thread that indexes them in order.
pub struct IndexWriter {
    queue: Option<std::sync::mpsc::SyncSender<ExecRecord>>,
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for IndexWriter {
    /// Index what is queued and let go of the database before returning.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl IndexWriter {
    pub fn spawn(index: std::sync::Arc<LedgerIndex>) -> Self {
        let (queue, records) = std::sync::mpsc::sync_channel::<ExecRecord>(QUEUE);
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let report = failed.clone();
        let thread = std::thread::Builder::new()
            .name("ledger-index".into())
            .spawn(move || {
                // Whatever queued up while the last write ran goes into one
                // write transaction: fewer commits, and sorted keys touch
                // each B-tree page once instead of once per transaction.
                while let Ok(first) = records.recv() {
                    let mut group = vec![first];
                    while group.len() < GROUP {
                        match records.try_recv() {
                            Ok(record) => group.push(record),
                            Err(_) => break,
                        }
                    }
                    let durable = group.iter().any(|r| r.height.is_multiple_of(DURABLE_EVERY));
                    if let Err(e) = index.index_all(&group, durable) {
                        *report.lock().expect("report lock") = Some(e.to_string());
                        return;
                    }
                }
            })
            .expect("spawn ledger index thread");
        Self {
            queue: Some(queue),
            failed,
            thread: Some(thread),
        }
    }

    /// Queue a record; waits while the thread is [`QUEUE`] records behind.
    pub fn send(&self, record: ExecRecord) -> Result<(), IndexError> {
        if let Some(e) = self.failed.lock().expect("report lock").clone() {
            return Err(IndexError(e));
        }
        self.queue
            .as_ref()
            .expect("present until drop")
            .send(record)
            .map_err(|_| IndexError("index thread stopped".into()))
    }
}

impl LedgerIndex {
    /// Open (or create) the index file; in memory when `path` is `None`.
    pub fn open(path: Option<&Path>) -> Result<Self, IndexError> {
        let db = match path {
            Some(p) => Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(p)
                .map_err(err)?,
            None => Database::builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(err)?,
        };
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(TXS).map_err(err)?;
        tx.open_table(META).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Self { db })
    }

    /// Last height indexed.
    pub fn height(&self) -> Result<u64, IndexError> {
        let tx = self.db.begin_read().map_err(err)?;
        let meta = tx.open_table(META).map_err(err)?;
        Ok(meta.get(HEIGHT).map_err(err)?.map_or(0, |v| v.value()))
    }

    /// Index one record (see [`Self::index_all`]).
    pub fn index(&self, record: &ExecRecord, durable: bool) -> Result<(), IndexError> {
        self.index_all(std::slice::from_ref(record), durable)
    }

    /// Index records (in height order) in one write transaction. The first
    /// inclusion of a hash is the one that counts: a later one can only be a
    /// failed replay and must not hide the original receipt; indexing the
    /// same record again changes nothing. `durable` makes this and every
    /// earlier write survive a crash; without it the write is cheaper and a
    /// crash may lose it.
    pub fn index_all(&self, records: &[ExecRecord], durable: bool) -> Result<(), IndexError> {
        let heights: Vec<(u64, &[Receipt])> = records
            .iter()
            .map(|r| (r.height, r.receipts.as_slice()))
            .collect();
        self.index_receipts(&heights, durable)
    }

    /// [`Self::index_all`] of `(height, receipts)` pairs.
    fn index_receipts(
        &self,
        records: &[(u64, &[Receipt])],
        durable: bool,
    ) -> Result<(), IndexError> {
        let Some(top) = records.iter().map(|(h, _)| *h).max() else {
            return Ok(());
        };
        let mut tx = self.db.begin_write().map_err(err)?;
        if durable {
            // The allocator's state is saved with every durable commit, so the
            // open after a crash does not walk every page of the file to
            // rebuild it (seconds at a million devices; issue 14).
            tx.set_quick_repair(true);
        } else {
            tx.set_durability(Durability::None).map_err(err)?;
        }
        {
            // Hashes are random: in key order the inserts walk the tree's
            // leaves once, left to right. The sort is stable, so receipts of
            // the same hash keep their height order (what the rule below
            // relies on).
            let mut entries: Vec<(&[u8; 32], u64, u32, bool)> = records
                .iter()
                .flat_map(|(height, receipts)| {
                    receipts.iter().enumerate().map(move |(i, r)| {
                        let key: &[u8; 32] = r.tx_hash.as_ref().try_into().expect("32-byte digest");
                        (key, *height, i as u32, counts_as_inclusion(r))
                    })
                })
                .collect();
            entries.sort_by_key(|e| e.0);
            let mut txs = tx.open_table(TXS).map_err(err)?;
            for (key, height, index, inclusion) in entries {
                // An inclusion is unique (replay protection), so it simply
                // wins; a receipt that did not include its transaction (a
                // failed replay, an expired one) never hides another.
                if !inclusion && txs.get(key).map_err(err)?.is_some() {
                    continue;
                }
                txs.insert(key, (height, index)).map_err(err)?;
            }
            let mut meta = tx.open_table(META).map_err(err)?;
            let height = meta.get(HEIGHT).map_err(err)?.map_or(0, |v| v.value());
            meta.insert(HEIGHT, height.max(top)).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Drop every table and start empty (the heights are taken again).
    pub fn clear(&self) -> Result<(), IndexError> {
        let tx = self.db.begin_write().map_err(err)?;
        tx.delete_table(TXS).map_err(err)?;
        tx.delete_table(META).map_err(err)?;
        tx.open_table(TXS).map_err(err)?;
        tx.open_table(META).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Transactions indexed (for reports).
    pub fn transactions(&self) -> Result<u64, IndexError> {
        let tx = self.db.begin_read().map_err(err)?;
        tx.open_table(TXS).map_err(err)?.len().map_err(err)
    }

    pub fn locate(&self, hash: &Digest) -> Result<Option<TxLocation>, IndexError> {
        let tx = self.db.begin_read().map_err(err)?;
        let txs = tx.open_table(TXS).map_err(err)?;
        let key: &[u8; 32] = hash.as_ref().try_into().expect("32-byte digest");
        Ok(txs.get(key).map_err(err)?.map(|v| {
            let (height, index) = v.value();
            TxLocation { height, index }
        }))
    }
}

impl crate::derived::Derived for LedgerIndex {
    fn name(&self) -> &'static str {
        "ledger-index"
    }

    fn height(&self) -> Result<u64, crate::derived::DerivedError> {
        LedgerIndex::height(self).map_err(derived_error)
    }

    /// Indexing is idempotent; a height already taken is skipped anyway so
    /// a rebuild costs one pass.
    fn take(&self, e: &crate::derived::Executed<'_>) -> Result<(), crate::derived::DerivedError> {
        if e.height <= LedgerIndex::height(self).map_err(derived_error)? {
            return Ok(());
        }
        self.index_receipts(&[(e.height, e.receipts)], e.durable)
            .map_err(derived_error)
    }

    fn clear(&self) -> Result<(), crate::derived::DerivedError> {
        LedgerIndex::clear(self).map_err(derived_error)
    }

    fn as_any(self: std::sync::Arc<Self>) -> std::sync::Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

fn derived_error(e: IndexError) -> crate::derived::DerivedError {
    crate::derived::DerivedError {
        store: "ledger-index",
        message: e.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_types::{sha256, ExecResult, Receipt, Status};

    fn record(height: u64, receipts: Vec<(Digest, Status)>) -> ExecRecord {
        ExecRecord {
            height,
            block: sha256(&[&height.to_be_bytes()]),
            result: ExecResult {
                state_root: sha256(&[b"s"]),
                receipts_root: sha256(&[b"r"]),
            },
            receipts: receipts
                .into_iter()
                .map(|(tx_hash, status)| Receipt {
                    tx_hash,
                    status,
                    events: vec![],
                    work_used: 1,
                })
                .collect(),
        }
    }

    /// Heights indexed as one sorted group resolve exactly as they do one at
    /// a time: the first inclusion wins over a later failed replay in the
    /// same group, and a never-included hash still points at its receipt.
    #[test]
    fn a_group_indexes_like_its_records_one_by_one() {
        let (x, y, z) = (sha256(&[b"x"]), sha256(&[b"y"]), sha256(&[b"z"]));
        use ingot_execution::failure::tx;
        let replay = || Status::Failed(tx::REPLAY.with(&[("height", "1".into())]));
        let expired = Status::Failed(tx::EXPIRED.with(&[("valid_until", "1".into())]));
        let records = vec![
            record(1, vec![(y, Status::Success), (x, Status::Success)]),
            record(2, vec![(x, replay()), (z, expired)]),
            record(3, vec![(y, replay())]),
        ];
        let grouped = LedgerIndex::open(None).unwrap();
        grouped.index_all(&records, false).unwrap();
        let single = LedgerIndex::open(None).unwrap();
        for r in &records {
            single.index(r, false).unwrap();
        }
        for index in [&grouped, &single] {
            let at = |h: &Digest| index.locate(h).unwrap().unwrap();
            assert_eq!(
                at(&x),
                TxLocation {
                    height: 1,
                    index: 1
                }
            );
            assert_eq!(
                at(&y),
                TxLocation {
                    height: 1,
                    index: 0
                }
            );
            assert_eq!(
                at(&z),
                TxLocation {
                    height: 2,
                    index: 1
                }
            );
            assert_eq!(index.height().unwrap(), 3);
        }
    }
}
