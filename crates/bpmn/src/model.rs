//! The semantic part of a BPMN 2.0 document, as read from XML: what the
//! validator checks and the compiler translates. Diagram interchange is not
//! here (the XML itself is stored with the definition).

use crate::expr::Type;

/// Index of a flow node in [`Model::nodes`].
pub type NodeIx = usize;
/// Index of a sequence flow in [`Model::flows`].
pub type FlowIx = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    None,
    Message,
    Timer,
    /// Boundary events only (errors are thrown by error end events).
    Error,
    /// Boundary events and intermediate throw events.
    Escalation,
    /// Boundary, intermediate catch and throw events: within the instance.
    Signal,
    /// Intermediate throw and catch events: a go-to within one scope, made
    /// a sequence flow before compilation (`implicit`).
    Link,
    /// Intermediate catch and (interrupting) boundary events: fires when its
    /// condition over process variables holds ([`Node::condition`]).
    Conditional,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndKind {
    None,
    Message,
    Terminate,
    Error,
    Escalation,
    Signal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// `bpmn:task`: no type given; behaves like a user task.
    Plain,
    User,
    Manual,
    Service,
    Send,
    Receive,
    /// Decides by the decision table bound in `bindings.decisions`.
    BusinessRule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayKind {
    Exclusive,
    Parallel,
    Inclusive,
    EventBased,
}

/// An activity's loop characteristics as BPMN writes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopDef {
    /// `standardLoopCharacteristics`: repeat while `condition` holds, at
    /// most `maximum` times, testing before or after each iteration.
    Standard {
        condition: Option<String>,
        test_before: bool,
        maximum: Option<String>,
    },
    /// `multiInstanceLoopCharacteristics`: `cardinality` instances, in
    /// parallel or one after another, until `completion` holds.
    Multi {
        sequential: bool,
        cardinality: Option<String>,
        completion: Option<String>,
        /// Over a collection: the list variable (`loopDataInputRef`, or
        /// Camunda's `collection`), one instance per item.
        collection: Option<String>,
        /// The variable each instance's item is given to (`inputDataItem`,
        /// or Camunda's `elementVariable`).
        element: Option<String>,
        /// The list variable gathering each instance's result
        /// (`loopDataOutputRef`) and the variable that result is read from
        /// (`outputDataItem`).
        output: Option<String>,
        output_element: Option<String>,
    },
}

/// The variable a multi-instance reference names: Camunda writes a
/// collection as `${name}` (or `#{name}`), BPMN as the name itself.
pub fn loop_variable_name(raw: &str) -> &str {
    let t = raw.trim();
    t.strip_prefix("${")
        .or_else(|| t.strip_prefix("#{"))
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or(t)
        .trim()
}

/// A timer as BPMN writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimerDef {
    /// `timeDuration`, e.g. `PT48H`.
    Duration(String),
    /// `timeDate`, e.g. `2026-12-01T10:00:00Z`.
    Date(String),
    /// `timeCycle`: recurring timers are not supported.
    Cycle(String),
    /// A timer event definition without any of the three.
    Missing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Start(Trigger),
    End(EndKind),
    Catch(Trigger),
    Throw(Trigger),
    Task(TaskKind),
    Gateway(GatewayKind),
    SubProcess,
    /// An event attached to the boundary of an activity ([`Node::boundary`]).
    Boundary(Trigger),
    /// An event subprocess (`triggeredByEvent`): started inside its scope by
    /// the trigger of its start event while the scope runs.
    EventSubProcess,
    /// Starts a deployed definition and waits for it (bound in
    /// `bindings.calls`; `calledElement` is kept in [`Node::code`]).
    CallActivity,
    /// A flow node Ingot does not run; `tag` is its XML element name (plus the
    /// event definition for unsupported event kinds).
    Unsupported(String),
}

