//! The node's execution record: for every executed height, its
//! [`ExecResult`] and receipts, plus indexes derived from them.
//!
//! Crash safety: a height's record is appended and synced *before* the state
//! commit of that height. On open, the journal is cut back to the state's
//! height, so the two always agree: a record without its state commit is
//! dropped and the block is executed again (execution is deterministic, so the
//! record comes out identical).

use bytes::BufMut;
use commonware_codec::{Buf, EncodeSize, Error, RangeCfg, Read, Write};
use commonware_runtime::{
    buffer::paged::{page_size, CacheRef},
    Clock, Metrics, Spawner, Storage, BLOB_PAGE_SIZE,
};
use commonware_storage::journal::contiguous::{
    variable::{Config, Journal},
    Contiguous as _,
};
use commonware_utils::{NZUsize, NZU64};
use ingot_types::{limits::MAX_BLOCK_TXS, Digest, ExecResult, Receipt};
use std::collections::{BTreeMap, HashMap};

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
}

fn jerr(e: impl std::fmt::Display) -> LedgerError {
    LedgerError::Journal(e.to_string())
}

/// Where a transaction ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

pub struct Ledger<E: Storage + Clock + Metrics + Spawner> {
    journal: Option<Journal<E, ExecRecord>>,
    /// Transaction hash → where it was executed. Derived; rebuilt on open.
    txs: HashMap<Digest, TxLocation>,
    /// Device name → device id, in name order, for listing by prefix (state
    /// keys are hashed, so the authenticated store cannot range over names).
    /// Derived from `device.registered` events; rebuilt on open.
    device_names: BTreeMap<String, String>,
}

impl<E: Storage + Clock + Metrics + Spawner> Ledger<E> {
    /// Open, keeping at most `executed_height` records (the state's height).
    pub async fn open(context: E, prefix: &str, executed_height: u64) -> Result<Self, LedgerError> {
        let cfg = Config {
            partition: format!("{prefix}-exec"),
            items_per_section: NZU64!(1_024),
            compression: None,
            codec_config: (),
            page_cache: CacheRef::new(page_size(BLOB_PAGE_SIZE), NZUsize!(1_024)),
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
        };
        let journal = Journal::init_at_most(context, cfg, executed_height)
            .await
            .map_err(jerr)?;
        let mut ledger = Self {
            journal: Some(journal),
            txs: HashMap::new(),
            device_names: BTreeMap::new(),
        };
        for h in 1..=ledger.height() {
            let record = ledger.record(h).await?.expect("record within bounds");
            ledger.index(&record);
        }
        Ok(ledger)
    }

    fn journal(&self) -> Result<&Journal<E, ExecRecord>, LedgerError> {
        self.journal.as_ref().ok_or(LedgerError::Poisoned)
    }

    fn index(&mut self, record: &ExecRecord) {
        for r in &record.receipts {
            for e in &r.events {
                if e.module == ingot_execution::modules::device::NAME && e.kind == "registered" {
                    let attr = |k: &str| {
                        e.attributes
                            .iter()
                            .find(|(a, _)| a == k)
                            .map(|(_, v)| v.clone())
                    };
                    if let (Some(name), Some(id)) = (attr("name"), attr("device_id")) {
                        self.device_names.insert(name, id);
                    }
                }
            }
        }
        for (i, r) in record.receipts.iter().enumerate() {
            // The first inclusion is the one that counts: a later inclusion of
            // the same transaction can only be a failed replay, and must not
            // hide the original receipt.
            self.txs.entry(r.tx_hash).or_insert(TxLocation {
                height: record.height,
                index: i as u32,
            });
        }
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
        self.index(&record);
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

    pub fn locate(&self, tx: &Digest) -> Option<TxLocation> {
        self.txs.get(tx).copied()
    }

    /// Up to `limit` registered `(name, device id)` in name order whose name
    /// starts with `prefix` and sorts after `after`.
    pub fn devices_by_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Vec<(String, String)> {
        use std::ops::Bound;
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        self.device_names
            .range((start, Bound::Unbounded))
            .take_while(|(name, _)| name.starts_with(prefix))
            .take(limit)
            .map(|(n, id)| (n.clone(), id.clone()))
            .collect()
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
            let mut ledger = Ledger::open(ctx.child("l1"), "t", 0).await.unwrap();
            for (height, status) in [
                (1, Status::Success),
                (
                    2,
                    Status::Failed("replay: already included at height 1".into()),
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
            assert_eq!(ledger.locate(&tx).unwrap().height, 1);
            drop(ledger);
            let ledger = Ledger::open(ctx.child("l2"), "t", 2).await.unwrap();
            assert_eq!(ledger.locate(&tx).unwrap().height, 1);
        });
    }
}
