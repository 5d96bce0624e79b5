//! Ingot's canonical data types.
//!
//! Everything that is hashed or signed is encoded here with `commonware-codec`,
//! with an explicit limit on every variable-length field (see [`limits`]).
//! JSON representations live at the API edge, never here. This crate does no I/O.

pub mod access;
pub mod api_request;
pub mod block;
pub mod codec_util;
pub mod consent;
pub mod genesis;
pub mod limits;
pub mod merkle;
pub mod receipt;
pub mod telemetry;
pub mod tx;

pub use block::{Block, ExecResult, Header};
pub use commonware_cryptography::sha256::Digest;
pub use genesis::{Genesis, Governance, OrgKind, Organisation, ValidatorEntry};
pub use receipt::{Event, Failure, Receipt, Status};
pub use tx::{Call, SignedTransaction, Transaction};

/// Hash arbitrary parts with SHA-256, the one hash Ingot uses for ids and roots.
pub fn sha256(parts: &[&[u8]]) -> Digest {
    use commonware_cryptography::{Hasher as _, Sha256};
    Sha256::hash(parts)
}

/// Lower-case hex of a digest, as used in the API and CLI.
pub fn hex_digest(d: &Digest) -> String {
    hex::encode(d.as_ref())
}

/// Parse a 64-character hex digest.
pub fn parse_digest(s: &str) -> Result<Digest, String> {
    let raw = hex::decode(s.trim_start_matches("0x")).map_err(|e| format!("invalid hex: {e}"))?;
    let arr: [u8; 32] = raw
        .try_into()
        .map_err(|_| "a digest is 32 bytes (64 hex characters)".to_string())?;
    Ok(Digest::from(arr))
}
