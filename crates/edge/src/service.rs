//! The gateway process: opens the queue, starts ingest, the forwarder, the
//! status endpoint and the message source, and stops on a signal.

use crate::{
    device_auth, forward, ingest, mqtt_bridge, mqtt_server, node, plant, queue, quota, status,
};
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
};
use tokio::sync::mpsc;
use tracing::info;

/// Where devices' messages come from.
#[derive(Clone, Debug)]
pub enum Source {
    /// The embedded MQTT endpoint, listening here.
    Embedded(SocketAddr),
    /// An external broker to subscribe to.
    External {
        host: String,
        port: u16,
        client_id: String,
    },
}

#[derive(Clone, Debug)]
pub struct EdgeConfig {
    /// Node API base URL.
    pub node: String,
    /// The gateway's member certificate and key (PEM).
    pub cert_pem: String,
    pub key_pem: String,
    pub data_dir: PathBuf,
    pub source: Source,
    /// Status endpoint (`GET /status`).
    pub status_listen: SocketAddr,
    /// Largest MQTT packet accepted.
    pub max_packet: usize,
    /// Anchoring transactions in flight per forwarding round.
    pub inflight: usize,
    /// Caps on the embedded MQTT endpoint's connections.
    pub mqtt_limits: mqtt_server::Limits,
    /// TLS on the embedded MQTT endpoint: certificate chain and key (PEM).
    pub mqtt_tls: Option<(PathBuf, PathBuf)>,
    /// Require every CONNECT to be signed by a registered, active device
    /// (see [`device_auth`]); each connection may then publish only on its
    /// own device's topic.
    pub require_device_auth: bool,
    /// Per-device rate and queue quota.
    pub device_limits: quota::DeviceLimits,
    /// Plant equipment to read and sign for (`--plant`), if any.
    pub plant: Option<plant::PlantConfig>,
}

/// Default largest MQTT packet: a full batch of small readings fits.
pub const DEFAULT_MAX_PACKET: usize = 256 * 1024;

/// Raise the soft descriptor limit to the hard one: every device holds a
/// connection, and the default soft limit (often 1,024) is far below the
/// connection cap.
fn raise_descriptor_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Run the gateway until the process ends.
pub async fn run(cfg: EdgeConfig) -> anyhow::Result<()> {
    raise_descriptor_limit();
    std::fs::create_dir_all(&cfg.data_dir)?;
    let queue = Arc::new(queue::Queue::open(&cfg.data_dir.join("queue.redb"))?);
    let key = ingot_crypto::PrivateKey::from_pkcs8_pem(&cfg.key_pem)?;
    let node = Arc::new(node::NodeClient::new(&cfg.node, key, &cfg.cert_pem)?);
    let stats = Arc::new(ingest::Stats::default());
    info!(queued = queue.len()?, "gateway queue opened");

    let (tx, rx) = mpsc::channel(8192);
    let pipeline = Arc::new(ingest::Ingest::new(
        queue.clone(),
        node.clone(),
        stats.clone(),
        cfg.max_packet,
        cfg.device_limits,
    ));
    let access = mqtt_server::Access {
        tls: match &cfg.mqtt_tls {
            Some((cert, key)) => Some(ingot_tls::tokio_rustls::TlsAcceptor::from(
                ingot_tls::server_config(cert, key, &[b"mqtt"])?,
            )),
            None => None,
        },
        auth: cfg
            .require_device_auth
            .then(|| Arc::new(device_auth::DeviceAuth::new(pipeline.clone()))),
    };
    tokio::spawn(ingest::run(pipeline, rx));
    if let Some(p) = &cfg.plant {
        plant::start(
            p,
            &cfg.data_dir,
            queue.clone(),
            node.clone(),
            tx.clone(),
            stats.plant.clone(),
        )?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let forwarder = forward::Forwarder {
        queue: queue.clone(),
        node,
        stats: stats.clone(),
        inflight: cfg.inflight.max(1),
        stop: stop.clone(),
    };
    std::thread::Builder::new()
        .name("forwarder".into())
        .spawn(move || forwarder.run())?;

    let app = status::router(queue.clone(), stats.clone());
    let status = tokio::net::TcpListener::bind(cfg.status_listen).await?;
    info!(addr = %cfg.status_listen, "gateway status listening");
    tokio::spawn(async move { axum::serve(status, app).await });

    let source = async move {
        match cfg.source {
            Source::Embedded(addr) => {
                // A fleet reconnecting after an outage arrives at once: a deep
                // accept backlog keeps their SYNs from being dropped.
                let socket = match addr {
                    SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
                };
                socket.set_reuseaddr(true)?;
                socket.bind(addr)?;
                let listener = socket.listen(4096)?;
                mqtt_server::serve(
                    listener,
                    tx,
                    cfg.max_packet,
                    cfg.mqtt_limits,
                    stats.clone(),
                    access,
                )
                .await
                .map_err(anyhow::Error::from)
            }
            Source::External {
                host,
                port,
                client_id,
            } => {
                mqtt_bridge::run(
                    mqtt_bridge::BridgeConfig {
                        host,
                        port,
                        client_id,
                        max_packet: cfg.max_packet,
                    },
                    tx,
                )
                .await
            }
        }
    };
    // SIGINT or SIGTERM (also when started in the background, where a shell
    // leaves SIGINT ignored): stop taking messages and let the forwarder end
    // its round; everything acknowledged is already in the durable queue.
    let result = tokio::select! {
        result = source => result,
        signal = shutdown_signal() => {
            info!(signal, "stopping: no new messages; the queue stays on disk");
            Ok(())
        }
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    result
}

/// The first of SIGINT and SIGTERM.
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        // Without handlers the default dispositions still end the process.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
