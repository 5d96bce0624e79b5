//! Golden conformance of the modules' consensus bytes: every call's
//! canonical arguments (from a fixed JSON form), the stored records, and the
//! failure a receipt hashes. A failure here is a CONSENSUS-BREAKING CHANGE:
//! validators of two versions would disagree on blocks, state or receipts.
//! `INGOT_GOLDEN_BLESS=1` prints every value (to re-pin a deliberate change).

use bytes::Bytes;
use commonware_codec::Encode;
use ingot_execution::{
    failure::{self, tx, Code},
    modules::{access, device, notary},
};
use ingot_types::{sha256, Receipt, Status};
use serde_json::{json, Value};

/// A fixed device certificate (made once with OpenSSL; never changes).
const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBoDCCAVKgAwIBAgIBATAFBgMrZXAwLzENMAsGA1UECgwEYWNtZTEPMA0GA1UE
CwwGZGV2aWNlMQ0wCwYDVQQDDARTTi0xMCAXDTI2MTIwNTE1MDcyMloYDzIxMjYx
MTExMTUwNzIyWjAvMQ0wCwYDVQQKDARhY21lMQ8wDQYDVQQLDAZkZXZpY2UxDTAL
BgNVBAMMBFNOLTEwKjAFBgMrZXADIQDDJQXAum8dv3/2dZdkjTVJn49scXOdUkNa
y1EjuOXzG6OBkDCBjTAdBgNVHQ4EFgQUlXaeq3ZEAP3V+ftkcLLuxjo/ccowHwYD
VR0jBBgwFoAUlXaeq3ZEAP3V+ftkcLLuxjo/ccowDwYDVR0TAQH/BAUwAwEB/zA6
BgNVHREEMzAxhhp1cm46aW5nb3Q6ZGV2aWNlOmFjbWU6U04tMYYTdXJuOmluZ290
Om1vZGVsOkNOQzAFBgMrZXADQQDagUKns92P38GOGCo3rayT9DvnyvXB3bnIZCjv
uonUWFoOdMqgw31OX+TOaYHmgxQCQfD2WqC1+Of9JRnbfD8B
-----END CERTIFICATE-----
";

fn check(name: &str, bytes: &[u8], want: &str) {
    let got = hex::encode(sha256(&[bytes]));
    if std::env::var_os("INGOT_GOLDEN_BLESS").is_some() {
        println!("PIN {name} = {got}");
        return;
    }
    assert_eq!(
        got,
        want,
        "CONSENSUS-BREAKING CHANGE: the canonical bytes of {name} changed ({})",
        hex::encode(bytes)
    );
}

