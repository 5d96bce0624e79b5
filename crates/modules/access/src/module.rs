//! `access` as the executor sees it.

use crate::{failures, policy_audience, token_parties, KEYS, NAME};
use bytes::Bytes;
use ingot_crypto::Identity;
use ingot_module::{
    Audience, BoxFuture, CallResult, EventDecl, Host, KeyDecl, Module, ModuleInfo, Parties, Rule,
    StateRead, Store, TxContext,
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

const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: DEVICE_METHODS,
    nestable: true,
    events: EVENTS,
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
