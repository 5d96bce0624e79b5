//! The pure-Python reference device (examples/python-device, written from
//! docs/device-protocol.md) against the live gateway, for each scheme: its
//! batch is acknowledged and anchored, its reading proves offline against
//! genesis, and a corrupted signature and a reused sequence number are
//! refused with their MQTT 5 reason codes and stable `ingot-refusal` codes.
//! Then the C example (examples/c-device, linked statically against the C
//! library) signs the same devices' next batches, `mosquitto_pub` publishes
//! them, and they too are anchored and proven.

use super::{gateway_status, height, spawn_edge, submit_all, wait_until, KillOnDrop};
use crate::common::{openssl, signed_get, tx, Member};
use ingot_crypto::{
    device_uri, issue_end_entity, model_uri, unix_now, CertSpec, PrivateKey, Role, Scheme,
};
use serde_json::{json, Value};
use std::{path::Path, process::Command, time::Duration};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/python-device/ingot_device.py"
);

/// Publish with the Python device; it must get a PUBACK (of any reason).
fn publish(mqtt: u16, key: &Path, device_id: &str, args: &[&str]) -> Value {
    let (code, answer) = publish_any(mqtt, key, device_id, args);
    assert_eq!(
        code, 0,
        "the Python device was refused at CONNECT: {answer}"
    );
    answer
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

/// The devices made (id, key file) and the time their readings start.
pub struct Made {
    pub devices: Vec<(String, std::path::PathBuf)>,
    pub t0: u64,
}

pub fn reference_device_for_every_scheme(c: &Chain) -> Made {
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
    let proven = |id: &str, seq: u64, timestamp_ms: u64, temperature: i64| {
        let path = format!("/v1/telemetry/devices/{id}/readings/{seq}/proof");
        // A proof needs the block's finalization certificate (503
        // not_yet_certified until then).
        wait_until("a certified reading", Duration::from_secs(30), || {
            signed_get(c.api, Some(c.owner), &path).0 == 200
        });
        let (s, proof) = signed_get(c.api, Some(c.owner), &path);
        assert_eq!(s, 200, "{proof}");
        let proof: ingot_light::ReadingProof = serde_json::from_value(proof).unwrap();
        let verified = proof.verify(&validators).unwrap();
        assert_eq!(verified.trust, ingot_types::telemetry::Trust::DeviceSigned);
        let reading = verified.reading;
        assert_eq!(reading.timestamp_ms, timestamp_ms);
        let m = &reading.measurements[0];
        assert_eq!(
            (m.name.as_str(), m.value, m.scale, m.unit.as_str()),
            ("temperature", temperature, 2, "°C")
        );
    };
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
        proven(id, 2, t0 + 1_000, 2151);
    }

    // The C example: readings 4-6 of each device, published by mosquitto_pub.
    let tmp = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("c-device-e2e");
    std::fs::create_dir_all(&tmp).unwrap();
    let bin = tmp.join("sign_batch");
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let archive = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("libingot_device_c.a");
    let built = Command::new("cc")
        .args(["-std=c99", "-Wall", "-I"])
        .arg(repo.join("crates/device-c/include"))
        .arg(repo.join("examples/c-device/sign_batch.c"))
        .arg(&archive)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&bin)
        .status()
        .expect("a C compiler");
    assert!(built.success());
    let c_start = t0 + 20_000;
    for (id, key) in &devices {
        let out = Command::new(&bin)
            .arg(key)
            .args([id.as_str(), "4", &c_start.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let (topic, payload) = stdout.trim().split_once('\n').unwrap();
        let file = tmp.join("batch.bin");
        std::fs::write(&file, hex::decode(payload).unwrap()).unwrap();
        let sent = Command::new("mosquitto_pub")
            .args([
                "-V",
                "mqttv5",
                "-q",
                "1",
                "-h",
                "127.0.0.1",
                "-p",
                &c.mqtt.to_string(),
                "-t",
                topic,
                "-f",
            ])
            .arg(&file)
            .status()
            .expect("mosquitto_pub (`.ci/run` installs it)");
        assert!(sent.success());
    }
    for (id, _) in &devices {
        wait_until("the C device's readings", Duration::from_secs(60), || {
            let (s, v) = signed_get(c.api, Some(c.owner), &format!("/v1/telemetry/devices/{id}"));
            s == 200 && v["summary"]["last_seq"] == 6
        });
        proven(id, 5, c_start + 1_000, 2160);
    }
    Made { devices, t0 }
}

fn publish_any(mqtt: u16, key: &Path, device_id: &str, args: &[&str]) -> (i32, Value) {
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
        .expect("python3");
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "the Python device printed no JSON: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), value)
}

/// A second gateway on the same chain, as one exposed beyond the plant
/// network would run: MQTT over TLS, and only CONNECTs signed by registered
/// devices. The Python device connects over TLS with its signed CONNECT for
/// every scheme; without a signature, with a replayed nonce, or on another
/// device's topic it is refused with its code; what it published is anchored.
pub fn authenticated_tls_gateway(c: &Chain, made: &Made, net_data: &Path, mqtt: u16, status: u16) {
    let dir = net_data.join("edge-tls");
    std::fs::create_dir_all(&dir).unwrap();
    let ext = "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n";
    std::fs::write(dir.join("server.ext"), ext).unwrap();
    for step in [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=plant gateway CA",
            "-days",
            "2",
        ][..],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=gateway",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    ] {
        openssl(&dir, step);
    }
    let listen = format!("127.0.0.1:{mqtt}");
    let (cert, key) = (dir.join("server.pem"), dir.join("server.key"));
    let _gateway = KillOnDrop(spawn_edge(
        net_data,
        c.api,
        &dir.join("queue"),
        &[
            "--listen",
            &listen,
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--require-device-auth",
            "--device-batches-per-minute",
            "1",
            "--device-burst",
            "3",
        ],
        status,
    ));
    wait_until("the TLS gateway", Duration::from_secs(30), || {
        gateway_status(status).is_object()
    });
    let ca = dir.join("ca.pem");
    let tls = ["--tls-ca", ca.to_str().unwrap()];
    let start = (made.t0 + 30_000).to_string();
    for (id, key) in &made.devices {
        let args = [
            &tls[..],
            &["--auth", "--first-seq", "7", "--start-ms", &start],
        ]
        .concat();
        let (code, ok) = publish_any(mqtt, key, id, &args);
        assert_eq!((code, &ok["reason_code"]), (0, &json!(0)), "{id}: {ok}");
    }
    let (a, a_key) = &made.devices[0];
    let (b, _) = &made.devices[1];
    // No signature: refused at CONNECT (0x86) with its code.
    let later = (made.t0 + 40_000).to_string();
    let (code, unsigned) = publish_any(
        mqtt,
        a_key,
        a,
        &[&tls[..], &["--first-seq", "10", "--start-ms", &later]].concat(),
    );
    assert_eq!(
        (code, &unsigned["connack"]),
        (3, &json!(0x86)),
        "{unsigned}"
    );
    assert_eq!(unsigned["reason_string"], "auth_missing");
    // Authenticated as a, publishing on b's topic: refused at PUBACK.
    let b_topic = format!("ingot/telemetry/{b}");
    let (_, elsewhere) = publish_any(
        mqtt,
        a_key,
        a,
        &[
            &tls[..],
            &[
                "--auth",
                "--first-seq",
                "10",
                "--start-ms",
                &later,
                "--topic",
                &b_topic,
            ],
        ]
        .concat(),
    );
    assert_eq!(
        (&elsewhere["reason_code"], &elsewhere["refusal"]),
        (&json!(0x87), &json!("not_your_topic")),
        "{elsewhere}"
    );
    // A CONNECT replayed with the same nonce: the second is refused.
    let nonce = "00112233445566778899aabbccddeeff";
    let once = [
        &tls[..],
        &[
            "--auth",
            "--auth-nonce",
            nonce,
            "--first-seq",
            "10",
            "--start-ms",
            &later,
        ],
    ]
    .concat();
    let (_, first) = publish_any(mqtt, a_key, a, &once);
    assert_eq!(first["reason_code"], 0, "{first}");
    let even_later = (made.t0 + 50_000).to_string();
    let twice = [
        &tls[..],
        &[
            "--auth",
            "--auth-nonce",
            nonce,
            "--first-seq",
            "13",
            "--start-ms",
            &even_later,
        ],
    ]
    .concat();
    let (code, replayed) = publish_any(mqtt, a_key, a, &twice);
    assert_eq!(
        (code, &replayed["connack"], &replayed["reason_string"]),
        (3, &json!(0x86), &json!("auth_replay")),
        "{replayed}"
    );
    // Per-device rate (burst 3, then one a minute): b's fourth batch waits.
    let (_, b_key) = &made.devices[1];
    for (seq, expected) in [("10", json!(0)), ("11", json!(0)), ("12", json!(0x97))] {
        let at = (made.t0 + 40_000 + seq.parse::<u64>().unwrap() * 10).to_string();
        let (_, r) = publish_any(
            mqtt,
            b_key,
            b,
            &[
                &tls[..],
                &[
                    "--auth",
                    "--first-seq",
                    seq,
                    "--count",
                    "1",
                    "--start-ms",
                    &at,
                ],
            ]
            .concat(),
        );
        assert_eq!(r["reason_code"], expected, "seq {seq}: {r}");
        if expected != 0 {
            assert_eq!(r["refusal"], "rate_limited", "{r}");
        }
    }
    let s = gateway_status(status);
    assert_eq!(s["refused"]["rate_limited"], 1, "{s}");
    assert_eq!(s["refused"]["not_authenticated"], 2, "{s}");
    assert_eq!(s["refused"]["not_your_topic"], 1, "{s}");
    for (id, _) in &made.devices {
        let last = if id == a {
            12
        } else if id == b {
            11
        } else {
            9
        };
        wait_until(
            "readings through the TLS gateway",
            Duration::from_secs(60),
            || {
                let (s, v) =
                    signed_get(c.api, Some(c.owner), &format!("/v1/telemetry/devices/{id}"));
                s == 200 && v["summary"]["last_seq"] == last
            },
        );
    }
}

/// paho-mqtt, the Eclipse MQTT 5 client, against the gateway: assigned
/// client id, no session kept, receive maximum, a signed batch acknowledged,
/// a forged one refused with its code, and a clean DISCONNECT counted as
/// nothing malformed (tests/mqtt_conformance/paho_check.py).
pub fn paho_conformance(c: &Chain, made: &Made, status: u16) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/mqtt_conformance/paho_check.py"
    );
    let malformed = |s: Value| s["refused"]["malformed"].as_u64().unwrap_or(0);
    let before = malformed(gateway_status(status));
    let (id, key) = &made.devices[0];
    let start = made.t0 + 100_000;
    let out = Command::new("python3")
        .arg(script)
        .arg(c.mqtt.to_string())
        .arg(key)
        .args([id.as_str(), "20", &start.to_string()])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "paho-mqtt conformance (`.ci/run` installs paho-mqtt): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the batch paho published", Duration::from_secs(60), || {
        let (s, v) = signed_get(c.api, Some(c.owner), &format!("/v1/telemetry/devices/{id}"));
        s == 200 && v["summary"]["last_seq"] == 20
    });
    assert_eq!(
        malformed(gateway_status(status)),
        before,
        "paho's DISCONNECT is not malformed"
    );
}
