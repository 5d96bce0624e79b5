//! The device module end to end on a real state store: registration and
//! naming, delegated namespaces, the whole lifecycle, two-step transfers,
//! devices signing for themselves, key rotation and revocation taking effect
//! at the right block — and every refusal with its reason.

mod common;

use common::*;
use commonware_codec::Decode;
use commonware_runtime::{deterministic, Runner as _};
use ingot_crypto::{unix_now, Role, Scheme};
use ingot_execution::modules::device::{history_key, name_key, HistoryEntry};
use serde_json::json;

/// Registration needs consent (white paper 三.3): the organisation whose CA
/// certified a device registers it, or the registrant proves it holds the
/// device. A supplier can no longer squat on a manufacturer's device.
#[test]
fn registration_needs_the_issuer_or_the_devices_consent() {
    deterministic::Runner::default().start(|ctx| async move {
        let (acme_key, acme_ca, bolt_key, bolt_ca, mut c) = consortium(&ctx, Scheme::P256).await;
        let acme_admin = member(
            &acme_key,
            &acme_ca,
            "admin",
            "acme",
            Role::Admin,
            Scheme::Ed25519,
        );
        let acme_staff = member(
            &acme_key,
            &acme_ca,
            "staff",
            "acme",
            Role::Member,
            Scheme::P256,
        );
        let bolt_staff = member(
            &bolt_key,
            &bolt_ca,
            "staff",
            "bolt",
            Role::Member,
            Scheme::Sm2,
        );
        let bolt_other = member(
            &bolt_key,
            &bolt_ca,
            "other",
            "bolt",
            Role::Member,
            Scheme::Ed25519,
        );
        let sm2_dev = device(&acme_key, &acme_ca, "SN-S", Scheme::Sm2);
        let p256_dev = device(&acme_key, &acme_ca, "SN-P", Scheme::P256);
        let ed_dev = device(&acme_key, &acme_ca, "SN-E", Scheme::Ed25519);
        let setup = vec![c.call(
            &acme_admin,
            "delegate_namespace",
            json!({"namespace": "acme/leased", "to_org": "bolt"}),
        )];
        assert_eq!(c.run(setup).await, ["ok"]);
        let reg = |dev: &Member, name: &str, proof: Option<String>| {
            let mut a = json!({"certificate_pem": dev.pem, "name": name});
            if let Some(p) = proof {
                a["possession_signature"] = json!(p);
            }
            a
        };
        let other_chain = ingot_types::sha256(&[b"another consortium"]);
        let txs = vec![
            // Squatting: bolt registers acme's device without its consent.
            c.call(&bolt_staff, "register", reg(&ed_dev, "acme/leased/e", None)),
            // A proof made for another registrant, for another chain, or
            // signed by another device: refused.
            c.call(
                &bolt_staff,
                "register",
                reg(
                    &ed_dev,
                    "acme/leased/e",
                    Some(consent(&ed_dev, &bolt_other, &c.chain)),
                ),
            ),
            c.call(
                &bolt_staff,
                "register",
                reg(
                    &ed_dev,
                    "acme/leased/e",
                    Some(consent(&ed_dev, &bolt_staff, &other_chain)),
                ),
            ),
            c.call(
                &bolt_staff,
                "register",
                reg(
                    &ed_dev,
                    "acme/leased/e",
                    Some(consent(&p256_dev, &bolt_staff, &c.chain)),
                ),
            ),
            // Consent does not override naming: acme's namespace is acme's.
            c.call(
                &bolt_staff,
                "register",
                reg(
                    &ed_dev,
                    "acme/plant/e",
                    Some(consent(&ed_dev, &bolt_staff, &c.chain)),
                ),
            ),
        ];
        let r = c.run(txs).await;
        assert_refused(
            &r[0],
            "only acme registers it, or the registrant proves possession",
        );
        for (i, got) in r[1..4].iter().enumerate() {
            assert!(
                got.contains("proof of possession does not verify"),
                "{i}: {got}"
            );
        }
        assert_refused(&r[4], "not held by bolt");
        let bad = ingot_execution::args::from_json(
            "device",
            "register",
            &reg(&ed_dev, "acme/leased/e", Some("zz".into())),
        );
        assert!(bad.unwrap_err().contains("not hex"));
        assert!(c
            .state
            .get(&ingot_execution::modules::device::record_key("acme:SN-E"))
            .await
            .unwrap()
            .is_none());

        // With the device's consent (every scheme), and by the issuer itself.
        let txs = vec![
            c.call(
                &bolt_staff,
                "register",
                reg(
                    &ed_dev,
                    "acme/leased/e",
                    Some(consent(&ed_dev, &bolt_staff, &c.chain)),
                ),
            ),
            c.call(
                &bolt_other,
                "register",
                reg(
                    &sm2_dev,
                    "acme/leased/s",
                    Some(consent(&sm2_dev, &bolt_other, &c.chain)),
                ),
            ),
            c.call(
                &acme_staff,
                "register",
                reg(&p256_dev, "acme/plant/p", None),
            ),
        ];
        assert_eq!(c.run(txs).await, ["ok", "ok", "ok"]);
        assert_eq!(c.record("acme:SN-E").await.owner_org, "bolt");
        assert_eq!(c.record("acme:SN-P").await.owner_org, "acme");

        // A device already held: the refusal names its holder, even for the issuer.
        let txs = vec![c.call(&acme_staff, "register", reg(&ed_dev, "acme/plant/e2", None))];
        let r = c.run(txs).await;
        assert_refused(&r[0], "already registered, held by bolt");
    });
}

