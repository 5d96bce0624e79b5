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
//! - [`ReadingProof`] / [`BatchArchive`]: a device reading (white paper 二.1)
//!   is proven by its Merkle path to the batch root the device signed, the
//!   batch commitment's path to the commitments root in the anchoring
//!   receipt, and that receipt's [`ReceiptChain`] to a finalized header — so
//!   readings fetched from an archive, long after the node dropped them,
//!   still verify.
//!
//! This crate has no dependency on Ingot's node, execution, storage engine or
//! networking; it uses Commonware's consensus types only to decode and check
//! certificates.

use commonware_codec::{Decode, Encode};
use commonware_consensus::{
    simplex::{scheme::ed25519, types::Finalization},
    Epochable,
};
use commonware_cryptography::{ed25519::PublicKey, sha256::Digest};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use ingot_types::{
    access::Token,
    merkle, sha256,
    telemetry::{reading_leaf, reading_leaves, BatchCommitment, Reading, ReadingBatch, Trust},
    Genesis, Header, Receipt, Status,
};
use std::collections::BTreeMap;

/// The signed API request (layout, headers, limits): re-exported so device
/// firmware and auditors that link only this crate can sign requests.
pub use ingot_types::api_request::{self, request_message, API_SIGNING_DOMAIN};

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
    #[error("certificate for height {height} was made in epoch {found}, not its epoch {expected}")]
    WrongEpoch {
        height: u64,
        expected: u64,
        found: u64,
    },
    #[error("the validators of epoch {0} are not known: give the boundary headers that announce them (GET /v1/epochs)")]
    UnknownEpoch(u64),
    #[error("not a boundary header: {0}")]
    NotBoundary(String),
    #[error("headers do not link: {0}")]
    Broken(String),
    #[error("receipt is not included under the anchored receipts root")]
    NotIncluded,
    #[error("token refused: {0}")]
    Token(String),
    #[error("reading refused: {0}")]
    Reading(&'static str),
}

fn malformed(what: &'static str) -> impl Fn(commonware_codec::Error) -> LightError {
    move |e| LightError::Malformed(what, e.to_string())
}

/// Who may certify which heights: the chain's epochs (as genesis sets
/// them) and each epoch's validator set. A certificate counts only if it was
/// made in the epoch its block's height belongs to, by that epoch's set —
/// so validators of one epoch can never certify a block of another.
///
/// Epoch 0's set is genesis's. Each later epoch's set is learned from the
/// boundary header that announces it (the last block of the epoch before,
/// whose `next_validators` the previous set certified): the history is a
/// chain of certificates from genesis, checked one epoch at a time.
#[derive(Clone, Debug)]
pub struct Validators {
    epoch_length: u64,
    sets: BTreeMap<u64, Set<PublicKey>>,
}

impl Validators {
    /// The epoch `height` belongs to (`height / epoch_length`).
    pub fn epoch_of(&self, height: u64) -> u64 {
        height / self.epoch_length
    }

    /// The validator set of `epoch`, if known.
    pub fn set_of(&self, epoch: u64) -> Result<&Set<PublicKey>, LightError> {
        self.sets.get(&epoch).ok_or(LightError::UnknownEpoch(epoch))
    }

    /// The latest epoch whose set is known.
    pub fn known_epochs(&self) -> u64 {
        self.sets.keys().next_back().copied().unwrap_or(0)
    }

    /// Learn the next epoch's set from a boundary header (the last block of
    /// an epoch whose set is known) and its finalization certificate.
    /// Returns the epoch learned. Giving an epoch already known is allowed
    /// only with the same set.
    pub fn learn(&mut self, header: &Header, finalization_raw: Vec<u8>) -> Result<u64, LightError> {
        let epoch = self.epoch_of(header.height);
        if self.epoch_length == u64::MAX
            || header.height != (epoch + 1).saturating_mul(self.epoch_length) - 1
        {
            return Err(LightError::NotBoundary(format!(
                "height {} is not the last of an epoch",
                header.height
            )));
        }
        let Some(next) = &header.next_validators else {
            return Err(LightError::NotBoundary(
                "the header names no next validators".into(),
            ));
        };
        verify_certificate(self, header.height, header.digest(), finalization_raw)?;
        let mut keys = Vec::with_capacity(next.len());
        for raw in next {
            keys.push(
                <PublicKey as commonware_codec::DecodeExt<()>>::decode(raw.to_vec())
                    .map_err(malformed("next validator key"))?,
            );
        }
        let set = Set::from_iter_dedup(keys);
        match self.sets.get(&(epoch + 1)) {
            Some(known) if known != &set => Err(LightError::NotBoundary(format!(
                "epoch {} is known with another set",
                epoch + 1
            ))),
            _ => {
                self.sets.insert(epoch + 1, set);
                Ok(epoch + 1)
            }
        }
    }

