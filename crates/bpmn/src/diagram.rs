//! The diagram interchange (BPMNDI) apart from the process.
//!
//! Modelers save a process together with its layout: shapes and edges, most
//! of a real file's bytes (the median export is ≈ 30 KB, three quarters of it
//! layout). The layout does not change what the process does, so it does not
//! count toward the deployable document size ([`crate::xml::MAX_XML_BYTES`]):
//! a document is [`split`] into the process text, deployed and compiled on
//! chain, and the diagram text, attached to the deployed version afterwards
//! in chunks with its own bound ([`MAX_DIAGRAM_BYTES`]). [`join`] puts the
//! two back together byte for byte, so the file a reader downloads is the
//! file the designer saved. [`check_joined`] is what the chain verifies
//! before it accepts a diagram: that the attached bytes are layout only, so
//! attaching a diagram can never change a deployed process.

use crate::{
    error::{ErrorKind, Problem},
    xml::{BPMNDI_NS, MAX_XML_BYTES},
};
use roxmltree::{Document, Node, NodeType};

/// Largest diagram attached to a deployed version. With the process it stays
/// within what validation reads ([`crate::MAX_VALIDATE_BYTES`]), so a
/// deployed document can always be validated again as one file.
pub const MAX_DIAGRAM_BYTES: usize = crate::MAX_VALIDATE_BYTES - MAX_XML_BYTES;
/// Largest piece of a diagram in one transaction (it must fit a
/// transaction's arguments with the definition's name and the digest).
pub const MAX_DIAGRAM_CHUNK_BYTES: usize = 40 * 1024;
/// Most transactions one diagram takes.
pub const MAX_DIAGRAM_CHUNKS: usize = MAX_DIAGRAM_BYTES.div_ceil(MAX_DIAGRAM_CHUNK_BYTES);
const _: () = assert!(MAX_DIAGRAM_CHUNK_BYTES + 1024 <= ingot_types::limits::MAX_ARGS_BYTES);
const _: () = assert!(MAX_DIAGRAM_CHUNK_BYTES <= ingot_types::limits::MAX_VALUE_BYTES);
const _: () = assert!(MAX_DIAGRAM_CHUNKS <= u16::MAX as usize);

/// A document cut in two: `process` is the document without the diagram,
/// which sat at byte `offset` of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub process: String,
    pub offset: usize,
    pub diagram: String,
}

/// Is this child of `<definitions>` layout (a BPMNDI element) or nothing at
/// all (white space, a comment)?
fn is_layout(n: &Node) -> bool {
    match n.node_type() {
        NodeType::Element => n.tag_name().namespace() == Some(BPMNDI_NS),
        NodeType::Comment => true,
        NodeType::Text => n.text().is_some_and(|t| t.trim().is_empty()),
        _ => false,
    }
}

/// Cut the diagram out of a document: the span from its first BPMNDI
/// element to its last, if only layout lies between them. `None` when the
/// document does not parse, has no diagram, or interleaves layout with
/// process elements (no modeler does; such a file is deployed whole).
pub fn split(xml: &str) -> Option<Split> {
    let doc = Document::parse(xml).ok()?;
    let children: Vec<Node> = doc.root_element().children().collect();
    let first = children
        .iter()
        .position(|c| c.is_element() && c.tag_name().namespace() == Some(BPMNDI_NS))?;
    let last = children
        .iter()
        .rposition(|c| c.is_element() && c.tag_name().namespace() == Some(BPMNDI_NS))?;
    if !children[first..=last].iter().all(is_layout) {
        return None;
    }
    let span = children[first].range().start..children[last].range().end;
    Some(Split {
        process: format!("{}{}", &xml[..span.start], &xml[span.end..]),
        offset: span.start,
        diagram: xml[span].to_string(),
    })
}

/// The document a [`Split`] came from. `None` when `offset` is not a
/// character boundary of `process` (or past its end).
pub fn join(process: &str, offset: usize, diagram: &str) -> Option<String> {
    if !process.is_char_boundary(offset) {
        return None;
    }
    let mut whole = String::with_capacity(process.len() + diagram.len());
    whole.push_str(&process[..offset]);
    whole.push_str(diagram);
    whole.push_str(&process[offset..]);
    Some(whole)
}

fn refusal(message: String) -> Problem {
    Problem::new(ErrorKind::MalformedXml, "", "", message)
}

