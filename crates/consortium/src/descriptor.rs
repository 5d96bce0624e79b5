//! An organisation's public descriptor, and assembling a genesis from them.

use crate::{check::check_genesis, ConsortiumError};
use ingot_types::{
    genesis::{OrgKind, Organisation, ValidatorEntry},
    limits::MAX_ORGS,
    Genesis,
};
use serde::{Deserialize, Serialize};

/// The `format` field of every descriptor this version writes and reads.
pub const DESCRIPTOR_FORMAT: &str = "ingot-org/v1";

/// At most one descriptor per organisation a genesis can hold.
pub const MAX_DESCRIPTORS: usize = MAX_ORGS;

/// What one organisation publishes to form a consortium: nothing secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgDescriptor {
    /// Always [`DESCRIPTOR_FORMAT`].
    pub format: String,
    /// The organisation's name: its CA's subject O.
    pub name: String,
    pub kind: OrgKind,
    /// PEM of the organisation's root CA certificate.
    pub ca_cert_pem: String,
    /// Validators this organisation operates (none for an organisation that
    /// only observes, such as a regulator without a validator).
    #[serde(default)]
    pub validators: Vec<DescriptorValidator>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescriptorValidator {
    /// Unique in the consortium; the certificate's CN by convention.
    pub name: String,
    /// Ed25519 consensus public key, hex.
    pub public_key: String,
    /// Certificate of `public_key` issued by the organisation's CA, OU=validator.
    pub cert_pem: String,
    /// host:port where the other validators reach this one.
    pub p2p_address: String,
}

impl OrgDescriptor {
    pub fn new(name: &str, kind: OrgKind, ca_cert_pem: String) -> Self {
        Self {
            format: DESCRIPTOR_FORMAT.into(),
            name: name.into(),
            kind,
            ca_cert_pem,
            validators: Vec::new(),
        }
    }

    /// Parse and [`check`](Self::check) a descriptor file's contents.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConsortiumError> {
        let descriptor: Self = serde_json::from_slice(bytes)
            .map_err(|e| ConsortiumError::Descriptor(format!("not a descriptor: {e}")))?;
        descriptor.check()?;
        Ok(descriptor)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a descriptor always serialises")
    }

    fn organisation(&self) -> Organisation {
        Organisation {
            name: self.name.clone(),
            kind: self.kind,
            ca_cert_pem: self.ca_cert_pem.clone(),
        }
    }

    fn validator_entries(&self) -> impl Iterator<Item = ValidatorEntry> + '_ {
        self.validators.iter().map(|v| ValidatorEntry {
            name: v.name.clone(),
            org: self.name.clone(),
            public_key: v.public_key.clone(),
            cert_pem: v.cert_pem.clone(),
            p2p_address: v.p2p_address.clone(),
        })
    }

    /// Everything that can be checked about one organisation alone: the
    /// format, its CA, and each validator's certificate and address.
    pub fn check(&self) -> Result<(), ConsortiumError> {
        if self.format != DESCRIPTOR_FORMAT {
            return Err(ConsortiumError::Descriptor(format!(
                "format is {:?}; this version reads {DESCRIPTOR_FORMAT:?}",
                self.format
            )));
        }
        for v in &self.validators {
            let port = v
                .p2p_address
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p != 0) {
                return Err(ConsortiumError::Descriptor(format!(
                    "validator {}: p2p address {:?} is not host:port",
                    v.name, v.p2p_address
                )));
            }
        }
        let alone = Genesis {
            chain_name: String::new(),
            timestamp_ms: 0,
            organisations: vec![self.organisation()],
            validators: self.validator_entries().collect(),
            governance: None,
            epoch_length: None,
        };
        match check_genesis(&alone) {
            // An organisation without validators is legal; the CA is
            // still checked below.
            Err(ConsortiumError::Structure(ingot_types::genesis::GenesisError::NoValidators)) => {
                crate::check::check_ca(&self.name, &self.ca_cert_pem).map(|_| ())
            }
            other => other.map(|_| ()),
        }
    }

    /// Whether `genesis` holds this organisation exactly as described: same
    /// kind and CA, and exactly these validators with the same keys,
    /// certificates and addresses.
    pub fn matches(&self, genesis: &Genesis) -> Result<(), ConsortiumError> {
        let mismatch = |what: &str| ConsortiumError::DescriptorMismatch {
            org: self.name.clone(),
            what: what.into(),
        };
        let org = genesis
            .organisation(&self.name)
            .ok_or_else(|| mismatch("the organisation is missing"))?;
        if org.kind != self.kind {
            return Err(mismatch("kind"));
        }
        if org.ca_cert_pem != self.ca_cert_pem {
            return Err(mismatch("CA certificate"));
        }
        let mut listed: Vec<&ValidatorEntry> = genesis
            .validators
            .iter()
            .filter(|v| v.org == self.name)
            .collect();
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        let mut own: Vec<ValidatorEntry> = self.validator_entries().collect();
        own.sort_by(|a, b| a.name.cmp(&b.name));
        if listed.len() != own.len() || listed.iter().zip(&own).any(|(a, b)| *a != b) {
            return Err(mismatch(
                "validators (names, keys, certificates or addresses)",
            ));
        }
        Ok(())
    }
}

/// Assemble a genesis from the organisations' descriptors. Organisations are
/// ordered by name and validators by (organisation, name), so the genesis —
/// and so the chain id — depends only on the descriptors, the chain name and
/// the time, never on the order the files were given in.
pub fn assemble(
    chain_name: &str,
    timestamp_ms: u64,
    descriptors: &[OrgDescriptor],
) -> Result<Genesis, ConsortiumError> {
    if descriptors.len() > MAX_DESCRIPTORS {
        return Err(ConsortiumError::TooManyDescriptors(MAX_DESCRIPTORS));
    }
    let mut sorted: Vec<&OrgDescriptor> = descriptors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = sorted.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(ConsortiumError::DuplicateDescriptor(pair[0].name.clone()));
    }
    for d in &sorted {
        d.check()?;
    }
    let mut validators: Vec<ValidatorEntry> =
        sorted.iter().flat_map(|d| d.validator_entries()).collect();
    validators.sort_by(|a, b| (&a.org, &a.name).cmp(&(&b.org, &b.name)));
    let genesis = Genesis {
        chain_name: chain_name.into(),
        timestamp_ms,
        organisations: sorted.iter().map(|d| d.organisation()).collect(),
        validators,
        governance: None,
        epoch_length: None,
    };
    check_genesis(&genesis)?;
    Ok(genesis)
}
