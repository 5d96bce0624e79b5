//! `workflow` as the executor sees it.

use crate::{failures, instance_audience, KEYS, NAME};
use bytes::Bytes;
use ingot_crypto::Identity;
use ingot_module::{
    Audience, BlockContext, BoxFuture, CallResult, EventDecl, Host, KeyDecl, Module, ModuleInfo,
    Rule, StateRead, Store, TxContext,
};
use ingot_state::StateError;
use ingot_types::{Call, Event};
use serde_json::Value;

/// Attributes of an instance's end events.
const ENDED: &[&str] = &["instance", "definition"];

/// The events `workflow` emits.
pub const EVENTS: &[EventDecl] = &[
    EventDecl::new(
        "deployed",
        &["definition", "version", "org", "xml_hash"],
        "a process definition version was deployed",
    ),
    EventDecl::new(
        "diagram_attached",
        &["definition", "version", "bytes", "sha256"],
        "a deployed version's diagram interchange was attached, complete and checked",
    ),
    EventDecl::new(
        "step",
        &[
            "instance",
            "definition",
            "version",
            "element",
            "name",
            "action",
            "detail",
            "actor",
            "actor_org",
            "time_ms",
            "vars",
        ],
        "an instance moved through one element",
    ),
    EventDecl::new("completed", ENDED, "an instance reached its end"),
    EventDecl::new(
        "terminated",
        ENDED,
        "an instance reached a terminate end event",
    ),
    EventDecl::new("cancelled", ENDED, "an instance was cancelled"),
    EventDecl::new(
        "timer_failed",
        &["instance", "reason"],
        "a due timer's continuation was refused; retried a minute later",
    ),
];

/// The `workflow` module.
pub struct WorkflowModule;

/// A service task may not start or move another process: nesting stays one
/// level deep and bounded.
const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: &[],
    nestable: false,
    events: EVENTS,
};

impl Module for WorkflowModule {
    fn info(&self) -> &'static ModuleInfo {
        &INFO
    }

    fn call<'a>(
        &'a self,
        ctx: &'a TxContext<'a>,
        state: &'a mut dyn Store,
        host: &'a dyn Host,
        call: &'a Call,
    ) -> BoxFuture<'a, CallResult> {
        crate::call(ctx, state, host, call)
    }

    /// Message events waiting for another module's events move.
    fn on_events<'a>(
        &'a self,
        ctx: &'a TxContext<'a>,
        state: &'a mut dyn Store,
        host: &'a dyn Host,
        events: &'a [Event],
        depth: u8,
    ) -> BoxFuture<'a, CallResult> {
        crate::on_events(ctx, state, host, events, depth)
    }

    /// Timers fire by block time.
    fn end_block<'a>(
        &'a self,
        block: BlockContext,
        trust: &'a ingot_module::Consortium,
        state: &'a mut dyn Store,
        host: &'a dyn Host,
    ) -> BoxFuture<'a, CallResult> {
        Box::pin(crate::end_block(block, state, trust, host))
    }

    fn args_from_json(&self, method: &str, v: &Value) -> Result<Bytes, String> {
        crate::args_from_json(method, v)
    }

    fn args_to_json(&self, method: &str, args: &Bytes) -> Result<Value, String> {
        crate::args_to_json(method, args)
    }

    fn key_audience<'a>(
        &'a self,
        state: &'a dyn StateRead,
        decl: &'a KeyDecl,
        rest: &'a str,
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        Box::pin(async move {
            Ok(match decl.rule {
                Rule::Instance(at) => instance_audience(state, at.id(rest)).await?,
                _ => Audience::regulators_only(),
            })
        })
    }

    fn call_audience<'a>(
        &'a self,
        state: &'a dyn StateRead,
        call: &'a Call,
        sender: &'a Identity,
        _events: &'a [Event],
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        Box::pin(crate::call_audience(state, call, sender))
    }

    fn event_audience<'a>(
        &'a self,
        state: &'a dyn StateRead,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        Box::pin(crate::event_audience(state, event))
    }
}
