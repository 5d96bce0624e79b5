//! The consensus application: propose blocks from the mempool and verify
//! proposals. Execution happens later, on finalized blocks (see `executor`);
//! here a header only *anchors* results this node has already executed.

use crate::{mempool::within_validity_window, Shared};
use commonware_consensus::{
    marshal::ancestry::Ancestry,
    simplex::{scheme::ed25519, types::Context},
    types::{Epoch, Epocher, FixedEpocher},
    Epochable,
};
use commonware_cryptography::{ed25519::PublicKey, sha256::Digest, Digested, Digestible};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use futures::StreamExt;
use ingot_execution::verify_signed;
use ingot_types::{
    block::{ExecResult, Header, BOUNDARY_HEADER_VERSION, HEADER_VERSION, MAX_RESULTS_PER_HEADER},
    limits::MAX_BLOCK_TXS,
    Block, SignedTransaction,
};
use std::{collections::HashSet, sync::Arc, time::Duration};
use tracing::{debug, warn};

/// Most bytes of transactions in one proposal.
pub const MAX_PROPOSAL_BYTES: usize = 8 * 1024 * 1024;
/// How far a block's timestamp may run ahead of the verifier's clock.
pub const MAX_CLOCK_DRIFT_MS: u64 = 2_000;
/// How many unfinalized ancestors a proposer looks through to avoid
/// re-proposing their transactions.
const MAX_ANCESTOR_SCAN: usize = 64;
/// How often an idle leader looks for work while it waits.
const IDLE_POLL: Duration = Duration::from_millis(20);

pub type Ctx = Context<Digest, PublicKey>;

pub struct App<E: Storage + Clock + Metrics + Spawner> {
    shared: Arc<Shared<E>>,
    /// Transactions per proposal.
    pub max_block_txs: usize,
    /// Least time between a parent's timestamp and its child's proposal.
    pub min_block_interval: Duration,
    /// How long an idle leader waits for work before declining its view.
    pub idle_wait: Duration,
    /// Parent age at which even an idle leader proposes (an empty block).
    pub idle_heartbeat: Duration,
    /// This validator's wall clock relative to the runtime's (`Timing::clock_skew_ms`).
    pub clock_skew_ms: i64,
    /// Genesis's epochs: the last block of each names the next one's validators.
    epocher: FixedEpocher,
}

impl<E: Storage + Clock + Metrics + Spawner> Clone for App<E> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            max_block_txs: self.max_block_txs,
            min_block_interval: self.min_block_interval,
            idle_wait: self.idle_wait,
            idle_heartbeat: self.idle_heartbeat,
            clock_skew_ms: self.clock_skew_ms,
            epocher: self.epocher.clone(),
        }
    }
}

impl<E: Storage + Clock + Metrics + Spawner> App<E> {
    pub fn new(
        shared: Arc<Shared<E>>,
        max_block_txs: usize,
        timing: &crate::engine::Timing,
    ) -> Self {
        assert!(
            timing.idle_wait() < timing.leader_timeout,
            "an idle leader must propose or decline before the others time out its view"
        );
        Self {
            max_block_txs: max_block_txs.min(MAX_BLOCK_TXS),
            min_block_interval: timing.min_block_interval,
            idle_wait: timing.idle_wait(),
            idle_heartbeat: timing.idle_heartbeat.max(timing.min_block_interval),
            clock_skew_ms: timing.clock_skew_ms,
            epocher: crate::epochs::epocher(&shared.genesis),
            shared,
        }
    }

    /// What the block at `height` proposed in `epoch` must name as the next
    /// epoch's validators: nothing unless it is the epoch's last block;
    /// then the set decided at the height before `epoch` began
    /// (`Consortium::validator_set_for`). Waits until this node executed
    /// that height, up to `patience` (`None`: past it).
    async fn next_validators<R: Clock>(
        &self,
        runtime: &R,
        epoch: Epoch,
        height: u64,
        patience: Option<Duration>,
    ) -> Option<Option<Vec<[u8; 32]>>> {
        if self.epocher.last(epoch).map(|h| h.get()) != Some(height) {
            return Some(None);
        }
        let decided_by = self
            .epocher
            .first(epoch)
            .map_or(0, |first| first.get().saturating_sub(1));
        let give_up = patience.map(|p| runtime.current() + p);
        while self.shared.executed_height() < decided_by {
            if give_up.is_some_and(|at| runtime.current() >= at) {
                return None;
            }
            runtime.sleep(IDLE_POLL).await;
        }
        let next = epoch.next().get();
        Some(Some(self.shared.trust.current().validator_set_for(next)))
    }

    /// This validator's wall clock, in milliseconds since the Unix epoch.
    fn now_ms<R: Clock>(&self, runtime: &R) -> u64 {
        millis(runtime.current()).saturating_add_signed(self.clock_skew_ms)
    }

