//! Validator-set changes by vote, through whole validators: a validator is
//! added, one removed and one replaced, each taking effect at the boundary
//! two epochs after its decision — with a validator crashing at the
//! boundary where a joiner starts voting, a partition across the boundary
//! where a removal takes effect, and a Byzantine validator in the epochs of
//! a replacement; a joiner offline for epochs it should vote in, and a
//! validator restarting with its state behind a change. Each change and
//! each rejoin is proven by liveness: after it, the chain
//! goes on only if the new set's quorum counts the joiner and no longer
//! needs the removed validator. Every node ends on the same blocks and state.

use super::epochs::{boundary, converged, epoch, epochs_consortium, executed, Load, Oracle, EPOCH};
use commonware_cryptography::Signer;
use commonware_runtime::Clock;
use ingot_crypto::Role;
use ingot_sim::*;
use serde_json::json;
use std::time::Duration;

fn key_hex(key: &commonware_cryptography::ed25519::PrivateKey) -> String {
    hex::encode(key.public_key().as_ref())
}

fn raw(key: &commonware_cryptography::ed25519::PrivateKey) -> [u8; 32] {
    key.public_key().as_ref().try_into().unwrap()
}

/// Propose `action` as acme's admin (the only organisation: its approval
/// decides) through `node`, wait until it is executed there, and return the
/// first epoch whose set reflects it.
async fn decide(
    ctx: &Ctx,
    c: &Consortium,
    node: &Node,
    nonce: u64,
    action: serde_json::Value,
) -> u64 {
    let admin = c.holder("acme admin", Role::Admin);
    let shared = node.shared().unwrap();
    let tx = admin.call_tx(
        c.genesis.chain_id(),
        "governance",
        "propose",
        json!({ "action": action }),
        nonce,
        shared.executed_height() + 500,
    );
    shared.submit(tx.clone(), false).unwrap();
    wait_located(ctx, node, &[tx.hash()]).await;
    let registry = shared.trust.current().validator_registry();
    let decided = registry
        .values()
        .flat_map(|s| [Some(s.added_at), s.removed_at])
        .flatten()
        .max()
        .expect("a change was applied");
    assert!(decided > 0, "the change was not applied");
    ingot_execution::consortium_change_takes_effect(EPOCH, decided)
}

/// Load through `senders` (nodes never stopped, so no accepted transaction
/// dies in a crashed mempool) until every `watched` node executed past the
/// first block of `epoch`.
async fn past(
    ctx: &Ctx,
    c: &Consortium,
    load: &mut Load,
    senders: &[&Node],
    watched: &[&Node],
    epoch: u64,
) {
    load.until(ctx, c, senders, || {
        watched
            .iter()
            .all(|n| executed(n) > boundary(epoch - 1) + 2)
    })
    .await;
}

/// The set the boundary block before `epoch` names, as `node` stored it.
async fn set_of(node: &Node, epoch: u64) -> Vec<[u8; 32]> {
    use commonware_consensus::types::Height;
    let block = node
        .marshal()
        .unwrap()
        .get_block(Height::new(boundary(epoch - 1)))
        .await
        .expect("the boundary block is stored");
    block
        .inner()
        .header
        .next_validators
        .clone()
        .expect("a boundary block names the next set")
}

/// Which of `keys` signed the finalizations `node` stored for the first
/// blocks of `epoch` (at least three are stored, each checked).
async fn signers(node: &Node, epoch: u64) -> Vec<std::collections::BTreeSet<[u8; 32]>> {
    use commonware_consensus::types::Height;
    let set = set_of(node, epoch).await;
    let mut out = Vec::new();
    for height in boundary(epoch - 1) + 1..=boundary(epoch) {
        if let Some(f) = node
            .marshal()
            .unwrap()
            .get_finalization(Height::new(height))
            .await
        {
            assert_eq!(f.proposal.round.epoch().get(), epoch, "height {height}");
            out.push(
                f.certificate
                    .signers
                    .iter()
                    .map(|p| set[usize::from(p)])
                    .collect(),
            );
        }
    }
    assert!(
        out.len() >= 3,
        "only {} finalizations stored in epoch {epoch}",
        out.len()
    );
    out
}

/// Cut (or restore) both links between `a` and `b`.
async fn link(
    oracle: &Oracle,
    a: &commonware_cryptography::ed25519::PrivateKey,
    b: &commonware_cryptography::ed25519::PrivateKey,
    up: bool,
) {
    for (x, y) in [(a, b), (b, a)] {
        if up {
            oracle
                .add_link(x.public_key(), y.public_key(), LINK)
                .await
                .unwrap();
        } else {
            oracle
                .remove_link(x.public_key(), y.public_key())
                .await
                .unwrap();
        }
    }
}

