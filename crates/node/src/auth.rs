//! Caller authentication: every request passes through [`authenticate`] once.
//!
//! A request without any `x-ingot-*` header is anonymous. One with some but
//! not all four is refused (401 `auth_incomplete`): a client that meant to
//! sign must never be silently served as anonymous. A complete set is checked
//! in this order — time within [`MAX_REQUEST_SKEW_MS`], nonce well formed,
//! certificate chains to a genesis CA, signature over
//! `ingot_types::api_request::request_message` (method, path with query,
//! body hash, time, nonce), certificate inside its validity dates and not
//! revoked on chain, nonce not seen before — and each failure is a 401 with
//! its own code. The caller is then available to handlers as a [`Viewer`].
//!
//! Routes are members-only unless registered as public ([`require_member`]
//! guards the rest): anonymous callers get what is declared public and nothing
//! else.

use crate::api::{ApiError, ApiState};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{request::Parts, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_crypto::Identity;
use ingot_execution::visibility::Reader;
use ingot_types::api_request::*;
use std::{
    collections::{HashSet, VecDeque},
    sync::{Arc, Mutex},
};

/// Most nonces remembered at once. Each is remembered for twice the allowed
/// skew (2 min), so this admits a sustained ~2,000 signed requests a second;
/// beyond that signed requests are refused (503 `auth_busy`) rather than
/// forgetting a nonce early, which would allow a replay. About 40 bytes per
/// entry: ≤ 11 MiB.
pub const MAX_REMEMBERED_NONCES: usize = 1 << 18;
/// How long a nonce is remembered: any request time still inside the skew
/// window when the nonce was first seen stays inside it for at most this long.
pub const NONCE_MEMORY_MS: u64 = 2 * MAX_REQUEST_SKEW_MS;
const _: () = assert!(NONCE_MEMORY_MS >= 2 * MAX_REQUEST_SKEW_MS);
const _: () = assert!(MAX_REMEMBERED_NONCES as u64 >= NONCE_MEMORY_MS / 1000 * 1000);

pub use ingot_module_api::{Caller, Viewer};

/// Nonces seen within [`NONCE_MEMORY_MS`], bounded by [`MAX_REMEMBERED_NONCES`].
#[derive(Default)]
pub struct NonceCache {
    inner: Mutex<NonceInner>,
}

#[derive(Default)]
struct NonceInner {
    seen: HashSet<u128>,
    /// Insertion order = expiry order (every entry lives the same time).
    order: VecDeque<(u64, u128)>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum NonceError {
    Replayed,
    Full,
}

impl NonceCache {
    /// Remember `(cert, nonce)` at `now_ms`; refuse one seen before.
    pub fn check_and_remember(
        &self,
        cert_hash: &[u8; 32],
        nonce: &str,
        now_ms: u64,
    ) -> Result<(), NonceError> {
        let digest = ingot_types::sha256(&[cert_hash, nonce.as_bytes()]);
        let key = u128::from_be_bytes(digest.as_ref()[..16].try_into().expect("16 bytes"));
        let mut inner = self.inner.lock().unwrap();
        while let Some(&(expiry, old)) = inner.order.front() {
            if expiry > now_ms {
                break;
            }
            inner.order.pop_front();
            inner.seen.remove(&old);
        }
        if inner.seen.contains(&key) {
            return Err(NonceError::Replayed);
        }
        if inner.seen.len() >= MAX_REMEMBERED_NONCES {
            return Err(NonceError::Full);
        }
        inner.seen.insert(key);
        inner.order.push_back((now_ms + NONCE_MEMORY_MS, key));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// The reader an identity is to the read model.
pub fn reader_of(consortium: &ingot_execution::Consortium, id: &Identity) -> Reader {
    Reader {
        org: id.org.clone(),
        id: id.id,
        regulator: id.device.is_none() && consortium.is_regulator(&id.org),
        device: id.device.as_ref().map(|d| d.id.clone()),
    }
}

/// Middleware: authenticate the request (if it is signed) and record the
/// [`Viewer`]; a bad or partial signature is a 401 here, before any handler.
pub async fn authenticate<E: Storage + Clock + Metrics + Spawner>(
    State(s): State<Arc<ApiState<E>>>,
    req: Request,
    next: Next,
) -> Response {
    let present = AUTH_HEADERS
        .iter()
        .filter(|h| req.headers().contains_key(**h))
        .count();
    if present == 0 {
        let mut req = req;
        req.extensions_mut().insert(Viewer(None));
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // The body is part of what is signed; read it (bounded by the largest
    // body any route accepts) and hand it on unchanged.
    let body = match axum::body::to_bytes(body, crate::api::MAX_BATCH_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!(
                    "request body over {} bytes",
                    crate::api::MAX_BATCH_BODY_BYTES
                ),
            )
            .into_response()
        }
    };
    match verify(&s, &parts, &body, present).await {
        Ok(caller) => {
            // Per holder: several certificates on one key share one rate.
            if !s.callers.allow(caller.identity.id) {
                return crate::http_server::rate_limited();
            }
            parts.extensions.insert(Viewer(Some(Arc::new(caller))));
            next.run(Request::from_parts(parts, Body::from(body))).await
        }
        Err(e) => e.into_response(),
    }
}

/// Whether a caller's certificate is in good standing at `now_ms`: inside its
/// validity dates and not revoked on chain. Checked when a signed request
/// arrives and again by long-lived streams (which outlive that request).
pub async fn standing<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    identity: &Identity,
    now_ms: u64,
) -> Result<(), ApiError> {
    let now_s = (now_ms / 1000) as i64;
    if now_s > identity.not_after {
        return Err(unauthorized(
            "auth_expired",
            format!("certificate expired (not after {})", identity.not_after),
        ));
    }
    if now_s < identity.not_before {
        return Err(unauthorized(
            "auth_not_yet_valid",
            format!("certificate not valid before {}", identity.not_before),
        ));
    }
    let state = s.shared.state.read().await;
    if ingot_execution::modules::identity::is_revoked_committed(&*state, identity)
        .await
        .map_err(crate::api::internal)?
    {
        return Err(unauthorized("auth_revoked", "certificate revoked on chain"));
    }
    Ok(())
}

async fn verify<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    parts: &Parts,
    body: &[u8],
    present: usize,
) -> Result<Caller, ApiError> {
    if present < AUTH_HEADERS.len() {
        let missing: Vec<&str> = AUTH_HEADERS
            .iter()
            .copied()
            .filter(|h| !parts.headers.contains_key(*h))
            .collect();
        return Err(unauthorized(
            "auth_incomplete",
            format!(
                "a signed request needs all of {}; missing {}",
                AUTH_HEADERS.join(", "),
                missing.join(", ")
            ),
        ));
    }
    let get = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let now = now_ms();
    let time: u64 = get(HEADER_TIME)
        .parse()
        .map_err(|_| unauthorized("auth_time", "x-ingot-time is not unix milliseconds"))?;
    if time.abs_diff(now) > MAX_REQUEST_SKEW_MS {
        return Err(unauthorized(
            "auth_time",
            format!(
                "request time is {} ms from the node's clock (at most {MAX_REQUEST_SKEW_MS})",
                time.abs_diff(now)
            ),
        ));
    }
    let nonce = get(HEADER_NONCE);
    if !valid_nonce(nonce) {
        return Err(unauthorized(
            "auth_nonce",
            format!(
                "x-ingot-nonce must be {MIN_NONCE_HEX}-{MAX_NONCE_HEX} lowercase hex characters"
            ),
        ));
    }
    let der = hex::decode(get(HEADER_CERT))
        .map_err(|_| unauthorized("auth_certificate", "x-ingot-cert is not hex"))?;
    let signature = hex::decode(get(HEADER_SIGNATURE))
        .map_err(|_| unauthorized("auth_signature", "x-ingot-signature is not hex"))?;
    let consortium = s.shared.trust.current();
    let identity = consortium
        .identify(&der)
        .map_err(|e| unauthorized("auth_certificate", format!("certificate refused: {e}")))?;
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let message = request_message(parts.method.as_str(), target, body, time, nonce);
    identity
        .public_key
        .verify(&message, &signature)
        .map_err(|_| {
            unauthorized(
                "auth_signature",
                "signature does not match this method, path and query, body, time and nonce",
            )
        })?;
    standing(s, &identity, now).await?;
    match s.nonces.check_and_remember(&identity.cert_hash, nonce, now) {
        Ok(()) => {}
        Err(NonceError::Replayed) => {
            return Err(unauthorized(
                "auth_replayed",
                "this nonce was already used: every signed request needs a fresh one",
            ))
        }
        Err(NonceError::Full) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth_busy",
                "too many signed requests in the last two minutes; retry shortly",
            ))
        }
    }
    let reader = reader_of(&consortium, &identity);
    Ok(Caller { identity, reader })
}

