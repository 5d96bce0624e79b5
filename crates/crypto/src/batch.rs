//! Verifying many signatures at once.
//!
//! Ed25519 signatures are checked together with one multi-scalar
//! multiplication (`ed25519_dalek::verify_batch`), roughly twice as fast per
//! signature as one by one. If the batch fails, every Ed25519 signature in it
//! is checked on its own so the caller learns exactly which ones are bad.
//! ECDSA P-256 and SM2 have no batch equation and are checked one by one.
//!
//! Batch acceptance is slightly laxer than [`PublicKey::verify`]'s strict
//! check for crafted signatures (small-order `R`). Ingot only uses the result
//! to admit transactions and to vote on proposals, never in execution, so a
//! disagreement between nodes about such a signature can cost one proposal its
//! votes but can never make two nodes execute differently. Weak (small-order)
//! keys are refused here exactly as the strict check refuses them.

use crate::PublicKey;

/// One signature to check: key, signed message, signature bytes.
pub struct Item<'a> {
    pub key: &'a PublicKey,
    pub message: &'a [u8],
    pub signature: &'a [u8],
}

/// Verify every item; `result[i]` says whether item `i` is valid.
pub fn verify_all(items: &[Item<'_>]) -> Vec<bool> {
    let mut ok = vec![false; items.len()];
    let mut ed_index = Vec::new();
    let mut ed_messages: Vec<&[u8]> = Vec::new();
    let mut ed_signatures = Vec::new();
    let mut ed_keys = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.key {
            PublicKey::Ed25519(key) => {
                let Ok(signature) = ed25519_dalek::Signature::from_slice(item.signature) else {
                    continue;
                };
                if key.is_weak() {
                    continue;
                }
                ed_index.push(i);
                ed_messages.push(item.message);
                ed_signatures.push(signature);
                ed_keys.push(*key);
            }
            other => ok[i] = other.verify(item.message, item.signature).is_ok(),
        }
    }
    let batch_ok = match ed_index.len() {
        0 => true,
        1 => false, // a batch of one is slower than the single check below
        _ => ed25519_dalek::verify_batch(&ed_messages, &ed_signatures, &ed_keys).is_ok(),
    };
    for (j, &i) in ed_index.iter().enumerate() {
        ok[i] = batch_ok
            || ed_keys[j]
                .verify_strict(ed_messages[j], &ed_signatures[j])
                .is_ok();
    }
    ok
}

/// [`verify_all`] with the answer every honest node computes identically, for
/// use *inside execution* (device telemetry signatures, checked by every
/// validator on every block).
///
/// Ed25519 is checked under ZIP-215 rules with `ed25519-consensus`, whose batch
/// and single checks accept exactly the same signatures (cofactored equation).
/// dalek's batch check, used by [`verify_all`], can disagree with its strict
/// single check on crafted signatures and draws random coefficients, so a
/// malicious device could make validators disagree; this one cannot. If the
/// batch fails, each signature is checked on its own, deterministically.
/// P-256 and SM2 are checked one by one as in [`verify_all`].
pub fn verify_all_deterministic(items: &[Item<'_>]) -> Vec<bool> {
    let mut ok = vec![false; items.len()];
    let mut ed: Vec<(usize, ed25519_consensus::batch::Item)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.key {
            PublicKey::Ed25519(key) => {
                let Ok(sig) = <[u8; 64]>::try_from(item.signature) else {
                    continue;
                };
                let vk = ed25519_consensus::VerificationKeyBytes::from(key.to_bytes());
                let sig = ed25519_consensus::Signature::from(sig);
                ed.push((i, (vk, sig, item.message).into()));
            }
            other => ok[i] = other.verify(item.message, item.signature).is_ok(),
        }
    }
    let batch_ok = ed.len() > 1 && {
        let mut verifier = ed25519_consensus::batch::Verifier::new();
        for (_, item) in &ed {
            verifier.queue(item.clone());
        }
        verifier.verify(rand_core::OsRng).is_ok()
    };
    for (i, item) in ed {
        ok[i] = batch_ok || item.verify_single().is_ok();
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PrivateKey, Scheme};

    #[test]
    fn finds_exactly_the_bad_signatures_in_a_mixed_batch() {
        let schemes = [Scheme::Ed25519, Scheme::P256, Scheme::Sm2];
        let keys: Vec<PrivateKey> = (0..12)
            .map(|i| PrivateKey::generate(schemes[i % 3]).unwrap())
            .collect();
        let publics: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let messages: Vec<Vec<u8>> = (0..12u8).map(|i| vec![i; 40]).collect();
        let mut signatures: Vec<Vec<u8>> = keys
            .iter()
            .zip(&messages)
            .map(|(k, m)| k.sign(m).unwrap())
            .collect();
        let items = |sigs: &[Vec<u8>]| -> Vec<bool> {
            let items: Vec<Item> = (0..12)
                .map(|i| Item {
                    key: &publics[i],
                    message: &messages[i],
                    signature: &sigs[i],
                })
                .collect();
            verify_all(&items)
        };
        assert_eq!(items(&signatures), vec![true; 12]);
        let deterministic = |sigs: &[Vec<u8>]| -> Vec<bool> {
            let items: Vec<Item> = (0..12)
                .map(|i| Item {
                    key: &publics[i],
                    message: &messages[i],
                    signature: &sigs[i],
                })
                .collect();
            verify_all_deterministic(&items)
        };
        assert_eq!(deterministic(&signatures), vec![true; 12]);

        // Corrupt one Ed25519 signature, one P-256, and truncate another Ed25519 one.
        signatures[3][5] ^= 1;
        signatures[4] = keys[4].sign(b"other message").unwrap();
        signatures[6].truncate(10);
        let mut expected = vec![true; 12];
        expected[3] = false;
        expected[4] = false;
        expected[6] = false;
        assert_eq!(items(&signatures), expected);
        assert_eq!(deterministic(&signatures), expected);
    }

    #[test]
    fn a_signature_over_another_message_fails_in_a_batch() {
        let keys: Vec<PrivateKey> = (0..5)
            .map(|_| PrivateKey::generate(Scheme::Ed25519).unwrap())
            .collect();
        let publics: Vec<PublicKey> = keys.iter().map(|k| k.public_key()).collect();
        let sigs: Vec<Vec<u8>> = keys.iter().map(|k| k.sign(b"m").unwrap()).collect();
        let other = b"n".to_vec();
        let items: Vec<Item> = (0..5)
            .map(|i| Item {
                key: &publics[i],
                message: if i == 2 { &other } else { b"m" },
                signature: &sigs[i],
            })
            .collect();
        assert_eq!(verify_all(&items), vec![true, true, false, true, true]);
        assert_eq!(
            verify_all_deterministic(&items),
            vec![true, true, false, true, true]
        );
    }
}
