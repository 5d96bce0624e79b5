//! Executing blocks against a real state store: module behaviour and every
//! refusal, each with its reason and without a state change.

use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use ingot_crypto::{issue_ca, PrivateKey, Role, Scheme};
use ingot_execution::{authenticate, Executor};
use ingot_state::StateStore;
use ingot_types::{limits::MAX_VALIDITY_BLOCKS, sha256, Status};
use serde_json::json;
use std::sync::Arc;

mod common;
use common::*;

#[test]
fn notary_identity_and_refusals() {
    deterministic::Runner::default().start(|ctx| async move {
        let acme_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let acme_ca = issue_ca(&acme_key, &spec("acme CA", "acme", Role::Ca)).unwrap();
        let bolt_key = PrivateKey::generate(Scheme::Sm2).unwrap();
        let bolt_ca = issue_ca(&bolt_key, &spec("bolt CA", "bolt", Role::Ca)).unwrap();
        let trust = Arc::new(
            ingot_execution::LiveConsortium::of_members([
                ("acme", acme_ca.as_str()),
                ("bolt", bolt_ca.as_str()),
            ])
            .unwrap(),
        );
        let chain = sha256(&[b"chain"]);
        let admin = member(
            &acme_key,
            &acme_ca,
            "admin",
            "acme",
            Role::Admin,
            Scheme::Ed25519,
        );
        let alice = member(
            &acme_key,
            &acme_ca,
            "alice",
            "acme",
            Role::Member,
            Scheme::P256,
        );
        let bob = member(
            &bolt_key,
            &bolt_ca,
            "bob",
            "bolt",
            Role::Member,
            Scheme::Sm2,
        );

        // Stateless authentication of all three schemes.
        let t = tx(
            &alice,
            chain,
            "notary",
            "record",
            json!({"document_hash": "11".repeat(32), "metadata": "test report"}),
            10,
            1,
        );
        authenticate(&trust.current(), &chain, &t).unwrap();
        let mut forged = t.clone();
        forged.tx.salt = 99;
        assert!(
            authenticate(&trust.current(), &chain, &forged).is_err(),
            "signature must cover the body"
        );
        assert!(
            authenticate(&trust.current(), &sha256(&[b"other"]), &t).is_err(),
            "wrong chain id"
        );
        authenticate(
            &trust.current(),
            &chain,
            &tx(
                &bob,
                chain,
                "notary",
                "record",
                json!({"document_hash": "22".repeat(32)}),
                10,
                1,
            ),
        )
        .unwrap();

        let exec = Executor::new(trust.clone());
        let mut state = StateStore::open(ctx.child("state"), "x").await.unwrap();

        // Block 1: a record, a duplicate document, a replay of the same tx, an
        // admin registering alice, bob trying to register into acme.
        let b1 = block(
            1,
            vec![
                t.clone(),
                tx(
                    &bob,
                    chain,
                    "notary",
                    "record",
                    json!({"document_hash": "11".repeat(32)}),
                    10,
                    2,
                ),
                t.clone(),
                tx(
                    &admin,
                    chain,
                    "identity",
                    "register",
                    json!({"certificate_pem": alice.pem}),
                    10,
                    3,
                ),
                tx(
                    &bob,
                    chain,
                    "identity",
                    "register",
                    json!({"certificate_pem": alice.pem}),
                    10,
                    4,
                ),
            ],
        );
        let out1 = exec.execute_block(&mut state, &b1).await.unwrap();
        let s: Vec<String> = out1.receipts.iter().map(|r| status(&r.status)).collect();
        assert_eq!(s[0], "ok");
        assert_eq!(s[1], "document already recorded");
        assert!(s[2].starts_with("replay:"), "{}", s[2]);
        assert_eq!(s[3], "ok");
        assert_eq!(s[4], "only an organisation admin may manage identities");
        assert_eq!(out1.result.state_root, state.root().unwrap());
        assert_eq!(out1.receipts[0].events[0].kind, "recorded");

        // Block 2: replay across blocks, expired, too-long validity, revoke alice,
        // then alice's next transaction in the same block is refused.
        let root_before = state.root().unwrap();
        let b2 = block(
            2,
            vec![
                t.clone(),
                tx(
                    &alice,
                    chain,
                    "notary",
                    "record",
                    json!({"document_hash": "33".repeat(32)}),
                    1,
                    6,
                ),
                tx(
                    &alice,
                    chain,
                    "notary",
                    "record",
                    json!({"document_hash": "33".repeat(32)}),
                    2 + MAX_VALIDITY_BLOCKS + 1,
                    7,
                ),
                tx(
                    &admin,
                    chain,
                    "identity",
                    "revoke",
                    json!({"certificate_pem": alice.pem}),
                    10,
                    8,
                ),
                tx(
                    &alice,
                    chain,
                    "notary",
                    "record",
                    json!({"document_hash": "44".repeat(32)}),
                    10,
                    9,
                ),
                tx(
                    &alice,
                    chain,
                    "notary",
                    "transfer",
                    json!({"document_hash": "11".repeat(32), "new_owner": "00".repeat(32)}),
                    10,
                    10,
                ),
            ],
        );
        let out2 = exec.execute_block(&mut state, &b2).await.unwrap();
        let s: Vec<String> = out2.receipts.iter().map(|r| status(&r.status)).collect();
        assert!(s[0].starts_with("replay:"), "{}", s[0]);
        assert!(s[1].starts_with("expired"), "{}", s[1]);
        assert!(s[2].starts_with("validity window"), "{}", s[2]);
        assert_eq!(s[3], "ok");
        assert_eq!(s[4], "certificate revoked");
        assert_eq!(s[5], "certificate revoked");
        assert_ne!(root_before, state.root().unwrap());
        // the refused record did not land
        assert!(state
            .get(&ingot_execution::modules::notary::doc_key(&[0x44; 32]))
            .await
            .unwrap()
            .is_none());
        assert!(state
            .get(&ingot_execution::modules::notary::doc_key(&[0x11; 32]))
            .await
            .unwrap()
            .is_some());
    });
}