impl NodeKind {
    /// How an element is named in errors and events.
    pub fn describe(&self) -> String {
        match self {
            NodeKind::Start(t) => format!("{} start event", trigger_name(*t)),
            NodeKind::End(e) => match e {
                EndKind::None => "end event".into(),
                EndKind::Message => "message end event".into(),
                EndKind::Terminate => "terminate end event".into(),
                EndKind::Error => "error end event".into(),
                EndKind::Escalation => "escalation end event".into(),
                EndKind::Signal => "signal end event".into(),
            },
            NodeKind::Boundary(t) => format!("{} boundary event", trigger_name(*t)),
            NodeKind::CallActivity => "call activity".into(),
            NodeKind::EventSubProcess => "event subprocess".into(),
            NodeKind::Catch(t) => format!("{} catch event", trigger_name(*t)),
            NodeKind::Throw(t) => format!("{} throw event", trigger_name(*t)),
            NodeKind::Task(k) => format!("{k:?} task").to_lowercase(),
            NodeKind::Gateway(g) => match g {
                GatewayKind::Exclusive => "exclusive gateway".into(),
                GatewayKind::Parallel => "parallel gateway".into(),
                GatewayKind::Inclusive => "inclusive gateway".into(),
                GatewayKind::EventBased => "event-based gateway".into(),
            },
            NodeKind::SubProcess => "subprocess".into(),
            NodeKind::Unsupported(tag) => tag.clone(),
        }
    }
}

fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::None => "none",
        Trigger::Message => "message",
        Trigger::Timer => "timer",
        Trigger::Error => "error",
        Trigger::Escalation => "escalation",
        Trigger::Signal => "signal",
        Trigger::Link => "link",
        Trigger::Conditional => "conditional",
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub kind: NodeKind,
    /// Index of the pool (process) the node belongs to.
    pub pool: usize,
    /// The embedded subprocess directly containing it, if any.
    pub parent: Option<NodeIx>,
    /// The lane listing it (`flowNodeRef`), if any.
    pub lane: Option<String>,
    pub incoming: Vec<FlowIx>,
    pub outgoing: Vec<FlowIx>,
    /// Gateway `default` flow, by id until resolved.
    pub default_flow: Option<String>,
    pub timer: Option<TimerDef>,
    /// Conditional events: the condition (expression language).
    pub condition: Option<String>,
    /// Output variables named by data output associations and form fields,
    /// with the type a form field gives (data objects are typed separately).
    pub outputs: Vec<(String, Option<Type>)>,
    /// A loop or multi-instance marker.
    pub looped: Option<LoopDef>,
    /// Boundary events: the activity attached to, and whether the event
    /// interrupts it (`cancelActivity`, default true).
    pub boundary: Option<(String, bool)>,
    /// Start events of event subprocesses: `isInterrupting` (default true).
    pub interrupting: bool,
    /// Error, escalation and signal events: the error or escalation code
    /// (else the id of the `error`/`escalation` element referred to), or the
    /// signal's name (else its id); `None` when no reference is given (a
    /// catch-all for catching events). Call activities: `calledElement`;
    /// business rule tasks: `decisionRef` (a DMN decision's id).
    pub code: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Flow {
    pub id: String,
    pub name: String,
    pub source: String,
    pub target: String,
    /// Condition text and the XML element's position (for error messages).
    pub condition: Option<String>,
}

#[derive(Clone, Debug)]
pub struct MessageFlow {
    pub id: String,
    pub name: String,
    /// Element ids: a flow node or a participant.
    pub source: String,
    pub target: String,
}

/// A pool: a participant and the process it runs. A document without a
/// collaboration has one pool, named after its process.
#[derive(Clone, Debug)]
pub struct Pool {
    /// Participant id (or the process id when there is no collaboration).
    pub id: String,
    pub name: String,
    pub process_id: String,
    pub process_name: String,
}

#[derive(Clone, Debug)]
pub struct Lane {
    pub id: String,
    pub name: String,
    pub pool: usize,
}

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub pools: Vec<Pool>,
    pub lanes: Vec<Lane>,
    pub nodes: Vec<Node>,
    pub flows: Vec<Flow>,
    pub message_flows: Vec<MessageFlow>,
    /// Data objects: (id, variable name, declared type).
    pub variables: Vec<(String, String, Option<Type>)>,
    /// Participants without a process (black-box pools: parties outside).
    pub external: Vec<String>,
    /// Receivers whose message comes from outside: (element, participant).
    pub from_outside: Vec<(String, String)>,
}

impl Model {
    pub fn node(&self, id: &str) -> Option<NodeIx> {
        self.nodes.iter().position(|n| n.id == id)
    }

    pub fn flow(&self, id: &str) -> Option<FlowIx> {
        self.flows.iter().position(|f| f.id == id)
    }

    pub fn pool_of_participant(&self, id: &str) -> Option<usize> {
        self.pools.iter().position(|p| p.id == id)
    }
}
