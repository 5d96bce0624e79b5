//! Workflow queries and validation over HTTP (moves are signed transactions
//! on `POST /v1/tx`, like every other call):
//!
//! - `POST /v1/workflow/validate` `{xml, bindings, dmn?}` → problems, or the
//!   compiled elements (nothing is stored);
//! - `GET /v1/workflow/definitions` → names, latest versions, owners;
//! - `GET /v1/workflow/definitions/{name}?version=` → one version: elements,
//!   variables, bindings;
//! - `GET /v1/workflow/definitions/{name}/xml?version=` → the XML as the
//!   designer saved it (with its diagram once attached), for a modeler to
//!   redraw;
//! - `GET /v1/workflow/definitions/{name}/instances?state=&after=&limit=`;
//! - `GET /v1/workflow/instances/{id}` → state, active elements, variables,
//!   timers and the full history.
//!
//! Instances are shown to their audience only (the module's read rule for
//! `workflow/inst/`); definitions to every member.

use crate::{
    bindings_key, count_key, def_key,
    diagram::{diagram_key, stored_document, DiagramRecord},
    history_key, instance_id, instance_json, instance_key, latest_key, name_key, Definition,
    HistoryEntry, WorkflowModule, NAMES_COUNT_KEY,
};
use axum::{
    extract::{Path, Query, State},
    http::header,
    response::IntoResponse,
    routing::{get, post},
    Json, Router,
};
use commonware_codec::Decode;
use ingot_api::{
    core::ValidateProcess,
    query::{InstancesQuery, VersionQuery},
};
use ingot_bpmn::{
    machine::{state as istate, Instance, Machine},
    Problems,
};
use ingot_module_api::{bad, forbidden, internal, not_found, ApiError, Host, ModuleApi, Viewer};
use serde_json::{json, Value};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(validate, definitions, definition, definition_xml, instances, instance))]
struct WorkflowApi;

impl ModuleApi for WorkflowModule {
    fn member_routes(&self) -> Router<Host> {
        Router::new()
            .route("/v1/workflow/validate", post(validate))
            .route("/v1/workflow/definitions", get(definitions))
            .route("/v1/workflow/definitions/{name}", get(definition))
            .route("/v1/workflow/definitions/{name}/xml", get(definition_xml))
            .route("/v1/workflow/definitions/{name}/instances", get(instances))
            .route("/v1/workflow/instances/{id}", get(instance))
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        WorkflowApi::openapi()
    }
}

/// Most instances one page lists, and most history entries one view returns.
pub const MAX_PAGE: u64 = 200;
pub const MAX_HISTORY: u32 = 2_000;

/// A compiled machine as JSON: elements with their kind and who may act.
pub fn machine_json(m: &Machine) -> Value {
    use ingot_bpmn::machine::{gateway, kind, looping, subprocess, task, trigger};
    let trigger_name = |sub: u8| match sub {
        trigger::MESSAGE => "message ",
        trigger::TIMER => "timer ",
        trigger::TERMINATE => "terminate ",
        trigger::ERROR => "error ",
        trigger::ESCALATION => "escalation ",
        trigger::SIGNAL => "signal ",
        trigger::CONDITIONAL => "conditional ",
        _ => "",
    };
    let kind_name = |k: u8, sub: u8| -> String {
        match (k, sub) {
            (kind::START, t) => format!("{}start event", trigger_name(t)),
            (kind::END, t) => format!("{}end event", trigger_name(t)),
            (kind::CATCH, t) => format!("{}catch event", trigger_name(t)),
            (kind::THROW, t) => format!("{}throw event", trigger_name(t)),
            (kind::BOUNDARY, t) => format!("{}boundary event", trigger_name(t)),
            (kind::TASK, task::USER) => "user task".into(),
            (kind::TASK, task::MANUAL) => "manual task".into(),
            (kind::TASK, task::SERVICE) => "service task".into(),
            (kind::TASK, task::SEND) => "send task".into(),
            (kind::TASK, task::RECEIVE) => "receive task".into(),
            (kind::TASK, task::RULE) => "business rule task".into(),
            (kind::TASK, _) => "task".into(),
            (kind::GATEWAY, gateway::EXCLUSIVE) => "exclusive gateway".into(),
            (kind::GATEWAY, gateway::PARALLEL) => "parallel gateway".into(),
            (kind::GATEWAY, gateway::INCLUSIVE) => "inclusive gateway".into(),
            (kind::GATEWAY, _) => "event-based gateway".into(),
            (kind::SUBPROCESS, subprocess::EVENT) => "event subprocess".into(),
            (kind::CALL, _) => "call activity".into(),
            _ => "subprocess".into(),
        }
    };
    let loop_name = |l: &ingot_bpmn::machine::LoopSpec| match l.kind {
        looping::STANDARD => "standard loop",
        looping::PARALLEL => "parallel multi-instance",
        _ => "sequential multi-instance",
    };
    json!({
        "name": m.name,
        "elements": m.nodes.iter().map(|n| {
            let mut e = json!({"id": n.id, "name": n.name, "type": kind_name(n.kind, n.sub)});
            if n.kind == kind::BOUNDARY { e["interrupting"] = json!(n.interrupting); }
            if let Some(l) = &n.looping { e["loop"] = json!(loop_name(l)); }
            if let Some(c) = &n.call { e["calls"] = json!(c.definition); }
            if !n.allowed.is_empty() { e["allowed"] = json!(n.allowed); }
            if !n.outputs.is_empty() {
                e["outputs"] = json!(n.outputs.iter().filter_map(|&v| m.variables.get(v as usize).map(|v| v.name.clone())).collect::<Vec<_>>());
            }
            if let Some(s) = &n.service { e["call"] = json!(format!("{}.{}", s.module, s.method)); }
            if let Some(s) = &n.subscription { e["waits_for"] = json!(format!("{}.{}", s.module, s.kind)); }
            e
        }).collect::<Vec<_>>(),
        "variables": m.variables.iter().map(|v| json!({
            "name": v.name,
            "type": ingot_bpmn::expr::Type::from_code(v.ty).map(|t| t.to_string()),
        })).collect::<Vec<_>>(),
        "start_allowed": m.start_allowed,
        "cancel_allowed": m.cancel_allowed,
    })
}

