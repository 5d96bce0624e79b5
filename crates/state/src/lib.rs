//! Ingot's authenticated world state.
//!
//! World state is a `commonware-storage` QMDB of the `current::ordered` family:
//! it proves the *current* value of a key (not merely a past one) and, because
//! keys are ordered, the *absence* of a key too. Application keys are hashed with
//! SHA-256 before they enter the database so the ordered index spreads evenly; a
//! verifier hashes the key the same way (see [`proof`]).
//!
//! Only finalized blocks are applied (execution is deferred, see
//! `ingot_types::block`), so the store never needs to roll back. The executed
//! height is stored as the commit metadata, atomically with the writes: after a
//! crash the store reopens at the last complete commit and the node re-executes
//! from the next height.

pub mod proof;

use commonware_codec::RangeCfg;
use commonware_cryptography::{sha256::Digest, Sha256};
use commonware_parallel::Sequential;
use commonware_runtime::{
    buffer::paged::{page_size, CacheRef},
    Clock, Metrics, Spawner, Storage, BLOB_PAGE_SIZE,
};
use commonware_storage::{
    journal::contiguous::variable::Config as JournalConfig,
    merkle::{full::Config as MerkleConfig, mmr},
    qmdb::{
        current::{ordered::variable::partitioned::Db, VariableConfig},
        floor::Proportional,
    },
    translator::EightCap,
};
use commonware_utils::{NZUsize, NZU64};
use ingot_types::limits::MAX_VALUE_BYTES;
pub use proof::{verify_proof, StateProof};
use std::{
    collections::BTreeMap,
    num::{NonZeroU64, NonZeroUsize},
    ops::Range,
};

type Family = mmr::Family;

/// Default page cache: 16 MiB.
pub const DEFAULT_CACHE_PAGES: NonZeroUsize = NZUsize!(4_096);

/// Memory a store spends on I/O. None of it changes what is stored or where,
/// so a store opens with any sizes, whatever sizes created it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoSizes {
    /// Pages of [`BLOB_PAGE_SIZE`] bytes in the store's page cache, allocated
    /// when the store opens.
    pub cache_pages: NonZeroUsize,
    /// Bytes a journal buffers before they reach its blob.
    pub write_buffer: NonZeroUsize,
    /// Bytes a journal reads at a time when it is replayed on open.
    pub replay_buffer: NonZeroUsize,
    /// State store only: keys remembered (about 41 bytes each, allocated
    /// while the store opens and freed once it is open) while the key index
    /// is rebuilt from the log. Every key rewritten since the inactivity
    /// floor must be matched with its previous operation; one the cache
    /// forgot is a random 4 KiB read of the log — with a million devices
    /// that made opening take 20 s of single-page reads. Other stores ignore
    /// it.
    pub open_key_cache: NonZeroUsize,
}

impl IoSizes {
    /// A validator's state store: a 16 MiB page cache, 1 MiB buffers.
    pub const STATE: Self = Self {
        cache_pages: DEFAULT_CACHE_PAGES,
        write_buffer: NZUsize!(1 << 20),
        replay_buffer: NZUsize!(1 << 20),
        // 16M keys (up to ~690 MB while opening, touched only as far as
        // the log goes): a million devices (5.3M keys) or 6M notary records
        // (every insert also rewrites its predecessor) opened in 38-41 s
        // with 4M, the cache forgetting most keys before their rewrite.
        open_key_cache: NZUsize!(1 << 24),
    };

    /// Small stores for simulations that run dozens of validators in one
    /// process: a 64 KiB page cache and 16 KiB buffers. Buffers smaller than
    /// the largest value ([`MAX_VALUE_BYTES`]) also exercise the path where
    /// one write spans several buffer flushes.
    pub const COMPACT: Self = Self {
        cache_pages: NZUsize!(16),
        write_buffer: NZUsize!(16 << 10),
        replay_buffer: NZUsize!(16 << 10),
        open_key_cache: NZUsize!(1 << 10),
    };
}

