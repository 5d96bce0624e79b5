//! Who may read what (DESIGN.md decision 8): the read model, decided once per
//! module and applied by the node to every path that can show a datum —
//! raw state, proofs, blocks, transactions, receipts, events.
//!
//! Each module declares, next to its state layout, the [`Audience`] of each
//! key prefix it owns (`key_audience`), of the content of its calls
//! (`call_audience`) and of its events (`event_audience`). A key no module
//! owns is readable by nobody but regulators. Anonymous callers see only what
//! is [`Audience::Public`].
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

/// The audience of a state key, decided by the module that owns its prefix.
pub async fn key_audience<S: StateRead>(state: &S, key: &str) -> Result<Audience, StateError> {
    let (module, rest) = key.split_once('/').unwrap_or((key, ""));
    let declared = match module {
        identity::NAME => Some(identity::key_audience(rest)),
        notary::NAME => Some(notary::key_audience(rest)),
        device::NAME => device::key_audience(state, rest).await?,
        access::NAME => access::key_audience(state, rest).await?,
        telemetry::NAME => telemetry::key_audience(state, rest).await?,
        workflow::NAME => workflow::key_audience(state, rest).await?,
        _ => None,
    };
    Ok(declared.unwrap_or_else(Audience::regulators_only))
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
