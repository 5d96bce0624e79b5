//! `telemetry` as the executor sees it.

use crate::{failures, rule_target_audience, KEYS, NAME, READ_OPERATION};
use bytes::Bytes;
use ingot_module::{
    Audience, BlockContext, BoxFuture, CallResult, EventDecl, Host, KeyDecl, MethodDecl, Module,
    ModuleInfo, Rule, StateRead, Store, TxContext,
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

/// The methods `telemetry` serves.
pub const METHODS: &[MethodDecl] = &[
    MethodDecl {
        name: "anchor",
        who: "any member (in practice the edge gateway's member certificate); devices may not call it",
        example_args: "",
        doc: "Anchors batches of signed device readings (each judged on its own). No JSON form: the arguments are the binary AnchorArg a gateway builds (docs/device-protocol.md).",
    },
    MethodDecl {
        name: "set_rule",
        who: "a member or admin (not a device): of the device's owner organisation for device:<id>; any organisation for model:<model> (applies to its own devices)",
        example_args: r#"{"id":"overheat","target":"device:acme:SN-0001","kind":"above_for","measurement":"temperature","value":"80.5","duration_ms":60000}"#,
        doc: "Sets or replaces a rule (max 16 per target). kind: above, below, rate_of_change, above_for, missing_heartbeat, device_signed; value is a decimal.",
    },
    MethodDecl {
        name: "remove_rule",
        who: "a member or admin (not a device) of the device's owner organisation, or of the organisation whose model rule it is",
        example_args: r#"{"target":"device:acme:SN-0001","id":"overheat"}"#,
        doc: "Removes a rule from a device:<id> or model:<model> target.",
    },
];

const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: &[],
    nestable: true,
    events: EVENTS,
    methods: METHODS,
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
