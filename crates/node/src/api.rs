//! HTTP API (axum, JSON). See `openapi.json` served at `/openapi.json`.
//!
//! Every error is JSON `{"code": <stable code>, "error": <message>}`:
//! handler errors ([`ApiError`]) and the framework's own refusals (bad path
//! or query, wrong method, oversized body, unknown route), rewritten by
//! [`json_errors`].
//!
//! Who may call what: [`crate::auth`] authenticates signed requests once per
//! request; routes are members-only unless registered in the public router
//! (`/health`, `/openapi.json`, `/metrics` when `public_metrics`,
//! `/v1/status`, `/v1/whoami`, submissions — a transaction authenticates
//! itself —, and what modules declare public). What a member may read of each
//! datum is decided by [`crate::read_model`].

use crate::{auth::Viewer, read_model};
use crate::{engine::MarshalMailbox, Shared};
use axum::{
    extract::{DefaultBodyLimit, Path, Query, Request, State},
    http::StatusCode,
    middleware::{self, Next},
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
use ingot_api::{
    core::{Health, NodeStatus, SubmitResult, SubmitTx, SubmitTxs, Submitted, WhoAmI},
    query::{BlockQuery, EventFilter, ProveQuery, WaitQuery},
    ErrorBody, ErrorResponses,
};
use ingot_execution::args;
use ingot_types::{hex_digest, parse_digest, Block, Receipt, SignedTransaction, Status};
use serde_json::{json, Value};
use std::{convert::Infallible, sync::Arc, time::Duration};

pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Body limit of batch submissions (`/v1/txs`).
pub const MAX_BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Longest a `wait=true` submission waits for execution.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub struct ApiState<E: Storage + Clock + Metrics + Spawner> {
    pub shared: Arc<Shared<E>>,
    pub marshal: MarshalMailbox,
    /// Renders Prometheus metrics of the runtime.
    pub metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// Serve `/metrics` to anonymous callers (a Prometheus scraper).
    pub public_metrics: bool,
    /// Nonces of signed requests seen recently (replay protection).
    pub nonces: crate::auth::NonceCache,
    /// Free space of the data directory; admission pauses when it is low.
    pub disk: Arc<crate::disk::DiskGuard>,
    /// Caps on open event streams (node-wide and per caller).
    pub streams: Arc<ingot_module_api::stream::StreamSlots>,
    /// Signed requests per second per caller (by certificate).
    pub callers: crate::rate_limit::RateLimiter<[u8; 32]>,
}

pub(crate) type St<E> = State<Arc<ApiState<E>>>;

pub use ingot_module_api::ApiError;
pub(crate) use ingot_module_api::{bad, forbidden, internal, not_found};

/// A JSON body the extractor refused (syntax, types, size, content type).
pub(crate) fn json_rejection(e: axum::extract::rejection::JsonRejection) -> ApiError {
    let code = match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "bad_json",
    };
    ApiError::new(e.status(), code, e.body_text())
}

/// The stable code of a framework refusal with this status.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "auth_required",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "client_error",
    }
}

/// Largest framework error text kept when rewriting it as JSON.
const MAX_ERROR_TEXT: usize = 4096;

/// Middleware: an error answer that is not JSON already (axum's extractor
/// rejections are plain text; 405 and some 413s have no body) becomes
/// `{code, error}` with the same status.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_string()
    } else {
        text
    };
    let mut out = ApiError::new(status, code_of(status), message).into_response();
    // Keep headers that matter to the client (e.g. `allow` on a 405).
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

