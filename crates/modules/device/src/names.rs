//! The device names index: registered names in name order, derived from
//! `device.registered` events (state keys are hashed, so the authenticated
//! store cannot range over names). Serves `GET /v1/devices?prefix=` (white
//! paper 三.3, identifier resolution). Derived data: the node feeds it every
//! executed height and rebuilds it from its own blocks when it is damaged.

use ingot_module::derived::{Derived, DerivedError, Executed};
use redb::{Database, Durability, ReadableDatabase, TableDefinition};
use std::{any::Any, path::Path, sync::Arc};

/// The store's name; its file is `<data_dir>/device-names.redb`.
pub const STORE: &str = "device-names";
/// Device name → device id.
const NAMES: TableDefinition<&str, &str> = TableDefinition::new("device_names");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const HEIGHT: &str = "height";
/// Page cache (redb's default of 1 GiB would grow with every name).
const CACHE_BYTES: usize = 8 << 20;

pub struct DeviceNames {
    db: Database,
}

fn err(e: impl std::fmt::Display) -> DerivedError {
    DerivedError {
        store: STORE,
        message: e.to_string(),
    }
}

impl DeviceNames {
    /// Open (or create) the index file; in memory when `path` is `None`.
    pub fn open(path: Option<&Path>) -> Result<Self, DerivedError> {
        let db = match path {
            Some(p) => Database::builder()
                .set_cache_size(CACHE_BYTES)
                .create(p)
                .map_err(err)?,
            None => Database::builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(err)?,
        };
        let store = Self { db };
        store.create_tables()?;
        Ok(store)
    }

    fn create_tables(&self) -> Result<(), DerivedError> {
        let tx = self.db.begin_write().map_err(err)?;
        tx.open_table(NAMES).map_err(err)?;
        tx.open_table(META).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Up to `limit` registered `(name, device id)` in name order whose name
    /// starts with `prefix` and sorts after `after`.
    pub fn by_prefix(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, DerivedError> {
        let tx = self.db.begin_read().map_err(err)?;
        let names = tx.open_table(NAMES).map_err(err)?;
        let range = match after {
            Some(a) if a >= prefix => names.range::<&str>(a..).map_err(err)?,
            _ => names.range::<&str>(prefix..).map_err(err)?,
        };
        let mut out = Vec::new();
        for entry in range {
            let (name, id) = entry.map_err(err)?;
            let (name, id) = (name.value(), id.value());
            if after.is_some_and(|a| name == a) {
                continue;
            }
            if !name.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push((name.to_string(), id.to_string()));
        }
        Ok(out)
    }
}

impl Derived for DeviceNames {
    fn name(&self) -> &'static str {
        STORE
    }

    fn height(&self) -> Result<u64, DerivedError> {
        let tx = self.db.begin_read().map_err(err)?;
        let meta = tx.open_table(META).map_err(err)?;
        Ok(meta.get(HEIGHT).map_err(err)?.map_or(0, |v| v.value()))
    }

    fn take(&self, e: &Executed<'_>) -> Result<(), DerivedError> {
        if e.height <= self.height()? {
            return Ok(());
        }
        let mut tx = self.db.begin_write().map_err(err)?;
        if e.durable {
            // The allocator's state is saved with every durable commit, so the
            // open after a crash does not walk every page of the file to
            // rebuild it (seconds at a million devices; issue 14).
            tx.set_quick_repair(true);
        } else {
            tx.set_durability(Durability::None).map_err(err)?;
        }
        {
            let mut names = tx.open_table(NAMES).map_err(err)?;
            let registered = e
                .receipts
                .iter()
                .flat_map(|r| &r.events)
                .filter(|ev| ev.module == crate::NAME && ev.kind == "registered");
            for ev in registered {
                let attr = |k: &str| {
                    ev.attributes
                        .iter()
                        .find(|(a, _)| a == k)
                        .map(|(_, v)| v.as_str())
                };
                if let (Some(name), Some(id)) = (attr("name"), attr("device_id")) {
                    names.insert(name, id).map_err(err)?;
                }
            }
            tx.open_table(META)
                .map_err(err)?
                .insert(HEIGHT, e.height)
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn clear(&self) -> Result<(), DerivedError> {
        let tx = self.db.begin_write().map_err(err)?;
        tx.delete_table(NAMES).map_err(err)?;
        tx.delete_table(META).map_err(err)?;
        tx.commit().map_err(err)?;
        self.create_tables()
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingot_types::{Block, Event, Receipt, Status};

    fn registered(name: &str, id: &str) -> Receipt {
        Receipt {
            tx_hash: ingot_types::sha256(&[id.as_bytes()]),
            status: Status::Success,
            events: vec![Event {
                module: crate::NAME.into(),
                kind: "registered".into(),
                attributes: vec![
                    ("device_id".into(), id.into()),
                    ("name".into(), name.into()),
                ],
            }],
            work_used: 0,
        }
    }

    fn take(store: &DeviceNames, block: &Block, height: u64, receipts: &[Receipt]) {
        store
            .take(&Executed {
                height,
                block,
                receipts,
                anchored: None,
                durable: true,
            })
            .unwrap();
    }

    #[test]
    fn names_in_order_by_prefix_with_paging_skipping_taken_heights() {
        let dir = tempfile::tempdir().unwrap();
        let store = DeviceNames::open(Some(&dir.path().join("names.redb"))).unwrap();
        let block = Block::new(
            ingot_types::Header {
                version: ingot_types::block::HEADER_VERSION,
                parent: ingot_types::sha256(&[b"test"]),
                height: 1,
                timestamp_ms: 0,
                proposer: [0; 32],
                tx_count: 0,
                tx_root: Block::compute_tx_root(&[]),
                exec_height: 0,
                results: vec![],
                next_validators: None,
            },
            vec![],
        );
        take(
            &store,
            &block,
            1,
            &[
                registered("acme/plant-3/cnc-07", "acme:7"),
                registered("acme/plant-1/press", "acme:1"),
                registered("bolt/line/robot", "bolt:1"),
            ],
        );
        // A height already taken changes nothing, even with other content.
        take(&store, &block, 1, &[registered("acme/zzz", "acme:z")]);
        assert_eq!(store.height().unwrap(), 1);
        let acme = store.by_prefix("acme/", None, 10).unwrap();
        assert_eq!(
            acme,
            vec![
                ("acme/plant-1/press".to_string(), "acme:1".to_string()),
                ("acme/plant-3/cnc-07".to_string(), "acme:7".to_string()),
            ]
        );
        let page = store
            .by_prefix("acme/", Some("acme/plant-1/press"), 10)
            .unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(store.by_prefix("", None, 2).unwrap().len(), 2);
        store.clear().unwrap();
        assert_eq!(store.height().unwrap(), 0);
        assert!(store.by_prefix("", None, 10).unwrap().is_empty());
    }
}
