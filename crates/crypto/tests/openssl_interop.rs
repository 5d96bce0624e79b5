//! Interop with the `openssl` CLI (OpenSSL 3.x). Every test is skipped (passes with a note on
//! stderr) when `openssl` is not on PATH.
//!
//! SM2 notes (OpenSSL 3.0): `req`/`x509`/`dgst` sign SM2 with an EMPTY distinguishing ID unless
//! given `-sigopt distid:1234567812345678`; `openssl verify` needs `-vfyopt distid:1234567812345678`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ingot_crypto::verify::CertInfo;
use ingot_crypto::{
    issue_ca, issue_end_entity, unix_now, verify_chain, CertSpec, PrivateKey, PublicKey, Role,
    Scheme,
};

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("openssl not found: interop test skipped");
    }
    ok
}

struct TmpDir(PathBuf);
impl TmpDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("pki-proto-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TmpDir(p)
    }
    fn path(&self, f: &str) -> String {
        self.0.join(f).to_str().unwrap().to_owned()
    }
}
impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run openssl in `dir`; panic with its stderr on failure; return stdout.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn genpkey_args(scheme: Scheme) -> Vec<&'static str> {
    match scheme {
        Scheme::Ed25519 => vec!["genpkey", "-algorithm", "ED25519"],
        Scheme::P256 => vec![
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ],
        Scheme::Sm2 => vec!["genpkey", "-algorithm", "SM2"],
    }
}

/// Digest / signature options for req, x509, dgst.
fn sign_args(scheme: Scheme) -> Vec<&'static str> {
    match scheme {
        Scheme::Ed25519 => vec![], // no digest option for EdDSA
        Scheme::P256 => vec!["-sha256"],
        Scheme::Sm2 => vec!["-sm3", "-sigopt", "distid:1234567812345678"],
    }
}

fn verify_args(scheme: Scheme) -> Vec<&'static str> {
    match scheme {
        Scheme::Sm2 => vec!["-vfyopt", "distid:1234567812345678"],
        _ => vec![],
    }
}

/// Creates ca.key/ca.pem (self-signed CA) and node.key/node.pem with openssl.
fn openssl_chain(dir: &TmpDir, scheme: Scheme) {
    openssl_chain_with(
        dir,
        scheme,
        "/O=Org1/OU=member/CN=ossl-node",
        "URI:ingot://org1/member/ossl-node",
    )
}

/// [`openssl_chain`] with the end entity's subject and subjectAltName chosen.
fn openssl_chain_with(dir: &TmpDir, scheme: Scheme, subject: &str, san: &str) {
    let d = &dir.0;
    for f in ["ca.key", "node.key"] {
        let mut a = genpkey_args(scheme);
        a.extend(["-out", f]);
        openssl(d, &a);
    }
    let mut a = vec![
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/O=Org1/CN=Org1 CA",
        "-days",
        "30",
    ];
    a.extend(sign_args(scheme));
    a.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        "ca.pem",
    ]);
    openssl(d, &a);

    let mut a = vec!["req", "-new", "-key", "node.key", "-subj", subject];
    a.extend(sign_args(scheme));
    a.extend(["-out", "node.csr"]);
    openssl(d, &a);

    std::fs::write(
        dir.path("ee.ext"),
        format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             subjectAltName={san}\nsubjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid\n"
        ),
    )
    .unwrap();
    let mut a = vec![
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-set_serial",
        "4242",
        "-days",
        "10",
        "-extfile",
        "ee.ext",
        "-out",
        "node.pem",
    ];
    a.extend(sign_args(scheme));
    a.extend(verify_args(scheme)); // the CSR self-signature check
    openssl(d, &a);
}

fn read(dir: &TmpDir, f: &str) -> String {
    std::fs::read_to_string(dir.path(f)).unwrap()
}

#[test]
fn openssl_generated_chains_verify_with_our_parser() {
    if !have_openssl() {
        return;
    }
    for scheme in Scheme::ALL {
        let dir = TmpDir::new(&format!("ossl-chain-{scheme:?}"));
        openssl_chain(&dir, scheme);
        let (ca_pem, node_pem) = (read(&dir, "ca.pem"), read(&dir, "node.pem"));

        let info = verify_chain(&node_pem, &ca_pem, unix_now())
            .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
        assert_eq!(info.subject_cn.as_deref(), Some("ossl-node"));
        assert_eq!(info.subject_o.as_deref(), Some("Org1"));
        assert_eq!(info.subject_ou.as_deref(), Some("member"));
        assert_eq!(
            info.san_uris,
            vec!["ingot://org1/member/ossl-node".to_string()]
        );
        assert_eq!(info.signature_algorithm_oid, scheme.signature_oid());
        assert!(!info.is_ca);

        // OpenSSL's PKCS#8 keys load, and match the certificates.
        let ca_key = PrivateKey::from_pkcs8_pem(&read(&dir, "ca.key")).unwrap();
        assert_eq!(ca_key.scheme(), scheme);
        let ca = CertInfo::from_pem(&ca_pem).unwrap();
        assert_eq!(ca.public_key().unwrap(), ca_key.public_key());
        let node_key = PrivateKey::from_pkcs8_pem(&read(&dir, "node.key")).unwrap();
        assert_eq!(info.public_key().unwrap(), node_key.public_key());

        // Tampering is detected on OpenSSL-made certificates too.
        let mut der = info.der.clone();
        let pos = der.windows(9).position(|w| w == b"ossl-node").unwrap();
        der[pos] = b'X';
        let forged = x509_cert::der::pem::encode_string(
            "CERTIFICATE",
            x509_cert::der::pem::LineEnding::LF,
            &der,
        )
        .unwrap();
        assert!(verify_chain(&forged, &ca_pem, unix_now()).is_err());
    }
}

