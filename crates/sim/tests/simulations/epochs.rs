//! Consensus across epoch boundaries: the last block of each epoch is
//! finalized by that epoch's engine and the next engine starts from it. The
//! chain must neither stall nor fork there — under load, with a validator
//! crashing at the boundary, all of them losing power at it, a partition
//! across it, a Byzantine validator in every epoch, and nodes that were away
//! for several epochs catching up.

use commonware_cryptography::Signer;
use commonware_runtime::{Clock, Storage};
use ingot_sim::*;
use std::{sync::atomic::Ordering, time::Duration};

/// Blocks per epoch in these simulations (the smallest genesis allows).
pub(crate) const EPOCH: u64 = ingot_types::genesis::MIN_EPOCH_LENGTH;

/// Height of the last block of `epoch`.
pub(crate) fn boundary(epoch: u64) -> u64 {
    (epoch + 1) * EPOCH - 1
}

pub(crate) fn epochs_consortium(n: usize) -> Consortium {
    let mut c = consortium(n);
    c.genesis.epoch_length = Some(EPOCH);
    c
}

/// Submits notary records round-robin to the running nodes, a few every
/// 100 ms, and remembers the hashes accepted.
pub(crate) struct Load {
    next: u64,
    pub(crate) accepted: Vec<ingot_types::Digest>,
}

impl Load {
    pub(crate) fn new() -> Self {
        Self {
            next: 0,
            accepted: Vec::new(),
        }
    }

    /// One tick: `per_tick` transactions to whichever listed nodes run.
    pub(crate) async fn tick(&mut self, ctx: &Ctx, c: &Consortium, nodes: &[&Node], per_tick: u64) {
        let running: Vec<_> = nodes.iter().filter_map(|n| n.shared()).collect();
        if !running.is_empty() {
            for _ in 0..per_tick {
                let k = self.next;
                self.next += 1;
                let node = &running[k as usize % running.len()];
                let valid_until = node.executed_height() + 500;
                if let Ok(hash) = node.submit(c.notary_tx(k, valid_until), false) {
                    self.accepted.push(hash);
                }
            }
        }
        ctx.sleep(Duration::from_millis(100)).await;
    }

    /// Keep loading until `until` holds.
    pub(crate) async fn until(
        &mut self,
        ctx: &Ctx,
        c: &Consortium,
        nodes: &[&Node],
        mut until: impl FnMut() -> bool,
    ) {
        while !until() {
            self.tick(ctx, c, nodes, 5).await;
        }
    }
}

pub(crate) fn executed(node: &Node) -> u64 {
    node.shared().map_or(0, |s| s.executed_height())
}

pub(crate) fn finalized(node: &Node) -> u64 {
    node.shared()
        .map_or(0, |s| s.finalized.load(Ordering::SeqCst))
}

pub(crate) fn epoch(node: &Node) -> u64 {
    node.shared().map_or(0, |s| s.epoch.load(Ordering::SeqCst))
}

async fn start_all(
    ctx: &Ctx,
    oracle: &Oracle,
    c: &Consortium,
    ids: impl Iterator<Item = usize>,
) -> Vec<Node> {
    let mut nodes = Vec::new();
    for i in ids {
        nodes.push(start_node(ctx, oracle, c, i).await);
    }
    nodes
}

pub(crate) type Oracle =
    commonware_p2p::simulated::Oracle<commonware_cryptography::ed25519::PublicKey, Ctx>;

/// Every node finalized and executed the same chain, including every
/// accepted transaction, and runs an epoch past `past_epoch`.
pub(crate) async fn converged(ctx: &Ctx, nodes: &[&Node], load: &Load, past_epoch: u64) {
    for node in nodes {
        wait_located(ctx, node, &load.accepted).await;
    }
    wait_executed(ctx, nodes, boundary(past_epoch) + 1).await;
    for (i, node) in nodes.iter().enumerate() {
        assert!(
            epoch(node) > past_epoch,
            "node {i} still runs epoch {}",
            epoch(node)
        );
    }
    assert_all_agree(nodes).await;
}

