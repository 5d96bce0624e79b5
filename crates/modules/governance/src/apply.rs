//! The block end: proposals whose voting ends are decided, approved changes
//! whose height has come are applied.

use crate::records::*;
use crate::{
    action::{self, Action, Refusal},
    agenda, decide, proposal, stored, tally, Damaged, NAME,
};
use commonware_codec::{Decode, Encode};
use ingot_module::{
    call::corrupt, event, BlockContext, CallError, Consortium, OrgEntry, OrgInfo, TrustedCa,
};
use ingot_types::{Event, Governance};

fn damaged(what: &'static str) -> CallError {
    corrupt(what)(commonware_codec::Error::Invalid("governance", what))
}

pub(crate) async fn end_block(
    block: BlockContext,
    consortium: &Consortium,
    state: &mut dyn ingot_module::Store,
) -> Result<Vec<Event>, CallError> {
    let height = block.height;
    let mut agenda = agenda(state).await?;
    let closing: Vec<u64> = agenda
        .open
        .iter()
        .filter(|d| d.at <= height)
        .map(|d| d.id)
        .collect();
    let mut applying: Vec<Due> = agenda
        .scheduled
        .iter()
        .filter(|d| d.at <= height + 1)
        .cloned()
        .collect();
    if closing.is_empty() && applying.is_empty() {
        return Ok(Vec::new());
    }
    let mut events = Vec::new();
    let rules = consortium.rules().clone();
    for id in closing {
        let mut p = proposal(state, id)
            .await?
            .ok_or_else(|| damaged("proposal on the agenda"))?;
        crate::recount(state, &mut p, consortium).await?;
        let outcome = tally(&p, consortium, &rules).last();
        decide(
            consortium,
            &mut p,
            &mut agenda,
            height,
            outcome,
            true,
            &mut events,
        );
        state.put(crate::proposal_key(id), p.encode().to_vec());
        if let Some(d) = agenda
            .scheduled
            .iter()
            .find(|d| d.id == id && d.at <= height + 1)
        {
            applying.push(d.clone());
        }
    }
    if !applying.is_empty() {
        applying.sort_by_key(|d| d.id);
        apply_due(&applying, consortium, state, height, &mut events).await?;
        agenda
            .scheduled
            .retain(|d| !applying.iter().any(|a| a.id == d.id));
    }
    state.put(crate::AGENDA_KEY.to_vec(), agenda.encode().to_vec());
    Ok(events)
}

/// Apply approved changes in proposal order; each is checked against the
/// consortium as the ones before it left it.
async fn apply_due(
    due: &[Due],
    consortium: &Consortium,
    state: &mut dyn ingot_module::Store,
    height: u64,
    events: &mut Vec<Event>,
) -> Result<(), CallError> {
    let holds_from = height + 1;
    let stored = match stored(state).await? {
        Ok(s) => s,
        Err(Damaged(what)) => return Err(damaged(what)),
    };
    let mut entries = stored
        .entries
        .unwrap_or_else(|| consortium.entries().to_vec());
    let mut rules = stored.rules.unwrap_or_else(|| consortium.rules().clone());
    let (mut orgs_changed, mut rules_changed) = (false, false);
    for d in due {
        let mut p = proposal(state, d.id)
            .await?
            .ok_or_else(|| damaged("approved proposal"))?;
        let action =
            Action::decode_cfg(p.action.clone(), &()).map_err(corrupt("proposed action"))?;
        let view = consortium
            .rebuild(entries.clone(), rules.clone(), holds_from)
            .map_err(|_| damaged("stored organisation CA"))?
            .with_observers(observers(state).await?)
            .with_validator_registry(validator_registry(state, consortium).await?);
        match action::check(&action, &view, holds_from, false) {
            Err(Refusal(reason)) => {
                p.status = Status::Failed as u8;
                p.note = reason.clone();
                events.push(event(
                    NAME,
                    "apply_failed",
                    &[("proposal", d.id.to_string()), ("reason", reason)],
                ));
            }
            Ok(()) => {
                apply(
                    &action,
                    &mut entries,
                    &mut rules,
                    state,
                    consortium,
                    holds_from,
                )
                .await?;
                orgs_changed |= matches!(
                    action,
                    Action::AddOrg { .. }
                        | Action::RemoveOrg { .. }
                        | Action::ReplaceCa { .. }
                        | Action::SetWeight { .. }
                );
                rules_changed |= matches!(action, Action::SetRules { .. });
                p.status = Status::Applied as u8;
                let changed = if action.changes_consortium() {
                    "changed"
                } else {
                    "unchanged"
                };
                events.push(event(
                    NAME,
                    "applied",
                    &[
                        ("proposal", d.id.to_string()),
                        ("action", action.kind().to_string()),
                        ("subject", action.subject()),
                        ("holds_from", holds_from.to_string()),
                        ("consortium", changed.to_string()),
                    ],
                ));
            }
        }
        p.applied_at = height;
        state.put(crate::proposal_key(d.id), p.encode().to_vec());
    }
    if orgs_changed {
        write_orgs(state, &entries).await?;
    }
    if rules_changed {
        state.put(
            crate::RULES_KEY.to_vec(),
            RulesRecord::from_rules(&rules).encode().to_vec(),
        );
    }
    Ok(())
}

