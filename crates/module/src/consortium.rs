//! The consortium as one block sees it: its organisations, each with its
//! kind, vote weight and the CAs its certificates may be issued by.
//!
//! Genesis sets it; the governance module changes it by vote. The executor
//! hands every transaction of a block the same [`Consortium`] and builds a
//! new one after a block that changed it (or when an old CA's grace period
//! ends), so a change holds from the next block on, on every node alike.

use ingot_crypto::{CertInfo, PkiError, TrustStore};
use ingot_types::{Genesis, Governance, OrgKind};
use std::{collections::BTreeMap, ops::Deref};

/// What the consortium knows of one organisation besides its CAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrgInfo {
    pub kind: OrgKind,
    pub weight: u32,
}

/// One CA of an organisation and the last height its certificates count
/// (`None`: until replaced).
#[derive(Clone, Debug)]
pub struct TrustedCa {
    pub ca: CertInfo,
    pub until: Option<u64>,
}

/// One organisation, as the governance module stores it.
#[derive(Clone, Debug)]
pub struct OrgEntry {
    pub name: String,
    pub info: OrgInfo,
    /// The current CA first.
    pub cas: Vec<TrustedCa>,
}

/// Chain parameters the consortium voted (`None`: each node's own
/// configuration, or the built-in limit).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChainParams {
    /// Transactions an honest proposer puts in a block (consensus still
    /// accepts up to `MAX_BLOCK_TXS`).
    pub max_block_txs: Option<u32>,
    /// Parent age at which an idle proposer proposes an empty block.
    pub idle_heartbeat_ms: Option<u64>,
    /// Work one transaction may use (executed: a consensus rule).
    pub max_work_per_tx: Option<u64>,
}

/// A validator's seat: its name and organisation (its consensus key is the
/// map's key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSeat {
    pub name: String,
    pub org: String,
    /// The notAfter of the certificate genesis lists for it (UNIX seconds).
    pub genesis_not_after: i64,
}

/// An observer node's seat: a node the consortium admitted by vote to
/// follow finalized blocks and serve its organisation's API without voting
/// (a regulator's or an archive node). Its p2p key is the map's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObserverSeat {
    pub name: String,
    pub org: String,
    /// `host:port` it connects from: validators accept its connections only
    /// from that host's address.
    pub p2p_address: String,
}

/// The organisations and their trust anchors, for one height.
pub struct Consortium {
    params: ChainParams,
    trust: TrustStore,
    entries: Vec<OrgEntry>,
    orgs: BTreeMap<String, OrgInfo>,
    rules: Governance,
    /// By raw Ed25519 consensus key.
    validators: BTreeMap<[u8; 32], ValidatorSeat>,
    /// By raw Ed25519 p2p key.
    observers: BTreeMap<[u8; 32], ObserverSeat>,
    expires_at: Option<u64>,
}

impl Deref for Consortium {
    type Target = TrustStore;
    fn deref(&self) -> &TrustStore {
        &self.trust
    }
}

impl Consortium {
    /// The consortium at `height` from its organisations: a CA whose grace
    /// ended before `height` is left out.
    /// `validators`: the validator set (fixed in genesis until validator
    /// sets change by epoch).
    pub fn build(
        entries: Vec<OrgEntry>,
        rules: Governance,
        validators: BTreeMap<[u8; 32], ValidatorSeat>,
        height: u64,
    ) -> Result<Self, PkiError> {
        let mut expires_at: Option<u64> = None;
        let mut orgs = BTreeMap::new();
        let mut anchors = Vec::with_capacity(entries.len());
        for entry in &entries {
            let mut cas = Vec::new();
            for trusted in &entry.cas {
                match trusted.until {
                    Some(until) if until < height => continue,
                    Some(until) => {
                        let end = until.saturating_add(1);
                        expires_at = Some(expires_at.map_or(end, |e| e.min(end)));
                    }
                    None => {}
                }
                cas.push(trusted.ca.clone());
            }
            orgs.insert(entry.name.clone(), entry.info);
            anchors.push((entry.name.clone(), cas));
        }
        Ok(Self {
            params: ChainParams::default(),
            trust: TrustStore::from_cas(anchors)?,
            entries,
            orgs,
            rules,
            validators,
            observers: BTreeMap::new(),
            expires_at,
        })
    }

    /// The same organisations' rules and validators with new entries (after
    /// a governance change), at `height`.
    pub fn rebuild(
        &self,
        entries: Vec<OrgEntry>,
        rules: Governance,
        height: u64,
    ) -> Result<Self, PkiError> {
        Ok(
            Self::build(entries, rules, self.validators.clone(), height)?
                .with_params(self.params)
                .with_observers(self.observers.clone()),
        )
    }

