//! The token machine's cost per move, one core, no chain: starting an
//! instance and completing one task, for a parallel multi-instance
//! subprocess (its instances parked, see `ingot_bpmn::branch`) against a
//! parallel multi-instance task over the same items, as the number of
//! instances grows. Run: `cargo bench -p ingot-bpmn --bench engine`.

use commonware_codec::Encode;
use ingot_bpmn::{engine, machine::Instance, Actor, Machine};
use serde_json::json;
use std::{
    hint::black_box,
    time::{Duration, Instant},
};

fn per_second(mut f: impl FnMut()) -> f64 {
    f();
    let (start, mut rounds) = (Instant::now(), 0usize);
    while start.elapsed() < Duration::from_secs(1) {
        f();
        rounds += 1;
    }
    rounds as f64 / start.elapsed().as_secs_f64()
}

/// S -> Work over `lots` in parallel -> E, where Work is a subprocess
/// holding one user task (Inspect), or that user task itself.
fn process(subprocess: bool) -> Machine {
    let marker = r#"<bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>lots</bpmn:loopDataInputRef><bpmn:loopDataOutputRef>grades</bpmn:loopDataOutputRef><bpmn:inputDataItem name="lot"/><bpmn:outputDataItem name="grade"/></bpmn:multiInstanceLoopCharacteristics>"#;
    let work = if subprocess {
        format!(
            r#"<bpmn:subProcess id="Work">{marker}<bpmn:startEvent id="IS"/><bpmn:userTask id="Inspect"/><bpmn:endEvent id="IE"/><bpmn:sequenceFlow id="i1" sourceRef="IS" targetRef="Inspect"/><bpmn:sequenceFlow id="i2" sourceRef="Inspect" targetRef="IE"/></bpmn:subProcess>"#
        )
    } else {
        format!(r#"<bpmn:userTask id="Inspect">{marker}</bpmn:userTask>"#)
    };
    let target = if subprocess { "Work" } else { "Inspect" };
    let xml = format!(
        r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D"><bpmn:process id="P"><bpmn:startEvent id="S"/>{work}<bpmn:endEvent id="E"/><bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="{target}"/><bpmn:sequenceFlow id="f2" sourceRef="{target}" targetRef="E"/></bpmn:process></bpmn:definitions>"#
    );
    let bindings = json!({
        "name": "bench", "participants": {"P": "org:Acme"},
        "variables": {"lots": "list", "lot": "string", "grades": "list", "grade": "integer"},
        "outputs": {"S": ["lots"], "Inspect": ["grade"]},
    });
    ingot_bpmn::compile_xml(&xml, &bindings).expect("compiles")
}

fn main() {
    let actor = Actor {
        org: "Acme".into(),
        role: "member".into(),
        member: [1; 32],
    };
    println!("| instances | kind | starts/s | completions/s (the middle instance) | stored instance bytes |");
    println!("|---|---|---|---|---|");
    for n in [1usize, 8, 30] {
        let lots: Vec<String> = (0..n).map(|i| format!("LOT-{i:04}")).collect();
        let vars = json!({ "lots": lots });
        for subprocess in [false, true] {
            let m = process(subprocess);
            let start = || -> Instance {
                engine::start(&m, 1, "bench-1".into(), &actor, &vars, 1_000, 1)
                    .expect("starts")
                    .0
            };
            let starts = per_second(|| {
                black_box(start());
            });
            let started = start();
            let done = json!({"grade": 7, "loopCounter": n / 2});
            let completions = per_second(|| {
                let mut i = started.clone();
                black_box(
                    engine::complete(&m, &mut i, "Inspect", &actor, &done, 2_000)
                        .expect("completes"),
                );
            });
            let kind = if subprocess {
                "parallel subprocess"
            } else {
                "parallel task"
            };
            println!(
                "| {n} | {kind} | {starts:.0} | {completions:.0} | {} |",
                started.encode().len()
            );
        }
    }
}
