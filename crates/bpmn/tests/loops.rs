//! Loop and multi-instance tasks (BPMN 2.0 §10.3.8, §13.3.6-7): standard
//! loops tested after or before, bounded; multi-instance in parallel and in
//! sequence by cardinality or over a collection, gathering results, with a
//! completion condition over the instance counts.

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
    assert!(
        refused("userTask", collection)
            .contains("declare `items` in bindings.variables as \"list\""),
        "{}",
        refused("userTask", collection)
    );
    assert!(
        refused("userTask", "<bpmn:multiInstanceLoopCharacteristics/>")
            .contains("needs a loopCardinality or a collection")
    );
    assert!(refused("userTask", "<bpmn:standardLoopCharacteristics/>")
        .contains("needs a loopCondition or a loopMaximum"));
    assert!(refused("userTask", &multi(false, "'three'", "")).contains("not integer"));
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

/// `<multiInstanceLoopCharacteristics>` over a collection, BPMN style:
/// `loopDataInputRef` / `inputDataItem`, and results gathered through
/// `loopDataOutputRef` / `outputDataItem`.
fn over(sequential: bool, completion: &str) -> String {
    let completion = if completion.is_empty() {
        String::new()
    } else {
        format!("<bpmn:completionCondition>{completion}</bpmn:completionCondition>")
    };
    format!(
        r#"<bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}"><bpmn:loopDataInputRef>suppliers</bpmn:loopDataInputRef><bpmn:loopDataOutputRef>quotes</bpmn:loopDataOutputRef><bpmn:inputDataItem id="in1" name="supplier"/><bpmn:outputDataItem id="out1" name="quote"/>{completion}</bpmn:multiInstanceLoopCharacteristics>"#
    )
}

fn quotes_process(sequential: bool, completion: &str) -> Machine {
    process(
        "userTask",
        &over(sequential, completion),
        json!({"suppliers": "list", "supplier": "string", "quotes": "list", "quote": "decimal"}),
        json!({"S": ["suppliers"]}),
    )
}

