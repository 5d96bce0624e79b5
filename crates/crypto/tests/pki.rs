use ingot_crypto::issue::{issue_ca_with, issue_end_entity_with};
use ingot_crypto::verify::CertInfo;
use ingot_crypto::{
    issue_ca, issue_end_entity, oid, unix_now, verify_chain, Backend, CertSpec, PkiError,
    PrivateKey, PublicKey, Role, Scheme,
};

const DAY: i64 = 86_400;

fn spec(cn: &str, role: Role, not_before: i64, not_after: i64) -> CertSpec {
    CertSpec {
        common_name: cn.to_string(),
        organization: "Org1".to_string(),
        san_uris: match role {
            Role::Ca => vec![],
            _ => vec![format!("ingot://org1/{}/{cn}", role.ou().unwrap())],
        },
        not_before,
        not_after,
        role,
    }
}

fn new_ca(scheme: Scheme) -> (PrivateKey, String) {
    let key = PrivateKey::generate(scheme).unwrap();
    let now = unix_now();
    let pem = issue_ca(
        &key,
        &spec("Org1 CA", Role::Ca, now - 365 * DAY, now + 3650 * DAY),
    )
    .unwrap();
    (key, pem)
}

fn expected_spki(scheme: Scheme) -> (&'static str, Option<&'static str>) {
    match scheme {
        Scheme::Ed25519 => (oid::ED25519, None),
        Scheme::P256 => (oid::EC_PUBLIC_KEY, Some(oid::CURVE_P256)),
        Scheme::Sm2 => (oid::EC_PUBLIC_KEY, Some(oid::CURVE_SM2)),
    }
}

/// Replace the first occurrence of `from` in `der` by `to` (same length).
fn patch(der: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let pos = der
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    let mut out = der.to_vec();
    out[pos..pos + to.len()].copy_from_slice(to);
    out
}

fn to_pem(der: &[u8]) -> String {
    use x509_cert::der::pem::{encode_string, LineEnding};
    encode_string("CERTIFICATE", LineEnding::LF, der).unwrap()
}

// ---------------------------------------------------------------- keys

fn key_roundtrip(scheme: Scheme) {
    let key = PrivateKey::generate(scheme).unwrap();
    let pem = key.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let back = PrivateKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(back.scheme(), scheme);
    assert_eq!(back.public_key(), key.public_key());

    let pub_pem = key.public_key().to_spki_pem().unwrap();
    let pub_back = PublicKey::from_spki_pem(&pub_pem).unwrap();
    assert_eq!(pub_back, key.public_key());

    let msg = b"ingot block 42";
    let sig = key.sign(msg).unwrap();
    pub_back.verify(msg, &sig).unwrap();
    assert_eq!(
        pub_back.verify(b"ingot block 43", &sig),
        Err(PkiError::BadSignature)
    );
    let other = PrivateKey::generate(scheme).unwrap().public_key();
    assert_eq!(other.verify(msg, &sig), Err(PkiError::BadSignature));
}

// ---------------------------------------------------------------- chains

