#![no_main]
//! Untrusted transaction bytes (API bodies, gossip) must decode or fail, never
//! panic, and whatever decodes must re-encode to the same bytes.
use commonware_codec::Encode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = ingot_types::SignedTransaction::decode_untrusted(data) {
        assert_eq!(tx.encode().as_ref(), data);
        let _ = ingot_execution::args::to_json(
            &tx.tx.call.module,
            &tx.tx.call.method,
            &tx.tx.call.args,
        );
    }
});
