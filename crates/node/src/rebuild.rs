//! `ingot rebuild-derived`: rebuild a stopped node's derived stores (the
//! ledger index, the telemetry store and every module's own, e.g. device
//! names) from its own block archive and
//! execution journal. For an operator whose derived file is damaged (the
//! node refuses to open it) or suspect: nothing in them is an input to
//! consensus, so a rebuild loses nothing. A damaged file is kept beside the
//! new one (`<name>.damaged-<unix seconds>`) for inspection.

use crate::{
    derived::{Derived, Executed},
    engine,
    ledger::Ledger,
    ledger_index::LedgerIndex,
};
use commonware_cryptography::sha256::Digest;
use commonware_runtime::{tokio as cw_tokio, Runner, Supervisor};
use commonware_storage::archive::{immutable, Archive as _, Identifier};
use ingot_execution::modules::telemetry::store::{self as telemetry_store, TelemetryStore};
use ingot_types::Block;
use std::{path::Path, sync::Arc};

/// The derived files of a node's data directory (as `ingot node run` names them).
pub const LEDGER_INDEX_FILE: &str = "ledger-index.redb";

/// What a rebuild did.
#[derive(Debug)]
pub struct RebuildReport {
    /// Heights taken (the execution journal's length).
    pub height: u64,
    pub transactions: u64,
    pub batches: u64,
    pub readings: u64,
    /// Files that did not open and were set aside.
    pub set_aside: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("{0}")]
    Setup(String),
    #[error("height {height}: {reason}")]
    Bad { height: u64, reason: String },
}

/// Open a derived file (setting one that does not open aside) and empty it.
fn fresh<T: Derived>(
    path: &Path,
    open: impl Fn(&Path) -> Result<T, String>,
    set_aside: &mut Vec<String>,
) -> Result<T, RebuildError> {
    let (store, aside) =
        crate::derived::open_or_set_aside(path, open).map_err(RebuildError::Setup)?;
    set_aside.extend(aside.map(|p| p.display().to_string()));
    store
        .clear()
        .map_err(|e| RebuildError::Setup(e.to_string()))?;
    Ok(store)
}

/// The files set aside as damaged in `dir`.
fn damaged_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().contains(".damaged-"))
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Rebuild the derived stores under `data_dir` (a stopped node's `data_dir`).
pub fn rebuild_derived(data_dir: &Path) -> Result<RebuildReport, RebuildError> {
    let storage = data_dir.join("storage");
    if !storage.exists() {
        return Err(RebuildError::Setup(format!(
            "no node storage at {}",
            storage.display()
        )));
    }
    let _lock = crate::data_lock::lock(data_dir, "ingot rebuild-derived")
        .map_err(|e| RebuildError::Setup(e.to_string()))?;
    let mut set_aside = Vec::new();
    let index_path = data_dir.join(LEDGER_INDEX_FILE);
    // Emptied here; the ledger re-indexes every record when it opens it.
    drop(fresh(
        &index_path,
        |p| LedgerIndex::open(Some(p)).map_err(|e| e.to_string()),
        &mut set_aside,
    )?);
    // The modules' own stores (a damaged one is set aside as it opens).
    let damaged_before = damaged_files(data_dir);
    let mut module_stores = Vec::new();
    for module in crate::module_routes::MODULE_APIS {
        module_stores.extend(
            module
                .derived_stores(Some(data_dir))
                .map_err(RebuildError::Setup)?,
        );
    }
    set_aside.extend(
        damaged_files(data_dir)
            .into_iter()
            .filter(|f| !damaged_before.contains(f)),
    );
    for store in &module_stores {
        store
            .clear()
            .map_err(|e| RebuildError::Setup(e.to_string()))?;
    }
    let rt = cw_tokio::Config::new()
        .with_worker_threads(1)
        .with_storage_directory(storage)
        .with_catch_panics(true);
    cw_tokio::Runner::new(rt).start(|context| async move {
        let setup = |e: String| RebuildError::Setup(e);
        let ledger = Ledger::open(context.child("ledger"), "ingot", Some(&index_path))
            .await
            .map_err(|e| setup(format!("cannot open the execution journal: {e}")))?;
        let cache = commonware_runtime::buffer::paged::CacheRef::new(
            commonware_runtime::buffer::paged::page_size(commonware_runtime::BLOB_PAGE_SIZE),
            commonware_utils::NZUsize!(1024),
        );
        let blocks = immutable::Archive::<_, Digest, Arc<Block>>::init(
            context.child("blocks"),
            engine::archive_config(
                "ingot",
                "blocks",
                cache,
                &crate::StorageSizes::PRODUCTION,
                (),
            ),
        )
        .await
        .map_err(|e| setup(format!("cannot open block archive: {e}")))?;
        let top = ledger.height();
        for height in 1..=top {
            let bad = |reason: String| RebuildError::Bad { height, reason };
            let record = ledger
                .record(height)
                .await
                .map_err(|e| bad(format!("execution record unreadable: {e}")))?
                .ok_or_else(|| bad("no execution record".into()))?;
            let block = blocks
                .get(Identifier::Index(height))
                .await
                .map_err(|e| bad(format!("stored block unreadable: {e}")))?
                .ok_or_else(|| bad("no stored block".into()))?;
            if block.hash() != record.block {
                return Err(bad("the execution record is of another block".into()));
            }
            let executed = Executed {
                height,
                block: &block,
                receipts: &record.receipts,
                anchored: None,
                durable: height == top,
            };
            for store in &module_stores {
                store.take(&executed).map_err(|e| bad(e.to_string()))?;
            }
        }
        let transactions = ledger
            .index_transactions()
            .map_err(|e| setup(e.to_string()))?;
        let telemetry = module_stores
            .iter()
            .find(|s| s.name() == telemetry_store::STORE)
            .and_then(|s| s.clone().as_any().downcast::<TelemetryStore>().ok());
        let (batches, readings) = match telemetry {
            Some(t) => t.counts().map_err(|e| setup(e.to_string()))?,
            None => (0, 0),
        };
        Ok(RebuildReport {
            height: top,
            transactions,
            batches,
            readings,
            set_aside,
        })
    })
}
