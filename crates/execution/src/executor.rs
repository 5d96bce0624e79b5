//! Block execution.

use crate::{
    modules::{self, CallError},
    Overlay, BASE_WORK, MAX_WORK_PER_TX,
};
use commonware_codec::{Decode, Encode};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_crypto::{Identity, TrustStore};
use ingot_state::{Prepared, StateError, StateStore};
use ingot_types::{
    limits::MAX_VALIDITY_BLOCKS, merkle, sha256, Block, Digest, ExecResult, Receipt,
    SignedTransaction, Status,
};
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
    pub trust: &'a TrustStore,
    /// The sender's certificate (DER), as carried by the transaction.
    pub certificate: bytes::Bytes,
}

/// The result of executing one block.
#[derive(Clone, Debug)]
pub struct BlockOutcome {
    pub result: ExecResult,
    pub receipts: Vec<Receipt>,
}

/// Marks a transaction hash as included until it can no longer be valid.
pub fn seen_key(hash: &Digest) -> Vec<u8> {
    format!("sys/tx/{}", hex::encode(hash)).into_bytes()
}

/// Number of chunks listing the hashes whose replay markers expire at a height.
fn expiry_count_key(height: u64) -> Vec<u8> {
    format!("sys/txexp/{height:020}").into_bytes()
}

/// One chunk of that list (at most [`EXPIRY_CHUNK`] hashes, so every stored
/// value stays far below the state's value size limit however many
/// transactions share an expiry height).
fn expiry_chunk_key(height: u64, chunk: u32) -> Vec<u8> {
    format!("sys/txexp/{height:020}/{chunk:010}").into_bytes()
}

/// Hashes per expiry chunk.
pub const EXPIRY_CHUNK: usize = 1024;

async fn read_count<E: Storage + Clock + Metrics + Spawner>(
    overlay: &mut Overlay<'_, E>,
    height: u64,
) -> Result<u32, StateError> {
    Ok(overlay
        .get(&expiry_count_key(height))
        .await?
        .map(|v| u32::from_be_bytes(v.try_into().unwrap_or_default()))
        .unwrap_or(0))
}

/// Append hashes to the expiry list of `height`.
async fn add_expiries<E: Storage + Clock + Metrics + Spawner>(
    overlay: &mut Overlay<'_, E>,
    height: u64,
    mut hashes: &[u8],
) -> Result<(), StateError> {
    let mut count = read_count(overlay, height).await?;
    let mut last = match count {
        0 => Vec::new(),
        n => overlay
            .get(&expiry_chunk_key(height, n - 1))
            .await?
            .unwrap_or_default(),
    };
    if count == 0 || last.len() >= EXPIRY_CHUNK * 32 {
        last.clear();
        count += 1;
    }
    while !hashes.is_empty() {
        let room = EXPIRY_CHUNK * 32 - last.len();
        let take = room.min(hashes.len());
        last.extend_from_slice(&hashes[..take]);
        hashes = &hashes[take..];
        overlay.put(
            expiry_chunk_key(height, count - 1),
            std::mem::take(&mut last),
        );
        if !hashes.is_empty() {
            count += 1;
        } else {
            break;
        }
    }
    overlay.put(expiry_count_key(height), count.to_be_bytes().to_vec());
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong chain id")]
    WrongChain,
    #[error("{0}")]
    Certificate(String),
    #[error("bad signature")]
    BadSignature,
}

/// Stateless admission check shared by the mempool, block verification and
/// `verify-chain`: chain id, certificate chain to a genesis CA, signature.
pub fn authenticate(
    trust: &TrustStore,
    chain_id: &Digest,
    tx: &SignedTransaction,
) -> Result<Arc<Identity>, AuthError> {
    let id = identify_sender(trust, chain_id, tx)?;
    id.public_key
        .verify(&tx.tx.signing_message(), &tx.signature)
        .map_err(|_| AuthError::BadSignature)?;
    Ok(id)
}

/// [`authenticate`] for many transactions at once: certificates come from the
/// trust store's cache, Ed25519 signatures are verified as one batch.
pub fn authenticate_all(
    trust: &TrustStore,
    chain_id: &Digest,
    txs: &[&SignedTransaction],
) -> Vec<Result<Arc<Identity>, AuthError>> {
    let mut out: Vec<_> = txs
        .iter()
        .map(|tx| identify_sender(trust, chain_id, tx))
        .collect();
    let messages: Vec<Vec<u8>> = txs.iter().map(|tx| tx.tx.signing_message()).collect();
    let (positions, items): (Vec<usize>, Vec<ingot_crypto::batch::Item>) = out
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            let id = id.as_ref().ok()?;
            Some((
                i,
                ingot_crypto::batch::Item {
                    key: &id.public_key,
                    message: &messages[i],
                    signature: &txs[i].signature,
                },
            ))
        })
        .unzip();
    let valid = ingot_crypto::batch::verify_all(&items);
    drop(items);
    for (i, ok) in positions.into_iter().zip(valid) {
        if !ok {
            out[i] = Err(AuthError::BadSignature);
        }
    }
    out
}

