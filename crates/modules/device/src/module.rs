//! `device` as the executor sees it.

use crate::{failures, owner_audience, DEVICE_METHODS, KEYS, NAME};
use bytes::Bytes;
use ingot_module::{
    Audience, BoxFuture, CallResult, Host, KeyDecl, Module, ModuleInfo, Rule, StateRead, Store,
    TxContext,
};
use ingot_state::StateError;
use ingot_types::Call;
use serde_json::Value;

/// The `device` module.
pub struct DeviceModule;

const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: DEVICE_METHODS,
    nestable: true,
};

impl Module for DeviceModule {
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
                Rule::DeviceOwner(at) => {
                    Audience::Parties(owner_audience(state, at.id(rest)).await?)
                }
                _ => Audience::regulators_only(),
            })
        })
    }
}