#[test]
fn execution_is_deterministic() {
    let run = || {
        deterministic::Runner::default().start(|ctx| async move {
            let mut state = StateStore::open(ctx.child("state"), "x").await.unwrap();
            let trust =
                Arc::new(ingot_execution::LiveConsortium::of_members(std::iter::empty()).unwrap());
            let exec = Executor::new(trust);
            // Empty blocks still advance state deterministically. Fixed block
            // times: state records block time (the heartbeat cursor), so two
            // runs on the wall clock differ whenever a second ticks between.
            exec.execute_block(&mut state, &block_at(1, 1_700_000_000_000, vec![]))
                .await
                .unwrap();
            exec.execute_block(&mut state, &block_at(2, 1_700_000_001_000, vec![]))
                .await
                .unwrap()
                .result
        })
    };
    assert_eq!(run().state_root, run().state_root);
}

/// An executor trusting one organisation, its chain id, and a member of it.
fn acme_with_alice() -> (Executor, ingot_types::Digest, Member) {
    let ca_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let ca = issue_ca(&ca_key, &spec("acme CA", "acme", Role::Ca)).unwrap();
    let trust =
        Arc::new(ingot_execution::LiveConsortium::of_members([("acme", ca.as_str())]).unwrap());
    let alice = member(&ca_key, &ca, "alice", "acme", Role::Member, Scheme::Ed25519);
    (Executor::new(trust), sha256(&[b"chain"]), alice)
}

/// Alice's notary record of document `i` (salt `i`), valid until `valid_until`.
fn notary_record(
    alice: &Member,
    chain: ingot_types::Digest,
    i: u64,
    valid_until: u64,
) -> ingot_types::SignedTransaction {
    tx(
        alice,
        chain,
        "notary",
        "record",
        json!({"document_hash": format!("{i:064x}")}),
        valid_until,
        i,
    )
}

/// Replays are refused while the original could still be valid, then as
/// expired — across blocks, however many transactions share an expiry height
/// (that once built a state value too large to read back, found by `ingot
/// bench`) — and without an authenticated state entry per transaction.
#[test]
fn replays_are_refused_for_the_whole_validity_window() {
    deterministic::Runner::default().start(|ctx| async move {
        let (exec, chain, alice) = acme_with_alice();
        let mut state = StateStore::open(ctx.child("state"), "x").await.unwrap();
        let record = |i: u64| notary_record(&alice, chain, i, 5);
        let n = 3_000u64;
        for height in 1..=3u64 {
            let txs: Vec<_> = (0..n / 3)
                .map(|i| record((height - 1) * n / 3 + i))
                .collect();
            let out = exec
                .execute_block(&mut state, &block(height, txs))
                .await
                .unwrap();
            assert!(out.receipts.iter().all(|r| r.status == Status::Success));
            assert_eq!(out.included.len() as u64, n / 3);
        }
        assert_eq!(exec.recent().len() as u64, n);
        // Height 4 and 5: still valid, so a replay.
        for height in 4..=5u64 {
            let out = exec
                .execute_block(&mut state, &block(height, vec![record(0), record(n - 1)]))
                .await
                .unwrap();
            for r in &out.receipts {
                assert!(status(&r.status).starts_with("replay:"), "{:?}", r.status);
            }
            assert!(out.included.is_empty());
        }
        // Height 6: past `valid_until`, refused as expired.
        let out = exec
            .execute_block(&mut state, &block(6, vec![record(0)]))
            .await
            .unwrap();
        assert!(status(&out.receipts[0].status).starts_with("expired"));
        // 3,000 transactions, one authenticated entry each (their documents).
        let mut missing = 0;
        for i in 0..n {
            if state
                .get(&ingot_execution::modules::notary::doc_key(&{
                    let mut d = [0u8; 32];
                    d[24..].copy_from_slice(&i.to_be_bytes());
                    d
                }))
                .await
                .unwrap()
                .is_none()
            {
                missing += 1;
            }
        }
        assert_eq!(missing, 0);
    });
}