fn var(
    m: &Machine,
    i: &ingot_bpmn::machine::Instance,
    name: &str,
) -> Option<ingot_bpmn::expr::Value> {
    engine::variables(m, i)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn list(items: &[&str]) -> ingot_bpmn::expr::Value {
    ingot_bpmn::expr::Value::List(items.iter().map(|s| s.to_string()).collect())
}

#[test]
fn parallel_instances_over_a_collection_each_take_an_item_and_give_a_result() {
    let m = quotes_process(false, "");
    let mut i = start(&m, json!({"suppliers": ["acme", "bolt", "cogs"]}));
    assert_eq!(i.loops[0].open, vec![0, 1, 2], "one instance per item");
    assert_eq!(var(&m, &i, "quotes"), Some(list(&["", "", ""])));
    // The second supplier answers first: its instance is named by loopCounter.
    let out = complete_with(
        &m,
        &mut i,
        "Work",
        json!({"loopCounter": 1, "quote": "12.50"}),
    );
    assert!(out.steps.iter().any(|s| s.detail.contains("(instance 1)")));
    assert_eq!(
        var(&m, &i, "supplier"),
        Some(ingot_bpmn::expr::Value::Text("bolt".into()))
    );
    assert_eq!(var(&m, &i, "quotes"), Some(list(&["", "12.5", ""])));
    // An instance already completed, one that does not exist, or no
    // instance number at all is refused.
    for counter in [json!(1), json!(7), json!(-1), json!("0")] {
        let e = engine::complete(
            &m,
            &mut i.clone(),
            "Work",
            &acme(),
            &json!({"loopCounter": counter, "quote": "1"}),
            3,
        )
        .unwrap_err();
        assert!(
            e.contains("is not waiting") || e.contains("loopCounter must be"),
            "{e}"
        );
    }
    // Without a loopCounter, the first waiting instance.
    complete_with(&m, &mut i, "Work", json!({"quote": "9"}));
    assert_eq!(var(&m, &i, "quotes"), Some(list(&["9", "12.5", ""])));
    assert_eq!(active(&m, &i), ids(&["Work"]));
    complete_with(&m, &mut i, "Work", json!({"loopCounter": 2, "quote": "11"}));
    assert_eq!(var(&m, &i, "quotes"), Some(list(&["9", "12.5", "11"])));
    assert_eq!(active(&m, &i), ids(&["After"]));
    // loopCounter names an instance of a multi-instance task only (it used
    // to be ignored when 0 on any other task).
    let e = engine::complete(
        &m,
        &mut i.clone(),
        "After",
        &acme(),
        &json!({"loopCounter": 0}),
        3,
    )
    .unwrap_err();
    assert!(e.contains("`After` is not a multi-instance task"), "{e}");
    assert!(i.loops.is_empty());
    // Each instance must give its result.
    let mut i = start(&m, json!({"suppliers": ["acme"]}));
    let e = engine::complete(&m, &mut i, "Work", &acme(), &json!({}), 3).unwrap_err();
    assert!(e.contains("missing variable `quote`"), "{e}");
}

#[test]
fn sequential_instances_over_a_collection_take_the_items_in_order() {
    let m = quotes_process(true, "");
    let mut i = start(&m, json!({"suppliers": ["acme", "bolt"]}));
    assert_eq!(
        var(&m, &i, "supplier"),
        Some(ingot_bpmn::expr::Value::Text("acme".into()))
    );
    let e = engine::complete(
        &m,
        &mut i,
        "Work",
        &acme(),
        &json!({"loopCounter": 1, "quote": "1"}),
        3,
    )
    .unwrap_err();
    assert!(e.contains("the current instance is 0"), "{e}");
    // Every item is checked against the item variable when the task
    // begins, not when its turn comes.
    let typed = process(
        "userTask",
        &over(true, ""),
        json!({"suppliers": "list", "supplier": "integer", "quotes": "list", "quote": "decimal"}),
        json!({"S": ["suppliers"]}),
    );
    let e = engine::start(
        &typed,
        1,
        "t".into(),
        &acme(),
        &json!({"suppliers": ["1", "x"]}),
        0,
        1,
    )
    .unwrap_err();
    assert!(
        e.contains("instance 1 of `Work`: list item 'x' is not integer"),
        "{e}"
    );
    complete_with(&m, &mut i, "Work", json!({"loopCounter": 0, "quote": "3"}));
    assert_eq!(
        var(&m, &i, "supplier"),
        Some(ingot_bpmn::expr::Value::Text("bolt".into()))
    );
    complete_with(&m, &mut i, "Work", json!({"quote": "4"}));
    assert_eq!(var(&m, &i, "quotes"), Some(list(&["3", "4"])));
    assert_eq!(active(&m, &i), ids(&["After"]));
}

#[test]
fn the_collection_is_fixed_when_the_task_begins_and_an_empty_one_skips_it() {
    let m = quotes_process(false, "");
    let i = start(&m, json!({"suppliers": []}));
    assert_eq!(active(&m, &i), ids(&["After"]), "no items: skipped");
    assert_eq!(var(&m, &i, "quotes"), Some(list(&[])));
    let e = engine::start(
        &m,
        1,
        "t".into(),
        &acme(),
        &json!({"suppliers": "acme"}),
        0,
        1,
    )
    .unwrap_err();
    assert!(e.contains("expected a list"), "{e}");
    // An item longer than a string value may be: refused at start, never
    // stored (it used to pass the list's total bound and leave an instance
    // that no longer decoded).
    let long = "x".repeat(1100);
    let e = engine::start(
        &m,
        1,
        "t".into(),
        &acme(),
        &json!({"suppliers": [long]}),
        0,
        1,
    )
    .unwrap_err();
    assert!(e.contains("list item 0 is longer than 1024 bytes"), "{e}");
    let many: Vec<String> = (0..65).map(|n| n.to_string()).collect();
    let e = engine::start(
        &m,
        1,
        "t".into(),
        &acme(),
        &json!({"suppliers": many}),
        0,
        1,
    )
    .unwrap_err();
    assert!(e.contains("at most 64 items"), "{e}");
    // The instance keeps its own copy of the items.
    let mut i = start(&m, json!({"suppliers": ["acme", "bolt"]}));
    assert_eq!(i.loops[0].items, vec!["acme".to_string(), "bolt".into()]);
    complete_with(&m, &mut i, "Work", json!({"loopCounter": 1, "quote": "2"}));
    assert_eq!(
        var(&m, &i, "supplier"),
        Some(ingot_bpmn::expr::Value::Text("bolt".into()))
    );
}

#[test]
fn a_completion_condition_reads_the_instance_counts() {
    // Two of three quotes are enough (BPMN 2.0 §10.3.8 nrOf... variables).
    let m = quotes_process(false, "nrOfCompletedInstances &gt;= 2");
    let mut i = start(&m, json!({"suppliers": ["acme", "bolt", "cogs"]}));
    complete_with(&m, &mut i, "Work", json!({"loopCounter": 2, "quote": "5"}));
    assert_eq!(active(&m, &i), ids(&["Work"]));
    let out = complete_with(&m, &mut i, "Work", json!({"loopCounter": 0, "quote": "6"}));
    assert!(
        out.steps
            .iter()
            .any(|s| s.action == "looped" && s.detail == "2 iterations, 1 cancelled"),
        "{:?}",
        out.steps
    );
    assert_eq!(
        active(&m, &i),
        ids(&["After"]),
        "the third instance is cancelled"
    );
    assert_eq!(i.active.len(), 1);
    assert_eq!(var(&m, &i, "quotes"), Some(list(&["6", "", "5"])));
    // The counts are integers to the type checker; other names are not.
    let m = quotes_process(
        false,
        "nrOfActiveInstances == 0 and loopCounter &lt; nrOfInstances",
    );
    let mut i = start(&m, json!({"suppliers": ["acme", "bolt"]}));
    complete_with(&m, &mut i, "Work", json!({"quote": "1"}));
    assert_eq!(active(&m, &i), ids(&["Work"]));
    let mut d = Doc::new();
    d.variables =
        json!({"suppliers": "list", "supplier": "string", "quotes": "list", "quote": "decimal"});
    d.start("S")
        .node("userTask", "Work", "", &over(false, "nrOfInstance &gt; 1"))
        .end("E");
    d.flow("f1", "S", "Work").flow("f2", "Work", "E");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings())
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown variable 'nrOfInstance'"), "{e}");
}

