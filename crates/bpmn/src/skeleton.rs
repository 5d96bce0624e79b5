//! Bindings to start from: what a document needs bound before it can be
//! deployed, filled with placeholders a designer then edits
//! (`ingot workflow bindings FILE`).
//!
//! - every pool to an organisation `org:Org<n>` (lanes fall back to their
//!   pool, so one binding per pool lets every task be completed);
//! - every variable without a type: the type its conditions need (each
//!   condition's unknown variables get the first of bool, integer, decimal,
//!   string under which it is a boolean), else `string`; a variable that
//!   conditions read but nothing sets becomes an output of the nearest
//!   person task before the condition (or of the start event);
//! - every service task to `notary.record` of a constant document, so the
//!   designer sees the shape of a service binding;
//! - the zone `+00:00` when a `timeDate` is written without one;
//! - every business rule task to an empty decision table (it decides
//!   nothing until rules are written);
//! - every call activity to the definition named after its `calledElement`
//!   (to be deployed under that name);
//! - every message receiver no message flow feeds to the `notary.recorded`
//!   chain event (correlated on its `metadata`; a top-level message start
//!   event starts on metadata equal to its id).
//!
//! A skeleton is a starting point, not a deployment decision: placeholders
//! name no real organisation of a consortium.

use crate::{
    error::Problem,
    expr::{self, Type},
    model::*,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The variable a skeleton's message receivers correlate on.
pub const CORRELATION_VARIABLE: &str = "correlation";

fn type_name(t: Type) -> &'static str {
    match t {
        Type::Bool => "boolean",
        Type::Int => "integer",
        Type::Decimal => "decimal",
        Type::Text => "string",
        Type::List => "list",
    }
}

/// A definition name (a-z, 0-9, - and _) for a called element's id.
fn definition_name(called: &str) -> String {
    let mut name = String::new();
    for c in called.chars() {
        match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => name.push(c),
            _ if !name.ends_with('-') && !name.is_empty() => name.push('-'),
            _ => {}
        }
    }
    let name: String = name.trim_end_matches('-').chars().take(64).collect();
    if name.is_empty() {
        "called-process".into()
    } else {
        name
    }
}

/// Text safe inside a single-quoted expression literal.
fn literal(text: &str) -> String {
    let clean: String = text
        .chars()
        .filter(|c| *c != '\'' && *c != '\\' && !c.is_control())
        .take(200)
        .collect();
    format!("'{clean}'")
}

/// Every condition of a model: on flows, of conditional events, of loops
/// and multi-instance completion.
fn conditions(model: &Model) -> impl Iterator<Item = &str> {
    let flows = model.flows.iter().filter_map(|f| f.condition.as_deref());
    let nodes = model.nodes.iter().flat_map(|n| {
        let looped = match &n.looped {
            Some(LoopDef::Standard { condition, .. }) => condition.as_deref(),
            Some(LoopDef::Multi { completion, .. }) => completion.as_deref(),
            None => None,
        };
        [n.condition.as_deref(), looped].into_iter().flatten()
    });
    flows.chain(nodes)
}

/// Types for the untyped variables of the model's conditions (the counts a
/// multi-instance completion condition reads are known integers).
fn infer_types(model: &Model, known: &mut BTreeMap<String, Type>) {
    const CANDIDATES: [Type; 4] = [Type::Bool, Type::Int, Type::Decimal, Type::Text];
    let builtin = crate::compile::multi_instance_variable;
    for condition in conditions(model) {
        let Ok(e) = expr::parse(condition) else {
            continue;
        };
        let unknown: Vec<String> = e
            .variables()
            .into_iter()
            .filter(|v| !known.contains_key(v) && builtin(v).is_none())
            .take(3)
            .collect();
        if unknown.is_empty() {
            continue;
        }
        // At most 4³ tries: conditions name few variables.
        let combos = CANDIDATES.len().pow(unknown.len() as u32);
        let pick = (0..combos).find_map(|mut c| {
            let chosen: Vec<Type> = unknown
                .iter()
                .map(|_| {
                    let t = CANDIDATES[c % CANDIDATES.len()];
                    c /= CANDIDATES.len();
                    t
                })
                .collect();
            let lookup = |name: &str| {
                known
                    .get(name)
                    .copied()
                    .or_else(|| builtin(name))
                    .or_else(|| unknown.iter().position(|u| u == name).map(|i| chosen[i]))
            };
            (e.check(&lookup) == Ok(Type::Bool)).then_some(chosen)
        });
        if let Some(types) = pick {
            known.extend(unknown.into_iter().zip(types));
        }
    }
}