    /// Learn every epoch announced in `boundaries` (in epoch order, as
    /// `GET /v1/epochs` serves them: header and certificate, hex).
    pub fn follow(&mut self, boundaries: &[Boundary]) -> Result<u64, LightError> {
        for b in boundaries {
            let header = Header::decode_cfg(
                hex::decode(&b.header)
                    .map_err(|e| LightError::Malformed("boundary header", e.to_string()))?,
                &(),
            )
            .map_err(malformed("boundary header"))?;
            let fin = hex::decode(&b.finalization)
                .map_err(|e| LightError::Malformed("boundary certificate", e.to_string()))?;
            self.learn(&header, fin)?;
        }
        Ok(self.known_epochs())
    }

    /// Validators for a chain with no epochs and this set (tests, tools).
    pub fn single_epoch(set: Set<PublicKey>) -> Self {
        Self {
            epoch_length: u64::MAX,
            sets: BTreeMap::from([(0, set)]),
        }
    }
}

/// One epoch boundary as the API serves it: the last block's header of
/// epoch `epoch - 1`, which names `epoch`'s validators, and its
/// finalization certificate (both canonical bytes, hex).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Boundary {
    pub epoch: u64,
    pub height: u64,
    pub header: String,
    pub finalization: String,
}

/// The validators of a genesis file.
pub fn validators(genesis: &Genesis) -> Result<Validators, LightError> {
    let mut keys = Vec::with_capacity(genesis.validators.len());
    for v in &genesis.validators {
        let raw = hex::decode(&v.public_key)
            .map_err(|e| LightError::Malformed("validator key", e.to_string()))?;
        keys.push(
            <PublicKey as commonware_codec::DecodeExt<()>>::decode(raw)
                .map_err(malformed("validator key"))?,
        );
    }
    let epoch_length = genesis.epoch_length();
    if epoch_length < ingot_types::genesis::MIN_EPOCH_LENGTH {
        return Err(LightError::Malformed(
            "genesis",
            format!("epoch_length {epoch_length} is below the minimum"),
        ));
    }
    Ok(Validators {
        epoch_length,
        sets: BTreeMap::from([(0, Set::from_iter_dedup(keys))]),
    })
}

/// Check that `finalization_raw` is a certificate, made in the epoch of
/// `height` by a quorum of that epoch's validators, for the block at
/// `height` whose digest is `digest`.
pub fn verify_certificate(
    validators: &Validators,
    height: u64,
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
    let epoch = validators.epoch_of(height);
    if fin.epoch().get() != epoch {
        return Err(LightError::WrongEpoch {
            height,
            expected: epoch,
            found: fin.epoch().get(),
        });
    }
    let verifier =
        ed25519::Scheme::verifier(CONSENSUS_NAMESPACE, validators.set_of(epoch)?.clone());
    if !fin.verify(&mut rand10::rng(), &verifier, &Sequential) {
        return Err(LightError::BadCertificate);
    }
    Ok(())
}

/// Decode a header and check its finalization certificate.
pub fn verify_finalized_header(
    validators: &Validators,
    header_raw: Vec<u8>,
    finalization_raw: Vec<u8>,
) -> Result<Header, LightError> {
    let header = Header::decode_cfg(header_raw, &()).map_err(malformed("header"))?;
    verify_certificate(validators, header.height, header.digest(), finalization_raw)?;
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
    pub fn verify(&self, validators: &Validators) -> Result<Token, LightError> {
        let token_raw = unhex("token", &self.token)?;
        let token = Token::decode_cfg(token_raw.clone(), &()).map_err(malformed("token"))?;
        let receipt = self.chain().verify(validators)?;

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

        Ok(token)
    }

    /// The bundle's receipt and its proof chain.
    pub fn chain(&self) -> ReceiptChain {
        ReceiptChain {
            receipt: self.receipt.clone(),
            receipt_index: self.receipt_index,
            receipt_proof: self.receipt_proof.clone(),
            exec_height: self.exec_height,
            headers: self.headers.clone(),
            finalization: self.finalization.clone(),
        }
    }
}