pub fn router<E: Storage + Clock + Metrics + Spawner>(state: Arc<ApiState<E>>) -> Router {
    // Public: what an anonymous caller may use. Everything else is members-only.
    let mut public = Router::new()
        .route("/health", get(health::<E>))
        .route("/openapi.json", get(openapi::<E>))
        .route("/v1/status", get(status::<E>))
        .route("/v1/whoami", get(whoami))
        .route("/v1/modules", get(modules))
        .route("/v1/tx", post(submit::<E>))
        .route(
            "/v1/txs",
            post(submit_batch::<E>).layer(DefaultBodyLimit::max(MAX_BATCH_BODY_BYTES)),
        );
    let mut members = Router::new()
        .route("/v1/tx/{hash}", get(tx_status::<E>))
        .route("/v1/blocks/latest", get(latest_block::<E>))
        .route("/v1/blocks/{id}", get(block::<E>))
        .route("/v1/epochs", get(epochs::<E>))
        .route("/v1/state/{*key}", get(read_state::<E>))
        .route("/v1/events", get(events::<E>));
    // Routes modules contribute, with the node as their host.
    let host: ingot_module_api::Host = state.clone();
    for module in crate::module_routes::MODULE_APIS {
        public = public.merge(module.public_routes().with_state(host.clone()));
        members = members.merge(module.member_routes().with_state(host.clone()));
    }
    if state.public_metrics {
        public = public.route("/metrics", get(metrics::<E>));
    } else {
        members = members.route("/metrics", get(metrics::<E>));
    }
    let members = members.route_layer(middleware::from_fn(crate::auth::require_member));
    public
        .merge(members)
        .fallback(|| async { not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate::<E>,
        ))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

#[utoipa::path(
    get,
    path = "/health",
    tag = "node",
    summary = "liveness and executed height",
    responses((status = 200, description = "alive", body = Health), ErrorResponses),
    security((), ("signedRequest" = []))
)]
pub(crate) async fn health<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        executed_height: s.shared.executed_height(),
    })
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "node",
    summary = "Prometheus metrics (members only, or anyone when the node sets public_metrics: this node's document says which)",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn metrics<E: Storage + Clock + Metrics + Spawner>(State(s): St<E>) -> String {
    let sh = &s.shared;
    let now = ingot_crypto::unix_now();
    let certificates = crate::cert_watch::consortium_certificates(sh).await;
    let mut out = (s.metrics)();
    out.push_str(&format!(
        "# TYPE ingot_certificates_expiring gauge\ningot_certificates_expiring {}\n# TYPE ingot_certificate_seconds_to_first_expiry gauge\ningot_certificate_seconds_to_first_expiry {}\n",
        certificate_warnings(&certificates, now, sh.certificate_warning_days).len(),
        certificates.iter().map(|c| c.not_after - now).min().unwrap_or(i64::MAX),
    ));
    out.push_str(&format!(
        "# TYPE ingot_executed_height gauge\ningot_executed_height {}\n# TYPE ingot_finalized_height gauge\ningot_finalized_height {}\n# TYPE ingot_mempool_size gauge\ningot_mempool_size {}\n# TYPE ingot_replay_window_txs gauge\ningot_replay_window_txs {}\n# TYPE ingot_disk_free_bytes gauge\ningot_disk_free_bytes {}\n# TYPE ingot_admission_paused gauge\ningot_admission_paused {}\n# TYPE ingot_archive_damaged_heights gauge\ningot_archive_damaged_heights {}\n# TYPE ingot_archive_repaired_total counter\ningot_archive_repaired_total {}\n# TYPE ingot_archive_scrubbed_total counter\ningot_archive_scrubbed_total {}\n# TYPE ingot_archive_scrub_height gauge\ningot_archive_scrub_height {}\n",
        sh.executed_height(),
        sh.finalized.load(std::sync::atomic::Ordering::Relaxed),
        sh.mempool.lock().unwrap().len(),
        sh.recent.len(),
        s.disk.free_bytes(),
        u8::from(s.disk.is_low()),
        sh.repairs.damaged_count(),
        sh.repairs.repaired_count(),
        sh.repairs.scrub_progress().0,
        sh.repairs.scrub_progress().1,
    ));
    out
}

