//! The module crates this chain runs, under their short names (the registry
//! is [`crate::registry`]).

pub use ingot_module::{corrupt, decode_args, event, reject, unknown_method, CallError};
pub use ingot_module_access as access;
pub use ingot_module_device as device;
pub use ingot_module_governance as governance;
pub use ingot_module_identity as identity;
pub use ingot_module_notary as notary;
pub use ingot_module_telemetry as telemetry;
pub use ingot_module_workflow as workflow;
