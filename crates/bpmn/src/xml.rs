//! Reading BPMN 2.0 XML as modelers save it into a [`Model`].
//!
//! Elements are matched by namespace URI and local name, never by prefix, so
//! bpmn-js (`bpmn:` prefix), Signavio (default namespace) and hand-written
//! files read the same. DTDs are refused (roxmltree's default), so entity
//! expansion cannot blow up a validator.

use crate::{
    error::{ErrorKind, Problem},
    expr::Type,
    model::*,
};
use roxmltree::{Document, Node as XmlNode};
use std::collections::HashMap;

pub const BPMN_NS: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
pub const CAMUNDA_NS: &str = "http://camunda.org/schema/1.0/bpmn";
/// The diagram interchange namespace (shapes and edges: layout, not process).
pub const BPMNDI_NS: &str = "http://www.omg.org/spec/BPMN/20100524/DI";
/// Largest process document deployed in one transaction (it is stored on
/// chain with the definition). The diagram interchange does not count: it is
/// attached apart (see [`crate::diagram`]).
pub const MAX_XML_BYTES: usize = 40 * 1024;

/// The trigger an event definition element gives an event, if Ingot runs it.
fn trigger_of(definition: &str) -> Option<Trigger> {
    Some(match definition {
        "messageEventDefinition" => Trigger::Message,
        "timerEventDefinition" => Trigger::Timer,
        "errorEventDefinition" => Trigger::Error,
        "escalationEventDefinition" => Trigger::Escalation,
        "signalEventDefinition" => Trigger::Signal,
        "linkEventDefinition" => Trigger::Link,
        "conditionalEventDefinition" => Trigger::Conditional,
        _ => return None,
    })
}

fn is_bpmn(n: &XmlNode, local: &str) -> bool {
    n.is_element() && n.tag_name().namespace() == Some(BPMN_NS) && n.tag_name().name() == local
}

fn bpmn_children<'a, 'i>(n: XmlNode<'a, 'i>) -> impl Iterator<Item = XmlNode<'a, 'i>> {
    n.children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(BPMN_NS))
}

/// A reference written as a QName (`bpmn2:Task_1`, legal where the schema
/// types it so) names the element `Task_1`: ids never contain a colon.
fn local_ref(reference: &str) -> &str {
    reference.rsplit(':').next().unwrap_or(reference)
}

fn attr(n: &XmlNode, name: &str) -> String {
    n.attribute(name).unwrap_or_default().to_string()
}

fn text_of(n: &XmlNode) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_string()
}

/// The variable a multi-instance item (`inputDataItem`, `outputDataItem`)
/// names: its `name`, else its id.
fn data_item(parent: XmlNode, tag: &str) -> Option<String> {
    let item = bpmn_children(parent).find(|c| is_bpmn(c, tag))?;
    [item.attribute("name"), item.attribute("id")]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|v| !v.is_empty())
        .map(str::to_string)
}

/// The type an XML Schema `structureRef` (`xsd:decimal`, `xs:int`, ...) names.
fn xsd_type(structure_ref: &str) -> Option<Type> {
    let local = structure_ref.rsplit(':').next().unwrap_or(structure_ref);
    match local.to_ascii_lowercase().as_str() {
        "integer" | "int" | "long" | "short" => Some(Type::Int),
        "decimal" => Some(Type::Decimal),
        "string" => Some(Type::Text),
        "boolean" => Some(Type::Bool),
        _ => None,
    }
}

/// The type a Camunda form field declares.
fn form_type(t: &str) -> Option<Type> {
    match t {
        "long" | "integer" => Some(Type::Int),
        "decimal" => Some(Type::Decimal),
        "string" | "enum" | "date" => Some(Type::Text),
        "boolean" => Some(Type::Bool),
        _ => None,
    }
}

const TASKS: &[(&str, TaskKind)] = &[
    ("task", TaskKind::Plain),
    ("userTask", TaskKind::User),
    ("manualTask", TaskKind::Manual),
    ("serviceTask", TaskKind::Service),
    ("sendTask", TaskKind::Send),
    ("receiveTask", TaskKind::Receive),
    ("businessRuleTask", TaskKind::BusinessRule),
];
const GATEWAYS: &[(&str, GatewayKind)] = &[
    ("exclusiveGateway", GatewayKind::Exclusive),
    ("parallelGateway", GatewayKind::Parallel),
    ("inclusiveGateway", GatewayKind::Inclusive),
    ("eventBasedGateway", GatewayKind::EventBased),
];
/// Flow nodes Ingot recognises but does not run.
const UNSUPPORTED: &[&str] = &[
    "scriptTask",
    "complexGateway",
    "transaction",
    "adHocSubProcess",
    "callChoreography",
    "subChoreography",
    "choreographyTask",
    "implicitThrowEvent",
];

