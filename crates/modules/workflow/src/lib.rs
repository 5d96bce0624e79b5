//! `workflow`: BPMN processes as contracts (white paper 二.1 可视化智能合约).
//!
//! - `deploy` parses, validates and compiles BPMN XML with its bindings on
//!   every validator (`ingot-bpmn`), and stores the compiled machine as the
//!   next version of the definition, with the XML and the bindings beside
//!   it. A document's diagram interchange may come with it or be attached
//!   afterwards (`diagram`), so layout does not count toward the size. Only the organisation that deployed version 1 may
//!   deploy further versions; running instances keep their version.
//! - `start`, `complete`, `cancel` move instances (see `ingot_bpmn::engine`).
//! - Timers fire at the end of blocks by block time; message events bound to
//!   chain events fire when any transaction emits the event ([`on_events`]).
//! - Service tasks call native modules as the actor whose step reached them
//!   (for steps after a timer: the instance's starter, re-identified from
//!   the certificate kept at start).
//!
//! Every step is a `workflow.step` event (actor, time, changed variables) and
//! a history entry.
//!
//! State: `workflow/def/<name>/<version>` → [`Definition`];
//! `workflow/xml/...`, `workflow/bind/...` → XML and bindings;
//! `workflow/diagram/...`, `workflow/diagchunk/...` → the diagram attached
//! apart ([`diagram`]);
//! `workflow/latest/<name>` → latest version; `workflow/names/<i>` → names;
//! `workflow/count/<name>` → instances started; `workflow/inst/<id>` →
//! [`Instance`]; `workflow/starter/<id>` → starter certificate;
//! `workflow/hist/<id>/<n>` → [`HistoryEntry`] (the steps of one move); `workflow/timers/<second>`
//! → due timers; `workflow/sub/<module.kind>/<attribute>/<value>` →
//! waiting message events; `workflow/subattrs/<module.kind>` → attributes
//! subscribed on; `workflow/sigwait/...`, `workflow/sigstart/...` → who a
//! signal reaches across instances ([`signal`]).

pub mod api;
pub mod call;
pub mod diagram;
mod module;
pub mod signal;

use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_bpmn::{
    engine::{self, Outcome},
    machine::{state as istate, Due, Instance, Machine},
    Actor,
};

use ingot_module::{
    corrupt, decode, decode_args, event, reject, unknown_method, BoxFuture, CallError, Host, Store,
    TxContext,
};
use ingot_types::{Call, Event};
pub use module::WorkflowModule;
use serde_json::{json, Value};

pub const NAME: &str = "workflow";
/// Largest bindings document and variables object.
pub const MAX_BINDINGS_BYTES: usize = 6 * 1024;
pub const MAX_VARS_BYTES: usize = 8 * 1024;
pub(crate) const MAX_DEF_NAME: usize = 64;
pub(crate) const MAX_INSTANCE_ID: usize = 96;
/// Entries per timer second and per subscription list.
const MAX_TIMER_ENTRIES: usize = 512;
const MAX_SUBSCRIBERS: usize = 256;
/// Seconds after its own a timer may be put in when its second is full.
const TIMER_SPILL_S: u64 = 60;
/// Seconds of timer schedule one block walks (catch-up after a pause).
pub const MAX_CATCHUP_S: u64 = 3_600;
// A timer's spill range is walked within one block's catch-up.
const _: () = assert!(TIMER_SPILL_S < MAX_CATCHUP_S);
/// How deep service calls may trigger message events that call services.
const MAX_DEPTH: u8 = 4;
const TIMER_CURSOR: &[u8] = b"workflow/timer_cursor";

ingot_types::record! {
    /// workflow.deploy
    pub struct DeployArg {
        pub xml: String = ingot_bpmn::xml::MAX_XML_BYTES,
        pub bindings: String = MAX_BINDINGS_BYTES,
    }
}

ingot_types::record! {
    /// workflow.start
    pub struct StartArg {
        pub definition: String = MAX_DEF_NAME,
        pub version: Option<u32> = (),
        pub vars: String = MAX_VARS_BYTES,
    }
}

ingot_types::record! {
    /// workflow.complete
    pub struct CompleteArg {
        pub instance: String = MAX_INSTANCE_ID,
        pub element: String = ingot_bpmn::machine::MAX_ID_LEN,
        pub vars: String = MAX_VARS_BYTES,
    }
}

ingot_types::record! {
    /// workflow.cancel
    pub struct CancelArg { pub instance: String = MAX_INSTANCE_ID }
}

ingot_types::record! {
    /// One deployed version of a process.
    pub struct Definition {
        pub name: String = MAX_DEF_NAME,
        pub version: u32 = (),
        pub owner_org: String = 256,
        pub deployer: [u8; 32] = (),
        pub height: u64 = (),
        pub timestamp_ms: u64 = (),
        pub tx_hash: [u8; 32] = (),
        pub xml_hash: [u8; 32] = (),
        pub machine: Bytes = ingot_types::limits::MAX_VALUE_BYTES,
    }
}

ingot_types::record! {
    /// One step of an instance.
    pub struct StepRecord {
        pub element: String = ingot_bpmn::machine::MAX_ID_LEN,
        pub name: String = ingot_bpmn::machine::MAX_LABEL_LEN,
        pub action: String = 32,
        pub detail: String = 256,
        /// Changed variables as a JSON object (empty when none changed).
        pub vars: String = MAX_VARS_BYTES,
    }
}

ingot_types::record! {
    /// The steps one transaction (or one timer) made an instance take: one
    /// history key per move, not per step, keeps writes per completion low.
    pub struct HistoryEntry {
        pub seq: u32 = (),
        /// Certificate hash of the actor (zero for the chain itself: timers).
        pub actor: [u8; 32] = (),
        pub actor_org: String = 256,
        pub height: u64 = (),
        pub timestamp_ms: u64 = (),
        pub tx_hash: [u8; 32] = (),
        pub steps: Vec<StepRecord> = (ingot_bpmn::machine::MAX_STEPS * 2 + 8, ()),
    }
}

ingot_types::record! {
    pub struct TimerRef {
        pub instance: String = MAX_INSTANCE_ID,
        pub node: u16 = (),
        pub at_ms: u64 = (),
    }
}

ingot_types::record! {
    pub struct TimerList { pub entries: Vec<TimerRef> = (MAX_TIMER_ENTRIES, ()) }
}

ingot_types::record! {
    pub struct SubRef {
        pub instance: String = MAX_INSTANCE_ID,
        pub node: u16 = (),
    }
}

ingot_types::record! {
    pub struct SubList { pub entries: Vec<SubRef> = (MAX_SUBSCRIBERS, ()) }
}

ingot_types::record! {
    pub struct Names { pub items: Vec<String> = (64, 128) }
}

pub fn def_key(name: &str, version: u32) -> Vec<u8> {
    format!("workflow/def/{name}/{version:010}").into_bytes()
}
pub fn xml_key(name: &str, version: u32) -> Vec<u8> {
    format!("workflow/xml/{name}/{version:010}").into_bytes()
}
pub fn bindings_key(name: &str, version: u32) -> Vec<u8> {
    format!("workflow/bind/{name}/{version:010}").into_bytes()
}
pub fn latest_key(name: &str) -> Vec<u8> {
    format!("workflow/latest/{name}").into_bytes()
}
pub const NAMES_COUNT_KEY: &[u8] = b"workflow/names";
pub fn name_key(i: u32) -> Vec<u8> {
    format!("workflow/names/{i:010}").into_bytes()
}
pub fn count_key(name: &str) -> Vec<u8> {
    format!("workflow/count/{name}").into_bytes()
}
pub fn instance_key(id: &str) -> Vec<u8> {
    format!("workflow/inst/{id}").into_bytes()
}
fn starter_key(id: &str) -> Vec<u8> {
    format!("workflow/starter/{id}").into_bytes()
}
pub fn history_key(id: &str, seq: u32) -> Vec<u8> {
    format!("workflow/hist/{id}/{seq:010}").into_bytes()
}
/// Timers scheduled in one hour of block time: the walk skips empty hours.
fn timer_hour_key(hour: u64) -> Vec<u8> {
    format!("workflow/timerhours/{hour:020}").into_bytes()
}
fn timers_key(second: u64) -> Vec<u8> {
    format!("workflow/timers/{second:020}").into_bytes()
}
fn sub_key(event: &str, attribute: &str, value: &str) -> Vec<u8> {
    format!("workflow/sub/{event}/{attribute}/{}", hex::encode(value)).into_bytes()
}
fn subattrs_key(event: &str) -> Vec<u8> {
    format!("workflow/subattrs/{event}").into_bytes()
}
/// Instance ids: `<definition>-<n>`, n counting from 1.
pub fn instance_id(name: &str, n: u64) -> String {
    format!("{name}-{n}")
}

