//! The HTTP API of a real single-validator network: every kind of bad
//! transaction is refused with its reason and changes nothing; proofs verify
//! and tampered proofs do not; client mistakes are 4xx JSON errors.

mod common;

use bytes::Bytes;
use common::*;
use commonware_codec::{Decode, Encode};
use ingot_crypto::{
    issue_ca, issue_end_entity, unix_now, CertInfo, CertSpec, PrivateKey, Role, Scheme,
};
use ingot_types::{limits::MAX_TX_BYTES, parse_digest, Digest, SignedTransaction};
use serde_json::{json, Value};
use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

#[test]
fn refusals_proofs_and_client_errors() {
    let net = start_net("api", 1, 18580, 31580);
    let api = net.api.as_str();
    let (_, status) = call("GET", &format!("{api}/v1/status"), None);
    let chain = parse_digest(status["chain_id"].as_str().unwrap()).unwrap();
    let height = status["finalized_height"].as_u64().unwrap();
    let orgs = net.data.join("orgs");
    let admin = load(&orgs.join("supplier"), "admin");
    let member = load(&orgs.join("supplier"), "member");
    let sm2_member = load(&orgs.join("logistics"), "member");

    // A good transaction of each CA scheme lands.
    for (i, m) in [&member, &sm2_member].into_iter().enumerate() {
        let (s, r) = post_tx(api, &record(m, chain, height, 1 + i as u64), true);
        assert_eq!((s, r["status"].as_str()), (200, Some("success")), "{r}");
    }
    let good = record(&member, chain, height, 100);
    let (s, r) = post_tx(api, &good, true);
    assert_eq!((s, r["status"].as_str()), (200, Some("success")), "{r}");

    let expect_refused = |t: &SignedTransaction, code: u16, reason: &str| {
        let (s, r) = post_tx(api, t, false);
        assert_eq!(s, code, "{r}");
        assert!(
            r["error"].as_str().unwrap_or("").contains(reason),
            "expected `{reason}`, got {r}"
        );
        // No state change: the transaction is unknown to the node.
        let (s, _) = signed_get(
            api,
            Some(&admin),
            &format!("/v1/tx/{}", ingot_types::hex_digest(&t.hash())),
        );
        assert_eq!(s, 404, "refused transaction must leave no trace");
    };

    // Replay of an included transaction: refused, and the original receipt stands.
    let (s, r) = post_tx(api, &good, false);
    assert_eq!(s, 400, "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("already included"),
        "{r}"
    );
    let (_, original) = signed_get(
        api,
        Some(&admin),
        &format!("/v1/tx/{}", ingot_types::hex_digest(&good.hash())),
    );
    assert_eq!(original["status"], "success", "{original}");
    // Bad signature: body changed after signing.
    let mut forged = record(&member, chain, height, 200);
    forged.tx.salt += 1;
    expect_refused(&forged, 400, "bad signature");
    // Wrong chain id.
    expect_refused(
        &record(
            &member,
            ingot_types::sha256(&[b"another chain"]),
            height,
            201,
        ),
        400,
        "wrong chain id",
    );
    // Certificate from a CA that is not in genesis (claims to be the supplier).
    let rogue_key = PrivateKey::generate(Scheme::P256).unwrap();
    let now = unix_now();
    let spec = |cn: &str, role| CertSpec {
        common_name: cn.into(),
        organization: "supplier".into(),
        san_uris: vec![],
        not_before: now - 60,
        not_after: now + 3600,
        role,
    };
    let rogue_ca = issue_ca(&rogue_key, &spec("fake CA", Role::Ca)).unwrap();
    let eve_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let eve_pem = issue_end_entity(
        &rogue_key,
        &rogue_ca,
        &eve_key.public_key(),
        &spec("eve", Role::Member),
    )
    .unwrap();
    let eve = Member {
        key: eve_key,
        der: CertInfo::from_pem(&eve_pem).unwrap().der.into(),
        pem: eve_pem,
    };
    expect_refused(
        &record(&eve, chain, height, 202),
        400,
        "not signed by the CA",
    );
    // Unknown certificate: garbage in the certificate field.
    let mut unknown = record(&member, chain, height, 203);
    unknown.tx.certificate = Bytes::from_static(b"not a certificate");
    expect_refused(&unknown, 400, "certificate");
    // Expired validity window.
    expect_refused(
        &tx(
            &member,
            chain,
            0,
            204,
            "notary",
            "record",
            json!({"document_hash": format!("{:064x}", 204)}),
        ),
        400,
        "expired",
    );
    // Oversized transaction.
    let (s, r) = call(
        "POST",
        &format!("{api}/v1/tx"),
        Some(&json!({"tx": "00".repeat(MAX_TX_BYTES + 1)}).to_string()),
    );
    assert_eq!(s, 400, "{r}");
    // Oversized body.
    let (s, r) = call(
        "POST",
        &format!("{api}/v1/tx"),
        Some(&json!({"tx": "00".repeat(ingot_node::api::MAX_BODY_BYTES / 2 + 1024)}).to_string()),
    );
    assert_eq!(
        (s, r["code"].as_str()),
        (413, Some("payload_too_large")),
        "{r}"
    );
    // Signed, the same oversized body is refused the same way (the signature
    // check reads the body first).
    let big = json!({"xml": "x".repeat(ingot_node::api::MAX_BODY_BYTES + 1)}).to_string();
    let (s, r) = signed_call(
        "POST",
        api,
        "/v1/workflow/validate",
        Some(&big),
        Some(&admin),
    );
    assert_eq!(
        (s, r["code"].as_str()),
        (413, Some("payload_too_large")),
        "{r}"
    );
    // An over-long target and an oversized header block: JSON refusals too
    // (they used to be the HTTP parser's empty 414/431).
    let long = format!("{api}/v1/devices/{}", "a".repeat(9 * 1024));
    let (s, r) = raw_call("GET", &long, None, &[]);
    assert_eq!((s, r["code"].as_str()), (414, Some("uri_too_long")), "{r}");
    let (s, r) = raw_call(
        "GET",
        &format!("{api}/health"),
        None,
        &[("x-padding", "p".repeat(20 * 1024))],
    );
    assert_eq!(
        (s, r["code"].as_str()),
        (431, Some("headers_too_large")),
        "{r}"
    );
    // Malformed encoding, malformed JSON, wrong types, unknown route.
    let (s, r) = call("POST", &format!("{api}/v1/tx"), Some(r#"{"tx":"0102"}"#));
    assert_eq!(s, 400, "{r}");
    assert!(r["error"]
        .as_str()
        .unwrap()
        .contains("malformed transaction"));
    // Every client error is JSON with a stable code, the framework's own
    // refusals included.
    let (s, r) = call("POST", &format!("{api}/v1/tx"), Some("{nope"));
    assert_eq!((s, r["code"].as_str()), (400, Some("bad_json")), "{r}");
    let (s, r) = call("POST", &format!("{api}/v1/tx"), Some(r#"{"tx": 5}"#));
    assert_eq!((s, r["code"].as_str()), (422, Some("bad_json")), "{r}");
    let (s, r) = call("GET", &format!("{api}/v1/nothing"), None);
    assert_eq!((s, r["code"].as_str()), (404, Some("not_found")), "{r}");
    assert!(r["error"].is_string());
    let (s, r) = call("GET", &format!("{api}/v1/tx"), None);
    assert_eq!(
        (s, r["code"].as_str()),
        (405, Some("method_not_allowed")),
        "{r}"
    );
    let (s, r) = call("GET", &format!("{api}/v1/tx/zz"), None);
    assert_eq!((s, r["code"].as_str()), (401, Some("auth_required")), "{r}");
    let (s, r) = signed_get(api, Some(&admin), "/v1/tx/zz");
    assert_eq!((s, r["code"].as_str()), (400, Some("bad_request")), "{r}");
    let (s, r) = signed_get(api, Some(&admin), "/v1/blocks/1?txs=full&raw=maybe");
    assert_eq!((s, r["code"].as_str()), (400, Some("bad_request")), "{r}");

    // Revocation: the supplier's admin revokes the member; its next
    // transaction is refused at admission.
    let revoke = tx(
        &admin,
        chain,
        height + 100,
        300,
        "identity",
        "revoke",
        json!({"certificate_pem": member.pem}),
    );
    let (s, r) = post_tx(api, &revoke, true);
    assert_eq!((s, r["status"].as_str()), (200, Some("success")), "{r}");
    expect_refused(&record(&member, chain, height, 301), 400, "revoked");

    // Proofs through the CLI: a present value and an absent key both verify
    // offline and are anchored in a finalized header.
    let key = format!("notary/doc/{:064x}", 100);
    for k in [key.as_str(), "notary/doc/absent"] {
        let v = run_json(
            Command::new(BIN)
                .args(["--json", "query", "--node", api, "--prove", k, "--genesis"])
                .arg(net.data.join("genesis.json"))
                .arg("--key")
                .arg(orgs.join("supplier/admin.key"))
                .arg("--cert")
                .arg(orgs.join("supplier/admin.pem")),
        );
        assert_eq!(v["proof_verified"], true, "{v}");
        assert!(v["anchored_in_block"].is_u64(), "{v}");
    }
    finality_is_checked_against_genesis(api, &admin, &net.data.join("genesis.json"));

    // A tampered value or root does not verify.
    let (_, v) = signed_get(api, Some(&admin), &format!("/v1/state/{key}?prove=true"));
    let root = parse_digest(v["state_root"].as_str().unwrap()).unwrap();
    let proof = hex::decode(v["proof"].as_str().unwrap()).unwrap();
    let value = hex::decode(v["value"].as_str().unwrap()).unwrap();
    assert!(ingot_state::verify_proof(
        &root,
        key.as_bytes(),
        Some(&value),
        &proof
    ));
    let mut tampered = value.clone();
    tampered[0] ^= 1;
    assert!(!ingot_state::verify_proof(
        &root,
        key.as_bytes(),
        Some(&tampered),
        &proof
    ));
    assert!(!ingot_state::verify_proof(
        &ingot_types::sha256(&[b"x"]),
        key.as_bytes(),
        Some(&value),
        &proof
    ));
    assert!(v["decoded"]["metadata"] == "x", "{v}");

    // A batch larger than a single submission's body limit is accepted whole.
    let batch: Vec<String> = (500..800u64)
        .map(|n| hex::encode(record(&sm2_member, chain, height, n).encode()))
        .collect();
    let body = json!({ "txs": batch }).to_string();
    assert!(body.len() > ingot_node::api::MAX_BODY_BYTES);
    let (s, r) = call("POST", &format!("{api}/v1/txs"), Some(&body));
    assert_eq!((s, r["accepted"].as_u64()), (200, Some(300)), "{r}");

    signed_requests_are_bound_and_used_once(api, &sm2_member, &member);

    // The event stream delivers a new notary record, filtered by module and kind.
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let events_path = "/v1/events?module=notary&kind=recorded";
    let mut req = agent.get(&format!("{api}{events_path}"));
    for (k, v) in signer(&sm2_member)
        .headers("GET", events_path, b"")
        .unwrap()
    {
        req = req.header(k, v);
    }
    let mut stream = req.call().unwrap().into_body().into_reader();
    let (s, r) = post_tx(api, &record(&sm2_member, chain, height, 400), true);
    assert_eq!((s, r["status"].as_str()), (200, Some("success")), "{r}");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.contains(&format!("{:064x}", 400)) {
        assert!(Instant::now() < deadline, "event not streamed: {seen}");
        let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("event: recorded"), "{seen}");

    // Streams are capped per caller (8 by default): the ninth of one
    // certificate is refused with 429 too_many_streams, and a slot comes
    // back once a stream is closed.
    let open_stream = || {
        let mut req = agent.get(&format!("{api}{events_path}"));
        for (k, v) in signer(&sm2_member)
            .headers("GET", events_path, b"")
            .unwrap()
        {
            req = req.header(k, v);
        }
        req.call().unwrap()
    };
    let mut held: Vec<_> = (0..7).map(|_| open_stream()).collect();
    assert!(held.iter().all(|r| r.status() == 200));
    let mut refused = open_stream();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.body_mut().read_json().unwrap();
    assert_eq!(body["code"], "too_many_streams", "{body}");
    drop(stream);
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = open_stream();
        if r.status() == 200 {
            held.push(r);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no slot came back after closing streams"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(held);

    devices_over_http(api, &net.data, chain, height);
    access_over_http(api, &net.data, chain, height);

    // Metrics and OpenAPI are served.
    let (s, m) = call("GET", &format!("{api}/metrics"), None);
    assert_eq!(s, 200);
    assert!(m.as_str().unwrap().contains("ingot_executed_height"));
    // The module catalogue: what a client needs to read receipts and events.
    let (s, cat) = call("GET", &format!("{api}/v1/modules"), None);
    assert_eq!(s, 200, "{cat}");
    let modules = cat["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 7, "{cat}");
    let device = modules.iter().find(|m| m["name"] == "device").unwrap();
    let registered = device["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "registered")
        .unwrap();
    assert!(registered["attributes"]
        .as_array()
        .unwrap()
        .contains(&json!("device_id")));
    assert!(device["failures"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "device.unknown_device"));
    // ... and what it needs to call them: who may, and example arguments.
    let identity = modules.iter().find(|m| m["name"] == "identity").unwrap();
    let revoke = identity["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "revoke")
        .unwrap_or_else(|| panic!("{identity}"));
    assert!(
        revoke["example_args"]["certificate_pem"].is_string(),
        "{revoke}"
    );
    assert!(
        revoke["who"].as_str().unwrap().contains("admin"),
        "{revoke}"
    );
    assert!(cat["tx_failures"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "tx.replay"));
    let (s, doc) = call("GET", &format!("{api}/openapi.json"), None);
    assert_eq!(s, 200);
    assert!(doc["paths"]["/v1/tx"].is_object());
}

/// Signed requests (docs/api-auth.md): the signature binds method, path
/// with query, body, time and nonce; a nonce is used once; a partial header
/// set is refused, not treated as anonymous; a revoked caller is refused.
fn signed_requests_are_bound_and_used_once(api: &str, caller: &Member, revoked: &Member) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let nonce = "0123456789abcdef0123456789abcdef";
    let headers = signer(caller)
        .headers_at("GET", "/v1/whoami", b"", now_ms, nonce)
        .unwrap();
    let url = format!("{api}/v1/whoami");
    let (s, v) = raw_call("GET", &url, None, &headers);
    assert_eq!(
        (s, v["org"].as_str(), v["common_name"].as_str()),
        (200, Some("logistics"), Some("member")),
        "{v}"
    );
    // The same request again: a replay.
    let (s, v) = raw_call("GET", &url, None, &headers);
    assert_eq!((s, v["code"].as_str()), (401, Some("auth_replayed")), "{v}");
    // Headers signed for one target, sent with a changed query string, method
    // or body: the signature does not match (fresh nonces, so not a replay).
    let fresh = |method: &str, target: &str, body: &[u8], n: u8| {
        signer(caller)
            .headers_at(method, target, body, now_ms, &format!("{n:032x}"))
            .unwrap()
    };
    let (s, v) = raw_call(
        "GET",
        &format!("{url}?x=1"),
        None,
        &fresh("GET", "/v1/whoami", b"", 1),
    );
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("auth_signature")),
        "{v}"
    );
    let (s, v) = raw_call(
        "POST",
        &format!("{api}/v1/workflow/validate"),
        Some(r#"{"xml":"<a/>"}"#),
        &fresh("POST", "/v1/workflow/validate", br#"{"xml":"<b/>"}"#, 2),
    );
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("auth_signature")),
        "{v}"
    );
    let (s, v) = raw_call(
        "POST",
        &format!("{api}/v1/workflow/validate"),
        Some(r#"{"xml":"<a/>"}"#),
        &fresh("GET", "/v1/workflow/validate", br#"{"xml":"<a/>"}"#, 3),
    );
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("auth_signature")),
        "{v}"
    );
    // The body as signed: accepted.
    let (s, v) = raw_call(
        "POST",
        &format!("{api}/v1/workflow/validate"),
        Some(r#"{"xml":"<a/>"}"#),
        &fresh("POST", "/v1/workflow/validate", br#"{"xml":"<a/>"}"#, 4),
    );
    assert_eq!(s, 200, "{v}");
    // A flipped signature bit, a stale time, a malformed nonce.
    let mut bad = fresh("GET", "/v1/whoami", b"", 5);
    let sig = &mut bad[3].1;
    let flipped = if sig.ends_with('0') { '1' } else { '0' };
    sig.pop();
    sig.push(flipped);
    let (s, v) = raw_call("GET", &url, None, &bad);
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("auth_signature")),
        "{v}"
    );
    let stale = signer(caller)
        .headers_at(
            "GET",
            "/v1/whoami",
            b"",
            now_ms - 120_000,
            &format!("{:032x}", 6),
        )
        .unwrap();
    let (s, v) = raw_call("GET", &url, None, &stale);
    assert_eq!((s, v["code"].as_str()), (401, Some("auth_time")), "{v}");
    let short = signer(caller)
        .headers_at("GET", "/v1/whoami", b"", now_ms, "abc")
        .unwrap();
    let (s, v) = raw_call("GET", &url, None, &short);
    assert_eq!((s, v["code"].as_str()), (401, Some("auth_nonce")), "{v}");
    // Only the certificate: refused, not served as anonymous.
    let partial = &fresh("GET", "/v1/whoami", b"", 7)[..1];
    let (s, v) = raw_call("GET", &url, None, partial);
    assert_eq!(
        (s, v["code"].as_str()),
        (401, Some("auth_incomplete")),
        "{v}"
    );
    // No headers at all: anonymous.
    let (s, v) = raw_call("GET", &url, None, &[]);
    assert_eq!((s, v["anonymous"].as_bool()), (200, Some(true)), "{v}");
    // A revoked member's correctly signed request.
    let (s, v) = signed_get(api, Some(revoked), "/v1/whoami");
    assert_eq!((s, v["code"].as_str()), (401, Some("auth_revoked")), "{v}");
}

/// The anchoring block's finalization certificate is verified against the
/// genesis validator set: a corrupted certificate, a certificate for another
/// block, or a different validator set are all refused. Members check it from
/// the canonical header, which every member may read.
fn finality_is_checked_against_genesis(api: &str, reader: &Member, genesis_path: &Path) {
    use ingot_node::verify::{verify_finalized_block, verify_finalized_header};
    let genesis: ingot_types::Genesis =
        serde_json::from_slice(&std::fs::read(genesis_path).unwrap()).unwrap();
    let (_, latest) = signed_get(api, Some(reader), "/v1/blocks/latest");
    let mut h = latest["height"].as_u64().unwrap();
    let (header, raw, fin) = loop {
        let (_, b) = signed_get(api, Some(reader), &format!("/v1/blocks/{h}"));
        if let Some(fin) = b["finalization"].as_str() {
            break (
                hex::decode(b["header"].as_str().unwrap()).unwrap(),
                b["raw"].as_str().map(|r| hex::decode(r).unwrap()),
                hex::decode(fin).unwrap(),
            );
        }
        h -= 1;
    };
    assert!(verify_finalized_header(
        &ingot_light::validators(&genesis).unwrap(),
        header.clone(),
        fin.clone()
    )
    .is_ok());
    if let Some(raw) = raw {
        assert!(verify_finalized_block(
            &ingot_light::validators(&genesis).unwrap(),
            raw,
            fin.clone()
        )
        .is_ok());
    }

    let mut corrupted = fin.clone();
    let last = corrupted.len() - 5;
    corrupted[last] ^= 1;
    assert!(verify_finalized_header(
        &ingot_light::validators(&genesis).unwrap(),
        header.clone(),
        corrupted
    )
    .is_err());

    let (_, parent) = signed_get(api, Some(reader), &format!("/v1/blocks/{}", h - 1));
    let parent_header = hex::decode(parent["header"].as_str().unwrap()).unwrap();
    let err = verify_finalized_header(
        &ingot_light::validators(&genesis).unwrap(),
        parent_header,
        fin.clone(),
    )
    .unwrap_err();
    assert!(err.contains("another block"), "{err}");

    let mut strangers = genesis.clone();
    let ingot_crypto::PublicKey::Ed25519(other) =
        PrivateKey::generate(Scheme::Ed25519).unwrap().public_key()
    else {
        unreachable!()
    };
    strangers.validators[0].public_key = hex::encode(other.to_bytes());
    let err = verify_finalized_header(&ingot_light::validators(&strangers).unwrap(), header, fin)
        .unwrap_err();
    assert!(err.contains("does not verify"), "{err}");
}

/// GET `path`, signed by `who` (anonymous if `None`).
/// A device certified with `ingot ca issue-device`, registered and activated
/// by its owner, signing for itself; resolved by name and certificate, with
/// the full record and history for the owner and the regulator only.
fn devices_over_http(api: &str, data: &Path, chain: Digest, height: u64) {
    let orgs = data.join("orgs");
    let out = Command::new(BIN)
        .args(["--json", "ca", "issue-device", "--ca-dir"])
        .arg(orgs.join("manufacturer"))
        .args([
            "--serial",
            "SN-77",
            "--model",
            "CNC-5000",
            "--scheme",
            "sm2",
            "--out-dir",
        ])
        .arg(data.join("devices"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let issued: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = "manufacturer:SN-77";
    assert_eq!(issued["device_id"], id);
    let device = load(&data.join("devices"), "SN-77");
    let owner = load(&orgs.join("manufacturer"), "member");
    let outsider = load(&orgs.join("logistics"), "member");
    let regulator = load(&orgs.join("regulator"), "member");
    let name = "manufacturer/plant-1/cnc-77";

    let steps = [
        tx(
            &owner,
            chain,
            height + 100,
            900,
            "device",
            "register",
            json!({"certificate_pem": device.pem, "name": name, "metadata": "{\"address\":\"10.1.2.3:502\"}"}),
        ),
        tx(
            &outsider,
            chain,
            height + 100,
            901,
            "device",
            "register",
            json!({"certificate_pem": device.pem, "name": "manufacturer/plant-1/other"}),
        ),
        tx(
            &owner,
            chain,
            height + 100,
            902,
            "device",
            "activate",
            json!({"device_id": id}),
        ),
        tx(
            &device,
            chain,
            height + 100,
            903,
            "device",
            "report_state",
            json!({"device_id": id, "state": "running"}),
        ),
    ];
    let expected = ["success", "failed", "success", "success"];
    for (t, want) in steps.iter().zip(expected) {
        let (s, r) = post_tx(api, t, true);
        assert_eq!((s, r["status"].as_str()), (200, Some(want)), "{r}");
    }

    let by_name = format!("/v1/devices/by-name/{name}");
    for who in [None, Some(&outsider)] {
        let (s, v) = signed_get(api, who, &by_name);
        assert_eq!((s, v["visibility"].as_str()), (200, Some("public")), "{v}");
        assert_eq!(
            (v["device_id"].as_str(), v["status"].as_str()),
            (Some(id), Some("active"))
        );
        assert!(
            v.get("owner_org").is_none() && v.get("metadata").is_none(),
            "{v}"
        );
    }
    for who in [&owner, &regulator] {
        let (s, v) = signed_get(api, Some(who), &by_name);
        assert_eq!((s, v["visibility"].as_str()), (200, Some("full")), "{v}");
        assert_eq!(v["metadata"]["address"], "10.1.2.3:502");
        assert_eq!(v["owner_org"], "manufacturer");
        assert_eq!(
            v["public_key"],
            hex::encode(device.key.public_key().raw_bytes().unwrap())
        );
    }
    let cert_hash = hex::encode(ingot_crypto::cert_hash(&device.der));
    let (s, v) = signed_get(api, None, &format!("/v1/devices/by-cert/{cert_hash}"));
    assert_eq!((s, v["device_id"].as_str()), (200, Some(id)), "{v}");

    let history = format!("/v1/devices/{id}/history");
    // Anonymous: members-only route (401); another organisation: 403.
    assert_eq!(signed_get(api, None, &history).0, 401);
    assert_eq!(signed_get(api, Some(&outsider), &history).0, 403);
    let (s, v) = signed_get(api, Some(&regulator), &history);
    assert_eq!(s, 200, "{v}");
    let kinds: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["registered", "activated", "state_reported"]);

    // Listing by name prefix, paginated, in name order.
    for (i, serial) in ["SN-78", "SN-79"].iter().enumerate() {
        let out = Command::new(BIN)
            .args(["ca", "issue-device", "--ca-dir"])
            .arg(orgs.join("manufacturer"))
            .args(["--serial", serial, "--model", "PLC-1", "--out-dir"])
            .arg(data.join("devices"))
            .output()
            .unwrap();
        assert!(out.status.success());
        let dev = load(&data.join("devices"), serial);
        let t = tx(
            &owner,
            chain,
            height + 100,
            910 + i as u64,
            "device",
            "register",
            json!({"certificate_pem": dev.pem, "name": format!("manufacturer/plant-1/plc-{i}")}),
        );
        let (s, r) = post_tx(api, &t, true);
        assert_eq!((s, r["status"].as_str()), (200, Some("success")), "{r}");
    }
    let (s, page1) = call(
        "GET",
        &format!("{api}/v1/devices?prefix=manufacturer/plant-1/&limit=2"),
        None,
    );
    assert_eq!(s, 200, "{page1}");
    let names = |v: &Value| -> Vec<String> {
        v["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&page1),
        ["manufacturer/plant-1/cnc-77", "manufacturer/plant-1/plc-0"]
    );
    let next = page1["next"].as_str().unwrap();
    let (_, page2) = call(
        "GET",
        &format!("{api}/v1/devices?prefix=manufacturer/plant-1/&limit=2&after={next}"),
        None,
    );
    assert_eq!(names(&page2), ["manufacturer/plant-1/plc-1"]);
    assert!(page2["next"].is_null());
    assert!(
        page2["devices"][0].get("owner_org").is_none(),
        "listing shows the public part only"
    );

    // Raw state reads of the record are guarded the same way.
    let key = format!("/v1/state/device/rec/{id}");
    assert_eq!(signed_get(api, None, &key).0, 401);
    assert_eq!(signed_get(api, Some(&outsider), &key).0, 403);
    assert_eq!(signed_get(api, Some(&owner), &key).0, 200);
}

/// The access-control flows over HTTP: the owner grants a policy, the
/// accessor requests and receives a token, fetches its proof bundle, and a
/// device-side verifier holding only the genesis validator keys accepts it
/// once — and refuses replays, other devices or operations, expiry and any
/// tampering. The access log is the owner's and the regulator's.
fn access_over_http(api: &str, data: &Path, chain: Digest, height: u64) {
    let orgs = data.join("orgs");
    let owner = load(&orgs.join("manufacturer"), "member");
    let accessor = load(&orgs.join("logistics"), "member");
    let regulator = load(&orgs.join("regulator"), "member");
    let id = "manufacturer:SN-77";
    let accessor_name = format!("member:{}", hex::encode(accessor.member_id()));
    // A policy with a forged owner signature is refused at the door; the
    // write request below is then denied, so it granted nothing.
    let mut forged = tx(
        &owner,
        chain,
        height + 100,
        949,
        "access",
        "set_policy",
        json!({"target": format!("device:{id}"), "accessor": "org:logistics", "operations": ["write"]}),
    );
    let mut sig = forged.signature.to_vec();
    sig[3] ^= 1;
    forged.signature = sig.into();
    let (s, r) = post_tx(api, &forged, false);
    assert_eq!(s, 400, "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("bad signature"),
        "{r}"
    );

    let grant = tx(
        &owner,
        chain,
        height + 100,
        950,
        "access",
        "set_policy",
        json!({"target": format!("device:{id}"), "accessor": accessor_name, "operations": ["read"]}),
    );
    let (s, r) = post_tx(api, &grant, true);
    assert_eq!((s, r["status"].as_str()), (200, Some("success")), "{r}");
    let ask = |salt: u64, op: &str| {
        let t = tx(
            &accessor,
            chain,
            height + 100,
            salt,
            "access",
            "request",
            json!({"device_id": id, "operation": op}),
        );
        let (s, r) = post_tx(api, &t, true);
        assert_eq!((s, r["status"].as_str()), (200, Some("success")), "{r}");
        r["events"][0].clone()
    };
    let denied = ask(951, "write");
    assert_eq!(denied["kind"], "denied");
    assert_eq!(denied["attributes"]["reason"], "access.not_granted");
    let granted = ask(952, "read");
    assert_eq!(granted["kind"], "granted", "{granted}");
    assert_eq!(granted["attributes"]["address"], "10.1.2.3:502");
    let token_id = granted["attributes"]["token_id"]
        .as_str()
        .unwrap()
        .to_string();

    let path = format!("/v1/access/tokens/{token_id}/bundle");
    assert_eq!(signed_get(api, None, &path).0, 401);
    let deadline = Instant::now() + Duration::from_secs(30);
    let bundle: ingot_light::TokenBundle = loop {
        let (s, v) = signed_get(api, Some(&accessor), &path);
        if s == 200 {
            break serde_json::from_value(v).unwrap();
        }
        assert_eq!(s, 503, "{v}");
        assert!(Instant::now() < deadline, "bundle never became available");
        std::thread::sleep(Duration::from_millis(200));
    };

    let genesis: ingot_types::Genesis =
        serde_json::from_slice(&std::fs::read(data.join("genesis.json")).unwrap()).unwrap();
    let validators = ingot_light::validators(&genesis).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut device = ingot_light::TokenVerifier::new(validators.clone(), id);
    let token = device.accept(&bundle, "read", now).unwrap();
    assert_eq!(hex::encode(token.token_id), token_id);
    let again = device.accept(&bundle, "read", now).unwrap_err().to_string();
    assert!(again.contains("already used"), "{again}");

    let mut fresh = ingot_light::TokenVerifier::new(validators.clone(), id);
    assert!(fresh
        .accept(&bundle, "write", now)
        .unwrap_err()
        .to_string()
        .contains("operation"));
    assert!(fresh
        .accept(&bundle, "read", token.expires_ms)
        .unwrap_err()
        .to_string()
        .contains("expired"));
    let mut other = ingot_light::TokenVerifier::new(validators.clone(), "manufacturer:SN-78");
    assert!(other
        .accept(&bundle, "read", now)
        .unwrap_err()
        .to_string()
        .contains("for device"));
    // Tampering anywhere breaks the proof: a longer expiry, a receipt byte, a header byte.
    let mut forged = bundle.clone();
    let mut t =
        ingot_types::access::Token::decode_cfg(hex::decode(&bundle.token).unwrap(), &()).unwrap();
    t.expires_ms += 3_600_000;
    forged.token = hex::encode(t.encode());
    assert!(forged.verify(&validators).is_err());
    for field in 0..2 {
        let mut forged = bundle.clone();
        let target = if field == 0 {
            &mut forged.receipt
        } else {
            &mut forged.headers[0]
        };
        let mut raw = hex::decode(&*target).unwrap();
        let last = raw.len() - 3;
        raw[last] ^= 1;
        *target = hex::encode(raw);
        assert!(
            forged.verify(&validators).is_err(),
            "tampered field {field} accepted"
        );
    }
    assert!(
        fresh.accept(&bundle, "read", now).is_ok(),
        "the untampered bundle still verifies"
    );

    // Policy update: an empty operation set revokes the grant from the next block on.
    let revoke = tx(
        &owner,
        chain,
        height + 100,
        953,
        "access",
        "set_policy",
        json!({"target": format!("device:{id}"), "accessor": accessor_name, "operations": []}),
    );
    let (s, r) = post_tx(api, &revoke, true);
    assert_eq!((s, r["status"].as_str()), (200, Some("success")), "{r}");
    let after = ask(954, "read");
    assert_eq!(after["kind"], "denied", "{after}");

    let log = format!("/v1/devices/{id}/access-log");
    assert_eq!(signed_get(api, Some(&accessor), &log).0, 403);
    let (s, v) = signed_get(api, Some(&regulator), &log);
    assert_eq!(s, 200, "{v}");
    let decisions: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["denied", "granted", "denied"]);
}
