//! One validator assembled from Commonware parts, generic over the runtime.
//!
//! simplex (ordering) → `Inline` marshal wrapper (runs [`App::verify`] before
//! voting) → marshal (stores finalized blocks and certificates, backfills gaps
//! from peers, delivers finalized blocks in order) → [`executor`].

use crate::{app::App, executor, gossip, ledger::Ledger, Shared};
use commonware_broadcast::buffered;
use commonware_consensus::{
    marshal::{
        self,
        core::Actor as MarshalActor,
        resolver::p2p as marshal_resolver,
        standard::{Inline, Standard},
        Start,
    },
    simplex::{scheme::ed25519, types::Finalization},
    types::ViewDelta,
    Reporters,
};
use commonware_cryptography::{
    ed25519::{PrivateKey, PublicKey},
    sha256::Digest,
    Digested, Digestible, Signer,
};
use commonware_p2p::{Blocker, Provider, Receiver, Sender};
use commonware_parallel::Sequential;
use commonware_runtime::{
    buffer::paged::{page_size, CacheRef},
    Clock, Handle, Metrics, Spawner, Storage, Supervisor, BLOB_PAGE_SIZE,
};
use commonware_storage::archive::immutable;
use commonware_utils::{ordered::Set, NZDuration, NZUsize, NZU64};
use futures::channel::mpsc;
use ingot_execution::RecentTxs;
use ingot_state::StateStore;
use ingot_types::{limits::MAX_BLOCK_TXS, Block, Genesis};
use std::{
    sync::{atomic::AtomicU64, Arc, Mutex},
    time::Duration,
};

/// p2p channel numbers.
pub mod channel {
    pub const VOTES: u64 = 0;
    pub const CERTIFICATES: u64 = 1;
    pub const RESOLVER: u64 = 2;
    pub const BACKFILL: u64 = 3;
    pub const BROADCAST: u64 = 4;
    pub const MEMPOOL: u64 = 5;
    /// Refetching damaged archive records (see `block_repair`).
    pub const REPAIR: u64 = 6;
    pub const ALL: [u64; 7] = [
        VOTES,
        CERTIFICATES,
        RESOLVER,
        BACKFILL,
        BROADCAST,
        MEMPOOL,
        REPAIR,
    ];
}

/// Consensus timing; defaults suit a LAN or one machine.
#[derive(Clone, Debug)]
pub struct Timing {
    pub leader_timeout: Duration,
    pub certification_timeout: Duration,
    pub timeout_retry: Duration,
    /// Least time between consecutive blocks.
    pub min_block_interval: Duration,
    /// Longest an idle chain goes without a block: with nothing to order
    /// or anchor, a leader declines its view (the view is nullified and
    /// nothing is stored) until its parent is this old, then proposes an
    /// empty heartbeat block so block time, and timers on it, advance.
    pub idle_heartbeat: Duration,
    /// How far this validator's wall clock reads from the runtime's, in
    /// milliseconds: 0 on real hosts (the clock is the host's, kept by
    /// NTP); simulations set it to give validators clocks that disagree
    /// within the drift the chain allows (`app::MAX_CLOCK_DRIFT_MS`).
    pub clock_skew_ms: i64,
}

impl Timing {
    /// How long an idle leader waits for work before declining its view:
    /// well inside the leader timeout, so a proposal made at the last
    /// moment still reaches the others before they give up on the view.
    pub fn idle_wait(&self) -> Duration {
        self.leader_timeout * 3 / 4
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            leader_timeout: Duration::from_secs(1),
            certification_timeout: Duration::from_secs(2),
            timeout_retry: Duration::from_secs(3),
            min_block_interval: Duration::from_millis(100),
            idle_heartbeat: Duration::from_secs(10),
            clock_skew_ms: 0,
        }
    }
}

pub struct ValidatorConfig {
    pub signer: PrivateKey,
    pub genesis: Genesis,
    /// Prefix of every storage partition of this validator.
    pub prefix: String,
    pub max_block_txs: usize,
    pub timing: Timing,
    /// File of the ledger's derived index; in memory when `None` (rebuilt
    /// from the execution journal on open).
    pub ledger_index: Option<std::path::PathBuf>,
    /// Where modules keep their derived stores (`<dir>/<name>.redb`); in
    /// memory when `None`.
    pub derived_dir: Option<std::path::PathBuf>,
    /// Memory the stores spend on I/O.
    pub storage: crate::StorageSizes,
    /// Days ahead of a consortium certificate's end that it is reported.
    pub certificate_warning_days: i64,
}

