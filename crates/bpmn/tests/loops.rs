//! Loop and multi-instance tasks (BPMN 2.0 §10.3.8, §13.3.7-8): standard
//! loops tested after or before, bounded; multi-instance in parallel and in
//! sequence by cardinality, with a completion condition.

mod common;

use common::*;
use ingot_bpmn::{engine, machine::state, Machine};
use serde_json::json;

fn standard(condition: &str, attrs: &str) -> String {
    format!(
        r#"<bpmn:standardLoopCharacteristics {attrs}><bpmn:loopCondition>{condition}</bpmn:loopCondition></bpmn:standardLoopCharacteristics>"#
    )
}

fn multi(sequential: bool, cardinality: &str, completion: &str) -> String {
    let completion = if completion.is_empty() {
        String::new()
    } else {
        format!("<bpmn:completionCondition>{completion}</bpmn:completionCondition>")
    };
    format!(
        r#"<bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}"><bpmn:loopCardinality>{cardinality}</bpmn:loopCardinality>{completion}</bpmn:multiInstanceLoopCharacteristics>"#
    )
}

/// S -> Work (with `marker`) -> After -> E, variables as given.
fn process(
    work: &str,
    marker: &str,
    vars: serde_json::Value,
    outputs: serde_json::Value,
) -> Machine {
    let mut d = Doc::new();
    d.variables = vars;
    d.outputs = outputs;
    d.start("S")
        .node(work, "Work", "", marker)
        .task("After")
        .end("E");
    d.flow("f1", "S", "Work")
        .flow("f2", "Work", "After")
        .flow("f3", "After", "E");
    if work == "serviceTask" {
        let mut b = d.bindings();
        b["services"] = json!({"Work": {"call": "notary.record", "args": {"document_hash": "'00'", "metadata": "'x'"}}});
        return ingot_bpmn::compile_xml(&d.xml(), &b).unwrap_or_else(|e| panic!("{e}"));
    }
    d.compile()
}