/// Why a workflow call fails (see [`crate::failure`]).
pub mod failures {
    ingot_module::failures! { super::NAME;
        INVALID_JSON = 1, "invalid_json", "{what}: invalid JSON";
        NO_INSTANCE = 2, "no_instance", "no workflow instance `{instance}`";
        DEFINITION_MISSING = 3, "definition_missing", "definition of `{instance}` is missing";
        NO_DEFINITION = 4, "no_definition", "no workflow definition `{definition}` version {version}";
        /// The BPMN engine refused the move for what the process met (an
        /// expression that cannot be evaluated, a bound, conflicting
        /// rules); the refusals a client causes have codes 31-39. The
        /// reason is text of our own engine (ingot-bpmn), kept as detail.
        ENGINE_REFUSED = 5, "engine_refused", "{detail}";
        INVALID_PROCESS = 6, "invalid_process", "invalid process: {kind} at {element} ({problems} problems)";
        NOT_DEFINITION_OWNER = 7, "not_definition_owner", "definition `{definition}` belongs to {owner}; {org} may not deploy new versions of it";
        NO_TRANSACTION = 8, "no_transaction", "service task `{element}` has no transaction to run in";
        SERVICE_ARGUMENTS = 9, "service_arguments", "service task `{element}`: arguments for {call} do not build";
        SERVICE_FAILED = 10, "service_failed", "service task `{element}` ({call}) failed: {cause}";
        TOO_MANY_TIMERS = 11, "too_many_timers", "too many workflow timers due in the same minute";
        CORRELATION_UNSET = 12, "correlation_unset", "`{element}` waits for {event} with {attribute} = variable `{variable}`, which is not set";
        TOO_MANY_WAITING = 13, "too_many_waiting", "too many instances wait for {event} {attribute} = {value}";
        TOO_MANY_ATTRIBUTES = 14, "too_many_attributes", "too many attributes subscribed on {event}";
        TOO_MANY_STARTS = 15, "too_many_starts", "too many definitions start on {event} {attribute}";
        EVENT_START_REFUSED = 16, "event_start_refused", "starting {definition} on {event}: {detail}";
        NESTED_TOO_DEEPLY = 17, "nested_too_deeply", "workflow events (messages, calls, signals) nested too deeply";
        DELIVERY_REFUSED = 18, "delivery_refused", "instance {instance}: {detail}";
        STARTER_CERTIFICATE_MISSING = 19, "starter_certificate_missing", "starter certificate missing";
        STARTER_CERTIFICATE_REFUSED = 20, "starter_certificate_refused", "starter certificate: {reason}";
        STARTER_REVOKED = 21, "starter_revoked", "the starter's certificate is revoked";
        /// Later versions exist but version 1 (whose deployer owns the name)
        /// does not: damaged state, never a valid history.
        FIRST_VERSION_MISSING = 22, "first_version_missing", "definition `{definition}` has version {latest} but no version 1";
        NOT_DIAGRAM_OWNER = 23, "not_diagram_owner", "definition `{definition}` belongs to {owner}; {org} may not attach its diagram";
        /// A diagram, once complete and checked, is final.
        DIAGRAM_ATTACHED = 24, "diagram_attached", "`{definition}` version {version} already has its diagram";
        /// Chunks go in order from 0 with the same offset, size and digest;
        /// chunk 0 restarts an unfinished upload.
        DIAGRAM_OUT_OF_ORDER = 25, "diagram_out_of_order", "diagram chunk {index} of `{definition}` version {version}: expected chunk {expected} (or 0 to restart) with the same offset, size and digest";
        DIAGRAM_INVALID = 26, "diagram_invalid", "diagram of `{definition}` version {version}: {reason}";
        CALLED_DEFINITION_MISSING = 27, "called_definition_missing", "call activity `{element}` calls `{definition}` version {version}, which is not deployed";
        /// The called definition refused to start (its start permissions
        /// or variables), with the engine's reason.
        CALL_REFUSED = 28, "call_refused", "call activity `{element}` could not start `{definition}`: {detail}";
        CALLED_INSTANCE = 29, "called_instance", "instance {instance} was started by a call activity of {caller}: cancel {caller}";
        /// A signal whose receivers throw signals, and so on, deeper than
        /// the bound (e.g. a definition whose signal start throws its own).
        SIGNAL_TOO_DEEP = 30, "signal_too_deep", "signal `{signal}` from {instance} causes signals nested more than {depth} deep";
        // The engine's refusals by kind (`ingot_bpmn::RefusalKind`); what
        // the process itself meets stays `engine_refused`.
        INSTANCE_NOT_RUNNING = 31, "instance_not_running", "{detail}";
        UNKNOWN_ELEMENT = 32, "unknown_element", "{detail}";
        NOT_A_PERSON_TASK = 33, "not_a_person_task", "{detail}";
        TASK_NOT_ACTIVE = 34, "task_not_active", "{detail}";
        NOT_ALLOWED = 35, "not_allowed", "{detail}";
        BAD_VARIABLES = 36, "bad_variables", "{detail}";
        INSTANCE_NOT_WAITING = 37, "instance_not_waiting", "{detail}";
        MESSAGE_MISSING = 38, "message_missing", "{detail}";
        NOT_STARTABLE = 39, "not_startable", "{detail}";
        /// The move would store an instance larger than a state value may
        /// be (its variables, lists and parked subprocess instances).
        INSTANCE_TOO_LARGE = 40, "instance_too_large", "the move would make instance {instance} {size} bytes, more than the {max} a stored value may be";
        /// The consortium voted who may deploy processes, and not this organisation.
        NOT_A_DEPLOYER = 41, "not_a_deployer", "{org} may not deploy processes: the consortium named the organisations that may (governance)";
    }
}

/// The engine's refusal as a failure: a code per kind a client can act on
/// (the message, from Ingot's own engine, as detail).
fn engine_refused(r: ingot_bpmn::Refusal) -> CallError {
    use ingot_bpmn::RefusalKind as K;
    let code = match r.kind {
        K::NotRunning => failures::INSTANCE_NOT_RUNNING,
        K::UnknownElement => failures::UNKNOWN_ELEMENT,
        K::NotAPersonTask => failures::NOT_A_PERSON_TASK,
        K::NotActive => failures::TASK_NOT_ACTIVE,
        K::NotAllowed => failures::NOT_ALLOWED,
        K::BadVariables => failures::BAD_VARIABLES,
        K::InstanceNotWaiting => failures::INSTANCE_NOT_WAITING,
        K::MessageMissing => failures::MESSAGE_MISSING,
        K::NotStartable => failures::NOT_STARTABLE,
        K::Process => failures::ENGINE_REFUSED,
    };
    CallError::Rejected(code.with(&[("detail", r.message)]))
}

/// A waiting instance refused an event or signal delivered to it.
fn delivery_refused(instance: &str, r: ingot_bpmn::Refusal) -> CallError {
    CallError::Rejected(
        failures::DELIVERY_REFUSED
            .with(&[("instance", instance.to_string()), ("detail", r.message)]),
    )
}

