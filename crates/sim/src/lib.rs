//! A harness that runs whole Ingot validators (consensus, marshal, mempool,
//! executor, storage) on commonware's simulated network inside the
//! deterministic runtime. A run is a pure function of its seed: a failing seed
//! is a bug report anyone can replay.

use bytes::Bytes;
use commonware_cryptography::{ed25519, Signer};
use commonware_p2p::simulated::{self, Link, Network, Oracle};
use commonware_runtime::{deterministic, Clock, Handle, Quota, Spawner, Supervisor};
use commonware_utils::{probability, NZUsize, NZU32};
use ingot_crypto::{
    issue_ca_with_serial, issue_end_entity_with_serial, Backend, CertInfo, CertSpec, PrivateKey,
    Role, Scheme,
};
use ingot_node::{
    engine::{self, channel, Channels, Timing, ValidatorConfig},
    Shared,
};
use ingot_types::{
    genesis::{OrgKind, Organisation, ValidatorEntry},
    Call, Genesis, SignedTransaction,
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

pub type Ctx = deterministic::Context;
pub type NodeShared = Arc<Shared<Ctx>>;

pub const LINK: Link = Link {
    latency: Duration::from_millis(20),
    jitter: Duration::from_millis(5),
    success_rate: probability!(1.0),
};

/// Genesis time of simulated chains: the deterministic runtime's clock starts at the epoch.
const GENESIS_MS: u64 = 0;

pub mod explore;
pub mod storage_damage;

/// A member that signs transactions in simulations.
#[derive(Clone)]
pub struct Client {
    pub key: PrivateKey,
    pub der: Bytes,
}

#[derive(Clone)]
pub struct Consortium {
    pub genesis: Genesis,
    pub keys: Vec<ed25519::PrivateKey>,
    pub client: Client,
    /// The organisation's CA, to certify simulated devices.
    pub ca_key: PrivateKey,
    pub ca_pem: String,
}

/// Build a consortium of `n` validators with one organisation (certificates
/// valid from the epoch so the deterministic clock sees them as valid).
/// A key of the simulated organisation, the same in every process: a
/// seed's run must replay bit for bit anywhere, so nothing a simulation signs
/// or certifies may come from the operating system's randomness.
fn fixture_key(label: &str) -> PrivateKey {
    PrivateKey::from_raw(
        Scheme::Ed25519,
        &ingot_types::sha256(&[b"sim key", label.as_bytes()]),
    )
    .expect("32-byte Ed25519 seed")
}

/// A certificate serial number derived from what the certificate is for.
fn fixture_serial(label: &str) -> [u8; 16] {
    ingot_types::sha256(&[b"sim serial", label.as_bytes()])[..16]
        .try_into()
        .expect("16 bytes")
}

/// A certificate issued by the simulated CA, reproducibly.
fn fixture_cert(
    ca_key: &PrivateKey,
    ca_pem: &str,
    subject: &ingot_crypto::PublicKey,
    spec: &CertSpec,
) -> String {
    let serial = fixture_serial(&format!(
        "{}/{}",
        spec.common_name,
        spec.role.ou().unwrap_or("")
    ));
    issue_end_entity_with_serial(Backend::Rcgen, ca_key, ca_pem, subject, spec, serial)
        .expect("simulated certificate")
}

pub fn consortium(n: usize) -> Consortium {
    let spec = |cn: &str, role| CertSpec {
        common_name: cn.into(),
        organization: "acme".into(),
        san_uris: vec![],
        not_before: 0,
        not_after: 4_000_000_000,
        role,
    };
    let ca_key = fixture_key("acme CA");
    let ca_pem = issue_ca_with_serial(
        Backend::Rcgen,
        &ca_key,
        &spec("acme CA", Role::Ca),
        fixture_serial("acme CA"),
    )
    .unwrap();
    let (ca_key_kept, ca_pem_kept) = (ca_key.clone(), ca_pem.clone());
    let member = fixture_key("sensor-gw");
    let member_pem = fixture_cert(
        &ca_key,
        &ca_pem,
        &member.public_key(),
        &spec("sensor-gw", Role::Member),
    );
    let keys: Vec<_> = (0..n as u64).map(ed25519::PrivateKey::from_seed).collect();
    let validators = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            // Nodes refuse a genesis whose validators their organisation did
            // not certify, so simulated validators get real certificates.
            let name = format!("validator-{i}");
            let cert_pem = fixture_cert(
                &ca_key,
                &ca_pem,
                &ingot_crypto::PublicKey::ed25519_from_raw(k.public_key().as_ref()).unwrap(),
                &spec(&name, Role::Validator),
            );
            ValidatorEntry {
                name,
                org: "acme".into(),
                public_key: hex::encode(k.public_key().as_ref()),
                cert_pem,
                p2p_address: String::new(),
            }
        })
        .collect();
    Consortium {
        genesis: Genesis {
            chain_name: "sim".into(),
            timestamp_ms: GENESIS_MS,
            organisations: vec![Organisation {
                name: "acme".into(),
                kind: OrgKind::Member,
                ca_cert_pem: ca_pem,
            }],
            validators,
            governance: None,
            epoch_length: None,
        },
        keys,
        client: Client {
            key: member,
            der: CertInfo::from_pem(&member_pem).unwrap().der.into(),
        },
        ca_key: ca_key_kept,
        ca_pem: ca_pem_kept,
    }
}

