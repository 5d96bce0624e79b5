//! Boundary events (BPMN 2.0 §10.5.4, §13.5.x): timer, message, error,
//! escalation and signal, interrupting and not, on tasks and subprocesses;
//! error and escalation propagation through nested scopes; signals within
//! the instance.

mod common;

use common::*;
use ingot_bpmn::{engine, machine::state, Machine};
use serde_json::json;

fn timer_def(duration: &str) -> String {
    format!("<bpmn:timerEventDefinition><bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>")
}

fn boundary(d: &mut Doc, id: &str, on: &str, interrupting: bool, definition: &str) {
    let attrs = format!(r#"attachedToRef="{on}" cancelActivity="{interrupting}""#);
    d.node("boundaryEvent", id, &attrs, definition);
}

fn fire(m: &Machine, i: &mut ingot_bpmn::Instance, id: &str) {
    let node = m.node_index(id).unwrap();
    let due = i
        .timers
        .iter()
        .find(|d| d.node as usize == node)
        .unwrap_or_else(|| panic!("no timer armed at {id}: {:?}", i.timers))
        .at_ms;
    engine::fire_timer(m, i, node, due).unwrap();
}

fn armed_timers(m: &Machine, i: &ingot_bpmn::Instance) -> Vec<String> {
    let mut out: Vec<String> = i
        .timers
        .iter()
        .map(|d| m.nodes[d.node as usize].id.clone())
        .collect();
    out.sort();
    out
}

/// Approve within a deadline: an interrupting timer cancels the task.
fn deadline(interrupting: bool) -> Machine {
    let mut d = Doc::new();
    d.start("S")
        .task("Approve")
        .task("Escalate")
        .end("Done")
        .end("Late");
    boundary(
        &mut d,
        "Deadline",
        "Approve",
        interrupting,
        &timer_def("PT48H"),
    );
    d.flow("f1", "S", "Approve")
        .flow("f2", "Approve", "Done")
        .flow("f3", "Deadline", "Escalate")
        .flow("f4", "Escalate", "Late");
    d.compile()
}

#[test]
fn an_interrupting_timer_cancels_its_task() {
    let m = deadline(true);
    let mut i = start(&m, json!({}));
    assert_eq!(armed_timers(&m, &i), ids(&["Deadline"]));
    fire(&m, &mut i, "Deadline");
    assert_eq!(active(&m, &i), ids(&["Escalate"]), "the task was cancelled");
    let refused =
        engine::complete(&m, &mut i.clone(), "Approve", &acme(), &json!({}), 0).unwrap_err();
    assert!(refused.contains("not active"), "{refused}");
    complete(&m, &mut i, "Escalate");
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn completing_the_task_first_disarms_its_timer() {
    let m = deadline(true);
    let mut i = start(&m, json!({}));
    complete(&m, &mut i, "Approve");
    assert!(i.timers.is_empty(), "{:?}", i.timers);
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn a_non_interrupting_timer_leaves_its_task_waiting() {
    let m = deadline(false);
    let mut i = start(&m, json!({}));
    fire(&m, &mut i, "Deadline");
    assert_eq!(active(&m, &i), ids(&["Approve", "Escalate"]));
    assert!(i.timers.is_empty(), "a duration timer fires once");
    complete(&m, &mut i, "Escalate");
    assert_eq!(i.state, state::RUNNING, "Approve still waits");
    complete(&m, &mut i, "Approve");
    assert_eq!(i.state, state::COMPLETED);
}

fn cycle_def(cycle: &str) -> String {
    format!("<bpmn:timerEventDefinition><bpmn:timeCycle>{cycle}</bpmn:timeCycle></bpmn:timerEventDefinition>")
}

/// A reminder every day, three times at most, while Approve waits.
fn reminders(interrupting: bool, cycle: &str) -> Machine {
    let mut d = Doc::new();
    d.start("S")
        .task("Approve")
        .task("Remind")
        .end("Done")
        .end("Reminded");
    boundary(&mut d, "Daily", "Approve", interrupting, &cycle_def(cycle));
    d.flow("f1", "S", "Approve")
        .flow("f2", "Approve", "Done")
        .flow("f3", "Daily", "Remind")
        .flow("f4", "Remind", "Reminded");
    d.compile()
}

#[test]
fn a_repeating_boundary_timer_fires_its_count_a_period_apart() {
    let m = reminders(false, "R3/P1D");
    let mut i = start(&m, json!({}));
    let day = 86_400_000;
    let first = i.timers[0].at_ms;
    assert_eq!(first, 1_000_000 + day, "one period after the task began");
    for n in 1..=3u64 {
        assert_eq!(armed_timers(&m, &i), ids(&["Daily"]), "before reminder {n}");
        assert_eq!(
            i.timers[0].at_ms,
            first + (n - 1) * day,
            "on schedule, however late fired"
        );
        let node = m.node_index("Daily").unwrap();
        // Fired late (a slow block): the next one keeps the schedule.
        let late = i.timers[0].at_ms + 5_000;
        engine::fire_timer(&m, &mut i, node, late).unwrap();
    }
    assert!(i.timers.is_empty(), "three times, then no more");
    let waiting = engine::waiting(&m, &i);
    assert_eq!(waiting, ids(&["Approve", "Remind"]));
    // Completing the task disarms a cycle with times left.
    let m = reminders(false, "R3/P1D");
    let mut i = start(&m, json!({}));
    fire(&m, &mut i, "Daily");
    assert_eq!(i.timers[0].left, 1);
    complete(&m, &mut i, "Approve");
    assert!(i.timers.is_empty());
    // An interrupting cycle fires once: its task is gone.
    let m = reminders(true, "R3/P1D");
    let mut i = start(&m, json!({}));
    fire(&m, &mut i, "Daily");
    assert_eq!(active(&m, &i), ids(&["Remind"]));
    assert!(i.timers.is_empty());
}

#[test]
fn a_repeating_event_subprocess_timer_starts_it_each_time_while_its_scope_runs() {
    let m = with_event_subprocess(&cycle_def("R2/PT1H"), false, true);
    let mut i = start(&m, json!({"order": "O-1"}));
    fire(&m, &mut i, "EspStart");
    fire(&m, &mut i, "EspStart");
    assert!(i.timers.is_empty(), "twice, then no more");
    let handles = i
        .active
        .iter()
        .filter(|&&a| m.nodes[a as usize].id == "Handle")
        .count();
    assert_eq!(handles, 2, "two reminders running beside the work");
    // The scope ending early takes a cycle with times left with it.
    let m = with_event_subprocess(&cycle_def("R5/PT1H"), false, true);
    let mut i = start(&m, json!({"order": "O-1"}));
    fire(&m, &mut i, "EspStart");
    assert_eq!(i.timers[0].left, 3);
    complete_with(&m, &mut i, "Work", json!({"broken": false}));
    complete(&m, &mut i, "Handle");
    assert_eq!(active(&m, &i), ids(&["After"]));
    assert!(i.timers.is_empty(), "{:?}", i.timers);
}

#[test]
fn repeating_timers_the_chain_cannot_run_are_refused_precisely() {
    let refused = |cycle: &str, at_start: bool| {
        let mut d = Doc::new();
        if at_start {
            d.node("startEvent", "S", "", &cycle_def(cycle))
                .task("T")
                .end("E");
        } else {
            d.start("S")
                .task("T")
                .node("intermediateCatchEvent", "W", "", &cycle_def(cycle))
                .end("E");
        }
        d.flow("f1", "S", "T");
        if at_start {
            d.flow("f2", "T", "E");
        } else {
            d.flow("f2", "T", "W").flow("f3", "W", "E");
        }
        ingot_bpmn::compile_xml(&d.xml(), &d.bindings())
            .err()
            .map(|e| e.to_string())
    };
    let e = refused("0/5 0/1 * 1/1 * ?", false).unwrap();
    assert!(
        e.contains("unsupported element") && e.contains("cron expressions are not supported"),
        "{e}"
    );
    let e = refused("R/PT1H", false).unwrap();
    assert!(
        e.contains("invalid model") && e.contains("unbounded one is refused"),
        "{e}"
    );
    let e = refused("R3/PT1H", true).unwrap();
    assert!(e.contains("starting instances on a schedule"), "{e}");
    // On a catch event only its first time matters: accepted.
    assert_eq!(refused("R3/PT1H", false), None);
}

/// A subprocess with two branches, a timer inside, and events on its
/// boundary: a message (interrupting) and an error from inside.
fn inspection() -> Machine {
    let mut d = Doc::new();
    d.messages = json!({"Recall": {"event": "notary.recorded", "attribute": "metadata", "variable": "order"}});
    d.variables = json!({"order": "string", "ok": "boolean"});
    d.outputs = json!({"S": ["order"], "Check": ["ok"]});
    let inner = format!(
        r#"<bpmn:startEvent id="IS"/><bpmn:parallelGateway id="Fork"/>
        <bpmn:userTask id="Check"/><bpmn:exclusiveGateway id="Pass" default="i5"/>
        <bpmn:endEvent id="Fail"><bpmn:errorEventDefinition errorRef="Defect"/></bpmn:endEvent>
        <bpmn:intermediateCatchEvent id="Wait">{}</bpmn:intermediateCatchEvent>
        <bpmn:userTask id="Measure"/><bpmn:endEvent id="IE"/>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Fork"/>
        <bpmn:sequenceFlow id="i2" sourceRef="Fork" targetRef="Check"/>
        <bpmn:sequenceFlow id="i3" sourceRef="Check" targetRef="Pass"/>
        <bpmn:sequenceFlow id="i4" sourceRef="Pass" targetRef="Fail"><bpmn:conditionExpression>!ok</bpmn:conditionExpression></bpmn:sequenceFlow>
        <bpmn:sequenceFlow id="i5" sourceRef="Pass" targetRef="IE"/>
        <bpmn:sequenceFlow id="i6" sourceRef="Fork" targetRef="Wait"/>
        <bpmn:sequenceFlow id="i7" sourceRef="Wait" targetRef="Measure"/>
        <bpmn:sequenceFlow id="i8" sourceRef="Measure" targetRef="IE"/>"#,
        timer_def("PT1H")
    );
    d.start("S")
        .node("subProcess", "Inspect", "", &inner)
        .task("Ship")
        .task("Rework")
        .task("Stop")
        .end("E");
    boundary(
        &mut d,
        "Recall",
        "Inspect",
        true,
        "<bpmn:messageEventDefinition/>",
    );
    boundary(
        &mut d,
        "Defective",
        "Inspect",
        true,
        r#"<bpmn:errorEventDefinition errorRef="Defect"/>"#,
    );
    d.flow("f1", "S", "Inspect")
        .flow("f2", "Inspect", "Ship")
        .flow("f3", "Ship", "E")
        .flow("f4", "Defective", "Rework")
        .flow("f5", "Rework", "E")
        .flow("f6", "Recall", "Stop")
        .flow("f7", "Stop", "E");
    d.compile()
}

#[test]
fn an_error_end_event_interrupts_its_subprocess_through_the_boundary() {
    let m = inspection();
    let mut i = start(&m, json!({"order": "PO-1"}));
    assert_eq!(active(&m, &i), ids(&["Check", "Wait"]));
    let out = complete_with(&m, &mut i, "Check", json!({"ok": false}));
    let actions: Vec<(&str, &str)> = out
        .steps
        .iter()
        .map(|s| (s.element.as_str(), s.action))
        .collect();
    assert!(actions.contains(&("Inspect", "interrupted")), "{actions:?}");
    assert!(actions.contains(&("Defective", "caught")), "{actions:?}");
    assert_eq!(
        active(&m, &i),
        ids(&["Rework"]),
        "the other branch and its timer are gone"
    );
    assert!(i.timers.is_empty(), "{:?}", i.timers);
    complete(&m, &mut i, "Rework");
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn a_subprocess_that_ends_normally_disarms_its_boundary() {
    let m = inspection();
    let mut i = start(&m, json!({"order": "PO-1"}));
    complete_with(&m, &mut i, "Check", json!({"ok": true}));
    fire(&m, &mut i, "Wait");
    assert!(engine::armed(&m, &i).contains(&m.node_index("Recall").unwrap()));
    complete(&m, &mut i, "Measure");
    assert_eq!(active(&m, &i), ids(&["Ship"]));
    assert!(
        !engine::armed(&m, &i).contains(&m.node_index("Recall").unwrap()),
        "the recall no longer waits"
    );
}

#[test]
fn a_message_on_the_boundary_interrupts_the_running_subprocess() {
    let m = inspection();
    let mut i = start(&m, json!({"order": "PO-1"}));
    let recall = m.node_index("Recall").unwrap();
    assert!(
        engine::armed(&m, &i).contains(&recall),
        "armed while the subprocess runs"
    );
    engine::deliver(&m, &mut i, recall, "recalled".into(), 5_000_000).unwrap();
    assert_eq!(active(&m, &i), ids(&["Stop"]));
    assert!(
        i.timers.is_empty(),
        "the inner timer was disarmed: {:?}",
        i.timers
    );
    complete(&m, &mut i, "Stop");
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn errors_propagate_to_the_nearest_catching_scope_and_must_be_caught() {
    // Outer subprocess catches `Defect`; the inner one catches only `Other`.
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:endEvent id="Throw"><bpmn:errorEventDefinition errorRef="Defect"/></bpmn:endEvent>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Throw"/>"#;
    let outer = format!(
        r#"<bpmn:startEvent id="OS"/><bpmn:subProcess id="Inner">{inner}</bpmn:subProcess><bpmn:userTask id="After"/><bpmn:endEvent id="OE"/>
        <bpmn:boundaryEvent id="InnerCatch" attachedToRef="Inner"><bpmn:errorEventDefinition errorRef="Other"/></bpmn:boundaryEvent><bpmn:endEvent id="OE2"/>
        <bpmn:sequenceFlow id="o1" sourceRef="OS" targetRef="Inner"/><bpmn:sequenceFlow id="o2" sourceRef="Inner" targetRef="After"/>
        <bpmn:sequenceFlow id="o3" sourceRef="After" targetRef="OE"/><bpmn:sequenceFlow id="o4" sourceRef="InnerCatch" targetRef="OE2"/>"#
    );
    let mut d = Doc::new();
    d.start("S")
        .node("subProcess", "Outer", "", &outer)
        .task("Handle")
        .end("E");
    boundary(
        &mut d,
        "OuterCatch",
        "Outer",
        true,
        r#"<bpmn:errorEventDefinition errorRef="Defect"/>"#,
    );
    d.flow("f1", "S", "Outer")
        .flow("f2", "Outer", "E")
        .flow("f3", "OuterCatch", "Handle")
        .flow("f4", "Handle", "E");
    let m = d.compile();
    let i = start(&m, json!({}));
    assert_eq!(
        active(&m, &i),
        ids(&["Handle"]),
        "caught by the outer scope, both subprocesses gone"
    );

    // Without a catcher for `Defect`, validation refuses the error end event.
    let mut d = Doc::new();
    d.start("S")
        .node("subProcess", "Outer", "", &outer)
        .end("E");
    d.flow("f1", "S", "Outer").flow("f2", "Outer", "E");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings()).unwrap_err();
    assert!(
        e.0.iter()
            .any(|p| p.element == "Throw" && p.message.contains("catches error `Defect`")),
        "{e}"
    );
}

#[test]
fn escalations_do_not_interrupt_unless_asked_and_may_go_uncaught() {
    let inner = r#"<bpmn:startEvent id="IS"/><bpmn:intermediateThrowEvent id="Raise"><bpmn:escalationEventDefinition escalationRef="Late"/></bpmn:intermediateThrowEvent>
        <bpmn:userTask id="Finish"/><bpmn:endEvent id="IE"/>
        <bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Raise"/><bpmn:sequenceFlow id="i2" sourceRef="Raise" targetRef="Finish"/>
        <bpmn:sequenceFlow id="i3" sourceRef="Finish" targetRef="IE"/>"#;
    let build = |interrupting: Option<bool>| {
        let mut d = Doc::new();
        d.start("S").node("subProcess", "Work", "", inner).end("E");
        d.flow("f1", "S", "Work").flow("f2", "Work", "E");
        if let Some(interrupting) = interrupting {
            d.task("Inform").end("E2");
            boundary(
                &mut d,
                "Escalated",
                "Work",
                interrupting,
                r#"<bpmn:escalationEventDefinition escalationRef="Late"/>"#,
            );
            d.flow("f3", "Escalated", "Inform")
                .flow("f4", "Inform", "E2");
        }
        d.compile()
    };
    let m = build(Some(false));
    let i = start(&m, json!({}));
    assert_eq!(active(&m, &i), ids(&["Finish", "Inform"]), "both go on");
    let m = build(Some(true));
    let i = start(&m, json!({}));
    assert_eq!(
        active(&m, &i),
        ids(&["Inform"]),
        "the escalation interrupted the work"
    );
    let m = build(None);
    let i = start(&m, json!({}));
    assert_eq!(active(&m, &i), ids(&["Finish"]), "uncaught: no effect");
}

#[test]
fn a_signal_reaches_every_catcher_in_the_instance() {
    let mut d = Doc::new();
    d.start("S")
        .gateway("parallel", "Fork", None)
        .task("Produce")
        .node(
            "intermediateThrowEvent",
            "Stop",
            "",
            r#"<bpmn:signalEventDefinition signalRef="Halt"/>"#,
        )
        .node(
            "intermediateCatchEvent",
            "Halted",
            "",
            r#"<bpmn:signalEventDefinition signalRef="Halt"/>"#,
        )
        .task("Pack")
        .task("Clean")
        .task("Audit")
        .end("E1")
        .end("E2")
        .end("E3")
        .end("E4");
    boundary(
        &mut d,
        "Aborted",
        "Pack",
        true,
        r#"<bpmn:signalEventDefinition signalRef="Halt"/>"#,
    );
    d.flow("f1", "S", "Fork")
        .flow("f2", "Fork", "Produce")
        .flow("f3", "Produce", "Stop")
        .flow("f4", "Stop", "E1")
        .flow("f5", "Fork", "Halted")
        .flow("f6", "Halted", "Clean")
        .flow("f7", "Clean", "E2")
        .flow("f8", "Fork", "Pack")
        .flow("f9", "Pack", "E3")
        .flow("f10", "Aborted", "Audit")
        .flow("f11", "Audit", "E4");
    let m = d.compile();
    let mut i = start(&m, json!({}));
    assert_eq!(active(&m, &i), ids(&["Halted", "Pack", "Produce"]));
    complete(&m, &mut i, "Produce");
    assert_eq!(
        active(&m, &i),
        ids(&["Audit", "Clean"]),
        "the catch event and the boundary both fired"
    );
    complete(&m, &mut i, "Clean");
    complete(&m, &mut i, "Audit");
    assert_eq!(i.state, state::COMPLETED);
}

#[test]
fn misplaced_boundary_events_are_refused_precisely() {
    let mut d = Doc::new();
    d.start("S").task("A").end("E").end("E2");
    boundary(&mut d, "OnGateway", "S", true, &timer_def("PT1H"));
    boundary(
        &mut d,
        "SoftError",
        "A",
        false,
        r#"<bpmn:errorEventDefinition/>"#,
    );
    d.flow("f1", "S", "A")
        .flow("f2", "A", "E")
        .flow("f3", "OnGateway", "E2")
        .flow("f4", "SoftError", "E2");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings()).unwrap_err();
    assert!(
        e.0.iter()
            .any(|p| p.element == "OnGateway" && p.message.contains("not a task or subprocess")),
        "{e}"
    );
    assert!(
        e.0.iter()
            .any(|p| p.element == "SoftError" && p.message.contains("always interrupts")),
        "{e}"
    );
}

/// Conditional events fire when their condition over process variables
/// holds: a catch event waits until then (or passes at once), an
/// interrupting boundary event cancels its activity.
#[test]
fn conditional_events_fire_when_their_condition_holds() {
    let cond = |c: &str| {
        format!(
            "<bpmn:conditionalEventDefinition><bpmn:condition>{}</bpmn:condition></bpmn:conditionalEventDefinition>",
            c.replace('>', "&gt;")
        )
    };
    let mut d = Doc::new();
    d.variables = json!({"temperature": "integer"});
    d.outputs = json!({"S": ["temperature"], "Measure": ["temperature"]});
    d.start("S")
        .gateway("parallel", "Fork", None)
        .task("Measure")
        .node(
            "intermediateCatchEvent",
            "Hot",
            "",
            &cond("temperature > 80"),
        )
        .task("Cool")
        .task("Run")
        .task("Stopped")
        .end("E1")
        .end("E2")
        .end("E3")
        .end("E4");
    boundary(&mut d, "Overheat", "Run", true, &cond("temperature > 100"));
    d.flow("f1", "S", "Fork")
        .flow("f2", "Fork", "Measure")
        .flow("f3", "Measure", "E1")
        .flow("f4", "Fork", "Hot")
        .flow("f5", "Hot", "Cool")
        .flow("f6", "Cool", "E2")
        .flow("f7", "Fork", "Run")
        .flow("f8", "Run", "E3")
        .flow("f9", "Overheat", "Stopped")
        .flow("f10", "Stopped", "E4");
    let m = d.compile();
    let mut i = start(&m, json!({"temperature": 20}));
    assert_eq!(active(&m, &i), ids(&["Hot", "Measure", "Run"]));
    complete_with(&m, &mut i, "Measure", json!({"temperature": 120}));
    assert_eq!(
        active(&m, &i),
        ids(&["Cool", "Stopped"]),
        "both conditions hold now"
    );
    // Already true when reached: the catch event passes at once.
    let i = start(&m, json!({"temperature": 90}));
    assert_eq!(active(&m, &i), ids(&["Cool", "Measure", "Run"]));
    // Conditions are type-checked like any other.
    let mut bad = Doc::new();
    bad.start("S")
        .node("intermediateCatchEvent", "C", "", &cond("temperature + 1"))
        .end("E");
    bad.variables = json!({"temperature": "integer"});
    bad.flow("f1", "S", "C").flow("f2", "C", "E");
    let e = ingot_bpmn::compile_xml(&bad.xml(), &bad.bindings()).unwrap_err();
    assert!(e.to_string().contains("not boolean"), "{e}");
}

/// An event subprocess in the process: `def` is its start event's
/// definition, `interrupting` its isInterrupting.
fn with_event_subprocess(def: &str, interrupting: bool, inner_scope: bool) -> Machine {
    let esp = format!(
        r#"<bpmn:subProcess id="OnEvent" triggeredByEvent="true">
          <bpmn:startEvent id="EspStart" isInterrupting="{interrupting}">{def}</bpmn:startEvent>
          <bpmn:userTask id="Handle"/><bpmn:endEvent id="EspEnd"/>
          <bpmn:sequenceFlow id="e1" sourceRef="EspStart" targetRef="Handle"/>
          <bpmn:sequenceFlow id="e2" sourceRef="Handle" targetRef="EspEnd"/>
        </bpmn:subProcess>"#
    );
    // The work fails with an error only where an error event subprocess
    // catches it (an uncaught error is refused); else it escalates.
    let fail = if def.contains("error") {
        r#"<bpmn:errorEventDefinition errorRef="Broken"/>"#
    } else {
        r#"<bpmn:escalationEventDefinition escalationRef="Broken"/>"#
    };
    let work = r#"<bpmn:startEvent id="WS"/><bpmn:userTask id="Work"/>
        <bpmn:endEvent id="Fail">FAIL</bpmn:endEvent>
        <bpmn:exclusiveGateway id="G" default="w3"/><bpmn:endEvent id="WE"/>
        <bpmn:sequenceFlow id="w1" sourceRef="WS" targetRef="Work"/>
        <bpmn:sequenceFlow id="w2" sourceRef="Work" targetRef="G"/>
        <bpmn:sequenceFlow id="w3" sourceRef="G" targetRef="WE"/>
        <bpmn:sequenceFlow id="w4" sourceRef="G" targetRef="Fail"><bpmn:conditionExpression>broken</bpmn:conditionExpression></bpmn:sequenceFlow>"#
        .replace("FAIL", fail);
    let mut d = Doc::new();
    d.variables = json!({"broken": "boolean", "order": "string"});
    d.outputs = json!({"S": ["order"], "Work": ["broken"]});
    d.messages = json!({"EspStart": {"event": "notary.recorded", "attribute": "metadata", "variable": "order"}});
    if !def.contains("message") {
        d.messages = json!({});
    }
    let body = if inner_scope {
        format!("{work}{esp}")
    } else {
        work.to_string()
    };
    d.start("S")
        .node("subProcess", "Job", "", &body)
        .task("After")
        .end("E");
    if !inner_scope {
        d.node(
            "subProcess",
            "OnEvent",
            r#"triggeredByEvent="true""#,
            &esp[esp.find('>').unwrap() + 1..esp.rfind("</bpmn:subProcess>").unwrap()],
        );
    }
    d.flow("f1", "S", "Job")
        .flow("f2", "Job", "After")
        .flow("f3", "After", "E");
    d.compile()
}

#[test]
fn an_interrupting_event_subprocess_replaces_its_scope() {
    let m = with_event_subprocess(&timer_def("PT1H"), true, true);
    let mut i = start(&m, json!({"order": "O-1"}));
    assert_eq!(active(&m, &i), ids(&["Work"]));
    assert_eq!(
        armed_timers(&m, &i),
        ids(&["EspStart"]),
        "armed while Job runs"
    );
    fire(&m, &mut i, "EspStart");
    assert_eq!(active(&m, &i), ids(&["Handle"]), "Work was cancelled");
    complete(&m, &mut i, "Handle");
    assert_eq!(
        active(&m, &i),
        ids(&["After"]),
        "the scope completed with its event subprocess"
    );
}

#[test]
fn a_non_interrupting_event_subprocess_runs_beside_its_scope() {
    let m = with_event_subprocess("<bpmn:messageEventDefinition/>", false, true);
    let mut i = start(&m, json!({"order": "O-1"}));
    let esp_start = m.node_index("EspStart").unwrap();
    assert!(engine::armed(&m, &i).contains(&esp_start));
    engine::deliver(&m, &mut i, esp_start, "m".into(), 0).unwrap();
    assert_eq!(active(&m, &i), ids(&["Handle", "Work"]));
    complete_with(&m, &mut i, "Work", json!({"broken": false}));
    assert_eq!(
        active(&m, &i),
        ids(&["Handle"]),
        "Job waits for its event subprocess"
    );
    complete(&m, &mut i, "Handle");
    assert_eq!(active(&m, &i), ids(&["After"]));
    complete(&m, &mut i, "After");
    assert_eq!(i.state, state::COMPLETED);
    assert!(
        !engine::armed(&m, &i).contains(&esp_start),
        "disarmed with its scope"
    );
}

#[test]
fn an_error_event_subprocess_at_the_process_level_catches_errors_from_below() {
    let m = with_event_subprocess(
        r#"<bpmn:errorEventDefinition errorRef="Broken"/>"#,
        true,
        false,
    );
    let mut i = start(&m, json!({"order": "O-1"}));
    complete_with(&m, &mut i, "Work", json!({"broken": true}));
    assert_eq!(
        active(&m, &i),
        ids(&["Handle"]),
        "the process's other work is cancelled"
    );
    complete(&m, &mut i, "Handle");
    assert_eq!(i.state, state::COMPLETED);
    // Without the error, the event subprocess never runs.
    let mut i = start(&m, json!({"order": "O-1"}));
    complete_with(&m, &mut i, "Work", json!({"broken": false}));
    assert_eq!(active(&m, &i), ids(&["After"]));
}

#[test]
fn event_subprocesses_are_checked() {
    // A none start event does not start an event subprocess.
    let mut d = Doc::new();
    d.start("S").task("A").end("E");
    d.node(
        "subProcess",
        "Esp",
        r#"triggeredByEvent="true""#,
        r#"<bpmn:startEvent id="ES"/><bpmn:endEvent id="EE"/><bpmn:sequenceFlow id="e1" sourceRef="ES" targetRef="EE"/>"#,
    );
    d.flow("f1", "S", "A").flow("f2", "A", "E");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings()).unwrap_err();
    assert!(
        e.0.iter()
            .any(|p| p.element == "Esp" && p.message.contains("not a none start event")),
        "{e}"
    );
    // A signal start inside a plain subprocess is refused (at the top of a
    // process it starts instances: `signals_cross_instances_through_the_chain`).
    let mut d = Doc::new();
    d.start("S")
        .node(
            "subProcess",
            "Sub",
            "",
            r#"<bpmn:startEvent id="IS"><bpmn:signalEventDefinition signalRef="Go"/></bpmn:startEvent><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="IE"/>"#,
        )
        .end("E");
    d.flow("f1", "S", "Sub").flow("f2", "Sub", "E");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings()).unwrap_err();
    assert!(
        e.0.iter()
            .any(|p| p.element == "IS" && p.message.contains("starts only an event subprocess")),
        "{e}"
    );
}

/// Signals thrown elsewhere (BPMN 2.0 §10.5.1): the engine names the
/// signals a move throws and those an instance waits for, delivers one
/// from outside to its catchers, and starts an instance at a top-level
/// signal start event; such a start must name its signal.
#[test]
fn signals_cross_instances_through_the_chain() {
    let sig = r#"<bpmn:signalEventDefinition signalRef="Halt"/>"#;
    let mut d = Doc::new();
    d.node("startEvent", "OnHalt", "", sig)
        .node(
            "intermediateCatchEvent",
            "Resume",
            "",
            r#"<bpmn:signalEventDefinition signalRef="Go"/>"#,
        )
        .node("endEvent", "E", "", sig);
    d.flow("f1", "OnHalt", "Resume").flow("f2", "Resume", "E");
    let m = d.compile();
    assert!(m.starts.is_empty(), "not started by hand");
    assert_eq!(
        engine::signal_starts(&m, "Halt"),
        vec![m.node_index("OnHalt").unwrap()]
    );
    assert!(engine::signal_starts(&m, "Go").is_empty());
    let (mut i, out) =
        engine::start_by_signal(&m, 1, "h-1".into(), &acme(), 0, "signal Halt".into(), 5, 1)
            .unwrap();
    assert!(out.signals.is_empty());
    assert_eq!(engine::awaited_signals(&m, &i), ["Go"]);
    // Another signal reaches nothing; its own name moves it on, and its end
    // throws Halt for the chain to carry.
    let out = engine::signal(&m, &mut i, "Stop", "x".into(), 6).unwrap();
    assert!(out.steps.is_empty());
    let out = engine::signal(&m, &mut i, "Go", "from a-1".into(), 7).unwrap();
    assert_eq!(out.signals, ["Halt"]);
    assert!(out
        .steps
        .iter()
        .any(|s| s.element == "Resume" && s.detail == "from a-1"));
    assert_eq!(i.state, state::COMPLETED);
    assert!(engine::awaited_signals(&m, &i).is_empty());
    // The thrower starts it, so the thrower must be allowed to start it.
    let mut b = d.bindings();
    b["start"] = json!("org:Acme/admin");
    let guarded = ingot_bpmn::compile_xml(&d.xml(), &b).unwrap();
    let e = engine::start_by_signal(&guarded, 1, "g-1".into(), &acme(), 0, "s".into(), 5, 1)
        .unwrap_err();
    assert!(e.contains("is not allowed to start"), "{e}");
    // A start that names no signal cannot be reached by one.
    let mut d = Doc::new();
    d.node("startEvent", "Any", "", "<bpmn:signalEventDefinition/>")
        .end("E");
    d.flow("f1", "Any", "E");
    let e = ingot_bpmn::compile_xml(&d.xml(), &d.bindings())
        .unwrap_err()
        .to_string();
    assert!(e.contains("must name its signal"), "{e}");
}
