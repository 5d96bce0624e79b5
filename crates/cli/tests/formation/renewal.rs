//! Certificates renewed on the same key (issue 16, item 4), with OpenSSL as
//! the organisation's PKI: a member's renewed certificate is the same member
//! at once — it transfers the document its first certificate notarised, no
//! transaction or vote before; a validator's certificate, renewed on its
//! consensus key by its organisation's admin, clears the expiry warning on
//! every node; an older certificate cannot be replayed over it.

use super::{ingot_ok, openssl_certify, openssl_leaf, tx_send};
use crate::common::{load, signed_get, try_call};
use serde_json::Value;
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// `identity.renew_validator` with `pem` as forge's admin; the receipt, or
/// the refusal's text.
fn renew_validator(root: &Path, api: &str, pem: &str) -> Result<Value, String> {
    let pem = std::fs::read_to_string(root.join(pem)).unwrap();
    let args = serde_json::json!({ "certificate_pem": pem }).to_string();
    let admin = ("pki/forge-admin.key", "pki/forge-admin.pem");
    let out = tx_send(root, api, admin, "identity", "renew_validator", &args);
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn renew(root: &Path, apis: &[String]) {
    let pki = root.join("pki");
    // alice's certificate renewed by forge's OpenSSL CA on her same P-256 key.
    openssl_certify(
        &pki,
        "forge-ca",
        "forge-alice.key",
        "/O=forge/OU=member/CN=alice",
        "900",
        "forge-alice-renewed.pem",
    );
    let ids = |cert: &str| ingot_ok(root, &["ca", "id", "--cert", cert]);
    let (old, new) = (
        ids("pki/forge-alice.pem"),
        ids("pki/forge-alice-renewed.pem"),
    );
    assert_eq!(old["member_id"], new["member_id"], "{old} {new}");
    assert_ne!(old["certificate_hash"], new["certificate_hash"]);
    // The renewed certificate transfers what the first one notarised (doc
    // 01..01 at formation) — to cast's member, named by member id.
    let cast = ids("cast/member.pem");
    let args = serde_json::json!({
        "document_hash": "01".repeat(32),
        "new_owner": cast["member_id"],
    })
    .to_string();
    let r = ingot_ok(
        root,
        &[
            "tx",
            "send",
            "--node",
            &apis[2],
            "--key",
            "pki/forge-alice.key",
            "--cert",
            "pki/forge-alice-renewed.pem",
            "--module",
            "notary",
            "--method",
            "transfer",
            "--args",
            &args,
            "--wait",
        ],
    );
    assert_eq!(r["status"], "success", "{r}");
    // The node says who the renewed certificate is.
    let mut alice = load(&pki, "forge-alice");
    alice.pem = std::fs::read_to_string(pki.join("forge-alice-renewed.pem")).unwrap();
    alice.der = ingot_crypto::CertInfo::from_pem(&alice.pem)
        .unwrap()
        .der
        .into();
    let (code, me) = signed_get(&apis[1], Some(&alice), "/v1/whoami");
    assert_eq!(code, 200);
    assert_eq!(me["member_id"], old["member_id"], "{me}");

    // forge-v1's certificate ends in 10 days; forge's admin (OpenSSL too)
    // renews it on the same consensus key for 400.
    openssl_leaf(
        &pki,
        "forge-ca",
        "forge-admin",
        "/O=forge/OU=admin/CN=forge-admin",
        &["-algorithm", "ed25519"],
        "800",
    );
    openssl_certify(
        &pki,
        "forge-ca",
        "forge-v1.key",
        "/O=forge/OU=validator/CN=forge-v1",
        "400",
        "forge-v1-renewed.pem",
    );
    let r = renew_validator(root, &apis[0], "pki/forge-v1-renewed.pem").unwrap();
    let renewed = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "validator_renewed")
        .unwrap_or_else(|| panic!("no validator_renewed event: {r}"));
    assert_eq!(renewed["attributes"]["validator"], "forge-v1", "{r}");
    // The old certificate cannot be put back; a member's is not a validator's.
    let refusal = renew_validator(root, &apis[0], "pki/forge-v1.pem").unwrap_err();
    assert!(refusal.contains("not_newer"), "{refusal}");
    let refusal = renew_validator(root, &apis[0], "pki/forge-alice-renewed.pem").unwrap_err();
    assert!(refusal.contains("not_a_validator_certificate"), "{refusal}");

    // Every node stops warning once it executed the renewal.
    let member = load(&root.join("cast"), "member");
    for api in apis {
        let started = Instant::now();
        loop {
            let (_, status) = try_call("GET", &format!("{api}/v1/status"), None).unwrap();
            if status["certificate_warnings"]
                .as_array()
                .unwrap()
                .is_empty()
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{api} still warns: {status}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let (_, metrics) = signed_get(api, Some(&member), "/metrics");
        let metrics = metrics.as_str().unwrap();
        assert!(
            metrics.contains("ingot_certificates_expiring 0\n"),
            "{metrics}"
        );
    }
}