fn u32_of(raw: Option<Vec<u8>>) -> u32 {
    raw.and_then(|v| v.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

pub(crate) fn u64_of(raw: Option<Vec<u8>>) -> u64 {
    raw.and_then(|v| v.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

fn actor_of(ctx: &TxContext<'_>) -> Actor {
    Actor {
        org: ctx.sender.org.clone(),
        role: ctx.sender.role.clone(),
        member: ctx.sender.id,
    }
}

fn parse_json(text: &str, what: &str) -> Result<Value, CallError> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|_| {
        CallError::Rejected(failures::INVALID_JSON.with(&[("what", what.to_string())]))
    })
}

/// Read a definition version and decode its machine.
pub async fn load_definition(
    state: &mut dyn Store,
    name: &str,
    version: u32,
) -> Result<Option<(Definition, Machine)>, CallError> {
    let Some(raw) = state.get(&def_key(name, version)).await? else {
        return Ok(None);
    };
    let def = Definition::decode_cfg(raw, &()).map_err(corrupt("definition"))?;
    let machine = Machine::decode_cfg(def.machine.clone(), &()).map_err(corrupt("machine"))?;
    Ok(Some((def, machine)))
}

/// [`load_definition`] on committed state (queries, tests).
pub async fn load_definition_raw(
    state: &dyn ingot_module::StateRead,
    name: &str,
    version: u32,
) -> Result<Machine, String> {
    let raw = state
        .get(&def_key(name, version))
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no definition {name} v{version}"))?;
    let def = Definition::decode_cfg(raw, &()).map_err(|e| e.to_string())?;
    Machine::decode_cfg(def.machine, &()).map_err(|e| e.to_string())
}

pub async fn latest_version(state: &mut dyn Store, name: &str) -> Result<u32, CallError> {
    Ok(u32_of(state.get(&latest_key(name)).await?))
}

async fn load_instance(state: &mut dyn Store, id: &str) -> Result<(Instance, Machine), CallError> {
    let Some(raw) = state.get(&instance_key(id)).await? else {
        return reject(failures::NO_INSTANCE.with(&[("instance", id.to_string())]));
    };
    let inst = Instance::decode_cfg(raw, &()).map_err(corrupt("instance"))?;
    let (_, machine) = load_definition(state, &inst.definition, inst.version)
        .await?
        .ok_or_else(|| {
            CallError::Rejected(failures::DEFINITION_MISSING.with(&[("instance", id.to_string())]))
        })?;
    Ok((inst, machine))
}

pub fn call<'a>(
    ctx: &'a TxContext<'a>,
    state: &'a mut dyn Store,
    host: &'a dyn Host,
    call: &'a Call,
) -> BoxFuture<'a, Result<Vec<Event>, CallError>> {
    Box::pin(async move {
        let actor = actor_of(ctx);
        match call.method.as_str() {
            "deploy" => deploy(ctx, state, decode_args(call)?).await,
            "diagram" => diagram::attach(ctx, state, decode_args(call)?).await,
            "start" => {
                let arg: StartArg = decode_args(call)?;
                let vars = parse_json(&arg.vars, "vars")?;
                let version = match arg.version {
                    Some(v) => v,
                    None => latest_version(state, &arg.definition).await?,
                };
                let Some((_, machine)) = load_definition(state, &arg.definition, version).await?
                else {
                    return reject(failures::NO_DEFINITION.with(&[
                        ("definition", arg.definition.clone()),
                        ("version", version.to_string()),
                    ]));
                };
                let n = u64_of(state.get(&count_key(&arg.definition)).await?) + 1;
                let id = instance_id(&arg.definition, n);
                let (inst, outcome) = engine::start(
                    &machine,
                    version,
                    id.clone(),
                    &actor,
                    &vars,
                    ctx.block.timestamp_ms,
                    ctx.block.height,
                )
                .map_err(engine_refused)?;
                state.put(count_key(&arg.definition), n.to_be_bytes().to_vec());
                state.put(starter_key(&id), ctx.certificate.to_vec());
                let before = crate::before_start(&inst);
                let step_ctx = StepContext::tx(ctx, host, &actor);
                apply(&step_ctx, state, &machine, &before, inst, outcome, 0).await
            }
            "complete" => {
                let arg: CompleteArg = decode_args(call)?;
                let vars = parse_json(&arg.vars, "vars")?;
                let now = ctx.block.timestamp_ms;
                move_instance(ctx, state, host, &actor, &arg.instance, |m, inst| {
                    engine::complete(m, inst, &arg.element, &actor, &vars, now)
                })
                .await
            }
            "cancel" => {
                let arg: CancelArg = decode_args(call)?;
                if let Some(parent) = call::parent_of(state, &arg.instance).await? {
                    return reject(failures::CALLED_INSTANCE.with(&[
                        ("instance", arg.instance.clone()),
                        ("caller", parent.instance),
                    ]));
                }
                let now = ctx.block.timestamp_ms;
                move_instance(ctx, state, host, &actor, &arg.instance, |m, inst| {
                    engine::cancel(m, inst, &actor, now)
                })
                .await
            }
            _ => unknown_method(call),
        }
    })
}

/// A new instance as it was before its first move: running, nothing
/// active, no timers — so a move that completes it at once still ends it
/// (its `completed` event, and a call activity waiting for it returns).
pub(crate) fn before_start(inst: &Instance) -> Instance {
    Instance {
        state: istate::RUNNING,
        active: vec![],
        timers: vec![],
        ..inst.clone()
    }
}

/// Load an instance, let `step` move it, and persist the move.
async fn move_instance(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    host: &dyn Host,
    actor: &Actor,
    id: &str,
    step: impl FnOnce(&Machine, &mut Instance) -> Result<Outcome, ingot_bpmn::Refusal>,
) -> Result<Vec<Event>, CallError> {
    let (mut inst, machine) = load_instance(state, id).await?;
    let before = inst.clone();
    let outcome = step(&machine, &mut inst).map_err(engine_refused)?;
    apply(
        &StepContext::tx(ctx, host, actor),
        state,
        &machine,
        &before,
        inst,
        outcome,
        0,
    )
    .await
}

async fn deploy(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    arg: DeployArg,
) -> Result<Vec<Event>, CallError> {
    if !ingot_module_governance::may_deploy(state, NAME, &ctx.sender.org).await? {
        return reject(failures::NOT_A_DEPLOYER.with(&[("org", ctx.sender.org.clone())]));
    }
    let bindings = parse_json(&arg.bindings, "bindings")?;
    let bindings = if bindings.is_null() {
        json!({})
    } else {
        bindings
    };
    // Parsing is charged like reading the document several times over.
    state.charge(4 * arg.xml.len() as u64);
    let machine = ingot_bpmn::compile_xml(&arg.xml, &bindings).map_err(|p| {
        let first = p.0.first();
        CallError::Rejected(failures::INVALID_PROCESS.with(&[
            (
                "kind",
                first.map_or("unknown", |f| f.kind.as_str()).to_string(),
            ),
            (
                "element",
                first.map_or_else(String::new, |f| f.element.clone()),
            ),
            ("problems", p.0.len().to_string()),
        ]))
    })?;
    let name = machine.name.clone();
    let latest = latest_version(state, &name).await?;
    if latest > 0 {
        let (first, _) = load_definition(state, &name, 1).await?.ok_or_else(|| {
            CallError::Rejected(
                failures::FIRST_VERSION_MISSING
                    .with(&[("definition", name.clone()), ("latest", latest.to_string())]),
            )
        })?;
        if first.owner_org != ctx.sender.org {
            return reject(failures::NOT_DEFINITION_OWNER.with(&[
                ("definition", name.clone()),
                ("owner", first.owner_org.clone()),
                ("org", ctx.sender.org.clone()),
            ]));
        }
    } else {
        let count = u32_of(state.get(NAMES_COUNT_KEY).await?);
        state.put(name_key(count), name.clone().into_bytes());
        state.put(NAMES_COUNT_KEY.to_vec(), (count + 1).to_be_bytes().to_vec());
    }
    let version = latest + 1;
    let def = Definition {
        name: name.clone(),
        version,
        owner_org: ctx.sender.org.clone(),
        deployer: ctx.sender.id,
        height: ctx.block.height,
        timestamp_ms: ctx.block.timestamp_ms,
        tx_hash: ctx.tx_hash,
        xml_hash: ingot_types::sha256(&[arg.xml.as_bytes()])
            .as_ref()
            .try_into()
            .unwrap_or([0; 32]),
        machine: machine.encode(),
    };
    state.put(def_key(&name, version), def.encode().to_vec());
    state.put(xml_key(&name, version), arg.xml.into_bytes());
    state.put(
        bindings_key(&name, version),
        bindings.to_string().into_bytes(),
    );
    state.put(latest_key(&name), version.to_be_bytes().to_vec());
    register_start_triggers(state, &name, &machine).await?;
    signal::register_starts(state, &ctx.sender.org, &name, &machine).await?;
    Ok(vec![event(
        NAME,
        "deployed",
        &[
            ("definition", name),
            ("version", version.to_string()),
            ("org", ctx.sender.org.clone()),
            ("xml_hash", hex::encode(def.xml_hash)),
        ],
    )])
}

