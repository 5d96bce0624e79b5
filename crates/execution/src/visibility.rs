//! Who may read what (DESIGN.md decision 8): the read model, decided once per
//! module and applied by the node to every path that can show a datum —
//! raw state, proofs, blocks, transactions, receipts, events.
//!
//! Each module declares, next to its state layout, the [`Rule`] of each key
//! prefix it owns (`Module::keys`) and the audience of the content of its
//! calls (`Module::call_audience`) and of its events
//! (`Module::event_audience`). The common rules (public, members,
//! regulators only) are decided here; a module decides its own rules
//! (`Module::key_audience`). A key no module owns is readable by nobody but
//! regulators. Anonymous callers see only what is [`Audience::Public`].
//!
//! An audience is computed from chain data alone (current state, the call,
//! its receipt), never from the API route that asks, so the same datum has
//! the same readers on every path.

use crate::registry::{module, MODULES};
pub use ingot_module::visibility::*;
pub use ingot_module::StateRead;
use ingot_state::StateError;
use ingot_types::{Call, Event};

/// Whether `reader` may read a datum of `audience`, consulting access
/// policies (at wall-clock `now_ms`, outside consensus) where it must.
pub async fn may_read(
    state: &dyn StateRead,
    audience: &Audience,
    reader: Option<&Reader>,
    identity: Option<&ingot_crypto::Identity>,
    now_ms: u64,
) -> Result<bool, StateError> {
    match audience.admits(reader) {
        Admission::Yes => Ok(true),
        Admission::No => Ok(false),
        Admission::IfGranted(device_id, operation) => match identity {
            Some(who) => {
                ingot_module_access::grants(state, &device_id, who, operation, now_ms).await
            }
            None => Ok(false),
        },
    }
}

/// Every module's key declarations, by module: the registry of who reads what.
pub fn module_keys() -> impl Iterator<Item = (&'static str, &'static [KeyDecl])> {
    MODULES.iter().map(|m| (m.name(), m.keys()))
}

/// The declaration a key falls under (the longest matching prefix), if any.
pub fn declaration_of(key: &str) -> Option<&'static KeyDecl> {
    module_keys()
        .flat_map(|(_, decls)| decls.iter())
        .filter(|d| key.starts_with(d.prefix))
        .max_by_key(|d| d.prefix.len())
}

/// The audience of a state key, by the rule its owning module declared;
/// keys no module declares are for regulators only.
pub async fn key_audience(state: &dyn StateRead, key: &str) -> Result<Audience, StateError> {
    let Some(decl) = declaration_of(key) else {
        return Ok(Audience::regulators_only());
    };
    let rest = &key[decl.prefix.len()..];
    Ok(match decl.rule {
        Rule::Public => Audience::Public,
        Rule::Members => Audience::Members,
        Rule::RegulatorsOnly => Audience::regulators_only(),
        _ => {
            let owner = decl.prefix.split('/').next().unwrap_or_default();
            match module(owner) {
                Some(m) => m.key_audience(state, decl, rest).await?,
                None => Audience::regulators_only(),
            }
        }
    })
}

/// What a call's content (arguments, events, keys touched) is: the module's
/// rule given the call, its sender and its receipt's events.
pub async fn call_audience(
    state: &dyn StateRead,
    call: &Call,
    sender: &ingot_crypto::Identity,
    events: &[Event],
) -> Result<Audience, StateError> {
    match module(&call.module) {
        Some(m) => m.call_audience(state, call, sender, events).await,
        // A call to no module (it failed): the sender's organisation and
        // regulators.
        None => Ok(Audience::Parties(sender_and_owners(sender, events))),
    }
}

/// The audience of one event, by its module's rule.
pub async fn event_audience(state: &dyn StateRead, event: &Event) -> Result<Audience, StateError> {
    match module(&event.module) {
        Some(m) => m.event_audience(state, event).await,
        None => Ok(Audience::regulators_only()),
    }
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
        let sources = crate::registry::tests::sources();
        let modules: Vec<&str> = MODULES.iter().map(|m| m.name()).collect();
        let mut found = 0;
        for (_, src) in &sources {
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
                    module_keys()
                        .flat_map(|(_, decls)| decls.iter())
                        .any(|d| d.prefix == prefix),
                    "{prefix} is written but has no read rule in its module's KEYS"
                );
            }
        }
        assert!(found >= 30, "the scan found only {found} key literals");
        let mut seen = std::collections::BTreeSet::new();
        for (module, decls) in module_keys() {
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
}
