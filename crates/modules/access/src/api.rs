//! Access-control reads: a device's access log (owner and regulators only),
//! and the offline-verifiable bundle of a granted token
//! ([`ingot_light::TokenBundle`]) for its accessor to hand to the device.

use crate::{log_key, log_len_key, token_key, AccessModule, LogEntry, Token};
use axum::{
    extract::{Path, Query, State},
    routing::get,
    Json, Router,
};
use commonware_codec::Decode;
use ingot_api::query::Page;
use ingot_light::TokenBundle;
use ingot_module_api::{
    bad, forbidden, hex32, internal, not_found, read_page, ApiError, Host, ModuleApi, Viewer,
};
use ingot_types::Digest;
use serde_json::Value;
use utoipa::OpenApi;

/// Most log entries per page.
pub const MAX_LOG_PAGE: u64 = 500;

#[derive(OpenApi)]
#[openapi(paths(access_log, bundle))]
struct AccessApi;

impl ModuleApi for AccessModule {
    fn member_routes(&self) -> Router<Host> {
        Router::new()
            .route("/v1/devices/{id}/access-log", get(access_log))
            .route("/v1/access/tokens/{id}/bundle", get(bundle))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        AccessApi::openapi()
    }
}

#[utoipa::path(
    get,
    path = "/v1/devices/{id}/access-log",
    tag = "access",
    summary = "every access request for a device with its decision (owner and regulators only)",
    params(("id" = String, Path, description = "device id"), ingot_api::query::Page),
    responses((status = 200, description = "a page of access log entries", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn access_log(
    State(s): State<Host>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    if id.len() > ingot_module_device::MAX_ID_LEN {
        return Err(bad("device id too long"));
    }
    // The access module's rule for the log (decided before the state lock:
    // the rule reads state itself).
    if !s
        .may_read_key(&viewer, &String::from_utf8_lossy(&log_len_key(&id)))
        .await?
    {
        return Err(forbidden(
            "a device's access log is visible to its owner and to regulators only",
        ));
    }
    if ingot_module_device::find_committed(s.state(), &id)
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(not_found(format!("unknown device {id}")));
    }
    let total = match s.get(&log_len_key(&id)).await? {
        Some(raw) => u64::from_be_bytes(raw.try_into().unwrap_or_default()),
        None => 0,
    };
    let entries = read_page(
        &*s,
        &id,
        total,
        &page,
        MAX_LOG_PAGE,
        |seq| log_key(&id, seq),
        |raw| Ok(LogEntry::decode_cfg(raw, &()).map_err(internal)?.to_json()),
    )
    .await?;
    Ok(Json(entries))
}

/// The proof bundle of a granted token, for its accessor or the device's
/// owner (the access module's rule for the token: a bearer credential). Available once a block anchoring the grant's
/// execution, and a certified descendant of it, are final.
#[utoipa::path(
    get,
    path = "/v1/access/tokens/{id}/bundle",
    tag = "access",
    summary = "offline-verifiable proof bundle of a granted access token (requester and the device's owner)",
    params(("id" = String, Path, description = "token id (hex)")),
    responses((status = 200, description = "the token bundle (ingot_light::TokenBundle)", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn bundle(
    State(s): State<Host>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Json<TokenBundle>, ApiError> {
    let token_id = hex32(&id, "token id")?;
    let key = token_key(&token_id);
    if !s
        .may_read_key(&viewer, &String::from_utf8_lossy(&key))
        .await?
    {
        // Unknown tokens answer the same: a token id is not to be probed.
        return Err(forbidden(
            "a token's bundle is for its requester and the device's owner only",
        ));
    }
    let token_raw = s
        .get(&key)
        .await?
        .ok_or_else(|| not_found("unknown token"))?;
    Token::decode_cfg(token_raw.clone(), &()).map_err(internal)?;

    let chain = s.receipt_chain(Digest::from(token_id)).await?;
    Ok(Json(TokenBundle {
        token: hex::encode(&token_raw),
        receipt: chain.receipt,
        receipt_index: chain.receipt_index,
        receipt_proof: chain.receipt_proof,
        exec_height: chain.exec_height,
        headers: chain.headers,
        finalization: chain.finalization,
    }))
}
