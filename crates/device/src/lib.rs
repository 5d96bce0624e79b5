//! Device-side Ingot: what firmware (or a device simulator) links to produce
//! signed telemetry the edge gateway and the chain accept.
//!
//! ```no_run
//! use ingot_device::{DeviceSigner, measurement, Reading};
//! # let key = ingot_device::PrivateKey::generate(ingot_crypto::Scheme::Ed25519).unwrap();
//! let mut probe = DeviceSigner::new("acme:probe-7", key, 1);
//! let batch = probe.sign(vec![Reading {
//!     timestamp_ms: 1_700_000_000_000,
//!     measurements: vec![measurement("vibration", 1234, 3, "mm/s")],
//! }]).unwrap();
//! let (topic, payload) = (ingot_device::topic(&batch.device_id), ingot_device::payload(&batch));
//! // publish `payload` on `topic` with QoS 1
//! ```
//!
//! The encoding is specified in [`ingot_types::telemetry`]; this crate only
//! keeps the sequence counter and signs. The counter must survive reboots
//! (persist [`DeviceSigner::next_seq`]): a reused sequence number is refused by
//! the chain as a replay, a skipped one is recorded as a gap.

use bytes::Bytes;
use commonware_codec::Encode;
pub use ingot_crypto::PrivateKey;
pub use ingot_types::telemetry::{
    Measurement, Reading, ReadingBatch, MAX_BATCH_BYTES, MAX_BATCH_READINGS,
};

/// MQTT topic prefix the gateway subscribes to; the device id follows it.
pub const TOPIC_PREFIX: &str = "ingot/telemetry/";

/// The topic a device publishes its batches on.
pub fn topic(device_id: &str) -> String {
    format!("{TOPIC_PREFIX}{device_id}")
}

/// The MQTT payload of a batch: its canonical encoding.
pub fn payload(batch: &ReadingBatch) -> Vec<u8> {
    batch.encode().to_vec()
}

/// A measurement of `value × 10^-scale` `unit`.
pub fn measurement(name: &str, value: i64, scale: u8, unit: &str) -> Measurement {
    Measurement {
        name: name.into(),
        value,
        scale,
        unit: unit.into(),
    }
}

#[derive(Debug)]
pub enum SignError {
    Empty,
    TooMany(usize),
    /// The encoded batch would exceed [`MAX_BATCH_BYTES`]: no anchoring
    /// transaction could carry it (the gateway refuses it as
    /// `too_large_for_chain`). Sign fewer readings per batch.
    TooLarge(usize),
    Key(String),
}

impl std::fmt::Display for SignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignError::Empty => write!(f, "a batch needs at least one reading"),
            SignError::TooMany(n) => write!(
                f,
                "{n} readings exceed the batch limit of {MAX_BATCH_READINGS}"
            ),
            SignError::TooLarge(n) => write!(
                f,
                "the batch encodes to {n} bytes, more than the {MAX_BATCH_BYTES} an anchoring transaction carries: sign fewer readings per batch"
            ),
            SignError::Key(e) => write!(f, "signing failed: {e}"),
        }
    }
}

impl std::error::Error for SignError {}

/// A device's signing key and sequence counter.
pub struct DeviceSigner {
    device_id: String,
    key: PrivateKey,
    next_seq: u64,
}

impl DeviceSigner {
    /// `next_seq` is the number the next reading gets (1 for a new device).
    pub fn new(device_id: impl Into<String>, key: PrivateKey, next_seq: u64) -> Self {
        Self {
            device_id: device_id.into(),
            key,
            next_seq,
        }
    }

    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The sequence number the next reading will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Number `readings` consecutively and sign them as one batch.
    pub fn sign(&mut self, readings: Vec<Reading>) -> Result<ReadingBatch, SignError> {
        let batch = self.sign_at(self.next_seq, readings)?;
        self.next_seq += batch.readings.len() as u64;
        Ok(batch)
    }

    /// Sign `readings` as a batch starting at `first_seq`, without touching the
    /// counter (for tests and tools that need specific numbering).
    pub fn sign_at(
        &self,
        first_seq: u64,
        readings: Vec<Reading>,
    ) -> Result<ReadingBatch, SignError> {
        if readings.is_empty() {
            return Err(SignError::Empty);
        }
        if readings.len() > MAX_BATCH_READINGS {
            return Err(SignError::TooMany(readings.len()));
        }
        let mut batch = ReadingBatch {
            device_id: self.device_id.clone(),
            first_seq,
            readings,
            signature: Bytes::new(),
        };
        let (_, message) = batch.root_and_message();
        batch.signature = self
            .key
            .sign(&message)
            .map_err(|e| SignError::Key(e.to_string()))?
            .into();
        let size = commonware_codec::EncodeSize::encode_size(&batch);
        if size > MAX_BATCH_BYTES {
            return Err(SignError::TooLarge(size));
        }
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_crypto::Scheme;

    #[test]
    fn signs_consecutive_batches_that_verify() {
        for scheme in [Scheme::Ed25519, Scheme::P256, Scheme::Sm2] {
            let key = PrivateKey::generate(scheme).unwrap();
            let public = key.public_key();
            let mut signer = DeviceSigner::new("acme:p1", key, 1);
            let reading = |t| Reading {
                timestamp_ms: t,
                measurements: vec![measurement("t", 1, 0, "C")],
            };
            let a = signer.sign(vec![reading(1), reading(2)]).unwrap();
            let b = signer.sign(vec![reading(3)]).unwrap();
            assert_eq!((a.first_seq, b.first_seq, signer.next_seq()), (1, 3, 4));
            for batch in [&a, &b] {
                let (_, msg) = batch.root_and_message();
                public.verify(&msg, &batch.signature).unwrap();
            }
            assert!(signer.sign(vec![]).is_err());
            // Within the reading limit but too large for any transaction:
            // refused before it reaches the gateway, the counter untouched.
            let big: Vec<Reading> = (0..2_500).map(reading).collect();
            assert!(matches!(signer.sign(big), Err(SignError::TooLarge(_))));
            assert_eq!(signer.next_seq(), 4);
            assert_eq!(topic("acme:p1"), "ingot/telemetry/acme:p1");
        }
    }
}
