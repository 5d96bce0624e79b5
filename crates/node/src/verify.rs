//! Offline re-verification of a stopped node's stored chain
//! (`ingot verify-chain`): every stored block is read back and checked —
//! decoding, hash links, transaction root, transaction signatures and
//! certificates, finalization certificates against the genesis validator set —
//! and then re-executed from genesis into a scratch state, comparing every
//! state and receipts root with the one anchored in a later header. The first
//! bad height is named.

use crate::{
    engine::{self, FinalizationOf},
    StorageSizes, CONSENSUS_NAMESPACE,
};
use commonware_consensus::{simplex::scheme::ed25519, Epochable};
use commonware_cryptography::{sha256::Digest, Digestible};
use commonware_parallel::Sequential;
use commonware_runtime::{tokio as cw_tokio, Runner, Supervisor};
use commonware_storage::archive::{immutable, Archive as _, Identifier};
use ingot_execution::{verify_signed, Executor};
use ingot_state::StateStore;
use ingot_types::{Block, Genesis};
use std::{collections::HashMap, path::Path, sync::Arc};

#[derive(Debug)]
pub struct Report {
    pub blocks: u64,
    pub transactions: u64,
    pub certificates: u64,
    pub reexecuted: u64,
    /// Stored blocks above the last one with a finalization certificate: a
    /// node stopped between storing blocks and their certificate (a crash,
    /// a halt on a full disk) has them; nothing vouches for them, so they
    /// are not counted as verified (the node refetches their certificates
    /// when it runs again).
    pub uncertified_tail: u64,
    pub anchored_roots_checked: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("height {height}: {reason}")]
    Bad { height: u64, reason: String },
    #[error("{0}")]
    Setup(String),
}

fn bad(height: u64, reason: impl Into<String>) -> VerifyError {
    VerifyError::Bad {
        height,
        reason: reason.into(),
    }
}

