//! The consortium's trust anchors: the CAs of each organisation (from
//! genesis, then as governance changes them: an organisation rotating its CA
//! keeps the old one trusted for a while, so it has two).
//!
//! [`TrustStore::identify`] turns a DER certificate into a verified
//! [`Identity`] (organisation, role, public key). Results are cached by the
//! certificate's hash because the same senders sign many transactions; the
//! cache is bounded and only holds certificates that verified.
//! Validity periods are *not* checked here: that depends on time, and the chain
//! checks it against block time during execution (never the wall clock).

use crate::{verify::CertInfo, PkiError, PublicKey};
use sha2::Digest as _;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

/// Most verified certificates kept in memory (two generations of half each).
const CACHE_LIMIT: usize = 100_000;

/// A verified certificate holder.
#[derive(Debug, Clone)]
pub struct Identity {
    /// SHA-256 of the certificate DER: names this one certificate (a
    /// device's binding, a consent, an audit record of who signed).
    pub cert_hash: [u8; 32],
    /// The holder's on-chain id ([`member_id`]: organisation and public
    /// key). A certificate renewed on the same key keeps it, so what the
    /// holder owns, was granted or started stays theirs without a vote.
    pub id: [u8; 32],
    pub org: String,
    /// Role from the certificate's OU (`member`, `admin`, `validator`, ...).
    pub role: String,
    pub common_name: String,
    pub public_key: PublicKey,
    /// Validity window, UNIX seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// For device certificates (OU=device): the device id `<org>:<serial>`
    /// and model from the `urn:ingot:device:` / `urn:ingot:model:` SAN URIs.
    pub device: Option<DeviceIdentity>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// `<org>:<serial>`: the organisation whose CA certified it, and its serial.
    pub id: String,
    pub model: String,
}

/// The device identity a certificate of `org` claims through its SAN URIs.
pub fn device_identity(org: &str, san_uris: &[String]) -> Result<DeviceIdentity, TrustError> {
    use crate::issue::{DEVICE_URI_PREFIX, MODEL_URI_PREFIX};
    let mut ids = san_uris
        .iter()
        .filter_map(|u| u.strip_prefix(DEVICE_URI_PREFIX));
    let id = match (ids.next(), ids.next()) {
        (Some(id), None) => id,
        _ => {
            return Err(TrustError::Device(
                "needs exactly one urn:ingot:device: URI".into(),
            ))
        }
    };
    let serial = match id.split_once(':') {
        Some((claimed, serial)) if claimed == org => serial,
        _ => {
            return Err(TrustError::Device(format!(
                "device id {id} is not of the issuing organisation {org}"
            )))
        }
    };
    if serial.is_empty() || serial.contains([':', '/']) || serial.len() > 128 {
        return Err(TrustError::Device(format!("bad device serial in {id}")));
    }
    let model = san_uris
        .iter()
        .find_map(|u| u.strip_prefix(MODEL_URI_PREFIX))
        .ok_or_else(|| TrustError::Device("no urn:ingot:model: URI".into()))?;
    Ok(DeviceIdentity {
        id: id.to_string(),
        model: model.to_string(),
    })
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TrustError {
    #[error("certificate does not parse: {0}")]
    Malformed(String),
    #[error("certificate names no organisation (O=)")]
    NoOrganisation,
    #[error("certificate's organisation {0} is not in genesis")]
    UnknownOrganisation(String),
    #[error("certificate is not signed by the CA of {0}: {1}")]
    NotIssuedByOrg(String, String),
    #[error("a CA certificate cannot sign transactions")]
    IsCa,
    #[error("certificate unsupported: {0}")]
    Unsupported(String),
    #[error("device certificate: {0}")]
    Device(String),
}

impl TrustError {
    /// A stable word for the kind of refusal, without any library text: what
    /// may be recorded in consensus (a receipt's failure detail).
    pub fn kind(&self) -> &'static str {
        match self {
            TrustError::Malformed(_) => "malformed",
            TrustError::NoOrganisation => "no_organisation",
            TrustError::UnknownOrganisation(_) => "unknown_organisation",
            TrustError::NotIssuedByOrg(..) => "not_issued_by_organisation_ca",
            TrustError::IsCa => "ca_certificate",
            TrustError::Unsupported(_) => "unsupported",
            TrustError::Device(_) => "bad_device_identity",
        }
    }
}

