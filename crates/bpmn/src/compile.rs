//! Validation and compilation: [`Model`] + [`Bindings`] → [`Machine`].
//!
//! Every problem is collected (not just the first) and names its element, so
//! a designer can fix a model in one pass.

use crate::{
    binding::{Bindings, SERVICE_MODULES},
    error::{ErrorKind, Problem, Problems},
    expr::{self, Type},
    machine::{self as m, Machine},
    model::*,
    timer,
};
use bytes::Bytes;
use commonware_codec::{Decode, Encode, EncodeSize};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Parse, validate and compile a document with its bindings.
pub fn compile_xml(xml: &str, bindings: &serde_json::Value) -> Result<Machine, Problems> {
    let model = crate::xml::parse(xml)?;
    let bindings = Bindings::from_json(bindings)?;
    compile(&model, &bindings)
}

/// Largest document [`validate_xml`] reads: past [`crate::xml::MAX_XML_BYTES`]
/// a document cannot be deployed, but a designer still gets all its other
/// problems in the same run.
pub const MAX_VALIDATE_BYTES: usize = 1 << 20;
const _: () = assert!(MAX_VALIDATE_BYTES > crate::xml::MAX_XML_BYTES);

/// Validation for designers (CLI, API; never on chain): like
/// [`compile_xml`] on what would be deployed — the process without its
/// diagram interchange, which is attached apart ([`crate::diagram`]) — and a
/// document too large to deploy is still parsed and validated, every problem
/// reported together with the size.
pub fn validate_xml(xml: &str, bindings: &serde_json::Value) -> Result<Machine, Problems> {
    if xml.len() <= crate::xml::MAX_XML_BYTES {
        return compile_xml(xml, bindings);
    }
    if xml.len() <= MAX_VALIDATE_BYTES {
        if let Some(s) = crate::diagram::split(xml) {
            if s.process.len() <= crate::xml::MAX_XML_BYTES
                && s.diagram.len() <= crate::diagram::MAX_DIAGRAM_BYTES
            {
                return compile_xml(&s.process, bindings);
            }
        }
    }
    let mut problems = vec![crate::xml::size_problem(xml)];
    if xml.len() <= MAX_VALIDATE_BYTES {
        let checked = crate::xml::parse_unbounded(xml)
            .map_err(Problems::from)
            .and_then(|model| Ok((model, Bindings::from_json(bindings)?)))
            .and_then(|(model, b)| compile(&model, &b).map(|_| ()));
        if let Err(Problems(more)) = checked {
            problems.extend(more);
        }
    }
    Err(Problems(problems))
}

pub fn compile(model: &Model, b: &Bindings) -> Result<Machine, Problems> {
    let normalized = crate::implicit::normalize(model);
    let mut c = Compiler {
        model: &normalized,
        b,
        problems: Vec::new(),
        vars: BTreeMap::new(),
    };
    c.limits();
    if !c.problems.is_empty() {
        return Err(Problems(c.problems));
    }
    c.variables();
    c.structure();
    c.reachability();
    c.automatic_loops();
    let machine = c.build();
    for (node, message) in crate::branch::unsupported(&machine) {
        let n = &machine.nodes[node];
        c.problems.push(Problem::new(
            ErrorKind::Unsupported,
            &n.id,
            &n.name,
            message,
        ));
    }
    if !c.problems.is_empty() {
        return Err(Problems(c.problems));
    }
    // Whatever was missed above: what the chain stores must decode again.
    if let Err(e) = Machine::decode_cfg(machine.encode(), &()) {
        return Err(Problem::new(
            ErrorKind::Limit,
            "",
            "",
            format!("the compiled process exceeds a limit of the stored form: {e}"),
        )
        .into());
    }
    let size = machine.encode_size();
    if size > ingot_types::limits::MAX_VALUE_BYTES - 1024 {
        return Err(Problem::new(
            ErrorKind::Limit,
            "",
            "",
            format!("compiled process is {size} bytes; split it into smaller processes"),
        )
        .into());
    }
    Ok(machine)
}

struct Compiler<'a> {
    model: &'a Model,
    b: &'a Bindings,
    problems: Vec<Problem>,
    /// Variable name → type, in a stable order (their indices in the machine).
    vars: BTreeMap<String, Type>,
}

/// The variables BPMN 2.0 (§10.3.8) defines for a multi-instance
/// activity's completion condition, all integers.
pub fn multi_instance_variable(name: &str) -> Option<Type> {
    matches!(
        name,
        "nrOfInstances" | "nrOfCompletedInstances" | "nrOfActiveInstances" | "loopCounter"
    )
    .then_some(Type::Int)
}

fn is_end(k: &NodeKind) -> bool {
    matches!(k, NodeKind::End(_))
}

/// Elements that fire as soon as a token reaches them.
fn is_automatic(k: &NodeKind) -> bool {
    matches!(
        k,
        NodeKind::Gateway(GatewayKind::Exclusive | GatewayKind::Parallel | GatewayKind::Inclusive)
            | NodeKind::Throw(_)
            | NodeKind::Task(TaskKind::Service | TaskKind::Send | TaskKind::BusinessRule)
    )
}

fn can_send(k: &NodeKind) -> bool {
    matches!(
        k,
        NodeKind::Throw(Trigger::Message)
            | NodeKind::End(EndKind::Message)
            | NodeKind::Task(TaskKind::Send | TaskKind::User | TaskKind::Manual | TaskKind::Plain)
    )
}

/// Tasks that take a message as an input they need (BPMN 2.0 §13.3.2: an
/// activity becomes active once its inputs are available): the task is
/// completed (a person's) or runs (a service task) only after its message
/// has arrived. Unlike receivers, they do not wait for nothing but a message.
fn takes_message(k: &NodeKind) -> bool {
    matches!(
        k,
        NodeKind::Task(TaskKind::User | TaskKind::Manual | TaskKind::Plain | TaskKind::Service)
    )
}

fn can_receive(k: &NodeKind) -> bool {
    matches!(
        k,
        NodeKind::Catch(Trigger::Message)
            | NodeKind::Boundary(Trigger::Message)
            | NodeKind::Start(Trigger::Message)
            | NodeKind::Task(TaskKind::Receive)
    )
}

impl<'a> Compiler<'a> {
    fn problem(&mut self, kind: ErrorKind, node: &Node, message: impl Into<String>) {
        self.problems
            .push(Problem::new(kind, &node.id, &node.name, message));
    }