/// The modules this chain runs, as they declare themselves: calls a device
/// may make, key prefixes with their read rules, failure codes with their
/// message templates, event kinds with their attributes. What a client, a
/// device SDK or the console needs to interpret receipts and events.
#[utoipa::path(
    get,
    path = "/v1/modules",
    tag = "node",
    summary = "the modules this chain runs: key prefixes with read rules, failure codes, event kinds with attributes, device-callable methods",
    responses((status = 200, description = "the module catalogue", body = serde_json::Value), ErrorResponses),
    security((), ("signedRequest" = []))
)]
pub(crate) async fn modules() -> Json<Value> {
    let modules: Vec<Value> = ingot_execution::registry::MODULES
        .iter()
        .map(|m| {
            let info = m.info();
            json!({
                "name": info.name,
                "nestable": info.nestable,
                "device_methods": info.device_methods,
                "keys": info.keys.iter().map(|k| json!({"prefix": k.prefix, "rule": format!("{:?}", k.rule)})).collect::<Vec<_>>(),
                "failures": info.failures.iter().map(|f| json!({"code": f.code, "name": format!("{}.{}", f.module, f.name), "template": f.template})).collect::<Vec<_>>(),
                "events": info.events.iter().map(|e| json!({"kind": e.kind, "attributes": e.attributes, "failure_detail": e.failure_detail, "doc": e.doc})).collect::<Vec<_>>(),
                "methods": info.methods.iter().map(|m| json!({
                    "name": m.name,
                    "who": m.who,
                    "doc": m.doc,
                    // Examples are checked to parse (module tests).
                    "example_args": serde_json::from_str::<Value>(m.example_args).unwrap_or(Value::Null),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    // The executor's own checks (replay, expiry, certificates, work) fail
    // transactions under module `tx`.
    let tx: Vec<Value> = ingot_execution::failure::tx::ALL
        .iter()
        .map(|f| json!({"code": f.code, "name": format!("tx.{}", f.name), "template": f.template}))
        .collect();
    Json(json!({ "modules": modules, "tx_failures": tx }))
}

/// The validators voting in the node's current epoch (as votes changed the
/// set, not as genesis formed it): a genesis validator's address from
/// genesis, a voted one's from its decision.
fn epoch_validators<E: Storage + Clock + Metrics + Spawner>(
    sh: &Shared<E>,
) -> Vec<ingot_api::core::Validator> {
    let consortium = sh.trust.current();
    let registry = consortium.validator_registry();
    let epoch = sh.epoch.load(std::sync::atomic::Ordering::Relaxed);
    consortium
        .validator_set_for(epoch)
        .iter()
        .filter_map(|key| {
            let seat = registry.get(key)?;
            let public_key = hex::encode(key);
            let address = match sh
                .genesis
                .validators
                .iter()
                .find(|v| v.public_key == public_key)
            {
                Some(v) if seat.p2p_address.is_empty() => v.p2p_address.clone(),
                _ => seat.p2p_address.clone(),
            };
            Some(ingot_api::core::Validator {
                name: seat.name.clone(),
                org: seat.org.clone(),
                public_key,
                address,
            })
        })
        .collect()
}

#[utoipa::path(
    get,
    path = "/v1/status",
    tag = "node",
    summary = "chain id, heights, validators, organisations",
    responses((status = 200, description = "status", body = NodeStatus), ErrorResponses),
    security((), ("signedRequest" = []))
)]
pub(crate) async fn status<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
) -> Json<NodeStatus> {
    let sh = &s.shared;
    let mempool = sh.mempool.lock().unwrap().len() as u64;
    Json(NodeStatus {
        chain_id: hex_digest(&sh.chain_id),
        chain_name: sh.genesis.chain_name.clone(),
        public_key: sh.public_key.clone(),
        executed_height: sh.executed_height(),
        finalized_height: sh.finalized.load(std::sync::atomic::Ordering::Relaxed),
        epoch: sh.epoch.load(std::sync::atomic::Ordering::Relaxed),
        epoch_length: sh.genesis.epoch_length,
        mempool,
        role: if sh.is_validator() {
            "validator"
        } else {
            "observer"
        }
        .into(),
        observers: sh
            .trust
            .current()
            .observers()
            .iter()
            .map(|(key, o)| ingot_api::core::Observer {
                name: o.name.clone(),
                org: o.org.clone(),
                public_key: hex::encode(key),
            })
            .collect(),
        validators: epoch_validators(sh),
        // As governance left them, not as genesis formed them.
        organisations: sh
            .trust
            .current()
            .orgs()
            .iter()
            .map(|(name, o)| ingot_api::core::Organisation {
                name: name.clone(),
                kind: match o.kind {
                    ingot_types::OrgKind::Member => "member",
                    ingot_types::OrgKind::Regulator => "regulator",
                }
                .into(),
            })
            .collect(),
        certificate_warnings: certificate_warnings(
            &crate::cert_watch::consortium_certificates(sh).await,
            ingot_crypto::unix_now(),
            sh.certificate_warning_days,
        ),
    })
}

/// Consortium certificates within `days` of their end (the wall clock: a
/// warning for operators, not chain logic).
fn certificate_warnings(
    certificates: &[ingot_consortium::CertSummary],
    now: i64,
    days: i64,
) -> Vec<ingot_api::core::CertificateWarning> {
    ingot_consortium::expiring_within(certificates, now, days)
        .into_iter()
        .map(|c| ingot_api::core::CertificateWarning {
            certificate: c.subject.clone(),
            org: c.org.clone(),
            not_after: c.not_after,
            expired: c.not_after < now,
        })
        .collect()
}

#[utoipa::path(
    post,
    path = "/v1/tx",
    tag = "chain",
    summary = "submit a signed transaction (hex of its canonical encoding); ?wait=true waits for its receipt",
    params(ingot_api::query::WaitQuery),
    request_body = SubmitTx,
    responses((status = 200, description = "hash and `pending`, or (waiting) the receipt as the sender sees it", body = serde_json::Value), (status = 409, description = "already in the mempool", body = ErrorBody), ErrorResponses),
    security((), ("signedRequest" = []))
)]
pub(crate) async fn submit<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    Query(q): Query<WaitQuery>,
    body: Result<Json<SubmitTx>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(json_rejection)?;
    admission_open(&s)?;
    let raw = hex::decode(body.tx.trim()).map_err(|e| bad(format!("`tx` is not hex: {e}")))?;
    let tx = SignedTransaction::decode_untrusted(&raw)
        .map_err(|e| bad(format!("malformed transaction: {e}")))?;
    // The submitter holds the signed transaction, which only its sender can
    // make: a waiting submitter sees the receipt as the sender would.
    let sender = s.shared.trust.current().identify(&tx.tx.certificate).ok();
    let hash = s.shared.admit(tx).await.map_err(submit_error)?;
    if !q.wait {
        return Ok(Json(
            json!({"hash": hex_digest(&hash), "status": "pending"}),
        ));
    }
    let deadline = std::time::Instant::now() + MAX_WAIT;
    loop {
        let viewer = Viewer(sender.clone().map(|identity| {
            Arc::new(crate::auth::Caller {
                reader: crate::auth::reader_of(&s.shared.trust.current(), &identity),
                identity,
            })
        }));
        if let Some(v) = receipt_json(&s, &viewer, &hash).await? {
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

/// New transactions are admitted unless the data directory's disk is low
/// (503 `disk_low`: the node goes on following the chain).
fn admission_open<E: Storage + Clock + Metrics + Spawner>(s: &ApiState<E>) -> Result<(), ApiError> {
    observer_admitted(&s.shared)?;
    if !s.disk.is_low() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "disk_low",
        format!(
            "the node's disk has {} MiB free, below its {} MiB minimum: new transactions are refused until space returns",
            s.disk.free_bytes() >> 20,
            s.disk.min_free_bytes() >> 20
        ),
    ))
}

/// An observer node forwards transactions to the validators only while the
/// consortium admits it (as far as it has followed the chain): otherwise no
/// validator accepts its connection and a transaction it took would wait
/// forever (503 `observer_not_admitted`).
fn observer_admitted<E: Storage + Clock + Metrics + Spawner>(
    shared: &crate::Shared<E>,
) -> Result<(), ApiError> {
    if shared.is_validator() || shared.is_admitted_observer() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "observer_not_admitted",
        format!(
            "this is an observer node the consortium does not admit (as of height {}, the last it executed), so no validator accepts its connection: submit to a validator, or have the consortium admit this node's key {} (governance add_observer) from the host it connects from",
            shared.executed_height(),
            shared.public_key
        ),
    ))
}

