//! A BPMN process instance through whole validators in the deterministic
//! simulator: deployed, started and moved through different nodes, a parallel
//! join, a timer fired by block time whose continuation calls a service task,
//! a validator crashing mid-instance and catching up — and every node holding
//! the same instance, history and state root.

use commonware_codec::Decode;
use commonware_runtime::{deterministic, Clock, Runner};
use ingot_bpmn::machine::{state as istate, Instance};
use ingot_execution::modules::{notary::doc_key, workflow::instance_key};
use ingot_sim::*;
use serde_json::json;
use std::time::Duration;

const PROCESS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Inspection" name="Line inspection" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:parallelGateway id="Split"/>
    <bpmn:userTask id="Mechanical" name="Mechanical check"/>
    <bpmn:userTask id="Electrical" name="Electrical check"/>
    <bpmn:parallelGateway id="Join"/>
    <bpmn:intermediateCatchEvent id="Cooldown" name="Cool down">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT2S</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:serviceTask id="Record" name="Record the report"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Split"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Split" targetRef="Mechanical"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Split" targetRef="Electrical"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Mechanical" targetRef="Join"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Electrical" targetRef="Join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="Join" targetRef="Cooldown"/>
    <bpmn:sequenceFlow id="f7" sourceRef="Cooldown" targetRef="Record"/>
    <bpmn:sequenceFlow id="f8" sourceRef="Record" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

async fn instance_on(node: &Node) -> (Vec<u8>, Instance) {
    let s = node.shared().unwrap();
    let state = s.state.read().await;
    let raw = state
        .get(&instance_key("inspection-1"))
        .await
        .unwrap()
        .unwrap();
    let inst = Instance::decode_cfg(raw.clone(), &()).unwrap();
    (raw, inst)
}

async fn scenario(ctx: Ctx) {
    let c = consortium(4);
    let oracle = network(&ctx, &c).await;
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(start_node(&ctx, &oracle, &c, i).await);
    }
    wait_executed(&ctx, &nodes.iter().collect::<Vec<_>>(), 1).await;
    let tx = |method: &str, args: serde_json::Value, salt: u64| {
        let args = ingot_execution::args::from_json("workflow", method, &args).unwrap();
        c.call_tx("workflow", method, args, salt, 800)
    };
    let report = hex::encode([0x5a; 32]);
    let bindings = json!({
        "name": "inspection",
        "participants": {"Inspection": "org:acme"},
        "variables": {"report": "string"},
        "outputs": {"S": ["report"]},
        "services": {"Record": {"call": "notary.record", "args": {"document_hash": "report", "metadata": "'inspection report'"}}}
    });
    let mut hashes = Vec::new();
    let mut send = |node: usize, t: ingot_types::SignedTransaction, nodes: &Vec<Node>| {
        hashes.push(t.hash());
        nodes[node].shared().unwrap().submit(t, false).unwrap();
        hashes.clone()
    };
    let h = send(
        0,
        tx("deploy", json!({"xml": PROCESS, "bindings": bindings}), 1),
        &nodes,
    );
    wait_located(&ctx, &nodes[0], &h).await;
    let h = send(
        1,
        tx(
            "start",
            json!({"definition": "inspection", "vars": {"report": report}}),
            2,
        ),
        &nodes,
    );
    wait_located(&ctx, &nodes[0], &h).await;
    let h = send(
        2,
        tx(
            "complete",
            json!({"instance": "inspection-1", "element": "Mechanical"}),
            3,
        ),
        &nodes,
    );
    wait_located(&ctx, &nodes[0], &h).await;

    // Validator 3 crashes with the instance half done.
    let crashed = nodes.remove(3);
    crashed.handle.abort();
    let _ = crashed.handle.await;
    crashed.shared.lock().unwrap().take();
    let h = send(
        0,
        tx(
            "complete",
            json!({"instance": "inspection-1", "element": "Electrical"}),
            4,
        ),
        &nodes,
    );
    wait_located(&ctx, &nodes[0], &h).await;
    // The join fired; the timer fires by block time, then the service task.
    ctx.sleep(Duration::from_secs(4)).await;
    nodes.push(start_node(&ctx, &oracle, &c, 3).await);
    let target = nodes[0].shared().unwrap().executed_height() + 3;
    let refs: Vec<_> = nodes.iter().collect();
    wait_executed(&ctx, &refs, target).await;
    assert_agree(&refs, target).await;

    let (first, inst) = instance_on(&nodes[0]).await;
    assert_eq!(inst.state, istate::COMPLETED, "the instance finished");
    // One history entry per move: start, two completions, the timer.
    assert_eq!(inst.steps, 4, "history entries");
    for n in &nodes[1..] {
        assert_eq!(
            instance_on(n).await.0,
            first,
            "identical instance on every node"
        );
        let s = n.shared().unwrap();
        let state = s.state.read().await;
        let mut doc = [0u8; 32];
        doc.copy_from_slice(&hex::decode(&report).unwrap());
        assert!(
            state.get(&doc_key(&doc)).await.unwrap().is_some(),
            "the service task after the timer recorded the report"
        );
    }
}

#[test]
fn workflow_instance_survives_a_crash_and_agrees() {
    for seed in [31, 32] {
        let cfg = deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(600)));
        deterministic::Runner::new(cfg).start(scenario);
    }
}