impl Consortium {
    /// A signed notary record of document `n`.
    pub fn notary_tx(&self, n: u64, valid_until: u64) -> SignedTransaction {
        let args = ingot_execution::args::from_json(
            "notary",
            "record",
            &serde_json::json!({"document_hash": hex::encode(ingot_types::sha256(&[&n.to_be_bytes()])), "metadata": format!("doc {n}")}),
        )
        .unwrap();
        self.call_tx("notary", "record", args, n, valid_until)
    }

    /// The member's call of `module.method` with canonical `args`.
    pub fn call_tx(
        &self,
        module: &str,
        method: &str,
        args: Bytes,
        salt: u64,
        valid_until: u64,
    ) -> SignedTransaction {
        self.client.sign(
            self.genesis.chain_id(),
            module,
            method,
            args,
            salt,
            valid_until,
        )
    }

    /// A device of the organisation: its key and certificate (PEM), valid
    /// from the epoch like everything in simulations, and the same for the
    /// same `serial` in every process.
    pub fn device(&self, serial: &str) -> (PrivateKey, String) {
        let key = fixture_key(&format!("device {serial}"));
        let pem = fixture_cert(
            &self.ca_key,
            &self.ca_pem,
            &key.public_key(),
            &CertSpec {
                common_name: serial.into(),
                organization: "acme".into(),
                san_uris: vec![
                    ingot_crypto::device_uri("acme", serial),
                    ingot_crypto::model_uri("sim-probe"),
                ],
                not_before: 0,
                not_after: 4_000_000_000,
                role: Role::Device,
            },
        );
        (key, pem)
    }
}

impl Client {
    /// Its call of `module.method` with arguments in their JSON form.
    pub fn call_tx(
        &self,
        chain_id: ingot_types::Digest,
        module: &str,
        method: &str,
        args: serde_json::Value,
        salt: u64,
        valid_until: u64,
    ) -> SignedTransaction {
        let args = ingot_execution::args::from_json(module, method, &args).unwrap();
        self.sign(chain_id, module, method, args, salt, valid_until)
    }

    /// Its call of `module.method` with canonical `args`.
    pub fn sign(
        &self,
        chain_id: ingot_types::Digest,
        module: &str,
        method: &str,
        args: Bytes,
        salt: u64,
        valid_until: u64,
    ) -> SignedTransaction {
        ingot_execution::sign_call(
            &self.key,
            self.der.clone(),
            chain_id,
            valid_until,
            salt,
            Call {
                module: module.into(),
                method: method.into(),
                args,
            },
        )
        .unwrap()
    }
}

fn fixture_spec(org: &str, cn: &str, role: Role) -> CertSpec {
    CertSpec {
        common_name: cn.into(),
        organization: org.into(),
        san_uris: vec![],
        not_before: 0,
        not_after: 4_000_000_000,
        role,
    }
}

/// An organisation that is not in genesis (to be admitted by governance):
/// its CA (PEM) and a member, made reproducibly like everything simulated.
pub fn outside_org(name: &str) -> (String, Client) {
    let ca_key = fixture_key(&format!("{name} CA"));
    let ca_pem = issue_ca_with_serial(
        Backend::Rcgen,
        &ca_key,
        &fixture_spec(name, &format!("{name} CA"), Role::Ca),
        fixture_serial(&format!("{name} CA")),
    )
    .unwrap();
    let key = fixture_key(&format!("{name} member"));
    let pem = fixture_cert(
        &ca_key,
        &ca_pem,
        &key.public_key(),
        &fixture_spec(name, &format!("{name} member"), Role::Member),
    );
    let der = CertInfo::from_pem(&pem).unwrap().der.into();
    (ca_pem, Client { key, der })
}

