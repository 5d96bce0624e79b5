//! Prototype PKI module for Ingot.
//!
//! * [`keys`]   – key generation, PKCS#8 PEM import/export, signing and verification for
//!   Ed25519, ECDSA P-256 (SHA-256) and SM2 (SM3, distinguishing ID `1234567812345678`).
//! * [`issue`]  – organisation CA (self-signed) and end-entity (member / validator) certificates.
//!   Ed25519 / P-256 issuers use `rcgen`, SM2 issuers use `x509-cert`'s builder
//!   (the x509-cert backend also works for the other two schemes).
//! * [`verify`] – parse a PEM certificate with `x509-parser`, extract the fields Ingot needs and
//!   verify a certificate against its CA for all three signature algorithms.

pub mod batch;
pub mod issue;
pub mod keys;
pub mod trust;
pub mod verify;

pub use issue::{
    device_uri, issue_ca, issue_ca_with_serial, issue_end_entity, issue_end_entity_with_serial,
    model_uri, Backend, CertSpec, Role,
};
pub use keys::{PrivateKey, PublicKey, Scheme};
pub use trust::{
    cert_hash, check_ca, device_identity, member_id, DeviceIdentity, Identity, TrustError,
    TrustStore,
};
pub use verify::{verify_chain, CertInfo};

/// Default SM2 distinguishing identifier (GM/T 0009-2012, also OpenSSL's default).
pub const SM2_DEFAULT_DISTID: &str = "1234567812345678";

/// Object identifiers used by this module (dotted form, as printed by `Oid::to_id_string`).
pub mod oid {
    /// id-Ed25519 (RFC 8410): key algorithm *and* signature algorithm.
    pub const ED25519: &str = "1.3.101.112";
    /// id-ecPublicKey (RFC 5480): key algorithm for both P-256 and SM2 keys.
    pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    /// prime256v1 / secp256r1 named curve.
    pub const CURVE_P256: &str = "1.2.840.10045.3.1.7";
    /// SM2 named curve (sm2p256v1), GB/T 33560.
    pub const CURVE_SM2: &str = "1.2.156.10197.1.301";
    /// ecdsa-with-SHA256 (RFC 5758).
    pub const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
    /// SM2-with-SM3 signature algorithm.
    pub const SM2_WITH_SM3: &str = "1.2.156.10197.1.501";
}

/// Errors of the PKI module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkiError {
    /// Key could not be generated / decoded / encoded.
    Key(String),
    /// Certificate could not be built.
    Issue(String),
    /// Certificate could not be parsed.
    Parse(String),
    /// Signature algorithm / key algorithm not supported (or not matching each other).
    UnsupportedAlgorithm(String),
    /// Cryptographic signature check failed.
    BadSignature,
    /// The certificate's issuer name is not the CA's subject name.
    IssuerMismatch,
    /// The would-be issuer is not a CA (basicConstraints cA=FALSE or keyUsage without keyCertSign).
    NotACa,
    /// `now` is after notAfter.
    Expired { not_after: i64, now: i64 },
    /// `now` is before notBefore.
    NotYetValid { not_before: i64, now: i64 },
}

impl std::fmt::Display for PkiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PkiError::Key(e) => write!(f, "key error: {e}"),
            PkiError::Issue(e) => write!(f, "certificate issuing error: {e}"),
            PkiError::Parse(e) => write!(f, "certificate parse error: {e}"),
            PkiError::UnsupportedAlgorithm(a) => write!(f, "unsupported algorithm: {a}"),
            PkiError::BadSignature => write!(f, "signature verification failed"),
            PkiError::IssuerMismatch => write!(f, "issuer name does not match CA subject"),
            PkiError::NotACa => write!(f, "issuer certificate is not a CA"),
            PkiError::Expired { not_after, now } => {
                write!(f, "certificate expired (notAfter {not_after} < now {now})")
            }
            PkiError::NotYetValid { not_before, now } => {
                write!(
                    f,
                    "certificate not yet valid (notBefore {not_before} > now {now})"
                )
            }
        }
    }
}

impl std::error::Error for PkiError {}

pub type Result<T> = std::result::Result<T, PkiError>;

/// Current time as UNIX seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs() as i64
}
