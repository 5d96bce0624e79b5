//! Genesis: the organisations of the consortium and the initial validator set.
//!
//! The file form is JSON (human-edited, produced by `ingot up`/`ingot genesis`).
//! The chain id is the SHA-256 of a canonical codec encoding of the same fields,
//! so two nodes agree on the chain id however the JSON was formatted.

use crate::{codec_util::write_str, limits::*, sha256, Digest};
use bytes::BufMut;
use commonware_codec::Write;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgKind {
    Member,
    Regulator,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Short unique name, also the `O=` of its certificates.
    pub name: String,
    pub kind: OrgKind,
    /// PEM of the organisation's root CA certificate.
    pub ca_cert_pem: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorEntry {
    /// Human name of the validator (its certificate's CN).
    pub name: String,
    /// The organisation operating it.
    pub org: String,
    /// Ed25519 consensus public key (hex). The certificate below certifies it.
    pub public_key: String,
    /// PEM certificate for `public_key`, issued by `org`'s CA with role `validator`.
    pub cert_pem: String,
    /// Address peers dial (host:port). A hint for bootstrapping; node config may override.
    pub p2p_address: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub chain_name: String,
    /// Block time of genesis, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    pub organisations: Vec<Organisation>,
    pub validators: Vec<ValidatorEntry>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GenesisError {
    #[error("genesis has no validators")]
    NoValidators,
    #[error("too many organisations or validators")]
    TooLarge,
    #[error("duplicate organisation {0}")]
    DuplicateOrg(String),
    #[error("validator {0} belongs to unknown organisation {1}")]
    UnknownOrg(String, String),
    #[error("validator {0} has an invalid public key")]
    BadKey(String),
    #[error("duplicate validator key {0}")]
    DuplicateKey(String),
    #[error("a certificate is larger than {MAX_PEM_BYTES} bytes")]
    PemTooLarge,
}

impl Genesis {
    /// Structural checks that need no cryptography (certificates are checked by `ingot-crypto`).
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        if self.organisations.len() > MAX_ORGS || self.validators.len() > MAX_VALIDATORS {
            return Err(GenesisError::TooLarge);
        }
        let mut names = std::collections::BTreeSet::new();
        for o in &self.organisations {
            if o.ca_cert_pem.len() > MAX_PEM_BYTES {
                return Err(GenesisError::PemTooLarge);
            }
            if !names.insert(o.name.as_str()) {
                return Err(GenesisError::DuplicateOrg(o.name.clone()));
            }
        }
        let mut keys = std::collections::BTreeSet::new();
        for v in &self.validators {
            if !names.contains(v.org.as_str()) {
                return Err(GenesisError::UnknownOrg(v.name.clone(), v.org.clone()));
            }
            if v.cert_pem.len() > MAX_PEM_BYTES {
                return Err(GenesisError::PemTooLarge);
            }
            match hex::decode(&v.public_key) {
                Ok(k) if k.len() == 32 => {}
                _ => return Err(GenesisError::BadKey(v.name.clone())),
            }
            if !keys.insert(v.public_key.as_str()) {
                return Err(GenesisError::DuplicateKey(v.public_key.clone()));
            }
        }
        Ok(())
    }

    /// The chain id: SHA-256 over the canonical encoding of every field.
    pub fn chain_id(&self) -> Digest {
        let mut buf = Vec::new();
        buf.put_slice(b"ingot/genesis/v1");
        write_str(&self.chain_name, &mut buf);
        self.timestamp_ms.write(&mut buf);
        (self.organisations.len() as u32).write(&mut buf);
        for o in &self.organisations {
            write_str(&o.name, &mut buf);
            (o.kind as u8).write(&mut buf);
            write_str(&o.ca_cert_pem, &mut buf);
        }
        (self.validators.len() as u32).write(&mut buf);
        for v in &self.validators {
            write_str(&v.name, &mut buf);
            write_str(&v.org, &mut buf);
            write_str(&v.public_key, &mut buf);
            write_str(&v.cert_pem, &mut buf);
            write_str(&v.p2p_address, &mut buf);
        }
        sha256(&[&buf])
    }

    pub fn organisation(&self, name: &str) -> Option<&Organisation> {
        self.organisations.iter().find(|o| o.name == name)
    }
}