impl Consortium {
    /// A holder of a certificate of the genesis organisation with `role`
    /// (an admin, to propose and vote).
    pub fn holder(&self, cn: &str, role: Role) -> Client {
        let key = fixture_key(cn);
        let pem = fixture_cert(
            &self.ca_key,
            &self.ca_pem,
            &key.public_key(),
            &fixture_spec("acme", cn, role),
        );
        Client {
            key,
            der: CertInfo::from_pem(&pem).unwrap().der.into(),
        }
    }
}

/// Sets its flag when dropped.
struct StopFlag(Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A running simulated validator.
pub struct Node {
    pub handle: Handle<()>,
    pub shared: Arc<Mutex<Option<NodeShared>>>,
    /// Its marshal (block and certificate reads), once started.
    pub marshal: Arc<Mutex<Option<engine::MarshalMailbox>>>,
    /// Set when the validator's task ends: it stopped by itself (a component
    /// failed: the fail-stop a process exit is on a real host) or was killed.
    pub stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl Node {
    pub fn shared(&self) -> Option<NodeShared> {
        self.shared.lock().unwrap().clone()
    }

    pub fn marshal(&self) -> Option<engine::MarshalMailbox> {
        self.marshal.lock().unwrap().clone()
    }

    /// Kill the validator as a crash would (its whole task tree) and drop
    /// what the harness held of it, so its storage handles close.
    pub async fn kill(self) {
        self.handle.abort();
        let _ = self.handle.await;
        self.shared.lock().unwrap().take();
    }

    /// Whether the validator stopped by itself.
    pub fn has_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }
}

pub async fn network(ctx: &Ctx, c: &Consortium) -> Oracle<ed25519::PublicKey, Ctx> {
    network_with_observers(ctx, c, &[]).await
}

/// The key of observer node `n` (outside the validator set), the same in
/// every run.
pub fn observer_key(n: u64) -> ed25519::PrivateKey {
    ed25519::PrivateKey::from_seed(1_000 + n)
}

/// The validators' network, which also accepts `observers` (secondary
/// peers, as validators track the observers governance admitted), every
/// peer linked to every other.
pub async fn network_with_observers(
    ctx: &Ctx,
    c: &Consortium,
    observers: &[ed25519::PublicKey],
) -> Oracle<ed25519::PublicKey, Ctx> {
    let validators: Vec<_> = c.keys.iter().map(|k| k.public_key()).collect();
    let (network, oracle) = Network::new_with_split_peers(
        ctx.child("network"),
        simulated::Config {
            // The simulated network holds only these peers: validators and,
            // as secondary peers, observers and joining validators (at most
            // `MAX_OBSERVERS`). The receive capacity every channel reports,
            // and actors preallocate, grows with this bound: keep it tight.
            max_size: engine::max_message_size(ingot_node::peer_sets::max_validators(c.keys.len())),
            max_peers_per_set: std::num::NonZeroUsize::new(
                c.keys.len() + ingot_execution::modules::governance::records::MAX_OBSERVERS,
            )
            .unwrap(),
            disconnect_on_block: true,
            tracked_peer_sets: NZUsize!(1),
        },
        validators.clone(),
        observers.iter().cloned(),
    )
    .await;
    network.start();
    let peers: Vec<_> = validators.iter().chain(observers).collect();
    for a in &peers {
        for b in &peers {
            if a != b {
                oracle
                    .add_link((*a).clone(), (*b).clone(), LINK)
                    .await
                    .unwrap();
            }
        }
    }
    oracle
}

/// Cut every link between validators `left` and `right` (both ways).
pub async fn split(
    oracle: &Oracle<ed25519::PublicKey, Ctx>,
    c: &Consortium,
    left: std::ops::Range<usize>,
    right: std::ops::Range<usize>,
) {
    for a in left {
        for b in right.clone() {
            let (ka, kb) = (c.keys[a].public_key(), c.keys[b].public_key());
            oracle.remove_link(ka.clone(), kb.clone()).await.unwrap();
            oracle.remove_link(kb, ka).await.unwrap();
        }
    }
}

/// Restore every link [`split`] cut between `left` and `right`.
pub async fn heal(
    oracle: &Oracle<ed25519::PublicKey, Ctx>,
    c: &Consortium,
    left: std::ops::Range<usize>,
    right: std::ops::Range<usize>,
) {
    for a in left {
        for b in right.clone() {
            let (ka, kb) = (c.keys[a].public_key(), c.keys[b].public_key());
            oracle.add_link(ka.clone(), kb.clone(), LINK).await.unwrap();
            oracle.add_link(kb, ka, LINK).await.unwrap();
        }
    }
}

/// Which simplex Byzantine mock replaces an honest validator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Byzantine {
    /// Votes for conflicting proposals.
    Conflicter,
    /// Proposes different blocks to different peers.
    Equivocator,
    /// Votes to nullify every view.
    Nuller,
    /// Answers every proposal it sees with a nullify vote, never finalizes.
    NullifyOnly,
    /// Sends notarize and finalize votes signed in other validators' names.
    Impersonator,
    /// Re-sends its votes of views long past.
    Outdated,
    /// Votes correctly but signs every vote for the next epoch (peers must
    /// refuse votes of an epoch other than the one they run).
    Reconfigurer,
}

