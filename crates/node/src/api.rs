//! HTTP API (axum, JSON). See `openapi.json` served at `/openapi.json`.
//!
//! Every client mistake is a 4xx with `{"error": "..."}`: malformed JSON, wrong
//! types, oversized bodies (limit [`MAX_BODY_BYTES`]), unknown routes.
//!
//! Caller authentication (for reads that later issues restrict by owner, role
//! or regulator): a caller signs the request with its member key and sends
//! `x-ingot-cert` (base64-free hex DER certificate), `x-ingot-time` (unix ms)
//! and `x-ingot-signature` (hex signature over `"ingot/api/v1" | method | path
//! | time`). [`authenticate_caller`] verifies it against the genesis CAs; today's
//! reads are public, so it is exercised by `/v1/whoami`.

use crate::{engine::MarshalMailbox, shared::PublishedEvent, Shared};
use axum::{
    extract::{DefaultBodyLimit, Path, Query, State},
    http::{HeaderMap, Method, StatusCode},
    response::{
        sse::{Event as SseEvent, KeepAlive, Sse},
        IntoResponse, Response,
    },
    routing::{get, post},
    Json, Router,
};
use commonware_codec::Encode;
use commonware_consensus::types::Height;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use futures::{Stream, StreamExt};
use ingot_execution::args;
use ingot_types::{hex_digest, parse_digest, Block, Receipt, SignedTransaction, Status};
use serde::Deserialize;
use serde_json::{json, Value};
use std::{convert::Infallible, sync::Arc, time::Duration};

pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Body limit of batch submissions (`/v1/txs`).
pub const MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Longest a `wait=true` submission waits for execution.
const MAX_WAIT: Duration = Duration::from_secs(30);
/// How far a signed API request's time may be from the node's.
const MAX_REQUEST_SKEW_MS: u64 = 60_000;

pub struct ApiState<E: Storage + Clock + Metrics + Spawner> {
    pub shared: Arc<Shared<E>>,
    pub marshal: MarshalMailbox,
    /// Renders Prometheus metrics of the runtime.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
}

pub(crate) type St<E> = State<Arc<ApiState<E>>>;

pub struct ApiError(pub(crate) StatusCode, pub(crate) String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

pub(crate) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}
pub(crate) fn not_found(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, msg.into())
}
pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

