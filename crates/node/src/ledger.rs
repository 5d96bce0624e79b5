//! The node's execution record: for every executed height, its
//! [`ExecResult`] and receipts, plus indexes derived from them.
//!
//! Crash safety: a height's record is appended and synced *before* the state
//! commit of that height, so the journal may end ahead of the state (a crash
//! between the two, or a state store that lost the tail of its log). Such
//! records are never cut: the executor re-executes those heights from the
//! block archive and checks that each comes out identical to its record
//! (execution is deterministic) before it commits the state. A journal
//! *behind* the state is refused with the file named (see `engine`).

pub use crate::ledger_index::TxLocation;
use crate::ledger_index::{IndexWriter, LedgerIndex, DURABLE_EVERY};
use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, Write};
use commonware_runtime::{
    buffer::paged::{page_size, CacheRef},
    Clock, Metrics, ReadOptions, Spawner, Storage, BLOB_PAGE_SIZE,
};
use commonware_storage::journal::contiguous::{
    variable::{Config, Journal},
    Contiguous as _,
};
use commonware_utils::{NZUsize, NZU64};
use futures::StreamExt as _;

/// Bytes read at once when records are replayed in sequence (a record holds
/// up to `MAX_BLOCK_TXS` receipts).
const REPLAY_READ_BYTES: std::num::NonZeroUsize = NZUsize!(8 << 20);
use ingot_types::{limits::MAX_BLOCK_TXS, Digest, ExecResult, Receipt};
use std::path::Path;

/// What executing one height produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecRecord {
    pub height: u64,
    /// Digest of the executed (finalized) block.
    pub block: Digest,
    pub result: ExecResult,
    pub receipts: Vec<Receipt>,
}