/// Who a step happens for: a transaction (with its sender) or the chain at
/// the end of a block (timers).
pub struct StepContext<'a> {
    pub tx: Option<&'a TxContext<'a>>,
    /// Service tasks call other modules through the host.
    pub host: &'a dyn Host,
    pub actor: [u8; 32],
    pub actor_org: String,
    pub height: u64,
    pub timestamp_ms: u64,
    pub tx_hash: [u8; 32],
}

impl<'a> StepContext<'a> {
    fn tx(ctx: &'a TxContext<'a>, host: &'a dyn Host, actor: &Actor) -> Self {
        Self {
            tx: Some(ctx),
            host,
            actor: actor.member,
            actor_org: actor.org.clone(),
            height: ctx.block.height,
            timestamp_ms: ctx.block.timestamp_ms,
            tx_hash: ctx.tx_hash,
        }
    }
}

/// Persist an instance after a move: history, events, timer and message
/// indexes, then the service calls the move asked for.
#[allow(clippy::too_many_arguments)]
fn apply<'a>(
    sc: &'a StepContext<'a>,
    state: &'a mut dyn Store,
    machine: &'a Machine,
    before: &'a Instance,
    mut inst: Instance,
    outcome: Outcome,
    depth: u8,
) -> BoxFuture<'a, Result<Vec<Event>, CallError>> {
    Box::pin(async move {
        let mut events = Vec::with_capacity(outcome.steps.len());
        let mut entry = HistoryEntry {
            seq: inst.steps,
            actor: sc.actor,
            actor_org: sc.actor_org.clone(),
            height: sc.height,
            timestamp_ms: sc.timestamp_ms,
            tx_hash: sc.tx_hash,
            steps: Vec::with_capacity(outcome.steps.len()),
        };
        for step in &outcome.steps {
            let vars = if step.vars.is_empty() {
                String::new()
            } else {
                let vars: serde_json::Map<String, Value> = step
                    .vars
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                Value::Object(vars).to_string()
            };
            let detail: String = step.detail.chars().take(200).collect();
            events.push(event(
                NAME,
                "step",
                &[
                    ("instance", inst.id.clone()),
                    ("definition", inst.definition.clone()),
                    ("version", inst.version.to_string()),
                    ("element", step.element.clone()),
                    ("name", step.name.clone()),
                    ("action", step.action.to_string()),
                    ("detail", detail.clone()),
                    ("actor", hex::encode(sc.actor)),
                    ("actor_org", sc.actor_org.clone()),
                    ("time_ms", sc.timestamp_ms.to_string()),
                    ("vars", vars.chars().take(1000).collect()),
                ],
            ));
            entry.steps.push(StepRecord {
                element: step.element.clone(),
                name: step.name.clone(),
                action: step.action.to_string(),
                detail,
                vars,
            });
        }
        if !entry.steps.is_empty() {
            state.put(history_key(&inst.id, inst.steps), entry.encode().to_vec());
            inst.steps += 1;
        }
        if inst.state != before.state {
            events.push(event(
                NAME,
                istate::name(inst.state),
                &[
                    ("instance", inst.id.clone()),
                    ("definition", inst.definition.clone()),
                ],
            ));
        }
        // New timers go into their second's bucket; disarmed ones (a task
        // done before its boundary timer, a cancelled instance) leave theirs,
        // so the walk does not spend a block's catch-up on stale entries.
        // Counted as multisets: two instances of a subprocess may arm the
        // same timer at the same moment, one entry each.
        let (now_timers, was_timers) = (engine::timers(&inst), engine::timers(before));
        for due in minus(&now_timers, &was_timers) {
            schedule_timer(state, &inst.id, due.node, due.at_ms).await?;
        }
        for due in minus(&was_timers, &now_timers) {
            unschedule_timer(state, &inst.id, due.node, due.at_ms).await?;
        }
        let was = engine::armed(machine, before);
        let now = if inst.state == istate::RUNNING {
            engine::armed(machine, &inst)
        } else {
            Vec::new()
        };
        for &node in was.iter().filter(|n| !now.contains(n)) {
            if let Some(s) = &machine.nodes[node].subscription {
                unsubscribe(state, before, node, s).await?;
            }
        }
        for &node in now.iter().filter(|n| !was.contains(n)) {
            if let Some(s) = &machine.nodes[node].subscription {
                subscribe(state, machine, &inst, node, s).await?;
            }
        }
        signal::track(state, machine, before, &inst).await?;
        // Every stored instance must read back: a move that would store one
        // that does not (an engine bug) is refused, not kept as damage that
        // no later move could get past.
        let stored = inst.encode();
        // The state store refuses a larger value when the block commits,
        // which no block may meet: refused here, the move fails instead.
        if stored.len() > ingot_types::limits::MAX_VALUE_BYTES {
            return reject(failures::INSTANCE_TOO_LARGE.with(&[
                ("instance", inst.id.clone()),
                ("size", stored.len().to_string()),
                ("max", ingot_types::limits::MAX_VALUE_BYTES.to_string()),
            ]));
        }
        if Instance::decode_cfg(stored.clone(), &()).is_err() {
            return reject(failures::ENGINE_REFUSED.with(&[(
                "detail",
                format!(
                    "the move would store instance {} in a form that does not read back",
                    inst.id
                ),
            )]));
        }
        state.put(instance_key(&inst.id), stored.to_vec());
        for call in outcome.calls {
            let Some(tx) = sc.tx else {
                return reject(failures::NO_TRANSACTION.with(&[("element", call.element.clone())]));
            };
            let args = sc
                .host
                .args_from_json(&call.module, &call.method, &call.args)
                .map_err(|_| {
                    CallError::Rejected(failures::SERVICE_ARGUMENTS.with(&[
                        ("element", call.element.clone()),
                        ("call", format!("{}.{}", call.module, call.method)),
                    ]))
                })?;
            let native = Call {
                module: call.module.clone(),
                method: call.method.clone(),
                args,
            };
            let produced = sc
                .host
                .dispatch(tx, state, &native, depth + 1)
                .await
                .map_err(|e| match e {
                    // The inner failure's stable name and detail, not its text.
                    CallError::Rejected(inner) => {
                        let mut detail = vec![
                            ("element", call.element.clone()),
                            ("call", format!("{}.{}", call.module, call.method)),
                            ("cause", sc.host.failure_name(&inner)),
                        ];
                        detail.extend(
                            inner
                                .detail
                                .iter()
                                .take(4)
                                .map(|(k, v)| (k.as_str(), v.clone())),
                        );
                        CallError::Rejected(failures::SERVICE_FAILED.with(&detail))
                    }
                    other => other,
                })?;
            events.extend(produced);
        }
        // Call activities: called processes start, interrupted calls take
        // their called instance down, an ended called instance returns.
        events.extend(
            call::start_children(sc, state, &inst, machine, outcome.children, depth).await?,
        );
        events.extend(call::abandoned(sc, state, machine, before, &inst, depth).await?);
        if before.state == istate::RUNNING && inst.state != istate::RUNNING {
            events.extend(call::finished(sc, state, machine, &inst, depth).await?);
        }
        // Last: a signal's receivers may move this instance's caller or
        // children, which the steps above must not overwrite.
        events.extend(signal::broadcast(sc, state, &inst, outcome.signals, depth).await?);
        Ok(events)
    })
}

/// Seconds a timer due at `at_ms` may sit in: never behind the walk (a
/// timer already due fires at the end of this block), and a full second
/// spills into the next ones (the timer fires a little late rather than not
/// at all).
async fn timer_seconds(
    state: &mut dyn Store,
    at_ms: u64,
) -> Result<std::ops::Range<u64>, CallError> {
    let cursor = u64_of(state.get(TIMER_CURSOR).await?);
    let first = (at_ms / 1000).max(cursor + 1);
    Ok(first..first + TIMER_SPILL_S)
}

