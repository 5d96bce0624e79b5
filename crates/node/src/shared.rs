//! State shared by the consensus application, the executor and the API.

use crate::{
    ledger::Ledger,
    mempool::{Mempool, MempoolError},
};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use futures::lock::Mutex as AsyncMutex;
use ingot_execution::{authenticate_all, AuthError};
use ingot_state::StateStore;
use ingot_types::{Block, Digest, Event, Genesis, SignedTransaction};
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc, Mutex,
};

/// An event as published to subscribers.
#[derive(Clone, Debug)]
pub struct PublishedEvent {
    pub height: u64,
    pub tx_hash: Digest,
    pub event: Event,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("rejected: {0}")]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Mempool(#[from] MempoolError),
    #[error("rejected: certificate revoked")]
    Revoked,
    #[error("rejected: transaction already included at height {0}")]
    AlreadyIncluded(u64),
    #[error("rejected: expired (valid until height {0})")]
    Expired(u64),
    #[error("rejected: sender certificate expired (not after {0})")]
    CertificateExpired(i64),
    #[error("rejected: sender certificate not valid before {0}")]
    CertificateNotYetValid(i64),
    #[error("state unavailable: {0}")]
    State(String),
}

impl SubmitError {
    /// The stable code clients branch on.
    pub fn code(&self) -> &'static str {
        use ingot_execution::executor::AuthError as A;
        match self {
            SubmitError::Auth(A::WrongChain) => "wrong_chain",
            SubmitError::Auth(A::Certificate(_)) => "certificate_refused",
            SubmitError::Auth(A::BadSignature) => "bad_signature",
            SubmitError::Mempool(MempoolError::Full) => "mempool_full",
            SubmitError::Mempool(MempoolError::SenderLimit) => "sender_limit",
            SubmitError::Mempool(MempoolError::Duplicate) => "duplicate",
            SubmitError::Mempool(MempoolError::Expired(_)) => "expired",
            SubmitError::Mempool(MempoolError::WindowTooLong(_)) => "window_too_long",
            SubmitError::Revoked => "certificate_revoked",
            SubmitError::AlreadyIncluded(_) => "already_included",
            SubmitError::Expired(_) => "expired",
            SubmitError::CertificateExpired(_) => "certificate_expired",
            SubmitError::CertificateNotYetValid(_) => "certificate_not_yet_valid",
            SubmitError::State(_) => "internal",
        }
    }
}

pub struct Shared<E: Storage + Clock + Metrics + Spawner> {
    /// Prefix of every storage partition of this validator (scratch stores
    /// are named after it).
    pub storage_prefix: String,
    pub genesis: Genesis,
    /// Days ahead of a consortium certificate's end that it is reported
    /// (`node.toml` `certificate_warning_days`; see `cert_watch`).
    pub certificate_warning_days: i64,
    pub chain_id: Digest,
    pub genesis_block: Block,
    /// The consortium as the next block sees it (governance changes it).
    pub trust: Arc<ingot_execution::LiveConsortium>,
    pub mempool: Mutex<Mempool>,
    /// Readers (admission, API, execution of the next block) share it; only a
    /// block commit takes it exclusively.
    pub state: tokio::sync::RwLock<StateStore<E>>,
    pub ledger: AsyncMutex<Ledger<E>>,
    /// Transactions included in the last `MAX_VALIDITY_BLOCKS` heights (replay
    /// protection; the executor records, admission reads).
    pub recent: Arc<ingot_execution::RecentTxs>,
    /// Highest executed height.
    pub executed: AtomicU64,
    /// Highest finalized height known.
    pub finalized: AtomicU64,
    /// The epoch this node's consensus engine runs (see `orchestrator`).
    pub epoch: AtomicU64,
    pub events: tokio::sync::broadcast::Sender<PublishedEvent>,
    /// The stores modules derive from executed blocks (device names,
    /// telemetry readings), fed after each state commit.
    pub module_stores: Vec<Arc<dyn ingot_module::derived::Derived>>,
    /// Transactions admitted locally, to be gossiped to peers.
    pub gossip: futures::channel::mpsc::UnboundedSender<SignedTransaction>,
    /// Our consensus public key (hex).
    pub public_key: String,
    /// Damaged archive records found by reads, and their repaired copies.
    pub repairs: Arc<crate::archive_guard::ArchiveRepairs<E>>,
}

