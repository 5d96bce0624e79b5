//! The plant file (`ingot edge --plant plant.toml`): which sources to read,
//! which equipment each value belongs to, and the gateway device that signs.
//!
//! ```toml
//! gateway_device = "acme:GW-1"          # registered, active, of the equipment's owner
//! gateway_key = "gw-1.key.pem"          # its PKCS#8 key (relative to this file)
//! batch_ms = 1000                       # one batch per equipment per interval
//!
//! [[modbus]]
//! address = "10.0.0.7:502"
//! unit = 1
//! poll_ms = 500
//! [[modbus.registers]]
//! equipment = "acme:PRESS-7"
//! measurement = "pressure"
//! kind = "holding"                      # or "input"
//! address = 0
//! words = 1                             # 2: a 32-bit value, high word first
//! signed = false
//! scale = 1                             # the register holds tenths
//! unit = "bar"
//!
//! [[opcua]]
//! endpoint = "opc.tcp://10.0.0.8:4840/"
//! publishing_ms = 500
//! [[opcua.nodes]]
//! equipment = "acme:OVEN-3"
//! node_id = "ns=2;s=Temperature"
//! measurement = "temperature"
//! scale = 2                             # 21.456 → 2146 × 10^-2
//! unit = "°C"
//! ```

use anyhow::{bail, ensure, Context};
use ingot_types::telemetry::{MAX_DEVICE_ID_LEN, MAX_MEASUREMENT_NAME, MAX_SCALE, MAX_UNIT_LEN};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Shortest batching interval: each batch costs a signature on the gateway
/// and a verification on every validator.
pub const MIN_BATCH_MS: u64 = 100;
/// Longest batching interval (readings wait in memory that long).
pub const MAX_BATCH_MS: u64 = 60_000;
/// Fastest Modbus poll and OPC UA publishing interval.
pub const MIN_INTERVAL_MS: u64 = 10;
/// Most values one source reads (registers or monitored nodes).
pub const MAX_POINTS_PER_SOURCE: usize = 1_000;
/// Most sources of each kind.
pub const MAX_SOURCES: usize = 64;
const _: () = assert!(MIN_INTERVAL_MS <= MIN_BATCH_MS && MIN_BATCH_MS < MAX_BATCH_MS);

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantConfig {
    /// The gateway device whose key signs (`<org>:<serial>`).
    pub gateway_device: String,
    /// Its PKCS#8 PEM key; relative paths are relative to the plant file.
    pub gateway_key: PathBuf,
    #[serde(default = "default_batch_ms")]
    pub batch_ms: u64,
    #[serde(default)]
    pub modbus: Vec<ModbusSource>,
    #[serde(default)]
    pub opcua: Vec<OpcUaSource>,
}

