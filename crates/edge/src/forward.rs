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
//!
//! No batch can block a device or its neighbours: a batch the chain refuses
//! leaves the queue for the dead letters (with the chain's failure code, a
//! warning in the log and a counter), and a transaction that executes and
//! fails sends its batches again one per transaction; a batch whose own
//! transaction fails [`MAX_FAILED_DELIVERIES`] times is a dead letter too.
//! Admission refusals and expiries are the gateway's or the chain's state,
//! not the batch's: those are retried without bound.
//!
//! The window is deep (up to `inflight × 2 × MAX_ANCHOR_BATCHES` batches)
//! because a device in flight can only send again once its transaction
//! executes: depth lets each transaction carry the whole backlog of the
//! devices that are free. It stays cheap: only each batch's head (device,
//! readings, size) is in memory; a transaction's arguments are the stored
//! encodings concatenated, so readings are never decoded on the way out.

use crate::ingest::Stats;
use crate::node::NodeClient;
use crate::queue::Queue;
use ingot_types::{
    limits::MAX_ARGS_BYTES,
    telemetry::{anchor_args, peek_batch, MAX_ANCHOR_BATCHES},
    Call, Digest,
};
use serde_json::Value;
use std::{
    collections::HashMap,
    sync::{atomic::Ordering, Arc},
    time::Duration,
};
use tracing::{info, warn};

/// Blocks a gateway transaction stays valid.
const VALIDITY_BLOCKS: u64 = 100;
/// Failed transactions of its own after which a batch is given up (moved to
/// the dead letters).
pub const MAX_FAILED_DELIVERIES: u32 = 3;

pub(crate) use crate::shape::ARGS_BUDGET;
const _: () = assert!(ARGS_BUDGET < MAX_ARGS_BYTES);

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
    count: usize,
    size: usize,
}

