//! Access-control reads: a device's access log (owner and regulators only),
//! and the offline-verifiable bundle of a granted token
//! ([`ingot_light::TokenBundle`]) for its accessor to hand to the device.

use crate::api::{forbidden, internal, not_found, ApiError, ApiState, St};
use crate::api_devices::{hex32, read_page, Page};
use crate::{auth::Viewer, read_model::may_read_key};
use axum::{
    extract::{Path, Query},
    http::StatusCode,
    routing::get,
    Json, Router,
};
use commonware_codec::{Decode, Encode};
use commonware_consensus::types::Height;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_api::ErrorResponses;
use ingot_execution::modules::{
    access::{log_key, log_len_key, token_key, LogEntry, Token},
    device::record_key,
};
use ingot_light::{ReceiptChain, TokenBundle, MAX_BUNDLE_HEADERS};
use ingot_types::{merkle, Digest};
use serde_json::Value;
use std::sync::Arc;

/// Most log entries per page.
pub const MAX_LOG_PAGE: u64 = 500;

pub fn routes<E: Storage + Clock + Metrics + Spawner>() -> Router<Arc<ApiState<E>>> {
    Router::new()
        .route("/v1/devices/{id}/access-log", get(access_log::<E>))
        .route("/v1/access/tokens/{id}/bundle", get(bundle::<E>))
}

#[utoipa::path(
    get,
    path = "/v1/devices/{id}/access-log",
    tag = "access",
    summary = "every access request for a device with its decision (owner and regulators only)",
    params(("id" = String, Path, description = "device id"), ingot_api::query::Page),
    responses((status = 200, description = "a page of access log entries", body = serde_json::Value), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn access_log<E: Storage + Clock + Metrics + Spawner>(
    axum::extract::State(s): St<E>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    if id.len() > ingot_execution::modules::device::MAX_ID_LEN {
        return Err(crate::api::bad("device id too long"));
    }
    // The access module's rule for the log (decided before the state lock:
    // the rule reads state itself).
    if !may_read_key(&s, &viewer, &String::from_utf8_lossy(&log_len_key(&id))).await? {
        return Err(forbidden(
            "a device's access log is visible to its owner and to regulators only",
        ));
    }
    let state = s.shared.state.read().await;
    if state
        .get(&record_key(&id))
        .await
        .map_err(internal)?
        .is_none()
    {
        return Err(not_found(format!("unknown device {id}")));
    }
    let total = match state.get(&log_len_key(&id)).await.map_err(internal)? {
        Some(raw) => u64::from_be_bytes(raw.try_into().unwrap_or_default()),
        None => 0,
    };
    let entries = read_page(
        &state,
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
    responses((status = 200, description = "the token bundle (ingot_light::TokenBundle)", body = serde_json::Value), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn bundle<E: Storage + Clock + Metrics + Spawner>(
    axum::extract::State(s): St<E>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Json<TokenBundle>, ApiError> {
    let token_id = hex32(&id, "token id")?;
    let key = token_key(&token_id);
    if !may_read_key(&s, &viewer, &String::from_utf8_lossy(&key)).await? {
        // Unknown tokens answer the same: a token id is not to be probed.
        return Err(forbidden(
            "a token's bundle is for its requester and the device's owner only",
        ));
    }
    let token_raw = s
        .shared
        .state
        .read()
        .await
        .get(&key)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("unknown token"))?;
    Token::decode_cfg(token_raw.clone(), &()).map_err(internal)?;

    let chain = receipt_chain(&s, &Digest::from(token_id)).await?;
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

/// The receipt of transaction `tx`, its path to the receipts root, and the
/// hash-linked headers from the block anchoring that root up to one with a
/// finalization certificate. 503 until such a block is final.
pub(crate) async fn receipt_chain<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    tx: &Digest,
) -> Result<ReceiptChain, ApiError> {
    let (height, index, receipt, proof) = {
        let ledger = s.shared.ledger.lock().await;
        let loc = ledger
            .locate_recent(&s.shared.recent, tx)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("transaction not indexed"))?;
        let record = ledger
            .record(loc.height)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("execution record missing"))?;
        let hashes: Vec<Digest> = record
            .receipts
            .iter()
            .map(ingot_execution::receipt_hash)
            .collect();
        let proof = merkle::proof(&hashes, loc.index).ok_or_else(|| internal("no proof"))?;
        (
            loc.height,
            loc.index,
            record.receipts[loc.index as usize].clone(),
            proof,
        )
    };

    // The header anchoring that height, then hash-linked headers up to one
    // with its own finalization certificate.
    let finalized = s
        .shared
        .finalized
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut headers = Vec::new();
    let mut at = height + 1;
    while at <= finalized && headers.len() < MAX_BUNDLE_HEADERS {
        let block = s
            .marshal
            .get_block(Height::new(at))
            .await
            .ok_or_else(|| internal(format!("finalized block {at} missing")))?;
        let header = &block.inner().header;
        if headers.is_empty() && header.result_for(height).is_none() {
            at += 1;
            continue;
        }
        headers.push(hex::encode(header.encode()));
        if let Some(fin) = s.marshal.get_finalization(Height::new(at)).await {
            return Ok(ReceiptChain {
                receipt: hex::encode(receipt.encode()),
                receipt_index: index,
                receipt_proof: hex::encode(proof.encode()),
                exec_height: height,
                headers,
                finalization: hex::encode(fin.encode()),
            });
        }
        at += 1;
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_yet_certified",
        "not yet anchored in a certified block; retry shortly",
    ))
}
