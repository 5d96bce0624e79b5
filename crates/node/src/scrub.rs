//! Scrubbing the block archive: every finalized block and certificate is
//! read again, a few heights per interval, so a record damaged on disk is
//! found — and refetched from peers and verified (`block_repair`) — before
//! anyone needs it, instead of when a peer backfills from this node or an
//! auditor asks for that height years later.
//!
//! The reads go through marshal like any other, so through the archive
//! guard (`archive_guard`): a damaged record is marked and answered from the
//! repair archives once repaired. Nothing is ever rewritten. The pace is
//! bounded so that a pass never competes with consensus; the cursor lives in
//! memory, so a restarted node begins a new pass at height 1.

use crate::{engine::MarshalMailbox, Shared};
use commonware_consensus::types::Height;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tracing::info;

/// How often the scrubber wakes.
pub const SCRUB_INTERVAL: Duration = Duration::from_secs(1);
/// Heights read per wake: a pass over a million heights takes about a day
/// and a half, a few block reads a second beside consensus.
pub const SCRUB_HEIGHTS_PER_INTERVAL: u64 = 8;
// A pass must outrun the repairs it causes (each wake repairs at most that
// many heights), or damage found would queue up faster than it is fixed.
const _: () =
    assert!(SCRUB_HEIGHTS_PER_INTERVAL as usize <= crate::block_repair::MAX_REPAIRS_PER_INTERVAL);

/// Read every finalized height's block and certificate in turn, forever.
pub async fn scrub_loop<E, C>(clock: C, shared: Arc<Shared<E>>, marshal: MarshalMailbox)
where
    E: Storage + Clock + Metrics + Spawner,
    C: Clock,
{
    let mut next = 1u64;
    loop {
        clock.sleep(SCRUB_INTERVAL).await;
        // Only executed heights: those are finalized and stored here.
        let top = shared.executed.load(Ordering::Relaxed);
        if top == 0 {
            continue;
        }
        for _ in 0..SCRUB_HEIGHTS_PER_INTERVAL {
            if next > top {
                info!(heights = top, "archive scrub pass complete");
                next = 1;
                break;
            }
            let height = Height::new(next);
            let _ = marshal.get_block(height).await;
            let _ = marshal.get_finalization(height).await;
            shared.repairs.note_scrubbed(next);
            next += 1;
        }
    }
}