    fn limits(&mut self) {
        let m = self.model;
        for (what, n, max) in [
            ("flow nodes", m.nodes.len(), m::MAX_NODES),
            ("sequence flows", m.flows.len(), m::MAX_FLOWS),
            ("message flows", m.message_flows.len(), m::MAX_MESSAGES),
        ] {
            if n > max {
                self.problems.push(Problem::new(
                    ErrorKind::Limit,
                    "",
                    "",
                    format!("{n} {what}; at most {max}"),
                ));
            }
        }
        let too_long =
            |id: &str, name: &str| id.len() > m::MAX_ID_LEN || name.len() > m::MAX_LABEL_LEN;
        let mut long: Vec<(String, String)> = Vec::new();
        long.extend(
            m.nodes
                .iter()
                .filter(|n| too_long(&n.id, &n.name))
                .map(|n| (n.id.clone(), n.name.clone())),
        );
        long.extend(
            m.flows
                .iter()
                .filter(|f| too_long(&f.id, &f.name))
                .map(|f| (f.id.clone(), f.name.clone())),
        );
        long.extend(
            m.message_flows
                .iter()
                .filter(|f| too_long(&f.id, &f.name))
                .map(|f| (f.id.clone(), f.name.clone())),
        );
        long.extend(
            m.variables
                .iter()
                .filter(|(id, name, _)| too_long(id, name) || name.len() > m::MAX_ID_LEN)
                .map(|(id, name, _)| (id.clone(), name.clone())),
        );
        for n in &m.nodes {
            for (out, _) in &n.outputs {
                if out.len() > m::MAX_ID_LEN {
                    long.push((n.id.clone(), out.clone()));
                }
            }
        }
        for f in &m.flows {
            if f.condition
                .as_ref()
                .is_some_and(|c| c.len() > m::MAX_EXPR_BYTES)
            {
                long.push((f.id.clone(), f.name.clone()));
            }
        }
        for (id, name) in long {
            let id: String = id.chars().take(m::MAX_ID_LEN / 4).collect();
            let name: String = name.chars().take(m::MAX_LABEL_LEN / 4).collect();
            self.problems.push(Problem::new(
                ErrorKind::Limit,
                id,
                name,
                format!(
                    "id or variable name longer than {} bytes, name longer than {}, or condition longer than {}",
                    m::MAX_ID_LEN,
                    m::MAX_LABEL_LEN,
                    m::MAX_EXPR_BYTES
                ),
            ));
        }
    }

    /// Types of process variables: data objects, form fields, then bindings.
    fn variables(&mut self) {
        let mut untyped = Vec::new();
        for (id, name, ty) in &self.model.variables {
            match ty.or_else(|| self.b.variables.get(name).copied()) {
                Some(t) => {
                    self.vars.insert(name.clone(), t);
                }
                None => untyped.push((id.clone(), name.clone())),
            }
        }
        for n in &self.model.nodes {
            for (name, ty) in &n.outputs {
                if let Some(t) = ty {
                    self.vars.entry(name.clone()).or_insert(*t);
                } else if !self.vars.contains_key(name) && !self.b.variables.contains_key(name) {
                    untyped.push((n.id.clone(), name.clone()));
                }
            }
        }
        for (name, t) in &self.b.variables {
            self.vars.insert(name.clone(), *t);
        }
        for (id, name) in untyped {
            if !self.vars.contains_key(&name) {
                self.problems.push(Problem::new(
                    ErrorKind::Invalid,
                    id,
                    "",
                    format!("variable `{name}` has no type: give its data object an itemDefinition or declare it in bindings.variables"),
                ));
            }
        }
        for (task, outs) in &self.b.outputs {
            if self.model.node(task).is_none() {
                self.problems.push(Problem::new(
                    ErrorKind::Bindings,
                    task,
                    "",
                    "outputs names an element that is not in the model",
                ));
            }
            for o in outs {
                if !self.vars.contains_key(o) {
                    self.problems.push(Problem::new(
                        ErrorKind::Bindings,
                        task,
                        "",
                        format!("output `{o}` has no type: declare it in bindings.variables"),
                    ));
                }
            }
        }
        if self.vars.len() > m::MAX_VARIABLES {
            self.problems.push(Problem::new(
                ErrorKind::Limit,
                "",
                "",
                format!(
                    "{} variables; at most {}",
                    self.vars.len(),
                    m::MAX_VARIABLES
                ),
            ));
        }
    }

