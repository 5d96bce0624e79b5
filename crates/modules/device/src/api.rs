//! Device registry reads: resolve by id, name or certificate, and a device's
//! history. Visibility (white paper 三.3): the owner organisation and
//! regulators see everything; everyone else — anonymous or another
//! organisation — sees only the public part (id, name, model, status), and
//! no history. Callers identify themselves with a signed request (see
//! the node's authentication); the decision is the device module's read model.

use crate::{
    cert_key, history_key, name_key,
    names::{self, DeviceNames},
    record_key, DeviceModule, DeviceRecord, HistoryEntry, MAX_DEVICE_NAME_LEN, MAX_ID_LEN,
};
use axum::{
    extract::{Path, Query, State},
    routing::get,
    Json, Router,
};
use commonware_codec::Decode;
use ingot_api::query::{DeviceListQuery, Page};
use ingot_module::derived::Derived;
use ingot_module_api::{
    bad, forbidden, hex32, internal, not_found, read_page, store, ApiError, Host, ModuleApi, Viewer,
};
use serde_json::{json, Value};
use std::sync::Arc;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(list, by_id, by_name, by_cert, history))]
struct DeviceApi;

impl ModuleApi for DeviceModule {
    fn derived_stores(
        &self,
        dir: Option<&std::path::Path>,
    ) -> Result<Vec<Arc<dyn Derived>>, String> {
        let names = ingot_module_api::open_store(dir, names::STORE, DeviceNames::open)?;
        Ok(vec![Arc::new(names)])
    }

    /// Resolution of ids, names and certificates: the public part, for
    /// anyone (white paper 三.3: identifier resolution); the full record for
    /// the owner and regulators.
    fn public_routes(&self) -> Router<Host> {
        Router::new()
            .route("/v1/devices", get(list))
            .route("/v1/devices/by-name/{*name}", get(by_name))
            .route("/v1/devices/by-cert/{hash}", get(by_cert))
            .route("/v1/devices/{id}", get(by_id))
    }

    fn member_routes(&self) -> Router<Host> {
        Router::new().route("/v1/devices/{id}/history", get(history))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        DeviceApi::openapi()
    }
}

/// Most history entries per page.
pub const MAX_HISTORY_PAGE: u64 = 500;
/// Most devices per listing page.
pub const MAX_LIST_PAGE: usize = 200;

/// Whether the viewer may read a device's full record (the device module's
/// rule for `device/rec/<id>`).
pub async fn sees_record(s: &Host, viewer: &Viewer, device_id: &str) -> Result<bool, ApiError> {
    s.may_read_key(viewer, &format!("device/rec/{device_id}"))
        .await
}

async fn get_raw(s: &Host, key: &[u8]) -> Result<Option<Vec<u8>>, ApiError> {
    s.get(key).await
}

async fn load(s: &Host, id: &str) -> Result<DeviceRecord, ApiError> {
    if id.len() > MAX_ID_LEN {
        return Err(bad("device id too long"));
    }
    let raw = get_raw(s, &record_key(id))
        .await?
        .ok_or_else(|| not_found(format!("unknown device {id}")))?;
    DeviceRecord::decode_cfg(raw, &()).map_err(internal)
}

async fn view(s: &Host, viewer: &Viewer, record: DeviceRecord) -> Result<Json<Value>, ApiError> {
    let mut v = if sees_record(s, viewer, &record.id).await? {
        let mut v = record.full_json();
        let revoked =
            ingot_module_identity::is_der_revoked_committed(s.state(), &record.certificate)
                .await
                .map_err(internal)?;
        v["certificate_revoked"] = json!(revoked);
        // Gateways check device signatures early with it.
        v["certificate"] = json!(hex::encode(&record.certificate));
        v["visibility"] = json!("full");
        v
    } else {
        let mut v = record.public_json();
        v["visibility"] = json!("public");
        v
    };
    v["height"] = json!(s.executed_height());
    Ok(Json(v))
}

#[utoipa::path(
    get,
    path = "/v1/devices/{id}",
    tag = "devices",
    summary = "a registered device: the full record for its owner organisation and regulators (signed request), id, name, model and status for everyone else",
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, description = "the device", body = serde_json::Value), ingot_api::ErrorResponses),
    security((), ("signedRequest" = []))
)]
async fn by_id(
    State(s): State<Host>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    let record = load(&s, &id).await?;
    view(&s, &viewer, record).await
}

