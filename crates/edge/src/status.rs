//! The gateway's operator endpoint: `GET /status` (counters) and the dead
//! letters — batches acknowledged to their devices that will not be anchored
//! (`GET /dead-letters`, `DELETE /dead-letters/{id}` once dealt with).
//! It listens on the operator's address (127.0.0.1 by default) and has no
//! authentication of its own: do not expose it beyond the operator's network.

use crate::{ingest::Stats, queue::Queue};
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    routing::{delete, get},
    Json, Router,
};
use serde_json::{json, Value};
use std::{collections::HashMap, sync::Arc};

/// Most dead letters one `GET /dead-letters` returns.
pub const MAX_PAGE: usize = 1_000;
const DEFAULT_PAGE: usize = 100;

#[derive(Clone)]
struct Ctx {
    queue: Arc<Queue>,
    stats: Arc<Stats>,
}

pub fn router(queue: Arc<Queue>, stats: Arc<Stats>) -> Router {
    Router::new()
        .route("/status", get(status))
        .route("/dead-letters", get(dead_letters))
        .route("/dead-letters/{id}", delete(forget))
        .with_state(Ctx { queue, stats })
}

fn unavailable(e: anyhow::Error) -> (StatusCode, Json<Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"code": "store_unavailable", "error": format!("{e:#}")})),
    )
}

fn bad_request(what: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": "bad_request", "error": what})),
    )
}

async fn status(State(c): State<Ctx>) -> Json<Value> {
    Json(c.stats.to_json(
        c.queue.len().unwrap_or(0),
        c.queue.dead_count().unwrap_or(0),
    ))
}

/// `?device=<id>&after=<id>&limit=<n ≤ 1000>&payload=true`: oldest first;
/// `next` is the `after` of the following page (absent on the last).
async fn dead_letters(
    State(c): State<Ctx>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
    let number = |name: &str| -> Result<Option<u64>, (StatusCode, Json<Value>)> {
        q.get(name)
            .map(|v| v.parse::<u64>())
            .transpose()
            .map_err(|_| bad_request(&format!("`{name}` must be a non-negative integer")))
    };
    let after = number("after")?;
    let limit = number("limit")?.map_or(DEFAULT_PAGE, |l| l as usize);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(&format!("`limit` must be 1 to {MAX_PAGE}")));
    }
    let with_payload = q.get("payload").is_some_and(|v| v == "true");
    let letters = c
        .queue
        .dead_letters(after, limit, q.get("device").map(String::as_str))
        .map_err(unavailable)?;
    let next = (letters.len() == limit).then(|| letters.last().map(|l| l.id));
    let items: Vec<Value> = letters
        .iter()
        .map(|l| {
            let head = l.head();
            let mut item = json!({
                "id": l.id,
                "device_id": head.as_ref().map(|h| h.device_id.clone()),
                "first_seq": head.as_ref().map(|h| h.first_seq),
                "readings": head.as_ref().map(|h| h.count),
                "reason": l.reason,
                "at_ms": l.at_ms,
                "bytes": l.raw.len(),
            });
            if with_payload {
                item["payload"] = hex::encode(&l.raw).into();
            }
            item
        })
        .collect();
    Ok(Json(json!({"dead_letters": items, "next": next.flatten()})))
}

async fn forget(
    State(c): State<Ctx>,
    Path(id): Path<String>,
) -> Result<StatusCode, (StatusCode, Json<Value>)> {
    let id: u64 = id
        .parse()
        .map_err(|_| bad_request("the id must be a non-negative integer"))?;
    match c.queue.forget_dead_letter(id).map_err(unavailable)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err((
            StatusCode::NOT_FOUND,
            Json(json!({"code": "not_found", "error": format!("no dead letter {id}")})),
        )),
    }
}