    fn var_type(&self) -> impl Fn(&str) -> Option<Type> + '_ {
        |name| self.vars.get(name).copied()
    }

    /// Per-element checks: kinds, flows, conditions, bindings.
    fn structure(&mut self) {
        let model = self.model;
        for n in &model.nodes {
            if let NodeKind::Unsupported(tag) = &n.kind {
                self.problem(
                    ErrorKind::Unsupported,
                    n,
                    format!("`{tag}` is not supported on chain"),
                );
                continue;
            }
            if let Err((kind, message)) = self.loop_spec(n) {
                self.problem(kind, n, message);
            }
            if let Err((kind, message)) = self.decision(n) {
                self.problem(kind, n, message);
            }
            // In a scope without start and end events, a node without
            // outgoing flows ends its path (BPMN 2.0 §10.5.3); with them, it
            // is a mistake.
            if n.outgoing.is_empty()
                && !is_end(&n.kind)
                && n.kind != NodeKind::EventSubProcess
                && crate::implicit::explicit_scope(model, n)
            {
                self.problem(
                    ErrorKind::DeadEnd,
                    n,
                    format!(
                        "this {} has no outgoing sequence flow and is not an end event",
                        n.kind.describe()
                    ),
                );
            }
            if is_end(&n.kind) && !n.outgoing.is_empty() {
                self.problem(ErrorKind::Invalid, n, "an end event has outgoing flows");
            }
            if matches!(n.kind, NodeKind::Start(_)) && !n.incoming.is_empty() {
                self.problem(ErrorKind::Invalid, n, "a start event has incoming flows");
            }
            if n.parent.is_some()
                && !matches!(
                    n.kind,
                    NodeKind::Start(Trigger::None) | NodeKind::End(_) | NodeKind::EventSubProcess
                )
                && n.incoming.is_empty()
                && n.outgoing.is_empty()
            {
                self.problem(ErrorKind::Unreachable, n, "not connected");
            }
            if let Some(t) = &n.timer {
                match timer::resolve(t, self.b.timezone) {
                    Err(e) => {
                        let kind = if e.contains("not supported") {
                            ErrorKind::Unsupported
                        } else {
                            ErrorKind::Invalid
                        };
                        self.problem(kind, n, e);
                    }
                    // A process's own start event delays its instance; a
                    // cycle there would mean starting instances on a
                    // schedule, which only a transaction, a chain event or
                    // a signal does on chain.
                    Ok(t)
                        if t.every_ms.is_some()
                            && matches!(n.kind, NodeKind::Start(_))
                            && n.parent.is_none() =>
                    {
                        self.problem(
                            ErrorKind::Unsupported,
                            n,
                            "a repeating timer on a process's start event (starting instances on a schedule) is not supported: start instances by transactions, or use a timer event subprocess or a non-interrupting boundary timer",
                        );
                    }
                    Ok(_) => {}
                }
            }
            if matches!(
                n.kind,
                NodeKind::Throw(Trigger::Link) | NodeKind::Catch(Trigger::Link)
            ) {
                self.problem(
                    ErrorKind::Invalid,
                    n,
                    format!(
                        "link `{}` needs exactly one link throw event with incoming flows and one link catch event of that name in the same scope",
                        n.code.as_deref().unwrap_or("")
                    ),
                );
            }
            self.boundary(n);
            self.error_caught(n);
            self.event_condition(n);
            self.call_binding(n);
            self.event_subprocess(n);
            self.conditions(n);
            self.binding_of(n);
        }
        // Subprocesses need a none start event of their own (implicit when
        // they have no start event at all, see `implicit`).
        for (ix, n) in model.nodes.iter().enumerate() {
            if n.kind != NodeKind::SubProcess {
                continue;
            }
            if !model.nodes.iter().any(|c| c.parent == Some(ix)) {
                self.problem(
                    ErrorKind::NoStart,
                    n,
                    "this subprocess is empty (drawn collapsed, with nothing inside): give it its elements, or make it a task",
                );
            } else if !model
                .nodes
                .iter()
                .any(|c| c.parent == Some(ix) && c.kind == NodeKind::Start(Trigger::None))
            {
                self.problem(ErrorKind::NoStart, n, "subprocess has no none start event");
            }
        }
        let top_starts = model
            .nodes
            .iter()
            .filter(|n| n.parent.is_none())
            .filter(|n| {
                matches!(
                    n.kind,
                    NodeKind::Start(Trigger::None | Trigger::Timer | Trigger::Signal)
                ) || (n.kind == NodeKind::Start(Trigger::Message)
                    && self
                        .b
                        .messages
                        .get(&n.id)
                        .is_some_and(|e| e.value.is_some()))
            })
            .count();
        if top_starts == 0 {
            let (id, name) = model
                .pools
                .first()
                .map(|p| (p.process_id.clone(), p.process_name.clone()))
                .unwrap_or_default();
            self.problems.push(Problem::new(
                ErrorKind::NoStart,
                id,
                name,
                "no none, timer or signal start event, and no message start event bound to a chain event: nothing can start an instance",
            ));
        }
        self.message_flows();
        for (id, _) in self.b.services.iter() {
            match model.node(id) {
                Some(ix) if model.nodes[ix].kind == NodeKind::Task(TaskKind::Service) => {}
                _ => self.problems.push(Problem::new(
                    ErrorKind::Bindings,
                    id,
                    "",
                    "services names an element that is not a service task of the model",
                )),
            }
        }
        for id in self.b.decisions.keys() {
            if model
                .node(id)
                .is_none_or(|ix| model.nodes[ix].kind != NodeKind::Task(TaskKind::BusinessRule))
            {
                self.problems.push(Problem::new(
                    ErrorKind::Bindings,
                    id,
                    "",
                    "decisions names an element that is not a business rule task of the model",
                ));
            }
        }
        for id in self.b.calls.keys() {
            if model
                .node(id)
                .is_none_or(|ix| model.nodes[ix].kind != NodeKind::CallActivity)
            {
                self.problems.push(Problem::new(
                    ErrorKind::Bindings,
                    id,
                    "",
                    "calls names an element that is not a call activity of the model",
                ));
            }
        }
        for (id, eb) in &self.b.messages {
            let node = model.node(id).map(|ix| &model.nodes[ix]);
            let problem = match node {
                Some(n)
                    if matches!(n.kind, NodeKind::Start(Trigger::Message))
                        && !self.in_event_subprocess(n) =>
                {
                    if n.parent.is_some() {
                        Some("only a top-level message start event can be started by a chain event")
                    } else if eb.value.is_none() {
                        Some("a message start event is bound with `value` (the attribute value that starts an instance), not `variable`")
                    } else {
                        None
                    }
                }
                // A message event subprocess waits like a catch event.
                Some(n)
                    if can_receive(&n.kind)
                        && (!matches!(n.kind, NodeKind::Start(_)) || self.in_event_subprocess(n)) =>
                {
                    eb.variable.is_none().then_some(
                        "a waiting message event is bound with `variable` (correlation with the instance), not `value`",
                    )
                }
                _ => Some("messages names an element that is not a message catch event, receive task or message start event"),
            };
            if let Some(p) = problem {
                self.problems
                    .push(Problem::new(ErrorKind::Bindings, id, "", p));
            }
        }
        for (what, ids) in [
            ("participants", &self.b.participants),
            ("lanes", &self.b.lanes),
        ] {
            for id in ids.keys() {
                let known = if what == "lanes" {
                    model.lanes.iter().any(|l| &l.id == id)
                } else {
                    model.pools.iter().any(|p| &p.id == id)
                };
                if !known {
                    self.problems.push(Problem::new(
                        ErrorKind::Bindings,
                        id,
                        "",
                        format!("{what} names an element that is not in the model"),
                    ));
                }
            }
        }
    }

    /// A boundary event sits on a task or subprocess of its own scope, has
    /// no incoming flow, and an error boundary always interrupts.
    fn boundary(&mut self, n: &Node) {
        let Some((attached, interrupting)) = &n.boundary else {
            if matches!(n.kind, NodeKind::Boundary(_)) {
                self.problem(
                    ErrorKind::Invalid,
                    n,
                    "a boundary event without attachedToRef",
                );
            }
            return;
        };
        let model = self.model;
        match model.node(attached).map(|a| &model.nodes[a]) {
            Some(a)
                if matches!(
                    a.kind,
                    NodeKind::Task(_) | NodeKind::SubProcess | NodeKind::CallActivity
                ) && a.parent == n.parent
                    && a.pool == n.pool => {}
            Some(a) if matches!(a.kind, NodeKind::Unsupported(_)) => {}
            _ => self.problem(
                ErrorKind::Invalid,
                n,
                format!("attached to `{attached}`, which is not a task or subprocess beside it"),
            ),
        }
        if !n.incoming.is_empty() {
            self.problem(ErrorKind::Invalid, n, "a boundary event has incoming flows");
        }
        if n.kind == NodeKind::Boundary(Trigger::Conditional) && !interrupting {
            self.problem(
                ErrorKind::Unsupported,
                n,
                "a non-interrupting conditional boundary event is not supported (it would fire again on every move while its condition holds)",
            );
        }
        if n.kind == NodeKind::Boundary(Trigger::Error) && !interrupting {
            self.problem(
                ErrorKind::Invalid,
                n,
                "an error boundary event always interrupts its activity (cancelActivity=\"false\" is not allowed)",
            );
        }
    }

    /// A business rule task's decision table (a compact form of a DMN
    /// decision table, DMN 1.3 §8): each rule a boolean condition and
    /// outputs that are typed process variables, the hit policy one of
    /// [`m::hit::NAMES`].
    fn decision(&self, n: &Node) -> Result<Option<m::Decision>, (ErrorKind, String)> {
        if n.kind != NodeKind::Task(TaskKind::BusinessRule) {
            return Ok(None);
        }
        let Some(d) = self.b.decisions.get(&n.id) else {
            return Err((
                ErrorKind::UnboundService,
                "bind this business rule task to a decision table in bindings.decisions".into(),
            ));
        };
        let hit = m::hit::NAMES
            .iter()
            .position(|h| *h == d.hit)
            .ok_or_else(|| {
                (
                    ErrorKind::Bindings,
                    format!(
                        "hit policy `{}`: one of {}",
                        d.hit,
                        m::hit::NAMES.join(", ")
                    ),
                )
            })? as u8;
        if d.rules.len() > m::MAX_RULES {
            return Err((
                ErrorKind::Limit,
                format!("{} rules; at most {}", d.rules.len(), m::MAX_RULES),
            ));
        }
        let check = |src: &str| expr::parse(src).and_then(|e| e.check(&self.var_type()));
        let mut rules = Vec::with_capacity(d.rules.len());
        for (i, (when, then)) in d.rules.iter().enumerate() {
            match check(when) {
                Ok(Type::Bool) => {}
                Ok(t) => {
                    return Err((
                        ErrorKind::Condition,
                        format!("rule {i}: `{when}` is {t}, not boolean"),
                    ))
                }
                Err(e) => return Err((ErrorKind::Condition, format!("rule {i}: `{when}`: {e}"))),
            }
            for (var, src) in then {
                let want = self.vars.get(var).copied().ok_or_else(|| {
                    (ErrorKind::Bindings, format!("rule {i}: output `{var}` has no type: declare it in bindings.variables"))
                })?;
                let numeric = matches!(want, Type::Int | Type::Decimal);
                if hit >= m::hit::COLLECT_SUM && hit != m::hit::COLLECT_COUNT && !numeric
                    || hit == m::hit::COLLECT_COUNT && want != Type::Int
                {
                    return Err((
                        ErrorKind::Bindings,
                        format!("rule {i}: `{}` aggregates numbers (count: into an integer); `{var}` is {want}", d.hit),
                    ));
                }
                match check(src) {
                    Ok(t) if t == want || (want == Type::Decimal && t == Type::Int) => {}
                    Ok(t) => {
                        return Err((
                            ErrorKind::Condition,
                            format!("rule {i}: `{var}` = `{src}` is {t}, `{var}` is {want}"),
                        ))
                    }
                    Err(e) => {
                        return Err((
                            ErrorKind::Condition,
                            format!("rule {i}: `{var}` = `{src}`: {e}"),
                        ))
                    }
                }
            }
            rules.push(m::Rule {
                when: when.clone(),
                then: then
                    .iter()
                    .map(|(name, e)| m::ServiceArg {
                        name: name.clone(),
                        expr: e.clone(),
                    })
                    .collect(),
            });
        }
        Ok(Some(m::Decision { hit, rules }))
    }

    /// How an activity with a loop or multi-instance marker repeats (BPMN
    /// 2.0 §10.3.8): conditions type-checked, the cardinality an integer,
    /// the maximum bounded. Tasks, call activities (a called instance per
    /// instance) and embedded subprocesses (each instance with tokens of its
    /// own, see [`crate::branch`]) repeat every way.
    fn loop_spec(&self, n: &Node) -> Result<Option<m::LoopSpec>, (ErrorKind, String)> {
        let Some(def) = &n.looped else {
            return Ok(None);
        };
        match n.kind {
            NodeKind::Task(_) | NodeKind::CallActivity => {}
            NodeKind::SubProcess => {}
            _ => {
                return Err((
                    ErrorKind::Unsupported,
                    format!(
                        "a loop or multi-instance marker on a {} is not supported (tasks, call activities and subprocesses repeat)",
                        n.kind.describe()
                    ),
                ))
            }
        }
        let typed = |src: &str, want: Type, what: &str| -> Result<String, (ErrorKind, String)> {
            match expr::parse(src).and_then(|e| e.check(&self.var_type())) {
                Ok(t) if t == want => Ok(src.to_string()),
                Ok(t) => Err((
                    ErrorKind::Condition,
                    format!("{what} `{src}` is {t}, not {want}"),
                )),
                Err(e) => Err((ErrorKind::Condition, format!("{what} `{src}`: {e}"))),
            }
        };
        Ok(Some(match def {
            LoopDef::Standard {
                condition,
                test_before,
                maximum,
            } => {
                let maximum = match maximum {
                    Some(text) => text
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|v| (1..=m::MAX_LOOP_ITERATIONS).contains(v))
                        .ok_or_else(|| {
                            (
                                ErrorKind::Limit,
                                format!(
                                    "loopMaximum `{text}`: a number from 1 to {}",
                                    m::MAX_LOOP_ITERATIONS
                                ),
                            )
                        })?,
                    None if condition.is_none() => {
                        return Err((
                            ErrorKind::Invalid,
                            "a standard loop needs a loopCondition or a loopMaximum".into(),
                        ))
                    }
                    None => m::MAX_LOOP_ITERATIONS,
                };
                m::LoopSpec {
                    kind: m::looping::STANDARD,
                    condition: condition
                        .as_deref()
                        .map(|c| typed(c, Type::Bool, "loopCondition"))
                        .transpose()?,
                    test_before: *test_before,
                    maximum,
                    cardinality: None,
                    collection: None,
                    element: None,
                    output: None,
                    output_element: None,
                }
            }
            LoopDef::Multi {
                sequential,
                cardinality,
                completion,
                collection,
                element,
                output,
                output_element,
            } => {
                let cardinality = match (cardinality.as_deref(), collection) {
                    (Some(_), Some(_)) => {
                        return Err((
                            ErrorKind::Invalid,
                            "a multi-instance activity has a loopCardinality and a collection: give one".into(),
                        ))
                    }
                    (None, None) => {
                        return Err((
                            ErrorKind::Invalid,
                            "a multi-instance activity needs a loopCardinality or a collection (loopDataInputRef)".into(),
                        ))
                    }
                    (Some(c), None) => Some(typed(c, Type::Int, "loopCardinality")?),
                    (None, Some(_)) => None,
                };
                let list = |what: &str, name: &Option<String>| self.loop_variable(what, name, true);
                let scalar =
                    |what: &str, name: &Option<String>| self.loop_variable(what, name, false);
                let multi_typed = |src: &str, what: &str| -> Result<String, (ErrorKind, String)> {
                    let types = |name: &str| {
                        multi_instance_variable(name).or_else(|| self.vars.get(name).copied())
                    };
                    match expr::parse(src).and_then(|e| e.check(&types)) {
                        Ok(Type::Bool) => Ok(src.to_string()),
                        Ok(t) => Err((
                            ErrorKind::Condition,
                            format!("{what} `{src}` is {t}, not boolean"),
                        )),
                        Err(e) => Err((ErrorKind::Condition, format!("{what} `{src}`: {e}"))),
                    }
                };
                let output_element = scalar("outputDataItem", output_element)?;
                let output = list("loopDataOutputRef", output)?;
                if output.is_some() != output_element.is_some() {
                    return Err((
                        ErrorKind::Invalid,
                        "a multi-instance activity gathering results needs both a loopDataOutputRef and an outputDataItem".into(),
                    ));
                }
                m::LoopSpec {
                    collection: list("collection (loopDataInputRef)", collection)?,
                    element: scalar("element variable (inputDataItem)", element)?,
                    output,
                    output_element,
                    kind: if *sequential {
                        m::looping::SEQUENTIAL
                    } else {
                        m::looping::PARALLEL
                    },
                    condition: completion
                        .as_deref()
                        .map(|c| multi_typed(c, "completionCondition"))
                        .transpose()?,
                    test_before: false,
                    maximum: 0,
                    cardinality,
                }
            }
        }))
    }

    /// The index of a variable a multi-instance task names (a list, or a
    /// single value); Camunda writes the collection as `${name}`.
    fn loop_variable(
        &self,
        what: &str,
        name: &Option<String>,
        list: bool,
    ) -> Result<Option<u16>, (ErrorKind, String)> {
        let Some(raw) = name else {
            return Ok(None);
        };
        let name = loop_variable_name(raw);
        let Some(pos) = self.vars.keys().position(|k| k == name) else {
            return Err((
                ErrorKind::Invalid,
                format!(
                    "{what} `{raw}` is not a variable: declare `{name}` in bindings.variables{}",
                    if list { " as \"list\"" } else { "" }
                ),
            ));
        };
        let ty = self.vars[name];
        if (ty == Type::List) != list {
            let want = if list { "a list" } else { "a single value" };
            return Err((
                ErrorKind::Invalid,
                format!("{what} `{name}` is {ty}; it must be {want}"),
            ));
        }
        Ok(Some(pos as u16))
    }

    /// Is `n` the start event of an event subprocess?
    fn in_event_subprocess(&self, n: &Node) -> bool {
        n.parent
            .is_some_and(|p| self.model.nodes[p].kind == NodeKind::EventSubProcess)
    }

    /// An event subprocess has no sequence flows of its own and exactly one
    /// start event, with a trigger; start events with triggers only event
    /// subprocesses have (error, escalation, conditional; signal, except at
    /// the top of a process, where a signal thrown by any instance starts
    /// one) are refused elsewhere.
    fn event_subprocess(&mut self, n: &Node) {
        let model = self.model;
        if n.kind == NodeKind::Start(Trigger::Signal) && n.parent.is_none() && n.code.is_none() {
            self.problem(
                ErrorKind::Invalid,
                n,
                "a signal start event must name its signal (signalRef to a signal): a signal of that name thrown by any instance starts an instance",
            );
        }
        if matches!(
            n.kind,
            NodeKind::Start(
                Trigger::Error | Trigger::Escalation | Trigger::Signal | Trigger::Conditional
            )
        ) && !self.in_event_subprocess(n)
            && !(n.kind == NodeKind::Start(Trigger::Signal) && n.parent.is_none())
        {
            self.problem(
                ErrorKind::Unsupported,
                n,
                format!(
                    "a {} starts only an event subprocess on chain",
                    n.kind.describe()
                ),
            );
        }
        if n.kind != NodeKind::EventSubProcess {
            return;
        }
        if !n.incoming.is_empty() || !n.outgoing.is_empty() {
            self.problem(
                ErrorKind::Invalid,
                n,
                "an event subprocess has no incoming or outgoing sequence flows",
            );
        }
        let ix = model.node(&n.id);
        let starts: Vec<&Node> = model
            .nodes
            .iter()
            .filter(|c| c.parent == ix && matches!(c.kind, NodeKind::Start(_)))
            .collect();
        match starts.as_slice() {
            [s] if s.kind != NodeKind::Start(Trigger::None) => {}
            [_] => self.problem(
                ErrorKind::Invalid,
                n,
                "an event subprocess starts with a message, timer, error, escalation, signal or conditional start event, not a none start event",
            ),
            _ => self.problem(
                ErrorKind::NoStart,
                n,
                "an event subprocess needs exactly one start event",
            ),
        }
    }

    /// A call activity names the deployed definition it starts; its inputs
    /// are expressions over the caller's variables, its outputs caller's
    /// variables with a type. (The called definition is looked up when the
    /// call happens: it may be deployed later, or in a new version.)
    fn call_binding(&mut self, n: &Node) {
        if n.kind != NodeKind::CallActivity {
            return;
        }
        let Some(c) = self.b.calls.get(&n.id).cloned() else {
            let called = n.code.as_deref().unwrap_or("a process");
            self.problem(
                ErrorKind::UnboundService,
                n,
                format!("bind this call activity (it calls `{called}`) to a deployed definition in bindings.calls"),
            );
            return;
        };
        if let Err(e) = crate::engine::check_name(&c.definition) {
            self.problem(ErrorKind::Bindings, n, e);
        }
        for (var, src) in &c.inputs {
            if let Err(e) = expr::parse(src).and_then(|e| e.check(&self.var_type())) {
                self.problem(
                    ErrorKind::Condition,
                    n,
                    format!("input `{var}` = `{src}`: {e}"),
                );
            }
        }
        for (var, _) in &c.outputs {
            if !self.vars.contains_key(var) {
                self.problem(
                    ErrorKind::Bindings,
                    n,
                    format!("output `{var}` has no type: declare it in bindings.variables"),
                );
            }
        }
    }

    /// A conditional event's condition is a boolean over typed variables.
    fn event_condition(&mut self, n: &Node) {
        if !matches!(
            n.kind,
            NodeKind::Catch(Trigger::Conditional)
                | NodeKind::Boundary(Trigger::Conditional)
                | NodeKind::Start(Trigger::Conditional)
        ) {
            return;
        }
        let Some(src) = n.condition.clone() else {
            self.problem(
                ErrorKind::Invalid,
                n,
                "a conditional event without a condition",
            );
            return;
        };
        match expr::parse(&src).and_then(|e| e.check(&self.var_type())) {
            Ok(Type::Bool) => {}
            Ok(t) => self.problem(
                ErrorKind::Condition,
                n,
                format!("condition `{src}` is {t}, not boolean"),
            ),
            Err(e) => self.problem(ErrorKind::Condition, n, format!("`{src}`: {e}")),
        }
        if src.len() > m::MAX_EXPR_BYTES {
            self.problem(
                ErrorKind::Limit,
                n,
                format!("condition longer than {} bytes", m::MAX_EXPR_BYTES),
            );
        }
    }

    /// An error end event needs an error boundary event on a subprocess
    /// around it that catches its code: an uncaught error has nowhere to go.
    fn error_caught(&mut self, n: &Node) {
        if n.kind != NodeKind::End(EndKind::Error) {
            return;
        }
        let model = self.model;
        // An error event subprocess in a scope around it, or an error
        // boundary event on a subprocess around it.
        let esp_catches = |scope: Option<NodeIx>| {
            model.nodes.iter().any(|st| {
                st.kind == NodeKind::Start(Trigger::Error)
                    && (st.code.is_none() || st.code == n.code)
                    && st.parent.is_some_and(|esp| {
                        model.nodes[esp].kind == NodeKind::EventSubProcess
                            && model.nodes[esp].parent == scope
                            && (scope.is_some() || model.nodes[esp].pool == n.pool)
                    })
            })
        };
        let mut scope = n.parent;
        loop {
            if esp_catches(scope) {
                return;
            }
            let Some(s) = scope else { break };
            let sub = &model.nodes[s].id;
            let caught = model.nodes.iter().any(|b| {
                b.kind == NodeKind::Boundary(Trigger::Error)
                    && b.boundary.as_ref().is_some_and(|(a, _)| a == sub)
                    && (b.code.is_none() || b.code == n.code)
            });
            if caught {
                return;
            }
            scope = model.nodes[s].parent;
        }
        self.problem(
            ErrorKind::Invalid,
            n,
            format!(
                "no error boundary event or error event subprocess around it catches error `{}`: an uncaught error has nowhere to go",
                n.code.as_deref().unwrap_or("(unnamed)")
            ),
        );
    }

    fn conditions(&mut self, n: &Node) {
        let model = self.model;
        let gateway = match n.kind {
            NodeKind::Gateway(g) => Some(g),
            _ => None,
        };
        let default = n.default_flow.as_ref().and_then(|d| model.flow(d));
        if let Some(d) = &n.default_flow {
            if default.is_none_or(|f| !n.outgoing.contains(&f)) {
                self.problem(
                    ErrorKind::Invalid,
                    n,
                    format!("default flow `{d}` is not an outgoing flow of this element"),
                );
            }
        }
        let mut parsed = Vec::new();
        for &f in &n.outgoing {
            let flow = &model.flows[f];
            let Some(src) = &flow.condition else { continue };
            if !matches!(
                gateway,
                Some(GatewayKind::Exclusive | GatewayKind::Inclusive)
            ) {
                self.problems.push(Problem::new(
                    ErrorKind::Invalid,
                    &flow.id,
                    &flow.name,
                    format!("condition on a flow leaving a {}; put an exclusive or inclusive gateway before it", n.kind.describe()),
                ));
                continue;
            }
            if Some(f) == default {
                continue;
            }
            match expr::parse(src).and_then(|e| {
                let t = e.check(&self.var_type())?;
                Ok((e, t))
            }) {
                Ok((e, Type::Bool)) => parsed.push(e),
                Ok((_, t)) => self.problems.push(Problem::new(
                    ErrorKind::Condition,
                    &flow.id,
                    &flow.name,
                    format!("condition `{src}` is {t}, not boolean"),
                )),
                Err(e) => self.problems.push(Problem::new(
                    ErrorKind::Condition,
                    &flow.id,
                    &flow.name,
                    format!("`{src}`: {e}"),
                )),
            }
        }
        let Some(g @ (GatewayKind::Exclusive | GatewayKind::Inclusive)) = gateway else {
            return;
        };
        if n.outgoing.len() < 2 || default.is_some() {
            return;
        }
        let unconditional = n
            .outgoing
            .iter()
            .any(|&f| model.flows[f].condition.is_none());
        if unconditional || parsed.len() != n.outgoing.len() {
            return;
        }
        let cex = expr::find_all_false(&parsed, &self.var_type());
        if let Some(cex) = cex {
            let values: Vec<String> = cex.iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let which = if g == GatewayKind::Inclusive {
                "inclusive gateway: "
            } else {
                ""
            };
            self.problem(
                ErrorKind::RouteNowhere,
                n,
                format!(
                    "{which}every condition is false when {} and there is no default flow",
                    values.join(", ")
                ),
            );
        }
    }

    /// The lane or pool binding a person-task (or start) needs.
    fn actor_binding(&self, n: &Node) -> Option<&'a str> {
        if let Some(lane) = &n.lane {
            if let Some(b) = self.b.lanes.get(lane) {
                return Some(b);
            }
        }
        let pool = &self.model.pools[n.pool];
        self.b.participants.get(&pool.id).map(String::as_str)
    }

    fn binding_of(&mut self, n: &Node) {
        let needs_actor = matches!(
            n.kind,
            NodeKind::Task(TaskKind::User | TaskKind::Manual | TaskKind::Plain)
        );
        if needs_actor {
            match self.actor_binding(n) {
                None => {
                    let where_ = match &n.lane {
                        Some(l) => {
                            format!("its lane `{l}` and pool `{}`", self.model.pools[n.pool].id)
                        }
                        None => format!("its pool `{}`", self.model.pools[n.pool].id),
                    };
                    self.problem(
                        ErrorKind::UnboundLane,
                        n,
                        format!("nobody may complete this task: bind {where_} to an organisation or role"),
                    );
                }
                Some(spec) => {
                    if let Err(e) = self.b.resolve(spec) {
                        self.problem(ErrorKind::Bindings, n, e);
                    }
                }
            }
        }
        if n.kind == NodeKind::Task(TaskKind::Service) {
            match self.b.services.get(&n.id) {
                None => self.problem(
                    ErrorKind::UnboundService,
                    n,
                    "bind this service task to a chain action in bindings.services",
                ),
                Some(s) => {
                    if !SERVICE_MODULES.contains(&s.module.as_str()) {
                        self.problem(
                            ErrorKind::Bindings,
                            n,
                            format!(
                                "service tasks may call {}, not `{}`",
                                SERVICE_MODULES.join(", "),
                                s.module
                            ),
                        );
                    }
                    for (arg, src) in &s.args {
                        if let Err(e) = expr::parse(src).and_then(|e| e.check(&self.var_type())) {
                            self.problem(
                                ErrorKind::Condition,
                                n,
                                format!("argument `{arg}` = `{src}`: {e}"),
                            );
                        }
                    }
                }
            }
        }
        if let Some(eb) = self.b.messages.get(&n.id) {
            let unknown: Vec<&String> = eb
                .variable
                .iter()
                .chain(eb.vars.iter().map(|(v, _)| v))
                .filter(|v| !self.vars.contains_key(*v))
                .collect();
            for v in unknown {
                self.problem(
                    ErrorKind::Bindings,
                    n,
                    format!("message binding names unknown variable `{v}`"),
                );
            }
        }
    }

    fn message_flows(&mut self) {
        let model = self.model;
        for mf in &model.message_flows {
            let source = model.node(&mf.source);
            let target = self.message_target(&mf.target);
            let fail = |msg: String| Problem::new(ErrorKind::Invalid, &mf.id, &mf.name, msg);
            match source {
                Some(s) if can_send(&model.nodes[s].kind) => {}
                Some(s) => self.problems.push(fail(format!(
                    "a {} cannot send a message",
                    model.nodes[s].kind.describe()
                ))),
                None => self.problems.push(fail(format!(
                    "message flows must leave a task or event, not `{}`",
                    mf.source
                ))),
            }
            match target {
                Ok(_) => {}
                Err(e) => self.problems.push(fail(e)),
            }
        }
        // Every message receiver must be reachable by a message flow or a binding.
        for n in &model.nodes {
            if !can_receive(&n.kind) {
                continue;
            }
            let fed = model
                .message_flows
                .iter()
                .any(|mf| self.message_target(&mf.target).ok().flatten() == model.node(&n.id))
                || self.b.messages.contains_key(&n.id);
            let outside = model
                .from_outside
                .iter()
                .find(|(target, _)| *target == n.id || model.pools[n.pool].id == *target);
            if let (false, Some((_, party))) = (fed, outside) {
                self.problem(
                    ErrorKind::Invalid,
                    n,
                    format!("its message comes from `{party}`, a pool outside the process: bind it in bindings.messages to the chain event that carries that message"),
                );
            } else if !fed {
                self.problem(
                    ErrorKind::Invalid,
                    n,
                    "never receives a message: connect a message flow or bind it in bindings.messages",
                );
            }
        }
    }

    /// The node a message flow delivers to (a pool resolves to its message start event).
    fn message_target(&self, id: &str) -> Result<Option<usize>, String> {
        let model = self.model;
        if let Some(t) = model.node(id) {
            return if can_receive(&model.nodes[t].kind) || takes_message(&model.nodes[t].kind) {
                Ok(Some(t))
            } else {
                Err(format!(
                    "a {} cannot receive a message",
                    model.nodes[t].kind.describe()
                ))
            };
        }
        if let Some(p) = model.pool_of_participant(id) {
            let starts: Vec<usize> = (0..model.nodes.len())
                .filter(|&i| model.nodes[i].pool == p && model.nodes[i].parent.is_none())
                .filter(|&i| model.nodes[i].kind == NodeKind::Start(Trigger::Message))
                .collect();
            return match starts.as_slice() {
                [one] => Ok(Some(*one)),
                _ => Err(format!(
                    "pool `{id}` needs exactly one message start event to receive a message"
                )),
            };
        }
        Err(format!("message flow target `{id}` is not in the model"))
    }

    /// Every element must be reachable from a start event.
    fn reachability(&mut self) {
        let model = self.model;
        let mut seen = vec![false; model.nodes.len()];
        let mut queue: VecDeque<usize> = (0..model.nodes.len())
            .filter(|&i| {
                model.nodes[i].parent.is_none()
                    && matches!(
                        model.nodes[i].kind,
                        NodeKind::Start(_) | NodeKind::EventSubProcess
                    )
            })
            .collect();
        for &q in &queue {
            seen[q] = true;
        }
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<usize> = model.nodes[n]
                .outgoing
                .iter()
                .filter_map(|&f| model.node(&model.flows[f].target))
                .collect();
            // A running (event) subprocess starts its start events and arms
            // the event subprocesses inside it.
            if matches!(
                model.nodes[n].kind,
                NodeKind::SubProcess | NodeKind::EventSubProcess
            ) {
                next.extend(
                    (0..model.nodes.len())
                        .filter(|&c| model.nodes[c].parent == Some(n))
                        .filter(|&c| {
                            matches!(
                                model.nodes[c].kind,
                                NodeKind::Start(_) | NodeKind::EventSubProcess
                            )
                        }),
                );
            }
            // An active activity arms the events on its boundary.
            let id = &model.nodes[n].id;
            next.extend((0..model.nodes.len()).filter(|&b| {
                model.nodes[b]
                    .boundary
                    .as_ref()
                    .is_some_and(|(a, _)| a == id)
            }));
            for t in next {
                if !seen[t] {
                    seen[t] = true;
                    queue.push_back(t);
                }
            }
        }
        for (i, n) in model.nodes.iter().enumerate() {
            if !seen[i] && !matches!(n.kind, NodeKind::Unsupported(_)) {
                self.problem(
                    ErrorKind::Unreachable,
                    n,
                    "no path from a start event reaches this element",
                );
            }
        }
    }

    /// A cycle of elements that fire without waiting would spin forever.
    fn automatic_loops(&mut self) {
        let model = self.model;
        let auto: Vec<bool> = model.nodes.iter().map(|n| is_automatic(&n.kind)).collect();
        // Colours: 0 unvisited, 1 on stack, 2 done. Iterative DFS.
        let mut colour = vec![0u8; model.nodes.len()];
        let mut reported = HashSet::new();
        for root in 0..model.nodes.len() {
            if !auto[root] || colour[root] != 0 {
                continue;
            }
            let mut stack = vec![(root, 0usize)];
            colour[root] = 1;
            while let Some((n, i)) = stack.pop() {
                let outs = &model.nodes[n].outgoing;
                if i < outs.len() {
                    stack.push((n, i + 1));
                    let Some(t) = model.node(&model.flows[outs[i]].target) else {
                        continue;
                    };
                    if !auto[t] {
                        continue;
                    }
                    match colour[t] {
                        0 => {
                            colour[t] = 1;
                            stack.push((t, 0));
                        }
                        1 if reported.insert(t) => {
                            let node = &model.nodes[t];
                            self.problem(
                                ErrorKind::Invalid,
                                node,
                                "loop of automatic elements (gateways, service/send tasks, throw events) with no task or event to wait at: it would never stop",
                            );
                        }
                        _ => {}
                    }
                } else {
                    colour[n] = 2;
                }
            }
        }
    }

    fn allowed(&mut self, spec: Option<&str>, fallback: &[String]) -> Vec<String> {
        match spec {
            Some(s) => self.b.resolve(s).unwrap_or_else(|e| {
                self.problems
                    .push(Problem::new(ErrorKind::Bindings, "", "", e));
                Vec::new()
            }),
            None => fallback.to_vec(),
        }
    }

    fn build(&mut self) -> Machine {
        let model = self.model;
        let var_ix: BTreeMap<&str, u16> = self
            .vars
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i as u16))
            .collect();
        let node_ix = |id: &str| model.node(id).map(|i| i as u16);
        let mut nodes = Vec::with_capacity(model.nodes.len());
        for n in &model.nodes {
            let (kind, sub) = encode_kind(&n.kind);
            let mut outputs: Vec<u16> = n
                .outputs
                .iter()
                .filter_map(|(o, _)| var_ix.get(o.as_str()).copied())
                .collect();
            for o in self.b.outputs.get(&n.id).into_iter().flatten() {
                if let Some(&v) = var_ix.get(o.as_str()) {
                    if !outputs.contains(&v) {
                        outputs.push(v);
                    }
                }
            }
            let looping = self.loop_spec(n).ok().flatten();
            // Each instance of a person's multi-instance task gathering
            // results supplies its own: completing one requires it.
            if let (Some(v), NodeKind::Task(TaskKind::User | TaskKind::Manual | TaskKind::Plain)) =
                (looping.as_ref().and_then(|l| l.output_element), &n.kind)
            {
                if !outputs.contains(&v) {
                    outputs.push(v);
                }
            }
            let allowed = match self.actor_binding(n) {
                Some(spec) if matches!(n.kind, NodeKind::Task(_) | NodeKind::Start(_)) => {
                    self.b.resolve(spec).unwrap_or_default()
                }
                _ => Vec::new(),
            };
            let sends = model
                .message_flows
                .iter()
                .enumerate()
                .filter(|(_, mf)| mf.source == n.id)
                .map(|(i, _)| i as u16)
                .collect();
            nodes.push(m::MNode {
                id: n.id.clone(),
                name: n.name.clone(),
                kind,
                sub,
                pool: n.pool as u16,
                parent: n.parent.map(|p| p as u16),
                incoming: n.incoming.iter().map(|&f| f as u16).collect(),
                outgoing: n.outgoing.iter().map(|&f| f as u16).collect(),
                default_flow: n
                    .default_flow
                    .as_ref()
                    .and_then(|d| model.flow(d))
                    .map(|f| f as u16),
                allowed,
                outputs,
                timer: n
                    .timer
                    .as_ref()
                    .and_then(|t| timer::resolve(t, self.b.timezone).ok()),
                service: self.b.services.get(&n.id).map(|s| m::Service {
                    module: s.module.clone(),
                    method: s.method.clone(),
                    args: s
                        .args
                        .iter()
                        .map(|(name, e)| m::ServiceArg {
                            name: name.clone(),
                            expr: e.clone(),
                        })
                        .collect(),
                }),
                subscription: self.b.messages.get(&n.id).and_then(|e| {
                    Some(m::Subscription {
                        module: e.module.clone(),
                        kind: e.kind.clone(),
                        attribute: e.attribute.clone(),
                        variable: *var_ix.get(e.variable.as_deref()?)?,
                    })
                }),
                start_trigger: self.b.messages.get(&n.id).and_then(|e| {
                    Some(m::StartTrigger {
                        module: e.module.clone(),
                        kind: e.kind.clone(),
                        attribute: e.attribute.clone(),
                        value: e.value.clone()?,
                        vars: e
                            .vars
                            .iter()
                            .filter_map(|(v, a)| {
                                Some(m::EventVar {
                                    variable: *var_ix.get(v.as_str())?,
                                    attribute: a.clone(),
                                })
                            })
                            .collect(),
                    })
                }),
                sends,
                attached: n
                    .boundary
                    .as_ref()
                    .and_then(|(a, _)| model.node(a))
                    .map(|a| a as u16),
                interrupting: n.boundary.as_ref().map_or(n.interrupting, |(_, i)| *i),
                code: n.code.clone(),
                condition: n.condition.clone(),
                looping,
                decision: self.decision(n).ok().flatten(),
                call: self.b.calls.get(&n.id).map(|c| m::CallSpec {
                    definition: c.definition.clone(),
                    version: c.version,
                    inputs: c
                        .inputs
                        .iter()
                        .map(|(name, e)| m::CallInput {
                            name: name.clone(),
                            expr: e.clone(),
                        })
                        .collect(),
                    outputs: c
                        .outputs
                        .iter()
                        .filter_map(|(var, from)| {
                            Some(m::CallOutput {
                                variable: *var_ix.get(var.as_str())?,
                                from: from.clone(),
                            })
                        })
                        .collect(),
                }),
                upstream: Vec::new(),
            });
        }
        let flows: Vec<m::MFlow> = model
            .flows
            .iter()
            .map(|f| m::MFlow {
                id: f.id.clone(),
                name: f.name.clone(),
                source: node_ix(&f.source).unwrap_or(0),
                target: node_ix(&f.target).unwrap_or(0),
                condition: f.condition.clone(),
            })
            .collect();
        let messages = model
            .message_flows
            .iter()
            .map(|mf| m::MMessage {
                id: mf.id.clone(),
                name: mf.name.clone(),
                source: node_ix(&mf.source).unwrap_or(0),
                target: self.message_target(&mf.target).ok().flatten().unwrap_or(0) as u16,
            })
            .collect();
        let starts: Vec<u16> = (0..model.nodes.len())
            .filter(|&i| model.nodes[i].parent.is_none())
            .filter(|&i| {
                matches!(
                    model.nodes[i].kind,
                    NodeKind::Start(Trigger::None | Trigger::Timer)
                )
            })
            .map(|i| i as u16)
            .collect();
        let mut start_outputs: Vec<u16> = Vec::new();
        for &s in &starts {
            for o in &nodes[s as usize].outputs {
                if !start_outputs.contains(o) {
                    start_outputs.push(*o);
                }
            }
        }
        // A signal start starts as the thrower: who may is bound like any start.
        let first_start = starts.first().map(|&s| s as usize).or_else(|| {
            (0..model.nodes.len()).find(|&i| {
                model.nodes[i].parent.is_none()
                    && model.nodes[i].kind == NodeKind::Start(Trigger::Signal)
            })
        });
        let start_fallback = first_start
            .and_then(|s| self.actor_binding(&model.nodes[s]))
            .and_then(|spec| self.b.resolve(spec).ok())
            .unwrap_or_default();
        let start_allowed = self.allowed(self.b.start.as_deref(), &start_fallback);
        if let Some(first) = first_start.filter(|_| start_allowed.is_empty()) {
            let n = &model.nodes[first];
            self.problem(
                ErrorKind::UnboundLane,
                n,
                "nobody may start the process: set bindings.start or bind the start event's lane or pool",
            );
        }
        let cancel_allowed = self.allowed(self.b.cancel.as_deref(), &["starter".to_string()]);
        let mut machine = Machine {
            name: self.b.name.clone().unwrap_or_else(|| default_name(model)),
            nodes,
            flows,
            messages,
            variables: self
                .vars
                .iter()
                .map(|(name, t)| m::Variable {
                    name: name.clone(),
                    ty: t.code(),
                })
                .collect(),
            starts,
            start_outputs,
            start_allowed,
            cancel_allowed,
        };
        if let Err(e) = crate::engine::check_name(&machine.name) {
            self.problems
                .push(Problem::new(ErrorKind::Bindings, "", "", e));
        }
        upstream_sets(&mut machine);
        machine
    }
}

