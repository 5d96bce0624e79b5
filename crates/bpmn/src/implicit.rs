//! What BPMN 2.0 leaves implicit, made explicit before compilation, so the
//! token machine needs no special cases:
//!
//! - **Implicit start** (BPMN 2.0 §10.5.2, Start Event: "If the Start Event
//!   is not used, then all Flow Nodes that do not have an incoming Sequence
//!   Flow SHALL be instantiated when the Process [or Sub-Process] is
//!   instantiated"): a scope — a pool's process or an embedded subprocess —
//!   with neither start nor end events (a scope with one must have both)
//!   gets a none start event `~start:<scope>` with a flow to each such node,
//!   so they begin together.
//! - **Message flows with a party outside** (a pool without a process):
//!   dropped; a receiver fed only from outside must be bound to a chain
//!   event.
//! - **Link events** (§10.5.5): a throw and the catch of its name become a
//!   sequence flow between them.
//! - **Conditional sequence flows leaving an activity** (§10.5.1, Sequence
//!   Flow, "Conditional flow": a token is generated for each outgoing flow
//!   whose condition is true, and for each flow without one; the default
//!   flow only when no conditional flow holds): the activity's outgoing flows
//!   move to an inclusive gateway `~split:<activity>` placed right after it.
//!
//! The implicit end (§10.5.3: with no end event in a scope, a flow node
//! without outgoing flows ends its path) needs no element: a token that has
//! nowhere to go is consumed, and the scope completes when none is left. It
//! applies, like the implicit start, to scopes without start and end events
//! ([`explicit_scope`]).
//! Synthetic ids start with `~`, which no XML id (an NCName) can.

use crate::model::*;

/// Prefix of the elements this pass adds.
pub const SYNTHETIC: char = '~';

/// Does a scope (`None`: the top level of `pool`) contain an element of
/// this kind?
fn scope_has(
    model: &Model,
    pool: usize,
    scope: Option<NodeIx>,
    f: impl Fn(&NodeKind) -> bool,
) -> bool {
    model
        .nodes
        .iter()
        .any(|n| n.parent == scope && (scope.is_some() || n.pool == pool) && f(&n.kind))
}

/// Does the scope holding `n` use start or end events of its own? Then it
/// must use both (§10.5.2: with an end event there MUST be a start event;
/// §10.5.3: with a start event there MUST be an end event), and a node
/// without outgoing flows is a mistake, not an implicit end.
pub fn explicit_scope(model: &Model, n: &Node) -> bool {
    model.nodes.iter().any(|c| {
        c.parent == n.parent
            && (n.parent.is_some() || c.pool == n.pool)
            && (matches!(c.kind, NodeKind::End(_))
                || (matches!(c.kind, NodeKind::Start(_)) && !c.id.starts_with(SYNTHETIC)))
    })
}

fn is_activity(k: &NodeKind) -> bool {
    matches!(
        k,
        NodeKind::Task(_) | NodeKind::SubProcess | NodeKind::CallActivity
    )
}

/// Nodes that begin a scope without a start event: no incoming flow, and
/// not an element with a trigger of its own (a boundary event, an event
/// subprocess, a compensation handler: all refused as unsupported anyway).
fn entry(n: &Node) -> bool {
    n.incoming.is_empty()
        && n.boundary.is_none()
        && match &n.kind {
            NodeKind::Unsupported(tag) => {
                !tag.contains("isForCompensation") && !tag.contains("event subProcess")
            }
            NodeKind::Start(_) | NodeKind::Boundary(_) | NodeKind::EventSubProcess => false,
            _ => true,
        }
}

fn add_flow(model: &mut Model, id: String, source: NodeIx, target: NodeIx) -> FlowIx {
    let f = model.flows.len();
    model.flows.push(Flow {
        id,
        name: String::new(),
        source: model.nodes[source].id.clone(),
        target: model.nodes[target].id.clone(),
        condition: None,
    });
    model.nodes[source].outgoing.push(f);
    model.nodes[target].incoming.push(f);
    f
}

fn synthetic_node(like: &Node, id: String, kind: NodeKind) -> Node {
    Node {
        id,
        name: String::new(),
        kind,
        pool: like.pool,
        parent: like.parent,
        lane: like.lane.clone(),
        incoming: Vec::new(),
        outgoing: Vec::new(),
        default_flow: None,
        timer: None,
        condition: None,
        outputs: Vec::new(),
        looped: None,
        boundary: None,
        interrupting: true,
        code: None,
    }
}

