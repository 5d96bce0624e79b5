//! The epoch orchestrator: runs one simplex engine per epoch and hands over
//! at each boundary.
//!
//! Marshal delivers finalized blocks in height order. When the delivered
//! block is the last of the running engine's epoch (the boundary block `B`,
//! finalized by that epoch's validators), the orchestrator registers the next
//! epoch's validator set, starts the next epoch's engine from `B`
//! (`Floor::Genesis(B)`), stops the old engine, and only then acknowledges
//! `B` — so a restart never resumes past a boundary whose next engine was not
//! started, and resumes in the epoch of marshal's first unprocessed height.
//!
//! The vote, certificate and resolver channels are multiplexed by epoch.
//! Traffic for an epoch with no running engine lands on a backup queue: from
//! a later epoch it means this node is behind, so it asks the sender for the
//! finalization of its own epoch's boundary block, which lets marshal fetch
//! and verify the blocks up to it; each boundary delivered moves the node one
//! epoch on.

use crate::{
    engine::{MarshalMailbox, Timing},
    epochs::{self, EpochSchemes},
};
use commonware_consensus::{
    marshal::{standard::Inline, Update},
    simplex::{self, elector::RoundRobin, scheme::ed25519, Floor, ForwardPolicy},
    simplex::{SkipBudget, SkipPolicy},
    types::{Epoch, Epocher, FixedEpocher, Height, ViewDelta},
};
use commonware_cryptography::{
    certificate::Scheme as _, ed25519::PublicKey, sha256::Digest, Digestible, Sha256,
};
use commonware_macros::select;
use commonware_p2p::{
    utils::mux::{Builder, Muxer},
    Blocker, Receiver, Sender,
};
use commonware_parallel::Sequential;
use commonware_runtime::{
    buffer::paged::CacheRef, Clock, Handle, Metrics, Spawner, Storage, Supervisor,
};
use commonware_utils::{ordered::Set, vec::NonEmptyVec, Acknowledgement, NZDuration, NZUsize};
use futures::{channel::mpsc, StreamExt};
use ingot_types::Block;
use std::time::{Duration, SystemTime};

/// Least time between two requests for a boundary finalization while this
/// node is behind (every vote of a later epoch would otherwise trigger one).
const CATCH_UP_HINT_INTERVAL: Duration = Duration::from_millis(500);

/// What every epoch's engine shares.
pub struct EngineSetup<E: Storage + Clock + Metrics + Spawner, B> {
    pub shared: std::sync::Arc<crate::Shared<E>>,
    pub schemes: EpochSchemes,
    pub epocher: FixedEpocher,
    pub genesis_digest: Digest,
    pub marshal: MarshalMailbox,
    pub wrapped: Wrapped<E>,
    pub blocker: B,
    pub prefix: String,
    pub timing: Timing,
    pub page_cache: CacheRef,
    pub replay_buffer: std::num::NonZeroUsize,
    pub write_buffer: std::num::NonZeroUsize,
}

/// The marshal wrapper every epoch's engine uses as automaton, relay and
/// reporter (one instance across epochs: it retires earlier epochs' state
/// when a later epoch reports).
pub type Wrapped<E> = Inline<E, ed25519::Scheme, crate::app::App<E>, Block, FixedEpocher>;

/// The engine of the epoch consensus currently runs.
struct ActiveEpoch {
    epoch: Epoch,
    handle: Handle<()>,
}

impl Drop for ActiveEpoch {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// The epoch consensus resumes in: the epoch of marshal's first unprocessed height.
pub fn resume_epoch(epocher: &FixedEpocher, processed: Option<u64>) -> Epoch {
    match processed {
        None => Epoch::zero(),
        Some(height) => epochs::epoch_of(epocher, height.saturating_add(1)),
    }
}

/// Run consensus epoch after epoch, from `start`. Returns (stopping the
/// validator) when an engine or marshal stops.
#[allow(clippy::too_many_arguments)]
pub async fn run<E, B, S, R>(
    context: E,
    setup: EngineSetup<E, B>,
    start: Epoch,
    votes: (S, R),
    certificates: (S, R),
    resolver: (S, R),
    mut updates: mpsc::UnboundedReceiver<Update<Block>>,
) where
    E: Storage + Clock + Metrics + Spawner + Supervisor + rand10::CryptoRng,
    B: Blocker<PublicKey = PublicKey> + Clone + Sync,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let (vote_mux, mut vote_handle, mut vote_backup) =
        Muxer::builder(context.child("vote_mux"), votes.0, votes.1)
            .with_backup()
            .build();
    let (cert_mux, mut cert_handle, mut cert_backup) = Muxer::builder(
        context.child("certificate_mux"),
        certificates.0,
        certificates.1,
    )
    .with_backup()
    .build();
    let (resolver_mux, mut resolver_handle) =
        Muxer::new(context.child("resolver_mux"), resolver.0, resolver.1);
    let _vote_mux = vote_mux.start();
    let _cert_mux = cert_mux.start();
    let _resolver_mux = resolver_mux.start();

