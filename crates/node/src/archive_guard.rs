//! The block and certificate archives as marshal sees them: reads that
//! never take the node down.
//!
//! Marshal treats an archive read error as fatal (it panics). With the raw
//! archives, one flipped byte in a stored block let anyone crash a validator
//! by asking for that height — an anonymous `GET /v1/blocks/N`, or a peer
//! backfilling. So marshal gets the archives wrapped: a read that fails (a
//! checksum mismatch, an unreadable blob) is logged with the archive and
//! the height, the height is recorded as damaged, and the read is answered
//! from the repair archives (copies refetched from peers and verified, see
//! [`crate::block_repair`]) or as "not held": marshal then tells a peer it
//! has no data, and the API answers 503 `block_damaged` until the repair
//! lands.
//!
//! Nothing valid is ever destroyed: the damaged record stays where it is (an
//! immutable archive cannot overwrite it) and the repaired copy lives in
//! archives of its own beside it, consulted only for damaged records.

use crate::engine::{archive_config, FinalizationOf};
use commonware_consensus::{
    marshal::store::{Blocks, Certificates},
    simplex::scheme::ed25519,
    types::Height,
};
use commonware_cryptography::sha256::Digest;
use commonware_runtime::{buffer::paged::CacheRef, Clock, Handle, Metrics, Storage};
use commonware_storage::archive::{self, immutable, Archive as _, Identifier};
use futures::lock::Mutex as AsyncMutex;
use ingot_types::Block;
use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};
use tracing::{error, info};

pub type BlockArchive<E> = immutable::Archive<E, Digest, Arc<Block>>;
pub type CertificateArchive<E> = immutable::Archive<E, Digest, FinalizationOf>;

/// Most damaged heights remembered at once (each is refetched, then
/// forgotten); beyond it a node with that much damage needs its operator.
pub const MAX_DAMAGED_TRACKED: usize = 4_096;

