//! The full check of a genesis: structure, every organisation's CA, every
//! validator's certificate. Dates are reported, not enforced: a node must keep
//! starting on a chain whose genesis certificates have since expired (its
//! history stays valid), so expiry is a warning for operators, raised
//! [`EXPIRY_WARNING_DAYS`] ahead.

use crate::ConsortiumError;
use ingot_crypto::{CertInfo, Scheme, TrustStore};
use ingot_types::{genesis::OrgKind, Digest, Genesis};
use std::collections::BTreeSet;

/// How many days before a certificate's notAfter operators are warned.
pub const EXPIRY_WARNING_DAYS: i64 = 30;

const SECONDS_PER_DAY: i64 = 86_400;

/// One certificate of the consortium as the check saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertSummary {
    /// What it certifies: `CA of <org>` or `validator <name> of <org>`.
    pub subject: String,
    pub org: String,
    /// The certified key's scheme: `ed25519`, `p256` or `sm2`.
    pub scheme: &'static str,
    /// UNIX seconds.
    pub not_before: i64,
    pub not_after: i64,
}

impl CertSummary {
    /// The summary of `cert`, which certifies `subject` of `org`.
    pub fn of(subject: String, org: &str, cert: &CertInfo) -> Self {
        Self {
            subject,
            org: org.to_string(),
            scheme: cert
                .public_key()
                .map_or("unknown", |k| scheme_name(k.scheme())),
            not_before: cert.not_before,
            not_after: cert.not_after,
        }
    }
}

/// What a genesis that passed [`check_genesis`] contains.
#[derive(Clone, Debug)]
pub struct GenesisReport {
    pub chain_id: Digest,
    pub organisations: Vec<(String, OrgKind)>,
    pub certificates: Vec<CertSummary>,
}

impl GenesisReport {
    /// Certificates whose notAfter is at or before `now + within_days`.
    pub fn expiring(&self, now: i64, within_days: i64) -> Vec<&CertSummary> {
        expiring_within(&self.certificates, now, within_days)
    }
}

/// The certificates whose notAfter is at or before `now + within_days`.
pub fn expiring_within(
    certificates: &[CertSummary],
    now: i64,
    within_days: i64,
) -> Vec<&CertSummary> {
    let horizon = now.saturating_add(within_days.saturating_mul(SECONDS_PER_DAY));
    certificates
        .iter()
        .filter(|c| c.not_after <= horizon)
        .collect()
}

/// OpenSSL 3 signs SM2 certificates with an empty distinguishing ID unless
/// told otherwise; GM/T 0009 and Ingot use 1234567812345678.
fn sm2_hint(issuer: &CertInfo) -> &'static str {
    match issuer.public_key().map(|k| k.scheme()) {
        Ok(Scheme::Sm2) => " (SM2 certificates must be signed with the distinguishing ID 1234567812345678; with OpenSSL 3 add `-sigopt distid:1234567812345678`)",
        _ => "",
    }
}

fn scheme_name(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Ed25519 => "ed25519",
        Scheme::P256 => "p256",
        Scheme::Sm2 => "sm2",
    }
}

pub(crate) fn check_ca(name: &str, pem: &str) -> Result<CertInfo, ConsortiumError> {
    let bad = |reason: String| ConsortiumError::BadCa {
        org: name.to_string(),
        reason,
    };
    let ca = CertInfo::from_pem(pem).map_err(|e| bad(e.to_string()))?;
    if !ca.is_ca {
        return Err(bad("basicConstraints cA is not TRUE".into()));
    }
    ca.verify_signed_by(&ca)
        .map_err(|e| bad(format!("not self-signed: {e}{}", sm2_hint(&ca))))?;
    if ca.subject_o.as_deref() != Some(name) {
        return Err(bad(format!(
            "its subject O is {:?}; the organisation's name must equal it",
            ca.subject_o
        )));
    }
    Ok(ca)
}

/// Check everything about `genesis` that needs no clock: its structure, that
/// each organisation's CA is a self-signed CA whose subject O is the
/// organisation's name, and that each validator's certificate was issued by
/// its organisation's CA with role `validator` for exactly the listed Ed25519
/// consensus key. Returns the chain id and every certificate's dates.
pub fn check_genesis(genesis: &Genesis) -> Result<GenesisReport, ConsortiumError> {
    genesis.validate()?;
    let mut certificates = Vec::new();
    for org in &genesis.organisations {
        let ca = check_ca(&org.name, &org.ca_cert_pem)?;
        certificates.push(CertSummary {
            subject: format!("CA of {}", org.name),
            org: org.name.clone(),
            scheme: scheme_name(
                ca.public_key()
                    .map_err(|e| ConsortiumError::BadCa {
                        org: org.name.clone(),
                        reason: e.to_string(),
                    })?
                    .scheme(),
            ),
            not_before: ca.not_before,
            not_after: ca.not_after,
        });
    }
    let trust = TrustStore::new(
        genesis
            .organisations
            .iter()
            .map(|o| (o.name.as_str(), o.ca_cert_pem.as_str())),
    )
    .map_err(|e| ConsortiumError::BadCa {
        org: "?".into(),
        reason: e.to_string(),
    })?;
    let mut names = BTreeSet::new();
    for v in &genesis.validators {
        if !names.insert(v.name.as_str()) {
            return Err(ConsortiumError::DuplicateValidatorName(v.name.clone()));
        }
        let not_certified = |reason: String| ConsortiumError::ValidatorNotCertified {
            validator: v.name.clone(),
            org: v.org.clone(),
            reason,
        };
        let cert = CertInfo::from_pem(&v.cert_pem).map_err(|e| not_certified(e.to_string()))?;
        // The trust store's refusal already carries the SM2 hint.
        let id = trust
            .identify(&cert.der)
            .map_err(|e| not_certified(e.to_string()))?;
        if id.org != v.org {
            return Err(not_certified(format!(
                "it was issued to organisation {}",
                id.org
            )));
        }
        if id.role != "validator" {
            return Err(ConsortiumError::ValidatorRole {
                validator: v.name.clone(),
                role: id.role.clone(),
            });
        }
        let listed = hex::decode(&v.public_key).unwrap_or_default();
        let certified = id.public_key.raw_bytes().unwrap_or_default();
        if id.public_key.scheme() != Scheme::Ed25519 || listed != certified {
            return Err(ConsortiumError::ValidatorKeyMismatch {
                validator: v.name.clone(),
            });
        }
        certificates.push(CertSummary {
            subject: format!("validator {} of {}", v.name, v.org),
            org: v.org.clone(),
            scheme: "ed25519",
            not_before: id.not_before,
            not_after: id.not_after,
        });
    }
    Ok(GenesisReport {
        chain_id: genesis.chain_id(),
        organisations: genesis
            .organisations
            .iter()
            .map(|o| (o.name.clone(), o.kind))
            .collect(),
        certificates,
    })
}
