//! TrustStore: certificates of genesis organisations identify their holders;
//! anything else is refused with a reason.

use ingot_crypto::{
    issue_ca, issue_end_entity, unix_now, CertInfo, CertSpec, PrivateKey, Role, Scheme, TrustError,
    TrustStore,
};

fn spec(cn: &str, org: &str, role: Role) -> CertSpec {
    let now = unix_now();
    CertSpec {
        common_name: cn.into(),
        organization: org.into(),
        san_uris: vec![],
        not_before: now - 60,
        not_after: now + 3600,
        role,
    }
}

fn org(name: &str, scheme: Scheme) -> (PrivateKey, String) {
    let key = PrivateKey::generate(scheme).unwrap();
    let pem = issue_ca(&key, &spec(&format!("{name} CA"), name, Role::Ca)).unwrap();
    (key, pem)
}

fn der(pem: &str) -> Vec<u8> {
    CertInfo::from_pem(pem).unwrap().der
}

#[test]
fn identifies_members_of_each_scheme_and_refuses_strangers() {
    let (k1, ca1) = org("acme", Scheme::Ed25519);
    let (k2, ca2) = org("bolt", Scheme::Sm2);
    let (k3, ca3) = org("outsider", Scheme::P256);
    let trust = TrustStore::new([("acme", ca1.as_str()), ("bolt", ca2.as_str())]).unwrap();

    for scheme in Scheme::ALL {
        let member = PrivateKey::generate(scheme).unwrap();
        let cert = issue_end_entity(
            &k1,
            &ca1,
            &member.public_key(),
            &spec("alice", "acme", Role::Admin),
        )
        .unwrap();
        let id = trust.identify(&der(&cert)).unwrap();
        assert_eq!(id.org, "acme");
        assert_eq!(id.role, "admin");
        assert_eq!(id.common_name, "alice");
        assert_eq!(id.public_key, member.public_key());
        // cached second lookup gives the same identity
        assert_eq!(trust.identify(&der(&cert)).unwrap().cert_hash, id.cert_hash);
    }

    let member = PrivateKey::generate(Scheme::Sm2).unwrap();
    let bolt = issue_end_entity(
        &k2,
        &ca2,
        &member.public_key(),
        &spec("bob", "bolt", Role::Member),
    )
    .unwrap();
    assert_eq!(trust.identify(&der(&bolt)).unwrap().org, "bolt");

    // unknown organisation
    let stranger = issue_end_entity(
        &k3,
        &ca3,
        &member.public_key(),
        &spec("eve", "outsider", Role::Member),
    )
    .unwrap();
    assert!(matches!(
        trust.identify(&der(&stranger)),
        Err(TrustError::UnknownOrganisation(_))
    ));
    // claims acme but signed by another CA
    let forged = issue_end_entity(
        &k3,
        &ca3,
        &member.public_key(),
        &spec("eve", "acme", Role::Admin),
    )
    .unwrap();
    assert!(matches!(
        trust.identify(&der(&forged)),
        Err(TrustError::NotIssuedByOrg(..))
    ));
    // a CA certificate cannot act as a sender
    assert!(matches!(trust.identify(&der(&ca1)), Err(TrustError::IsCa)));
    // garbage
    assert!(matches!(
        trust.identify(b"not a certificate"),
        Err(TrustError::Malformed(_))
    ));
}

