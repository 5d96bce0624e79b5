//! Run one validator on the tokio runtime: authenticated p2p on the genesis
//! addresses, the validator, and the HTTP API.

use crate::{
    api::{self, ApiState},
    config::NodeConfig,
    engine::{self, channel, Channels, Timing, ValidatorConfig},
    P2P_NAMESPACE,
};
use commonware_cryptography::{ed25519, ChaCha20Poly1305, Signer};
use commonware_p2p::{authenticated::lookup, Address};
use commonware_runtime::{tokio as cw_tokio, Metrics, Quota, Runner, Supervisor};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{NZUsize, NZU32};
use ingot_types::Genesis;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tracing::info;

/// Most p2p handshakes in flight at once (Commonware's default is 1,024;
/// a consortium has a handful of validators, and an anonymous flood of the
/// p2p port must not take the descriptors storage needs).
pub const P2P_MAX_HANDSHAKES: u32 = 128;
const _: () = assert!((P2P_MAX_HANDSHAKES as u64) * 4 <= crate::http_server::FD_RESERVE);

/// Load the consensus key from PKCS#8 PEM (as written by `ingot keys gen`).
pub fn load_consensus_key(path: &std::path::Path) -> anyhow::Result<ed25519::PrivateKey> {
    use commonware_codec::DecodeExt;
    let pem = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read key {}: {e}", path.display()))?;
    let key = ingot_crypto::PrivateKey::from_pkcs8_pem(&pem)?;
    let seed = key
        .ed25519_seed()
        .ok_or_else(|| anyhow::anyhow!("a validator key must be Ed25519"))?;
    ed25519::PrivateKey::decode(seed.to_vec()).map_err(|e| anyhow::anyhow!("bad ed25519 key: {e}"))
}

