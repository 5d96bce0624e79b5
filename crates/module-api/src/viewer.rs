//! Who is asking: set by the node's authentication before any route runs.

use axum::{extract::FromRequestParts, http::request::Parts};
use ingot_crypto::Identity;
use ingot_module::Reader;
use std::sync::Arc;

/// An authenticated caller.
#[derive(Debug)]
pub struct Caller {
    pub identity: Arc<Identity>,
    pub reader: Reader,
}

/// Who is asking (None: anonymous).
#[derive(Clone, Default)]
pub struct Viewer(pub Option<Arc<Caller>>);

impl Viewer {
    pub fn reader(&self) -> Option<&Reader> {
        self.0.as_ref().map(|c| &c.reader)
    }
    pub fn identity(&self) -> Option<&Identity> {
        self.0.as_ref().map(|c| &*c.identity)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .unwrap_or_default())
    }
}
