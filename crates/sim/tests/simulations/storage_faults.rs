//! Damaged bytes in a validator's block archive, in the deterministic
//! simulator: reads of the damaged heights never take the node down (marshal
//! panics on an archive read error; the node guards its archives), the
//! damaged heights are refetched from peers and verified, a peer
//! backfilling from the damaged node is served by the others, and every
//! node still agrees. Damaged state and execution journals are re-executed
//! from the node's own blocks, never cut.

use commonware_consensus::types::Height;
use commonware_runtime::{Blob as _, Clock, Storage as _, Supervisor as _};
use ingot_sim::*;
use std::time::Duration;

/// Flip one byte in the middle of the largest blob of `partition`.
async fn flip_byte(ctx: &Ctx, partition: &str) {
    let (name, size) = largest_blob(ctx, partition).await;
    storage_damage::flip_byte_at(ctx, partition, &name, size / 2).await;
}

/// The largest blob of `partition` with its size.
async fn largest_blob(ctx: &Ctx, partition: &str) -> (Vec<u8>, u64) {
    storage_damage::blobs(ctx, partition)
        .await
        .into_iter()
        .reduce(|largest, blob| if blob.1 > largest.1 { blob } else { largest })
        .expect("a blob to damage")
}

/// Cut the last `n` bytes of the largest blob of `partition`.
async fn truncate_tail(ctx: &Ctx, partition: &str, n: u64) {
    let (name, size) = largest_blob(ctx, partition).await;
    let (blob, _) = ctx.open(partition, &name).await.unwrap();
    blob.resize(size - n).await.unwrap();
    blob.sync().await.unwrap();
}

/// Stop validator `i` of `nodes` as a crash would and let its tasks drop
/// their storage handles.
async fn crash(ctx: &Ctx, nodes: &mut [Node], i: usize) -> u64 {
    let executed = nodes[i].shared().unwrap().executed_height();
    nodes[i].handle.abort();
    nodes[i].shared.lock().unwrap().take();
    nodes[i].marshal.lock().unwrap().take();
    ctx.sleep(Duration::from_secs(1)).await;
    executed
}

/// Notary records `keys`, spread over `nodes`, in small waves so they land
/// in many heights (an idle chain makes a block only every heartbeat).
async fn submit_in_waves(
    ctx: &Ctx,
    nodes: &[Node],
    c: &Consortium,
    keys: std::ops::Range<u64>,
) -> Vec<ingot_types::Digest> {
    let mut hashes = Vec::new();
    for k in keys {
        let node = nodes[k as usize % nodes.len()].shared().unwrap();
        hashes.extend(node.submit(c.notary_tx(k, 1_000), false).ok());
        if k % 5 == 0 {
            ctx.sleep(Duration::from_millis(150)).await;
        }
    }
    hashes
}

/// Four validators take 200 notary records in waves; validator 0 then
/// crashes. Returns the nodes (0 stopped), the records' hashes and the height
/// validator 0 had executed.
async fn loaded_then_first_crashed(
    ctx: &Ctx,
    oracle: &commonware_p2p::simulated::Oracle<commonware_cryptography::ed25519::PublicKey, Ctx>,
    c: &Consortium,
) -> (Vec<Node>, Vec<ingot_types::Digest>, u64) {
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(start_node(ctx, oracle, c, i).await);
    }
    let hashes = submit_in_waves(ctx, &nodes, c, 0..200).await;
    wait_located(ctx, &nodes[0], &hashes).await;
    let executed = crash(ctx, &mut nodes, 0).await;
    (nodes, hashes, executed)
}

#[derive(Clone, Copy, Debug)]
enum StateDamage {
    FlipMiddle,
    TruncateTail,
}