/// Every call of every native module, in its JSON form.
fn calls() -> Vec<(&'static str, &'static str, Value)> {
    let h = |b: u8| hex::encode([b; 32]);
    let id = "acme:SN-1";
    vec![
        ("identity", "register", json!({"certificate_pem": CERT})),
        ("identity", "revoke", json!({"certificate_pem": CERT})),
        (
            "notary",
            "record",
            json!({"document_hash": h(1), "metadata": "QC report 42"}),
        ),
        (
            "notary",
            "transfer",
            json!({"document_hash": h(1), "new_owner": h(2)}),
        ),
        (
            "device",
            "register",
            json!({"certificate_pem": CERT, "name": "acme/plant/cnc-1", "metadata": "{\"address\":\"10.0.0.7:502\"}"}),
        ),
        (
            "device",
            "register",
            json!({"certificate_pem": CERT, "name": "acme/plant/cnc-1", "possession_signature": hex::encode([3u8; 64])}),
        ),
        ("device", "activate", json!({"device_id": id})),
        ("device", "reactivate", json!({"device_id": id})),
        ("device", "withdraw_offer", json!({"device_id": id})),
        ("device", "accept_transfer", json!({"device_id": id})),
        (
            "device",
            "suspend",
            json!({"device_id": id, "reason": "audit"}),
        ),
        (
            "device",
            "decommission",
            json!({"device_id": id, "reason": "end of life"}),
        ),
        (
            "device",
            "record_maintenance",
            json!({"device_id": id, "note": "spindle"}),
        ),
        (
            "device",
            "update_metadata",
            json!({"device_id": id, "metadata": "{}"}),
        ),
        (
            "device",
            "report_state",
            json!({"device_id": id, "state": "running"}),
        ),
        (
            "device",
            "request_maintenance",
            json!({"device_id": id, "reason": "vibration"}),
        ),
        (
            "device",
            "offer_transfer",
            json!({"device_id": id, "to_org": "bolt", "expires_height": 500}),
        ),
        (
            "device",
            "update_firmware",
            json!({"device_id": id, "version": "2.1", "image_hash": h(4)}),
        ),
        (
            "device",
            "rotate_key",
            json!({"device_id": id, "certificate_pem": CERT}),
        ),
        (
            "device",
            "delegate_namespace",
            json!({"namespace": "acme/plant-9", "to_org": "bolt"}),
        ),
        (
            "device",
            "register_equipment",
            json!({"serial": "PRESS-7", "model": "press-x", "name": "acme/plant-1/press-7", "metadata": "{}", "gateway": "acme:GW-1"}),
        ),
        (
            "device",
            "set_gateway",
            json!({"device_id": "acme:PRESS-7", "gateway": "acme:GW-2"}),
        ),
        (
            "access",
            "set_policy",
            json!({"target": format!("device:{id}"), "accessor": "org:bolt", "operations": ["read"], "not_before_ms": 1, "not_after_ms": 2, "max_uses": 3, "hour_from": 8, "hour_to": 18}),
        ),
        (
            "access",
            "request",
            json!({"device_id": id, "operation": "read"}),
        ),
        ("access", "redeem", json!({"token_id": h(5)})),
        (
            "telemetry",
            "set_rule",
            json!({"id": "hot", "target": format!("device:{id}"), "measurement": "temp", "kind": "above", "value": "80.5"}),
        ),
        (
            "telemetry",
            "set_rule",
            json!({"id": "hb", "target": "name:acme/plant", "kind": "heartbeat", "duration_ms": 60000}),
        ),
        (
            "telemetry",
            "remove_rule",
            json!({"target": format!("device:{id}"), "id": "hot"}),
        ),
        (
            "workflow",
            "deploy",
            json!({"xml": "<bpmn/>", "bindings": {"name": "x"}}),
        ),
        (
            "workflow",
            "start",
            json!({"definition": "x", "version": 2, "vars": {"amount": "1.5"}}),
        ),
        (
            "workflow",
            "complete",
            json!({"instance": "x-1", "element": "Task_1", "vars": {"ok": true}}),
        ),
        ("workflow", "cancel", json!({"instance": "x-1"})),
        (
            "workflow",
            "diagram",
            json!({"definition": "x", "version": 2, "offset": 300, "total": 50_000, "sha256": hex::encode([9u8; 32]), "index": 1, "chunk": "<bpmndi:BPMNDiagram/>"}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "add_org", "name": "acme", "org_kind": "regulator", "ca_pem": CERT, "weight": 3}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "remove_org", "name": "bolt"}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "replace_ca", "org": "acme", "ca_pem": CERT, "old_until": 900}, "effective_at": 120}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "set_rules", "participation_pct": 60, "approval_pct": 67, "proposal_ttl_blocks": 1000}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "set_weight", "org": "acme", "weight": 2}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "set_deployers", "module": "workflow", "orgs": ["acme", "bolt"]}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "set_params", "max_block_txs": 500, "idle_heartbeat_ms": 2000, "max_work_per_tx": 300_000}}),
        ),
        (
            "governance",
            "vote",
            json!({"proposal": 7, "approve": true}),
        ),
        (
            "governance",
            "vote",
            json!({"proposal": 7, "approve": false}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "add_observer", "name": "acme-archive", "org": "acme", "public_key": hex::encode([7u8; 32]), "p2p_address": "archive.acme.example:9000"}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "remove_observer", "public_key": hex::encode([7u8; 32])}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "add_validator", "name": "acme-v2", "org": "acme", "public_key": hex::encode([8u8; 32]), "p2p_address": "10.0.0.15:30300"}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "remove_validator", "public_key": hex::encode([8u8; 32])}}),
        ),
        (
            "governance",
            "propose",
            json!({"action": {"kind": "replace_validator", "old_public_key": hex::encode([8u8; 32]), "name": "acme-v3", "public_key": hex::encode([9u8; 32]), "p2p_address": "v3.acme.example:30300"}}),
        ),
    ]
}

