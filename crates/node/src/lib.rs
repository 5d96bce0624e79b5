#![recursion_limit = "256"]
//! An Ingot validator node.
//!
//! * [`engine`] wires Commonware simplex (ordering), marshal (block
//!   dissemination, storage of finalized blocks and certificates, backfill) and
//!   the p2p channels into one validator, generic over the runtime so the same
//!   code runs on tokio in production and in the deterministic simulator.
//! * [`app`] is the application consensus calls: it proposes blocks from the
//!   mempool and verifies proposals.
//! * [`executor`] executes finalized blocks in order and records the outcome.
//! * [`api`] serves the HTTP API.

pub mod api;
pub mod app;
pub mod archive_guard;
pub mod auth;
pub mod block_repair;
pub mod cert_watch;
pub mod config;
pub mod data_lock;
pub mod derived;
pub mod disk;
pub mod engine;
pub mod epochs;
pub mod executor;
pub mod gossip;
pub mod http_server;
pub mod ledger;
pub mod ledger_index;
pub mod mempool;
pub mod module_routes;
pub mod openapi;
pub mod orchestrator;
pub mod peer_sets;
pub mod rate_limit;
pub mod read_model;
pub mod rebuild;
pub mod regenerate;
pub mod run;
pub mod scrub;
pub mod shared;
pub mod storage_sizes;
pub mod verify;

pub use shared::Shared;

/// Namespace of consensus signatures (so they cannot be replayed elsewhere).
pub use ingot_light::CONSENSUS_NAMESPACE;
/// Namespace of the p2p handshake.
pub const P2P_NAMESPACE: &[u8] = b"_INGOT_P2P";
pub use storage_sizes::{IoSizes, StorageSizes};
