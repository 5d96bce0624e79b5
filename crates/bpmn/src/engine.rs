//! The token game: how a compiled [`Machine`] moves an [`Instance`].
//!
//! Every entry point (start, complete, timer, message, cancel) changes the
//! instance and then *advances*: fires enabled automatic elements in node
//! order until none is enabled, at most [`MAX_STEPS`] times, so the work of a
//! transaction is bounded and the result is the same on every validator.
//! An error leaves the caller to discard the instance (the transaction fails).

use crate::{
    binding::{allows, Actor},
    branch,
    expr::{self, Type, Value},
    machine::{
        gateway, hit, kind, looping, state, task, trigger, Assigned, Due, Instance, LoopCount,
        LoopSpec, Machine, Mark, MAX_STEPS, MAX_TOKENS,
    },
    refusal::{Refusal, RefusalKind as Kind},
};
use serde_json::Value as Json;

/// One step of an instance: what the chain emits as an event and keeps in history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub element: String,
    pub name: String,
    /// started, activated, completed, service, sent, received, timer, routed,
    /// joined, ended, terminated, cancelled.
    pub action: &'static str,
    /// Flows taken by a gateway, or other detail.
    pub detail: String,
    pub vars: Vec<(String, Value)>,
}

/// A native call a service task asks the chain to make.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceCall {
    pub element: String,
    pub module: String,
    pub method: String,
    pub args: Json,
}

/// A process a call activity asks the chain to start.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildStart {
    /// The call activity (node index) that waits for it.
    pub node: u16,
    /// Which instance of a multi-instance call activity it is (else 0).
    pub counter: u16,
    pub definition: String,
    pub version: Option<u32>,
    /// The called process's start variables, from the inputs.
    pub vars: Json,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub steps: Vec<Step>,
    pub calls: Vec<ServiceCall>,
    pub children: Vec<ChildStart>,
    /// Named signals thrown, in order: the chain broadcasts each to the
    /// other instances waiting for it and to the definitions it starts
    /// (BPMN 2.0 §10.5.1: a signal is broadcast, across processes).
    pub signals: Vec<String>,
}

/// A signal thrown by another instance (or a transaction) reaches this
/// one: every signal catch event waiting, armed signal boundary event and
/// signal event subprocess of that name fires, in node order.
pub fn signal(
    m: &Machine,
    inst: &mut Instance,
    name: &str,
    detail: String,
    now_ms: u64,
) -> Result<Outcome, Refusal> {
    running(inst)?;
    let mut run = Run::new(m, inst, now_ms);
    run.catch_signal(Some(name), false, &detail, |_| true)?;
    // Then the parked instances of parallel multi-instance subprocesses.
    run.broadcast(Some(name.to_string()), false, detail);
    run.advance()?;
    Ok(run.out)
}

/// The catch, boundary and event-subprocess start events catching signal
/// `name`: those naming it, and with `catch_all` those naming none (a
/// catcher without a name catches every signal of its own instance).
fn signal_catchers(m: &Machine, name: Option<&str>, catch_all: bool) -> Vec<usize> {
    (0..m.nodes.len())
        .filter(|&t| {
            let n = &m.nodes[t];
            matches!(n.kind, kind::CATCH | kind::BOUNDARY)
                || (n.kind == kind::START && n.parent.is_some())
        })
        .filter(|&t| {
            let code = m.nodes[t].code.as_deref();
            m.nodes[t].sub == trigger::SIGNAL
                && ((code.is_some() && code == name) || (catch_all && code.is_none()))
        })
        .collect()
}

/// The named signals an instance waits for now, sorted: what another
/// instance's throw would reach.
pub fn awaited_signals(m: &Machine, inst: &Instance) -> Vec<String> {
    if inst.state != state::RUNNING {
        return Vec::new();
    }
    let mut out: Vec<String> = armed(m, inst)
        .into_iter()
        .filter(|&n| m.nodes[n].sub == trigger::SIGNAL)
        .filter_map(|n| m.nodes[n].code.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The top-level signal start events of a definition for signal `name`.
pub fn signal_starts(m: &Machine, name: &str) -> Vec<usize> {
    (0..m.nodes.len())
        .filter(|&n| {
            let node = &m.nodes[n];
            node.kind == kind::START
                && node.parent.is_none()
                && node.sub == trigger::SIGNAL
                && node.code.as_deref() == Some(name)
        })
        .collect()
}

/// A new instance started at top-level signal start event `node` by a
/// signal thrown elsewhere; `actor` (the thrower's) is its starter.
#[allow(clippy::too_many_arguments)]
pub fn start_by_signal(
    m: &Machine,
    version: u32,
    id: String,
    actor: &Actor,
    node: usize,
    detail: String,
    now_ms: u64,
    height: u64,
) -> Result<(Instance, Outcome), Refusal> {
    let n = m.nodes.get(node).ok_or("no such element")?;
    if n.kind != kind::START || n.parent.is_some() || n.sub != trigger::SIGNAL {
        return Err(format!("`{}` is not a signal start event", n.id).into());
    }
    // The thrower starts it, so the thrower must be allowed to.
    may_start(m, actor)?;
    let mut inst = new_instance(m, version, id, actor, now_ms, height);
    let mut run = Run::new(m, &mut inst, now_ms);
    run.step(node, "started", detail);
    run.produce_all(node)?;
    run.arm_event_subprocesses(None);
    run.advance()?;
    let out = run.out;
    Ok((inst, out))
}

/// Definition names: used in keys and URLs.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "definition name `{name}`: 1-64 characters of a-z, 0-9, - and _"
        ))
    }
}

/// Start a new instance.
#[allow(clippy::too_many_arguments)]
pub fn start(
    m: &Machine,
    version: u32,
    id: String,
    actor: &Actor,
    vars: &Json,
    now_ms: u64,
    height: u64,
) -> Result<(Instance, Outcome), Refusal> {
    if m.starts.is_empty() {
        return Err(Refusal::new(
            Kind::NotStartable,
            format!(
                "`{}` starts only by a chain event or a signal (its start events are bound to them)",
                m.name
            ),
        ));
    }
    may_start(m, actor)?;
    let assigned = parse_vars(m, &m.start_outputs, vars).map_err(bad_variables)?;
    let mut inst = new_instance(m, version, id, actor, now_ms, height);
    let mut run = Run::new(m, &mut inst, now_ms);
    run.assign(&assigned);
    run.step_vars(
        m.starts.first().copied().unwrap_or(0) as usize,
        "started",
        actor.describe(),
        assigned,
    );
    for &s in &m.starts {
        let s = s as usize;
        if m.nodes[s].sub == trigger::TIMER {
            run.activate(s)?;
        } else {
            run.produce_all(s)?;
        }
    }
    run.arm_event_subprocesses(None);
    run.advance()?;
    let out = run.out;
    Ok((inst, out))
}

/// Start a new instance at message start event `node` because a chain event
/// matched its trigger; `attributes` are the event's, some of which become
/// variables. The transaction that emitted the event is the starter.
#[allow(clippy::too_many_arguments)]
pub fn start_by_event(
    m: &Machine,
    version: u32,
    id: String,
    actor: &Actor,
    node: usize,
    attributes: &[(String, String)],
    detail: String,
    now_ms: u64,
    height: u64,
) -> Result<(Instance, Outcome), Refusal> {
    let trigger = m.nodes[node]
        .start_trigger
        .as_ref()
        .ok_or_else(|| format!("`{}` is not started by a chain event", m.nodes[node].id))?;
    let mut assigned = Vec::with_capacity(trigger.vars.len());
    for ev in &trigger.vars {
        let var = &m.variables[ev.variable as usize];
        let ty = Type::from_code(var.ty).ok_or("corrupt variable type")?;
        let raw = attributes
            .iter()
            .find(|(k, _)| *k == ev.attribute)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                format!(
                    "the event has no attribute `{}` for variable `{}`",
                    ev.attribute, var.name
                )
            })?;
        let value = match ty {
            Type::Bool => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    return Err(bad_variables(format!(
                        "variable `{}`: `{raw}` is not a boolean",
                        var.name
                    )))
                }
            },
            _ => Value::from_json(ty, &Json::String(raw.to_string()))
                .map_err(|e| bad_variables(format!("variable `{}`: {e}", var.name)))?,
        };
        assigned.push((ev.variable, value));
    }
    let mut inst = new_instance(m, version, id, actor, now_ms, height);
    let mut run = Run::new(m, &mut inst, now_ms);
    run.assign(&assigned);
    run.step_vars(node, "started", detail, assigned);
    run.produce_all(node)?;
    run.arm_event_subprocesses(None);
    run.advance()?;
    let out = run.out;
    Ok((inst, out))
}

fn new_instance(
    m: &Machine,
    version: u32,
    id: String,
    actor: &Actor,
    now_ms: u64,
    height: u64,
) -> Instance {
    Instance {
        id,
        definition: m.name.clone(),
        version,
        state: state::RUNNING,
        marks: Vec::new(),
        active: Vec::new(),
        pending: Vec::new(),
        timers: Vec::new(),
        vars: Vec::new(),
        starter: actor.member,
        starter_org: actor.org.clone(),
        created_ms: now_ms,
        updated_ms: now_ms,
        created_height: height,
        steps: 0,
        terminated: false,
        loops: Vec::new(),
        parked: Vec::new(),
    }
}

