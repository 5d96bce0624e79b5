//! Instances of a parallel multi-instance subprocess (BPMN 2.0 §10.3.8,
//! §13.3.4): each runs the subprocess's contents with tokens of its own.
//!
//! The token game counts tokens per flow, so two instances of one scope
//! could not be told apart. Instead, at most one instance — the *current*
//! one — has its tokens in the instance's places at any time; the others are
//! *parked* (`Instance::parked`) with their marks, active nodes, timers,
//! loops and their own item and result variables. A move that concerns an
//! instance (a task in it completed, its timer, a message or signal for it)
//! brings it back, the engine plays as for any subprocess, and it is parked
//! again before the move ends. Between moves every instance is parked, so
//! what the chain stores is the same whichever order things happened in.
//!
//! What this keeps simple, refused when a model is compiled
//! ([`unsupported`]): no parallel multi-instance activity inside one (an
//! element would need two instance numbers), no looping call activity inside
//! one, and no chain event correlated by the instance's own item.

use crate::machine::{kind, looping, Assigned, Due, Instance, LoopCount, Machine, Mark, Parked};

/// Is `s` a parallel multi-instance subprocess?
pub fn is_parallel_subprocess(m: &Machine, s: usize) -> bool {
    let n = &m.nodes[s];
    n.kind == kind::SUBPROCESS
        && n.looping
            .as_ref()
            .is_some_and(|l| l.kind == looping::PARALLEL)
}

/// The nearest parallel multi-instance subprocess `node` is inside, if any.
pub fn scope(m: &Machine, node: usize) -> Option<usize> {
    let mut at = m.nodes.get(node)?.parent;
    // Depth is bounded by the node count; a corrupt parent cycle must not hang.
    for _ in 0..m.nodes.len() {
        let p = at? as usize;
        if is_parallel_subprocess(m, p) {
            return Some(p);
        }
        at = m.nodes.get(p)?.parent;
    }
    None
}

/// The variables an instance of subprocess `s` keeps for itself: the item
/// and result of `s` and of every looping activity inside it (a sequential
/// loop inside runs in each instance at its own pace).
fn locals(m: &Machine, s: usize) -> impl Iterator<Item = u16> + '_ {
    (0..m.nodes.len())
        .filter(move |&n| n == s || m.within(n, s))
        .filter_map(|n| m.nodes[n].looping.as_ref())
        .flat_map(|l| [l.element, l.output_element])
        .flatten()
}

/// Bring parked instance `pos` back into the instance's places; returns
/// its subprocess and `loopCounter`. The places inside its subprocess are
/// empty (every other instance of it is parked), so its tokens are simply
/// added; its own variables replace the process's values of them.
pub(crate) fn unpark(m: &Machine, inst: &mut Instance, pos: usize) -> (u16, u16) {
    let p = inst.parked.remove(pos);
    for k in p.marks {
        match inst.marks.iter_mut().find(|x| x.flow == k.flow) {
            Some(x) => x.count += k.count,
            None => inst.marks.push(k),
        }
    }
    inst.marks.sort_by_key(|k| k.flow);
    inst.active.extend(p.active);
    inst.timers.extend(p.timers);
    inst.loops.extend(p.loops);
    for var in locals(m, p.node as usize) {
        inst.vars.retain(|a| a.variable != var);
    }
    inst.vars.extend(p.locals);
    inst.vars.sort_by_key(|a| a.variable);
    (p.node, p.counter)
}

/// Set the current instance (`counter`) of subprocess `s` aside: every
/// place inside `s` is its own.
pub(crate) fn park(m: &Machine, inst: &mut Instance, s: u16, counter: u16) {
    let inside = |n: u16| m.within(n as usize, s as usize);
    let marks: Vec<Mark> = take(&mut inst.marks, |k| inside(m.flows[k.flow as usize].source));
    let active = take(&mut inst.active, |&a| inside(a));
    let timers: Vec<Due> = take(&mut inst.timers, |d| inside(d.node));
    let loops: Vec<LoopCount> = take(&mut inst.loops, |l| inside(l.node));
    let own: Vec<u16> = locals(m, s as usize).collect();
    let locals: Vec<Assigned> = inst
        .vars
        .iter()
        .filter(|a| own.contains(&a.variable))
        .cloned()
        .collect();
    let at = inst
        .parked
        .partition_point(|p| (p.node, p.counter) < (s, counter));
    inst.parked.insert(
        at,
        Parked {
            node: s,
            counter,
            started: true,
            marks,
            active,
            timers,
            loops,
            locals,
        },
    );
}

