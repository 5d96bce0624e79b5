//! Stores derived from executed blocks (DESIGN.md decision 3): the ledger
//! index (transaction locations, device names) and the telemetry store
//! (readings). Each is fed every executed height in order, records the last
//! height it took, ignores a height it already has, and can be cleared and
//! rebuilt from the node's own block archive and execution journal
//! (`ingot rebuild-derived`). None is ever an input to consensus. A SQL layer
//! or the console's indexes plug in the same way: implement [`Derived`] and
//! add the store to [`crate::rebuild`] and to the executor's feed.

use crate::ledger::ExecRecord;
use ingot_execution::AnchoredTx;
use ingot_types::Block;

/// One executed height, as derived stores take it.
pub struct Executed<'a> {
    pub block: &'a Block,
    pub record: &'a ExecRecord,
    /// What execution already computed for derived stores (telemetry batches
    /// with their reading roots); `None` when re-deriving from disk, where
    /// the block and receipts are decoded again.
    pub anchored: Option<&'a [AnchoredTx]>,
    /// Make this and every earlier write survive a crash (a store may batch
    /// syncs; what a crash loses is taken again on start).
    pub durable: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{store}: {message}")]
pub struct DerivedError {
    pub store: &'static str,
    pub message: String,
}

/// A store derived from executed blocks.
pub trait Derived: Send + Sync {
    /// The store's name (logs, reports).
    fn name(&self) -> &'static str;

    /// The last height taken (0: none).
    fn height(&self) -> Result<u64, DerivedError>;

    /// Take one executed height; a height at or below [`Derived::height`]
    /// changes nothing.
    fn take(&self, executed: &Executed<'_>) -> Result<(), DerivedError>;

    /// Forget everything (a rebuild then takes every height from 1).
    fn clear(&self) -> Result<(), DerivedError>;
}

/// Open the derived file at `path`; if it does not open (damaged, or written
/// by an incompatible version), set it aside as `<name>.damaged-<unix
/// seconds>` and open a new, empty one: derived data is rebuilt, never
/// trusted blindly and never a reason to stop. Returns where the old file
/// went, if it was set aside.
pub fn open_or_set_aside<T>(
    path: &std::path::Path,
    open: impl Fn(&std::path::Path) -> Result<T, String>,
) -> Result<(T, Option<std::path::PathBuf>), String> {
    let error = match open(path) {
        Ok(store) => return Ok((store, None)),
        Err(e) => e,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = path.with_file_name(format!("{file_name}.damaged-{now}"));
    std::fs::rename(path, &aside).map_err(|e| {
        format!(
            "{} does not open ({error}) and cannot be set aside: {e}",
            path.display()
        )
    })?;
    tracing::warn!(
        file = %path.display(),
        set_aside = %aside.display(),
        %error,
        "derived file does not open: set aside, rebuilding from the node's own blocks"
    );
    Ok((open(path)?, Some(aside)))
}
