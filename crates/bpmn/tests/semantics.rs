//! Gateway, event and scope semantics of the token machine.

mod common;

use common::*;
use ingot_bpmn::{engine, machine::state};
use serde_json::json;

#[test]
fn parallel_join_waits_for_every_branch() {
    let mut d = Doc::new();
    d.start("S")
        .gateway("parallel", "Split", None)
        .task("A")
        .task("B")
        .task("C")
        .gateway("parallel", "Join", None)
        .task("After")
        .end("E");
    d.flow("f1", "S", "Split")
        .flow("f2", "Split", "A")
        .flow("f3", "Split", "B")
        .flow("f4", "Split", "C")
        .flow("f5", "A", "Join")
        .flow("f6", "B", "Join")
        .flow("f7", "C", "Join")
        .flow("f8", "Join", "After")
        .flow("f9", "After", "E");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    assert_eq!(active(&m, &i), ids(&["A", "B", "C"]));
    complete(&m, &mut i, "B");
    assert_eq!(active(&m, &i), ids(&["A", "C"]));
    complete(&m, &mut i, "A");
    assert_eq!(
        active(&m, &i),
        ids(&["C"]),
        "join fired before all branches arrived"
    );
    complete(&m, &mut i, "C");
    assert_eq!(active(&m, &i), ids(&["After"]));
    complete(&m, &mut i, "After");
    assert_eq!(i.state, state::COMPLETED);
}

fn inclusive() -> ingot_bpmn::Machine {
    let mut d = Doc::new();
    d.variables = json!({"paint": "boolean", "pack": "boolean"});
    d.outputs = json!({"S": ["paint", "pack"]});
    d.start("S")
        .gateway("inclusive", "Split", Some("f_none"))
        .task("Paint1")
        .task("Paint2")
        .task("Pack")
        .task("Nothing")
        .gateway("inclusive", "Join", None)
        .task("Inspect")
        .end("E");
    d.flow("f1", "S", "Split")
        .cond("f_paint", "Split", "Paint1", "paint")
        .cond("f_pack", "Split", "Pack", "${pack == true}")
        .flow("f_none", "Split", "Nothing")
        .flow("p12", "Paint1", "Paint2")
        .flow("j1", "Paint2", "Join")
        .flow("j2", "Pack", "Join")
        .flow("j3", "Nothing", "Join")
        .flow("f8", "Join", "Inspect")
        .flow("f9", "Inspect", "E");
    d.compile()
}

#[test]
fn inclusive_join_waits_only_for_activated_branches() {
    let m = inclusive();
    // Only one branch activated: the join fires as soon as it arrives.
    let mut i = start(&m, json!({"paint": false, "pack": true}));
    assert_eq!(active(&m, &i), ids(&["Pack"]));
    complete(&m, &mut i, "Pack");
    assert_eq!(active(&m, &i), ids(&["Inspect"]));

    // Two branches: the join waits for the second, even while it is still
    // upstream (Paint1 → Paint2), not just one flow away.
    let mut i = start(&m, json!({"paint": true, "pack": true}));
    assert_eq!(active(&m, &i), ids(&["Paint1", "Pack"]));
    complete(&m, &mut i, "Pack");
    assert_eq!(active(&m, &i), ids(&["Paint1"]));
    complete(&m, &mut i, "Paint1");
    assert_eq!(active(&m, &i), ids(&["Paint2"]));
    complete(&m, &mut i, "Paint2");
    assert_eq!(active(&m, &i), ids(&["Inspect"]));

    // No condition holds: the default flow.
    let mut i = start(&m, json!({"paint": false, "pack": false}));
    assert_eq!(active(&m, &i), ids(&["Nothing"]));
    complete(&m, &mut i, "Nothing");
    assert_eq!(active(&m, &i), ids(&["Inspect"]));
}