fn encode_kind(k: &NodeKind) -> (u8, u8) {
    use m::{gateway, kind, task, trigger};
    let t = |t: &Trigger| match t {
        Trigger::None => trigger::NONE,
        Trigger::Message => trigger::MESSAGE,
        Trigger::Timer => trigger::TIMER,
        Trigger::Error => trigger::ERROR,
        Trigger::Escalation => trigger::ESCALATION,
        Trigger::Signal => trigger::SIGNAL,
        // Never compiled: `implicit` turns links into flows, validation
        // refuses the ones left.
        Trigger::Link => u8::MAX,
        Trigger::Conditional => trigger::CONDITIONAL,
    };
    match k {
        NodeKind::Start(tr) => (kind::START, t(tr)),
        NodeKind::End(e) => (
            kind::END,
            match e {
                EndKind::None => trigger::NONE,
                EndKind::Message => trigger::MESSAGE,
                EndKind::Terminate => trigger::TERMINATE,
                EndKind::Error => trigger::ERROR,
                EndKind::Escalation => trigger::ESCALATION,
                EndKind::Signal => trigger::SIGNAL,
            },
        ),
        NodeKind::Boundary(tr) => (kind::BOUNDARY, t(tr)),
        NodeKind::CallActivity => (kind::CALL, 0),
        NodeKind::EventSubProcess => (kind::SUBPROCESS, m::subprocess::EVENT),
        NodeKind::Catch(tr) => (kind::CATCH, t(tr)),
        NodeKind::Throw(tr) => (kind::THROW, t(tr)),
        NodeKind::Task(tk) => (
            kind::TASK,
            match tk {
                TaskKind::User => task::USER,
                TaskKind::Manual => task::MANUAL,
                TaskKind::Plain => task::PLAIN,
                TaskKind::Service => task::SERVICE,
                TaskKind::Send => task::SEND,
                TaskKind::Receive => task::RECEIVE,
                TaskKind::BusinessRule => task::RULE,
            },
        ),
        NodeKind::Gateway(g) => (
            kind::GATEWAY,
            match g {
                GatewayKind::Exclusive => gateway::EXCLUSIVE,
                GatewayKind::Parallel => gateway::PARALLEL,
                GatewayKind::Inclusive => gateway::INCLUSIVE,
                GatewayKind::EventBased => gateway::EVENT,
            },
        ),
        NodeKind::SubProcess => (kind::SUBPROCESS, 0),
        // Never compiled: validation refuses it first.
        NodeKind::Unsupported(_) => (u8::MAX, 0),
    }
}

