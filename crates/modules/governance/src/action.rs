//! What a proposal would change, its canonical bytes and JSON form, and the
//! checks a change must pass against the consortium as it stands.

use crate::records::{MAX_ACTION_BYTES, MAX_ADDRESS_LEN, MAX_OBSERVERS};
use bytes::{BufMut, Bytes};
use commonware_codec::{Buf, EncodeSize, Error, Read, ReadExt, Write};
use ingot_module::Consortium;
use ingot_types::{
    codec_util::Field,
    genesis::{MAX_PROPOSAL_TTL_BLOCKS, MAX_THRESHOLD_PCT, MAX_VOTE_WEIGHT, MIN_THRESHOLD_PCT},
    limits::{MAX_CERT_BYTES, MAX_NAME_LEN, MAX_ORGS},
    OrgKind,
};
use serde_json::{json, Value};

/// Modules whose deployments governance controls (`SetDeployers`).
pub const GATED_MODULES: &[&str] = &["workflow"];

/// A change the consortium votes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Admit an organisation with its CA (made anywhere: OpenSSL, an
    /// enterprise PKI) and vote weight.
    AddOrg {
        name: String,
        kind: OrgKind,
        ca: Bytes,
        weight: u32,
    },
    /// Remove an organisation: its certificates sign nothing from the next
    /// block on. Refused while it operates a validator.
    RemoveOrg { name: String },
    /// Replace an organisation's CA; certificates of the old one still count
    /// up to and including height `old_until` (devices in the field are not
    /// orphaned while they are re-issued).
    ReplaceCa {
        org: String,
        ca: Bytes,
        old_until: u64,
    },
    /// Change the thresholds and how long proposals stay open.
    SetRules {
        participation_pct: u8,
        approval_pct: u8,
        proposal_ttl_blocks: u64,
    },
    /// Change an organisation's vote weight.
    SetWeight { org: String, weight: u32 },
    /// Name the organisations that may deploy to a module (empty: all).
    SetDeployers { module: String, orgs: Vec<String> },
    /// Chain parameters (0: not set — each node's configuration, or the
    /// built-in limit): transactions an honest proposer puts in a block,
    /// the idle heartbeat, and the work one transaction may use.
    SetParams {
        max_block_txs: u32,
        idle_heartbeat_ms: u64,
        max_work_per_tx: u64,
    },
    /// Admit an observer node of `org`: validators accept its p2p key from
    /// the host of `p2p_address`, so it follows finalized blocks and serves
    /// its organisation's API. It never votes, and it holds every block.
    AddObserver {
        name: String,
        org: String,
        public_key: [u8; 32],
        p2p_address: String,
    },
    /// Withdraw an observer node's admission: validators drop its connection.
    RemoveObserver { public_key: [u8; 32] },
    /// Add a validator of `org`. Decided at height `h`, it votes from the
    /// epoch after next (`ingot_module::consortium::change_takes_effect`):
    /// the whole epoch between is its time to connect and catch up.
    AddValidator {
        name: String,
        org: String,
        public_key: [u8; 32],
        p2p_address: String,
    },
    /// Remove a validator: it stops voting from the same boundary an added
    /// one would start at.
    RemoveValidator { public_key: [u8; 32] },
    /// Replace a validator by a new key of the same organisation at one
    /// boundary (the set's size never changes, so its quorum does not).
    ReplaceValidator {
        old_public_key: [u8; 32],
        name: String,
        public_key: [u8; 32],
        p2p_address: String,
    },
}

/// Shortest and longest idle heartbeat a vote may set.
pub const MIN_HEARTBEAT_MS: u64 = 1_000;
pub const MAX_HEARTBEAT_MS: u64 = 3_600_000;