pub fn router<E: Storage + Clock + Metrics + Spawner>(state: Arc<ApiState<E>>) -> Router {
    Router::new()
        .route("/health", get(health::<E>))
        .route("/metrics", get(metrics::<E>))
        .route("/openapi.json", get(openapi))
        .route("/v1/status", get(status::<E>))
        .route("/v1/tx", post(submit::<E>))
        .route("/v1/tx/{hash}", get(tx_status::<E>))
        .route(
            "/v1/txs",
            post(submit_batch::<E>).layer(DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        )
        .route("/v1/blocks/latest", get(latest_block::<E>))
        .route("/v1/blocks/{id}", get(block::<E>))
        .route("/v1/state/{*key}", get(read_state::<E>))
        .route("/v1/events", get(events::<E>))
        .route("/v1/whoami", get(whoami::<E>))
        .merge(crate::api_devices::routes::<E>())
        .merge(crate::api_access::routes::<E>())
        .merge(crate::api_telemetry::routes::<E>())
        .merge(crate::api_workflow::routes::<E>())
        .fallback(|| async { not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn health<E: Storage + Clock + Metrics + Spawner>(State(s): St<E>) -> Json<Value> {
    Json(json!({"status": "ok", "executed_height": s.shared.executed_height()}))
}

async fn metrics<E: Storage + Clock + Metrics + Spawner>(State(s): St<E>) -> String {
    let sh = &s.shared;
    let mut out = (s.metrics)();
    out.push_str(&format!(
        "# TYPE ingot_executed_height gauge\ningot_executed_height {}\n# TYPE ingot_finalized_height gauge\ningot_finalized_height {}\n# TYPE ingot_mempool_size gauge\ningot_mempool_size {}\n# TYPE ingot_replay_window_txs gauge\ningot_replay_window_txs {}\n",
        sh.executed_height(),
        sh.finalized.load(std::sync::atomic::Ordering::Relaxed),
        sh.mempool.lock().unwrap().len(),
        sh.recent.len(),
    ));
    out
}

async fn status<E: Storage + Clock + Metrics + Spawner>(State(s): St<E>) -> Json<Value> {
    let sh = &s.shared;
    Json(json!({
        "chain_id": hex_digest(&sh.chain_id),
        "chain_name": sh.genesis.chain_name,
        "public_key": sh.public_key,
        "executed_height": sh.executed_height(),
        "finalized_height": sh.finalized.load(std::sync::atomic::Ordering::Relaxed),
        "mempool": sh.mempool.lock().unwrap().len(),
        "validators": sh.genesis.validators.iter().map(|v| json!({"name": v.name, "org": v.org, "public_key": v.public_key, "address": v.p2p_address})).collect::<Vec<_>>(),
        "organisations": sh.genesis.organisations.iter().map(|o| json!({"name": o.name, "kind": o.kind})).collect::<Vec<_>>(),
    }))
}

#[derive(Deserialize)]
struct SubmitBody {
    /// Hex of the canonical signed transaction.
    tx: String,
}

#[derive(Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: bool,
}

async fn submit<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    Query(q): Query<WaitQuery>,
    body: Result<Json<SubmitBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    let raw = hex::decode(body.tx.trim()).map_err(|e| bad(format!("`tx` is not hex: {e}")))?;
    let tx = SignedTransaction::decode_untrusted(&raw)
        .map_err(|e| bad(format!("malformed transaction: {e}")))?;
    let hash = s.shared.admit(tx).await.map_err(|e| match e {
        crate::shared::SubmitError::Mempool(crate::mempool::MempoolError::Full)
        | crate::shared::SubmitError::Mempool(crate::mempool::MempoolError::SenderLimit) => {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        crate::shared::SubmitError::Mempool(crate::mempool::MempoolError::Duplicate) => {
            ApiError(StatusCode::CONFLICT, e.to_string())
        }
        crate::shared::SubmitError::State(_) => internal(e),
        other => bad(other.to_string()),
    })?;
    if !q.wait {
        return Ok(Json(
            json!({"hash": hex_digest(&hash), "status": "pending"}),
        ));
    }
    let deadline = std::time::Instant::now() + MAX_WAIT;
    loop {
        if let Some(v) = receipt_json(&s, &hash).await? {
            return Ok(Json(v));
        }
        if std::time::Instant::now() > deadline {
            return Ok(Json(
                json!({"hash": hex_digest(&hash), "status": "pending"}),
            ));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Most transactions in one batch submission.
pub const MAX_BATCH_TXS: usize = 1_000;

#[derive(Deserialize)]
struct BatchBody {
    /// Hex of canonical signed transactions.
    txs: Vec<String>,
}

/// Submit many transactions at once (gateways, bulk loaders). Each one is
/// admitted or refused on its own; the answer lists a hash or an error per
/// transaction, in order.
async fn submit_batch<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    body: Result<Json<BatchBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| ApiError(e.status(), e.body_text()))?;
    if body.txs.len() > MAX_BATCH_TXS {
        return Err(bad(format!(
            "at most {MAX_BATCH_TXS} transactions per batch"
        )));
    }
    // Decode everything first, then admit what decoded as one batch.
    let mut decode_errors: Vec<Option<String>> = Vec::with_capacity(body.txs.len());
    let mut decoded = Vec::with_capacity(body.txs.len());
    for raw in &body.txs {
        let error = match hex::decode(raw.trim()) {
            Err(e) => Some(format!("not hex: {e}")),
            Ok(raw) => match SignedTransaction::decode_untrusted(&raw) {
                Err(e) => Some(format!("malformed transaction: {e}")),
                Ok(tx) => {
                    decoded.push(tx);
                    None
                }
            },
        };
        decode_errors.push(error);
    }
    let mut admitted = s.shared.admit_all(decoded).await.into_iter();
    let mut accepted = 0;
    let results: Vec<Value> = decode_errors
        .into_iter()
        .map(|error| {
            let outcome = match error {
                Some(error) => Err(error),
                None => admitted
                    .next()
                    .expect("one result per decoded transaction")
                    .map_err(|e| e.to_string()),
            };
            match outcome {
                Ok(hash) => {
                    accepted += 1;
                    json!({"hash": hex_digest(&hash)})
                }
                Err(error) => json!({"error": error}),
            }
        })
        .collect();
    Ok(Json(json!({"accepted": accepted, "results": results})))
}

pub fn receipt_to_json(r: &Receipt) -> Value {
    let (status, reason) = match &r.status {
        Status::Success => ("success", None),
        Status::Failed(why) => ("failed", Some(why.clone())),
    };
    json!({
        "hash": hex_digest(&r.tx_hash),
        "status": status,
        "reason": reason,
        "work_used": r.work_used,
        "events": r.events.iter().map(|e| json!({"module": e.module, "kind": e.kind, "attributes": e.attributes.iter().cloned().collect::<std::collections::BTreeMap<_,_>>()})).collect::<Vec<_>>(),
    })
}

async fn receipt_json<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    hash: &ingot_types::Digest,
) -> Result<Option<Value>, ApiError> {
    let ledger = s.shared.ledger.lock().await;
    let Some(loc) = ledger
        .locate_recent(&s.shared.recent, hash)
        .await
        .map_err(internal)?
    else {
        return Ok(None);
    };
    let record = ledger
        .record(loc.height)
        .await
        .map_err(internal)?
        .ok_or_else(|| internal("record missing"))?;
    let receipt = &record.receipts[loc.index as usize];
    let mut v = receipt_to_json(receipt);
    v["height"] = json!(loc.height);
    v["index"] = json!(loc.index);
    v["final"] = json!(true);
    Ok(Some(v))
}

async fn tx_status<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    Path(hash): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hash = parse_digest(&hash).map_err(bad)?;
    if let Some(v) = receipt_json(&s, &hash).await? {
        return Ok(Json(v));
    }
    if s.shared.mempool.lock().unwrap().contains(&hash) {
        return Ok(Json(
            json!({"hash": hex_digest(&hash), "status": "pending"}),
        ));
    }
    Err(not_found("unknown transaction"))
}

/// How much of a block to return: pollers that only track inclusion ask for
/// `?txs=hashes&raw=false` and skip megabytes of JSON per block.
#[derive(Deserialize, Default)]
struct BlockQuery {
    /// `full` (default): decoded calls; `hashes`: transaction hashes only.
    #[serde(default)]
    txs: Option<String>,
    /// Include the canonical block bytes as hex (default true).
    #[serde(default)]
    raw: Option<bool>,
}

fn block_json(b: &Block, finalization: Option<Vec<u8>>, view: &BlockQuery) -> Value {
    let h = &b.header;
    let transactions: Vec<Value> = if view.txs.as_deref() == Some("hashes") {
        b.tx_hashes().iter().map(|h| json!(hex_digest(h))).collect()
    } else {
        b.txs()
            .iter()
            .zip(b.tx_hashes())
            .map(|(t, hash)| {
                json!({
                    "hash": hex_digest(hash),
                    "module": t.tx.call.module,
                    "method": t.tx.call.method,
                    "args": args::to_json(&t.tx.call.module, &t.tx.call.method, &t.tx.call.args),
                    "sender": hex::encode(ingot_crypto::cert_hash(&t.tx.certificate)),
                    "valid_until": t.tx.valid_until,
                })
            })
            .collect()
    };
    let raw = view.raw.unwrap_or(true).then(|| hex::encode(b.encode()));
    json!({
        "hash": hex_digest(&b.hash()),
        "height": h.height,
        "parent": hex_digest(&h.parent),
        "timestamp_ms": h.timestamp_ms,
        "proposer": hex::encode(h.proposer),
        "tx_root": hex_digest(&h.tx_root),
        "exec_height": h.exec_height,
        "results": h.results.iter().enumerate().map(|(i, r)| json!({
            "height": h.exec_height + 1 + i as u64 - h.results.len() as u64,
            "state_root": hex_digest(&r.state_root),
            "receipts_root": hex_digest(&r.receipts_root),
        })).collect::<Vec<_>>(),
        "tx_count": b.txs().len(),
        "transactions": transactions,
        "raw": raw,
        "finalization": finalization.map(hex::encode),
    })
}

async fn load_block<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    id: &str,
    view: &BlockQuery,
) -> Result<Json<Value>, ApiError> {
    let block = if let Ok(height) = id.parse::<u64>() {
        s.marshal.get_block(Height::new(height)).await
    } else {
        let digest =
            parse_digest(id).map_err(|e| bad(format!("not a height or block hash: {e}")))?;
        s.marshal.get_block(&digest).await
    };
    let block = block.ok_or_else(|| not_found("no such finalized block"))?;
    let block = block.inner();
    let fin = s
        .marshal
        .get_finalization(Height::new(block.header.height))
        .await
        .map(|f| f.encode().to_vec());
    Ok(Json(block_json(block, fin, view)))
}

async fn latest_block<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    Query(view): Query<BlockQuery>,
) -> Result<Json<Value>, ApiError> {
    let h = s
        .shared
        .finalized
        .load(std::sync::atomic::Ordering::Relaxed);
    load_block(&s, &h.to_string(), &view).await
}