/// A refused submission with its stable code.
fn submit_error(e: crate::shared::SubmitError) -> ApiError {
    use crate::{mempool::MempoolError, shared::SubmitError};
    let (status, code) = match &e {
        SubmitError::Mempool(MempoolError::Full) => {
            (StatusCode::SERVICE_UNAVAILABLE, "mempool_full")
        }
        SubmitError::Mempool(MempoolError::SenderLimit) => {
            (StatusCode::SERVICE_UNAVAILABLE, "sender_limit")
        }
        SubmitError::Mempool(MempoolError::Duplicate) => (StatusCode::CONFLICT, "duplicate"),
        SubmitError::State(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        other => (StatusCode::BAD_REQUEST, other.code()),
    };
    ApiError::new(status, code, e.to_string())
}

/// Most transactions in one batch submission.
pub const MAX_BATCH_TXS: usize = 1_000;

/// Submit many transactions at once (gateways, bulk loaders). Each one is
/// admitted or refused on its own; the answer lists a hash or an error per
/// transaction, in order.
#[utoipa::path(
    post,
    path = "/v1/txs",
    tag = "chain",
    summary = "submit up to 1,000 signed transactions; a hash or an error per transaction, in order",
    request_body = SubmitTxs,
    responses((status = 200, description = "per-transaction results", body = Submitted), ErrorResponses),
    security((), ("signedRequest" = []))
)]
pub(crate) async fn submit_batch<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    body: Result<Json<SubmitTxs>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Submitted>, ApiError> {
    let Json(body) = body.map_err(json_rejection)?;
    admission_open(&s)?;
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
    let results: Vec<SubmitResult> = decode_errors
        .into_iter()
        .map(|error| {
            let outcome = match error {
                Some(error) => Err(("malformed", error)),
                None => admitted
                    .next()
                    .expect("one result per decoded transaction")
                    .map_err(|e| {
                        let code = submit_error_code(&e);
                        (code, e.to_string())
                    }),
            };
            match outcome {
                Ok(hash) => {
                    accepted += 1;
                    SubmitResult {
                        hash: Some(hex_digest(&hash)),
                        ..SubmitResult::default()
                    }
                }
                Err((code, error)) => SubmitResult {
                    code: Some(code.to_string()),
                    error: Some(error),
                    ..SubmitResult::default()
                },
            }
        })
        .collect();
    Ok(Json(Submitted { accepted, results }))
}

