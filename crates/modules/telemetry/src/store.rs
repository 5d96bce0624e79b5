//! The node's telemetry store: device readings taken from finalized, executed
//! blocks, indexed for queries by device, time and sequence, and dropped after
//! the retention period (consensus state keeps only commitments and
//! summaries; the blocks carry the readings once).
//!
//! It is derived data: every accepted batch of every `telemetry.anchor`
//! transaction, with the Merkle path of its commitment inside that
//! transaction's commitments tree, so proofs can be built without the block.
//! It records the last height it ingested; the executor feeds it after each
//! state commit and acknowledges the block to marshal only afterwards, so a
//! crash in between makes marshal redeliver the block and the store catch up.
//!
//! Tables (redb, one write transaction per block):
//! - `batches`: (device, first_seq) → [`StoredBatch`]
//! - `by_time`: (device, last_ts, first_seq) → () — time-range queries
//!   (timestamps never go backwards per device; the chain enforces it)
//! - `expiry`: (last_ts, device, first_seq) → () — retention sweeps

use crate::NAME as TELEMETRY;
use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_module::derived::{AnchoredTx, Derived, DerivedError, Executed};
use ingot_types::{
    merkle,
    telemetry::{AnchorArg, BatchCommitment, ReadingBatch, Trust, MAX_DEVICE_ID_LEN},
    Block, Receipt, Status,
};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::{any::Any, path::Path, sync::Arc};

