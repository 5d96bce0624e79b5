//! The types of Ingot's HTTP API: request bodies, query parameters, response
//! bodies and the error body, each with its OpenAPI schema. The node's
//! handlers extract and answer with these types, and `/openapi.json` is
//! generated from the handlers' annotations and these schemas, so the
//! document cannot drift from what the node parses. Clients (the CLI, the
//! edge gateway, `ingot bench`, the tests) read answers through them.
//!
//! Field names are the wire format: renaming one is a breaking API change.

pub mod core;
pub mod error;
pub mod query;

pub use error::{ErrorBody, ErrorResponses};

/// The security scheme of signed requests (docs/api-auth.md).
pub const SIGNED_REQUEST: &str = "signedRequest";
