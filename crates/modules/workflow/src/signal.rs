//! Signals across instances (BPMN 2.0 §10.5.1, §10.5.4: a signal is
//! broadcast — every catcher of its name receives it, in any process).
//!
//! Inside the throwing instance the engine delivers a signal itself. The
//! chain carries it further, in the same transaction as the throw, within
//! the organisation that owns the throwing instance's definition (its
//! deployer): in a consortium, one organisation's processes must not
//! interrupt, start or block another's by choosing a signal name.
//!
//! - to every other running instance of that organisation's definitions
//!   waiting for a signal of that name (a signal catch event, an armed
//!   signal boundary event, a signal event subprocess), in the order they
//!   began waiting;
//! - to every definition of that organisation whose top-level signal start
//!   event has that name: an instance of its latest version starts, its
//!   starter the transaction's sender (for a throw after a timer, the
//!   throwing instance's starter, as for every step after a timer), who
//!   must be allowed to start it.
//!
//! Bounded like message events: at most [`MAX_SUBSCRIBERS`] instances wait
//! for one signal name of one organisation (one more is refused with
//! `too_many_waiting` when it would begin waiting), at most 64 definitions
//! start on one (`too_many_starts` at deployment), and signals that cause
//! signals nest at most [`MAX_DEPTH`] deep (`signal_too_deep`, naming the
//! signal). A signal nobody waits for is a no-op.
//!
//! State: `workflow/sigwait/<hex owner>/<hex name>` → [`SubList`] of the
//! instances waiting; `workflow/sigstart/<hex owner>/<hex name>` →
//! [`Names`] of the definitions it starts.

use crate::{
    apply, before_start, count_key, failures, instance_id, latest_version, load_definition,
    load_instance, starter_key, Names, StepContext, SubList, SubRef, MAX_DEPTH, MAX_SUBSCRIBERS,
};
use commonware_codec::{Decode, Encode};
use ingot_bpmn::{
    engine,
    machine::{kind, state as istate, trigger, Instance},
    Actor, Machine,
};
use ingot_module::{corrupt, reject, BoxFuture, CallError, Store};
use ingot_types::Event;

/// Most definitions one signal name starts.
const MAX_SIGNAL_STARTS: usize = 64;

fn wait_key(owner: &str, name: &str) -> Vec<u8> {
    format!(
        "workflow/sigwait/{}/{}",
        hex::encode(owner),
        hex::encode(name)
    )
    .into_bytes()
}

fn start_key(owner: &str, name: &str) -> Vec<u8> {
    format!(
        "workflow/sigstart/{}/{}",
        hex::encode(owner),
        hex::encode(name)
    )
    .into_bytes()
}

/// The organisation that owns a definition (its deployer's).
async fn owner_of(state: &mut dyn Store, name: &str, version: u32) -> Result<String, CallError> {
    match load_definition(state, name, version).await? {
        Some((def, _)) => Ok(def.owner_org),
        None => reject(failures::NO_DEFINITION.with(&[
            ("definition", name.to_string()),
            ("version", version.to_string()),
        ])),
    }
}

/// Keep the index of waiting instances in step with a move: the signals
/// `inst` waits for now against those it waited for before.
pub(crate) async fn track(
    state: &mut dyn Store,
    machine: &Machine,
    before: &ingot_bpmn::machine::Instance,
    inst: &ingot_bpmn::machine::Instance,
) -> Result<(), CallError> {
    let was = engine::awaited_signals(machine, before);
    let now = engine::awaited_signals(machine, inst);
    if was == now {
        return Ok(());
    }
    let owner = owner_of(state, &inst.definition, inst.version).await?;
    for name in was.iter().filter(|n| !now.contains(n)) {
        let key = wait_key(&owner, name);
        let Some(raw) = state.get(&key).await? else {
            continue;
        };
        let mut list = SubList::decode_cfg(raw, &()).map_err(corrupt("signal waiters"))?;
        list.entries.retain(|e| e.instance != inst.id);
        if list.entries.is_empty() {
            state.delete(key);
        } else {
            state.put(key, list.encode().to_vec());
        }
    }
    for name in now.iter().filter(|n| !was.contains(n)) {
        let key = wait_key(&owner, name);
        let mut list = match state.get(&key).await? {
            Some(raw) => SubList::decode_cfg(raw, &()).map_err(corrupt("signal waiters"))?,
            None => SubList { entries: vec![] },
        };
        if list.entries.len() >= MAX_SUBSCRIBERS {
            return reject(failures::TOO_MANY_WAITING.with(&[
                ("event", "signal".into()),
                ("attribute", "name".into()),
                ("value", name.clone()),
            ]));
        }
        list.entries.push(SubRef {
            instance: inst.id.clone(),
            node: 0,
        });
        state.put(key, list.encode().to_vec());
    }
    Ok(())
}

