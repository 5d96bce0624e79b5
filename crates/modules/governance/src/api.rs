//! Governance reads for members: the consortium as it stands, proposals with
//! their votes, and the inbox — what awaits the caller's organisation's vote.

use crate::{
    agenda_committed, proposal_committed, records::Status, vote_committed, Action,
    GovernanceModule, MAX_AGENDA,
};
use axum::{
    extract::{Path, Query, State},
    routing::get,
    Json, Router,
};
use commonware_codec::Decode;
use ingot_module::Consortium;
use ingot_module_api::{bad, forbidden, internal, not_found, ApiError, Host, ModuleApi, Viewer};
use serde_json::{json, Value};
use utoipa::OpenApi;

/// Most proposals per page.
pub const MAX_PROPOSAL_PAGE: u64 = 200;

#[derive(OpenApi)]
#[openapi(paths(consortium, proposals, proposal, inbox))]
struct GovernanceApi;

impl ModuleApi for GovernanceModule {
    fn member_routes(&self) -> Router<Host> {
        Router::new()
            .route("/v1/governance", get(consortium))
            .route("/v1/governance/proposals", get(proposals))
            .route("/v1/governance/proposals/{id}", get(proposal))
            .route("/v1/governance/inbox", get(inbox))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        GovernanceApi::openapi()
    }
}

fn member(viewer: &Viewer) -> Result<&ingot_crypto::Identity, ApiError> {
    match viewer.identity() {
        Some(id) if id.device.is_none() => Ok(id),
        _ => Err(forbidden("governance is for members of the consortium")),
    }
}

fn consortium_json(c: &Consortium) -> Value {
    let orgs: Vec<Value> = c
        .entries()
        .iter()
        .map(|e| {
            let cas: Vec<Value> = e
                .cas
                .iter()
                .map(|t| {
                    json!({
                        "certificate_hash": hex::encode(ingot_crypto::cert_hash(&t.ca.der)),
                        "subject_cn": t.ca.subject_cn,
                        "not_after": t.ca.not_after,
                        "trusted_until_height": t.until,
                    })
                })
                .collect();
            json!({
                "name": e.name,
                "kind": crate::records::kind_name(e.info.kind),
                "weight": e.info.weight,
                "operates_validator": c.operates_validator(&e.name),
                "operates_observer": c.operates_observer(&e.name),
                "cas": cas,
            })
        })
        .collect();
    let r = c.rules();
    let p = c.params();
    json!({
        "params": {
            "max_block_txs": p.max_block_txs,
            "idle_heartbeat_ms": p.idle_heartbeat_ms,
            "max_work_per_tx": p.max_work_per_tx,
        },
        "organisations": orgs,
        "observers": c.observers().iter().map(|(key, o)| json!({
            "name": o.name,
            "org": o.org,
            "public_key": hex::encode(key),
            "p2p_address": o.p2p_address,
        })).collect::<Vec<_>>(),
        // Every validator ever decided, with the epochs it votes in: from
        // the epoch its addition takes effect to the one before its removal
        // does (genesis's from epoch 0).
        "epoch_length": (c.epoch_length() != u64::MAX).then_some(c.epoch_length()),
        "validators": c.validator_registry().iter().map(|(key, v)| {
            let effect = |at: u64| ingot_module::consortium::change_takes_effect(c.epoch_length(), at);
            json!({
                "name": v.name,
                "org": v.org,
                "public_key": hex::encode(key),
                "p2p_address": (!v.p2p_address.is_empty()).then_some(&v.p2p_address),
                "added_at": v.added_at,
                "removed_at": v.removed_at,
                "votes_from_epoch": if v.added_at == 0 { 0 } else { effect(v.added_at) },
                "votes_until_epoch": v.removed_at.map(|r| effect(r) - 1),
            })
        }).collect::<Vec<_>>(),
        "total_weight": c.total_weight(),
        "rules": {
            "participation_pct": r.participation_pct,
            "approval_pct": r.approval_pct,
            "proposal_ttl_blocks": r.proposal_ttl_blocks,
        },
    })
}