/// Where a variable a condition of `flow` reads gets its value: the
/// nearest person task upstream of the flow, else a start event of its pool.
fn setter_for(model: &Model, flow: FlowIx) -> Option<NodeIx> {
    let mut seen = vec![false; model.nodes.len()];
    let mut queue = std::collections::VecDeque::from([model.node(&model.flows[flow].source)?]);
    while let Some(n) = queue.pop_front() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        if matches!(
            model.nodes[n].kind,
            NodeKind::Task(TaskKind::User | TaskKind::Manual | TaskKind::Plain)
        ) {
            return Some(n);
        }
        for &f in &model.nodes[n].incoming {
            queue.extend(model.node(&model.flows[f].source));
        }
    }
    let pool = model.nodes[model.node(&model.flows[flow].source)?].pool;
    model.nodes.iter().position(|n| {
        n.pool == pool
            && n.parent.is_none()
            && matches!(n.kind, NodeKind::Start(Trigger::None | Trigger::Timer))
    })
}

/// Is a message receiver fed by a message flow (to it, or to its pool for a
/// message start event)?
fn fed(model: &Model, n: &Node) -> bool {
    model.message_flows.iter().any(|mf| {
        !model.external.contains(&mf.source) && mf.target == n.id
            || (matches!(n.kind, NodeKind::Start(Trigger::Message))
                && n.parent.is_none()
                && model.pools[n.pool].id == mf.target)
    })
}

/// The skeleton bindings of a document of any size validation reads.
pub fn skeleton_xml(xml: &str) -> Result<Value, Problem> {
    if xml.len() > crate::MAX_VALIDATE_BYTES {
        return Err(crate::xml::size_problem(xml));
    }
    crate::xml::parse_unbounded(xml).map(|m| skeleton(&m))
}

