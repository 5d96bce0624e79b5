//! Descriptors, assembling a genesis and the genesis check: every refusal
//! with its code, and the order-independence of the chain id.

use ingot_consortium::{assemble, check_genesis, DescriptorValidator, OrgDescriptor};
use ingot_crypto::{issue_ca, issue_end_entity, CertSpec, PrivateKey, Role, Scheme};
use ingot_types::genesis::OrgKind;

struct Org {
    key: PrivateKey,
    ca_pem: String,
    name: String,
}

fn spec(org: &str, cn: &str, role: Role, not_after: i64) -> CertSpec {
    CertSpec {
        common_name: cn.into(),
        organization: org.into(),
        san_uris: vec![],
        not_before: 0,
        not_after,
        role,
    }
}

fn org(name: &str, scheme: Scheme) -> Org {
    let key = PrivateKey::generate(scheme).unwrap();
    let ca_pem = issue_ca(&key, &spec(name, "root", Role::Ca, 4_000_000_000)).unwrap();
    Org {
        key,
        ca_pem,
        name: name.into(),
    }
}

impl Org {
    fn cert(&self, subject: &PrivateKey, cn: &str, role: Role, not_after: i64) -> String {
        issue_end_entity(
            &self.key,
            &self.ca_pem,
            &subject.public_key(),
            &spec(&self.name, cn, role, not_after),
        )
        .unwrap()
    }

    fn validator(&self, name: &str, port: u16) -> DescriptorValidator {
        let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        DescriptorValidator {
            name: name.into(),
            public_key: hex::encode(key.public_key().raw_bytes().unwrap()),
            cert_pem: self.cert(&key, name, Role::Validator, 4_000_000_000),
            p2p_address: format!("10.0.0.{port}:30300"),
        }
    }

    fn descriptor(&self, validators: usize) -> OrgDescriptor {
        let mut d = OrgDescriptor::new(&self.name, OrgKind::Member, self.ca_pem.clone());
        for i in 0..validators {
            d.validators
                .push(self.validator(&format!("{}-v{i}", self.name), i as u16 + 1));
        }
        d
    }
}

fn three() -> Vec<OrgDescriptor> {
    vec![
        org("acme", Scheme::Ed25519).descriptor(2),
        org("bolt", Scheme::P256).descriptor(1),
        org("cast", Scheme::Sm2).descriptor(1),
    ]
}

#[test]
fn assembling_is_independent_of_the_order_of_descriptors() {
    let ds = three();
    let a = assemble("plant", 1_700_000_000_000, &ds).unwrap();
    let reversed: Vec<_> = ds.iter().rev().cloned().collect();
    let b = assemble("plant", 1_700_000_000_000, &reversed).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.chain_id(), b.chain_id());
    assert_eq!(a.validators.len(), 4);
    let report = check_genesis(&a).unwrap();
    assert_eq!(report.chain_id, a.chain_id());
    assert_eq!(report.certificates.len(), 3 + 4);
    for d in &ds {
        d.matches(&a).unwrap();
    }
    // Another chain name or time is another chain.
    assert_ne!(
        assemble("plant-2", 1_700_000_000_000, &ds)
            .unwrap()
            .chain_id(),
        a.chain_id()
    );
}

#[test]
fn an_epoch_length_is_part_of_the_chain_and_bounded() {
    use ingot_types::genesis::{GenesisError, MAX_EPOCH_LENGTH, MIN_EPOCH_LENGTH};
    let plain = assemble("plant", 1_700_000_000_000, &three()).unwrap();
    let mut epochs = plain.clone();
    epochs.epoch_length = Some(MIN_EPOCH_LENGTH);
    check_genesis(&epochs).unwrap();
    assert_ne!(epochs.chain_id(), plain.chain_id());
    // It survives the JSON form; absent, it is absent (not 0).
    let json = serde_json::to_string(&epochs).unwrap();
    assert_eq!(
        serde_json::from_str::<ingot_types::Genesis>(&json).unwrap(),
        epochs
    );
    assert!(!serde_json::to_string(&plain)
        .unwrap()
        .contains("epoch_length"));
    for bad in [0, 1, MIN_EPOCH_LENGTH - 1, MAX_EPOCH_LENGTH + 1, u64::MAX] {
        epochs.epoch_length = Some(bad);
        let err = check_genesis(&epochs).unwrap_err();
        assert_eq!(err.code(), "genesis_structure", "{bad}");
        assert!(matches!(
            err,
            ingot_consortium::ConsortiumError::Structure(GenesisError::BadEpochLength(b)) if b == bad
        ));
    }
}

