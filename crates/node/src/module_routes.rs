//! The routes modules contribute (`ingot_module_api::ModuleApi`), and the
//! node as their host: committed state and the read model, nothing else.
//! Adding a module's routes is one line in [`MODULE_APIS`].

use crate::{api::ApiState, auth::Viewer, read_model};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_execution::modules::workflow::WorkflowModule;
use ingot_module_api::BoxFuture;
use ingot_module_api::{internal, ApiError, ApiHost, ModuleApi};

/// Every module that serves routes of its own.
pub static MODULE_APIS: &[&dyn ModuleApi] = &[&WorkflowModule];

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

    fn executed_height(&self) -> u64 {
        self.shared.executed_height()
    }
}