#[test]
fn our_keys_and_certs_are_accepted_by_openssl() {
    if !have_openssl() {
        return;
    }
    let now = unix_now();
    for scheme in Scheme::ALL {
        let dir = TmpDir::new(&format!("ours-{scheme:?}"));
        let ca_key = PrivateKey::generate(scheme).unwrap();
        let ca_spec = CertSpec {
            common_name: "Org1 CA".into(),
            organization: "Org1".into(),
            san_uris: vec![],
            not_before: now - 60,
            not_after: now + 86_400,
            role: Role::Ca,
        };
        let ca_pem = issue_ca(&ca_key, &ca_spec).unwrap();
        let node_key = PrivateKey::generate(scheme).unwrap();
        let node_pem = issue_end_entity(
            &ca_key,
            &ca_pem,
            &node_key.public_key(),
            &CertSpec {
                common_name: "validator-1".into(),
                san_uris: vec!["ingot://org1/validator/validator-1".into()],
                role: Role::Validator,
                ..ca_spec.clone()
            },
        )
        .unwrap();
        std::fs::write(dir.path("ca.pem"), &ca_pem).unwrap();
        std::fs::write(dir.path("node.pem"), &node_pem).unwrap();
        std::fs::write(dir.path("node.key"), node_key.to_pkcs8_pem().unwrap()).unwrap();

        // PKCS#8 readable, public key identical.
        let pubout = openssl(&dir.0, &["pkey", "-in", "node.key", "-pubout"]);
        assert_eq!(pubout, node_key.public_key().to_spki_pem().unwrap());

        // Certificate parses and shows our fields.
        let text = openssl(&dir.0, &["x509", "-in", "node.pem", "-noout", "-text"]);
        let sig_name = match scheme {
            Scheme::Ed25519 => "ED25519",
            Scheme::P256 => "ecdsa-with-SHA256",
            Scheme::Sm2 => "SM2-with-SM3",
        };
        assert!(
            text.contains(&format!("Signature Algorithm: {sig_name}")),
            "{text}"
        );
        assert!(
            text.contains("URI:ingot://org1/validator/validator-1"),
            "{text}"
        );
        assert!(text.contains("CA:FALSE"), "{text}");

        // Chain verifies in OpenSSL.
        let mut a = vec!["verify"];
        a.extend(verify_args(scheme));
        a.extend(["-CAfile", "ca.pem", "node.pem"]);
        assert!(openssl(&dir.0, &a).contains("node.pem: OK"));
    }
}

#[test]
fn we_issue_under_an_openssl_ca() {
    if !have_openssl() {
        return;
    }
    for scheme in Scheme::ALL {
        let dir = TmpDir::new(&format!("under-ossl-{scheme:?}"));
        openssl_chain(&dir, scheme);
        let now = unix_now(); // after the CA exists (its notBefore is openssl's "now")
        let ca_pem = read(&dir, "ca.pem");
        let ca_key = PrivateKey::from_pkcs8_pem(&read(&dir, "ca.key")).unwrap();
        let subject = PrivateKey::generate(scheme).unwrap().public_key();
        let pem = issue_end_entity(
            &ca_key,
            &ca_pem,
            &subject,
            &CertSpec {
                common_name: "rust-node".into(),
                organization: "Org1".into(),
                san_uris: vec!["ingot://org1/member/rust-node".into()],
                not_before: now - 60,
                not_after: now + 86_400,
                role: Role::Member,
            },
        )
        .unwrap();
        verify_chain(&pem, &ca_pem, now).unwrap();
        std::fs::write(dir.path("rust-node.pem"), &pem).unwrap();
        let mut a = vec!["verify"];
        a.extend(verify_args(scheme));
        a.extend(["-CAfile", "ca.pem", "rust-node.pem"]);
        assert!(
            openssl(&dir.0, &a).contains("rust-node.pem: OK"),
            "{scheme:?}"
        );
    }
}