/// Operations appended between two upkeeps ([`StateStore::upkeep`]) of a
/// validator's store. A commit makes operations durable but leaves the
/// Merkle structure in memory, so a store that never syncs replays its
/// whole log on open (80 s with a million devices); this bounds that replay,
/// and the superseded history kept on disk, to about this many operations.
/// Upkeep changes neither the root nor any value.
pub const UPKEEP_EVERY_OPS: NonZeroU64 = NZU64!(262_144);

/// Upkeep interval of simulated validators: small, so that simulations
/// cross many upkeeps and crash and damage storage around them.
pub const UPKEEP_EVERY_OPS_COMPACT: NonZeroU64 = NZU64!(256);

const _: () = assert!(IoSizes::COMPACT.write_buffer.get() < MAX_VALUE_BYTES);
const _: () = assert!(UPKEEP_EVERY_OPS_COMPACT.get() < UPKEEP_EVERY_OPS.get());
const CHUNK: usize = 32;
/// Bytes of a key's prefix that choose its partition of the key index: 256
/// partitions, rebuilt in parallel when the store opens. The index is not
/// hashed, so this changes no root.
const INDEX_PARTITION_BYTES: usize = 1;
pub type StateDb<E> =
    Db<Family, E, Digest, Vec<u8>, Sha256, EightCap, INDEX_PARTITION_BYTES, CHUNK, Sequential>;

/// A block's writes: key → new value, or `None` to delete. Ordered, so applying
/// them is deterministic.
pub type WriteSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Db(String),
    #[error("state height {have} cannot apply height {want}")]
    OutOfOrder { have: u64, want: u64 },
    #[error("state store was lost after an earlier failure; reopen the node")]
    Poisoned,
    #[error("value of {0} bytes exceeds the limit of {MAX_VALUE_BYTES}")]
    ValueTooLarge(usize),
}

fn db_err(e: impl std::fmt::Display) -> StateError {
    StateError::Db(e.to_string())
}

/// Hash an application key into the database key space.
pub fn hashed_key(raw: &[u8]) -> Digest {
    ingot_types::sha256(&[raw])
}

/// Codec configuration of stored operations: keys need none, values are length-bounded.
type OperationCfg = ((), (RangeCfg<usize>, ()));

fn config(
    prefix: &str,
    cache: CacheRef,
    io: IoSizes,
) -> VariableConfig<EightCap, OperationCfg, Sequential, NonZeroUsize> {
    VariableConfig {
        merkle_config: MerkleConfig {
            journal_partition: format!("{prefix}-state-mmr"),
            metadata_partition: format!("{prefix}-state-mmr-meta"),
            items_per_blob: NZU64!(65_536),
            write_buffer: io.write_buffer,
            replay_buffer: io.replay_buffer,
            strategy: Sequential,
            page_cache: cache.clone(),
        },
        journal_config: JournalConfig {
            partition: format!("{prefix}-state-log"),
            items_per_section: NZU64!(4_096),
            compression: None,
            codec_config: ((), ((0..=MAX_VALUE_BYTES).into(), ())),
            page_cache: cache,
            write_buffer: io.write_buffer,
            replay_buffer: io.replay_buffer,
        },
        grafted_metadata_partition: format!("{prefix}-state-grafted"),
        translator: EightCap,
        init_cache: Some(io.open_key_cache),
        // Opening replays the whole log: twice the replay buffer, 2 MiB for
        // a validator as before sizes were a setting.
        init_buffer: io.replay_buffer.saturating_mul(NZUsize!(2)),
        // Both cores while opening: nothing else of the node runs yet.
        init_concurrency: NZUsize!(2),
    }
}

type Update = commonware_storage::qmdb::any::ordered::variable::Update<Digest, Vec<u8>>;

/// A block's writes merkleized but not yet durable.
pub struct Prepared {
    pub height: u64,
    pub root: Digest,
    batch: std::sync::Arc<
        commonware_storage::qmdb::current::batch::MerkleizedBatch<
            Family,
            Digest,
            Update,
            CHUNK,
            Sequential,
        >,
    >,
}

