//! Block execution.

pub use ingot_module::{block_receipt_id, BlockContext, TxContext};

use crate::{
    live::LiveConsortium,
    modules::{self, CallError},
    recent::{counts_as_inclusion, RecentTxs},
    registry, Overlay, BASE_WORK, MAX_WORK_PER_TX,
};
use commonware_codec::{Decode, Encode};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_crypto::{Identity, PublicKey, TrustStore};
use ingot_module::Consortium;
use ingot_state::{Prepared, StateError, StateStore};
use ingot_types::{
    limits::{MAX_VALIDITY_BLOCKS, MAX_VALUE_BYTES},
    merkle, sha256, Block, Digest, ExecResult, Receipt, SignedTransaction, Status,
};
use std::{collections::HashSet, sync::Arc};

/// The result of executing one block.
#[derive(Clone, Debug)]
pub struct BlockOutcome {
    pub result: ExecResult,
    pub receipts: Vec<Receipt>,
    /// Hashes this block included (see [`crate::recent`]): record them in the
    /// executor's [`RecentTxs`] once the block is committed.
    pub included: Vec<Digest>,
    /// The telemetry batches each successful `telemetry.anchor` accepted, in
    /// order, with their reading roots (derived output for reading stores).
    pub anchored: Vec<AnchoredTx>,
    /// The consortium from the next block on, when this block changed it:
    /// [`Executor::install`] it once the block is committed.
    pub next_consortium: NextConsortium,
}

/// A consortium a block produced, to install after its commit.
#[derive(Clone, Default)]
pub struct NextConsortium(pub Option<Arc<Consortium>>);

impl std::fmt::Debug for NextConsortium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("unchanged"),
            Some(c) => write!(f, "{} organisations", c.orgs().len()),
        }
    }
}

pub use ingot_module::derived::AnchoredTx;

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
    let keys: Vec<Option<&PublicKey>> = out
        .iter()
        .map(|id| id.as_ref().ok().map(|id| &id.public_key))
        .collect();
    let bad = bad_signatures(txs, &keys);
    for i in bad {
        out[i] = Err(AuthError::BadSignature);
    }
    out
}

/// What block verification checks of transactions it did not admit itself:
/// this chain, a certificate that parses, a signature by the certificate's
/// key — nothing that depends on the consortium. Whether the consortium
/// trusts the certificate is decided by execution with the block's own
/// consortium (a refused receipt): validators verifying a block may have
/// executed different heights, so their current consortiums may differ
/// for a few blocks around a governance change, and votes must not split
/// on it. Trusted certificates come from the trust store's cache.
pub fn verify_signed(
    trust: &TrustStore,
    chain_id: &Digest,
    txs: &[&SignedTransaction],
) -> Vec<Result<(), AuthError>> {
    let keys: Vec<Result<PublicKey, AuthError>> = txs
        .iter()
        .map(|tx| match identify_sender(trust, chain_id, tx) {
            Ok(id) => Ok(id.public_key.clone()),
            Err(AuthError::Certificate(_)) => ingot_crypto::CertInfo::from_der(&tx.tx.certificate)
                .and_then(|c| c.public_key())
                .map_err(|_| AuthError::Certificate("malformed".into())),
            Err(e) => Err(e),
        })
        .collect();
    let refs: Vec<Option<&PublicKey>> = keys.iter().map(|k| k.as_ref().ok()).collect();
    let bad = bad_signatures(txs, &refs);
    let mut out: Vec<Result<(), AuthError>> = keys.into_iter().map(|k| k.map(|_| ())).collect();
    for i in bad {
        out[i] = Err(AuthError::BadSignature);
    }
    out
}

