//! Validator-set changes between real processes on hosts of their own
//! (issue 16 item 3), under the load: a fifth organisation, gear, is voted
//! into the consortium and brings its validator up on a new host (its node
//! made like an observer's); the consortium votes the validator in, it
//! connects and catches up, and from two epochs after the decision it
//! votes — shown by killing an original validator: five validators need
//! four votes, so the chain goes on only with the newcomer's. Then watch
//! gives up its validator seat: from two epochs on, the chain finalizes
//! without it — shown by stopping two validators at once, which four
//! validators survive and five would not. Every set is visible in
//! `GET /v1/status`, and the validators killed come back and catch up
//! across the boundaries they missed.

use super::{
    governance::{as_admin, event, eventually},
    hosts::Hosts,
    ingot_ok,
    load::Load,
    start, start_on, Nodes, EPOCH_LENGTH,
};
use crate::common::try_call;
use serde_json::Value;
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// The host of gear's validator.
pub const NEW_VALIDATOR_HOST: usize = 6;

fn status(api: &str) -> Option<Value> {
    try_call("GET", &format!("{api}/v1/status"), None)
        .ok()
        .map(|(_, v)| v)
}

fn executed(api: &str) -> u64 {
    status(api)
        .and_then(|v| v["executed_height"].as_u64())
        .unwrap_or(0)
}

fn epoch(api: &str) -> u64 {
    status(api).and_then(|v| v["epoch"].as_u64()).unwrap_or(0)
}