fn chain_ok(scheme: Scheme) {
    let (ca_key, ca_pem) = new_ca(scheme);
    let ca = CertInfo::from_pem(&ca_pem).unwrap();
    assert!(ca.is_ca);
    assert_eq!(ca.path_len, Some(0));
    assert_eq!(ca.key_cert_sign, Some(true));
    assert_eq!(ca.subject_cn.as_deref(), Some("Org1 CA"));
    assert_eq!(ca.signature_algorithm_oid, scheme.signature_oid());
    assert_eq!(ca.subject_key_id, ca.authority_key_id);

    let now = unix_now();
    for role in [Role::Member, Role::Validator] {
        let node_key = PrivateKey::generate(scheme).unwrap();
        let cert_pem = issue_end_entity(
            &ca_key,
            &ca_pem,
            &node_key.public_key(),
            &spec("node-1", role, now - 60, now + 365 * DAY),
        )
        .unwrap();
        let info = verify_chain(&cert_pem, &ca_pem, now).unwrap();

        assert_eq!(info.subject_cn.as_deref(), Some("node-1"));
        assert_eq!(info.subject_o.as_deref(), Some("Org1"));
        assert_eq!(info.subject_ou.as_deref(), role.ou());
        assert_eq!(info.issuer_cn.as_deref(), Some("Org1 CA"));
        assert_eq!(
            info.san_uris,
            vec![format!("ingot://org1/{}/node-1", role.ou().unwrap())]
        );
        assert_eq!(info.not_before, now - 60);
        assert_eq!(info.not_after, now + 365 * DAY);
        assert!(!info.is_ca);
        assert_eq!(info.key_cert_sign, Some(false));
        assert_eq!(info.digital_signature, Some(true));
        assert_eq!(info.authority_key_id, ca.subject_key_id);
        assert_eq!(info.serial_hex.split(':').count(), 16);

        let (alg, param) = expected_spki(scheme);
        assert_eq!(info.spki_algorithm_oid, alg);
        assert_eq!(info.spki_parameter_oid.as_deref(), param);
        assert_eq!(
            info.public_key_bytes,
            node_key.public_key().raw_bytes().unwrap()
        );
        assert_eq!(info.public_key().unwrap(), node_key.public_key());
        assert_eq!(info.signature_algorithm_oid, scheme.signature_oid());

        // The certified key can be used right away.
        let sig = node_key.sign(b"vote").unwrap();
        info.public_key().unwrap().verify(b"vote", &sig).unwrap();
    }
}

fn tampered_fails(scheme: Scheme) {
    let (ca_key, ca_pem) = new_ca(scheme);
    let now = unix_now();
    let node = PrivateKey::generate(scheme).unwrap().public_key();
    let cert_pem = issue_end_entity(
        &ca_key,
        &ca_pem,
        &node,
        &spec("node-1", Role::Member, now, now + DAY),
    )
    .unwrap();
    let der = CertInfo::from_pem(&cert_pem).unwrap().der;

    // 1. Subject CN changed inside the TBS: still parses, signature check fails.
    let forged = to_pem(&patch(&der, b"node-1", b"node-2"));
    let info = CertInfo::from_pem(&forged).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("node-2"));
    assert_eq!(
        verify_chain(&forged, &ca_pem, now),
        Err(PkiError::BadSignature)
    );

    // 2. Last byte of the signature flipped.
    let mut bad_sig = der.clone();
    *bad_sig.last_mut().unwrap() ^= 0x01;
    let bad_sig = to_pem(&bad_sig);
    assert_eq!(
        verify_chain(&bad_sig, &ca_pem, now),
        Err(PkiError::BadSignature)
    );

    // 3. SAN URI changed.
    let forged = to_pem(&patch(&der, b"ingot://org1", b"ingot://org9"));
    assert_eq!(
        verify_chain(&forged, &ca_pem, now),
        Err(PkiError::BadSignature)
    );
}

fn other_ca_fails(scheme: Scheme) {
    // Two CAs with the *same* subject DN: only the signature tells them apart.
    let (ca_key, ca_pem) = new_ca(scheme);
    let (_other_key, other_pem) = new_ca(scheme);
    let now = unix_now();
    let node = PrivateKey::generate(scheme).unwrap().public_key();
    let cert_pem = issue_end_entity(
        &ca_key,
        &ca_pem,
        &node,
        &spec("node-1", Role::Validator, now, now + DAY),
    )
    .unwrap();
    verify_chain(&cert_pem, &ca_pem, now).unwrap();
    assert_eq!(
        verify_chain(&cert_pem, &other_pem, now),
        Err(PkiError::BadSignature)
    );

    // A CA of another organisation (different DN) is rejected on the name already.
    let other_org_key = PrivateKey::generate(scheme).unwrap();
    let mut s = spec("Org2 CA", Role::Ca, now - DAY, now + DAY);
    s.organization = "Org2".into();
    let org2_pem = issue_ca(&other_org_key, &s).unwrap();
    assert_eq!(
        verify_chain(&cert_pem, &org2_pem, now),
        Err(PkiError::IssuerMismatch)
    );

    // Issuing with a key that does not belong to the CA certificate is refused.
    assert!(matches!(
        issue_end_entity(
            &other_org_key,
            &ca_pem,
            &node,
            &spec("x", Role::Member, now, now + DAY)
        ),
        Err(PkiError::Issue(_))
    ));
}