fn submit_error_code(e: &crate::shared::SubmitError) -> &'static str {
    use crate::{mempool::MempoolError, shared::SubmitError};
    match e {
        SubmitError::Mempool(MempoolError::Full) => "mempool_full",
        SubmitError::Mempool(MempoolError::SenderLimit) => "sender_limit",
        SubmitError::Mempool(MempoolError::Duplicate) => "duplicate",
        SubmitError::State(_) => "internal",
        other => other.code(),
    }
}

/// A receipt as JSON. A failure is shown as recorded — `failure`: module,
/// numeric code, stable name and detail — and as `reason`, the message
/// rendered from them here, outside consensus.
pub fn receipt_to_json(r: &Receipt) -> Value {
    use ingot_execution::failure;
    let (status, reason, recorded) = match &r.status {
        Status::Success => ("success", None, None),
        Status::Failed(f) => (
            "failed",
            Some(failure::render(f)),
            Some(json!({
                "module": f.module,
                "code": f.code,
                "name": failure::name(f),
                "detail": f.detail.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            })),
        ),
    };
    json!({
        "hash": hex_digest(&r.tx_hash),
        "status": status,
        "reason": reason,
        "failure": recorded,
        "work_used": r.work_used,
        "events": r.events.iter().map(|e| json!({"module": e.module, "kind": e.kind, "attributes": e.attributes.iter().cloned().collect::<std::collections::BTreeMap<_,_>>()})).collect::<Vec<_>>(),
    })
}

/// The receipt of `hash` as `viewer` may see it: in full for the audience
/// of its call, otherwise what any member may know (hash, sender
/// organisation, module, method, status, position).
async fn receipt_json<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    viewer: &Viewer,
    hash: &ingot_types::Digest,
) -> Result<Option<Value>, ApiError> {
    let (loc, receipt) = {
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
        (loc, record.receipts[loc.index as usize].clone())
    };
    let block = s
        .marshal
        .get_block(Height::new(loc.height))
        .await
        .ok_or_else(|| missing_block(s, loc.height))?;
    let mut v = match block.inner().txs().get(loc.index as usize) {
        Some(tx) => {
            let (full, summary) = read_model::tx_readable(s, viewer, tx, &receipt.events).await?;
            // The sending organisation learns why its own transaction
            // failed — the failure's stable name, never its detail, which
            // may quote what it touched.
            let own = viewer
                .identity()
                .is_some_and(|id| id.org == summary.sender_org);
            let mut v = if full {
                receipt_to_json(&receipt)
            } else {
                summary_receipt_json(&receipt, own)
            };
            v["sender_org"] = json!(summary.sender_org);
            v["module"] = json!(summary.module);
            v["method"] = json!(summary.method);
            v["visibility"] = json!(if full { "full" } else { "summary" });
            v
        }
        // The block's trailing receipt (end-of-block events): each event to
        // its own audience.
        None => {
            let mut shown = Vec::new();
            for e in &receipt.events {
                if read_model::event_readable(s, viewer, e).await? {
                    shown.push(e.clone());
                }
            }
            let full = shown.len() == receipt.events.len();
            let mut v = receipt_to_json(&Receipt {
                events: shown,
                ..receipt
            });
            v["visibility"] = json!(if full { "full" } else { "partial" });
            v
        }
    };
    v["height"] = json!(loc.height);
    v["index"] = json!(loc.index);
    v["final"] = json!(true);
    Ok(Some(v))
}

