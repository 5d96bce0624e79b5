//! A module's HTTP routes (DESIGN.md decision 7): a module crate implements
//! [`ModuleApi`] to contribute its routes and their OpenAPI entries; the
//! node mounts them under its authentication and read model, and answers
//! their questions through [`ApiHost`] (committed state, who may read a
//! key). A route never sees the node's internals, and what it shows is
//! decided by the same rules as `/v1/state`.

pub mod error;
mod files;
pub mod page;
pub mod stream;
pub mod viewer;

pub use error::{bad, forbidden, hex32, internal, not_found, ApiError};
pub use files::{open_or_set_aside, open_store};
pub use page::read_page;
pub use viewer::{Caller, Viewer};

pub use ingot_module::BoxFuture;
use std::sync::Arc;

/// The node as a module's routes see it.
pub trait ApiHost: Send + Sync + 'static {
    /// A committed state value (the executed height's state).
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, ApiError>>;

    /// Committed state for other modules' published read services (e.g.
    /// `ingot_module_device::find_committed`).
    fn state(&self) -> &dyn ingot_module::StateRead;

    /// The receipt of transaction `tx`, its path to the receipts root, and
    /// the hash-linked headers up to one with a finalization certificate:
    /// what an offline verifier needs (`ingot_light`). 404 for an unknown
    /// transaction, 503 `not_yet_certified` until such a block is final.
    fn receipt_chain(
        &self,
        tx: ingot_types::Digest,
    ) -> BoxFuture<'_, Result<ingot_light::ReceiptChain, ApiError>>;

    /// Whether `viewer` may read the state key `key`, by the owning module's
    /// rule (the read model of `/v1/state`, `/v1/tx`, blocks and events).
    fn may_read_key<'a>(
        &'a self,
        viewer: &'a Viewer,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, ApiError>>;

    /// The last executed height.
    fn executed_height(&self) -> u64;

    /// The consortium as the next block sees it (organisations, kinds,
    /// weights, trusted CAs, governance rules).
    fn consortium(&self) -> Arc<ingot_module::Consortium>;

    /// Whether a signed caller is still inside its certificate's dates and
    /// not revoked on chain (streams outlive the request that authenticated
    /// them; anonymous callers are always "still valid").
    fn caller_still_valid<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<bool, ApiError>>;

    /// A derived store a module declared, by its name.
    fn derived(&self, name: &str) -> Option<Arc<dyn std::any::Any + Send + Sync>>;

    /// A slot for a new long-lived stream of `viewer` (held for the
    /// stream's life): 429 / 503 `too_many_streams` over the caps.
    fn stream_slot(&self, viewer: &Viewer) -> Result<stream::StreamSlot, ApiError>;
}

/// The derived store `name` of type `T` (what a module's own routes read).
pub fn store<T: Send + Sync + 'static>(host: &dyn ApiHost, name: &str) -> Result<Arc<T>, ApiError> {
    host.derived(name)
        .and_then(|s| s.downcast::<T>().ok())
        .ok_or_else(|| internal(format!("derived store {name} is not open")))
}

/// The host a route's handlers take as axum state.
pub type Host = Arc<dyn ApiHost>;

/// The routes a module contributes.
pub trait ModuleApi: Send + Sync + 'static {
    /// The stores this module derives from executed blocks, each opened as
    /// `<dir>/<name>.redb` (in memory without a `dir`). The node feeds them,
    /// refills one that is behind from its block archive, rebuilds them with
    /// `ingot rebuild-derived`, and hands them to the routes by name.
    fn derived_stores(
        &self,
        _dir: Option<&std::path::Path>,
    ) -> Result<Vec<Arc<dyn ingot_module::derived::Derived>>, String> {
        Ok(Vec::new())
    }

    /// Routes anyone may call (the module's public resolution services).
    fn public_routes(&self) -> axum::Router<Host> {
        axum::Router::new()
    }

    /// Routes for authenticated members only (the node requires a signed
    /// request before they run).
    fn member_routes(&self) -> axum::Router<Host>;

    /// The OpenAPI entries of every route above (a node test fails on a
    /// route without one).
    fn openapi(&self) -> utoipa::openapi::OpenApi;
}