    /// The organisations genesis names (before any governance change).
    pub fn genesis_entries(genesis: &Genesis) -> Result<Vec<OrgEntry>, PkiError> {
        let rules = genesis.governance();
        genesis
            .organisations
            .iter()
            .map(|o| {
                Ok(OrgEntry {
                    name: o.name.clone(),
                    info: OrgInfo {
                        kind: o.kind,
                        weight: rules.weight(&o.name),
                    },
                    cas: vec![TrustedCa {
                        ca: CertInfo::from_pem(&o.ca_cert_pem)?,
                        until: None,
                    }],
                })
            })
            .collect()
    }

    /// The consortium genesis forms.
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, PkiError> {
        let mut validators = BTreeMap::new();
        for v in &genesis.validators {
            let key = hex::decode(&v.public_key)
                .ok()
                .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
                .ok_or_else(|| {
                    PkiError::Parse(format!("validator {}: bad consensus key", v.name))
                })?;
            validators.insert(
                key,
                ValidatorSeat {
                    name: v.name.clone(),
                    org: v.org.clone(),
                    genesis_not_after: CertInfo::from_pem(&v.cert_pem)?.not_after,
                },
            );
        }
        Self::build(
            Self::genesis_entries(genesis)?,
            genesis.governance(),
            validators,
            0,
        )
    }

    /// Member organisations of weight 1 under default rules, from
    /// `(name, CA PEM)` pairs (tests and benchmarks).
    pub fn of_members<'a>(
        orgs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, PkiError> {
        let entries = orgs
            .into_iter()
            .map(|(name, pem)| {
                Ok(OrgEntry {
                    name: name.to_string(),
                    info: OrgInfo {
                        kind: OrgKind::Member,
                        weight: 1,
                    },
                    cas: vec![TrustedCa {
                        ca: CertInfo::from_pem(pem)?,
                        until: None,
                    }],
                })
            })
            .collect::<Result<Vec<_>, PkiError>>()?;
        Self::build(entries, Governance::default(), BTreeMap::new(), 0)
    }

    /// Every organisation with all its CAs (also an old one in its grace period).
    pub fn entries(&self) -> &[OrgEntry] {
        &self.entries
    }

    /// The same consortium under the chain parameters `params`.
    pub fn with_params(mut self, params: ChainParams) -> Self {
        self.params = params;
        self
    }

    /// The same consortium with the observer nodes `observers`.
    pub fn with_observers(mut self, observers: BTreeMap<[u8; 32], ObserverSeat>) -> Self {
        self.observers = observers;
        self
    }

    /// Every observer node the consortium admitted, by p2p key.
    pub fn observers(&self) -> &BTreeMap<[u8; 32], ObserverSeat> {
        &self.observers
    }

    /// Whether `org` operates an observer node.
    pub fn operates_observer(&self, org: &str) -> bool {
        self.observers.values().any(|o| o.org == org)
    }

    /// The chain parameters the consortium voted.
    pub fn params(&self) -> &ChainParams {
        &self.params
    }

    /// The governance rules in force.
    pub fn rules(&self) -> &Governance {
        &self.rules
    }

    /// Whether `org` operates a validator.
    pub fn operates_validator(&self, org: &str) -> bool {
        self.validators.values().any(|v| v.org == org)
    }

    /// The validator whose raw Ed25519 consensus key is `key`.
    pub fn validator(&self, key: &[u8; 32]) -> Option<&ValidatorSeat> {
        self.validators.get(key)
    }

    /// Every validator, by consensus key.
    pub fn validators(&self) -> &BTreeMap<[u8; 32], ValidatorSeat> {
        &self.validators
    }

    /// Sum of every organisation's vote weight.
    pub fn total_weight(&self) -> u64 {
        self.orgs.values().map(|o| u64::from(o.weight)).sum()
    }

    pub fn trust(&self) -> &TrustStore {
        &self.trust
    }

    pub fn orgs(&self) -> &BTreeMap<String, OrgInfo> {
        &self.orgs
    }

    pub fn org(&self, name: &str) -> Option<&OrgInfo> {
        self.orgs.get(name)
    }

    pub fn is_regulator(&self, org: &str) -> bool {
        self.org(org).is_some_and(|o| o.kind == OrgKind::Regulator)
    }

    /// The first height this view no longer holds without any transaction
    /// (an old CA's grace period ends), if any.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }
}