impl Byzantine {
    /// Every kind that existed before epochs, for schedules to draw from
    /// (kept as it was so explored seeds replay the same schedules).
    pub const ALL: [Byzantine; 6] = [
        Byzantine::Conflicter,
        Byzantine::Equivocator,
        Byzantine::Nuller,
        Byzantine::NullifyOnly,
        Byzantine::Impersonator,
        Byzantine::Outdated,
    ];
}

/// Epochs a Byzantine mock takes part in: every epoch a simulation reaches
/// (one mock per epoch, each on its epoch's subchannel, as honest nodes
/// multiplex consensus traffic by epoch).
pub const BYZANTINE_EPOCHS: u64 = 64;

/// Run validator `i` as a Byzantine simplex mock instead of an honest node,
/// misbehaving in every epoch.
pub async fn start_byzantine(
    ctx: &Ctx,
    oracle: &Oracle<ed25519::PublicKey, Ctx>,
    c: &Consortium,
    i: usize,
    behaviour: Byzantine,
) -> Handle<()> {
    use commonware_p2p::utils::mux::Muxer;
    let key = c.keys[i].clone();
    let control = oracle.control(key.public_key());
    let quota = Quota::per_second(NZU32!(4_096));
    let votes = control.register(channel::VOTES, quota).await.unwrap();
    let certificates = control
        .register(channel::CERTIFICATES, quota)
        .await
        .unwrap();
    let participants = engine::participants(&c.genesis).unwrap();
    let epochs = if c.genesis.epoch_length.is_some() {
        BYZANTINE_EPOCHS
    } else {
        1
    };
    ctx.child("byzantine").spawn(move |ctx| async move {
        let (vote_mux, mut vote_subchannels) = Muxer::new(ctx.child("vote_mux"), votes.0, votes.1);
        let (cert_mux, mut cert_subchannels) =
            Muxer::new(ctx.child("certificate_mux"), certificates.0, certificates.1);
        let mut handles = vec![vote_mux.start(), cert_mux.start()]
            .into_iter()
            .map(|h| {
                ctx.child("mux_watch").spawn(move |_| async move {
                    let _ = h.await;
                })
            })
            .collect::<Vec<_>>();
        for epoch in 0..epochs {
            let votes = vote_subchannels.register(epoch).await.unwrap();
            let certificates = cert_subchannels.register(epoch).await.unwrap();
            let scheme = commonware_consensus::simplex::scheme::ed25519::Scheme::signer(
                ingot_node::CONSENSUS_NAMESPACE,
                participants.clone(),
                key.clone(),
            )
            .unwrap();
            handles.push(mock(
                ctx.child("mock").with_attribute("epoch", epoch),
                behaviour,
                scheme,
                commonware_consensus::types::Epoch::new(epoch),
                votes,
                certificates,
            ));
        }
        let _ = futures::future::select_all(handles).await;
    })
}