fn bmt_proof(what: &'static str, hex_proof: &str) -> Result<merkle::Proof, LightError> {
    merkle::Proof::decode_cfg(unhex(what, hex_proof)?, &merkle::PROOF_CFG).map_err(malformed(what))
}

/// Check that `receipt` sits at `index` under the receipts root of
/// `exec_height` anchored in the first of `headers`, that the headers are
/// hash-linked, and that the last one carries a finalization certificate of
/// `validators`.
pub fn verify_receipt_chain(
    validators: &Validators,
    receipt: &Receipt,
    index: u32,
    receipt_proof: &str,
    exec_height: u64,
    headers: &[String],
    finalization: &str,
) -> Result<(), LightError> {
    if headers.is_empty() || headers.len() > MAX_BUNDLE_HEADERS {
        return Err(LightError::Broken(format!(
            "need 1 to {MAX_BUNDLE_HEADERS} headers"
        )));
    }
    let mut decoded = Vec::with_capacity(headers.len());
    for h in headers {
        decoded.push(Header::decode_cfg(unhex("header", h)?, &()).map_err(malformed("header"))?);
    }
    let anchored = decoded[0].result_for(exec_height).ok_or_else(|| {
        LightError::Broken("first header does not anchor the receipt's height".into())
    })?;
    let proof = bmt_proof("receipt proof", receipt_proof)?;
    let leaf = sha256(&[&receipt.encode()]);
    if !merkle::verify(&proof, &leaf, index, &anchored.receipts_root) {
        return Err(LightError::NotIncluded);
    }
    for pair in decoded.windows(2) {
        if pair[1].parent != pair[0].digest() || pair[1].height != pair[0].height + 1 {
            return Err(LightError::Broken(format!(
                "header {} is not the child of {}",
                pair[1].height, pair[0].height
            )));
        }
    }
    let last = decoded.last().expect("non-empty");
    verify_certificate(
        validators,
        last.height,
        last.digest(),
        unhex("finalization", finalization)?,
    )
}

/// A receipt and the proof chain that anchors it in a finalized block (hex in
/// JSON; see [`verify_receipt_chain`]).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReceiptChain {
    pub receipt: String,
    pub receipt_index: u32,
    pub receipt_proof: String,
    pub exec_height: u64,
    pub headers: Vec<String>,
    pub finalization: String,
}

impl ReceiptChain {
    /// The receipt, once its chain checks out against `validators`.
    pub fn verify(&self, validators: &Validators) -> Result<Receipt, LightError> {
        let receipt = Receipt::decode_cfg(unhex("receipt", &self.receipt)?, &())
            .map_err(malformed("receipt"))?;
        verify_receipt_chain(
            validators,
            &receipt,
            self.receipt_index,
            &self.receipt_proof,
            self.exec_height,
            &self.headers,
            &self.finalization,
        )?;
        Ok(receipt)
    }
}

/// Everything needed to check one device reading offline: the reading, its
/// path to its batch's Merkle root, the batch commitment and its path to the
/// commitments root in the anchoring receipt, and that receipt's chain to a
/// finalized header. Valid forever: archives keep it beside the reading.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ReadingProof {
    pub device_id: String,
    pub seq: u64,
    /// Canonical [`Reading`](ingot_types::telemetry::Reading).
    pub reading: String,
    pub reading_proof: String,
    /// Canonical [`BatchCommitment`].
    pub commitment: String,
    pub commitment_index: u32,
    pub commitment_proof: String,
    pub chain: ReceiptChain,
}

/// A reading proven under a finalized block, with who signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedReading {
    pub reading: Reading,
    /// `DeviceSigned`, or `GatewayAttested` for plant equipment whose
    /// gateway signed (a lower trust level), as the commitment says.
    pub trust: Trust,
    /// The attesting gateway's device id; empty when the device signed.
    pub attested_by: String,
}

