//! Node configuration (TOML). Every field has a default that works for `ingot up`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Genesis file (JSON).
    pub genesis: PathBuf,
    /// The node's Ed25519 key, PKCS#8 PEM: a validator's consensus key, or
    /// (a key outside the validator set) an observer node's p2p key.
    pub key: PathBuf,
    /// Where this node keeps its storage.
    pub data_dir: PathBuf,
    /// p2p listen address (peers dial the addresses in genesis).
    #[serde(default = "default_p2p")]
    pub p2p_listen: String,
    /// HTTP API listen address.
    #[serde(default = "default_api")]
    pub api_listen: String,
    /// Transactions per block.
    #[serde(default = "default_block_txs")]
    pub max_block_txs: usize,
    /// PEM certificate chain (leaf first) for serving the API over TLS;
    /// with `api_tls_key`. Unset: plain HTTP.
    #[serde(default)]
    pub api_tls_cert: Option<PathBuf>,
    /// PEM private key of `api_tls_cert`.
    #[serde(default)]
    pub api_tls_key: Option<PathBuf>,
    /// Most event streams (server-sent events) open at once on this node.
    #[serde(default = "default_api_max_streams")]
    pub api_max_streams: usize,
    /// Most event streams one caller (certificate) holds open at once.
    #[serde(default = "default_api_max_streams_per_caller")]
    pub api_max_streams_per_caller: usize,
    /// Signed requests per second per caller (certificate), with bursts
    /// of twice that; over it, 429 `rate_limited`.
    #[serde(default = "default_api_requests_per_second_per_caller")]
    pub api_requests_per_second_per_caller: u32,
    /// Least milliseconds between consecutive blocks.
    #[serde(default = "default_block_interval")]
    pub min_block_interval_ms: u64,
    /// Most milliseconds an idle chain goes without a block (an empty
    /// heartbeat block then advances block time and timers on it).
    #[serde(default = "default_idle_heartbeat")]
    pub idle_heartbeat_ms: u64,
    /// Runtime worker threads.
    #[serde(default = "default_threads")]
    pub worker_threads: usize,
    /// Most threads for blocking work (the storage engine's reads and
    /// syncs). Tokio's default of 512 let a loaded validator grow to ~460
    /// threads, each with its own allocator heap and stack.
    #[serde(default = "default_blocking_threads")]
    pub blocking_threads: usize,
    /// Days the telemetry store keeps readings (by device timestamp); 0 keeps
    /// them forever. Commitments and summaries stay in consensus state always.
    #[serde(default = "default_retention_days")]
    pub telemetry_retention_days: u64,
    /// Where readings past retention are archived with their proofs, one
    /// JSON-lines file per UTC day (`data_dir/telemetry-archive` by default).
    #[serde(default)]
    pub telemetry_archive_dir: Option<PathBuf>,
    /// Archive before dropping (default); `false` drops without a copy.
    #[serde(default = "default_true")]
    pub telemetry_archive_enabled: bool,
    /// MiB of the state store's page cache. The storage engine reads with
    /// direct I/O, so state that does not fit here is read from the device.
    #[serde(default = "default_state_cache_mib")]
    pub state_cache_mib: u64,
    /// Days ahead of the end of a consortium certificate (a CA, a
    /// validator's) that `/v1/status`, `/metrics` and the log warn.
    #[serde(default = "default_certificate_warning_days")]
    pub certificate_warning_days: u32,
    /// Serve `/metrics` to anonymous callers (a Prometheus scraper without a
    /// member certificate); `false` makes it members-only like chain data.
    #[serde(default = "default_true")]
    pub public_metrics: bool,
    /// Most API connections open at once (server-sent event streams
    /// included); lowered at start if the descriptor limit cannot hold it
    /// next to storage and p2p. Over it, a connection gets a 503 and is closed.
    #[serde(default = "default_api_max_connections")]
    pub api_max_connections: usize,
    /// Most API connections open at once from one client address.
    #[serde(default = "default_api_max_connections_per_ip")]
    pub api_max_connections_per_ip: usize,
    /// Milliseconds a client has to send a request's headers, or an idle
    /// keep-alive connection stays open, before it is closed.
    #[serde(default = "default_api_header_timeout_ms")]
    pub api_header_timeout_ms: u64,
    /// Milliseconds a client has to send a request's body.
    #[serde(default = "default_api_body_timeout_ms")]
    pub api_body_timeout_ms: u64,
    /// Below this many MiB free on the data directory's filesystem the API
    /// refuses new transactions (503 `disk_low`) until space returns.
    #[serde(default = "default_min_free_disk_mib")]
    pub min_free_disk_mib: u64,
    /// Below this many MiB free the node stops cleanly (and will not start)
    /// before a storage write could fail; at most `min_free_disk_mib`.
    #[serde(default = "default_halt_free_disk_mib")]
    pub halt_free_disk_mib: u64,
    /// API requests per second from one client address (bursts of twice
    /// that); over it, 429 `rate_limited`.
    #[serde(default = "default_api_requests_per_second_per_ip")]
    pub api_requests_per_second_per_ip: u32,
}

