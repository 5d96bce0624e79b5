//! `ingot bench`: load a running network and measure finalized throughput
//! and submit→final latency.
//!
//! Workloads:
//! - `notary` (default): notary writes from many distinct senders.
//! - `devices`: register `--txs` devices (each its own device certificate from
//!   the manufacturer CA, under `manufacturer/bench-<run>/...`), then measure
//!   name resolution latency over HTTP with that many devices on chain, then
//!   activate a sample, grant one group policy, and measure access requests.
//! - `telemetry`: signed readings through the edge gateway (`bench_telemetry`).
//! - `workflow`: BPMN instances started and their tasks completed (`bench_workflow`).
//! - `hot-keys`, `mixed`: contention on a few records, and a mix (`bench_hot`).
//!
//! Every run reports CPU and memory per validator process (`bench_resources`).
//!
//! Latency is measured end to end: from just before a transaction is POSTed to
//! when a poller first sees it in a finalized block (the poller fetches new
//! blocks every 20 ms, so figures carry up to that much observation delay).
//! Transactions are signed in waves so none outlives its validity window.

use crate::client::{self, Sender};
use clap::{Args, ValueEnum};
use commonware_codec::Encode;
use ingot_crypto::{
    device_uri, issue_end_entity, model_uri, unix_now, CertInfo, CertSpec, PrivateKey, Role, Scheme,
};
use ingot_types::{Call, Digest};
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    Notary,
    Devices,
    /// Signed device readings through the edge gateway (MQTT) to the chain.
    Telemetry,
    /// Gateway-attested readings of plant equipment: Modbus TCP and OPC UA
    /// simulators (`--devices` equipment each) read by the edge gateway.
    Plant,
    /// BPMN task completions (`--txs` instances, three completions each).
    Workflow,
    /// Hot keys: every sender updates the same `--hot-keys` access policies.
    HotKeys,
    /// Mixed: notary writes, hot-key policy updates and workflow starts, in turn.
    Mixed,
}

#[derive(Args, Clone)]
pub struct BenchArgs {
    /// Data directory of an `ingot up` consortium (its manufacturer CA signs the senders).
    #[arg(long, default_value = ".ingot")]
    pub data: PathBuf,
    /// Node API URLs to spread submissions over.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub nodes: Vec<String>,
    #[arg(long, value_enum, default_value_t = Workload::Notary)]
    pub workload: Workload,
    /// Transactions (notary) or devices to register (devices).
    #[arg(long, default_value_t = 10_000)]
    pub txs: usize,
    /// Distinct senders (each its own key and certificate).
    #[arg(long, default_value_t = 1_000)]
    pub senders: usize,
    /// Concurrent HTTP submitters.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Transactions per HTTP request (1 = `/v1/tx`, more = `/v1/txs`).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Offered load in tx/s over all submitters (0 = as fast as possible).
    /// Latency is only meaningful below the network's capacity: past it,
    /// it measures the queue the benchmark itself builds up.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Transactions signed per wave (each wave must finalize within the
    /// validity window of 1,000 blocks).
    #[arg(long, default_value_t = 50_000)]
    pub wave: usize,
    /// Telemetry: devices publishing (`--txs` is then the number of readings).
    #[arg(long, default_value_t = 1_000)]
    pub devices: usize,
    /// Telemetry: readings under one device signature (1 = every reading signed).
    #[arg(long, default_value_t = 100)]
    pub readings_per_batch: usize,
    /// Telemetry: anchoring transactions the gateway keeps in flight.
    #[arg(long, default_value_t = 64)]
    pub inflight: usize,
    /// Hot keys / mixed: how many records all senders update.
    #[arg(long, default_value_t = 4)]
    pub hot_keys: usize,
}

