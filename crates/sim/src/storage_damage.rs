//! Damage a simulated validator's stored bytes, as a failing disk would
//! (stop the node first: an open blob cannot be opened twice).

use crate::Ctx;
use commonware_runtime::{Blob as _, ReadOptions, Storage as _, WriteOptions};

/// Invert the byte at `at` of blob `name` in `partition`, synced.
pub async fn flip_byte_at(ctx: &Ctx, partition: &str, name: &[u8], at: u64) {
    let (blob, size) = ctx.open(partition, name).await.unwrap();
    assert!(at < size, "byte {at} is past the blob's {size} bytes");
    let byte = blob
        .read_at(at, 1, ReadOptions::default())
        .await
        .unwrap()
        .coalesce()
        .as_ref()[0];
    blob.write_at(at, vec![byte ^ 0xff], WriteOptions::default())
        .await
        .unwrap();
    blob.sync().await.unwrap();
}

/// Every blob of `partition` with its size, by name.
pub async fn blobs(ctx: &Ctx, partition: &str) -> Vec<(Vec<u8>, u64)> {
    let mut names = ctx.scan(partition).await.expect("partition exists");
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let (_, size) = ctx.open(partition, &name).await.unwrap();
        out.push((name, size));
    }
    out
}
