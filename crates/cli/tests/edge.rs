//! The edge gateway end to end, with real processes: a network started by
//! `ingot up`, `ingot edge` in both modes, a fleet of 1,000 devices publishing
//! through a real MQTT client library (3.1.1 and 5) and `mosquitto_pub`
//! through a Mosquitto broker — to finality, through a gateway kill and a
//! chain outage, with every kind of bad message refused with its reason, and
//! readings provable offline (also from the retention archive); and plant
//! equipment read over OPC UA and Modbus TCP, gateway-attested.

mod common;
mod plant;
mod python_device;

use common::*;
use commonware_codec::Encode;
use ingot_crypto::{
    device_uri, issue_end_entity, model_uri, unix_now, CertSpec, PrivateKey, Role, Scheme,
};
use ingot_device::{measurement, DeviceSigner, Reading, ReadingBatch};
use ingot_types::telemetry::Trust;
use serde_json::{json, Value};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const API: u16 = 18680;
const P2P: u16 = 31680;
const MQTT: u16 = 18883;
const STATUS: u16 = 18890;
const BROKER: u16 = 18884;
const BRIDGE_STATUS: u16 = 18891;
const TLS_MQTT: u16 = 18886;
const TLS_STATUS: u16 = 18893;
const PLANT_MQTT: u16 = 18887;
const PLANT_STATUS: u16 = 18894;
const PLANT_MODBUS: u16 = 18950;
const PLANT_OPCUA: u16 = 18951;
const FLEET: usize = 1_000;

struct Device {
    id: String,
    signer: DeviceSigner,
    pem: String,
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn spawn_edge(net_data: &Path, api: &str, dir: &Path, source: &[&str], status: u16) -> Child {
    use std::os::unix::process::CommandExt;
    let org = net_data.join("orgs").join("manufacturer");
    let mut command = Command::new(BIN);
    // As a shell starts a background job: SIGINT ignored. The gateway must
    // still stop on it (it installs its own handler).
    // SAFETY: signal() is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            Ok(())
        });
    }
    command
        .args(["edge", "--node", api, "--cert"])
        .arg(org.join("member.pem"))
        .arg("--key")
        .arg(org.join("member.key"))
        .arg("--data")
        .arg(dir)
        .args(source)
        .args(["--status", &format!("127.0.0.1:{status}")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.with_extension("log"))
                .unwrap(),
        )
        .spawn()
        .unwrap()
}

fn gateway_status(port: u16) -> Value {
    try_call("GET", &format!("http://127.0.0.1:{port}/status"), None)
        .map(|(_, v)| v)
        .unwrap_or(Value::Null)
}

/// Issue, register and activate `n` Ed25519 devices of the manufacturer.
fn fleet(net: &Net, chain: ingot_types::Digest, n: usize) -> Vec<Device> {
    let org = net.data.join("orgs").join("manufacturer");
    let ca_key =
        PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(org.join("ca.key")).unwrap()).unwrap();
    let ca_pem = std::fs::read_to_string(org.join("ca.pem")).unwrap();
    let owner = load(&org, "member");
    let now = unix_now();
    let mut devices = Vec::new();
    let mut registers = Vec::new();
    for i in 0..n {
        let serial = format!("P-{i}");
        let key = PrivateKey::generate(Scheme::Ed25519).unwrap();
        let pem = issue_end_entity(
            &ca_key,
            &ca_pem,
            &key.public_key(),
            &CertSpec {
                common_name: serial.clone(),
                organization: "manufacturer".into(),
                san_uris: vec![device_uri("manufacturer", &serial), model_uri("probe")],
                not_before: now - 60,
                not_after: now + 86_400,
                role: Role::Device,
            },
        )
        .unwrap();
        let id = format!("manufacturer:{serial}");
        registers.push(tx(
            &owner,
            chain,
            height(&net.api) + 100,
            10_000 + i as u64,
            "device",
            "register",
            json!({"certificate_pem": pem, "name": format!("manufacturer/line/p-{i}")}),
        ));
        devices.push(Device {
            signer: DeviceSigner::new(&id, key, 1),
            id,
            pem,
        });
    }
    submit_all(&net.api, &owner, &registers);
    let activates: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            tx(
                &owner,
                chain,
                height(&net.api) + 100,
                20_000 + i as u64,
                "device",
                "activate",
                json!({"device_id": d.id}),
            )
        })
        .collect();
    submit_all(&net.api, &owner, &activates);
    devices
}

