//! Observer nodes (issue 16, item 5), with real processes: watch (the
//! regulator) runs an archive node the consortium admits by vote. It
//! follows every finalized block, serves the API and forwards transactions,
//! never votes; a node nobody admitted follows nothing; withdrawn by vote,
//! the observer is cut off at once.

use super::{
    governance::{as_admin, event, eventually},
    ingot_ok,
};
use crate::common::{try_call, BIN};
use serde_json::Value;
use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const ARCHIVE_API: u16 = 19_290;
const ARCHIVE_P2P: u16 = 32_290;
const SPY_API: u16 = 19_291;
const SPY_P2P: u16 = 32_291;

fn health(api: &str) -> Option<Value> {
    try_call("GET", &format!("{api}/health"), None)
        .ok()
        .map(|(_, v)| v)
}

fn executed(api: &str) -> u64 {
    health(api)
        .and_then(|v| v["executed_height"].as_u64())
        .unwrap_or(0)
}

/// `ingot org add-observer` for `org`, returning the node's public key.
fn make_observer(root: &Path, org: &str, name: &str, api: u16, p2p: u16) -> String {
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
            &format!("127.0.0.1:{api}"),
            "--p2p-listen",
            &format!("127.0.0.1:{p2p}"),
        ],
    );
    out["public_key"].as_str().unwrap().to_string()
}

fn run_node(root: &Path, org: &str, name: &str) -> Child {
    let dir = root.join(org).join(name);
    let log = std::fs::File::create(dir.join("node.log")).unwrap();
    Command::new(BIN)
        .args(["node", "run", "--config", "node.toml"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn proposal_id(r: &Value) -> String {
    event(r, "proposed").unwrap_or_else(|| panic!("{r}"))["attributes"]["proposal"]
        .as_str()
        .unwrap()
        .to_string()
}

pub fn observe(root: &Path, apis: &[String]) {
    let archive_api = format!("http://127.0.0.1:{ARCHIVE_API}");
    let spy_api = format!("http://127.0.0.1:{SPY_API}");
    let archive_key = make_observer(root, "watch", "watch-archive", ARCHIVE_API, ARCHIVE_P2P);
    make_observer(root, "cast", "cast-spy", SPY_API, SPY_P2P);
    let _nodes = super::Nodes(vec![
        run_node(root, "watch", "watch-archive"),
        run_node(root, "cast", "cast-spy"),
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
            &format!("127.0.0.1:{ARCHIVE_P2P}"),
        ],
    );
    let id = proposal_id(&r);
    as_admin(root, "bolt", &apis[1], &["vote", &id]);
    let r = as_admin(root, "cast", &apis[2], &["vote", &id]);
    assert!(event(&r, "approved").is_some(), "{r}");

    // It follows the chain to where the validators are.
    let started = Instant::now();
    let target = executed(&apis[0]);
    while executed(&archive_api) < target {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the admitted observer did not follow; see {}/watch/watch-archive/node.log",
            root.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, status) = try_call("GET", &format!("{archive_api}/v1/status"), None).unwrap();
    assert_eq!(status["role"], "observer", "{status}");
    assert_eq!(status["public_key"], archive_key.as_str());
    let (_, status) = try_call("GET", &format!("{}/v1/status", apis[0]), None).unwrap();
    assert_eq!(status["role"], "validator");
    assert_eq!(status["observers"][0]["name"], "watch-archive", "{status}");
    assert_eq!(status["observers"][0]["public_key"], archive_key.as_str());

    // A transaction submitted to the observer is forwarded, ordered and
    // final; the observer reports it from its own execution.
    let r = super::notarise(root, &archive_api, "bolt/member.key", "bolt/member.pem", 31);
    assert_eq!(r["final"], true, "{r}");
    // The same block, byte for byte, on the observer and a validator.
    let height = r["height"].as_u64().unwrap_or_else(|| panic!("{r}"));
    let bolt = crate::common::load(&root.join("bolt"), "member");
    let path = format!("/v1/blocks/{height}");
    let (code, on_archive) = crate::common::signed_get(&archive_api, Some(&bolt), &path);
    assert_eq!(code, 200, "{on_archive}");
    let (_, on_validator) = crate::common::signed_get(&apis[1], Some(&bolt), &path);
    assert_eq!(on_archive["hash"], on_validator["hash"], "{on_archive}");
    // Later blocks anchor the state roots of earlier ones: the observer
    // checks them against its own execution and keeps going only if equal.
    let beyond = executed(&apis[0]) + 3;
    eventually(|| {
        (executed(&archive_api) >= beyond)
            .then_some(())
            .ok_or_else(|| format!("observer at {}", executed(&archive_api)))
    });

    // Nobody admitted cast's node: the validators never completed its
    // handshake, so it has nothing.
    assert!(health(&spy_api).is_some(), "cast's node is not running");
    assert_eq!(
        executed(&spy_api),
        0,
        "an unadmitted node followed the chain"
    );

    // Withdrawn by vote: cut off at once; the chain goes on without it.
    let r = as_admin(
        root,
        "bolt",
        &apis[1],
        &["propose", "remove-observer", "--public-key", &archive_key],
    );
    let id = proposal_id(&r);
    as_admin(root, "cast", &apis[2], &["vote", &id]);
    let r = as_admin(root, "watch", &apis[3], &["vote", &id]);
    assert!(event(&r, "approved").is_some(), "{r}");
    eventually(|| {
        let (_, status) =
            try_call("GET", &format!("{}/v1/status", apis[0]), None).map_err(|e| e.to_string())?;
        status["observers"]
            .as_array()
            .is_some_and(|o| o.is_empty())
            .then_some(())
            .ok_or_else(|| status.to_string())
    });
    // Give every validator a moment to re-track its peers (they check each second).
    std::thread::sleep(Duration::from_secs(3));
    let cut_at = executed(&archive_api);
    let started = Instant::now();
    while executed(&apis[0]) < cut_at + 5 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the chain stalled"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        executed(&archive_api) <= cut_at + 1,
        "a withdrawn observer still follows: {} (cut at {cut_at})",
        executed(&archive_api)
    );
    // It still serves what it has.
    assert!(health(&archive_api).is_some());
}
