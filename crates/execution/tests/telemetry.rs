//! The telemetry module on a real state store: signed batches of devices of
//! every scheme anchored with commitments and summaries; each refusal with its
//! reason while the other batches of the same transaction go through; gaps
//! made visible; rules firing exactly when their condition holds.

mod common;

use common::*;
use commonware_codec::{Decode, Encode};
use commonware_runtime::{deterministic, Runner as _};
use ingot_crypto::{Role, Scheme};
use ingot_device::{measurement, DeviceSigner, Reading};
use ingot_execution::modules::telemetry::{
    batch_key, summary_key, DeviceSummary, StoredCommitment,
};
use ingot_types::{
    merkle,
    telemetry::{AnchorArg, ReadingBatch, Trust},
    Event, Receipt, SignedTransaction,
};
use serde_json::json;

fn reading(ts: u64, name: &str, value: i64) -> Reading {
    Reading {
        timestamp_ms: ts,
        measurements: vec![measurement(name, value, 1, "C")],
    }
}

fn signer(dev: &Member, id: &str) -> DeviceSigner {
    DeviceSigner::new(id, dev.key.clone(), 1)
}

impl Chain {
    fn anchor(&mut self, who: &Member, batches: Vec<ReadingBatch>) -> SignedTransaction {
        self.salt += 1;
        let arg = AnchorArg { batches };
        sign_raw(
            who,
            self.chain,
            "telemetry",
            "anchor",
            arg.encode().to_vec(),
            self.height + 50,
            self.salt,
        )
    }

    /// Anchor `batches` in a block of their own.
    async fn anchor_block(&mut self, who: &Member, batches: Vec<ReadingBatch>) -> Vec<Receipt> {
        let tx = self.anchor(who, batches);
        self.execute(vec![tx]).await
    }
}

fn events<'a>(r: &'a Receipt, kind: &str) -> Vec<&'a Event> {
    r.events.iter().filter(|e| e.kind == kind).collect()
}

fn attr<'a>(e: &'a Event, k: &str) -> &'a str {
    e.attributes
        .iter()
        .find(|(a, _)| a == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no attribute {k} in {e:?}"))
}

async fn summary(c: &Chain, id: &str) -> DeviceSummary {
    let raw = c.state.get(&summary_key(id)).await.unwrap().unwrap();
    DeviceSummary::decode_cfg(raw, &()).unwrap()
}

/// Registers and activates `devices` (serials) of acme; returns the members.
async fn fleet(c: &mut Chain, staff: &Member, devs: &[(&str, &Member)]) {
    let txs = devs
        .iter()
        .map(|(serial, d)| {
            c.call(staff, "register", json!({"certificate_pem": d.pem, "name": format!("acme/plant/{}", serial.to_lowercase())}))
        })
        .collect();
    assert!(c.run(txs).await.iter().all(|s| s == "ok"));
    let txs = devs
        .iter()
        .map(|(serial, _)| {
            c.call(
                staff,
                "activate",
                json!({"device_id": format!("acme:{serial}")}),
            )
        })
        .collect();
    assert!(c.run(txs).await.iter().all(|s| s == "ok"));
}

