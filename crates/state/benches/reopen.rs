//! `cargo bench -p ingot-state --bench reopen`: how long a validator's state
//! store takes to open after a crash, with and without upkeep (sync and
//! prune every `UPKEEP_EVERY_OPS` operations), on the real disk under the
//! tokio runtime.
//!
//! The state written imitates a device registry: `INGOT_BENCH_KEYS` keys
//! (default 1,000,000) of 200-byte values written in blocks of 5,000 new
//! keys, each block also rewriting 1,000 existing ones (activations,
//! history), so the log holds superseded history as a live chain's does.
//! The process "crashes" after the last commit (the store is dropped, never
//! closed) and the store is opened again, timed.
//!
//! `INGOT_BENCH_DIR=<dir>` keeps the store with upkeep in `<dir>` (built
//! there once, if missing) and opens it `INGOT_BENCH_REOPENS` times (default
//! 3): to compare builds of the store's open on the same data.

use commonware_runtime::{tokio as cw_tokio, Runner as _, Supervisor as _};
use ingot_state::{StateStore, WriteSet};
use std::time::Instant;

const NEW_PER_BLOCK: u64 = 5_000;
const REWRITES_PER_BLOCK: u64 = 1_000;

fn block(height: u64, written: u64) -> WriteSet {
    let mut w = WriteSet::new();
    for i in 0..NEW_PER_BLOCK {
        let key = written + i;
        w.insert(key.to_be_bytes().to_vec(), Some(value(key, height)));
    }
    // Rewrite keys spread over what exists.
    for i in 0..REWRITES_PER_BLOCK.min(written) {
        let key = (i * 7_919 + height * 104_729) % written;
        w.insert(key.to_be_bytes().to_vec(), Some(value(key, height)));
    }
    w
}

fn value(key: u64, height: u64) -> Vec<u8> {
    let mut v = vec![0u8; 200];
    v[..8].copy_from_slice(&key.to_be_bytes());
    v[8..16].copy_from_slice(&height.to_be_bytes());
    v
}

/// Build the state in a fresh directory; returns (ops in log, seconds).
fn build(dir: &std::path::Path, keys: u64, upkeep: bool) -> (u64, u64, f64) {
    let rt = cw_tokio::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(dir);
    cw_tokio::Runner::new(rt).start(|ctx| async move {
        let started = Instant::now();
        let mut s = StateStore::open(ctx.child("state"), "bench").await.unwrap();
        if !upkeep {
            s.set_upkeep_every(std::num::NonZeroU64::MAX);
        }
        let (mut written, mut height) = (0, 0);
        while written < keys {
            height += 1;
            s.apply(height, &block(height, written)).await.unwrap();
            written += NEW_PER_BLOCK;
            if s.upkeep_due() {
                s.upkeep().await.unwrap();
            }
        }
        let ops = s.retained_ops().unwrap();
        // Dropped without closing: the commits are durable, nothing else.
        (
            ops.end,
            ops.end - ops.start,
            started.elapsed().as_secs_f64(),
        )
    })
}

fn reopen(dir: &std::path::Path) -> f64 {
    let rt = cw_tokio::Config::new()
        .with_worker_threads(2)
        .with_storage_directory(dir);
    cw_tokio::Runner::new(rt).start(|ctx| async move {
        let started = Instant::now();
        let s = StateStore::open(ctx.child("state"), "bench").await.unwrap();
        let took = started.elapsed().as_secs_f64();
        assert!(s.height() > 0);
        took
    })
}

fn main() {
    let keys: u64 = std::env::var("INGOT_BENCH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let base = std::env::temp_dir().join(format!("ingot-state-reopen-{}", std::process::id()));
    println!("state reopen after a crash, {keys} keys of 200 bytes");
    if let Ok(dir) = std::env::var("INGOT_BENCH_DIR") {
        let dir = std::path::PathBuf::from(dir);
        if !dir.exists() {
            let (ops, retained, built) = build(&dir, keys, true);
            println!("  built in {dir:?}: log {ops} ops, {retained} retained, in {built:.1} s");
        }
        let reopens: usize = std::env::var("INGOT_BENCH_REOPENS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3);
        let bytes = fs_size(&dir);
        for _ in 0..reopens {
            let took = reopen(&dir);
            println!(
                "  {:>6.0} MiB on disk, reopened in {took:>6.2} s",
                bytes as f64 / (1 << 20) as f64
            );
        }
        return;
    }
    for upkeep in [false, true] {
        let dir = base.join(if upkeep { "upkeep" } else { "no-upkeep" });
        let (ops, retained, built) = build(&dir, keys, upkeep);
        let took = reopen(&dir);
        let bytes = fs_size(&dir);
        println!(
            "  upkeep {:<5}  log {ops:>10} ops, {retained:>10} retained, {:>6.0} MiB on disk, built in {built:>6.1} s, reopened in {took:>6.2} s",
            upkeep,
            bytes as f64 / (1 << 20) as f64,
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&base);
}

fn fs_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        total += if path.is_dir() {
            fs_size(&path)
        } else {
            entry.metadata().map(|m| m.len()).unwrap_or(0)
        };
    }
    total
}
