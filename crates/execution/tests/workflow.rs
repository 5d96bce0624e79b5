//! The six industrial processes of `examples/workflows`, each deployed and
//! driven through the executor (signed transactions, blocks, state) by its
//! `scenario.json`, with allowed and forbidden actors; plus deployment rules
//! (versions, ownership) and service tasks.

mod common;

use common::*;
use commonware_codec::Decode;
use commonware_runtime::{deterministic, Runner as _};
use ingot_bpmn::{engine, machine::Instance, Machine};
use ingot_crypto::{
    issue_ca, issue_end_entity, unix_now, CertInfo, CertSpec, PrivateKey, Role, Scheme,
};
use ingot_execution::modules::workflow::{instance_key, load_definition_raw};
use ingot_types::sha256;
use serde_json::{json, Value};
use std::{collections::BTreeMap, path::PathBuf};

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/workflows")
}

/// A chain whose genesis has one CA per organisation the scenario names.
pub struct World {
    pub chain: Chain,
    pub actors: BTreeMap<String, Member>,
}

fn long_spec(cn: &str, org: &str, role: Role) -> CertSpec {
    let now = unix_now();
    CertSpec {
        common_name: cn.into(),
        organization: org.into(),
        san_uris: vec![],
        not_before: now - 60,
        // Scenarios wait for timers of weeks of block time.
        not_after: now + 400 * 86_400,
        role,
    }
}

pub async fn world(ctx: &deterministic::Context, actors: &Value) -> World {
    let mut cas: BTreeMap<String, (PrivateKey, String)> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (name, a) in actors.as_object().expect("actors object") {
        let org = a["org"].as_str().expect("actor org").to_string();
        let role = match a["role"].as_str().unwrap_or("member") {
            "admin" => Role::Admin,
            _ => Role::Member,
        };
        let (ca_key, ca_pem) = cas.entry(org.clone()).or_insert_with(|| {
            let k = PrivateKey::generate(Scheme::Ed25519).unwrap();
            let pem = issue_ca(&k, &long_spec(&format!("{org} CA"), &org, Role::Ca)).unwrap();
            (k, pem)
        });
        let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let pem = issue_end_entity(
            ca_key,
            ca_pem,
            &key.public_key(),
            &long_spec(name, &org, role),
        )
        .unwrap();
        out.insert(
            name.clone(),
            Member {
                der: CertInfo::from_pem(&pem).unwrap().der.into(),
                key,
                pem,
            },
        );
    }
    let trust = ingot_execution::LiveConsortium::of_members(
        cas.iter().map(|(o, (_, pem))| (o.as_str(), pem.as_str())),
    )
    .unwrap();
    let mut chain = Chain::open(ctx, trust, "workflow").await;
    chain.clock_ms = Some(unix_now() as u64 * 1000);
    World { chain, actors: out }
}

impl World {
    /// One transaction in its own block, one second after the last.
    pub async fn send(
        &mut self,
        who: &str,
        module: &str,
        method: &str,
        args: Value,
    ) -> ingot_types::Receipt {
        let member = self
            .actors
            .get(who)
            .unwrap_or_else(|| panic!("unknown actor {who}"));
        let tx = self.chain.call_module(member, module, method, args);
        self.tick(1000);
        self.chain.execute(vec![tx]).await.remove(0)
    }

    pub fn tick(&mut self, ms: u64) {
        if let Some(t) = self.chain.clock_ms.as_mut() {
            *t += ms;
        }
    }

    pub async fn instance(&self, id: &str) -> (Instance, Machine) {
        let raw = self
            .chain
            .state
            .get(&instance_key(id))
            .await
            .unwrap()
            .expect("instance stored");
        let inst = Instance::decode_cfg(raw, &()).unwrap();
        let machine = load_definition_raw(&self.chain.state, &inst.definition, inst.version)
            .await
            .unwrap();
        (inst, machine)
    }
}

fn outcome(r: &ingot_types::Receipt) -> String {
    status(&r.status)
}

fn check_expect(step: &Value, got: &str, i: usize, name: &str) {
    match step.get("expect") {
        None => assert_eq!(got, "ok", "{name} step {i}: {step}"),
        Some(Value::String(s)) if s == "ok" => assert_eq!(got, "ok", "{name} step {i}: {step}"),
        Some(e) => {
            let needle = e["refused"]
                .as_str()
                .unwrap_or_else(|| panic!("bad expect in {name} step {i}"));
            assert!(
                got != "ok",
                "{name} step {i} should be refused ({needle}) but succeeded: {step}"
            );
            assert!(
                got.contains(needle),
                "{name} step {i}: refusal `{got}` lacks `{needle}`"
            );
        }
    }
}