impl Write for ExecRecord {
    fn write(&self, buf: &mut impl BufMut) {
        self.height.write(buf);
        self.block.write(buf);
        self.result.write(buf);
        self.receipts.write(buf);
    }
}
impl EncodeSize for ExecRecord {
    fn encode_size(&self) -> usize {
        8 + 32 + self.result.encode_size() + self.receipts.encode_size()
    }
}
impl Read for ExecRecord {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        use commonware_codec::ReadExt;
        Ok(Self {
            height: u64::read(buf)?,
            block: Digest::read(buf)?,
            result: ExecResult::read(buf)?,
            // One more than the transactions: the block's trailing event receipt.
            receipts: Vec::<Receipt>::read_cfg(buf, &(RangeCfg::from(0..=MAX_BLOCK_TXS + 1), ()))?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("execution journal: {0}")]
    Journal(String),
    #[error("execution journal was lost after an earlier failure")]
    Poisoned,
    #[error(transparent)]
    Index(#[from] crate::ledger_index::IndexError),
}

fn jerr(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Journal(e.to_string())
}

pub struct Ledger<E: Storage + Clock + Metrics + Spawner> {
    journal: Option<Journal<E, ExecRecord>>,
    /// Transaction locations, derived from the records.
    index: std::sync::Arc<LedgerIndex>,
    /// The thread that indexes appended records (a node with an index file);
    /// without one, `append` indexes inline (simulations, tests).
    writer: Option<IndexWriter>,
}

impl<E: Storage + Clock + Metrics + Spawner> Ledger<E> {
    /// Open every record, with the derived index in the file `index` (in
    /// memory if `None`), with a validator's I/O sizes.
    pub async fn open(context: E, prefix: &str, index: Option<&Path>) -> Result<Self, LedgerError> {
        Self::open_sized(
            context,
            prefix,
            index,
            crate::StorageSizes::PRODUCTION.ledger,
        )
        .await
    }

    /// [`Ledger::open`] with the given I/O sizes.
    pub async fn open_sized(
        context: E,
        prefix: &str,
        index: Option<&Path>,
        io: crate::IoSizes,
    ) -> Result<Self, LedgerError> {
        let cfg = Config {
            partition: format!("{prefix}-exec"),
            items_per_section: NZU64!(1_024),
            compression: None,
            codec_config: (),
            page_cache: CacheRef::new(page_size(BLOB_PAGE_SIZE), io.cache_pages),
            write_buffer: io.write_buffer,
            replay_buffer: io.replay_buffer,
        };
        let journal = Journal::init(context, cfg).await.map_err(jerr)?;
        let mut ledger = Self {
            journal: Some(journal),
            index: std::sync::Arc::new(match index {
                // A damaged index is set aside and rebuilt from the journal
                // below (it is derived data).
                Some(path) => {
                    crate::derived::open_or_set_aside(path, |p| {
                        LedgerIndex::open(Some(p)).map_err(|e| e.to_string())
                    })
                    .map_err(crate::ledger_index::IndexError::from_message)?
                    .0
                }
                None => LedgerIndex::open(None)?,
            }),
            writer: None,
        };
        let top = ledger.height();
        for h in ledger.index.height()?.min(top) + 1..=top {
            let record = ledger.record(h).await?.expect("record within bounds");
            ledger.index.index(&record, h == top)?;
        }
        if index.is_some() {
            ledger.writer = Some(IndexWriter::spawn(ledger.index.clone()));
        }
        Ok(ledger)
    }

    fn journal(&self) -> Result<&Journal<E, ExecRecord>, LedgerError> {
        self.journal.as_ref().ok_or(LedgerError::Poisoned)
    }

    /// Highest height with a record.
    pub fn height(&self) -> u64 {
        self.journal.as_ref().map_or(0, |j| j.size())
    }

    /// Append and sync the record of the next height.
    pub async fn append(&mut self, record: ExecRecord) -> Result<(), LedgerError> {
        assert_eq!(record.height, self.height() + 1, "records are contiguous");
        let journal = self.journal.take().ok_or(LedgerError::Poisoned)?;
        let (journal, _) = journal.append(&record).await.map_err(jerr)?;
        let journal = journal.commit().await.map_err(jerr)?;
        self.journal = Some(journal);
        match &self.writer {
            Some(writer) => writer.send(record)?,
            None => self
                .index
                .index(&record, record.height.is_multiple_of(DURABLE_EVERY))?,
        }
        Ok(())
    }

    pub async fn record(&self, height: u64) -> Result<Option<ExecRecord>, LedgerError> {
        if height == 0 || height > self.height() {
            return Ok(None);
        }
        self.journal()?
            .read(height - 1)
            .await
            .map(Some)
            .map_err(jerr)
    }

    /// The transactions included at each height of `from..=to` (what the
    /// replay window records), read in one sequential pass: record by
    /// record, a million receipts took ~10 s of small direct reads on start.
    pub async fn inclusions(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, Vec<Digest>)>, LedgerError> {
        let from = from.max(1);
        let to = to.min(self.height());
        if from > to {
            return Ok(Vec::new());
        }
        let mut batches = std::pin::pin!(self
            .journal()?
            .replay(from - 1..to, REPLAY_READ_BYTES, ReadOptions::default())
            .await
            .map_err(jerr)?);
        let mut heights = Vec::with_capacity((to - from + 1) as usize);
        while let Some(batch) = batches.next().await {
            for (position, record) in batch.map_err(jerr)? {
                let height = position + 1;
                heights.push((
                    height,
                    ingot_execution::RecentTxs::inclusions(height, &record.receipts),
                ));
            }
        }
        Ok(heights)
    }

    /// Where `tx` was executed, from the index (which may trail the journal
    /// by a few records; [`Self::locate_recent`] also finds those).
    pub fn locate(&self, tx: &Digest) -> Result<Option<TxLocation>, LedgerError> {
        Ok(self.index.locate(tx)?)
    }

    /// [`Self::locate`], falling back to the replay window (hash → height)
    /// and that height's receipts for what the index thread has not taken yet.
    pub async fn locate_recent(
        &self,
        recent: &ingot_execution::RecentTxs,
        tx: &Digest,
    ) -> Result<Option<TxLocation>, LedgerError> {
        if let Some(found) = self.locate(tx)? {
            return Ok(Some(found));
        }
        let Some(height) = recent.included_at(tx) else {
            return Ok(None);
        };
        Ok(self.record(height).await?.and_then(|record| {
            record
                .receipts
                .iter()
                .position(|r| r.tx_hash == *tx)
                .map(|i| TxLocation {
                    height,
                    index: i as u32,
                })
        }))
    }

    /// Transactions the index holds.
    pub fn index_transactions(&self) -> Result<u64, LedgerError> {
        Ok(self.index.transactions()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
    use ingot_types::{sha256, Status};

    fn receipt(tx: Digest, status: Status) -> Receipt {
        Receipt {
            tx_hash: tx,
            status,
            events: vec![],
            work_used: 1,
        }
    }

    /// The replay window's sequential read returns, per height of the range
    /// asked (clamped to the journal), exactly the transactions
    /// `RecentTxs::record_receipts` counts — the same as reading record by
    /// record.
    #[test]
    fn inclusions_match_the_records_they_are_read_from() {
        deterministic::Runner::default().start(|ctx| async move {
            let result = ExecResult {
                state_root: sha256(&[b"s"]),
                receipts_root: sha256(&[b"r"]),
            };
            let mut ledger = Ledger::open(ctx.child("l"), "t", None).await.unwrap();
            for height in 1..=6u64 {
                let tx = |i: u8| sha256(&[&height.to_be_bytes(), &[i]]);
                let failed = Status::Failed(ingot_execution::failure::tx::EXPIRED.with(&[]));
                ledger
                    .append(ExecRecord {
                        height,
                        block: sha256(&[&height.to_be_bytes()]),
                        result,
                        receipts: vec![
                            receipt(tx(0), Status::Success),
                            receipt(tx(1), failed),
                            receipt(ingot_execution::block_receipt_id(height), Status::Success),
                        ],
                    })
                    .await
                    .unwrap();
            }
            let read = ledger.inclusions(2, 9).await.unwrap();
            assert_eq!(
                read.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
                [2, 3, 4, 5, 6]
            );
            for (height, hashes) in &read {
                let record = ledger.record(*height).await.unwrap().unwrap();
                let expected = ingot_execution::RecentTxs::inclusions(*height, &record.receipts);
                assert_eq!(hashes, &expected);
                assert_eq!(
                    hashes.len(),
                    1,
                    "neither the expired nor the block's receipt"
                );
            }
            assert!(ledger.inclusions(5, 4).await.unwrap().is_empty());
            assert!(ledger.inclusions(0, 0).await.unwrap().is_empty());
            assert_eq!(ledger.inclusions(0, 1).await.unwrap().len(), 1);
        });
    }

    /// A transaction included again later (a failed replay) still resolves to
    /// its first, real receipt — also after reopening.
    #[test]
    fn a_replayed_inclusion_does_not_hide_the_original_receipt() {
        deterministic::Runner::default().start(|ctx| async move {
            let tx = sha256(&[b"tx"]);
            let result = ExecResult {
                state_root: sha256(&[b"s"]),
                receipts_root: sha256(&[b"r"]),
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("index.redb");
            let mut ledger = Ledger::open(ctx.child("l1"), "t", Some(&path))
                .await
                .unwrap();
            for (height, status) in [
                (1, Status::Success),
                (
                    2,
                    Status::Failed(
                        ingot_execution::failure::tx::REPLAY.with(&[("height", "1".into())]),
                    ),
                ),
            ] {
                ledger
                    .append(ExecRecord {
                        height,
                        block: sha256(&[&height.to_be_bytes()]),
                        result,
                        receipts: vec![receipt(tx, status)],
                    })
                    .await
                    .unwrap();
            }
            // Dropping waits for the index thread.
            drop(ledger);
            // Reopened with its index file, and with the index rebuilt.
            let ledger = Ledger::open(ctx.child("l2"), "t", Some(&path))
                .await
                .unwrap();
            assert_eq!(ledger.locate(&tx).unwrap().unwrap().height, 1);
            drop(ledger);
            let ledger = Ledger::open(ctx.child("l3"), "t", None).await.unwrap();
            assert_eq!(ledger.locate(&tx).unwrap().unwrap().height, 1);
        });
    }
}
