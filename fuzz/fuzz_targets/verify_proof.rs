#![no_main]
//! Proof bytes from an untrusted node must never panic the verifier.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 33 {
        return;
    }
    let root = ingot_types::Digest::from(<[u8; 32]>::try_from(&data[..32]).unwrap());
    let rest = &data[32..];
    let present = rest[0] & 1 == 1;
    let _ = ingot_state::verify_proof(&root, b"key", present.then_some(&b"value"[..]), &rest[1..]);
});