/// At deployment: the signals whose throw (in `owner`'s processes) starts
/// an instance of `name`.
pub(crate) async fn register_starts(
    state: &mut dyn Store,
    owner: &str,
    name: &str,
    machine: &Machine,
) -> Result<(), CallError> {
    let mut signals: Vec<&str> = machine
        .nodes
        .iter()
        .filter(|n| n.kind == kind::START && n.parent.is_none() && n.sub == trigger::SIGNAL)
        .filter_map(|n| n.code.as_deref())
        .collect();
    signals.sort_unstable();
    signals.dedup();
    for signal in signals {
        let key = start_key(owner, signal);
        let mut names = match state.get(&key).await? {
            Some(raw) => Names::decode_cfg(raw, &()).map_err(corrupt("signal starts"))?,
            None => Names { items: vec![] },
        };
        if names.items.iter().any(|n| n == name) {
            continue;
        }
        if names.items.len() >= MAX_SIGNAL_STARTS {
            return reject(failures::TOO_MANY_STARTS.with(&[
                ("event", "signal".into()),
                ("attribute", signal.to_string()),
            ]));
        }
        names.items.push(name.to_string());
        state.put(key, names.encode().to_vec());
    }
    Ok(())
}

/// Carry the signals instance `thrower` threw to the other instances
/// waiting for them and to the definitions they start.
pub(crate) fn broadcast<'a>(
    sc: &'a StepContext<'a>,
    state: &'a mut dyn Store,
    thrower: &'a Instance,
    signals: Vec<String>,
    depth: u8,
) -> BoxFuture<'a, Result<Vec<Event>, CallError>> {
    Box::pin(async move {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        let owner = owner_of(state, &thrower.definition, thrower.version).await?;
        let mut events = Vec::new();
        for name in signals {
            if depth >= MAX_DEPTH {
                return reject(failures::SIGNAL_TOO_DEEP.with(&[
                    ("signal", name.clone()),
                    ("instance", thrower.id.clone()),
                    ("depth", MAX_DEPTH.to_string()),
                ]));
            }
            let detail = format!("signal {name} from {}", thrower.id);
            let at = (owner.as_str(), name.as_str());
            events.extend(reach_waiting(sc, state, &thrower.id, at, &detail, depth).await?);
            events.extend(start_definitions(sc, state, at, &detail, depth).await?);
        }
        Ok(events)
    })
}

async fn reach_waiting(
    sc: &StepContext<'_>,
    state: &mut dyn Store,
    thrower: &str,
    (owner, name): (&str, &str),
    detail: &str,
    depth: u8,
) -> Result<Vec<Event>, CallError> {
    let Some(raw) = state.get(&wait_key(owner, name)).await? else {
        return Ok(Vec::new());
    };
    let list = SubList::decode_cfg(raw, &()).map_err(corrupt("signal waiters"))?;
    let mut events = Vec::new();
    for waiter in list.entries {
        // The thrower caught its own signal already (the engine does).
        if waiter.instance == thrower {
            continue;
        }
        let (mut inst, machine) = load_instance(state, &waiter.instance).await?;
        if inst.state != istate::RUNNING {
            continue;
        }
        let before = inst.clone();
        let outcome = engine::signal(
            &machine,
            &mut inst,
            name,
            detail.to_string(),
            sc.timestamp_ms,
        )
        .map_err(|e| crate::delivery_refused(&inst.id, e))?;
        if outcome.steps.is_empty() {
            continue;
        }
        events.extend(apply(sc, state, &machine, &before, inst, outcome, depth + 1).await?);
    }
    Ok(events)
}

async fn start_definitions(
    sc: &StepContext<'_>,
    state: &mut dyn Store,
    (owner, name): (&str, &str),
    detail: &str,
    depth: u8,
) -> Result<Vec<Event>, CallError> {
    let Some(raw) = state.get(&start_key(owner, name)).await? else {
        return Ok(Vec::new());
    };
    let definitions = Names::decode_cfg(raw, &()).map_err(corrupt("signal starts"))?;
    let Some(tx) = sc.tx else {
        return reject(failures::NO_TRANSACTION.with(&[("element", format!("signal {name}"))]));
    };
    let actor = Actor {
        org: tx.sender.org.clone(),
        role: tx.sender.role.clone(),
        member: tx.sender.id,
    };
    let mut events = Vec::new();
    for definition in definitions.items {
        let version = latest_version(state, &definition).await?;
        let Some((_, machine)) = load_definition(state, &definition, version).await? else {
            continue;
        };
        // The latest version decides: one that dropped the start starts nothing.
        for node in engine::signal_starts(&machine, name) {
            let n = crate::u64_of(state.get(&count_key(&definition)).await?) + 1;
            let id = instance_id(&definition, n);
            let (inst, outcome) = engine::start_by_signal(
                &machine,
                version,
                id.clone(),
                &actor,
                node,
                detail.to_string(),
                sc.timestamp_ms,
                sc.height,
            )
            .map_err(|e| {
                CallError::Rejected(failures::EVENT_START_REFUSED.with(&[
                    ("definition", definition.clone()),
                    ("event", format!("signal {name}")),
                    ("detail", e.message),
                ]))
            })?;
            state.put(count_key(&definition), n.to_be_bytes().to_vec());
            state.put(starter_key(&id), tx.certificate.to_vec());
            let before = before_start(&inst);
            events.extend(apply(sc, state, &machine, &before, inst, outcome, depth + 1).await?);
        }
    }
    Ok(events)
}