/// A receipt without content: status only (the failure reason may quote
/// arguments, so it is content too); for the sending organisation also the
/// failure's module, code and stable name.
fn summary_receipt_json(r: &Receipt, sender: bool) -> Value {
    let (status, failure) = match &r.status {
        Status::Success => ("success", Value::Null),
        Status::Failed(f) if sender => (
            "failed",
            json!({
                "module": f.module,
                "code": f.code,
                "name": ingot_execution::failure::name(f),
            }),
        ),
        Status::Failed(_) => ("failed", Value::Null),
    };
    json!({"hash": hex_digest(&r.tx_hash), "status": status, "failure": failure})
}

#[utoipa::path(
    get,
    path = "/v1/tx/{hash}",
    tag = "chain",
    summary = "transaction status and receipt (content for the call's audience, a summary for other members)",
    params(("hash" = String, Path, description = "transaction hash (hex)")),
    responses((status = 200, description = "status and receipt", body = serde_json::Value), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn tx_status<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    viewer: Viewer,
    Path(hash): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hash = parse_digest(&hash).map_err(bad)?;
    if let Some(v) = receipt_json(&s, &viewer, &hash).await? {
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
/// A block as `viewer` may see it: header fields and the canonical header
/// bytes (enough to check its finalization certificate and the roots it
/// anchors) for every member; each transaction in full for its call's
/// audience, otherwise its summary (hash, sender organisation, module,
/// method); the canonical block bytes only when every transaction is shown
/// in full.
async fn block_json<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    viewer: &Viewer,
    b: &Block,
    finalization: Option<Vec<u8>>,
    view: &BlockQuery,
) -> Result<Value, ApiError> {
    let h = &b.header;
    let hashes_only = view.txs.as_deref() == Some("hashes");
    let mut all_full = true;
    let transactions: Vec<Value> = if hashes_only {
        all_full = b.txs().is_empty();
        b.tx_hashes().iter().map(|h| json!(hex_digest(h))).collect()
    } else {
        // Events decide some audiences (a device's owner); they are known
        // once the block is executed.
        let record = if h.height <= s.shared.executed_height() {
            s.shared
                .ledger
                .lock()
                .await
                .record(h.height)
                .await
                .map_err(internal)?
        } else {
            None
        };
        let mut out = Vec::with_capacity(b.txs().len());
        for (i, (t, hash)) in b.txs().iter().zip(b.tx_hashes()).enumerate() {
            let events = record
                .as_ref()
                .and_then(|r| r.receipts.get(i))
                .map_or(&[][..], |r| &r.events[..]);
            let (full, summary) = read_model::tx_readable(s, viewer, t, events).await?;
            let mut v = json!({
                "hash": hex_digest(hash),
                "module": summary.module,
                "method": summary.method,
                "sender_org": summary.sender_org,
                "visibility": if full { "full" } else { "summary" },
            });
            if full {
                v["args"] = args::to_json(&t.tx.call.module, &t.tx.call.method, &t.tx.call.args);
                v["sender"] = json!(hex::encode(ingot_crypto::cert_hash(&t.tx.certificate)));
                v["valid_until"] = json!(t.tx.valid_until);
            }
            all_full &= full;
            out.push(v);
        }
        out
    };
    let raw = (view.raw.unwrap_or(true) && all_full).then(|| hex::encode(b.encode()));
    Ok(json!({
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
        "header": hex::encode(h.encode()),
        "raw": raw,
        "finalization": finalization.map(hex::encode),
    }))
}

/// Why a finalized block of `height` cannot be served: not finalized (404),
/// or its stored copy is damaged and being refetched from peers (503
/// `block_damaged`, retry later).
fn missing_block<E: Storage + Clock + Metrics + Spawner>(s: &ApiState<E>, height: u64) -> ApiError {
    if s.shared.repairs.is_damaged(height) {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "block_damaged",
            format!(
                "this node's stored copy of block {height} is damaged; a verified copy is being fetched from its peers: retry shortly, or ask another node"
            ),
        );
    }
    not_found("no such finalized block")
}