fn height(api: &str) -> u64 {
    call("GET", &format!("{api}/v1/status"), None).1["executed_height"]
        .as_u64()
        .unwrap()
}

/// Submit transactions and wait until every one executed successfully.
fn submit_all(api: &str, reader: &Member, txs: &[ingot_types::SignedTransaction]) {
    for chunk in txs.chunks(500) {
        let body =
            json!({"txs": chunk.iter().map(|t| hex::encode(t.encode())).collect::<Vec<_>>()});
        let (s, v) = call("POST", &format!("{api}/v1/txs"), Some(&body.to_string()));
        assert_eq!(s, 200, "{v}");
    }
    for t in txs {
        let path = format!("/v1/tx/{}", ingot_types::hex_digest(&t.hash()));
        wait_until("a transaction to execute", Duration::from_secs(60), || {
            let (s, v) = signed_get(api, Some(reader), &path);
            s == 200 && v["status"] != "pending"
        });
        let (_, r) = signed_get(api, Some(reader), &path);
        assert_eq!(r["status"], "success", "{r}");
    }
}

fn readings(t0: u64, n: usize) -> Vec<Reading> {
    (0..n)
        .map(|i| Reading {
            timestamp_ms: t0 + i as u64,
            measurements: vec![measurement("vibration", 1000 + i as i64, 3, "mm/s")],
        })
        .collect()
}

/// For each of `which`, `n` batches of `per` readings, 10 ms apart from `from`.
fn sign_streams(
    devices: &mut [Device],
    which: &[usize],
    n: u64,
    from: u64,
    per: usize,
) -> Vec<(usize, Vec<ReadingBatch>)> {
    which
        .iter()
        .map(|&i| {
            let batches = (0..n)
                .map(|k| {
                    devices[i]
                        .signer
                        .sign(readings(from + k * 10, per))
                        .unwrap()
                })
                .collect();
            (i, batches)
        })
        .collect()
}

/// Publish batches as a QoS 1 device would: each until acknowledged,
/// reconnecting and sending again (DUP) when the connection breaks. MQTT 3.1.1.
async fn publish_reliably(port: u16, client_id: String, batches: Vec<ReadingBatch>) {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
    let mut pending = batches.into_iter();
    let mut current = pending.next();
    while let Some(batch) = current.clone() {
        let mut opts = MqttOptions::new(&client_id, "127.0.0.1", port);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(opts, 16);
        let mut sent = false;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), events.poll()).await {
                Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) if !sent => {
                    client
                        .publish(
                            ingot_device::topic(&batch.device_id),
                            QoS::AtLeastOnce,
                            false,
                            ingot_device::payload(&batch),
                        )
                        .await
                        .unwrap();
                    sent = true;
                }
                Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => {
                    current = pending.next();
                    match &current {
                        Some(next) => client
                            .publish(
                                ingot_device::topic(&next.device_id),
                                QoS::AtLeastOnce,
                                false,
                                ingot_device::payload(next),
                            )
                            .await
                            .unwrap(),
                        None => break,
                    }
                }
                Ok(Ok(_)) => {}
                // Broken or silent connection: start over with the unacked batch.
                Ok(Err(_)) | Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
        if current.is_none() {
            let _ = client.disconnect().await;
        }
    }
}

/// Publish one message over MQTT 5 and return the PUBACK reason and reason
/// string, or the DISCONNECT reason if the gateway closed the connection.
async fn publish_v5(port: u16, client_id: &str, topic: &str, payload: Vec<u8>) -> (String, String) {
    use rumqttc::v5::{mqttbytes::v5::Packet, mqttbytes::QoS, AsyncClient, Event, MqttOptions};
    let mut opts = MqttOptions::new(client_id, "127.0.0.1", port);
    opts.set_max_packet_size(Some(1 << 20));
    let (client, mut events) = AsyncClient::new(opts, 4);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.poll())
            .await
            .expect("gateway answers")
        {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                client
                    .publish(topic, QoS::AtLeastOnce, false, payload.clone())
                    .await
                    .unwrap();
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                // The reason string, then the stable refusal code the
                // gateway puts in the `ingot-refusal` user property.
                let text = ack
                    .properties
                    .map(|p| {
                        let code = p
                            .user_properties
                            .iter()
                            .find(|(k, _)| k == "ingot-refusal")
                            .map(|(_, v)| format!(" [{v}]"))
                            .unwrap_or_default();
                        format!("{}{code}", p.reason_string.unwrap_or_default())
                    })
                    .unwrap_or_default();
                let _ = client.disconnect().await;
                return (format!("{:?}", ack.reason), text);
            }
            Ok(Event::Incoming(Packet::Disconnect(d))) => {
                let text = d
                    .properties
                    .and_then(|p| p.reason_string)
                    .unwrap_or_default();
                return (format!("{:?}", d.reason_code), text);
            }
            Ok(_) => {}
            Err(e) => return ("ConnectionError".into(), e.to_string()),
        }
    }
}

