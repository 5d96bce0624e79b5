//! Offline verification of Ingot chain data with nothing but the genesis
//! validator keys — for CLI proofs, gateways and device firmware.
//!
//! - [`verify_finalized_header`]: a header carries a finalization certificate
//!   of a quorum of the validators.
//! - [`TokenBundle`] / [`TokenVerifier`]: a one-time device access token
//!   (white paper 三.2) is proven by the receipt of the request that granted
//!   it, a Merkle path from that receipt to the receipts root anchored in a
//!   later header, the hash-linked headers from that anchor up to one with a
//!   finalization certificate, and that certificate. A device holding the
//!   validator keys checks all of it without talking to any node, and refuses
//!   a token twice (it remembers used nonces until they expire).
//!
//! This crate has no dependency on Ingot's node, execution, storage engine or
//! networking; it uses Commonware's consensus types only to decode and check
//! certificates.

use commonware_codec::{Decode, Encode};
use commonware_consensus::simplex::{scheme::ed25519, types::Finalization};
use commonware_cryptography::{ed25519::PublicKey, sha256::Digest};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use ingot_types::{access::Token, merkle, sha256, Genesis, Header, Receipt, Status};
use std::collections::BTreeMap;

/// The namespace validators sign consensus messages under.
pub const CONSENSUS_NAMESPACE: &[u8] = b"_INGOT_CONSENSUS";

/// Most headers a bundle may carry from anchor to certified block.
pub const MAX_BUNDLE_HEADERS: usize = 64;
/// Most used nonces a [`TokenVerifier`] remembers (oldest-expiring dropped first
/// only once expired; a full verifier refuses new tokens rather than forget).
pub const MAX_REMEMBERED_TOKENS: usize = 4096;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LightError {
    #[error("malformed {0}: {1}")]
    Malformed(&'static str, String),
    #[error("finalization certificate is for another block")]
    WrongBlock,
    #[error("finalization certificate does not verify against the validators")]
    BadCertificate,
    #[error("headers do not link: {0}")]
    Broken(String),
    #[error("receipt is not included under the anchored receipts root")]
    NotIncluded,
    #[error("token refused: {0}")]
    Token(String),
}

fn malformed(what: &'static str) -> impl Fn(commonware_codec::Error) -> LightError {
    move |e| LightError::Malformed(what, e.to_string())
}

/// The validator set of a genesis file.
pub fn validators(genesis: &Genesis) -> Result<Set<PublicKey>, LightError> {
    let mut keys = Vec::with_capacity(genesis.validators.len());
    for v in &genesis.validators {
        let raw = hex::decode(&v.public_key)
            .map_err(|e| LightError::Malformed("validator key", e.to_string()))?;
        keys.push(
            <PublicKey as commonware_codec::DecodeExt<()>>::decode(raw)
                .map_err(malformed("validator key"))?,
        );
    }
    Ok(Set::from_iter_dedup(keys))
}

/// Check that `finalization_raw` is a certificate, by a quorum of
/// `validators`, for the block whose digest is `digest`.
pub fn verify_certificate(
    validators: &Set<PublicKey>,
    digest: Digest,
    finalization_raw: Vec<u8>,
) -> Result<(), LightError> {
    let fin = Finalization::<ed25519::Scheme, Digest>::decode_cfg(
        finalization_raw,
        &<ed25519::Scheme as commonware_cryptography::certificate::Verifier>::certificate_codec_config_unbounded(),
    )
    .map_err(malformed("finalization certificate"))?;
    if fin.proposal.payload != digest {
        return Err(LightError::WrongBlock);
    }
    let verifier = ed25519::Scheme::verifier(CONSENSUS_NAMESPACE, validators.clone());
    if !fin.verify(&mut rand10::rng(), &verifier, &Sequential) {
        return Err(LightError::BadCertificate);
    }
    Ok(())
}

/// Decode a header and check its finalization certificate.
pub fn verify_finalized_header(
    validators: &Set<PublicKey>,
    header_raw: Vec<u8>,
    finalization_raw: Vec<u8>,
) -> Result<Header, LightError> {
    let header = Header::decode_cfg(header_raw, &()).map_err(malformed("header"))?;
    verify_certificate(validators, header.digest(), finalization_raw)?;
    Ok(header)
}

/// Everything a device needs to check a token offline (hex in JSON).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TokenBundle {
    /// Canonical [`Token`].
    pub token: String,
    /// Canonical [`Receipt`] of the request that granted it.
    pub receipt: String,
    /// Its index among the receipts of `exec_height`.
    pub receipt_index: u32,
    /// Encoded BMT inclusion proof of the receipt's hash.
    pub receipt_proof: String,
    /// Height whose execution produced the receipt.
    pub exec_height: u64,
    /// Canonical headers: the first anchors `exec_height`'s results, each next
    /// one is the child of the previous, the last has the certificate.
    pub headers: Vec<String>,
    /// Finalization certificate of the last header.
    pub finalization: String,
}

fn unhex(what: &'static str, s: &str) -> Result<Vec<u8>, LightError> {
    hex::decode(s).map_err(|e| LightError::Malformed(what, e.to_string()))
}