/// The state store's log loses its tail or gets a flipped byte: the store
/// reopens behind the execution journal, or (damage below its last upkeep)
/// does not open and is rebuilt empty. The node must keep every record,
/// re-execute the missing heights from its own block archive (each must
/// reproduce its record), and rejoin.
async fn damaged_state_log(ctx: Ctx, damage: StateDamage) {
    let c = consortium(4);
    let oracle = network(&ctx, &c).await;
    let (mut nodes, _hashes, executed) = loaded_then_first_crashed(&ctx, &oracle, &c).await;
    match damage {
        StateDamage::FlipMiddle => flip_byte(&ctx, "v0-state-log_data").await,
        StateDamage::TruncateTail => truncate_tail(&ctx, "v0-state-log_data", 7).await,
    }
    // The damage really sets the state back (what used to cut the journal
    // to match and then lock the node out), or leaves a store that no longer
    // opens (damage below what an upkeep synced); the node must rebuild it
    // from its blocks either way.
    match ingot_state::StateStore::open(ctx.child("probe"), "v0").await {
        Ok(state) => assert!(
            state.height() < executed,
            "{damage:?} did not set the state back"
        ),
        Err(e) => eprintln!("{damage:?}: the state store no longer opens ({e})"),
    }
    ctx.sleep(Duration::from_secs(1)).await;
    nodes[0] = start_node(&ctx, &oracle, &c, 0).await;
    while nodes[0].shared().is_none() {
        ctx.sleep(Duration::from_millis(10)).await;
    }
    let shared = nodes[0].shared().unwrap();
    assert!(
        shared.ledger.lock().await.height() >= executed,
        "execution records were cut"
    );
    let target = nodes[1].shared().unwrap().executed_height() + 5;
    let refs: Vec<_> = nodes.iter().collect();
    wait_executed(&ctx, &refs, target).await;
    assert_agree(&refs, target).await;
}

#[test]
fn state_log_damage_is_reexecuted_not_cut() {
    for (seed, damage) in [
        (21, StateDamage::TruncateTail),
        (22, StateDamage::FlipMiddle),
    ] {
        run(seed, move |ctx| Box::pin(damaged_state_log(ctx, damage)));
    }
}

/// The execution journal loses its tail or gets a flipped byte: it reopens
/// *behind* the state, so the lost records cannot be made by executing those
/// heights on the node's state. The node re-executes the chain from genesis
/// in a scratch state, checks the records it kept, regenerates the lost ones
/// (identical to a healthy peer's, receipts included) and rejoins.
async fn damaged_execution_journal(ctx: Ctx, damage: StateDamage) {
    let c = consortium(4);
    let oracle = network(&ctx, &c).await;
    let (mut nodes, hashes, executed) = loaded_then_first_crashed(&ctx, &oracle, &c).await;
    match damage {
        StateDamage::FlipMiddle => flip_byte(&ctx, "v0-exec_data").await,
        StateDamage::TruncateTail => truncate_tail(&ctx, "v0-exec_data", 7).await,
    }
    nodes[0] = start_node(&ctx, &oracle, &c, 0).await;
    while nodes[0].shared().is_none() {
        ctx.sleep(Duration::from_millis(10)).await;
    }
    let shared = nodes[0].shared().unwrap();
    let kept = shared.ledger.lock().await.height();
    assert!(
        kept < executed,
        "{damage:?} did not cut the journal ({kept} of {executed})"
    );
    let target = nodes[1].shared().unwrap().executed_height() + 5;
    let refs: Vec<_> = nodes.iter().collect();
    wait_executed(&ctx, &refs, target).await;
    assert_agree(&refs, target).await;
    let healthy = nodes[1].shared().unwrap();
    for h in kept + 1..=executed {
        let ours = shared.ledger.lock().await.record(h).await.unwrap();
        let theirs = healthy.ledger.lock().await.record(h).await.unwrap();
        assert_eq!(ours, theirs, "regenerated record {h} differs");
    }
    // A regenerated receipt is served like any other.
    for hash in &hashes {
        assert!(
            shared.ledger.lock().await.locate(hash).unwrap().is_some()
                || shared
                    .ledger
                    .lock()
                    .await
                    .locate_recent(&shared.recent, hash)
                    .await
                    .unwrap()
                    .is_some(),
            "transaction {hash} not found after regeneration"
        );
    }
}

#[test]
fn execution_journal_damage_is_regenerated_from_blocks() {
    for (seed, damage) in [
        (23, StateDamage::TruncateTail),
        (24, StateDamage::FlipMiddle),
    ] {
        run(seed, move |ctx| {
            Box::pin(damaged_execution_journal(ctx, damage))
        });
    }
}