/// A device certificate of the manufacturer, valid for a day.
pub(crate) fn device_spec(serial: &str, model: &str) -> CertSpec {
    let now = unix_now();
    CertSpec {
        common_name: serial.into(),
        organization: "manufacturer".into(),
        san_uris: vec![device_uri("manufacturer", serial), model_uri(model)],
        not_before: now - 3600,
        not_after: now + 86_400,
        role: Role::Device,
    }
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Throughput and latency of one driven phase.
#[derive(Default)]
pub(crate) struct Measured {
    submitted: usize,
    rejected: usize,
    pub(crate) finalized: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
    /// Highest finalized height the poller read.
    pub(crate) last_height: u64,
}

impl Measured {
    fn absorb(&mut self, other: Measured) {
        self.submitted += other.submitted;
        self.rejected += other.rejected;
        self.finalized += other.finalized;
        self.seconds += other.seconds;
        self.latencies_ms.extend(other.latencies_ms);
        self.last_height = self.last_height.max(other.last_height);
    }

    pub(crate) fn report(&mut self) -> Value {
        self.latencies_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let l = &self.latencies_ms;
        json!({
            "submitted": self.submitted,
            "rejected": self.rejected,
            "finalized": self.finalized,
            "seconds": self.seconds,
            "finalized_tx_per_s": self.finalized as f64 / self.seconds.max(1e-9),
            "latency_ms": {"p50": percentile(l, 0.50), "p95": percentile(l, 0.95), "p99": percentile(l, 0.99), "max": l.last().copied().unwrap_or(0.0)},
        })
    }
}

/// A pre-signed transaction: (hash hex, canonical encoding hex).
type Signed = (String, String);

pub(crate) fn sign(
    sender: &Sender,
    chain: Digest,
    valid_until: u64,
    salt: u64,
    module: &str,
    method: &str,
    args: Value,
) -> anyhow::Result<Signed> {
    let args =
        ingot_execution::args::from_json(module, method, &args).map_err(anyhow::Error::msg)?;
    sign_raw(sender, chain, valid_until, salt, module, method, args)
}

/// [`sign`] with canonical arguments already encoded.
pub(crate) fn sign_raw(
    sender: &Sender,
    chain: Digest,
    valid_until: u64,
    salt: u64,
    module: &str,
    method: &str,
    args: bytes::Bytes,
) -> anyhow::Result<Signed> {
    let tx = sender.sign(
        chain,
        valid_until,
        salt,
        Call {
            module: module.into(),
            method: method.into(),
            args,
        },
    )?;
    Ok((
        ingot_types::hex_digest(&tx.hash()),
        hex::encode(tx.encode()),
    ))
}

/// Issue `n` certificates from the manufacturer CA, on all cores.
pub(crate) fn issue_many(
    a: &BenchArgs,
    n: usize,
    spec: impl Fn(usize) -> CertSpec + Sync,
) -> anyhow::Result<Vec<Sender>> {
    let ca_dir = a.data.join("orgs/manufacturer");
    let ca_key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(ca_dir.join("ca.key"))?)?;
    let ca_pem = std::fs::read_to_string(ca_dir.join("ca.pem"))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = n.div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                let (ca_key, ca_pem, spec) = (&ca_key, &ca_pem, &spec);
                scope.spawn(move || -> anyhow::Result<Vec<Sender>> {
                    (start..(start + per).min(n))
                        .map(|i| {
                            let key = PrivateKey::generate(Scheme::Ed25519)?;
                            let pem =
                                issue_end_entity(ca_key, ca_pem, &key.public_key(), &spec(i))?;
                            Ok(Sender {
                                key,
                                cert_der: CertInfo::from_pem(&pem)?.der,
                            })
                        })
                        .collect()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.extend(h.join().expect("issuing thread")?);
        }
        Ok(out)
    })
}

/// A client that reads as the consortium's manufacturer member: receipts,
/// blocks and state are members-only, so the benchmark's polling is signed
/// (one signature per request, as any real client's).
pub(crate) fn reader(a: &BenchArgs) -> anyhow::Result<client::Http> {
    let dir = a.data.join("orgs/manufacturer");
    client::ReadAs {
        key: Some(dir.join("member.key")),
        cert: Some(dir.join("member.pem")),
    }
    .http()
}

fn member_spec(i: usize) -> CertSpec {
    let now = unix_now();
    CertSpec {
        common_name: format!("bench-{i}"),
        organization: "manufacturer".into(),
        san_uris: vec![],
        not_before: now - 3600,
        not_after: now + 86_400,
        role: Role::Member,
    }
}

