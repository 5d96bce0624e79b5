//! The read model applied at the API: every handler that shows chain data
//! asks here, with the audience the owning module declared
//! (`ingot_execution::visibility`). Nothing else in the node decides who
//! may read what.

use crate::{
    api::{internal, ApiError, ApiState},
    auth::{now_ms, Viewer},
};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_execution::visibility::{self, Audience};
use ingot_types::{Event, SignedTransaction};

/// Whether the viewer may read a datum of `audience`.
pub async fn may_read<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    viewer: &Viewer,
    audience: &Audience,
) -> Result<bool, ApiError> {
    let state = s.shared.state.read().await;
    visibility::may_read(
        &*state,
        audience,
        viewer.reader(),
        viewer.identity(),
        now_ms(),
    )
    .await
    .map_err(internal)
}

/// The audience of a state key.
pub async fn key_audience<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    key: &str,
) -> Result<Audience, ApiError> {
    let state = s.shared.state.read().await;
    visibility::key_audience(&*state, key)
        .await
        .map_err(internal)
}

/// Whether the viewer may read the state key `key`.
pub async fn may_read_key<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    viewer: &Viewer,
    key: &str,
) -> Result<bool, ApiError> {
    let audience = key_audience(s, key).await?;
    may_read(s, viewer, &audience).await
}

/// What every member may know of any transaction: enough to audit ordering
/// (hash, sender organisation, module, method), not its content.
pub struct TxSummary {
    pub sender_org: String,
    pub module: String,
    pub method: String,
}

/// Whether the viewer may read a transaction's content (arguments, events,
/// failure detail), by its module's rule; and its summary either way.
pub async fn tx_readable<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    viewer: &Viewer,
    tx: &SignedTransaction,
    events: &[Event],
) -> Result<(bool, TxSummary), ApiError> {
    let sender = s.shared.trust.current().identify(&tx.tx.certificate).ok();
    let summary = TxSummary {
        sender_org: sender
            .as_ref()
            .map_or_else(String::new, |id| id.org.clone()),
        module: tx.tx.call.module.clone(),
        method: tx.tx.call.method.clone(),
    };
    let Some(sender) = sender else {
        // Not a member any more (a CA rotated out): regulators only.
        return Ok((
            may_read(s, viewer, &Audience::regulators_only()).await?,
            summary,
        ));
    };
    let audience = {
        let state = s.shared.state.read().await;
        visibility::call_audience(&*state, &tx.tx.call, &sender, events)
            .await
            .map_err(internal)?
    };
    Ok((may_read(s, viewer, &audience).await?, summary))
}

pub use ingot_module_api::stream::{paced, Paced, Recheck, STREAM_RECHECK};

/// Whether a signed caller is still inside its certificate's dates and not
/// revoked on chain (streams outlive the request that authenticated them).
pub async fn caller_still_valid<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    viewer: &Viewer,
) -> Result<bool, ApiError> {
    let Some(id) = viewer.identity() else {
        return Ok(true);
    };
    match crate::auth::standing(s, id, now_ms()).await {
        Ok(()) => Ok(true),
        Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether the viewer may receive `event`.
pub async fn event_readable<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    viewer: &Viewer,
    event: &Event,
) -> Result<bool, ApiError> {
    let audience = {
        let state = s.shared.state.read().await;
        visibility::event_audience(&*state, event)
            .await
            .map_err(internal)?
    };
    may_read(s, viewer, &audience).await
}
