//! What the governance module stores, in canonical bytes.

use ingot_module::{OrgEntry, OrgInfo, TrustedCa};
use ingot_types::{
    limits::{MAX_CERT_BYTES, MAX_NAME_LEN, MAX_ORGS, MAX_TEXT_LEN},
    record, Governance, OrgKind,
};

/// Most proposals open (voting) or approved and waiting for their height at
/// once: the agenda is read at every block end, so it stays small.
pub const MAX_AGENDA: usize = 64;
/// Most proposals one organisation may have open at once: one organisation
/// cannot fill the agenda and so block everyone else's proposals.
pub const MAX_OPEN_PER_ORG: usize = 4;
const _: () = assert!(MAX_OPEN_PER_ORG * 4 <= MAX_AGENDA);
/// Most CAs one organisation is trusted under at once: the current one and
/// rotated ones still in their grace period.
pub const MAX_CAS_PER_ORG: usize = 3;
/// Largest canonical action (an organisation's CA plus its names).
pub const MAX_ACTION_BYTES: usize = MAX_CERT_BYTES + MAX_ORGS * (MAX_NAME_LEN + 4) + 256;

record! {
    /// `governance/org/<name>`: one organisation as the consortium knows it.
    pub struct OrgRecord {
        pub name: String = MAX_NAME_LEN,
        /// 0 member, 1 regulator.
        pub kind: u8 = (),
        pub weight: u32 = (),
        /// The current CA first.
        pub cas: Vec<CaRecord> = (MAX_CAS_PER_ORG, ()),
    }
}

record! {
    /// One trusted CA and the last height certificates it issued count.
    pub struct CaRecord {
        pub der: bytes::Bytes = MAX_CERT_BYTES,
        pub until: Option<u64> = (),
    }
}

record! {
    /// `governance/meta/orgs`: the names of every organisation, in order. Absent
    /// until the first change: genesis holds then.
    pub struct OrgList {
        pub names: Vec<String> = (MAX_ORGS, MAX_NAME_LEN),
    }
}

/// Most observer nodes the consortium admits: each is a p2p peer every
/// validator keeps a seat for (`MAX_PEERS` in the node sizes its peer sets).
pub const MAX_OBSERVERS: usize = 16;
/// Longest `host:port` an observer is admitted with (a DNS name is at most
/// 253 bytes, a port 6 with its colon).
pub const MAX_ADDRESS_LEN: usize = 260;

/// The largest validator set votes may grow (a genesis may name more, up
/// to `MAX_VALIDATORS`; votes then never grow it). Nodes size their p2p
/// peer sets from it at start.
pub const MAX_VOTED_VALIDATORS: usize = 32;
const _: () = assert!(MAX_VOTED_VALIDATORS <= ingot_types::limits::MAX_VALIDATORS);

/// Most validator records the registry keeps, removed ones included (the
/// history of who could sign when is never rewritten).
pub const MAX_VALIDATOR_RECORDS: usize = 2 * ingot_types::limits::MAX_VALIDATORS;

record! {
    /// One validator the consortium decided on (genesis's or by vote).
    pub struct ValidatorRecord {
        /// Raw Ed25519 consensus (and p2p) key.
        pub public_key: [u8; 32] = (),
        pub name: String = MAX_NAME_LEN,
        pub org: String = MAX_NAME_LEN,
        /// Empty for genesis validators (each node's configuration lists them).
        pub p2p_address: String = MAX_ADDRESS_LEN,
        pub added_at: u64 = (),
        pub removed_at: Option<u64> = (),
    }
}

record! {
    /// `governance/meta/validators`: every validator ever decided, by key.
    /// Absent until the first change: genesis's validators hold then.
    pub struct ValidatorList {
        pub validators: Vec<ValidatorRecord> = (MAX_VALIDATOR_RECORDS, ()),
    }
}

impl ValidatorList {
    pub fn from_seats(
        seats: &std::collections::BTreeMap<[u8; 32], ingot_module::ValidatorSeat>,
    ) -> Self {
        Self {
            validators: seats
                .iter()
                .map(|(key, seat)| ValidatorRecord {
                    public_key: *key,
                    name: seat.name.clone(),
                    org: seat.org.clone(),
                    p2p_address: seat.p2p_address.clone(),
                    added_at: seat.added_at,
                    removed_at: seat.removed_at,
                })
                .collect(),
        }
    }