/// The positions whose signature does not verify under `keys[i]` (one
/// batch for Ed25519; positions without a key are skipped).
fn bad_signatures(txs: &[&SignedTransaction], keys: &[Option<&PublicKey>]) -> Vec<usize> {
    let messages: Vec<Vec<u8>> = txs.iter().map(|tx| tx.tx.signing_message()).collect();
    let (positions, items): (Vec<usize>, Vec<ingot_crypto::batch::Item>) = keys
        .iter()
        .enumerate()
        .filter_map(|(i, key)| {
            Some((
                i,
                ingot_crypto::batch::Item {
                    key: (*key)?,
                    message: &messages[i],
                    signature: &txs[i].signature,
                },
            ))
        })
        .unzip();
    let valid = ingot_crypto::batch::verify_all(&items);
    positions
        .into_iter()
        .zip(valid)
        .filter_map(|(i, ok)| (!ok).then_some(i))
        .collect()
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
    trust: Arc<LiveConsortium>,
    recent: Arc<RecentTxs>,
}

impl Executor {
    /// An executor with an empty replay window (a chain executed from genesis).
    pub fn new(trust: Arc<LiveConsortium>) -> Self {
        Self::with_recent(trust, Arc::new(RecentTxs::new()))
    }

    /// An executor whose replay window is `recent` (rebuilt by a node from
    /// its execution journal; shared with mempool admission).
    pub fn with_recent(trust: Arc<LiveConsortium>, recent: Arc<RecentTxs>) -> Self {
        Self { trust, recent }
    }

    pub fn recent(&self) -> &Arc<RecentTxs> {
        &self.recent
    }

    pub fn trust(&self) -> &Arc<LiveConsortium> {
        &self.trust
    }

    /// Make a committed block's consortium change the one the next block,
    /// admission and the API see. Only after the commit: preparing a block
    /// changes nothing shared, so it may be prepared again (a check, a retry).
    pub fn install(&self, next: &NextConsortium) {
        if let Some(next) = &next.0 {
            self.trust.replace_arc(next.clone());
        }
    }