#[test]
fn exclusive_gateway_takes_first_true_condition_else_default() {
    let mut d = Doc::new();
    d.variables = json!({"amount": "decimal"});
    d.outputs = json!({"S": ["amount"]});
    d.start("S")
        .gateway("exclusive", "G", Some("f_default"))
        .task("Big")
        .task("Huge")
        .task("Normal")
        .end("E");
    d.flow("f1", "S", "G")
        .cond("f_big", "G", "Big", "amount > 1000.00")
        .cond("f_huge", "G", "Huge", "amount > 1000000")
        .flow("f_default", "G", "Normal")
        .flow("a", "Big", "E")
        .flow("b", "Huge", "E")
        .flow("c", "Normal", "E");
    let m = d.compile();
    // Both conditions hold: document order decides, exactly one branch.
    let i = start(&m, json!({"amount": "2000000"}));
    assert_eq!(active(&m, &i), ids(&["Big"]));
    let i = start(&m, json!({"amount": "1000.01"}));
    assert_eq!(active(&m, &i), ids(&["Big"]));
    let i = start(&m, json!({"amount": "1000.00"}));
    assert_eq!(active(&m, &i), ids(&["Normal"]));
}

fn event_race() -> ingot_bpmn::Machine {
    let mut d = Doc::new();
    d.variables = json!({"doc": "string"});
    d.outputs = json!({"S": ["doc"]});
    d.messages = json!({"Confirmed": {"event": "notary.recorded", "attribute": "document_hash", "variable": "doc"}});
    d.start("S")
        .gateway("eventBased", "Race", None)
        .message_catch("Confirmed")
        .timer("Timeout", "PT1H")
        .task("Close")
        .task("Escalate")
        .end("E1")
        .end("E2");
    d.flow("f1", "S", "Race")
        .flow("f2", "Race", "Confirmed")
        .flow("f3", "Race", "Timeout")
        .flow("f4", "Confirmed", "Close")
        .flow("f5", "Timeout", "Escalate")
        .flow("f6", "Close", "E1")
        .flow("f7", "Escalate", "E2");
    d.compile()
}

#[test]
fn event_based_gateway_takes_the_first_event() {
    let m = event_race();
    let confirmed = m.node_index("Confirmed").unwrap();
    let timeout = m.node_index("Timeout").unwrap();

    // The message comes first: the timer is disarmed and cannot fire later.
    let mut i = start(&m, json!({"doc": "ab"}));
    assert_eq!(active(&m, &i), ids(&["Confirmed", "Timeout"]));
    assert_eq!(i.timers.len(), 1);
    assert_eq!(i.timers[0].at_ms, 1_000_000 + 3_600_000);
    let out = engine::deliver(&m, &mut i, confirmed, "x".into(), 1_500_000).unwrap();
    assert!(!out.steps.is_empty());
    assert_eq!(active(&m, &i), ids(&["Close"]));
    assert!(i.timers.is_empty());
    let late = engine::fire_timer(&m, &mut i, timeout, 5_000_000).unwrap();
    assert!(late.steps.is_empty(), "a disarmed timer fired");
    assert_eq!(active(&m, &i), ids(&["Close"]));

    // The timer comes first: a later message changes nothing.
    let mut i = start(&m, json!({"doc": "ab"}));
    engine::fire_timer(&m, &mut i, timeout, 4_700_000).unwrap();
    assert_eq!(active(&m, &i), ids(&["Escalate"]));
    let late = engine::deliver(&m, &mut i, confirmed, "x".into(), 5_000_000).unwrap();
    assert!(late.steps.is_empty());
    assert_eq!(active(&m, &i), ids(&["Escalate"]));
}

