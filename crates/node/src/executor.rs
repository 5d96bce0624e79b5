//! Executes finalized blocks in height order, records their outcome, then
//! acknowledges them to marshal (which redelivers unacknowledged blocks after
//! a restart, so this must be and is idempotent).

use crate::{derived::Executed, ledger::ExecRecord, shared::PublishedEvent, Shared};
use commonware_actor::Feedback;
use commonware_consensus::{marshal::Update, Reporter};
use commonware_runtime::{Clock, Metrics, Spawner, Storage, Supervisor};
use commonware_utils::Acknowledgement as _;
use futures::{channel::mpsc, StreamExt};
use ingot_execution::Executor;
use ingot_types::{Block, ExecResult};
use std::sync::{atomic::Ordering, Arc};
use tracing::{error, info};

/// Marshal's reporter: hands finalized blocks to the executor task.
#[derive(Clone)]
pub struct FinalizedSink(pub mpsc::UnboundedSender<Update<Block>>);

impl Reporter for FinalizedSink {
    type Activity = Update<Block>;
    fn report(&mut self, activity: Update<Block>) -> Feedback {
        let _ = self.0.unbounded_send(activity);
        Feedback::Ok
    }
}

pub async fn run<E, C>(
    clock: C,
    shared: Arc<Shared<E>>,
    mut updates: mpsc::UnboundedReceiver<Update<Block>>,
    marshal: crate::engine::MarshalMailbox,
) where
    E: Storage + Clock + Metrics + Spawner,
    C: Storage + Clock + Metrics + Spawner + Supervisor,
{
    // Records first: the derived stores are refilled from them.
    if let Err(e) = crate::regenerate::lost_records(&clock, &shared, &marshal).await {
        error!(error = %e, "lost execution records cannot be regenerated; stopping executor");
        return;
    }
    if let Err(e) = refill_derived(&clock, &shared, &marshal).await {
        error!(error = %e, "derived stores cannot catch up; stopping executor");
        return;
    }
    let executor = Executor::with_recent(shared.trust.clone(), shared.recent.clone());
    if let Err(e) = replay_recorded(&clock, &shared, &executor, &marshal).await {
        error!(error = %e, "cannot bring the state up to the execution journal; stopping executor");
        return;
    }
    let mut ours = OurResults::default();
    while let Some(update) = updates.next().await {
        match update {
            Update::Tip(_, height, _) => {
                shared.finalized.fetch_max(height.get(), Ordering::AcqRel);
            }
            Update::Block(block, ack) => {
                let block = block.inner();
                let height = block.header.height;
                shared.finalized.fetch_max(height, Ordering::AcqRel);
                if height <= shared.executed_height() {
                    // Executed before a restart; a derived store may not
                    // have taken it yet (it is fed after the state commit).
                    if let Err(e) = catch_up_derived(&shared, block).await {
                        error!(height, error = %e, "derived store failed; stopping executor");
                        return;
                    }
                    ack.acknowledge();
                    continue;
                }
                // Final now: its transactions must not be proposed again
                // while execution catches up (execution trails finality).
                {
                    let mut mempool = shared.mempool.lock().unwrap();
                    for hash in block.tx_hashes() {
                        mempool.remove(hash);
                    }
                }
                // What the consortium finalized about earlier heights must be
                // what this node computed: a validator checked it before
                // voting, but an observer (and a validator catching up on
                // blocks it never verified) only learns it here.
                match ours.check(&shared, block).await {
                    Ok(()) => {}
                    Err(e) => {
                        error!(height, error = %e, "stopping executor: a finalized block's anchored results could not be confirmed against this node's execution");
                        return;
                    }
                }
                match execute(&shared, &executor, block).await {
                    Ok(result) => ours.remember(height, result),
                    Err(e) => {
                        // Storage failed under us: stop rather than diverge. Not
                        // acknowledging makes marshal redeliver after restart.
                        error!(height, error = %e, "execution failed; stopping executor");
                        return;
                    }
                }
                ack.acknowledge();
            }
        }
    }
}

