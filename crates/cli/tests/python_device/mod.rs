//! The pure-Python reference device (examples/python-device, written from
//! docs/device-protocol.md) against the live gateway, for each scheme: its
//! batch is acknowledged and anchored, its reading proves offline against
//! genesis, and a corrupted signature and a reused sequence number are
//! refused with their MQTT 5 reason codes and stable `ingot-refusal` codes.

use super::{height, submit_all, wait_until};
use crate::common::{signed_get, tx, Member};
use ingot_crypto::{
    device_uri, issue_end_entity, model_uri, unix_now, CertSpec, PrivateKey, Role, Scheme,
};
use serde_json::{json, Value};
use std::{path::Path, process::Command, time::Duration};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/python-device/ingot_device.py"
);

fn publish(mqtt: u16, key: &Path, device_id: &str, args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args([
            "publish",
            "--port",
            &mqtt.to_string(),
            "--device-id",
            device_id,
        ])
        .arg("--key")
        .arg(key)
        .args(args)
        .output()
        .expect("python3 (the CI machine has it)");
    assert!(
        out.status.success(),
        "the Python device failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub struct Chain<'a> {
    pub api: &'a str,
    pub chain: ingot_types::Digest,
    pub owner: &'a Member,
    /// The manufacturer's directory (its CA certifies the devices).
    pub org_dir: &'a Path,
    pub genesis: &'a ingot_types::Genesis,
    pub mqtt: u16,
}

pub fn reference_device_for_every_scheme(c: &Chain) {
    let ca_key =
        PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(c.org_dir.join("ca.key")).unwrap())
            .unwrap();
    let ca_pem = std::fs::read_to_string(c.org_dir.join("ca.pem")).unwrap();
    let now = unix_now();
    let mut devices = Vec::new();
    let mut txs = Vec::new();
    for (i, (scheme, name)) in [
        (Scheme::Ed25519, "ed25519"),
        (Scheme::P256, "p256"),
        (Scheme::Sm2, "sm2"),
    ]
    .into_iter()
    .enumerate()
    {
        let key = PrivateKey::generate(scheme).unwrap();
        let key_path = c.org_dir.join(format!("py-{name}.key"));
        std::fs::write(&key_path, key.to_pkcs8_pem().unwrap()).unwrap();
        let serial = format!("PY-{name}");
        let pem = issue_end_entity(
            &ca_key,
            &ca_pem,
            &key.public_key(),
            &CertSpec {
                common_name: serial.clone(),
                organization: "manufacturer".into(),
                san_uris: vec![device_uri("manufacturer", &serial), model_uri("py-probe")],
                not_before: now - 60,
                not_after: now + 86_400,
                role: Role::Device,
            },
        )
        .unwrap();
        let id = format!("manufacturer:{serial}");
        txs.push(tx(
            c.owner,
            c.chain,
            height(c.api) + 100,
            70_000 + i as u64,
            "device",
            "register",
            json!({"certificate_pem": pem, "name": format!("manufacturer/python/{name}")}),
        ));
        devices.push((id, key_path));
    }
    submit_all(c.api, c.owner, &txs);
    let activations: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, (id, _))| {
            tx(
                c.owner,
                c.chain,
                height(c.api) + 100,
                71_000 + i as u64,
                "device",
                "activate",
                json!({"device_id": id}),
            )
        })
        .collect();
    submit_all(c.api, c.owner, &activations);

    let t0 = (now as u64 - 120) * 1000;
    for (id, key) in &devices {
        let start = t0.to_string();
        let ok = publish(
            c.mqtt,
            key,
            id,
            &["--first-seq", "1", "--count", "3", "--start-ms", &start],
        );
        assert_eq!(ok["reason_code"], 0, "{id}: {ok}");
        assert_eq!(ok["refusal"], Value::Null, "{id}: {ok}");
        let later = (t0 + 10_000).to_string();
        let bad = publish(
            c.mqtt,
            key,
            id,
            &[
                "--first-seq",
                "4",
                "--start-ms",
                &later,
                "--corrupt-signature",
            ],
        );
        assert_eq!(bad["reason_code"], 0x87, "{id}: {bad}");
        assert_eq!(bad["refusal"], "bad_signature", "{id}: {bad}");
        let reused = publish(c.mqtt, key, id, &["--first-seq", "2", "--start-ms", &later]);
        assert_eq!(reused["reason_code"], 0x83, "{id}: {reused}");
        assert_eq!(reused["refusal"], "replay", "{id}: {reused}");
    }
    let validators = ingot_light::validators(c.genesis).unwrap();
    for (id, _) in &devices {
        wait_until(
            "the Python device's readings",
            Duration::from_secs(60),
            || {
                let (s, v) =
                    signed_get(c.api, Some(c.owner), &format!("/v1/telemetry/devices/{id}"));
                s == 200 && v["summary"]["last_seq"] == 3
            },
        );
        let path = format!("/v1/telemetry/devices/{id}/readings/2/proof");
        let (s, proof) = signed_get(c.api, Some(c.owner), &path);
        assert_eq!(s, 200, "{proof}");
        let proof: ingot_light::ReadingProof = serde_json::from_value(proof).unwrap();
        let reading = proof.verify(&validators).unwrap();
        assert_eq!(reading.timestamp_ms, t0 + 1_000);
        let temperature = &reading.measurements[0];
        assert_eq!(
            (
                temperature.name.as_str(),
                temperature.value,
                temperature.scale,
                temperature.unit.as_str()
            ),
            ("temperature", 2151, 2, "°C")
        );
    }
}