/// Verify the chain stored under `data_dir` (a node's `data_dir` from its
/// config), with the re-execution's scratch state under `scratch` when
/// given (else inside the node's storage directory).
pub fn verify_chain(
    data_dir: &Path,
    genesis: &Genesis,
    scratch: Option<&Path>,
) -> Result<Report, VerifyError> {
    let storage = data_dir.join("storage");
    if !storage.exists() {
        return Err(VerifyError::Setup(format!(
            "no node storage at {}",
            storage.display()
        )));
    }
    let _lock = crate::data_lock::lock(data_dir, "ingot verify-chain")
        .map_err(|e| VerifyError::Setup(e.to_string()))?;
    // The runtime has one storage directory: elsewhere, it is a view of
    // the node's partitions (symbolic links) beside which the scratch
    // state's partitions are created, all removed when done.
    let view = match scratch {
        Some(dir) => Some(
            StorageView::create(&storage, dir).map_err(|e| VerifyError::Setup(e.to_string()))?,
        ),
        None => None,
    };
    let storage = view.as_ref().map_or(storage, |v| v.dir.clone());
    let genesis = genesis.clone();
    let rt = cw_tokio::Config::new()
        .with_worker_threads(1)
        .with_storage_directory(storage)
        .with_catch_panics(true);
    cw_tokio::Runner::new(rt).start(|context| async move {
        let setup = |e: String| VerifyError::Setup(e);
        ingot_consortium::check_genesis(&genesis).map_err(|e| setup(e.to_string()))?;
        // The consortium as of genesis; the executor changes it as
        // governance did while the chain is re-executed.
        let trust = Arc::new(ingot_execution::LiveConsortium::new(
            ingot_execution::Consortium::from_genesis(&genesis).map_err(|e| setup(e.to_string()))?,
        ));
        // Each certificate is checked against the set of the epoch its
        // height belongs to, and must have been made in that epoch.
        // Later epochs' sets are learned from the boundary blocks below as
        // they are verified (each certified by the set before it).
        let mut validators = ingot_light::validators(&genesis).map_err(|e| setup(e.to_string()))?;
        let mut verifier: Option<(u64, ed25519::Scheme)> = None;
        let chain_id = genesis.chain_id();
        let cache = commonware_runtime::buffer::paged::CacheRef::new(
            commonware_runtime::buffer::paged::page_size(commonware_runtime::BLOB_PAGE_SIZE),
            commonware_utils::NZUsize!(1024),
        );
        let prefix = "ingot";
        let blocks = immutable::Archive::<_, Digest, Arc<Block>>::init(
            context.child("blocks"),
            engine::archive_config(prefix, "blocks", cache.clone(), &StorageSizes::PRODUCTION, ()),
        )
        .await
        .map_err(|e| setup(format!("cannot open block archive: {e}")))?;
        // A record the node found damaged and refetched from a peer is read
        // from its repair archives (and verified here like any other).
        let repairs = crate::archive_guard::ArchiveRepairs::open(context.child("repairs"), prefix, cache.clone(), &StorageSizes::PRODUCTION)
            .await
            .map_err(|e| setup(format!("cannot open repair archives: {e}")))?;
        let finalizations = immutable::Archive::<_, Digest, FinalizationOf>::init(
            context.child("finalizations"),
            engine::archive_config(
                prefix,
                "finalizations",
                cache,
                &StorageSizes::PRODUCTION,
                <ed25519::Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
            ),
        )
        .await
        .map_err(|e| setup(format!("cannot open certificate archive: {e}")))?;

        // Pass 1: structure, signatures, certificates.
        let genesis_block = crate::shared::genesis_block(&genesis);
        let mut parent = genesis_block.clone();
        let mut chain: Vec<Arc<Block>> = Vec::new();
        let mut report = Report { blocks: 0, transactions: 0, certificates: 0, reexecuted: 0, anchored_roots_checked: 0, uncertified_tail: 0 };
        let mut last_certified = 0u64;
        let mut rng = context.child("rng");
        match blocks.get(Identifier::Index(0)).await {
            Ok(Some(b)) if b.digest() == genesis_block.digest() => {}
            Ok(Some(_)) => return Err(bad(0, "stored genesis block differs from the genesis file")),
            Ok(None) => return Err(bad(0, "no genesis block stored")),
            Err(e) => return Err(bad(0, format!("unreadable: {e}"))),
        }
        let mut height = 1u64;
        loop {
            let block = match blocks.get(Identifier::Index(height)).await {
                Ok(Some(b)) => b,
                Ok(None) => break,
                Err(e) => match repairs.block(Identifier::Index(height)).await {
                    Some(b) => b,
                    None => return Err(bad(height, format!("stored block unreadable and not repaired: {e}"))),
                },
            };
            if block.header.height != height {
                return Err(bad(height, format!("block claims height {}", block.header.height)));
            }
            if block.header.parent != parent.digest() {
                return Err(bad(height, "parent hash does not link to the previous block"));
            }
            if !block.body_matches_header() {
                return Err(bad(height, "transactions do not match the header's transaction root"));
            }
            let finalization = match finalizations.get(Identifier::Index(height)).await {
                Err(e) => match repairs.certificate(Identifier::Index(height)).await {
                    Some(fin) => Ok(Some(fin)),
                    None => Err(e),
                },
                found => found,
            };
            match finalization {
                Ok(Some(fin)) => {
                    if fin.proposal.payload != block.digest() {
                        return Err(bad(height, "finalization certificate is for another block"));
                    }
                    let epoch = validators.epoch_of(height);
                    if fin.epoch().get() != epoch {
                        return Err(bad(height, format!("finalization certificate was made in epoch {}, the height belongs to epoch {epoch}", fin.epoch().get())));
                    }
                    if verifier.as_ref().is_none_or(|(e, _)| *e != epoch) {
                        let set = validators.set_of(epoch).map_err(|e| bad(height, e.to_string()))?;
                        verifier = Some((epoch, ed25519::Scheme::verifier(CONSENSUS_NAMESPACE, set.clone())));
                    }
                    let (_, scheme) = verifier.as_ref().expect("set just above");
                    if !fin.verify(&mut rng, scheme, &Sequential) {
                        return Err(bad(height, "finalization certificate does not verify"));
                    }
                    if block.header.next_validators.is_some() {
                        validators
                            .learn(&block.header, commonware_codec::Encode::encode(&fin).to_vec())
                            .map_err(|e| bad(height, format!("boundary block: {e}")))?;
                    }
                    report.certificates += 1;
                    last_certified = height;
                }
                Ok(None) => {} // finalized through a descendant's certificate
                Err(e) => return Err(bad(height, format!("stored certificate unreadable: {e}"))),
            }
            parent = (*block).clone();
            chain.push(block);
            height += 1;
        }
        // What is verified ends at the last certified block (blocks below
        // it are linked to it by hash); above it nothing vouches for a block.
        if !chain.is_empty() && last_certified == 0 {
            return Err(bad(chain.len() as u64, "no stored block has a finalization certificate"));
        }
        report.uncertified_tail = chain.len() as u64 - last_certified;
        chain.truncate(last_certified as usize);
        report.blocks = chain.len() as u64;
        report.transactions = chain.iter().map(|b| b.txs().len() as u64).sum();

        // Pass 2: re-execute into a scratch state and compare anchored roots.
        let scratch = format!("verify-{}", std::process::id());
        let mut state = StateStore::open(context.child("scratch"), &scratch)
            .await
            .map_err(|e| setup(e.to_string()))?;
        let executor = Executor::new(trust);
        let mut ours = HashMap::new();
        let mut failure = None;
        for block in &chain {
            let h = block.header.height;
            for (i, claimed) in block.header.results.iter().enumerate() {
                let at = block.header.exec_height + 1 + i as u64 - block.header.results.len() as u64;
                match ours.get(&at) {
                    Some(r) if r == claimed => report.anchored_roots_checked += 1,
                    Some(_) => {
                        failure = Some(bad(at, format!("re-execution gives a different state or receipts root than block {h} anchors")));
                        break;
                    }
                    None => {
                        failure = Some(bad(h, format!("anchors results of height {at}, which is not before it")));
                        break;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
            // Every transaction as its validators checked it (the same
            // check, `verify_signed`): this chain, a certificate that parses,
            // signed by its key. Whether the consortium trusts the
            // certificate is execution's to decide, below.
            let consortium = executor.trust().current();
            let txs: Vec<&ingot_types::SignedTransaction> = block.txs().iter().collect();
            if let Some((i, Err(e))) = verify_signed(&consortium, &chain_id, &txs)
                .into_iter()
                .enumerate()
                .find(|(_, r)| r.is_err())
            {
                failure = Some(bad(h, format!("transaction {i}: {e}")));
                break;
            }
            match executor.execute_block(&mut state, block).await {
                Ok(outcome) => {
                    ours.insert(h, outcome.result);
                    report.reexecuted += 1;
                    // Bounds the scratch store's memory (its unsynced
                    // Merkle nodes) and disk on long chains.
                    if state.upkeep_due() {
                        if let Err(e) = state.upkeep().await {
                            failure = Some(setup(format!("re-execution storage error: {e}")));
                            break;
                        }
                    }
                }
                Err(e) => {
                    failure = Some(setup(format!("re-execution storage error: {e}")));
                    break;
                }
            }
        }
        // Remove the scratch state.
        let _ = state.destroy().await;
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    })
}

/// A directory of symbolic links to every partition of a node's storage;
/// removed (links and whatever else was created in it) on drop.
struct StorageView {
    dir: std::path::PathBuf,
}

impl StorageView {
    fn create(storage: &Path, scratch: &Path) -> std::io::Result<Self> {
        let dir = scratch.join(format!("ingot-verify-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let view = Self { dir };
        let storage = std::fs::canonicalize(storage)?;
        for entry in std::fs::read_dir(&storage)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                std::os::unix::fs::symlink(entry.path(), view.dir.join(entry.file_name()))?;
            }
        }
        Ok(view)
    }
}

impl Drop for StorageView {
    fn drop(&mut self) {
        // remove_dir_all removes the links, never what they point to.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Check offline, with the validator sets of genesis and the epoch
/// boundaries (`ingot_light::Validators`), that `block_raw` is a block
/// finalized by its epoch's validators: it decodes, its body matches its
/// header, and `finalization_raw` is a certificate for exactly this block with
/// a quorum of valid validator signatures. `ingot query --prove` uses this so a
/// proof is trusted only through a certificate, never through the node serving it.
pub fn verify_finalized_block(
    validators: &ingot_light::Validators,
    block_raw: Vec<u8>,
    finalization_raw: Vec<u8>,
) -> Result<Block, String> {
    use commonware_codec::Decode;
    let block =
        Block::decode_cfg(block_raw, &()).map_err(|e| format!("block does not decode: {e}"))?;
    if !block.body_matches_header() {
        return Err("block body does not match its header".into());
    }
    ingot_light::verify_certificate(
        validators,
        block.header.height,
        block.digest(),
        finalization_raw,
    )
    .map_err(|e| e.to_string())?;
    Ok(block)
}

/// Check a header's finalization certificate against its epoch's validators
/// (what a member who may not read every transaction of the block can
/// check: the block hash is the header's digest).
pub fn verify_finalized_header(
    validators: &ingot_light::Validators,
    header_raw: Vec<u8>,
    finalization_raw: Vec<u8>,
) -> Result<ingot_types::Header, String> {
    use commonware_codec::Decode;
    let header = ingot_types::Header::decode_cfg(header_raw, &())
        .map_err(|e| format!("header does not decode: {e}"))?;
    ingot_light::verify_certificate(validators, header.height, header.digest(), finalization_raw)
        .map_err(|e| e.to_string())?;
    Ok(header)
}
