//! The routes modules contribute (`ingot_module_api::ModuleApi`), and the
//! node as their host: committed state and the read model, nothing else.
//! Adding a module's routes is one line in [`MODULE_APIS`].

use crate::{api::ApiState, auth::Viewer, read_model};
use axum::http::StatusCode;
use commonware_codec::Encode;
use commonware_consensus::types::Height;
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_execution::modules::{
    access::AccessModule, device::DeviceModule, governance::GovernanceModule,
    telemetry::TelemetryModule, workflow::WorkflowModule,
};
use ingot_light::{ReceiptChain, MAX_BUNDLE_HEADERS};
use ingot_module_api::BoxFuture;
use ingot_module_api::{internal, not_found, ApiError, ApiHost, ModuleApi};
use ingot_state::StateError;
use ingot_types::{merkle, Digest};

/// Every module that serves routes of its own.
pub static MODULE_APIS: &[&dyn ModuleApi] = &[
    &GovernanceModule,
    &DeviceModule,
    &AccessModule,
    &TelemetryModule,
    &WorkflowModule,
];

impl<E: Storage + Clock + Metrics + Spawner> ApiHost for ApiState<E> {
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, ApiError>> {
        Box::pin(async move {
            let state = self.shared.state.read().await;
            state.get(key).await.map_err(internal)
        })
    }

    fn may_read_key<'a>(
        &'a self,
        viewer: &'a Viewer,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(read_model::may_read_key(self, viewer, key))
    }

    fn state(&self) -> &dyn ingot_module::StateRead {
        self
    }

    fn receipt_chain(&self, tx: Digest) -> BoxFuture<'_, Result<ReceiptChain, ApiError>> {
        Box::pin(async move { receipt_chain(self, &tx).await })
    }

    fn executed_height(&self) -> u64 {
        self.shared.executed_height()
    }

    fn consortium(&self) -> std::sync::Arc<ingot_execution::Consortium> {
        self.shared.trust.current()
    }

    fn caller_still_valid<'a>(
        &'a self,
        viewer: &'a Viewer,
    ) -> BoxFuture<'a, Result<bool, ApiError>> {
        Box::pin(read_model::caller_still_valid(self, viewer))
    }

    fn stream_slot(
        &self,
        viewer: &Viewer,
    ) -> Result<ingot_module_api::stream::StreamSlot, ApiError> {
        self.streams.claim(viewer)
    }

    fn derived(&self, name: &str) -> Option<std::sync::Arc<dyn std::any::Any + Send + Sync>> {
        self.shared
            .module_stores
            .iter()
            .find(|s| s.name() == name)
            .map(|s| s.clone().as_any())
    }
}

/// Committed state, each read under the state lock.
impl<E: Storage + Clock + Metrics + Spawner> ingot_module::StateRead for ApiState<E> {
    fn get<'a>(&'a self, key: &'a [u8]) -> BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(async move { self.shared.state.read().await.get(key).await })
    }
}

/// The receipt of transaction `tx`, its path to the receipts root, and the
/// hash-linked headers from the block anchoring that root up to one with a
/// finalization certificate. 503 until such a block is final.
pub(crate) async fn receipt_chain<E: Storage + Clock + Metrics + Spawner>(
    s: &ApiState<E>,
    tx: &Digest,
) -> Result<ReceiptChain, ApiError> {
    let (height, index, receipt, proof) = {
        let ledger = s.shared.ledger.lock().await;
        let loc = ledger
            .locate_recent(&s.shared.recent, tx)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("transaction not indexed"))?;
        let record = ledger
            .record(loc.height)
            .await
            .map_err(internal)?
            .ok_or_else(|| internal("execution record missing"))?;
        let hashes: Vec<Digest> = record
            .receipts
            .iter()
            .map(ingot_execution::receipt_hash)
            .collect();
        let proof = merkle::proof(&hashes, loc.index).ok_or_else(|| internal("no proof"))?;
        (
            loc.height,
            loc.index,
            record.receipts[loc.index as usize].clone(),
            proof,
        )
    };

    // The header anchoring that height, then hash-linked headers up to one
    // with its own finalization certificate.
    let finalized = s
        .shared
        .finalized
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut headers = Vec::new();
    let mut at = height + 1;
    while at <= finalized && headers.len() < MAX_BUNDLE_HEADERS {
        let block = s
            .marshal
            .get_block(Height::new(at))
            .await
            .ok_or_else(|| internal(format!("finalized block {at} missing")))?;
        let header = &block.inner().header;
        if headers.is_empty() && header.result_for(height).is_none() {
            at += 1;
            continue;
        }
        headers.push(hex::encode(header.encode()));
        if let Some(fin) = s.marshal.get_finalization(Height::new(at)).await {
            return Ok(ReceiptChain {
                receipt: hex::encode(receipt.encode()),
                receipt_index: index,
                receipt_proof: hex::encode(proof.encode()),
                exec_height: height,
                headers,
                finalization: hex::encode(fin.encode()),
            });
        }
        at += 1;
    }
    Err(ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "not_yet_certified",
        "not yet anchored in a certified block; retry shortly",
    ))
}