#[test]
fn anchoring_commits_summarises_and_refuses_each_bad_batch_with_its_reason() {
    deterministic::Runner::default().start(|ctx| async move {
        let (acme_key, acme_ca, _, _, mut c) = consortium(&ctx, Scheme::P256).await;
        let t0 = ingot_crypto::unix_now() as u64 * 1000;
        c.clock_ms = Some(t0);
        let admin = member(
            &acme_key,
            &acme_ca,
            "admin",
            "acme",
            Role::Admin,
            Scheme::Ed25519,
        );
        let gateway = member(
            &acme_key,
            &acme_ca,
            "gw",
            "acme",
            Role::Member,
            Scheme::Ed25519,
        );
        let ed = device(&acme_key, &acme_ca, "ED", Scheme::Ed25519);
        let p256 = device(&acme_key, &acme_ca, "P", Scheme::P256);
        let sm2 = device(&acme_key, &acme_ca, "SM", Scheme::Sm2);
        let doomed = device(&acme_key, &acme_ca, "OLD", Scheme::Ed25519);
        let revoked = device(&acme_key, &acme_ca, "REV", Scheme::Ed25519);
        let sleepy = device(&acme_key, &acme_ca, "SLEEPY", Scheme::Ed25519);
        fleet(
            &mut c,
            &admin,
            &[
                ("ED", &ed),
                ("P", &p256),
                ("SM", &sm2),
                ("OLD", &doomed),
                ("REV", &revoked),
                ("SLEEPY", &sleepy),
            ],
        )
        .await;

        // Every scheme, batches of one and of many readings.
        let mut s_ed = signer(&ed, "acme:ED");
        let mut s_p = signer(&p256, "acme:P");
        let mut s_sm = signer(&sm2, "acme:SM");
        let b1 = s_ed
            .sign(
                (0..100)
                    .map(|i| reading(t0 - 1000 + i, "temp", 200 + i as i64))
                    .collect(),
            )
            .unwrap();
        let b2 = s_p.sign(vec![reading(t0 - 10, "temp", 215)]).unwrap();
        let b3 = s_sm
            .sign(vec![
                reading(t0 - 9, "temp", 216),
                reading(t0 - 8, "rpm", 1500),
            ])
            .unwrap();
        let tx = c.anchor(&gateway, vec![b1.clone(), b2.clone(), b3.clone()]);
        let r = c.execute(vec![tx]).await;
        assert_eq!(status(&r[0].status), "ok");
        let anchored = events(&r[0], "anchored")[0];
        assert_eq!(
            (
                attr(anchored, "batches"),
                attr(anchored, "readings"),
                attr(anchored, "refused")
            ),
            ("3", "103", "0")
        );
        let leaves: Vec<_> = [&b1, &b2, &b3]
            .iter()
            .map(|b| b.commitment(&b.root_and_message().0, "").leaf())
            .collect();
        assert_eq!(
            attr(anchored, "commitments_root"),
            hex::encode(merkle::root(&leaves))
        );
        let stored = StoredCommitment::decode_cfg(
            c.state
                .get(&batch_key("acme:ED", 1))
                .await
                .unwrap()
                .unwrap(),
            &(),
        )
        .unwrap();
        assert_eq!((stored.commitment.count, stored.height), (100, c.height));
        let s = summary(&c, "acme:ED").await;
        assert_eq!(
            (s.last_seq, s.readings, s.batches, s.last_ts_ms),
            (100, 100, 1, t0 - 901)
        );
        assert_eq!(s.latest[0].value, 299);
        let s = summary(&c, "acme:SM").await;
        assert_eq!(s.latest.len(), 2);

        // Suspend one device, decommission another, revoke a third's certificate.
        let txs = vec![
            c.call(
                &admin,
                "decommission",
                json!({"device_id": "acme:OLD", "reason": "scrapped"}),
            ),
            c.call_module(
                &admin,
                "identity",
                "revoke",
                json!({"certificate_pem": revoked.pem}),
            ),
            c.call(
                &admin,
                "suspend",
                json!({"device_id": "acme:SLEEPY", "reason": "inspection"}),
            ),
        ];
        assert_eq!(c.run(txs).await, ["ok", "ok", "ok"]);

        // One transaction, every kind of bad batch, plus good ones.
        let mut forged = s_ed.sign(vec![reading(t0, "temp", 1)]).unwrap(); // seq 101
        forged.readings[0].measurements[0].value = 999; // altered after signing
        let good_ed = s_ed.sign_at(101, vec![reading(t0 + 1, "temp", 2)]).unwrap();
        let replayed = b2.clone();
        let reordered = s_p.sign_at(1, vec![reading(t0 + 5, "temp", 3)]).unwrap();
        let good_p = s_p.sign(vec![reading(t0 + 6, "temp", 4)]).unwrap(); // seq 2
        let backwards = s_sm.sign(vec![reading(t0 - 100, "temp", 5)]).unwrap(); // seq 3, ts before last
        let future = DeviceSigner::new("acme:SM", sm2.key.clone(), 3)
            .sign(vec![reading(t0 + 3_600_000, "temp", 6)])
            .unwrap();
        let gap = s_sm.sign_at(10, vec![reading(t0 + 7, "temp", 7)]).unwrap(); // skips 3..=9
        let of = |dev: &Member, id: &str| {
            DeviceSigner::new(id, dev.key.clone(), 1)
                .sign(vec![reading(t0, "temp", 0)])
                .unwrap()
        };
        let unknown = DeviceSigner::new("acme:GHOST", ed.key.clone(), 1)
            .sign(vec![reading(t0, "temp", 0)])
            .unwrap();
        let mut empty = of(&ed, "acme:ED");
        empty.readings.clear();
        let wrong_key = DeviceSigner::new("acme:P", ed.key.clone(), 5)
            .sign(vec![reading(t0 + 8, "temp", 0)])
            .unwrap();
        let batches = vec![
            forged,                     // 0
            good_ed,                    // 1
            replayed,                   // 2
            reordered,                  // 3
            good_p,                     // 4
            backwards,                  // 5
            future,                     // 6
            gap,                        // 7
            of(&doomed, "acme:OLD"),    // 8
            of(&revoked, "acme:REV"),   // 9
            of(&sleepy, "acme:SLEEPY"), // 10
            unknown,                    // 11
            empty,                      // 12
            wrong_key,                  // 13
        ];
        let tx = c.anchor(&gateway, batches);
        let r = c.execute(vec![tx]).await;
        assert_eq!(status(&r[0].status), "ok");
        // Each refused batch names its failure by stable code (no prose in
        // the receipt), with the failure's detail as attributes.
        let refused: std::collections::BTreeMap<usize, &Event> = events(&r[0], "refused")
            .into_iter()
            .map(|e| (attr(e, "index").parse().unwrap(), e))
            .collect();
        let expect = [
            (0, "telemetry.bad_signature", None),
            (2, "telemetry.already_anchored", None),
            (3, "telemetry.already_anchored", None),
            (5, "telemetry.time_before_last", None),
            (6, "telemetry.future_timestamp", None),
            (
                8,
                "telemetry.device_not_active",
                Some(("status", "decommissioned")),
            ),
            (9, "telemetry.certificate_revoked", None),
            (
                10,
                "telemetry.device_not_active",
                Some(("status", "suspended")),
            ),
            (
                11,
                "telemetry.unknown_device",
                Some(("device", "acme:GHOST")),
            ),
            (12, "telemetry.empty_batch", None),
            (13, "telemetry.bad_signature", None),
        ];
        assert_eq!(refused.len(), expect.len(), "{refused:?}");
        for (i, code, detail) in expect {
            assert_eq!(attr(refused[&i], "reason"), code, "batch {i}");
            if let Some((k, v)) = detail {
                assert_eq!(attr(refused[&i], k), v, "batch {i}");
            }
        }
        let anchored = events(&r[0], "anchored")[0];
        // Only accepted batches count: signed and well-formed but refused for
        // their sequence or time (2, 3, 5) are not readings on record.
        assert_eq!(
            (attr(anchored, "batches"), attr(anchored, "readings")),
            ("3", "3")
        );
        // The reading store receives exactly the accepted batches, in order,
        // under the roots their commitments carry.
        assert_eq!(c.last_anchored.len(), 1);
        assert_eq!(c.last_anchored[0].tx_index, 0);
        let handed: Vec<_> = c.last_anchored[0]
            .batches
            .iter()
            .map(|(b, commitment)| {
                assert_eq!(*commitment, b.commitment(&b.root_and_message().0, ""));
                (b.device_id.as_str(), b.first_seq)
            })
            .collect();
        assert_eq!(handed, [("acme:ED", 101), ("acme:P", 2), ("acme:SM", 10)]);
        let gaps = events(&r[0], "gap");
        assert_eq!(gaps.len(), 1);
        assert_eq!(
            (
                attr(gaps[0], "device_id"),
                attr(gaps[0], "from_seq"),
                attr(gaps[0], "to_seq"),
                attr(gaps[0], "missing")
            ),
            ("acme:SM", "3", "9", "7")
        );
        assert_eq!(summary(&c, "acme:ED").await.last_seq, 101);
        assert_eq!(summary(&c, "acme:P").await.last_seq, 2);
        let s = summary(&c, "acme:SM").await;
        assert_eq!((s.last_seq, s.missing, s.gaps), (10, 7, 1));
        assert!(c
            .state
            .get(&summary_key("acme:OLD"))
            .await
            .unwrap()
            .is_none());

        // Only batches change state: an all-refused transaction still succeeds
        // (the refusals are on record) but writes no summary.
        let before = summary(&c, "acme:ED").await;
        let tx = c.anchor(&gateway, vec![b1.clone()]);
        let r = c.execute(vec![tx]).await;
        assert_eq!(events(&r[0], "refused").len(), 1);
        assert!(c.last_anchored.is_empty());
        assert_eq!(summary(&c, "acme:ED").await, before);
    });
}