/// Definition name from the first process: lower case, `-` between words.
fn default_name(model: &Model) -> String {
    let raw = model
        .pools
        .first()
        .map(|p| {
            if p.process_name.is_empty() {
                p.process_id.clone()
            } else {
                p.process_name.clone()
            }
        })
        .unwrap_or_default();
    let mut out = String::new();
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(64).collect()
}

/// For each inclusive join, the places upstream of each incoming flow.
fn upstream_sets(machine: &mut Machine) {
    let f_count = machine.flows.len();
    let n_count = machine.nodes.len();
    for j in 0..n_count {
        let node = &machine.nodes[j];
        if node.kind != m::kind::GATEWAY
            || node.sub != m::gateway::INCLUSIVE
            || node.incoming.len() < 2
        {
            continue;
        }
        let mut sets = Vec::new();
        for &inc in &node.incoming {
            let mut bits = vec![0u8; (f_count + n_count).div_ceil(8)];
            let set = |bits: &mut Vec<u8>, i: usize| -> bool {
                let was = bits[i / 8] & (1 << (i % 8)) != 0;
                bits[i / 8] |= 1 << (i % 8);
                !was
            };
            let mut queue = VecDeque::from([inc as usize]);
            set(&mut bits, inc as usize);
            while let Some(f) = queue.pop_front() {
                let src = machine.flows[f].source as usize;
                if src == j {
                    continue;
                }
                let visit_node = |n: usize, bits: &mut Vec<u8>, queue: &mut VecDeque<usize>| {
                    if set(bits, f_count + n) {
                        for &i in &machine.nodes[n].incoming {
                            if set(bits, i as usize) {
                                queue.push_back(i as usize);
                            }
                        }
                        // Inside a subprocess the search stops at its start
                        // event: the running subprocess itself is not
                        // upstream of its own contents.
                    }
                };
                // A boundary event's token comes from its active activity.
                let sources = [Some(src), machine.nodes[src].attached.map(usize::from)];
                for src in sources.into_iter().flatten() {
                    visit_node(src, &mut bits, &mut queue);
                    // Tokens inside a subprocess reach its outgoing flows
                    // (and the events on its boundary).
                    if machine.nodes[src].kind == m::kind::SUBPROCESS {
                        for c in 0..n_count {
                            if machine.within(c, src) {
                                visit_node(c, &mut bits, &mut queue);
                                for &o in &machine.nodes[c].outgoing {
                                    set(&mut bits, o as usize);
                                }
                            }
                        }
                    }
                }
            }
            sets.push(Bytes::from(bits));
        }
        machine.nodes[j].upstream = sets;
    }
}