impl Action {
    /// The action's name in JSON, events and the API.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::AddOrg { .. } => "add_org",
            Action::RemoveOrg { .. } => "remove_org",
            Action::ReplaceCa { .. } => "replace_ca",
            Action::SetRules { .. } => "set_rules",
            Action::SetWeight { .. } => "set_weight",
            Action::SetDeployers { .. } => "set_deployers",
            Action::SetParams { .. } => "set_params",
            Action::AddObserver { .. } => "add_observer",
            Action::RemoveObserver { .. } => "remove_observer",
            Action::AddValidator { .. } => "add_validator",
            Action::RemoveValidator { .. } => "remove_validator",
            Action::ReplaceValidator { .. } => "replace_validator",
        }
    }

    /// Whether applying it changes the consortium (its organisations, CAs,
    /// weights, rules or chain parameters), which the executor then rebuilds.
    pub fn changes_consortium(&self) -> bool {
        !matches!(self, Action::SetDeployers { .. })
    }

    /// The organisation the action is about, if one.
    pub fn subject(&self) -> String {
        match self {
            Action::AddOrg { name, .. } | Action::RemoveOrg { name } => name.clone(),
            Action::ReplaceCa { org, .. } | Action::SetWeight { org, .. } => org.clone(),
            Action::SetRules { .. } | Action::SetParams { .. } => String::new(),
            Action::SetDeployers { module, .. } => module.clone(),
            Action::AddObserver { public_key, .. }
            | Action::RemoveObserver { public_key }
            | Action::AddValidator { public_key, .. }
            | Action::RemoveValidator { public_key }
            | Action::ReplaceValidator { public_key, .. } => hex::encode(public_key),
        }
    }
}

fn tag(a: &Action) -> u8 {
    match a {
        Action::AddOrg { .. } => 0,
        Action::RemoveOrg { .. } => 1,
        Action::ReplaceCa { .. } => 2,
        Action::SetRules { .. } => 3,
        Action::SetWeight { .. } => 4,
        Action::SetDeployers { .. } => 5,
        Action::SetParams { .. } => 6,
        Action::AddObserver { .. } => 7,
        Action::RemoveObserver { .. } => 8,
        Action::AddValidator { .. } => 9,
        Action::RemoveValidator { .. } => 10,
        Action::ReplaceValidator { .. } => 11,
    }
}

impl Write for Action {
    fn write(&self, buf: &mut impl BufMut) {
        tag(self).write(buf);
        match self {
            Action::AddOrg {
                name,
                kind,
                ca,
                weight,
            } => {
                name.write_field(buf);
                crate::records::kind_byte(*kind).write(buf);
                ca.write_field(buf);
                weight.write(buf);
            }
            Action::RemoveOrg { name } => name.write_field(buf),
            Action::ReplaceCa { org, ca, old_until } => {
                org.write_field(buf);
                ca.write_field(buf);
                old_until.write(buf);
            }
            Action::SetRules {
                participation_pct,
                approval_pct,
                proposal_ttl_blocks,
            } => {
                participation_pct.write(buf);
                approval_pct.write(buf);
                proposal_ttl_blocks.write(buf);
            }
            Action::SetWeight { org, weight } => {
                org.write_field(buf);
                weight.write(buf);
            }
            Action::SetDeployers { module, orgs } => {
                module.write_field(buf);
                orgs.write_field(buf);
            }
            Action::SetParams {
                max_block_txs,
                idle_heartbeat_ms,
                max_work_per_tx,
            } => {
                max_block_txs.write(buf);
                idle_heartbeat_ms.write(buf);
                max_work_per_tx.write(buf);
            }
            Action::AddObserver {
                name,
                org,
                public_key,
                p2p_address,
            } => {
                name.write_field(buf);
                org.write_field(buf);
                public_key.write(buf);
                p2p_address.write_field(buf);
            }
            Action::RemoveObserver { public_key } | Action::RemoveValidator { public_key } => {
                public_key.write(buf)
            }
            Action::AddValidator {
                name,
                org,
                public_key,
                p2p_address,
            } => {
                name.write_field(buf);
                org.write_field(buf);
                public_key.write(buf);
                p2p_address.write_field(buf);
            }
            Action::ReplaceValidator {
                old_public_key,
                name,
                public_key,
                p2p_address,
            } => {
                old_public_key.write(buf);
                name.write_field(buf);
                public_key.write(buf);
                p2p_address.write_field(buf);
            }
        }
    }
}

impl EncodeSize for Action {
    fn encode_size(&self) -> usize {
        let mut v = Vec::new();
        self.write(&mut v);
        v.len()
    }
}