/// A certificate renewed on the same key (new dates, new serial) is the same
/// member on chain; another key, or the same key certified by another
/// organisation, is not.
#[test]
fn a_certificate_renewed_on_the_same_key_keeps_its_member_id() {
    let (k1, ca1) = org("acme", Scheme::P256);
    let (k2, ca2) = org("bolt", Scheme::Ed25519);
    let trust = TrustStore::new([("acme", ca1.as_str()), ("bolt", ca2.as_str())]).unwrap();
    for scheme in Scheme::ALL {
        let member = PrivateKey::generate(scheme).unwrap();
        let first = issue_end_entity(
            &k1,
            &ca1,
            &member.public_key(),
            &spec("alice", "acme", Role::Member),
        )
        .unwrap();
        let mut later = spec("alice", "acme", Role::Member);
        later.not_before += 100;
        later.not_after += 365 * 86_400;
        let renewed = issue_end_entity(&k1, &ca1, &member.public_key(), &later).unwrap();
        let a = trust.identify(&der(&first)).unwrap();
        let b = trust.identify(&der(&renewed)).unwrap();
        assert_ne!(a.cert_hash, b.cert_hash, "two certificates");
        assert_eq!(a.id, b.id, "one member");
        assert_eq!(
            a.id,
            ingot_crypto::member_id("acme", &member.public_key()).unwrap()
        );

        let other_key = PrivateKey::generate(scheme).unwrap();
        let stranger = issue_end_entity(
            &k1,
            &ca1,
            &other_key.public_key(),
            &spec("alice", "acme", Role::Member),
        )
        .unwrap();
        assert_ne!(trust.identify(&der(&stranger)).unwrap().id, a.id);
        let elsewhere = issue_end_entity(
            &k2,
            &ca2,
            &member.public_key(),
            &spec("alice", "bolt", Role::Member),
        )
        .unwrap();
        assert_ne!(
            trust.identify(&der(&elsewhere)).unwrap().id,
            a.id,
            "the organisation is part of the id"
        );
    }
}

/// The member id is consensus bytes (it keys ownership in state): pinned.
#[test]
fn golden_member_ids() {
    let ids: Vec<String> = Scheme::ALL
        .into_iter()
        .map(|scheme| {
            let key = PrivateKey::from_raw(scheme, &[1; 32]).unwrap().public_key();
            ingot_crypto::member_id("acme", &key)
                .unwrap()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        })
        .collect();
    if std::env::var_os("INGOT_GOLDEN_BLESS").is_some() {
        println!("{ids:#?}");
    }
    // The first two were recomputed from the definition alone with Python's
    // `cryptography` (hashlib over domain, scheme byte, length, name, raw key).
    assert_eq!(
        ids,
        [
            "3e926527073747b7b575251956b6841286f0e4cf6c7e22bdb63226b025fd9d3e",
            "4053c9f994e0d247c302ff3892f26e2f2324e257dbad8b445a3bdc2bfab5057c",
            "6020e595d193fbed3a5da502ca1b6b95844421180d5bdca2984467ee649e0c57",
        ]
    );
}

/// A call's `certificate_pem` holds exactly one certificate: a second block
/// or trailing bytes are refused, not silently dropped; text before it (as
/// `openssl x509 -text` prints) is fine; garbage says what was expected.
#[test]
fn one_pem_certificate_or_a_clear_refusal() {
    let (_, ca) = org("acme", Scheme::Ed25519);
    let one = CertInfo::from_one_pem(&ca).unwrap();
    assert_eq!(one.der, der(&ca));
    assert!(CertInfo::from_one_pem(&format!("Certificate:\n  Data: ...\n{ca}\n\n")).is_ok());
    let two = CertInfo::from_one_pem(&format!("{ca}{ca}")).unwrap_err();
    assert!(two.contains("found 2 PEM blocks"), "{two}");
    let junk = CertInfo::from_one_pem(&format!("{ca}junk")).unwrap_err();
    assert!(junk.contains("nothing may follow"), "{junk}");
    let none = CertInfo::from_one_pem("hello").unwrap_err();
    assert!(none.contains("expected one PEM certificate"), "{none}");
    let key =
        CertInfo::from_one_pem("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n")
            .unwrap_err();
    assert!(key.contains("expected one PEM certificate"), "{key}");
    let broken = ca.replace(
        "-----BEGIN CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\n!!",
    );
    let broken = CertInfo::from_one_pem(&broken).unwrap_err();
    assert!(
        broken.contains("not a readable X.509 certificate"),
        "{broken}"
    );
}