#[test]
fn golden_call_arguments() {
    let pins: &[&str] = &[
        "e3d796ba7dd5a27578f4a0935acce616785d7422801e83b5b1bcca098eedb703",
        "e3d796ba7dd5a27578f4a0935acce616785d7422801e83b5b1bcca098eedb703",
        "4e9cd53aaaca67b050d30156e507de1c77df30ea2b9dc457151cc20a364bc5fb",
        "f818afd37a6dc3bc92fb44731011277006db4efa6e9023cd7468c02335d22a4d",
        "81f10d43ce0fe653c88e38b6999dde79ee57b787457d643e012d774e11a41da6",
        "a11e789aa2e255b0cb749e0662afaa9e888afc9430992fff9b14f926c077112e",
        "3977b113e13e12bf6c77906c20cd5c952604ff248baf484b07f9ee7559084db9",
        "3977b113e13e12bf6c77906c20cd5c952604ff248baf484b07f9ee7559084db9",
        "3977b113e13e12bf6c77906c20cd5c952604ff248baf484b07f9ee7559084db9",
        "3977b113e13e12bf6c77906c20cd5c952604ff248baf484b07f9ee7559084db9",
        "49436a19f98e7779356e25e3591d3dd816ed5811c069ed184e4a22eb209c15bc",
        "4b243623dae7e40c9e050476647dde6497f6f6f959e64577492afc8cdb4b468e",
        "34468b2996cf61811c4684fc0bf8f19c071e6495072cd21ae5068111b842410c",
        "39dada6c9edec20e201875fbddf2c2632860720d79611092bf983a86e91a24aa",
        "3086b51e0c5ca4f53fd03dab77048fb10c52cb8760f4fdaffabbc09912eef938",
        "f32c6fa60b5c19d542742af64687f1ba02d671a4045b6da98b4ab4d5d961e60c",
        "99804ec7c178fa4e8404e0732f9c5513d8a2ff6c2fc0c01c1bc71f4b713beab2",
        "64708bc6f6fbb790a58dd775e2e27ed658af2bde6030ae35a184404ed14f6361",
        "5e8f1c0fec564196697ea1e7ea798a4cf60d4eb7781eeb21a70c3c1a8bad11f3",
        "a8e3324b0b6df03ba9ac28e8fdaa9082f9d7857bb6b216f064b6e33702dc222a",
        "1185e464c7d37adf0052154528c0fc85804f4f6ff2d59c921550103a2d0c4b57",
        "80f6ebd3599e4b4af8665f5d847260f39392262e5b6f1f41166cbfd665c7115a",
        "8841d82c92ae88885052980cb87db1a560e4415cae36cc6717879eb47aef9876",
        "e349dad6ffe9e508c06211b057f6588926a49487552b8b5a17cb1d0997903518",
        "f849d67325facf04177bc663b2dc544051831c589ef581d412f2eba44834e77c",
        "54cb0881eb9449fded6e01a08201044a12ec9caf06bc07547ea4382e98b5177e",
        "c166eef37c89598a5cd23bcbe98ba429302ade33ff76f48b96fe80bcafbe849b",
        "b80f5d5f9a689cf0fe000a3e226bc909938bf12a6d2a46a37eeb49d90c6c74a2",
        "427963a9f85d5440dada588d7c156d6502993ce07491c02b0c6f001b857e9996",
        "e77bcff193bbe531e2eed492c37ba2be03694609d683cc1638825a2c2d0caed9",
        "803f90611d46d6722d11d78338a0d9c113a4db88f1ee7d82987f3c73e51806d3",
        "fe63d36a27a73e25275f7d48a25eb72787fd5e3b2622bac8ed395fb475aef39d",
        "03fa4e6910dd807b2c883d9091edd99ad4835582cc098603b58884b482b38c00",
        "d11b1ab5c1b7e6adc4c27cfd1cc34ebb9cdb036d71b71d267d1726b01d784a91",
        "01298c08f0d8956d4771d3af64b9eecdb05cc14c070d512f9261756c2474b8f8",
        "c8bbd1e0f1ef2d68bacc42ae65a78e337780a3427f8b7aee4080fc7dbd46e88f",
        "0e2ef9f058240cff33f4b54a4ef470a2a3a69172eaffad03823a56d15e04e59e",
        "84657eda41bad836e829b44f4ce817fca5dbb2f5e6e88b59dce39822aa10ad38",
        "d61c0024aa604e06c2bd2f1cb10da54a4a54565b4e41b478e8bf87135db2a833",
        "089f088833ce36257dbd870e3f999a5b019f38b2da8d46758636a3595d3da507",
        "60780dfa9e567c1855092872a360a55ef27382a60525cd7ef6c2390f9bb8b8ee",
        "3dd33157299bbcb0fb88895b4d0c1f66d042374c4575a4d0582662dd5af22047",
        "784d72a578dc6a53a7c2f95388fa31ab4048fa65fc6ef2bce907e2091571b9f9",
        "778f25c22a8ece8e29377cdc4b40b9bbbc72da726b1cf9b0ec0c20cffa432469",
        "2a7a2c9aed72f1ee78b4c3e37853d3b3698887cd9d7566c7ac116b30c83e6b6d",
        "7d4cebbcf04b1ecaa7413cd02de4b953c4d4b12af9ebbfedc530baa569c44bce",
        "47bbcfce34968bda4141446a28c5f009391691defb859726eeb5967c87bd1356",
    ];
    let calls = calls();
    let bless = std::env::var_os("INGOT_GOLDEN_BLESS").is_some();
    assert!(bless || pins.len() == calls.len(), "one pin per call");
    for (i, (module, method, v)) in calls.iter().enumerate() {
        let want = pins.get(i).copied().unwrap_or_default();
        let bytes = ingot_execution::args::from_json(module, method, v)
            .unwrap_or_else(|e| panic!("{module}.{method}: {e}"));
        check(&format!("{module}.{method} arguments"), &bytes, want);
    }
}