/// One epoch's Byzantine mock.
fn mock<S, R>(
    ctx: Ctx,
    behaviour: Byzantine,
    s: commonware_consensus::simplex::scheme::ed25519::Scheme,
    epoch: commonware_consensus::types::Epoch,
    votes: (S, R),
    certificates: (S, R),
) -> Handle<()>
where
    S: commonware_p2p::Sender<PublicKey = ed25519::PublicKey>,
    R: commonware_p2p::Receiver<PublicKey = ed25519::PublicKey>,
{
    use commonware_consensus::simplex::{elector::RoundRobin, mocks};
    use commonware_cryptography::Sha256;
    match behaviour {
        Byzantine::Conflicter => mocks::conflicter::Conflicter::<_, _, Sha256>::new(
            ctx,
            mocks::conflicter::Config { scheme: s },
        )
        .start(votes),
        Byzantine::Nuller => {
            mocks::nuller::Nuller::<_, _, Sha256>::new(ctx, mocks::nuller::Config { scheme: s })
                .start(votes)
        }
        Byzantine::NullifyOnly => mocks::nullify_only::NullifyOnly::<_, _, Sha256>::new(
            ctx,
            mocks::nullify_only::Config { scheme: s },
        )
        .start(votes),
        Byzantine::Impersonator => mocks::impersonator::Impersonator::<_, _, Sha256>::new(
            ctx,
            mocks::impersonator::Config { scheme: s },
        )
        .start(votes),
        Byzantine::Outdated => mocks::outdated::Outdated::<_, _, Sha256>::new(
            ctx,
            mocks::outdated::Config {
                scheme: s,
                view_delta: commonware_consensus::types::ViewDelta::new(10),
            },
        )
        .start(votes),
        Byzantine::Reconfigurer => mocks::reconfigurer::Reconfigurer::<_, _, Sha256>::new(
            ctx,
            mocks::reconfigurer::Config { scheme: s },
        )
        .start(votes),
        Byzantine::Equivocator => mocks::equivocator::Equivocator::new(
            ctx,
            mocks::equivocator::Config::<_, _, Sha256> {
                scheme: s,
                elector: RoundRobin::<Sha256>::default(),
                epoch,
                relay: Arc::new(mocks::relay::Relay::new()),
            },
        )
        .start(votes, certificates),
    }
}

/// Start validator `i` (or restart it: same storage prefix, so it recovers).
pub async fn start_node(
    ctx: &Ctx,
    oracle: &Oracle<ed25519::PublicKey, Ctx>,
    c: &Consortium,
    i: usize,
) -> Node {
    start_node_skewed(ctx, oracle, c, i, 0).await
}

/// [`start_node`] on a host whose clock reads `clock_skew_ms` from true time.
pub async fn start_node_skewed(
    ctx: &Ctx,
    oracle: &Oracle<ed25519::PublicKey, Ctx>,
    c: &Consortium,
    i: usize,
    clock_skew_ms: i64,
) -> Node {
    start_with_key(
        ctx,
        oracle,
        c,
        c.keys[i].clone(),
        format!("v{i}"),
        clock_skew_ms,
    )
    .await
}

/// Start (or restart) observer node `n`: [`observer_key`]`(n)`, outside the
/// validator set, on a network made by [`network_with_observers`].
pub async fn start_observer(
    ctx: &Ctx,
    oracle: &Oracle<ed25519::PublicKey, Ctx>,
    c: &Consortium,
    n: u64,
) -> Node {
    start_with_key(ctx, oracle, c, observer_key(n), format!("o{n}"), 0).await
}

