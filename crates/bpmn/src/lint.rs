//! Warnings: legal BPMN that probably does not do what its author meant.
//!
//! Warnings never block a deployment and are not computed on chain (they
//! are not part of validation, so adding one changes no transaction's
//! outcome); `ingot workflow validate` and `POST /v1/workflow/validate` show
//! them beside the problems.

use crate::model::{GatewayKind, Model, NodeKind};
use serde_json::{json, Value};

/// One warning: a stable code, the element concerned, and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub code: &'static str,
    pub element: String,
    pub name: String,
    pub message: String,
}

impl Warning {
    pub fn to_json(&self) -> Value {
        json!({
            "code": self.code,
            "element": self.element,
            "name": self.name,
            "message": self.message,
        })
    }
}

/// The warnings of a model.
pub fn warnings(model: &Model) -> Vec<Warning> {
    let mut out = Vec::new();
    for n in &model.nodes {
        if n.kind != NodeKind::Gateway(GatewayKind::Exclusive) || n.outgoing.len() < 2 {
            continue;
        }
        // Outgoing flows in document order, the default flow aside: the
        // engine takes the first whose condition holds, and a flow without
        // a condition always holds.
        let candidates: Vec<_> = n
            .outgoing
            .iter()
            .map(|&f| &model.flows[f])
            .filter(|f| n.default_flow.as_deref() != Some(f.id.as_str()))
            .collect();
        let Some(pos) = candidates.iter().position(|f| f.condition.is_none()) else {
            continue;
        };
        let first = &candidates[pos].id;
        let shadowed: Vec<String> = candidates[pos + 1..]
            .iter()
            .map(|f| format!("`{}`", f.id))
            .collect();
        if !shadowed.is_empty() {
            out.push(Warning {
                code: "unconditional_flow_shadows",
                element: n.id.clone(),
                name: n.name.clone(),
                message: format!(
                    "flow `{first}` has no condition, so it is taken whenever the gateway is reached: {} after it in document order are never taken; give it a condition or make it the default flow",
                    shadowed.join(", ")
                ),
            });
        } else if n.default_flow.is_none() {
            out.push(Warning {
                code: "implicit_default",
                element: n.id.clone(),
                name: n.name.clone(),
                message: format!(
                    "flow `{first}` has no condition and comes last: it acts as the default flow; mark it as the gateway's default so the model says so"
                ),
            });
        }
    }
    out
}

/// Warnings only the compiled process shows (its bindings applied): a
/// multi-instance activity gathering a result (`outputDataItem`) that no
/// element of it ever sets, so every place of the result list stays "".
pub fn compiled_warnings(m: &crate::Machine) -> Vec<Warning> {
    let mut out = Vec::new();
    for (i, n) in m.nodes.iter().enumerate() {
        let Some(spec) = &n.looping else { continue };
        let (Some(list), Some(item)) = (spec.output, spec.output_element) else {
            continue;
        };
        let item_name = &m.variables[item as usize].name;
        let sets = |j: usize| {
            let x = &m.nodes[j];
            x.outputs.contains(&item)
                || x.call
                    .as_ref()
                    .is_some_and(|c| c.outputs.iter().any(|o| o.variable == item))
                || x.decision.as_ref().is_some_and(|d| {
                    d.rules
                        .iter()
                        .any(|r| r.then.iter().any(|a| &a.name == item_name))
                })
        };
        if sets(i) || (0..m.nodes.len()).any(|j| m.within(j, i) && sets(j)) {
            continue;
        }
        out.push(Warning {
            code: "result_never_set",
            element: n.id.clone(),
            name: n.name.clone(),
            message: format!(
                "each instance's result `{item_name}` (outputDataItem) is set by no element of it, so `{}` will hold only \"\": make `{item_name}` an output of the task that decides it (bindings.outputs)",
                m.variables[list as usize].name
            ),
        });
    }
    out
}

/// The warnings of a document (none when it does not parse: its problems
/// say why).
pub fn warnings_xml(xml: &str) -> Vec<Warning> {
    crate::xml::parse(xml)
        .map(|m| warnings(&m))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(flows: &str, default: &str) -> String {
        format!(
            r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="S" />
    <bpmn:exclusiveGateway id="G" name="Check" {default} />
    <bpmn:endEvent id="A" /><bpmn:endEvent id="B" /><bpmn:endEvent id="C" />
    <bpmn:sequenceFlow id="F0" sourceRef="S" targetRef="G" />
    {flows}
  </bpmn:process>
</bpmn:definitions>"#
        )
    }

    const COND: &str = "<bpmn:conditionExpression>n &gt; 1</bpmn:conditionExpression>";

    #[test]
    fn an_unconditional_flow_before_others_shadows_them() {
        let xml = split(
            r#"<bpmn:sequenceFlow id="FA" sourceRef="G" targetRef="A" />
               <bpmn:sequenceFlow id="FB" sourceRef="G" targetRef="B" />
               <bpmn:sequenceFlow id="FC" sourceRef="G" targetRef="C" />"#,
            "",
        );
        let w = warnings_xml(&xml);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            (w[0].code, w[0].element.as_str()),
            ("unconditional_flow_shadows", "G")
        );
        assert!(w[0].message.contains("`FB`, `FC`"), "{}", w[0].message);
    }

    #[test]
    fn a_last_unconditional_flow_acts_as_the_default() {
        let xml = split(
            &format!(
                r#"<bpmn:sequenceFlow id="FA" sourceRef="G" targetRef="A">{COND}</bpmn:sequenceFlow>
                   <bpmn:sequenceFlow id="FB" sourceRef="G" targetRef="B" />"#
            ),
            "",
        );
        let w = warnings_xml(&xml);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].code, "implicit_default");
    }

    #[test]
    fn conditions_with_a_marked_default_are_fine() {
        let xml = split(
            &format!(
                r#"<bpmn:sequenceFlow id="FA" sourceRef="G" targetRef="A">{COND}</bpmn:sequenceFlow>
                   <bpmn:sequenceFlow id="FB" sourceRef="G" targetRef="B" />"#
            ),
            r#"default="FB""#,
        );
        assert!(warnings_xml(&xml).is_empty());
        assert!(warnings_xml("not xml").is_empty());
    }
}
