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
    /// How the consortium decides (the governance module's thresholds and
    /// each organisation's vote weight); absent: [`Governance::default`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governance: Option<Governance>,
    /// Blocks per consensus epoch. Consensus restarts its engine at every
    /// epoch boundary (the last block of an epoch is finalized by that
    /// epoch's validators, the next epoch starts from it), which is where
    /// validator-set changes take effect. Absent: one epoch for the whole
    /// chain, as before epochs existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch_length: Option<u64>,
}

/// Fewest blocks in an epoch. Consensus keeps the journal of the previous
/// epoch until the next boundary, which is only safe while marshal's
/// unpersisted acknowledgements stay inside one epoch (asserted against
/// their limit in `ingot_node::epochs`).
pub const MIN_EPOCH_LENGTH: u64 = 20;
/// Most blocks in an epoch that a genesis may set (about 11 days at 10 blocks a second).
pub const MAX_EPOCH_LENGTH: u64 = 10_000_000;
const _: () = assert!(MIN_EPOCH_LENGTH < MAX_EPOCH_LENGTH);

/// Smallest and largest threshold, in percent.
pub const MIN_THRESHOLD_PCT: u8 = 1;
pub const MAX_THRESHOLD_PCT: u8 = 100;
/// Largest vote weight of one organisation. The sum over [`MAX_ORGS`]
/// organisations times 100 (a percentage) stays far below `u64::MAX`.
pub const MAX_VOTE_WEIGHT: u32 = 1_000_000;
/// Longest a proposal stays open, in blocks.
pub const MAX_PROPOSAL_TTL_BLOCKS: u64 = 10_000_000;
const _: () = assert!((MAX_VOTE_WEIGHT as u128) * (MAX_ORGS as u128) * 100 < u64::MAX as u128);

/// The governance module's rules, as genesis sets them (and proposals change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Governance {
    /// Share of the total vote weight that must vote for a decision, percent.
    pub participation_pct: u8,
    /// Share of the weight voting that must approve, percent.
    pub approval_pct: u8,
    /// Blocks a proposal stays open for votes.
    pub proposal_ttl_blocks: u64,
    /// Vote weight per organisation; organisations not listed weigh 1.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub weights: std::collections::BTreeMap<String, u32>,
}

impl Default for Governance {
    /// A majority (FISCO BCOS's defaults are alike): more than half of the
    /// weight votes, more than half of it approves; a week of one-second
    /// blocks to decide.
    fn default() -> Self {
        Self {
            participation_pct: 51,
            approval_pct: 51,
            proposal_ttl_blocks: 7 * 24 * 3600,
            weights: Default::default(),
        }
    }
}

impl Governance {
    /// The thresholds are percentages in range, the expiry bounded, every
    /// weight positive and bounded.
    pub fn validate(&self) -> Result<(), GenesisError> {
        let pct = MIN_THRESHOLD_PCT..=MAX_THRESHOLD_PCT;
        if !pct.contains(&self.participation_pct) || !pct.contains(&self.approval_pct) {
            return Err(GenesisError::BadGovernance(
                "thresholds must be 1..=100 percent".into(),
            ));
        }
        if self.proposal_ttl_blocks == 0 || self.proposal_ttl_blocks > MAX_PROPOSAL_TTL_BLOCKS {
            return Err(GenesisError::BadGovernance(format!(
                "proposal_ttl_blocks must be 1..={MAX_PROPOSAL_TTL_BLOCKS}"
            )));
        }
        if let Some((org, w)) = self
            .weights
            .iter()
            .find(|(_, w)| **w == 0 || **w > MAX_VOTE_WEIGHT)
        {
            return Err(GenesisError::BadGovernance(format!(
                "weight {w} of {org} is not 1..={MAX_VOTE_WEIGHT}"
            )));
        }
        Ok(())
    }

    /// The vote weight of `org`.
    pub fn weight(&self, org: &str) -> u32 {
        self.weights.get(org).copied().unwrap_or(1)
    }
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
    #[error("governance: {0}")]
    BadGovernance(String),
    #[error("epoch_length must be {MIN_EPOCH_LENGTH}..={MAX_EPOCH_LENGTH} blocks, not {0}")]
    BadEpochLength(u64),
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
        if let Some(g) = &self.governance {
            g.validate()?;
            if let Some(org) = g.weights.keys().find(|o| !names.contains(o.as_str())) {
                return Err(GenesisError::BadGovernance(format!(
                    "weight for unknown organisation {org}"
                )));
            }
        }
        if let Some(length) = self.epoch_length {
            if !(MIN_EPOCH_LENGTH..=MAX_EPOCH_LENGTH).contains(&length) {
                return Err(GenesisError::BadEpochLength(length));
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
        // Appended only when set, so chains formed before governance
        // existed keep their chain id; it is the last field, so the encoding
        // stays unambiguous.
        if let Some(g) = &self.governance {
            buf.put_slice(b"governance");
            g.participation_pct.write(&mut buf);
            g.approval_pct.write(&mut buf);
            g.proposal_ttl_blocks.write(&mut buf);
            (g.weights.len() as u32).write(&mut buf);
            for (org, w) in &g.weights {
                write_str(org, &mut buf);
                w.write(&mut buf);
            }
        }
        // Appended only when set, for the same reason, after governance;
        // the tags differ, so the encoding stays unambiguous.
        if let Some(length) = self.epoch_length {
            buf.put_slice(b"epochs");
            length.write(&mut buf);
        }
        sha256(&[&buf])
    }

    /// Blocks per epoch; `u64::MAX` (one epoch) when genesis sets none.
    pub fn epoch_length(&self) -> u64 {
        self.epoch_length.unwrap_or(u64::MAX)
    }

    /// The governance rules genesis sets (or the defaults).
    pub fn governance(&self) -> Governance {
        self.governance.clone().unwrap_or_default()
    }

    pub fn organisation(&self, name: &str) -> Option<&Organisation> {
        self.organisations.iter().find(|o| o.name == name)
    }
}