#[test]
fn camunda_collections_and_typed_items() {
    // Camunda's attributes; the items become integers for the element variable.
    let marker = r#"<bpmn:multiInstanceLoopCharacteristics xmlns:camunda="http://camunda.org/schema/1.0/bpmn" isSequential="true" camunda:collection="${lots}" camunda:elementVariable="lot"/>"#;
    let mut d = Doc::new();
    d.variables = json!({"lots": "list", "lot": "integer", "total": "integer"});
    d.outputs = json!({"S": ["lots"]});
    d.start("S")
        .node("businessRuleTask", "Work", "", marker)
        .task("After")
        .end("E");
    d.flow("f1", "S", "Work")
        .flow("f2", "Work", "After")
        .flow("f3", "After", "E");
    let mut b = d.bindings();
    b["decisions"] = json!({"Work": {"hit": "first", "rules": [{"when": "true", "then": {"total": "lot * 10"}}]}});
    let m = ingot_bpmn::compile_xml(&d.xml(), &b).unwrap_or_else(|e| panic!("{e}"));
    let i = start(&m, json!({"lots": [3, "4"]}));
    assert_eq!(var(&m, &i, "total"), Some(ingot_bpmn::expr::Value::Int(40)));
    assert_eq!(active(&m, &i), ids(&["After"]));
    // An item that is not an integer: the move is refused, naming it.
    let e = engine::start(
        &m,
        1,
        "t".into(),
        &acme(),
        &json!({"lots": ["3", "x"]}),
        0,
        1,
    )
    .unwrap_err();
    assert!(
        e.contains("instance 1 of `Work`: list item 'x' is not integer"),
        "{e}"
    );
    // A list is no operand of a condition.
    let mut d = Doc::new();
    d.variables = json!({"lots": "list"});
    d.start("S")
        .gateway("exclusive", "G", Some("f3"))
        .end("E")
        .end("E2");
    d.flow("f1", "S", "G")
        .cond("f2", "G", "E", "lots == 'a'")
        .flow("f3", "G", "E2");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings())
        .unwrap_err()
        .to_string();
    assert!(e.contains("'lots' is a list"), "{e}");
}

