//! A module's HTTP routes (DESIGN.md decision 7): a module crate implements
//! [`ModuleApi`] to contribute its routes and their OpenAPI entries; the
//! node mounts them under its authentication and read model, and answers
//! their questions through [`ApiHost`] (committed state, who may read a
//! key). A route never sees the node's internals, and what it shows is
//! decided by the same rules as `/v1/state`.

pub mod error;
pub mod viewer;

pub use error::{bad, forbidden, internal, not_found, ApiError};
pub use viewer::{Caller, Viewer};

pub use ingot_module::BoxFuture;
use std::sync::Arc;

/// The node as a module's routes see it.
pub trait ApiHost: Send + Sync + 'static {
    /// A committed state value (the executed height's state).
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, ApiError>>;

    /// Whether `viewer` may read the state key `key`, by the owning module's
    /// rule (the read model of `/v1/state`, `/v1/tx`, blocks and events).
    fn may_read_key<'a>(
        &'a self,
        viewer: &'a Viewer,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, ApiError>>;

    /// The last executed height.
    fn executed_height(&self) -> u64;
}

/// The host a route's handlers take as axum state.
pub type Host = Arc<dyn ApiHost>;

/// The routes a module contributes.
pub trait ModuleApi: Send + Sync + 'static {
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