async fn block<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    Path(id): Path<String>,
    Query(view): Query<BlockQuery>,
) -> Result<Json<Value>, ApiError> {
    load_block(&s, &id, &view).await
}

#[derive(Deserialize)]
struct ProveQuery {
    #[serde(default)]
    prove: bool,
}

/// Decode a stored value for display when its key is known.
fn describe(key: &str, value: &[u8]) -> Value {
    use commonware_codec::Decode;
    if key.starts_with("notary/doc/") {
        if let Ok(r) =
            ingot_execution::modules::notary::NotaryRecord::decode_cfg(value.to_vec(), &())
        {
            return r.to_json();
        }
    }
    if key.starts_with("identity/member/") {
        if let Ok(r) =
            ingot_execution::modules::identity::MemberRecord::decode_cfg(value.to_vec(), &())
        {
            return json!({"org": r.org, "role": r.role, "common_name": r.common_name, "height": r.height});
        }
    }
    Value::Null
}

async fn read_state<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    Path(key): Path<String>,
    Query(q): Query<ProveQuery>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    if key.len() > ingot_types::limits::MAX_KEY_BYTES {
        return Err(bad("key too long"));
    }
    // A device's record and history are its owner's and the regulators' only.
    if let Some(owner) = device_owner_of_key(&s, &key).await? {
        let who = caller(&s, &method, &uri, &headers)?;
        if !crate::api_devices::sees_everything(&s, who.as_deref(), &owner) {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                "device records are visible to their owner and to regulators only; see /v1/devices for the public part".into(),
            ));
        }
    }
    let state = s.shared.state.read().await;
    let proof = state.prove(key.as_bytes()).await.map_err(internal)?;
    drop(state);
    let mut v = json!({
        "key": key,
        "value": proof.value.as_ref().map(hex::encode),
        "decoded": proof.value.as_ref().map(|v| describe(&key, v)),
        "height": proof.height,
    });
    if q.prove {
        v["state_root"] = json!(hex_digest(&proof.root));
        v["proof"] = json!(hex::encode(&proof.proof));
    }
    Ok(Json(v))
}