/// The p2p channels a validator uses (see [`channel`]).
pub struct Channels<S, R> {
    pub votes: (S, R),
    pub certificates: (S, R),
    pub resolver: (S, R),
    pub backfill: (S, R),
    pub broadcast: (S, R),
    pub mempool: (S, R),
    pub repair: (S, R),
}

impl<S, R> Channels<S, R> {
    /// Build from registrations made in [`channel::ALL`] order.
    pub fn from_registrations(registrations: Vec<(S, R)>) -> Self {
        assert_eq!(
            registrations.len(),
            channel::ALL.len(),
            "one registration per channel"
        );
        let mut it = registrations.into_iter();
        let mut next = || it.next().expect("length checked above");
        Self {
            votes: next(),
            certificates: next(),
            resolver: next(),
            backfill: next(),
            broadcast: next(),
            mempool: next(),
            repair: next(),
        }
    }
}

/// Validator set from genesis, in the order consensus uses.
pub fn participants(genesis: &Genesis) -> anyhow::Result<Set<PublicKey>> {
    let mut keys = Vec::new();
    for v in &genesis.validators {
        keys.push(parse_public_key(&v.public_key)?);
    }
    Ok(Set::from_iter_dedup(keys))
}

pub fn parse_public_key(hex_key: &str) -> anyhow::Result<PublicKey> {
    use commonware_codec::DecodeExt;
    let raw = hex::decode(hex_key)?;
    PublicKey::decode(raw).map_err(|e| anyhow::anyhow!("invalid ed25519 public key: {e}"))
}

pub type FinalizationOf = Finalization<ed25519::Scheme, Digest>;
pub type MarshalMailbox = marshal::core::Mailbox<ed25519::Scheme, Standard<Block>>;

/// Open the state store. One too damaged to open (its log no longer backs
/// what its Merkle structure acknowledged) is removed and opened empty: the
/// state is derived data — the executor re-executes every height from the
/// block archive, each checked against its execution record, before it takes
/// anything new. The execution journal and the archives are never touched.
async fn open_state<E>(
    context: &E,
    prefix: &str,
    sizes: crate::StorageSizes,
) -> anyhow::Result<StateStore<E>>
where
    E: Storage + Clock + Metrics + Spawner + Supervisor,
{
    let started = std::time::Instant::now();
    let opened = match StateStore::open_sized(context.child("state"), prefix, sizes.state).await {
        Ok(state) => state,
        Err(e) => {
            tracing::warn!(
                error = %e,
                "the state store (storage partitions {}-state-*) does not open; it is removed and rebuilt from the block archive, every height checked against the execution journal",
                prefix
            );
            StateStore::remove_all(context, prefix).await?;
            StateStore::open_sized(context.child("state_rebuilt"), prefix, sizes.state).await?
        }
    };
    let mut state = opened;
    state.set_upkeep_every(sizes.state_upkeep_every_ops);
    tracing::info!(
        height = state.height(),
        ms = started.elapsed().as_millis() as u64,
        "state store opened"
    );
    Ok(state)
}