struct Anchor {
    /// The organisation's CAs, the current one first.
    cas: Vec<CertInfo>,
}

/// Trust anchors plus a cache of verified certificates.
pub struct TrustStore {
    anchors: HashMap<String, Anchor>,
    cache: Mutex<Cache>,
}

/// A two-generation cache: lookups hit the young generation, then the old
/// one (and are promoted); when the young one is full it becomes the old one.
/// So a burst of one-off certificates (a million device registrations) evicts
/// only what was not used during the last generation, never the busy senders.
#[derive(Default)]
struct Cache {
    young: HashMap<[u8; 32], Arc<Identity>>,
    old: HashMap<[u8; 32], Arc<Identity>>,
}

impl Cache {
    fn get(&mut self, hash: &[u8; 32]) -> Option<Arc<Identity>> {
        if let Some(id) = self.young.get(hash) {
            return Some(id.clone());
        }
        let id = self.old.remove(hash)?;
        self.insert(*hash, id.clone());
        Some(id)
    }

    fn insert(&mut self, hash: [u8; 32], id: Arc<Identity>) {
        if self.young.len() >= CACHE_LIMIT / 2 {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(hash, id);
    }
}

pub fn cert_hash(der: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(der).into()
}

/// Domain of [`member_id`] (consensus bytes: pinned by a golden test).
const MEMBER_ID_DOMAIN: &[u8] = b"ingot/member-id/v1";

/// The on-chain id of whoever holds `key` in organisation `org`:
/// SHA-256 of the domain, a scheme byte (1 Ed25519, 2 P-256, 3 SM2), the
/// organisation's name (u16 big-endian length, UTF-8) and the raw public key
/// (Ed25519: 32 bytes; P-256 / SM2: the uncompressed SEC1 point). Only
/// Ingot's own bytes enter it: no DER or text a library chose.
pub fn member_id(org: &str, key: &PublicKey) -> Result<[u8; 32], PkiError> {
    let scheme: u8 = match key.scheme() {
        crate::Scheme::Ed25519 => 1,
        crate::Scheme::P256 => 2,
        crate::Scheme::Sm2 => 3,
    };
    let org_len = u16::try_from(org.len())
        .map_err(|_| PkiError::Parse(format!("organisation name of {} bytes", org.len())))?;
    let mut h = sha2::Sha256::new();
    h.update(MEMBER_ID_DOMAIN);
    h.update([scheme]);
    h.update(org_len.to_be_bytes());
    h.update(org.as_bytes());
    h.update(key.raw_bytes()?);
    Ok(h.finalize().into())
}

impl TrustStore {
    /// Build from `(organisation name, CA PEM)` pairs. Each CA must be self-signed
    /// and its subject O must equal the organisation's name.
    pub fn new<'a>(orgs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, PkiError> {
        let mut parsed = Vec::new();
        for (name, pem) in orgs {
            parsed.push((name.to_string(), vec![CertInfo::from_pem(pem)?]));
        }
        Self::from_cas(parsed)
    }

    /// Build from each organisation's CAs (DER parsed), the current one
    /// first. Each CA must be self-signed with subject O equal to the
    /// organisation's name.
    pub fn from_cas(
        orgs: impl IntoIterator<Item = (String, Vec<CertInfo>)>,
    ) -> Result<Self, PkiError> {
        let mut anchors = HashMap::new();
        for (name, cas) in orgs {
            if cas.is_empty() {
                return Err(PkiError::Parse(format!("organisation {name} has no CA")));
            }
            for ca in &cas {
                check_ca(&name, ca)?;
            }
            anchors.insert(name, Anchor { cas });
        }
        Ok(Self {
            anchors,
            cache: Mutex::new(Cache::default()),
        })
    }

