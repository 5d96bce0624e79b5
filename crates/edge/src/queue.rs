//! The gateway's durable store-and-forward queue (redb, fsync per commit).
//!
//! A batch is appended — and the append committed to disk — *before* the
//! device gets its PUBACK, so a gateway killed at any point loses nothing it
//! acknowledged. Batches leave the queue only once the chain has executed the
//! transaction that carried them. Items keep arrival order (ids increase), and
//! the forwarder keeps each device's batches in that order on chain.
//!
//! Tables: `items`: id → canonical `ReadingBatch`; `devices`: device id →
//! [`DeviceMark`] (highest sequence accepted, the digests of the last
//! [`RECENT_DIGESTS`] batches, so a QoS 1 redelivery of any of them is
//! recognised as a duplicate rather than refused as a replay, and the last
//! reading's timestamp); `meta`: next id; `dead`: id → [`DeadLetter`]
//! (batches acknowledged to their device that the chain refused or that
//! could not be delivered: kept for operators, at most [`MAX_DEAD_LETTERS`],
//! oldest dropped first).

use commonware_codec::{Decode, Encode};
use ingot_types::{sha256, telemetry::ReadingBatch};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::Path;

const ITEMS: TableDefinition<u64, &[u8]> = TableDefinition::new("items");
const DEVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("devices");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead");

/// Most dead letters kept; beyond it the oldest are dropped (and counted).
pub const MAX_DEAD_LETTERS: u64 = 100_000;
/// Longest reason kept with a dead letter.
const MAX_REASON_BYTES: usize = 256;

/// A batch the gateway acknowledged and could not get anchored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its queue id (unique, increasing with arrival).
    pub id: u64,
    /// Why: the chain's stable failure code, or why delivery was given up.
    pub reason: String,
    /// When it was set aside (gateway clock, ms since the epoch).
    pub at_ms: u64,
    /// The batch exactly as the device signed it.
    pub raw: Vec<u8>,
}

impl DeadLetter {
    fn encode(reason: &str, at_ms: u64, raw: &[u8]) -> Vec<u8> {
        let mut end = reason.len().min(MAX_REASON_BYTES);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        let reason = &reason.as_bytes()[..end];
        let mut out = Vec::with_capacity(10 + reason.len() + raw.len());
        out.extend_from_slice(&at_ms.to_be_bytes());
        out.extend_from_slice(&(reason.len() as u16).to_be_bytes());
        out.extend_from_slice(reason);
        out.extend_from_slice(raw);
        out
    }

    fn decode(id: u64, stored: &[u8]) -> Option<Self> {
        let at_ms = u64::from_be_bytes(stored.get(..8)?.try_into().ok()?);
        let len = u16::from_be_bytes(stored.get(8..10)?.try_into().ok()?) as usize;
        let reason = std::str::from_utf8(stored.get(10..10 + len)?)
            .ok()?
            .to_string();
        Some(Self {
            id,
            reason,
            at_ms,
            raw: stored[10 + len..].to_vec(),
        })
    }

    /// The batch's head (device, first sequence, readings), if it decodes.
    pub fn head(&self) -> Option<ingot_types::telemetry::BatchHead> {
        ingot_types::telemetry::peek_batch(&self.raw).ok()
    }
}

/// Digests of a device's accepted batches the gateway remembers besides the
/// last one: a device resending its unacknowledged batches after a
/// reconnect gets a duplicate PUBACK for any of them.
pub const RECENT_DIGESTS: usize = 15;

/// What the gateway last accepted from a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceMark {
    pub last_seq: u64,
    pub last_digest: [u8; 32],
    /// Timestamp of the last accepted reading (0 in marks written before
    /// it was kept).
    pub last_ts_ms: u64,
    /// Digests of the batches accepted before the last, newest first.
    pub earlier: Vec<[u8; 32]>,
}