    /// The seats, with the notAfter of genesis's certificates from `base`
    /// (the registry does not repeat certificates).
    pub fn to_seats(
        &self,
        base: &std::collections::BTreeMap<[u8; 32], ingot_module::ValidatorSeat>,
    ) -> std::collections::BTreeMap<[u8; 32], ingot_module::ValidatorSeat> {
        self.validators
            .iter()
            .map(|v| {
                (
                    v.public_key,
                    ingot_module::ValidatorSeat {
                        name: v.name.clone(),
                        org: v.org.clone(),
                        genesis_not_after: base
                            .get(&v.public_key)
                            .map_or(i64::MIN, |s| s.genesis_not_after),
                        p2p_address: v.p2p_address.clone(),
                        added_at: v.added_at,
                        removed_at: v.removed_at,
                    },
                )
            })
            .collect()
    }
}

record! {
    /// One admitted observer node.
    pub struct ObserverRecord {
        /// Raw Ed25519 p2p key.
        pub public_key: [u8; 32] = (),
        pub name: String = MAX_NAME_LEN,
        pub org: String = MAX_NAME_LEN,
        pub p2p_address: String = MAX_ADDRESS_LEN,
    }
}

record! {
    /// `governance/meta/observers`: every admitted observer node, by key.
    /// Absent until the first is admitted.
    pub struct ObserverList {
        pub observers: Vec<ObserverRecord> = (MAX_OBSERVERS, ()),
    }
}

impl ObserverList {
    pub fn from_seats(
        seats: &std::collections::BTreeMap<[u8; 32], ingot_module::ObserverSeat>,
    ) -> Self {
        Self {
            observers: seats
                .iter()
                .map(|(key, seat)| ObserverRecord {
                    public_key: *key,
                    name: seat.name.clone(),
                    org: seat.org.clone(),
                    p2p_address: seat.p2p_address.clone(),
                })
                .collect(),
        }
    }

    pub fn to_seats(&self) -> std::collections::BTreeMap<[u8; 32], ingot_module::ObserverSeat> {
        self.observers
            .iter()
            .map(|o| {
                (
                    o.public_key,
                    ingot_module::ObserverSeat {
                        name: o.name.clone(),
                        org: o.org.clone(),
                        p2p_address: o.p2p_address.clone(),
                    },
                )
            })
            .collect()
    }
}

record! {
    /// `governance/meta/rules`: the thresholds in force (absent: genesis's).
    pub struct RulesRecord {
        pub participation_pct: u8 = (),
        pub approval_pct: u8 = (),
        pub proposal_ttl_blocks: u64 = (),
    }
}

record! {
    /// `governance/meta/params`: chain parameters the consortium voted
    /// (0: not set — each node's configuration or the built-in limit).
    pub struct ParamsRecord {
        pub max_block_txs: u32 = (),
        pub idle_heartbeat_ms: u64 = (),
        pub max_work_per_tx: u64 = (),
    }
}

impl ParamsRecord {
    pub fn to_params(&self) -> ingot_module::ChainParams {
        let set = |v: u64| (v != 0).then_some(v);
        ingot_module::ChainParams {
            max_block_txs: (self.max_block_txs != 0).then_some(self.max_block_txs),
            idle_heartbeat_ms: set(self.idle_heartbeat_ms),
            max_work_per_tx: set(self.max_work_per_tx),
        }
    }
}

record! {
    /// `governance/deployers/<module>`: the organisations whose admins and
    /// members may deploy to `module` (absent: every organisation; empty,
    /// after its organisations were removed: none).
    pub struct Deployers {
        pub orgs: Vec<String> = (MAX_ORGS, MAX_NAME_LEN),
    }
}

