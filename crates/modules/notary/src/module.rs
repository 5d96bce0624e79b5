//! `notary` as the executor sees it.

use crate::{args::hex32, failures, RecordArg, TransferArg, KEYS, MAX_METADATA_LEN, NAME};
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

/// The events `notary` emits.
pub const EVENTS: &[EventDecl] = &[
    EventDecl::new(
        "recorded",
        &["document_hash", "owner", "org"],
        "a document hash was recorded",
    ),
    EventDecl::new(
        "transferred",
        &["document_hash", "from", "to"],
        "a record's ownership was transferred",
    ),
];

/// The `notary` module.
pub struct NotaryModule;

/// The methods `notary` serves.
pub const METHODS: &[MethodDecl] = &[
    MethodDecl {
        name: "record",
        who: "any member",
        example_args: r#"{"document_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","metadata":{"type":"test report","lot":"L-42"}}"#,
        doc: "Records a document hash with metadata (optional, any JSON, kept as text up to 4096 bytes); the sender becomes its owner. Refused if already recorded.",
    },
    MethodDecl {
        name: "transfer",
        who: "the document's current owner",
        example_args: r#"{"document_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","new_owner":"60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"}"#,
        doc: "Transfers ownership of a recorded document; new_owner is the new owner's member id (32 bytes hex).",
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

impl Module for NotaryModule {
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
            "record" => {
                let metadata = v
                    .get("metadata")
                    .map(|m| match m {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .unwrap_or_default();
                if metadata.len() > MAX_METADATA_LEN {
                    return Err(format!("metadata longer than {MAX_METADATA_LEN} bytes"));
                }
                Ok(RecordArg {
                    document_hash: hex32(v, "document_hash")?,
                    metadata,
                }
                .encode())
            }
            "transfer" => Ok(TransferArg {
                document_hash: hex32(v, "document_hash")?,
                new_owner: hex32(v, "new_owner")?,
            }
            .encode()),
            _ => Err(format!("unknown call {NAME}.{method}")),
        }
    }

    fn args_to_json(&self, method: &str, args: &Bytes) -> Result<Value, String> {
        match method {
            "record" => decode::<RecordArg>(args).map(|a| {
                json!({"document_hash": hex::encode(a.document_hash), "metadata": a.metadata})
            }),
            "transfer" => decode::<TransferArg>(args).map(|a| {
                json!({"document_hash": hex::encode(a.document_hash), "new_owner": hex::encode(a.new_owner)})
            }),
            _ => Err(String::new()),
        }
    }

    /// A notarised record exists to be checked by other parties.
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