async fn damaged_block_archive(ctx: Ctx) {
    let c = consortium(4);
    let oracle = network(&ctx, &c).await;
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(start_node(&ctx, &oracle, &c, i).await);
    }
    wait_executed(&ctx, &nodes.iter().collect::<Vec<_>>(), 3).await;
    // Validator 3 stops early: it will have to backfill from the others,
    // one of which will be the damaged validator 0.
    let late = nodes.remove(3);
    late.handle.abort();
    let _ = late.handle.await;
    late.shared.lock().unwrap().take();
    let hashes = submit_in_waves(&ctx, &nodes, &c, 0..200).await;
    wait_located(&ctx, &nodes[0], &hashes).await;
    let top = nodes[0].shared().unwrap().executed_height();
    wait_executed(&ctx, &nodes.iter().collect::<Vec<_>>(), top).await;

    // Validator 0 crashes; a byte of its block archive flips on disk.
    crash(&ctx, &mut nodes, 0).await;
    flip_byte(&ctx, "v0-blocks-freezer-value").await;
    nodes[0] = start_node(&ctx, &oracle, &c, 0).await;
    while nodes[0].marshal().is_none() {
        ctx.sleep(Duration::from_millis(10)).await;
    }

    // Read every height, as an anonymous API client could: no panic; the
    // damaged ones answer "not held" and are recorded.
    let marshal = nodes[0].marshal().unwrap();
    let repairs = nodes[0].shared().unwrap().repairs.clone();
    let mut missing = Vec::new();
    for h in 1..=top {
        if marshal.get_block(Height::new(h)).await.is_none() {
            missing.push(h);
        }
    }
    assert!(!missing.is_empty(), "the flipped byte damaged no block");
    for h in &missing {
        assert!(repairs.is_damaged(*h), "height {h} missing but not damaged");
    }

    // Validator 3 comes back and backfills while validator 0 is damaged.
    nodes.push(start_node(&ctx, &oracle, &c, 3).await);

    // The damaged heights are refetched from peers and verified.
    let reference = nodes[1].marshal().unwrap();
    for _ in 0..300 {
        if repairs.damaged_count() == 0 {
            break;
        }
        ctx.sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(repairs.damaged_count(), 0, "damage left unrepaired");
    assert!(repairs.repaired_count() >= missing.len() as u64);
    for h in missing {
        let ours = marshal.get_block(Height::new(h)).await.expect("repaired");
        let theirs = reference.get_block(Height::new(h)).await.unwrap();
        assert_eq!(ours.inner().hash(), theirs.inner().hash());
    }

    // Everyone, the damaged and the late node included, goes on agreeing.
    let more: Vec<_> = (200..220u64)
        .filter_map(|k| {
            nodes[1]
                .shared()
                .unwrap()
                .submit(c.notary_tx(k, 1_000), false)
                .ok()
        })
        .collect();
    for node in &nodes {
        wait_located(&ctx, node, &more).await;
    }
    assert_all_agree(&nodes.iter().collect::<Vec<_>>()).await;
}

/// Nobody reads the damaged heights: the scrubber finds them on its own
/// and they are refetched, so the damage is gone before a peer or an
/// auditor needs those blocks.
async fn damage_found_by_the_scrubber(ctx: Ctx) {
    let c = consortium(4);
    let oracle = network(&ctx, &c).await;
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(start_node(&ctx, &oracle, &c, i).await);
    }
    let hashes = submit_in_waves(&ctx, &nodes, &c, 0..200).await;
    wait_located(&ctx, &nodes[0], &hashes).await;
    crash(&ctx, &mut nodes, 0).await;
    flip_byte(&ctx, "v0-blocks-freezer-value").await;
    nodes[0] = start_node(&ctx, &oracle, &c, 0).await;
    while nodes[0].shared().is_none() {
        ctx.sleep(Duration::from_millis(10)).await;
    }
    let repairs = nodes[0].shared().unwrap().repairs.clone();
    let top = nodes[0].shared().unwrap().executed_height();
    // A pass reads SCRUB_HEIGHTS_PER_INTERVAL heights a second.
    let pass = top / ingot_node::scrub::SCRUB_HEIGHTS_PER_INTERVAL + 30;
    for _ in 0..pass * 10 {
        if repairs.repaired_count() > 0 && repairs.damaged_count() == 0 {
            break;
        }
        ctx.sleep(Duration::from_millis(100)).await;
    }
    assert!(repairs.scrub_progress().0 > 0, "the scrubber never ran");
    assert!(
        repairs.repaired_count() > 0,
        "the scrubber found no damage (scrubbed {:?} of {top})",
        repairs.scrub_progress()
    );
    assert_eq!(repairs.damaged_count(), 0, "damage left unrepaired");
    assert_all_agree(&nodes.iter().collect::<Vec<_>>()).await;
}

#[test]
fn damage_nobody_reads_is_found_by_the_scrubber() {
    run(13, |ctx| Box::pin(damage_found_by_the_scrubber(ctx)));
}

#[test]
fn damaged_block_archive_is_refetched_not_fatal() {
    for seed in [11, 12] {
        run(seed, |ctx| Box::pin(damaged_block_archive(ctx)));
    }
}
