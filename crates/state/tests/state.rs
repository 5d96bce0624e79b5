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

/// Blocks that overwrite a few hot keys and add a new one each time, so most
/// of the log becomes superseded history.
fn churn(height: u64) -> WriteSet {
    let mut w = WriteSet::new();
    for hot in 0..4u64 {
        w.insert(
            format!("hot-{hot}").into_bytes(),
            Some(format!("{height}-{hot}").into_bytes()),
        );
    }
    w.insert(
        format!("new-{height}").into_bytes(),
        Some(vec![height as u8; 40]),
    );
    if height.is_multiple_of(3) {
        w.insert(format!("new-{}", height - 1).into_bytes(), None);
    }
    w
}

// Enough operations (~14 per height) for several of the log's 4,096-operation
// sections: pruning removes whole sections.
const CHURN_HEIGHTS: u64 = 2_500;

#[test]
fn upkeep_prunes_history_without_changing_root_values_or_proofs() {
    // The same blocks without any upkeep give the reference root.
    let reference = deterministic::Runner::default().start(|ctx| async move {
        let mut s = StateStore::open(ctx.child("state"), "t").await.unwrap();
        for h in 1..=CHURN_HEIGHTS {
            s.apply(h, &churn(h)).await.unwrap();
        }
        assert_eq!(
            s.retained_ops().unwrap().start,
            0,
            "nothing pruned without upkeep"
        );
        s.root().unwrap()
    });
    let (root, checkpoint) = deterministic::Runner::default().start_and_recover(|ctx| async move {
        let mut s = StateStore::open(ctx.child("state"), "t").await.unwrap();
        s.set_upkeep_every(std::num::NonZeroU64::new(1_024).unwrap());
        let mut upkeeps = 0;
        for h in 1..=CHURN_HEIGHTS {
            s.apply(h, &churn(h)).await.unwrap();
            if s.upkeep_due() {
                let before = s.root().unwrap();
                let done = s.upkeep().await.unwrap();
                assert!(done.synced_ops >= 1_024);
                assert_eq!(s.root().unwrap(), before, "upkeep changed the root");
                assert!(!s.upkeep_due());
                upkeeps += 1;
            }
        }
        assert!(upkeeps >= 10, "only {upkeeps} upkeeps");
        let retained = s.retained_ops().unwrap();
        assert!(
            retained.start > retained.end / 2,
            "most superseded history should be pruned: kept {retained:?}"
        );
        // Applied after the last upkeep: a reopen must replay it.
        s.apply(CHURN_HEIGHTS + 1, &churn(CHURN_HEIGHTS + 1))
            .await
            .unwrap();
        s.root().unwrap()
    });
    let expected_tail = deterministic::Runner::default().start(|ctx| async move {
        let mut s = StateStore::open(ctx.child("state"), "t").await.unwrap();
        for h in 1..=CHURN_HEIGHTS + 1 {
            s.apply(h, &churn(h)).await.unwrap();
        }
        s.root().unwrap()
    });
    assert_ne!(reference, expected_tail);
    assert_eq!(
        root, expected_tail,
        "pruned store's root differs from an unpruned one"
    );
    // Reopened after a crash (no shutdown): same height, root, values, and
    // proofs of current values and of absence still verify.
    deterministic::Runner::from(checkpoint).start(|ctx| async move {
        let mut s = StateStore::open(ctx.child("state"), "t").await.unwrap();
        let h = CHURN_HEIGHTS + 1;
        assert_eq!(s.height(), h);
        assert_eq!(s.root().unwrap(), root);
        for hot in 0..4u64 {
            let key = format!("hot-{hot}");
            let want = format!("{h}-{hot}");
            let p = s.prove(key.as_bytes()).await.unwrap();
            assert_eq!(p.value.as_deref(), Some(want.as_bytes()));
            assert!(verify_proof(
                &root,
                key.as_bytes(),
                Some(want.as_bytes()),
                &p.proof
            ));
        }
        let early = b"new-1";
        let p = s.prove(early).await.unwrap();
        assert_eq!(
            p.value,
            Some(vec![1u8; 40]),
            "a value written before every prune"
        );
        assert!(verify_proof(&root, early, Some(&[1u8; 40]), &p.proof));
        let gone = b"new-2";
        let p = s.prove(gone).await.unwrap();
        assert_eq!(p.value, None);
        assert!(verify_proof(&root, gone, None, &p.proof));
        // And it keeps going.
        s.apply(h + 1, &churn(h + 1)).await.unwrap();
    });
}

/// A store too damaged to open can be removed without opening it: on a real
/// disk (the tokio runtime, one directory per partition) nothing of it is
/// left, other partitions are untouched, and a new store opens empty.
#[test]
fn remove_all_leaves_nothing_on_disk() {
    use commonware_runtime::tokio as cw_tokio;
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().to_path_buf();
    let rt = cw_tokio::Config::new()
        .with_worker_threads(1)
        .with_storage_directory(&storage);
    cw_tokio::Runner::new(rt).start(|ctx| async move {
        let mut s = StateStore::open(ctx.child("state"), "v").await.unwrap();
        s.set_upkeep_every(std::num::NonZeroU64::new(1_024).unwrap());
        for h in 1..=CHURN_HEIGHTS {
            s.apply(h, &churn(h)).await.unwrap();
            if s.upkeep_due() {
                s.upkeep().await.unwrap();
            }
        }
        // A neighbour with a similar prefix must survive.
        let mut other = StateStore::open(ctx.child("other"), "vv").await.unwrap();
        other.apply(1, &churn(1)).await.unwrap();
        drop(s);
        drop(other);
        let ours = || -> Vec<String> {
            std::fs::read_dir(&storage)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("v-"))
                .collect()
        };
        let before = ours();
        assert!(before.len() >= 4, "partitions before: {before:?}");
        StateStore::remove_all(&ctx, "v").await.unwrap();
        assert!(ours().is_empty(), "left behind: {:?} of {before:?}", ours());
        let s = StateStore::open(ctx.child("again"), "v").await.unwrap();
        assert_eq!(s.height(), 0);
        let other = StateStore::open(ctx.child("other_again"), "vv")
            .await
            .unwrap();
        assert_eq!(other.height(), 1);
    });
}