/// A node with `key` and storage `prefix`: a validator if the key is one.
async fn start_with_key(
    ctx: &Ctx,
    oracle: &Oracle<ed25519::PublicKey, Ctx>,
    c: &Consortium,
    key: ed25519::PrivateKey,
    prefix: String,
    clock_skew_ms: i64,
) -> Node {
    let control = oracle.control(key.public_key());
    let quota = Quota::per_second(NZU32!(4_096));
    let mut registrations = Vec::new();
    for ch in channel::ALL {
        registrations.push(control.register(ch, quota).await.unwrap());
    }
    let channels = Channels::from_registrations(registrations);
    let cfg = ValidatorConfig {
        signer: key,
        genesis: c.genesis.clone(),
        prefix: prefix.clone(),
        max_block_txs: 1_000,
        timing: Timing {
            clock_skew_ms,
            ..Timing::default()
        },
        ledger_index: None,
        derived_dir: None,
        storage: ingot_node::StorageSizes::COMPACT,
        certificate_warning_days: ingot_node::cert_watch::DEFAULT_WARNING_DAYS,
    };
    let slot = Arc::new(Mutex::new(None));
    let out = slot.clone();
    let marshal_slot = Arc::new(Mutex::new(None));
    let marshal_out = marshal_slot.clone();
    let manager = oracle.manager();
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped_out = stopped.clone();
    let handle = ctx
        .child("node")
        .with_attribute("prefix", &prefix)
        .spawn(move |ctx| async move {
            // However the validator ends (its components stop, a start that
            // fails, a panic), it has stopped.
            let _stopped = StopFlag(stopped_out);
            let (gossip_tx, gossip_rx) = futures::channel::mpsc::unbounded();
            let shared = engine::open_shared(&ctx, &cfg, gossip_tx)
                .await
                .expect("open node");
            *out.lock().unwrap() = Some(shared.clone());
            let (mailbox, all) =
                engine::start_validator(ctx, cfg, shared, gossip_rx, manager, control, channels)
                    .await
                    .expect("start validator");
            *marshal_out.lock().unwrap() = Some(mailbox);
            let _ = all.await;
        });
    Node {
        handle,
        shared: slot,
        marshal: marshal_slot,
        stopped,
    }
}

/// Run `scenario` in the deterministic runtime from `seed` (10 simulated
/// minutes at most); a failure prints the seed so it can be replayed.
pub fn run(
    seed: u64,
    scenario: impl FnOnce(Ctx) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>
        + Send
        + 'static,
) {
    use commonware_runtime::Runner as _;
    let cfg = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(600)));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        deterministic::Runner::new(cfg).start(scenario)
    }));
    if let Err(e) = outcome {
        eprintln!("simulation failed with seed {seed}");
        std::panic::resume_unwind(e);
    }
}

/// Wait (in simulated time) until every listed node has executed `height`.
/// Wait until `node`'s ledger has located every transaction of `hashes`.
pub async fn wait_located(ctx: &Ctx, node: &Node, hashes: &[ingot_types::Digest]) {
    loop {
        // A node just (re)started has not opened its storage yet.
        let Some(s) = node.shared() else {
            ctx.sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let ledger = s.ledger.lock().await;
        if hashes
            .iter()
            .all(|h| matches!(ledger.locate(h), Ok(Some(_))))
        {
            return;
        }
        drop(ledger);
        ctx.sleep(std::time::Duration::from_millis(100)).await;
    }
}

pub async fn wait_executed(ctx: &Ctx, nodes: &[&Node], height: u64) {
    loop {
        if nodes
            .iter()
            .all(|n| n.shared().is_some_and(|s| s.executed_height() >= height))
        {
            return;
        }
        ctx.sleep(Duration::from_millis(100)).await;
    }
}

/// [`assert_agree`] up to the lowest height every node has executed.
pub async fn assert_all_agree(nodes: &[&Node]) {
    let height = nodes
        .iter()
        .map(|n| n.shared().unwrap().executed_height())
        .min()
        .expect("at least one node");
    assert_agree(nodes, height).await;
}

/// Assert every node finalized the same block and recorded identical execution
/// results (state and receipts roots) at every height up to `height`.
pub async fn assert_agree(nodes: &[&Node], height: u64) {
    if let Err(divergence) = agreement(nodes, height).await {
        panic!("{divergence}");
    }
}

/// Every node recorded the same block and execution results at every height
/// up to `height`; otherwise the first node and height that differ.
pub async fn agreement(nodes: &[&Node], height: u64) -> Result<(), String> {
    let mut reference = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let shared = node.shared().ok_or(format!("node {i} is not running"))?;
        let ledger = shared.ledger.lock().await;
        for h in 1..=height {
            let r = ledger
                .record(h)
                .await
                .map_err(|e| format!("node {i} height {h}: {e}"))?
                .ok_or(format!("node {i} has no execution record at {h}"))?;
            let mine = (r.block, r.result);
            if i == 0 {
                reference.push(mine);
            } else if mine != reference[h as usize - 1] {
                return Err(format!(
                    "node {i} diverged from node 0 at height {h}: {mine:?} against {:?}",
                    reference[h as usize - 1]
                ));
            }
        }
    }
    Ok(())
}
