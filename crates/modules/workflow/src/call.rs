//! Call activities: a process starting another deployed definition and
//! waiting for it (BPMN 2.0 §10.3.6, call activity calling a process).
//!
//! - When a move reaches a call activity, the called definition (the
//!   version bound, else the latest) is started in the same transaction, as
//!   the actor whose step reached it: that actor must be allowed to start
//!   it, and its start variables come from the call's inputs.
//! - When the called instance completes (or ends at a terminate end event),
//!   the caller's call activity takes the bound outputs from its variables
//!   and moves on, in the same transaction as the called instance's last
//!   move.
//! - When the call activity stops waiting otherwise (an interrupting
//!   boundary event, the caller cancelled or terminated), the called
//!   instance is cancelled with it. A called instance cannot be cancelled
//!   on its own: its caller is.
//!
//! - A looping or multi-instance call activity starts one called instance
//!   per iteration or instance (all at once in parallel), each returning to
//!   its own instance (`loopCounter`); when the activity completes early (a
//!   completion condition) the called instances still running are
//!   cancelled.
//!
//! Nesting is bounded like every chain of moves in one transaction
//! ([`crate::MAX_DEPTH`]).
//!
//! State: `workflow/parent/<called id>` → [`ParentRef`];
//! `workflow/child/<caller id>/<node>.<loopCounter>` → the called instance's id.

use crate::{
    apply, count_key, engine_refused, failures, instance_id, latest_version, load_definition,
    load_instance, starter_key, StepContext, MAX_DEPTH,
};
use commonware_codec::{Decode, Encode};
use ingot_bpmn::{
    engine::{self, ChildStart},
    machine::{kind, state as istate, Instance, Machine},
    Actor,
};
use ingot_module::{corrupt, reject, CallError, Store};
use ingot_types::Event;

ingot_types::record! {
    /// The call activity a called instance returns to.
    pub struct ParentRef {
        pub instance: String = crate::MAX_INSTANCE_ID,
        pub node: u16 = (),
        /// The instance of a multi-instance call activity (else its
        /// iteration, or 0).
        pub counter: u16 = (),
    }
}

pub fn parent_key(called: &str) -> Vec<u8> {
    format!("workflow/parent/{called}").into_bytes()
}
fn child_key(caller: &str, node: u16, counter: u16) -> Vec<u8> {
    // One segment after the caller: the read model finds the instance id
    // before the last `/`.
    format!("workflow/child/{caller}/{node:05}.{counter:05}").into_bytes()
}

/// The caller of an instance, if a call activity started it.
pub async fn parent_of(state: &mut dyn Store, id: &str) -> Result<Option<ParentRef>, CallError> {
    state
        .get(&parent_key(id))
        .await?
        .map(|raw| ParentRef::decode_cfg(raw, &()).map_err(corrupt("parent reference")))
        .transpose()
}

/// Start the definitions a move's call activities asked for.
pub(crate) async fn start_children(
    sc: &StepContext<'_>,
    state: &mut dyn Store,
    caller: &Instance,
    machine: &Machine,
    children: Vec<ChildStart>,
    depth: u8,
) -> Result<Vec<Event>, CallError> {
    let mut events = Vec::new();
    for child in children {
        let element = machine.nodes[child.node as usize].id.clone();
        if depth >= MAX_DEPTH {
            return reject(failures::NESTED_TOO_DEEPLY.bare());
        }
        let Some(tx) = sc.tx else {
            return reject(failures::NO_TRANSACTION.with(&[("element", element)]));
        };
        let version = match child.version {
            Some(v) => v,
            None => latest_version(state, &child.definition).await?,
        };
        let Some((_, called)) = load_definition(state, &child.definition, version).await? else {
            return reject(failures::CALLED_DEFINITION_MISSING.with(&[
                ("element", element),
                ("definition", child.definition.clone()),
                ("version", version.to_string()),
            ]));
        };
        let actor = Actor {
            org: tx.sender.org.clone(),
            role: tx.sender.role.clone(),
            member: tx.sender.id,
        };
        let n = crate::u64_of(state.get(&count_key(&child.definition)).await?) + 1;
        let id = instance_id(&child.definition, n);
        let (inst, outcome) = engine::start(
            &called,
            version,
            id.clone(),
            &actor,
            &child.vars,
            sc.timestamp_ms,
            sc.height,
        )
        .map_err(|detail| {
            CallError::Rejected(failures::CALL_REFUSED.with(&[
                ("element", element.clone()),
                ("definition", child.definition.clone()),
                ("detail", detail.message),
            ]))
        })?;
        state.put(count_key(&child.definition), n.to_be_bytes().to_vec());
        state.put(starter_key(&id), tx.certificate.to_vec());
        state.put(
            parent_key(&id),
            ParentRef {
                instance: caller.id.clone(),
                node: child.node,
                counter: child.counter,
            }
            .encode()
            .to_vec(),
        );
        state.put(
            child_key(&caller.id, child.node, child.counter),
            id.clone().into_bytes(),
        );
        let before = crate::before_start(&inst);
        events.extend(apply(sc, state, &called, &before, inst, outcome, depth + 1).await?);
    }
    Ok(events)
}

