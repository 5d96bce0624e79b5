//! Bodies of the chain-wide routes (health, status, identity, submission).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /health`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the node answers.
    pub status: String,
    /// The last height this node executed.
    pub executed_height: u64,
}

/// `GET /v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct NodeStatus {
    /// The genesis hash (hex): the chain every signed request and
    /// transaction names.
    pub chain_id: String,
    pub chain_name: String,
    /// This node's p2p (for a validator: consensus) public key (hex).
    pub public_key: String,
    /// `validator` (votes) or `observer` (follows finalized blocks without
    /// voting; admitted by governance `add_observer`).
    pub role: String,
    pub executed_height: u64,
    pub finalized_height: u64,
    /// The consensus epoch this node runs. Validator-set changes take
    /// effect at epoch boundaries.
    pub epoch: u64,
    /// Blocks per epoch as genesis set it (absent: one epoch for the whole chain).
    pub epoch_length: Option<u64>,
    /// Transactions waiting in this node's mempool.
    pub mempool: u64,
    /// The validators voting in the node's current epoch.
    pub validators: Vec<Validator>,
    /// Observer nodes the consortium admitted (governance; their addresses
    /// only to members, in `GET /v1/governance`).
    pub observers: Vec<Observer>,
    pub organisations: Vec<Organisation>,
    /// Genesis certificates (organisation CAs, validators) that expire
    /// within 30 days or have expired: renew them before they do.
    pub certificate_warnings: Vec<CertificateWarning>,
}

/// A validator of the genesis.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Validator {
    pub name: String,
    pub org: String,
    pub public_key: String,
    /// Its p2p address.
    pub address: String,
}

/// An observer node the consortium admitted.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Observer {
    pub name: String,
    pub org: String,
    pub public_key: String,
}

/// A certificate of the consortium close to its end of validity.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct CertificateWarning {
    /// What it certifies: `CA of <org>` or `validator <name> of <org>`.
    pub certificate: String,
    pub org: String,
    /// notAfter, UNIX seconds.
    pub not_after: i64,
    pub expired: bool,
}

/// An organisation of the genesis.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Organisation {
    pub name: String,
    /// `member` or `regulator`.
    #[schema(pattern = "^(member|regulator)$")]
    pub kind: String,
}

/// `GET /v1/whoami`: who the node takes the caller for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct WhoAmI {
    /// Present (true) for a request without a signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// SHA-256 of the caller's certificate (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The caller's member id (hex): organisation and public key hashed, so
    /// a certificate renewed on the same key keeps it. What `member:<id>`
    /// grants and workflow bindings name, and what owns notarised documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// A member of a regulator organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regulator: Option<bool>,
    /// The device id, for a device's certificate (null for people).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Option<String>>,
}

/// `POST /v1/tx`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitTx {
    /// Hex of the canonical signed transaction.
    pub tx: String,
}

/// `POST /v1/txs`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmitTxs {
    /// Hex of canonical signed transactions (at most 1,000).
    pub txs: Vec<String>,
}

/// The answer to `POST /v1/txs`: one result per transaction, in order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Submitted {
    /// How many were admitted to the mempool.
    pub accepted: u64,
    pub results: Vec<SubmitResult>,
}

/// One transaction of a batch: its hash, or why it was refused.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct SubmitResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// Stable code of the refusal (`malformed`, `duplicate`, `mempool_full`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `POST /v1/workflow/validate`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ValidateProcess {
    /// The BPMN 2.0 XML document.
    pub xml: String,
    /// Deployment bindings (who may act, service calls, message events).
    #[serde(default)]
    pub bindings: serde_json::Value,
    /// DMN documents whose decision tables bind the business rule tasks
    /// that refer to them (`decisionRef`), where the bindings do not; the
    /// bindings so completed are returned (`bindings`), ready to deploy.
    #[serde(default)]
    pub dmn: Vec<String>,
}