async fn schedule_timer(
    state: &mut dyn Store,
    instance: &str,
    node: u16,
    at_ms: u64,
) -> Result<(), CallError> {
    for second in timer_seconds(state, at_ms).await? {
        let key = timers_key(second);
        let mut list = match state.get(&key).await? {
            Some(raw) => TimerList::decode_cfg(raw, &()).map_err(corrupt("timer list"))?,
            None => TimerList { entries: vec![] },
        };
        if list.entries.len() < MAX_TIMER_ENTRIES {
            list.entries.push(TimerRef {
                instance: instance.to_string(),
                node,
                at_ms,
            });
            state.put(key, list.encode().to_vec());
            let hour = timer_hour_key(second / 3600);
            let count = u64_of(state.get(&hour).await?);
            state.put(hour, (count + 1).to_be_bytes().to_vec());
            return Ok(());
        }
    }
    reject(failures::TOO_MANY_TIMERS.bare())
}

/// Remove a disarmed timer's entry from its bucket, if the walk has not
/// taken it yet (a timer that fired was taken): it lies in the part of its
/// [`timer_seconds`] not walked yet.
async fn unschedule_timer(
    state: &mut dyn Store,
    instance: &str,
    node: u16,
    at_ms: u64,
) -> Result<(), CallError> {
    for second in timer_seconds(state, at_ms).await? {
        let key = timers_key(second);
        let Some(raw) = state.get(&key).await? else {
            continue;
        };
        let mut list = TimerList::decode_cfg(raw, &()).map_err(corrupt("timer list"))?;
        let Some(pos) = list
            .entries
            .iter()
            .position(|t| t.instance == instance && t.node == node && t.at_ms == at_ms)
        else {
            continue;
        };
        list.entries.remove(pos);
        if list.entries.is_empty() {
            state.delete(key);
        } else {
            state.put(key, list.encode().to_vec());
        }
        let hour = timer_hour_key(second / 3600);
        match u64_of(state.get(&hour).await?) {
            0 | 1 => state.delete(hour),
            n => state.put(hour, (n - 1).to_be_bytes().to_vec()),
        }
        return Ok(());
    }
    Ok(())
}