fn default_api_requests_per_second_per_ip() -> u32 {
    1_000
}

fn default_halt_free_disk_mib() -> u64 {
    64
}
fn default_min_free_disk_mib() -> u64 {
    512
}

fn default_api_max_connections() -> usize {
    1_024
}
fn default_api_max_connections_per_ip() -> usize {
    256
}
fn default_api_header_timeout_ms() -> u64 {
    10_000
}
fn default_api_body_timeout_ms() -> u64 {
    30_000
}

fn default_p2p() -> String {
    "127.0.0.1:30300".into()
}
fn default_api() -> String {
    "127.0.0.1:8080".into()
}
fn default_block_txs() -> usize {
    5_000
}
fn default_block_interval() -> u64 {
    100
}
fn default_api_max_streams() -> usize {
    256
}
fn default_api_max_streams_per_caller() -> usize {
    8
}
fn default_api_requests_per_second_per_caller() -> u32 {
    500
}
fn default_idle_heartbeat() -> u64 {
    10_000
}
fn default_threads() -> usize {
    2
}
fn default_blocking_threads() -> usize {
    64
}
fn default_retention_days() -> u64 {
    30
}
fn default_state_cache_mib() -> u64 {
    STATE_CACHE_MIB
}
/// Default state page cache.
pub const STATE_CACHE_MIB: u64 = 64;
fn default_certificate_warning_days() -> u32 {
    u32::try_from(crate::cert_watch::DEFAULT_WARNING_DAYS).expect("a small positive constant")
}

fn default_true() -> bool {
    true
}

impl NodeConfig {
    /// The API's connection limits.
    /// The API's TLS configuration, when `api_tls_cert` and `api_tls_key`
    /// are set (one without the other is a configuration error).
    pub fn api_tls(
        &self,
    ) -> anyhow::Result<Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>> {
        match (&self.api_tls_cert, &self.api_tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                Ok(Some(ingot_tls::server_config(cert, key, &[b"http/1.1"])?))
            }
            _ => anyhow::bail!("api_tls_cert and api_tls_key must be set together"),
        }
    }

    pub fn api_limits(&self) -> crate::http_server::Limits {
        crate::http_server::Limits {
            max_connections: self.api_max_connections.max(1),
            max_connections_per_ip: self
                .api_max_connections_per_ip
                .clamp(1, self.api_max_connections.max(1)),
            header_timeout: std::time::Duration::from_millis(self.api_header_timeout_ms.max(100)),
            body_timeout: std::time::Duration::from_millis(self.api_body_timeout_ms.max(100)),
            requests_per_second_per_ip: self.api_requests_per_second_per_ip.max(1),
        }
    }

    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let mut cfg: NodeConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        // Relative paths are relative to the config file.
        let base = path.parent().unwrap_or(std::path::Path::new("."));
        for p in [&mut cfg.genesis, &mut cfg.key, &mut cfg.data_dir]
            .into_iter()
            .chain(cfg.telemetry_archive_dir.as_mut())
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        anyhow::ensure!(
            cfg.halt_free_disk_mib <= cfg.min_free_disk_mib,
            "{}: halt_free_disk_mib ({}) must not exceed min_free_disk_mib ({}): admission pauses before the node halts",
            path.display(),
            cfg.halt_free_disk_mib,
            cfg.min_free_disk_mib
        );
        Ok(cfg)
    }
}
