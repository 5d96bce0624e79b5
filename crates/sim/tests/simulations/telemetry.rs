//! Device telemetry through whole validators in the deterministic simulator:
//! anchoring from several nodes, a forged batch and a sequence gap, an alarm
//! rule and a missing-heartbeat rule (fired by block time at the end of a
//! block), a validator crashing and catching up — and every node agreeing on
//! every state and receipts root, its telemetry store holding the same
//! readings.

use commonware_codec::Encode;
use commonware_runtime::{deterministic, Clock, Runner};
use ingot_device::{measurement, DeviceSigner, Reading};
use ingot_sim::*;
use ingot_types::telemetry::AnchorArg;
use serde_json::json;
use std::time::Duration;

fn json_tx(
    c: &Consortium,
    module: &str,
    method: &str,
    args: serde_json::Value,
    salt: u64,
) -> ingot_types::SignedTransaction {
    let args = ingot_execution::args::from_json(module, method, &args).unwrap();
    c.call_tx(module, method, args, salt, 800)
}

async fn scenario(ctx: Ctx) {
    let c = consortium(4);
    let oracle = network(&ctx, &c).await;
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(start_node(&ctx, &oracle, &c, i).await);
    }
    wait_executed(&ctx, &nodes.iter().collect::<Vec<_>>(), 1).await;

    let devices: Vec<(String, DeviceSigner, String)> = (0..3)
        .map(|i| {
            let serial = format!("S{i}");
            let (key, pem) = c.device(&serial);
            let id = format!("acme:{serial}");
            (id.clone(), DeviceSigner::new(&id, key, 1), pem)
        })
        .collect();
    let salt = std::cell::Cell::new(1_000u64);
    let register: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, (_, _, pem))| {
            json_tx(
                &c,
                "device",
                "register",
                json!({"certificate_pem": pem, "name": format!("acme/line/s{i}")}),
                100 + i as u64,
            )
        })
        .collect();
    let hashes: Vec<_> = register.iter().map(|t| t.hash()).collect();
    nodes[0].shared().unwrap().submit_all(register, false);
    wait_located(&ctx, &nodes[0], &hashes).await;
    let mut txs: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, (id, _, _))| {
            json_tx(
                &c,
                "device",
                "activate",
                json!({"device_id": id}),
                200 + i as u64,
            )
        })
        .collect();
    txs.push(json_tx(&c, "telemetry", "set_rule", json!({"id": "hot", "target": "device:acme:S1", "measurement": "temp", "kind": "above", "value": "50"}), 300));
    txs.push(json_tx(&c, "telemetry", "set_rule", json!({"id": "alive", "target": "device:acme:S0", "kind": "missing_heartbeat", "duration_ms": 3000}), 301));
    let hashes: Vec<_> = txs.iter().map(|t| t.hash()).collect();
    nodes[1].shared().unwrap().submit_all(txs, false);
    wait_located(&ctx, &nodes[1], &hashes).await;

    // Anchors from every node, device 0 only at first (then silent).
    let mut devices = devices;
    let anchor =
        |round: u64, devices: &mut Vec<(String, DeviceSigner, String)>, which: &[usize]| {
            let batches = which
                .iter()
                .map(|&d| {
                    let readings = (0..5)
                        .map(|r| Reading {
                            timestamp_ms: round * 100 + r,
                            measurements: vec![measurement(
                                "temp",
                                (round as i64 * 7 + r as i64) % 80,
                                0,
                                "C",
                            )],
                        })
                        .collect();
                    devices[d].1.sign(readings).unwrap()
                })
                .collect();
            salt.set(salt.get() + 1);
            c.call_tx(
                "telemetry",
                "anchor",
                AnchorArg { batches }.encode(),
                salt.get(),
                800,
            )
        };
    let mut hashes = Vec::new();
    // Each through another node, one after the other (as the gateway does:
    // a device's batches are never in two transactions in flight at once).
    for round in 0..4u64 {
        let tx = anchor(round, &mut devices, &[0, 1, 2]);
        hashes.push(tx.hash());
        nodes[round as usize % 4]
            .shared()
            .unwrap()
            .submit(tx, false)
            .unwrap();
        wait_located(&ctx, &nodes[0], &hashes).await;
    }
    // A forged batch and a gap, in one transaction with a good batch.
    // (Signed at the device's next number without advancing it: the forged
    // copy is refused and the real next batch must not leave a gap.)
    let next = devices[1].1.next_seq();
    let mut forged = devices[1]
        .1
        .sign_at(
            next,
            vec![Reading {
                timestamp_ms: 900,
                measurements: vec![measurement("temp", 1, 0, "C")],
            }],
        )
        .unwrap();
    forged.readings[0].measurements[0].value = 99;
    let gap = devices[2]
        .1
        .sign_at(
            40,
            vec![Reading {
                timestamp_ms: 900,
                measurements: vec![measurement("temp", 2, 0, "C")],
            }],
        )
        .unwrap();
    salt.set(salt.get() + 1);
    let mixed = c.call_tx(
        "telemetry",
        "anchor",
        AnchorArg {
            batches: vec![forged, gap],
        }
        .encode(),
        salt.get(),
        800,
    );
    hashes.push(mixed.hash());
    nodes[2].shared().unwrap().submit(mixed, false).unwrap();
    wait_located(&ctx, &nodes[0], &hashes).await;

    // Crash validator 3; devices 1 and 2 keep reporting; device 0 stays silent
    // long enough for its heartbeat alarm.
    let crashed = nodes.remove(3);
    crashed.handle.abort();
    let _ = crashed.handle.await;
    crashed.shared.lock().unwrap().take();
    let mut later = Vec::new();
    for round in 10..14u64 {
        let tx = anchor(round, &mut devices, &[1]);
        later.push(tx.hash());
        nodes[round as usize % 3]
            .shared()
            .unwrap()
            .submit(tx, false)
            .unwrap();
        wait_located(&ctx, &nodes[0], &later).await;
        ctx.sleep(Duration::from_millis(1500)).await;
    }
    wait_located(&ctx, &nodes[0], &later).await;
    nodes.push(start_node(&ctx, &oracle, &c, 3).await);
    let target = nodes[0].shared().unwrap().executed_height() + 3;
    let refs: Vec<_> = nodes.iter().collect();
    wait_executed(&ctx, &refs, target).await;
    assert_agree(&refs, target).await;

    // The alarm and the heartbeat fired, identically everywhere (the roots
    // agree); and the stores of the nodes that never crashed hold the same.
    let s = nodes[0].shared().unwrap();
    let ledger = s.ledger.lock().await;
    let (mut hot, mut silent, mut gaps, mut forged_refused) = (0, 0, 0, 0);
    for h in 1..=target {
        for r in ledger.record(h).await.unwrap().unwrap().receipts {
            for e in r.events.iter().filter(|e| e.module == "telemetry") {
                let attr = |k: &str| {
                    e.attributes
                        .iter()
                        .find(|(a, _)| a == k)
                        .map(|(_, v)| v.as_str())
                };
                match e.kind.as_str() {
                    "rule" if attr("rule_id") == Some("hot") => hot += 1,
                    "rule"
                        if attr("rule_id") == Some("alive") && attr("state") == Some("fired") =>
                    {
                        assert_eq!(
                            r.tx_hash,
                            ingot_execution::block_receipt_id(h),
                            "block-level receipt"
                        );
                        silent += 1;
                    }
                    "gap" => gaps += 1,
                    "refused" if attr("reason").is_some_and(|w| w.contains("signature")) => {
                        forged_refused += 1
                    }
                    _ => {}
                }
            }
        }
    }
    drop(ledger);
    assert!(hot >= 1, "the threshold rule fired");
    assert_eq!(silent, 1, "one heartbeat alarm while device 0 is silent");
    assert_eq!((gaps, forged_refused), (1, 1));
    let counts: Vec<_> = nodes[..3]
        .iter()
        .map(|n| {
            n.shared()
                .unwrap()
                .module_store::<ingot_execution::modules::telemetry::store::TelemetryStore>(
                    ingot_execution::modules::telemetry::store::STORE,
                )
                .unwrap()
                .counts()
                .unwrap()
        })
        .collect();
    assert!(counts.windows(2).all(|w| w[0] == w[1]), "{counts:?}");
    assert_eq!(counts[0], (4 * 3 + 1 + 4, (4 * 3 + 4) * 5 + 1));

    // The explorer's derived-store invariant holds on every node, the
    // restarted one included, and catches a store that lost its batches.
    for (i, node) in nodes.iter().enumerate() {
        ingot_sim::explore::derived_agree(node, target)
            .await
            .unwrap_or_else(|e| panic!("node {i}: {e}"));
    }
    nodes[0]
        .shared()
        .unwrap()
        .module_store::<ingot_execution::modules::telemetry::store::TelemetryStore>(
            ingot_execution::modules::telemetry::store::STORE,
        )
        .unwrap()
        .clear()
        .unwrap();
    let lost = ingot_sim::explore::derived_agree(&nodes[0], target).await;
    assert!(
        lost.as_ref()
            .is_err_and(|e| e.contains("telemetry store does not hold")),
        "{lost:?}"
    );
}

#[test]
fn telemetry_agrees_across_validators_through_a_crash() {
    for seed in [21, 22] {
        let cfg = deterministic::Config::new()
            .with_seed(seed)
            .with_timeout(Some(Duration::from_secs(600)));
        deterministic::Runner::new(cfg).start(scenario);
    }
}