/// Damaged heights found by reads, and the verified copies fetched for them.
pub struct ArchiveRepairs<E: Storage + Metrics + Clock> {
    blocks: AsyncMutex<Option<BlockArchive<E>>>,
    certificates: AsyncMutex<Option<CertificateArchive<E>>>,
    damaged: Mutex<BTreeSet<u64>>,
    repaired: AtomicU64,
    /// Heights the scrubber has read since start, and the last one.
    scrubbed: AtomicU64,
    scrub_height: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum RepairStoreError {
    #[error("repair archive {archive}: {source}")]
    Archive {
        archive: &'static str,
        source: archive::Error,
    },
    #[error("repair archive {0} was lost after an earlier write failure")]
    Lost(&'static str),
}

impl<E: Storage + Metrics + Clock> ArchiveRepairs<E> {
    /// Open (or create) the repair archives of the node with storage
    /// `prefix`.
    pub async fn open(
        context: E,
        prefix: &str,
        cache: CacheRef,
        sizes: &crate::StorageSizes,
    ) -> Result<Self, RepairStoreError> {
        let blocks = BlockArchive::init(
            context.child("repaired_blocks"),
            archive_config(prefix, "repaired-blocks", cache.clone(), sizes, ()),
        )
        .await
        .map_err(|source| RepairStoreError::Archive {
            archive: "repaired-blocks",
            source,
        })?;
        let certificates = CertificateArchive::init(
            context.child("repaired_finalizations"),
            archive_config(
                prefix,
                "repaired-finalizations",
                cache,
                sizes,
                <ed25519::Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
            ),
        )
        .await
        .map_err(|source| RepairStoreError::Archive {
            archive: "repaired-finalizations",
            source,
        })?;
        Ok(Self {
            blocks: AsyncMutex::new(Some(blocks)),
            certificates: AsyncMutex::new(Some(certificates)),
            damaged: Mutex::new(BTreeSet::new()),
            repaired: AtomicU64::new(0),
            scrubbed: AtomicU64::new(0),
            scrub_height: AtomicU64::new(0),
        })
    }

    /// Record that the stored record of `height` could not be read.
    pub fn mark_damaged(&self, height: u64) {
        let mut damaged = self.damaged.lock().unwrap();
        if damaged.len() < MAX_DAMAGED_TRACKED {
            damaged.insert(height);
        }
    }

    /// Whether `height` is known damaged and not yet repaired.
    pub fn is_damaged(&self, height: u64) -> bool {
        self.damaged.lock().unwrap().contains(&height)
    }

    /// Up to `max` damaged heights, lowest first.
    pub fn damaged(&self, max: usize) -> Vec<u64> {
        self.damaged
            .lock()
            .unwrap()
            .iter()
            .take(max)
            .copied()
            .collect()
    }

    pub fn damaged_count(&self) -> usize {
        self.damaged.lock().unwrap().len()
    }

    /// Heights repaired since start.
    pub fn repaired_count(&self) -> u64 {
        self.repaired.load(Ordering::Relaxed)
    }

    /// The scrubber read `height` (see `scrub`).
    pub fn note_scrubbed(&self, height: u64) {
        self.scrubbed.fetch_add(1, Ordering::Relaxed);
        self.scrub_height.store(height, Ordering::Relaxed);
    }

    /// Heights the scrubber has read since start, and the last one.
    pub fn scrub_progress(&self) -> (u64, u64) {
        (
            self.scrubbed.load(Ordering::Relaxed),
            self.scrub_height.load(Ordering::Relaxed),
        )
    }

    /// The repaired copy of a block, if one was fetched.
    pub async fn block(&self, id: Identifier<'_, Digest>) -> Option<Arc<Block>> {
        let guard = self.blocks.lock().await;
        commonware_storage::archive::Archive::get(guard.as_ref()?, id)
            .await
            .ok()
            .flatten()
    }

    /// The repaired copy of a finalization certificate, if one was fetched.
    pub async fn certificate(&self, id: Identifier<'_, Digest>) -> Option<FinalizationOf> {
        let guard = self.certificates.lock().await;
        commonware_storage::archive::Archive::get(guard.as_ref()?, id)
            .await
            .ok()
            .flatten()
    }

    /// Keep a verified copy of the block of `height` (and its certificate,
    /// when one came with it), synced, and forget the damage.
    pub async fn store(
        &self,
        height: u64,
        digest: Digest,
        block: Arc<Block>,
        certificate: Option<FinalizationOf>,
    ) -> Result<(), RepairStoreError> {
        {
            let mut guard = self.blocks.lock().await;
            let archive = guard
                .take()
                .ok_or(RepairStoreError::Lost("repaired-blocks"))?;
            let archive = archive
                .put_sync(height, digest, &block)
                .await
                .map_err(|source| RepairStoreError::Archive {
                    archive: "repaired-blocks",
                    source,
                })?;
            *guard = Some(archive);
        }
        if let Some(certificate) = certificate {
            let mut guard = self.certificates.lock().await;
            let archive = guard
                .take()
                .ok_or(RepairStoreError::Lost("repaired-finalizations"))?;
            let archive = archive
                .put_sync(height, digest, &certificate)
                .await
                .map_err(|source| RepairStoreError::Archive {
                    archive: "repaired-finalizations",
                    source,
                })?;
            *guard = Some(archive);
        }
        self.damaged.lock().unwrap().remove(&height);
        self.repaired.fetch_add(1, Ordering::Relaxed);
        info!(
            height,
            "damaged block replaced by a verified copy from a peer"
        );
        Ok(())
    }
}

/// `Identifier` is not `Copy`; a read needs it again after a failure.
fn again<'a>(id: &Identifier<'a, Digest>) -> Identifier<'a, Digest> {
    match id {
        Identifier::Index(height) => Identifier::Index(*height),
        Identifier::Key(digest) => Identifier::Key(digest),
    }
}

fn describe(id: &Identifier<'_, Digest>) -> String {
    match id {
        Identifier::Index(height) => format!("height {height}"),
        Identifier::Key(digest) => format!("digest {digest}"),
    }
}

/// Marshal's block store: the node's block archive, guarded.
pub struct GuardedBlocks<E: Storage + Metrics + Clock> {
    pub inner: BlockArchive<E>,
    pub repairs: Arc<ArchiveRepairs<E>>,
}

impl<E: Storage + Metrics + Clock> Blocks for GuardedBlocks<E> {
    type Block = Arc<Block>;
    type Error = archive::Error;

