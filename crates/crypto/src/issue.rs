//! Issuing certificates: organisation CA (self-signed) and end-entity certificates.
//!
//! Two backends produce the same certificate profile:
//! * [`Backend::Rcgen`]    – `rcgen` 0.14 without `ring`: our keys plug in through
//!   `rcgen::SigningKey` / `rcgen::PublicKeyData`. Only Ed25519 and ECDSA P-256 are possible
//!   (rcgen's `SignatureAlgorithm` set is closed), for the issuer *and* for the subject key.
//! * [`Backend::X509Cert`] – `x509-cert` 0.3 `CertificateBuilder` with a custom profile. Works for
//!   all three schemes; it is the one used for SM2 (signature converted to DER for OpenSSL).
//!
//! Profile (both backends):
//! * subject `O=<organization>[, OU=member|validator], CN=<common name>` (UTF8String)
//! * optional SAN URI, validity from the spec, random positive 128-bit serial
//! * SKI = first 20 bytes of SHA-256(SubjectPublicKeyInfo DER); AKI = issuer's SKI
//! * CA: basicConstraints critical cA=TRUE pathLen=0, keyUsage critical keyCertSign|cRLSign|digitalSignature
//! * end entity: basicConstraints critical cA=FALSE, keyUsage critical digitalSignature

use sha2::Digest as _;

use crate::keys::{PrivateKey, PublicKey, Scheme};
use crate::verify::CertInfo;
use crate::{PkiError, Result};

/// What the certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Organisation root CA (self-signed).
    Ca,
    /// Organisation member (client / transaction signer).
    Member,
    /// Organisation administrator: may register and revoke its organisation's members.
    Admin,
    /// Consensus validator node.
    Validator,
    /// An industrial device, certified by its manufacturer at manufacture.
    /// Its subject alternative names carry its id and model (see [`device_uri`]).
    Device,
}

impl Role {
    /// Value put in the subject OU of end-entity certificates.
    pub fn ou(self) -> Option<&'static str> {
        match self {
            Role::Ca => None,
            Role::Member => Some("member"),
            Role::Admin => Some("admin"),
            Role::Validator => Some("validator"),
            Role::Device => Some("device"),
        }
    }
}

/// A device's identity URI: `urn:ingot:device:<org>:<serial>`. The id is
/// unique because the organisation's CA issues at most one serial once (the
/// chain refuses to register a second device with the same id).
pub fn device_uri(org: &str, serial: &str) -> String {
    format!("{DEVICE_URI_PREFIX}{org}:{serial}")
}

/// A device model URI: `urn:ingot:model:<model>`.
pub fn model_uri(model: &str) -> String {
    format!("{MODEL_URI_PREFIX}{model}")
}

pub const DEVICE_URI_PREFIX: &str = "urn:ingot:device:";
pub const MODEL_URI_PREFIX: &str = "urn:ingot:model:";

/// Subject and validity of a certificate to issue.
#[derive(Debug, Clone)]
pub struct CertSpec {
    pub common_name: String,
    pub organization: String,
    /// Subject alternative name URIs, e.g. `ingot://org1/validator/node-1`;
    /// a device carries `urn:ingot:device:<org>:<serial>` and `urn:ingot:model:<model>`.
    pub san_uris: Vec<String>,
    /// UNIX seconds.
    pub not_before: i64,
    /// UNIX seconds.
    pub not_after: i64,
    pub role: Role,
}

/// Which library builds the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Rcgen,
    X509Cert,
}

impl Backend {
    /// rcgen where it can (Ed25519 / P-256 issuer *and* subject), x509-cert otherwise.
    pub fn for_schemes(issuer: Scheme, subject: Scheme) -> Backend {
        if issuer == Scheme::Sm2 || subject == Scheme::Sm2 {
            Backend::X509Cert
        } else {
            Backend::Rcgen
        }
    }
}

/// Create a self-signed organisation CA certificate (PEM). `spec.role` must be [`Role::Ca`].
pub fn issue_ca(ca_key: &PrivateKey, spec: &CertSpec) -> Result<String> {
    let backend = Backend::for_schemes(ca_key.scheme(), ca_key.scheme());
    issue_ca_with(backend, ca_key, spec)
}

pub fn issue_ca_with(backend: Backend, ca_key: &PrivateKey, spec: &CertSpec) -> Result<String> {
    issue_ca_with_serial(backend, ca_key, spec, random_serial()?)
}

