//! Native modules. Each one owns a key prefix in the world state and a set of
//! methods; [`dispatch`] routes a call by name.

pub mod access;
pub mod device;
pub mod identity;
pub mod notary;
pub mod telemetry;
pub mod workflow;

use crate::{executor::TxContext, Overlay};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_state::StateError;
use ingot_types::{Call, Event};

/// Why a call failed: a reason recorded in the receipt, or a storage fault that
/// must stop execution (it is not the transaction's fault).
#[derive(Debug)]
pub enum CallError {
    Rejected(ingot_types::Failure),
    State(StateError),
}

impl From<StateError> for CallError {
    fn from(e: StateError) -> Self {
        CallError::State(e)
    }
}

pub fn reject<T>(failure: ingot_types::Failure) -> Result<T, CallError> {
    Err(CallError::Rejected(failure))
}

/// A call's arguments, decoded, or the failure that they do not decode (the
/// codec's own error text stays out of consensus).
pub fn decode_args<T: commonware_codec::Decode<Cfg = ()>>(call: &Call) -> Result<T, CallError> {
    crate::args::decode(&call.args).map_err(|_| {
        CallError::Rejected(crate::failure::tx::MALFORMED_ARGUMENTS.with(&[
            ("module", call.module.clone()),
            ("method", call.method.clone()),
        ]))
    })
}

/// The failure for a method a module does not have.
pub fn unknown_method<T>(call: &Call) -> Result<T, CallError> {
    reject(crate::failure::tx::UNKNOWN_METHOD.with(&[
        ("module", call.module.clone()),
        ("method", call.method.clone()),
    ]))
}

/// The failure for a stored record that does not decode (a bug or damage,
/// named by what it is; the codec's text stays out of consensus).
pub fn corrupt(what: &'static str) -> impl Fn(commonware_codec::Error) -> CallError {
    move |_| {
        CallError::Rejected(crate::failure::tx::CORRUPT_STATE.with(&[("what", what.to_string())]))
    }
}

pub async fn dispatch<E: Storage + Clock + Metrics + Spawner>(
    ctx: &TxContext<'_>,
    state: &mut Overlay<'_, E>,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    dispatch_nested(ctx, state, call, 0).await
}

/// [`dispatch`] at a depth: service tasks of workflows call native modules
/// through here, and the events any call emits may move workflow instances
/// waiting for them (which may call services again, up to a bounded depth).
pub fn dispatch_nested<'a, E: Storage + Clock + Metrics + Spawner>(
    ctx: &'a TxContext<'a>,
    state: &'a mut Overlay<'_, E>,
    call: &'a Call,
    depth: u8,
) -> workflow::BoxFuture<'a, Result<Vec<Event>, CallError>> {
    Box::pin(async move {
        // A device signs only the few calls its role allows (never, e.g., a
        // transfer of itself), and only with its current key while active.
        if ctx.sender.device.is_some() {
            device::authorize_device_sender(ctx, state, call).await?;
        }
        let mut events = match call.module.as_str() {
            access::NAME => access::call(ctx, state, call).await,
            device::NAME => device::call(ctx, state, call).await,
            identity::NAME => identity::call(ctx, state, call).await,
            notary::NAME => notary::call(ctx, state, call).await,
            telemetry::NAME => telemetry::call(ctx, state, call).await,
            workflow::NAME if depth > 0 => reject(crate::failure::tx::NESTED_WORKFLOW.bare()),
            workflow::NAME => workflow::call(ctx, state, call).await,
            other => {
                reject(crate::failure::tx::UNKNOWN_MODULE.with(&[("module", other.to_string())]))
            }
        }?;
        if call.module != workflow::NAME {
            let moved = workflow::on_events(ctx, state, &events, depth).await?;
            events.extend(moved);
        }
        Ok(events)
    })
}

pub(crate) fn event(module: &str, kind: &str, attrs: &[(&str, String)]) -> Event {
    Event {
        module: module.into(),
        kind: kind.into(),
        attributes: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

/// Work done at the end of every block, after its transactions: timers that
/// fire by block time. Returns the events of the block's trailing receipt.
pub async fn end_block<E: Storage + Clock + Metrics + Spawner>(
    block: crate::executor::BlockContext,
    state: &mut Overlay<'_, E>,
    trust: &ingot_crypto::TrustStore,
) -> Result<Vec<Event>, CallError> {
    let mut events = telemetry::end_block(block, state).await?;
    state.commit_tx();
    events.extend(workflow::end_block(block, state, trust).await?);
    Ok(events)
}

#[cfg(test)]
mod tests {
    /// Modules use each other through published services (`device::find`,
    /// `device::owner_org`, `identity::is_revoked`, `access::grants`, ...),
    /// never through each other's storage layout: no module calls another
    /// module's `*_key` function.
    #[test]
    fn no_module_reads_another_modules_keys() {
        let sources = [
            ("identity", include_str!("identity.rs")),
            ("notary", include_str!("notary.rs")),
            ("device", include_str!("device.rs")),
            ("access", include_str!("access.rs")),
            ("telemetry", include_str!("telemetry/mod.rs")),
            ("telemetry", include_str!("telemetry/rules.rs")),
            ("workflow", include_str!("workflow.rs")),
        ];
        let modules = [
            "identity",
            "notary",
            "device",
            "access",
            "telemetry",
            "workflow",
        ];
        for (own, src) in sources {
            for other in modules.iter().filter(|m| **m != own) {
                for (i, _) in src.match_indices(&format!("{other}::")) {
                    let ident: String = src[i + other.len() + 2..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        !ident.ends_with("_key"),
                        "{own} uses {other}::{ident}: go through a published service"
                    );
                }
            }
        }
    }
}