    /// Whether a block after `parent` would carry anything: transactions
    /// waiting, or executed heights up to the parent whose results are not
    /// anchored yet and hold receipts or events (a proof of them needs a
    /// later header). Anchoring empty heights is not work: otherwise every
    /// block would make work for the next.
    async fn has_work(&self, parent: &Block) -> bool {
        if !self.shared.mempool.lock().unwrap().is_empty() {
            return true;
        }
        let ledger = self.shared.ledger.lock().await;
        let to = ledger.height().min(parent.header.height);
        for h in parent.header.exec_height + 1..=to {
            match ledger.record(h).await {
                Ok(Some(r))
                    if r.receipts.len() > 1 || r.receipts.iter().any(|x| !x.events.is_empty()) =>
                {
                    return true
                }
                Ok(Some(_)) => {}
                // Cannot tell: propose rather than stall.
                _ => return true,
            }
        }
        false
    }

    /// Wait, as the leader of a view, until there is something to propose
    /// (true), the parent is old enough for a heartbeat block (true), or the
    /// idle wait is over (false: decline the view; it is nullified and
    /// nothing is stored, which is what makes an idle chain cheap).
    async fn await_work<R: Clock>(&self, runtime: &R, parent: &Block) -> bool {
        // The first block after genesis is never held back.
        if parent.header.height == 0 {
            return true;
        }
        let give_up = self.now_ms(runtime) + self.idle_wait.as_millis() as u64;
        // The consortium's voted heartbeat, else this node's configuration.
        let idle_heartbeat = self
            .shared
            .trust
            .current()
            .params()
            .idle_heartbeat_ms
            .map_or(self.idle_heartbeat, Duration::from_millis)
            .max(self.min_block_interval);
        let heartbeat = parent.header.timestamp_ms + idle_heartbeat.as_millis() as u64;
        loop {
            if self.has_work(parent).await {
                return true;
            }
            let now = self.now_ms(runtime);
            if now >= heartbeat {
                return true;
            }
            if now >= give_up {
                return false;
            }
            runtime.sleep(IDLE_POLL).await;
        }
    }

    /// Results this node can anchor after `parent`: contiguous executed
    /// heights after the parent's last anchored one.
    async fn results_after(&self, parent: &Block) -> Vec<ExecResult> {
        let ledger = self.shared.ledger.lock().await;
        let from = parent.header.exec_height + 1;
        // Only heights at or below the parent can have been executed on this branch.
        let to = ledger
            .height()
            .min(parent.header.height)
            .min(parent.header.exec_height + MAX_RESULTS_PER_HEADER as u64);
        let mut out = Vec::new();
        for h in from..=to {
            match ledger.record(h).await {
                Ok(Some(r)) => out.push(r.result),
                _ => break,
            }
        }
        out
    }
}