/// [`issue_ca_with`] with the serial number given instead of drawn: for
/// reproducible test fixtures and simulations, whose certificates must be the
/// same bytes in every process. Real issuance uses random serials (RFC 5280
/// §4.1.2.2, and unpredictable ones resist chosen-prefix collisions). The
/// serial is made positive and 16 bytes long like a drawn one.
pub fn issue_ca_with_serial(
    backend: Backend,
    ca_key: &PrivateKey,
    spec: &CertSpec,
    serial: [u8; 16],
) -> Result<String> {
    let serial = positive_serial(serial);
    if spec.role != Role::Ca {
        return Err(PkiError::Issue("issue_ca needs Role::Ca".into()));
    }
    match backend {
        Backend::Rcgen => rcgen_backend::self_signed(ca_key, spec, serial),
        Backend::X509Cert => {
            x509_cert_backend::build(ca_key, None, &ca_key.public_key(), spec, serial)
        }
    }
}

/// Issue an end-entity certificate for `subject_key` (only the public key is needed, of any
/// scheme) signed by the CA (`ca_key` must match the public key of `ca_cert_pem`).
pub fn issue_end_entity(
    ca_key: &PrivateKey,
    ca_cert_pem: &str,
    subject_key: &PublicKey,
    spec: &CertSpec,
) -> Result<String> {
    let backend = Backend::for_schemes(ca_key.scheme(), subject_key.scheme());
    issue_end_entity_with(backend, ca_key, ca_cert_pem, subject_key, spec)
}

pub fn issue_end_entity_with(
    backend: Backend,
    ca_key: &PrivateKey,
    ca_cert_pem: &str,
    subject_key: &PublicKey,
    spec: &CertSpec,
) -> Result<String> {
    issue_end_entity_with_serial(
        backend,
        ca_key,
        ca_cert_pem,
        subject_key,
        spec,
        random_serial()?,
    )
}

/// [`issue_end_entity_with`] with the serial number given instead of drawn
/// (see [`issue_ca_with_serial`]).
pub fn issue_end_entity_with_serial(
    backend: Backend,
    ca_key: &PrivateKey,
    ca_cert_pem: &str,
    subject_key: &PublicKey,
    spec: &CertSpec,
    serial: [u8; 16],
) -> Result<String> {
    let serial = positive_serial(serial);
    if spec.role == Role::Ca {
        return Err(PkiError::Issue("end-entity role expected".into()));
    }
    let ca = CertInfo::from_pem(ca_cert_pem)?;
    if !ca.is_ca {
        return Err(PkiError::NotACa);
    }
    if ca.spki_der != ca_key.public_key().to_spki_der()? {
        return Err(PkiError::Issue(
            "CA key does not match CA certificate".into(),
        ));
    }
    match backend {
        Backend::Rcgen => rcgen_backend::signed_by(ca_key, &ca, subject_key, spec, serial),
        Backend::X509Cert => x509_cert_backend::build(ca_key, Some(&ca), subject_key, spec, serial),
    }
}

/// Key identifier: SHA-256 over the SPKI DER, truncated to 160 bits (RFC 7093 style).
pub fn key_id(spki_der: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(spki_der)[..20].to_vec()
}

/// Random positive 128-bit serial number.
fn random_serial() -> Result<[u8; 16]> {
    let mut s = [0u8; 16];
    getrandom::fill(&mut s).map_err(|e| PkiError::Issue(e.to_string()))?;
    Ok(positive_serial(s))
}

/// Top bit clear (positive), second bit set (so always 16 bytes in DER).
fn positive_serial(mut s: [u8; 16]) -> [u8; 16] {
    s[0] = (s[0] & 0x7f) | 0x40;
    s
}

fn issue_err(e: impl std::fmt::Display) -> PkiError {
    PkiError::Issue(e.to_string())
}

