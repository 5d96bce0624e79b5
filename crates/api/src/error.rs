//! The one error body every client error and refusal carries.

use serde::{Deserialize, Serialize};
use utoipa::{IntoResponses, ToSchema};

/// Every answer with a status of 400 or more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code (`bad_request`, `auth_replayed`,
    /// `forbidden`, `not_found`, `payload_too_large`, `mempool_full`, ...):
    /// what clients branch on.
    #[schema(example = "auth_replayed")]
    pub code: String,
    /// A message for people; may be reworded between versions.
    pub error: String,
}

/// The error answers any route may give, each with an [`ErrorBody`].
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ErrorResponses {
    /// Malformed path, query or body.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// A signed request is needed, or it was refused (bad signature, replayed
    /// nonce, expired or revoked certificate, clock skew).
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The caller may not read this datum.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such route, key, transaction, block, device or instance.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The route exists but not with this method.
    #[response(status = 405)]
    MethodNotAllowed(ErrorBody),
    /// The body is larger than the node accepts.
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody),
    /// Too many requests from this address (see `retry-after`).
    #[response(status = 429)]
    TooManyRequests(ErrorBody),
    /// The node cannot take more now (mempool full, nonce cache full): retry.
    #[response(status = 503)]
    Unavailable(ErrorBody),
}
