//! `cargo bench -p ingot-execution`: the per-transaction costs a validator
//! pays after consensus — decoding, admission (certificate + batched
//! signature), block execution per module including the state commit, state
//! proofs, and BPMN compilation.
//!
//! Plain timing loops like `ingot-crypto`'s bench. State lives in the
//! deterministic runtime's in-memory storage, so the figures are CPU costs
//! (execution, merkleisation, codec), not disk I/O; `ingot bench` measures
//! the whole system.

use commonware_codec::{Decode, Encode};
use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use ingot_crypto::{
    issue_ca, issue_end_entity, unix_now, CertInfo, CertSpec, PrivateKey, Role, Scheme,
};
use ingot_execution::{authenticate_all, sign_call, Executor};
use ingot_state::StateStore;
use ingot_types::{block::HEADER_VERSION, sha256, Block, Call, Header, SignedTransaction};
use serde_json::{json, Value};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const BLOCK: usize = 1_000;

fn spec(cn: &str, role: Role) -> CertSpec {
    let now = unix_now();
    CertSpec {
        common_name: cn.into(),
        organization: "acme".into(),
        san_uris: vec![],
        not_before: now - 60,
        not_after: now + 86_400,
        role,
    }
}

fn per_second(items: usize, mut f: impl FnMut()) -> f64 {
    f();
    let (start, mut rounds) = (Instant::now(), 0usize);
    while start.elapsed() < Duration::from_secs(1) {
        f();
        rounds += 1;
    }
    (rounds * items) as f64 / start.elapsed().as_secs_f64()
}

struct Member {
    key: PrivateKey,
    der: bytes::Bytes,
}

