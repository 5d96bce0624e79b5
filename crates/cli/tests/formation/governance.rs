//! The formed consortium governs itself (issue 16, item 2), through the
//! CLI against the running validators: a fifth organisation whose CA was
//! made with OpenSSL is admitted by vote and transacts; every node agrees on
//! the new consortium; it is removed again by vote and then signs and reads
//! nothing.

use super::{ingot, ingot_ok, tx_send};
use crate::common::{load, openssl, signed_get, try_call};
use serde_json::Value;
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// `ingot governance <args>` as `org`'s admin against `api`.
pub(super) fn as_admin(root: &Path, org: &str, api: &str, args: &[&str]) -> Value {
    let (key, cert) = (format!("{org}/admin.key"), format!("{org}/admin.pem"));
    let mut all = vec!["governance"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--node", api, "--key", &key, "--cert", &cert]);
    ingot_ok(root, &all)
}

/// A governance event of a receipt, by kind.
pub(super) fn event<'a>(receipt: &'a Value, kind: &str) -> Option<&'a Value> {
    receipt["events"]
        .as_array()?
        .iter()
        .find(|e| e["module"] == "governance" && e["kind"] == kind)
}

/// newco's member records document `doc` (hex) through `api`, waiting
/// for finality.
fn newco_notarise(root: &Path, api: &str, doc: &str) -> std::process::Output {
    let args = format!("{{\"document_hash\":\"{doc}\",\"metadata\":\"newco\"}}");
    let member = ("newco/member.key", "newco/member.pem");
    tx_send(root, api, member, "notary", "record", &args)
}

