//! `ingot edge`: run the edge gateway (see the `ingot-edge` crate).

use anyhow::Context;
use clap::Args;
use ingot_edge::{EdgeConfig, Source, DEFAULT_MAX_PACKET};
use std::{net::SocketAddr, path::PathBuf};

#[derive(Args, Debug)]
pub struct EdgeArgs {
    /// Node API to forward to.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub node: String,
    /// The gateway's member certificate (PEM), of the devices' owner organisation.
    #[arg(long)]
    pub cert: PathBuf,
    /// Its private key (PKCS#8 PEM).
    #[arg(long)]
    pub key: PathBuf,
    /// Where the durable queue lives.
    #[arg(long, default_value = ".ingot-edge")]
    pub data: PathBuf,
    /// Embedded MQTT endpoint address (ignored with --broker).
    #[arg(long, default_value = "127.0.0.1:1883")]
    pub listen: SocketAddr,
    /// Subscribe to this external broker (host:port) instead of listening.
    #[arg(long)]
    pub broker: Option<String>,
    /// Client id for the external broker's persistent session.
    #[arg(long, default_value = "ingot-edge")]
    pub client_id: String,
    /// Status endpoint (GET /status).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub status: SocketAddr,
    /// Largest MQTT packet accepted, bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_PACKET)]
    pub max_packet: usize,
    /// Anchoring transactions in flight (each at most 48 KiB of readings; the gateway holds about four rounds of them in memory).
    #[arg(long, default_value_t = 64)]
    pub inflight: usize,
    /// MQTT connections open at once (over it a connection is closed at once
    /// and counted in `/status` as `connections_refused`).
    #[arg(long, default_value_t = ingot_edge::mqtt_server::Limits::default().max_connections)]
    pub max_connections: usize,
    /// MQTT connections open at once from one address.
    #[arg(long, default_value_t = ingot_edge::mqtt_server::Limits::default().max_connections_per_ip)]
    pub max_connections_per_ip: usize,
    /// MQTT over TLS: the gateway's certificate chain (PEM); needs --tls-key.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Accept only CONNECTs signed by a registered, active device (user name:
    /// the device id; password: `<time_ms>:<nonce>:<signature>`, see
    /// docs/device-protocol.md); each connection publishes only as itself.
    #[arg(long)]
    pub require_device_auth: bool,
    /// Batches accepted per device and minute, sustained (over it: PUBACK
    /// `rate_limited`).
    #[arg(long, default_value_t = ingot_edge::quota::DeviceLimits::default().batches_per_minute)]
    pub device_batches_per_minute: u32,
    /// Batches a device may send at once after a quiet period.
    #[arg(long, default_value_t = ingot_edge::quota::DeviceLimits::default().burst)]
    pub device_burst: u32,
    /// Batches of one device waiting in the queue at most (over it: PUBACK
    /// `queue_quota`).
    #[arg(long, default_value_t = ingot_edge::quota::DeviceLimits::default().queued_batches)]
    pub device_queue_quota: u64,
    /// Plant equipment that cannot sign: a TOML file of OPC UA and Modbus TCP
    /// sources and the gateway device whose key signs their readings
    /// (gateway-attested; see docs/plant-equipment.md).
    #[arg(long)]
    pub plant: Option<PathBuf>,
}

pub fn run(a: EdgeArgs) -> anyhow::Result<()> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    let source = match &a.broker {
        Some(b) => {
            let (host, port) = b
                .rsplit_once(':')
                .ok_or_else(|| anyhow::anyhow!("--broker must be host:port"))?;
            Source::External {
                host: host.to_string(),
                port: port.parse().context("--broker port")?,
                client_id: a.client_id.clone(),
            }
        }
        None => Source::Embedded(a.listen),
    };
    let cfg = EdgeConfig {
        node: a.node.clone(),
        cert_pem: read(&a.cert)?,
        key_pem: read(&a.key)?,
        data_dir: a.data.clone(),
        source,
        status_listen: a.status,
        max_packet: a.max_packet,
        inflight: a.inflight,
        mqtt_limits: ingot_edge::mqtt_server::Limits {
            max_connections: a.max_connections.max(1),
            max_connections_per_ip: a.max_connections_per_ip.clamp(1, a.max_connections.max(1)),
        },
        mqtt_tls: a.tls_cert.clone().zip(a.tls_key.clone()),
        require_device_auth: a.require_device_auth,
        device_limits: ingot_edge::quota::DeviceLimits {
            batches_per_minute: a.device_batches_per_minute.max(1),
            burst: a.device_burst.max(1),
            queued_batches: a.device_queue_quota.max(1),
        },
        plant: a
            .plant
            .as_deref()
            .map(ingot_edge::plant::PlantConfig::load)
            .transpose()?,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(ingot_edge::run(cfg))
}
