//! Parsing certificates with `x509-parser` and verifying them against a CA certificate.
//!
//! x509-parser's own `verify_signature` needs its `verify` feature (=> ring) and cannot do SM2 at
//! all, so signatures are checked here with the RustCrypto crates: the raw TBSCertificate bytes
//! (`tbs_certificate.as_ref()`) and the signature BIT STRING go to [`PublicKey::verify`].

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;

use crate::keys::{PublicKey, Scheme};
use crate::{oid, PkiError, Result};

fn parse_err(e: impl std::fmt::Display) -> PkiError {
    PkiError::Parse(e.to_string())
}

/// Owned view of a certificate: the fields Ingot needs plus what verification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Full certificate DER.
    pub der: Vec<u8>,
    pub serial_hex: String,
    pub subject_cn: Option<String>,
    pub subject_o: Option<String>,
    pub subject_ou: Option<String>,
    pub issuer_cn: Option<String>,
    pub san_uris: Vec<String>,
    /// UNIX seconds.
    pub not_before: i64,
    /// UNIX seconds.
    pub not_after: i64,
    /// basicConstraints cA (false if the extension is absent).
    pub is_ca: bool,
    pub path_len: Option<u32>,
    /// keyUsage present and keyCertSign set / `None` if keyUsage absent.
    pub key_cert_sign: Option<bool>,
    pub digital_signature: Option<bool>,
    pub subject_key_id: Option<Vec<u8>>,
    pub authority_key_id: Option<Vec<u8>>,
    /// SubjectPublicKeyInfo: AlgorithmIdentifier OID, its OID parameter (the curve for EC keys),
    /// the BIT STRING content (key bytes) and the whole SPKI DER.
    pub spki_algorithm_oid: String,
    pub spki_parameter_oid: Option<String>,
    pub public_key_bytes: Vec<u8>,
    pub spki_der: Vec<u8>,
    /// Outer signatureAlgorithm OID.
    pub signature_algorithm_oid: String,
    /// Outer signatureAlgorithm == TBSCertificate.signature (RFC 5280 4.1.1.2).
    signature_algorithms_match: bool,
    /// Raw DER of the TBSCertificate (the signed bytes).
    pub tbs_der: Vec<u8>,
    /// signatureValue BIT STRING content.
    pub signature: Vec<u8>,
    /// Raw DER of the issuer / subject Name.
    pub issuer_der: Vec<u8>,
    pub subject_der: Vec<u8>,
}

