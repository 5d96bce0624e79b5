//! Signed device telemetry: the canonical encoding device firmware produces.
//!
//! A device measures [`Reading`]s, numbers them with its own sequence number
//! (1, 2, 3, ... never reused) and signs them in a [`ReadingBatch`]: one or
//! many readings under a single signature. The signature covers a Merkle root
//! over the readings, so a 1 kHz probe signs once per batch while every
//! reading stays individually provable.
//!
//! # Encoding (all integers big-endian, `varint` = LEB128 u32)
//!
//! ```text
//! Measurement  = name:str(≤32) value:i64 scale:u8 unit:str(≤16)
//!                (the value is value × 10^-scale: fixed point, no floats)
//! Reading      = timestamp_ms:u64 count:varint Measurement{count ≤ 16}
//! ReadingBatch = device_id:str(≤200) first_seq:u64
//!                count:varint Reading{1 ≤ count ≤ 4096} signature:bytes(≤128)
//! str / bytes  = len:varint raw
//! ```
//!
//! Reading `i` of a batch has sequence number `first_seq + i`. Its leaf hash is
//! `SHA-256("ingot/reading/v1" ‖ str(device_id) ‖ seq:u64 ‖ Reading)`; the
//! batch root is the binary Merkle tree (commonware BMT, SHA-256) over those
//! leaves in order; the device signs
//!
//! ```text
//! "ingot/telemetry/v1" ‖ str(device_id) ‖ first_seq:u64 ‖ count:u32 ‖ root
//! ```
//!
//! with the key of its registered device certificate (Ed25519, ECDSA P-256 or
//! SM2, as for transactions). Published over MQTT, the payload is exactly one
//! encoded `ReadingBatch` on topic `ingot/telemetry/<device_id>`.

use crate::{limits::MAX_SIGNATURE_BYTES, merkle, sha256, Digest};
use bytes::Bytes;
use commonware_codec::Encode;

/// Longest device id (as in the device registry).
pub const MAX_DEVICE_ID_LEN: usize = 200;
/// Longest measurement name and unit.
pub const MAX_MEASUREMENT_NAME: usize = 32;
pub const MAX_UNIT_LEN: usize = 16;
/// Most measurements in one reading.
pub const MAX_MEASUREMENTS: usize = 16;
/// Most readings under one signature.
pub const MAX_BATCH_READINGS: usize = 4096;
/// Largest decimal scale (10^-18).
pub const MAX_SCALE: u8 = 18;
/// Most signed batches one anchoring transaction carries.
pub const MAX_ANCHOR_BATCHES: usize = 512;
/// Bytes of an anchoring transaction's arguments kept for the batch list's
/// length prefix (a varint of at most 5 bytes; the rest is headroom).
pub const ANCHOR_FRAMING_BYTES: usize = 64;
/// Largest encoded batch any anchoring transaction can carry: the real
/// batch size limit a device must respect (docs/device-protocol.md §5).
pub const MAX_BATCH_BYTES: usize = crate::limits::MAX_ARGS_BYTES - ANCHOR_FRAMING_BYTES;
const _: () = assert!(ANCHOR_FRAMING_BYTES >= 5 && MAX_BATCH_BYTES > 0);

const READING_DOMAIN: &[u8] = b"ingot/reading/v1";
const BATCH_DOMAIN: &[u8] = b"ingot/telemetry/v1";
const COMMITMENT_DOMAIN: &[u8] = b"ingot/commitment/v1";

crate::record! {
    /// One measured quantity: `value × 10^-scale` in `unit`.
    pub struct Measurement {
        pub name: String = MAX_MEASUREMENT_NAME,
        pub value: i64 = (),
        pub scale: u8 = (),
        pub unit: String = MAX_UNIT_LEN,
    }
}

crate::record! {
    /// What a device measured at one instant (its own clock, ms since epoch).
    pub struct Reading {
        pub timestamp_ms: u64 = (),
        pub measurements: Vec<Measurement> = (MAX_MEASUREMENTS, ()),
    }
}

crate::record! {
    /// Consecutive readings of one device under one signature.
    pub struct ReadingBatch {
        pub device_id: String = MAX_DEVICE_ID_LEN,
        pub first_seq: u64 = (),
        pub readings: Vec<Reading> = (MAX_BATCH_READINGS, ()),
        pub signature: Bytes = MAX_SIGNATURE_BYTES,
    }
}