/// The skeleton bindings of a model.
pub fn skeleton(model: &Model) -> Value {
    let mut participants = Map::new();
    for (i, pool) in model.pools.iter().enumerate() {
        participants.insert(pool.id.clone(), json!(format!("org:Org{}", i + 1)));
    }
    let mut types: BTreeMap<String, Type> = model
        .variables
        .iter()
        .filter_map(|(_, name, t)| Some((name.clone(), (*t)?)))
        .collect();
    for n in &model.nodes {
        for (name, t) in &n.outputs {
            if let Some(t) = t {
                types.entry(name.clone()).or_insert(*t);
            }
        }
    }
    let declared: Vec<String> = types.keys().cloned().collect();
    // A multi-instance task's collection and results are lists, its items
    // single values (as its conditions use them, else strings).
    let mut items = Vec::new();
    for n in &model.nodes {
        if let Some(LoopDef::Multi {
            collection,
            element,
            output,
            output_element,
            ..
        }) = &n.looped
        {
            for list in [collection, output].into_iter().flatten() {
                types
                    .entry(loop_variable_name(list).to_string())
                    .or_insert(Type::List);
            }
            items.extend([element, output_element].into_iter().flatten());
        }
    }
    infer_types(model, &mut types);
    for item in items {
        types
            .entry(loop_variable_name(item).to_string())
            .or_insert(Type::Text);
    }
    let untyped = model.variables.iter().map(|(_, name, _)| name).chain(
        model
            .nodes
            .iter()
            .flat_map(|n| n.outputs.iter().map(|(v, _)| v)),
    );
    for name in untyped {
        types.entry(name.clone()).or_insert(Type::Text);
    }
    // Variables conditions read but nothing sets: a person supplies them.
    // A multi-instance activity sets its item and result variables itself.
    let loop_set: Vec<String> = model
        .nodes
        .iter()
        .filter_map(|n| match &n.looped {
            Some(LoopDef::Multi {
                element, output, ..
            }) => Some([element, output]),
            _ => None,
        })
        .flatten()
        .flatten()
        .map(|v| loop_variable_name(v).to_string())
        .collect();
    let set: Vec<&String> = model
        .nodes
        .iter()
        .flat_map(|n| n.outputs.iter().map(|(v, _)| v))
        .chain(loop_set.iter())
        .collect();
    let mut outputs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (f, flow) in model.flows.iter().enumerate() {
        let Some(Ok(e)) = flow.condition.as_deref().map(expr::parse) else {
            continue;
        };
        for v in e.variables() {
            if set.contains(&&v) || !types.contains_key(&v) {
                continue;
            }
            if let Some(n) = setter_for(model, f) {
                let list = outputs.entry(model.nodes[n].id.clone()).or_default();
                if !list.contains(&v) {
                    list.push(v);
                }
            }
        }
    }
    // What a person's looping task decides to go on by (its loop or
    // completion condition reads), each iteration supplies.
    for n in &model.nodes {
        let condition = match &n.looped {
            Some(LoopDef::Standard { condition, .. }) => condition.as_deref(),
            Some(LoopDef::Multi { completion, .. }) => completion.as_deref(),
            None => None,
        };
        let person = matches!(
            n.kind,
            NodeKind::Task(TaskKind::User | TaskKind::Manual | TaskKind::Plain)
        );
        let Some(Ok(e)) = condition.filter(|_| person).map(expr::parse) else {
            continue;
        };
        for v in e.variables() {
            let builtin = crate::compile::multi_instance_variable(&v).is_some();
            if builtin || set.contains(&&v) || !types.contains_key(&v) {
                continue;
            }
            let list = outputs.entry(n.id.clone()).or_default();
            if !list.contains(&v) {
                list.push(v);
            }
        }
    }
    // A collection nothing sets: the person upstream (or the starter) gives it.
    for n in &model.nodes {
        let Some(LoopDef::Multi {
            collection: Some(c),
            ..
        }) = &n.looped
        else {
            continue;
        };
        let c = loop_variable_name(c).to_string();
        if set.contains(&&c) || !types.contains_key(&c) {
            continue;
        }
        if let Some(setter) = n.incoming.first().and_then(|&f| setter_for(model, f)) {
            let list = outputs.entry(model.nodes[setter].id.clone()).or_default();
            if !list.contains(&c) {
                list.push(c);
            }
        }
    }
    let mut services = Map::new();
    let mut messages = Map::new();
    let mut calls = Map::new();
    let mut decisions = Map::new();
    for n in &model.nodes {
        match n.kind {
            NodeKind::Task(TaskKind::BusinessRule) => {
                decisions.insert(n.id.clone(), json!({"hit": "first", "rules": []}));
            }
            NodeKind::CallActivity => {
                calls.insert(
                    n.id.clone(),
                    json!({"definition": definition_name(n.code.as_deref().unwrap_or(&n.id))}),
                );
            }
            NodeKind::Task(TaskKind::Service) => {
                let document = hex::encode(ingot_types::sha256(&[n.id.as_bytes()]));
                services.insert(
                    n.id.clone(),
                    json!({"call": "notary.record", "args": {
                        "document_hash": literal(&document),
                        "metadata": literal(if n.name.is_empty() { &n.id } else { &n.name }),
                    }}),
                );
            }
            NodeKind::Start(Trigger::Message) if n.parent.is_none() && !fed(model, n) => {
                messages.insert(
                    n.id.clone(),
                    json!({"event": "notary.recorded", "attribute": "metadata", "value": n.id}),
                );
            }
            NodeKind::Catch(Trigger::Message) | NodeKind::Task(TaskKind::Receive)
                if !fed(model, n) =>
            {
                types
                    .entry(CORRELATION_VARIABLE.to_string())
                    .or_insert(Type::Text);
                messages.insert(
                    n.id.clone(),
                    json!({"event": "notary.recorded", "attribute": "metadata", "variable": CORRELATION_VARIABLE}),
                );
            }
            _ => {}
        }
    }
    let variables: Map<String, Value> = types
        .iter()
        .filter(|(name, _)| !declared.contains(name))
        .map(|(name, t)| (name.clone(), json!(type_name(*t))))
        .collect();
    let outputs: Map<String, Value> = outputs
        .into_iter()
        .map(|(node, vars)| (node, json!(vars)))
        .collect();
    let mut out = Map::new();
    out.insert("participants".into(), Value::Object(participants));
    // A timeDate written without a zone needs the process's zone.
    let local_dates = model.nodes.iter().any(|n| {
        matches!(&n.timer, Some(TimerDef::Date(d)) if crate::timer::date_ms(d).is_err_and(|e| e.contains("no time zone")))
    });
    if local_dates {
        out.insert("timezone".into(), json!("+00:00"));
    }
    for (key, map) in [
        ("variables", variables),
        ("outputs", outputs),
        ("services", services),
        ("messages", messages),
        ("calls", calls),
        ("decisions", decisions),
    ] {
        if !map.is_empty() {
            out.insert(key.into(), Value::Object(map));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skeleton_binds_what_a_document_needs() {
        let xml = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="Review" name="Review 'it'"/>
    <bpmn:exclusiveGateway id="G" default="f4"/>
    <bpmn:serviceTask id="Record" name="Record"/>
    <bpmn:intermediateCatchEvent id="Wait"><bpmn:messageEventDefinition/></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Review" targetRef="G"/>
    <bpmn:sequenceFlow id="f3" sourceRef="G" targetRef="Record"><bpmn:conditionExpression>${amount &gt; 1000 &amp;&amp; urgent}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="G" targetRef="Wait"/>
    <bpmn:sequenceFlow id="f5" sourceRef="Record" targetRef="Wait"/>
    <bpmn:sequenceFlow id="f6" sourceRef="Wait" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;
        let model = crate::xml::parse(xml).unwrap();
        let b = skeleton(&model);
        assert_eq!(b["participants"]["P"], "org:Org1");
        assert_eq!(b["variables"]["amount"], "integer");
        assert_eq!(b["variables"]["urgent"], "boolean");
        assert_eq!(b["services"]["Record"]["call"], "notary.record");
        assert_eq!(b["outputs"]["Review"], json!(["amount", "urgent"]));
        assert_eq!(b["messages"]["Wait"]["variable"], CORRELATION_VARIABLE);
        crate::compile_xml(xml, &b).unwrap_or_else(|e| panic!("{e}\n{b}"));
    }

    /// A multi-instance task: its collection a list the starter gives, its
    /// item and results set by the task itself (not asked of anyone), and
    /// what its completion condition reads typed from it and supplied by
    /// each instance (an outsider's trial found all three wrong).
    #[test]
    fn a_skeleton_binds_a_multi_instance_task() {
        let xml = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="D">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:userTask id="Rate">
      <bpmn:multiInstanceLoopCharacteristics camunda:collection="${suppliers}" camunda:elementVariable="supplier">
        <bpmn:completionCondition>${rank &gt; 2 || nrOfCompletedInstances == nrOfInstances}</bpmn:completionCondition>
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="G" default="f4"/>
    <bpmn:endEvent id="E1"/>
    <bpmn:endEvent id="E2"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Rate"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Rate" targetRef="G"/>
    <bpmn:sequenceFlow id="f3" sourceRef="G" targetRef="E1"><bpmn:conditionExpression>${supplier == 'acme'}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="G" targetRef="E2"/>
  </bpmn:process>
</bpmn:definitions>"#;
        let model = crate::xml::parse(xml).unwrap();
        let b = skeleton(&model);
        assert_eq!(b["variables"]["suppliers"], "list", "{b}");
        assert_eq!(b["variables"]["supplier"], "string", "{b}");
        assert_eq!(b["variables"]["rank"], "integer", "{b}");
        assert!(b["variables"].get("nrOfInstances").is_none(), "{b}");
        assert_eq!(b["outputs"]["S"], json!(["suppliers"]), "{b}");
        assert_eq!(b["outputs"]["Rate"], json!(["rank"]), "{b}");
        crate::compile_xml(xml, &b).unwrap_or_else(|e| panic!("{e}\n{b}"));
    }
}
