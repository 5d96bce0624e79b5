//! `device` as the executor sees it.

use crate::{failures, owner_audience, DEVICE_METHODS, KEYS, NAME};
use bytes::Bytes;
use ingot_module::{
    Audience, BoxFuture, CallResult, EventDecl, Host, KeyDecl, Module, ModuleInfo, Rule, StateRead,
    Store, TxContext,
};
use ingot_state::StateError;
use ingot_types::Call;
use serde_json::Value;

/// Attributes of every lifecycle event (one history entry each).
const LIFECYCLE: &[&str] = &["device_id", "name", "owner", "status", "detail"];

/// The events `device` emits.
pub const EVENTS: &[EventDecl] = &[
    EventDecl::new(
        "registered",
        LIFECYCLE,
        "a device was registered under its name",
    ),
    EventDecl::new(
        "activated",
        LIFECYCLE,
        "a registered device was put into service",
    ),
    EventDecl::new(
        "reactivated",
        LIFECYCLE,
        "a suspended device was put back into service",
    ),
    EventDecl::new(
        "suspended",
        LIFECYCLE,
        "a device was suspended (detail: reason)",
    ),
    EventDecl::new(
        "decommissioned",
        LIFECYCLE,
        "a device was decommissioned for good (detail: reason)",
    ),
    EventDecl::new("metadata_updated", LIFECYCLE, "a device's metadata changed"),
    EventDecl::new(
        "firmware_updated",
        LIFECYCLE,
        "a device reported new firmware",
    ),
    EventDecl::new(
        "key_rotated",
        LIFECYCLE,
        "a device's certificate was replaced",
    ),
    EventDecl::new(
        "state_reported",
        LIFECYCLE,
        "a device reported its operating state",
    ),
    EventDecl::new(
        "maintenance_requested",
        LIFECYCLE,
        "a device asked for maintenance",
    ),
    EventDecl::new(
        "maintenance_recorded",
        LIFECYCLE,
        "maintenance was recorded on a device",
    ),
    EventDecl::new(
        "transfer_offered",
        LIFECYCLE,
        "the owner offered the device to another organisation",
    ),
    EventDecl::new(
        "transfer_withdrawn",
        LIFECYCLE,
        "the owner withdrew a transfer offer",
    ),
    EventDecl::new(
        "ownership_transferred",
        LIFECYCLE,
        "the receiving organisation accepted a transfer",
    ),
    EventDecl::new(
        "gateway_set",
        LIFECYCLE,
        "the owner named the gateway that attests an equipment's readings",
    ),
    EventDecl::new(
        "namespace_delegated",
        &["namespace", "from", "to"],
        "a name prefix was delegated to another organisation",
    ),
];

/// The `device` module.
pub struct DeviceModule;

const INFO: ModuleInfo = ModuleInfo {
    name: NAME,
    keys: KEYS,
    failures: failures::ALL,
    device_methods: DEVICE_METHODS,
    nestable: true,
    events: EVENTS,
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