crate::record! {
    /// telemetry.anchor: batches of any devices, collected by a gateway.
    pub struct AnchorArg {
        pub batches: Vec<ReadingBatch> = (MAX_ANCHOR_BATCHES, ()),
    }
}

crate::record! {
    /// What the chain commits to for one accepted batch. The commitments of one
    /// anchoring transaction form a Merkle tree whose root its receipt carries.
    pub struct BatchCommitment {
        pub device_id: String = MAX_DEVICE_ID_LEN,
        pub first_seq: u64 = (),
        pub count: u32 = (),
        pub first_ts_ms: u64 = (),
        pub last_ts_ms: u64 = (),
        /// Merkle root over the batch's reading leaves.
        pub root: [u8; 32] = (),
        /// Who signed: empty when the device itself did (device-signed);
        /// otherwise the id of the gateway device that read plant equipment
        /// unable to sign and signed for it (gateway-attested, a lower trust
        /// level). Committed so every proof says which it is.
        pub attested_by: String = MAX_DEVICE_ID_LEN,
    }
}

/// Leaf hash of the reading numbered `seq` of `device_id`.
/// `sha256(READING_DOMAIN ‖ device id (length-prefixed) ‖ seq (u64 BE) ‖
/// reading encoding)`; written once, in [`reading_leaves`].
pub fn reading_leaf(device_id: &str, seq: u64, reading: &Reading) -> Digest {
    reading_leaves(device_id, seq, std::slice::from_ref(reading))[0]
}

/// Merkle root over the readings of a batch starting at `first_seq`.
pub fn readings_root(device_id: &str, first_seq: u64, readings: &[Reading]) -> Digest {
    merkle::root(&reading_leaves(device_id, first_seq, readings))
}

/// Leaf hashes of consecutive readings (one encoding buffer for the whole
/// batch, since validators hash every reading).
pub fn reading_leaves(device_id: &str, first_seq: u64, readings: &[Reading]) -> Vec<Digest> {
    use commonware_codec::Write;
    let mut id = Vec::with_capacity(device_id.len() + 2);
    crate::codec_util::write_str(device_id, &mut id);
    let mut encoded = Vec::with_capacity(64);
    readings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            encoded.clear();
            r.write(&mut encoded);
            // Wrapping keeps this total: a batch whose sequence numbers
            // overflow decodes, and is refused (`sequence_overflow`) by the
            // gateway and the chain, but hashing it must not panic (found
            // by the `decode_telemetry` fuzz target). Below the overflow the
            // value is the plain sum, so no leaf changes.
            let seq = first_seq.wrapping_add(i as u64).to_be_bytes();
            sha256(&[READING_DOMAIN, &id, &seq, &encoded])
        })
        .collect()
}

/// The bytes a device signs for a batch.
pub fn signing_message(device_id: &str, first_seq: u64, count: u32, root: &Digest) -> Vec<u8> {
    let mut msg = Vec::with_capacity(BATCH_DOMAIN.len() + device_id.len() + 48);
    msg.extend_from_slice(BATCH_DOMAIN);
    crate::codec_util::write_str(device_id, &mut msg);
    msg.extend_from_slice(&first_seq.to_be_bytes());
    msg.extend_from_slice(&count.to_be_bytes());
    msg.extend_from_slice(root.as_ref());
    msg
}

/// Who sent an encoded batch and how many readings it holds, read from its
/// first fields without decoding the readings (a forwarder packs batches by
/// device and size and never needs the readings themselves).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchHead {
    pub device_id: String,
    pub first_seq: u64,
    pub count: usize,
}

/// Read the [`BatchHead`] of a [`ReadingBatch`] in canonical encoding.
pub fn peek_batch(raw: &[u8]) -> Result<BatchHead, commonware_codec::Error> {
    use commonware_codec::ReadExt;
    // Only the head is read: device id (length prefix + at most
    // MAX_DEVICE_ID_LEN bytes), sequence number, readings count.
    let head = raw.len().min(MAX_DEVICE_ID_LEN + 5 + 8 + 5);
    let mut raw = Bytes::copy_from_slice(&raw[..head]);
    let device_id = crate::codec_util::read_str(&mut raw, MAX_DEVICE_ID_LEN)?;
    let first_seq = u64::read(&mut raw)?;
    let count: u32 = commonware_codec::varint::UInt::<u32>::read(&mut raw)?.into();
    if count as usize > MAX_BATCH_READINGS {
        return Err(commonware_codec::Error::InvalidLength(count as usize));
    }
    Ok(BatchHead {
        device_id,
        first_seq,
        count: count as usize,
    })
}