async fn scenario(ctx: Ctx) {
    let c = epochs_consortium(4);
    let joiners = [observer_key(0), observer_key(1)];
    let oracle: Oracle = network_with_observers(
        &ctx,
        &c,
        &[joiners[0].public_key(), joiners[1].public_key()],
    )
    .await;
    let mut v: Vec<Option<Node>> = Vec::new();
    for i in 0..4 {
        v.push(Some(start_node(&ctx, &oracle, &c, i).await));
    }
    let mut load = Load::new();
    let v0 = v[0].take().unwrap();

    // 1. Add joiner 0. Its node starts at once and follows as an observer
    // until its epoch comes.
    let effect = decide(
        &ctx,
        &c,
        &v0,
        1,
        json!({"kind": "add_validator", "name": "acme-v5", "org": "acme", "public_key": key_hex(&joiners[0]), "p2p_address": "10.0.0.5:30300"}),
    )
    .await;
    let j0 = start_observer(&ctx, &oracle, &c, 0).await;
    {
        let consortium = v0.shared().unwrap().trust.current();
        assert!(!consortium
            .validator_set_for(effect - 1)
            .contains(&raw(&joiners[0])));
        assert!(consortium
            .validator_set_for(effect)
            .contains(&raw(&joiners[0])));
    }
    // Validator 3 crashes just before the boundary where the joiner starts voting.
    let v3 = v[3].take().unwrap();
    load.until(&ctx, &c, &[&v0], || {
        executed(&v3) >= boundary(effect - 1) - 1
    })
    .await;
    v3.kill().await;
    // Five validators now, quorum four: 0, 1, 2 and the joiner. The chain
    // goes on only if the joiner's votes count.
    past(&ctx, &c, &mut load, &[&v0], &[&v0, &j0], effect + 1).await;
    assert!(j0.shared().unwrap().is_validator());
    let mut five: Vec<_> = c.keys.iter().map(raw).chain([raw(&joiners[0])]).collect();
    five.sort();
    assert_eq!(set_of(&v0, effect).await, five);
    for signed in signers(&v0, effect).await {
        assert!(
            signed.contains(&raw(&joiners[0])),
            "the joiner did not sign"
        );
        assert!(!signed.contains(&raw(&c.keys[3])));
    }

    // 2. Remove validator 3 (down), with validator 0 cut off from the
    // others across the boundary where the removal takes effect.
    let effect = decide(
        &ctx,
        &c,
        &v0,
        2,
        json!({"kind": "remove_validator", "public_key": key_hex(&c.keys[3])}),
    )
    .await;
    load.until(&ctx, &c, &[&v0], || {
        executed(&j0) >= boundary(effect - 1) - 2
    })
    .await;
    split(&oracle, &c, 0..1, 1..3).await;
    link(&oracle, &c.keys[0], &joiners[0], false).await;
    ctx.sleep(Duration::from_secs(5)).await;
    heal(&oracle, &c, 0..1, 1..3).await;
    link(&oracle, &c.keys[0], &joiners[0], true).await;
    past(&ctx, &c, &mut load, &[&v0], &[&v0, &j0], effect).await;
    // Four validators, quorum three; with validator 2 stopped too, 0, 1 and
    // the joiner finalize only if validator 3 no longer counts.
    v[2].take().unwrap().kill().await;
    past(&ctx, &c, &mut load, &[&v0], &[&v0, &j0], effect + 1).await;
    assert!(!set_of(&v0, effect).await.contains(&raw(&c.keys[3])));
    for signed in signers(&v0, effect + 1).await {
        assert_eq!(signed.len(), 3, "only 0, 1 and the joiner run");
    }
    v[2] = Some(start_node(&ctx, &oracle, &c, 2).await);

    // 3. Replace validator 1 by joiner 1, with validator 2 Byzantine from
    // the decision on (its honest node stopped, a mock in its place).
    let effect = decide(
        &ctx,
        &c,
        &v0,
        3,
        json!({"kind": "replace_validator", "old_public_key": key_hex(&c.keys[1]), "name": "acme-v6", "public_key": key_hex(&joiners[1]), "p2p_address": "10.0.0.6:30300"}),
    )
    .await;
    let j1 = start_observer(&ctx, &oracle, &c, 1).await;
    v[2].take().unwrap().kill().await;
    let byzantine = start_byzantine(&ctx, &oracle, &c, 2, Byzantine::Conflicter).await;
    let v1 = v[1].take().unwrap();
    past(&ctx, &c, &mut load, &[&v0], &[&v0, &j0, &j1, &v1], effect).await;
    // The set is {0, 2, joiner 0, joiner 1}, quorum three, 2 Byzantine: the
    // chain goes on only if joiner 1 votes. Validator 1, removed, runs on as
    // a non-voting node and agrees on everything (the simulated network keeps
    // its links; real peers drop it once its removal has taken effect).
    past(&ctx, &c, &mut load, &[&v0], &[&v0, &j0, &j1], effect + 1).await;
    converged(&ctx, &[&v0, &j0, &j1, &v1], &load, effect + 1).await;
    let mut four = vec![
        raw(&c.keys[0]),
        raw(&c.keys[2]),
        raw(&joiners[0]),
        raw(&joiners[1]),
    ];
    four.sort();
    assert_eq!(set_of(&j1, effect).await, four);
    for signed in signers(&j1, effect + 1).await {
        assert!(
            signed.contains(&raw(&joiners[1])),
            "the replacement did not sign"
        );
        assert!(
            !signed.contains(&raw(&c.keys[1])),
            "the replaced validator still counts"
        );
    }
    assert!(j1.shared().unwrap().is_validator());
    assert!(!v1.shared().unwrap().is_validator());
    assert!(epoch(&v1) > effect);
    byzantine.abort();
}