impl Read for Action {
    type Cfg = ();
    fn read_cfg(buf: &mut impl Buf, _: &()) -> Result<Self, Error> {
        Ok(match u8::read(buf)? {
            0 => Action::AddOrg {
                name: String::read_field(buf, MAX_NAME_LEN)?,
                kind: crate::records::kind_from_byte(u8::read(buf)?)
                    .ok_or(Error::Invalid("Action", "organisation kind"))?,
                ca: Bytes::read_field(buf, MAX_CERT_BYTES)?,
                weight: u32::read(buf)?,
            },
            1 => Action::RemoveOrg {
                name: String::read_field(buf, MAX_NAME_LEN)?,
            },
            2 => Action::ReplaceCa {
                org: String::read_field(buf, MAX_NAME_LEN)?,
                ca: Bytes::read_field(buf, MAX_CERT_BYTES)?,
                old_until: u64::read(buf)?,
            },
            3 => Action::SetRules {
                participation_pct: u8::read(buf)?,
                approval_pct: u8::read(buf)?,
                proposal_ttl_blocks: u64::read(buf)?,
            },
            4 => Action::SetWeight {
                org: String::read_field(buf, MAX_NAME_LEN)?,
                weight: u32::read(buf)?,
            },
            5 => Action::SetDeployers {
                module: String::read_field(buf, MAX_NAME_LEN)?,
                orgs: Vec::<String>::read_field(buf, (MAX_ORGS, MAX_NAME_LEN))?,
            },
            6 => Action::SetParams {
                max_block_txs: u32::read(buf)?,
                idle_heartbeat_ms: u64::read(buf)?,
                max_work_per_tx: u64::read(buf)?,
            },
            7 => Action::AddObserver {
                name: String::read_field(buf, MAX_NAME_LEN)?,
                org: String::read_field(buf, MAX_NAME_LEN)?,
                public_key: <[u8; 32]>::read(buf)?,
                p2p_address: String::read_field(buf, MAX_ADDRESS_LEN)?,
            },
            8 => Action::RemoveObserver {
                public_key: <[u8; 32]>::read(buf)?,
            },
            9 => Action::AddValidator {
                name: String::read_field(buf, MAX_NAME_LEN)?,
                org: String::read_field(buf, MAX_NAME_LEN)?,
                public_key: <[u8; 32]>::read(buf)?,
                p2p_address: String::read_field(buf, MAX_ADDRESS_LEN)?,
            },
            10 => Action::RemoveValidator {
                public_key: <[u8; 32]>::read(buf)?,
            },
            11 => Action::ReplaceValidator {
                old_public_key: <[u8; 32]>::read(buf)?,
                name: String::read_field(buf, MAX_NAME_LEN)?,
                public_key: <[u8; 32]>::read(buf)?,
                p2p_address: String::read_field(buf, MAX_ADDRESS_LEN)?,
            },
            _ => return Err(Error::Invalid("Action", "unknown kind")),
        })
    }
}

const _: () = assert!(MAX_ACTION_BYTES >= 1 + 5 + MAX_NAME_LEN + 5 + MAX_CERT_BYTES + 8);
const _: () = assert!(MAX_ACTION_BYTES >= 1 + 2 * (5 + MAX_NAME_LEN) + 32 + 5 + MAX_ADDRESS_LEN);

/// Whether `address` is `host:port` (a DNS name, an IPv4 address or a
/// bracketed IPv6 address, and a port 1..=65535). Checked by syntax only:
/// name resolution differs from node to node and must not decide a block.
pub fn valid_p2p_address(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    let port_ok = port.parse::<u16>().is_ok_and(|p| p > 0) && !port.starts_with('+');
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    address.len() <= MAX_ADDRESS_LEN && port_ok && host_ok
}

/// Why an action cannot be applied to the consortium as it stands (the
/// failure's `reason`; stable words, no library text).
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(reason.into()))
}

/// An organisation name: 1..=32 ASCII letters, digits, `-` or `_`, so it is
/// a certificate's O, a device namespace and a path segment alike.
pub fn valid_org_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_weight(weight: u32) -> Result<(), Refusal> {
    if weight == 0 || weight > MAX_VOTE_WEIGHT {
        return refuse(format!("weight must be 1..={MAX_VOTE_WEIGHT}"));
    }
    Ok(())
}