async fn apply(
    action: &Action,
    entries: &mut Vec<OrgEntry>,
    rules: &mut Governance,
    state: &mut dyn ingot_module::Store,
    consortium: &Consortium,
    holds_from: u64,
) -> Result<(), CallError> {
    match action {
        Action::AddOrg {
            name,
            kind,
            ca,
            weight,
        } => entries.push(OrgEntry {
            name: name.clone(),
            info: OrgInfo {
                kind: *kind,
                weight: *weight,
            },
            cas: vec![TrustedCa {
                ca: ingot_crypto::CertInfo::from_der(ca).expect("checked before applying"),
                until: None,
            }],
        }),
        Action::RemoveOrg { name } => {
            entries.retain(|e| &e.name != name);
            // Its deploy rights go with it: a list naming only removed
            // organisations would otherwise mean "nobody", and a later
            // organisation of the same name would inherit them.
            for module in crate::action::GATED_MODULES {
                let key = crate::deployers_key(module);
                if let Some(raw) = state.get(&key).await? {
                    let mut d = Deployers::decode_cfg(raw, &()).map_err(corrupt("deployers"))?;
                    if d.orgs.iter().any(|o| o == name) {
                        // Emptied, the list means nobody (not everyone)
                        // until the consortium votes again.
                        d.orgs.retain(|o| o != name);
                        state.put(key, d.encode().to_vec());
                    }
                }
            }
        }
        Action::ReplaceCa { org, ca, old_until } => {
            if let Some(e) = entries.iter_mut().find(|e| &e.name == org) {
                let mut cas = vec![TrustedCa {
                    ca: ingot_crypto::CertInfo::from_der(ca).expect("checked before applying"),
                    until: None,
                }];
                for old in e.cas.drain(..) {
                    let until = old.until.unwrap_or(*old_until).min(*old_until);
                    if until >= holds_from {
                        cas.push(TrustedCa {
                            ca: old.ca,
                            until: Some(until),
                        });
                    }
                }
                cas.truncate(MAX_CAS_PER_ORG);
                e.cas = cas;
            }
        }
        Action::SetRules {
            participation_pct,
            approval_pct,
            proposal_ttl_blocks,
        } => {
            rules.participation_pct = *participation_pct;
            rules.approval_pct = *approval_pct;
            rules.proposal_ttl_blocks = *proposal_ttl_blocks;
        }
        Action::SetWeight { org, weight } => {
            if let Some(e) = entries.iter_mut().find(|e| &e.name == org) {
                e.info.weight = *weight;
            }
        }
        Action::SetParams {
            max_block_txs,
            idle_heartbeat_ms,
            max_work_per_tx,
        } => {
            let record = ParamsRecord {
                max_block_txs: *max_block_txs,
                idle_heartbeat_ms: *idle_heartbeat_ms,
                max_work_per_tx: *max_work_per_tx,
            };
            state.put(crate::PARAMS_KEY.to_vec(), record.encode().to_vec());
        }
        Action::AddObserver {
            name,
            org,
            public_key,
            p2p_address,
        } => {
            let mut seats = observers(state).await?;
            seats.insert(
                *public_key,
                ingot_module::ObserverSeat {
                    name: name.clone(),
                    org: org.clone(),
                    p2p_address: p2p_address.clone(),
                },
            );
            write_observers(state, &seats);
        }
        Action::RemoveObserver { public_key } => {
            let mut seats = observers(state).await?;
            seats.remove(public_key);
            write_observers(state, &seats);
        }
        Action::AddValidator {
            name,
            org,
            public_key,
            p2p_address,
        } => {
            let mut seats = validator_registry(state, consortium).await?;
            seats.insert(*public_key, new_seat(name, org, p2p_address, holds_from));
            write_validators(state, &seats);
        }
        Action::RemoveValidator { public_key } => {
            let mut seats = validator_registry(state, consortium).await?;
            if let Some(seat) = seats.get_mut(public_key) {
                seat.removed_at = Some(holds_from);
            }
            write_validators(state, &seats);
        }
        Action::ReplaceValidator {
            old_public_key,
            name,
            public_key,
            p2p_address,
        } => {
            let mut seats = validator_registry(state, consortium).await?;
            let Some(old) = seats.get_mut(old_public_key) else {
                return Err(damaged("replaced validator"));
            };
            old.removed_at = Some(holds_from);
            let org = old.org.clone();
            seats.insert(*public_key, new_seat(name, &org, p2p_address, holds_from));
            write_validators(state, &seats);
        }
        Action::SetDeployers { module, orgs } if orgs.is_empty() => {
            state.delete(crate::deployers_key(module));
        }
        Action::SetDeployers { module, orgs } => {
            state.put(
                crate::deployers_key(module),
                Deployers { orgs: orgs.clone() }.encode().to_vec(),
            );
        }
    }
    Ok(())
}

