//! Certificates renewed on the same key (issue 16, item 4), executed: a
//! member's renewed certificate is the same member at once (no transaction,
//! no vote); revoking a certificate revokes its key, renewed certificates
//! included; a validator's certificate is renewed on its consensus key by
//! its organisation's admin, and refused with a reason otherwise.

mod common;

use common::*;
use commonware_runtime::{deterministic, Runner as _};
use ingot_crypto::{issue_ca, issue_end_entity, unix_now, CertInfo, PrivateKey, Role, Scheme};
use ingot_execution::{modules::identity, Consortium, LiveConsortium};
use ingot_types::{Genesis, OrgKind, Organisation, ValidatorEntry};
use serde_json::json;

/// A certificate of `org` for `key` as `role`, valid for `days` from now.
fn certify(
    ca_key: &PrivateKey,
    ca: &str,
    key: &PrivateKey,
    cn: &str,
    role: Role,
    days: i64,
) -> Member {
    let mut s = spec(cn, "acme", role);
    s.not_after = unix_now() + days * 86_400;
    let pem = issue_end_entity(ca_key, ca, &key.public_key(), &s).unwrap();
    Member {
        der: CertInfo::from_pem(&pem).unwrap().der.into(),
        key: PrivateKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap(),
        pem,
    }
}

/// acme (with validator acme-v1, certified for 10 days) and bolt.
struct Fixture {
    chain: Chain,
    ca_key: PrivateKey,
    ca: String,
    admin: Member,
    validator_key: PrivateKey,
    bolt_admin: Member,
}

async fn fixture(ctx: &deterministic::Context) -> Fixture {
    let ca_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let ca = issue_ca(&ca_key, &spec("acme CA", "acme", Role::Ca)).unwrap();
    let bolt_key = PrivateKey::generate(Scheme::P256).unwrap();
    let bolt_ca = issue_ca(&bolt_key, &spec("bolt CA", "bolt", Role::Ca)).unwrap();
    let validator_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let v1 = certify(&ca_key, &ca, &validator_key, "acme-v1", Role::Validator, 10);
    let genesis = Genesis {
        chain_name: "renewal".into(),
        timestamp_ms: 0,
        organisations: vec![
            Organisation {
                name: "acme".into(),
                kind: OrgKind::Member,
                ca_cert_pem: ca.clone(),
            },
            Organisation {
                name: "bolt".into(),
                kind: OrgKind::Member,
                ca_cert_pem: bolt_ca.clone(),
            },
        ],
        validators: vec![ValidatorEntry {
            name: "acme-v1".into(),
            org: "acme".into(),
            public_key: hex::encode(validator_key.public_key().raw_bytes().unwrap()),
            cert_pem: v1.pem,
            p2p_address: "127.0.0.1:1".into(),
        }],
        governance: None,
        epoch_length: None,
    };
    let trust = LiveConsortium::new(Consortium::from_genesis(&genesis).unwrap());
    let admin = member(&ca_key, &ca, "admin", "acme", Role::Admin, Scheme::Ed25519);
    let bolt_admin = member(
        &bolt_key,
        &bolt_ca,
        "admin",
        "bolt",
        Role::Admin,
        Scheme::Ed25519,
    );
    Fixture {
        chain: Chain::open(ctx, trust, "renewal").await,
        ca_key,
        ca,
        admin,
        validator_key,
        bolt_admin,
    }
}

#[test]
fn a_renewed_certificate_is_the_same_member_and_revoking_revokes_the_key() {
    deterministic::Runner::default().start(|ctx| async move {
        let mut f = fixture(&ctx).await;
        let alice_key = PrivateKey::generate(Scheme::P256).unwrap();
        let first = certify(&f.ca_key, &f.ca, &alice_key, "alice", Role::Member, 30);
        let renewed = certify(&f.ca_key, &f.ca, &alice_key, "alice", Role::Member, 400);
        let other_key = PrivateKey::generate(Scheme::P256).unwrap();
        let new_key = certify(&f.ca_key, &f.ca, &other_key, "alice", Role::Member, 400);
        assert_eq!(first.member_id(), renewed.member_id());
        assert_ne!(first.member_id(), new_key.member_id());

        let doc = "11".repeat(32);
        let record =
            f.chain
                .call_module(&first, "notary", "record", json!({ "document_hash": doc }));
        assert_eq!(f.chain.run(vec![record]).await, ["ok"]);
        // Another key of the same name is another member; the renewed
        // certificate is alice, without any transaction before it.
        let transfer = |c: &mut Chain, who: &Member| {
            c.call_module(
                who,
                "notary",
                "transfer",
                json!({"document_hash": doc, "new_owner": hex::encode(first.member_id())}),
            )
        };
        let txs = vec![
            transfer(&mut f.chain, &new_key),
            transfer(&mut f.chain, &renewed),
        ];
        assert_eq!(
            f.chain.run(txs).await,
            ["only the current owner may transfer a document", "ok"]
        );

        // Revoking the first certificate revokes the key: the renewed one
        // signs nothing from then on and cannot be registered or revoked
        // again; the new key still signs.
        let txs = vec![
            f.chain.call_module(
                &f.admin,
                "identity",
                "revoke",
                json!({ "certificate_pem": first.pem }),
            ),
            f.chain.call_module(
                &renewed,
                "notary",
                "record",
                json!({ "document_hash": "22".repeat(32) }),
            ),
            f.chain.call_module(
                &f.admin,
                "identity",
                "register",
                json!({ "certificate_pem": renewed.pem }),
            ),
            f.chain.call_module(
                &f.admin,
                "identity",
                "revoke",
                json!({ "certificate_pem": renewed.pem }),
            ),
            f.chain.call_module(
                &new_key,
                "notary",
                "record",
                json!({ "document_hash": "33".repeat(32) }),
            ),
        ];
        assert_eq!(
            f.chain.run(txs).await,
            [
                "ok",
                "certificate revoked",
                "certificate is revoked",
                "certificate already revoked (it, or its key through another certificate)",
                "ok"
            ]
        );
        let key = identity::revoked_member_key(&first.member_id());
        assert!(f.chain.state.get(&key).await.unwrap().is_some());
    });
}