#[test]
fn a_descriptor_survives_its_json_form() {
    let d = org("acme", Scheme::Sm2).descriptor(1);
    assert_eq!(OrgDescriptor::from_json(d.to_json().as_bytes()).unwrap(), d);
}

#[test]
fn an_organisation_without_validators_may_join() {
    let mut ds = three();
    let observer = org("watch", Scheme::Ed25519);
    let d = OrgDescriptor::new("watch", OrgKind::Regulator, observer.ca_pem.clone());
    d.check().unwrap();
    ds.push(d);
    let g = assemble("plant", 1, &ds).unwrap();
    assert_eq!(g.organisations.len(), 4);
}

#[test]
fn a_validator_certified_by_another_organisation_is_refused() {
    let acme = org("acme", Scheme::Ed25519);
    let bolt = org("bolt", Scheme::P256);
    let mut d = acme.descriptor(1);
    // bolt's CA certifies a validator acme lists as its own.
    d.validators[0] = bolt.validator("acme-v0", 1);
    let err = d.check().unwrap_err();
    assert_eq!(err.code(), "validator_not_certified", "{err}");
    // Inside a genesis where bolt is present, it is still refused:
    // the certificate's organisation is not the one that lists it.
    let err = assemble("plant", 1, &[d, bolt.descriptor(1)]).unwrap_err();
    assert_eq!(err.code(), "validator_not_certified", "{err}");
}

#[test]
fn a_member_certificate_cannot_make_a_validator() {
    let acme = org("acme", Scheme::P256);
    let mut d = acme.descriptor(1);
    let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    d.validators[0].public_key = hex::encode(key.public_key().raw_bytes().unwrap());
    d.validators[0].cert_pem = acme.cert(&key, "acme-v0", Role::Member, 4_000_000_000);
    assert_eq!(d.check().unwrap_err().code(), "validator_role");
}

#[test]
fn the_listed_key_must_be_the_certified_key() {
    let acme = org("acme", Scheme::Ed25519);
    let mut d = acme.descriptor(2);
    // Another key than the one the certificate certifies.
    let other = PrivateKey::generate(Scheme::Ed25519).unwrap();
    d.validators[0].public_key = hex::encode(other.public_key().raw_bytes().unwrap());
    assert_eq!(d.check().unwrap_err().code(), "validator_key_mismatch");
    // A P-256 validator key is refused too: consensus keys are Ed25519.
    let p256 = PrivateKey::generate(Scheme::P256).unwrap();
    let mut d = acme.descriptor(1);
    d.validators[0].cert_pem = acme.cert(&p256, "acme-v0", Role::Validator, 4_000_000_000);
    assert_eq!(d.check().unwrap_err().code(), "validator_key_mismatch");
}

#[test]
fn a_ca_must_be_a_self_signed_ca_named_like_its_organisation() {
    let acme = org("acme", Scheme::Ed25519);
    let renamed = OrgDescriptor::new("acme-gmbh", OrgKind::Member, acme.ca_pem.clone());
    let err = renamed.check().unwrap_err();
    assert_eq!(err.code(), "bad_ca");
    assert!(err.to_string().contains("subject O"), "{err}");
    // An end-entity certificate posing as a CA.
    let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let leaf = acme.cert(&key, "not-a-ca", Role::Member, 4_000_000_000);
    let err = OrgDescriptor::new("acme", OrgKind::Member, leaf)
        .check()
        .unwrap_err();
    assert_eq!(err.code(), "bad_ca");
    let err = OrgDescriptor::new("acme", OrgKind::Member, "garbage".into())
        .check()
        .unwrap_err();
    assert_eq!(err.code(), "bad_ca");
}

