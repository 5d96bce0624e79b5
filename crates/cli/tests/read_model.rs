//! The permission matrix, against a real node: every role × every key
//! prefix the modules declare × the routes that show chain data. Expected
//! answers come from an independent truth table per read rule, so a module
//! that declares a new prefix without a fixture here, or a rule without a
//! row, fails this test.

mod common;

use common::*;
use ingot_crypto::{issue_end_entity, unix_now, CertInfo, CertSpec, PrivateKey, Role, Scheme};
use ingot_execution::visibility::{module_keys, Rule};
use ingot_types::parse_digest;
use serde_json::{json, Value};
use std::{collections::BTreeMap, path::Path, process::Command};

/// The roles of the matrix, in column order.
const ROLES: [&str; 7] = [
    "anonymous",
    "owner",
    "other",
    "regulator",
    "grantee",
    "revoked",
    "expired",
];

/// Whether `role` may read a key under `rule` on this fixture: the owner is
/// the manufacturer (device, policy grantor, workflow participant), the
/// grantee is the logistics member holding a read + telemetry.read policy
/// and the token, "other" is a supplier member.
fn allowed(rule: Rule, role: &str) -> bool {
    use Rule::*;
    match role {
        "owner" => !matches!(rule, RegulatorsOnly),
        "other" => matches!(rule, Public | Members),
        "regulator" => !matches!(rule, Token),
        "grantee" => matches!(rule, Public | Members | Telemetry(_) | Policy | Token),
        _ => unreachable!("{role} never reaches the rule"),
    }
}

/// A member certificate of `org` issued now, valid over [from, to] (unix s).
fn issue_member(data: &Path, org: &str, cn: &str, from: i64, to: i64) -> Member {
    let dir = data.join("orgs").join(org);
    let ca_key =
        PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(dir.join("ca.key")).unwrap()).unwrap();
    let ca_pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let pem = issue_end_entity(
        &ca_key,
        &ca_pem,
        &key.public_key(),
        &CertSpec {
            common_name: cn.into(),
            organization: org.into(),
            san_uris: vec![],
            not_before: from,
            not_after: to,
            role: Role::Member,
        },
    )
    .unwrap();
    Member {
        key,
        der: CertInfo::from_pem(&pem).unwrap().der.into(),
        pem,
    }
}

const INSPECTION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="Inspect" name="Inspect" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="Check" name="Check the machine"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Check"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Check" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;