impl ReadingProof {
    /// The reading and its trust level, once everything from it to a
    /// finalization certificate of `validators` checks out.
    pub fn verify(&self, validators: &Validators) -> Result<VerifiedReading, LightError> {
        let reading = Reading::decode_cfg(unhex("reading", &self.reading)?, &())
            .map_err(malformed("reading"))?;
        let commitment = BatchCommitment::decode_cfg(unhex("commitment", &self.commitment)?, &())
            .map_err(malformed("commitment"))?;
        if commitment.device_id != self.device_id
            || self.seq < commitment.first_seq
            || self.seq - commitment.first_seq >= commitment.count as u64
        {
            return Err(LightError::Reading(
                "sequence number outside the committed batch",
            ));
        }
        let leaf = reading_leaf(&self.device_id, self.seq, &reading);
        let index = (self.seq - commitment.first_seq) as u32;
        let proof = bmt_proof("reading proof", &self.reading_proof)?;
        if !merkle::verify(&proof, &leaf, index, &Digest::from(commitment.root)) {
            return Err(LightError::Reading("reading is not under the batch root"));
        }
        let receipt = self.chain.verify(validators)?;
        if receipt.status != Status::Success {
            return Err(LightError::Reading("the anchoring transaction failed"));
        }
        let root = receipt
            .events
            .iter()
            .find(|e| e.module == "telemetry" && e.kind == "anchored")
            .and_then(|e| e.attributes.iter().find(|(k, _)| k == "commitments_root"))
            .map(|(_, v)| v.clone())
            .ok_or(LightError::Reading("the receipt anchors no commitments"))?;
        let proof = bmt_proof("commitment proof", &self.commitment_proof)?;
        let ok = hex::decode(&root)
            .ok()
            .and_then(|r| <[u8; 32]>::try_from(r).ok())
            .is_some_and(|r| {
                merkle::verify(
                    &proof,
                    &commitment.leaf(),
                    self.commitment_index,
                    &Digest::from(r),
                )
            });
        if !ok {
            return Err(LightError::Reading(
                "the batch commitment is not under the anchored commitments root",
            ));
        }
        Ok(VerifiedReading {
            reading,
            trust: commitment.trust(),
            attested_by: commitment.attested_by,
        })
    }
}

/// A whole anchored batch with its proof chain: what the telemetry store
/// returns on request and writes to its archive before retention drops the
/// batch. Every reading's [`ReadingProof`] can be derived from it offline.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BatchArchive {
    /// Canonical [`ReadingBatch`] as the device signed it.
    pub batch: String,
    pub commitment_index: u32,
    pub commitment_proof: String,
    /// The gateway that signed for equipment, empty (or absent, in archives
    /// written before gateway attestation) when the device signed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub attested_by: String,
    pub chain: ReceiptChain,
}

impl BatchArchive {
    /// The batch, once its root is the committed one and the commitment is
    /// proven under a finalized block.
    pub fn verify(&self, validators: &Validators) -> Result<ReadingBatch, LightError> {
        let (batch, first) = self.first_reading_proof()?;
        first.verify(validators)?;
        Ok(batch)
    }

    fn decode(&self) -> Result<ReadingBatch, LightError> {
        ReadingBatch::decode_cfg(unhex("batch", &self.batch)?, &()).map_err(malformed("batch"))
    }

    fn first_reading_proof(&self) -> Result<(ReadingBatch, ReadingProof), LightError> {
        let batch = self.decode()?;
        let proof = self.proof_in(&batch, batch.first_seq)?;
        Ok((batch, proof))
    }

    /// The offline proof of reading `seq` of this batch.
    pub fn reading_proof(&self, seq: u64) -> Result<ReadingProof, LightError> {
        let batch = self.decode()?;
        self.proof_in(&batch, seq)
    }

