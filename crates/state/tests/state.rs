//! The state store under the deterministic runtime: apply, prove, verify,
//! tamper, and reopen after a restart.

use commonware_runtime::{deterministic, Runner as _, Supervisor as _};
use ingot_state::{verify_proof, StateStore, WriteSet};

fn writes(pairs: &[(&str, Option<&str>)]) -> WriteSet {
    pairs
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
        .collect()
}

#[test]
fn proofs_verify_and_tampering_fails() {
    deterministic::Runner::default().start(|ctx| async move {
        let mut s = StateStore::open(ctx.child("state"), "t").await.unwrap();
        let empty_root = s.root().unwrap();
        let r1 = s
            .apply(1, &writes(&[("a", Some("1")), ("b", Some("2"))]))
            .await
            .unwrap();
        assert_ne!(r1, empty_root);
        let r2 = s
            .apply(2, &writes(&[("a", None), ("c", Some("3"))]))
            .await
            .unwrap();
        assert_eq!(s.height(), 2);

        let p = s.prove(b"c").await.unwrap();
        assert_eq!(p.value.as_deref(), Some(&b"3"[..]));
        assert_eq!(p.root, r2);
        assert!(verify_proof(&r2, b"c", Some(b"3"), &p.proof));
        // wrong value, wrong key, wrong root
        assert!(!verify_proof(&r2, b"c", Some(b"4"), &p.proof));
        assert!(!verify_proof(&r2, b"b", Some(b"3"), &p.proof));
        assert!(!verify_proof(&r1, b"c", Some(b"3"), &p.proof));
        // a flipped proof byte
        for i in [0, p.proof.len() / 2, p.proof.len() - 1] {
            let mut bad = p.proof.clone();
            bad[i] ^= 1;
            assert!(!verify_proof(&r2, b"c", Some(b"3"), &bad));
        }

        // absence of a deleted key and of a never-written key
        let pa = s.prove(b"a").await.unwrap();
        assert_eq!(pa.value, None);
        assert!(verify_proof(&r2, b"a", None, &pa.proof));
        assert!(!verify_proof(&r1, b"a", None, &pa.proof));
        let pz = s.prove(b"zzz").await.unwrap();
        assert!(verify_proof(&r2, b"zzz", None, &pz.proof));
        // an absence proof does not prove presence, nor absence of a present key
        assert!(!verify_proof(&r2, b"a", Some(b"1"), &pa.proof));
        assert!(!verify_proof(&r2, b"b", None, &pa.proof));

        // a value the store could not read back is refused without changing state
        let big: WriteSet = [(
            b"big".to_vec(),
            Some(vec![0u8; ingot_types::limits::MAX_VALUE_BYTES + 1]),
        )]
        .into();
        assert!(s.apply(3, &big).await.is_err());
        assert_eq!(s.root().unwrap(), r2);
        // out-of-order heights are refused without changing state
        assert!(s.apply(5, &writes(&[("x", Some("y"))])).await.is_err());
        assert_eq!(s.root().unwrap(), r2);
    });
}

#[test]
fn reopen_resumes_height_and_root() {
    let (root, checkpoint) = deterministic::Runner::default().start_and_recover(|ctx| async move {
        let mut s = StateStore::open(ctx.child("state"), "t").await.unwrap();
        s.apply(1, &writes(&[("k", Some("v"))])).await.unwrap();
        s.apply(2, &writes(&[("k2", Some("v2"))])).await.unwrap()
    });
    deterministic::Runner::from(checkpoint).start(|ctx| async move {
        let s = StateStore::open(ctx.child("state"), "t").await.unwrap();
        assert_eq!(s.height(), 2);
        assert_eq!(s.root().unwrap(), root);
        assert_eq!(s.get(b"k2").await.unwrap(), Some(b"v2".to_vec()));
    });
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
    /// Random bytes never verify as a proof (and never panic the verifier).
    #[test]
    fn random_proofs_never_verify(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), present: bool) {
        let root = ingot_types::sha256(&[b"root"]);
        proptest::prop_assert!(!verify_proof(&root, b"k", present.then_some(&b"v"[..]), &raw));
    }
}