#[test]
fn golden_records() {
    let notary = notary::NotaryRecord {
        document_hash: [1; 32],
        metadata: "QC report 42".into(),
        owner: [2; 32],
        recorded_by_org: "acme".into(),
        height: 7,
        timestamp_ms: 1_700_000_000_000,
        tx_hash: [3; 32],
    };
    check(
        "NotaryRecord",
        &notary.encode(),
        "1239db600a561a9b9eb27f03df3864e75760ff1e1bbaaa0281e4a8d77e7bbeb7",
    );
    let cert = Bytes::from(ingot_crypto::CertInfo::from_pem(CERT).unwrap().der);
    let record = device::DeviceRecord {
        id: "acme:SN-1".into(),
        model: "CNC".into(),
        issuer_org: "acme".into(),
        certificate: cert.clone(),
        cert_hash: ingot_crypto::cert_hash(&cert),
        name: "acme/plant/cnc-1".into(),
        owner_org: "acme".into(),
        owner_member: [4; 32],
        status: 1,
        metadata: "{}".into(),
        firmware_version: "2.1".into(),
        firmware_hash: Some([5; 32]),
        registered_height: 9,
        history_len: 2,
        offer: None,
        attested_by: String::new(),
    };
    check(
        "DeviceRecord",
        &record.encode(),
        "b6dcc8b0925f9d15b3859581f9a7821014530ef33806b653f6a8f314c758722e",
    );
    let equipment = device::DeviceRecord {
        id: "acme:PRESS-7".into(),
        certificate: Bytes::new(),
        cert_hash: [0; 32],
        attested_by: "acme:SN-1".into(),
        ..record
    };
    check(
        "DeviceRecord (equipment)",
        &equipment.encode(),
        "fa693aaf26168278d8e61b8b5be2c4bc013984036ff151bfa2aad185d7b50353",
    );
    let policy = access::Policy {
        target: "device:acme:SN-1".into(),
        accessor: "org:bolt".into(),
        operations: vec!["read".into()],
        not_before_ms: Some(1),
        not_after_ms: None,
        max_uses: Some(3),
        used: 1,
        hour_from: Some(8),
        hour_to: Some(18),
        granted_by: [6; 32],
        granted_by_org: "acme".into(),
        height: 11,
    };
    let diagram = ingot_execution::modules::workflow::diagram::DiagramRecord {
        offset: 300,
        total: 50_000,
        sha256: [9; 32],
        chunks: 2,
        received: 50_000,
        attached: true,
    };
    check(
        "DiagramRecord",
        &diagram.encode(),
        "7afc0444ba318d3af445b0b8a5ffa24c77bc9e88d57e73c455ab9ca64f215c5b",
    );
    check(
        "workflow Instance",
        &workflow_instance().encode(),
        "bbd5ea7d1dbfd8f125defb297bc2fd8e8b8ad5622fec941d4de189af9c8c46a5",
    );
    check(
        "Policy",
        &policy.encode(),
        "ee5339e164831210e268b7955104d060bbd507c7d80181d296cc1f98655d616e",
    );
    governance_records(&cert);
}

