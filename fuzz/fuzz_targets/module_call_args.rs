#![no_main]
//! Module call arguments come from anyone who can sign a transaction, and the
//! API renders them for every reader of a block. For every module: arguments
//! that decode render to JSON without panicking, and where that JSON — what
//! a client reads back — is accepted as arguments again, it builds exactly
//! the same canonical bytes (some renderings are summaries by design: a
//! certificate shown by its hash, an anchor by its batches' sizes; those are
//! refused as arguments, never read as something else).
//!
//! Input: one byte choosing the module, one byte giving the method name's
//! length, the method name, then the argument bytes.
use ingot_execution::registry::MODULES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [pick, len, rest @ ..] = data else { return };
    let module = MODULES[*pick as usize % MODULES.len()];
    let len = (*len as usize).min(rest.len());
    let Ok(method) = std::str::from_utf8(&rest[..len]) else {
        return;
    };
    let args = bytes::Bytes::copy_from_slice(&rest[len..]);
    let Ok(json) = module.args_to_json(method, &args) else {
        return;
    };
    if let Ok(again) = module.args_from_json(method, &json) {
        assert_eq!(again, args, "{}.{method}: {json}", module.name());
    }
});
