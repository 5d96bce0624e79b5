//! Observer nodes (issue 16, item 5), with real processes on hosts of their
//! own: watch (the regulator) runs an archive node the consortium admits by
//! vote. It follows every finalized block while everything else happens,
//! serves the API and forwards transactions, never votes; a node nobody
//! admitted follows nothing; withdrawn by vote, the observer is cut off at
//! once.

use super::{
    governance::{as_admin, event, eventually},
    hosts::Hosts,
    ingot_ok,
    load::{all_final_on, Acked},
    Nodes, ARCHIVE_HOST, SPY_HOST,
};
use crate::common::try_call;
use serde_json::Value;
use std::{
    path::Path,
    time::{Duration, Instant},
};

fn health(api: &str) -> Option<Value> {
    try_call("GET", &format!("{api}/health"), None)
        .ok()
        .map(|(_, v)| v)
}

/// What the node has heard is finalized (it may not have executed it yet).
fn finalized(api: &str) -> u64 {
    try_call("GET", &format!("{api}/v1/status"), None)
        .ok()
        .and_then(|(_, v)| v["finalized_height"].as_u64())
        .unwrap_or(0)
}

fn executed(api: &str) -> u64 {
    health(api)
        .and_then(|v| v["executed_height"].as_u64())
        .unwrap_or(0)
}

/// `ingot org add-observer` for `org` on host `host`; the node's public key.
fn make_observer(root: &Path, hosts: &Hosts, org: &str, name: &str, host: usize) -> String {
    let out = ingot_ok(
        root,
        &[
            "org",
            "add-observer",
            "--dir",
            org,
            "--name",
            name,
            "--api-listen",
            &hosts.api(host),
            "--p2p-listen",
            &hosts.p2p(host),
        ],
    );
    out["public_key"].as_str().unwrap().to_string()
}

fn proposal_id(r: &Value) -> String {
    event(r, "proposed").unwrap_or_else(|| panic!("{r}"))["attributes"]["proposal"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A node that cannot start says which file or address stopped it, before
/// it opens any storage.
fn startup_refusals(root: &Path) {
    let dir = root.join("lonely/node");
    let run = || {
        std::process::Command::new(crate::common::BIN)
            .args(["node", "run", "--config", "node.toml"])
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    ingot_ok(
        root,
        &["org", "add-observer", "--dir", "lonely", "--name", "node"],
    );
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("cannot read genesis ../genesis.json"), "{err}");
    std::fs::copy(root.join("genesis.json"), root.join("lonely/genesis.json")).unwrap();
    // Its API port taken by someone else.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let toml = std::fs::read_to_string(dir.join("node.toml")).unwrap();
    let toml = toml.replace("127.0.0.1:8180", &format!("127.0.0.1:{port}"));
    std::fs::write(dir.join("node.toml"), toml).unwrap();
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!("api_listen 127.0.0.1:{port}")),
        "{err}"
    );
    assert!(!dir.join("data/storage").exists(), "storage opened first");
}

/// The archive node, admitted and following, and the node nobody admitted.
pub struct Archive {
    api: String,
    key: String,
    spy_api: String,
    _nodes: Nodes,
}