fn governance_records(cert: &Bytes) {
    use ingot_execution::modules::governance::records::*;
    let org = OrgRecord {
        name: "acme".into(),
        kind: 1,
        weight: 3,
        cas: vec![
            CaRecord {
                der: cert.clone(),
                until: None,
            },
            CaRecord {
                der: cert.clone(),
                until: Some(900),
            },
        ],
    };
    check(
        "governance OrgRecord",
        &org.encode(),
        "4761090c97a3369adc7c7e94023bdc60fcc5deeea630ee194dd4c031fef25511",
    );
    check(
        "governance OrgList",
        &OrgList {
            names: vec!["acme".into(), "bolt".into()],
        }
        .encode(),
        "2626762a4fc5ffdd0110b0bf1abff517f74645bbfd11790f6a580c377fc81693",
    );
    let rules = RulesRecord {
        participation_pct: 60,
        approval_pct: 67,
        proposal_ttl_blocks: 1000,
    };
    check(
        "governance RulesRecord",
        &rules.encode(),
        "d42f160b8667d3c22aa8bb5c9c30b64e031d3e14bff2a8a78f7e10d62c22f9a4",
    );
    let params = ParamsRecord {
        max_block_txs: 500,
        idle_heartbeat_ms: 2000,
        max_work_per_tx: 0,
    };
    check(
        "governance ParamsRecord",
        &params.encode(),
        "48a540dff96f403bbcccdbfd79fe84e219e021fe4902cb14482a85b5997c1e6e",
    );
    check(
        "governance ObserverList",
        &ObserverList {
            observers: vec![ObserverRecord {
                public_key: [7; 32],
                name: "acme-archive".into(),
                org: "acme".into(),
                p2p_address: "archive.acme.example:9000".into(),
            }],
        }
        .encode(),
        "fc5ff5603467e2cb9ddd29e08c4c7f9f2ea95beee026eb0a5af4db956cafeb81",
    );
    check(
        "governance ValidatorList",
        &ValidatorList {
            validators: vec![
                ValidatorRecord {
                    public_key: [7; 32],
                    name: "acme-v".into(),
                    org: "acme".into(),
                    p2p_address: String::new(),
                    added_at: 0,
                    removed_at: Some(41),
                },
                ValidatorRecord {
                    public_key: [8; 32],
                    name: "acme-v2".into(),
                    org: "acme".into(),
                    p2p_address: "10.0.0.15:30300".into(),
                    added_at: 41,
                    removed_at: None,
                },
            ],
        }
        .encode(),
        "2bee65e30971947e5ab5387924319edb2b42aada7416121cefb2e99f2d865c9c",
    );
    check(
        "governance Deployers",
        &Deployers {
            orgs: vec!["acme".into()],
        }
        .encode(),
        "666678dcb978bb0db0708949da98ef2f828442c8f738caed06c73349c9295218",
    );
    let proposal = Proposal {
        id: 7,
        proposer_org: "acme".into(),
        proposer: [1; 32],
        action: Bytes::from_static(&[1, 4, b'b', b'o', b'l', b't']),
        created: 10,
        expires: 1010,
        effective_at: 0,
        status: 4,
        yes: 3,
        no: 1,
        decided_at: 12,
        applied_at: 12,
        note: String::new(),
    };
    check(
        "governance Proposal",
        &proposal.encode(),
        "308991c1dc26705fe73085a7f17f86736a639b6bf2113bd37cef2aeb0505ee85",
    );
    check(
        "governance Vote",
        &Vote {
            approve: true,
            by: [2; 32],
            height: 11,
        }
        .encode(),
        "1f3f492c60e85cc073ccbbceba71514b4ea65c4f103978a5dafa840dfc732adb",
    );
    let agenda = Agenda {
        open: vec![Due {
            at: 1010,
            id: 8,
            org: "bolt".into(),
        }],
        scheduled: vec![Due {
            at: 13,
            id: 7,
            org: "acme".into(),
        }],
    };
    check(
        "governance Agenda",
        &agenda.encode(),
        "ba080fe640fb3d9b2cd82b13c018a2233d4b3ea83b37ab553dd1f61b955fa61e",
    );
}