/// The authenticated state of one node.
pub struct StateStore<E: Storage + Clock + Metrics + Spawner> {
    // `None` only if a consuming database operation failed; every later call then
    // reports `Poisoned` instead of working on a half-known state.
    db: Option<StateDb<E>>,
    height: u64,
    upkeep_every_ops: NonZeroU64,
    /// Log size at the last upkeep (or open, which leaves the Merkle
    /// structure synced).
    synced_ops: u64,
}

/// What one [`StateStore::upkeep`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upkeep {
    /// Operations a reopen would no longer replay.
    pub synced_ops: u64,
    /// First operation still on disk afterwards.
    pub retained_from: u64,
}

impl<E: Storage + Clock + Metrics + Spawner> StateStore<E> {
    /// Open (or create) the state under partitions named with `prefix`, with
    /// a validator's I/O sizes ([`IoSizes::STATE`]).
    pub async fn open(context: E, prefix: &str) -> Result<Self, StateError> {
        Self::open_sized(context, prefix, IoSizes::STATE).await
    }

    /// Open with the given I/O sizes. The storage engine reads with direct
    /// I/O (no OS page cache), so every page cache miss is a device read:
    /// size the cache to the hot part of the state.
    pub async fn open_sized(context: E, prefix: &str, io: IoSizes) -> Result<Self, StateError> {
        let cache = CacheRef::new(page_size(BLOB_PAGE_SIZE), io.cache_pages);
        let db = StateDb::init(context, config(prefix, cache, io), None)
            .await
            .map_err(db_err)?;
        let height = match db.get_metadata().await.map_err(db_err)? {
            Some(raw) if raw.len() == 8 => u64::from_be_bytes(raw.try_into().unwrap()),
            _ => 0,
        };
        // Opening aligns the Merkle structure with the log and syncs it.
        let synced_ops = *db.bounds().end;
        Ok(Self {
            db: Some(db),
            height,
            upkeep_every_ops: UPKEEP_EVERY_OPS,
            synced_ops,
        })
    }

    fn db(&self) -> Result<&StateDb<E>, StateError> {
        self.db.as_ref().ok_or(StateError::Poisoned)
    }

    /// Height of the last applied block (0 = genesis, nothing applied).
    pub fn height(&self) -> u64 {
        self.height
    }

    /// Root of the current state.
    pub fn root(&self) -> Result<Digest, StateError> {
        Ok(self.db()?.root())
    }