    // Marshal may verify certificates of the epoch resumed and, for the
    // few heights it has not persisted as processed, of the one before.
    // Their sets come from the stored boundary blocks that named them, else
    // from this node's state once it executed the heights that decided them
    // (a state that lost its tail replays first).
    if let Some(previous) = start.previous() {
        let set = wait_for_set(&context, &setup, previous).await;
        setup.schemes.register(previous, set);
    }
    let set = wait_for_set(&context, &setup, start).await;
    setup.schemes.register(start, set);
    let floor = match start.previous() {
        None => Floor::Genesis(setup.genesis_digest),
        Some(previous) => {
            let boundary = epochs::last_height(&setup.epocher, previous);
            Floor::Genesis(boundary_digest(&context, &setup, boundary).await)
        }
    };
    let mut active = match enter(
        &context,
        &setup,
        start,
        floor,
        (&mut vote_handle, &mut cert_handle, &mut resolver_handle),
    )
    .await
    {
        Some(active) => active,
        None => return,
    };
    let mut last_hint: Option<SystemTime> = None;
    loop {
        select! {
            update = updates.next() => {
                let Some(update) = update else {
                    tracing::info!("marshal stopped; stopping consensus");
                    return;
                };
                let Update::Block(block, ack) = update else {
                    continue;
                };
                let block = block.inner();
                let height = block.header.height;
                let boundary = epochs::last_height(&setup.epocher, active.epoch);
                if height > boundary {
                    tracing::error!(height, epoch = active.epoch.get(), "a block past the epoch's boundary arrived before the boundary; stopping consensus");
                    return;
                }
                if height == boundary {
                    let next = active.epoch.next();
                    let Some(named) = block.header.next_validators.as_deref() else {
                        tracing::error!(height, "the boundary block names no validators for the next epoch; stopping consensus");
                        return;
                    };
                    let set = key_set(named);
                    // The header was verified against execution when it was
                    // proposed; a node whose own state disagrees has diverged.
                    // (A state that lost its tail is replaying: wait for it.)
                    wait_executed(&context, &setup, deciding_height(&setup.epocher, next)).await;
                    let ours = decided_set(&setup, next);
                    if set != ours {
                        tracing::error!(height, epoch = next.get(), "the boundary block's validators differ from this node's state; stopping consensus");
                        return;
                    }
                    setup.schemes.register(next, set);
                    let Some(entered) = enter(
                        &context,
                        &setup,
                        next,
                        Floor::Genesis(block.digest()),
                        (&mut vote_handle, &mut cert_handle, &mut resolver_handle),
                    )
                    .await
                    else {
                        return;
                    };
                    let retired = std::mem::replace(&mut active, entered);
                    drop(retired);
                    // Marshal no longer needs sets below the epoch just retired.
                    setup.schemes.forget_below(next.previous().expect("next follows an epoch"));
                    forget_journal(&context, &setup.prefix, next).await;
                    // Behind by several epochs, the next hint may go at once.
                    last_hint = None;
                }
                ack.acknowledge();
            },
            message = vote_backup.recv() => {
                let Some((epoch, (peer, _))) = message else { return };
                hint_if_ahead(&context, &setup, active.epoch, epoch, peer, &mut last_hint);
            },
            message = cert_backup.recv() => {
                let Some((epoch, (peer, _))) = message else { return };
                hint_if_ahead(&context, &setup, active.epoch, epoch, peer, &mut last_hint);
            },
            result = &mut active.handle => {
                tracing::error!(epoch = active.epoch.get(), ?result, "the epoch's consensus engine stopped");
                return;
            },
        }
    }
}

/// `epoch`'s validators as this node's executed state decided them.
fn decided_set<E, B>(setup: &EngineSetup<E, B>, epoch: Epoch) -> Set<PublicKey>
where
    E: Storage + Clock + Metrics + Spawner,
{
    key_set(&setup.shared.trust.current().validator_set_for(epoch.get()))
}

