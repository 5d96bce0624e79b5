//! `identity` as the executor sees it.

use crate::{args::cert_der, failures, CertificateArg, KEYS, NAME};
use bytes::Bytes;
use commonware_codec::Encode;
use ingot_crypto::Identity;
use ingot_module::{
    decode, Audience, BoxFuture, CallResult, EventDecl, Host, MethodDecl, Module, ModuleInfo,
    StateRead, Store, TxContext,
};
use ingot_state::StateError;
use ingot_types::{Call, Event};
use serde_json::{json, Value};

/// The events `identity` emits.
pub const EVENTS: &[EventDecl] = &[
    EventDecl::new(
        "registered",
        &["certificate", "member", "org", "common_name", "role"],
        "a member certificate was registered by its organisation's admin",
    ),
    EventDecl::new(
        "revoked",
        &["certificate", "member", "org"],
        "a certificate and its key were revoked: no certificate of that organisation on that key signs from the next transaction on",
    ),
    EventDecl::new(
        "validator_renewed",
        &["validator", "org", "certificate", "not_after"],
        "a validator's certificate was renewed on its consensus key (no vote)",
    ),
];

/// The `identity` module.
pub struct IdentityModule;

/// The methods `identity` serves.
pub const METHODS: &[MethodDecl] = &[
    MethodDecl {
        name: "register",
        who: "an admin of the certificate's organisation",
        example_args: r#"{"certificate_pem":"-----BEGIN CERTIFICATE-----\nMIIBhzCCATmgAwIBAgIQUorjVY23+pVQ8bZsmL3s1zAFBgMrZXAwITENMAsGA1UE\nCgwEYWNtZTEQMA4GA1UEAwwHYWNtZSBDQTAeFw0yNjEyMDcwODAyNDJaFw0zNjEy\nMDQwOTAyNDJaMCExDTALBgNVBAoMBGFjbWUxEDAOBgNVBAMMB2FjbWUgQ0EwKjAF\nBgMrZXADIQDDH4yI3aEsdJKy3Of7STvpzw5Oq4sfeB2Lei9E5tjQz6OBhjCBgzAf\nBgNVHSMEGDAWgBQucRoqR62b7ntncqJVs5YofrmhbTAdBgNVHREEFjAUhhJ1cm46\naW5nb3Q6b3JnOmFjbWUwDgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBQucRoqR62b\n7ntncqJVs5YofrmhbTASBgNVHRMBAf8ECDAGAQH/AgEAMAUGAytlcANBAGabd1UR\nnP7dVx89xTWGFvalbYU4GbFa4VP9N0jl9iZHfppuDVxgNDKVKYlp1ju1ckbPorQ0\ntBQCtq+8mwGZRQ4=\n-----END CERTIFICATE-----\n"}"#,
        doc: "Registers a member certificate of the admin's own organisation. Refused if already registered or if it or its key is revoked.",
    },
    MethodDecl {
        name: "revoke",
        who: "an admin of the certificate's organisation",
        example_args: r#"{"certificate_pem":"-----BEGIN CERTIFICATE-----\nMIIBhzCCATmgAwIBAgIQUorjVY23+pVQ8bZsmL3s1zAFBgMrZXAwITENMAsGA1UE\nCgwEYWNtZTEQMA4GA1UEAwwHYWNtZSBDQTAeFw0yNjEyMDcwODAyNDJaFw0zNjEy\nMDQwOTAyNDJaMCExDTALBgNVBAoMBGFjbWUxEDAOBgNVBAMMB2FjbWUgQ0EwKjAF\nBgMrZXADIQDDH4yI3aEsdJKy3Of7STvpzw5Oq4sfeB2Lei9E5tjQz6OBhjCBgzAf\nBgNVHSMEGDAWgBQucRoqR62b7ntncqJVs5YofrmhbTAdBgNVHREEFjAUhhJ1cm46\naW5nb3Q6b3JnOmFjbWUwDgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBQucRoqR62b\n7ntncqJVs5YofrmhbTASBgNVHRMBAf8ECDAGAQH/AgEAMAUGAytlcANBAGabd1UR\nnP7dVx89xTWGFvalbYU4GbFa4VP9N0jl9iZHfppuDVxgNDKVKYlp1ju1ckbPorQ0\ntBQCtq+8mwGZRQ4=\n-----END CERTIFICATE-----\n"}"#,
        doc: "Revokes the certificate and its key: no certificate on that key (renewed before or after) signs from the next transaction on (the API refuses it from the next block).",
    },
    MethodDecl {
        name: "renew_validator",
        who: "an admin of the validator's organisation",
        example_args: r#"{"certificate_pem":"-----BEGIN CERTIFICATE-----\nMIIBhzCCATmgAwIBAgIQUorjVY23+pVQ8bZsmL3s1zAFBgMrZXAwITENMAsGA1UE\nCgwEYWNtZTEQMA4GA1UEAwwHYWNtZSBDQTAeFw0yNjEyMDcwODAyNDJaFw0zNjEy\nMDQwOTAyNDJaMCExDTALBgNVBAoMBGFjbWUxEDAOBgNVBAMMB2FjbWUgQ0EwKjAF\nBgMrZXADIQDDH4yI3aEsdJKy3Of7STvpzw5Oq4sfeB2Lei9E5tjQz6OBhjCBgzAf\nBgNVHSMEGDAWgBQucRoqR62b7ntncqJVs5YofrmhbTAdBgNVHREEFjAUhhJ1cm46\naW5nb3Q6b3JnOmFjbWUwDgYDVR0PAQH/BAQDAgGGMB0GA1UdDgQWBBQucRoqR62b\n7ntncqJVs5YofrmhbTASBgNVHRMBAf8ECDAGAQH/AgEAMAUGAytlcANBAGabd1UR\nnP7dVx89xTWGFvalbYU4GbFa4VP9N0jl9iZHfppuDVxgNDKVKYlp1ju1ckbPorQ0\ntBQCtq+8mwGZRQ4=\n-----END CERTIFICATE-----\n"}"#,
        doc: "Records a renewed validator certificate (role validator) on the same consensus key, with no vote; it must be valid now and end later than the current one.",
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

impl Module for IdentityModule {
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
        match method {
            "register" | "revoke" | "renew_validator" => Ok(CertificateArg {
                certificate: cert_der(v)?,
            }
            .encode()),
            _ => Err(format!("unknown call {NAME}.{method}")),
        }
    }

    fn args_to_json(&self, method: &str, args: &Bytes) -> Result<Value, String> {
        match method {
            "register" | "revoke" | "renew_validator" => decode::<CertificateArg>(args).map(|a| {
                json!({"certificate_hash": hex::encode(ingot_crypto::cert_hash(&a.certificate))})
            }),
            _ => Err(String::new()),
        }
    }

    /// The membership registry is every member's to read: a verifier must be
    /// able to check any signer.
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