fn identify_sender(
    trust: &TrustStore,
    chain_id: &Digest,
    tx: &SignedTransaction,
) -> Result<Arc<Identity>, AuthError> {
    if &tx.tx.chain_id != chain_id {
        return Err(AuthError::WrongChain);
    }
    trust
        .identify(&tx.tx.certificate)
        .map_err(|e| AuthError::Certificate(e.to_string()))
}

pub struct Executor {
    trust: Arc<TrustStore>,
}

impl Executor {
    pub fn new(trust: Arc<TrustStore>) -> Self {
        Self { trust }
    }

    pub fn trust(&self) -> &Arc<TrustStore> {
        &self.trust
    }

    /// Execute `block` on `state` (which must be at `block.height - 1`) and
    /// commit the result durably.
    pub async fn execute_block<E: Storage + Clock + Metrics + Spawner>(
        &self,
        state: &mut StateStore<E>,
        block: &Block,
    ) -> Result<BlockOutcome, StateError> {
        let (outcome, prepared) = self.prepare_block(state, block).await?;
        state.commit(prepared).await?;
        Ok(outcome)
    }

    /// Execute `block` and merkleize its writes without making them durable, so
    /// the caller can persist the outcome first and then commit.
    pub async fn prepare_block<E: Storage + Clock + Metrics + Spawner>(
        &self,
        state: &StateStore<E>,
        block: &Block,
    ) -> Result<(BlockOutcome, Prepared), StateError> {
        let ctx = BlockContext {
            height: block.header.height,
            timestamp_ms: block.header.timestamp_ms,
        };
        let mut overlay = Overlay::new(state);

        // Forget replay markers that can no longer matter: every transaction they
        // guard has expired.
        let chunks = read_count(&mut overlay, ctx.height).await?;
        for chunk in 0..chunks {
            let key = expiry_chunk_key(ctx.height, chunk);
            for hash in overlay
                .get(&key)
                .await?
                .unwrap_or_default()
                .chunks_exact(32)
            {
                overlay.delete(seen_key(&Digest::from(<[u8; 32]>::try_from(hash).unwrap())));
            }
            overlay.delete(key);
        }
        if chunks > 0 {
            overlay.delete(expiry_count_key(ctx.height));
        }
        overlay.commit_tx();

        let mut receipts = Vec::with_capacity(block.txs().len());
        let mut expiries: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
        for (tx, &hash) in block.txs().iter().zip(block.tx_hashes()) {
            let receipt = self.execute_tx(ctx, &mut overlay, tx, hash).await?;
            if !matches!(&receipt.status, Status::Failed(r) if r.starts_with(REPLAY)) {
                // Included (successfully or not): it may not be included again.
                overlay.put(seen_key(&hash), ctx.height.to_be_bytes().to_vec());
                expiries
                    .entry(tx.tx.valid_until + 1)
                    .or_default()
                    .extend_from_slice(hash.as_ref());
                overlay.commit_tx();
            }
            receipts.push(receipt);
        }
        for (height, hashes) in expiries {
            add_expiries(&mut overlay, height, &hashes).await?;
        }
        overlay.commit_tx();

        // Block-level work (timers by block time). Its events ride on one
        // trailing receipt that no transaction owns.
        match modules::end_block(ctx, &mut overlay, &self.trust).await {
            Ok(events) => {
                overlay.commit_tx();
                if !events.is_empty() {
                    receipts.push(Receipt {
                        tx_hash: block_receipt_id(ctx.height),
                        status: Status::Success,
                        events,
                        work_used: 0,
                    });
                }
            }
            Err(CallError::State(e)) => return Err(e),
            // A corrupt record cannot come from a valid history; skip the
            // block's timers rather than stop the chain.
            Err(CallError::Rejected(_)) => overlay.abort_tx(),
        }

        let writes = overlay.into_writes();
        let prepared = state.prepare(ctx.height, &writes).await?;
        let receipt_hashes: Vec<Digest> = receipts.iter().map(receipt_hash).collect();
        Ok((
            BlockOutcome {
                result: ExecResult {
                    state_root: prepared.root,
                    receipts_root: merkle::root(&receipt_hashes),
                },
                receipts,
            },
            prepared,
        ))
    }