fn millis(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl<R, E> commonware_consensus::Application<R> for App<E>
where
    R: Clock + Spawner + Metrics,
    E: Storage + Clock + Metrics + Spawner,
{
    type SigningScheme = ed25519::Scheme;
    type Context = Ctx;
    type Block = Block;
    type Input = ();

    async fn propose(
        &mut self,
        (runtime, ctx): (R, Ctx),
        mut ancestry: impl Ancestry<Block>,
        _input: (),
    ) -> Option<Digested<Block>> {
        let parent = ancestry.next().await?;
        let parent = parent.inner().clone();
        let height = parent.header.height + 1;

        // Pace blocks: an empty chain need not commit (and fsync) dozens of
        // blocks a second, and under load a short wait gathers a fuller block.
        let earliest = parent.header.timestamp_ms + self.min_block_interval.as_millis() as u64;
        let now = self.now_ms(&runtime);
        if earliest > now {
            // Never longer than the interval itself: a parent stamped by a
            // faster clock (up to MAX_CLOCK_DRIFT_MS ahead of ours, which
            // verifiers accept) would otherwise hold this leader past its
            // view's timeout, and every view after such a parent would be
            // nullified (a 10x lower block rate with clocks ±0.9 s apart).
            // The block is stamped parent + 1 ms then.
            let wait = (earliest - now).min(self.min_block_interval.as_millis() as u64);
            runtime.sleep(Duration::from_millis(wait)).await;
        }
        if !self.await_work(&runtime, &parent).await {
            debug!(height, "idle: declining the view");
            return None;
        }

        // Transactions already in unfinalized ancestors must not be proposed again.
        let executed = self.shared.executed_height();
        let mut exclude = HashSet::new();
        let mut scanned = 0;
        let mut cursor = Some(parent.clone());
        while let Some(b) = cursor {
            if b.header.height <= executed || scanned >= MAX_ANCESTOR_SCAN {
                break;
            }
            exclude.extend(b.tx_hashes().iter().copied());
            scanned += 1;
            cursor = ancestry.next().await.map(|d| d.inner().clone());
        }

        // The consortium's voted block size, else this node's configuration.
        let max_txs = self
            .shared
            .trust
            .current()
            .params()
            .max_block_txs
            .map_or(self.max_block_txs, |n| n as usize)
            .min(MAX_BLOCK_TXS);
        let txs = self.shared.mempool.lock().unwrap().select(
            max_txs,
            MAX_PROPOSAL_BYTES,
            height,
            &exclude,
        );
        let results = self.results_after(&parent).await;
        let Some(next_validators) = self
            .next_validators(&runtime, ctx.epoch(), height, Some(self.idle_wait))
            .await
        else {
            warn!(
                height,
                "behind on execution: cannot name the next epoch's validators; declining the view"
            );
            return None;
        };
        let header = Header {
            version: if next_validators.is_some() {
                BOUNDARY_HEADER_VERSION
            } else {
                HEADER_VERSION
            },
            parent: parent.digest(),
            height,
            timestamp_ms: self.now_ms(&runtime).max(parent.header.timestamp_ms + 1),
            proposer: ctx.leader.as_ref().try_into().ok()?,
            tx_count: txs.len() as u32,
            tx_root: Block::compute_tx_root(&txs),
            exec_height: parent.header.exec_height + results.len() as u64,
            results,
            next_validators,
        };
        let block = Block::new(header, txs);
        debug!(height, txs = block.txs().len(), "proposing");
        let digest = block.digest();
        Some(Digested::precomputed(block, digest))
    }

    async fn verify(
        &mut self,
        (runtime, ctx): (R, Ctx),
        mut ancestry: impl Ancestry<Block>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        let (block, parent) = (block.inner(), parent.inner());
        match self.check(&runtime, &ctx, block, parent).await {
            Ok(()) => true,
            Err(reason) => {
                warn!(height = block.header.height, reason, "rejecting proposal");
                false
            }
        }
    }
}

impl<E: Storage + Clock + Metrics + Spawner> App<E> {
    async fn check<R: Clock>(
        &self,
        runtime: &R,
        ctx: &Ctx,
        block: &Block,
        parent: &Block,
    ) -> Result<(), &'static str> {
        let h = &block.header;
        if !h.version_consistent() {
            return Err("unknown header version");
        }
        if h.parent != parent.digest() || h.height != parent.header.height + 1 {
            return Err("not a child of its parent");
        }
        if h.timestamp_ms <= parent.header.timestamp_ms {
            return Err("timestamp not after parent");
        }
        if h.timestamp_ms > self.now_ms(runtime) + MAX_CLOCK_DRIFT_MS {
            return Err("timestamp too far in the future");
        }
        if h.proposer[..] != ctx.leader.as_ref()[..] {
            return Err("proposer is not the round's leader");
        }
        if block.txs().len() > MAX_BLOCK_TXS || !block.body_matches_header() {
            return Err("transactions do not match the header");
        }
        // Replay protection remembers only this window (`ingot_execution::recent`).
        if !block
            .txs()
            .iter()
            .all(|tx| within_validity_window(tx.tx.valid_until, h.height))
        {
            return Err("a transaction is outside its validity window");
        }
        // Transactions we admitted ourselves were authenticated then; check
        // the rest as one batch — their signatures, not whether our current
        // consortium trusts them (`verify_signed`: that is execution's).
        let unknown: Vec<&SignedTransaction> = {
            let mempool = self.shared.mempool.lock().unwrap();
            block
                .txs()
                .iter()
                .zip(block.tx_hashes())
                .filter(|(_, hash)| !mempool.contains(hash))
                .map(|(tx, _)| tx)
                .collect()
        };
        if verify_signed(
            &self.shared.trust.current(),
            &self.shared.chain_id,
            &unknown,
        )
        .iter()
        .any(Result::is_err)
        {
            return Err("a transaction is not signed by its certificate's key for this chain");
        }
        if h.exec_height < parent.header.exec_height
            || h.exec_height - parent.header.exec_height != h.results.len() as u64
            || h.exec_height >= h.height
        {
            return Err("execution results are not contiguous");
        }
        // Anchored results must equal our own execution of those (finalized)
        // heights; wait for our executor if it is behind.
        let first = parent.header.exec_height + 1;
        for (i, claimed) in h.results.iter().enumerate() {
            let height = first + i as u64;
            loop {
                if self.shared.executed_height() >= height {
                    break;
                }
                runtime.sleep(Duration::from_millis(20)).await;
            }
            let ledger = self.shared.ledger.lock().await;
            match ledger.record(height).await {
                Ok(Some(r)) if r.result == *claimed => {}
                Ok(Some(_)) => return Err("execution results differ from ours"),
                _ => return Err("execution record unavailable"),
            }
        }
        let expected = self
            .next_validators(runtime, ctx.epoch(), h.height, None)
            .await
            .expect("waits without limit");
        if h.next_validators != expected {
            return Err("the next epoch's validators are not the ones decided");
        }
        Ok(())
    }
}