/// A person completes an active task with its output variables.
pub fn complete(
    m: &Machine,
    inst: &mut Instance,
    element: &str,
    actor: &Actor,
    vars: &Json,
    now_ms: u64,
) -> Result<Outcome, Refusal> {
    running(inst)?;
    let node = m.node_index(element).ok_or_else(|| {
        Refusal::new(
            Kind::UnknownElement,
            format!(
                "`{element}` is not an element of {} v{}",
                m.name, inst.version
            ),
        )
    })?;
    if !m.waits_for_person(node) {
        return Err(Refusal::new(
            Kind::NotAPersonTask,
            format!("`{element}` is not a task a person completes (it moves on its own or by a message or timer)"),
        ));
    }
    let (asked, vars) = loop_counter(vars).map_err(bad_variables)?;
    let mut run = Run::new(m, inst, now_ms);
    // Inside a parallel multi-instance subprocess, `loopCounter` names the
    // subprocess's instance (else the first one waiting there).
    run.unpark_for(node, |p| asked.is_none_or(|c| c == p.counter))?;
    let in_branch = run.current;
    let asked = asked.filter(|_| in_branch.is_none());
    let inst = &*run.inst;
    if !inst.active.contains(&(node as u16)) {
        return Err(Refusal::new(
            Kind::NotActive,
            format!("task `{element}` is not active in instance {}", inst.id),
        ));
    }
    let n = &m.nodes[node];
    if !allows(&n.allowed, actor, &inst.starter) {
        return Err(Refusal::new(
            Kind::NotAllowed,
            format!(
                "{} is not allowed to complete `{element}` (allowed: {})",
                actor.describe(),
                n.allowed.join(", ")
            ),
        ));
    }
    let multi = n
        .looping
        .as_ref()
        .is_some_and(|l| l.kind != looping::STANDARD);
    if let Some(c) = asked.filter(|_| !multi) {
        return Err(Refusal::new(
            Kind::BadVariables,
            format!("`{element}` is not a multi-instance task: loopCounter {c} names no instance"),
        ));
    }
    let assigned = parse_vars(m, &n.outputs, &vars).map_err(bad_variables)?;
    if takes_message(m, node) && arrived_message(m, inst, node).is_none() {
        let awaited: Vec<&str> = m
            .messages
            .iter()
            .filter(|mf| mf.target as usize == node)
            .map(|mf| mf.id.as_str())
            .collect();
        return Err(Refusal::new(
            Kind::MessageMissing,
            format!(
                "task `{element}` needs its message ({}) before it can be completed",
                awaited.join(" or ")
            ),
        ));
    }
    let counter = run
        .instance_counter(node, asked)
        .map_err(|e| Refusal::new(Kind::InstanceNotWaiting, e))?;
    run.take_message(node);
    run.deactivate(node);
    // The instance's own item, for its outputs and what follows.
    run.give_item(node, counter)?;
    run.assign(&assigned);
    // Inside a parallel subprocess's instance the step names it itself.
    let detail = if multi && in_branch.is_none() {
        format!("{} (instance {counter})", actor.describe())
    } else {
        actor.describe()
    };
    run.step_vars(node, "completed", detail, assigned);
    run.send(node)?;
    run.end_iteration(node, counter)?;
    run.advance()?;
    Ok(run.out)
}

/// A due timer of `node` fires (block time reached it): the earliest due.
pub fn fire_timer(
    m: &Machine,
    inst: &mut Instance,
    node: usize,
    now_ms: u64,
) -> Result<Outcome, Refusal> {
    fire_due(m, inst, node, None, now_ms)
}

/// The timer of `node` due at `due_ms` fires (the chain's timer index
/// names each armed timer by node and due time): when several instances of
/// a parallel multi-instance subprocess wait at `node`, the one whose timer
/// this is, never another's. Without `due_ms`, or when no timer has that
/// due time any more, the earliest due one fires.
pub fn fire_due(
    m: &Machine,
    inst: &mut Instance,
    node: usize,
    due_ms: Option<u64>,
    now_ms: u64,
) -> Result<Outcome, Refusal> {
    running(inst)?;
    let mut run = Run::new(m, inst, now_ms);
    let at = |d: &Due| d.node as usize == node;
    let main: Vec<u64> = run
        .inst
        .timers
        .iter()
        .filter(|d| at(d))
        .map(|d| d.at_ms)
        .collect();
    let exact_in_main = due_ms.is_some_and(|due| main.contains(&due));
    if !exact_in_main {
        // (due time, loopCounter order) of each parked instance's timer at `node`.
        let parked = run.inst.parked.iter().enumerate().flat_map(|(pos, p)| {
            p.timers
                .iter()
                .filter(|d| at(d))
                .map(move |d| (d.at_ms, pos))
        });
        let exact = parked
            .clone()
            .filter(|&(a, _)| Some(a) == due_ms)
            .map(|(_, pos)| pos)
            .next();
        let earliest_parked = parked.min();
        let earliest_main = main.iter().min().copied();
        let earliest = match (earliest_parked, earliest_main) {
            (Some((a, pos)), Some(b)) if a < b => Some(pos),
            (Some((_, pos)), None) => Some(pos),
            _ => None,
        };
        let pick = exact.or(earliest);
        if let Some(pos) = pick {
            run.unpark(pos);
        }
    }
    if run.trigger(node, "timer")? || run.current.is_some() {
        run.advance()?;
    }
    Ok(run.out)
}

/// The process call activity `node` started has completed; `values` are
/// its variables by name, of which the call's outputs take theirs.
pub fn child_completed(
    m: &Machine,
    inst: &mut Instance,
    node: usize,
    counter: u16,
    values: &[(String, Value)],
    detail: String,
    now_ms: u64,
) -> Result<Outcome, Refusal> {
    running(inst)?;
    let n = m.nodes.get(node).ok_or("no such element")?;
    let call = n
        .call
        .as_ref()
        .filter(|_| n.kind == kind::CALL)
        .ok_or_else(|| format!("`{}` is not a call activity", n.id))?;
    let mut run = Run::new(m, inst, now_ms);
    // Inside a parallel multi-instance subprocess the counter names the
    // subprocess's instance (the call itself does not loop there).
    run.unpark_for(node, |p| p.counter == counter)?;
    let counter = if run.current.is_some() { 0 } else { counter };
    if !run.inst.active.contains(&(node as u16)) {
        return Err(Refusal::new(
            Kind::NotActive,
            format!("call activity `{}` is not waiting", n.id),
        ));
    }
    let mut assigned = Vec::new();
    for out in &call.outputs {
        let Some((_, value)) = values.iter().find(|(name, _)| *name == out.from) else {
            continue; // the called process never set it
        };
        let var = &m.variables[out.variable as usize];
        if Some(value.ty()) != Type::from_code(var.ty) {
            return Err(bad_variables(format!(
                "call activity `{}`: `{}` of the called process is {}, `{}` is not",
                n.id,
                out.from,
                value.ty(),
                var.name
            )));
        }
        assigned.push((out.variable, value.clone()));
    }
    let counter = run
        .instance_counter(node, Some(counter))
        .map_err(|e| Refusal::new(Kind::InstanceNotWaiting, e))?;
    run.deactivate(node);
    run.give_item(node, counter)?;
    run.assign(&assigned);
    run.step_vars(node, "returned", detail, assigned);
    run.end_iteration(node, counter)?;
    run.advance()?;
    Ok(run.out)
}

/// A chain event matched the subscription of `node`.
pub fn deliver(
    m: &Machine,
    inst: &mut Instance,
    node: usize,
    detail: String,
    now_ms: u64,
) -> Result<Outcome, Refusal> {
    running(inst)?;
    let mut run = Run::new(m, inst, now_ms);
    if branch::scope(m, node).is_some() {
        // The first parked instance waiting for it.
        let pos = (0..run.inst.parked.len()).find(|&pos| {
            if !run.inst.parked[pos].started {
                return false;
            }
            let (view, current) = branch::view(m, run.inst, pos);
            let mut at = Vec::new();
            armed_in(m, &view, current, &mut at);
            at.contains(&node)
        });
        match pos {
            Some(pos) => run.unpark(pos),
            None => return Ok(run.out),
        }
    }
    if run.trigger(node, "received")? {
        if let Some(s) = run.out.steps.last_mut() {
            s.detail = detail;
        }
    }
    if !run.out.steps.is_empty() || run.current.is_some() {
        run.advance()?;
    }
    Ok(run.out)
}

/// Stop a running instance.
pub fn cancel(
    m: &Machine,
    inst: &mut Instance,
    actor: &Actor,
    now_ms: u64,
) -> Result<Outcome, Refusal> {
    running(inst)?;
    if !allows(&m.cancel_allowed, actor, &inst.starter) {
        return Err(Refusal::new(
            Kind::NotAllowed,
            format!(
                "{} is not allowed to cancel instance {} (allowed: {})",
                actor.describe(),
                inst.id,
                m.cancel_allowed.join(", ")
            ),
        ));
    }
    abort(m, inst, actor.describe(), now_ms)
}

/// Stop a running instance, for a person allowed to ([`cancel`]) or for
/// the chain: the activity that called it was interrupted or its caller
/// cancelled.
pub fn abort(
    m: &Machine,
    inst: &mut Instance,
    detail: String,
    now_ms: u64,
) -> Result<Outcome, Refusal> {
    running(inst)?;
    let mut run = Run::new(m, inst, now_ms);
    run.inst.marks.clear();
    run.inst.active.clear();
    run.inst.timers.clear();
    run.inst.pending.clear();
    run.inst.loops.clear();
    run.inst.parked.clear();
    run.inst.state = state::CANCELLED;
    let first = m.starts.first().copied().unwrap_or(0) as usize;
    run.step(first, "cancelled", detail);
    Ok(run.out)
}

fn may_start(m: &Machine, actor: &Actor) -> Result<(), Refusal> {
    if allows(&m.start_allowed, actor, &actor.member) {
        return Ok(());
    }
    Err(Refusal::new(
        Kind::NotAllowed,
        format!(
            "{} is not allowed to start `{}` (allowed: {})",
            actor.describe(),
            m.name,
            m.start_allowed.join(", ")
        ),
    ))
}

fn bad_variables(message: String) -> Refusal {
    Refusal::new(Kind::BadVariables, message)
}

fn running(inst: &Instance) -> Result<(), Refusal> {
    if inst.state != state::RUNNING {
        return Err(Refusal::new(
            Kind::NotRunning,
            format!("instance {} is {}", inst.id, state::name(inst.state)),
        ));
    }
    Ok(())
}