/// Parse a BPMN document. Problems here are about the document itself
/// (malformed XML, broken references); modelling errors are the validator's.
pub fn parse(xml: &str) -> Result<Model, Problem> {
    if xml.len() > MAX_XML_BYTES {
        return Err(size_problem(xml));
    }
    parse_unbounded(xml)
}

/// Bytes of a document's diagram interchange (BPMNDI elements), 0 when it
/// does not parse.
pub fn diagram_bytes(xml: &str) -> usize {
    let Ok(doc) = Document::parse(xml) else {
        return 0;
    };
    doc.root_element()
        .children()
        .filter(|c| c.is_element() && c.tag_name().namespace() == Some(BPMNDI_NS))
        .map(|c| c.range().len())
        .sum()
}

/// The refusal of a document too large to deploy, saying which part is:
/// the process (over [`MAX_XML_BYTES`]) or the diagram interchange (over
/// [`crate::diagram::MAX_DIAGRAM_BYTES`]); the diagram counts only toward
/// its own bound, and only when it can be cut out whole.
pub fn size_problem(xml: &str) -> Problem {
    use crate::diagram::{split, MAX_DIAGRAM_BYTES};
    let message = match split(xml) {
        Some(s) if s.diagram.len() > MAX_DIAGRAM_BYTES => format!(
            "the diagram interchange (BPMNDI, the layout) is {} bytes, larger than {MAX_DIAGRAM_BYTES}",
            s.diagram.len()
        ),
        Some(s) => format!(
            "the process is {} bytes without its {}-byte diagram interchange, larger than {MAX_XML_BYTES}: split it into smaller processes (call activities)",
            s.process.len(),
            s.diagram.len()
        ),
        None if diagram_bytes(xml) > 0 => format!(
            "document of {} bytes is larger than {MAX_XML_BYTES}; its {} bytes of diagram interchange cannot be set apart because process elements lie between its diagrams (put every BPMNDI element after the processes)",
            xml.len(),
            diagram_bytes(xml)
        ),
        None => format!(
            "document of {} bytes is larger than {MAX_XML_BYTES}",
            xml.len()
        ),
    };
    Problem::new(ErrorKind::Limit, "", "", message)
}

/// [`parse`] without the size limit: only for validation off chain, which
/// bounds the document itself (see `compile::validate_xml`).
pub(crate) fn parse_unbounded(xml: &str) -> Result<Model, Problem> {
    let doc = Document::parse(xml)
        .map_err(|e| Problem::new(ErrorKind::MalformedXml, "", "", e.to_string()))?;
    let root = doc.root_element();
    if !is_bpmn(&root, "definitions") {
        return Err(Problem::new(
            ErrorKind::MalformedXml,
            "",
            "",
            format!(
                "root element is `{}`, not BPMN 2.0 `definitions` ({BPMN_NS})",
                root.tag_name().name()
            ),
        ));
    }
    let mut reader = Reader::default();
    for def in bpmn_children(root).filter(|c| c.tag_name().name().ends_with("EventDefinition")) {
        reader
            .event_definitions
            .insert(attr(&def, "id"), def.tag_name().name().to_string());
    }
    // Errors and escalations match by their code, signals by their name;
    // without one, by the element's id.
    for (element, key) in [
        ("error", "errorCode"),
        ("escalation", "escalationCode"),
        ("signal", "name"),
    ] {
        for def in bpmn_children(root).filter(|c| is_bpmn(c, element)) {
            let code = def
                .attribute(key)
                .filter(|c| !c.is_empty())
                .map_or_else(|| attr(&def, "id"), str::to_string);
            reader.codes.insert(attr(&def, "id"), code);
        }
    }
    for item in bpmn_children(root).filter(|c| is_bpmn(c, "itemDefinition")) {
        if let Some(ty) = xsd_type(item.attribute("structureRef").unwrap_or_default()) {
            reader.item_types.insert(attr(&item, "id"), ty);
        }
    }
    // Pools come from the collaboration's participants; processes no
    // participant refers to are pools of their own.
    let mut process_pool: HashMap<String, (String, String)> = HashMap::new();
    for collab in bpmn_children(root).filter(|c| is_bpmn(c, "collaboration")) {
        for child in bpmn_children(collab) {
            if is_bpmn(&child, "participant") {
                if let Some(process) = child.attribute("processRef") {
                    process_pool.insert(
                        local_ref(process).to_string(),
                        (attr(&child, "id"), attr(&child, "name")),
                    );
                } else {
                    reader.model.external.push(attr(&child, "id"));
                }
            } else if is_bpmn(&child, "messageFlow") {
                reader.model.message_flows.push(MessageFlow {
                    id: attr(&child, "id"),
                    name: attr(&child, "name"),
                    source: local_ref(&attr(&child, "sourceRef")).to_string(),
                    target: local_ref(&attr(&child, "targetRef")).to_string(),
                });
            }
        }
    }
    if !bpmn_children(root).any(|c| is_bpmn(&c, "process")) {
        let imports = bpmn_children(root).filter(|c| is_bpmn(c, "import")).count();
        return Err(Problem::new(
            ErrorKind::NoStart,
            attr(&root, "id"),
            attr(&root, "name"),
            if imports > 0 {
                format!(
                    "the document has no process of its own, only {imports} import(s): deploy the document that defines the process"
                )
            } else {
                "the document has no process (a diagram or collaboration without a process element): there is nothing to run".to_string()
            },
        ));
    }
    for process in bpmn_children(root).filter(|c| is_bpmn(c, "process")) {
        let process_id = attr(&process, "id");
        let (id, name) = process_pool
            .get(&process_id)
            .cloned()
            .unwrap_or_else(|| (process_id.clone(), attr(&process, "name")));
        let pool = reader.model.pools.len();
        reader.model.pools.push(Pool {
            id,
            name,
            process_id,
            process_name: attr(&process, "name"),
        });
        reader.scope(process, pool, None);
    }
    reader.finish()
}