/// The timers in `a` and not in `b`, each counted as often as it occurs.
fn minus(a: &[Due], b: &[Due]) -> Vec<Due> {
    let mut rest = b.to_vec();
    a.iter()
        .filter(|d| match rest.iter().position(|r| r == *d) {
            Some(pos) => {
                rest.swap_remove(pos);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

/// The text an event attribute must equal for a waiting message event.
fn correlation(inst: &Instance, variable: u16) -> Option<String> {
    let v = inst.vars.iter().find(|a| a.variable == variable)?;
    Some(match &v.value {
        ingot_bpmn::expr::Value::Text(s) => s.clone(),
        other => other.to_json().to_string().trim_matches('"').to_string(),
    })
}

async fn subscribe(
    state: &mut dyn Store,
    machine: &Machine,
    inst: &Instance,
    node: usize,
    s: &ingot_bpmn::machine::Subscription,
) -> Result<(), CallError> {
    let Some(value) = correlation(inst, s.variable) else {
        let var = machine
            .variables
            .get(s.variable as usize)
            .map(|v| v.name.as_str())
            .unwrap_or("?");
        return reject(failures::CORRELATION_UNSET.with(&[
            ("element", machine.nodes[node].id.clone()),
            ("event", format!("{}.{}", s.module, s.kind)),
            ("attribute", s.attribute.clone()),
            ("variable", var.to_string()),
        ]));
    };
    let event = format!("{}.{}", s.module, s.kind);
    let key = sub_key(&event, &s.attribute, &value);
    let mut list = match state.get(&key).await? {
        Some(raw) => SubList::decode_cfg(raw, &()).map_err(corrupt("subscriptions"))?,
        None => SubList { entries: vec![] },
    };
    if list.entries.len() >= MAX_SUBSCRIBERS {
        return reject(failures::TOO_MANY_WAITING.with(&[
            ("event", event.clone()),
            ("attribute", s.attribute.clone()),
            ("value", value.clone()),
        ]));
    }
    list.entries.push(SubRef {
        instance: inst.id.clone(),
        node: node as u16,
    });
    state.put(key, list.encode().to_vec());
    watch_attribute(state, &event, &s.attribute).await
}

/// Remember that events `event` are looked at by `attribute` (what
/// [`on_events`] reads first, so events nobody waits for cost one read).
async fn watch_attribute(
    state: &mut dyn Store,
    event: &str,
    attribute: &str,
) -> Result<(), CallError> {
    let akey = subattrs_key(event);
    let mut attrs = match state.get(&akey).await? {
        Some(raw) => Names::decode_cfg(raw, &()).map_err(corrupt("subscribed attributes"))?,
        None => Names { items: vec![] },
    };
    if !attrs.items.iter().any(|a| a == attribute) {
        if attrs.items.len() >= 64 {
            return reject(failures::TOO_MANY_ATTRIBUTES.with(&[("event", event.to_string())]));
        }
        attrs.items.push(attribute.to_string());
        state.put(akey, attrs.encode().to_vec());
    }
    Ok(())
}

fn start_sub_key(event: &str, attribute: &str, value: &str) -> Vec<u8> {
    format!(
        "workflow/startsub/{event}/{attribute}/{}",
        hex::encode(value)
    )
    .into_bytes()
}

/// Register the chain events that start instances of `name`.
async fn register_start_triggers(
    state: &mut dyn Store,
    name: &str,
    machine: &Machine,
) -> Result<(), CallError> {
    for t in machine
        .nodes
        .iter()
        .filter_map(|n| n.start_trigger.as_ref())
    {
        let event = format!("{}.{}", t.module, t.kind);
        let key = start_sub_key(&event, &t.attribute, &t.value);
        let mut names = match state.get(&key).await? {
            Some(raw) => Names::decode_cfg(raw, &()).map_err(corrupt("start subscriptions"))?,
            None => Names { items: vec![] },
        };
        if !names.items.iter().any(|n| n == name) {
            if names.items.len() >= 64 {
                return reject(failures::TOO_MANY_STARTS.with(&[
                    ("event", event.to_string()),
                    ("attribute", t.attribute.clone()),
                ]));
            }
            names.items.push(name.to_string());
            state.put(key, names.encode().to_vec());
        }
        watch_attribute(state, &event, &t.attribute).await?;
    }
    Ok(())
}

/// Start instances of the definitions whose message start event waits for
/// this event (their latest version decides).
async fn start_from_event(
    ctx: &TxContext<'_>,
    state: &mut dyn Store,
    host: &dyn Host,
    event: &Event,
    attr: &str,
    value: &str,
    depth: u8,
) -> Result<Vec<Event>, CallError> {
    let name = format!("{}.{}", event.module, event.kind);
    let Some(raw) = state.get(&start_sub_key(&name, attr, value)).await? else {
        return Ok(Vec::new());
    };
    let definitions = Names::decode_cfg(raw, &()).map_err(corrupt("start subscriptions"))?;
    let actor = actor_of(ctx);
    let mut out = Vec::new();
    for definition in definitions.items {
        let version = latest_version(state, &definition).await?;
        let Some((_, machine)) = load_definition(state, &definition, version).await? else {
            continue;
        };
        let starts: Vec<usize> = (0..machine.nodes.len())
            .filter(|&i| {
                machine.nodes[i].start_trigger.as_ref().is_some_and(|t| {
                    t.module == event.module
                        && t.kind == event.kind
                        && t.attribute == attr
                        && t.value == value
                })
            })
            .collect();
        for node in starts {
            let n = u64_of(state.get(&count_key(&definition)).await?) + 1;
            let id = instance_id(&definition, n);
            let (inst, outcome) = engine::start_by_event(
                &machine,
                version,
                id.clone(),
                &actor,
                node,
                &event.attributes,
                format!("{name} {attr}={value}"),
                ctx.block.timestamp_ms,
                ctx.block.height,
            )
            .map_err(|e| {
                CallError::Rejected(failures::EVENT_START_REFUSED.with(&[
                    ("definition", definition.clone()),
                    ("event", name.to_string()),
                    ("detail", e.message),
                ]))
            })?;
            state.put(count_key(&definition), n.to_be_bytes().to_vec());
            state.put(starter_key(&id), ctx.certificate.to_vec());
            let before = crate::before_start(&inst);
            let sc = StepContext::tx(ctx, host, &actor);
            out.extend(apply(&sc, state, &machine, &before, inst, outcome, depth).await?);
        }
    }
    Ok(out)
}

async fn unsubscribe(
    state: &mut dyn Store,
    inst: &Instance,
    node: usize,
    s: &ingot_bpmn::machine::Subscription,
) -> Result<(), CallError> {
    let Some(value) = correlation(inst, s.variable) else {
        return Ok(());
    };
    let key = sub_key(&format!("{}.{}", s.module, s.kind), &s.attribute, &value);
    let Some(raw) = state.get(&key).await? else {
        return Ok(());
    };
    let mut list = SubList::decode_cfg(raw, &()).map_err(corrupt("subscriptions"))?;
    if let Some(pos) = list
        .entries
        .iter()
        .position(|e| e.instance == inst.id && e.node as usize == node)
    {
        list.entries.remove(pos);
    }
    if list.entries.is_empty() {
        state.delete(key);
    } else {
        state.put(key, list.encode().to_vec());
    }
    Ok(())
}

/// Deliver the events a successful call emitted to the message events
/// waiting for them. Returns the events of the steps this caused.
pub fn on_events<'a>(
    ctx: &'a TxContext<'a>,
    state: &'a mut dyn Store,
    host: &'a dyn Host,
    emitted: &'a [Event],
    depth: u8,
) -> BoxFuture<'a, Result<Vec<Event>, CallError>> {
    Box::pin(async move {
        let mut out = Vec::new();
        for ev in emitted {
            if ev.module == NAME {
                continue;
            }
            let name = format!("{}.{}", ev.module, ev.kind);
            let Some(raw) = state.get(&subattrs_key(&name)).await? else {
                continue;
            };
            let attrs = Names::decode_cfg(raw, &()).map_err(corrupt("subscribed attributes"))?;
            for attr in attrs.items {
                let Some((_, value)) = ev.attributes.iter().find(|(k, _)| *k == attr) else {
                    continue;
                };
                if depth >= MAX_DEPTH {
                    return reject(failures::NESTED_TOO_DEEPLY.bare());
                }
                out.extend(start_from_event(ctx, state, host, ev, &attr, value, depth).await?);
                let Some(raw) = state.get(&sub_key(&name, &attr, value)).await? else {
                    continue;
                };
                let list = SubList::decode_cfg(raw, &()).map_err(corrupt("subscriptions"))?;
                if depth >= MAX_DEPTH {
                    return reject(failures::NESTED_TOO_DEEPLY.bare());
                }
                for sub in list.entries {
                    let (mut inst, machine) = load_instance(state, &sub.instance).await?;
                    let before = inst.clone();
                    let detail = format!("{name} {attr}={value}");
                    let outcome = engine::deliver(
                        &machine,
                        &mut inst,
                        sub.node as usize,
                        detail,
                        ctx.block.timestamp_ms,
                    )
                    .map_err(|e| delivery_refused(&inst.id, e))?;
                    if outcome.steps.is_empty() {
                        continue;
                    }
                    let actor = actor_of(ctx);
                    let sc = StepContext::tx(ctx, host, &actor);
                    out.extend(apply(&sc, state, &machine, &before, inst, outcome, depth).await?);
                }
            }
        }
        Ok(out)
    })
}

/// Fire due timers (end of block). Each instance's timer is its own unit:
/// one that fails (its continuation is refused) is reported as an event and
/// leaves the instance waiting, without holding back the others.
pub async fn end_block(
    block: ingot_module::BlockContext,
    state: &mut dyn Store,
    trust: &ingot_module::Consortium,
    host: &dyn Host,
) -> Result<Vec<Event>, CallError> {
    let now_s = block.timestamp_ms / 1000;
    let cursor = match state.get(TIMER_CURSOR).await? {
        Some(raw) => u64::from_be_bytes(raw.try_into().unwrap_or_default()),
        None => {
            state.put(TIMER_CURSOR.to_vec(), now_s.to_be_bytes().to_vec());
            state.commit_tx();
            return Ok(vec![]);
        }
    };
    if now_s <= cursor {
        return Ok(vec![]);
    }
    let mut events = Vec::new();
    // Walk second by second only through hours that hold timers; an empty
    // hour costs one read. At most MAX_CATCHUP_S seconds are walked per
    // block, so a long pause is caught up over a few blocks.
    let mut at = cursor;
    let mut walked = 0u64;
    while at < now_s && walked < MAX_CATCHUP_S {
        let hour = (at + 1) / 3600;
        let hour_end = (hour + 1) * 3600 - 1;
        let hour_key = timer_hour_key(hour);
        if u64_of(state.get(&hour_key).await?) == 0 {
            at = hour_end.min(now_s);
            continue;
        }
        while at < now_s.min(hour_end) && walked < MAX_CATCHUP_S {
            at += 1;
            walked += 1;
            let key = timers_key(at);
            let Some(raw) = state.get(&key).await? else {
                continue;
            };
            let list = TimerList::decode_cfg(raw, &()).map_err(corrupt("timer list"))?;
            state.delete(key);
            // Read afresh: a timer fired in this walk may have armed another
            // in this hour (a repetition, the next element's deadline), which
            // counted itself in; a copy kept across seconds would undo that
            // and skip the rest of the hour.
            let scheduled =
                u64_of(state.get(&hour_key).await?).saturating_sub(list.entries.len() as u64);
            if scheduled == 0 {
                state.delete(hour_key.clone());
            } else {
                state.put(hour_key.clone(), scheduled.to_be_bytes().to_vec());
            }
            state.commit_tx();
            for t in list.entries {
                match fire_one(block, state, trust, host, &t).await {
                    Ok(evs) => {
                        state.commit_tx();
                        events.extend(evs);
                    }
                    Err(CallError::Rejected(reason)) => {
                        // Retried a minute later (the instance keeps waiting;
                        // e.g. its starter's certificate may be renewed).
                        state.abort_tx();
                        schedule_timer(state, &t.instance, t.node, block.timestamp_ms + 60_000)
                            .await?;
                        state.commit_tx();
                        events.push(event(
                            NAME,
                            "timer_failed",
                            &[
                                ("instance", t.instance.clone()),
                                ("reason", host.failure_name(&reason)),
                            ],
                        ));
                    }
                    Err(e) => return Err(e),
                }
            }
            if u64_of(state.get(&hour_key).await?) == 0 {
                at = hour_end.min(now_s);
                break;
            }
        }
    }
    let end = at;
    state.put(TIMER_CURSOR.to_vec(), end.to_be_bytes().to_vec());
    Ok(events)
}

async fn fire_one(
    block: ingot_module::BlockContext,
    state: &mut dyn Store,
    trust: &ingot_module::Consortium,
    host: &dyn Host,
    t: &TimerRef,
) -> Result<Vec<Event>, CallError> {
    let (mut inst, machine) = load_instance(state, &t.instance).await?;
    let due = engine::timers(&inst)
        .iter()
        .any(|d| d.node == t.node && d.at_ms <= t.at_ms);
    if inst.state != istate::RUNNING || !due {
        return Ok(vec![]); // disarmed since it was scheduled
    }
    let before = inst.clone();
    let outcome = engine::fire_due(
        &machine,
        &mut inst,
        t.node as usize,
        Some(t.at_ms),
        block.timestamp_ms,
    )
    .map_err(engine_refused)?;
    let zero = [0u8; 32];
    // Without service calls, called processes or a return to a caller, the
    // continuation needs no identity (so a revoked starter does not stop a
    // plain timer).
    if outcome.calls.is_empty()
        && outcome.children.is_empty()
        && outcome.signals.is_empty()
        && inst.state == istate::RUNNING
    {
        let sc = StepContext {
            tx: None,
            host,
            actor: zero,
            actor_org: String::new(),
            height: block.height,
            timestamp_ms: block.timestamp_ms,
            tx_hash: ingot_module::block_receipt_id(block.height)
                .as_ref()
                .try_into()
                .unwrap_or(zero),
        };
        return apply(&sc, state, &machine, &before, inst, outcome, 0).await;
    }
    // Service calls after a timer run as the instance's starter.
    let der = state
        .get(&starter_key(&inst.id))
        .await?
        .ok_or_else(|| CallError::Rejected(failures::STARTER_CERTIFICATE_MISSING.bare()))?;
    let sender = trust.identify(&der).map_err(|e| {
        CallError::Rejected(
            failures::STARTER_CERTIFICATE_REFUSED.with(&[("reason", e.kind().to_string())]),
        )
    })?;
    if ingot_module_identity::is_revoked(state, &sender).await? {
        return reject(failures::STARTER_REVOKED.bare());
    }
    let ctx = TxContext {
        block,
        sender,
        tx_hash: ingot_module::block_receipt_id(block.height)
            .as_ref()
            .try_into()
            .unwrap_or(zero),
        trust,
        certificate: Bytes::from(der),
        chain_id: ingot_types::Digest::from([0u8; 32]),
    };
    let actor = actor_of(&ctx);
    let sc = StepContext::tx(&ctx, host, &actor);
    apply(&sc, state, &machine, &before, inst, outcome, 0).await
}

/// JSON arguments (CLI, API) to canonical ones.
pub fn args_from_json(method: &str, v: &Value) -> Result<Bytes, String> {
    let text = |k: &str| -> Result<String, String> {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("missing string field `{k}`"))
    };
    let object = |k: &str, max: usize| -> Result<String, String> {
        let s = match v.get(k) {
            None | Some(Value::Null) => String::new(),
            Some(o @ Value::Object(_)) => o.to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("`{k}` must be a JSON object")),
        };
        if s.len() > max {
            return Err(format!("`{k}` longer than {max} bytes"));
        }
        Ok(s)
    };
    Ok(match method {
        "deploy" => {
            let xml = text("xml")?;
            if xml.len() > ingot_bpmn::xml::MAX_XML_BYTES {
                return Err(format!(
                    "BPMN XML larger than {} bytes",
                    ingot_bpmn::xml::MAX_XML_BYTES
                ));
            }
            DeployArg {
                xml,
                bindings: object("bindings", MAX_BINDINGS_BYTES)?,
            }
            .encode()
        }
        "diagram" => {
            let number = |k: &str| -> Result<u64, String> {
                v.get(k)
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("missing number field `{k}`"))
            };
            let small = |k: &str, max: u64| -> Result<u64, String> {
                let n = number(k)?;
                if n > max {
                    return Err(format!("`{k}` larger than {max}"));
                }
                Ok(n)
            };
            let chunk = text("chunk")?;
            if chunk.len() > ingot_bpmn::diagram::MAX_DIAGRAM_CHUNK_BYTES {
                return Err(format!(
                    "`chunk` longer than {} bytes",
                    ingot_bpmn::diagram::MAX_DIAGRAM_CHUNK_BYTES
                ));
            }
            let sha256: [u8; 32] = hex::decode(text("sha256")?)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or("`sha256` must be 64 hexadecimal digits")?;
            diagram::DiagramArg {
                definition: text("definition")?,
                version: small("version", u32::MAX.into())? as u32,
                offset: small("offset", u32::MAX.into())? as u32,
                total: small("total", u32::MAX.into())? as u32,
                sha256,
                index: small("index", u16::MAX.into())? as u16,
                chunk,
            }
            .encode()
        }
        "start" => StartArg {
            definition: text("definition")?,
            version: v.get("version").and_then(Value::as_u64).map(|n| n as u32),
            vars: object("vars", MAX_VARS_BYTES)?,
        }
        .encode(),
        "complete" => CompleteArg {
            instance: text("instance")?,
            element: text("element")?,
            vars: object("vars", MAX_VARS_BYTES)?,
        }
        .encode(),
        "cancel" => CancelArg {
            instance: text("instance")?,
        }
        .encode(),
        other => return Err(format!("unknown method workflow.{other}")),
    })
}