#[test]
fn validators_are_added_removed_and_replaced_through_crashes_partitions_and_byzantine_peers() {
    for seed in [50, 51] {
        run(seed, |ctx| Box::pin(scenario(ctx)));
    }
}

/// Flip a byte early in the oldest blob of `partition`: a store reading it
/// back either stops before that byte or does not open at all.
async fn flip_early_byte(ctx: &Ctx, partition: &str) {
    let (name, size) = storage_damage::blobs(ctx, partition)
        .await
        .into_iter()
        .next()
        .expect("a blob to damage");
    storage_damage::flip_byte_at(ctx, partition, &name, (size / 100).clamp(1, size - 1)).await;
}

/// A joiner offline across several boundaries (its epochs begin without
/// it) starts late, catches up and votes; then a validator restarts with its
/// state set back to before the change was decided, so the sets of the
/// epochs it resumes in can only come from the boundary blocks it stored,
/// and votes again. Each vote is proven by liveness: with one validator of
/// the five stopped, the chain goes on only if both count.
async fn offline_joiner_and_state_behind(ctx: Ctx) {
    let c = epochs_consortium(4);
    let joiner = observer_key(0);
    let oracle: Oracle = network_with_observers(&ctx, &c, &[joiner.public_key()]).await;
    let mut v: Vec<Option<Node>> = Vec::new();
    for i in 0..4 {
        v.push(Some(start_node(&ctx, &oracle, &c, i).await));
    }
    let mut load = Load::new();
    let v0 = v[0].take().unwrap();
    let effect = decide(
        &ctx,
        &c,
        &v0,
        1,
        json!({"kind": "add_validator", "name": "acme-v5", "org": "acme", "public_key": key_hex(&joiner), "p2p_address": "10.0.0.5:30300"}),
    )
    .await;
    let decided_at =
        v0.shared().unwrap().trust.current().validator_registry()[&raw(&joiner)].added_at;

    // Five validators from `effect` on, four of them running (quorum four):
    // the chain crosses three boundaries without the joiner.
    {
        let others: Vec<&Node> = v.iter().flatten().collect();
        let mut watched = others.clone();
        watched.push(&v0);
        past(&ctx, &c, &mut load, &[&v0], &watched, effect + 3).await;
    }
    let j0 = start_observer(&ctx, &oracle, &c, 0).await;
    past(&ctx, &c, &mut load, &[&v0], &[&v0, &j0], effect + 4).await;
    assert!(j0.shared().unwrap().is_validator());

    // Validator 1 crashes; its state log is damaged early, so its state
    // reopens (or is rebuilt) behind the height the change was decided at.
    let v1 = v[1].take().unwrap();
    let executed_before = executed(&v1);
    v1.marshal.lock().unwrap().take();
    v1.kill().await;
    // Its tasks drop their storage handles.
    ctx.sleep(Duration::from_secs(1)).await;
    flip_early_byte(&ctx, "v1-state-log_data").await;
    {
        use commonware_runtime::Supervisor as _;
        match ingot_state::StateStore::open(ctx.child("probe"), "v1").await {
            Ok(state) => assert!(
                state.height() < decided_at,
                "the state reopens at {}, not behind the decision at {decided_at}",
                state.height()
            ),
            Err(e) => eprintln!("the state store no longer opens ({e}); it is rebuilt"),
        }
    }
    ctx.sleep(Duration::from_secs(1)).await;
    let v1 = start_node(&ctx, &oracle, &c, 1).await;
    past(&ctx, &c, &mut load, &[&v0], &[&v0, &v1], effect + 5).await;
    assert!(executed(&v1) > executed_before);

    // Validator 3 stops: 0, 1, 2 and the joiner are exactly a quorum.
    let v3 = v[3].take().unwrap();
    v3.kill().await;
    let now = epoch(&v0);
    past(&ctx, &c, &mut load, &[&v0], &[&v0, &v1, &j0], now + 2).await;
    for signed in signers(&v0, now + 1).await {
        assert!(signed.contains(&raw(&joiner)), "the joiner did not sign");
        assert!(
            signed.contains(&raw(&c.keys[1])),
            "validator 1 did not sign"
        );
    }
    let v2 = v[2].take().unwrap();
    converged(&ctx, &[&v0, &v1, &v2, &j0], &load, now + 1).await;
}

#[test]
fn an_offline_joiner_and_a_validator_whose_state_fell_behind_rejoin_across_changes() {
    for seed in [52, 53] {
        run(seed, |ctx| Box::pin(offline_joiner_and_state_behind(ctx)));
    }
}
