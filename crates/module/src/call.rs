//! Helpers for a module's calls: errors, argument decoding, events.

use crate::failure::tx;
use bytes::Bytes;
use commonware_codec::Decode;
use ingot_state::StateError;
use ingot_types::{Call, Event, Failure};

/// Why a call failed: a reason recorded in the receipt, or a storage fault that
/// must stop execution (it is not the transaction's fault).
#[derive(Debug)]
pub enum CallError {
    Rejected(Failure),
    State(StateError),
}

impl From<StateError> for CallError {
    fn from(e: StateError) -> Self {
        CallError::State(e)
    }
}

pub fn reject<T>(failure: Failure) -> Result<T, CallError> {
    Err(CallError::Rejected(failure))
}

/// Decode canonical arguments, requiring every byte to be consumed.
pub fn decode<T: Decode<Cfg = ()>>(args: &Bytes) -> Result<T, String> {
    T::decode_cfg(args.clone(), &()).map_err(|e| format!("malformed arguments: {e}"))
}

/// A call's arguments, decoded, or the failure that they do not decode (the
/// codec's own error text stays out of consensus).
pub fn decode_args<T: Decode<Cfg = ()>>(call: &Call) -> Result<T, CallError> {
    decode(&call.args).map_err(|_| {
        CallError::Rejected(tx::MALFORMED_ARGUMENTS.with(&[
            ("module", call.module.clone()),
            ("method", call.method.clone()),
        ]))
    })
}

/// The failure for a method a module does not have.
pub fn unknown_method<T>(call: &Call) -> Result<T, CallError> {
    reject(tx::UNKNOWN_METHOD.with(&[
        ("module", call.module.clone()),
        ("method", call.method.clone()),
    ]))
}

/// The failure for a stored record that does not decode (a bug or damage,
/// named by what it is; the codec's text stays out of consensus).
pub fn corrupt(what: &'static str) -> impl Fn(commonware_codec::Error) -> CallError {
    move |_| CallError::Rejected(tx::CORRUPT_STATE.with(&[("what", what.to_string())]))
}

/// An event of `module`.
pub fn event(module: &str, kind: &str, attrs: &[(&str, String)]) -> Event {
    Event {
        module: module.into(),
        kind: kind.into(),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}