/// Open storage and build the shared node state (no networking yet).
pub async fn open_shared<E>(
    context: &E,
    cfg: &ValidatorConfig,
    gossip: mpsc::UnboundedSender<ingot_types::SignedTransaction>,
) -> anyhow::Result<Arc<Shared<E>>>
where
    E: Storage + Clock + Metrics + Spawner + Supervisor,
{
    // Structure, CAs and validator certificates: a node does not join a
    // consortium whose validators their organisations did not certify.
    ingot_consortium::check_genesis(&cfg.genesis)?;
    let genesis_consortium = ingot_execution::Consortium::from_genesis(&cfg.genesis)?;
    // The state store's open (rebuilding its key index from its log) is
    // the longest part of a start and needs nothing else: it runs as its own
    // task while this one opens the journal, the derived stores and reads the
    // replay window (issue 14: restart time).
    let state_task = {
        let prefix = cfg.prefix.clone();
        let sizes = cfg.storage;
        context
            .child("open")
            .spawn(move |ctx| async move { open_state(&ctx, &prefix, sizes).await })
    };
    let started = std::time::Instant::now();
    let ledger = Ledger::open_sized(
        context.child("ledger"),
        &cfg.prefix,
        cfg.ledger_index.as_deref(),
        cfg.storage.ledger,
    )
    .await?;
    let journal_top = ledger.height();
    tracing::info!(
        height = journal_top,
        ms = started.elapsed().as_millis() as u64,
        "execution journal and ledger index opened"
    );
    // A module's damaged store is set aside as it opens; the executor
    // refills every store from the block archive before it executes anything
    // new.
    let started = std::time::Instant::now();
    let mut module_stores = Vec::new();
    for module in crate::module_routes::MODULE_APIS {
        module_stores.extend(
            module
                .derived_stores(cfg.derived_dir.as_deref())
                .map_err(|e| anyhow::anyhow!(e))?,
        );
    }
    tracing::info!(
        stores = module_stores.len(),
        ms = started.elapsed().as_millis() as u64,
        "derived stores opened"
    );
    let repairs = Arc::new(
        crate::archive_guard::ArchiveRepairs::open(
            context.child("repairs"),
            &cfg.prefix,
            // Rarely read: only records refetched after damage.
            CacheRef::new(page_size(BLOB_PAGE_SIZE), NZUsize!(64)),
            &cfg.storage,
        )
        .await?,
    );
    // The replay window ends at the state's height, not yet known: read the
    // window below the journal's top now, keep what the state reached.
    let started = std::time::Instant::now();
    let mut window = ledger
        .inclusions(RecentTxs::horizon(journal_top + 1), journal_top)
        .await?;
    let state = state_task
        .await
        .map_err(|e| anyhow::anyhow!("the state store's open did not finish: {e}"))??;
    let executed = state.height();
    // Genesis's organisations with what governance changed up to the state.
    let trust = Arc::new(
        ingot_execution::LiveConsortium::load(genesis_consortium, &state, executed + 1).await?,
    );
    // Records ahead of the state are re-executed and checked by the
    // executor before anything new; records *missing* below the state are
    // regenerated by re-executing the chain from genesis (`regenerate`).
    if journal_top < executed {
        tracing::warn!(
            state = executed,
            journal = journal_top,
            "the execution journal (storage partition {}-exec) ends below the state: its lost records will be regenerated from the block archive before anything new is executed",
            cfg.prefix
        );
    } else if journal_top > executed {
        tracing::warn!(
            state = executed,
            journal = journal_top,
            "the state store is behind the execution journal; those heights will be re-executed from the block archive and checked against their records"
        );
    }
    // Heights above the state are executed again (their transactions must
    // not count as replays of themselves); heights below what was read are
    // read now (only when the state is behind the journal). Heights whose
    // records were lost are recorded as they are regenerated.
    let top = executed.min(journal_top);
    let horizon = RecentTxs::horizon(executed + 1);
    window.retain(|(height, _)| *height <= top && *height >= horizon);
    let read_from = window.first().map_or(top + 1, |(height, _)| *height);
    let mut below = ledger
        .inclusions(horizon, top.min(read_from.saturating_sub(1)))
        .await?;
    below.append(&mut window);
    let recent = Arc::new(RecentTxs::new());
    for (height, hashes) in below {
        recent.record(height, hashes);
    }
    tracing::info!(
        transactions = recent.len(),
        ms = started.elapsed().as_millis() as u64,
        "replay window loaded"
    );
    Ok(Arc::new(Shared {
        storage_prefix: cfg.prefix.clone(),
        recent,
        module_stores,
        chain_id: cfg.genesis.chain_id(),
        genesis_block: crate::shared::genesis_block(&cfg.genesis),
        genesis: cfg.genesis.clone(),
        certificate_warning_days: cfg.certificate_warning_days,
        trust,
        mempool: Mutex::new(Default::default()),
        state: tokio::sync::RwLock::new(state),
        ledger: futures::lock::Mutex::new(ledger),
        executed: AtomicU64::new(executed),
        finalized: AtomicU64::new(executed),
        epoch: AtomicU64::new(0),
        events: tokio::sync::broadcast::channel(4096).0,
        gossip,
        public_key: hex::encode(cfg.signer.public_key().as_ref()),
        repairs,
    }))
}

pub fn archive_config<C>(
    prefix: &str,
    name: &str,
    cache: CacheRef,
    sizes: &crate::StorageSizes,
    codec_config: C,
) -> immutable::Config<C> {
    immutable::Config {
        metadata_partition: format!("{prefix}-{name}-metadata"),
        freezer_table_partition: format!("{prefix}-{name}-freezer-table"),
        freezer_table_initial_size: sizes.freezer_table_initial_size,
        freezer_table_resize_frequency: 4,
        freezer_table_resize_chunk_size: sizes.freezer_table_resize_chunk,
        freezer_key_partition: format!("{prefix}-{name}-freezer-key"),
        freezer_key_page_cache: cache,
        freezer_key_write_buffer: sizes.consensus.write_buffer,
        freezer_value_partition: format!("{prefix}-{name}-freezer-value"),
        freezer_value_write_buffer: sizes.consensus.write_buffer,
        freezer_value_target_size: 1 << 28,
        freezer_value_compression: None,
        ordinal_partition: format!("{prefix}-{name}-ordinal"),
        ordinal_write_buffer: NZUsize!(1 << 16),
        items_per_section: NZU64!(4_096),
        replay_buffer: sizes.consensus.replay_buffer,
        codec_config,
    }
}

