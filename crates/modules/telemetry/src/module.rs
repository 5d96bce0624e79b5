//! `telemetry` as the executor sees it.

use crate::{failures, rule_target_audience, KEYS, NAME, READ_OPERATION};
use bytes::Bytes;
use ingot_module::{
    Audience, BlockContext, BoxFuture, CallResult, EventDecl, Host, KeyDecl, Module, ModuleInfo,
    Rule, StateRead, Store, TxContext,
};
use ingot_state::StateError;
use ingot_types::Call;
use serde_json::Value;

/// The events `telemetry` emits.
pub const EVENTS: &[EventDecl] = &[
    EventDecl::new(
        "anchored",
        &["batches", "refused", "readings", "commitments_root"],
        "a gateway anchored reading batches",
    ),
    EventDecl::new(
        "refused",
        &["index", "device_id", "first_seq", "count", "reason"],
        "one batch of an anchor was refused (reason: the failure's stable name, then its detail)",
    )
    .with_failure_detail(),
    EventDecl::new(
        "attested",
        &["index", "device_id", "gateway", "owner"],
        "an accepted batch was signed by the equipment's gateway, not by a device (gateway-attested)",
    ),
    EventDecl::new(
        "gap",
        &["device_id", "from_seq", "to_seq", "missing", "owner"],
        "a device's readings skipped sequence numbers",
    ),
    EventDecl::new(
        "rule",
        &[
            "rule_id",
            "target",
            "device_id",
            "kind",
            "state",
            "owner",
            "measurement",
            "value",
            "unit",
            "seq",
            "silent_since_ms",
            "at_ms",
        ],
        "a rule's condition started (state fired) or stopped (state cleared) holding",
    ),
    EventDecl::new(
        "rule_set",
        &[
            "rule_id",
            "target",
            "kind",
            "measurement",
            "value",
            "duration_ms",
            "owner",
        ],
        "a rule was set on a device or a model",
    ),
    EventDecl::new(
        "rule_removed",
        &["rule_id", "target", "owner"],
        "a rule was removed",
    ),
];

/// The `telemetry` module.
pub struct TelemetryModule;

const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: &[],
    nestable: true,
    events: EVENTS,
};

impl Module for TelemetryModule {
    fn info(&self) -> &'static ModuleInfo {
        &INFO
    }

    fn call<'a>(
        &'a self,
        ctx: &'a TxContext<'a>,
        state: &'a mut dyn Store,
        _host: &'a dyn Host,
        call: &'a Call,
    ) -> BoxFuture<'a, CallResult> {
        Box::pin(crate::call(ctx, state, call))
    }

    /// Missing-heartbeat rules fire by block time.
    fn end_block<'a>(
        &'a self,
        block: BlockContext,
        _trust: &'a ingot_module::Consortium,
        state: &'a mut dyn Store,
        _host: &'a dyn Host,
    ) -> BoxFuture<'a, CallResult> {
        Box::pin(crate::end_block(block, state))
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
                Rule::Telemetry(at) => {
                    let id = at.id(rest);
                    let mut parties = ingot_module_device::owner_audience(state, id).await?;
                    parties.grantees = Some((id.to_string(), READ_OPERATION));
                    Audience::Parties(parties)
                }
                Rule::RuleTarget => Audience::Parties(rule_target_audience(state, rest).await?),
                _ => Audience::regulators_only(),
            })
        })
    }
}