const BATCHES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("batches");
const BY_TIME: TableDefinition<(&str, u64, u64), ()> = TableDefinition::new("by_time");
const EXPIRY: TableDefinition<(u64, &str, u64), ()> = TableDefinition::new("expiry");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Page cache of the store (redb's default, 1 GiB, would grow a node's memory
/// with every reading written).
const CACHE_BYTES: usize = 64 << 20;

ingot_types::record! {
    /// One accepted batch and where its commitment sits on chain.
    pub struct StoredBatch {
        pub batch: ReadingBatch = (),
        pub height: u64 = (),
        pub tx_index: u32 = (),
        pub tx_hash: [u8; 32] = (),
        pub commitment_index: u32 = (),
        /// Encoded BMT path of the commitment in its transaction's tree.
        pub commitment_proof: Bytes = 4096,
        /// The gateway that signed for equipment, empty when the device
        /// signed ([`ingot_types::telemetry::BatchCommitment::attested_by`]).
        pub attested_by: String = MAX_DEVICE_ID_LEN,
    }
}

impl StoredBatch {
    /// Trust level of its readings (`device_signed` / `gateway_attested`).
    pub fn trust(&self) -> Trust {
        if self.attested_by.is_empty() {
            Trust::DeviceSigned
        } else {
            Trust::GatewayAttested
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("telemetry store: {0}")]
pub struct StoreError(String);

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The store's name; its file is `<data_dir>/telemetry.redb`.
pub const STORE: &str = "telemetry";
/// Batches a slow stream subscriber may fall behind before it skips.
pub const STREAM_BUFFER: usize = 1_024;

pub struct TelemetryStore {
    db: Database,
    /// Every batch taken, for live streams (subscribers that fall behind
    /// skip what they missed).
    readings: tokio::sync::broadcast::Sender<Arc<StoredBatch>>,
}

/// The accepted batches of one block's anchoring transactions, as the
/// executor handed them over (already decoded, roots already computed).
pub fn stored_batches(block: &Block, anchored: &[AnchoredTx]) -> Vec<StoredBatch> {
    let hashes = block.tx_hashes();
    let mut out = Vec::new();
    for tx in anchored {
        let Some(hash) = hashes.get(tx.tx_index as usize) else {
            continue;
        };
        let leaves: Vec<_> = tx.batches.iter().map(|(_, c)| c.leaf()).collect();
        let proofs = merkle::proofs(&leaves);
        for (j, ((batch, commitment), proof)) in tx.batches.iter().zip(proofs).enumerate() {
            out.push(StoredBatch {
                batch: batch.clone(),
                height: block.header.height,
                tx_index: tx.tx_index,
                tx_hash: hash.as_ref().try_into().expect("32 bytes"),
                commitment_index: j as u32,
                commitment_proof: proof.encode(),
                attested_by: commitment.attested_by.clone(),
            });
        }
    }
    out
}

/// [`stored_batches`] recovered from a block and its receipts (after a
/// restart, when the executor's output is gone): decode the anchors again
/// and drop the batches their receipts refused.
pub fn anchored_batches(block: &Block, receipts: &[Receipt]) -> Vec<StoredBatch> {
    let mut anchored = Vec::new();
    for (i, tx) in block.txs().iter().enumerate() {
        let call = &tx.tx.call;
        if call.module != TELEMETRY || call.method != "anchor" {
            continue;
        }
        let Some(receipt) = receipts.get(i) else {
            continue;
        };
        if receipt.status != Status::Success {
            continue;
        }
        let Ok(arg) = AnchorArg::decode_cfg(call.args.clone(), &()) else {
            continue;
        };
        let index_of = |e: &ingot_types::Event| {
            e.attributes
                .iter()
                .find(|(k, _)| k == "index")
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let ours = || receipt.events.iter().filter(|e| e.module == TELEMETRY);
        let refused: std::collections::BTreeSet<usize> = ours()
            .filter(|e| e.kind == "refused")
            .filter_map(index_of)
            .collect();
        let attested: std::collections::BTreeMap<usize, String> = ours()
            .filter(|e| e.kind == "attested")
            .filter_map(|e| {
                let gateway = e.attributes.iter().find(|(k, _)| k == "gateway")?;
                Some((index_of(e)?, gateway.1.clone()))
            })
            .collect();
        let batches: Vec<(ReadingBatch, BatchCommitment)> = arg
            .batches
            .into_iter()
            .enumerate()
            .filter(|(j, _)| !refused.contains(j))
            .map(|(j, b)| {
                let root = b.root_and_message().0;
                let by = attested.get(&j).map_or("", String::as_str);
                let commitment = b.commitment(&root, by);
                (b, commitment)
            })
            .collect();
        if !batches.is_empty() {
            anchored.push(AnchoredTx {
                tx_index: i as u32,
                batches,
            });
        }
    }
    stored_batches(block, &anchored)
}

impl TelemetryStore {
    /// Open (or create) the store at `path`, or in memory.
    pub fn open(path: Option<&Path>) -> Result<Self, StoreError> {
        let db = match path {
            // redb's default cache is 1 GiB, which a node would fill with
            // pages of readings it has already written: bound it.
            Some(path) => Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(path)
                .map_err(err)?,
            None => Database::builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(err)?,
        };
        let tx = db.begin_write().map_err(err)?;
        {
            tx.open_table(BATCHES).map_err(err)?;
            tx.open_table(BY_TIME).map_err(err)?;
            tx.open_table(EXPIRY).map_err(err)?;
            tx.open_table(META).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Self {
            db,
            readings: tokio::sync::broadcast::channel(STREAM_BUFFER).0,
        })
    }

    fn meta(&self, key: &str) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(META).map_err(err)?;
        Ok(t.get(key).map_err(err)?.map_or(0, |v| v.value()))
    }

    /// Last height ingested.
    pub fn height(&self) -> Result<u64, StoreError> {
        self.meta("height")
    }

    /// Batches and readings held now.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        Ok((self.meta("batches")?, self.meta("readings")?))
    }

    /// Store the accepted batches of `height` (idempotent: a height at or
    /// below the recorded one is skipped).
    pub fn ingest(&self, height: u64, batches: &[StoredBatch]) -> Result<(), StoreError> {
        if height <= self.height()? {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut main = tx.open_table(BATCHES).map_err(err)?;
            let mut by_time = tx.open_table(BY_TIME).map_err(err)?;
            let mut expiry = tx.open_table(EXPIRY).map_err(err)?;
            let mut meta = tx.open_table(META).map_err(err)?;
            let mut readings = 0;
            for stored in batches {
                let b = &stored.batch;
                let last_ts = b.readings.last().map_or(0, |r| r.timestamp_ms);
                let key = (b.device_id.as_str(), b.first_seq);
                main.insert(key, stored.encode().as_ref()).map_err(err)?;
                by_time
                    .insert((b.device_id.as_str(), last_ts, b.first_seq), ())
                    .map_err(err)?;
                expiry
                    .insert((last_ts, b.device_id.as_str(), b.first_seq), ())
                    .map_err(err)?;
                readings += b.readings.len() as u64;
            }
            let get = |m: &redb::Table<&str, u64>, k: &str| -> Result<u64, StoreError> {
                Ok(m.get(k).map_err(err)?.map_or(0, |v| v.value()))
            };
            let (nb, nr) = (get(&meta, "batches")?, get(&meta, "readings")?);
            meta.insert("batches", nb + batches.len() as u64)
                .map_err(err)?;
            meta.insert("readings", nr + readings).map_err(err)?;
            meta.insert("height", height).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(())
    }

    /// Store the accepted batches of one executed height and return them
    /// (the node streams them to subscribers).
    ///
    /// The batches go to live streams too (a height already taken is
    /// skipped, so nothing is streamed twice).
    pub fn ingest_executed(&self, e: &Executed<'_>) -> Result<(), StoreError> {
        if e.height <= self.height()? {
            return Ok(());
        }
        let batches = match e.anchored {
            Some(anchored) => stored_batches(e.block, anchored),
            None => anchored_batches(e.block, e.receipts),
        };
        self.ingest(e.height, &batches)?;
        for batch in batches {
            let _ = self.readings.send(Arc::new(batch));
        }
        Ok(())
    }

    /// Batches as they are taken, for a live stream.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<StoredBatch>> {
        self.readings.subscribe()
    }

    /// Drop every table and start empty.
    pub fn clear(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        tx.delete_table(BATCHES).map_err(err)?;
        tx.delete_table(BY_TIME).map_err(err)?;
        tx.delete_table(EXPIRY).map_err(err)?;
        tx.delete_table(META).map_err(err)?;
        tx.open_table(BATCHES).map_err(err)?;
        tx.open_table(BY_TIME).map_err(err)?;
        tx.open_table(EXPIRY).map_err(err)?;
        tx.open_table(META).map_err(err)?;
        tx.commit().map_err(err)
    }

    fn decode(raw: &[u8]) -> Result<StoredBatch, StoreError> {
        StoredBatch::decode_cfg(raw.to_vec(), &()).map_err(err)
    }

    /// The batch holding reading `seq` of `device`.
    pub fn batch_with(&self, device: &str, seq: u64) -> Result<Option<StoredBatch>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(BATCHES).map_err(err)?;
        let mut range = t.range((device, 0)..=(device, seq)).map_err(err)?;
        let Some(entry) = range.next_back() else {
            return Ok(None);
        };
        let stored = Self::decode(entry.map_err(err)?.1.value())?;
        Ok((seq <= stored.batch.last_seq()).then_some(stored))
    }

    /// Batches of `device` with readings in `[from_ms, to_ms]` and sequence
    /// numbers above `after_seq`, in order, until `max_readings` are covered.
    pub fn batches_between(
        &self,
        device: &str,
        from_ms: u64,
        to_ms: u64,
        after_seq: u64,
        max_readings: usize,
    ) -> Result<Vec<StoredBatch>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let by_time = tx.open_table(BY_TIME).map_err(err)?;
        let main = tx.open_table(BATCHES).map_err(err)?;
        let mut out = Vec::new();
        let mut covered = 0;
        for entry in by_time
            .range((device, from_ms, 0)..=(device, u64::MAX, u64::MAX))
            .map_err(err)?
        {
            let entry = entry.map_err(err)?;
            let (_, _, first_seq) = entry.0.value();
            let Some(raw) = main.get((device, first_seq)).map_err(err)? else {
                continue;
            };
            let stored = Self::decode(raw.value())?;
            if stored.batch.readings.first().map_or(0, |r| r.timestamp_ms) > to_ms {
                break;
            }
            if stored.batch.last_seq() <= after_seq {
                continue;
            }
            covered += stored.batch.readings.len();
            out.push(stored);
            if covered >= max_readings {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `limit` batches whose last reading is older than `cutoff_ms`.
    pub fn expired(&self, cutoff_ms: u64, limit: usize) -> Result<Vec<StoredBatch>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let expiry = tx.open_table(EXPIRY).map_err(err)?;
        let main = tx.open_table(BATCHES).map_err(err)?;
        let mut out = Vec::new();
        for entry in expiry
            .range((0, "", 0)..(cutoff_ms, "", 0))
            .map_err(err)?
            .take(limit)
        {
            let entry = entry.map_err(err)?;
            let (_, device, seq) = entry.0.value();
            if let Some(raw) = main.get((device, seq)).map_err(err)? {
                out.push(Self::decode(raw.value())?);
            }
        }
        Ok(out)
    }

    /// Drop batches (after the caller archived them if it keeps an archive).
    pub fn remove(&self, batches: &[StoredBatch]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut main = tx.open_table(BATCHES).map_err(err)?;
            let mut by_time = tx.open_table(BY_TIME).map_err(err)?;
            let mut expiry = tx.open_table(EXPIRY).map_err(err)?;
            let mut meta = tx.open_table(META).map_err(err)?;
            let (mut nb, mut nr) = (0u64, 0u64);
            for stored in batches {
                let b = &stored.batch;
                let last_ts = b.readings.last().map_or(0, |r| r.timestamp_ms);
                if main
                    .remove((b.device_id.as_str(), b.first_seq))
                    .map_err(err)?
                    .is_some()
                {
                    nb += 1;
                    nr += b.readings.len() as u64;
                }
                by_time
                    .remove((b.device_id.as_str(), last_ts, b.first_seq))
                    .map_err(err)?;
                expiry
                    .remove((last_ts, b.device_id.as_str(), b.first_seq))
                    .map_err(err)?;
            }
            let get = |m: &redb::Table<&str, u64>, k: &str| -> Result<u64, StoreError> {
                Ok(m.get(k).map_err(err)?.map_or(0, |v| v.value()))
            };
            let (b, r) = (get(&meta, "batches")?, get(&meta, "readings")?);
            meta.insert("batches", b.saturating_sub(nb)).map_err(err)?;
            meta.insert("readings", r.saturating_sub(nr)).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(())
    }
}

impl Derived for TelemetryStore {
    fn name(&self) -> &'static str {
        STORE
    }

    fn height(&self) -> Result<u64, DerivedError> {
        TelemetryStore::height(self).map_err(derived_error)
    }

    fn take(&self, e: &Executed<'_>) -> Result<(), DerivedError> {
        self.ingest_executed(e).map_err(derived_error)
    }

    fn clear(&self) -> Result<(), DerivedError> {
        TelemetryStore::clear(self).map_err(derived_error)
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

fn derived_error(e: StoreError) -> DerivedError {
    DerivedError {
        store: STORE,
        message: e.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_types::{
        block::HEADER_VERSION,
        telemetry::{Measurement, Reading},
        tx::TX_VERSION,
        Call, Digest, Event, Header, SignedTransaction, Transaction,
    };

    fn batch(device: &str, first_seq: u64, n: u64) -> ReadingBatch {
        ReadingBatch {
            device_id: device.into(),
            first_seq,
            readings: (0..n)
                .map(|i| Reading {
                    timestamp_ms: 1_000 + first_seq + i,
                    measurements: vec![Measurement {
                        name: "vib".into(),
                        value: i as i64,
                        scale: 1,
                        unit: "mm/s".into(),
                    }],
                })
                .collect(),
            signature: Bytes::from_static(&[7; 64]),
        }
    }

    fn anchor_tx(batches: Vec<ReadingBatch>, salt: u64) -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                version: TX_VERSION,
                chain_id: ingot_types::sha256(&[b"chain"]),
                certificate: Bytes::new(),
                valid_until: 10,
                salt,
                call: Call {
                    module: TELEMETRY.into(),
                    method: "anchor".into(),
                    args: AnchorArg { batches }.encode(),
                },
            },
            signature: Bytes::new(),
        }
    }

    fn receipt(tx: &SignedTransaction, refused: &[usize], attested: &[(usize, &str)]) -> Receipt {
        let refusals = refused.iter().map(|i| Event {
            module: TELEMETRY.into(),
            kind: "refused".into(),
            attributes: vec![("index".into(), i.to_string())],
        });
        let attestations = attested.iter().map(|(i, gateway)| Event {
            module: TELEMETRY.into(),
            kind: "attested".into(),
            attributes: vec![
                ("index".into(), i.to_string()),
                ("gateway".into(), gateway.to_string()),
            ],
        });
        Receipt {
            tx_hash: tx.hash(),
            status: Status::Success,
            events: refusals.chain(attestations).collect(),
            work_used: 0,
        }
    }

    /// The executor's hand-over and the recovery from receipts (after a
    /// restart) must store the same batches with the same proofs, and every
    /// proof must lead to the commitments root of its transaction.
    #[test]
    fn handed_over_and_recovered_batches_agree() {
        let first = vec![batch("a:1", 1, 3), batch("a:2", 5, 1), batch("a:1", 4, 2)];
        let second = vec![batch("a:3", 1, 2)];
        let (t0, t1) = (anchor_tx(first.clone(), 1), anchor_tx(second.clone(), 2));
        let txs = vec![t0.clone(), t1.clone()];
        let hashes: Vec<Digest> = txs.iter().map(|t| t.hash()).collect();
        let tx_root = Block::compute_tx_root(&txs);
        let block = Block::new(
            Header {
                version: HEADER_VERSION,
                parent: ingot_types::sha256(&[b"parent"]),
                height: 7,
                timestamp_ms: 5_000,
                proposer: [0; 32],
                tx_count: 2,
                tx_root,
                exec_height: 0,
                results: vec![],
                next_validators: None,
            },
            txs,
        );
        // The second batch of the first transaction was refused; the third
        // was signed by a gateway for equipment.
        let committed =
            |b: &ReadingBatch, by: &str| (b.clone(), b.commitment(&b.root_and_message().0, by));
        let anchored = vec![
            AnchoredTx {
                tx_index: 0,
                batches: vec![committed(&first[0], ""), committed(&first[2], "a:gw")],
            },
            AnchoredTx {
                tx_index: 1,
                batches: vec![committed(&second[0], "")],
            },
        ];
        let receipts = vec![receipt(&t0, &[1], &[(2, "a:gw")]), receipt(&t1, &[], &[])];

        let handed = stored_batches(&block, &anchored);
        let recovered = anchored_batches(&block, &receipts);
        assert_eq!(handed, recovered);
        assert_eq!(handed.len(), 3);
        let trust: Vec<_> = handed.iter().map(StoredBatch::trust).collect();
        assert_eq!(
            trust,
            [
                Trust::DeviceSigned,
                Trust::GatewayAttested,
                Trust::DeviceSigned
            ]
        );
        for tx in [0u32, 1] {
            let mine: Vec<&StoredBatch> = handed.iter().filter(|s| s.tx_index == tx).collect();
            let leaves: Vec<Digest> = mine
                .iter()
                .map(|s| {
                    s.batch
                        .commitment(&s.batch.root_and_message().0, &s.attested_by)
                        .leaf()
                })
                .collect();
            let root = merkle::root(&leaves);
            for (j, s) in mine.iter().enumerate() {
                assert_eq!(s.commitment_index, j as u32);
                assert_eq!(s.tx_hash, *hashes[tx as usize].as_ref());
                let proof =
                    merkle::Proof::decode_cfg(s.commitment_proof.clone(), &merkle::PROOF_CFG)
                        .unwrap();
                assert!(merkle::verify(&proof, &leaves[j], j as u32, &root));
            }
        }
    }
}
