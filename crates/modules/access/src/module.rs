//! `access` as the executor sees it.

use crate::{failures, policy_audience, token_parties, KEYS, NAME};
use bytes::Bytes;
use ingot_crypto::Identity;
use ingot_module::{
    Audience, BoxFuture, CallResult, EventDecl, Host, KeyDecl, MethodDecl, Module, ModuleInfo,
    Parties, Rule, StateRead, Store, TxContext,
};
use ingot_state::StateError;
use ingot_types::{Call, Event};
use serde_json::Value;

/// The events `access` emits.
pub const EVENTS: &[EventDecl] = &[
    EventDecl::new(
        "policy_set",
        &["target", "accessor", "operations", "owner"],
        "a device's owner granted access",
    ),
    EventDecl::new(
        "policy_revoked",
        &["target", "accessor", "operations", "owner"],
        "a device's owner withdrew access",
    ),
    EventDecl::new(
        "granted",
        &[
            "device_id",
            "operation",
            "accessor",
            "owner",
            "token_id",
            "token",
            "expires_ms",
            "address",
        ],
        "an access request was granted with a one-time token (requester and owner only)",
    ),
    EventDecl::new(
        "denied",
        &["device_id", "operation", "accessor", "owner", "reason"],
        "an access request was denied (reason: the failure's stable name)",
    ),
    EventDecl::new(
        "redeemed",
        &["token_id", "device_id", "operation", "owner"],
        "a device redeemed a one-time token",
    ),
];

/// The `access` module.
pub struct AccessModule;

/// The methods `access` serves.
pub const METHODS: &[MethodDecl] = &[
    MethodDecl {
        name: "set_policy",
        who: "a member or admin (not a device) of the device's owner organisation, or of the organisation holding the name prefix",
        example_args: r#"{"target":"device:acme:SN-0001","accessor":"org:beta","operations":["telemetry.read","open_valve"],"not_after_ms":1798761600000,"max_uses":10,"hour_from":8,"hour_to":18}"#,
        doc: "Grants (or replaces) an accessor (member:<id>, org:<name>, device:<id>) operations on device:<id> or name:<prefix>, with optional window, uses and UTC hours; empty operations revokes.",
    },
    MethodDecl {
        name: "request",
        who: "any member, or a device signing with its own current key while active",
        example_args: r#"{"device_id":"acme:SN-0001","operation":"open_valve"}"#,
        doc: "Asks for access: the chain checks policies and logs a grant with a one-time token (valid 5 minutes at most) or a denial with its reason.",
    },
    MethodDecl {
        name: "redeem",
        who: "only the device the token was issued for, with its own current key (device-only)",
        example_args: r#"{"token_id":"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}"#,
        doc: "The device burns an unexpired access token on chain so it cannot be used again.",
    },
];

const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: DEVICE_METHODS,
    nestable: true,
    events: EVENTS,
    methods: METHODS,
};

/// A device asks for access and redeems tokens itself.
const DEVICE_METHODS: &[&str] = &["request", "redeem"];

impl Module for AccessModule {
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
                Rule::Policy => policy_audience(state, &format!("{}{rest}", decl.prefix)).await?,
                Rule::Token => match hex::decode(rest)
                    .ok()
                    .and_then(|b| <[u8; 32]>::try_from(b).ok())
                {
                    Some(id) => Audience::Parties(token_parties(state, &id).await?),
                    None => Audience::Parties(Parties::default()),
                },
                Rule::DeviceOwner(at) => Audience::Parties(
                    ingot_module_device::owner_audience(state, at.id(rest)).await?,
                ),
                _ => Audience::regulators_only(),
            })
        })
    }

    fn call_audience<'a>(
        &'a self,
        _state: &'a dyn StateRead,
        call: &'a Call,
        sender: &'a Identity,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        let audience = crate::call_audience(call, sender, events);
        Box::pin(async move { Ok(audience) })
    }

    fn event_audience<'a>(
        &'a self,
        _state: &'a dyn StateRead,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<Audience, StateError>> {
        let audience = crate::event_audience(event);
        Box::pin(async move { Ok(audience) })
    }
}