    fn proof_in(&self, batch: &ReadingBatch, seq: u64) -> Result<ReadingProof, LightError> {
        let index = seq
            .checked_sub(batch.first_seq)
            .filter(|i| *i < batch.readings.len() as u64)
            .ok_or(LightError::NotIncluded)?;
        let leaves = reading_leaves(&batch.device_id, batch.first_seq, &batch.readings);
        let root = merkle::root(&leaves);
        let proof = merkle::proof(&leaves, index as u32).ok_or(LightError::NotIncluded)?;
        Ok(ReadingProof {
            device_id: batch.device_id.clone(),
            seq,
            reading: hex::encode(batch.readings[index as usize].encode()),
            reading_proof: hex::encode(proof.encode()),
            commitment: hex::encode(batch.commitment(&root, &self.attested_by).encode()),
            commitment_index: self.commitment_index,
            commitment_proof: self.commitment_proof.clone(),
            chain: self.chain.clone(),
        })
    }
}

/// What a device (or its gateway) runs: checks tokens presented to it and
/// remembers used ones until they expire, so each works once.
pub struct TokenVerifier {
    validators: Validators,
    device_id: String,
    /// Used token ids → their expiry (ms).
    used: BTreeMap<[u8; 32], u64>,
}

impl TokenVerifier {
    pub fn new(validators: Validators, device_id: impl Into<String>) -> Self {
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

    /// A finalization by all four `keys` of `digest` in `epoch`.
    fn certify(
        keys: &[commonware_cryptography::ed25519::PrivateKey],
        epoch: u64,
        digest: Digest,
    ) -> Vec<u8> {
        use commonware_consensus::{
            simplex::types::{Finalize, Proposal},
            types::{Epoch, Round, View},
        };
        use commonware_cryptography::Signer;
        let set = Set::from_iter_dedup(keys.iter().map(|k| k.public_key()));
        let proposal = Proposal::new(
            Round::new(Epoch::new(epoch), View::new(5)),
            View::new(4),
            digest,
        );
        let finalizes = keys.iter().map(|k| {
            let signer =
                ed25519::Scheme::signer(CONSENSUS_NAMESPACE, set.clone(), k.clone()).unwrap();
            Finalize::sign(&signer, proposal.clone()).unwrap()
        });
        let verifier = ed25519::Scheme::verifier(CONSENSUS_NAMESPACE, set.clone());
        Finalization::from_owned_finalizes(
            &verifier,
            commonware_utils::iter::NonEmpty::try_new(finalizes).unwrap(),
            &Sequential,
        )
        .unwrap()
        .encode()
        .to_vec()
    }

    #[test]
    fn a_certificate_counts_only_in_the_epoch_its_height_belongs_to() {
        use commonware_cryptography::Signer as _;
        let keys: Vec<_> = (0..4)
            .map(commonware_cryptography::ed25519::PrivateKey::from_seed)
            .collect();
        let set =
            Set::from_iter_dedup(keys.iter().map(commonware_cryptography::Signer::public_key));
        let mut validators = Validators {
            epoch_length: 20,
            sets: BTreeMap::from([(0, set.clone())]),
        };
        let digest = sha256(&[b"block"]);
        // Epoch 1's set is unknown until the boundary header at 19 announces it.
        assert_eq!(
            verify_certificate(&validators, 25, digest, certify(&keys, 1, digest)),
            Err(LightError::UnknownEpoch(1))
        );
        let boundary = boundary_header(19, &keys);
        let fin = certify(&keys, 0, boundary.digest());
        assert_eq!(validators.learn(&boundary, fin.clone()), Ok(1));
        // Heights 20..=39 are epoch 1.
        assert_eq!(
            verify_certificate(&validators, 25, digest, certify(&keys, 1, digest)),
            Ok(())
        );
        assert_eq!(
            verify_certificate(&validators, 19, digest, certify(&keys, 0, digest)),
            Ok(())
        );
        assert_eq!(
            verify_certificate(&validators, 25, digest, certify(&keys, 0, digest)),
            Err(LightError::WrongEpoch {
                height: 25,
                expected: 1,
                found: 0
            })
        );
        assert_eq!(
            verify_certificate(&validators, 40, digest, certify(&keys, 1, digest)),
            Err(LightError::WrongEpoch {
                height: 40,
                expected: 2,
                found: 1
            })
        );
        // Without epochs every height is epoch 0.
        let single = Validators::single_epoch(set);
        assert_eq!(
            verify_certificate(&single, 1_000_000, digest, certify(&keys, 0, digest)),
            Ok(())
        );
        assert!(verify_certificate(&single, 5, digest, certify(&keys, 1, digest)).is_err());
        // Another block's certificate never counts.
        assert_eq!(
            verify_certificate(
                &validators,
                25,
                sha256(&[b"other"]),
                certify(&keys, 1, digest)
            ),
            Err(LightError::WrongBlock)
        );
    }

    /// A boundary header at `height` naming `keys` as the next validators.
    fn boundary_header(
        height: u64,
        keys: &[commonware_cryptography::ed25519::PrivateKey],
    ) -> Header {
        use commonware_cryptography::Signer as _;
        let mut next: Vec<[u8; 32]> = keys
            .iter()
            .map(|k| k.public_key().as_ref().try_into().unwrap())
            .collect();
        next.sort();
        Header {
            version: ingot_types::block::BOUNDARY_HEADER_VERSION,
            parent: sha256(&[b"parent"]),
            height,
            timestamp_ms: 1,
            proposer: [0; 32],
            tx_count: 0,
            tx_root: merkle::root(&[]),
            exec_height: 0,
            results: vec![],
            next_validators: Some(next),
        }
    }

    #[test]
    fn validator_sets_are_learned_epoch_by_epoch_from_certified_boundaries() {
        use commonware_cryptography::Signer as _;
        let keys: Vec<_> = (0..8)
            .map(commonware_cryptography::ed25519::PrivateKey::from_seed)
            .collect();
        let genesis_set = Set::from_iter_dedup(keys[..4].iter().map(|k| k.public_key()));
        let mut validators = Validators {
            epoch_length: 20,
            sets: BTreeMap::from([(0, genesis_set)]),
        };
        let (old, new) = (&keys[..4], &keys[4..]);
        // Epoch 0 hands over to a new set at 19; epoch 1 is then certified by it.
        let b19 = boundary_header(19, new);
        // Certified by the wrong set, or not at a boundary, or a later epoch
        // before its predecessor: refused, nothing learned.
        assert_eq!(
            validators.learn(&b19, certify(new, 0, b19.digest())),
            Err(LightError::BadCertificate)
        );
        let mid = boundary_header(18, new);
        assert!(matches!(
            validators.learn(&mid, certify(old, 0, mid.digest())),
            Err(LightError::NotBoundary(_))
        ));
        let b39 = boundary_header(39, old);
        assert_eq!(
            validators.learn(&b39, certify(new, 1, b39.digest())),
            Err(LightError::UnknownEpoch(1))
        );
        assert_eq!(validators.known_epochs(), 0);
        let boundaries = [
            Boundary {
                epoch: 1,
                height: 19,
                header: hex::encode(b19.encode()),
                finalization: hex::encode(certify(old, 0, b19.digest())),
            },
            Boundary {
                epoch: 2,
                height: 39,
                header: hex::encode(b39.encode()),
                finalization: hex::encode(certify(new, 1, b39.digest())),
            },
        ];
        assert_eq!(validators.follow(&boundaries), Ok(2));
        let digest = sha256(&[b"block"]);
        // The old set no longer certifies epoch 1; the new one does; epoch 2
        // is the old set's again.
        assert_eq!(
            verify_certificate(&validators, 25, digest, certify(old, 1, digest)),
            Err(LightError::BadCertificate)
        );
        assert_eq!(
            verify_certificate(&validators, 25, digest, certify(new, 1, digest)),
            Ok(())
        );
        assert_eq!(
            verify_certificate(&validators, 45, digest, certify(old, 2, digest)),
            Ok(())
        );
        // The same boundary again is harmless; a second set for an epoch is refused.
        assert_eq!(validators.follow(&boundaries), Ok(2));
        let forged = boundary_header(19, old);
        assert!(matches!(
            validators.learn(&forged, certify(old, 0, forged.digest())),
            Err(LightError::NotBoundary(_))
        ));
    }

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
            let validators = Validators::single_epoch(Set::from_iter_dedup(Vec::<PublicKey>::new()));
            let mut verifier = TokenVerifier::new(validators, "x:y");
            proptest::prop_assert!(verifier.accept(&bundle, "read", 0).is_err());
        }
    }
}