/// `telemetry.anchor` arguments built from batches already in canonical
/// encoding: byte for byte what [`AnchorArg::encode`] gives for them decoded.
pub fn anchor_args(encoded: &[&[u8]]) -> Bytes {
    use commonware_codec::{EncodeSize, Write};
    let len = commonware_codec::varint::UInt(encoded.len() as u32);
    let mut out =
        Vec::with_capacity(len.encode_size() + encoded.iter().map(|b| b.len()).sum::<usize>());
    len.write(&mut out);
    for batch in encoded {
        out.extend_from_slice(batch);
    }
    out.into()
}

impl ReadingBatch {
    /// Sequence number of the last reading (`first_seq` for an empty batch).
    pub fn last_seq(&self) -> u64 {
        self.first_seq
            .saturating_add((self.readings.len() as u64).saturating_sub(1))
    }

    /// The batch's Merkle root and the message its signature must cover.
    pub fn root_and_message(&self) -> (Digest, Vec<u8>) {
        let root = readings_root(&self.device_id, self.first_seq, &self.readings);
        let msg = signing_message(
            &self.device_id,
            self.first_seq,
            self.readings.len() as u32,
            &root,
        );
        (root, msg)
    }

    /// Its commitment, given its root and who signed it (`attested_by`:
    /// empty for the device itself, else the attesting gateway's id).
    pub fn commitment(&self, root: &Digest, attested_by: &str) -> BatchCommitment {
        BatchCommitment {
            device_id: self.device_id.clone(),
            first_seq: self.first_seq,
            count: self.readings.len() as u32,
            first_ts_ms: self.readings.first().map_or(0, |r| r.timestamp_ms),
            last_ts_ms: self.readings.last().map_or(0, |r| r.timestamp_ms),
            root: root.as_ref().try_into().expect("32-byte digest"),
            attested_by: attested_by.to_string(),
        }
    }
}

/// How much a reading can be trusted, as its commitment says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Signed by the device's own registered key.
    DeviceSigned,
    /// Read from plant equipment that cannot sign, and signed by a gateway.
    GatewayAttested,
}

impl Trust {
    /// The stable name shown by the API, proofs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::DeviceSigned => "device_signed",
            Trust::GatewayAttested => "gateway_attested",
        }
    }
}

impl BatchCommitment {
    pub fn trust(&self) -> Trust {
        if self.attested_by.is_empty() {
            Trust::DeviceSigned
        } else {
            Trust::GatewayAttested
        }
    }

    /// Leaf of the per-transaction commitments tree.
    pub fn leaf(&self) -> Digest {
        sha256(&[COMMITMENT_DOMAIN, &self.encode()])
    }
}

/// Decimal text of a fixed-point value (`1234`, scale 2 → `"12.34"`).
pub fn format_fixed(value: i64, scale: u8) -> String {
    if scale == 0 {
        return value.to_string();
    }
    let p = 10i128.pow(scale.min(MAX_SCALE) as u32);
    let v = value as i128;
    let sign = if v < 0 { "-" } else { "" };
    let (int, frac) = (v.abs() / p, v.abs() % p);
    format!("{sign}{int}.{frac:0width$}", width = scale as usize)
}

/// Compare `a × 10^-sa` with `b × 10^-sb` exactly.
pub fn cmp_fixed(a: i64, sa: u8, b: i64, sb: u8) -> std::cmp::Ordering {
    let (a, b) = align(a, sa, b, sb);
    a.cmp(&b)
}