/// After a restart the replay window is rebuilt from the journal's receipts:
/// the included transaction is still refused, the one refused as a replay
/// does not count, and a new one passes.
#[test]
fn a_replay_window_rebuilt_from_receipts_still_refuses_replays() {
    deterministic::Runner::default().start(|ctx| async move {
        let (exec, chain, alice) = acme_with_alice();
        let mut state = StateStore::open(ctx.child("state"), "x").await.unwrap();
        let record = |i: u64| notary_record(&alice, chain, i, 50);
        let out = exec
            .execute_block(&mut state, &block(1, vec![record(1), record(1)]))
            .await
            .unwrap();
        assert!(status(&out.receipts[1].status).starts_with("replay:"));

        // "Restart": a new executor whose window comes from the receipts.
        let recent = Arc::new(ingot_execution::RecentTxs::new());
        recent.record_receipts(1, &out.receipts);
        assert_eq!(recent.len(), 1);
        let restarted = Executor::with_recent(exec.trust().clone(), recent);
        let out = restarted
            .execute_block(&mut state, &block(2, vec![record(1), record(2)]))
            .await
            .unwrap();
        assert!(
            status(&out.receipts[0].status).starts_with("replay: already included at height 1"),
            "{:?}",
            out.receipts[0].status
        );
        assert_eq!(out.receipts[1].status, Status::Success);
    });
}

/// Regression: `valid_until = u64::MAX` overflowed the expiry arithmetic and
/// panicked every validator executing the block.
#[test]
fn a_huge_validity_bound_is_refused_without_panicking() {
    deterministic::Runner::default().start(|ctx| async move {
        let (exec, chain, alice) = acme_with_alice();
        let mut state = StateStore::open(ctx.child("state"), "x").await.unwrap();
        let t = tx(
            &alice,
            chain,
            "notary",
            "record",
            json!({"document_hash": "55".repeat(32)}),
            u64::MAX,
            1,
        );
        let out = exec
            .execute_block(&mut state, &block(1, vec![t]))
            .await
            .unwrap();
        assert!(status(&out.receipts[0].status).starts_with("validity window"));
        assert!(out.included.is_empty());
    });
}

/// Block verification checks what every validator agrees on whatever
/// governance changes it has executed: this chain and a signature by the
/// certificate's key — not whether its current consortium trusts the
/// certificate (execution decides that, with the block's consortium).
#[test]
fn block_verification_does_not_depend_on_the_consortium() {
    let acme_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let acme_ca = issue_ca(&acme_key, &spec("acme CA", "acme", Role::Ca)).unwrap();
    let newco_key = PrivateKey::generate(Scheme::P256).unwrap();
    let newco_ca = issue_ca(&newco_key, &spec("newco CA", "newco", Role::Ca)).unwrap();
    let before = ingot_execution::Consortium::of_members([("acme", acme_ca.as_str())]).unwrap();
    let chain = sha256(&[b"chain"]);
    let stranger = member(
        &newco_key,
        &newco_ca,
        "n",
        "newco",
        Role::Member,
        Scheme::P256,
    );
    let alice = member(
        &acme_key,
        &acme_ca,
        "a",
        "acme",
        Role::Member,
        Scheme::Ed25519,
    );
    let args = json!({"document_hash": "11".repeat(32), "metadata": ""});
    let theirs = tx(&stranger, chain, "notary", "record", args.clone(), 10, 1);
    let ours = tx(&alice, chain, "notary", "record", args.clone(), 10, 2);
    // Not trusted by this node's consortium (not admitted here yet), yet
    // correctly signed: the block verifies.
    assert!(ingot_execution::authenticate(&before, &chain, &theirs).is_err());
    let refs = [&theirs, &ours];
    assert!(ingot_execution::verify_signed(&before, &chain, &refs)
        .iter()
        .all(Result::is_ok));
    // A signature by another key, a wrong chain or a certificate that does
    // not parse is refused, trusted or not.
    let mut forged = theirs.clone();
    forged.tx.salt = 7;
    let mut forged_ours = ours.clone();
    forged_ours.tx.salt = 7;
    let other_chain = tx(
        &alice,
        sha256(&[b"other"]),
        "notary",
        "record",
        args.clone(),
        10,
        3,
    );
    let mut garbled = ours.clone();
    garbled.tx.certificate = bytes::Bytes::from_static(b"not a certificate");
    let refs = [&forged, &forged_ours, &other_chain, &garbled];
    let got = ingot_execution::verify_signed(&before, &chain, &refs);
    assert!(got.iter().all(Result::is_err), "{got:?}");
}
