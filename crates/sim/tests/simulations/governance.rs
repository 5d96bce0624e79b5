//! Governance through whole validators in the deterministic simulator: an
//! organisation outside genesis is admitted by vote and transacts through
//! every node; a validator down across the change catches up to the same
//! consortium; a validator restarted after it loads the consortium from its
//! own state; every node agrees on blocks, state and the consortium.

use commonware_runtime::{deterministic, Clock, Runner};
use ingot_crypto::Role;
use ingot_execution::modules::notary::doc_key;
use ingot_sim::*;
use serde_json::json;
use std::time::Duration;

/// Submit `tx` to `node` until its admission accepts it (the node admits a
/// new organisation's transactions once it has executed the change).
async fn submit_when_admitted(ctx: &Ctx, node: &Node, tx: &ingot_types::SignedTransaction) {
    for _ in 0..600 {
        // A node just (re)started has no shared state until its storage opens.
        if node
            .shared()
            .is_some_and(|s| s.submit(tx.clone(), false).is_ok())
        {
            return;
        }
        ctx.sleep(Duration::from_millis(100)).await;
    }
    panic!("the node never admitted the transaction");
}

fn doc(n: u8) -> (serde_json::Value, [u8; 32]) {
    let hash = [n; 32];
    (
        json!({"document_hash": hex::encode(hash), "metadata": "newco"}),
        hash,
    )
}

async fn scenario(ctx: Ctx) {
    let c = consortium(4);
    let oracle = network(&ctx, &c).await;
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(start_node(&ctx, &oracle, &c, i).await);
    }
    wait_executed(&ctx, &nodes.iter().collect::<Vec<_>>(), 1).await;
    let chain = c.genesis.chain_id();
    let admin = c.holder("acme admin", Role::Admin);
    let (newco_ca, newco) = outside_org("newco");

    // Not a member yet: refused at the door.
    let (args, _) = doc(1);
    let early = newco.call_tx(chain, "notary", "record", args, 1, 800);
    assert!(nodes[0].shared().unwrap().submit(early, false).is_err());

    // Validator 3 is down across the change.
    let down = nodes.remove(3);
    down.kill().await;
    let propose = admin.call_tx(
        chain,
        "governance",
        "propose",
        json!({"action": {"kind": "add_org", "name": "newco", "ca_pem": newco_ca}}),
        2,
        800,
    );
    nodes[0]
        .shared()
        .unwrap()
        .submit(propose.clone(), false)
        .unwrap();
    wait_located(&ctx, &nodes[0], &[propose.hash()]).await;

    // newco transacts through another validator from the next block on.
    let (args, first_doc) = doc(2);
    let t = newco.call_tx(chain, "notary", "record", args, 3, 800);
    submit_when_admitted(&ctx, &nodes[1], &t).await;
    wait_located(&ctx, &nodes[1], &[t.hash()]).await;

    // The validator that was down catches up through the change; another is
    // restarted after it and loads the consortium from its state.
    nodes.push(start_node(&ctx, &oracle, &c, 3).await);
    let restarted = nodes.remove(2);
    restarted.kill().await;
    nodes.insert(2, start_node(&ctx, &oracle, &c, 2).await);
    let (args, second_doc) = doc(3);
    let t = newco.call_tx(chain, "notary", "record", args, 4, 800);
    submit_when_admitted(&ctx, &nodes[2], &t).await;
    wait_located(&ctx, &nodes[2], &[t.hash()]).await;

    let target = nodes[0].shared().unwrap().executed_height() + 2;
    let refs: Vec<_> = nodes.iter().collect();
    wait_executed(&ctx, &refs, target).await;
    assert_agree(&refs, target).await;
    for (i, n) in nodes.iter().enumerate() {
        let s = n.shared().unwrap();
        let consortium = s.trust.current();
        assert!(consortium.org("newco").is_some(), "node {i} knows newco");
        assert_eq!(consortium.total_weight(), 2, "node {i}");
        let state = s.state.read().await;
        for d in [first_doc, second_doc] {
            assert!(
                state.get(&doc_key(&d)).await.unwrap().is_some(),
                "node {i}: newco's record is final"
            );
        }
    }
}

#[test]
fn an_organisation_admitted_by_vote_is_seen_alike_through_a_crash_and_a_restart() {
    for seed in [41, 42] {
        let cfg = deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(600)));
        deterministic::Runner::new(cfg).start(scenario);
    }
}