fn expiry_detected(scheme: Scheme) {
    let (ca_key, ca_pem) = new_ca(scheme);
    let now = unix_now();
    let node = PrivateKey::generate(scheme).unwrap().public_key();

    let expired = issue_end_entity(
        &ca_key,
        &ca_pem,
        &node,
        &spec("old-node", Role::Member, now - 30 * DAY, now - DAY),
    )
    .unwrap();
    assert_eq!(
        verify_chain(&expired, &ca_pem, now),
        Err(PkiError::Expired {
            not_after: now - DAY,
            now
        })
    );
    // Signature itself is fine: valid at a time inside its window.
    verify_chain(&expired, &ca_pem, now - 2 * DAY).unwrap();

    let future = issue_end_entity(
        &ca_key,
        &ca_pem,
        &node,
        &spec("new-node", Role::Member, now + DAY, now + 2 * DAY),
    )
    .unwrap();
    assert_eq!(
        verify_chain(&future, &ca_pem, now),
        Err(PkiError::NotYetValid {
            not_before: now + DAY,
            now
        })
    );

    // Expired CA.
    let old_ca_key = PrivateKey::generate(scheme).unwrap();
    let old_ca = issue_ca(
        &old_ca_key,
        &spec("Org1 CA", Role::Ca, now - 10 * DAY, now - DAY),
    )
    .unwrap();
    let cert = issue_end_entity(
        &old_ca_key,
        &old_ca,
        &node,
        &spec("n", Role::Member, now - 5 * DAY, now + DAY),
    )
    .unwrap();
    assert!(matches!(
        verify_chain(&cert, &old_ca, now),
        Err(PkiError::Expired { .. })
    ));
}

fn end_entity_cannot_issue(scheme: Scheme) {
    let (ca_key, ca_pem) = new_ca(scheme);
    let now = unix_now();
    let node_key = PrivateKey::generate(scheme).unwrap();
    let node_pem = issue_end_entity(
        &ca_key,
        &ca_pem,
        &node_key.public_key(),
        &spec("node-1", Role::Member, now, now + DAY),
    )
    .unwrap();
    // Our issuer refuses a non-CA issuer certificate ...
    let victim = PrivateKey::generate(scheme).unwrap().public_key();
    assert_eq!(
        issue_end_entity(
            &node_key,
            &node_pem,
            &victim,
            &spec("v", Role::Member, now, now + DAY)
        ),
        Err(PkiError::NotACa)
    );
    // ... and the verifier refuses an end-entity certificate as issuer.
    let node = CertInfo::from_pem(&node_pem).unwrap();
    assert_eq!(node.verify_signed_by(&node), Err(PkiError::NotACa));
}

macro_rules! per_scheme {
    ($($name:ident => $scheme:expr),* $(,)?) => {$(
        mod $name {
            use super::*;
            #[test] fn key_pkcs8_sign_verify() { key_roundtrip($scheme) }
            #[test] fn ca_issue_parse_verify() { chain_ok($scheme) }
            #[test] fn tampered_cert_fails() { tampered_fails($scheme) }
            #[test] fn cert_from_other_ca_fails() { other_ca_fails($scheme) }
            #[test] fn expired_cert_detected() { expiry_detected($scheme) }
            #[test] fn end_entity_is_not_a_ca() { end_entity_cannot_issue($scheme) }
        }
    )*};
}

per_scheme! {
    ed25519 => Scheme::Ed25519,
    p256 => Scheme::P256,
    sm2 => Scheme::Sm2,
}

// ---------------------------------------------------------------- mixed schemes / backends

