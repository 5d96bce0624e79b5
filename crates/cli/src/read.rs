//! `ingot get` (a signed GET of any API path) and `ingot verify-reading`
//! (a reading proof checked offline against genesis, with its trust level):
//! what an outsider needs to read and check telemetry without writing a
//! client first.

use crate::client::{print, ReadAs};
use anyhow::Context;
use clap::Args;
use serde_json::json;
use std::{io::Read, path::PathBuf};

#[derive(Args)]
pub struct GetArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// API path with its query, e.g. /v1/telemetry/devices/acme:P-1/readings?limit=10
    pub path: String,
    #[command(flatten)]
    pub read_as: ReadAs,
}

pub fn get(a: GetArgs, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.path.starts_with('/'),
        "the path starts with / (e.g. /v1/status)"
    );
    let v = a.read_as.http()?.get(&format!("{}{}", a.node, a.path))?;
    print(&v, json);
    Ok(())
}

#[derive(Args)]
pub struct VerifyReadingArgs {
    /// A reading proof as the API gives it (`.../readings/{seq}/proof`, or a
    /// reading's `proof` from `?prove=true`); `-` reads standard input.
    pub proof: PathBuf,
    /// Genesis whose validators must have finalized the anchoring block.
    #[arg(long, default_value = ".ingot/genesis.json")]
    pub genesis: PathBuf,
}

pub fn verify_reading(a: VerifyReadingArgs, json: bool) -> anyhow::Result<()> {
    let text = if a.proof.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s
    } else {
        std::fs::read_to_string(&a.proof)
            .with_context(|| format!("reading {}", a.proof.display()))?
    };
    let proof: ingot_light::ReadingProof =
        serde_json::from_str(&text).context("not a reading proof")?;
    let genesis: ingot_types::Genesis = serde_json::from_slice(
        &std::fs::read(&a.genesis)
            .with_context(|| format!("reading genesis {}", a.genesis.display()))?,
    )
    .context("genesis is not valid JSON")?;
    let validators = ingot_light::validators(&genesis).map_err(|e| anyhow::anyhow!("{e}"))?;
    let verified = proof
        .verify(&validators)
        .map_err(|e| anyhow::anyhow!("the proof does NOT verify: {e}"))?;
    let r = &verified.reading;
    print(
        &json!({
            "verified": true,
            "device_id": proof.device_id,
            "seq": proof.seq,
            "timestamp_ms": r.timestamp_ms,
            "measurements": r.measurements.iter().map(|m| json!({
                "name": m.name,
                "value": ingot_types::telemetry::format_fixed(m.value, m.scale),
                "unit": m.unit,
            })).collect::<Vec<_>>(),
            "trust": verified.trust.as_str(),
            "attested_by": (!verified.attested_by.is_empty()).then_some(&verified.attested_by),
        }),
        json,
    );
    Ok(())
}