#[utoipa::path(
    get,
    path = "/v1/governance",
    tag = "governance",
    summary = "the consortium as the next block sees it: organisations with kind, vote weight and trusted CAs; admitted observer nodes; every validator decided, with the epochs it votes in; thresholds; chain parameters voted (null: each node's own); who may deploy workflows",
    responses((status = 200, description = "the consortium", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn consortium(State(s): State<Host>, viewer: Viewer) -> Result<Json<Value>, ApiError> {
    member(&viewer)?;
    let mut out = consortium_json(&s.consortium());
    let deployers = match s.get(&crate::deployers_key("workflow")).await? {
        None => Value::String("any".into()),
        Some(raw) => {
            let d = crate::records::Deployers::decode_cfg(raw, &()).map_err(internal)?;
            // Empty only after its organisations were removed: nobody.
            json!(d.orgs)
        }
    };
    out["deployers"] = json!({ "workflow": deployers });
    Ok(Json(out))
}

async fn proposal_json(s: &Host, id: u64, with_votes: bool) -> Result<Option<Value>, ApiError> {
    let Some(p) = proposal_committed(s.state(), id).await.map_err(internal)? else {
        return Ok(None);
    };
    let action = Action::decode_cfg(p.action.clone(), &())
        .map(|a| a.to_json())
        .unwrap_or(Value::Null);
    let status = Status::from_byte(p.status).map_or("unknown", Status::name);
    let mut v = json!({
        "id": p.id,
        "action": action,
        "proposer_org": p.proposer_org,
        "proposer": hex::encode(p.proposer),
        "created": p.created,
        "expires": p.expires,
        "effective_at": p.effective_at,
        "status": status,
        "yes": p.yes,
        "no": p.no,
        "decided_at": p.decided_at,
        "applied_at": p.applied_at,
    });
    if !p.note.is_empty() {
        v["note"] = json!(p.note);
    }
    if with_votes {
        let mut votes = Vec::new();
        let consortium = s.consortium();
        let mut orgs: Vec<&str> = consortium.orgs().keys().map(String::as_str).collect();
        if !orgs.contains(&p.proposer_org.as_str()) {
            orgs.push(&p.proposer_org);
        }
        for org in orgs {
            if let Some(vote) = vote_committed(s.state(), id, org).await.map_err(internal)? {
                votes.push(json!({
                    "org": org, "approve": vote.approve, "by": hex::encode(vote.by), "height": vote.height,
                }));
            }
        }
        v["votes"] = json!(votes);
    }
    Ok(Some(v))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
struct ProposalQuery {
    /// Only proposals in this status (open, approved, rejected, expired, applied, failed).
    status: Option<String>,
    /// The newest proposal id to list from (default: the newest).
    before: Option<u64>,
    /// At most this many (default 50, at most 200).
    limit: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/v1/governance/proposals",
    tag = "governance",
    summary = "proposals, newest first, optionally by status",
    params(ProposalQuery),
    responses((status = 200, description = "proposals", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn proposals(
    State(s): State<Host>,
    Query(q): Query<ProposalQuery>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    member(&viewer)?;
    if let Some(st) = &q.status {
        if !(0..=5)
            .filter_map(Status::from_byte)
            .any(|x| x.name() == st)
        {
            return Err(bad(format!("unknown status `{st}`")));
        }
    }
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PROPOSAL_PAGE);
    let count = match s.get(crate::COUNT_KEY).await? {
        Some(raw) => u64::decode_cfg(raw, &()).map_err(internal)?,
        None => 0,
    };
    let mut id = q.before.unwrap_or(count).min(count);
    let mut out = Vec::new();
    // Bounded scan: a status filter looks at most 10 pages deep per request.
    let mut looked = 0;
    while id > 0 && (out.len() as u64) < limit && looked < 10 * limit {
        if let Some(v) = proposal_json(&s, id, false).await? {
            if q.status.as_deref().is_none_or(|st| v["status"] == st) {
                out.push(v);
            }
        }
        id -= 1;
        looked += 1;
    }
    Ok(Json(
        json!({ "proposals": out, "next_before": id, "count": count }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/governance/proposals/{id}",
    tag = "governance",
    summary = "one proposal with its tally and every organisation's vote",
    params(("id" = u64, Path, description = "proposal id")),
    responses((status = 200, description = "the proposal", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn proposal(
    State(s): State<Host>,
    Path(id): Path<u64>,
    viewer: Viewer,
) -> Result<Json<Value>, ApiError> {
    member(&viewer)?;
    proposal_json(&s, id, true)
        .await?
        .map(Json)
        .ok_or_else(|| not_found(format!("no proposal {id}")))
}

#[utoipa::path(
    get,
    path = "/v1/governance/inbox",
    tag = "governance",
    summary = "open proposals the caller's organisation has not voted on yet",
    responses((status = 200, description = "proposals awaiting the caller's organisation", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn inbox(State(s): State<Host>, viewer: Viewer) -> Result<Json<Value>, ApiError> {
    let me = member(&viewer)?;
    let agenda = agenda_committed(s.state()).await.map_err(internal)?;
    let height = s.executed_height();
    let mut out = Vec::with_capacity(MAX_AGENDA);
    for due in agenda.open.iter().filter(|d| d.at > height) {
        if vote_committed(s.state(), due.id, &me.org)
            .await
            .map_err(internal)?
            .is_some()
        {
            continue;
        }
        if let Some(v) = proposal_json(&s, due.id, false).await? {
            out.push(v);
        }
    }
    Ok(Json(
        json!({ "org": me.org, "may_vote": me.role == "admin", "awaiting": out }),
    ))
}
