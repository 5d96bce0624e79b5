//! Build small BPMN documents in tests: a single pool `P` bound to `org:Acme`.
#![allow(dead_code)]

use ingot_bpmn::{
    engine::{self, Outcome},
    machine::Instance,
    Actor, Machine,
};
use serde_json::{json, Value};

#[derive(Default)]
pub struct Doc {
    nodes: Vec<String>,
    flows: Vec<String>,
    pub variables: Value,
    pub outputs: Value,
    pub messages: Value,
}

impl Doc {
    pub fn new() -> Self {
        Self {
            variables: json!({}),
            outputs: json!({}),
            messages: json!({}),
            ..Default::default()
        }
    }

    /// A flow node: `tag` is the BPMN element name, `inner` its children.
    pub fn node(&mut self, tag: &str, id: &str, attrs: &str, inner: &str) -> &mut Self {
        self.nodes.push(format!(
            r#"<bpmn:{tag} id="{id}" name="{id}" {attrs}>{inner}</bpmn:{tag}>"#
        ));
        self
    }

    pub fn start(&mut self, id: &str) -> &mut Self {
        self.node("startEvent", id, "", "")
    }
    pub fn end(&mut self, id: &str) -> &mut Self {
        self.node("endEvent", id, "", "")
    }
    pub fn task(&mut self, id: &str) -> &mut Self {
        self.node("userTask", id, "", "")
    }
    pub fn gateway(&mut self, kind: &str, id: &str, default: Option<&str>) -> &mut Self {
        let attrs = default
            .map(|d| format!(r#"default="{d}""#))
            .unwrap_or_default();
        self.node(&format!("{kind}Gateway"), id, &attrs, "")
    }
    pub fn timer(&mut self, id: &str, duration: &str) -> &mut Self {
        let inner = format!(
            "<bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>"
        );
        self.node("intermediateCatchEvent", id, "", &inner)
    }
    pub fn message_catch(&mut self, id: &str) -> &mut Self {
        self.node(
            "intermediateCatchEvent",
            id,
            "",
            "<bpmn:messageEventDefinition/>",
        )
    }

    pub fn flow(&mut self, id: &str, from: &str, to: &str) -> &mut Self {
        self.flows.push(format!(
            r#"<bpmn:sequenceFlow id="{id}" sourceRef="{from}" targetRef="{to}"/>"#
        ));
        self
    }

    pub fn cond(&mut self, id: &str, from: &str, to: &str, condition: &str) -> &mut Self {
        let c = condition
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        self.flows.push(format!(
            r#"<bpmn:sequenceFlow id="{id}" sourceRef="{from}" targetRef="{to}"><bpmn:conditionExpression>{c}</bpmn:conditionExpression></bpmn:sequenceFlow>"#
        ));
        self
    }

    pub fn xml(&self) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
<bpmn:process id="P" name="Test" isExecutable="true">
{}
{}
</bpmn:process>
</bpmn:definitions>"#,
            self.nodes.join("\n"),
            self.flows.join("\n")
        )
    }

    pub fn bindings(&self) -> Value {
        json!({
            "name": "test",
            "participants": {"P": "org:Acme"},
            "variables": self.variables,
            "outputs": self.outputs,
            "messages": self.messages,
        })
    }

    pub fn compile(&self) -> Machine {
        ingot_bpmn::compile_xml(&self.xml(), &self.bindings())
            .unwrap_or_else(|e| panic!("{e}\n{}", self.xml()))
    }
}

pub fn acme() -> Actor {
    Actor {
        org: "Acme".into(),
        role: "member".into(),
        member: [1; 32],
    }
}

pub fn start(m: &Machine, vars: Value) -> Instance {
    engine::start(m, 1, "test-1".into(), &acme(), &vars, 1_000_000, 1)
        .unwrap()
        .0
}

pub fn complete(m: &Machine, inst: &mut Instance, task: &str) -> Outcome {
    complete_with(m, inst, task, json!({}))
}

pub fn complete_with(m: &Machine, inst: &mut Instance, task: &str, vars: Value) -> Outcome {
    engine::complete(m, inst, task, &acme(), &vars, 2_000_000)
        .unwrap_or_else(|e| panic!("completing {task}: {e}"))
}

pub fn active(m: &Machine, inst: &Instance) -> Vec<String> {
    engine::waiting(m, inst)
}

pub fn ids(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}