mod rcgen_backend {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer,
        KeyIdMethod, KeyUsagePurpose, PublicKeyData, SanType, SignatureAlgorithm, SigningKey,
    };

    fn algorithm(scheme: Scheme) -> Result<&'static SignatureAlgorithm> {
        match scheme {
            Scheme::Ed25519 => Ok(&rcgen::PKCS_ED25519),
            Scheme::P256 => Ok(&rcgen::PKCS_ECDSA_P256_SHA256),
            Scheme::Sm2 => Err(PkiError::UnsupportedAlgorithm(
                "rcgen cannot sign with or certify SM2 keys; use Backend::X509Cert".into(),
            )),
        }
    }

    /// A public key as rcgen sees it: raw BIT STRING content + algorithm
    /// (rcgen writes the SPKI AlgorithmIdentifier from the algorithm).
    struct RcgenPublicKey {
        raw: Vec<u8>,
        alg: &'static SignatureAlgorithm,
    }

    impl RcgenPublicKey {
        fn new(key: &PublicKey) -> Result<Self> {
            Ok(Self {
                raw: key.raw_bytes()?,
                alg: algorithm(key.scheme())?,
            })
        }
    }

    impl PublicKeyData for RcgenPublicKey {
        fn der_bytes(&self) -> &[u8] {
            &self.raw
        }
        fn algorithm(&self) -> &'static SignatureAlgorithm {
            self.alg
        }
    }

    /// Our private key as an rcgen signer (replaces rcgen's ring-backed `KeyPair`).
    struct RcgenSigner<'a> {
        key: &'a PrivateKey,
        public: RcgenPublicKey,
    }

    impl<'a> RcgenSigner<'a> {
        fn new(key: &'a PrivateKey) -> Result<Self> {
            Ok(Self {
                key,
                public: RcgenPublicKey::new(&key.public_key())?,
            })
        }
    }

    impl PublicKeyData for RcgenSigner<'_> {
        fn der_bytes(&self) -> &[u8] {
            self.public.der_bytes()
        }
        fn algorithm(&self) -> &'static SignatureAlgorithm {
            self.public.alg
        }
    }

    impl SigningKey for RcgenSigner<'_> {
        /// rcgen puts the returned bytes into the signature BIT STRING as is:
        /// Ed25519 raw 64 bytes, ECDSA DER — exactly what `PrivateKey::sign` returns.
        fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
            self.key.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)
        }
    }

    fn params(
        spec: &CertSpec,
        subject_spki_der: &[u8],
        serial: [u8; 16],
    ) -> Result<CertificateParams> {
        let mut p = CertificateParams::default();
        p.not_before =
            time::OffsetDateTime::from_unix_timestamp(spec.not_before).map_err(issue_err)?;
        p.not_after =
            time::OffsetDateTime::from_unix_timestamp(spec.not_after).map_err(issue_err)?;
        // Without the `crypto` feature rcgen cannot derive a serial: it is mandatory.
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));

        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, spec.organization.as_str());
        if let Some(ou) = spec.role.ou() {
            dn.push(DnType::OrganizationalUnitName, ou);
        }
        dn.push(DnType::CommonName, spec.common_name.as_str());
        p.distinguished_name = dn;

        p.subject_alt_names = spec
            .san_uris
            .iter()
            .map(|uri| Ok(SanType::URI(uri.as_str().try_into().map_err(issue_err)?)))
            .collect::<std::result::Result<_, PkiError>>()?;
        match spec.role {
            Role::Ca => {
                p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
                p.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
            }
            Role::Member | Role::Admin | Role::Validator | Role::Device => {
                // ExplicitNoCa => basicConstraints cA=FALSE (+ SKI); NoCa would omit both.
                p.is_ca = IsCa::ExplicitNoCa;
                p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            }
        }
        // Without `crypto` the default is PreSpecified(empty) => empty SKI. Set it explicitly.
        p.key_identifier_method = KeyIdMethod::PreSpecified(key_id(subject_spki_der));
        p.use_authority_key_identifier_extension = true;
        Ok(p)
    }

    pub(super) fn self_signed(
        ca_key: &PrivateKey,
        spec: &CertSpec,
        serial: [u8; 16],
    ) -> Result<String> {
        let signer = RcgenSigner::new(ca_key)?;
        let p = params(spec, &ca_key.public_key().to_spki_der()?, serial)?;
        let cert = p.self_signed(&signer).map_err(issue_err)?;
        Ok(cert.pem())
    }

    /// rcgen's `Issuer::from_ca_cert_pem` needs rcgen feature `x509-parser`, which does not
    /// compile without `ring`/`aws_lc_rs` (rcgen 0.14.10 CSR code calls x509-parser's
    /// `verify_signature`). So the issuer parameters are rebuilt here from the CA certificate:
    /// subject DN with the original string types (so issuer == CA subject byte for byte),
    /// SKI (becomes our AKI) and key usages.
    fn issuer_params(ca: &CertInfo) -> Result<CertificateParams> {
        use x509_parser::der_parser::asn1_rs::Tag;
        use x509_parser::prelude::FromDer as _;
        let (_, name) =
            x509_parser::x509::X509Name::from_der(&ca.subject_der).map_err(issue_err)?;
        let mut dn = DistinguishedName::new();
        for rdn in name.iter_rdn() {
            let mut atvs = rdn.iter();
            let (Some(atv), None) = (atvs.next(), atvs.next()) else {
                return Err(PkiError::Issue("multi-valued RDN in CA subject".into()));
            };
            let oid: Vec<u64> = atv
                .attr_type()
                .iter()
                .ok_or_else(|| PkiError::Issue("bad attribute OID".into()))?
                .collect();
            let any = atv.attr_value();
            let text = std::str::from_utf8(any.data).map_err(issue_err)?;
            let value = match any.header.tag() {
                Tag::Utf8String => DnValue::Utf8String(text.to_owned()),
                Tag::PrintableString => {
                    DnValue::PrintableString(text.try_into().map_err(issue_err)?)
                }
                Tag::Ia5String => DnValue::Ia5String(text.try_into().map_err(issue_err)?),
                t => return Err(PkiError::Issue(format!("unsupported DN string type {t:?}"))),
            };
            dn.push(DnType::from_oid(&oid), value);
        }
        let mut p = CertificateParams::default();
        p.distinguished_name = dn;
        p.key_identifier_method = KeyIdMethod::PreSpecified(
            ca.subject_key_id
                .clone()
                .unwrap_or_else(|| key_id(&ca.spki_der)),
        );
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(p)
    }

    pub(super) fn signed_by(
        ca_key: &PrivateKey,
        ca: &CertInfo,
        subject_key: &PublicKey,
        spec: &CertSpec,
        serial: [u8; 16],
    ) -> Result<String> {
        let issuer = Issuer::new(issuer_params(ca)?, RcgenSigner::new(ca_key)?);
        let subject = RcgenPublicKey::new(subject_key)?;
        let p = params(spec, &subject_key.to_spki_der()?, serial)?;
        let cert = p.signed_by(&subject, &issuer).map_err(issue_err)?;
        Ok(cert.pem())
    }
}