fn check_ca(org: &str, der: &[u8]) -> Result<ingot_crypto::CertInfo, Refusal> {
    let ca = ingot_crypto::CertInfo::from_der(der)
        .map_err(|_| Refusal("the CA certificate does not parse".into()))?;
    ingot_crypto::check_ca(org, &ca).map_err(|_| {
        Refusal(format!(
            "the CA must be a self-signed CA certificate with O={org}"
        ))
    })?;
    Ok(ca)
}

/// Check `action` against `consortium` at `height` (when `proposing`, and
/// again when applied: the consortium may have changed in between).
pub fn check(
    action: &Action,
    consortium: &Consortium,
    height: u64,
    proposing: bool,
) -> Result<(), Refusal> {
    let known = |org: &str| -> Result<(), Refusal> {
        if consortium.org(org).is_none() {
            return refuse(format!("no organisation {org}"));
        }
        Ok(())
    };
    match action {
        Action::AddOrg {
            name, ca, weight, ..
        } => {
            if !valid_org_name(name) {
                return refuse("an organisation name is 1 to 32 letters, digits, `-` or `_`");
            }
            let lower = name.to_lowercase();
            if consortium.orgs().keys().any(|o| o.to_lowercase() == lower) {
                return refuse(format!("organisation {name} exists"));
            }
            if consortium.orgs().len() >= MAX_ORGS {
                return refuse(format!("the consortium has {MAX_ORGS} organisations"));
            }
            check_weight(*weight)?;
            check_ca(name, ca)?;
        }
        Action::RemoveOrg { name } => {
            known(name)?;
            if consortium.operates_validator(name) {
                return refuse(format!(
                    "{name} operates a validator; remove it first (remove_validator)"
                ));
            }
            if consortium.operates_observer(name) {
                return refuse(format!(
                    "{name} operates an observer node; remove it first (remove_observer)"
                ));
            }
            if consortium.orgs().len() == 1 {
                return refuse("the last organisation cannot be removed");
            }
        }
        Action::ReplaceCa { org, ca, old_until } => {
            known(org)?;
            // Applied after `old_until`, the old CA simply ends at once.
            if proposing && *old_until < height {
                return refuse(format!("old_until {old_until} is before height {height}"));
            }
            let new = check_ca(org, ca)?;
            if consortium.cas(org).iter().any(|c| c.der == new.der) {
                return refuse("that CA is already trusted");
            }
            // A fourth would cut a rotated CA's grace period short.
            if consortium.cas(org).len() >= crate::records::MAX_CAS_PER_ORG {
                return refuse(format!(
                    "{org} already has {} CAs trusted; wait until an old one's grace period ends",
                    crate::records::MAX_CAS_PER_ORG
                ));
            }
        }
        Action::SetRules {
            participation_pct,
            approval_pct,
            proposal_ttl_blocks,
        } => {
            let pct = MIN_THRESHOLD_PCT..=MAX_THRESHOLD_PCT;
            if !pct.contains(participation_pct) || !pct.contains(approval_pct) {
                return refuse("thresholds are 1..=100 percent");
            }
            if *proposal_ttl_blocks == 0 || *proposal_ttl_blocks > MAX_PROPOSAL_TTL_BLOCKS {
                return refuse(format!(
                    "proposal_ttl_blocks must be 1..={MAX_PROPOSAL_TTL_BLOCKS}"
                ));
            }
        }
        Action::SetWeight { org, weight } => {
            known(org)?;
            check_weight(*weight)?;
        }
        Action::SetParams {
            max_block_txs,
            idle_heartbeat_ms,
            max_work_per_tx,
        } => {
            use ingot_types::limits::{MAX_BLOCK_TXS, MAX_WORK_PER_TX, MIN_GOVERNED_WORK_PER_TX};
            if *max_block_txs as usize > MAX_BLOCK_TXS {
                return refuse(format!(
                    "max_block_txs is at most {MAX_BLOCK_TXS} (0: each node's own)"
                ));
            }
            if *idle_heartbeat_ms != 0
                && !(MIN_HEARTBEAT_MS..=MAX_HEARTBEAT_MS).contains(idle_heartbeat_ms)
            {
                return refuse(format!(
                    "idle_heartbeat_ms is {MIN_HEARTBEAT_MS}..={MAX_HEARTBEAT_MS} (0: each node's own)"
                ));
            }
            if *max_work_per_tx != 0
                && !(MIN_GOVERNED_WORK_PER_TX..=MAX_WORK_PER_TX).contains(max_work_per_tx)
            {
                return refuse(format!(
                    "max_work_per_tx is {MIN_GOVERNED_WORK_PER_TX}..={MAX_WORK_PER_TX} (0: the built-in limit)"
                ));
            }
        }
        Action::SetDeployers { module, orgs } => {
            if !GATED_MODULES.contains(&module.as_str()) {
                return refuse(format!(
                    "deployments to {module} are not governed (governed: {})",
                    GATED_MODULES.join(", ")
                ));
            }
            for org in orgs {
                known(org)?;
            }
        }
        Action::AddObserver {
            name,
            org,
            public_key,
            p2p_address,
        } => {
            known(org)?;
            if !valid_org_name(name) {
                return refuse("an observer name is 1 to 32 letters, digits, `-` or `_`");
            }
            if ingot_crypto::PublicKey::ed25519_strict_from_raw(public_key).is_err() {
                return refuse(
                    "public_key is not a usable Ed25519 public key (canonical, not of small order)",
                );
            }
            if consortium.validator(public_key).is_some() {
                return refuse("that key is a validator's");
            }
            if consortium.observers().contains_key(public_key) {
                return refuse("that observer is admitted already");
            }
            if consortium.observers().values().any(|o| &o.name == name) {
                return refuse(format!("an observer named {name} is admitted already"));
            }
            if consortium
                .validator_registry()
                .values()
                .any(|v| &v.name == name)
            {
                return refuse(format!("{name} names a validator"));
            }
            if !valid_p2p_address(p2p_address) {
                return refuse(
                    "p2p_address is host:port (a DNS name, an IPv4 address or [IPv6]; port 1..=65535)",
                );
            }
            if consortium.observers().len() >= MAX_OBSERVERS {
                return refuse(format!(
                    "the consortium has {MAX_OBSERVERS} observer nodes, the most it admits; withdraw one first"
                ));
            }
        }
        Action::RemoveObserver { public_key } => {
            if !consortium.observers().contains_key(public_key) {
                return refuse("no observer node has that key");
            }
        }
        Action::AddValidator {
            name,
            org,
            public_key,
            p2p_address,
        } => {
            known(org)?;
            check_validator_change(consortium, height)?;
            check_new_validator(consortium, name, public_key, p2p_address)?;
            // Nodes size their peer sets for this many at start.
            let genesis = consortium
                .validator_registry()
                .values()
                .filter(|v| v.added_at == 0)
                .count();
            let most = genesis.max(crate::records::MAX_VOTED_VALIDATORS);
            if consortium.validators().len() >= most {
                return refuse(format!(
                    "the consortium has {most} validators, the most a vote may make it run"
                ));
            }
        }
        Action::RemoveValidator { public_key } => {
            check_validator_change(consortium, height)?;
            if consortium.validator(public_key).is_none() {
                return refuse("no validator has that key");
            }
            if consortium.validators().len() == 1 {
                return refuse("the last validator cannot be removed");
            }
        }
        Action::ReplaceValidator {
            old_public_key,
            name,
            public_key,
            p2p_address,
        } => {
            check_validator_change(consortium, height)?;
            if consortium.validator(old_public_key).is_none() {
                return refuse("no validator has the old key");
            }
            check_new_validator(consortium, name, public_key, p2p_address)?;
        }
    }
    Ok(())
}

