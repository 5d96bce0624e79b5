//! Invalid models produce each error kind, naming the element; the example
//! processes validate; condition errors carry their column.

use ingot_bpmn::{compile_xml, ErrorKind};
use serde_json::{json, Value};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/invalid")
}

#[test]
fn every_error_kind_names_its_element() {
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("cases.json")).unwrap()).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for case in cases.as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let xml = std::fs::read_to_string(dir().join(file)).unwrap();
        let result = compile_xml(&xml, &case["bindings"]);
        let Some(kind) = case["error"].as_str() else {
            assert!(result.is_ok(), "{file}: {}", result.unwrap_err());
            continue;
        };
        let problems = result.expect_err(file).0;
        let elements: Vec<&str> = match &case["element"] {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            v => vec![v.as_str().unwrap_or("")],
        };
        let hit = problems
            .iter()
            .find(|p| p.kind.as_str() == kind && elements.contains(&p.element.as_str()));
        assert!(
            hit.is_some(),
            "{file}: expected `{kind}` at {elements:?}, got: {}",
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(" | ")
        );
        kinds.insert(kind.to_string());
    }
    for k in [
        ErrorKind::Unsupported,
        ErrorKind::NoStart,
        ErrorKind::Unreachable,
        ErrorKind::DeadEnd,
        ErrorKind::RouteNowhere,
        ErrorKind::UnboundLane,
        ErrorKind::UnboundService,
        ErrorKind::Condition,
        ErrorKind::Invalid,
        ErrorKind::MalformedXml,
    ] {
        assert!(kinds.contains(k.as_str()), "no case for {}", k.as_str());
    }
}

#[test]
fn route_nowhere_shows_values_that_make_every_condition_false() {
    let xml = std::fs::read_to_string(dir().join("route_nowhere.bpmn")).unwrap();
    let e = compile_xml(&xml, &json!({"lanes": {"Lane_1": "org:AcmeCo"}})).unwrap_err();
    let p =
        e.0.iter()
            .find(|p| p.kind == ErrorKind::RouteNowhere)
            .unwrap();
    assert!(p.message.contains("amount = 100"), "{}", p.message);
}

#[test]
fn condition_errors_carry_the_column() {
    let xml = std::fs::read_to_string(dir().join("condition_syntax.bpmn")).unwrap();
    let e = compile_xml(&xml, &json!({"lanes": {"Lane_1": "org:AcmeCo"}})).unwrap_err();
    let p = e.0.iter().find(|p| p.kind == ErrorKind::Condition).unwrap();
    assert!(p.message.contains("column"), "{}", p.message);
}

#[test]
fn the_example_processes_validate() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/workflows");
    let mut n = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let d = entry.unwrap().path();
        let xml = std::fs::read_to_string(d.join("process.bpmn")).unwrap();
        let b: Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("bindings.json")).unwrap())
                .unwrap();
        let m = compile_xml(&xml, &b).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        assert_eq!(Some(m.name.as_str()), b["name"].as_str());
        n += 1;
    }
    assert_eq!(n, 6);
}

#[test]
fn bad_bindings_are_refused_with_the_element() {
    let xml = std::fs::read_to_string(dir().join("valid_minimal.bpmn")).unwrap();
    for (b, needle) in [
        (json!({"lanes": {"Lane_1": "role:ghost"}}), "role `ghost`"),
        (
            json!({"lanes": {"Lane_1": "org:AcmeCo", "Lane_9": "org:X"}}),
            "Lane_9",
        ),
        (json!({"lanes": {"Lane_1": "boss"}}), "actor `boss`"),
        (
            json!({"lanes": {"Lane_1": "org:AcmeCo"}, "name": "Bad Name"}),
            "definition name",
        ),
    ] {
        let e = compile_xml(&xml, &b).unwrap_err().to_string();
        assert!(e.contains(needle), "{e} lacks {needle}");
    }
}

mod mutations {
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn examples() -> Vec<(String, serde_json::Value)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/workflows");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(root).unwrap() {
            let d = entry.unwrap().path();
            out.push((
                std::fs::read_to_string(d.join("process.bpmn")).unwrap(),
                serde_json::from_str(&std::fs::read_to_string(d.join("bindings.json")).unwrap())
                    .unwrap(),
            ));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        /// Damaged documents (cut, spliced, bytes changed) compile or are
        /// refused with problems; never a panic.
        #[test]
        fn damaged_documents_never_panic(
            which in 0usize..6,
            edits in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), 0u8..3, any::<u8>()), 1..6),
        ) {
            let docs = examples();
            let (xml, bindings) = &docs[which % docs.len()];
            let mut bytes = xml.as_bytes().to_vec();
            for (at, other, op, b) in edits {
                if bytes.is_empty() { break; }
                let i = at.index(bytes.len());
                match op {
                    0 => { bytes.remove(i); }
                    1 => { let j = other.index(bytes.len()); let chunk = bytes[i.min(j)..i.max(j)].to_vec(); bytes.splice(i..i, chunk); }
                    _ => bytes[i] = b,
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let _ = ingot_bpmn::compile_xml(&text, bindings);
        }
    }
}