/// The model with its implicit starts and conditional flows explicit.
pub fn normalize(model: &Model) -> Model {
    let mut m = model.clone();
    outside_messages(&mut m);
    links(&mut m);
    implicit_starts(&mut m);
    conditional_flows(&mut m);
    m
}

fn implicit_starts(m: &mut Model) {
    // Scopes: each pool's top level, then each subprocess.
    let mut scopes: Vec<(usize, Option<NodeIx>, String)> = (0..m.pools.len())
        .map(|p| (p, None, m.pools[p].process_id.clone()))
        .collect();
    scopes.extend(
        m.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.kind == NodeKind::SubProcess)
            .map(|(i, n)| (n.pool, Some(i), n.id.clone())),
    );
    for (pool, scope, scope_id) in scopes {
        if scope_has(m, pool, scope, |k| {
            matches!(k, NodeKind::Start(_) | NodeKind::End(_))
        }) {
            continue;
        }
        let entries: Vec<NodeIx> = (0..m.nodes.len())
            .filter(|&i| {
                let n = &m.nodes[i];
                n.parent == scope && (scope.is_some() || n.pool == pool) && entry(n)
            })
            .collect();
        let Some(&first) = entries.first() else {
            continue;
        };
        let mut start = synthetic_node(
            &m.nodes[first],
            format!("{SYNTHETIC}start:{scope_id}"),
            NodeKind::Start(Trigger::None),
        );
        start.lane = None;
        let s = m.nodes.len();
        m.nodes.push(start);
        for (k, e) in entries.into_iter().enumerate() {
            add_flow(m, format!("{SYNTHETIC}start:{scope_id}:{k}"), s, e);
        }
    }
}

/// Message flows to or from a pool without a process (a party outside the
/// model, §9.2) carry nothing the chain can deliver: a message sent out
/// just leaves, and a message coming in must reach its receiver some other
/// way — a chain event bound in `bindings.messages`, which validation then
/// asks for by name ([`Model::from_outside`]).
fn outside_messages(m: &mut Model) {
    let external = m.external.clone();
    let mut from_outside = Vec::new();
    m.message_flows.retain(|mf| {
        if external.contains(&mf.source) {
            from_outside.push((mf.target.clone(), mf.source.clone()));
            return false;
        }
        !external.contains(&mf.target)
    });
    m.from_outside = from_outside;
}

/// Link events (§10.5.5: a throw link "jumps" to the catch link of the same
/// name in the same process level): each pair becomes a flow from the throw
/// to the catch, and both pass the token on. Throws sharing one catch are
/// allowed (several go-tos to one label); a name with no catch, or with
/// several, is left for validation to refuse.
fn links(m: &mut Model) {
    let scope_of = |n: &Node| (n.pool, n.parent);
    for t in 0..m.nodes.len() {
        if m.nodes[t].kind != NodeKind::Throw(Trigger::Link) {
            continue;
        }
        let catches: Vec<NodeIx> = (0..m.nodes.len())
            .filter(|&c| {
                m.nodes[c].kind == NodeKind::Catch(Trigger::Link)
                    && m.nodes[c].code == m.nodes[t].code
                    && scope_of(&m.nodes[c]) == scope_of(&m.nodes[t])
            })
            .collect();
        let [c] = catches[..] else { continue };
        let id = format!("{SYNTHETIC}link:{}", m.nodes[t].id);
        add_flow(m, id, t, c);
        m.nodes[t].kind = NodeKind::Throw(Trigger::None);
    }
    // A catch that received a flow passes the token on.
    for n in m.nodes.iter_mut() {
        if n.kind == NodeKind::Catch(Trigger::Link) && !n.incoming.is_empty() {
            n.kind = NodeKind::Throw(Trigger::None);
        }
    }
}

fn conditional_flows(m: &mut Model) {
    for a in 0..m.nodes.len() {
        let n = &m.nodes[a];
        if !is_activity(&n.kind) || !n.outgoing.iter().any(|&f| m.flows[f].condition.is_some()) {
            continue;
        }
        let mut split = synthetic_node(
            n,
            format!("{SYNTHETIC}split:{}", n.id),
            NodeKind::Gateway(GatewayKind::Inclusive),
        );
        split.default_flow = m.nodes[a].default_flow.take();
        split.outgoing = std::mem::take(&mut m.nodes[a].outgoing);
        let g = m.nodes.len();
        for &f in &split.outgoing {
            m.flows[f].source = split.id.clone();
        }
        let id = format!("{SYNTHETIC}split:{}:in", m.nodes[a].id);
        m.nodes.push(split);
        add_flow(m, id, a, g);
    }
}
