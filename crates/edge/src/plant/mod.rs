//! Plant equipment that cannot sign (white paper 二.1: most equipment has
//! only a traditional identifier, not an embedded certificate).
//!
//! ```text
//!  OPC UA server ──subscription──▶ ┐
//!  Modbus TCP    ──polled regs───▶ ┴▶ samples ─▶ batcher ─(gateway key signs)─▶ ingest
//! ```
//!
//! The gateway reads the sources listed in a plant file (`--plant`), turns
//! each value into a fixed-point [`Measurement`], groups one equipment's
//! readings for `batch_ms`, and signs them with the key of its own *gateway
//! device* — the device registered on chain as the equipment's gateway
//! (`device.register_equipment` / `set_gateway`). The batches then take the
//! path every device's batches take (the same checks, durable queue and
//! forwarder). On chain they are **gateway-attested**: the commitment names
//! the gateway, and every proof and reading says so.

pub mod batcher;
pub mod config;
pub mod modbus;
pub mod opcua;

pub use config::PlantConfig;

use ingot_types::telemetry::Measurement;
use std::sync::atomic::{AtomicU64, Ordering};

/// One value read from a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub equipment: String,
    pub timestamp_ms: u64,
    pub measurement: Measurement,
}

/// Counters shown under `plant` in `/status`.
#[derive(Default)]
pub struct PlantStats {
    /// Values read from the sources.
    pub samples: AtomicU64,
    /// Values that could not become a measurement (not a number, out of
    /// range, a bad status from the source).
    pub unusable: AtomicU64,
    /// Failed connections, reads or subscriptions (each is retried).
    pub source_errors: AtomicU64,
    /// Batches signed and accepted by the ingest (on their way to the chain).
    pub batches_accepted: AtomicU64,
    pub readings_accepted: AtomicU64,
    /// Batches the ingest refused for good (their readings are dropped and
    /// logged: e.g. the equipment is not registered or not active).
    pub batches_refused: AtomicU64,
    /// Readings dropped because the ingest could not store them for longer
    /// than the batcher may hold them, or because their time lay before the
    /// equipment's last anchored reading.
    pub readings_dropped: AtomicU64,
}

impl PlantStats {
    pub fn to_json(&self) -> serde_json::Value {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "samples": load(&self.samples),
            "unusable": load(&self.unusable),
            "source_errors": load(&self.source_errors),
            "batches_accepted": load(&self.batches_accepted),
            "readings_accepted": load(&self.readings_accepted),
            "batches_refused": load(&self.batches_refused),
            "readings_dropped": load(&self.readings_dropped),
        })
    }
}

/// Start the batcher and every source of `cfg`; they run until the process
/// ends. Fails at once when the gateway device's key cannot be read.
pub fn start(
    cfg: &PlantConfig,
    data_dir: &std::path::Path,
    queue: std::sync::Arc<crate::queue::Queue>,
    node: std::sync::Arc<crate::node::NodeClient>,
    ingest: tokio::sync::mpsc::Sender<crate::ingest::Incoming>,
    stats: std::sync::Arc<PlantStats>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let pem = std::fs::read_to_string(&cfg.gateway_key)
        .with_context(|| format!("reading gateway key {}", cfg.gateway_key.display()))?;
    let key = ingot_crypto::PrivateKey::from_pkcs8_pem(&pem)
        .with_context(|| format!("gateway key {}", cfg.gateway_key.display()))?;
    // A wrong key or gateway id would have every batch refused: say so now.
    let key_checked = match batcher::gateway_refusal(&node, &cfg.gateway_device, &key) {
        Ok(None) => true,
        Ok(Some(why)) => anyhow::bail!("plant file: {why}"),
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "the node cannot be asked now; the gateway key is checked before the first batch");
            false
        }
    };
    let (samples, taken) = tokio::sync::mpsc::channel(SAMPLE_CHANNEL);
    let batcher = batcher::Batcher {
        gateway_device: cfg.gateway_device.clone(),
        key,
        batch_ms: cfg.batch_ms,
        queue,
        node,
        ingest,
        stats: stats.clone(),
        key_checked,
        waiting_for_node: None,
    };
    tokio::spawn(batcher.run(taken));
    for src in &cfg.modbus {
        tokio::spawn(modbus::run(src.clone(), samples.clone(), stats.clone()));
    }
    for src in &cfg.opcua {
        let pki = data_dir.join("opcua-pki");
        tokio::spawn(opcua::run(src.clone(), pki, samples.clone(), stats.clone()));
    }
    tracing::info!(
        gateway = %cfg.gateway_device,
        modbus = cfg.modbus.len(),
        opcua = cfg.opcua.len(),
        "reading plant equipment; its readings are signed by the gateway device (gateway-attested)"
    );
    Ok(())
}

/// Samples the sources may have waiting for the batcher (each source waits
/// when it is full: a poll or a subscription falls behind, nothing is lost).
const SAMPLE_CHANNEL: usize = 10_000;

/// A source's number as a fixed-point value `value × 10^-scale`, or `None`
/// when it is not finite or does not fit (no float enters the chain).
pub fn fixed_point(value: f64, scale: u8) -> Option<i64> {
    if !value.is_finite() || scale > ingot_types::telemetry::MAX_SCALE {
        return None;
    }
    let scaled = (value * 10f64.powi(scale as i32)).round();
    // i64::MAX as f64 rounds up to 2^63, which does not fit: compare below it.
    (scaled >= -(2f64.powi(63)) && scaled < 2f64.powi(63)).then_some(scaled as i64)
}

/// Milliseconds since the Unix epoch by the gateway's clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_rounds_and_refuses_what_does_not_fit() {
        assert_eq!(fixed_point(21.456, 2), Some(2146));
        assert_eq!(fixed_point(-0.5, 0), Some(-1)); // away from zero
        assert_eq!(fixed_point(1.0, 0), Some(1));
        assert_eq!(fixed_point(f64::NAN, 1), None);
        assert_eq!(fixed_point(f64::INFINITY, 0), None);
        assert_eq!(fixed_point(1e19, 0), None);
        assert_eq!(fixed_point(9.2e18, 0), Some(9_200_000_000_000_000_000));
        assert_eq!(fixed_point(1.0, 19), None);
    }
}