    /// Verify that `der` was issued by its organisation's CA and return who it is.
    pub fn identify(&self, der: &[u8]) -> Result<Arc<Identity>, TrustError> {
        let hash = cert_hash(der);
        if let Some(id) = self.cache.lock().expect("poisoned").get(&hash) {
            return Ok(id);
        }
        let cert = CertInfo::from_der(der).map_err(|e| TrustError::Malformed(e.to_string()))?;
        let org = cert.subject_o.clone().ok_or(TrustError::NoOrganisation)?;
        let anchor = self
            .anchors
            .get(&org)
            .ok_or_else(|| TrustError::UnknownOrganisation(org.clone()))?;
        let mut issued = Err(PkiError::IssuerMismatch);
        for ca in &anchor.cas {
            issued = cert.verify_signed_by(ca);
            if issued.is_ok() {
                break;
            }
        }
        issued.map_err(|e| {
            // A bad signature under an SM2 CA is the usual trouble with
            // OpenSSL-made certificates (the hint is never consensus:
            // receipts record `TrustError::kind` only).
            let sm2 = anchor
                .cas
                .iter()
                .any(|ca| matches!(ca.public_key().map(|k| k.scheme()), Ok(crate::Scheme::Sm2)));
            let hint = if sm2 && matches!(e, PkiError::BadSignature) {
                " (an SM2 CA signs with the distinguishing ID 1234567812345678: with OpenSSL 3 add `-sm3 -sigopt distid:1234567812345678`, and `-vfyopt distid:1234567812345678` to `x509 -req` for an SM2 key)"
            } else {
                ""
            };
            TrustError::NotIssuedByOrg(org.clone(), format!("{e}{hint}"))
        })?;
        if cert.is_ca {
            return Err(TrustError::IsCa);
        }
        let public_key = cert
            .public_key()
            .map_err(|e| TrustError::Unsupported(e.to_string()))?;
        let role = cert.subject_ou.clone().unwrap_or_else(|| "member".into());
        let device = if role == "device" {
            Some(device_identity(&org, &cert.san_uris)?)
        } else {
            None
        };
        let member =
            member_id(&org, &public_key).map_err(|e| TrustError::Unsupported(e.to_string()))?;
        let id = Arc::new(Identity {
            cert_hash: hash,
            id: member,
            device,
            org,
            role,
            common_name: cert.subject_cn.clone().unwrap_or_default(),
            public_key,
            not_before: cert.not_before,
            not_after: cert.not_after,
        });
        self.cache
            .lock()
            .expect("poisoned")
            .insert(hash, id.clone());
        Ok(id)
    }

    /// The genesis organisation whose name, lowercased, is `lower` (device
    /// namespaces are lowercase; organisation names need not be).
    pub fn org_by_lowercase(&self, lower: &str) -> Option<String> {
        self.anchors
            .keys()
            .find(|name| name.to_lowercase() == lower)
            .cloned()
    }

    /// The current CA certificate of an organisation.
    pub fn ca(&self, org: &str) -> Option<&CertInfo> {
        self.anchors.get(org).map(|a| &a.cas[0])
    }

    /// Every CA an organisation's certificates may be issued by, the current first.
    pub fn cas(&self, org: &str) -> &[CertInfo] {
        self.anchors.get(org).map_or(&[], |a| &a.cas)
    }
}

/// A CA is a trust anchor of `org` only if it is self-signed and names `org`
/// as its subject O.
pub fn check_ca(org: &str, ca: &CertInfo) -> Result<(), PkiError> {
    // Also refuses a certificate that is not a CA (`PkiError::NotACa`).
    ca.verify_signed_by(ca)?;
    if ca.subject_o.as_deref() != Some(org) {
        return Err(PkiError::Parse(format!(
            "CA of {org} has subject O={:?}",
            ca.subject_o
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_entries_survive_a_burst_of_one_off_certificates() {
        let id = Arc::new(Identity {
            cert_hash: [0; 32],
            id: [0; 32],
            org: "o".into(),
            role: "member".into(),
            common_name: String::new(),
            public_key: crate::PrivateKey::generate(crate::Scheme::Ed25519)
                .unwrap()
                .public_key(),
            not_before: 0,
            not_after: 0,
            device: None,
        });
        let mut cache = Cache::default();
        let busy = [0xAA; 32];
        cache.insert(busy, id.clone());
        for i in 0..(3 * CACHE_LIMIT) as u32 {
            let mut h = [0; 32];
            h[..4].copy_from_slice(&i.to_be_bytes());
            cache.insert(h, id.clone());
            if i % 1000 == 0 {
                assert!(cache.get(&busy).is_some(), "evicted after {i}");
            }
        }
        assert!(cache.young.len() + cache.old.len() <= CACHE_LIMIT);
        let mut first = [0; 32];
        first[..4].copy_from_slice(&1u32.to_be_bytes());
        assert!(cache.get(&first).is_none(), "one-off entries do expire");
    }
}