#[derive(Default)]
struct Reader {
    model: Model,
    item_types: HashMap<String, Type>,
    /// dataObjectReference id -> dataObject id.
    object_refs: HashMap<String, String>,
    /// Ids of data stores (references) and process data outputs: targets
    /// of data output associations that are not process variables.
    outside_data: std::collections::HashSet<String>,
    /// dataObject id -> the name its first named reference gives it.
    reference_names: HashMap<String, String>,
    /// Event definitions declared at the document level (id -> element
    /// name), for events that point to one with `eventDefinitionRef`.
    event_definitions: HashMap<String, String>,
    /// node id -> lane id.
    lane_of: HashMap<String, String>,
    /// Process properties and data inputs: id -> name, for the collection
    /// a multi-instance task refers to by id.
    item_names: HashMap<String, String>,
    /// error, escalation and signal id -> the code (or name) events match on.
    codes: HashMap<String, String>,
    /// node index -> ids of the data objects (or references) it writes.
    writes: Vec<(NodeIx, String)>,
}

impl Reader {
    fn name_item(&mut self, item: XmlNode) {
        let (id, name) = (attr(&item, "id"), attr(&item, "name"));
        if !name.is_empty() {
            self.item_names.insert(id, name);
        }
    }

    /// The variable a multi-instance collection reference names: a data
    /// object (through its reference), a property or data input by id, or
    /// else the text as written (a variable name, `${name}` in Camunda).
    fn item_variable(&self, names: &HashMap<String, (String, Option<Type>)>, raw: &str) -> String {
        let local = local_ref(raw);
        let object = self.object_refs.get(local).map_or(local, String::as_str);
        if let Some((name, _)) = names.get(object).filter(|(n, _)| !n.is_empty()) {
            return name.clone();
        }
        if let Some(name) = self.item_names.get(local) {
            return name.clone();
        }
        raw.to_string()
    }

    /// Read the contents of a process or embedded subprocess.
    fn scope(&mut self, scope: XmlNode, pool: usize, parent: Option<NodeIx>) {
        for child in bpmn_children(scope) {
            let tag = child.tag_name().name();
            match tag {
                "laneSet" => self.lanes(child, pool),
                "sequenceFlow" => self.model.flows.push(Flow {
                    id: attr(&child, "id"),
                    name: attr(&child, "name"),
                    source: local_ref(&attr(&child, "sourceRef")).to_string(),
                    target: local_ref(&attr(&child, "targetRef")).to_string(),
                    // An empty `<conditionExpression/>` (Bonita writes one
                    // on every flow) is no condition.
                    condition: bpmn_children(child)
                        .find(|c| is_bpmn(c, "conditionExpression"))
                        .map(|c| text_of(&c))
                        .filter(|c| !c.is_empty()),
                }),
                "dataObject" => {
                    // A collection data object holds a list, whatever its
                    // items' definition says they are.
                    let ty = if child.attribute("isCollection") == Some("true") {
                        Some(Type::List)
                    } else {
                        child
                            .attribute("itemSubjectRef")
                            .and_then(|r| self.item_types.get(r).copied())
                    };
                    self.model
                        .variables
                        .push((attr(&child, "id"), attr(&child, "name"), ty));
                }
                // Data stores and the process's own data outputs live
                // outside the instance: writing to them makes no variable.
                "dataStoreReference" => {
                    self.outside_data.insert(attr(&child, "id"));
                }
                "ioSpecification" => {
                    for output in bpmn_children(child).filter(|c| is_bpmn(c, "dataOutput")) {
                        self.outside_data.insert(attr(&output, "id"));
                    }
                    for input in bpmn_children(child).filter(|c| is_bpmn(c, "dataInput")) {
                        self.name_item(input);
                    }
                }
                "property" => self.name_item(child),
                "dataObjectReference" => {
                    let object = local_ref(&attr(&child, "dataObjectRef")).to_string();
                    // Camunda Modeler and bpmn-js name the reference, not
                    // the object: the name is the variable's.
                    let name = attr(&child, "name");
                    if !name.is_empty() {
                        self.reference_names.entry(object.clone()).or_insert(name);
                    }
                    self.object_refs.insert(attr(&child, "id"), object);
                }
                _ => {
                    if let Some(kind) = self.node_kind(child) {
                        let ix = self.node(child, kind, pool, parent);
                        if tag == "subProcess"
                            && !matches!(self.model.nodes[ix].kind, NodeKind::Unsupported(_))
                        {
                            self.scope(child, pool, Some(ix));
                        }
                    }
                }
            }
        }
    }