async fn load_block<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    viewer: &Viewer,
    id: &str,
    view: &BlockQuery,
) -> Result<Json<Value>, ApiError> {
    let block = if let Ok(height) = id.parse::<u64>() {
        s.marshal
            .get_block(Height::new(height))
            .await
            .ok_or_else(|| missing_block(s, height))?
    } else {
        let digest =
            parse_digest(id).map_err(|e| bad(format!("not a height or block hash: {e}")))?;
        s.marshal
            .get_block(&digest)
            .await
            .ok_or_else(|| not_found("no such finalized block"))?
    };
    let block = block.inner();
    let fin = s
        .marshal
        .get_finalization(Height::new(block.header.height))
        .await
        .map(|f| f.encode().to_vec());
    Ok(Json(block_json(s, viewer, block, fin, view).await?))
}

#[utoipa::path(
    get,
    path = "/v1/blocks/latest",
    tag = "chain",
    summary = "latest finalized block",
    params(ingot_api::query::BlockQuery),
    responses((status = 200, description = "block, header and finalization certificate", body = serde_json::Value), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn latest_block<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    viewer: Viewer,
    Query(view): Query<BlockQuery>,
) -> Result<Json<Value>, ApiError> {
    let h = s
        .shared
        .finalized
        .load(std::sync::atomic::Ordering::Relaxed);
    load_block(&s, &viewer, &h.to_string(), &view).await
}

#[utoipa::path(
    get,
    path = "/v1/blocks/{id}",
    tag = "chain",
    summary = "finalized block by height or hash, with its finalization certificate; transactions the caller may not read are summaries",
    params(("id" = String, Path, description = "height or block hash (hex)"), ingot_api::query::BlockQuery),
    responses((status = 200, description = "block, header and finalization certificate", body = serde_json::Value), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn block<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(view): Query<BlockQuery>,
) -> Result<Json<Value>, ApiError> {
    load_block(&s, &viewer, &id, &view).await
}

/// Most epoch boundaries one `GET /v1/epochs` answer lists (`next` pages on).
pub const MAX_EPOCHS_PER_PAGE: u64 = 256;

#[utoipa::path(
    get,
    path = "/v1/epochs",
    tag = "chain",
    summary = "epoch boundaries from `from` on: the certified last block of each epoch, whose header names the next epoch's validators (what a light client follows from genesis)",
    params(ingot_api::query::EpochsQuery),
    responses((status = 200, description = "epoch length, current epoch and boundaries (header and finalization certificate, hex)", body = serde_json::Value), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn epochs<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    _viewer: Viewer,
    Query(q): Query<ingot_api::query::EpochsQuery>,
) -> Result<Json<Value>, ApiError> {
    let length = s.shared.genesis.epoch_length();
    let current = s.shared.epoch.load(std::sync::atomic::Ordering::Relaxed);
    let from = q.from.unwrap_or(1).max(1);
    let last = current.min(from.saturating_add(MAX_EPOCHS_PER_PAGE - 1));
    let mut boundaries = Vec::new();
    for epoch in from..=last {
        let height = epoch.saturating_mul(length) - 1;
        let block = s
            .marshal
            .get_block(Height::new(height))
            .await
            .ok_or_else(|| missing_block(&s, height))?;
        let Some(fin) = s.marshal.get_finalization(Height::new(height)).await else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "certificate_unavailable",
                format!("this node holds no finalization certificate for boundary block {height}; ask another node"),
            ));
        };
        boundaries.push(ingot_light::Boundary {
            epoch,
            height,
            header: hex::encode(block.inner().header.encode()),
            finalization: hex::encode(fin.encode()),
        });
    }
    Ok(Json(json!({
        "epoch_length": (length != u64::MAX).then_some(length),
        "current_epoch": current,
        "boundaries": boundaries,
        "next": (last < current).then_some(last + 1),
    })))
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