    async fn execute_tx<E: Storage + Clock + Metrics + Spawner>(
        &self,
        block: BlockContext,
        overlay: &mut Overlay<'_, E>,
        tx: &SignedTransaction,
        hash: Digest,
    ) -> Result<Receipt, StateError> {
        let fail = |reason: String| Receipt {
            tx_hash: hash,
            status: Status::Failed(reason),
            events: vec![],
            work_used: BASE_WORK,
        };
        if tx.tx.valid_until < block.height {
            return Ok(fail(format!(
                "expired: valid until height {}",
                tx.tx.valid_until
            )));
        }
        if tx.tx.valid_until > block.height + MAX_VALIDITY_BLOCKS {
            return Ok(fail(format!(
                "validity window longer than {MAX_VALIDITY_BLOCKS} blocks"
            )));
        }
        if let Some(at) = overlay.get(&seen_key(&hash)).await? {
            let at = u64::from_be_bytes(at.try_into().unwrap_or_default());
            overlay.abort_tx();
            return Ok(fail(format!("{REPLAY} already included at height {at}")));
        }
        let sender = match self.trust.identify(&tx.tx.certificate) {
            Ok(id) => id,
            Err(e) => return Ok(fail(format!("certificate refused: {e}"))),
        };
        let now = (block.timestamp_ms / 1000) as i64;
        if now > sender.not_after {
            return Ok(fail("certificate expired".into()));
        }
        if now < sender.not_before {
            return Ok(fail("certificate not yet valid".into()));
        }
        if overlay
            .exists(&modules::identity::revoked_key(&sender.cert_hash))
            .await?
        {
            overlay.abort_tx();
            return Ok(fail("certificate revoked".into()));
        }
        overlay.abort_tx(); // reads above are not the call's work
        let ctx = TxContext {
            block,
            sender,
            tx_hash: hash.as_ref().try_into().unwrap(),
            trust: &self.trust,
            certificate: tx.tx.certificate.clone(),
        };
        overlay.work = BASE_WORK + tx.tx.call.args.len() as u64;
        let result = modules::dispatch(&ctx, overlay, &tx.tx.call).await;
        let work_used = overlay.work;
        match result {
            Ok(_) if work_used > MAX_WORK_PER_TX => {
                overlay.abort_tx();
                Ok(Receipt {
                    work_used,
                    ..fail(format!(
                        "work limit exceeded ({work_used} > {MAX_WORK_PER_TX})"
                    ))
                })
            }
            Ok(events) => {
                overlay.commit_tx();
                Ok(Receipt {
                    tx_hash: hash,
                    status: Status::Success,
                    events,
                    work_used,
                })
            }
            Err(CallError::Rejected(reason)) => {
                overlay.abort_tx();
                Ok(Receipt {
                    work_used,
                    ..fail(reason)
                })
            }
            Err(CallError::State(e)) => Err(e),
        }
    }
}

const REPLAY: &str = "replay:";

/// The id of a block's trailing receipt of block-level events (it follows
/// the transactions' receipts; no transaction hashes to it).
pub fn block_receipt_id(height: u64) -> Digest {
    sha256(&[b"ingot/block-events/v1", &height.to_be_bytes()])
}

/// Leaf of the receipts Merkle tree.
pub fn receipt_hash(r: &Receipt) -> Digest {
    sha256(&[&r.encode()])
}

/// Decode a receipt stored by the node.
pub fn decode_receipt(raw: &[u8]) -> Option<Receipt> {
    Receipt::decode_cfg(raw.to_vec(), &()).ok()
}

/// Sign a transaction body with the sender's key.
pub fn sign_transaction(
    key: &ingot_crypto::PrivateKey,
    tx: ingot_types::Transaction,
) -> Result<SignedTransaction, ingot_crypto::PkiError> {
    let signature = key.sign(&tx.signing_message())?;
    Ok(SignedTransaction {
        tx,
        signature: signature.into(),
    })
}

/// Build and sign the current-version transaction of `call` for the holder of
/// `certificate` (DER) and `key`.
pub fn sign_call(
    key: &ingot_crypto::PrivateKey,
    certificate: bytes::Bytes,
    chain_id: Digest,
    valid_until: u64,
    salt: u64,
    call: ingot_types::Call,
) -> Result<SignedTransaction, ingot_crypto::PkiError> {
    sign_transaction(
        key,
        ingot_types::Transaction {
            version: ingot_types::tx::TX_VERSION,
            chain_id,
            certificate,
            valid_until,
            salt,
            call,
        },
    )
}
