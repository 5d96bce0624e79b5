//! `ingot bench`: load a running network with notary writes from many
//! senders and measure finalized throughput and submit→final latency.
//!
//! Latency is measured end to end: from just before a transaction is POSTed to
//! when a poller first sees it in a finalized block (the poller fetches new
//! blocks every 20 ms, so figures carry up to that much observation delay).

use crate::client::{self, Sender};
use clap::Args;
use commonware_codec::Encode;
use ingot_crypto::{issue_end_entity, unix_now, CertInfo, CertSpec, PrivateKey, Role, Scheme};
use ingot_types::Call;
use serde_json::json;
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

#[derive(Args)]
pub struct BenchArgs {
    /// Data directory of an `ingot up` consortium (its manufacturer CA signs the senders).
    #[arg(long, default_value = ".ingot")]
    pub data: PathBuf,
    /// Node API URLs to spread submissions over.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:8080")]
    pub nodes: Vec<String>,
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
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn run(a: BenchArgs, json_out: bool) -> anyhow::Result<()> {
    let ca_dir = a.data.join("orgs/manufacturer");
    let ca_key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(ca_dir.join("ca.key"))?)?;
    let ca_pem = std::fs::read_to_string(ca_dir.join("ca.pem"))?;
    let now = unix_now();
    eprintln!("issuing {} sender certificates...", a.senders);
    let senders: Vec<Sender> = (0..a.senders)
        .map(|i| {
            let key = PrivateKey::generate(Scheme::Ed25519)?;
            let pem = issue_end_entity(
                &ca_key,
                &ca_pem,
                &key.public_key(),
                &CertSpec {
                    common_name: format!("bench-{i}"),
                    organization: "manufacturer".into(),
                    san_uris: vec![],
                    not_before: now - 3600,
                    not_after: now + 86_400,
                    role: Role::Member,
                },
            )?;
            Ok(Sender {
                key,
                cert_der: CertInfo::from_pem(&pem)?.der,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let (chain, height) = client::chain_info(&a.nodes[0])?;
    let run_id: u64 = rand::random();
    eprintln!("signing {} transactions...", a.txs);
    let txs: Vec<(String, String)> = (0..a.txs)
        .map(|i| {
            let doc = ingot_types::sha256(&[&run_id.to_be_bytes(), &(i as u64).to_be_bytes()]);
            let args = ingot_execution::args::from_json(
                "notary",
                "record",
                &json!({"document_hash": ingot_types::hex_digest(&doc), "metadata": "bench"}),
            )
            .map_err(anyhow::Error::msg)?;
            let tx = senders[i % senders.len()].sign(
                chain,
                height + ingot_types::limits::MAX_VALIDITY_BLOCKS,
                i as u64,
                Call {
                    module: "notary".into(),
                    method: "record".into(),
                    args,
                },
            )?;
            Ok((
                ingot_types::hex_digest(&tx.hash()),
                hex::encode(tx.encode()),
            ))
        })
        .collect::<anyhow::Result<_>>()?;

    let submitted: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Default::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let start_height = client::get(&format!("{}/v1/status", a.nodes[0]))?["finalized_height"]
        .as_u64()
        .unwrap_or(0);

    // Poller: records when each transaction first appears in a finalized block.
    let poller = {
        let (node, seen, done) = (a.nodes[0].clone(), seen.clone(), done.clone());
        std::thread::spawn(move || {
            let http = client::Http::default();
            let mut next = start_height + 1;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                match http.get(&format!("{node}/v1/blocks/{next}?txs=hashes&raw=false")) {
                    Ok(b) => {
                        let t = Instant::now();
                        let mut s = seen.lock().unwrap();
                        for tx in b["transactions"].as_array().into_iter().flatten() {
                            if let Some(h) = tx.as_str() {
                                s.entry(h.to_string()).or_insert(t);
                            }
                        }
                        next += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };

    let begin = Instant::now();
    let chunks: Vec<Vec<(String, String)>> = txs
        .chunks(txs.len().div_ceil(a.concurrency))
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
                let refused = if batch == 1 {
                    usize::from(
                        http.post(&format!("{node}/v1/tx"), &json!({"tx": group[0].1}))
                            .is_err(),
                    )
                } else {
                    let raws: Vec<&str> = group.iter().map(|(_, raw)| raw.as_str()).collect();
                    match http.post(&format!("{node}/v1/txs"), &json!({"txs": raws})) {
                        Ok(reply) => group.len() - reply["accepted"].as_u64().unwrap_or(0) as usize,
                        Err(_) => group.len(),
                    }
                };
                rejected.fetch_add(refused, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    for w in workers {
        let _ = w.join();
    }
    let submit_secs = begin.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(120);
    let accepted = a.txs - rejected.load(std::sync::atomic::Ordering::SeqCst);
    while seen.lock().unwrap().len() < accepted && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = poller.join();

    let submitted = submitted.lock().unwrap();
    let seen = seen.lock().unwrap();
    let mut latencies: Vec<f64> = seen
        .iter()
        .filter_map(|(h, t)| {
            submitted
                .get(h)
                .map(|s| t.duration_since(*s).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let last = seen.values().max().copied().unwrap_or(begin);
    let secs = last.duration_since(begin).as_secs_f64().max(1e-9);
    let report = json!({
        "workload": "notary writes, distinct senders",
        "setup": {"nodes": a.nodes, "validators": client::get(&format!("{}/v1/status", a.nodes[0]))?["validators"].as_array().map(|v| v.len()), "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "senders": a.senders, "concurrency": a.concurrency, "batch": a.batch, "offered_tx_per_s": a.rate},
        "submitted": a.txs,
        "rejected": a.txs - accepted,
        "finalized": seen.len(),
        "submit_seconds": submit_secs,
        "finalized_tx_per_s": seen.len() as f64 / secs,
        "latency_ms": {"p50": percentile(&latencies, 0.50), "p95": percentile(&latencies, 0.95), "p99": percentile(&latencies, 0.99), "max": latencies.last().copied().unwrap_or(0.0)},
    });
    if json_out {
        println!("{report}");
    } else {
        println!(
            "| workload | validators | senders | txs finalized | tx/s | p50 ms | p95 ms | p99 ms |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        println!(
            "| notary | {} | {} | {}/{} | {:.0} | {:.0} | {:.0} | {:.0} |",
            report["setup"]["validators"],
            a.senders,
            seen.len(),
            a.txs,
            report["finalized_tx_per_s"].as_f64().unwrap_or(0.0),
            report["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
            report["latency_ms"]["p95"].as_f64().unwrap_or(0.0),
            report["latency_ms"]["p99"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