impl Member {
    fn tx(
        &self,
        chain: ingot_types::Digest,
        module: &str,
        method: &str,
        args: Value,
        salt: u64,
    ) -> SignedTransaction {
        let args = ingot_execution::args::from_json(module, method, &args).unwrap();
        sign_call(
            &self.key,
            self.der.clone(),
            chain,
            // Within the validity window of the first blocks.
            900,
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

/// `n` notary records of fresh documents.
fn notary(
    member: &Member,
    chain: ingot_types::Digest,
    n: usize,
    salt: &mut u64,
) -> Vec<SignedTransaction> {
    (0..n)
        .map(|_| {
            *salt += 1;
            let doc = hex::encode(sha256(&[&salt.to_be_bytes()]));
            member.tx(
                chain,
                "notary",
                "record",
                json!({"document_hash": doc, "metadata": "bench"}),
                *salt,
            )
        })
        .collect()
}

fn block(height: u64, txs: Vec<SignedTransaction>) -> Block {
    let header = Header {
        version: HEADER_VERSION,
        parent: sha256(&[&height.to_be_bytes()]),
        height,
        timestamp_ms: unix_now() as u64 * 1000 + height,
        proposer: [0; 32],
        tx_count: txs.len() as u32,
        tx_root: Block::compute_tx_root(&txs),
        exec_height: 0,
        results: vec![],
        next_validators: None,
    };
    Block::new(header, txs)
}

fn main() {
    let ca_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let ca_pem = issue_ca(&ca_key, &spec("acme CA", Role::Ca)).unwrap();
    let trust =
        Arc::new(ingot_execution::LiveConsortium::of_members([("acme", ca_pem.as_str())]).unwrap());
    let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let pem = issue_end_entity(
        &ca_key,
        &ca_pem,
        &key.public_key(),
        &spec("bench", Role::Member),
    )
    .unwrap();
    let member = Member {
        key,
        der: CertInfo::from_pem(&pem).unwrap().der.into(),
    };
    let chain = sha256(&[b"bench"]);
    let mut salt = 0u64;
    // Codec and admission.
    let txs = notary(&member, chain, BLOCK, &mut salt);
    let encoded: Vec<Vec<u8>> = txs.iter().map(|t| t.encode().to_vec()).collect();
    let decode = per_second(BLOCK, || {
        for e in &encoded {
            SignedTransaction::decode_cfg(e.clone(), &()).unwrap();
        }
    });
    println!("transaction decode: {decode:.0} tx/s");
    let refs: Vec<&SignedTransaction> = txs.iter().collect();
    let admit = per_second(BLOCK, || {
        assert!(authenticate_all(&trust.current(), &chain, &refs)
            .iter()
            .all(Result::is_ok))
    });
    println!(
        "admission (certificate cached + batched Ed25519), blocks of {BLOCK}: {admit:.0} tx/s"
    );

    // Execution per module, state commit included.
    let purchase = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/workflows/purchase-order/process.bpmn"
    ))
    .unwrap();
    let bindings: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/workflows/purchase-order/bindings.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let compile = per_second(1, || {
        ingot_bpmn::compile_xml(&purchase, &bindings).unwrap();
    });
    println!("BPMN parse + validate + compile (purchase-order, 24 elements): {compile:.0} /s");

    deterministic::Runner::default().start(|ctx| async move {
        let exec = Executor::new(trust);
        let mut state = StateStore::open(ctx.child("state"), "bench").await.unwrap();
        let mut height = 0u64;
        let mut run = |txs: Vec<SignedTransaction>| {
            height += 1;
            block(height, txs)
        };
        // Notary: a fresh document per transaction.
        let mut total = Duration::ZERO;
        for _ in 0..5 {
            let b = run(notary(&member, chain, BLOCK, &mut salt));
            let t = Instant::now();
            let out = exec.execute_block(&mut state, &b).await.unwrap();
            total += t.elapsed();
            assert!(out.receipts.iter().all(|r| r.status == ingot_types::Status::Success));
        }
        println!("execute notary.record, blocks of {BLOCK} (commit included): {:.0} tx/s", 5.0 * BLOCK as f64 / total.as_secs_f64());

        // Workflow: deploy, start BLOCK instances, then complete a task of each.
        let deploy = member.tx(chain, "workflow", "deploy", json!({"xml": BENCH_PROCESS, "bindings": {"participants": {"P": "org:acme"}, "name": "b"}}), 1 << 40);
        let b = run(vec![deploy]);
        exec.execute_block(&mut state, &b).await.unwrap();
        let starts: Vec<_> = (0..BLOCK as u64).map(|i| member.tx(chain, "workflow", "start", json!({"definition": "b"}), (2 << 40) + i)).collect();
        let b = run(starts);
        let t = Instant::now();
        exec.execute_block(&mut state, &b).await.unwrap();
        println!("execute workflow.start, block of {BLOCK}: {:.0} tx/s", BLOCK as f64 / t.elapsed().as_secs_f64());
        let completes: Vec<_> = (1..=BLOCK as u64).map(|i| member.tx(chain, "workflow", "complete", json!({"instance": format!("b-{i}"), "element": "T1"}), (3 << 40) + i)).collect();
        let b = run(completes);
        let t = Instant::now();
        let out = exec.execute_block(&mut state, &b).await.unwrap();
        println!("execute workflow.complete (+ gateway), block of {BLOCK}: {:.0} tx/s", BLOCK as f64 / t.elapsed().as_secs_f64());
        assert!(out.receipts.iter().all(|r| r.status == ingot_types::Status::Success));

        // Proofs of present keys.
        let key = ingot_execution::modules::workflow::instance_key("b-1");
        let prove = {
            let start = Instant::now();
            let mut n = 0;
            while start.elapsed() < Duration::from_secs(1) {
                state.prove(&key).await.unwrap();
                n += 1;
            }
            n as f64 / start.elapsed().as_secs_f64()
        };
        println!("state proof generation: {prove:.0} proofs/s");
    });
}

const BENCH_PROCESS: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <bpmn:process id="P" name="b">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="T1"/>
    <bpmn:exclusiveGateway id="G"/>
    <bpmn:userTask id="T2"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="T1"/>
    <bpmn:sequenceFlow id="f2" sourceRef="T1" targetRef="G"/>
    <bpmn:sequenceFlow id="f3" sourceRef="G" targetRef="T2"/>
    <bpmn:sequenceFlow id="f4" sourceRef="T2" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;