#[test]
fn subprocess_completes_when_its_inside_is_empty() {
    let mut d = Doc::new();
    d.start("S").end("E").task("After");
    d.node(
        "subProcess",
        "Sub",
        "",
        r#"<bpmn:startEvent id="s2"/><bpmn:userTask id="In1"/><bpmn:userTask id="In2"/>
           <bpmn:parallelGateway id="ps"/><bpmn:parallelGateway id="pj"/><bpmn:endEvent id="e2"/>
           <bpmn:sequenceFlow id="i1" sourceRef="s2" targetRef="ps"/>
           <bpmn:sequenceFlow id="i2" sourceRef="ps" targetRef="In1"/>
           <bpmn:sequenceFlow id="i3" sourceRef="ps" targetRef="In2"/>
           <bpmn:sequenceFlow id="i4" sourceRef="In1" targetRef="pj"/>
           <bpmn:sequenceFlow id="i5" sourceRef="In2" targetRef="pj"/>
           <bpmn:sequenceFlow id="i6" sourceRef="pj" targetRef="e2"/>"#,
    );
    d.flow("f1", "S", "Sub")
        .flow("f2", "Sub", "After")
        .flow("f3", "After", "E");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    assert_eq!(active(&m, &i), ids(&["In1", "In2"]));
    complete(&m, &mut i, "In2");
    assert_eq!(active(&m, &i), ids(&["In1"]));
    complete(&m, &mut i, "In1");
    assert_eq!(active(&m, &i), ids(&["After"]));
    complete(&m, &mut i, "After");
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn terminate_end_removes_every_token() {
    let mut d = Doc::new();
    d.start("S")
        .gateway("parallel", "Split", None)
        .task("A")
        .task("B")
        .end("E")
        .node("endEvent", "Stop", "", "<bpmn:terminateEventDefinition/>");
    d.flow("f1", "S", "Split")
        .flow("f2", "Split", "A")
        .flow("f3", "Split", "B")
        .flow("f4", "A", "Stop")
        .flow("f5", "B", "E");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    complete(&m, &mut i, "A");
    assert_eq!(i.state, state::TERMINATED);
    assert!(active(&m, &i).is_empty());
    let err = engine::complete(&m, &mut i, "B", &acme(), &json!({}), 3).unwrap_err();
    assert!(err.contains("terminated"), "{err}");
}

#[test]
fn refusals_leave_the_reason() {
    let mut d = Doc::new();
    d.variables = json!({"n": "integer"});
    d.outputs = json!({"A": ["n"]});
    d.start("S").task("A").task("B").end("E");
    d.flow("f1", "S", "A")
        .flow("f2", "A", "B")
        .flow("f3", "B", "E");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    let outsider = ingot_bpmn::Actor {
        org: "Other".into(),
        role: "member".into(),
        member: [9; 32],
    };
    let cases = [
        (
            engine::complete(&m, &mut i.clone(), "A", &outsider, &json!({"n": 1}), 5),
            "not allowed",
        ),
        (
            engine::complete(&m, &mut i.clone(), "B", &acme(), &json!({}), 5),
            "not active",
        ),
        (
            engine::complete(&m, &mut i.clone(), "A", &acme(), &json!({}), 5),
            "missing variable `n`",
        ),
        (
            engine::complete(&m, &mut i.clone(), "A", &acme(), &json!({"n": "x"}), 5),
            "variable `n`",
        ),
        (
            engine::complete(
                &m,
                &mut i.clone(),
                "A",
                &acme(),
                &json!({"n": 1, "m": 2}),
                5,
            ),
            "unknown variable `m`",
        ),
        (
            engine::complete(&m, &mut i.clone(), "Nope", &acme(), &json!({}), 5),
            "not an element",
        ),
        (
            engine::complete(&m, &mut i.clone(), "S", &acme(), &json!({}), 5),
            "not a task",
        ),
    ];
    for (got, needle) in cases {
        let e = got.unwrap_err();
        assert!(e.contains(needle), "{e} lacks {needle}");
    }
    complete_with(&m, &mut i, "A", json!({"n": 7}));
    assert_eq!(
        engine::variables(&m, &i)[0].1,
        ingot_bpmn::expr::Value::Int(7)
    );
}

#[test]
fn encodings_round_trip() {
    use commonware_codec::{Decode, Encode};
    let m = inclusive();
    let back = ingot_bpmn::Machine::decode_cfg(m.encode(), &()).unwrap();
    assert_eq!(back, m);
    let i = start(&m, json!({"paint": true, "pack": false}));
    let back = ingot_bpmn::Instance::decode_cfg(i.encode(), &()).unwrap();
    assert_eq!(back, i);
}

/// BPMN 2.0 §10.5.2: a process (or subprocess) without a start event
/// instantiates every flow node without incoming flows, together; §10.5.3:
/// without end events, a node without outgoing flows ends its path, and the
/// scope completes when every path has.
#[test]
fn scopes_without_start_or_end_events_start_and_end_implicitly() {
    let mut d = Doc::new();
    d.task("A").task("B").node(
        "subProcess",
        "Sub",
        "",
        r#"<bpmn:userTask id="Inner1" name="Inner1"/><bpmn:userTask id="Inner2" name="Inner2"/>
           <bpmn:sequenceFlow id="i1" sourceRef="Inner1" targetRef="Inner2"/>"#,
    );
    d.flow("f1", "A", "Sub");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    assert_eq!(active(&m, &i), ids(&["A", "B"]), "both entry tasks begin");
    complete(&m, &mut i, "A");
    assert_eq!(
        active(&m, &i),
        ids(&["B", "Inner1"]),
        "the subprocess starts at its entry"
    );
    complete(&m, &mut i, "Inner1");
    complete(&m, &mut i, "Inner2");
    assert_eq!(
        active(&m, &i),
        ids(&["B"]),
        "the subprocess ended implicitly"
    );
    assert_eq!(i.state, state::RUNNING, "B's path has not ended");
    complete(&m, &mut i, "B");
    assert_eq!(i.state, state::COMPLETED);

    // With an end event in the scope, a node without outgoing flows is a
    // mistake and refused as before.
    let mut d = Doc::new();
    d.start("S").task("A").task("Lost").end("E");
    d.flow("f1", "S", "A")
        .flow("f2", "A", "E")
        .flow("f3", "S", "Lost");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings()).unwrap_err();
    assert!(
        e.0.iter()
            .any(|p| p.kind == ingot_bpmn::ErrorKind::DeadEnd && p.element == "Lost"),
        "{e}"
    );
}