#[test]
fn permission_matrix() {
    // Ports of its own: every test network runs beside the others.
    let net = start_net("readmodel", 1, 19_080, 32_080);
    let api = net.api.as_str();
    let orgs = net.data.join("orgs");
    let (_, status) = call("GET", &format!("{api}/v1/status"), None);
    let chain = parse_digest(status["chain_id"].as_str().unwrap()).unwrap();
    let height = status["finalized_height"].as_u64().unwrap();
    let owner = load(&orgs.join("manufacturer"), "member");
    let owner_admin = load(&orgs.join("manufacturer"), "admin");
    let other = load(&orgs.join("supplier"), "member");
    let regulator = load(&orgs.join("regulator"), "member");
    let grantee = load(&orgs.join("logistics"), "member");
    let now = unix_now();
    let revoked = issue_member(&net.data, "manufacturer", "leaver", now - 60, now + 86_400);
    let expired = issue_member(&net.data, "manufacturer", "old", now - 7_200, now - 3_600);
    let grantee_name = format!("member:{}", hex::encode(grantee.member_id()));

    // The fixture: a device of the manufacturer, a policy for the logistics
    // member, a token it was granted, a rule, a notarised document, a
    // workflow instance only the manufacturer takes part in, and a revoked
    // member.
    let out = Command::new(BIN)
        .args(["--json", "ca", "issue-device", "--ca-dir"])
        .arg(orgs.join("manufacturer"))
        .args(["--serial", "RM-1", "--model", "CNC", "--out-dir"])
        .arg(&net.data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let device_pem = std::fs::read_to_string(net.data.join("RM-1.pem")).unwrap();
    let device_der = CertInfo::from_pem(&device_pem).unwrap().der;
    let id = "manufacturer:RM-1";
    let name = "manufacturer/plant/rm-1";
    let mut salt = 0;
    let mut send = |who: &Member, module: &str, method: &str, args: Value| {
        salt += 1;
        let t = tx(who, chain, height + 200, 7_000 + salt, module, method, args);
        let (s, r) = post_tx(api, &t, true);
        assert_eq!(
            (s, r["status"].as_str()),
            (200, Some("success")),
            "{module}.{method}: {r}"
        );
        (ingot_types::hex_digest(&t.hash()), r)
    };
    let (register_tx, _) = send(
        &owner,
        "device",
        "register",
        json!({"certificate_pem": device_pem, "name": name, "metadata": "{\"address\":\"10.9.9.9:502\"}"}),
    );
    send(&owner, "device", "activate", json!({"device_id": id}));
    let target = format!("device:{id}");
    send(
        &owner,
        "access",
        "set_policy",
        json!({"target": target, "accessor": grantee_name, "operations": ["read", "telemetry.read"]}),
    );
    let (token_tx, granted) = send(
        &grantee,
        "access",
        "request",
        json!({"device_id": id, "operation": "read"}),
    );
    assert_eq!(granted["events"][0]["kind"], "granted", "{granted}");
    send(
        &owner,
        "telemetry",
        "set_rule",
        json!({"id": "hot", "target": target, "measurement": "temp", "kind": "above", "value": "80.0"}),
    );
    let doc = "ab".repeat(32);
    send(
        &other,
        "notary",
        "record",
        json!({"document_hash": doc, "metadata": "supplier QC"}),
    );
    let bindings = json!({"name": "inspection", "participants": {"Inspect": "org:manufacturer"}, "start": "org:manufacturer"});
    send(
        &owner,
        "workflow",
        "deploy",
        json!({"xml": INSPECTION, "bindings": bindings}),
    );
    send(
        &owner,
        "workflow",
        "start",
        json!({"definition": "inspection"}),
    );
    send(
        &owner_admin,
        "identity",
        "revoke",
        json!({"certificate_pem": revoked.pem}),
    );
    // The manufacturer's validator certificate renewed on its consensus key.
    let genesis: Value =
        serde_json::from_slice(&std::fs::read(net.data.join("genesis.json")).unwrap()).unwrap();
    let validator_key = genesis["validators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["org"] == "manufacturer")
        .unwrap()["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    {
        let ca_dir = orgs.join("manufacturer");
        let ca_key =
            PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(ca_dir.join("ca.key")).unwrap())
                .unwrap();
        let ca_pem = std::fs::read_to_string(ca_dir.join("ca.pem")).unwrap();
        let consensus =
            ingot_crypto::PublicKey::ed25519_from_raw(&hex::decode(&validator_key).unwrap())
                .unwrap();
        let renewed = issue_end_entity(
            &ca_key,
            &ca_pem,
            &consensus,
            &CertSpec {
                common_name: "renewed".into(),
                organization: "manufacturer".into(),
                san_uris: vec![],
                not_before: now - 60,
                not_after: now + 4000 * 86_400,
                role: Role::Validator,
            },
        )
        .unwrap();
        send(
            &owner_admin,
            "identity",
            "renew_validator",
            json!({"certificate_pem": renewed}),
        );
    }
    // An open proposal (with the proposer's vote and the agenda).
    send(
        &owner_admin,
        "governance",
        "propose",
        json!({"action": {"kind": "set_weight", "org": "manufacturer", "weight": 2}}),
    );

    let instance = "inspection-1";
    let h = |der: &[u8]| hex::encode(ingot_crypto::cert_hash(der));
    let fixtures: BTreeMap<&str, String> = [
        (
            "identity/member/",
            format!("identity/member/{}", h(&owner.der)),
        ),
        (
            "identity/revoked/",
            format!("identity/revoked/{}", h(&revoked.der)),
        ),
        (
            "identity/revoked-key/",
            format!("identity/revoked-key/{}", hex::encode(revoked.member_id())),
        ),
        (
            "identity/validator/",
            format!("identity/validator/{validator_key}"),
        ),
        ("notary/doc/", format!("notary/doc/{doc}")),
        ("governance/meta/", "governance/meta/agenda".into()),
        ("governance/org/", "governance/org/manufacturer".into()),
        (
            "governance/deployers/",
            "governance/deployers/workflow".into(),
        ),
        (
            "governance/prop/",
            "governance/prop/0000000000000001".into(),
        ),
        (
            "governance/vote/",
            "governance/vote/0000000000000001/manufacturer".into(),
        ),
        ("device/name/", format!("device/name/{name}")),
        ("device/cert/", format!("device/cert/{}", h(&device_der))),
        ("device/ns/", "device/ns/manufacturer/plant".into()),
        ("device/rec/", format!("device/rec/{id}")),
        ("device/hist/", format!("device/hist/{id}/{:016x}", 0)),
        (
            "access/policy/",
            format!("access/policy/{target}/{grantee_name}"),
        ),
        ("access/token/", format!("access/token/{token_tx}")),
        ("access/used/", format!("access/used/{token_tx}")),
        ("access/log/", format!("access/log/{id}/{:016x}", 0)),
        ("access/loglen/", format!("access/loglen/{id}")),
        ("telemetry/summary/", format!("telemetry/summary/{id}")),
        (
            "telemetry/batch/",
            format!("telemetry/batch/{id}/{:016x}", 1),
        ),
        (
            "telemetry/rulestate/",
            format!("telemetry/rulestate/{id}/hot"),
        ),
        ("telemetry/rules/", format!("telemetry/rules/{target}")),
        ("telemetry/hbn/", format!("telemetry/hbn/{:016x}", 0)),
        (
            "telemetry/hb/",
            format!("telemetry/hb/{:016x}/{:08x}", 0, 0),
        ),
        (
            "workflow/def/",
            format!("workflow/def/inspection/{:010}", 1),
        ),
        (
            "workflow/xml/",
            format!("workflow/xml/inspection/{:010}", 1),
        ),
        (
            "workflow/bind/",
            format!("workflow/bind/inspection/{:010}", 1),
        ),
        (
            "workflow/diagram/",
            format!("workflow/diagram/inspection/{:010}", 1),
        ),
        (
            "workflow/diagchunk/",
            format!("workflow/diagchunk/inspection/{:010}/00000", 1),
        ),
        ("workflow/parent/", format!("workflow/parent/{instance}")),
        (
            "workflow/child/",
            format!("workflow/child/{instance}/00001.00000"),
        ),
        ("workflow/latest/", "workflow/latest/inspection".into()),
        ("workflow/names/", format!("workflow/names/{:010}", 0)),
        ("workflow/count/", "workflow/count/inspection".into()),
        ("workflow/inst/", format!("workflow/inst/{instance}")),
        ("workflow/starter/", format!("workflow/starter/{instance}")),
        (
            "workflow/hist/",
            format!("workflow/hist/{instance}/{:010}", 0),
        ),
        (
            "workflow/timerhours/",
            format!("workflow/timerhours/{:020}", 0),
        ),
        ("workflow/timers/", format!("workflow/timers/{:020}", 0)),
        (
            "workflow/sub/",
            "workflow/sub/notary.recorded/org/00".into(),
        ),
        (
            "workflow/subattrs/",
            "workflow/subattrs/notary.recorded".into(),
        ),
        (
            "workflow/startsub/",
            "workflow/startsub/notary.recorded/org/00".into(),
        ),
        (
            "workflow/sigwait/",
            "workflow/sigwait/41636d65/726563616c6c".into(),
        ),
        (
            "workflow/sigstart/",
            "workflow/sigstart/41636d65/726563616c6c".into(),
        ),
    ]
    .into_iter()
    .collect();

    let members: [(&str, Option<&Member>); 7] = [
        ("anonymous", None),
        ("owner", Some(&owner)),
        ("other", Some(&other)),
        ("regulator", Some(&regulator)),
        ("grantee", Some(&grantee)),
        ("revoked", Some(&revoked)),
        ("expired", Some(&expired)),
    ];
    assert_eq!(members.map(|(r, _)| r), ROLES);

    // 1. Raw state: every declared prefix × every role.
    let mut checked = 0;
    let mut failures = Vec::new();
    for decl in module_keys().flat_map(|(_, decls)| decls.iter()) {
        let key = fixtures.get(decl.prefix).unwrap_or_else(|| {
            panic!(
                "declared prefix {} has no fixture in the permission matrix",
                decl.prefix
            )
        });
        for (role, who) in members {
            let (status, body) = signed_get(api, who, &format!("/v1/state/{key}?prove=true"));
            let want = match role {
                "anonymous" => 401,
                "revoked" | "expired" => 401,
                r if allowed(decl.rule, r) => 200,
                _ => 403,
            };
            checked += 1;
            if status != want {
                failures.push(format!(
                    "{role} reading {key} ({:?}): {status}, want {want}: {body}",
                    decl.rule
                ));
            }
            if status >= 400 {
                assert!(
                    body["code"].is_string(),
                    "errors are JSON with a code: {body}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // A key no module owns: regulators only.
    assert_eq!(signed_get(api, Some(&owner), "/v1/state/secret/x").0, 403);
    assert_eq!(
        signed_get(api, Some(&regulator), "/v1/state/secret/x").0,
        200
    );

    // 2. Routes that show module data, per role: allowed (2xx, or 503 while
    // a bundle waits for a certificate) or the refusal.
    let routes: Vec<(String, [u16; 7])> = vec![
        // anonymous, owner, other, regulator, grantee, revoked, expired
        (
            format!("/v1/devices/{id}"),
            [200, 200, 200, 200, 200, 401, 401],
        ),
        (
            format!("/v1/devices/by-name/{name}"),
            [200, 200, 200, 200, 200, 401, 401],
        ),
        (
            format!("/v1/devices/{id}/history"),
            [401, 200, 403, 200, 403, 401, 401],
        ),
        (
            format!("/v1/devices/{id}/access-log"),
            [401, 200, 403, 200, 403, 401, 401],
        ),
        (
            format!("/v1/telemetry/devices/{id}"),
            [401, 200, 403, 200, 200, 401, 401],
        ),
        (
            format!("/v1/access/tokens/{token_tx}/bundle"),
            [401, 200, 403, 403, 200, 401, 401],
        ),
        (
            format!("/v1/workflow/instances/{instance}"),
            [401, 200, 403, 200, 403, 401, 401],
        ),
        (
            "/v1/workflow/definitions/inspection".into(),
            [401, 200, 200, 200, 200, 401, 401],
        ),
        (
            format!("/v1/tx/{token_tx}"),
            [401, 200, 200, 200, 200, 401, 401],
        ),
        (
            "/v1/blocks/latest".into(),
            [401, 200, 200, 200, 200, 401, 401],
        ),
        (
            "/v1/events?module=device".into(),
            [401, 200, 200, 200, 200, 401, 401],
        ),
        ("/metrics".into(), [200, 200, 200, 200, 200, 401, 401]),
        ("/v1/whoami".into(), [200, 200, 200, 200, 200, 401, 401]),
    ];
    for (path, want) in &routes {
        for ((role, who), want) in members.iter().zip(want) {
            if path.starts_with("/v1/events") && *want == 200 {
                continue; // a stream never ends; its filtering is checked below
            }
            let (status, body) = signed_get(api, *who, path);
            let ok = status == *want || (*want == 200 && status == 503 && path.contains("bundle"));
            assert!(ok, "{role} GET {path}: {status}, want {want}: {body}");
        }
    }
    // The public part of a device for everyone else, the full record for
    // its owner and regulators.
    for (role, who) in &members[..5] {
        let (_, v) = signed_get(api, *who, &format!("/v1/devices/{id}"));
        let full = matches!(*role, "owner" | "regulator");
        assert_eq!(
            v["visibility"],
            if full { "full" } else { "public" },
            "{role}: {v}"
        );
        assert_eq!(v.get("metadata").is_some(), full, "{role}: {v}");
    }

    // 3. Transactions and blocks: the token grant in full only for its
    // requester and the device's owner; a summary (no events, no token) for
    // everyone else, regulators included.
    for (role, who, full) in [
        ("owner", &owner, true),
        ("grantee", &grantee, true),
        ("other", &other, false),
        ("regulator", &regulator, false),
    ] {
        let (_, r) = signed_get(api, Some(who), &format!("/v1/tx/{token_tx}"));
        assert_eq!(
            r["visibility"],
            if full { "full" } else { "summary" },
            "{role}: {r}"
        );
        assert_eq!(r["events"].is_array(), full, "{role}: {r}");
        assert!(
            full || !r.to_string().contains("10.9.9.9"),
            "{role} sees the address: {r}"
        );
        assert_eq!(
            (
                r["module"].as_str(),
                r["method"].as_str(),
                r["sender_org"].as_str()
            ),
            (Some("access"), Some("request"), Some("logistics")),
            "{r}"
        );
        let (_, b) = signed_get(api, Some(who), &format!("/v1/blocks/{}", r["height"]));
        let entry = b["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["hash"] == token_tx.as_str())
            .unwrap()
            .clone();
        assert_eq!(entry["args"].is_object(), full, "{role}: {entry}");
        assert_eq!(
            b["raw"].is_string(),
            full,
            "raw bytes only for who sees every transaction: {role}"
        );
        assert!(b["header"].is_string());
    }
    // The device's registration: its owner and regulators see it all.
    for (role, who, full) in [
        ("owner", &owner, true),
        ("regulator", &regulator, true),
        ("other", &other, false),
        ("grantee", &grantee, false),
    ] {
        let (_, r) = signed_get(api, Some(who), &format!("/v1/tx/{register_tx}"));
        assert_eq!(
            r["visibility"],
            if full { "full" } else { "summary" },
            "{role}: {r}"
        );
    }

    // 4. Events: a device event reaches its owner and regulators, not another
    // organisation; the granted token reaches no regulator.
    let stream = |who: &Member, path: &str| {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(8)))
            .build()
            .new_agent();
        let mut req = agent.get(&format!("{api}{path}"));
        for (k, v) in signer(who).headers("GET", path, b"").unwrap() {
            req = req.header(k, v);
        }
        let reader = req.call().unwrap().into_body().into_reader();
        std::thread::spawn(move || {
            let mut seen = String::new();
            let mut reader = reader;
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
                if n == 0 {
                    break;
                }
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            seen
        })
    };
    let watchers: Vec<_> = [
        (&owner, "owner"),
        (&regulator, "regulator"),
        (&other, "other"),
    ]
    .into_iter()
    .map(|(who, role)| {
        (
            role,
            stream(who, "/v1/events?module=device"),
            stream(who, "/v1/events?module=access"),
        )
    })
    .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    send(
        &owner,
        "device",
        "record_maintenance",
        json!({"device_id": id, "note": "spindle replaced"}),
    );
    send(
        &grantee,
        "access",
        "request",
        json!({"device_id": id, "operation": "read"}),
    );
    for (role, device_events, access_events) in watchers {
        let device_events = device_events.join().unwrap();
        let access_events = access_events.join().unwrap();
        let sees_device = device_events.contains("maintenance_recorded");
        assert_eq!(sees_device, role != "other", "{role}: {device_events}");
        let sees_token = access_events.contains("\"token\"");
        assert_eq!(sees_token, role == "owner", "{role}: {access_events}");
    }

    // 5. A subscriber revoked after it connected stops receiving: streams
    // re-check their reader (every STREAM_RECHECK, 5 s), even when nothing
    // arrives for them (an idle stream used to stay open until its next
    // event).
    let watcher = issue_member(&net.data, "manufacturer", "watcher", now - 60, now + 86_400);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .new_agent();
    let path = "/v1/events?module=notary";
    let mut req = agent.get(&format!("{api}{path}"));
    for (k, v) in signer(&watcher).headers("GET", path, b"").unwrap() {
        req = req.header(k, v);
    }
    let mut reader = req.call().unwrap().into_body().into_reader();
    let collector = std::thread::spawn(move || {
        let (mut seen, mut buf, started) = (String::new(), [0u8; 4096], std::time::Instant::now());
        while let Ok(n) = std::io::Read::read(&mut reader, &mut buf) {
            if n == 0 {
                return (seen, true, started.elapsed());
            }
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        (seen, false, started.elapsed())
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    send(
        &other,
        "notary",
        "record",
        json!({"document_hash": "01".repeat(32), "metadata": "before"}),
    );
    send(
        &owner_admin,
        "identity",
        "revoke",
        json!({"certificate_pem": watcher.pem}),
    );
    // Nothing more happens on chain: the idle stream must end by itself.
    let revoked_at = std::time::Instant::now();
    while !collector.is_finished() && revoked_at.elapsed() < std::time::Duration::from_secs(15) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        collector.is_finished(),
        "an idle stream of a revoked member is still open 15 s later"
    );
    send(
        &other,
        "notary",
        "record",
        json!({"document_hash": "02".repeat(32), "metadata": "after"}),
    );
    let (seen, ended, _) = collector.join().unwrap();
    assert!(
        seen.contains(&"01".repeat(32)),
        "delivered before revocation: {seen}"
    );
    assert!(
        !seen.contains(&"02".repeat(32)),
        "delivered after revocation: {seen}"
    );
    assert!(ended, "the stream of a revoked member ends");

    // 6. Consent on the way in: the logistics firm registers a manufacturer
    // device it holds, with the device's signature made by the CLI.
    let out = Command::new(BIN)
        .args(["--json", "ca", "issue-device", "--ca-dir"])
        .arg(orgs.join("manufacturer"))
        .args(["--serial", "RM-2", "--model", "Truck", "--out-dir"])
        .arg(&net.data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let truck = std::fs::read_to_string(net.data.join("RM-2.pem")).unwrap();
    let args = json!({"certificate_pem": truck, "name": "logistics/fleet/rm-2"});
    let t = tx(
        &grantee,
        chain,
        height + 200,
        9_001,
        "device",
        "register",
        args.clone(),
    );
    let (_, r) = post_tx(api, &t, true);
    assert_eq!(r["status"], "failed", "{r}");
    let consent = run_json(
        Command::new(BIN)
            .args([
                "--json",
                "ca",
                "device-consent",
                "--node",
                api,
                "--device-key",
            ])
            .arg(net.data.join("RM-2.key"))
            .arg("--device-cert")
            .arg(net.data.join("RM-2.pem"))
            .arg("--registrant-cert")
            .arg(orgs.join("logistics/member.pem")),
    );
    let mut with_consent = args;
    with_consent["possession_signature"] = consent["possession_signature"].clone();
    let t = tx(
        &grantee,
        chain,
        height + 200,
        9_002,
        "device",
        "register",
        with_consent,
    );
    let (_, r) = post_tx(api, &t, true);
    assert_eq!(r["status"], "success", "{r}");
}