#[test]
fn mixed_scheme_chains() {
    let now = unix_now();
    for ca_scheme in Scheme::ALL {
        let (ca_key, ca_pem) = new_ca(ca_scheme);
        for subject_scheme in Scheme::ALL {
            let subject = PrivateKey::generate(subject_scheme).unwrap().public_key();
            let pem = issue_end_entity(
                &ca_key,
                &ca_pem,
                &subject,
                &spec("node-x", Role::Validator, now, now + DAY),
            )
            .unwrap();
            let info = verify_chain(&pem, &ca_pem, now)
                .unwrap_or_else(|e| panic!("{ca_scheme:?} CA / {subject_scheme:?} key: {e}"));
            assert_eq!(info.public_key().unwrap(), subject);
            assert_eq!(info.signature_algorithm_oid, ca_scheme.signature_oid());
        }
    }
}

#[test]
fn rcgen_ed25519_ca_certifies_p256_public_key() {
    // The case asked for explicitly: only the P-256 *public* key is known to the CA.
    let now = unix_now();
    let ca_key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let ca_pem = issue_ca_with(
        Backend::Rcgen,
        &ca_key,
        &spec("Org1 CA", Role::Ca, now, now + DAY),
    )
    .unwrap();
    let p256_pub_pem = PrivateKey::generate(Scheme::P256)
        .unwrap()
        .public_key()
        .to_spki_pem()
        .unwrap();
    let subject = PublicKey::from_spki_pem(&p256_pub_pem).unwrap();
    let pem = issue_end_entity_with(
        Backend::Rcgen,
        &ca_key,
        &ca_pem,
        &subject,
        &spec("node-1", Role::Member, now, now + DAY),
    )
    .unwrap();
    let info = verify_chain(&pem, &ca_pem, now).unwrap();
    assert_eq!(info.spki_parameter_oid.as_deref(), Some(oid::CURVE_P256));
    assert_eq!(info.signature_algorithm_oid, oid::ED25519);
}