/// Deploy a process and play its scenario.
async fn play(ctx: &deterministic::Context, name: &str) {
    let dir = examples().join(name);
    let xml = std::fs::read_to_string(dir.join("process.bpmn")).unwrap();
    let bindings: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bindings.json")).unwrap()).unwrap();
    let scenario: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("scenario.json")).unwrap()).unwrap();
    let mut w = world(ctx, &scenario["actors"]).await;
    let deployer = w.actors.keys().next().unwrap().clone();
    let r = w
        .send(
            &deployer,
            "workflow",
            "deploy",
            json!({"xml": xml, "bindings": bindings}),
        )
        .await;
    assert_eq!(outcome(&r), "ok", "{name}: deploy");
    let definition = bindings["name"].as_str().unwrap_or(name).to_string();
    let mut instances: Vec<String> = Vec::new();
    for (i, step) in scenario["steps"].as_array().unwrap().iter().enumerate() {
        let who = step["as"].as_str().unwrap_or("");
        let target = |instances: &Vec<String>| -> String {
            match step.get("instance").and_then(Value::as_u64) {
                Some(n) => instances[n as usize - 1].clone(),
                None => instances.last().cloned().unwrap_or_default(),
            }
        };
        if let Some(start) = step.get("start") {
            let r = w
                .send(
                    who,
                    "workflow",
                    "start",
                    json!({"definition": definition, "vars": start["vars"].clone()}),
                )
                .await;
            let got = outcome(&r);
            check_expect(step, &got, i, name);
            if got == "ok" {
                let id = r
                    .events
                    .iter()
                    .find_map(|e| {
                        e.attributes
                            .iter()
                            .find(|(k, _)| k == "instance")
                            .map(|(_, v)| v.clone())
                    })
                    .unwrap();
                instances.push(id);
            }
        } else if let Some(task) = step.get("complete").and_then(Value::as_str) {
            let args = json!({"instance": target(&instances), "element": task, "vars": step.get("vars").cloned().unwrap_or(json!({}))});
            let r = w.send(who, "workflow", "complete", args).await;
            check_expect(step, &outcome(&r), i, name);
        } else if step.get("cancel").is_some() {
            let r = w
                .send(
                    who,
                    "workflow",
                    "cancel",
                    json!({"instance": target(&instances)}),
                )
                .await;
            check_expect(step, &outcome(&r), i, name);
        } else if let Some(call) = step.get("call") {
            let r = w
                .send(
                    who,
                    call["module"].as_str().unwrap(),
                    call["method"].as_str().unwrap(),
                    call["args"].clone(),
                )
                .await;
            check_expect(step, &outcome(&r), i, name);
        } else if let Some(ms) = step.get("wait_ms").and_then(Value::as_u64) {
            w.tick(ms);
            w.chain.execute(vec![]).await;
        } else if let Some(check) = step.get("check") {
            let (inst, machine) = w.instance(&target(&instances)).await;
            if let Some(s) = check.get("state").and_then(Value::as_str) {
                assert_eq!(
                    ingot_bpmn::machine::state::name(inst.state),
                    s,
                    "{name} step {i}: state"
                );
            }
            if let Some(active) = check.get("active").and_then(Value::as_array) {
                let mut want: Vec<String> = active
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
                    .collect();
                want.sort();
                assert_eq!(
                    engine::waiting(&machine, &inst),
                    want,
                    "{name} step {i}: active elements"
                );
            }
            if let Some(vars) = check.get("vars").and_then(Value::as_object) {
                let have: BTreeMap<String, Value> = engine::variables(&machine, &inst)
                    .into_iter()
                    .map(|(k, v)| (k, v.to_json()))
                    .collect();
                for (k, v) in vars {
                    let got = have
                        .get(k)
                        .unwrap_or_else(|| panic!("{name} step {i}: variable {k} unset"));
                    let same = got == v
                        || got.as_str().zip(v.as_str()).is_some_and(|(a, b)| {
                            a.trim_end_matches('0') == b.trim_end_matches('0')
                        })
                        || Some(got.to_string()) == v.as_str().map(str::to_string);
                    assert!(same, "{name} step {i}: variable {k} = {got}, expected {v}");
                }
            }
        } else {
            panic!("{name} step {i}: unknown step {step}");
        }
    }
    assert!(
        !instances.is_empty(),
        "{name}: the scenario started nothing"
    );
}

fn run(name: &'static str) {
    deterministic::Runner::default().start(|ctx| async move { play(&ctx, name).await });
}

#[test]
fn logistics_relay() {
    run("logistics-relay");
}

#[test]
fn maintenance_order() {
    run("maintenance-order");
}

#[test]
fn purchase_order() {
    run("purchase-order");
}

#[test]
fn production_split() {
    run("production-split");
}

#[test]
fn receivable_financing() {
    run("receivable-financing");
}

#[test]
fn battery_recycling() {
    run("battery-recycling");
}

/// A minimal process for deployment rules and service tasks.
const NOTARISE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Notarise" name="Notarise report" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="Review" name="Review report"/>
    <bpmn:serviceTask id="Record" name="Record on chain"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="Record"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Record" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

fn notarise_bindings() -> Value {
    json!({
        "participants": {"Notarise": "org:Acme"},
        "variables": {"report": "string"},
        "outputs": {"Review": ["report"]},
        "services": {"Record": {"call": "notary.record", "args": {"document_hash": "report", "metadata": "'reviewed report'"}}}
    })
}

