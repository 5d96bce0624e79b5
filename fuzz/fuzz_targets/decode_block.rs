#![no_main]
//! Blocks from peers must decode or fail, never panic; decoding is canonical.
use commonware_codec::{Decode, Encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = ingot_types::Block::decode_cfg(bytes::Bytes::copy_from_slice(data), &()) {
        assert_eq!(block.encode().as_ref(), data);
        let _ = block.body_matches_header();
    }
});
