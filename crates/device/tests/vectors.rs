//! The device protocol's test vectors (docs/device-protocol-vectors.json),
//! generated here from the Rust implementation and compared with the file, so
//! the specification (docs/device-protocol.md) and the code cannot drift.
//! The Merkle levels are computed here from the specification's steps, not
//! by the library, and must give the library's root.
//!
//! After an intended change of the protocol, regenerate with
//! `INGOT_BLESS_VECTORS=1 cargo test -p ingot-device --test vectors` and
//! say why in the commit: every device in the field depends on these bytes.

use commonware_codec::{Encode, Write};
use ingot_crypto::{PrivateKey, Scheme};
use ingot_device::{measurement, topic, DeviceSigner, Reading};
use ingot_types::{sha256, Digest};
use serde_json::{json, Value};
use std::path::PathBuf;

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/device-protocol-vectors.json")
}

fn hex(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes.as_ref())
}

/// A fixed secret per scheme: SHA-256 of a label (a valid scalar for both curves).
fn secret(label: &str) -> [u8; 32] {
    sha256(&[label.as_bytes()]).as_ref().try_into().unwrap()
}

fn readings() -> Vec<Reading> {
    let t0 = 1_796_000_000_000;
    vec![
        Reading {
            timestamp_ms: t0,
            measurements: vec![
                measurement("temperature", 2153, 2, "°C"),
                measurement("vibration", -17, 3, "mm/s"),
            ],
        },
        Reading {
            timestamp_ms: t0 + 1_000,
            measurements: vec![measurement("temperature", 2160, 2, "°C")],
        },
        Reading {
            timestamp_ms: t0 + 2_000,
            measurements: vec![measurement("running", 1, 0, "")],
        },
    ]
}

/// The Merkle construction exactly as docs/device-protocol.md states it.
fn merkle_by_the_spec(leaves: &[Digest]) -> (Vec<Vec<Digest>>, Digest) {
    let mut level: Vec<Digest> = leaves
        .iter()
        .enumerate()
        .map(|(i, leaf)| sha256(&[&(i as u32).to_be_bytes(), leaf.as_ref()]))
        .collect();
    let mut levels = vec![level.clone()];
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| {
                let right = pair.get(1).unwrap_or(&pair[0]);
                sha256(&[pair[0].as_ref(), right.as_ref()])
            })
            .collect();
        levels.push(level.clone());
    }
    let root = sha256(&[&(leaves.len() as u32).to_be_bytes(), level[0].as_ref()]);
    (levels, root)
}

fn batch_vector(scheme: Scheme, name: &str) -> Value {
    let raw = secret(&format!("ingot device protocol test vector {name}"));
    let key = PrivateKey::from_raw(scheme, &raw).unwrap();
    let public = key.public_key();
    let device_id = "acme:probe-7";
    let first_seq = 41;
    let signer = DeviceSigner::new(device_id, key, first_seq);
    let batch = signer.sign_at(first_seq, readings()).unwrap();
    let leaves = ingot_types::telemetry::reading_leaves(device_id, first_seq, &batch.readings);
    let (levels, root) = merkle_by_the_spec(&leaves);
    let (library_root, message) = batch.root_and_message();
    assert_eq!(
        root, library_root,
        "the specification's Merkle steps give the library's root"
    );
    public.verify(&message, &batch.signature).unwrap();
    let mut id_field = Vec::new();
    ingot_types::codec_util::write_str(device_id, &mut id_field);
    json!({
        "scheme": name,
        "private_key": hex(raw),
        "public_key": hex(public.raw_bytes().unwrap()),
        "public_key_spki_der": hex(public.to_spki_der().unwrap()),
        "device_id": device_id,
        "device_id_field": hex(&id_field),
        "topic": topic(device_id),
        "first_seq": first_seq,
        "readings": batch.readings.iter().map(|r| json!({
            "timestamp_ms": r.timestamp_ms,
            "measurements": r.measurements.iter().map(|m| json!({
                "name": m.name, "value": m.value, "scale": m.scale, "unit": m.unit,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "reading_encodings": batch.readings.iter().map(|r| hex(r.encode())).collect::<Vec<_>>(),
        "leaves": leaves.iter().map(hex).collect::<Vec<_>>(),
        "merkle_levels": levels.iter().map(|l| l.iter().map(hex).collect::<Vec<_>>()).collect::<Vec<_>>(),
        "root": hex(root),
        "signing_message": hex(&message),
        "signature": hex(&batch.signature),
        "payload": hex(ingot_device::payload(&batch)),
    })
}

fn merkle_vectors() -> Value {
    (1..=7u8)
        .map(|n| {
            let leaves: Vec<Digest> = (0..n).map(|i| sha256(&[&[i]])).collect();
            let (_, root) = merkle_by_the_spec(&leaves);
            assert_eq!(root, ingot_types::merkle::root(&leaves));
            json!({
                "leaves": leaves.iter().map(hex).collect::<Vec<_>>(),
                "root": hex(root),
            })
        })
        .collect()
}

fn varint_vectors() -> Value {
    [
        0u32,
        1,
        127,
        128,
        255,
        300,
        16_383,
        16_384,
        48 * 1024,
        u32::MAX,
    ]
    .iter()
    .map(|&n| {
        let mut out = Vec::new();
        commonware_codec::varint::UInt(n).write(&mut out);
        json!({"value": n, "encoding": hex(&out)})
    })
    .collect()
}

fn all_vectors() -> Value {
    json!({
        "about": "Test vectors of docs/device-protocol.md, generated by crates/device/tests/vectors.rs from the Rust implementation. All byte strings are hex.",
        "varints": varint_vectors(),
        "merkle": merkle_vectors(),
        "batches": [
            batch_vector(Scheme::Ed25519, "ed25519"),
            batch_vector(Scheme::P256, "p256"),
            batch_vector(Scheme::Sm2, "sm2"),
        ],
    })
}

#[test]
fn the_published_vectors_are_what_the_implementation_produces() {
    let generated = all_vectors();
    let path = vectors_path();
    if std::env::var_os("INGOT_BLESS_VECTORS").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&generated).unwrap() + "\n",
        )
        .unwrap();
    }
    let published: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .expect("docs/device-protocol-vectors.json");
    assert!(
        published == generated,
        "docs/device-protocol-vectors.json differs from what the implementation produces; if the protocol changed on purpose, regenerate (see this file's header)"
    );
}

#[test]
fn signatures_are_deterministic_so_vectors_are_exact() {
    for scheme in Scheme::ALL {
        let key = PrivateKey::from_raw(scheme, &secret("determinism")).unwrap();
        assert_eq!(
            key.sign(b"m").unwrap(),
            key.sign(b"m").unwrap(),
            "{scheme:?}"
        );
    }
}

/// The pure-Python reference device (examples/python-device), written from
/// the specification, reproduces every vector.
#[test]
fn the_python_reference_device_reproduces_the_vectors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/python-device");
    let out = std::process::Command::new("python3")
        .args(["-m", "unittest", "-v", "test_ingot_device"])
        .current_dir(&dir)
        .output()
        .expect("python3 (the CI machine has it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