/// Validator changes need epochs, and one at a time: a change waits until
/// the previous one has taken effect, so at every boundary at most one
/// validator is new to the set (a quorum never depends on two joiners).
fn check_validator_change(consortium: &Consortium, height: u64) -> Result<(), Refusal> {
    if consortium.epoch_length() == u64::MAX {
        return refuse(
            "this chain runs one epoch (genesis has no epoch_length): its validator set is fixed",
        );
    }
    if consortium.validator_change_pending(height) {
        return refuse(
            "another validator change has not taken effect yet; propose this one after its epoch boundary",
        );
    }
    Ok(())
}

/// A validator key and name never seen, and an address validators can dial.
fn check_new_validator(
    consortium: &Consortium,
    name: &str,
    public_key: &[u8; 32],
    p2p_address: &str,
) -> Result<(), Refusal> {
    if !valid_org_name(name) {
        return refuse("a validator name is 1 to 32 letters, digits, `-` or `_`");
    }
    if ingot_crypto::PublicKey::ed25519_strict_from_raw(public_key).is_err() {
        return refuse(
            "public_key is not a usable Ed25519 public key (canonical, not of small order)",
        );
    }
    let registry = consortium.validator_registry();
    // A key is a validator once: the history of who signed when stays unambiguous.
    if registry.contains_key(public_key) {
        return refuse("that key is, or was, a validator's");
    }
    if consortium.observers().contains_key(public_key) {
        return refuse("that key is an observer node's");
    }
    if registry
        .values()
        .any(|v| v.name == name && v.removed_at.is_none())
        || consortium.observers().values().any(|o| o.name == name)
    {
        return refuse(format!("a node named {name} exists"));
    }
    if !valid_p2p_address(p2p_address) {
        return refuse(
            "p2p_address is host:port (a DNS name, an IPv4 address or [IPv6]; port 1..=65535)",
        );
    }
    if registry.len() >= crate::records::MAX_VALIDATOR_RECORDS {
        return refuse(format!(
            "the registry holds {} validators ever decided, the most it keeps",
            crate::records::MAX_VALIDATOR_RECORDS
        ));
    }
    Ok(())
}

