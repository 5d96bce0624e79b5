//! Parallel multi-instance subprocesses (BPMN 2.0 §10.3.8, §13.3.4): each
//! instance runs the subprocess's contents with tokens, timers, item and
//! result of its own; they end one by one, by a completion condition, or
//! together when an interrupting event cancels the activity.

mod common;

use common::*;
use commonware_codec::{Decode, Encode};
use ingot_bpmn::{
    engine,
    expr::Value,
    machine::{state, Instance},
    Machine,
};
use serde_json::json;

fn marker(completion: &str) -> String {
    let completion = if completion.is_empty() {
        String::new()
    } else {
        format!("<bpmn:completionCondition>{completion}</bpmn:completionCondition>")
    };
    format!(
        r#"<bpmn:multiInstanceLoopCharacteristics isSequential="false"><bpmn:loopDataInputRef>lots</bpmn:loopDataInputRef><bpmn:loopDataOutputRef>grades</bpmn:loopDataOutputRef><bpmn:inputDataItem name="lot"/><bpmn:outputDataItem name="grade"/>{completion}</bpmn:multiInstanceLoopCharacteristics>"#
    )
}

/// S -> Sub (parallel over `lots`; `inner` inside) -> After -> E, with
/// whatever else `extra` adds beside it.
fn process(
    inner: &str,
    completion: &str,
    extra: impl FnOnce(&mut Doc),
    outputs: serde_json::Value,
) -> Machine {
    let mut d = Doc::new();
    d.variables = json!({"lots": "list", "lot": "string", "grades": "list", "grade": "integer", "ready": "boolean"});
    d.outputs = outputs;
    d.start("S")
        .node(
            "subProcess",
            "Sub",
            "",
            &format!("{}{inner}", marker(completion)),
        )
        .task("After")
        .end("E");
    d.flow("f1", "S", "Sub")
        .flow("f2", "Sub", "After")
        .flow("f3", "After", "E");
    extra(&mut d);
    d.compile()
}

/// IS -> Inspect -> IE inside.
const INSPECT: &str = r#"<bpmn:startEvent id="IS"/><bpmn:userTask id="Inspect"/><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Inspect"/><bpmn:sequenceFlow id="i2" sourceRef="Inspect" targetRef="IE"/>"#;

fn inspection(completion: &str) -> Machine {
    process(
        INSPECT,
        completion,
        |_| {},
        json!({"S": ["lots"], "Inspect": ["grade"]}),
    )
}

fn var(m: &Machine, i: &Instance, name: &str) -> Option<Value> {
    engine::variables(m, i)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|s| s.to_string()).collect())
}

fn try_complete(
    m: &Machine,
    i: &mut Instance,
    task: &str,
    vars: serde_json::Value,
) -> Result<engine::Outcome, ingot_bpmn::refusal::Refusal> {
    let mut attempt = i.clone();
    let out = engine::complete(m, &mut attempt, task, &acme(), &vars, 2_000_000)?;
    *i = attempt;
    Ok(out)
}

/// Every stored instance decodes to itself.
fn round_trips(i: &Instance) {
    assert_eq!(&Instance::decode_cfg(i.encode(), &()).unwrap(), i);
}

