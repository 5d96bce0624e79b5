//! Who may read what (DESIGN.md decision 8): the read model, decided once per
//! module and applied by the node to every path that can show a datum —
//! raw state, proofs, blocks, transactions, receipts, events.
//!
//! Each module declares, next to its state layout, the [`Rule`] of each key
//! prefix it owns (`KEYS`, collected in [`MODULE_KEYS`]) and the audience of
//! the content of its calls (`call_audience`) and of its events
//! (`event_audience`). A key no module owns is readable by nobody but
//! regulators. Anonymous callers see only what is [`Audience::Public`].
//!
//! An audience is computed from chain data alone (current state, the call,
//! its receipt), never from the API route that asks, so the same datum has
//! the same readers on every path.

use crate::modules::{access, device, identity, notary, telemetry, workflow};
use ingot_state::StateError;
use ingot_types::{Call, Event};
use std::collections::BTreeSet;

/// Read access to the current world state (the node's authenticated store).
pub trait StateRead: Sync {
    fn get(
        &self,
        key: &[u8],
    ) -> impl std::future::Future<Output = Result<Option<Vec<u8>>, StateError>> + Send;
}

impl<E> StateRead for ingot_state::StateStore<E>
where
    E: commonware_runtime::Storage
        + commonware_runtime::Clock
        + commonware_runtime::Metrics
        + commonware_runtime::Spawner,
{
    fn get(
        &self,
        key: &[u8],
    ) -> impl std::future::Future<Output = Result<Option<Vec<u8>>, StateError>> + Send {
        ingot_state::StateStore::get(self, key)
    }
}

/// An authenticated caller, as the read model sees it.
#[derive(Clone, Debug)]
pub struct Reader {
    pub org: String,
    pub cert_hash: [u8; 32],
    /// A member of an organisation of kind `regulator` in genesis.
    pub regulator: bool,
    /// Set for device certificates: devices are not members and read only
    /// what is public or names them.
    pub device: Option<String>,
}

/// Who may read a datum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Everyone, anonymous callers included.
    Public,
    /// Every authenticated member of the consortium (not devices).
    Members,
    /// Only the named parties (and regulators where it says so).
    Parties(Parties),
}

/// The parties of a datum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parties {
    /// Every member of these organisations.
    pub orgs: BTreeSet<String>,
    /// These members (certificate hashes).
    pub members: BTreeSet<[u8; 32]>,
    /// These devices (their ids).
    pub devices: BTreeSet<String>,
    /// Regulators too.
    pub regulators: bool,
    /// Holders of an `access` policy granting this operation on this device.
    pub grantees: Option<(String, &'static str)>,
}

impl Parties {
    /// Only regulators (keys that are a module's internal bookkeeping).
    pub fn regulators_only() -> Self {
        Self {
            regulators: true,
            ..Self::default()
        }
    }

    /// One organisation and the regulators.
    pub fn org_and_regulators(org: impl Into<String>) -> Self {
        Self {
            orgs: [org.into()].into(),
            regulators: true,
            ..Self::default()
        }
    }
}

impl Audience {
    /// Readable by regulators only.
    pub fn regulators_only() -> Self {
        Audience::Parties(Parties::regulators_only())
    }

    /// Whether `reader` (None: anonymous) may read, without looking at
    /// grants; `Undecided` means: only if an access policy grants it.
    pub fn admits(&self, reader: Option<&Reader>) -> Admission {
        let Some(r) = reader else {
            return if *self == Audience::Public {
                Admission::Yes
            } else {
                Admission::No
            };
        };
        match self {
            Audience::Public => Admission::Yes,
            Audience::Members => {
                if r.device.is_none() {
                    Admission::Yes
                } else {
                    Admission::No
                }
            }
            Audience::Parties(p) => {
                let named = match &r.device {
                    Some(id) => p.devices.contains(id),
                    None => {
                        p.orgs.contains(&r.org)
                            || p.members.contains(&r.cert_hash)
                            || (p.regulators && r.regulator)
                    }
                };
                match (&p.grantees, named) {
                    (_, true) => Admission::Yes,
                    (Some((device, op)), false) => Admission::IfGranted(device.clone(), op),
                    (None, false) => Admission::No,
                }
            }
        }
    }
}

/// The answer of [`Audience::admits`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    Yes,
    No,
    /// Yes if an access policy grants the reader this operation on this device.
    IfGranted(String, &'static str),
}

/// Whether `reader` may read a datum of `audience`, consulting access
/// policies (at wall-clock `now_ms`, outside consensus) where it must.
pub async fn may_read<S: StateRead>(
    state: &S,
    audience: &Audience,
    reader: Option<&Reader>,
    identity: Option<&ingot_crypto::Identity>,
    now_ms: u64,
) -> Result<bool, StateError> {
    match audience.admits(reader) {
        Admission::Yes => Ok(true),
        Admission::No => Ok(false),
        Admission::IfGranted(device_id, operation) => match identity {
            Some(who) => access::grants(state, &device_id, who, operation, now_ms).await,
            None => Ok(false),
        },
    }
}

