//! `device` as the executor sees it.

use crate::{failures, owner_audience, DEVICE_METHODS, KEYS, NAME};
use bytes::Bytes;
use ingot_module::{
    Audience, BoxFuture, CallResult, EventDecl, Host, KeyDecl, MethodDecl, Module, ModuleInfo,
    Rule, StateRead, Store, TxContext,
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

/// The methods `device` serves.
/// Who may call a device's owner-side methods.
const OWNER_MEMBERS: &str = "a member or admin of the device's owner organisation (not a device)";

pub const METHODS: &[MethodDecl] = &[
    MethodDecl {
        name: "register",
        who: "a member or admin (not a device) of the organisation that certified the device, or of another organisation with the device's possession_signature",
        example_args: r#"{"certificate_pem":"-----BEGIN CERTIFICATE-----\nMIIBhzCCATmgAwIBAgIQUorjVY23+pVQ8bZsmL3s1zAFBgMrZXAwITENMAsGA1UE\nCgwEYWNtZTEQMA4GA1UEAwwHYWNtZSBDQTAeFw0yNjEyMDcwODAyNDJaFw0zNjEy\nMDQwOTAyNDJaMCExDTALBgNVBAoMBGFjbWUxEDAOBgNVBAMMB2FjbWUgQ0EwKjAF\nBgMrZXADIQDDH4yI3aEsdJKy3Of7STvpzw5Oq4sfeB2Lei9E5tjQz6OBhjCBgzAf\nBgNVHSMEGDAWgBQucRoqR62b7ntncqJVs5YofrmhbTAdBgNVHREEFjAUhhJ1cm46\naW5nb3Q6b3JnOmFjbWUwDgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBQucRoqR62b\n7ntncqJVs5YofrmhbTASBgNVHRMBAf8ECDAGAQH/AgEAMAUGAytlcANBAGabd1UR\nnP7dVx89xTWGFvalbYU4GbFa4VP9N0jl9iZHfppuDVxgNDKVKYlp1ju1ckbPorQ0\ntBQCtq+8mwGZRQ4=\n-----END CERTIFICATE-----\n","name":"acme/plant-3/cnc-07","metadata":{"location":"hall 3","address":"10.0.3.7:502"}}"#,
        doc: "Registers a device certificate (OU=device) under a free name in a namespace the sender's organisation holds; optional hex possession_signature for devices certified by others.",
    },
    MethodDecl {
        name: "register_equipment",
        who: "a member or admin (not a device); the equipment belongs to the sender's organisation",
        example_args: r#"{"serial":"PUMP-17","model":"centrifugal-pump","name":"acme/plant-3/pump-17","metadata":{"location":"hall 3"},"gateway":"acme:SN-0001"}"#,
        doc: "Registers plant equipment without a key as <org>:<serial>; its readings are signed by gateway, a device with its own key held by the same organisation.",
    },
    MethodDecl {
        name: "set_gateway",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:PUMP-17","gateway":"acme:SN-0002"}"#,
        doc: "Names the gateway device that attests an equipment's readings (equipment without a key only).",
    },
    MethodDecl {
        name: "activate",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:SN-0001"}"#,
        doc: "Puts a registered device into service (registered -> active).",
    },
    MethodDecl {
        name: "reactivate",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:SN-0001"}"#,
        doc: "Puts a suspended device back into service (suspended -> active).",
    },
    MethodDecl {
        name: "suspend",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:SN-0001","reason":"scheduled overhaul"}"#,
        doc: "Suspends an active device; reason is optional text.",
    },
    MethodDecl {
        name: "decommission",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:SN-0001","reason":"end of life"}"#,
        doc: "Decommissions a device for good (from registered, active or suspended) and drops any open transfer offer; reason is optional.",
    },
    MethodDecl {
        name: "record_maintenance",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:SN-0001","note":"bearing replaced"}"#,
        doc: "Appends a maintenance note to the history of a device that is not decommissioned.",
    },
    MethodDecl {
        name: "update_metadata",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:SN-0001","metadata":{"location":"hall 4","address":"10.0.4.7:502"}}"#,
        doc: "Replaces a device's metadata (a JSON object; its address is what access tokens carry) while not decommissioned.",
    },
    MethodDecl {
        name: "report_state",
        who: "the device itself, signing with its current registered key while active (device-only)",
        example_args: r#"{"device_id":"acme:SN-0001","state":"running"}"#,
        doc: "The device reports its operating state, appended to its history.",
    },
    MethodDecl {
        name: "request_maintenance",
        who: "the device itself, signing with its current registered key while active (device-only)",
        example_args: r#"{"device_id":"acme:SN-0001","reason":"vibration above threshold"}"#,
        doc: "The device asks for maintenance, appended to its history.",
    },
    MethodDecl {
        name: "offer_transfer",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:SN-0001","to_org":"beta","expires_height":120000}"#,
        doc: "Offers the device to another known organisation until expires_height (after this block, at most 1,000,000 blocks ahead); replaces any open offer.",
    },
    MethodDecl {
        name: "withdraw_offer",
        who: OWNER_MEMBERS,
        example_args: r#"{"device_id":"acme:SN-0001"}"#,
        doc: "Withdraws the device's open transfer offer.",
    },
    MethodDecl {
        name: "accept_transfer",
        who: "a member or admin (not a device) of the organisation the offer is made to",
        example_args: r#"{"device_id":"acme:SN-0001"}"#,
        doc: "Accepts an unexpired transfer offer: the sender's organisation becomes the owner; an equipment's gateway is cleared.",
    },
    MethodDecl {
        name: "update_firmware",
        who: "a member or admin (not a device) of the organisation that certified the device (its manufacturer)",
        example_args: r#"{"device_id":"acme:SN-0001","version":"2.4.1","image_hash":"3b2c9a8f0e1d4c5b6a79881726354453627180f9e8d7c6b5a4938271605f4e3d"}"#,
        doc: "Records a new firmware version and its image hash (32 bytes hex) for a device that is not decommissioned.",
    },
    MethodDecl {
        name: "rotate_key",
        who: "the device itself with its current key (while active), or an admin of the organisation that certified it",
        example_args: r#"{"device_id":"acme:SN-0001","certificate_pem":"-----BEGIN CERTIFICATE-----\nMIIBhzCCATmgAwIBAgIQUorjVY23+pVQ8bZsmL3s1zAFBgMrZXAwITENMAsGA1UE\nCgwEYWNtZTEQMA4GA1UEAwwHYWNtZSBDQTAeFw0yNjEyMDcwODAyNDJaFw0zNjEy\nMDQwOTAyNDJaMCExDTALBgNVBAoMBGFjbWUxEDAOBgNVBAMMB2FjbWUgQ0EwKjAF\nBgMrZXADIQDDH4yI3aEsdJKy3Of7STvpzw5Oq4sfeB2Lei9E5tjQz6OBhjCBgzAf\nBgNVHSMEGDAWgBQucRoqR62b7ntncqJVs5YofrmhbTAdBgNVHREEFjAUhhJ1cm46\naW5nb3Q6b3JnOmFjbWUwDgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBQucRoqR62b\n7ntncqJVs5YofrmhbTASBgNVHRMBAf8ECDAGAQH/AgEAMAUGAytlcANBAGabd1UR\nnP7dVx89xTWGFvalbYU4GbFa4VP9N0jl9iZHfppuDVxgNDKVKYlp1ju1ckbPorQ0\ntBQCtq+8mwGZRQ4=\n-----END CERTIFICATE-----\n"}"#,
        doc: "Replaces the device's certificate with a new, unrevoked, unused one naming the same device. Not for equipment without a key.",
    },
    MethodDecl {
        name: "delegate_namespace",
        who: "an admin of the organisation holding the namespace (not a device)",
        example_args: r#"{"namespace":"acme/plant-3","to_org":"beta"}"#,
        doc: "Delegates a name prefix (2+ segments) to another known organisation, which may then name devices under it.",
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