/// BPMN 2.0 §10.5.1: conditional flows leaving an activity: a token on each
/// flow whose condition holds and on each flow without one; the default
/// flow only when no conditional flow holds.
#[test]
fn conditional_flows_leaving_a_task_split_inclusively() {
    let mut d = Doc::new();
    d.variables = json!({"amount": "integer"});
    d.outputs = json!({"Review": ["amount"]});
    d.start("S")
        .node("userTask", "Review", r#"default="f_small""#, "")
        .task("Always")
        .task("Audit")
        .task("Large")
        .task("Small")
        .end("E");
    d.flow("f1", "S", "Review")
        .flow("f_always", "Review", "Always")
        .cond("f_audit", "Review", "Audit", "amount > 100")
        .cond("f_large", "Review", "Large", "amount > 1000")
        .flow("f_small", "Review", "Small")
        .flow("e1", "Always", "E")
        .flow("e2", "Audit", "E")
        .flow("e3", "Large", "E")
        .flow("e4", "Small", "E");
    let m = d.compile();
    let run = |amount: i64| {
        let mut i = start(&m, json!({}));
        complete_with(&m, &mut i, "Review", json!({"amount": amount}));
        active(&m, &i)
    };
    assert_eq!(run(5000), ids(&["Always", "Audit", "Large"]));
    assert_eq!(run(500), ids(&["Always", "Audit"]));
    // No conditional flow holds: the default is taken, and the flow without
    // a condition is taken anyway.
    assert_eq!(run(5), ids(&["Always", "Small"]));

    // Conditions on a flow leaving an event are still refused (BPMN allows
    // them only on activities and gateways).
    let mut d = Doc::new();
    d.variables = json!({"amount": "integer"});
    d.start("S").task("A").task("B");
    d.cond("f1", "S", "A", "amount > 1").flow("f2", "S", "B");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings()).unwrap_err();
    assert!(e.to_string().contains("condition on a flow leaving"), "{e}");
}

