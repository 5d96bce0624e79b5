//! `device` as the executor sees it.

use crate::{failures, owner_audience, DEVICE_METHODS, KEYS, NAME};
use bytes::Bytes;
use ingot_module::{
    Audience, BoxFuture, CallResult, Code, Host, KeyDecl, Module, Rule, StateRead, Store, TxContext,
};
use ingot_state::StateError;
use ingot_types::Call;
use serde_json::Value;

/// The `device` module.
pub struct DeviceModule;

impl Module for DeviceModule {
    fn name(&self) -> &'static str {
        NAME
    }

    fn keys(&self) -> &'static [KeyDecl] {
        KEYS
    }

    fn failures(&self) -> &'static [Code] {
        failures::ALL
    }

    fn device_methods(&self) -> &'static [&'static str] {
        DEVICE_METHODS
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
                Rule::DeviceOwner(at) => {
                    Audience::Parties(owner_audience(state, at.id(rest)).await?)
                }
                _ => Audience::regulators_only(),
            })
        })
    }
}
