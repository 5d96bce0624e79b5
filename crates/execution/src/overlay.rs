//! Two-level write overlay over the committed state: block writes, and the
//! current transaction's writes on top, so a failed transaction is dropped whole.

use commonware_runtime::{Clock, Metrics, Spawner, Storage};
use ingot_state::{StateError, StateStore, WriteSet};
use ingot_types::telemetry::{BatchCommitment, ReadingBatch};

pub struct Overlay<'a, E: Storage + Clock + Metrics + Spawner> {
    base: &'a StateStore<E>,
    /// Committed values already read during this block. The base does not
    /// change while a block executes, so a key read by many transactions
    /// (a workflow definition, the event-subscription registry, a hot
    /// record) costs one storage read per block.
    read_cache: std::collections::HashMap<Vec<u8>, Option<Vec<u8>>>,
    block: WriteSet,
    tx: WriteSet,
    /// Work charged to the current transaction (bytes read and written).
    pub work: u64,
    /// Telemetry batches the current transaction anchored, with their reading
    /// roots: derived output for the node's reading store, which would
    /// otherwise decode and hash every reading a second time.
    anchored: Vec<(ReadingBatch, BatchCommitment)>,
}

impl<'a, E: Storage + Clock + Metrics + Spawner> Overlay<'a, E> {
    pub fn new(base: &'a StateStore<E>) -> Self {
        Self {
            base,
            read_cache: std::collections::HashMap::new(),
            block: WriteSet::new(),
            tx: WriteSet::new(),
            work: 0,
            anchored: Vec::new(),
        }
    }

    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let value = if let Some(v) = self.tx.get(key) {
            v.clone()
        } else if let Some(v) = self.block.get(key) {
            v.clone()
        } else if let Some(v) = self.read_cache.get(key) {
            v.clone()
        } else {
            let v = self.base.get(key).await?;
            self.read_cache.insert(key.to_vec(), v.clone());
            v
        };
        self.work += 100 + key.len() as u64 + value.as_ref().map_or(0, |v| v.len() as u64);
        Ok(value)
    }

    pub async fn exists(&mut self, key: &[u8]) -> Result<bool, StateError> {
        Ok(self.get(key).await?.is_some())
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.work += 200 + key.len() as u64 + value.len() as u64;
        self.tx.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.work += 200 + key.len() as u64;
        self.tx.insert(key, None);
    }

    /// The largest value the current transaction writes (0 if none).
    pub fn largest_write(&self) -> usize {
        self.tx.values().flatten().map(Vec::len).max().unwrap_or(0)
    }

    /// Keep the current transaction's writes.
    pub fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.block.extend(tx);
        self.work = 0;
    }

    /// Drop the current transaction's writes (and its derived output).
    pub fn abort_tx(&mut self) {
        self.tx.clear();
        self.anchored.clear();
        self.work = 0;
    }

    /// Note a batch the current transaction anchored, with its commitment.
    pub fn record_anchored(&mut self, batch: ReadingBatch, commitment: BatchCommitment) {
        self.anchored.push((batch, commitment));
    }

    /// The batches the current transaction anchored (empty after an abort).
    pub fn take_anchored(&mut self) -> Vec<(ReadingBatch, BatchCommitment)> {
        std::mem::take(&mut self.anchored)
    }

    /// The block's accumulated writes (the current transaction must be settled).
    pub fn into_writes(self) -> WriteSet {
        debug_assert!(self.tx.is_empty(), "unsettled transaction writes");
        self.block
    }
}

impl<E: Storage + Clock + Metrics + Spawner> ingot_module::Store for Overlay<'_, E> {
    fn get<'a>(
        &'a mut self,
        key: &'a [u8],
    ) -> ingot_module::BoxFuture<'a, Result<Option<Vec<u8>>, StateError>> {
        Box::pin(Overlay::get(self, key))
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        Overlay::put(self, key, value)
    }

    fn delete(&mut self, key: Vec<u8>) {
        Overlay::delete(self, key)
    }

    fn charge(&mut self, work: u64) {
        self.work += work;
    }

    fn commit_tx(&mut self) {
        Overlay::commit_tx(self)
    }

    fn abort_tx(&mut self) {
        Overlay::abort_tx(self)
    }

    fn record_anchored(&mut self, batch: ReadingBatch, commitment: BatchCommitment) {
        Overlay::record_anchored(self, batch, commitment)
    }
}