/// Refusals a client retries later: the node's mempool, or this sender's
/// share of it, is full (stable codes of the API).
fn retry_later(code: &str) -> bool {
    matches!(code, "mempool_full" | "sender_limit")
}

/// Submit one group (one request), resubmitting what the node refused only
/// because its mempool was full — the backpressure a real client honours —
/// for up to a minute. Returns how many were refused for good.
fn submit_with_backpressure(http: &client::Http, node: &str, group: &[Signed]) -> usize {
    let mut pending: Vec<&str> = group.iter().map(|(_, raw)| raw.as_str()).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut full = Vec::new();
        let mut refused = 0;
        if pending.len() == 1 {
            if let Err(e) = http.post(&format!("{node}/v1/tx"), &json!({"tx": pending[0]})) {
                let code = match e.downcast_ref::<ingot_client::ClientError>() {
                    Some(ingot_client::ClientError::Api { code, .. }) => code.as_str(),
                    _ => "",
                };
                if retry_later(code) {
                    full.push(pending[0]);
                } else {
                    refused += 1;
                }
            }
        } else {
            match http.post(&format!("{node}/v1/txs"), &json!({"txs": pending})) {
                Ok(reply) => match serde_json::from_value::<ingot_api::core::Submitted>(reply) {
                    Ok(submitted) => {
                        for (raw, r) in pending.iter().zip(submitted.results) {
                            match r.code.as_deref() {
                                None => {}
                                Some(code) if retry_later(code) => full.push(*raw),
                                Some(_) => refused += 1,
                            }
                        }
                    }
                    Err(_) => refused += pending.len(),
                },
                Err(_) => refused += pending.len(),
            }
        }
        if full.is_empty() || Instant::now() > deadline {
            return refused + full.len();
        }
        std::thread::sleep(Duration::from_millis(100));
        pending = full;
    }
}