/// Results this node computed for its most recent heights (the ones new
/// headers anchor), so checking an anchor rarely reads the journal.
#[derive(Default)]
struct OurResults(std::collections::BTreeMap<u64, ExecResult>);

/// Recent results kept: headers anchor the heights just before them.
const OUR_RESULTS_KEPT: usize = 64;

impl OurResults {
    fn remember(&mut self, height: u64, result: ExecResult) {
        self.0.insert(height, result);
        while self.0.len() > OUR_RESULTS_KEPT {
            self.0.pop_first();
        }
    }

    /// Refuse `block` if it anchors a result for a height that differs from
    /// this node's execution of that height.
    async fn check<E: Storage + Clock + Metrics + Spawner>(
        &mut self,
        shared: &Shared<E>,
        block: &Block,
    ) -> anyhow::Result<()> {
        for (height, claimed) in anchored(&block.header) {
            let mine = match self.0.get(&height) {
                Some(r) => *r,
                None => match shared
                    .ledger
                    .lock()
                    .await
                    .record(height)
                    .await
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "reading this node's execution record of height {height}: {e}"
                        )
                    })? {
                    Some(record) => record.result,
                    None => anyhow::bail!(
                        "block {} anchors height {height}, which this node has not executed",
                        block.header.height
                    ),
                },
            };
            same_as_ours(block.header.height, height, &claimed, &mine)?;
        }
        Ok(())
    }
}

/// What block `block_height` anchors for `height` must be what this node
/// computed for it.
fn same_as_ours(
    block_height: u64,
    height: u64,
    claimed: &ExecResult,
    mine: &ExecResult,
) -> anyhow::Result<()> {
    if claimed != mine {
        anyhow::bail!(
            "block {block_height} anchors, for height {height}, state root {} and receipts root {}; this node computed {} and {}. Its execution diverged from the consortium's (or its journal is damaged): run `ingot verify-chain` on its data directory",
            hex::encode(claimed.state_root.as_ref()),
            hex::encode(claimed.receipts_root.as_ref()),
            hex::encode(mine.state_root.as_ref()),
            hex::encode(mine.receipts_root.as_ref()),
        );
    }
    Ok(())
}

/// The execution results a header anchors, by height.
pub fn anchored(header: &ingot_types::Header) -> impl Iterator<Item = (u64, ExecResult)> + '_ {
    let first = (header.exec_height + 1).saturating_sub(header.results.len() as u64);
    header
        .results
        .iter()
        .enumerate()
        .map(move |(i, r)| (first + i as u64, *r))
}

/// Bring every derived store (device names, telemetry readings, ...) up
/// to the executed height from the node's own block archive and execution
/// journal: a store set aside as damaged, or new, starts empty; a crash
/// between a state commit and a store's write leaves it one height behind.
async fn refill_derived<E: Storage + Clock + Metrics + Spawner, C: Clock>(
    clock: &C,
    shared: &Shared<E>,
    marshal: &crate::engine::MarshalMailbox,
) -> anyhow::Result<()> {
    let executed = shared.executed_height();
    let mut from = executed;
    for store in &shared.module_stores {
        from = from.min(store.height()?);
    }
    let from = from + 1;
    if from > executed {
        return Ok(());
    }
    info!(
        from,
        to = executed,
        "derived stores catching up from the block archive"
    );
    for height in from..=executed {
        let block = stored_block(clock, shared, marshal, height).await?;
        catch_up_derived(shared, &block).await?;
    }
    Ok(())
}

/// Re-execute the heights the execution journal records but the state
/// does not have (a crash between record and commit, or a state store that
/// lost the tail of its log), from the node's own block archive; each must
/// come out identical to its record.
async fn replay_recorded<E: Storage + Clock + Metrics + Spawner, C: Clock>(
    clock: &C,
    shared: &Shared<E>,
    executor: &Executor,
    marshal: &crate::engine::MarshalMailbox,
) -> anyhow::Result<()> {
    let recorded = shared.ledger.lock().await.height();
    let from = shared.executed_height() + 1;
    if from > recorded {
        return Ok(());
    }
    info!(
        from,
        to = recorded,
        "re-executing recorded heights the state does not have"
    );
    for height in from..=recorded {
        let block = stored_block(clock, shared, marshal, height).await?;
        execute(shared, executor, &block).await?;
    }
    Ok(())
}