/// A failed receipt hashes the module, the code and the detail — never the
/// message. Rewording a template (or a library's error text changing)
/// leaves the receipt, hence `receipts_root`, unchanged.
#[test]
fn rewording_leaves_receipts_root_unchanged() {
    let reworded = Code {
        template: "this transaction was seen before, at block {height}",
        ..tx::REPLAY
    };
    let original = tx::REPLAY.with(&[("height", "12".into())]);
    let after = reworded.with(&[("height", "12".into())]);
    assert_ne!(failure::render(&original), {
        // what the reworded template would show
        "this transaction was seen before, at block 12".to_string()
    });
    let receipt = |f| Receipt {
        tx_hash: sha256(&[b"tx"]),
        status: Status::Failed(f),
        events: vec![],
        work_used: 100,
    };
    let (a, b) = (receipt(original.clone()), receipt(after));
    assert_eq!(a.encode(), b.encode());
    let root =
        |r: &Receipt| ingot_types::merkle::root(&[ingot_execution::executor::receipt_hash(r)]);
    assert_eq!(root(&a), root(&b));
    assert!(
        !String::from_utf8_lossy(&a.encode()).contains("already included"),
        "no message text in the receipt bytes"
    );
    check(
        "Receipt of a replay",
        &a.encode(),
        "889fb17724093ad249b4e5c18af3206374c9a172af93188f53f64b29af032a5d",
    );
}

/// A workflow instance in the middle of a parallel multi-instance task over
/// a collection (list variables, the open instances and the items kept) and
/// of a parallel multi-instance subprocess (one instance parked with its
/// tokens, a repeating timer with two times left, and its item; one not
/// begun).
fn workflow_instance() -> ingot_bpmn::machine::Instance {
    use ingot_bpmn::{
        expr::Value,
        machine::{Assigned, Due, Instance, LoopCount, Mark, Parked},
    };
    Instance {
        id: "quotes-1".into(),
        definition: "quotes".into(),
        version: 2,
        state: 0,
        marks: vec![Mark { flow: 3, count: 1 }],
        active: vec![1, 1],
        pending: vec![0],
        timers: vec![Due {
            node: 4,
            at_ms: 9_000,
            left: 0,
        }],
        vars: vec![
            Assigned {
                variable: 0,
                value: Value::Decimal(12_500_000),
            },
            Assigned {
                variable: 1,
                value: Value::List(vec!["".into(), "12.5".into()]),
            },
            Assigned {
                variable: 2,
                value: Value::Text("bolt".into()),
            },
            Assigned {
                variable: 3,
                value: Value::List(vec!["acme".into(), "bolt".into()]),
            },
            Assigned {
                variable: 4,
                value: Value::Bool(true),
            },
            Assigned {
                variable: 5,
                value: Value::Int(-3),
            },
        ],
        starter: [7; 32],
        starter_org: "acme".into(),
        created_ms: 1_000,
        updated_ms: 2_000,
        created_height: 5,
        steps: 4,
        terminated: false,
        loops: vec![LoopCount {
            node: 1,
            done: 1,
            total: 2,
            open: vec![0],
            items: vec!["acme".into(), "bolt".into()],
        }],
        parked: vec![
            Parked {
                node: 6,
                counter: 1,
                started: true,
                marks: vec![Mark { flow: 7, count: 1 }],
                active: vec![8],
                timers: vec![Due {
                    node: 9,
                    at_ms: 12_000,
                    left: 2,
                }],
                loops: vec![],
                locals: vec![Assigned {
                    variable: 2,
                    value: Value::Text("nut".into()),
                }],
            },
            Parked {
                node: 6,
                counter: 2,
                started: false,
                marks: vec![],
                active: vec![],
                timers: vec![],
                loops: vec![],
                locals: vec![],
            },
        ],
    }
}
