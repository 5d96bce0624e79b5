//! Stores derived from executed blocks (DESIGN.md decision 3): the node's
//! own (the ledger index of transaction locations, the telemetry store) and
//! those modules declare (`ModuleApi::derived_stores`, e.g. the device
//! names index). The interface is `ingot_module::derived`; the node feeds
//! every store each executed height, refills one that is behind from its
//! block archive at start, and `ingot rebuild-derived` rebuilds them all.

pub use ingot_module::derived::{AnchoredTx, Derived, DerivedError, Executed};
pub use ingot_module_api::open_or_set_aside;