#[test]
fn malformed_descriptors_are_refused_with_reasons() {
    let acme = org("acme", Scheme::Ed25519);
    let mut d = acme.descriptor(1);
    d.validators[0].p2p_address = "10.0.0.1".into();
    assert_eq!(d.check().unwrap_err().code(), "bad_descriptor");
    let mut d = acme.descriptor(1);
    d.format = "ingot-org/v9".into();
    assert_eq!(d.check().unwrap_err().code(), "bad_descriptor");
    let err = OrgDescriptor::from_json(b"{\"format\":\"ingot-org/v1\"}").unwrap_err();
    assert_eq!(err.code(), "bad_descriptor");
    let mut json: serde_json::Value = serde_json::from_str(&acme.descriptor(0).to_json()).unwrap();
    json["surprise"] = true.into();
    let err = OrgDescriptor::from_json(json.to_string().as_bytes()).unwrap_err();
    assert_eq!(err.code(), "bad_descriptor");
}

#[test]
fn the_same_organisation_twice_or_duplicate_validator_names_are_refused() {
    let ds = three();
    let twice = vec![ds[0].clone(), ds[1].clone(), ds[0].clone()];
    assert_eq!(
        assemble("plant", 1, &twice).unwrap_err().code(),
        "duplicate_descriptor"
    );
    let mut clash = ds.clone();
    clash[1].validators[0].name = clash[0].validators[0].name.clone();
    assert_eq!(
        assemble("plant", 1, &clash).unwrap_err().code(),
        "duplicate_validator_name"
    );
}

#[test]
fn a_genesis_that_changed_an_organisation_does_not_match_its_descriptor() {
    let ds = three();
    let mut g = assemble("plant", 1, &ds).unwrap();
    g.validators[0].p2p_address = "evil.example:1".into();
    let err = ds[0].matches(&g).unwrap_err();
    assert_eq!(err.code(), "descriptor_mismatch");
    let mut g = assemble("plant", 1, &ds).unwrap();
    g.organisations.retain(|o| o.name != "bolt");
    g.validators.retain(|v| v.org != "bolt");
    assert_eq!(ds[1].matches(&g).unwrap_err().code(), "descriptor_mismatch");
    // An extra validator smuggled in under acme's name is caught too.
    let acme_extra = ds[0].validators[0].clone();
    let mut g = assemble("plant", 1, &ds).unwrap();
    g.validators.push(ingot_types::ValidatorEntry {
        name: "acme-extra".into(),
        org: "acme".into(),
        public_key: acme_extra.public_key,
        cert_pem: acme_extra.cert_pem,
        p2p_address: acme_extra.p2p_address,
    });
    assert_eq!(ds[0].matches(&g).unwrap_err().code(), "descriptor_mismatch");
}

#[test]
fn certificates_close_to_expiry_are_reported() {
    let acme = org("acme", Scheme::Ed25519);
    let mut d = acme.descriptor(1);
    let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let now = 1_800_000_000;
    d.validators[0].public_key = hex::encode(key.public_key().raw_bytes().unwrap());
    d.validators[0].cert_pem = acme.cert(&key, "acme-v0", Role::Validator, now + 10 * 86_400);
    let g = assemble("plant", 1, &[d]).unwrap();
    let report = check_genesis(&g).unwrap();
    let soon = report.expiring(now, ingot_consortium::EXPIRY_WARNING_DAYS);
    assert_eq!(soon.len(), 1);
    assert_eq!(soon[0].subject, "validator acme-v0 of acme");
    assert!(report.expiring(now, 5).is_empty());
}
