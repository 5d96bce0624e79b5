//! A CA rotated by vote, under load (issue 16 item 4's last part): forge's
//! OpenSSL PKI makes a new CA; the consortium trusts it from the next block,
//! and certificates of the old CA still count up to the height the proposal
//! states, so members (and devices in the field) are re-issued without an
//! outage; after that height the old CA's certificates sign nothing.

use super::{governance::event, ingot, ingot_ok, openssl_ca, openssl_leaf, tx_send};
use crate::common::try_call;
use serde_json::Value;
use std::{
    path::Path,
    time::{Duration, Instant},
};

fn executed(api: &str) -> u64 {
    let (_, health) = try_call("GET", &format!("{api}/health"), None)
        .unwrap_or_else(|e| panic!("{api}/health: {e}"));
    health["executed_height"]
        .as_u64()
        .unwrap_or_else(|| panic!("{api}/health: {health}"))
}

fn notarise_as(root: &Path, api: &str, who: (&str, &str), n: u8) -> std::process::Output {
    let args = format!(
        "{{\"document_hash\":\"{}\",\"metadata\":\"rotation\"}}",
        format!("{n:02x}").repeat(32)
    );
    tx_send(root, api, who, "notary", "record", &args)
}

/// Blocks the old CA stays trusted after the proposal: the votes and
/// alice's transaction take a few blocks each under load (about 15 in all
/// on this machine; the margin is for a slower, busier one).
const GRACE_BLOCKS: u64 = 150;

pub fn rotate(root: &Path, apis: &[String]) {
    let pki = root.join("pki");
    let ed25519 = ["-algorithm", "ed25519"];
    openssl_ca(&pki, "forge-ca2", "forge", &ed25519, &[]);
    openssl_leaf(
        &pki,
        "forge-ca2",
        "forge-bob",
        "/O=forge/OU=member/CN=bob",
        &ed25519,
        "800",
    );
    let bob = ("pki/forge-bob.key", "pki/forge-bob.pem");
    let alice = ("pki/forge-alice.key", "pki/forge-alice-renewed.pem");
    // Not trusted yet: bob is refused at the door.
    let out = notarise_as(root, &apis[0], bob, 41);
    assert!(
        !out.status.success(),
        "a certificate of an unknown CA signed"
    );

    // forge's admin (an OpenSSL certificate of the old CA) proposes.
    let old_until = executed(&apis[0]) + GRACE_BLOCKS;
    let r = ingot_ok(
        root,
        &[
            "governance",
            "propose",
            "replace-ca",
            "--org",
            "forge",
            "--ca",
            "pki/forge-ca2.pem",
            "--old-until",
            &old_until.to_string(),
            "--node",
            &apis[0],
            "--key",
            "pki/forge-admin.key",
            "--cert",
            "pki/forge-admin.pem",
        ],
    );
    let id = event(&r, "proposed").unwrap_or_else(|| panic!("{r}"))["attributes"]["proposal"]
        .as_str()
        .unwrap()
        .to_string();
    super::governance::as_admin(root, "bolt", &apis[1], &["vote", &id]);
    let r: Value = super::governance::as_admin(root, "cast", &apis[2], &["vote", &id]);
    assert!(event(&r, "approved").is_some(), "{r}");

    // Both CAs count now: bob (new CA) and alice (old CA) transact.
    let started = Instant::now();
    loop {
        let out = notarise_as(root, &apis[1], bob, 41);
        if out.status.success() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the new CA is not trusted: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = notarise_as(root, &apis[2], alice, 42);
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(r["final"], true, "{r}");
    assert!(
        r["height"].as_u64().unwrap() <= old_until,
        "the grace ended before alice could sign; raise GRACE_BLOCKS"
    );
    let shown = ingot_ok(
        root,
        &[
            "governance",
            "show",
            "--node",
            &apis[3],
            "--key",
            "watch/admin.key",
            "--cert",
            "watch/admin.pem",
        ],
    );
    let forge = crate::common::named(&shown["organisations"], "forge");
    assert_eq!(forge["cas"].as_array().unwrap().len(), 2, "{forge}");
    assert_eq!(
        forge["cas"][1]["trusted_until_height"], old_until,
        "{forge}"
    );

    // After the stated height the old CA's certificates sign nothing.
    let started = Instant::now();
    while executed(&apis[3]) <= old_until + 1 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the chain did not reach height {old_until}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = notarise_as(root, &apis[3], alice, 43);
    assert!(
        !out.status.success(),
        "a certificate of the old CA signed after its grace: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = ingot(
        root,
        &[
            "tx",
            "send",
            "--node",
            &apis[0],
            "--key",
            bob.0,
            "--cert",
            bob.1,
            "--module",
            "notary",
            "--method",
            "record",
            "--args",
            &format!(
                "{{\"document_hash\":\"{}\",\"metadata\":\"after\"}}",
                "2c".repeat(32)
            ),
            "--wait",
        ],
    );
    assert!(
        out.status.success(),
        "the new CA's member after the grace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
