#![no_main]
//! BPMN documents and bindings come from clients (deploy) and are compiled by
//! every validator: any input compiles or is refused with problems, never a
//! panic; a compiled machine re-encodes canonically and runs a few moves
//! without a panic; stored instances decode or fail; a diagram set apart
//! joins back to the file.
use commonware_codec::{Decode, Encode};
use ingot_bpmn::{machine::Instance, Machine};
use libfuzzer_sys::fuzz_target;

/// Run a compiled process a few moves — complete a task, fire a timer,
/// deliver a message, return from a call — refusals allowed, panics not;
/// every stored instance re-encodes canonically.
fn drive(m: &Machine) {
    use ingot_bpmn::{engine, machine::kind, Actor};
    let actor = Actor {
        org: "A".into(),
        role: "member".into(),
        member: [1; 32],
    };
    let Ok((mut inst, _)) = engine::start(m, 1, "f-1".into(), &actor, &serde_json::json!({}), 0, 1)
    else {
        return;
    };
    for step in 0..16u64 {
        let now = step * 3_600_000;
        // Parked instances of parallel multi-instance subprocesses included.
        let active = engine::active_nodes(&inst);
        let person = active
            .iter()
            .map(|&a| a as usize)
            .find(|&a| m.waits_for_person(a));
        let call = active
            .iter()
            .map(|&a| a as usize)
            .find(|&a| m.nodes[a].kind == kind::CALL);
        let armed = engine::armed(m, &inst);
        let mut next = inst.clone();
        let moved = if let Some(t) = person {
            let id = m.nodes[t].id.clone();
            engine::complete(m, &mut next, &id, &actor, &serde_json::json!({}), now).is_ok()
        } else if let Some(due) = engine::timers(&next).first().cloned() {
            engine::fire_timer(m, &mut next, due.node as usize, due.at_ms).is_ok()
        } else if let Some(&node) = armed.first() {
            engine::deliver(m, &mut next, node, String::new(), now).is_ok()
        } else if let Some(c) = call {
            let counter = engine::live_instances(m, &next, c).first().copied().unwrap_or(0);
            engine::child_completed(m, &mut next, c, counter, &[], String::new(), now).is_ok()
        } else {
            false
        };
        if !moved {
            return;
        }
        let again = Instance::decode_cfg(next.encode(), &()).expect("instance round trip");
        assert_eq!(again, next);
        inst = next;
    }
}

fuzz_target!(|data: &[u8]| {
    // First line: bindings JSON; the rest: the XML.
    let text = String::from_utf8_lossy(data);
    let (bindings_text, xml) = text.split_once('\n').unwrap_or(("{}", &text));
    let bindings = serde_json::from_str(bindings_text).unwrap_or(serde_json::json!({}));
    if let Ok(m) = ingot_bpmn::compile_xml(xml, &bindings) {
        let back = Machine::decode_cfg(m.encode(), &()).expect("machine round trip");
        assert_eq!(back, m);
        drive(&m);
    }
    // The diagram set apart and put back is the file, and is accepted back;
    // any other attachment is judged without a panic.
    if let Some(s) = ingot_bpmn::diagram::split(xml) {
        assert_eq!(
            ingot_bpmn::diagram::join(&s.process, s.offset, &s.diagram).as_deref(),
            Some(xml)
        );
        if s.diagram.len() <= ingot_bpmn::diagram::MAX_DIAGRAM_BYTES {
            ingot_bpmn::diagram::check_joined(&s.process, s.offset, &s.diagram)
                .expect("a split document's own diagram is layout");
        }
    }
    let _ = ingot_bpmn::diagram::check_joined(
        bindings_text,
        data.len() % (bindings_text.len() + 2),
        xml,
    );
    let raw = bytes::Bytes::copy_from_slice(data);
    if let Ok(i) = Instance::decode_cfg(raw.clone(), &()) {
        assert_eq!(i.encode().as_ref(), data);
    }
    if let Ok(m) = Machine::decode_cfg(raw, &()) {
        assert_eq!(m.encode().as_ref(), data);
    }
    for e in text.lines().take(4) {
        if let Ok(expr) = ingot_bpmn::expr::parse(e) {
            let _ = expr.check(&|_| Some(ingot_bpmn::expr::Type::Int));
            let _ = expr.eval(&|_| Some(ingot_bpmn::expr::Value::Int(3)));
        }
    }
});
