//! The compiled form of a process, stored on chain, and the state of one
//! running instance. Both have canonical encodings; the chain executes only
//! these, never the XML.
//!
//! Places are the sequence flows (tokens travel on flows, as in the
//! Caterpillar translation) plus *active* flow nodes: tasks waiting for
//! completion, catch events waiting for their trigger, armed event-based
//! gateways and running subprocesses.

use crate::expr::Value;
use bytes::Bytes;
use ingot_types::record;

/// Limits of a compiled process (see docs/workflows.md).
pub const MAX_NODES: usize = 256;
pub const MAX_FLOWS: usize = 512;
pub const MAX_MESSAGES: usize = 128;
pub const MAX_VARIABLES: usize = 64;
pub const MAX_ALLOWED: usize = 16;
pub const MAX_ARGS: usize = 16;
pub const MAX_ID_LEN: usize = 128;
pub const MAX_LABEL_LEN: usize = 256;
pub const MAX_EXPR_BYTES: usize = 1024;
/// Automatic steps one transaction may take before it is refused.
pub const MAX_STEPS: usize = 256;
/// Tokens (on flows and active nodes) one instance may hold.
pub const MAX_TOKENS: usize = 64;

/// Node kinds (`MNode::kind`).
pub mod kind {
    pub const START: u8 = 0;
    pub const END: u8 = 1;
    pub const CATCH: u8 = 2;
    pub const THROW: u8 = 3;
    pub const TASK: u8 = 4;
    pub const GATEWAY: u8 = 5;
    pub const SUBPROCESS: u8 = 6;
    /// An event on the boundary of an activity (`MNode::attached`).
    pub const BOUNDARY: u8 = 7;
    /// A call activity: waits while the definition it calls runs
    /// (`MNode::call`).
    pub const CALL: u8 = 8;
}
/// `MNode::sub` for events: trigger.
pub mod trigger {
    pub const NONE: u8 = 0;
    pub const MESSAGE: u8 = 1;
    pub const TIMER: u8 = 2;
    /// End events only.
    pub const TERMINATE: u8 = 3;
    /// Boundary and end events.
    pub const ERROR: u8 = 4;
    /// Boundary, intermediate throw and end events.
    pub const ESCALATION: u8 = 5;
    /// Boundary, intermediate catch and throw, and end events.
    pub const SIGNAL: u8 = 6;
    /// Intermediate catch and boundary events (`MNode::condition`).
    pub const CONDITIONAL: u8 = 7;
}
/// `MNode::sub` for tasks.
pub mod task {
    pub const USER: u8 = 0;
    pub const MANUAL: u8 = 1;
    pub const PLAIN: u8 = 2;
    pub const SERVICE: u8 = 3;
    pub const SEND: u8 = 4;
    pub const RECEIVE: u8 = 5;
    /// Decides by its decision table (`MNode::decision`).
    pub const RULE: u8 = 6;
}
/// `MNode::sub` for subprocesses.
pub mod subprocess {
    pub const EMBEDDED: u8 = 0;
    /// Started by the trigger of its start event while its scope runs.
    pub const EVENT: u8 = 1;
}
/// `MNode::sub` for gateways.
pub mod gateway {
    pub const EXCLUSIVE: u8 = 0;
    pub const PARALLEL: u8 = 1;
    pub const INCLUSIVE: u8 = 2;
    pub const EVENT: u8 = 3;
}

record! {
    /// A timer: relative to the moment the token arrives, or absolute; a
    /// repeating one (`timeCycle`) then fires every `every_ms`, `repeats`
    /// times in all.
    pub struct Timer {
        pub after_ms: Option<u64> = (),
        pub at_ms: Option<u64> = (),
        pub every_ms: Option<u64> = (),
        pub repeats: u32 = (),
    }
}

record! {
    /// One argument of a service call: name and expression source.
    pub struct ServiceArg {
        pub name: String = MAX_ID_LEN,
        pub expr: String = MAX_EXPR_BYTES,
    }
}

record! {
    /// The native call a service task makes.
    pub struct Service {
        pub module: String = 32,
        pub method: String = 32,
        pub args: Vec<ServiceArg> = (MAX_ARGS, ()),
    }
}

record! {
    /// A variable of the called process set from the caller's: the called
    /// variable's name and an expression over the caller's variables.
    pub struct CallInput {
        pub name: String = MAX_ID_LEN,
        pub expr: String = MAX_EXPR_BYTES,
    }
}