/// Both values at the larger scale, as i128 (no overflow: |i64| × 10^18 < 2^127).
pub fn align(a: i64, sa: u8, b: i64, sb: u8) -> (i128, i128) {
    let (sa, sb) = (sa.min(MAX_SCALE), sb.min(MAX_SCALE));
    let s = sa.max(sb);
    (
        a as i128 * 10i128.pow((s - sa) as u32),
        b as i128 * 10i128.pow((s - sb) as u32),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::Decode;

    fn sample() -> ReadingBatch {
        ReadingBatch {
            device_id: "acme:probe-1".into(),
            first_seq: 7,
            readings: (0..3)
                .map(|i| Reading {
                    timestamp_ms: 1_000 + i,
                    measurements: vec![Measurement {
                        name: "temp".into(),
                        value: 2150 + i as i64,
                        scale: 2,
                        unit: "C".into(),
                    }],
                })
                .collect(),
            signature: Bytes::from_static(&[1; 64]),
        }
    }

    /// A batch whose sequence numbers run past u64::MAX decodes (the
    /// gateway and the chain refuse it as `sequence_overflow`); hashing it
    /// must not panic. Regression of the `decode_telemetry` fuzz input kept
    /// in fuzz/corpus/decode_telemetry/regression-sequence-overflow.
    #[test]
    fn overflowing_sequence_numbers_hash_without_panic() {
        let b = ReadingBatch {
            first_seq: u64::MAX,
            ..sample()
        };
        let (root, _) = b.root_and_message();
        let mut below = sample();
        below.first_seq = u64::MAX - 3;
        assert_ne!(root, below.root_and_message().0);
    }

    #[test]
    fn batch_roundtrips_and_truncations_fail() {
        let b = sample();
        let enc = b.encode();
        assert_eq!(ReadingBatch::decode_cfg(enc.clone(), &()).unwrap(), b);
        for cut in 0..enc.len() {
            assert!(ReadingBatch::decode_cfg(enc.slice(..cut), &()).is_err());
        }
    }

    #[test]
    fn anchor_arguments_from_encoded_batches_match_the_decoded_encoding() {
        let a = sample();
        let mut b = sample();
        b.device_id = "acme:probe-2".into();
        b.first_seq = 40;
        b.readings.truncate(1);
        let (ea, eb) = (a.encode(), b.encode());
        let arg = AnchorArg {
            batches: vec![a.clone(), b.clone()],
        };
        assert_eq!(anchor_args(&[&ea, &eb]), arg.encode());
        assert_eq!(anchor_args(&[]), AnchorArg { batches: vec![] }.encode());
        assert_eq!(
            peek_batch(&eb).unwrap(),
            BatchHead {
                device_id: "acme:probe-2".into(),
                first_seq: 40,
                count: 1
            }
        );
        for cut in 0..12 {
            assert!(peek_batch(&ea[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn leaves_bind_device_sequence_and_content() {
        let b = sample();
        let r = &b.readings[0];
        let leaf = reading_leaf("acme:probe-1", 7, r);
        assert_ne!(leaf, reading_leaf("acme:probe-2", 7, r));
        assert_ne!(leaf, reading_leaf("acme:probe-1", 8, r));
        let mut other = r.clone();
        other.measurements[0].value += 1;
        assert_ne!(leaf, reading_leaf("acme:probe-1", 7, &other));
        // The batch path (one reused buffer) hashes exactly the documented
        // layout, reading by reading.
        let mut id = Vec::new();
        crate::codec_util::write_str(&b.device_id, &mut id);
        let singles: Vec<Digest> = b
            .readings
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let seq = (b.first_seq + i as u64).to_be_bytes();
                sha256(&[READING_DOMAIN, &id, &seq, &r.encode()])
            })
            .collect();
        assert_eq!(
            reading_leaves(&b.device_id, b.first_seq, &b.readings),
            singles
        );
        let (root, msg) = b.root_and_message();
        let mut moved = b.clone();
        moved.first_seq = 8;
        assert_ne!(moved.root_and_message().0, root);
        assert_ne!(moved.root_and_message().1, msg);
    }

    proptest::proptest! {
        /// Whatever a device, gateway or peer sends, decoding answers with an
        /// error or a value — never a panic or an unbounded allocation.
        #[test]
        fn telemetry_decoders_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..800)) {
            let b = bytes::Bytes::from(raw);
            let _ = ReadingBatch::decode_cfg(b.clone(), &());
            let _ = AnchorArg::decode_cfg(b.clone(), &());
            let _ = BatchCommitment::decode_cfg(b.clone(), &());
            if let Ok(batch) = ReadingBatch::decode_cfg(b, &()) {
                let _ = batch.root_and_message();
            }
        }
    }

    #[test]
    fn fixed_point_compares_and_formats_exactly() {
        use std::cmp::Ordering::*;
        assert_eq!(cmp_fixed(150, 1, 15, 0), Equal);
        assert_eq!(cmp_fixed(151, 1, 15, 0), Greater);
        assert_eq!(cmp_fixed(-1, 0, 0, 18), Less);
        assert_eq!(cmp_fixed(i64::MAX, 0, i64::MAX, 18), Greater);
        assert_eq!(format_fixed(1234, 2), "12.34");
        assert_eq!(format_fixed(-5, 3), "-0.005");
        assert_eq!(format_fixed(42, 0), "42");
    }
}
