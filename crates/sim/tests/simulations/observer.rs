//! Observer nodes: a key outside the validator set runs the same engine
//! with a verify-only scheme. It must follow every finalized block to the
//! same state as the validators, forward transactions submitted to it,
//! catch up after a crash, and never count towards a quorum.

use commonware_cryptography::Signer;
use commonware_runtime::Clock;
use ingot_sim::*;
use std::time::Duration;

async fn submit_all(
    ctx: &Ctx,
    node: &Node,
    c: &Consortium,
    range: std::ops::Range<u64>,
) -> Vec<ingot_types::Digest> {
    let mut hashes = Vec::new();
    for k in range {
        hashes.push(
            node.shared()
                .unwrap()
                .submit(
                    c.notary_tx(k, node.shared().unwrap().executed_height() + 500),
                    false,
                )
                .unwrap(),
        );
        if k % 10 == 0 {
            ctx.sleep(Duration::from_millis(50)).await;
        }
    }
    hashes
}

fn finalized(node: &Node) -> u64 {
    node.shared()
        .unwrap()
        .finalized
        .load(std::sync::atomic::Ordering::Relaxed)
}

async fn observer_follows(ctx: Ctx) {
    let c = consortium(4);
    let oracle = network_with_observers(&ctx, &c, &[observer_key(0).public_key()]).await;
    let mut validators = Vec::new();
    for i in 0..4 {
        validators.push(start_node(&ctx, &oracle, &c, i).await);
    }
    let mut observer = start_observer(&ctx, &oracle, &c, 0).await;
    wait_executed(&ctx, &[&observer], 1).await;
    assert!(!observer.shared().unwrap().is_validator());
    assert!(validators[0].shared().unwrap().is_validator());

    // Submitted to a validator and to the observer (which forwards them).
    let mut hashes = submit_all(&ctx, &validators[0], &c, 0..60).await;
    hashes.extend(submit_all(&ctx, &observer, &c, 60..80).await);
    wait_located(&ctx, &observer, &hashes).await;
    wait_located(&ctx, &validators[3], &hashes).await;

    // Crash the observer; the chain goes on without it; it catches up.
    observer.kill().await;
    let more = submit_all(&ctx, &validators[1], &c, 80..140).await;
    wait_located(&ctx, &validators[2], &more).await;
    observer = start_observer(&ctx, &oracle, &c, 0).await;
    wait_located(&ctx, &observer, &more).await;

    // Two validators down: three of four are needed, and the observer is
    // not one. Nothing new is finalized however long it waits.
    let v3 = validators.pop().unwrap();
    let v2 = validators.pop().unwrap();
    v3.kill().await;
    v2.kill().await;
    ctx.sleep(Duration::from_secs(5)).await;
    let stalled_at = finalized(&validators[0]);
    let pending = submit_all(&ctx, &observer, &c, 140..150).await;
    ctx.sleep(Duration::from_secs(30)).await;
    assert_eq!(
        finalized(&validators[0]),
        stalled_at,
        "two validators and an observer finalized a block"
    );
    assert!(finalized(&observer) <= stalled_at);

    // Back to a quorum: everything submitted meanwhile is final, everywhere.
    validators.push(start_node(&ctx, &oracle, &c, 2).await);
    validators.push(start_node(&ctx, &oracle, &c, 3).await);
    wait_located(&ctx, &observer, &pending).await;
    let mut all: Vec<&Node> = validators.iter().collect();
    all.push(&observer);
    // Every validator reaches where the observer is; all agree up to there.
    let h = observer.shared().unwrap().executed_height();
    wait_executed(&ctx, &all, h).await;
    assert_agree(&all, h).await;
    assert!(!observer.has_stopped());
}

#[test]
fn an_observer_follows_forwards_catches_up_and_never_counts_for_a_quorum() {
    for seed in [11, 12] {
        run(seed, |ctx| Box::pin(observer_follows(ctx)));
    }
}