impl DeviceMark {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + 32 * self.earlier.len());
        out.extend_from_slice(&self.last_seq.to_be_bytes());
        out.extend_from_slice(&self.last_digest);
        out.extend_from_slice(&self.last_ts_ms.to_be_bytes());
        for d in &self.earlier {
            out.extend_from_slice(d);
        }
        out
    }
    /// Marks written by older gateways (40 bytes: no timestamp, no earlier
    /// digests) still read.
    fn decode(raw: &[u8]) -> Option<Self> {
        let well_formed =
            raw.len() == 40 || (raw.len() >= 48 && (raw.len() - 48).is_multiple_of(32));
        well_formed.then(|| Self {
            last_seq: u64::from_be_bytes(raw[..8].try_into().expect("8 bytes")),
            last_digest: raw[8..40].try_into().expect("32 bytes"),
            last_ts_ms: raw
                .get(40..48)
                .map_or(0, |t| u64::from_be_bytes(t.try_into().expect("8 bytes"))),
            earlier: raw
                .get(48..)
                .unwrap_or_default()
                .chunks_exact(32)
                .map(|d| d.try_into().expect("32 bytes"))
                .collect(),
        })
    }

    /// Whether `digest` is one of the batches this mark remembers.
    pub fn remembers(&self, digest: &[u8; 32]) -> bool {
        self.last_digest == *digest || self.earlier.contains(digest)
    }

    /// The mark after accepting `batch`.
    pub fn after(previous: Option<&DeviceMark>, batch: &ReadingBatch) -> Self {
        let mut earlier = Vec::new();
        if let Some(p) = previous {
            earlier.push(p.last_digest);
            earlier.extend(p.earlier.iter().copied());
            earlier.truncate(RECENT_DIGESTS);
        }
        Self {
            last_seq: batch.last_seq(),
            last_digest: batch_digest(batch),
            last_ts_ms: batch.readings.last().map_or(0, |r| r.timestamp_ms),
            earlier,
        }
    }
}

/// Digest identifying a batch exactly (its canonical bytes).
pub fn batch_digest(batch: &ReadingBatch) -> [u8; 32] {
    sha256(&[&batch.encode()])
        .as_ref()
        .try_into()
        .expect("32 bytes")
}

pub struct Queue {
    db: Database,
    /// Batches waiting per device (rebuilt from the table at open).
    queued: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

fn device_of(raw: &[u8]) -> String {
    ingot_types::telemetry::peek_batch(raw)
        .map(|h| h.device_id)
        .unwrap_or_default()
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("gateway queue: {e}")
}

impl Queue {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        // Bounded cache (redb's default is 1 GiB): the queue is written once
        // and read back once per batch.
        let db = Database::builder()
            .set_cache_size(16 << 20)
            .create(path)
            .map_err(err)?;
        let tx = db.begin_write().map_err(err)?;
        {
            tx.open_table(ITEMS).map_err(err)?;
            tx.open_table(DEVICES).map_err(err)?;
            tx.open_table(META).map_err(err)?;
            tx.open_table(DEAD).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        let mut queued = std::collections::HashMap::<String, u64>::new();
        {
            let tx = db.begin_read().map_err(err)?;
            let t = tx.open_table(ITEMS).map_err(err)?;
            for entry in t.iter().map_err(err)? {
                let (_, raw) = entry.map_err(err)?;
                *queued.entry(device_of(raw.value())).or_default() += 1;
            }
        }
        Ok(Self {
            db,
            queued: std::sync::Mutex::new(queued),
        })
    }

    pub fn mark(&self, device: &str) -> anyhow::Result<Option<DeviceMark>> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(DEVICES).map_err(err)?;
        Ok(t.get(device)
            .map_err(err)?
            .and_then(|v| DeviceMark::decode(v.value())))
    }

