//! BPMN 2.0 processes as on-chain contracts (docs/workflows.md).
//!
//! - [`xml`] reads BPMN XML as modelers save it into a [`model::Model`];
//! - [`binding`] reads the deployment bindings (who plays which lane, what
//!   each service task calls, which chain event a message event waits for);
//! - [`implicit`] makes BPMN's implicit starts and conditional flows
//!   explicit elements;
//! - [`compile`] validates both and compiles them into a [`machine::Machine`],
//!   the compact token machine stored on chain;
//! - [`engine`] is the machine's semantics: start, complete, timers,
//!   messages, cancel — bounded work per call, deterministic;
//! - [`expr`] is the condition language (typed, no floats, no loops);
//! - [`diagram`] keeps the layout (BPMNDI) apart from the process, so it
//!   does not count toward the deployable size;
//! - [`skeleton`] makes the bindings a document needs, with placeholders;
//! - [`lint`] warns about legal but suspicious models (never blocks, not
//!   run on chain).

pub mod binding;
pub mod branch;
pub mod compile;
pub mod diagram;
pub mod dmn;
pub mod engine;
pub mod error;
pub mod expr;
pub mod implicit;
pub mod lint;
pub mod machine;
pub mod model;
pub mod refusal;
pub mod skeleton;
pub mod timer;
pub mod xml;

pub use binding::{Actor, Bindings};
pub use compile::{compile, compile_xml, validate_xml, MAX_VALIDATE_BYTES};
pub use error::{ErrorKind, Problem, Problems};
pub use lint::{compiled_warnings, warnings, warnings_xml, Warning};
pub use machine::{Instance, Machine};
pub use refusal::{Refusal, RefusalKind};
