//! Pages of a per-record sequence in state (a device's history, its access
//! log): `?from=&limit=`, at most a page's worth of reads.

use crate::{internal, ApiError, ApiHost};
use ingot_api::query::Page;
use serde_json::{json, Value};

/// Entries `page.from ..` of a sequence of `total` entries of `record`,
/// at most `max_page` of them; `key(seq)` is where entry `seq` is stored.
pub async fn read_page(
    host: &dyn ApiHost,
    record: &str,
    total: u64,
    page: &Page,
    max_page: u64,
    key: impl Fn(u64) -> Vec<u8>,
    render: impl Fn(Vec<u8>) -> Result<Value, ApiError>,
) -> Result<Value, ApiError> {
    let end = total.min(page.from.saturating_add(page.limit.clamp(1, max_page)));
    let mut entries = Vec::new();
    for seq in page.from..end {
        let raw = host
            .get(&key(seq))
            .await?
            .ok_or_else(|| internal(format!("entry {seq} of {record} missing")))?;
        entries.push(render(raw)?);
    }
    Ok(json!({
        "device_id": record,
        "total": total,
        "from": page.from,
        "entries": entries,
        "next": (end < total).then_some(end),
    }))
}