/// Who is asking, from the request's signature headers (anonymous if none);
/// a bad signature is a 401.
pub(crate) fn caller<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Result<Option<Arc<ingot_crypto::Identity>>, ApiError> {
    authenticate_caller(&s.shared.trust, method, uri.path(), headers, now_ms())
        .map_err(|e| ApiError(StatusCode::UNAUTHORIZED, e))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The owner organisation of the device a `device/rec/<id>` or
/// `device/hist/<id>/<seq>` key belongs to.
async fn device_owner_of_key<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    use commonware_codec::Decode;
    use ingot_execution::modules::device::{record_key, DeviceRecord};
    let id = if let Some(id) = key.strip_prefix("device/rec/") {
        id
    } else if let Some(rest) = key.strip_prefix("device/hist/") {
        rest.rsplit_once('/').map_or(rest, |(id, _)| id)
    } else {
        return Ok(None);
    };
    let raw = s
        .shared
        .state
        .read()
        .await
        .get(&record_key(id))
        .await
        .map_err(internal)?;
    Ok(Some(match raw {
        Some(raw) => {
            DeviceRecord::decode_cfg(raw, &())
                .map_err(internal)?
                .owner_org
        }
        // Nothing to protect yet; only a regulator may probe.
        None => String::new(),
    }))
}