pub fn args_to_json(method: &str, args: &Bytes) -> Result<Value, String> {
    // Variables as signed: the object when the text is exactly its canonical
    // form, else the text itself (a reader must never be shown `null` or a
    // tidied object for bytes that say something else; found by the
    // `module_call_args` fuzz target).
    let vars = |s: &str| match serde_json::from_str::<Value>(s) {
        _ if s.is_empty() => Value::Null,
        Ok(o @ Value::Object(_)) if serde_json::to_string(&o).is_ok_and(|t| t == s) => o,
        _ => Value::String(s.to_string()),
    };
    Ok(match method {
        "deploy" => {
            let a: DeployArg = decode(args)?;
            json!({"xml_hash": hex::encode(ingot_types::sha256(&[a.xml.as_bytes()])), "xml_bytes": a.xml.len(), "bindings": vars(&a.bindings)})
        }
        "diagram" => {
            let a: diagram::DiagramArg = decode(args)?;
            json!({"definition": a.definition, "version": a.version, "offset": a.offset, "total": a.total, "sha256": hex::encode(a.sha256), "index": a.index, "chunk_bytes": a.chunk.len()})
        }
        "start" => {
            let a: StartArg = decode(args)?;
            json!({"definition": a.definition, "version": a.version, "vars": vars(&a.vars)})
        }
        "complete" => {
            let a: CompleteArg = decode(args)?;
            json!({"instance": a.instance, "element": a.element, "vars": vars(&a.vars)})
        }
        "cancel" => {
            let a: CancelArg = decode(args)?;
            json!({"instance": a.instance})
        }
        _ => return Err(String::new()),
    })
}