impl<E: Storage + Clock + Metrics + Spawner> Shared<E> {
    /// A module's derived store of type `T` by its name.
    pub fn module_store<T: Send + Sync + 'static>(&self, name: &str) -> Option<Arc<T>> {
        self.module_stores
            .iter()
            .find(|s| s.name() == name)
            .and_then(|s| s.clone().as_any().downcast::<T>().ok())
    }

    /// Authenticate and admit a transaction. `from_peer` transactions are not gossiped again.
    pub fn submit(&self, tx: SignedTransaction, from_peer: bool) -> Result<Digest, SubmitError> {
        self.submit_all(vec![tx], from_peer)
            .pop()
            .expect("one result per transaction")
    }

    /// Authenticate and admit many transactions: one batch signature check and
    /// one mempool lock for all. One result per transaction, in order.
    pub fn submit_all(
        &self,
        txs: Vec<SignedTransaction>,
        from_peer: bool,
    ) -> Vec<Result<Digest, SubmitError>> {
        let hashes: Vec<Digest> = txs.iter().map(SignedTransaction::hash).collect();
        let mut results: Vec<Result<Digest, SubmitError>> =
            hashes.iter().copied().map(Ok).collect();
        {
            // Skip the signature work for what we already hold.
            let mempool = self.mempool.lock().unwrap();
            for (result, hash) in results.iter_mut().zip(&hashes) {
                if mempool.contains(hash) {
                    *result = Err(MempoolError::Duplicate.into());
                }
            }
        }
        let pending: Vec<usize> = (0..txs.len()).filter(|&i| results[i].is_ok()).collect();
        let refs: Vec<&SignedTransaction> = pending.iter().map(|&i| &txs[i]).collect();
        let senders = authenticate_all(&self.trust.current(), &self.chain_id, &refs);
        let height = self.finalized.load(Ordering::Relaxed) + 1;
        let mut admitted = Vec::new();
        {
            let mut mempool = self.mempool.lock().unwrap();
            for (&i, sender) in pending.iter().zip(senders) {
                results[i] = sender.map_err(SubmitError::from).and_then(|sender| {
                    // Per holder, not per certificate: several certificates
                    // on one key do not multiply its share.
                    mempool.insert(hashes[i], sender.id, txs[i].clone(), height)?;
                    Ok(hashes[i])
                });
                if results[i].is_ok() && !from_peer {
                    admitted.push(i);
                }
            }
        }
        if !admitted.is_empty() {
            let mut txs: Vec<Option<SignedTransaction>> = txs.into_iter().map(Some).collect();
            for i in admitted {
                let _ = self
                    .gossip
                    .unbounded_send(txs[i].take().expect("taken once"));
            }
        }
        results
    }

    /// Admission from a client: besides [`Self::submit`]'s checks, refuse what
    /// the current state already rules out (revoked sender, replay of an
    /// included transaction, expiry) so the client hears it now rather than in
    /// a failed receipt.
    pub async fn admit(&self, tx: SignedTransaction) -> Result<Digest, SubmitError> {
        self.admit_all(vec![tx])
            .await
            .pop()
            .expect("one result per transaction")
    }

    /// [`Self::admit`] for many transactions under one state read lock.
    pub async fn admit_all(&self, txs: Vec<SignedTransaction>) -> Vec<Result<Digest, SubmitError>> {
        let height = self.finalized.load(Ordering::Relaxed) + 1;
        let mut refused: Vec<Option<SubmitError>> = Vec::with_capacity(txs.len());
        {
            let state = self.state.read().await;
            for tx in &txs {
                refused.push(self.state_refusal(&state, tx, height).await.err());
            }
        }
        let (passed, indices): (Vec<SignedTransaction>, Vec<usize>) = txs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| refused[*i].is_none())
            .map(|(i, tx)| (tx, i))
            .unzip();
        let mut admitted = self.submit_all(passed, false).into_iter();
        let mut indices = indices.into_iter().peekable();
        refused
            .into_iter()
            .enumerate()
            .map(|(i, refusal)| match refusal {
                Some(e) => Err(e),
                None => {
                    debug_assert_eq!(indices.next(), Some(i));
                    admitted
                        .next()
                        .expect("one result per admitted transaction")
                }
            })
            .collect()
    }

    /// Why the current state already rules `tx` out, if it does.
    async fn state_refusal(
        &self,
        state: &StateStore<E>,
        tx: &SignedTransaction,
        height: u64,
    ) -> Result<(), SubmitError> {
        if tx.tx.valid_until < height {
            return Err(SubmitError::Expired(tx.tx.valid_until));
        }
        if !crate::mempool::admissible_window(tx.tx.valid_until, height) {
            return Err(MempoolError::WindowTooLong(tx.tx.valid_until).into());
        }
        // Execution judges validity dates at block time; a certificate already
        // outside them by the node's clock would only fail there, so the
        // client hears it now (certificate parsing is cached per certificate).
        use ingot_execution::modules::identity;
        let revoked = match self.trust.current().identify(&tx.tx.certificate) {
            Ok(sender) => {
                let now_s = (crate::auth::now_ms() / 1000) as i64;
                if now_s > sender.not_after {
                    return Err(SubmitError::CertificateExpired(sender.not_after));
                }
                if now_s < sender.not_before {
                    return Err(SubmitError::CertificateNotYetValid(sender.not_before));
                }
                identity::is_revoked_committed(state, &sender).await
            }
            Err(_) => identity::is_der_revoked_committed(state, &tx.tx.certificate).await,
        }
        .map_err(|e| SubmitError::State(e.to_string()))?;
        if revoked {
            return Err(SubmitError::Revoked);
        }
        if let Some(at) = self.recent.included_at(&tx.hash()) {
            return Err(SubmitError::AlreadyIncluded(at));
        }
        Ok(())
    }

    /// Whether this node's key is a validator's, as of the last block it
    /// executed: decided (a joiner catching up before it votes counts), or
    /// removed but still voting until its epoch boundary. Else it is an
    /// observer: it follows finalized blocks without voting.
    pub fn is_validator(&self) -> bool {
        let Some(key) = self.raw_key() else {
            return false;
        };
        self.trust
            .current()
            .connected_validators(self.executed_height() + 1)
            .contains_key(&key)
    }

    fn raw_key(&self) -> Option<[u8; 32]> {
        <[u8; 32]>::try_from(hex::decode(&self.public_key).ok()?).ok()
    }

    /// Whether this node's key is an observer's the consortium admits, as
    /// of the last block it executed.
    pub fn is_admitted_observer(&self) -> bool {
        self.raw_key()
            .is_some_and(|key| self.trust.current().observers().contains_key(&key))
    }

    pub fn executed_height(&self) -> u64 {
        self.executed.load(Ordering::Acquire)
    }
}

/// The deterministic height-0 block every node starts from.
pub fn genesis_block(genesis: &Genesis) -> Block {
    use ingot_types::{block::HEADER_VERSION, Header};
    Block::new(
        Header {
            version: HEADER_VERSION,
            parent: genesis.chain_id(),
            height: 0,
            timestamp_ms: genesis.timestamp_ms,
            proposer: [0; 32],
            tx_count: 0,
            tx_root: Block::compute_tx_root(&[]),
            exec_height: 0,
            results: vec![],
            next_validators: None,
        },
        vec![],
    )
}