    /// The consortium from `overlay`'s state as of `height`, over `base`
    /// (governance changed it, or an old CA's grace ended). A stored record
    /// that does not decode or a CA that does not parse cannot come from a
    /// valid history; the consortium then stays as it was (the same on every
    /// node) and the fault is logged.
    async fn rebuilt<E: Storage + Clock + Metrics + Spawner>(
        base: &Arc<Consortium>,
        overlay: &mut Overlay<'_, E>,
        height: u64,
    ) -> Result<Arc<Consortium>, StateError> {
        let stored = modules::governance::stored(overlay).await?;
        overlay.abort_tx();
        let next = match stored {
            Ok(stored) => {
                modules::governance::consortium_at(base, stored, height).map_err(|e| e.to_string())
            }
            Err(d) => Err(format!("{} does not decode", d.0)),
        };
        Ok(match next {
            Ok(next) => Arc::new(next),
            Err(e) => {
                tracing::error!(height, error = %e, "consortium not rebuilt");
                base.clone()
            }
        })
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
        self.install(&outcome.next_consortium);
        self.recent
            .record(block.header.height, outcome.included.clone());
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
        let mut consortium = self.trust.current();
        let mut next_consortium = NextConsortium::default();
        if consortium.expires_at().is_some_and(|at| at <= ctx.height) {
            consortium = Self::rebuilt(&consortium, &mut overlay, ctx.height).await?;
            next_consortium = NextConsortium(Some(consortium.clone()));
        }

        let mut receipts = Vec::with_capacity(block.txs().len());
        let mut included = Vec::with_capacity(block.txs().len());
        let mut in_block = HashSet::with_capacity(block.txs().len());
        let mut anchored = Vec::new();
        for (index, (tx, &hash)) in block.txs().iter().zip(block.tx_hashes()).enumerate() {
            let receipt = self
                .execute_tx(ctx, &consortium, &mut overlay, tx, hash, &in_block)
                .await?;
            let batches = overlay.take_anchored();
            if receipt.status == Status::Success && !batches.is_empty() {
                anchored.push(AnchoredTx {
                    tx_index: index as u32,
                    batches,
                });
            }
            if counts_as_inclusion(&receipt) {
                // Included (successfully or not): it may not be included again.
                in_block.insert(hash);
                included.push(hash);
            }
            receipts.push(receipt);
        }

        // Block-level work (timers by block time). Its events ride on one
        // trailing receipt that no transaction owns.
        match registry::end_block(ctx, &mut overlay, &consortium).await {
            Ok(events) => {
                overlay.commit_tx();
                if events.iter().any(modules::governance::changes_consortium) {
                    let next = Self::rebuilt(&consortium, &mut overlay, ctx.height + 1).await?;
                    next_consortium = NextConsortium(Some(next));
                }
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
                included,
                anchored,
                next_consortium,
            },
            prepared,
        ))
    }

    async fn execute_tx<E: Storage + Clock + Metrics + Spawner>(
        &self,
        block: BlockContext,
        consortium: &Consortium,
        overlay: &mut Overlay<'_, E>,
        tx: &SignedTransaction,
        hash: Digest,
        in_block: &HashSet<Digest>,
    ) -> Result<Receipt, StateError> {
        use crate::failure::tx;
        let fail = |failure: ingot_types::Failure| Receipt {
            tx_hash: hash,
            status: Status::Failed(failure),
            events: vec![],
            work_used: BASE_WORK,
        };
        // Block verification keeps both out of finalized blocks; a block
        // that carries them anyway (verify-chain of a foreign history) gets a
        // failed receipt, and the hash is not marked as included.
        if tx.tx.valid_until < block.height {
            return Ok(fail(
                tx::EXPIRED.with(&[("valid_until", tx.tx.valid_until.to_string())]),
            ));
        }
        if tx.tx.valid_until - block.height > MAX_VALIDITY_BLOCKS {
            return Ok(fail(
                tx::WINDOW_TOO_LONG.with(&[("max", MAX_VALIDITY_BLOCKS.to_string())]),
            ));
        }
        let earlier = if in_block.contains(&hash) {
            Some(block.height)
        } else {
            self.recent.included_at(&hash)
        };
        if let Some(at) = earlier {
            return Ok(fail(tx::REPLAY.with(&[("height", at.to_string())])));
        }
        let sender = match consortium.identify(&tx.tx.certificate) {
            Ok(id) => id,
            Err(e) => {
                return Ok(fail(
                    tx::CERTIFICATE_REFUSED.with(&[("reason", e.kind().to_string())]),
                ))
            }
        };
        let now = (block.timestamp_ms / 1000) as i64;
        if now > sender.not_after {
            return Ok(fail(tx::CERTIFICATE_EXPIRED.bare()));
        }
        if now < sender.not_before {
            return Ok(fail(tx::CERTIFICATE_NOT_YET_VALID.bare()));
        }
        if modules::identity::is_revoked(overlay, &sender).await? {
            overlay.abort_tx();
            return Ok(fail(tx::CERTIFICATE_REVOKED.bare()));
        }
        overlay.abort_tx(); // reads above are not the call's work
        let ctx = TxContext {
            block,
            sender,
            tx_hash: hash.as_ref().try_into().unwrap(),
            trust: consortium,
            certificate: tx.tx.certificate.clone(),
            chain_id: tx.tx.chain_id,
        };
        overlay.work = BASE_WORK + tx.tx.call.args.len() as u64;
        // The consortium may have voted a lower limit (never above the built-in one).
        let max_work = consortium
            .params()
            .max_work_per_tx
            .map_or(MAX_WORK_PER_TX, |w| w.min(MAX_WORK_PER_TX));
        let result = registry::dispatch(&ctx, overlay, &tx.tx.call, 0).await;
        let work_used = overlay.work;
        match result {
            Ok(_) if work_used > max_work => {
                overlay.abort_tx();
                Ok(Receipt {
                    work_used,
                    ..fail(tx::WORK_EXCEEDED.with(&[
                        ("used", work_used.to_string()),
                        ("max", max_work.to_string()),
                    ]))
                })
            }
            // The state store refuses such a value when the block commits,
            // which would stop the chain: the transaction fails instead.
            Ok(_) if overlay.largest_write() > MAX_VALUE_BYTES => {
                let size = overlay.largest_write();
                overlay.abort_tx();
                Ok(Receipt {
                    work_used,
                    ..fail(tx::VALUE_TOO_LARGE.with(&[
                        ("size", size.to_string()),
                        ("max", MAX_VALUE_BYTES.to_string()),
                    ]))
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