type Seats = std::collections::BTreeMap<[u8; 32], ingot_module::ValidatorSeat>;

fn new_seat(
    name: &str,
    org: &str,
    p2p_address: &str,
    holds_from: u64,
) -> ingot_module::ValidatorSeat {
    ingot_module::ValidatorSeat {
        name: name.to_string(),
        org: org.to_string(),
        genesis_not_after: i64::MIN,
        p2p_address: p2p_address.to_string(),
        added_at: holds_from,
        removed_at: None,
    }
}

/// The validator registry as stored (genesis's validators before the first change).
async fn validator_registry(
    state: &mut dyn ingot_module::Store,
    consortium: &Consortium,
) -> Result<Seats, CallError> {
    let base = consortium.validator_registry();
    Ok(match state.get(crate::VALIDATORS_KEY).await? {
        None => base,
        Some(raw) => ValidatorList::decode_cfg(raw, &())
            .map_err(corrupt("governance validator registry"))?
            .to_seats(&base),
    })
}

fn write_validators(state: &mut dyn ingot_module::Store, seats: &Seats) {
    state.put(
        crate::VALIDATORS_KEY.to_vec(),
        ValidatorList::from_seats(seats).encode().to_vec(),
    );
}

/// The admitted observer nodes as stored (none before the first).
async fn observers(
    state: &mut dyn ingot_module::Store,
) -> Result<std::collections::BTreeMap<[u8; 32], ingot_module::ObserverSeat>, CallError> {
    Ok(match state.get(crate::OBSERVERS_KEY).await? {
        None => Default::default(),
        Some(raw) => ObserverList::decode_cfg(raw, &())
            .map_err(corrupt("governance observer list"))?
            .to_seats(),
    })
}

fn write_observers(
    state: &mut dyn ingot_module::Store,
    seats: &std::collections::BTreeMap<[u8; 32], ingot_module::ObserverSeat>,
) {
    state.put(
        crate::OBSERVERS_KEY.to_vec(),
        ObserverList::from_seats(seats).encode().to_vec(),
    );
}

/// Write every organisation (and delete the records of removed ones).
async fn write_orgs(
    state: &mut dyn ingot_module::Store,
    entries: &[OrgEntry],
) -> Result<(), CallError> {
    if let Some(raw) = state.get(crate::ORGS_KEY).await? {
        let old = OrgList::decode_cfg(raw, &()).map_err(corrupt("governance organisation list"))?;
        for name in old
            .names
            .iter()
            .filter(|n| !entries.iter().any(|e| &e.name == *n))
        {
            state.delete(crate::org_key(name));
        }
    }
    for e in entries {
        state.put(
            crate::org_key(&e.name),
            OrgRecord::from_entry(e).encode().to_vec(),
        );
    }
    let names = entries.iter().map(|e| e.name.clone()).collect();
    state.put(
        crate::ORGS_KEY.to_vec(),
        OrgList { names }.encode().to_vec(),
    );
    Ok(())
}