    fn lanes(&mut self, lane_set: XmlNode, pool: usize) {
        for lane in bpmn_children(lane_set).filter(|c| is_bpmn(c, "lane")) {
            let id = attr(&lane, "id");
            for r in bpmn_children(lane).filter(|c| is_bpmn(c, "flowNodeRef")) {
                self.lane_of
                    .insert(local_ref(&text_of(&r)).to_string(), id.clone());
            }
            self.model.lanes.push(Lane {
                id,
                name: attr(&lane, "name"),
                pool,
            });
            // Nested lanes: a node listed in a child lane belongs to the
            // innermost one (it is read after, and overwrites).
            for child_set in bpmn_children(lane).filter(|c| is_bpmn(c, "childLaneSet")) {
                self.lanes(child_set, pool);
            }
        }
    }

    /// The element names of an event's definitions: its own children, and
    /// those it points to at the document level with `eventDefinitionRef`
    /// (an unresolvable reference counts as an unknown definition, so the
    /// event is never taken for a plain one).
    fn event_definitions_of<'a>(&'a self, n: XmlNode<'a, '_>) -> Vec<&'a str> {
        let mut defs: Vec<&str> = bpmn_children(n)
            .map(|c| c.tag_name().name())
            .filter(|t| t.ends_with("EventDefinition"))
            .collect();
        for r in bpmn_children(n).filter(|c| is_bpmn(c, "eventDefinitionRef")) {
            let id = text_of(&r);
            defs.push(
                self.event_definitions
                    .get(local_ref(&id))
                    .map_or("unresolved eventDefinitionRef", String::as_str),
            );
        }
        defs
    }

    /// The kind of a flow node element, or None for elements that are not flow nodes.
    fn node_kind(&self, n: XmlNode) -> Option<NodeKind> {
        let tag = n.tag_name().name();
        // A compensation handler has no incoming flow by design; it is not
        // a dead end but an element Ingot does not run.
        if n.attribute("isForCompensation") == Some("true") {
            return Some(NodeKind::Unsupported(format!(
                "{tag} as a compensation handler (isForCompensation)"
            )));
        }
        if let Some((_, k)) = TASKS.iter().find(|(t, _)| *t == tag) {
            return Some(NodeKind::Task(*k));
        }
        if let Some((_, g)) = GATEWAYS.iter().find(|(t, _)| *t == tag) {
            return Some(NodeKind::Gateway(*g));
        }
        if UNSUPPORTED.contains(&tag) {
            return Some(NodeKind::Unsupported(tag.to_string()));
        }
        // The triggers each event element may have on chain.
        let event = |make: fn(Trigger) -> NodeKind, allowed: &[Trigger]| -> NodeKind {
            let defs = self.event_definitions_of(n);
            let trigger = match defs.as_slice() {
                [] => Some(Trigger::None),
                [one] => trigger_of(one),
                _ => return NodeKind::Unsupported(format!("{tag} with several event definitions")),
            };
            match trigger {
                Some(t) if allowed.contains(&t) => make(t),
                _ if defs.is_empty() => {
                    NodeKind::Unsupported(format!("{tag} without an event definition"))
                }
                _ => NodeKind::Unsupported(format!("{tag} ({})", defs.join(", "))),
            }
        };
        use Trigger as T;
        match tag {
            // Error, escalation, signal and conditional starts are only for
            // event subprocesses: validation refuses them elsewhere.
            "startEvent" => Some(event(
                NodeKind::Start,
                &[
                    T::None,
                    T::Message,
                    T::Timer,
                    T::Error,
                    T::Escalation,
                    T::Signal,
                    T::Conditional,
                ],
            )),
            "intermediateCatchEvent" => Some(event(
                NodeKind::Catch,
                &[
                    T::None,
                    T::Message,
                    T::Timer,
                    T::Signal,
                    T::Link,
                    T::Conditional,
                ],
            )),
            "intermediateThrowEvent" => Some(event(
                NodeKind::Throw,
                &[T::None, T::Message, T::Escalation, T::Signal, T::Link],
            )),
            "boundaryEvent" => Some(event(
                NodeKind::Boundary,
                &[
                    T::Message,
                    T::Timer,
                    T::Error,
                    T::Escalation,
                    T::Signal,
                    T::Conditional,
                ],
            )),
            "endEvent" => {
                let defs = self.event_definitions_of(n);
                Some(match defs.as_slice() {
                    [] => NodeKind::End(EndKind::None),
                    ["messageEventDefinition"] => NodeKind::End(EndKind::Message),
                    ["terminateEventDefinition"] => NodeKind::End(EndKind::Terminate),
                    ["errorEventDefinition"] => NodeKind::End(EndKind::Error),
                    ["escalationEventDefinition"] => NodeKind::End(EndKind::Escalation),
                    ["signalEventDefinition"] => NodeKind::End(EndKind::Signal),
                    [one] => NodeKind::Unsupported(format!("endEvent ({one})")),
                    _ => NodeKind::Unsupported("endEvent with several event definitions".into()),
                })
            }
            "callActivity" => Some(NodeKind::CallActivity),
            "subProcess" => Some(if n.attribute("triggeredByEvent") == Some("true") {
                NodeKind::EventSubProcess
            } else {
                NodeKind::SubProcess
            }),
            _ => None,
        }
    }

    fn node(&mut self, n: XmlNode, kind: NodeKind, pool: usize, parent: Option<NodeIx>) -> NodeIx {
        let ix = self.model.nodes.len();
        let timer = bpmn_children(n)
            .find(|c| is_bpmn(c, "timerEventDefinition"))
            .map(|t| {
                let part = |name| {
                    bpmn_children(t)
                        .find(|c| is_bpmn(c, name))
                        .map(|c| text_of(&c))
                };
                if let Some(d) = part("timeDuration") {
                    TimerDef::Duration(d)
                } else if let Some(d) = part("timeDate") {
                    TimerDef::Date(d)
                } else if let Some(c) = part("timeCycle") {
                    TimerDef::Cycle(c)
                } else {
                    TimerDef::Missing
                }
            });
        let mut outputs = Vec::new();
        for assoc in bpmn_children(n).filter(|c| is_bpmn(c, "dataOutputAssociation")) {
            if let Some(target) = bpmn_children(assoc).find(|c| is_bpmn(c, "targetRef")) {
                self.writes.push((ix, text_of(&target)));
            }
        }
        // Only the element's own extensions: a subprocess must not take the
        // form fields of the tasks inside it.
        for field in bpmn_children(n)
            .filter(|c| is_bpmn(c, "extensionElements"))
            .flat_map(|ext| ext.descendants())
            .filter(|d| d.tag_name().namespace() == Some(CAMUNDA_NS))
            .filter(|d| d.tag_name().name() == "formField")
        {
            let ty = field.attribute("type").and_then(form_type);
            outputs.push((attr(&field, "id"), ty));
        }
        let child_text = |parent: XmlNode, name: &str| {
            bpmn_children(parent)
                .find(|c| is_bpmn(c, name))
                .map(|c| text_of(&c))
                .filter(|t| !t.is_empty())
        };
        let looped = bpmn_children(n).find_map(|c| {
            if is_bpmn(&c, "standardLoopCharacteristics") {
                Some(LoopDef::Standard {
                    condition: child_text(c, "loopCondition"),
                    test_before: c.attribute("testBefore") == Some("true"),
                    maximum: c.attribute("loopMaximum").map(str::to_string),
                })
            } else if is_bpmn(&c, "multiInstanceLoopCharacteristics") {
                Some(LoopDef::Multi {
                    sequential: c.attribute("isSequential") == Some("true"),
                    cardinality: child_text(c, "loopCardinality"),
                    completion: child_text(c, "completionCondition"),
                    // Camunda, Flowable and Activiti write their own
                    // `collection` and `elementVariable` attributes.
                    collection: child_text(c, "loopDataInputRef").or_else(|| {
                        c.attributes()
                            .find(|a| a.name() == "collection")
                            .map(|a| a.value().trim().to_string())
                    }),
                    element: data_item(c, "inputDataItem").or_else(|| {
                        c.attributes()
                            .find(|a| a.name() == "elementVariable")
                            .map(|a| a.value().trim().to_string())
                    }),
                    output: child_text(c, "loopDataOutputRef"),
                    output_element: data_item(c, "outputDataItem"),
                })
            } else {
                None
            }
        });
        self.model.nodes.push(Node {
            id: attr(&n, "id"),
            name: attr(&n, "name"),
            kind,
            pool,
            parent,
            lane: None,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            default_flow: n.attribute("default").map(str::to_string),
            timer,
            condition: bpmn_children(n)
                .find(|c| is_bpmn(c, "conditionalEventDefinition"))
                .and_then(|d| bpmn_children(d).find(|c| is_bpmn(c, "condition")))
                .map(|c| text_of(&c))
                .filter(|c| !c.is_empty()),
            outputs,
            looped,
            boundary: n.attribute("attachedToRef").map(|a| {
                (
                    local_ref(a).to_string(),
                    n.attribute("cancelActivity") != Some("false"),
                )
            }),
            code: self.code_of(n),
            interrupting: n.attribute("isInterrupting") != Some("false"),
        });
        ix
    }

    /// The code an error, escalation or signal event throws or catches, or
    /// a link event's name.
    fn code_of(&self, n: XmlNode) -> Option<String> {
        if n.tag_name().name() == "callActivity" {
            return n
                .attribute("calledElement")
                .map(|c| local_ref(c).to_string());
        }
        if n.tag_name().name() == "businessRuleTask" {
            // Camunda's and Flowable's `decisionRef`: a DMN decision's id.
            return n
                .attributes()
                .find(|a| a.name() == "decisionRef")
                .map(|a| a.value().trim().to_string());
        }
        bpmn_children(n).find_map(|d| {
            if d.tag_name().name() == "linkEventDefinition" {
                return d.attribute("name").map(str::to_string);
            }
            let reference = match d.tag_name().name() {
                "errorEventDefinition" => d.attribute("errorRef"),
                "escalationEventDefinition" => d.attribute("escalationRef"),
                "signalEventDefinition" => d.attribute("signalRef"),
                _ => None,
            }?;
            let id = local_ref(reference);
            Some(
                self.codes
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string()),
            )
        })
    }

    /// Resolve references: lanes, flow endpoints, data associations.
    fn finish(mut self) -> Result<Model, Problem> {
        let index: HashMap<String, NodeIx> = self
            .model
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        if index.len() != self.model.nodes.len() {
            let dup = self
                .model
                .nodes
                .iter()
                .enumerate()
                .find(|(i, n)| index.get(&n.id) != Some(i))
                .map(|(_, n)| n.clone());
            if let Some(n) = dup {
                return Err(Problem::new(
                    ErrorKind::Invalid,
                    n.id,
                    n.name,
                    "two elements share this id",
                ));
            }
        }
        for node in &mut self.model.nodes {
            node.lane = self.lane_of.get(&node.id).cloned();
        }
        for (fx, flow) in self.model.flows.iter().enumerate() {
            let (Some(&s), Some(&t)) = (index.get(&flow.source), index.get(&flow.target)) else {
                return Err(Problem::new(
                    ErrorKind::Invalid,
                    &flow.id,
                    &flow.name,
                    format!(
                        "sequence flow connects `{}` to `{}`, and one of them is not a flow node",
                        flow.source, flow.target
                    ),
                ));
            };
            self.model.nodes[s].outgoing.push(fx);
            self.model.nodes[t].incoming.push(fx);
        }
        for (id, name, _) in &mut self.model.variables {
            if name.is_empty() {
                if let Some(named) = self.reference_names.get(id) {
                    name.clone_from(named);
                }
            }
        }
        let names: HashMap<String, (String, Option<Type>)> = self
            .model
            .variables
            .iter()
            .map(|(id, name, ty)| (id.clone(), (name.clone(), *ty)))
            .collect();
        let mut nodes = std::mem::take(&mut self.model.nodes);
        for n in &mut nodes {
            if let Some(LoopDef::Multi {
                collection, output, ..
            }) = &mut n.looped
            {
                for r in [collection, output].into_iter().flatten() {
                    *r = self.item_variable(&names, r);
                }
            }
        }
        self.model.nodes = nodes;
        for (ix, target) in std::mem::take(&mut self.writes) {
            let target = local_ref(&target).to_string();
            if self.outside_data.contains(&target) {
                continue;
            }
            let object = self.object_refs.get(&target).unwrap_or(&target);
            let Some((name, ty)) = names.get(object) else {
                let n = &self.model.nodes[ix];
                return Err(Problem::new(
                    ErrorKind::Invalid,
                    &n.id,
                    &n.name,
                    format!("data output association to unknown data object `{target}`"),
                ));
            };
            let outputs = &mut self.model.nodes[ix].outputs;
            if !outputs.iter().any(|(o, _)| o == name) {
                outputs.push((name.clone(), *ty));
            }
        }
        Ok(self.model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D1">
  <bpmn:itemDefinition id="Item_int" structureRef="xsd:integer" />
  <bpmn:process id="P1" name="Minimal" isExecutable="true">
    <bpmn:laneSet><bpmn:lane id="L1" name="Ops"><bpmn:flowNodeRef>T1</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="S1"><bpmn:outgoing>F1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="T1" name="Check">
      <bpmn:dataOutputAssociation id="A1"><bpmn:targetRef>R1</bpmn:targetRef></bpmn:dataOutputAssociation>
    </bpmn:userTask>
    <bpmn:endEvent id="E1"><bpmn:terminateEventDefinition /></bpmn:endEvent>
    <bpmn:sequenceFlow id="F1" sourceRef="S1" targetRef="T1" />
    <bpmn:sequenceFlow id="F2" sourceRef="T1" targetRef="E1"><bpmn:conditionExpression>${n &gt; 1}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:dataObject id="O1" name="n" itemSubjectRef="Item_int" />
    <bpmn:dataObjectReference id="R1" dataObjectRef="O1" />
  </bpmn:process>
</bpmn:definitions>"#;

    #[test]
    fn reads_nodes_flows_lanes_and_outputs() {
        let m = parse(MINIMAL).unwrap();
        assert_eq!(m.pools.len(), 1);
        assert_eq!(m.pools[0].id, "P1");
        assert_eq!(m.nodes.len(), 3);
        let t = &m.nodes[m.node("T1").unwrap()];
        assert_eq!(t.kind, NodeKind::Task(TaskKind::User));
        assert_eq!(t.lane.as_deref(), Some("L1"));
        assert_eq!(t.outputs, vec![("n".to_string(), Some(Type::Int))]);
        assert_eq!(t.incoming, vec![0]);
        assert_eq!(m.flows[1].condition.as_deref(), Some("${n > 1}"));
        assert_eq!(
            m.nodes[m.node("E1").unwrap()].kind,
            NodeKind::End(EndKind::Terminate)
        );
    }

    #[test]
    fn default_namespace_reads_the_same() {
        let unprefixed = MINIMAL
            .replace("xmlns:bpmn=", "xmlns=")
            .replace("bpmn:", "");
        let m = parse(&unprefixed).unwrap();
        assert_eq!(m.nodes.len(), 3);
        assert_eq!(m.flows.len(), 2);
    }

    #[test]
    fn refuses_malformed_and_foreign_documents() {
        let e = parse("<bpmn:definitions").unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedXml);
        let e = parse("<definitions xmlns=\"urn:other\"/>").unwrap_err();
        assert_eq!(e.kind, ErrorKind::MalformedXml);
        let dtd = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>";
        assert_eq!(parse(dtd).unwrap_err().kind, ErrorKind::MalformedXml);
        let big = " ".repeat(MAX_XML_BYTES + 1);
        assert_eq!(parse(&big).unwrap_err().kind, ErrorKind::Limit);
    }

    /// Bonita writes an empty `<conditionExpression/>` on every flow: it is
    /// no condition, not an expression that fails to parse.
    #[test]
    fn an_empty_condition_expression_is_no_condition() {
        let empty = MINIMAL.replace(
            "<bpmn:conditionExpression>${n &gt; 1}</bpmn:conditionExpression>",
            "<bpmn:conditionExpression xsi:type=\"tFormalExpression\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>",
        );
        assert_ne!(empty, MINIMAL);
        let m = parse(&empty).unwrap();
        assert_eq!(m.flows[1].condition, None);
    }

    /// Camunda Modeler and bpmn-js put the name on the reference.
    #[test]
    fn a_data_object_is_named_by_its_reference_when_unnamed() {
        let named_by_ref = MINIMAL
            .replace(
                r#"<bpmn:dataObject id="O1" name="n" itemSubjectRef="Item_int" />"#,
                r#"<bpmn:dataObject id="O1" itemSubjectRef="Item_int" />"#,
            )
            .replace(
                r#"<bpmn:dataObjectReference id="R1" dataObjectRef="O1" />"#,
                r#"<bpmn:dataObjectReference id="R1" name="n" dataObjectRef="O1" />"#,
            );
        let m = parse(&named_by_ref).unwrap();
        let t = &m.nodes[m.node("T1").unwrap()];
        assert_eq!(t.outputs, vec![("n".to_string(), Some(Type::Int))]);
    }

    /// References written as QNames (`bpmn:T1`) resolve like plain ids.
    #[test]
    fn prefixed_references_resolve() {
        let prefixed = MINIMAL
            .replace(r#"sourceRef="S1""#, r#"sourceRef="bpmn:S1""#)
            .replace(r#"dataObjectRef="O1""#, r#"dataObjectRef="bpmn:O1""#)
            .replace("<bpmn:flowNodeRef>T1<", "<bpmn:flowNodeRef>bpmn:T1<");
        let m = parse(&prefixed).unwrap();
        let t = &m.nodes[m.node("T1").unwrap()];
        assert_eq!(t.incoming, vec![0]);
        assert_eq!(t.lane.as_deref(), Some("L1"));
        assert_eq!(t.outputs.len(), 1);
    }

    /// A start or end event whose definition is declared once at the
    /// document level and pointed to with `eventDefinitionRef` is that kind
    /// of event (a signal start, an error end), never a plain one.
    #[test]
    fn event_definition_refs_are_followed() {
        let with_refs = MINIMAL
            .replace(
                r#"<bpmn:itemDefinition"#,
                r#"<bpmn:signalEventDefinition id="Sig" /><bpmn:errorEventDefinition id="Err" /><bpmn:itemDefinition"#,
            )
            .replace(
                r#"<bpmn:startEvent id="S1">"#,
                r#"<bpmn:startEvent id="S1"><bpmn:eventDefinitionRef>Sig</bpmn:eventDefinitionRef>"#,
            )
            .replace(
                r#"<bpmn:terminateEventDefinition />"#,
                r#"<bpmn:eventDefinitionRef>bpmn:Err</bpmn:eventDefinitionRef>"#,
            );
        let m = parse(&with_refs).unwrap();
        // A signal start event (validation runs it only in an event
        // subprocess), never a none start.
        assert_eq!(
            m.nodes[m.node("S1").unwrap()].kind,
            NodeKind::Start(Trigger::Signal)
        );
        assert_eq!(
            m.nodes[m.node("E1").unwrap()].kind,
            NodeKind::End(EndKind::Error)
        );
        let dangling = with_refs.replace(">Sig<", ">Nope<");
        let m = parse(&dangling).unwrap();
        assert!(matches!(
            &m.nodes[m.node("S1").unwrap()].kind,
            NodeKind::Unsupported(k) if k.contains("unresolved")
        ));
    }

    #[test]
    fn a_compensation_handler_is_unsupported_not_a_dead_end() {
        let compensation = MINIMAL.replace(
            r#"<bpmn:userTask id="T1" name="Check">"#,
            r#"<bpmn:userTask id="T1" name="Check" isForCompensation="true">"#,
        );
        let m = parse(&compensation).unwrap();
        assert!(matches!(
            &m.nodes[m.node("T1").unwrap()].kind,
            NodeKind::Unsupported(k) if k.contains("isForCompensation")
        ));
    }

    /// Writing to a data store, or to the process's data output, is not a
    /// variable and not an error.
    #[test]
    fn data_stores_and_process_outputs_are_outside_the_instance() {
        let with_store = MINIMAL
            .replace(
                r#"<bpmn:dataOutputAssociation id="A1"><bpmn:targetRef>R1</bpmn:targetRef></bpmn:dataOutputAssociation>"#,
                r#"<bpmn:dataOutputAssociation id="A1"><bpmn:targetRef>R1</bpmn:targetRef></bpmn:dataOutputAssociation>
                   <bpmn:dataOutputAssociation id="A2"><bpmn:targetRef>Store</bpmn:targetRef></bpmn:dataOutputAssociation>
                   <bpmn:dataOutputAssociation id="A3"><bpmn:targetRef>Out</bpmn:targetRef></bpmn:dataOutputAssociation>"#,
            )
            .replace(
                r#"<bpmn:dataObject id="O1""#,
                r#"<bpmn:ioSpecification><bpmn:dataOutput id="Out" /></bpmn:ioSpecification>
                   <bpmn:dataStoreReference id="Store" name="ERP" />
                   <bpmn:dataObject id="O1""#,
            );
        let m = parse(&with_store).unwrap();
        let t = &m.nodes[m.node("T1").unwrap()];
        assert_eq!(t.outputs, vec![("n".to_string(), Some(Type::Int))]);
    }

    /// A document without a process says so, naming the document, and
    /// points at imports when it only has those.
    #[test]
    fn a_document_without_a_process_says_so() {
        let diagram_only = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs"><bpmn:collaboration id="C" /></bpmn:definitions>"#;
        let e = parse(diagram_only).unwrap_err();
        assert_eq!(e.element, "Defs");
        assert!(e.message.contains("no process"), "{e}");
        let imports = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="Defs"><bpmn:import importType="http://www.omg.org/spec/BPMN/20100524/MODEL" location="other.bpmn" namespace="urn:x" /></bpmn:definitions>"#;
        let e = parse(imports).unwrap_err();
        assert!(e.message.contains("import"), "{e}");
    }

    #[test]
    fn dangling_flow_is_reported_with_its_id() {
        let broken = MINIMAL.replace("targetRef=\"E1\"", "targetRef=\"Nowhere\"");
        let e = parse(&broken).unwrap_err();
        assert_eq!(e.element, "F2");
    }
}