pub fn run(cfg: NodeConfig) -> anyhow::Result<()> {
    let raw = std::fs::read(&cfg.genesis)
        .map_err(|e| anyhow::anyhow!("cannot read genesis {}: {e}", cfg.genesis.display()))?;
    let genesis: Genesis = serde_json::from_slice(&raw)
        .map_err(|e| anyhow::anyhow!("genesis {}: {e}", cfg.genesis.display()))?;
    ingot_consortium::check_genesis(&genesis).map_err(|e| {
        anyhow::anyhow!(
            "genesis {} refused ({}): {e}",
            cfg.genesis.display(),
            e.code()
        )
    })?;
    // Certificates near their end are logged by `cert_watch` once the
    // state is open (governance may have replaced genesis's).
    let signer = load_consensus_key(&cfg.key)?;
    let me = signer.public_key();
    let listen: SocketAddr = cfg
        .p2p_listen
        .parse()
        .map_err(|e| anyhow::anyhow!("p2p_listen {}: {e}", cfg.p2p_listen))?;
    let api_listen: SocketAddr = cfg
        .api_listen
        .parse()
        .map_err(|e| anyhow::anyhow!("api_listen {}: {e}", cfg.api_listen))?;
    // Before any storage is opened: a wrong TLS file fails at once.
    let tls = cfg.api_tls()?;
    let mut peers = Vec::new();
    for v in &genesis.validators {
        let key = engine::parse_public_key(&v.public_key)?;
        // Host names are resolved once, at start (organisations on separate
        // hosts may publish DNS names in their descriptors).
        let addr: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(&v.p2p_address)
            .map_err(|e| anyhow::anyhow!("validator {} address {}: {e}", v.name, v.p2p_address))?
            .next()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "validator {} address {} resolves to nothing",
                    v.name,
                    v.p2p_address
                )
            })?;
        peers.push((key, Address::Symmetric(addr)));
    }
    // A key outside the validator set makes this node an observer: it is
    // accepted by the validators once governance admitted it (add_observer).
    if !peers.iter().any(|(k, _)| k == &me) {
        info!(public_key = %hex::encode(me.as_ref()), "not a genesis validator's key: running as an observer node until governance decides otherwise");
    }
    std::fs::create_dir_all(&cfg.data_dir)?;
    let _lock = crate::data_lock::lock(&cfg.data_dir, "ingot node run")?;
    // Both ports are taken before any storage is opened (and after the
    // directory lock, whose refusal names the process holding it): a port
    // in use fails at once, naming it. The p2p stack binds its own socket.
    let api_socket = std::net::TcpListener::bind(api_listen)
        .map_err(|e| anyhow::anyhow!("api_listen {api_listen}: {e}"))?;
    api_socket.set_nonblocking(true)?;
    drop(
        std::net::TcpListener::bind(listen)
            .map_err(|e| anyhow::anyhow!("p2p_listen {listen}: {e}"))?,
    );
    let disk = Arc::new(crate::disk::DiskGuard::new(
        cfg.data_dir.clone(),
        cfg.min_free_disk_mib.saturating_mul(1 << 20),
        cfg.halt_free_disk_mib.saturating_mul(1 << 20),
    ));
    if let Some(reason) = disk.halt_reason() {
        anyhow::bail!(reason);
    }
    let rt = cw_tokio::Config::new()
        .with_worker_threads(cfg.worker_threads.max(1))
        .with_max_blocking_threads(cfg.blocking_threads.max(8))
        .with_storage_directory(cfg.data_dir.join("storage"))
        .with_catch_panics(false);
    let result: anyhow::Result<()> = cw_tokio::Runner::new(rt).start(|context| async move {
        let max_peers = crate::peer_sets::max_peers_per_set(genesis.validators.len());
        let handshake = Cups::<_, ChaCha20Poly1305>::new(
            Sake {
                signer: signer.clone(),
                synchrony_bound: Duration::from_secs(5),
                max_handshake_age: Duration::from_secs(10),
                version: sake::Version::V1,
            },
            cups::Version::V1,
        );
        let mut p2p_cfg = lookup::Config::local(
            handshake,
            P2P_NAMESPACE,
            listen,
            std::num::NonZeroUsize::new(max_peers).expect("at least one validator"),
            engine::max_message_size(crate::peer_sets::max_validators(genesis.validators.len())),
            NZUsize!(1024),
        );
        // Only genesis validators complete a handshake, but anyone can open
        // one: bound how many are in flight (each holds a descriptor for up
        // to the handshake timeout) well inside the descriptor reserve.
        p2p_cfg.max_concurrent_handshakes = NZU32!(P2P_MAX_HANDSHAKES);
        // Only the newest set counts: an observer whose admission was
        // withdrawn, or a validator whose removal took effect, is
        // disconnected at once, not after three more changes. Validators of
        // the running and the next epoch are all in that one set.
        p2p_cfg.tracked_peer_sets = NZUsize!(1);
        let (mut network, oracle) = lookup::Network::new(context.child("network"), p2p_cfg);
        let quota = Quota::per_second(NZU32!(1_024));
        let channels = Channels::from_registrations(
            channel::ALL
                .iter()
                .map(|ch| network.register(*ch, quota))
                .collect(),
        );
        let p2p = network.start();

        let vcfg = ValidatorConfig {
            signer,
            genesis,
            prefix: "ingot".into(),
            max_block_txs: cfg.max_block_txs,
            timing: Timing {
                min_block_interval: Duration::from_millis(cfg.min_block_interval_ms),
                idle_heartbeat: Duration::from_millis(cfg.idle_heartbeat_ms),
                ..Timing::default()
            },
            ledger_index: Some(cfg.data_dir.join("ledger-index.redb")),
            derived_dir: Some(cfg.data_dir.clone()),
            storage: crate::StorageSizes {
                state: crate::IoSizes {
                    cache_pages: std::num::NonZeroUsize::new(
                        (cfg.state_cache_mib as usize * 1024 * 1024 / 4096).max(1),
                    )
                    .expect("at least one page"),
                    ..crate::IoSizes::STATE
                },
                ..crate::StorageSizes::PRODUCTION
            },
            certificate_warning_days: i64::from(cfg.certificate_warning_days),
        };
        let (gossip_tx, gossip_rx) = futures::channel::mpsc::unbounded();
        let shared = engine::open_shared(&context, &vcfg, gossip_tx).await?;
        // Before the validator starts: its resolver and broadcast ask the
        // tracked set who to talk to.
        let roster_of = shared.clone();
        let tracker = tokio::spawn(crate::peer_sets::track_loop(
            oracle.clone(),
            peers,
            me.as_ref().try_into().expect("an Ed25519 key is 32 bytes"),
            max_peers,
            move || {
                let consortium = roster_of.trust.current();
                crate::peer_sets::Roster {
                    // Changes written by the last executed block hold from
                    // the next height: judge the roster there, as governance does.
                    validators: consortium.connected_validators(roster_of.executed_height() + 1),
                    observers: consortium.observers().clone(),
                }
            },
        ));
        let (marshal, validator) = engine::start_validator(
            context.child("node"),
            vcfg,
            shared.clone(),
            gossip_rx,
            oracle.clone(),
            oracle,
            channels,
        )
        .await?;

        let metrics_ctx = context.child("metrics");

        let api_state = Arc::new(ApiState {
            shared,
            marshal,
            metrics: Arc::new(move || metrics_ctx.encode()),
            public_metrics: cfg.public_metrics,
            nonces: Default::default(),
            disk: disk.clone(),
            streams: ingot_module_api::stream::StreamSlots::new(
                cfg.api_max_streams.max(1),
                cfg.api_max_streams_per_caller.max(1),
            ),
            callers: crate::rate_limit::RateLimiter::new(cfg.api_requests_per_second_per_caller),
        });
        // Ends when the disk is nearly full: the node then stops (below).
        let disk_watch = tokio::spawn(async move {
            loop {
                tokio::time::sleep(crate::disk::DISK_CHECK_INTERVAL).await;
                disk.refresh();
                if let Some(reason) = disk.halt_reason() {
                    return reason;
                }
            }
        });
        // Telemetry retention: sweep the store every 2 s (a range read when
        // nothing is due).
        if cfg.telemetry_retention_days > 0 {
            let keep_ms = cfg.telemetry_retention_days * 86_400_000;
            let archive = cfg.telemetry_archive_enabled.then(|| {
                cfg.telemetry_archive_dir
                    .clone()
                    .unwrap_or_else(|| cfg.data_dir.join("telemetry-archive"))
            });
            let sweeper: ingot_module_api::Host = api_state.clone();
            tokio::spawn(async move {
                loop {
                    match ingot_execution::modules::telemetry::api::sweep(
                        &sweeper,
                        keep_ms,
                        archive.as_deref(),
                    )
                    .await
                    {
                        Ok(0) => {}
                        Ok(n) => {
                            info!(batches = n, "telemetry past retention archived and dropped")
                        }
                        Err(e) => tracing::warn!(error = %e, "telemetry retention sweep failed"),
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            });
        }
        let listener = tokio::net::TcpListener::from_std(api_socket)?;
        info!(%api_listen, tls = tls.is_some(), "API listening");
        let mut limits = cfg.api_limits();
        crate::http_server::fit_descriptor_budget(&mut limits);
        let server = tokio::spawn(crate::http_server::serve(
            listener,
            api::router(api_state),
            limits,
            tls,
        ));
        tokio::select! {
            _ = validator => anyhow::bail!("validator stopped"),
            _ = p2p => anyhow::bail!("p2p stopped"),
            r = tracker => anyhow::bail!("peer tracking stopped: {r:?}"),
            r = server => anyhow::bail!("API server stopped: {r:?}"),
            reason = disk_watch => {
                let reason = reason.unwrap_or_else(|e| format!("disk watch failed: {e}"));
                tracing::error!(%reason, "stopping");
                anyhow::bail!(reason)
            }
            _ = tokio::signal::ctrl_c() => {
                info!("shutting down");
                Ok(())
            }
        }
    });
    result
}