#[derive(Deserialize)]
struct EventFilter {
    module: Option<String>,
    kind: Option<String>,
}

async fn events<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    Query(f): Query<EventFilter>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let who = caller(&s, &method, &uri, &headers)?;
    let rx = s.shared.events.subscribe();
    let state = s.clone();
    let stream = tokio_stream::wrappers::BroadcastStream::new(rx).filter_map(move |item| {
        let keep = match &item {
            Ok(PublishedEvent { event, .. }) => {
                f.module.as_ref().is_none_or(|m| m == &event.module)
                    && f.kind.as_ref().is_none_or(|k| k == &event.kind)
                    // Device, access and telemetry events reach only the
                    // device's owner and regulators (without an owner named:
                    // regulators only).
                    && (![
                        ingot_execution::modules::device::NAME,
                        ingot_execution::modules::access::NAME,
                        ingot_execution::modules::telemetry::NAME,
                    ]
                    .contains(&event.module.as_str())
                        || {
                            let owner = event
                                .attributes
                                .iter()
                                .find(|(k, _)| k == "owner")
                                .map_or("", |(_, o)| o.as_str());
                            crate::api_devices::sees_everything(&state, who.as_deref(), owner)
                        })
            }
            Err(_) => false,
        };
        let out = match item {
            Ok(e) if keep => Some(Ok(SseEvent::default().event(e.event.kind.clone()).data(
                json!({
                    "height": e.height,
                    "tx_hash": hex_digest(&e.tx_hash),
                    "module": e.event.module,
                    "kind": e.event.kind,
                    "attributes": e.event.attributes.iter().cloned().collect::<std::collections::BTreeMap<_,_>>(),
                })
                .to_string(),
            ))),
            _ => None,
        };
        async move { out }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

pub use ingot_light::{request_message, API_SIGNING_DOMAIN};

/// Verify a signed request's headers; `Ok(None)` if it carries none.
pub fn authenticate_caller(
    trust: &ingot_crypto::TrustStore,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    now_ms: u64,
) -> Result<Option<Arc<ingot_crypto::Identity>>, String> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(cert), Some(time), Some(sig)) = (
        get("x-ingot-cert"),
        get("x-ingot-time"),
        get("x-ingot-signature"),
    ) else {
        return Ok(None);
    };
    let time: u64 = time.parse().map_err(|_| "x-ingot-time is not a number")?;
    if time.abs_diff(now_ms) > MAX_REQUEST_SKEW_MS {
        return Err("request time too far from the node's clock".into());
    }
    let der = hex::decode(cert).map_err(|_| "x-ingot-cert is not hex")?;
    let sig = hex::decode(sig).map_err(|_| "x-ingot-signature is not hex")?;
    let id = trust.identify(&der).map_err(|e| e.to_string())?;
    id.public_key
        .verify(&request_message(method.as_str(), path, time), &sig)
        .map_err(|_| "bad request signature")?;
    Ok(Some(id))
}

async fn whoami<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    match authenticate_caller(&s.shared.trust, &method, uri.path(), &headers, now_ms()) {
        Ok(Some(id)) => Ok(Json(
            json!({"org": id.org, "role": id.role, "common_name": id.common_name, "certificate": hex::encode(id.cert_hash)}),
        )),
        Ok(None) => Ok(Json(json!({"anonymous": true}))),
        Err(e) => Err(ApiError(StatusCode::UNAUTHORIZED, e)),
    }
}

