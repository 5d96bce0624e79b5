//! Explicit limits on everything Ingot decodes from the outside.
//!
//! Every variable-length field has a bound here; decoders enforce it, so a
//! malicious peer or client cannot make a node allocate without limit.

/// Maximum encoded size of one signed transaction.
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// Maximum length of a module or method name.
pub const MAX_NAME_LEN: usize = 32;
/// Maximum size of a call's canonical arguments.
pub const MAX_ARGS_BYTES: usize = 48 * 1024;
/// Maximum size of a DER certificate carried in a transaction.
pub const MAX_CERT_BYTES: usize = 2048;
/// Maximum size of a signature (DER ECDSA/SM2 signatures are at most 72 bytes).
pub const MAX_SIGNATURE_BYTES: usize = 128;
/// Maximum number of transactions in one block.
pub const MAX_BLOCK_TXS: usize = 10_000;
/// Maximum encoded size of one block (transactions included).
pub const MAX_BLOCK_BYTES: usize = 16 * 1024 * 1024;
/// Maximum number of events a receipt may carry (a telemetry anchor carries one
/// per refused batch, sequence gap and rule transition).
pub const MAX_EVENTS: usize = 4096;
/// Maximum number of attributes on one event.
pub const MAX_EVENT_ATTRS: usize = 16;
/// Maximum length of an event attribute key or value, or a failure detail value.
pub const MAX_TEXT_LEN: usize = 1024;
/// Maximum number of detail fields of a failure.
pub const MAX_FAILURE_DETAILS: usize = 8;
// A refused batch's event carries 5 attributes of its own plus the detail.
const _: () = assert!(5 + MAX_FAILURE_DETAILS <= MAX_EVENT_ATTRS);
// A failure's detail keys are names.
const _: () = assert!(MAX_NAME_LEN <= MAX_TEXT_LEN);
/// How far ahead of the current height a transaction's `valid_until` may point.
/// Together with deduplication by hash inside that window this is Ingot's replay
/// protection (see `tx.rs`).
pub const MAX_VALIDITY_BLOCKS: u64 = 1_000;
/// Maximum genesis size in organisations and validators.
pub const MAX_ORGS: usize = 256;
pub const MAX_VALIDATORS: usize = 256;
/// Maximum size of a PEM certificate in genesis.
pub const MAX_PEM_BYTES: usize = 8 * 1024;
/// Maximum size of a stored state value.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Maximum size of a state key.
pub const MAX_KEY_BYTES: usize = 256;
/// Upper bound on work units one transaction may use (the consortium may
/// vote a lower one, never below [`MIN_GOVERNED_WORK_PER_TX`]).
pub const MAX_WORK_PER_TX: u64 = 2_000_000;
/// The lowest work limit a vote may set: enough for any governance call
/// (a vote recounts up to [`MAX_ORGS`] votes), so a vote cannot leave the
/// consortium unable to vote again.
pub const MIN_GOVERNED_WORK_PER_TX: u64 = 200_000;
const _: () = assert!(MIN_GOVERNED_WORK_PER_TX < MAX_WORK_PER_TX);
const _: () = assert!(MIN_GOVERNED_WORK_PER_TX as usize > MAX_ORGS * (300 + MAX_KEY_BYTES));