#[test]
fn a_standard_loop_repeats_while_its_condition_holds_up_to_its_maximum() {
    let m = process(
        "userTask",
        &standard("!approved", r#"loopMaximum="3""#),
        json!({"approved": "boolean"}),
        json!({"Work": ["approved"]}),
    );
    let mut i = start(&m, json!({}));
    complete_with(&m, &mut i, "Work", json!({"approved": false}));
    assert_eq!(active(&m, &i), ids(&["Work"]), "not approved: again");
    complete_with(&m, &mut i, "Work", json!({"approved": true}));
    assert_eq!(active(&m, &i), ids(&["After"]));
    // Never approved: three iterations, then on.
    let mut i = start(&m, json!({}));
    for _ in 0..3 {
        assert_eq!(active(&m, &i), ids(&["Work"]));
        complete_with(&m, &mut i, "Work", json!({"approved": false}));
    }
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert!(i.loops.is_empty());
}

#[test]
fn a_loop_tested_before_may_not_run_at_all() {
    let m = process(
        "userTask",
        &standard("pending &gt; 0", r#"testBefore="true""#),
        json!({"pending": "integer"}),
        json!({"S": ["pending"], "Work": ["pending"]}),
    );
    let i = start(&m, json!({"pending": 0}));
    assert_eq!(active(&m, &i), ids(&["After"]), "skipped");
    let mut i = start(&m, json!({"pending": 2}));
    complete_with(&m, &mut i, "Work", json!({"pending": 1}));
    assert_eq!(active(&m, &i), ids(&["Work"]));
    complete_with(&m, &mut i, "Work", json!({"pending": 0}));
    assert_eq!(active(&m, &i), ids(&["After"]));
}

#[test]
fn parallel_instances_run_together_until_all_or_the_completion_condition() {
    let m = process(
        "userTask",
        &multi(false, "reviewers", "rejected"),
        json!({"reviewers": "integer", "rejected": "boolean"}),
        json!({"S": ["reviewers"], "Work": ["rejected"]}),
    );
    let mut i = start(&m, json!({"reviewers": 3}));
    assert_eq!(
        i.active
            .iter()
            .filter(|&&a| m.nodes[a as usize].id == "Work")
            .count(),
        3
    );
    complete_with(&m, &mut i, "Work", json!({"rejected": false}));
    complete_with(&m, &mut i, "Work", json!({"rejected": false}));
    assert_eq!(active(&m, &i), ids(&["Work"]), "one instance left");
    complete_with(&m, &mut i, "Work", json!({"rejected": false}));
    assert_eq!(active(&m, &i), ids(&["After"]));
    // A rejection completes the task at once; the others are cancelled.
    let mut i = start(&m, json!({"reviewers": 3}));
    complete_with(&m, &mut i, "Work", json!({"rejected": true}));
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert_eq!(i.active.len(), 1);
    // No reviewers: the task is skipped; too many: refused.
    let i = start(&m, json!({"reviewers": 0}));
    assert_eq!(active(&m, &i), ids(&["After"]));
    let e = engine::start(&m, 1, "t".into(), &acme(), &json!({"reviewers": 65}), 0, 1).unwrap_err();
    assert!(e.contains("from 0 to 64"), "{e}");
}

#[test]
fn sequential_instances_run_one_after_another() {
    let m = process("userTask", &multi(true, "2", ""), json!({}), json!({}));
    let mut i = start(&m, json!({}));
    assert_eq!(i.active.len(), 1);
    complete(&m, &mut i, "Work");
    assert_eq!(active(&m, &i), ids(&["Work"]), "the second instance");
    complete(&m, &mut i, "Work");
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert_eq!(i.state, state::RUNNING);
}

#[test]
fn an_automatic_task_loops_within_the_move() {
    let m = process("serviceTask", &multi(false, "3", ""), json!({}), json!({}));
    let (i, out) = engine::start(&m, 1, "t".into(), &acme(), &json!({}), 0, 1).unwrap();
    assert_eq!(out.calls.len(), 3, "three service calls");
    assert_eq!(active(&m, &i), ids(&["After"]));
}

#[test]
fn loops_the_chain_cannot_run_are_refused_precisely() {
    let refused = |work: &str, marker: &str| {
        let mut d = Doc::new();
        d.start("S").node(work, "Work", "", marker).end("E");
        d.flow("f1", "S", "Work").flow("f2", "Work", "E");
        ingot_bpmn::compile_xml(&d.xml(), &d.bindings())
            .unwrap_err()
            .to_string()
    };
    let collection = r#"<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>items</bpmn:loopDataInputRef></bpmn:multiInstanceLoopCharacteristics>"#;
    assert!(refused("userTask", collection).contains("over a collection"));
    assert!(refused("userTask", "<bpmn:standardLoopCharacteristics/>")
        .contains("needs a loopCondition or a loopMaximum"));
    assert!(refused("userTask", &multi(false, "'three'", "")).contains("not integer"));
    let sub = format!(
        r#"<bpmn:startEvent id="IS"/><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i" sourceRef="IS" targetRef="IE"/>{}"#,
        multi(false, "2", "")
    );
    assert!(refused("subProcess", &sub).contains("only tasks repeat"));
}

/// Business rule tasks decide by their decision table (a compact DMN
/// decision table in bindings.decisions) with the common hit policies.
#[test]
fn a_business_rule_task_decides_by_its_table() {
    let table = |hit: &str| {
        let mut d = Doc::new();
        d.variables =
            json!({"amount": "integer", "grade": "string", "limit": "decimal", "hits": "integer"});
        d.outputs = json!({"S": ["amount"]});
        d.start("S")
            .node("businessRuleTask", "Rate", "", "")
            .task("After")
            .end("E");
        d.flow("f1", "S", "Rate")
            .flow("f2", "Rate", "After")
            .flow("f3", "After", "E");
        let mut b = d.bindings();
        let rules = if hit == "collect_count" {
            json!([
                {"when": "amount > 100", "then": {"hits": "1"}},
                {"when": "amount > 1000", "then": {"hits": "1"}},
            ])
        } else if hit.starts_with("collect") {
            json!([
                {"when": "amount > 100", "then": {"limit": "10", "hits": "1"}},
                {"when": "amount > 1000", "then": {"limit": "2.5", "hits": "1"}},
            ])
        } else {
            json!([
                {"when": "amount > 1000", "then": {"grade": "'C'"}},
                {"when": "amount > 100", "then": {"grade": "'B'"}},
                {"when": "true", "then": {"grade": "'A'"}},
            ])
        };
        b["decisions"] = json!({"Rate": {"hit": hit, "rules": rules}});
        ingot_bpmn::compile_xml(&d.xml(), &b).unwrap_or_else(|e| panic!("{e}"))
    };
    let decide = |m: &Machine, amount: i64| {
        engine::start(m, 1, "t".into(), &acme(), &json!({"amount": amount}), 0, 1)
            .map(|(i, _)| engine::variables(m, &i))
    };
    let text = |s: &str| ingot_bpmn::expr::Value::Text(s.into());
    let m = table("first");
    assert!(decide(&m, 5000)
        .unwrap()
        .contains(&("grade".into(), text("C"))));
    assert!(decide(&m, 500)
        .unwrap()
        .contains(&("grade".into(), text("B"))));
    assert!(decide(&m, 5)
        .unwrap()
        .contains(&("grade".into(), text("A"))));
    let m = table("unique");
    assert!(decide(&m, 5)
        .unwrap()
        .contains(&("grade".into(), text("A"))));
    assert!(decide(&m, 500).unwrap_err().contains("both match"));
    let m = table("any");
    assert!(decide(&m, 500).unwrap_err().contains("different outputs"));
    let m = table("collect_sum");
    let v = decide(&m, 5000).unwrap();
    assert!(
        v.contains(&("limit".into(), ingot_bpmn::expr::Value::Decimal(12_500_000))),
        "{v:?}"
    );
    let m = table("collect_max");
    assert!(decide(&m, 5000)
        .unwrap()
        .contains(&("limit".into(), ingot_bpmn::expr::Value::Decimal(10_000_000))));
    let m = table("collect_count");
    assert!(decide(&m, 5000)
        .unwrap()
        .contains(&("hits".into(), ingot_bpmn::expr::Value::Int(2))));
    assert!(
        !decide(&m, 5).unwrap().iter().any(|(k, _)| k == "hits"),
        "no rule: nothing set"
    );
}

#[test]
fn decision_tables_are_checked() {
    let mut d = Doc::new();
    d.variables = json!({"grade": "string"});
    d.start("S")
        .node("businessRuleTask", "Rate", "", "")
        .end("E");
    d.flow("f1", "S", "Rate").flow("f2", "Rate", "E");
    let refused = |decisions: serde_json::Value| {
        let mut b = d.bindings();
        b["decisions"] = decisions;
        ingot_bpmn::compile_xml(&d.xml(), &b)
            .unwrap_err()
            .to_string()
    };
    assert!(ingot_bpmn::compile_xml(&d.xml(), &d.bindings())
        .unwrap_err()
        .to_string()
        .contains("bind this business rule task"));
    assert!(refused(json!({"Rate": {"hit": "priority", "rules": []}}))
        .contains("hit policy `priority`"));
    assert!(
        refused(json!({"Rate": {"rules": [{"when": "1", "then": {"grade": "'A'"}}]}}))
            .contains("not boolean")
    );
    assert!(
        refused(json!({"Rate": {"rules": [{"when": "true", "then": {"grade": "1"}}]}}))
            .contains("`grade` is string")
    );
    assert!(refused(json!({"Rate": {"hit": "collect_sum", "rules": [{"when": "true", "then": {"grade": "'A'"}}]}})).contains("aggregates numbers"));
    assert!(refused(json!({"Nope": {"rules": []}})).contains("not a business rule task"));
}