/// Check a diagram before it is attached to a deployed process: the joined
/// document parses, and the inserted bytes are exactly whole children of
/// `<definitions>` that are layout (BPMNDI elements, white space, comments).
/// Then the process elements, their order and their text are those of the
/// deployed document, whatever the diagram says. Returns the joined text.
pub fn check_joined(process: &str, offset: usize, diagram: &str) -> Result<String, Problem> {
    if diagram.len() > MAX_DIAGRAM_BYTES {
        return Err(Problem::new(
            ErrorKind::Limit,
            "",
            "",
            format!(
                "diagram of {} bytes is larger than {MAX_DIAGRAM_BYTES}",
                diagram.len()
            ),
        ));
    }
    let whole = join(process, offset, diagram).ok_or_else(|| {
        refusal(format!(
            "diagram offset {offset} is not a position in the {}-byte process document",
            process.len()
        ))
    })?;
    let span = offset..offset + diagram.len();
    {
        let doc = Document::parse(&whole)
            .map_err(|e| refusal(format!("the document with its diagram: {e}")))?;
        let mut covered = 0;
        for child in doc.root_element().children() {
            let r = child.range();
            let inside = r.start >= span.start && r.end <= span.end;
            let overlaps = r.start < span.end && r.end > span.start;
            if overlaps && !inside {
                return Err(refusal(format!(
                    "the diagram at byte {offset} cuts through an element or text of the process document"
                )));
            }
            if inside {
                if !is_layout(&child) {
                    return Err(refusal(format!(
                        "the diagram holds `{}`, which is not diagram interchange (only {BPMNDI_NS} elements, white space and comments may be attached)",
                        child.tag_name().name()
                    )));
                }
                covered += r.len();
            }
        }
        if covered != diagram.len() {
            return Err(refusal(format!(
                "the diagram at byte {offset} is not inside the document's <definitions> element"
            )));
        }
    }
    Ok(whole)
}

/// A document's pieces in transaction-sized chunks, each cut on a character
/// boundary (every chunk is text on its own).
pub fn chunks(diagram: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = diagram;
    while !rest.is_empty() {
        let mut cut = rest.len().min(MAX_DIAGRAM_CHUNK_BYTES);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="dia">
    <bpmndi:BPMNPlane id="plane" bpmnElement="p">
      <bpmndi:BPMNShape id="s_di" bpmnElement="s"><dc:Bounds x="1" y="2" width="36" height="36"/></bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
  <!-- two diagrams, as some tools write -->
  <bpmndi:BPMNDiagram id="dia2"/>
</bpmn:definitions>
"#;

    #[test]
    fn split_and_join_give_the_file_back_byte_for_byte() {
        let s = split(DOC).expect("has a diagram");
        assert!(!s.process.contains("BPMNDiagram"));
        assert!(s.diagram.starts_with("<bpmndi:BPMNDiagram id=\"dia\">"));
        assert!(s.diagram.ends_with("<bpmndi:BPMNDiagram id=\"dia2\"/>"));
        assert_eq!(join(&s.process, s.offset, &s.diagram).unwrap(), DOC);
        assert_eq!(check_joined(&s.process, s.offset, &s.diagram).unwrap(), DOC);
        assert!(Document::parse(&s.process).is_ok());
    }

    #[test]
    fn documents_without_a_separable_diagram_are_not_split() {
        let no_diagram = DOC.replace(
            &DOC[DOC.find("  <bpmndi:BPMNDiagram id=\"dia\">").unwrap()
                ..DOC.find("</bpmn:definitions>").unwrap()],
            "",
        );
        assert_eq!(split(&no_diagram), None);
        let interleaved = DOC.replace(
            "<!-- two diagrams, as some tools write -->",
            "<bpmn:message id=\"m\"/>",
        );
        assert_eq!(split(&interleaved), None);
        assert_eq!(split("<not xml"), None);
    }

    #[test]
    fn an_attached_diagram_can_only_be_layout() {
        let s = split(DOC).unwrap();
        // Process elements smuggled in with the layout.
        let smuggled = format!("{}<bpmn:process id=\"q\"/>", s.diagram);
        let e = check_joined(&s.process, s.offset, &smuggled).unwrap_err();
        assert!(e.message.contains("`process`"), "{e}");
        // Layout inserted inside a process element, or cutting a tag.
        let inside = s.process.find("<bpmn:startEvent").unwrap();
        assert!(check_joined(&s.process, inside, &s.diagram).is_err());
        assert!(check_joined(&s.process, inside + 3, &s.diagram).is_err());
        // Outside the root element.
        assert!(check_joined(&s.process, s.process.len(), &s.diagram).is_err());
        assert!(check_joined(&s.process, 0, &s.diagram).is_err());
        // Text that is not white space.
        let texty = format!("{} hello", s.diagram);
        assert!(check_joined(&s.process, s.offset, &texty).is_err());
        // Past the end, or inside a character.
        assert!(check_joined(&s.process, s.process.len() + 1, &s.diagram).is_err());
        let wide = "é".repeat(3);
        assert!(join(&wide, 1, "x").is_none());
        // Too large.
        let big = " ".repeat(MAX_DIAGRAM_BYTES + 1);
        assert_eq!(
            check_joined(&s.process, s.offset, &big).unwrap_err().kind,
            ErrorKind::Limit
        );
    }

    #[test]
    fn chunks_cut_on_character_boundaries_and_rejoin() {
        let text = "字".repeat(MAX_DIAGRAM_CHUNK_BYTES); // 3 bytes each
        let parts = chunks(&text);
        assert!(parts.iter().all(|p| p.len() <= MAX_DIAGRAM_CHUNK_BYTES));
        // 40,959 bytes each (the last whole character under the limit).
        assert!(parts[..3]
            .iter()
            .all(|p| p.len() == MAX_DIAGRAM_CHUNK_BYTES - 1));
        assert_eq!(parts.len(), 4);
        assert_eq!(parts.concat(), text);
        assert!(chunks("").is_empty());
    }
}