async fn across_boundaries(ctx: Ctx) {
    let c = epochs_consortium(4);
    let oracle = network_with_observers(&ctx, &c, &[observer_key(0).public_key()]).await;
    let nodes = start_all(&ctx, &oracle, &c, 0..4).await;
    let refs: Vec<_> = nodes.iter().collect();
    let mut load = Load::new();
    load.until(&ctx, &c, &refs, || {
        refs.iter().all(|n| executed(n) > boundary(3))
    })
    .await;
    // An observer that starts four epochs late follows from genesis: it
    // learns each epoch's boundary from its peers and moves one epoch on at
    // each.
    let observer = start_observer(&ctx, &oracle, &c, 0).await;
    let mut all = refs.clone();
    all.push(&observer);
    load.until(&ctx, &c, &refs, || executed(&observer) > boundary(5))
        .await;
    converged(&ctx, &all, &load, 5).await;
    // Journals of finished epochs are removed (two epochs after they end);
    // the current and the previous epoch's stay.
    for (i, node) in nodes.iter().enumerate() {
        for finished in [
            "consensus".to_string(),
            "consensus-1".into(),
            "consensus-2".into(),
        ] {
            let partition = format!("v{i}-{finished}");
            assert!(
                ctx.scan(&partition)
                    .await
                    .map_or(true, |blobs| blobs.is_empty()),
                "{partition} was kept"
            );
        }
        // A restart may still resume in the epoch just left: its journal stays.
        for kept in [epoch(node), epoch(node) - 1] {
            let partition = format!("v{i}-consensus-{kept}");
            assert!(
                !ctx.scan(&partition).await.unwrap_or_default().is_empty(),
                "{partition} is missing"
            );
        }
    }
}

#[test]
fn the_chain_crosses_epoch_boundaries_and_a_late_node_follows() {
    for seed in [40, 41] {
        run(seed, |ctx| Box::pin(across_boundaries(ctx)));
    }
}

async fn crash_at_boundary(ctx: Ctx) {
    let c = epochs_consortium(4);
    let oracle = network(&ctx, &c).await;
    let mut nodes = start_all(&ctx, &oracle, &c, 0..4).await;
    let mut load = Load::new();
    // Validator 3 crashes while the boundary of epoch 1 is being finalized.
    // (Transactions go to the others: a crash loses its mempool, which
    // never promised finality.)
    {
        let senders: Vec<_> = nodes[..3].iter().collect();
        load.until(&ctx, &c, &senders, || {
            finalized(&nodes[3]) >= boundary(1) - 1
        })
        .await;
    }
    let at_crash = finalized(&nodes[3]);
    assert!(
        (boundary(1) - 1..=boundary(1) + 3).contains(&at_crash),
        "the crash missed the boundary: {at_crash}"
    );
    nodes.remove(3).kill().await;
    // The other three carry the chain two epochs on.
    {
        let refs: Vec<_> = nodes.iter().collect();
        load.until(&ctx, &c, &refs, || {
            refs.iter().all(|n| executed(n) > boundary(3))
        })
        .await;
    }
    nodes.push(start_node(&ctx, &oracle, &c, 3).await);
    let refs: Vec<_> = nodes.iter().collect();
    load.until(&ctx, &c, &refs[..3], || executed(&nodes[3]) > boundary(4))
        .await;
    converged(&ctx, &refs, &load, 4).await;
}

#[test]
fn a_validator_crashing_at_a_boundary_rejoins_epochs_later() {
    for seed in [42, 43] {
        run(seed, |ctx| Box::pin(crash_at_boundary(ctx)));
    }
}

