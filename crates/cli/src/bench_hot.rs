//! `ingot bench --workload hot-keys | mixed`.
//!
//! Hot keys: every sender updates the same `--hot-keys` records — access
//! policies `name:manufacturer/hot-<run>` → `member:<k>` — so every
//! transaction writes one of a handful of state keys. Execution is
//! sequential and deterministic, so there is no livelock by construction; the
//! benchmark checks the other half of the claim: every sender's transactions
//! are finalized and *succeed* (a sample of receipts is read back).
//!
//! Mixed: in turn a notary write (distinct keys), a hot-key policy update and
//! a BPMN instance start.

use crate::bench::{drive_waves, row, sign, wait_executed, BenchArgs, Workload};
use crate::client::Sender;
use serde_json::{json, Value};
use std::sync::Mutex;

/// Receipts read back per run to check that updates succeeded.
const SAMPLE: usize = 200;

pub fn run(
    a: &BenchArgs,
    senders: &[Sender],
    run: u64,
    report: &mut Value,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mixed = a.workload == Workload::Mixed;
    let hot = a.hot_keys.max(1);
    let target = format!("name:manufacturer/hot-{:x}", run & 0xffff_ffff);
    let accessor = |k: usize| {
        format!(
            "member:{}",
            ingot_types::hex_digest(&ingot_types::sha256(&[
                &run.to_be_bytes(),
                &(k as u64).to_be_bytes()
            ]))
        )
    };
    let definition = format!("mix-{:x}", run & 0xffff_ffff);
    if mixed {
        crate::bench_workflow::deploy(a, senders, run, &definition)?;
    }
    let every = (a.txs / SAMPLE).max(1);
    let sampled: Mutex<Vec<(String, &'static str)>> = Mutex::new(Vec::new());
    let mut m = drive_waves(a, senders, a.txs, |i, s, chain, valid_until| {
        let salt = (run << 24) ^ i as u64;
        let kind = if mixed { i % 3 } else { 1 };
        let (signed, what) = match kind {
            0 => {
                let doc = ingot_types::sha256(&[&run.to_be_bytes(), &(i as u64).to_be_bytes()]);
                (
                    sign(
                        s,
                        chain,
                        valid_until,
                        salt,
                        "notary",
                        "record",
                        json!({"document_hash": ingot_types::hex_digest(&doc), "metadata": "mixed"}),
                    )?,
                    "notary",
                )
            }
            1 => (
                sign(
                    s,
                    chain,
                    valid_until,
                    salt,
                    "access",
                    "set_policy",
                    json!({
                        "target": target,
                        "accessor": accessor(i % hot),
                        "operations": ["read"],
                        // Each update differs, so each is its own transaction.
                        "max_uses": i as u64 + 1,
                    }),
                )?,
                "hot-key update",
            ),
            _ => (
                sign(
                    s,
                    chain,
                    valid_until,
                    salt,
                    "workflow",
                    "start",
                    json!({"definition": definition, "vars": {"order_no": format!("M-{i}")}}),
                )?,
                "workflow start",
            ),
        };
        if i % every == 0 {
            sampled.lock().unwrap().push((signed.0.clone(), what));
        }
        Ok(signed)
    })?;
    wait_executed(&a.nodes[0], m.last_height)?;
    let r = m.report();
    rows.push(row(if mixed { "mixed" } else { "hot-key updates" }, &r));
    report[if mixed { "mixed" } else { "hot_keys" }] = r;

    // Starvation check: sampled transactions of every kind executed successfully.
    let http = crate::bench::reader(a)?;
    let mut ok = 0;
    let mut failed = Vec::new();
    let sampled = sampled.into_inner().unwrap();
    for (hash, what) in &sampled {
        let v = http.get(&format!("{}/v1/tx/{hash}", a.nodes[0]))?;
        let status = v["status"].as_str().unwrap_or("");
        if status == "success" {
            ok += 1;
        } else {
            failed.push(json!({"kind": what, "hash": hash, "receipt": v}));
        }
    }
    report["receipts_sampled"] = json!({"read": sampled.len(), "success": ok, "failed": failed.iter().take(5).collect::<Vec<_>>()});
    report["setup"]["hot_keys"] = json!(hot);
    anyhow::ensure!(
        failed.is_empty(),
        "{} of {} sampled transactions failed: {:?}",
        failed.len(),
        sampled.len(),
        failed.first()
    );
    Ok(())
}