impl CertInfo {
    /// Parse one PEM "CERTIFICATE" block.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let (_rest, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).map_err(parse_err)?;
        if pem.label != "CERTIFICATE" {
            return Err(PkiError::Parse(format!(
                "expected CERTIFICATE PEM, got {}",
                pem.label
            )));
        }
        Self::from_der(&pem.contents)
    }

    /// Exactly one PEM certificate, as a client sends it in a call's JSON
    /// (text before it, as `openssl x509 -text` prints, is allowed; a second
    /// block or anything after the end is refused rather than ignored). The
    /// error says what was expected, for the client's user.
    pub fn from_one_pem(text: &str) -> std::result::Result<Self, String> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let blocks = text.matches("-----BEGIN ").count();
        if blocks != 1 || !text.contains(BEGIN) {
            return Err(format!(
                "expected one PEM certificate ({BEGIN} ... {END}), found {blocks} PEM blocks"
            ));
        }
        if !text
            .split_once(END)
            .is_some_and(|(_, after)| after.trim().is_empty())
        {
            return Err(format!("nothing may follow {END}"));
        }
        Self::from_pem(text).map_err(|e| format!("not a readable X.509 certificate: {e}"))
    }

    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(parse_err)?;
        if !rest.is_empty() {
            return Err(PkiError::Parse("trailing data after certificate".into()));
        }
        Self::from_x509(&cert)
    }

    fn from_x509(cert: &X509Certificate<'_>) -> Result<Self> {
        let first = |mut it: Box<
            dyn Iterator<Item = &x509_parser::x509::AttributeTypeAndValue<'_>> + '_,
        >| { it.next().and_then(|a| a.as_str().ok()).map(str::to_owned) };
        let subject = cert.subject();

        let mut san_uris = Vec::new();
        if let Some(san) = cert.subject_alternative_name().map_err(parse_err)? {
            for name in &san.value.general_names {
                if let GeneralName::URI(uri) = name {
                    san_uris.push((*uri).to_owned());
                }
            }
        }
        let bc = cert.basic_constraints().map_err(parse_err)?;
        let ku = cert.key_usage().map_err(parse_err)?;

        let mut subject_key_id = None;
        let mut authority_key_id = None;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(kid) => subject_key_id = Some(kid.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    authority_key_id = aki.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => {}
            }
        }

        let spki = cert.public_key();
        Ok(CertInfo {
            der: cert.as_raw().to_vec(),
            serial_hex: cert.raw_serial_as_string(),
            subject_cn: first(Box::new(subject.iter_common_name())),
            subject_o: first(Box::new(subject.iter_organization())),
            subject_ou: first(Box::new(subject.iter_organizational_unit())),
            issuer_cn: first(Box::new(cert.issuer().iter_common_name())),
            san_uris,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca: bc.as_ref().is_some_and(|b| b.value.ca),
            path_len: bc.as_ref().and_then(|b| b.value.path_len_constraint),
            key_cert_sign: ku.as_ref().map(|k| k.value.key_cert_sign()),
            digital_signature: ku.as_ref().map(|k| k.value.digital_signature()),
            subject_key_id,
            authority_key_id,
            spki_algorithm_oid: spki.algorithm.algorithm.to_id_string(),
            spki_parameter_oid: spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string()),
            public_key_bytes: spki.subject_public_key.data.to_vec(),
            spki_der: spki.raw.to_vec(),
            signature_algorithm_oid: cert.signature_algorithm.algorithm.to_id_string(),
            signature_algorithms_match: cert.signature_algorithm == cert.tbs_certificate.signature,
            tbs_der: cert.tbs_certificate.as_ref().to_vec(),
            signature: cert.signature_value.data.to_vec(),
            issuer_der: cert.issuer().as_raw().to_vec(),
            subject_der: subject.as_raw().to_vec(),
        })
    }

    /// The subject public key as a usable key (Ed25519 / P-256 / SM2).
    pub fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_spki_der(&self.spki_der)
    }

    /// Scheme of the signature on this certificate.
    pub fn signature_scheme(&self) -> Result<Scheme> {
        match self.signature_algorithm_oid.as_str() {
            oid::ED25519 => Ok(Scheme::Ed25519),
            oid::ECDSA_WITH_SHA256 => Ok(Scheme::P256),
            oid::SM2_WITH_SM3 => Ok(Scheme::Sm2),
            other => Err(PkiError::UnsupportedAlgorithm(format!(
                "signature algorithm {other}"
            ))),
        }
    }

    /// Is `now` (UNIX seconds) within [notBefore, notAfter]?
    pub fn check_validity_at(&self, now: i64) -> Result<()> {
        if now < self.not_before {
            return Err(PkiError::NotYetValid {
                not_before: self.not_before,
                now,
            });
        }
        if now > self.not_after {
            return Err(PkiError::Expired {
                not_after: self.not_after,
                now,
            });
        }
        Ok(())
    }

    /// Check the signature on this certificate with `issuer_key`.
    pub fn verify_signature(&self, issuer_key: &PublicKey) -> Result<()> {
        if !self.signature_algorithms_match {
            return Err(PkiError::UnsupportedAlgorithm(
                "signatureAlgorithm differs from tbsCertificate.signature".into(),
            ));
        }
        let scheme = self.signature_scheme()?;
        if scheme != issuer_key.scheme() {
            return Err(PkiError::UnsupportedAlgorithm(format!(
                "certificate signed with {scheme:?} but issuer key is {:?}",
                issuer_key.scheme()
            )));
        }
        issuer_key.verify(&self.tbs_der, &self.signature)
    }

    /// Check that `ca` issued this certificate: CA has basicConstraints cA=TRUE and (if keyUsage
    /// present) keyCertSign, issuer name == CA subject (byte-exact DER), and the signature
    /// verifies with the CA's public key. Validity is *not* checked here.
    pub fn verify_signed_by(&self, ca: &CertInfo) -> Result<()> {
        if !ca.is_ca || ca.key_cert_sign == Some(false) {
            return Err(PkiError::NotACa);
        }
        if self.issuer_der != ca.subject_der {
            return Err(PkiError::IssuerMismatch);
        }
        self.verify_signature(&ca.public_key()?)
    }
}

/// Full check of a two-level chain (org CA -> end entity) at time `now` (UNIX seconds):
/// CA self-signature, CA validity, certificate signature by the CA, certificate validity.
/// Returns the parsed end-entity certificate.
pub fn verify_chain(cert_pem: &str, ca_pem: &str, now: i64) -> Result<CertInfo> {
    let ca = CertInfo::from_pem(ca_pem)?;
    ca.verify_signed_by(&ca)?;
    ca.check_validity_at(now)?;
    let cert = CertInfo::from_pem(cert_pem)?;
    cert.verify_signed_by(&ca)?;
    cert.check_validity_at(now)?;
    Ok(cert)
}