    /// Append `batches` (in order) and commit durably, advancing each
    /// device's mark.
    pub fn append(&self, batches: &[ReadingBatch]) -> anyhow::Result<()> {
        if batches.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut items = tx.open_table(ITEMS).map_err(err)?;
            let mut devices = tx.open_table(DEVICES).map_err(err)?;
            let mut meta = tx.open_table(META).map_err(err)?;
            let mut next = meta.get("next").map_err(err)?.map_or(0, |v| v.value());
            for b in batches {
                items.insert(next, b.encode().as_ref()).map_err(err)?;
                next += 1;
                let previous = devices
                    .get(b.device_id.as_str())
                    .map_err(err)?
                    .and_then(|v| DeviceMark::decode(v.value()));
                let mark = DeviceMark::after(previous.as_ref(), b);
                devices
                    .insert(b.device_id.as_str(), mark.encode().as_slice())
                    .map_err(err)?;
            }
            meta.insert("next", next).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        let mut queued = self.queued.lock().unwrap();
        for b in batches {
            *queued.entry(b.device_id.clone()).or_default() += 1;
        }
        Ok(())
    }

    /// Batches of `device` waiting in the queue.
    pub fn queued_for(&self, device: &str) -> u64 {
        self.queued
            .lock()
            .unwrap()
            .get(device)
            .copied()
            .unwrap_or(0)
    }

    fn forget_queued(&self, devices: Vec<String>) {
        let mut queued = self.queued.lock().unwrap();
        for d in devices {
            if let Some(n) = queued.get_mut(&d) {
                *n -= 1;
                if *n == 0 {
                    queued.remove(&d);
                }
            }
        }
    }