#[test]
fn raw_signatures_interoperate() {
    if !have_openssl() {
        return;
    }
    let msg = b"ingot consensus vote: height=7 round=0";
    for scheme in Scheme::ALL {
        let dir = TmpDir::new(&format!("sig-{scheme:?}"));
        let d = &dir.0;
        std::fs::write(dir.path("msg"), msg).unwrap();

        // OpenSSL signs, we verify.
        let mut a = genpkey_args(scheme);
        a.extend(["-out", "k.pem"]);
        openssl(d, &a);
        openssl(d, &["pkey", "-in", "k.pem", "-pubout", "-out", "k.pub"]);
        match scheme {
            Scheme::Ed25519 => {
                openssl(
                    d,
                    &[
                        "pkeyutl", "-sign", "-rawin", "-inkey", "k.pem", "-in", "msg", "-out",
                        "sig",
                    ],
                );
            }
            _ => {
                let mut a = vec!["dgst"];
                a.extend(sign_args(scheme));
                a.extend(["-sign", "k.pem", "-out", "sig", "msg"]);
                openssl(d, &a);
            }
        }
        let pk = PublicKey::from_spki_pem(&read(&dir, "k.pub")).unwrap();
        let sig = std::fs::read(dir.path("sig")).unwrap();
        pk.verify(msg, &sig)
            .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));

        // We sign, OpenSSL verifies.
        let key = PrivateKey::generate(scheme).unwrap();
        std::fs::write(dir.path("our.pub"), key.public_key().to_spki_pem().unwrap()).unwrap();
        std::fs::write(dir.path("our.sig"), key.sign(msg).unwrap()).unwrap();
        let out = match scheme {
            Scheme::Ed25519 => openssl(
                d,
                &[
                    "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", "our.pub", "-in", "msg",
                    "-sigfile", "our.sig",
                ],
            ),
            _ => {
                let mut a = vec!["dgst"];
                a.extend(sign_args(scheme));
                a.extend(["-verify", "our.pub", "-signature", "our.sig", "msg"]);
                openssl(d, &a)
            }
        };
        assert!(
            out.contains("Verified") || out.contains("Successfully"),
            "{scheme:?}: {out}"
        );
    }
}

/// Device certificates made by OpenSSL with Ingot's fields (OU=device, SAN
/// URIs for id and model) are accepted exactly like Ingot's own, for all three
/// schemes; the same certificate is refused by a trust store whose CA for
/// that organisation is a different one.
#[test]
fn openssl_device_certificates_are_accepted() {
    if !have_openssl() {
        return;
    }
    for scheme in Scheme::ALL {
        let dir = TmpDir::new(&format!("ossl-device-{scheme:?}"));
        openssl_chain_with(
            &dir,
            scheme,
            "/O=Org1/OU=device/CN=SN-9",
            "URI:urn:ingot:device:Org1:SN-9,URI:urn:ingot:model:PLC-1",
        );
        let der = CertInfo::from_pem(&read(&dir, "node.pem")).unwrap().der;
        let trust =
            ingot_crypto::TrustStore::new([("Org1", read(&dir, "ca.pem").as_str())]).unwrap();
        let id = trust
            .identify(&der)
            .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
        assert_eq!(id.role, "device");
        let device = id.device.as_ref().expect("a device identity");
        assert_eq!(
            (device.id.as_str(), device.model.as_str()),
            ("Org1:SN-9", "PLC-1")
        );
        let key = PrivateKey::from_pkcs8_pem(&read(&dir, "node.key")).unwrap();
        assert_eq!(id.public_key, key.public_key());

        // Another CA claiming to be Org1 does not vouch for it.
        let other = TmpDir::new(&format!("ossl-device-other-{scheme:?}"));
        openssl_chain(&other, scheme);
        let strangers =
            ingot_crypto::TrustStore::new([("Org1", read(&other, "ca.pem").as_str())]).unwrap();
        assert!(strangers.identify(&der).is_err(), "{scheme:?}");
    }
}

/// An SM2 certificate OpenSSL signed with its default (empty)
/// distinguishing ID is refused, and the refusal says how to sign it.
#[test]
fn an_sm2_certificate_signed_without_the_distinguishing_id_is_refused_with_a_hint() {
    if !have_openssl() {
        return;
    }
    let dir = TmpDir::new("ossl-sm2-no-distid");
    openssl_chain(&dir, Scheme::Sm2);
    let d = &dir.0;
    // Re-sign the same request without `-sigopt distid:...`.
    let mut a = vec![
        "x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "10",
        "-extfile", "ee.ext", "-out", "bad.pem", "-sm3",
    ];
    a.extend(verify_args(Scheme::Sm2));
    openssl(d, &a);
    let trust = ingot_crypto::TrustStore::new([("Org1", read(&dir, "ca.pem").as_str())]).unwrap();
    assert!(trust
        .identify(&CertInfo::from_pem(&read(&dir, "node.pem")).unwrap().der)
        .is_ok());
    let refused = trust
        .identify(&CertInfo::from_pem(&read(&dir, "bad.pem")).unwrap().der)
        .unwrap_err();
    assert!(
        matches!(refused, ingot_crypto::TrustError::NotIssuedByOrg(..))
            && refused.to_string().contains("distid:1234567812345678"),
        "{refused}"
    );
}
