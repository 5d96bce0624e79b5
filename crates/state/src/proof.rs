//! State proofs and their offline verification.
//!
//! A proof is self-contained bytes: the verifier needs only the raw key, the
//! claimed value (or absence) and a trusted state root — which a client takes
//! from a finalized block header (see `ingot_types::block`).

use crate::{db_err, hashed_key, StateDb, StateError, CHUNK};
use commonware_codec::{Decode, Encode, RangeCfg};
use commonware_cryptography::{sha256::Digest, Sha256};
use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use commonware_storage::{
    merkle::{mmr, MAX_PROOF_DIGESTS_PER_ELEMENT},
    qmdb::{
        any::value::VariableEncoding,
        current::ordered::proof::constant::{ExclusionProof, KeyValueProof},
    },
};
use ingot_types::limits::MAX_VALUE_BYTES;

type KvProof = KeyValueProof<mmr::Family, Digest, Digest, CHUNK>;
type ExProof = ExclusionProof<mmr::Family, Digest, VariableEncoding<Vec<u8>>, Digest, CHUNK>;

/// The value (or absence) of a key, with a proof against `root`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateProof {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    /// Height of the last block applied to the state the proof was taken from.
    pub height: u64,
    pub root: Digest,
    /// Encoded QMDB proof: a key-value proof if `value` is `Some`, otherwise an
    /// exclusion proof.
    pub proof: Vec<u8>,
}

pub(crate) async fn prove<E: Storage + Clock + Metrics + Spawner>(
    db: &StateDb<E>,
    key: &[u8],
    height: u64,
) -> Result<StateProof, StateError> {
    let k = hashed_key(key);
    let value = db.get(&k).await.map_err(db_err)?;
    let proof = match &value {
        Some(_) => {
            let p: KvProof = db.key_value_proof(k).await.map_err(db_err)?;
            p.encode().to_vec()
        }
        None => {
            let p: ExProof = db.exclusion_proof(&k).await.map_err(db_err)?;
            p.encode().to_vec()
        }
    };
    Ok(StateProof {
        key: key.to_vec(),
        value,
        height,
        root: db.root(),
        proof,
    })
}

/// Check that `key` has `value` (or is absent when `None`) under `root`.
/// Pure: no database, no runtime.
pub fn verify_proof(root: &Digest, key: &[u8], value: Option<&[u8]>, proof: &[u8]) -> bool {
    let k = hashed_key(key);
    match value {
        Some(v) => {
            let Ok(p) = KvProof::decode_cfg(proof.to_vec(), &(MAX_PROOF_DIGESTS_PER_ELEMENT, ()))
            else {
                return false;
            };
            p.verify::<Sha256, VariableEncoding<Vec<u8>>>(k, v.to_vec(), root)
        }
        None => {
            let vcfg: (RangeCfg<usize>, ()) = ((0..=MAX_VALUE_BYTES).into(), ());
            let cfg = (MAX_PROOF_DIGESTS_PER_ELEMENT, ((), vcfg), vcfg);
            let Ok(p) = ExProof::decode_cfg(proof.to_vec(), &cfg) else {
                return false;
            };
            p.verify::<Sha256>(&k, root)
        }
    }
}
