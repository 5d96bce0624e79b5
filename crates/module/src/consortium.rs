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
    /// The notAfter of the certificate genesis lists for it (UNIX seconds;
    /// `i64::MIN` for a validator added by vote, which has none).
    pub genesis_not_after: i64,
    /// `host:port` other validators dial (empty for genesis validators,
    /// whose addresses each node's configuration lists).
    pub p2p_address: String,
    /// Height from which the decision to add it held (0: genesis).
    pub added_at: u64,
    /// Height from which the decision to remove it held.
    pub removed_at: Option<u64>,
}

impl ValidatorSeat {
    /// Whether the decisions that held at `height` made it a validator.
    pub fn decided_at(&self, height: u64) -> bool {
        self.added_at <= height && self.removed_at.is_none_or(|r| r > height)
    }
}

/// The first epoch whose validator set reflects a change decided at
/// `height`: two epochs on, so a joiner has had at least one whole epoch,
/// known to every validator, to connect and catch up before it votes. The
/// set of epoch `e + 1` is therefore what was decided at height
/// `first(e) - 1` (`Consortium::validator_set_for`).
pub fn change_takes_effect(epoch_length: u64, height: u64) -> u64 {
    (height / epoch_length).saturating_add(2)
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
    /// By raw Ed25519 consensus key: every validator decided and not
    /// removed (some may not vote yet: `validator_set_for`).
    validators: BTreeMap<[u8; 32], ValidatorSeat>,
    /// Validators removed by vote, kept: a removed one still votes until
    /// its removal takes effect, and the history says who signed when.
    retired: BTreeMap<[u8; 32], ValidatorSeat>,
    /// Blocks per epoch (`u64::MAX`: one epoch; the set never changes).
    epoch_length: u64,
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
            retired: BTreeMap::new(),
            epoch_length: u64::MAX,
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
                .with_observers(self.observers.clone())
                .with_retired(self.retired.clone())
                .with_epoch_length(self.epoch_length),
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
                    p2p_address: String::new(),
                    added_at: 0,
                    removed_at: None,
                },
            );
        }
        Ok(Self::build(
            Self::genesis_entries(genesis)?,
            genesis.governance(),
            validators,
            0,
        )?
        .with_epoch_length(genesis.epoch_length()))
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

    /// The same consortium with the validator registry `seats` (removed
    /// ones included, with their `removed_at`).
    pub fn with_validator_registry(mut self, seats: BTreeMap<[u8; 32], ValidatorSeat>) -> Self {
        let (retired, validators) = seats.into_iter().partition(|(_, s)| s.removed_at.is_some());
        self.validators = validators;
        self.retired = retired;
        self
    }

    fn with_retired(mut self, retired: BTreeMap<[u8; 32], ValidatorSeat>) -> Self {
        self.retired = retired;
        self
    }

    /// The same consortium with `epoch_length` blocks per epoch.
    pub fn with_epoch_length(mut self, epoch_length: u64) -> Self {
        self.epoch_length = epoch_length;
        self
    }

    /// Blocks per epoch (`u64::MAX`: the chain has one epoch).
    pub fn epoch_length(&self) -> u64 {
        self.epoch_length
    }

    /// Every validator ever decided, removed ones included, by key.
    pub fn validator_registry(&self) -> BTreeMap<[u8; 32], ValidatorSeat> {
        let mut all = self.retired.clone();
        all.extend(self.validators.iter().map(|(k, s)| (*k, s.clone())));
        all
    }

    /// The validator set of epoch `epoch` (sorted keys): what was decided at
    /// the height before the previous epoch began (`change_takes_effect`).
    /// Any view at or after that height gives the same answer, because
    /// every record keeps the heights it was added and removed at.
    pub fn validator_set_for(&self, epoch: u64) -> Vec<[u8; 32]> {
        let decided_by = match epoch.checked_sub(1) {
            None | Some(0) => 0,
            Some(previous) => previous.saturating_mul(self.epoch_length).saturating_sub(1),
        };
        self.validators
            .iter()
            .chain(self.retired.iter())
            .filter(|(_, seat)| seat.decided_at(decided_by))
            .map(|(key, _)| *key)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The validators nodes stay connected to at `height`: every one
    /// decided, and a removed one until its removal has taken effect (it
    /// votes until then). A joiner is connected from its decision on, to
    /// catch up before it votes.
    pub fn connected_validators(&self, height: u64) -> BTreeMap<[u8; 32], ValidatorSeat> {
        let epoch = height / self.epoch_length;
        let mut out = self.validators.clone();
        out.extend(
            self.retired
                .iter()
                .filter(|(_, s)| {
                    s.removed_at
                        .is_some_and(|r| epoch < change_takes_effect(self.epoch_length, r))
                })
                .map(|(k, s)| (*k, s.clone())),
        );
        out
    }

    /// Whether a validator change decided before `height` has not taken
    /// effect by `height` (one change at a time keeps every boundary's
    /// quorum reachable while a joiner is still catching up).
    pub fn validator_change_pending(&self, height: u64) -> bool {
        let epoch = height / self.epoch_length;
        self.validators
            .values()
            .chain(self.retired.values())
            .flat_map(|s| [Some(s.added_at).filter(|a| *a > 0), s.removed_at])
            .flatten()
            .any(|at| change_takes_effect(self.epoch_length, at) > epoch)
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

#[cfg(test)]
mod tests {
    use super::*;

    const L: u64 = 20;

    fn seat(added_at: u64, removed_at: Option<u64>) -> ValidatorSeat {
        ValidatorSeat {
            name: "v".into(),
            org: "acme".into(),
            genesis_not_after: 0,
            p2p_address: String::new(),
            added_at,
            removed_at,
        }
    }

    fn consortium(seats: &[([u8; 32], ValidatorSeat)]) -> Consortium {
        Consortium::build(vec![], Governance::default(), BTreeMap::new(), 0)
            .unwrap()
            .with_validator_registry(seats.iter().cloned().collect())
            .with_epoch_length(L)
    }

    /// Replacements back to back, each decided as early as the pending rule
    /// allows: a node never connects to more than the set plus one leaver,
    /// judged at the height the executed state's decisions hold from
    /// (nodes size their peer sets on that bound).
    #[test]
    fn back_to_back_replacements_never_connect_more_than_one_leaver() {
        let mut seats: Vec<([u8; 32], ValidatorSeat)> =
            (0..4u8).map(|k| ([k; 32], seat(0, None))).collect();
        let mut next_key = 10u8;
        let mut height = 5;
        for _ in 0..6 {
            // The earliest height a change may hold from.
            while consortium(&seats).validator_change_pending(height) {
                height += 1;
            }
            let old = seats
                .iter()
                .position(|(_, s)| s.removed_at.is_none())
                .unwrap();
            seats[old].1.removed_at = Some(height);
            seats.push(([next_key; 32], seat(height, None)));
            next_key += 1;
            let c = consortium(&seats);
            // Nodes judge the roster at the height the executed block's
            // decisions hold from: there the previous leaver is gone.
            for h in height..height + 2 * L {
                assert!(c.connected_validators(h).len() <= 4 + 1, "height {h}");
            }
            if next_key > 11 {
                // One height earlier (the executed height itself) both
                // leavers would count: the bound would be exceeded.
                assert_eq!(c.connected_validators(height - 1).len(), 4 + 2);
            }
            assert_eq!(c.validator_set_for(height / L + 2).len(), 4);
            assert!(!c
                .validator_set_for(height / L + 1)
                .contains(&[next_key - 1; 32]));
        }
    }
}