    async fn put(self, digest: Digest, block: &Arc<Block>) -> Result<Self, Self::Error> {
        let inner = Blocks::put(self.inner, digest, block).await?;
        Ok(Self { inner, ..self })
    }

    async fn sync(self) -> Result<Self, Self::Error> {
        let inner = Blocks::sync(self.inner).await?;
        Ok(Self { inner, ..self })
    }

    async fn start_sync(self) -> Result<(Self, Handle<()>), Self::Error> {
        let (inner, handle) = Blocks::start_sync(self.inner).await?;
        Ok((Self { inner, ..self }, handle))
    }

    async fn get(&self, id: Identifier<'_, Digest>) -> Result<Option<Arc<Block>>, Self::Error> {
        match Blocks::get(&self.inner, again(&id)).await {
            Ok(found) => Ok(found),
            Err(e) => {
                if let Some(copy) = self.repairs.block(again(&id)).await {
                    return Ok(Some(copy));
                }
                error!(
                    archive = "blocks",
                    record = describe(&id),
                    error = %e,
                    "stored block unreadable; answering as not held until a verified copy is fetched from a peer"
                );
                if let Identifier::Index(height) = id {
                    self.repairs.mark_damaged(height);
                }
                Ok(None)
            }
        }
    }

    async fn prune(self, min: Height) -> Result<Self, Self::Error> {
        let inner = Blocks::prune(self.inner, min).await?;
        Ok(Self { inner, ..self })
    }

    fn missing_items(&self, start: Height, max: usize) -> Vec<Height> {
        Blocks::missing_items(&self.inner, start, max)
    }

    fn next_gap(&self, value: Height) -> (Option<Height>, Option<Height>) {
        Blocks::next_gap(&self.inner, value)
    }

    fn last_index(&self) -> Option<Height> {
        Blocks::last_index(&self.inner)
    }
}

/// Marshal's certificate store: the node's finalization archive, guarded.
pub struct GuardedCertificates<E: Storage + Metrics + Clock> {
    pub inner: CertificateArchive<E>,
    pub repairs: Arc<ArchiveRepairs<E>>,
}

impl<E: Storage + Metrics + Clock> Certificates for GuardedCertificates<E> {
    type BlockDigest = Digest;
    type Commitment = Digest;
    type Scheme = ed25519::Scheme;
    type Error = archive::Error;

    async fn put(
        self,
        height: Height,
        digest: Digest,
        finalization: &FinalizationOf,
    ) -> Result<Self, Self::Error> {
        let inner = Certificates::put(self.inner, height, digest, finalization).await?;
        Ok(Self { inner, ..self })
    }

    async fn sync(self) -> Result<Self, Self::Error> {
        let inner = Certificates::sync(self.inner).await?;
        Ok(Self { inner, ..self })
    }

    async fn start_sync(self) -> Result<(Self, Handle<()>), Self::Error> {
        let (inner, handle) = Certificates::start_sync(self.inner).await?;
        Ok((Self { inner, ..self }, handle))
    }

    async fn get(&self, id: Identifier<'_, Digest>) -> Result<Option<FinalizationOf>, Self::Error> {
        match Certificates::get(&self.inner, again(&id)).await {
            Ok(found) => Ok(found),
            Err(e) => {
                if let Some(copy) = self.repairs.certificate(again(&id)).await {
                    return Ok(Some(copy));
                }
                error!(
                    archive = "finalizations",
                    record = describe(&id),
                    error = %e,
                    "stored finalization certificate unreadable; answering as not held until a verified copy is fetched from a peer"
                );
                if let Identifier::Index(height) = id {
                    self.repairs.mark_damaged(height);
                }
                Ok(None)
            }
        }
    }

    async fn has(&self, height: Height) -> Result<bool, Self::Error> {
        Certificates::has(&self.inner, height).await
    }

    async fn prune(self, min: Height) -> Result<Self, Self::Error> {
        let inner = Certificates::prune(self.inner, min).await?;
        Ok(Self { inner, ..self })
    }

    fn last_index(&self) -> Option<Height> {
        Certificates::last_index(&self.inner)
    }

    fn ranges_from(&self, from: Height) -> impl Iterator<Item = (Height, Height)> {
        Certificates::ranges_from(&self.inner, from)
    }
}