#[utoipa::path(
    get,
    path = "/v1/devices/by-name/{name}",
    tag = "devices",
    summary = "resolve a hierarchical device name (same visibility as /v1/devices/{id})",
    params(("name" = String, Path, description = "device name, e.g. acme/plant-3/cnc-07")),
    responses((status = 200, description = "the device", body = serde_json::Value), ingot_api::ErrorResponses),
    security((), ("signedRequest" = []))
)]
async fn by_name(
    State(s): State<Host>,
    Path(name): Path<String>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    if name.len() > MAX_DEVICE_NAME_LEN {
        return Err(bad("name too long"));
    }
    // Time the resolution itself (name → id → record in the authenticated
    // state), so benchmarks can tell it from HTTP and JSON overhead.
    let started = std::time::Instant::now();
    let id = get_raw(&s, &name_key(&name))
        .await?
        .ok_or_else(|| not_found(format!("no device named {name}")))?;
    let record = load(&s, &String::from_utf8_lossy(&id)).await?;
    let lookup_us = started.elapsed().as_secs_f64() * 1e6;
    let Json(mut v) = view(&s, &viewer, record).await?;
    v["lookup_us"] = json!(lookup_us);
    Ok(Json(v))
}

#[utoipa::path(
    get,
    path = "/v1/devices/by-cert/{hash}",
    tag = "devices",
    summary = "the device whose current certificate has this SHA-256 (reverse lookup)",
    params(("hash" = String, Path, description = "certificate SHA-256 (hex)")),
    responses((status = 200, description = "the device", body = serde_json::Value), ingot_api::ErrorResponses),
    security((), ("signedRequest" = []))
)]
async fn by_cert(
    State(s): State<Host>,
    Path(hash): Path<String>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    let hash = hex32(&hash, "certificate hash")?;
    let id = get_raw(&s, &cert_key(&hash))
        .await?
        .ok_or_else(|| not_found("no device holds this certificate as its current key"))?;
    let record = load(&s, &String::from_utf8_lossy(&id)).await?;
    view(&s, &viewer, record).await
}

/// `?from=&limit=` of paginated per-device lists.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}/history",
    tag = "devices",
    summary = "a device's lifecycle history (owner and regulators only)",
    params(("id" = String, Path, description = "device id"), ingot_api::query::Page),
    responses((status = 200, description = "a page of history entries", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn history(
    State(s): State<Host>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    let record = load(&s, &id).await?;
    if !sees_record(&s, &viewer, &record.id).await? {
        return Err(forbidden(
            "a device's history is visible to its owner and to regulators only",
        ));
    }
    let entries = read_page(
        s.as_ref(),
        &record.id,
        record.history_len,
        &page,
        MAX_HISTORY_PAGE,
        |seq| history_key(&record.id, seq),
        |raw| {
            Ok(HistoryEntry::decode_cfg(raw, &())
                .map_err(internal)?
                .to_json())
        },
    )
    .await?;
    Ok(Json(entries))
}

/// Devices whose name starts with a prefix, in name order, paginated; the
/// public part of each (what anyone may see).
#[utoipa::path(
    get,
    path = "/v1/devices",
    tag = "devices",
    summary = "devices whose name starts with ?prefix=, in name order, public part; ?after=<name>&limit= paginate (at most 200)",
    params(ingot_api::query::DeviceListQuery),
    responses((status = 200, description = "a page of devices", body = serde_json::Value), ingot_api::ErrorResponses),
    security((), ("signedRequest" = []))
)]
async fn list(
    State(s): State<Host>,
    Query(q): Query<DeviceListQuery>,
) -> Result<Json<Value>, ApiError> {
    if q.prefix.len() > MAX_DEVICE_NAME_LEN
        || q.after
            .as_ref()
            .is_some_and(|a| a.len() > MAX_DEVICE_NAME_LEN)
    {
        return Err(bad("prefix or cursor too long"));
    }
    let limit = q.limit.clamp(1, MAX_LIST_PAGE);
    let page = store::<DeviceNames>(s.as_ref(), names::STORE)?
        .by_prefix(&q.prefix, q.after.as_deref(), limit + 1)
        .map_err(internal)?;
    let more = page.len() > limit;
    let mut devices = Vec::with_capacity(limit);
    for (_, id) in page.into_iter().take(limit) {
        devices.push(load(&s, &id).await?.public_json());
    }
    let next = more
        .then(|| {
            devices
                .last()
                .and_then(|d| d["name"].as_str().map(String::from))
        })
        .flatten();
    Ok(Json(
        json!({"prefix": q.prefix, "devices": devices, "next": next}),
    ))
}