fn str_field<'a>(v: &'a Value, f: &str) -> Result<&'a str, String> {
    v.get(f)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string field `{f}`"))
}

fn u64_field(v: &Value, f: &str) -> Result<u64, String> {
    v.get(f)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("missing integer field `{f}`"))
}

fn small<T: TryFrom<u64>>(v: &Value, f: &str) -> Result<T, String> {
    T::try_from(u64_field(v, f)?).map_err(|_| format!("`{f}` is out of range"))
}

fn key_field(v: &Value) -> Result<[u8; 32], String> {
    named_key_field(v, "public_key")
}

fn named_key_field(v: &Value, f: &str) -> Result<[u8; 32], String> {
    hex::decode(str_field(v, f)?)
        .ok()
        .and_then(|raw| <[u8; 32]>::try_from(raw).ok())
        .ok_or_else(|| format!("`{f}` is 64 hex digits (a raw Ed25519 key)"))
}

fn ca_der(v: &Value) -> Result<Bytes, String> {
    let pem = str_field(v, "ca_pem")?;
    let info = ingot_crypto::CertInfo::from_pem(pem).map_err(|e| format!("`ca_pem`: {e}"))?;
    Ok(Bytes::from(info.der))
}

/// Fields each kind takes, so a misspelt field is an error rather than ignored.
fn fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "add_org" => &["kind", "name", "org_kind", "ca_pem", "weight"],
        "remove_org" => &["kind", "name"],
        "replace_ca" => &["kind", "org", "ca_pem", "old_until"],
        "set_rules" => &[
            "kind",
            "participation_pct",
            "approval_pct",
            "proposal_ttl_blocks",
        ],
        "set_weight" => &["kind", "org", "weight"],
        "set_deployers" => &["kind", "module", "orgs"],
        "add_observer" => &["kind", "name", "org", "public_key", "p2p_address"],
        "remove_observer" => &["kind", "public_key"],
        "add_validator" => &["kind", "name", "org", "public_key", "p2p_address"],
        "remove_validator" => &["kind", "public_key"],
        "replace_validator" => &[
            "kind",
            "old_public_key",
            "name",
            "public_key",
            "p2p_address",
        ],
        "set_params" => &[
            "kind",
            "max_block_txs",
            "idle_heartbeat_ms",
            "max_work_per_tx",
        ],
        _ => return None,
    })
}