record! {
    /// `governance/prop/<id>`: a proposal and its tally.
    pub struct Proposal {
        pub id: u64 = (),
        pub proposer_org: String = MAX_NAME_LEN,
        pub proposer: [u8; 32] = (),
        /// The canonical [`crate::Action`].
        pub action: bytes::Bytes = MAX_ACTION_BYTES,
        pub created: u64 = (),
        /// Last height a vote counts.
        pub expires: u64 = (),
        /// First height the change must hold (0: as soon as approved).
        pub effective_at: u64 = (),
        /// [`Status`] as a byte.
        pub status: u8 = (),
        pub yes: u64 = (),
        pub no: u64 = (),
        /// Height of the decision (approval, rejection, expiry) and of the
        /// application.
        pub decided_at: u64 = (),
        pub applied_at: u64 = (),
        /// Why an approved change could not be applied.
        pub note: String = MAX_TEXT_LEN,
    }
}

record! {
    /// `governance/vote/<id>/<org>`: one organisation's vote.
    pub struct Vote {
        pub approve: bool = (),
        pub by: [u8; 32] = (),
        pub height: u64 = (),
    }
}

record! {
    /// A proposal due at a height: its vote's end, or its change.
    pub struct Due {
        pub at: u64 = (),
        pub id: u64 = (),
        /// The proposing organisation.
        pub org: String = MAX_NAME_LEN,
    }
}

record! {
    /// `governance/meta/agenda`: what the block end looks at.
    pub struct Agenda {
        /// Open proposals and their last voting height.
        pub open: Vec<Due> = (MAX_AGENDA, ()),
        /// Approved proposals and the height their change holds from.
        pub scheduled: Vec<Due> = (MAX_AGENDA, ()),
    }
}

/// Where a proposal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Open = 0,
    /// Approved; the change holds from `max(effective_at, decided_at + 1)`.
    Approved = 1,
    Rejected = 2,
    Expired = 3,
    Applied = 4,
    /// Approved, but the consortium had changed so that it no longer applied.
    Failed = 5,
}

impl Status {
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Open,
            1 => Self::Approved,
            2 => Self::Rejected,
            3 => Self::Expired,
            4 => Self::Applied,
            5 => Self::Failed,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Applied => "applied",
            Self::Failed => "failed",
        }
    }
}

pub fn kind_byte(kind: OrgKind) -> u8 {
    match kind {
        OrgKind::Member => 0,
        OrgKind::Regulator => 1,
    }
}

pub fn kind_from_byte(b: u8) -> Option<OrgKind> {
    match b {
        0 => Some(OrgKind::Member),
        1 => Some(OrgKind::Regulator),
        _ => None,
    }
}

pub fn kind_name(kind: OrgKind) -> &'static str {
    match kind {
        OrgKind::Member => "member",
        OrgKind::Regulator => "regulator",
    }
}

impl OrgRecord {
    pub fn from_entry(e: &OrgEntry) -> Self {
        Self {
            name: e.name.clone(),
            kind: kind_byte(e.info.kind),
            weight: e.info.weight,
            cas: e
                .cas
                .iter()
                .map(|c| CaRecord {
                    der: bytes::Bytes::from(c.ca.der.clone()),
                    until: c.until,
                })
                .collect(),
        }
    }

    /// The entry, or `None` if a stored byte is out of range or a CA does
    /// not parse (damage: stored CAs were checked when proposed).
    pub fn to_entry(&self) -> Option<OrgEntry> {
        Some(OrgEntry {
            name: self.name.clone(),
            info: OrgInfo {
                kind: kind_from_byte(self.kind)?,
                weight: self.weight,
            },
            cas: self
                .cas
                .iter()
                .map(|c| {
                    Some(TrustedCa {
                        ca: ingot_crypto::CertInfo::from_der(&c.der).ok()?,
                        until: c.until,
                    })
                })
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

impl RulesRecord {
    pub fn from_rules(g: &Governance) -> Self {
        Self {
            participation_pct: g.participation_pct,
            approval_pct: g.approval_pct,
            proposal_ttl_blocks: g.proposal_ttl_blocks,
        }
    }

    /// The rules with `weights` (weights live in the organisations' records).
    pub fn to_rules(&self) -> Governance {
        Governance {
            participation_pct: self.participation_pct,
            approval_pct: self.approval_pct,
            proposal_ttl_blocks: self.proposal_ttl_blocks,
            weights: Default::default(),
        }
    }
}