async fn power_loss_at_boundary(ctx: Ctx) {
    let c = epochs_consortium(4);
    let oracle = network(&ctx, &c).await;
    let nodes = start_all(&ctx, &oracle, &c, 0..4).await;
    let mut load = Load::new();
    {
        let refs: Vec<_> = nodes.iter().collect();
        load.until(&ctx, &c, &refs, || finalized(&nodes[0]) >= boundary(1))
            .await;
    }
    // Everything final before the power loss must survive it.
    let before = load.accepted.len();
    let final_before: Vec<_> = {
        let s = nodes[0].shared().unwrap();
        let ledger = s.ledger.lock().await;
        let mut located = Vec::new();
        for h in &load.accepted[..before] {
            if matches!(ledger.locate(h), Ok(Some(_))) {
                located.push(*h);
            }
        }
        located
    };
    for node in nodes {
        node.kill().await;
    }
    let nodes = start_all(&ctx, &oracle, &c, 0..4).await;
    let refs: Vec<_> = nodes.iter().collect();
    for node in &refs {
        wait_located(&ctx, node, &final_before).await;
    }
    // What was only in mempools died with the power; it was never final.
    load.accepted = final_before;
    load.until(&ctx, &c, &refs, || {
        refs.iter().all(|n| executed(n) > boundary(3))
    })
    .await;
    converged(&ctx, &refs, &load, 3).await;
}

#[test]
fn every_validator_losing_power_at_a_boundary_resumes_in_the_right_epoch() {
    for seed in [44, 45] {
        run(seed, |ctx| Box::pin(power_loss_at_boundary(ctx)));
    }
}

async fn partition_across_boundary(ctx: Ctx) {
    let c = epochs_consortium(4);
    let oracle = network(&ctx, &c).await;
    let nodes = start_all(&ctx, &oracle, &c, 0..4).await;
    let refs: Vec<_> = nodes.iter().collect();
    let mut load = Load::new();
    load.until(&ctx, &c, &refs, || finalized(&nodes[0]) >= boundary(1) - 3)
        .await;
    // Split 2|2 just before the boundary: neither side has a quorum.
    split(&oracle, &c, 0..2, 2..4).await;
    ctx.sleep(Duration::from_secs(2)).await;
    let stalled: Vec<u64> = refs.iter().map(|n| finalized(n)).collect();
    assert!(
        stalled.iter().all(|h| *h <= boundary(1)),
        "the partition came after the boundary: {stalled:?}"
    );
    for _ in 0..50 {
        load.tick(&ctx, &c, &refs, 2).await;
    }
    let later: Vec<u64> = refs.iter().map(|n| finalized(n)).collect();
    assert_eq!(stalled, later, "finality must stall without a quorum");
    heal(&oracle, &c, 0..2, 2..4).await;
    load.until(&ctx, &c, &refs, || {
        refs.iter().all(|n| executed(n) > boundary(3))
    })
    .await;
    converged(&ctx, &refs, &load, 3).await;
}

#[test]
fn a_partition_across_a_boundary_stalls_then_heals() {
    for seed in [46, 47] {
        run(seed, |ctx| Box::pin(partition_across_boundary(ctx)));
    }
}

async fn byzantine_at_boundary(ctx: Ctx, behaviour: Byzantine) {
    let c = epochs_consortium(4);
    let oracle = network(&ctx, &c).await;
    let mut nodes = start_all(&ctx, &oracle, &c, 0..4).await;
    let mut load = Load::new();
    // Validator 0 turns Byzantine just before the boundary of epoch 1 (the
    // others block a peer at its first offence, so it must offend there),
    // and misbehaves in every epoch after.
    {
        let refs: Vec<_> = nodes.iter().collect();
        load.until(&ctx, &c, &refs[1..], || {
            finalized(&nodes[1]) >= boundary(1) - 2
        })
        .await;
    }
    nodes.remove(0).kill().await;
    let _byzantine = start_byzantine(&ctx, &oracle, &c, 0, behaviour).await;
    let refs: Vec<_> = nodes.iter().collect();
    load.until(&ctx, &c, &refs, || {
        refs.iter().all(|n| executed(n) > boundary(4))
    })
    .await;
    converged(&ctx, &refs, &load, 4).await;
}

#[test]
fn a_validator_turning_byzantine_at_a_boundary_cannot_stall_or_fork_it() {
    for (seed, behaviour) in [
        (48, Byzantine::Conflicter),
        (49, Byzantine::Equivocator),
        (50, Byzantine::Reconfigurer),
        (51, Byzantine::Nuller),
    ] {
        run(seed, move |ctx| {
            Box::pin(byzantine_at_boundary(ctx, behaviour))
        });
    }
}
