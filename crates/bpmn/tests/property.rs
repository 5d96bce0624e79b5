//! Property: a random valid (block-structured) process never gets stuck — at
//! every point it has ended, or something can still happen (a task to
//! complete or a timer to fire) — and it always ends after finitely many steps.

mod common;

use common::*;
use ingot_bpmn::{engine, machine::state};
use proptest::prelude::*;
use serde_json::json;

/// A block with one entry and one exit.
#[derive(Clone, Debug)]
enum Block {
    Task,
    Timer,
    Seq(Vec<Block>),
    Parallel(Vec<Block>),
    /// Exclusive choice on the integer `choice`; the last branch is the default.
    Exclusive(Vec<Block>),
    /// Inclusive choice: branch i when flag `f{i%4}`; default branch otherwise.
    Inclusive(Vec<Block>),
    Sub(Box<Block>),
    /// A subprocess running the inner block once per item of the list
    /// `lots` (sequential multi-instance over a collection).
    PerLot(Box<Block>),
    /// A user task done once per item of `lots`, in parallel.
    Quotes,
    /// A subprocess running the inner block once per item of `lots`, all
    /// instances at once (parallel multi-instance), each with its tokens.
    EachLot(Box<Block>),
    /// A subprocess without start and end events (implicit start and end).
    BareSub(Box<Block>),
    /// A task whose outgoing flows carry conditions (branch i when flag
    /// `f{i%4}`, the last branch the task's default flow), joined by an
    /// inclusive gateway.
    CondTask(Vec<Block>),
    /// A task with an interrupting boundary timer; the task's path (the
    /// inner block) and the timer's meet at an exclusive merge.
    Deadline(Box<Block>),
    /// A subprocess running the inner block, then ending with an error
    /// when flag `f0` is set; an error boundary event catches it, and both
    /// paths meet at an exclusive merge.
    Failing(Box<Block>),
    /// A user task done by `choice` people in parallel (multi-instance).
    Reviewers,
    /// A subprocess running the inner block, with a non-interrupting timer
    /// event subprocess inside it (a reminder task).
    Reminded(Box<Block>),
}

fn block() -> impl Strategy<Value = Block> {
    let leaf = prop_oneof![
        4 => Just(Block::Task),
        1 => Just(Block::Timer),
        1 => Just(Block::Reviewers),
        1 => Just(Block::Quotes)
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(Block::Seq),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::Parallel),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::Exclusive),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::Inclusive),
            inner.clone().prop_map(|b| Block::Sub(Box::new(b))),
            inner.clone().prop_map(|b| Block::PerLot(Box::new(b))),
            inner.clone().prop_map(|b| Block::EachLot(Box::new(b))),
            inner.clone().prop_map(|b| Block::BareSub(Box::new(b))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Block::CondTask),
            inner.clone().prop_map(|b| Block::Deadline(Box::new(b))),
            inner.clone().prop_map(|b| Block::Failing(Box::new(b))),
            inner.prop_map(|b| Block::Reminded(Box::new(b))),
        ]
    })
}

struct Gen {
    nodes: Vec<String>,
    flows: Vec<String>,
    next: usize,
}