/// How often a read of a damaged block is retried while its repair runs.
const DAMAGED_BLOCK_RETRY: std::time::Duration = std::time::Duration::from_millis(200);

/// A finalized block this node stores, waiting while a damaged copy is
/// refetched from peers (see `archive_guard`).
pub(crate) async fn stored_block<E: Storage + Clock + Metrics + Spawner, C: Clock>(
    clock: &C,
    shared: &Shared<E>,
    marshal: &crate::engine::MarshalMailbox,
    height: u64,
) -> anyhow::Result<Block> {
    let mut waited = false;
    loop {
        if let Some(block) = marshal
            .get_block(commonware_consensus::types::Height::new(height))
            .await
        {
            return Ok(block.inner().clone());
        }
        if !shared.repairs.is_damaged(height) {
            anyhow::bail!("finalized block {height} is not in the archive");
        }
        if !waited {
            info!(height, "waiting for the repair of a damaged block");
            waited = true;
        }
        clock.sleep(DAMAGED_BLOCK_RETRY).await;
    }
}

/// Re-derive one executed height into every derived store that does not
/// have it yet (each skips a height it has).
async fn catch_up_derived<E: Storage + Clock + Metrics + Spawner>(
    shared: &Shared<E>,
    block: &Block,
) -> anyhow::Result<()> {
    let height = block.header.height;
    let mut behind = false;
    for store in &shared.module_stores {
        behind |= store.height()? < height;
    }
    if !behind {
        return Ok(());
    }
    let Some(record) = shared.ledger.lock().await.record(height).await? else {
        anyhow::bail!("no execution record of height {height} to re-derive from");
    };
    let executed = Executed {
        height,
        block,
        receipts: &record.receipts,
        anchored: None,
        durable: true,
    };
    for store in &shared.module_stores {
        store.take(&executed)?;
    }
    Ok(())
}

/// Sync the state's Merkle structure and prune superseded history, so a
/// restart replays at most `StorageSizes::state_upkeep_every_ops`
/// operations. Under the write lock: API reads wait for it (tens of ms).
async fn upkeep_state<E: Storage + Clock + Metrics + Spawner>(
    shared: &Shared<E>,
    height: u64,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let done = shared.state.write().await.upkeep().await?;
    info!(
        height,
        synced_ops = done.synced_ops,
        retained_from = done.retained_from,
        upkeep_ms = started.elapsed().as_millis() as u64,
        "state synced and pruned"
    );
    Ok(())
}

