#![no_main]
//! BPMN documents and bindings come from clients (deploy) and are compiled by
//! every validator: any input compiles or is refused with problems, never a
//! panic; a compiled machine re-encodes canonically; stored instances decode
//! or fail; a diagram set apart joins back to the file.
use commonware_codec::{Decode, Encode};
use ingot_bpmn::{machine::Instance, Machine};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First line: bindings JSON; the rest: the XML.
    let text = String::from_utf8_lossy(data);
    let (bindings, xml) = text.split_once('\n').unwrap_or(("{}", &text));
    let bindings = serde_json::from_str(bindings).unwrap_or(serde_json::json!({}));
    if let Ok(m) = ingot_bpmn::compile_xml(xml, &bindings) {
        let back = Machine::decode_cfg(m.encode(), &()).expect("machine round trip");
        assert_eq!(back, m);
    }
    // The diagram set apart and put back is the file, and is accepted back;
    // any other attachment is judged without a panic.
    if let Some(s) = ingot_bpmn::diagram::split(xml) {
        assert_eq!(ingot_bpmn::diagram::join(&s.process, s.offset, &s.diagram).as_deref(), Some(xml));
        if s.diagram.len() <= ingot_bpmn::diagram::MAX_DIAGRAM_BYTES {
            ingot_bpmn::diagram::check_joined(&s.process, s.offset, &s.diagram)
                .expect("a split document's own diagram is layout");
        }
    }
    let _ = ingot_bpmn::diagram::check_joined(bindings, data.len() % (bindings.len() + 2), xml);
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