/// Where a key names the record it belongs to, after its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdAt {
    /// The whole rest of the key (`device/rec/<id>`).
    Whole,
    /// All but the last `/` segment (`device/hist/<id>/<seq>`).
    BeforeLastSegment,
}

impl IdAt {
    fn id(self, rest: &str) -> &str {
        match self {
            IdAt::Whole => rest,
            IdAt::BeforeLastSegment => rest.rsplit_once('/').map_or(rest, |(id, _)| id),
        }
    }
}

/// Who may read the keys under a prefix. The permission-matrix test holds an
/// independent truth table for every rule, so a new rule needs a new row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, anonymous callers included.
    Public,
    /// Every member of the consortium.
    Members,
    /// Regulators only (a module's bookkeeping).
    RegulatorsOnly,
    /// The named device's owner organisation and regulators.
    DeviceOwner(IdAt),
    /// The device's owner, regulators and grantees of `telemetry.read` on it.
    Telemetry(IdAt),
    /// An access policy's grantor, accessor and regulators.
    Policy,
    /// A one-time token's requester and the device's owner only.
    Token,
    /// The owner of a telemetry rule's target and regulators.
    RuleTarget,
    /// A workflow instance's participants, its starter and regulators.
    Instance(IdAt),
}

/// One key prefix a module owns and the rule its keys are read under.
#[derive(Clone, Copy, Debug)]
pub struct KeyDecl {
    pub prefix: &'static str,
    pub rule: Rule,
}

impl KeyDecl {
    pub const fn new(prefix: &'static str, rule: Rule) -> Self {
        Self { prefix, rule }
    }
}

/// Every module's key declarations: the registry of who reads what.
pub const MODULE_KEYS: &[&[KeyDecl]] = &[
    identity::KEYS,
    notary::KEYS,
    device::KEYS,
    access::KEYS,
    telemetry::KEYS,
    workflow::KEYS,
];

/// The declaration a key falls under (the longest matching prefix), if any.
pub fn declaration_of(key: &str) -> Option<&'static KeyDecl> {
    MODULE_KEYS
        .iter()
        .flat_map(|m| m.iter())
        .filter(|d| key.starts_with(d.prefix))
        .max_by_key(|d| d.prefix.len())
}

/// The audience of a state key, by the rule its owning module declared;
/// keys no module declares are for regulators only.
pub async fn key_audience<S: StateRead>(state: &S, key: &str) -> Result<Audience, StateError> {
    let Some(decl) = declaration_of(key) else {
        return Ok(Audience::regulators_only());
    };
    let rest = &key[decl.prefix.len()..];
    Ok(match decl.rule {
        Rule::Public => Audience::Public,
        Rule::Members => Audience::Members,
        Rule::RegulatorsOnly => Audience::regulators_only(),
        Rule::DeviceOwner(at) => {
            Audience::Parties(device::owner_audience(state, at.id(rest)).await?)
        }
        Rule::Telemetry(at) => {
            let id = at.id(rest);
            let mut parties = device::owner_audience(state, id).await?;
            parties.grantees = Some((id.to_string(), telemetry::READ_OPERATION));
            Audience::Parties(parties)
        }
        Rule::Policy => access::policy_audience(state, key).await?,
        Rule::Token => match hex::decode(rest)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
        {
            Some(id) => Audience::Parties(access::token_parties(state, &id).await?),
            None => Audience::Parties(Parties::default()),
        },
        Rule::RuleTarget => Audience::Parties(telemetry::rule_target_audience(state, rest).await?),
        Rule::Instance(at) => workflow::instance_audience(state, at.id(rest)).await?,
    })
}

/// What a call's content (arguments, events, keys touched) is: the module's
/// rule given the call, its sender and its receipt's events.
pub async fn call_audience<S: StateRead>(
    state: &S,
    call: &Call,
    sender: &ingot_crypto::Identity,
    events: &[Event],
) -> Result<Audience, StateError> {
    Ok(match call.module.as_str() {
        identity::NAME | notary::NAME => Audience::Members,
        access::NAME => access::call_audience(call, sender, events),
        workflow::NAME => workflow::call_audience(state, call, sender).await?,
        // device, telemetry and anything else: the sender's organisation, the
        // owners its events name, regulators.
        _ => Audience::Parties(sender_and_owners(sender, events)),
    })
}

/// The audience of one event, by its module's rule.
pub async fn event_audience<S: StateRead>(
    state: &S,
    event: &Event,
) -> Result<Audience, StateError> {
    Ok(match event.module.as_str() {
        identity::NAME | notary::NAME => Audience::Members,
        access::NAME => access::event_audience(event),
        workflow::NAME => workflow::event_audience(state, event).await?,
        // device and telemetry events name the device's owner.
        _ => match attribute(event, "owner") {
            Some(owner) => Audience::Parties(Parties::org_and_regulators(owner)),
            None => Audience::regulators_only(),
        },
    })
}