/// Found by the fuzzer: a flow id of 66 characters but 158 bytes compiled
/// into a machine the chain could not decode again.
#[test]
fn multibyte_ids_beyond_the_limit_are_refused_not_stored() {
    let raw = std::fs::read(dir().join("fuzz_long_flow_id.input")).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (bindings, xml) = text.split_once('\n').unwrap();
    let bindings: Value = serde_json::from_str(bindings).unwrap_or(json!({}));
    let e = compile_xml(xml, &bindings).unwrap_err();
    assert!(
        e.0.iter()
            .any(|p| p.kind == ErrorKind::Limit && p.element.starts_with("Flow")),
        "{e}"
    );
}

/// The diagram interchange does not count toward the deployable size: a
/// document large by its layout (as real modelers' files are) validates as
/// its process. A document whose process itself is too large still gets
/// every other problem reported in the same run, and the size problem says
/// which part is too large.
#[test]
fn an_oversized_document_reports_its_size_and_every_other_problem() {
    let process = r#"<bpmn:process id="P" isExecutable="true">
    <bpmn:startEvent id="S"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="S" targetRef="E" />
    <bpmn:endEvent id="E"><bpmn:incoming>F1</bpmn:incoming></bpmn:endEvent>
    <bpmn:userTask id="Orphan" name="never reached" />
  </bpmn:process>"#;
    let document = |diagram: &str| {
        format!(
            r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="D">
  {process}
  <bpmndi:BPMNDiagram id="Diagram"><bpmndi:BPMNPlane id="Plane" bpmnElement="P">{diagram}</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>"#
        )
    };
    let shapes: String = (0..600)
        .map(|i| format!(r#"<bpmndi:BPMNShape id="Shape_{i}" bpmnElement="S"><dc:Bounds x="{i}" y="80" width="36" height="36" /></bpmndi:BPMNShape>"#))
        .collect();
    let small = document("");
    let large = document(&shapes);
    assert!(large.len() > ingot_bpmn::xml::MAX_XML_BYTES);
    let alone = compile_xml(&small, &json!({})).unwrap_err().0;
    assert!(!alone.is_empty(), "the small document has its own problems");
    assert_eq!(
        ingot_bpmn::validate_xml(&large, &json!({})).unwrap_err().0,
        alone,
        "the layout is not counted: exactly the small document's problems"
    );
    let fixed =
        |doc: &str| doc.replace(r#"<bpmn:userTask id="Orphan" name="never reached" />"#, "");
    let starter = json!({"start": "org:Org1"});
    if let Err(e) = ingot_bpmn::validate_xml(&fixed(&large), &starter) {
        panic!("the fixed large document: {e}");
    }
    // A process too large by itself.
    let documentation = format!(
        "<bpmn:documentation>{}</bpmn:documentation>\n    <bpmn:startEvent",
        "x".repeat(ingot_bpmn::xml::MAX_XML_BYTES)
    );
    let heavy = large.replacen("<bpmn:startEvent", &documentation, 1);
    let all = ingot_bpmn::validate_xml(&heavy, &json!({})).unwrap_err().0;
    assert_eq!(all[0].kind, ErrorKind::Limit);
    assert!(
        all[0].message.contains("without its") && all[0].message.contains("diagram interchange"),
        "{}",
        all[0].message
    );
    assert_eq!(
        all[1..],
        alone[..],
        "the other problems, as for the small document"
    );
    // The chain's path is unchanged: the size is refused first and alone.
    assert_eq!(compile_xml(&heavy, &json!({})).unwrap_err().0.len(), 1);
    assert_eq!(compile_xml(&large, &json!({})).unwrap_err().0.len(), 1);
    // Past what validation reads, only the size.
    let huge = document(&shapes.repeat(30));
    assert!(huge.len() > ingot_bpmn::MAX_VALIDATE_BYTES);
    assert_eq!(
        ingot_bpmn::validate_xml(&huge, &json!({}))
            .unwrap_err()
            .0
            .len(),
        1
    );
}