/// Pack waiting batches into at most `max_txs` transactions, each device's
/// batches all in one transaction and in order, skipping devices `busy` in
/// flight. Returns the queue ids of each transaction's batches, in order.
pub fn pack<'a>(
    items: impl IntoIterator<Item = (u64, &'a str, usize)>,
    max_txs: usize,
    busy: impl Fn(&str) -> bool,
) -> Vec<Vec<u64>> {
    let mut packs: Vec<Pack> = Vec::new();
    // device → its pack, or None when it must wait (busy, or an earlier batch waits)
    let mut home: HashMap<&'a str, Option<usize>> = HashMap::new();
    let fits = |p: &Pack, size: usize| p.size + size <= ARGS_BUDGET && p.count < MAX_ANCHOR_BATCHES;
    for (id, device, size) in items {
        if packs.len() == max_txs && !packs.iter().any(|p| fits(p, size)) {
            break; // no room left this step; later batches wait (order kept)
        }
        let slot = match home.get(device) {
            Some(None) => continue, // an earlier batch of this device waits: keep order
            Some(Some(p)) => Some(*p),
            None if busy(device) => {
                home.insert(device, None);
                continue;
            }
            None => None,
        };
        let target = match slot {
            Some(p) if fits(&packs[p], size) => Some(p),
            Some(_) => None,
            None => match packs.iter().position(|p| fits(p, size)) {
                Some(p) => Some(p),
                None if packs.len() < max_txs && size <= ARGS_BUDGET => {
                    packs.push(Pack {
                        ids: vec![],
                        count: 0,
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
                packs[p].count += 1;
                packs[p].size += size;
                home.insert(device, Some(p));
            }
            None => {
                home.insert(device, None);
            }
        }
    }
    packs.into_iter().map(|p| p.ids).collect()
}

/// What the forwarder keeps of a queued batch: enough to pack it (device,
/// encoded size) and count it. The readings stay on disk until the batch is
/// packed, so the window costs tens of bytes per batch, whatever its size.
struct Queued {
    device_id: String,
    readings: usize,
    size: usize,
}

/// Queued batches the forwarder has loaded and that are not in flight, by
/// queue id; and the highest id loaded.
#[derive(Default)]
struct Loaded {
    waiting: std::collections::BTreeMap<u64, Queued>,
    /// Batches in flight (they moved into their [`Flight`]).
    flying: usize,
    /// Devices with batches in flight, and in how many transactions.
    busy: HashMap<String, usize>,
    last: Option<u64>,
    /// Executed height at which receipts were last polled.
    polled_at: u64,
    /// Whether anything a packing depends on (waiting batches, busy devices)
    /// changed since the last one. Packing scans the whole window, so with
    /// every device busy it would rescan it every step for nothing.
    changed: bool,
    /// Failed transactions per batch (only batches that failed).
    failures: HashMap<u64, u32>,
    /// Batches that were in a failed transaction with others: sent alone
    /// from now on, so one bad batch cannot fail its neighbours' delivery.
    solo: std::collections::HashSet<u64>,
    /// Batches given up, with why, to move to the dead letters.
    to_bury: Vec<(u64, String)>,
}

impl Loaded {
    /// Take the waiting batches `ids` into a flight: they leave the window
    /// and their devices are busy until the flight lands or is released.
    fn board(&mut self, ids: Vec<u64>) -> Vec<(u64, Queued)> {
        let items: Vec<(u64, Queued)> = ids
            .into_iter()
            .map(|id| {
                let q = self.waiting.remove(&id).expect("packed from the window");
                (id, q)
            })
            .collect();
        self.flying += items.len();
        for (_, q) in &items {
            *self.busy.entry(q.device_id.clone()).or_default() += 1;
        }
        items
    }

    /// A flight came back without executing: its batches wait again, in
    /// queue order (ids order the map).
    fn land(&mut self, flight: Flight) {
        self.release(&flight);
        for (id, queued) in flight.items {
            self.waiting.insert(id, queued);
        }
    }

    /// A flight's transaction executed and failed: its batches go again,
    /// alone; one that failed alone [`MAX_FAILED_DELIVERIES`] times is
    /// given up.
    fn failed(&mut self, flight: Flight, reason: &str) {
        self.release(&flight);
        let alone = flight.items.len() == 1;
        for (id, queued) in flight.items {
            let failures = self.failures.entry(id).or_default();
            *failures += 1;
            if alone && *failures >= MAX_FAILED_DELIVERIES {
                let n = *failures;
                self.failures.remove(&id);
                self.solo.remove(&id);
                self.to_bury.push((
                    id,
                    format!("given up after {n} failed transactions: {reason}"),
                ));
            } else {
                if !alone {
                    self.solo.insert(id);
                }
                self.waiting.insert(id, queued);
            }
        }
    }

    /// The waiting batches as packing sees them (queue id, device, size): a
    /// batch to be sent alone takes a whole transaction's room.
    fn packable(&self) -> impl Iterator<Item = (u64, &str, usize)> + '_ {
        self.waiting.iter().map(|(id, q)| {
            let size = if self.solo.contains(id) {
                ARGS_BUDGET
            } else {
                q.size
            };
            (*id, q.device_id.as_str(), size)
        })
    }

    /// A flight's transaction executed and its batches left the queue.
    fn done(&mut self, flight: &Flight) {
        self.release(flight);
        for (id, _) in &flight.items {
            self.failures.remove(id);
            self.solo.remove(id);
        }
    }

    /// A flight is over, one way or the other: its devices are free again.
    fn release(&mut self, flight: &Flight) {
        self.changed = true;
        self.flying -= flight.items.len();
        for (_, queued) in &flight.items {
            if let Some(n) = self.busy.get_mut(&queued.device_id) {
                *n -= 1;
                if *n == 0 {
                    self.busy.remove(&queued.device_id);
                }
            }
        }
    }
}

/// Poll the receipts of `flights` (the executed height is `height`):
/// executed ones are settled and leave, failed or expired-unexecuted ones
/// land back in the window. On the first error every flight not yet settled
/// stays in flight — nothing is dropped, no device is left marked busy — and
/// the error is returned (the next step polls again).
fn poll_flights(
    flights: &mut Vec<Flight>,
    loaded: &mut Loaded,
    height: u64,
    mut receipt: impl FnMut(&Digest) -> anyhow::Result<Option<Value>>,
    mut settle: impl FnMut(&Flight, &Value) -> anyhow::Result<Settled>,
) -> anyhow::Result<()> {
    let mut pending = std::mem::take(flights).into_iter();
    let mut still = Vec::new();
    let mut failure = None;
    for f in pending.by_ref() {
        let outcome = receipt(&f.hash).and_then(|r| match r {
            Some(r) => settle(&f, &r).map(Some),
            None => Ok(None),
        });
        match outcome {
            Ok(Some(Settled::Done)) => loaded.done(&f),
            Ok(Some(Settled::Failed(reason))) => loaded.failed(f, &reason),
            Ok(None) if height > f.valid_until => {
                warn!("an anchor transaction expired unexecuted; its batches go again");
                loaded.land(f);
            }
            Ok(None) => still.push(f),
            Err(e) => {
                still.push(f);
                failure = Some(e);
                break;
            }
        }
    }
    still.extend(pending);
    *flights = still;
    failure.map_or(Ok(()), Err)
}

/// What became of an executed transaction.
#[derive(Debug, PartialEq, Eq)]
enum Settled {
    /// It succeeded: its batches were anchored or refused, and left the queue.
    Done,
    /// It failed as a whole (the reason code): its batches go again.
    Failed(String),
}

/// A transaction in flight with its batches (queue id, what is known of it).
struct Flight {
    hash: Digest,
    items: Vec<(u64, Queued)>,
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
        // Newly queued batches: only their heads are read (bounded window).
        let window = self.inflight * MAX_ANCHOR_BATCHES * 2;
        let held = loaded.waiting.len() + loaded.flying;
        if held < window {
            for (id, raw) in self.queue.after_raw(loaded.last, window - held)? {
                let head = peek_batch(&raw)
                    .map_err(|e| anyhow::anyhow!("gateway queue: batch {id}: {e}"))?;
                loaded.waiting.insert(
                    id,
                    Queued {
                        device_id: head.device_id,
                        readings: head.count,
                        size: raw.len(),
                    },
                );
                loaded.last = Some(id);
                loaded.changed = true;
            }
        }
        if flights.is_empty() && loaded.waiting.is_empty() {
            return Ok(false);
        }
        let (chain, height) = self.node.status()?;
        self.stats.node_reachable.store(true, Ordering::Relaxed);
        // Receipts can only appear when the executed height moves.
        if height > loaded.polled_at {
            poll_flights(
                flights,
                loaded,
                height,
                |hash| self.node.receipt(hash),
                |flight, receipt| self.settle(flight, receipt),
            )?;
            loaded.polled_at = height;
        }
        if !loaded.to_bury.is_empty() {
            self.bury(&loaded.to_bury)?;
            loaded.to_bury.clear();
        }

        let room = self.inflight.saturating_sub(flights.len());
        if room == 0 || !loaded.changed {
            return Ok(!flights.is_empty());
        }
        loaded.changed = false;
        let packs = pack(loaded.packable(), room, |device| {
            loaded.busy.contains_key(device)
        });
        if packs.is_empty() {
            return Ok(!flights.is_empty());
        }
        let valid_until = height + VALIDITY_BLOCKS;
        let mut txs = Vec::with_capacity(packs.len());
        let mut packed: Vec<Flight> = Vec::with_capacity(packs.len());
        let mut prepare = |ids: Vec<u64>, packed: &mut Vec<Flight>| -> anyhow::Result<()> {
            // The arguments are the stored encodings, concatenated: the
            // readings are never decoded on the way out.
            let raw = self.queue.get_raw(&ids)?;
            let encoded: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
            *salt += 1;
            let call = Call {
                module: "telemetry".into(),
                method: "anchor".into(),
                args: anchor_args(&encoded),
            };
            txs.push(self.node.sign(chain, valid_until, *salt, call)?);
            let items = loaded.board(ids);
            packed.push(Flight {
                hash: txs.last().expect("just signed").hash(),
                items,
                valid_until,
            });
            Ok(())
        };
        for ids in packs {
            if let Err(e) = prepare(ids, &mut packed) {
                // What was taken from the window goes back: nothing is lost
                // and no device stays marked busy.
                for f in packed {
                    loaded.land(f);
                }
                return Err(e);
            }
        }
        let admitted = match self.node.submit(&txs) {
            Ok(admitted) => admitted,
            Err(e) => {
                for f in packed {
                    loaded.land(f);
                }
                return Err(e);
            }
        };
        for (flight, err) in packed.into_iter().zip(admitted) {
            match err {
                None => flights.push(flight),
                Some(e) => {
                    warn!(error = %e, "anchor transaction not admitted; retrying");
                    loaded.land(flight);
                }
            }
        }
        self.stats
            .transactions
            .fetch_add(txs.len() as u64, Ordering::Relaxed);
        Ok(true)
    }

    /// Move batches to the dead letters, loudly.
    fn bury(&self, items: &[(u64, String)]) -> anyhow::Result<()> {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let dropped = self.queue.bury(items, at_ms)?;
        for (id, reason) in items {
            warn!(batch = id, %reason, "a batch acknowledged to its device will not be anchored; kept in the dead letters (GET /dead-letters)");
        }
        if dropped > 0 {
            warn!(
                dropped,
                "the dead letters are full; the oldest were dropped"
            );
        }
        self.stats
            .dead_lettered
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// A transaction executed: if it succeeded its batches leave the queue —
    /// anchored, or refused by the chain and moved to the dead letters (a
    /// resend of what is already anchored simply leaves).
    fn settle(&self, flight: &Flight, receipt: &Value) -> anyhow::Result<Settled> {
        if receipt["status"] != "success" {
            // The whole transaction failed: the batches go again (alone).
            let reason = receipt["reason"].as_str().unwrap_or("?").to_string();
            warn!(%reason, batches = flight.items.len(), "anchor transaction failed; resending its batches one per transaction");
            return Ok(Settled::Failed(reason));
        }
        let mut refused = 0;
        let mut dead = Vec::new();
        for e in receipt["events"].as_array().into_iter().flatten() {
            if e["module"] == "telemetry" && e["kind"] == "refused" {
                refused += 1;
                let reason = e["attributes"]["reason"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string();
                // `reason` is the failure's stable code name; a device's
                // status, when it is the cause, is its detail.
                let key = match (reason.as_str(), e["attributes"]["status"].as_str()) {
                    ("telemetry.already_anchored", _) => {
                        "already anchored (resent after a restart)".to_string()
                    }
                    (_, Some(status)) => format!("{reason} ({status})"),
                    _ => reason,
                };
                let item = e["attributes"]["index"]
                    .as_str()
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| flight.items.get(i));
                if let (Some((id, _)), false) = (item, key.starts_with("already anchored")) {
                    dead.push((*id, key.clone()));
                }
                *self
                    .stats
                    .chain_refused
                    .lock()
                    .unwrap()
                    .entry(key)
                    .or_default() += 1;
            }
        }
        if !dead.is_empty() {
            self.bury(&dead)?;
        }
        let ids: Vec<u64> = flight
            .items
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !dead.iter().any(|(d, _)| d == id))
            .collect();
        self.queue.remove(&ids)?;
        let readings: usize = flight.items.iter().map(|(_, q)| q.readings).sum();
        self.stats
            .forwarded_batches
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        self.stats
            .forwarded_readings
            .fetch_add(readings as u64, Ordering::Relaxed);
        if refused > 0 {
            info!(refused, "the chain refused some forwarded batches");
        }
        Ok(Settled::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use commonware_codec::EncodeSize;
    use ingot_types::telemetry::{Measurement, Reading, ReadingBatch};

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
        let by_id: HashMap<u64, &ReadingBatch> = items.iter().map(|(i, b)| (*i, b)).collect();
        let packs: Vec<(Vec<u64>, Vec<&ReadingBatch>)> = pack(
            owned.iter().map(|(i, b, s)| (*i, b.device_id.as_str(), *s)),
            4,
            |_| false,
        )
        .into_iter()
        .map(|ids| {
            let batches = ids.iter().map(|i| by_id[i]).collect();
            (ids, batches)
        })
        .collect();
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

        // With "a" and "c" in flight, only b's go out.
        let items = vec![
            (1, batch("a", 1, 1)),
            (2, batch("b", 1, 1)),
            (3, batch("a", 2, 1)),
            (4, batch("c", 1, 1)),
        ];
        let owned = sized(&items);
        let packs = pack(
            owned.iter().map(|(i, b, s)| (*i, b.device_id.as_str(), *s)),
            4,
            |d| d == "a" || d == "c",
        );
        assert_eq!(packs, [vec![2]]);
    }

    /// A flight that comes back unexecuted puts its batches back in queue
    /// order and frees its devices; a settled one only frees them.
    #[test]
    fn landed_flights_wait_again_in_order_and_free_their_devices() {
        let mut loaded = Loaded::default();
        for (id, dev) in [(1, "a"), (2, "b"), (3, "a"), (4, "c")] {
            let queued = Queued {
                device_id: dev.into(),
                readings: 1,
                size: 100,
            };
            loaded.waiting.insert(id, queued);
        }
        let take = |loaded: &mut Loaded, ids: &[u64]| Flight {
            hash: ingot_types::sha256(&[&ids[0].to_be_bytes()]),
            items: loaded.board(ids.to_vec()),
            valid_until: 0,
        };
        let first = take(&mut loaded, &[1, 3]);
        let second = take(&mut loaded, &[2]);
        assert_eq!(loaded.busy.len(), 2);
        let packs = pack(
            loaded
                .waiting
                .iter()
                .map(|(id, q)| (*id, q.device_id.as_str(), q.size)),
            4,
            |d| loaded.busy.contains_key(d),
        );
        assert_eq!(packs, [vec![4]], "busy devices wait");

        loaded.land(first);
        loaded.release(&second);
        assert_eq!(loaded.flying, 0);
        assert!(loaded.busy.is_empty());
        let ids: Vec<u64> = loaded.waiting.keys().copied().collect();
        assert_eq!(ids, [1, 3, 4], "a's batches wait again, in order");
    }

    /// A node that stops answering while receipts are polled loses no
    /// flight: the settled one leaves, the rest stay in flight, busy.
    #[test]
    fn a_failing_receipt_poll_keeps_every_unsettled_flight() {
        let mut loaded = Loaded::default();
        let mut flights = Vec::new();
        for (id, dev) in [(1u64, "a"), (2, "b"), (3, "c")] {
            let queued = Queued {
                device_id: dev.into(),
                readings: 1,
                size: 100,
            };
            loaded.waiting.insert(id, queued);
            flights.push(Flight {
                hash: ingot_types::sha256(&[&id.to_be_bytes()]),
                items: loaded.board(vec![id]),
                valid_until: 100,
            });
        }
        let first = flights[0].hash;
        let polled = poll_flights(
            &mut flights,
            &mut loaded,
            10,
            |hash| {
                if *hash == first {
                    Ok(Some(serde_json::json!({"status": "success"})))
                } else {
                    Err(anyhow::anyhow!("connection refused"))
                }
            },
            |_, _| Ok(Settled::Done),
        );
        assert!(polled.is_err());
        let left: Vec<u64> = flights.iter().map(|f| f.items[0].0).collect();
        assert_eq!(left, [2, 3]);
        assert_eq!(loaded.flying, 2);
        assert!(!loaded.busy.contains_key("a"));
        assert!(loaded.busy.contains_key("b") && loaded.busy.contains_key("c"));
        assert!(loaded.waiting.is_empty());

        // Polled again once the node is back: an expired, unexecuted flight
        // lands back in the window; one still pending stays.
        flights[0].valid_until = 5;
        poll_flights(
            &mut flights,
            &mut loaded,
            10,
            |_| Ok(None),
            |_, _| Ok(Settled::Done),
        )
        .unwrap();
        assert_eq!(flights.len(), 1);
        assert_eq!(loaded.waiting.keys().copied().collect::<Vec<_>>(), [2]);
        assert!(!loaded.busy.contains_key("b"));
    }

    /// A transaction that executes and fails sends its batches again one per
    /// transaction; a batch failing alone MAX_FAILED_DELIVERIES times is
    /// given up, and its neighbour is not held back by it.
    #[test]
    fn a_failing_batch_is_isolated_then_given_up_without_blocking_others() {
        let mut loaded = Loaded::default();
        for (id, dev) in [(1u64, "a"), (2, "b")] {
            loaded.waiting.insert(
                id,
                Queued {
                    device_id: dev.into(),
                    readings: 1,
                    size: 100,
                },
            );
        }
        let fly = |loaded: &mut Loaded, ids: Vec<u64>| Flight {
            hash: ingot_types::sha256(&[&ids[0].to_be_bytes(), &[ids.len() as u8]]),
            items: loaded.board(ids),
            valid_until: 100,
        };
        let failing = |_: &Flight, _: &Value| Ok(Settled::Failed("tx.out_of_work".into()));
        let executed = |_: &Digest| Ok(Some(serde_json::json!({})));
        // Together: the transaction fails; both go again, now alone.
        let mut flights = vec![fly(&mut loaded, vec![1, 2])];
        poll_flights(&mut flights, &mut loaded, 10, executed, failing).unwrap();
        assert!(flights.is_empty() && loaded.busy.is_empty());
        assert_eq!(loaded.waiting.len(), 2);
        let packs = pack(loaded.packable(), 4, |_| false);
        assert_eq!(packs, [vec![1], vec![2]], "one per transaction");
        // Batch 2 succeeds alone; batch 1 keeps failing alone.
        let mut flights = vec![fly(&mut loaded, vec![2])];
        poll_flights(&mut flights, &mut loaded, 10, executed, |_, _| {
            Ok(Settled::Done)
        })
        .unwrap();
        assert!(!loaded.failures.contains_key(&2) && !loaded.solo.contains(&2));
        for round in 2..=MAX_FAILED_DELIVERIES {
            let mut flights = vec![fly(&mut loaded, vec![1])];
            poll_flights(&mut flights, &mut loaded, 10, executed, failing).unwrap();
            let given_up = round == MAX_FAILED_DELIVERIES;
            assert_eq!(loaded.to_bury.len(), usize::from(given_up), "round {round}");
            assert_eq!(loaded.waiting.contains_key(&1), !given_up);
        }
        assert_eq!(loaded.to_bury[0].0, 1);
        assert!(loaded.to_bury[0].1.contains("tx.out_of_work"));
        assert!(loaded.busy.is_empty() && loaded.flying == 0);
    }
}
