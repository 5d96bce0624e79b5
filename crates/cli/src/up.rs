//! `ingot up`: a complete local development consortium.
//!
//! Creates (once) a manufacturer, a supplier, a logistics firm and a regulator,
//! each with its own CA (Ed25519, ECDSA P-256, SM2 and Ed25519, so every scheme
//! is exercised), an admin and a member certificate; N validators spread over
//! the organisations; a genesis; and one config per node. Then it starts every
//! validator as its own process, waits for finalized blocks, prints where
//! everything is, and on Ctrl-C stops them all cleanly. Running it again resumes
//! the same chain.

use crate::supervise::Supervisor;
use crate::{client, pki};
use anyhow::{bail, Context};
use ingot_crypto::{Role, Scheme};
use ingot_types::{
    genesis::{OrgKind, Organisation, ValidatorEntry},
    Genesis,
};
use std::{
    path::Path,
    time::{Duration, Instant},
};

const ORGS: [(&str, OrgKind, Scheme); 4] = [
    ("manufacturer", OrgKind::Member, Scheme::Ed25519),
    ("supplier", OrgKind::Member, Scheme::P256),
    ("logistics", OrgKind::Member, Scheme::Sm2),
    ("regulator", OrgKind::Regulator, Scheme::Ed25519),
];

fn create(
    data: &Path,
    validators: usize,
    api_port: u16,
    p2p_port: u16,
    epoch_length: Option<u64>,
) -> anyhow::Result<()> {
    let mut organisations = Vec::new();
    for (name, kind, scheme) in ORGS {
        let dir = data.join("orgs").join(name);
        let (_, ca_pem) = pki::init_ca(name, scheme, &dir, 3650)?;
        pki::issue(&dir, "admin", Role::Admin, None, scheme, &dir, 825)?;
        pki::issue(&dir, "member", Role::Member, None, scheme, &dir, 825)?;
        organisations.push(Organisation {
            name: name.into(),
            kind,
            ca_cert_pem: ca_pem,
        });
    }
    let mut entries = Vec::new();
    for i in 0..validators {
        let (org, _, _) = ORGS[i % ORGS.len()];
        let node_dir = data.join(format!("node-{i}"));
        let name = format!("validator-{i}");
        // Consensus keys are Ed25519 whatever the organisation's CA scheme.
        let (key, cert_pem) = pki::issue(
            &data.join("orgs").join(org),
            &name,
            Role::Validator,
            None,
            Scheme::Ed25519,
            &node_dir,
            825,
        )?;
        std::fs::rename(
            node_dir.join(format!("{name}.key")),
            node_dir.join("validator.key"),
        )?;
        std::fs::rename(
            node_dir.join(format!("{name}.pem")),
            node_dir.join("validator.pem"),
        )?;
        entries.push(ValidatorEntry {
            name,
            org: org.into(),
            public_key: hex::encode(key.public_key().raw_bytes()?),
            cert_pem,
            p2p_address: format!("127.0.0.1:{}", p2p_port as usize + i),
        });
        pki::write(
            &node_dir.join("node.toml"),
            &format!(
                "genesis = \"../genesis.json\"\nkey = \"validator.key\"\ndata_dir = \"data\"\np2p_listen = \"127.0.0.1:{}\"\napi_listen = \"127.0.0.1:{}\"\n",
                p2p_port as usize + i,
                api_port as usize + i
            ),
        )?;
    }
    let genesis = Genesis {
        chain_name: "ingot-dev".into(),
        timestamp_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as u64,
        organisations,
        validators: entries,
        governance: None,
        epoch_length,
    };
    genesis.validate()?;
    pki::write(
        &data.join("genesis.json"),
        &serde_json::to_string_pretty(&genesis)?,
    )?;
    Ok(())
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

pub fn run(
    data: &Path,
    validators: usize,
    api_port: u16,
    p2p_port: u16,
    epoch_length: Option<u64>,
) -> anyhow::Result<()> {
    if validators == 0 {
        bail!("--validators must be at least 1");
    }
    let fresh = !data.join("genesis.json").exists();
    if fresh {
        create(data, validators, api_port, p2p_port, epoch_length)
            .context("creating the consortium")?;
    }
    let genesis: Genesis = serde_json::from_slice(&std::fs::read(data.join("genesis.json"))?)?;
    let n = genesis.validators.len();
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let mut nodes = Supervisor::start(data, n)?;
    let apis: Vec<String> = (0..n)
        .map(|i| format!("http://127.0.0.1:{}", api_port as usize + i))
        .collect();
    let started = Instant::now();
    loop {
        if STOP.load(std::sync::atomic::Ordering::SeqCst) {
            nodes.stop();
            return Ok(());
        }
        if let Err(e) = nodes.poll(false) {
            nodes.stop();
            return Err(e);
        }
        let heights: Vec<u64> = apis
            .iter()
            .map(|u| {
                client::get(&format!("{u}/health"))
                    .ok()
                    .and_then(|v| v["executed_height"].as_u64())
                    .unwrap_or(0)
            })
            .collect();
        if heights.iter().all(|h| *h >= 1) {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            nodes.stop();
            bail!(
                "no finalized blocks after 2 minutes; see {}/node-*/node.log",
                data.display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "Ingot consortium `{}` is running ({} validators, blocks are finalizing).",
        genesis.chain_name, n
    );
    println!("chain id: {}", ingot_types::hex_digest(&genesis.chain_id()));
    for (i, v) in genesis.validators.iter().enumerate() {
        println!(
            "  {} ({})  API {}  p2p {}  logs {}",
            v.name,
            v.org,
            apis[i],
            v.p2p_address,
            data.join(format!("node-{i}/node.log")).display()
        );
    }
    println!(
        "keys and certificates: {}/orgs/<org>/{{ca,admin,member}}.{{key,pem}}",
        data.display()
    );
    println!("try: ingot tx send --key {0}/orgs/manufacturer/member.key --cert {0}/orgs/manufacturer/member.pem --module notary --method record --args '{{\"document_hash\":\"{1}\",\"metadata\":\"first test report\"}}' --wait", data.display(), "ab".repeat(32));
    println!("A validator that exits is restarted (with backoff); the others keep running.");
    println!("Ctrl-C stops all nodes; `ingot up` again resumes the chain.");
    while !STOP.load(std::sync::atomic::Ordering::SeqCst) {
        if let Err(e) = nodes.poll(true) {
            nodes.stop();
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    nodes.stop();
    println!("stopped");
    Ok(())
}