#[test]
fn versions_ownership_and_service_tasks() {
    deterministic::Runner::default().start(|ctx| async move {
        let actors = json!({"acme": {"org": "Acme"}, "rival": {"org": "Rival"}});
        let mut w = world(&ctx, &actors).await;
        let deploy = json!({"xml": NOTARISE, "bindings": notarise_bindings()});
        assert_eq!(outcome(&w.send("acme", "workflow", "deploy", deploy.clone()).await), "ok");
        // Another organisation may not publish a version of Acme's process.
        let r = w.send("rival", "workflow", "deploy", deploy.clone()).await;
        assert_refused(&outcome(&r), "belongs to Acme");
        assert_eq!(outcome(&w.send("acme", "workflow", "start", json!({"definition": "notarise-report"})).await), "ok");
        // Version 2 does not move instance 1 off version 1.
        assert_eq!(outcome(&w.send("acme", "workflow", "deploy", deploy).await), "ok");
        assert_eq!(outcome(&w.send("acme", "workflow", "start", json!({"definition": "notarise-report"})).await), "ok");
        let (i1, _) = w.instance("notarise-report-1").await;
        let (i2, _) = w.instance("notarise-report-2").await;
        assert_eq!((i1.version, i2.version), (1, 2));

        // The service task records the document as the completing actor;
        // its failure (a malformed hash) fails the whole completion.
        let bad = json!({"instance": "notarise-report-1", "element": "Review", "vars": {"report": "not-hex"}});
        let r = w.send("acme", "workflow", "complete", bad).await;
        assert_refused(&outcome(&r), "service task `Record`");
        let (still, _) = w.instance("notarise-report-1").await;
        assert_eq!(still.active.len(), 1, "a failed completion changed the instance");
        let hash = hex::encode([7u8; 32]);
        let good = json!({"instance": "notarise-report-1", "element": "Review", "vars": {"report": hash}});
        let r = w.send("acme", "workflow", "complete", good).await;
        assert_eq!(outcome(&r), "ok");
        assert!(r.events.iter().any(|e| e.module == "notary" && e.kind == "recorded"));
        let (done, _) = w.instance("notarise-report-1").await;
        assert_eq!(done.state, ingot_bpmn::machine::state::COMPLETED);
        // Invalid models are refused with the validator's reasons.
        let broken = NOTARISE.replace(r#"<bpmn:sequenceFlow id="f3" sourceRef="Record" targetRef="E"/>"#, "");
        let r = w.send("acme", "workflow", "deploy", json!({"xml": broken, "bindings": notarise_bindings()})).await;
        assert_refused(&outcome(&r), "dead end at Record");
    });
}

/// A process started by a chain event: every document Acme records opens an
/// inspection (the white paper's work orders opened by device rules use the
/// same binding with `telemetry.rule`).
const ON_RECORD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Inspect" name="Inspect records" isExecutable="true">
    <bpmn:startEvent id="Recorded" name="Document recorded"><bpmn:messageEventDefinition/></bpmn:startEvent>
    <bpmn:userTask id="Check" name="Check the document"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Recorded" targetRef="Check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

#[test]
fn chain_events_start_instances() {
    deterministic::Runner::default().start(|ctx| async move {
        let actors = json!({"acme": {"org": "Acme"}, "rival": {"org": "Rival"}});
        let mut w = world(&ctx, &actors).await;
        let bindings = json!({
            "participants": {"Inspect": "org:Acme"},
            "variables": {"doc": "string"},
            "messages": {"Recorded": {"event": "notary.recorded", "attribute": "org", "value": "Acme", "vars": {"doc": "document_hash"}}}
        });
        let r = w.send("acme", "workflow", "deploy", json!({"xml": ON_RECORD, "bindings": bindings})).await;
        assert_eq!(outcome(&r), "ok");
        // Not startable by hand.
        let r = w.send("acme", "workflow", "start", json!({"definition": "inspect-records"})).await;
        assert_refused(&outcome(&r), "starts only by a chain event or a signal");
        // Rival's record does not match; Acme's starts an instance in the same transaction.
        let other = hex::encode([1u8; 32]);
        let r = w.send("rival", "notary", "record", json!({"document_hash": other, "metadata": "x"})).await;
        assert_eq!(outcome(&r), "ok");
        assert!(!r.events.iter().any(|e| e.module == "workflow"));
        let doc = hex::encode([2u8; 32]);
        let r = w.send("acme", "notary", "record", json!({"document_hash": doc, "metadata": "x"})).await;
        assert_eq!(outcome(&r), "ok");
        assert!(r.events.iter().any(|e| e.module == "workflow" && e.kind == "step"));
        let (inst, machine) = w.instance("inspect-records-1").await;
        assert_eq!(engine::waiting(&machine, &inst), vec!["Check".to_string()]);
        assert_eq!(
            engine::variables(&machine, &inst),
            vec![("doc".to_string(), ingot_bpmn::expr::Value::Text(doc))]
        );
        let r = w.send("acme", "workflow", "complete", json!({"instance": "inspect-records-1", "element": "Check"})).await;
        assert_eq!(outcome(&r), "ok");
        let (inst, _) = w.instance("inspect-records-1").await;
        assert_eq!(inst.state, ingot_bpmn::machine::state::COMPLETED);
    });
}

/// A process whose layout makes it too large to deploy whole (as real
/// modelers' files are): the process is deployed, its diagram interchange
/// attached after it in chunks by the owner only, in order, checked against
/// its digest and for being layout only, final once attached, and the stored
/// document is the designer's file byte for byte.
#[test]
fn a_diagram_is_attached_apart_and_read_back_byte_for_byte() {
    use ingot_bpmn::diagram::{chunks, split};
    use ingot_execution::modules::workflow::diagram::stored_document;
    deterministic::Runner::default().start(|ctx| async move {
        let actors = json!({"acme": {"org": "Acme"}, "rival": {"org": "Rival"}});
        let mut w = world(&ctx, &actors).await;
        let shapes: String = (0..1_500)
            .map(|i| format!(r#"<bpmndi:BPMNShape id="Shape_{i}" bpmnElement="Review"><dc:Bounds x="{i}" y="80" width="100" height="80" /></bpmndi:BPMNShape>"#))
            .collect();
        let designed = NOTARISE
            .replace(
                r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL""#,
                r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC""#,
            )
            .replace(
                "</bpmn:definitions>",
                &format!("  <bpmndi:BPMNDiagram id=\"Dia\"><bpmndi:BPMNPlane id=\"Plane\" bpmnElement=\"Notarise\">{shapes}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>\n</bpmn:definitions>"),
            );
        assert!(designed.len() > ingot_bpmn::xml::MAX_XML_BYTES);
        let s = split(&designed).expect("the layout can be set apart");
        let parts = chunks(&s.diagram);
        assert!(parts.len() >= 3, "{} chunks", parts.len());
        let digest = hex::encode(sha256(&[s.diagram.as_bytes()]));
        let chunk = |version: u32, index: usize, text: &str, digest: &str| {
            json!({"definition": "notarise-report", "version": version, "offset": s.offset, "total": s.diagram.len(), "sha256": digest, "index": index, "chunk": text})
        };
        let deploy = json!({"xml": s.process, "bindings": notarise_bindings()});
        assert_eq!(outcome(&w.send("acme", "workflow", "deploy", deploy.clone()).await), "ok");

        // Only the owner's organisation, only in order.
        let r = w.send("rival", "workflow", "diagram", chunk(1, 0, parts[0], &digest)).await;
        assert_refused(&outcome(&r), "Rival may not attach its diagram");
        let r = w.send("acme", "workflow", "diagram", chunk(1, 1, parts[1], &digest)).await;
        assert_refused(&outcome(&r), "expected chunk 0");
        for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
            let r = w.send("acme", "workflow", "diagram", chunk(1, i, part, &digest)).await;
            assert_eq!(outcome(&r), "ok", "chunk {i}");
            assert!(r.events.is_empty(), "not attached before the last chunk");
        }
        // The last chunk with other bytes of the same length: the digest fails
        // and nothing is attached; the right one then completes it.
        let last = parts.len() - 1;
        let forged = parts[last].replace("Shape_", "Shape-");
        let r = w.send("acme", "workflow", "diagram", chunk(1, last, &forged, &digest)).await;
        assert_refused(&outcome(&r), "SHA-256");
        let r = w.send("acme", "workflow", "diagram", chunk(1, last, parts[last], &digest)).await;
        assert_eq!(outcome(&r), "ok");
        assert!(r.events.iter().any(|e| e.kind == "diagram_attached"));
        // Final: not even the owner may change it.
        let r = w.send("acme", "workflow", "diagram", chunk(1, 0, parts[0], &digest)).await;
        assert_refused(&outcome(&r), "already has its diagram");

        let state = &w.chain.state;
        let get = |key: Vec<u8>| async move { state.get(&key).await.map_err(|e| e.to_string()) };
        let (stored, record) = stored_document(get, |e| e, "notarise-report", 1)
            .await
            .unwrap()
            .expect("deployed");
        assert_eq!(stored, designed.as_bytes(), "the designer's file, byte for byte");
        assert!(record.expect("a diagram record").attached);

        // A "diagram" that is a process is refused whole; an upload
        // restarted at chunk 0 then attaches the real one.
        assert_eq!(outcome(&w.send("acme", "workflow", "deploy", deploy).await), "ok");
        let smuggled = r#"<bpmn:process id="Other" isExecutable="true"><bpmn:startEvent id="X"/></bpmn:process>"#;
        let smuggled_digest = hex::encode(sha256(&[smuggled.as_bytes()]));
        let r = w
            .send("acme", "workflow", "diagram", json!({"definition": "notarise-report", "version": 2, "offset": s.offset, "total": smuggled.len(), "sha256": smuggled_digest, "index": 0, "chunk": smuggled}))
            .await;
        assert_refused(&outcome(&r), "not diagram interchange");
        for (i, part) in parts.iter().enumerate() {
            let r = w.send("acme", "workflow", "diagram", chunk(2, i, part, &digest)).await;
            assert_eq!(outcome(&r), "ok", "version 2 chunk {i}");
        }
    });
}

/// A quality inspection another process calls.
const INSPECTION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Inspection" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="Inspect"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Inspect"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Inspect" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// An order that calls the inspection, with a deadline on the call.
const ORDER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Order" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:callActivity id="CallInspection" calledElement="Inspection"/>
    <bpmn:boundaryEvent id="Late" attachedToRef="CallInspection">
      <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="Ship"/>
    <bpmn:userTask id="Chase"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="CallInspection"/>
    <bpmn:sequenceFlow id="f2" sourceRef="CallInspection" targetRef="Ship"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Ship" targetRef="E"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Late" targetRef="Chase"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Chase" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// Call activities (issue 20): the order starts the deployed inspection in
/// the same transaction with its inputs, as the actor whose step reached the
/// call (who must be allowed to start it); the inspection's end returns its
/// outputs to the order; a called instance cannot be cancelled on its own;
/// an interrupting deadline on the call cancels the called instance.
#[test]
fn call_activities_start_and_wait_for_a_deployed_definition() {
    deterministic::Runner::default().start(|ctx| async move {
        let actors = json!({"acme": {"org": "Acme"}, "rival": {"org": "Rival"}});
        let mut w = world(&ctx, &actors).await;
        let inspection = inspection_bindings();
        let order = json!({
            "name": "order", "participants": {"Order": "org:Acme"}, "start": "any",
            "variables": {"order_no": "string", "ok": "boolean"},
            "outputs": {"S": ["order_no"]},
            "calls": {"CallInspection": {"definition": "inspection",
                "inputs": {"lot": "'lot of ' + order_no"}, "outputs": {"ok": "passed"}}}
        });
        // Deployed in either order: the call is resolved when it happens.
        let r = w
            .send(
                "acme",
                "workflow",
                "deploy",
                json!({"xml": ORDER, "bindings": order}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        let r = w
            .send(
                "acme",
                "workflow",
                "start",
                json!({"definition": "order", "vars": {"order_no": "7"}}),
            )
            .await;
        assert_refused(
            &outcome(&r),
            "calls `inspection` version 0, which is not deployed",
        );
        let r = w
            .send(
                "acme",
                "workflow",
                "deploy",
                json!({"xml": INSPECTION, "bindings": inspection.clone()}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");

        // Rival may start the order (start: any) but not the inspection.
        let r = w
            .send(
                "rival",
                "workflow",
                "start",
                json!({"definition": "order", "vars": {"order_no": "6"}}),
            )
            .await;
        assert_refused(&outcome(&r), "could not start `inspection`");

        let r = w
            .send(
                "acme",
                "workflow",
                "start",
                json!({"definition": "order", "vars": {"order_no": "7"}}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        let (order_1, m) = w.instance("order-1").await;
        assert_eq!(engine::waiting(&m, &order_1), ["CallInspection"]);
        let (inspection_1, im) = w.instance("inspection-1").await;
        let lot = engine::variables(&im, &inspection_1);
        assert_eq!(lot[0].1, ingot_bpmn::expr::Value::Text("lot of 7".into()));
        let r = w
            .send(
                "acme",
                "workflow",
                "cancel",
                json!({"instance": "inspection-1"}),
            )
            .await;
        assert_refused(&outcome(&r), "cancel order-1");

        let r = w
            .send(
                "acme",
                "workflow",
                "complete",
                json!({"instance": "inspection-1", "element": "Inspect", "vars": {"passed": true}}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        assert!(r.events.iter().any(|e| e.kind == "step"
            && e.attributes
                .iter()
                .any(|(k, v)| k == "action" && v == "returned")));
        let (order_1, m) = w.instance("order-1").await;
        assert_eq!(engine::waiting(&m, &order_1), ["Ship"]);
        assert!(engine::variables(&m, &order_1)
            .contains(&("ok".into(), ingot_bpmn::expr::Value::Bool(true))));

        // A called process that ends at once (no task to wait at) returns in
        // the same move; the caller used to wait for it forever.
        let instant = INSPECTION
            .replace(r#"<bpmn:userTask id="Inspect"/>"#, r#"<bpmn:task id="Inspect"/>"#)
            .replace(r#"targetRef="Inspect"/>"#, r#"targetRef="E"/>"#)
            .replace(r#"<bpmn:sequenceFlow id="f2" sourceRef="Inspect" targetRef="E"/>"#, "")
            .replace(r#"<bpmn:task id="Inspect"/>"#, "");
        let instant_bindings = json!({"name": "inspection", "participants": {"Inspection": "org:Acme"}, "variables": {"lot": "string"}, "outputs": {"S": ["lot"]}});
        let r = w
            .send("acme", "workflow", "deploy", json!({"xml": instant, "bindings": instant_bindings}))
            .await;
        assert_eq!(outcome(&r), "ok");
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "order", "vars": {"order_no": "9"}}))
            .await;
        assert_eq!(outcome(&r), "ok");
        assert!(r.events.iter().any(|e| e.kind == "completed"), "the called instance ended");
        let (order_2, m) = w.instance("order-2").await;
        assert_eq!(engine::waiting(&m, &order_2), ["Ship"], "the caller moved on");

        // The deadline passes while the inspection runs: it is cancelled.
        let r = w
            .send("acme", "workflow", "deploy", json!({"xml": INSPECTION, "bindings": inspection.clone()}))
            .await;
        assert_eq!(outcome(&r), "ok");
        let r = w
            .send(
                "acme",
                "workflow",
                "start",
                json!({"definition": "order", "vars": {"order_no": "8"}}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        w.tick(2 * 3_600_000);
        w.chain.execute(vec![]).await;
        let (order_3, m) = w.instance("order-3").await;
        assert_eq!(engine::waiting(&m, &order_3), ["Chase"]);
        let (inspection_3, _) = w.instance("inspection-3").await;
        assert_eq!(inspection_3.state, ingot_bpmn::machine::state::CANCELLED);
    });
}

/// An audit of every plant: one inspection called per plant in parallel.
const AUDIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Audit" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:callActivity id="InspectPlants" calledElement="Inspection">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>plants</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>results</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem name="plant"/>
        <bpmn:outputDataItem name="passed"/>
        <bpmn:completionCondition>nrOfCompletedInstances == 2</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:callActivity>
    <bpmn:userTask id="Report"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="InspectPlants"/>
    <bpmn:sequenceFlow id="f2" sourceRef="InspectPlants" targetRef="Report"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Report" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// A world of one member of Acme, who deploys `definitions` (XML and
/// bindings) in that order.
async fn acme_deploying(ctx: &deterministic::Context, definitions: &[(&str, Value)]) -> World {
    let mut w = world(ctx, &json!({"acme": {"org": "Acme"}})).await;
    for (xml, bindings) in definitions {
        let r = w
            .send(
                "acme",
                "workflow",
                "deploy",
                json!({"xml": xml, "bindings": bindings}),
            )
            .await;
        assert_eq!(outcome(&r), "ok", "deploying {}", bindings["name"]);
    }
    w
}

/// INSPECTION's bindings: the lot it inspects, whether it passed.
fn inspection_bindings() -> Value {
    json!({
        "name": "inspection", "participants": {"Inspection": "org:Acme"},
        "variables": {"lot": "string", "passed": "boolean"},
        "outputs": {"S": ["lot"], "Inspect": ["passed"]}
    })
}

/// A multi-instance call activity over a collection (issue 20): one called
/// instance per item, started in the same transaction with the item as
/// input; each returns to its own instance, its result in its place; when
/// the completion condition holds, the called instance still running is
/// cancelled with its activity.
#[test]
fn a_multi_instance_call_activity_calls_once_per_item() {
    deterministic::Runner::default().start(|ctx| async move {
        let audit = json!({
            "name": "audit", "participants": {"Audit": "org:Acme"},
            "variables": {"plants": "list", "plant": "string", "results": "list", "passed": "boolean"},
            "outputs": {"S": ["plants"]},
            "calls": {"InspectPlants": {"definition": "inspection",
                "inputs": {"lot": "plant"}, "outputs": {"passed": "passed"}}}
        });
        let mut w = acme_deploying(&ctx, &[(INSPECTION, inspection_bindings()), (AUDIT, audit)]).await;
        // Not a list: refused, nothing started.
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "audit", "vars": {"plants": "P1"}}))
            .await;
        assert_refused(&outcome(&r), "expected a list");
        let r = w
            .send(
                "acme",
                "workflow",
                "start",
                json!({"definition": "audit", "vars": {"plants": ["P1", "P2", "P3"]}}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        let mut lots = Vec::new();
        for n in 1..=3 {
            let (inst, im) = w.instance(&format!("inspection-{n}")).await;
            lots.push(engine::variables(&im, &inst)[0].1.clone());
        }
        let text = |s: &str| ingot_bpmn::expr::Value::Text(s.into());
        assert_eq!(lots, [text("P1"), text("P2"), text("P3")]);
        let (audit_1, m) = w.instance("audit-1").await;
        let node = m.node_index("InspectPlants").unwrap();
        assert_eq!(engine::live_instances(&m, &audit_1, node), vec![0, 1, 2]);

        for (n, passed) in [(3, false), (1, true)] {
            let r = w
                .send(
                    "acme",
                    "workflow",
                    "complete",
                    json!({"instance": format!("inspection-{n}"), "element": "Inspect", "vars": {"passed": passed}}),
                )
                .await;
            assert_eq!(outcome(&r), "ok");
        }
        let (audit_1, m) = w.instance("audit-1").await;
        assert_eq!(engine::waiting(&m, &audit_1), ["Report"], "two of three: done");
        let results = engine::variables(&m, &audit_1)
            .into_iter()
            .find(|(k, _)| k == "results")
            .unwrap()
            .1;
        assert_eq!(
            results,
            ingot_bpmn::expr::Value::List(vec!["true".into(), "".into(), "false".into()])
        );
        let (inspection_2, _) = w.instance("inspection-2").await;
        assert_eq!(inspection_2.state, ingot_bpmn::machine::state::CANCELLED);
    });
}

/// A batch whose lots are each audited (a call) and then graded by a
/// person before a deadline, all lots at once.
const BATCH: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Batch" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:subProcess id="EachLot">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>lots</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>grades</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem name="lot"/>
        <bpmn:outputDataItem name="grade"/>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:startEvent id="IS"/>
      <bpmn:callActivity id="Audit" calledElement="Inspection"/>
      <bpmn:userTask id="Grade"/>
      <bpmn:boundaryEvent id="Deadline" attachedToRef="Grade">
        <bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
      </bpmn:boundaryEvent>
      <bpmn:endEvent id="IE"/>
      <bpmn:endEvent id="Ungraded"/>
      <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Audit"/>
      <bpmn:sequenceFlow id="i2" sourceRef="Audit" targetRef="Grade"/>
      <bpmn:sequenceFlow id="i3" sourceRef="Grade" targetRef="IE"/>
      <bpmn:sequenceFlow id="i4" sourceRef="Deadline" targetRef="Ungraded"/>
    </bpmn:subProcess>
    <bpmn:userTask id="Release"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="EachLot"/>
    <bpmn:sequenceFlow id="f2" sourceRef="EachLot" targetRef="Release"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Release" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// A parallel multi-instance subprocess on chain (issue 20): each lot's
/// instance calls its own inspection (which returns to that instance, not
/// another), is graded by loopCounter, and has its own deadline, armed in
/// the chain's timer index and fired by block time; the instance view
/// names every instance with what it waits at and its item.
#[test]
fn a_parallel_multi_instance_subprocess_runs_each_lot_on_its_own() {
    deterministic::Runner::default().start(|ctx| async move {
        let batch = json!({
            "name": "batch", "participants": {"Batch": "org:Acme"},
            "variables": {"lots": "list", "lot": "string", "grades": "list", "grade": "integer", "passed": "boolean"},
            "outputs": {"S": ["lots"], "Grade": ["grade"]},
            "calls": {"Audit": {"definition": "inspection",
                "inputs": {"lot": "lot"}, "outputs": {"passed": "passed"}}}
        });
        let mut w = acme_deploying(&ctx, &[(INSPECTION, inspection_bindings()), (BATCH, batch)]).await;
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "batch", "vars": {"lots": ["L1", "L2", "L3"]}}))
            .await;
        assert_eq!(outcome(&r), "ok");
        let text = |s: &str| ingot_bpmn::expr::Value::Text(s.into());
        for n in 1..=3 {
            let (inst, im) = w.instance(&format!("inspection-{n}")).await;
            assert_eq!(engine::variables(&im, &inst)[0].1, text(&format!("L{n}")));
        }
        // Lot 2's inspection returns to lot 2's instance only.
        let complete = |instance: &str, element: &str, vars: Value| {
            json!({"instance": instance, "element": element, "vars": vars})
        };
        let r = w
            .send("acme", "workflow", "complete", complete("inspection-2", "Inspect", json!({"passed": true})))
            .await;
        assert_eq!(outcome(&r), "ok");
        let (b, m) = w.instance("batch-1").await;
        let view = ingot_execution::modules::workflow::instance_json(&m, &b);
        let lots: Vec<(Value, Value, Value)> = view["subprocess_instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["loopCounter"].clone(), x["active"].clone(), x["variables"]["lot"].clone()))
            .collect();
        assert_eq!(
            lots,
            vec![
                (json!(0), json!(["Audit"]), json!("L1")),
                (json!(1), json!(["Grade"]), json!("L2")),
                (json!(2), json!(["Audit"]), json!("L3")),
            ]
        );
        assert_eq!(view["timers"].as_array().unwrap().len(), 1, "lot 2's deadline");
        // Grading a lot whose inspection has not returned is refused.
        let r = w
            .send("acme", "workflow", "complete", complete("batch-1", "Grade", json!({"grade": 3, "loopCounter": 0})))
            .await;
        assert_refused(&outcome(&r), "waits only in instances [1]");
        let r = w
            .send("acme", "workflow", "complete", complete("batch-1", "Grade", json!({"grade": 4, "loopCounter": 1})))
            .await;
        assert_eq!(outcome(&r), "ok");
        for n in [1, 3] {
            let r = w
                .send("acme", "workflow", "complete", complete(&format!("inspection-{n}"), "Inspect", json!({"passed": false})))
                .await;
            assert_eq!(outcome(&r), "ok");
        }
        let (b, m) = w.instance("batch-1").await;
        assert_eq!(engine::timers(&b).len(), 2, "lots 1 and 3 each have a deadline");
        // Two hours of block time: both deadlines fire from the chain's index.
        w.tick(2 * 3_600_000);
        w.chain.execute(vec![]).await;
        let (b, m2) = w.instance("batch-1").await;
        assert_eq!(engine::waiting(&m2, &b), ["Release"], "{:?}", ingot_execution::modules::workflow::instance_json(&m, &b));
        let grades = engine::variables(&m2, &b).into_iter().find(|(k, _)| k == "grades").unwrap().1;
        assert_eq!(grades, ingot_bpmn::expr::Value::List(vec!["".into(), "4".into(), "".into()]));
        assert!(b.parked.is_empty() && engine::timers(&b).is_empty());
    });
}

/// Each lot graded, then settled five seconds later.
const SETTLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Settle" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:subProcess id="EachLot">
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>lots</bpmn:loopDataInputRef>
        <bpmn:inputDataItem name="lot"/>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:startEvent id="IS"/>
      <bpmn:userTask id="Grade"/>
      <bpmn:intermediateCatchEvent id="Settled">
        <bpmn:timerEventDefinition><bpmn:timeDuration>PT5S</bpmn:timeDuration></bpmn:timerEventDefinition>
      </bpmn:intermediateCatchEvent>
      <bpmn:endEvent id="IE"/>
      <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Grade"/>
      <bpmn:sequenceFlow id="i2" sourceRef="Grade" targetRef="Settled"/>
      <bpmn:sequenceFlow id="i3" sourceRef="Settled" targetRef="IE"/>
    </bpmn:subProcess>
    <bpmn:userTask id="Release"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="EachLot"/>
    <bpmn:sequenceFlow id="f2" sourceRef="EachLot" targetRef="Release"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Release" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// Two instances of a subprocess wait at the same timer, the higher
/// instance's due first and in an earlier second. An outsider's trial
/// found the chain's index firing the lower instance's timer for the
/// higher one's entry, then dropping the lower one's entry as disarmed:
/// the higher instance's timer never fired and the process stayed stuck.
/// Each timer now fires in the instance whose it is.
#[test]
fn timers_of_subprocess_instances_fire_in_their_own_instance() {
    deterministic::Runner::default().start(|ctx| async move {
        let bindings = json!({
            "name": "settle", "participants": {"Settle": "org:Acme"},
            "variables": {"lots": "list", "lot": "string"},
            "outputs": {"S": ["lots"]}
        });
        let mut w = acme_deploying(&ctx, &[(SETTLE, bindings)]).await;
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "settle", "vars": {"lots": ["A", "B", "C"]}}))
            .await;
        assert_eq!(outcome(&r), "ok");
        let grade = |counter: u64| {
            json!({"instance": "settle-1", "element": "Grade", "vars": {"loopCounter": counter}})
        };
        // Instance 2 first; instance 0 a second later (each send is a block one second on).
        let r = w.send("acme", "workflow", "complete", grade(2)).await;
        assert_eq!(outcome(&r), "ok");
        let r = w.send("acme", "workflow", "complete", grade(0)).await;
        assert_eq!(outcome(&r), "ok");
        let r = w.send("acme", "workflow", "complete", grade(1)).await;
        assert_eq!(outcome(&r), "ok");
        // One block well past every due time: each fires, in its own instance.
        w.tick(60_000);
        w.chain.execute(vec![]).await;
        let (inst, m) = w.instance("settle-1").await;
        assert_eq!(
            engine::waiting(&m, &inst),
            ["Release"],
            "{}",
            ingot_execution::modules::workflow::instance_json(&m, &inst)
        );
        assert!(engine::timers(&inst).is_empty());
    });
}

/// An approval reminded every hour, three times at most.
const REMINDED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Reminded" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="Approve"/>
    <bpmn:boundaryEvent id="Hourly" attachedToRef="Approve" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeCycle>R3/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="Remind"/>
    <bpmn:endEvent id="E"/>
    <bpmn:endEvent id="R"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Approve" targetRef="E"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Hourly" targetRef="Remind"/>
    <bpmn:sequenceFlow id="f4" sourceRef="Remind" targetRef="R"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// A repeating timer on chain: each firing is scheduled again in the
/// chain's timer index, by block time, three times and no more.
#[test]
fn a_repeating_boundary_timer_fires_by_block_time_its_count() {
    deterministic::Runner::default().start(|ctx| async move {
        let bindings = json!({"name": "reminded", "participants": {"Reminded": "org:Acme"}});
        let mut w = acme_deploying(&ctx, &[(REMINDED, bindings)]).await;
        let r = w
            .send(
                "acme",
                "workflow",
                "start",
                json!({"definition": "reminded"}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        let mut fired = Vec::new();
        for _ in 0..5 {
            w.tick(3_600_000);
            let receipts = w.chain.execute(vec![]).await;
            let steps = receipts
                .iter()
                .flat_map(|r| &r.events)
                .filter(|e| {
                    e.kind == "step"
                        && e.attributes
                            .iter()
                            .any(|(k, v)| k == "element" && v == "Hourly")
                })
                .count();
            fired.push(steps);
        }
        assert_eq!(fired, [1, 1, 1, 0, 0], "hourly, three times");
        let (inst, m) = w.instance("reminded-1").await;
        let reminders = inst
            .active
            .iter()
            .filter(|&&a| m.nodes[a as usize].id == "Remind")
            .count();
        assert_eq!(reminders, 3);
        assert!(engine::timers(&inst).is_empty());
    });
}

/// Two instances' repeating timers in the same hour, walked minute by
/// minute. An outsider's trial found the second instance's timer stop
/// after its first firing: the block-end walk kept its own copy of the
/// hour's timer count, so a timer armed by a firing (the next repetition,
/// in the same hour) was counted and then overwritten by the stale copy;
/// the count reached 0 early and the rest of the hour was skipped.
#[test]
fn timers_armed_while_the_hour_is_walked_still_fire() {
    deterministic::Runner::default().start(|ctx| async move {
        let xml = REMINDED.replace("R3/PT1H", "R3/PT1M");
        let bindings = json!({"name": "reminded", "participants": {"Reminded": "org:Acme"}});
        let mut w = acme_deploying(&ctx, &[(&xml, bindings)]).await;
        for _ in 0..2 {
            let r = w
                .send(
                    "acme",
                    "workflow",
                    "start",
                    json!({"definition": "reminded"}),
                )
                .await;
            assert_eq!(outcome(&r), "ok");
        }
        for _ in 0..6 {
            w.tick(60_000);
            w.chain.execute(vec![]).await;
        }
        for id in ["reminded-1", "reminded-2"] {
            let (inst, m) = w.instance(id).await;
            let reminders = inst
                .active
                .iter()
                .filter(|&&a| m.nodes[a as usize].id == "Remind")
                .count();
            assert_eq!(
                reminders,
                3,
                "{id}: {}",
                ingot_execution::modules::workflow::instance_json(&m, &inst)
            );
            assert!(engine::timers(&inst).is_empty(), "{id}");
        }
    });
}

/// A chain of twelve tasks, each setting two list variables of about
/// 3 KiB (a move's variables are at most 8 KiB).
fn hoard_xml() -> String {
    let tasks: String = (0..12)
        .map(|k| format!(r#"<bpmn:userTask id="T{k}"/>"#))
        .collect();
    let mut flows = vec![r#"<bpmn:sequenceFlow id="f" sourceRef="S" targetRef="T0"/>"#.to_string()];
    flows.extend((0..11).map(|k| {
        format!(
            r#"<bpmn:sequenceFlow id="f{k}" sourceRef="T{k}" targetRef="T{}"/>"#,
            k + 1
        )
    }));
    flows.push(r#"<bpmn:sequenceFlow id="fe" sourceRef="T11" targetRef="E"/>"#.to_string());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Hoard" isExecutable="true"><bpmn:startEvent id="S"/>{tasks}<bpmn:endEvent id="E"/>{}</bpmn:process>
</bpmn:definitions>"#,
        flows.join("")
    )
}

/// An instance may not grow past what a state value may be (64 KiB): the
/// store refuses such a value when the block commits, so before this
/// check the move that crossed it made the block impossible to commit (the
/// chain stopped). Now that move fails with its own code, and the chain
/// and the instance go on.
#[test]
fn a_move_that_would_store_an_oversized_instance_fails_and_the_chain_goes_on() {
    deterministic::Runner::default().start(|ctx| async move {
        let list = |k: usize| format!("l{k:02}");
        let variables: serde_json::Map<String, Value> =
            (0..24).map(|k| (list(k), json!("list"))).collect();
        let outputs: serde_json::Map<String, Value> = (0..12)
            .map(|k| (format!("T{k}"), json!([list(2 * k), list(2 * k + 1)])))
            .collect();
        let bindings = json!({
            "name": "hoard", "participants": {"Hoard": "org:Acme"},
            "variables": variables, "outputs": outputs
        });
        let mut w = acme_deploying(&ctx, &[(&hoard_xml(), bindings)]).await;
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "hoard"}))
            .await;
        assert_eq!(outcome(&r), "ok");
        let items = json!(vec!["x".repeat(50); 64]);
        let mut refused_at = None;
        for k in 0..12 {
            let vars = json!({list(2 * k): items, list(2 * k + 1): items});
            let task = format!("T{k}");
            let r = w
                .send(
                    "acme",
                    "workflow",
                    "complete",
                    json!({"instance": "hoard-1", "element": task, "vars": vars}),
                )
                .await;
            if outcome(&r) != "ok" {
                assert_refused(&outcome(&r), "more than the 65536 a stored value may be");
                refused_at = Some(k);
                break;
            }
        }
        // 2 lists of 64 x 50 bytes per move (about 7 KiB stored): past
        // 64 KiB on the eleventh.
        assert_eq!(refused_at, Some(10));
        let (inst, m) = w.instance("hoard-1").await;
        assert_eq!(engine::waiting(&m, &inst), ["T10"], "unchanged");
        // The chain goes on: the next block commits.
        let r = w
            .send("acme", "workflow", "cancel", json!({"instance": "hoard-1"}))
            .await;
        assert_eq!(outcome(&r), "ok");
    });
}

/// A line that stops at a recall signal, whichever instance throws it.
const LINE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:signal id="Recall" name="recall"/>
  <bpmn:process id="Line" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="Produce"/>
    <bpmn:boundaryEvent id="Stopped" attachedToRef="Produce">
      <bpmn:signalEventDefinition signalRef="Recall"/>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="E"/>
    <bpmn:endEvent id="Halted"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Produce"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Produce" targetRef="E"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Stopped" targetRef="Halted"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// A quality alert that ends by throwing the recall.
const ALERT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:signal id="Recall" name="recall"/>
  <bpmn:process id="Alert" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="Confirm"/>
    <bpmn:endEvent id="Raise"><bpmn:signalEventDefinition signalRef="Recall"/></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Confirm"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Confirm" targetRef="Raise"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// The recall procedure, started by the signal.
const RECALL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:signal id="Sig" name="recall"/>
  <bpmn:process id="Recall" isExecutable="true">
    <bpmn:startEvent id="OnRecall"><bpmn:signalEventDefinition signalRef="Sig"/></bpmn:startEvent>
    <bpmn:userTask id="Notify"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="OnRecall" targetRef="Notify"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Notify" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// A process that, started by the recall signal, throws it again.
const ECHO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:signal id="Sig" name="recall"/>
  <bpmn:process id="Echo" isExecutable="true">
    <bpmn:startEvent id="OnRecall"><bpmn:signalEventDefinition signalRef="Sig"/></bpmn:startEvent>
    <bpmn:endEvent id="E"><bpmn:signalEventDefinition signalRef="Sig"/></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="OnRecall" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// Signals cross instances (issue 20, BPMN 2.0 §10.5.1): the alert's
/// signal end event interrupts every line waiting with a signal boundary
/// event and starts the recall procedure (its starter the alert's
/// completer), in the alert's transaction; a line that already ended is
/// not reached, and a signal that starts itself forever is refused. A
/// signal stays within the organisation owning the thrower's definition
/// (an outsider's trial had another organisation's echo block Acme's
/// throws), and whoever throws must be allowed to start what it starts.
#[test]
fn a_signal_reaches_other_instances_and_starts_definitions() {
    deterministic::Runner::default().start(|ctx| async move {
        let actors = json!({"acme": {"org": "Acme"}, "rival": {"org": "Rival"}});
        let mut w = world(&ctx, &actors).await;
        let bind =
            |name: &str, pool: &str| json!({"name": name, "participants": {pool: "org:Acme"}});
        for (xml, b) in [
            (LINE, bind("line", "Line")),
            (ALERT, bind("alert", "Alert")),
            (RECALL, bind("recall", "Recall")),
        ] {
            let r = w
                .send(
                    "acme",
                    "workflow",
                    "deploy",
                    json!({"xml": xml, "bindings": b}),
                )
                .await;
            assert_eq!(outcome(&r), "ok");
        }
        // The recall cannot be started by hand: only its signal starts it.
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "recall"}))
            .await;
        assert!(outcome(&r) != "ok");
        // Another organisation's processes with the same signal name: its
        // line is not halted by Acme's signal, and its definition that
        // would echo "recall" forever blocks nothing of Acme's.
        let rival =
            |name: &str, pool: &str| json!({"name": name, "participants": {pool: "org:Rival"}});
        let rival_echo = ECHO.replace("Echo", "RivalEcho");
        for (xml, b) in [
            (LINE, rival("rival-line", "Line")),
            (rival_echo.as_str(), rival("rival-echo", "RivalEcho")),
        ] {
            let r = w
                .send(
                    "rival",
                    "workflow",
                    "deploy",
                    json!({"xml": xml, "bindings": b}),
                )
                .await;
            assert_eq!(outcome(&r), "ok");
        }
        let r = w
            .send(
                "rival",
                "workflow",
                "start",
                json!({"definition": "rival-line"}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        for _ in 0..3 {
            let r = w
                .send("acme", "workflow", "start", json!({"definition": "line"}))
                .await;
            assert_eq!(outcome(&r), "ok");
        }
        let r = w
            .send(
                "acme",
                "workflow",
                "complete",
                json!({"instance": "line-3", "element": "Produce"}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "alert"}))
            .await;
        assert_eq!(outcome(&r), "ok");
        let r = w
            .send(
                "acme",
                "workflow",
                "complete",
                json!({"instance": "alert-1", "element": "Confirm"}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        for id in ["line-1", "line-2"] {
            let (line, _) = w.instance(id).await;
            assert_eq!(
                line.state,
                ingot_bpmn::machine::state::COMPLETED,
                "{id} halted"
            );
        }
        let stopped = r
            .events
            .iter()
            .filter(|e| {
                e.attributes
                    .iter()
                    .any(|(k, v)| k == "element" && v == "Stopped")
                    && e.attributes
                        .iter()
                        .any(|(k, v)| k == "detail" && v == "signal recall from alert-1")
            })
            .count();
        assert_eq!(stopped, 2, "both waiting lines, in the alert's transaction");
        let (recall, m) = w.instance("recall-1").await;
        assert_eq!(engine::waiting(&m, &recall), ["Notify"]);
        assert_eq!(recall.starter_org, "Acme");
        let (rival_line, _) = w.instance("rival-line-1").await;
        assert_eq!(
            rival_line.state,
            ingot_bpmn::machine::state::RUNNING,
            "not Acme's to stop"
        );

        // A definition whose signal start throws its own signal would start
        // itself forever: the throw is refused, nothing changes.
        let r = w
            .send(
                "acme",
                "workflow",
                "deploy",
                json!({"xml": ECHO, "bindings": bind("echo", "Echo")}),
            )
            .await;
        assert_eq!(outcome(&r), "ok");
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "alert"}))
            .await;
        assert_eq!(outcome(&r), "ok");
        let r = w
            .send(
                "acme",
                "workflow",
                "complete",
                json!({"instance": "alert-2", "element": "Confirm"}),
            )
            .await;
        assert_refused(&outcome(&r), "signal `recall` from echo-");
        let (alert_2, _) = w.instance("alert-2").await;
        assert_eq!(alert_2.state, ingot_bpmn::machine::state::RUNNING);
    });
}

/// What a client did wrong has its own stable code (an outsider's trial
/// found every engine refusal under `engine_refused`); the message stays
/// the detail, and nothing changes.
#[test]
fn each_refused_move_has_its_own_code() {
    deterministic::Runner::default().start(|ctx| async move {
        let actors = json!({"acme": {"org": "Acme"}, "rival": {"org": "Rival"}});
        let mut w = world(&ctx, &actors).await;
        let b = json!({"name": "inspection", "participants": {"Inspection": "org:Acme"},
            "variables": {"lot": "string", "passed": "boolean"},
            "outputs": {"S": ["lot"], "Inspect": ["passed"]}});
        let r = w.send("acme", "workflow", "deploy", json!({"xml": INSPECTION, "bindings": b})).await;
        assert_eq!(outcome(&r), "ok");
        let r = w
            .send("acme", "workflow", "start", json!({"definition": "inspection", "vars": {"lot": "L1"}}))
            .await;
        assert_eq!(outcome(&r), "ok");
        let name = |r: &ingot_types::Receipt| match &r.status {
            ingot_types::Status::Failed(f) => ingot_execution::failure::name(f),
            ingot_types::Status::Success => "ok".into(),
        };
        let complete = |vars: Value, element: &str| {
            json!({"instance": "inspection-1", "element": element, "vars": vars})
        };
        let cases = [
            ("acme", complete(json!({"passed": "yes"}), "Inspect"), "workflow.bad_variables"),
            ("acme", complete(json!({"passed": true, "loopCounter": 1}), "Inspect"), "workflow.bad_variables"),
            ("acme", complete(json!({"passed": true}), "Nope"), "workflow.unknown_element"),
            ("acme", complete(json!({}), "S"), "workflow.not_a_person_task"),
            ("rival", complete(json!({"passed": true}), "Inspect"), "workflow.not_allowed"),
        ];
        for (who, args, want) in cases {
            let r = w.send(who, "workflow", "complete", args.clone()).await;
            assert_eq!(name(&r), want, "{args}: {}", outcome(&r));
        }
        let r = w.send("acme", "workflow", "complete", complete(json!({"passed": true}), "Inspect")).await;
        assert_eq!(outcome(&r), "ok", "nothing changed before");
        let r = w.send("acme", "workflow", "complete", complete(json!({"passed": true}), "Inspect")).await;
        assert_eq!(name(&r), "workflow.instance_not_running");
        let r = w.send("acme", "workflow", "start", json!({"definition": "inspection", "vars": {}})).await;
        assert_eq!(name(&r), "workflow.bad_variables");
    });
}