/// Start a validator. Returns its marshal mailbox (for block and certificate
/// reads) and one handle that ends when any part of the validator stops.
#[allow(clippy::too_many_arguments)]
pub async fn start_validator<E, P, B, S, R>(
    context: E,
    cfg: ValidatorConfig,
    shared: Arc<Shared<E>>,
    gossip_out: mpsc::UnboundedReceiver<ingot_types::SignedTransaction>,
    peers: P,
    blocker: B,
    channels: Channels<S, R>,
) -> anyhow::Result<(MarshalMailbox, Handle<()>)>
where
    E: Storage + Clock + Metrics + Spawner + Supervisor + rand10::CryptoRng,
    P: Provider<PublicKey = PublicKey> + Clone,
    B: Blocker<PublicKey = PublicKey> + Clone + Sync,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let me = cfg.signer.public_key();
    // Each epoch's engine gets the scheme of its set: a signer if this key
    // is a validator of the epoch, verify-only otherwise (an observer hears
    // votes and certificates, checks them, follows finalized blocks, and
    // never signs).
    let schemes = crate::epochs::EpochSchemes::new(cfg.signer.clone());
    let sizes = cfg.storage;
    let cache = sizes.consensus_cache();
    let epocher = crate::epochs::epocher(&cfg.genesis);
    let prefix = cfg.prefix.clone();

    let backfill = marshal_resolver::init(
        context.child("marshal_resolver"),
        marshal_resolver::Config {
            public_key: me.clone(),
            peer_provider: peers.clone(),
            blocker: blocker.clone(),
            mailbox_size: NZUsize!(1024),
            fetch_timeout: NZDuration!(Duration::from_secs(2)),
            fetch_retry_delay: Duration::from_millis(100),
            priority_requests: false,
            priority_responses: false,
        },
        channels.backfill,
    );
    let (buffer_engine, buffer) = buffered::Engine::new(
        context.child("buffer"),
        buffered::Config {
            public_key: me.clone(),
            mailbox_size: NZUsize!(1024),
            deque_size: 10,
            priority: false,
            codec_config: (),
            peer_provider: peers.clone(),
            strategy: Sequential,
        },
    );
    let finalizations = immutable::Archive::<_, Digest, FinalizationOf>::init(
        context.child("finalizations"),
        archive_config(
            &prefix,
            "finalizations",
            cache.clone(),
            &sizes,
            <ed25519::Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
        ),
    )
    .await
    .map_err(|e| anyhow::anyhow!("finalizations archive: {e}"))?;
    let blocks = immutable::Archive::<_, Digest, Arc<Block>>::init(
        context.child("blocks"),
        archive_config(&prefix, "blocks", cache.clone(), &sizes, ()),
    )
    .await
    .map_err(|e| anyhow::anyhow!("blocks archive: {e}"))?;

    let genesis = shared.genesis_block.clone();
    let genesis_digest = genesis.digest();
    let (marshal, mailbox, floor) = MarshalActor::<_, Standard<Block>, _, _, _, _, _>::init(
        context.child("marshal"),
        crate::archive_guard::GuardedCertificates {
            inner: finalizations,
            repairs: shared.repairs.clone(),
        },
        crate::archive_guard::GuardedBlocks {
            inner: blocks,
            repairs: shared.repairs.clone(),
        },
        marshal::Config {
            provider: schemes.clone(),
            epocher: epocher.clone(),
            start: Start::Genesis(Digested::precomputed(genesis, genesis_digest)),
            partition_prefix: prefix.clone(),
            mailbox_size: NZUsize!(1024),
            view_retention: ViewDelta::new(2_560),
            prunable_items_per_section: NZU64!(4_096),
            page_cache: cache.clone(),
            replay_buffer: sizes.consensus.replay_buffer,
            key_write_buffer: sizes.consensus.write_buffer,
            value_write_buffer: sizes.consensus.write_buffer,
            block_codec_config: (),
            max_repair: NZUsize!(20),
            max_pending_acks: NZUsize!(crate::epochs::MAX_PENDING_ACKS),
            strategy: Sequential,
        },
    )
    .await;

    let app = App::new(
        shared.clone(),
        cfg.max_block_txs.min(MAX_BLOCK_TXS),
        &cfg.timing,
    );
    let (finalized_tx, finalized_rx) = mpsc::unbounded();
    let (boundary_tx, boundary_rx) = mpsc::unbounded();
    let wrapped = Inline::new(
        context.child("inline"),
        app,
        mailbox.clone(),
        epocher.clone(),
    );

    let buffer_handle = buffer_engine.start(channels.broadcast);
    // A finalized block counts as processed once both the executor and the
    // orchestrator (which switches engines at epoch boundaries) acknowledged it.
    let reporters = Reporters::from((
        executor::FinalizedSink(finalized_tx),
        executor::FinalizedSink(boundary_tx),
    ));
    let marshal_handle = marshal.start(reporters, buffer, backfill);
    let start_epoch =
        crate::orchestrator::resume_epoch(&epocher, floor.processed().map(|p| p.height().get()));
    let setup = crate::orchestrator::EngineSetup {
        shared: shared.clone(),
        schemes,
        epocher,
        genesis_digest,
        marshal: mailbox.clone(),
        wrapped,
        blocker,
        prefix: prefix.clone(),
        timing: cfg.timing.clone(),
        page_cache: cache,
        replay_buffer: sizes.consensus.replay_buffer,
        write_buffer: sizes.consensus.write_buffer,
    };
    let consensus_handle = context.child("orchestrator").spawn(move |ctx| {
        crate::orchestrator::run(
            ctx,
            setup,
            start_epoch,
            channels.votes,
            channels.certificates,
            channels.resolver,
            boundary_rx,
        )
    });

    let exec_shared = shared.clone();
    let exec_marshal = mailbox.clone();
    let executor_handle = context
        .child("executor")
        .spawn(move |ctx| executor::run(ctx, exec_shared, finalized_rx, exec_marshal));
    let (gossip_sender, gossip_receiver) = channels.mempool;
    let gossip_out_handle = context
        .child("gossip_out")
        .spawn(move |ctx| gossip::send_loop(ctx, gossip_sender, gossip_out));
    let gossip_in_shared = shared.clone();
    let gossip_in_handle = context
        .child("gossip_in")
        .spawn(move |_| gossip::receive_loop(gossip_in_shared, gossip_receiver));

    let (repair_sender, repair_receiver) = channels.repair;
    let ask_repairs = shared.repairs.clone();
    let ask_sender = repair_sender.clone();
    let repair_ask_handle = context
        .child("repair_ask")
        .spawn(move |ctx| crate::block_repair::ask_loop(ctx, ask_repairs, ask_sender));
    let repair_shared = shared.clone();
    let repair_marshal = mailbox.clone();
    let repair_receive_handle = context.child("repair_receive").spawn(move |ctx| {
        crate::block_repair::receive_loop(
            ctx,
            repair_shared,
            repair_marshal,
            repair_sender,
            repair_receiver,
        )
    });

    let scrub_shared = shared.clone();
    let scrub_marshal = mailbox.clone();
    let scrub_handle = context
        .child("scrub")
        .spawn(move |ctx| crate::scrub::scrub_loop(ctx, scrub_shared, scrub_marshal));

    let watch_shared = shared.clone();
    let cert_watch_handle = context
        .child("cert_watch")
        .spawn(move |ctx| crate::cert_watch::watch_loop(ctx, watch_shared));

    let all = context.child("validator").spawn(move |_| async move {
        let handles = vec![
            buffer_handle,
            marshal_handle,
            consensus_handle,
            executor_handle,
            gossip_out_handle,
            gossip_in_handle,
            repair_ask_handle,
            repair_receive_handle,
            scrub_handle,
            cert_watch_handle,
        ];
        // Whichever part stops first stops the validator.
        let (result, _, rest) = futures::future::select_all(handles).await;
        for h in rest {
            h.abort();
        }
        if let Err(e) = result {
            tracing::error!(error = ?e, "validator component stopped");
        }
    });
    Ok((mailbox, all))
}

/// Largest p2p message any channel carries.
pub fn max_message_size(validators: u32) -> u32 {
    use commonware_consensus::simplex::max_payload_size as simplex_max;
    // Consensus channels are multiplexed by epoch: each message carries its
    // epoch as a varint prefix.
    let consensus =
        commonware_p2p::utils::mux::prefixed(simplex_max::<ed25519::Scheme, Digest>(validators))
            as u32;
    let block = ingot_types::limits::MAX_BLOCK_BYTES as u32 + 4096;
    consensus
        .max(block)
        .max(gossip::MAX_GOSSIP_BYTES)
        .max(crate::block_repair::MAX_REPAIR_MESSAGE_BYTES)
}