async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The OpenAPI 3.1 description of this API.
pub fn openapi_document() -> Value {
    let op = |summary: &str| json!({"summary": summary, "responses": {"200": {"description": "OK"}, "400": {"description": "client error, JSON {error}"}, "404": {"description": "not found, JSON {error}"}}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Ingot node API", "version": "1"},
        "paths": {
            "/health": {"get": op("liveness and executed height")},
            "/metrics": {"get": op("Prometheus metrics")},
            "/v1/status": {"get": op("chain id, heights, validators, organisations")},
            "/v1/tx": {"post": {
                "summary": "submit a signed transaction (hex of its canonical encoding); ?wait=true waits for its receipt",
                "parameters": [{"name": "wait", "in": "query", "schema": {"type": "boolean"}}],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["tx"], "properties": {"tx": {"type": "string"}}}}}},
                "responses": {"200": {"description": "hash and status"}, "400": {"description": "malformed or unauthenticated"}, "409": {"description": "duplicate"}, "413": {"description": "body too large"}, "503": {"description": "mempool full"}}
            }},
            "/v1/tx/{hash}": {"get": op("transaction status and receipt")},
            "/v1/txs": {"post": {
                "summary": "submit up to 1000 signed transactions; per-transaction hash or error, in order",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["txs"], "properties": {"txs": {"type": "array", "items": {"type": "string"}}}}}}},
                "responses": {"200": {"description": "accepted count and per-transaction results"}, "400": {"description": "malformed or too many"}, "413": {"description": "body too large"}}
            }},
            "/v1/blocks/latest": {"get": op("latest finalized block")},
            "/v1/blocks/{id}": {"get": op("finalized block by height or hash, with its finalization certificate; ?txs=hashes lists only transaction hashes, ?raw=false omits the canonical bytes")},
            "/v1/state/{*key}": {"get": op("state value; ?prove=true adds a proof against the state root")},
            "/v1/events": {"get": op("server-sent events, filtered by ?module= and ?kind=")},
            "/v1/whoami": {"get": op("the identity of a signed request")},
            "/v1/devices": {"get": op("devices whose name starts with ?prefix=, in name order, public part; ?after=<name>&limit= paginate (≤ 200)")},
            "/v1/devices/{id}": {"get": op("a registered device: full record for its owner organisation and regulators (signed request), id/name/model/status for everyone else")},
            "/v1/devices/by-name/{name}": {"get": op("resolve a hierarchical device name (same visibility as /v1/devices/{id})")},
            "/v1/devices/by-cert/{hash}": {"get": op("the device whose current certificate has this SHA-256 (reverse lookup)")},
            "/v1/devices/{id}/history": {"get": op("a device's lifecycle history, ?from=&limit= (owner and regulators only)")},
            "/v1/devices/{id}/access-log": {"get": op("every access request for a device with its decision, ?from=&limit= (owner and regulators only)")},
            "/v1/access/tokens/{id}/bundle": {"get": op("offline-verifiable proof bundle of a granted access token (accessor, owner, regulators)")},
            "/v1/workflow/validate": {"post": {
                "summary": "validate BPMN XML with its bindings without deploying: every problem with kind, element id and name, or the compiled elements",
                "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["xml"], "properties": {"xml": {"type": "string"}, "bindings": {"type": "object"}}}}}},
                "responses": {"200": {"description": "{valid, problems, definition}"}}
            }},
            "/v1/workflow/definitions": {"get": op("deployed workflow definitions: name, latest version, owner organisation, instances started")},
            "/v1/workflow/definitions/{name}": {"get": op("one version (?version=, default latest): elements, who may act, variables, bindings")},
            "/v1/workflow/definitions/{name}/xml": {"get": op("the BPMN XML as deployed, diagram included (application/xml)")},
            "/v1/workflow/definitions/{name}/instances": {"get": op("instances of a definition, ?state=running|completed|terminated|cancelled, ?after=<n>&limit= paginate (≤ 200)")},
            "/v1/workflow/instances/{id}": {"get": op("an instance: state, active elements, variables, timers, pending messages and its full history")},
        }
    })
}
