//! Memory a validator's stores spend on I/O: page caches, journal buffers and
//! the size a freezer table starts at, and how large the state's unsynced
//! tail may grow. None of it changes the chain, the state or any proof (a
//! freezer's table size is read from its checkpoint once it exists), so a
//! data directory opens with any sizes, whatever sizes created it.

use commonware_runtime::{
    buffer::paged::{page_size, CacheRef},
    BLOB_PAGE_SIZE,
};
use commonware_utils::NZUsize;
pub use ingot_state::IoSizes;
use std::num::NonZeroU64;

/// `IoSizes::open_key_cache` of the stores that are not a state store
/// (they have no key index to rebuild).
const NOT_A_STATE: std::num::NonZeroUsize = NZUsize!(1);

/// Sizes of every store of one validator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StorageSizes {
    /// The authenticated state.
    pub state: IoSizes,
    /// The block and finalization archives and the consensus journal, which
    /// share one page cache.
    pub consensus: IoSizes,
    /// The execution journal.
    pub ledger: IoSizes,
    /// Entries of an archive's freezer table when the archive is created;
    /// the table doubles as the archive fills.
    pub freezer_table_initial_size: u32,
    /// Entries moved per sync while a freezer table doubles.
    pub freezer_table_resize_chunk: u32,
    /// State operations between two upkeeps (sync and prune): what a
    /// restart replays at most (`ingot_state::UPKEEP_EVERY_OPS`).
    pub state_upkeep_every_ops: NonZeroU64,
}

impl StorageSizes {
    /// A validator process: 16 MiB for the state's cache, 32 MiB for the
    /// archives', 4 MiB for the journal's, 1 MiB buffers, tables of 16,384.
    pub const PRODUCTION: Self = Self {
        state: IoSizes::STATE,
        consensus: IoSizes {
            cache_pages: NZUsize!(8_192),
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
            open_key_cache: NOT_A_STATE,
        },
        ledger: IoSizes {
            cache_pages: NZUsize!(1_024),
            write_buffer: NZUsize!(1 << 20),
            replay_buffer: NZUsize!(1 << 20),
            open_key_cache: NOT_A_STATE,
        },
        freezer_table_initial_size: 1 << 14,
        freezer_table_resize_chunk: 1 << 12,
        state_upkeep_every_ops: ingot_state::UPKEEP_EVERY_OPS,
    };

    /// Simulated validators, dozens of which run in one process and restart
    /// often: the deterministic runtime's in-memory blobs copy a whole blob
    /// on every sync and page caches are allocated at every start, so
    /// production sizes made most of a simulation's cost (the explorer's
    /// seeds ran about 25 % faster with these). Small sizes also exercise
    /// what production sizes rarely reach within a test: a write spanning
    /// several buffer flushes, and freezer tables that double (in small
    /// steps) within the first few hundred blocks, and state upkeeps every
    /// few blocks.
    pub const COMPACT: Self = Self {
        state: IoSizes::COMPACT,
        consensus: IoSizes {
            cache_pages: NZUsize!(256),
            ..IoSizes::COMPACT
        },
        ledger: IoSizes::COMPACT,
        freezer_table_initial_size: 1 << 8,
        freezer_table_resize_chunk: 1 << 6,
        state_upkeep_every_ops: ingot_state::UPKEEP_EVERY_OPS_COMPACT,
    };

    /// The page cache the archives and the consensus journal share.
    pub fn consensus_cache(&self) -> CacheRef {
        CacheRef::new(page_size(BLOB_PAGE_SIZE), self.consensus.cache_pages)
    }
}

// The freezer requires power-of-two tables; a resize step larger than the
// table would move it in one sync, which is allowed but defeats the step.
const _: () = {
    let sizes = [StorageSizes::PRODUCTION, StorageSizes::COMPACT];
    let mut i = 0;
    while i < sizes.len() {
        let s = sizes[i];
        assert!(s.freezer_table_initial_size.is_power_of_two());
        assert!(s.freezer_table_resize_chunk <= s.freezer_table_initial_size);
        i += 1;
    }
};