#[utoipa::path(
    get,
    path = "/v1/state/{key}",
    tag = "chain",
    summary = "a state value under its module's read rule; ?prove=true adds a proof against a finalized state root; the key may contain `/`",
    params(("key" = String, Path, description = "state key, e.g. notary/doc/<hash>"), ingot_api::query::ProveQuery),
    responses((status = 200, description = "value (and proof)", body = serde_json::Value), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn read_state<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<ProveQuery>,
) -> Result<Json<Value>, ApiError> {
    if key.len() > ingot_types::limits::MAX_KEY_BYTES {
        return Err(bad("key too long"));
    }
    // Every key passes through its owning module's rule; keys of no module
    // are for regulators only. A value and a proof of its absence are the
    // same datum.
    if !read_model::may_read_key(&s, &viewer, &key).await? {
        return Err(forbidden(format!(
            "`{key}` is not readable by this caller (see ARCHITECTURE.md, \"Who reads what\")"
        )));
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

#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "chain",
    summary = "server-sent events the caller may read, filtered by ?module= and ?kind=",
    params(ingot_api::query::EventFilter),
    responses((status = 200, description = "an event stream", body = String, content_type = "text/event-stream"), ErrorResponses),
    security(("signedRequest" = []))
)]
pub(crate) async fn events<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
    viewer: Viewer,
    Query(f): Query<EventFilter>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let slot = s.streams.claim(&viewer)?;
    let rx = s.shared.events.subscribe();
    let state = s.clone();
    let recheck = Arc::new(std::sync::Mutex::new(read_model::Recheck::default()));
    let stream = read_model::paced(tokio_stream::wrappers::BroadcastStream::new(rx))
        .then(move |input| {
            let (state, viewer, recheck) = (state.clone(), viewer.clone(), recheck.clone());
            let f = (f.module.clone(), f.kind.clone());
            // Held as long as the stream: its slot is released when it ends.
            let _slot = &slot;
            async move {
                // A subscriber revoked or expired since it connected stops
                // here, at the next tick if nothing arrives.
                let item = match input {
                    read_model::Paced::Tick => {
                        let valid = read_model::caller_still_valid(&state, &viewer)
                            .await
                            .unwrap_or(false);
                        return valid.then_some(None);
                    }
                    read_model::Paced::Item(item) => item,
                };
                let due = recheck.lock().unwrap().due();
                if due && !read_model::caller_still_valid(&state, &viewer).await.unwrap_or(false) {
                    return None;
                }
                let e = match item {
                    Ok(e) => e,
                    Err(_) => return Some(None),
                };
                let wanted = f.0.as_ref().is_none_or(|m| m == &e.event.module)
                    && f.1.as_ref().is_none_or(|k| k == &e.event.kind);
                if !wanted
                    || !read_model::event_readable(&state, &viewer, &e.event)
                        .await
                        .unwrap_or(false)
                {
                    return Some(None);
                }
                Some(Some(Ok(SseEvent::default().event(e.event.kind.clone()).data(
                    json!({
                        "height": e.height,
                        "tx_hash": hex_digest(&e.tx_hash),
                        "module": e.event.module,
                        "kind": e.event.kind,
                        "attributes": e.event.attributes.iter().cloned().collect::<std::collections::BTreeMap<_,_>>(),
                    })
                    .to_string(),
                ))))
            }
        })
        .take_while(|step| futures::future::ready(step.is_some()))
        .filter_map(|step| futures::future::ready(step.flatten()));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[utoipa::path(
    get,
    path = "/v1/whoami",
    tag = "node",
    summary = "the identity the node takes the caller for",
    responses((status = 200, description = "identity, or anonymous", body = WhoAmI), ErrorResponses),
    security((), ("signedRequest" = []))
)]
pub(crate) async fn whoami(viewer: Viewer) -> Json<WhoAmI> {
    Json(match viewer.0 {
        Some(c) => WhoAmI {
            org: Some(c.identity.org.clone()),
            role: Some(c.identity.role.clone()),
            common_name: Some(c.identity.common_name.clone()),
            certificate: Some(hex::encode(c.identity.cert_hash)),
            member_id: Some(hex::encode(c.identity.id)),
            regulator: Some(c.reader.regulator),
            device: Some(c.reader.device.clone()),
            ..WhoAmI::default()
        },
        None => WhoAmI {
            anonymous: Some(true),
            ..WhoAmI::default()
        },
    })
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "node",
    summary = "this document",
    responses((status = 200, description = "OpenAPI 3.1", body = serde_json::Value), ErrorResponses),
    security((), ("signedRequest" = []))
)]
pub(crate) async fn openapi<E: Storage + Clock + Metrics + Spawner>(
    State(s): St<E>,
) -> Json<Value> {
    Json(crate::openapi::document(s.public_metrics))
}
