//! Query parameters of the routes that take them.

use serde::Deserialize;
use utoipa::IntoParams;

/// `POST /v1/tx`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Wait (up to a bound) for the transaction's receipt.
    #[serde(default)]
    pub wait: bool,
}

/// `GET /v1/blocks/{id}` and `/v1/blocks/latest`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BlockQuery {
    /// `full` (default): decoded calls; `hashes`: transaction hashes only.
    #[serde(default)]
    #[param(pattern = "^(full|hashes)$")]
    pub txs: Option<String>,
    /// Include the canonical block bytes as hex (default true).
    #[serde(default)]
    pub raw: Option<bool>,
}

/// `GET /v1/epochs`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EpochsQuery {
    /// First epoch to list (default 1: epoch 0's set is genesis's).
    #[serde(default)]
    pub from: Option<u64>,
}

/// `GET /v1/state/{key}`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProveQuery {
    /// Add a proof against the state root of a finalized header.
    #[serde(default)]
    pub prove: bool,
}

/// `GET /v1/events`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventFilter {
    /// Only events of this module.
    pub module: Option<String>,
    /// Only events of this kind.
    pub kind: Option<String>,
}

/// A page of a sequence (device history, access log).
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// First sequence number.
    #[serde(default)]
    pub from: u64,
    /// At most this many entries.
    #[serde(default = "default_limit")]
    pub limit: u64,
}

/// Entries of a [`Page`] when `limit` is not given.
pub const DEFAULT_PAGE: u64 = 100;

fn default_limit() -> u64 {
    DEFAULT_PAGE
}

/// `GET /v1/devices`.
#[derive(Clone, Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceListQuery {
    /// Name prefix, e.g. `acme/plant-3/` (empty lists everything).
    #[serde(default)]
    pub prefix: String,
    /// Continue after this name (the previous page's `next`).
    pub after: Option<String>,
    /// At most this many devices (1 to 200).
    #[serde(default = "default_list_limit")]
    pub limit: usize,
}

/// Devices of a list page when `limit` is not given.
pub const DEFAULT_LIST_PAGE: usize = 50;

fn default_list_limit() -> usize {
    DEFAULT_LIST_PAGE
}

/// `GET /v1/telemetry/devices/{id}/readings`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadingQuery {
    /// From this reading time (ms since the epoch, inclusive).
    pub from_ms: Option<u64>,
    /// Up to this reading time (ms since the epoch, inclusive).
    pub to_ms: Option<u64>,
    /// Only this measurement.
    pub measurement: Option<String>,
    /// Continue after this sequence number (paging).
    pub after_seq: Option<u64>,
    /// At most this many readings.
    pub limit: Option<usize>,
    /// Add each reading's offline proof.
    #[serde(default)]
    pub prove: bool,
}

/// `GET /v1/workflow/definitions/{name}`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A version (default: the latest).
    pub version: Option<u32>,
}

/// `GET /v1/workflow/definitions/{name}/instances`.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstancesQuery {
    /// Only instances in this state.
    #[param(pattern = "^(running|completed|terminated|cancelled)$")]
    pub state: Option<String>,
    /// Instance number to continue after (paging).
    #[serde(default)]
    pub after: u64,
    /// At most this many instances.
    pub limit: Option<u64>,
}