#[test]
fn a_validator_certificate_is_renewed_on_its_key_by_its_admin() {
    deterministic::Runner::default().start(|ctx| async move {
        let mut f = fixture(&ctx).await;
        let vk = &f.validator_key;
        let renewed = certify(&f.ca_key, &f.ca, vk, "acme-v1", Role::Validator, 400);
        let shorter = certify(&f.ca_key, &f.ca, vk, "acme-v1", Role::Validator, 5);
        let as_member = certify(&f.ca_key, &f.ca, vk, "acme-v1", Role::Member, 500);
        let expired = {
            let mut s = spec("acme-v1", "acme", Role::Validator);
            s.not_before = unix_now() - 3 * 86_400;
            s.not_after = unix_now() - 86_400;
            let pem = issue_end_entity(&f.ca_key, &f.ca, &vk.public_key(), &s).unwrap();
            Member {
                der: CertInfo::from_pem(&pem).unwrap().der.into(),
                key: PrivateKey::from_pkcs8_pem(&vk.to_pkcs8_pem().unwrap()).unwrap(),
                pem,
            }
        };
        let stranger_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let stranger = certify(
            &f.ca_key,
            &f.ca,
            &stranger_key,
            "acme-v9",
            Role::Validator,
            400,
        );
        let renew = |c: &mut Chain, who: &Member, cert: &Member| {
            c.call_module(
                who,
                "identity",
                "renew_validator",
                json!({ "certificate_pem": cert.pem }),
            )
        };
        let bolt_admin = &f.bolt_admin;
        let admin = &f.admin;
        let txs = vec![
            // another organisation's admin; a certificate of the wrong role;
            // a key that is no validator's; one ending before genesis's.
            renew(&mut f.chain, bolt_admin, &renewed),
            renew(&mut f.chain, admin, &as_member),
            renew(&mut f.chain, admin, &stranger),
            renew(&mut f.chain, admin, &shorter),
            renew(&mut f.chain, admin, &expired),
            renew(&mut f.chain, admin, &renewed),
            // the same again is not newer than itself
            renew(&mut f.chain, admin, &renewed),
        ];
        let receipts = f.chain.execute(txs).await;
        let s: Vec<String> = receipts.iter().map(|r| status(&r.status)).collect();
        assert!(s[0].starts_with("certificate belongs to acme"), "{}", s[0]);
        assert_eq!(
            s[1],
            "a validator certificate has role validator, not member"
        );
        assert_eq!(
            s[2],
            "the certificate's key is not the consensus key of a validator of acme"
        );
        assert!(s[3].starts_with("the certificate ends at"), "{}", s[3]);
        assert_eq!(s[4], "the certificate is not valid at this block's time");
        assert_eq!(s[5], "ok");
        assert!(s[6].starts_with("the certificate ends at"), "{}", s[6]);
        let event = &receipts[5].events[0];
        assert_eq!(event.kind, "validator_renewed");
        let key: [u8; 32] = vk.public_key().raw_bytes().unwrap().try_into().unwrap();
        let stored = f
            .chain
            .state
            .get(&identity::validator_cert_key(&key))
            .await
            .unwrap();
        assert_eq!(stored.as_deref(), Some(&renewed.der[..]));

        // A revoked validator key is not re-certified behind the revocation.
        let longer = certify(&f.ca_key, &f.ca, vk, "acme-v1", Role::Validator, 800);
        let txs = vec![
            f.chain.call_module(
                &f.admin,
                "identity",
                "revoke",
                json!({ "certificate_pem": renewed.pem }),
            ),
            renew(&mut f.chain, &f.admin, &longer),
        ];
        assert_eq!(f.chain.run(txs).await, ["ok", "certificate is revoked"]);
    });
}

/// A made-up method is a refusal with a reason, never a panic (also in
/// debug builds, where the registry checks the method catalogue).
#[test]
fn a_made_up_method_is_refused_not_a_panic() {
    deterministic::Runner::default().start(|ctx| async move {
        let mut f = fixture(&ctx).await;
        let member = member(&f.ca_key, &f.ca, "m", "acme", Role::Member, Scheme::P256);
        let cert = json!({ "certificate_pem": member.pem });
        let made_up = |c: &mut Chain, who: &Member, module: &str| {
            let args = ingot_execution::args::from_json("identity", "register", &cert).unwrap();
            c.salt += 1;
            sign_args(
                &who.key,
                &who.der,
                c.chain,
                module,
                "no_such_method",
                args,
                c.height + 50,
                c.salt,
            )
        };
        let txs = vec![
            made_up(&mut f.chain, &member, "identity"),
            made_up(&mut f.chain, &f.admin, "identity"),
            made_up(&mut f.chain, &member, "governance"),
            made_up(&mut f.chain, &member, "notary"),
        ];
        let s = f.chain.run(txs).await;
        assert_eq!(s[0], "only an organisation admin may manage identities");
        assert_eq!(s[1], "unknown method identity.no_such_method");
        assert_eq!(s[3], "unknown method notary.no_such_method");
        assert!(!s[2].is_empty() && s[2] != "ok", "{}", s[2]);
    });
}