impl TokenBundle {
    /// Check the bundle's proof chain against `validators` and return the token.
    /// Does not check what the token is for; see [`TokenVerifier::accept`].
    pub fn verify(&self, validators: &Set<PublicKey>) -> Result<Token, LightError> {
        let token_raw = unhex("token", &self.token)?;
        let token = Token::decode_cfg(token_raw.clone(), &()).map_err(malformed("token"))?;
        let receipt_raw = unhex("receipt", &self.receipt)?;
        let receipt =
            Receipt::decode_cfg(receipt_raw.clone(), &()).map_err(malformed("receipt"))?;

        // The receipt is the successful request that granted exactly this token.
        if receipt.tx_hash.as_ref() != token.token_id || receipt.status != Status::Success {
            return Err(LightError::Token(
                "receipt is not the granting request".into(),
            ));
        }
        let token_hex = hex::encode(&token_raw);
        let granted = receipt.events.iter().any(|e| {
            e.module == "access"
                && e.kind == "granted"
                && e.attributes
                    .iter()
                    .any(|(k, v)| k == "token" && *v == token_hex)
        });
        if !granted {
            return Err(LightError::Token(
                "receipt does not grant this token".into(),
            ));
        }

        // Receipt → receipts root anchored in the first header.
        if self.headers.is_empty() || self.headers.len() > MAX_BUNDLE_HEADERS {
            return Err(LightError::Broken(format!(
                "need 1 to {MAX_BUNDLE_HEADERS} headers"
            )));
        }
        let mut headers = Vec::with_capacity(self.headers.len());
        for h in &self.headers {
            headers
                .push(Header::decode_cfg(unhex("header", h)?, &()).map_err(malformed("header"))?);
        }
        let anchored = headers[0].result_for(self.exec_height).ok_or_else(|| {
            LightError::Broken("first header does not anchor the receipt's height".into())
        })?;
        let proof = commonware_storage_proof(&unhex("receipt proof", &self.receipt_proof)?)?;
        let leaf = sha256(&[&receipt.encode()]);
        if !merkle::verify(&proof, &leaf, self.receipt_index, &anchored.receipts_root) {
            return Err(LightError::NotIncluded);
        }

        // Anchor → certified descendant, by parent hashes.
        for pair in headers.windows(2) {
            if pair[1].parent != pair[0].digest() || pair[1].height != pair[0].height + 1 {
                return Err(LightError::Broken(format!(
                    "header {} is not the child of {}",
                    pair[1].height, pair[0].height
                )));
            }
        }
        let last = headers.last().expect("non-empty");
        verify_certificate(
            validators,
            last.digest(),
            unhex("finalization", &self.finalization)?,
        )?;
        Ok(token)
    }
}

fn commonware_storage_proof(raw: &[u8]) -> Result<merkle::Proof, LightError> {
    merkle::Proof::decode_cfg(raw.to_vec(), &merkle::PROOF_CFG).map_err(malformed("receipt proof"))
}

/// What a device (or its gateway) runs: checks tokens presented to it and
/// remembers used ones until they expire, so each works once.
pub struct TokenVerifier {
    validators: Set<PublicKey>,
    device_id: String,
    /// Used token ids → their expiry (ms).
    used: BTreeMap<[u8; 32], u64>,
}

impl TokenVerifier {
    pub fn new(validators: Set<PublicKey>, device_id: impl Into<String>) -> Self {
        Self {
            validators,
            device_id: device_id.into(),
            used: BTreeMap::new(),
        }
    }

    /// Accept `bundle` for `operation` at local time `now_ms`, once.
    pub fn accept(
        &mut self,
        bundle: &TokenBundle,
        operation: &str,
        now_ms: u64,
    ) -> Result<Token, LightError> {
        let token = bundle.verify(&self.validators)?;
        if token.device_id != self.device_id {
            return Err(LightError::Token(format!(
                "token is for device {}, not {}",
                token.device_id, self.device_id
            )));
        }
        if token.operation != operation {
            return Err(LightError::Token(format!(
                "token is for operation {}, not {operation}",
                token.operation
            )));
        }
        if now_ms >= token.expires_ms {
            return Err(LightError::Token("token expired".into()));
        }
        self.used.retain(|_, expires| *expires > now_ms);
        if self.used.contains_key(&token.token_id) {
            return Err(LightError::Token("token already used".into()));
        }
        if self.used.len() >= MAX_REMEMBERED_TOKENS {
            return Err(LightError::Token(
                "too many live tokens; retry later".into(),
            ));
        }
        self.used.insert(token.token_id, token.expires_ms);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Arbitrary bundles from an untrusted presenter never panic the verifier.
        #[test]
        fn garbage_bundles_are_refused_without_panicking(
            token in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            receipt in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            proof in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            header in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            fin in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            index in 0u32..8,
            height in 0u64..8,
        ) {
            let bundle = TokenBundle {
                token: hex::encode(token),
                receipt: hex::encode(receipt),
                receipt_index: index,
                receipt_proof: hex::encode(proof),
                exec_height: height,
                headers: vec![hex::encode(header)],
                finalization: hex::encode(fin),
            };
            let validators = Set::from_iter_dedup(Vec::<PublicKey>::new());
            let mut verifier = TokenVerifier::new(validators, "x:y");
            proptest::prop_assert!(verifier.accept(&bundle, "read", 0).is_err());
        }
    }
}