#[test]
fn device_lifecycle_naming_transfer_rotation_and_refusals() {
    deterministic::Runner::default().start(|ctx| async move {
        let (acme_key, acme_ca, bolt_key, bolt_ca, mut c) = consortium(&ctx, Scheme::Sm2).await;
        let acme_admin = member(&acme_key, &acme_ca, "admin", "acme", Role::Admin, Scheme::Ed25519);
        let acme_staff = member(&acme_key, &acme_ca, "staff", "acme", Role::Member, Scheme::P256);
        let bolt_staff = member(&bolt_key, &bolt_ca, "staff", "bolt", Role::Member, Scheme::Sm2);
        let cnc = device(&acme_key, &acme_ca, "SN-1", Scheme::Ed25519);
        let press = device(&acme_key, &acme_ca, "SN-2", Scheme::P256);
        let id = "acme:SN-1";
        let name = "acme/plant-3/line-a/cnc-07";
        let register = |dev: &Member, name: &str| {
            json!({"certificate_pem": dev.pem, "name": name, "metadata": json!({"firmware": "1.0", "address": "10.0.0.7:502", "location": "plant 3"}).to_string()})
        };

        // Registration and naming.
        let txs = vec![
            c.call(&acme_staff, "register", register(&cnc, name)),
            c.call(&bolt_staff, "register", register(&press, "acme/plant-3/x")),
            c.call(&acme_staff, "register", register(&press, name)),
            c.call(&acme_staff, "register", register(&cnc, "acme/plant-3/other")),
            c.call(&acme_staff, "register", register(&acme_staff, "acme/plant-3/y")),
            c.call(&cnc, "report_state", json!({"device_id": id, "state": "ok"})),
        ];
        // A certificate that expired before this block is refused.
        let now = unix_now();
        let expired = device_valid(&acme_key, &acme_ca, "SN-OLD", Scheme::P256, now - 7200, now - 3600).pem;
        let mut txs = txs;
        txs.push(c.call(
            &acme_staff,
            "register",
            json!({"certificate_pem": expired, "name": "acme/plant-3/old"}),
        ));
        let r = c.run(txs).await;
        assert_eq!(r[0], "ok");
        assert_refused(&r[6], "not valid at this block's time");
        assert_refused(&r[1], "only acme registers it"); // no consent from the device
        assert_refused(&r[2], "is taken by acme:SN-1");
        assert_refused(&r[3], "already registered");
        assert_refused(&r[4], "not a device certificate");
        assert_refused(&r[5], "is registered"); // not yet active
        assert_eq!(
            c.state.get(&name_key(name)).await.unwrap().unwrap(),
            id.as_bytes()
        );

        // Delegation of a sub-namespace; activation by the owner only.
        let txs = vec![
            c.call(&acme_staff, "delegate_namespace", json!({"namespace": "acme/plant-9", "to_org": "bolt"})),
            c.call(&acme_admin, "delegate_namespace", json!({"namespace": "acme/plant-9", "to_org": "bolt"})),
            c.call(&bolt_staff, "register", {
                // bolt holds the press: the press consents (acme certified it).
                let mut a = register(&press, "acme/plant-9/press-1");
                a["possession_signature"] = json!(consent(&press, &bolt_staff, &c.chain));
                a
            }),
            c.call(&bolt_staff, "activate", json!({"device_id": id})),
            c.call(&acme_staff, "activate", json!({"device_id": id})),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], "only an organisation admin");
        assert_eq!(r[1..3], ["ok", "ok"]);
        assert_refused(&r[3], "only the owner organisation acme");
        assert_eq!(r[4], "ok");
        assert_eq!(c.record("acme:SN-2").await.owner_org, "bolt");

        // The device signs for itself, within its role.
        let txs = vec![
            c.call(&cnc, "report_state", json!({"device_id": id, "state": "spindle 1200 rpm"})),
            c.call(&cnc, "offer_transfer", json!({"device_id": id, "to_org": "bolt", "expires_height": 50})),
            c.call_module(&cnc, "notary", "record", json!({"document_hash": "11".repeat(32)})),
            c.call(&acme_staff, "suspend", json!({"device_id": id, "reason": "inspection"})),
        ];
        let r = c.run(txs).await;
        assert_eq!(r[0], "ok");
        assert_refused(&r[1], "a device may only call");
        assert_refused(&r[2], "a device may only call");
        assert_eq!(r[3], "ok");

        // Suspended devices are refused; firmware only from the manufacturer.
        let txs = vec![
            c.call(&cnc, "report_state", json!({"device_id": id, "state": "x"})),
            c.call(&acme_staff, "reactivate", json!({"device_id": id})),
            c.call(&bolt_staff, "update_firmware", json!({"device_id": id, "version": "6.6", "image_hash": "66".repeat(32)})),
            c.call(&acme_staff, "update_firmware", json!({"device_id": id, "version": "2.0", "image_hash": "20".repeat(32)})),
            c.call(&acme_staff, "offer_transfer", json!({"device_id": id, "to_org": "bolt", "expires_height": c.height + 2})),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], "is suspended");
        assert_eq!(r[1], "ok");
        assert_refused(&r[2], "only the manufacturer acme");
        assert_eq!(r[3..5], ["ok", "ok"]);

        // A transfer never accepted expires; a later offer is accepted by its recipient only.
        c.run(vec![]).await;
        let expired_at = c.height;
        let txs = vec![
            c.call(&bolt_staff, "accept_transfer", json!({"device_id": id})),
            c.call(&acme_staff, "offer_transfer", json!({"device_id": id, "to_org": "bolt", "expires_height": c.height + 100})),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], &format!("the offer expired at height {expired_at}"));
        assert_eq!(r[1], "ok");
        let txs = vec![
            c.call(&acme_staff, "accept_transfer", json!({"device_id": id})),
            c.call(&bolt_staff, "accept_transfer", json!({"device_id": id})),
            c.call(&acme_staff, "suspend", json!({"device_id": id, "reason": "no longer ours"})),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], "the offer is made to bolt, not acme");
        assert_eq!(r[1], "ok");
        assert_refused(&r[2], "only the owner organisation bolt");
        assert_eq!(c.record(id).await.owner_org, "bolt");

        // Key rotation signed by the old key: the old key stops, the new one works.
        let rotated = device(&acme_key, &acme_ca, "SN-1", Scheme::Sm2);
        let txs = vec![
            c.call(&cnc, "rotate_key", json!({"device_id": id, "certificate_pem": press.pem})),
            c.call(&cnc, "rotate_key", json!({"device_id": id, "certificate_pem": rotated.pem})),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], "names another device");
        assert_eq!(r[1], "ok");
        let rotation_height = c.height;
        let txs = vec![
            c.call(&cnc, "report_state", json!({"device_id": id, "state": "old key"})),
            c.call(&rotated, "report_state", json!({"device_id": id, "state": "new key"})),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], "not registered with this key");
        assert_eq!(r[1], "ok");

        // Revocation by the issuing organisation takes effect from the next block.
        let revoke = c.call_module(&acme_admin, "identity", "revoke", json!({"certificate_pem": rotated.pem}));
        let same_block = c.call(&rotated, "report_state", json!({"device_id": id, "state": "before revocation"}));
        let r = c.run(vec![same_block, revoke]).await;
        assert_eq!(r, ["ok", "ok"]);
        let after = c.call(&rotated, "report_state", json!({"device_id": id, "state": "after"}));
        let r = c.run(vec![after]).await;
        assert_refused(&r[0], "certificate revoked");

        // The history is complete and ordered, each entry with its transaction and height.
        let record = c.record(id).await;
        let mut kinds = Vec::new();
        let mut last_height = 0;
        for seq in 0..record.history_len {
            let raw = c.state.get(&history_key(id, seq)).await.unwrap().unwrap();
            let entry = HistoryEntry::decode_cfg(raw, &()).unwrap();
            assert_eq!(entry.seq, seq);
            assert!(entry.height >= last_height, "history out of order");
            last_height = entry.height;
            kinds.push(entry.kind);
        }
        assert_eq!(
            kinds,
            [
                "registered",
                "activated",
                "state_reported",
                "suspended",
                "reactivated",
                "firmware_updated",
                "transfer_offered",
                "transfer_offered",
                "ownership_transferred",
                "key_rotated",
                "state_reported",
                "state_reported",
            ]
        );
        assert_eq!(last_height, rotation_height + 2);
        assert_eq!(record.firmware_version, "2.0");
    });
}