async fn execute<E: Storage + Clock + Metrics + Spawner>(
    shared: &Shared<E>,
    executor: &Executor,
    block: &Block,
) -> anyhow::Result<ExecResult> {
    let height = block.header.height;
    // Execute under a shared lock (admission and API reads continue), then
    // commit under an exclusive one.
    let started = std::time::Instant::now();
    let state = shared.state.read().await;
    let (outcome, prepared) = executor.prepare_block(&state, block).await?;
    drop(state);
    let prepared_at = std::time::Instant::now();
    // Record first, then commit state: on a crash in between, the ledger is cut
    // back to the state's height on open and the block runs again.
    let record = ExecRecord {
        height,
        block: block.hash(),
        result: outcome.result,
        receipts: outcome.receipts,
    };
    {
        let mut ledger = shared.ledger.lock().await;
        if ledger.height() >= height {
            // Recorded before a crash or before the state lost its tail:
            // re-execution must reproduce the record exactly.
            let kept = ledger.record(height).await?;
            anyhow::ensure!(
                kept.as_ref() == Some(&record),
                "height {height}: re-execution does not reproduce the execution journal's record; the journal or the state is damaged. Nothing was changed; run `ingot verify-chain` on this data directory"
            );
        } else {
            ledger.append(record.clone()).await?;
        }
    }
    let recorded_at = std::time::Instant::now();
    let upkeep = {
        let mut state = shared.state.write().await;
        state.commit(prepared).await?;
        // What this block changed of the consortium holds from the next.
        executor.install(&outcome.next_consortium);
        state.upkeep_due()
    };
    if outcome.next_consortium.0.is_some() {
        // Transactions of an organisation removed (or a CA past its grace)
        // would only be proposed to be refused: they leave the mempool.
        let consortium = shared.trust.current();
        let dropped = shared
            .mempool
            .lock()
            .unwrap()
            .retain(|tx| consortium.identify(&tx.tx.certificate).is_ok());
        if dropped > 0 {
            tracing::info!(
                height,
                dropped,
                "the consortium changed: untrusted transactions left the mempool"
            );
        }
    }
    let committed_at = std::time::Instant::now();
    if upkeep {
        upkeep_state(shared, height).await?;
    }
    shared.recent.record(height, outcome.included);
    shared.executed.store(height, Ordering::Release);
    let executed = Executed {
        height,
        block,
        receipts: &record.receipts,
        anchored: Some(&outcome.anchored),
        // Synced every DURABLE_EVERY heights, like the ledger index: what a
        // crash loses is refilled from the block archive at start.
        durable: height.is_multiple_of(crate::ledger_index::DURABLE_EVERY),
    };
    for store in &shared.module_stores {
        store.take(&executed)?;
    }

    let mut mempool = shared.mempool.lock().unwrap();
    for hash in block.tx_hashes() {
        mempool.remove(hash);
    }
    mempool.prune_expired(height + 1);
    drop(mempool);
    for receipt in &record.receipts {
        for event in &receipt.events {
            let _ = shared.events.send(PublishedEvent {
                height,
                tx_hash: receipt.tx_hash,
                event: event.clone(),
            });
        }
    }
    if height.is_multiple_of(100) || !block.txs().is_empty() {
        info!(
            height,
            txs = block.txs().len(),
            prepare_ms = (prepared_at - started).as_millis() as u64,
            journal_ms = (recorded_at - prepared_at).as_millis() as u64,
            commit_ms = (committed_at - recorded_at).as_millis() as u64,
            "executed"
        );
    }
    Ok(record.result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_types::{Digest, Header};

    fn result(n: u8) -> ExecResult {
        ExecResult {
            state_root: Digest::from([n; 32]),
            receipts_root: Digest::from([n + 100; 32]),
        }
    }

    #[test]
    fn a_header_anchors_the_heights_just_before_its_exec_height() {
        let header = Header {
            version: ingot_types::block::HEADER_VERSION,
            parent: Digest::from([0; 32]),
            height: 10,
            timestamp_ms: 1,
            proposer: [0; 32],
            tx_count: 0,
            tx_root: Digest::from([0; 32]),
            exec_height: 8,
            results: vec![result(7), result(8)],
            next_validators: None,
        };
        let got: Vec<_> = anchored(&header).collect();
        assert_eq!(got, vec![(7, result(7)), (8, result(8))]);

        let empty = Header {
            results: vec![],
            ..header
        };
        assert_eq!(anchored(&empty).count(), 0);
    }

    #[test]
    fn a_different_state_or_receipts_root_is_refused_with_both_named() {
        assert!(same_as_ours(10, 8, &result(8), &result(8)).is_ok());
        let mut other_receipts = result(8);
        other_receipts.receipts_root = Digest::from([1; 32]);
        for mine in [result(9), other_receipts] {
            let e = same_as_ours(10, 8, &result(8), &mine)
                .unwrap_err()
                .to_string();
            assert!(e.contains("block 10 anchors, for height 8"), "{e}");
            assert!(e.contains(&hex::encode([8u8; 32])), "{e}");
            assert!(e.contains("diverged"), "{e}");
        }
    }

    #[test]
    fn only_the_most_recent_results_are_kept() {
        let mut ours = OurResults::default();
        for h in 1..=(OUR_RESULTS_KEPT as u64 + 10) {
            ours.remember(h, result((h % 50) as u8));
        }
        assert_eq!(ours.0.len(), OUR_RESULTS_KEPT);
        assert_eq!(*ours.0.keys().next().unwrap(), 11);
    }
}
