//! Canonical call arguments from and to their JSON forms (API, CLI), routed
//! to the module that owns the call.

use crate::registry::module;
use bytes::Bytes;
pub use ingot_module::decode;
pub use ingot_module_identity::CertificateArg;
pub use ingot_module_notary::{RecordArg, TransferArg, MAX_METADATA_LEN};
use serde_json::{json, Value};

/// Build canonical arguments from their JSON form.
pub fn from_json(module_name: &str, method: &str, v: &Value) -> Result<Bytes, String> {
    match module(module_name) {
        Some(m) => m.args_from_json(method, v),
        None => Err(format!("unknown call {module_name}.{method}")),
    }
}

/// Human-readable form of canonical arguments (for block explorers and the
/// CLI); arguments that do not decode are shown as hex.
pub fn to_json(module_name: &str, method: &str, args: &Bytes) -> Value {
    module(module_name)
        .and_then(|m| m.args_to_json(method, args).ok())
        .unwrap_or_else(|| json!({"raw": hex::encode(args)}))
}
