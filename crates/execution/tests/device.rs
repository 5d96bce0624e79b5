//! The device module end to end on a real state store: registration and
//! naming, delegated namespaces, the whole lifecycle, two-step transfers,
//! devices signing for themselves, key rotation and revocation taking effect
//! at the right block — and every refusal with its reason.

mod common;

use common::*;
use commonware_codec::Decode;
use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use ingot_crypto::{
    device_uri, issue_ca, issue_end_entity, model_uri, unix_now, CertInfo, CertSpec, PrivateKey,
    Role, Scheme, TrustStore,
};
use ingot_execution::{
    modules::device::{history_key, name_key, record_key, DeviceRecord, HistoryEntry},
    Executor,
};
use ingot_state::StateStore;
use ingot_types::{sha256, Digest, SignedTransaction};
use serde_json::json;
use std::sync::Arc;

fn device(ca_key: &PrivateKey, ca_pem: &str, serial: &str, scheme: Scheme) -> Member {
    let key = PrivateKey::generate(scheme).unwrap();
    let now = unix_now();
    let pem = issue_end_entity(
        ca_key,
        ca_pem,
        &key.public_key(),
        &CertSpec {
            common_name: serial.into(),
            organization: "acme".into(),
            san_uris: vec![device_uri("acme", serial), model_uri("CNC-5000")],
            not_before: now - 60,
            not_after: now + 3600,
            role: Role::Device,
        },
    )
    .unwrap();
    Member {
        der: CertInfo::from_pem(&pem).unwrap().der.into(),
        key,
        pem,
    }
}

struct Chain {
    exec: Executor,
    state: StateStore<deterministic::Context>,
    chain: Digest,
    height: u64,
    salt: u64,
}

impl Chain {
    fn call(&mut self, who: &Member, method: &str, a: serde_json::Value) -> SignedTransaction {
        self.call_module(who, "device", method, a)
    }
    fn call_module(
        &mut self,
        who: &Member,
        module: &str,
        method: &str,
        a: serde_json::Value,
    ) -> SignedTransaction {
        self.salt += 1;
        tx(
            who,
            self.chain,
            module,
            method,
            a,
            self.height + 50,
            self.salt,
        )
    }
    /// Execute the next block; one status per transaction ("ok" or the reason).
    async fn run(&mut self, txs: Vec<SignedTransaction>) -> Vec<String> {
        self.height += 1;
        let out = self
            .exec
            .execute_block(&mut self.state, &block(self.height, txs))
            .await
            .unwrap();
        out.receipts.iter().map(|r| status(&r.status)).collect()
    }
    async fn record(&self, id: &str) -> DeviceRecord {
        let raw = self.state.get(&record_key(id)).await.unwrap().unwrap();
        DeviceRecord::decode_cfg(raw, &()).unwrap()
    }
}

fn assert_refused(got: &str, reason: &str) {
    assert!(
        got.contains(reason),
        "expected refusal `{reason}`, got `{got}`"
    );
}

#[test]
fn device_lifecycle_naming_transfer_rotation_and_refusals() {
    deterministic::Runner::default().start(|ctx| async move {
        let acme_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let acme_ca = issue_ca(&acme_key, &spec("acme CA", "acme", Role::Ca)).unwrap();
        let bolt_key = PrivateKey::generate(Scheme::Sm2).unwrap();
        let bolt_ca = issue_ca(&bolt_key, &spec("bolt CA", "bolt", Role::Ca)).unwrap();
        let trust = Arc::new(
            TrustStore::new([("acme", acme_ca.as_str()), ("bolt", bolt_ca.as_str())]).unwrap(),
        );
        let acme_admin = member(&acme_key, &acme_ca, "admin", "acme", Role::Admin, Scheme::Ed25519);
        let acme_staff = member(&acme_key, &acme_ca, "staff", "acme", Role::Member, Scheme::P256);
        let bolt_staff = member(&bolt_key, &bolt_ca, "staff", "bolt", Role::Member, Scheme::Sm2);
        let cnc = device(&acme_key, &acme_ca, "SN-1", Scheme::Ed25519);
        let press = device(&acme_key, &acme_ca, "SN-2", Scheme::P256);
        let id = "acme:SN-1";
        let name = "acme/plant-3/line-a/cnc-07";
        let mut c = Chain {
            exec: Executor::new(trust.clone()),
            state: StateStore::open(ctx.child("state"), "dev").await.unwrap(),
            chain: sha256(&[b"chain"]),
            height: 0,
            salt: 0,
        };
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
        let r = c.run(txs).await;
        assert_eq!(r[0], "ok");
        assert_refused(&r[1], "not held by bolt");
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
            c.call(&bolt_staff, "register", register(&press, "acme/plant-9/press-1")),
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
        let rotated = {
            let key = PrivateKey::generate(Scheme::Sm2).unwrap();
            let now = unix_now();
            let pem = issue_end_entity(
                &acme_key,
                &acme_ca,
                &key.public_key(),
                &CertSpec {
                    common_name: "SN-1".into(),
                    organization: "acme".into(),
                    san_uris: vec![device_uri("acme", "SN-1"), model_uri("CNC-5000")],
                    not_before: now - 60,
                    not_after: now + 3600,
                    role: Role::Device,
                },
            )
            .unwrap();
            Member { der: CertInfo::from_pem(&pem).unwrap().der.into(), key, pem }
        };
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
