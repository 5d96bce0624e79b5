//! `ingot bench --workload workflow`: BPMN task completions finalized per
//! second, and the storage one instance takes.
//!
//! Deploys an order-handling process (register → exclusive gateway on the
//! quantity → approve or auto-approve → ship), starts `--txs` instances, then
//! completes their tasks stage by stage: every completion is a signed
//! transaction that moves one instance through the token machine (variables
//! typed and checked, the gateway's condition evaluated, history and events
//! written).

use crate::bench::{drive_waves, row, sign, wait_executed, BenchArgs};
use crate::client::Sender;
use serde_json::{json, Value};
use std::time::Instant;

const PROCESS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Bench">
  <bpmn:process id="Order" name="Bench order" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:userTask id="Register" name="Register order"/>
    <bpmn:exclusiveGateway id="Large" name="Large order?" default="toAuto"/>
    <bpmn:userTask id="Approve" name="Approve"/>
    <bpmn:userTask id="Auto" name="Auto-approve"/>
    <bpmn:exclusiveGateway id="Merge"/>
    <bpmn:userTask id="Ship" name="Ship"/>
    <bpmn:endEvent id="End"/>
    <bpmn:sequenceFlow id="f1" sourceRef="Start" targetRef="Register"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Register" targetRef="Large"/>
    <bpmn:sequenceFlow id="toApprove" sourceRef="Large" targetRef="Approve"><bpmn:conditionExpression>qty &gt; 100</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="toAuto" sourceRef="Large" targetRef="Auto"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Approve" targetRef="Merge"/>
    <bpmn:sequenceFlow id="f6" sourceRef="Auto" targetRef="Merge"/>
    <bpmn:sequenceFlow id="f7" sourceRef="Merge" targetRef="Ship"/>
    <bpmn:sequenceFlow id="f8" sourceRef="Ship" targetRef="End"/>
  </bpmn:process>
</bpmn:definitions>"#;

fn bindings(name: &str) -> Value {
    json!({
        "name": name,
        "participants": {"Order": "org:manufacturer"},
        "variables": {"order_no": "string", "qty": "integer", "tracking": "string"},
        "outputs": {"Start": ["order_no"], "Register": ["qty"], "Ship": ["tracking"]},
    })
}

/// The task a stage completes for instance `i`, with its output variables.
type Stage = dyn Fn(usize) -> (String, Value) + Sync;

/// Deploy the benchmark's order process as `name` and wait until executed.
pub(crate) fn deploy(
    a: &BenchArgs,
    senders: &[Sender],
    run: u64,
    name: &str,
) -> anyhow::Result<()> {
    let deploy = drive_waves(a, senders, 1, |_, s, chain, valid_until| {
        sign(
            s,
            chain,
            valid_until,
            run,
            "workflow",
            "deploy",
            json!({"xml": PROCESS, "bindings": bindings(name)}),
        )
    })?;
    anyhow::ensure!(deploy.finalized == 1, "deployment was not finalized");
    wait_executed(&a.nodes[0], deploy.last_height)
}

pub fn run(
    a: &BenchArgs,
    senders: &[Sender],
    run: u64,
    report: &mut Value,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    let name = format!("bench-{:x}", run & 0xffff_ffff);
    let n = a.txs;
    deploy(a, senders, run, &name)?;

    let mut starts = drive_waves(a, senders, n, |i, s, chain, valid_until| {
        sign(
            s,
            chain,
            valid_until,
            (run << 20) ^ i as u64,
            "workflow",
            "start",
            json!({"definition": name, "vars": {"order_no": format!("PO-{i}")}}),
        )
    })?;
    wait_executed(&a.nodes[0], starts.last_height)?;
    let m = starts.report();
    rows.push(row("instance starts", &m));
    report["starts"] = m;

    // Instances are numbered in execution order; which order number went
    // where does not matter, each instance is moved exactly once per stage.
    let id = |i: usize| format!("{name}-{}", i + 1);
    let stages: [(&str, Box<Stage>); 3] = [
        (
            "complete Register",
            Box::new(|i| {
                (
                    "Register".into(),
                    json!({"qty": if i % 2 == 0 { 500 } else { 20 }}),
                )
            }),
        ),
        (
            "complete Approve/Auto",
            Box::new(|i| {
                (
                    (if i % 2 == 0 { "Approve" } else { "Auto" }).into(),
                    json!({}),
                )
            }),
        ),
        (
            "complete Ship",
            Box::new(|i| ("Ship".into(), json!({"tracking": format!("TRK-{i}")}))),
        ),
    ];
    let begin = Instant::now();
    let mut completed = 0usize;
    let mut latencies = Vec::new();
    for (k, (label, task)) in stages.iter().enumerate() {
        let mut m = drive_waves(a, senders, n, |i, s, chain, valid_until| {
            let (element, vars) = task(i);
            sign(
                s,
                chain,
                valid_until,
                (run << 22) ^ ((k as u64) << 40) ^ i as u64,
                "workflow",
                "complete",
                json!({"instance": id(i), "element": element, "vars": vars}),
            )
        })?;
        wait_executed(&a.nodes[0], m.last_height)?;
        completed += m.finalized;
        let r = m.report();
        latencies.push(r["latency_ms"].clone());
        rows.push(row(label, &r));
        report[format!("stage_{}", k + 1)] = r;
    }
    let seconds = begin.elapsed().as_secs_f64();
    report["completions"] = json!({
        "finalized": completed,
        "seconds_to_executed": seconds,
        "completions_per_s": completed as f64 / seconds,
    });

    // Storage of one finished instance: its record, history and starter certificate.
    let http = crate::bench::reader(a)?;
    let size_of = |key: &str| -> anyhow::Result<usize> {
        let v = http.get(&format!("{}/v1/state/{key}", a.nodes[0]))?;
        Ok(v["value"].as_str().map_or(0, |h| h.len() / 2))
    };
    let inst = http.get(&format!("{}/v1/workflow/instances/{}", a.nodes[0], id(0)))?;
    anyhow::ensure!(
        inst["state"] == "completed",
        "instance 1 did not complete: {inst}"
    );
    let steps = inst["history_entries"].as_u64().unwrap_or(0) as usize;
    let record = size_of(&format!("workflow/inst/{}", id(0)))?;
    let mut history = 0;
    for seq in 0..steps {
        history += size_of(&format!("workflow/hist/{}/{seq:010}", id(0)))?;
    }
    let starter = size_of(&format!("workflow/starter/{}", id(0)))?;
    report["storage_per_instance"] = json!({
        "instance_record_bytes": record,
        "history_entries": steps,
        "history_bytes": history,
        "starter_certificate_bytes": starter,
        "total_bytes": record + history + starter,
    });
    eprintln!(
        "{completed} task completions in {seconds:.1} s → {:.0}/s executed; storage per finished instance {} B ({} history entries)",
        completed as f64 / seconds,
        record + history + starter,
        steps
    );
    Ok(())
}
