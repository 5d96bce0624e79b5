//! `ingot bench --workload plant`: gateway-attested readings from plant
//! equipment that cannot sign, end to end — a Modbus TCP server and an OPC UA
//! server (the Python simulators of examples/plant-simulators, one value per
//! equipment), read by an edge gateway run in this process with a plant
//! file, signed by its gateway device, anchored and executed by the network.
//! One phase per source kind; each reports readings/s to executed (the
//! gateway's `forwarded_readings` over a steady window) and sample →
//! executed latency (equipment followed live over the telemetry stream:
//! now − the reading's source timestamp, on one host's clock).

use crate::bench::{issue_many, percentile, BenchArgs};
use crate::client::Sender;
use serde_json::{json, Value};
use std::{
    io::BufRead,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// Equipment followed live for latency.
const LATENCY_EQUIPMENT: usize = 8;
/// Seconds of ramp-up before measuring, then of measurement.
const WARMUP_S: u64 = 15;
const MEASURE_S: u64 = 45;
const MODBUS_PORT: u16 = 18_970;
const OPCUA_PORT: u16 = 18_971;
const STATUS: &str = "127.0.0.1:18972";

struct Simulator(Child);
impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn simulator(script: &str, port: u16, points: usize) -> anyhow::Result<Simulator> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/plant-simulators/"
    );
    let mut child = Command::new("python3")
        .arg(format!("{path}{script}"))
        .arg(port.to_string())
        .arg(points.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    anyhow::ensure!(
        line.trim() == "ready",
        "{script} did not start (pip install asyncua==2.1.0 pymodbus==3.16.1)"
    );
    Ok(Simulator(child))
}