/// The JSON view of an instance for queries.
pub fn instance_json(machine: &Machine, inst: &Instance) -> Value {
    let vars: serde_json::Map<String, Value> = engine::variables(machine, inst)
        .into_iter()
        .map(|(k, v)| (k, v.to_json()))
        .collect();
    json!({
        "id": inst.id,
        "definition": inst.definition,
        "version": inst.version,
        "state": istate::name(inst.state),
        "active": engine::waiting(machine, inst),
        "variables": vars,
        // A timer of a parallel subprocess's instance names it (loopCounter).
        "timers": engine::timers_by_instance(inst).iter().map(|(d, counter)| json!({
            "element": machine.nodes.get(d.node as usize).map(|n| n.id.clone()),
            "due_ms": d.at_ms,
            "loopCounter": counter,
        })).collect::<Vec<_>>(),
        // Looping tasks under way: a person completing one instance of a
        // parallel multi-instance task names it by its loopCounter (one of
        // `open`), and sees the item it is about.
        "loops": inst.loops.iter().map(|l| json!({
            "element": machine.nodes.get(l.node as usize).map(|n| n.id.clone()),
            "completed": l.done,
            "instances": l.total,
            "open": engine::live_instances(machine, inst, l.node as usize),
            "items": l.items,
        })).collect::<Vec<_>>(),
        // Instances of parallel multi-instance subprocesses under way: a
        // person completing a task in one names it by its loopCounter.
        "subprocess_instances": engine::subprocess_instances(machine, inst).into_iter().map(|b| json!({
            "element": b.subprocess,
            "loopCounter": b.counter,
            "active": b.waiting,
            "variables": b.locals.into_iter().map(|(k, v)| (k, v.to_json())).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
        "pending_messages": inst.pending.iter().filter_map(|&m| machine.messages.get(m as usize).map(|m| m.id.clone())).collect::<Vec<_>>(),
        "starter": hex::encode(inst.starter),
        "starter_org": inst.starter_org,
        "created_ms": inst.created_ms,
        "updated_ms": inst.updated_ms,
        "created_height": inst.created_height,
        "history_entries": inst.steps,
    })
}

impl HistoryEntry {
    /// One JSON object per step, each with the move's actor, time and transaction.
    pub fn to_json_steps(&self) -> Vec<Value> {
        self.steps
            .iter()
            .map(|s| {
                json!({
                    "entry": self.seq,
                    "element": s.element,
                    "name": s.name,
                    "action": s.action,
                    "detail": s.detail,
                    "actor": hex::encode(self.actor),
                    "actor_org": self.actor_org,
                    "height": self.height,
                    "timestamp_ms": self.timestamp_ms,
                    "tx_hash": hex::encode(self.tx_hash),
                    "vars": serde_json::from_str::<Value>(&s.vars).unwrap_or(Value::Null),
                })
            })
            .collect()
    }
}

// ---- Read model (see `crate::visibility`) ---------------------------------
//
// Definitions (machine, XML, bindings, counts) are the consortium's shared
// process library: every member reads them, so any organisation can check
// the rules it is asked to play by. An instance (its variables — order
// amounts, prices —, history and starter) is its participants' business:
// every organisation or member a lane, the start or the cancel right of its
// definition names, its starter's organisation, and regulators. A definition
// that lets `any` member act makes its instances readable by every member.
// Timer and subscription indexes are bookkeeping: regulators only.

/// The participants a definition names, or `Members` when it admits `any`.
pub fn machine_audience(machine: &Machine) -> ingot_module::visibility::Audience {
    use ingot_module::visibility::{Audience, Parties};
    let mut parties = Parties {
        regulators: true,
        ..Parties::default()
    };
    let specs = machine
        .nodes
        .iter()
        .flat_map(|n| n.allowed.iter())
        .chain(&machine.start_allowed)
        .chain(&machine.cancel_allowed);
    for spec in specs {
        if spec == "any" {
            return Audience::Members;
        }
        if let Some(rest) = spec.strip_prefix("org:") {
            let org = rest.split_once('/').map_or(rest, |(org, _)| org);
            parties.orgs.insert(org.to_string());
        } else if let Some(h) = spec.strip_prefix("member:") {
            if let Some(hash) = hex::decode(h)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            {
                parties.members.insert(hash);
            }
        }
    }
    Audience::Parties(parties)
}

async fn stored_machine(
    state: &dyn ingot_module::StateRead,
    name: &str,
    version: u32,
) -> Result<Option<Machine>, ingot_state::StateError> {
    Ok(state
        .get(&def_key(name, version))
        .await?
        .and_then(|raw| Definition::decode_cfg(raw, &()).ok())
        .and_then(|def| Machine::decode_cfg(def.machine, &()).ok()))
}

/// The audience of an instance's data (regulators alone for an unknown one).
pub async fn instance_audience(
    state: &dyn ingot_module::StateRead,
    id: &str,
) -> Result<ingot_module::visibility::Audience, ingot_state::StateError> {
    use ingot_module::visibility::Audience;
    if id.len() > MAX_INSTANCE_ID {
        return Ok(Audience::regulators_only());
    }
    let Some(inst) = state
        .get(&instance_key(id))
        .await?
        .and_then(|raw| Instance::decode_cfg(raw, &()).ok())
    else {
        return Ok(Audience::regulators_only());
    };
    let Some(machine) = stored_machine(state, &inst.definition, inst.version).await? else {
        return Ok(Audience::regulators_only());
    };
    Ok(match machine_audience(&machine) {
        Audience::Parties(mut p) => {
            p.orgs.insert(inst.starter_org.clone());
            p.members.insert(inst.starter);
            Audience::Parties(p)
        }
        other => other,
    })
}

/// The key prefixes this module owns and who reads each (see
/// [`ingot_module::visibility::KeyDecl`]).
pub const KEYS: &[ingot_module::visibility::KeyDecl] = {
    use ingot_module::visibility::{IdAt, KeyDecl, Rule};
    &[
        KeyDecl::new("workflow/def/", Rule::Members),
        KeyDecl::new("workflow/xml/", Rule::Members),
        KeyDecl::new("workflow/diagram/", Rule::Members),
        KeyDecl::new("workflow/diagchunk/", Rule::Members),
        KeyDecl::new("workflow/bind/", Rule::Members),
        KeyDecl::new("workflow/latest/", Rule::Members),
        KeyDecl::new("workflow/names/", Rule::Members),
        KeyDecl::new("workflow/count/", Rule::Members),
        KeyDecl::new("workflow/inst/", Rule::Instance(IdAt::Whole)),
        KeyDecl::new("workflow/starter/", Rule::Instance(IdAt::Whole)),
        KeyDecl::new("workflow/parent/", Rule::Instance(IdAt::Whole)),
        KeyDecl::new("workflow/child/", Rule::Instance(IdAt::BeforeLastSegment)),
        KeyDecl::new("workflow/hist/", Rule::Instance(IdAt::BeforeLastSegment)),
        KeyDecl::new("workflow/timerhours/", Rule::RegulatorsOnly),
        KeyDecl::new("workflow/timers/", Rule::RegulatorsOnly),
        KeyDecl::new("workflow/sub/", Rule::RegulatorsOnly),
        KeyDecl::new("workflow/subattrs/", Rule::RegulatorsOnly),
        KeyDecl::new("workflow/startsub/", Rule::RegulatorsOnly),
        KeyDecl::new("workflow/sigwait/", Rule::RegulatorsOnly),
        KeyDecl::new("workflow/sigstart/", Rule::RegulatorsOnly),
    ]
};

/// Who reads a workflow call: a deployment every member (it publishes a
/// definition); a start, completion or cancellation the instance's audience.
pub async fn call_audience(
    state: &dyn ingot_module::StateRead,
    call: &Call,
    sender: &ingot_crypto::Identity,
) -> Result<ingot_module::visibility::Audience, ingot_state::StateError> {
    use ingot_module::visibility::{Audience, Parties};
    let fallback = Audience::Parties(Parties::org_and_regulators(sender.org.clone()));
    Ok(match call.method.as_str() {
        "deploy" | "diagram" => Audience::Members,
        "start" => match decode::<StartArg>(&call.args) {
            Ok(arg) => {
                let version = match arg.version {
                    Some(v) => v,
                    None => u32_of(state.get(&latest_key(&arg.definition)).await?),
                };
                match stored_machine(state, &arg.definition, version).await? {
                    Some(m) => match machine_audience(&m) {
                        Audience::Parties(mut p) => {
                            p.orgs.insert(sender.org.clone());
                            Audience::Parties(p)
                        }
                        other => other,
                    },
                    None => fallback,
                }
            }
            Err(_) => fallback,
        },
        "complete" => match decode::<CompleteArg>(&call.args) {
            Ok(arg) => instance_audience(state, &arg.instance).await?,
            Err(_) => fallback,
        },
        "cancel" => match decode::<CancelArg>(&call.args) {
            Ok(arg) => instance_audience(state, &arg.instance).await?,
            Err(_) => fallback,
        },
        _ => fallback,
    })
}

/// Who receives a workflow event: `deployed` every member; an instance's
/// events its audience.
pub async fn event_audience(
    state: &dyn ingot_module::StateRead,
    e: &Event,
) -> Result<ingot_module::visibility::Audience, ingot_state::StateError> {
    use ingot_module::visibility::{attribute, Audience};
    if e.kind == "deployed" || e.kind == "diagram_attached" {
        return Ok(Audience::Members);
    }
    match attribute(e, "instance") {
        Some(id) => instance_audience(state, id).await,
        None => Ok(Audience::regulators_only()),
    }
}

#[cfg(test)]
mod args_tests {
    use super::*;

    /// What a reader is shown of a workflow call's variables is what was
    /// signed: canonical objects as objects, anything else as its text —
    /// which, sent back, builds the same arguments.
    #[test]
    fn rendered_variables_are_the_signed_text() {
        for vars in [
            "",
            r#"{"a":1,"b":"x"}"#,
            r#"{ "b": 1, "a": 2 }"#,
            "not json",
            "5",
        ] {
            let args = CompleteArg {
                instance: "i-1".into(),
                element: "Task_1".into(),
                vars: vars.into(),
            }
            .encode();
            let json = args_to_json("complete", &args).unwrap();
            if !vars.is_empty() {
                assert_ne!(json["vars"], Value::Null, "{vars}");
            }
            assert_eq!(
                args_from_json("complete", &json).unwrap(),
                args,
                "{vars}: {json}"
            );
        }
    }
}
