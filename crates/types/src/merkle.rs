//! Binary Merkle roots over transaction and receipt hashes (commonware's BMT).

use crate::Digest;
use commonware_cryptography::Sha256;
use commonware_storage::bmt::Builder;

/// An inclusion proof of one leaf.
pub type Proof = commonware_storage::bmt::Proof<Digest>;
/// Decoding bound of a single-leaf [`Proof`].
pub const PROOF_CFG: usize = 1;

/// Root of a list of leaf digests. An empty list has a well-defined root too.
pub fn root(leaves: &[Digest]) -> Digest {
    let mut builder = Builder::<Sha256>::new(leaves.len());
    for leaf in leaves {
        builder.add(leaf);
    }
    builder.build().root()
}

/// Inclusion proof for the leaf at `index`.
pub fn proof(leaves: &[Digest], index: u32) -> Option<Proof> {
    let mut builder = Builder::<Sha256>::new(leaves.len());
    for leaf in leaves {
        builder.add(leaf);
    }
    builder.build().proof(index).ok()
}

/// Inclusion proofs of every leaf, from one tree.
pub fn proofs(leaves: &[Digest]) -> Vec<Proof> {
    let mut builder = Builder::<Sha256>::new(leaves.len());
    for leaf in leaves {
        builder.add(leaf);
    }
    let tree = builder.build();
    (0..leaves.len() as u32)
        .map(|i| tree.proof(i).expect("index in range"))
        .collect()
}

/// Check that `leaf` sits at `index` under `root`.
pub fn verify(proof: &Proof, leaf: &Digest, index: u32, root: &Digest) -> bool {
    proof
        .verify_element_inclusion::<Sha256>(leaf, index, root)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_verify_and_detect_tampering() {
        let leaves: Vec<Digest> = (0u8..5).map(|i| crate::sha256(&[&[i]])).collect();
        let r = root(&leaves);
        let p = proof(&leaves, 3).unwrap();
        assert!(verify(&p, &leaves[3], 3, &r));
        assert!(!verify(&p, &leaves[2], 3, &r));
        assert!(!verify(&p, &leaves[3], 2, &r));
        assert!(!verify(&p, &leaves[3], 3, &crate::sha256(&[b"other"])));
        assert_ne!(root(&leaves[..4]), r);
    }
}