mod x509_cert_backend {
    use super::*;
    use sm2::dsa::signature::Keypair; // = signature 3.0's trait (sm2 re-exports the crate)
    use std::time::{Duration, SystemTime};
    use x509_cert::builder::{profile::BuilderProfile, Builder, CertificateBuilder};
    use x509_cert::certificate::TbsCertificate;
    use x509_cert::der::asn1::{Any, BitString, Ia5String, OctetString, Utf8StringRef};
    use x509_cert::der::pem::LineEnding;
    use x509_cert::der::{Decode, Encode, EncodePem};
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{
        AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectAltName,
        SubjectKeyIdentifier,
    };
    use x509_cert::ext::{Extension, ToExtension};
    use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{
        DynSignatureAlgorithmIdentifier, EncodePublicKey, SubjectPublicKeyInfoOwned,
        SubjectPublicKeyInfoRef,
    };
    use x509_cert::time::{Time, Validity};

    /// Subject `O=.., [OU=..,] CN=..` as UTF8Strings, built without RFC 4514 string parsing
    /// (no escaping pitfalls). `Name` has no public constructor from `RdnSequence` without the
    /// `hazmat` feature, hence the DER round trip.
    fn subject_name(spec: &CertSpec) -> Result<Name> {
        use x509_cert::attr::AttributeTypeAndValue;
        use x509_cert::der::oid::db::rfc4519;
        let mut attrs = vec![(rfc4519::ORGANIZATION_NAME, spec.organization.as_str())];
        if let Some(ou) = spec.role.ou() {
            attrs.push((rfc4519::ORGANIZATIONAL_UNIT_NAME, ou));
        }
        attrs.push((rfc4519::COMMON_NAME, spec.common_name.as_str()));
        let mut seq = RdnSequence::default();
        for (oid, value) in attrs {
            let value = Any::encode_from(&Utf8StringRef::new(value).map_err(issue_err)?)
                .map_err(issue_err)?;
            let mut rdn = RelativeDistinguishedName::default();
            rdn.insert(AttributeTypeAndValue { oid, value })
                .map_err(issue_err)?;
            seq.push(rdn);
        }
        Name::from_der(&seq.to_der().map_err(issue_err)?).map_err(issue_err)
    }

    fn time(unix: i64) -> Result<Time> {
        let secs = u64::try_from(unix).map_err(issue_err)?;
        Time::try_from(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).map_err(issue_err)
    }

    /// Our certificate profile for `CertificateBuilder`.
    struct IngotProfile {
        subject: Name,
        /// `None` => self-signed.
        issuer: Option<Name>,
        /// Issuer's SKI; `None` => derived from the signer's SPKI.
        authority_key_id: Option<Vec<u8>>,
        role: Role,
        san_uris: Vec<String>,
    }

