//! The vocabulary of the read model (DESIGN.md decision 8): readers,
//! audiences, and the rules a module declares for its key prefixes. The
//! registry in `ingot-execution` applies them; the node enforces them on
//! every path that can show a datum.

use ingot_types::Event;
use std::collections::BTreeSet;

/// An authenticated caller, as the read model sees it.
#[derive(Clone, Debug)]
pub struct Reader {
    pub org: String,
    /// The caller's member id (`ingot_crypto::member_id`).
    pub id: [u8; 32],
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
    /// These members (member ids: a renewed certificate keeps reading).
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
                            || p.members.contains(&r.id)
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

/// Where a key names the record it belongs to, after its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdAt {
    /// The whole rest of the key (`device/rec/<id>`).
    Whole,
    /// All but the last `/` segment (`device/hist/<id>/<seq>`).
    BeforeLastSegment,
}

impl IdAt {
    pub fn id(self, rest: &str) -> &str {
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

/// The sender's organisation, every organisation the events name as `owner`
/// (or `from`/`to` of a transfer), and regulators.
pub fn sender_and_owners(sender: &ingot_crypto::Identity, events: &[Event]) -> Parties {
    let mut p = Parties::org_and_regulators(sender.org.clone());
    if let Some(device) = &sender.device {
        // A device's own calls: the device and its owner (named in the
        // events) read them.
        p.orgs.clear();
        p.devices.insert(device.id.clone());
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

    fn reader(org: &str, regulator: bool) -> Reader {
        Reader {
            org: org.into(),
            id: [7; 32],
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
            id: [8; 32],
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