/// A join that ends its path (no outgoing flow, no end event in its scope)
/// consumes its token; it used to fail the move with "no condition holds"
/// (found by the property test).
#[test]
fn a_join_without_outgoing_flows_ends_its_path() {
    // No start and no end event: the split begins, the join ends.
    let mut d = Doc::new();
    d.gateway("parallel", "Split", None)
        .task("A")
        .task("B")
        .gateway("inclusive", "Join", None);
    d.flow("f2", "Split", "A")
        .flow("f3", "Split", "B")
        .flow("f4", "A", "Join")
        .flow("f5", "B", "Join");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    complete(&m, &mut i, "A");
    complete(&m, &mut i, "B");
    assert_eq!(i.state, state::COMPLETED);
}

/// A message flow into a task that is not a receiver makes the message an
/// input the task needs (BPMN 2.0 §13.3.2: an activity becomes active once
/// its inputs are available): a person completes it, or a service task
/// runs, only after the message has arrived.
#[test]
fn a_task_with_an_incoming_message_flow_needs_its_message() {
    let xml = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:collaboration id="C">
    <bpmn:participant id="Buyer" processRef="PB"/>
    <bpmn:participant id="Seller" processRef="PS"/>
    <bpmn:messageFlow id="order" sourceRef="Order" targetRef="Confirm"/>
    <bpmn:messageFlow id="invoice" sourceRef="Confirm" targetRef="Book"/>
  </bpmn:collaboration>
  <bpmn:process id="PB" isExecutable="true">
    <bpmn:startEvent id="S1"/><bpmn:task id="Prepare"/><bpmn:userTask id="Order"/>
    <bpmn:serviceTask id="Book"/><bpmn:endEvent id="E1"/>
    <bpmn:sequenceFlow id="b1" sourceRef="S1" targetRef="Prepare"/>
    <bpmn:sequenceFlow id="b2" sourceRef="Prepare" targetRef="Order"/>
    <bpmn:sequenceFlow id="b3" sourceRef="Order" targetRef="Book"/>
    <bpmn:sequenceFlow id="b4" sourceRef="Book" targetRef="E1"/>
  </bpmn:process>
  <bpmn:process id="PS" isExecutable="true">
    <bpmn:startEvent id="S2"/><bpmn:userTask id="Confirm"/><bpmn:endEvent id="E2"/>
    <bpmn:sequenceFlow id="s1" sourceRef="S2" targetRef="Confirm"/>
    <bpmn:sequenceFlow id="s2" sourceRef="Confirm" targetRef="E2"/>
  </bpmn:process>
</bpmn:definitions>"#;
    let bindings = json!({
        "name": "order",
        "participants": {"Buyer": "org:Acme", "Seller": "org:Acme"},
        "services": {"Book": {"call": "notary.record", "args": {"document_hash": "'00'", "metadata": "'invoice'"}}}
    });
    let m = ingot_bpmn::compile_xml(xml, &bindings).unwrap_or_else(|e| panic!("{e}"));
    let mut i = start(&m, json!({}));
    assert_eq!(active(&m, &i), ids(&["Confirm", "Prepare"]));
    let refused = engine::complete(
        &m,
        &mut i.clone(),
        "Confirm",
        &acme(),
        &json!({}),
        2_000_000,
    )
    .unwrap_err();
    assert!(refused.contains("needs its message (order)"), "{refused}");
    complete(&m, &mut i, "Prepare");
    let out = complete(&m, &mut i, "Order");
    assert!(
        out.calls.is_empty(),
        "Book runs only once the invoice arrived"
    );
    assert_eq!(
        active(&m, &i),
        ids(&["Book", "Confirm"]),
        "Book waits for its message"
    );
    let out = complete(&m, &mut i, "Confirm");
    let actions: Vec<(&str, &str)> = out
        .steps
        .iter()
        .map(|s| (s.element.as_str(), s.action))
        .collect();
    assert_eq!(
        &actions[..2],
        &[("Confirm", "received"), ("Confirm", "completed")]
    );
    assert_eq!(out.calls.len(), 1, "the invoice let Book run");
    assert_eq!(i.state, state::COMPLETED);
}

