//! Telemetry reads (white paper 三.4, supervision): a device's summary and
//! rules, its readings by time range, sequence and measurement (with offline
//! proofs on request), whole batches as archive records, and a live stream.
//!
//! Visible to the device's owner, to regulators, and to anyone an owner's
//! access policy grants [`READ_OPERATION`] (`telemetry.read`); everyone else
//! gets 403.

use crate::{
    rules::{rules_key, RuleSet},
    store::{self, StoredBatch, TelemetryStore},
    summary_key, DeviceSummary, TelemetryModule, READ_OPERATION,
};
use axum::{
    extract::{Path, Query, State},
    response::sse::{Event as SseEvent, KeepAlive, Sse},
    routing::get,
    Json, Router,
};
use commonware_codec::{Decode, Encode};
use futures::Stream;
use ingot_api::query::ReadingQuery;
use ingot_light::BatchArchive;
use ingot_module::derived::Derived;
use ingot_module_api::{
    bad, forbidden, internal, not_found,
    stream::{paced, Paced, Recheck},
    ApiError, Host, ModuleApi, Viewer,
};
use ingot_module_device::{DeviceRecord, MAX_ID_LEN};
use ingot_types::{telemetry::format_fixed, Digest};
use serde_json::{json, Value};
use std::{convert::Infallible, sync::Arc};
use tokio_stream::StreamExt as _;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(summary, readings, reading_proof, batch_archive, stream))]
struct TelemetryApi;

impl ModuleApi for TelemetryModule {
    fn derived_stores(
        &self,
        dir: Option<&std::path::Path>,
    ) -> Result<Vec<Arc<dyn Derived>>, String> {
        let store = ingot_module_api::open_store(dir, store::STORE, TelemetryStore::open)?;
        Ok(vec![Arc::new(store)])
    }

    fn member_routes(&self) -> Router<Host> {
        Router::new()
            .route("/v1/telemetry/devices/{id}", get(summary))
            .route("/v1/telemetry/devices/{id}/readings", get(readings))
            .route(
                "/v1/telemetry/devices/{id}/readings/{seq}/proof",
                get(reading_proof),
            )
            .route(
                "/v1/telemetry/devices/{id}/batches/{seq}/archive",
                get(batch_archive),
            )
            .route("/v1/telemetry/devices/{id}/stream", get(stream))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        TelemetryApi::openapi()
    }
}

/// This node's telemetry store (the module's derived store).
fn readings_store(s: &Host) -> Result<Arc<TelemetryStore>, ApiError> {
    ingot_module_api::store::<TelemetryStore>(s.as_ref(), store::STORE)
}

/// Most readings one page returns.
pub const MAX_READINGS_PAGE: usize = 5_000;
/// Most readings one page returns with proofs (each carries a receipt chain).
pub const MAX_PROVEN_PAGE: usize = 100;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// The device's record, if the caller may read its telemetry (the telemetry
/// module's rule for the device's summary: owner, regulators, grantees of
/// `telemetry.read`).
async fn readable(s: &Host, id: &str, viewer: &Viewer) -> Result<DeviceRecord, ApiError> {
    if id.len() > MAX_ID_LEN {
        return Err(bad("device id too long"));
    }
    let key = String::from_utf8_lossy(&summary_key(id)).into_owned();
    if !s.may_read_key(viewer, &key).await? {
        return Err(forbidden(format!(
            "telemetry of a device is visible to its owner, regulators and parties granted {READ_OPERATION}"
        )));
    }
    ingot_module_device::find_committed(s.state(), id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(format!("unknown device {id}")))
}

#[utoipa::path(
    get,
    path = "/v1/telemetry/devices/{id}",
    tag = "telemetry",
    summary = "a device's telemetry summary and rules (owner, regulators, telemetry.read grantees)",
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, description = "summary and rules", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn summary(
    State(s): State<Host>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    let record = readable(&s, &id, &viewer).await?;
    let summary = match s.get(&summary_key(&id)).await? {
        Some(raw) => DeviceSummary::decode_cfg(raw, &())
            .map_err(internal)?
            .to_json(),
        None => Value::Null,
    };
    let mut rules = Vec::new();
    for target in [
        format!("device:{id}"),
        format!("model:{}/{}", record.owner_org, record.model),
    ] {
        if let Some(raw) = s.get(&rules_key(&target)).await? {
            let set = RuleSet::decode_cfg(raw, &()).map_err(internal)?;
            rules.extend(set.rules.iter().map(|r| r.to_json()));
        }
    }
    Ok(Json(json!({
        "device_id": id,
        "owner": record.owner_org,
        "model": record.model,
        "trust": record.trust().as_str(),
        "attested_by": (!record.attested_by.is_empty()).then_some(&record.attested_by),
        "summary": summary,
        "rules": rules,
    })))
}