record! {
    /// A caller's variable (index) set from the called process's variable
    /// of that name when it completes.
    pub struct CallOutput {
        pub variable: u16 = (),
        pub from: String = MAX_ID_LEN,
    }
}

record! {
    /// What a call activity starts: a deployed definition (its latest
    /// version when none is given) with inputs, and what comes back.
    pub struct CallSpec {
        pub definition: String = MAX_ID_LEN,
        pub version: Option<u32> = (),
        pub inputs: Vec<CallInput> = (MAX_VARIABLES, ()),
        pub outputs: Vec<CallOutput> = (MAX_VARIABLES, ()),
    }
}

/// `Decision::hit`: which matching rules give the outputs (the hit
/// policies of DMN 1.3 §8.2.10 that single-value outputs allow).
pub mod hit {
    /// The first matching rule in table order.
    pub const FIRST: u8 = 0;
    /// Exactly one rule may match; several is an error.
    pub const UNIQUE: u8 = 1;
    /// Several may match if they give the same outputs.
    pub const ANY: u8 = 2;
    /// Every matching rule, each output aggregated (integer and decimal
    /// outputs; count gives the number of matching rules).
    pub const COLLECT_SUM: u8 = 3;
    pub const COLLECT_MIN: u8 = 4;
    pub const COLLECT_MAX: u8 = 5;
    pub const COLLECT_COUNT: u8 = 6;
    pub const NAMES: [&str; 7] = [
        "first",
        "unique",
        "any",
        "collect_sum",
        "collect_min",
        "collect_max",
        "collect_count",
    ];
}

/// Rules of one decision table.
pub const MAX_RULES: usize = 64;

record! {
    /// One rule: when `when` holds, each output variable takes its
    /// expression's value.
    pub struct Rule {
        pub when: String = MAX_EXPR_BYTES,
        pub then: Vec<ServiceArg> = (MAX_VARIABLES, ()),
    }
}

record! {
    /// A business rule task's decision table (bindings.decisions).
    pub struct Decision {
        pub hit: u8 = (),
        pub rules: Vec<Rule> = (MAX_RULES, ()),
    }
}

/// `LoopSpec::kind`.
pub mod looping {
    pub const STANDARD: u8 = 0;
    pub const PARALLEL: u8 = 1;
    pub const SEQUENTIAL: u8 = 2;
}

/// Most iterations of a standard loop (its `loopMaximum` when smaller).
pub const MAX_LOOP_ITERATIONS: u32 = 1_000;
// One instance per item: a collection can never ask for more instances
// than an instance may hold tokens, and a loopCounter fits in a u16.
const _: () = assert!(crate::expr::MAX_LIST_ITEMS <= MAX_TOKENS);
const _: () = assert!(MAX_TOKENS <= u16::MAX as usize);

record! {
    /// How a task repeats: a standard loop (`condition` to go on, tested
    /// before or after, at most `maximum` iterations) or multi-instance
    /// (`cardinality` instances, in parallel or in sequence; `condition`
    /// is the completion condition).
    pub struct LoopSpec {
        pub kind: u8 = (),
        pub condition: Option<String> = MAX_EXPR_BYTES,
        pub test_before: bool = (),
        pub maximum: u32 = (),
        pub cardinality: Option<String> = MAX_EXPR_BYTES,
        /// Over a collection: the list variable (one instance per item)
        /// and the variable each instance's item is given to.
        pub collection: Option<u16> = (),
        pub element: Option<u16> = (),
        /// The list variable gathering each instance's result, and the
        /// variable the result is read from when an instance ends.
        pub output: Option<u16> = (),
        pub output_element: Option<u16> = (),
    }
}

record! {
    /// Iterations of a looping task in a running instance.
    pub struct LoopCount {
        pub node: u16 = (),
        pub done: u32 = (),
        pub total: u32 = (),
        /// A parallel multi-instance task: the instances (their
        /// `loopCounter`) still waiting to be completed.
        pub open: Vec<u16> = (MAX_TOKENS, ()),
        /// Over a collection: its items when the task began (a change to
        /// the variable meanwhile does not move the instances under way).
        pub items: Vec<String> = (crate::expr::MAX_LIST_ITEMS, crate::expr::MAX_STRING_VALUE_LEN),
    }
}