    /// The oldest `n` queued batches with their ids.
    pub fn head(&self, n: usize) -> anyhow::Result<Vec<(u64, ReadingBatch)>> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(ITEMS).map_err(err)?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(err)?.take(n) {
            let (id, raw) = entry.map_err(err)?;
            let batch = ReadingBatch::decode_cfg(raw.value().to_vec(), &()).map_err(err)?;
            out.push((id.value(), batch));
        }
        Ok(out)
    }

    /// Up to `n` queued batches with ids above `after`, in order, as stored
    /// (canonical encoding, not decoded).
    pub fn after_raw(&self, after: Option<u64>, n: usize) -> anyhow::Result<Vec<(u64, Vec<u8>)>> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(ITEMS).map_err(err)?;
        let start = after.map_or(0, |a| a + 1);
        let mut out = Vec::new();
        for entry in t.range(start..).map_err(err)?.take(n) {
            let (id, raw) = entry.map_err(err)?;
            out.push((id.value(), raw.value().to_vec()));
        }
        Ok(out)
    }

    /// The stored encodings of the batches `ids` (all must be queued).
    pub fn get_raw(&self, ids: &[u64]) -> anyhow::Result<Vec<Vec<u8>>> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(ITEMS).map_err(err)?;
        ids.iter()
            .map(|id| {
                Ok(t.get(id)
                    .map_err(err)?
                    .ok_or_else(|| anyhow::anyhow!("queued batch {id} is missing"))?
                    .value()
                    .to_vec())
            })
            .collect()
    }

    pub fn remove(&self, ids: &[u64]) -> anyhow::Result<()> {
        let tx = self.db.begin_write().map_err(err)?;
        let mut devices = Vec::with_capacity(ids.len());
        {
            let mut t = tx.open_table(ITEMS).map_err(err)?;
            for id in ids {
                if let Some(raw) = t.remove(id).map_err(err)? {
                    devices.push(device_of(raw.value()));
                }
            }
        }
        tx.commit().map_err(err)?;
        self.forget_queued(devices);
        Ok(())
    }

    /// Move queued batches to the dead letters, each with its reason, in
    /// one commit; past [`MAX_DEAD_LETTERS`] the oldest are dropped.
    /// Returns how many were dropped.
    pub fn bury(&self, items: &[(u64, String)], at_ms: u64) -> anyhow::Result<u64> {
        self.bury_within(items, at_ms, MAX_DEAD_LETTERS)
    }

    fn bury_within(&self, items: &[(u64, String)], at_ms: u64, max: u64) -> anyhow::Result<u64> {
        let tx = self.db.begin_write().map_err(err)?;
        let mut dropped = 0;
        let mut devices = Vec::with_capacity(items.len());
        {
            let mut queued = tx.open_table(ITEMS).map_err(err)?;
            let mut dead = tx.open_table(DEAD).map_err(err)?;
            for (id, reason) in items {
                let raw = queued
                    .remove(id)
                    .map_err(err)?
                    .ok_or_else(|| anyhow::anyhow!("queued batch {id} is missing"))?
                    .value()
                    .to_vec();
                devices.push(device_of(&raw));
                dead.insert(id, DeadLetter::encode(reason, at_ms, &raw).as_slice())
                    .map_err(err)?;
            }
            while dead.len().map_err(err)? > max {
                dead.pop_first().map_err(err)?;
                dropped += 1;
            }
        }
        tx.commit().map_err(err)?;
        self.forget_queued(devices);
        Ok(dropped)
    }

    /// Up to `limit` dead letters with ids above `after`, oldest first,
    /// only `device`'s when given.
    pub fn dead_letters(
        &self,
        after: Option<u64>,
        limit: usize,
        device: Option<&str>,
    ) -> anyhow::Result<Vec<DeadLetter>> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(DEAD).map_err(err)?;
        let mut out = Vec::new();
        for entry in t.range(after.map_or(0, |a| a + 1)..).map_err(err)? {
            if out.len() == limit {
                break;
            }
            let (id, stored) = entry.map_err(err)?;
            let Some(letter) = DeadLetter::decode(id.value(), stored.value()) else {
                continue;
            };
            if device.is_none_or(|d| letter.head().is_some_and(|h| h.device_id == d)) {
                out.push(letter);
            }
        }
        Ok(out)
    }

    /// Remove a dead letter (an operator dealt with it); whether it existed.
    pub fn forget_dead_letter(&self, id: u64) -> anyhow::Result<bool> {
        let tx = self.db.begin_write().map_err(err)?;
        let existed = {
            let mut t = tx.open_table(DEAD).map_err(err)?;
            let removed = t.remove(id).map_err(err)?.is_some();
            removed
        };
        tx.commit().map_err(err)?;
        Ok(existed)
    }

    pub fn dead_count(&self) -> anyhow::Result<u64> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(DEAD).map_err(err)?;
        t.len().map_err(err)
    }

    pub fn len(&self) -> anyhow::Result<u64> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(ITEMS).map_err(err)?;
        t.len().map_err(err)
    }

    pub fn is_empty(&self) -> anyhow::Result<bool> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ingot_types::telemetry::{Measurement, Reading};

    fn batch(device: &str, first_seq: u64, n: usize) -> ReadingBatch {
        ReadingBatch {
            device_id: device.into(),
            first_seq,
            readings: (0..n)
                .map(|i| Reading {
                    timestamp_ms: i as u64,
                    measurements: vec![Measurement {
                        name: "t".into(),
                        value: 1,
                        scale: 0,
                        unit: "C".into(),
                    }],
                })
                .collect(),
            signature: Bytes::from_static(&[7; 64]),
        }
    }

    #[test]
    fn survives_reopen_in_order_and_removes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.redb");
        {
            let q = Queue::open(&path).unwrap();
            q.append(&[batch("a", 1, 2), batch("b", 1, 1)]).unwrap();
            q.append(&[batch("a", 3, 1)]).unwrap();
        }
        let q = Queue::open(&path).unwrap();
        let head = q.head(10).unwrap();
        let order: Vec<(String, u64)> = head
            .iter()
            .map(|(_, b)| (b.device_id.clone(), b.first_seq))
            .collect();
        assert_eq!(order, [("a".into(), 1), ("b".into(), 1), ("a".into(), 3)]);
        let mark = q.mark("a").unwrap().unwrap();
        assert_eq!(mark.last_seq, 3);
        assert_eq!(mark.last_digest, batch_digest(&batch("a", 3, 1)));
        assert!(
            mark.remembers(&batch_digest(&batch("a", 1, 2))),
            "earlier batches too"
        );
        assert!(!mark.remembers(&batch_digest(&batch("a", 1, 1))));
        assert_eq!((q.queued_for("a"), q.queued_for("b")), (2, 1));
        q.remove(&[head[0].0, head[2].0]).unwrap();
        assert_eq!(q.len().unwrap(), 1);
        assert_eq!((q.queued_for("a"), q.queued_for("b")), (0, 1));
        drop(q);
        let q = Queue::open(&path).unwrap();
        assert_eq!(q.queued_for("b"), 1, "counted again at open");
        q.append(&[batch("c", 5, 1)]).unwrap();
        let ids: Vec<u64> = q.head(10).unwrap().iter().map(|(i, _)| *i).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids keep increasing");
    }

    #[test]
    fn dead_letters_leave_the_queue_survive_reopen_and_are_listed_by_device() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.redb");
        let (a, b) = (batch("a", 1, 2), batch("b", 1, 1));
        {
            let q = Queue::open(&path).unwrap();
            q.append(&[a.clone(), b.clone(), batch("a", 3, 1)]).unwrap();
            let ids: Vec<u64> = q.head(10).unwrap().iter().map(|(i, _)| *i).collect();
            let long_reason = "é".repeat(300);
            let dropped = q
                .bury(
                    &[
                        (ids[0], "telemetry.device_not_active".into()),
                        (ids[1], long_reason),
                    ],
                    1_000,
                )
                .unwrap();
            assert_eq!(dropped, 0);
            assert!(
                q.bury(&[(ids[0], "again".into())], 1).is_err(),
                "only queued batches"
            );
            assert_eq!((q.len().unwrap(), q.dead_count().unwrap()), (1, 2));
            assert_eq!((q.queued_for("a"), q.queued_for("b")), (1, 0));
        }
        let q = Queue::open(&path).unwrap();
        let all = q.dead_letters(None, 10, None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].raw, a.encode().to_vec(), "kept exactly as signed");
        assert_eq!(all[0].reason, "telemetry.device_not_active");
        assert_eq!(all[0].at_ms, 1_000);
        assert!(all[1].reason.len() <= MAX_REASON_BYTES && all[1].reason.starts_with('é'));
        let of_b = q.dead_letters(None, 10, Some("b")).unwrap();
        assert_eq!(of_b.len(), 1);
        assert_eq!(of_b[0].head().unwrap().device_id, "b");
        assert_eq!(
            q.dead_letters(Some(all[0].id), 10, None).unwrap(),
            vec![all[1].clone()]
        );
        assert!(q.forget_dead_letter(all[0].id).unwrap());
        assert!(!q.forget_dead_letter(all[0].id).unwrap());
        assert_eq!(q.dead_count().unwrap(), 1);
    }

    #[test]
    fn dead_letters_are_bounded_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let q = Queue::open(&dir.path().join("q.redb")).unwrap();
        q.append(&(1..=5).map(|s| batch("a", s, 1)).collect::<Vec<_>>())
            .unwrap();
        let ids: Vec<u64> = q.head(10).unwrap().iter().map(|(i, _)| *i).collect();
        let all: Vec<(u64, String)> = ids.iter().map(|i| (*i, "x".to_string())).collect();
        assert_eq!(q.bury_within(&all[..3], 1, 3).unwrap(), 0);
        assert_eq!(q.bury_within(&all[3..], 2, 3).unwrap(), 2);
        let kept: Vec<u64> = q
            .dead_letters(None, 10, None)
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(kept, ids[2..].to_vec());
    }
}