impl Action {
    /// From its JSON form: `{"kind": "add_org", ...}`.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let kind = str_field(v, "kind")?;
        let allowed = match fields(kind) {
            Some(f) => f,
            None => {
                return Err(format!(
                    "unknown action kind `{kind}` (add_org, remove_org, replace_ca, set_rules, set_weight, set_deployers, set_params, add_observer, remove_observer, add_validator, remove_validator, replace_validator)"
                ))
            }
        };
        if let Some(obj) = v.as_object() {
            if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(format!(
                    "`{kind}` has no field `{extra}` (fields: {})",
                    allowed.join(", ")
                ));
            }
        }
        Ok(match kind {
            "add_org" => Action::AddOrg {
                name: str_field(v, "name")?.to_string(),
                kind: match v
                    .get("org_kind")
                    .and_then(Value::as_str)
                    .unwrap_or("member")
                {
                    "member" => OrgKind::Member,
                    "regulator" => OrgKind::Regulator,
                    other => return Err(format!("`org_kind` is member or regulator, not {other}")),
                },
                ca: ca_der(v)?,
                weight: if v.get("weight").is_some() {
                    small(v, "weight")?
                } else {
                    1
                },
            },
            "remove_org" => Action::RemoveOrg {
                name: str_field(v, "name")?.to_string(),
            },
            "replace_ca" => Action::ReplaceCa {
                org: str_field(v, "org")?.to_string(),
                ca: ca_der(v)?,
                old_until: u64_field(v, "old_until")?,
            },
            "set_rules" => Action::SetRules {
                participation_pct: small(v, "participation_pct")?,
                approval_pct: small(v, "approval_pct")?,
                proposal_ttl_blocks: u64_field(v, "proposal_ttl_blocks")?,
            },
            "set_weight" => Action::SetWeight {
                org: str_field(v, "org")?.to_string(),
                weight: small(v, "weight")?,
            },
            "set_params" => {
                let opt = |f: &str| -> Result<u64, String> {
                    match v.get(f) {
                        None => Ok(0),
                        Some(x) => x
                            .as_u64()
                            .ok_or_else(|| format!("`{f}` is a non-negative integer")),
                    }
                };
                Action::SetParams {
                    max_block_txs: u32::try_from(opt("max_block_txs")?)
                        .map_err(|_| "`max_block_txs` is out of range".to_string())?,
                    idle_heartbeat_ms: opt("idle_heartbeat_ms")?,
                    max_work_per_tx: opt("max_work_per_tx")?,
                }
            }
            "add_observer" => Action::AddObserver {
                name: str_field(v, "name")?.to_string(),
                org: str_field(v, "org")?.to_string(),
                public_key: key_field(v)?,
                p2p_address: str_field(v, "p2p_address")?.to_string(),
            },
            "remove_observer" => Action::RemoveObserver {
                public_key: key_field(v)?,
            },
            "add_validator" => Action::AddValidator {
                name: str_field(v, "name")?.to_string(),
                org: str_field(v, "org")?.to_string(),
                public_key: key_field(v)?,
                p2p_address: str_field(v, "p2p_address")?.to_string(),
            },
            "remove_validator" => Action::RemoveValidator {
                public_key: key_field(v)?,
            },
            "replace_validator" => Action::ReplaceValidator {
                old_public_key: named_key_field(v, "old_public_key")?,
                name: str_field(v, "name")?.to_string(),
                public_key: key_field(v)?,
                p2p_address: str_field(v, "p2p_address")?.to_string(),
            },
            _ => Action::SetDeployers {
                module: str_field(v, "module")?.to_string(),
                orgs: v
                    .get("orgs")
                    .and_then(Value::as_array)
                    .ok_or("missing array field `orgs`")?
                    .iter()
                    .map(|o| o.as_str().map(str::to_string).ok_or("`orgs` holds names"))
                    .collect::<Result<_, _>>()?,
            },
        })
    }

    /// Its JSON form (a CA as its hash: the certificate itself is in the
    /// transaction and the organisation's record).
    pub fn to_json(&self) -> Value {
        let ca_hash = |ca: &Bytes| hex::encode(ingot_crypto::cert_hash(ca));
        match self {
            Action::AddOrg {
                name,
                kind,
                ca,
                weight,
            } => json!({
                "kind": self.kind(), "name": name, "org_kind": crate::records::kind_name(*kind),
                "ca_hash": ca_hash(ca), "weight": weight,
            }),
            Action::RemoveOrg { name } => json!({"kind": self.kind(), "name": name}),
            Action::ReplaceCa { org, ca, old_until } => json!({
                "kind": self.kind(), "org": org, "ca_hash": ca_hash(ca), "old_until": old_until,
            }),
            Action::SetRules {
                participation_pct,
                approval_pct,
                proposal_ttl_blocks,
            } => json!({
                "kind": self.kind(), "participation_pct": participation_pct,
                "approval_pct": approval_pct, "proposal_ttl_blocks": proposal_ttl_blocks,
            }),
            Action::SetWeight { org, weight } => {
                json!({"kind": self.kind(), "org": org, "weight": weight})
            }
            Action::SetDeployers { module, orgs } => {
                json!({"kind": self.kind(), "module": module, "orgs": orgs})
            }
            Action::AddObserver {
                name,
                org,
                public_key,
                p2p_address,
            } => json!({
                "kind": self.kind(), "name": name, "org": org,
                "public_key": hex::encode(public_key), "p2p_address": p2p_address,
            }),
            Action::RemoveObserver { public_key } | Action::RemoveValidator { public_key } => {
                json!({"kind": self.kind(), "public_key": hex::encode(public_key)})
            }
            Action::AddValidator {
                name,
                org,
                public_key,
                p2p_address,
            } => json!({
                "kind": self.kind(), "name": name, "org": org,
                "public_key": hex::encode(public_key), "p2p_address": p2p_address,
            }),
            Action::ReplaceValidator {
                old_public_key,
                name,
                public_key,
                p2p_address,
            } => json!({
                "kind": self.kind(), "old_public_key": hex::encode(old_public_key), "name": name,
                "public_key": hex::encode(public_key), "p2p_address": p2p_address,
            }),
            Action::SetParams {
                max_block_txs,
                idle_heartbeat_ms,
                max_work_per_tx,
            } => json!({
                "kind": self.kind(), "max_block_txs": max_block_txs,
                "idle_heartbeat_ms": idle_heartbeat_ms, "max_work_per_tx": max_work_per_tx,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p2p_addresses_are_host_and_port_by_syntax_alone() {
        for ok in [
            "10.0.0.9:30310",
            "archive.acme.example:9000",
            "[2001:db8::1]:30300",
            "localhost:1",
        ] {
            assert!(valid_p2p_address(ok), "{ok}");
        }
        for bad in [
            "",
            "10.0.0.9",
            "10.0.0.9:0",
            "10.0.0.9:65536",
            "10.0.0.9:+80",
            ":30300",
            "archive acme:30300",
            "2001:db8::1:30300",
            "[not-ipv6]:30300",
            "host_name:30300",
        ] {
            assert!(!valid_p2p_address(bad), "{bad}");
        }
        let long = format!("{}:1", "a".repeat(254));
        assert!(!valid_p2p_address(&long));
    }

    #[test]
    fn observer_actions_round_trip_through_bytes_and_json() {
        use commonware_codec::{DecodeExt, Encode};
        let add = Action::AddObserver {
            name: "acme-archive".into(),
            org: "acme".into(),
            public_key: [7; 32],
            p2p_address: "10.0.0.9:30310".into(),
        };
        let remove = Action::RemoveObserver {
            public_key: [7; 32],
        };
        for a in [add, remove] {
            assert_eq!(Action::decode(a.encode()).unwrap(), a);
            assert_eq!(Action::from_json(&a.to_json()).unwrap(), a);
        }
    }

    #[test]
    fn validator_actions_round_trip_through_bytes_and_json() {
        use commonware_codec::{DecodeExt, Encode};
        let actions = [
            Action::AddValidator {
                name: "forge-v2".into(),
                org: "forge".into(),
                public_key: [9; 32],
                p2p_address: "10.0.0.12:30300".into(),
            },
            Action::RemoveValidator {
                public_key: [9; 32],
            },
            Action::ReplaceValidator {
                old_public_key: [9; 32],
                name: "forge-v3".into(),
                public_key: [10; 32],
                p2p_address: "forge.example:30300".into(),
            },
        ];
        for a in actions {
            assert_eq!(Action::decode(a.encode()).unwrap(), a);
            assert_eq!(Action::from_json(&a.to_json()).unwrap(), a);
        }
    }
}