record! {
    /// A chain event a message event waits for: `module.kind` with attribute
    /// `attribute` equal to the value of variable `variable` (its index).
    pub struct Subscription {
        pub module: String = 32,
        pub kind: String = 32,
        pub attribute: String = MAX_ID_LEN,
        pub variable: u16 = (),
    }
}

record! {
    /// A process variable set from an event attribute.
    pub struct EventVar {
        pub variable: u16 = (),
        pub attribute: String = MAX_ID_LEN,
    }
}

record! {
    /// A chain event that starts a new instance at a message start event:
    /// `module.kind` with attribute `attribute` equal to `value`.
    pub struct StartTrigger {
        pub module: String = 32,
        pub kind: String = 32,
        pub attribute: String = MAX_ID_LEN,
        pub value: String = MAX_LABEL_LEN,
        pub vars: Vec<EventVar> = (MAX_VARIABLES, ()),
    }
}

record! {
    pub struct MNode {
        pub id: String = MAX_ID_LEN,
        pub name: String = MAX_LABEL_LEN,
        pub kind: u8 = (),
        pub sub: u8 = (),
        pub pool: u16 = (),
        /// Enclosing subprocess (node index).
        pub parent: Option<u16> = (),
        pub incoming: Vec<u16> = (MAX_FLOWS, ()),
        pub outgoing: Vec<u16> = (MAX_FLOWS, ()),
        pub default_flow: Option<u16> = (),
        /// Who may complete it (tasks waiting for a person).
        pub allowed: Vec<String> = (MAX_ALLOWED, crate::binding::MAX_ACTOR_LEN),
        /// Variables that completing it must supply (indices).
        pub outputs: Vec<u16> = (MAX_VARIABLES, ()),
        pub timer: Option<Timer> = (),
        pub service: Option<Service> = (),
        pub subscription: Option<Subscription> = (),
        pub start_trigger: Option<StartTrigger> = (),
        /// Message flows it sends along (indices).
        pub sends: Vec<u16> = (MAX_MESSAGES, ()),
        /// Boundary events: the activity they are attached to, and whether
        /// they interrupt it (for the start event of an event subprocess:
        /// whether it interrupts the scope around it).
        pub attached: Option<u16> = (),
        pub interrupting: bool = (),
        /// Error, escalation and signal events: the code (or signal name)
        /// thrown or caught; none on a catching event catches every code.
        pub code: Option<String> = MAX_ID_LEN,
        /// Conditional events: the condition that fires them.
        pub condition: Option<String> = MAX_EXPR_BYTES,
        /// Call activities: the definition they start.
        pub call: Option<CallSpec> = (),
        /// Tasks with a loop or multi-instance marker.
        pub looping: Option<LoopSpec> = (),
        /// Business rule tasks: the decision table.
        pub decision: Option<Decision> = (),
        /// Inclusive joins: for each incoming flow (same order), the places
        /// from which a token can still reach it without passing this join,
        /// as a bit set over flows then nodes.
        pub upstream: Vec<Bytes> = (MAX_FLOWS, (MAX_FLOWS + MAX_NODES) / 8 + 1),
    }
}

record! {
    pub struct MFlow {
        pub id: String = MAX_ID_LEN,
        pub name: String = MAX_LABEL_LEN,
        pub source: u16 = (),
        pub target: u16 = (),
        pub condition: Option<String> = MAX_EXPR_BYTES,
    }
}

record! {
    pub struct MMessage {
        pub id: String = MAX_ID_LEN,
        pub name: String = MAX_LABEL_LEN,
        pub source: u16 = (),
        pub target: u16 = (),
    }
}

record! {
    pub struct Variable {
        pub name: String = MAX_ID_LEN,
        pub ty: u8 = (),
    }
}

record! {
    /// A compiled process definition.
    pub struct Machine {
        pub name: String = MAX_ID_LEN,
        pub nodes: Vec<MNode> = (MAX_NODES, ()),
        pub flows: Vec<MFlow> = (MAX_FLOWS, ()),
        pub messages: Vec<MMessage> = (MAX_MESSAGES, ()),
        pub variables: Vec<Variable> = (MAX_VARIABLES, ()),
        /// None and timer start events of the pools that start with the instance.
        pub starts: Vec<u16> = (MAX_NODES, ()),
        /// Variables `start` must supply.
        pub start_outputs: Vec<u16> = (MAX_VARIABLES, ()),
        pub start_allowed: Vec<String> = (MAX_ALLOWED, crate::binding::MAX_ACTOR_LEN),
        pub cancel_allowed: Vec<String> = (MAX_ALLOWED, crate::binding::MAX_ACTOR_LEN),
    }
}