/// Plant equipment that cannot sign (white paper 二.1): registered without a
/// certificate, read by a gateway device whose key signs its batches. Such
/// readings are anchored as gateway-attested — the commitment names the
/// gateway, an `attested` event says so — and refused when the gateway may
/// not attest or a rule requires the device's own signature.
#[test]
fn equipment_readings_are_gateway_attested_and_rules_can_refuse_them() {
    deterministic::Runner::default().start(|ctx| async move {
        let (acme_key, acme_ca, bolt_key, bolt_ca, mut c) = consortium(&ctx, Scheme::Ed25519).await;
        let t0 = ingot_crypto::unix_now() as u64 * 1000;
        c.clock_ms = Some(t0);
        let admin = member(&acme_key, &acme_ca, "admin", "acme", Role::Admin, Scheme::Ed25519);
        let bolt = member(&bolt_key, &bolt_ca, "x", "bolt", Role::Admin, Scheme::Ed25519);
        let gw = device(&acme_key, &acme_ca, "GW", Scheme::P256);
        let other = device(&acme_key, &acme_ca, "OTHER", Scheme::Ed25519);
        fleet(&mut c, &admin, &[("GW", &gw), ("OTHER", &other)]).await;
        let equipment = |serial: &str, gateway: &str| {
            json!({"serial": serial, "model": "press-x", "name": format!("acme/plant/{}", serial.to_lowercase()), "gateway": gateway})
        };
        let txs = vec![
            c.call(&admin, "register_equipment", equipment("PRESS-7", "acme:GW")),
            c.call(&admin, "register_equipment", equipment("PRESS-8", "acme:NOPE")),
            c.call(&admin, "register_equipment", equipment("PRESS-9", "acme:PRESS-7")),
            c.call(&admin, "register_equipment", equipment("a/b", "acme:GW")),
            c.call(&admin, "register_equipment", equipment("A B\n", "acme:GW")),
            c.call(&admin, "register_equipment", equipment(&"S".repeat(129), "acme:GW")),
            c.call(&bolt, "register_equipment", json!({"serial": "LATHE", "model": "l", "name": "bolt/lathe", "gateway": "acme:GW"})),
            c.call(&admin, "register_equipment", equipment("GW", "acme:GW")),
        ];
        let r = c.run(txs).await;
        assert_eq!(r[0], "ok");
        assert_refused(&r[1], "gateway acme:NOPE cannot attest for acme: no such device");
        assert_refused(&r[2], "it is equipment without a key");
        assert_refused(&r[3], "serial must be");
        assert_refused(&r[4], "serial must be");
        assert_refused(&r[5], "serial must be");
        assert_refused(&r[6], "it belongs to another organisation");
        assert_refused(&r[7], "already registered");
        let record = c.record("acme:PRESS-7").await;
        assert!(record.is_equipment());
        assert_eq!(record.attested_by, "acme:GW");
        assert_eq!(record.full_json()["trust"], "gateway_attested");
        assert_eq!(c.record("acme:GW").await.public_json()["trust"], "device_signed");

        // No key of its own to rotate; a certified device has no gateway;
        // only the owner names the gateway.
        let txs = vec![
            c.call(&admin, "rotate_key", json!({"device_id": "acme:PRESS-7", "certificate_pem": other.pem})),
            c.call(&admin, "set_gateway", json!({"device_id": "acme:OTHER", "gateway": "acme:GW"})),
            c.call(&bolt, "set_gateway", json!({"device_id": "acme:PRESS-7", "gateway": "acme:OTHER"})),
        ];
        let r = c.run(txs).await;
        assert_refused(&r[0], "equipment without a key of its own");
        assert_refused(&r[1], "signs with its own key");
        assert_refused(&r[2], "only the owner organisation acme");

        // Registered, not yet active: refused like any device.
        let mut by_gateway = DeviceSigner::new("acme:PRESS-7", gw.key.clone(), 1);
        let early = by_gateway.sign(vec![reading(t0 - 50, "temp", 1)]).unwrap();
        let r = c.anchor_block(&admin, vec![early]).await;
        assert_eq!(attr(events(&r[0], "refused")[0], "reason"), "telemetry.device_not_active");
        let tx = c.call(&admin, "activate", json!({"device_id": "acme:PRESS-7"}));
        let r = c.run(vec![tx]).await;
        assert_eq!(r, ["ok"]);

        // Signed by the gateway: anchored, gateway-attested. Signed by any
        // other key (here the equipment's neighbour): refused.
        let mut by_gateway = DeviceSigner::new("acme:PRESS-7", gw.key.clone(), 1);
        let mut by_other = DeviceSigner::new("acme:PRESS-7", other.key.clone(), 10);
        let good = by_gateway
            .sign(vec![reading(t0 - 20, "temp", 500), reading(t0 - 10, "temp", 501)])
            .unwrap();
        let forged = by_other.sign(vec![reading(t0 - 5, "temp", 999)]).unwrap();
        let own = DeviceSigner::new("acme:GW", gw.key.clone(), 1)
            .sign(vec![reading(t0 - 5, "temp", 7)])
            .unwrap();
        let tx = c.anchor(&admin, vec![good.clone(), forged, own.clone()]);
        let r = c.execute(vec![tx]).await;
        assert_eq!(status(&r[0].status), "ok");
        assert_eq!(attr(events(&r[0], "refused")[0], "reason"), "telemetry.bad_signature");
        let attested = events(&r[0], "attested");
        assert_eq!(attested.len(), 1, "only the equipment's batch is attested");
        assert_eq!(
            (attr(attested[0], "index"), attr(attested[0], "gateway"), attr(attested[0], "owner")),
            ("0", "acme:GW", "acme")
        );
        let leaves = [
            good.commitment(&good.root_and_message().0, "acme:GW").leaf(),
            own.commitment(&own.root_and_message().0, "").leaf(),
        ];
        assert_eq!(
            attr(events(&r[0], "anchored")[0], "commitments_root"),
            hex::encode(merkle::root(&leaves))
        );
        let stored = |raw| StoredCommitment::decode_cfg(raw, &()).unwrap().commitment;
        let c1 = stored(c.state.get(&batch_key("acme:PRESS-7", 1)).await.unwrap().unwrap());
        assert_eq!((c1.attested_by.as_str(), c1.trust()), ("acme:GW", Trust::GatewayAttested));
        let c2 = stored(c.state.get(&batch_key("acme:GW", 1)).await.unwrap().unwrap());
        assert_eq!(c2.trust(), Trust::DeviceSigned);
        assert_eq!(summary(&c, "acme:PRESS-7").await.last_seq, 2);

        // A suspended gateway attests nothing.
        let tx = c.call(&admin, "suspend", json!({"device_id": "acme:GW", "reason": "maintenance"}));
        let r = c.run(vec![tx]).await;
        assert_eq!(r, ["ok"]);
        let next = by_gateway.sign(vec![reading(t0, "temp", 502)]).unwrap();
        let r = c.anchor_block(&admin, vec![next.clone()]).await;
        let refusal = events(&r[0], "refused")[0];
        assert_eq!(attr(refusal, "reason"), "telemetry.gateway_not_usable");
        assert_eq!(attr(refusal, "why"), "it is suspended");

        // Back in service; then the owner requires device signatures for
        // this equipment's model: gateway-attested batches are refused.
        let txs = vec![
            c.call(&admin, "reactivate", json!({"device_id": "acme:GW"})),
        ];
        assert_eq!(c.run(txs).await, ["ok"]);
        let r = c.anchor_block(&admin, vec![next.clone()]).await;
        assert!(events(&r[0], "refused").is_empty(), "{:?}", r[0]);
        let txs = vec![c.call_module(
            &admin,
            "telemetry",
            "set_rule",
            json!({"id": "signed-only", "target": "model:press-x", "kind": "device_signed"}),
        )];
        assert_eq!(c.run(txs).await, ["ok"]);
        let later = by_gateway.sign(vec![reading(t0 + 1, "temp", 503)]).unwrap();
        let r = c.anchor_block(&admin, vec![later]).await;
        let refusal = events(&r[0], "refused")[0];
        assert_eq!(attr(refusal, "reason"), "telemetry.device_signature_required");
        assert_eq!(summary(&c, "acme:PRESS-7").await.last_seq, 3);

        // A transfer clears the gateway: the old owner's box stops attesting.
        let txs = vec![c.call(&admin, "offer_transfer", json!({"device_id": "acme:PRESS-7", "to_org": "bolt", "expires_height": c.height + 10}))];
        assert_eq!(c.run(txs).await, ["ok"]);
        let txs = vec![c.call(&bolt, "accept_transfer", json!({"device_id": "acme:PRESS-7"}))];
        assert_eq!(c.run(txs).await, ["ok"]);
        assert_eq!(c.record("acme:PRESS-7").await.attested_by, "");
        let mut again = DeviceSigner::new("acme:PRESS-7", gw.key.clone(), 10);
        let batch = again.sign(vec![reading(t0 + 2, "temp", 1)]).unwrap();
        let r = c.anchor_block(&admin, vec![batch]).await;
        assert_eq!(attr(events(&r[0], "refused")[0], "reason"), "telemetry.no_gateway");
    });
}