/// Link events (BPMN 2.0 §10.5.5): a throw link continues at the catch link
/// of the same name in the same scope; a name without its catch is refused.
#[test]
fn a_link_throw_continues_at_its_catch() {
    let link = |name: &str| format!(r#"<bpmn:linkEventDefinition name="{name}"/>"#);
    let mut d = Doc::new();
    d.start("S")
        .task("A")
        .node("intermediateThrowEvent", "GoTo", "", &link("page2"))
        .node("intermediateCatchEvent", "Page2", "", &link("page2"))
        .task("B")
        .end("E");
    d.flow("f1", "S", "A")
        .flow("f2", "A", "GoTo")
        .flow("f3", "Page2", "B")
        .flow("f4", "B", "E");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    complete(&m, &mut i, "A");
    assert_eq!(active(&m, &i), ids(&["B"]));
    complete(&m, &mut i, "B");
    assert_eq!(i.state, state::COMPLETED);

    // The throw names a link no catch has.
    let broken = d.xml().replacen(&link("page2"), &link("elsewhere"), 1);
    let e = ingot_bpmn::compile_xml(&broken, &d.bindings()).unwrap_err();
    assert!(e.to_string().contains("link `elsewhere`"), "{e}");
}

/// A call activity waits for its called process, asks for it with its
/// inputs evaluated, and takes back the outputs by name, type-checked.
#[test]
fn a_call_activity_waits_for_its_called_process() {
    let mut d = Doc::new();
    d.variables = json!({"order_no": "string", "ok": "boolean"});
    d.outputs = json!({"S": ["order_no"]});
    d.start("S")
        .node("callActivity", "Call", r#"calledElement="Inspection""#, "")
        .task("After")
        .end("E");
    d.flow("f1", "S", "Call")
        .flow("f2", "Call", "After")
        .flow("f3", "After", "E");
    let xml = d.xml();
    let mut b = d.bindings();
    let refused = ingot_bpmn::compile_xml(&xml, &b).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("bind this call activity (it calls `Inspection`)"),
        "{refused}"
    );
    b["calls"] = json!({"Call": {"definition": "inspection", "inputs": {"lot": "'L-' + order_no"}, "outputs": {"ok": "passed"}}});
    let m = ingot_bpmn::compile_xml(&xml, &b).unwrap();
    let (mut i, out) = engine::start(
        &m,
        1,
        "t-1".into(),
        &acme(),
        &json!({"order_no": "7"}),
        0,
        1,
    )
    .unwrap();
    assert_eq!(active(&m, &i), ids(&["Call"]));
    assert_eq!(out.children.len(), 1);
    assert_eq!(out.children[0].definition, "inspection");
    assert_eq!(out.children[0].vars, json!({"lot": "L-7"}));
    let call = m.node_index("Call").unwrap();
    let wrong = [("passed".to_string(), ingot_bpmn::expr::Value::Int(1))];
    let e =
        engine::child_completed(&m, &mut i.clone(), call, 0, &wrong, "c".into(), 0).unwrap_err();
    assert!(
        e.contains("`passed` of the called process is integer"),
        "{e}"
    );
    let right = [("passed".to_string(), ingot_bpmn::expr::Value::Bool(true))];
    engine::child_completed(&m, &mut i, call, 0, &right, "c".into(), 0).unwrap();
    assert_eq!(active(&m, &i), ids(&["After"]));
    let again = engine::child_completed(&m, &mut i, call, 0, &right, "c".into(), 0).unwrap_err();
    assert!(again.contains("not waiting"), "{again}");
}

/// A `timeDate` without a zone is due in the process's zone
/// (`bindings.timezone`), and refused without one.
#[test]
fn a_local_time_date_needs_the_process_zone() {
    let mut d = Doc::new();
    d.start("S")
        .node(
            "intermediateCatchEvent",
            "Noon",
            "",
            "<bpmn:timerEventDefinition><bpmn:timeDate>2030-01-01T12:00:00</bpmn:timeDate></bpmn:timerEventDefinition>",
        )
        .end("E");
    d.flow("f1", "S", "Noon").flow("f2", "Noon", "E");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings()).unwrap_err();
    assert!(e.to_string().contains("bindings.timezone"), "{e}");
    let mut b = d.bindings();
    b["timezone"] = json!("+08:00");
    let m = ingot_bpmn::compile_xml(&d.xml(), &b).unwrap();
    let i = start(&m, json!({}));
    assert_eq!(
        i.timers[0].at_ms, 1_893_470_400_000,
        "12:00 at +08:00 is 04:00 UTC"
    );
    b["timezone"] = json!("Asia/Shanghai");
    let e = ingot_bpmn::compile_xml(&d.xml(), &b).unwrap_err();
    assert!(e.to_string().contains("an ISO 8601 offset"), "{e}");
}

