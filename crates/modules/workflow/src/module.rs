//! `workflow` as the executor sees it.

use crate::{failures, instance_audience, KEYS, NAME};
use bytes::Bytes;
use ingot_crypto::Identity;
use ingot_module::{
    Audience, BlockContext, BoxFuture, CallResult, EventDecl, Host, KeyDecl, MethodDecl, Module,
    ModuleInfo, Rule, StateRead, Store, TxContext,
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

/// The methods `workflow` serves.
pub const METHODS: &[MethodDecl] = &[
    MethodDecl {
        name: "deploy",
        who: "any member of an organisation allowed to deploy (all, unless governance set_deployers named some); later versions only by the organisation of version 1",
        example_args: r#"{"xml":"<?xml version=\"1.0\" encoding=\"UTF-8\"?><bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" id=\"D\"><bpmn:process id=\"P\" isExecutable=\"true\"><bpmn:startEvent id=\"Start\"/><bpmn:userTask id=\"Task_approve\" name=\"Approve\"/><bpmn:endEvent id=\"End\"/><bpmn:sequenceFlow id=\"F1\" sourceRef=\"Start\" targetRef=\"Task_approve\"/><bpmn:sequenceFlow id=\"F2\" sourceRef=\"Task_approve\" targetRef=\"End\"/></bpmn:process></bpmn:definitions>","bindings":{"name":"approval","participants":{"P":"org:acme"},"variables":{"approved":"boolean"},"outputs":{"Task_approve":["approved"]}}}"#,
        doc: "Validates and compiles BPMN XML (at most 40 KiB) with its bindings and stores it as the next version of the definition.",
    },
    MethodDecl {
        name: "diagram",
        who: "a member of the organisation that deployed that definition version",
        example_args: r#"{"definition":"approval","version":1,"offset":120,"total":2048,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","index":0,"chunk":"<bpmndi:BPMNDiagram id=\"BPMNDiagram_1\">"}"#,
        doc: "Sends one chunk (in order from 0) of a deployed version's BPMN diagram interchange; the last chunk checks the digest and attaches it for good.",
    },
    MethodDecl {
        name: "start",
        who: "whoever the definition allows to start (bindings.start, else the start event's lane or pool binding)",
        example_args: r#"{"definition":"approval","version":1,"vars":{}}"#,
        doc: "Starts an instance <definition>-<n> of the given version (latest if omitted) with its start variables.",
    },
    MethodDecl {
        name: "complete",
        who: "a member allowed by the task's lane or pool binding",
        example_args: r#"{"instance":"approval-1","element":"Task_approve","vars":{"approved":true}}"#,
        doc: "Completes a waiting person task of an instance with its output variables, moving the instance on.",
    },
    MethodDecl {
        name: "cancel",
        who: "whoever bindings.cancel allows (default: the instance's starter)",
        example_args: r#"{"instance":"approval-1"}"#,
        doc: "Cancels a running instance; an instance started by a call activity is cancelled through its caller.",
    },
];

/// A service task may not start or move another process: nesting stays one
/// level deep and bounded.
const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: &[],
    nestable: false,
    events: EVENTS,
    methods: METHODS,
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