/// The height whose decisions make `epoch`'s set: the one before the
/// previous epoch began (0 for epochs 0 and 1: genesis).
pub fn deciding_height(epocher: &FixedEpocher, epoch: Epoch) -> u64 {
    match epoch.previous() {
        None => 0,
        Some(previous) => epocher
            .first(previous)
            .map_or(0, |first| first.get().saturating_sub(1)),
    }
}

/// `epoch`'s validators, if this node can tell now: named by the stored
/// boundary block before it (certified by the epoch before), else decided
/// by its state once it executed far enough.
pub async fn known_set<E: Storage + Clock + Metrics + Spawner>(
    shared: &crate::Shared<E>,
    marshal: &MarshalMailbox,
    epocher: &FixedEpocher,
    epoch: Epoch,
) -> Option<Set<PublicKey>> {
    if let Some(previous) = epoch.previous() {
        let boundary = Height::new(epochs::last_height(epocher, previous));
        if let Some(block) = marshal.get_block(boundary).await {
            if let Some(named) = &block.inner().header.next_validators {
                return Some(key_set(named));
            }
        }
    }
    (shared.executed_height() >= deciding_height(epocher, epoch))
        .then(|| key_set(&shared.trust.current().validator_set_for(epoch.get())))
}

/// [`known_set`], waiting while this node's state replays up to the
/// deciding height (a state that lost its tail at a restart).
async fn wait_for_set<E, B>(context: &E, setup: &EngineSetup<E, B>, epoch: Epoch) -> Set<PublicKey>
where
    E: Storage + Clock + Metrics + Spawner,
{
    loop {
        if let Some(set) = known_set(&setup.shared, &setup.marshal, &setup.epocher, epoch).await {
            return set;
        }
        wait_executed(context, setup, deciding_height(&setup.epocher, epoch)).await;
    }
}

/// Wait until this node executed `height`.
async fn wait_executed<E, B>(context: &E, setup: &EngineSetup<E, B>, height: u64)
where
    E: Storage + Clock + Metrics + Spawner,
{
    let mut polls = 0u64;
    while setup.shared.executed_height() < height {
        if polls.is_multiple_of(300) {
            tracing::info!(
                height,
                executed = setup.shared.executed_height(),
                "waiting for execution to reach the height that decided an epoch's validators"
            );
        }
        context.sleep(Duration::from_millis(100)).await;
        polls += 1;
    }
}

/// Raw Ed25519 keys as a participant set (a registry key was checked to be
/// a strict Ed25519 key when it was decided).
pub fn key_set(raw: &[[u8; 32]]) -> Set<PublicKey> {
    use commonware_codec::DecodeExt;
    Set::from_iter_dedup(
        raw.iter()
            .filter_map(|k| PublicKey::decode(k.to_vec()).ok()),
    )
}

/// The digest of the finalized block at `boundary` (at or below marshal's
/// processed height): from the block archive, else from its certificate,
/// else from the execution journal. A record damaged in all three is waited
/// for while block repair refetches it, rather than stopping the node at
/// every start.
async fn boundary_digest<E, B>(context: &E, setup: &EngineSetup<E, B>, boundary: u64) -> Digest
where
    E: Storage + Clock + Metrics + Spawner,
{
    let mut waited = Duration::ZERO;
    loop {
        let height = Height::new(boundary);
        if let Some(block) = setup.marshal.get_block(height).await {
            return block.digest();
        }
        if let Some(finalization) = setup.marshal.get_finalization(height).await {
            return finalization.proposal.payload;
        }
        if let Ok(Some(record)) = setup.shared.ledger.lock().await.record(boundary).await {
            return record.block;
        }
        if waited.as_secs().is_multiple_of(30) {
            tracing::warn!(
                boundary,
                "the boundary block the epoch starts from is unreadable; waiting for block repair"
            );
        }
        context.sleep(Duration::from_secs(1)).await;
        waited += Duration::from_secs(1);
    }
}