fn summary(api: &str, owner: &Member, id: &str) -> Value {
    let (s, v) = signed_get(api, Some(owner), &format!("/v1/telemetry/devices/{id}"));
    assert_eq!(s, 200, "{v}");
    v["summary"].clone()
}

fn wait_drained(port: u16, forwarded_readings: u64) {
    let start = Instant::now();
    loop {
        let s = gateway_status(port);
        if s["queued"] == 0 && s["forwarded_readings"].as_u64() >= Some(forwarded_readings) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "gateway did not forward {forwarded_readings} readings: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn gateway_fleet_outages_refusals_proofs_and_mosquitto() {
    let mut net = start_net("edge", 1, API, P2P);
    let api = net.api.clone();
    let (_, st) = call("GET", &format!("{api}/v1/status"), None);
    let chain = ingot_types::parse_digest(st["chain_id"].as_str().unwrap()).unwrap();
    let orgs = net.data.join("orgs");
    let owner = load(&orgs.join("manufacturer"), "member");
    let genesis: ingot_types::Genesis =
        serde_json::from_slice(&std::fs::read(net.data.join("genesis.json")).unwrap()).unwrap();
    let validators = ingot_light::validators(&genesis).unwrap();
    let mut devices = fleet(&net, chain, FLEET + 2);
    let archived_device = devices.pop().unwrap();
    let bridged_device = devices.pop().unwrap();
    let edge_dir = net.data.join("edge");
    let mqtt = ["--listen".to_string(), format!("127.0.0.1:{MQTT}")];
    let mqtt: Vec<&str> = mqtt.iter().map(String::as_str).collect();
    let mut edge = KillOnDrop(spawn_edge(&net.data, &api, &edge_dir, &mqtt, STATUS));
    wait_until("the gateway", Duration::from_secs(30), || {
        gateway_status(STATUS).is_object()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let t0 = unix_now() as u64 * 1000 - 600_000;

    // 1. A fleet of 1,000 devices, half over MQTT 3.1.1, half over MQTT 5;
    //    a batch of 5 readings under one signature, then a single reading.
    let mut published = 0;
    rt.block_on(async {
        let mut tasks = Vec::new();
        // Devices come online a few hundred at a time, as a plant's would.
        let online = std::sync::Arc::new(tokio::sync::Semaphore::new(200));
        for (i, d) in devices.iter_mut().enumerate() {
            let a = d.signer.sign(readings(t0, 5)).unwrap();
            let b = d.signer.sign(readings(t0 + 10, 1)).unwrap();
            published += 6;
            let id = d.id.clone();
            let online = online.clone();
            tasks.push(tokio::spawn(async move {
                let _slot = online.acquire().await.unwrap();
                if i % 2 == 0 {
                    publish_reliably(MQTT, format!("fleet-{i}"), vec![a, b]).await;
                } else {
                    for batch in [a, b] {
                        let (reason, text) = publish_v5(
                            MQTT,
                            &format!("fleet-{i}"),
                            &ingot_device::topic(&id),
                            ingot_device::payload(&batch),
                        )
                        .await;
                        assert_eq!(reason, "Success", "{text}");
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    wait_drained(STATUS, published);
    for d in devices.iter().step_by(97) {
        let s = summary(&api, &owner, &d.id);
        assert_eq!(
            (
                s["last_seq"].as_u64(),
                s["readings"].as_u64(),
                s["missing"].as_u64()
            ),
            (Some(6), Some(6), Some(0)),
            "{s}"
        );
    }
    let (_, page) = signed_get(
        &api,
        Some(&owner),
        &format!("/v1/telemetry/devices/{}/readings", devices[0].id),
    );
    let ts: Vec<u64> = page["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["timestamp_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ts,
        [t0, t0 + 1, t0 + 2, t0 + 3, t0 + 4, t0 + 10],
        "device timestamps kept, in order"
    );
    assert_eq!(page["readings"][0]["measurements"][0]["value"], "1.000");

    // 2. Refusals, each with its reason (MQTT 5 PUBACK reason codes).
    let d1 = &devices[1];
    let mut forged = d1.signer.sign_at(7, readings(t0 + 20, 1)).unwrap();
    forged.readings[0].measurements[0].value = 999_999;
    let replay = d1.signer.sign_at(3, readings(t0 + 20, 1)).unwrap();
    let ghost = DeviceSigner::new(
        "manufacturer:GHOST",
        PrivateKey::generate(Scheme::Ed25519).unwrap(),
        1,
    )
    .sign(readings(t0, 1))
    .unwrap();
    let wrong_topic = d1.signer.sign_at(7, readings(t0 + 20, 1)).unwrap();
    // What the chain would refuse is refused at PUBACK, not lost after it:
    // a batch no anchoring transaction can carry (66 KB, under the 256 KiB
    // packet limit), a reading 20 minutes ahead, a clock reset an hour back.
    // (The Rust signer refuses to sign it; firmware written elsewhere
    // might not. The size is judged before the signature.)
    let mut too_large = d1.signer.sign_at(7, readings(t0 + 20, 1)).unwrap();
    too_large.readings = readings(t0 + 20, 2_000);
    let ahead = d1
        .signer
        .sign_at(7, readings(unix_now() as u64 * 1000 + 20 * 60_000, 1))
        .unwrap();
    let reset = d1.signer.sign_at(7, readings(t0 - 3_600_000, 1)).unwrap();
    // The chain's batch rules: time going backwards inside a batch, a scale
    // above 18.
    let mut backwards_readings = readings(t0 + 20, 2);
    backwards_readings.reverse();
    let backwards = d1.signer.sign_at(7, backwards_readings).unwrap();
    let mut fine_grained = readings(t0 + 20, 1);
    fine_grained[0].measurements[0].scale = 19;
    let fine_grained = d1.signer.sign_at(7, fine_grained).unwrap();
    let cases: Vec<(String, Vec<u8>, &str, &str)> = vec![
        (
            ingot_device::topic(&d1.id),
            ingot_device::payload(&forged),
            "NotAuthorized",
            "[bad_signature]",
        ),
        (
            ingot_device::topic(&d1.id),
            ingot_device::payload(&replay),
            "ImplementationSpecificError",
            "[replay]",
        ),
        (
            ingot_device::topic(&ghost.device_id),
            ingot_device::payload(&ghost),
            "NotAuthorized",
            "[unknown_device]",
        ),
        (
            ingot_device::topic(&d1.id),
            b"\x01garbage".to_vec(),
            "PayloadFormatInvalid",
            "[malformed]",
        ),
        (
            ingot_device::topic(&devices[2].id),
            ingot_device::payload(&wrong_topic),
            "TopicNameInvalid",
            "[topic_mismatch]",
        ),
        (
            ingot_device::topic(&d1.id),
            ingot_device::payload(&too_large),
            "QuotaExceeded",
            "[too_large_for_chain]",
        ),
        (
            ingot_device::topic(&d1.id),
            ingot_device::payload(&ahead),
            "PayloadFormatInvalid",
            "[future_timestamp]",
        ),
        (
            ingot_device::topic(&d1.id),
            ingot_device::payload(&reset),
            "ImplementationSpecificError",
            "[time_before_last]",
        ),
        (
            ingot_device::topic(&d1.id),
            ingot_device::payload(&backwards),
            "PayloadFormatInvalid",
            "[invalid_batch]",
        ),
        (
            ingot_device::topic(&d1.id),
            ingot_device::payload(&fine_grained),
            "PayloadFormatInvalid",
            "[invalid_batch]",
        ),
    ];
    rt.block_on(async {
        for (i, (topic, payload, reason, text)) in cases.into_iter().enumerate() {
            let (got, why) = publish_v5(MQTT, &format!("bad-{i}"), &topic, payload).await;
            assert_eq!(got, reason, "case {i}: {why}");
            assert!(
                why.contains(text),
                "case {i}: `{why}` should mention `{text}`"
            );
        }
        // The gateway keeps serving: the device's next real batch goes through,
        // and a redelivered (identical) batch is a duplicate, not a refusal.
        let good = devices[1].signer.sign_at(7, readings(t0 + 20, 1)).unwrap();
        let next = devices[1].signer.sign_at(8, readings(t0 + 30, 1)).unwrap();
        // The last batch resent, then an older one resent after a newer
        // one (a device replaying its unacknowledged batches after a
        // reconnect): duplicates both, acknowledged.
        for batch in [&good, &good, &next, &good] {
            let (got, why) = publish_v5(
                MQTT,
                "after",
                &ingot_device::topic(&devices[1].id),
                ingot_device::payload(batch),
            )
            .await;
            assert_eq!(got, "Success", "{why}");
        }
    });
    // Oversized over MQTT 3.1.1 (5 clients respect the advertised maximum and
    // never send it; the endpoint's DISCONNECT 0x95 has its own unit test):
    // the connection is closed, nothing is acknowledged.
    rt.block_on(async {
        use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
        let mut opts = MqttOptions::new("huge", "127.0.0.1", MQTT);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut events) = AsyncClient::new(opts, 4);
        client
            .publish(
                ingot_device::topic(&devices[1].id),
                QoS::AtLeastOnce,
                false,
                vec![0u8; 300 * 1024],
            )
            .await
            .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(10), events.poll())
                .await
                .expect("closed")
            {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    panic!("an oversized message was acknowledged")
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    let s = gateway_status(STATUS);
    assert_eq!(s["refused"]["too_large"], 1, "{s}");
    assert_eq!(s["duplicates"], 2, "{s}");
    for kind in [
        "bad_signature",
        "replay",
        "unknown_device",
        "malformed",
        "topic_mismatch",
        "too_large_for_chain",
        "future_timestamp",
        "time_before_last",
    ] {
        assert_eq!(s["refused"][kind], 1, "{kind}: {s}");
    }
    published += 2;
    wait_drained(STATUS, published);
    assert_eq!(summary(&api, &owner, &devices[1].id)["last_seq"], 8);

    // Decommissioned and revoked devices: refused (by the gateway if it has
    // already seen the change, else by the chain) and never anchored.
    let admin = load(&orgs.join("manufacturer"), "admin");
    let h = height(&api);
    submit_all(
        &api,
        &owner,
        &[
            tx(
                &owner,
                chain,
                h + 100,
                30_001,
                "device",
                "decommission",
                json!({"device_id": devices[2].id, "reason": "scrapped"}),
            ),
            tx(
                &admin,
                chain,
                h + 100,
                30_002,
                "identity",
                "revoke",
                json!({"certificate_pem": devices[3].pem}),
            ),
        ],
    );
    let late: Vec<ReadingBatch> = [2, 3]
        .iter()
        .map(|&i| devices[i].signer.sign_at(7, readings(t0 + 30, 1)).unwrap())
        .collect();
    rt.block_on(async {
        for (i, b) in late.into_iter().enumerate() {
            publish_reliably(MQTT, format!("late-{i}"), vec![b]).await;
        }
    });
    wait_until("both refusals", Duration::from_secs(60), || {
        let s = gateway_status(STATUS);
        let early = s["refused"]["inactive_device"].as_u64().unwrap_or(0);
        let on_chain: u64 = s["chain_refused"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.contains("decommissioned") || k.contains("revoked"))
            .map(|(_, v)| v.as_u64().unwrap())
            .sum();
        early + on_chain == 2 && s["queued"] == 0
    });
    for i in [2, 3] {
        assert_eq!(
            summary(&api, &owner, &devices[i].id)["last_seq"],
            6,
            "nothing anchored for device {i}"
        );
    }
    // What the chain refuses after the PUBACK is a dead letter. The gateway
    // trusts a device's status for 30 s: a device it has just seen active
    // and that is decommissioned right after gets its next batch
    // acknowledged, then refused by the chain.
    let d5 = &devices[5];
    let seen = d5.signer.sign_at(7, readings(t0 + 40, 1)).unwrap();
    rt.block_on(publish_reliably(MQTT, "d5-seen".into(), vec![seen]));
    wait_until(
        "the device's last batch anchored",
        Duration::from_secs(60),
        || summary(&api, &owner, &d5.id)["last_seq"] == 7,
    );
    submit_all(
        &api,
        &owner,
        &[tx(
            &owner,
            chain,
            height(&api) + 100,
            30_004,
            "device",
            "decommission",
            json!({"device_id": d5.id, "reason": "scrapped"}),
        )],
    );
    let too_late = d5.signer.sign_at(8, readings(t0 + 50, 1)).unwrap();
    rt.block_on(publish_reliably(MQTT, "d5-late".into(), vec![too_late]));
    let dead = |query: &str| {
        call(
            "GET",
            &format!("http://127.0.0.1:{STATUS}/dead-letters{query}"),
            None,
        )
    };
    let mine = format!("?device={}&payload=true", d5.id);
    wait_until("a dead letter", Duration::from_secs(60), || {
        dead(&mine).1["dead_letters"].as_array().map(Vec::len) == Some(1)
    });
    let letter = dead(&mine).1["dead_letters"][0].clone();
    assert!(
        letter["reason"]
            .as_str()
            .unwrap()
            .contains("decommissioned"),
        "{letter}"
    );
    let raw = hex::decode(letter["payload"].as_str().unwrap()).unwrap();
    let batch =
        <ReadingBatch as commonware_codec::Decode>::decode_cfg(bytes::Bytes::from(raw), &())
            .unwrap();
    assert_eq!(
        (
            batch.device_id.as_str(),
            batch.first_seq,
            letter["first_seq"].as_u64()
        ),
        (d5.id.as_str(), 8, Some(8)),
        "kept exactly as the device signed it"
    );
    let held = gateway_status(STATUS)["dead_letters"].as_u64().unwrap();
    assert!(held >= 1);
    assert_eq!(dead("?limit=0").0, 400);
    assert_eq!(dead("?after=x").0, 400);
    let url = format!("http://127.0.0.1:{STATUS}/dead-letters/{}", letter["id"]);
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    assert_eq!(agent.delete(&url).call().unwrap().status().as_u16(), 204);
    assert_eq!(agent.delete(&url).call().unwrap().status().as_u16(), 404);
    assert_eq!(gateway_status(STATUS)["dead_letters"], held - 1);

    // 3. The gateway killed mid-stream: nothing acknowledged is lost, nothing
    //    is anchored twice.
    let movers: Vec<usize> = (10..60).collect();
    let streams = sign_streams(&mut devices, &movers, 10, t0 + 100, 3);
    rt.block_on(async {
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|(i, batches)| tokio::spawn(publish_reliably(MQTT, format!("mover-{i}"), batches)))
            .collect();
        tokio::time::sleep(Duration::from_millis(700)).await;
        edge.0.kill().unwrap(); // SIGKILL: no chance to flush anything
        edge.0.wait().unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        edge = KillOnDrop(spawn_edge(&net.data, &api, &edge_dir, &mqtt, STATUS));
        for t in tasks {
            t.await.unwrap();
        }
    });
    wait_until(
        "the restarted gateway to drain",
        Duration::from_secs(120),
        || {
            gateway_status(STATUS)["queued"] == 0
                && movers
                    .iter()
                    .all(|&i| summary(&api, &owner, &devices[i].id)["last_seq"] == 36)
        },
    );
    for &i in &movers {
        let s = summary(&api, &owner, &devices[i].id);
        assert_eq!(
            (s["readings"].as_u64(), s["missing"].as_u64()),
            (Some(36), Some(0)),
            "device {i}: {s}"
        );
    }

    // 4. The chain unreachable: the gateway keeps acknowledging (on disk),
    //    then forwards everything in order with the original timestamps.
    net.keep = true;
    interrupt(&mut net.up);
    let offline: Vec<usize> = (100..120).collect();
    let offline_batches = sign_streams(&mut devices, &offline, 2, t0 + 500, 2);
    rt.block_on(async {
        let tasks: Vec<_> = offline_batches
            .into_iter()
            .map(|(i, b)| tokio::spawn(publish_reliably(MQTT, format!("offline-{i}"), b)))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let s = gateway_status(STATUS);
    assert_eq!(s["queued"], 40, "stored while the chain is away: {s}");
    net.up = spawn_up(&net.data, 1, API, P2P);
    net.keep = false;
    wait_up(&api);
    wait_until(
        "forwarding after the outage",
        Duration::from_secs(120),
        || gateway_status(STATUS)["queued"] == 0,
    );
    for &i in &offline {
        let s = summary(&api, &owner, &devices[i].id);
        assert_eq!(
            (s["last_seq"].as_u64(), s["missing"].as_u64()),
            (Some(10), Some(0)),
            "{s}"
        );
    }
    let (_, page) = signed_get(
        &api,
        Some(&owner),
        &format!(
            "/v1/telemetry/devices/{}/readings?after_seq=6",
            devices[100].id
        ),
    );
    let ts: Vec<u64> = page["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["timestamp_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(ts, [t0 + 500, t0 + 501, t0 + 510, t0 + 511]);

    // 5. Proofs: a reading verifies offline against genesis; tampering fails;
    //    outsiders are refused until the owner grants telemetry.read.
    let path = format!("/v1/telemetry/devices/{}/readings/3/proof", devices[0].id);
    let (s, proof) = signed_get(&api, Some(&owner), &path);
    assert_eq!(s, 200, "{proof}");
    let proof: ingot_light::ReadingProof = serde_json::from_value(proof).unwrap();
    let verified = proof.verify(&validators).unwrap();
    assert_eq!(verified.trust, Trust::DeviceSigned);
    let reading = verified.reading;
    assert_eq!(reading.timestamp_ms, t0 + 2);
    let mut tampered = proof.clone();
    let mut r = reading.clone();
    r.measurements[0].value += 1;
    tampered.reading = hex::encode(r.encode());
    assert!(tampered.verify(&validators).is_err());
    let mut moved = proof.clone();
    moved.seq = 4;
    assert!(moved.verify(&validators).is_err());
    let outsider = load(&orgs.join("logistics"), "member");
    let regulator = load(&orgs.join("regulator"), "member");
    assert_eq!(signed_get(&api, Some(&outsider), &path).0, 403);
    assert_eq!(signed_get(&api, None, &path).0, 401);
    assert_eq!(signed_get(&api, Some(&regulator), &path).0, 200);
    submit_all(
        &api,
        &owner,
        &[tx(
            &owner,
            chain,
            height(&api) + 100,
            30_003,
            "access",
            "set_policy",
            json!({"target": format!("device:{}", devices[0].id), "accessor": "org:logistics", "operations": ["telemetry.read"]}),
        )],
    );
    assert_eq!(signed_get(&api, Some(&outsider), &path).0, 200);
    let (_, proven) = signed_get(
        &api,
        Some(&owner),
        &format!(
            "/v1/telemetry/devices/{}/readings?prove=true&limit=2",
            devices[0].id
        ),
    );
    for r in proven["readings"].as_array().unwrap() {
        let p: ingot_light::ReadingProof = serde_json::from_value(r["proof"].clone()).unwrap();
        p.verify(&validators).unwrap();
    }

    // 6. External-broker mode: Mosquitto, and `mosquitto_pub` as the device.
    let mosq_dir = net.data.join("mosquitto");
    std::fs::create_dir_all(&mosq_dir).unwrap();
    std::fs::write(
        mosq_dir.join("m.conf"),
        format!("listener {BROKER} 127.0.0.1\nallow_anonymous true\n"),
    )
    .unwrap();
    let mosquitto = ["mosquitto", "/usr/sbin/mosquitto"]
        .iter()
        .find_map(|bin| {
            Command::new(bin)
                .arg("-c")
                .arg(mosq_dir.join("m.conf"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        })
        .expect("mosquitto must be installed (.ci/run installs it)");
    let _mosquitto = KillOnDrop(mosquitto);
    std::thread::sleep(Duration::from_millis(500));
    let bridge_args = [
        "--broker".to_string(),
        format!("127.0.0.1:{BROKER}"),
        "--client-id".into(),
        "edge-test".into(),
    ];
    let bridge_args: Vec<&str> = bridge_args.iter().map(String::as_str).collect();
    let bridge = spawn_edge(
        &net.data,
        &api,
        &net.data.join("edge-bridge"),
        &bridge_args,
        BRIDGE_STATUS,
    );
    let _bridge = KillOnDrop(bridge);
    wait_until("the bridge", Duration::from_secs(30), || {
        gateway_status(BRIDGE_STATUS).is_object()
    });
    std::thread::sleep(Duration::from_millis(1500)); // let it subscribe
    let mut bridged = bridged_device;
    let batch = bridged.signer.sign(readings(t0, 4)).unwrap();
    let file = mosq_dir.join("batch.bin");
    std::fs::write(&file, ingot_device::payload(&batch)).unwrap();
    let out = Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &BROKER.to_string(),
            "-q",
            "1",
            "-V",
            "mqttv5",
        ])
        .args(["-t", &ingot_device::topic(&bridged.id), "-f"])
        .arg(&file)
        .output()
        .expect("mosquitto_pub must be installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        "the bridged reading on chain",
        Duration::from_secs(60),
        || summary(&api, &owner, &bridged.id)["last_seq"] == 4,
    );

    // 7. Retention: readings older than the node's 30 days leave the store for
    //    the archive, whose records still verify offline.
    let mut old = archived_device;
    let long_ago = unix_now() as u64 * 1000 - 40 * 86_400_000;
    let batch = old.signer.sign(readings(long_ago, 3)).unwrap();
    rt.block_on(publish_reliably(MQTT, "old".into(), vec![batch]));
    let archive_dir = net
        .data
        .join("node-0")
        .join("data")
        .join("telemetry-archive");
    let mut line = String::new();
    wait_until("the archive", Duration::from_secs(60), || {
        line = archived_line(&archive_dir, &old.id).unwrap_or_default();
        !line.is_empty()
    });
    let archived: ingot_light::BatchArchive = serde_json::from_str(&line).unwrap();
    let batch = archived.verify(&validators).unwrap();
    assert_eq!(batch.readings[0].timestamp_ms, long_ago);
    archived
        .reading_proof(2)
        .unwrap()
        .verify(&validators)
        .unwrap();
    let gone = format!("/v1/telemetry/devices/{}/readings/1/proof", old.id);
    wait_until("the store to drop it", Duration::from_secs(10), || {
        signed_get(&api, Some(&owner), &gone).0 == 404
    });
    assert_eq!(
        summary(&api, &owner, &old.id)["last_seq"],
        3,
        "the summary stays in state"
    );

    // 8. A connection flood from one address: the gateway holds at most its
    //    per-address cap (1,000 by default), closes the rest at once and
    //    counts them, and devices publish again once the flood is gone.
    raise_descriptor_limit();
    let flood: Vec<std::net::TcpStream> = (0..1_100)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", MQTT)).ok())
        .collect();
    wait_until("refusals counted", Duration::from_secs(10), || {
        gateway_status(STATUS)["connections_refused"].as_u64() >= Some(50)
    });
    drop(flood);
    let batch = old.signer.sign(readings(long_ago + 1_000, 1)).unwrap();
    rt.block_on(publish_reliably(MQTT, "after-flood".into(), vec![batch]));
    wait_until("a reading after the flood", Duration::from_secs(60), || {
        summary(&api, &owner, &old.id)["last_seq"] == 4
    });

    // 8b. The pure-Python reference device, for every scheme.
    let python = python_device::Chain {
        api: &api,
        chain,
        owner: &owner,
        org_dir: &orgs.join("manufacturer"),
        genesis: &genesis,
        mqtt: MQTT,
    };
    let made = python_device::reference_device_for_every_scheme(&python);
    // 8c. A gateway with TLS and signed CONNECTs only.
    python_device::authenticated_tls_gateway(&python, &made, &net.data, TLS_MQTT, TLS_STATUS);
    // 8d. paho-mqtt, the Eclipse client, on the plain gateway.
    python_device::paho_conformance(&python, &made, STATUS);
    // 8e. Plant equipment that cannot sign: OPC UA and Modbus TCP sources,
    //     gateway-attested.
    plant::equipment_through_opcua_and_modbus(
        &python,
        &net.data,
        PLANT_MQTT,
        PLANT_STATUS,
        PLANT_MODBUS,
        PLANT_OPCUA,
    );

    // 9. SIGINT (ignored by inheritance, as for a background job) stops the
    //    gateway cleanly.
    let gateway = &mut edge.0;
    unsafe { libc::kill(gateway.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = gateway.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = gateway.kill();
            panic!("the gateway ignored SIGINT");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}

struct KillOnDrop(Child);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        interrupt(&mut self.0);
    }
}

fn archived_line(dir: &PathBuf, device: &str) -> Option<String> {
    for entry in std::fs::read_dir(dir).ok()? {
        let text = std::fs::read_to_string(entry.ok()?.path()).ok()?;
        for line in text.lines() {
            let v: ingot_light::BatchArchive = serde_json::from_str(line).ok()?;
            let raw = hex::decode(&v.batch).ok()?;
            let b = <ReadingBatch as commonware_codec::DecodeExt<()>>::decode(raw).ok()?;
            if b.device_id == device {
                return Some(line.to_string());
            }
        }
    }
    None
}
