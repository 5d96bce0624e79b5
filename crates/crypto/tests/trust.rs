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