fn default_batch_ms() -> u64 {
    1_000
}
fn default_poll_ms() -> u64 {
    1_000
}
fn default_unit_id() -> u8 {
    1
}
fn default_words() -> u8 {
    1
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusSource {
    /// `host:port` of the Modbus TCP server.
    pub address: String,
    /// Unit (slave) identifier.
    #[serde(default = "default_unit_id")]
    pub unit: u8,
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
    pub registers: Vec<ModbusPoint>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RegisterKind {
    #[default]
    Holding,
    Input,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusPoint {
    pub equipment: String,
    pub measurement: String,
    #[serde(default)]
    pub kind: RegisterKind,
    pub address: u16,
    /// 1 (16 bits) or 2 (32 bits, high word first).
    #[serde(default = "default_words")]
    pub words: u8,
    #[serde(default)]
    pub signed: bool,
    /// The register's integer is `value × 10^-scale`.
    #[serde(default)]
    pub scale: u8,
    #[serde(default)]
    pub unit: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcUaSource {
    /// `opc.tcp://host:port/path` (security None, anonymous).
    pub endpoint: String,
    #[serde(default = "default_poll_ms")]
    pub publishing_ms: u64,
    pub nodes: Vec<OpcUaPoint>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpcUaPoint {
    pub equipment: String,
    /// `ns=2;s=Temperature`, `ns=2;i=7`, ...
    pub node_id: String,
    pub measurement: String,
    /// Decimal places kept: the value is rounded to `value × 10^scale`.
    #[serde(default)]
    pub scale: u8,
    #[serde(default)]
    pub unit: String,
}

impl PlantConfig {
    /// Read and check a plant file; the key path becomes absolute.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading plant file {}", path.display()))?;
        let mut cfg: PlantConfig =
            toml::from_str(&text).with_context(|| format!("plant file {}", path.display()))?;
        if cfg.gateway_key.is_relative() {
            if let Some(dir) = path.parent() {
                cfg.gateway_key = dir.join(&cfg.gateway_key);
            }
        }
        cfg.check()
            .with_context(|| format!("plant file {}", path.display()))?;
        Ok(cfg)
    }

    /// Every limit the chain or the gateway would otherwise trip over later.
    pub fn check(&self) -> anyhow::Result<()> {
        check_id("gateway_device", &self.gateway_device)?;
        ensure!(
            (MIN_BATCH_MS..=MAX_BATCH_MS).contains(&self.batch_ms),
            "batch_ms must be {MIN_BATCH_MS} to {MAX_BATCH_MS}"
        );
        ensure!(
            !self.modbus.is_empty() || !self.opcua.is_empty(),
            "no [[modbus]] or [[opcua]] source"
        );
        ensure!(
            self.modbus.len() <= MAX_SOURCES && self.opcua.len() <= MAX_SOURCES,
            "at most {MAX_SOURCES} sources of each kind"
        );
        for (i, m) in self.modbus.iter().enumerate() {
            let at = format!("modbus[{i}]");
            ensure!(
                m.poll_ms >= MIN_INTERVAL_MS,
                "{at}: poll_ms below {MIN_INTERVAL_MS}"
            );
            check_points(&at, m.registers.len())?;
            for r in &m.registers {
                check_point(&at, &r.equipment, &r.measurement, r.scale, &r.unit)?;
                ensure!(matches!(r.words, 1 | 2), "{at}: words must be 1 or 2");
                ensure!(
                    r.address.checked_add(r.words as u16 - 1).is_some(),
                    "{at}: register {} + {} words passes 65535",
                    r.address,
                    r.words
                );
            }
        }
        for (i, o) in self.opcua.iter().enumerate() {
            let at = format!("opcua[{i}]");
            ensure!(
                o.endpoint.starts_with("opc.tcp://"),
                "{at}: endpoint must be opc.tcp://host:port/..."
            );
            ensure!(
                o.publishing_ms >= MIN_INTERVAL_MS,
                "{at}: publishing_ms below {MIN_INTERVAL_MS}"
            );
            check_points(&at, o.nodes.len())?;
            for n in &o.nodes {
                check_point(&at, &n.equipment, &n.measurement, n.scale, &n.unit)?;
                <opcua::types::NodeId as std::str::FromStr>::from_str(&n.node_id).map_err(|_| {
                    anyhow::anyhow!(
                        "{at}: node_id `{}` is not an OPC UA node id (ns=<n>;s=<name>, ns=<n>;i=<number>, ...)",
                        n.node_id
                    )
                })?;
            }
        }
        Ok(())
    }
}

fn check_id(what: &str, id: &str) -> anyhow::Result<()> {
    match id.split_once(':') {
        Some((org, serial)) if !org.is_empty() && !serial.is_empty() => {}
        _ => bail!("{what} `{id}` must be <org>:<serial>"),
    }
    ensure!(
        id.len() <= MAX_DEVICE_ID_LEN,
        "{what} longer than {MAX_DEVICE_ID_LEN} bytes"
    );
    Ok(())
}

fn check_points(at: &str, n: usize) -> anyhow::Result<()> {
    ensure!(
        (1..=MAX_POINTS_PER_SOURCE).contains(&n),
        "{at}: 1 to {MAX_POINTS_PER_SOURCE} points"
    );
    Ok(())
}

fn check_point(
    at: &str,
    equipment: &str,
    measurement: &str,
    scale: u8,
    unit: &str,
) -> anyhow::Result<()> {
    check_id(&format!("{at}: equipment"), equipment)?;
    ensure!(
        !measurement.is_empty() && measurement.len() <= MAX_MEASUREMENT_NAME,
        "{at}: measurement `{measurement}` must be 1 to {MAX_MEASUREMENT_NAME} bytes"
    );
    ensure!(scale <= MAX_SCALE, "{at}: scale above {MAX_SCALE}");
    ensure!(
        unit.len() <= MAX_UNIT_LEN,
        "{at}: unit longer than {MAX_UNIT_LEN} bytes"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
gateway_device = "acme:GW-1"
gateway_key = "gw.pem"
[[modbus]]
address = "127.0.0.1:5020"
[[modbus.registers]]
equipment = "acme:PRESS-7"
measurement = "pressure"
address = 0
scale = 1
unit = "bar"
[[opcua]]
endpoint = "opc.tcp://127.0.0.1:4840/"
[[opcua.nodes]]
equipment = "acme:OVEN-3"
node_id = "ns=2;s=Temperature"
measurement = "temperature"
scale = 2
"#;

    fn parse(text: &str) -> anyhow::Result<PlantConfig> {
        let cfg: PlantConfig = toml::from_str(text)?;
        cfg.check()?;
        Ok(cfg)
    }

    #[test]
    fn a_plant_file_parses_with_defaults() {
        let cfg = parse(GOOD).unwrap();
        assert_eq!(cfg.batch_ms, 1_000);
        let m = &cfg.modbus[0];
        assert_eq!((m.unit, m.poll_ms), (1, 1_000));
        let r = &m.registers[0];
        assert_eq!(
            (r.kind, r.words, r.signed),
            (RegisterKind::Holding, 1, false)
        );
    }

    #[test]
    fn every_mistake_is_named() {
        let cases = [
            (
                "acme:GW-1",
                "GW-1",
                "gateway_device `GW-1` must be <org>:<serial>",
            ),
            ("scale = 1\nunit", "scale = 19\nunit", "scale above 18"),
            (
                "address = 0\n",
                "address = 0\nwords = 3\n",
                "words must be 1 or 2",
            ),
            (
                "address = 0\n",
                "address = 65535\nwords = 2\n",
                "passes 65535",
            ),
            ("opc.tcp://127", "http://127", "endpoint must be opc.tcp"),
            (
                "\"pressure\"",
                "\"a-measurement-name-far-longer-than-32\"",
                "must be 1 to 32 bytes",
            ),
            (
                "gw.pem\"",
                "gw.pem\"\nbatch_ms = 5",
                "batch_ms must be 100 to 60000",
            ),
            ("gw.pem\"", "gw.pem\"\ncolour = 5", "unknown field `colour`"),
            ("ns=2;s=Temperature", "garbage", "is not an OPC UA node id"),
        ];
        for (from, to, why) in cases {
            let text = GOOD.replacen(from, to, 1);
            let err = format!("{:#}", parse(&text).unwrap_err());
            assert!(err.contains(why), "{to}: {err}");
        }
        let no_sources = "gateway_device = \"a:b\"\ngateway_key = \"k\"\n";
        assert!(format!("{:#}", parse(no_sources).unwrap_err()).contains("no [[modbus]]"));
    }
}
