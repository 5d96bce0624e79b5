//! `cargo bench -p ingot-crypto`: signature verification per scheme, single
//! and batched — the bound on how many device batches a validator can check
//! (each validator verifies every device signature of every block).
//!
//! Plain timing loops (no statistics crate): each case runs for about a
//! second after a warm-up and prints verifications per second on one core.

use ingot_crypto::{
    batch::{verify_all, verify_all_deterministic, Item},
    PrivateKey, Scheme,
};
use std::time::{Duration, Instant};

fn per_second(items: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let (start, mut rounds) = (Instant::now(), 0usize);
    while start.elapsed() < Duration::from_secs(1) {
        f();
        rounds += 1;
    }
    (rounds * items) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let n = 256;
    for scheme in [Scheme::Ed25519, Scheme::P256, Scheme::Sm2] {
        let keys: Vec<PrivateKey> = (0..n)
            .map(|_| PrivateKey::generate(scheme).unwrap())
            .collect();
        let publics: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
        let msgs: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("batch root {i:064}").into_bytes())
            .collect();
        let sigs: Vec<Vec<u8>> = keys
            .iter()
            .zip(&msgs)
            .map(|(k, m)| k.sign(m).unwrap())
            .collect();
        let items: Vec<Item> = (0..n)
            .map(|i| Item {
                key: &publics[i],
                message: &msgs[i],
                signature: &sigs[i],
            })
            .collect();
        let single = per_second(n, || {
            for it in &items {
                assert!(it.key.verify(it.message, it.signature).is_ok());
            }
        });
        println!("{scheme:?} single: {single:.0} verifications/s");
        if scheme == Scheme::Ed25519 {
            let batched = per_second(n, || assert!(verify_all(&items).iter().all(|ok| *ok)));
            println!("{scheme:?} batch of {n} (dalek, admission): {batched:.0} verifications/s");
            let det = per_second(n, || {
                assert!(verify_all_deterministic(&items).iter().all(|ok| *ok))
            });
            println!("{scheme:?} batch of {n} (ZIP-215, execution): {det:.0} verifications/s");
        }
    }
}