#[test]
fn rules_fire_exactly_when_their_condition_holds() {
    deterministic::Runner::default().start(|ctx| async move {
        let (acme_key, acme_ca, bolt_key, bolt_ca, mut c) = consortium(&ctx, Scheme::Ed25519).await;
        let t0 = ingot_crypto::unix_now() as u64 * 1000;
        c.clock_ms = Some(t0);
        let admin = member(&acme_key, &acme_ca, "admin", "acme", Role::Admin, Scheme::Ed25519);
        let outsider = member(&bolt_key, &bolt_ca, "x", "bolt", Role::Admin, Scheme::Ed25519);
        let d = device(&acme_key, &acme_ca, "R", Scheme::Ed25519);
        fleet(&mut c, &admin, &[("R", &d)]).await;
        let mut s = signer(&d, "acme:R");
        let rule = |id: &str, target: &str, kind: &str, value: &str, dur: u64| {
            json!({"id": id, "target": target, "measurement": "temp", "kind": kind, "value": value, "duration_ms": dur})
        };
        let txs = vec![
            c.call_module(&admin, "telemetry", "set_rule", rule("hot", "device:acme:R", "above", "80.0", 0)),
            c.call_module(&admin, "telemetry", "set_rule", rule("cold", "model:CNC-5000", "below", "-5", 0)),
            c.call_module(&admin, "telemetry", "set_rule", rule("jump", "device:acme:R", "rate_of_change", "10", 0)),
            c.call_module(&admin, "telemetry", "set_rule", rule("warm-long", "device:acme:R", "above_for", "50", 3_000)),
            c.call_module(&admin, "telemetry", "set_rule", json!({"id": "alive", "target": "device:acme:R", "kind": "missing_heartbeat", "duration_ms": 60_000})),
            c.call_module(&outsider, "telemetry", "set_rule", rule("spy", "device:acme:R", "above", "1", 0)),
            c.call_module(&admin, "telemetry", "set_rule", rule("bad", "device:acme:R", "sideways", "1", 0)),
        ];
        let r = c.run(txs).await;
        assert_eq!(r[..5], ["ok", "ok", "ok", "ok", "ok"]);
        assert_refused(&r[5], "only the owner organisation acme");
        assert_refused(&r[6], "unknown rule kind");

        // temp in tenths of a degree (scale 1); each step's transitions, in
        // rule order (the device's rules, then its model's).
        let steps: Vec<(i64, u64, Vec<&str>)> = vec![
            (200, 0, vec![]),                      // 20.0
            (800, 1_000, vec!["jump:fired"]),      // 80.0 is not above 80; +60/s
            (801, 2_000, vec!["hot:fired", "jump:cleared"]),
            (805, 4_000, vec!["warm-long:fired"]), // above 50 for 3 s exactly
            (790, 5_000, vec!["hot:cleared"]),     // rate 1.5/s: fine
            (-60, 6_000, vec!["jump:fired", "warm-long:cleared", "cold:fired"]),
            (-50, 7_000, vec!["jump:cleared", "cold:cleared"]), // -5.0 is not below -5
        ];
        for (value, dt, expected) in steps {
            let b = s.sign(vec![reading(t0 + dt, "temp", value)]).unwrap();
            let tx = c.anchor(&admin, vec![b]);
            let r = c.execute(vec![tx]).await;
            let got: Vec<String> = events(&r[0], "rule")
                .iter()
                .map(|e| format!("{}:{}", attr(e, "rule_id"), attr(e, "state")))
                .collect();
            assert_eq!(got, expected, "at value {value}, +{dt} ms");
        }

        // Missing heartbeat: by block time, at the end of a block, once.
        let last_heard = t0;
        c.clock_ms = Some(last_heard + 59_000);
        let r = c.execute(vec![]).await;
        assert!(r.is_empty(), "not yet silent for 60 s");
        c.clock_ms = Some(last_heard + 62_000);
        let r = c.execute(vec![]).await;
        assert_eq!(r.len(), 1, "a trailing block receipt");
        assert_eq!(r[0].tx_hash, ingot_execution::block_receipt_id(c.height));
        let fired = events(&r[0], "rule");
        assert_eq!((attr(fired[0], "rule_id"), attr(fired[0], "state")), ("alive", "fired"));
        c.clock_ms = Some(last_heard + 200_000);
        assert!(c.execute(vec![]).await.is_empty(), "fires once per silence");
        let b = s.sign(vec![reading(t0 + 200_000, "temp", 0)]).unwrap();
        let tx = c.anchor(&admin, vec![b]);
        let r = c.execute(vec![tx]).await;
        let got: Vec<String> = events(&r[0], "rule").iter().map(|e| format!("{}:{}", attr(e, "rule_id"), attr(e, "state"))).collect();
        assert_eq!(got, ["alive:cleared"]);
        c.clock_ms = Some(t0 + 200_000 + 59_000);
        assert!(c.execute(vec![]).await.is_empty());
        c.clock_ms = Some(t0 + 200_000 + 62_000);
        let r = c.execute(vec![]).await;
        assert_eq!(r.len(), 1, "silent again");

        // Removing a rule stops it.
        let txs = vec![c.call_module(&admin, "telemetry", "remove_rule", json!({"target": "device:acme:R", "id": "hot"}))];
        assert_eq!(c.run(txs).await, ["ok"]);
        let b = s.sign(vec![reading(t0 + 300_000, "temp", 900)]).unwrap();
        let tx = c.anchor(&admin, vec![b]);
        let r = c.execute(vec![tx]).await;
        assert!(events(&r[0], "rule").iter().all(|e| attr(e, "rule_id") != "hot"));
    });
}