/// Instances of subprocess `s` that have not begun, in `loopCounter` order.
pub(crate) fn fresh(s: u16, counters: impl Iterator<Item = u16>) -> Vec<Parked> {
    counters
        .map(|counter| Parked {
            node: s,
            counter,
            started: false,
            marks: Vec::new(),
            active: Vec::new(),
            timers: Vec::new(),
            loops: Vec::new(),
            locals: Vec::new(),
        })
        .collect()
}

fn take<T>(from: &mut Vec<T>, pick: impl Fn(&T) -> bool) -> Vec<T> {
    let (taken, kept) = std::mem::take(from).into_iter().partition(|x| pick(x));
    *from = kept;
    taken
}

/// The instance as it stands, then once per parked instance that has
/// begun with that instance brought back (and its subprocess): what each
/// of them waits for is seen in its own view.
pub(crate) fn views(m: &Machine, inst: &Instance) -> Vec<(Instance, Option<u16>)> {
    let mut main = inst.clone();
    main.parked.clear();
    let mut out = vec![(main, None)];
    out.extend(
        (0..inst.parked.len())
            .filter(|&pos| inst.parked[pos].started)
            .map(|pos| view(m, inst, pos)),
    );
    out
}

/// The instance with parked instance `pos` brought back (and without the
/// other parked ones), and its subprocess.
pub(crate) fn view(m: &Machine, inst: &Instance, pos: usize) -> (Instance, Option<u16>) {
    let mut view = inst.clone();
    let own = view.parked.swap_remove(pos);
    view.parked = vec![own];
    let (s, _) = unpark(m, &mut view, 0);
    (view, Some(s))
}

/// Every armed timer of an instance, its parked instances' included.
pub fn timers(inst: &Instance) -> Vec<Due> {
    let mut out = inst.timers.clone();
    out.extend(inst.parked.iter().flat_map(|p| p.timers.iter().cloned()));
    out
}

/// Every armed timer with the subprocess instance (`loopCounter`) it
/// belongs to, if any.
pub fn timers_by_instance(inst: &Instance) -> Vec<(Due, Option<u16>)> {
    let mut out: Vec<(Due, Option<u16>)> = inst.timers.iter().map(|d| (d.clone(), None)).collect();
    for p in &inst.parked {
        out.extend(p.timers.iter().map(|d| (d.clone(), Some(p.counter))));
    }
    out
}

/// Every active node of an instance, its parked instances' included.
pub fn active_nodes(inst: &Instance) -> Vec<u16> {
    let mut out = inst.active.clone();
    out.extend(inst.parked.iter().flat_map(|p| p.active.iter().copied()));
    out
}

/// Tokens held by parked instances (they count toward `MAX_TOKENS`).
pub(crate) fn parked_tokens(inst: &Instance) -> usize {
    inst.parked
        .iter()
        .map(|p| p.marks.iter().map(|k| k.count as usize).sum::<usize>() + p.active.len())
        .sum()
}

/// Models the parking above cannot run, each with its reason: checked when
/// a process is compiled, so a deployed one never meets them.
pub fn unsupported(m: &Machine) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, n) in m.nodes.iter().enumerate() {
        let Some(s) = scope(m, i) else { continue };
        let sub = &m.nodes[s].id;
        let spec = n.looping.as_ref();
        if spec.is_some_and(|l| l.kind == looping::PARALLEL) {
            out.push((
                i,
                format!("a parallel multi-instance activity inside the parallel multi-instance subprocess `{sub}` is not supported (an element would have two instance numbers): make one of them sequential"),
            ));
        } else if n.kind == kind::CALL && spec.is_some() {
            out.push((
                i,
                format!("a looping call activity inside the parallel multi-instance subprocess `{sub}` is not supported (its called processes return to the subprocess's instance): remove its loop marker, or make the subprocess sequential"),
            ));
        }
        let item = m.nodes[s].looping.as_ref().and_then(|l| l.element);
        if let Some(sub_var) = n.subscription.as_ref().map(|x| x.variable) {
            if Some(sub_var) == item {
                out.push((
                    i,
                    format!("this event is correlated by `{}`, the item of the parallel multi-instance subprocess `{sub}`, which each of its instances holds for itself: correlate by a process variable, or make the subprocess sequential", m.variables[sub_var as usize].name),
                ));
            }
        }
    }
    out
}

/// Has subprocess `s` conditional events inside (whose condition a move
/// elsewhere may make hold while one of its instances is parked)?
pub(crate) fn has_conditions(m: &Machine, s: usize) -> bool {
    (0..m.nodes.len()).any(|n| {
        let node = &m.nodes[n];
        matches!(node.kind, kind::CATCH | kind::BOUNDARY | kind::START)
            && node.sub == crate::machine::trigger::CONDITIONAL
            && m.within(n, s)
    })
}