/// The sender's organisation, every organisation the events name as `owner`
/// (or `from`/`to` of a transfer), and regulators.
pub fn sender_and_owners(sender: &ingot_crypto::Identity, events: &[Event]) -> Parties {
    let mut p = Parties::org_and_regulators(sender.org.clone());
    if sender.device.is_some() {
        // A device's own calls: its owner reads them (named in the events).
        p.orgs.clear();
        p.members.insert(sender.cert_hash);
    }
    for e in events {
        for (k, v) in &e.attributes {
            if matches!(k.as_str(), "owner" | "from_org" | "to_org") && !v.is_empty() {
                p.orgs.insert(v.clone());
            }
        }
    }
    p
}

/// The value of an event attribute.
pub fn attribute<'a>(event: &'a Event, name: &str) -> Option<&'a str> {
    event
        .attributes
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key layout a module writes (a `"<module>/<kind>/` literal in its
    /// source) is declared, and declarations are well formed: a new prefix
    /// without a read rule fails here instead of becoming readable by nobody
    /// or leaking.
    #[test]
    fn every_written_prefix_is_declared() {
        let sources = [
            include_str!("modules/identity.rs"),
            include_str!("modules/notary.rs"),
            include_str!("modules/device.rs"),
            include_str!("modules/access.rs"),
            include_str!("modules/telemetry/mod.rs"),
            include_str!("modules/telemetry/rules.rs"),
            include_str!("modules/workflow.rs"),
        ];
        let modules = [
            identity::NAME,
            notary::NAME,
            device::NAME,
            access::NAME,
            telemetry::NAME,
            workflow::NAME,
        ];
        let mut found = 0;
        for src in sources {
            for (i, _) in src.match_indices('"') {
                let lit = &src[i + 1..];
                let Some((module, rest)) = lit.split_once('/') else {
                    continue;
                };
                if !modules.contains(&module) {
                    continue;
                }
                let kind: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase())
                    .collect();
                if kind.is_empty() || !rest[kind.len()..].starts_with('/') {
                    continue;
                }
                let prefix = format!("{module}/{kind}/");
                found += 1;
                assert!(
                    MODULE_KEYS
                        .iter()
                        .flat_map(|m| m.iter())
                        .any(|d| d.prefix == prefix),
                    "{prefix} is written but has no read rule in its module's KEYS"
                );
            }
        }
        assert!(found >= 30, "the scan found only {found} key literals");
        let mut seen = std::collections::BTreeSet::new();
        for (decls, module) in MODULE_KEYS.iter().zip(modules) {
            for d in decls.iter() {
                assert!(
                    d.prefix.starts_with(&format!("{module}/")) && d.prefix.ends_with('/'),
                    "{}",
                    d.prefix
                );
                assert!(seen.insert(d.prefix), "{} declared twice", d.prefix);
            }
        }
    }

    #[test]
    fn the_longest_prefix_decides() {
        assert_eq!(
            declaration_of("telemetry/hbn/1").unwrap().prefix,
            "telemetry/hbn/"
        );
        assert_eq!(
            declaration_of("telemetry/hb/1").unwrap().prefix,
            "telemetry/hb/"
        );
        assert_eq!(
            declaration_of("access/loglen/x").unwrap().prefix,
            "access/loglen/"
        );
        assert!(declaration_of("nomodule/x").is_none());
        assert!(declaration_of("device/").is_none());
    }

    fn reader(org: &str, regulator: bool) -> Reader {
        Reader {
            org: org.into(),
            cert_hash: [7; 32],
            regulator,
            device: None,
        }
    }

    #[test]
    fn audiences_admit_their_parties_only() {
        let owner = reader("acme", false);
        let other = reader("bolt", false);
        let regulator = reader("gov", true);
        let device = Reader {
            device: Some("acme:1".into()),
            ..reader("acme", false)
        };
        let p = Audience::Parties(Parties::org_and_regulators("acme"));
        assert_eq!(p.admits(Some(&owner)), Admission::Yes);
        assert_eq!(p.admits(Some(&regulator)), Admission::Yes);
        assert_eq!(p.admits(Some(&other)), Admission::No);
        assert_eq!(p.admits(None), Admission::No);
        // A device is not its owner organisation's member.
        assert_eq!(p.admits(Some(&device)), Admission::No);
        assert_eq!(Audience::Members.admits(Some(&device)), Admission::No);
        assert_eq!(Audience::Members.admits(None), Admission::No);
        assert_eq!(Audience::Public.admits(None), Admission::Yes);
        let token = Audience::Parties(Parties {
            members: [[7; 32]].into(),
            ..Parties::default()
        });
        assert_eq!(
            token.admits(Some(&regulator)),
            Admission::Yes,
            "same certificate hash"
        );
        let other_regulator = Reader {
            cert_hash: [8; 32],
            ..reader("gov", true)
        };
        assert_eq!(
            token.admits(Some(&other_regulator)),
            Admission::No,
            "tokens are not for regulators"
        );
        let telemetry = Audience::Parties(Parties {
            grantees: Some(("acme:1".into(), "telemetry.read")),
            ..Parties::org_and_regulators("acme")
        });
        assert_eq!(
            telemetry.admits(Some(&other)),
            Admission::IfGranted("acme:1".into(), "telemetry.read")
        );
        assert_eq!(telemetry.admits(None), Admission::No);
    }
}