/// Submit `txs` (spread over nodes and submitters, paced by `--rate`) and
/// wait until all accepted ones are seen in finalized blocks.
fn drive(a: &BenchArgs, txs: Vec<Signed>) -> anyhow::Result<Measured> {
    let submitted: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let start_height = client::get(&format!("{}/v1/status", a.nodes[0]))?["finalized_height"]
        .as_u64()
        .unwrap_or(0);

    // Poller: records when each transaction first appears in a finalized block.
    let last_seen = Arc::new(std::sync::atomic::AtomicU64::new(start_height));
    let poller = {
        let (node, seen, done) = (a.nodes[0].clone(), seen.clone(), done.clone());
        let (last_seen, submitted) = (last_seen.clone(), submitted.clone());
        let http = reader(a)?;
        std::thread::spawn(move || {
            let mut next = start_height + 1;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                match http.get(&format!("{node}/v1/blocks/{next}?txs=hashes&raw=false")) {
                    Ok(b) => {
                        let t = Instant::now();
                        // Only this phase's transactions: the poller may start
                        // below the tip and read an earlier phase's blocks.
                        let mine = submitted.lock().unwrap();
                        let mut s = seen.lock().unwrap();
                        for tx in b["transactions"].as_array().into_iter().flatten() {
                            if let Some(h) = tx.as_str().filter(|h| mine.contains_key(*h)) {
                                s.entry(h.to_string()).or_insert(t);
                            }
                        }
                        last_seen.store(next, std::sync::atomic::Ordering::SeqCst);
                        next += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };

    let total = txs.len();
    let begin = Instant::now();
    let chunks: Vec<Vec<Signed>> = txs
        .chunks(total.div_ceil(a.concurrency).max(1))
        .map(|c| c.to_vec())
        .collect();
    let mut workers = Vec::new();
    let rejected = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for (w, chunk) in chunks.into_iter().enumerate() {
        let node = a.nodes[w % a.nodes.len()].clone();
        let (submitted, rejected) = (submitted.clone(), rejected.clone());
        let batch = a.batch.max(1);
        // Each submitter sends one batch per `period` to offer `rate` in total.
        let period = (a.rate > 0)
            .then(|| Duration::from_secs_f64(batch as f64 * a.concurrency as f64 / a.rate as f64));
        workers.push(std::thread::spawn(move || {
            let http = client::Http::default();
            let started = Instant::now();
            for (n, group) in chunk.chunks(batch).enumerate() {
                if let Some(period) = period {
                    let due = started + period * n as u32;
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                let now = Instant::now();
                submitted
                    .lock()
                    .unwrap()
                    .extend(group.iter().map(|(hash, _)| (hash.clone(), now)));
                let refused = submit_with_backpressure(&http, &node, group);
                rejected.fetch_add(refused, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    let accepted = total - rejected.load(std::sync::atomic::Ordering::SeqCst);
    while seen.lock().unwrap().len() < accepted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = poller.join();

    let submitted = submitted.lock().unwrap();
    let seen = seen.lock().unwrap();
    let latencies_ms: Vec<f64> = seen
        .iter()
        .filter_map(|(h, t)| {
            submitted
                .get(h)
                .map(|s| t.duration_since(*s).as_secs_f64() * 1000.0)
        })
        .collect();
    let last = seen.values().max().copied().unwrap_or(begin);
    Ok(Measured {
        submitted: total,
        rejected: total - accepted,
        finalized: latencies_ms.len(),
        seconds: last.duration_since(begin).as_secs_f64(),
        latencies_ms,
        last_height: last_seen.load(std::sync::atomic::Ordering::SeqCst),
    })
}

/// Sign and drive `n` transactions in waves; `make(i, sender, chain, valid_until)` signs number `i`.
pub(crate) fn drive_waves(
    a: &BenchArgs,
    senders: &[Sender],
    n: usize,
    make: impl Fn(usize, &Sender, Digest, u64) -> anyhow::Result<Signed> + Sync,
) -> anyhow::Result<Measured> {
    let mut total = Measured::default();
    let mut start = 0;
    while start < n {
        let end = (start + a.wave.max(1)).min(n);
        let (chain, height) = client::chain_info(&a.nodes[0])?;
        // A margin below the full window: the node that receives a
        // transaction may be a few blocks behind the one asked for the tip.
        let valid_until = height + ingot_types::limits::MAX_VALIDITY_BLOCKS - 20;
        eprintln!("signing transactions {start}..{end}...");
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per = (end - start).div_ceil(threads).max(1);
        let txs: Vec<Signed> = std::thread::scope(|scope| {
            let handles: Vec<_> = (start..end)
                .step_by(per)
                .map(|s| {
                    let make = &make;
                    scope.spawn(move || -> anyhow::Result<Vec<Signed>> {
                        (s..(s + per).min(end))
                            .map(|i| make(i, &senders[i % senders.len()], chain, valid_until))
                            .collect()
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(end - start);
            for h in handles {
                out.extend(h.join().expect("signing thread")?);
            }
            anyhow::Ok(out)
        })?;
        total.absorb(drive(a, txs)?);
        start = end;
    }
    Ok(total)
}

fn setup(a: &BenchArgs, cores: usize) -> anyhow::Result<Value> {
    let status = client::get(&format!("{}/v1/status", a.nodes[0]))?;
    Ok(json!({
        "nodes": a.nodes,
        "validators": status["validators"].as_array().map(|v| v.len()),
        "cores": cores,
        "senders": a.senders,
        "concurrency": a.concurrency,
        "batch": a.batch,
        "offered_tx_per_s": a.rate,
        "wave": a.wave,
    }))
}

pub(crate) fn row(name: &str, m: &Value) -> String {
    format!(
        "| {name} | {}/{} | {:.0} | {:.0} | {:.0} | {:.0} |",
        m["finalized"],
        m["submitted"],
        m["finalized_tx_per_s"].as_f64().unwrap_or(0.0),
        m["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
        m["latency_ms"]["p95"].as_f64().unwrap_or(0.0),
        m["latency_ms"]["p99"].as_f64().unwrap_or(0.0)
    )
}

pub fn run(a: BenchArgs, json_out: bool) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    eprintln!("issuing {} sender certificates...", a.senders);
    let senders = issue_many(&a, a.senders, member_spec)?;
    let run_id: u64 = rand::random();
    let mut report =
        json!({"workload": format!("{:?}", a.workload).to_lowercase(), "setup": setup(&a, cores)?});
    let mut rows = Vec::new();
    // CPU and memory of every validator under --data, over the whole run.
    let sampler = crate::bench_resources::Sampler::start(&a.data);
    match a.workload {
        Workload::Notary => {
            let mut m = drive_waves(&a, &senders, a.txs, |i, s, chain, valid_until| {
                let doc = ingot_types::sha256(&[&run_id.to_be_bytes(), &(i as u64).to_be_bytes()]);
                sign(
                    s,
                    chain,
                    valid_until,
                    i as u64,
                    "notary",
                    "record",
                    json!({"document_hash": ingot_types::hex_digest(&doc), "metadata": "bench"}),
                )
            })?;
            let m = m.report();
            rows.push(row("notary writes", &m));
            report["notary"] = m;
        }
        Workload::Devices => devices(&a, &senders, run_id, &mut report, &mut rows)?,
        Workload::Telemetry => {
            crate::bench_telemetry::run(&a, &senders, run_id, &mut report, &mut rows)?
        }
        Workload::Plant => crate::bench_plant::run(&a, &senders, run_id, &mut report, &mut rows)?,
        Workload::Workflow => {
            crate::bench_workflow::run(&a, &senders, run_id, &mut report, &mut rows)?
        }
        Workload::HotKeys | Workload::Mixed => {
            crate::bench_hot::run(&a, &senders, run_id, &mut report, &mut rows)?
        }
    }
    let resources = sampler.finish();
    let resource_rows = crate::bench_resources::rows(&resources);
    report["resources"] = resources;
    if json_out {
        println!("{report}");
    } else {
        println!("setup: {}", report["setup"]);
        println!("| phase | finalized/submitted | tx/s | p50 ms | p95 ms | p99 ms |");
        println!("|---|---|---|---|---|---|");
        for r in &rows {
            println!("{r}");
        }
        if let Some(r) = report.get("registration") {
            println!(
                "registrations executed: {:.0}/s over {:.1} s",
                r["executed_tx_per_s"].as_f64().unwrap_or(0.0),
                r["executed_seconds"].as_f64().unwrap_or(0.0)
            );
        }
        if let Some(r) = report.get("resolution") {
            println!("name resolution over HTTP: {r}");
        }
        if !resource_rows.is_empty() {
            println!();
            println!(
                "| validator | CPU s | CPU (one core = 100 %) | RSS MiB at end | RSS MiB min–max |"
            );
            println!("|---|---|---|---|---|");
            for r in &resource_rows {
                println!("{r}");
            }
        }
    }
    Ok(())
}

/// Wait until `node` has executed height `target` (finalized is not yet
/// executed: execution is deferred).
pub(crate) fn wait_executed(node: &str, target: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while client::get(&format!("{node}/v1/status"))?["executed_height"]
        .as_u64()
        .unwrap_or(0)
        < target
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "node did not execute height {target}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Device names of a run: `manufacturer/bench-<run>/<group>/dev-<i>`, 1,000 per group.
fn device_name(run: u64, i: usize) -> String {
    format!("manufacturer/bench-{run:x}/g{}/dev-{i}", i / 1000)
}

fn devices(
    a: &BenchArgs,
    senders: &[Sender],
    run: u64,
    report: &mut Value,
    rows: &mut Vec<String>,
) -> anyhow::Result<()> {
    let n = a.txs;
    eprintln!("issuing {n} device certificates...");
    let devices: Vec<bytes::Bytes> =
        issue_many(a, n, |i| device_spec(&format!("b{run:x}-{i}"), "BENCH-1"))?
            .into_iter()
            .map(|d| d.cert_der.into())
            .collect();
    // Registration throughput is counted until the node has *executed* them
    // all (execution is deferred behind finality and is the heavier part here:
    // each registration verifies a new certificate and writes five keys).
    let begin = Instant::now();
    let mut registered = drive_waves(a, senders, n, |i, s, chain, valid_until| {
        let args = ingot_execution::modules::device::RegisterArg {
            certificate: devices[i].clone(),
            name: device_name(run, i),
            metadata:
                json!({"address": format!("10.{}.{}.{}:502", i >> 16 & 255, i >> 8 & 255, i & 255)})
                    .to_string(),
            possession: None,
        }
        .encode();
        sign_raw(
            s,
            chain,
            valid_until,
            (run << 24) ^ i as u64,
            "device",
            "register",
            args,
        )
    })?;
    drop(devices);
    anyhow::ensure!(
        registered.rejected == 0 && registered.finalized == n,
        "only {} of {n} registrations finalized ({} refused at submission)",
        registered.finalized,
        registered.rejected
    );
    wait_executed(&a.nodes[0], registered.last_height)?;
    let executed_secs = begin.elapsed().as_secs_f64();
    let mut m = registered.report();
    m["executed_seconds"] = json!(executed_secs);
    m["executed_tx_per_s"] = json!(n as f64 / executed_secs);
    rows.push(row("device registrations", &m));
    report["registration"] = m;

    // Name resolution at the node, over keep-alive HTTP, random names.
    let samples = 10_000.min(n.max(1));
    let http = client::Http::default();
    let mut lat = Vec::with_capacity(samples);
    let mut at_node = Vec::with_capacity(samples);
    let mut rng_state = run;
    for _ in 0..samples {
        rng_state = rng_state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let i = (rng_state >> 33) as usize % n.max(1);
        let url = format!("{}/v1/devices/by-name/{}", a.nodes[0], device_name(run, i));
        let mut t = Instant::now();
        let mut reply = http.get(&url);
        // Faster than the node's per-address request rate: wait as asked
        // (429), and time only the request that is answered.
        while matches!(
            reply
                .as_ref()
                .map_err(|e| e.downcast_ref::<ingot_client::ClientError>()),
            Err(Some(ingot_client::ClientError::Api { status: 429, .. }))
        ) {
            std::thread::sleep(Duration::from_secs(1));
            t = Instant::now();
            reply = http.get(&url);
        }
        let v = reply?;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        at_node.push(v["lookup_us"].as_f64().unwrap_or(0.0) / 1000.0);
        anyhow::ensure!(
            v["name"] == device_name(run, i),
            "resolved the wrong device: {v}"
        );
    }
    lat.sort_by(|x, y| x.partial_cmp(y).unwrap());
    at_node.sort_by(|x, y| x.partial_cmp(y).unwrap());
    report["resolution"] = json!({"devices_on_chain": n, "samples": samples,
        "latency_ms": {"p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99), "max": lat.last()},
        "at_node_ms": {"p50": percentile(&at_node, 0.5), "p99": percentile(&at_node, 0.99), "max": at_node.last()}});

    // Access requests: activate a sample, grant one group policy, then request.
    let sample = n.min(20_000);
    let mut activated = drive_waves(a, senders, sample, |i, s, chain, valid_until| {
        sign(
            s,
            chain,
            valid_until,
            (run << 25) ^ i as u64,
            "device",
            "activate",
            json!({"device_id": format!("manufacturer:b{run:x}-{i}")}),
        )
    })?;
    let act = activated.report();
    rows.push(row("device activations", &act));
    report["activation"] = act;
    wait_executed(&a.nodes[0], activated.last_height)?;
    let grant = drive_waves(a, senders, 1, |_, s, chain, valid_until| {
        sign(
            s,
            chain,
            valid_until,
            run << 26,
            "access",
            "set_policy",
            json!({"target": format!("name:manufacturer/bench-{run:x}"), "accessor": "org:manufacturer", "operations": ["read"]}),
        )
    })?;
    anyhow::ensure!(grant.finalized == 1, "policy was not finalized");
    wait_executed(&a.nodes[0], grant.last_height)?;
    let mut req = drive_waves(a, senders, sample, |i, s, chain, valid_until| {
        sign(
            s,
            chain,
            valid_until,
            (run << 27) ^ i as u64,
            "access",
            "request",
            json!({"device_id": format!("manufacturer:b{run:x}-{i}"), "operation": "read"}),
        )
    })?;
    let req = req.report();
    rows.push(row("access requests", &req));
    report["access_requests"] = req;
    Ok(())
}