/// watch's archive node is made, admitted by vote and follows; cast runs a
/// node nobody admits.
pub fn admit(root: &Path, apis: &[String], hosts: &Hosts) -> Archive {
    let api = format!("http://{}", hosts.api(ARCHIVE_HOST));
    let spy_api = format!("http://{}", hosts.api(SPY_HOST));
    startup_refusals(root);
    let key = make_observer(root, hosts, "watch", "watch-archive", ARCHIVE_HOST);
    make_observer(root, hosts, "cast", "cast-spy", SPY_HOST);
    let nodes = Nodes(vec![
        super::start_on(hosts, ARCHIVE_HOST, &root.join("watch/watch-archive")),
        super::start_on(hosts, SPY_HOST, &root.join("cast/cast-spy")),
    ]);

    // watch's admin proposes its archive node; bolt and cast approve.
    let r = as_admin(
        root,
        "watch",
        &apis[3],
        &[
            "propose",
            "add-observer",
            "--name",
            "watch-archive",
            "--org",
            "watch",
            "--observer-key",
            "watch/watch-archive/observer.key",
            "--p2p-address",
            &hosts.p2p(ARCHIVE_HOST),
        ],
    );
    let id = proposal_id(&r);
    as_admin(root, "bolt", &apis[1], &["vote", &id]);
    let r = as_admin(root, "cast", &apis[2], &["vote", &id]);
    assert!(event(&r, "approved").is_some(), "{r}");

    // It follows the chain to where the validators are.
    let started = Instant::now();
    let target = executed(&apis[0]);
    while executed(&api) < target {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the admitted observer did not follow; see {}/watch/watch-archive/node.log",
            root.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, status) = try_call("GET", &format!("{api}/v1/status"), None).unwrap();
    assert_eq!(status["role"], "observer", "{status}");
    assert_eq!(status["public_key"], key.as_str());
    let (_, status) = try_call("GET", &format!("{}/v1/status", apis[0]), None).unwrap();
    assert_eq!(status["role"], "validator");
    assert_eq!(status["observers"][0]["name"], "watch-archive", "{status}");
    assert_eq!(status["observers"][0]["public_key"], key.as_str());
    let shown = as_admin(root, "bolt", &apis[1], &["show"]);
    assert_eq!(shown["observers"][0]["name"], "watch-archive", "{shown}");
    let watch = crate::common::named(&shown["organisations"], "watch");
    assert_eq!(watch["operates_observer"], true, "{watch}");

    // A transaction submitted to the observer is forwarded, ordered and
    // final; the observer reports it from its own execution.
    let r = super::notarise(root, &api, "bolt/member.key", "bolt/member.pem", 31);
    assert_eq!(r["final"], true, "{r}");
    // The same block, byte for byte, on the observer and a validator.
    let height = r["height"].as_u64().unwrap_or_else(|| panic!("{r}"));
    let bolt = crate::common::load(&root.join("bolt"), "member");
    let path = format!("/v1/blocks/{height}");
    let (code, on_archive) = crate::common::signed_get(&api, Some(&bolt), &path);
    assert_eq!(code, 200, "{on_archive}");
    let (_, on_validator) = crate::common::signed_get(&apis[1], Some(&bolt), &path);
    assert_eq!(on_archive["hash"], on_validator["hash"], "{on_archive}");
    Archive {
        api,
        key,
        spy_api,
        _nodes: nodes,
    }
}

/// The archive followed throughout: it has every transaction acknowledged
/// so far; the node nobody admitted has nothing; withdrawn by vote, the
/// archive is cut off while the chain goes on.
pub fn withdraw(root: &Path, apis: &[String], archive: Archive, acked: &[Acked]) {
    let Archive {
        api, key, spy_api, ..
    } = &archive;
    // Later blocks anchor the state roots of earlier ones: the observer
    // checks them against its own execution and keeps going only if equal.
    let beyond = executed(&apis[0]) + 2;
    eventually(|| {
        (executed(api) >= beyond)
            .then_some(())
            .ok_or_else(|| format!("observer at {}", executed(api)))
    });
    eventually(|| all_final_on(root, api, acked));

    // Nobody admitted cast's node: the validators never completed its
    // handshake, so it has nothing.
    assert!(health(spy_api).is_some(), "cast's node is not running");
    assert_eq!(
        executed(spy_api),
        0,
        "an unadmitted node followed the chain"
    );
    // It takes no transaction it could never forward.
    let refused = |api: &str| {
        let out = super::tx_send(
            root,
            api,
            ("bolt/member.key", "bolt/member.pem"),
            "notary",
            "record",
            &format!(
                "{{\"document_hash\":\"{}\",\"metadata\":\"\"}}",
                "5a".repeat(32)
            ),
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && err.contains("observer_not_admitted"),
            "{err}"
        );
    };
    refused(spy_api);

    // Withdrawn by vote: cut off at once; the chain goes on without it.
    let r = as_admin(
        root,
        "bolt",
        &apis[1],
        &["propose", "remove-observer", "--public-key", key],
    );
    let id = proposal_id(&r);
    as_admin(root, "cast", &apis[2], &["vote", &id]);
    let r = as_admin(root, "watch", &apis[3], &["vote", &id]);
    let approved = event(&r, "approved").unwrap_or_else(|| panic!("{r}"));
    let holds_from: u64 = approved["attributes"]["holds_from"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for validator in apis {
        eventually(|| {
            let (_, status) = try_call("GET", &format!("{validator}/v1/status"), None)
                .map_err(|e| e.to_string())?;
            status["observers"]
                .as_array()
                .is_some_and(|o| o.is_empty())
                .then_some(())
                .ok_or_else(|| status.to_string())
        });
    }
    // Every validator re-tracks its peers within a second of executing it;
    // then no finalization reaches the observer any more (it may still be
    // executing blocks it had: its *finalized* height is what must stop).
    std::thread::sleep(Duration::from_secs(3));
    let cut_at = finalized(api);
    let started = Instant::now();
    while executed(&apis[0]) < cut_at + 5 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the chain stalled"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        finalized(api),
        cut_at,
        "a withdrawn observer still hears of finalized blocks"
    );
    // It still serves what it has. If it executed the block that withdrew
    // it (it usually received it before the cut; blocks it heard finalized
    // but never fetched it cannot execute), it knows, and takes no
    // transaction.
    assert!(health(api).is_some());
    if executed(api) + 1 >= holds_from {
        refused(api);
    }
}