/// Middleware for members-only routes: an anonymous caller gets 401.
pub async fn require_member(viewer: Viewer, req: Request, next: Next) -> Response {
    if viewer.0.is_none() {
        return unauthorized(
            "auth_required",
            "this route needs a signed request (x-ingot-cert, x-ingot-time, x-ingot-nonce, x-ingot-signature; see docs/api-auth.md)",
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_within_its_window() {
        let cache = NonceCache::default();
        let cert = [1; 32];
        assert_eq!(cache.check_and_remember(&cert, "aa", 1_000), Ok(()));
        assert_eq!(
            cache.check_and_remember(&cert, "aa", 1_000 + NONCE_MEMORY_MS - 1),
            Err(NonceError::Replayed)
        );
        // Another certificate's identical nonce is its own.
        assert_eq!(cache.check_and_remember(&[2; 32], "aa", 1_001), Ok(()));
        // Forgotten only once no request time could still be inside the skew.
        assert_eq!(
            cache.check_and_remember(&cert, "aa", 1_000 + NONCE_MEMORY_MS),
            Ok(())
        );
    }

    #[test]
    fn a_full_cache_refuses_instead_of_forgetting() {
        let cache = NonceCache::default();
        for i in 0..MAX_REMEMBERED_NONCES {
            cache
                .check_and_remember(&[0; 32], &format!("{i:x}"), 5)
                .unwrap();
        }
        assert_eq!(
            cache.check_and_remember(&[0; 32], "new", 6),
            Err(NonceError::Full)
        );
        assert_eq!(
            cache.check_and_remember(&[0; 32], "new", 5 + NONCE_MEMORY_MS),
            Ok(())
        );
        assert_eq!(cache.len(), 1);
    }
}
