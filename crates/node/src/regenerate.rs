//! Regenerate execution records that a damaged execution journal lost.
//!
//! The journal is synced before each state commit, so it normally ends at or
//! ahead of the state. A journal that lost its tail on disk (a truncated or
//! damaged data file, which the journal cuts back to its last whole record
//! when it opens) ends *behind* the state. Those records cannot be made by
//! running the missing heights again on the node's state, which is already
//! past them; but execution is deterministic and every block is in the
//! node's own archive. So the node re-executes the whole chain from genesis
//! into a scratch state, checks every height the journal still holds against
//! its record, appends the regenerated ones, and finally checks that the
//! scratch state's root equals the node's state root. Nothing the node holds
//! is cut or overwritten; any disagreement stops the node with the height
//! named.

use crate::{executor::stored_block, ledger::ExecRecord, Shared};
use commonware_runtime::{Clock, Metrics, Spawner, Storage, Supervisor};
use ingot_execution::{Executor, RecentTxs};
use ingot_state::StateStore;
use tracing::{info, warn};

/// Heights between two progress lines of a long regeneration.
const PROGRESS_EVERY: u64 = 10_000;

/// Partition prefix of the scratch state, beside the node's own.
fn scratch_prefix(prefix: &str) -> String {
    format!("{prefix}-regenerate")
}

/// If the execution journal ends below the executed state, regenerate the
/// lost records (see the module documentation). Returns how many were
/// regenerated.
pub(crate) async fn lost_records<E, C>(
    context: &C,
    shared: &Shared<E>,
    marshal: &crate::engine::MarshalMailbox,
) -> anyhow::Result<u64>
where
    E: Storage + Clock + Metrics + Spawner,
    C: Storage + Clock + Metrics + Spawner + Supervisor,
{
    let executed = shared.executed_height();
    let recorded = shared.ledger.lock().await.height();
    if recorded >= executed {
        return Ok(0);
    }
    warn!(
        journal = recorded,
        state = executed,
        "the execution journal lost the records of heights {}..={executed}; re-executing the chain from genesis in a scratch state to regenerate them",
        recorded + 1
    );
    let prefix = scratch_prefix(&shared.storage_prefix);
    let mut scratch = StateStore::open(context.child("regenerate"), &prefix).await?;
    if scratch.height() > 0 {
        // Left by a regeneration that was interrupted: start again.
        scratch.destroy().await?;
        scratch = StateStore::open(context.child("regenerate_again"), &prefix).await?;
    }
    // Re-executed from genesis: the consortium as genesis formed it, changed
    // by governance as the chain goes.
    let executor = Executor::new(std::sync::Arc::new(ingot_execution::LiveConsortium::new(
        ingot_execution::Consortium::from_genesis(&shared.genesis)?,
    )));
    let horizon = RecentTxs::horizon(executed + 1);
    for height in 1..=executed {
        let block = stored_block(context, shared, marshal, height).await?;
        let outcome = executor.execute_block(&mut scratch, &block).await?;
        let record = ExecRecord {
            height,
            block: block.hash(),
            result: outcome.result,
            receipts: outcome.receipts,
        };
        let mut ledger = shared.ledger.lock().await;
        if height <= recorded {
            let kept = ledger.record(height).await?;
            anyhow::ensure!(
                kept.as_ref() == Some(&record),
                "height {height}: re-execution from genesis does not reproduce the execution journal's record, so the lost records cannot be regenerated. Nothing was changed; run `ingot verify-chain` on this data directory, then restore it from a backup or resync it from the other validators"
            );
        } else {
            ledger.append(record.clone()).await?;
            if height >= horizon {
                shared.recent.record_receipts(height, &record.receipts);
            }
        }
        drop(ledger);
        if scratch.upkeep_due() {
            scratch.upkeep().await?;
        }
        if height.is_multiple_of(PROGRESS_EVERY) {
            info!(height, of = executed, "regenerating execution records");
        }
    }
    let ours = shared.state.read().await.root()?;
    let regenerated = scratch.root()?;
    scratch.destroy().await?;
    anyhow::ensure!(
        ours == regenerated,
        "re-execution from genesis reaches state root {regenerated} at height {executed}, but the state store holds {ours}: the state store is damaged. The regenerated records were kept; restore this data directory from a backup or resync it from the other validators"
    );
    let count = executed - recorded;
    info!(
        count,
        "execution records regenerated and checked against the state root"
    );
    Ok(count)
}
