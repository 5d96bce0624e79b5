#![no_main]
//! Telemetry payloads at the gateway: whatever a device (or anyone able to
//! reach the MQTT port) publishes, the gateway's stateless judgement
//! (`ingot_edge::shape::judge_shape`, the same code the gateway runs) gives a
//! batch or a refusal, never a panic; an accepted batch is canonical, yields
//! its signed message, and its signature check answers.
//!
//! Input: one byte (even: the topic names the payload's own device, so the
//! fuzzer gets past the topic check; odd: the topic is "ingot/telemetry/x"),
//! then the payload.
use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_crypto::batch::{verify_all, Item};
use ingot_edge::shape::TOPIC_PREFIX;
use ingot_types::telemetry::ReadingBatch;
use libfuzzer_sys::fuzz_target;

/// The gateway's default payload limit.
const MAX_PAYLOAD: usize = 256 * 1024;
/// A fixed clock, so a crash replays: just after the readings of the
/// device-protocol test vectors the corpus starts from.
const NOW_MS: u64 = 1_796_000_060_000;
/// The Ed25519 device key of those vectors (docs/device-protocol-vectors.json).
const DEVICE_KEY: [u8; 32] = [
    0x5b, 0xa1, 0x13, 0x36, 0x77, 0x11, 0x2c, 0xf7, 0x21, 0x35, 0xb0, 0x42, 0xd1, 0x40, 0x5c, 0x00,
    0xbb, 0xff, 0x7e, 0xb9, 0x90, 0x99, 0x20, 0xe1, 0xb4, 0xe0, 0xe5, 0xb4, 0x7b, 0x46, 0x8c, 0xbe,
];

fuzz_target!(|data: &[u8]| {
    let [flag, payload @ ..] = data else { return };
    let payload = Bytes::copy_from_slice(payload);
    let topic = match ReadingBatch::decode_cfg(payload.clone(), &()) {
        Ok(b) if flag % 2 == 0 => format!("{TOPIC_PREFIX}{}", b.device_id),
        _ => format!("{TOPIC_PREFIX}x"),
    };
    let Ok(batch) = ingot_edge::shape::judge_shape(&topic, &payload, MAX_PAYLOAD, NOW_MS) else {
        return;
    };
    assert_eq!(batch.encode().as_ref(), payload.as_ref());
    let (_, message) = batch.root_and_message();
    let key = ingot_crypto::keys::PublicKey::ed25519_from_raw(&DEVICE_KEY).expect("vector key");
    let _ = verify_all(&[Item {
        key: &key,
        message: &message,
        signature: &batch.signature,
    }]);
});
