//! `ingot edge`: the edge gateway between devices and the chain (white paper
//! 二.1 安全的数据连接, 智能的边缘计算; 七.1's "middleman" made untrusted).
//!
//! ```text
//!  devices ──MQTT 3.1.1/5──▶ embedded endpoint ─┐
//!  devices ──▶ Mosquitto ──▶ bridge (subscribe) ─┴▶ ingest (checks, durable queue)
//!                                                       │ PUBACK after fsync
//!                                                       ▼
//!                                        forwarder ──telemetry.anchor──▶ node
//! ```
//!
//! The gateway is never trusted: devices sign their readings
//! ([`ingot_types::telemetry`]) and every validator verifies them again. It
//! only refuses early, stores durably, batches many devices' readings into
//! few transactions, and keeps going when the chain is unreachable.

// Without the default `gateway` feature only [`shape`] is built: the
// stateless judgement the `gateway_payload` fuzz target runs, without the
// MQTT, HTTP, OPC UA and Modbus stacks, which the fuzz build would
// otherwise compile with coverage instrumentation for nothing.
#[cfg(feature = "gateway")]
pub mod device_auth;
#[cfg(feature = "gateway")]
pub mod forward;
#[cfg(feature = "gateway")]
pub mod ingest;
#[cfg(feature = "gateway")]
pub mod mqtt_bridge;
#[cfg(feature = "gateway")]
pub mod mqtt_server;
#[cfg(feature = "gateway")]
pub mod node;
#[cfg(feature = "gateway")]
pub mod plant;
#[cfg(feature = "gateway")]
pub mod queue;
#[cfg(feature = "gateway")]
pub mod quota;
#[cfg(feature = "gateway")]
mod service;
pub mod shape;
#[cfg(feature = "gateway")]
pub mod status;
#[cfg(feature = "gateway")]
pub use service::{run, EdgeConfig, Source, DEFAULT_MAX_PACKET};