#[test]
fn rcgen_cannot_handle_sm2() {
    let now = unix_now();
    let sm2 = PrivateKey::generate(Scheme::Sm2).unwrap();
    assert!(matches!(
        issue_ca_with(Backend::Rcgen, &sm2, &spec("CA", Role::Ca, now, now + DAY)),
        Err(PkiError::UnsupportedAlgorithm(_))
    ));
    let (ca_key, ca_pem) = new_ca(Scheme::Ed25519);
    assert!(matches!(
        issue_end_entity_with(
            Backend::Rcgen,
            &ca_key,
            &ca_pem,
            &sm2.public_key(),
            &spec("n", Role::Member, now, now + DAY)
        ),
        Err(PkiError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn backends_are_interchangeable() {
    // CA from one backend, end entity from the other, for the schemes rcgen supports.
    let now = unix_now();
    for scheme in [Scheme::Ed25519, Scheme::P256] {
        for (ca_backend, ee_backend) in [
            (Backend::X509Cert, Backend::X509Cert),
            (Backend::X509Cert, Backend::Rcgen),
            (Backend::Rcgen, Backend::X509Cert),
        ] {
            let key = PrivateKey::generate(scheme).unwrap();
            let ca_pem =
                issue_ca_with(ca_backend, &key, &spec("Org1 CA", Role::Ca, now, now + DAY))
                    .unwrap();
            let subject = PrivateKey::generate(scheme).unwrap().public_key();
            let pem = issue_end_entity_with(
                ee_backend,
                &key,
                &ca_pem,
                &subject,
                &spec("node-1", Role::Member, now, now + DAY),
            )
            .unwrap();
            let info = verify_chain(&pem, &ca_pem, now)
                .unwrap_or_else(|e| panic!("{scheme:?} {ca_backend:?}->{ee_backend:?}: {e}"));
            assert_eq!(
                info.san_uris,
                vec!["ingot://org1/member/node-1".to_string()]
            );
        }
    }
}

#[test]
fn garbage_is_rejected() {
    assert!(matches!(
        CertInfo::from_pem("not a pem"),
        Err(PkiError::Parse(_))
    ));
    let (_, ca_pem) = new_ca(Scheme::Ed25519);
    let mut der = CertInfo::from_pem(&ca_pem).unwrap().der;
    der.push(0);
    assert!(matches!(CertInfo::from_der(&der), Err(PkiError::Parse(_))));
    assert!(matches!(
        PrivateKey::from_pkcs8_pem(&ca_pem),
        Err(PkiError::Key(_))
    ));
}

#[test]
fn x509_cert_build_one_liner_for_p256_and_ed25519() {
    // `Builder::build::<_, Sig>` works directly when the key implements `Signer<Sig>` for a
    // DER-correct `Sig` (not the case for sm2 0.14, see issue.rs). Uses the built-in CABF root
    // profile, which requires C, O and CN in the subject.
    use std::str::FromStr;
    use std::time::Duration;
    use x509_cert::builder::{profile::cabf::Root, Builder, CertificateBuilder};
    use x509_cert::der::{pem::LineEnding, Decode, EncodePem};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Validity;

    let subject = Name::from_str("CN=Org1 CA,O=Org1,C=CN").unwrap();
    let validity = Validity::from_now(Duration::from_secs(3600)).unwrap();
    let now = unix_now();
    let builder = |key: &PrivateKey, serial: u32| {
        let spki = SubjectPublicKeyInfoOwned::from_der(&key.public_key().to_spki_der().unwrap());
        let root = Root::new(false, subject.clone()).unwrap();
        CertificateBuilder::new(root, SerialNumber::from(serial), validity, spki.unwrap()).unwrap()
    };

    let key = PrivateKey::generate(Scheme::P256).unwrap();
    let PrivateKey::P256(sk) = &key else {
        unreachable!()
    };
    let cert = builder(&key, 1)
        .build::<_, ::p256::ecdsa::DerSignature>(sk)
        .unwrap();
    let pem = cert.to_pem(LineEnding::LF).unwrap();
    assert_eq!(
        verify_chain(&pem, &pem, now).unwrap().subject_cn.as_deref(),
        Some("Org1 CA")
    );

    let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
    let PrivateKey::Ed25519(sk) = &key else {
        unreachable!()
    };
    let cert = builder(&key, 2)
        .build::<_, ed25519_dalek::Signature>(sk)
        .unwrap();
    let pem = cert.to_pem(LineEnding::LF).unwrap();
    verify_chain(&pem, &pem, now).unwrap();
}

/// Simulations need certificates that are the same bytes in every process:
/// with fixed keys and a given serial both backends issue identical
/// certificates, the serial is the one given (made positive), and a different
/// serial gives a different certificate.
#[test]
fn a_given_serial_makes_issuance_reproducible() {
    use ingot_crypto::{issue_ca_with_serial, issue_end_entity_with_serial};
    let ca_key = PrivateKey::from_raw(Scheme::Ed25519, &[7; 32]).unwrap();
    let subject = PrivateKey::from_raw(Scheme::Ed25519, &[9; 32]).unwrap();
    for backend in [Backend::Rcgen, Backend::X509Cert] {
        let ca_spec = spec("Org1 CA", Role::Ca, 0, 4_000_000_000);
        let ca = |serial| issue_ca_with_serial(backend, &ca_key, &ca_spec, serial).unwrap();
        let ca_pem = ca([0xff; 16]);
        assert_eq!(ca_pem, ca([0xff; 16]), "{backend:?}");
        assert_ne!(ca_pem, ca([0x01; 16]), "{backend:?}");
        // 0xff.. made positive: top bit cleared, second bit set.
        let serial_hex = CertInfo::from_pem(&ca_pem)
            .unwrap()
            .serial_hex
            .to_lowercase();
        assert_eq!(
            serial_hex.replace(':', ""),
            format!("7f{}", "ff".repeat(15))
        );
        let leaf_spec = spec("node-1", Role::Validator, 0, 4_000_000_000);
        let leaf = |serial| {
            issue_end_entity_with_serial(
                backend,
                &ca_key,
                &ca_pem,
                &subject.public_key(),
                &leaf_spec,
                serial,
            )
            .unwrap()
        };
        assert_eq!(leaf([3; 16]), leaf([3; 16]), "{backend:?}");
        assert_ne!(leaf([3; 16]), leaf([4; 16]), "{backend:?}");
        verify_chain(&leaf([3; 16]), &ca_pem, 1_000).unwrap();
    }
}
