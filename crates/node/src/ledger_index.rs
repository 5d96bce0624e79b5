//! Lookups derived from the execution journal, kept on disk: where each
//! transaction was executed, and registered device names in name order.
//!
//! Both once lived in memory, rebuilt by reading every record since genesis
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
use ingot_types::Digest;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

/// Transaction hash → (height, receipt index).
const TXS: TableDefinition<&[u8; 32], (u64, u32)> = TableDefinition::new("txs");
/// Device name → device id (hex).
const NAMES: TableDefinition<&str, &str> = TableDefinition::new("device_names");
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

fn err(e: impl std::fmt::Display) -> IndexError {
    IndexError(e.to_string())
}

pub struct LedgerIndex {
    db: Database,
}

/// Records waiting for the index thread (backpressure beyond).
const QUEUE: usize = 64;

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
                for record in records {
                    let durable = record.height.is_multiple_of(DURABLE_EVERY);
                    if let Err(e) = index.index(&record, durable) {
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
        tx.open_table(NAMES).map_err(err)?;
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

    /// Index one record. The first inclusion of a hash is the one that
    /// counts: a later one can only be a failed replay and must not hide the
    /// original receipt; indexing the same record again changes nothing.
    /// `durable` makes this and every earlier write survive a crash;
    /// without it the write is cheaper and a crash may lose it.
    pub fn index(&self, record: &ExecRecord, durable: bool) -> Result<(), IndexError> {
        let mut tx = self.db.begin_write().map_err(err)?;
        if !durable {
            tx.set_durability(Durability::None).map_err(err)?;
        }
        {
            let mut txs = tx.open_table(TXS).map_err(err)?;
            for (i, r) in record.receipts.iter().enumerate() {
                let key: &[u8; 32] = r.tx_hash.as_ref().try_into().expect("32-byte digest");
                // An inclusion is unique (replay protection), so it simply
                // wins; a receipt that did not include its transaction (a
                // failed replay, an expired one) never hides another.
                if !counts_as_inclusion(r) && txs.get(key).map_err(err)?.is_some() {
                    continue;
                }
                txs.insert(key, (record.height, i as u32)).map_err(err)?;
            }
            let mut names = tx.open_table(NAMES).map_err(err)?;
            for e in record.receipts.iter().flat_map(|r| &r.events) {
                if e.module != ingot_execution::modules::device::NAME || e.kind != "registered" {
                    continue;
                }
                let attr = |k: &str| {
                    e.attributes
                        .iter()
                        .find(|(a, _)| a == k)
                        .map(|(_, v)| v.as_str())
                };
                if let (Some(name), Some(id)) = (attr("name"), attr("device_id")) {
                    names.insert(name, id).map_err(err)?;
                }
            }
            let mut meta = tx.open_table(META).map_err(err)?;
            let height = meta.get(HEIGHT).map_err(err)?.map_or(0, |v| v.value());
            meta.insert(HEIGHT, height.max(record.height))
                .map_err(err)?;
        }
        tx.commit().map_err(err)
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

    /// Up to `limit` registered `(name, device id)` in name order whose name
    /// starts with `prefix` and sorts after `after`.
    pub fn devices_by_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, IndexError> {
        let tx = self.db.begin_read().map_err(err)?;
        let names = tx.open_table(NAMES).map_err(err)?;
        let range = match after {
            Some(a) if a >= prefix => names.range::<&str>(a..).map_err(err)?,
            _ => names.range::<&str>(prefix..).map_err(err)?,
        };
        let mut out = Vec::new();
        for entry in range {
            let (name, id) = entry.map_err(err)?;
            let (name, id) = (name.value(), id.value());
            if after.is_some_and(|a| name == a) {
                continue;
            }
            if !name.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((name.to_string(), id.to_string()));
        }
        Ok(out)
    }
}