/// Start `epoch`'s engine from `floor` on its subchannels.
async fn enter<E, B, S>(
    context: &E,
    setup: &EngineSetup<E, B>,
    epoch: Epoch,
    floor: Floor<ed25519::Scheme, Digest>,
    (votes, certificates, resolver): (
        &mut commonware_p2p::utils::mux::MuxHandle<S>,
        &mut commonware_p2p::utils::mux::MuxHandle<S>,
        &mut commonware_p2p::utils::mux::MuxHandle<S>,
    ),
) -> Option<ActiveEpoch>
where
    E: Storage + Clock + Metrics + Spawner + Supervisor + rand10::CryptoRng,
    B: Blocker<PublicKey = PublicKey> + Clone + Sync,
    S: Sender<PublicKey = PublicKey>,
{
    use commonware_cryptography::certificate::Provider as _;
    let scheme = setup
        .schemes
        .scheme(epoch)
        .expect("an epoch's set is registered before its engine starts");
    if scheme.me().is_none() {
        tracing::info!(
            epoch = epoch.get(),
            "this key is not among the epoch's validators: following it as an observer"
        );
    } else {
        tracing::info!(epoch = epoch.get(), "entering epoch as a validator");
    }
    let subchannel = epoch.get();
    setup
        .shared
        .epoch
        .store(subchannel, std::sync::atomic::Ordering::Relaxed);
    let (Ok(votes), Ok(certificates), Ok(resolver)) = (
        votes.register(subchannel).await,
        certificates.register(subchannel).await,
        resolver.register(subchannel).await,
    ) else {
        tracing::error!(
            epoch = subchannel,
            "cannot open the epoch's consensus channels"
        );
        return None;
    };
    let timing = &setup.timing;
    let engine = simplex::Engine::new(
        context.child("simplex").with_attribute("epoch", subchannel),
        simplex::Config {
            scheme: (*scheme).clone(),
            elector: RoundRobin::<Sha256>::default(),
            blocker: setup.blocker.clone(),
            automaton: setup.wrapped.clone(),
            relay: setup.wrapped.clone(),
            reporter: setup.wrapped.clone(),
            track_historical_votes: false,
            strategy: Sequential,
            partition: epochs::journal_partition(&setup.prefix, epoch),
            mailbox_size: NZUsize!(1024),
            epoch,
            floor,
            replay_buffer: setup.replay_buffer,
            write_buffer: setup.write_buffer,
            page_cache: setup.page_cache.clone(),
            leader_timeout: timing.leader_timeout,
            certification_timeout: timing.certification_timeout,
            timeout_retry: timing.timeout_retry,
            view_retention: ViewDelta::new(256),
            skip: SkipPolicy::Enabled {
                timeout: timing.timeout_retry + Duration::from_secs(2),
                budget: SkipBudget::Participants,
            },
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            forward: ForwardPolicy::Disabled,
        },
    );
    Some(ActiveEpoch {
        epoch,
        handle: engine.start(votes, certificates, resolver),
    })
}

/// Traffic of an epoch later than ours means we are behind: ask its sender
/// for our epoch's boundary finalization (rate-limited).
fn hint_if_ahead<E, B>(
    context: &E,
    setup: &EngineSetup<E, B>,
    ours: Epoch,
    theirs: u64,
    peer: PublicKey,
    last_hint: &mut Option<SystemTime>,
) where
    E: Storage + Clock + Metrics + Spawner,
{
    if theirs <= ours.get() {
        return;
    }
    let now = context.current();
    if let Some(at) = last_hint {
        if now.duration_since(*at).unwrap_or_default() < CATCH_UP_HINT_INTERVAL {
            return;
        }
    }
    *last_hint = Some(now);
    let boundary = epochs::last_height(&setup.epocher, ours);
    tracing::debug!(
        ours = ours.get(),
        theirs,
        boundary,
        "behind by an epoch: asking for the boundary finalization"
    );
    setup
        .marshal
        .hint_finalized(Height::new(boundary), NonEmptyVec::new(peer));
}

/// Remove the journal of the epoch before the one just retired. The retired
/// epoch's journal stays: until marshal persists the boundary's
/// acknowledgement (at most `max_pending_acks` blocks later, fewer than an
/// epoch's blocks), a restart may resume in it.
async fn forget_journal<E: Storage>(context: &E, prefix: &str, entered: Epoch) {
    let Some(stale) = entered.get().checked_sub(2) else {
        return;
    };
    let partition = epochs::journal_partition(prefix, Epoch::new(stale));
    match context.remove(&partition, None).await {
        Ok(()) => tracing::debug!(%partition, "removed a finished epoch's consensus journal"),
        Err(commonware_runtime::Error::PartitionMissing(_)) => {}
        Err(e) => {
            tracing::warn!(%partition, error = %e, "cannot remove a finished epoch's consensus journal")
        }
    }
}
