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