#[test]
fn each_instance_has_its_own_item_tokens_and_result() {
    let m = inspection("");
    let mut i = start(&m, json!({"lots": ["L1", "L2", "L3"]}));
    round_trips(&i);
    // Three instances, each waiting at its own Inspect, each with its item.
    let running = engine::subprocess_instances(&m, &i);
    assert_eq!(running.len(), 3, "{running:?}");
    for (k, b) in running.iter().enumerate() {
        assert_eq!((b.subprocess.as_str(), b.counter), ("Sub", k as u16));
        assert_eq!(b.waiting, ids(&["Inspect"]));
        assert_eq!(
            b.locals,
            vec![("lot".to_string(), Value::Text(format!("L{}", k + 1)))]
        );
    }
    assert_eq!(active(&m, &i), ids(&["Inspect"]));
    assert_eq!(
        engine::live_instances(&m, &i, m.node_index("Inspect").unwrap()),
        vec![0, 1, 2]
    );
    // Out of order, named by loopCounter; the result lands at its place.
    let out = complete_with(&m, &mut i, "Inspect", json!({"grade": 7, "loopCounter": 2}));
    assert!(
        out.steps
            .iter()
            .any(|s| s.element == "Inspect" && s.detail.contains("instance 2 of `Sub`")),
        "{:?}",
        out.steps
    );
    assert_eq!(var(&m, &i, "grades"), Some(list(&["", "", "7"])));
    assert_eq!(engine::subprocess_instances(&m, &i).len(), 2);
    round_trips(&i);
    // Instance 2 is gone: naming it again is refused with a stable kind.
    let refused =
        try_complete(&m, &mut i, "Inspect", json!({"grade": 1, "loopCounter": 2})).unwrap_err();
    assert_eq!(
        refused.kind,
        ingot_bpmn::refusal::RefusalKind::InstanceNotWaiting
    );
    // Without loopCounter: the first instance waiting.
    complete_with(&m, &mut i, "Inspect", json!({"grade": 5}));
    assert_eq!(var(&m, &i, "grades"), Some(list(&["5", "", "7"])));
    assert_eq!(active(&m, &i), ids(&["Inspect"]));
    complete_with(&m, &mut i, "Inspect", json!({"grade": 9}));
    assert_eq!(var(&m, &i, "grades"), Some(list(&["5", "9", "7"])));
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert!(i.parked.is_empty() && i.loops.is_empty());
    complete(&m, &mut i, "After");
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn a_completion_condition_cancels_the_instances_still_running() {
    let m = inspection("nrOfCompletedInstances == 2");
    let mut i = start(&m, json!({"lots": ["L1", "L2", "L3", "L4"]}));
    complete_with(&m, &mut i, "Inspect", json!({"grade": 1, "loopCounter": 3}));
    let out = complete_with(&m, &mut i, "Inspect", json!({"grade": 2, "loopCounter": 1}));
    assert!(
        out.steps.iter().any(|s| s.element == "Sub"
            && s.action == "looped"
            && s.detail == "2 iterations, 2 cancelled"),
        "{:?}",
        out.steps
    );
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert!(i.parked.is_empty(), "{:?}", i.parked);
    assert_eq!(var(&m, &i, "grades"), Some(list(&["", "2", "", "1"])));
    // An empty collection skips the subprocess.
    let mut i = start(&m, json!({"lots": []}));
    assert_eq!(active(&m, &i), ids(&["After"]));
    complete(&m, &mut i, "After");
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn automatic_instances_run_to_their_end_one_after_another_in_one_move() {
    // Nothing inside waits: every instance ends in the move that starts it.
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="IE"/>"#;
    let m = process(inner, "", |_| {}, json!({"S": ["lots"]}));
    let i = start(&m, json!({"lots": ["a", "b", "c"]}));
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert!(i.parked.is_empty());
    // Stopped by the completion condition after the first: the others never begin.
    let m = process(
        inner,
        "nrOfCompletedInstances >= 1",
        |_| {},
        json!({"S": ["lots"]}),
    );
    let (_, out) = engine::start(
        &m,
        1,
        "t-1".into(),
        &acme(),
        &json!({"lots": ["a", "b", "c"]}),
        1_000,
        1,
    )
    .unwrap();
    let started = out
        .steps
        .iter()
        .filter(|s| s.element == "Sub" && s.action == "started")
        .count();
    assert_eq!(started, 1, "{:?}", out.steps);
}

#[test]
fn each_instance_has_its_own_timer() {
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:userTask id="Inspect"/><bpmn:endEvent id="IE"/><bpmn:endEvent id="Late"/>
        <bpmn:boundaryEvent id="Deadline" attachedToRef="Inspect"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Inspect"/><bpmn:sequenceFlow id="i2" sourceRef="Inspect" targetRef="IE"/><bpmn:sequenceFlow id="i3" sourceRef="Deadline" targetRef="Late"/>"#;
    let m = process(
        inner,
        "",
        |_| {},
        json!({"S": ["lots"], "Inspect": ["grade"]}),
    );
    let mut i = start(&m, json!({"lots": ["L1", "L2"]}));
    let deadline = m.node_index("Deadline").unwrap();
    let timers = engine::timers(&i);
    assert_eq!(timers.len(), 2, "one per instance: {timers:?}");
    assert!(i.timers.is_empty(), "both parked with their instances");
    // Instance 0 is done in time: only its timer goes.
    complete_with(&m, &mut i, "Inspect", json!({"grade": 3, "loopCounter": 0}));
    assert_eq!(engine::timers(&i).len(), 1);
    // Instance 1's deadline passes: it ends at Late, the subprocess completes.
    let due = engine::timers(&i)[0].at_ms;
    let out = engine::fire_timer(&m, &mut i, deadline, due).unwrap();
    assert!(
        out.steps.iter().any(|s| s.element == "Late"),
        "{:?}",
        out.steps
    );
    // History says which instance each step is about.
    let said = |element: &str, action: &str, detail: &str| {
        out.steps
            .iter()
            .any(|s| s.element == element && s.action == action && s.detail == detail)
    };
    assert!(
        said("Deadline", "timer", "instance 1 of `Sub`"),
        "{:?}",
        out.steps
    );
    assert!(said("Sub", "completed", "instance 1"), "{:?}", out.steps);
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert!(engine::timers(&i).is_empty());
    assert_eq!(var(&m, &i, "grades"), Some(list(&["3", ""])));
    round_trips(&i);
}

#[test]
fn terminate_ends_one_instance_and_an_error_cancels_them_all() {
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:userTask id="Inspect"/><bpmn:exclusiveGateway id="Verdict" default="i4"/>
        <bpmn:endEvent id="Scrap"><bpmn:terminateEventDefinition/></bpmn:endEvent>
        <bpmn:endEvent id="Defect"><bpmn:errorEventDefinition errorRef="Bad"/></bpmn:endEvent><bpmn:endEvent id="IE"/>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Inspect"/><bpmn:sequenceFlow id="i2" sourceRef="Inspect" targetRef="Verdict"/>
        <bpmn:sequenceFlow id="i3" sourceRef="Verdict" targetRef="Scrap"><bpmn:conditionExpression>grade == 0</bpmn:conditionExpression></bpmn:sequenceFlow>
        <bpmn:sequenceFlow id="i5" sourceRef="Verdict" targetRef="Defect"><bpmn:conditionExpression>grade &lt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>
        <bpmn:sequenceFlow id="i4" sourceRef="Verdict" targetRef="IE"/>"#;
    let m = process(
        inner,
        "",
        |d| {
            d.node(
                "boundaryEvent",
                "Failed",
                r#"attachedToRef="Sub""#,
                r#"<bpmn:errorEventDefinition errorRef="Bad"/>"#,
            )
            .task("Recall")
            .end("E2");
            d.flow("f4", "Failed", "Recall").flow("f5", "Recall", "E2");
        },
        json!({"S": ["lots"], "Inspect": ["grade"]}),
    );
    let mut i = start(&m, json!({"lots": ["L1", "L2", "L3"]}));
    // A terminate end inside ends that instance only (its scope).
    complete_with(&m, &mut i, "Inspect", json!({"grade": 0, "loopCounter": 1}));
    assert_eq!(engine::subprocess_instances(&m, &i).len(), 2);
    assert_eq!(i.state, state::RUNNING);
    // An error from one instance, caught on the subprocess's boundary,
    // cancels every instance.
    let out = complete_with(
        &m,
        &mut i,
        "Inspect",
        json!({"grade": -1, "loopCounter": 2}),
    );
    assert!(
        out.steps
            .iter()
            .any(|s| s.element == "Sub" && s.action == "interrupted"),
        "{:?}",
        out.steps
    );
    assert_eq!(active(&m, &i), ids(&["Recall"]));
    assert!(i.parked.is_empty() && i.loops.is_empty());
    assert!(engine::timers(&i).is_empty());
    round_trips(&i);
}

#[test]
fn signals_reach_every_instance() {
    // Each instance waits for Go (or its inspector raises it); a signal
    // thrown in one instance reaches the others too, as does one from
    // another process instance.
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:parallelGateway id="Fork"/><bpmn:userTask id="Inspect"/>
        <bpmn:intermediateThrowEvent id="Raise"><bpmn:signalEventDefinition signalRef="Go"/></bpmn:intermediateThrowEvent>
        <bpmn:intermediateCatchEvent id="Wait"><bpmn:signalEventDefinition signalRef="Go"/></bpmn:intermediateCatchEvent>
        <bpmn:parallelGateway id="Join"/><bpmn:endEvent id="IE"/>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Fork"/><bpmn:sequenceFlow id="i2" sourceRef="Fork" targetRef="Inspect"/>
        <bpmn:sequenceFlow id="i3" sourceRef="Inspect" targetRef="Raise"/><bpmn:sequenceFlow id="i4" sourceRef="Raise" targetRef="Join"/>
        <bpmn:sequenceFlow id="i5" sourceRef="Fork" targetRef="Wait"/><bpmn:sequenceFlow id="i6" sourceRef="Wait" targetRef="Join"/>
        <bpmn:sequenceFlow id="i7" sourceRef="Join" targetRef="IE"/>"#;
    let m = process(inner, "", |_| {}, json!({"S": ["lots"]}));
    let mut i = start(&m, json!({"lots": ["L1", "L2", "L3"]}));
    assert_eq!(active(&m, &i), ids(&["Inspect", "Wait"]));
    assert_eq!(engine::awaited_signals(&m, &i), vec!["Go".to_string()]);
    // Instance 1's inspector raises Go: every instance's Wait fires.
    let out = complete_with(&m, &mut i, "Inspect", json!({"loopCounter": 1}));
    let caught = out
        .steps
        .iter()
        .filter(|s| s.element == "Wait" && s.action == "signal")
        .count();
    assert_eq!(caught, 3, "{:?}", out.steps);
    assert_eq!(out.signals, vec!["Go".to_string()]);
    for b in engine::subprocess_instances(&m, &i) {
        assert_eq!(b.waiting, ids(&["Inspect"]), "instance {}", b.counter);
    }
    assert!(engine::awaited_signals(&m, &i).is_empty());
    // From outside, with nothing waiting for it: no effect.
    let before = i.clone();
    let out = engine::signal(&m, &mut i, "Go", "elsewhere".into(), 3_000_000).unwrap();
    assert!(out.steps.is_empty(), "{:?}", out.steps);
    i.updated_ms = before.updated_ms;
    assert_eq!(i, before);
    // A second process instance: a signal from outside reaches the parked ones.
    let mut j = start(&m, json!({"lots": ["L1", "L2"]}));
    let out = engine::signal(&m, &mut j, "Go", "elsewhere".into(), 3_000_000).unwrap();
    let caught: Vec<_> = out
        .steps
        .iter()
        .filter(|s| s.element == "Wait")
        .map(|s| s.detail.as_str())
        .collect();
    assert_eq!(caught, vec!["elsewhere", "elsewhere"]);
    complete(&m, &mut j, "Inspect");
    complete(&m, &mut j, "Inspect");
    assert_eq!(active(&m, &j), ids(&["After"]));
}

#[test]
fn a_conditional_event_in_a_parked_instance_fires_when_a_move_elsewhere_makes_it_hold() {
    // S -> Fork -> Sub (each instance waits until `ready`) -> E, and
    // Fork -> Release (sets `ready`) -> E2.
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:intermediateCatchEvent id="Ready"><bpmn:conditionalEventDefinition><bpmn:condition>ready</bpmn:condition></bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent><bpmn:endEvent id="IE"/>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Ready"/><bpmn:sequenceFlow id="i2" sourceRef="Ready" targetRef="IE"/>"#;
    let mut d = Doc::new();
    d.variables = json!({"lots": "list", "lot": "string", "grades": "list", "grade": "integer", "ready": "boolean"});
    d.outputs = json!({"S": ["lots"], "Release": ["ready"]});
    d.start("S")
        .gateway("parallel", "Fork", None)
        .node("subProcess", "Sub", "", &format!("{}{inner}", marker("")))
        .task("Release")
        .end("E")
        .end("E2");
    d.flow("f1", "S", "Fork")
        .flow("f2", "Fork", "Sub")
        .flow("f3", "Sub", "E")
        .flow("f4", "Fork", "Release")
        .flow("f5", "Release", "E2");
    let m = d.compile();
    let mut i = start(&m, json!({"lots": ["L1", "L2"]}));
    assert_eq!(active(&m, &i), ids(&["Ready", "Release"]));
    assert_eq!(engine::subprocess_instances(&m, &i).len(), 2);
    complete_with(&m, &mut i, "Release", json!({"ready": false}));
    assert_eq!(engine::subprocess_instances(&m, &i).len(), 2, "not yet");
    // A fresh instance: Release sets `ready`, both parked instances wake.
    let mut i = start(&m, json!({"lots": ["L1", "L2"]}));
    let out = complete_with(&m, &mut i, "Release", json!({"ready": true}));
    let fired = out
        .steps
        .iter()
        .filter(|s| s.element == "Ready" && s.action == "condition")
        .count();
    assert_eq!(fired, 2, "{:?}", out.steps);
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn what_parking_cannot_run_is_refused_precisely() {
    let refused = |inner: &str, messages: serde_json::Value| {
        let mut d = Doc::new();
        d.variables = json!({"lots": "list", "lot": "string", "grades": "list", "grade": "integer", "order": "string"});
        d.messages = messages;
        d.start("S")
            .node("subProcess", "Sub", "", &format!("{}{inner}", marker("")))
            .end("E");
        d.flow("f1", "S", "Sub").flow("f2", "Sub", "E");
        ingot_bpmn::compile_xml(&d.xml(), &d.bindings())
            .unwrap_err()
            .to_string()
    };
    let nested = format!(
        r#"<bpmn:startEvent id="IS"/><bpmn:userTask id="Each">{}</bpmn:userTask><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Each"/><bpmn:sequenceFlow id="i2" sourceRef="Each" targetRef="IE"/>"#,
        r#"<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>"#
    );
    let e = refused(&nested, json!({}));
    assert!(
        e.contains("a parallel multi-instance activity inside the parallel multi-instance subprocess `Sub`"),
        "{e}"
    );
    let by_item = r#"<bpmn:startEvent id="IS"/><bpmn:intermediateCatchEvent id="Shipped"><bpmn:messageEventDefinition/></bpmn:intermediateCatchEvent><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Shipped"/><bpmn:sequenceFlow id="i2" sourceRef="Shipped" targetRef="IE"/>"#;
    let e = refused(
        by_item,
        json!({"Shipped": {"event": "notary.recorded", "attribute": "metadata", "variable": "lot"}}),
    );
    assert!(
        e.contains("correlated by `lot`, the item of the parallel multi-instance subprocess `Sub`"),
        "{e}"
    );
    // Correlated by a process variable it runs.
    let mut d = Doc::new();
    d.variables = json!({"lots": "list", "lot": "string", "grades": "list", "grade": "integer", "order": "string"});
    d.messages = json!({"Shipped": {"event": "notary.recorded", "attribute": "metadata", "variable": "order"}});
    d.start("S")
        .node("subProcess", "Sub", "", &format!("{}{by_item}", marker("")))
        .end("E");
    d.flow("f1", "S", "Sub").flow("f2", "Sub", "E");
    ingot_bpmn::compile_xml(&d.xml(), &d.bindings()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn too_many_instances_are_refused_not_stored() {
    let m = inspection("");
    let lots: Vec<String> = (0..40).map(|n| format!("L{n}")).collect();
    let e = engine::start(
        &m,
        1,
        "t-1".into(),
        &acme(),
        &json!({"lots": lots}),
        1_000,
        1,
    )
    .unwrap_err();
    assert!(e.contains("tokens"), "{e}");
}

#[test]
fn a_call_inside_returns_to_the_instance_that_made_it() {
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:callActivity id="Audit" calledElement="audit"/><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Audit"/><bpmn:sequenceFlow id="i2" sourceRef="Audit" targetRef="IE"/>"#;
    let mut d = Doc::new();
    d.variables = json!({"lots": "list", "lot": "string", "grades": "list", "grade": "integer"});
    d.outputs = json!({"S": ["lots"]});
    d.start("S")
        .node("subProcess", "Sub", "", &format!("{}{inner}", marker("")))
        .end("E");
    d.flow("f1", "S", "Sub").flow("f2", "Sub", "E");
    let mut b = d.bindings();
    b["calls"] = json!({"Audit": {"definition": "audit", "inputs": {"site": "lot"}, "outputs": {"grade": "score"}}});
    let m = ingot_bpmn::compile_xml(&d.xml(), &b).unwrap_or_else(|e| panic!("{e}"));
    let (mut i, out) = engine::start(
        &m,
        1,
        "t".into(),
        &acme(),
        &json!({"lots": ["L1", "L2"]}),
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
        vec![(0, json!({"site": "L1"})), (1, json!({"site": "L2"}))]
    );
    let node = m.node_index("Audit").unwrap();
    assert_eq!(engine::live_instances(&m, &i, node), vec![0, 1]);
    assert_eq!(
        engine::active_nodes(&i)
            .iter()
            .filter(|&&a| a as usize == node)
            .count(),
        2
    );
    let score = |n: i64| [("score".to_string(), Value::Int(n))];
    engine::child_completed(&m, &mut i, node, 1, &score(8), "c2".into(), 5).unwrap();
    assert_eq!(var(&m, &i, "grades"), Some(list(&["", "8"])));
    assert_eq!(engine::live_instances(&m, &i, node), vec![0]);
    let again = engine::child_completed(&m, &mut i.clone(), node, 1, &score(1), "c2".into(), 6)
        .unwrap_err();
    assert_eq!(
        again.kind,
        ingot_bpmn::refusal::RefusalKind::InstanceNotWaiting,
        "{again}"
    );
    engine::child_completed(&m, &mut i, node, 0, &score(6), "c1".into(), 7).unwrap();
    assert_eq!(var(&m, &i, "grades"), Some(list(&["6", "8"])));
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn an_instance_that_ends_takes_its_event_subprocess_timers_with_it() {
    // Each instance has a non-interrupting reminder (a timer event
    // subprocess inside the subprocess): one per instance, and an instance
    // that ends disarms its own, never another's.
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:userTask id="Inspect"/><bpmn:endEvent id="IE"/>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Inspect"/><bpmn:sequenceFlow id="i2" sourceRef="Inspect" targetRef="IE"/>
        <bpmn:subProcess id="Reminder" triggeredByEvent="true"><bpmn:startEvent id="RS" isInterrupting="false"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent><bpmn:userTask id="Remind"/><bpmn:endEvent id="RE"/>
        <bpmn:sequenceFlow id="r1" sourceRef="RS" targetRef="Remind"/><bpmn:sequenceFlow id="r2" sourceRef="Remind" targetRef="RE"/></bpmn:subProcess>"#;
    let m = process(
        inner,
        "",
        |_| {},
        json!({"S": ["lots"], "Inspect": ["grade"]}),
    );
    let mut i = start(&m, json!({"lots": ["L1", "L2", "L3"]}));
    assert_eq!(engine::timers(&i).len(), 3, "{:?}", i.parked);
    complete_with(&m, &mut i, "Inspect", json!({"grade": 1, "loopCounter": 0}));
    assert_eq!(
        engine::timers(&i).len(),
        2,
        "instance 0's reminder goes with it"
    );
    assert!(
        i.timers.is_empty(),
        "nothing left outside the parked instances"
    );
    // A reminder falls due: it fires in the first instance whose it is, only there.
    let rs = m.node_index("RS").unwrap();
    let due = engine::timers(&i)[0].at_ms;
    engine::fire_timer(&m, &mut i, rs, due).unwrap();
    let by: Vec<(u16, Vec<String>)> = engine::subprocess_instances(&m, &i)
        .into_iter()
        .map(|b| (b.counter, b.waiting))
        .collect();
    assert_eq!(by[0].0, 1);
    assert_eq!(by[0].1, ids(&["Inspect", "Remind"]));
    assert_eq!(by[1], (2, ids(&["Inspect"])));
    complete_with(&m, &mut i, "Inspect", json!({"grade": 2, "loopCounter": 2}));
    complete_with(&m, &mut i, "Inspect", json!({"grade": 3, "loopCounter": 1}));
    // Instance 1 still has its reminder task: it has not ended yet.
    assert_eq!(engine::subprocess_instances(&m, &i).len(), 1);
    complete_with(&m, &mut i, "Remind", json!({"loopCounter": 1}));
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert!(engine::timers(&i).is_empty() && i.parked.is_empty());
}

#[test]
fn a_result_nothing_sets_is_warned_about() {
    // Inspect does not output `grade`: every result would stay "".
    let m = process(INSPECT, "", |_| {}, json!({"S": ["lots"]}));
    let w = ingot_bpmn::compiled_warnings(&m);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        (w[0].code, w[0].element.as_str()),
        ("result_never_set", "Sub")
    );
    assert!(w[0].message.contains("`grade`"), "{}", w[0].message);
    // Set by the task inside: no warning.
    assert!(ingot_bpmn::compiled_warnings(&inspection("")).is_empty());
}

#[test]
fn a_sequential_loop_inside_runs_in_each_instance_at_its_own_pace() {
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:userTask id="Measure"><bpmn:multiInstanceLoopCharacteristics isSequential="true"><bpmn:loopDataInputRef>samples</bpmn:loopDataInputRef><bpmn:inputDataItem name="sample"/></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask><bpmn:endEvent id="IE"/>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Measure"/><bpmn:sequenceFlow id="i2" sourceRef="Measure" targetRef="IE"/>"#;
    let mut d = Doc::new();
    d.variables = json!({"lots": "list", "lot": "string", "grades": "list", "grade": "integer", "samples": "list", "sample": "string"});
    d.outputs = json!({"S": ["lots", "samples"]});
    d.start("S")
        .node("subProcess", "Sub", "", &format!("{}{inner}", marker("")))
        .end("E");
    d.flow("f1", "S", "Sub").flow("f2", "Sub", "E");
    let m = d.compile();
    let mut i = start(&m, json!({"lots": ["L1", "L2"], "samples": ["s1", "s2"]}));
    complete_with(&m, &mut i, "Measure", json!({"loopCounter": 0}));
    let sample = |i: &Instance, k: usize| {
        engine::subprocess_instances(&m, i)[k]
            .locals
            .iter()
            .find(|(name, _)| name == "sample")
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        sample(&i, 0),
        Some(Value::Text("s2".into())),
        "instance 0 on its second sample"
    );
    assert_eq!(
        sample(&i, 1),
        Some(Value::Text("s1".into())),
        "instance 1 still on its first"
    );
    complete_with(&m, &mut i, "Measure", json!({"loopCounter": 1}));
    complete_with(&m, &mut i, "Measure", json!({"loopCounter": 1}));
    complete_with(&m, &mut i, "Measure", json!({"loopCounter": 0}));
    assert_eq!(i.state, state::COMPLETED);
}