impl Gen {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}{}", self.next)
    }

    fn flow(&mut self, from: &str, to: &str, cond: Option<String>) -> String {
        let id = self.id("f");
        let c = cond
            .map(|c| {
                format!(
                    "<bpmn:conditionExpression>{}</bpmn:conditionExpression>",
                    c.replace('>', "&gt;")
                )
            })
            .unwrap_or_default();
        self.flows.push(format!(
            r#"<bpmn:sequenceFlow id="{id}" sourceRef="{from}" targetRef="{to}">{c}</bpmn:sequenceFlow>"#
        ));
        id
    }

    fn node(&mut self, tag: &str, prefix: &str, attrs: &str, inner: &str) -> String {
        let id = self.id(prefix);
        self.nodes.push(format!(
            r#"<bpmn:{tag} id="{id}" {attrs}>{inner}</bpmn:{tag}>"#
        ));
        id
    }

    /// Emit a block; returns (entry, exit) node ids.
    fn emit(&mut self, b: &Block) -> (String, String) {
        match b {
            Block::Task => {
                let t = self.node("userTask", "T", "", "");
                (t.clone(), t)
            }
            Block::Timer => {
                let t = self.node(
                    "intermediateCatchEvent",
                    "W",
                    "",
                    "<bpmn:timerEventDefinition><bpmn:timeDuration>PT10M</bpmn:timeDuration></bpmn:timerEventDefinition>",
                );
                (t.clone(), t)
            }
            Block::Seq(items) => {
                let parts: Vec<_> = items.iter().map(|i| self.emit(i)).collect();
                for w in parts.windows(2) {
                    self.flow(&w[0].1, &w[1].0, None);
                }
                (parts[0].0.clone(), parts[parts.len() - 1].1.clone())
            }
            Block::Parallel(items) => self.split("parallelGateway", items, |_, _| None),
            Block::Exclusive(items) => {
                let n = items.len();
                self.split("exclusiveGateway", items, move |i, _| {
                    (i + 1 < n).then(|| format!("choice == {i}"))
                })
            }
            Block::Inclusive(items) => {
                let n = items.len();
                self.split("inclusiveGateway", items, move |i, _| {
                    (i + 1 < n).then(|| format!("f{}", i % 4))
                })
            }
            Block::Sub(inner) | Block::PerLot(inner) | Block::EachLot(inner) => {
                let mut g = Gen {
                    nodes: vec![],
                    flows: vec![],
                    next: self.next,
                };
                let s = g.node("startEvent", "s", "", "");
                let (a, z) = g.emit(inner);
                let e = g.node("endEvent", "e", "", "");
                g.flow(&s, &a, None);
                g.flow(&z, &e, None);
                self.next = g.next;
                let marker = match b {
                    Block::PerLot(_) => {
                        r#"<bpmn:multiInstanceLoopCharacteristics isSequential="true"><bpmn:loopDataInputRef>lots</bpmn:loopDataInputRef><bpmn:inputDataItem name="lot"/></bpmn:multiInstanceLoopCharacteristics>"#
                    }
                    Block::EachLot(_) => {
                        r#"<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>lots</bpmn:loopDataInputRef><bpmn:inputDataItem name="lot"/></bpmn:multiInstanceLoopCharacteristics>"#
                    }
                    _ => "",
                };
                let body = format!("{marker}{}{}", g.nodes.join(""), g.flows.join(""));
                let sub = self.node("subProcess", "Sub", "", &body);
                (sub.clone(), sub)
            }
            Block::Quotes => {
                let t = self.node(
                    "userTask",
                    "Q",
                    "",
                    r#"<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>lots</bpmn:loopDataInputRef><bpmn:inputDataItem name="lot"/></bpmn:multiInstanceLoopCharacteristics>"#,
                );
                (t.clone(), t)
            }
            Block::BareSub(inner) => {
                let mut g = Gen {
                    nodes: vec![],
                    flows: vec![],
                    next: self.next,
                };
                g.emit(inner);
                self.next = g.next;
                let body = format!("{}{}", g.nodes.join(""), g.flows.join(""));
                let sub = self.node("subProcess", "Bare", "", &body);
                (sub.clone(), sub)
            }
            Block::Reviewers => {
                let t = self.node(
                    "userTask",
                    "R",
                    "",
                    "<bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>choice</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics>",
                );
                (t.clone(), t)
            }
            Block::Reminded(inner) => {
                let mut g = Gen {
                    nodes: vec![],
                    flows: vec![],
                    next: self.next,
                };
                let s = g.node("startEvent", "s", "", "");
                let (a, z) = g.emit(inner);
                let e = g.node("endEvent", "e", "", "");
                g.flow(&s, &a, None);
                g.flow(&z, &e, None);
                let mut r = Gen {
                    nodes: vec![],
                    flows: vec![],
                    next: g.next,
                };
                let rs = r.node(
                    "startEvent",
                    "rs",
                    r#"isInterrupting="false""#,
                    "<bpmn:timerEventDefinition><bpmn:timeDuration>PT7M</bpmn:timeDuration></bpmn:timerEventDefinition>",
                );
                let rt = r.node("userTask", "Remind", "", "");
                let re = r.node("endEvent", "re", "", "");
                r.flow(&rs, &rt, None);
                r.flow(&rt, &re, None);
                g.next = r.next;
                let esp_body = format!("{}{}", r.nodes.join(""), r.flows.join(""));
                g.node("subProcess", "Esp", r#"triggeredByEvent="true""#, &esp_body);
                self.next = g.next;
                let body = format!("{}{}", g.nodes.join(""), g.flows.join(""));
                let sub = self.node("subProcess", "Rm", "", &body);
                (sub.clone(), sub)
            }
            Block::Deadline(inner) => {
                let task = self.node("userTask", "D", "", "");
                let timer = self.id("B");
                self.nodes.push(format!(
                    r#"<bpmn:boundaryEvent id="{timer}" attachedToRef="{task}"><bpmn:timerEventDefinition><bpmn:timeDuration>PT5M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>"#
                ));
                let (a, z) = self.emit(inner);
                let merge = self.node("exclusiveGateway", "M", "", "");
                self.flow(&task, &a, None);
                self.flow(&z, &merge, None);
                self.flow(&timer, &merge, None);
                (task, merge)
            }
            Block::Failing(inner) => {
                let mut g = Gen {
                    nodes: vec![],
                    flows: vec![],
                    next: self.next,
                };
                let s = g.node("startEvent", "s", "", "");
                let (a, z) = g.emit(inner);
                let check = g.id("X");
                let fail = g.node(
                    "endEvent",
                    "Err",
                    "",
                    r#"<bpmn:errorEventDefinition errorRef="Failed"/>"#,
                );
                let e = g.node("endEvent", "e", "", "");
                g.flow(&s, &a, None);
                g.flow(&z, &check, None);
                g.flow(&check, &fail, Some("f0".into()));
                let ok = g.flow(&check, &e, None);
                g.nodes.push(format!(
                    r#"<bpmn:exclusiveGateway id="{check}" default="{ok}"></bpmn:exclusiveGateway>"#
                ));
                self.next = g.next;
                let body = format!("{}{}", g.nodes.join(""), g.flows.join(""));
                let sub = self.node("subProcess", "Fs", "", &body);
                let catch = self.id("B");
                self.nodes.push(format!(
                    r#"<bpmn:boundaryEvent id="{catch}" attachedToRef="{sub}"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>"#
                ));
                let merge = self.node("exclusiveGateway", "M", "", "");
                self.flow(&sub, &merge, None);
                self.flow(&catch, &merge, None);
                (sub, merge)
            }
            Block::CondTask(items) => {
                let task = self.id("C");
                let join = self.node("inclusiveGateway", "J", "", "");
                let mut default = String::new();
                for (i, item) in items.iter().enumerate() {
                    let (a, z) = self.emit(item);
                    let last = i + 1 == items.len();
                    let f = self.flow(&task, &a, (!last).then(|| format!("f{}", i % 4)));
                    if last {
                        default = f;
                    }
                    self.flow(&z, &join, None);
                }
                self.nodes.push(format!(
                    r#"<bpmn:userTask id="{task}" default="{default}"></bpmn:userTask>"#
                ));
                (task, join)
            }
        }
    }

    /// A split gateway, the branches, and the matching join. The last branch
    /// of exclusive and inclusive splits is the default flow.
    fn split(
        &mut self,
        tag: &str,
        items: &[Block],
        cond: impl Fn(usize, usize) -> Option<String>,
    ) -> (String, String) {
        let split_id = self.id("G");
        let join = self.node(tag, "J", "", "");
        let mut default = None;
        for (i, item) in items.iter().enumerate() {
            let (a, z) = self.emit(item);
            let c = cond(i, items.len());
            let conditional = c.is_some();
            let f = self.flow(&split_id, &a, c);
            if !conditional && tag != "parallelGateway" {
                default = Some(f);
            }
            self.flow(&z, &join, None);
        }
        let attrs = default
            .map(|d| format!(r#"default="{d}""#))
            .unwrap_or_default();
        self.nodes.push(format!(
            r#"<bpmn:{tag} id="{split_id}" {attrs}></bpmn:{tag}>"#
        ));
        (split_id, join)
    }
}

fn process(b: &Block) -> (String, serde_json::Value) {
    let mut g = Gen {
        nodes: vec![],
        flows: vec![],
        next: 0,
    };
    let s = g.node("startEvent", "S", "", "");
    let (a, z) = g.emit(b);
    let e = g.node("endEvent", "E", "", "");
    g.flow(&s, &a, None);
    g.flow(&z, &e, None);
    let xml = format!(
        r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="P">{}{}</bpmn:process></bpmn:definitions>"#,
        g.nodes.join(""),
        g.flows.join("")
    );
    let bindings = json!({
        "name": "prop",
        "participants": {"P": "org:Acme"},
        "variables": {"choice": "integer", "f0": "boolean", "f1": "boolean", "f2": "boolean", "f3": "boolean", "lots": "list", "lot": "string"},
        "outputs": {s: ["choice", "f0", "f1", "f2", "f3", "lots"]},
    });
    (xml, bindings)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_valid_processes_never_get_stuck(
        b in block(),
        choice in 0i64..4,
        lots in prop::collection::vec("[a-z]{1,3}", 0..3),
        flags in prop::array::uniform4(any::<bool>()),
        picks in prop::collection::vec(any::<prop::sample::Index>(), 400),
    ) {
        let (xml, bindings) = process(&b);
        let m = match ingot_bpmn::compile_xml(&xml, &bindings) {
            Ok(m) => m,
            // Large random trees may exceed the element limits; that is a
            // refusal, not a stuck process.
            Err(e) if e.to_string().contains("limit exceeded") => return Ok(()),
            // Parallel multi-instance inside a parallel multi-instance
            // subprocess is refused precisely (see `branch`).
            Err(e) if e.to_string().contains("inside the parallel multi-instance subprocess") => return Ok(()),
            Err(e) => panic!("generated model refused: {e}\n{xml}"),
        };
        let vars = json!({"choice": choice, "f0": flags[0], "f1": flags[1], "f2": flags[2], "f3": flags[3], "lots": lots});
        let (mut inst, _) = engine::start(&m, 1, "prop-1".into(), &acme(), &vars, 0, 1).unwrap();
        let mut now = 0u64;
        for pick in picks {
            if inst.state != state::RUNNING {
                break;
            }
            let person = |id: &String| m.node_index(id).is_some_and(|n| m.waits_for_person(n));
            // A task of a parallel subprocess's instance is named by its
            // loopCounter; without one, the first instance waiting there.
            let mut tasks: Vec<(String, serde_json::Value)> = engine::waiting(&m, &inst)
                .into_iter()
                .filter(person)
                .map(|id| (id, json!({})))
                .collect();
            for b in engine::subprocess_instances(&m, &inst) {
                tasks.extend(b.waiting.into_iter().filter(person).map(|id| (id, json!({"loopCounter": b.counter}))));
            }
            let timers = engine::timers(&inst);
            prop_assert!(
                !tasks.is_empty() || !timers.is_empty(),
                "stuck: running with nothing to do; active {:?}, marks {:?}\n{xml}",
                inst.active, inst.marks
            );
            let choice = pick.index(tasks.len() + timers.len());
            if choice < tasks.len() {
                let (task, vars) = &tasks[choice];
                engine::complete(&m, &mut inst, task, &acme(), vars, now)
                    .unwrap_or_else(|e| panic!("completing {task} with {vars}: {e}\n{xml}"));
            } else {
                let due = &timers[choice - tasks.len()];
                now = now.max(due.at_ms);
                engine::fire_timer(&m, &mut inst, due.node as usize, now).unwrap();
            }
        }
        prop_assert_eq!(inst.state, state::COMPLETED, "did not end within the steps\n{}", xml);
        prop_assert!(inst.marks.is_empty() && inst.active.is_empty() && inst.timers.is_empty() && inst.parked.is_empty());
    }
}
