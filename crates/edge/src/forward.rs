//! Store-and-forward to the chain.
//!
//! A window of up to `inflight` anchoring transactions. Whenever there is
//! room, the oldest queued batches not already in flight are packed into new
//! transactions, with one rule that keeps every device's sequence numbers in
//! order on chain whatever order the chain executes transactions in: a device
//! is in at most one transaction in flight, and a batch waits while an
//! earlier batch of its device waits. Batches leave the queue only when their
//! transaction is executed. A transaction that never executes (node
//! restarted, chain stalled past its validity) is forgotten and its batches
//! are packed again. While the node is unreachable the queue
//! simply grows on disk; readings keep their original timestamps and
//! signatures because they are forwarded exactly as the devices signed them.
//!
//! Re-sending after a crash is harmless: the chain refuses a sequence number
//! it already anchored, so nothing is duplicated.

use crate::ingest::Stats;
use crate::node::NodeClient;
use crate::queue::Queue;
use commonware_codec::{Encode, EncodeSize};
use ingot_types::{
    limits::MAX_ARGS_BYTES,
    telemetry::{AnchorArg, ReadingBatch, MAX_ANCHOR_BATCHES},
    Call, Digest,
};
use serde_json::Value;
use std::{
    collections::{HashMap, HashSet},
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tracing::{info, warn};

/// Blocks a gateway transaction stays valid.
const VALIDITY_BLOCKS: u64 = 100;
/// Room left in a transaction's arguments for the vector length prefix.
const ARGS_BUDGET: usize = MAX_ARGS_BYTES - 64;

pub struct Forwarder {
    pub queue: Arc<Queue>,
    pub node: Arc<NodeClient>,
    pub stats: Arc<Stats>,
    /// Transactions in flight per round.
    pub inflight: usize,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
}

/// One transaction being assembled.
struct Pack {
    ids: Vec<u64>,
    batches: Vec<ReadingBatch>,
    size: usize,
}

/// Pack queued batches into at most `max_txs` transactions, each device's
/// batches all in one transaction and in order, skipping batches already in
/// flight and devices `busy` in flight. Returns (ids, batches) per tx.
pub fn pack<'a>(
    items: impl IntoIterator<Item = (u64, &'a ReadingBatch, usize)>,
    max_txs: usize,
    in_flight: &HashSet<u64>,
    busy: &HashSet<String>,
) -> Vec<(Vec<u64>, Vec<ReadingBatch>)> {
    let mut packs: Vec<Pack> = Vec::new();
    // device → its pack, or None when it must wait (busy, or an earlier batch waits)
    let mut home: HashMap<String, Option<usize>> = busy.iter().map(|d| (d.clone(), None)).collect();
    for (id, batch, size) in items {
        if in_flight.contains(&id) {
            continue;
        }
        if packs.len() == max_txs
            && packs
                .iter()
                .all(|p| p.size + size > ARGS_BUDGET || p.batches.len() >= MAX_ANCHOR_BATCHES)
        {
            break; // no room left this step; later batches wait (order kept)
        }
        let slot = match home.get(&batch.device_id) {
            Some(None) => continue, // an earlier batch of this device waits: keep order
            Some(Some(p)) => Some(*p),
            None => None,
        };
        let fits = |p: &Pack| p.size + size <= ARGS_BUDGET && p.batches.len() < MAX_ANCHOR_BATCHES;
        let target = match slot {
            Some(p) if fits(&packs[p]) => Some(p),
            Some(_) => None,
            None => match packs.iter().position(fits) {
                Some(p) => Some(p),
                None if packs.len() < max_txs && size <= ARGS_BUDGET => {
                    packs.push(Pack {
                        ids: vec![],
                        batches: vec![],
                        size: 0,
                    });
                    Some(packs.len() - 1)
                }
                None => None,
            },
        };
        match target {
            Some(p) => {
                packs[p].ids.push(id);
                packs[p].batches.push(batch.clone());
                packs[p].size += size;
                home.insert(batch.device_id.clone(), Some(p));
            }
            None => {
                home.insert(batch.device_id.clone(), None);
            }
        }
    }
    packs.into_iter().map(|p| (p.ids, p.batches)).collect()
}

/// Queued batches the forwarder has loaded (decoded once), by queue id, with
/// their encoded size; and the highest id loaded.
#[derive(Default)]
struct Loaded {
    items: std::collections::BTreeMap<u64, (ReadingBatch, usize)>,
    last: Option<u64>,
    /// Executed height at which receipts were last polled.
    polled_at: u64,
}

/// A transaction in flight.
struct Flight {
    hash: Digest,
    ids: Vec<u64>,
    batches: Vec<ReadingBatch>,
    valid_until: u64,
}

impl Forwarder {
    fn note_error(&self, e: &anyhow::Error) {
        self.stats.node_reachable.store(false, Ordering::Relaxed);
        *self.stats.last_error.lock().unwrap() = format!("{e:#}");
    }

    /// Run until stopped.
    pub fn run(self) {
        let mut backoff = Duration::from_millis(50);
        let mut salt: u64 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        let mut flights: Vec<Flight> = Vec::new();
        let mut loaded = Loaded::default();
        while !self.stop.load(Ordering::Relaxed) {
            match self.step(&mut flights, &mut loaded, &mut salt) {
                Ok(true) => {
                    backoff = Duration::from_millis(50);
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok(false) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    self.note_error(&e);
                    warn!(error = %format!("{e:#}"), "forwarding paused; readings stay queued");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Settle executed transactions, forget expired ones, fill the window.
    /// `Ok(false)` when there was nothing to do.
    fn step(
        &self,
        flights: &mut Vec<Flight>,
        loaded: &mut Loaded,
        salt: &mut u64,
    ) -> anyhow::Result<bool> {
        // Newly queued batches, decoded once (bounded window in memory).
        let window = self.inflight * MAX_ANCHOR_BATCHES * 2;
        if loaded.items.len() < window {
            for (id, batch) in self.queue.after(loaded.last, window - loaded.items.len())? {
                let size = batch.encode_size();
                loaded.items.insert(id, (batch, size));
                loaded.last = Some(id);
            }
        }
        if flights.is_empty() && loaded.items.is_empty() {
            return Ok(false);
        }
        let (chain, height) = self.node.status()?;
        self.stats.node_reachable.store(true, Ordering::Relaxed);
        // Receipts can only appear when the executed height moves.
        if height > loaded.polled_at {
            loaded.polled_at = height;
            let mut still = Vec::with_capacity(flights.len());
            for f in flights.drain(..) {
                match self.node.receipt(&f.hash)? {
                    Some(receipt) => {
                        if self.settle(&f, &receipt)? {
                            for id in &f.ids {
                                loaded.items.remove(id);
                            }
                        }
                    }
                    None if height > f.valid_until => {
                        warn!("an anchor transaction expired unexecuted; its batches go again");
                    }
                    None => still.push(f),
                }
            }
            *flights = still;
        }

        let room = self.inflight.saturating_sub(flights.len());
        if room == 0 {
            return Ok(true);
        }
        let in_flight: HashSet<u64> = flights.iter().flat_map(|f| f.ids.iter().copied()).collect();
        let busy: HashSet<String> = flights
            .iter()
            .flat_map(|f| f.batches.iter().map(|b| b.device_id.clone()))
            .collect();
        let packs = pack(
            loaded.items.iter().map(|(id, (b, size))| (*id, b, *size)),
            room,
            &in_flight,
            &busy,
        );
        if packs.is_empty() {
            return Ok(!flights.is_empty());
        }
        let valid_until = height + VALIDITY_BLOCKS;
        let mut txs = Vec::with_capacity(packs.len());
        for (_, batches) in &packs {
            *salt += 1;
            let call = Call {
                module: "telemetry".into(),
                method: "anchor".into(),
                args: AnchorArg {
                    batches: batches.clone(),
                }
                .encode(),
            };
            txs.push(self.node.sign(chain, valid_until, *salt, call)?);
        }
        let admitted = self.node.submit(&txs)?;
        for ((tx, err), (ids, batches)) in txs.iter().zip(admitted).zip(packs) {
            match err {
                None => flights.push(Flight {
                    hash: tx.hash(),
                    ids,
                    batches,
                    valid_until,
                }),
                Some(e) => warn!(error = %e, "anchor transaction not admitted; retrying"),
            }
        }
        self.stats
            .transactions
            .fetch_add(txs.len() as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// A transaction executed: its batches leave the queue, whatever the chain
    /// said of each (refusals are counted and logged, never retried). Returns
    /// whether they left.
    fn settle(&self, flight: &Flight, receipt: &Value) -> anyhow::Result<bool> {
        let (ids, batches) = (&flight.ids, &flight.batches);
        if receipt["status"] != "success" {
            // The whole transaction failed (e.g. expired): the batches stay
            // queued and are packed again.
            warn!(reason = %receipt["reason"], "anchor transaction failed; resending");
            return Ok(false);
        }
        let mut refused = 0;
        for e in receipt["events"].as_array().into_iter().flatten() {
            if e["module"] == "telemetry" && e["kind"] == "refused" {
                refused += 1;
                let reason = e["attributes"]["reason"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string();
                let key = if reason.contains("already anchored") {
                    "already anchored (resent after a restart)".to_string()
                } else {
                    reason
                };
                *self
                    .stats
                    .chain_refused
                    .lock()
                    .unwrap()
                    .entry(key)
                    .or_default() += 1;
            }
        }
        self.queue.remove(ids)?;
        let readings: usize = batches.iter().map(|b| b.readings.len()).sum();
        self.stats
            .forwarded_batches
            .fetch_add(batches.len() as u64, Ordering::Relaxed);
        self.stats
            .forwarded_readings
            .fetch_add(readings as u64, Ordering::Relaxed);
        if refused > 0 {
            info!(refused, "the chain refused some forwarded batches");
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use ingot_types::telemetry::{Measurement, Reading};

    fn batch(device: &str, first_seq: u64, readings: usize) -> ReadingBatch {
        ReadingBatch {
            device_id: device.into(),
            first_seq,
            readings: vec![
                Reading {
                    timestamp_ms: 1,
                    measurements: vec![Measurement {
                        name: "v".into(),
                        value: 1,
                        scale: 0,
                        unit: "g".into()
                    }],
                };
                readings
            ],
            signature: Bytes::from_static(&[1; 64]),
        }
    }

    #[test]
    fn a_device_never_spans_two_transactions_of_a_round() {
        // Big batches: two fit a transaction.
        let big = 1200;
        let items: Vec<(u64, ReadingBatch)> = vec![
            (1, batch("a", 1, big)),
            (2, batch("b", 1, big)),
            (3, batch("a", 1 + big as u64, big)), // no room beside a's first: a blocks
            (4, batch("c", 1, big)),
            (5, batch("b", 1 + big as u64, 1)),
        ];
        let sized = |items: &[(u64, ReadingBatch)]| -> Vec<(u64, ReadingBatch, usize)> {
            items
                .iter()
                .map(|(i, b)| (*i, b.clone(), b.encode_size()))
                .collect()
        };
        let owned = sized(&items);
        let packs = pack(
            owned.iter().map(|(i, b, s)| (*i, b, *s)),
            4,
            &HashSet::new(),
            &HashSet::new(),
        );
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (p, (_, batches)) in packs.iter().enumerate() {
            for b in batches {
                assert_eq!(
                    *seen.entry(b.device_id.clone()).or_insert(p),
                    p,
                    "device {} split",
                    b.device_id
                );
            }
        }
        let ids: Vec<u64> = packs.iter().flat_map(|(ids, _)| ids.clone()).collect();
        assert!(
            !ids.contains(&3),
            "a's second batch waits for the next round"
        );
        assert!(ids.contains(&1) && ids.contains(&2) && ids.contains(&4));
        // Within a pack, a device's batches stay in queue order.
        for (_, batches) in &packs {
            let b_seqs: Vec<u64> = batches
                .iter()
                .filter(|b| b.device_id == "b")
                .map(|b| b.first_seq)
                .collect();
            assert!(b_seqs.windows(2).all(|w| w[0] < w[1]));
        }
        for (_, batches) in &packs {
            let size: usize = batches.iter().map(|b| b.encode_size()).sum();
            assert!(size <= ARGS_BUDGET);
        }

        // With "a" in flight and batch 4 already sent, only b's go out.
        let items = vec![
            (1, batch("a", 1, 1)),
            (2, batch("b", 1, 1)),
            (3, batch("a", 2, 1)),
            (4, batch("c", 1, 1)),
        ];
        let busy: HashSet<String> = ["a".to_string()].into();
        let owned = sized(&items);
        let packs = pack(
            owned.iter().map(|(i, b, s)| (*i, b, *s)),
            4,
            &[4].into(),
            &busy,
        );
        let ids: Vec<u64> = packs.iter().flat_map(|(ids, _)| ids.clone()).collect();
        assert_eq!(ids, [2]);
    }
}