#[test]
fn a_list_variable_round_trips_in_storage_and_json() {
    use commonware_codec::{Decode, Encode};
    use ingot_bpmn::machine::Assigned;
    let a = Assigned {
        variable: 1,
        value: list(&["a", "", "ü'"]),
    };
    let bytes = a.encode();
    // variable u16, tag 4, u16 count, then each item length-prefixed.
    assert_eq!(hex::encode(&bytes), "000104000301610003c3bc27");
    assert_eq!(Assigned::decode_cfg(bytes, &()).unwrap(), a);
    assert_eq!(a.value.to_json(), json!(["a", "", "ü'"]));
}

/// S -> Sub (marker; IS -> Inner -> IE inside) -> After -> E.
fn looping_subprocess(
    marker: &str,
    vars: serde_json::Value,
    outputs: serde_json::Value,
) -> Machine {
    let inner = format!(
        r#"{marker}<bpmn:startEvent id="IS"/><bpmn:userTask id="Inner"/><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Inner"/><bpmn:sequenceFlow id="i2" sourceRef="Inner" targetRef="IE"/>"#
    );
    let mut d = Doc::new();
    d.variables = vars;
    d.outputs = outputs;
    d.start("S")
        .node("subProcess", "Sub", "", &inner)
        .task("After")
        .end("E");
    d.flow("f1", "S", "Sub")
        .flow("f2", "Sub", "After")
        .flow("f3", "After", "E");
    d.compile()
}

#[test]
fn a_sequential_multi_instance_subprocess_runs_its_scope_once_per_item() {
    let marker = r#"<bpmn:multiInstanceLoopCharacteristics isSequential="true"><bpmn:loopDataInputRef>lots</bpmn:loopDataInputRef><bpmn:inputDataItem name="lot"/></bpmn:multiInstanceLoopCharacteristics>"#;
    let m = looping_subprocess(
        marker,
        json!({"lots": "list", "lot": "string"}),
        json!({"S": ["lots"]}),
    );
    let mut i = start(&m, json!({"lots": ["L1", "L2"]}));
    assert_eq!(active(&m, &i), ids(&["Inner"]));
    assert_eq!(
        var(&m, &i, "lot"),
        Some(ingot_bpmn::expr::Value::Text("L1".into()))
    );
    let out = complete(&m, &mut i, "Inner");
    let actions: Vec<_> = out
        .steps
        .iter()
        .map(|s| (s.element.as_str(), s.action))
        .collect();
    assert!(
        actions.contains(&("Sub", "completed")) && actions.contains(&("Sub", "started")),
        "{actions:?}"
    );
    assert_eq!(active(&m, &i), ids(&["Inner"]), "the second iteration");
    assert_eq!(
        var(&m, &i, "lot"),
        Some(ingot_bpmn::expr::Value::Text("L2".into()))
    );
    complete(&m, &mut i, "Inner");
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert!(i.loops.is_empty());
}