/// The access-control flows: policy creation and update, requests granted
/// with a token or denied with the reason, conditions, group grants, devices
/// as accessors, one-time redemption, and the access log.
#[test]
fn access_policies_requests_tokens_and_log() {
    use ingot_execution::modules::access::{log_len_key, LogEntry};
    deterministic::Runner::default().start(|ctx| async move {
        let (acme_key, acme_ca, bolt_key, bolt_ca, mut c) = consortium(&ctx, Scheme::P256).await;
        let owner = member(
            &acme_key,
            &acme_ca,
            "staff",
            "acme",
            Role::Member,
            Scheme::Ed25519,
        );
        let alice = member(
            &bolt_key,
            &bolt_ca,
            "alice",
            "bolt",
            Role::Member,
            Scheme::P256,
        );
        let carol = member(
            &bolt_key,
            &bolt_ca,
            "carol",
            "bolt",
            Role::Member,
            Scheme::Ed25519,
        );
        let cnc = device(&acme_key, &acme_ca, "SN-1", Scheme::Ed25519);
        let robot = device(&acme_key, &acme_ca, "SN-2", Scheme::Ed25519);
        let id = "acme:SN-1";
        let meta = json!({"address": "10.0.0.7:502"}).to_string();
        let txs = vec![
            c.call(
                &owner,
                "register",
                json!({"certificate_pem": cnc.pem, "name": "acme/plant-3/cnc-1", "metadata": meta}),
            ),
            c.call(
                &owner,
                "register",
                json!({"certificate_pem": robot.pem, "name": "acme/plant-3/robot-1"}),
            ),
            c.call(&owner, "activate", json!({"device_id": id})),
            c.call(&owner, "activate", json!({"device_id": "acme:SN-2"})),
        ];
        assert_eq!(c.run(txs).await, ["ok"; 4]);

        let alice_name = format!("member:{}", hex::encode(alice.member_id()));
        let policy = |target: &str, accessor: &str, ops: &[&str], extra: serde_json::Value| {
            let mut v = json!({"target": target, "accessor": accessor, "operations": ops});
            if let (Some(v), Some(e)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(e.clone());
            }
            v
        };
        let now_ms = unix_now() as u64 * 1000;
        let hour = ((now_ms / 3_600_000) % 24) as u64;
        let txs = vec![
            // Only the owner grants.
            c.call_module(
                &alice,
                "access",
                "set_policy",
                policy(&format!("device:{id}"), &alice_name, &["read"], json!({})),
            ),
            c.call_module(
                &owner,
                "access",
                "set_policy",
                policy(
                    &format!("device:{id}"),
                    &alice_name,
                    &["read"],
                    json!({"max_uses": 1}),
                ),
            ),
            c.call_module(
                &owner,
                "access",
                "set_policy",
                policy(&format!("device:{id}"), "org:nowhere", &["read"], json!({})),
            ),
            // The robot (another device) may calibrate the cnc, but only in an hour that is not now.
            c.call_module(
                &owner,
                "access",
                "set_policy",
                policy(
                    &format!("device:{id}"),
                    "device:acme:SN-2",
                    &["calibrate"],
                    json!({"hour_from": (hour + 2) % 24, "hour_to": (hour + 3) % 24}),
                ),
            ),
            // Everyone at bolt may read every device under acme/plant-3, until a window ends in the past.
            c.call_module(
                &owner,
                "access",
                "set_policy",
                policy(
                    "name:acme/plant-3",
                    "org:bolt",
                    &["status"],
                    json!({"not_after_ms": now_ms - 1000}),
                ),
            ),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], "only the owner organisation acme");
        assert_eq!(r[1], "ok");
        assert_refused(&r[2], "must be member:");
        assert_eq!(r[3..5], ["ok", "ok"]);

        let request = |c: &mut Chain, who: &Member, op: &str| {
            c.call_module(
                who,
                "access",
                "request",
                json!({"device_id": id, "operation": op}),
            )
        };
        let txs = vec![
            request(&mut c, &alice, "read"),
            request(&mut c, &alice, "write"),
            request(&mut c, &alice, "read"),
            request(&mut c, &carol, "status"),
            request(&mut c, &robot, "calibrate"),
            request(&mut c, &carol, "read"),
        ];
        let grant_tx = txs[0].hash();
        let receipts = c.execute(txs).await;
        let decisions: Vec<(String, String)> = receipts
            .iter()
            .map(|r| {
                assert_eq!(
                    status(&r.status),
                    "ok",
                    "requests are recorded, never failed"
                );
                let e = &r.events[0];
                let reason = e
                    .attributes
                    .iter()
                    .find(|(k, _)| k == "reason")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                (e.kind.clone(), reason)
            })
            .collect();
        assert_eq!(decisions[0].0, "granted");
        let token_attrs = &receipts[0].events[0].attributes;
        let attr = |k: &str| token_attrs.iter().find(|(a, _)| a == k).unwrap().1.clone();
        assert_eq!(attr("token_id"), hex::encode(grant_tx));
        assert_eq!(attr("address"), "10.0.0.7:502");
        assert_eq!(decisions[1], ("denied".into(), "access.not_granted".into()));
        assert_eq!(
            decisions[2],
            ("denied".into(), "access.uses_exhausted".into())
        );
        assert_eq!(
            decisions[3],
            ("denied".into(), "access.policy_expired".into())
        );
        assert_eq!(decisions[4].0, "denied");
        assert!(
            decisions[4].1 == "access.outside_hours",
            "{:?}",
            decisions[4]
        );
        // The most specific policy that applies explains the refusal.
        assert_eq!(decisions[5], ("denied".into(), "access.not_granted".into()));

        // One-time redemption by the device the token is for.
        let token_id = hex::encode(grant_tx);
        let txs = vec![
            c.call_module(&robot, "access", "redeem", json!({"token_id": token_id})),
            c.call_module(&cnc, "access", "redeem", json!({"token_id": token_id})),
            c.call_module(&cnc, "access", "redeem", json!({"token_id": token_id})),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], "only the device the token is for");
        assert_eq!(r[1], "ok");
        assert_refused(&r[2], "token already used");

        // Policy update: a later policy replaces an earlier one; an empty set revokes it;
        // a suspended device grants nothing.
        let txs = vec![c.call_module(
            &owner,
            "access",
            "set_policy",
            policy(
                &format!("device:{id}"),
                &alice_name,
                &["read", "write"],
                json!({}),
            ),
        )];
        assert_eq!(c.run(txs).await, ["ok"]);
        let txs = vec![request(&mut c, &alice, "write")];
        let receipts = c.execute(txs).await;
        assert_eq!(receipts[0].events[0].kind, "granted");
        let txs = vec![
            c.call_module(
                &owner,
                "access",
                "set_policy",
                policy(&format!("device:{id}"), &alice_name, &[], json!({})),
            ),
            c.call(
                &owner,
                "suspend",
                json!({"device_id": "acme:SN-2", "reason": "maintenance"}),
            ),
        ];
        assert_eq!(c.run(txs).await, ["ok", "ok"]);
        let txs = vec![
            request(&mut c, &alice, "write"),
            c.call_module(
                &alice,
                "access",
                "request",
                json!({"device_id": "acme:SN-2", "operation": "read"}),
            ),
        ];
        let receipts = c.execute(txs).await;
        let reason = |i: usize| {
            receipts[i].events[0]
                .attributes
                .iter()
                .find(|(k, _)| k == "reason")
                .unwrap()
                .1
                .clone()
        };
        // Alice's own grant is gone; only bolt's group policy (status) remains.
        assert_eq!(reason(0), "access.not_granted");
        assert_eq!(reason(1), "access.device_not_active");
        let txs = vec![request(&mut c, &owner, "read")];
        let receipts = c.execute(txs).await;
        let denial = &receipts[0].events[0].attributes;
        assert!(
            denial
                .iter()
                .any(|(k, v)| k == "reason" && v == "access.no_policy_for"),
            "{denial:?}"
        );

        // Every request, granted or denied, is in the device's access log, in order.
        let total = u64::from_be_bytes(
            c.state
                .get(&log_len_key(id))
                .await
                .unwrap()
                .unwrap()
                .try_into()
                .unwrap(),
        );
        assert_eq!(total, 9);
        let mut granted_count = 0;
        for seq in 0..total {
            let raw = c
                .state
                .get(&ingot_execution::modules::access::log_key(id, seq))
                .await
                .unwrap()
                .unwrap();
            let e = LogEntry::decode_cfg(raw, &()).unwrap();
            assert_eq!(e.seq, seq);
            granted_count += usize::from(e.granted);
        }
        assert_eq!(granted_count, 2);
    });
}
