//! `governance` as the executor sees it.

use crate::{failures, Action, ProposeArg, VoteArg, KEYS, NAME};
use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use ingot_crypto::Identity;
use ingot_module::{
    decode, Audience, BlockContext, BoxFuture, CallResult, Consortium, EventDecl, Host, MethodDecl,
    Module, ModuleInfo, StateRead, Store, TxContext,
};
use ingot_state::StateError;
use ingot_types::{Call, Event};
use serde_json::{json, Value};

/// The events `governance` emits.
pub const EVENTS: &[EventDecl] = &[
    EventDecl::new(
        "proposed",
        &["proposal", "action", "subject", "proposer", "expires"],
        "an admin proposed a change; it counts as the proposing organisation's approval",
    ),
    EventDecl::new(
        "voted",
        &["proposal", "org", "approve", "weight"],
        "an organisation's admin voted on a proposal",
    ),
    EventDecl::new(
        "approved",
        &["proposal", "yes", "no", "total", "holds_from"],
        "the thresholds approved a proposal; its change holds from `holds_from`",
    ),
    EventDecl::new(
        "rejected",
        &["proposal", "yes", "no", "total"],
        "no further vote could approve the proposal",
    ),
    EventDecl::new(
        "expired",
        &["proposal", "yes", "no", "total"],
        "the proposal's voting ended without reaching the thresholds",
    ),
    EventDecl::new(
        "applied",
        &["proposal", "action", "subject", "holds_from", "consortium"],
        "an approved change was applied at the end of the block before it holds",
    ),
    EventDecl::new(
        "apply_failed",
        &["proposal", "reason"],
        "an approved change no longer applied to the consortium as it had become",
    ),
];

/// The `governance` module.
pub struct GovernanceModule;

/// The methods `governance` serves.
pub const METHODS: &[MethodDecl] = &[
    MethodDecl {
        name: "propose",
        who: "an organisation admin (not a device)",
        example_args: r#"{"action":{"kind":"set_weight","org":"acme","weight":2}}"#,
        doc: "Proposes a change; counts as the proposer org's yes; optional effective_at height. Kinds: add_org{name,org_kind?,ca_pem,weight?}, remove_org{name}, replace_ca{org,ca_pem,old_until}, set_rules{participation_pct,approval_pct,proposal_ttl_blocks}, set_weight{org,weight}, set_deployers{module,orgs}, set_params{max_block_txs?,idle_heartbeat_ms?,max_work_per_tx?}, add_observer{name,org,public_key,p2p_address}, remove_observer{public_key}.",
    },
    MethodDecl {
        name: "vote",
        who: "an organisation admin (not a device), once per organisation; the proposer's organisation has already voted yes",
        example_args: r#"{"proposal":1,"approve":true}"#,
        doc: "Votes on an open proposal; it is decided as soon as the weighted tally makes the outcome certain, else at its last voting height.",
    },
];

const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: &[],
    // A BPMN service task must not change the consortium on a process's behalf.
    nestable: false,
    events: EVENTS,
    methods: METHODS,
};

impl Module for GovernanceModule {
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

    fn end_block<'a>(
        &'a self,
        block: BlockContext,
        consortium: &'a Consortium,
        state: &'a mut dyn Store,
        _host: &'a dyn Host,
    ) -> BoxFuture<'a, CallResult> {
        Box::pin(crate::apply::end_block(block, consortium, state))
    }

    fn args_from_json(&self, method: &str, v: &Value) -> Result<Bytes, String> {
        let allow = |fields: &[&str]| -> Result<(), String> {
            match v
                .as_object()
                .and_then(|o| o.keys().find(|k| !fields.contains(&k.as_str())))
            {
                Some(extra) => Err(format!(
                    "{NAME}.{method} has no field `{extra}` (fields: {})",
                    fields.join(", ")
                )),
                None => Ok(()),
            }
        };
        match method {
            "propose" => {
                allow(&["action", "effective_at"])?;
                let action =
                    Action::from_json(v.get("action").ok_or("missing object field `action`")?)?;
                Ok(ProposeArg {
                    action: action.encode(),
                    effective_at: match v.get("effective_at") {
                        None => 0,
                        Some(h) => h.as_u64().ok_or("`effective_at` is a height")?,
                    },
                }
                .encode())
            }
            "vote" => {
                allow(&["proposal", "approve"])?;
                Ok(VoteArg {
                    proposal: v
                        .get("proposal")
                        .and_then(Value::as_u64)
                        .ok_or("missing integer field `proposal`")?,
                    approve: v
                        .get("approve")
                        .and_then(Value::as_bool)
                        .ok_or("missing boolean field `approve`")?,
                }
                .encode())
            }
            _ => Err(format!("unknown call {NAME}.{method}")),
        }
    }

    fn args_to_json(&self, method: &str, args: &Bytes) -> Result<Value, String> {
        match method {
            "propose" => decode::<ProposeArg>(args).map(|a| {
                let action = Action::decode_cfg(a.action.clone(), &())
                    .map(|a| a.to_json())
                    .unwrap_or(Value::Null);
                json!({"action": action, "effective_at": a.effective_at})
            }),
            "vote" => decode::<VoteArg>(args)
                .map(|a| json!({"proposal": a.proposal, "approve": a.approve})),
            _ => Err(String::new()),
        }
    }

    /// Governance is the whole consortium's business: every member reads
    /// proposals, votes and their outcome.
    fn call_audience<'a>(
        &'a self,
        _state: &'a dyn StateRead,
        _call: &'a Call,
        _sender: &'a Identity,
        _events: &'a [Event],
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        Box::pin(async { Ok(Audience::Members) })
    }

    fn event_audience<'a>(
        &'a self,
        _state: &'a dyn StateRead,
        _event: &'a Event,
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        Box::pin(async { Ok(Audience::Members) })
    }
}