fn reading_json(
    stored: &StoredBatch,
    seq: u64,
    r: &ingot_types::telemetry::Reading,
    only: Option<&str>,
) -> Value {
    json!({
        "device_id": stored.batch.device_id,
        "seq": seq,
        "trust": stored.trust().as_str(),
        "attested_by": (!stored.attested_by.is_empty()).then_some(&stored.attested_by),
        "timestamp_ms": r.timestamp_ms,
        "measurements": r.measurements.iter()
            .filter(|m| only.is_none_or(|n| n == m.name))
            .map(|m| json!({"name": m.name, "value": format_fixed(m.value, m.scale), "unit": m.unit}))
            .collect::<Vec<_>>(),
    })
}

async fn archive_of(s: &Host, stored: &StoredBatch) -> Result<BatchArchive, ApiError> {
    let chain = s.receipt_chain(Digest::from(stored.tx_hash)).await?;
    Ok(BatchArchive {
        batch: hex::encode(stored.batch.encode()),
        commitment_index: stored.commitment_index,
        commitment_proof: hex::encode(&stored.commitment_proof),
        attested_by: stored.attested_by.clone(),
        chain,
    })
}

#[utoipa::path(
    get,
    path = "/v1/telemetry/devices/{id}/readings",
    tag = "telemetry",
    summary = "readings by time range, measurement and sequence; ?prove=true adds reading proofs",
    params(("id" = String, Path, description = "device id"), ingot_api::query::ReadingQuery),
    responses((status = 200, description = "a page of readings", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn readings(
    State(s): State<Host>,
    Path(id): Path<String>,
    Query(q): Query<ReadingQuery>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    readable(&s, &id, &viewer).await?;
    let cap = if q.prove {
        MAX_PROVEN_PAGE
    } else {
        MAX_READINGS_PAGE
    };
    let limit = q.limit.unwrap_or(cap).clamp(1, cap);
    let (from, to) = (q.from_ms.unwrap_or(0), q.to_ms.unwrap_or(u64::MAX));
    let after = q.after_seq.unwrap_or(0);
    let batches = readings_store(&s)?
        .batches_between(&id, from, to, after, limit)
        .map_err(internal)?;
    let mut out = Vec::new();
    let mut last_seq = None;
    'batches: for stored in &batches {
        let b = &stored.batch;
        let archive = match q.prove {
            true => Some(archive_of(&s, stored).await?),
            false => None,
        };
        for (i, r) in b.readings.iter().enumerate() {
            let seq = b.first_seq + i as u64;
            if seq <= after || r.timestamp_ms < from || r.timestamp_ms > to {
                continue;
            }
            if out.len() == limit {
                break 'batches;
            }
            last_seq = Some(seq);
            if let Some(m) = &q.measurement {
                if !r.measurements.iter().any(|x| &x.name == m) {
                    continue;
                }
            }
            let mut v = reading_json(stored, seq, r, q.measurement.as_deref());
            v["height"] = json!(stored.height);
            v["tx_hash"] = json!(hex::encode(stored.tx_hash));
            if let Some(a) = &archive {
                let proof = a.reading_proof(seq).map_err(internal)?;
                v["proof"] = serde_json::to_value(proof).map_err(internal)?;
            }
            out.push(v);
        }
    }
    Ok(Json(json!({
        "device_id": id,
        "readings": out,
        // Pass as after_seq for the next page; null when this was the last.
        "next_after_seq": if out.len() == limit { last_seq } else { None },
    })))
}

async fn stored_batch(s: &Host, id: &str, seq: u64) -> Result<StoredBatch, ApiError> {
    readings_store(s)?
        .batch_with(id, seq)
        .map_err(internal)?
        .ok_or_else(|| {
            not_found(format!(
                "reading {seq} of {id} is not in this node's telemetry store (never anchored, or past retention: see the archive)"
            ))
        })
}

#[utoipa::path(
    get,
    path = "/v1/telemetry/devices/{id}/readings/{seq}/proof",
    tag = "telemetry",
    summary = "the offline proof of one reading (ingot_light::ReadingProof)",
    params(("id" = String, Path, description = "device id"), ("seq" = String, Path, description = "reading sequence number")),
    responses((status = 200, description = "the proof", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn reading_proof(
    State(s): State<Host>,
    Path((id, seq)): Path<(String, u64)>,
    viewer: Viewer,
) -> Result<Json<ingot_light::ReadingProof>, ApiError> {
    readable(&s, &id, &viewer).await?;
    let stored = stored_batch(&s, &id, seq).await?;
    let archive = archive_of(&s, &stored).await?;
    Ok(Json(archive.reading_proof(seq).map_err(internal)?))
}

#[utoipa::path(
    get,
    path = "/v1/telemetry/devices/{id}/batches/{seq}/archive",
    tag = "telemetry",
    summary = "a whole batch as a self-verifying archive record",
    params(("id" = String, Path, description = "device id"), ("seq" = String, Path, description = "sequence number of a reading of the batch")),
    responses((status = 200, description = "the archive record", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn batch_archive(
    State(s): State<Host>,
    Path((id, seq)): Path<(String, u64)>,
    viewer: Viewer,
) -> Result<Json<BatchArchive>, ApiError> {
    readable(&s, &id, &viewer).await?;
    let stored = stored_batch(&s, &id, seq).await?;
    Ok(Json(archive_of(&s, &stored).await?))
}

/// Server-sent `readings` events: each batch of the device as it is executed.
#[utoipa::path(
    get,
    path = "/v1/telemetry/devices/{id}/stream",
    tag = "telemetry",
    summary = "the device's readings as server-sent events",
    params(("id" = String, Path, description = "device id")),
    responses((status = 200, description = "a reading stream", body = String, content_type = "text/event-stream"), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn stream(
    State(s): State<Host>,
    Path(id): Path<String>,
    viewer: Viewer,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    readable(&s, &id, &viewer).await?;
    let slot = s.stream_slot(&viewer)?;
    let rx = readings_store(&s)?.subscribe();
    let state = s.clone();
    let recheck = Arc::new(std::sync::Mutex::new(Recheck::default()));
    let stream = paced(tokio_stream::wrappers::BroadcastStream::new(rx))
        .then(move |input| {
            let (state, viewer, recheck, id) =
                (state.clone(), viewer.clone(), recheck.clone(), id.clone());
            // Held as long as the stream: its slot is released when it ends.
            let _slot = &slot;
            async move {
                // The reader is re-checked while the stream lives (at every
                // tick, and before an item once due): a caller revoked or
                // expired, or whose telemetry.read grant ended, stops
                // receiving.
                let (tick, item) = match input {
                    Paced::Tick => (true, None),
                    Paced::Item(item) => (false, Some(item)),
                };
                if tick || recheck.lock().unwrap().due() {
                    let valid = state.caller_still_valid(&viewer).await.unwrap_or(false);
                    if !valid || readable(&state, &id, &viewer).await.is_err() {
                        return None;
                    }
                }
                let Some(Ok(stored)) = item else {
                    return Some(None);
                };
                let b = &stored.batch;
                if b.device_id != id {
                    return Some(None);
                }
                let readings: Vec<Value> = b
                    .readings
                    .iter()
                    .enumerate()
                    .map(|(i, r)| reading_json(&stored, b.first_seq + i as u64, r, None))
                    .collect();
                Some(Some(Ok(SseEvent::default().event("readings").data(
                    json!({"height": stored.height, "device_id": b.device_id, "readings": readings})
                        .to_string(),
                ))))
            }
        })
        .take_while(|step| step.is_some())
        .filter_map(|step| step.flatten());
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// Retention: drop batches whose last reading is older than `keep_ms`,
/// writing each first (when `archive_dir` is set) as a [`BatchArchive`] JSON
/// line to `archive_dir/telemetry-<UTC day>.jsonl`, which still verifies
/// offline against the genesis validators. Returns how many were dropped.
pub async fn sweep(
    s: &Host,
    keep_ms: u64,
    archive_dir: Option<&std::path::Path>,
) -> Result<usize, String> {
    let io = |e: std::io::Error| e.to_string();
    let store = readings_store(s).map_err(|e| e.message)?;
    let cutoff = now_ms().saturating_sub(keep_ms);
    let mut dropped = 0;
    loop {
        let expired = store.expired(cutoff, 256).map_err(|e| e.to_string())?;
        if expired.is_empty() {
            return Ok(dropped);
        }
        if let Some(dir) = archive_dir {
            use std::io::Write;
            std::fs::create_dir_all(dir).map_err(io)?;
            let mut files: std::collections::BTreeMap<u64, Vec<u8>> = Default::default();
            for stored in &expired {
                let archive = archive_of(s, stored)
                    .await
                    .map_err(|e| format!("archiving: {}", e.message))?;
                let day = stored.batch.readings.last().map_or(0, |r| r.timestamp_ms) / 86_400_000;
                let line = files.entry(day).or_default();
                serde_json::to_writer(&mut *line, &archive).map_err(|e| e.to_string())?;
                line.push(b'\n');
            }
            for (day, lines) in files {
                let path = dir.join(format!("telemetry-{}.jsonl", day_name(day)));
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(io)?;
                f.write_all(&lines).map_err(io)?;
                f.sync_all().map_err(io)?;
            }
        }
        store.remove(&expired).map_err(|e| e.to_string())?;
        dropped += expired.len();
    }
}

/// `YYYYMMDD` (UTC) of a day number since the epoch.
fn day_name(day: u64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(day as i64 * 86_400)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        date.month() as u8,
        date.day()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn day_names_are_civil_dates() {
        assert_eq!(super::day_name(0), "19700101");
        assert_eq!(super::day_name(20_416), "20251124");
        assert_eq!(super::day_name(11_016), "20000229");
    }
}