pub fn run(
    a: &BenchArgs,
    senders: &[Sender],
    run: u64,
    report: &mut Value,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    let n = a.devices.max(1);
    let org = a.data.join("orgs/manufacturer");
    let gateway = issue_many(a, 1, |_| {
        crate::bench::device_spec(&format!("gw{run:x}"), "edge-box")
    })?
    .remove(0);
    let gateway_id = format!("manufacturer:gw{run:x}");
    let equipment: Vec<String> = (0..2 * n)
        .map(|i| format!("manufacturer:eq{run:x}-{i}"))
        .collect();

    eprintln!("registering the gateway device and {} equipment...", 2 * n);
    let register_gateway = crate::bench::drive_waves(a, senders, 1, |_, s, chain, valid_until| {
        let args = ingot_execution::modules::device::RegisterArg {
            certificate: gateway.cert_der.clone().into(),
            name: format!("manufacturer/pbench-{run:x}/gw"),
            metadata: "{}".into(),
            possession: None,
        };
        crate::bench::sign_raw(
            s,
            chain,
            valid_until,
            run << 20,
            "device",
            "register",
            commonware_codec::Encode::encode(&args),
        )
    })?;
    crate::bench::wait_executed(&a.nodes[0], register_gateway.last_height)?;
    let all: Vec<String> = std::iter::once(gateway_id.clone())
        .chain(equipment.iter().cloned())
        .collect();
    for (method, salt) in [("register_equipment", 1u64), ("activate", 2)] {
        let count = if method == "activate" {
            all.len()
        } else {
            equipment.len()
        };
        let m = crate::bench::drive_waves(a, senders, count, |i, s, chain, valid_until| {
            let salt = (run << 26) ^ (salt << 24) ^ i as u64;
            let args = match method {
                "register_equipment" => json!({
                    "serial": format!("eq{run:x}-{i}"),
                    "model": "bench-press",
                    "name": format!("manufacturer/pbench-{run:x}/eq-{i}"),
                    "gateway": gateway_id,
                }),
                _ => json!({"device_id": all[i]}),
            };
            crate::bench::sign(s, chain, valid_until, salt, "device", method, args)
        })?;
        anyhow::ensure!(
            m.finalized == count,
            "only {} of {count} {method}",
            m.finalized
        );
        crate::bench::wait_executed(&a.nodes[0], m.last_height)?;
    }

    let key_path = std::env::temp_dir().join(format!("ingot-bench-gw-{run:x}.pem"));
    std::fs::write(&key_path, gateway.key.to_pkcs8_pem()?)?;
    let owner = Sender::load(&org.join("member.key"), &org.join("member.pem"))?;
    let mut results = serde_json::Map::new();
    // Each phase follows its equipment as another member of the owner: a
    // phase's streams stay open until the node's keep-alive, and each member
    // may hold only a few.
    for ((kind, ids), reader) in [("modbus", &equipment[..n]), ("opcua", &equipment[n..])]
        .into_iter()
        .zip([&owner, &senders[0]])
    {
        let (_sim, plant) = match kind {
            "modbus" => {
                let sim = simulator("modbus_server.py", MODBUS_PORT, n)?;
                let registers: Vec<_> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| ingot_edge::plant::config::ModbusPoint {
                        equipment: id.clone(),
                        measurement: "count".into(),
                        kind: Default::default(),
                        address: 10 + i as u16,
                        words: 1,
                        signed: false,
                        scale: 0,
                        unit: String::new(),
                    })
                    .collect();
                let source = ingot_edge::plant::config::ModbusSource {
                    address: format!("127.0.0.1:{MODBUS_PORT}"),
                    unit: 1,
                    poll_ms: 100,
                    registers,
                };
                (sim, (vec![source], vec![]))
            }
            _ => {
                let sim = simulator("opcua_server.py", OPCUA_PORT, n)?;
                let nodes: Vec<_> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| ingot_edge::plant::config::OpcUaPoint {
                        equipment: id.clone(),
                        node_id: format!("ns=2;s=V{i}"),
                        measurement: "count".into(),
                        scale: 3,
                        unit: String::new(),
                    })
                    .collect();
                let source = ingot_edge::plant::config::OpcUaSource {
                    endpoint: format!("opc.tcp://127.0.0.1:{OPCUA_PORT}/"),
                    publishing_ms: 100,
                    nodes,
                };
                (sim, (vec![], vec![source]))
            }
        };
        let plant = ingot_edge::plant::PlantConfig {
            gateway_device: gateway_id.clone(),
            gateway_key: key_path.clone(),
            batch_ms: 1_000,
            modbus: plant.0,
            opcua: plant.1,
        };
        plant.check()?;
        let m = phase(a, reader, plant, ids, run, kind)?;
        rows.push(format!(
            "| plant, {kind}, {n} equipment | {} readings | {:.0} readings/s | {:.0} | {:.0} | {:.0} |",
            m["readings"], m["readings_per_s"].as_f64().unwrap_or(0.0),
            m["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
            m["latency_ms"]["p95"].as_f64().unwrap_or(0.0),
            m["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        ));
        results.insert(kind.into(), m);
    }
    let _ = std::fs::remove_file(&key_path);
    report["plant"] = Value::Object(results);
    Ok(())
}

/// One source kind: start a gateway reading it, measure, stop.
fn phase(
    a: &BenchArgs,
    owner: &Sender,
    plant: ingot_edge::plant::PlantConfig,
    ids: &[String],
    run: u64,
    kind: &str,
) -> anyhow::Result<Value> {
    let gateway_dir = std::env::temp_dir().join(format!("ingot-bench-plant-{kind}-{run:x}"));
    let status: std::net::SocketAddr = STATUS.parse()?;
    // The MQTT endpoint is idle here: only the plant sources feed it.
    let rt = crate::bench_telemetry::start_gateway(
        a,
        gateway_dir.clone(),
        "127.0.0.1:0".parse()?,
        status,
        Some(plant),
    )?;
    let http = crate::client::Http::default();
    let gateway = |http: &crate::client::Http| {
        http.get(&format!("http://{status}/status"))
            .unwrap_or(Value::Null)
    };

    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let measuring = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for id in ids.iter().take(LATENCY_EQUIPMENT) {
        let (latencies, measuring) = (latencies.clone(), measuring.clone());
        crate::bench_telemetry::follow_stream(&agent, &a.nodes[0], id, owner, move |v| {
            if !measuring.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let now = ingot_edge::plant::now_ms() as f64;
            let mut l = latencies.lock().unwrap();
            for r in v["readings"].as_array().into_iter().flatten() {
                if let Some(ts) = r["timestamp_ms"].as_u64() {
                    l.push(now - ts as f64);
                }
            }
        })?;
    }

    eprintln!("{kind}: warming up {WARMUP_S} s, then measuring {MEASURE_S} s...");
    std::thread::sleep(Duration::from_secs(WARMUP_S));
    let s0 = gateway(&http);
    measuring.store(true, std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(MEASURE_S));
    let s1 = gateway(&http);
    let seconds = started.elapsed().as_secs_f64();
    measuring.store(false, std::sync::atomic::Ordering::Relaxed);
    let delta = |k: &str| {
        s1[k]
            .as_u64()
            .unwrap_or(0)
            .saturating_sub(s0[k].as_u64().unwrap_or(0))
    };
    let plant_delta = |k: &str| {
        s1["plant"][k]
            .as_u64()
            .unwrap_or(0)
            .saturating_sub(s0["plant"][k].as_u64().unwrap_or(0))
    };
    let readings = delta("forwarded_readings");
    let mut lat = latencies.lock().unwrap().clone();
    lat.sort_by(|x, y| x.partial_cmp(y).unwrap());
    rt.shutdown_background();
    let _ = std::fs::remove_dir_all(&gateway_dir);
    Ok(json!({
        "equipment": ids.len(),
        "seconds": seconds,
        "readings": readings,
        "readings_per_s": readings as f64 / seconds,
        "samples_per_s": plant_delta("samples") as f64 / seconds,
        "accepted_readings_per_s": plant_delta("readings_accepted") as f64 / seconds,
        "batches_per_s": plant_delta("batches_accepted") as f64 / seconds,
        "queued_at_end": s1["queued"],
        "plant": s1["plant"],
        "chain_refused": s1["chain_refused"],
        "latency_ms": {"samples": lat.len(), "p50": percentile(&lat, 0.5), "p95": percentile(&lat, 0.95), "p99": percentile(&lat, 0.99)},
    }))
}