/// Wait up to `limit` for `check`, saying `what` if it never holds.
fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what} (after {limit:?})");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The names of the validators `api` says vote in its current epoch.
fn voting(api: &str) -> Vec<String> {
    let mut names: Vec<String> = status(api)
        .and_then(|s| s["validators"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

/// The governance registry's entry for validator `name`, as `api` reads it.
fn registry_entry(root: &Path, api: &str, name: &str) -> Value {
    let shown = as_admin(root, "bolt", api, &["show"]);
    shown["validators"]
        .as_array()
        .and_then(|all| all.iter().find(|v| v["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no validator {name}: {shown}"))
}

/// Propose with `proposer`, approve with `voters`; the approving receipt.
fn decide(root: &Path, proposer: (&str, &str), args: &[&str], voters: &[(&str, &str)]) -> Value {
    let mut all = vec!["propose"];
    all.extend_from_slice(args);
    let r = as_admin(root, proposer.0, proposer.1, &all);
    let id = event(&r, "proposed").unwrap_or_else(|| panic!("{r}"))["attributes"]["proposal"]
        .as_str()
        .unwrap()
        .to_string();
    let mut last = Value::Null;
    for (org, api) in voters {
        last = as_admin(root, org, api, &["vote", &id]);
    }
    assert!(event(&last, "approved").is_some(), "{last}");
    last
}

/// The chain, as `api` sees it, finalizes `blocks` more blocks across at
/// least one epoch boundary.
fn goes_on(api: &str, blocks: u64, why: &str) {
    let from = executed(api);
    wait_for(
        &format!("{api} stalled at {from}: {why}"),
        Duration::from_secs(120),
        || executed(api) >= from + blocks,
    );
}

/// Kill `index`'s node at once (no shutdown), as a crash would.
fn crash(nodes: &mut Nodes, index: usize) {
    let child = &mut nodes.0[index];
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Everything the validator-set changes need, and what they leave: the API
/// of every validator voting at the end (the removed one's node stopped).
pub fn add_and_remove(
    root: &Path,
    hosts: &Hosts,
    nodes: &mut Nodes,
    apis: &[String],
    load: &Load,
) -> Vec<String> {
    let [forge, bolt, cast, watch] = [0, 1, 2, 3].map(|i| apis[i].clone());
    let originals = ["bolt-v1", "cast-v1", "forge-v1", "watch-v1"];
    assert_eq!(voting(&forge), originals);

    // gear, a fifth organisation with a CA ingot makes, is voted in.
    ingot_ok(root, &["org", "init", "--dir", "gear", "--name", "gear"]);
    decide(
        root,
        ("bolt", &bolt),
        &["add-org", "--descriptor", "gear/descriptor.json"],
        &[("cast", &cast), ("watch", &watch)],
    );
    std::fs::copy(root.join("genesis.json"), root.join("gear/genesis.json")).unwrap();

    // Its validator: a key and node.toml on a host of its own, started
    // before the vote (nobody connects to it yet).
    let made = ingot_ok(
        root,
        &[
            "org",
            "add-observer",
            "--dir",
            "gear",
            "--name",
            "gear-v1",
            "--api-listen",
            &hosts.api(NEW_VALIDATOR_HOST),
            "--p2p-listen",
            &hosts.p2p(NEW_VALIDATOR_HOST),
        ],
    );
    let new_key = made["public_key"].as_str().unwrap().to_string();
    let newcomer = format!("http://{}", hosts.api(NEW_VALIDATOR_HOST));
    nodes.0.push(start_on(
        hosts,
        NEW_VALIDATOR_HOST,
        &root.join("gear/gear-v1"),
    ));
    let newcomer_index = nodes.0.len() - 1;
    let p2p = hosts.p2p(NEW_VALIDATOR_HOST);
    let add = [
        "add-validator",
        "--name",
        "gear-v1",
        "--org",
        "gear",
        "--node-key",
        "gear/gear-v1/observer.key",
        "--p2p-address",
        p2p.as_str(),
    ];
    // Only gear's admin may add a validator of gear.
    let mut as_cast = vec!["--json", "governance", "propose"];
    as_cast.extend_from_slice(&add);
    as_cast.extend_from_slice(&[
        "--node",
        &cast,
        "--key",
        "cast/admin.key",
        "--cert",
        "cast/admin.pem",
    ]);
    let refused = super::ingot(root, &as_cast);
    assert!(
        !refused.status.success(),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    // Five organisations: gear's proposal and two votes approve.
    decide(
        root,
        ("gear", &bolt),
        &add,
        &[("cast", &cast), ("watch", &watch)],
    );
    let entry = registry_entry(root, &forge, "gear-v1");
    assert_eq!(entry["public_key"], new_key.as_str(), "{entry}");
    let votes_from = entry["votes_from_epoch"].as_u64().unwrap();
    let added_at = entry["added_at"].as_u64().unwrap();
    assert_eq!(votes_from, added_at / EPOCH_LENGTH + 2, "{entry}");

    // It is connected from the decision on and catches up from genesis;
    // from `votes_from` on it votes.
    wait_for(
        "gear-v1 never reached the epoch it votes from; see gear/gear-v1/node.log",
        Duration::from_secs(180),
        || epoch(&newcomer) > votes_from && executed(&newcomer) + 5 >= executed(&forge),
    );
    let seen = status(&newcomer).unwrap();
    assert_eq!(seen["role"], "validator", "{seen}");
    let five = ["bolt-v1", "cast-v1", "forge-v1", "gear-v1", "watch-v1"];
    for api in [&forge, &bolt, &cast, &watch, &newcomer] {
        eventually(|| {
            (voting(api) == five)
                .then_some(())
                .ok_or_else(|| format!("{api} says {:?} vote", voting(api)))
        });
    }

    // Five validators need four votes. Without cast-v1 the chain goes on
    // only if gear-v1 votes.
    load.send_through(&[forge.clone(), bolt.clone(), watch.clone(), newcomer.clone()]);
    crash(nodes, 2);
    goes_on(&forge, 2 * EPOCH_LENGTH, "gear-v1 does not vote");
    // cast-v1 comes back and catches up across the boundaries it missed.
    nodes.0[2] = start(root, hosts, 2);
    wait_for(
        "cast-v1 did not catch up after its crash; see cast/cast-v1/node.log",
        Duration::from_secs(120),
        || executed(&cast) >= executed(&forge),
    );

    // watch gives up its validator seat (it stays a member organisation).
    let watch_key = status(&watch).unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    decide(
        root,
        ("watch", &watch),
        &["remove-validator", "--public-key", &watch_key],
        &[("bolt", &bolt), ("cast", &cast)],
    );
    let entry = registry_entry(root, &forge, "watch-v1");
    let last_epoch = entry["votes_until_epoch"]
        .as_u64()
        .unwrap_or_else(|| panic!("{entry}"));
    // A second change waits until this one took effect.
    let out = super::ingot(
        root,
        &[
            "--json",
            "governance",
            "propose",
            "remove-validator",
            "--public-key",
            &new_key,
            "--node",
            &bolt,
            "--key",
            "bolt/admin.key",
            "--cert",
            "bolt/admin.pem",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("has not taken effect yet"), "{err}");

    let remaining = vec![forge.clone(), bolt.clone(), cast.clone(), newcomer.clone()];
    load.send_through(&remaining);
    wait_for(
        "watch-v1's removal never took effect",
        Duration::from_secs(180),
        || remaining.iter().all(|api| epoch(api) > last_epoch),
    );
    let four = ["bolt-v1", "cast-v1", "forge-v1", "gear-v1"];
    for api in &remaining {
        eventually(|| {
            (voting(api) == four)
                .then_some(())
                .ok_or_else(|| format!("{api} says {:?} vote", voting(api)))
        });
    }
    // Nobody connects to watch-v1 any more: it hears of nothing beyond the
    // epoch it last voted in.
    goes_on(&forge, EPOCH_LENGTH, "after watch-v1's removal");
    let heard = status(&watch).unwrap()["finalized_height"]
        .as_u64()
        .unwrap();
    assert!(
        heard < (last_epoch + 2) * EPOCH_LENGTH,
        "removed watch-v1 still hears of height {heard}"
    );
    crate::common::interrupt(&mut nodes.0[3]);

    // Four validators need three votes: without watch-v1 and gear-v1 the
    // chain goes on (five would need four).
    load.send_through(&[forge.clone(), bolt.clone(), cast.clone()]);
    crash(nodes, newcomer_index);
    goes_on(&forge, 2 * EPOCH_LENGTH, "watch-v1's seat still counts");
    nodes.0[newcomer_index] = start_on(hosts, NEW_VALIDATOR_HOST, &root.join("gear/gear-v1"));
    wait_for(
        "gear-v1 did not catch up after its crash; see gear/gear-v1/node.log",
        Duration::from_secs(120),
        || executed(&newcomer) >= executed(&forge),
    );
    load.send_through(&remaining);

    // A client that trusts only genesis follows the set through its changes
    // (each boundary certified by the set before) to a proof from the
    // validator added by vote.
    let r = super::notarise(root, &newcomer, "bolt/member.key", "bolt/member.pem", 51);
    assert_eq!(r["final"], true, "{r}");
    let key = format!("notary/doc/{}", "33".repeat(32));
    let proved = ingot_ok(
        root,
        &[
            "query",
            "--node",
            &newcomer,
            "--prove",
            &key,
            "--genesis",
            "genesis.json",
            "--key",
            "bolt/admin.key",
            "--cert",
            "bolt/admin.pem",
        ],
    );
    assert_eq!(proved["proof_verified"], true, "{proved}");
    assert!(
        proved["anchored_in_block"].as_u64().unwrap() > (last_epoch + 1) * EPOCH_LENGTH,
        "{proved}"
    );
    remaining
}