    pub async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.db()?.get(&hashed_key(key)).await.map_err(db_err)
    }

    /// Apply the writes of block `height` (which must be the next one) and make
    /// them durable together with the new height. Returns the new root.
    pub async fn apply(&mut self, height: u64, writes: &WriteSet) -> Result<Digest, StateError> {
        let prepared = self.prepare(height, writes).await?;
        self.commit(prepared).await
    }

    /// Compute the root that applying `writes` as block `height` would give,
    /// without touching disk. Hand the result to [`Self::commit`].
    pub async fn prepare(&self, height: u64, writes: &WriteSet) -> Result<Prepared, StateError> {
        if height != self.height + 1 {
            return Err(StateError::OutOfOrder {
                have: self.height,
                want: height,
            });
        }
        // A value the store could not read back must never be written.
        if let Some(v) = writes
            .values()
            .flatten()
            .find(|v| v.len() > MAX_VALUE_BYTES)
        {
            return Err(StateError::ValueTooLarge(v.len()));
        }
        let db = self.db()?;
        let mut batch = db.new_batch();
        for (k, v) in writes {
            batch = batch.write(hashed_key(k), v.clone());
        }
        let batch = batch
            .merkleize(db, Some(height.to_be_bytes().to_vec()), &mut Proportional)
            .await
            .map_err(db_err)?;
        Ok(Prepared {
            height,
            root: batch.root(),
            batch,
        })
    }

    /// Make a prepared block durable.
    pub async fn commit(&mut self, prepared: Prepared) -> Result<Digest, StateError> {
        if prepared.height != self.height + 1 {
            return Err(StateError::OutOfOrder {
                have: self.height,
                want: prepared.height,
            });
        }
        let db = self.db.take().ok_or(StateError::Poisoned)?;
        let db = db.apply_batch(prepared.batch).await.map_err(db_err)?;
        let db = db.commit().await.map_err(db_err)?;
        let root = db.root();
        debug_assert_eq!(root, prepared.root);
        self.db = Some(db);
        self.height = prepared.height;
        Ok(root)
    }

    /// Prove the current value (or absence) of `key` against the current root.
    pub async fn prove(&self, key: &[u8]) -> Result<StateProof, StateError> {
        proof::prove(self.db()?, key, self.height).await
    }

    /// Delete the storage of the state under `prefix` without opening it:
    /// for a store too damaged to open. Every partition the store's
    /// configuration names is removed, with the suffixes the storage engine
    /// adds to them (a test checks that nothing is left on a real disk).
    pub async fn remove_all(context: &E, prefix: &str) -> Result<(), StateError> {
        let cfg = config(
            prefix,
            CacheRef::new(page_size(BLOB_PAGE_SIZE), NZUsize!(1)),
            IoSizes::COMPACT,
        );
        let bases = [
            cfg.merkle_config.journal_partition,
            cfg.merkle_config.metadata_partition,
            cfg.journal_config.partition,
            cfg.grafted_metadata_partition,
        ];
        const SUFFIXES: [&str; 9] = [
            "",
            "-blobs",
            "-metadata",
            "_data",
            "_offsets",
            "_data-blobs",
            "_data-metadata",
            "_offsets-blobs",
            "_offsets-metadata",
        ];
        for base in &bases {
            for suffix in SUFFIXES {
                match context.remove(&format!("{base}{suffix}"), None).await {
                    Ok(()) | Err(commonware_runtime::Error::PartitionMissing(_)) => {}
                    Err(e) => return Err(db_err(e)),
                }
            }
        }
        Ok(())
    }

    /// Delete this state's storage entirely.
    pub async fn destroy(mut self) -> Result<(), StateError> {
        let db = self.db.take().ok_or(StateError::Poisoned)?;
        db.destroy().await.map_err(db_err)
    }

    /// Flush everything and shorten recovery on the next open.
    pub async fn sync(&mut self) -> Result<(), StateError> {
        let db = self.db.take().ok_or(StateError::Poisoned)?;
        let db = db.sync().await.map_err(db_err)?;
        self.synced_ops = *db.bounds().end;
        self.db = Some(db);
        Ok(())
    }

    /// Change how many operations pass between upkeeps.
    pub fn set_upkeep_every(&mut self, ops: NonZeroU64) {
        self.upkeep_every_ops = ops;
    }

    /// Operations of the log still on disk (superseded ones below the
    /// start were pruned by an upkeep).
    pub fn retained_ops(&self) -> Result<Range<u64>, StateError> {
        let bounds = self.db()?.bounds();
        Ok(*bounds.start..*bounds.end)
    }

    /// Whether enough operations were appended since the last sync that
    /// [`Self::upkeep`] should run.
    pub fn upkeep_due(&self) -> bool {
        self.db.as_ref().is_some_and(|db| {
            (*db.bounds().end).saturating_sub(self.synced_ops) >= self.upkeep_every_ops.get()
        })
    }

    /// Sync the Merkle structure (so a reopen replays nothing before this
    /// point) and prune operations no current value depends on. Neither
    /// changes the root, any value or any proof of a current value.
    pub async fn upkeep(&mut self) -> Result<Upkeep, StateError> {
        let before = self.synced_ops;
        let db = self.db.take().ok_or(StateError::Poisoned)?;
        let db = db.sync().await.map_err(db_err)?;
        let boundary = db.sync_boundary();
        let db = db.prune(boundary).await.map_err(db_err)?;
        let bounds = db.bounds();
        self.synced_ops = *bounds.end;
        self.db = Some(db);
        Ok(Upkeep {
            synced_ops: self.synced_ops - before,
            retained_from: *bounds.start,
        })
    }
}