/// Message flows with a pool without a process (a party outside the model):
/// a message sent out just leaves; a receiver whose message comes from
/// outside must be bound to the chain event that carries it, and is named
/// so when it is not.
#[test]
fn messages_to_and_from_parties_outside_the_model() {
    let xml = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D">
  <bpmn:collaboration id="C">
    <bpmn:participant id="Plant" processRef="P"/>
    <bpmn:participant id="Customer"/>
    <bpmn:messageFlow id="order" sourceRef="Customer" targetRef="Wait"/>
    <bpmn:messageFlow id="invoice" sourceRef="Bill" targetRef="Customer"/>
  </bpmn:collaboration>
  <bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="S"/>
    <bpmn:intermediateCatchEvent id="Wait"><bpmn:messageEventDefinition/></bpmn:intermediateCatchEvent>
    <bpmn:sendTask id="Bill"/>
    <bpmn:endEvent id="E"/>
    <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="Wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="Wait" targetRef="Bill"/>
    <bpmn:sequenceFlow id="f3" sourceRef="Bill" targetRef="E"/>
  </bpmn:process>
</bpmn:definitions>"#;
    let mut b = json!({"participants": {"Plant": "org:Acme"}, "variables": {"order_no": "string"}, "outputs": {"S": ["order_no"]}});
    let e = ingot_bpmn::compile_xml(xml, &b).unwrap_err();
    assert!(
        e.0.iter()
            .any(|p| p.element == "Wait" && p.message.contains("comes from `Customer`")),
        "{e}"
    );
    b["messages"] = json!({"Wait": {"event": "notary.recorded", "attribute": "metadata", "variable": "order_no"}});
    let m = ingot_bpmn::compile_xml(xml, &b).unwrap_or_else(|e| panic!("{e}"));
    let mut i = start(&m, json!({"order_no": "PO-1"}));
    let wait = m.node_index("Wait").unwrap();
    engine::deliver(&m, &mut i, wait, "order".into(), 0).unwrap();
    assert_eq!(
        i.state,
        state::COMPLETED,
        "the invoice went out; nothing waits for it inside"
    );
}