#[test]
fn a_standard_loop_on_a_subprocess_repeats_its_scope() {
    let marker = &standard("!passed", r#"loopMaximum="5""#);
    let m = looping_subprocess(
        marker,
        json!({"passed": "boolean"}),
        json!({"Inner": ["passed"]}),
    );
    let mut i = start(&m, json!({}));
    complete_with(&m, &mut i, "Inner", json!({"passed": false}));
    assert_eq!(
        active(&m, &i),
        ids(&["Inner"]),
        "not passed: the scope again"
    );
    complete_with(&m, &mut i, "Inner", json!({"passed": true}));
    assert_eq!(active(&m, &i), ids(&["After"]));
}

/// A multi-instance call activity: one called instance per item, each
/// returning to its own instance; the results gathered in order; the
/// completion condition ends the activity (its caller cancels the rest).
#[test]
fn a_parallel_multi_instance_call_activity_calls_once_per_item() {
    let marker = r#"<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>plants</bpmn:loopDataInputRef><bpmn:loopDataOutputRef>reports</bpmn:loopDataOutputRef><bpmn:inputDataItem name="plant"/><bpmn:outputDataItem name="report"/><bpmn:completionCondition>nrOfCompletedInstances == 2</bpmn:completionCondition></bpmn:multiInstanceLoopCharacteristics>"#;
    let mut d = Doc::new();
    d.variables =
        json!({"plants": "list", "plant": "string", "reports": "list", "report": "string"});
    d.outputs = json!({"S": ["plants"]});
    d.start("S")
        .node("callActivity", "Audit", r#"calledElement="audit""#, marker)
        .task("After")
        .end("E");
    d.flow("f1", "S", "Audit")
        .flow("f2", "Audit", "After")
        .flow("f3", "After", "E");
    let mut b = d.bindings();
    b["calls"] = json!({"Audit": {"definition": "audit", "inputs": {"site": "plant"}, "outputs": {"report": "summary"}}});
    let m = ingot_bpmn::compile_xml(&d.xml(), &b).unwrap_or_else(|e| panic!("{e}"));
    let (mut i, out) = engine::start(
        &m,
        1,
        "t".into(),
        &acme(),
        &json!({"plants": ["P1", "P2", "P3"]}),
        0,
        1,
    )
    .unwrap();
    let calls: Vec<_> = out
        .children
        .iter()
        .map(|c| (c.counter, c.vars.clone()))
        .collect();
    assert_eq!(
        calls,
        vec![
            (0, json!({"site": "P1"})),
            (1, json!({"site": "P2"})),
            (2, json!({"site": "P3"}))
        ]
    );
    let node = m.node_index("Audit").unwrap();
    assert_eq!(engine::live_instances(&m, &i, node), vec![0, 1, 2]);
    let summary = |s: &str| {
        [(
            "summary".to_string(),
            ingot_bpmn::expr::Value::Text(s.into()),
        )]
    };
    engine::child_completed(&m, &mut i, node, 2, &summary("P3 ok"), "c3".into(), 5).unwrap();
    assert_eq!(engine::live_instances(&m, &i, node), vec![0, 1]);
    assert_eq!(
        var(&m, &i, "plant"),
        Some(ingot_bpmn::expr::Value::Text("P3".into()))
    );
    let again = engine::child_completed(&m, &mut i.clone(), node, 2, &summary("x"), "c3".into(), 6)
        .unwrap_err();
    assert!(again.contains("is not waiting"), "{again}");
    engine::child_completed(&m, &mut i, node, 0, &summary("P1 ok"), "c1".into(), 7).unwrap();
    assert_eq!(active(&m, &i), ids(&["After"]), "two of three: done");
    assert!(
        engine::live_instances(&m, &i, node).is_empty(),
        "instance 1 is abandoned"
    );
    assert_eq!(var(&m, &i, "reports"), Some(list(&["P1 ok", "", "P3 ok"])));
}

#[test]
fn a_sequential_call_activity_calls_again_when_each_returns() {
    let mut d = Doc::new();
    d.start("S")
        .node(
            "callActivity",
            "Audit",
            r#"calledElement="audit""#,
            &multi(true, "2", ""),
        )
        .end("E");
    d.flow("f1", "S", "Audit").flow("f2", "Audit", "E");
    let mut b = d.bindings();
    b["calls"] = json!({"Audit": {"definition": "audit"}});
    let m = ingot_bpmn::compile_xml(&d.xml(), &b).unwrap_or_else(|e| panic!("{e}"));
    let (mut i, out) = engine::start(&m, 1, "t".into(), &acme(), &json!({}), 0, 1).unwrap();
    assert_eq!(out.children.len(), 1);
    let node = m.node_index("Audit").unwrap();
    let out = engine::child_completed(&m, &mut i, node, 0, &[], "c1".into(), 5).unwrap();
    assert_eq!(
        out.children.iter().map(|c| c.counter).collect::<Vec<_>>(),
        vec![1]
    );
    engine::child_completed(&m, &mut i, node, 1, &[], "c2".into(), 6).unwrap();
    assert_eq!(i.state, state::COMPLETED);
}

/// A boundary timer belongs to the whole looping activity: it is armed
/// once, and an iteration ending does not restart it.
#[test]
fn a_boundary_timer_spans_every_iteration() {
    let mut d = Doc::new();
    d.start("S")
        .node("userTask", "Work", "", &multi(true, "3", ""))
        .node(
            "boundaryEvent",
            "Late",
            r#"attachedToRef="Work""#,
            "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>",
        )
        .end("E")
        .end("Escalated");
    d.flow("f1", "S", "Work")
        .flow("f2", "Work", "E")
        .flow("f3", "Late", "Escalated");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    let due = i.timers.clone();
    assert_eq!(due.len(), 1);
    complete(&m, &mut i, "Work");
    assert_eq!(
        i.timers, due,
        "the deadline is the activity's, not the iteration's"
    );
    complete(&m, &mut i, "Work");
    complete(&m, &mut i, "Work");
    assert!(i.timers.is_empty(), "disarmed when the activity completes");
    assert_eq!(i.state, state::COMPLETED);
    // Parallel: one timer for all the instances.
    let mut d2 = Doc::new();
    d2.start("S")
        .node("userTask", "Work", "", &multi(false, "3", ""))
        .node(
            "boundaryEvent",
            "Late",
            r#"attachedToRef="Work" cancelActivity="false""#,
            "<bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>",
        )
        .end("E")
        .end("Escalated");
    d2.flow("f1", "S", "Work")
        .flow("f2", "Work", "E")
        .flow("f3", "Late", "Escalated");
    let m = d2.compile();
    let i = start(&m, json!({}));
    assert_eq!(i.timers.len(), 1, "{:?}", i.timers);
}

/// A DMN decision table (a Camunda business rule task's `decisionRef`)
/// converted into the compact form decides like one written by hand.
#[test]
fn a_dmn_decision_table_decides_once_converted() {
    let xml = include_str!("dmn/supplier-rating.bpmn");
    let tables = ingot_bpmn::dmn::decision_tables(include_str!("dmn/supplier-grade.dmn")).unwrap();
    let mut b = ingot_bpmn::skeleton::skeleton_xml(xml).unwrap();
    b["start"] = json!("any");
    b["participants"] = json!({"SupplierRating": "org:Acme"});
    assert_eq!(
        ingot_bpmn::dmn::fill_decisions_xml(xml, &mut b, &tables).unwrap(),
        ["Rate"]
    );
    let m = ingot_bpmn::compile_xml(xml, &b).unwrap_or_else(|e| panic!("{e}\n{b}"));
    let grade = |amount: i64, region: &str| {
        let vars = json!({"amount": amount, "region": region});
        let (i, _) = engine::start(&m, 1, "t".into(), &acme(), &vars, 0, 1).unwrap();
        var(&m, &i, "grade")
    };
    let text = |s: &str| Some(ingot_bpmn::expr::Value::Text(s.into()));
    assert_eq!(grade(250_000, "EU"), text("C"));
    assert_eq!(grade(50_000, "EU"), text("B"));
    assert_eq!(
        grade(50_000, "sanctioned"),
        text("A"),
        "not(...) excludes it"
    );
    assert_eq!(
        grade(100_000, "EU"),
        text("C"),
        "[10000..100000[ excludes the top"
    );
    assert_eq!(grade(10, "EU"), text("A"));
}
