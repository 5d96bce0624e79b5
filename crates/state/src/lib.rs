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
        current::{ordered::variable::Db, VariableConfig},
        floor::Proportional,
    },
    translator::EightCap,
};
use commonware_utils::{NZUsize, NZU64};
use ingot_types::limits::MAX_VALUE_BYTES;
pub use proof::{verify_proof, StateProof};
use std::{collections::BTreeMap, num::NonZeroUsize};

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
}

impl IoSizes {
    /// A validator's state store: a 16 MiB page cache, 1 MiB buffers.
    pub const STATE: Self = Self {
        cache_pages: DEFAULT_CACHE_PAGES,
        write_buffer: NZUsize!(1 << 20),
        replay_buffer: NZUsize!(1 << 20),
    };

    /// Small stores for simulations that run dozens of validators in one
    /// process: a 64 KiB page cache and 16 KiB buffers. Buffers smaller than
    /// the largest value ([`MAX_VALUE_BYTES`]) also exercise the path where
    /// one write spans several buffer flushes.
    pub const COMPACT: Self = Self {
        cache_pages: NZUsize!(16),
        write_buffer: NZUsize!(16 << 10),
        replay_buffer: NZUsize!(16 << 10),
    };
}

const _: () = assert!(IoSizes::COMPACT.write_buffer.get() < MAX_VALUE_BYTES);
const CHUNK: usize = 32;
pub type StateDb<E> = Db<Family, E, Digest, Vec<u8>, Sha256, EightCap, CHUNK, Sequential>;

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
) -> VariableConfig<EightCap, OperationCfg, Sequential> {
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
        init_cache: Some(NZUsize!(1 << 16)),
        // Opening replays the whole log: twice the replay buffer, 2 MiB for
        // a validator as before sizes were a setting.
        init_buffer: io.replay_buffer.saturating_mul(NZUsize!(2)),
        init_concurrency: (),
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
        Ok(Self {
            db: Some(db),
            height,
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

    /// Delete this state's storage entirely.
    pub async fn destroy(mut self) -> Result<(), StateError> {
        let db = self.db.take().ok_or(StateError::Poisoned)?;
        db.destroy().await.map_err(db_err)
    }

    /// Flush everything and shorten recovery on the next open.
    pub async fn sync(&mut self) -> Result<(), StateError> {
        let db = self.db.take().ok_or(StateError::Poisoned)?;
        self.db = Some(db.sync().await.map_err(db_err)?);
        Ok(())
    }
}
