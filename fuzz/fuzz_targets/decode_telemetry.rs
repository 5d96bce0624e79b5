#![no_main]
//! MQTT payloads from devices (and anchor arguments from gateways) must decode
//! or fail, never panic; decoding is canonical.
use commonware_codec::{Decode, Encode};
use ingot_types::telemetry::{AnchorArg, ReadingBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = bytes::Bytes::copy_from_slice(data);
    if let Ok(batch) = ReadingBatch::decode_cfg(raw.clone(), &()) {
        assert_eq!(batch.encode().as_ref(), data);
        let _ = batch.root_and_message();
    }
    if let Ok(arg) = AnchorArg::decode_cfg(raw, &()) {
        assert_eq!(arg.encode().as_ref(), data);
    }
});