    impl BuilderProfile for IngotProfile {
        fn get_issuer(&self, subject: &Name) -> Name {
            self.issuer.clone().unwrap_or_else(|| subject.clone())
        }

        fn get_subject(&self) -> Name {
            self.subject.clone()
        }

        fn build_extensions(
            &self,
            spk: SubjectPublicKeyInfoRef<'_>,
            issuer_spk: SubjectPublicKeyInfoRef<'_>,
            tbs: &TbsCertificate,
        ) -> x509_cert::builder::Result<Vec<Extension>> {
            let subject = tbs.subject();
            let mut exts: Vec<Extension> = Vec::new();

            let ski = SubjectKeyIdentifier(OctetString::new(key_id(&spk.to_der()?))?);
            exts.push(ski.to_extension(subject, &exts)?);

            let aki = match &self.authority_key_id {
                Some(id) => id.clone(),
                None => key_id(&issuer_spk.to_der()?),
            };
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(aki)?),
                ..Default::default()
            };
            exts.push(aki.to_extension(subject, &exts)?);

            let (bc, ku) = match self.role {
                Role::Ca => (
                    BasicConstraints {
                        ca: true,
                        path_len_constraint: Some(0),
                    },
                    KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature,
                ),
                Role::Member | Role::Admin | Role::Validator | Role::Device => (
                    BasicConstraints {
                        ca: false,
                        path_len_constraint: None,
                    },
                    KeyUsages::DigitalSignature.into(),
                ),
            };
            exts.push(bc.to_extension(subject, &exts)?);
            exts.push(KeyUsage(ku).to_extension(subject, &exts)?);

            if !self.san_uris.is_empty() {
                let names = self
                    .san_uris
                    .iter()
                    .map(|uri| Ok(GeneralName::UniformResourceIdentifier(Ia5String::new(uri)?)))
                    .collect::<std::result::Result<Vec<_>, x509_cert::der::Error>>()?;
                exts.push(SubjectAltName(names).to_extension(subject, &exts)?);
            }
            Ok(exts)
        }
    }

    /// Build the TBS, sign it with `PrivateKey::sign` (DER for ECDSA/SM2), assemble.
    ///
    /// `Builder::build::<_, Sig>` would need `S: Signer<Sig>` with a DER signature type; sm2 0.14's
    /// `SigningKey` only implements `Signer<sm2::dsa::Signature>`, whose BIT STRING encoding is raw
    /// r||s (OpenSSL rejects it). `finalize` + `assemble` sidesteps that for every scheme.
    fn build_signed<S>(
        mut b: CertificateBuilder<IngotProfile>,
        signer: &S,
        key: &PrivateKey,
    ) -> Result<x509_cert::Certificate>
    where
        S: Keypair + DynSignatureAlgorithmIdentifier,
        S::VerifyingKey: EncodePublicKey,
    {
        let tbs_der = b.finalize(signer).map_err(issue_err)?;
        let sig = key.sign(&tbs_der)?;
        let sig = BitString::from_bytes(&sig).map_err(issue_err)?;
        b.assemble(sig, signer).map_err(issue_err)
    }

    pub(super) fn build(
        signing_key: &PrivateKey,
        ca: Option<&CertInfo>,
        subject_key: &PublicKey,
        spec: &CertSpec,
        serial: [u8; 16],
    ) -> Result<String> {
        let issuer = match ca {
            // Issuer name = the CA certificate's subject, byte for byte.
            Some(ca) => Some(Name::from_der(&ca.subject_der).map_err(issue_err)?),
            None => None,
        };
        let profile = IngotProfile {
            subject: subject_name(spec)?,
            issuer,
            authority_key_id: ca.and_then(|c| c.subject_key_id.clone()),
            role: spec.role,
            san_uris: spec.san_uris.clone(),
        };
        let serial = SerialNumber::new(&serial).map_err(issue_err)?;
        let validity = Validity::new(time(spec.not_before)?, time(spec.not_after)?);
        let spki =
            SubjectPublicKeyInfoOwned::from_der(&subject_key.to_spki_der()?).map_err(issue_err)?;
        let builder =
            CertificateBuilder::new(profile, serial, validity, spki).map_err(issue_err)?;

        // The signer value is only used for its public key and AlgorithmIdentifier.
        let cert = match signing_key {
            PrivateKey::Ed25519(k) => build_signed(builder, k, signing_key)?,
            PrivateKey::P256(k) => build_signed(builder, k, signing_key)?,
            PrivateKey::Sm2 { signer, .. } => build_signed(builder, signer, signing_key)?,
        };
        cert.to_pem(LineEnding::LF).map_err(issue_err)
    }
}