/// Retry `notarise` until it is final (the change holds from the block after
/// the one that applied it, which the node may not have executed yet).
fn notarise_eventually(root: &Path, api: &str, n: u8) -> Value {
    let started = Instant::now();
    loop {
        let out = newco_notarise(root, api, &format!("{n:02x}").repeat(32));
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "newco never transacted: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Retry `check` for up to 30 s (a node may be a block or two behind the
/// one a transaction was waited on).
pub(super) fn eventually(mut check: impl FnMut() -> Result<(), String>) {
    let started = Instant::now();
    loop {
        match check() {
            Ok(()) => return,
            Err(last) => assert!(
                started.elapsed() < Duration::from_secs(30),
                "still not so after 30 s: {last}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn govern(root: &Path, apis: &[String]) {
    // newco prepares on its own host: an OpenSSL P-256 CA imported by ingot.
    let pki = root.join("pki");
    openssl(
        &pki,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "newco-ca.key",
        ],
    );
    openssl(
        &pki,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "newco-ca.key",
            "-sha256",
            "-days",
            "365",
            "-subj",
            "/O=newco/CN=newco CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "newco-ca.pem",
        ],
    );
    ingot_ok(
        root,
        &[
            "org",
            "init",
            "--dir",
            "newco",
            "--ca-cert",
            "pki/newco-ca.pem",
            "--ca-key",
            "pki/newco-ca.key",
        ],
    );
    // Not a member yet: its member's transaction is refused at the door.
    let out = newco_notarise(root, &apis[0], &"aa".repeat(32));
    let refusal = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && refusal.contains("newco"),
        "{refusal}"
    );

    // bolt's admin proposes, from newco's public descriptor.
    let r = as_admin(
        root,
        "bolt",
        &apis[1],
        &[
            "propose",
            "add-org",
            "--descriptor",
            "newco/descriptor.json",
        ],
    );
    let proposed = event(&r, "proposed").unwrap_or_else(|| panic!("{r}"));
    let id = proposed["attributes"]["proposal"]
        .as_str()
        .unwrap()
        .to_string();
    // It awaits cast's vote, not bolt's (the proposal is bolt's approval).
    // Asked of bolt's node, which executed the proposal (another node may
    // be a block behind).
    let inbox = as_admin(root, "cast", &apis[1], &["inbox"]);
    assert_eq!(inbox["awaiting"][0]["id"].to_string(), id, "{inbox}");
    assert_eq!(inbox["awaiting"][0]["action"]["name"], "newco");
    let inbox = as_admin(root, "bolt", &apis[1], &["inbox"]);
    assert_eq!(inbox["awaiting"].as_array().unwrap().len(), 0, "{inbox}");
    // A member who is not an admin may not vote.
    let out = ingot(
        root,
        &[
            "governance",
            "vote",
            &id,
            "--node",
            &apis[2],
            "--key",
            "cast/member.key",
            "--cert",
            "cast/member.pem",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not_admin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // cast approves (two of four), watch — the regulator — approves: three.
    as_admin(root, "cast", &apis[2], &["vote", &id]);
    let r = as_admin(root, "watch", &apis[3], &["vote", &id]);
    assert!(event(&r, "approved").is_some(), "{r}");
    // A double vote is refused with its reason.
    let out = ingot(
        root,
        &[
            "governance",
            "vote",
            &id,
            "--node",
            &apis[2],
            "--key",
            "cast/admin.key",
            "--cert",
            "cast/admin.pem",
        ],
    );
    assert!(!out.status.success());

    let r = notarise_eventually(root, &apis[3], 7);
    assert_eq!(r["final"], true, "{r}");
    assert_eq!(r["sender_org"], "newco");
    // Every node knows the new consortium (once it executed that far).
    for api in apis {
        eventually(|| {
            let (_, status) =
                try_call("GET", &format!("{api}/v1/status"), None).map_err(|e| e.to_string())?;
            let names: Vec<&str> = status["organisations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["name"].as_str())
                .collect();
            (names == ["bolt", "cast", "forge", "newco", "watch"])
                .then_some(())
                .ok_or_else(|| format!("{api}: {status}"))
        });
    }
    let shown = as_admin(root, "watch", &apis[0], &["show"]);
    assert_eq!(shown["total_weight"], 5, "{shown}");
    assert_eq!(shown["rules"]["proposal_ttl_blocks"], 600, "{shown}");
    let newco_member = load(&root.join("newco"), "member");
    let (code, _) = signed_get(&apis[2], Some(&newco_member), "/v1/governance");
    assert_eq!(code, 200);

    // Removed by vote: it signs and reads nothing from the next block on.
    let r = as_admin(root, "bolt", &apis[1], &["propose", "remove-org", "newco"]);
    let id = event(&r, "proposed").unwrap()["attributes"]["proposal"]
        .as_str()
        .unwrap()
        .to_string();
    as_admin(root, "cast", &apis[2], &["vote", &id]);
    as_admin(root, "watch", &apis[3], &["vote", &id]);
    let started = Instant::now();
    while signed_get(&apis[0], Some(&newco_member), "/v1/governance").0 != 401 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "newco still reads after its removal"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = newco_notarise(root, &apis[1], &"bb".repeat(32));
    let refusal = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && refusal.contains("newco"),
        "{refusal}"
    );
    eventually(|| {
        let shown = as_admin(root, "cast", &apis[2], &["proposals", &id]);
        (shown["status"] == "applied")
            .then_some(())
            .ok_or_else(|| shown.to_string())
    });
    let shown = as_admin(root, "cast", &apis[2], &["proposals", &id]);
    assert_eq!(shown["votes"].as_array().unwrap().len(), 3, "{shown}");
    let shown = as_admin(root, "cast", &apis[2], &["show"]);
    assert_eq!(shown["total_weight"], 4, "{shown}");

    // A chain parameter by vote: the idle heartbeat from the nodes' own
    // 10 s to 1 s. Idle, the chain then finalizes a block about every
    // second; at 10 s, four blocks would take 40 s.
    let r = as_admin(
        root,
        "bolt",
        &apis[1],
        &["propose", "set-params", "--heartbeat-ms", "1000"],
    );
    let id = event(&r, "proposed").unwrap()["attributes"]["proposal"]
        .as_str()
        .unwrap()
        .to_string();
    as_admin(root, "cast", &apis[2], &["vote", &id]);
    as_admin(root, "watch", &apis[3], &["vote", &id]);
    let height = || -> u64 {
        try_call("GET", &format!("{}/health", apis[0]), None)
            .ok()
            .and_then(|(_, v)| v["executed_height"].as_u64())
            .unwrap_or(0)
    };
    let (from, started) = (height(), Instant::now());
    while height() < from + 4 {
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "the voted heartbeat does not hold: height {} after {:?}",
            height(),
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let shown = as_admin(root, "cast", &apis[2], &["show"]);
    assert_eq!(shown["params"]["idle_heartbeat_ms"], 1000, "{shown}");
}