#[utoipa::path(
    post,
    path = "/v1/workflow/validate",
    tag = "workflow",
    summary = "validate BPMN XML with its bindings without deploying: every problem with kind, element id and name, or the compiled elements; warnings (legal but suspicious, never blocking) with code, element and message",
    request_body = ValidateProcess,
    responses((status = 200, description = "{valid, problems, definition}", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn validate(Json(body): Json<ValidateProcess>) -> Json<Value> {
    let mut bindings = if body.bindings.is_null() {
        json!({})
    } else {
        body.bindings
    };
    if !body.dmn.is_empty() {
        if let Err(problem) = with_decisions(&body.xml, &mut bindings, &body.dmn) {
            return Json(json!({"valid": false, "problems": [problem.to_json()], "warnings": []}));
        }
    }
    // Warnings (legal but suspicious models) never block a deployment.
    let mut warnings: Vec<Value> = ingot_bpmn::warnings_xml(&body.xml)
        .iter()
        .map(|w| w.to_json())
        .collect();
    Json(match ingot_bpmn::validate_xml(&body.xml, &bindings) {
        Ok(m) => {
            warnings.extend(
                ingot_bpmn::compiled_warnings(&m)
                    .iter()
                    .map(|w| w.to_json()),
            );
            json!({"valid": true, "problems": [], "warnings": warnings, "definition": machine_json(&m), "bindings": bindings})
        }
        Err(Problems(ps)) => json!({
            "valid": false,
            "problems": ps.iter().map(|p| p.to_json()).collect::<Vec<_>>(),
            "warnings": warnings,
            "bindings": bindings,
        }),
    })
}

/// Bindings completed with the decision tables of DMN documents
/// (`ingot_bpmn::dmn`); a document that does not convert is a bindings
/// problem.
fn with_decisions(
    xml: &str,
    bindings: &mut Value,
    documents: &[String],
) -> Result<(), ingot_bpmn::Problem> {
    let bad = |m: String| ingot_bpmn::Problem::new(ingot_bpmn::ErrorKind::Bindings, "", "", m);
    let mut tables = std::collections::BTreeMap::new();
    for (i, doc) in documents.iter().enumerate() {
        tables.extend(
            ingot_bpmn::dmn::decision_tables(doc).map_err(|e| bad(format!("dmn[{i}]: {e}")))?,
        );
    }
    let filled = ingot_bpmn::dmn::fill_decisions_xml(xml, bindings, &tables)?;
    if filled.is_empty() {
        return Err(bad(
            "no business rule task refers (decisionRef) to a decision of the DMN documents".into(),
        ));
    }
    Ok(())
}

async fn get_raw(host: &Host, key: &[u8]) -> Result<Option<Vec<u8>>, ApiError> {
    host.get(key).await
}

/// The deployed document with its attached diagram, and what is attached.
async fn document(
    s: &Host,
    name: &str,
    version: u32,
) -> Result<(Vec<u8>, Option<DiagramRecord>), ApiError> {
    stored_document(
        |key| async move { s.get(&key).await },
        internal,
        name,
        version,
    )
    .await?
    .ok_or_else(|| not_found("XML missing"))
}

fn u32_of(raw: Option<Vec<u8>>) -> u32 {
    raw.and_then(|v| v.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

#[utoipa::path(
    get,
    path = "/v1/workflow/definitions",
    tag = "workflow",
    summary = "deployed definitions: name, latest version, owner organisation, instances started",
    responses((status = 200, description = "definitions", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn definitions(State(s): State<Host>) -> Result<Json<Value>, ApiError> {
    let count = u32_of(get_raw(&s, NAMES_COUNT_KEY).await?);
    let mut out = Vec::new();
    for i in 0..count.min(10_000) {
        let Some(name) = get_raw(&s, &name_key(i)).await? else {
            continue;
        };
        let name = String::from_utf8_lossy(&name).to_string();
        let latest = u32_of(get_raw(&s, &latest_key(&name)).await?);
        let owner = match get_raw(&s, &def_key(&name, 1)).await? {
            Some(raw) => {
                Definition::decode_cfg(raw, &())
                    .map_err(internal)?
                    .owner_org
            }
            None => String::new(),
        };
        let instances = get_raw(&s, &count_key(&name))
            .await?
            .and_then(|v| v.try_into().ok())
            .map_or(0, u64::from_be_bytes);
        out.push(json!({"name": name, "latest_version": latest, "owner_org": owner, "instances": instances}));
    }
    Ok(Json(json!({ "definitions": out })))
}

async fn load_def(
    s: &Host,
    name: &str,
    version: Option<u32>,
) -> Result<(Definition, Machine), ApiError> {
    let version = match version {
        Some(v) => v,
        None => u32_of(get_raw(s, &latest_key(name)).await?),
    };
    let raw = get_raw(s, &def_key(name, version))
        .await?
        .ok_or_else(|| not_found(format!("no workflow definition {name} version {version}")))?;
    let def = Definition::decode_cfg(raw, &()).map_err(internal)?;
    let machine = Machine::decode_cfg(def.machine.clone(), &()).map_err(internal)?;
    Ok((def, machine))
}

#[utoipa::path(
    get,
    path = "/v1/workflow/definitions/{name}",
    tag = "workflow",
    summary = "one version (?version=, default latest): elements, who may act, variables, bindings",
    params(("name" = String, Path, description = "definition name"), ingot_api::query::VersionQuery),
    responses((status = 200, description = "the definition", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn definition(
    State(s): State<Host>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Json<Value>, ApiError> {
    let (def, machine) = load_def(&s, &name, q.version).await?;
    let bindings = get_raw(&s, &bindings_key(&name, def.version))
        .await?
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .unwrap_or(Value::Null);
    let mut v = machine_json(&machine);
    v["version"] = json!(def.version);
    v["owner_org"] = json!(def.owner_org);
    v["deployer"] = json!(hex::encode(def.deployer));
    v["height"] = json!(def.height);
    v["timestamp_ms"] = json!(def.timestamp_ms);
    v["tx_hash"] = json!(hex::encode(def.tx_hash));
    v["xml_hash"] = json!(hex::encode(def.xml_hash));
    v["compiled_bytes"] = json!(def.machine.len());
    v["diagram"] = match get_raw(&s, &diagram_key(&name, def.version)).await? {
        None => Value::Null,
        Some(raw) => {
            let r = DiagramRecord::decode_cfg(raw, &()).map_err(internal)?;
            json!({"attached": r.attached, "bytes": r.total, "received": r.received, "chunks": r.chunks, "sha256": hex::encode(r.sha256)})
        }
    };
    v["bindings"] = bindings;
    Ok(Json(v))
}

#[utoipa::path(
    get,
    path = "/v1/workflow/definitions/{name}/xml",
    tag = "workflow",
    summary = "the BPMN XML as the designer saved it: the deployed process with its diagram interchange once attached (`diagram` in the definition says whether it is)",
    params(("name" = String, Path, description = "definition name"), ingot_api::query::VersionQuery),
    responses((status = 200, description = "BPMN 2.0 XML", body = String, content_type = "application/xml"), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn definition_xml(
    State(s): State<Host>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (def, _) = load_def(&s, &name, q.version).await?;
    let (xml, _) = document(&s, &name, def.version).await?;
    Ok(([(header::CONTENT_TYPE, "application/xml")], xml))
}

#[utoipa::path(
    get,
    path = "/v1/workflow/definitions/{name}/instances",
    tag = "workflow",
    summary = "instances of a definition the caller may read, by state, paginated (at most 200)",
    params(("name" = String, Path, description = "definition name"), ingot_api::query::InstancesQuery),
    responses((status = 200, description = "a page of instances", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn instances(
    State(s): State<Host>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<InstancesQuery>,
) -> Result<Json<Value>, ApiError> {
    let wanted = match q.state.as_deref() {
        None | Some("") | Some("all") => None,
        Some(st) => Some(istate::parse(st).ok_or_else(|| {
            bad(format!(
                "state must be running, completed, terminated, cancelled or all, not `{st}`"
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let count = get_raw(&s, &count_key(&name))
        .await?
        .and_then(|v| v.try_into().ok())
        .map_or(0, u64::from_be_bytes);
    let mut out = Vec::new();
    let mut last = q.after;
    // Scanning is bounded: at most ten pages of instances are read per call.
    for n in q.after + 1..=count.min(q.after + limit * 10) {
        last = n;
        let id = instance_id(&name, n);
        // Only the instances the caller may read (the workflow module's rule:
        // participants and regulators) are listed.
        let key = String::from_utf8_lossy(&instance_key(&id)).into_owned();
        if !s.may_read_key(&viewer, &key).await? {
            continue;
        }
        let Some(raw) = get_raw(&s, &instance_key(&id)).await? else {
            continue;
        };
        let inst = Instance::decode_cfg(raw, &()).map_err(internal)?;
        if wanted.is_some_and(|w| w != inst.state) {
            continue;
        }
        let (_, machine) = load_def(&s, &inst.definition, Some(inst.version)).await?;
        out.push(instance_json(&machine, &inst));
        if out.len() as u64 >= limit {
            break;
        }
    }
    Ok(Json(json!({
        "definition": name,
        "instances": out,
        "next_after": if last < count { Some(last) } else { None },
        "total": count,
    })))
}

#[utoipa::path(
    get,
    path = "/v1/workflow/instances/{id}",
    tag = "workflow",
    summary = "an instance: state, active elements, variables, timers, pending messages and its full history",
    params(("id" = String, Path, description = "instance id")),
    responses((status = 200, description = "the instance", body = serde_json::Value), ingot_api::ErrorResponses),
    security(("signedRequest" = []))
)]
async fn instance(
    State(s): State<Host>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = String::from_utf8_lossy(&instance_key(&id)).into_owned();
    if !s.may_read_key(&viewer, &key).await? {
        return Err(forbidden(
            "a workflow instance is visible to the organisations its definition names, its starter and regulators",
        ));
    }
    let raw = get_raw(&s, &instance_key(&id))
        .await?
        .ok_or_else(|| not_found(format!("no workflow instance {id}")))?;
    let inst = Instance::decode_cfg(raw, &()).map_err(internal)?;
    let (_, machine) = load_def(&s, &inst.definition, Some(inst.version)).await?;
    let mut v = instance_json(&machine, &inst);
    let mut history = Vec::new();
    for seq in 0..inst.steps.min(MAX_HISTORY) {
        if let Some(raw) = get_raw(&s, &history_key(&id, seq)).await? {
            history.extend(
                HistoryEntry::decode_cfg(raw, &())
                    .map_err(internal)?
                    .to_json_steps(),
            );
        }
    }
    v["history"] = json!(history);
    Ok(Json(v))
}

#[cfg(test)]
mod tests {
    use super::machine_json;
    use serde_json::json;

    /// Every element is named by its kind (an outsider's trial saw a
    /// boundary timer listed as a subprocess).
    #[test]
    fn elements_are_named_by_their_kind() {
        let xml = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D"><bpmn:process id="P">
            <bpmn:startEvent id="S"/><bpmn:callActivity id="C" calledElement="x"/>
            <bpmn:userTask id="T"><bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>2</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
            <bpmn:boundaryEvent id="B" attachedToRef="T" cancelActivity="false"><bpmn:timerEventDefinition><bpmn:timeCycle>R2/PT1M</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:boundaryEvent>
            <bpmn:endEvent id="E"/><bpmn:endEvent id="E2"><bpmn:signalEventDefinition signalRef="Go"/></bpmn:endEvent>
            <bpmn:sequenceFlow id="f1" sourceRef="S" targetRef="C"/><bpmn:sequenceFlow id="f2" sourceRef="C" targetRef="T"/>
            <bpmn:sequenceFlow id="f3" sourceRef="T" targetRef="E"/><bpmn:sequenceFlow id="f4" sourceRef="B" targetRef="E2"/>
            </bpmn:process></bpmn:definitions>"#;
        let bindings = json!({"name": "kinds", "participants": {"P": "org:Acme"}, "calls": {"C": {"definition": "x"}}});
        let m = ingot_bpmn::compile_xml(xml, &bindings).unwrap_or_else(|e| panic!("{e}"));
        let v = machine_json(&m);
        let of = |id: &str| {
            v["elements"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["id"] == id)
                .unwrap()
                .clone()
        };
        assert_eq!(of("B")["type"], "timer boundary event");
        assert_eq!(of("B")["interrupting"], false);
        assert_eq!(of("C")["type"], "call activity");
        assert_eq!(of("C")["calls"], "x");
        assert_eq!(of("T")["loop"], "parallel multi-instance");
        assert_eq!(of("E2")["type"], "signal end event");
        assert_eq!(of("S")["type"], "start event");
    }
}