impl Machine {
    pub fn node_index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    pub fn variable_index(&self, name: &str) -> Option<usize> {
        self.variables.iter().position(|v| v.name == name)
    }

    /// Is `node` inside subprocess `scope` (at any depth)?
    pub fn within(&self, node: usize, scope: usize) -> bool {
        let mut at = self.nodes[node].parent;
        // Depth is bounded by the node count; a corrupt parent cycle must not hang.
        for _ in 0..self.nodes.len() {
            match at {
                Some(p) if p as usize == scope => return true,
                Some(p) => at = self.nodes.get(p as usize).and_then(|n| n.parent),
                None => return false,
            }
        }
        false
    }

    /// Is `node` a place that waits (tasks for a person or message, catch events)?
    pub fn waits_for_person(&self, node: usize) -> bool {
        let n = &self.nodes[node];
        n.kind == kind::TASK && matches!(n.sub, task::USER | task::MANUAL | task::PLAIN)
    }
}

/// Instance states.
pub mod state {
    pub const RUNNING: u8 = 0;
    pub const COMPLETED: u8 = 1;
    pub const TERMINATED: u8 = 2;
    pub const CANCELLED: u8 = 3;

    pub fn name(s: u8) -> &'static str {
        match s {
            RUNNING => "running",
            COMPLETED => "completed",
            TERMINATED => "terminated",
            CANCELLED => "cancelled",
            _ => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<u8> {
        [RUNNING, COMPLETED, TERMINATED, CANCELLED]
            .into_iter()
            .find(|c| name(*c) == s)
    }
}

record! {
    /// Tokens on one flow.
    pub struct Mark {
        pub flow: u16 = (),
        pub count: u16 = (),
    }
}

record! {
    /// An armed timer; `left` more times after this one for a repeating timer.
    pub struct Due {
        pub node: u16 = (),
        pub at_ms: u64 = (),
        pub left: u32 = (),
    }
}

record! {
    pub struct Assigned {
        pub variable: u16 = (),
        pub value: Value = (),
    }
}

record! {
    /// One instance of a parallel multi-instance subprocess while it is set
    /// aside: the tokens inside the subprocess that are its own, and its own
    /// values of the item and result variables (its own and those of the
    /// looping activities inside it). `started` is false for an
    /// instance that has not begun yet (it holds nothing).
    pub struct Parked {
        pub node: u16 = (),
        pub counter: u16 = (),
        pub started: bool = (),
        pub marks: Vec<Mark> = (MAX_TOKENS, ()),
        pub active: Vec<u16> = (MAX_TOKENS, ()),
        pub timers: Vec<Due> = (MAX_TOKENS, ()),
        pub loops: Vec<LoopCount> = (MAX_TOKENS, ()),
        pub locals: Vec<Assigned> = (MAX_VARIABLES, ()),
    }
}

record! {
    /// One running (or finished) process instance.
    pub struct Instance {
        pub id: String = MAX_ID_LEN + 24,
        pub definition: String = MAX_ID_LEN,
        pub version: u32 = (),
        pub state: u8 = (),
        pub marks: Vec<Mark> = (MAX_TOKENS, ()),
        /// Active nodes (a node may be active more than once).
        pub active: Vec<u16> = (MAX_TOKENS, ()),
        /// Messages that arrived before their receiver was waiting.
        pub pending: Vec<u16> = (MAX_TOKENS, ()),
        pub timers: Vec<Due> = (MAX_TOKENS, ()),
        pub vars: Vec<Assigned> = (MAX_VARIABLES, ()),
        pub starter: [u8; 32] = (),
        pub starter_org: String = 256,
        pub created_ms: u64 = (),
        pub updated_ms: u64 = (),
        pub created_height: u64 = (),
        /// Number of history entries.
        pub steps: u32 = (),
        /// A top-level terminate end event fired.
        pub terminated: bool = (),
        /// Looping tasks under way.
        pub loops: Vec<LoopCount> = (MAX_TOKENS, ()),
        /// Instances of parallel multi-instance subprocesses set aside,
        /// each with its own tokens (see [`crate::branch`]).
        pub parked: Vec<Parked> = (MAX_TOKENS, ()),
    }
}