/// An instance has ended: if a call activity started it, that activity
/// takes its outputs and moves on (a cancelled one returns nothing: its
/// caller cancelled it).
pub(crate) async fn finished(
    sc: &StepContext<'_>,
    state: &mut dyn Store,
    called_machine: &Machine,
    called: &Instance,
    depth: u8,
) -> Result<Vec<Event>, CallError> {
    let Some(parent) = parent_of(state, &called.id).await? else {
        return Ok(vec![]);
    };
    state.delete(parent_key(&called.id));
    state.delete(child_key(&parent.instance, parent.node, parent.counter));
    if called.state == istate::CANCELLED {
        return Ok(vec![]);
    }
    if depth >= MAX_DEPTH {
        return reject(failures::NESTED_TOO_DEEPLY.bare());
    }
    let (mut caller, machine) = load_instance(state, &parent.instance).await?;
    if caller.state != istate::RUNNING {
        return Ok(vec![]);
    }
    let before = caller.clone();
    let values = engine::variables(called_machine, called);
    let outcome = engine::child_completed(
        &machine,
        &mut caller,
        parent.node as usize,
        parent.counter,
        &values,
        called.id.clone(),
        sc.timestamp_ms,
    )
    .map_err(engine_refused)?;
    apply(sc, state, &machine, &before, caller, outcome, depth + 1).await
}

/// Cancel the called instances of call activities that stopped waiting
/// without their instance returning (interrupted, or the caller ended).
pub(crate) async fn abandoned(
    sc: &StepContext<'_>,
    state: &mut dyn Store,
    machine: &Machine,
    before: &Instance,
    after: &Instance,
    depth: u8,
) -> Result<Vec<Event>, CallError> {
    let mut events = Vec::new();
    let mut calls: Vec<u16> = engine::active_nodes(before);
    calls.sort_unstable();
    calls.dedup();
    let abandoned = calls
        .into_iter()
        .filter(|&node| machine.nodes[node as usize].kind == kind::CALL)
        .flat_map(|node| {
            let still = engine::live_instances(machine, after, node as usize);
            engine::live_instances(machine, before, node as usize)
                .into_iter()
                .filter(move |c| !still.contains(c))
                .map(move |c| (node, c))
        })
        .collect::<Vec<_>>();
    for (node, counter) in abandoned {
        let Some(raw) = state.get(&child_key(&before.id, node, counter)).await? else {
            continue; // it returned
        };
        let id = String::from_utf8(raw).map_err(|_| {
            CallError::Rejected(
                ingot_module::failure::tx::CORRUPT_STATE
                    .with(&[("what", "called instance id".into())]),
            )
        })?;
        if depth >= MAX_DEPTH {
            return reject(failures::NESTED_TOO_DEEPLY.bare());
        }
        let (mut child, child_machine) = load_instance(state, &id).await?;
        if child.state != istate::RUNNING {
            continue;
        }
        let was = child.clone();
        let detail = format!("its caller {} stopped waiting", before.id);
        let outcome = engine::abort(&child_machine, &mut child, detail, sc.timestamp_ms)
            .map_err(engine_refused)?;
        events.extend(apply(sc, state, &child_machine, &was, child, outcome, depth + 1).await?);
    }
    Ok(events)
}