/// Nodes currently waiting for a timer or message: active catch events,
/// receive tasks and timer starts, the targets of armed event gateways, and
/// the boundary events of active activities.
pub fn armed(m: &Machine, inst: &Instance) -> Vec<usize> {
    let mut out = Vec::new();
    for (view, current) in branch::views(m, inst) {
        armed_in(m, &view, current, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// [`armed`] in one view (the instance, or one parked instance brought back).
fn armed_in(m: &Machine, inst: &Instance, current: Option<u16>, out: &mut Vec<usize>) {
    for &a in &inst.active {
        let a = a as usize;
        let n = &m.nodes[a];
        if n.kind == kind::GATEWAY && n.sub == gateway::EVENT {
            out.extend(
                n.outgoing
                    .iter()
                    .map(|&f| m.flows[f as usize].target as usize),
            );
        } else if is_catching(m, a) {
            out.push(a);
        }
        // The events on the boundary of an active activity.
        out.extend((0..m.nodes.len()).filter(|&b| m.nodes[b].attached == Some(a as u16)));
    }
    // The start events of event subprocesses whose scope runs.
    out.extend((0..m.nodes.len()).filter(|&n| armed_event_sub(m, inst, n, current).is_some()));
}

/// Ids of the elements an instance waits at (tasks, catch events, armed
/// event-gateway targets), sorted.
pub fn waiting(m: &Machine, inst: &Instance) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (view, _) in branch::views(m, inst) {
        waiting_in(m, &view, &mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// [`waiting`] in one view.
fn waiting_in(m: &Machine, inst: &Instance, out: &mut Vec<String>) {
    for &a in &inst.active {
        let n = &m.nodes[a as usize];
        if n.kind == kind::GATEWAY && n.sub == gateway::EVENT {
            out.extend(
                n.outgoing
                    .iter()
                    .map(|&f| m.nodes[m.flows[f as usize].target as usize].id.clone()),
            );
        } else if n.kind != kind::SUBPROCESS {
            out.push(n.id.clone());
        }
    }
    // Service tasks holding a token until their message arrives.
    for (i, n) in m.nodes.iter().enumerate() {
        if n.kind == kind::TASK
            && n.sub == task::SERVICE
            && takes_message(m, i)
            && n.incoming
                .iter()
                .any(|&f| inst.marks.iter().any(|k| k.flow == f))
        {
            out.push(n.id.clone());
        }
    }
}

/// The instances of activity `node` under way, by `loopCounter`: the
/// waiting ones of a parallel multi-instance activity, else the current
/// iteration (0 for an activity that does not loop); none if inactive.
pub fn live_instances(m: &Machine, inst: &Instance, node: usize) -> Vec<u16> {
    if branch::scope(m, node).is_some() {
        // Inside a parallel multi-instance subprocess (where nothing else
        // repeats in parallel): the instances of it in which `node` waits.
        return inst
            .parked
            .iter()
            .filter(|p| p.active.contains(&(node as u16)))
            .map(|p| p.counter)
            .collect();
    }
    if !inst.active.contains(&(node as u16)) {
        return Vec::new();
    }
    match inst.loops.iter().find(|l| l.node as usize == node) {
        Some(l) if !l.open.is_empty() => l.open.clone(),
        Some(l) => vec![u16::try_from(l.done).unwrap_or(u16::MAX)],
        None => vec![0],
    }
}

pub use crate::branch::{active_nodes, timers, timers_by_instance};

/// One instance of a parallel multi-instance subprocess under way.
#[derive(Clone, Debug, PartialEq)]
pub struct SubprocessInstance {
    pub subprocess: String,
    pub counter: u16,
    /// Ids of the elements it waits at, sorted.
    pub waiting: Vec<String>,
    /// Its own item and result.
    pub locals: Vec<(String, Value)>,
}

/// The instances of parallel multi-instance subprocesses that have begun,
/// by subprocess and `loopCounter`.
pub fn subprocess_instances(m: &Machine, inst: &Instance) -> Vec<SubprocessInstance> {
    (0..inst.parked.len())
        .filter(|&pos| inst.parked[pos].started)
        .map(|pos| {
            let p = &inst.parked[pos];
            // Only its own places: the view without the rest of the instance.
            let mut alone = inst.clone();
            alone.marks.clear();
            alone.active.clear();
            alone.parked = vec![p.clone()];
            let (view, _) = branch::view(m, &alone, 0);
            let mut waiting = Vec::new();
            waiting_in(m, &view, &mut waiting);
            waiting.sort();
            waiting.dedup();
            SubprocessInstance {
                subprocess: m.nodes[p.node as usize].id.clone(),
                counter: p.counter,
                waiting,
                locals: p
                    .locals
                    .iter()
                    .filter_map(|a| {
                        Some((
                            m.variables.get(a.variable as usize)?.name.clone(),
                            a.value.clone(),
                        ))
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Variables of an instance by name.
pub fn variables(m: &Machine, inst: &Instance) -> Vec<(String, Value)> {
    inst.vars
        .iter()
        .filter_map(|a| {
            Some((
                m.variables.get(a.variable as usize)?.name.clone(),
                a.value.clone(),
            ))
        })
        .collect()
}

/// A rule's output as its variable's type (an integer into a decimal).
fn as_type(v: Value, ty: Type) -> Result<Value, String> {
    match (v, ty) {
        (Value::Int(i), Type::Decimal) => i
            .checked_mul(10i64.pow(expr::DECIMAL_SCALE))
            .map(Value::Decimal)
            .ok_or_else(|| format!("{i} is too large for a decimal")),
        (v, ty) if v.ty() == ty => Ok(v),
        (v, ty) => Err(format!("{v} is not {ty}")),
    }
}

/// Two values of one numeric type summed (or counted), or the smaller or
/// larger kept, by a collect hit policy.
fn aggregate(policy: u8, a: &Value, b: &Value) -> Result<Value, String> {
    let (x, y, make): (i64, i64, fn(i64) -> Value) = match (a, b) {
        (Value::Int(x), Value::Int(y)) => (*x, *y, Value::Int),
        (Value::Decimal(x), Value::Decimal(y)) => (*x, *y, Value::Decimal),
        _ => return Err(format!("cannot aggregate {a} and {b}")),
    };
    Ok(make(match policy {
        hit::COLLECT_MIN => x.min(y),
        hit::COLLECT_MAX => x.max(y),
        _ => x.checked_add(y).ok_or("the aggregated output overflows")?,
    }))
}

/// The event subprocess whose start event `n` is.
fn event_sub_of(m: &Machine, n: usize) -> Option<usize> {
    let node = &m.nodes[n];
    let p = node.parent.filter(|_| node.kind == kind::START)? as usize;
    let esp = &m.nodes[p];
    (esp.kind == kind::SUBPROCESS && esp.sub == crate::machine::subprocess::EVENT).then_some(p)
}

/// If `n` is the start event of an event subprocess that its trigger would
/// start now, that event subprocess: its scope runs (the instance, or the
/// subprocess around it is active — for a parallel multi-instance one, the
/// instance of it brought back, `current`), and an interrupting one is not
/// already running.
fn armed_event_sub(m: &Machine, inst: &Instance, n: usize, current: Option<u16>) -> Option<usize> {
    let esp = event_sub_of(m, n)?;
    let scope_runs = match m.nodes[esp].parent {
        Some(s) if branch::scope(m, esp) == Some(s as usize) => current == Some(s),
        Some(s) => inst.active.contains(&s),
        None => inst.state == state::RUNNING,
    };
    let blocked = m.nodes[n].interrupting && inst.active.contains(&(esp as u16));
    (scope_runs && !blocked).then_some(esp)
}

/// Does task `n` take a message as an input (a message flow ends at it and
/// it is not a receiver)? It is completed, or runs, only once the message
/// has arrived.
fn takes_message(m: &Machine, n: usize) -> bool {
    m.nodes[n].kind == kind::TASK
        && m.nodes[n].sub != task::RECEIVE
        && m.messages.iter().any(|mf| mf.target as usize == n)
}

/// The arrived message `n` takes, if any (index into `pending`).
fn arrived_message(m: &Machine, inst: &Instance, n: usize) -> Option<usize> {
    inst.pending.iter().position(|&msg| {
        m.messages
            .get(msg as usize)
            .is_some_and(|mf| mf.target as usize == n)
    })
}

fn is_catching(m: &Machine, n: usize) -> bool {
    let node = &m.nodes[n];
    matches!(
        (node.kind, node.sub),
        (kind::CATCH, _) | (kind::TASK, task::RECEIVE) | (kind::START, trigger::TIMER)
    )
}

/// The reserved `loopCounter` of a completion's variables: which instance
/// of a multi-instance task it completes (BPMN 2.0 §10.3.8 names an
/// instance's index so); the other variables are returned without it.
fn loop_counter(vars: &Json) -> Result<(Option<u16>, Json), String> {
    let Json::Object(obj) = vars else {
        return Ok((None, vars.clone()));
    };
    let mut rest = obj.clone();
    let Some(raw) = rest.remove("loopCounter") else {
        return Ok((None, vars.clone()));
    };
    let counter = raw
        .as_u64()
        .and_then(|c| u16::try_from(c).ok())
        .filter(|&c| (c as usize) < MAX_TOKENS)
        .ok_or_else(|| {
            format!(
                "loopCounter must be an instance number from 0 to {}, found {raw}",
                MAX_TOKENS - 1
            )
        })?;
    Ok((Some(counter), Json::Object(rest)))
}

/// Typed output variables from a client's JSON object: exactly `allowed`, all required.
fn parse_vars(m: &Machine, allowed: &[u16], vars: &Json) -> Result<Vec<(u16, Value)>, String> {
    let empty = serde_json::Map::new();
    let obj = match vars {
        Json::Null => &empty,
        Json::Object(o) => o,
        _ => return Err("variables must be a JSON object".into()),
    };
    for key in obj.keys() {
        match m.variable_index(key) {
            Some(i) if allowed.contains(&(i as u16)) => {}
            Some(_) => return Err(format!("variable `{key}` is not an output of this step")),
            None => return Err(format!("unknown variable `{key}`")),
        }
    }
    let mut out = Vec::with_capacity(allowed.len());
    for &i in allowed {
        let var = &m.variables[i as usize];
        let ty = Type::from_code(var.ty).ok_or("corrupt variable type")?;
        let raw = obj
            .get(&var.name)
            .ok_or_else(|| format!("missing variable `{}` ({ty})", var.name))?;
        let value =
            Value::from_json(ty, raw).map_err(|e| format!("variable `{}`: {e}", var.name))?;
        out.push((i, value));
    }
    Ok(out)
}

/// A signal still to reach parked instances of parallel multi-instance
/// subprocesses (those parked when it was thrown, but the thrower's).
struct Broadcast {
    name: Option<String>,
    catch_all: bool,
    detail: String,
    targets: Vec<(u16, u16)>,
}

struct Run<'a> {
    m: &'a Machine,
    inst: &'a mut Instance,
    now: u64,
    out: Outcome,
    auto_steps: usize,
    /// The instance of a parallel multi-instance subprocess brought back
    /// (subprocess, `loopCounter`); see [`crate::branch`].
    current: Option<(u16, u16)>,
    broadcasts: Vec<Broadcast>,
}

impl<'a> Run<'a> {
    fn new(m: &'a Machine, inst: &'a mut Instance, now: u64) -> Self {
        inst.updated_ms = now;
        Self {
            m,
            inst,
            now,
            out: Outcome::default(),
            auto_steps: 0,
            current: None,
            broadcasts: Vec::new(),
        }
    }

    /// "instance k" for subprocess `node` if instance k of it is the one
    /// brought back (history names which instance a step is about).
    fn instance_detail(&self, node: usize) -> String {
        match self.current {
            Some((s, c)) if s as usize == node => format!("instance {c}"),
            _ => String::new(),
        }
    }

    fn current_scope(&self) -> Option<u16> {
        self.current.map(|(s, _)| s)
    }

    /// Bring parked instance `pos` back (nothing else may be brought back).
    fn unpark(&mut self, pos: usize) {
        debug_assert!(self.current.is_none(), "two instances brought back");
        self.current = Some(branch::unpark(self.m, self.inst, pos));
    }

    /// If `node` is inside a parallel multi-instance subprocess, bring
    /// back the first of its parked instances where `node` is active that
    /// `pick` accepts.
    fn unpark_for(
        &mut self,
        node: usize,
        pick: impl Fn(&crate::machine::Parked) -> bool,
    ) -> Result<(), Refusal> {
        let Some(s) = branch::scope(self.m, node) else {
            return Ok(());
        };
        let (sub, id) = (&self.m.nodes[s].id, &self.m.nodes[node].id);
        let waiting: Vec<usize> = (0..self.inst.parked.len())
            .filter(|&i| {
                let p = &self.inst.parked[i];
                p.node as usize == s && p.active.contains(&(node as u16))
            })
            .collect();
        if waiting.is_empty() {
            return Err(Refusal::new(
                Kind::NotActive,
                format!("`{id}` is not active in any instance of subprocess `{sub}`"),
            ));
        }
        let Some(pos) = waiting
            .iter()
            .copied()
            .find(|&i| pick(&self.inst.parked[i]))
        else {
            let counters: Vec<u16> = waiting
                .iter()
                .map(|&i| self.inst.parked[i].counter)
                .collect();
            return Err(Refusal::new(
                Kind::InstanceNotWaiting,
                format!("`{id}` waits only in instances {counters:?} of subprocess `{sub}`"),
            ));
        };
        self.unpark(pos);
        Ok(())
    }

    fn step(&mut self, node: usize, action: &'static str, detail: String) {
        self.step_vars(node, action, detail, Vec::new());
    }

    fn step_vars(
        &mut self,
        node: usize,
        action: &'static str,
        detail: String,
        vars: Vec<(u16, Value)>,
    ) {
        let n = &self.m.nodes[node];
        // A step inside an instance of a parallel subprocess names it.
        let detail = match self.current {
            Some((s, c)) if self.m.within(node, s as usize) => {
                let sub = &self.m.nodes[s as usize].id;
                if detail.is_empty() {
                    format!("instance {c} of `{sub}`")
                } else {
                    format!("{detail} (instance {c} of `{sub}`)")
                }
            }
            _ => detail,
        };
        self.out.steps.push(Step {
            element: n.id.clone(),
            name: n.name.clone(),
            action,
            detail,
            vars: vars
                .into_iter()
                .filter_map(|(i, v)| Some((self.m.variables.get(i as usize)?.name.clone(), v)))
                .collect(),
        });
    }

    fn assign(&mut self, values: &[(u16, Value)]) {
        for (i, v) in values {
            match self.inst.vars.iter_mut().find(|a| a.variable == *i) {
                Some(a) => a.value = v.clone(),
                None => self.inst.vars.push(Assigned {
                    variable: *i,
                    value: v.clone(),
                }),
            }
        }
        self.inst.vars.sort_by_key(|a| a.variable);
    }

    fn var(&self, name: &str) -> Option<Value> {
        let i = self.m.variable_index(name)? as u16;
        self.inst
            .vars
            .iter()
            .find(|a| a.variable == i)
            .map(|a| a.value.clone())
    }

    fn tokens(&self, flow: u16) -> u16 {
        self.inst
            .marks
            .iter()
            .find(|k| k.flow == flow)
            .map_or(0, |k| k.count)
    }

    fn token_total(&self) -> usize {
        self.inst
            .marks
            .iter()
            .map(|k| k.count as usize)
            .sum::<usize>()
            + self.inst.active.len()
            + branch::parked_tokens(self.inst)
    }

    fn add_token(&mut self, flow: u16) -> Result<(), String> {
        if self.token_total() >= MAX_TOKENS {
            return Err(format!("instance would hold more than {MAX_TOKENS} tokens"));
        }
        match self.inst.marks.iter_mut().find(|k| k.flow == flow) {
            Some(k) => k.count += 1,
            None => {
                self.inst.marks.push(Mark { flow, count: 1 });
                self.inst.marks.sort_by_key(|k| k.flow);
            }
        }
        Ok(())
    }

    fn take_token(&mut self, flow: u16) {
        if let Some(pos) = self.inst.marks.iter().position(|k| k.flow == flow) {
            self.inst.marks[pos].count -= 1;
            if self.inst.marks[pos].count == 0 {
                self.inst.marks.remove(pos);
            }
        }
    }

    /// A token reaches task `node`: its first iteration begins (all of them
    /// for a multi-instance task in parallel), or, looping, none at all when
    /// a standard loop tested first does not hold or there are no instances
    /// (a cardinality of 0, an empty collection).
    fn begin(&mut self, node: usize) -> Result<(), String> {
        let Some(spec) = self.m.nodes[node].looping.clone() else {
            return self.iteration(node, 0);
        };
        let items = match spec.collection {
            Some(var) => self.collection(node, var)?,
            None => Vec::new(),
        };
        // Every item must suit the item variable: found now, when the
        // collection is copied, not when a later instance's turn comes.
        if let Some(var) = spec.element {
            let v = &self.m.variables[var as usize];
            let ty = Type::from_code(v.ty).ok_or("corrupt variable type")?;
            for (i, item) in items.iter().enumerate() {
                expr::item_as(ty, item).map_err(|e| {
                    format!(
                        "instance {i} of `{}`: {e} (variable `{}`)",
                        self.m.nodes[node].id, v.name
                    )
                })?;
            }
        }
        let total = match spec.kind {
            looping::STANDARD => 0,
            _ if spec.collection.is_some() => items.len() as u32,
            _ => self.cardinality(node, spec.cardinality.as_deref())?,
        };
        let enter = match spec.kind {
            looping::STANDARD => !spec.test_before || self.holds(&spec.condition),
            _ => total > 0,
        };
        if let Some(out) = spec.output {
            // One result per instance, in the collection's order; an
            // instance that never ends (a completion condition ended the
            // task first) leaves "".
            self.assign(&[(out, Value::List(vec![String::new(); total as usize]))]);
        }
        if !enter {
            self.step(node, "skipped", String::new());
            return self.produce_all(node);
        }
        self.inst.loops.retain(|l| l.node as usize != node);
        if self.inst.loops.len() >= MAX_TOKENS {
            return Err(format!(
                "more than {MAX_TOKENS} looping tasks in one instance"
            ));
        }
        let parallel = spec.kind == looping::PARALLEL;
        self.inst.loops.push(LoopCount {
            node: node as u16,
            done: 0,
            total,
            // total <= MAX_TOKENS <= u16::MAX (asserted in `machine`).
            open: if parallel {
                (0..total as u16).collect()
            } else {
                Vec::new()
            },
            items,
        });
        if !parallel {
            return self.iteration(node, 0);
        }
        if self.m.nodes[node].kind == kind::SUBPROCESS {
            // Each instance has tokens of its own: they begin one at a
            // time, each parked before the next (see `advance`).
            if self.inst.parked.len() + total as usize > MAX_TOKENS {
                return Err(format!(
                    "more than {MAX_TOKENS} instances of parallel multi-instance subprocesses in one instance"
                ));
            }
            self.inst
                .parked
                .extend(branch::fresh(node as u16, 0..total as u16));
            self.inst.parked.sort_by_key(|p| (p.node, p.counter));
            return Ok(());
        }
        for counter in 0..total as u16 {
            // An automatic instance can end the task (its completion
            // condition): the others then never begin.
            if self.loop_of(node).is_none() {
                break;
            }
            self.iteration(node, counter)?;
        }
        Ok(())
    }

    /// A call activity (instance `counter` of it) starts its process.
    fn call(&mut self, node: usize, counter: u16) -> Result<(), String> {
        let n = &self.m.nodes[node];
        let call = n
            .call
            .as_ref()
            .ok_or_else(|| format!("call activity `{}` has no binding", n.id))?;
        let what = format!("call activity `{}`, input", n.id);
        let vars = self.json_of(&what, call.inputs.iter().map(|i| (&i.name, &i.expr)))?;
        // Inside a parallel multi-instance subprocess (where the call does
        // not loop) the called process returns to the subprocess's instance.
        let counter = match self.current {
            Some((s, c)) if branch::scope(self.m, node) == Some(s as usize) => c,
            _ => counter,
        };
        self.activate(node)?;
        self.out.children.push(ChildStart {
            node: node as u16,
            counter,
            definition: call.definition.clone(),
            version: call.version,
            vars: Json::Object(vars),
        });
        if let Some(s) = self.out.steps.last_mut() {
            s.action = "called";
            s.detail = call.definition.clone();
        }
        Ok(())
    }

    /// Named expressions evaluated into a JSON object (a call's inputs, a
    /// service's arguments).
    fn json_of<'e>(
        &self,
        what: &str,
        named: impl Iterator<Item = (&'e String, &'e String)>,
    ) -> Result<serde_json::Map<String, Json>, String> {
        let mut out = serde_json::Map::new();
        for (name, src) in named {
            let e = expr::parse(src).map_err(|e| e.to_string())?;
            let v = e
                .eval(&|var| self.var(var))
                .map_err(|e| format!("{what} `{name}`: {e}"))?;
            out.insert(name.clone(), v.to_json());
        }
        Ok(out)
    }

    /// An embedded subprocess (an iteration of it) begins: its start
    /// events fire.
    fn enter(&mut self, node: usize) -> Result<(), String> {
        self.inst.active.push(node as u16);
        self.arm_boundary(node);
        let detail = self.instance_detail(node);
        self.step(node, "started", detail);
        let inner: Vec<usize> = (0..self.m.nodes.len())
            .filter(|&c| {
                self.m.nodes[c].parent == Some(node as u16) && self.m.nodes[c].kind == kind::START
            })
            .collect();
        for s in inner {
            self.produce_all(s)?;
        }
        Ok(())
    }

    /// The items of the list variable a multi-instance task iterates.
    fn collection(&self, node: usize, var: u16) -> Result<Vec<String>, String> {
        let name = &self.m.variables[var as usize].name;
        match self.inst.vars.iter().find(|a| a.variable == var) {
            Some(Assigned {
                value: Value::List(items),
                ..
            }) => Ok(items.clone()),
            Some(_) => Err(format!("collection `{name}` is not a list")),
            None => Err(format!(
                "multi-instance activity `{}` iterates `{name}`, which is not set",
                self.m.nodes[node].id
            )),
        }
    }

    fn loop_of(&self, node: usize) -> Option<usize> {
        self.inst.loops.iter().position(|l| l.node as usize == node)
    }

    /// One iteration of a task (instance `counter` of a multi-instance
    /// task): a waiting one activates, an automatic one runs and ends.
    fn iteration(&mut self, node: usize, counter: u16) -> Result<(), String> {
        self.give_item(node, counter)?;
        match self.m.nodes[node].kind {
            kind::SUBPROCESS => return self.enter(node),
            kind::CALL => return self.call(node, counter),
            _ => {}
        }
        match self.m.nodes[node].sub {
            task::SERVICE => {
                self.take_message(node);
                self.service(node)?;
                self.end_iteration(node, counter)
            }
            task::SEND => {
                self.step(node, "sent", String::new());
                self.send(node)?;
                self.end_iteration(node, counter)
            }
            task::RULE => {
                self.decide(node)?;
                self.end_iteration(node, counter)
            }
            _ => self.activate(node),
        }
    }

    /// Which instance of a looping activity a completion (a returning
    /// call, an arrived message) ends: the one asked for, which must be
    /// waiting, else the first waiting (parallel multi-instance) or the
    /// current one (its iteration; 0 for an activity that does not loop).
    fn instance_counter(&self, node: usize, asked: Option<u16>) -> Result<u16, String> {
        let id = &self.m.nodes[node].id;
        let current = match self.loop_of(node).map(|p| &self.inst.loops[p]) {
            Some(l) if !l.open.is_empty() => {
                if let Some(c) = asked.filter(|c| !l.open.contains(c)) {
                    return Err(format!(
                        "instance {c} of `{id}` is not waiting (waiting: {:?})",
                        l.open
                    ));
                }
                return Ok(asked.unwrap_or(l.open[0]));
            }
            Some(l) => u16::try_from(l.done).unwrap_or(u16::MAX),
            None => 0,
        };
        match asked {
            Some(c) if c != current => Err(format!(
                "instance {c} of `{id}` is not waiting (the current instance is {current})"
            )),
            _ => Ok(current),
        }
    }

    /// Instance `counter` of a multi-instance task over a collection gets
    /// its item, in the element variable's type.
    fn give_item(&mut self, node: usize, counter: u16) -> Result<(), String> {
        let Some(var) = self.m.nodes[node].looping.as_ref().and_then(|l| l.element) else {
            return Ok(());
        };
        let Some(item) = self
            .loop_of(node)
            .and_then(|p| self.inst.loops[p].items.get(counter as usize).cloned())
        else {
            return Ok(());
        };
        let v = &self.m.variables[var as usize];
        let ty = Type::from_code(v.ty).ok_or("corrupt variable type")?;
        let value = expr::item_as(ty, &item).map_err(|e| {
            format!(
                "instance {counter} of `{}`: {e} (variable `{}`)",
                self.m.nodes[node].id, v.name
            )
        })?;
        self.assign(&[(var, value)]);
        Ok(())
    }

    /// An iteration of task `node` ended (instance `counter`): its result
    /// is gathered, then the next one begins, or (its condition, maximum,
    /// cardinality or completion condition says so) the task is done —
    /// instances of a parallel multi-instance task still waiting are
    /// cancelled — and the token moves on.
    fn end_iteration(&mut self, node: usize, counter: u16) -> Result<(), String> {
        let Some(spec) = self.m.nodes[node].looping.clone() else {
            return self.produce_all(node);
        };
        let Some(pos) = self.loop_of(node) else {
            return self.produce_all(node);
        };
        self.gather(node, &spec, counter)?;
        let l = &mut self.inst.loops[pos];
        l.done += 1;
        l.open.retain(|&c| c != counter);
        let (done, total) = (l.done, l.total);
        let finished = match spec.kind {
            looping::STANDARD => done >= spec.maximum || !self.holds(&spec.condition),
            _ => {
                done >= total
                    || spec.condition.as_deref().is_some_and(|src| {
                        let l = &self.inst.loops[pos];
                        let active = if spec.kind == looping::PARALLEL {
                            l.open.len() as i64
                        } else {
                            1
                        };
                        let builtin = |name: &str| match name {
                            "nrOfInstances" => Some(Value::Int(i64::from(total))),
                            "nrOfCompletedInstances" => Some(Value::Int(i64::from(done))),
                            "nrOfActiveInstances" => Some(Value::Int(active)),
                            "loopCounter" => Some(Value::Int(i64::from(counter))),
                            _ => self.var(name),
                        };
                        expr::parse(src)
                            .and_then(|e| e.eval(&builtin))
                            .is_ok_and(|v| v == Value::Bool(true))
                    })
            }
        };
        if finished {
            // Instances a completion condition ended early are named in
            // the history: cancelled, never completed.
            let cancelled = total.saturating_sub(done);
            self.inst.loops.remove(pos);
            self.inst.parked.retain(|p| p.node as usize != node);
            while self.inst.active.contains(&(node as u16)) {
                self.deactivate(node);
            }
            self.disarm_boundary(node);
            let detail = match (spec.kind, cancelled) {
                (looping::STANDARD, _) | (_, 0) => format!("{done} iterations"),
                (_, c) => format!("{done} iterations, {c} cancelled"),
            };
            self.step(node, "looped", detail);
            return self.produce_all(node);
        }
        if spec.kind == looping::PARALLEL {
            return Ok(()); // the other instances are still running
        }
        self.auto_steps += 1;
        if self.auto_steps > MAX_STEPS {
            return Err(format!(
                "more than {MAX_STEPS} automatic steps in one transaction"
            ));
        }
        // done < total <= MAX_TOKENS for multi-instance; a standard loop's
        // counter is only its iteration count, capped at u16::MAX.
        self.iteration(node, u16::try_from(done).unwrap_or(u16::MAX))
    }

    /// Instance `counter`'s result (its output element's value) into its
    /// place in the output list.
    fn gather(&mut self, node: usize, spec: &LoopSpec, counter: u16) -> Result<(), String> {
        let (Some(out), Some(elem)) = (spec.output, spec.output_element) else {
            return Ok(());
        };
        let name = &self.m.variables[elem as usize].name;
        let text = match self.var(name) {
            Some(v) => v.item_text().ok_or("an output element holds a list")?,
            None => String::new(),
        };
        let mut results = match self.inst.vars.iter().find(|a| a.variable == out) {
            Some(Assigned {
                value: Value::List(items),
                ..
            }) => items.clone(),
            _ => Vec::new(),
        };
        if results.len() <= counter as usize {
            results.resize(counter as usize + 1, String::new());
        }
        results[counter as usize] = text;
        expr::check_list(&results).map_err(|e| {
            format!(
                "the results of `{}` ({}): {e}",
                self.m.nodes[node].id, self.m.variables[out as usize].name
            )
        })?;
        self.assign(&[(out, Value::List(results))]);
        Ok(())
    }

    /// A business rule task decides: the rules whose condition holds (one
    /// that cannot be evaluated does not) give the outputs by the table's
    /// hit policy. No rule matching leaves the outputs as they were.
    fn decide(&mut self, node: usize) -> Result<(), String> {
        let n = &self.m.nodes[node];
        let d = n
            .decision
            .as_ref()
            .ok_or_else(|| format!("business rule task `{}` has no decision table", n.id))?;
        let matched: Vec<usize> = (0..d.rules.len())
            .filter(|&r| self.condition(&d.rules[r].when).unwrap_or(false))
            .take(if d.hit == hit::FIRST {
                1
            } else {
                d.rules.len()
            })
            .collect();
        let outputs = |r: usize| -> Result<Vec<(u16, Value)>, String> {
            d.rules[r]
                .then
                .iter()
                .map(|o| {
                    let var = self.m.variable_index(&o.name).ok_or("unknown output")? as u16;
                    let ty =
                        Type::from_code(self.m.variables[var as usize].ty).ok_or("bad type")?;
                    let e = expr::parse(&o.expr).map_err(|e| e.to_string())?;
                    let v = e
                        .eval(&|name| self.var(name))
                        .map_err(|e| format!("decision `{}`, rule {r}, `{}`: {e}", n.id, o.name))?;
                    Ok((var, as_type(v, ty)?))
                })
                .collect()
        };
        let assigned = match (d.hit, matched.as_slice()) {
            (_, []) => Vec::new(),
            (hit::FIRST, [r, ..]) => outputs(*r)?,
            (hit::UNIQUE, [r]) => outputs(*r)?,
            (hit::UNIQUE, [a, b, ..]) => {
                return Err(format!(
                    "decision `{}`: rules {a} and {b} both match, and its hit policy is unique",
                    n.id
                ))
            }
            (hit::ANY, [first, rest @ ..]) => {
                let out = outputs(*first)?;
                for r in rest {
                    if outputs(*r)? != out {
                        return Err(format!(
                            "decision `{}`: rules {first} and {r} match with different outputs, and its hit policy is any",
                            n.id
                        ));
                    }
                }
                out
            }
            (policy, rules) => {
                // Collect: every matching rule's outputs, aggregated per variable.
                let mut acc: Vec<(u16, Value)> = Vec::new();
                for &r in rules {
                    for (var, v) in outputs(r)? {
                        let v = if policy == hit::COLLECT_COUNT {
                            Value::Int(1)
                        } else {
                            v
                        };
                        match acc.iter_mut().find(|(a, _)| *a == var) {
                            None => acc.push((var, v)),
                            Some((_, a)) => *a = aggregate(policy, a, &v)?,
                        }
                    }
                }
                acc
            }
        };
        let detail = format!("{} rule(s) matched", matched.len());
        self.assign(&assigned);
        self.step_vars(node, "decided", detail, assigned);
        Ok(())
    }

    /// Does an optional condition hold? None holds; one that cannot be
    /// evaluated (a variable not set) does not.
    fn holds(&self, condition: &Option<String>) -> bool {
        condition
            .as_deref()
            .is_none_or(|src| self.condition(src).unwrap_or(false))
    }

    /// A multi-instance task's number of instances, 0 to [`MAX_TOKENS`].
    fn cardinality(&self, node: usize, src: Option<&str>) -> Result<u32, String> {
        let id = &self.m.nodes[node].id;
        let src = src.ok_or_else(|| format!("task `{id}` has no loopCardinality"))?;
        let e = expr::parse(src).map_err(|e| e.to_string())?;
        match e.eval(&|name| self.var(name)) {
            Ok(Value::Int(n)) if (0..=MAX_TOKENS as i64).contains(&n) => Ok(n as u32),
            Ok(v) => Err(format!(
                "loopCardinality of `{id}` is {v}: from 0 to {MAX_TOKENS} instances"
            )),
            Err(e) => Err(format!("loopCardinality of `{id}`: {e}")),
        }
    }

    /// Consume the arrived message a task takes as its input.
    fn take_message(&mut self, node: usize) {
        if !takes_message(self.m, node) {
            return;
        }
        if let Some(pos) = arrived_message(self.m, self.inst, node) {
            let msg = self.inst.pending.remove(pos);
            let id = self.m.messages[msg as usize].id.clone();
            self.step(node, "received", id);
        }
    }

    fn produce_all(&mut self, node: usize) -> Result<(), String> {
        for &f in &self.m.nodes[node].outgoing {
            self.add_token(f)?;
        }
        Ok(())
    }

    /// Make `node` wait: add it to the active set, arm its timer, and take a
    /// message that arrived early.
    fn activate(&mut self, node: usize) -> Result<(), String> {
        if self.token_total() >= MAX_TOKENS {
            return Err(format!("instance would hold more than {MAX_TOKENS} tokens"));
        }
        self.inst.active.push(node as u16);
        let n = &self.m.nodes[node];
        let targets: Vec<usize> = if n.kind == kind::GATEWAY && n.sub == gateway::EVENT {
            n.outgoing
                .iter()
                .map(|&f| self.m.flows[f as usize].target as usize)
                .collect()
        } else {
            vec![node]
        };
        for &t in &targets {
            self.arm_timer(t);
        }
        self.arm_boundary(node);
        self.step(node, "activated", String::new());
        // A message that came before its receiver waited is consumed now.
        for t in targets {
            if let Some(pos) = self
                .inst
                .pending
                .iter()
                .position(|&msg| self.m.messages[msg as usize].target as usize == t)
            {
                let msg = self.inst.pending.remove(pos);
                let detail = self.m.messages[msg as usize].id.clone();
                self.trigger(t, "received")?;
                if let Some(s) = self.out.steps.last_mut() {
                    s.detail = detail;
                }
                break;
            }
        }
        Ok(())
    }

    fn arm_timer(&mut self, node: usize) {
        if let Some(t) = &self.m.nodes[node].timer {
            let at_ms = match (t.after_ms, t.at_ms) {
                (Some(after), _) => self.now.saturating_add(after),
                (None, Some(at)) => at,
                (None, None) => return,
            };
            self.inst.timers.push(Due {
                node: node as u16,
                at_ms,
                left: t.every_ms.map_or(0, |_| t.repeats.saturating_sub(1)),
            });
        }
    }

    /// The timer of `node` fired: a repeating one with times left is
    /// armed again one interval after it was due (so a late block does not
    /// shift the schedule), any other is disarmed.
    fn timer_fired(&mut self, node: usize) {
        let every = self.m.nodes[node].timer.as_ref().and_then(|t| t.every_ms);
        let Some(pos) = self
            .inst
            .timers
            .iter()
            .position(|d| d.node as usize == node)
        else {
            return;
        };
        match (every, &mut self.inst.timers[pos]) {
            (Some(every), d) if d.left > 0 => {
                d.at_ms = d.at_ms.saturating_add(every);
                d.left -= 1;
            }
            _ => {
                self.inst.timers.remove(pos);
            }
        }
    }

    fn disarm_timer(&mut self, node: usize) {
        if let Some(pos) = self
            .inst
            .timers
            .iter()
            .position(|d| d.node as usize == node)
        {
            self.inst.timers.remove(pos);
        }
    }

    fn deactivate(&mut self, node: usize) {
        if let Some(pos) = self.inst.active.iter().position(|&a| a as usize == node) {
            self.inst.active.remove(pos);
        }
        self.disarm_timer(node);
        if self.inst.active.contains(&(node as u16)) {
            return;
        }
        // Each iteration of a looping subprocess is a scope of its own.
        for b in 0..self.m.nodes.len() {
            if event_sub_of(self.m, b)
                .is_some_and(|esp| self.m.nodes[esp].parent == Some(node as u16))
            {
                self.disarm_timer(b);
            }
        }
        // The boundary belongs to the whole activity, all its iterations
        // (BPMN 2.0 §10.3.8): it stays armed between two of them.
        if self.loop_of(node).is_none() {
            self.disarm_boundary(node);
        }
    }

    fn disarm_boundary(&mut self, activity: usize) {
        for b in 0..self.m.nodes.len() {
            if self.m.nodes[b].attached == Some(activity as u16) {
                self.disarm_timer(b);
            }
        }
    }

    /// A timer or message reaches `node`. Returns false if nothing waits there.
    fn trigger(&mut self, node: usize, action: &'static str) -> Result<bool, String> {
        if self.inst.active.contains(&(node as u16)) && is_catching(self.m, node) {
            self.deactivate(node);
        } else if let Some(g) = self.armed_gateway(node) {
            // The first event after an event-based gateway wins; the others are disarmed.
            self.deactivate(g);
            for f in self.m.nodes[g].outgoing.clone() {
                let t = self.m.flows[f as usize].target as usize;
                self.disarm_timer(t);
            }
        } else if let Some(activity) = self.armed_boundary(node) {
            // A boundary event fires once per arming (a message one stays
            // armed; a repeating timer is armed for its next time).
            self.timer_fired(node);
            if self.m.nodes[node].interrupting {
                self.interrupt(activity);
            }
        } else if let Some(esp) = armed_event_sub(self.m, self.inst, node, self.current_scope()) {
            // An event subprocess starts inside its scope; an interrupting
            // one first cancels everything else running there.
            self.timer_fired(node);
            if self.m.nodes[node].interrupting {
                let m = self.m;
                let (scope, pool) = (m.nodes[esp].parent, m.nodes[esp].pool);
                self.clear(|n| {
                    n != esp
                        && !m.within(n, esp)
                        && match scope {
                            Some(s) => m.within(n, s as usize),
                            None => m.nodes[n].pool == pool,
                        }
                });
            }
            self.inst.active.push(esp as u16);
            self.arm_boundary(esp);
            self.step(esp, "started", String::new());
        } else {
            return Ok(false);
        }
        self.step(node, action, String::new());
        if self.m.nodes[node].kind == kind::TASK {
            // A receive task: the message ends its first waiting instance.
            let counter = self.instance_counter(node, None)?;
            self.give_item(node, counter)?;
            self.end_iteration(node, counter)?;
        } else {
            self.produce_all(node)?;
        }
        Ok(true)
    }

    fn armed_gateway(&self, target: usize) -> Option<usize> {
        self.inst.active.iter().map(|&a| a as usize).find(|&a| {
            let n = &self.m.nodes[a];
            n.kind == kind::GATEWAY
                && n.sub == gateway::EVENT
                && n.outgoing
                    .iter()
                    .any(|&f| self.m.flows[f as usize].target as usize == target)
        })
    }

    /// Send along the message flows of `node`.
    fn send(&mut self, node: usize) -> Result<(), String> {
        for &msg in &self.m.nodes[node].sends {
            let mf = &self.m.messages[msg as usize];
            let target = mf.target as usize;
            let id = mf.id.clone();
            let t = &self.m.nodes[target];
            if t.kind == kind::START && t.sub == trigger::MESSAGE {
                self.step(target, "started", id);
                self.produce_all(target)?;
            } else if self.trigger(target, "received")? {
                if let Some(s) = self.out.steps.last_mut() {
                    s.detail = id;
                }
            } else {
                if self.inst.pending.len() >= MAX_TOKENS {
                    return Err("too many undelivered messages".into());
                }
                self.inst.pending.push(msg);
            }
        }
        Ok(())
    }

    /// Fire enabled automatic elements until none is left — in the
    /// instance's places, then in each parked instance of a parallel
    /// multi-instance subprocess that has something to do, one at a time —
    /// and finish the instance if nothing is left anywhere.
    fn advance(&mut self) -> Result<(), String> {
        loop {
            self.settle()?;
            if let Some((s, counter)) = self.current.take() {
                branch::park(self.m, self.inst, s, counter);
            }
            if !self.bring_back()? {
                break;
            }
            self.auto_steps += 1;
            if self.auto_steps > MAX_STEPS {
                return Err(format!(
                    "more than {MAX_STEPS} automatic steps in one transaction"
                ));
            }
        }
        if self.inst.marks.is_empty() && self.inst.active.is_empty() && self.inst.parked.is_empty()
        {
            self.inst.state = if self.inst.terminated {
                state::TERMINATED
            } else {
                state::COMPLETED
            };
            self.inst.timers.clear();
            self.inst.pending.clear();
        }
        Ok(())
    }

    /// Bring back the next parked instance with something to do, if any: one
    /// a signal thrown while it was parked reaches, then one that has not
    /// begun (it begins), then one where a conditional event may now fire.
    fn bring_back(&mut self) -> Result<bool, String> {
        while !self.broadcasts.is_empty() {
            if self.broadcasts[0].targets.is_empty() {
                self.broadcasts.remove(0);
                continue;
            }
            let target = self.broadcasts[0].targets.remove(0);
            let Some(pos) = self
                .inst
                .parked
                .iter()
                .position(|p| (p.node, p.counter) == target)
            else {
                continue; // it ended meanwhile
            };
            self.unpark(pos);
            let b = &self.broadcasts[0];
            let (name, catch_all, detail) = (b.name.clone(), b.catch_all, b.detail.clone());
            let m = self.m;
            self.catch_signal(name.as_deref(), catch_all, &detail, |t| {
                m.within(t, target.0 as usize)
            })?;
            return Ok(true);
        }
        if let Some(pos) = self.inst.parked.iter().position(|p| !p.started) {
            self.unpark(pos);
            let (s, counter) = self.current.expect("just brought back");
            self.give_item(s as usize, counter)?;
            self.enter(s as usize)?;
            return Ok(true);
        }
        // Variables changed in this move may fire a parked instance's
        // conditional event; each is looked at once (it is parked again at
        // once when none fires).
        let waiting: Vec<(u16, u16)> = self
            .inst
            .parked
            .iter()
            .filter(|p| branch::has_conditions(self.m, p.node as usize))
            .map(|p| (p.node, p.counter))
            .collect();
        for (s, counter) in waiting {
            let Some(pos) = self
                .inst
                .parked
                .iter()
                .position(|p| (p.node, p.counter) == (s, counter))
            else {
                continue;
            };
            self.unpark(pos);
            if self.fire_conditions()? {
                return Ok(true);
            }
            self.current = None;
            branch::park(self.m, self.inst, s, counter);
        }
        Ok(false)
    }

    /// Every armed catcher of a signal among `catchers` fires, in node
    /// order (an earlier one may have interrupted a later one's scope).
    fn catch_signal(
        &mut self,
        name: Option<&str>,
        catch_all: bool,
        detail: &str,
        among: impl Fn(usize) -> bool,
    ) -> Result<(), String> {
        for t in signal_catchers(self.m, name, catch_all) {
            if among(t) && self.trigger(t, "signal")? {
                if let Some(s) = self.out.steps.last_mut() {
                    s.detail = detail.to_string();
                }
            }
        }
        Ok(())
    }

    /// A signal thrown here is still to reach the parked instances.
    fn broadcast(&mut self, name: Option<String>, catch_all: bool, detail: String) {
        let targets: Vec<(u16, u16)> = self
            .inst
            .parked
            .iter()
            .filter(|p| p.started)
            .map(|p| (p.node, p.counter))
            .collect();
        if !targets.is_empty() {
            self.broadcasts.push(Broadcast {
                name,
                catch_all,
                detail,
                targets,
            });
        }
    }

    /// Fire enabled automatic elements in the instance's places until none
    /// is left.
    fn settle(&mut self) -> Result<(), String> {
        loop {
            let mut fired = false;
            for node in 0..self.m.nodes.len() {
                if self.try_fire(node)? {
                    fired = true;
                    break;
                }
            }
            if !fired && !self.finish_subprocesses()? && !self.fire_conditions()? {
                break;
            }
            self.auto_steps += 1;
            if self.auto_steps > MAX_STEPS {
                return Err(format!(
                    "more than {MAX_STEPS} automatic steps in one transaction"
                ));
            }
        }
        Ok(())
    }

    /// The lowest incoming flow of `node` holding a token.
    fn marked_incoming(&self, node: usize) -> Option<u16> {
        self.m.nodes[node]
            .incoming
            .iter()
            .copied()
            .find(|&f| self.tokens(f) > 0)
    }

    fn try_fire(&mut self, node: usize) -> Result<bool, String> {
        let n = &self.m.nodes[node];
        if n.kind == kind::GATEWAY && n.sub == gateway::PARALLEL {
            if n.incoming.is_empty() || n.incoming.iter().any(|&f| self.tokens(f) == 0) {
                return Ok(false);
            }
            for f in n.incoming.clone() {
                self.take_token(f);
            }
            let detail = if n.incoming.len() > 1 {
                "joined"
            } else {
                "routed"
            };
            self.step(
                node,
                if detail == "joined" {
                    "joined"
                } else {
                    "routed"
                },
                String::new(),
            );
            self.produce_all(node)?;
            return Ok(true);
        }
        if n.kind == kind::GATEWAY && n.sub == gateway::INCLUSIVE && n.incoming.len() > 1 {
            if !self.inclusive_join_ready(node) {
                return Ok(false);
            }
            for f in n.incoming.clone() {
                if self.tokens(f) > 0 {
                    self.take_token(f);
                }
            }
            return self.route(node, true).map(|_| true);
        }
        let Some(flow) = self.marked_incoming(node) else {
            return Ok(false);
        };
        // A service task with a message as input runs once it has arrived.
        if n.kind == kind::TASK
            && n.sub == task::SERVICE
            && takes_message(self.m, node)
            && arrived_message(self.m, self.inst, node).is_none()
        {
            return Ok(false);
        }
        self.take_token(flow);
        match (n.kind, n.sub) {
            (kind::GATEWAY, gateway::EXCLUSIVE) => self.route(node, false)?,
            (kind::GATEWAY, gateway::INCLUSIVE) => self.route(node, true)?,
            (kind::GATEWAY, _) => self.activate(node)?, // event-based
            (kind::TASK, _) => self.begin(node)?,
            (kind::THROW, sub @ (trigger::ESCALATION | trigger::SIGNAL)) => {
                let code = n.code.clone().unwrap_or_default();
                self.step(node, "thrown", code);
                self.produce_all(node)?;
                if sub == trigger::SIGNAL {
                    self.signal(node)?;
                } else {
                    self.throw(node, sub)?;
                }
            }
            (kind::THROW, _) => {
                self.step(node, "sent", String::new());
                self.send(node)?;
                self.produce_all(node)?;
            }
            (kind::END, sub) => {
                self.step(
                    node,
                    if sub == trigger::TERMINATE {
                        "terminated"
                    } else {
                        "ended"
                    },
                    String::new(),
                );
                self.send(node)?;
                match sub {
                    trigger::TERMINATE => self.terminate(node),
                    trigger::ERROR | trigger::ESCALATION => self.throw(node, sub)?,
                    trigger::SIGNAL => self.signal(node)?,
                    _ => {}
                }
            }
            (kind::CALL | kind::SUBPROCESS, _) => self.begin(node)?,
            // Catch events wait.
            _ => self.activate(node)?,
        }
        Ok(true)
    }

    fn inclusive_join_ready(&self, node: usize) -> bool {
        let n = &self.m.nodes[node];
        if self.marked_incoming(node).is_none() {
            return false;
        }
        let flows = self.m.flows.len();
        for (i, &inc) in n.incoming.iter().enumerate() {
            if self.tokens(inc) > 0 {
                continue;
            }
            let Some(bits) = n.upstream.get(i) else {
                continue;
            };
            let has = |p: usize| bits.get(p / 8).is_some_and(|b| b & (1 << (p % 8)) != 0);
            let live_flow = self
                .inst
                .marks
                .iter()
                .any(|k| !n.incoming.contains(&k.flow) && has(k.flow as usize));
            let live_node = self.inst.active.iter().any(|&a| has(flows + a as usize));
            if live_flow || live_node {
                return false;
            }
        }
        true
    }

    /// Exclusive or inclusive split. The default flow is taken when no
    /// other flow is (exclusive) or when no *conditional* flow holds
    /// (inclusive, BPMN 2.0 §10.6.3: flows without a condition are taken
    /// anyway and do not stand in for the default).
    fn route(&mut self, node: usize, inclusive: bool) -> Result<(), String> {
        let n = &self.m.nodes[node];
        if n.outgoing.is_empty() {
            // The implicit end of a path (a scope without end events).
            self.step(node, "routed", String::new());
            return Ok(());
        }
        let mut chosen = Vec::new();
        let mut condition_held = false;
        for &f in &n.outgoing {
            if Some(f) == n.default_flow {
                continue;
            }
            let flow = &self.m.flows[f as usize];
            let holds = match &flow.condition {
                None => true,
                Some(src) => self
                    .condition(src)
                    .map_err(|e| format!("condition of flow `{}` ({src}): {e}", flow.id))?,
            };
            if holds {
                condition_held |= flow.condition.is_some();
                chosen.push(f);
                if !inclusive {
                    break;
                }
            }
        }
        if chosen.is_empty() || (inclusive && !condition_held && n.default_flow.is_some()) {
            match n.default_flow {
                Some(d) => chosen.push(d),
                None => {
                    return Err(format!(
                        "gateway `{}`: no condition holds and there is no default flow",
                        n.id
                    ))
                }
            }
        }
        let detail = chosen
            .iter()
            .map(|&f| self.m.flows[f as usize].id.clone())
            .collect::<Vec<_>>()
            .join(",");
        self.step(node, "routed", detail);
        for f in chosen {
            self.add_token(f)?;
        }
        Ok(())
    }

    fn condition(&self, src: &str) -> Result<bool, String> {
        let e = expr::parse(src).map_err(|e| e.to_string())?;
        match e.eval(&|name| self.var(name)).map_err(|e| e.to_string())? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("gave {other}, not a boolean")),
        }
    }

    fn service(&mut self, node: usize) -> Result<(), String> {
        let n = &self.m.nodes[node];
        let s = n
            .service
            .as_ref()
            .ok_or_else(|| format!("service task `{}` has no binding", n.id))?;
        let what = format!("service task `{}`, argument", n.id);
        let args = self.json_of(&what, s.args.iter().map(|a| (&a.name, &a.expr)))?;
        self.out.calls.push(ServiceCall {
            element: n.id.clone(),
            module: s.module.clone(),
            method: s.method.clone(),
            args: Json::Object(args),
        });
        self.step(node, "service", format!("{}.{}", s.module, s.method));
        Ok(())
    }

    /// Terminate end event: remove every token of its scope.
    fn terminate(&mut self, end: usize) {
        let m = self.m;
        let scope = m.nodes[end].parent;
        let pool = m.nodes[end].pool;
        self.clear(|n| match scope {
            Some(s) => m.within(n, s as usize),
            None => m.nodes[n].pool == pool,
        });
        if scope.is_none() {
            self.inst.terminated = true;
        }
    }

    /// Remove the tokens of the nodes `inside` says: on flows leaving them,
    /// and active ones with their armed timers and boundary events.
    fn clear(&mut self, inside: impl Fn(usize) -> bool) {
        let m = self.m;
        self.inst.loops.retain(|l| !inside(l.node as usize));
        self.inst.parked.retain(|p| !inside(p.node as usize));
        if self.current.is_some_and(|(s, _)| inside(s as usize)) {
            self.current = None;
        }
        self.inst
            .marks
            .retain(|k| !inside(m.flows[k.flow as usize].source as usize));
        let removed: Vec<u16> = self
            .inst
            .active
            .iter()
            .copied()
            .filter(|&a| inside(a as usize))
            .collect();
        for a in removed {
            self.deactivate(a as usize);
            let n = &m.nodes[a as usize];
            if n.kind == kind::GATEWAY && n.sub == gateway::EVENT {
                for &f in &n.outgoing {
                    self.disarm_timer(m.flows[f as usize].target as usize);
                }
            }
        }
    }

    /// An interrupting boundary event cancels its activity: a task stops
    /// waiting, a subprocess loses every token inside it.
    fn interrupt(&mut self, activity: usize) {
        let m = self.m;
        if m.nodes[activity].kind == kind::SUBPROCESS {
            self.clear(|n| m.within(n, activity));
        }
        // Every instance of a multi-instance activity, and its loop.
        self.inst.loops.retain(|l| l.node as usize != activity);
        self.inst.parked.retain(|p| p.node as usize != activity);
        if self.current_scope() == Some(activity as u16) {
            self.current = None;
        }
        while self.inst.active.contains(&(activity as u16)) {
            self.deactivate(activity);
        }
        self.step(activity, "interrupted", String::new());
    }

    /// The event on the boundary of `activity` that catches `trigger` with
    /// `code` (a catcher without a code catches every code).
    fn catcher(&self, activity: usize, trigger: u8, code: &Option<String>) -> Option<usize> {
        (0..self.m.nodes.len()).find(|&b| {
            let n = &self.m.nodes[b];
            n.kind == kind::BOUNDARY
                && n.attached == Some(activity as u16)
                && n.sub == trigger
                && (n.code.is_none() || n.code == *code)
        })
    }

    /// Throw an error or escalation from `node` to the nearest enclosing
    /// running subprocess with a boundary event catching it. An uncaught
    /// error fails the move (validation refuses models where one can be);
    /// an uncaught escalation has no effect (BPMN 2.0 §10.5.4).
    fn throw(&mut self, node: usize, trigger: u8) -> Result<(), String> {
        let code = self.m.nodes[node].code.clone();
        let pool = self.m.nodes[node].pool;
        let mut scope = self.m.nodes[node].parent;
        // Depth is bounded by the node count. In each scope, from the
        // thrower's outwards: an event subprocess catching it, then an
        // event on the boundary of the subprocess that is the scope.
        for _ in 0..=self.m.nodes.len() {
            let esp_start = (0..self.m.nodes.len()).find(|&st| {
                let n = &self.m.nodes[st];
                n.sub == trigger
                    && (n.code.is_none() || n.code == code)
                    && armed_event_sub(self.m, self.inst, st, self.current_scope()).is_some_and(
                        |esp| self.m.nodes[esp].parent == scope && self.m.nodes[esp].pool == pool,
                    )
            });
            if let Some(st) = esp_start {
                self.trigger(st, "caught")?;
                if let Some(step) = self.out.steps.last_mut() {
                    step.detail = code.unwrap_or_default();
                }
                return Ok(());
            }
            let Some(s) = scope else { break };
            let s = s as usize;
            if self.inst.active.contains(&(s as u16)) {
                if let Some(b) = self.catcher(s, trigger, &code) {
                    self.trigger(b, "caught")?;
                    if let Some(step) = self.out.steps.last_mut() {
                        step.detail = code.unwrap_or_default();
                    }
                    return Ok(());
                }
            }
            scope = self.m.nodes[s].parent;
        }
        if trigger == trigger::ERROR {
            return Err(format!(
                "error `{}` thrown at `{}` is not caught",
                code.unwrap_or_default(),
                self.m.nodes[node].id
            ));
        }
        Ok(())
    }

    /// A signal reaches every armed catcher of its name in the instance:
    /// intermediate signal catch events and signal boundary events.
    fn signal(&mut self, node: usize) -> Result<(), String> {
        let code = self.m.nodes[node].code.clone();
        if let Some(name) = &code {
            self.out.signals.push(name.clone());
        }
        self.catch_signal(code.as_deref(), true, "", |_| true)?;
        self.broadcast(code, true, String::new());
        Ok(())
    }

    /// Fire the first waiting conditional event whose condition holds (a
    /// condition that cannot be evaluated yet — a variable not set — does
    /// not hold). Variables change only in moves, so checking after each
    /// move's automatic steps sees every change.
    fn fire_conditions(&mut self) -> Result<bool, String> {
        for node in 0..self.m.nodes.len() {
            let n = &self.m.nodes[node];
            if n.sub != trigger::CONDITIONAL {
                continue;
            }
            let waiting = match n.kind {
                kind::CATCH => self.inst.active.contains(&(node as u16)),
                kind::BOUNDARY => self.armed_boundary(node).is_some(),
                kind::START => {
                    armed_event_sub(self.m, self.inst, node, self.current_scope()).is_some()
                }
                _ => false,
            };
            let holds = waiting
                && n.condition
                    .as_deref()
                    .is_some_and(|src| self.condition(src).unwrap_or(false));
            if holds && self.trigger(node, "condition")? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Arm the timers on the boundary of an activity that begins — once,
    /// however many of its instances run or iterations follow.
    fn arm_boundary(&mut self, activity: usize) {
        for b in 0..self.m.nodes.len() {
            if self.m.nodes[b].attached == Some(activity as u16)
                && !self.inst.timers.iter().any(|d| d.node as usize == b)
            {
                self.arm_timer(b);
            }
        }
        if self.m.nodes[activity].kind == kind::SUBPROCESS {
            self.arm_event_subprocesses(Some(activity));
        }
    }

    /// Arm the timer start events of the event subprocesses in a scope that
    /// starts running (`None`: the instance).
    fn arm_event_subprocesses(&mut self, scope: Option<usize>) {
        for st in 0..self.m.nodes.len() {
            if event_sub_of(self.m, st)
                .is_some_and(|esp| self.m.nodes[esp].parent.map(usize::from) == scope)
            {
                self.arm_timer(st);
            }
        }
    }

    /// The activity a boundary event sits on, if it is active (so the
    /// event is armed).
    fn armed_boundary(&self, node: usize) -> Option<usize> {
        let n = &self.m.nodes[node];
        let a = n.attached.filter(|_| n.kind == kind::BOUNDARY)?;
        self.inst.active.contains(&a).then_some(a as usize)
    }

    /// Complete running subprocesses with no token left inside.
    fn finish_subprocesses(&mut self) -> Result<bool, String> {
        let m = self.m;
        let running: Vec<usize> = self
            .inst
            .active
            .iter()
            .map(|&a| a as usize)
            .filter(|&a| m.nodes[a].kind == kind::SUBPROCESS)
            .collect();
        for s in running {
            // A parallel multi-instance subprocess: only its instance
            // brought back can be seen to end (the others are parked).
            let parallel = branch::is_parallel_subprocess(m, s);
            if parallel && self.current_scope() != Some(s as u16) {
                continue;
            }
            let busy = self
                .inst
                .marks
                .iter()
                .any(|k| m.within(m.flows[k.flow as usize].source as usize, s))
                || self.inst.active.iter().any(|&a| m.within(a as usize, s))
                || self
                    .inst
                    .parked
                    .iter()
                    .any(|p| m.within(p.node as usize, s));
            if !busy {
                let counter = match self.current.take() {
                    Some((_, c)) if parallel => {
                        // What the ended instance still had armed inside (its
                        // event subprocesses' timers) ends with it; the
                        // others' are parked, untouched.
                        self.inst.timers.retain(|d| !m.within(d.node as usize, s));
                        c
                    }
                    other => {
                        self.current = other;
                        self.instance_counter(s, None)?
                    }
                };
                self.deactivate(s);
                let detail = if parallel {
                    format!("instance {counter}")
                } else {
                    String::new()
                };
                self.step(s, "completed", detail);
                self.end_iteration(s, counter)?;
                return Ok(true);
            }
        }
        Ok(false)
    }
}
